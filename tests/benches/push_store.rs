//! The ticket receiver's cost per push against DynamoDB Local (issue 8), next to the one round
//! trip it cannot avoid: a bare conditional PutItem of the same item, measured in the same run,
//! alternating with the pushes. Prints median and p99 of each and their ratio; asserts nothing
//! about time.
//!
//!     bash scripts/services.sh run cargo bench -p wxopen-tests --bench push_store
//!     bash scripts/services.sh run cargo bench -p wxopen-tests --bench push_store -- --pushes 5000
//!
//! A push here is the whole handler (`ticket_receiver::handle`): query checks, signature,
//! decryption, parsing, the conditional write, the answer and its JSON log line (formatted as
//! in Lambda, written to nowhere). Each push carries a newer ticket than the last write, so
//! every write, the handler's and the bare one, succeeds, as a new ticket every 10 minutes does.
//! The secret is fetched once before timing (as by a warm container).

#[allow(dead_code)] // Each benchmark uses part of the shared helpers.
mod support;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use lambda_http::Body;
use serde_json::json;
use ticket_receiver::{Receiver, handle};
use wxopen::store::Store;
use wxopen_tests::{Pusher, TEST_ENCODING_AES_KEY, TEST_TOKEN, aws, config, ticket_xml};

use support::{DynamoCalls, Stats, ms, tally};

const BENCH: &str = "push_store";
const HOW: &str = "bash scripts/services.sh run cargo bench -p wxopen-tests --bench push_store";

fn main() {
    let Some(flags) = support::start(BENCH, HOW, &["pushes", "warmup"]) else {
        return;
    };
    let number = |name, default| flags.number(name, default);
    let pushes = number("pushes", 2000).max(1) as usize;
    let warmup = number("warmup", 200) as usize;
    support::log_into_sink();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(bench(pushes, warmup));
}

async fn bench(pushes: usize, warmup: usize) {
    let aws = aws().await;
    let component = wxopen_tests::unique_appid();
    let config = config(&component, "wxopen/local");
    let calls = DynamoCalls::default();
    let client = calls.client(&aws);
    let mut receiver = Receiver::new(&config, &aws);
    receiver.tokens.store = Store::new(client.clone(), &config.table_name);
    let pusher = Pusher::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, &component);
    let table = config.table_name.clone();

    println!(
        "push_store benchmark: {} core(s), {pushes} pushes and {pushes} bare PutItems alternating \
         (after {warmup} of each as warm-up), one at a time",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!("load before: {}", support::load_average());
    // Pushes are built (encrypted and signed, as WeChat does) before the clock starts.
    let base = wxopen::unix_now();
    let total = warmup + pushes;
    let mut push_times = Vec::with_capacity(pushes);
    let mut put_times = Vec::with_capacity(pushes);
    let mut push_ops: Vec<Vec<String>> = Vec::with_capacity(pushes);
    let mut last = (0, String::new());
    for i in 0..total {
        // Pushes take the even CreateTimes, bare writes the odd ones: always newer, same item.
        let create_time = base + 2 * i as i64;
        let ticket = format!("ticket@@@bench-{i}");
        let push = pusher.push(&ticket_xml(&component, create_time, &ticket), base);
        let request = push.request();
        calls.take();
        let started = Instant::now();
        let answer = handle(&receiver, request).await.expect("an HTTP answer");
        let elapsed = started.elapsed();
        let ops = calls.take();
        let body = match answer.body() {
            Body::Text(text) => text.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(
            (answer.status().as_u16(), body.as_str()),
            (200, "success"),
            "push {i} was not accepted"
        );
        if i >= warmup {
            push_times.push(elapsed);
            push_ops.push(ops);
        }

        let bare_time = create_time + 1;
        let bare_ticket = format!("ticket@@@bare-{i}");
        let started = Instant::now();
        client
            .put_item()
            .table_name(&table)
            .item("pk", s(&component))
            .item("sk", s("ticket"))
            .item("ticket", s(&bare_ticket))
            .item("create_time", n(bare_time))
            .item("received_at", n(base))
            .condition_expression("attribute_not_exists(pk) OR create_time < :ct")
            .expression_attribute_values(":ct", n(bare_time))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .expect("the bare conditional PutItem succeeds");
        let elapsed = started.elapsed();
        calls.take();
        if i >= warmup {
            put_times.push(elapsed);
        }
        last = (bare_time, bare_ticket);
    }
    println!("load after:  {}", support::load_average());

    // Every timed push made exactly one DynamoDB call, and the writes landed.
    let first = push_ops[0].clone();
    let same = push_ops.iter().filter(|ops| **ops == first).count();
    let stored = receiver
        .tokens
        .store
        .ticket(&component)
        .await
        .expect("GetItem")
        .expect("a ticket is stored");
    assert_eq!(
        (stored.create_time, stored.ticket.as_str()),
        (last.0, last.1.as_str())
    );

    let push = Stats::of(&push_times);
    let put = Stats::of(&put_times);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!();
    println!(
        "DynamoDB calls per push: {} ({same} of {} timed pushes; the secret was fetched in warm-up)",
        tally(&first),
        push_ops.len()
    );
    println!("| operation | n | median | p99 | min | max |");
    println!("|---|---|---|---|---|---|");
    for (name, st) in [
        ("ticket push (handler)", push),
        ("bare conditional PutItem", put),
    ] {
        println!(
            "| {name} | {} | {} ms | {} ms | {} ms | {} ms |",
            st.n,
            ms(st.median),
            ms(st.p99),
            ms(st.min),
            ms(st.max)
        );
    }
    println!(
        "push / bare PutItem: median {:.2}x, p99 {:.2}x (target: at most 1.2x)",
        ratio(push.median, put.median),
        ratio(push.p99, put.p99)
    );
    println!(
        "result: {}",
        json!({
            "pushes": push.n,
            "push_ms": {"median": ms(push.median), "p99": ms(push.p99)},
            "put_ms": {"median": ms(put.median), "p99": ms(put.p99)},
            "ratio_median": (ratio(push.median, put.median) * 100.0).round() / 100.0,
            "ratio_p99": (ratio(push.p99, put.p99) * 100.0).round() / 100.0,
            "dynamodb_calls_per_push": first,
        })
    );
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
