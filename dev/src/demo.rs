//! The demo of authorized accounts' users (docs/users.md), served by `wxopen-dev` only (no API
//! Gateway route): one page, `GET /demo/users`, that uses the public routes the way an
//! account's own pages and mini program would, against the sandbox's accounts:
//!
//! - **mini program login**: a code as `wx.login()` would give it (minted by the sandbox through
//!   `POST /demo/users/wx-login`, since only a mini program gets real ones), posted to
//!   `POST /miniprogram/{appid}/login`;
//! - **JS-SDK**: the page loads the sandbox's `jweixin.js` stand-in, asks
//!   `GET /jssdk/{appid}/config?url=` for its own address and calls `wx.config`;
//! - **web login**: links to `GET /oauth/{appid}/authorize` that come back to the page with
//!   `#session=...` (or `#error=access_denied`).
//!
//! Every identity token the page receives is checked by `POST /demo/users/verify` as any of the
//! platform's services would check it: the key set fetched from `/.well-known/jwks.json`, then
//! ES256, `iss`, `aud` and `exp` by an ordinary JWT library.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use wxopen::html::{escape, json_response};

/// The page's path (also the start of its helpers' paths).
pub const PATH: &str = "/demo/users";
/// The sandbox's mini program the demo logs in to (巷口早餐铺点餐).
pub const MINI_PROGRAM: &str = "wx5d8a1f3c7e9b2046";
/// The sandbox's official account the JS-SDK and web login demos use (深蓝便民缴费).
pub const OFFICIAL_ACCOUNT: &str = "wx1c4e7a9d2b5f8036";
/// The page's script.
const SCRIPT: &str = include_str!("demo_users.js");

/// The demo's settings: the service's own origin and the sandbox's.
#[derive(Debug, Clone)]
pub struct Demo {
    /// The service's origin (`PUBLIC_BASE_URL`), the identity tokens' issuer.
    pub public_base_url: String,
    /// The sandbox (WeChat's API origin in development).
    pub sandbox: String,
    http: reqwest::Client,
}

impl Demo {
    pub fn new(config: &wxopen::Config) -> Self {
        Self {
            public_base_url: config
                .public_base_url
                .clone()
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_owned(),
            sandbox: config.wechat_api_base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .expect("a plain HTTP client builds"),
        }
    }

    /// The page's full address.
    pub fn url(&self) -> String {
        format!("{}{PATH}", self.public_base_url)
    }

    /// Answers `/demo/users` and its helpers.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let path = request.uri().path().trim_end_matches('/');
        let method = request.method().clone();
        let response = match (path.strip_prefix(PATH), method) {
            (Some(""), Method::GET) => self.page(),
            (Some(".js"), Method::GET) => Response::builder()
                .header("content-type", "text/javascript; charset=utf-8")
                .header("cache-control", "no-store")
                .body(SCRIPT.to_owned())
                .expect("static headers"),
            (Some("/wx-login"), Method::POST) => self.wx_login(request.body()).await,
            (Some("/verify"), Method::POST) => self.verify(request.body()).await,
            _ => json_response(404, &json!({ "message": "Not Found" })),
        };
        response.map(Body::from)
    }

    fn page(&self) -> Response<String> {
        let return_to = self.url();
        let login = |scope: &str| {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("scope", scope)
                .append_pair("return_to", &return_to)
                .finish();
            format!("/oauth/{OFFICIAL_ACCOUNT}/authorize?{query}")
        };
        let body = format!(
            r#"<style>
h2 {{ font-size: 18px; margin: 22px 0 6px; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; font-size: 13px; }}
dt {{ color: #646a73; }}
dd {{ margin: 0; word-break: break-all; }}
</style>
<h1>用户登录演示</h1>
<p class="en">Demo: the users of authorized accounts</p>
<p>本页像帐号自己的网页和小程序一样调用平台的公开接口。沙箱的小程序 <code>{mini}</code> 和公众号 <code>{official}</code> 已在本地环境启动时授权给平台。<br>
<span class="en">This page calls the platform's public routes as an account's own pages and mini program would. The sandbox's mini program and official account were authorized to the platform when the local stack started.</span></p>
<div id="demo" data-miniprogram="{mini}" data-official="{official}"></div>

<h2>小程序登录 <span class="en">Mini program login</span></h2>
<p>用户 <span class="en">User</span> <input id="mp-user" value="demo-user" size="12">
<button id="mp-login" type="button">wx.login → 登录 · Log in</button></p>
<p class="en">The sandbox mints the code <code>wx.login()</code> would give, the page posts it to <code>POST /miniprogram/{mini}/login</code>.</p>
<p id="mp-status"></p>
<dl id="mp-identity"></dl>

<h2>JS-SDK</h2>
<p class="en"><code>GET /jssdk/{official}/config?url=</code> this page's address, then <code>wx.config</code> (the sandbox's <code>jweixin.js</code>).</p>
<p>结果 <span class="en">Outcome</span>: <strong id="jssdk-status">…</strong></p>

<h2>网页授权 <span class="en">Web login</span></h2>
<p><a class="button" id="oauth-userinfo" href="{userinfo}">微信登录 · Log in with WeChat</a>
<a id="oauth-base" href="{base}">静默登录 · silent (snsapi_base)</a></p>
<p id="oauth-status"></p>
<dl id="oauth-identity"></dl>

<p><small>身份令牌由 <code>POST {PATH}/verify</code>（仅本地）用 <a href="/.well-known/jwks.json">/.well-known/jwks.json</a> 的公钥验证。
Identity tokens are verified by the local-only <code>POST {PATH}/verify</code> against the keys at <a href="/.well-known/jwks.json">/.well-known/jwks.json</a>, as any service of the platform would verify them. Sandbox: <a href="{sandbox}/sandbox">{sandbox}/sandbox</a></small></p>
<script src="{sandbox}/sandbox/jssdk.js"></script>
<script src="{PATH}.js"></script>"#,
            mini = MINI_PROGRAM,
            official = OFFICIAL_ACCOUNT,
            userinfo = escape(&login("snsapi_userinfo")),
            base = escape(&login("snsapi_base")),
            sandbox = escape(&self.sandbox),
        );
        let mut response =
            wxopen::html::response(200, wxopen::html::page("用户登录演示 | Users demo", &body));
        // The page's scripts: its own and the sandbox's JS-SDK stand-in, which calls the sandbox.
        let sandbox_origin = url::Url::parse(&self.sandbox)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        let csp = format!(
            "default-src 'none'; script-src 'self' {sandbox_origin}; connect-src 'self' {sandbox_origin}; \
             style-src 'unsafe-inline'; img-src https: http: data:; base-uri 'none'; frame-ancestors 'none'"
        );
        response.headers_mut().insert(
            "content-security-policy",
            csp.parse().expect("an origin is a valid header value"),
        );
        response
    }

    /// A wx.login code for the demo's mini program, from the sandbox's control API (a mini
    /// program gets one from `wx.login()`; a web page cannot).
    async fn wx_login(&self, body: &Body) -> Response<String> {
        #[derive(Deserialize)]
        struct Asked {
            #[serde(default)]
            user: Option<String>,
        }
        let Ok(asked) = serde_json::from_slice::<Asked>(body.as_ref()) else {
            return json_response(400, &json!({ "message": "expected {\"user\"}" }));
        };
        let answer = self
            .http
            .post(format!("{}/sandbox/miniprogram/login-code", self.sandbox))
            .json(&json!({ "appid": MINI_PROGRAM, "user": asked.user.filter(|u| !u.is_empty()) }))
            .send()
            .await;
        let answer = match answer {
            Ok(answer) if answer.status().is_success() => answer.json::<Value>().await.ok(),
            _ => None,
        };
        match answer.as_ref().and_then(|a| a["code"].as_str()) {
            Some(code) => json_response(200, &json!({ "code": code })),
            None => json_response(502, &json!({ "message": "the sandbox gave no code" })),
        }
    }

    /// `{"token", "appid"}`: the token checked as any service of the platform checks it.
    async fn verify(&self, body: &Body) -> Response<String> {
        #[derive(Deserialize)]
        struct Asked {
            token: String,
            appid: String,
        }
        let Ok(asked) = serde_json::from_slice::<Asked>(body.as_ref()) else {
            return json_response(
                400,
                &json!({ "message": "expected {\"token\", \"appid\"}" }),
            );
        };
        match self.check(&asked.token, &asked.appid).await {
            Ok((kid, claims)) => json_response(
                200,
                &json!({ "verified": true, "kid": kid, "claims": claims }),
            ),
            Err(error) => json_response(200, &json!({ "verified": false, "error": error })),
        }
    }

    async fn check(&self, token: &str, appid: &str) -> Result<(String, Value), String> {
        let keys: JwkSet = self
            .http
            .get(format!("{}/.well-known/jwks.json", self.public_base_url))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("no key set: {e}"))?
            .json()
            .await
            .map_err(|e| format!("no key set: {e}"))?;
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        let kid = header.kid.ok_or("the token names no key")?;
        let jwk = keys
            .find(&kid)
            .ok_or_else(|| format!("no key {kid} in the key set"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.public_base_url]);
        validation.set_audience(&[appid]);
        let data =
            jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| e.to_string())?;
        Ok((kid, data.claims))
    }
}
