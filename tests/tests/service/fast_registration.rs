//! Fast registration (快速注册): WeChat pushes `notify_third_fasteregister` when a mini program
//! the platform registered for a company is created (status 0, with a code to exchange) or not.
//! The code is exchanged like an authorization code, the new mini program stored and kept
//! fresh; the push goes on to the platform's services without its code; neither the code nor the
//! legal person's details stay in the table.

use aws_sdk_dynamodb::types::AttributeValue;
use wxopen::config::MessageTarget;
use wxopen::store::AuthorizerStatus;
use wxopen_tests::sandbox::RegistrationInfo;
use wxopen_tests::service::Service;

fn company() -> RegistrationInfo {
    RegistrationInfo {
        name: "晨读文化传媒有限公司".into(),
        code: "91440300MA5FXXXX1X".into(),
        code_type: 1,
        legal_persona_wechat: "chendu_legal_2024".into(),
        legal_persona_name: "张晨".into(),
        component_phone: "13800138000".into(),
    }
}

/// Every string value anywhere in the component's items.
async fn stored_strings(service: &Service) -> Vec<String> {
    fn collect(value: &AttributeValue, out: &mut Vec<String>) {
        match value {
            AttributeValue::S(s) => out.push(s.clone()),
            AttributeValue::M(map) => map.values().for_each(|v| collect(v, out)),
            AttributeValue::L(list) => list.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for item in wxopen_tests::items_of(&service.aws, &service.component).await {
        item.values().for_each(|v| collect(v, &mut out));
    }
    out
}

fn assert_no_personal_data(strings: &[String], info: &RegistrationInfo) {
    for secret in [
        &info.legal_persona_wechat,
        &info.legal_persona_name,
        &info.component_phone,
    ] {
        assert!(
            !strings.iter().any(|s| s.contains(secret.as_str())),
            "{secret} is stored"
        );
    }
}

#[tokio::test]
async fn a_fast_registered_mini_program_is_exchanged_stored_and_handed_on_without_its_code() {
    let client = wxopen_tests::sqs().await;
    let queue_url = wxopen_tests::create_queue(&client, false).await;
    let service = Service::with_message_target(MessageTarget::Queue(queue_url.clone())).await;
    let info = company();

    let registered = service.sandbox.fast_register(info.clone()).await.unwrap();
    let push = registered.push.unwrap();
    assert!(push.success, "{push:?}");
    let appid = registered.registration.appid.clone();
    let code = registered.registration.auth_code.clone().unwrap();

    // Exchanged once, at once: a complete account, refreshable, with its profile.
    assert_eq!(service.sandbox.calls_to("api_query_auth"), 1);
    let tokens = &service.app.receiver.tokens;
    let account = tokens
        .store
        .authorizer(&service.component, &appid)
        .await
        .unwrap()
        .expect("the new mini program is stored");
    assert_eq!(account.status, AuthorizerStatus::Authorized);
    assert_eq!(
        account
            .refresh_token
            .as_ref()
            .map(|t| t.expose().to_owned()),
        service.sandbox.current_refresh_token(&appid)
    );
    let profile = account.profile.expect("its profile");
    assert!(profile.is_mini_program());
    assert_eq!(profile.principal_name, info.name);
    assert_eq!(account.merchant, None);
    let events = tokens
        .store
        .authorization_events(&service.component, &appid)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].info_type, "notify_third_fasteregister");
    assert!(!events[0].pending, "settled: {events:?}");
    // The account's tokens work: an on-demand token is the one WeChat issued.
    let access = tokens.authorizer_access_token(&appid).await.unwrap();
    assert_eq!(Some(access), account.access_token);

    // The platform's services are told, without the code.
    let handed = wxopen_tests::receive_all(&client, &queue_url).await;
    assert_eq!(handed.len(), 1, "{handed:?}");
    let event = &handed[0];
    assert_eq!(event["info_type"], "notify_third_fasteregister");
    assert_eq!(event["authorizer_appid"], appid.as_str());
    assert_eq!(event["component_appid"], service.component.as_str());
    assert_eq!(event["fields"]["status"], "0");
    assert_eq!(event["fields"]["appid"], appid.as_str());
    assert_eq!(event["fields"]["info/name"], info.name.as_str());
    assert_eq!(
        event["fields"]["info/legal_persona_name"],
        info.legal_persona_name.as_str()
    );
    assert!(event["fields"].get("auth_code").is_none(), "{event}");
    assert!(!event.to_string().contains(&code), "{event}");

    // WeChat's retry of the same push: answered, handed on again (the consumer drops it by its
    // id), and the used code is not sent to WeChat again.
    let again = service
        .sandbox
        .push_fast_registration(registered.registration.clone())
        .await
        .unwrap()
        .push
        .unwrap();
    assert!(again.success, "{again:?}");
    assert_eq!(service.sandbox.calls_to("api_query_auth"), 1);
    let retried = wxopen_tests::receive_all(&client, &queue_url).await;
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0]["dedup_id"], event["dedup_id"]);

    // Neither the legal person's details nor the code stay in the table.
    let strings = stored_strings(&service).await;
    assert_no_personal_data(&strings, &info);
    assert!(
        !strings.iter().any(|s| s.contains(&code)),
        "the code is kept"
    );
}

#[tokio::test]
async fn a_refused_fast_registration_is_handed_on_and_recorded_without_personal_data() {
    let client = wxopen_tests::sqs().await;
    let queue_url = wxopen_tests::create_queue(&client, false).await;
    let service = Service::with_message_target(MessageTarget::Queue(queue_url.clone())).await;
    let info = company();
    let before = service.sandbox.accounts().len();

    let refused = service
        .sandbox
        .fast_register_refused(info.clone(), 86004, "invalid wechat")
        .await
        .unwrap();
    assert!(refused.push.unwrap().success);

    assert_eq!(service.sandbox.calls_to("api_query_auth"), 0);
    assert_eq!(service.sandbox.accounts().len(), before);
    let handed = wxopen_tests::receive_all(&client, &queue_url).await;
    assert_eq!(handed.len(), 1, "{handed:?}");
    assert_eq!(handed[0]["info_type"], "notify_third_fasteregister");
    assert!(handed[0].get("authorizer_appid").is_none());
    assert_eq!(handed[0]["fields"]["status"], "86004");
    assert_eq!(handed[0]["fields"]["msg"], "invalid wechat");
    assert_eq!(
        handed[0]["fields"]["info/legal_persona_wechat"],
        info.legal_persona_wechat.as_str()
    );

    // Recorded (what happened, for 90 days), but not who.
    let items = wxopen_tests::items_of(&service.aws, &service.component).await;
    let record = items
        .iter()
        .find(|i| {
            i.get("info_type")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some("notify_third_fasteregister")
        })
        .expect("the push is recorded");
    let fields = record["fields"].as_m().unwrap();
    assert_eq!(fields["status"].as_s().unwrap(), "86004");
    assert!(fields.keys().all(|k| !k.starts_with("info/")), "{fields:?}");
    assert_no_personal_data(&stored_strings(&service).await, &info);
}

#[tokio::test]
async fn pushes_the_service_does_not_act_on_are_handed_on_too() {
    let client = wxopen_tests::sqs().await;
    let queue_url = wxopen_tests::create_queue(&client, false).await;
    let service = Service::with_message_target(MessageTarget::Queue(queue_url.clone())).await;
    let pusher = wxopen_tests::Pusher::new(
        wxopen_tests::TEST_TOKEN,
        wxopen_tests::TEST_ENCODING_AES_KEY,
        &service.component,
    );
    let now = wxopen::unix_now();
    let push = pusher.push(
        &format!(
            "<xml><AppId>{}</AppId><CreateTime>{now}</CreateTime>\
             <InfoType>notify_third_fastverifybetaapp</InfoType><appid>wx1234567890abcdef</appid>\
             <status>0</status><msg>OK</msg></xml>",
            service.component
        ),
        now,
    );
    let url = service.url(&format!(
        "/wechat/component/events?timestamp={}&nonce={}&encrypt_type=aes&msg_signature={}",
        push.timestamp, push.nonce, push.msg_signature
    ));
    let answer = service
        .http
        .post(&url)
        .body(push.body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "success");

    let handed = wxopen_tests::receive_all(&client, &queue_url).await;
    assert_eq!(handed.len(), 1, "{handed:?}");
    assert_eq!(handed[0]["info_type"], "notify_third_fastverifybetaapp");
    assert_eq!(handed[0]["create_time"], now);
    assert_eq!(handed[0]["fields"]["appid"], "wx1234567890abcdef");
    // Only the account a code was exchanged for is named as the push's account.
    assert!(handed[0].get("authorizer_appid").is_none());
}
