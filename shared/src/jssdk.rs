//! JS-SDK configuration (`wx.config`) for authorized official accounts' web pages: the page's
//! URL, a fresh nonce and timestamp, signed with the account's JS-SDK ticket (jsapi_ticket,
//! kept in the store under a lease: [`Tokens::jsapi_ticket`]).
//!
//! Only pages on the configured origins (`JSSDK_ORIGINS`) are signed: a signature is what lets a
//! page use the account's JS-SDK, so anyone else's page is refused before anything is read.

use serde::Serialize;
use sha1::{Digest, Sha1};

use crate::accounts::{AccountKind, AccountRefusal, AuthorizedAccounts};
use crate::tokens::{TokenError, Tokens};

/// A page URL is at most this long.
pub const MAX_URL_LEN: usize = 2048;

/// Why a configuration was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum JssdkError {
    /// No `url` was given.
    #[error("the url parameter is required: the page's location.href")]
    MissingUrl,
    /// The URL cannot be a page's `location.href`.
    #[error("the url must be the page's absolute http(s) location.href: {0}")]
    BadUrl(&'static str),
    /// The page is not on a configured origin.
    #[error("pages on {0} are not configured for the JS-SDK (JSSDK_ORIGINS)")]
    OriginNotAllowed(String),
    /// The account is not one this route serves.
    #[error(transparent)]
    Account(#[from] AccountRefusal),
    /// WeChat failed the last getticket and no valid ticket is stored; the next attempt waits
    /// for the backoff (seconds).
    #[error(
        "the JS-SDK ticket could not be fetched and none is valid; next attempt in {retry_in} s"
    )]
    TicketBackoff {
        /// Seconds until the next attempt.
        retry_in: i64,
    },
    /// The ticket could not be had (WeChat failed, or the store).
    #[error(transparent)]
    Ticket(TokenError),
}

impl From<TokenError> for JssdkError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::ComponentTokenBackoff { retry_in } => Self::TicketBackoff { retry_in },
            // The account withdrew since the check was cached: its token is gone.
            TokenError::NotAuthorized { appid, status } => {
                Self::Account(AccountRefusal::NotAuthorized { appid, status })
            }
            TokenError::UnknownAuthorizer(appid) => Self::Account(AccountRefusal::Unknown(appid)),
            error => Self::Ticket(error),
        }
    }
}

impl JssdkError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingUrl | Self::BadUrl(_) | Self::OriginNotAllowed(_) => 400,
            Self::Account(refusal) => refusal.status(),
            Self::TicketBackoff { .. } | Self::Ticket(_) => 502,
        }
    }

    /// A stable, machine-readable name.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingUrl | Self::BadUrl(_) => "bad_url",
            Self::OriginNotAllowed(_) => "origin_not_allowed",
            Self::Account(refusal) => refusal.code(),
            Self::TicketBackoff { .. } | Self::Ticket(_) => "wechat_error",
        }
    }
}

/// What `wx.config` takes besides `debug` and `jsApiList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsConfig {
    /// The official account's appid.
    pub app_id: String,
    /// Unix seconds.
    pub timestamp: i64,
    /// A random string.
    pub nonce_str: String,
    /// `sha1(jsapi_ticket=..&noncestr=..&timestamp=..&url=..)`, lowercase hex.
    pub signature: String,
}

/// The URL to sign for `url` (the page's `location.href`): without its fragment, otherwise
/// exactly as given, once it is an absolute http(s) URL on one of `origins`.
pub fn page_url<'a>(url: Option<&'a str>, origins: &[String]) -> Result<&'a str, JssdkError> {
    let url = url.ok_or(JssdkError::MissingUrl)?;
    if url.len() > MAX_URL_LEN {
        return Err(JssdkError::BadUrl("it is longer than 2048 characters"));
    }
    // location.href is ASCII (browsers percent-encode the rest), with no spaces.
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(JssdkError::BadUrl(
            "it has spaces, control or non-ASCII characters",
        ));
    }
    let page = url.split('#').next().unwrap_or_default();
    let parsed = url::Url::parse(page).map_err(|_| JssdkError::BadUrl("it is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(JssdkError::BadUrl("it is not an http(s) URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(JssdkError::BadUrl("it carries credentials"));
    }
    let origin = parsed.origin().ascii_serialization();
    if !origins.contains(&origin) {
        return Err(JssdkError::OriginNotAllowed(origin));
    }
    Ok(page)
}

/// WeChat's JS-SDK signature: SHA-1 of the four fields in this order, lowercase hex.
pub fn signature(ticket: &str, nonce_str: &str, timestamp: i64, url: &str) -> String {
    let text =
        format!("jsapi_ticket={ticket}&noncestr={nonce_str}&timestamp={timestamp}&url={url}");
    hex::encode(Sha1::digest(text.as_bytes()))
}

/// The `wx.config` parameters for the page at `url` of the official account `appid`.
pub async fn config(
    tokens: &Tokens,
    accounts: &AuthorizedAccounts,
    origins: &[String],
    appid: &str,
    url: Option<&str>,
) -> Result<JsConfig, JssdkError> {
    let url = page_url(url, origins)?;
    accounts
        .check(tokens, appid, AccountKind::OfficialAccount)
        .await?;
    let ticket = tokens.jsapi_ticket(appid).await.map_err(|error| {
        let error = JssdkError::from(error);
        if matches!(error, JssdkError::Account(_)) {
            accounts.forget(appid);
        }
        error
    })?;
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).expect("the OS random source is available");
    let nonce_str = hex::encode(nonce);
    let timestamp = tokens.now();
    Ok(JsConfig {
        app_id: appid.to_owned(),
        signature: signature(ticket.token.expose(), &nonce_str, timestamp, url),
        timestamp,
        nonce_str,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_wechats() {
        // The example of WeChat's JS-SDK documentation (附录1).
        assert_eq!(
            signature(
                "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
                "Wm3WZYTPz0wzccnW",
                1414587457,
                "http://mp.weixin.qq.com?params=value",
            ),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
    }

    #[test]
    fn only_pages_on_the_configured_origins_are_signed() {
        let origins = vec!["https://shop.example.com".to_owned()];
        assert_eq!(
            page_url(
                Some("https://shop.example.com/a/b?x=1&y=%E4#frag#more"),
                &origins
            )
            .unwrap(),
            "https://shop.example.com/a/b?x=1&y=%E4"
        );
        assert_eq!(
            page_url(Some("https://SHOP.example.com:443/"), &origins).unwrap(),
            "https://SHOP.example.com:443/"
        );
        for (url, code) in [
            (None, "bad_url"),
            (Some("/a/b"), "bad_url"),
            (Some("shop.example.com/a"), "bad_url"),
            (Some("ftp://shop.example.com/a"), "bad_url"),
            (Some("https://shop.example.com/a b"), "bad_url"),
            (Some("https://user:pw@shop.example.com/"), "bad_url"),
            (
                Some("https://shop.example.com.evil.com/"),
                "origin_not_allowed",
            ),
            (Some("http://shop.example.com/"), "origin_not_allowed"),
            (Some("https://shop.example.com:8443/"), "origin_not_allowed"),
        ] {
            let error = page_url(url, &origins).unwrap_err();
            assert_eq!((error.code(), error.status()), (code, 400), "{url:?}");
        }
        let long = format!("https://shop.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(
            page_url(Some(&long), &origins).unwrap_err().code(),
            "bad_url"
        );
        assert!(page_url(Some("https://shop.example.com/"), &[]).is_err());
    }
}
