//! Reading the store: `list` and `show`.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use wxopen::store::{AuthorizerStatus, authorizer_pk};
use wxopen::tokens::Tokens;
use wxopen::wechat::AuthorizerProfile;
use wxopen::{StoreError, unix_now};

use crate::AdminError;
use crate::output::*;
use crate::text::minutes_left;

/// The sort key of an authorizer's own item (the same partition also holds its events).
const AUTHORIZER_SK: &str = "authorizer";

/// Every authorizer of the component, sorted by appid.
///
/// This scans the table (filtered on the key prefix): fine for an operator's occasional look,
/// and the only scan in the project. The refresher never scans; it reads the `due` index.
pub async fn list(tokens: &Tokens) -> Result<AuthorizerList, AdminError> {
    let store = &tokens.store;
    let now = unix_now();
    // Only what the table shows: the tokens never leave DynamoDB for a listing.
    let attributes = [
        "pk",
        "sk",
        "authorizer_appid",
        "status",
        "merchant",
        "profile",
        "access_token_expires_at",
        "due_at",
    ];
    let projection = attributes.map(|a| format!("#{a}")).join(", ");
    let mut authorizers = Vec::new();
    let mut start = None;
    loop {
        let mut request = store
            .client()
            .scan()
            .table_name(store.table())
            .filter_expression("begins_with(#pk, :prefix) AND #sk = :sk")
            .projection_expression(&projection)
            .expression_attribute_values(
                ":prefix",
                AttributeValue::S(authorizer_pk(&tokens.component, "")),
            )
            .expression_attribute_values(":sk", AttributeValue::S(AUTHORIZER_SK.into()))
            .consistent_read(true)
            .set_exclusive_start_key(start);
        for a in attributes {
            request = request.expression_attribute_names(format!("#{a}"), a);
        }
        let page = request.send().await.map_err(|error| StoreError::Dynamo {
            operation: "Scan",
            message: DisplayErrorContext(error).to_string(),
        })?;
        for item in page.items() {
            let item = Fields(item);
            let profile = item.profile()?;
            let expires_at = item.n("access_token_expires_at").filter(|t| *t > 0);
            authorizers.push(AuthorizerSummary {
                appid: item.appid()?,
                status: item.status()?,
                merchant: item.s("merchant").map(str::to_owned),
                nick_name: profile.as_ref().map(|p| p.nick_name.clone()),
                account_type: profile.as_ref().map(AccountType::of),
                access_token_expires_at: expires_at,
                access_token_minutes_left: expires_at.map(|t| minutes_left(t, now)),
                due_at: item.n("due_at"),
            });
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    authorizers.sort_by(|a, b| a.appid.cmp(&b.appid));
    Ok(AuthorizerList {
        component_appid: tokens.component.clone(),
        authorizers,
    })
}

/// One authorizer as stored, without its tokens.
pub async fn show(tokens: &Tokens, appid: &str) -> Result<AuthorizerDetail, AdminError> {
    let store = &tokens.store;
    let output = store
        .client()
        .get_item()
        .table_name(store.table())
        .key(
            "pk",
            AttributeValue::S(authorizer_pk(&tokens.component, appid)),
        )
        .key("sk", AttributeValue::S(AUTHORIZER_SK.into()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|error| StoreError::Dynamo {
            operation: "GetItem",
            message: DisplayErrorContext(error).to_string(),
        })?;
    let Some(item) = output.item else {
        return Err(AdminError::UnknownAuthorizer {
            component: tokens.component.clone(),
            appid: appid.to_owned(),
        });
    };
    let item = Fields(&item);
    let now = unix_now();
    let profile = item.profile()?;
    let access_expires_at = item.n("access_token_expires_at").filter(|t| *t > 0);
    let permissions = item
        .numbers("func_info")
        .into_iter()
        .map(|id| Permission {
            id,
            name: wxopen::html::permission_name(id).into_owned(),
        })
        .collect();
    Ok(AuthorizerDetail {
        component_appid: tokens.component.clone(),
        appid: item.appid()?,
        status: item.status()?,
        merchant: item.s("merchant").map(str::to_owned),
        account_type: profile.as_ref().map(AccountType::of),
        profile,
        permissions,
        access_token: AccessTokenState {
            present: item.has("access_token"),
            expires_at: access_expires_at,
            minutes_left: access_expires_at.map(|t| minutes_left(t, now)),
        },
        refresh_token: RefreshTokenState {
            present: item.has("refresh_token"),
            updated_at: item.n("refresh_token_updated_at"),
        },
        authorized_at: item.n("authorized_at"),
        updated_at: item.n("updated_at"),
        due_at: item.n("due_at"),
        lease_until: item.n("lease_until"),
    })
}

/// Typed reads of one stored item's attributes.
struct Fields<'a>(&'a HashMap<String, AttributeValue>);

impl Fields<'_> {
    fn s(&self, name: &str) -> Option<&str> {
        self.0.get(name)?.as_s().ok().map(String::as_str)
    }

    fn n(&self, name: &str) -> Option<i64> {
        self.0.get(name)?.as_n().ok()?.parse().ok()
    }

    fn has(&self, name: &str) -> bool {
        self.s(name).is_some_and(|v| !v.is_empty())
    }

    fn numbers(&self, name: &str) -> Vec<i64> {
        self.0
            .get(name)
            .and_then(|v| v.as_l().ok())
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_n().ok()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn corrupt(&self, reason: &'static str) -> StoreError {
        StoreError::Corrupt {
            key: self.s("pk").unwrap_or_default().to_owned(),
            reason,
        }
    }

    fn appid(&self) -> Result<String, StoreError> {
        self.s("authorizer_appid")
            .map(str::to_owned)
            .ok_or_else(|| self.corrupt("no authorizer_appid"))
    }

    fn status(&self) -> Result<AuthorizerStatus, StoreError> {
        let stored = self.s("status");
        [
            AuthorizerStatus::Authorized,
            AuthorizerStatus::Withdrawn,
            AuthorizerStatus::ReauthorizationRequired,
        ]
        .into_iter()
        .find(|status| Some(status.as_str()) == stored)
        .ok_or_else(|| self.corrupt("no known status"))
    }

    fn profile(&self) -> Result<Option<AuthorizerProfile>, StoreError> {
        self.s("profile")
            .map(|json| serde_json::from_str(json).map_err(|_| self.corrupt("unreadable profile")))
            .transpose()
    }
}
