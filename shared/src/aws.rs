//! The AWS SDK configuration every function builds once at start-up.

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};

/// Loads the SDK's usual configuration chain, with the HTTPS client of [`crate::tls`] (the
/// compiled-in roots). Endpoints for local services come from the SDK's own variables
/// (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SECRETS_MANAGER`).
///
/// Lambda hands every function its role's credentials and its region in the environment, and
/// the SDK's default chains would take them from there first. When they are there, they are
/// taken from there directly: the default chains would otherwise build every other provider
/// (profile files, SSO, web identity with an STS client of its own, ECS, instance metadata) at
/// every cold start, only to leave them unused.
///
/// On Lambda there are no shared config files (`~/.aws/config`, `~/.aws/credentials`) unless
/// the function's environment names them, so the SDK is told so instead of looking for them.
pub async fn load() -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::tls::sdk_http_client());
    fn set(name: &str) -> bool {
        std::env::var_os(name).is_some_and(|value| !value.is_empty())
    }
    if no_profile_files(set) {
        loader = loader.profile_files(
            EnvConfigFiles::builder()
                .with_contents(EnvConfigFileKind::Config, "")
                .build(),
        );
    }
    if set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY") {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    if set("AWS_REGION") || set("AWS_DEFAULT_REGION") {
        loader = loader.region(EnvironmentVariableRegionProvider::new());
    }
    loader.load().await
}

/// Whether the shared config files cannot exist: on Lambda (`AWS_LAMBDA_FUNCTION_NAME`), with
/// neither `AWS_CONFIG_FILE` nor `AWS_SHARED_CREDENTIALS_FILE` naming one. Anywhere else (a
/// developer's machine, the local stack) the SDK reads them as usual.
fn no_profile_files(set: impl Fn(&str) -> bool) -> bool {
    set("AWS_LAMBDA_FUNCTION_NAME")
        && !set("AWS_CONFIG_FILE")
        && !set("AWS_SHARED_CREDENTIALS_FILE")
}

#[cfg(test)]
mod tests {
    use super::no_profile_files;

    fn with(names: &[&str]) -> bool {
        no_profile_files(|name| names.contains(&name))
    }

    #[test]
    fn the_shared_config_files_are_skipped_only_on_lambda_when_none_is_named() {
        assert!(with(&["AWS_LAMBDA_FUNCTION_NAME"]));
        assert!(!with(&[]));
        assert!(!with(&["AWS_LAMBDA_FUNCTION_NAME", "AWS_CONFIG_FILE"]));
        assert!(!with(&[
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_SHARED_CREDENTIALS_FILE"
        ]));
    }
}
