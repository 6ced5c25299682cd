//! The authorization callback against the WeChat sandbox answering every API after a fixed
//! latency (issue 8), next to the sum of the round trips it makes, each measured bare in the
//! same run. Prints medians and the ratio; asserts nothing about time.
//!
//!     bash scripts/services.sh run cargo bench -p wxopen-tests --bench callback
//!     bash scripts/services.sh run cargo bench -p wxopen-tests --bench callback -- \
//!         --callbacks 200 --latency-ms 20
//!
//! A callback here is the whole handler (`auth_callback::handle`) for WeChat's redirect with a
//! fresh session (made by `authorization::start`, as auth-link does) and a fresh authorization
//! code (the sandbox's administrator confirming), in the platform's steady state: ticket and
//! component token stored. The round trips are counted, not assumed: the DynamoDB operations
//! the handler's client sent and the WeChat APIs the sandbox received. Each kind is then timed
//! bare (one request, nothing else) in the same run, and the floor is the sum over the calls of
//! the median bare round trip of its kind.

#[allow(dead_code)] // Each benchmark uses part of the shared helpers.
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use lambda_http::http::Method;
use lambda_http::{Body, RequestExt};
use serde_json::json;
use wxopen::authorization::{self, LinkRequest, Pages};
use wxopen::store::{Store, authorizer_pk};
use wxopen::tokens::Tokens;
use wxopen_tests::sandbox::{self, Sandbox, SandboxConfig, faults::ALL_APIS};
use wxopen_tests::{aws, config, unique_appid};

use support::{DynamoCalls, Stats, ms, tally};

const BENCH: &str = "callback";
const HOW: &str = "bash scripts/services.sh run cargo bench -p wxopen-tests --bench callback";
/// Bare round trips timed per kind.
const BARE_SAMPLES: usize = 100;

fn main() {
    let Some(flags) = support::start(BENCH, HOW, &["callbacks", "warmup", "latency-ms"]) else {
        return;
    };
    let number = |name, default| flags.number(name, default);
    let callbacks = number("callbacks", 200).max(1) as usize;
    let warmup = number("warmup", 10) as usize;
    let latency = Duration::from_millis(number("latency-ms", 20));
    support::log_into_sink();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(bench(callbacks, warmup, latency));
}

async fn bench(callbacks: usize, warmup: usize, latency: Duration) {
    let aws = aws().await;
    let component = unique_appid();
    let total = warmup + callbacks;
    // One account per callback and per bare api_query_auth: each code is for a new account.
    let accounts = sandbox::accounts::generated(total + BARE_SAMPLES);
    let mut appids: Vec<String> = accounts.iter().map(|a| a.appid.clone()).collect();
    let sandbox = Sandbox::start(SandboxConfig {
        component_appid: component.clone(),
        ticket_interval: Duration::ZERO,
        component_token_ttl: Duration::from_secs(4 * 3600),
        accounts,
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts");
    let mut config = config(&component, "wxopen/local");
    config.wechat_api_base = sandbox.base_url().trim_end_matches('/').to_owned();
    config.wechat_mp_base = config.wechat_api_base.clone();
    config.wechat_open_base = config.wechat_api_base.clone();
    config.public_base_url = Some("https://auth.example.com".to_owned());
    config.wechat_timeout = Duration::from_secs(10);

    // Steady state: the ticket and a component token are stored.
    let setup = Tokens::from_config(&config, &aws);
    wxopen_tests::store_ticket(&sandbox, &setup.store, &component).await;
    let component_token = setup
        .component_access_token()
        .await
        .expect("a component token");
    let pages = Pages {
        mp_base: config.wechat_mp_base.clone(),
        open_base: config.wechat_open_base.clone(),
        public_base_url: config.public_base_url.clone().unwrap_or_default(),
    };

    let calls = DynamoCalls::default();
    let client = calls.client(&aws);
    let mut callback = auth_callback::AuthCallback::new(&config, &aws);
    callback.tokens.store = Store::new(client.clone(), &config.table_name);
    sandbox.set_latency(ALL_APIS, latency);

    println!(
        "callback benchmark: {} core(s), {callbacks} callbacks (after {warmup} as warm-up), \
         one at a time, every WeChat API answering after {} ms",
        std::thread::available_parallelism().map_or(1, usize::from),
        latency.as_millis()
    );
    println!("load before: {}", support::load_average());
    let mut times = Vec::with_capacity(callbacks);
    let mut dynamo_ops: Vec<Vec<String>> = Vec::new();
    // Each DynamoDB call's time inside the callback, per callback.
    let mut dynamo_times: Vec<Vec<Duration>> = Vec::new();
    let mut wechat_ops: Vec<BTreeMap<String, u64>> = Vec::new();
    let mut last_appid = String::new();
    for i in 0..total {
        // The merchant's link and the administrator's confirmation, before the clock starts.
        let link = authorization::start(
            &setup,
            &pages,
            &LinkRequest {
                merchant: format!("bench-merchant-{i}"),
                auth_type: 3,
                biz_appid: None,
                mobile: false,
            },
        )
        .await
        .expect("a session is started");
        let appid = appids.pop().expect("enough accounts");
        let authorized = sandbox
            .authorize(&appid, None)
            .await
            .expect("the sandbox authorizes");
        let request = callback_request(&link.session_id, &authorized.grant.authorization_code);
        sandbox.reset_calls();
        calls.take();
        let started = Instant::now();
        let answer = auth_callback::handle(&callback, request)
            .await
            .expect("an HTTP answer");
        let elapsed = started.elapsed();
        let body = match answer.body() {
            Body::Text(text) => text.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(answer.status().as_u16(), 200, "callback {i}: {body:.300}");
        assert!(body.contains(&appid), "callback {i} shows another account");
        if i >= warmup {
            times.push(elapsed);
            let sent = calls.take_timed();
            dynamo_times.push(sent.iter().map(|s| s.took.unwrap_or_default()).collect());
            dynamo_ops.push(sent.into_iter().map(|s| s.operation).collect());
            wechat_ops.push(sandbox.calls().per_api);
        }
        last_appid = appid;
    }
    // The last account is stored, bound to its merchant.
    let stored = setup
        .store
        .authorizer(&component, &last_appid)
        .await
        .expect("GetItem")
        .expect("the account is stored");
    assert_eq!(
        stored.merchant.as_deref(),
        Some(format!("bench-merchant-{}", total - 1).as_str())
    );

    // What one callback sends: the same for every timed callback (or the report says not).
    let dynamo = dynamo_ops[0].clone();
    let wechat = wechat_ops[0].clone();
    let alike = dynamo_ops
        .iter()
        .zip(&wechat_ops)
        .filter(|(d, w)| **d == dynamo && **w == wechat)
        .count();

    // ---- each kind of round trip, bare, in the same run ----
    let samples = BARE_SAMPLES;
    let mut bare: BTreeMap<String, Stats> = BTreeMap::new();
    let mut kinds: Vec<&str> = dynamo.iter().map(String::as_str).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let table = config.table_name.clone();
    let account_pk = authorizer_pk(&component, &last_appid);
    for kind in kinds {
        let mut times = Vec::with_capacity(samples);
        for i in 0..samples {
            let scratch = format!("{component}#bench#{kind}#{i}");
            let started = Instant::now();
            match kind {
                // The account item, read consistently, as the store reads.
                "GetItem" => client
                    .get_item()
                    .table_name(&table)
                    .key("pk", s(&account_pk))
                    .key("sk", s("authorizer"))
                    .consistent_read(true)
                    .send()
                    .await
                    .map(drop)
                    .expect("GetItem"),
                // A conditional write of a new item.
                "PutItem" => client
                    .put_item()
                    .table_name(&table)
                    .item("pk", s(&scratch))
                    .item("sk", s("bench"))
                    .item("value", s("x"))
                    .condition_expression("attribute_not_exists(pk)")
                    .send()
                    .await
                    .map(drop)
                    .expect("PutItem"),
                // A conditional update of one attribute of the account item.
                "UpdateItem" => client
                    .update_item()
                    .table_name(&table)
                    .key("pk", s(&account_pk))
                    .key("sk", s("authorizer"))
                    .update_expression("SET bench_touch = :v")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_values(":v", n(i as i64))
                    .return_values(ReturnValue::None)
                    .send()
                    .await
                    .map(drop)
                    .expect("UpdateItem"),
                // A transaction of two conditional updates: the account item and another
                // (the write-ahead stores the account and settles the code's claim in one).
                "TransactWriteItems" => {
                    let update = |pk: &str, condition: &str| {
                        aws_sdk_dynamodb::types::Update::builder()
                            .table_name(&table)
                            .key("pk", s(pk))
                            .key(
                                "sk",
                                s(if pk == account_pk {
                                    "authorizer"
                                } else {
                                    "bench"
                                }),
                            )
                            .update_expression("SET bench_touch = :v")
                            .condition_expression(condition)
                            .expression_attribute_values(":v", n(i as i64))
                            .build()
                            .expect("table, key and expression are set")
                    };
                    client
                        .transact_write_items()
                        .transact_items(
                            aws_sdk_dynamodb::types::TransactWriteItem::builder()
                                .update(update(&account_pk, "attribute_exists(pk)"))
                                .build(),
                        )
                        .transact_items(
                            aws_sdk_dynamodb::types::TransactWriteItem::builder()
                                .update(update(&scratch, "attribute_not_exists(bench_touch)"))
                                .build(),
                        )
                        .send()
                        .await
                        .map(drop)
                        .expect("TransactWriteItems")
                }
                other => panic!(
                    "the callback sent {other}, which this benchmark has no bare form of: add one"
                ),
            }
            times.push(started.elapsed());
        }
        bare.insert(kind.to_owned(), Stats::of(&times));
    }
    let wechat_client = &setup.wechat;
    for api in wechat.keys() {
        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples {
            let code = match api.as_str() {
                "api_query_auth" => Some(
                    sandbox
                        .authorize(&appids.pop().expect("enough accounts"), None)
                        .await
                        .expect("the sandbox authorizes")
                        .grant
                        .authorization_code,
                ),
                _ => None,
            };
            let started = Instant::now();
            match api.as_str() {
                "api_query_auth" => wechat_client
                    .query_auth(
                        component_token.expose(),
                        code.as_deref().unwrap_or_default(),
                    )
                    .await
                    .map(drop)
                    .expect("api_query_auth"),
                "api_get_authorizer_info" => wechat_client
                    .authorizer_info(component_token.expose(), &last_appid)
                    .await
                    .map(drop)
                    .expect("api_get_authorizer_info"),
                other => panic!(
                    "the callback called {other}, which this benchmark has no bare form of: add one"
                ),
            }
            times.push(started.elapsed());
        }
        bare.insert(api.clone(), Stats::of(&times));
    }
    println!("load after:  {}", support::load_average());

    let callback_stats = Stats::of(&times);
    let mut floor = Duration::ZERO;
    println!();
    println!(
        "round trips per callback ({alike} of {} timed callbacks alike):",
        times.len()
    );
    println!("  DynamoDB, in order: {}", tally(&dynamo));
    println!(
        "  WeChat: {}",
        wechat
            .iter()
            .map(|(api, n)| format!("{api} x{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    println!("| round trip | per callback | bare median | bare p99 | subtotal |");
    println!("|---|---|---|---|---|");
    let mut counts: BTreeMap<String, u64> = wechat.clone();
    for op in &dynamo {
        *counts.entry(op.clone()).or_default() += 1;
    }
    for (kind, count) in &counts {
        let st = bare[kind];
        let subtotal = st.median * *count as u32;
        floor += subtotal;
        println!(
            "| {kind} | {count} | {} ms | {} ms | {} ms |",
            ms(st.median),
            ms(st.p99),
            ms(subtotal)
        );
    }
    let ratio = callback_stats.median.as_secs_f64() / floor.as_secs_f64();
    println!("| **sum (floor)** | | | | **{} ms** |", ms(floor));

    // Where the callback's own time goes: each DynamoDB call as it took inside the callback.
    println!();
    println!("| # | DynamoDB call inside the callback | median | p99 | bare median |");
    println!("|---|---|---|---|---|");
    let alike_times: Vec<&Vec<Duration>> = dynamo_times
        .iter()
        .zip(&dynamo_ops)
        .filter(|(_, ops)| **ops == dynamo)
        .map(|(t, _)| t)
        .collect();
    for (i, op) in dynamo.iter().enumerate() {
        let st = Stats::of(&alike_times.iter().map(|t| t[i]).collect::<Vec<_>>());
        println!(
            "| {} | {op} | {} ms | {} ms | {} ms |",
            i + 1,
            ms(st.median),
            ms(st.p99),
            ms(bare[op].median)
        );
    }
    let in_dynamo = Stats::of(
        &alike_times
            .iter()
            .map(|t| t.iter().sum::<Duration>())
            .collect::<Vec<_>>(),
    );
    let bare_dynamo: Duration = dynamo.iter().map(|op| bare[op].median).sum();
    println!(
        "DynamoDB time per callback: median {} ms (bare: {} ms); the rest of the callback \
         (WeChat's two calls, our CPU): about {} ms",
        ms(in_dynamo.median),
        ms(bare_dynamo),
        ms(callback_stats.median.saturating_sub(in_dynamo.median))
    );
    println!();
    println!(
        "callback: median {} ms, p99 {} ms, min {} ms, max {} ms (n = {})",
        ms(callback_stats.median),
        ms(callback_stats.p99),
        ms(callback_stats.min),
        ms(callback_stats.max),
        callback_stats.n
    );
    println!("callback median / floor = {ratio:.2}x (target: at most 1.2x)");
    println!(
        "result: {}",
        json!({
            "latency_ms": latency.as_millis() as u64,
            "callbacks": callback_stats.n,
            "callback_ms": {"median": ms(callback_stats.median), "p99": ms(callback_stats.p99)},
            "floor_ms": ms(floor),
            "ratio": (ratio * 100.0).round() / 100.0,
            "dynamodb": dynamo,
            "wechat": wechat,
        })
    );
}

/// WeChat's redirect back to us, as API Gateway hands it to the function.
fn callback_request(session: &str, code: &str) -> lambda_http::Request {
    let query: std::collections::HashMap<String, Vec<String>> = [
        ("session", session),
        ("auth_code", code),
        ("expires_in", "600"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), vec![v.to_owned()]))
    .collect();
    lambda_http::http::Request::builder()
        .method(Method::GET)
        .uri("/authorize/callback")
        .body(Body::Empty)
        .expect("a request")
        .with_query_string_parameters(query)
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
