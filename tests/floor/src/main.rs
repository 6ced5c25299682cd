//! The floor of the cold start benchmark (tests/benches/cold_start.rs): the smallest Rust Lambda
//! function, built with the workspace's release profile and started the same way as the real
//! ones. It answers its event with the event itself; nothing else is set up.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
