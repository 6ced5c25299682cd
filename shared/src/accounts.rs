//! Which accounts the users' routes serve: accounts authorized to the platform, of the kind
//! the route is for. What the table says is kept per container for [`ACCOUNT_TTL`], so a busy
//! account costs one read per container per minute, not one per user.

use std::time::Duration;

use crate::cache::AppidCache;
use crate::store::AuthorizerStatus;
use crate::tokens::{TokenError, Tokens};

/// How long a container serves an account after reading that it is authorized: the bound on
/// how long a withdrawal can go unnoticed by this check. WeChat refuses a withdrawn account's
/// calls at once meanwhile (61003), which also drops the account from the cache.
pub const ACCOUNT_TTL: Duration = Duration::from_secs(60);
/// Accounts kept per container; past this the cache starts over.
pub const ACCOUNT_CAPACITY: usize = 10_000;

/// What an account is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// 公众号.
    OfficialAccount,
    /// 小程序.
    MiniProgram,
}

impl AccountKind {
    /// The kind's name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OfficialAccount => "an official account",
            Self::MiniProgram => "a mini program",
        }
    }
}

/// Why an account is not served.
#[derive(Debug, thiserror::Error)]
pub enum AccountRefusal {
    /// Not an appid at all.
    #[error("{0:?} is not an appid (wx and 16 hexadecimal digits)")]
    BadAppid(String),
    /// No account with this appid ever authorized the platform.
    #[error("account {0} has not authorized the platform")]
    Unknown(String),
    /// The account withdrew, or must authorize again.
    #[error("account {appid} no longer authorizes the platform ({status})")]
    NotAuthorized {
        /// The account.
        appid: String,
        /// Its stored status.
        status: &'static str,
    },
    /// The account is not of the kind the route is for.
    #[error("account {appid} is not {}", .wanted.as_str())]
    WrongKind {
        /// The account.
        appid: String,
        /// The kind the route serves.
        wanted: AccountKind,
    },
    /// The table (or WeChat, for a profile never fetched) could not be read.
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl AccountRefusal {
    /// The HTTP status: 400 for a malformed appid, 404 for an account the platform does not
    /// know, 403 for one it knows but does not serve here, 502 when the check failed.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadAppid(_) => 400,
            Self::Unknown(_) => 404,
            Self::NotAuthorized { .. } | Self::WrongKind { .. } => 403,
            Self::Token(_) => 502,
        }
    }

    /// A stable, machine-readable name.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadAppid(_) => "bad_appid",
            Self::Unknown(_) => "unknown_account",
            Self::NotAuthorized { .. } => "not_authorized",
            Self::WrongKind { .. } => "wrong_account_kind",
            Self::Token(_) => "account_check_failed",
        }
    }
}

/// Authorized accounts by appid, as read from the table, kept per container.
#[derive(Debug)]
pub struct AuthorizedAccounts(AppidCache<AccountKind>);

impl Default for AuthorizedAccounts {
    fn default() -> Self {
        Self::new(ACCOUNT_TTL, ACCOUNT_CAPACITY)
    }
}

impl AuthorizedAccounts {
    /// Accounts kept for `ttl` each (zero: the table is read every time).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self(AppidCache::new(ttl, capacity))
    }

    /// Checks that `appid` is authorized to the platform and is `wanted`. Only accounts found
    /// authorized are kept: any other answer is read again next time.
    pub async fn check(
        &self,
        tokens: &Tokens,
        appid: &str,
        wanted: AccountKind,
    ) -> Result<(), AccountRefusal> {
        if !crate::authorization::is_appid(appid) {
            return Err(AccountRefusal::BadAppid(appid.chars().take(40).collect()));
        }
        let kind = match self.0.get(appid) {
            Some(kind) => kind,
            None => {
                let (status, profile) = tokens
                    .authorizer_profile(appid, |_| true)
                    .await?
                    .ok_or_else(|| AccountRefusal::Unknown(appid.to_owned()))?;
                if status != AuthorizerStatus::Authorized {
                    return Err(AccountRefusal::NotAuthorized {
                        appid: appid.to_owned(),
                        status: status.as_str(),
                    });
                }
                let kind = match profile.is_some_and(|p| p.is_mini_program()) {
                    true => AccountKind::MiniProgram,
                    false => AccountKind::OfficialAccount,
                };
                self.0.insert(appid, kind);
                kind
            }
        };
        if kind != wanted {
            return Err(AccountRefusal::WrongKind {
                appid: appid.to_owned(),
                wanted,
            });
        }
        Ok(())
    }

    /// Forgets `appid`: WeChat said it withdrew.
    pub fn forget(&self, appid: &str) {
        self.0.remove(appid);
    }
}
