//! The JS-SDK: `cgi-bin/ticket/getticket` with an authorizer's token, the `wx.config` check, and
//! what a browser page uses (`/sandbox/jssdk.js`, `/sandbox/jssdk/verify`).

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use wechat_sandbox::jssdk::{API, INVALID_SIGNATURE, INVALID_URL_DOMAIN, js_signature};

use super::OFFICIAL;
use super::support::*;

const PAGE: &str = "http://127.0.0.1:9000/demo/jssdk?x=1&y=%E4%B8%AD";

impl Wx {
    pub async fn getticket(&self, params: &[(&str, &str)]) -> Value {
        self.get_api("/cgi-bin/ticket/getticket", params).await
    }

    /// `appid` authorizes through the page; its access token.
    pub async fn authorizer_access_token(&self, appid: &str) -> String {
        let token = self.component_token().await;
        let code = self.authorize(&token, appid).await;
        self.query_auth(&token, &code)
            .await
            .authorization_info
            .authorizer_access_token
    }

    pub async fn jsapi_ticket(&self, access_token: &str) -> String {
        let answer = self
            .getticket(&[("access_token", access_token), ("type", "jsapi")])
            .await;
        assert_eq!(
            (&answer["errcode"], &answer["errmsg"]),
            (&json!(0), &json!("ok"))
        );
        assert_eq!(answer["expires_in"], 7200);
        answer["ticket"].as_str().unwrap().to_owned()
    }
}

fn now_secs(wx: &Wx) -> String {
    wx.sandbox.now().to_string()
}

#[tokio::test]
async fn getticket_issues_a_new_ticket_each_call_and_each_lives_its_own_two_hours() {
    let wx = Wx::start().await;
    wx.sandbox.freeze_clock(true);
    let token = wx.authorizer_access_token(OFFICIAL).await;
    let first = wx.jsapi_ticket(&token).await;
    wx.sandbox.advance(Duration::from_secs(100));
    let second = wx.jsapi_ticket(&token).await;
    assert_ne!(first, second);
    assert_eq!(
        wx.sandbox.jsapi_tickets(OFFICIAL),
        vec![first.clone(), second.clone()]
    );
    wx.sandbox.advance(Duration::from_secs(7099));
    assert_eq!(
        wx.sandbox.jsapi_tickets(OFFICIAL),
        vec![first, second.clone()]
    );
    wx.sandbox.advance(Duration::from_secs(1));
    assert_eq!(wx.sandbox.jsapi_tickets(OFFICIAL), vec![second]);
    assert_eq!(wx.sandbox.calls_for(API, OFFICIAL), 2);
}

#[tokio::test]
async fn getticket_checks_the_authorizer_token_and_counts_every_call() {
    let wx = Wx::start().await;
    wx.sandbox.freeze_clock(true);
    let token = wx.authorizer_access_token(OFFICIAL).await;
    let errcode = |answer: Value| answer["errcode"].as_i64().unwrap();

    assert_eq!(errcode(wx.getticket(&[("type", "jsapi")]).await), 41001);
    assert_eq!(
        errcode(
            wx.getticket(&[("access_token", "89_forged"), ("type", "jsapi")])
                .await
        ),
        40001
    );
    assert_eq!(
        errcode(wx.getticket(&[("access_token", &token)]).await),
        40097
    );
    assert_eq!(
        errcode(
            wx.getticket(&[("access_token", &token), ("type", "wx_card")])
                .await
        ),
        40097
    );
    // An injected error issues nothing.
    wx.sandbox.fail_next(API, 45009, 1);
    assert_eq!(
        errcode(
            wx.getticket(&[("access_token", &token), ("type", "jsapi")])
                .await
        ),
        45009
    );
    assert!(wx.sandbox.jsapi_tickets(OFFICIAL).is_empty());
    assert_eq!(wx.sandbox.calls_to(API), 5);
    assert_eq!(wx.sandbox.calls_for(API, OFFICIAL), 3);

    // The authorizer token expires (42001), and dies with a withdrawal (40001).
    let ticket = wx.jsapi_ticket(&token).await;
    wx.sandbox.advance(Duration::from_secs(7200));
    assert_eq!(
        errcode(
            wx.getticket(&[("access_token", &token), ("type", "jsapi")])
                .await
        ),
        42001
    );
    // The ticket lives its own life: issued before, it expires with its own 7200 s.
    assert!(
        wx.sandbox.jsapi_tickets(OFFICIAL).is_empty(),
        "{ticket} expired"
    );
    let fresh = wx.authorizer_access_token(OFFICIAL).await;
    wx.jsapi_ticket(&fresh).await;
    wx.sandbox.withdraw(OFFICIAL).await.unwrap();
    assert_eq!(
        errcode(
            wx.getticket(&[("access_token", &fresh), ("type", "jsapi")])
                .await
        ),
        40001
    );
    assert_eq!(wx.sandbox.calls_to(API), 9);
}

#[tokio::test]
async fn wx_config_is_checked_like_wechats_js_sdk() {
    let wx = Wx::start().await;
    wx.sandbox.freeze_clock(true);
    let token = wx.authorizer_access_token(OFFICIAL).await;
    let ticket = wx.jsapi_ticket(&token).await;
    let ts = now_secs(&wx);
    let nonce = "Wm3WZYTPz0wzccnW";
    let s = &wx.sandbox;
    let good = js_signature(&ticket, nonce, &ts, PAGE);
    let refused = |r: Result<(), String>| r.unwrap_err();

    assert_eq!(
        s.verify_js_config(OFFICIAL, PAGE, &ts, nonce, &good),
        Ok(())
    );
    // The page's own address may carry a fragment: the JS-SDK leaves it out, so must the signer.
    let with_fragment = format!("{PAGE}#/tab?z=2");
    assert_eq!(
        s.verify_js_config(OFFICIAL, &with_fragment, &ts, nonce, &good),
        Ok(())
    );
    let signed_with_fragment = js_signature(&ticket, nonce, &ts, &with_fragment);
    assert_eq!(
        refused(s.verify_js_config(OFFICIAL, &with_fragment, &ts, nonce, &signed_with_fragment)),
        INVALID_SIGNATURE
    );
    // The URL exactly as the page has it: not decoded, not another page.
    let decoded = "http://127.0.0.1:9000/demo/jssdk?x=1&y=中";
    assert_eq!(
        refused(s.verify_js_config(
            OFFICIAL,
            PAGE,
            &ts,
            nonce,
            &js_signature(&ticket, nonce, &ts, decoded)
        )),
        INVALID_SIGNATURE
    );
    assert_eq!(
        refused(s.verify_js_config(
            OFFICIAL,
            "http://127.0.0.1:9000/demo/other",
            &ts,
            nonce,
            &good
        )),
        INVALID_SIGNATURE
    );
    // Another ticket, another nonce, another account, an uppercase signature.
    let forged = js_signature("not-the-ticket", nonce, &ts, PAGE);
    assert_eq!(
        refused(s.verify_js_config(OFFICIAL, PAGE, &ts, nonce, &forged)),
        INVALID_SIGNATURE
    );
    assert_eq!(
        refused(s.verify_js_config(OFFICIAL, PAGE, &ts, "other", &good)),
        INVALID_SIGNATURE
    );
    assert_eq!(
        refused(s.verify_js_config("wx3f2a6c8d1e4b7a90", PAGE, &ts, nonce, &good)),
        INVALID_SIGNATURE
    );
    assert_eq!(
        refused(s.verify_js_config(OFFICIAL, PAGE, &ts, nonce, &good.to_uppercase())),
        INVALID_SIGNATURE
    );
    // A timestamp in milliseconds.
    let ms = format!("{ts}000");
    assert_eq!(
        refused(s.verify_js_config(
            OFFICIAL,
            PAGE,
            &ms,
            nonce,
            &js_signature(&ticket, nonce, &ms, PAGE)
        )),
        INVALID_SIGNATURE
    );
    // A page off the platform's 网页开发域名.
    let elsewhere = "https://evil.example.com/page";
    assert_eq!(
        refused(s.verify_js_config(
            OFFICIAL,
            elsewhere,
            &ts,
            nonce,
            &js_signature(&ticket, nonce, &ts, elsewhere)
        )),
        INVALID_URL_DOMAIN
    );
    // A newer ticket does not retire the older one; its expiry does.
    s.advance(Duration::from_secs(100));
    let newer = wx.jsapi_ticket(&token).await;
    assert_eq!(
        s.verify_js_config(OFFICIAL, PAGE, &ts, nonce, &good),
        Ok(())
    );
    s.advance(Duration::from_secs(7100));
    let ts = now_secs(&wx);
    assert_eq!(
        refused(s.verify_js_config(
            OFFICIAL,
            PAGE,
            &ts,
            nonce,
            &js_signature(&ticket, nonce, &ts, PAGE)
        )),
        INVALID_SIGNATURE
    );
    assert_eq!(
        s.verify_js_config(
            OFFICIAL,
            PAGE,
            &ts,
            nonce,
            &js_signature(&newer, nonce, &ts, PAGE)
        ),
        Ok(())
    );
}

#[tokio::test]
async fn pages_check_wx_config_over_http_from_any_origin() {
    let wx = Wx::start().await;
    wx.sandbox.freeze_clock(true);
    let token = wx.authorizer_access_token(OFFICIAL).await;
    let ticket = wx.jsapi_ticket(&token).await;
    let ts = wx.sandbox.now();
    let verify = wx.url("/sandbox/jssdk/verify");

    let preflight = wx
        .http
        .request(reqwest::Method::OPTIONS, &verify)
        .header("origin", "http://127.0.0.1:9000")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("content-type")
    );

    let post = |body: Value| {
        let request = wx.http.post(&verify).json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.headers()["access-control-allow-origin"], "*");
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    // The timestamp as a number (as pages usually pass it) or a string; jsApiList is ignored.
    let config = json!({
        "appId": OFFICIAL,
        "timestamp": ts,
        "nonceStr": "abc",
        "signature": js_signature(&ticket, "abc", &ts.to_string(), PAGE),
        "jsApiList": ["updateAppMessageShareData"],
        "url": PAGE,
    });
    assert_eq!(
        post(config.clone()).await,
        (StatusCode::OK, json!({"ok": true}))
    );
    let mut as_string = config.clone();
    as_string["timestamp"] = json!(ts.to_string());
    assert_eq!(post(as_string).await.1, json!({"ok": true}));
    let mut wrong = config.clone();
    wrong["nonceStr"] = json!("abd");
    assert_eq!(
        post(wrong).await,
        (
            StatusCode::OK,
            json!({"ok": false, "errmsg": "invalid signature"})
        )
    );
    let (status, _) = post(json!({"appId": OFFICIAL})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_js_sdk_stand_in_is_served_as_javascript() {
    let wx = Wx::start().await;
    let response = wx
        .http
        .get(wx.url("/sandbox/jssdk.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let script = response.text().await.unwrap();
    for needed in [
        "window.wx",
        "config: function (cfg)",
        "ready: function (fn)",
        "error: function (fn)",
        "/sandbox/jssdk/verify",
        "location.href.split(\"#\")[0]",
        "\"config:\"",
    ] {
        assert!(script.contains(needed), "{needed}");
    }
}
