//! Getting and refreshing tokens, the one place that decides how to react to WeChat's errcodes.
//!
//! - The component token is refreshed by exactly one caller per expiry window, under a lease in
//!   DynamoDB; the others use the current token or wait briefly for the new one.
//! - A token an API refuses (40001 / 40014 / 42001) is replaced only if it is still the stored
//!   one, once, and the call retried once.
//! - An authorizer's refresh token is persisted in the same conditional write as its new access
//!   token, and is recovered from api_get_authorizer_list when WeChat refuses it (61023).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod authorizer;
mod calls;
mod component;
mod exchange;
mod jsapi;
mod leased;
mod reconcile;

pub use calls::jitter;
pub use exchange::ExchangeError;
pub use reconcile::ReconcilePass;

use crate::secrets::SecretCache;
use crate::store::{Store, StoreError};
use crate::wechat::{ErrorKind, Secret, WechatClient, WechatError};
use crate::{SecretError, unix_now};
use component::CachedToken;

/// The knobs of token handling; the defaults follow WeChat's advice (docs/protocol.md,
/// "The component token" and "Scheduled refresh").
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// Refresh a token this long before it expires.
    pub refresh_margin: Duration,
    /// How long a refresh lease is held at most (longer than any refresh can take).
    pub lease: Duration,
    /// How long a caller waits for another's refresh before giving up.
    pub wait_for_refresh: Duration,
    /// A ticket older than this is no longer trusted (WeChat's tickets live 12 h).
    pub ticket_max_age: Duration,
    /// api_start_push_ticket is called at most once per this interval.
    pub ticket_push_interval: Duration,
    /// Retries of a call that failed with -1 or a transport fault.
    pub busy_retries: u32,
    /// The first backoff of those retries; doubled each time, with jitter.
    pub busy_backoff: Duration,
    /// When a refresh fails for another reason, the account is due again after this.
    pub failure_retry: Duration,
    /// How long a component token this process read or fetched is used without reading the
    /// store again (zero: always read it). Keep it well under WeChat's 5 minutes during which
    /// a superseded token still works; a refused one is dropped at once either way.
    pub component_token_cache: Duration,
    /// After WeChat failed a refresh of the component token, nobody tries again for this long
    /// (recorded in the store, so it holds across callers); meanwhile the stored token is used
    /// while it is valid.
    pub component_refresh_backoff: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            refresh_margin: Duration::from_secs(20 * 60),
            lease: Duration::from_secs(60),
            wait_for_refresh: Duration::from_secs(3),
            ticket_max_age: Duration::from_secs(12 * 3600),
            ticket_push_interval: Duration::from_secs(10 * 60),
            busy_retries: 3,
            busy_backoff: Duration::from_millis(200),
            failure_retry: Duration::from_secs(5 * 60),
            component_token_cache: Duration::ZERO,
            component_refresh_backoff: Duration::from_secs(30),
        }
    }
}

/// Why a token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading or writing the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The app secret could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// WeChat refused or did not answer.
    #[error(transparent)]
    Wechat(#[from] WechatError),
    /// No ticket is stored yet.
    #[error("no component_verify_ticket has been pushed yet; WeChat was asked to push one")]
    NoTicket,
    /// The newest ticket is too old to trust (its age in seconds).
    #[error("the newest ticket is {0} s old; WeChat was asked to push a new one")]
    StaleTicket(i64),
    /// Another caller holds the refresh lease and no usable token is stored.
    #[error("another caller is refreshing the token and no valid one is available yet")]
    RefreshInProgress,
    /// The component token could not be refreshed, no valid one is stored, and the next
    /// attempt waits for the backoff (seconds).
    #[error(
        "the component token could not be refreshed and no valid one is stored; next attempt in {retry_in} s"
    )]
    ComponentTokenBackoff {
        /// Seconds until the next attempt.
        retry_in: i64,
    },
    /// The appid has no stored authorizer.
    #[error("authorizer {0} is not stored")]
    UnknownAuthorizer(String),
    /// The authorizer is stored but not authorized (withdrawn, or re-authorization required).
    #[error("authorizer {appid} is {status}")]
    NotAuthorized {
        /// The account.
        appid: String,
        /// Its stored status.
        status: &'static str,
    },
    /// Another caller took the lease before the result was stored (it was not).
    #[error("the refresh of {0} lost its lease before its result was stored")]
    LeaseLost(String),
    /// The persist gate cut the refresh (tests only).
    #[error("the refresh of {0} was cut off before its result was stored")]
    Interrupted(String),
}

impl TokenError {
    /// WeChat's errcode behind the failure, if it came from WeChat.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Wechat(e) => e.errcode(),
            _ => None,
        }
    }

    /// How to react, when the failure came from WeChat.
    pub fn wechat_kind(&self) -> Option<ErrorKind> {
        match self {
            Self::Wechat(e) => Some(e.kind()),
            _ => None,
        }
    }
}

/// What a refresh of one authorizer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizerRefresh {
    /// A new access token is stored.
    Refreshed {
        /// WeChat handed back a refresh token different from the one used.
        rotated: bool,
        /// The refresh token had to be recovered from api_get_authorizer_list first.
        recovered: bool,
    },
    /// Not due, not authorized, or another caller holds its lease.
    Skipped,
    /// WeChat says the account withdrew (61003): marked, tokens dropped.
    Withdrawn,
    /// The refresh token is refused and WeChat no longer lists the account.
    ReauthorizationRequired,
}

/// A hook to simulate a process that dies between WeChat's answer and the store write (the
/// one fault DynamoDB Local and the sandbox cannot produce). Returning false cuts the refresh.
pub type PersistGate = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Where "now" (Unix seconds) comes from instead of the system clock: tests that compress a
/// simulated day run the service on the sandbox's clock, so both sides agree on what expired.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// How long the functions that call WeChat keep a component token in memory (see
/// [`TokenSettings::component_token_cache`]).
pub const COMPONENT_TOKEN_CACHE: Duration = Duration::from_secs(60);

/// Tokens for one platform.
pub struct Tokens {
    /// Where tokens, tickets and accounts are kept.
    pub store: Store,
    /// The WeChat client.
    pub wechat: WechatClient,
    /// The app secret, cached.
    pub secrets: Arc<SecretCache>,
    /// The platform's component appid.
    pub component: String,
    /// The knobs.
    pub settings: TokenSettings,
    owner: String,
    persist_gate: Option<PersistGate>,
    clock: Option<Clock>,
    /// The component token last read or fetched, while `settings.component_token_cache` allows.
    cached_component_token: Mutex<Option<CachedToken>>,
    /// Answers from WeChat in hand and not yet stored (see [`Self::within_budget`]).
    holding: Arc<Holding>,
}

/// Counts the answers from WeChat that are held in memory until their write completes.
#[derive(Debug, Default)]
struct Holding {
    count: AtomicUsize,
    released: tokio::sync::Notify,
}

/// An answer from WeChat that must be stored is in hand: while this lives, a budget does not
/// cut the work (see [`Tokens::within_budget`]).
pub(crate) struct AnswerHold(Arc<Holding>);

impl Drop for AnswerHold {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.released.notify_waiters();
    }
}

/// An access token and when it expires (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The token.
    pub token: Secret,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
}

impl AccessToken {
    fn new(token: &Secret, expires_at: i64) -> Self {
        Self {
            token: token.clone(),
            expires_at,
        }
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("component", &self.component)
            .field("owner", &self.owner)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens on the given parts; a random owner id names this process's leases.
    pub fn new(
        store: Store,
        wechat: WechatClient,
        secrets: Arc<SecretCache>,
        settings: TokenSettings,
    ) -> Self {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).expect("the OS random source is available");
        Self {
            component: wechat.component_appid().to_owned(),
            store,
            wechat,
            secrets,
            settings,
            owner: hex::encode(id),
            persist_gate: None,
            clock: None,
            cached_component_token: Mutex::new(None),
            holding: Arc::default(),
        }
    }

    /// Everything built from the deployment's configuration: once per container.
    pub fn from_config(config: &crate::Config, aws: &aws_config::SdkConfig) -> Self {
        let store = Store::new(aws_sdk_dynamodb::Client::new(aws), &config.table_name);
        let secrets = Arc::new(SecretCache::new(
            aws_sdk_secretsmanager::Client::new(aws),
            &config.secret_id,
            &config.component_appid,
            config.secret_max_age,
        ));
        let wechat = WechatClient::new(
            &config.wechat_api_base,
            &config.component_appid,
            config.wechat_timeout,
        );
        let settings = TokenSettings {
            refresh_margin: config.refresh_margin,
            ..TokenSettings::default()
        };
        Self::new(store, wechat, secrets, settings)
    }

    /// Keeps the component token in memory for [`COMPONENT_TOKEN_CACHE`]: for functions that
    /// call WeChat several times per invocation or per minute. Token vending reads the store
    /// every time, so callers never get a superseded token.
    pub fn caching_component_token(mut self) -> Self {
        self.settings.component_token_cache = COMPONENT_TOKEN_CACHE;
        self
    }

    /// Installs a [`PersistGate`] (fault injection in tests).
    pub fn with_persist_gate(mut self, gate: PersistGate) -> Self {
        self.persist_gate = Some(gate);
        self
    }

    /// Runs on `clock` instead of the system clock (tests that move time).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Unix seconds: the system clock unless [`Self::with_clock`] gave another.
    pub fn now(&self) -> i64 {
        self.clock.as_ref().map_or_else(unix_now, |clock| clock())
    }

    /// Marks an answer from WeChat as held until the returned guard is dropped (after the
    /// write that stores it).
    pub(crate) fn hold_answer(&self) -> AnswerHold {
        self.holding.count.fetch_add(1, Ordering::SeqCst);
        AnswerHold(Arc::clone(&self.holding))
    }

    /// Runs `work` within `budget`. Past the budget no new work is started, but nothing WeChat
    /// answered is dropped: the work goes on only while it holds an answer not yet stored (the
    /// write that keeps it, a few milliseconds), and is then cut. `None` when it was cut.
    pub async fn within_budget<F: Future>(&self, budget: Duration, work: F) -> Option<F::Output> {
        let mut work = std::pin::pin!(work);
        if let Ok(output) = tokio::time::timeout(budget, &mut work).await {
            return Some(output);
        }
        loop {
            let released = self.holding.released.notified();
            let mut released = std::pin::pin!(released);
            released.as_mut().enable();
            if self.holding.count.load(Ordering::SeqCst) == 0 {
                return None;
            }
            tokio::select! {
                output = &mut work => return Some(output),
                () = released => {}
            }
        }
    }

    pub(super) fn margin(&self) -> i64 {
        self.settings.refresh_margin.as_secs() as i64
    }

    pub(super) fn lease(&self) -> i64 {
        self.settings.lease.as_secs() as i64
    }
}
