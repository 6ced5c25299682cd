//! What binding the message URL to its account costs per message (issue 13): the ticket
//! receiver's message handler (`ticket_receiver::messages::handle`) for an ordinary account,
//! with its username cached (as a warm container has it), with no cache (one read of the
//! account's record per message, as after the cache's time), and, as the floor, a release-check
//! test account's ordinary text (bound by the check's own table: no read). Messages are
//! handed to no target (acknowledged and dropped), so only the binding's round trip differs.
//! The three alternate, one message at a time. Prints median and p99 of each and the DynamoDB
//! operations each sent; asserts nothing about time.
//!
//!     bash scripts/services.sh run cargo bench -p wxopen-tests --bench messages
//!     bash scripts/services.sh run cargo bench -p wxopen-tests --bench messages -- --messages 500

#[allow(dead_code)] // Each benchmark uses part of the shared helpers.
mod support;

use std::time::{Duration, Instant};

use lambda_http::Body;
use serde_json::json;
use ticket_receiver::Receiver;
use ticket_receiver::messages::{self, UserNames};
use wxopen::release_check::TEST_ACCOUNTS;
use wxopen::store::{AuthorizationSource, NewAuthorization, Store};
use wxopen_tests::{Pusher, TEST_ENCODING_AES_KEY, TEST_TOKEN, aws, config};

use support::{DynamoCalls, Stats, ms, tally};

const BENCH: &str = "messages";
const HOW: &str = "bash scripts/services.sh run cargo bench -p wxopen-tests --bench messages";
const APPID: &str = "wx3f2a6c8d1e4b7a90";
const USER_NAME: &str = "gh_bench00000001";

fn main() {
    let Some(flags) = support::start(BENCH, HOW, &["messages", "warmup"]) else {
        return;
    };
    let number = |name, default| flags.number(name, default);
    let count = number("messages", 1000).max(1) as usize;
    let warmup = number("warmup", 100) as usize;
    support::log_into_sink();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(bench(count, warmup));
}

/// One way of sending a message: its receiver and the account it goes to.
struct Case {
    name: &'static str,
    receiver: Receiver,
    appid: &'static str,
    user_name: &'static str,
    times: Vec<Duration>,
    ops: Vec<Vec<String>>,
}

async fn bench(count: usize, warmup: usize) {
    let aws = aws().await;
    let component = wxopen_tests::unique_appid();
    let config = config(&component, "wxopen/local");
    let calls = DynamoCalls::default();
    let client = calls.client(&aws);
    let receiver = |user_names: UserNames| {
        let mut receiver = Receiver::new(&config, &aws);
        receiver.tokens.store = Store::new(client.clone(), &config.table_name);
        receiver.user_names = user_names;
        receiver
    };
    // The account as an authorization leaves it: tokens, permissions and profile.
    let profile = serde_json::from_value(json!({
        "nick_name": "bench", "service_type_info": {"id": 2}, "verify_type_info": {"id": 0},
        "user_name": USER_NAME, "principal_name": "bench", "business_info": {}
    }))
    .expect("a profile");
    let now = wxopen::unix_now();
    let tokens = &receiver(UserNames::default()).tokens;
    tokens
        .store
        .save_authorization(
            &component,
            &NewAuthorization {
                authorizer_appid: APPID.into(),
                source: AuthorizationSource::QueryAuth,
                refresh_token: "refreshtoken@@@bench".into(),
                access_token: Some(("accesstoken@@@bench".into(), now + 7200)),
                func_info: Some(vec![1, 2, 3]),
                profile: Some(profile),
                merchant: Some("bench".into()),
                authorized_at: now,
            },
            None,
            now + 6600,
            now,
        )
        .await
        .expect("the account is stored");

    let test = &TEST_ACCOUNTS[0];
    let mut cases = [
        Case {
            name: "ordinary account, username cached",
            receiver: receiver(UserNames::default()),
            appid: APPID,
            user_name: USER_NAME,
            times: Vec::new(),
            ops: Vec::new(),
        },
        Case {
            name: "ordinary account, no cache (a read per message)",
            receiver: receiver(UserNames::new(Duration::ZERO, 0)),
            appid: APPID,
            user_name: USER_NAME,
            times: Vec::new(),
            ops: Vec::new(),
        },
        Case {
            name: "release-check account (its own table, no read)",
            receiver: receiver(UserNames::default()),
            appid: test.appid,
            user_name: test.user_name,
            times: Vec::new(),
            ops: Vec::new(),
        },
    ];

    println!(
        "messages benchmark: {} core(s), {count} messages of each kind alternating (after \
         {warmup} of each as warm-up), one at a time",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!("load before: {}", support::load_average());
    let pusher = Pusher::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, &component);
    for i in 0..warmup + count {
        for case in &mut cases {
            let xml = format!(
                "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[o_bench]]></FromUserName>\
                 <CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
                 <Content><![CDATA[hello {i}]]></Content><MsgId>{i}</MsgId></xml>",
                case.user_name
            );
            let request = pusher.push(&xml, now).request();
            calls.take();
            let started = Instant::now();
            let answer = messages::handle(&case.receiver, case.appid, &request).await;
            let elapsed = started.elapsed();
            let ops = calls.take();
            let body = match answer.body() {
                Body::Text(text) => text.clone(),
                other => format!("{other:?}"),
            };
            assert_eq!(
                (answer.status().as_u16(), body.as_str()),
                (200, "success"),
                "{}: message {i} was not taken",
                case.name
            );
            if i >= warmup {
                case.times.push(elapsed);
                case.ops.push(ops);
            }
        }
    }
    println!("load after:  {}", support::load_average());

    println!();
    println!("| message to | n | median | p99 | min | max | DynamoDB calls per message |");
    println!("|---|---|---|---|---|---|---|");
    let mut result = serde_json::Map::new();
    for case in &cases {
        let first = case.ops[0].clone();
        assert!(
            case.ops.iter().all(|ops| *ops == first),
            "{}: not the same calls for every message",
            case.name
        );
        let st = Stats::of(&case.times);
        let per_message = if first.is_empty() {
            "none".to_owned()
        } else {
            tally(&first)
        };
        println!(
            "| {} | {} | {} ms | {} ms | {} ms | {} ms | {per_message} |",
            case.name,
            st.n,
            ms(st.median),
            ms(st.p99),
            ms(st.min),
            ms(st.max)
        );
        result.insert(
            case.name.to_owned(),
            json!({"median_ms": ms(st.median), "p99_ms": ms(st.p99), "dynamodb_calls": first}),
        );
    }
    println!("result: {}", serde_json::Value::Object(result));
}
