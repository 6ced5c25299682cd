//! The JS-SDK on behalf of an official account: `GET /cgi-bin/ticket/getticket?type=jsapi` with
//! the authorizer's access token hands out the account's `jsapi_ticket`, and a page's
//! `wx.config` is checked the way WeChat's JS-SDK checks it ([`Sandbox::verify_js_config`]):
//! `signature = hex(sha1("jsapi_ticket=T&noncestr=N&timestamp=TS&url=U"))` with a ticket of the
//! account that is still valid, U the page's address without its `#` part, and the page on the
//! platform's 网页开发域名 (`web_domains`). For browsers the sandbox serves a small stand-in for
//! WeChat's `jweixin.js` (`GET /sandbox/jssdk.js`) whose `wx.config` asks
//! `POST /sandbox/jssdk/verify` (open to any origin) and then calls `wx.ready` or `wx.error`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::errors::WxError;
use super::{Sandbox, Shared, random};

/// The name calls and faults use for getticket.
pub const API: &str = "getticket";

/// What the check answers for a signature that does not verify, whatever the reason (a wrong
/// or expired ticket, url, nonce or timestamp), as WeChat's JS-SDK does.
pub const INVALID_SIGNATURE: &str = "invalid signature";
/// What the check answers for a page off the 网页开发域名.
pub const INVALID_URL_DOMAIN: &str = "invalid url domain";

/// How far a `wx.config` timestamp may be from the sandbox's clock: a day either way (a
/// timestamp in milliseconds is far beyond it).
pub const TIMESTAMP_WINDOW_SECS: i64 = 86_400;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/cgi-bin/ticket/getticket", get(getticket))
        .route(
            "/sandbox/jssdk/verify",
            axum::routing::post(verify).options(preflight),
        )
        .route("/sandbox/jssdk.js", get(script))
}

/// The jsapi_tickets issued, per account; Debug shows counts, never a ticket.
#[derive(Default)]
pub struct JsapiTickets {
    by_appid: HashMap<String, Vec<(String, i64)>>,
}

impl std::fmt::Debug for JsapiTickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.by_appid.iter().map(|(a, t)| (a, t.len())))
            .finish()
    }
}

impl JsapiTickets {
    /// A new ticket for `appid`, valid until `expires_at`; earlier ones stay valid until theirs.
    pub fn issue(&mut self, appid: &str, now: i64, expires_at: i64) -> String {
        let ticket = random::string(86);
        let tickets = self.by_appid.entry(appid.to_owned()).or_default();
        tickets.retain(|(_, until)| now < *until);
        tickets.push((ticket.clone(), expires_at));
        ticket
    }

    /// `appid`'s tickets still valid at `now`, oldest first.
    pub fn valid(&self, appid: &str, now: i64) -> Vec<String> {
        self.by_appid
            .get(appid)
            .into_iter()
            .flatten()
            .filter(|(_, until)| now < *until)
            .map(|(t, _)| t.clone())
            .collect()
    }
}

/// getticket's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketAnswer {
    pub errcode: i64,
    pub errmsg: String,
    pub ticket: String,
    pub expires_in: i64,
}

async fn getticket(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let query = super::query_params(query);
    let token = query
        .get("access_token")
        .map(String::as_str)
        .filter(|t| !t.is_empty());
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
    let answer = ticket(&shared, token, query.get("type").map(String::as_str));
    if let Some(late) = late {
        tokio::time::sleep(late).await;
    }
    // The outcome only: the token and the ticket are credentials.
    match answer {
        Ok(answer) => {
            tracing::info!(api = API, errcode = 0, "jsapi_ticket issued");
            Json(answer).into_response()
        }
        Err(error) => {
            tracing::info!(api = API, errcode = error.errcode(), errmsg = %error, "getticket");
            Json(error.body()).into_response()
        }
    }
}

/// The token is checked first (missing 41001, unknown 40001, expired 42001), then the type.
fn ticket(
    shared: &Shared,
    token: Option<&str>,
    kind: Option<&str>,
) -> Result<TicketAnswer, WxError> {
    let token = token.ok_or(WxError::AccessTokenMissing)?;
    let now = shared.now();
    let mut state = shared.state();
    let appid = state.authorizer_access_token(token, now)?.to_owned();
    if kind != Some("jsapi") {
        return Err(WxError::InvalidArgs);
    }
    let ttl = state.rules().jsapi_ticket_ttl;
    let ticket = state.jsapi_tickets().issue(&appid, now, now + ttl);
    Ok(TicketAnswer {
        errcode: 0,
        errmsg: "ok".into(),
        ticket,
        expires_in: ttl,
    })
}

/// `hex(sha1("jsapi_ticket=T&noncestr=N&timestamp=TS&url=U"))`, WeChat's JS-SDK signature.
pub fn js_signature(ticket: &str, nonce_str: &str, timestamp: &str, url: &str) -> String {
    hex::encode(Sha1::digest(format!(
        "jsapi_ticket={ticket}&noncestr={nonce_str}&timestamp={timestamp}&url={url}"
    )))
}

/// Whether `url`'s host is on `domains`: `host` entries accept any port and subdomains (the
/// platform's 网页开发域名 covers its subdomains), `host:port` entries that exact address.
pub(crate) fn on_web_domains(domains: &[String], url: &url::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let address = url.port().map(|p| format!("{host}:{p}"));
    domains.iter().any(|d| {
        if d.contains(':') {
            address.as_deref() == Some(d.as_str())
        } else {
            host == d || host.ends_with(&format!(".{d}"))
        }
    })
}

impl Shared {
    fn verify_js_config(
        &self,
        appid: &str,
        url: &str,
        timestamp: &str,
        nonce_str: &str,
        signature: &str,
    ) -> Result<(), String> {
        // The JS-SDK signs the page's location.href without its fragment: so does the check.
        let page = url.split_once('#').map_or(url, |(page, _)| page);
        let refuse = |reason: &str, errmsg: &str| {
            tracing::info!(appid, reason, "wx.config refused");
            Err(errmsg.to_owned())
        };
        match url::Url::parse(page) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https")
                    && on_web_domains(&self.config.web_domains, &parsed) => {}
            _ => return refuse("the page is not on the 网页开发域名", INVALID_URL_DOMAIN),
        }
        let now = self.now();
        match timestamp.parse::<i64>() {
            Ok(ts)
                if timestamp.bytes().all(|b| b.is_ascii_digit())
                    && (ts - now).abs() <= TIMESTAMP_WINDOW_SECS => {}
            _ => {
                return refuse(
                    "timestamp is not Unix seconds within a day",
                    INVALID_SIGNATURE,
                );
            }
        }
        if nonce_str.is_empty() {
            return refuse("no nonceStr", INVALID_SIGNATURE);
        }
        let tickets = self.state().jsapi_tickets().valid(appid, now);
        if tickets
            .iter()
            .any(|t| js_signature(t, nonce_str, timestamp, page) == signature)
        {
            tracing::info!(appid, "wx.config accepted");
            Ok(())
        } else {
            refuse(
                "no valid jsapi_ticket of the account gives this signature",
                INVALID_SIGNATURE,
            )
        }
    }
}

impl Sandbox {
    /// `appid`'s jsapi_tickets that are still valid, oldest first (newest last).
    pub fn jsapi_tickets(&self, appid: &str) -> Vec<String> {
        let now = self.shared.now();
        self.shared.state().jsapi_tickets().valid(appid, now)
    }

    /// The check WeChat's JS-SDK makes of `wx.config` on the page at `url`: `Err` carries the
    /// message `wx.error` would get after `config:` ([`INVALID_SIGNATURE`],
    /// [`INVALID_URL_DOMAIN`]). The signature must be lowercase hex over a valid ticket of
    /// `appid`, with `url` cut at `#`; the timestamp Unix seconds within a day of the sandbox's
    /// clock ([`TIMESTAMP_WINDOW_SECS`]).
    pub fn verify_js_config(
        &self,
        appid: &str,
        url: &str,
        timestamp: impl std::fmt::Display,
        nonce_str: &str,
        signature: &str,
    ) -> Result<(), String> {
        self.shared
            .verify_js_config(appid, url, &timestamp.to_string(), nonce_str, signature)
    }
}

/// `POST /sandbox/jssdk/verify`: `wx.config`'s fields and the page's `url`. The timestamp may
/// be a number or a string, as pages pass either.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsConfigCheck {
    pub app_id: String,
    pub timestamp: serde_json::Value,
    pub nonce_str: String,
    pub signature: String,
    pub url: String,
}

/// `{"ok": true}`, or `{"ok": false, "errmsg": "invalid signature"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsConfigVerdict {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errmsg: Option<String>,
}

/// Pages on any origin may ask (the JS-SDK is loaded by the platform's pages).
fn cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

async fn preflight() -> Response {
    cors(StatusCode::NO_CONTENT.into_response())
}

async fn verify(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Response {
    let check: JsConfigCheck = match serde_json::from_slice(&bytes) {
        Ok(check) => check,
        Err(error) => {
            return cors(super::control::ControlError::Body(error.to_string()).into_response());
        }
    };
    let timestamp = match &check.timestamp {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let verdict = match shared.verify_js_config(
        &check.app_id,
        &check.url,
        &timestamp,
        &check.nonce_str,
        &check.signature,
    ) {
        Ok(()) => JsConfigVerdict {
            ok: true,
            errmsg: None,
        },
        Err(errmsg) => JsConfigVerdict {
            ok: false,
            errmsg: Some(errmsg),
        },
    };
    cors(Json(verdict).into_response())
}

/// The stand-in for `jweixin.js`: `wx.config`, `wx.ready`, `wx.error`.
pub const SCRIPT: &str = include_str!("jssdk.js");

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        SCRIPT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_wechats_example() {
        // WeChat's JS-SDK documentation (附录1) signs this example.
        assert_eq!(
            js_signature(
                "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
                "Wm3WZYTPz0wzccnW",
                "1414587457",
                "http://mp.weixin.qq.com?params=value",
            ),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
    }

    #[test]
    fn web_domains_cover_subdomains_and_exact_addresses() {
        let domains = vec!["example.com".to_owned(), "127.0.0.1:9000".to_owned()];
        let on = |u: &str| on_web_domains(&domains, &url::Url::parse(u).unwrap());
        assert!(on("https://example.com/a"));
        assert!(on("https://m.example.com:8443/a"));
        assert!(!on("https://badexample.com/a"));
        assert!(on("http://127.0.0.1:9000/page"));
        assert!(!on("http://127.0.0.1:9001/page"));
    }

    #[test]
    fn tickets_stay_valid_until_their_own_expiry() {
        let mut tickets = JsapiTickets::default();
        let first = tickets.issue("wxa", 0, 7200);
        let second = tickets.issue("wxa", 100, 7300);
        assert_eq!(tickets.valid("wxa", 7199), vec![first, second.clone()]);
        assert_eq!(tickets.valid("wxa", 7200), vec![second]);
        assert!(tickets.valid("wxb", 0).is_empty());
        assert_eq!(format!("{tickets:?}"), "{\"wxa\": 2}");
    }
}
