//! Messages and events of authorized accounts, pushed to the message URL (消息与事件接收URL),
//! and the passive replies WeChat accepts in answer.

use serde::Serialize;

use crate::push::PushError;
use crate::xml::{self, Fields};

/// A decrypted message or event sent to one authorized account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerMessage {
    /// The account's original id (`gh_...`).
    pub to_user_name: String,
    /// The user's openid.
    pub from_user_name: String,
    /// Unix seconds.
    pub create_time: i64,
    /// `text`, `image`, `event`, ...
    pub msg_type: String,
    /// Set for `MsgType=event`.
    pub event: Option<String>,
    /// Set for `MsgType=text`.
    pub content: Option<String>,
    /// Set for messages (not events); WeChat's own key for spotting a retried push.
    pub msg_id: Option<String>,
    /// Every field, as WeChat sent them, for whoever acts on the message.
    pub fields: Fields,
}

impl AuthorizerMessage {
    /// Reads a decrypted message; refuses XML with markup declarations.
    pub fn parse(xml: &str) -> Result<Self, PushError> {
        let fields = xml::parse(xml)?;
        let optional = |name: &str| {
            fields
                .get(name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let required = |name: &'static str| optional(name).ok_or(PushError::MissingField(name));
        let create_time = required("CreateTime")?
            .parse()
            .map_err(|_| PushError::BadTime {
                field: "CreateTime",
            })?;
        let message = Self {
            to_user_name: required("ToUserName")?,
            from_user_name: required("FromUserName")?,
            create_time,
            msg_type: required("MsgType")?,
            event: optional("Event"),
            content: optional("Content"),
            msg_id: optional("MsgId"),
            fields: Fields::default(),
        };
        // Every field, moved rather than copied, once the named ones are read.
        Ok(Self { fields, ..message })
    }

    /// The same for every delivery of one message, different for different messages: `MsgId`
    /// for messages; for events (which have none) the sender, time and event, as WeChat advises.
    pub fn dedup_id(&self) -> String {
        match &self.msg_id {
            Some(id) => format!("{}#{id}", self.to_user_name),
            None => format!(
                "{}#{}#{}#{}",
                self.to_user_name,
                self.from_user_name,
                self.create_time,
                self.event.as_deref().unwrap_or(&self.msg_type)
            ),
        }
    }
}

/// A passive text reply, before it is encrypted: to the user who wrote, from the account.
pub fn text_reply(message: &AuthorizerMessage, content: &str, now: i64) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
         <CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content>{}</Content></xml>",
        cdata(&message.from_user_name),
        cdata(&message.to_user_name),
        cdata(content)
    )
}

/// A CDATA section holding any text: `]]>` is split across two sections.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// What the platform's other services receive for each message they act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandedMessage<'a> {
    /// The platform that received it.
    pub component_appid: &'a str,
    /// The account it was sent to (from the message URL's path).
    pub authorizer_appid: &'a str,
    /// `ToUserName`: the account's original id (`gh_...`).
    pub to_user_name: &'a str,
    /// `FromUserName`: the user's openid.
    pub from_user_name: &'a str,
    /// `CreateTime`, Unix seconds.
    pub create_time: i64,
    /// `MsgType`: `text`, `image`, `event`, ...
    pub msg_type: &'a str,
    /// `Event`, for events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<&'a str>,
    /// `MsgId`, for messages that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<&'a str>,
    /// Consumers drop a message whose id they have seen: WeChat retries what it did not see
    /// answered, so a message can be handed on more than once.
    pub dedup_id: String,
    /// Every field of the decrypted message.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl<'a> HandedMessage<'a> {
    /// What is handed on for `message`, received at `authorizer_appid`'s message URL.
    pub fn new(
        component_appid: &'a str,
        authorizer_appid: &'a str,
        message: &'a AuthorizerMessage,
    ) -> Self {
        Self {
            component_appid,
            authorizer_appid,
            to_user_name: &message.to_user_name,
            from_user_name: &message.from_user_name,
            create_time: message.create_time,
            msg_type: &message.msg_type,
            event: message.event.as_deref(),
            msg_id: message.msg_id.as_deref(),
            dedup_id: message.dedup_id(),
            fields: message
                .fields
                .iter()
                .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
                .collect(),
        }
    }

    /// The EventBridge `detail-type`: `text`, `event.subscribe`, ...
    pub fn detail_type(&self) -> String {
        match self.event {
            Some(event) => format!("{}.{event}", self.msg_type),
            None => self.msg_type.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "<xml><ToUserName><![CDATA[gh_3c884a361561]]></ToUserName>\
        <FromUserName><![CDATA[ozy4qt5QUADNXORxCVipKMV9dss0]]></FromUserName>\
        <CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>\
        <Content><![CDATA[hello]]></Content><MsgId>24000000000000001</MsgId></xml>";

    #[test]
    fn a_text_message_is_read_whole() {
        let message = AuthorizerMessage::parse(TEXT).unwrap();
        assert_eq!(message.to_user_name, "gh_3c884a361561");
        assert_eq!(message.from_user_name, "ozy4qt5QUADNXORxCVipKMV9dss0");
        assert_eq!(message.create_time, 1_700_000_000);
        assert_eq!(message.msg_type, "text");
        assert_eq!(message.content.as_deref(), Some("hello"));
        assert_eq!(message.event, None);
        assert_eq!(message.dedup_id(), "gh_3c884a361561#24000000000000001");
    }

    #[test]
    fn an_event_is_keyed_by_sender_time_and_event() {
        let xml = "<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName>\
            <CreateTime>5</CreateTime><MsgType>event</MsgType><Event>LOCATION</Event>\
            <Latitude>23.1</Latitude></xml>";
        let message = AuthorizerMessage::parse(xml).unwrap();
        assert_eq!(message.dedup_id(), "gh_1#o1#5#LOCATION");
        let handed = HandedMessage::new("wxc", "wxa", &message);
        assert_eq!(handed.detail_type(), "event.LOCATION");
        assert_eq!(handed.fields["Latitude"], "23.1");
    }

    #[test]
    fn missing_fields_are_named() {
        let xml = "<xml><ToUserName>gh_1</ToUserName><CreateTime>5</CreateTime>\
            <MsgType>text</MsgType></xml>";
        assert_eq!(
            AuthorizerMessage::parse(xml).unwrap_err(),
            PushError::MissingField("FromUserName")
        );
        let xml = "<xml><ToUserName>gh_1</ToUserName><FromUserName>o</FromUserName>\
            <CreateTime>soon</CreateTime><MsgType>text</MsgType></xml>";
        assert_eq!(
            AuthorizerMessage::parse(xml).unwrap_err(),
            PushError::BadTime {
                field: "CreateTime"
            }
        );
    }

    #[test]
    fn replies_swap_the_parties_and_survive_any_content() {
        let message = AuthorizerMessage::parse(TEXT).unwrap();
        let reply = text_reply(&message, "a]]>b", 42);
        let fields = xml::parse(&reply).unwrap();
        assert_eq!(
            fields.get("ToUserName"),
            Some("ozy4qt5QUADNXORxCVipKMV9dss0")
        );
        assert_eq!(fields.get("FromUserName"), Some("gh_3c884a361561"));
        assert_eq!(fields.get("CreateTime"), Some("42"));
        assert_eq!(fields.get("MsgType"), Some("text"));
        assert_eq!(fields.get("Content"), Some("a]]>b"));
    }
}
