//! Values that one caller refreshes per lifetime, under a lease in the store: the component
//! token and each account's JS-SDK ticket. Callers use the stored value while it is outside the
//! refresh margin; the one that wins the lease refreshes it; the others use the stored value
//! while it lasts, or wait briefly for the new one.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{AccessToken, TokenError, Tokens, calls::jitter};
use crate::store::LeasedKey;
use crate::wechat::{ErrorKind, Secret};

/// The least life left in a stored value that callers still use when it cannot be refreshed.
const USABLE_FOR_AT_LEAST: i64 = 60;

impl Tokens {
    /// The value at `key`, refreshed with `fetch` (given now, it answers the new value and its
    /// lifetime in seconds) when it is within the refresh margin of expiry or is still `failed`.
    ///
    /// Degrades rather than stops: when WeChat fails the refresh, the stored value is used while
    /// it is valid, and the failure is recorded so that no caller tries again before
    /// [`TokenSettings::component_refresh_backoff`] has passed.
    ///
    /// [`TokenSettings::component_refresh_backoff`]: super::TokenSettings::component_refresh_backoff
    pub(super) async fn leased_value<F, Fut>(
        &self,
        key: &LeasedKey,
        failed: Option<&str>,
        fetch: F,
    ) -> Result<AccessToken, TokenError>
    where
        F: Fn(i64) -> Fut,
        Fut: Future<Output = Result<(Secret, i64), TokenError>>,
    {
        let deadline = Instant::now() + self.settings.wait_for_refresh;
        loop {
            let now = self.now();
            let state = self.store.leased(key).await?;
            let current = state.as_ref().and_then(|s| {
                let token = s.token.as_ref()?;
                (Some(token.expose()) != failed).then_some((token.clone(), s.expires_at))
            });
            if let Some((token, expires_at)) = &current
                && *expires_at > now + self.margin()
            {
                return Ok(AccessToken::new(token, *expires_at));
            }
            // Still usable for a while: what callers get while a refresh is under way or failed.
            let usable = current
                .as_ref()
                .filter(|(_, expires_at)| *expires_at > now + USABLE_FOR_AT_LEAST)
                .map(|(token, expires_at)| AccessToken::new(token, *expires_at));
            let backoff_until = state
                .as_ref()
                .and_then(|s| s.refresh_failed_until)
                .filter(|until| *until > now);
            if backoff_until.is_none() {
                match self.refresh_leased_value(key, failed, &fetch).await {
                    Ok(Some(token)) => return Ok(token),
                    Ok(None) => {}
                    Err(error) => {
                        let Some(token) = usable else {
                            return Err(error);
                        };
                        tracing::warn!(%error, expires_in = token.expires_at - now,
                            "the {} could not be refreshed; using the stored one while it is valid", key.name);
                        return Ok(token);
                    }
                }
            }
            // Someone else holds the lease, or a failed refresh asked to wait: the current value
            // while it lasts.
            if let Some(token) = usable {
                return Ok(token);
            }
            if let Some(until) = backoff_until {
                return Err(TokenError::ComponentTokenBackoff {
                    retry_in: until - now,
                });
            }
            if Instant::now() >= deadline {
                return Err(TokenError::RefreshInProgress);
            }
            tokio::time::sleep(jitter(Duration::from_millis(150))).await;
        }
    }

    /// Refreshes the value at `key` with `fetch` if it is due (or is still `failed`) and this
    /// caller wins the lease. `None` when another caller holds the lease or it is not due.
    pub(super) async fn refresh_leased_value<F, Fut>(
        &self,
        key: &LeasedKey,
        failed: Option<&str>,
        fetch: F,
    ) -> Result<Option<AccessToken>, TokenError>
    where
        F: Fn(i64) -> Fut,
        Fut: Future<Output = Result<(Secret, i64), TokenError>>,
    {
        let now = self.now();
        let won = self
            .store
            .acquire_lease(
                key,
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
        match fetch(now).await {
            Ok((token, expires_in)) => {
                let saved = self
                    .store
                    .save_leased(key, &self.owner, token.expose(), now, now + expires_in)
                    .await?;
                if !saved {
                    return Err(TokenError::LeaseLost(key.name.to_owned()));
                }
                tracing::info!(expires_in, "{} refreshed", key.name);
                Ok(Some(AccessToken::new(&token, now + expires_in)))
            }
            Err(error) => {
                // WeChat failed (down, refusing, quota): every caller waiting out the backoff
                // instead of retrying at once. A ticket it refused was asked to be pushed again,
                // and a call not started for lack of time failed nothing: try again at once.
                let wechat_failed = error.wechat_kind().is_some_and(|kind| {
                    !matches!(kind, ErrorKind::TicketInvalid | ErrorKind::OutOfTime)
                });
                let retry_at = wechat_failed
                    .then(|| now + self.settings.component_refresh_backoff.as_secs() as i64);
                self.store.release_lease(key, &self.owner, retry_at).await?;
                Err(error)
            }
        }
    }
}
