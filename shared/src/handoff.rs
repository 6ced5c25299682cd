//! Handing authorized accounts' messages, and the pushes this service does not keep to itself,
//! on to the platform's other services: an SQS queue or an EventBridge bus, as the deployment
//! chooses. A message or push is answered `success` only once it is handed on, so when the
//! target fails WeChat retries and nothing is lost.

use serde::Serialize;
use sha1::{Digest, Sha1};

use crate::config::MessageTarget;
use crate::message::HandedMessage;
use crate::push::ComponentPush;

/// The EventBridge `source` of every handed-on message.
pub const EVENT_SOURCE: &str = "wxopen.authorizer-message";

/// The EventBridge `source` of every handed-on push to the authorization event URL.
pub const PUSH_EVENT_SOURCE: &str = "wxopen.component-push";

/// Something handed on: its JSON body, and what SQS and EventBridge file it under.
pub trait Handable: Serialize {
    /// The FIFO queue's message group: one account's messages stay in order.
    fn group(&self) -> &str;
    /// Consumers drop what they have seen: WeChat retries what it did not see answered.
    fn dedup_id(&self) -> &str;
    /// The EventBridge `source`.
    fn source(&self) -> &'static str;
    /// The EventBridge `detail-type`.
    fn detail_type(&self) -> String;
    /// SQS message attributes consumers can filter on.
    fn attributes(&self) -> Vec<(&'static str, &str)>;
}

impl Handable for HandedMessage<'_> {
    fn group(&self) -> &str {
        self.authorizer_appid
    }

    fn dedup_id(&self) -> &str {
        &self.dedup_id
    }

    fn source(&self) -> &'static str {
        EVENT_SOURCE
    }

    fn detail_type(&self) -> String {
        HandedMessage::detail_type(self)
    }

    fn attributes(&self) -> Vec<(&'static str, &str)> {
        let mut attributes = vec![
            ("authorizer_appid", self.authorizer_appid),
            ("msg_type", self.msg_type),
        ];
        if let Some(event) = self.event {
            attributes.push(("event", event));
        }
        attributes
    }
}

/// What the platform's services receive for a push to the authorization event URL that this
/// service does not keep to itself (a fast registration's result, InfoTypes it does not act
/// on), without credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandedPush<'a> {
    /// The platform the push was addressed to.
    pub component_appid: &'a str,
    /// `InfoType`, also the EventBridge `detail-type`.
    pub info_type: &'a str,
    /// `CreateTime`, Unix seconds.
    pub create_time: i64,
    /// The account the push concerns, when it names one (a fast registration's new mini
    /// program once it is created).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_appid: Option<&'a str>,
    /// The same push handed on twice (WeChat retries) has the same id.
    pub dedup_id: String,
    /// Every field of the push but its credentials.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl<'a> HandedPush<'a> {
    /// What is handed on for `push`, if it is handed on at all.
    pub fn of(push: &'a ComponentPush) -> Option<Self> {
        let fields = push.info.handed_on_fields()?;
        let info_type = push.info.info_type();
        Some(Self {
            component_appid: &push.app_id,
            info_type,
            create_time: push.create_time,
            authorizer_appid: push.info.grant().map(|g| g.authorizer_appid.as_str()),
            dedup_id: format!(
                "{}#{info_type}#{}#{}",
                push.app_id,
                push.create_time,
                fields.digest()
            ),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
                .collect(),
        })
    }
}

impl Handable for HandedPush<'_> {
    fn group(&self) -> &str {
        self.authorizer_appid.unwrap_or(self.component_appid)
    }

    fn dedup_id(&self) -> &str {
        &self.dedup_id
    }

    fn source(&self) -> &'static str {
        PUSH_EVENT_SOURCE
    }

    fn detail_type(&self) -> String {
        self.info_type.to_owned()
    }

    fn attributes(&self) -> Vec<(&'static str, &str)> {
        let mut attributes = vec![("info_type", self.info_type)];
        if let Some(appid) = self.authorizer_appid {
            attributes.push(("authorizer_appid", appid));
        }
        attributes
    }
}

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

    /// Hands one message or push on; only `Ok` may be answered `success`.
    pub async fn hand_on(&self, message: &impl Handable) -> Result<Handed, HandoffError> {
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
                    .message_body(serde_json::to_string(message)?);
                for (name, value) in message.attributes() {
                    send = send.message_attributes(name, attribute(value));
                }
                // A FIFO queue drops WeChat's retries itself (ids must be short: hash them).
                if queue_url.ends_with(".fifo") {
                    send = send
                        .message_group_id(message.group())
                        .message_deduplication_id(hex::encode(Sha1::digest(message.dedup_id())));
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
                    .source(message.source())
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
