//! The operator's commands (`wxopen-admin`): one plain async function per command, returning a
//! typed result, and the formatting of those results as text or JSON.
//!
//! Nothing here holds a token's value in a result: the result types only say whether a token
//! is present and when it expires or was updated, so no output format can print one.

use std::collections::HashMap;
use std::fmt::Write as _;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use wxopen::authorization::{LinkError, LinkParams};
use wxopen::links::{self, MintFailure, Minted};
use wxopen::store::{AuthorizerStatus, RefreshWhen, authorizer_pk};
use wxopen::tokens::{AuthorizerRefresh, TokenError, Tokens};
use wxopen::wechat::{AuthorizerProfile, WechatError};
use wxopen::{Config, ConfigError, SecretError, StoreError, unix_now};

/// The sort key of an authorizer's own item (the same partition also holds its events).
const AUTHORIZER_SK: &str = "authorizer";

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Wechat(#[from] WechatError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Mint(#[from] MintFailure),
    #[error("authorizer {appid} is not stored for component {component}")]
    UnknownAuthorizer { component: String, appid: String },
    #[error("authorizer {appid} is {status}; only authorized accounts can be refreshed")]
    NotAuthorized { appid: String, status: &'static str },
    #[error("another caller is refreshing {appid} (its lease runs until {}); try again then", utc(*.until))]
    LeaseHeld { appid: String, until: i64 },
}

/// The commands, as the binary parses them.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Every authorizer of the configured component: status, merchant, type, token expiry.
    List,
    /// One authorizer's stored fields (never its tokens: only whether each is present).
    Show { appid: String },
    /// Refresh one authorizer's access token now, whether or not it is due.
    Refresh { appid: String },
    /// Make sure a valid component token is stored (refreshing it if due); print its expiry.
    RefreshComponent,
    /// Ask WeChat to push a component_verify_ticket to the event URL now.
    PushTicket,
    /// Compare the store with WeChat's list of authorizers and repair what differs.
    Reconcile,
    /// Mint a merchant's authorization link (signed with the link key; needs PUBLIC_BASE_URL,
    /// and LINK_SECRET_ID unless the key is the default `{SECRET_ID}-links`).
    Link(LinkArgs),
}

/// `link`'s options.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct LinkArgs {
    /// The platform's own id for the merchant (1 to 64 letters, digits, '-', '_', '.', ':').
    #[arg(long)]
    pub merchant: String,
    /// Which accounts the administrator may pick: 1 official accounts, 2 mini programs, 3 both.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub auth_type: Option<u8>,
    /// Authorize this one account only (wins over --auth-type).
    #[arg(long)]
    pub biz_appid: Option<String>,
    /// WeChat's PC page (QR code) or mobile page; without it, the merchant's browser decides.
    #[arg(long, value_parser = ["pc", "mobile"])]
    pub mode: Option<String>,
    /// How long the link is valid, in seconds (60 to 604800; 86400 by default).
    #[arg(long)]
    pub ttl: Option<u64>,
}

/// Runs one command against the deployment `config` describes.
pub async fn execute(
    config: &Config,
    aws: &aws_config::SdkConfig,
    command: &Command,
) -> Result<Output, AdminError> {
    let tokens = &Tokens::from_config(config, aws);
    Ok(match command {
        Command::Link(args) => {
            let public_base_url = config
                .public_base_url
                .as_deref()
                .ok_or(ConfigError::Missing("PUBLIC_BASE_URL"))?;
            let keys = links::key_cache(
                aws_sdk_secretsmanager::Client::new(aws),
                &config.link_secret_id,
                config.secret_max_age,
            );
            Output::Link(link(&keys, public_base_url, args, unix_now()).await?)
        }
        Command::List => Output::List(list(tokens).await?),
        Command::Show { appid } => Output::Show(Box::new(show(tokens, appid).await?)),
        Command::Refresh { appid } => Output::Refresh(refresh(tokens, appid).await?),
        Command::RefreshComponent => Output::RefreshComponent(refresh_component(tokens).await?),
        Command::PushTicket => Output::PushTicket(push_ticket(tokens).await?),
        Command::Reconcile => Output::Reconcile(reconcile(tokens).await?),
    })
}

// ---- results ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    OfficialAccount,
    MiniProgram,
}

impl AccountType {
    fn of(profile: &AuthorizerProfile) -> Self {
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

// ---- commands ----

/// A merchant's link, signed with the key in `keys`, valid from `now` for `--ttl`.
pub async fn link(
    keys: &links::LinkKeyCache,
    public_base_url: &str,
    args: &LinkArgs,
    now: i64,
) -> Result<Minted, AdminError> {
    let params = LinkParams::from_fields(
        &args.merchant,
        args.auth_type,
        args.biz_appid.as_deref(),
        args.mode.as_deref(),
    )?;
    let ttl = args
        .ttl
        .map_or(links::DEFAULT_TTL, std::time::Duration::from_secs);
    Ok(links::mint_url(keys, public_base_url, params, now, ttl).await?)
}

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

// ---- stored items ----

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

fn status_str<S: serde::Serializer>(status: &AuthorizerStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

fn minutes_left(expires_at: i64, now: i64) -> i64 {
    (expires_at - now).div_euclid(60)
}

// ---- text ----

/// Unix seconds as an RFC 3339 UTC time.
pub fn utc(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

fn expiry(expires_at: Option<i64>, minutes_left: Option<i64>) -> (String, String) {
    match (expires_at, minutes_left) {
        (Some(at), Some(left)) if left >= 0 => (utc(at), format!("{left} min")),
        (Some(at), _) => (utc(at), "expired".into()),
        _ => ("-".into(), "-".into()),
    }
}

/// Terminal columns of `text`: CJK and full-width characters take two.
fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| match u32::from(c) {
            0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F300..=0x1F64F
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

/// Rows as aligned columns, two spaces apart; the last column is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| display_width(cell))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c] - display_width(cell) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn or_dash(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => "-".into(),
    }
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
    fn tables_align_wide_characters() {
        let rows = vec![
            vec!["A".to_owned(), "B".to_owned(), "C".to_owned()],
            vec!["晨读小站".to_owned(), "x".to_owned(), "y".to_owned()],
        ];
        assert_eq!(table(&rows), "A         B  C\n晨读小站  x  y\n");
        assert_eq!(display_width("晨读ab"), 6);
    }

    #[test]
    fn times_and_expiry_read_naturally() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(minutes_left(1_000 + 7_199, 1_000), 119);
        assert_eq!(minutes_left(1_000, 1_001), -1);
        assert_eq!(
            expiry(Some(60), Some(-1)),
            ("1970-01-01T00:01:00Z".into(), "expired".into())
        );
        assert_eq!(expiry(None, None), ("-".into(), "-".into()));
    }

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
