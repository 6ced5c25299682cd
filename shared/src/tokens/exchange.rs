//! The authorization code exchange, write-ahead: api_query_auth's answer is stored before
//! anything else is asked of WeChat, then the account's profile is fetched and stored.
//!
//! The code is single-use. Once it may have reached WeChat it is never sent again: a failure
//! that does not say whether WeChat used it (a timeout, a connection lost after the request
//! went out, -1, a 5xx) is resolved through api_get_authorizer_list for the account, which
//! lists the refresh token WeChat considers current (see docs/reliability-faults.md).

use super::{TokenError, Tokens};
use crate::store::{AuthorizationSource, NewAuthorization};
use crate::wechat::{ErrorKind, WechatError};

/// Why an exchange did not store an account.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// WeChat refused the code (expired, used, never issued): nothing to store.
    #[error(transparent)]
    Refused(WechatError),
    /// The code was not used: WeChat refused the call before doing anything, or it was never
    /// sent. It may be tried again.
    #[error(transparent)]
    NotSent(TokenError),
    /// WeChat may have used the code, but its answer is lost (or could not be stored): the
    /// account is to be taken from api_get_authorizer_list, never by sending the code again.
    #[error(transparent)]
    Unresolved(TokenError),
}

impl From<ExchangeError> for TokenError {
    fn from(error: ExchangeError) -> Self {
        match error {
            ExchangeError::Refused(error) => Self::Wechat(error),
            ExchangeError::NotSent(error) | ExchangeError::Unresolved(error) => error,
        }
    }
}

impl Tokens {
    /// Exchanges an authorization code: one api_query_auth (retried only when the request
    /// cannot have reached WeChat), its answer stored at once in a conditional write that also
    /// settles the code's claim, then the profile (api_get_authorizer_info). A failed profile
    /// call leaves a complete, refreshable account; the next refresh fills the profile in.
    /// Returns the account's appid.
    pub async fn exchange_code(&self, authorization_code: &str) -> Result<String, ExchangeError> {
        let answer = self
            .with_component_token(|token| async move {
                self.retry_unsent(|| self.wechat.query_auth(token.expose(), authorization_code))
                    .await
            })
            .await;
        // From here until the write, the answer is the only copy: no budget cuts it.
        let held = answer.is_ok().then(|| self.hold_answer());
        let now = self.now();
        let auth = match answer {
            Ok(answer) => answer.authorization_info,
            Err(error) => return Err(classify(error)),
        };
        let appid = auth.authorizer_appid.clone();
        let Some(new) = query_auth_answer(&auth, now) else {
            // The answer came without a refresh token: the list has it.
            return Err(ExchangeError::Unresolved(TokenError::Wechat(
                WechatError::Decode {
                    api: "api_query_auth",
                    message: "no authorizer_refresh_token".into(),
                },
            )));
        };
        self.write_ahead(&new, Some(authorization_code))
            .await
            .map_err(ExchangeError::Unresolved)?;
        drop(held);
        self.fill_profile(&appid).await;
        Ok(appid)
    }

    /// Resolves an exchange whose answer was lost: the refresh token WeChat lists for
    /// `appid` is stored (the code's claim settled with it) and the profile fetched. Returns
    /// false when WeChat does not list the account (it withdrew, or never authorized).
    pub async fn adopt_listed(
        &self,
        authorization_code: Option<&str>,
        appid: &str,
    ) -> Result<bool, TokenError> {
        let Some(refresh_token) = self.listed_refresh_token(appid).await? else {
            return Ok(false);
        };
        let held = self.hold_answer();
        let new = NewAuthorization {
            authorizer_appid: appid.to_owned(),
            source: AuthorizationSource::Listed,
            refresh_token,
            access_token: None,
            func_info: None,
            profile: None,
            merchant: None,
            authorized_at: self.now(),
        };
        self.write_ahead(&new, authorization_code).await?;
        drop(held);
        tracing::warn!(
            authorizer = appid,
            "exchange resolved through api_get_authorizer_list"
        );
        self.fill_profile(appid).await;
        Ok(true)
    }

    /// Persists what an authorization gave before anything else is asked of WeChat. The
    /// account is due when its access token needs refreshing (at once without one). When a
    /// later authorization is already stored (or, for a listed token, a refresh holds the
    /// lease), the code's claim is still settled and the stored state kept.
    pub async fn write_ahead(
        &self,
        new: &NewAuthorization,
        code: Option<&str>,
    ) -> Result<(), TokenError> {
        if let Some(gate) = &self.persist_gate
            && !gate(&new.authorizer_appid)
        {
            return Err(TokenError::Interrupted(new.authorizer_appid.clone()));
        }
        let now = self.now();
        let due_at = new
            .access_token
            .as_ref()
            .map_or(now, |(_, expires_at)| expires_at - self.margin());
        let applied = self
            .store
            .save_authorization(&self.component, new, code, due_at, now)
            .await?;
        if !applied {
            tracing::warn!(
                authorizer = %new.authorizer_appid,
                "a later authorization or a refresh under way is stored; kept"
            );
            if let Some(code) = code {
                self.store
                    .settle_code(&self.component, code, &new.authorizer_appid, now)
                    .await?;
            }
        }
        Ok(())
    }

    /// Fetches and stores an account's profile and permission sets; a failure is logged and
    /// left for the next refresh of the account (see [`Self::refresh_authorizer`]).
    pub async fn fill_profile(&self, appid: &str) -> bool {
        match self.fetch_profile(appid).await {
            Ok(saved) => saved.is_some(),
            Err(error) => {
                tracing::warn!(authorizer = appid, %error, "profile not fetched; the next refresh fills it in");
                false
            }
        }
    }
}

/// What api_query_auth's answer stores; `None` when it lacks the refresh token.
fn query_auth_answer(
    auth: &crate::wechat::AuthorizationInfo,
    now: i64,
) -> Option<NewAuthorization> {
    Some(NewAuthorization {
        authorizer_appid: auth.authorizer_appid.clone(),
        source: AuthorizationSource::QueryAuth,
        refresh_token: auth.authorizer_refresh_token.clone()?,
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
        profile: None,
        merchant: None,
        authorized_at: now,
    })
}

/// Sorts a failed api_query_auth: refused, not sent, or unresolved.
fn classify(error: TokenError) -> ExchangeError {
    match &error {
        TokenError::Wechat(wechat) if wechat.may_have_been_done() => {
            ExchangeError::Unresolved(error)
        }
        TokenError::Wechat(wechat) => match (wechat.errcode(), wechat.kind()) {
            (Some(_), ErrorKind::Other) => match error {
                TokenError::Wechat(wechat) => ExchangeError::Refused(wechat),
                _ => unreachable!("matched as a WeChat error"),
            },
            _ => ExchangeError::NotSent(error),
        },
        _ => ExchangeError::NotSent(error),
    }
}
