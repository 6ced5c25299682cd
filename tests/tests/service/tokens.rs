//! Token logic and the refresher against the WeChat sandbox, DynamoDB Local and the Secrets
//! Manager emulator.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use token_refresher::{RefreshRequest, Refresher, refresh};
use wxopen::push::ComponentPush;
use wxopen::refresh::{RunOptions, run};
use wxopen::store::{AuthorizerStatus, RefreshWhen};
use wxopen::tokens::{AuthorizerRefresh, TokenError, Tokens};
use wxopen_tests::platform::Platform;
use wxopen_tests::*;

fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

#[tokio::test]
async fn sixteen_concurrent_refreshers_make_exactly_one_component_token_call() {
    let p = Platform::new().await;
    p.store_ticket().await;
    // Sixteen containers, each with its own clients and lease owner, started at once.
    let refreshers: Vec<Refresher> = (0..16).map(|_| Refresher::new(&p.config, &p.aws)).collect();
    let request = RefreshRequest::default();
    let summaries = futures_util::future::join_all(
        refreshers
            .iter()
            .map(|r| refresh(r, &request, far_deadline())),
    )
    .await;

    assert_eq!(p.sandbox.calls_to("api_component_token"), 1);
    for summary in summaries {
        assert!(summary.unwrap().component_token_ok);
    }
    // The token they ended with is the one WeChat accepts.
    let tokens = p.tokens();
    let token = tokens.component_access_token().await.unwrap();
    tokens
        .wechat
        .create_pre_auth_code(token.expose())
        .await
        .unwrap();
    assert_eq!(p.sandbox.calls_to("api_component_token"), 1);
}

#[tokio::test]
async fn a_refused_component_token_is_replaced_once_and_the_call_retried() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let tokens = p.tokens();
    let first = tokens.component_access_token().await.unwrap();

    p.sandbox.fail_next("api_create_preauthcode", 40001, 1);
    let code = tokens
        .with_component_token(|t| {
            let wechat = tokens.wechat.clone();
            async move { wechat.create_pre_auth_code(t.expose()).await }
        })
        .await
        .unwrap();
    assert!(!code.pre_auth_code.expose().is_empty());
    assert_eq!(p.sandbox.calls_to("api_create_preauthcode"), 2);
    assert_eq!(p.sandbox.calls_to("api_component_token"), 2);
    let second = tokens.component_access_token().await.unwrap();
    assert_ne!(first, second);

    // Several callers refused with the same token: still only one replacement.
    p.sandbox.fail_next("api_create_preauthcode", 42001, 4);
    let others: Vec<Tokens> = (0..4).map(|_| p.tokens()).collect();
    let results = futures_util::future::join_all(others.iter().map(|t| {
        t.with_component_token(|token| {
            let wechat = t.wechat.clone();
            async move { wechat.create_pre_auth_code(token.expose()).await }
        })
    }))
    .await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(p.sandbox.calls_to("api_component_token"), 3);

    // A refusal that persists is not retried twice.
    p.sandbox.fail_next("api_create_preauthcode", 40014, 2);
    let error = tokens
        .with_component_token(|t| {
            let wechat = tokens.wechat.clone();
            async move { wechat.create_pre_auth_code(t.expose()).await }
        })
        .await
        .unwrap_err();
    assert_eq!(error.errcode(), Some(40014));
    assert_eq!(p.sandbox.calls_to("api_component_token"), 4);
}

#[tokio::test]
async fn a_missing_stale_or_refused_ticket_asks_wechat_to_push_without_hammering() {
    let p = Platform::new().await;
    let tokens = p.tokens();
    assert!(matches!(
        tokens.component_access_token().await,
        Err(TokenError::NoTicket)
    ));
    assert!(matches!(
        tokens.component_access_token().await,
        Err(TokenError::NoTicket)
    ));
    assert_eq!(p.sandbox.calls_to("api_start_push_ticket"), 1);
    assert_eq!(p.sandbox.calls_to("api_component_token"), 0);

    let q = Platform::new().await;
    let tokens = q.tokens();
    let now = wxopen::unix_now();
    tokens
        .store
        .save_ticket(
            &q.component,
            &q.sandbox.ticket().ticket,
            now - 13 * 3600,
            now,
        )
        .await
        .unwrap();
    assert!(matches!(
        tokens.component_access_token().await,
        Err(TokenError::StaleTicket(_))
    ));
    assert_eq!(q.sandbox.calls_to("api_start_push_ticket"), 1);

    // A ticket WeChat does not recognise: 61006, and a push is requested.
    let r = Platform::new().await;
    let tokens = r.tokens();
    tokens
        .store
        .save_ticket(&r.component, "ticket@@@forged", now - 100, now)
        .await
        .unwrap();
    let error = tokens.component_access_token().await.unwrap_err();
    assert_eq!(error.errcode(), Some(61006));
    assert_eq!(r.sandbox.calls_to("api_start_push_ticket"), 1);
    // The lease was released: the next caller may try again at once.
    r.store_ticket().await;
    tokens.component_access_token().await.unwrap();

    // 61005 (expired ticket) is handled the same way.
    let t = Platform::new().await;
    t.store_ticket().await;
    t.sandbox.fail_next("api_component_token", 61005, 1);
    let tokens = t.tokens();
    assert_eq!(
        tokens.component_access_token().await.unwrap_err().errcode(),
        Some(61005)
    );
    assert_eq!(t.sandbox.calls_to("api_start_push_ticket"), 1);
}

#[tokio::test]
async fn the_stored_refresh_token_is_always_the_last_one_wechat_issued() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let tokens = p.tokens();
    let appid = p.account_appids()[0].clone();
    p.authorize(&tokens, &appid, "merchant-1").await;

    let mut seen = std::collections::HashSet::new();
    for _ in 0..12 {
        let outcome = tokens
            .refresh_authorizer(&appid, RefreshWhen::Always)
            .await
            .unwrap();
        assert_eq!(
            outcome,
            AuthorizerRefresh::Refreshed {
                rotated: true,
                recovered: false
            }
        );
        let stored = p.stored_refresh_token(&tokens, &appid).await.unwrap();
        assert_eq!(Some(stored.clone()), p.listed_refresh_token(&appid));
        assert!(seen.insert(stored), "a refresh token came back twice");
    }
    assert_eq!(p.sandbox.calls_for("api_authorizer_token", &appid), 12);
    let record = tokens
        .store
        .authorizer(&p.component, &appid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.merchant.as_deref(), Some("merchant-1"));
    assert!(record.access_token_expires_at > wxopen::unix_now() + 7000);
}

#[tokio::test]
async fn a_run_cut_off_before_the_store_write_loses_no_account() {
    // Without grace, the refresh token the cut-off run used is dead at once: the next run must
    // recover the one WeChat issued from api_get_authorizer_list.
    let p = Platform::with(|c| c.refresh_token_grace = Duration::ZERO).await;
    p.store_ticket().await;
    // A margin as long as the token's life makes every account due as soon as it is stored.
    let setup = p.tokens_with(|s| s.refresh_margin = Duration::from_secs(7200));
    let appids = p.account_appids();
    for appid in &appids[..3] {
        p.authorize(&setup, appid, "merchant-1").await;
    }

    let cut = Arc::new(AtomicBool::new(true));
    let gate = {
        let cut = cut.clone();
        Arc::new(move |_: &str| !cut.load(Ordering::SeqCst))
    };
    let dying = p
        .tokens_with(|s| s.lease = Duration::from_secs(1))
        .with_persist_gate(gate);
    let summary = run(&dying, &RunOptions::new(far_deadline())).await;
    assert_eq!(summary.failed.get("interrupted"), Some(&3));
    assert_eq!(p.sandbox.calls_to("api_authorizer_token"), 3);

    // The leases run out; the next run finds the accounts due again and recovers them.
    pause(Duration::from_millis(2100)).await;
    let next = p.tokens();
    let summary = run(&next, &RunOptions::new(far_deadline())).await;
    assert_eq!(summary.refreshed, 3, "{summary:?}");
    assert_eq!(summary.recovered, 3);
    for appid in &appids[..3] {
        let record = next
            .store
            .authorizer(&p.component, appid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.status, AuthorizerStatus::Authorized);
        assert_eq!(
            p.stored_refresh_token(&next, appid).await,
            p.listed_refresh_token(appid)
        );
        // And the stored token works.
        next.refresh_authorizer(appid, RefreshWhen::Always)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn system_busy_is_retried_with_backoff_and_timeouts_count_as_busy() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let tokens = p.tokens();
    let appid = p.account_appids()[1].clone();
    p.authorize(&tokens, &appid, "merchant-1").await;

    p.sandbox.fail_next("api_authorizer_token", -1, 2);
    let outcome = tokens
        .refresh_authorizer(&appid, RefreshWhen::Always)
        .await
        .unwrap();
    assert!(matches!(outcome, AuthorizerRefresh::Refreshed { .. }));
    assert_eq!(p.sandbox.calls_for("api_authorizer_token", &appid), 3);

    // Bounded: four busy answers in a row fail the refresh (1 call + 3 retries).
    p.sandbox.fail_next("api_authorizer_token", -1, 4);
    let error = tokens
        .refresh_authorizer(&appid, RefreshWhen::Always)
        .await
        .unwrap_err();
    assert_eq!(error.errcode(), Some(-1));
    assert_eq!(p.sandbox.calls_for("api_authorizer_token", &appid), 7);
    // The failed account keeps its refresh token and is due again later.
    let record = tokens
        .store
        .authorizer(&p.component, &appid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.refresh_token.map(|t| t.expose().to_owned()),
        p.listed_refresh_token(&appid)
    );
    assert!(record.lease_until.is_none());

    // A call that hangs past the client's timeout is retried like -1.
    p.sandbox
        .hang_next("api_authorizer_token", Duration::from_secs(4), 1);
    let outcome = tokens
        .refresh_authorizer(&appid, RefreshWhen::Always)
        .await
        .unwrap();
    assert!(matches!(outcome, AuthorizerRefresh::Refreshed { .. }));
}

#[tokio::test]
async fn quota_and_whitelist_errors_stop_refreshes_for_the_run() {
    for errcode in [45009, 61004] {
        let p = Platform::new().await;
        p.store_ticket().await;
        let tokens = p.tokens_with(|s| s.refresh_margin = Duration::from_secs(7200));
        for appid in &p.account_appids()[..4] {
            p.authorize(&tokens, appid, "merchant-1").await;
        }
        p.sandbox.reset_calls();
        p.sandbox.fail_next("api_authorizer_token", errcode, 1);
        let mut options = RunOptions::new(far_deadline());
        options.concurrency = 1;
        let summary = run(&tokens, &options).await;
        assert_eq!(summary.halted_by, Some(errcode));
        assert_eq!(summary.failed.get(&format!("errcode {errcode}")), Some(&1));
        assert_eq!(summary.failed.get("halted"), Some(&3));
        assert_eq!(p.sandbox.calls_to("api_authorizer_token"), 1);
    }
}

#[tokio::test]
async fn an_invalid_refresh_token_is_recovered_or_the_account_marked() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let tokens = p.tokens();
    let appids = p.account_appids();
    let (lost, gone) = (&appids[0], &appids[1]);
    p.authorize(&tokens, lost, "merchant-1").await;
    p.authorize(&tokens, gone, "merchant-1").await;

    // The stored refresh token is corrupted: WeChat refuses it, lists the right one.
    let now = wxopen::unix_now();
    let owner = "test-owner";
    tokens
        .store
        .acquire_authorizer_lease(
            &p.component,
            lost,
            owner,
            now,
            now + 60,
            RefreshWhen::Always,
        )
        .await
        .unwrap()
        .unwrap();
    let good = p.stored_refresh_token(&tokens, lost).await.unwrap();
    assert!(
        tokens
            .store
            .replace_refresh_token(
                &p.component,
                lost,
                owner,
                &good,
                "refreshtoken@@@garbage",
                now
            )
            .await
            .unwrap()
    );
    tokens
        .store
        .release_authorizer_lease(&p.component, lost, owner, now)
        .await
        .unwrap();
    let outcome = tokens
        .refresh_authorizer(lost, RefreshWhen::Always)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        AuthorizerRefresh::Refreshed {
            rotated: true,
            recovered: true
        }
    );
    assert_eq!(p.sandbox.calls_to("api_get_authorizer_list"), 1);

    // WeChat refuses the very token it still lists: it contradicts itself, so the account and
    // its token stay as they are and the next run tries again.
    let listed = p.listed_refresh_token(gone);
    p.sandbox.fail_next("api_authorizer_token", 61023, 1);
    let error = tokens
        .refresh_authorizer(gone, RefreshWhen::Always)
        .await
        .unwrap_err();
    assert_eq!(error.errcode(), Some(61023));
    let record = tokens
        .store
        .authorizer(&p.component, gone)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, AuthorizerStatus::Authorized);
    assert_eq!(p.stored_refresh_token(&tokens, gone).await, listed);
    assert!(matches!(
        tokens
            .refresh_authorizer(gone, RefreshWhen::Always)
            .await
            .unwrap(),
        AuthorizerRefresh::Refreshed { .. }
    ));

    // WeChat refuses the token and no longer lists the account (withdrawn, its push lost):
    // the merchant must authorize again.
    p.sandbox.withdraw(gone).await.unwrap();
    p.sandbox.fail_next("api_authorizer_token", 61023, 1);
    let outcome = tokens
        .refresh_authorizer(gone, RefreshWhen::Always)
        .await
        .unwrap();
    assert_eq!(outcome, AuthorizerRefresh::ReauthorizationRequired);
    let record = tokens
        .store
        .authorizer(&p.component, gone)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, AuthorizerStatus::ReauthorizationRequired);
    assert_eq!(record.due_at, None);
    assert!(matches!(
        tokens.authorizer_access_token(gone).await,
        Err(TokenError::NotAuthorized {
            status: "reauthorization_required",
            ..
        })
    ));
}

#[tokio::test]
async fn a_withdrawn_account_is_marked_and_its_tokens_dropped() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let tokens = p.tokens();
    let appids = p.account_appids();
    p.authorize(&tokens, &appids[0], "merchant-1").await;
    p.authorize(&tokens, &appids[1], "merchant-1").await;

    // 61003 from WeChat.
    p.sandbox.withdraw(&appids[0]).await.unwrap();
    assert_eq!(
        tokens
            .refresh_authorizer(&appids[0], RefreshWhen::Always)
            .await
            .unwrap(),
        AuthorizerRefresh::Withdrawn
    );
    let record = tokens
        .store
        .authorizer(&p.component, &appids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, AuthorizerStatus::Withdrawn);
    assert_eq!(
        (record.access_token, record.refresh_token, record.due_at),
        (None, None, None)
    );

    // An `unauthorized` push recorded by the receiver: the refresher settles it.
    let now = wxopen::unix_now();
    let push = ComponentPush::parse(&format!(
        "<xml><AppId>{}</AppId><CreateTime>{}</CreateTime><InfoType>unauthorized</InfoType>\
         <AuthorizerAppid>{}</AuthorizerAppid></xml>",
        p.component,
        now + 1,
        appids[1]
    ))
    .unwrap();
    tokens
        .store
        .record_push(&p.component, &push, now)
        .await
        .unwrap();
    let summary = run(&tokens, &RunOptions::new(far_deadline())).await;
    assert_eq!(summary.events_settled, 1);
    let record = tokens
        .store
        .authorizer(&p.component, &appids[1])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, AuthorizerStatus::Withdrawn);
    let events = tokens
        .store
        .authorization_events(&p.component, &appids[1])
        .await
        .unwrap();
    assert!(events.iter().all(|e| !e.pending));
}

#[tokio::test]
async fn on_demand_tokens_refresh_when_the_schedule_has_not() {
    let p = Platform::with(|c| c.authorizer_token_ttl = Duration::from_secs(600)).await;
    p.store_ticket().await;
    let tokens = p.tokens();
    let appid = p.account_appids()[2].clone();
    p.authorize(&tokens, &appid, "merchant-1").await;

    // 600 s of life is within the 20-minute margin: the token is refreshed on demand.
    let before = tokens
        .store
        .authorizer(&p.component, &appid)
        .await
        .unwrap()
        .unwrap();
    let token = tokens.authorizer_access_token(&appid).await.unwrap();
    assert_ne!(Some(&token), before.access_token.as_ref());
    assert_eq!(p.sandbox.calls_for("api_authorizer_token", &appid), 1);

    // With a generous token, nothing is called.
    let q = Platform::new().await;
    q.store_ticket().await;
    let tokens = q.tokens();
    let appid = q.account_appids()[2].clone();
    q.authorize(&tokens, &appid, "merchant-1").await;
    tokens.authorizer_access_token(&appid).await.unwrap();
    assert_eq!(q.sandbox.calls_to("api_authorizer_token"), 0);
    assert!(matches!(
        tokens.authorizer_access_token("wx0000000000000000").await,
        Err(TokenError::UnknownAuthorizer(_))
    ));
}

#[tokio::test]
async fn the_refresher_reads_only_what_is_due_and_overlapping_runs_are_safe() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let tokens = p.tokens();
    let appids = p.account_appids();
    // Every account authorized and due at once (stored with a margin as long as its token's
    // life); refreshed with the default margin, each is then not due for another 100 minutes.
    let eager = p.tokens_with(|s| s.refresh_margin = Duration::from_secs(7200));
    for appid in &appids {
        p.authorize(&eager, appid, "merchant-1").await;
    }
    let runs: Vec<Tokens> = (0..3).map(|_| p.tokens()).collect();
    let summaries = futures_util::future::join_all(
        runs.iter()
            .map(|t| async move { run(t, &RunOptions::new(far_deadline())).await }),
    )
    .await;
    let refreshed: usize = summaries.iter().map(|s| s.refreshed).sum();
    assert_eq!(refreshed, appids.len());
    for appid in &appids {
        assert_eq!(
            p.sandbox.calls_for("api_authorizer_token", appid),
            1,
            "{appid}"
        );
    }
    // Nothing is due now: a run reads nothing.
    let summary = run(&tokens, &RunOptions::new(far_deadline())).await;
    assert_eq!(
        (summary.due, summary.items_read, summary.refreshed),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn a_run_keeps_to_its_deadline() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let tokens = p.tokens();
    let eager = p.tokens_with(|s| s.refresh_margin = Duration::from_secs(7200));
    for appid in &p.account_appids()[..4] {
        p.authorize(&eager, appid, "merchant-1").await;
    }
    let mut options = RunOptions::new(Instant::now() + Duration::from_secs(5));
    options.reserve = Duration::from_secs(10);
    let summary = run(&tokens, &options).await;
    assert!(summary.left_for_next_run);
    assert_eq!(summary.refreshed, 0);
    assert_eq!(p.sandbox.calls_to("api_authorizer_token"), 0);
    // The next run, with time, does the work.
    let summary = run(&tokens, &RunOptions::new(far_deadline())).await;
    assert_eq!(summary.refreshed, 4);
}

#[tokio::test]
async fn reconciliation_repairs_accounts_the_store_lacks_or_holds_stale() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let tokens = p.tokens();
    let appids = p.account_appids();
    // Authorized at WeChat, but the platform never stored it (the callback and push were lost).
    p.sandbox.authorize(&appids[0], None).await.unwrap();
    // Stored, then its refresh token rotated behind the store's back.
    p.authorize(&tokens, &appids[1], "merchant-1").await;
    let other = p.tokens();
    let stale = p.stored_refresh_token(&tokens, &appids[1]).await.unwrap();
    let cat = other.component_access_token().await.unwrap();
    other
        .wechat
        .authorizer_token(cat.expose(), &appids[1], &stale)
        .await
        .unwrap();

    let summary = refresh(
        &Refresher {
            tokens: p.tokens(),
            concurrency: 4,
            rebind: Default::default(),
        },
        &RefreshRequest {
            reconcile: true,
            ..RefreshRequest::default()
        },
        far_deadline(),
    )
    .await
    .unwrap();
    assert_eq!(summary.reconciled, Some((2, 2)));
    for appid in &appids[..2] {
        assert_eq!(
            p.stored_refresh_token(&tokens, appid).await,
            p.listed_refresh_token(appid)
        );
    }
    // The repaired accounts are due: the next run gives them access tokens.
    let summary = run(&tokens, &RunOptions::new(far_deadline())).await;
    assert_eq!(summary.refreshed, 2, "{summary:?}");
    tokens.authorizer_access_token(&appids[0]).await.unwrap();
}

#[tokio::test]
async fn the_refresher_refuses_partitions_that_do_not_exist() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let request = RefreshRequest {
        partitions: Some(vec![3, 16]),
        ..RefreshRequest::default()
    };
    let error = refresh(&Refresher::new(&p.config, &p.aws), &request, far_deadline())
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "partition 16 does not exist (0..16)");
    assert_eq!(p.sandbox.calls_to("api_component_token"), 0);
}

#[tokio::test]
async fn a_malformed_manual_run_is_refused_before_anything_is_called_or_stored() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let before = wxopen_tests::items_of(&p.aws, &p.component).await;
    let refresher = Refresher::new(&p.config, &p.aws);
    let deadline_ms = (wxopen::unix_now() as u64 + 60) * 1000;
    let mut context = lambda_http::lambda_runtime::Context::default();
    context.deadline = deadline_ms;
    // "partition" for "partitions": once silently a default run over every partition.
    let event = lambda_http::lambda_runtime::LambdaEvent::new(
        serde_json::json!({"partition": [3], "reconcile": true}),
        context,
    );
    let error = token_refresher::handle(&refresher, event)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("the event is not a refresh request (unknown field `partition`"),
        "{error}"
    );
    assert!(
        p.sandbox.calls().per_api.is_empty(),
        "{:?}",
        p.sandbox.calls()
    );
    assert_eq!(wxopen_tests::items_of(&p.aws, &p.component).await, before);
}

#[tokio::test]
async fn a_cached_component_token_is_dropped_when_refused_and_replaced_only_if_still_stored() {
    let p = Platform::new().await;
    p.store_ticket().await;
    // As the refresher's Lambda builds it: the token is kept in memory for a minute.
    let cached = p.tokens_with(|s| s.component_token_cache = Duration::from_secs(60));
    let first = cached.component_access_token().await.unwrap();

    // Another container has the token refused and replaces it.
    let other = p.tokens();
    p.sandbox.fail_next("api_create_preauthcode", 40001, 1);
    pre_auth_code(&other).await;
    assert_eq!(p.sandbox.calls_to("api_component_token"), 2);
    let second = other.component_access_token().await.unwrap();
    assert_ne!(first, second);

    // The copy in memory is still used (WeChat honours a superseded token for a while)...
    assert_eq!(cached.component_access_token().await.unwrap(), first);
    // ...until WeChat refuses it: then it is dropped and the stored token, already a newer
    // one, is used without another refresh.
    p.sandbox.fail_next("api_create_preauthcode", 40001, 1);
    pre_auth_code(&cached).await;
    assert_eq!(p.sandbox.calls_to("api_create_preauthcode"), 4);
    assert_eq!(p.sandbox.calls_to("api_component_token"), 2);
    assert_eq!(cached.component_access_token().await.unwrap(), second);

    // A refused token that is still the stored one is replaced, once.
    p.sandbox.fail_next("api_create_preauthcode", 40001, 1);
    pre_auth_code(&cached).await;
    assert_eq!(p.sandbox.calls_to("api_component_token"), 3);
    let third = cached.component_access_token().await.unwrap();
    assert_ne!(third, second);
    assert_eq!(other.component_access_token().await.unwrap(), third);
}

#[tokio::test]
async fn a_run_reads_the_index_page_after_page_while_refreshes_are_in_flight() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let eager = p.tokens_with(|s| s.refresh_margin = Duration::from_secs(7200));
    let appids = p.account_appids();
    for appid in &appids {
        p.authorize(&eager, appid, "merchant-1").await;
    }
    // One item per page: the next page is read while earlier items are still refreshing.
    p.sandbox
        .set_latency("api_authorizer_token", Duration::from_millis(100));
    let refresher = Refresher::new(&p.config, &p.aws);
    let mut options = RunOptions::new(far_deadline());
    options.page_size = 1;
    options.concurrency = 4;
    let summary = run(&refresher.tokens, &options).await;
    assert_eq!(
        (summary.due, summary.items_read, summary.refreshed),
        (appids.len(), appids.len(), appids.len()),
        "{summary:?}"
    );
    for appid in &appids {
        assert_eq!(p.sandbox.calls_for("api_authorizer_token", appid), 1);
    }
}

/// A pre-auth code, with the component token handling of every component API call.
async fn pre_auth_code(tokens: &Tokens) {
    tokens
        .with_component_token(|t| {
            let wechat = tokens.wechat.clone();
            async move { wechat.create_pre_auth_code(t.expose()).await }
        })
        .await
        .unwrap();
}
