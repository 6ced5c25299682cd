//! One item per authorized account (`pk = {component}#authorizer#{appid}`, `sk = authorizer`):
//! its tokens, refresh token, permission sets, profile, status and owner.
//!
//! The refresh token is the one credential that cannot be lost: every write of it is conditional
//! on the refresh lease and on the token it replaces, so an older or empty one never wins.
//! An account is in the `due` index while it is authorized, at the time its access token needs
//! refreshing; withdrawn accounts leave the index.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};

use super::{
    Item, Store, StoreError, applied, conditional_failed, due_pk, dynamo_error, get_n, get_s, n, s,
};
use crate::wechat::{AuthorizerProfile, Secret};

pub(super) const SK: &str = "authorizer";

/// Where an authorizer stands with the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerStatus {
    /// Authorized: its tokens are kept fresh.
    Authorized,
    /// The account withdrew its authorization (`unauthorized`, 61003): tokens dropped.
    Withdrawn,
    /// WeChat no longer knows the refresh token nor lists the account: the merchant must
    /// authorize again.
    ReauthorizationRequired,
}

impl AuthorizerStatus {
    /// The stored name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorized => "authorized",
            Self::Withdrawn => "withdrawn",
            Self::ReauthorizationRequired => "reauthorization_required",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "authorized" => Some(Self::Authorized),
            "withdrawn" => Some(Self::Withdrawn),
            "reauthorization_required" => Some(Self::ReauthorizationRequired),
            _ => None,
        }
    }
}

/// An authorizer as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizerRecord {
    /// The account's appid.
    pub authorizer_appid: String,
    /// Its status.
    pub status: AuthorizerStatus,
    /// Its access token, while authorized.
    pub access_token: Option<Secret>,
    /// Unix seconds; 0 when there is no access token.
    pub access_token_expires_at: i64,
    /// Its refresh token, while authorized.
    pub refresh_token: Option<Secret>,
    /// When its refresh token was last stored, Unix seconds.
    pub refresh_token_updated_at: Option<i64>,
    /// Permission set ids (`funcscope_category.id`).
    pub func_info: Vec<i64>,
    /// Its profile, once fetched.
    pub profile: Option<AuthorizerProfile>,
    /// The merchant it is bound to.
    pub merchant: Option<String>,
    /// When it (last) authorized, Unix seconds.
    pub authorized_at: i64,
    /// When the item last changed, Unix seconds.
    pub updated_at: i64,
    /// When the refresher should next look at it (absent when not due at all).
    pub due_at: Option<i64>,
    /// Until when a caller holds its refresh lease, Unix seconds.
    pub lease_until: Option<i64>,
}

/// What an authorization (api_query_auth, or a repair from api_get_authorizer_list) gives.
#[derive(Debug, Clone)]
pub struct NewAuthorization {
    /// The account's appid.
    pub authorizer_appid: String,
    /// How WeChat handed the refresh token over.
    pub source: AuthorizationSource,
    /// Its refresh token.
    pub refresh_token: Secret,
    /// Its access token and when it expires, when WeChat gave one.
    pub access_token: Option<(Secret, i64)>,
    /// The permission sets granted, when known.
    pub func_info: Option<Vec<i64>>,
    /// Its profile, when fetched.
    pub profile: Option<AuthorizerProfile>,
    /// The merchant to bind it to, if any.
    pub merchant: Option<String>,
    /// When it authorized, Unix seconds.
    pub authorized_at: i64,
}

/// Where an authorization's refresh token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationSource {
    /// api_query_auth's answer to the code.
    QueryAuth,
    /// api_get_authorizer_list (an exchange whose answer was lost).
    Listed,
}

/// The state an account must still be in for [`Store::mark_authorizer`] to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkIf<'a> {
    /// The stored refresh token is still this one (none: there is none): what a refresh that
    /// WeChat refused used.
    RefreshToken(Option<&'a str>),
    /// The account has not authorized (again) after this time (an `unauthorized` push's
    /// CreateTime).
    NotAuthorizedSince(i64),
}

fn key(component: &str, authorizer_appid: &str) -> [(String, AttributeValue); 2] {
    [
        (
            "pk".into(),
            s(&super::authorizer_pk(component, authorizer_appid)),
        ),
        ("sk".into(), s(SK)),
    ]
}

impl Store {
    /// One authorizer, read consistently.
    pub async fn authorizer(
        &self,
        component: &str,
        authorizer_appid: &str,
    ) -> Result<Option<AuthorizerRecord>, StoreError> {
        let item = self
            .item(s(&super::authorizer_pk(component, authorizer_appid)), s(SK))
            .await?;
        item.map(|item| record(&item)).transpose()
    }

    /// Stores what an authorization gave, in one write: a new account, or new tokens and
    /// permissions for a known one (which becomes authorized again). Fields not given are
    /// kept. When `code` is given, the code's claim is settled as exchanged in the same
    /// transaction.
    ///
    /// Conditional on the state it replaces: never over a later authorization (a newer
    /// `authorized_at`), and, for a refresh token read from api_get_authorizer_list
    /// (`source` [`AuthorizationSource::Listed`]), never while a refresh holds the account's
    /// lease (that refresh stores the token WeChat hands it). An authorization from
    /// api_query_auth takes the lease away: a refresh under way with the old refresh token can
    /// no longer store anything. Returns whether it applied.
    pub async fn save_authorization(
        &self,
        component: &str,
        auth: &NewAuthorization,
        code: Option<&str>,
        due_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut set = vec![
            "authorizer_appid = :appid",
            "#status = :authorized",
            "refresh_token = :refresh",
            "refresh_token_updated_at = :now",
            "authorized_at = :authorized_at",
            "updated_at = :now",
            "due_pk = :due_pk",
            "due_at = :due_at",
        ];
        let mut condition = String::from(
            "(attribute_not_exists(authorized_at) OR authorized_at <= :authorized_at)",
        );
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(
                key(component, &auth.authorizer_appid).into_iter().collect(),
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":appid", s(&auth.authorizer_appid))
            .expression_attribute_values(":authorized", s(AuthorizerStatus::Authorized.as_str()))
            .expression_attribute_values(":refresh", s(auth.refresh_token.expose()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":authorized_at", n(auth.authorized_at))
            .expression_attribute_values(":due_pk", s(&due_pk(component, &auth.authorizer_appid)))
            .expression_attribute_values(":due_at", n(due_at));
        match auth.source {
            AuthorizationSource::QueryAuth => {}
            AuthorizationSource::Listed => {
                condition
                    .push_str(" AND (attribute_not_exists(lease_until) OR lease_until < :now)");
            }
        }
        match &auth.access_token {
            Some((token, expires_at)) => {
                set.extend([
                    "access_token = :access",
                    "access_token_expires_at = :expires",
                ]);
                update = update
                    .expression_attribute_values(":access", s(token.expose()))
                    .expression_attribute_values(":expires", n(*expires_at));
            }
            None => {
                // Whatever access token is stored came with another refresh token.
                set.push("access_token_expires_at = :zero");
                update = update.expression_attribute_values(":zero", n(0));
            }
        }
        if let Some(func_info) = &auth.func_info {
            set.push("func_info = :func_info");
            update = update.expression_attribute_values(":func_info", numbers(func_info));
        }
        if let Some(profile) = &auth.profile {
            set.push("profile = :profile");
            let json = serde_json::to_string(profile).expect("a profile serialises");
            update = update.expression_attribute_values(":profile", s(&json));
        }
        if let Some(merchant) = &auth.merchant {
            set.push("merchant = :merchant");
            update = update.expression_attribute_values(":merchant", s(merchant));
        }
        let mut expression = format!("SET {}", set.join(", "));
        if auth.access_token.is_none() {
            expression.push_str(" REMOVE access_token, lease_owner, lease_until");
        } else {
            expression.push_str(" REMOVE lease_owner, lease_until");
        }
        let update = update
            .update_expression(expression)
            .condition_expression(condition)
            .build()
            .expect("table, key and expression are set");
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build());
        if let Some(code) = code {
            transaction = transaction.transact_items(
                TransactWriteItem::builder()
                    .update(self.settle_code_update(component, code, &auth.authorizer_appid, now))
                    .build(),
            );
        }
        applied(transaction.send().await, "TransactWriteItems")
    }

    /// Stores an account's profile and permission sets (api_get_authorizer_info), once it is
    /// stored. Returns whether it applied.
    pub async fn save_profile(
        &self,
        component: &str,
        authorizer_appid: &str,
        profile: &AuthorizerProfile,
        func_info: &[i64],
        now: i64,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(profile).expect("a profile serialises");
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(component, authorizer_appid).into_iter().collect()))
            .update_expression("SET profile = :profile, func_info = :func_info, updated_at = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":profile", s(&json))
            .expression_attribute_values(":func_info", numbers(func_info))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        applied(result, "UpdateItem")
    }

    /// Takes the refresh lease of an authorized account when `when` says it needs a refresh.
    /// Returns the account as it now stands, or `None` when someone else holds the lease, it
    /// does not need refreshing, or it is not authorized.
    pub async fn acquire_authorizer_lease(
        &self,
        component: &str,
        authorizer_appid: &str,
        owner: &str,
        now: i64,
        lease_until: i64,
        when: RefreshWhen<'_>,
    ) -> Result<Option<AuthorizerRecord>, StoreError> {
        let needed = match when {
            RefreshWhen::Due => " AND due_at <= :now",
            RefreshWhen::Replacing(Some(_)) => " AND access_token = :seen",
            RefreshWhen::Replacing(None) => " AND attribute_not_exists(access_token)",
            RefreshWhen::Always => "",
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(component, authorizer_appid).into_iter().collect()))
            // Moving due_at to the lease's end hides it from overlapping runs; if this caller
            // dies, it is due again when the lease runs out.
            .update_expression("SET lease_owner = :owner, lease_until = :until, due_at = :until")
            .condition_expression(format!(
                "attribute_exists(pk) AND #status = :authorized \
                 AND (attribute_not_exists(lease_until) OR lease_until < :now){needed}"
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":authorized", s(AuthorizerStatus::Authorized.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(lease_until))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew);
        if let RefreshWhen::Replacing(Some(seen)) = when {
            request = request.expression_attribute_values(":seen", s(seen));
        }
        match request.send().await {
            Ok(output) => output.attributes.map(|item| record(&item)).transpose(),
            Err(error) if conditional_failed(&error) => Ok(None),
            Err(error) => Err(dynamo_error("UpdateItem")(error)),
        }
    }

    /// Persists a refresh's result in one conditional write: the new access token and the
    /// refresh token WeChat returned (or the one used, when it returned none), only while
    /// `owner` holds the lease and the stored refresh token is still `used_refresh_token`.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_authorizer_token(
        &self,
        component: &str,
        authorizer_appid: &str,
        owner: &str,
        used_refresh_token: &str,
        access_token: &str,
        expires_at: i64,
        new_refresh_token: Option<&str>,
        due_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let refresh = new_refresh_token
            .filter(|t| !t.is_empty())
            .unwrap_or(used_refresh_token);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(component, authorizer_appid).into_iter().collect()))
            .update_expression(
                "SET access_token = :access, access_token_expires_at = :expires, \
                 refresh_token = :refresh, refresh_token_updated_at = :now, updated_at = :now, \
                 due_pk = :due_pk, due_at = :due_at REMOVE lease_owner, lease_until",
            )
            .condition_expression("lease_owner = :owner AND refresh_token = :used")
            .expression_attribute_values(":access", s(access_token))
            .expression_attribute_values(":expires", n(expires_at))
            .expression_attribute_values(":refresh", s(refresh))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":due_pk", s(&due_pk(component, authorizer_appid)))
            .expression_attribute_values(":due_at", n(due_at))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":used", s(used_refresh_token))
            .send()
            .await;
        applied(result, "UpdateItem")
    }

    /// Replaces a refresh token WeChat refused (61023) with the one it lists, while `owner`
    /// holds the lease and the stored token is still the refused one.
    pub async fn replace_refresh_token(
        &self,
        component: &str,
        authorizer_appid: &str,
        owner: &str,
        refused: &str,
        recovered: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(component, authorizer_appid).into_iter().collect()))
            .update_expression(
                "SET refresh_token = :recovered, refresh_token_updated_at = :now, updated_at = :now",
            )
            .condition_expression("lease_owner = :owner AND refresh_token = :refused")
            .expression_attribute_values(":recovered", s(recovered))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":refused", s(refused))
            .send()
            .await;
        applied(result, "UpdateItem")
    }

    /// Repairs an account from api_get_authorizer_list: creates it when missing, replaces its
    /// refresh token when it differs from the listed one, unless a refresh is under way. A
    /// repaired account is due at once, so the next run proves the token works.
    /// Returns whether anything changed.
    pub async fn repair_from_list(
        &self,
        component: &str,
        authorizer_appid: &str,
        listed_refresh_token: &str,
        auth_time: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(component, authorizer_appid).into_iter().collect()))
            .update_expression(
                "SET authorizer_appid = :appid, refresh_token = :refresh, \
                 refresh_token_updated_at = :now, updated_at = :now, #status = :authorized, \
                 authorized_at = if_not_exists(authorized_at, :auth_time), \
                 access_token_expires_at = :zero, due_pk = :due_pk, due_at = :now",
            )
            .condition_expression(
                "attribute_not_exists(pk) OR (refresh_token <> :refresh \
                 AND (attribute_not_exists(lease_until) OR lease_until < :now))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":appid", s(authorizer_appid))
            .expression_attribute_values(":refresh", s(listed_refresh_token))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":authorized", s(AuthorizerStatus::Authorized.as_str()))
            .expression_attribute_values(":auth_time", n(auth_time))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":due_pk", s(&due_pk(component, authorizer_appid)))
            .send()
            .await;
        applied(result, "UpdateItem")
    }

    /// Marks an account withdrawn or needing re-authorization: its tokens are dropped and it
    /// leaves the `due` index. Any lease is released. Only while `only_if` holds (the state the
    /// decision was made on); returns whether it applied.
    pub async fn mark_authorizer(
        &self,
        component: &str,
        authorizer_appid: &str,
        status: AuthorizerStatus,
        only_if: MarkIf<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let drop = match status {
            AuthorizerStatus::Withdrawn => ", access_token, access_token_expires_at, refresh_token",
            _ => ", access_token, access_token_expires_at",
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(component, authorizer_appid).into_iter().collect()))
            .update_expression(format!(
                "SET #status = :status, updated_at = :now, authorizer_appid = :appid \
                 REMOVE due_pk, due_at, lease_owner, lease_until{drop}"
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":appid", s(authorizer_appid));
        request = match only_if {
            MarkIf::RefreshToken(Some(token)) => request
                .condition_expression("refresh_token = :used")
                .expression_attribute_values(":used", s(token)),
            MarkIf::RefreshToken(None) => request.condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(refresh_token)",
            ),
            MarkIf::NotAuthorizedSince(create_time) => request
                .condition_expression(
                    "attribute_not_exists(pk) OR #status <> :authorized \
                     OR attribute_not_exists(authorized_at) OR authorized_at <= :since",
                )
                .expression_attribute_values(
                    ":authorized",
                    s(AuthorizerStatus::Authorized.as_str()),
                )
                .expression_attribute_values(":since", n(create_time)),
        };
        applied(request.send().await, "UpdateItem")
    }

    /// Releases a lease after a failed refresh and puts the account back in the index at
    /// `retry_at`.
    pub async fn release_authorizer_lease(
        &self,
        component: &str,
        authorizer_appid: &str,
        owner: &str,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(component, authorizer_appid).into_iter().collect()))
            .update_expression("SET due_at = :retry REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :owner AND attribute_exists(due_pk)")
            .expression_attribute_values(":retry", n(retry_at))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        applied(result, "UpdateItem").map(|_| ())
    }

    /// One page of the items in one partition of the `due` index that are due by `now`,
    /// oldest first. Pass the returned [`DuePage::next`] back to continue.
    pub async fn due_items(
        &self,
        due_partition: &str,
        now: i64,
        limit: i32,
        start: Option<DueCursor>,
    ) -> Result<DuePage, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("due")
            .key_condition_expression("due_pk = :p AND due_at <= :now")
            .expression_attribute_values(":p", s(due_partition))
            .expression_attribute_values(":now", n(now))
            .limit(limit)
            .set_exclusive_start_key(start.map(|c| c.0))
            .send()
            .await
            .map_err(dynamo_error("Query"))?;
        let read = output.scanned_count().max(0) as usize;
        let items = output
            .items()
            .iter()
            .filter_map(|item| {
                Some(DueItem {
                    pk: get_s(item, "pk")?.to_owned(),
                    sk: get_s(item, "sk")?.to_owned(),
                    kind: match get_s(item, "kind") {
                        Some("authorization_event") => DueKind::AuthorizationEvent {
                            info_type: get_s(item, "info_type").unwrap_or_default().to_owned(),
                            create_time: get_n(item, "create_time").unwrap_or(0),
                            authorization_code: get_s(item, "authorization_code").map(Secret::from),
                            authorization_code_expired_time: get_n(
                                item,
                                "authorization_code_expires_at",
                            )
                            .unwrap_or(0),
                            pre_auth_code: get_s(item, "pre_auth_code").map(Secret::from),
                        },
                        _ => DueKind::Authorizer,
                    },
                    authorizer_appid: get_s(item, "authorizer_appid")?.to_owned(),
                    due_at: get_n(item, "due_at")?,
                })
            })
            .collect();
        Ok(DuePage {
            items,
            read,
            next: output.last_evaluated_key.map(DueCursor),
        })
    }

    /// Takes an authorization event out of the `due` index once it has been acted on.
    pub async fn settle_event(&self, pk: &str, sk: &str, now: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            // Settled again (a retried push): the first settlement's time stays. A settled
            // event's codes are used up or expired: they are not kept.
            .update_expression(
                "SET settled_at = if_not_exists(settled_at, :now) \
                 REMOVE due_pk, due_at, authorization_code, pre_auth_code",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now))
            .send()
            .await
            .map_err(dynamo_error("UpdateItem"))?;
        Ok(())
    }
}

/// When an authorizer's lease may be taken for a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshWhen<'a> {
    /// The `due` index says so (the scheduled refresher).
    Due,
    /// The access token is still the one the caller saw (on demand): nobody refreshed it since.
    Replacing(Option<&'a str>),
    /// Unconditionally (operators, tests).
    Always,
}

/// Something the `due` index says needs attention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueItem {
    /// The item's partition key.
    pub pk: String,
    /// The item's sort key.
    pub sk: String,
    /// What needs doing.
    pub kind: DueKind,
    /// The account.
    pub authorizer_appid: String,
    /// Since when it is due, Unix seconds.
    pub due_at: i64,
}

/// What a due item is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueKind {
    /// An account whose access token needs refreshing.
    Authorizer,
    /// A recorded authorization push not yet acted on.
    AuthorizationEvent {
        /// Its `InfoType`.
        info_type: String,
        /// WeChat's `CreateTime`, Unix seconds.
        create_time: i64,
        /// The code it carried.
        authorization_code: Option<Secret>,
        /// When the code expires, Unix seconds.
        authorization_code_expired_time: i64,
        /// The pre-auth code it named.
        pre_auth_code: Option<Secret>,
    },
}

/// Where a walk of the `due` index stopped.
#[derive(Debug, Clone)]
pub struct DueCursor(Item);

/// One page of due items, and how many items DynamoDB read for it.
#[derive(Debug, Clone)]
pub struct DuePage {
    /// The due items.
    pub items: Vec<DueItem>,
    /// How many items DynamoDB read (and bills) for the page.
    pub read: usize,
    /// Where the next page starts, if there is one.
    pub next: Option<DueCursor>,
}

fn numbers(values: &[i64]) -> AttributeValue {
    AttributeValue::L(values.iter().map(|v| n(*v)).collect())
}

fn record(item: &Item) -> Result<AuthorizerRecord, StoreError> {
    let corrupt = |reason| StoreError::Corrupt {
        key: get_s(item, "pk").unwrap_or_default().to_owned(),
        reason,
    };
    let status = get_s(item, "status")
        .and_then(AuthorizerStatus::parse)
        .ok_or(corrupt("no status"))?;
    let profile = match get_s(item, "profile") {
        Some(json) => Some(serde_json::from_str(json).map_err(|_| corrupt("unreadable profile"))?),
        None => None,
    };
    let func_info = item
        .get("func_info")
        .and_then(|v| v.as_l().ok())
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_n().ok()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    Ok(AuthorizerRecord {
        authorizer_appid: get_s(item, "authorizer_appid")
            .ok_or(corrupt("no authorizer_appid"))?
            .to_owned(),
        status,
        access_token: get_s(item, "access_token").map(Secret::from),
        access_token_expires_at: get_n(item, "access_token_expires_at").unwrap_or(0),
        refresh_token: get_s(item, "refresh_token").map(Secret::from),
        refresh_token_updated_at: get_n(item, "refresh_token_updated_at"),
        func_info,
        profile,
        merchant: get_s(item, "merchant").map(str::to_owned),
        authorized_at: get_n(item, "authorized_at").unwrap_or(0),
        updated_at: get_n(item, "updated_at").unwrap_or(0),
        due_at: get_n(item, "due_at"),
        lease_until: get_n(item, "lease_until"),
    })
}
