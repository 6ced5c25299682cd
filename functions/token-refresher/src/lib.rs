//! The scheduled refresher's handler: one refresh run, a summary, metrics.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Error, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;
use wxopen::Config;
use wxopen::authorization::RebindPolicy;
use wxopen::metrics::MetricDocument;
use wxopen::refresh::{RunOptions, Summary, run};
use wxopen::store::DUE_SHARDS;
use wxopen::tokens::Tokens;

/// What the handler needs, built once per container.
#[derive(Debug)]
pub struct Refresher {
    pub tokens: Tokens,
    pub concurrency: usize,
    pub rebind: RebindPolicy,
}

impl Refresher {
    pub fn new(config: &Config, aws: &aws_config::SdkConfig) -> Self {
        // A run asks for the component token once per account; within a minute the copy in
        // memory does, instead of a DynamoDB read each time.
        let tokens = Tokens::from_config(config, aws).caching_component_token();
        Self {
            tokens,
            concurrency: config.refresh_concurrency,
            rebind: config.rebind,
        }
    }
}

/// The schedule's input (all optional): `{"partitions": [0, 1, ...], "reconcile": true,
/// "concurrency": 32}`. EventBridge's own "Scheduled Event" (a rule without an input) asks for a
/// default run; anything else that is not exactly this shape is refused, so that a mistyped
/// manual run (`"partition"`, `"reconcile": "yes"`) fails loudly instead of doing something else.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[serde(default)]
    pub partitions: Option<Vec<u32>>,
    #[serde(default)]
    pub reconcile: bool,
    #[serde(default)]
    pub concurrency: Option<usize>,
}

/// Why a run did not start. Returned to the invoker as the function's error.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(
        "the event is not a refresh request ({0}); expected {{\"partitions\": [0, 1], \"reconcile\": true, \"concurrency\": 32}}, every field optional"
    )]
    MalformedRequest(#[source] serde_json::Error),
    #[error("partition {partition} does not exist (0..{DUE_SHARDS})")]
    NoSuchPartition { partition: u32 },
    #[error("concurrency must be at least 1")]
    NoConcurrency,
}

impl RefreshRequest {
    /// Reads the invocation's payload: a refresh request, or EventBridge's plain scheduled event.
    pub fn from_event(payload: Value) -> Result<Self, RefreshError> {
        let scheduled = payload.get("detail-type").and_then(Value::as_str)
            == Some("Scheduled Event")
            && payload.get("source").and_then(Value::as_str) == Some("aws.events");
        if scheduled {
            return Ok(Self::default());
        }
        serde_json::from_value(payload).map_err(RefreshError::MalformedRequest)
    }
}

pub async fn handle(refresher: &Refresher, event: LambdaEvent<Value>) -> Result<Summary, Error> {
    let deadline = instant_of(event.context.deadline);
    let request = RefreshRequest::from_event(event.payload).inspect_err(|error| {
        tracing::error!(%error, "refresh request refused");
    })?;
    Ok(refresh(refresher, &request, deadline).await?)
}

/// Runs once until `deadline`, logs the summary and emits its metrics.
pub async fn refresh(
    refresher: &Refresher,
    request: &RefreshRequest,
    deadline: Instant,
) -> Result<Summary, RefreshError> {
    let mut options = RunOptions::new(deadline);
    options.concurrency = request.concurrency.unwrap_or(refresher.concurrency);
    if options.concurrency == 0 {
        return Err(RefreshError::NoConcurrency);
    }
    // No WeChat call starts later than one client timeout and a write before the deadline.
    options.finish = refresher.tokens.wechat.timeout() + Duration::from_secs(2);
    options.reconcile = request.reconcile;
    options.rebind = refresher.rebind;
    if let Some(partitions) = &request.partitions {
        if let Some(&partition) = partitions.iter().find(|p| **p >= DUE_SHARDS) {
            return Err(RefreshError::NoSuchPartition { partition });
        }
        options.partitions = partitions.clone();
    }
    // Boxed: the run's future is deeply nested and would otherwise overflow type layout.
    let summary = Box::pin(run(&refresher.tokens, &options)).await;
    tracing::info!(summary = %serde_json::to_string(&summary).unwrap_or_default(), "refresh run done");
    emit_metrics(refresher, &summary).await;
    Ok(summary)
}

async fn emit_metrics(refresher: &Refresher, summary: &Summary) {
    let tokens = &refresher.tokens;
    let now = wxopen::unix_now();
    let mut doc = MetricDocument::new()
        .dimension("Component", &tokens.component)
        .value("Due", summary.due as f64, "Count")
        .value("Refreshed", summary.refreshed as f64, "Count")
        .value(
            "Failed",
            summary.failed.values().sum::<usize>() as f64,
            "Count",
        )
        .value("ItemsRead", summary.items_read as f64, "Count")
        .value(
            "ReauthorizationRequired",
            summary.reauthorization_required as f64,
            "Count",
        )
        // 1 while WeChat cannot refresh the component token and the stored one is used.
        .value(
            "ComponentTokenDegraded",
            f64::from(u8::from(summary.component_token_degraded)),
            "Count",
        );
    if let Ok(Some(ticket)) = tokens.store.ticket(&tokens.component).await {
        doc = doc.value("TicketAge", (now - ticket.create_time) as f64, "Seconds");
    }
    if let Ok(Some(token)) = tokens.store.component_token(&tokens.component).await {
        doc = doc.value(
            "ComponentTokenAge",
            (now - token.issued_at) as f64,
            "Seconds",
        );
    }
    doc.emit();
    for (reason, count) in &summary.failed {
        MetricDocument::new()
            .dimension("Component", &tokens.component)
            .dimension("Reason", reason)
            .value("FailedByReason", *count as f64, "Count")
            .emit();
    }
}

/// The Lambda deadline (milliseconds since the epoch) as an `Instant`.
fn instant_of(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_inputs_and_plain_scheduled_events_are_understood() {
        let scheduled = serde_json::json!({
            "version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-25T12:00:00Z", "region": "ap-east-1",
            "resources": [], "detail": {}
        });
        let request = RefreshRequest::from_event(scheduled).unwrap();
        assert_eq!(
            (request.partitions, request.reconcile, request.concurrency),
            (None, false, None)
        );

        let input = serde_json::json!({"partitions": [4, 5], "reconcile": true, "concurrency": 32});
        let request = RefreshRequest::from_event(input).unwrap();
        assert_eq!(request.partitions, Some(vec![4, 5]));
        assert!(request.reconcile);
        assert_eq!(request.concurrency, Some(32));
        let empty = RefreshRequest::from_event(serde_json::json!({})).unwrap();
        assert_eq!((empty.partitions, empty.reconcile), (None, false));
    }

    #[test]
    fn malformed_requests_are_refused_not_defaulted() {
        for bad in [
            serde_json::json!({"partition": [1]}),
            serde_json::json!({"reconcile": "yes"}),
            serde_json::json!({"partitions": "all"}),
            serde_json::json!({"partitions": [-1]}),
            serde_json::json!([1, 2]),
            serde_json::json!("reconcile"),
            serde_json::json!({"detail-type": "Scheduled Event", "source": "someone.else"}),
        ] {
            let error = RefreshRequest::from_event(bad.clone()).unwrap_err();
            assert!(
                matches!(error, RefreshError::MalformedRequest(_)),
                "{bad}: {error}"
            );
            assert!(
                error
                    .to_string()
                    .starts_with("the event is not a refresh request (")
            );
        }
    }
}
