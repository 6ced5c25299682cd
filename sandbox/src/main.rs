//! `wechat-sandbox`: WeChat's Open Platform, as this service sees it, on loopback.
//! See docs/sandbox.md. Flags override the config file; the file's durations are seconds.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use wechat_sandbox::{Sandbox, SandboxConfig};

/// The port the binary listens on when neither a flag nor the config file says.
const DEFAULT_PORT: u16 = 9100;

#[derive(Debug, Parser)]
#[command(
    name = "wechat-sandbox",
    about = "A local stand-in for WeChat's Open Platform: component APIs, authorization pages, pushes."
)]
struct Args {
    /// JSON config file (fields as in SandboxConfig; durations in seconds, e.g. ticket_interval_secs).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Port on 127.0.0.1 (0 picks a free one) [default: 9100].
    #[arg(long)]
    port: Option<u16>,
    #[arg(long)]
    component_appid: Option<String>,
    #[arg(long)]
    component_appsecret: Option<String>,
    /// The message token pushes are signed with.
    #[arg(long)]
    token: Option<String>,
    #[arg(long)]
    encoding_aes_key: Option<String>,
    /// The platform's 授权事件接收URL, where tickets and authorization events are pushed.
    #[arg(long, value_name = "URL")]
    event_url: Option<String>,
    /// The platform's 消息与事件接收URL, `$APPID$` where the appid goes: the release check's target.
    #[arg(long, value_name = "URL")]
    message_url: Option<String>,
    /// Seconds between ticket pushes (0: only on demand) [default: 600].
    #[arg(long, value_name = "SECS")]
    ticket_interval_secs: Option<f64>,
    /// The 授权发起页域名 (host or host:port); repeat for several [default: 127.0.0.1, localhost].
    #[arg(long = "auth-domain", value_name = "DOMAIN")]
    auth_domains: Vec<String>,
    /// The 网页开发域名 (host, covering its subdomains and any port, or host:port) JS-SDK pages
    /// and web login redirect_uris must be on; repeat for several [default: 127.0.0.1, localhost].
    #[arg(long = "web-domain", value_name = "DOMAIN")]
    web_domains: Vec<String>,
    /// Whether refreshing an authorizer token hands out a new refresh token [default: true].
    #[arg(long, value_name = "BOOL")]
    refresh_token_rotation: Option<bool>,
    /// Seconds a superseded component token keeps working [default: 300].
    #[arg(long, value_name = "SECS")]
    component_token_grace_secs: Option<f64>,
    /// Seconds between retries of a push not answered `success` [default: 1].
    #[arg(long, value_name = "SECS")]
    push_retry_delay_secs: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid sandbox config: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("--{0} must be a non-negative number of seconds")]
    Seconds(&'static str),
}

fn load(args: Args) -> Result<SandboxConfig, CliError> {
    let mut config = match &args.config {
        None => SandboxConfig {
            port: DEFAULT_PORT,
            ..SandboxConfig::default()
        },
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
                path: path.clone(),
                source,
            })?;
            let mut value: serde_json::Value =
                serde_json::from_str(&text).map_err(|source| CliError::Parse {
                    path: path.clone(),
                    source,
                })?;
            if let Some(map) = value.as_object_mut() {
                map.entry("port").or_insert(DEFAULT_PORT.into());
            }
            serde_json::from_value(value).map_err(|source| CliError::Parse {
                path: path.clone(),
                source,
            })?
        }
    };
    let secs =
        |value: f64, flag| Duration::try_from_secs_f64(value).map_err(|_| CliError::Seconds(flag));
    if let Some(port) = args.port {
        config.port = port;
    }
    if let Some(v) = args.component_appid {
        config.component_appid = v;
    }
    if let Some(v) = args.component_appsecret {
        config.component_appsecret = v;
    }
    if let Some(v) = args.token {
        config.token = v;
    }
    if let Some(v) = args.encoding_aes_key {
        config.encoding_aes_key = v;
    }
    if args.event_url.is_some() {
        config.event_url = args.event_url;
    }
    if args.message_url.is_some() {
        config.message_url = args.message_url;
    }
    if let Some(v) = args.ticket_interval_secs {
        config.ticket_interval = secs(v, "ticket-interval-secs")?;
    }
    if !args.auth_domains.is_empty() {
        config.auth_domains = args.auth_domains;
    }
    if !args.web_domains.is_empty() {
        config.web_domains = args.web_domains;
    }
    if let Some(v) = args.refresh_token_rotation {
        config.refresh_token_rotation = v;
    }
    if let Some(v) = args.component_token_grace_secs {
        config.component_token_grace = secs(v, "component-token-grace-secs")?;
    }
    if let Some(v) = args.push_retry_delay_secs {
        config.push_retry_delay = secs(v, "push-retry-delay-secs")?;
    }
    Ok(config)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM can be handled");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

#[tokio::main]
async fn main() -> ExitCode {
    // RUST_LOG filters; unset or empty means info.
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "info".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let config = match load(Args::parse()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("wechat-sandbox: {error}");
            return ExitCode::from(2);
        }
    };
    let sandbox = match Sandbox::start(config).await {
        Ok(sandbox) => sandbox,
        Err(error) => {
            eprintln!("wechat-sandbox: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The first line is for scripts and tests: they read the URL from it.
    println!("wechat-sandbox listening on {}", sandbox.base_url());
    let config = sandbox.config();
    println!(
        "component_appid {}; event URL {}; ticket every {}; 授权发起页域名 {}",
        config.component_appid,
        config.event_url.as_deref().unwrap_or("(not set)"),
        if config.ticket_interval.is_zero() {
            "(on demand only)".to_owned()
        } else {
            format!("{} s", config.ticket_interval.as_secs_f64())
        },
        config.auth_domains.join(", "),
    );
    println!(
        "point the service at it: WECHAT_API_BASE={0} WECHAT_MP_BASE={0} WECHAT_OPEN_BASE={0}",
        sandbox.base_url()
    );
    shutdown_signal().await;
    drop(sandbox);
    ExitCode::SUCCESS
}
