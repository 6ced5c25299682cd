//! Helpers for tests that run the real handlers against the local services started by
//! `scripts/services.sh` (DynamoDB Local, the Secrets Manager emulator), and the WeChat
//! sandbox ([`sandbox`]) with the adapter that serves a Lambda handler over HTTP ([`dev_server`]),
//! the service they make of our handlers ([`service`]), and a real browser ([`webdriver`]) with
//! the steps of the users demo ([`users_demo`]).

pub mod fault_proxy;
pub mod platform;
pub mod receiver;
pub mod service;
pub mod users_demo;
pub mod webdriver;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt};
use wxopen::{Config, MessageCrypto};

/// The WeChat sandbox, from its own crate.
pub use wechat_sandbox as sandbox;
use wechat_sandbox::Sandbox;
/// WeChat's published sample values, also seeded as the local secret `wxopen/local`.
pub use wechat_sandbox::defaults::{
    COMPONENT_APPID as TEST_COMPONENT_APPID, COMPONENT_APPSECRET as TEST_APPSECRET,
    ENCODING_AES_KEY as TEST_ENCODING_AES_KEY, TOKEN as TEST_TOKEN,
};
/// The local HTTP adapter for Lambda handlers, from the dev crate.
pub use wxopen_dev::server as dev_server;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests with scripts/test.sh, which starts the local services"
        )
    })
}

/// The SDK configured for the local services.
pub async fn aws() -> aws_config::SdkConfig {
    env("AWS_ENDPOINT_URL_DYNAMODB");
    env("AWS_ENDPOINT_URL_SECRETS_MANAGER");
    wxopen::aws::load().await
}

/// A component appid no other test uses, so each test owns its slice of the table.
pub fn unique_appid() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    format!("wx{}", hex::encode(bytes))
}

/// Configuration for `component_appid` against the local table and a secret.
pub fn config(component_appid: &str, secret_id: &str) -> Config {
    let values: HashMap<&str, String> = HashMap::from([
        ("COMPONENT_APPID", component_appid.to_owned()),
        ("TABLE_NAME", env("TABLE_NAME")),
        ("SECRET_ID", secret_id.to_owned()),
        // Nothing listens on the discard port: a test that forgets to point the service at a
        // sandbox fails fast, and never calls the real WeChat.
        ("WECHAT_API_BASE", "http://127.0.0.1:9".to_owned()),
        ("PUBLIC_BASE_URL", "http://127.0.0.1:9".to_owned()),
        ("LINK_SECRET_ID", env("LINK_SECRET_ID")),
        ("IDENTITY_SECRET_ID", env("IDENTITY_SECRET_ID")),
    ]);
    Config::from_lookup(|name| values.get(name).cloned()).unwrap()
}

/// Creates (or overwrites) a secret in the emulator and returns its id.
pub async fn put_secret(
    aws: &aws_config::SdkConfig,
    name: &str,
    token: &str,
    encoding_aes_key: &str,
) -> String {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let value = serde_json::json!({
        "component_appsecret": TEST_APPSECRET,
        "token": token,
        "encoding_aes_key": encoding_aes_key,
    })
    .to_string();
    if client
        .create_secret()
        .name(name)
        .secret_string(&value)
        .send()
        .await
        .is_err()
    {
        client
            .put_secret_value()
            .secret_id(name)
            .secret_string(&value)
            .send()
            .await
            .expect("the Secrets Manager emulator accepts the secret");
    }
    name.to_owned()
}

/// Builds pushes the way WeChat does: encrypted for a component, signed with its token.
#[derive(Debug, Clone)]
pub struct Pusher {
    pub crypto: MessageCrypto,
    /// What the envelope's AppId says (normally the component appid).
    pub envelope_appid: String,
}

/// One push as it reaches the function: query parameters and body.
#[derive(Debug, Clone)]
pub struct Push {
    pub msg_signature: String,
    pub timestamp: String,
    pub nonce: String,
    pub body: String,
}

impl Pusher {
    pub fn new(token: &str, encoding_aes_key: &str, component_appid: &str) -> Self {
        Self {
            crypto: MessageCrypto::new(token, encoding_aes_key, component_appid).unwrap(),
            envelope_appid: component_appid.to_owned(),
        }
    }

    /// Encrypts and signs `xml`, stamped `timestamp`.
    pub fn push(&self, xml: &str, timestamp: i64) -> Push {
        self.push_encrypted(&self.crypto.encrypt(xml), timestamp)
    }

    /// Signs an arbitrary `Encrypt` value (which may be garbage on purpose).
    pub fn push_encrypted(&self, encrypt: &str, timestamp: i64) -> Push {
        let timestamp = timestamp.to_string();
        let nonce = format!("{}", u32::from_be_bytes(random_bytes()));
        Push {
            msg_signature: self.crypto.signature(&timestamp, &nonce, encrypt),
            body: format!(
                "<xml><AppId><![CDATA[{}]]></AppId><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>",
                self.envelope_appid
            ),
            timestamp,
            nonce,
        }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

impl Push {
    /// The request API Gateway would hand the function.
    pub fn request(&self) -> Request {
        self.request_with(&[])
    }

    /// The request with query parameters overridden (`None` removes one).
    pub fn request_with(&self, overrides: &[(&str, Option<&str>)]) -> Request {
        let mut params: Vec<(String, String)> = vec![
            ("signature".into(), "unused-by-safe-mode".into()),
            ("timestamp".into(), self.timestamp.clone()),
            ("nonce".into(), self.nonce.clone()),
            ("encrypt_type".into(), "aes".into()),
            ("msg_signature".into(), self.msg_signature.clone()),
        ];
        for (name, value) in overrides {
            params.retain(|(n, _)| n != name);
            if let Some(value) = value {
                params.push(((*name).into(), (*value).into()));
            }
        }
        request(Method::POST, &params, Body::Text(self.body.clone()))
    }
}

/// An HTTP API request to `/wechat/component/events` with these query parameters.
pub fn request(method: Method, params: &[(String, String)], body: Body) -> Request {
    let query: HashMap<String, Vec<String>> =
        params.iter().fold(HashMap::new(), |mut map, (k, v)| {
            map.entry(k.clone()).or_default().push(v.clone());
            map
        });
    lambda_http::http::Request::builder()
        .method(method)
        .uri("/wechat/component/events")
        .body(body)
        .unwrap()
        .with_query_string_parameters(query)
}

pub fn ticket_xml(component_appid: &str, create_time: i64, ticket: &str) -> String {
    format!(
        "<xml><AppId><![CDATA[{component_appid}]]></AppId><CreateTime>{create_time}</CreateTime>\
         <InfoType><![CDATA[component_verify_ticket]]></InfoType>\
         <ComponentVerifyTicket><![CDATA[{ticket}]]></ComponentVerifyTicket></xml>"
    )
}

pub fn authorization_xml(
    component_appid: &str,
    info_type: &str,
    create_time: i64,
    authorizer_appid: &str,
    code: &str,
    pre_auth_code: &str,
) -> String {
    format!(
        "<xml><AppId><![CDATA[{component_appid}]]></AppId><CreateTime>{create_time}</CreateTime>\
         <InfoType><![CDATA[{info_type}]]></InfoType>\
         <AuthorizerAppid><![CDATA[{authorizer_appid}]]></AuthorizerAppid>\
         <AuthorizationCode><![CDATA[{code}]]></AuthorizationCode>\
         <AuthorizationCodeExpiredTime>{}</AuthorizationCodeExpiredTime>\
         <PreAuthCode><![CDATA[{pre_auth_code}]]></PreAuthCode></xml>",
        create_time + 3600
    )
}

/// Every item stored for a component, for asserting that nothing (or exactly what) changed.
/// A scan is fine here: the local table only ever holds test data.
pub async fn items_of(
    aws: &aws_config::SdkConfig,
    component_appid: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    let client = aws_sdk_dynamodb::Client::new(aws);
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let output = client
            .scan()
            .table_name(env("TABLE_NAME"))
            .filter_expression("begins_with(pk, :c)")
            .expression_attribute_values(":c", AttributeValue::S(component_appid.to_owned()))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .expect("DynamoDB Local answers a scan");
        items.extend(output.items.unwrap_or_default());
        start = output.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    items.sort_by(|a, b| {
        format!("{:?}{:?}", a.get("pk"), a.get("sk")).cmp(&format!(
            "{:?}{:?}",
            b.get("pk"),
            b.get("sk")
        ))
    });
    items
}

/// Stores the sandbox's current ticket for `component`, as the ticket receiver would have after
/// WeChat's push: the steady state tests and benchmarks start from.
pub async fn store_ticket(sandbox: &Sandbox, store: &wxopen::Store, component: &str) {
    let ticket = sandbox.ticket();
    store
        .save_ticket(
            component,
            &ticket.ticket,
            ticket.create_time,
            wxopen::unix_now(),
        )
        .await
        .expect("the ticket is stored");
}

/// Exchanges an authorization code and stores the account, bound to `merchant` when given,
/// without any of the authorization flow's checks (session, state, binding rules): the shortcut
/// that fixtures and benchmarks use to have authorized accounts in the store.
pub async fn store_authorization_unchecked(
    tokens: &wxopen::tokens::Tokens,
    authorization_code: &str,
    merchant: Option<&str>,
) -> Result<wxopen::store::AuthorizerRecord, wxopen::tokens::TokenError> {
    let appid = tokens.exchange_code(authorization_code).await?;
    if let Some(merchant) = merchant {
        tokens
            .store
            .bind_merchant(
                &tokens.component,
                &appid,
                merchant,
                authorization_code,
                false,
                true,
                tokens.now(),
            )
            .await?;
    }
    tokens
        .store
        .authorizer(&tokens.component, &appid)
        .await?
        .ok_or(wxopen::tokens::TokenError::UnknownAuthorizer(appid))
}

/// An SQS client on the local emulator.
pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&aws().await)
}

/// A new queue (FIFO when asked) for one test; its URL.
pub async fn create_queue(client: &aws_sdk_sqs::Client, fifo: bool) -> String {
    let name = format!(
        "messages-{}{}",
        unique_appid(),
        if fifo { ".fifo" } else { "" }
    );
    let mut create = client.create_queue().queue_name(name);
    if fifo {
        create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    create.send().await.unwrap().queue_url.unwrap()
}

/// Every message waiting in the queue, deleted as read: their JSON bodies.
pub async fn receive_all(client: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<serde_json::Value> {
    let mut bodies = Vec::new();
    loop {
        let received = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for message in messages {
            bodies.push(serde_json::from_str(message.body.as_deref().unwrap()).unwrap());
            client
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// A bounded wait, for the few tests that need the clock to move.
pub async fn pause(duration: Duration) {
    tokio::time::sleep(duration).await;
}
