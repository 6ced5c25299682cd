//! The WeChat sandbox: a real HTTP server on loopback that behaves toward this service the way
//! WeChat's Open Platform does (docs/protocol.md): the component APIs and their rules, the
//! authorization pages with the Referer rule, encrypted pushes to the event URL with WeChat's retries, and
//! faults on demand. Tests start it in-process ([`Sandbox::start`]); developers run the
//! `wechat-sandbox` binary. See docs/sandbox.md.
//!
//! One module per concept: [`accounts`] (the simulated authorizers), [`state`] (what WeChat
//! remembers and its rules), [`component_api`] (`/cgi-bin/component/...`), [`pages`] (the
//! authorization pages), [`pushes`] (deliveries to the event URL), [`custom_api`] (the
//! customer-service message API), [`release_check`] (全网发布, run against the message URL),
//! [`faults`] and [`calls`] (injected errors and counters), [`control`] (`/sandbox/...`),
//! [`clock`] (controllable time), [`users`] (the people logging in: openid and unionid),
//! [`user_codes`] (their single-use codes), [`miniprogram_api`] (`jscode2session`), [`jssdk`]
//! (`getticket` and the `wx.config` check), [`oauth`] (web login on behalf of official accounts).

pub mod accounts;
pub mod calls;
pub mod clock;
pub mod component_api;
pub mod control;
pub mod custom_api;
pub mod defaults;
pub mod errors;
pub mod faults;
pub mod jssdk;
pub mod miniprogram_api;
pub mod oauth;
pub mod pages;
pub mod pushes;
pub mod random;
pub mod release_check;
pub mod state;
pub mod user_codes;
pub mod users;
pub mod xml;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use wxopen_crypto::{CryptoError, MessageCrypto};

pub use accounts::{Account, AccountKind};
pub use calls::Calls;
pub use custom_api::CustomMessage;
pub use errors::{ErrorBody, WxError};
pub use faults::{ALL_APIS, Fault};
pub use pushes::{Attempt, PushRecord};
pub use release_check::{CaseResult, ReleaseCheckReport};
pub use state::{AccountStatus, FastRegistration, Grant, RegistrationInfo, Ticket};

use clock::Clock;
use faults::Faults;
use pushes::{Delivery, PushMessage, Pusher};
use state::{Rules, State};

/// The component APIs, by the name tests and counters use (the last path segment).
pub const APIS: [&str; 7] = [
    "api_component_token",
    "api_create_preauthcode",
    "api_query_auth",
    "api_authorizer_token",
    "api_get_authorizer_info",
    "api_get_authorizer_list",
    "api_start_push_ticket",
];

/// How long [`Sandbox::wait_for_pushes`] waits at most.
pub const PUSH_WAIT_LIMIT: Duration = Duration::from_secs(30);

/// The sandbox's settings. Defaults: the platform of [`defaults`] and WeChat's
/// own numbers. In a config file durations are seconds (`ticket_interval_secs: 600`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Loopback port to listen on; 0 picks a free one.
    pub port: u16,
    pub component_appid: String,
    pub component_appsecret: String,
    /// The message token and EncodingAESKey pushes are signed and encrypted with.
    pub token: String,
    pub encoding_aes_key: String,
    /// The platform's 授权事件接收URL; no pushes are sent while it is unset.
    pub event_url: Option<String>,
    /// The platform's 消息与事件接收URL, with `$APPID$` where the account's appid goes: the
    /// release check's default target.
    pub message_url: Option<String>,
    /// A ticket is pushed this often (WeChat: every 10 minutes); zero: only on demand.
    #[serde(rename = "ticket_interval_secs", with = "secs")]
    pub ticket_interval: Duration,
    #[serde(rename = "ticket_ttl_secs", with = "secs")]
    pub ticket_ttl: Duration,
    #[serde(rename = "component_token_ttl_secs", with = "secs")]
    pub component_token_ttl: Duration,
    /// How long a component token keeps working after a newer one was issued.
    #[serde(rename = "component_token_grace_secs", with = "secs")]
    pub component_token_grace: Duration,
    #[serde(rename = "authorizer_token_ttl_secs", with = "secs")]
    pub authorizer_token_ttl: Duration,
    #[serde(rename = "pre_auth_code_ttl_secs", with = "secs")]
    pub pre_auth_code_ttl: Duration,
    /// How long an authorization code can be exchanged (the push's
    /// AuthorizationCodeExpiredTime is CreateTime + this; the redirect always says 600).
    #[serde(rename = "auth_code_ttl_secs", with = "secs")]
    pub auth_code_ttl: Duration,
    /// Whether each `api_authorizer_token` (and `api_query_auth`) hands out a new refresh token.
    pub refresh_token_rotation: bool,
    /// How long a rotated-out refresh token keeps working.
    #[serde(rename = "refresh_token_grace_secs", with = "secs")]
    pub refresh_token_grace: Duration,
    /// The 授权发起页域名: `host` (any port) or `host:port`, compared with the Referer and
    /// the redirect_uri.
    pub auth_domains: Vec<String>,
    /// How long a user's code (wx.login's, the web login's) can be exchanged (WeChat: 5 minutes).
    #[serde(rename = "user_code_ttl_secs", with = "secs")]
    pub user_code_ttl: Duration,
    #[serde(rename = "jsapi_ticket_ttl_secs", with = "secs")]
    pub jsapi_ticket_ttl: Duration,
    /// The platform's 网页开发域名, `host` or `host:port` as `auth_domains`: the JS-SDK safe
    /// domain of every account it acts for, so pages calling `wx.config` must be on it.
    pub web_domains: Vec<String>,
    /// WeChat waits this long for `success`.
    #[serde(rename = "push_timeout_secs", with = "secs")]
    pub push_timeout: Duration,
    pub push_retries: u32,
    #[serde(rename = "push_retry_delay_secs", with = "secs")]
    pub push_retry_delay: Duration,
    pub accounts: Vec<Account>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            port: 0,
            component_appid: defaults::COMPONENT_APPID.into(),
            component_appsecret: defaults::COMPONENT_APPSECRET.into(),
            token: defaults::TOKEN.into(),
            encoding_aes_key: defaults::ENCODING_AES_KEY.into(),
            event_url: None,
            message_url: None,
            ticket_interval: Duration::from_secs(600),
            ticket_ttl: Duration::from_secs(12 * 3600),
            component_token_ttl: Duration::from_secs(7200),
            component_token_grace: Duration::from_secs(300),
            authorizer_token_ttl: Duration::from_secs(7200),
            pre_auth_code_ttl: Duration::from_secs(1800),
            auth_code_ttl: Duration::from_secs(3600),
            refresh_token_rotation: true,
            refresh_token_grace: Duration::from_secs(300),
            auth_domains: vec!["127.0.0.1".into(), "localhost".into()],
            user_code_ttl: Duration::from_secs(300),
            jsapi_ticket_ttl: Duration::from_secs(7200),
            web_domains: vec!["127.0.0.1".into(), "localhost".into()],
            push_timeout: Duration::from_secs(5),
            push_retries: 3,
            push_retry_delay: Duration::from_secs(1),
            accounts: accounts::builtin(),
        }
    }
}

/// The appsecret, token and key are redacted.
impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("port", &self.port)
            .field("component_appid", &self.component_appid)
            .field("component_appsecret", &"<redacted>")
            .field("token", &"<redacted>")
            .field("encoding_aes_key", &"<redacted>")
            .field("event_url", &self.event_url)
            .field("message_url", &self.message_url)
            .field("ticket_interval", &self.ticket_interval)
            .field("auth_domains", &self.auth_domains)
            .field("web_domains", &self.web_domains)
            .field("refresh_token_rotation", &self.refresh_token_rotation)
            .finish_non_exhaustive()
    }
}

impl SandboxConfig {
    fn rules(&self) -> Rules {
        let s = |d: Duration| d.as_secs() as i64;
        Rules {
            ticket_ttl: s(self.ticket_ttl),
            component_token_ttl: s(self.component_token_ttl),
            component_token_grace: s(self.component_token_grace),
            authorizer_token_ttl: s(self.authorizer_token_ttl),
            pre_auth_code_ttl: s(self.pre_auth_code_ttl),
            auth_code_ttl: s(self.auth_code_ttl),
            refresh_token_rotation: self.refresh_token_rotation,
            refresh_token_grace: s(self.refresh_token_grace),
            user_code_ttl: s(self.user_code_ttl),
            jsapi_ticket_ttl: s(self.jsapi_ticket_ttl),
        }
    }
}

/// Durations as (possibly fractional) seconds in config files and control requests.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("the message token and EncodingAESKey are unusable: {0}")]
    Crypto(#[from] CryptoError),
    #[error("no event URL is set: the sandbox has nowhere to push")]
    NoEventUrl,
    #[error("the sandbox has no account {0}")]
    UnknownAccount(String),
    #[error("account {0} has not authorized the platform")]
    NotAuthorized(String),
    #[error("account {appid} cannot grant permission sets {sets:?}")]
    NoPermissionSets { appid: String, sets: Vec<u32> },
    #[error("fewer than {0} pushes finished in time")]
    PushTimeout(usize),
}

/// A request's query string as a map (WeChat's APIs take their access token there).
fn query_params(query: Option<String>) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// What the server's handlers share.
#[derive(Debug)]
pub struct Shared {
    config: SandboxConfig,
    clock: Clock,
    state: Mutex<State>,
    faults: Mutex<Faults>,
    calls: Mutex<Calls>,
    event_url: Mutex<Option<String>>,
    message_url: Mutex<Option<String>>,
    pusher: Pusher,
    /// Signs and encrypts the release check's messages.
    crypto: MessageCrypto,
    custom_messages: Mutex<Vec<CustomMessage>>,
    users: Mutex<users::Users>,
    oauth: Mutex<oauth::Logins>,
}

impl Shared {
    fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        let crypto = MessageCrypto::new(
            config.token.clone(),
            &config.encoding_aes_key,
            config.component_appid.clone(),
        )?;
        let clock = Clock::default();
        let mut state = State::new(config.rules(), config.accounts.clone());
        state.issue_ticket(clock.now());
        let pusher = Pusher::new(
            crypto.clone(),
            Delivery {
                timeout: config.push_timeout,
                retries: config.push_retries,
                retry_delay: config.push_retry_delay,
            },
        );
        Ok(Self {
            event_url: Mutex::new(config.event_url.clone()),
            message_url: Mutex::new(config.message_url.clone()),
            config,
            clock,
            state: Mutex::new(state),
            faults: Mutex::default(),
            calls: Mutex::default(),
            pusher,
            crypto,
            custom_messages: Mutex::default(),
            users: Mutex::default(),
            oauth: Mutex::default(),
        })
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("sandbox state lock")
    }

    fn record_call(&self, api: &str, authorizer_appid: Option<&str>) {
        self.calls
            .lock()
            .expect("calls lock")
            .record(api, authorizer_appid);
    }

    /// Applies the faults set for `api`: waits out any latency, and answers for the API when
    /// a hang or an error is injected (`Err`). Otherwise the call is handled, and its answer
    /// held back for the returned delay, if any (the work done, the answer late).
    async fn injected(&self, api: &str) -> Result<Option<Duration>, axum::response::Response> {
        use axum::response::IntoResponse;
        let plan = self.faults.lock().expect("faults lock").on_call(api);
        if !plan.latency.is_zero() {
            tokio::time::sleep(plan.latency).await;
        }
        if let Some(hang) = plan.hang {
            tokio::time::sleep(hang).await;
            tracing::info!(api, errcode = -1, "API call hung (injected)");
            return Err(axum::Json(WxError::SystemBusy.body()).into_response());
        }
        if let Some(error) = plan.error {
            tracing::info!(api, errcode = error.errcode(), "API call failed (injected)");
            return Err(axum::Json(error.body()).into_response());
        }
        Ok(plan.late)
    }

    /// Which accounts give unionids ([`users`]).
    pub fn users(&self) -> MutexGuard<'_, users::Users> {
        self.users.lock().expect("users lock")
    }

    fn oauth(&self) -> MutexGuard<'_, oauth::Logins> {
        self.oauth.lock().expect("web login lock")
    }

    fn custom_messages(&self) -> MutexGuard<'_, Vec<CustomMessage>> {
        self.custom_messages.lock().expect("custom messages lock")
    }

    fn message_url(&self) -> Option<String> {
        self.message_url.lock().expect("message url lock").clone()
    }

    fn event_url(&self) -> Option<String> {
        self.event_url.lock().expect("event url lock").clone()
    }

    /// Delivers a push to the event URL, if one is set.
    async fn push(&self, message: PushMessage) -> Option<PushRecord> {
        let url = self.event_url()?;
        Some(self.pusher.deliver(&url, &message, self.now()).await)
    }

    /// Issues a new ticket and pushes it, if an event URL is set.
    async fn push_new_ticket(&self) -> Option<PushRecord> {
        self.event_url()?;
        let ticket = self.state().issue_ticket(self.now());
        self.push(PushMessage::Ticket(ticket)).await
    }

    /// Pushes in the background, as WeChat does after an authorization page is confirmed.
    fn spawn_push(self: &Arc<Self>, message: PushMessage) {
        let shared = Arc::clone(self);
        tokio::spawn(async move { shared.push(message).await });
    }

    fn spawn_ticket_push(self: &Arc<Self>) {
        let shared = Arc::clone(self);
        tokio::spawn(async move { shared.push_new_ticket().await });
    }

    /// Grants `appid`'s authorization: the permission sets are those asked for that the
    /// account can grant (all of them when `None`).
    fn grant(
        &self,
        appid: &str,
        func_info: Option<&[u32]>,
        pre_auth_code: Option<&str>,
    ) -> Result<Grant, GrantError> {
        let mut state = self.state();
        let account = state
            .account(appid)
            .ok_or_else(|| SandboxError::UnknownAccount(appid.to_owned()))?;
        let sets: Vec<u32> = match func_info {
            None => account.func_info.clone(),
            Some(asked) => account
                .func_info
                .iter()
                .copied()
                .filter(|id| asked.contains(id))
                .collect(),
        };
        if sets.is_empty() {
            return Err(SandboxError::NoPermissionSets {
                appid: appid.to_owned(),
                sets: func_info.unwrap_or_default().to_vec(),
            }
            .into());
        }
        Ok(state.grant(appid, sets, pre_auth_code, self.now())?)
    }

    /// The account withdraws its authorization; WeChat pushes `unauthorized`.
    async fn withdraw(&self, appid: &str) -> Result<Option<PushRecord>, SandboxError> {
        {
            let mut state = self.state();
            if state.account(appid).is_none() {
                return Err(SandboxError::UnknownAccount(appid.to_owned()));
            }
            if !state.withdraw(appid) {
                return Err(SandboxError::NotAuthorized(appid.to_owned()));
            }
        }
        Ok(self
            .push(PushMessage::Unauthorized {
                authorizer_appid: appid.to_owned(),
                create_time: self.now(),
            })
            .await)
    }
}

/// Why a grant failed: a sandbox-level reason or the pre-auth code.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    PreAuthCode(#[from] state::PreAuthCodeError),
}

/// An authorization made through [`Sandbox::authorize`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorized {
    pub grant: Grant,
    /// The `authorized`/`updateauthorized` push, when an event URL is set.
    pub push: Option<PushRecord>,
}

/// A fast registration that ended, and its push.
#[derive(Debug, Clone)]
pub struct FastRegistered {
    pub registration: FastRegistration,
    /// The `notify_third_fasteregister` push, when an event URL is set.
    pub push: Option<PushRecord>,
}

/// A running sandbox. Dropping it stops the server and the ticket schedule.
#[derive(Debug)]
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Sandbox {
    /// Starts the server on 127.0.0.1 (`config.port`, 0 for a free port) and, when the ticket
    /// interval is not zero, the ticket schedule (its first push is immediate).
    pub async fn start(config: SandboxConfig) -> Result<Self, SandboxError> {
        let port = config.port;
        let shared = Arc::new(Shared::new(config)?);
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|source| SandboxError::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { port, source })?;
        let router = axum::Router::new()
            .merge(component_api::routes())
            .merge(custom_api::routes())
            .merge(miniprogram_api::routes())
            .merge(jssdk::routes())
            .merge(pages::routes())
            .merge(oauth::routes())
            .merge(control::routes())
            .with_state(Arc::clone(&shared));
        let mut tasks = vec![tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "the sandbox server stopped");
            }
        })];
        let interval = shared.config.ticket_interval;
        if !interval.is_zero() {
            let shared = Arc::clone(&shared);
            tasks.push(tokio::spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    shared.push_new_ticket().await;
                }
            }));
        }
        Ok(Self {
            shared,
            base_url: format!("http://{addr}"),
            addr,
            tasks,
        })
    }

    /// `http://127.0.0.1:PORT`: WECHAT_API_BASE, WECHAT_MP_BASE and WECHAT_OPEN_BASE at once.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
    }

    /// The sandbox's time, Unix seconds.
    pub fn now(&self) -> i64 {
        self.shared.now()
    }

    /// Moves the sandbox's clock forward, for expiry rules.
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Stops the sandbox's clock (only [`advance`](Self::advance) moves it), for tests of exact
    /// boundaries; `false` lets it run again.
    pub fn freeze_clock(&self, frozen: bool) {
        self.shared.clock.set_frozen(frozen);
    }

    // ----- counters -----

    pub fn calls(&self) -> Calls {
        self.shared.calls.lock().expect("calls lock").clone()
    }

    /// Calls received by one API (`"api_component_token"`, ...).
    pub fn calls_to(&self, api: &str) -> u64 {
        self.shared.calls.lock().expect("calls lock").api(api)
    }

    /// Calls received by one API about one authorizer.
    pub fn calls_for(&self, api: &str, authorizer_appid: &str) -> u64 {
        self.shared
            .calls
            .lock()
            .expect("calls lock")
            .api_for(api, authorizer_appid)
    }

    pub fn reset_calls(&self) {
        *self.shared.calls.lock().expect("calls lock") = Calls::default();
    }

    // ----- faults -----

    pub fn add_fault(&self, fault: Fault) {
        self.shared.faults.lock().expect("faults lock").add(fault);
    }

    /// Every call to `api` (or [`ALL_APIS`]) waits `latency` first.
    pub fn set_latency(&self, api: &str, latency: Duration) {
        self.add_fault(Fault::Latency {
            api: api.into(),
            ms: latency.as_millis() as u64,
        });
    }

    /// The next `calls` calls to `api` answer `errcode` and change nothing.
    pub fn fail_next(&self, api: &str, errcode: i64, calls: u32) {
        self.add_fault(Fault::Errcode {
            api: api.into(),
            errcode,
            next: calls,
        });
    }

    /// Calls to `api` answer `errcode` with probability `rate`.
    pub fn fail_at_rate(&self, api: &str, errcode: i64, rate: f64) {
        self.add_fault(Fault::ErrcodeRate {
            api: api.into(),
            errcode,
            rate,
        });
    }

    /// The next `calls` calls to `api` do their work, then answer only after `delay` (past the
    /// client's timeout: the client never learns what WeChat did).
    pub fn answer_late_next(&self, api: &str, delay: Duration, calls: u32) {
        self.add_fault(Fault::AnswerLate {
            api: api.into(),
            ms: delay.as_millis() as u64,
            next: calls,
        });
    }

    /// The next `calls` calls to `api` hang for `duration` (past the client's timeout).
    pub fn hang_next(&self, api: &str, duration: Duration, calls: u32) {
        self.add_fault(Fault::Hang {
            api: api.into(),
            ms: duration.as_millis() as u64,
            next: calls,
        });
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.shared.faults.lock().expect("faults lock").list()
    }

    pub fn clear_faults(&self) {
        self.shared.faults.lock().expect("faults lock").clear();
    }

    // ----- pushes -----

    /// Issues a new ticket and pushes it now; the record says what the platform answered.
    pub async fn push_ticket(&self) -> Result<PushRecord, SandboxError> {
        self.shared
            .push_new_ticket()
            .await
            .ok_or(SandboxError::NoEventUrl)
    }

    /// Every push that finished (all its attempts), oldest first.
    pub fn pushes(&self) -> Vec<PushRecord> {
        self.shared.pusher.records()
    }

    /// Waits (at most [`PUSH_WAIT_LIMIT`]) until `count` pushes have finished, for pushes sent in
    /// the background (after a confirmation, `api_start_push_ticket`, the schedule).
    pub async fn wait_for_pushes(&self, count: usize) -> Result<Vec<PushRecord>, SandboxError> {
        self.shared
            .pusher
            .wait_for(count, PUSH_WAIT_LIMIT)
            .await
            .ok_or(SandboxError::PushTimeout(count))
    }

    /// The newest ticket (one is issued at start).
    pub fn ticket(&self) -> Ticket {
        self.shared
            .state()
            .current_ticket()
            .expect("a ticket is issued at start")
    }

    pub fn event_url(&self) -> Option<String> {
        self.shared.event_url()
    }

    pub fn set_event_url(&self, url: Option<&str>) {
        *self.shared.event_url.lock().expect("event url lock") = url.map(str::to_owned);
    }

    /// The 消息与事件接收URL the release check defaults to (`$APPID$` where the appid goes).
    pub fn message_url(&self) -> Option<String> {
        self.shared.message_url()
    }

    pub fn set_message_url(&self, url: Option<&str>) {
        *self.shared.message_url.lock().expect("message url lock") = url.map(str::to_owned);
    }

    // ----- accounts -----

    /// The accounts and whether each has authorized the platform.
    pub fn accounts(&self) -> Vec<AccountStatus> {
        self.shared.state().account_statuses()
    }

    /// The refresh token WeChat considers current for `appid` (what `api_get_authorizer_list`
    /// would list), read from the sandbox's state: no call, so no fault can get in the way.
    pub fn current_refresh_token(&self, appid: &str) -> Option<String> {
        self.shared
            .state()
            .current_refresh_token(appid)
            .map(str::to_owned)
    }

    /// An administrator authorizes without going through a page (a shortcut for tests that
    /// need an authorized account); pushes `authorized`/`updateauthorized` and waits for it.
    pub async fn authorize(
        &self,
        appid: &str,
        func_info: Option<&[u32]>,
    ) -> Result<Authorized, SandboxError> {
        let grant = self
            .shared
            .grant(appid, func_info, None)
            .map_err(|e| match e {
                GrantError::Sandbox(e) => e,
                GrantError::PreAuthCode(_) => unreachable!("no pre-auth code was given"),
            })?;
        let push = self
            .shared
            .push(PushMessage::Authorization(grant.clone()))
            .await;
        Ok(Authorized { grant, push })
    }

    /// A fast registration (快速注册) the platform submitted for `info`'s company completes:
    /// WeChat creates a mini program, which has authorized the platform with every permission
    /// set a mini program can grant, and pushes `notify_third_fasteregister` with status 0 and
    /// an authorization code for api_query_auth.
    pub async fn fast_register(
        &self,
        info: RegistrationInfo,
    ) -> Result<FastRegistered, SandboxError> {
        let mut account = accounts::builtin()
            .into_iter()
            .find(|a| a.kind == AccountKind::MiniProgram && a.release_check_group.is_none())
            .expect("a built-in mini program");
        account.appid = random::appid();
        account.info.nick_name = format!("{} 小程序", info.name);
        account.info.principal_name = info.name.clone();
        account.info.user_name = format!("gh_{}", &account.appid[2..14]);
        account.info.alias = String::new();
        let appid = account.appid.clone();
        self.shared.state().add_account(account);
        let grant = self.shared.grant(&appid, None, None).map_err(|e| match e {
            GrantError::Sandbox(e) => e,
            GrantError::PreAuthCode(_) => unreachable!("no pre-auth code was given"),
        })?;
        self.push_fast_registration(FastRegistration {
            appid,
            status: 0,
            auth_code: Some(grant.authorization_code),
            msg: "OK".into(),
            create_time: self.now(),
            info,
        })
        .await
    }

    /// A fast registration fails (`status` is WeChat's reason, e.g. 86004 for a legal
    /// person's WeChat id that is invalid): no mini program, no code.
    pub async fn fast_register_refused(
        &self,
        info: RegistrationInfo,
        status: i64,
        msg: &str,
    ) -> Result<FastRegistered, SandboxError> {
        self.push_fast_registration(FastRegistration {
            appid: String::new(),
            status,
            auth_code: None,
            msg: msg.to_owned(),
            create_time: self.now(),
            info,
        })
        .await
    }

    /// Pushes `registration`'s result; pushed again, it is WeChat's retry of a push whose
    /// answer it did not see.
    pub async fn push_fast_registration(
        &self,
        registration: FastRegistration,
    ) -> Result<FastRegistered, SandboxError> {
        let push = self
            .shared
            .push(PushMessage::FastRegistration(registration.clone()))
            .await;
        Ok(FastRegistered { registration, push })
    }

    /// The administrator of `appid` confirms on the page opened for `pre_auth_code`, without
    /// the page and without pushing: for tests that deliver the `authorized` push themselves
    /// (see [`Self::push_grant`]).
    pub fn confirm_without_push(
        &self,
        appid: &str,
        pre_auth_code: &str,
    ) -> Result<Grant, GrantError> {
        self.shared.grant(appid, None, Some(pre_auth_code))
    }

    /// Pushes the `authorized`/`updateauthorized` event of `grant` to the event URL, now.
    pub async fn push_grant(&self, grant: &Grant) -> Result<PushRecord, SandboxError> {
        self.shared
            .push(PushMessage::Authorization(grant.clone()))
            .await
            .ok_or(SandboxError::NoEventUrl)
    }

    /// Runs WeChat's release check (全网发布) for `groups` (1..=5) against `message_url`
    /// (`$APPID$` where the appid goes), then pushes a ticket to the event URL if one is set.
    pub async fn release_check(&self, message_url: &str, groups: &[u8]) -> ReleaseCheckReport {
        release_check::run(&self.shared, message_url, groups).await
    }

    /// Posts one message (decrypted XML) to `url` as WeChat posts to the message URL:
    /// encrypted, signed, `ToUserName` outside. Returns the answer's status and body.
    pub async fn send_message(
        &self,
        url: &str,
        to_user_name: &str,
        xml: &str,
    ) -> Result<(u16, String), String> {
        let http = reqwest::Client::new();
        release_check::post_message(&self.shared, &http, url, to_user_name, xml).await
    }

    /// The customer-service messages accepted so far, oldest first.
    pub fn custom_messages(&self) -> Vec<CustomMessage> {
        self.shared.custom_messages().clone()
    }

    // ----- users -----

    /// The openid `user` has in account `appid` (what a login to that account gives).
    pub fn user_openid(&self, appid: &str, user: &str) -> String {
        users::openid(appid, user)
    }

    /// `user`'s unionid (what logins to accounts bound to the open platform account give).
    pub fn user_unionid(&self, user: &str) -> String {
        users::unionid(user)
    }

    /// Binds `appid` to the platform's open platform account (the default: its logins carry
    /// unionid) or unbinds it (no unionid).
    pub fn set_open_platform_bound(&self, appid: &str, bound: bool) {
        self.shared.users().set_bound(appid, bound);
    }

    /// The account withdraws its authorization: its tokens stop working (61003) and
    /// `unauthorized` is pushed (the record, when an event URL is set).
    pub async fn withdraw(&self, appid: &str) -> Result<Option<PushRecord>, SandboxError> {
        self.shared.withdraw(appid).await
    }
}
