//! One run of the scheduled refresher: the component token, then whatever the `due` index says
//! is due, with bounded concurrency, within the invocation's deadline.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use crate::authorization::{self, FlowError, Origin, RebindPolicy};
use crate::push::AuthorizationGrant;
use crate::store::{DUE_SHARDS, DueCursor, DueItem, DueKind, RefreshWhen, due_partition};
use crate::tokens::{AuthorizerRefresh, TokenError, Tokens};
use crate::wechat::ErrorKind;

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
    /// Work still in flight this long before the deadline is cut (its lease lapses and it is due
    /// again), so the run reports instead of being killed: one account's retried calls to a
    /// WeChat that hangs can take longer than the reserve.
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

    /// Every partition, the defaults, and `deadline`.
    pub fn new(deadline: Instant) -> Self {
        Self {
            partitions: (0..DUE_SHARDS).collect(),
            concurrency: Self::DEFAULT_CONCURRENCY,
            reserve: Duration::from_secs(10),
            finish: Duration::from_secs(2),
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
    /// (listed, repaired) when the run reconciled.
    pub reconciled: Option<(usize, usize)>,
}

enum Done {
    Refreshed { rotated: bool, recovered: bool },
    Withdrawn,
    Reauthorization,
    Settled,
    Skipped,
    Failed(String),
}

/// Runs one refresh pass.
pub async fn run(tokens: &Tokens, options: &RunOptions) -> Summary {
    let mut summary = Summary::default();
    let cutoff = tokio::time::Instant::from_std(
        options
            .deadline
            .checked_sub(options.finish)
            .unwrap_or(options.deadline),
    );
    match tokio::time::timeout_at(cutoff, tokens.component_access_token()).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::error!(%error, "no component token: authorizers cannot be refreshed this run");
            *summary.failed.entry(reason(&error)).or_default() += 1;
            return summary;
        }
        Err(_) => {
            tracing::error!("no component token before the deadline");
            *summary.failed.entry("deadline".into()).or_default() += 1;
            summary.left_for_next_run = true;
            return summary;
        }
    }
    summary.component_token_ok = true;

    let halted = AtomicBool::new(false);
    let halted_by = Mutex::new(None);
    let out_of_time = || Instant::now() + options.reserve >= options.deadline;

    // The index is read as the work drains rather than page by page after each page is done,
    // so `concurrency` refreshes stay in flight across page and partition boundaries.
    let steps = due_work(tokens, options, &out_of_time)
        .map(|work| {
            let (halted, halted_by, out_of_time) = (&halted, &halted_by, &out_of_time);
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
                let done = tokio::time::timeout_at(cutoff, process(tokens, &item, options.rebind))
                    .await
                    .unwrap_or_else(|_| {
                        tracing::warn!(authorizer = %item.authorizer_appid, "cut off at the deadline");
                        Done::Failed("deadline".into())
                    });
                if let Done::Failed(reason) = &done
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
                Done::Settled => summary.events_settled += 1,
                Done::Skipped => summary.skipped += 1,
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
        match tokens.reconcile().await {
            Ok(counts) => summary.reconciled = Some(counts),
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
        event @ DueKind::AuthorizationEvent { .. } => {
            settle_event(tokens, item, policy, event).await
        }
    };
    result.unwrap_or_else(|error| {
        tracing::warn!(authorizer = %item.authorizer_appid, %error, "refresh failed");
        Done::Failed(reason(&error))
    })
}

/// Acts on an authorization push nobody else acted on: `unauthorized` withdraws the account,
/// `authorized` / `updateauthorized` complete the authorization as the push would have.
async fn settle_event(
    tokens: &Tokens,
    item: &DueItem,
    policy: RebindPolicy,
    event: &DueKind,
) -> Result<Done, TokenError> {
    let DueKind::AuthorizationEvent {
        info_type,
        create_time,
        authorization_code,
        authorization_code_expired_time,
        pre_auth_code,
    } = event
    else {
        return Ok(Done::Skipped);
    };
    let flow_error = |error: FlowError| match error {
        FlowError::Token(error) => error,
        FlowError::Store(error) => TokenError::Store(error),
        other => TokenError::Wechat(crate::wechat::WechatError::Decode {
            api: "authorization",
            message: other.to_string(),
        }),
    };
    match (info_type.as_str(), authorization_code) {
        ("unauthorized", _) => {
            authorization::withdraw(tokens, &item.authorizer_appid, *create_time)
                .await
                .map_err(flow_error)?;
        }
        (_, Some(code)) => {
            let grant = AuthorizationGrant {
                authorizer_appid: item.authorizer_appid.clone(),
                authorization_code: code.expose().to_owned(),
                authorization_code_expired_time: *authorization_code_expired_time,
                pre_auth_code: pre_auth_code.as_ref().map(|c| c.expose().to_owned()),
            };
            match authorization::complete(tokens, policy, code.expose(), Origin::Push(&grant)).await
            {
                // A code that can no longer be exchanged will not become exchangeable.
                Ok(_) | Err(FlowError::CodeRefused { .. }) => {}
                Err(error) => return Err(flow_error(error)),
            }
        }
        _ => {}
    }
    tokens
        .store
        .settle_event(&item.pk, &item.sk, tokens.now())
        .await?;
    Ok(Done::Settled)
}

/// A short, stable label for a failure, used as a metric dimension.
pub fn reason(error: &TokenError) -> String {
    match error {
        TokenError::Wechat(e) => match (e.errcode(), e.kind()) {
            (Some(code), _) => format!("errcode {code}"),
            (None, ErrorKind::Busy) => "unreachable".into(),
            (None, _) => "bad answer".into(),
        },
        TokenError::Store(_) => "store".into(),
        TokenError::Secret(_) => "secret".into(),
        TokenError::NoTicket | TokenError::StaleTicket(_) => "no ticket".into(),
        TokenError::RefreshInProgress => "refresh in progress".into(),
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
