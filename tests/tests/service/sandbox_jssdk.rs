//! The sandbox's JS-SDK stand-in (`/sandbox/jssdk.js`) in a real browser (headless Chromium):
//! a page on another origin loads it, calls `wx.config`, and hears `wx.ready` when the signature
//! was made over its address without the `#` part, `wx.error` with WeChat's message otherwise
//! (the cross-origin check, CORS preflight included, is the browser's own).

use std::time::Duration;

use axum::response::Html;
use serde_json::{Value, json};
use wxopen_tests::sandbox::jssdk::js_signature;
use wxopen_tests::sandbox::{Sandbox, SandboxConfig};
use wxopen_tests::webdriver::{self, Browser};
use wxopen_tests::{TEST_APPSECRET, TEST_COMPONENT_APPID};

const OFFICIAL: &str = "wx1c4e7a9d2b5f8036";
const NONCE: &str = "Wm3WZYTPz0wzccnW";

/// A jsapi_ticket of `appid`, the way the platform gets one: component token, the account's
/// authorization code exchanged for its access token, getticket.
async fn jsapi_ticket(sandbox: &Sandbox, appid: &str) -> String {
    let http = reqwest::Client::new();
    let api = |name: &str| format!("{}/cgi-bin/component/{name}", sandbox.base_url());
    let answer: Value = http
        .post(api("api_component_token"))
        .json(&json!({
            "component_appid": TEST_COMPONENT_APPID,
            "component_appsecret": TEST_APPSECRET,
            "component_verify_ticket": sandbox.ticket().ticket,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["component_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let grant = sandbox.authorize(appid, None).await.unwrap().grant;
    let answer: Value = http
        .post(api("api_query_auth"))
        .query(&[("component_access_token", &token)])
        .json(&json!({
            "component_appid": TEST_COMPONENT_APPID,
            "authorization_code": grant.authorization_code,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = answer["authorization_info"]["authorizer_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer: Value = http
        .get(format!("{}/cgi-bin/ticket/getticket", sandbox.base_url()))
        .query(&[("access_token", access_token.as_str()), ("type", "jsapi")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["ticket"].as_str().unwrap().to_owned()
}

/// A page that configures the JS-SDK with `signature` and shows the outcome in its title.
fn page(sandbox: &Sandbox, timestamp: i64, signature: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>pending</title>\
         <script src=\"{base}/sandbox/jssdk.js\"></script></head><body><script>\
         wx.config({{appId: \"{OFFICIAL}\", timestamp: {timestamp}, nonceStr: \"{NONCE}\", \
         signature: \"{signature}\", jsApiList: [\"updateAppMessageShareData\"]}});\
         wx.ready(function () {{ document.title = \"ready\"; }});\
         wx.error(function (res) {{ document.title = res.errMsg; }});\
         </script></body></html>",
        base = sandbox.base_url()
    )
}

/// The page's title once the JS-SDK has answered (a bounded wait for the browser's fetch).
async fn outcome(browser: &Browser) -> String {
    for _ in 0..200 {
        let title = browser.title().await.unwrap();
        if title != "pending" {
            return title;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the JS-SDK stand-in never called wx.ready or wx.error");
}

#[tokio::test]
async fn the_js_sdk_stand_in_checks_wx_config_in_a_real_browser() {
    match webdriver::available() {
        Ok(true) => {}
        Ok(false) => return,
        Err(missing) => panic!("{missing}"),
    }
    let sandbox = Sandbox::start(SandboxConfig {
        ticket_interval: Duration::ZERO,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let ticket = jsapi_ticket(&sandbox, OFFICIAL).await;
    let timestamp = sandbox.now();

    // The pages, on an origin of their own (any port of 127.0.0.1 is on the 网页开发域名).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let sign = |url: &str| js_signature(&ticket, NONCE, &timestamp.to_string(), url);
    let good = page(&sandbox, timestamp, &sign(&format!("{origin}/good?x=1")));
    let bad = page(
        &sandbox,
        timestamp,
        &sign(&format!("{origin}/bad?x=1#/tab")),
    );
    let app = axum::Router::new()
        .route(
            "/good",
            axum::routing::get(move || {
                let good = good.clone();
                async move { Html(good) }
            }),
        )
        .route(
            "/bad",
            axum::routing::get(move || {
                let bad = bad.clone();
                async move { Html(bad) }
            }),
        );
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let browser = Browser::start().await.unwrap();
    // Signed over the address without its fragment, as the platform must: ready.
    browser
        .goto(&format!("{origin}/good?x=1#/tab"))
        .await
        .unwrap();
    assert_eq!(outcome(&browser).await, "ready");
    // Signed with the fragment: WeChat's error.
    browser
        .goto(&format!("{origin}/bad?x=1#/tab"))
        .await
        .unwrap();
    assert_eq!(outcome(&browser).await, "config:invalid signature");
    browser.quit().await.unwrap();
    server.abort();
}
