//! The authorization pages (docs/protocol.md#authorization-links), PC and mobile, under WeChat's paths. A plain HTML
//! form stands in for WeChat's QR code and phone confirmation: the simulated administrator picks
//! an account and permission sets and confirms; the browser is then sent to `redirect_uri` and
//! WeChat pushes `authorized` (or `updateauthorized`) to the event URL.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::accounts::{Account, AccountKind, PERMISSION_SETS};
use super::pushes::PushMessage;
use super::state::PreAuthCodeError;
use super::{GrantError, SandboxError, Shared};

/// The PC page (QR code), the mobile page, and the mobile page's older address.
pub const PAGE_PATHS: [&str; 3] = [
    "/cgi-bin/componentloginpage",
    "/wxaopen/safe/bindcomponent",
    "/safe/bindcomponent",
];

/// What the redirect to redirect_uri says, whatever the code's real lifetime (as WeChat's does).
pub const REDIRECT_EXPIRES_IN: u32 = 600;

/// WeChat's wording when the Referer or redirect_uri is not on the 授权发起页域名.
const DOMAIN_RULE: &str = "请确认授权入口页所在域名，与授权后回调页所在域名相同，并且，此两者都必须与申请第三方平台时填写的授权发起页域名相同。";

pub fn routes() -> Router<Arc<Shared>> {
    PAGE_PATHS.iter().fold(Router::new(), |router, path| {
        router.route(path, get(page).post(confirm))
    })
}

/// Why a page refuses to go on; the text is what the administrator sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("{DOMAIN_RULE}授权入口页所在域名：空")]
    NoReferer,
    #[error("{DOMAIN_RULE}授权入口页所在域名：{0}")]
    RefererDomain(String),
    #[error("{DOMAIN_RULE}授权后回调页所在域名：{0}")]
    RedirectDomain(String),
    #[error("参数错误：缺少 {0}")]
    Missing(&'static str),
    #[error("参数错误：component_appid 不是本第三方平台")]
    WrongComponent,
    #[error("授权链接已失效（{0}），请回到第三方平台重新发起授权")]
    PreAuthCode(PreAuthCodeError),
    #[error("参数错误：auth_type 只能是 1、2 或 3")]
    AuthType,
    #[error("参数错误：biz_appid 不是可授权的帐号")]
    BizAppid,
    #[error("请选择要授权的帐号")]
    NoAccount,
    #[error("该帐号不在本次可授权的范围内")]
    NotEligible,
    #[error("请至少选择一项权限")]
    NoPermissionSets,
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NoReferer | Self::RefererDomain(_) | Self::RedirectDomain(_) => {
                StatusCode::FORBIDDEN
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = format!(
            "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <title>授权出错</title></head><body><h1>授权出错</h1><p class=\"error\">{}</p>\
             </body></html>",
            escape(&self.to_string())
        );
        (self.status(), Html(body)).into_response()
    }
}

/// The request's parameters, checked.
struct Checked {
    pre_auth_code: String,
    redirect_uri: url::Url,
    auth_type: u8,
    biz_appid: Option<String>,
}

pub(crate) fn params(
    pairs: impl Iterator<Item = (String, String)>,
) -> HashMap<String, Vec<String>> {
    pairs.fold(HashMap::new(), |mut map, (k, v)| {
        map.entry(k).or_default().push(v);
        map
    })
}

pub(crate) fn first<'a>(params: &'a HashMap<String, Vec<String>>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .and_then(|v| v.first())
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// `host[:port]` of a URL, the port only when it is explicit.
fn domain_of(url: &url::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// A configured domain without a port accepts any port.
fn domain_allowed(shared: &Shared, domain: &str) -> bool {
    let host = domain.rsplit_once(':').map_or(domain, |(h, _)| h);
    shared
        .config
        .auth_domains
        .iter()
        .any(|d| d == domain || (!d.contains(':') && d == host))
}

fn check_referer(shared: &Shared, headers: &HeaderMap) -> Result<(), PageError> {
    let referer = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or(PageError::NoReferer)?;
    let domain = url::Url::parse(referer)
        .ok()
        .and_then(|u| domain_of(&u))
        .ok_or(PageError::NoReferer)?;
    if domain_allowed(shared, &domain) {
        Ok(())
    } else {
        Err(PageError::RefererDomain(domain))
    }
}

fn check_params(
    shared: &Shared,
    params: &HashMap<String, Vec<String>>,
) -> Result<Checked, PageError> {
    let component_appid =
        first(params, "component_appid").ok_or(PageError::Missing("component_appid"))?;
    if component_appid != shared.config.component_appid {
        return Err(PageError::WrongComponent);
    }
    let pre_auth_code =
        first(params, "pre_auth_code").ok_or(PageError::Missing("pre_auth_code"))?;
    shared
        .state()
        .check_pre_auth_code(pre_auth_code, shared.now())
        .map_err(PageError::PreAuthCode)?;
    let raw = first(params, "redirect_uri").ok_or(PageError::Missing("redirect_uri"))?;
    let redirect_uri = url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| PageError::RedirectDomain("空".into()))?;
    let domain = domain_of(&redirect_uri).unwrap_or_default();
    if !domain_allowed(shared, &domain) {
        return Err(PageError::RedirectDomain(domain));
    }
    let auth_type = match first(params, "auth_type") {
        None => 3,
        Some("1") => 1,
        Some("2") => 2,
        Some("3") => 3,
        Some(_) => return Err(PageError::AuthType),
    };
    let biz_appid = first(params, "biz_appid").map(str::to_owned);
    if let Some(biz) = &biz_appid
        && shared.state().account(biz).is_none()
    {
        return Err(PageError::BizAppid);
    }
    Ok(Checked {
        pre_auth_code: pre_auth_code.to_owned(),
        redirect_uri,
        auth_type,
        biz_appid,
    })
}

async fn page(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, PageError> {
    if let Err(error) = check_referer(&shared, &headers) {
        tracing::info!(reason = %error, "authorization page refused");
        return Err(error);
    }
    let query = query.unwrap_or_default();
    let params = params(url::form_urlencoded::parse(query.as_bytes()).into_owned());
    let checked = check_params(&shared, &params)?;
    let state = shared.state();
    let accounts: Vec<(Account, bool)> = state
        .eligible(checked.auth_type, checked.biz_appid.as_deref())
        .into_iter()
        .map(|a| (a.clone(), state.is_authorized(&a.appid)))
        .collect();
    drop(state);
    Ok(Html(render(&shared, uri.path(), &checked, &accounts)))
}

fn render(shared: &Shared, path: &str, checked: &Checked, accounts: &[(Account, bool)]) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <title>公众平台帐号授权</title></head><body><h1>公众平台帐号授权</h1>\
         <p>第三方平台 <code>{}</code> 申请获得你的帐号的以下权限。选择要授权的帐号和权限集，然后确认授权。</p>\
         <form method=\"post\" action=\"{}\">",
        escape(&shared.config.component_appid),
        escape(path)
    );
    for (name, value) in [
        ("component_appid", shared.config.component_appid.as_str()),
        ("pre_auth_code", checked.pre_auth_code.as_str()),
        ("redirect_uri", checked.redirect_uri.as_str()),
        ("auth_type", &checked.auth_type.to_string()),
        (
            "biz_appid",
            checked.biz_appid.as_deref().unwrap_or_default(),
        ),
        ("funcs_listed", "1"),
    ] {
        let _ = write!(
            html,
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape(value)
        );
    }
    html.push_str("<fieldset><legend>选择帐号</legend>");
    for (i, (account, authorized)) in accounts.iter().enumerate() {
        let _ = write!(
            html,
            "<label><input type=\"radio\" name=\"authorizer_appid\" value=\"{}\"{}> {}（{}，{}）{}</label><br>",
            escape(&account.appid),
            if i == 0 { " checked" } else { "" },
            escape(&account.info.nick_name),
            account.kind.label(),
            escape(&account.info.user_name),
            if *authorized { "［已授权］" } else { "" }
        );
    }
    html.push_str("</fieldset>");
    for kind in [AccountKind::OfficialAccount, AccountKind::MiniProgram] {
        let offered: Vec<u32> = PERMISSION_SETS
            .iter()
            .filter(|(id, k, _)| {
                *k == kind
                    && accounts
                        .iter()
                        .any(|(a, _)| a.kind == kind && a.func_info.contains(id))
            })
            .map(|(id, _, _)| *id)
            .collect();
        if offered.is_empty() {
            continue;
        }
        let _ = write!(html, "<fieldset><legend>{}权限集</legend>", kind.label());
        for id in offered {
            let _ = write!(
                html,
                "<label><input type=\"checkbox\" name=\"func\" value=\"{id}\" checked> {}</label><br>",
                super::accounts::permission_name(id)
            );
        }
        html.push_str("</fieldset>");
    }
    html.push_str("<button type=\"submit\">授权</button></form></body></html>");
    html
}

/// The administrator confirms: the pre-auth code is used up, the browser goes to
/// `redirect_uri?auth_code=..&expires_in=600` and the push follows in the background.
async fn confirm(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let params = params(url::form_urlencoded::parse(&body).into_owned());
    match confirmed(&shared, &params) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(error) => {
            tracing::info!(reason = %error, "authorization refused");
            error.into_response()
        }
    }
}

fn confirmed(
    shared: &Arc<Shared>,
    params: &HashMap<String, Vec<String>>,
) -> Result<String, PageError> {
    let checked = check_params(shared, params)?;
    let appid = first(params, "authorizer_appid").ok_or(PageError::NoAccount)?;
    let eligible = shared
        .state()
        .eligible(checked.auth_type, checked.biz_appid.as_deref())
        .iter()
        .any(|a| a.appid == appid);
    if !eligible {
        return Err(PageError::NotEligible);
    }
    // A scripted confirmation without a permission-set list grants everything the account can;
    // the form lists them, and unticking all of them is refused.
    let asked: Vec<u32> = params
        .get("func")
        .into_iter()
        .flatten()
        .filter_map(|v| v.parse().ok())
        .collect();
    let func_info = (first(params, "funcs_listed").is_some() || !asked.is_empty()).then_some(asked);
    let grant = shared
        .grant(appid, func_info.as_deref(), Some(&checked.pre_auth_code))
        .map_err(|e| match e {
            GrantError::PreAuthCode(e) => PageError::PreAuthCode(e),
            GrantError::Sandbox(SandboxError::NoPermissionSets { .. }) => {
                PageError::NoPermissionSets
            }
            GrantError::Sandbox(_) => PageError::NotEligible,
        })?;
    let mut location = checked.redirect_uri;
    location
        .query_pairs_mut()
        .append_pair("auth_code", &grant.authorization_code)
        .append_pair("expires_in", &REDIRECT_EXPIRES_IN.to_string());
    tracing::info!(
        authorizer_appid = %grant.authorizer_appid,
        info_type = %grant.info_type,
        "authorization confirmed"
    );
    shared.spawn_push(PushMessage::Authorization(grant));
    Ok(location.into())
}

/// Escapes text for HTML content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_compare_host_and_port() {
        let url = url::Url::parse("https://auth.example.com:8443/a?b=1").unwrap();
        assert_eq!(domain_of(&url).as_deref(), Some("auth.example.com:8443"));
        let url = url::Url::parse("https://auth.example.com/a").unwrap();
        assert_eq!(domain_of(&url).as_deref(), Some("auth.example.com"));
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
