//! Benchmark of one token refresher run (issue 4): many due accounts, WeChat answering each
//! `api_authorizer_token` after a fixed latency, bounded concurrency. Prints wall time, the
//! items DynamoDB read, the DynamoDB operations the run sent (by kind, and per refresh) and the
//! size of a refreshed account's item as DynamoDB bills it; asserts nothing about time.
//!
//!     bash scripts/services.sh run cargo bench -p wxopen-tests --bench refresher
//!     bash scripts/services.sh run cargo bench -p wxopen-tests --bench refresher -- \
//!         --due 2000 --stored 20000 --latency-ms 50 --concurrency 32
//!
//! Without size flags it runs the two scenarios of the issue: (A) 10,000 stored, all due;
//! (B) 100,000 stored, 1,000 due. Flags may also come from the environment: `BENCH_SCENARIO`
//! (`a`, `b` or `all`), `BENCH_DUE`, `BENCH_STORED`, `BENCH_LATENCY_MS`, `BENCH_CONCURRENCY`,
//! `BENCH_SEED_CONCURRENCY`.
//!
//! `cargo test --all-targets` also runs this binary, without `--bench`: it then only says how to
//! run it, so the test command stays fast.

#[allow(dead_code)] // Each benchmark uses part of the shared helpers.
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::StreamExt;
use token_refresher::Refresher;
use wxopen::refresh::{RunOptions, run};
use wxopen::store::{Store, authorizer_pk, due_pk};
use wxopen::tokens::Tokens;
use wxopen_tests::sandbox::{self, Sandbox, SandboxConfig};
use wxopen_tests::{aws, config, unique_appid};

/// The one API a refresh of an authorizer calls.
const API: &str = "api_authorizer_token";
/// The flags this benchmark takes (each also read from `BENCH_` + its name in capitals).
const FLAGS: [&str; 6] = [
    "scenario",
    "due",
    "stored",
    "latency-ms",
    "concurrency",
    "seed-concurrency",
];

#[derive(Debug, Clone)]
struct Scenario {
    name: String,
    stored: usize,
    due: usize,
    latency: Duration,
    concurrency: usize,
}

#[derive(Debug, Clone)]
struct Args {
    scenarios: Vec<Scenario>,
    /// Authorizations completed at once while seeding.
    seed_concurrency: usize,
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // cargo passes --bench only under `cargo bench`; `cargo test --all-targets` runs us bare.
    if !argv.iter().any(|a| a == "--bench") {
        println!("refresher benchmark: run with cargo bench (see tests/benches/refresher.rs)");
        return;
    }
    let args = match parse_args(&argv) {
        Ok(Some(args)) => args,
        Ok(None) => return,
        Err(message) => {
            eprintln!("refresher benchmark: {message}");
            std::process::exit(2);
        }
    };
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        eprintln!(
            "refresher benchmark: needs the local services: \
             bash scripts/services.sh run cargo bench -p wxopen-tests --bench refresher"
        );
        std::process::exit(2);
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let aws = aws().await;
        println!(
            "refresher benchmark: {} core(s); DynamoDB Local, the sandbox and the refresher share them",
            std::thread::available_parallelism().map_or(1, usize::from)
        );
        for scenario in &args.scenarios {
            bench(&aws, scenario, args.seed_concurrency).await;
        }
    });
}

/// The scenarios to run, or `None` when a name filter excludes this benchmark.
fn parse_args(argv: &[String]) -> Result<Option<Args>, String> {
    let mut values: HashMap<&str, String> = HashMap::new();
    for name in FLAGS {
        let var = format!("BENCH_{}", name.replace('-', "_").to_uppercase());
        if let Ok(value) = std::env::var(var) {
            values.insert(name, value);
        }
    }
    let mut rest = argv.iter();
    while let Some(arg) = rest.next() {
        if arg == "--bench" {
            continue;
        }
        let Some(flag) = arg.strip_prefix("--") else {
            // A name filter meant for other benchmarks (`cargo bench push`).
            if !"refresher".contains(arg.as_str()) {
                return Ok(None);
            }
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, value.to_owned()),
            None => (
                flag,
                rest.next()
                    .ok_or_else(|| format!("--{flag} needs a value"))?
                    .clone(),
            ),
        };
        if !FLAGS.contains(&name) {
            return Err(format!("unknown flag --{name}"));
        }
        values.insert(name, value);
    }
    let number = |name: &str, default: usize| -> Result<usize, String> {
        values.get(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| format!("--{name} wants a number, not {v:?}"))
        })
    };
    let latency = Duration::from_millis(number("latency-ms", 50)? as u64);
    let concurrency = number("concurrency", 32)?.max(1);
    let seed_concurrency = number("seed-concurrency", 32)?.max(1);
    let scenario = |name: &str, stored, due| Scenario {
        name: name.to_owned(),
        stored,
        due,
        latency,
        concurrency,
    };
    let a = scenario("A: all due", 10_000, 10_000);
    let b = scenario("B: few due", 100_000, 1_000);
    let scenarios = if values.contains_key("due") || values.contains_key("stored") {
        let due = number("due", 1_000)?;
        let stored = number("stored", due)?;
        if due == 0 || stored < due {
            return Err(format!(
                "--due {due} --stored {stored}: at least one account due, and no more due than stored"
            ));
        }
        vec![scenario("custom", stored, due)]
    } else {
        match values.get("scenario").map_or("all", String::as_str) {
            "a" | "A" => vec![a],
            "b" | "B" => vec![b],
            "all" => vec![a, b],
            other => return Err(format!("--scenario {other:?}: expected a, b or all")),
        }
    };
    Ok(Some(Args {
        scenarios,
        seed_concurrency,
    }))
}

async fn bench(aws: &aws_config::SdkConfig, scenario: &Scenario, seed_concurrency: usize) {
    println!();
    println!(
        "== scenario {}: {} stored, {} due, concurrency {}, {} ms per {API}",
        scenario.name,
        scenario.stored,
        scenario.due,
        scenario.concurrency,
        scenario.latency.as_millis()
    );
    let component = unique_appid();
    let accounts = sandbox::accounts::generated(scenario.due);
    let appids: Vec<String> = accounts.iter().map(|a| a.appid.clone()).collect();
    let sandbox = Sandbox::start(SandboxConfig {
        component_appid: component.clone(),
        ticket_interval: Duration::ZERO,
        // Longer than the seeder's 2-hour margin, so seeding does not refresh it every call.
        component_token_ttl: Duration::from_secs(4 * 3600),
        accounts,
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts");
    let mut config = config(&component, "wxopen/local");
    config.wechat_api_base = sandbox.base_url().to_owned();
    config.wechat_timeout = Duration::from_secs(10);

    // ---- seeding (not timed as part of the run) ----
    let seeding = Instant::now();
    // A margin as long as the token's life stores every account due at once.
    let mut seeder = Tokens::from_config(&config, aws);
    seeder.settings.refresh_margin = Duration::from_secs(7200);
    wxopen_tests::store_ticket(&sandbox, &seeder.store, &component).await;
    let failures = futures_util::stream::iter(&appids)
        .map(|appid| {
            let (sandbox, seeder) = (&sandbox, &seeder);
            async move {
                let authorized = sandbox
                    .authorize(appid, None)
                    .await
                    .map_err(|e| e.to_string())?;
                wxopen_tests::store_authorization_unchecked(
                    seeder,
                    &authorized.grant.authorization_code,
                    None,
                )
                .await
                .map(drop)
                .map_err(|e| e.to_string())
            }
        })
        .buffer_unordered(seed_concurrency)
        .filter_map(|result| async move { result.err() })
        .collect::<Vec<String>>()
        .await;
    if let Some(first) = failures.first() {
        panic!(
            "{} of {} authorizations failed while seeding, first: {first}",
            failures.len(),
            appids.len()
        );
    }
    let authorized_in = seeding.elapsed();
    let not_due = scenario.stored - scenario.due;
    if not_due > 0 {
        store_not_due(&seeder, &appids[0], not_due).await;
    }
    let seeded_in = seeding.elapsed();
    println!(
        "seeding: {:.1} s ({} authorizations through the sandbox in {:.1} s, {} not-due items \
         by BatchWriteItem in {:.1} s)",
        seeded_in.as_secs_f64(),
        scenario.due,
        authorized_in.as_secs_f64(),
        not_due,
        (seeded_in - authorized_in).as_secs_f64()
    );

    // ---- the timed run, with the refresher's own Tokens (as its Lambda builds them) ----
    let mut refresher = Refresher::new(&config, aws);
    // Counting what the run sends (the interceptor only records the operation's name).
    let calls = support::DynamoCalls::default();
    refresher.tokens.store = Store::new(calls.client(aws), &config.table_name);
    // The component token is fetched before the clock starts, as a scheduled run finds it.
    refresher
        .tokens
        .component_access_token()
        .await
        .expect("a component token");
    sandbox.set_latency(API, scenario.latency);
    sandbox.reset_calls();
    calls.take();
    let mut options = RunOptions::new(Instant::now() + Duration::from_secs(900));
    options.concurrency = scenario.concurrency;
    let started = Instant::now();
    let summary = run(&refresher.tokens, &options).await;
    let wall = started.elapsed();
    let mut operations: std::collections::BTreeMap<String, usize> = Default::default();
    for operation in calls.take() {
        *operations.entry(operation).or_default() += 1;
    }
    let item_bytes = match seeder
        .store
        .client()
        .get_item()
        .table_name(&config.table_name)
        .key(
            "pk",
            AttributeValue::S(authorizer_pk(&component, &appids[0])),
        )
        .key("sk", s("authorizer"))
        .send()
        .await
        .expect("the refreshed account reads back")
        .item
    {
        Some(item) => support::item_size(&item),
        None => 0,
    };

    let floor = scenario.due as f64 * scenario.latency.as_secs_f64() / scenario.concurrency as f64;
    let failed: usize = summary.failed.values().sum();
    println!("stored:            {}", scenario.stored);
    println!(
        "due:               {} (the run found {})",
        scenario.due, summary.due
    );
    println!("concurrency:       {}", scenario.concurrency);
    println!("latency:           {} ms", scenario.latency.as_millis());
    println!("run wall time:     {:.2} s", wall.as_secs_f64());
    println!(
        "floor:             {floor:.2} s (due x latency / concurrency); run / floor = {:.2}",
        wall.as_secs_f64() / floor.max(f64::EPSILON)
    );
    println!(
        "throughput:        {:.0} refreshes/s",
        summary.refreshed as f64 / wall.as_secs_f64()
    );
    println!("refreshed:         {}", summary.refreshed);
    println!("failed:            {failed} {:?}", summary.failed);
    println!(
        "items read:        {} from the due index ({:.2} per due account, {:.3} per stored)",
        summary.items_read,
        summary.items_read as f64 / scenario.due as f64,
        summary.items_read as f64 / scenario.stored as f64
    );
    println!("{API} calls: {}", sandbox.calls_to(API));
    println!(
        "api_component_token calls: {}",
        sandbox.calls_to("api_component_token")
    );
    let per_refresh = |n: usize| n as f64 / summary.refreshed.max(1) as f64;
    println!(
        "DynamoDB calls:    {}",
        operations
            .iter()
            .map(|(op, n)| format!("{op} x{n} ({:.3} per refresh)", per_refresh(*n)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "account item:      {item_bytes} bytes as DynamoDB sizes it, after its refresh \
         ({} KB write units per write, {} of 4 KB read units per item read)",
        item_bytes.div_ceil(1024),
        item_bytes.div_ceil(4096)
    );
    println!(
        "wall per refresh:  {:.3} ms",
        wall.as_secs_f64() * 1000.0 / summary.refreshed.max(1) as f64
    );
    println!("seeding time:      {:.1} s", seeded_in.as_secs_f64());
    // One line to paste or compare.
    println!(
        "result: {}",
        serde_json::json!({
            "scenario": scenario.name,
            "stored": scenario.stored,
            "due": scenario.due,
            "concurrency": scenario.concurrency,
            "latency_ms": scenario.latency.as_millis() as u64,
            "run_s": (wall.as_secs_f64() * 100.0).round() / 100.0,
            "floor_s": (floor * 1000.0).round() / 1000.0,
            "refreshed": summary.refreshed,
            "failed": failed,
            "items_read": summary.items_read,
            "authorizer_token_calls": sandbox.calls_to(API),
            "dynamodb_calls": operations,
            "item_bytes": item_bytes,
            "seeding_s": (seeded_in.as_secs_f64() * 10.0).round() / 10.0,
        })
    );
}

/// Writes `count` authorized accounts that are not due for an hour, shaped like the item
/// `save_authorization` wrote for `template_appid` (same attributes, fresh appid and tokens).
async fn store_not_due(tokens: &Tokens, template_appid: &str, count: usize) {
    let component = tokens.component.as_str();
    let client = tokens.store.client();
    let table = tokens.store.table().to_owned();
    let template = client
        .get_item()
        .table_name(&table)
        .key("pk", s(&authorizer_pk(component, template_appid)))
        .key("sk", s("authorizer"))
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the template account is stored");
    let now = wxopen::unix_now();
    let due_at = now + 3600;
    let expires_at = due_at + 20 * 60;
    let items: Vec<HashMap<String, AttributeValue>> = (0..count)
        .map(|_| {
            let appid = unique_appid();
            let mut item = template.clone();
            for (name, value) in [
                ("pk", s(&authorizer_pk(component, &appid))),
                ("authorizer_appid", s(&appid)),
                ("due_pk", s(&due_pk(component, &appid))),
                ("due_at", n(due_at)),
                (
                    "access_token",
                    s(&format!("bench-access-{}", unique_appid())),
                ),
                ("access_token_expires_at", n(expires_at)),
                (
                    "refresh_token",
                    s(&format!("bench-refresh-{}", unique_appid())),
                ),
                ("refresh_token_updated_at", n(now)),
                ("authorized_at", n(now)),
                ("updated_at", n(now)),
            ] {
                item.insert(name.to_owned(), value);
            }
            item
        })
        .collect();
    let written = support::batch_put(client, &table, &items).await;
    assert_eq!(written, count);
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
