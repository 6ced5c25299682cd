//! wxopen-admin: the operator's command, run by hand (never deployed). It reads the functions'
//! environment (COMPONENT_APPID, TABLE_NAME, SECRET_ID, WECHAT_API_BASE, ...) and the AWS SDK's
//! usual configuration (AWS_PROFILE, AWS_REGION, endpoint overrides for local services).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use wxopen_admin::{Command, execute};

#[derive(Debug, Parser)]
#[command(
    name = "wxopen-admin",
    version,
    about = "Operate a wxopen deployment: authorizers, tokens, tickets, merchant links."
)]
struct Cli {
    /// Print the result as JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr so that stdout holds only the result (JSON stays parseable).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();

    let config = match wxopen::Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("wxopen-admin: {error}");
            return ExitCode::from(2);
        }
    };
    let aws = wxopen::aws::load().await;
    match execute(&config, &aws, &cli.command).await {
        Ok(output) => {
            print!(
                "{}",
                if cli.json {
                    output.json()
                } else {
                    output.text()
                }
            );
            if output.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("wxopen-admin: {error}");
            ExitCode::FAILURE
        }
    }
}
