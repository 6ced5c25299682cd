//! The operator's commands (`wxopen-admin`): one plain async function per command, returning a
//! typed result, and the formatting of those results as text or JSON.
//!
//! Nothing here holds a token's value in a result: the result types only say whether a token
//! is present and when it expires or was updated, so no output format can print one.

mod accounts;
mod actions;
mod link;
mod output;
mod text;

pub use accounts::{list, show};
pub use actions::{push_ticket, reconcile, refresh, refresh_component};
pub use link::{LinkArgs, link};
pub use output::*;
pub use text::utc;

use wxopen::authorization::LinkError;
use wxopen::links::{self, MintFailure};
use wxopen::tokens::{TokenError, Tokens};
use wxopen::wechat::WechatError;
use wxopen::{Config, ConfigError, SecretError, StoreError, unix_now};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Wechat(#[from] WechatError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Mint(#[from] MintFailure),
    #[error("authorizer {appid} is not stored for component {component}")]
    UnknownAuthorizer { component: String, appid: String },
    #[error("authorizer {appid} is {status}; only authorized accounts can be refreshed")]
    NotAuthorized { appid: String, status: &'static str },
    #[error("another caller is refreshing {appid} (its lease runs until {}); try again then", utc(*.until))]
    LeaseHeld { appid: String, until: i64 },
}

/// The commands, as the binary parses them.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Every authorizer of the configured component: status, merchant, type, token expiry.
    List,
    /// One authorizer's stored fields (never its tokens: only whether each is present).
    Show { appid: String },
    /// Refresh one authorizer's access token now, whether or not it is due.
    Refresh { appid: String },
    /// Make sure a valid component token is stored (refreshing it if due); print its expiry.
    RefreshComponent,
    /// Ask WeChat to push a component_verify_ticket to the event URL now.
    PushTicket,
    /// Compare the store with WeChat's list of authorizers and repair what differs.
    Reconcile,
    /// Mint a merchant's authorization link (signed with the link key; needs PUBLIC_BASE_URL,
    /// and LINK_SECRET_ID unless the key is the default `{SECRET_ID}-links`).
    Link(LinkArgs),
}

/// Runs one command against the deployment `config` describes.
pub async fn execute(
    config: &Config,
    aws: &aws_config::SdkConfig,
    command: &Command,
) -> Result<Output, AdminError> {
    let tokens = &Tokens::from_config(config, aws);
    Ok(match command {
        Command::Link(args) => {
            let public_base_url = config
                .public_base_url
                .as_deref()
                .ok_or(ConfigError::Missing("PUBLIC_BASE_URL"))?;
            let keys = links::key_cache(
                aws_sdk_secretsmanager::Client::new(aws),
                &config.link_secret_id,
                config.secret_max_age,
            );
            Output::Link(link(&keys, public_base_url, args, unix_now()).await?)
        }
        Command::List => Output::List(list(tokens).await?),
        Command::Show { appid } => Output::Show(Box::new(show(tokens, appid).await?)),
        Command::Refresh { appid } => Output::Refresh(refresh(tokens, appid).await?),
        Command::RefreshComponent => Output::RefreshComponent(refresh_component(tokens).await?),
        Command::PushTicket => Output::PushTicket(push_ticket(tokens).await?),
        Command::Reconcile => Output::Reconcile(reconcile(tokens).await?),
    })
}
