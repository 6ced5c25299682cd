//! Values that exactly one caller refreshes per lifetime, under a lease in their item: the
//! component token (`pk = {component}`, `sk = component_token`) and each authorized account's
//! JS-SDK ticket (`pk = {component}#authorizer#{appid}`, `sk = jsapi_ticket`). The value is the
//! item's `token` attribute.

use super::{Store, StoreError, applied, authorizer_pk, get_n, get_s, n, s};
use crate::wechat::Secret;

/// Where a leased value is kept, and what it is called in logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedKey {
    pk: String,
    sk: &'static str,
    /// `component token`, `jsapi ticket`.
    pub name: &'static str,
}

impl LeasedKey {
    /// The component token's item.
    pub fn component_token(component: &str) -> Self {
        Self {
            pk: component.to_owned(),
            sk: "component_token",
            name: "component token",
        }
    }

    /// The item of an authorized account's JS-SDK ticket (`jsapi_ticket`).
    pub fn jsapi_ticket(component: &str, authorizer_appid: &str) -> Self {
        Self {
            pk: authorizer_pk(component, authorizer_appid),
            sk: "jsapi_ticket",
            name: "jsapi ticket",
        }
    }
}

/// A stored leased value and who, if anyone, is refreshing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedState {
    /// The value (a token or a ticket), once one was fetched.
    pub token: Option<Secret>,
    /// Unix seconds.
    pub expires_at: i64,
    /// When it was fetched (Unix seconds).
    pub issued_at: i64,
    /// Until when a caller holds the refresh lease (Unix seconds).
    pub lease_until: Option<i64>,
    /// WeChat failed the last refresh: nobody tries again before this (Unix seconds).
    pub refresh_failed_until: Option<i64>,
}

/// The stored component token.
pub type ComponentTokenState = LeasedState;

impl Store {
    /// The stored component token, read consistently.
    pub async fn component_token(
        &self,
        component: &str,
    ) -> Result<Option<ComponentTokenState>, StoreError> {
        self.leased(&LeasedKey::component_token(component)).await
    }

    /// A stored leased value, read consistently.
    pub async fn leased(&self, key: &LeasedKey) -> Result<Option<LeasedState>, StoreError> {
        let item = self.item(s(&key.pk), s(key.sk)).await?;
        Ok(item.map(|item| LeasedState {
            token: get_s(&item, "token").map(Secret::from),
            expires_at: get_n(&item, "expires_at").unwrap_or(0),
            issued_at: get_n(&item, "issued_at").unwrap_or(0),
            lease_until: get_n(&item, "lease_until"),
            refresh_failed_until: get_n(&item, "refresh_failed_until"),
        }))
    }

    /// Takes the refresh lease if nobody holds it, no failed refresh asked callers to wait
    /// (`refresh_failed_until`), and the token needs refreshing: it expires before
    /// `refresh_before`, or it is still `failed` (the token an API call just refused).
    /// Returns whether this caller now holds the lease.
    pub async fn acquire_lease(
        &self,
        key: &LeasedKey,
        owner: &str,
        now: i64,
        lease_until: i64,
        refresh_before: i64,
        failed: Option<&str>,
    ) -> Result<bool, StoreError> {
        let needs_refresh = if failed.is_some() {
            "(attribute_not_exists(#token) OR expires_at <= :refresh_before OR #token = :failed)"
        } else {
            "(attribute_not_exists(#token) OR expires_at <= :refresh_before)"
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&key.pk))
            .key("sk", s(key.sk))
            .update_expression("SET lease_owner = :owner, lease_until = :until")
            .condition_expression(format!(
                "(attribute_not_exists(lease_until) OR lease_until < :now) \
                 AND (attribute_not_exists(refresh_failed_until) OR refresh_failed_until <= :now) \
                 AND {needs_refresh}"
            ))
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(lease_until))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":refresh_before", n(refresh_before));
        if let Some(failed) = failed {
            request = request.expression_attribute_values(":failed", s(failed));
        }
        applied(request.send().await, "UpdateItem")
    }

    /// Stores a new value and releases the lease, only if `owner` still holds it.
    pub async fn save_leased(
        &self,
        key: &LeasedKey,
        owner: &str,
        token: &str,
        issued_at: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&key.pk))
            .key("sk", s(key.sk))
            .update_expression(
                "SET #token = :token, issued_at = :issued, expires_at = :expires \
                 REMOVE lease_owner, lease_until, refresh_failed_until",
            )
            .condition_expression("lease_owner = :owner")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":issued", n(issued_at))
            .expression_attribute_values(":expires", n(expires_at))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        applied(result, "UpdateItem")
    }

    /// Gives the lease back after a failed refresh, so the next caller need not wait it out.
    /// With `retry_at` (WeChat failed the refresh), every caller is also asked not to try again
    /// before then: they use the stored token while it is valid.
    pub async fn release_lease(
        &self,
        key: &LeasedKey,
        owner: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&key.pk))
            .key("sk", s(key.sk))
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner));
        let update = match retry_at {
            Some(retry_at) => update
                .update_expression(
                    "SET refresh_failed_until = :retry REMOVE lease_owner, lease_until",
                )
                .expression_attribute_values(":retry", n(retry_at)),
            None => update.update_expression("REMOVE lease_owner, lease_until"),
        };
        applied(update.send().await, "UpdateItem").map(|_| ())
    }

    /// Records a request for a ticket push unless one was made after `not_since`; returns
    /// whether this caller should make the request (so WeChat is not hammered).
    pub async fn claim_ticket_push_request(
        &self,
        component: &str,
        now: i64,
        not_since: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(component))
            .key("sk", s("ticket_push_request"))
            .update_expression("SET requested_at = :now")
            .condition_expression("attribute_not_exists(requested_at) OR requested_at < :since")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":since", n(not_since))
            .send()
            .await;
        applied(result, "UpdateItem")
    }
}
