//! `POST /miniprogram/{appid}/login` with `{"code": "<wx.login code>"}`: the user's identity
//! token (see [`wxopen::miniprogram`]).

use lambda_http::{Request, Response};
use serde_json::json;
use wxopen::miniprogram::{self, LoginError};
use wxopen::wechat::errcode;

use crate::UserIdentity;

pub async fn respond(identity: &UserIdentity, appid: &str, request: &Request) -> Response<String> {
    let login = miniprogram::login(
        &identity.tokens,
        &identity.accounts,
        &identity.issuer,
        appid,
        request.body().as_ref(),
    )
    .await;
    match login {
        Ok(login) => {
            tracing::info!(authorizer = appid, "mini program user logged in");
            let mut body = json!({
                "openid": login.openid,
                "session": login.session.token,
                "expires_in": login.session.expires_in,
            });
            if let Some(unionid) = login.unionid {
                body["unionid"] = unionid.into();
            }
            wxopen::html::json_response(200, &body)
        }
        Err(error) => {
            let status = error.status();
            if status >= 500 {
                tracing::error!(authorizer = appid, %error, "mini program login failed");
            } else {
                tracing::info!(authorizer = appid, %error, status, "mini program login refused");
            }
            let mut body = json!({ "error": error.code(), "message": error.to_string() });
            if let Some(code) = error.errcode() {
                body["errcode"] = code.into();
                body["errmsg"] = errmsg(&error, code).into();
            }
            wxopen::html::json_response(status, &body)
        }
    }
}

/// WeChat's own words for the errcodes a client branches on.
fn errmsg(error: &LoginError, code: i64) -> String {
    match code {
        errcode::INVALID_CODE => "invalid code".into(),
        errcode::CODE_BEEN_USED => "code been used".into(),
        errcode::UNAUTHORIZED => "api unauthorized".into(),
        _ => error.to_string(),
    }
}
