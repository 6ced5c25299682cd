//! Handing authorized accounts' messages on to the platform's other services: an SQS queue or an
//! EventBridge bus, as the deployment chooses. A message is answered `success` only once it is
//! handed on, so when the target fails WeChat retries and nothing is lost.

use sha1::{Digest, Sha1};

use crate::config::MessageTarget;
use crate::message::HandedMessage;

/// The EventBridge `source` of every handed-on message.
pub const EVENT_SOURCE: &str = "wxopen.authorizer-message";

/// Where messages go; built once per container.
#[derive(Debug, Clone)]
pub enum Handoff {
    /// An SQS queue (`MESSAGE_QUEUE_URL`).
    Queue {
        /// The SQS client.
        client: aws_sdk_sqs::Client,
        /// The queue.
        queue_url: String,
    },
    /// An EventBridge bus (`MESSAGE_EVENT_BUS`).
    EventBus {
        /// The EventBridge client.
        client: aws_sdk_eventbridge::Client,
        /// The bus's name or ARN.
        bus: String,
    },
    /// No target configured: messages are acknowledged and dropped (logged by type only).
    Discard,
}

/// Where one message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handed {
    /// Sent to the queue, under SQS's message id.
    Queued {
        /// SQS's id of the message.
        message_id: String,
    },
    /// Put on the bus, under EventBridge's event id.
    Published {
        /// EventBridge's id of the event.
        event_id: String,
    },
    /// No target is configured: dropped.
    Discarded,
}

/// Why a message could not be handed on (WeChat will retry it).
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// SQS refused it.
    #[error("the message queue refused the message: {0}")]
    Queue(String),
    /// EventBridge refused it.
    #[error("the event bus refused the message: {0}")]
    EventBus(String),
    /// It could not be written as JSON.
    #[error("the message could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

impl Handoff {
    /// The handoff for the configured target (none: discard).
    pub fn new(target: Option<&MessageTarget>, aws: &aws_config::SdkConfig) -> Self {
        match target {
            Some(MessageTarget::Queue(url)) => Self::Queue {
                client: aws_sdk_sqs::Client::new(aws),
                queue_url: url.clone(),
            },
            Some(MessageTarget::EventBus(bus)) => Self::EventBus {
                client: aws_sdk_eventbridge::Client::new(aws),
                bus: bus.clone(),
            },
            None => Self::Discard,
        }
    }

    /// Hands one message on; only `Ok` may be answered `success`.
    pub async fn hand_on(&self, message: &HandedMessage<'_>) -> Result<Handed, HandoffError> {
        match self {
            Self::Queue { client, queue_url } => {
                let attribute = |value: &str| {
                    aws_sdk_sqs::types::MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(value)
                        .build()
                        .expect("data type is set")
                };
                let mut send = client
                    .send_message()
                    .queue_url(queue_url)
                    .message_body(serde_json::to_string(message)?)
                    .message_attributes("authorizer_appid", attribute(message.authorizer_appid))
                    .message_attributes("msg_type", attribute(message.msg_type));
                if let Some(event) = message.event {
                    send = send.message_attributes("event", attribute(event));
                }
                // A FIFO queue drops WeChat's retries itself (ids must be short: hash them).
                if queue_url.ends_with(".fifo") {
                    send = send
                        .message_group_id(message.authorizer_appid)
                        .message_deduplication_id(hex::encode(Sha1::digest(&message.dedup_id)));
                }
                let sent = send.send().await.map_err(|e| {
                    HandoffError::Queue(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                })?;
                Ok(Handed::Queued {
                    message_id: sent.message_id.unwrap_or_default(),
                })
            }
            Self::EventBus { client, bus } => {
                let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(EVENT_SOURCE)
                    .detail_type(message.detail_type())
                    .detail(serde_json::to_string(message)?)
                    .build();
                let put = client
                    .put_events()
                    .entries(entry)
                    .send()
                    .await
                    .map_err(|e| {
                        HandoffError::EventBus(
                            aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string(),
                        )
                    })?;
                // PutEvents answers 200 and reports refused entries inside.
                let entry = put.entries.unwrap_or_default().into_iter().next();
                match entry {
                    Some(e) if e.error_code.is_none() && e.event_id.is_some() => {
                        Ok(Handed::Published {
                            event_id: e.event_id.unwrap_or_default(),
                        })
                    }
                    Some(e) => Err(HandoffError::EventBus(format!(
                        "{}: {}",
                        e.error_code.unwrap_or_default(),
                        e.error_message.unwrap_or_default()
                    ))),
                    None => Err(HandoffError::EventBus("no entry result".into())),
                }
            }
            Self::Discard => Ok(Handed::Discarded),
        }
    }
}
