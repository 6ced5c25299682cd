//! What serving authorized accounts' users costs (issue 14), against the sandbox and the local
//! DynamoDB, each on loopback:
//!
//! - mini program login (`POST /miniprogram/{appid}/login` through the function's handler, a warm
//!   container) against its floor measured in the same run, alternating: one jscode2session
//!   round trip plus one DynamoDB PutItem, the unavoidable work of a login that stored anything;
//! - a warm JS-SDK configuration: its time, WeChat calls and DynamoDB operations;
//! - 16 containers (each its own handler and token state) asking at once for a configuration
//!   while the stored ticket is expired, several rounds: getticket calls per round.
//!
//! Prints the figures; asserts only the counts the design promises (no WeChat call and at most
//! one DynamoDB read per warm configuration, one getticket call per round), nothing about time.
//!
//!     bash scripts/services.sh run cargo bench -p wxopen-tests --bench users
//!     bash scripts/services.sh run cargo bench -p wxopen-tests --bench users -- --logins 500

#[allow(dead_code)] // Each benchmark uses part of the shared helpers.
mod support;

use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::future::join_all;
use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt};
use serde_json::json;
use user_identity::{UserIdentity, handle};
use wxopen::store::Store;
use wxopen_tests::platform::Platform;

use support::{DynamoCalls, Stats, ms, tally};

const BENCH: &str = "users";
const HOW: &str = "bash scripts/services.sh run cargo bench -p wxopen-tests --bench users";
const OFFICIAL: &str = "wx3f2a6c8d1e4b7a90";
const MINI_PROGRAM: &str = "wx5d8a1f3c7e9b2046";
const PAGE: &str = "http://127.0.0.1:8080/shop/item?id=7";

fn main() {
    let Some(flags) = support::start(BENCH, HOW, &["logins", "configs", "rounds", "warmup"]) else {
        return;
    };
    let logins = flags.number("logins", 300).max(1) as usize;
    let configs = flags.number("configs", 300).max(1) as usize;
    let rounds = flags.number("rounds", 10).max(1) as usize;
    let warmup = flags.number("warmup", 30) as usize;
    support::log_into_sink();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(bench(logins, configs, rounds, warmup));
}

/// One container of the function, its DynamoDB operations counted by `calls`.
fn container(platform: &Platform, calls: &DynamoCalls) -> UserIdentity {
    let mut identity = UserIdentity::new(&platform.config, &platform.aws).expect("configured");
    identity.tokens = platform.tokens().caching_component_token();
    identity.tokens.store = Store::new(calls.client(&platform.aws), &platform.config.table_name);
    identity
}

fn request(method: Method, path: &str, body: String) -> Request {
    lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .body(Body::Text(body))
        .expect("a request")
}

fn config_request() -> Request {
    request(
        Method::GET,
        &format!("/jssdk/{OFFICIAL}/config"),
        String::new(),
    )
    .with_query_string_parameters(std::collections::HashMap::from([(
        "url".to_owned(),
        vec![PAGE.to_owned()],
    )]))
}

async fn status(identity: &UserIdentity, request: Request) -> u16 {
    handle(identity, request)
        .await
        .expect("always an answer")
        .status()
        .as_u16()
}

async fn bench(logins: usize, configs: usize, rounds: usize, warmup: usize) {
    let mut platform = Platform::new().await;
    platform.config.jssdk_origins = vec!["http://127.0.0.1:8080".to_owned()];
    platform.store_ticket().await;
    let tokens = platform.tokens();
    for appid in [OFFICIAL, MINI_PROGRAM] {
        platform.authorize(&tokens, appid, "bench").await;
    }
    let calls = DynamoCalls::default();
    let identity = container(&platform, &calls);
    let plain = aws_sdk_dynamodb::Client::new(&platform.aws);
    let wechat = &tokens.wechat;
    let component_token = tokens
        .component_access_token()
        .await
        .expect("a component token");

    println!(
        "users benchmark: {} core(s); {logins} logins alternating with their floor, {configs} warm \
         JS-SDK configurations, {rounds} rounds of 16 containers with an expired ticket (after \
         {warmup} of each as warm-up)",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!("load before: {}", support::load_average());

    // ----- mini program login against its floor -----
    let (mut login_times, mut floor_times, mut login_ops) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..warmup + logins {
        let code = platform
            .sandbox
            .login_code(MINI_PROGRAM, &format!("user-{i}"));
        calls.take();
        let started = Instant::now();
        let got = status(
            &identity,
            request(
                Method::POST,
                &format!("/miniprogram/{MINI_PROGRAM}/login"),
                json!({ "code": code }).to_string(),
            ),
        )
        .await;
        let took = started.elapsed();
        assert_eq!(got, 200, "login {i}");
        let ops = calls.take();

        let code = platform
            .sandbox
            .login_code(MINI_PROGRAM, &format!("floor-{i}"));
        let started = Instant::now();
        wechat
            .jscode2session(component_token.expose(), MINI_PROGRAM, &code)
            .await
            .expect("jscode2session answers");
        plain
            .put_item()
            .table_name(&platform.config.table_name)
            .item(
                "pk",
                AttributeValue::S(format!("{}#bench", platform.component)),
            )
            .item("sk", AttributeValue::S(format!("floor-{i}")))
            .item("openid", AttributeValue::S(format!("o-floor-{i}")))
            .send()
            .await
            .expect("PutItem");
        let floor = started.elapsed();
        if i >= warmup {
            login_times.push(took);
            floor_times.push(floor);
            login_ops.push(ops);
        }
    }

    // ----- warm JS-SDK configurations -----
    assert_eq!(status(&identity, config_request()).await, 200);
    platform.sandbox.reset_calls();
    let (mut config_times, mut config_ops) = (Vec::new(), Vec::new());
    for i in 0..warmup + configs {
        calls.take();
        let started = Instant::now();
        let got = status(&identity, config_request()).await;
        let took = started.elapsed();
        assert_eq!(got, 200, "configuration {i}");
        let ops = calls.take();
        assert!(
            ops.iter().filter(|op| *op == "GetItem").count() <= 1 && ops.len() <= 1,
            "a warm configuration read more than once: {ops:?}"
        );
        if i >= warmup {
            config_times.push(took);
            config_ops.push(ops);
        }
    }
    let config_wechat_calls: u64 = platform.sandbox.calls().per_api.values().sum();
    assert_eq!(config_wechat_calls, 0, "warm configurations called WeChat");

    // ----- 16 containers, expired ticket -----
    let mut per_round = Vec::new();
    let mut round_times = Vec::new();
    for _ in 0..rounds {
        plain
            .update_item()
            .table_name(&platform.config.table_name)
            .key(
                "pk",
                AttributeValue::S(wxopen::store::authorizer_pk(&platform.component, OFFICIAL)),
            )
            .key("sk", AttributeValue::S("jsapi_ticket".into()))
            .update_expression("SET expires_at = :past")
            .expression_attribute_values(
                ":past",
                AttributeValue::N((wxopen::unix_now() - 10).to_string()),
            )
            .send()
            .await
            .expect("the ticket is expired");
        let containers: Vec<UserIdentity> = (0..16)
            .map(|_| container(&platform, &DynamoCalls::default()))
            .collect();
        platform.sandbox.reset_calls();
        let started = Instant::now();
        let answers = join_all(
            containers
                .iter()
                .map(|identity| status(identity, config_request())),
        )
        .await;
        round_times.push(started.elapsed());
        assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
        per_round.push(platform.sandbox.calls_to("getticket"));
    }
    assert!(
        per_round.iter().all(|n| *n == 1),
        "getticket calls per round: {per_round:?}"
    );
    println!("load after:  {}", support::load_average());

    let login = Stats::of(&login_times);
    let floor = Stats::of(&floor_times);
    let config = Stats::of(&config_times);
    let rounds_stats = Stats::of(&round_times);
    let ratio = login.median.as_secs_f64() / floor.median.as_secs_f64();
    let ops_of = |ops: &[Vec<String>]| {
        let first = ops[0].clone();
        let same = ops.iter().all(|o| *o == first);
        match (first.is_empty(), same) {
            (true, true) => "none".to_owned(),
            (false, true) => tally(&first),
            _ => "varies".to_owned(),
        }
    };
    println!();
    println!("| case | n | median | p99 | min | max | DynamoDB calls each | WeChat calls |");
    println!("|---|---|---|---|---|---|---|---|");
    let row = |name: &str, st: &Stats, dynamo: &str, wechat: &str| {
        println!(
            "| {name} | {} | {} ms | {} ms | {} ms | {} ms | {dynamo} | {wechat} |",
            st.n,
            ms(st.median),
            ms(st.p99),
            ms(st.min),
            ms(st.max)
        );
    };
    row(
        "mini program login (warm container)",
        &login,
        &ops_of(&login_ops),
        "jscode2session",
    );
    row(
        "floor: jscode2session + PutItem",
        &floor,
        "PutItem",
        "jscode2session",
    );
    row(
        "JS-SDK configuration (warm)",
        &config,
        &ops_of(&config_ops),
        "none",
    );
    row(
        "16 containers at once, expired ticket (per round)",
        &rounds_stats,
        "-",
        &format!("getticket {per_round:?}"),
    );
    println!();
    println!("login median / floor median: {ratio:.2}");
    println!(
        "result: {}",
        json!({
            "login_median_ms": ms(login.median),
            "floor_median_ms": ms(floor.median),
            "login_over_floor": format!("{ratio:.2}"),
            "config_median_ms": ms(config.median),
            "config_dynamodb_calls": config_ops[0],
            "config_wechat_calls": config_wechat_calls,
            "getticket_per_round": per_round,
        })
    );
}
