//! What WeChat remembers about one platform, and its rules: tickets, component tokens,
//! pre-auth and authorization codes, authorizations and their tokens. All times are Unix
//! seconds from the sandbox's [`Clock`](super::clock::Clock).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::accounts::{Account, AccountKind};
use super::errors::WxError;
use super::jssdk::JsapiTickets;
use super::random;
use super::user_codes::UserCodes;

/// The lifetimes and switches the rules depend on, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub ticket_ttl: i64,
    pub component_token_ttl: i64,
    pub component_token_grace: i64,
    pub authorizer_token_ttl: i64,
    pub pre_auth_code_ttl: i64,
    pub auth_code_ttl: i64,
    pub refresh_token_rotation: bool,
    pub refresh_token_grace: i64,
    /// How long a user's code (wx.login, web login) can be exchanged.
    pub user_code_ttl: i64,
    pub jsapi_ticket_ttl: i64,
}

/// A component_verify_ticket the sandbox issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub ticket: String,
    pub create_time: i64,
}

#[derive(Debug)]
struct ComponentToken {
    expires_at: i64,
    /// When a newer token was issued; the token then lives for the grace period only.
    superseded_at: Option<i64>,
}

#[derive(Debug)]
struct PreAuthCode {
    expires_at: i64,
    used: bool,
}

#[derive(Debug)]
struct AuthCode {
    authorizer_appid: String,
    expires_at: i64,
    used: bool,
}

/// An account's live authorization of the platform.
#[derive(Debug, Clone)]
struct Authorization {
    func_info: Vec<u32>,
    auth_time: i64,
    refresh_token: String,
    /// Refresh tokens replaced by rotation, each usable until its time.
    retired_refresh_tokens: Vec<(String, i64)>,
}

/// An account as the control endpoints show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountStatus {
    #[serde(flatten)]
    pub account: Account,
    pub authorized: bool,
    /// The permission sets granted, when authorized.
    pub granted: Vec<u32>,
    pub auth_time: Option<i64>,
}

/// What an administrator's confirmation produced: the code and the push WeChat sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub authorizer_appid: String,
    /// `authorized`, or `updateauthorized` when the account had already authorized.
    pub info_type: String,
    pub authorization_code: String,
    pub create_time: i64,
    /// `AuthorizationCodeExpiredTime`.
    pub expires_at: i64,
    pub pre_auth_code: Option<String>,
}

/// What the platform submitted for a fast registration (快速注册) of a company's mini program:
/// the company and its legal person, as the push echoes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationInfo {
    pub name: String,
    /// The company's registration code, and its kind (1: unified social credit code).
    pub code: String,
    pub code_type: u8,
    pub legal_persona_wechat: String,
    pub legal_persona_name: String,
    pub component_phone: String,
}

/// How a fast registration ended, as `notify_third_fasteregister` tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FastRegistration {
    /// The new mini program's appid; empty when the registration failed.
    pub appid: String,
    /// 0 when the mini program was created (and authorized the platform).
    pub status: i64,
    /// An authorization code for api_query_auth, when `status` is 0.
    pub auth_code: Option<String>,
    pub msg: String,
    pub create_time: i64,
    pub info: RegistrationInfo,
}

/// Tokens handed out by `api_query_auth` and `api_authorizer_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerTokens {
    pub authorizer_appid: String,
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub func_info: Vec<u32>,
}

/// One row of `api_get_authorizer_list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedAuthorizer {
    pub authorizer_appid: String,
    pub refresh_token: String,
    pub auth_time: i64,
}

/// Why a pre-auth code cannot be used on the authorization page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PreAuthCodeError {
    #[error("pre_auth_code is unknown")]
    Unknown,
    #[error("pre_auth_code was already used")]
    Used,
    #[error("pre_auth_code has expired")]
    Expired,
}

/// What WeChat remembers; its Debug shows counts, never a token or code.
pub struct State {
    rules: Rules,
    accounts: Vec<Account>,
    tickets: Vec<Ticket>,
    component_tokens: HashMap<String, ComponentToken>,
    latest_component_token: Option<String>,
    pre_auth_codes: HashMap<String, PreAuthCode>,
    auth_codes: HashMap<String, AuthCode>,
    authorizations: BTreeMap<String, Authorization>,
    /// Authorizer access tokens: appid and expiry.
    authorizer_access_tokens: HashMap<String, (String, i64)>,
    user_codes: UserCodes,
    /// The session_key jscode2session gave last, per (appid, user).
    session_keys: HashMap<(String, String), String>,
    jsapi_tickets: JsapiTickets,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("rules", &self.rules)
            .field("accounts", &self.accounts.len())
            .field("tickets", &self.tickets.len())
            .field("component_tokens", &self.component_tokens.len())
            .field("pre_auth_codes", &self.pre_auth_codes.len())
            .field("auth_codes", &self.auth_codes.len())
            .field(
                "authorizations",
                &self.authorizations.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl State {
    pub fn new(rules: Rules, accounts: Vec<Account>) -> Self {
        Self {
            rules,
            accounts,
            tickets: Vec::new(),
            component_tokens: HashMap::new(),
            latest_component_token: None,
            pre_auth_codes: HashMap::new(),
            auth_codes: HashMap::new(),
            authorizations: BTreeMap::new(),
            authorizer_access_tokens: HashMap::new(),
            user_codes: UserCodes::default(),
            session_keys: HashMap::new(),
            jsapi_tickets: JsapiTickets::default(),
        }
    }

    pub fn rules(&self) -> Rules {
        self.rules
    }

    // ----- tickets -----

    /// A new ticket, as each scheduled push carries.
    pub fn issue_ticket(&mut self, now: i64) -> Ticket {
        let ticket = Ticket {
            ticket: format!("ticket@@@{}", random::string(86)),
            create_time: now,
        };
        self.tickets.push(ticket.clone());
        ticket
    }

    pub fn current_ticket(&self) -> Option<Ticket> {
        self.tickets.last().cloned()
    }

    /// Any ticket the sandbox pushed is good for its 12 hours, not only the newest.
    fn check_ticket(&self, ticket: &str, now: i64) -> Result<(), WxError> {
        let issued = self
            .tickets
            .iter()
            .find(|t| t.ticket == ticket)
            .ok_or(WxError::TicketInvalid)?;
        if now - issued.create_time > self.rules.ticket_ttl {
            return Err(WxError::TicketExpired);
        }
        Ok(())
    }

    // ----- component access token -----

    /// `api_component_token` once appid and secret are checked: every call issues a new token
    /// and starts the previous ones' grace period.
    pub fn component_token(&mut self, ticket: &str, now: i64) -> Result<(String, i64), WxError> {
        self.check_ticket(ticket, now)?;
        for token in self.component_tokens.values_mut() {
            token.superseded_at.get_or_insert(now);
        }
        let token = wechat_token();
        self.component_tokens.insert(
            token.clone(),
            ComponentToken {
                expires_at: now + self.rules.component_token_ttl,
                superseded_at: None,
            },
        );
        self.latest_component_token = Some(token.clone());
        Ok((token, self.rules.component_token_ttl))
    }

    /// The check every API taking `component_access_token` makes.
    pub fn check_component_token(&self, token: Option<&str>, now: i64) -> Result<(), WxError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(WxError::AccessTokenMissing)?;
        let issued = self
            .component_tokens
            .get(token)
            .ok_or(WxError::InvalidCredential)?;
        if now >= issued.expires_at {
            return Err(WxError::AccessTokenExpired);
        }
        match issued.superseded_at {
            Some(at) if now >= at + self.rules.component_token_grace => {
                Err(WxError::InvalidCredential)
            }
            _ => Ok(()),
        }
    }

    pub fn latest_component_token(&self) -> Option<&str> {
        self.latest_component_token.as_deref()
    }

    // ----- pre-auth codes -----

    pub fn create_pre_auth_code(&mut self, now: i64) -> (String, i64) {
        let code = format!("preauthcode@@@{}", random::string(64));
        self.pre_auth_codes.insert(
            code.clone(),
            PreAuthCode {
                expires_at: now + self.rules.pre_auth_code_ttl,
                used: false,
            },
        );
        (code, self.rules.pre_auth_code_ttl)
    }

    pub fn check_pre_auth_code(&self, code: &str, now: i64) -> Result<(), PreAuthCodeError> {
        let issued = self
            .pre_auth_codes
            .get(code)
            .ok_or(PreAuthCodeError::Unknown)?;
        if issued.used {
            Err(PreAuthCodeError::Used)
        } else if now >= issued.expires_at {
            Err(PreAuthCodeError::Expired)
        } else {
            Ok(())
        }
    }

    // ----- accounts and authorizations -----

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// A new account, e.g. a mini program created by fast registration.
    pub fn add_account(&mut self, account: Account) {
        self.accounts.push(account);
    }

    pub fn account(&self, appid: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.appid == appid)
    }

    pub fn account_statuses(&self) -> Vec<AccountStatus> {
        self.accounts
            .iter()
            .map(|account| {
                let auth = self.authorizations.get(&account.appid);
                AccountStatus {
                    account: account.clone(),
                    authorized: auth.is_some(),
                    granted: auth.map(|a| a.func_info.clone()).unwrap_or_default(),
                    auth_time: auth.map(|a| a.auth_time),
                }
            })
            .collect()
    }

    /// The refresh token WeChat honours for `appid` now (the one it lists), if authorized.
    pub fn current_refresh_token(&self, appid: &str) -> Option<&str> {
        self.authorizations
            .get(appid)
            .map(|auth| auth.refresh_token.as_str())
    }

    pub fn is_authorized(&self, appid: &str) -> bool {
        self.authorizations.contains_key(appid)
    }

    /// The administrator of `appid` confirms: the pre-auth code (if any) is used up, the
    /// authorization takes effect and an authorization code is issued.
    pub fn grant(
        &mut self,
        appid: &str,
        func_info: Vec<u32>,
        pre_auth_code: Option<&str>,
        now: i64,
    ) -> Result<Grant, PreAuthCodeError> {
        if let Some(code) = pre_auth_code {
            self.check_pre_auth_code(code, now)?;
            if let Some(issued) = self.pre_auth_codes.get_mut(code) {
                issued.used = true;
            }
        }
        let info_type = match self.authorizations.get_mut(appid) {
            Some(existing) => {
                existing.func_info = func_info;
                existing.auth_time = now;
                "updateauthorized"
            }
            None => {
                self.authorizations.insert(
                    appid.to_owned(),
                    Authorization {
                        func_info,
                        auth_time: now,
                        refresh_token: refresh_token(),
                        retired_refresh_tokens: Vec::new(),
                    },
                );
                "authorized"
            }
        };
        let code = format!("queryauthcode@@@{}", random::string(64));
        let expires_at = now + self.rules.auth_code_ttl;
        self.auth_codes.insert(
            code.clone(),
            AuthCode {
                authorizer_appid: appid.to_owned(),
                expires_at,
                used: false,
            },
        );
        Ok(Grant {
            authorizer_appid: appid.to_owned(),
            info_type: info_type.to_owned(),
            authorization_code: code,
            create_time: now,
            expires_at,
            pre_auth_code: pre_auth_code.map(str::to_owned),
        })
    }

    /// The appid an authorization code was issued for (for counting calls), used or not.
    pub fn auth_code_appid(&self, code: &str) -> Option<&str> {
        self.auth_codes
            .get(code)
            .map(|c| c.authorizer_appid.as_str())
    }

    /// `api_query_auth`: the code is good once, before it expires, while the grant stands.
    pub fn query_auth(&mut self, code: &str, now: i64) -> Result<AuthorizerTokens, WxError> {
        let issued = self.auth_codes.get_mut(code).ok_or(WxError::CodeInvalid)?;
        if issued.used || now >= issued.expires_at {
            return Err(WxError::CodeInvalid);
        }
        issued.used = true;
        let appid = issued.authorizer_appid.clone();
        let rotate = self.rules.refresh_token_rotation;
        let auth = self
            .authorizations
            .get_mut(&appid)
            .ok_or(WxError::NotAuthorized)?;
        if rotate {
            rotate_refresh_token(auth, now, self.rules.refresh_token_grace);
        }
        let refresh_token = auth.refresh_token.clone();
        let func_info = auth.func_info.clone();
        Ok(self.issue_authorizer_tokens(&appid, refresh_token, func_info, now))
    }

    /// `api_authorizer_token`: the current refresh token, or a rotated-out one within its grace.
    pub fn authorizer_token(
        &mut self,
        appid: &str,
        presented: &str,
        now: i64,
    ) -> Result<AuthorizerTokens, WxError> {
        let rules = self.rules;
        let auth = self
            .authorizations
            .get_mut(appid)
            .ok_or(WxError::NotAuthorized)?;
        let valid = auth.refresh_token == presented
            || auth
                .retired_refresh_tokens
                .iter()
                .any(|(t, until)| t == presented && now < *until);
        if !valid {
            return Err(WxError::RefreshTokenInvalid);
        }
        if rules.refresh_token_rotation {
            rotate_refresh_token(auth, now, rules.refresh_token_grace);
        }
        let refresh_token = auth.refresh_token.clone();
        let func_info = auth.func_info.clone();
        Ok(self.issue_authorizer_tokens(appid, refresh_token, func_info, now))
    }

    fn issue_authorizer_tokens(
        &mut self,
        appid: &str,
        refresh_token: String,
        func_info: Vec<u32>,
        now: i64,
    ) -> AuthorizerTokens {
        let access_token = wechat_token();
        self.authorizer_access_tokens.insert(
            access_token.clone(),
            (appid.to_owned(), now + self.rules.authorizer_token_ttl),
        );
        AuthorizerTokens {
            authorizer_appid: appid.to_owned(),
            access_token,
            expires_in: self.rules.authorizer_token_ttl,
            refresh_token,
            func_info,
        }
    }

    /// Whether an authorizer access token is live, and for which account.
    pub fn authorizer_access_token(&self, token: &str, now: i64) -> Result<&str, WxError> {
        let (appid, expires_at) = self
            .authorizer_access_tokens
            .get(token)
            .ok_or(WxError::InvalidCredential)?;
        if now >= *expires_at {
            return Err(WxError::AccessTokenExpired);
        }
        Ok(appid)
    }

    /// `api_get_authorizer_info`: the account and its live authorization.
    pub fn authorizer_info(&self, appid: &str) -> Result<(Account, String, Vec<u32>), WxError> {
        let auth = self
            .authorizations
            .get(appid)
            .ok_or(WxError::NotAuthorized)?;
        let account = self.account(appid).ok_or(WxError::NotAuthorized)?;
        Ok((
            account.clone(),
            auth.refresh_token.clone(),
            auth.func_info.clone(),
        ))
    }

    /// `api_get_authorizer_list`: live authorizations, oldest first, one page.
    pub fn authorizer_list(&self, offset: usize, count: usize) -> (usize, Vec<ListedAuthorizer>) {
        let mut all: Vec<_> = self
            .authorizations
            .iter()
            .map(|(appid, auth)| ListedAuthorizer {
                authorizer_appid: appid.clone(),
                refresh_token: auth.refresh_token.clone(),
                auth_time: auth.auth_time,
            })
            .collect();
        all.sort_by(|a, b| {
            (a.auth_time, &a.authorizer_appid).cmp(&(b.auth_time, &b.authorizer_appid))
        });
        let total = all.len();
        (total, all.into_iter().skip(offset).take(count).collect())
    }

    /// The account withdraws: its refresh and access tokens die with the authorization.
    pub fn withdraw(&mut self, appid: &str) -> bool {
        let removed = self.authorizations.remove(appid).is_some();
        self.authorizer_access_tokens.retain(|_, (a, _)| a != appid);
        removed
    }

    // ----- users (user_codes.rs, miniprogram_api.rs, jssdk.rs) -----

    pub fn user_codes(&mut self) -> &mut UserCodes {
        &mut self.user_codes
    }

    /// Remembers the session_key a login handed out (tests look for it in logs).
    pub fn set_session_key(&mut self, appid: &str, user: &str, session_key: &str) {
        self.session_keys
            .insert((appid.to_owned(), user.to_owned()), session_key.to_owned());
    }

    pub fn session_key(&self, appid: &str, user: &str) -> Option<&str> {
        self.session_keys
            .get(&(appid.to_owned(), user.to_owned()))
            .map(String::as_str)
    }

    pub fn jsapi_tickets(&mut self) -> &mut JsapiTickets {
        &mut self.jsapi_tickets
    }

    /// Accounts an authorization page offers for `auth_type` (1, 2, 3) and `biz_appid`.
    pub fn eligible(&self, auth_type: u8, biz_appid: Option<&str>) -> Vec<&Account> {
        self.accounts
            .iter()
            .filter(|a| match biz_appid {
                Some(biz) => a.appid == biz,
                None => match auth_type {
                    1 => a.kind == AccountKind::OfficialAccount,
                    2 => a.kind == AccountKind::MiniProgram,
                    _ => true,
                },
            })
            .collect()
    }
}

fn rotate_refresh_token(auth: &mut Authorization, now: i64, grace: i64) {
    let old = std::mem::replace(&mut auth.refresh_token, refresh_token());
    auth.retired_refresh_tokens
        .retain(|(_, until)| now < *until);
    auth.retired_refresh_tokens.push((old, now + grace));
}

/// Access tokens look like WeChat's: a short numeric prefix and a long opaque string.
fn wechat_token() -> String {
    format!("89_{}", random::string(136))
}

fn refresh_token() -> String {
    format!("refreshtoken@@@{}", random::string(43))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            ticket_ttl: 43200,
            component_token_ttl: 7200,
            component_token_grace: 300,
            authorizer_token_ttl: 7200,
            pre_auth_code_ttl: 1800,
            auth_code_ttl: 3600,
            refresh_token_rotation: true,
            refresh_token_grace: 300,
            user_code_ttl: 300,
            jsapi_ticket_ttl: 7200,
        }
    }

    #[test]
    fn a_superseded_component_token_lives_for_the_grace_period() {
        let mut s = State::new(rules(), Vec::new());
        let ticket = s.issue_ticket(1000).ticket;
        let (first, _) = s.component_token(&ticket, 1000).unwrap();
        let (second, _) = s.component_token(&ticket, 2000).unwrap();
        assert_eq!(s.check_component_token(Some(&first), 2299), Ok(()));
        assert_eq!(
            s.check_component_token(Some(&first), 2300),
            Err(WxError::InvalidCredential)
        );
        assert_eq!(s.check_component_token(Some(&second), 2300), Ok(()));
        assert_eq!(
            s.check_component_token(Some(&second), 9200),
            Err(WxError::AccessTokenExpired)
        );
    }

    #[test]
    fn tickets_expire_after_their_ttl() {
        let mut s = State::new(rules(), Vec::new());
        let ticket = s.issue_ticket(0).ticket;
        assert!(s.component_token(&ticket, 43200).is_ok());
        assert_eq!(
            s.component_token(&ticket, 43201),
            Err(WxError::TicketExpired)
        );
        assert_eq!(s.component_token("nope", 1), Err(WxError::TicketInvalid));
    }
}
