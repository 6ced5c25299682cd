//! `GET /authorize`: the merchant lands on our page (on the 授权发起页域名) and, by a click, goes
//! on to WeChat's authorization page. The click is what makes WeChat's Referer check pass: a
//! link pasted into a chat has no Referer, so WeChat's page is never linked to directly.
//!
//! Only links the platform signed are served ([`wxopen::links`]): an unsigned, altered or
//! expired link gets a page saying which, before any call to WeChat or any write.
//!
//! - `?merchant=ID&auth_type=1|2|3[&biz_appid=wx..][&mode=pc|mobile]&expires=..&sig=..`: the
//!   landing page;
//! - the same with `&go=1` (its button): a fresh pre_auth_code, a session, a 302 to WeChat;
//! - `Accept: application/json` or `&format=json`: `{"url", "expires_in"}` for platforms that
//!   build their own page (which must be on the 授权发起页域名 too).
//!
//! Each of the last two starts an authorization: one link starts at most
//! [`links::STARTS_PER_WINDOW`] per [`links::START_WINDOW_SECS`].
//!
//! `POST /links` (IAM-authorized, for the platform's back office): `{merchant, auth_type?,
//! biz_appid?, mode?, ttl_secs?}` answers `{"url", "expires_at"}`, a freshly signed link.

use std::time::Duration;

use lambda_http::http::{Method, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize;
use serde_json::json;
use wxopen::authorization::{self, LinkParams, LinkRequest, Pages};
use wxopen::html::{self, escape};
use wxopen::links::{self, LinkKeyCache, MintFailure, Minted, SignedLink};
use wxopen::tokens::Tokens;
use wxopen::{Config, ConfigError};

/// What the handler needs, built once per container.
#[derive(Debug)]
pub struct AuthLink {
    pub tokens: Tokens,
    pub pages: Pages,
    /// The key links are signed with.
    pub link_key: LinkKeyCache,
}

impl AuthLink {
    pub fn new(config: &Config, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let public_base_url = config
            .public_base_url
            .clone()
            .ok_or(ConfigError::Missing("PUBLIC_BASE_URL"))?;
        Ok(Self {
            tokens: Tokens::from_config(config, aws).caching_component_token(),
            pages: Pages {
                mp_base: config.wechat_mp_base.clone(),
                open_base: config.wechat_open_base.clone(),
                public_base_url,
            },
            link_key: links::key_cache(
                aws_sdk_secretsmanager::Client::new(aws),
                &config.link_secret_id,
                config.secret_max_age,
            ),
        })
    }

    /// A link for `params`, valid for `ttl` from now.
    pub async fn mint(&self, params: LinkParams, ttl: Duration) -> Result<Minted, MintFailure> {
        links::mint_url(
            &self.link_key,
            &self.pages.public_base_url,
            params,
            self.tokens.now(),
            ttl,
        )
        .await
    }
}

/// The Lambda handler: `POST /links`, else `GET /authorize`.
pub async fn handle(
    link: &AuthLink,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let response = if request
        .uri()
        .path()
        .trim_end_matches('/')
        .ends_with("/links")
    {
        mint_link(link, &request).await
    } else {
        respond(link, &request).await
    };
    Ok(response.map(Body::from))
}

/// `POST /links`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MintBody {
    merchant: String,
    auth_type: Option<u8>,
    biz_appid: Option<String>,
    mode: Option<String>,
    ttl_secs: Option<u64>,
}

/// `POST /links`: a signed link for the platform's back office (behind IAM).
pub async fn mint_link(link: &AuthLink, request: &Request) -> Response<String> {
    let refuse = |status, error: &str, message: &str| {
        html::json_response(status, &json!({ "error": error, "message": message }))
    };
    if request.method() != Method::POST {
        return refuse(405, "method_not_allowed", "only POST is accepted");
    }
    if token_vendor::caller(request).is_none() {
        return refuse(
            403,
            "no_iam_caller",
            "the request carries no IAM caller: the route must use AWS_IAM authorization",
        );
    }
    let body: MintBody = match serde_json::from_slice(request.body().as_ref()) {
        Ok(body) => body,
        Err(error) => {
            return refuse(
                400,
                "bad_request",
                &format!(
                    "the body must be {{merchant, auth_type?, biz_appid?, mode?, ttl_secs?}}: {}",
                    body_error(&error)
                ),
            );
        }
    };
    let params = LinkParams::from_fields(
        &body.merchant,
        body.auth_type,
        body.biz_appid.as_deref(),
        body.mode.as_deref(),
    );
    let params = match params {
        Ok(params) => params,
        Err(error) => return refuse(400, "bad_request", &error.to_string()),
    };
    let ttl = Duration::from_secs(body.ttl_secs.unwrap_or(links::DEFAULT_TTL.as_secs()));
    match link.mint(params, ttl).await {
        Ok(minted) => {
            tracing::info!(
                caller = token_vendor::caller(request),
                expires_at = minted.expires_at,
                "link minted"
            );
            html::json_response(200, &json!(minted))
        }
        Err(MintFailure::Request(error)) => refuse(400, "bad_request", &error.to_string()),
        Err(error @ MintFailure::Key(_)) => {
            tracing::error!(%error, "could not mint a link");
            refuse(
                502,
                "link_key_unavailable",
                "the link key could not be read",
            )
        }
    }
}

/// serde_json's message without the value it may quote.
fn body_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.split_once(" at line") {
        Some((what, _)) if !what.contains('"') || what.starts_with("missing field") => {
            what.to_owned()
        }
        _ => format!("{:?} error", error.classify()).to_lowercase(),
    }
}

async fn respond(link: &AuthLink, request: &Request) -> Response<String> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return html::response(
            405,
            error_page("只接受 GET 请求。", "Only GET is accepted.", None),
        );
    }
    let query = request.query_string_parameters();
    let param = |name: &str| query.first(name);
    let wants_json = param("format") == Some("json")
        || request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let refuse = |status: u16, zh: &str, en: &str| {
        if wants_json {
            html::json_response(status, &json!({ "error": en }))
        } else {
            html::response(status, error_page(zh, en, None))
        }
    };

    let params = match LinkParams::parse(param) {
        Ok(params) => params,
        Err(error) => {
            tracing::info!(%error, "bad authorization link");
            return refuse(400, "链接参数有误。", &error.to_string());
        }
    };
    let signed = match link.link_key.keys().await {
        Ok(key) => links::verify(
            &key,
            params,
            param("expires"),
            param("sig"),
            link.tokens.now(),
        ),
        Err(error) => {
            tracing::error!(%error, "the link key could not be read");
            return refuse(
                502,
                "暂时无法验证此链接，请稍后重试。",
                "The link could not be checked just now; try again in a moment.",
            );
        }
    };
    let signed = match signed {
        Ok(signed) => signed,
        Err(refusal) => {
            tracing::info!(%refusal, "authorization link refused");
            return refuse(refusal.status(), refusal.zh(), &refusal.to_string());
        }
    };
    let link_request = signed.params.resolve(user_agent);
    let again = format!("?{}", signed.to_query());
    if !wants_json && param("go").is_none() {
        return html::response(200, landing_page(&link_request, &format!("{again}&go=1")));
    }
    if let Some(refused) = count_start(link, &signed, wants_json).await {
        return refused;
    }
    let started = authorization::start(&link.tokens, &link.pages, &link_request).await;
    match (started, wants_json) {
        (Ok(started), true) => html::json_response(
            200,
            &json!({ "url": started.url, "expires_in": started.expires_in }),
        ),
        (Ok(started), false) => html::redirect(&started.url),
        (Err(error), true) => {
            tracing::error!(%error, "could not start an authorization");
            html::json_response(502, &json!({ "error": error.to_string() }))
        }
        (Err(error), false) => {
            tracing::error!(%error, "could not start an authorization");
            html::response(
                502,
                error_page(
                    "暂时无法连接微信，授权未能开始。",
                    &format!("WeChat could not be reached to start the authorization: {error}"),
                    Some(&again),
                ),
            )
        }
    }
}

/// Counts the start against the link's allowance; the refusal when it is spent.
async fn count_start(
    link: &AuthLink,
    signed: &SignedLink,
    wants_json: bool,
) -> Option<Response<String>> {
    let now = link.tokens.now();
    let retry_after = links::START_WINDOW_SECS - now.rem_euclid(links::START_WINDOW_SECS);
    let counted = link
        .tokens
        .store
        .count_link_start(
            &link.tokens.component,
            &signed.signature,
            now,
            links::START_WINDOW_SECS,
            links::STARTS_PER_WINDOW,
        )
        .await;
    let (status, zh, en) = match counted {
        Ok(true) => return None,
        Ok(false) => {
            tracing::warn!(merchant = %signed.params.merchant, "link started too many authorizations");
            (
                429,
                "此链接的授权尝试过于频繁，请稍后再试。",
                format!(
                    "This link has started {} authorizations this hour; try again in {} minutes.",
                    links::STARTS_PER_WINDOW,
                    (retry_after + 59) / 60
                ),
            )
        }
        Err(error) => {
            tracing::error!(%error, "could not count the link's authorizations");
            (
                502,
                "暂时无法开始授权，请稍后重试。",
                "The authorization could not be started just now; try again in a moment.".into(),
            )
        }
    };
    let mut response = if wants_json {
        html::json_response(status, &json!({ "error": en }))
    } else {
        html::response(status, error_page(zh, &en, None))
    };
    if status == 429 {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
    }
    Some(response)
}

fn landing_page(request: &LinkRequest, go: &str) -> String {
    let what = match (&request.biz_appid, request.auth_type) {
        (Some(_), _) => ("指定的公众号或小程序", "the designated account"),
        (None, 1) => ("公众号", "Official Account"),
        (None, 2) => ("小程序", "Mini Program"),
        (None, _) => ("公众号或小程序", "Official Account or Mini Program"),
    };
    let how = if request.mobile {
        ("在微信中确认授权", "confirm in WeChat")
    } else {
        (
            "使用公众号或小程序管理员的微信扫码确认",
            "scan the QR code with the administrator's WeChat",
        )
    };
    html::page(
        "授权 | Authorize",
        &format!(
            r#"<h1>授权{what_zh}给我们的平台</h1>
<p class="en">Authorize your {what_en} for our platform</p>
<p>点击下方按钮前往微信授权页，{how_zh}。授权后您将回到本站查看结果。</p>
<p class="en">The button takes you to WeChat's authorization page; {how_en}. You will then come back here to see the result.</p>
<p><a class="button" href="{go}">前往微信授权 · Authorize with WeChat</a></p>
<p><small>商户 Merchant: {merchant}</small></p>"#,
            what_zh = what.0,
            what_en = what.1,
            how_zh = how.0,
            how_en = how.1,
            go = escape(go),
            merchant = escape(&request.merchant),
        ),
    )
}

/// A page that says what went wrong, in Chinese then English, with a way to try again.
pub fn error_page(zh: &str, en: &str, retry: Option<&str>) -> String {
    let retry = retry.map_or(String::new(), |href| {
        format!(
            r#"<p><a class="button" href="{}">重试 · Try again</a></p>"#,
            escape(href)
        )
    });
    html::page(
        "授权未完成 | Authorization not completed",
        &format!(
            r#"<h1 class="error">{}</h1><p class="en">{}</p>{retry}"#,
            escape(zh),
            escape(en)
        ),
    )
}
