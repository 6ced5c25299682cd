//! The domain of the WeChat Open Platform authorization service, shared by its Lambda functions.
//!
//! One module per concept: [`config`] (the environment contract), [`secrets`] (the platform's
//! secret), [`crypto`] (WeChat's message scheme), [`push`] (pushes and their messages),
//! [`store`] (DynamoDB state), [`message`] and [`handoff`] (authorized accounts' messages and
//! where they go), [`release_check`] (全网发布), [`links`] (the merchant links the platform signs),
//! [`identity`] (the identity tokens of authorized accounts' users), [`oauth`] (web login on
//! behalf of official accounts).
//!
//! Every public item is documented (`missing_docs`): this crate is what the functions, the
//! operator's command and the tests build on.

#![warn(missing_docs)]

pub mod accounts;
pub mod authorization;
pub mod aws;
pub mod cache;
pub mod config;
/// WeChat's message scheme, from its own crate (the WeChat sandbox uses it too).
pub use wxopen_crypto as crypto;
pub mod handoff;
pub mod html;
pub mod identity;
pub mod jssdk;
pub mod links;
pub mod message;
pub mod metrics;
pub mod miniprogram;
pub mod oauth;
pub mod push;
pub mod refresh;
pub mod release_check;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod tokens;
pub mod wechat;
pub mod xml;

pub use config::{Config, ConfigError};
pub use crypto::{CryptoError, MessageCrypto};
pub use push::{ComponentInfo, ComponentPush, Envelope, PushError};
pub use secrets::{ComponentKeys, ComponentSecret, SecretCache, SecretError};
pub use store::{Store, StoreError, Written};

/// The current time in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
