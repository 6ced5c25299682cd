//! Faults the service must ride out, against the real parts: DynamoDB Local behind a proxy that
//! answers DynamoDB's throttling and internal errors by rule, the sandbox hanging past the
//! client's timeout and the run's deadline, and WeChat failing a fifth of its calls over a
//! simulated day of pushes, refreshes, authorizations and withdrawals.
//!
//! The service runs on the sandbox's clock (frozen; only the test moves it), so the service and
//! WeChat agree on what has expired and a day passes in well under a minute.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_http::{Body, Request, Response};
use wxopen::refresh::{self, RunOptions, Summary};
use wxopen::store::Store;
use wxopen::tokens::{Clock, TokenSettings, Tokens};
use wxopen_tests::fault_proxy::{DynamoError, Exchange, FaultProxy, Rule, Times};
use wxopen_tests::platform::Platform;
use wxopen_tests::sandbox::{Account, SandboxConfig};
use wxopen_tests::{Pusher, TEST_ENCODING_AES_KEY, TEST_TOKEN, items_of, ticket_xml};

/// WeChat's access tokens live 7200 s and are refreshed 20 min early: this much later every
/// token issued now is due.
const UNTIL_DUE: Duration = Duration::from_secs(7200 - 20 * 60 + 1);

/// The sandbox's clock, as the service's.
pub(crate) fn sandbox_clock(platform: &Arc<Platform>) -> Clock {
    let platform = Arc::clone(platform);
    Arc::new(move || platform.sandbox.now())
}

/// Tokens as a container builds them, with DynamoDB reached at `dynamodb` and the service on
/// `clock`.
fn tokens_via(platform: &Platform, dynamodb: &str, clock: Clock) -> Tokens {
    tokens_for(&platform.aws, &platform.config, dynamodb, clock)
}

pub(crate) fn tokens_for(
    aws: &aws_config::SdkConfig,
    config: &wxopen::Config,
    dynamodb: &str,
    clock: Clock,
) -> Tokens {
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(aws)
            .endpoint_url(dynamodb)
            .build(),
    );
    // As deployed, with DynamoDB reached through `dynamodb` (the fault proxy).
    let mut tokens = Tokens::from_config(config, aws).with_clock(clock);
    tokens.store = Store::new(dynamo, &config.table_name);
    // -1 is retried after 20 ms, 40 ms, 80 ms: quick tests, same logic.
    tokens.settings.busy_backoff = Duration::from_millis(20);
    tokens
}

pub(crate) fn dynamodb_local() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB is set: run under scripts/services.sh")
}

/// A platform whose sandbox clock stands still until the test moves it.
pub(crate) async fn frozen_platform(adjust: impl FnOnce(&mut SandboxConfig)) -> Arc<Platform> {
    let platform = Platform::with(adjust).await;
    platform.sandbox.freeze_clock(true);
    Arc::new(platform)
}

/// The receiver as Lambda builds it, but with `tokens` (DynamoDB through the proxy).
fn receiver(platform: &Platform, tokens: Tokens) -> ticket_receiver::Receiver {
    receiver_for(&platform.aws, &platform.config, tokens)
}

pub(crate) fn receiver_for(
    aws: &aws_config::SdkConfig,
    config: &wxopen::Config,
    tokens: Tokens,
) -> ticket_receiver::Receiver {
    let mut config = config.clone();
    config.push_timestamp_tolerance = Duration::ZERO;
    ticket_receiver::Receiver {
        tokens,
        ..ticket_receiver::Receiver::new(&config, aws)
    }
}

/// The ticket push WeChat would send for the sandbox's current ticket.
fn ticket_push(platform: &Platform) -> Request {
    let ticket = platform.sandbox.ticket();
    let pusher = Pusher::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, &platform.component);
    pusher
        .push(
            &ticket_xml(&platform.component, ticket.create_time, &ticket.ticket),
            ticket.create_time,
        )
        .request()
}

async fn answer(response: Response<Body>) -> (u16, String) {
    let status = response.status().as_u16();
    let body = match response.into_body() {
        Body::Text(text) => text,
        Body::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Body::Empty => String::new(),
        _ => String::from("<unexpected body>"),
    };
    (status, body)
}

pub(crate) async fn run(tokens: &Tokens, within: Duration, concurrency: usize) -> Summary {
    let mut options = RunOptions::new(Instant::now() + within);
    options.concurrency = concurrency;
    options.reserve = Duration::from_secs(1);
    refresh::run(tokens, &options).await
}

/// What every authorized account holds: (refresh token, access token, its expiry, status).
pub(crate) async fn stored(
    tokens: &Tokens,
    appid: &str,
) -> (Option<String>, Option<String>, i64, String) {
    let record = tokens
        .store
        .authorizer(&tokens.component, appid)
        .await
        .unwrap()
        .unwrap();
    (
        record.refresh_token.map(|t| t.expose().to_owned()),
        record.access_token.map(|t| t.expose().to_owned()),
        record.access_token_expires_at,
        record.status.as_str().to_owned(),
    )
}

/// The proxy's exchanges per operation: (requests, faulted).
fn tally(log: &[Exchange]) -> BTreeMap<String, (usize, usize)> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for exchange in log {
        let entry = counts.entry(exchange.operation.clone()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(exchange.faulted.is_some());
    }
    counts
}

// ---------------------------------------------------------------------------------------------
// 1. DynamoDB throttling and errors
// ---------------------------------------------------------------------------------------------

/// Every other PutItem, UpdateItem, GetItem and Query is first answered with a throttling or
/// internal error: the SDK's retries absorb all of them. The push is stored and answered
/// `success`, authorizations and refreshes complete, and the proxy saw each faulted request
/// sent again, byte for byte, and answered by DynamoDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn occasional_dynamodb_faults_are_absorbed_by_the_sdk_retries() {
    let platform = frozen_platform(|_| {}).await;
    let proxy = FaultProxy::start(&dynamodb_local()).await.unwrap();
    for (operation, error) in [
        ("PutItem", DynamoError::Throttling),
        ("UpdateItem", DynamoError::ProvisionedThroughputExceeded),
        ("GetItem", DynamoError::InternalServerError),
        ("Query", DynamoError::Throttling),
    ] {
        proxy.add_rule(Rule::new(
            Some(operation),
            error,
            Times::FirstAttemptOfEvery(2),
        ));
    }
    let clock = sandbox_clock(&platform);
    let receiver = receiver(
        &platform,
        tokens_via(&platform, proxy.base_url(), clock.clone()),
    );
    let tokens = tokens_via(&platform, proxy.base_url(), clock);

    let (status, body) = answer(
        ticket_receiver::handle(&receiver, ticket_push(&platform))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "success"));
    let stored_ticket = tokens.store.ticket(&platform.component).await.unwrap();
    assert_eq!(
        stored_ticket.map(|t| t.ticket),
        Some(platform.sandbox.ticket().ticket)
    );

    let appids: Vec<String> = platform.account_appids().into_iter().take(6).collect();
    for appid in &appids {
        let granted = platform.sandbox.authorize(appid, None).await.unwrap();
        wxopen_tests::store_authorization_unchecked(
            &tokens,
            &granted.grant.authorization_code,
            Some("m-faults"),
        )
        .await
        .unwrap();
    }
    platform.sandbox.advance(UNTIL_DUE);
    let summary = run(&tokens, Duration::from_secs(60), 4).await;
    assert!(summary.component_token_ok, "{summary:?}");
    assert_eq!(summary.refreshed, appids.len(), "{summary:?}");
    assert_eq!(summary.rotated, appids.len(), "{summary:?}");
    assert!(summary.failed.is_empty(), "{summary:?}");
    for appid in &appids {
        assert_eq!(
            platform.stored_refresh_token(&tokens, appid).await,
            platform.listed_refresh_token(appid),
            "{appid}: the stored refresh token is WeChat's current one"
        );
    }

    let log = proxy.log();
    let faulted: Vec<&Exchange> = log.iter().filter(|e| e.faulted.is_some()).collect();
    for operation in ["PutItem", "UpdateItem", "GetItem", "Query"] {
        assert!(
            faulted.iter().any(|e| e.operation == operation),
            "{operation} was faulted at least once: {:?}",
            tally(&log)
        );
    }
    for fault in &faulted {
        let error = fault.faulted.unwrap();
        assert_eq!(fault.status, error.status().as_u16());
        let body: serde_json::Value = serde_json::from_slice(&fault.response_body).unwrap();
        assert_eq!(
            body["__type"],
            format!("com.amazonaws.dynamodb.v20120810#{}", error.name())
        );
        let retried = log
            .iter()
            .filter(|e| e.request_body == fault.request_body && e.faulted.is_none())
            .count();
        assert!(
            retried >= 1,
            "the faulted {} was sent again and answered by DynamoDB",
            fault.operation
        );
    }
    println!(
        "occasional faults: {} requests, {} answered with a fault and retried by the SDK; per operation (requests, faulted): {:?}",
        log.len(),
        faulted.len(),
        tally(&log)
    );
}

/// DynamoDB throttles every request: the push is answered 5xx (WeChat sends it again), not
/// `success`, and nothing is written; the SDK made its three attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_that_cannot_be_stored_is_not_answered_success() {
    let platform = frozen_platform(|_| {}).await;
    let proxy = FaultProxy::start(&dynamodb_local()).await.unwrap();
    let clock = sandbox_clock(&platform);
    let receiver = receiver(&platform, tokens_via(&platform, proxy.base_url(), clock));

    // A first ticket is stored normally; the second finds DynamoDB throttling.
    let (status, _) = answer(
        ticket_receiver::handle(&receiver, ticket_push(&platform))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let before = items_of(&platform.aws, &platform.component).await;
    // Ten minutes later, WeChat's next ticket.
    platform.sandbox.advance(Duration::from_secs(600));
    let now = platform.sandbox.now();
    let pusher = Pusher::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, &platform.component);
    let newer = pusher.push(
        &ticket_xml(&platform.component, now, "ticket@@@the-next-one"),
        now,
    );
    for error in [
        DynamoError::Throttling,
        DynamoError::ProvisionedThroughputExceeded,
        DynamoError::InternalServerError,
    ] {
        proxy.clear_rules();
        proxy.clear_log();
        proxy.add_rule(Rule::new(None, error, Times::Always));
        let (status, body) = answer(
            ticket_receiver::handle(&receiver, newer.request())
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (500, "the push could not be stored"),
            "{error:?}"
        );
        assert_eq!(
            items_of(&platform.aws, &platform.component).await,
            before,
            "{error:?}: nothing was written"
        );
        let log = proxy.log();
        let writes: Vec<&Exchange> = log.iter().filter(|e| e.operation == "PutItem").collect();
        assert_eq!(writes.len(), 3, "{error:?}: the SDK's three attempts");
        assert!(
            writes
                .iter()
                .all(|e| e.request_body == writes[0].request_body)
        );
    }

    // An authorization push that cannot be stored: no event, no account.
    proxy.clear_log();
    let appid = platform.account_appids()[0].clone();
    let granted = platform.sandbox.authorize(&appid, None).await.unwrap();
    let xml = wxopen_tests::authorization_xml(
        &platform.component,
        "authorized",
        now,
        &appid,
        &granted.grant.authorization_code,
        "preauthcode@@@unused",
    );
    let (status, _) = answer(
        ticket_receiver::handle(&receiver, pusher.push(&xml, now).request())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(items_of(&platform.aws, &platform.component).await, before);
    assert_eq!(platform.sandbox.calls_to("api_query_auth"), 0);
}

/// DynamoDB refuses the write that stores a refresh's result, after WeChat rotated the refresh
/// token: the refresher reports a store failure, the account keeps the refresh token it had
/// (never emptied or overwritten), and it is left for the next run, which completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_whose_result_cannot_be_stored_is_left_for_the_next_run() {
    let platform = frozen_platform(|_| {}).await;
    let proxy = FaultProxy::start(&dynamodb_local()).await.unwrap();
    let tokens = tokens_via(&platform, proxy.base_url(), sandbox_clock(&platform));
    platform.store_ticket().await;
    let appids: Vec<String> = platform.account_appids().into_iter().take(3).collect();
    for appid in &appids {
        platform.authorize(&tokens, appid, "m-faults").await;
    }
    let mut before = HashMap::new();
    for appid in &appids {
        before.insert(appid.clone(), stored(&tokens, appid).await);
    }
    platform.sandbox.advance(UNTIL_DUE);

    // Only the write of the refreshed tokens fails (the lease and its release go through).
    proxy.add_rule(
        Rule::new(
            Some("UpdateItem"),
            DynamoError::InternalServerError,
            Times::Always,
        )
        .when_body_contains("SET access_token = :access"),
    );
    let summary = run(&tokens, Duration::from_secs(60), 4).await;
    assert!(summary.component_token_ok, "{summary:?}");
    assert_eq!(summary.refreshed, 0, "{summary:?}");
    assert_eq!(
        summary.failed,
        BTreeMap::from([("store".to_owned(), appids.len())])
    );
    for appid in &appids {
        let now = stored(&tokens, appid).await;
        assert_eq!(
            now, before[appid],
            "{appid}: tokens and status as they were"
        );
        assert_ne!(
            platform.listed_refresh_token(appid),
            now.0,
            "{appid}: WeChat did rotate the refresh token"
        );
        let record = tokens
            .store
            .authorizer(&platform.component, appid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            record.due_at,
            Some(platform.sandbox.now() + 300),
            "{appid}: due again after the failure pause"
        );
        assert_eq!(record.lease_until, None);
    }
    assert_eq!(
        platform.sandbox.calls_to("api_authorizer_token"),
        appids.len() as u64
    );

    // The next run (after the 5-minute pause; WeChat's grace for the old refresh token is over
    // too, so the token comes back from api_get_authorizer_list) completes every account.
    proxy.clear_rules();
    platform.sandbox.advance(Duration::from_secs(300));
    let summary = run(&tokens, Duration::from_secs(60), 4).await;
    assert_eq!(summary.refreshed, appids.len(), "{summary:?}");
    assert_eq!(summary.recovered, appids.len(), "{summary:?}");
    assert!(summary.failed.is_empty(), "{summary:?}");
    for appid in &appids {
        let now = stored(&tokens, appid).await;
        assert_eq!(now.0, platform.listed_refresh_token(appid));
        assert_ne!(now.1, before[appid].1, "{appid}: a new access token");
        assert_eq!(now.2, platform.sandbox.now() + 7200);
    }
}

/// DynamoDB throttles everything during a run: nothing is refreshed, nothing changes, WeChat is
/// not even called; the next run does the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_against_a_throttled_table_changes_nothing_and_the_next_run_completes() {
    let platform = frozen_platform(|_| {}).await;
    let proxy = FaultProxy::start(&dynamodb_local()).await.unwrap();
    let tokens = tokens_via(&platform, proxy.base_url(), sandbox_clock(&platform));
    platform.store_ticket().await;
    let appids: Vec<String> = platform.account_appids().into_iter().take(3).collect();
    for appid in &appids {
        platform.authorize(&tokens, appid, "m-faults").await;
    }
    platform.sandbox.advance(UNTIL_DUE);
    let before = items_of(&platform.aws, &platform.component).await;
    platform.sandbox.reset_calls();

    proxy.add_rule(Rule::new(None, DynamoError::Throttling, Times::Always));
    let summary = run(&tokens, Duration::from_secs(60), 4).await;
    assert!(!summary.component_token_ok, "{summary:?}");
    assert_eq!(summary.refreshed, 0);
    assert_eq!(summary.failed, BTreeMap::from([("store".to_owned(), 1)]));
    assert_eq!(items_of(&platform.aws, &platform.component).await, before);
    assert_eq!(platform.sandbox.calls().per_api.values().sum::<u64>(), 0);

    proxy.clear_rules();
    let summary = run(&tokens, Duration::from_secs(60), 4).await;
    assert_eq!(summary.refreshed, appids.len(), "{summary:?}");
    assert!(summary.failed.is_empty(), "{summary:?}");
    for appid in &appids {
        assert_eq!(
            platform.stored_refresh_token(&tokens, appid).await,
            platform.listed_refresh_token(appid)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. WeChat hanging past the client's timeout and the run's deadline
// ---------------------------------------------------------------------------------------------

/// api_authorizer_token hangs (30 s, far past the client's timeout) near the end of a run, with
/// the deployment's settings (5 s timeout, 3 retries of a call that failed for the network,
/// 10 s reserve, no call started in the last 7 s): one account's retries alone take longer than
/// the reserve, so the run stops starting retries before its deadline (a call in flight is never
/// cut: its answer would be stored) and reports, instead of being killed by Lambda. No token
/// changed; the accounts stopped are due again at once, and the next run refreshes all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wechat_hanging_past_the_deadline_leaves_work_for_the_next_run() {
    let platform = frozen_platform(|_| {}).await;
    let mut config = platform.config.clone();
    config.wechat_timeout = wxopen::Config::from_lookup(|name| {
        ["COMPONENT_APPID", "TABLE_NAME", "SECRET_ID"]
            .contains(&name)
            .then(|| "x".to_owned())
    })
    .unwrap()
    .wechat_timeout;
    let mut tokens = tokens_for(
        &platform.aws,
        &config,
        &dynamodb_local(),
        sandbox_clock(&platform),
    );
    tokens.settings = TokenSettings {
        refresh_margin: config.refresh_margin,
        ..TokenSettings::default()
    };
    platform.store_ticket().await;
    let appids: Vec<String> = platform.account_appids().into_iter().take(4).collect();
    for appid in &appids {
        platform.authorize(&tokens, appid, "m-faults").await;
    }
    let mut before = HashMap::new();
    for appid in &appids {
        before.insert(appid.clone(), stored(&tokens, appid).await);
    }
    platform.sandbox.advance(UNTIL_DUE);
    // The component token is refreshed before the hang starts (it is due too).
    tokens.component_access_token().await.unwrap();
    platform.sandbox.reset_calls();
    platform
        .sandbox
        .hang_next("api_authorizer_token", Duration::from_secs(30), 1000);

    // The longest one account can take: every attempt to its timeout, and the backoffs between
    // them (at most 1.5x each, doubling).
    let settings = &tokens.settings;
    let attempts = settings.busy_retries + 1;
    let backoffs: Duration = (0..settings.busy_retries)
        .map(|i| settings.busy_backoff.mul_f64(1.5) * 2u32.pow(i))
        .sum();
    let worst = config.wechat_timeout * attempts + backoffs;
    let mut options = RunOptions::new(Instant::now() + Duration::from_secs(14));
    assert!(worst > options.reserve, "{worst:?} {:?}", options.reserve);
    options.concurrency = 2;
    let started = Instant::now();
    let summary = refresh::run(&tokens, &options).await;
    let ended = Instant::now();

    // The accounts started stopped retrying before WeChat's retries were over; the index was not read
    // further once too little time was left, so the others were not touched at all.
    let cut = summary.failed.get("deadline").copied().unwrap_or(0);
    assert!(summary.component_token_ok, "{summary:?}");
    assert_eq!(summary.refreshed, 0, "{summary:?}");
    assert!(summary.left_for_next_run, "{summary:?}");
    assert_eq!(
        summary.failed,
        BTreeMap::from([("deadline".to_owned(), cut)])
    );
    let mut tried = 0;
    for appid in &appids {
        let calls = platform.sandbox.calls_for("api_authorizer_token", appid);
        assert!(
            calls < u64::from(attempts),
            "{appid}: {calls} calls, stopped before all {attempts} attempts"
        );
        tried += usize::from(calls > 0);
        if calls > 0 {
            let record = tokens
                .store
                .authorizer(&platform.component, appid)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (record.lease_until, record.due_at),
                (None, Some(platform.sandbox.now())),
                "{appid}: released, due again at once"
            );
        }
        assert_eq!(
            stored(&tokens, appid).await.0,
            before[appid].0,
            "{appid}: the refresh token is intact"
        );
        assert_eq!(
            platform.stored_refresh_token(&tokens, appid).await,
            platform.listed_refresh_token(appid)
        );
    }
    assert_eq!(tried, cut, "{summary:?}");
    assert!(
        (1..appids.len()).contains(&tried),
        "some accounts tried, some left: {summary:?}"
    );
    println!(
        "hang: run took {:?} for a deadline {:?} away (reserve {:?}, one account's retries up to {worst:?}); {summary:?}",
        ended - started,
        options.deadline - started,
        options.reserve,
    );

    // WeChat answers again (a minute later, as in the deployment's schedule).
    platform.sandbox.clear_faults();
    platform.sandbox.advance(Duration::from_secs(61));
    let summary = run(&tokens, Duration::from_secs(60), 4).await;
    assert_eq!(summary.refreshed, appids.len(), "{summary:?}");
    assert!(summary.failed.is_empty(), "{summary:?}");
    for appid in &appids {
        let now = stored(&tokens, appid).await;
        assert_eq!(now.0, platform.listed_refresh_token(appid));
        assert_ne!(now.1, before[appid].1);
    }
}

/// The authorization a push tells of meets an api_query_auth that hangs past the client's
/// timeout: WeChat may have used the code, so it is not sent again; the account the push names
/// is stored from api_get_authorizer_list, within the push's budget. The push is answered
/// `success` at the first attempt, and the next scheduled run has nothing left to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_whose_exchange_hangs_is_resolved_through_the_authorizer_list() {
    let platform = frozen_platform(|_| {}).await;
    let clock = sandbox_clock(&platform);
    let tokens = tokens_via(&platform, &dynamodb_local(), clock.clone());
    platform.store_ticket().await;
    let receiver = Arc::new(receiver(
        &platform,
        tokens_via(&platform, &dynamodb_local(), clock),
    ));
    let served = Arc::clone(&receiver);
    let server = wxopen_tests::dev_server::serve(move |request| {
        let receiver = Arc::clone(&served);
        async move { ticket_receiver::handle(&receiver, request).await }
    })
    .await
    .unwrap();
    platform.sandbox.set_event_url(Some(&format!(
        "{}/wechat/component/events",
        server.base_url()
    )));

    platform
        .sandbox
        .hang_next("api_query_auth", Duration::from_secs(30), 2);
    let appid = platform.account_appids()[1].clone();
    let granted = platform.sandbox.authorize(&appid, None).await.unwrap();
    let push = granted.push.expect("pushed to the receiver");
    assert!(push.success, "{push:?}");
    assert_eq!(push.attempts, 1);
    assert_eq!(push.body.as_deref(), Some("success"));
    assert_eq!(
        platform.sandbox.calls_to("api_query_auth"),
        1,
        "never sent again"
    );
    assert_eq!(platform.sandbox.calls_to("api_get_authorizer_list"), 1);
    let (refresh_token, _, _, status) = stored(&tokens, &appid).await;
    assert_eq!(status, "authorized");
    assert_eq!(refresh_token, platform.listed_refresh_token(&appid));

    // The next scheduled run gets the account its access token; nothing is left over.
    platform.sandbox.advance(Duration::from_secs(60));
    let summary = run(&tokens, Duration::from_secs(60), 4).await;
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!(summary.refreshed, 1, "{summary:?}");
    let (refresh_token, access_token, _, status) = stored(&tokens, &appid).await;
    assert_eq!(status, "authorized");
    assert!(access_token.is_some());
    assert_eq!(refresh_token, platform.listed_refresh_token(&appid));
    assert_eq!(platform.sandbox.calls_to("api_query_auth"), 1);
}

// ---------------------------------------------------------------------------------------------
// 3. WeChat failing a fifth of its calls over a simulated day
// ---------------------------------------------------------------------------------------------

/// Thirty-six accounts shaped like the sandbox's own, with appids of their own.
fn fleet() -> Vec<Account> {
    let templates = wxopen_tests::sandbox::accounts::builtin();
    (0..36)
        .map(|i| {
            let mut account = templates[i % 6].clone();
            account.appid = format!("wxfa{i:014x}");
            account.info.user_name = format!("gh_fa{i:010x}");
            account.release_check_group = None;
            account
        })
        .collect()
}

/// The access tokens WeChat issued, per account: (token, sandbox time issued, lifetime).
fn issued_tokens(log: &[Exchange]) -> HashMap<String, Vec<(String, i64, i64)>> {
    let mut issued: HashMap<String, Vec<(String, i64, i64)>> = HashMap::new();
    for exchange in log {
        let Ok(answer) = serde_json::from_slice::<serde_json::Value>(&exchange.response_body)
        else {
            continue;
        };
        let request: serde_json::Value =
            serde_json::from_slice(&exchange.request_body).unwrap_or_default();
        let (appid, token, expires_in) = match exchange.operation.as_str() {
            "api_query_auth" => {
                let info = &answer["authorization_info"];
                (
                    info["authorizer_appid"].as_str(),
                    info["authorizer_access_token"].as_str(),
                    info["expires_in"].as_i64(),
                )
            }
            "api_authorizer_token" => (
                request["authorizer_appid"].as_str(),
                answer["authorizer_access_token"].as_str(),
                answer["expires_in"].as_i64(),
            ),
            _ => continue,
        };
        if let (Some(appid), Some(token), Some(expires_in)) = (appid, token, expires_in) {
            issued.entry(appid.to_owned()).or_default().push((
                token.to_owned(),
                exchange.at,
                expires_in,
            ));
        }
    }
    issued
}

/// 24 simulated hours: a ticket pushed and a refresher run every 10 minutes (144 each), one
/// account withdrawing every 2 hours (three of those pushes lost) and one authorizing every 2
/// hours, while WeChat answers
/// about 20% of all calls with -1 (busy) or 40001 (token invalid). At the end no refresh token
/// is lost (the stored one is the one WeChat lists, for every account), every authorized account
/// holds an access token WeChat issued and still honours, withdrawn accounts are marked, and the
/// stored ticket is the newest pushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_day_of_pushes_and_refreshes_with_a_fifth_of_wechat_calls_failing() {
    const STEPS: u32 = 144;
    const STEP: Duration = Duration::from_secs(600);
    let wall = Instant::now();
    let accounts = fleet();
    let platform = frozen_platform(|config| {
        config.accounts = accounts.clone();
        config.push_retry_delay = Duration::from_millis(50);
    })
    .await;
    // The service reaches WeChat through a tap that records what WeChat issued, and when.
    let tap = FaultProxy::start(platform.sandbox.base_url())
        .await
        .unwrap();
    let clock = sandbox_clock(&platform);
    tap.set_clock(clock.clone());
    let mut tapped = platform.config.clone();
    tapped.wechat_api_base = tap.base_url().to_owned();
    let tokens = tokens_for(&platform.aws, &tapped, &dynamodb_local(), clock.clone());
    let receiver = Arc::new(receiver_for(
        &platform.aws,
        &tapped,
        tokens_for(&platform.aws, &tapped, &dynamodb_local(), clock),
    ));
    let served = Arc::clone(&receiver);
    let server = wxopen_tests::dev_server::serve(move |request| {
        let receiver = Arc::clone(&served);
        async move { ticket_receiver::handle(&receiver, request).await }
    })
    .await
    .unwrap();
    let event_url = format!("{}/wechat/component/events", server.base_url());
    platform.sandbox.set_event_url(Some(&event_url));

    // Morning: a ticket, and 30 of the 36 accounts authorized (through their pushes).
    let sandbox = &platform.sandbox;
    assert!(sandbox.push_ticket().await.unwrap().success);
    let appids: Vec<String> = accounts.iter().map(|a| a.appid.clone()).collect();
    for appid in &appids[..30] {
        assert!(
            sandbox
                .authorize(appid, None)
                .await
                .unwrap()
                .push
                .unwrap()
                .success
        );
    }

    // From now on a fifth of WeChat's answers are errors the service must retry.
    sandbox.fail_at_rate("*", -1, 0.18);
    for api in [
        "api_authorizer_token",
        "api_query_auth",
        "api_get_authorizer_info",
        "api_get_authorizer_list",
        "api_create_preauthcode",
    ] {
        sandbox.fail_at_rate(api, 40001, 0.05);
    }
    let mut withdrawn_at: HashMap<String, i64> = HashMap::new();
    let mut totals = Summary::default();
    let mut pushes_failed = 0;
    let (mut withdrawals, mut authorizations, mut lost_pushes) = (0, 0, 0);
    for step in 0..STEPS {
        sandbox.advance(STEP);
        if !sandbox.push_ticket().await.unwrap().success {
            pushes_failed += 1;
        }
        let authorized: Vec<String> = sandbox
            .accounts()
            .into_iter()
            .filter(|a| a.authorized)
            .map(|a| a.account.appid)
            .collect();
        if step % 12 == 5 {
            // An authorized account withdraws, a different one each time. In the morning every
            // other `unauthorized` push is lost on the way: the refresher learns it from 61003.
            let appid = &authorized[(step as usize / 12) % authorized.len()];
            if step < 72 && (step / 12) % 2 == 0 {
                sandbox.set_event_url(None);
                assert!(sandbox.withdraw(appid).await.unwrap().is_none());
                sandbox.set_event_url(Some(&event_url));
                lost_pushes += 1;
            } else {
                let push = sandbox.withdraw(appid).await.unwrap().unwrap();
                pushes_failed += usize::from(!push.success);
            }
            withdrawn_at.insert(appid.clone(), sandbox.now());
            withdrawals += 1;
        }
        if step % 12 == 11 {
            // An account not authorized now authorizes (again, for those that withdrew).
            let appid = appids
                .iter()
                .find(|a| !authorized.contains(a) && !withdrawn_at.contains_key(*a))
                .or_else(|| appids.iter().find(|a| !authorized.contains(a)))
                .unwrap();
            let push = sandbox.authorize(appid, None).await.unwrap().push.unwrap();
            pushes_failed += usize::from(!push.success);
            authorizations += 1;
        }
        let summary = run(&tokens, Duration::from_secs(30), 8).await;
        totals.refreshed += summary.refreshed;
        totals.recovered += summary.recovered;
        totals.withdrawn += summary.withdrawn;
        totals.events_settled += summary.events_settled;
        totals.reauthorization_required += summary.reauthorization_required;
        totals.left_for_next_run |= summary.left_for_next_run;
        for (reason, count) in summary.failed {
            *totals.failed.entry(reason).or_default() += count;
        }
    }

    let now = sandbox.now();
    let log = tap.log();
    let issued = issued_tokens(&log);
    let mut live = 0;
    for status in sandbox.accounts() {
        let appid = &status.account.appid;
        let (refresh_token, access_token, expires_at, stored_status) = stored(&tokens, appid).await;
        if !status.authorized {
            assert_eq!(stored_status, "withdrawn", "{appid}");
            continue;
        }
        live += 1;
        assert_eq!(stored_status, "authorized", "{appid}");
        assert_eq!(
            refresh_token,
            platform.listed_refresh_token(appid),
            "{appid}: the stored refresh token is the one WeChat lists"
        );
        let access_token = access_token.unwrap_or_else(|| panic!("{appid}: no access token"));
        let (_, issued_at, lifetime) = issued
            .get(appid)
            .and_then(|tokens| tokens.iter().find(|(t, _, _)| *t == access_token))
            .unwrap_or_else(|| panic!("{appid}: the stored access token was issued by WeChat"));
        assert!(
            now < issued_at + lifetime,
            "{appid}: the access token is still valid ({issued_at} + {lifetime} vs {now})"
        );
        assert!(
            withdrawn_at.get(appid).is_none_or(|w| *w < *issued_at),
            "{appid}: issued after the last withdrawal"
        );
        assert!(expires_at > now, "{appid}");
    }
    let stored_ticket = tokens.store.ticket(&platform.component).await.unwrap();
    assert_eq!(
        stored_ticket.map(|t| t.ticket),
        Some(sandbox.ticket().ticket)
    );
    // Never lost along the way either: no refresh token had to be taken back from the list.
    assert_eq!(totals.recovered, 0, "{totals:?}");
    assert_eq!(totals.reauthorization_required, 0, "{totals:?}");
    assert_eq!(totals.withdrawn, lost_pushes, "{totals:?}");
    assert_eq!(pushes_failed, 0);

    let wechat_errors = log
        .iter()
        .filter(|e| {
            serde_json::from_slice::<serde_json::Value>(&e.response_body)
                .ok()
                .and_then(|v| v["errcode"].as_i64())
                .is_some_and(|c| c != 0)
        })
        .count();
    println!(
        "simulated day: {STEPS} ticket pushes and refresher runs, {withdrawals} withdrawals \
         ({lost_pushes} of them with the push lost), {authorizations} authorizations, {live} accounts authorized at the end; WeChat calls {}, \
         answered with an error {} ({:.1}%); refreshed {}, recovered {}, withdrawn by 61003 {}, \
         events settled by the refresher {}, failures by reason {:?}; wall time {:?}",
        log.len(),
        wechat_errors,
        100.0 * wechat_errors as f64 / log.len().max(1) as f64,
        totals.refreshed,
        totals.recovered,
        totals.withdrawn,
        totals.events_settled,
        totals.failed,
        wall.elapsed()
    );
}
