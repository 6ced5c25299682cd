//! Our CPU cost for one ticket push, measured the way `scripts/bench_wechatpy.py` measures
//! wechatpy's (issue 8): the same push (events/ticket-push.json), the same steps (parse the
//! envelope, check msg_signature, decrypt, check the appid, parse the message), timed as many
//! pushes in a loop, best and median of several repeats. No I/O.
//!
//!     bash scripts/bench-wechatpy.sh          # wechatpy and this, in the same run
//!     cargo bench -p wxopen-tests --bench push_cpu -- --pushes 200000 --repeats 7
//!
//! `shared/benches/push_path.rs` measures the same path with criterion on a push it builds.

#[allow(dead_code)] // Each benchmark uses part of the shared helpers.
mod support;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{Value, json};
use wxopen::push::ComponentInfo;
use wxopen::{ComponentPush, Envelope, MessageCrypto};
use wxopen_tests::{TEST_COMPONENT_APPID, TEST_ENCODING_AES_KEY, TEST_TOKEN};

const BENCH: &str = "push_cpu";
const HOW: &str = "bash scripts/bench-wechatpy.sh (see tests/benches/push_cpu.rs)";
const TICKET: &str = "ticket@@@sample-verify-ticket";

fn main() {
    if !support::benching(BENCH, HOW) {
        return;
    }
    let values = match support::flags(BENCH, &["pushes", "repeats"]) {
        Ok(Some(values)) => values,
        Ok(None) => return,
        Err(message) => support::usage_error(BENCH, &message),
    };
    let number = |name, default| {
        support::number(&values, name, default).unwrap_or_else(|m| support::usage_error(BENCH, &m))
    };
    let pushes = number("pushes", 200_000).max(1) as usize;
    let repeats = number("repeats", 7).max(1) as usize;

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events/ticket-push.json");
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).expect("events/ticket-push.json is readable"),
    )
    .expect("the event is JSON");
    let text = |v: &Value| v.as_str().expect("a string field").to_owned();
    let body = text(&event["body"]);
    let query = &event["queryStringParameters"];
    let (signature, timestamp, nonce) = (
        text(&query["msg_signature"]),
        text(&query["timestamp"]),
        text(&query["nonce"]),
    );
    let crypto = MessageCrypto::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, TEST_COMPONENT_APPID)
        .expect("the sample key");

    let receive = |body: &str| -> ComponentPush {
        let envelope = Envelope::parse(body).expect("an envelope");
        crypto
            .verify_signature(&signature, &timestamp, &nonce, &envelope.encrypt)
            .expect("the signature matches");
        let xml = crypto.decrypt(&envelope.encrypt).expect("decrypts");
        ComponentPush::parse(&xml).expect("a component push")
    };
    // The push must be understood before it is timed.
    let push = receive(&body);
    assert!(
        matches!(&push.info, ComponentInfo::VerifyTicket { ticket } if ticket == TICKET),
        "{:?}",
        push.info
    );

    for _ in 0..pushes.min(20_000) {
        black_box(receive(black_box(&body)));
    }
    let mut per_push: Vec<f64> = (0..repeats)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..pushes {
                black_box(receive(black_box(&body)));
            }
            started.elapsed().as_secs_f64() * 1e6 / pushes as f64
        })
        .collect();
    per_push.sort_by(f64::total_cmp);
    let (best, median) = (per_push[0], per_push[(per_push.len() - 1) / 2]);
    println!("wxopen (Rust): {repeats} x {pushes} pushes of events/ticket-push.json");
    println!("wxopen per push: best {best:.2} us, median {median:.2} us");
    println!(
        "result: {}",
        json!({
            "implementation": "wxopen",
            "pushes": pushes,
            "repeats": repeats,
            "best_us": (best * 100.0).round() / 100.0,
            "median_us": (median * 100.0).round() / 100.0,
        })
    );
}
