//! WeChat's release check (全网发布, docs/protocol.md#the-release-check), run against the platform's message URL: for
//! each test account of the chosen groups, a text message, the `QUERY_AUTH_CODE` flow and an
//! event, then a ticket push to the event URL. Each case passes only on the exact answer WeChat's
//! checker wants.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::accounts::Account;
use super::{Shared, random, xml};

// What WeChat's checker sends and expects, as WeChat documents it (kept here, apart from the
// service's own copies, so that a typo on either side fails the check).
const TEXT_MESSAGE: &str = "TESTCOMPONENT_MSG_TYPE_TEXT";
const TEXT_REPLY: &str = "TESTCOMPONENT_MSG_TYPE_TEXT_callback";
const QUERY_AUTH_CODE_PREFIX: &str = "QUERY_AUTH_CODE:";
const FROM_API_SUFFIX: &str = "_from_api";
const EVENT_REPLY_SUFFIX: &str = "from_callback";

/// The event the check sends (WeChat's checker uses a location report).
pub const CHECK_EVENT: &str = "LOCATION";
/// WeChat waits this long for each answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the customer-service message may take to arrive after the empty answer.
const CUSTOM_MESSAGE_WAIT: Duration = Duration::from_secs(5);

/// One case for one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseResult {
    pub group: u8,
    pub appid: String,
    /// `text`, `query_auth_code`, `event`, or `ticket` (the push to the event URL).
    pub case: String,
    pub passed: bool,
    /// What was wrong, or what was seen.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseCheckReport {
    pub groups: Vec<u8>,
    pub cases: Vec<CaseResult>,
}

impl ReleaseCheckReport {
    pub fn passed(&self) -> bool {
        !self.cases.is_empty() && self.cases.iter().all(|c| c.passed)
    }

    pub fn failures(&self) -> Vec<&CaseResult> {
        self.cases.iter().filter(|c| !c.passed).collect()
    }
}

/// Runs the check for `groups` (1..=5) against `message_url` (with `$APPID$` where the appid
/// goes, as on WeChat's console).
pub async fn run(shared: &Arc<Shared>, message_url: &str, groups: &[u8]) -> ReleaseCheckReport {
    let checker = Checker {
        shared: Arc::clone(shared),
        http: reqwest::Client::builder()
            .timeout(ANSWER_TIMEOUT)
            .build()
            .expect("the HTTP client builds"),
    };
    let accounts: Vec<Account> = shared
        .state()
        .accounts()
        .iter()
        .filter(|a| a.release_check_group.is_some_and(|g| groups.contains(&g)))
        .cloned()
        .collect();
    let mut cases = Vec::new();
    for account in &accounts {
        let url = message_url.replace("$APPID$", &account.appid);
        let openid = format!("o{}", random::string(27));
        for case in ["text", "query_auth_code", "event"] {
            let outcome = match case {
                "text" => checker.text(&url, account, &openid).await,
                "query_auth_code" => checker.query_auth_code(&url, account, &openid).await,
                _ => checker.event(&url, account, &openid).await,
            };
            cases.push(CaseResult {
                group: account.release_check_group.unwrap_or_default(),
                appid: account.appid.clone(),
                case: case.into(),
                passed: outcome.is_ok(),
                detail: outcome.unwrap_or_else(|e| e),
            });
        }
    }
    if shared.event_url().is_some() {
        let record = shared.push_new_ticket().await;
        let passed = record
            .as_ref()
            .is_some_and(|r| r.success && r.attempts == 1);
        cases.push(CaseResult {
            group: 0,
            appid: shared.config.component_appid.clone(),
            case: "ticket".into(),
            passed,
            detail: match record {
                Some(_) if passed => "answered success".into(),
                Some(r) => format!(
                    "answered {:?} {:?} after {} attempts",
                    r.status, r.body, r.attempts
                ),
                None => "no event URL".into(),
            },
        });
    }
    ReleaseCheckReport {
        groups: groups.to_vec(),
        cases,
    }
}

struct Checker {
    shared: Arc<Shared>,
    http: reqwest::Client,
}

/// A case's outcome: what was seen, or what was wrong.
type Outcome = Result<String, String>;

impl Checker {
    async fn send(&self, url: &str, account: &Account, xml: &str) -> Result<(u16, String), String> {
        post_message(&self.shared, &self.http, url, &account.info.user_name, xml).await
    }

    async fn text(&self, url: &str, account: &Account, openid: &str) -> Outcome {
        let xml = message(account, openid, self.shared.now(), "text", TEXT_MESSAGE);
        let (status, body) = self.send(url, account, &xml).await?;
        self.expect_reply(status, &body, account, openid, TEXT_REPLY)
    }

    async fn event(&self, url: &str, account: &Account, openid: &str) -> Outcome {
        let xml = format!(
            "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[{openid}]]>\
             </FromUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
             <Event><![CDATA[{CHECK_EVENT}]]></Event><Latitude>23.137466</Latitude>\
             <Longitude>113.352425</Longitude><Precision>119.385040</Precision></xml>",
            account.info.user_name,
            self.shared.now()
        );
        let (status, body) = self.send(url, account, &xml).await?;
        let want = format!("{CHECK_EVENT}{EVENT_REPLY_SUFFIX}");
        self.expect_reply(status, &body, account, openid, &want)
    }

    async fn query_auth_code(&self, url: &str, account: &Account, openid: &str) -> Outcome {
        // The test account authorizes the platform, as WeChat's checker arranges.
        let grant = self
            .shared
            .grant(&account.appid, None, None)
            .map_err(|e| format!("the sandbox could not authorize the account: {e}"))?;
        let code = grant.authorization_code;
        let content = format!("{QUERY_AUTH_CODE_PREFIX}{code}");
        let xml = message(account, openid, self.shared.now(), "text", &content);
        let (status, body) = self.send(url, account, &xml).await?;
        if status != 200 || !(body.is_empty() || body == "success") {
            return Err(format!(
                "expected an empty answer, got HTTP {status}: {body:.200}"
            ));
        }
        let want = format!("{code}{FROM_API_SUFFIX}");
        let deadline = tokio::time::Instant::now() + CUSTOM_MESSAGE_WAIT;
        loop {
            let sent = self.shared.custom_messages().iter().any(|m| {
                m.authorizer_appid == account.appid && m.touser == openid && m.content == want
            });
            if sent {
                return Ok("customer-service message received".into());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "no customer-service message `$code$_from_api` to {openid} with {}'s token",
                    account.appid
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Checks an encrypted passive reply: signature, decryption, and a text to `openid` from
    /// the account saying exactly `want`.
    fn expect_reply(
        &self,
        status: u16,
        body: &str,
        account: &Account,
        openid: &str,
        want: &str,
    ) -> Outcome {
        if status != 200 {
            return Err(format!("HTTP {status}: {body:.200}"));
        }
        let fields =
            xml::fields(body).map_err(|e| format!("the reply is not XML ({e}): {body:.200}"))?;
        let field = |name: &str| {
            fields
                .get(name)
                .map(str::to_owned)
                .ok_or_else(|| format!("the reply has no {name}"))
        };
        let (encrypt, signature) = (field("Encrypt")?, field("MsgSignature")?);
        let (timestamp, nonce) = (field("TimeStamp")?, field("Nonce")?);
        let crypto = &self.shared.crypto;
        crypto
            .verify_signature(&signature, &timestamp, &nonce, &encrypt)
            .map_err(|e| format!("the reply's signature is wrong: {e}"))?;
        let plain = crypto
            .decrypt(&encrypt)
            .map_err(|e| format!("the reply does not decrypt: {e}"))?;
        let reply = xml::fields(&plain).map_err(|e| format!("the reply's XML: {e}"))?;
        let expect = |name: &str, value: &str| match reply.get(name) {
            Some(v) if v == value => Ok(()),
            other => Err(format!("reply {name} is {other:?}, expected {value:?}")),
        };
        expect("ToUserName", openid)?;
        expect("FromUserName", &account.info.user_name)?;
        expect("MsgType", "text")?;
        expect("Content", want)?;
        Ok(format!("replied {want}"))
    }
}

fn message(account: &Account, openid: &str, now: i64, msg_type: &str, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[{openid}]]>\
         </FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>\
         <Content><![CDATA[{content}]]></Content><MsgId>24{}</MsgId></xml>",
        account.info.user_name,
        random::nonce()
    )
}

/// Encrypts, signs and posts one message as WeChat posts to the message URL; the answer's
/// status and body, or why there was none.
pub async fn post_message(
    shared: &Shared,
    http: &reqwest::Client,
    url: &str,
    to_user_name: &str,
    xml: &str,
) -> Result<(u16, String), String> {
    let crypto = &shared.crypto;
    let encrypt = crypto.encrypt(xml);
    let timestamp = shared.now().to_string();
    let nonce = random::nonce();
    let msg_signature = crypto.signature(&timestamp, &nonce, &encrypt);
    let signature = crypto.signature(&timestamp, &nonce, "");
    let openid = xml::fields(xml)
        .ok()
        .and_then(|f| f.get("FromUserName").map(str::to_owned))
        .unwrap_or_default();
    let body = format!(
        "<xml><ToUserName><![CDATA[{to_user_name}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    );
    let response = http
        .post(url)
        .query(&[
            ("signature", signature.as_str()),
            ("timestamp", timestamp.as_str()),
            ("nonce", nonce.as_str()),
            ("openid", openid.as_str()),
            ("encrypt_type", "aes"),
            ("msg_signature", msg_signature.as_str()),
        ])
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("no answer: {}", e.without_url()))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| format!("unreadable answer: {}", e.without_url()))?;
    Ok((status, text))
}
