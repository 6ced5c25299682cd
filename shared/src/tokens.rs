//! Getting and refreshing tokens, the one place that decides how to react to WeChat's errcodes.
//!
//! - The component token is refreshed by exactly one caller per expiry window, under a lease in
//!   DynamoDB; the others use the current token or wait briefly for the new one.
//! - A token an API refuses (40001 / 40014 / 42001) is replaced only if it is still the stored
//!   one, once, and the call retried once.
//! - An authorizer's refresh token is persisted in the same conditional write as its new access
//!   token, and is recovered from api_get_authorizer_list when WeChat refuses it (61023).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::secrets::SecretCache;
use crate::store::{
    AuthorizerRecord, AuthorizerStatus, NewAuthorization, RefreshWhen, Store, StoreError,
};
use crate::wechat::{
    AuthorizerInfo, AuthorizerToken, ErrorKind, Secret, WechatClient, WechatError,
};
use crate::{SecretError, unix_now};

/// The knobs of token handling; the defaults follow WeChat's advice (SPEC §2).
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
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Wechat(#[from] WechatError),
    #[error("no component_verify_ticket has been pushed yet; WeChat was asked to push one")]
    NoTicket,
    #[error("the newest ticket is {0} s old; WeChat was asked to push a new one")]
    StaleTicket(i64),
    #[error("another caller is refreshing the token and no valid one is available yet")]
    RefreshInProgress,
    #[error("authorizer {0} is not stored")]
    UnknownAuthorizer(String),
    #[error("authorizer {appid} is {status}")]
    NotAuthorized { appid: String, status: &'static str },
    #[error("the refresh of {0} lost its lease before its result was stored")]
    LeaseLost(String),
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
    pub store: Store,
    pub wechat: WechatClient,
    pub secrets: Arc<SecretCache>,
    pub component: String,
    pub settings: TokenSettings,
    owner: String,
    persist_gate: Option<PersistGate>,
    clock: Option<Clock>,
    /// The component token last read or fetched, while `settings.component_token_cache` allows.
    cached_component_token: Mutex<Option<CachedToken>>,
}

/// An access token and when it expires (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: Secret,
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

/// A component token held in memory, and until when it may be used without the store.
struct CachedToken {
    token: Secret,
    expires_at: i64,
    until: Instant,
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

    fn margin(&self) -> i64 {
        self.settings.refresh_margin.as_secs() as i64
    }

    fn lease(&self) -> i64 {
        self.settings.lease.as_secs() as i64
    }

    // ---- the component token ----

    /// A component token that is not within the refresh margin of expiry, refreshing it if
    /// needed (by this caller only if it wins the lease).
    pub async fn component_access_token(&self) -> Result<Secret, TokenError> {
        Ok(self.component_token_other_than(None).await?.token)
    }

    /// [`Self::component_access_token`] with its expiry, for callers that cache it themselves.
    pub async fn component_access_token_until(&self) -> Result<AccessToken, TokenError> {
        self.component_token_other_than(None).await
    }

    /// Like [`Self::component_access_token`], but `failed` (a token an API just refused) is
    /// replaced rather than returned.
    async fn component_token_other_than(
        &self,
        failed: Option<&str>,
    ) -> Result<AccessToken, TokenError> {
        if let Some(token) = self.cached_component_token(failed) {
            return Ok(token);
        }
        let deadline = Instant::now() + self.settings.wait_for_refresh;
        loop {
            let now = self.now();
            let state = self.store.component_token(&self.component).await?;
            let current = state.as_ref().and_then(|s| {
                let token = s.token.as_ref()?;
                (Some(token.expose()) != failed).then_some((token.clone(), s.expires_at))
            });
            if let Some((token, expires_at)) = &current
                && *expires_at > now + self.margin()
            {
                self.cache_component_token(token, *expires_at);
                return Ok(AccessToken::new(token, *expires_at));
            }
            if let Some(token) = self.refresh_component_token(failed).await? {
                return Ok(token);
            }
            // Someone else holds the lease: their token, or the current one while it lasts.
            if let Some((token, expires_at)) = current
                && expires_at > now + 60
            {
                return Ok(AccessToken::new(&token, expires_at));
            }
            if Instant::now() >= deadline {
                return Err(TokenError::RefreshInProgress);
            }
            tokio::time::sleep(jitter(Duration::from_millis(150))).await;
        }
    }

    /// Refreshes the component token if it is due (or is still `failed`) and this caller wins
    /// the lease. `None` when another caller holds the lease or the token is not due.
    pub async fn refresh_component_token(
        &self,
        failed: Option<&str>,
    ) -> Result<Option<AccessToken>, TokenError> {
        let now = self.now();
        let won = self
            .store
            .acquire_component_lease(
                &self.component,
                &self.owner,
                now,
                now + self.lease(),
                now + self.margin(),
                failed,
            )
            .await?;
        if !won {
            return Ok(None);
        }
        match self.fetch_component_token(now).await {
            Ok((token, expires_in)) => {
                let saved = self
                    .store
                    .save_component_token(
                        &self.component,
                        &self.owner,
                        token.expose(),
                        now,
                        now + expires_in,
                    )
                    .await?;
                if !saved {
                    return Err(TokenError::LeaseLost(self.component.clone()));
                }
                self.cache_component_token(&token, now + expires_in);
                tracing::info!(expires_in, "component token refreshed");
                Ok(Some(AccessToken::new(&token, now + expires_in)))
            }
            Err(error) => {
                self.store
                    .release_component_lease(&self.component, &self.owner)
                    .await?;
                Err(error)
            }
        }
    }

    /// The cached component token, if it is young enough, outside the refresh margin and not
    /// `failed`; a cached token that is `failed` is dropped.
    fn cached_component_token(&self, failed: Option<&str>) -> Option<AccessToken> {
        if self.settings.component_token_cache.is_zero() {
            return None;
        }
        let mut cached = self.cached_component_token.lock().expect("not poisoned");
        let entry = cached.as_ref()?;
        if Some(entry.token.expose()) == failed {
            *cached = None;
            return None;
        }
        (Instant::now() < entry.until && entry.expires_at > self.now() + self.margin())
            .then(|| AccessToken::new(&entry.token, entry.expires_at))
    }

    fn cache_component_token(&self, token: &Secret, expires_at: i64) {
        if self.settings.component_token_cache.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut cached = self.cached_component_token.lock().expect("not poisoned");
        // A caller that read the store just before another stored a newer token must not put
        // the older one back.
        if cached
            .as_ref()
            .is_some_and(|c| now < c.until && c.expires_at > expires_at)
        {
            return;
        }
        *cached = Some(CachedToken {
            token: token.clone(),
            expires_at,
            until: now + self.settings.component_token_cache,
        });
    }

    async fn fetch_component_token(&self, now: i64) -> Result<(Secret, i64), TokenError> {
        let ticket = match self.store.ticket(&self.component).await? {
            None => {
                self.request_ticket_push(now).await;
                return Err(TokenError::NoTicket);
            }
            Some(t) if now - t.create_time > self.settings.ticket_max_age.as_secs() as i64 => {
                self.request_ticket_push(now).await;
                return Err(TokenError::StaleTicket(now - t.create_time));
            }
            Some(t) => t,
        };
        let keys = self.secrets.keys().await?;
        let result = self
            .retry_busy(|| {
                self.wechat
                    .component_token(&keys.secret.component_appsecret, &ticket.ticket)
            })
            .await;
        match result {
            Ok(token) => Ok((token.component_access_token, token.expires_in)),
            Err(error) => {
                if error.kind() == ErrorKind::TicketInvalid {
                    self.request_ticket_push(now).await;
                }
                Err(error.into())
            }
        }
    }

    /// Asks WeChat to push a ticket, at most once per interval across all callers.
    pub async fn request_ticket_push(&self, now: i64) -> bool {
        let not_since = now - self.settings.ticket_push_interval.as_secs() as i64;
        match self
            .store
            .claim_ticket_push_request(&self.component, now, not_since)
            .await
        {
            Ok(false) => false,
            Ok(true) => {
                let result = match self.secrets.keys().await {
                    Ok(keys) => self
                        .wechat
                        .start_push_ticket(&keys.secret.component_appsecret)
                        .await
                        .map_err(TokenError::from),
                    Err(error) => Err(error.into()),
                };
                match result {
                    Ok(()) => tracing::warn!("no usable ticket: asked WeChat to push one"),
                    Err(error) => tracing::error!(%error, "asking WeChat to push a ticket failed"),
                }
                true
            }
            Err(error) => {
                tracing::error!(%error, "could not record the ticket push request");
                false
            }
        }
    }

    /// Runs `call` with the component token; if WeChat refuses the token, replaces it (only if
    /// it is still the stored one) and runs `call` once more.
    pub async fn with_component_token<T, F, Fut>(&self, call: F) -> Result<T, TokenError>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let token = self.component_access_token().await?;
        match call(token.clone()).await {
            Err(error) if error.kind() == ErrorKind::TokenInvalid => {
                tracing::warn!(
                    errcode = error.errcode(),
                    api = error.api(),
                    "component token refused; replacing it"
                );
                let fresh = self
                    .component_token_other_than(Some(token.expose()))
                    .await?
                    .token;
                Ok(call(fresh).await?)
            }
            result => Ok(result?),
        }
    }

    /// Retries `call` on -1 and transport faults with jittered exponential backoff, bounded.
    pub async fn retry_busy<T, F, Fut>(&self, call: F) -> Result<T, WechatError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let mut delay = self.settings.busy_backoff;
        let mut attempt = 0;
        loop {
            match call().await {
                Err(error)
                    if error.kind() == ErrorKind::Busy && attempt < self.settings.busy_retries =>
                {
                    attempt += 1;
                    tracing::warn!(api = error.api(), attempt, %error, "WeChat busy; retrying");
                    tokio::time::sleep(jitter(delay)).await;
                    delay *= 2;
                }
                result => return result,
            }
        }
    }

    // ---- authorizers ----

    /// An authorizer access token that is not within the refresh margin of expiry, refreshing
    /// it on demand when the schedule has not.
    pub async fn authorizer_access_token(
        &self,
        authorizer_appid: &str,
    ) -> Result<Secret, TokenError> {
        Ok(self
            .authorizer_access_token_until(authorizer_appid)
            .await?
            .token)
    }

    /// [`Self::authorizer_access_token`] with its expiry.
    pub async fn authorizer_access_token_until(
        &self,
        authorizer_appid: &str,
    ) -> Result<AccessToken, TokenError> {
        let deadline = Instant::now() + self.settings.wait_for_refresh;
        loop {
            let now = self.now();
            let record = self.usable_authorizer(authorizer_appid).await?;
            if let Some(token) = &record.access_token
                && record.access_token_expires_at > now + self.margin()
            {
                return Ok(AccessToken::new(token, record.access_token_expires_at));
            }
            let seen = record.access_token.as_ref().map(Secret::expose);
            match self
                .refresh_authorizer(authorizer_appid, RefreshWhen::Replacing(seen))
                .await?
            {
                AuthorizerRefresh::Refreshed { .. } => {
                    // Whatever its lifetime, the token just issued is the one to use.
                    let fresh = self.usable_authorizer(authorizer_appid).await?;
                    if let Some(token) = &fresh.access_token {
                        return Ok(AccessToken::new(token, fresh.access_token_expires_at));
                    }
                }
                // The next read reports the new status.
                AuthorizerRefresh::Withdrawn | AuthorizerRefresh::ReauthorizationRequired => {
                    self.usable_authorizer(authorizer_appid).await?;
                }
                AuthorizerRefresh::Skipped => {
                    if let Some(token) = &record.access_token
                        && record.access_token_expires_at > now + 60
                    {
                        return Ok(AccessToken::new(token, record.access_token_expires_at));
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(TokenError::RefreshInProgress);
            }
            tokio::time::sleep(jitter(Duration::from_millis(150))).await;
        }
    }

    async fn usable_authorizer(
        &self,
        authorizer_appid: &str,
    ) -> Result<AuthorizerRecord, TokenError> {
        let record = self
            .store
            .authorizer(&self.component, authorizer_appid)
            .await?
            .ok_or_else(|| TokenError::UnknownAuthorizer(authorizer_appid.to_owned()))?;
        if record.status != AuthorizerStatus::Authorized {
            return Err(TokenError::NotAuthorized {
                appid: authorizer_appid.to_owned(),
                status: record.status.as_str(),
            });
        }
        Ok(record)
    }

    /// Refreshes one authorizer's access token if `when` says it is needed and this caller
    /// wins its lease.
    pub async fn refresh_authorizer(
        &self,
        authorizer_appid: &str,
        when: RefreshWhen<'_>,
    ) -> Result<AuthorizerRefresh, TokenError> {
        let now = self.now();
        let Some(record) = self
            .store
            .acquire_authorizer_lease(
                &self.component,
                authorizer_appid,
                &self.owner,
                now,
                now + self.lease(),
                when,
            )
            .await?
        else {
            return Ok(AuthorizerRefresh::Skipped);
        };
        let result = self.refresh_leased(&record, now).await;
        if let Err(error) = &result
            && !matches!(error, TokenError::Interrupted(_) | TokenError::LeaseLost(_))
        {
            self.store
                .release_authorizer_lease(
                    &self.component,
                    authorizer_appid,
                    &self.owner,
                    now + self.settings.failure_retry.as_secs() as i64,
                )
                .await?;
        }
        result
    }

    async fn refresh_leased(
        &self,
        record: &AuthorizerRecord,
        now: i64,
    ) -> Result<AuthorizerRefresh, TokenError> {
        let appid = record.authorizer_appid.as_str();
        let Some(refresh_token) = record.refresh_token.clone() else {
            return self.needs_reauthorization(appid, now).await;
        };
        match self.call_authorizer_token(appid, &refresh_token).await {
            Ok(answer) => {
                self.persist(appid, &refresh_token, answer, now, false)
                    .await
            }
            Err(TokenError::Wechat(error)) => match error.kind() {
                ErrorKind::Unauthorized => {
                    tracing::warn!(
                        authorizer = appid,
                        "the account withdrew its authorization (61003)"
                    );
                    self.store
                        .mark_authorizer(&self.component, appid, AuthorizerStatus::Withdrawn, now)
                        .await?;
                    Ok(AuthorizerRefresh::Withdrawn)
                }
                ErrorKind::RefreshTokenInvalid => {
                    self.recover(appid, &refresh_token, error, now).await
                }
                _ => Err(error.into()),
            },
            Err(error) => Err(error),
        }
    }

    async fn call_authorizer_token(
        &self,
        appid: &str,
        refresh_token: &Secret,
    ) -> Result<AuthorizerToken, TokenError> {
        self.with_component_token(|token| async move {
            self.retry_busy(|| {
                self.wechat
                    .authorizer_token(token.expose(), appid, refresh_token.expose())
            })
            .await
        })
        .await
    }

    /// 61023: the stored refresh token is refused. WeChat lists every authorizer with its
    /// current refresh token; take it from there, or mark the account for re-authorization.
    async fn recover(
        &self,
        appid: &str,
        refused: &Secret,
        refusal: WechatError,
        now: i64,
    ) -> Result<AuthorizerRefresh, TokenError> {
        let listed = match self.listed_refresh_token(appid).await? {
            None => return self.needs_reauthorization(appid, now).await,
            // WeChat contradicts itself: the token is still the one it lists. Keep the account
            // and its token as they are and let the next run try again (a mark would stick:
            // reconciliation repairs only tokens that differ).
            Some(listed) if &listed == refused => {
                tracing::warn!(
                    authorizer = appid,
                    "WeChat refused the refresh token it still lists (61023); kept for the next run"
                );
                return Err(refusal.into());
            }
            Some(listed) => listed,
        };
        if !self
            .store
            .replace_refresh_token(
                &self.component,
                appid,
                &self.owner,
                refused.expose(),
                listed.expose(),
                now,
            )
            .await?
        {
            return Err(TokenError::LeaseLost(appid.to_owned()));
        }
        tracing::warn!(
            authorizer = appid,
            "refresh token recovered from api_get_authorizer_list"
        );
        match self.call_authorizer_token(appid, &listed).await {
            Ok(answer) => self.persist(appid, &listed, answer, now, true).await,
            Err(error) if error.wechat_kind() == Some(ErrorKind::RefreshTokenInvalid) => {
                self.needs_reauthorization(appid, now).await
            }
            Err(error) => Err(error),
        }
    }

    async fn needs_reauthorization(
        &self,
        appid: &str,
        now: i64,
    ) -> Result<AuthorizerRefresh, TokenError> {
        tracing::error!(
            authorizer = appid,
            "refresh token lost and not listed: re-authorization required"
        );
        self.store
            .mark_authorizer(
                &self.component,
                appid,
                AuthorizerStatus::ReauthorizationRequired,
                now,
            )
            .await?;
        Ok(AuthorizerRefresh::ReauthorizationRequired)
    }

    /// The refresh token WeChat lists for `appid`, walking api_get_authorizer_list.
    async fn listed_refresh_token(&self, appid: &str) -> Result<Option<Secret>, TokenError> {
        let mut found = None;
        self.walk_authorizer_list(|listed| {
            if listed.authorizer_appid == appid {
                found = Some(listed.refresh_token.clone());
            }
            found.is_none()
        })
        .await?;
        Ok(found)
    }

    /// Calls `visit` for every authorizer WeChat lists, until it returns false.
    pub async fn walk_authorizer_list(
        &self,
        mut visit: impl FnMut(&crate::wechat::ListedAuthorizer) -> bool,
    ) -> Result<(), TokenError> {
        const PAGE: u32 = 500;
        let mut offset = 0u32;
        loop {
            let page = self
                .with_component_token(|token| async move {
                    self.retry_busy(|| self.wechat.authorizer_list(token.expose(), offset, PAGE))
                        .await
                })
                .await?;
            for listed in &page.list {
                if !visit(listed) {
                    return Ok(());
                }
            }
            offset += page.list.len() as u32;
            if page.list.is_empty() || i64::from(offset) >= page.total_count {
                return Ok(());
            }
        }
    }

    async fn persist(
        &self,
        appid: &str,
        used: &Secret,
        answer: AuthorizerToken,
        now: i64,
        recovered: bool,
    ) -> Result<AuthorizerRefresh, TokenError> {
        if let Some(gate) = &self.persist_gate
            && !gate(appid)
        {
            return Err(TokenError::Interrupted(appid.to_owned()));
        }
        let new_refresh = answer.authorizer_refresh_token.as_ref().map(Secret::expose);
        let expires_at = now + answer.expires_in;
        let saved = self
            .store
            .save_authorizer_token(
                &self.component,
                appid,
                &self.owner,
                used.expose(),
                answer.authorizer_access_token.expose(),
                expires_at,
                new_refresh,
                expires_at - self.margin(),
                now,
            )
            .await?;
        if !saved {
            return Err(TokenError::LeaseLost(appid.to_owned()));
        }
        Ok(AuthorizerRefresh::Refreshed {
            rotated: new_refresh.is_some_and(|t| !t.is_empty() && t != used.expose()),
            recovered,
        })
    }

    /// Exchanges an authorization code (api_query_auth) and fetches the account's profile
    /// (api_get_authorizer_info); stores nothing.
    pub async fn exchange_code(
        &self,
        authorization_code: &str,
    ) -> Result<NewAuthorization, TokenError> {
        let now = self.now();
        let auth = self
            .with_component_token(|token| async move {
                self.retry_busy(|| self.wechat.query_auth(token.expose(), authorization_code))
                    .await
            })
            .await?
            .authorization_info;
        let appid = auth.authorizer_appid.clone();
        let info = self.authorizer_info(&appid).await?;
        let refresh_token = auth
            .authorizer_refresh_token
            .clone()
            .or_else(|| info.authorization_info.authorizer_refresh_token.clone())
            .ok_or_else(|| {
                TokenError::Wechat(WechatError::Decode {
                    api: "api_query_auth",
                    message: "no authorizer_refresh_token".into(),
                })
            })?;
        Ok(NewAuthorization {
            authorizer_appid: appid,
            refresh_token,
            access_token: auth
                .authorizer_access_token
                .clone()
                .map(|t| (t, now + auth.expires_in.unwrap_or(7200))),
            func_info: Some(
                auth.func_info
                    .iter()
                    .map(|f| f.funcscope_category.id)
                    .collect(),
            ),
            profile: Some(info.authorizer_info),
            merchant: None,
            authorized_at: now,
        })
    }

    /// The account's profile and authorization as WeChat has them now (api_get_authorizer_info).
    pub async fn authorizer_info(&self, appid: &str) -> Result<AuthorizerInfo, TokenError> {
        self.with_component_token(|token| async move {
            self.retry_busy(|| self.wechat.authorizer_info(token.expose(), appid))
                .await
        })
        .await
    }

    /// The username (`gh_...`) messages to an authorized account are addressed to, as stored
    /// with its profile; `None` when the account is not stored or not authorized. An authorized
    /// account stored without it (repaired from api_get_authorizer_list, never exchanged) has
    /// its profile fetched from WeChat once and stored, so the next look-up is a read.
    pub async fn authorizer_user_name(&self, appid: &str) -> Result<Option<String>, TokenError> {
        let Some(record) = self.store.authorizer(&self.component, appid).await? else {
            return Ok(None);
        };
        if let Some(profile) = record.profile.filter(|p| !p.user_name.is_empty()) {
            return Ok(Some(profile.user_name));
        }
        if record.status != AuthorizerStatus::Authorized {
            return Ok(None);
        }
        let profile = self.authorizer_info(appid).await?.authorizer_info;
        self.store
            .save_profile(&self.component, appid, &profile, self.now())
            .await?;
        tracing::info!(authorizer = appid, "profile fetched for the message URL");
        Ok(Some(profile.user_name).filter(|name| !name.is_empty()))
    }

    /// Stores what an exchange gave; the account is due when its access token needs refreshing.
    pub async fn save_authorization(
        &self,
        new: &NewAuthorization,
    ) -> Result<AuthorizerRecord, TokenError> {
        let now = self.now();
        let due_at = new
            .access_token
            .as_ref()
            .map_or(now, |(_, expires_at)| expires_at - self.margin());
        self.store
            .save_authorization(&self.component, new, due_at, now)
            .await?;
        self.usable_authorizer(&new.authorizer_appid).await
    }

    /// Exchanges an authorization code and stores the account, bound to `merchant` when given
    /// (no checks: the authorization flow's own operation decides bindings).
    pub async fn complete_authorization(
        &self,
        authorization_code: &str,
        merchant: Option<&str>,
    ) -> Result<AuthorizerRecord, TokenError> {
        let mut new = self.exchange_code(authorization_code).await?;
        new.merchant = merchant.map(str::to_owned);
        self.save_authorization(&new).await
    }

    /// Walks api_get_authorizer_list and repairs accounts the store lacks or holds a different
    /// refresh token for. Returns (listed, repaired).
    pub async fn reconcile(&self) -> Result<(usize, usize), TokenError> {
        let mut listed = Vec::new();
        self.walk_authorizer_list(|a| {
            listed.push(a.clone());
            true
        })
        .await?;
        let now = self.now();
        let mut repaired = 0;
        for account in &listed {
            if self
                .store
                .repair_from_list(
                    &self.component,
                    &account.authorizer_appid,
                    account.refresh_token.expose(),
                    account.auth_time,
                    now,
                )
                .await?
            {
                tracing::warn!(authorizer = %account.authorizer_appid, "repaired from api_get_authorizer_list");
                repaired += 1;
            }
        }
        Ok((listed.len(), repaired))
    }
}

/// `base` scaled by a random factor in [0.5, 1.5), so that retries do not march in step.
pub fn jitter(base: Duration) -> Duration {
    let mut byte = [0u8; 1];
    getrandom::fill(&mut byte).expect("the OS random source is available");
    base.mul_f64(0.5 + f64::from(byte[0]) / 256.0)
}
