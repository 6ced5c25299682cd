//! Merchant links the platform minted: `GET /authorize` starts an authorization only for a link
//! whose parameters and expiry the platform signed, so nobody can type a merchant id and bind
//! their own account to it, or loop on our page to spend the platform's WeChat quota.
//!
//! A link is `{PUBLIC_BASE_URL}/authorize?merchant=..&auth_type=..[&biz_appid=..][&mode=..]
//! &expires=UNIX&sig=HEX`: `sig` is HMAC-SHA256, under a key of its own (a Secrets Manager
//! secret, never the WeChat credentials), over every parameter that changes what the link does
//! and the expiry. Checking compares in constant time. `go` and `format` (the landing page's
//! button, the JSON answer) only choose how the same link is answered and are not signed.

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::authorization::LinkParams;
use crate::secrets::{CachedSecret, SecretError};

/// A link lives this long unless the minter says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// The longest life a link may be minted with.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The shortest: a link must survive being sent to the merchant.
pub const MIN_TTL: Duration = Duration::from_secs(60);
/// A link key shorter than this is refused (the template generates 64 characters).
pub const MIN_KEY_LEN: usize = 32;
/// One link starts at most this many authorizations (each a fresh pre_auth_code from WeChat)...
pub const STARTS_PER_WINDOW: i64 = 5;
/// ...in each window of this many seconds.
pub const START_WINDOW_SECS: i64 = 3600;

/// Tags the signed text so a signature can never be taken for another use of the key.
const DOMAIN: &str = "wxopen-link-v1";

/// The key links are signed with.
#[derive(Clone)]
pub struct LinkKey(Vec<u8>);

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkKey(<redacted>)")
    }
}

impl LinkKey {
    /// The key from its secret's text (surrounding whitespace ignored).
    pub fn from_secret(text: &str) -> Result<Self, SecretError> {
        let key = text.trim();
        if key.len() < MIN_KEY_LEN {
            return Err(SecretError::ShortLinkKey);
        }
        Ok(Self(key.as_bytes().to_vec()))
    }

    fn mac(&self, params: &LinkParams, expires_at: i64) -> Hmac<Sha256> {
        // None of the fields can hold a newline (LinkParams validates them).
        self.mac_fields(
            DOMAIN,
            &[
                &params.merchant,
                &params.auth_type.to_string(),
                params.biz_appid.as_deref().unwrap_or_default(),
                params.mode.map_or("", |m| m.as_str()),
                &expires_at.to_string(),
            ],
        )
    }

    /// HMAC-SHA256 of `domain` and `fields`, one per line: the one way the platform signs what
    /// it hands out (links here, web login states in [`crate::oauth`]). `domain` tags the use,
    /// so a signature made for one can never pass for another; no field may hold a newline.
    pub(crate) fn mac_fields(&self, domain: &str, fields: &[&str]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(domain.as_bytes());
        for field in fields {
            debug_assert!(!field.contains('\n'), "a signed field holds a newline");
            mac.update(b"\n");
            mac.update(field.as_bytes());
        }
        mac
    }
}

/// The link key from Secrets Manager, cached per container like the platform's secret.
pub type LinkKeyCache = CachedSecret<LinkKey>;

/// A cache of the link key in the secret `secret_id`.
pub fn key_cache(
    client: aws_sdk_secretsmanager::Client,
    secret_id: impl Into<String>,
    max_age: Duration,
) -> LinkKeyCache {
    CachedSecret::parsed(client, secret_id, max_age, LinkKey::from_secret)
}

/// A link the platform signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLink {
    /// What the link asks for.
    pub params: LinkParams,
    /// Unix seconds; the link is refused after this.
    pub expires_at: i64,
    /// Lowercase hex HMAC-SHA256.
    pub signature: String,
}

impl SignedLink {
    /// The link's query string: its parameters, its expiry and its signature.
    pub fn to_query(&self) -> String {
        format!(
            "{}&expires={}&sig={}",
            self.params.to_query(),
            self.expires_at,
            self.signature
        )
    }

    /// The full link on the platform's origin.
    pub fn url(&self, public_base_url: &str) -> String {
        format!(
            "{}/authorize?{}",
            public_base_url.trim_end_matches('/'),
            self.to_query()
        )
    }
}

/// Why a link could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    #[error(
        "ttl_secs must be between {} and {} (7 days)",
        MIN_TTL.as_secs(),
        MAX_TTL.as_secs()
    )]
    /// A lifetime outside what links may have.
    BadTtl,
}

/// Signs `params` for `ttl` from `now` (Unix seconds).
pub fn mint(
    key: &LinkKey,
    params: LinkParams,
    now: i64,
    ttl: Duration,
) -> Result<SignedLink, MintError> {
    if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
        return Err(MintError::BadTtl);
    }
    let expires_at = now + ttl.as_secs() as i64;
    let signature = hex::encode(key.mac(&params, expires_at).finalize().into_bytes());
    Ok(SignedLink {
        params,
        expires_at,
        signature,
    })
}

/// A freshly signed link, as `POST /links` and `wxopen-admin link --json` give it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Minted {
    /// The full link on the platform's origin.
    pub url: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Why a link could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintFailure {
    /// The request was refused.
    #[error(transparent)]
    Request(#[from] MintError),
    /// The signing key could not be read.
    #[error(transparent)]
    Key(SecretError),
}

/// Signs `params` for `ttl` from `now` with the key in `keys`: the full link on
/// `public_base_url`.
pub async fn mint_url(
    keys: &LinkKeyCache,
    public_base_url: &str,
    params: LinkParams,
    now: i64,
    ttl: Duration,
) -> Result<Minted, MintFailure> {
    let key = keys.keys().await.map_err(MintFailure::Key)?;
    let link = mint(&key, params, now, ttl)?;
    Ok(Minted {
        url: link.url(public_base_url),
        expires_at: link.expires_at,
    })
}

/// Why `GET /authorize` refused a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    /// The link carries no signature.
    #[error("this link is not signed: ask the platform for your authorization link")]
    Unsigned,
    /// The signature does not match the link's parameters.
    #[error("this link was altered: its signature does not match its parameters")]
    Altered,
    /// The link is past its expiry.
    #[error("this link has expired: ask the platform for a new one")]
    Expired,
}

impl LinkRefusal {
    /// The HTTP status it is answered with.
    pub fn status(self) -> u16 {
        match self {
            Self::Unsigned | Self::Altered => 403,
            Self::Expired => 410,
        }
    }

    /// The same in Chinese, for the page.
    pub fn zh(self) -> &'static str {
        match self {
            Self::Unsigned => "此链接未经平台签发，请向平台索取您的授权链接。",
            Self::Altered => "此链接已被改动，与平台签发的不符。",
            Self::Expired => "此链接已过期，请向平台索取新的授权链接。",
        }
    }
}

/// Checks that `params`, with the link's `expires` and `sig` (as they came), were signed with
/// `key` and have not expired at `now`.
pub fn verify(
    key: &LinkKey,
    params: LinkParams,
    expires: Option<&str>,
    sig: Option<&str>,
    now: i64,
) -> Result<SignedLink, LinkRefusal> {
    let sig = sig.filter(|s| !s.is_empty()).ok_or(LinkRefusal::Unsigned)?;
    let expires_at: i64 = expires
        .and_then(|e| e.parse().ok())
        .ok_or(LinkRefusal::Altered)?;
    let bytes = hex::decode(sig).map_err(|_| LinkRefusal::Altered)?;
    key.mac(&params, expires_at)
        .verify_slice(&bytes)
        .map_err(|_| LinkRefusal::Altered)?;
    if expires_at < now {
        return Err(LinkRefusal::Expired);
    }
    Ok(SignedLink {
        params,
        expires_at,
        signature: sig.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::Mode;

    fn key() -> LinkKey {
        LinkKey::from_secret("0123456789abcdef0123456789abcdef").unwrap()
    }

    fn params() -> LinkParams {
        LinkParams {
            merchant: "shop-1".into(),
            auth_type: 2,
            biz_appid: Some("wx0123456789abcdef".into()),
            mode: Some(Mode::Mobile),
        }
    }

    fn parsed(link: &SignedLink) -> (LinkParams, String, String) {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(link.to_query().as_bytes())
            .into_owned()
            .collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        (
            LinkParams::parse(get).unwrap(),
            get("expires").unwrap().to_owned(),
            get("sig").unwrap().to_owned(),
        )
    }

    #[test]
    fn a_minted_link_verifies_until_it_expires() {
        let link = mint(&key(), params(), 1000, DEFAULT_TTL).unwrap();
        assert_eq!(link.expires_at, 1000 + 86400);
        let (p, expires, sig) = parsed(&link);
        assert_eq!(p, params());
        assert_eq!(
            verify(&key(), p.clone(), Some(&expires), Some(&sig), 1000 + 86400),
            Ok(link.clone())
        );
        assert_eq!(
            verify(&key(), p, Some(&expires), Some(&sig), 1000 + 86401),
            Err(LinkRefusal::Expired)
        );
        assert!(link.url("https://auth.example.com/").starts_with(
            "https://auth.example.com/authorize?merchant=shop-1&auth_type=2&biz_appid=wx0123456789abcdef&mode=mobile&expires=87400&sig="
        ));
    }

    #[test]
    fn every_parameter_and_the_expiry_are_signed() {
        let link = mint(&key(), params(), 1000, DEFAULT_TTL).unwrap();
        let (p, expires, sig) = parsed(&link);
        let altered = [
            LinkParams {
                merchant: "shop-2".into(),
                ..p.clone()
            },
            LinkParams {
                auth_type: 3,
                ..p.clone()
            },
            LinkParams {
                biz_appid: None,
                ..p.clone()
            },
            LinkParams {
                mode: None,
                ..p.clone()
            },
            LinkParams {
                mode: Some(Mode::Pc),
                ..p.clone()
            },
        ];
        for params in altered {
            assert_eq!(
                verify(&key(), params.clone(), Some(&expires), Some(&sig), 1000),
                Err(LinkRefusal::Altered),
                "{params:?}"
            );
        }
        let later = (link.expires_at + 3600).to_string();
        for (expires, sig) in [
            (Some(later.as_str()), Some(sig.as_str())),
            (Some("soon"), Some(sig.as_str())),
            (None, Some(sig.as_str())),
            (Some(expires.as_str()), Some("zz")),
            (Some(expires.as_str()), Some(&sig[..10])),
        ] {
            assert_eq!(
                verify(&key(), p.clone(), expires, sig, 1000),
                Err(LinkRefusal::Altered),
                "{expires:?} {sig:?}"
            );
        }
        for sig in [None, Some("")] {
            assert_eq!(
                verify(&key(), p.clone(), Some(&expires), sig, 1000),
                Err(LinkRefusal::Unsigned)
            );
        }
        // Another key's signature is an altered link.
        let other = LinkKey::from_secret("another key of at least thirty-two chars").unwrap();
        assert_eq!(
            verify(&other, p, Some(&expires), Some(&sig), 1000),
            Err(LinkRefusal::Altered)
        );
    }

    #[test]
    fn ttls_and_keys_are_bounded_and_the_key_is_never_shown() {
        for ttl in [0, 59, 7 * 86400 + 1] {
            assert_eq!(
                mint(&key(), params(), 0, Duration::from_secs(ttl)),
                Err(MintError::BadTtl)
            );
        }
        assert!(mint(&key(), params(), 0, MAX_TTL).is_ok());
        assert!(matches!(
            LinkKey::from_secret("  short  "),
            Err(SecretError::ShortLinkKey)
        ));
        assert_eq!(format!("{:?}", key()), "LinkKey(<redacted>)");
    }
}
