//! `POST /cgi-bin/component/{api}`: the component APIs (docs/protocol.md), with WeChat's request and
//! answer shapes. Errors are HTTP 200 with `{"errcode", "errmsg"}`, as WeChat answers them.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::accounts::AuthorizerInfo;
use super::errors::{ErrorBody, WxError};
use super::state::AuthorizerTokens;
use super::{APIS, Shared};

/// `api_get_authorizer_list` pages hold at most this many.
pub const MAX_LIST_COUNT: u32 = 500;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/cgi-bin/component/{api}", post(call))
}

// ----- requests -----

#[derive(Debug, Default, Deserialize)]
pub struct ComponentTokenRequest {
    pub component_appid: Option<String>,
    pub component_appsecret: Option<String>,
    pub component_verify_ticket: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PreAuthCodeRequest {
    pub component_appid: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct QueryAuthRequest {
    pub component_appid: Option<String>,
    pub authorization_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AuthorizerTokenRequest {
    pub component_appid: Option<String>,
    pub authorizer_appid: Option<String>,
    pub authorizer_refresh_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AuthorizerInfoRequest {
    pub component_appid: Option<String>,
    pub authorizer_appid: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AuthorizerListRequest {
    pub component_appid: Option<String>,
    pub offset: Option<u32>,
    pub count: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StartPushTicketRequest {
    pub component_appid: Option<String>,
    pub component_secret: Option<String>,
}

// ----- answers -----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentTokenAnswer {
    pub component_access_token: String,
    pub expires_in: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreAuthCodeAnswer {
    pub pre_auth_code: String,
    pub expires_in: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuncScope {
    pub id: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuncInfo {
    pub funcscope_category: FuncScope,
}

fn func_info(ids: &[u32]) -> Vec<FuncInfo> {
    ids.iter()
        .map(|&id| FuncInfo {
            funcscope_category: FuncScope { id },
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryAuthAnswer {
    pub authorization_info: QueryAuthInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryAuthInfo {
    pub authorizer_appid: String,
    pub authorizer_access_token: String,
    pub expires_in: i64,
    pub authorizer_refresh_token: String,
    pub func_info: Vec<FuncInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerTokenAnswer {
    pub authorizer_access_token: String,
    pub expires_in: i64,
    pub authorizer_refresh_token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizerInfoAnswer {
    pub authorizer_info: AuthorizerInfo,
    pub authorization_info: AuthorizationInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationInfo {
    pub authorizer_appid: String,
    pub authorizer_refresh_token: String,
    pub func_info: Vec<FuncInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerListAnswer {
    pub total_count: usize,
    pub list: Vec<AuthorizerListItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerListItem {
    pub authorizer_appid: String,
    pub refresh_token: String,
    pub auth_time: i64,
}

// ----- dispatch -----

type Answer = Result<serde_json::Value, WxError>;

async fn call(
    State(shared): State<Arc<Shared>>,
    Path(api): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let query = super::query_params(query);
    shared.record_call(&api, about(&shared, &api, &body).as_deref());
    if !APIS.contains(&api.as_str()) {
        let error = WxError::from_errcode(48001);
        return (StatusCode::NOT_FOUND, Json(error.body())).into_response();
    }
    let late = match shared.injected(&api).await {
        Ok(late) => late,
        Err(answer) => return answer,
    };

    let token = query.get("component_access_token").map(String::as_str);
    let answer = match api.as_str() {
        "api_component_token" => component_token(&shared, &body),
        "api_create_preauthcode" => create_preauthcode(&shared, token, &body),
        "api_query_auth" => query_auth(&shared, token, &body),
        "api_authorizer_token" => authorizer_token(&shared, token, &body),
        "api_get_authorizer_info" => authorizer_info(&shared, token, &body),
        "api_get_authorizer_list" => authorizer_list(&shared, token, &body),
        "api_start_push_ticket" => start_push_ticket(&shared, &body),
        _ => unreachable!("checked against APIS"),
    };
    if let Some(late) = late {
        tracing::info!(api = %api, "API call answered late after its work (injected)");
        tokio::time::sleep(late).await;
    }
    // Only the API and the outcome: requests and answers carry credentials.
    match answer {
        Ok(value) => {
            tracing::info!(api = %api, errcode = 0, "component API call");
            Json(value).into_response()
        }
        Err(error) => {
            tracing::info!(api = %api, errcode = error.errcode(), errmsg = %error, "component API call");
            Json(error.body()).into_response()
        }
    }
}

/// The authorizer a call is about, for the per-authorizer counters.
fn about(shared: &Shared, api: &str, body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct About {
        authorizer_appid: Option<String>,
        authorization_code: Option<String>,
    }
    let about: About = serde_json::from_slice(body).ok()?;
    match (api, about.authorizer_appid, about.authorization_code) {
        (_, Some(appid), _) => Some(appid),
        ("api_query_auth", None, Some(code)) => {
            shared.state().auth_code_appid(&code).map(str::to_owned)
        }
        _ => None,
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, WxError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WxError::EmptyPostData);
    }
    serde_json::from_slice(body).map_err(|_| WxError::DataFormat)
}

fn required(value: Option<String>, missing: WxError) -> Result<String, WxError> {
    value.filter(|v| !v.is_empty()).ok_or(missing)
}

fn check_appid(shared: &Shared, appid: Option<String>) -> Result<(), WxError> {
    if required(appid, WxError::AppidMissing)? != shared.config.component_appid {
        return Err(WxError::InvalidAppid);
    }
    Ok(())
}

fn check_secret(shared: &Shared, secret: Option<String>) -> Result<(), WxError> {
    if required(secret, WxError::AppsecretMissing)? != shared.config.component_appsecret {
        return Err(WxError::InvalidAppsecret);
    }
    Ok(())
}

/// The access token is checked before the body, as WeChat's gateway does.
fn check_token(shared: &Shared, token: Option<&str>) -> Result<(), WxError> {
    shared.state().check_component_token(token, shared.now())
}

fn json<T: Serialize>(answer: T) -> Answer {
    Ok(serde_json::to_value(answer).expect("answers serialize"))
}

fn component_token(shared: &Shared, body: &[u8]) -> Answer {
    let request: ComponentTokenRequest = parse(body)?;
    check_appid(shared, request.component_appid)?;
    check_secret(shared, request.component_appsecret)?;
    let ticket = required(request.component_verify_ticket, WxError::TicketInvalid)?;
    let (component_access_token, expires_in) =
        shared.state().component_token(&ticket, shared.now())?;
    json(ComponentTokenAnswer {
        component_access_token,
        expires_in,
    })
}

fn create_preauthcode(shared: &Shared, token: Option<&str>, body: &[u8]) -> Answer {
    check_token(shared, token)?;
    let request: PreAuthCodeRequest = parse(body)?;
    check_appid(shared, request.component_appid)?;
    let (pre_auth_code, expires_in) = shared.state().create_pre_auth_code(shared.now());
    json(PreAuthCodeAnswer {
        pre_auth_code,
        expires_in,
    })
}

fn query_auth(shared: &Shared, token: Option<&str>, body: &[u8]) -> Answer {
    check_token(shared, token)?;
    let request: QueryAuthRequest = parse(body)?;
    check_appid(shared, request.component_appid)?;
    let code = required(request.authorization_code, WxError::CodeInvalid)?;
    let tokens = shared.state().query_auth(&code, shared.now())?;
    json(QueryAuthAnswer {
        authorization_info: query_auth_info(tokens),
    })
}

fn query_auth_info(tokens: AuthorizerTokens) -> QueryAuthInfo {
    QueryAuthInfo {
        authorizer_appid: tokens.authorizer_appid,
        authorizer_access_token: tokens.access_token,
        expires_in: tokens.expires_in,
        authorizer_refresh_token: tokens.refresh_token,
        func_info: func_info(&tokens.func_info),
    }
}

fn authorizer_token(shared: &Shared, token: Option<&str>, body: &[u8]) -> Answer {
    check_token(shared, token)?;
    let request: AuthorizerTokenRequest = parse(body)?;
    check_appid(shared, request.component_appid)?;
    let appid = required(request.authorizer_appid, WxError::AppidMissing)?;
    let refresh = required(
        request.authorizer_refresh_token,
        WxError::RefreshTokenInvalid,
    )?;
    let tokens = shared
        .state()
        .authorizer_token(&appid, &refresh, shared.now())?;
    json(AuthorizerTokenAnswer {
        authorizer_access_token: tokens.access_token,
        expires_in: tokens.expires_in,
        authorizer_refresh_token: tokens.refresh_token,
    })
}

fn authorizer_info(shared: &Shared, token: Option<&str>, body: &[u8]) -> Answer {
    check_token(shared, token)?;
    let request: AuthorizerInfoRequest = parse(body)?;
    check_appid(shared, request.component_appid)?;
    let appid = required(request.authorizer_appid, WxError::AppidMissing)?;
    let (account, refresh_token, sets) = shared.state().authorizer_info(&appid)?;
    json(AuthorizerInfoAnswer {
        authorizer_info: account.info,
        authorization_info: AuthorizationInfo {
            authorizer_appid: appid,
            authorizer_refresh_token: refresh_token,
            func_info: func_info(&sets),
        },
    })
}

fn authorizer_list(shared: &Shared, token: Option<&str>, body: &[u8]) -> Answer {
    check_token(shared, token)?;
    let request: AuthorizerListRequest = parse(body)?;
    check_appid(shared, request.component_appid)?;
    let (Some(offset), Some(count)) = (request.offset, request.count) else {
        return Err(WxError::InvalidArgs);
    };
    if count == 0 || count > MAX_LIST_COUNT {
        return Err(WxError::InvalidArgs);
    }
    let (total_count, page) = shared
        .state()
        .authorizer_list(offset as usize, count as usize);
    json(AuthorizerListAnswer {
        total_count,
        list: page
            .into_iter()
            .map(|a| AuthorizerListItem {
                authorizer_appid: a.authorizer_appid,
                refresh_token: a.refresh_token,
                auth_time: a.auth_time,
            })
            .collect(),
    })
}

fn start_push_ticket(shared: &Arc<Shared>, body: &[u8]) -> Answer {
    let request: StartPushTicketRequest = parse(body)?;
    check_appid(shared, request.component_appid)?;
    check_secret(shared, request.component_secret)?;
    shared.spawn_ticket_push();
    json(ErrorBody {
        errcode: 0,
        errmsg: "ok".into(),
    })
}
