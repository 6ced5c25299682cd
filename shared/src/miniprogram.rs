//! Mini program login on behalf of authorized mini programs: a user's `wx.login` code is
//! exchanged at WeChat (`sns/component/jscode2session`, with the component token) for the
//! user's openid and unionid, answered with the platform's identity token.
//!
//! The `session_key` WeChat returns with them is never stored, sent or logged: this service
//! offers nothing that needs it, so it lives only in the parsed answer ([`SessionKey`], wiped
//! when dropped) until the identity token is minted.
//!
//! [`SessionKey`]: crate::wechat::SessionKey

use crate::accounts::{AccountKind, AccountRefusal, AuthorizedAccounts};
use crate::identity::{Issuer, Session, User};
use crate::secrets::SecretError;
use crate::tokens::{TokenError, Tokens};
use crate::wechat::{ErrorKind, WechatError, errcode};

/// The body is at most this long.
pub const MAX_BODY_BYTES: usize = 1024;
/// A code is at most this long (WeChat's are 32 characters).
pub const MAX_CODE_LEN: usize = 128;

/// The request's body: `{"code": "..."}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    code: String,
}

/// Why a login was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The body is not `{"code": "..."}`.
    #[error("the body must be the JSON object {{\"code\": \"...\"}} of at most 1024 bytes: {0}")]
    BadBody(&'static str),
    /// The code cannot be one of WeChat's.
    #[error("the code must be 1 to 128 letters, digits, '-' or '_'")]
    BadCode,
    /// The account is not one this route serves.
    #[error(transparent)]
    Account(#[from] AccountRefusal),
    /// WeChat refused the code: 40029 (invalid, expired, another account's) or 40163 (used).
    #[error("WeChat refused the code: {}", code_refusal(*errcode))]
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
    /// The identity key could not be read.
    #[error(transparent)]
    Key(#[from] SecretError),
}

fn code_refusal(errcode: i64) -> &'static str {
    match errcode {
        errcode::CODE_BEEN_USED => "the code has been used (40163)",
        _ => "the code is invalid or expired (40029)",
    }
}

impl LoginError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadBody(_) | Self::BadCode | Self::Code { .. } => 400,
            Self::Account(refusal) => refusal.status(),
            Self::Withdrawn(_) => 403,
            Self::Token(_) | Self::Key(_) => 502,
        }
    }

    /// A stable, machine-readable name.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadBody(_) => "bad_body",
            Self::BadCode => "bad_code",
            Self::Account(refusal) => refusal.code(),
            Self::Code { .. } => "code_refused",
            Self::Withdrawn(_) => "not_authorized",
            Self::Token(_) => "wechat_error",
            Self::Key(_) => "identity_key_unavailable",
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
}

/// The code in a login request's body, checked before anything is called.
pub fn login_code(body: &[u8]) -> Result<String, LoginError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(LoginError::BadBody("it is too long"));
    }
    let body: LoginBody = serde_json::from_slice(body).map_err(|error| {
        LoginError::BadBody(match error.classify() {
            serde_json::error::Category::Data => "it must have exactly one field, code, a string",
            _ => "it is not JSON",
        })
    })?;
    let well_formed = (1..=MAX_CODE_LEN).contains(&body.code.len())
        && body
            .code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(LoginError::BadCode);
    }
    Ok(body.code)
}

/// What a login answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The user's openid under the mini program.
    pub openid: String,
    /// The user's unionid, when WeChat gave one.
    pub unionid: Option<String>,
    /// The identity token.
    pub session: Session,
}

/// Logs a mini program user in: `appid` must be an authorized mini program, `body` a
/// well-formed `{"code"}` (both checked before any call to WeChat).
pub async fn login(
    tokens: &Tokens,
    accounts: &AuthorizedAccounts,
    issuer: &Issuer,
    appid: &str,
    body: &[u8],
) -> Result<Login, LoginError> {
    let code = login_code(body)?;
    accounts
        .check(tokens, appid, AccountKind::MiniProgram)
        .await?;
    let code = code.as_str();
    // The code is single-use: repeated only when it cannot have reached WeChat.
    let answer = tokens
        .with_component_token(|token| async move {
            tokens
                .retry_unsent(|| tokens.wechat.jscode2session(token.expose(), appid, code))
                .await
        })
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(TokenError::Wechat(error)) => return Err(refusal(accounts, appid, error)),
        Err(error) => return Err(error.into()),
    };
    let session = issuer
        .mint(
            &User {
                appid,
                openid: &answer.openid,
                unionid: answer.unionid.as_deref(),
            },
            tokens.now(),
        )
        .await?;
    // The session_key is wiped here, with the rest of WeChat's answer.
    Ok(Login {
        openid: answer.openid.clone(),
        unionid: answer.unionid.clone(),
        session,
    })
}

fn refusal(accounts: &AuthorizedAccounts, appid: &str, error: WechatError) -> LoginError {
    match error.errcode() {
        Some(errcode @ (errcode::INVALID_CODE | errcode::CODE_BEEN_USED)) => {
            LoginError::Code { errcode }
        }
        _ if error.kind() == ErrorKind::Unauthorized => {
            accounts.forget(appid);
            LoginError::Withdrawn(appid.to_owned())
        }
        _ => LoginError::Token(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_small_code_object_is_taken() {
        assert_eq!(login_code(br#"{"code": "0a1B-c_9"}"#).unwrap(), "0a1B-c_9");
        for (body, code) in [
            (&br#"{"code": ""}"#[..], "bad_code"),
            (br#"{"code": "a b"}"#, "bad_code"),
            (br#"{"code": "a&appid=wx1"}"#, "bad_code"),
            (br#"{"code": 5}"#, "bad_body"),
            (br#"{"code": "a", "appid": "wx1"}"#, "bad_body"),
            (br#"{}"#, "bad_body"),
            (b"code=abc", "bad_body"),
            (b"", "bad_body"),
        ] {
            let error = login_code(body).unwrap_err();
            assert_eq!((error.code(), error.status()), (code, 400), "{body:?}");
        }
        let long = format!(r#"{{"code": "{}"}}"#, "a".repeat(MAX_CODE_LEN + 1));
        assert_eq!(login_code(long.as_bytes()).unwrap_err().code(), "bad_code");
        let huge = format!(
            r#"{{"code": "a", "pad": "{}"}}"#,
            " ".repeat(MAX_BODY_BYTES)
        );
        assert!(matches!(
            login_code(huge.as_bytes()),
            Err(LoginError::BadBody("it is too long"))
        ));
    }
}
