//! The service's handlers as API Gateway routes them, on one origin: what `wxopen-dev` serves
//! locally and what the integration tests drive over HTTP.

use lambda_http::{Request, Response};

/// The functions behind the HTTP API, built from one configuration.
pub struct App {
    pub link: auth_link::AuthLink,
    pub callback: auth_callback::AuthCallback,
    pub receiver: ticket_receiver::Receiver,
    pub vendor: token_vendor::TokenVendor,
    pub identity: user_identity::UserIdentity,
    /// Local only: the demo of the users' routes ([`crate::demo`]).
    pub demo: crate::demo::Demo,
}

/// The IAM caller the local stand-in for API Gateway reports on token routes and `POST /links` (API Gateway
/// itself verifies the SigV4 signature; nothing local can).
pub const LOCAL_CALLER_ARN: &str = "arn:aws:iam::000000000000:user/local-developer";

impl App {
    pub fn new(config: &wxopen::Config, aws: &aws_config::SdkConfig) -> Self {
        Self {
            link: auth_link::AuthLink::new(config, aws).expect("PUBLIC_BASE_URL is set"),
            callback: auth_callback::AuthCallback::new(config, aws),
            receiver: ticket_receiver::Receiver::new(config, aws),
            vendor: token_vendor::TokenVendor::new(config, aws),
            identity: user_identity::UserIdentity::new(config, aws)
                .expect("PUBLIC_BASE_URL is set"),
            demo: crate::demo::Demo::new(config),
        }
    }

    pub async fn route(
        &self,
        request: Request,
    ) -> Result<Response<lambda_http::Body>, lambda_http::Error> {
        match request.uri().path() {
            "/authorize" => auth_link::handle(&self.link, request).await,
            // Behind IAM in AWS, as the token routes are.
            "/links" => {
                auth_link::handle(&self.link, with_iam_caller(request, LOCAL_CALLER_ARN)).await
            }
            "/authorize/callback" => auth_callback::handle(&self.callback, request).await,
            "/wechat/component/events" => ticket_receiver::handle(&self.receiver, request).await,
            path if path.starts_with("/wechat/authorizers/") => {
                ticket_receiver::handle(&self.receiver, request).await
            }
            path if path.starts_with("/tokens/") => {
                token_vendor::handle(&self.vendor, with_iam_caller(request, LOCAL_CALLER_ARN)).await
            }
            // Authorized accounts' users (public routes).
            "/.well-known/jwks.json" => user_identity::handle(&self.identity, request).await,
            path if ["/miniprogram/", "/jssdk/", "/oauth/"]
                .iter()
                .any(|prefix| path.starts_with(prefix)) =>
            {
                user_identity::handle(&self.identity, request).await
            }
            // Not an API Gateway route: wxopen-dev's demo pages.
            path if path.starts_with(crate::demo::PATH) => Ok(self.demo.handle(request).await),
            // API Gateway answers routes it does not have (a browser's /favicon.ico) itself.
            _ => Ok(Response::builder()
                .status(404)
                .header("content-type", "application/json")
                .body(r#"{"message":"Not Found"}"#.into())
                .unwrap()),
        }
    }
}

/// `request` as API Gateway hands it on after verifying `caller_arn`'s SigV4 signature.
pub fn with_iam_caller(request: Request, caller_arn: &str) -> Request {
    use lambda_http::RequestExt;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::request::RequestContext;
    let context: ApiGatewayV2httpRequestContext = serde_json::from_value(serde_json::json!({
        "http": { "method": request.method().as_str(), "path": request.uri().path() },
        "authorizer": { "iam": { "userArn": caller_arn, "accountId": "000000000000" } },
    }))
    .expect("a well-formed request context");
    request.with_request_context(RequestContext::ApiGatewayV2(context))
}
