//! Sending a merchant through WeChat's authorization page (docs/protocol.md#the-authorization-flow), and the one operation that
//! turns an authorization code into a stored account bound to the right merchant.
//!
//! The browser's return to our callback and WeChat's `authorized` push carry the same code and
//! may come in either order, or only one of them. Both call [`complete`]: the code is exchanged
//! once (a claim in DynamoDB), and the push, whose PreAuthCode names the session our link made,
//! has the last word on which merchant the account belongs to.

use std::time::{Duration, Instant};

use crate::push::AuthorizationGrant;
use crate::store::{
    AuthorizerRecord, AuthorizerStatus, Claim, CodeClaim, CodeState, MarkIf, PreAuthSession,
    StoreError, same_code,
};
use crate::tokens::{ExchangeError, TokenError, Tokens, jitter};

/// How long a pre-auth session lasts at most (WeChat's pre_auth_code: 10 to 30 minutes).
const SESSION_TTL_SECS: i64 = 1800;
/// How long the one exchanging a code holds its claim.
const CLAIM_LEASE_SECS: i64 = 30;
/// How long the other path waits for an exchange under way.
const CLAIM_WAIT: Duration = Duration::from_secs(4);
/// How many authorization codes the callback tries for one session (reloads after a passing
/// failure included); past this, the session asks WeChat nothing more.
pub const CODE_ATTEMPTS_PER_SESSION: i64 = 5;

/// What to do when an account is already bound to another merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RebindPolicy {
    /// Keep the existing merchant and say so (the default).
    #[default]
    Refuse,
    /// The merchant who authorized last takes the account.
    TakeOver,
}

impl RebindPolicy {
    /// Reads `REBIND_POLICY` (`refuse` or `take_over`).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "refuse" => Some(Self::Refuse),
            "take_over" => Some(Self::TakeOver),
            _ => None,
        }
    }
}

/// Which accounts the administrator may pick (`auth_type`).
pub const AUTH_TYPES: [u8; 3] = [1, 2, 3];

/// Which of WeChat's authorization pages a link asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The PC page: a QR code the administrator scans.
    Pc,
    /// The mobile page, inside WeChat.
    Mobile,
}

impl Mode {
    /// Reads `pc` or `mobile`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pc" => Some(Self::Pc),
            "mobile" => Some(Self::Mobile),
            _ => None,
        }
    }

    /// The mode's name in links.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pc => "pc",
            Self::Mobile => "mobile",
        }
    }
}

/// What a merchant's link says, validated: the parameters the platform signs
/// ([`crate::links`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkParams {
    /// The platform's own id for the merchant.
    pub merchant: String,
    /// 1 official accounts, 2 mini programs, 3 both.
    pub auth_type: u8,
    /// Authorize this one account only (wins over auth_type).
    pub biz_appid: Option<String>,
    /// The page asked for; without it the browser decides ([`LinkParams::resolve`]).
    pub mode: Option<Mode>,
}

/// What the merchant's link asks for, validated, with the page chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequest {
    /// The platform's own id for the merchant.
    pub merchant: String,
    /// 1 official accounts, 2 mini programs, 3 both.
    pub auth_type: u8,
    /// Authorize this one account only (wins over auth_type).
    pub biz_appid: Option<String>,
    /// WeChat's mobile page (inside WeChat) rather than the PC page's QR code.
    pub mobile: bool,
}

/// Why a merchant's link request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// No merchant.
    #[error("merchant is required")]
    MissingMerchant,
    /// A merchant id with characters or a length that is not allowed.
    #[error("merchant must be 1 to 64 letters, digits, '-', '_', '.' or ':'")]
    BadMerchant,
    /// An auth_type other than 1, 2 or 3.
    #[error("auth_type must be 1 (official accounts), 2 (mini programs) or 3 (both)")]
    BadAuthType,
    /// A biz_appid that is not an appid.
    #[error("biz_appid must be an appid: wx followed by 16 hexadecimal digits")]
    BadBizAppid,
    /// A mode other than pc or mobile.
    #[error("mode must be pc or mobile")]
    BadMode,
}

impl LinkParams {
    /// Validates a link's parameters (`merchant`, `auth_type`, `biz_appid`, `mode`); an empty
    /// value is the same as none.
    pub fn parse<'a>(param: impl Fn(&str) -> Option<&'a str>) -> Result<Self, LinkError> {
        let merchant = param("merchant")
            .filter(|m| !m.is_empty())
            .ok_or(LinkError::MissingMerchant)?;
        if merchant.len() > 64
            || !merchant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return Err(LinkError::BadMerchant);
        }
        let auth_type = match param("auth_type").filter(|v| !v.is_empty()) {
            None => 3,
            Some(v) => v
                .parse()
                .ok()
                .filter(|t| AUTH_TYPES.contains(t))
                .ok_or(LinkError::BadAuthType)?,
        };
        let biz_appid = match param("biz_appid").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) if is_appid(v) => Some(v.to_owned()),
            Some(_) => return Err(LinkError::BadBizAppid),
        };
        let mode = match param("mode").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(Mode::parse(v).ok_or(LinkError::BadMode)?),
        };
        Ok(Self {
            merchant: merchant.to_owned(),
            auth_type,
            biz_appid,
            mode,
        })
    }

    /// Validates a link's parameters given as fields (`POST /links`, `wxopen-admin link`).
    pub fn from_fields(
        merchant: &str,
        auth_type: Option<u8>,
        biz_appid: Option<&str>,
        mode: Option<&str>,
    ) -> Result<Self, LinkError> {
        let auth_type = auth_type.map(|t| t.to_string());
        Self::parse(|name| match name {
            "merchant" => Some(merchant),
            "auth_type" => auth_type.as_deref(),
            "biz_appid" => biz_appid,
            "mode" => mode,
            _ => None,
        })
    }

    /// The request, with the page chosen: without `mode`, the mobile page inside WeChat (its
    /// User-Agent says MicroMessenger) and the PC page elsewhere.
    pub fn resolve(&self, user_agent: Option<&str>) -> LinkRequest {
        let mobile = match self.mode {
            Some(mode) => mode == Mode::Mobile,
            None => user_agent.is_some_and(|ua| ua.contains("MicroMessenger")),
        };
        LinkRequest {
            merchant: self.merchant.clone(),
            auth_type: self.auth_type,
            biz_appid: self.biz_appid.clone(),
            mobile,
        }
    }

    /// The parameters as a query string, in a fixed order.
    pub fn to_query(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("merchant", &self.merchant);
        query.append_pair("auth_type", &self.auth_type.to_string());
        if let Some(biz_appid) = &self.biz_appid {
            query.append_pair("biz_appid", biz_appid);
        }
        if let Some(mode) = self.mode {
            query.append_pair("mode", mode.as_str());
        }
        query.finish()
    }
}

impl LinkRequest {
    /// Validates the query parameters of `GET /authorize` and chooses the page
    /// ([`LinkParams::resolve`]).
    pub fn parse<'a>(
        param: impl Fn(&str) -> Option<&'a str>,
        user_agent: Option<&str>,
    ) -> Result<Self, LinkError> {
        Ok(LinkParams::parse(param)?.resolve(user_agent))
    }
}

/// `wx` followed by 16 lowercase hexadecimal digits.
pub fn is_appid(value: &str) -> bool {
    value.len() == 18
        && value.starts_with("wx")
        && value[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where WeChat's pages are and where they send the merchant back.
#[derive(Debug, Clone)]
pub struct Pages {
    /// The origin of WeChat's authorization page for PCs.
    pub mp_base: String,
    /// The origin of WeChat's authorization page for phones.
    pub open_base: String,
    /// Our https origin on the 授权发起页域名.
    pub public_base_url: String,
}

/// A link to WeChat's authorization page for one session.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationLink {
    /// WeChat's authorization page, with the pre-auth code and our callback.
    pub url: String,
    /// Seconds until the pre-auth code expires.
    pub expires_in: i64,
    /// The session the callback will name.
    pub session_id: String,
}

impl std::fmt::Debug for AuthorizationLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL carries the pre_auth_code.
        f.debug_struct("AuthorizationLink")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl Pages {
    /// Our callback for a session: `redirect_uri`.
    pub fn callback_url(&self, session_id: &str) -> String {
        format!(
            "{}/authorize/callback?session={session_id}",
            self.public_base_url
        )
    }

    /// WeChat's page for a pre_auth_code: the PC page (QR code) or the mobile one.
    pub fn wechat_url(
        &self,
        component_appid: &str,
        pre_auth_code: &str,
        session_id: &str,
        request: &LinkRequest,
    ) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if request.mobile {
            query.append_pair("action", "bindcomponent");
            query.append_pair("no_scan", "1");
        }
        query.append_pair("component_appid", component_appid);
        query.append_pair("pre_auth_code", pre_auth_code);
        query.append_pair("redirect_uri", &self.callback_url(session_id));
        // WeChat documents the two as exclusive; biz_appid wins.
        match &request.biz_appid {
            Some(biz_appid) => query.append_pair("biz_appid", biz_appid),
            None => query.append_pair("auth_type", &request.auth_type.to_string()),
        };
        let query = query.finish();
        if request.mobile {
            format!(
                "{}/wxaopen/safe/bindcomponent?{query}#wechat_redirect",
                self.open_base
            )
        } else {
            format!("{}/cgi-bin/componentloginpage?{query}", self.mp_base)
        }
    }
}

/// Why an authorization could not go on.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A token or a call to WeChat failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The callback names no session we created.
    #[error("this authorization link is unknown")]
    UnknownSession,
    /// The session's pre-auth code has expired.
    #[error("this authorization link has expired")]
    ExpiredSession,
    /// The session completed another authorization.
    #[error("this authorization link was already used for another authorization")]
    SessionUsed,
    /// The code was issued for another session's pre-auth code.
    #[error("this authorization belongs to another link")]
    ForeignSession,
    #[error(
        "WeChat refused the authorization code (errcode {errcode}); it may have expired or been used"
    )]
    /// WeChat refused the authorization code.
    CodeRefused {
        /// WeChat's errcode.
        errcode: i64,
    },
    /// Another caller is exchanging the same code.
    #[error("the authorization is still being recorded; try again in a moment")]
    InProgress,
    /// WeChat handed out a pre-auth code it had handed out before.
    #[error("WeChat gave a pre_auth_code that was used before")]
    PreAuthCodeReused,
    /// The session tried as many codes at the callback as it may.
    #[error("this authorization link was tried too many times")]
    TooManyAttempts,
}

/// Where a completion comes from.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// The browser came back to our callback with this session id.
    Callback {
        /// The session's id.
        session_id: &'a str,
    },
    /// WeChat pushed `authorized` / `updateauthorized`.
    Push(&'a AuthorizationGrant),
}

/// The account an authorization stored and whom it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    /// The account as stored.
    pub account: AuthorizerRecord,
    /// Which merchant it is bound to.
    pub binding: Binding,
    /// The result page was loaded again for the same code: nothing was exchanged.
    pub reloaded: bool,
}

/// Which merchant an authorized account ended up bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// Bound to the session's merchant.
    Bound(String),
    /// The account already belongs to another merchant and the policy kept it there.
    BoundElsewhere {
        /// The merchant it belongs to.
        merchant: String,
        /// The merchant whose link was used.
        requested: String,
    },
    /// No session named a merchant (an authorization made without our link).
    Unbound,
}

/// Starts an authorization: a fresh pre_auth_code, a session recording what was asked, and
/// the link to WeChat's page.
pub async fn start(
    tokens: &Tokens,
    pages: &Pages,
    request: &LinkRequest,
) -> Result<AuthorizationLink, FlowError> {
    // A pre_auth_code WeChat ever repeats is refused by the session's write; ask once more.
    for _ in 0..2 {
        let code = tokens
            .with_component_token(|token| async move {
                tokens
                    .retry_busy(|| tokens.wechat.create_pre_auth_code(token.expose()))
                    .await
            })
            .await?;
        let now = tokens.now();
        let expires_in = code.expires_in.clamp(60, SESSION_TTL_SECS);
        let session = PreAuthSession {
            id: random_id(),
            merchant: request.merchant.clone(),
            pre_auth_code: code.pre_auth_code.expose().to_owned(),
            auth_type: request.auth_type,
            biz_appid: request.biz_appid.clone(),
            mobile: request.mobile,
            created_at: now,
            expires_at: now + expires_in,
            completed: None,
        };
        if tokens
            .store
            .create_session(&tokens.component, &session)
            .await?
        {
            tracing::info!(merchant = %request.merchant, mobile = request.mobile, "authorization started");
            return Ok(AuthorizationLink {
                url: pages.wechat_url(
                    &tokens.component,
                    &session.pre_auth_code,
                    &session.id,
                    request,
                ),
                expires_in,
                session_id: session.id,
            });
        }
    }
    Err(FlowError::PreAuthCodeReused)
}

/// Exchanges `code` (once, whoever comes first), stores the account and binds it to the
/// merchant of the session the origin names.
pub async fn complete(
    tokens: &Tokens,
    policy: RebindPolicy,
    code: &str,
    origin: Origin<'_>,
) -> Result<Completed, FlowError> {
    let store = &tokens.store;
    let component = tokens.component.as_str();
    let now = tokens.now();
    let (session, from_push, push_appid) = match origin {
        Origin::Callback { session_id } => {
            let session = store
                .session(component, session_id)
                .await?
                .ok_or(FlowError::UnknownSession)?;
            if let Some(done) = &session.completed {
                if !same_code(code, &done.code_digest) {
                    return Err(FlowError::SessionUsed);
                }
                // A reload of the result page: show what was stored.
                let account = store
                    .authorizer(component, &done.authorizer_appid)
                    .await?
                    .ok_or(FlowError::UnknownSession)?;
                let binding = binding_of(&account, &session.merchant);
                return Ok(Completed {
                    account,
                    binding,
                    reloaded: true,
                });
            }
            if session.expires_at < now {
                return Err(FlowError::ExpiredSession);
            }
            // The push, when it already came, says which session this code belongs to, and
            // which account it is for.
            let state = store.code_state(component, code).await?;
            if let Some(state) = &state
                && let Some(push_session) = &state.push_session
                && *push_session != session.id
            {
                return Err(FlowError::ForeignSession);
            }
            // Each code tried here may be one api_query_auth call: a few per session.
            if !store
                .count_code_attempt(component, &session.id, CODE_ATTEMPTS_PER_SESSION)
                .await?
            {
                return Err(FlowError::TooManyAttempts);
            }
            (
                Some(session),
                false,
                state.and_then(|state| state.push_appid),
            )
        }
        Origin::Push(grant) => {
            let session = match &grant.pre_auth_code {
                Some(pre_auth_code) => {
                    store
                        .session_of_pre_auth_code(component, pre_auth_code)
                        .await?
                }
                None => None,
            };
            if let Some(session) = &session {
                store
                    .note_push_session(component, code, &session.id, &grant.authorizer_appid, now)
                    .await?;
            }
            (session, true, Some(grant.authorizer_appid.clone()))
        }
    };

    let exchanged = exchange_once(
        tokens,
        code,
        session.as_ref().map(|s| s.id.as_str()),
        push_appid,
    )
    .await?;
    let appid = exchanged.appid;
    // Without a session of its own (a push whose PreAuthCode names none), the account goes to
    // the merchant whose session claimed the code (recorded before the code was sent).
    let (session, from_push) = match (session, exchanged.claim_session) {
        (Some(session), _) => (Some(session), from_push),
        (None, Some(id)) => (store.session(component, &id).await?, false),
        (None, None) => (None, from_push),
    };
    let binding = match &session {
        None => Binding::Unbound,
        Some(session) => {
            let bound = store
                .bind_merchant(
                    component,
                    &appid,
                    &session.merchant,
                    code,
                    from_push,
                    policy == RebindPolicy::TakeOver,
                    now,
                )
                .await?;
            store
                .complete_session(component, &session.id, &appid, code, now)
                .await?;
            match bound {
                Some(merchant) if merchant == session.merchant => Binding::Bound(merchant),
                Some(merchant) => {
                    tracing::warn!(authorizer = %appid, "account already bound to another merchant; binding kept");
                    Binding::BoundElsewhere {
                        merchant,
                        requested: session.merchant.clone(),
                    }
                }
                None => Binding::Unbound,
            }
        }
    };
    let account = store
        .authorizer(component, &appid)
        .await?
        .ok_or(FlowError::InProgress)?;
    tracing::info!(authorizer = %appid, from_push, "authorization completed");
    Ok(Completed {
        account,
        binding,
        reloaded: false,
    })
}

/// The account was withdrawn (`unauthorized` at `create_time`): marked, tokens dropped, unless
/// it authorized again since (one conditional write, no read).
pub async fn withdraw(
    tokens: &Tokens,
    authorizer_appid: &str,
    create_time: i64,
) -> Result<bool, FlowError> {
    let marked = tokens
        .store
        .mark_authorizer(
            &tokens.component,
            authorizer_appid,
            AuthorizerStatus::Withdrawn,
            MarkIf::NotAuthorizedSince(create_time),
            tokens.now(),
        )
        .await?;
    if marked {
        tracing::warn!(authorizer = authorizer_appid, "authorization withdrawn");
    }
    Ok(marked)
}

/// A code's exchange, done by this caller or another.
struct Exchanged {
    appid: String,
    /// The session recorded by whoever claimed the code.
    claim_session: Option<String>,
}

/// Claims and exchanges the code, or waits for whoever claimed it. A code that may already
/// have been sent (its claimant died, or its call failed without saying whether WeChat used
/// it) is never sent again: the exchange is resolved through api_get_authorizer_list for the
/// account, which `appid` names (the push does) or the push names when it comes.
async fn exchange_once(
    tokens: &Tokens,
    code: &str,
    session: Option<&str>,
    mut appid: Option<String>,
) -> Result<Exchanged, FlowError> {
    let store = &tokens.store;
    let component = tokens.component.as_str();
    let deadline = Instant::now() + CLAIM_WAIT;
    // Set once the code may have been sent and no appid is known: wait for the push to name it.
    let mut awaiting_appid = false;
    loop {
        let now = tokens.now();
        let claim = if awaiting_appid && appid.is_none() {
            Claim::Held
        } else {
            store
                .claim_code(component, code, session, now, now + CLAIM_LEASE_SECS)
                .await?
        };
        match claim {
            Claim::Won {
                maybe_sent: false,
                earlier_session,
            } => {
                let claim_session = session.map(str::to_owned).or(earlier_session);
                return match tokens.exchange_code(code).await {
                    Ok(appid) => Ok(Exchanged {
                        appid,
                        claim_session,
                    }),
                    Err(ExchangeError::Refused(error)) => {
                        store.forget_code(component, code).await?;
                        Err(FlowError::CodeRefused {
                            errcode: error.errcode().unwrap_or_default(),
                        })
                    }
                    Err(ExchangeError::NotSent(error)) => {
                        store.release_code(component, code, false).await?;
                        Err(error.into())
                    }
                    // A process that dies here leaves its claim to lapse ("maybe sent").
                    Err(ExchangeError::Unresolved(error @ TokenError::Interrupted(_))) => {
                        Err(error.into())
                    }
                    Err(ExchangeError::Unresolved(error)) => {
                        tracing::warn!(%error, "exchange unresolved; resolving through the authorizer list");
                        store.release_code(component, code, true).await?;
                        match &appid {
                            Some(appid) => adopt(tokens, code, appid, claim_session).await,
                            None => {
                                awaiting_appid = true;
                                continue;
                            }
                        }
                    }
                };
            }
            Claim::Won {
                maybe_sent: true,
                earlier_session,
            } => {
                let claim_session = session.map(str::to_owned).or(earlier_session);
                match &appid {
                    Some(appid) => return adopt(tokens, code, appid, claim_session).await,
                    None => {
                        // Leave it to whoever learns the appid (the push).
                        store.release_code(component, code, true).await?;
                        awaiting_appid = true;
                    }
                }
            }
            Claim::Held => {}
        }
        match store.code_state(component, code).await? {
            Some(CodeState {
                claim: CodeClaim::Exchanged { authorizer_appid },
                claim_session,
                ..
            }) => {
                return Ok(Exchanged {
                    appid: authorizer_appid,
                    claim_session,
                });
            }
            Some(state) if appid.is_none() && state.push_appid.is_some() => {
                appid = state.push_appid;
                continue;
            }
            _ if Instant::now() >= deadline => return Err(FlowError::InProgress),
            _ => tokio::time::sleep(jitter(Duration::from_millis(150))).await,
        }
    }
}

/// Resolves a code that may have been used through api_get_authorizer_list.
async fn adopt(
    tokens: &Tokens,
    code: &str,
    appid: &str,
    claim_session: Option<String>,
) -> Result<Exchanged, FlowError> {
    if tokens.adopt_listed(Some(code), appid).await? {
        Ok(Exchanged {
            appid: appid.to_owned(),
            claim_session,
        })
    } else {
        // WeChat does not list the account: it is not authorized (any more), as 61003 says.
        Err(FlowError::CodeRefused {
            errcode: crate::wechat::errcode::UNAUTHORIZED,
        })
    }
}

fn binding_of(account: &AuthorizerRecord, requested: &str) -> Binding {
    match &account.merchant {
        Some(merchant) if merchant == requested => Binding::Bound(merchant.clone()),
        Some(merchant) => Binding::BoundElsewhere {
            merchant: merchant.clone(),
            requested: requested.to_owned(),
        },
        None => Binding::Unbound,
    }
}

/// An opaque session id: 128 random bits.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::is_appid;

    #[test]
    fn an_appid_is_wx_and_16_lowercase_hex_digits() {
        assert!(is_appid("wx570bc396a51b8ff8"));
        assert!(!is_appid("wx570bc396a51b8ff"));
        assert!(!is_appid("wx570bc396a51b8ff80"));
        assert!(!is_appid("wx570BC396a51b8ff8"));
        assert!(!is_appid("wy570bc396a51b8ff8"));
        assert!(!is_appid("$APPID$"));
    }
}
