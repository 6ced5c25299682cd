//! Web login on behalf of an official account (docs/protocol.md#web-login), over HTTP: our
//! start, the sandbox's OAuth page (allow, refuse), our callback, and the identity token in the
//! return address's fragment, verified with the published key set. Every refusal happens before
//! any WeChat call.

use std::collections::HashMap;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use wechat_sandbox::oauth::ACCESS_TOKEN_API;
use wechat_sandbox::users::DEFAULT_USER;
use wxopen::authorization::RebindPolicy;
use wxopen::identity::IdentityClaims;
use wxopen::oauth::{self, Login, Scope};
use wxopen::store::{AuthorizerStatus, MarkIf};
use wxopen_tests::service::Service;
use wxopen_tests::store_authorization_unchecked;

/// 深蓝便民缴费, a service account; 巷口早餐铺点餐, a mini program.
const OFFICIAL: &str = "wx1c4e7a9d2b5f8036";
const SUBSCRIPTION: &str = "wx3f2a6c8d1e4b7a90";
const MINI_PROGRAM: &str = "wx5d8a1f3c7e9b2046";

/// The return address the test service allows (besides its own origin's `/done/`).
const APP_RETURN: &str = "https://app.example.com/wx/";

fn return_to(s: &Service) -> String {
    s.url("/done/page?tab=1")
}

/// A browser: the cookie our start set, carried by hand (reqwest has no jar here).
struct Browser {
    cookie: Option<String>,
}

/// What our start answered.
struct Start {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    body: String,
}

async fn start(s: &Service, appid: &str, scope: &str, return_to: &str) -> Start {
    let url = reqwest::Url::parse_with_params(
        &s.url(&format!("/oauth/{appid}/authorize")),
        &[("scope", scope), ("return_to", return_to)],
    )
    .unwrap();
    let response = s.http.get(url).send().await.unwrap();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    Start {
        status: response.status(),
        location: header(LOCATION),
        set_cookie: header(SET_COOKIE),
        body: response.text().await.unwrap(),
    }
}

impl Browser {
    /// Starts a login; the URL of WeChat's page.
    async fn start(&mut self, s: &Service, appid: &str, scope: &str, return_to: &str) -> String {
        let started = start(s, appid, scope, return_to).await;
        assert_eq!(started.status, StatusCode::FOUND, "{}", started.body);
        let set_cookie = started.set_cookie.unwrap();
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
        self.cookie = Some(set_cookie.split(';').next().unwrap().to_owned());
        started.location.unwrap()
    }

    /// Follows WeChat's redirect to our callback: status, Location, Set-Cookie, body.
    async fn callback(&self, s: &Service, url: &str) -> (StatusCode, String, String, String) {
        let mut request = s.http.get(url);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        let response = request.send().await.unwrap();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let (location, set_cookie) = (header(LOCATION), header(SET_COOKIE));
        (
            response.status(),
            location,
            set_cookie,
            response.text().await.unwrap(),
        )
    }
}

/// Opens WeChat's page as the sandbox's user `user`; `decision` answers the consent page of
/// snsapi_userinfo. Returns our callback URL WeChat sends the browser to.
async fn wechat(s: &Service, page: &str, user: &str, decision: Option<&str>) -> String {
    assert!(page.ends_with("#wechat_redirect"), "{page}");
    let response = s
        .http
        .get(page)
        .header(COOKIE, format!("sandbox_wechat_user={user}"))
        .send()
        .await
        .unwrap();
    let Some(decision) = decision else {
        assert_eq!(response.status(), StatusCode::FOUND);
        return response.headers()[LOCATION].to_str().unwrap().to_owned();
    };
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    let mut form: Vec<(String, String)> = html
        .split("<input type=\"hidden\" ")
        .skip(1)
        .map(|tag| {
            let attr = |name: &str| {
                tag.split(&format!("{name}=\""))
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .replace("&amp;", "&")
            };
            (attr("name"), attr("value"))
        })
        .collect();
    form.extend([
        ("user".into(), user.into()),
        ("decision".into(), decision.into()),
    ]);
    let base = s.sandbox.base_url().trim_end_matches('/');
    let response = s
        .http
        .post(format!("{base}/connect/oauth2/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

fn fragment(location: &str) -> HashMap<String, String> {
    let url = reqwest::Url::parse(location).unwrap();
    url::form_urlencoded::parse(url.fragment().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The token, verified as an ordinary JWT library does with the published key set.
async fn verified(s: &Service, token: &str, appid: &str) -> IdentityClaims {
    let keys: JwkSet = s
        .http
        .get(s.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let key = DecodingKey::from_jwk(keys.find(&kid).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[s.url("")]);
    validation.set_audience(&[appid]);
    jsonwebtoken::decode::<IdentityClaims>(token, &key, &validation)
        .unwrap()
        .claims
}

/// The service with three stored, authorized accounts (no pushes: stored directly).
async fn service() -> Service {
    let s = Service::with(RebindPolicy::Refuse, false).await;
    for appid in [OFFICIAL, SUBSCRIPTION, MINI_PROGRAM] {
        let authorized = s.sandbox.authorize(appid, None).await.unwrap();
        store_authorization_unchecked(
            &s.app.link.tokens,
            &authorized.grant.authorization_code,
            None,
        )
        .await
        .unwrap();
    }
    s.sandbox.reset_calls();
    s
}

/// `appid` withdraws, and the platform has heard of it.
async fn withdraw(s: &Service, appid: &str) {
    s.sandbox.withdraw(appid).await.unwrap();
    let now = wxopen::unix_now();
    let store = &s.app.link.tokens.store;
    store
        .mark_authorizer(
            &s.component,
            appid,
            AuthorizerStatus::Withdrawn,
            MarkIf::NotAuthorizedSince(now),
            now,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn snsapi_base_logs_the_user_in_with_their_openid() {
    let s = service().await;
    let mut browser = Browser { cookie: None };
    let page = browser
        .start(&s, OFFICIAL, "snsapi_base", &return_to(&s))
        .await;
    let sandbox = s.sandbox.base_url().trim_end_matches('/');
    assert!(
        page.starts_with(&format!(
            "{sandbox}/connect/oauth2/authorize?appid={OFFICIAL}&redirect_uri="
        )),
        "{page}"
    );
    assert!(page.contains(&format!("&component_appid={}", s.component)));
    let back = wechat(&s, &page, "alice", None).await;
    assert!(
        back.starts_with(&s.url(&format!("/oauth/{OFFICIAL}/callback?code="))),
        "{back}"
    );

    let (status, location, set_cookie, body) = browser.callback(&s, &back).await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    assert!(
        location.starts_with(&format!("{}#session=", return_to(&s))),
        "{location}"
    );
    assert!(set_cookie.contains("Max-Age=0"), "{set_cookie}");
    let result = fragment(&location);
    assert_eq!(result["expires_in"], "7200");
    let claims = verified(&s, &result["session"], OFFICIAL).await;
    assert_eq!(claims.sub, s.sandbox.user_openid(OFFICIAL, "alice"));
    assert_eq!(claims.aud, OFFICIAL);
    // snsapi_base gives no unionid (and reads no profile).
    assert_eq!(claims.unionid, None);
    assert_eq!(s.sandbox.calls_for(ACCESS_TOKEN_API, OFFICIAL), 1);
    assert_eq!(s.sandbox.calls_to("userinfo"), 0);

    // The code is single use: the same callback again is WeChat's 40163, as a 400 page.
    let (status, _, _, body) = browser.callback(&s, &back).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("errcode 40163"), "{body}");
}

#[tokio::test]
async fn snsapi_userinfo_adds_the_unionid_and_a_refusal_goes_back_with_access_denied() {
    let s = service().await;
    let mut browser = Browser { cookie: None };
    let page = browser
        .start(&s, OFFICIAL, "snsapi_userinfo", APP_RETURN)
        .await;
    let back = wechat(&s, &page, DEFAULT_USER, Some("allow")).await;
    let (status, location, _, body) = browser.callback(&s, &back).await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    let claims = verified(&s, &fragment(&location)["session"], OFFICIAL).await;
    assert_eq!(claims.sub, s.sandbox.user_openid(OFFICIAL, DEFAULT_USER));
    assert_eq!(claims.unionid, Some(s.sandbox.user_unionid(DEFAULT_USER)));
    assert_eq!(s.sandbox.calls_for("userinfo", OFFICIAL), 1);

    // An account not bound to the open platform account: no unionid.
    s.sandbox.set_open_platform_bound(OFFICIAL, false);
    let page = browser
        .start(&s, OFFICIAL, "snsapi_userinfo", APP_RETURN)
        .await;
    let back = wechat(&s, &page, "bob", Some("allow")).await;
    let (_, location, _, _) = browser.callback(&s, &back).await;
    let claims = verified(&s, &fragment(&location)["session"], OFFICIAL).await;
    assert_eq!(claims.sub, s.sandbox.user_openid(OFFICIAL, "bob"));
    assert_eq!(claims.unionid, None);

    // The user refuses: back to return_to with the error, no exchange.
    let calls = s.sandbox.calls_to(ACCESS_TOKEN_API);
    let page = browser
        .start(&s, OFFICIAL, "snsapi_userinfo", APP_RETURN)
        .await;
    let back = wechat(&s, &page, "bob", Some("refuse")).await;
    let (status, location, set_cookie, _) = browser.callback(&s, &back).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location, format!("{APP_RETURN}#error=access_denied"));
    assert!(set_cookie.contains("Max-Age=0"));
    assert_eq!(s.sandbox.calls_to(ACCESS_TOKEN_API), calls);
}

#[tokio::test]
async fn a_state_from_another_browser_altered_or_expired_is_refused_before_any_wechat_call() {
    let s = service().await;
    let mut victim = Browser { cookie: None };
    let mut attacker = Browser { cookie: None };
    let page = attacker
        .start(&s, OFFICIAL, "snsapi_base", &return_to(&s))
        .await;
    let back = wechat(&s, &page, "mallory", None).await;
    s.sandbox.reset_calls();

    // The attacker's callback (their code, their state) in the victim's browser: no cookie,
    // then the victim's own login's cookie.
    let (status, _, _, body) = victim.callback(&s, &back).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("login_not_started_here"), "{body}");
    victim
        .start(&s, OFFICIAL, "snsapi_base", &return_to(&s))
        .await;
    let (status, _, _, _) = victim.callback(&s, &back).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Altered states, a missing one, and the appid WeChat repeats changed.
    let url = reqwest::Url::parse(&back).unwrap();
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let state = &query["state"];
    let mut flipped = state.clone();
    let last = if flipped.ends_with('0') { "1" } else { "0" };
    flipped.replace_range(flipped.len() - 1.., last);
    let callback = s.url(&format!("/oauth/{OFFICIAL}/callback"));
    for (state, appid) in [
        (flipped.as_str(), OFFICIAL),
        (&state[1..], OFFICIAL),
        ("", OFFICIAL),
        (state.as_str(), SUBSCRIPTION),
    ] {
        let url = reqwest::Url::parse_with_params(
            &callback,
            &[
                ("code", query["code"].as_str()),
                ("state", state),
                ("appid", appid),
            ],
        )
        .unwrap();
        let (status, _, _, body) = attacker.callback(&s, url.as_str()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{state} {appid}: {body}");
    }
    // The state signed for another account's callback path.
    let other = back.replace(
        &format!("/oauth/{OFFICIAL}/"),
        &format!("/oauth/{SUBSCRIPTION}/"),
    );
    let other = other.replace(
        &format!("appid={OFFICIAL}"),
        &format!("appid={SUBSCRIPTION}"),
    );
    assert_eq!(
        attacker.callback(&s, &other).await.0,
        StatusCode::BAD_REQUEST
    );

    // An expired state: signed eleven minutes ago for this very browser.
    let key = s.app.identity.web_login.link_key.keys().await.unwrap();
    let login = Login {
        appid: OFFICIAL.into(),
        scope: Scope::SnsapiBase,
        return_to: reqwest::Url::parse(&return_to(&s)).unwrap(),
    };
    let old = oauth::start(
        &key,
        &s.app.identity.web_login.endpoints,
        &login,
        wxopen::unix_now() - 660,
    );
    let stale = Browser {
        cookie: Some(old.set_cookie.split(';').next().unwrap().to_owned()),
    };
    let url = reqwest::Url::parse_with_params(
        &callback,
        &[
            ("code", query["code"].as_str()),
            ("state", &old.state),
            ("appid", OFFICIAL),
        ],
    )
    .unwrap();
    let (status, _, _, body) = stale.callback(&s, url.as_str()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("login_expired"), "{body}");

    assert_eq!(s.sandbox.calls_to(ACCESS_TOKEN_API), 0);
    // The attacker's own browser still completes its own login.
    let (status, _, _, body) = attacker.callback(&s, &back).await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
}

#[tokio::test]
async fn return_to_off_the_list_and_unserved_accounts_are_refused_without_a_call() {
    let s = service().await;
    let own = s.url("");
    let host = own.trim_start_matches("http://").trim_end_matches('/');
    let cases: Vec<(String, &str)> = vec![
        ("https://evil.example.com/".into(), "bad_return_to"),
        (format!("{own}/elsewhere"), "bad_return_to"),
        (format!("{own}/done/../admin"), "bad_return_to"),
        (
            format!("http://{host}@evil.example.com/done/"),
            "bad_return_to",
        ),
        (
            format!("http://evil.example.com\\@{host}/done/"),
            "bad_return_to",
        ),
        ("//evil.example.com/done/".into(), "bad_return_to"),
        ("javascript:alert(1)".into(), "bad_return_to"),
        ("https://app.example.com/wxadmin".into(), "bad_return_to"),
        (format!("{APP_RETURN}#x"), "bad_return_to"),
        (String::new(), "bad_return_to"),
    ];
    for (return_to, code) in &cases {
        let started = start(&s, OFFICIAL, "snsapi_base", return_to).await;
        assert_eq!(started.status, StatusCode::BAD_REQUEST, "{return_to}");
        assert!(started.body.contains(code), "{return_to}: {}", started.body);
        assert!(started.set_cookie.is_none() && started.location.is_none());
    }
    let bad_scope = start(&s, OFFICIAL, "snsapi_login", APP_RETURN).await;
    assert_eq!(bad_scope.status, StatusCode::BAD_REQUEST);

    // A mini program, an account that never authorized, one that withdrew, a malformed appid.
    let started = start(&s, MINI_PROGRAM, "snsapi_base", APP_RETURN).await;
    assert_eq!(started.status, StatusCode::FORBIDDEN, "{}", started.body);
    let started = start(&s, "wx0000000000000000", "snsapi_base", APP_RETURN).await;
    assert_eq!(started.status, StatusCode::NOT_FOUND, "{}", started.body);
    withdraw(&s, SUBSCRIPTION).await;
    let started = start(&s, SUBSCRIPTION, "snsapi_base", APP_RETURN).await;
    assert_eq!(started.status, StatusCode::FORBIDDEN, "{}", started.body);
    let started = start(&s, "not-an-appid", "snsapi_base", APP_RETURN).await;
    assert_eq!(started.status, StatusCode::BAD_REQUEST, "{}", started.body);
    assert_eq!(s.sandbox.calls().per_api.values().sum::<u64>(), 0);
}

#[tokio::test]
async fn wechat_failing_is_a_502_page() {
    let s = service().await;
    let mut browser = Browser { cookie: None };
    let page = browser.start(&s, OFFICIAL, "snsapi_base", APP_RETURN).await;
    let back = wechat(&s, &page, "alice", None).await;
    s.sandbox.fail_next(ACCESS_TOKEN_API, 45009, 1);
    let (status, _, _, body) = browser.callback(&s, &back).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains("errcode 45009"), "{body}");
    // The injected error used nothing up: the same code still logs the user in.
    let (status, location, _, _) = browser.callback(&s, &back).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(fragment(&location).contains_key("session"));
}
