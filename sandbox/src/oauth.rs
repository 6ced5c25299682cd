//! Web login on behalf of an official account (代公众号发起网页授权): the page a user's browser is
//! sent to (`/connect/oauth2/authorize` on the open origin), the exchange of its code with the
//! **component** token (`/sns/oauth2/component/access_token`) and the profile (`/sns/userinfo`).
//!
//! `snsapi_base` logs the user in at once; `snsapi_userinfo` shows a consent page where the
//! simulated user (a name, [`DEFAULT_USER`] by default) allows or refuses. The browser's user
//! is remembered in a cookie of the sandbox's own ([`USER_COOKIE`]), as WeChat knows who is
//! logged in to the phone. Codes are single use and live `user_code_ttl` (5 minutes), like
//! wx.login's ([`crate::user_codes`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::Shared;
use super::accounts::AccountKind;
use super::errors::WxError;
use super::jssdk::on_web_domains;
use super::pages::{escape, first, params};
use super::random;
use super::user_codes::{CodeKind, UserCode};
use super::users::{self, DEFAULT_USER};

/// The page, on WeChat's open origin (`open.weixin.qq.com`).
pub const PAGE_PATH: &str = "/connect/oauth2/authorize";
/// The code exchange; also the name its counter and faults use is [`ACCESS_TOKEN_API`].
pub const ACCESS_TOKEN_PATH: &str = "/sns/oauth2/component/access_token";
pub const USERINFO_PATH: &str = "/sns/userinfo";
/// Counter and fault name of the code exchange.
pub const ACCESS_TOKEN_API: &str = "oauth2_access_token";
/// Counter and fault name of `sns/userinfo`.
pub const USERINFO_API: &str = "userinfo";
/// The user's access token lives this long (seconds).
pub const ACCESS_TOKEN_TTL: i64 = 7200;
/// WeChat's limit on `state`.
pub const MAX_STATE_LEN: usize = 128;
/// The sandbox's cookie naming the browser's WeChat user.
pub const USER_COOKIE: &str = "sandbox_wechat_user";
/// The longest user name the page accepts.
const MAX_USER_LEN: usize = 64;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(PAGE_PATH, get(page).post(decide))
        .route(ACCESS_TOKEN_PATH, get(access_token))
        .route(USERINFO_PATH, get(userinfo))
}

/// The two scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    SnsapiBase,
    SnsapiUserinfo,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SnsapiBase => "snsapi_base",
            Self::SnsapiUserinfo => "snsapi_userinfo",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "snsapi_base" => Some(Self::SnsapiBase),
            "snsapi_userinfo" => Some(Self::SnsapiUserinfo),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct UserToken {
    appid: String,
    user: String,
    scope: Scope,
    expires_at: i64,
}

/// The user access tokens handed out; Debug shows counts only. (The codes are kept with
/// wx.login's, in [`crate::user_codes`].)
#[derive(Default)]
pub struct Logins {
    tokens: HashMap<String, UserToken>,
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logins")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

/// A code for `user`'s web login to `appid`.
fn issue_code(shared: &Shared, appid: &str, user: &str, scope: Scope) -> String {
    let now = shared.now();
    let mut state = shared.state();
    let expires_at = now + state.rules().user_code_ttl;
    state.user_codes().issue(UserCode {
        appid: appid.to_owned(),
        user: user.to_owned(),
        kind: CodeKind::OAuth,
        scope: Some(scope),
        expires_at,
    })
}

/// The exchange: the code once, before it expires, for the account it was issued for.
fn exchange(shared: &Shared, appid: &str, code: &str) -> Result<AccessTokenAnswer, WxError> {
    let now = shared.now();
    let issued = shared
        .state()
        .user_codes()
        .redeem(code, appid, CodeKind::OAuth, now)?;
    let scope = issued.scope.expect("web login codes carry their scope");
    Ok(shared.oauth().issue_token(appid, &issued.user, scope, now))
}

impl Logins {
    fn issue_token(
        &mut self,
        appid: &str,
        user: &str,
        scope: Scope,
        now: i64,
    ) -> AccessTokenAnswer {
        let user = user.to_owned();
        let access_token = format!("89_{}", random::string(120));
        self.tokens.insert(
            access_token.clone(),
            UserToken {
                appid: appid.to_owned(),
                user: user.clone(),
                scope,
                expires_at: now + ACCESS_TOKEN_TTL,
            },
        );
        AccessTokenAnswer {
            access_token,
            expires_in: ACCESS_TOKEN_TTL,
            refresh_token: format!("89_{}", random::string(120)),
            openid: users::openid(appid, &user),
            scope: scope.as_str().to_owned(),
        }
    }

    fn token(&self, token: &str, now: i64) -> Result<&UserToken, WxError> {
        let issued = self.tokens.get(token).ok_or(WxError::InvalidCredential)?;
        if now >= issued.expires_at {
            return Err(WxError::AccessTokenExpired);
        }
        Ok(issued)
    }
}

// ----- the page -----

/// Why the page refuses; the text is what the user sees, with the number WeChat shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthPageError {
    #[error("参数错误：缺少 {0}")]
    Missing(&'static str),
    #[error("参数错误：component_appid 不是本第三方平台")]
    WrongComponent,
    #[error("10016 不支持的 appid，请使用公众号的 appid")]
    NotOfficialAccount,
    #[error("10015 公众号未授权第三方平台，请检查授权状态")]
    NotAuthorized,
    #[error("10003 redirect_uri 域名与后台配置不一致")]
    RedirectDomain,
    #[error("10005 scope 参数错误或没有 scope 权限")]
    Scope,
    #[error("参数错误：response_type 只能是 code")]
    ResponseType,
    #[error("参数错误：state 最长 128 字节，只能含 a-z、A-Z、0-9")]
    State,
    #[error("请填写用户名（最长 64 字符）")]
    User,
    #[error("请选择允许或拒绝")]
    Decision,
}

impl IntoResponse for OAuthPageError {
    fn into_response(self) -> Response {
        let body = format!(
            "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <title>微信网页授权</title></head><body><h1>授权出错 Authorization error</h1>\
             <p class=\"error\">{}</p></body></html>",
            escape(&self.to_string())
        );
        (StatusCode::BAD_REQUEST, Html(body)).into_response()
    }
}

/// A page request's parameters, checked.
struct Request {
    appid: String,
    redirect_uri: url::Url,
    scope: Scope,
    state: String,
}

fn check(
    shared: &Shared,
    params: &HashMap<String, Vec<String>>,
) -> Result<Request, OAuthPageError> {
    let appid = first(params, "appid").ok_or(OAuthPageError::Missing("appid"))?;
    let component_appid =
        first(params, "component_appid").ok_or(OAuthPageError::Missing("component_appid"))?;
    if component_appid != shared.config.component_appid {
        return Err(OAuthPageError::WrongComponent);
    }
    {
        let state = shared.state();
        match state.account(appid) {
            Some(account) if account.kind == AccountKind::OfficialAccount => {}
            _ => return Err(OAuthPageError::NotOfficialAccount),
        }
        if !state.is_authorized(appid) {
            return Err(OAuthPageError::NotAuthorized);
        }
    }
    let raw = first(params, "redirect_uri").ok_or(OAuthPageError::Missing("redirect_uri"))?;
    let redirect_uri = url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .filter(|u| on_web_domains(&shared.config.web_domains, u))
        .ok_or(OAuthPageError::RedirectDomain)?;
    if first(params, "response_type") != Some("code") {
        return Err(OAuthPageError::ResponseType);
    }
    let scope = first(params, "scope")
        .and_then(Scope::parse)
        .ok_or(OAuthPageError::Scope)?;
    let state = first(params, "state").unwrap_or_default();
    if state.len() > MAX_STATE_LEN || !state.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(OAuthPageError::State);
    }
    Ok(Request {
        appid: appid.to_owned(),
        redirect_uri,
        scope,
        state: state.to_owned(),
    })
}

/// The browser's WeChat user: the sandbox's cookie, or [`DEFAULT_USER`].
fn browser_user(headers: &HeaderMap) -> String {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == USER_COOKIE)
        .map(|(_, value)| {
            url::form_urlencoded::parse(format!("u={value}").as_bytes())
                .map(|(_, v)| v.into_owned())
                .next()
                .unwrap_or_default()
        })
        .filter(|user| valid_user(user))
        .unwrap_or_else(|| DEFAULT_USER.to_owned())
}

fn valid_user(user: &str) -> bool {
    !user.is_empty() && user.chars().count() <= MAX_USER_LEN && !user.contains(char::is_control)
}

/// Back to `redirect_uri`, its own query kept, with `code` (when allowed), `state` and `appid`.
fn back(request: &Request, code: Option<&str>, user: &str) -> Response {
    let mut location = request.redirect_uri.clone();
    {
        let mut query = location.query_pairs_mut();
        if let Some(code) = code {
            query.append_pair("code", code);
        }
        query
            .append_pair("state", &request.state)
            .append_pair("appid", &request.appid);
    }
    let cookie = format!(
        "{USER_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax",
        url::form_urlencoded::byte_serialize(user.as_bytes()).collect::<String>()
    );
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, String::from(location)),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

async fn page(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let params = params(url::form_urlencoded::parse(query.as_bytes()).into_owned());
    let request = match check(&shared, &params) {
        Ok(request) => request,
        Err(error) => {
            tracing::info!(reason = %error, "web login page refused");
            return error.into_response();
        }
    };
    let user = browser_user(&headers);
    match request.scope {
        // Silent: WeChat sends the browser straight back with a code.
        Scope::SnsapiBase => {
            let code = issue_code(&shared, &request.appid, &user, request.scope);
            tracing::info!(appid = %request.appid, scope = "snsapi_base", "web login: code issued");
            back(&request, Some(&code), &user)
        }
        Scope::SnsapiUserinfo => Html(render(&shared, &request, &user)).into_response(),
    }
}

fn render(shared: &Shared, request: &Request, user: &str) -> String {
    let nick_name = shared
        .state()
        .account(&request.appid)
        .map(|a| a.info.nick_name.clone())
        .unwrap_or_default();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>微信网页授权</title></head><body><h1>微信网页授权 WeChat login</h1>\
         <p>公众号「{name}」申请获得以下权限：获得你的公开信息（昵称、头像等）。</p>\
         <p lang=\"en\">The official account “{name}” asks for your public profile (nickname, avatar).</p>\
         <form method=\"post\" action=\"{PAGE_PATH}\">",
        name = escape(&nick_name),
    );
    for (name, value) in [
        ("appid", request.appid.as_str()),
        ("redirect_uri", request.redirect_uri.as_str()),
        ("response_type", "code"),
        ("scope", request.scope.as_str()),
        ("state", request.state.as_str()),
        ("component_appid", shared.config.component_appid.as_str()),
    ] {
        let _ = write!(
            html,
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape(value)
        );
    }
    let _ = write!(
        html,
        "<p><label>微信用户 WeChat user <input type=\"text\" name=\"user\" value=\"{}\"></label></p>\
         <button type=\"submit\" name=\"decision\" value=\"allow\">允许 Allow</button> \
         <button type=\"submit\" name=\"decision\" value=\"refuse\">拒绝 Refuse</button>\
         </form></body></html>",
        escape(user)
    );
    html
}

/// The user's answer on the consent page: the page's parameters again, `user` and `decision`.
async fn decide(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let params = params(url::form_urlencoded::parse(&body).into_owned());
    let decided = (|| {
        let request = check(&shared, &params)?;
        if request.scope != Scope::SnsapiUserinfo {
            return Err(OAuthPageError::Scope);
        }
        let user = first(&params, "user")
            .map(str::trim)
            .filter(|u| valid_user(u))
            .ok_or(OAuthPageError::User)?
            .to_owned();
        let allow = match first(&params, "decision") {
            Some("allow") => true,
            Some("refuse") => false,
            _ => return Err(OAuthPageError::Decision),
        };
        Ok((request, user, allow))
    })();
    match decided {
        Ok((request, user, true)) => {
            let code = issue_code(&shared, &request.appid, &user, request.scope);
            tracing::info!(appid = %request.appid, scope = "snsapi_userinfo", "web login allowed: code issued");
            back(&request, Some(&code), &user)
        }
        Ok((request, user, false)) => {
            tracing::info!(appid = %request.appid, "web login refused by the user");
            back(&request, None, &user)
        }
        Err(error) => {
            tracing::info!(reason = %error, "web login decision refused");
            error.into_response()
        }
    }
}

// ----- the APIs -----

/// `sns/oauth2/component/access_token`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenAnswer {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub openid: String,
    pub scope: String,
}

/// `sns/userinfo`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserinfoAnswer {
    pub openid: String,
    #[serde(flatten)]
    pub profile: users::Profile,
    pub privilege: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
}

fn answer<T: Serialize>(api: &str, result: Result<T, WxError>) -> Response {
    match result {
        Ok(value) => {
            tracing::info!(api, errcode = 0, "user API call");
            Json(value).into_response()
        }
        Err(error) => {
            tracing::info!(api, errcode = error.errcode(), errmsg = %error, "user API call");
            Json(error.body()).into_response()
        }
    }
}

async fn access_token(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let query = super::query_params(query);
    let get = |name: &str| {
        query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    shared.record_call(ACCESS_TOKEN_API, get("appid"));
    let late = match shared.injected(ACCESS_TOKEN_API).await {
        Ok(late) => late,
        Err(answer) => return answer,
    };
    let result = (|| {
        shared
            .state()
            .check_component_token(get("component_access_token"), shared.now())?;
        match get("component_appid") {
            None => return Err(WxError::AppidMissing),
            Some(c) if c != shared.config.component_appid => return Err(WxError::InvalidAppid),
            Some(_) => {}
        }
        let appid = get("appid").ok_or(WxError::AppidMissing)?;
        if get("grant_type") != Some("authorization_code") {
            return Err(WxError::GrantTypeInvalid);
        }
        if !shared.state().is_authorized(appid) {
            return Err(WxError::NotAuthorized);
        }
        let code = get("code").ok_or(WxError::CodeMissing)?;
        exchange(&shared, appid, code)
    })();
    if let Some(late) = late {
        tokio::time::sleep(late).await;
    }
    answer(ACCESS_TOKEN_API, result)
}

async fn userinfo(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let query = super::query_params(query);
    let get = |name: &str| {
        query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let about = get("access_token").and_then(|t| {
        shared
            .oauth()
            .token(t, shared.now())
            .ok()
            .map(|t| t.appid.clone())
    });
    shared.record_call(USERINFO_API, about.as_deref());
    let late = match shared.injected(USERINFO_API).await {
        Ok(late) => late,
        Err(answer) => return answer,
    };
    let result = (|| {
        let token = get("access_token").ok_or(WxError::AccessTokenMissing)?;
        let (appid, user, scope) = {
            let logins = shared.oauth();
            let issued = logins.token(token, shared.now())?;
            (issued.appid.clone(), issued.user.clone(), issued.scope)
        };
        let openid = users::openid(&appid, &user);
        if get("openid") != Some(openid.as_str()) {
            return Err(WxError::Other {
                errcode: 40003,
                errmsg: "invalid openid".into(),
            });
        }
        if scope != Scope::SnsapiUserinfo {
            return Err(WxError::from_errcode(48001));
        }
        Ok(UserinfoAnswer {
            openid,
            profile: users::profile(&user),
            privilege: Vec::new(),
            unionid: shared.users().unionid_for(&appid, &user),
        })
    })();
    if let Some(late) = late {
        tokio::time::sleep(late).await;
    }
    answer(USERINFO_API, result)
}
