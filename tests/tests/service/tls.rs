//! TLS stays verified with the compiled-in roots (`wxopen::tls`): a loopback HTTPS server whose
//! certificate no root vouches for (self-signed, for the very name the client asks for) is
//! refused by both clients the functions use, the AWS SDK's and WeChat's, before any request
//! is sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{CertificateError, Error as TlsError};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use wxopen::wechat::{WechatClient, WechatError};

/// A loopback HTTPS server with a self-signed certificate for `localhost`, counting what it saw.
struct UntrustedServer {
    port: u16,
    connections: Arc<AtomicUsize>,
    /// Handshakes that ended, each `Err` with the server's view of why, `Ok` if one completed.
    handshakes: Arc<Mutex<Vec<Result<(), String>>>>,
    /// Bytes of HTTP read after a completed handshake.
    request_bytes: Arc<AtomicUsize>,
}

impl UntrustedServer {
    async fn start() -> Self {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a self-signed certificate");
        let cert = CertificateDer::from(certified.cert.der().to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("default versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("the certificate and key match");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
        let port = listener.local_addr().expect("address").port();
        let server = Self {
            port,
            connections: Arc::default(),
            handshakes: Arc::default(),
            request_bytes: Arc::default(),
        };
        let (connections, handshakes, request_bytes) = (
            server.connections.clone(),
            server.handshakes.clone(),
            server.request_bytes.clone(),
        );
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let (acceptor, handshakes, request_bytes) =
                    (acceptor.clone(), handshakes.clone(), request_bytes.clone());
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok(mut tls) => {
                            handshakes.lock().unwrap().push(Ok(()));
                            let mut buffer = [0u8; 1024];
                            while let Ok(n @ 1..) = tls.read(&mut buffer).await {
                                request_bytes.fetch_add(n, Ordering::SeqCst);
                            }
                        }
                        Err(error) => handshakes.lock().unwrap().push(Err(error.to_string())),
                    }
                });
            }
        });
        server
    }

    fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// Waits (bounded) until every connection's handshake has ended, then checks that there
    /// was at least one, that none completed and that no request byte arrived.
    async fn assert_refused_before_any_request(&self) {
        for _ in 0..500 {
            let connections = self.connections.load(Ordering::SeqCst);
            if connections > 0 && self.handshakes.lock().unwrap().len() == connections {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let handshakes = self.handshakes.lock().unwrap().clone();
        assert!(!handshakes.is_empty(), "the client never connected");
        assert_eq!(
            handshakes.len(),
            self.connections.load(Ordering::SeqCst),
            "every connection's handshake ended: {handshakes:?}"
        );
        assert!(
            handshakes.iter().all(Result::is_err),
            "a handshake completed: {handshakes:?}"
        );
        assert_eq!(self.request_bytes.load(Ordering::SeqCst), 0);
    }
}

/// Whether `error`'s chain holds rustls's "unknown issuer", looking inside `io::Error`s too
/// (whose `source()` skips the error they wrap).
fn refused_as_unknown_issuer(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(TlsError::InvalidCertificate(CertificateError::UnknownIssuer)) =
            error.downcast_ref::<TlsError>()
        {
            return true;
        }
        if let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && refused_as_unknown_issuer(inner)
        {
            return true;
        }
        next = error.source();
    }
    false
}

#[tokio::test]
async fn the_aws_sdk_refuses_a_certificate_no_root_vouches_for() {
    let server = UntrustedServer::start().await;
    // The SDK configuration every function loads, pointed at the untrusted server.
    let sdk = wxopen::aws::load().await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(server.url())
        .retry_config(RetryConfig::disabled())
        .build();
    let error = aws_sdk_dynamodb::Client::from_conf(config)
        .list_tables()
        .send()
        .await
        .expect_err("an untrusted certificate is refused");
    assert!(
        refused_as_unknown_issuer(&error),
        "not a certificate refusal: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(&error)
    );
    server.assert_refused_before_any_request().await;
}

#[tokio::test]
async fn the_wechat_client_refuses_a_certificate_no_root_vouches_for() {
    let server = UntrustedServer::start().await;
    let wechat = WechatClient::new(&server.url(), "wx0000000000000000", Duration::from_secs(5));
    let error = wechat
        .component_token("appsecret", "ticket")
        .await
        .expect_err("an untrusted certificate is refused");
    match &error {
        WechatError::Unreachable { message, .. } => assert!(
            message.contains("invalid peer certificate: UnknownIssuer"),
            "not a certificate refusal: {message}"
        ),
        other => panic!("not refused at connecting: {other:?}"),
    }
    server.assert_refused_before_any_request().await;
}
