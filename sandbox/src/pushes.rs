//! Pushes to the platform's authorization event URL, encrypted and signed like WeChat's, retried
//! like WeChat's when the answer is not `success` in time, and recorded.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use wxopen_crypto::MessageCrypto;

use super::random;
use super::state::{FastRegistration, Grant, Ticket};

/// What a push says, before it is encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushMessage {
    Ticket(Ticket),
    /// `authorized` or `updateauthorized`, per the grant's `info_type`.
    Authorization(Grant),
    Unauthorized {
        authorizer_appid: String,
        create_time: i64,
    },
    /// `notify_third_fasteregister`: how a fast registration (快速注册) of a mini program ended.
    FastRegistration(FastRegistration),
}

impl PushMessage {
    pub fn info_type(&self) -> &str {
        match self {
            Self::Ticket(_) => "component_verify_ticket",
            Self::Authorization(grant) => &grant.info_type,
            Self::Unauthorized { .. } => "unauthorized",
            Self::FastRegistration(_) => "notify_third_fasteregister",
        }
    }

    pub fn create_time(&self) -> i64 {
        match self {
            Self::Ticket(t) => t.create_time,
            Self::Authorization(g) => g.create_time,
            Self::Unauthorized { create_time, .. } => *create_time,
            Self::FastRegistration(r) => r.create_time,
        }
    }

    pub fn authorizer_appid(&self) -> Option<&str> {
        match self {
            Self::Ticket(_) => None,
            Self::Authorization(g) => Some(&g.authorizer_appid),
            Self::Unauthorized {
                authorizer_appid, ..
            } => Some(authorizer_appid),
            Self::FastRegistration(r) => (!r.appid.is_empty()).then_some(r.appid.as_str()),
        }
    }

    /// The decrypted XML, field for field as in WeChat's documentation.
    pub fn xml(&self, component_appid: &str) -> String {
        let head = format!(
            "<xml><AppId><![CDATA[{component_appid}]]></AppId><CreateTime>{}</CreateTime>\
             <InfoType><![CDATA[{}]]></InfoType>",
            self.create_time(),
            self.info_type()
        );
        let body = match self {
            Self::Ticket(t) => format!(
                "<ComponentVerifyTicket><![CDATA[{}]]></ComponentVerifyTicket>",
                t.ticket
            ),
            Self::Authorization(g) => format!(
                "<AuthorizerAppid><![CDATA[{}]]></AuthorizerAppid>\
                 <AuthorizationCode><![CDATA[{}]]></AuthorizationCode>\
                 <AuthorizationCodeExpiredTime>{}</AuthorizationCodeExpiredTime>\
                 <PreAuthCode><![CDATA[{}]]></PreAuthCode>",
                g.authorizer_appid,
                g.authorization_code,
                g.expires_at,
                g.pre_auth_code.as_deref().unwrap_or_default()
            ),
            Self::Unauthorized {
                authorizer_appid, ..
            } => format!("<AuthorizerAppid><![CDATA[{authorizer_appid}]]></AuthorizerAppid>"),
            Self::FastRegistration(r) => {
                let i = &r.info;
                format!(
                    "<appid><![CDATA[{}]]></appid><status>{}</status>\
                     <auth_code><![CDATA[{}]]></auth_code><msg><![CDATA[{}]]></msg>\
                     <info><name><![CDATA[{}]]></name><code><![CDATA[{}]]></code>\
                     <code_type>{}</code_type>\
                     <legal_persona_wechat><![CDATA[{}]]></legal_persona_wechat>\
                     <legal_persona_name><![CDATA[{}]]></legal_persona_name>\
                     <component_phone><![CDATA[{}]]></component_phone></info>",
                    r.appid,
                    r.status,
                    r.auth_code.as_deref().unwrap_or_default(),
                    r.msg,
                    i.name,
                    i.code,
                    i.code_type,
                    i.legal_persona_wechat,
                    i.legal_persona_name,
                    i.component_phone
                )
            }
        };
        format!("{head}{body}</xml>")
    }
}

/// One delivery attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    pub body: Option<String>,
    /// Why there was no answer (timeout, connection refused).
    pub error: Option<String>,
}

/// A push as delivered: what was sent and what each attempt got back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRecord {
    /// In the order pushes finished.
    pub id: u64,
    pub info_type: String,
    pub authorizer_appid: Option<String>,
    pub create_time: i64,
    pub url: String,
    /// The decrypted message (it holds credentials: tickets, codes).
    pub xml: String,
    /// Whether an attempt was answered `success` in time.
    pub success: bool,
    pub attempts: u32,
    /// The last attempt's status and body.
    pub status: Option<u16>,
    pub body: Option<String>,
    pub history: Vec<Attempt>,
}

/// How pushes are delivered.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// WeChat waits 5 s for `success`.
    pub timeout: Duration,
    /// WeChat retries up to 3 times.
    pub retries: u32,
    pub retry_delay: Duration,
}

/// Delivers pushes and keeps their records.
pub struct Pusher {
    client: reqwest::Client,
    crypto: MessageCrypto,
    delivery: Delivery,
    records: Mutex<Vec<PushRecord>>,
    finished: watch::Sender<usize>,
    next_id: AtomicU64,
}

/// The records hold tickets and codes: Debug shows how many.
impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("crypto", &self.crypto)
            .field("delivery", &self.delivery)
            .field(
                "records",
                &self.records.lock().map(|r| r.len()).unwrap_or(0),
            )
            .finish_non_exhaustive()
    }
}

impl Pusher {
    pub fn new(crypto: MessageCrypto, delivery: Delivery) -> Self {
        let client = reqwest::Client::builder()
            .timeout(delivery.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Mozilla/4.0")
            .build()
            .expect("a plain HTTP client builds");
        Self {
            client,
            crypto,
            delivery,
            records: Mutex::new(Vec::new()),
            finished: watch::Sender::new(0),
            next_id: AtomicU64::new(1),
        }
    }

    /// Encrypts, signs and delivers one push, retrying as WeChat does; `now` stamps the URL.
    pub async fn deliver(&self, url: &str, message: &PushMessage, now: i64) -> PushRecord {
        let xml = message.xml(self.crypto.appid());
        let encrypt = self.crypto.encrypt(&xml);
        let timestamp = now.to_string();
        let nonce = random::nonce();
        let msg_signature = self.crypto.signature(&timestamp, &nonce, &encrypt);
        let body = format!(
            "<xml><AppId><![CDATA[{}]]></AppId><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>",
            self.crypto.appid()
        );
        // The plain `signature` covers token, timestamp and nonce only (WeChat sends both).
        let signature = self.crypto.signature(&timestamp, &nonce, "");
        let query = [
            ("signature", signature.as_str()),
            ("timestamp", timestamp.as_str()),
            ("nonce", nonce.as_str()),
            ("encrypt_type", "aes"),
            ("msg_signature", msg_signature.as_str()),
        ];

        // A retry resends the very same request, as WeChat does.
        let mut history = Vec::new();
        for attempt in 0..=self.delivery.retries {
            if attempt > 0 {
                tokio::time::sleep(self.delivery.retry_delay).await;
            }
            let outcome = self.attempt(url, &query, &body).await;
            let ok = outcome.status.is_some_and(|s| (200..300).contains(&s))
                && outcome.body.as_deref().map(str::trim) == Some("success");
            history.push(outcome);
            if ok {
                break;
            }
        }
        let last = history.last().cloned().expect("at least one attempt");
        let success = last.status.is_some_and(|s| (200..300).contains(&s))
            && last.body.as_deref().map(str::trim) == Some("success");
        if success {
            tracing::info!(
                info_type = message.info_type(),
                attempts = history.len(),
                "push answered success"
            );
        } else {
            tracing::warn!(
                info_type = message.info_type(),
                attempts = history.len(),
                status = last.status,
                error = last.error.as_deref(),
                "push not answered success"
            );
        }
        let record = PushRecord {
            id: self.next_id.fetch_add(1, Ordering::SeqCst),
            info_type: message.info_type().to_owned(),
            authorizer_appid: message.authorizer_appid().map(str::to_owned),
            create_time: message.create_time(),
            url: url.to_owned(),
            xml,
            success,
            attempts: history.len() as u32,
            status: last.status,
            body: last.body,
            history,
        };
        let count = {
            let mut records = self.records.lock().expect("records lock");
            records.push(record.clone());
            records.len()
        };
        self.finished.send_replace(count);
        record
    }

    async fn attempt(&self, url: &str, query: &[(&str, &str)], body: &str) -> Attempt {
        let sent = self
            .client
            .post(url)
            .query(query)
            .header("content-type", "text/xml")
            .body(body.to_owned())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return failed(error),
        };
        let status = response.status().as_u16();
        match response.text().await {
            Ok(text) => Attempt {
                status: Some(status),
                body: Some(text),
                error: None,
            },
            Err(error) => Attempt {
                status: Some(status),
                ..failed(error)
            },
        }
    }

    pub fn records(&self) -> Vec<PushRecord> {
        self.records.lock().expect("records lock").clone()
    }

    /// Waits (at most `limit`) until at least `count` pushes have finished.
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Option<Vec<PushRecord>> {
        let mut finished = self.finished.subscribe();
        tokio::time::timeout(limit, finished.wait_for(|n| *n >= count))
            .await
            .ok()?
            .ok()?;
        Some(self.records())
    }
}

fn failed(error: reqwest::Error) -> Attempt {
    let reason = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        // Without the URL: it carries the signature parameters.
        error.without_url().to_string()
    };
    Attempt {
        status: None,
        body: None,
        error: Some(reason),
    }
}
