//! Token vending: `GET /tokens/component` and `GET /tokens/authorizers/{appid}` answer tokens
//! WeChat accepts; refusals are exact; the template puts the routes behind IAM.

use lambda_http::http::Method;
use lambda_http::{Body, Request};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wxopen::wechat::WechatClient;
use wxopen_tests::service::{Service, with_iam_caller};

async fn get(service: &Service, path: &str) -> (StatusCode, Value, Option<String>) {
    let response = service.http.get(service.url(path)).send().await.unwrap();
    let status = response.status();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, response.json().await.unwrap(), cache)
}

fn wechat(service: &Service) -> WechatClient {
    WechatClient::new(
        service.sandbox.base_url(),
        &service.component,
        WechatClient::DEFAULT_TIMEOUT,
    )
}

#[tokio::test]
async fn the_component_token_is_one_wechat_accepts() {
    let service = Service::start().await;
    let (status, body, cache) = get(&service, "/tokens/component").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    let token = body["access_token"].as_str().unwrap();
    let stored = service
        .app
        .vendor
        .tokens
        .store
        .component_token(&service.component)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.token.as_ref().map(|t| t.expose()), Some(token));
    assert_eq!(body["expires_at"], stored.expires_at);
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert!((7000..=7200).contains(&expires_in), "{expires_in}");
    // WeChat takes it.
    wechat(&service).create_pre_auth_code(token).await.unwrap();

    // A second caller gets the same token: one refresh per expiry window.
    let (_, again, _) = get(&service, "/tokens/component").await;
    assert_eq!(again["access_token"], token);
    assert_eq!(service.sandbox.calls_to("api_component_token"), 1);
}

#[tokio::test]
async fn an_authorizers_token_is_its_own_and_withdrawal_is_reported() {
    let service = Service::start().await;
    let appid = service.sandbox.accounts()[0].account.appid.clone();
    // The administrator authorizes; the `authorized` push completes it.
    service.sandbox.authorize(&appid, None).await.unwrap();

    let (status, body, cache) = get(&service, &format!("/tokens/authorizers/{appid}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    let token = body["access_token"].as_str().unwrap();
    let record = service
        .app
        .vendor
        .tokens
        .store
        .authorizer(&service.component, &appid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.access_token.as_ref().map(|t| t.expose()),
        Some(token)
    );
    assert_eq!(body["expires_at"], record.access_token_expires_at);
    // WeChat takes it as this account's.
    wechat(&service)
        .send_custom_text(token, "o_user", "hello")
        .await
        .unwrap();
    let sent = service.sandbox.custom_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].authorizer_appid, appid);

    // The account withdraws (the `unauthorized` push): no token, and the reason.
    service.sandbox.withdraw(&appid).await.unwrap();
    let (status, body, _) = get(&service, &format!("/tokens/authorizers/{appid}")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        json!({
            "error": "not_authorized",
            "message": format!("authorizer {appid} is withdrawn"),
        })
    );
}

#[tokio::test]
async fn refusals_are_exact() {
    let service = Service::start().await;
    let (status, body, _) = get(&service, "/tokens/authorizers/wx0000000000000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({
            "error": "unknown_authorizer",
            "message": "authorizer wx0000000000000000 is not stored",
        })
    );
    let (status, body, _) = get(&service, "/tokens/everything").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");

    // Straight to the handler: without the IAM caller API Gateway adds, nothing is vended.
    let vendor = &service.app.vendor;
    let request = |method: Method| {
        let mut request = Request::new(Body::Empty);
        *request.method_mut() = method;
        *request.uri_mut() = "/tokens/component".parse().unwrap();
        request
    };
    let unsigned = token_vendor::handle(vendor, request(Method::GET))
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    let body: Value = serde_json::from_slice(unsigned.body().as_ref()).unwrap();
    assert_eq!(body["error"], "unsigned");
    let post = token_vendor::handle(
        vendor,
        with_iam_caller(request(Method::POST), "arn:aws:iam::1:user/x"),
    )
    .await
    .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(service.sandbox.calls_to("api_component_token"), 0);
}

#[tokio::test]
async fn wechat_failing_is_a_502_with_its_errcode() {
    let service = Service::start().await;
    service.sandbox.fail_next("api_component_token", 45009, 10);
    let (status, body, _) = get(&service, "/tokens/component").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"], "wechat_error");
    assert_eq!(body["errcode"], 45009);
    assert!(body.get("access_token").is_none());
}

/// The routes' authorization lives in the template: both token routes require AWS_IAM, and
/// nothing else routes to the token vendor.
#[test]
fn the_template_puts_the_token_routes_behind_iam() {
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap(),
    )
    .unwrap();
    let resources = &template["Resources"];
    assert_eq!(
        resources["HttpApi"]["Properties"]["Auth"]["EnableIamAuthorizer"],
        true
    );
    let vendor = &resources["TokenVendorFunction"];
    assert_eq!(
        vendor["Metadata"]["BuildProperties"]["Binary"],
        "token-vendor"
    );
    let events = vendor["Properties"]["Events"].as_mapping().unwrap();
    let mut paths: Vec<&str> = Vec::new();
    for (name, event) in events {
        let name = name.as_str().unwrap();
        assert_eq!(event["Type"], "HttpApi", "{name}");
        assert_eq!(event["Properties"]["Method"], "GET", "{name}");
        assert_eq!(
            event["Properties"]["Auth"]["Authorizer"], "AWS_IAM",
            "{name} must require IAM"
        );
        paths.push(event["Properties"]["Path"].as_str().unwrap());
    }
    paths.sort();
    assert_eq!(paths, ["/tokens/authorizers/{appid}", "/tokens/component"]);

    // Every other route is WeChat's or a merchant's, and none is under /tokens.
    for (name, resource) in resources.as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        if name == "TokenVendorFunction" {
            continue;
        }
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            if let Some(path) = event["Properties"]["Path"].as_str() {
                assert!(!path.starts_with("/tokens"), "{name} routes {path}");
            }
        }
    }
    let receiver = &resources["TicketReceiverFunction"]["Properties"]["Events"];
    assert_eq!(
        receiver["AuthorizerMessages"]["Properties"]["Path"],
        "/wechat/authorizers/{appid}/events"
    );
    assert_eq!(
        receiver["AuthorizerMessages"]["Properties"]["Method"],
        "POST"
    );
}
