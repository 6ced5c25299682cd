//! The service's state in one DynamoDB table (defined once, in template.yaml).
//!
//! Keys, all under the component appid so one table can serve several platforms:
//! - `pk = {component}`, `sk = ticket`: the newest component_verify_ticket;
//! - `pk = {component}`, `sk = component_token`, and `pk = {component}#authorizer#{appid}`,
//!   `sk = jsapi_ticket`: values refreshed under a lease (store/leased.rs);
//! - `pk = {component}#authorizer#{appid}`, `sk = event#{CreateTime}#{InfoType}#{digest}`: an
//!   authorization event, due for processing (index `due`) until later work takes it;
//! - `pk = {component}#push#{InfoType}`, `sk = {CreateTime}#{digest}`: pushes of other kinds.
//!
//! The `due` index (`due_pk`, `due_at`) spreads work over [`DUE_SHARDS`] partition keys so no key
//! runs hot and nothing ever needs a scan.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use sha1::{Digest, Sha1};

use crate::push::{AuthorizationGrant, ComponentInfo, ComponentPush, FAST_REGISTERED};
use crate::xml::Fields;

mod authorizers;
mod events;
mod leased;
mod reconcile;
mod sessions;

pub use authorizers::{
    AuthorizationSource, AuthorizerRecord, AuthorizerStatus, DueCursor, DueItem, DueKind, DuePage,
    MarkIf, NewAuthorization, RefreshWhen,
};
pub use leased::{ComponentTokenState, LeasedKey, LeasedState};
pub use reconcile::{ReconcileCursor, StoredRefreshToken};
pub use sessions::{Claim, CodeClaim, CodeState, CompletedSession, PreAuthSession, same_code};

/// Partition keys of the `due` index per component.
pub const DUE_SHARDS: u32 = 16;
/// Pushes other than tickets and authorization events are kept this long.
const OTHER_PUSH_RETENTION_SECS: i64 = 90 * 24 * 3600;

/// Why a read or write of the table failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB refused or did not answer.
    #[error("DynamoDB {operation} failed: {message}")]
    Dynamo {
        /// The operation (`PutItem`, `UpdateItem`, ...).
        operation: &'static str,
        /// What DynamoDB said.
        message: String,
    },
    /// An item lacks an attribute or holds one of the wrong type.
    #[error("stored item {key} is malformed: {reason}")]
    Corrupt {
        /// The item's key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Operation errors that can say "the condition failed".
pub(crate) trait ConditionalCheck {
    fn is_conditional_check_failed(&self) -> bool;
}

macro_rules! conditional_check {
    ($($error:ty),*) => {$(
        impl ConditionalCheck for $error {
            fn is_conditional_check_failed(&self) -> bool {
                self.is_conditional_check_failed_exception()
            }
        }
    )*};
}
conditional_check!(
    aws_sdk_dynamodb::operation::put_item::PutItemError,
    aws_sdk_dynamodb::operation::update_item::UpdateItemError,
    aws_sdk_dynamodb::operation::delete_item::DeleteItemError
);

/// A transaction is cancelled when one of its conditions fails (or another transaction holds
/// one of its items): nothing of it applied.
impl ConditionalCheck
    for aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError
{
    fn is_conditional_check_failed(&self) -> bool {
        self.is_transaction_canceled_exception()
    }
}

pub(crate) fn conditional_failed<E: ConditionalCheck, R>(error: &SdkError<E, R>) -> bool {
    error
        .as_service_error()
        .is_some_and(ConditionalCheck::is_conditional_check_failed)
}

/// Whether a conditional write applied: `Ok(false)` when its condition failed.
pub(crate) fn applied<O, E, R>(
    result: Result<O, SdkError<E, R>>,
    operation: &'static str,
) -> Result<bool, StoreError>
where
    E: ConditionalCheck + std::error::Error + 'static,
    R: fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(error) if conditional_failed(&error) => Ok(false),
        Err(error) => Err(dynamo_error(operation)(error)),
    }
}

pub(crate) fn dynamo_error<E, R>(
    operation: &'static str,
) -> impl FnOnce(SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: fmt::Debug,
{
    move |error| StoreError::Dynamo {
        operation,
        message: DisplayErrorContext(error).to_string(),
    }
}

/// What a write of a fact did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The fact is new and now stored.
    Stored,
    /// The same fact was already stored; nothing changed.
    Duplicate,
    /// A newer fact of the same kind is stored; it was kept.
    Superseded,
}

/// The newest ticket WeChat pushed.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredTicket {
    /// The ticket.
    pub ticket: String,
    /// WeChat's CreateTime, Unix seconds.
    pub create_time: i64,
    /// When we received it, Unix seconds.
    pub received_at: i64,
}

impl fmt::Debug for StoredTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTicket")
            .field("ticket", &"<redacted>")
            .field("create_time", &self.create_time)
            .field("received_at", &self.received_at)
            .finish()
    }
}

/// An `authorized`, `updateauthorized` or `unauthorized` push as recorded.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationEvent {
    /// `InfoType`: `authorized`, `updateauthorized` or `unauthorized`.
    pub info_type: String,
    /// The account.
    pub authorizer_appid: String,
    /// WeChat's `CreateTime`, Unix seconds.
    pub create_time: i64,
    /// The authorization code the push carried, if any.
    pub grant: Option<AuthorizationGrant>,
    /// When we received it, Unix seconds.
    pub received_at: i64,
    /// Whether later work still has to act on it (it is in the `due` index).
    pub pending: bool,
    /// Its sort key (`event#{CreateTime}#{InfoType}#{digest}`), to settle it by.
    pub sk: String,
    /// How it was settled, when the refresher settled it: `applied`, `superseded` (a later
    /// `unauthorized` came first), `expired` (its code expired before it could be exchanged) or
    /// `refused` (WeChat refused the code).
    pub outcome: Option<String>,
}

impl fmt::Debug for AuthorizationEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationEvent")
            .field("info_type", &self.info_type)
            .field("authorizer_appid", &self.authorizer_appid)
            .field("create_time", &self.create_time)
            .field("grant", &self.grant)
            .field("received_at", &self.received_at)
            .field("pending", &self.pending)
            .field("sk", &self.sk)
            .field("outcome", &self.outcome)
            .finish()
    }
}

/// The table and how its keys are laid out.
#[derive(Debug, Clone)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

impl Store {
    /// The store in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The DynamoDB client (for the operator's scan).
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// One item by its key, read consistently (a value just written is seen).
    pub(crate) async fn item(
        &self,
        pk: AttributeValue,
        sk: AttributeValue,
    ) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo_error("GetItem"))?;
        Ok(output.item)
    }

    /// Records a decrypted push; `now` is Unix seconds.
    pub async fn record_push(
        &self,
        component: &str,
        push: &ComponentPush,
        now: i64,
    ) -> Result<Written, StoreError> {
        match &push.info {
            ComponentInfo::VerifyTicket { ticket } => {
                self.save_ticket(component, ticket, push.create_time, now)
                    .await
            }
            ComponentInfo::Unauthorized { authorizer_appid } => {
                self.record_authorization_event(component, push, authorizer_appid, None, now)
                    .await
            }
            // An authorization, or a fast registration's new mini program, with its code.
            ComponentInfo::Authorized(grant)
            | ComponentInfo::UpdateAuthorized(grant)
            | ComponentInfo::FastRegistered {
                grant: Some(grant), ..
            } => {
                self.record_authorization_event(
                    component,
                    push,
                    &grant.authorizer_appid,
                    Some(grant),
                    now,
                )
                .await
            }
            ComponentInfo::FastRegistered {
                grant: None,
                fields,
                ..
            } => {
                // What the platform submitted (the legal person's name, WeChat id, a phone
                // number) is handed on to its services, not kept here.
                let kept = fields.filtered(|name| !name.starts_with("info/"));
                self.record_other_push(component, FAST_REGISTERED, push.create_time, &kept, now)
                    .await
            }
            ComponentInfo::Other { info_type, fields } => {
                self.record_other_push(component, info_type, push.create_time, fields, now)
                    .await
            }
        }
    }

    /// Keeps the ticket with the newest CreateTime, by one conditional write.
    pub async fn save_ticket(
        &self,
        component: &str,
        ticket: &str,
        create_time: i64,
        now: i64,
    ) -> Result<Written, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(component))
            .item("sk", s("ticket"))
            .item("ticket", s(ticket))
            .item("create_time", n(create_time))
            .item("received_at", n(now))
            .condition_expression("attribute_not_exists(pk) OR create_time < :ct")
            .expression_attribute_values(":ct", n(create_time))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Stored),
            Err(error) => {
                let existing = error
                    .as_service_error()
                    .filter(|e| e.is_conditional_check_failed_exception())
                    .map(|e| match e {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                            c.item().cloned()
                        }
                        _ => None,
                    });
                match existing {
                    None => Err(dynamo_error("PutItem")(error)),
                    // Older DynamoDB emulators do not return the item; only newer or equal can fail.
                    Some(None) => Ok(Written::Duplicate),
                    Some(Some(item)) => {
                        let stored = get_n(&item, "create_time").unwrap_or(create_time);
                        if stored > create_time {
                            Ok(Written::Superseded)
                        } else {
                            if get_s(&item, "ticket") != Some(ticket) {
                                tracing::warn!(
                                    create_time,
                                    "two different tickets share one CreateTime; keeping the first"
                                );
                            }
                            Ok(Written::Duplicate)
                        }
                    }
                }
            }
        }
    }

    /// The newest ticket, if any was ever pushed.
    pub async fn ticket(&self, component: &str) -> Result<Option<StoredTicket>, StoreError> {
        let item = self.item(s(component), s("ticket")).await?;
        let Some(item) = item else {
            return Ok(None);
        };
        let corrupt = |reason| StoreError::Corrupt {
            key: format!("{component}/ticket"),
            reason,
        };
        Ok(Some(StoredTicket {
            ticket: get_s(&item, "ticket")
                .ok_or(corrupt("no ticket"))?
                .to_owned(),
            create_time: get_n(&item, "create_time").ok_or(corrupt("no create_time"))?,
            received_at: get_n(&item, "received_at").ok_or(corrupt("no received_at"))?,
        }))
    }

    async fn record_authorization_event(
        &self,
        component: &str,
        push: &ComponentPush,
        authorizer_appid: &str,
        grant: Option<&AuthorizationGrant>,
        now: i64,
    ) -> Result<Written, StoreError> {
        let info_type = push.info.info_type();
        let (pk, sk) = event_key(component, push).expect("an authorization event");
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s(&sk))
            .item("kind", s("authorization_event"))
            .item("info_type", s(info_type))
            .item("authorizer_appid", s(authorizer_appid))
            .item("create_time", n(push.create_time))
            .item("received_at", n(now))
            .item("due_pk", s(&due_pk(component, authorizer_appid)))
            .item("due_at", n(now))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(grant) = grant {
            request = request
                .item("authorization_code", s(&grant.authorization_code))
                .item(
                    "authorization_code_expires_at",
                    n(grant.authorization_code_expired_time),
                );
            if let Some(pre_auth_code) = &grant.pre_auth_code {
                request = request.item("pre_auth_code", s(pre_auth_code));
            }
        }
        conditional_put(request.send().await)
    }

    /// Authorization events recorded for one authorizer, oldest first.
    pub async fn authorization_events(
        &self,
        component: &str,
        authorizer_appid: &str,
    ) -> Result<Vec<AuthorizationEvent>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(&authorizer_pk(component, authorizer_appid)))
            .expression_attribute_values(":prefix", s("event#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo_error("Query"))?;
        output
            .items()
            .iter()
            .map(|item| {
                let corrupt = |reason| StoreError::Corrupt {
                    key: get_s(item, "sk").unwrap_or_default().to_owned(),
                    reason,
                };
                let field =
                    |name, reason| get_s(item, name).map(str::to_owned).ok_or(corrupt(reason));
                let grant = match get_s(item, "authorization_code") {
                    None => None,
                    Some(code) => Some(AuthorizationGrant {
                        authorizer_appid: field("authorizer_appid", "no authorizer_appid")?,
                        authorization_code: code.to_owned(),
                        authorization_code_expired_time: get_n(
                            item,
                            "authorization_code_expires_at",
                        )
                        .ok_or(corrupt("no authorization_code_expires_at"))?,
                        pre_auth_code: get_s(item, "pre_auth_code").map(str::to_owned),
                    }),
                };
                Ok(AuthorizationEvent {
                    info_type: field("info_type", "no info_type")?,
                    authorizer_appid: field("authorizer_appid", "no authorizer_appid")?,
                    create_time: get_n(item, "create_time").ok_or(corrupt("no create_time"))?,
                    grant,
                    received_at: get_n(item, "received_at").ok_or(corrupt("no received_at"))?,
                    pending: item.contains_key("due_pk"),
                    sk: field("sk", "no sk")?,
                    outcome: get_s(item, "outcome").map(str::to_owned),
                })
            })
            .collect()
    }

    async fn record_other_push(
        &self,
        component: &str,
        info_type: &str,
        create_time: i64,
        fields: &Fields,
        now: i64,
    ) -> Result<Written, StoreError> {
        let map = fields
            .iter()
            .map(|(name, value)| (name.to_owned(), s(value)))
            .collect();
        let digest = fields.digest();
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&format!("{component}#push#{info_type}")))
            .item("sk", s(&format!("{create_time:010}#{digest}")))
            .item("kind", s("push"))
            .item("info_type", s(info_type))
            .item("create_time", n(create_time))
            .item("received_at", n(now))
            .item("fields", AttributeValue::M(map))
            .item("expires_at", n(now + OTHER_PUSH_RETENTION_SECS))
            .condition_expression("attribute_not_exists(pk)");
        conditional_put(request.send().await)
    }
}

fn conditional_put<R: fmt::Debug>(
    result: Result<
        aws_sdk_dynamodb::operation::put_item::PutItemOutput,
        SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, R>,
    >,
) -> Result<Written, StoreError> {
    Ok(if applied(result, "PutItem")? {
        Written::Stored
    } else {
        Written::Duplicate
    })
}

/// The key of an authorization event's item; `None` for other pushes.
pub fn event_key(component: &str, push: &ComponentPush) -> Option<(String, String)> {
    let (appid, code) = match (&push.info, push.info.grant()) {
        (ComponentInfo::Unauthorized { authorizer_appid }, _) => (authorizer_appid, ""),
        (_, Some(g)) => (&g.authorizer_appid, g.authorization_code.as_str()),
        _ => return None,
    };
    let sk = format!(
        "event#{:010}#{}#{}",
        push.create_time,
        push.info.info_type(),
        digest(code)
    );
    Some((authorizer_pk(component, appid), sk))
}

/// The partition key of everything about one authorizer.
pub fn authorizer_pk(component: &str, authorizer_appid: &str) -> String {
    format!("{component}#authorizer#{authorizer_appid}")
}

/// The `due` index partition an authorizer's work lands in: a stable hash, so an authorizer
/// always lands in the same one.
pub fn due_pk(component: &str, authorizer_appid: &str) -> String {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let hash = authorizer_appid.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    due_partition(component, hash % DUE_SHARDS)
}

/// The `due` index partition key of one shard.
pub fn due_partition(component: &str, shard: u32) -> String {
    format!("{component}#due#{shard:02}")
}

pub(crate) fn digest(value: &str) -> String {
    hex::encode(&Sha1::digest(value.as_bytes())[..8])
}

pub(crate) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(crate) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

pub(crate) fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_partitions_are_stable_and_spread() {
        assert_eq!(
            due_pk("wxc", "wx570bc396a51b8ff8"),
            due_pk("wxc", "wx570bc396a51b8ff8")
        );
        let used: std::collections::HashSet<String> = (0..1000)
            .map(|i| due_pk("wxc", &format!("wx{i:016x}")))
            .collect();
        assert_eq!(used.len(), DUE_SHARDS as usize);
    }
}
