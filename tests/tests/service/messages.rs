//! The message URL (消息与事件接收URL): WeChat's release check (全网发布) for every test account,
//! messages handed on to SQS or EventBridge (moto), and what happens when handing on fails.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;
use wxopen::authorization::RebindPolicy;
use wxopen::config::MessageTarget;
use wxopen::release_check::TEST_ACCOUNTS;
use wxopen::store::AuthorizerStatus;
use wxopen_tests::service::Service;

/// Posts `xml` as WeChat posts a message to `url`; the answer's status and body.
async fn post(service: &Service, url: &str, to_user_name: &str, xml: &str) -> (u16, String) {
    service
        .sandbox
        .send_message(url, to_user_name, xml)
        .await
        .unwrap()
}

pub(crate) fn message_url(service: &Service, appid: &str) -> String {
    service.url(&format!("/wechat/authorizers/{appid}/events"))
}

fn text(to: &str, from: &str, content: &str, msg_id: u64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>",
        wxopen::unix_now()
    )
}

fn event(to: &str, from: &str, event: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[{event}]]></Event></xml>",
        wxopen::unix_now()
    )
}

/// An account of the sandbox that is not one of the release check's.
fn ordinary_account(service: &Service) -> (String, String) {
    let account = service
        .sandbox
        .accounts()
        .into_iter()
        .find(|a| a.account.release_check_group.is_none())
        .unwrap()
        .account;
    (account.appid, account.info.user_name)
}

/// An ordinary account, authorized to the platform (stored with its profile, as the `authorized`
/// push's exchange leaves it): its appid and username.
pub(crate) async fn authorized_account(service: &Service) -> (String, String) {
    let (appid, user_name) = ordinary_account(service);
    let authorized = service.sandbox.authorize(&appid, None).await.unwrap();
    assert!(authorized.push.is_some_and(|p| p.success));
    let stored = service.account(&appid).await.expect("stored by the push");
    assert_eq!(stored.profile.map(|p| p.user_name), Some(user_name.clone()));
    (appid, user_name)
}

async fn listed_refresh_tokens(service: &Service) -> HashMap<String, String> {
    let mut listed = HashMap::new();
    service
        .app
        .receiver
        .tokens
        .walk_authorizer_list(|a| {
            listed.insert(
                a.authorizer_appid.clone(),
                a.refresh_token.expose().to_owned(),
            );
            true
        })
        .await
        .unwrap();
    listed
}

#[tokio::test]
async fn the_release_check_passes_for_all_ten_test_accounts() {
    let service = Service::start().await;
    let url = service.sandbox.message_url().unwrap();
    let report = service.sandbox.release_check(&url, &[1, 2, 3, 4, 5]).await;
    assert!(report.passed(), "failed cases: {:#?}", report.failures());
    // Three cases for each of the ten accounts, and the ticket push to the event URL.
    assert_eq!(report.cases.len(), 31);
    for account in TEST_ACCOUNTS {
        let cases: Vec<&str> = report
            .cases
            .iter()
            .filter(|c| c.appid == account.appid)
            .map(|c| c.case.as_str())
            .collect();
        assert_eq!(
            cases,
            ["text", "query_auth_code", "event"],
            "{}",
            account.appid
        );
    }

    // Each QUERY_AUTH_CODE was answered through the customer-service API with that account's
    // own token, and the account's refresh token is kept as WeChat lists it.
    let sent = service.sandbox.custom_messages();
    assert_eq!(sent.len(), 10);
    let listed = listed_refresh_tokens(&service).await;
    let store = &service.app.receiver.tokens.store;
    for account in TEST_ACCOUNTS {
        let message = sent
            .iter()
            .find(|m| m.authorizer_appid == account.appid)
            .unwrap();
        assert!(message.content.starts_with("queryauthcode@@@"));
        assert!(message.content.ends_with("_from_api"));
        let record = store
            .authorizer(&service.component, account.appid)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} is not stored", account.appid));
        assert_eq!(record.status, AuthorizerStatus::Authorized);
        assert_eq!(
            record.refresh_token.as_ref().map(|t| t.expose()),
            listed.get(account.appid).map(String::as_str),
            "{}",
            account.appid
        );
    }
}

#[tokio::test]
async fn each_group_passes_alone_and_the_sandbox_control_runs_the_check() {
    let service = Service::start().await;
    let base = service.sandbox.base_url().trim_end_matches('/').to_owned();
    let http = reqwest::Client::new();
    for group in 1..=5u8 {
        let report: serde_json::Value = http
            .post(format!("{base}/sandbox/release-check"))
            .json(&serde_json::json!({ "groups": [group] }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let cases = report["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 7, "group {group}: {report:#}");
        assert!(
            cases.iter().all(|c| c["passed"] == true),
            "group {group}: {report:#}"
        );
    }
}

#[tokio::test]
async fn query_auth_code_failures_send_nothing_and_lose_no_refresh_token() {
    // No event URL: the `authorized` push would otherwise use the code up first.
    let service = Service::with(RebindPolicy::Refuse, false).await;
    let [first, second, ..] = TEST_ACCOUNTS;
    let url = message_url(&service, first.appid);

    // A code WeChat never issued: api_query_auth refuses it (61010), nothing is stored or sent.
    let unknown = text(
        first.user_name,
        "o_user",
        "QUERY_AUTH_CODE:queryauthcode@@@nope",
        1,
    );
    let (status, body) = post(&service, &url, first.user_name, &unknown).await;
    assert_eq!(status, 502);
    assert_eq!(
        body,
        "the release check's authorization code could not be answered"
    );
    let store = &service.app.receiver.tokens.store;
    assert!(
        store
            .authorizer(&service.component, first.appid)
            .await
            .unwrap()
            .is_none()
    );

    // A code for another account, sent to this one: refused, but the other account's refresh
    // token (WeChat handed it back) is kept.
    let grant = service
        .sandbox
        .authorize(second.appid, None)
        .await
        .unwrap()
        .grant;
    let foreign = text(
        first.user_name,
        "o_user",
        &format!("QUERY_AUTH_CODE:{}", grant.authorization_code),
        2,
    );
    let (status, body) = post(&service, &url, first.user_name, &foreign).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        format!(
            "the release check's authorization code belongs to {}, not to this account",
            second.appid
        )
    );
    assert!(service.sandbox.custom_messages().is_empty());
    let listed = listed_refresh_tokens(&service).await;
    let kept = store
        .authorizer(&service.component, second.appid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.refresh_token.as_ref().map(|t| t.expose()),
        listed.get(second.appid).map(String::as_str)
    );
}

#[tokio::test]
async fn bad_messages_are_refused_with_the_reason() {
    let service = Service::start().await;
    let account = TEST_ACCOUNTS[0];
    let sandbox = &service.sandbox;

    // A test account's message addressed to another account's username.
    let url = message_url(&service, account.appid);
    let wrong = text(
        "gh_000000000000",
        "o_user",
        "TESTCOMPONENT_MSG_TYPE_TEXT",
        3,
    );
    let (status, body) = post(&service, &url, "gh_000000000000", &wrong).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        format!(
            "the message is addressed to gh_000000000000, not to account {}",
            account.appid
        )
    );

    // Not an appid in the path (e.g. the console's placeholder left unreplaced).
    let (status, body) = post(
        &service,
        &service.url("/wechat/authorizers/$APPID$/events"),
        account.user_name,
        &text(account.user_name, "o", "hi", 4),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body, "\"$APPID$\" is not an authorizer appid");

    // Forged: signed with another token.
    let http = reqwest::Client::new();
    let forged = http
        .post(&url)
        .query(&[
            ("timestamp", "1700000000"),
            ("nonce", "1"),
            ("encrypt_type", "aes"),
            ("msg_signature", "0000000000000000000000000000000000000000"),
        ])
        .body("<xml><ToUserName>gh_3c884a361561</ToUserName><Encrypt>AAAA</Encrypt></xml>")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(
        forged.text().await.unwrap(),
        "msg_signature does not match (-40001 ValidateSignatureError)"
    );
    assert!(sandbox.custom_messages().is_empty());
}

#[tokio::test]
async fn messages_are_handed_on_to_the_queue_and_retries_are_dropped() {
    let client = wxopen_tests::sqs().await;
    let queue_url = wxopen_tests::create_queue(&client, true).await;
    let service = Service::with_message_target(MessageTarget::Queue(queue_url.clone())).await;
    let (appid, user_name) = authorized_account(&service).await;
    let url = message_url(&service, &appid);

    let hello = text(&user_name, "o_alice", "hello", 24_000_000_001);
    for _ in 0..2 {
        // WeChat's retry of the same message: answered success again, queued once.
        let answer = post(&service, &url, &user_name, &hello).await;
        assert_eq!(answer, (200, "success".to_owned()));
    }
    let subscribe = event(&user_name, "o_bob", "subscribe");
    let answer = post(&service, &url, &user_name, &subscribe).await;
    assert_eq!(answer, (200, "success".to_owned()));

    let bodies = wxopen_tests::receive_all(&client, &queue_url).await;
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    let text_message = &bodies[0];
    assert_eq!(text_message["component_appid"], service.component.as_str());
    assert_eq!(text_message["authorizer_appid"], appid.as_str());
    assert_eq!(text_message["from_user_name"], "o_alice");
    assert_eq!(text_message["msg_type"], "text");
    assert_eq!(text_message["msg_id"], "24000000001");
    assert_eq!(text_message["fields"]["Content"], "hello");
    assert_eq!(
        text_message["dedup_id"],
        format!("{user_name}#24000000001").as_str()
    );
    let event_message = &bodies[1];
    assert_eq!(event_message["msg_type"], "event");
    assert_eq!(event_message["event"], "subscribe");
    assert_eq!(event_message["from_user_name"], "o_bob");
}

#[tokio::test]
async fn a_test_accounts_other_messages_are_handed_on_too() {
    let client = wxopen_tests::sqs().await;
    let queue_url = wxopen_tests::create_queue(&client, false).await;
    let service = Service::with_message_target(MessageTarget::Queue(queue_url.clone())).await;
    let account = TEST_ACCOUNTS[4];
    let hello = text(account.user_name, "o_carol", "not a check", 7);
    let answer = post(
        &service,
        &message_url(&service, account.appid),
        account.user_name,
        &hello,
    )
    .await;
    assert_eq!(answer, (200, "success".to_owned()));
    let bodies = wxopen_tests::receive_all(&client, &queue_url).await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["fields"]["Content"], "not a check");
    assert!(service.sandbox.custom_messages().is_empty());
}

#[tokio::test]
async fn messages_are_published_to_the_event_bus() {
    let aws = wxopen_tests::aws().await;
    let events = aws_sdk_eventbridge::Client::new(&aws);
    let client = wxopen_tests::sqs().await;
    // A bus with a rule that copies our messages to a queue, where the test reads them.
    let bus = format!("platform-{}", wxopen_tests::unique_appid());
    events.create_event_bus().name(&bus).send().await.unwrap();
    let queue_url = wxopen_tests::create_queue(&client, false).await;
    let queue_arn = client
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    events
        .put_rule()
        .name("authorizer-messages")
        .event_bus_name(&bus)
        .event_pattern(serde_json::json!({ "source": [wxopen::handoff::EVENT_SOURCE] }).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("authorizer-messages")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let service = Service::with_message_target(MessageTarget::EventBus(bus)).await;
    let (appid, user_name) = authorized_account(&service).await;
    let click = event(&user_name, "o_dave", "CLICK");
    let answer = post(&service, &message_url(&service, &appid), &user_name, &click).await;
    assert_eq!(answer, (200, "success".to_owned()));

    let delivered = wxopen_tests::receive_all(&client, &queue_url).await;
    assert_eq!(delivered.len(), 1, "{delivered:#?}");
    assert_eq!(delivered[0]["source"], wxopen::handoff::EVENT_SOURCE);
    assert_eq!(delivered[0]["detail-type"], "event.CLICK");
    assert_eq!(delivered[0]["detail"]["authorizer_appid"], appid.as_str());
    assert_eq!(delivered[0]["detail"]["from_user_name"], "o_dave");
}

#[tokio::test]
async fn a_message_that_cannot_be_handed_on_is_not_answered_success() {
    let client = wxopen_tests::sqs().await;
    // The queue does not exist yet: every delivery fails and WeChat is told so.
    let name = format!("late-{}", wxopen_tests::unique_appid());
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SQS").unwrap();
    let queue_url = format!("{endpoint}/123456789012/{name}");
    let service = Service::with_message_target(MessageTarget::Queue(queue_url.clone())).await;
    let (appid, user_name) = authorized_account(&service).await;
    let url = message_url(&service, &appid);
    let hello = text(&user_name, "o_erin", "are you there", 99);
    let answer = post(&service, &url, &user_name, &hello).await;
    assert_eq!(
        answer,
        (503, "the message could not be handed on".to_owned())
    );

    // Once the target is back, WeChat's retry of the very same message is handed on.
    let created = client
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(created.queue_url.as_deref(), Some(queue_url.as_str()));
    let answer = post(&service, &url, &user_name, &hello).await;
    assert_eq!(answer, (200, "success".to_owned()));
    let bodies = wxopen_tests::receive_all(&client, &queue_url).await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["fields"]["Content"], "are you there");

    // A bus that does not exist: refused the same way.
    let service = Service::with_message_target(MessageTarget::EventBus("no-such-bus".into())).await;
    let (appid, user_name) = authorized_account(&service).await;
    let answer = post(&service, &message_url(&service, &appid), &user_name, &hello).await;
    assert_eq!(
        answer,
        (503, "the message could not be handed on".to_owned())
    );
}

#[tokio::test]
async fn a_message_is_taken_only_at_the_url_of_the_account_it_is_addressed_to() {
    let client = wxopen_tests::sqs().await;
    let queue_url = wxopen_tests::create_queue(&client, false).await;
    let service = Service::with_message_target(MessageTarget::Queue(queue_url.clone())).await;
    let ordinary: Vec<_> = service
        .sandbox
        .accounts()
        .into_iter()
        .filter(|a| a.account.release_check_group.is_none())
        .take(2)
        .map(|a| (a.account.appid, a.account.info.user_name))
        .collect();
    let [(a, a_name), (b, _)] = <[_; 2]>::try_from(ordinary).unwrap();
    for appid in [&a, &b] {
        service.sandbox.authorize(appid, None).await.unwrap();
    }
    let calls = service.sandbox.calls();

    // A message signed for A, replayed to B's URL: refused, not handed on labelled as B's.
    let for_a = text(&a_name, "o_mallory", "for A only", 31);
    let answer = post(&service, &message_url(&service, &b), &a_name, &for_a).await;
    let expected = format!("the message is addressed to {a_name}, not to account {b}");
    assert_eq!(answer, (403, expected));
    // ... or to a release-check test account's URL (bound by the check's own table).
    let test = TEST_ACCOUNTS[0].appid;
    let answer = post(&service, &message_url(&service, test), &a_name, &for_a).await;
    let expected = format!("the message is addressed to {a_name}, not to account {test}");
    assert_eq!(answer, (403, expected));
    // ... or to an appid that no account authorized to this platform has.
    let stranger = "wx00000000000000aa";
    let answer = post(&service, &message_url(&service, stranger), &a_name, &for_a).await;
    let expected = format!("{stranger} is not an account authorized to this platform");
    assert_eq!(answer, (404, expected));
    assert!(
        wxopen_tests::receive_all(&client, &queue_url)
            .await
            .is_empty()
    );

    // At A's own URL it is taken, and handed on as A's.
    let answer = post(&service, &message_url(&service, &a), &a_name, &for_a).await;
    assert_eq!(answer, (200, "success".to_owned()));
    let handed = wxopen_tests::receive_all(&client, &queue_url).await;
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0]["authorizer_appid"], a.as_str());
    assert_eq!(handed[0]["to_user_name"], a_name.as_str());
    assert_eq!(handed[0]["fields"]["Content"], "for A only");
    assert_eq!(service.sandbox.calls(), calls, "no call to WeChat");
}

#[tokio::test]
async fn an_account_stored_without_its_profile_has_it_fetched_until_it_is_stored() {
    let client = wxopen_tests::sqs().await;
    let queue_url = wxopen_tests::create_queue(&client, false).await;
    let service = Service::with_message_target(MessageTarget::Queue(queue_url.clone())).await;
    let (appid, user_name) = ordinary_account(&service);
    // Authorized at WeChat, known here only from the reconcile's api_get_authorizer_list: the
    // push never came and the merchant's browser never returned, so no profile was fetched.
    service.sandbox.set_event_url(None);
    service.sandbox.authorize(&appid, None).await.unwrap();
    let tokens = &service.app.receiver.tokens;
    tokens.reconcile().await.unwrap();
    let repaired = service.account(&appid).await.unwrap();
    assert_eq!(repaired.status, AuthorizerStatus::Authorized);
    assert!(repaired.profile.is_none());
    let info_calls = || service.sandbox.calls_for("api_get_authorizer_info", &appid);
    assert_eq!(info_calls(), 0);

    // While WeChat cannot give the profile, the message is neither taken nor refused for good:
    // 503, so WeChat retries it.
    let url = message_url(&service, &appid);
    let first = text(&user_name, "o_frank", "first words", 41);
    service
        .sandbox
        .fail_next("api_get_authorizer_info", 45009, 1);
    assert_eq!(
        post(&service, &url, &user_name, &first).await,
        (503, "the account's username could not be read".to_owned())
    );
    assert_eq!(info_calls(), 1);
    assert!(service.account(&appid).await.unwrap().profile.is_none());
    assert!(
        wxopen_tests::receive_all(&client, &queue_url)
            .await
            .is_empty()
    );

    // WeChat's retry fetches and stores the profile, then is taken.
    assert_eq!(
        post(&service, &url, &user_name, &first).await,
        (200, "success".to_owned())
    );
    assert_eq!(info_calls(), 2);
    let stored = service.account(&appid).await.unwrap().profile.unwrap();
    assert_eq!(stored.user_name, user_name);

    // From then on the stored name decides, with no call to WeChat: the account's messages are
    // taken, another account's are refused.
    let second = text(&user_name, "o_frank", "second words", 42);
    assert_eq!(
        post(&service, &url, &user_name, &second).await,
        (200, "success".to_owned())
    );
    let other = TEST_ACCOUNTS[2].user_name;
    let misaddressed = text(other, "o_frank", "not for this account", 43);
    let expected = format!("the message is addressed to {other}, not to account {appid}");
    assert_eq!(
        post(&service, &url, other, &misaddressed).await,
        (403, expected)
    );
    assert_eq!(info_calls(), 2);
    let mut contents: Vec<String> = wxopen_tests::receive_all(&client, &queue_url)
        .await
        .iter()
        .map(|m| m["fields"]["Content"].as_str().unwrap().to_owned())
        .collect();
    contents.sort();
    assert_eq!(contents, ["first words", "second words"]);
}
