//! Budgets and failures that must slow the service down, never make it lose or stop: a run's
//! deadline that falls while a refresh is in flight (the answer is still stored), and WeChat
//! unable to refresh the component token (the stored one is used while valid, one attempt per
//! backoff window across all callers, and the refresher still refreshes every authorizer).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wxopen::refresh::{RunOptions, run};
use wxopen::tokens::{Clock, TokenError, Tokens};
use wxopen_tests::platform::Platform;

#[tokio::test]
async fn a_deadline_that_falls_while_a_refresh_is_in_flight_still_stores_its_answer() {
    // Without grace, the refresh token used dies when WeChat answers: the answer is then the
    // only copy of the account's credential.
    let mut p = Platform::with(|c| c.refresh_token_grace = Duration::ZERO).await;
    p.config.wechat_timeout = Duration::from_secs(8);
    p.store_ticket().await;
    let eager = p.tokens_with(|s| s.refresh_margin = Duration::from_secs(7200));
    let appids: Vec<String> = p.account_appids().into_iter().take(2).collect();
    for appid in &appids {
        p.authorize(&eager, appid, "merchant-1").await;
    }
    let tokens = p.tokens();
    tokens.component_access_token().await.unwrap();
    let mut before = Vec::new();
    for appid in &appids {
        before.push(p.stored_refresh_token(&tokens, appid).await);
    }
    p.sandbox.reset_calls();
    // WeChat answers 4 s after each call; the run's deadline is 3 s away, and it starts neither
    // accounts nor calls in its last 2 s.
    p.sandbox
        .set_latency("api_authorizer_token", Duration::from_secs(4));
    let mut options = RunOptions::new(Instant::now() + Duration::from_secs(3));
    options.reserve = Duration::from_secs(2);
    options.finish = Duration::from_secs(2);
    options.concurrency = 1;
    let summary = run(&tokens, &options).await;
    assert!(
        Instant::now() >= options.deadline,
        "WeChat answered after the deadline"
    );

    // The one refresh started was not cut: what WeChat answered is stored.
    assert_eq!(summary.refreshed, 1, "{summary:?}");
    assert_eq!(p.sandbox.calls_to("api_authorizer_token"), 1);
    let (done, left): (Vec<_>, Vec<_>) = appids
        .iter()
        .zip(&before)
        .partition(|(appid, _)| p.sandbox.calls_for("api_authorizer_token", appid) == 1);
    let (refreshed, previous) = done[0];
    let stored = p.stored_refresh_token(&tokens, refreshed).await;
    assert_eq!(stored, p.listed_refresh_token(refreshed));
    assert_ne!(&stored, previous, "WeChat rotated the refresh token");
    // The other was not started, and is due for the next run.
    assert!(summary.left_for_next_run, "{summary:?}");
    let (other, previous) = left[0];
    assert_eq!(&p.stored_refresh_token(&tokens, other).await, previous);
    p.sandbox.clear_faults();
    let summary = run(
        &tokens,
        &RunOptions::new(Instant::now() + Duration::from_secs(60)),
    )
    .await;
    assert_eq!(summary.refreshed, 1, "{summary:?}");
    assert_eq!(
        p.stored_refresh_token(&tokens, other).await,
        p.listed_refresh_token(other)
    );
}

/// The sandbox's clock, as the service's (frozen: only the test moves it).
fn sandbox_clock(p: &Arc<Platform>) -> Clock {
    let p = Arc::clone(p);
    Arc::new(move || p.sandbox.now())
}

#[tokio::test]
async fn a_valid_stored_component_token_is_used_while_wechat_cannot_refresh_it() {
    let p = Arc::new(Platform::new().await);
    p.sandbox.freeze_clock(true);
    let clock = sandbox_clock(&p);
    p.store_ticket().await;
    let appids: Vec<String> = p.account_appids().into_iter().take(3).collect();
    let caller = || {
        p.tokens_with(|s| s.busy_retries = 0)
            .with_clock(clock.clone())
    };
    let setup = caller();
    for appid in &appids {
        p.authorize(&setup, appid, "merchant-1").await;
    }
    let stored = setup
        .store
        .component_token(&p.component)
        .await
        .unwrap()
        .unwrap();
    // 100 minutes and a second later, the component token and every authorizer's access token
    // are within the 20-minute refresh margin: due for refresh, and valid for 20 minutes more.
    p.sandbox.advance(Duration::from_secs(7200 - 20 * 60 + 1));
    p.sandbox.fail_at_rate("api_component_token", -1, 1.0);
    p.sandbox.reset_calls();

    // Sixteen callers at once: each gets the stored token; WeChat was tried once.
    let callers: Vec<Tokens> = (0..16).map(|_| caller()).collect();
    let got =
        futures_util::future::join_all(callers.iter().map(|t| t.component_access_token())).await;
    for token in got {
        assert_eq!(Some(token.unwrap()), stored.token);
    }
    assert_eq!(p.sandbox.calls_to("api_component_token"), 1);
    let state = setup
        .store
        .component_token(&p.component)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.token, stored.token);
    assert_eq!(state.lease_until, None);
    assert_eq!(state.refresh_failed_until, Some(p.sandbox.now() + 30));

    // Within the backoff window nobody tries again; the refresher's run still refreshes every
    // authorizer with the stored token, and says it ran degraded.
    let refresher = caller();
    let summary = run(
        &refresher,
        &RunOptions::new(Instant::now() + Duration::from_secs(60)),
    )
    .await;
    assert!(summary.component_token_ok, "{summary:?}");
    assert!(summary.component_token_degraded, "{summary:?}");
    assert_eq!(summary.refreshed, appids.len(), "{summary:?}");
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!(p.sandbox.calls_to("api_component_token"), 1);
    for appid in &appids {
        assert_eq!(
            p.stored_refresh_token(&refresher, appid).await,
            p.listed_refresh_token(appid)
        );
    }

    // After the window, one caller tries again (and fails again: one more call).
    p.sandbox.advance(Duration::from_secs(31));
    let got =
        futures_util::future::join_all(callers.iter().map(|t| t.component_access_token())).await;
    assert!(got.iter().all(|t| t.as_ref().ok() == stored.token.as_ref()));
    assert_eq!(p.sandbox.calls_to("api_component_token"), 2);

    // Once WeChat answers again, the next attempt after the window replaces the token.
    p.sandbox.clear_faults();
    p.sandbox.advance(Duration::from_secs(31));
    let fresh = caller().component_access_token().await.unwrap();
    assert_ne!(Some(fresh), stored.token);
    assert_eq!(p.sandbox.calls_to("api_component_token"), 3);
    let state = setup
        .store
        .component_token(&p.component)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.refresh_failed_until, None);
}

#[tokio::test]
async fn without_a_valid_stored_token_callers_fail_at_once_during_the_backoff() {
    let p = Arc::new(Platform::new().await);
    p.sandbox.freeze_clock(true);
    let clock = sandbox_clock(&p);
    p.store_ticket().await;
    let tokens = p
        .tokens_with(|s| s.busy_retries = 0)
        .with_clock(clock.clone());
    tokens.component_access_token().await.unwrap();
    // The token has expired and WeChat is down.
    p.sandbox.advance(Duration::from_secs(7200));
    p.sandbox.fail_at_rate("api_component_token", -1, 1.0);
    p.sandbox.reset_calls();
    let first = tokens.component_access_token().await.unwrap_err();
    assert_eq!(first.errcode(), Some(-1), "{first}");
    for _ in 0..5 {
        assert!(matches!(
            tokens.component_access_token().await,
            Err(TokenError::ComponentTokenBackoff { retry_in: 30 })
        ));
    }
    assert_eq!(p.sandbox.calls_to("api_component_token"), 1);
}
