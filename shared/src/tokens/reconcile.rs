//! api_get_authorizer_list: what WeChat says every authorizer's current refresh token is, and
//! the daily repair of the store from it.

use super::{TokenError, Tokens};
use crate::wechat::Secret;

impl Tokens {
    /// The refresh token WeChat lists for `appid`, walking api_get_authorizer_list.
    pub(super) async fn listed_refresh_token(
        &self,
        appid: &str,
    ) -> Result<Option<Secret>, TokenError> {
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
