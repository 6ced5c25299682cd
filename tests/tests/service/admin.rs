//! The operator's command (wxopen-admin) against the WeChat sandbox, DynamoDB Local and the
//! Secrets Manager emulator: each command's function is called directly, as the binary does.
//! (The binary itself is run by admin/tests/cli.rs, where Cargo gives its path.)

use wxopen::push::ComponentPush;
use wxopen::store::AuthorizerStatus;
use wxopen::tokens::Tokens;
use wxopen_admin::{AccountType, AdminError, Output, RefreshOutcome};
use wxopen_tests::platform::Platform;
use wxopen_tests::sandbox::accounts::AccountKind;
use wxopen_tests::*;

/// One platform with its ticket stored, as WeChat's pushes would have left it.
async fn platform() -> Platform {
    let p = Platform::new().await;
    p.store_ticket().await;
    p
}

/// The sandbox's first official account and first mini program.
fn official_and_mini_program(p: &Platform) -> (String, String) {
    let accounts = p.sandbox.accounts();
    let first = |kind| {
        accounts
            .iter()
            .find(|a| a.account.kind == kind)
            .unwrap()
            .account
            .appid
            .clone()
    };
    (
        first(AccountKind::OfficialAccount),
        first(AccountKind::MiniProgram),
    )
}

fn nick_name(p: &Platform, appid: &str) -> String {
    p.sandbox
        .accounts()
        .into_iter()
        .find(|a| a.account.appid == appid)
        .unwrap()
        .account
        .info
        .nick_name
}

/// The stored (access token, refresh token) of `appid`.
async fn stored_tokens(
    p: &Platform,
    tokens: &Tokens,
    appid: &str,
) -> (Option<String>, Option<String>) {
    let record = tokens
        .store
        .authorizer(&p.component, appid)
        .await
        .unwrap()
        .unwrap();
    (
        record.access_token.map(|t| t.expose().to_owned()),
        record.refresh_token.map(|t| t.expose().to_owned()),
    )
}

#[tokio::test]
async fn list_returns_exactly_the_components_authorizers_with_their_status() {
    let p = platform().await;
    let tokens = p.tokens();
    let (official, mini) = official_and_mini_program(&p);
    let withdrawing = p.sandbox.accounts()[1].account.appid.clone();
    p.authorize(&tokens, &official, "merchant-1").await;
    p.authorize(&tokens, &mini, "merchant-2").await;
    p.authorize(&tokens, &withdrawing, "merchant-1").await;
    // The account withdraws; a forced refresh hears 61003 and marks it.
    p.sandbox.withdraw(&withdrawing).await.unwrap();
    let report = wxopen_admin::refresh(&tokens, &withdrawing).await.unwrap();
    assert_eq!(report.outcome, RefreshOutcome::Withdrawn);
    assert_eq!(report.status, AuthorizerStatus::Withdrawn);
    assert!(!Output::Refresh(report).succeeded());
    // The receiver recorded WeChat's `unauthorized` push too: an event item under the same
    // partition key, which is not an account.
    let now = wxopen::unix_now();
    let push = ComponentPush::parse(&format!(
        "<xml><AppId>{}</AppId><CreateTime>{now}</CreateTime><InfoType>unauthorized</InfoType>\
         <AuthorizerAppid>{withdrawing}</AuthorizerAppid></xml>",
        p.component
    ))
    .unwrap();
    tokens
        .store
        .record_push(&p.component, &push, now)
        .await
        .unwrap();
    // Another platform's account in the same table is not ours.
    let q = platform().await;
    q.authorize(&q.tokens(), &official, "merchant-9").await;

    let list = wxopen_admin::list(&tokens).await.unwrap();
    assert_eq!(list.component_appid, p.component);
    let mut expected = vec![official.clone(), mini.clone(), withdrawing.clone()];
    expected.sort();
    let appids: Vec<&str> = list.authorizers.iter().map(|a| a.appid.as_str()).collect();
    assert_eq!(appids, expected);

    let row = |appid: &str| list.authorizers.iter().find(|a| a.appid == appid).unwrap();
    for (appid, merchant, kind) in [
        (&official, "merchant-1", AccountType::OfficialAccount),
        (&mini, "merchant-2", AccountType::MiniProgram),
    ] {
        let a = row(appid);
        assert_eq!(a.status, AuthorizerStatus::Authorized);
        assert_eq!(a.merchant.as_deref(), Some(merchant));
        assert_eq!(a.nick_name.as_deref(), Some(nick_name(&p, appid).as_str()));
        assert_eq!(a.account_type, Some(kind));
        // The sandbox's tokens live two hours; the refresher is due 20 minutes before.
        let expires_at = a.access_token_expires_at.unwrap();
        assert!((now + 7100..=now + 7200).contains(&expires_at), "{a:?}");
        assert!((118..=120).contains(&a.access_token_minutes_left.unwrap()));
        assert_eq!(a.due_at, Some(expires_at - 1200));
    }
    let gone = row(&withdrawing);
    assert_eq!(gone.status, AuthorizerStatus::Withdrawn);
    assert_eq!((gone.access_token_expires_at, gone.due_at), (None, None));

    let text = Output::List(list.clone()).text();
    assert!(text.starts_with("APPID "), "{text}");
    for appid in &expected {
        assert!(text.contains(appid.as_str()), "{text}");
    }
    assert!(text.contains("withdrawn"), "{text}");
    assert!(text.contains("mini program"), "{text}");
    assert!(text.contains("3 authorizers of component"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&Output::List(list).json()).unwrap();
    assert_eq!(json["authorizers"].as_array().unwrap().len(), 3);
    assert_eq!(json["authorizers"][0]["appid"], expected[0].as_str());

    // A component with nothing stored says so.
    let empty = platform().await;
    let list = wxopen_admin::list(&empty.tokens()).await.unwrap();
    assert!(list.authorizers.is_empty());
    assert!(
        Output::List(list)
            .text()
            .starts_with("no authorizers stored")
    );
}

#[tokio::test]
async fn show_returns_the_record_and_never_prints_a_token() {
    let p = platform().await;
    let tokens = p.tokens();
    let (official, _) = official_and_mini_program(&p);
    p.authorize(&tokens, &official, "merchant-1").await;

    let detail = wxopen_admin::show(&tokens, &official).await.unwrap();
    let record = tokens
        .store
        .authorizer(&p.component, &official)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.appid, official);
    assert_eq!(detail.status, AuthorizerStatus::Authorized);
    assert_eq!(detail.merchant.as_deref(), Some("merchant-1"));
    assert_eq!(detail.account_type, Some(AccountType::OfficialAccount));
    assert_eq!(detail.profile, record.profile);
    let ids: Vec<i64> = detail.permissions.iter().map(|p| p.id).collect();
    assert_eq!(ids, record.func_info);
    assert!(!ids.is_empty());
    assert_eq!(detail.permissions[0].name, "消息管理");
    assert!(detail.access_token.present);
    assert_eq!(
        detail.access_token.expires_at,
        Some(record.access_token_expires_at)
    );
    assert!(detail.refresh_token.present);
    // When the refresh token was stored (the exchange's write) and when the item last changed
    // (the profile's write after it, possibly a second later) are two fields.
    assert_eq!(
        detail.refresh_token.updated_at,
        record.refresh_token_updated_at
    );
    assert_eq!(detail.updated_at, Some(record.updated_at));
    assert_eq!(detail.authorized_at, Some(record.authorized_at));
    assert_eq!(detail.due_at, record.due_at);

    let (access, refresh) = stored_tokens(&p, &tokens, &official).await;
    let (access, refresh) = (access.unwrap(), refresh.unwrap());
    let output = Output::Show(Box::new(detail));
    for shown in [output.text(), output.json(), format!("{output:?}")] {
        assert!(!shown.contains(&access), "{shown}");
        assert!(!shown.contains(&refresh), "{shown}");
    }
    let text = output.text();
    assert!(text.contains(&nick_name(&p, &official)), "{text}");
    assert!(text.contains(" 1 消息管理"), "{text}");
    assert!(text.contains("access token   present, expires"), "{text}");
    assert!(text.contains("refresh token  present, updated"), "{text}");

    let error = wxopen_admin::show(&tokens, "wx0000000000000000")
        .await
        .unwrap_err();
    assert!(matches!(error, AdminError::UnknownAuthorizer { .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "authorizer wx0000000000000000 is not stored for component {}",
            p.component
        )
    );
}

#[tokio::test]
async fn refresh_rotates_the_stored_refresh_token() {
    let p = platform().await;
    let tokens = p.tokens();
    let (official, _) = official_and_mini_program(&p);
    p.authorize(&tokens, &official, "merchant-1").await;
    let (access_before, refresh_before) = stored_tokens(&p, &tokens, &official).await;
    p.sandbox.reset_calls();

    let report = wxopen_admin::refresh(&tokens, &official).await.unwrap();
    assert_eq!(p.sandbox.calls_to("api_authorizer_token"), 1);
    assert_eq!(
        report.outcome,
        RefreshOutcome::Refreshed {
            rotated: true,
            recovered: false
        }
    );
    assert_eq!(report.status, AuthorizerStatus::Authorized);
    assert!(report.access_token.present && report.refresh_token.present);
    let (access_after, refresh_after) = stored_tokens(&p, &tokens, &official).await;
    assert_ne!(access_after, access_before);
    assert_ne!(refresh_after, refresh_before);
    assert_eq!(refresh_after, p.listed_refresh_token(&official));
    let output = Output::Refresh(report);
    assert!(output.succeeded());
    let text = output.text();
    assert!(
        text.starts_with(&format!("{official}: refreshed")),
        "{text}"
    );
    assert!(!text.contains(&refresh_after.unwrap()), "{text}");
    assert!(!text.contains(&access_after.unwrap()), "{text}");

    // Accounts that cannot be refreshed are refused with a reason, and WeChat is not called.
    p.sandbox.reset_calls();
    let error = wxopen_admin::refresh(&tokens, "wx0000000000000000")
        .await
        .unwrap_err();
    assert!(matches!(error, AdminError::UnknownAuthorizer { .. }));
    tokens
        .store
        .mark_authorizer(
            &p.component,
            &official,
            AuthorizerStatus::Withdrawn,
            wxopen::store::MarkIf::NotAuthorizedSince(i64::MAX),
            wxopen::unix_now(),
        )
        .await
        .unwrap();
    let error = wxopen_admin::refresh(&tokens, &official).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("authorizer {official} is withdrawn; only authorized accounts can be refreshed")
    );
    assert_eq!(p.sandbox.calls_to("api_authorizer_token"), 0);
}

#[tokio::test]
async fn refresh_component_ensures_a_token_and_prints_only_its_expiry() {
    let p = platform().await;
    let tokens = p.tokens();

    let first = wxopen_admin::refresh_component(&tokens).await.unwrap();
    assert!(first.refreshed);
    assert!((118..=120).contains(&first.minutes_left), "{first:?}");
    let again = wxopen_admin::refresh_component(&tokens).await.unwrap();
    assert!(!again.refreshed);
    assert_eq!(again.expires_at, first.expires_at);
    assert_eq!(p.sandbox.calls_to("api_component_token"), 1);

    let token = tokens.component_access_token().await.unwrap();
    let output = Output::RefreshComponent(again);
    for shown in [output.text(), output.json()] {
        assert!(!shown.contains(token.expose()), "{shown}");
    }
    assert!(output.text().contains("the stored one is still valid"));
}

#[tokio::test]
async fn push_ticket_asks_wechat_once() {
    let p = platform().await;
    let tokens = p.tokens();
    let report = wxopen_admin::push_ticket(&tokens).await.unwrap();
    assert!(report.requested);
    assert_eq!(p.sandbox.calls_to("api_start_push_ticket"), 1);
    let text = Output::PushTicket(report).text();
    assert!(text.starts_with("ok:"), "{text}");
    assert!(!text.contains(TEST_APPSECRET), "{text}");

    // Asked again at once: an operator's request is not rate limited like the automatic one.
    wxopen_admin::push_ticket(&tokens).await.unwrap();
    assert_eq!(p.sandbox.calls_to("api_start_push_ticket"), 2);
}

#[tokio::test]
async fn reconcile_repairs_an_account_missing_from_the_store() {
    let p = platform().await;
    let tokens = p.tokens();
    let (official, mini) = official_and_mini_program(&p);
    p.authorize(&tokens, &official, "merchant-1").await;
    // Authorized at WeChat, but the platform never stored it (callback and push were lost).
    p.sandbox.authorize(&mini, None).await.unwrap();
    assert!(matches!(
        wxopen_admin::show(&tokens, &mini).await,
        Err(AdminError::UnknownAuthorizer { .. })
    ));

    let report = wxopen_admin::reconcile(&tokens).await.unwrap();
    assert_eq!((report.listed, report.repaired), (2, 1));
    let detail = wxopen_admin::show(&tokens, &mini).await.unwrap();
    assert_eq!(detail.status, AuthorizerStatus::Authorized);
    assert!(detail.refresh_token.present);
    assert_eq!(
        stored_tokens(&p, &tokens, &mini).await.1,
        p.listed_refresh_token(&mini)
    );
    let text = Output::Reconcile(report).text();
    assert!(text.contains("lists 2 authorizers; repaired 1"), "{text}");

    // Nothing left to repair.
    let report = wxopen_admin::reconcile(&tokens).await.unwrap();
    assert_eq!((report.listed, report.repaired), (2, 0));
    let list = wxopen_admin::list(&tokens).await.unwrap();
    assert_eq!(list.authorizers.len(), 2);
}
