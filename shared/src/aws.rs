//! The AWS SDK configuration every function builds once at start-up.

/// Loads the SDK's usual configuration chain, with the HTTPS client of [`crate::tls`] (the
/// compiled-in roots). Endpoints for local services come from the SDK's own variables
/// (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SECRETS_MANAGER`).
pub async fn load() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::tls::sdk_http_client())
        .load()
        .await
}
