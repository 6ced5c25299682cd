//! What changes things: a refresh now, a ticket push, the reconciliation.

use wxopen::store::{AuthorizerStatus, RefreshWhen};
use wxopen::tokens::{AuthorizerRefresh, Tokens};
use wxopen::{StoreError, unix_now};

use crate::AdminError;
use crate::accounts::show;
use crate::output::*;
use crate::text::minutes_left;

/// Refreshes one authorizer now, due or not (under its lease, like any refresh).
pub async fn refresh(tokens: &Tokens, appid: &str) -> Result<RefreshReport, AdminError> {
    let before = show(tokens, appid).await?;
    if before.status != AuthorizerStatus::Authorized {
        return Err(AdminError::NotAuthorized {
            appid: appid.to_owned(),
            status: before.status.as_str(),
        });
    }
    let outcome = match tokens
        .refresh_authorizer(appid, RefreshWhen::Always)
        .await?
    {
        AuthorizerRefresh::Refreshed { rotated, recovered } => {
            RefreshOutcome::Refreshed { rotated, recovered }
        }
        AuthorizerRefresh::Withdrawn => RefreshOutcome::Withdrawn,
        AuthorizerRefresh::ReauthorizationRequired => RefreshOutcome::ReauthorizationRequired,
        // The lease was taken, or the status changed, between our read and the refresh.
        AuthorizerRefresh::Skipped => {
            let now = show(tokens, appid).await?;
            return Err(match now.lease_until {
                Some(until) if now.status == AuthorizerStatus::Authorized => {
                    AdminError::LeaseHeld {
                        appid: appid.to_owned(),
                        until,
                    }
                }
                _ => AdminError::NotAuthorized {
                    appid: appid.to_owned(),
                    status: now.status.as_str(),
                },
            });
        }
    };
    let after = show(tokens, appid).await?;
    Ok(RefreshReport {
        appid: appid.to_owned(),
        outcome,
        status: after.status,
        access_token: after.access_token,
        refresh_token: after.refresh_token,
    })
}

/// A valid component token is stored afterwards (refreshed only if it was due).
pub async fn refresh_component(tokens: &Tokens) -> Result<ComponentTokenReport, AdminError> {
    let issued_before = tokens
        .store
        .component_token(&tokens.component)
        .await?
        .map(|s| s.issued_at);
    tokens.component_access_token().await?;
    let state = tokens
        .store
        .component_token(&tokens.component)
        .await?
        .ok_or_else(|| StoreError::Corrupt {
            key: format!("{}/component_token", tokens.component),
            reason: "missing right after it was obtained",
        })?;
    Ok(ComponentTokenReport {
        component_appid: tokens.component.clone(),
        expires_at: state.expires_at,
        minutes_left: minutes_left(state.expires_at, unix_now()),
        refreshed: issued_before != Some(state.issued_at),
    })
}

/// Asks WeChat to push a ticket now. Unlike the automatic request, this is not limited to one
/// per ten minutes: an operator asking means it.
pub async fn push_ticket(tokens: &Tokens) -> Result<PushTicketReport, AdminError> {
    let keys = tokens.secrets.keys().await?;
    tokens
        .wechat
        .start_push_ticket(&keys.secret.component_appsecret)
        .await?;
    Ok(PushTicketReport {
        component_appid: tokens.component.clone(),
        requested: true,
    })
}

/// The daily reconciliation, now.
pub async fn reconcile(tokens: &Tokens) -> Result<ReconcileReport, AdminError> {
    let (listed, repaired) = tokens.reconcile().await?;
    Ok(ReconcileReport {
        component_appid: tokens.component.clone(),
        listed,
        repaired,
    })
}
