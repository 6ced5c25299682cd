//! Web login on behalf of an official account: the page, the consent form, the code exchange
//! with the component token and sns/userinfo, over plain HTTP.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;
use wechat_sandbox::defaults::COMPONENT_APPID;
use wechat_sandbox::oauth::{ACCESS_TOKEN_API, PAGE_PATH, USER_COOKIE, USERINFO_API};
use wechat_sandbox::users::DEFAULT_USER;

use super::support::*;
use super::{MINI_PROGRAM, OFFICIAL, SUBSCRIPTION, hidden_inputs};

const CALLBACK: &str = "http://127.0.0.1:9000/oauth/cb?keep=1";

fn page_params<'a>(appid: &'a str, scope: &'a str, state: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("appid", appid),
        ("redirect_uri", CALLBACK),
        ("response_type", "code"),
        ("scope", scope),
        ("state", state),
        ("component_appid", COMPONENT_APPID),
    ]
}

impl Wx {
    /// Opens the web login page; the redirect's Location, or the status and page.
    async fn web_login(
        &self,
        params: &[(&str, &str)],
        user_cookie: Option<&str>,
    ) -> Result<String, (StatusCode, String)> {
        let mut request = self.http.get(self.url(PAGE_PATH)).query(params);
        if let Some(user) = user_cookie {
            request = request.header("cookie", format!("other=1; {USER_COOKIE}={user}"));
        }
        let response = request.send().await.unwrap();
        match response.status() {
            StatusCode::FOUND => Ok(response.headers()["location"].to_str().unwrap().into()),
            status => Err((status, response.text().await.unwrap())),
        }
    }

    async fn exchange(&self, token: &str, appid: &str, code: &str) -> Value {
        self.get_api(
            "/sns/oauth2/component/access_token",
            &[
                ("appid", appid),
                ("code", code),
                ("grant_type", "authorization_code"),
                ("component_appid", COMPONENT_APPID),
                ("component_access_token", token),
            ],
        )
        .await
    }

    async fn userinfo(&self, access_token: &str, openid: &str) -> Value {
        self.get_api(
            "/sns/userinfo",
            &[
                ("access_token", access_token),
                ("openid", openid),
                ("lang", "zh_CN"),
            ],
        )
        .await
    }
}

fn query(location: &str) -> HashMap<String, String> {
    query_of(location)
}

#[tokio::test]
async fn snsapi_base_returns_at_once_with_a_single_use_code() {
    let wx = Wx::start().await;
    wx.sandbox.freeze_clock(true);
    wx.sandbox.authorize(OFFICIAL, None).await.unwrap();
    wx.sandbox.authorize(SUBSCRIPTION, None).await.unwrap();
    let token = wx.component_token().await;

    let location = wx
        .web_login(&page_params(OFFICIAL, "snsapi_base", "abc123"), None)
        .await
        .unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:9000/oauth/cb?keep=1&code="),
        "{location}"
    );
    let q = query(&location);
    assert_eq!(
        (q["state"].as_str(), q["appid"].as_str()),
        ("abc123", OFFICIAL)
    );

    // The code is this account's: another account's exchange is 40029 and does not use it up.
    assert_eq!(
        wx.exchange(&token, SUBSCRIPTION, &q["code"]).await["errcode"],
        40029
    );
    let answer = wx.exchange(&token, OFFICIAL, &q["code"]).await;
    assert_eq!(
        answer["openid"],
        wx.sandbox.user_openid(OFFICIAL, DEFAULT_USER)
    );
    assert_eq!(answer["scope"], "snsapi_base");
    assert_eq!(answer["expires_in"], 7200);
    assert!(answer["access_token"].as_str().unwrap().len() > 20);
    assert!(answer["refresh_token"].as_str().unwrap().len() > 20);
    assert!(answer.get("unionid").is_none());
    assert_eq!(
        wx.exchange(&token, OFFICIAL, &q["code"]).await["errcode"],
        40163
    );
    assert_eq!(
        wx.exchange(&token, OFFICIAL, "nope").await["errcode"],
        40029
    );

    // snsapi_base gives no profile.
    let openid = answer["openid"].as_str().unwrap();
    let at = answer["access_token"].as_str().unwrap();
    assert_eq!(wx.userinfo(at, openid).await["errcode"], 48001);

    // Codes live five minutes; the browser's user comes from the sandbox's cookie.
    let location = wx
        .web_login(&page_params(OFFICIAL, "snsapi_base", ""), Some("alice"))
        .await
        .unwrap();
    let q = query(&location);
    assert_eq!(q["state"], "");
    wx.sandbox.advance(Duration::from_secs(299));
    let location2 = wx
        .web_login(&page_params(OFFICIAL, "snsapi_base", "s"), Some("alice"))
        .await
        .unwrap();
    let answer = wx.exchange(&token, OFFICIAL, &q["code"]).await;
    assert_eq!(answer["openid"], wx.sandbox.user_openid(OFFICIAL, "alice"));
    wx.sandbox.advance(Duration::from_secs(300));
    assert_eq!(
        wx.exchange(&token, OFFICIAL, &query(&location2)["code"])
            .await["errcode"],
        40029
    );
    assert_eq!(wx.sandbox.calls_to(ACCESS_TOKEN_API), 6);
    assert_eq!(wx.sandbox.calls_for(ACCESS_TOKEN_API, OFFICIAL), 5);
    assert_eq!(wx.sandbox.calls_to(USERINFO_API), 1);
}

#[tokio::test]
async fn snsapi_userinfo_asks_the_user_who_allows_or_refuses() {
    let wx = Wx::start().await;
    wx.sandbox.authorize(OFFICIAL, None).await.unwrap();
    let token = wx.component_token().await;
    let params = page_params(OFFICIAL, "snsapi_userinfo", "xyz");

    let (status, html) = wx.web_login(&params, None).await.unwrap_err();
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("允许 Allow") && html.contains("拒绝 Refuse"),
        "{html}"
    );
    assert!(html.contains("深蓝便民缴费"), "{html}");
    assert!(
        html.contains(&format!("name=\"user\" value=\"{DEFAULT_USER}\"")),
        "{html}"
    );
    let mut form: Vec<(String, String)> = hidden_inputs(&html);
    assert_eq!(form.len(), 6);

    // Refuse: back without a code.
    let refuse = [
        form.clone(),
        vec![
            ("user".into(), "bob".into()),
            ("decision".into(), "refuse".into()),
        ],
    ]
    .concat();
    let location = wx.confirm(PAGE_PATH, &refuse).await.unwrap();
    let q = query(&location);
    assert!(!q.contains_key("code"));
    assert_eq!(
        (q["state"].as_str(), q["appid"].as_str(), q["keep"].as_str()),
        ("xyz", OFFICIAL, "1")
    );

    // Allow as bob: the profile, with the unionid while the account is bound.
    form.extend([
        ("user".into(), "bob".into()),
        ("decision".into(), "allow".into()),
    ]);
    let location = wx.confirm(PAGE_PATH, &form).await.unwrap();
    let answer = wx
        .exchange(&token, OFFICIAL, &query(&location)["code"])
        .await;
    let openid = wx.sandbox.user_openid(OFFICIAL, "bob");
    assert_eq!(answer["openid"], openid);
    assert_eq!(answer["scope"], "snsapi_userinfo");
    let at = answer["access_token"].as_str().unwrap();
    let info = wx.userinfo(at, &openid).await;
    assert_eq!(info["openid"], openid);
    assert_eq!(info["nickname"], "bob");
    assert_eq!(info["unionid"], wx.sandbox.user_unionid("bob"));
    assert!(info["headimgurl"].as_str().unwrap().starts_with("https://"));
    assert_eq!(info["privilege"], Value::Array(vec![]));
    // Another openid with this token, or an unknown token, is refused.
    let alice = wx.sandbox.user_openid(OFFICIAL, "alice");
    assert_eq!(wx.userinfo(at, &alice).await["errcode"], 40003);
    assert_eq!(wx.userinfo("nope", &openid).await["errcode"], 40001);

    wx.sandbox.set_open_platform_bound(OFFICIAL, false);
    let info = wx.userinfo(at, &openid).await;
    assert!(info.get("unionid").is_none(), "{info}");

    // The token expires after its 7200 s.
    wx.sandbox.advance(Duration::from_secs(7200));
    assert_eq!(wx.userinfo(at, &openid).await["errcode"], 42001);
    assert_eq!(wx.sandbox.calls_for(USERINFO_API, OFFICIAL), 3);

    // A decision is needed, and a user name.
    let mut undecided = hidden_inputs(&html);
    undecided.push(("user".into(), "bob".into()));
    assert_eq!(
        wx.confirm(PAGE_PATH, &undecided).await.unwrap_err().0,
        StatusCode::BAD_REQUEST
    );
    let mut nameless = hidden_inputs(&html);
    nameless.extend([
        ("user".into(), " ".into()),
        ("decision".into(), "allow".into()),
    ]);
    assert_eq!(
        wx.confirm(PAGE_PATH, &nameless).await.unwrap_err().0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn the_page_checks_the_account_the_redirect_uri_the_scope_and_the_state() {
    let wx = Wx::start().await;
    wx.sandbox.authorize(OFFICIAL, None).await.unwrap();
    wx.sandbox.authorize(MINI_PROGRAM, None).await.unwrap();
    let long = "a".repeat(129);
    let max = "a".repeat(128);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (page_params(SUBSCRIPTION, "snsapi_base", "s"), "10015"),
        (page_params(MINI_PROGRAM, "snsapi_base", "s"), "10016"),
        (
            page_params("wx0000000000000000", "snsapi_base", "s"),
            "10016",
        ),
        (page_params(OFFICIAL, "snsapi_login", "s"), "10005"),
        (page_params(OFFICIAL, "snsapi_base", &long), "state"),
        (page_params(OFFICIAL, "snsapi_base", "a.b"), "state"),
        (
            page_params(OFFICIAL, "snsapi_base", "s")
                .into_iter()
                .map(|(k, v)| {
                    if k == "redirect_uri" {
                        (k, "https://evil.example.com/cb")
                    } else {
                        (k, v)
                    }
                })
                .collect(),
            "10003",
        ),
        (
            page_params(OFFICIAL, "snsapi_base", "s")
                .into_iter()
                .map(|(k, v)| {
                    if k == "redirect_uri" {
                        (k, "javascript:alert(1)")
                    } else {
                        (k, v)
                    }
                })
                .collect(),
            "10003",
        ),
        (
            page_params(OFFICIAL, "snsapi_base", "s")
                .into_iter()
                .map(|(k, v)| {
                    if k == "component_appid" {
                        (k, "wx0000000000000000")
                    } else {
                        (k, v)
                    }
                })
                .collect(),
            "component_appid",
        ),
        (
            page_params(OFFICIAL, "snsapi_base", "s")
                .into_iter()
                .map(|(k, v)| {
                    if k == "response_type" {
                        (k, "token")
                    } else {
                        (k, v)
                    }
                })
                .collect(),
            "response_type",
        ),
    ];
    for (params, expected) in cases {
        let (status, html) = wx.web_login(&params, None).await.unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}");
        assert!(html.contains(expected), "{params:?}: {html}");
    }
    assert!(
        wx.web_login(&page_params(OFFICIAL, "snsapi_base", &max), None)
            .await
            .is_ok()
    );
    // A withdrawn account's page is refused.
    wx.sandbox.withdraw(OFFICIAL).await.unwrap();
    let (_, html) = wx
        .web_login(&page_params(OFFICIAL, "snsapi_base", "s"), None)
        .await
        .unwrap_err();
    assert!(html.contains("10015"), "{html}");
}

async fn base_code(wx: &Wx) -> String {
    let location = wx
        .web_login(&page_params(OFFICIAL, "snsapi_base", "s"), None)
        .await
        .unwrap();
    query(&location)["code"].clone()
}

#[tokio::test]
async fn the_exchange_checks_the_component_token_and_takes_faults() {
    let wx = Wx::start().await;
    wx.sandbox.authorize(OFFICIAL, None).await.unwrap();
    let token = wx.component_token().await;
    let c = base_code(&wx).await;
    assert_eq!(wx.exchange("nope", OFFICIAL, &c).await["errcode"], 40001);
    // Injected errors change nothing: the code is still good afterwards.
    wx.sandbox.fail_next(ACCESS_TOKEN_API, -1, 1);
    assert_eq!(wx.exchange(&token, OFFICIAL, &c).await["errcode"], -1);
    wx.sandbox.fail_next(USERINFO_API, 45009, 1);
    let answer = wx.exchange(&token, OFFICIAL, &c).await;
    assert!(answer.get("errcode").is_none(), "{answer}");
    let openid = answer["openid"].as_str().unwrap();
    assert_eq!(
        wx.userinfo(answer["access_token"].as_str().unwrap(), openid)
            .await["errcode"],
        45009
    );

    // An account that withdrew: 61003.
    let c = base_code(&wx).await;
    wx.sandbox.withdraw(OFFICIAL).await.unwrap();
    assert_eq!(wx.exchange(&token, OFFICIAL, &c).await["errcode"], 61003);
    assert_eq!(wx.sandbox.calls_to(ACCESS_TOKEN_API), 4);
}
