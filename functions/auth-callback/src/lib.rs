//! `GET /authorize/callback?session=..&auth_code=..&expires_in=600`: WeChat sends the merchant
//! back here after the administrator confirmed. The session names what our link was asked for;
//! the code is exchanged once (with the `authorized` push, whichever comes first), the account
//! stored and bound to the session's merchant, and the result shown.

use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use wxopen::Config;
use wxopen::authorization::{self, Binding, Completed, FlowError, Origin, RebindPolicy};
use wxopen::html::{self, escape, permission_name};
use wxopen::tokens::Tokens;

/// What the handler needs, built once per container.
#[derive(Debug)]
pub struct AuthCallback {
    pub tokens: Tokens,
    pub rebind: RebindPolicy,
}

impl AuthCallback {
    pub fn new(config: &Config, aws: &aws_config::SdkConfig) -> Self {
        Self {
            // The exchange's two WeChat calls share one read of the component token.
            tokens: Tokens::from_config(config, aws).caching_component_token(),
            rebind: config.rebind,
        }
    }
}

pub async fn handle(
    callback: &AuthCallback,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(respond(callback, &request).await.map(Body::from))
}

async fn respond(callback: &AuthCallback, request: &Request) -> Response<String> {
    if request.method() != Method::GET {
        return html::response(
            405,
            page_error("只接受 GET 请求。", "Only GET is accepted."),
        );
    }
    let query = request.query_string_parameters();
    let present = |name: &str| query.first(name).filter(|v| !v.is_empty());
    let (Some(session_id), Some(code)) = (present("session"), present("auth_code")) else {
        let missing = if present("session").is_none() {
            "session"
        } else {
            "auth_code"
        };
        return html::response(
            400,
            page_error(
                "授权回调缺少参数，请从授权链接重新开始。",
                &format!(
                    "The callback has no {missing}: start again from your authorization link."
                ),
            ),
        );
    };
    if session_id.len() != 32 || !session_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return html::response(400, session_error(&FlowError::UnknownSession));
    }
    match authorization::complete(
        &callback.tokens,
        callback.rebind,
        code,
        Origin::Callback { session_id },
    )
    .await
    {
        Ok(completed) => {
            let status = match completed.binding {
                Binding::BoundElsewhere { .. } => 409,
                _ => 200,
            };
            html::response(status, result_page(&completed))
        }
        Err(
            error @ (FlowError::UnknownSession
            | FlowError::ExpiredSession
            | FlowError::SessionUsed
            | FlowError::ForeignSession
            | FlowError::CodeRefused { .. }),
        ) => {
            tracing::warn!(%error, "authorization callback refused");
            html::response(400, session_error(&error))
        }
        Err(error @ FlowError::TooManyAttempts) => {
            tracing::warn!(%error, "authorization callback refused");
            html::response(429, session_error(&error))
        }
        Err(error @ FlowError::InProgress) => html::response(
            503,
            page_error("授权正在处理中，请稍后刷新本页。", &format!("{error}.")),
        ),
        Err(error) => {
            tracing::error!(%error, "authorization callback failed");
            html::response(
                502,
                page_error(
                    "暂时无法完成授权记录，请稍后刷新本页重试。",
                    "The authorization could not be recorded just now; reload this page to try again.",
                ),
            )
        }
    }
}

fn session_error(error: &FlowError) -> String {
    let zh = match error {
        FlowError::UnknownSession => "无法识别此授权链接。请从商户后台重新获取授权链接。",
        FlowError::ExpiredSession => "此授权链接已过期，请重新发起授权。",
        FlowError::SessionUsed => "此授权链接已被使用，请重新发起授权。",
        FlowError::ForeignSession => "此授权不属于当前链接，请从您自己的授权链接重新开始。",
        FlowError::TooManyAttempts => "此授权链接尝试次数过多，请重新发起授权。",
        _ => "微信未能确认此次授权（授权码无效或已过期），请重新发起授权。",
    };
    page_error(
        zh,
        &format!("{error}. Start again from your authorization link."),
    )
}

fn page_error(zh: &str, en: &str) -> String {
    html::page(
        "授权未完成 | Authorization not completed",
        &format!(
            r#"<h1 class="error">{}</h1><p class="en">{}</p>"#,
            escape(zh),
            escape(en)
        ),
    )
}

/// The account's avatar as a CSS background: an image that cannot be loaded leaves the grey
/// circle rather than a broken-image icon. Only plain http(s) URLs are used (no quotes or
/// parentheses can end up in the CSS).
fn avatar_html(url: &str) -> String {
    let plain = (url.starts_with("https://") || url.starts_with("http://"))
        && url
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&*+,;=%".contains(&b));
    if plain {
        format!(
            r#"<div class="avatar" role="img" style="background-image:url({})"></div>"#,
            escape(url)
        )
    } else {
        r#"<div class="avatar"></div>"#.to_owned()
    }
}

fn result_page(completed: &Completed) -> String {
    let account = &completed.account;
    let profile = account.profile.as_ref();
    let name = profile.map_or(account.authorizer_appid.as_str(), |p| p.nick_name.as_str());
    let avatar = profile.map_or("", |p| p.head_img.as_str());
    let kind = match profile {
        Some(p) if p.is_mini_program() => ("小程序", "Mini Program"),
        _ => ("公众号", "Official Account"),
    };
    let permissions: String = account
        .func_info
        .iter()
        .map(|id| format!("<li>{}</li>", escape(&permission_name(*id))))
        .collect();
    let (headline, next) = match &completed.binding {
        Binding::BoundElsewhere { .. } => (
            r#"<h1 class="error">此帐号已绑定其他商户</h1>
<p class="en">This account is already bound to another merchant</p>"#,
            r#"<p>授权已记录，但该帐号仍属于原商户，未转到当前商户。如需转移，请联系平台客服。</p>
<p class="en">The authorization was recorded, but the account stays with the merchant it belongs to. Contact the platform's support to move it.</p>"#,
        ),
        _ => (
            r#"<h1>授权成功</h1><p class="en">Authorization complete</p>"#,
            r#"<p>下一步：回到商户后台，即可为该帐号开通服务（如上传和发布小程序代码）。您可随时在微信公众平台取消授权。</p>
<p class="en">Next: return to your merchant console to set up services for this account (such as uploading and releasing mini program code). You can withdraw the authorization at any time in the WeChat Official Accounts Platform.</p>"#,
        ),
    };
    html::page(
        "授权结果 | Authorization result",
        &format!(
            r#"{headline}
<div class="account">{avatar}<div><strong id="account-name">{name}</strong><br>
<small>{kind_zh} · {kind_en} · {appid}</small></div></div>
<p>已授权的权限集 · Permissions granted:</p>
<ul>{permissions}</ul>
{next}"#,
            avatar = avatar_html(avatar),
            name = escape(name),
            kind_zh = kind.0,
            kind_en = kind.1,
            appid = escape(&account.authorizer_appid),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatars_are_plain_urls_or_nothing() {
        assert_eq!(
            avatar_html("http://wx.qlogo.cn/mmopen/abc/0"),
            r#"<div class="avatar" role="img" style="background-image:url(http://wx.qlogo.cn/mmopen/abc/0)"></div>"#
        );
        for hostile in [
            "javascript:alert(1)",
            "http://x/a)b",
            "http://x/\"onload=\"",
            "",
        ] {
            assert_eq!(
                avatar_html(hostile),
                r#"<div class="avatar"></div>"#,
                "{hostile}"
            );
        }
    }
}
