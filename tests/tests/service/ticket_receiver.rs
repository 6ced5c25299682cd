//! The ticket receiver's handler against DynamoDB Local and the Secrets Manager emulator.

use std::time::Duration;

use lambda_http::Body;
use lambda_http::http::{Method, StatusCode};
use ticket_receiver::{Receiver, handle};
use wxopen::push::AuthorizationGrant;
use wxopen_tests::receiver::{ReceiverPlatform, answer};
use wxopen_tests::*;

type Platform = ReceiverPlatform;

fn success() -> (StatusCode, String) {
    (StatusCode::OK, "success".to_owned())
}

#[tokio::test]
async fn a_ticket_push_is_stored_and_answered_success() {
    let p = Platform::new().await;
    let now = wxopen::unix_now();
    let push = p
        .pusher
        .push(&ticket_xml(&p.appid, now, "ticket@@@first"), now);

    assert_eq!(p.send(&push).await, success());

    let stored = p.ticket().await.expect("ticket stored");
    assert_eq!(stored.ticket, "ticket@@@first");
    assert_eq!(stored.create_time, now);
    assert!((stored.received_at - now).abs() <= 5);
    assert_eq!(p.item_count().await, 1);
}

#[tokio::test]
async fn a_duplicate_push_is_answered_success_and_changes_nothing() {
    let p = Platform::new().await;
    let now = wxopen::unix_now();
    let push = p
        .pusher
        .push(&ticket_xml(&p.appid, now - 10, "ticket@@@dup"), now);
    assert_eq!(p.send(&push).await, success());
    let first = items_of(&p.aws, &p.appid).await;

    // WeChat retries with the very same request, a little later.
    pause(Duration::from_millis(1100)).await;
    assert_eq!(p.send(&push).await, success());
    assert_eq!(items_of(&p.aws, &p.appid).await, first);
}

#[tokio::test]
async fn an_older_ticket_after_a_newer_one_keeps_the_newest() {
    let p = Platform::new().await;
    let now = wxopen::unix_now();
    let newer = p
        .pusher
        .push(&ticket_xml(&p.appid, now - 60, "ticket@@@newer"), now);
    let older = p
        .pusher
        .push(&ticket_xml(&p.appid, now - 660, "ticket@@@older"), now);

    assert_eq!(p.send(&newer).await, success());
    assert_eq!(p.send(&older).await, success());
    let stored = p.ticket().await.unwrap();
    assert_eq!(
        (stored.ticket.as_str(), stored.create_time),
        ("ticket@@@newer", now - 60)
    );

    // And a newer one after that replaces it.
    let newest = p
        .pusher
        .push(&ticket_xml(&p.appid, now, "ticket@@@newest"), now);
    assert_eq!(p.send(&newest).await, success());
    assert_eq!(p.ticket().await.unwrap().ticket, "ticket@@@newest");
    assert_eq!(p.item_count().await, 1);
}

#[tokio::test]
async fn authorization_events_are_recorded_once_for_later_work() {
    let p = Platform::new().await;
    let now = wxopen::unix_now();
    let authorizer = "wx570bc396a51b8ff8";
    let authorized = p.pusher.push(
        &authorization_xml(
            &p.appid,
            "authorized",
            now - 2,
            authorizer,
            "queryauthcode@@@a",
            "preauthcode@@@a",
        ),
        now,
    );
    let updated = p.pusher.push(
        &authorization_xml(
            &p.appid,
            "updateauthorized",
            now - 1,
            authorizer,
            "queryauthcode@@@b",
            "preauthcode@@@b",
        ),
        now,
    );
    let withdrawn = p.pusher.push(
        &format!(
            "<xml><AppId>{}</AppId><CreateTime>{now}</CreateTime><InfoType>unauthorized</InfoType>\
             <AuthorizerAppid>{authorizer}</AuthorizerAppid></xml>",
            p.appid
        ),
        now,
    );
    for push in [&authorized, &updated, &withdrawn, &authorized] {
        assert_eq!(p.send(push).await, success());
    }

    let events = p
        .receiver
        .tokens
        .store
        .authorization_events(&p.appid, authorizer)
        .await
        .unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.info_type.as_str(), e.create_time, e.pending))
        .collect();
    assert_eq!(
        kinds,
        [
            ("authorized", now - 2, true),
            ("updateauthorized", now - 1, true),
            ("unauthorized", now, true)
        ]
    );
    assert_eq!(
        events[0].grant,
        Some(AuthorizationGrant {
            authorizer_appid: authorizer.into(),
            authorization_code: "queryauthcode@@@a".into(),
            authorization_code_expired_time: now - 2 + 3600,
            pre_auth_code: Some("preauthcode@@@a".into()),
        })
    );
    assert_eq!(events[2].grant, None);
    assert_eq!(p.item_count().await, 3);
    assert_eq!(p.ticket().await, None);
}

#[tokio::test]
async fn unknown_info_types_are_kept_and_answered_success() {
    let p = Platform::new().await;
    let now = wxopen::unix_now();
    let push = p.pusher.push(
        &format!(
            "<xml><AppId>{}</AppId><CreateTime>{now}</CreateTime>\
             <InfoType>notify_third_fastverifybetaapp</InfoType><appid>wxnew</appid><status>0</status>\
             <info><name>公司名称</name></info></xml>",
            p.appid
        ),
        now,
    );
    assert_eq!(p.send(&push).await, success());
    assert_eq!(p.send(&push).await, success());

    let items = items_of(&p.aws, &p.appid).await;
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(
        item["info_type"].as_s().unwrap(),
        "notify_third_fastverifybetaapp"
    );
    let fields = item["fields"].as_m().unwrap();
    assert_eq!(fields["info/name"].as_s().unwrap(), "公司名称");
    assert_eq!(fields["appid"].as_s().unwrap(), "wxnew");
}

#[tokio::test]
async fn forged_or_missing_signatures_are_refused() {
    let p = Platform::new().await;
    let now = wxopen::unix_now();
    let push = p
        .pusher
        .push(&ticket_xml(&p.appid, now, "ticket@@@forged"), now);
    let forbidden = "msg_signature does not match (-40001 ValidateSignatureError)";

    let mut forged = push.clone();
    forged.msg_signature = "0".repeat(40);
    p.refused(&forged, StatusCode::FORBIDDEN, forbidden).await;

    // Signed with another token.
    let stranger = Pusher::new("not-our-token", TEST_ENCODING_AES_KEY, &p.appid);
    p.refused(
        &stranger.push(&ticket_xml(&p.appid, now, "t"), now),
        StatusCode::FORBIDDEN,
        forbidden,
    )
    .await;

    // A valid signature over another nonce.
    p.refused_request(
        push.request_with(&[("nonce", Some("1"))]),
        StatusCode::FORBIDDEN,
        forbidden,
    )
    .await;

    for name in ["msg_signature", "timestamp", "nonce"] {
        p.refused_request(
            push.request_with(&[(name, None)]),
            StatusCode::BAD_REQUEST,
            &format!("query parameter {name} is missing"),
        )
        .await;
    }
    p.refused_request(
        push.request_with(&[("encrypt_type", Some("raw"))]),
        StatusCode::BAD_REQUEST,
        "encrypt_type must be aes",
    )
    .await;
    assert_eq!(p.ticket().await, None);
}

#[tokio::test]
async fn timestamps_too_far_from_now_are_refused() {
    let p = Platform::new().await;
    let now = wxopen::unix_now();
    let xml = ticket_xml(&p.appid, now, "ticket@@@late");
    // The window is inclusive of 5 minutes; 6 off either way is a replay or a forgery.
    let late = p.pusher.push(&xml, now - 360);
    let (status, body) = answer(handle(&p.receiver, late.request()).await.unwrap());
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.starts_with("timestamp is 36")
            && body.ends_with(" s away from now: refused as a replay"),
        "{body}"
    );
    let early = p.pusher.push(&xml, now + 360);
    let (status, body) = answer(handle(&p.receiver, early.request()).await.unwrap());
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.starts_with("timestamp is -3"), "{body}");
    p.refused_request(
        p.pusher
            .push(&xml, now)
            .request_with(&[("timestamp", Some("12:00"))]),
        StatusCode::BAD_REQUEST,
        "timestamp is not a Unix time in seconds",
    )
    .await;
    assert_eq!(p.item_count().await, 0);

    // Within the window it is accepted; and the window is configurable.
    assert_eq!(p.send(&p.pusher.push(&xml, now - 240)).await, success());
    let mut strict = Platform::new().await;
    strict.receiver.timestamp_tolerance = Duration::from_secs(10);
    let push = strict
        .pusher
        .push(&ticket_xml(&strict.appid, now, "t"), now - 60);
    let (status, _) = answer(handle(&strict.receiver, push.request()).await.unwrap());
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(strict.item_count().await, 0);
}

#[tokio::test]
async fn pushes_for_another_appid_are_refused() {
    let p = Platform::new().await;
    let now = wxopen::unix_now();
    let xml = ticket_xml(&p.appid, now, "ticket@@@foreign");

    // The envelope names another platform.
    let mut outer = p.pusher.clone();
    outer.envelope_appid = "wx0000000000000000".into();
    p.refused(
        &outer.push(&xml, now),
        StatusCode::FORBIDDEN,
        "the push is addressed to wx0000000000000000, not to this platform (-40005 ValidateAppidError)",
    )
    .await;

    // Encrypted for another platform (the trailing appid), signed with our token.
    let mut inner = Pusher::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, "wx1111111111111111");
    inner.envelope_appid = p.appid.clone();
    p.refused(
        &inner.push(&xml, now),
        StatusCode::FORBIDDEN,
        "the message was encrypted for another appid (-40005 ValidateAppidError)",
    )
    .await;

    // The decrypted message's own AppId is another platform's.
    p.refused(
        &p.pusher.push(&ticket_xml("wx2222222222222222", now, "t"), now),
        StatusCode::FORBIDDEN,
        "the push is addressed to wx2222222222222222, not to this platform (-40005 ValidateAppidError)",
    )
    .await;

    // No AppId at all.
    let mut push = p.pusher.push(&xml, now);
    push.body = push
        .body
        .replace(&format!("<AppId><![CDATA[{}]]></AppId>", p.appid), "");
    p.refused(
        &push,
        StatusCode::BAD_REQUEST,
        "the push has no AppId (-40002 ParseXmlError)",
    )
    .await;
}

#[tokio::test]
async fn malformed_ciphertexts_are_refused() {
    let p = Platform::new().await;
    let now = wxopen::unix_now();
    p.refused(
        &p.pusher.push_encrypted("not*base64!", now),
        StatusCode::BAD_REQUEST,
        "Encrypt is not valid base64 (-40010 DecodeBase64Error)",
    )
    .await;
    p.refused(
        &p.pusher.push_encrypted("YWJjZA==", now),
        StatusCode::BAD_REQUEST,
        "the ciphertext is not a whole number of AES blocks (-40007 DecryptAESError)",
    )
    .await;
    // 32 bytes that decrypt to garbage: the padding byte is almost never valid, and when it
    // is, the length field is not. Either way: IllegalBuffer.
    let garbage = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=";
    p.refused(
        &p.pusher.push_encrypted(garbage, now),
        StatusCode::BAD_REQUEST,
        "bad padding or length in the decrypted buffer (-40008 IllegalBuffer)",
    )
    .await;
}

#[tokio::test]
async fn xml_with_a_doctype_or_entity_is_refused_outside_and_inside() {
    let p = Platform::new().await;
    let now = wxopen::unix_now();
    let refused = "XML with a DOCTYPE or entity declaration is refused (-40002 ParseXmlError)";

    let mut outer = p.pusher.push(&ticket_xml(&p.appid, now, "t"), now);
    outer.body = format!(
        "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        outer.body
    );
    p.refused(&outer, StatusCode::BAD_REQUEST, refused).await;

    let laughs = format!(
        "<!DOCTYPE xml [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>{}",
        ticket_xml(&p.appid, now, "&lol2;")
    );
    p.refused(
        &p.pusher.push(&laughs, now),
        StatusCode::BAD_REQUEST,
        refused,
    )
    .await;

    // In CDATA "&xxe;" is just text; outside it, an undeclared entity is refused.
    let entity = format!(
        "<xml><AppId>{}</AppId><CreateTime>{now}</CreateTime><InfoType>component_verify_ticket</InfoType>\
         <ComponentVerifyTicket>&xxe;</ComponentVerifyTicket></xml>",
        p.appid
    );
    p.refused(
        &p.pusher.push(&entity, now),
        StatusCode::BAD_REQUEST,
        "XML references an unknown entity (-40002 ParseXmlError)",
    )
    .await;
}

#[tokio::test]
async fn oversized_malformed_and_incomplete_pushes_are_refused() {
    let p = Platform::new().await;
    let now = wxopen::unix_now();

    let mut huge = p.pusher.push(&ticket_xml(&p.appid, now, "t"), now);
    huge.body.push_str(&" ".repeat(64 * 1024));
    p.refused(
        &huge,
        StatusCode::PAYLOAD_TOO_LARGE,
        "the body is larger than 65536 bytes",
    )
    .await;

    let mut no_encrypt = p.pusher.push(&ticket_xml(&p.appid, now, "t"), now);
    no_encrypt.body = format!("<xml><AppId>{}</AppId></xml>", p.appid);
    p.refused(
        &no_encrypt,
        StatusCode::BAD_REQUEST,
        "the push has no Encrypt (-40002 ParseXmlError)",
    )
    .await;

    let mut broken = p.pusher.push(&ticket_xml(&p.appid, now, "t"), now);
    broken.body = "<xml><AppId>wx</Encrypt></xml>".into();
    let (status, body) = answer(handle(&p.receiver, broken.request()).await.unwrap());
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("XML is malformed"), "{body}");

    p.refused(
        &p.pusher.push(
            &format!("<xml><AppId>{}</AppId><CreateTime>{now}</CreateTime><InfoType>component_verify_ticket</InfoType></xml>", p.appid),
            now,
        ),
        StatusCode::BAD_REQUEST,
        "the push has no ComponentVerifyTicket (-40002 ParseXmlError)",
    )
    .await;
    p.refused(
        &p.pusher.push(
            &format!("<xml><AppId>{}</AppId><CreateTime>yesterday</CreateTime><InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket>t</ComponentVerifyTicket></xml>", p.appid),
            now,
        ),
        StatusCode::BAD_REQUEST,
        "CreateTime is not a Unix time in seconds (-40002 ParseXmlError)",
    )
    .await;
    p.refused_request(
        request(Method::POST, &[], Body::Binary(vec![0xff, 0xfe, 0x00])),
        StatusCode::BAD_REQUEST,
        "the body is not UTF-8 text",
    )
    .await;
    p.refused_request(
        request(Method::GET, &[], Body::Empty),
        StatusCode::METHOD_NOT_ALLOWED,
        "only POST is accepted",
    )
    .await;
}

#[tokio::test]
async fn a_failed_write_is_a_server_error_so_wechat_retries() {
    let p = Platform::new().await;
    let now = wxopen::unix_now();
    let mut missing_table = config(&p.appid, "wxopen/local");
    missing_table.table_name = "no-such-table".into();
    let receiver = Receiver::new(&missing_table, &p.aws);
    let push = p
        .pusher
        .push(&ticket_xml(&p.appid, now, "ticket@@@lost"), now);

    let got = answer(handle(&receiver, push.request()).await.unwrap());
    assert_eq!(
        got,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the push could not be stored".to_owned()
        )
    );

    // WeChat's retry, once the table is there, is stored.
    assert_eq!(p.send(&push).await, success());
    assert_eq!(p.ticket().await.unwrap().ticket, "ticket@@@lost");
}

#[tokio::test]
async fn an_unavailable_secret_is_a_server_error() {
    let p = Platform::with_secret("wxopen/no-such-secret").await;
    let now = wxopen::unix_now();
    let push = p.pusher.push(&ticket_xml(&p.appid, now, "t"), now);
    p.refused(
        &push,
        StatusCode::SERVICE_UNAVAILABLE,
        "the platform's secret is unavailable",
    )
    .await;
}

#[tokio::test]
async fn a_rotated_token_is_picked_up() {
    let aws = aws().await;
    let name = format!("wxopen/rotation-{}", unique_appid());
    put_secret(&aws, &name, "token-before", TEST_ENCODING_AES_KEY).await;
    let appid = unique_appid();
    let mut config = config(&appid, &name);
    config.secret_max_age = Duration::from_secs(3600);
    let mut receiver = Receiver::new(&config, &aws);
    let now = wxopen::unix_now();

    let before = Pusher::new("token-before", TEST_ENCODING_AES_KEY, &appid);
    let push = before.push(&ticket_xml(&appid, now - 1, "ticket@@@before"), now);
    assert_eq!(
        answer(handle(&receiver, push.request()).await.unwrap()),
        success()
    );

    // The operator changes the token in the console and the secret; the cache is young, but a
    // push that fails the old token makes the receiver look again (once the cache is 30 s old).
    put_secret(&aws, &name, "token-after", TEST_ENCODING_AES_KEY).await;
    let after = Pusher::new("token-after", TEST_ENCODING_AES_KEY, &appid);
    let push = after.push(&ticket_xml(&appid, now, "ticket@@@after"), now);
    let young = answer(handle(&receiver, push.request()).await.unwrap());
    assert_eq!(
        young.0,
        StatusCode::FORBIDDEN,
        "a forgery flood must not refetch the secret each time"
    );

    // Once the cached secret is older than the recheck age, the failing push fetches it again.
    receiver.rotation_recheck = Duration::ZERO;
    assert_eq!(
        answer(handle(&receiver, push.request()).await.unwrap()),
        success()
    );
    assert_eq!(
        receiver
            .tokens
            .store
            .ticket(&appid)
            .await
            .unwrap()
            .unwrap()
            .ticket,
        "ticket@@@after"
    );

    // And pushes still signed with the old token are now refused.
    let stale = before.push(&ticket_xml(&appid, now + 1, "ticket@@@stale"), now);
    assert_eq!(
        answer(handle(&receiver, stale.request()).await.unwrap()).0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        receiver
            .tokens
            .store
            .ticket(&appid)
            .await
            .unwrap()
            .unwrap()
            .ticket,
        "ticket@@@after"
    );
}
