//! The built `wxopen-admin` binary, run as an operator would: configured only by environment
//! variables, against the WeChat sandbox and the local services (`scripts/services.sh run`).
//! It lives in this crate, apart from the service's tests, because Cargo gives only a crate's
//! own tests its binary's path; it needs nothing of theirs but the sandbox.

use std::process::{Command, Output};
use std::time::Duration;

use wechat_sandbox::{Sandbox, SandboxConfig, random};
use wxopen::Config;
use wxopen::tokens::Tokens;

const BIN: &str = env!("CARGO_BIN_EXE_wxopen-admin");

fn run(component: &str, sandbox_url: &str, args: &[&str]) -> Output {
    // The AWS endpoint variables, region and credentials come from the test's environment.
    Command::new(BIN)
        .args(args)
        .env("COMPONENT_APPID", component)
        .env("TABLE_NAME", table_name())
        .env("SECRET_ID", "wxopen/local")
        .env("WECHAT_API_BASE", sandbox_url)
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn table_name() -> String {
    std::env::var("TABLE_NAME").expect("run the tests with scripts/test.sh: TABLE_NAME is set")
}

#[tokio::test]
async fn the_binary_reconciles_lists_and_refreshes_authorizers_and_refuses_an_unknown_appid() {
    let aws = wxopen::aws::load().await;
    let component = random::appid();
    let sandbox = Sandbox::start(SandboxConfig {
        component_appid: component.clone(),
        ticket_interval: Duration::ZERO,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let config = Config::from_lookup(|name| match name {
        "COMPONENT_APPID" => Some(component.clone()),
        "TABLE_NAME" => Some(table_name()),
        "SECRET_ID" => Some("wxopen/local".into()),
        "WECHAT_API_BASE" => Some(sandbox.base_url().to_owned()),
        _ => None,
    })
    .unwrap();
    let tokens = Tokens::from_config(&config, &aws);
    let ticket = sandbox.ticket();
    tokens
        .store
        .save_ticket(
            &component,
            &ticket.ticket,
            ticket.create_time,
            wxopen::unix_now(),
        )
        .await
        .unwrap();
    // An authorization the platform missed: reconciliation finds it in WeChat's list.
    let appid = sandbox.accounts()[0].account.appid.clone();
    sandbox.authorize(&appid, None).await.unwrap();

    // Off the runtime's thread: the sandbox answers the child on it meanwhile.
    let (reconcile, list, json, unknown, refresh) = {
        let (component, url, appid) = (
            component.clone(),
            sandbox.base_url().to_owned(),
            appid.clone(),
        );
        tokio::task::spawn_blocking(move || {
            (
                run(&component, &url, &["reconcile"]),
                run(&component, &url, &["list"]),
                run(&component, &url, &["--json", "list"]),
                run(&component, &url, &["show", "wx0000000000000000"]),
                run(&component, &url, &["refresh", &appid]),
            )
        })
        .await
        .unwrap()
    };

    assert_eq!(
        reconcile.status.code(),
        Some(0),
        "{}",
        text(&reconcile.stderr)
    );
    assert_eq!(sandbox.calls_to("api_get_authorizer_list"), 1);
    let stored = tokens.store.authorizer(&component, &appid).await.unwrap();
    assert!(stored.is_some_and(|r| r.refresh_token.is_some()));
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr));
    let stdout = text(&list.stdout);
    let row = stdout
        .lines()
        .find(|l| l.starts_with(&appid))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains("authorized"), "{row}");

    assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["authorizers"][0]["appid"], appid.as_str());
    assert_eq!(value["authorizers"][0]["status"], "authorized");

    assert_ne!(unknown.status.code(), Some(0));
    assert!(unknown.stdout.is_empty());
    assert_eq!(
        text(&unknown.stderr).trim(),
        format!(
            "wxopen-admin: authorizer wx0000000000000000 is not stored for component {component}"
        )
    );

    assert_eq!(refresh.status.code(), Some(0), "{}", text(&refresh.stderr));
    assert!(
        text(&refresh.stdout).starts_with(&format!("{appid}: refreshed")),
        "{}",
        text(&refresh.stdout)
    );
    assert_eq!(sandbox.calls_for("api_authorizer_token", &appid), 1);
}

#[test]
fn the_binary_says_which_setting_is_missing() {
    let output = Command::new(BIN)
        .arg("list")
        .env_remove("COMPONENT_APPID")
        .env("TABLE_NAME", "t")
        .env("SECRET_ID", "s")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr).trim(),
        "wxopen-admin: environment variable COMPONENT_APPID is required"
    );
}

/// `wxopen-admin link ...` with the local services' link key (`wxopen/local-links`, the
/// default for `SECRET_ID=wxopen/local`).
fn link(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("link")
        .args(args)
        .env("COMPONENT_APPID", "wx0123456789abcdef")
        .env("TABLE_NAME", table_name())
        .env("SECRET_ID", "wxopen/local")
        .env_remove("LINK_SECRET_ID")
        .env("PUBLIC_BASE_URL", "https://auth.example.com/")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn the_binary_mints_links_the_link_function_accepts() {
    let before = wxopen::unix_now();
    let printed = link(&[
        "--merchant",
        "shop-1",
        "--auth-type",
        "2",
        "--mode",
        "mobile",
        "--ttl",
        "3600",
    ]);
    assert_eq!(printed.status.code(), Some(0), "{}", text(&printed.stderr));
    let out = text(&printed.stdout);
    let url = out.strip_suffix('\n').unwrap();
    assert!(!url.contains('\n'), "{out}");
    assert!(
        url.starts_with(
            "https://auth.example.com/authorize?merchant=shop-1&auth_type=2&mode=mobile&expires="
        ),
        "{url}"
    );

    // The link function's own check accepts it, with the key the services seeded.
    let parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let key = wxopen::links::key_cache(
        aws_sdk_secretsmanager::Client::new(&wxopen::aws::load().await),
        "wxopen/local-links",
        Duration::from_secs(60),
    )
    .keys()
    .await
    .unwrap();
    let params = wxopen::authorization::LinkParams::parse(get).unwrap();
    let signed = wxopen::links::verify(&key, params, get("expires"), get("sig"), before).unwrap();
    assert!((before + 3600..=wxopen::unix_now() + 3600).contains(&signed.expires_at));

    // --json: {url, expires_at}.
    let json = link(&["--merchant", "shop-2", "--json"]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let object = value.as_object().unwrap();
    assert_eq!(object.len(), 2, "{value}");
    let expires_at = value["expires_at"].as_i64().unwrap();
    assert!(expires_at >= before + 86400);
    assert!(
        value["url"]
            .as_str()
            .unwrap()
            .starts_with("https://auth.example.com/authorize?merchant=shop-2&auth_type=3&expires="),
        "{value}"
    );

    // Refusals name what is wrong.
    for (args, error) in [
        (
            &["--merchant", "a b"][..],
            "wxopen-admin: merchant must be 1 to 64 letters, digits, '-', '_', '.' or ':'",
        ),
        (
            &["--merchant", "m", "--ttl", "604801"][..],
            "wxopen-admin: ttl_secs must be between 60 and 604800 (7 days)",
        ),
        (
            &["--merchant", "m", "--biz-appid", "gh_1"][..],
            "wxopen-admin: biz_appid must be an appid: wx followed by 16 hexadecimal digits",
        ),
    ] {
        let refused = link(args);
        assert_eq!(refused.status.code(), Some(1), "{args:?}");
        assert_eq!(text(&refused.stderr).trim(), error, "{args:?}");
        assert!(refused.stdout.is_empty());
    }
    let refused = link(&["--merchant", "m", "--auth-type", "4"]);
    assert_eq!(refused.status.code(), Some(2));
}
