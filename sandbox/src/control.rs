//! `/sandbox/...`: the controls tests and scripts use (JSON), and a small HTML page where a
//! developer sees the accounts, withdraws one, or pushes a ticket.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::calls::Calls;
use super::custom_api::CustomMessage;
use super::faults::Fault;
use super::pages::escape;
use super::pushes::PushRecord;
use super::release_check::ReleaseCheckReport;
use super::state::{AccountStatus, Ticket};
use super::{Authorized, PushMessage, SandboxError, Shared};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(home))
        .route("/sandbox", get(home))
        .route("/sandbox/ui/withdraw", post(ui_withdraw))
        .route("/sandbox/ui/push-ticket", post(ui_push_ticket))
        .route("/sandbox/calls", get(calls).delete(reset_calls))
        .route(
            "/sandbox/faults",
            get(faults).post(add_fault).delete(clear_faults),
        )
        .route("/sandbox/push-ticket", post(push_ticket))
        .route("/sandbox/pushes", get(pushes))
        .route("/sandbox/ticket", get(ticket))
        .route("/sandbox/accounts", get(accounts))
        .route("/sandbox/authorize", post(authorize))
        .route("/sandbox/withdraw", post(withdraw))
        .route("/sandbox/event-url", get(event_url).post(set_event_url))
        .route("/sandbox/clock", get(clock))
        .route("/sandbox/clock/advance", post(advance))
        .route("/sandbox/clock/freeze", post(freeze))
        .route("/sandbox/release-check", post(release_check))
        .route("/sandbox/custom-messages", get(custom_messages))
}

/// A control request that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the request body is not the JSON expected: {0}")]
    Body(String),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("no message URL: give message_url, or start the sandbox with one")]
    NoMessageUrl,
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Body(_) | Self::NoMessageUrl => StatusCode::BAD_REQUEST,
            Self::Sandbox(SandboxError::UnknownAccount(_)) => StatusCode::NOT_FOUND,
            Self::Sandbox(_) => StatusCode::CONFLICT,
        };
        (
            status,
            Json(ErrorAnswer {
                error: self.to_string(),
            }),
        )
            .into_response()
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorAnswer {
    pub error: String,
}

fn body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ControlError> {
    serde_json::from_slice(bytes).map_err(|e| ControlError::Body(e.to_string()))
}

#[derive(Debug, Default, Deserialize)]
pub struct ReleaseCheckRequest {
    /// Defaults to the configured `message_url`.
    pub message_url: Option<String>,
    /// Defaults to all five groups.
    pub groups: Option<Vec<u8>>,
}

async fn release_check(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<Json<ReleaseCheckReport>, ControlError> {
    let request: ReleaseCheckRequest = if bytes.is_empty() {
        ReleaseCheckRequest::default()
    } else {
        body(&bytes)?
    };
    let url = request
        .message_url
        .or_else(|| shared.message_url())
        .ok_or(ControlError::NoMessageUrl)?;
    let groups = request.groups.unwrap_or_else(|| (1..=5).collect());
    Ok(Json(
        super::release_check::run(&shared, &url, &groups).await,
    ))
}

async fn custom_messages(State(shared): State<Arc<Shared>>) -> Json<Vec<CustomMessage>> {
    Json(shared.custom_messages().clone())
}

async fn calls(State(shared): State<Arc<Shared>>) -> Json<Calls> {
    Json(shared.calls.lock().expect("calls lock").clone())
}

async fn reset_calls(State(shared): State<Arc<Shared>>) -> StatusCode {
    *shared.calls.lock().expect("calls lock") = Calls::default();
    StatusCode::NO_CONTENT
}

async fn faults(State(shared): State<Arc<Shared>>) -> Json<Vec<Fault>> {
    Json(shared.faults.lock().expect("faults lock").list())
}

/// Body: one fault, e.g. `{"kind": "errcode", "api": "*", "errcode": -1, "next": 2}`.
async fn add_fault(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<Json<Vec<Fault>>, ControlError> {
    let fault: Fault = body(&bytes)?;
    let mut faults = shared.faults.lock().expect("faults lock");
    faults.add(fault);
    Ok(Json(faults.list()))
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.faults.lock().expect("faults lock").clear();
    StatusCode::NO_CONTENT
}

async fn push_ticket(State(shared): State<Arc<Shared>>) -> Result<Json<PushRecord>, ControlError> {
    Ok(Json(
        shared
            .push_new_ticket()
            .await
            .ok_or(SandboxError::NoEventUrl)?,
    ))
}

async fn pushes(State(shared): State<Arc<Shared>>) -> Json<Vec<PushRecord>> {
    Json(shared.pusher.records())
}

async fn ticket(State(shared): State<Arc<Shared>>) -> Json<Option<Ticket>> {
    Json(shared.state().current_ticket())
}

async fn accounts(State(shared): State<Arc<Shared>>) -> Json<Vec<AccountStatus>> {
    Json(shared.state().account_statuses())
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub authorizer_appid: String,
    /// Permission sets to grant; all the account can grant when absent.
    pub func_info: Option<Vec<u32>>,
}

/// Authorizes without a page, as [`super::Sandbox::authorize`] does.
async fn authorize(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<Json<Authorized>, ControlError> {
    let request: AuthorizeRequest = body(&bytes)?;
    let grant = shared
        .grant(
            &request.authorizer_appid,
            request.func_info.as_deref(),
            None,
        )
        .map_err(|e| match e {
            super::GrantError::Sandbox(e) => ControlError::Sandbox(e),
            super::GrantError::PreAuthCode(_) => unreachable!("no pre-auth code was given"),
        })?;
    let push = shared.push(PushMessage::Authorization(grant.clone())).await;
    Ok(Json(Authorized { grant, push }))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WithdrawRequest {
    pub authorizer_appid: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WithdrawAnswer {
    /// The `unauthorized` push, when an event URL is set.
    pub push: Option<PushRecord>,
}

async fn withdraw(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<Json<WithdrawAnswer>, ControlError> {
    let request: WithdrawRequest = body(&bytes)?;
    let push = shared.withdraw(&request.authorizer_appid).await?;
    Ok(Json(WithdrawAnswer { push }))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EventUrl {
    pub event_url: Option<String>,
}

async fn event_url(State(shared): State<Arc<Shared>>) -> Json<EventUrl> {
    Json(EventUrl {
        event_url: shared.event_url(),
    })
}

async fn set_event_url(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<Json<EventUrl>, ControlError> {
    let request: EventUrl = body(&bytes)?;
    *shared.event_url.lock().expect("event url lock") = request.event_url.clone();
    Ok(Json(request))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ClockAnswer {
    /// The sandbox's time, Unix seconds.
    pub now: i64,
    /// How far it is ahead of real time, seconds (besides the time it spent frozen).
    pub offset_secs: u64,
    pub frozen: bool,
}

async fn clock(State(shared): State<Arc<Shared>>) -> Json<ClockAnswer> {
    Json(ClockAnswer {
        now: shared.now(),
        offset_secs: shared.clock.offset().as_secs(),
        frozen: shared.clock.is_frozen(),
    })
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AdvanceRequest {
    pub seconds: u64,
}

async fn advance(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<Json<ClockAnswer>, ControlError> {
    let request: AdvanceRequest = body(&bytes)?;
    shared.clock.advance(Duration::from_secs(request.seconds));
    Ok(clock(State(shared)).await)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FreezeRequest {
    pub frozen: bool,
}

async fn freeze(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<Json<ClockAnswer>, ControlError> {
    let request: FreezeRequest = body(&bytes)?;
    shared.clock.set_frozen(request.frozen);
    Ok(clock(State(shared)).await)
}

// ----- the HTML page -----

async fn home(State(shared): State<Arc<Shared>>) -> Html<String> {
    let statuses = shared.state().account_statuses();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <title>WeChat sandbox</title></head><body><h1>WeChat sandbox</h1>\
         <p>第三方平台 <code>{}</code>；授权事件接收URL：<code>{}</code></p>\
         <form method=\"post\" action=\"/sandbox/ui/push-ticket\"><button type=\"submit\">推送 component_verify_ticket</button></form>\
         <table><tr><th>appid</th><th>名称</th><th>类型</th><th>状态</th><th></th></tr>",
        escape(&shared.config.component_appid),
        escape(shared.event_url().as_deref().unwrap_or("未设置")),
    );
    for s in statuses {
        let action = if s.authorized {
            format!(
                "<form method=\"post\" action=\"/sandbox/ui/withdraw\">\
                 <input type=\"hidden\" name=\"authorizer_appid\" value=\"{}\">\
                 <button type=\"submit\">取消授权</button></form>",
                escape(&s.account.appid)
            )
        } else {
            String::new()
        };
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}{}</td><td>{}</td><td>{action}</td></tr>",
            escape(&s.account.appid),
            escape(&s.account.info.nick_name),
            s.account.kind.label(),
            s.account
                .release_check_group
                .map(|g| format!("（全网发布测试帐号，第{g}组）"))
                .unwrap_or_default(),
            if s.authorized {
                "已授权"
            } else {
                "未授权"
            },
        );
    }
    html.push_str("</table></body></html>");
    Html(html)
}

fn back_home() -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/sandbox")]).into_response()
}

/// The page's withdraw button (a form post): pushes `unauthorized`, then back to the page.
async fn ui_withdraw(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Response {
    let appid = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "authorizer_appid")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    match shared.withdraw(&appid).await {
        Ok(_) => back_home(),
        Err(error) => ControlError::from(error).into_response(),
    }
}

async fn ui_push_ticket(State(shared): State<Arc<Shared>>) -> Response {
    match shared.push_new_ticket().await {
        Some(_) => back_home(),
        None => ControlError::from(SandboxError::NoEventUrl).into_response(),
    }
}
