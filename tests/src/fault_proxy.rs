//! A loopback HTTP proxy that passes requests on to an upstream (DynamoDB Local, the sandbox)
//! and, by rule, answers some of them itself with the errors the real service sends: DynamoDB's
//! throttling and internal errors, which neither DynamoDB Local nor the sandbox produce. A rule
//! can also fail a request after passing it on (the write done, the answer an error). It logs
//! every exchange, so a test can see the retries the SDK made.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::task::JoinHandle;

/// Requests larger than this are refused (DynamoDB's own limit on a request is 16 MB).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// An error DynamoDB answers, as the real service sends it (awsJson1_0: the type in the body's
/// `__type` and in `x-amzn-ErrorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DynamoError {
    /// 400, on-demand tables over their capacity.
    Throttling,
    /// 400, provisioned tables over their capacity.
    ProvisionedThroughputExceeded,
    /// 500.
    InternalServerError,
}

impl DynamoError {
    pub fn status(self) -> StatusCode {
        match self {
            Self::Throttling | Self::ProvisionedThroughputExceeded => StatusCode::BAD_REQUEST,
            Self::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error's shape name, as the SDK reports it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Throttling => "ThrottlingException",
            Self::ProvisionedThroughputExceeded => "ProvisionedThroughputExceededException",
            Self::InternalServerError => "InternalServerError",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::Throttling => {
                "Throughput exceeds the current capacity of your table or index. DynamoDB is \
                 automatically scaling your table or index so please try again shortly."
            }
            Self::ProvisionedThroughputExceeded => {
                "The level of configured provisioned throughput for the table was exceeded. \
                 Consider increasing your provisioning level with the UpdateTable API."
            }
            Self::InternalServerError => "Internal server error",
        }
    }

    fn response(self) -> Response {
        let body = serde_json::json!({
            "__type": format!("com.amazonaws.dynamodb.v20120810#{}", self.name()),
            "message": self.message(),
        })
        .to_string();
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        headers.insert("x-amzn-errortype", HeaderValue::from_static(self.name()));
        headers.insert(
            "x-amzn-requestid",
            HeaderValue::from_static("FAULTPROXY0000000000000000000000000000000000000000"),
        );
        response
    }
}

/// Which requests a rule faults, among those it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Times {
    /// The next `n` matching requests.
    Next(u32),
    /// Every matching request.
    Always,
    /// The first attempt of one distinct matching request in `n` (the first, the `n + 1`th,
    /// ...); its retries (the same body again) pass, so a client that retries gets through.
    FirstAttemptOfEvery(u32),
}

/// A fault: which requests, what answer, how often.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The operation (`PutItem`, `UpdateItem`, ... from `X-Amz-Target`; otherwise the URL's
    /// last path segment); `None` matches all.
    pub operation: Option<String>,
    /// Only requests whose body contains this text.
    pub body_contains: Option<String>,
    pub error: DynamoError,
    pub times: Times,
    /// Pass the request on first, then answer the error: the upstream did the work, the
    /// client hears it failed.
    pub after_forwarding: bool,
    /// Distinct requests matched so far, and the bodies faulted (for `FirstAttemptOfEvery`).
    matched: u64,
    faulted_bodies: HashSet<Bytes>,
}

impl Rule {
    pub fn new(operation: Option<&str>, error: DynamoError, times: Times) -> Self {
        Self {
            operation: operation.map(str::to_owned),
            body_contains: None,
            error,
            times,
            after_forwarding: false,
            matched: 0,
            faulted_bodies: HashSet::new(),
        }
    }

    /// Only requests whose body contains `text`.
    pub fn when_body_contains(mut self, text: &str) -> Self {
        self.body_contains = Some(text.to_owned());
        self
    }

    /// Fails the request only after passing it on (the write done, the answer an error).
    pub fn after_forwarding(mut self) -> Self {
        self.after_forwarding = true;
        self
    }

    fn matches(&self, operation: &str, body: &[u8]) -> bool {
        self.operation.as_deref().is_none_or(|o| o == operation)
            && self.body_contains.as_deref().is_none_or(|text| {
                body.windows(text.len().max(1))
                    .any(|window| window == text.as_bytes())
            })
    }

    /// Whether this request is faulted, using up counted faults.
    fn decide(&mut self, body: &Bytes) -> bool {
        match &mut self.times {
            Times::Always => true,
            Times::Next(0) => false,
            Times::Next(n) => {
                *n -= 1;
                true
            }
            Times::FirstAttemptOfEvery(n) => {
                if self.faulted_bodies.contains(body) {
                    return false;
                }
                let fault = self.matched.is_multiple_of(u64::from((*n).max(1)));
                self.matched += 1;
                if fault {
                    self.faulted_bodies.insert(body.clone());
                }
                fault
            }
        }
    }
}

/// One request the proxy saw and what it answered.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub operation: String,
    pub request_body: Bytes,
    pub status: u16,
    pub response_body: Bytes,
    /// The error the proxy answered itself, if it did.
    pub faulted: Option<DynamoError>,
    /// When it was answered, by the proxy's clock (see [`FaultProxy::set_clock`]); 0 without one.
    pub at: i64,
}

/// Unix seconds, for stamping exchanges (a test passes its sandbox's clock).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

struct Inner {
    upstream: String,
    client: reqwest::Client,
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Exchange>>,
    clock: Mutex<Option<Clock>>,
}

/// A running proxy; dropping it stops it.
pub struct FaultProxy {
    inner: Arc<Inner>,
    base_url: String,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Listens on a free loopback port and passes everything on to `upstream`
    /// (`http://127.0.0.1:PORT`) until told otherwise.
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(std::io::Error::other)?,
            rules: Mutex::default(),
            log: Mutex::default(),
            clock: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr: SocketAddr = listener.local_addr()?;
        let shared = Arc::clone(&inner);
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let inner = Arc::clone(&shared);
            async move { inner.handle(request).await }
        });
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the fault proxy stopped");
            }
        });
        Ok(Self {
            inner,
            base_url: format!("http://{addr}"),
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn add_rule(&self, rule: Rule) {
        self.inner.rules.lock().expect("rules lock").push(rule);
    }

    /// Stamps each exchange with `clock`'s time.
    pub fn set_clock(&self, clock: Clock) {
        *self.inner.clock.lock().expect("clock lock") = Some(clock);
    }

    pub fn clear_rules(&self) {
        self.inner.rules.lock().expect("rules lock").clear();
    }

    /// Every exchange so far, oldest first.
    pub fn log(&self) -> Vec<Exchange> {
        self.inner.log.lock().expect("log lock").clone()
    }

    pub fn clear_log(&self) {
        self.inner.log.lock().expect("log lock").clear();
    }
}

impl Inner {
    async fn handle(&self, request: axum::extract::Request) -> Response {
        let (parts, body) = request.into_parts();
        let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "too large").into_response(),
        };
        let operation = operation_of(&parts.headers, parts.uri.path());
        let fault = {
            let mut rules = self.rules.lock().expect("rules lock");
            rules
                .iter_mut()
                .filter(|rule| rule.matches(&operation, &body))
                .find_map(|rule| {
                    rule.decide(&body)
                        .then_some((rule.error, rule.after_forwarding))
                })
        };
        let response = match fault {
            Some((error, true)) => {
                drop(self.forward(parts, body.clone()).await);
                error.response()
            }
            Some((error, false)) => error.response(),
            None => self.forward(parts, body.clone()).await,
        };
        let fault = fault.map(|(error, _)| error);
        // Buffer the answer to log it; the client gets the same bytes.
        let (parts_out, body_out) = response.into_parts();
        let response_body = axum::body::to_bytes(body_out, MAX_BODY_BYTES)
            .await
            .unwrap_or_default();
        let at = self
            .clock
            .lock()
            .expect("clock lock")
            .as_ref()
            .map_or(0, |clock| clock());
        self.log.lock().expect("log lock").push(Exchange {
            operation,
            request_body: body,
            status: parts_out.status.as_u16(),
            response_body: response_body.clone(),
            faulted: fault,
            at,
        });
        Response::from_parts(parts_out, Body::from(response_body))
    }

    async fn forward(&self, parts: axum::http::request::Parts, body: Bytes) -> Response {
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = self
            .client
            .request(parts.method, format!("{}{path_and_query}", self.upstream))
            .body(body);
        for (name, value) in &parts.headers {
            if !is_hop_by_hop(name) {
                request = request.header(name, value);
            }
        }
        let answer = match request.send().await {
            Ok(answer) => answer,
            Err(error) => {
                return (StatusCode::BAD_GATEWAY, format!("upstream: {error}")).into_response();
            }
        };
        let status = answer.status();
        let headers = answer.headers().clone();
        let bytes = answer.bytes().await.unwrap_or_default();
        let mut response = (status, bytes).into_response();
        for (name, value) in &headers {
            if !is_hop_by_hop(name) {
                response.headers_mut().insert(name, value.clone());
            }
        }
        response
    }
}

/// DynamoDB names the operation in `X-Amz-Target` (`DynamoDB_20120810.PutItem`); WeChat's
/// APIs in the path (`/cgi-bin/component/api_query_auth`).
fn operation_of(headers: &HeaderMap, path: &str) -> String {
    headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .map_or_else(
            || path.rsplit('/').next().unwrap_or_default().to_owned(),
            str::to_owned,
        )
}

/// Headers that describe one connection, not the message; `host` is kept (the request's
/// signature covers it).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "upgrade"
    )
}
