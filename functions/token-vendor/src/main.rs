//! token-vendor: `GET /tokens/component` and `GET /tokens/authorizers/{appid}`, behind IAM.

use lambda_http::{Error, run, service_fn};
use token_vendor::{TokenVendor, handle};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wxopen::telemetry::init();
    let config = wxopen::Config::from_env()?;
    let aws = wxopen::aws::load().await;
    // Clients are built once per container; the secret is fetched when a token must be refreshed.
    let vendor = TokenVendor::new(&config, &aws);
    let vendor = &vendor;
    run(service_fn(move |request| async move {
        handle(vendor, request).await
    }))
    .await
}
