//! One platform for tests of the token logic and the tools built on it: its own component appid,
//! a WeChat sandbox playing WeChat for it, and the configuration pointing at both.

use std::time::Duration;

use wxopen::tokens::{TokenSettings, Tokens};

use crate::sandbox::{Sandbox, SandboxConfig};
use crate::{aws, config, unique_appid};

/// One platform: its own component appid, a sandbox playing WeChat for it, and its tokens.
pub struct Platform {
    pub aws: aws_config::SdkConfig,
    pub component: String,
    pub sandbox: Sandbox,
    /// What the functions would read from the environment, pointed at the sandbox.
    pub config: wxopen::Config,
}

impl Platform {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(adjust: impl FnOnce(&mut SandboxConfig)) -> Self {
        let aws = aws().await;
        let component = unique_appid();
        let mut sandbox_config = SandboxConfig {
            component_appid: component.clone(),
            ticket_interval: Duration::ZERO,
            ..SandboxConfig::default()
        };
        adjust(&mut sandbox_config);
        let sandbox = Sandbox::start(sandbox_config).await.unwrap();
        let mut config = config(&component, "wxopen/local");
        config.wechat_api_base = sandbox.base_url().trim_end_matches('/').to_owned();
        config.wechat_timeout = Duration::from_secs(2);
        Self {
            aws,
            component,
            sandbox,
            config,
        }
    }

    /// A Tokens as one container would build it (its busy retries wait 20 ms, so tests that
    /// inject -1 stay quick).
    pub fn tokens(&self) -> Tokens {
        self.tokens_with(|_| {})
    }

    pub fn tokens_with(&self, adjust: impl FnOnce(&mut TokenSettings)) -> Tokens {
        let mut tokens = Tokens::from_config(&self.config, &self.aws);
        tokens.settings.busy_backoff = Duration::from_millis(20);
        adjust(&mut tokens.settings);
        tokens
    }

    /// Stores the sandbox's current ticket, as the receiver would have.
    pub async fn store_ticket(&self) {
        crate::store_ticket(&self.sandbox, &self.tokens().store, &self.component).await;
    }

    /// An administrator authorizes `appid` and the platform exchanges the code for `merchant`.
    pub async fn authorize(&self, tokens: &Tokens, appid: &str, merchant: &str) {
        let authorized = self.sandbox.authorize(appid, None).await.unwrap();
        crate::store_authorization_unchecked(
            tokens,
            &authorized.grant.authorization_code,
            Some(merchant),
        )
        .await
        .unwrap();
    }

    pub fn account_appids(&self) -> Vec<String> {
        self.sandbox
            .accounts()
            .into_iter()
            .map(|a| a.account.appid)
            .collect()
    }

    /// The refresh token WeChat lists for `appid` now, read from the sandbox's state rather
    /// than through the service's (possibly faulty) path to WeChat.
    pub fn listed_refresh_token(&self, appid: &str) -> Option<String> {
        self.sandbox.current_refresh_token(appid)
    }

    /// The refresh token the store holds for `appid`.
    pub async fn stored_refresh_token(&self, tokens: &Tokens, appid: &str) -> Option<String> {
        let record = tokens
            .store
            .authorizer(&self.component, appid)
            .await
            .unwrap()?;
        record.refresh_token.map(|t| t.expose().to_owned())
    }
}
