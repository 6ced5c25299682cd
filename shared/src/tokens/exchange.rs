//! The authorization code exchange: api_query_auth, then the account's profile.

use super::{TokenError, Tokens};
use crate::store::{AuthorizerRecord, NewAuthorization};
use crate::wechat::WechatError;

impl Tokens {
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
}
