//! The component token: one refresh per expiry window across all callers, under a lease.

use std::time::Instant;

use super::{AccessToken, TokenError, Tokens};
use crate::store::LeasedKey;
use crate::wechat::{ErrorKind, Secret};

/// A component token held in memory, and until when it may be used without the store.
pub(super) struct CachedToken {
    pub(super) token: Secret,
    pub(super) expires_at: i64,
    pub(super) until: Instant,
}

impl Tokens {
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
    ///
    /// Degrades rather than stops: when WeChat fails the refresh, the stored token is used while
    /// it is valid (the refresh margin leaves it 20 minutes), and the failure is recorded so that
    /// no caller tries again before [`TokenSettings::component_refresh_backoff`] has passed.
    ///
    /// [`TokenSettings::component_refresh_backoff`]: super::TokenSettings::component_refresh_backoff
    pub(super) async fn component_token_other_than(
        &self,
        failed: Option<&str>,
    ) -> Result<AccessToken, TokenError> {
        if let Some(token) = self.cached_component_token(failed) {
            return Ok(token);
        }
        let key = LeasedKey::component_token(&self.component);
        let token = self
            .leased_value(&key, failed, |now| self.fetch_component_token(now))
            .await?;
        self.cache_component_token(&token.token, token.expires_at);
        Ok(token)
    }

    /// Whether the component token is being used past its refresh because WeChat failed the
    /// refresh (the run's report says so).
    pub async fn component_token_degraded(&self) -> bool {
        let now = self.now();
        matches!(
            self.store.component_token(&self.component).await,
            Ok(Some(state)) if state.refresh_failed_until.is_some_and(|until| until > now)
        )
    }

    /// Refreshes the component token if it is due (or is still `failed`) and this caller wins
    /// the lease. `None` when another caller holds the lease or the token is not due.
    pub async fn refresh_component_token(
        &self,
        failed: Option<&str>,
    ) -> Result<Option<AccessToken>, TokenError> {
        let key = LeasedKey::component_token(&self.component);
        let token = self
            .refresh_leased_value(&key, failed, |now| self.fetch_component_token(now))
            .await?;
        if let Some(token) = &token {
            self.cache_component_token(&token.token, token.expires_at);
        }
        Ok(token)
    }

    /// The cached component token, if it is young enough, outside the refresh margin and not
    /// `failed`; a cached token that is `failed` is dropped.
    pub(super) fn cached_component_token(&self, failed: Option<&str>) -> Option<AccessToken> {
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

    pub(super) fn cache_component_token(&self, token: &Secret, expires_at: i64) {
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

    pub(super) async fn fetch_component_token(
        &self,
        now: i64,
    ) -> Result<(Secret, i64), TokenError> {
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
}
