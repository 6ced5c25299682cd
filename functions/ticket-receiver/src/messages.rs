//! The message URL (消息与事件接收URL, `/wechat/authorizers/{appid}/events`): messages and
//! events of authorized accounts, verified and decrypted like the authorization event URL's.
//!
//! The release check's test accounts get the answers it expects (docs/protocol.md#the-release-check); every other
//! message is handed on (SQS or EventBridge) and answered `success` only once it is.
//!
//! The path's appid is not signed: only the message is. So a message is taken only when its
//! `ToUserName` is the username (`gh_...`) of the account the path names: from the release
//! check's table for its test accounts, otherwise as stored with the account's profile (see
//! [`UserNames`]). A message signed for one account and replayed to another's URL is refused.

use std::borrow::Cow;
use std::time::Duration;

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use wxopen::cache::AppidCache;
use wxopen::handoff::Handed;
use wxopen::message::{AuthorizerMessage, HandedMessage, text_reply};
use wxopen::release_check::{self, Case, FROM_API_SUFFIX};
use wxopen::tokens::{ExchangeError, TokenError, Tokens};

use crate::{Receiver, Rejection, open, refused, text};

/// WeChat waits 5 s for the answer; the release check's code exchange and customer-service
/// message must fit in this, leaving room for the answer itself.
pub const MESSAGE_BUDGET: Duration = Duration::from_secs(4);

/// How long a container trusts a username it read. An account's username never changes, so
/// this is not about staleness of the name: it bounds how long a container keeps taking
/// messages for an account after its record is gone from the table (an operator's deletion),
/// while a busy account still costs one read per container every few minutes, not per message.
pub const USER_NAME_TTL: Duration = Duration::from_secs(300);
/// Usernames kept per container (about 100 bytes each); past this, expired ones are dropped,
/// and if none is, all are (the next message of each account reads its record again).
pub const USER_NAME_CAPACITY: usize = 10_000;

/// The usernames of authorized accounts, read from the table and kept per container for
/// [`USER_NAME_TTL`]. Only names found are kept: an appid not (yet) stored is read again on each
/// message, so an account authorized a moment ago is taken as soon as its record exists.
#[derive(Debug)]
pub struct UserNames(AppidCache<String>);

impl UserNames {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self(AppidCache::new(ttl, capacity))
    }

    /// The username of the account `appid`, or `None` when no authorized account has it.
    pub async fn of(&self, tokens: &Tokens, appid: &str) -> Result<Option<String>, TokenError> {
        if let Some(name) = self.0.get(appid) {
            return Ok(Some(name));
        }
        let name = tokens.authorizer_user_name(appid).await?;
        if let Some(name) = &name {
            self.0.insert(appid, name.clone());
        }
        Ok(name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Default for UserNames {
    fn default() -> Self {
        Self::new(USER_NAME_TTL, USER_NAME_CAPACITY)
    }
}

/// What a message was answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `success`: handed on (or dropped, with no target configured).
    Success(Handed),
    /// An empty 200, as the release check expects after `QUERY_AUTH_CODE`.
    Empty,
    /// A passive reply, encrypted: the sealed XML and, for the log and tests, its plain text.
    Reply { xml: String, content: String },
}

/// The authorizer appid of a message URL path (`.../authorizers/{appid}/events`), checked for
/// shape only, or `None` when the path is not the message URL.
pub fn authorizer_appid(path: &str) -> Option<&str> {
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let (events, appid, authorizers) = (segments.next()?, segments.next()?, segments.next()?);
    (events == "events" && authorizers == "authorizers").then_some(appid)
}

/// The Lambda answer for one message: never a function error, so WeChat sees the reason.
pub async fn handle(receiver: &Receiver, appid: &str, request: &Request) -> Response<Body> {
    match receive(receiver, appid, request, wxopen::unix_now()).await {
        Ok(answer) => {
            tracing::info!(
                authorizer_appid = appid,
                answer = answer.kind(),
                "message answered"
            );
            match answer {
                Answer::Success(_) => text(StatusCode::OK, "success".to_owned()),
                Answer::Empty => text(StatusCode::OK, String::new()),
                Answer::Reply { xml, .. } => Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
                    .body(Body::Text(xml))
                    .expect("a static status and header always build"),
            }
        }
        Err(rejection) => refused(&rejection),
    }
}

/// Checks, decrypts and answers one message; `now` is Unix seconds.
pub async fn receive(
    receiver: &Receiver,
    appid: &str,
    request: &Request,
    now: i64,
) -> Result<Answer, Rejection> {
    if !wxopen::authorization::is_appid(appid) {
        return Err(Rejection::BadAuthorizerAppid(appid.to_owned()));
    }
    let (envelope, keys) = open(receiver, request, now).await?;
    let xml = keys.crypto.decrypt(&envelope.encrypt)?;
    let message = AuthorizerMessage::parse(&xml)?;

    let test_account = release_check::test_account(appid);
    let user_name = match test_account {
        Some(account) => Cow::Borrowed(account.user_name),
        None => receiver
            .user_names
            .of(&receiver.tokens, appid)
            .await
            .map_err(Rejection::UserName)?
            .map(Cow::Owned)
            .ok_or_else(|| Rejection::UnknownAccount(appid.to_owned()))?,
    };
    if message.to_user_name != user_name {
        return Err(Rejection::WrongAccount {
            appid: appid.to_owned(),
            to_user_name: message.to_user_name,
        });
    }

    if test_account.is_some() {
        match Case::of(&message) {
            Some(Case::Reply(content)) => {
                let reply = text_reply(&message, &content, now);
                let sealed = keys.crypto.seal(&reply, &now.to_string(), &nonce());
                return Ok(Answer::Reply {
                    xml: sealed.to_xml(),
                    content,
                });
            }
            Some(Case::QueryAuthCode(code)) => {
                let work = answer_query_auth_code(receiver, appid, &message, code);
                // Past the budget, an answer from WeChat already in hand is still stored.
                return receiver
                    .tokens
                    .within_budget(receiver.message_budget, work)
                    .await
                    .ok_or(Rejection::OutOfTime)?
                    .map(|()| Answer::Empty);
            }
            None => {}
        }
    }

    let handed = HandedMessage::new(&receiver.component_appid, appid, &message);
    receiver
        .handoff
        .hand_on(&handed)
        .await
        .map(Answer::Success)
        .map_err(Rejection::Handoff)
}

/// `QUERY_AUTH_CODE:$code$`: exchange the code, keep the account's refresh token (persisted
/// before anything else, like every one WeChat hands back), then send `$code$_from_api` to the
/// user with the account's own access token.
async fn answer_query_auth_code(
    receiver: &Receiver,
    appid: &str,
    message: &AuthorizerMessage,
    code: &str,
) -> Result<(), Rejection> {
    let tokens = &receiver.tokens;
    let exchanged = match tokens.exchange_code(code).await {
        Ok(exchanged) => exchanged,
        // WeChat may have used the code: the message names the account, whose refresh token
        // WeChat lists. The code is not sent again.
        Err(ExchangeError::Unresolved(error)) if !matches!(error, TokenError::Interrupted(_)) => {
            tracing::warn!(%error, "exchange unresolved; resolving through the authorizer list");
            if !tokens
                .adopt_listed(Some(code), appid)
                .await
                .map_err(Rejection::ReleaseCheck)?
            {
                return Err(Rejection::ReleaseCheck(error));
            }
            appid.to_owned()
        }
        Err(error) => return Err(Rejection::ReleaseCheck(error.into())),
    };
    // Kept all the same: the refresh token is real whichever account the code was for.
    if exchanged != appid {
        return Err(Rejection::ForeignAuthCode(exchanged));
    }
    let access_token = tokens
        .authorizer_access_token(appid)
        .await
        .map_err(Rejection::ReleaseCheck)?;
    let content = format!("{code}{FROM_API_SUFFIX}");
    tokens
        .retry_busy(|| {
            tokens
                .wechat
                .send_custom_text(access_token.expose(), &message.from_user_name, &content)
        })
        .await
        .map_err(|e| Rejection::ReleaseCheck(e.into()))
}

impl Answer {
    fn kind(&self) -> &'static str {
        match self {
            Self::Success(Handed::Queued { .. }) => "queued",
            Self::Success(Handed::Published { .. }) => "published",
            Self::Success(Handed::Discarded) => "discarded",
            Self::Empty => "empty",
            Self::Reply { .. } => "reply",
        }
    }
}

fn nonce() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    u64::from_le_bytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_url_is_recognised_under_any_prefix() {
        assert_eq!(
            authorizer_appid("/wechat/authorizers/wx570bc396a51b8ff8/events"),
            Some("wx570bc396a51b8ff8")
        );
        assert_eq!(
            authorizer_appid("/lambda-url/ticket-receiver/wechat/authorizers/wxa/events/"),
            Some("wxa")
        );
        assert_eq!(authorizer_appid("/wechat/component/events"), None);
        assert_eq!(authorizer_appid("/events"), None);
        assert_eq!(authorizer_appid("/"), None);
    }
}
