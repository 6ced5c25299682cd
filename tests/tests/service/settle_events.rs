//! Authorization events the refresher settles: one account's events applied one after the
//! other in WeChat's `CreateTime` order (a late `authorized` never undoes a later
//! `unauthorized`), and a code that expired before anyone exchanged it settled as expired, once,
//! with the account taken from api_get_authorizer_list when WeChat lists it.

use std::time::{Duration, Instant};

use wxopen::push::ComponentPush;
use wxopen::refresh::{RunOptions, run};
use wxopen::store::{AuthorizerStatus, PreAuthSession};
use wxopen::tokens::Tokens;
use wxopen_tests::platform::Platform;

fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

/// Records a push as the receiver would have when it could not act on it.
async fn record(p: &Platform, tokens: &Tokens, xml: &str) {
    let push = ComponentPush::parse(xml).unwrap();
    tokens
        .store
        .record_push(&p.component, &push, wxopen::unix_now())
        .await
        .unwrap();
}

fn unauthorized_xml(component: &str, create_time: i64, appid: &str) -> String {
    format!(
        "<xml><AppId>{component}</AppId><CreateTime>{create_time}</CreateTime>\
         <InfoType>unauthorized</InfoType><AuthorizerAppid>{appid}</AuthorizerAppid></xml>"
    )
}

/// An `authorized` push whose code expires at `expires_at`.
fn authorized_xml(
    component: &str,
    create_time: i64,
    appid: &str,
    code: &str,
    expires_at: i64,
    pre_auth_code: &str,
) -> String {
    format!(
        "<xml><AppId><![CDATA[{component}]]></AppId><CreateTime>{create_time}</CreateTime>\
         <InfoType><![CDATA[authorized]]></InfoType>\
         <AuthorizerAppid><![CDATA[{appid}]]></AuthorizerAppid>\
         <AuthorizationCode><![CDATA[{code}]]></AuthorizationCode>\
         <AuthorizationCodeExpiredTime>{expires_at}</AuthorizationCodeExpiredTime>\
         <PreAuthCode><![CDATA[{pre_auth_code}]]></PreAuthCode></xml>"
    )
}

/// (info_type, pending, outcome) of each event of `appid`, in CreateTime order.
async fn events(p: &Platform, tokens: &Tokens, appid: &str) -> Vec<(String, bool, Option<String>)> {
    tokens
        .store
        .authorization_events(&p.component, appid)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.info_type, e.pending, e.outcome))
        .collect()
}

fn settled(info_type: &str, outcome: &str) -> (String, bool, Option<String>) {
    (info_type.to_owned(), false, Some(outcome.to_owned()))
}

#[tokio::test]
async fn one_accounts_events_are_applied_in_create_time_order() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let tokens = p.tokens();
    let appids = p.account_appids();
    let now = wxopen::unix_now();

    // A: authorized, then withdrawn at once; both pushes left for the refresher, the later one
    // first in the table (received first).
    let (a, b) = (&appids[0], &appids[1]);
    let granted = p.sandbox.authorize(a, None).await.unwrap().grant;
    p.sandbox.withdraw(a).await.unwrap();
    record(&p, &tokens, &unauthorized_xml(&p.component, now - 10, a)).await;
    record(
        &p,
        &tokens,
        &authorized_xml(
            &p.component,
            now - 20,
            a,
            &granted.authorization_code,
            granted.expires_at,
            "preauthcode@@@none-a",
        ),
    )
    .await;

    // B: authorized, withdrawn, authorized again: three pushes, all left for the refresher.
    let first = p.sandbox.authorize(b, None).await.unwrap().grant;
    p.sandbox.withdraw(b).await.unwrap();
    let second = p.sandbox.authorize(b, None).await.unwrap().grant;
    for (create_time, grant) in [(now - 30, &first), (now - 10, &second)] {
        record(
            &p,
            &tokens,
            &authorized_xml(
                &p.component,
                create_time,
                b,
                &grant.authorization_code,
                grant.expires_at,
                "preauthcode@@@none-b",
            ),
        )
        .await;
    }
    record(&p, &tokens, &unauthorized_xml(&p.component, now - 20, b)).await;
    p.sandbox.reset_calls();

    let summary = run(&tokens, &RunOptions::new(far_deadline())).await;
    assert_eq!(summary.events_settled, 5, "{summary:?}");
    assert!(summary.failed.is_empty(), "{summary:?}");

    // A ends withdrawn; its authorization, undone by the later withdrawal, was not exchanged.
    let account = tokens
        .store
        .authorizer(&p.component, a)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status, AuthorizerStatus::Withdrawn);
    assert_eq!(account.refresh_token, None);
    assert_eq!(
        events(&p, &tokens, a).await,
        vec![
            settled("authorized", "superseded"),
            settled("unauthorized", "applied")
        ]
    );
    assert_eq!(p.sandbox.calls_for("api_query_auth", a), 0);

    // B ends authorized, with the refresh token WeChat holds now.
    let account = tokens
        .store
        .authorizer(&p.component, b)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status, AuthorizerStatus::Authorized);
    assert_eq!(
        p.stored_refresh_token(&tokens, b).await,
        p.listed_refresh_token(b)
    );
    assert_eq!(
        events(&p, &tokens, b).await,
        vec![
            settled("authorized", "superseded"),
            settled("unauthorized", "applied"),
            settled("authorized", "applied"),
        ]
    );
    assert_eq!(p.sandbox.calls_to("api_query_auth"), 1);

    // Nothing is left: the next run settles nothing and calls nothing.
    p.sandbox.reset_calls();
    let summary = run(&tokens, &RunOptions::new(far_deadline())).await;
    assert_eq!((summary.due, summary.events_settled), (0, 0), "{summary:?}");
    assert_eq!(p.sandbox.calls_to("api_query_auth"), 0);
}

#[tokio::test]
async fn an_expired_code_is_settled_as_expired_and_the_account_taken_from_the_list() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let tokens = p.tokens();
    let appids = p.account_appids();
    let now = wxopen::unix_now();

    // The merchant's link: a session naming the pre_auth_code the push carries.
    let pre_auth_code = "preauthcode@@@expired-link";
    tokens
        .store
        .create_session(
            &p.component,
            &PreAuthSession {
                id: "session-expired-code".into(),
                merchant: "shop-expired".into(),
                pre_auth_code: pre_auth_code.into(),
                auth_type: 3,
                biz_appid: None,
                mobile: false,
                created_at: now - 4000,
                expires_at: now + 600,
                completed: None,
            },
        )
        .await
        .unwrap();
    // Authorized at WeChat; the push was recorded but acted on only after its code expired.
    let (listed, gone) = (&appids[2], &appids[3]);
    let granted = p.sandbox.authorize(listed, None).await.unwrap().grant;
    record(
        &p,
        &tokens,
        &authorized_xml(
            &p.component,
            now - 4000,
            listed,
            &granted.authorization_code,
            now - 400,
            pre_auth_code,
        ),
    )
    .await;
    // Another account authorized and withdrawn since: WeChat no longer lists it.
    let granted = p.sandbox.authorize(gone, None).await.unwrap().grant;
    p.sandbox.withdraw(gone).await.unwrap();
    record(
        &p,
        &tokens,
        &authorized_xml(
            &p.component,
            now - 4000,
            gone,
            &granted.authorization_code,
            now - 400,
            "preauthcode@@@none",
        ),
    )
    .await;
    p.sandbox.reset_calls();

    let summary = run(&tokens, &RunOptions::new(far_deadline())).await;
    assert_eq!(summary.events_settled, 2, "{summary:?}");
    assert!(summary.failed.is_empty(), "{summary:?}");
    // No expired code was sent to WeChat.
    assert_eq!(p.sandbox.calls_to("api_query_auth"), 0);
    for appid in [listed, gone] {
        assert_eq!(
            events(&p, &tokens, appid).await,
            vec![settled("authorized", "expired")]
        );
    }
    // The listed account is stored with WeChat's refresh token, bound to the link's merchant,
    // and due at once; the other is not stored.
    let account = tokens
        .store
        .authorizer(&p.component, listed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status, AuthorizerStatus::Authorized);
    assert_eq!(account.merchant.as_deref(), Some("shop-expired"));
    assert_eq!(
        p.stored_refresh_token(&tokens, listed).await,
        p.listed_refresh_token(listed)
    );
    assert!(
        tokens
            .store
            .authorizer(&p.component, gone)
            .await
            .unwrap()
            .is_none()
    );

    // The next run refreshes the recovered account and settles nothing again.
    p.sandbox.reset_calls();
    let summary = run(&tokens, &RunOptions::new(far_deadline())).await;
    assert_eq!(
        (summary.events_settled, summary.refreshed),
        (0, 1),
        "{summary:?}"
    );
    assert_eq!(p.sandbox.calls_to("api_query_auth"), 0);
    assert_eq!(p.sandbox.calls_to("api_get_authorizer_list"), 0);
    tokens.authorizer_access_token(listed).await.unwrap();
}

#[tokio::test]
async fn an_event_that_fails_holds_back_the_accounts_later_events() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let tokens = p.tokens();
    let appid = p.account_appids()[4].clone();
    let now = wxopen::unix_now();
    // Authorized, then its permission sets changed: two codes, both pushes left for the
    // refresher.
    let first = p.sandbox.authorize(&appid, None).await.unwrap().grant;
    let second = p.sandbox.authorize(&appid, None).await.unwrap().grant;
    for (create_time, grant) in [(now - 20, &first), (now - 10, &second)] {
        record(
            &p,
            &tokens,
            &authorized_xml(
                &p.component,
                create_time,
                &appid,
                &grant.authorization_code,
                grant.expires_at,
                "preauthcode@@@none",
            ),
        )
        .await;
    }
    p.sandbox.reset_calls();
    // WeChat answers the first exchange -1 (it may have used the code: it is not sent again)
    // and is busy for the list that would resolve it, and all the list's retries.
    p.sandbox.fail_next("api_query_auth", -1, 1);
    p.sandbox.fail_next("api_get_authorizer_list", -1, 4);

    let summary = run(&tokens, &RunOptions::new(far_deadline())).await;
    assert_eq!(summary.events_settled, 0, "{summary:?}");
    assert_eq!(
        summary.failed,
        [("errcode -1".to_owned(), 1)].into_iter().collect()
    );
    // The later event was not tried before the earlier one, and the first code went once.
    assert_eq!(p.sandbox.calls_to("api_query_auth"), 1);
    assert_eq!(p.sandbox.calls_to("api_get_authorizer_list"), 4);
    assert_eq!(
        events(&p, &tokens, &appid).await,
        vec![
            ("authorized".to_owned(), true, None),
            ("authorized".to_owned(), true, None),
        ]
    );

    // The next run applies both, in order.
    let summary = run(&tokens, &RunOptions::new(far_deadline())).await;
    assert_eq!(summary.events_settled, 2, "{summary:?}");
    assert_eq!(
        events(&p, &tokens, &appid).await,
        vec![
            settled("authorized", "applied"),
            settled("authorized", "applied")
        ]
    );
    assert_eq!(
        p.stored_refresh_token(&tokens, &appid).await,
        p.listed_refresh_token(&appid)
    );
}
