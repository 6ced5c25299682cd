//! api_get_authorizer_list: what WeChat says every authorizer's current refresh token is, and
//! the repair of the store from it.
//!
//! The reconciliation walks the list page by page (500 accounts), reads what the store holds of
//! the page's accounts in batches (BatchGetItem, 100 keys each), and writes only the accounts the
//! store lacks or holds another refresh token for, each by its own conditional write, several at
//! once. BatchWriteItem is not used: it cannot be conditional, and an unconditional write could
//! put the listed token over one a refresh or an authorization stored after the list was read
//! (losing the newer token). A pass that does not fit before the deadline stores where it
//! stopped, and the next one goes on from there; a pass starts over at offset 0 only once the
//! previous one reached the end of the list.

use std::time::Instant;

use futures_util::StreamExt;

use super::{TokenError, Tokens};
use crate::store::{ReconcileCursor, StoredRefreshToken};
use crate::wechat::{ListedAuthorizer, Secret};

/// Accounts per api_get_authorizer_list page (WeChat's maximum).
const PAGE: u32 = 500;
/// Conditional writes in flight at once while repairing a page.
const WRITES_IN_FLIGHT: usize = 16;

/// What one reconciliation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcilePass {
    /// The pass (the UTC day it started) this run worked on.
    pub pass: String,
    /// Accounts compared in this run.
    pub listed: usize,
    /// Of those, the ones repaired.
    pub repaired: usize,
    /// Where the pass stands now.
    pub offset: u32,
    /// Whether it reached the end of the list.
    pub done: bool,
}

impl Tokens {
    /// The refresh token WeChat lists for `appid`, walking api_get_authorizer_list.
    pub(super) async fn listed_refresh_token(
        &self,
        appid: &str,
    ) -> Result<Option<Secret>, TokenError> {
        Ok(self
            .listed_authorizer(appid)
            .await?
            .map(|listed| listed.refresh_token))
    }

    /// The account as WeChat lists it, walking api_get_authorizer_list until it is found.
    pub async fn listed_authorizer(
        &self,
        appid: &str,
    ) -> Result<Option<ListedAuthorizer>, TokenError> {
        let mut found = None;
        self.walk_authorizer_list(|listed| {
            if listed.authorizer_appid == appid {
                found = Some(listed.clone());
            }
            found.is_none()
        })
        .await?;
        Ok(found)
    }

    /// Takes `appid` from api_get_authorizer_list into the store when the store lacks it or
    /// holds another refresh token (the account is then due at once). Returns whether WeChat
    /// lists it.
    pub async fn recover_from_list(&self, appid: &str) -> Result<bool, TokenError> {
        let Some(listed) = self.listed_authorizer(appid).await? else {
            return Ok(false);
        };
        if self
            .store
            .repair_from_list(
                &self.component,
                appid,
                listed.refresh_token.expose(),
                listed.auth_time,
                self.now(),
            )
            .await?
        {
            tracing::warn!(authorizer = appid, "recovered from api_get_authorizer_list");
        }
        Ok(true)
    }

    /// Calls `visit` for every authorizer WeChat lists, until it returns false.
    pub async fn walk_authorizer_list(
        &self,
        mut visit: impl FnMut(&ListedAuthorizer) -> bool,
    ) -> Result<(), TokenError> {
        let mut offset = 0u32;
        loop {
            let (list, total) = self.authorizer_list_page(offset).await?;
            for listed in &list {
                if !visit(listed) {
                    return Ok(());
                }
            }
            offset += list.len() as u32;
            if list.is_empty() || i64::from(offset) >= total {
                return Ok(());
            }
        }
    }

    /// One page of api_get_authorizer_list from `offset`, and the list's total.
    async fn authorizer_list_page(
        &self,
        offset: u32,
    ) -> Result<(Vec<ListedAuthorizer>, i64), TokenError> {
        let page = self
            .with_component_token(|token| async move {
                self.retry_busy(|| self.wechat.authorizer_list(token.expose(), offset, PAGE))
                    .await
            })
            .await?;
        Ok((page.list, page.total_count))
    }

    /// A whole pass over the list now, from offset 0 (operators): returns (listed, repaired).
    /// The stored cursor then records a complete pass, so the scheduled one starts over.
    pub async fn reconcile(&self) -> Result<(usize, usize), TokenError> {
        let pass = self
            .reconcile_pass(Some(self.new_reconcile_cursor()), None)
            .await?;
        Ok((pass.listed, pass.repaired))
    }

    /// Goes on with the stored pass (or starts one at offset 0 when the last one is complete)
    /// and stops starting pages at `until`, storing where it stopped.
    pub async fn reconcile_until(&self, until: Instant) -> Result<ReconcilePass, TokenError> {
        self.reconcile_pass(None, Some(until)).await
    }

    fn new_reconcile_cursor(&self) -> ReconcileCursor {
        ReconcileCursor {
            pass: utc_day(self.now()),
            offset: 0,
            done: false,
            listed: 0,
            repaired: 0,
        }
    }

    async fn reconcile_pass(
        &self,
        start: Option<ReconcileCursor>,
        until: Option<Instant>,
    ) -> Result<ReconcilePass, TokenError> {
        let mut cursor = match start {
            Some(cursor) => cursor,
            None => match self.store.reconcile_cursor(&self.component).await? {
                Some(cursor) if !cursor.done => cursor,
                _ => self.new_reconcile_cursor(),
            },
        };
        let (mut listed, mut repaired) = (0, 0);
        loop {
            if until.is_some_and(|until| Instant::now() >= until) {
                tracing::info!(
                    offset = cursor.offset,
                    "reconciliation stopped at the deadline; the next run goes on from here"
                );
                break;
            }
            let (page, total) = self.authorizer_list_page(cursor.offset).await?;
            let fixed = self.repair_page(&page).await?;
            listed += page.len();
            repaired += fixed;
            cursor.offset += page.len() as u32;
            cursor.listed += page.len() as u64;
            cursor.repaired += fixed as u64;
            cursor.done = page.is_empty() || i64::from(cursor.offset) >= total;
            self.store
                .save_reconcile_cursor(&self.component, &cursor, self.now())
                .await?;
            if cursor.done {
                break;
            }
        }
        Ok(ReconcilePass {
            pass: cursor.pass,
            listed,
            repaired,
            offset: cursor.offset,
            done: cursor.done,
        })
    }

    /// Compares one page of the list with the store (batched reads) and repairs what differs
    /// (conditional writes, in parallel). Returns how many were repaired.
    async fn repair_page(&self, page: &[ListedAuthorizer]) -> Result<usize, TokenError> {
        let appids: Vec<&str> = page.iter().map(|a| a.authorizer_appid.as_str()).collect();
        let stored = self
            .store
            .stored_refresh_tokens(&self.component, &appids)
            .await?;
        // The same test as the conditional write's: missing, or holding another refresh token.
        let differing = page
            .iter()
            .filter(|listed| match stored.get(&listed.authorizer_appid) {
                None | Some(StoredRefreshToken::Missing) => true,
                Some(StoredRefreshToken::Present(Some(token))) => {
                    token != listed.refresh_token.expose()
                }
                Some(StoredRefreshToken::Present(None)) => false,
            });
        let now = self.now();
        let results: Vec<_> = futures_util::stream::iter(differing)
            .map(|account| async move {
                let repaired = self
                    .store
                    .repair_from_list(
                        &self.component,
                        &account.authorizer_appid,
                        account.refresh_token.expose(),
                        account.auth_time,
                        now,
                    )
                    .await?;
                if repaired {
                    tracing::warn!(authorizer = %account.authorizer_appid, "repaired from api_get_authorizer_list");
                }
                Ok::<bool, TokenError>(repaired)
            })
            .buffer_unordered(WRITES_IN_FLIGHT)
            .collect()
            .await;
        let mut repaired = 0;
        for result in results {
            repaired += usize::from(result?);
        }
        Ok(repaired)
    }
}

/// `2026-12-01` for a Unix time (UTC).
fn utc_day(unix: i64) -> String {
    // Howard Hinnant's days-to-civil.
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::utc_day;

    #[test]
    fn days_are_utc_calendar_days() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(1_764_072_000), "2025-11-25");
        assert_eq!(utc_day(951_782_400), "2000-02-29");
        assert_eq!(utc_day(1_798_761_599), "2026-12-31");
    }
}
