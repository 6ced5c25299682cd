//! The sample events in events/: generated deterministically from the documented test key, so
//! they cannot rot, and replayed through the real handler.
//!
//! `UPDATE_EVENTS=1 cargo test -p wxopen-tests --test service events::` rewrites them.

use std::path::PathBuf;
use std::time::Duration;

use lambda_http::Body;
use lambda_http::http::StatusCode;
use ticket_receiver::{Receiver, handle};
use wxopen::MessageCrypto;
use wxopen_tests::*;

/// 2025-11-25T12:00:00Z: the events' own time. Replaying them needs the timestamp check off.
const EVENT_TIME: i64 = 1_764_072_000;
const AUTHORIZER: &str = "wx3a2a43b4f5c6d7e8";

/// A release-check test account (group 1's official account).
const TEST_ACCOUNT: &str = "wx570bc396a51b8ff8";
const TEST_ACCOUNT_USER_NAME: &str = "gh_3c884a361561";

struct Sample {
    file: &'static str,
    xml: String,
    random: &'static [u8; 16],
    nonce: &'static str,
    /// The message URL of this authorizer, or the authorization event URL when `None`.
    authorizer: Option<&'static str>,
}

fn samples() -> Vec<Sample> {
    vec![
        Sample {
            file: "ticket-push.json",
            xml: ticket_xml(
                TEST_COMPONENT_APPID,
                EVENT_TIME,
                "ticket@@@sample-verify-ticket",
            ),
            random: b"sample-random-01",
            nonce: "1320562132",
            authorizer: None,
        },
        Sample {
            file: "authorized-push.json",
            xml: authorization_xml(
                TEST_COMPONENT_APPID,
                "authorized",
                EVENT_TIME + 60,
                AUTHORIZER,
                "queryauthcode@@@sample-authorization-code",
                "preauthcode@@@sample-pre-auth-code",
            ),
            random: b"sample-random-02",
            nonce: "1730186529",
            authorizer: None,
        },
        Sample {
            file: "release-check-text.json",
            xml: format!(
                "<xml><ToUserName><![CDATA[{TEST_ACCOUNT_USER_NAME}]]></ToUserName>\
                 <FromUserName><![CDATA[ozy4qt1eDxSxzCr0aNT0mXCWfrDE]]></FromUserName>\
                 <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
                 <Content><![CDATA[TESTCOMPONENT_MSG_TYPE_TEXT]]></Content>\
                 <MsgId>24000000000000001</MsgId></xml>",
                EVENT_TIME + 120
            ),
            random: b"sample-random-03",
            nonce: "1415926535",
            authorizer: Some(TEST_ACCOUNT),
        },
    ]
}

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// An API Gateway HTTP API (payload 2.0) event, as the function receives WeChat's push.
fn render(sample: &Sample) -> String {
    let crypto =
        MessageCrypto::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, TEST_COMPONENT_APPID).unwrap();
    let encrypt = crypto.encrypt_with_random(sample.random, &sample.xml);
    let timestamp = EVENT_TIME.to_string();
    let msg_signature = crypto.signature(&timestamp, sample.nonce, &encrypt);
    let (path, addressee) = match sample.authorizer {
        None => (
            "/wechat/component/events".to_owned(),
            format!("<AppId><![CDATA[{TEST_COMPONENT_APPID}]]></AppId>"),
        ),
        Some(appid) => (
            format!("/wechat/authorizers/{appid}/events"),
            format!("<ToUserName><![CDATA[{TEST_ACCOUNT_USER_NAME}]]></ToUserName>"),
        ),
    };
    let route_key = match sample.authorizer {
        None => "POST /wechat/component/events",
        Some(_) => "POST /wechat/authorizers/{appid}/events",
    };
    let body = format!("<xml>{addressee}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
    // WeChat's plain `signature` covers token, timestamp and nonce; safe mode checks msg_signature.
    let mut parts = [TEST_TOKEN, timestamp.as_str(), sample.nonce];
    parts.sort_unstable();
    let signature = sha1_hex(&parts.concat());
    let query = format!(
        "signature={signature}&timestamp={timestamp}&nonce={}&encrypt_type=aes&msg_signature={msg_signature}",
        sample.nonce
    );
    let mut event = serde_json::json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "content-type": "text/xml",
            "host": "abc123.execute-api.ap-east-1.amazonaws.com",
            "user-agent": "Mozilla/4.0",
        },
        "queryStringParameters": {
            "signature": signature,
            "timestamp": timestamp,
            "nonce": sample.nonce,
            "encrypt_type": "aes",
            "msg_signature": msg_signature,
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.ap-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "101.226.103.61",
                "userAgent": "Mozilla/4.0",
            },
            "requestId": format!("sample-{}", sample.nonce),
            "routeKey": route_key,
            "stage": "$default",
            "time": "25/Nov/2025:12:00:00 +0000",
            "timeEpoch": EVENT_TIME * 1000,
        },
        "body": body,
        "isBase64Encoded": false,
    });
    if let Some(appid) = sample.authorizer {
        event["pathParameters"] = serde_json::json!({ "appid": appid });
    }
    format!("{}\n", serde_json::to_string_pretty(&event).unwrap())
}

fn sha1_hex(text: &str) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(text.as_bytes()))
}

/// A token vending request as API Gateway hands it on after checking the caller's SigV4
/// signature (`authorizer.iam`).
fn token_vendor_event() -> String {
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": "GET /tokens/authorizers/{appid}",
        "rawPath": format!("/tokens/authorizers/{AUTHORIZER}"),
        "rawQueryString": "",
        "headers": {
            "host": "abc123.execute-api.ap-east-1.amazonaws.com",
            "x-amz-date": "20251125T120000Z",
        },
        "pathParameters": { "appid": AUTHORIZER },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "authorizer": {
                "iam": {
                    "accessKey": "ASIASAMPLEACCESSKEY",
                    "accountId": "123456789012",
                    "callerId": "AROASAMPLEROLEID:code-release",
                    "principalOrgId": null,
                    "userArn": "arn:aws:sts::123456789012:assumed-role/code-release/worker",
                    "userId": "AROASAMPLEROLEID:code-release",
                },
            },
            "domainName": "abc123.execute-api.ap-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "GET",
                "path": format!("/tokens/authorizers/{AUTHORIZER}"),
                "protocol": "HTTP/1.1",
                "sourceIp": "10.0.12.34",
                "userAgent": "aws-sdk-go-v2",
            },
            "requestId": "sample-token-vendor",
            "routeKey": "GET /tokens/authorizers/{appid}",
            "stage": "$default",
            "time": "25/Nov/2025:12:00:00 +0000",
            "timeEpoch": EVENT_TIME * 1000,
        },
        "isBase64Encoded": false,
    });
    format!("{}\n", serde_json::to_string_pretty(&event).unwrap())
}

#[test]
fn sample_events_are_current_and_documented() {
    let path = events_dir().join("token-vendor-authorizer.json");
    if std::env::var_os("UPDATE_EVENTS").is_some() {
        std::fs::write(&path, token_vendor_event()).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        token_vendor_event(),
        "token-vendor-authorizer.json is stale: rerun with UPDATE_EVENTS=1"
    );
    let readme = std::fs::read_to_string(events_dir().join("README.md")).unwrap();
    for sample in samples() {
        let path = events_dir().join(sample.file);
        let rendered = render(&sample);
        if std::env::var_os("UPDATE_EVENTS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            on_disk, rendered,
            "{} is stale: rerun with UPDATE_EVENTS=1",
            sample.file
        );
        assert!(
            readme.contains(&sample.xml),
            "events/README.md must show what {} decrypts to",
            sample.file
        );
    }
}

#[tokio::test]
async fn sample_events_are_accepted_by_the_handler() {
    let aws = aws().await;
    let mut receiver = Receiver::new(&config(TEST_COMPONENT_APPID, "wxopen/local"), &aws);
    receiver.timestamp_tolerance = Duration::ZERO;

    for sample in samples() {
        let json = std::fs::read_to_string(events_dir().join(sample.file)).unwrap();
        let request = lambda_http::request::from_str(&json).unwrap();
        let response = handle(&receiver, request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", sample.file);
        if sample.authorizer.is_none() {
            assert_eq!(response.body(), &Body::Text("success".into()));
            continue;
        }
        // The release check's text: an encrypted, signed reply with the text it expects.
        let crypto =
            MessageCrypto::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, TEST_COMPONENT_APPID).unwrap();
        let reply =
            wxopen::xml::parse(std::str::from_utf8(response.body().as_ref()).unwrap()).unwrap();
        let field = |name| reply.get(name).unwrap();
        crypto
            .verify_signature(
                field("MsgSignature"),
                field("TimeStamp"),
                field("Nonce"),
                field("Encrypt"),
            )
            .unwrap();
        let plain = wxopen::xml::parse(&crypto.decrypt(field("Encrypt")).unwrap()).unwrap();
        assert_eq!(
            plain.get("Content"),
            Some("TESTCOMPONENT_MSG_TYPE_TEXT_callback")
        );
        assert_eq!(
            plain.get("ToUserName"),
            Some("ozy4qt1eDxSxzCr0aNT0mXCWfrDE")
        );
        assert_eq!(plain.get("FromUserName"), Some(TEST_ACCOUNT_USER_NAME));
    }

    // Other tests may push newer tickets for this appid; the sample's is kept unless superseded.
    let ticket = receiver
        .tokens
        .store
        .ticket(TEST_COMPONENT_APPID)
        .await
        .unwrap()
        .unwrap();
    assert!(ticket.create_time >= EVENT_TIME);
    if ticket.create_time == EVENT_TIME {
        assert_eq!(ticket.ticket, "ticket@@@sample-verify-ticket");
    }
    let events = receiver
        .tokens
        .store
        .authorization_events(TEST_COMPONENT_APPID, AUTHORIZER)
        .await
        .unwrap();
    let sample_event = events
        .iter()
        .find(|e| e.create_time == EVENT_TIME + 60)
        .expect("recorded");
    assert_eq!(sample_event.info_type, "authorized");
    assert_eq!(
        sample_event.grant.as_ref().unwrap().authorization_code,
        "queryauthcode@@@sample-authorization-code"
    );
}

#[tokio::test]
async fn sample_events_are_refused_once_stale() {
    // With the production setting the recorded events are replays.
    let aws = aws().await;
    let receiver = Receiver::new(&config(TEST_COMPONENT_APPID, "wxopen/local"), &aws);
    let json = std::fs::read_to_string(events_dir().join("ticket-push.json")).unwrap();
    let response = handle(&receiver, lambda_http::request::from_str(&json).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_token_vendor_sample_reaches_the_store_as_the_signed_caller() {
    let aws = aws().await;
    let vendor = token_vendor::TokenVendor::new(&config(&unique_appid(), "wxopen/local"), &aws);
    let json = std::fs::read_to_string(events_dir().join("token-vendor-authorizer.json")).unwrap();
    let request = lambda_http::request::from_str(&json).unwrap();
    assert_eq!(
        token_vendor::caller(&request).as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/code-release/worker")
    );
    // A fresh platform has no such account: the request got past the IAM check to the store.
    let response = token_vendor::handle(&vendor, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(body["error"], "unknown_authorizer");
}
