//! The platform's identity token for authorized accounts' users: a JWT (ES256) that says which
//! user (`sub`, the openid) of which account (`aud`, the appid) signed in, so that the platform's
//! services, in any language, verify it with an ordinary JWT library and the public keys at
//! `GET /.well-known/jwks.json`.
//!
//! The P-256 key is derived from a Secrets Manager secret the template generates (a long random
//! string): SHA-256 of its text is the private scalar. Rotating the secret (a new value) rotates
//! the key: new tokens are signed with the key of `AWSCURRENT`, and the key set lists the key of
//! `AWSPREVIOUS` as well, so tokens signed before the rotation verify until they expire. Each
//! key's `kid` is its RFC 7638 thumbprint. The signature, the key encoding and the JWT are the
//! work of `jsonwebtoken` and `p256` (RustCrypto); nothing here is cryptography of its own.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::secrets::{CachedSecret, SecretError};

/// An identity key's secret shorter than this is refused (the template generates 64 characters).
pub const MIN_SECRET_LEN: usize = 32;

/// One signing key, derived from one version of the secret.
pub struct IdentityKey {
    encoding: EncodingKey,
    /// The public key as a JWK (`kty`, `crv`, `x`, `y`, with `kid`, `alg` and `use`).
    jwk: PublicJwk,
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKey")
            .field("kid", &self.jwk.kid)
            .finish_non_exhaustive()
    }
}

/// A public key as the key set publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// `EC`.
    pub kty: String,
    /// `P-256`.
    pub crv: String,
    /// The point's x coordinate, base64url.
    pub x: String,
    /// The point's y coordinate, base64url.
    pub y: String,
    /// The key's RFC 7638 thumbprint.
    pub kid: String,
    /// `ES256`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

impl IdentityKey {
    /// The key derived from one version of the secret (surrounding whitespace ignored).
    pub fn from_secret(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        if text.len() < MIN_SECRET_LEN {
            return Err(SecretError::IdentityKey(
                "the secret must be at least 32 characters",
            ));
        }
        let mut scalar = Sha256::digest(text.as_bytes());
        let secret = p256::SecretKey::from_slice(&scalar);
        scalar.as_mut_slice().zeroize();
        // A digest that is zero or not below the curve's order: odds of 2^-128, but said plainly.
        let secret = secret.map_err(|_| {
            SecretError::IdentityKey(
                "the secret's SHA-256 is not a valid P-256 private key; give the secret a new value",
            )
        })?;
        let der = secret
            .to_pkcs8_der()
            .map_err(|_| SecretError::IdentityKey("the key could not be encoded"))?;
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
            &secret.public_key(),
            false,
        );
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(SecretError::IdentityKey(
                "the public key has no coordinates",
            ));
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        let kid = thumbprint(&x, &y);
        Ok(Self {
            encoding,
            jwk: PublicJwk {
                kty: "EC".into(),
                crv: "P-256".into(),
                x,
                y,
                kid,
                alg: "ES256".into(),
                use_: "sig".into(),
            },
        })
    }

    /// The key's id (its thumbprint).
    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    /// The public key as the key set publishes it.
    pub fn jwk(&self) -> &PublicJwk {
        &self.jwk
    }
}

/// RFC 7638: SHA-256 of the required members, in lexicographic order and without whitespace,
/// base64url. The coordinates are base64url already, so they need no escaping.
fn thumbprint(x: &str, y: &str) -> String {
    let members = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(members.as_bytes()))
}

/// The keys of the current version of the secret and, after a rotation, of the previous one.
#[derive(Debug)]
pub struct IdentityKeys {
    /// New tokens are signed with this one.
    pub current: IdentityKey,
    /// Still published, so tokens signed before the rotation verify until they expire.
    pub previous: Option<IdentityKey>,
}

impl IdentityKeys {
    /// The keys from the secret's current and previous texts. A previous version that gives no
    /// key (the secret held something else before) is left out of the key set.
    pub fn from_secrets(current: &str, previous: Option<&str>) -> Result<Self, SecretError> {
        let current = IdentityKey::from_secret(current)?;
        let previous = previous
            .map(IdentityKey::from_secret)
            .and_then(|key| match key {
                Ok(key) => Some(key),
                Err(error) => {
                    tracing::warn!(%error, "the identity secret's previous version is not published");
                    None
                }
            })
            .filter(|key| key.kid() != current.kid());
        Ok(Self { current, previous })
    }

    /// The key set (`{"keys": [...]}`), the current key first.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: std::iter::once(&self.current)
                .chain(self.previous.as_ref())
                .map(|key| key.jwk.clone())
                .collect(),
        }
    }
}

/// The key set `GET /.well-known/jwks.json` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys tokens may be signed with.
    pub keys: Vec<PublicJwk>,
}

/// The identity keys from Secrets Manager, cached per container like the platform's secret.
pub type IdentityKeyCache = CachedSecret<IdentityKeys>;

/// A cache of the identity keys in the secret `secret_id`.
pub fn key_cache(
    client: aws_sdk_secretsmanager::Client,
    secret_id: impl Into<String>,
    max_age: Duration,
) -> IdentityKeyCache {
    CachedSecret::parsed_with_previous(client, secret_id, max_age, IdentityKeys::from_secrets)
}

/// What an identity token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityClaims {
    /// The platform (`PUBLIC_BASE_URL`).
    pub iss: String,
    /// The user's openid under the account.
    pub sub: String,
    /// The account's appid.
    pub aud: String,
    /// The user's unionid, when WeChat gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

/// A user's identity, as WeChat told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User<'a> {
    /// The account (the token's audience).
    pub appid: &'a str,
    /// The user's openid under that account.
    pub openid: &'a str,
    /// The user's unionid, when known.
    pub unionid: Option<&'a str>,
}

/// A minted identity token.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Signs identity tokens for one platform.
#[derive(Debug)]
pub struct Issuer {
    /// The keys.
    pub keys: IdentityKeyCache,
    /// `iss`: the platform's public origin.
    pub issuer: String,
    /// How long a token is valid.
    pub ttl: Duration,
}

impl Issuer {
    /// The issuer the configuration describes; `None` without `PUBLIC_BASE_URL`.
    pub fn from_config(config: &crate::Config, aws: &aws_config::SdkConfig) -> Option<Self> {
        Some(Self {
            issuer: config.public_base_url.clone()?,
            keys: key_cache(
                aws_sdk_secretsmanager::Client::new(aws),
                &config.identity_secret_id,
                config.secret_max_age,
            ),
            ttl: config.identity_ttl,
        })
    }

    /// A token for `user`, issued at `now` (Unix seconds).
    pub async fn mint(&self, user: &User<'_>, now: i64) -> Result<Session, SecretError> {
        let keys = self.keys.keys().await?;
        Ok(sign(&keys.current, &self.issuer, user, now, self.ttl))
    }

    /// The key set to publish.
    pub async fn jwks(&self) -> Result<Jwks, SecretError> {
        Ok(self.keys.keys().await?.jwks())
    }
}

/// Signs a token for `user` with `key`.
pub fn sign(key: &IdentityKey, issuer: &str, user: &User<'_>, now: i64, ttl: Duration) -> Session {
    let ttl = ttl.as_secs() as i64;
    let claims = IdentityClaims {
        iss: issuer.to_owned(),
        sub: user.openid.to_owned(),
        aud: user.appid.to_owned(),
        unionid: user.unionid.map(str::to_owned),
        iat: now,
        exp: now + ttl,
    };
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.jwk.kid.clone());
    let token = jsonwebtoken::encode(&header, &claims, &key.encoding)
        .expect("an ES256 key derived and checked here signs any claims");
    Session {
        token,
        expires_in: ttl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    const SECRET: &str = "identity-key-secret-for-tests-0123456789abcdef";

    fn decode(
        token: &str,
        jwk: &PublicJwk,
        aud: &str,
    ) -> jsonwebtoken::errors::Result<IdentityClaims> {
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(jwk).unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[aud]);
        validation.set_issuer(&["https://auth.example.com"]);
        jsonwebtoken::decode(token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
            .map(|data| data.claims)
    }

    #[test]
    fn a_token_verifies_with_the_published_key() {
        let key = IdentityKey::from_secret(SECRET).unwrap();
        let now = crate::unix_now();
        let user = User {
            appid: "wxa",
            openid: "o-user",
            unionid: Some("u-user"),
        };
        let session = sign(
            &key,
            "https://auth.example.com",
            &user,
            now,
            Duration::from_secs(7200),
        );
        assert_eq!(session.expires_in, 7200);
        let header = jsonwebtoken::decode_header(&session.token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        assert_eq!(header.alg, Algorithm::ES256);
        let claims = decode(&session.token, key.jwk(), "wxa").unwrap();
        assert_eq!(claims.sub, "o-user");
        assert_eq!(claims.unionid.as_deref(), Some("u-user"));
        assert_eq!(claims.exp, now + 7200);
        assert!(decode(&session.token, key.jwk(), "wxb").is_err());
        let other = IdentityKey::from_secret(&format!("{SECRET}-rotated")).unwrap();
        assert!(decode(&session.token, other.jwk(), "wxa").is_err());
    }

    #[test]
    fn keys_are_stable_thumbprinted_and_never_shown() {
        let key = IdentityKey::from_secret(SECRET).unwrap();
        let again = IdentityKey::from_secret(&format!("  {SECRET}\n")).unwrap();
        assert_eq!(key.jwk(), again.jwk());
        // RFC 7638 §3.1's members, recomputed from the published JWK.
        let jwk = serde_json::to_value(key.jwk()).unwrap();
        let members =
            serde_json::json!({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]});
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(members.to_string().as_bytes()));
        assert_eq!(key.kid(), expected);
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "ES256");
        assert!(!format!("{key:?}").contains(SECRET));
        assert!(matches!(
            IdentityKey::from_secret("short"),
            Err(SecretError::IdentityKey(_))
        ));
    }

    #[test]
    fn the_key_set_lists_the_previous_key_after_a_rotation() {
        let keys = IdentityKeys::from_secrets(SECRET, None).unwrap();
        assert_eq!(keys.jwks().keys.len(), 1);
        let rotated = format!("{SECRET}-rotated");
        let keys = IdentityKeys::from_secrets(&rotated, Some(SECRET)).unwrap();
        let kids: Vec<String> = keys.jwks().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(
            kids,
            [
                IdentityKey::from_secret(&rotated).unwrap().kid().to_owned(),
                IdentityKey::from_secret(SECRET).unwrap().kid().to_owned()
            ]
        );
        // An unusable previous value is left out; the same value twice is one key.
        assert_eq!(
            IdentityKeys::from_secrets(SECRET, Some("x"))
                .unwrap()
                .jwks()
                .keys
                .len(),
            1
        );
        assert_eq!(
            IdentityKeys::from_secrets(SECRET, Some(SECRET))
                .unwrap()
                .jwks()
                .keys
                .len(),
            1
        );
    }
}
