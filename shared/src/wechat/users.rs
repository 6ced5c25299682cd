//! WeChat's APIs for authorized accounts' users, called on the accounts' behalf: a mini
//! program's `wx.login` code (jscode2session, with the component token) and the JS-SDK ticket
//! (getticket, with the account's access token).

use std::fmt;

use serde::Deserialize;
use zeroize::Zeroize;

use super::{WechatClient, WechatError};

/// A mini program user's `session_key`: what would decrypt the user's data (`wx.getUserInfo`,
/// the phone number). This service offers nothing that needs it, so it is never stored, sent
/// or printed: it lives in memory while the answer is read and is wiped when dropped.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct SessionKey(String);

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

impl Drop for SessionKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The answer of jscode2session.
#[derive(Debug, Deserialize)]
pub struct Jscode2Session {
    /// The user's openid under the mini program.
    pub openid: String,
    /// The user's unionid, when the mini program is bound to an open platform account.
    #[serde(default)]
    pub unionid: Option<String>,
    /// Never used; wiped when the answer is dropped.
    pub session_key: SessionKey,
}

/// The answer of getticket (`type=jsapi`).
#[derive(Debug, Deserialize)]
pub struct JsapiTicket {
    /// The ticket `wx.config` signatures are made with.
    pub ticket: super::Secret,
    /// Its lifetime in seconds.
    pub expires_in: i64,
}

/// The answer of `sns/oauth2/component/access_token`. The user's tokens serve one
/// `sns/userinfo` call at most and are never stored or printed.
#[derive(Debug, Deserialize)]
pub struct OAuthAccessToken {
    /// The user's access token (for `sns/userinfo`).
    pub access_token: super::Secret,
    /// Its lifetime in seconds.
    pub expires_in: i64,
    /// The user's refresh token: never used.
    pub refresh_token: super::Secret,
    /// The user's openid under the official account.
    pub openid: String,
    /// The scope the user granted.
    pub scope: String,
    /// The unionid, when WeChat gives it here (it does for snsapi_userinfo on some versions).
    #[serde(default)]
    pub unionid: Option<String>,
}

/// What this service reads of `sns/userinfo`'s answer (the profile itself is not passed on).
#[derive(Debug, Deserialize)]
pub struct SnsUserInfo {
    /// The user's openid.
    pub openid: String,
    /// The user's unionid, when the account is bound to an open platform account.
    #[serde(default)]
    pub unionid: Option<String>,
}

impl WechatClient {
    /// `sns/oauth2/component/access_token`: a web login's code exchanged on behalf of `appid`,
    /// with the component token. The code is single-use.
    pub async fn oauth2_access_token(
        &self,
        component_token: &str,
        appid: &str,
        code: &str,
    ) -> Result<OAuthAccessToken, WechatError> {
        self.get_from(
            "sns/oauth2/component/access_token",
            "oauth2_access_token",
            &[
                ("appid", appid),
                ("code", code),
                ("grant_type", "authorization_code"),
                ("component_appid", &self.component_appid),
                ("component_access_token", component_token),
            ],
        )
        .await
    }

    /// `sns/userinfo`: the profile (and unionid) of a web login of scope snsapi_userinfo, with
    /// the user's access token.
    pub async fn sns_userinfo(
        &self,
        user_access_token: &str,
        openid: &str,
    ) -> Result<SnsUserInfo, WechatError> {
        self.get_from(
            "sns/userinfo",
            "userinfo",
            &[
                ("access_token", user_access_token),
                ("openid", openid),
                ("lang", "zh_CN"),
            ],
        )
        .await
    }

    /// `sns/component/jscode2session`: a mini program user's identity for a `wx.login` code,
    /// on behalf of `appid`, with the component token. The code is single-use.
    pub async fn jscode2session(
        &self,
        component_token: &str,
        appid: &str,
        js_code: &str,
    ) -> Result<Jscode2Session, WechatError> {
        self.get_from(
            "sns/component/jscode2session",
            "jscode2session",
            &[
                ("appid", appid),
                ("js_code", js_code),
                ("grant_type", "authorization_code"),
                ("component_appid", &self.component_appid),
                ("component_access_token", component_token),
            ],
        )
        .await
    }

    /// `cgi-bin/ticket/getticket?type=jsapi`: a new JS-SDK ticket for the account whose access
    /// token is given. Each call issues a new ticket.
    pub async fn jsapi_ticket(
        &self,
        authorizer_access_token: &str,
    ) -> Result<JsapiTicket, WechatError> {
        self.get_from(
            "cgi-bin/ticket/getticket",
            "getticket",
            &[("access_token", authorizer_access_token), ("type", "jsapi")],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_are_never_shown() {
        let answer: Jscode2Session = serde_json::from_str(
            r#"{"openid": "o1", "session_key": "tiihtNczf5v6AKRyjwEUhQ==", "unionid": "u1"}"#,
        )
        .unwrap();
        assert_eq!(answer.unionid.as_deref(), Some("u1"));
        assert!(!format!("{answer:?}").contains("tiihtNczf5v6AKRyjwEUhQ"));
        let ticket: JsapiTicket = serde_json::from_str(
            r#"{"errcode": 0, "errmsg": "ok", "ticket": "bxLdikRXVbTPdHSM05e5u5sUoXNKd8", "expires_in": 7200}"#,
        )
        .unwrap();
        assert!(!format!("{ticket:?}").contains("bxLdik"));
    }
}
