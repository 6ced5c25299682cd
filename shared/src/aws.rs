//! The AWS SDK configuration every function builds once at start-up.

/// Loads the SDK's usual configuration chain. Endpoints for local services come from the SDK's
/// own variables (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SECRETS_MANAGER`).
pub async fn load() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
