//! Short-lived items of the authorization flow, all expiring by TTL:
//! - a pre-auth session (`pk = {component}#session#{id}`): the merchant and what our link was
//!   asked for, with the pre_auth_code WeChat gave for it;
//! - the pre_auth_code's index (`pk = {component}#preauth#{digest}`), which finds the session
//!   from an `authorized` push and makes sure a pre_auth_code is never used twice;
//! - an authorization code's claim (`pk = {component}#authcode#{digest}`), so the callback and
//!   the push exchange a code once between them;
//! - how many authorizations a signed merchant link started in a window
//!   (`pk = {component}#link#{digest of its signature}`, `sk = starts#{window start}`).

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};

use super::{
    Item, Store, StoreError, applied, conditional_failed, digest, dynamo_error, get_n, get_s, n, s,
};

/// Sessions, claims and indexes are kept a day past their use, then expire.
const KEEP_SECS: i64 = 24 * 3600;

/// A code's exchange settled: the account it was for.
const EXCHANGED: &str = "SET #state = :exchanged, authorizer_appid = :appid, \
     expires_at = if_not_exists(expires_at, :expires) REMOVE lease_until, sent";

/// What the merchant's link asked for.
#[derive(Clone, PartialEq, Eq)]
pub struct PreAuthSession {
    /// The session's id (the callback's `session` parameter).
    pub id: String,
    /// The merchant whose link started it.
    pub merchant: String,
    /// The pre-auth code WeChat's page was opened with.
    pub pre_auth_code: String,
    /// Which accounts the administrator may pick.
    pub auth_type: u8,
    /// The one account asked for, if any.
    pub biz_appid: Option<String>,
    /// Whether WeChat's mobile page was used.
    pub mobile: bool,
    /// When it was created, Unix seconds.
    pub created_at: i64,
    /// Unix seconds; the session is refused after this.
    pub expires_at: i64,
    /// Set once an authorization completed it.
    pub completed: Option<CompletedSession>,
}

impl std::fmt::Debug for PreAuthSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreAuthSession")
            .field("id", &self.id)
            .field("merchant", &self.merchant)
            .field("pre_auth_code", &"<redacted>")
            .field("auth_type", &self.auth_type)
            .field("biz_appid", &self.biz_appid)
            .field("mobile", &self.mobile)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("completed", &self.completed)
            .finish()
    }
}

/// How a session was completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedSession {
    /// The account that authorized.
    pub authorizer_appid: String,
    /// Digest of the authorization code that completed it (a reload repeats it).
    pub code_digest: String,
}

/// The state of an authorization code's exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeClaim {
    /// Someone is exchanging it (until the lease runs out).
    Claimed {
        /// Until when the claim holds, Unix seconds.
        lease_until: i64,
    },
    /// The code was exchanged for this account.
    Exchanged {
        /// The account.
        authorizer_appid: String,
    },
}

/// What is recorded about one authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeState {
    /// Whether it is being, or was, exchanged.
    pub claim: CodeClaim,
    /// The session the `authorized` push named (through its PreAuthCode), when it came.
    pub push_session: Option<String>,
    /// The account the `authorized` push named, when it came.
    pub push_appid: Option<String>,
    /// The session of whoever claimed the code (the merchant it is to be bound to), recorded
    /// before the code was sent.
    pub claim_session: Option<String>,
}

/// What a claim on a code's exchange gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller is to exchange the code. `maybe_sent`: an earlier claimant may have sent it
    /// to WeChat (it died, or its call failed without saying whether WeChat used the code), so
    /// the code must not be sent again: the exchange is resolved through
    /// api_get_authorizer_list instead.
    Won {
        /// An earlier claimant may have sent the code.
        maybe_sent: bool,
        /// The session an earlier claimant recorded, if any.
        earlier_session: Option<String>,
    },
    /// Someone else holds the claim, or the code was exchanged.
    Held,
}

fn session_pk(component: &str, id: &str) -> String {
    format!("{component}#session#{id}")
}

fn preauth_pk(component: &str, pre_auth_code: &str) -> String {
    format!("{component}#preauth#{}", digest(pre_auth_code))
}

fn authcode_pk(component: &str, code: &str) -> String {
    format!("{component}#authcode#{}", digest(code))
}

fn link_pk(component: &str, signature: &str) -> String {
    format!("{component}#link#{}", digest(signature))
}

impl Store {
    /// Records a new session and its pre_auth_code in one transaction; refused (false) when
    /// the pre_auth_code was ever recorded before.
    pub async fn create_session(
        &self,
        component: &str,
        session: &PreAuthSession,
    ) -> Result<bool, StoreError> {
        let mut item = Put::builder()
            .table_name(&self.table)
            .item("pk", s(&session_pk(component, &session.id)))
            .item("sk", s("session"))
            .item("merchant", s(&session.merchant))
            .item("pre_auth_code", s(&session.pre_auth_code))
            .item("auth_type", n(i64::from(session.auth_type)))
            .item("mode", s(if session.mobile { "mobile" } else { "pc" }))
            .item("created_at", n(session.created_at))
            .item("session_expires_at", n(session.expires_at))
            .item("expires_at", n(session.expires_at + KEEP_SECS))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(biz_appid) = &session.biz_appid {
            item = item.item("biz_appid", s(biz_appid));
        }
        let index = Put::builder()
            .table_name(&self.table)
            .item("pk", s(&preauth_pk(component, &session.pre_auth_code)))
            .item("sk", s("preauth"))
            .item("session_id", s(&session.id))
            .item("expires_at", n(session.expires_at + KEEP_SECS))
            .condition_expression("attribute_not_exists(pk)");
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .put(item.build().expect("table, item and condition are set"))
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .put(index.build().expect("table, item and condition are set"))
                    .build(),
            )
            .send()
            .await;
        applied(result, "TransactWriteItems")
    }

    /// One session, read consistently.
    pub async fn session(
        &self,
        component: &str,
        id: &str,
    ) -> Result<Option<PreAuthSession>, StoreError> {
        let item = self
            .item(s(&session_pk(component, id)), s("session"))
            .await?;
        Ok(item.and_then(|item| session_of(id, &item)))
    }

    /// The session a pre_auth_code was issued for.
    pub async fn session_of_pre_auth_code(
        &self,
        component: &str,
        pre_auth_code: &str,
    ) -> Result<Option<PreAuthSession>, StoreError> {
        let item = self
            .item(s(&preauth_pk(component, pre_auth_code)), s("preauth"))
            .await?;
        match item.as_ref().and_then(|item| get_s(item, "session_id")) {
            Some(id) => self.session(component, id).await,
            None => Ok(None),
        }
    }

    /// Marks a session completed by an authorization code (idempotent for the same code).
    pub async fn complete_session(
        &self,
        component: &str,
        id: &str,
        authorizer_appid: &str,
        code: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let code_digest = digest(code);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&session_pk(component, id)))
            .key("sk", s("session"))
            // A repeat (WeChat's retried push, a reload) keeps the first completion's time.
            .update_expression(
                "SET completed_by = :appid, code_digest = :code, \
                 completed_at = if_not_exists(completed_at, :now)",
            )
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(code_digest) OR code_digest = :code)",
            )
            .expression_attribute_values(":appid", s(authorizer_appid))
            .expression_attribute_values(":code", s(&code_digest))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        applied(result, "UpdateItem").map(|_| ())
    }

    /// Counts one more authorization code tried at the callback for a session: false (and
    /// nothing written) when `max` were tried already, so one session cannot become many
    /// exchanges at WeChat.
    pub async fn count_code_attempt(
        &self,
        component: &str,
        id: &str,
        max: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&session_pk(component, id)))
            .key("sk", s("session"))
            .update_expression("SET code_attempts = if_not_exists(code_attempts, :zero) + :one")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(code_attempts) OR code_attempts < :max)",
            )
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .send()
            .await;
        applied(result, "UpdateItem")
    }

    /// Counts one authorization started by the link signed `signature`, in the fixed window of
    /// `window_secs` that holds `now`: false (and nothing written) when it started `max` in
    /// this window already. The count expires with its window.
    pub async fn count_link_start(
        &self,
        component: &str,
        signature: &str,
        now: i64,
        window_secs: i64,
        max: i64,
    ) -> Result<bool, StoreError> {
        let window = now - now.rem_euclid(window_secs);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&link_pk(component, signature)))
            .key("sk", s(&format!("starts#{window}")))
            .update_expression(
                "SET starts = if_not_exists(starts, :zero) + :one, expires_at = :expires",
            )
            .condition_expression("attribute_not_exists(starts) OR starts < :max")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .expression_attribute_values(":expires", n(window + window_secs + KEEP_SECS))
            .send()
            .await;
        applied(result, "UpdateItem")
    }

    /// Claims the exchange of an authorization code (nobody did, or a claimant's lease ran
    /// out), recording `session` (whose merchant the account is for) and that the code is about
    /// to be sent: from here on, a claimant that disappears leaves the code "maybe sent".
    pub async fn claim_code(
        &self,
        component: &str,
        code: &str,
        session: Option<&str>,
        now: i64,
        lease_until: i64,
    ) -> Result<Claim, StoreError> {
        let mut set = String::from(
            "SET #state = :claimed, lease_until = :until, expires_at = :expires, sent = :sent",
        );
        if session.is_some() {
            set.push_str(", claim_session = :session");
        }
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&authcode_pk(component, code)))
            .key("sk", s("authcode"))
            .update_expression(set)
            .condition_expression(
                "attribute_not_exists(#state) OR (#state = :claimed AND lease_until < :now)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claimed", s("claimed"))
            .expression_attribute_values(":until", n(lease_until))
            .expression_attribute_values(":expires", n(now + KEEP_SECS))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":sent", AttributeValue::Bool(true))
            .return_values(ReturnValue::AllOld);
        if let Some(session) = session {
            request = request.expression_attribute_values(":session", s(session));
        }
        match request.send().await {
            Ok(output) => {
                let old = output.attributes.unwrap_or_default();
                Ok(Claim::Won {
                    maybe_sent: get_s(&old, "state") == Some("claimed")
                        && old.get("sent").and_then(|v| v.as_bool().ok()) == Some(&true),
                    earlier_session: get_s(&old, "claim_session").map(str::to_owned),
                })
            }
            Err(error) if conditional_failed(&error) => Ok(Claim::Held),
            Err(error) => Err(dynamo_error("UpdateItem")(error)),
        }
    }

    /// Gives a claim up at once, saying whether the code may have been sent (`maybe_sent`:
    /// the next claimant resolves the exchange without sending the code again).
    pub async fn release_code(
        &self,
        component: &str,
        code: &str,
        maybe_sent: bool,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&authcode_pk(component, code)))
            .key("sk", s("authcode"))
            .update_expression("SET lease_until = :zero, sent = :sent")
            // Never an exchanged code's record.
            .condition_expression("#state = :claimed")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claimed", s("claimed"))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":sent", AttributeValue::Bool(maybe_sent))
            .send()
            .await;
        applied(result, "UpdateItem").map(|_| ())
    }

    /// Drops the claim of a code WeChat refused: a code it never issued (or that expired)
    /// leaves nothing behind, and whoever asks next gets WeChat's own answer.
    pub async fn forget_code(&self, component: &str, code: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&authcode_pk(component, code)))
            .key("sk", s("authcode"))
            // Never an exchanged code's record.
            .condition_expression("#state = :claimed")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claimed", s("claimed"))
            .send()
            .await;
        applied(result, "DeleteItem").map(|_| ())
    }

    /// Records that a code was exchanged, for `authorizer_appid` (when the write that stored
    /// the account could not record it in the same transaction).
    pub async fn settle_code(
        &self,
        component: &str,
        code: &str,
        authorizer_appid: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let update = self.settle_code_update(component, code, authorizer_appid, now);
        self.client
            .update_item()
            .table_name(update.table_name)
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values)
            .send()
            .await
            .map_err(dynamo_error("UpdateItem"))?;
        Ok(())
    }

    /// The same write as [`Self::settle_code`], as one item of a transaction.
    pub(super) fn settle_code_update(
        &self,
        component: &str,
        code: &str,
        authorizer_appid: &str,
        now: i64,
    ) -> Update {
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(&authcode_pk(component, code)))
            .key("sk", s("authcode"))
            .update_expression(EXCHANGED)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":exchanged", s("exchanged"))
            .expression_attribute_values(":appid", s(authorizer_appid))
            .expression_attribute_values(":expires", n(now + KEEP_SECS))
            .build()
            .expect("table, key and expression are set")
    }

    /// Notes which session and account the `authorized` push named for a code.
    pub async fn note_push_session(
        &self,
        component: &str,
        code: &str,
        session_id: &str,
        authorizer_appid: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&authcode_pk(component, code)))
            .key("sk", s("authcode"))
            .update_expression(
                "SET push_session = :session, push_appid = :appid, \
                 expires_at = if_not_exists(expires_at, :expires)",
            )
            .expression_attribute_values(":session", s(session_id))
            .expression_attribute_values(":appid", s(authorizer_appid))
            .expression_attribute_values(":expires", n(now + KEEP_SECS))
            .send()
            .await
            .map_err(dynamo_error("UpdateItem"))?;
        Ok(())
    }

    /// What is recorded about `code`, read consistently.
    pub async fn code_state(
        &self,
        component: &str,
        code: &str,
    ) -> Result<Option<CodeState>, StoreError> {
        let item = self
            .item(s(&authcode_pk(component, code)), s("authcode"))
            .await?;
        let Some(item) = item else {
            return Ok(None);
        };
        let claim = match get_s(&item, "state") {
            Some("exchanged") => CodeClaim::Exchanged {
                authorizer_appid: get_s(&item, "authorizer_appid")
                    .unwrap_or_default()
                    .to_owned(),
            },
            _ => CodeClaim::Claimed {
                lease_until: get_n(&item, "lease_until").unwrap_or(0),
            },
        };
        Ok(Some(CodeState {
            claim,
            push_session: get_s(&item, "push_session").map(str::to_owned),
            push_appid: get_s(&item, "push_appid").map(str::to_owned),
            claim_session: get_s(&item, "claim_session").map(str::to_owned),
        }))
    }

    /// Binds an account to a merchant. It takes an account that is unbound, already bound to
    /// this merchant, provisionally bound by this very code (when `authoritative`: the push
    /// corrects a callback that came with another session), or any account when `take_over`.
    /// Returns the merchant the account is bound to afterwards.
    #[allow(clippy::too_many_arguments)]
    pub async fn bind_merchant(
        &self,
        component: &str,
        authorizer_appid: &str,
        merchant: &str,
        code: &str,
        authoritative: bool,
        take_over: bool,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let mut condition = String::from(
            "attribute_exists(pk) AND (attribute_not_exists(merchant) OR merchant = :merchant",
        );
        if authoritative {
            condition.push_str(" OR bound_by = :code");
        }
        if take_over {
            condition.push_str(" OR attribute_exists(merchant)");
        }
        condition.push(')');
        // The same binding again (a retried push) writes nothing, so bound_at stays the first.
        condition.push_str(
            " AND NOT (merchant = :merchant AND bound_by = :code AND bound_by_push = :authoritative)",
        );
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&super::authorizer_pk(component, authorizer_appid)))
            .key("sk", s(super::authorizers::SK))
            .update_expression(
                "SET merchant = :merchant, bound_by = :code, bound_at = :now, \
                 bound_by_push = :authoritative",
            )
            .condition_expression(condition)
            .expression_attribute_values(":merchant", s(merchant))
            .expression_attribute_values(":code", s(&digest(code)))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(
                ":authoritative",
                aws_sdk_dynamodb::types::AttributeValue::Bool(authoritative),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(merchant.to_owned())),
            Err(error) if conditional_failed(&error) => Ok(self
                .authorizer(component, authorizer_appid)
                .await?
                .and_then(|r| r.merchant)),
            Err(error) => Err(dynamo_error("UpdateItem")(error)),
        }
    }
}

fn session_of(id: &str, item: &Item) -> Option<PreAuthSession> {
    Some(PreAuthSession {
        id: id.to_owned(),
        merchant: get_s(item, "merchant")?.to_owned(),
        pre_auth_code: get_s(item, "pre_auth_code")?.to_owned(),
        auth_type: u8::try_from(get_n(item, "auth_type")?).ok()?,
        biz_appid: get_s(item, "biz_appid").map(str::to_owned),
        mobile: get_s(item, "mode") == Some("mobile"),
        created_at: get_n(item, "created_at")?,
        expires_at: get_n(item, "session_expires_at")?,
        completed: match (get_s(item, "completed_by"), get_s(item, "code_digest")) {
            (Some(appid), Some(code)) => Some(CompletedSession {
                authorizer_appid: appid.to_owned(),
                code_digest: code.to_owned(),
            }),
            _ => None,
        },
    })
}

/// Whether `code` is the one recorded as `digest` (for reloads of the result page).
pub fn same_code(code: &str, code_digest: &str) -> bool {
    digest(code) == code_digest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_pre_auth_code() {
        let session = PreAuthSession {
            id: "0".repeat(32),
            merchant: "shop".into(),
            pre_auth_code: "preauthcode@@@secret".into(),
            auth_type: 3,
            biz_appid: None,
            mobile: false,
            created_at: 1,
            expires_at: 2,
            completed: None,
        };
        let shown = format!("{session:?}");
        assert!(
            !shown.contains("preauthcode@@@secret") && shown.contains("shop"),
            "{shown}"
        );
        assert!(same_code("code", &digest("code")) && !same_code("code", &digest("other")));
    }
}
