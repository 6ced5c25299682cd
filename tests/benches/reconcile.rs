//! The reconciliation over a large fleet (issue 12): WeChat lists `--accounts` authorizers
//! (100,000 by default) and the store agrees with all but `--missing` of them (5,000: never
//! stored, as after lost authorizations); each invocation gets `--budget-s` before its deadline
//! (280 s: a 300 s Lambda less the run's reserve and finish). Two passes, each going on from the
//! stored cursor, invocation after invocation, until complete:
//!
//! - drift: the missing accounts are written (a conditional UpdateItem each, 16 in flight), the
//!   others only read (BatchGetItem, 100 keys);
//! - steady: the store agrees with the list, so the pass only reads, and writes its cursor once
//!   per page of 500.
//!
//! Next to them, in the same run, the floor: the list walked alone (every page of
//! api_get_authorizer_list, no store), and bare loops of the same conditional UpdateItem
//! (16 in flight) and of BatchGetItem (100 keys, one at a time). Prints listed/s, the DynamoDB
//! operations sent, wall time; asserts nothing about time. The agreeing accounts are seeded by
//! BatchWriteItem (not timed).
//!
//!     bash scripts/services.sh run cargo bench -p wxopen-tests --bench reconcile
//!     bash scripts/services.sh run cargo bench -p wxopen-tests --bench reconcile -- \
//!         --accounts 20000 --missing 2000 --budget-s 10

#[allow(dead_code)] // Each benchmark uses part of the shared helpers.
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures_util::StreamExt;
use wxopen::store::{Store, authorizer_pk, due_pk};
use wxopen::tokens::Tokens;
use wxopen_tests::sandbox::{self, Sandbox, SandboxConfig};
use wxopen_tests::{aws, config, unique_appid};

use support::DynamoCalls;

const BENCH: &str = "reconcile";
const HOW: &str = "bash scripts/services.sh run cargo bench -p wxopen-tests --bench reconcile";

fn main() {
    let Some(flags) = support::start(
        BENCH,
        HOW,
        &["accounts", "missing", "budget-s", "floor-ops"],
    ) else {
        return;
    };
    let number = |name, default| flags.number(name, default);
    let accounts = number("accounts", 100_000).max(1) as usize;
    let missing = (number("missing", 5_000) as usize).min(accounts);
    let budget = Duration::from_secs(number("budget-s", 280).max(1));
    let floor_ops = number("floor-ops", 5_000).max(100) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(bench(accounts, missing, budget, floor_ops));
}

async fn bench(accounts: usize, missing: usize, budget: Duration, floor_ops: usize) {
    let aws = aws().await;
    let component = unique_appid();
    println!(
        "reconcile benchmark: {} core(s); {accounts} listed accounts, {missing} of them not \
         stored; {} s per invocation; DynamoDB Local, the sandbox and the service share the cores",
        std::thread::available_parallelism().map_or(1, usize::from),
        budget.as_secs()
    );
    println!("load before: {}", support::load_average());
    let fleet = sandbox::accounts::generated(accounts);
    let appids: Vec<String> = fleet.iter().map(|a| a.appid.clone()).collect();
    let sandbox = Sandbox::start(SandboxConfig {
        component_appid: component.clone(),
        ticket_interval: Duration::ZERO,
        accounts: fleet,
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts");
    let seeding = Instant::now();
    for appid in &appids {
        sandbox.authorize(appid, None).await.expect("authorized");
    }
    let authorized_in = seeding.elapsed();

    let mut config = config(&component, "wxopen/local");
    config.wechat_api_base = sandbox.base_url().to_owned();
    let plain = aws_sdk_dynamodb::Client::new(&aws);
    seed_agreeing(
        &plain,
        &config.table_name,
        &component,
        &sandbox,
        &appids[missing..],
    )
    .await;
    println!(
        "seeding: {accounts} authorizations at the sandbox in {:.1} s; {} agreeing accounts \
         stored by BatchWriteItem in {:.1} s",
        authorized_in.as_secs_f64(),
        accounts - missing,
        (seeding.elapsed() - authorized_in).as_secs_f64()
    );

    let calls = DynamoCalls::default();
    let mut tokens = Tokens::from_config(&config, &aws).caching_component_token();
    tokens.store = Store::new(calls.client(&aws), &config.table_name);
    wxopen_tests::store_ticket(&sandbox, &tokens.store, &component).await;
    tokens
        .component_access_token()
        .await
        .expect("a component token");

    let mut results = Vec::new();
    for pass in ["drift", "steady"] {
        calls.take();
        sandbox.reset_calls();
        let started = Instant::now();
        let mut invocations = 0;
        let (mut listed, mut repaired) = (0, 0);
        loop {
            invocations += 1;
            let run = tokens
                .reconcile_until(Instant::now() + budget)
                .await
                .expect("the reconciliation runs");
            listed += run.listed;
            repaired += run.repaired;
            println!(
                "  {pass} invocation {invocations}: listed {}, repaired {}, offset {}, done {}",
                run.listed, run.repaired, run.offset, run.done
            );
            if run.done {
                break;
            }
        }
        let wall = started.elapsed();
        let operations = calls.take();
        let writes = operations
            .iter()
            .filter(|op| matches!(op.as_str(), "UpdateItem" | "PutItem"))
            .count();
        println!(
            "{pass} pass: {listed} listed, {repaired} repaired in {:.1} s over {invocations} \
             invocation(s): {:.0} listed/s; DynamoDB writes {writes}; list calls {}",
            wall.as_secs_f64(),
            listed as f64 / wall.as_secs_f64(),
            sandbox.calls_to("api_get_authorizer_list")
        );
        println!("  DynamoDB operations: {}", summarize(&operations));
        results.push(serde_json::json!({
            "pass": pass,
            "listed": listed,
            "repaired": repaired,
            "invocations": invocations,
            "wall_s": (wall.as_secs_f64() * 10.0).round() / 10.0,
            "listed_per_s": (listed as f64 / wall.as_secs_f64()).round(),
            "dynamodb_writes": writes,
            "list_calls": sandbox.calls_to("api_get_authorizer_list"),
        }));
    }

    // ---- the floor: the same operations, bare ----
    // The list alone: every page of api_get_authorizer_list, one after the other.
    sandbox.reset_calls();
    let started = Instant::now();
    let mut walked = 0usize;
    tokens
        .walk_authorizer_list(|_| {
            walked += 1;
            true
        })
        .await
        .expect("the list");
    let list_floor = started.elapsed();
    println!(
        "floor: the list alone, {walked} accounts in {} pages: {:.1} s ({:.0} listed/s)",
        sandbox.calls_to("api_get_authorizer_list"),
        list_floor.as_secs_f64(),
        walked as f64 / list_floor.as_secs_f64()
    );
    let client = calls.client(&aws);
    let table = config.table_name.clone();
    let started = Instant::now();
    futures_util::stream::iter(0..floor_ops)
        .map(|_| {
            let (client, table, component) = (&client, &table, &component);
            async move {
                let appid = unique_appid();
                client
                    .update_item()
                    .table_name(table)
                    .key("pk", s(&authorizer_pk(component, &appid)))
                    .key("sk", s("floor"))
                    .update_expression("SET refresh_token = :r")
                    .condition_expression("attribute_not_exists(pk) OR refresh_token <> :r")
                    .expression_attribute_values(":r", s("floor-token"))
                    .send()
                    .await
                    .expect("UpdateItem");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let write_floor = floor_ops as f64 / started.elapsed().as_secs_f64();
    let gets = floor_ops.div_ceil(100);
    let started = Instant::now();
    for batch in appids.chunks(100).take(gets) {
        let keys = batch
            .iter()
            .map(|appid| {
                HashMap::from([
                    ("pk".to_owned(), s(&authorizer_pk(&component, appid))),
                    ("sk".to_owned(), s("authorizer")),
                ])
            })
            .collect();
        client
            .batch_get_item()
            .request_items(
                &table,
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .projection_expression("authorizer_appid, refresh_token")
                    .build()
                    .expect("keys"),
            )
            .send()
            .await
            .expect("BatchGetItem");
    }
    let read_floor = (gets * 100) as f64 / started.elapsed().as_secs_f64();
    calls.take();
    println!(
        "floor: bare conditional UpdateItem, 16 in flight: {write_floor:.0} writes/s; \
         bare BatchGetItem of 100 keys, one at a time: {read_floor:.0} items/s"
    );
    println!("load after: {}", support::load_average());
    println!(
        "result: {}",
        serde_json::json!({
            "accounts": accounts,
            "missing": missing,
            "budget_s": budget.as_secs(),
            "passes": results,
            "floor_list_walk_s": (list_floor.as_secs_f64() * 10.0).round() / 10.0,
            "floor_conditional_writes_per_s": write_floor.round(),
            "floor_batch_get_items_per_s": read_floor.round(),
        })
    );
}

/// Stores `appids` as the service would hold them, agreeing with WeChat's list (the refresh
/// token it lists) and not due for a day, 25 to a BatchWriteItem, 8 in flight.
async fn seed_agreeing(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    component: &str,
    sandbox: &Sandbox,
    appids: &[String],
) {
    let now = wxopen::unix_now();
    let items: Vec<HashMap<String, AttributeValue>> = appids
        .iter()
        .map(|appid| {
            let refresh = sandbox.current_refresh_token(appid).expect("authorized");
            HashMap::from([
                ("pk".to_owned(), s(&authorizer_pk(component, appid))),
                ("sk".to_owned(), s("authorizer")),
                ("authorizer_appid".to_owned(), s(appid)),
                ("status".to_owned(), s("authorized")),
                ("refresh_token".to_owned(), s(&refresh)),
                ("refresh_token_updated_at".to_owned(), n(now)),
                ("authorized_at".to_owned(), n(now)),
                ("updated_at".to_owned(), n(now)),
                ("access_token_expires_at".to_owned(), n(0)),
                ("due_pk".to_owned(), s(&due_pk(component, appid))),
                ("due_at".to_owned(), n(now + 86_400)),
            ])
        })
        .collect();
    support::batch_put(client, table, &items).await;
}

/// Operation counts, largest first (`UpdateItem 100000, BatchGetItem 1000, ...`).
fn summarize(operations: &[String]) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for op in operations {
        *counts.entry(op.as_str()).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
