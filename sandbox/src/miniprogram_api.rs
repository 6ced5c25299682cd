//! `GET /sns/component/jscode2session`: mini program login through the platform (小程序登录).
//! A mini program's `wx.login` gives its page a code ([`Sandbox::login_code`] plays it); the
//! platform exchanges it with its component token for the user's `openid`, `session_key` and,
//! when the account is bound to an open platform account, `unionid` ([`crate::users`]).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::accounts::AccountKind;
use super::control::ControlError;
use super::errors::WxError;
use super::user_codes::{CodeKind, UserCode};
use super::{Sandbox, SandboxError, Shared, users};

/// The name calls and faults use for this API.
pub const API: &str = "jscode2session";

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sns/component/jscode2session", get(jscode2session))
        .route("/sandbox/miniprogram/login-code", post(control_login_code))
}

/// jscode2session's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionAnswer {
    pub openid: String,
    pub session_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
}

async fn jscode2session(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let query = super::query_params(query);
    shared.record_call(API, query.get("appid").map(String::as_str));
    let late = match shared.injected(API).await {
        Ok(late) => late,
        Err(answer) => return answer,
    };
    let answer = login(&shared, &query);
    if let Some(late) = late {
        tokio::time::sleep(late).await;
    }
    // The outcome only: the code and the session_key are credentials.
    match answer {
        Ok(answer) => {
            tracing::info!(api = API, errcode = 0, "mini program login");
            Json(answer).into_response()
        }
        Err(error) => {
            tracing::info!(api = API, errcode = error.errcode(), errmsg = %error, "mini program login");
            Json(error.body()).into_response()
        }
    }
}

/// The checks in WeChat's order: the component token (as the gateway does), the component,
/// the account and its authorization, then the code.
fn login(
    shared: &Shared,
    query: &std::collections::HashMap<String, String>,
) -> Result<SessionAnswer, WxError> {
    let param = |name: &str| {
        query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let now = shared.now();
    let mut state = shared.state();
    state.check_component_token(param("component_access_token"), now)?;
    match param("component_appid") {
        None => return Err(WxError::AppidMissing),
        Some(c) if c != shared.config.component_appid => return Err(WxError::InvalidAppid),
        Some(_) => {}
    }
    let appid = param("appid").ok_or(WxError::AppidMissing)?;
    if state
        .account(appid)
        .is_none_or(|a| a.kind != AccountKind::MiniProgram)
    {
        return Err(WxError::InvalidAppid);
    }
    if !state.is_authorized(appid) {
        return Err(WxError::NotAuthorized);
    }
    if param("grant_type") != Some("authorization_code") {
        return Err(WxError::GrantTypeInvalid);
    }
    let code = param("js_code").ok_or(WxError::CodeMissing)?;
    let issued = state
        .user_codes()
        .redeem(code, appid, CodeKind::Login, now)?;
    let session_key = session_key();
    state.set_session_key(appid, &issued.user, &session_key);
    drop(state);
    Ok(SessionAnswer {
        openid: users::openid(appid, &issued.user),
        session_key,
        unionid: shared.users().unionid_for(appid, &issued.user),
    })
}

/// 16 random bytes in base64, as WeChat's session keys are (an AES-128 key).
fn session_key() -> String {
    let mut key = [0u8; 16];
    getrandom::fill(&mut key).expect("the OS random source is available");
    base64::engine::general_purpose::STANDARD.encode(key)
}

impl Shared {
    /// A code as `wx.login` gives it to `user` in mini program `appid`.
    fn login_code(&self, appid: &str, user: &str) -> String {
        let now = self.now();
        let mut state = self.state();
        let expires_at = now + state.rules().user_code_ttl;
        state.user_codes().issue(UserCode {
            appid: appid.to_owned(),
            user: user.to_owned(),
            kind: CodeKind::Login,
            scope: None,
            expires_at,
        })
    }
}

impl Sandbox {
    /// The code `wx.login` gives `user` in mini program `appid`: jscode2session accepts it once,
    /// within `user_code_ttl` (5 minutes). Any appid gets one; jscode2session refuses those that
    /// are not mini programs authorized to the platform.
    pub fn login_code(&self, appid: &str, user: &str) -> String {
        self.shared.login_code(appid, user)
    }

    /// The session_key jscode2session gave last for `user` in `appid`, if any (for checks that
    /// it never shows where it should not).
    pub fn session_key(&self, appid: &str, user: &str) -> Option<String> {
        self.shared
            .state()
            .session_key(appid, user)
            .map(str::to_owned)
    }
}

/// `POST /sandbox/miniprogram/login-code`.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoginCodeRequest {
    pub appid: String,
    /// Defaults to [`users::DEFAULT_USER`].
    #[serde(default)]
    pub user: Option<String>,
}

/// The code, and the identities jscode2session will give for it.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoginCodeAnswer {
    pub code: String,
    pub openid: String,
    /// Absent when the account is not bound to the open platform account.
    pub unionid: Option<String>,
}

async fn control_login_code(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<Json<LoginCodeAnswer>, ControlError> {
    let request: LoginCodeRequest =
        serde_json::from_slice(&bytes).map_err(|e| ControlError::Body(e.to_string()))?;
    if shared.state().account(&request.appid).is_none() {
        return Err(SandboxError::UnknownAccount(request.appid).into());
    }
    let user = request.user.as_deref().unwrap_or(users::DEFAULT_USER);
    Ok(Json(LoginCodeAnswer {
        code: shared.login_code(&request.appid, user),
        openid: users::openid(&request.appid, user),
        unionid: shared.users().unionid_for(&request.appid, user),
    }))
}
