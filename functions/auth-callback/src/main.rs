//! auth-callback: `GET /authorize/callback`, where WeChat sends the merchant back.

use auth_callback::{AuthCallback, handle};
use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wxopen::telemetry::init();
    let config = wxopen::Config::from_env()?;
    let aws = wxopen::aws::load().await;
    let callback = AuthCallback::new(&config, &aws);
    let callback = &callback;
    run(service_fn(move |request| async move {
        handle(callback, request).await
    }))
    .await
}
