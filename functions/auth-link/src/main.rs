//! auth-link: `GET /authorize`, the merchant's landing page on the 授权发起页域名.

use auth_link::{AuthLink, handle};
use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wxopen::telemetry::init();
    let config = wxopen::Config::from_env()?;
    let aws = wxopen::aws::load().await;
    let link = AuthLink::new(&config, &aws)?;
    let link = &link;
    run(service_fn(move |request| async move {
        handle(link, request).await
    }))
    .await
}
