//! ticket-receiver: `POST /wechat/component/events`, WeChat's authorization event URL.

use lambda_http::{Error, run, service_fn};
use ticket_receiver::{Receiver, handle};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wxopen::telemetry::init();
    let config = wxopen::Config::from_env()?;
    let aws = wxopen::aws::load().await;
    // Clients are built once per container; the secret is fetched on the first push.
    let receiver = Receiver::new(&config, &aws);
    let receiver = &receiver;
    run(service_fn(move |request| async move {
        handle(receiver, request).await
    }))
    .await
}
