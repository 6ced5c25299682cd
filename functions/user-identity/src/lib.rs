//! Authorized accounts' users, served on behalf of the accounts (docs/users.md):
//!
//! - `POST /miniprogram/{appid}/login`: a mini program user's identity token ([`miniprogram`]);
//! - `GET /jssdk/{appid}/config?url=`: `wx.config` parameters for one page ([`jssdk`]);
//! - `GET /oauth/{appid}/authorize` and `GET /oauth/{appid}/callback`: web login on behalf of an
//!   official account ([`oauth`]);
//! - `GET /.well-known/jwks.json`: the public keys of the identity token ([`jwks`]).
//!
//! Every route is public (throttled at API Gateway). Routes are found by their path's end, so
//! the handler answers the same under any prefix (a function URL, `cargo lambda watch`).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use wxopen::accounts::AuthorizedAccounts;
use wxopen::identity::Issuer;
use wxopen::links;
use wxopen::oauth::{Endpoints, WebLogin};
use wxopen::tokens::Tokens;
use wxopen::{Config, ConfigError};

pub mod jssdk;
pub mod jwks;
pub mod miniprogram;
pub mod oauth;

/// What the handler needs, built once per container.
#[derive(Debug)]
pub struct UserIdentity {
    pub tokens: Tokens,
    /// Signs identity tokens and publishes their keys.
    pub issuer: Issuer,
    /// The accounts served, as last read (per container, briefly).
    pub accounts: AuthorizedAccounts,
    /// The origins whose pages may have a JS-SDK configuration signed.
    pub jssdk_origins: Vec<String>,
    /// Web login: WeChat's page, the return addresses, the key states are signed with.
    pub web_login: WebLogin,
}

impl UserIdentity {
    pub fn new(config: &Config, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let public_base_url = config
            .public_base_url
            .clone()
            .ok_or(ConfigError::Missing("PUBLIC_BASE_URL"))?;
        Ok(Self {
            web_login: WebLogin {
                endpoints: Endpoints {
                    open_base: config.wechat_open_base.clone(),
                    public_base_url,
                    component_appid: config.component_appid.clone(),
                },
                return_to: config.oauth_return_to.clone(),
                link_key: links::key_cache(
                    aws_sdk_secretsmanager::Client::new(aws),
                    &config.link_secret_id,
                    config.secret_max_age,
                ),
            },
            tokens: Tokens::from_config(config, aws).caching_component_token(),
            issuer: Issuer::from_config(config, aws)
                .ok_or(ConfigError::Missing("PUBLIC_BASE_URL"))?,
            accounts: AuthorizedAccounts::default(),
            jssdk_origins: config.jssdk_origins.clone(),
        })
    }
}

/// The routes, by their path's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /.well-known/jwks.json`
    Jwks,
    /// `POST /miniprogram/{appid}/login`
    MiniProgramLogin(String),
    /// `GET /jssdk/{appid}/config`
    JssdkConfig(String),
    /// `GET /oauth/{appid}/authorize`
    OAuthAuthorize(String),
    /// `GET /oauth/{appid}/callback`
    OAuthCallback(String),
}

impl Route {
    /// The route `path` ends with, if any.
    pub fn of(path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_end_matches('/').rsplit('/').take(3).collect();
        match segments.as_slice() {
            ["jwks.json", ".well-known", ..] => Some(Self::Jwks),
            ["login", appid, "miniprogram"] if !appid.is_empty() => {
                Some(Self::MiniProgramLogin((*appid).to_owned()))
            }
            ["config", appid, "jssdk"] if !appid.is_empty() => {
                Some(Self::JssdkConfig((*appid).to_owned()))
            }
            ["authorize", appid, "oauth"] if !appid.is_empty() => {
                Some(Self::OAuthAuthorize((*appid).to_owned()))
            }
            ["callback", appid, "oauth"] if !appid.is_empty() => {
                Some(Self::OAuthCallback((*appid).to_owned()))
            }
            _ => None,
        }
    }

    /// The methods the route accepts.
    fn accepts(&self, method: &Method) -> bool {
        match self {
            Self::Jwks => method == Method::GET || method == Method::HEAD,
            Self::MiniProgramLogin(_) => method == Method::POST,
            Self::JssdkConfig(_) => method == Method::GET,
            Self::OAuthAuthorize(_) | Self::OAuthCallback(_) => {
                method == Method::GET || method == Method::HEAD
            }
        }
    }
}

/// The Lambda handler: always an HTTP answer, never a function error.
pub async fn handle(
    identity: &UserIdentity,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let response = match Route::of(request.uri().path()) {
        None => refuse(404, "not_found", "no such route"),
        Some(route) if !route.accepts(request.method()) => refuse(
            405,
            "method_not_allowed",
            "this route does not accept this method",
        ),
        Some(Route::Jwks) => jwks::respond(identity).await,
        Some(Route::MiniProgramLogin(appid)) => {
            miniprogram::respond(identity, &appid, &request).await
        }
        Some(Route::JssdkConfig(appid)) => jssdk::respond(identity, &appid, &request).await,
        Some(Route::OAuthAuthorize(appid)) => oauth::authorize(identity, &appid, &request).await,
        Some(Route::OAuthCallback(appid)) => oauth::callback(identity, &appid, &request).await,
    };
    Ok(response.map(Body::from))
}

/// A JSON refusal: `{"error", "message"}`.
pub fn refuse(status: u16, error: &str, message: &str) -> Response<String> {
    wxopen::html::json_response(status, &json!({ "error": error, "message": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_found_under_any_prefix() {
        assert_eq!(Route::of("/.well-known/jwks.json"), Some(Route::Jwks));
        assert_eq!(Route::of("/prod/.well-known/jwks.json/"), Some(Route::Jwks));
        assert_eq!(
            Route::of("/dev/miniprogram/wx5d8a1f3c7e9b2046/login"),
            Some(Route::MiniProgramLogin("wx5d8a1f3c7e9b2046".into()))
        );
        assert_eq!(Route::of("/miniprogram//login"), None);
        assert_eq!(
            Route::of("/jssdk/wx3f2a6c8d1e4b7a90/config"),
            Some(Route::JssdkConfig("wx3f2a6c8d1e4b7a90".into()))
        );
        assert_eq!(
            Route::of("/oauth/wx1c4e7a9d2b5f8036/authorize"),
            Some(Route::OAuthAuthorize("wx1c4e7a9d2b5f8036".into()))
        );
        assert_eq!(
            Route::of("/prod/oauth/wx1c4e7a9d2b5f8036/callback"),
            Some(Route::OAuthCallback("wx1c4e7a9d2b5f8036".into()))
        );
        assert_eq!(Route::of("/jwks.json"), None);
        assert_eq!(Route::of("/"), None);
    }
}
