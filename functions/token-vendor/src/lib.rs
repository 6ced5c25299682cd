//! Token vending for the platform's other services, whatever their language:
//! `GET /tokens/component` and `GET /tokens/authorizers/{appid}` answer a fresh access token.
//!
//! The route is IAM-authorized at API Gateway (template.yaml); the handler also refuses a request
//! that carries no IAM caller, so a route deployed without authorization vends nothing.

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use wxopen::Config;
use wxopen::tokens::{AccessToken, TokenError, Tokens};

/// What the handler needs, built once per container.
#[derive(Debug)]
pub struct TokenVendor {
    pub tokens: Tokens,
}

impl TokenVendor {
    pub fn new(config: &Config, aws: &aws_config::SdkConfig) -> Self {
        Self {
            tokens: Tokens::from_config(config, aws),
        }
    }
}

/// Which token is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    Component,
    Authorizer(String),
}

/// Why no token was vended.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("only GET is accepted")]
    Method,
    #[error("no such token route: use /tokens/component or /tokens/authorizers/{{appid}}")]
    NotFound,
    #[error("the request carries no IAM caller: the route must use AWS_IAM authorization")]
    Unsigned,
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// The JSON error body.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errcode: Option<i64>,
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Method => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unsigned => StatusCode::FORBIDDEN,
            Self::Token(error) => match error {
                TokenError::UnknownAuthorizer(_) => StatusCode::NOT_FOUND,
                TokenError::NotAuthorized { .. } => StatusCode::CONFLICT,
                TokenError::RefreshInProgress => StatusCode::SERVICE_UNAVAILABLE,
                TokenError::Wechat(_)
                | TokenError::ComponentTokenBackoff { .. }
                | TokenError::NoTicket
                | TokenError::StaleTicket(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// A stable, machine-readable name for callers to branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Method => "method_not_allowed",
            Self::NotFound => "not_found",
            Self::Unsigned => "unsigned",
            Self::Token(error) => match error {
                TokenError::UnknownAuthorizer(_) => "unknown_authorizer",
                TokenError::NotAuthorized { .. } => "not_authorized",
                TokenError::RefreshInProgress => "refresh_in_progress",
                TokenError::Wechat(_) | TokenError::ComponentTokenBackoff { .. } => "wechat_error",
                TokenError::NoTicket | TokenError::StaleTicket(_) => "no_ticket",
                _ => "internal",
            },
        }
    }
}

/// The answer: the token and when it expires; callers may cache it until `expires_at`.
#[derive(Debug, Serialize)]
struct Vended<'a> {
    access_token: &'a str,
    /// Unix seconds.
    expires_at: i64,
    expires_in: i64,
}

/// The route a path asks for, under any prefix (a function URL or `cargo lambda watch` adds one).
pub fn wanted(path: &str) -> Option<Wanted> {
    let segments: Vec<&str> = path.trim_end_matches('/').rsplit('/').take(3).collect();
    match segments.as_slice() {
        ["component", "tokens", ..] => Some(Wanted::Component),
        [appid, "authorizers", "tokens"] if !appid.is_empty() => {
            Some(Wanted::Authorizer((*appid).to_owned()))
        }
        _ => None,
    }
}

/// The IAM caller API Gateway (or a function URL) verified, if any.
pub fn caller(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => {
            context.authorizer.as_ref()?.iam.as_ref()?.user_arn.clone()
        }
        _ => None,
    }
}

/// The Lambda handler: always an HTTP answer, never a function error.
pub async fn handle(
    vendor: &TokenVendor,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let response = match vend(vendor, &request).await {
        Ok((wanted, token)) => {
            tracing::info!(token = ?wanted, caller = caller(&request), expires_at = token.expires_at, "token vended");
            let now = wxopen::unix_now();
            json(
                StatusCode::OK,
                &Vended {
                    access_token: token.token.expose(),
                    expires_at: token.expires_at,
                    expires_in: (token.expires_at - now).max(0),
                },
            )
        }
        Err(refusal) => {
            let status = refusal.status();
            if status.is_server_error() {
                tracing::error!(reason = %refusal, "no token vended");
            } else {
                tracing::warn!(reason = %refusal, status = status.as_u16(), "token refused");
            }
            let errcode = match &refusal {
                Refusal::Token(error) => error.errcode(),
                _ => None,
            };
            json(
                status,
                &ErrorBody {
                    error: refusal.code(),
                    message: refusal.to_string(),
                    errcode,
                },
            )
        }
    };
    Ok(response)
}

/// The token a request asks for.
pub async fn vend(
    vendor: &TokenVendor,
    request: &Request,
) -> Result<(Wanted, AccessToken), Refusal> {
    if request.method() != Method::GET {
        return Err(Refusal::Method);
    }
    let wanted = wanted(request.uri().path()).ok_or(Refusal::NotFound)?;
    if caller(request).is_none() {
        return Err(Refusal::Unsigned);
    }
    let token = match &wanted {
        Wanted::Component => vendor.tokens.component_access_token_until().await?,
        Wanted::Authorizer(appid) => vendor.tokens.authorizer_access_token_until(appid).await?,
    };
    Ok((wanted, token))
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        // A token must not sit in a shared cache.
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(
            serde_json::to_string(body).expect("answers serialize"),
        ))
        .expect("a static status and headers always build")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_found_under_any_prefix() {
        assert_eq!(wanted("/tokens/component"), Some(Wanted::Component));
        assert_eq!(
            wanted("/lambda-url/token-vendor/tokens/authorizers/wx1/"),
            Some(Wanted::Authorizer("wx1".into()))
        );
        assert_eq!(wanted("/tokens/authorizers/"), None);
        assert_eq!(wanted("/tokens"), None);
        assert_eq!(wanted("/tokens/other"), None);
    }
}
