//! `GET /oauth/{appid}/authorize` and `GET /oauth/{appid}/callback`: web login on behalf of an
//! official account (see [`wxopen::oauth`]). Both answer a redirect or a bilingual error page:
//! the user is in a browser, inside WeChat.

use lambda_http::http::header;
use lambda_http::{Request, RequestExt, Response};
use wxopen::html::{self, escape};
use wxopen::oauth::{self, Callback, WebLoginError};

use crate::UserIdentity;

/// `?scope=snsapi_base|snsapi_userinfo&return_to=URL`: the nonce cookie and a 302 to WeChat.
pub async fn authorize(
    identity: &UserIdentity,
    appid: &str,
    request: &Request,
) -> Response<String> {
    let query = request.query_string_parameters();
    let started = oauth::authorize(
        &identity.tokens,
        &identity.accounts,
        &identity.web_login,
        appid,
        query.first("scope"),
        query.first("return_to"),
    )
    .await;
    match started {
        Ok(started) => {
            tracing::info!(authorizer = appid, "web login started");
            let mut response = html::redirect(&started.location);
            response.headers_mut().insert(
                header::SET_COOKIE,
                started
                    .set_cookie
                    .parse()
                    .expect("a cookie of URL-safe characters"),
            );
            response
        }
        Err(error) => error_page(appid, &error),
    }
}

/// `?code&state&appid` from WeChat: back to return_to with the identity token in the fragment.
pub async fn callback(identity: &UserIdentity, appid: &str, request: &Request) -> Response<String> {
    let query = request.query_string_parameters();
    let cookies: Vec<&str> = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let finished = oauth::callback(
        &identity.tokens,
        &identity.accounts,
        &identity.issuer,
        &identity.web_login,
        appid,
        Callback {
            code: query.first("code"),
            state: query.first("state"),
            appid: query.first("appid"),
        },
        &cookies,
    )
    .await;
    match finished {
        Ok(finished) => {
            if finished.logged_in {
                tracing::info!(authorizer = appid, "web login finished");
            } else {
                tracing::info!(authorizer = appid, "web login refused by the user");
            }
            let mut response = html::redirect(&finished.location);
            response.headers_mut().insert(
                header::SET_COOKIE,
                identity
                    .web_login
                    .endpoints
                    .clear_cookie()
                    .parse()
                    .expect("a static cookie"),
            );
            response
        }
        Err(error) => error_page(appid, &error),
    }
}

fn error_page(appid: &str, error: &WebLoginError) -> Response<String> {
    let status = error.status();
    if status >= 500 {
        tracing::error!(authorizer = appid, %error, "web login failed");
    } else {
        tracing::info!(authorizer = appid, %error, status, "web login refused");
    }
    let errcode = error
        .errcode()
        .map(|code| format!("<p><small>errcode {code}</small></p>"))
        .unwrap_or_default();
    let body = format!(
        "<h1>登录失败</h1><p class=\"en\">Login failed</p><p class=\"error\">{}</p>\
         <p class=\"en\">{}</p>{errcode}<p><small>{}</small></p>",
        escape(error.zh()),
        escape(&error.to_string()),
        escape(error.code()),
    );
    html::response(status, html::page("登录失败 | Login failed", &body))
}
