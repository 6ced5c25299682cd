//! The AWS SDK configuration every function builds once at start-up.

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};

/// Loads the SDK's usual configuration chain, with the HTTPS client of [`crate::tls`] (the
/// compiled-in roots). Endpoints for local services come from the SDK's own variables
/// (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SECRETS_MANAGER`).
///
/// Lambda hands every function its role's credentials and its region in the environment, and
/// the SDK's default chains would take them from there first. When they are there, they are
/// taken from there directly: the default chains would otherwise build every other provider
/// (profile files, SSO, web identity with an STS client of its own, ECS, instance metadata) at
/// every cold start, only to leave them unused.
pub async fn load() -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::tls::sdk_http_client());
    let set = |name| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    if set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY") {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    if set("AWS_REGION") || set("AWS_DEFAULT_REGION") {
        loader = loader.region(EnvironmentVariableRegionProvider::new());
    }
    loader.load().await
}
