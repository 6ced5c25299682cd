//! user-identity: mini program login, JS-SDK configuration, web login and the identity token's
//! key set, for authorized accounts' users (public routes).

use lambda_http::{Error, run, service_fn};
use user_identity::{UserIdentity, handle};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wxopen::telemetry::init();
    let config = wxopen::Config::from_env()?;
    let aws = wxopen::aws::load().await;
    // Clients are built once per container; the secrets are fetched on first use and cached.
    let identity = UserIdentity::new(&config, &aws)?;
    let identity = &identity;
    run(service_fn(move |request| async move {
        handle(identity, request).await
    }))
    .await
}
