//! `GET /authorize`: the merchant lands on our page (on the 授权发起页域名) and, by a click, goes
//! on to WeChat's authorization page. The click is what makes WeChat's Referer check pass: a
//! link pasted into a chat has no Referer, so WeChat's page is never linked to directly.
//!
//! - `?merchant=ID[&auth_type=1|2|3][&biz_appid=wx..][&mode=pc|mobile]`: the landing page;
//! - the same with `&go=1` (its button): a fresh pre_auth_code, a session, a 302 to WeChat;
//! - `Accept: application/json` or `&format=json`: `{"url", "expires_in"}` for platforms that
//!   build their own page (which must be on the 授权发起页域名 too).

use lambda_http::http::{Method, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use wxopen::authorization::{self, LinkRequest, Pages};
use wxopen::html::{self, escape};
use wxopen::tokens::Tokens;
use wxopen::{Config, ConfigError};

/// What the handler needs, built once per container.
#[derive(Debug)]
pub struct AuthLink {
    pub tokens: Tokens,
    pub pages: Pages,
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
        })
    }
}

pub async fn handle(
    link: &AuthLink,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(respond(link, &request).await.map(Body::from))
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

    let link_request = match LinkRequest::parse(param, user_agent) {
        Ok(r) => r,
        Err(error) => {
            tracing::info!(%error, "bad authorization link");
            return if wants_json {
                html::json_response(400, &json!({ "error": error.to_string() }))
            } else {
                html::response(400, error_page("链接参数有误。", &error.to_string(), None))
            };
        }
    };

    if wants_json {
        return match authorization::start(&link.tokens, &link.pages, &link_request).await {
            Ok(started) => html::json_response(
                200,
                &json!({ "url": started.url, "expires_in": started.expires_in }),
            ),
            Err(error) => {
                tracing::error!(%error, "could not start an authorization");
                html::json_response(502, &json!({ "error": error.to_string() }))
            }
        };
    }

    let again = format!("?{}", link_request.to_query());
    if param("go").is_none() {
        return html::response(200, landing_page(&link_request, &format!("{again}&go=1")));
    }
    match authorization::start(&link.tokens, &link.pages, &link_request).await {
        Ok(started) => html::redirect(&started.url),
        Err(error) => {
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
