//! `POST /cgi-bin/message/custom/send?access_token=...`: the customer-service message API (客服消息)
//! with an authorizer's access token, as the release check makes the platform use it. Messages
//! sent are kept for the release check and for tests.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};

use super::Shared;
use super::errors::WxError;

/// The name calls and faults use for this API.
pub const API: &str = "message_custom_send";

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/cgi-bin/message/custom/send", post(send))
}

/// A customer-service message the sandbox accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomMessage {
    /// The account whose access token sent it.
    pub authorizer_appid: String,
    pub touser: String,
    pub content: String,
    pub sent_at: i64,
}

#[derive(Debug, Deserialize)]
struct SendRequest {
    touser: Option<String>,
    msgtype: Option<String>,
    text: Option<TextBody>,
}

#[derive(Debug, Deserialize)]
struct TextBody {
    content: Option<String>,
}

async fn send(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let query = super::query_params(query);
    let token = query.get("access_token").map(String::as_str);
    let appid = token.and_then(|t| {
        shared
            .state()
            .authorizer_access_token(t, shared.now())
            .ok()
            .map(str::to_owned)
    });
    shared.record_call(API, appid.as_deref());

    let late = match shared.injected(API).await {
        Ok(late) => late,
        Err(answer) => return answer,
    };
    let accepted = accept(&shared, token, &body);
    if let Some(late) = late {
        tokio::time::sleep(late).await;
    }
    match accepted {
        Ok(message) => {
            tracing::info!(api = API, authorizer_appid = %message.authorizer_appid, "customer-service message sent");
            shared.custom_messages().push(message);
            Json(WxError::ok_body()).into_response()
        }
        Err(error) => {
            tracing::info!(
                api = API,
                errcode = error.errcode(),
                "customer-service message refused"
            );
            Json(error.body()).into_response()
        }
    }
}

fn accept(shared: &Shared, token: Option<&str>, body: &[u8]) -> Result<CustomMessage, WxError> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(WxError::AccessTokenMissing)?;
    let authorizer_appid = shared
        .state()
        .authorizer_access_token(token, shared.now())?
        .to_owned();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WxError::EmptyPostData);
    }
    let request: SendRequest = serde_json::from_slice(body).map_err(|_| WxError::DataFormat)?;
    let touser = request
        .touser
        .filter(|t| !t.is_empty())
        .ok_or(WxError::Other {
            errcode: 40003,
            errmsg: "invalid openid".into(),
        })?;
    if request.msgtype.as_deref() != Some("text") {
        return Err(WxError::Other {
            errcode: 40008,
            errmsg: "invalid message type".into(),
        });
    }
    let content = request
        .text
        .and_then(|t| t.content)
        .filter(|c| !c.is_empty())
        .ok_or(WxError::Other {
            errcode: 44003,
            errmsg: "empty news data".into(),
        })?;
    Ok(CustomMessage {
        authorizer_appid,
        touser,
        content,
        sent_at: shared.now(),
    })
}
