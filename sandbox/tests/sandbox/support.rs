//! Fixtures of the sandbox's tests: a small platform that verifies and decrypts pushes and
//! receives the browser's redirect, and a client that drives the sandbox over HTTP.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wechat_sandbox::component_api::{ComponentTokenAnswer, PreAuthCodeAnswer, QueryAuthAnswer};
use wechat_sandbox::defaults::{COMPONENT_APPID, COMPONENT_APPSECRET, ENCODING_AES_KEY, TOKEN};
use wechat_sandbox::xml::{self, Fields};
use wechat_sandbox::{Sandbox, SandboxConfig, WxError};
use wxopen_crypto::MessageCrypto;

pub const PC_PAGE: &str = "/cgi-bin/componentloginpage";

// ----- a platform: receives pushes and the browser's redirect -----

/// How the platform answers the next push.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Success,
    Status(u16, &'static str),
    Hang(Duration),
}

/// A push as the platform received it, verified and decrypted.
#[derive(Debug, Clone)]
pub struct Received {
    pub query: HashMap<String, String>,
    pub push: Push,
}

/// A decrypted push, read the way WeChat documents its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub app_id: String,
    pub create_time: i64,
    pub info: Info,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Info {
    VerifyTicket { ticket: String },
    Authorized(Grant),
    UpdateAuthorized(Grant),
    Unauthorized { authorizer_appid: String },
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub authorizer_appid: String,
    pub authorization_code: String,
    pub authorization_code_expired_time: i64,
    pub pre_auth_code: Option<String>,
}

impl Push {
    fn read(fields: &Fields) -> Result<Self, String> {
        let text = |name: &str| {
            fields
                .get(name)
                .map(str::to_owned)
                .ok_or_else(|| format!("no {name}"))
        };
        let number = |name: &str| -> Result<i64, String> {
            text(name)?
                .parse()
                .map_err(|_| format!("{name} is not a number"))
        };
        let grant = || -> Result<Grant, String> {
            Ok(Grant {
                authorizer_appid: text("AuthorizerAppid")?,
                authorization_code: text("AuthorizationCode")?,
                authorization_code_expired_time: number("AuthorizationCodeExpiredTime")?,
                pre_auth_code: fields.get("PreAuthCode").map(str::to_owned),
            })
        };
        let info = match text("InfoType")?.as_str() {
            "component_verify_ticket" => Info::VerifyTicket {
                ticket: text("ComponentVerifyTicket")?,
            },
            "authorized" => Info::Authorized(grant()?),
            "updateauthorized" => Info::UpdateAuthorized(grant()?),
            "unauthorized" => Info::Unauthorized {
                authorizer_appid: text("AuthorizerAppid")?,
            },
            other => Info::Other(other.to_owned()),
        };
        Ok(Self {
            app_id: text("AppId")?,
            create_time: number("CreateTime")?,
            info,
        })
    }
}

#[derive(Default)]
pub struct PlatformState {
    pub replies: Mutex<VecDeque<Reply>>,
    pub received: Mutex<Vec<Received>>,
    pub refused: Mutex<Vec<String>>,
    pub callbacks: Mutex<Vec<HashMap<String, String>>>,
}

pub struct Platform {
    pub base_url: String,
    pub state: Arc<PlatformState>,
    _task: tokio::task::JoinHandle<()>,
}

impl Platform {
    pub async fn start() -> Self {
        let state = Arc::new(PlatformState::default());
        let app = axum::Router::new()
            .route("/events", post(receive))
            .route("/callback", get(callback))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base_url,
            state,
            _task: task,
        }
    }

    pub fn event_url(&self) -> String {
        format!("{}/events", self.base_url)
    }

    pub fn reply_next(&self, replies: &[Reply]) {
        self.state
            .replies
            .lock()
            .unwrap()
            .extend(replies.iter().cloned());
    }

    pub fn received(&self) -> Vec<Received> {
        assert_eq!(*self.state.refused.lock().unwrap(), Vec::<String>::new());
        self.state.received.lock().unwrap().clone()
    }
}

/// Verifies a push as the ticket receiver does: msg_signature, envelope AppId, decryption.
async fn receive(
    State(state): State<Arc<PlatformState>>,
    RawQuery(query): RawQuery,
    body: String,
) -> (StatusCode, String) {
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let crypto = MessageCrypto::new(TOKEN, ENCODING_AES_KEY, COMPONENT_APPID).unwrap();
    let verified = (|| -> Result<Push, String> {
        let envelope = xml::fields(&body)?;
        if envelope.get("AppId") != Some(COMPONENT_APPID) {
            return Err("envelope AppId".into());
        }
        let encrypt = envelope.get("Encrypt").ok_or("no Encrypt")?;
        if query.get("encrypt_type").map(String::as_str) != Some("aes") {
            return Err("encrypt_type".into());
        }
        let (t, n) = (&query["timestamp"], &query["nonce"]);
        crypto
            .verify_signature(&query["msg_signature"], t, n, encrypt)
            .map_err(|e| e.to_string())?;
        if query["signature"] != crypto.signature(t, n, "") {
            return Err("signature".into());
        }
        let plain = crypto.decrypt(encrypt).map_err(|e| e.to_string())?;
        Push::read(&xml::fields(&plain)?)
    })();
    let push = match verified {
        Ok(push) => push,
        Err(reason) => {
            state.refused.lock().unwrap().push(reason.clone());
            return (StatusCode::FORBIDDEN, reason);
        }
    };
    state
        .received
        .lock()
        .unwrap()
        .push(Received { query, push });
    let reply = state.replies.lock().unwrap().pop_front();
    match reply.unwrap_or(Reply::Success) {
        Reply::Success => (StatusCode::OK, "success".into()),
        Reply::Status(status, body) => (StatusCode::from_u16(status).unwrap(), body.into()),
        Reply::Hang(duration) => {
            tokio::time::sleep(duration).await;
            (StatusCode::OK, "success".into())
        }
    }
}

async fn callback(
    State(state): State<Arc<PlatformState>>,
    RawQuery(query): RawQuery,
) -> &'static str {
    let query = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    state.callbacks.lock().unwrap().push(query);
    "授权成功"
}

// ----- the sandbox, driven over HTTP -----

pub struct Wx {
    pub sandbox: Sandbox,
    pub http: reqwest::Client,
}

pub fn quick_config() -> SandboxConfig {
    SandboxConfig {
        ticket_interval: Duration::ZERO,
        push_retry_delay: Duration::from_millis(20),
        ..SandboxConfig::default()
    }
}

impl Wx {
    pub async fn start() -> Self {
        Self::with(quick_config()).await
    }

    pub async fn with(config: SandboxConfig) -> Self {
        let sandbox = Sandbox::start(config).await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { sandbox, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    /// Calls a component API; the raw JSON answer (always HTTP 200, as WeChat's).
    pub async fn call(&self, api: &str, token: Option<&str>, body: Value) -> Value {
        self.call_raw(api, token, body.to_string()).await
    }

    /// GETs an API taking its parameters in the query (the users' APIs); the raw JSON answer
    /// (HTTP 200, as WeChat's).
    pub async fn get_api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        json_answer(self.http.get(self.url(path)).query(params)).await
    }

    pub async fn call_raw(&self, api: &str, token: Option<&str>, body: String) -> Value {
        let mut request = self
            .http
            .post(self.url(&format!("/cgi-bin/component/{api}")))
            .body(body);
        if let Some(token) = token {
            request = request.query(&[("component_access_token", token)]);
        }
        json_answer(request).await
    }

    pub async fn ok<T: DeserializeOwned>(&self, api: &str, token: Option<&str>, body: Value) -> T {
        let answer = self.call(api, token, body).await;
        assert!(answer.get("errcode").is_none(), "{api}: {answer}");
        serde_json::from_value(answer).unwrap()
    }

    pub async fn errcode(&self, api: &str, token: Option<&str>, body: Value) -> i64 {
        let answer = self.call(api, token, body).await;
        let errmsg = answer["errmsg"].as_str().unwrap();
        let expected = WxError::from_errcode(answer["errcode"].as_i64().unwrap()).to_string();
        assert!(errmsg.starts_with(&format!("{expected} rid: ")), "{answer}");
        answer["errcode"].as_i64().unwrap()
    }

    pub async fn component_token(&self) -> String {
        let answer: ComponentTokenAnswer = self
            .ok(
                "api_component_token",
                None,
                json!({
                    "component_appid": COMPONENT_APPID,
                    "component_appsecret": COMPONENT_APPSECRET,
                    "component_verify_ticket": self.sandbox.ticket().ticket,
                }),
            )
            .await;
        assert_eq!(answer.expires_in, 7200);
        answer.component_access_token
    }

    pub async fn pre_auth_code(&self, token: &str) -> String {
        let answer: PreAuthCodeAnswer = self
            .ok(
                "api_create_preauthcode",
                Some(token),
                json!({ "component_appid": COMPONENT_APPID }),
            )
            .await;
        assert_eq!(answer.expires_in, 1800);
        answer.pre_auth_code
    }

    /// Opens an authorization page as a browser would, with this Referer (or none).
    pub async fn open<Q: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        params: &Q,
        referer: Option<&str>,
    ) -> (StatusCode, String) {
        let mut request = self.http.get(self.url(path)).query(params);
        if let Some(referer) = referer {
            request = request.header("referer", referer);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// Posts the page's form; the answer is the redirect's Location, or the error page.
    pub async fn confirm<F: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        form: &F,
    ) -> Result<String, (StatusCode, String)> {
        let response = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::FOUND {
            Ok(response.headers()["location"].to_str().unwrap().to_owned())
        } else {
            Err((response.status(), response.text().await.unwrap()))
        }
    }

    /// The page walk for one account: pre-auth code, page, confirm; the auth code.
    pub async fn authorize(&self, token: &str, appid: &str) -> String {
        let pre = self.pre_auth_code(token).await;
        let location = self
            .confirm(
                PC_PAGE,
                &[
                    ("component_appid", COMPONENT_APPID),
                    ("pre_auth_code", &pre),
                    ("redirect_uri", "http://127.0.0.1/cb"),
                    ("authorizer_appid", appid),
                ],
            )
            .await
            .unwrap();
        query_of(&location)["auth_code"].clone()
    }

    pub async fn query_auth(&self, token: &str, code: &str) -> QueryAuthAnswer {
        self.ok(
            "api_query_auth",
            Some(token),
            json!({ "component_appid": COMPONENT_APPID, "authorization_code": code }),
        )
        .await
    }

    pub async fn refresh(&self, token: &str, appid: &str, refresh: &str) -> Value {
        self.call(
            "api_authorizer_token",
            Some(token),
            json!({
                "component_appid": COMPONENT_APPID,
                "authorizer_appid": appid,
                "authorizer_refresh_token": refresh,
            }),
        )
        .await
    }

    pub async fn info(&self, token: &str, appid: &str) -> Value {
        self.call(
            "api_get_authorizer_info",
            Some(token),
            json!({ "component_appid": COMPONENT_APPID, "authorizer_appid": appid }),
        )
        .await
    }
}

/// Sends an API call; its JSON answer, which comes with HTTP 200 as WeChat's do.
async fn json_answer(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub fn page_params<'a>(pre: &'a str, redirect_uri: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("component_appid", COMPONENT_APPID),
        ("pre_auth_code", pre),
        ("redirect_uri", redirect_uri),
        ("auth_type", "3"),
    ]
}

pub fn token_body() -> Value {
    json!({
        "component_appid": COMPONENT_APPID,
        "component_appsecret": COMPONENT_APPSECRET,
    })
}
