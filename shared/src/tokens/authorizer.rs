//! Authorizer tokens: on-demand and scheduled refreshes under a per-account lease, and the
//! refresh token persisted in the same conditional write as the access token it came with.

use std::time::{Duration, Instant};

use super::{AccessToken, AuthorizerRefresh, TokenError, Tokens, calls::jitter};
use crate::store::{AuthorizerRecord, AuthorizerStatus, MarkIf, RefreshWhen};
use crate::wechat::{
    AuthorizerInfo, AuthorizerProfile, AuthorizerToken, ErrorKind, Secret, WechatError,
};

impl Tokens {
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

    pub(super) async fn usable_authorizer(
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
            // Stopped by the caller's time before a call started: nothing failed, due again now.
            let retry_at = if error.wechat_kind() == Some(ErrorKind::OutOfTime) {
                now
            } else {
                now + self.settings.failure_retry.as_secs() as i64
            };
            self.store
                .release_authorizer_lease(&self.component, authorizer_appid, &self.owner, retry_at)
                .await?;
        }
        result
    }

    pub(super) async fn refresh_leased(
        &self,
        record: &AuthorizerRecord,
        now: i64,
    ) -> Result<AuthorizerRefresh, TokenError> {
        let appid = record.authorizer_appid.as_str();
        let Some(refresh_token) = record.refresh_token.clone() else {
            return self.needs_reauthorization(appid, None, now).await;
        };
        match self.call_authorizer_token(appid, &refresh_token).await {
            Ok(answer) => {
                let refreshed = self
                    .persist(appid, &refresh_token, answer, now, false)
                    .await?;
                // An exchange whose profile call failed left the account without one.
                if record.profile.is_none() {
                    self.fill_profile(appid).await;
                }
                Ok(refreshed)
            }
            Err(TokenError::Wechat(error)) => match error.kind() {
                ErrorKind::Unauthorized => {
                    // Only while the refused token is still the stored one: an account that
                    // authorized again meanwhile keeps its new refresh token.
                    if !self
                        .store
                        .mark_authorizer(
                            &self.component,
                            appid,
                            AuthorizerStatus::Withdrawn,
                            MarkIf::RefreshToken(Some(refresh_token.expose())),
                            now,
                        )
                        .await?
                    {
                        return Err(TokenError::LeaseLost(appid.to_owned()));
                    }
                    tracing::warn!(
                        authorizer = appid,
                        "the account withdrew its authorization (61003)"
                    );
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

    pub(super) async fn call_authorizer_token(
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
    pub(super) async fn recover(
        &self,
        appid: &str,
        refused: &Secret,
        refusal: WechatError,
        now: i64,
    ) -> Result<AuthorizerRefresh, TokenError> {
        let listed = match self.listed_refresh_token(appid).await? {
            None => {
                return self
                    .needs_reauthorization(appid, Some(refused.expose()), now)
                    .await;
            }
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
                self.needs_reauthorization(appid, Some(listed.expose()), now)
                    .await
            }
            Err(error) => Err(error),
        }
    }

    /// Marks the account for re-authorization, while `refused` (the refresh token WeChat
    /// refused; none: there was none) is still the stored one.
    pub(super) async fn needs_reauthorization(
        &self,
        appid: &str,
        refused: Option<&str>,
        now: i64,
    ) -> Result<AuthorizerRefresh, TokenError> {
        if !self
            .store
            .mark_authorizer(
                &self.component,
                appid,
                AuthorizerStatus::ReauthorizationRequired,
                MarkIf::RefreshToken(refused),
                now,
            )
            .await?
        {
            return Err(TokenError::LeaseLost(appid.to_owned()));
        }
        tracing::error!(
            authorizer = appid,
            "refresh token lost and not listed: re-authorization required"
        );
        Ok(AuthorizerRefresh::ReauthorizationRequired)
    }

    pub(super) async fn persist(
        &self,
        appid: &str,
        used: &Secret,
        answer: AuthorizerToken,
        now: i64,
        recovered: bool,
    ) -> Result<AuthorizerRefresh, TokenError> {
        let _held = self.hold_answer();
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

    /// The account's profile and authorization as WeChat has them now (api_get_authorizer_info).
    pub async fn authorizer_info(&self, appid: &str) -> Result<AuthorizerInfo, TokenError> {
        self.with_component_token(|token| async move {
            self.retry_busy(|| self.wechat.authorizer_info(token.expose(), appid))
                .await
        })
        .await
    }

    /// Fetches an account's profile and permission sets (api_get_authorizer_info) and stores
    /// them with the account; `None` when the account is no longer stored.
    pub async fn fetch_profile(
        &self,
        appid: &str,
    ) -> Result<Option<AuthorizerProfile>, TokenError> {
        let info = self.authorizer_info(appid).await?;
        let func_info: Vec<i64> = info
            .authorization_info
            .func_info
            .iter()
            .map(|f| f.funcscope_category.id)
            .collect();
        let saved = self
            .store
            .save_profile(
                &self.component,
                appid,
                &info.authorizer_info,
                &func_info,
                self.now(),
            )
            .await?;
        Ok(saved.then_some(info.authorizer_info))
    }

    /// The username (`gh_...`) messages to an authorized account are addressed to, as stored
    /// with its profile; `None` when the account is not stored or not authorized. An authorized
    /// account stored without it (repaired from api_get_authorizer_list, never exchanged) has
    /// its profile fetched from WeChat once and stored, so the next look-up is a read.
    pub async fn authorizer_user_name(&self, appid: &str) -> Result<Option<String>, TokenError> {
        let account = self
            .authorizer_profile(appid, |profile| !profile.user_name.is_empty())
            .await?;
        Ok(account
            .and_then(|(_, profile)| profile)
            .map(|profile| profile.user_name)
            .filter(|name| !name.is_empty()))
    }

    /// An account's status and profile; `None` when it is not stored. An authorized account
    /// whose stored profile is missing or not `complete` (repaired from
    /// api_get_authorizer_list, never exchanged) has its profile fetched from WeChat once and
    /// stored, so the next look-up is a read.
    pub async fn authorizer_profile(
        &self,
        appid: &str,
        complete: impl Fn(&AuthorizerProfile) -> bool,
    ) -> Result<Option<(AuthorizerStatus, Option<AuthorizerProfile>)>, TokenError> {
        let Some(record) = self.store.authorizer(&self.component, appid).await? else {
            return Ok(None);
        };
        if record.status != AuthorizerStatus::Authorized
            || record.profile.as_ref().is_some_and(&complete)
        {
            return Ok(Some((record.status, record.profile)));
        }
        let Some(profile) = self.fetch_profile(appid).await? else {
            return Ok(None);
        };
        tracing::info!(authorizer = appid, "profile fetched");
        Ok(Some((record.status, Some(profile))))
    }
}
