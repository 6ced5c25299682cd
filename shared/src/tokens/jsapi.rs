//! Authorized accounts' JS-SDK tickets (jsapi_ticket): one item per account, refreshed under
//! the item's lease like the component token, so that one getticket call serves every
//! container for the ticket's lifetime, and the ticket is replaced before it expires.

use super::{AccessToken, TokenError, Tokens};
use crate::store::LeasedKey;
use crate::wechat::Secret;

impl Tokens {
    /// `authorizer_appid`'s JS-SDK ticket, outside the refresh margin of its expiry (fetched
    /// with the account's access token when it is not).
    pub async fn jsapi_ticket(&self, authorizer_appid: &str) -> Result<AccessToken, TokenError> {
        let key = LeasedKey::jsapi_ticket(&self.component, authorizer_appid);
        self.leased_value(&key, None, |_| self.fetch_jsapi_ticket(authorizer_appid))
            .await
    }

    async fn fetch_jsapi_ticket(
        &self,
        authorizer_appid: &str,
    ) -> Result<(Secret, i64), TokenError> {
        let answer = self
            .with_authorizer_token(authorizer_appid, |token| async move {
                self.retry_busy(|| self.wechat.jsapi_ticket(token.expose()))
                    .await
            })
            .await?;
        Ok((answer.ticket, answer.expires_in))
    }
}
