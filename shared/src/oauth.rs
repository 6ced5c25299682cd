//! Web login on behalf of an official account (代公众号发起网页授权; docs/protocol.md#web-login):
//! what `GET /oauth/{appid}/authorize` sends the browser away with, and what
//! `GET /oauth/{appid}/callback` checks before it spends WeChat's single-use code.
//!
//! - **Where the browser may be sent back** ([`ReturnToList`], `OAUTH_RETURN_TO`): only to a
//!   configured origin (and path prefix). Candidates are parsed as URLs, so `@`, backslashes,
//!   dot segments and other tricks are judged by what a browser would open, and refused when
//!   they leave the list: no open redirect.
//! - **Bound to the browser that started** (no login CSRF): the start sets a random nonce in a
//!   cookie (`__Host-` prefixed, Secure, HttpOnly, SameSite=Lax on https; a plain name on
//!   `http://` development origins). `state` is an expiry and an HMAC, under the link key
//!   ([`crate::links::LinkKey`]), over the appid, the scope, the return_to, a hash of the nonce
//!   and the expiry. A callback whose state was not signed for this browser's cookie is refused
//!   before any WeChat call: a code obtained by someone else cannot be planted in a victim's
//!   browser.
//! - **Short**: WeChat takes at most 128 bytes of `a-z A-Z 0-9` as state, so the return_to and
//!   the scope travel in the cookie (signed through the state), not in the state; nothing is
//!   stored server side. One browser runs one web login at a time: starting another replaces
//!   the cookie, and the first one's callback is refused ("start again").

use std::fmt;

use hmac::Mac;
use sha2::{Digest, Sha256};
use url::Url;

use crate::accounts::{AccountKind, AccountRefusal, AuthorizedAccounts};
use crate::identity::{Issuer, User};
use crate::links::{LinkKey, LinkKeyCache};
use crate::secrets::SecretError;
use crate::tokens::{TokenError, Tokens};
use crate::wechat::{ErrorKind, errcode};

/// A started login can come back for this long (seconds).
pub const STATE_TTL_SECS: i64 = 600;
/// WeChat's limit on `state`.
pub const MAX_STATE_LEN: usize = 128;
/// The longest return_to accepted (it travels in a cookie).
pub const MAX_RETURN_TO_LEN: usize = 2000;
/// Tags the signed text of a state (see [`LinkKey`]'s signing).
const STATE_DOMAIN: &str = "wxopen-oauth-state-v1";
/// The cookie's name on https origins: `__Host-` makes browsers insist on Secure, Path=/ and no
/// Domain, so no sibling subdomain can set or overwrite it.
pub const SECURE_COOKIE: &str = "__Host-wxopen_login";
/// The cookie's name on plain-http development origins (browsers refuse `__Host-` there).
pub const DEV_COOKIE: &str = "wxopen_login";

/// The two kinds of web login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Silent: the openid only.
    SnsapiBase,
    /// The user consents; the profile (and the unionid) through `sns/userinfo`.
    SnsapiUserinfo,
}

impl Scope {
    /// WeChat's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SnsapiBase => "snsapi_base",
            Self::SnsapiUserinfo => "snsapi_userinfo",
        }
    }

    /// The scope WeChat names `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "snsapi_base" => Some(Self::SnsapiBase),
            "snsapi_userinfo" => Some(Self::SnsapiUserinfo),
            _ => None,
        }
    }
}

// ----- return_to -----

/// `OAUTH_RETURN_TO` cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "OAUTH_RETURN_TO entry {entry:?} is not usable: {reason} (entries are https://host[:port][/path-prefix], or http:// on 127.0.0.1 or localhost)"
)]
pub struct ReturnToConfigError {
    /// The entry.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Why a return_to is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReturnToRefusal {
    /// None was given.
    #[error("return_to is required")]
    Missing,
    /// Longer than [`MAX_RETURN_TO_LEN`].
    #[error("return_to is too long")]
    TooLong,
    /// Not an absolute http(s) URL, or one with characters browsers repair in their own way
    /// (backslashes, whitespace, control characters).
    #[error("return_to must be an absolute http(s) URL")]
    Malformed,
    /// Carries a user name or password (`https://trusted@evil.example`).
    #[error("return_to must not carry a user name or password")]
    Credentials,
    /// Has a `#` part: the service puts the result there.
    #[error("return_to must not have a # part")]
    Fragment,
    /// Not on the configured list.
    #[error("return_to is not among the return addresses the platform allows")]
    NotAllowed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    origin: url::Origin,
    /// Ends with `/`; `/` allows every path.
    path_prefix: String,
}

/// The return addresses web logins may end on (`OAUTH_RETURN_TO`, comma-separated): each an
/// origin with an optional path prefix. An empty list refuses every web login.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReturnToList {
    allowed: Vec<Allowed>,
}

/// Whether `text` holds something a browser would silently repair or drop.
fn ambiguous(text: &str) -> bool {
    text.chars()
        .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
}

fn is_loopback(url: &Url) -> bool {
    matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

impl ReturnToList {
    /// Parses `OAUTH_RETURN_TO`: `https://shop.example.com, https://app.example.com/wx/`.
    /// Plain http is accepted only for loopback development origins.
    pub fn parse(text: &str) -> Result<Self, ReturnToConfigError> {
        let mut allowed = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let refuse = |reason| ReturnToConfigError {
                entry: entry.to_owned(),
                reason,
            };
            if ambiguous(entry) {
                return Err(refuse("it holds a backslash or whitespace"));
            }
            let url = Url::parse(entry).map_err(|_| refuse("it is not an absolute URL"))?;
            match url.scheme() {
                "https" => {}
                "http" if is_loopback(&url) => {}
                _ => return Err(refuse("it is not https")),
            }
            if url.host_str().is_none() {
                return Err(refuse("it has no host"));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(refuse("it carries a user name or password"));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(refuse("it has a query or # part"));
            }
            let mut path_prefix = url.path().to_owned();
            if !path_prefix.ends_with('/') {
                path_prefix.push('/');
            }
            allowed.push(Allowed {
                origin: url.origin(),
                path_prefix,
            });
        }
        Ok(Self { allowed })
    }

    /// Whether no return address is configured.
    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }

    /// `candidate` parsed, if the browser may be sent there.
    pub fn check(&self, candidate: Option<&str>) -> Result<Url, ReturnToRefusal> {
        let candidate = candidate
            .filter(|c| !c.is_empty())
            .ok_or(ReturnToRefusal::Missing)?;
        if candidate.len() > MAX_RETURN_TO_LEN {
            return Err(ReturnToRefusal::TooLong);
        }
        if ambiguous(candidate) {
            return Err(ReturnToRefusal::Malformed);
        }
        let url = Url::parse(candidate).map_err(|_| ReturnToRefusal::Malformed)?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ReturnToRefusal::Malformed);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ReturnToRefusal::Credentials);
        }
        if url.fragment().is_some() {
            return Err(ReturnToRefusal::Fragment);
        }
        // The parsed path: dot segments (also percent-encoded ones) are already resolved.
        let path = url.path();
        let origin = url.origin();
        let allowed = self.allowed.iter().any(|a| {
            a.origin == origin
                && (path.starts_with(&a.path_prefix) || format!("{path}/") == a.path_prefix)
        });
        if !allowed {
            return Err(ReturnToRefusal::NotAllowed);
        }
        Ok(url)
    }
}

// ----- the start and the state -----

/// The cookie's name for a service whose public origin is `public_base_url`.
pub fn cookie_name(public_base_url: &str) -> &'static str {
    if public_base_url.starts_with("https://") {
        SECURE_COOKIE
    } else {
        DEV_COOKIE
    }
}

/// The nonce that binds a login to its browser; never printed.
#[derive(Clone, PartialEq, Eq)]
struct Nonce(String);

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nonce(<redacted>)")
    }
}

impl Nonce {
    fn random() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        Self(hex::encode(bytes))
    }

    fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// What a web login is about: signed into its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The official account.
    pub appid: String,
    /// The kind of login.
    pub scope: Scope,
    /// Where the browser goes at the end (on the [`ReturnToList`]).
    pub return_to: Url,
}

/// A started web login: the state, the cookie to set and WeChat's page to send the browser to.
#[derive(Debug, Clone)]
pub struct Started {
    /// The `state` WeChat carries back.
    pub state: String,
    /// The `Set-Cookie` header value.
    pub set_cookie: String,
    /// WeChat's page, `#wechat_redirect` included.
    pub location: String,
    /// Unix seconds after which the callback is refused.
    pub expires_at: i64,
}

/// Where WeChat's page is and what comes back where.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// WeChat's open origin (`WECHAT_OPEN_BASE`).
    pub open_base: String,
    /// The service's public origin (`PUBLIC_BASE_URL`).
    pub public_base_url: String,
    /// The platform's appid.
    pub component_appid: String,
}

impl Endpoints {
    /// The callback WeChat sends the browser back to.
    pub fn callback(&self, appid: &str) -> String {
        format!(
            "{}/oauth/{appid}/callback",
            self.public_base_url.trim_end_matches('/')
        )
    }

    fn cookie_name(&self) -> &'static str {
        cookie_name(&self.public_base_url)
    }

    fn cookie_attributes(&self, max_age: i64) -> String {
        let secure = if self.cookie_name() == SECURE_COOKIE {
            "; Secure"
        } else {
            ""
        };
        format!("; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
    }

    /// The `Set-Cookie` value that removes the login cookie.
    pub fn clear_cookie(&self) -> String {
        format!("{}={}", self.cookie_name(), self.cookie_attributes(0))
    }
}

fn sign(key: &LinkKey, login: &Login, nonce: &Nonce, expires_at: i64) -> hmac::Hmac<Sha256> {
    key.mac_fields(
        STATE_DOMAIN,
        &[
            &login.appid,
            login.scope.as_str(),
            login.return_to.as_str(),
            &nonce.digest(),
            &expires_at.to_string(),
        ],
    )
}

/// Starts `login` at `now`: a fresh nonce, its cookie, the signed state and WeChat's page.
pub fn start(key: &LinkKey, endpoints: &Endpoints, login: &Login, now: i64) -> Started {
    let nonce = Nonce::random();
    let expires_at = now + STATE_TTL_SECS;
    let mac = sign(key, login, &nonce, expires_at).finalize().into_bytes();
    let state = format!("{expires_at}{}", hex::encode(mac));
    debug_assert!(state.len() <= MAX_STATE_LEN);
    let return_to: String =
        url::form_urlencoded::byte_serialize(login.return_to.as_str().as_bytes()).collect();
    let set_cookie = format!(
        "{}={}.{}.{return_to}{}",
        endpoints.cookie_name(),
        nonce.0,
        login.scope.as_str(),
        endpoints.cookie_attributes(STATE_TTL_SECS),
    );
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("appid", &login.appid)
        .append_pair("redirect_uri", &endpoints.callback(&login.appid))
        .append_pair("response_type", "code")
        .append_pair("scope", login.scope.as_str())
        .append_pair("state", &state)
        .append_pair("component_appid", &endpoints.component_appid)
        .finish();
    Started {
        location: format!(
            "{}/connect/oauth2/authorize?{query}#wechat_redirect",
            endpoints.open_base.trim_end_matches('/')
        ),
        state,
        set_cookie,
        expires_at,
    }
}

/// Why a callback is refused before WeChat is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateRefusal {
    /// No `state`, or not one this service makes.
    #[error("the login state is missing or malformed")]
    Malformed,
    /// No login cookie: another browser started this login (or cookies are off).
    #[error("this login was not started in this browser")]
    NoCookie,
    /// The state was not signed for this browser's login (altered, or another browser's).
    #[error("the login state does not match the login started in this browser")]
    Mismatch,
    /// Signed, but more than [`STATE_TTL_SECS`] old.
    #[error("the login has expired")]
    Expired,
}

/// The login cookie's value among the request's `Cookie` headers.
fn cookie_value<'a>(name: &str, cookie_headers: &[&'a str]) -> Option<&'a str> {
    cookie_headers
        .iter()
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Checks a callback for `appid`: `state` must have been signed, less than
/// [`STATE_TTL_SECS`] ago, for the login whose cookie this browser sent. Answers that login.
pub fn verify(
    key: &LinkKey,
    endpoints: &Endpoints,
    appid: &str,
    state: Option<&str>,
    cookie_headers: &[&str],
    now: i64,
) -> Result<Login, StateRefusal> {
    let state = state
        .filter(|s| s.len() > 64 && s.len() <= MAX_STATE_LEN)
        .ok_or(StateRefusal::Malformed)?;
    let (expires, mac) = state.split_at(state.len() - 64);
    let expires_at: i64 = expires
        .parse()
        .ok()
        .filter(|_| expires.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(StateRefusal::Malformed)?;
    let mac = hex::decode(mac).map_err(|_| StateRefusal::Malformed)?;
    let cookie =
        cookie_value(endpoints.cookie_name(), cookie_headers).ok_or(StateRefusal::NoCookie)?;
    let mut parts = cookie.splitn(3, '.');
    let (Some(nonce), Some(scope), Some(return_to)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(StateRefusal::Mismatch);
    };
    let return_to = url::form_urlencoded::parse(format!("r={return_to}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .and_then(|r| Url::parse(&r).ok())
        .ok_or(StateRefusal::Mismatch)?;
    let login = Login {
        appid: appid.to_owned(),
        scope: Scope::parse(scope).ok_or(StateRefusal::Mismatch)?,
        return_to,
    };
    sign(key, &login, &Nonce(nonce.to_owned()), expires_at)
        .verify_slice(&mac)
        .map_err(|_| StateRefusal::Mismatch)?;
    if now > expires_at {
        return Err(StateRefusal::Expired);
    }
    Ok(login)
}

/// `return_to` with the result in its `#` part (never sent to any server, so the token stays
/// out of every access log): `#session=TOKEN&expires_in=N`, or `#error=CODE`.
pub fn finish(return_to: &Url, fragment: &[(&str, &str)]) -> String {
    let mut url = return_to.clone();
    let text = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fragment)
        .finish();
    url.set_fragment(Some(&text));
    url.into()
}

// ----- the two routes -----

/// A code is at most this long (WeChat's are 32 characters).
pub const MAX_CODE_LEN: usize = 128;

/// What the web login routes need besides the tokens, the accounts and the identity issuer.
#[derive(Debug)]
pub struct WebLogin {
    /// WeChat's page and our callback.
    pub endpoints: Endpoints,
    /// Where browsers may be sent back.
    pub return_to: ReturnToList,
    /// The key states are signed with (the link key).
    pub link_key: LinkKeyCache,
}

/// Why a web login was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum WebLoginError {
    /// `scope` is neither `snsapi_base` nor `snsapi_userinfo`.
    #[error("scope must be snsapi_base or snsapi_userinfo")]
    BadScope,
    /// The return address is refused.
    #[error(transparent)]
    ReturnTo(#[from] ReturnToRefusal),
    /// The account is not one this route serves.
    #[error(transparent)]
    Account(#[from] AccountRefusal),
    /// The callback's `appid` parameter is not the account of its path.
    #[error("the callback's appid is not the account the login was started for")]
    AppidMismatch,
    /// The state does not belong to a login this browser started (login CSRF refused).
    #[error(transparent)]
    State(#[from] StateRefusal),
    /// The code cannot be one of WeChat's.
    #[error("the code must be 1 to 128 letters, digits, '-' or '_'")]
    BadCode,
    /// WeChat refused the code: 40029 (invalid, expired, another account's) or 40163 (used).
    #[error("WeChat refused the code ({errcode}): {}", if *errcode == errcode::CODE_BEEN_USED { "it has been used" } else { "it is invalid or expired" })]
    Code {
        /// WeChat's errcode.
        errcode: i64,
    },
    /// WeChat says the account no longer authorizes the platform (61003).
    #[error("WeChat says account {0} no longer authorizes the platform (61003)")]
    Withdrawn(String),
    /// WeChat failed, or the component token could not be had.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The link key or the identity key could not be read.
    #[error(transparent)]
    Key(#[from] SecretError),
}

impl WebLoginError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadScope
            | Self::ReturnTo(_)
            | Self::AppidMismatch
            | Self::State(_)
            | Self::BadCode
            | Self::Code { .. } => 400,
            Self::Account(refusal) => refusal.status(),
            Self::Withdrawn(_) => 403,
            Self::Token(_) | Self::Key(_) => 502,
        }
    }

    /// A stable, machine-readable name.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadScope => "bad_scope",
            Self::ReturnTo(_) => "bad_return_to",
            Self::Account(refusal) => refusal.code(),
            Self::AppidMismatch => "appid_mismatch",
            Self::State(StateRefusal::Expired) => "login_expired",
            Self::State(_) => "login_not_started_here",
            Self::BadCode => "bad_code",
            Self::Code { .. } => "code_refused",
            Self::Withdrawn(_) => "not_authorized",
            Self::Token(_) => "wechat_error",
            Self::Key(_) => "key_unavailable",
        }
    }

    /// WeChat's errcode, when the refusal is WeChat's.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Code { errcode } => Some(*errcode),
            Self::Withdrawn(_) => Some(errcode::UNAUTHORIZED),
            Self::Token(error) => error.errcode(),
            _ => None,
        }
    }

    /// What the page tells the user, in Chinese.
    pub fn zh(&self) -> &'static str {
        match self {
            Self::BadScope => "scope 只能是 snsapi_base 或 snsapi_userinfo。",
            Self::ReturnTo(_) => "登录完成后要返回的地址不在平台允许的范围内。",
            Self::Account(refusal) if refusal.status() == 404 => "该公众号未授权本平台。",
            Self::Account(refusal) if refusal.status() == 400 => "appid 格式不正确。",
            Self::Account(refusal) if refusal.status() == 403 => "该帐号不是已授权本平台的公众号。",
            Self::AppidMismatch => "回调中的 appid 与登录的公众号不一致。",
            Self::State(StateRefusal::Expired) => "登录已超时，请返回重新登录。",
            Self::State(_) => "此登录不是在本浏览器中发起的，请返回重新登录。",
            Self::BadCode | Self::Code { .. } => "登录凭证无效或已被使用，请返回重新登录。",
            Self::Withdrawn(_) => "该公众号已取消对本平台的授权。",
            Self::Account(_) | Self::Token(_) | Self::Key(_) => {
                "微信暂时无法完成登录，请稍后再试。"
            }
        }
    }
}

/// `GET /oauth/{appid}/authorize`: checks the scope, the return address and the account (a
/// table read, no WeChat call) and starts the login.
pub async fn authorize(
    tokens: &Tokens,
    accounts: &AuthorizedAccounts,
    web: &WebLogin,
    appid: &str,
    scope: Option<&str>,
    return_to: Option<&str>,
) -> Result<Started, WebLoginError> {
    if !crate::authorization::is_appid(appid) {
        return Err(AccountRefusal::BadAppid(appid.chars().take(40).collect()).into());
    }
    let scope = scope
        .and_then(Scope::parse)
        .ok_or(WebLoginError::BadScope)?;
    let return_to = web.return_to.check(return_to)?;
    accounts
        .check(tokens, appid, AccountKind::OfficialAccount)
        .await?;
    let key = web.link_key.keys().await?;
    let login = Login {
        appid: appid.to_owned(),
        scope,
        return_to,
    };
    Ok(start(&key, &web.endpoints, &login, tokens.now()))
}

/// What WeChat's redirect to the callback carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Callback<'a> {
    /// The code; none when the user refused.
    pub code: Option<&'a str>,
    /// The state we signed.
    pub state: Option<&'a str>,
    /// The account, as WeChat repeats it.
    pub appid: Option<&'a str>,
}

/// Where a finished web login sends the browser.
#[derive(Debug, Clone)]
pub struct Finished {
    /// `return_to#session=..&expires_in=..`, or `return_to#error=access_denied`.
    pub location: String,
    /// Whether the user was logged in (or refused).
    pub logged_in: bool,
}

/// `GET /oauth/{appid}/callback`: the state must be this browser's (else refused before any
/// WeChat call); the code is exchanged with the component token (and, for `snsapi_userinfo`,
/// the profile read for the unionid); the browser goes back with the identity token.
///
/// The user's OAuth access and refresh tokens are used for that one `sns/userinfo` call and
/// dropped: the platform makes no later call as the user, so keeping them would only keep a
/// credential to protect.
pub async fn callback(
    tokens: &Tokens,
    accounts: &AuthorizedAccounts,
    issuer: &Issuer,
    web: &WebLogin,
    appid: &str,
    callback: Callback<'_>,
    cookie_headers: &[&str],
) -> Result<Finished, WebLoginError> {
    if !crate::authorization::is_appid(appid) {
        return Err(AccountRefusal::BadAppid(appid.chars().take(40).collect()).into());
    }
    if callback.appid.is_some_and(|a| a != appid) {
        return Err(WebLoginError::AppidMismatch);
    }
    let key = web.link_key.keys().await?;
    let login = verify(
        &key,
        &web.endpoints,
        appid,
        callback.state,
        cookie_headers,
        tokens.now(),
    )?;
    // The list may have changed since the start.
    let return_to = web.return_to.check(Some(login.return_to.as_str()))?;
    let Some(code) = callback.code.filter(|c| !c.is_empty()) else {
        return Ok(Finished {
            location: finish(&return_to, &[("error", "access_denied")]),
            logged_in: false,
        });
    };
    let well_formed = code.len() <= MAX_CODE_LEN
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(WebLoginError::BadCode);
    }
    // The code is single-use: repeated only when it cannot have reached WeChat.
    let exchanged = tokens
        .with_component_token(|token| async move {
            tokens
                .retry_unsent(|| {
                    tokens
                        .wechat
                        .oauth2_access_token(token.expose(), appid, code)
                })
                .await
        })
        .await;
    let answer = match exchanged {
        Ok(answer) => answer,
        Err(TokenError::Wechat(error)) => {
            return Err(match error.errcode() {
                Some(errcode @ (errcode::INVALID_CODE | errcode::CODE_BEEN_USED)) => {
                    WebLoginError::Code { errcode }
                }
                _ if error.kind() == ErrorKind::Unauthorized => {
                    accounts.forget(appid);
                    WebLoginError::Withdrawn(appid.to_owned())
                }
                _ => WebLoginError::Token(error.into()),
            });
        }
        Err(error) => return Err(error.into()),
    };
    let mut unionid = answer.unionid.clone();
    if login.scope == Scope::SnsapiUserinfo {
        let access_token = answer.access_token.expose();
        let info = tokens
            .retry_busy(|| tokens.wechat.sns_userinfo(access_token, &answer.openid))
            .await
            .map_err(TokenError::from)?;
        unionid = info.unionid.or(unionid);
    }
    let session = issuer
        .mint(
            &User {
                appid,
                openid: &answer.openid,
                unionid: unionid.as_deref(),
            },
            tokens.now(),
        )
        .await?;
    Ok(Finished {
        location: finish(
            &return_to,
            &[
                ("session", &session.token),
                ("expires_in", &session.expires_in.to_string()),
            ],
        ),
        logged_in: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LinkKey {
        LinkKey::from_secret("0123456789abcdef0123456789abcdef").unwrap()
    }

    fn endpoints(public: &str) -> Endpoints {
        Endpoints {
            open_base: "https://open.weixin.qq.com".into(),
            public_base_url: public.into(),
            component_appid: "wxcomponent00000001".into(),
        }
    }

    fn login() -> Login {
        Login {
            appid: "wx1c4e7a9d2b5f8036".into(),
            scope: Scope::SnsapiUserinfo,
            return_to: Url::parse("https://shop.example.com/app/done?x=1").unwrap(),
        }
    }

    /// The browser's Cookie header after `set_cookie`.
    fn cookie(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_owned()
    }

    #[test]
    fn return_to_must_be_on_the_list() {
        let list = ReturnToList::parse(
            " https://shop.example.com , https://app.example.com:8443/wx,http://127.0.0.1:9000/demo/",
        )
        .unwrap();
        for ok in [
            "https://shop.example.com/",
            "https://shop.example.com",
            "https://SHOP.example.com:443/any/path?q=1",
            "https://app.example.com:8443/wx",
            "https://app.example.com:8443/wx/page",
            "http://127.0.0.1:9000/demo/web-login.html",
        ] {
            assert!(list.check(Some(ok)).is_ok(), "{ok}");
        }
        for (bad, refusal) in [
            ("", ReturnToRefusal::Missing),
            ("https://evil.example.com/", ReturnToRefusal::NotAllowed),
            ("http://shop.example.com/", ReturnToRefusal::NotAllowed),
            (
                "https://shop.example.com:8443/",
                ReturnToRefusal::NotAllowed,
            ),
            (
                "https://shop.example.com.evil.example/",
                ReturnToRefusal::NotAllowed,
            ),
            (
                "https://shop.example.com@evil.example/",
                ReturnToRefusal::Credentials,
            ),
            (
                "https://evil.example\\@shop.example.com/",
                ReturnToRefusal::Malformed,
            ),
            (
                "https://shop.example.com\\.evil.example/",
                ReturnToRefusal::Malformed,
            ),
            ("/relative/path", ReturnToRefusal::Malformed),
            ("//evil.example/", ReturnToRefusal::Malformed),
            (
                "javascript:alert(1)//shop.example.com/",
                ReturnToRefusal::Malformed,
            ),
            (
                "https://app.example.com:8443/wxother",
                ReturnToRefusal::NotAllowed,
            ),
            (
                "https://app.example.com:8443/wx/../admin",
                ReturnToRefusal::NotAllowed,
            ),
            (
                "https://app.example.com:8443/wx/%2e%2e/admin",
                ReturnToRefusal::NotAllowed,
            ),
            ("https://app.example.com/wx/", ReturnToRefusal::NotAllowed),
            ("https://shop.example.com/#x", ReturnToRefusal::Fragment),
            ("https://shop.example.com/\tx", ReturnToRefusal::Malformed),
            ("http://127.0.0.1:9000/other", ReturnToRefusal::NotAllowed),
        ] {
            assert_eq!(
                list.check(Some(bad).filter(|b| !b.is_empty())),
                Err(refusal),
                "{bad}"
            );
        }
        let long = format!("https://shop.example.com/{}", "a".repeat(MAX_RETURN_TO_LEN));
        assert_eq!(list.check(Some(&long)), Err(ReturnToRefusal::TooLong));
        for bad in [
            "http://shop.example.com",
            "https://shop.example.com/?q=1",
            "https://u@shop.example.com",
            "ftp://shop.example.com",
            "shop.example.com",
        ] {
            assert!(ReturnToList::parse(bad).is_err(), "{bad}");
        }
        assert!(ReturnToList::parse("").unwrap().is_empty());
    }

    #[test]
    fn a_state_verifies_only_with_its_browsers_cookie_until_it_expires() {
        let e = endpoints("https://auth.example.com");
        let started = start(&key(), &e, &login(), 1000);
        assert!(started.state.len() <= MAX_STATE_LEN);
        assert!(started.state.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(
            started.location.starts_with(
                "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx1c4e7a9d2b5f8036&redirect_uri=https%3A%2F%2Fauth.example.com%2Foauth%2Fwx1c4e7a9d2b5f8036%2Fcallback&response_type=code&scope=snsapi_userinfo&state="
            ) && started.location.ends_with("&component_appid=wxcomponent00000001#wechat_redirect"),
            "{}",
            started.location
        );
        assert!(started.set_cookie.starts_with("__Host-wxopen_login="));
        assert!(
            started
                .set_cookie
                .ends_with("; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure")
        );
        let jar = cookie(&started.set_cookie);
        let headers = ["other=1", jar.as_str()];
        let appid = "wx1c4e7a9d2b5f8036";
        assert_eq!(
            verify(&key(), &e, appid, Some(&started.state), &headers, 1600),
            Ok(login())
        );
        assert_eq!(
            verify(&key(), &e, appid, Some(&started.state), &headers, 1601),
            Err(StateRefusal::Expired)
        );
        // Another browser: no cookie, or its own login's cookie.
        assert_eq!(
            verify(&key(), &e, appid, Some(&started.state), &["other=1"], 1000),
            Err(StateRefusal::NoCookie)
        );
        let theirs = cookie(&start(&key(), &e, &login(), 1000).set_cookie);
        assert_eq!(
            verify(&key(), &e, appid, Some(&started.state), &[&theirs], 1000),
            Err(StateRefusal::Mismatch)
        );
        // Another appid, an altered expiry or signature, another key.
        assert_eq!(
            verify(
                &key(),
                &e,
                "wx7b9e2d4c6a8f1035",
                Some(&started.state),
                &headers,
                1000
            ),
            Err(StateRefusal::Mismatch)
        );
        let later = format!("9{}", &started.state[1..]);
        assert_eq!(
            verify(&key(), &e, appid, Some(&later), &headers, 1000),
            Err(StateRefusal::Mismatch)
        );
        let mut flipped = started.state.clone().into_bytes();
        let last = flipped.last_mut().unwrap();
        *last = if *last == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            verify(&key(), &e, appid, Some(&flipped), &headers, 1000),
            Err(StateRefusal::Mismatch)
        );
        let other = LinkKey::from_secret("another key of at least thirty-two chars").unwrap();
        assert_eq!(
            verify(&other, &e, appid, Some(&started.state), &headers, 1000),
            Err(StateRefusal::Mismatch)
        );
        // An altered cookie (its return_to or scope) breaks the signature.
        let altered = jar.replace("shop.example.com", "evil.example.com");
        assert_eq!(
            verify(&key(), &e, appid, Some(&started.state), &[&altered], 1000),
            Err(StateRefusal::Mismatch)
        );
        let altered = jar.replace("snsapi_userinfo", "snsapi_base");
        assert_eq!(
            verify(&key(), &e, appid, Some(&started.state), &[&altered], 1000),
            Err(StateRefusal::Mismatch)
        );
        for bad in [None, Some(""), Some("12"), Some(&"a".repeat(129)[..])] {
            assert_eq!(
                verify(&key(), &e, appid, bad, &headers, 1000),
                Err(StateRefusal::Malformed)
            );
        }
    }

    #[test]
    fn development_origins_get_a_plain_cookie_and_results_go_in_the_fragment() {
        let e = endpoints("http://127.0.0.1:9000");
        let started = start(&key(), &e, &login(), 0);
        assert!(started.set_cookie.starts_with("wxopen_login="));
        assert!(!started.set_cookie.contains("Secure"));
        assert_eq!(
            e.clear_cookie(),
            "wxopen_login=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            finish(
                &login().return_to,
                &[("session", "a.b-c_d"), ("expires_in", "7200")]
            ),
            "https://shop.example.com/app/done?x=1#session=a.b-c_d&expires_in=7200"
        );
        assert_eq!(
            finish(&login().return_to, &[("error", "access_denied")]),
            "https://shop.example.com/app/done?x=1#error=access_denied"
        );
        assert!(!format!("{:?}", Nonce::random()).contains(|c: char| c.is_ascii_digit()));
    }
}
