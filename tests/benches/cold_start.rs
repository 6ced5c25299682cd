//! Cold start of each function's release binary (issue 8): a fresh process per run, served its
//! first event by a loopback stand-in for the Lambda Runtime API. Prints, per function, the time
//! from spawning the process to its first `GET .../invocation/next` (init), to its first
//! response, and its peak RSS (`VmHWM`); asserts nothing about time.
//!
//! The baseline row is the floor: the smallest Rust function (`tests/floor`, lambda_runtime on a
//! current-thread tokio runtime, echoing its event), built with the same profile and started the
//! same way. The runs are interleaved (run 1 of every event, then run 2, ...) so that a change in
//! the machine's load falls on every row alike, and each row's init median is printed as a ratio
//! to the floor's.
//!
//!     bash scripts/bench-cold-start.sh            # builds the release binaries, then runs this
//!     bash scripts/services.sh run cargo bench -p wxopen-tests --bench cold_start -- --runs 9
//!
//! The binaries are taken from `target/release` (or `--bin-dir`); build them first with
//! `AWS_LC_SYS_NO_JITTER_ENTROPY=1 cargo build --release -p ... -p cold-start-floor` as the
//! deployment does. Every directory in `functions/` is a function whose binary has the
//! directory's name.
//!
//! Each first event is a real one that the function acts on, against DynamoDB Local, the
//! Secrets Manager emulator and the WeChat sandbox (answering at once). The platform is in its
//! steady state: ticket and component token stored.
//!
//! - ticket-receiver: a fresh `component_verify_ticket` push (newer each run): fetches the
//!   secret, verifies, decrypts, one conditional PutItem; checked: `success` and the ticket stored;
//! - auth-link (landing): a minted link, `GET /authorize?merchant=..&sig=..`: fetches the link
//!   key, checks the signature, the landing page;
//! - auth-link (go): its button: the link key, counts the link's start, reads the component
//!   token, `api_create_preauthcode`, writes the session, 302 to WeChat's page;
//! - auth-callback: WeChat's redirect with a fresh session and authorization code: the whole
//!   exchange (`api_query_auth`, `api_get_authorizer_info`, the account stored and bound);
//!   checked: 200 and the account stored;
//! - ticket-receiver (message URL): the release check's text to a test account: fetches the
//!   secret, verifies, decrypts, answers an encrypted reply (no I/O besides the secret);
//! - token-refresher: an EventBridge scheduled event with one account due: reads the due index,
//!   refreshes it (`api_authorizer_token`), writes the tokens, emits metrics; checked: 1 refreshed;
//! - token-vendor: a SigV4-signed `GET /tokens/component` as API Gateway hands it on: reads the
//!   component token; checked: 200 with the stored token.
//! - user-identity (key set): `GET /.well-known/jwks.json`: fetches the identity key's secret
//!   (Secrets Manager), derives the signing key, answers the public key set; checked: 200 and
//!   an EC key.
//!
//! - the floor: an API Gateway event; checked: answered with that very event.
//!
//! A function this benchmark has no event for (one added later) gets an HTTP GET of `/`: its
//! init time is still measured, its answer only reported.

#[allow(dead_code)] // Each benchmark uses part of the shared helpers.
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;
use wxopen::authorization::{self, LinkRequest, Pages};
use wxopen::tokens::Tokens;
use wxopen_tests::sandbox::{self, Sandbox, SandboxConfig};
use wxopen_tests::{
    Pusher, TEST_ENCODING_AES_KEY, TEST_TOKEN, aws, config, ticket_xml, unique_appid,
};

use support::{Stats, ms};

const BENCH: &str = "cold_start";
const HOW: &str = "bash scripts/bench-cold-start.sh (see tests/benches/cold_start.rs)";
/// A run that has not answered by then is reported as failed.
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// The secret `scripts/services.sh` seeds (WeChat's published test key).
const SECRET_ID: &str = "wxopen/local";
/// What Lambda would give a small function.
const MEMORY_MB: &str = "128";
/// The floor's binary (`tests/floor`).
const FLOOR: &str = "cold-start-floor";

fn main() {
    if !support::benching(BENCH, HOW) {
        return;
    }
    let values = match support::flags(BENCH, &["runs", "bin-dir", "only", "child-env"]) {
        Ok(Some(values)) => values,
        Ok(None) => return,
        Err(message) => support::usage_error(BENCH, &message),
    };
    support::require_services(BENCH, HOW);
    let runs = support::number(&values, "runs", 9)
        .unwrap_or_else(|m| support::usage_error(BENCH, &m))
        .max(1) as usize;
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin_dir = values
        .get("bin-dir")
        .map_or_else(|| workspace.join("target/release"), PathBuf::from);
    let mut functions = function_names(&workspace.join("functions"));
    if let Some(only) = values.get("only") {
        functions.retain(|f| only.split(',').any(|o| o == f));
    }
    // The floor runs first in every round: the other rows are read against it.
    functions.insert(0, FLOOR.to_owned());
    for name in &functions {
        if !bin_dir.join(name).is_file() {
            support::usage_error(
                BENCH,
                &format!(
                    "{} is missing: build the release binaries first (bash scripts/bench-cold-start.sh does)",
                    bin_dir.join(name).display()
                ),
            );
        }
    }
    // Extra variables for the functions (`--child-env SSL_CERT_DIR=/x,RUST_LOG=warn`): to find
    // out what an initialisation step costs.
    let extra: Vec<(String, String)> = values
        .get("child-env")
        .map(|list| {
            list.split(',')
                .filter(|kv| !kv.is_empty())
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => support::usage_error(BENCH, &format!("--child-env {kv}: NAME=VALUE")),
                })
                .collect()
        })
        .unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(bench(&functions, &bin_dir, runs, extra));
}

/// The functions of the workspace: each directory under `functions/` (binary = directory name).
fn function_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("functions/ is readable")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// One kind of first event: which binary receives it and what a good answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Ticket,
    Landing,
    Go,
    Callback,
    Refresh,
    Message,
    Vend,
    Jwks,
    /// The floor: echoes its event.
    Floor,
    /// A function this benchmark does not know.
    Unknown,
}

impl Case {
    fn of(function: &str) -> Vec<Self> {
        match function {
            "ticket-receiver" => vec![Self::Ticket, Self::Message],
            "auth-link" => vec![Self::Landing, Self::Go],
            "auth-callback" => vec![Self::Callback],
            "token-refresher" => vec![Self::Refresh],
            "token-vendor" => vec![Self::Vend],
            "user-identity" => vec![Self::Jwks],
            FLOOR => vec![Self::Floor],
            _ => vec![Self::Unknown],
        }
    }

    fn label(self, function: &str) -> String {
        match self {
            Self::Landing => format!("{function} (landing)"),
            Self::Go => format!("{function} (go)"),
            Self::Message => format!("{function} (message URL)"),
            Self::Jwks => format!("{function} (key set)"),
            Self::Unknown => format!("{function} (GET /, unknown event)"),
            Self::Floor => format!("floor: {function} (echo)"),
            _ => function.to_owned(),
        }
    }
}

/// What one run measured.
#[derive(Debug)]
struct Run {
    init: Duration,
    first_response: Duration,
    peak_rss_kb: u64,
}

/// The platform the functions run against, shared by every run.
struct Platform {
    component: String,
    sandbox: Sandbox,
    config: wxopen::Config,
    /// Builds the state a run needs (sessions, due accounts) and checks what it left.
    tokens: Tokens,
    /// Due as soon as stored: the refresher's runs each find one due account.
    due_tokens: Tokens,
    pages: Pages,
    /// Unused sandbox accounts, handed out one per run that authorizes one.
    fresh: Mutex<Vec<String>>,
    /// `--child-env`: set for every function after the rest.
    extra_env: Vec<(String, String)>,
}

async fn bench(functions: &[String], bin_dir: &Path, runs: usize, extra: Vec<(String, String)>) {
    let mut platform = setup(functions.len() * runs * 2 + 8).await;
    platform.extra_env = extra;
    println!(
        "cold start benchmark: {} core(s), {runs} run(s) per event, binaries in {}",
        std::thread::available_parallelism().map_or(1, usize::from),
        bin_dir.display()
    );
    if !platform.extra_env.is_empty() {
        println!(
            "extra environment for the functions: {:?}",
            platform.extra_env
        );
    }
    println!("load before: {}", support::load_average());
    let cases: Vec<(&String, Case)> = functions
        .iter()
        .flat_map(|f| Case::of(f).into_iter().map(move |c| (f, c)))
        .collect();
    let mut results: BTreeMap<String, Vec<Run>> = BTreeMap::new();
    let mut wechat: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    // Interleaved: round i starts every event's i-th process.
    for i in 0..runs {
        for &(function, case) in &cases {
            let label = case.label(function);
            match run_once(&platform, bin_dir, function, case, i).await {
                Ok(run) => results.entry(label.clone()).or_default().push(run),
                Err(error) => {
                    eprintln!("{label}, run {}: {error}", i + 1);
                    results.entry(label.clone()).or_default();
                }
            }
            if i == 0 {
                wechat.insert(label.clone(), platform.sandbox.calls().per_api);
            }
        }
    }
    let floor_init = results
        .get(&Case::Floor.label(FLOOR))
        .filter(|r| !r.is_empty())
        .map(|r| Stats::of(&r.iter().map(|r| r.init).collect::<Vec<_>>()).median);
    println!("load after:  {}", support::load_average());
    println!();
    println!(
        "| function (first event) | runs | init median | init / floor | init max | first response median | first response max | peak RSS median | peak RSS max | WeChat calls |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    for (label, runs_of) in &results {
        let calls = wechat
            .get(label)
            .map(|c| {
                c.iter()
                    .map(|(api, n)| format!("{api} x{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "none".to_owned());
        if runs_of.is_empty() {
            println!("| {label} | 0 (all failed) | | | | | | | | {calls} |");
            continue;
        }
        let init = Stats::of(&runs_of.iter().map(|r| r.init).collect::<Vec<_>>());
        let ratio = floor_init.map(|f| init.median.as_secs_f64() / f.as_secs_f64());
        let ratio_shown = ratio.map_or_else(|| "no floor".to_owned(), |r| format!("{r:.2}x"));
        let first = Stats::of(&runs_of.iter().map(|r| r.first_response).collect::<Vec<_>>());
        let mut rss: Vec<u64> = runs_of.iter().map(|r| r.peak_rss_kb).collect();
        rss.sort_unstable();
        let rss_median = rss[(rss.len() - 1) / 2];
        let rss_max = rss[rss.len() - 1];
        println!(
            "| {label} | {} | {} ms | {ratio_shown} | {} ms | {} ms | {} ms | {:.1} MB | {:.1} MB | {calls} |",
            runs_of.len(),
            ms(init.median),
            ms(init.max),
            ms(first.median),
            ms(first.max),
            rss_median as f64 / 1024.0,
            rss_max as f64 / 1024.0,
        );
        summary.push(json!({
            "event": label,
            "runs": runs_of.len(),
            "init_ms": [ms(init.median), ms(init.max)],
            "init_to_floor": ratio.map(|r| (r * 100.0).round() / 100.0),
            "first_response_ms": [ms(first.median), ms(first.max)],
            "peak_rss_kb": [rss_median, rss_max],
        }));
    }
    println!();
    println!(
        "(median and max of the runs; init / floor = init median over the floor's; MB = 1024 KiB of VmHWM)"
    );
    println!("result: {}", Value::Array(summary));
}

async fn setup(accounts: usize) -> Platform {
    let aws = aws().await;
    let component = unique_appid();
    let accounts = sandbox::accounts::generated(accounts);
    let fresh = accounts.iter().map(|a| a.appid.clone()).collect();
    let sandbox = Sandbox::start(SandboxConfig {
        component_appid: component.clone(),
        ticket_interval: Duration::ZERO,
        // Longer than the due accounts' 2-hour margin, so storing them keeps the component token.
        component_token_ttl: Duration::from_secs(4 * 3600),
        accounts,
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts");
    let mut config = config(&component, SECRET_ID);
    config.wechat_api_base = sandbox.base_url().trim_end_matches('/').to_owned();
    config.wechat_mp_base = config.wechat_api_base.clone();
    config.wechat_open_base = config.wechat_api_base.clone();
    // Not contacted: only written into links.
    config.public_base_url = Some("https://auth.example.com".to_owned());
    let tokens = Tokens::from_config(&config, &aws);
    let mut due_tokens = Tokens::from_config(&config, &aws);
    // A margin as long as the access token's life stores the account due at once.
    due_tokens.settings.refresh_margin = Duration::from_secs(7200);
    // Steady state: the ticket WeChat pushed and a component token are stored.
    wxopen_tests::store_ticket(&sandbox, &tokens.store, &component).await;
    tokens
        .component_access_token()
        .await
        .expect("a component token");
    let pages = Pages {
        mp_base: config.wechat_mp_base.clone(),
        open_base: config.wechat_open_base.clone(),
        public_base_url: config.public_base_url.clone().unwrap_or_default(),
    };
    Platform {
        component,
        sandbox,
        config,
        tokens,
        due_tokens,
        pages,
        fresh: Mutex::new(fresh),
        extra_env: Vec::new(),
    }
}

impl Platform {
    fn fresh_account(&self) -> String {
        self.fresh
            .lock()
            .expect("accounts lock")
            .pop()
            .expect("enough sandbox accounts")
    }

    /// The environment Lambda gives the function: the contract's variables, the SDK's (the
    /// local endpoints and credentials, from `scripts/services.sh`) and the runtime's.
    fn env(&self, function: &str, runtime_api: &str) -> Vec<(String, String)> {
        let c = &self.config;
        let mut env: Vec<(String, String)> = [
            ("COMPONENT_APPID", self.component.as_str()),
            ("TABLE_NAME", c.table_name.as_str()),
            ("SECRET_ID", SECRET_ID),
            ("PUBLIC_BASE_URL", "https://auth.example.com"),
            ("WECHAT_API_BASE", c.wechat_api_base.as_str()),
            ("WECHAT_MP_BASE", c.wechat_mp_base.as_str()),
            ("WECHAT_OPEN_BASE", c.wechat_open_base.as_str()),
            ("AWS_LAMBDA_RUNTIME_API", runtime_api),
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MB),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]bench"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023"),
            ("_HANDLER", "bootstrap"),
            ("TZ", ":UTC"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        // Not AWS_CONFIG_FILE or AWS_SHARED_CREDENTIALS_FILE: Lambda sets neither, so the
        // functions read no shared config file here either (`wxopen::aws::load`).
        for (name, value) in std::env::vars() {
            let sdk = name.starts_with("AWS_ENDPOINT_URL")
                || [
                    "AWS_REGION",
                    "AWS_DEFAULT_REGION",
                    "AWS_ACCESS_KEY_ID",
                    "AWS_SECRET_ACCESS_KEY",
                    "AWS_SESSION_TOKEN",
                    "AWS_EC2_METADATA_DISABLED",
                ]
                .contains(&name.as_str());
            if sdk {
                env.push((name, value));
            }
        }
        env.extend(self.extra_env.iter().cloned());
        env
    }
}

/// The query of a link the platform minted for `merchant` (WeChat's PC page), with `go=1`
/// (the landing page's button) when `go`.
async fn minted(platform: &Platform, merchant: &str, go: bool) -> Vec<(String, String)> {
    let keys = wxopen::links::key_cache(
        aws_sdk_secretsmanager::Client::new(&aws().await),
        &platform.config.link_secret_id,
        Duration::from_secs(300),
    );
    let params = wxopen::authorization::LinkParams {
        merchant: merchant.to_owned(),
        auth_type: 3,
        biz_appid: None,
        mode: Some(wxopen::authorization::Mode::Pc),
    };
    let minted = wxopen::links::mint_url(
        &keys,
        &platform.pages.public_base_url,
        params,
        wxopen::unix_now(),
        wxopen::links::DEFAULT_TTL,
    )
    .await
    .expect("the local link key mints");
    let mut query: Vec<(String, String)> = url::Url::parse(&minted.url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    if go {
        query.push(("go".into(), "1".into()));
    }
    query
}

/// The first event for `case`, prepared (sessions, codes, due accounts) before the clock starts,
/// and a check of the answer and of what the function stored.
async fn prepare(platform: &Platform, case: Case, run: usize) -> (Value, Check) {
    match case {
        Case::Ticket => {
            // Newer than anything stored, so each run's conditional write succeeds.
            let create_time = wxopen::unix_now() + 1000 + run as i64;
            // WeChat's current ticket, pushed again: the platform keeps working on it.
            let ticket = platform.sandbox.ticket().ticket;
            let pusher = Pusher::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, &platform.component);
            let push = pusher.push(
                &ticket_xml(&platform.component, create_time, &ticket),
                wxopen::unix_now(),
            );
            let query = [
                ("signature", "unused-in-safe-mode"),
                ("timestamp", push.timestamp.as_str()),
                ("nonce", push.nonce.as_str()),
                ("encrypt_type", "aes"),
                ("msg_signature", push.msg_signature.as_str()),
            ];
            let event = http_event("POST", "/wechat/component/events", &query, &push.body);
            (event, Check::Ticket { create_time })
        }
        Case::Landing => {
            let query = minted(platform, &format!("bench-cold-landing-{run}"), false).await;
            let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (&**k, &**v)).collect();
            (
                http_event("GET", "/authorize", &query, ""),
                Check::Status(200, "class=\"button\"".to_owned()),
            )
        }
        // A link of its own per run: one link starts only a few authorizations an hour.
        Case::Go => {
            let query = minted(platform, &format!("bench-cold-go-{run}"), true).await;
            let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (&**k, &**v)).collect();
            (
                http_event("GET", "/authorize", &query, ""),
                Check::Status(302, String::new()),
            )
        }
        Case::Callback => {
            let request = LinkRequest {
                merchant: format!("bench-cold-{run}"),
                auth_type: 3,
                biz_appid: None,
                mobile: false,
            };
            let link = authorization::start(&platform.tokens, &platform.pages, &request)
                .await
                .expect("a session is started");
            let appid = platform.fresh_account();
            let authorized = platform
                .sandbox
                .authorize(&appid, None)
                .await
                .expect("the sandbox authorizes");
            let code = authorized.grant.authorization_code.clone();
            let event = http_event(
                "GET",
                "/authorize/callback",
                &[
                    ("session", link.session_id.as_str()),
                    ("auth_code", code.as_str()),
                    ("expires_in", "600"),
                ],
                "",
            );
            (event, Check::Account(appid))
        }
        Case::Refresh => {
            let appid = platform.fresh_account();
            let authorized = platform
                .sandbox
                .authorize(&appid, None)
                .await
                .expect("the sandbox authorizes");
            wxopen_tests::store_authorization_unchecked(
                &platform.due_tokens,
                &authorized.grant.authorization_code,
                None,
            )
            .await
            .expect("the due account is stored");
            let event = json!({
                "version": "0", "id": format!("bench-{run}"), "detail-type": "Scheduled Event",
                "source": "aws.events", "account": "123456789012",
                "time": "2026-11-25T12:00:00Z", "region": "ap-east-1",
                "resources": ["arn:aws:events:ap-east-1:123456789012:rule/wxopen-refresh"],
                "detail": {}
            });
            (event, Check::Refreshed)
        }
        Case::Message => {
            // Group 1's official account; WeChat's release check's text.
            let xml = format!(
                "<xml><ToUserName><![CDATA[gh_3c884a361561]]></ToUserName>\
                 <FromUserName><![CDATA[o_bench_{run}]]></FromUserName>\
                 <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
                 <Content><![CDATA[TESTCOMPONENT_MSG_TYPE_TEXT]]></Content>\
                 <MsgId>{run}</MsgId></xml>",
                wxopen::unix_now()
            );
            let pusher = Pusher::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, &platform.component);
            let push = pusher.push(&xml, wxopen::unix_now());
            let query = [
                ("signature", "unused-in-safe-mode"),
                ("timestamp", push.timestamp.as_str()),
                ("nonce", push.nonce.as_str()),
                ("openid", "o_bench"),
                ("encrypt_type", "aes"),
                ("msg_signature", push.msg_signature.as_str()),
            ];
            let event = http_event(
                "POST",
                "/wechat/authorizers/wx570bc396a51b8ff8/events",
                &query,
                &push.body,
            );
            (event, Check::Status(200, "<Encrypt>".to_owned()))
        }
        Case::Vend => {
            let mut event = http_event("GET", "/tokens/component", &[], "");
            event["requestContext"]["authorizer"] = json!({
                "iam": {
                    "accountId": "123456789012",
                    "userArn": "arn:aws:sts::123456789012:assumed-role/code-release/bench",
                }
            });
            let stored = platform
                .tokens
                .store
                .component_token(&platform.component)
                .await
                .expect("the store answers")
                .and_then(|t| t.token)
                .expect("the steady state has a component token");
            (
                event,
                Check::Status(200, format!("\"access_token\":\"{}\"", stored.expose())),
            )
        }
        Case::Jwks => (
            http_event("GET", "/.well-known/jwks.json", &[], ""),
            Check::Status(200, "\"kty\":\"EC\"".to_owned()),
        ),
        Case::Floor => {
            let event = http_event("GET", "/", &[], "");
            (event.clone(), Check::Echo(event))
        }
        Case::Unknown => (http_event("GET", "/", &[], ""), Check::Anything),
    }
}

/// What a run's answer must show.
#[derive(Debug)]
enum Check {
    Ticket {
        create_time: i64,
    },
    Status(u16, String),
    Account(String),
    Refreshed,
    /// The floor: the event itself.
    Echo(Value),
    Anything,
}

impl Check {
    async fn verify(&self, platform: &Platform, response: &Value) -> Result<(), String> {
        let status = response.get("statusCode").and_then(Value::as_u64);
        let body = response.get("body").and_then(Value::as_str).unwrap_or("");
        match self {
            Self::Ticket { create_time } => {
                if status != Some(200) || body != "success" {
                    return Err(format!("push answered {status:?} {body:?}"));
                }
                let stored = platform
                    .tokens
                    .store
                    .ticket(&platform.component)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("no ticket stored")?;
                if stored.create_time != *create_time {
                    return Err(format!(
                        "stored ticket is from {}, not {create_time}",
                        stored.create_time
                    ));
                }
                Ok(())
            }
            Self::Status(want, contains) => {
                if status != Some(u64::from(*want)) || !body.contains(contains.as_str()) {
                    return Err(format!("answered {status:?}: {body:.200}"));
                }
                Ok(())
            }
            Self::Account(appid) => {
                if status != Some(200) || !body.contains(appid.as_str()) {
                    return Err(format!("callback answered {status:?}: {body:.200}"));
                }
                platform
                    .tokens
                    .store
                    .authorizer(&platform.component, appid)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("the account is not stored")?;
                Ok(())
            }
            Self::Refreshed => {
                let refreshed = response.get("refreshed").and_then(Value::as_u64);
                if refreshed != Some(1) {
                    return Err(format!("the run refreshed {refreshed:?}: {response}"));
                }
                Ok(())
            }
            Self::Echo(event) => {
                if response != event {
                    return Err(format!("the floor answered {response}"));
                }
                Ok(())
            }
            Self::Anything => Ok(()),
        }
    }
}

/// An API Gateway HTTP API (payload 2.0) event, shaped like `events/ticket-push.json`.
fn http_event(method: &str, path: &str, query: &[(&str, &str)], body: &str) -> Value {
    let raw_query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let params: serde_json::Map<String, Value> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    let now_ms = unix_now_ms();
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {
            "host": "abc123.execute-api.ap-east-1.amazonaws.com",
            "user-agent": "Mozilla/5.0",
        },
        "isBase64Encoded": false,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.ap-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "Mozilla/5.0",
            },
            "requestId": format!("bench-{now_ms}"),
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "25/Nov/2026:12:00:00 +0000",
            "timeEpoch": now_ms,
        },
    });
    if !params.is_empty() {
        event["queryStringParameters"] = Value::Object(params);
    }
    if !body.is_empty() {
        event["body"] = Value::String(body.to_owned());
        event["headers"]["content-type"] = Value::String("text/xml".to_owned());
    }
    event
}

/// The Runtime API stand-in's state for one run.
struct RuntimeApi {
    /// The first event, taken by the first `next`; later `next`s wait (as Lambda's freeze).
    event: Mutex<Option<Vec<u8>>>,
    first_next: Mutex<Option<Instant>>,
    outcome: Mutex<Option<oneshot::Sender<Outcome>>>,
}

#[derive(Debug)]
enum Outcome {
    Response(Instant, Bytes),
    Error(String, Bytes),
}

impl RuntimeApi {
    fn finish(&self, outcome: Outcome) {
        if let Some(tx) = self.outcome.lock().expect("outcome lock").take() {
            let _ = tx.send(outcome);
        }
    }
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> axum::response::Response {
    let arrived = Instant::now();
    api.first_next
        .lock()
        .expect("next lock")
        .get_or_insert(arrived);
    let Some(event) = api.event.lock().expect("event lock").take() else {
        // The function asks for its second event: it never comes.
        std::future::pending::<()>().await;
        unreachable!();
    };
    let deadline = unix_now_ms() + 900_000;
    (
        [
            (
                "lambda-runtime-aws-request-id",
                "bench-request-1".to_owned(),
            ),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:ap-east-1:123456789012:function:bench".to_owned(),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
            ),
            ("content-type", "application/json".to_owned()),
        ],
        event,
    )
        .into_response()
}

async fn response(State(api): State<Arc<RuntimeApi>>, body: Bytes) -> StatusCode {
    api.finish(Outcome::Response(Instant::now(), body));
    StatusCode::ACCEPTED
}

async fn error(State(api): State<Arc<RuntimeApi>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unnamed")
        .to_owned();
    api.finish(Outcome::Error(kind, body));
    StatusCode::ACCEPTED
}

async fn run_once(
    platform: &Platform,
    bin_dir: &Path,
    function: &str,
    case: Case,
    run: usize,
) -> Result<Run, String> {
    let (event, check) = prepare(platform, case, run).await;
    // Only what the function itself calls is counted.
    platform.sandbox.reset_calls();
    let (tx, rx) = oneshot::channel();
    let api = Arc::new(RuntimeApi {
        event: Mutex::new(Some(event.to_string().into_bytes())),
        first_next: Mutex::new(None),
        outcome: Mutex::new(Some(tx)),
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let mut command = tokio::process::Command::new(bin_dir.join(function));
    command
        .env_clear()
        .envs(platform.env(function, &addr.to_string()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {function}: {e}"))?;
    // Drained as Lambda drains them; kept for the report when a run fails.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());

    // The answer, or the process's end if it dies first (a panic at start-up, say).
    let (outcome, exited) = tokio::select! {
        outcome = tokio::time::timeout(RUN_LIMIT, rx) => (outcome.map(Result::ok), None),
        exit = child.wait() => (Ok(None), Some(exit)),
    };
    // Read while the process still lives (it now waits for its next event).
    let peak_rss_kb = child.id().and_then(peak_rss_kb);
    let _ = child.start_kill();
    let exit = match exited {
        Some(exit) => exit,
        None => child.wait().await,
    };
    server.abort();
    let logs = || {
        format!(
            "\n  stdout: {}\n  stderr: {}",
            String::from_utf8_lossy(&stdout.lock().expect("log lock")),
            String::from_utf8_lossy(&stderr.lock().expect("log lock"))
        )
    };
    let (answered, body) = match outcome {
        Err(_) => return Err(format!("no answer within {RUN_LIMIT:?}{}", logs())),
        Ok(None) => return Err(format!("exited early ({exit:?}){}", logs())),
        Ok(Some(Outcome::Error(kind, body))) => {
            return Err(format!(
                "reported an error {kind}: {}{}",
                String::from_utf8_lossy(&body),
                logs()
            ));
        }
        Ok(Some(Outcome::Response(at, body))) => (at, body),
    };
    let first_next = api
        .first_next
        .lock()
        .expect("next lock")
        .ok_or("answered without asking for an event")?;
    let response: Value = serde_json::from_slice(&body)
        .map_err(|e| format!("the response is not JSON ({e}): {body:?}"))?;
    check.verify(platform, &response).await?;
    if case == Case::Unknown && run == 0 {
        println!(
            "{function}: answered {:?} to GET /",
            response.get("statusCode")
        );
    }
    Ok(Run {
        init: first_next - started,
        first_response: answered - started,
        peak_rss_kb: peak_rss_kb.ok_or("no VmHWM in /proc")?,
    })
}

fn drain(pipe: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>) -> Arc<Mutex<Vec<u8>>> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    if let Some(mut pipe) = pipe {
        let buffer = buffer.clone();
        tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                buffer
                    .lock()
                    .expect("log lock")
                    .extend_from_slice(&chunk[..n]);
            }
        });
    }
    buffer
}

/// The process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
