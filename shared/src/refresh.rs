//! One run of the scheduled refresher: the component token, then whatever the `due` index says
//! is due, with bounded concurrency, within the invocation's deadline.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use crate::authorization::{self, FlowError, Origin, RebindPolicy};
use crate::push::AuthorizationGrant;
use crate::store::{
    AuthorizationEvent, CodeClaim, CodeState, DUE_SHARDS, DueCursor, DueItem, DueKind, RefreshWhen,
    due_partition,
};
use crate::tokens::{AuthorizerRefresh, TokenError, Tokens};
use crate::wechat::{ErrorKind, calls_until};

/// What one run covers and how.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Partitions of the `due` index to work through (all by default). Splitting them across
    /// invocations spreads very large fleets.
    pub partitions: Vec<u32>,
    /// Refreshes in flight at once.
    pub concurrency: usize,
    /// No new work is started when less than this is left before the deadline.
    pub reserve: Duration,
    /// No WeChat call (nor a retry of one) is started this long before the deadline. Nothing in
    /// flight is ever cut: a call started before then runs to its answer or its timeout, and
    /// what it returned is stored. Keep it at least one client timeout plus a store write, so
    /// the run still reports before Lambda ends it.
    pub finish: Duration,
    /// When the invocation must have returned.
    pub deadline: Instant,
    /// Items read from the index per query.
    pub page_size: i32,
    /// Also walk api_get_authorizer_list and repair the store.
    pub reconcile: bool,
    /// How authorizations completed from recorded pushes bind accounts.
    pub rebind: RebindPolicy,
}

impl RunOptions {
    /// Refreshes in flight at once unless configured.
    pub const DEFAULT_CONCURRENCY: usize = 16;
    /// WeChat's 5 s client timeout and 2 s for the writes and the report.
    pub const DEFAULT_FINISH: Duration = Duration::from_secs(7);

    /// Every partition, the defaults, and `deadline`.
    pub fn new(deadline: Instant) -> Self {
        Self {
            partitions: (0..DUE_SHARDS).collect(),
            concurrency: Self::DEFAULT_CONCURRENCY,
            reserve: Duration::from_secs(10),
            finish: Self::DEFAULT_FINISH,
            deadline,
            page_size: 200,
            reconcile: false,
            rebind: RebindPolicy::default(),
        }
    }
}

/// The run's report, logged at the end and turned into metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Whether a valid component token was at hand (refreshed if it was due).
    pub component_token_ok: bool,
    /// The component token could not be refreshed and a stored one, still valid, was used.
    pub component_token_degraded: bool,
    /// Accounts found due.
    pub due: usize,
    /// Accounts refreshed.
    pub refreshed: usize,
    /// Of those, how many got a new refresh token.
    pub rotated: usize,
    /// Refresh tokens taken back from api_get_authorizer_list.
    pub recovered: usize,
    /// Accounts found withdrawn (61003).
    pub withdrawn: usize,
    /// Accounts whose refresh token is lost and not listed.
    pub reauthorization_required: usize,
    /// Recorded authorization pushes acted on.
    pub events_settled: usize,
    /// Due accounts another caller was refreshing.
    pub skipped: usize,
    /// Failures by reason (`errcode 45009`, `timeout`, `store`, ...).
    pub failed: BTreeMap<String, usize>,
    /// Items DynamoDB read from the index: proportional to what is due, never to the fleet.
    pub items_read: usize,
    /// A call that stops this kind of work for the run (45009, 61004), if one was seen.
    pub halted_by: Option<i64>,
    /// The deadline came before all due work was done; the next run picks it up.
    pub left_for_next_run: bool,
    /// (listed, repaired) by the reconciliation, when the run reconciled.
    pub reconciled: Option<(usize, usize)>,
    /// Whether the reconciliation's pass over the list is complete (else the next one goes on
    /// from where this one stopped).
    pub reconcile_pass_done: Option<bool>,
}

enum Done {
    Refreshed {
        rotated: bool,
        recovered: bool,
    },
    Withdrawn,
    Reauthorization,
    /// This many of an account's authorization events were settled, and the failure that
    /// stopped the rest, if one did.
    Settled(usize, Option<String>),
    Skipped,
    /// An event of an account whose events this run already settles: nothing to count.
    Merged,
    Failed(String),
}

/// Runs one refresh pass.
///
/// The deadline stops the run from starting work, never from finishing it: no account is begun
/// within `reserve` of the deadline and no WeChat call is started within `finish` of it
/// ([`calls_until`]), but a call in flight is never cancelled, so a refresh token WeChat handed
/// back is always written before the run reports.
pub async fn run(tokens: &Tokens, options: &RunOptions) -> Summary {
    let mut summary = Summary::default();
    let calls_end = options
        .deadline
        .checked_sub(options.finish)
        .unwrap_or(options.deadline);
    match calls_until(calls_end, tokens.component_access_token()).await {
        Ok(_) => {}
        Err(error) => {
            tracing::error!(%error, "no component token: authorizers cannot be refreshed this run");
            let reason = reason(&error);
            summary.left_for_next_run = reason == "deadline";
            *summary.failed.entry(reason).or_default() += 1;
            return summary;
        }
    }
    summary.component_token_ok = true;
    summary.component_token_degraded = tokens.component_token_degraded().await;

    let halted = AtomicBool::new(false);
    let halted_by = Mutex::new(None);
    let out_of_time = || Instant::now() + options.reserve >= options.deadline;
    // Accounts whose authorization events this run settles: one worker per account applies
    // them in order; the account's other items in the index pass.
    let settling = Mutex::new(HashSet::new());

    // The index is read as the work drains rather than page by page after each page is done,
    // so `concurrency` refreshes stay in flight across page and partition boundaries.
    let steps = due_work(tokens, options, &out_of_time)
        .map(|work| {
            let (halted, halted_by, out_of_time, settling) =
                (&halted, &halted_by, &out_of_time, &settling);
            async move {
                let item = match work {
                    Work::Item(item) => item,
                    Work::Note(step) => return step,
                };
                if halted.load(Ordering::Relaxed) {
                    return Step::Done(Done::Failed("halted".into()));
                }
                if out_of_time() {
                    return Step::Done(Done::Failed("deadline".into()));
                }
                if matches!(item.kind, DueKind::AuthorizationEvent { .. })
                    && !settling
                        .lock()
                        .expect("not poisoned")
                        .insert(item.authorizer_appid.clone())
                {
                    return Step::Done(Done::Merged);
                }
                let done = calls_until(calls_end, process(tokens, &item, options.rebind)).await;
                if let Done::Failed(reason) | Done::Settled(_, Some(reason)) = &done
                    && let Some(code) = halting_errcode(reason)
                {
                    halted.store(true, Ordering::Relaxed);
                    *halted_by.lock().expect("not poisoned") = Some(code);
                }
                Step::Done(done)
            }
        })
        .buffer_unordered(options.concurrency.max(1));
    let mut steps = std::pin::pin!(steps);
    while let Some(step) = steps.next().await {
        match step {
            Step::Page { read, due } => {
                summary.items_read += read;
                summary.due += due;
            }
            Step::IndexFailed => *summary.failed.entry("store".into()).or_default() += 1,
            Step::OutOfTime => summary.left_for_next_run = true,
            Step::Done(done) => match done {
                Done::Refreshed { rotated, recovered } => {
                    summary.refreshed += 1;
                    summary.rotated += usize::from(rotated);
                    summary.recovered += usize::from(recovered);
                }
                Done::Withdrawn => summary.withdrawn += 1,
                Done::Reauthorization => summary.reauthorization_required += 1,
                Done::Settled(count, failure) => {
                    summary.events_settled += count;
                    if let Some(reason) = failure {
                        if reason == "deadline" {
                            summary.left_for_next_run = true;
                        }
                        *summary.failed.entry(reason).or_default() += 1;
                    }
                }
                Done::Skipped => summary.skipped += 1,
                Done::Merged => {}
                Done::Failed(reason) => {
                    if reason == "deadline" {
                        summary.left_for_next_run = true;
                    }
                    *summary.failed.entry(reason).or_default() += 1;
                }
            },
        }
    }
    summary.halted_by = *halted_by.lock().expect("not poisoned");

    if options.reconcile && !out_of_time() {
        let until = options
            .deadline
            .checked_sub(options.reserve)
            .unwrap_or(options.deadline);
        match calls_until(calls_end, tokens.reconcile_until(until)).await {
            Ok(pass) => {
                summary.reconciled = Some((pass.listed, pass.repaired));
                summary.reconcile_pass_done = Some(pass.done);
                if !pass.done {
                    summary.left_for_next_run = true;
                }
            }
            Err(error) => {
                tracing::error!(%error, "reconciliation failed");
                *summary
                    .failed
                    .entry(format!("reconcile {}", reason(&error)))
                    .or_default() += 1;
            }
        }
    }
    summary
}

/// What the walk of the `due` index hands the workers: an item to process, or a note for the
/// summary that passes straight through.
enum Work {
    Item(DueItem),
    Note(Step),
}

enum Step {
    /// A page of the index was read: DynamoDB read `read` items, `due` of them due.
    Page {
        read: usize,
        due: usize,
    },
    /// Reading a partition failed; the rest of it is left for the next run.
    IndexFailed,
    /// Too little time is left to read more of the index.
    OutOfTime,
    Done(Done),
}

/// The due items of the run's partitions, in order, one page read whenever the previous one
/// has been handed out.
fn due_work<'a>(
    tokens: &'a Tokens,
    options: &'a RunOptions,
    out_of_time: &'a (impl Fn() -> bool + 'a),
) -> impl futures_util::Stream<Item = Work> + 'a {
    struct Walk<'a> {
        partitions: std::slice::Iter<'a, u32>,
        /// The partition being read and where its next page starts.
        current: Option<(u32, Option<DueCursor>)>,
        items: VecDeque<DueItem>,
        stopped: bool,
    }
    let walk = Walk {
        partitions: options.partitions.iter(),
        current: None,
        items: VecDeque::new(),
        stopped: false,
    };
    futures_util::stream::unfold(walk, move |mut walk| async move {
        if let Some(item) = walk.items.pop_front() {
            return Some((Work::Item(item), walk));
        }
        if walk.stopped {
            return None;
        }
        let (partition, cursor) = match walk.current.take() {
            Some(current) => current,
            None => (*walk.partitions.next()?, None),
        };
        if out_of_time() {
            walk.stopped = true;
            return Some((Work::Note(Step::OutOfTime), walk));
        }
        let key = due_partition(&tokens.component, partition);
        let step = match tokens
            .store
            .due_items(&key, tokens.now(), options.page_size, cursor)
            .await
        {
            Ok(page) => {
                walk.current = page.next.map(|next| (partition, Some(next)));
                let step = Step::Page {
                    read: page.read,
                    due: page.items.len(),
                };
                walk.items.extend(page.items);
                step
            }
            Err(error) => {
                tracing::error!(%error, partition, "reading the due index failed");
                Step::IndexFailed
            }
        };
        Some((Work::Note(step), walk))
    })
}

async fn process(tokens: &Tokens, item: &DueItem, policy: RebindPolicy) -> Done {
    let result = match &item.kind {
        DueKind::Authorizer => tokens
            .refresh_authorizer(&item.authorizer_appid, RefreshWhen::Due)
            .await
            .map(|outcome| match outcome {
                AuthorizerRefresh::Refreshed { rotated, recovered } => {
                    Done::Refreshed { rotated, recovered }
                }
                AuthorizerRefresh::Skipped => Done::Skipped,
                AuthorizerRefresh::Withdrawn => Done::Withdrawn,
                AuthorizerRefresh::ReauthorizationRequired => Done::Reauthorization,
            }),
        DueKind::AuthorizationEvent { .. } => {
            let (settled, result) = settle_events(tokens, &item.authorizer_appid, policy).await;
            let failure = result.err().map(|error| {
                tracing::warn!(authorizer = %item.authorizer_appid, %error, "settling events failed");
                reason(&error)
            });
            return Done::Settled(settled, failure);
        }
    };
    result.unwrap_or_else(|error| {
        tracing::warn!(authorizer = %item.authorizer_appid, %error, "refresh failed");
        Done::Failed(reason(&error))
    })
}

/// Acts on the authorization pushes of one account that nobody acted on yet, one after the
/// other in WeChat's `CreateTime` order, so the account ends as the last of them says:
/// `unauthorized` withdraws it; `authorized` / `updateauthorized` complete the authorization as
/// the push would have, unless a later `unauthorized` undid it already (`superseded`: its code
/// is not exchanged) or its code expired first (`expired`: the code is not sent; the account is
/// taken from api_get_authorizer_list if WeChat lists it). An event that fails stops the
/// account's later ones until the next run, so they are never applied out of order. Returns how
/// many were settled, and the failure if one stopped it.
async fn settle_events(
    tokens: &Tokens,
    appid: &str,
    policy: RebindPolicy,
) -> (usize, Result<(), TokenError>) {
    let events = match tokens
        .store
        .authorization_events(&tokens.component, appid)
        .await
    {
        Ok(mut events) => {
            // The sort key orders by CreateTime already; kept stable for equal times.
            events.sort_by_key(|e| e.create_time);
            events
        }
        Err(error) => return (0, Err(error.into())),
    };
    let mut settled = 0;
    for (index, event) in events.iter().enumerate() {
        if !event.pending {
            continue;
        }
        let withdrawn_later = events[index + 1..].iter().any(|later| {
            later.create_time > event.create_time && later.info_type == "unauthorized"
        });
        let outcome = match settle_event(tokens, event, withdrawn_later, policy).await {
            Ok(outcome) => outcome,
            Err(error) => return (settled, Err(error)),
        };
        if let Err(error) = tokens
            .store
            .settle_event_as(&tokens.component, appid, &event.sk, outcome, tokens.now())
            .await
        {
            return (settled, Err(error.into()));
        }
        settled += 1;
    }
    (settled, Ok(()))
}

/// Acts on one event; returns the outcome to record.
async fn settle_event(
    tokens: &Tokens,
    event: &AuthorizationEvent,
    withdrawn_later: bool,
    policy: RebindPolicy,
) -> Result<&'static str, TokenError> {
    let appid = event.authorizer_appid.as_str();
    let grant = match (event.info_type.as_str(), &event.grant) {
        ("unauthorized", _) => {
            authorization::withdraw(tokens, appid, event.create_time)
                .await
                .map_err(flow_error)?;
            return Ok("applied");
        }
        (_, Some(grant)) => grant,
        _ => return Ok("applied"),
    };
    if withdrawn_later {
        tracing::info!(
            authorizer = appid,
            "authorization withdrawn later: its code is not exchanged"
        );
        return Ok("superseded");
    }
    let code = grant.authorization_code.as_str();
    let exchanged = matches!(
        tokens.store.code_state(&tokens.component, code).await?,
        Some(CodeState {
            claim: CodeClaim::Exchanged { .. },
            ..
        })
    );
    if !exchanged && grant.authorization_code_expired_time <= tokens.now() {
        recover_expired(tokens, grant, policy).await?;
        return Ok("expired");
    }
    match authorization::complete(tokens, policy, code, Origin::Push(grant)).await {
        Ok(_) => Ok("applied"),
        // A code that can no longer be exchanged will not become exchangeable.
        Err(FlowError::CodeRefused { .. }) => Ok("refused"),
        Err(error) => Err(flow_error(error)),
    }
}

/// An authorization whose code expired before anyone exchanged it: WeChat still lists the
/// account (with its current refresh token) if the authorization stands. Take it from there and
/// bind it to the merchant of the link the push names.
async fn recover_expired(
    tokens: &Tokens,
    grant: &AuthorizationGrant,
    policy: RebindPolicy,
) -> Result<(), TokenError> {
    let appid = grant.authorizer_appid.as_str();
    tracing::warn!(
        authorizer = appid,
        "authorization code expired before it was exchanged; looking the account up in api_get_authorizer_list"
    );
    if !tokens.recover_from_list(appid).await? {
        tracing::warn!(authorizer = appid, "not listed: nothing to recover");
        return Ok(());
    }
    let session = match &grant.pre_auth_code {
        Some(pre_auth_code) => {
            tokens
                .store
                .session_of_pre_auth_code(&tokens.component, pre_auth_code)
                .await?
        }
        None => None,
    };
    if let Some(session) = session {
        tokens
            .store
            .bind_merchant(
                &tokens.component,
                appid,
                &session.merchant,
                &grant.authorization_code,
                true,
                policy == RebindPolicy::TakeOver,
                tokens.now(),
            )
            .await?;
    }
    Ok(())
}

fn flow_error(error: FlowError) -> TokenError {
    match error {
        FlowError::Token(error) => error,
        FlowError::Store(error) => TokenError::Store(error),
        other => TokenError::Wechat(crate::wechat::WechatError::Decode {
            api: "authorization",
            message: other.to_string(),
        }),
    }
}

/// A short, stable label for a failure, used as a metric dimension.
pub fn reason(error: &TokenError) -> String {
    match error {
        TokenError::Wechat(e) => match (e.errcode(), e.kind()) {
            (Some(code), _) => format!("errcode {code}"),
            (None, ErrorKind::Busy) => "unreachable".into(),
            (None, ErrorKind::OutOfTime) => "deadline".into(),
            (None, _) => "bad answer".into(),
        },
        TokenError::Store(_) => "store".into(),
        TokenError::Secret(_) => "secret".into(),
        TokenError::NoTicket | TokenError::StaleTicket(_) => "no ticket".into(),
        TokenError::RefreshInProgress => "refresh in progress".into(),
        TokenError::ComponentTokenBackoff { .. } => "component token backoff".into(),
        TokenError::LeaseLost(_) => "lease lost".into(),
        TokenError::Interrupted(_) => "interrupted".into(),
        TokenError::UnknownAuthorizer(_) | TokenError::NotAuthorized { .. } => {
            "not authorized".into()
        }
    }
}

/// 45009 (quota) and 61004 (IP whitelist) stop further calls for the run.
fn halting_errcode(reason: &str) -> Option<i64> {
    match reason {
        "errcode 45009" => Some(45009),
        "errcode 61004" => Some(61004),
        _ => None,
    }
}
