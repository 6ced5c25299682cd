//! What the commands return, and how it is printed: aligned text for people, JSON for scripts.

use std::fmt::Write as _;

use serde::Serialize;
use wxopen::links::Minted;
use wxopen::store::AuthorizerStatus;
use wxopen::wechat::AuthorizerProfile;

use crate::text::{expiry, or_dash, table, utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    OfficialAccount,
    MiniProgram,
}

impl AccountType {
    pub(crate) fn of(profile: &AuthorizerProfile) -> Self {
        if profile.is_mini_program() {
            Self::MiniProgram
        } else {
            Self::OfficialAccount
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::OfficialAccount => "official account",
            Self::MiniProgram => "mini program",
        }
    }
}

/// One row of `list`. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthorizerSummary {
    pub appid: String,
    #[serde(serialize_with = "status_str")]
    pub status: AuthorizerStatus,
    pub merchant: Option<String>,
    pub nick_name: Option<String>,
    pub account_type: Option<AccountType>,
    pub access_token_expires_at: Option<i64>,
    /// Whole minutes until the access token expires (negative once expired).
    pub access_token_minutes_left: Option<i64>,
    /// When the refresher next looks at it; absent when it is not in the `due` index.
    pub due_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthorizerList {
    pub component_appid: String,
    /// Sorted by appid.
    pub authorizers: Vec<AuthorizerSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessTokenState {
    pub present: bool,
    pub expires_at: Option<i64>,
    pub minutes_left: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshTokenState {
    pub present: bool,
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permission {
    pub id: i64,
    pub name: String,
}

/// `show`: every stored field but the tokens themselves. The fields are listed one by one
/// (not "everything except the tokens") so that a secret added to the item later is not
/// printed by accident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthorizerDetail {
    pub component_appid: String,
    pub appid: String,
    #[serde(serialize_with = "status_str")]
    pub status: AuthorizerStatus,
    pub merchant: Option<String>,
    pub account_type: Option<AccountType>,
    pub profile: Option<AuthorizerProfile>,
    pub permissions: Vec<Permission>,
    pub access_token: AccessTokenState,
    pub refresh_token: RefreshTokenState,
    pub authorized_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub due_at: Option<i64>,
    pub lease_until: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RefreshOutcome {
    Refreshed {
        /// WeChat handed back a new refresh token (now stored).
        rotated: bool,
        /// The refresh token was refused and recovered from api_get_authorizer_list first.
        recovered: bool,
    },
    /// WeChat says the account withdrew (61003): marked withdrawn, tokens dropped.
    Withdrawn,
    /// The refresh token is refused and WeChat no longer lists the account.
    ReauthorizationRequired,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefreshReport {
    pub appid: String,
    pub outcome: RefreshOutcome,
    #[serde(serialize_with = "status_str")]
    pub status: AuthorizerStatus,
    pub access_token: AccessTokenState,
    pub refresh_token: RefreshTokenState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentTokenReport {
    pub component_appid: String,
    pub expires_at: i64,
    pub minutes_left: i64,
    /// Whether this command refreshed it (it was due), rather than finding a valid one.
    pub refreshed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushTicketReport {
    pub component_appid: String,
    pub requested: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    pub component_appid: String,
    /// Authorizers WeChat lists.
    pub listed: usize,
    /// Of those, the ones the store lacked or held another refresh token for.
    pub repaired: usize,
}

/// What a command returned, for printing.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    List(AuthorizerList),
    /// Boxed: a profile is much larger than the other results.
    Show(Box<AuthorizerDetail>),
    Refresh(RefreshReport),
    RefreshComponent(ComponentTokenReport),
    PushTicket(PushTicketReport),
    Reconcile(ReconcileReport),
    Link(Minted),
}

impl Output {
    /// Whether the command did what was asked: a refresh that found the account withdrawn or
    /// needing re-authorization reports it, but did not refresh.
    pub fn succeeded(&self) -> bool {
        !matches!(
            self,
            Self::Refresh(RefreshReport {
                outcome: RefreshOutcome::Withdrawn | RefreshOutcome::ReauthorizationRequired,
                ..
            })
        )
    }

    pub fn text(&self) -> String {
        match self {
            Self::List(list) => list.text(),
            Self::Show(detail) => detail.text(),
            Self::Refresh(report) => report.text(),
            Self::RefreshComponent(report) => report.text(),
            Self::PushTicket(report) => report.text(),
            Self::Reconcile(report) => report.text(),
            // The link alone on its line, for scripts and copying.
            Self::Link(minted) => format!("{}\n", minted.url),
        }
    }

    /// Pretty JSON, fields in the order of the result types.
    pub fn json(&self) -> String {
        let json = match self {
            Self::List(v) => serde_json::to_string_pretty(v),
            Self::Show(v) => serde_json::to_string_pretty(v),
            Self::Refresh(v) => serde_json::to_string_pretty(v),
            Self::RefreshComponent(v) => serde_json::to_string_pretty(v),
            Self::PushTicket(v) => serde_json::to_string_pretty(v),
            Self::Reconcile(v) => serde_json::to_string_pretty(v),
            Self::Link(v) => serde_json::to_string_pretty(v),
        };
        json.expect("results serialise") + "\n"
    }
}

fn status_str<S: serde::Serializer>(status: &AuthorizerStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

impl AuthorizerList {
    pub fn text(&self) -> String {
        if self.authorizers.is_empty() {
            return format!(
                "no authorizers stored for component {}\n",
                self.component_appid
            );
        }
        let mut rows = vec![
            [
                "APPID",
                "STATUS",
                "MERCHANT",
                "NICK NAME",
                "TYPE",
                "ACCESS TOKEN EXPIRES",
                "LEFT",
                "DUE",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for a in &self.authorizers {
            let (expires, left) = expiry(a.access_token_expires_at, a.access_token_minutes_left);
            rows.push(vec![
                a.appid.clone(),
                a.status.as_str().into(),
                or_dash(a.merchant.as_deref()),
                or_dash(a.nick_name.as_deref()),
                or_dash(a.account_type.map(AccountType::label)),
                expires,
                left,
                a.due_at.map_or_else(|| "-".into(), utc),
            ]);
        }
        let mut out = table(&rows);
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for a in &self.authorizers {
            match counts.iter_mut().find(|(s, _)| *s == a.status.as_str()) {
                Some((_, n)) => *n += 1,
                None => counts.push((a.status.as_str(), 1)),
            }
        }
        let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let _ = writeln!(
            out,
            "\n{} authorizers of component {}: {}",
            self.authorizers.len(),
            self.component_appid,
            counts.join(", ")
        );
        out
    }
}

impl AuthorizerDetail {
    pub fn text(&self) -> String {
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut row = |name: &str, value: String| rows.push(vec![name.to_owned(), value]);
        let time = |t: Option<i64>| t.map_or_else(|| "-".into(), utc);
        row("appid", self.appid.clone());
        row("component", self.component_appid.clone());
        row("status", self.status.as_str().into());
        row("merchant", or_dash(self.merchant.as_deref()));
        row("type", or_dash(self.account_type.map(AccountType::label)));
        if let Some(p) = &self.profile {
            row("nick name", or_dash(Some(&p.nick_name)));
            row("user name", or_dash(Some(&p.user_name)));
            row("principal", or_dash(Some(&p.principal_name)));
            row("alias", or_dash(Some(&p.alias)));
            row("service type", p.service_type_info.id.to_string());
            row("verify type", p.verify_type_info.id.to_string());
            row("signature", or_dash(Some(&p.signature)));
            row("head image", or_dash(Some(&p.head_img)));
            row("qr code", or_dash(Some(&p.qrcode_url)));
        } else {
            row(
                "profile",
                "not stored (the account was repaired from WeChat's list)".into(),
            );
        }
        row("authorized at", time(self.authorized_at));
        row("updated at", time(self.updated_at));
        let access = if self.access_token.present {
            let (at, left) = expiry(self.access_token.expires_at, self.access_token.minutes_left);
            format!("present, expires {at} ({left} left)")
        } else {
            "absent".into()
        };
        row("access token", access);
        let refresh = match (self.refresh_token.present, self.refresh_token.updated_at) {
            (true, Some(at)) => format!("present, updated {}", utc(at)),
            (true, None) => "present".into(),
            (false, _) => "absent".into(),
        };
        row("refresh token", refresh);
        row("due at", time(self.due_at));
        row(
            "lease",
            self.lease_until
                .map_or_else(|| "none".into(), |t| format!("until {}", utc(t))),
        );
        if self.permissions.is_empty() {
            row("permissions", "-".into());
        }
        for (i, p) in self.permissions.iter().enumerate() {
            let name = if i == 0 { "permissions" } else { "" };
            row(name, format!("{:>2} {}", p.id, p.name));
        }
        table(&rows)
    }
}

impl RefreshReport {
    pub fn text(&self) -> String {
        let what = match self.outcome {
            RefreshOutcome::Refreshed { rotated, recovered } => {
                let mut what = String::from("refreshed");
                if recovered {
                    what.push_str("; its refresh token was recovered from api_get_authorizer_list");
                }
                what.push_str(if rotated {
                    "; WeChat handed back a new refresh token (stored)"
                } else {
                    "; refresh token unchanged"
                });
                let (at, left) =
                    expiry(self.access_token.expires_at, self.access_token.minutes_left);
                let _ = write!(what, "; access token expires {at} ({left} left)");
                what
            }
            RefreshOutcome::Withdrawn => {
                "not refreshed: WeChat says the account withdrew its authorization (61003); \
                 marked withdrawn, tokens dropped"
                    .into()
            }
            RefreshOutcome::ReauthorizationRequired => {
                "not refreshed: WeChat refuses the refresh token and no longer lists the account; \
                 marked reauthorization_required (the merchant must authorize again)"
                    .into()
            }
        };
        format!("{}: {what}\n", self.appid)
    }
}

impl ComponentTokenReport {
    pub fn text(&self) -> String {
        format!(
            "component {}: token valid until {} ({} min left); {}\n",
            self.component_appid,
            utc(self.expires_at),
            self.minutes_left,
            if self.refreshed {
                "refreshed now"
            } else {
                "the stored one is still valid"
            }
        )
    }
}

impl PushTicketReport {
    pub fn text(&self) -> String {
        format!(
            "ok: WeChat was asked to push a component_verify_ticket for {} to the event URL\n",
            self.component_appid
        )
    }
}

impl ReconcileReport {
    pub fn text(&self) -> String {
        format!(
            "component {}: WeChat lists {} authorizers; repaired {}\n",
            self.component_appid, self.listed, self.repaired
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_refresh_that_did_not_happen_fails() {
        let report = |outcome| {
            Output::Refresh(RefreshReport {
                appid: "wx1".into(),
                outcome,
                status: AuthorizerStatus::Withdrawn,
                access_token: AccessTokenState {
                    present: false,
                    expires_at: None,
                    minutes_left: None,
                },
                refresh_token: RefreshTokenState {
                    present: false,
                    updated_at: None,
                },
            })
        };
        assert!(!report(RefreshOutcome::Withdrawn).succeeded());
        assert!(
            report(RefreshOutcome::Refreshed {
                rotated: true,
                recovered: false
            })
            .succeeded()
        );
        let json = report(RefreshOutcome::ReauthorizationRequired).json();
        assert!(
            json.contains(r#""result": "reauthorization_required""#),
            "{json}"
        );
        assert!(json.contains(r#""status": "withdrawn""#), "{json}");
    }
}
