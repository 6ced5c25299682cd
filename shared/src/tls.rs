//! TLS for every outbound HTTPS client of a process (the AWS SDK's and WeChat's): one set of
//! trusted roots, compiled in, and the TLS configuration built from it once per process, on
//! first use.
//!
//! The roots are Mozilla's (the `webpki-root-certs` crate), the set Amazon Linux's and Debian's
//! `ca-certificates` are also made from: they vouch for AWS's endpoints (Amazon Trust Services)
//! and WeChat's. Nothing reads `/etc/ssl/certs` at start-up: reading and parsing the system's
//! store cost each client several milliseconds of every cold start (see BENCHMARKS.md). A new
//! root reaches the functions with a dependency update and a deployment, not an OS update.

use std::sync::{Arc, LazyLock, OnceLock};

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine;
use rustls::pki_types::CertificateDer;

/// The compiled-in trusted roots (Mozilla's set).
pub fn roots() -> &'static [CertificateDer<'static>] {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
}

/// The process's rustls configuration for HTTP/1.1 clients: built on first use, then shared.
pub fn client_config() -> &'static rustls::ClientConfig {
    static CONFIG: LazyLock<rustls::ClientConfig> = LazyLock::new(|| {
        let mut store = rustls::RootCertStore::empty();
        store.add_parsable_certificates(roots().iter().cloned());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the default protocol versions are supported")
            .with_root_certificates(store)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    });
    &CONFIG
}

/// The AWS SDK's HTTPS client (for [`crate::aws::load`]), trusting [`roots`] only, and built
/// on the first request: see [`SdkHttpClient`].
pub fn sdk_http_client() -> SharedHttpClient {
    SharedHttpClient::new(SdkHttpClient::default())
}

/// The SDK's own HTTPS client, built on the first request rather than at start-up.
///
/// The SDK takes roots as PEM, not as a `ClientConfig`: it parses them into its own rustls
/// configuration for each connector it makes. Left to itself it also makes one connector per
/// SDK client at construction (`validate_base_client_config`), only to throw it away, so every
/// client built at init parsed all the roots once more, most of a cold start. This wrapper
/// does not forward that call: the one connector is made, and the roots parsed once, when the
/// first request needs it, and the SDK's client caches it for the process.
#[derive(Debug, Default, Clone)]
struct SdkHttpClient(Arc<OnceLock<SharedHttpClient>>);

impl SdkHttpClient {
    fn inner(&self) -> &SharedHttpClient {
        self.0.get_or_init(|| {
            let trust = TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(pem(roots()));
            let context = TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .expect("a trust store of certificates is a valid TLS context");
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .tls_context(context)
                .build_https()
        })
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.inner().http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner().connector_metadata()
    }
}

/// Certificates as one PEM bundle.
fn pem(certs: &[CertificateDer<'_>]) -> Vec<u8> {
    let base64 = base64::engine::general_purpose::STANDARD;
    let mut out = String::with_capacity(certs.iter().map(|c| c.len() * 4 / 3 + 64).sum());
    for cert in certs {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let encoded = base64.encode(cert.as_ref());
        // PEM's 64-character lines.
        for line in encoded.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn the_pem_bundle_holds_every_root() {
        let parsed: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem(roots()))
            .collect::<Result<_, _>>()
            .expect("the bundle is PEM");
        assert!(roots().len() > 100, "{} roots", roots().len());
        assert_eq!(parsed, roots());
    }

    #[tokio::test]
    async fn the_sdk_client_is_built_on_the_first_request_not_with_the_sdk_clients() {
        let http = SdkHttpClient::default();
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKID", "secret", None, None, "test",
            )))
            // Nothing listens on port 9 of loopback: the request fails at once.
            .endpoint_url("http://127.0.0.1:9")
            .http_client(SharedHttpClient::new(http.clone()))
            .build();
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let _secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        assert!(http.0.get().is_none(), "built with the SDK clients");
        let answer = dynamodb.list_tables().send().await;
        assert!(answer.is_err(), "nothing listens: {answer:?}");
        assert!(http.0.get().is_some(), "not built by the first request");
    }

    #[test]
    fn every_root_is_a_trust_anchor() {
        let mut store = rustls::RootCertStore::empty();
        let (added, ignored) = store.add_parsable_certificates(roots().iter().cloned());
        assert_eq!((added, ignored), (roots().len(), 0));
    }
}
