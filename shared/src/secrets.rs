//! The platform's secrets from Secrets Manager (its WeChat credentials, the key that signs
//! merchant links, the key that signs users' identity tokens): fetched on first use, cached per container for a bounded time so a rotation
//! is picked up, never printed.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::crypto::{CryptoError, MessageCrypto};

/// The secret's JSON: `{"component_appsecret", "token", "encoding_aes_key"}`.
#[derive(Clone, Deserialize)]
pub struct ComponentSecret {
    /// The platform's app secret.
    pub component_appsecret: String,
    /// The message-check token pushes are signed with.
    pub token: String,
    /// The 43-character key pushes are encrypted with.
    pub encoding_aes_key: String,
}

impl fmt::Debug for ComponentSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ComponentSecret { <redacted> }")
    }
}

/// The secret with what is derived from it once per fetch.
#[derive(Debug)]
pub struct ComponentKeys {
    /// The secret as fetched.
    pub secret: ComponentSecret,
    /// The message crypto built from it.
    pub crypto: MessageCrypto,
}

impl ComponentKeys {
    /// Derives the message crypto; refuses an unusable key.
    pub fn new(secret: ComponentSecret, component_appid: &str) -> Result<Self, SecretError> {
        let crypto = MessageCrypto::new(
            secret.token.clone(),
            &secret.encoding_aes_key,
            component_appid,
        )
        .map_err(SecretError::Key)?;
        Ok(Self { secret, crypto })
    }
}

/// Why the secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Secrets Manager refused or did not answer.
    #[error("Secrets Manager GetSecretValue failed: {0}")]
    Fetch(String),
    /// The secret is binary.
    #[error("the secret has no SecretString")]
    NotString,
    /// The secret's JSON lacks a field.
    #[error("the secret is not the expected JSON object: {0}")]
    Format(String),
    /// The encoding_aes_key is not a valid key.
    #[error("the secret's encoding_aes_key is unusable: {0}")]
    Key(CryptoError),
    /// The link signing key is too short to be a key.
    #[error("the link signing key must be at least {min} characters", min = crate::links::MIN_KEY_LEN)]
    ShortLinkKey,
    /// The identity key's secret cannot give a signing key.
    #[error("the identity key is unusable: {0}")]
    IdentityKey(&'static str),
}

struct Cached<T> {
    value: Arc<T>,
    fetched_at: Instant,
}

/// Turns a secret's text (its `AWSCURRENT` version, and its `AWSPREVIOUS` one when asked for and
/// there is one) into what is kept of it.
type Parse<T> = Box<dyn Fn(&str, Option<&str>) -> Result<T, SecretError> + Send + Sync>;

/// Fetches a secret lazily and keeps what was parsed of it; one fetch at a time per container.
pub struct CachedSecret<T> {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    max_age: Duration,
    /// Whether the `AWSPREVIOUS` version is fetched too (keys whose old value must still be
    /// known after a rotation).
    with_previous: bool,
    parse: Parse<T>,
    current: Mutex<Option<Cached<T>>>,
}

/// The platform's secret and its message crypto.
pub type SecretCache = CachedSecret<ComponentKeys>;

impl<T> fmt::Debug for CachedSecret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedSecret")
            .field("secret_id", &self.secret_id)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl SecretCache {
    /// A cache of `secret_id`; a fetched secret is used for at most `max_age`.
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        component_appid: impl Into<String>,
        max_age: Duration,
    ) -> Self {
        let component_appid = component_appid.into();
        CachedSecret::parsed(client, secret_id, max_age, move |text| {
            let secret: ComponentSecret = serde_json::from_str(text).map_err(format_error)?;
            ComponentKeys::new(secret, &component_appid)
        })
    }
}

impl<T> CachedSecret<T> {
    /// A secret whose text `parse` turns into a `T`.
    pub fn parsed(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        max_age: Duration,
        parse: impl Fn(&str) -> Result<T, SecretError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            max_age,
            with_previous: false,
            parse: Box::new(move |current, _| parse(current)),
            current: Mutex::new(None),
        }
    }

    /// A secret whose current text and previous text (`AWSPREVIOUS`, `None` before the first
    /// rotation) `parse` turns into a `T`: both are fetched together, and cached together.
    pub fn parsed_with_previous(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        max_age: Duration,
        parse: impl Fn(&str, Option<&str>) -> Result<T, SecretError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            max_age,
            with_previous: true,
            parse: Box::new(parse),
            current: Mutex::new(None),
        }
    }

    /// The cached value, fetched when missing or older than the maximum age.
    pub async fn keys(&self) -> Result<Arc<T>, SecretError> {
        self.keys_fresher_than(self.max_age).await
    }

    /// The value, fetched again unless the cached one is younger than `age`. Used when a
    /// signature fails: the operator may just have rotated the token.
    pub async fn keys_fresher_than(&self, age: Duration) -> Result<Arc<T>, SecretError> {
        let mut current = self.current.lock().await;
        if let Some(cached) = current.as_ref()
            && cached.fetched_at.elapsed() < age
        {
            return Ok(cached.value.clone());
        }
        match self.fetch().await {
            Ok(value) => {
                let value = Arc::new(value);
                *current = Some(Cached {
                    value: value.clone(),
                    fetched_at: Instant::now(),
                });
                Ok(value)
            }
            // A passing Secrets Manager fault must not stop the service: keep the last good value.
            Err(error) => match current.as_ref() {
                Some(cached) => {
                    tracing::warn!(%error, "secret refresh failed; using the cached value");
                    Ok(cached.value.clone())
                }
                None => Err(error),
            },
        }
    }

    async fn fetch(&self) -> Result<T, SecretError> {
        let current = self
            .fetch_version(None)
            .await?
            .ok_or_else(|| SecretError::Fetch("the secret has no current version".into()))?;
        let previous = match self.with_previous {
            true => self.fetch_version(Some("AWSPREVIOUS")).await?,
            false => None,
        };
        (self.parse)(&current, previous.as_deref())
    }

    /// The text of the version at `stage` (the current one by default); `None` when no version
    /// has that stage.
    async fn fetch_version(&self, stage: Option<&str>) -> Result<Option<String>, SecretError> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .set_version_stage(stage.map(str::to_owned))
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(
                output
                    .secret_string()
                    .ok_or(SecretError::NotString)?
                    .to_owned(),
            )),
            Err(error)
                if stage.is_some()
                    && error
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(SecretError::Fetch(DisplayErrorContext(error).to_string())),
        }
    }
}

/// serde_json's messages can quote the offending value; only a missing field's name or the
/// position is kept.
fn format_error(error: serde_json::Error) -> SecretError {
    let message = error.to_string();
    if message.starts_with("missing field") {
        let name = message.split(" at line").next().unwrap_or_default();
        return SecretError::Format(name.to_owned());
    }
    SecretError::Format(format!(
        "{:?} error at line {} column {}",
        error.classify(),
        error.line(),
        error.column()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_errors_never_quote_the_value() {
        let error = serde_json::from_str::<ComponentSecret>(
            r#"{"token": "hunter2", "encoding_aes_key": 424242, "component_appsecret": "x"}"#,
        )
        .unwrap_err();
        let shown = format_error(error).to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains("424242"),
            "{shown}"
        );
        let error =
            serde_json::from_str::<ComponentSecret>(r#""a plain string secret""#).unwrap_err();
        assert!(!format_error(error).to_string().contains("plain string"));
        let error = serde_json::from_str::<ComponentSecret>(r#"{"token": "t"}"#).unwrap_err();
        assert!(
            format_error(error)
                .to_string()
                .contains("missing field `component_appsecret`")
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = ComponentSecret {
            component_appsecret: "appsecret-value".into(),
            token: "token-value".into(),
            encoding_aes_key: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into(),
        };
        let keys = ComponentKeys::new(secret.clone(), "wx1").unwrap();
        for shown in [format!("{secret:?}"), format!("{keys:?}")] {
            assert!(
                !shown.contains("value") && !shown.contains("abcdefg"),
                "{shown}"
            );
        }
    }
}
