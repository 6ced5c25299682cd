//! `GET /jssdk/{appid}/config?url=<page url>`: the `wx.config` parameters for one page of an
//! authorized official account (see [`wxopen::jssdk`]).

use lambda_http::{Request, RequestExt, Response};
use serde_json::json;
use wxopen::jssdk;

use crate::UserIdentity;

pub async fn respond(identity: &UserIdentity, appid: &str, request: &Request) -> Response<String> {
    let query = request.query_string_parameters();
    let config = jssdk::config(
        &identity.tokens,
        &identity.accounts,
        &identity.jssdk_origins,
        appid,
        query.first("url"),
    )
    .await;
    match config {
        Ok(config) => wxopen::html::json_response(200, &json!(config)),
        Err(error) => {
            let status = error.status();
            if status >= 500 {
                tracing::error!(authorizer = appid, %error, "no JS-SDK configuration");
            } else {
                tracing::info!(authorizer = appid, %error, status, "JS-SDK configuration refused");
            }
            crate::refuse(status, error.code(), &error.to_string())
        }
    }
}
