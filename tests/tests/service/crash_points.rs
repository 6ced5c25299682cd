//! Crash points: for every WeChat call and every DynamoDB write of the code exchange (the
//! callback), a refresh and a withdrawal, one failure injected at that point (an error, an
//! answer that comes after the client gave up although WeChat did the work, a write that fails
//! after it was done, the process killed), then the service runs on (the `authorized` or
//! `unauthorized` push, scheduled refresher runs) and the outcome is checked against what
//! WeChat itself holds (the sandbox's state, never through the faulty path): every refresh token
//! WeChat considers current is stored, and every account stays bound to its merchant.
//!
//! docs/reliability-faults.md has the table of points, faults and outcomes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use wxopen::authorization::{self, LinkRequest, Origin, Pages, RebindPolicy};
use wxopen::store::AuthorizerStatus;
use wxopen::tokens::{PersistGate, Tokens};
use wxopen_tests::fault_proxy::{DynamoError, FaultProxy, Rule, Times};
use wxopen_tests::platform::Platform;

use super::faults::{
    dynamodb_local, frozen_platform, receiver_for, run, sandbox_clock, tokens_for,
};

/// The client's timeout on WeChat's calls in these tests ([`Platform`]'s): a late answer comes
/// after it.
const LATE: Duration = Duration::from_secs(3);
/// Past every lease and claim the service takes (60 s and 30 s) and the 5 minutes after
/// which a failed refresh is retried.
const LAPSE: Duration = Duration::from_secs(301);
/// WeChat's access tokens live 7200 s and are refreshed 20 min early.
const UNTIL_DUE: Duration = Duration::from_secs(7200 - 20 * 60 + 1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// The browser comes back to the callback; the `authorized` push comes after.
    Exchange,
    /// A scheduled refresh of an authorized, bound account.
    Refresh,
    /// The account withdraws; `unauthorized` is pushed.
    Withdrawal,
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// WeChat answers this errcode to the next `n` calls of the API (and does nothing).
    Errcode(&'static str, i64, u32),
    /// WeChat does the work of the next call, and answers after the client gave up.
    AnswerLate(&'static str),
    /// The process dies between WeChat's answer and the write that keeps it (the PersistGate).
    KilledAfterAnswer,
    /// The process dies while the call is in flight, WeChat doing the work (the future
    /// dropped as WeChat is answering late).
    KilledDuringCall(&'static str),
    /// The write (the DynamoDB request whose body holds this text) fails, every attempt.
    WriteFails(&'static str),
    /// The write is done, and its answer is an error (once: the SDK retries it).
    FailsAfterWrite(&'static str),
    /// The write is done, every attempt answers an error: the caller gives up after it.
    DiesAfterWrite(&'static str),
}

/// Text that singles out each write in its request body.
mod writes {
    pub const CLAIM: &str = "claim_session";
    pub const WRITE_AHEAD: &str = "TransactItems";
    pub const PROFILE: &str = "profile = :profile";
    pub const BIND: &str = "bound_by = :code";
    pub const SESSION_DONE: &str = "completed_by";
    pub const LEASE: &str = "lease_owner = :owner, lease_until";
    pub const REFRESHED: &str = "refresh_token = :used";
    pub const RECORD_PUSH: &str = "authorization_event";
    pub const WITHDRAWN: &str = ":since";
    pub const EVENT_SETTLED: &str = "settled_at";
}

fn points() -> Vec<(Flow, Fault)> {
    use Fault::*;
    use writes::*;
    let mut points = Vec::new();
    for fault in [
        Errcode("api_query_auth", -1, 1),
        AnswerLate("api_query_auth"),
        KilledAfterAnswer,
        KilledDuringCall("api_query_auth"),
        Errcode("api_get_authorizer_info", -1, 4),
        AnswerLate("api_get_authorizer_info"),
        KilledDuringCall("api_get_authorizer_info"),
    ] {
        points.push((Flow::Exchange, fault));
    }
    for write in [CLAIM, WRITE_AHEAD, PROFILE, BIND, SESSION_DONE] {
        for fault in [
            WriteFails(write),
            FailsAfterWrite(write),
            DiesAfterWrite(write),
        ] {
            points.push((Flow::Exchange, fault));
        }
    }
    for fault in [
        Errcode("api_authorizer_token", -1, 4),
        AnswerLate("api_authorizer_token"),
        KilledAfterAnswer,
        KilledDuringCall("api_authorizer_token"),
    ] {
        points.push((Flow::Refresh, fault));
    }
    for write in [LEASE, REFRESHED] {
        for fault in [
            WriteFails(write),
            FailsAfterWrite(write),
            DiesAfterWrite(write),
        ] {
            points.push((Flow::Refresh, fault));
        }
    }
    for write in [RECORD_PUSH, WITHDRAWN, EVENT_SETTLED] {
        for fault in [
            WriteFails(write),
            FailsAfterWrite(write),
            DiesAfterWrite(write),
        ] {
            points.push((Flow::Withdrawal, fault));
        }
    }
    points
}

/// One platform with the service reaching DynamoDB through a fault proxy.
struct Setup {
    platform: Arc<Platform>,
    proxy: FaultProxy,
    /// The service through the proxy, with the PersistGate.
    faulty: Tokens,
    /// The service as it runs on afterwards.
    tokens: Tokens,
    gate_open: Arc<AtomicBool>,
    /// Times the PersistGate stopped a write.
    gate_closed_on: Arc<AtomicUsize>,
    server: wxopen_tests::dev_server::DevServer,
}

async fn setup() -> Setup {
    let platform = frozen_platform(|config| {
        config.push_retry_delay = Duration::from_millis(50);
    })
    .await;
    let proxy = FaultProxy::start(&dynamodb_local()).await.unwrap();
    let clock = sandbox_clock(&platform);
    let gate_open = Arc::new(AtomicBool::new(true));
    let gate_closed_on = Arc::new(AtomicUsize::new(0));
    let gate: PersistGate = {
        let open = Arc::clone(&gate_open);
        let closed_on = Arc::clone(&gate_closed_on);
        Arc::new(move |_| {
            let open = open.load(Ordering::SeqCst);
            if !open {
                closed_on.fetch_add(1, Ordering::SeqCst);
            }
            open
        })
    };
    let faulty = tokens_for(
        &platform.aws,
        &platform.config,
        proxy.base_url(),
        clock.clone(),
    )
    .with_persist_gate(gate);
    let tokens = tokens_for(
        &platform.aws,
        &platform.config,
        &dynamodb_local(),
        clock.clone(),
    );
    platform.store_ticket().await;
    // The receiver reaches DynamoDB through the proxy too: its writes are points as well.
    let receiver = Arc::new(receiver_for(
        &platform.aws,
        &platform.config,
        tokens_for(&platform.aws, &platform.config, proxy.base_url(), clock),
    ));
    let server = wxopen_tests::dev_server::serve(move |request| {
        let receiver = Arc::clone(&receiver);
        async move { ticket_receiver::handle(&receiver, request).await }
    })
    .await
    .unwrap();
    Setup {
        platform,
        proxy,
        faulty,
        tokens,
        gate_open,
        gate_closed_on,
        server,
    }
}

impl Setup {
    fn event_url(&self, on: bool) {
        let url = format!("{}/wechat/component/events", self.server.base_url());
        self.platform
            .sandbox
            .set_event_url(on.then_some(url.as_str()));
    }

    fn inject(&self, fault: Fault) {
        let sandbox = &self.platform.sandbox;
        match fault {
            Fault::Errcode(api, errcode, n) => sandbox.fail_next(api, errcode, n),
            Fault::AnswerLate(api) | Fault::KilledDuringCall(api) => {
                sandbox.answer_late_next(api, LATE, 1)
            }
            Fault::KilledAfterAnswer => self.gate_open.store(false, Ordering::SeqCst),
            Fault::WriteFails(text) => self.proxy.add_rule(
                Rule::new(None, DynamoError::InternalServerError, Times::Always)
                    .when_body_contains(text),
            ),
            Fault::FailsAfterWrite(text) => self.proxy.add_rule(
                Rule::new(None, DynamoError::InternalServerError, Times::Next(1))
                    .when_body_contains(text)
                    .after_forwarding(),
            ),
            Fault::DiesAfterWrite(text) => self.proxy.add_rule(
                Rule::new(None, DynamoError::InternalServerError, Times::Always)
                    .when_body_contains(text)
                    .after_forwarding(),
            ),
        }
    }

    /// Whether the fault injected was met: the call or write was reached.
    fn fired(&self, fault: Fault) -> bool {
        match fault {
            Fault::Errcode(..) | Fault::AnswerLate(_) | Fault::KilledDuringCall(_) => {
                self.platform.sandbox.faults().is_empty()
            }
            Fault::KilledAfterAnswer => self.gate_closed_on.load(Ordering::SeqCst) > 0,
            Fault::WriteFails(_) | Fault::FailsAfterWrite(_) | Fault::DiesAfterWrite(_) => {
                self.proxy.log().iter().any(|e| e.faulted.is_some())
            }
        }
    }

    /// Clears the faults, after checking the one injected was met.
    fn check_fired(&self, fault: Fault) -> Result<(), String> {
        let fired = self.fired(fault);
        self.clear();
        if fired {
            Ok(())
        } else {
            Err("the fault was never met".into())
        }
    }

    fn clear(&self) {
        self.platform.sandbox.clear_faults();
        self.proxy.clear_rules();
        self.gate_open.store(true, Ordering::SeqCst);
    }

    /// Runs `work` as the faulty process; for [`Fault::KilledDuringCall`], the process dies
    /// once the call reached WeChat.
    async fn as_faulty<F: std::future::Future>(&self, fault: Fault, work: F) {
        let Fault::KilledDuringCall(api) = fault else {
            work.await;
            return;
        };
        let before = self.platform.sandbox.calls_to(api);
        let sandbox = &self.platform.sandbox;
        let called = async {
            while sandbox.calls_to(api) == before {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // WeChat is doing the work; the process dies before its answer.
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        tokio::select! {
            _ = work => {}
            () = called => {}
        }
    }

    /// The service runs on: time passes (leases and claims lapse), pushes come, and two
    /// scheduled runs pass.
    async fn run_on(&self) {
        for _ in 0..2 {
            self.platform.sandbox.advance(LAPSE);
            run(&self.tokens, Duration::from_secs(30), 4).await;
        }
    }

    /// Starts an authorization for `merchant` and has the administrator confirm it for
    /// `appid`; no push yet.
    async fn confirm(
        &self,
        appid: &str,
        merchant: &str,
    ) -> (String, wxopen_tests::sandbox::state::Grant) {
        let base = self.platform.sandbox.base_url().trim_end_matches('/');
        let pages = Pages {
            mp_base: base.to_owned(),
            open_base: base.to_owned(),
            public_base_url: "https://example.invalid".into(),
        };
        let request = LinkRequest {
            merchant: merchant.into(),
            auth_type: 3,
            biz_appid: None,
            mobile: false,
        };
        let link = authorization::start(&self.tokens, &pages, &request)
            .await
            .unwrap();
        let url = url::Url::parse(&link.url).unwrap();
        let pre_auth_code = url
            .query_pairs()
            .find(|(k, _)| k == "pre_auth_code")
            .unwrap()
            .1
            .into_owned();
        let grant = self
            .platform
            .sandbox
            .confirm_without_push(appid, &pre_auth_code)
            .unwrap();
        (link.session_id, grant)
    }

    /// An account authorized for `merchant` without any fault.
    async fn authorized(&self, appid: &str, merchant: &str) {
        let (session_id, grant) = self.confirm(appid, merchant).await;
        authorization::complete(
            &self.tokens,
            RebindPolicy::Refuse,
            &grant.authorization_code,
            Origin::Callback {
                session_id: &session_id,
            },
        )
        .await
        .unwrap();
    }
}

/// Runs one point; returns what went wrong, if anything.
async fn check(index: usize, flow: Flow, fault: Fault) -> Result<(), String> {
    let s = setup().await;
    let appid = s.platform.account_appids()[index % 6].clone();
    let merchant = format!("merchant-{index}");
    let sandbox = &s.platform.sandbox;
    match flow {
        Flow::Exchange => {
            let (session_id, grant) = s.confirm(&appid, &merchant).await;
            s.inject(fault);
            s.as_faulty(
                fault,
                authorization::complete(
                    &s.faulty,
                    RebindPolicy::Refuse,
                    &grant.authorization_code,
                    Origin::Callback {
                        session_id: &session_id,
                    },
                ),
            )
            .await;
            s.check_fired(fault)?;
            // WeChat's push comes (late); the service runs on.
            s.event_url(true);
            sandbox.push_grant(&grant).await.unwrap();
            s.run_on().await;
        }
        Flow::Refresh => {
            s.authorized(&appid, &merchant).await;
            sandbox.advance(UNTIL_DUE);
            s.inject(fault);
            s.as_faulty(fault, run(&s.faulty, Duration::from_secs(30), 4))
                .await;
            s.check_fired(fault)?;
            s.run_on().await;
        }
        Flow::Withdrawal => {
            s.authorized(&appid, &merchant).await;
            s.event_url(true);
            s.inject(fault);
            s.as_faulty(fault, sandbox.withdraw(&appid)).await;
            s.check_fired(fault)?;
            // Due again, the account's refresh learns of the withdrawal (61003) if the push
            // did not settle it.
            sandbox.advance(UNTIL_DUE);
            s.run_on().await;
        }
    }

    let record = s
        .tokens
        .store
        .authorizer(&s.platform.component, &appid)
        .await
        .unwrap()
        .ok_or("the account is not stored")?;
    let current = s.platform.listed_refresh_token(&appid);
    let stored = record.refresh_token.as_ref().map(|t| t.expose().to_owned());
    if current.is_some() && stored != current {
        return Err(format!(
            "the refresh token WeChat considers current is not stored (status {})",
            record.status.as_str()
        ));
    }
    let expected = if current.is_some() {
        AuthorizerStatus::Authorized
    } else {
        AuthorizerStatus::Withdrawn
    };
    if record.status != expected {
        return Err(format!("status {}", record.status.as_str()));
    }
    if record.merchant.as_deref() != Some(merchant.as_str()) {
        return Err(format!("bound to {:?}", record.merchant));
    }
    if current.is_some() && record.profile.is_none() {
        // The profile is filled in by the next refresh.
        s.tokens
            .refresh_authorizer(&appid, wxopen::store::RefreshWhen::Always)
            .await
            .map_err(|e| e.to_string())?;
        let record = s
            .tokens
            .store
            .authorizer(&s.platform.component, &appid)
            .await
            .unwrap()
            .unwrap();
        if record.profile.is_none() {
            return Err("no profile after a refresh".into());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_refresh_token_survives_a_fault_at_every_step() {
    let points = points();
    let mut failures = Vec::new();
    // A few points at a time, each on its own platform.
    for (chunk_index, chunk) in points.chunks(8).enumerate() {
        let results = join_all(chunk.iter().enumerate().map(|(i, (flow, fault))| {
            let index = chunk_index * 8 + i;
            async move { (flow, fault, check(index, *flow, *fault).await) }
        }))
        .await;
        for (flow, fault, result) in results {
            if let Err(error) = result {
                failures.push(format!("{flow:?} {fault:?}: {error}"));
            }
        }
    }
    println!(
        "crash points: {} injection points covered ({} exchange, {} refresh, {} withdrawal)",
        points.len(),
        points.iter().filter(|(f, _)| *f == Flow::Exchange).count(),
        points.iter().filter(|(f, _)| *f == Flow::Refresh).count(),
        points
            .iter()
            .filter(|(f, _)| *f == Flow::Withdrawal)
            .count(),
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A refresh that gets 61003 with the old refresh token while the account authorizes again
/// must not wipe the new refresh token: the mark is conditional on the token it was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_withdrawal_seen_with_an_old_token_does_not_wipe_a_new_authorization() {
    let s = setup().await;
    let appid = s.platform.account_appids()[0].clone();
    s.authorized(&appid, "merchant-a").await;
    s.platform.sandbox.advance(UNTIL_DUE);
    // The refresh's api_authorizer_token answers 61003 (the account withdrew) after 1.5 s
    // (within the client's 2 s timeout); once WeChat has the call, the account authorizes
    // again and the new authorization is stored.
    s.platform
        .sandbox
        .fail_next("api_authorizer_token", 61003, 1);
    s.platform
        .sandbox
        .set_latency("api_authorizer_token", Duration::from_millis(1500));
    let refresh = s
        .tokens
        .refresh_authorizer(&appid, wxopen::store::RefreshWhen::Due);
    let reauthorize = async {
        while s.platform.sandbox.calls_to("api_authorizer_token") == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        s.authorized(&appid, "merchant-a").await;
    };
    let (refreshed, ()) = tokio::join!(refresh, reauthorize);
    assert!(
        matches!(refreshed, Err(wxopen::tokens::TokenError::LeaseLost(_))),
        "{refreshed:?}"
    );
    let record = s
        .tokens
        .store
        .authorizer(&s.platform.component, &appid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, AuthorizerStatus::Authorized);
    assert_eq!(
        record.refresh_token.map(|t| t.expose().to_owned()),
        s.platform.listed_refresh_token(&appid)
    );
    assert_eq!(record.merchant.as_deref(), Some("merchant-a"));
}
