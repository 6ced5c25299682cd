//! The handler behind WeChat's authorization event URL (授权事件接收URL) and its message URL
//! (消息与事件接收URL, `/wechat/authorizers/{appid}/events`, see [`messages`]).
//!
//! The push path is: check the request, verify the signature, decrypt, parse, one conditional
//! write, answer `success`. Anything refused gets a 4xx naming the reason and changes nothing;
//! anything that could not be stored gets a 5xx so that WeChat retries.

pub mod messages;

use std::sync::Arc;
use std::time::Duration;

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use wxopen::authorization::{self, Origin, RebindPolicy};
use wxopen::handoff::{HandedPush, Handoff, HandoffError};
use wxopen::push::{ComponentInfo, ComponentPush, Envelope, PushError};
use wxopen::secrets::ComponentKeys;
use wxopen::store::event_key;
use wxopen::tokens::{TokenError, Tokens};
use wxopen::{Config, CryptoError, SecretError, StoreError, Written};

/// WeChat's pushes are a few hundred bytes; anything near this is not from WeChat.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// After a signature fails, the secret is fetched again if the cached one is older than this:
/// the operator may have just changed the token, but a flood of forgeries costs one fetch at most.
pub const ROTATION_RECHECK: Duration = Duration::from_secs(30);

/// An authorization push is acted on right away within this budget (WeChat waits 5 s for the
/// answer in all); whatever does not finish is left to the refresher, the event being stored.
pub const ACT_BUDGET: Duration = Duration::from_secs(3);

/// What the handler needs, built once per container.
#[derive(Debug)]
pub struct Receiver {
    pub component_appid: String,
    /// Zero disables the check (only for replaying recorded events locally).
    pub timestamp_tolerance: Duration,
    /// See [`ROTATION_RECHECK`].
    pub rotation_recheck: Duration,
    /// The store, the secret and WeChat's APIs.
    pub tokens: Tokens,
    pub rebind: RebindPolicy,
    /// See [`ACT_BUDGET`]; zero only records.
    pub act_budget: Duration,
    /// Where authorized accounts' messages go.
    pub handoff: Handoff,
    /// See [`messages::MESSAGE_BUDGET`].
    pub message_budget: Duration,
    /// The usernames the message URL's accounts are addressed by.
    pub user_names: messages::UserNames,
}

impl Receiver {
    pub fn new(config: &Config, aws: &aws_config::SdkConfig) -> Self {
        Self {
            component_appid: config.component_appid.clone(),
            timestamp_tolerance: config.push_timestamp_tolerance,
            rotation_recheck: ROTATION_RECHECK,
            tokens: Tokens::from_config(config, aws).caching_component_token(),
            rebind: config.rebind,
            act_budget: ACT_BUDGET,
            handoff: Handoff::new(config.message_target.as_ref(), aws),
            message_budget: messages::MESSAGE_BUDGET,
            user_names: messages::UserNames::default(),
        }
    }
}

/// Why a push was not answered `success`.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("only POST is accepted")]
    Method,
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the body is not UTF-8 text")]
    NotText,
    #[error("query parameter {0} is missing")]
    MissingParameter(&'static str),
    #[error("encrypt_type must be aes")]
    NotEncrypted,
    #[error("timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("timestamp is {0} s away from now: refused as a replay")]
    StaleTimestamp(i64),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("the push is addressed to {0}, not to this platform (-40005 ValidateAppidError)")]
    WrongAppid(String),
    #[error("the platform's secret is unavailable")]
    Secret(#[source] SecretError),
    #[error("the push could not be stored")]
    Store(#[source] StoreError),
    #[error("{0:?} is not an authorizer appid")]
    BadAuthorizerAppid(String),
    #[error("the message is addressed to {to_user_name}, not to account {appid}")]
    WrongAccount { appid: String, to_user_name: String },
    #[error("{0} is not an account authorized to this platform")]
    UnknownAccount(String),
    #[error("the account's username could not be read")]
    UserName(#[source] TokenError),
    #[error("the message could not be handed on")]
    Handoff(#[source] HandoffError),
    #[error("the release check's authorization code could not be answered")]
    ReleaseCheck(#[source] TokenError),
    #[error("the release check's authorization code belongs to {0}, not to this account")]
    ForeignAuthCode(String),
    #[error("out of time answering the release check")]
    OutOfTime,
}

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Method => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadAuthorizerAppid(_) | Self::UnknownAccount(_) => StatusCode::NOT_FOUND,
            Self::StaleTimestamp(_)
            | Self::WrongAppid(_)
            | Self::WrongAccount { .. }
            | Self::ForeignAuthCode(_)
            | Self::Crypto(CryptoError::ValidateSignature | CryptoError::ValidateAppid) => {
                StatusCode::FORBIDDEN
            }
            Self::NotText
            | Self::MissingParameter(_)
            | Self::NotEncrypted
            | Self::BadTimestamp
            | Self::Push(_)
            | Self::Crypto(_) => StatusCode::BAD_REQUEST,
            Self::Secret(_) | Self::Handoff(_) | Self::UserName(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ReleaseCheck(_) => StatusCode::BAD_GATEWAY,
            Self::OutOfTime => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

/// What a push that was accepted did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub info_type: String,
    pub create_time: i64,
    pub written: Written,
}

/// The Lambda handler: always an HTTP answer, never a function error, so WeChat sees the reason.
/// A path ending in `/authorizers/{appid}/events` is the message URL; any other is the
/// authorization event URL (a function URL or `cargo lambda watch` adds its own prefix).
pub async fn handle(
    receiver: &Receiver,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    if let Some(appid) = messages::authorizer_appid(request.uri().path()) {
        return Ok(messages::handle(receiver, appid, &request).await);
    }
    let response = match receive(receiver, &request, wxopen::unix_now()).await {
        Ok(accepted) => {
            tracing::info!(
                info_type = %accepted.info_type,
                create_time = accepted.create_time,
                written = ?accepted.written,
                "push accepted"
            );
            text(StatusCode::OK, "success".to_owned())
        }
        Err(rejection) => refused(&rejection),
    };
    Ok(response)
}

/// The answer to a push that was not accepted, logged by its reason.
pub fn refused(rejection: &Rejection) -> Response<Body> {
    let status = rejection.status();
    if status.is_server_error() {
        let cause = std::error::Error::source(rejection).map(ToString::to_string);
        tracing::error!(reason = %rejection, cause, "push not handled; WeChat will retry");
    } else {
        tracing::warn!(reason = %rejection, status = status.as_u16(), "push refused");
    }
    text(status, rejection.to_string())
}

/// Checks, decrypts and stores one push; `now` is Unix seconds.
pub async fn receive(
    receiver: &Receiver,
    request: &Request,
    now: i64,
) -> Result<Accepted, Rejection> {
    let (envelope, keys) = open(receiver, request, now).await?;
    match envelope.app_id.as_deref() {
        None => return Err(PushError::MissingField("AppId").into()),
        Some(appid) if appid != receiver.component_appid => {
            return Err(Rejection::WrongAppid(appid.to_owned()));
        }
        Some(_) => {}
    }
    let xml = keys.crypto.decrypt(&envelope.encrypt)?;
    let push = ComponentPush::parse(&xml)?;
    if push.app_id != receiver.component_appid {
        return Err(Rejection::WrongAppid(push.app_id));
    }
    let written = receiver
        .tokens
        .store
        .record_push(&receiver.component_appid, &push, now)
        .await
        .map_err(Rejection::Store)?;
    if written != Written::Superseded && !receiver.act_budget.is_zero() {
        act_on(receiver, &push).await;
    }
    // Handed on again when WeChat retries (a duplicate): the last try may have failed here.
    if let Some(handed) = HandedPush::of(&push) {
        receiver
            .handoff
            .hand_on(&handed)
            .await
            .map_err(Rejection::Handoff)?;
    }
    Ok(Accepted {
        info_type: push.info.info_type().to_owned(),
        create_time: push.create_time,
        written,
    })
}

/// The checks every push to either URL passes: method, size, query, timestamp, envelope and
/// signature. Returns the envelope and the keys that verified it, ready to decrypt.
async fn open(
    receiver: &Receiver,
    request: &Request,
    now: i64,
) -> Result<(Envelope, Arc<ComponentKeys>), Rejection> {
    if request.method() != Method::POST {
        return Err(Rejection::Method);
    }
    let body = body_text(request.body())?;
    let query = request.query_string_parameters();
    let param = |name: &'static str| {
        query
            .first(name)
            .filter(|v| !v.is_empty())
            .ok_or(Rejection::MissingParameter(name))
    };
    let msg_signature = param("msg_signature")?;
    let timestamp = param("timestamp")?;
    let nonce = param("nonce")?;
    if query.first("encrypt_type").is_some_and(|t| t != "aes") {
        return Err(Rejection::NotEncrypted);
    }
    check_timestamp(timestamp, now, receiver.timestamp_tolerance)?;

    let envelope = Envelope::parse(body)?;
    let keys = verified_keys(receiver, msg_signature, timestamp, nonce, &envelope.encrypt).await?;
    Ok((envelope, keys))
}

/// Completes or withdraws an authorization the push tells of, within the budget. The push is
/// stored already: a failure here only leaves the event for the refresher.
async fn act_on(receiver: &Receiver, push: &ComponentPush) {
    let tokens = &receiver.tokens;
    let work = async {
        match &push.info {
            ComponentInfo::Unauthorized { authorizer_appid } => {
                authorization::withdraw(tokens, authorizer_appid, push.create_time)
                    .await
                    .map(|_| ())
            }
            // `authorized`, `updateauthorized`, and a fast registration's new mini program.
            info => match info.grant() {
                Some(grant) => authorization::complete(
                    tokens,
                    receiver.rebind,
                    &grant.authorization_code,
                    Origin::Push(grant),
                )
                .await
                .map(|_| ()),
                None => return Ok(false),
            },
        }?;
        let (pk, sk) = event_key(&receiver.component_appid, push).expect("an authorization event");
        tokens
            .store
            .settle_event(&pk, &sk, wxopen::unix_now())
            .await?;
        Ok::<_, authorization::FlowError>(true)
    };
    // Past the budget, an answer from WeChat already in hand is still stored.
    match tokens.within_budget(receiver.act_budget, work).await {
        Some(Ok(_)) => {}
        Some(Err(error)) => {
            tracing::warn!(%error, info_type = push.info.info_type(), "left for the refresher");
        }
        None => tracing::warn!(
            info_type = push.info.info_type(),
            "out of time; left for the refresher"
        ),
    }
}

fn body_text(body: &Body) -> Result<&str, Rejection> {
    let bytes: &[u8] = body.as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Rejection::TooLarge);
    }
    std::str::from_utf8(bytes).map_err(|_| Rejection::NotText)
}

fn check_timestamp(timestamp: &str, now: i64, tolerance: Duration) -> Result<(), Rejection> {
    if !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::BadTimestamp);
    }
    let sent: i64 = timestamp.parse().map_err(|_| Rejection::BadTimestamp)?;
    let skew = now.saturating_sub(sent);
    if !tolerance.is_zero() && skew.unsigned_abs() > tolerance.as_secs() {
        return Err(Rejection::StaleTimestamp(skew));
    }
    Ok(())
}

/// The keys whose token signs this push, re-fetching once in case the token was just rotated.
async fn verified_keys(
    receiver: &Receiver,
    msg_signature: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
) -> Result<Arc<ComponentKeys>, Rejection> {
    let secrets = &receiver.tokens.secrets;
    let keys = secrets.keys().await.map_err(Rejection::Secret)?;
    let Err(error) = keys
        .crypto
        .verify_signature(msg_signature, timestamp, nonce, encrypt)
    else {
        return Ok(keys);
    };
    let fresh = secrets
        .keys_fresher_than(receiver.rotation_recheck)
        .await
        .map_err(Rejection::Secret)?;
    if Arc::ptr_eq(&fresh, &keys) {
        return Err(error.into());
    }
    fresh
        .crypto
        .verify_signature(msg_signature, timestamp, nonce, encrypt)?;
    Ok(fresh)
}

pub(crate) fn text(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::Text(body))
        .expect("a static status and header always build")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_outside_the_window_are_stale() {
        let five_minutes = Duration::from_secs(300);
        assert!(check_timestamp("1000", 1000, five_minutes).is_ok());
        assert!(check_timestamp("700", 1000, five_minutes).is_ok());
        assert!(matches!(
            check_timestamp("699", 1000, five_minutes),
            Err(Rejection::StaleTimestamp(301))
        ));
        assert!(matches!(
            check_timestamp("1301", 1000, five_minutes),
            Err(Rejection::StaleTimestamp(-301))
        ));
        assert!(check_timestamp("1", 1000, Duration::ZERO).is_ok());
        for bad in ["", "-5", "12a", "99999999999999999999999"] {
            assert!(
                matches!(
                    check_timestamp(bad, 1000, five_minutes),
                    Err(Rejection::BadTimestamp)
                ),
                "{bad}"
            );
        }
    }
}
