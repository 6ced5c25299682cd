//! Serves a `lambda_http` handler over plain HTTP on 127.0.0.1, so real HTTP clients (the
//! sandbox's pushes, a browser) reach the very handler Lambda runs.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;

use axum::body::Body as AxumBody;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lambda_http::RequestExt;
use tokio::task::JoinHandle;

/// Bodies larger than this are refused before the handler sees them (Lambda's own limit is 6 MB).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// A running server; dropping it stops the server.
#[derive(Debug)]
pub struct DevServer {
    addr: SocketAddr,
    base_url: String,
    task: JoinHandle<()>,
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DevServer {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Serves `handler` for every method and path on a free loopback port.
pub async fn serve<H, F>(handler: H) -> std::io::Result<DevServer>
where
    H: Fn(lambda_http::Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error>>
        + Send
        + 'static,
{
    serve_on(0, handler).await
}

/// Serves `handler` on 127.0.0.1:`port` (0: a free one).
pub async fn serve_on<H, F>(port: u16, handler: H) -> std::io::Result<DevServer>
where
    H: Fn(lambda_http::Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error>>
        + Send
        + 'static,
{
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let handler = handler.clone();
        async move {
            let request = match to_lambda(request).await {
                Ok(request) => request,
                Err(response) => return response,
            };
            match handler(request).await {
                Ok(response) => from_lambda(response),
                Err(error) => {
                    // What the Lambda runtime reports for a function error.
                    tracing::error!(%error, "the handler failed");
                    (StatusCode::INTERNAL_SERVER_ERROR, "handler error").into_response()
                }
            }
        }
    });
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the dev server stopped");
        }
    });
    Ok(DevServer {
        addr,
        base_url: format!("http://{addr}"),
        task,
    })
}

/// The request as API Gateway hands it over: method, URI, headers, body, and the query
/// string parameters extension handlers read.
pub async fn to_lambda(request: axum::extract::Request) -> Result<lambda_http::Request, Response> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response())?;
    let body = if bytes.is_empty() {
        lambda_http::Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => lambda_http::Body::Text(text),
            Err(error) => lambda_http::Body::Binary(error.into_bytes()),
        }
    };
    let query: HashMap<String, Vec<String>> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .fold(HashMap::new(), |mut map, (k, v)| {
                map.entry(k).or_default().push(v);
                map
            });
    Ok(lambda_http::http::Request::from_parts(parts, body).with_query_string_parameters(query))
}

/// The handler's response as HTTP.
pub fn from_lambda(response: lambda_http::Response<lambda_http::Body>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = body.as_ref().to_vec();
    Response::from_parts(parts, AxumBody::from(bytes))
}
