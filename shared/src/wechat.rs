//! A typed client of WeChat's component APIs (docs/protocol.md describes each call).
//!
//! Every call has a timeout. Errors keep WeChat's errcode and never carry a URL (the component
//! token travels in the query string) or a credential.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod users;

pub use users::{JsapiTicket, Jscode2Session, OAuthAccessToken, SessionKey, SnsUserInfo};

/// WeChat's errcodes that need their own handling (docs/protocol.md#error-codes-and-reactions).
pub mod errcode {
    /// -1: WeChat is busy; retry later.
    pub const SYSTEM_BUSY: i64 = -1;
    /// 40001: the access token is invalid.
    pub const INVALID_CREDENTIAL: i64 = 40001;
    /// 40013: the appid is invalid.
    pub const INVALID_APPID: i64 = 40013;
    /// 40014: the access token is not the latest.
    pub const NOT_LATEST_TOKEN: i64 = 40014;
    /// 40125: the app secret is wrong.
    pub const INVALID_APPSECRET: i64 = 40125;
    /// 41001: no access token was sent.
    pub const MISSING_ACCESS_TOKEN: i64 = 41001;
    /// 41002: no appid was sent.
    pub const MISSING_APPID: i64 = 41002;
    /// 41004: no app secret was sent.
    pub const MISSING_APPSECRET: i64 = 41004;
    /// 42001: the access token has expired.
    pub const TOKEN_EXPIRED: i64 = 42001;
    /// 45009: the daily quota of this API is used up.
    pub const QUOTA_REACHED: i64 = 45009;
    /// 61003: the authorizer has withdrawn its authorization.
    pub const UNAUTHORIZED: i64 = 61003;
    /// 61004: the caller's IP is not on the platform's whitelist.
    pub const IP_NOT_WHITELISTED: i64 = 61004;
    /// 61005: the component_verify_ticket has expired.
    pub const TICKET_EXPIRED: i64 = 61005;
    /// 61006: the component_verify_ticket is invalid.
    pub const TICKET_INVALID: i64 = 61006;
    /// 61023: the authorizer refresh token is invalid.
    pub const REFRESH_TOKEN_INVALID: i64 = 61023;
    /// 40029: a user's login code is invalid (unknown, expired, or another account's).
    pub const INVALID_CODE: i64 = 40029;
    /// 40163: a user's login code has been used.
    pub const CODE_BEEN_USED: i64 = 40163;
}

/// How the caller should react to a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// -1, timeouts and transport faults: retry with backoff.
    Busy,
    /// 40001 / 40014 / 42001 / 41001: the component token is no longer good.
    TokenInvalid,
    /// 40013 / 40125 / 41002 / 41004: configuration error, no retry.
    BadCredentials,
    /// 45009: stop calling for now.
    QuotaReached,
    /// 61003: the authorizer withdrew.
    Unauthorized,
    /// 61004: the egress IP is not on the whitelist.
    IpNotWhitelisted,
    /// 61005 / 61006: the ticket is expired or invalid.
    TicketInvalid,
    /// 61023: the refresh token is no longer valid.
    RefreshTokenInvalid,
    /// Not called: the caller's time for starting calls was over ([`calls_until`]).
    OutOfTime,
    /// Anything else: reported, not retried.
    Other,
}

/// A failed call to WeChat: WeChat's own errcode, or what kept the answer from arriving.
#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    /// WeChat answered with a non-zero errcode.
    #[error("WeChat {api} answered errcode {errcode}: {errmsg}")]
    Api {
        /// The API called.
        api: &'static str,
        /// WeChat's errcode.
        errcode: i64,
        /// WeChat's errmsg, cut to 200 characters.
        errmsg: String,
    },
    /// No answer within the client's timeout (WeChat may still have done the work).
    #[error("WeChat {api} did not answer within {timeout:?}")]
    Timeout {
        /// The API called.
        api: &'static str,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// No connection was made: the request never reached WeChat.
    #[error("WeChat {api} could not be connected to: {message}")]
    Unreachable {
        /// The API called.
        api: &'static str,
        /// What failed, without the URL.
        message: String,
    },
    /// The connection failed after the request may have been written; `message` carries no URL.
    #[error("WeChat {api} could not be reached: {message}")]
    Transport {
        /// The API called.
        api: &'static str,
        /// What failed, without the URL.
        message: String,
    },
    /// An HTTP status other than 2xx.
    #[error("WeChat {api} answered HTTP {status}")]
    Status {
        /// The API called.
        api: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// A 2xx answer that is not the expected JSON.
    #[error("WeChat {api}'s answer could not be read: {message}")]
    Decode {
        /// The API called.
        api: &'static str,
        /// What could not be read.
        message: String,
    },
    /// Not sent: the caller's time for starting calls was over ([`calls_until`]).
    #[error("WeChat {api} was not called: the time for starting calls is over")]
    OutOfTime {
        /// The API not called.
        api: &'static str,
    },
}

impl WechatError {
    /// WeChat's errcode, when WeChat answered with one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// How to react to this failure.
    pub fn kind(&self) -> ErrorKind {
        use errcode::*;
        match self {
            Self::Api { errcode, .. } => match *errcode {
                SYSTEM_BUSY => ErrorKind::Busy,
                INVALID_CREDENTIAL | NOT_LATEST_TOKEN | TOKEN_EXPIRED | MISSING_ACCESS_TOKEN => {
                    ErrorKind::TokenInvalid
                }
                INVALID_APPID | INVALID_APPSECRET | MISSING_APPID | MISSING_APPSECRET => {
                    ErrorKind::BadCredentials
                }
                QUOTA_REACHED => ErrorKind::QuotaReached,
                UNAUTHORIZED => ErrorKind::Unauthorized,
                IP_NOT_WHITELISTED => ErrorKind::IpNotWhitelisted,
                TICKET_EXPIRED | TICKET_INVALID => ErrorKind::TicketInvalid,
                REFRESH_TOKEN_INVALID => ErrorKind::RefreshTokenInvalid,
                _ => ErrorKind::Other,
            },
            Self::Timeout { .. } | Self::Transport { .. } | Self::Unreachable { .. } => {
                ErrorKind::Busy
            }
            Self::Status { status, .. } if *status >= 500 => ErrorKind::Busy,
            Self::Status { .. } | Self::Decode { .. } => ErrorKind::Other,
            Self::OutOfTime { .. } => ErrorKind::OutOfTime,
        }
    }

    /// Whether WeChat may have done the work although no answer saying so arrived: a timeout
    /// or a connection lost after the request was written, a 5xx, -1 (WeChat's own "busy" can
    /// come after the work), an answer that could not be read. Calls that use something up
    /// (api_query_auth's single-use code) must not be repeated after such a failure.
    pub fn may_have_been_done(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::OutOfTime { .. } => false,
            Self::Api { errcode, .. } => *errcode == errcode::SYSTEM_BUSY,
            Self::Status { status, .. } => *status >= 500,
            Self::Timeout { .. } | Self::Transport { .. } | Self::Decode { .. } => true,
        }
    }

    /// The API whose call failed.
    pub fn api(&self) -> &'static str {
        match self {
            Self::Api { api, .. }
            | Self::Timeout { api, .. }
            | Self::Transport { api, .. }
            | Self::Unreachable { api, .. }
            | Self::Status { api, .. }
            | Self::Decode { api, .. }
            | Self::OutOfTime { api } => api,
        }
    }
}

tokio::task_local! {
    /// No call is started after this instant (see [`calls_until`]).
    static CALLS_UNTIL: tokio::time::Instant;
}

/// Runs `work` with a limit on when it may start WeChat calls: a call not yet started when
/// `until` has passed fails at once with [`WechatError::OutOfTime`], while a call already in
/// flight runs to its answer (or its timeout), so that its caller can store what it returned.
/// This is how a budget stops work without cutting a call whose answer must be kept: nothing
/// is cancelled, and at worst a call started just before `until` ends one client timeout later.
pub async fn calls_until<F: std::future::Future>(until: std::time::Instant, work: F) -> F::Output {
    CALLS_UNTIL
        .scope(tokio::time::Instant::from_std(until), work)
        .await
}

/// Whether the current task may no longer start calls.
fn out_of_time() -> bool {
    CALLS_UNTIL
        .try_with(|until| tokio::time::Instant::now() >= *until)
        .unwrap_or(false)
}

/// A credential that must never be printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The credential's value, for the one place that sends or stores it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// The answer of api_component_token.
#[derive(Debug, Clone, Deserialize)]
pub struct ComponentToken {
    /// The component access token.
    pub component_access_token: Secret,
    /// Its lifetime in seconds.
    pub expires_in: i64,
}

/// The answer of api_create_preauthcode.
#[derive(Debug, Clone, Deserialize)]
pub struct PreAuthCode {
    /// The single-use code the authorization page is opened with.
    pub pre_auth_code: Secret,
    /// Its lifetime in seconds.
    pub expires_in: i64,
}

/// A permission set's id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct FuncScope {
    /// WeChat's id of the permission set.
    pub id: i64,
}

/// One permission set the account granted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct FuncInfo {
    /// The permission set.
    pub funcscope_category: FuncScope,
}

/// `authorization_info` of api_query_auth and api_get_authorizer_info.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizationInfo {
    /// The account's appid.
    pub authorizer_appid: String,
    /// Its access token (api_query_auth only).
    #[serde(default)]
    pub authorizer_access_token: Option<Secret>,
    /// The access token's lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// Its refresh token: WeChat hands it back only here and in the list.
    #[serde(default)]
    pub authorizer_refresh_token: Option<Secret>,
    /// The permission sets granted.
    #[serde(default)]
    pub func_info: Vec<FuncInfo>,
}

/// The answer of api_query_auth.
#[derive(Debug, Clone, Deserialize)]
pub struct QueryAuth {
    /// What the authorization code stood for.
    pub authorization_info: AuthorizationInfo,
}

/// The answer of api_authorizer_token.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizerToken {
    /// The new authorizer access token.
    pub authorizer_access_token: Secret,
    /// Its lifetime in seconds.
    pub expires_in: i64,
    /// WeChat may hand back a new refresh token; persist it every time.
    #[serde(default)]
    pub authorizer_refresh_token: Option<Secret>,
}

/// An `{"id": n}` object of the profile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct IdInfo {
    /// The value.
    pub id: i64,
}

/// `authorizer_info`: the account's public profile. Unknown fields are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct AuthorizerProfile {
    /// The account's name.
    #[serde(default)]
    pub nick_name: String,
    /// Its avatar's URL.
    #[serde(default)]
    pub head_img: String,
    /// Official account kind (subscription, service) or mini program kind.
    pub service_type_info: IdInfo,
    /// How the account is verified (-1: not verified).
    pub verify_type_info: IdInfo,
    /// The original id (`gh_...`), the `ToUserName` of its messages.
    #[serde(default)]
    pub user_name: String,
    /// The company or person behind the account.
    #[serde(default)]
    pub principal_name: String,
    /// The WeChat id set by the account, if any.
    #[serde(default)]
    pub alias: String,
    /// Its QR code's URL.
    #[serde(default)]
    pub qrcode_url: String,
    /// Its description.
    #[serde(default)]
    pub signature: String,
    /// Which business features are open (`open_pay`, `open_shake`, ...).
    #[serde(default)]
    pub business_info: serde_json::Value,
    /// Present for mini programs only.
    #[serde(
        rename = "MiniProgramInfo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mini_program_info: Option<serde_json::Value>,
    /// Fields this service does not name, kept as WeChat sent them.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl AuthorizerProfile {
    /// Whether the profile is a mini program's.
    pub fn is_mini_program(&self) -> bool {
        self.mini_program_info.is_some()
    }
}

/// The answer of api_get_authorizer_info.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizerInfo {
    /// The account's profile.
    pub authorizer_info: AuthorizerProfile,
    /// What it granted.
    pub authorization_info: AuthorizationInfo,
}

/// One row of api_get_authorizer_list.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedAuthorizer {
    /// The account's appid.
    pub authorizer_appid: String,
    /// Its current refresh token.
    pub refresh_token: Secret,
    /// When it authorized (Unix seconds).
    pub auth_time: i64,
}

/// One page of api_get_authorizer_list.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizerList {
    /// How many accounts are authorized in all.
    pub total_count: i64,
    /// This page's accounts.
    #[serde(default)]
    pub list: Vec<ListedAuthorizer>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// The component API client; cheap to clone.
#[derive(Clone)]
pub struct WechatClient {
    /// Built on the first call (a function's first event may need none), shared by clones.
    http: Arc<OnceLock<reqwest::Client>>,
    api_base: String,
    component_appid: String,
    timeout: Duration,
}

impl fmt::Debug for WechatClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatClient")
            .field("api_base", &self.api_base)
            .field("component_appid", &self.component_appid)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl WechatClient {
    /// The timeout of a call when the configuration gives none.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// How long one call may take at most.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A client of `api_base` (WeChat's `https://api.weixin.qq.com`, or the sandbox) for one
    /// component; every call, its connection included, is bounded by `timeout`.
    pub fn new(api_base: &str, component_appid: &str, timeout: Duration) -> Self {
        Self {
            http: Arc::default(),
            api_base: api_base.trim_end_matches('/').to_owned(),
            component_appid: component_appid.to_owned(),
            timeout,
        }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(self.timeout)
                // The process's TLS configuration: compiled-in roots, no store read.
                .tls_backend_preconfigured(crate::tls::client_config().clone())
                .build()
                .expect("the TLS configuration is rustls's")
        })
    }

    /// The platform's component appid.
    pub fn component_appid(&self) -> &str {
        &self.component_appid
    }

    /// api_component_token: a component access token from the app secret and the ticket.
    pub async fn component_token(
        &self,
        component_appsecret: &str,
        ticket: &str,
    ) -> Result<ComponentToken, WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            component_appid: &'a str,
            component_appsecret: &'a str,
            component_verify_ticket: &'a str,
        }
        self.post(
            "api_component_token",
            None,
            &Body {
                component_appid: &self.component_appid,
                component_appsecret,
                component_verify_ticket: ticket,
            },
        )
        .await
    }

    /// api_create_preauthcode: a pre-auth code for the authorization page.
    pub async fn create_pre_auth_code(&self, token: &str) -> Result<PreAuthCode, WechatError> {
        self.post(
            "api_create_preauthcode",
            Some(token),
            &serde_json::json!({ "component_appid": self.component_appid }),
        )
        .await
    }

    /// api_query_auth: exchanges a single-use authorization code for the account's tokens.
    pub async fn query_auth(
        &self,
        token: &str,
        authorization_code: &str,
    ) -> Result<QueryAuth, WechatError> {
        self.post(
            "api_query_auth",
            Some(token),
            &serde_json::json!({
                "component_appid": self.component_appid,
                "authorization_code": authorization_code,
            }),
        )
        .await
    }

    /// api_authorizer_token: a new access token (and maybe refresh token) for an authorizer.
    pub async fn authorizer_token(
        &self,
        token: &str,
        authorizer_appid: &str,
        refresh_token: &str,
    ) -> Result<AuthorizerToken, WechatError> {
        self.post(
            "api_authorizer_token",
            Some(token),
            &serde_json::json!({
                "component_appid": self.component_appid,
                "authorizer_appid": authorizer_appid,
                "authorizer_refresh_token": refresh_token,
            }),
        )
        .await
    }

    /// api_get_authorizer_info: an authorizer's profile and what it granted.
    pub async fn authorizer_info(
        &self,
        token: &str,
        authorizer_appid: &str,
    ) -> Result<AuthorizerInfo, WechatError> {
        self.post(
            "api_get_authorizer_info",
            Some(token),
            &serde_json::json!({
                "component_appid": self.component_appid,
                "authorizer_appid": authorizer_appid,
            }),
        )
        .await
    }

    /// api_get_authorizer_list: one page (at most 500) of the authorized accounts.
    pub async fn authorizer_list(
        &self,
        token: &str,
        offset: u32,
        count: u32,
    ) -> Result<AuthorizerList, WechatError> {
        self.post(
            "api_get_authorizer_list",
            Some(token),
            &serde_json::json!({
                "component_appid": self.component_appid,
                "offset": offset,
                "count": count.min(500),
            }),
        )
        .await
    }

    /// api_start_push_ticket: asks WeChat to push a ticket now.
    pub async fn start_push_ticket(&self, component_appsecret: &str) -> Result<(), WechatError> {
        let _: ErrorBody = self
            .post(
                "api_start_push_ticket",
                None,
                &serde_json::json!({
                    "component_appid": self.component_appid,
                    "component_secret": component_appsecret,
                }),
            )
            .await?;
        Ok(())
    }

    /// The customer-service message API (客服消息) with an authorizer's access token: the one
    /// call the release check makes the platform place on an account's behalf.
    pub async fn send_custom_text(
        &self,
        authorizer_access_token: &str,
        touser: &str,
        content: &str,
    ) -> Result<(), WechatError> {
        let _: ErrorBody = self
            .post_to(
                "message/custom/send",
                "custom_send",
                Some(("access_token", authorizer_access_token)),
                &serde_json::json!({
                    "touser": touser,
                    "msgtype": "text",
                    "text": { "content": content },
                }),
            )
            .await?;
        Ok(())
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        api: &'static str,
        token: Option<&str>,
        body: &B,
    ) -> Result<T, WechatError> {
        let path = format!("component/{api}");
        let token = token.map(|t| ("component_access_token", t));
        self.post_to(&path, api, token, body).await
    }

    /// POSTs JSON to `/cgi-bin/{path}`; `api` names the call in errors, `token` is the access
    /// token's query parameter.
    async fn post_to<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        api: &'static str,
        token: Option<(&str, &str)>,
        body: &B,
    ) -> Result<T, WechatError> {
        let url = format!("{}/cgi-bin/{path}", self.api_base);
        let mut request = self.http().post(url).json(body);
        if let Some(token) = token {
            request = request.query(&[token]);
        }
        self.send(api, request).await
    }

    /// GETs `/{path}` with `query` (the APIs of users' logins and of tickets).
    async fn get_from<T: DeserializeOwned>(
        &self,
        path: &str,
        api: &'static str,
        query: &[(&str, &str)],
    ) -> Result<T, WechatError> {
        let url = format!("{}/{path}", self.api_base);
        self.send(api, self.http().get(url).query(query)).await
    }

    /// Sends `request` and reads WeChat's answer: its errcode, or the expected JSON.
    async fn send<T: DeserializeOwned>(
        &self,
        api: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, WechatError> {
        if out_of_time() {
            return Err(WechatError::OutOfTime { api });
        }
        let transport = |error: reqwest::Error| {
            if error.is_connect() {
                // Also a connect timeout, or a certificate refused: nothing was sent.
                WechatError::Unreachable {
                    api,
                    message: transport_message(error),
                }
            } else if error.is_timeout() {
                WechatError::Timeout {
                    api,
                    timeout: self.timeout,
                }
            } else {
                WechatError::Transport {
                    api,
                    message: transport_message(error),
                }
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(WechatError::Status {
                api,
                status: status.as_u16(),
            });
        }
        let bytes = response.bytes().await.map_err(transport)?;
        // Errors come back as HTTP 200 with a non-zero errcode.
        if let Ok(ErrorBody { errcode, errmsg }) = serde_json::from_slice::<ErrorBody>(&bytes)
            && errcode != 0
        {
            return Err(WechatError::Api {
                api,
                errcode,
                errmsg: errmsg.chars().take(200).collect(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| WechatError::Decode {
            api,
            message: format!(
                "{:?} at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ),
        })
    }
}

/// What failed, with its causes (a refused certificate's reason is one), without the URL: it
/// carries the token.
fn transport_message(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(error) = cause {
        message.push_str(": ");
        message.push_str(&error.to_string());
        cause = error.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcodes_map_to_reactions() {
        let api = |errcode| WechatError::Api {
            api: "x",
            errcode,
            errmsg: String::new(),
        };
        assert_eq!(api(-1).kind(), ErrorKind::Busy);
        for code in [40001, 40014, 42001] {
            assert_eq!(api(code).kind(), ErrorKind::TokenInvalid);
        }
        for code in [40013, 40125, 41002, 41004] {
            assert_eq!(api(code).kind(), ErrorKind::BadCredentials);
        }
        assert_eq!(api(45009).kind(), ErrorKind::QuotaReached);
        assert_eq!(api(61003).kind(), ErrorKind::Unauthorized);
        assert_eq!(api(61004).kind(), ErrorKind::IpNotWhitelisted);
        assert_eq!(api(61005).kind(), ErrorKind::TicketInvalid);
        assert_eq!(api(61006).kind(), ErrorKind::TicketInvalid);
        assert_eq!(api(61023).kind(), ErrorKind::RefreshTokenInvalid);
        assert_eq!(api(12345).kind(), ErrorKind::Other);
        assert_eq!(api(61023).errcode(), Some(61023));
    }

    #[test]
    fn credentials_are_redacted() {
        let token: AuthorizerToken = serde_json::from_str(
            r#"{"authorizer_access_token":"at-secret","expires_in":7200,"authorizer_refresh_token":"rt-secret"}"#,
        )
        .unwrap();
        let shown = format!("{token:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(
            token.authorizer_refresh_token.unwrap().expose(),
            "rt-secret"
        );
    }

    #[test]
    fn mini_program_profiles_are_recognised() {
        let info: AuthorizerProfile = serde_json::from_str(
            r#"{"nick_name":"小程序","head_img":"h","service_type_info":{"id":0},"verify_type_info":{"id":-1},
                "user_name":"gh_1","principal_name":"公司","MiniProgramInfo":{"network":{}},"register_type":0}"#,
        )
        .unwrap();
        assert!(info.is_mini_program());
        assert_eq!(info.extra["register_type"], 0);
    }
}
