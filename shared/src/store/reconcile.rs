//! The reconciliation's cursor (`pk = {component}`, `sk = reconcile_cursor`) and the batched
//! read that compares one page of WeChat's list with the store.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures_util::StreamExt;

use super::{Item, Store, StoreError, authorizer_pk, dynamo_error, get_n, get_s, n, s};

const SK: &str = "reconcile_cursor";
/// BatchGetItem's limit of keys per request.
const BATCH_GET: usize = 100;
/// BatchGetItem requests in flight at once (a page of 500 accounts is 5).
const BATCHES_IN_FLIGHT: usize = 5;

/// Where the reconciliation's pass over api_get_authorizer_list stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileCursor {
    /// The pass: the UTC day it started (`2026-12-01`).
    pub pass: String,
    /// The offset into api_get_authorizer_list the next page starts at.
    pub offset: u32,
    /// Whether the pass reached the end of the list.
    pub done: bool,
    /// Accounts listed so far in this pass.
    pub listed: u64,
    /// Of those, the ones repaired.
    pub repaired: u64,
}

/// What the store holds of one listed account, for comparing it with the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredRefreshToken {
    /// No item at all.
    Missing,
    /// The item and its refresh token (none when withdrawn).
    Present(Option<String>),
}

impl Store {
    /// Where the reconciliation's pass stands, if one ever started.
    pub async fn reconcile_cursor(
        &self,
        component: &str,
    ) -> Result<Option<ReconcileCursor>, StoreError> {
        let item = self.item(s(component), s(SK)).await?;
        Ok(item.map(|item| ReconcileCursor {
            pass: get_s(&item, "pass").unwrap_or_default().to_owned(),
            offset: get_n(&item, "offset")
                .and_then(|o| u32::try_from(o).ok())
                .unwrap_or(0),
            done: item.get("done").and_then(|v| v.as_bool().ok()).copied() == Some(true),
            listed: get_n(&item, "listed").unwrap_or(0).max(0) as u64,
            repaired: get_n(&item, "repaired").unwrap_or(0).max(0) as u64,
        }))
    }

    /// Stores where the pass stands. A plain write: the cursor only says where to go on, and a
    /// stale one (two reconciliations at once) at worst makes a page be compared twice.
    pub async fn save_reconcile_cursor(
        &self,
        component: &str,
        cursor: &ReconcileCursor,
        now: i64,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(component))
            .item("sk", s(SK))
            .item("pass", s(&cursor.pass))
            .item("offset", n(i64::from(cursor.offset)))
            .item("done", AttributeValue::Bool(cursor.done))
            .item("listed", n(cursor.listed as i64))
            .item("repaired", n(cursor.repaired as i64))
            .item("updated_at", n(now))
            .send()
            .await
            .map_err(dynamo_error("PutItem"))?;
        Ok(())
    }

    /// The stored refresh tokens of `appids`, read in batches of 100 keys (BatchGetItem, all of
    /// a page's batches at once; eventually consistent: whatever is written on what it reads is
    /// conditional).
    pub async fn stored_refresh_tokens(
        &self,
        component: &str,
        appids: &[&str],
    ) -> Result<HashMap<String, StoredRefreshToken>, StoreError> {
        let mut found: HashMap<String, StoredRefreshToken> = appids
            .iter()
            .map(|appid| ((*appid).to_owned(), StoredRefreshToken::Missing))
            .collect();
        let batches: Vec<_> = futures_util::stream::iter(appids.chunks(BATCH_GET))
            .map(|chunk| self.batch_of_refresh_tokens(component, chunk))
            .buffer_unordered(BATCHES_IN_FLIGHT)
            .collect()
            .await;
        for batch in batches {
            for (appid, stored) in batch? {
                found.insert(appid, stored);
            }
        }
        Ok(found)
    }

    /// One BatchGetItem of up to 100 accounts, asking again for the keys DynamoDB left
    /// unprocessed (throttling).
    async fn batch_of_refresh_tokens(
        &self,
        component: &str,
        appids: &[&str],
    ) -> Result<Vec<(String, StoredRefreshToken)>, StoreError> {
        let keys: Vec<Item> = appids
            .iter()
            .map(|appid| {
                HashMap::from([
                    ("pk".to_owned(), s(&authorizer_pk(component, appid))),
                    ("sk".to_owned(), s(super::authorizers::SK)),
                ])
            })
            .collect();
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .projection_expression("authorizer_appid, refresh_token")
                .build()
                .map_err(|error| StoreError::Dynamo {
                    operation: "BatchGetItem",
                    message: error.to_string(),
                })?,
        );
        let mut found = Vec::new();
        let mut attempt = 0u32;
        while let Some(keys) = request.take() {
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, keys)
                .send()
                .await
                .map_err(dynamo_error("BatchGetItem"))?;
            for item in output
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                if let Some(appid) = get_s(&item, "authorizer_appid") {
                    found.push((
                        appid.to_owned(),
                        StoredRefreshToken::Present(
                            get_s(&item, "refresh_token").map(str::to_owned),
                        ),
                    ));
                }
            }
            request = output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys().is_empty());
            if request.is_some() {
                attempt += 1;
                if attempt > 8 {
                    return Err(StoreError::Dynamo {
                        operation: "BatchGetItem",
                        message: "keys left unprocessed after 8 attempts".into(),
                    });
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(5))).await;
            }
        }
        Ok(found)
    }
}
