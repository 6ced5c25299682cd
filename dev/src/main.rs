//! `wxopen-dev`: the functions on one loopback origin, as API Gateway and EventBridge call
//! them in AWS: the same handlers, the same request shapes, the refresher on a timer. Started by
//! `scripts/dev.sh` with the local services' environment and the sandbox's origins.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use token_refresher::{RefreshRequest, Refresher, refresh};
use wxopen_dev::{App, server as dev_server};

#[derive(Debug, Parser)]
#[command(about = "Runs the service's handlers locally (see scripts/dev.sh)")]
struct Args {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 9000)]
    port: u16,
    /// The token refresher runs this often, as its schedule does in AWS.
    #[arg(long, default_value_t = 60)]
    refresh_every_secs: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = wxopen::Config::from_env()?;
    let aws = wxopen::aws::load().await;
    let app = Arc::new(App::new(&config, &aws));
    let refresher = Refresher::new(&config, &aws);
    let server = dev_server::serve_on(args.port, move |request| {
        let app = Arc::clone(&app);
        async move { app.route(request).await }
    })
    .await?;
    println!("wxopen-dev listening on {}", server.base_url());

    let every = Duration::from_secs(args.refresh_every_secs.max(1));
    let schedule = async {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            let deadline = Instant::now() + every.min(Duration::from_secs(300));
            if let Err(error) = refresh(&refresher, &RefreshRequest::default(), deadline).await {
                tracing::error!(%error, "refresh run failed");
            }
        }
    };
    tokio::select! {
        () = schedule => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
