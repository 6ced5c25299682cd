//! The ticket receiver, served over plain HTTP, receives the sandbox's real pushes: encrypted,
//! signed and retried as WeChat does. Runs against DynamoDB Local and the Secrets Manager
//! emulator (scripts/test.sh).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ticket_receiver::{Receiver, handle};
use wxopen::Store;
use wxopen::push::AuthorizationGrant;
use wxopen_tests::dev_server::{self, DevServer};
use wxopen_tests::sandbox::{Sandbox, SandboxConfig};
use wxopen_tests::*;

const MINI_PROGRAM: &str = "wx5d8a1f3c7e9b2046";
const OFFICIAL: &str = "wx1c4e7a9d2b5f8036";

/// A platform of its own: the real receiver on HTTP, and a sandbox pushing to it.
struct Stack {
    aws: aws_config::SdkConfig,
    appid: String,
    store: Store,
    sandbox: Sandbox,
    _receiver: DevServer,
}

impl Stack {
    async fn new(config: SandboxConfig) -> Self {
        Self::with_table(config, None).await
    }

    /// `table` replaces the local table (a missing one makes every write fail).
    async fn with_table(config: SandboxConfig, table: Option<&str>) -> Self {
        let aws = aws().await;
        let appid = unique_appid();
        let mut receiver_config = wxopen_tests::config(&appid, "wxopen/local");
        if let Some(table) = table {
            receiver_config.table_name = table.to_owned();
        }
        let receiver = Arc::new(Receiver::new(&receiver_config, &aws));
        let store = receiver.tokens.store.clone();
        let server = dev_server::serve(move |request| {
            let receiver = Arc::clone(&receiver);
            async move { handle(&receiver, request).await }
        })
        .await
        .unwrap();
        let sandbox = Sandbox::start(SandboxConfig {
            component_appid: appid.clone(),
            event_url: Some(format!("{}/wechat/component/events", server.base_url())),
            ..config
        })
        .await
        .unwrap();
        Self {
            aws,
            appid,
            store,
            sandbox,
            _receiver: server,
        }
    }
}

fn on_demand() -> SandboxConfig {
    SandboxConfig {
        ticket_interval: Duration::ZERO,
        push_retry_delay: Duration::from_millis(50),
        ..SandboxConfig::default()
    }
}

#[tokio::test]
async fn the_sandbox_s_ticket_pushes_are_stored_by_the_receiver() {
    let s = Stack::new(on_demand()).await;

    let record = s.sandbox.push_ticket().await.unwrap();
    assert_eq!(
        (
            record.success,
            record.attempts,
            record.status,
            record.body.as_deref()
        ),
        (true, 1, Some(200), Some("success"))
    );
    let pushed = s.sandbox.ticket();
    let stored = s.store.ticket(&s.appid).await.unwrap().unwrap();
    assert_eq!(
        (stored.ticket.as_str(), stored.create_time),
        (pushed.ticket.as_str(), pushed.create_time)
    );

    // A newer ticket replaces it; the same push again (as a retry would) changes nothing.
    s.sandbox.advance(Duration::from_secs(1));
    let record = s.sandbox.push_ticket().await.unwrap();
    assert!(record.success);
    let newer = s.sandbox.ticket();
    assert_ne!(newer, pushed);
    let stored = s.store.ticket(&s.appid).await.unwrap().unwrap();
    assert_eq!(
        (stored.ticket, stored.create_time),
        (newer.ticket, newer.create_time)
    );
    assert_eq!(items_of(&s.aws, &s.appid).await.len(), 1);
}

#[tokio::test]
async fn scheduled_ticket_pushes_reach_the_receiver() {
    let s = Stack::new(SandboxConfig {
        ticket_interval: Duration::from_millis(200),
        ..on_demand()
    })
    .await;
    let records = s.sandbox.wait_for_pushes(2).await.unwrap();
    assert!(
        records.iter().all(|r| r.success && r.attempts == 1),
        "{records:?}"
    );
    // Two pushes in one second share a CreateTime; the receiver keeps one of the newest.
    let stored = s.store.ticket(&s.appid).await.unwrap().unwrap();
    let newest = records.iter().map(|r| r.create_time).max().unwrap();
    assert_eq!(stored.create_time, newest);
    let pushed: HashSet<_> = records
        .iter()
        .map(|r| {
            r.xml
                .split("<ComponentVerifyTicket><![CDATA[")
                .nth(1)
                .unwrap()
                .split("]]>")
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(pushed.contains(&stored.ticket));
}

#[tokio::test]
async fn authorization_events_from_the_page_and_a_withdrawal_are_recorded() {
    let s = Stack::new(on_demand()).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = s.sandbox.base_url().to_owned();
    let ticket = s.sandbox.ticket().ticket;

    // The platform's side of the page walk, over HTTP.
    let token: serde_json::Value = http
        .post(format!("{base}/cgi-bin/component/api_component_token"))
        .json(&serde_json::json!({
            "component_appid": s.appid,
            "component_appsecret": TEST_APPSECRET,
            "component_verify_ticket": ticket,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["component_access_token"].as_str().unwrap().to_owned();
    let pre: serde_json::Value = http
        .post(format!("{base}/cgi-bin/component/api_create_preauthcode"))
        .query(&[("component_access_token", &token)])
        .json(&serde_json::json!({ "component_appid": s.appid }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pre = pre["pre_auth_code"].as_str().unwrap().to_owned();
    let params = [
        ("component_appid", s.appid.as_str()),
        ("pre_auth_code", &pre),
        ("redirect_uri", "http://127.0.0.1:9000/authorize/callback"),
        ("auth_type", "2"),
    ];
    let page = http
        .get(format!("{base}/wxaopen/safe/bindcomponent"))
        .query(&params)
        .header("referer", "http://127.0.0.1:9000/authorize?merchant=m1")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let mut form: Vec<(&str, &str)> = params.to_vec();
    form.push(("authorizer_appid", MINI_PROGRAM));
    let confirmed = http
        .post(format!("{base}/wxaopen/safe/bindcomponent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 302);
    let location = url::Url::parse(confirmed.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "auth_code")
        .unwrap()
        .1
        .into_owned();

    let authorized = s.sandbox.wait_for_pushes(1).await.unwrap()[0].clone();
    assert_eq!(
        (
            authorized.info_type.as_str(),
            authorized.success,
            authorized.attempts
        ),
        ("authorized", true, 1)
    );
    // One second later at least, so each event has its own CreateTime.
    s.sandbox.advance(Duration::from_secs(1));
    let updated = s
        .sandbox
        .authorize(MINI_PROGRAM, Some(&[17, 18]))
        .await
        .unwrap();
    assert_eq!(updated.grant.info_type, "updateauthorized");
    assert!(updated.push.as_ref().unwrap().success);
    s.sandbox.advance(Duration::from_secs(1));
    let withdrawn = s.sandbox.withdraw(MINI_PROGRAM).await.unwrap().unwrap();
    assert_eq!((withdrawn.success, withdrawn.attempts), (true, 1));

    let events = s
        .store
        .authorization_events(&s.appid, MINI_PROGRAM)
        .await
        .unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.info_type.as_str(), e.create_time))
        .collect();
    assert_eq!(
        kinds,
        [
            ("authorized", authorized.create_time),
            ("updateauthorized", updated.grant.create_time),
            ("unauthorized", withdrawn.create_time),
        ]
    );
    assert_eq!(
        events[0].grant,
        Some(AuthorizationGrant {
            authorizer_appid: MINI_PROGRAM.into(),
            authorization_code: code,
            authorization_code_expired_time: authorized.create_time + 3600,
            pre_auth_code: Some(pre),
        })
    );
    assert_eq!(
        events[1].grant.as_ref().unwrap().authorization_code,
        updated.grant.authorization_code
    );
    assert_eq!(events[2].grant, None);
    // Nothing about an account that did nothing.
    assert!(
        s.store
            .authorization_events(&s.appid, OFFICIAL)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_receiver_that_cannot_store_is_retried_and_the_failure_recorded() {
    let s = Stack::with_table(on_demand(), Some("wxopen-no-such-table")).await;
    let record = s.sandbox.push_ticket().await.unwrap();
    assert_eq!(
        (record.success, record.attempts, record.status),
        (false, 4, Some(500))
    );
    assert!(record.history.iter().all(
        |a| a.status == Some(500) && a.body.as_deref() == Some("the push could not be stored")
    ));
    assert_eq!(s.sandbox.pushes(), [record]);
    assert!(items_of(&s.aws, &s.appid).await.is_empty());
}
