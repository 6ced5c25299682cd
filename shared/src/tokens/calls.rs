//! Calling WeChat: the component token or authorizer token that every call carries, and
//! retries of busy answers.

use std::future::Future;
use std::time::Duration;

use super::{TokenError, Tokens};
use crate::store::RefreshWhen;
use crate::wechat::{ErrorKind, Secret, WechatError};

impl Tokens {
    /// Runs `call` with the component token; if WeChat refuses the token, replaces it (only if
    /// it is still the stored one) and runs `call` once more.
    pub async fn with_component_token<T, F, Fut>(&self, call: F) -> Result<T, TokenError>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let token = self.component_access_token().await?;
        match call(token.clone()).await {
            Err(error) if error.kind() == ErrorKind::TokenInvalid => {
                tracing::warn!(
                    errcode = error.errcode(),
                    api = error.api(),
                    "component token refused; replacing it"
                );
                let fresh = self
                    .component_token_other_than(Some(token.expose()))
                    .await?
                    .token;
                Ok(call(fresh).await?)
            }
            result => Ok(result?),
        }
    }

    /// Runs `call` with the access token of `authorizer_appid`; if WeChat refuses the token,
    /// refreshes it (only if it is still the stored one: another caller may have already) and
    /// runs `call` once more with the account's new token.
    pub async fn with_authorizer_token<T, F, Fut>(
        &self,
        authorizer_appid: &str,
        call: F,
    ) -> Result<T, TokenError>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let token = self.authorizer_access_token(authorizer_appid).await?;
        match call(token.clone()).await {
            Err(error) if error.kind() == ErrorKind::TokenInvalid => {
                tracing::warn!(
                    authorizer = authorizer_appid,
                    errcode = error.errcode(),
                    api = error.api(),
                    "authorizer token refused; replacing it"
                );
                self.refresh_authorizer(
                    authorizer_appid,
                    RefreshWhen::Replacing(Some(token.expose())),
                )
                .await?;
                let fresh = self.authorizer_access_token(authorizer_appid).await?;
                Ok(call(fresh).await?)
            }
            result => Ok(result?),
        }
    }

    /// Retries `call` on -1 and transport faults with jittered exponential backoff, bounded.
    /// Only for calls that may be repeated: reads, and calls whose effect WeChat's next answer
    /// carries again.
    pub async fn retry_busy<T, F, Fut>(&self, call: F) -> Result<T, WechatError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        self.retry_when(|error| error.kind() == ErrorKind::Busy, call)
            .await
    }

    /// Retries `call` only when it cannot have reached WeChat (no connection was made): for
    /// calls that use something up, such as api_query_auth's single-use code.
    pub async fn retry_unsent<T, F, Fut>(&self, call: F) -> Result<T, WechatError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        self.retry_when(
            |error| error.kind() == ErrorKind::Busy && !error.may_have_been_done(),
            call,
        )
        .await
    }

    async fn retry_when<T, F, Fut>(
        &self,
        retry: impl Fn(&WechatError) -> bool,
        call: F,
    ) -> Result<T, WechatError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let mut delay = self.settings.busy_backoff;
        let mut attempt = 0;
        loop {
            match call().await {
                Err(error) if retry(&error) && attempt < self.settings.busy_retries => {
                    attempt += 1;
                    tracing::warn!(api = error.api(), attempt, %error, "WeChat busy; retrying");
                    tokio::time::sleep(jitter(delay)).await;
                    delay *= 2;
                }
                result => return result,
            }
        }
    }
}

/// `base` scaled by a random factor in [0.5, 1.5), so that retries do not march in step.
pub fn jitter(base: Duration) -> Duration {
    let mut byte = [0u8; 1];
    getrandom::fill(&mut byte).expect("the OS random source is available");
    base.mul_f64(0.5 + f64::from(byte[0]) / 256.0)
}
