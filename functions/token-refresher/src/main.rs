//! token-refresher: run by an EventBridge schedule (and on demand, with a JSON event).

use lambda_runtime::{Error, run, service_fn};
use token_refresher::{Refresher, handle};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wxopen::telemetry::init();
    let config = wxopen::Config::from_env()?;
    let aws = wxopen::aws::load().await;
    let refresher = Refresher::new(&config, &aws);
    let refresher = &refresher;
    run(service_fn(move |event| async move {
        handle(refresher, event).await
    }))
    .await
}
