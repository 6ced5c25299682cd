//! What the benchmarks share: the `--bench` gate, flags, summary statistics, and a counter of
//! the DynamoDB operations a client sends (so a benchmark states the round trips it compares
//! against from what was sent, not from what the code is believed to do).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

/// Whether cargo runs this binary as a benchmark. `cargo test --all-targets` runs benchmark
/// binaries without `--bench`: they then only say how to run them, so the tests stay fast.
pub fn benching(name: &str, how: &str) -> bool {
    if std::env::args().skip(1).any(|a| a == "--bench") {
        return true;
    }
    println!("{name} benchmark: run it with {how}");
    false
}

/// `--name value` / `--name=value` flags, each also read from `BENCH_` + NAME in capitals.
/// Unknown flags are an error; a bare word other than `name` (a cargo bench filter meant for
/// another benchmark) makes the benchmark skip itself (`Ok(None)`).
pub fn flags(bench: &str, known: &[&str]) -> Result<Option<HashMap<String, String>>, String> {
    let mut values = HashMap::new();
    for name in known {
        let var = format!("BENCH_{}", name.replace('-', "_").to_uppercase());
        if let Ok(value) = std::env::var(var) {
            values.insert((*name).to_owned(), value);
        }
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut rest = argv.iter();
    while let Some(arg) = rest.next() {
        if arg == "--bench" {
            continue;
        }
        let Some(flag) = arg.strip_prefix("--") else {
            if !bench.contains(arg.as_str()) {
                return Ok(None);
            }
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => (
                flag.to_owned(),
                rest.next()
                    .ok_or_else(|| format!("--{flag} needs a value"))?
                    .clone(),
            ),
        };
        if !known.contains(&name.as_str()) {
            return Err(format!(
                "unknown flag --{name} (known: {})",
                known.join(", ")
            ));
        }
        values.insert(name, value);
    }
    Ok(Some(values))
}

/// A numeric flag, or its default.
pub fn number(values: &HashMap<String, String>, name: &str, default: u64) -> Result<u64, String> {
    values.get(name).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| format!("--{name} wants a whole number, not {v:?}"))
    })
}

/// Stops the benchmark with a message (exit code 2: it was started wrongly).
pub fn usage_error(bench: &str, message: &str) -> ! {
    eprintln!("{bench} benchmark: {message}");
    std::process::exit(2);
}

/// Benchmarks against DynamoDB Local need `scripts/services.sh run`.
pub fn require_services(bench: &str, command: &str) {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        usage_error(bench, &format!("needs the local services: {command}"));
    }
}

/// The flags of a benchmark against the local services, once it is known to run.
pub struct Flags {
    bench: &'static str,
    values: HashMap<String, String>,
}

impl Flags {
    /// A numeric flag, or its default; a bad value stops the benchmark.
    pub fn number(&self, name: &str, default: u64) -> u64 {
        number(&self.values, name, default).unwrap_or_else(|m| usage_error(self.bench, &m))
    }
}

/// The start every benchmark against DynamoDB Local shares: the `--bench` gate, its `known`
/// flags, and the local services. `None` when it is not to run.
pub fn start(bench: &'static str, how: &str, known: &[&str]) -> Option<Flags> {
    if !benching(bench, how) {
        return None;
    }
    let values = match flags(bench, known) {
        Ok(values) => values?,
        Err(message) => usage_error(bench, &message),
    };
    require_services(bench, how);
    Some(Flags { bench, values })
}

/// Logs as the functions log them (JSON lines), into a sink: their cost is in the figures.
pub fn log_into_sink() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_writer(std::io::sink)
        .try_init();
}

/// Puts `items` into `table` with BatchWriteItem, 25 at a time and 8 batches in flight,
/// retrying what DynamoDB leaves unprocessed; seeding only, never timed. Returns how many.
pub async fn batch_put(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: &[HashMap<String, aws_sdk_dynamodb::types::AttributeValue>],
) -> usize {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    use futures_util::StreamExt;
    futures_util::stream::iter(items.chunks(25))
        .map(|chunk| async move {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item.clone()))
                                .build()
                                .expect("a put request"),
                        )
                        .build()
                })
                .collect();
            let mut attempt = 0u32;
            while !requests.is_empty() {
                let output = client
                    .batch_write_item()
                    .request_items(table, requests)
                    .send()
                    .await
                    .expect("BatchWriteItem");
                requests = output
                    .unprocessed_items
                    .and_then(|mut left| left.remove(table))
                    .unwrap_or_default();
                if !requests.is_empty() {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 << attempt.min(6))).await;
                }
            }
            chunk.len()
        })
        .buffer_unordered(8)
        .fold(0, |sum, n| async move { sum + n })
        .await
}

/// Median, 99th percentile, minimum and maximum of a set of durations.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub n: usize,
    pub median: Duration,
    pub p99: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl Stats {
    pub fn of(samples: &[Duration]) -> Self {
        assert!(!samples.is_empty(), "statistics of no samples");
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        // Nearest rank: the smallest sample at or above the given share of all samples.
        let rank = |q: f64| sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        Self {
            n,
            median: rank(0.5),
            p99: rank(0.99),
            min: sorted[0],
            max: sorted[n - 1],
        }
    }
}

/// Milliseconds with two decimals, for tables.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Counts the DynamoDB operations a client sends, in order (`PutItem`, `GetItem`, ...), and
/// times each from sending to its response parsed. The timing assumes one call at a time (as
/// the benchmarks that use it make them): a response is matched with the last call sent.
#[derive(Debug, Clone, Default)]
pub struct DynamoCalls {
    sent: Arc<Mutex<Vec<Sent>>>,
}

/// One operation sent, and how long it took when it has answered.
#[derive(Debug, Clone)]
pub struct Sent {
    pub operation: String,
    started: Instant,
    pub took: Option<Duration>,
}

impl DynamoCalls {
    /// A client for the same endpoint as `aws`'s, which records every operation it sends.
    pub fn client(&self, aws: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(aws)
            .interceptor(self.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// The operations sent since the last call, oldest first.
    pub fn take(&self) -> Vec<String> {
        self.take_timed().into_iter().map(|s| s.operation).collect()
    }

    /// The same, with their times.
    pub fn take_timed(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.sent.lock().expect("calls lock"))
    }
}

impl Intercept for DynamoCalls {
    fn name(&self) -> &'static str {
        "DynamoCalls"
    }

    // Before transmit runs once per attempt, so a retried call counts as what it costs.
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // DynamoDB's JSON protocol names the operation in this header: DynamoDB_20120810.PutItem.
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("?");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        self.sent.lock().expect("calls lock").push(Sent {
            operation,
            started: Instant::now(),
            took: None,
        });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        _context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(last) = self.sent.lock().expect("calls lock").last_mut() {
            last.took.get_or_insert_with(|| last.started.elapsed());
        }
        Ok(())
    }
}

/// `["GetItem", "GetItem", "PutItem"]` as `GetItem x2, PutItem`.
pub fn tally(operations: &[String]) -> String {
    let mut out: Vec<(String, usize)> = Vec::new();
    for op in operations {
        match out.last_mut() {
            Some((last, n)) if last == op => *n += 1,
            _ => out.push((op.clone(), 1)),
        }
    }
    out.iter()
        .map(|(op, n)| {
            if *n == 1 {
                op.clone()
            } else {
                format!("{op} x{n}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The machine's load average (1, 5, 15 minutes), printed with the figures.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// An item's size as DynamoDB counts it for capacity units: each attribute's name and value
/// in bytes (a number: about one byte per two significant digits, plus one; a map or list:
/// three bytes, one more per element, and its contents).
pub fn item_size(item: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &aws_sdk_dynamodb::types::AttributeValue) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    let number = |n: &str| {
        let digits = n.trim_start_matches(['-', '0']).replace('.', "");
        digits.trim_end_matches('0').len().div_ceil(2) + 1
    };
    match value {
        V::S(s) => s.len(),
        V::N(n) => number(n),
        V::B(b) => b.as_ref().len(),
        V::Bool(_) | V::Null(_) => 1,
        V::Ss(v) => v.iter().map(String::len).sum(),
        V::Ns(v) => v.iter().map(|n| number(n)).sum(),
        V::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        V::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        V::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        _ => 0,
    }
}
