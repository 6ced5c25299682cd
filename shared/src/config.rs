//! Configuration from the environment; the variable names are the deployment contract.

use std::time::Duration;

/// A variable the deployment must set is missing or wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The variable is not set.
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    /// The variable cannot be read.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why its value is refused.
        reason: String,
    },
}

/// What every function needs to know about its deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `COMPONENT_APPID`: the platform's appid.
    pub component_appid: String,
    /// `TABLE_NAME`: the DynamoDB table.
    pub table_name: String,
    /// `SECRET_ID`: the Secrets Manager secret holding the app secret and message keys.
    pub secret_id: String,
    /// https origin on the 授权发起页域名; only the link and callback functions need it.
    pub public_base_url: Option<String>,
    /// The Secrets Manager secret holding the key merchant links are signed with
    /// ([`crate::links`]): `LINK_SECRET_ID`, by default `{SECRET_ID}-links` (the template's
    /// name for it, and the local services'). Only the link function and the admin command
    /// read it.
    pub link_secret_id: String,
    /// The Secrets Manager secret the key of users' identity tokens is derived from
    /// ([`crate::identity`]): `IDENTITY_SECRET_ID`, by default `{SECRET_ID}-identity` (the
    /// template's name for it, and the local services'). Only the user-identity function reads it.
    pub identity_secret_id: String,
    /// `IDENTITY_TTL_SECS`: how long an identity token is valid (default 7200).
    pub identity_ttl: Duration,
    /// `JSSDK_ORIGINS`: the origins (`https://shop.example.com`, comma-separated) whose pages
    /// may have a JS-SDK configuration signed; empty: none.
    pub jssdk_origins: Vec<String>,
    /// `OAUTH_RETURN_TO`: where web logins may send the browser back (comma-separated
    /// `https://host[:port][/path-prefix]`; [`crate::oauth::ReturnToList`]); empty: nowhere.
    pub oauth_return_to: crate::oauth::ReturnToList,
    /// `WECHAT_API_BASE`: where WeChat's APIs are (the sandbox's address locally).
    pub wechat_api_base: String,
    /// `WECHAT_MP_BASE`: the origin of WeChat's authorization page for PCs.
    pub wechat_mp_base: String,
    /// `WECHAT_OPEN_BASE`: the origin of WeChat's authorization page for phones.
    pub wechat_open_base: String,
    /// How far a push's timestamp may be from our clock before it is refused as a replay.
    pub push_timestamp_tolerance: Duration,
    /// How long a fetched secret is used before it is fetched again (rotation).
    pub secret_max_age: Duration,
    /// Tokens are refreshed this long before they expire.
    pub refresh_margin: Duration,
    /// Refreshes in flight at once in one refresher run.
    pub refresh_concurrency: usize,
    /// Timeout of every call to WeChat.
    pub wechat_timeout: Duration,
    /// Whether an account bound to one merchant may be taken by another's authorization.
    pub rebind: crate::authorization::RebindPolicy,
    /// Where authorized accounts' messages are handed on (`MESSAGE_QUEUE_URL` or
    /// `MESSAGE_EVENT_BUS`, not both); none drops them after the release check's cases.
    pub message_target: Option<MessageTarget>,
}

/// The target of [`crate::handoff::Handoff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageTarget {
    /// An SQS queue URL (a `.fifo` queue also drops WeChat's retries).
    Queue(String),
    /// An EventBridge bus name or ARN.
    EventBus(String),
}

impl Config {
    /// How far a push's timestamp may be off when the deployment does not say.
    pub const DEFAULT_PUSH_TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(300);
    /// How long a fetched secret is used when the deployment does not say.
    pub const DEFAULT_SECRET_MAX_AGE: Duration = Duration::from_secs(300);
    /// How long an identity token is valid when the deployment does not say.
    pub const DEFAULT_IDENTITY_TTL: Duration = Duration::from_secs(7200);

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let origin = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            let value = get(name).unwrap_or_else(|| default.to_owned());
            if !(value.starts_with("https://") || value.starts_with("http://")) {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "must be an http(s) origin".into(),
                });
            }
            Ok(value.trim_end_matches('/').to_owned())
        };
        let seconds =
            |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
                match get(name) {
                    None => Ok(default),
                    Some(v) => v.parse::<u64>().map(Duration::from_secs).map_err(|_| {
                        ConfigError::Invalid {
                            name,
                            reason: "must be a whole number of seconds".into(),
                        }
                    }),
                }
            };
        let public_base_url = match get("PUBLIC_BASE_URL") {
            Some(_) => Some(origin("PUBLIC_BASE_URL", "")?),
            None => None,
        };
        let message_target = match (get("MESSAGE_QUEUE_URL"), get("MESSAGE_EVENT_BUS")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: "MESSAGE_EVENT_BUS",
                    reason: "set MESSAGE_QUEUE_URL or MESSAGE_EVENT_BUS, not both".into(),
                });
            }
            (Some(url), None) => Some(MessageTarget::Queue(url)),
            (None, Some(bus)) => Some(MessageTarget::EventBus(bus)),
            (None, None) => None,
        };
        let secret_id = required("SECRET_ID")?;
        Ok(Self {
            message_target,
            component_appid: required("COMPONENT_APPID")?,
            table_name: required("TABLE_NAME")?,
            link_secret_id: get("LINK_SECRET_ID").unwrap_or_else(|| format!("{secret_id}-links")),
            identity_secret_id: get("IDENTITY_SECRET_ID")
                .unwrap_or_else(|| format!("{secret_id}-identity")),
            identity_ttl: match seconds("IDENTITY_TTL_SECS", Self::DEFAULT_IDENTITY_TTL)? {
                ttl if (60..=86_400).contains(&ttl.as_secs()) => ttl,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "IDENTITY_TTL_SECS",
                        reason: "must be between 60 and 86400 seconds".into(),
                    });
                }
            },
            jssdk_origins: origins(get("JSSDK_ORIGINS"), "JSSDK_ORIGINS")?,
            oauth_return_to: crate::oauth::ReturnToList::parse(
                &get("OAUTH_RETURN_TO").unwrap_or_default(),
            )
            .map_err(|error| ConfigError::Invalid {
                name: "OAUTH_RETURN_TO",
                reason: error.to_string(),
            })?,
            secret_id,
            public_base_url,
            wechat_api_base: origin("WECHAT_API_BASE", "https://api.weixin.qq.com")?,
            wechat_mp_base: origin("WECHAT_MP_BASE", "https://mp.weixin.qq.com")?,
            wechat_open_base: origin("WECHAT_OPEN_BASE", "https://open.weixin.qq.com")?,
            push_timestamp_tolerance: seconds(
                "PUSH_TIMESTAMP_TOLERANCE_SECS",
                Self::DEFAULT_PUSH_TIMESTAMP_TOLERANCE,
            )?,
            secret_max_age: seconds("SECRET_MAX_AGE_SECS", Self::DEFAULT_SECRET_MAX_AGE)?,
            refresh_margin: seconds("REFRESH_MARGIN_SECS", Duration::from_secs(20 * 60))?,
            refresh_concurrency: match get("REFRESH_CONCURRENCY") {
                None => 16,
                Some(v) => v
                    .parse()
                    .ok()
                    .filter(|c| *c > 0)
                    .ok_or(ConfigError::Invalid {
                        name: "REFRESH_CONCURRENCY",
                        reason: "must be a positive whole number".into(),
                    })?,
            },
            wechat_timeout: seconds("WECHAT_TIMEOUT_SECS", Duration::from_secs(5))?,
            rebind: match get("MERCHANT_REBIND") {
                None => crate::authorization::RebindPolicy::default(),
                Some(v) => {
                    crate::authorization::RebindPolicy::parse(&v).ok_or(ConfigError::Invalid {
                        name: "MERCHANT_REBIND",
                        reason: "must be refuse or take_over".into(),
                    })?
                }
            },
        })
    }
}

/// A comma-separated list of http(s) origins (scheme, host and optional port; no path), kept in
/// their canonical form (`url`'s: lowercase host, default port dropped).
pub fn origins(value: Option<String>, name: &'static str) -> Result<Vec<String>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            let invalid = |reason: &str| ConfigError::Invalid {
                name,
                reason: format!("{v:?} {reason}"),
            };
            let url = url::Url::parse(v).map_err(|_| invalid("is not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(invalid("is not an http(s) origin"));
            }
            if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
                return Err(invalid("must be an origin only, without a path"));
            }
            Ok(url.origin().ascii_serialization())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        ("COMPONENT_APPID", "wx1"),
        ("TABLE_NAME", "t"),
        ("SECRET_ID", "s"),
    ];

    #[test]
    fn defaults_follow_the_contract() {
        let config = Config::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(config.wechat_api_base, "https://api.weixin.qq.com");
        assert_eq!(config.wechat_mp_base, "https://mp.weixin.qq.com");
        assert_eq!(config.wechat_open_base, "https://open.weixin.qq.com");
        assert_eq!(config.public_base_url, None);
        assert_eq!(config.link_secret_id, "s-links");
        assert_eq!(config.identity_secret_id, "s-identity");
        assert_eq!(config.identity_ttl, Duration::from_secs(7200));
        assert!(config.jssdk_origins.is_empty());
        assert!(config.oauth_return_to.is_empty());
        assert_eq!(config.push_timestamp_tolerance, Duration::from_secs(300));
        assert_eq!(config.refresh_margin, Duration::from_secs(1200));
        assert_eq!(config.refresh_concurrency, 16);
        assert_eq!(config.wechat_timeout, Duration::from_secs(5));
        assert_eq!(config.message_target, None);
    }

    #[test]
    fn messages_go_to_one_target() {
        let mut pairs = BASE.to_vec();
        pairs.push(("MESSAGE_QUEUE_URL", "http://q/1/messages.fifo"));
        assert_eq!(
            Config::from_lookup(lookup(&pairs)).unwrap().message_target,
            Some(MessageTarget::Queue("http://q/1/messages.fifo".into()))
        );
        pairs.push(("MESSAGE_EVENT_BUS", "platform"));
        assert!(matches!(
            Config::from_lookup(lookup(&pairs)).unwrap_err(),
            ConfigError::Invalid {
                name: "MESSAGE_EVENT_BUS",
                ..
            }
        ));
        pairs.remove(3);
        assert_eq!(
            Config::from_lookup(lookup(&pairs)).unwrap().message_target,
            Some(MessageTarget::EventBus("platform".into()))
        );
    }

    #[test]
    fn required_and_invalid_values_are_reported() {
        assert_eq!(
            Config::from_lookup(lookup(&BASE[..2])).unwrap_err(),
            ConfigError::Missing("SECRET_ID")
        );
        let mut pairs = BASE.to_vec();
        pairs.push(("WECHAT_API_BASE", "api.weixin.qq.com"));
        assert!(matches!(
            Config::from_lookup(lookup(&pairs)).unwrap_err(),
            ConfigError::Invalid {
                name: "WECHAT_API_BASE",
                ..
            }
        ));
        let mut pairs = BASE.to_vec();
        pairs.push(("PUSH_TIMESTAMP_TOLERANCE_SECS", "five"));
        assert!(Config::from_lookup(lookup(&pairs)).is_err());
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("PUBLIC_BASE_URL", "https://auth.example.com/"),
            ("WECHAT_API_BASE", "http://127.0.0.1:9/"),
        ]);
        let config = Config::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(
            config.public_base_url.as_deref(),
            Some("https://auth.example.com")
        );
        assert_eq!(config.wechat_api_base, "http://127.0.0.1:9");
    }

    #[test]
    fn jssdk_origins_are_origins() {
        let mut pairs = BASE.to_vec();
        pairs.push((
            "JSSDK_ORIGINS",
            "https://Shop.Example.com, http://127.0.0.1:8080,https://a.example.com:443",
        ));
        assert_eq!(
            Config::from_lookup(lookup(&pairs)).unwrap().jssdk_origins,
            [
                "https://shop.example.com",
                "http://127.0.0.1:8080",
                "https://a.example.com"
            ]
        );
        for bad in [
            "shop.example.com",
            "https://shop.example.com/page",
            "ftp://x.example.com",
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push(("JSSDK_ORIGINS", bad));
            assert!(
                matches!(
                    Config::from_lookup(lookup(&pairs)).unwrap_err(),
                    ConfigError::Invalid {
                        name: "JSSDK_ORIGINS",
                        ..
                    }
                ),
                "{bad}"
            );
        }
        let mut pairs = BASE.to_vec();
        pairs.push(("IDENTITY_TTL_SECS", "5"));
        assert!(Config::from_lookup(lookup(&pairs)).is_err());
    }
}
