//! WeChat's release check (全网发布, docs/protocol.md#the-release-check): the test accounts and what it expects of each
//! message it sends to the message URL.

use crate::message::AuthorizerMessage;

/// A test account of the release check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestAccount {
    /// The group (1 to 5) the account belongs to.
    pub group: u8,
    /// The account's appid.
    pub appid: &'static str,
    /// Its original id, the `ToUserName` of its messages.
    pub user_name: &'static str,
    /// Whether it is a mini program (else an official account).
    pub mini_program: bool,
}

const fn account(
    group: u8,
    appid: &'static str,
    user_name: &'static str,
    mini_program: bool,
) -> TestAccount {
    TestAccount {
        group,
        appid,
        user_name,
        mini_program,
    }
}

/// All five groups: WeChat picks one at random for each check (all in use since 2021-01-18).
pub const TEST_ACCOUNTS: [TestAccount; 10] = [
    account(1, "wx570bc396a51b8ff8", "gh_3c884a361561", false),
    account(1, "wxd101a85aa106f53e", "gh_8dad206e9538", true),
    account(2, "wx9252c5e0bb1836fc", "gh_c0f28a78b318", false),
    account(2, "wxc39235c15087f6f3", "gh_905ae9d01059", true),
    account(3, "wx8e1097c5bc82cde9", "gh_3f222ed8d140", false),
    account(3, "wx7720d01d4b2a4500", "gh_393666f1fdf4", true),
    account(4, "wx14550af28c71a144", "gh_26128078e9ab", false),
    account(4, "wx05d483572dcd5d8b", "gh_39abb5d4e1b7", true),
    account(5, "wxa35b9c23cfe664eb", "gh_2b3713f184a6", false),
    account(5, "wx5910277cae6fd970", "gh_7818dcb60240", true),
];

/// The text the check sends.
pub const TEXT_MESSAGE: &str = "TESTCOMPONENT_MSG_TYPE_TEXT";
/// The reply it expects to that text.
pub const TEXT_REPLY: &str = "TESTCOMPONENT_MSG_TYPE_TEXT_callback";
/// `QUERY_AUTH_CODE:$code$`: exchange the code, then send `$code$_from_api`.
pub const QUERY_AUTH_CODE_PREFIX: &str = "QUERY_AUTH_CODE:";
/// What follows the code in the customer-service message the platform sends.
pub const FROM_API_SUFFIX: &str = "_from_api";
/// An event's reply is its name followed by this.
pub const EVENT_REPLY_SUFFIX: &str = "from_callback";

/// The test account with this appid.
pub fn test_account(appid: &str) -> Option<&'static TestAccount> {
    TEST_ACCOUNTS.iter().find(|a| a.appid == appid)
}

/// What the check expects in answer to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Case<'a> {
    /// Reply with this text.
    Reply(String),
    /// Reply empty, exchange the code and send `{code}_from_api` through the customer-service API.
    QueryAuthCode(&'a str),
}

impl<'a> Case<'a> {
    /// The case a test account's message is, or `None` when it is an ordinary message.
    pub fn of(message: &'a AuthorizerMessage) -> Option<Self> {
        match (message.msg_type.as_str(), &message.content, &message.event) {
            ("text", Some(text), _) if text == TEXT_MESSAGE => Some(Self::Reply(TEXT_REPLY.into())),
            ("text", Some(text), _) => text
                .strip_prefix(QUERY_AUTH_CODE_PREFIX)
                .filter(|code| !code.is_empty())
                .map(Self::QueryAuthCode),
            ("event", _, Some(event)) => Some(Self::Reply(format!("{event}{EVENT_REPLY_SUFFIX}"))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(msg_type: &str, content: Option<&str>, event: Option<&str>) -> AuthorizerMessage {
        let mut xml = format!(
            "<xml><ToUserName>gh_3c884a361561</ToUserName><FromUserName>o1</FromUserName>\
             <CreateTime>1</CreateTime><MsgType>{msg_type}</MsgType>"
        );
        if let Some(c) = content {
            xml += &format!("<Content>{c}</Content>");
        }
        if let Some(e) = event {
            xml += &format!("<Event>{e}</Event>");
        }
        AuthorizerMessage::parse(&(xml + "</xml>")).unwrap()
    }

    #[test]
    fn every_case_of_the_check_is_recognised() {
        let text = message("text", Some(TEXT_MESSAGE), None);
        assert_eq!(Case::of(&text), Some(Case::Reply(TEXT_REPLY.into())));
        let query = message("text", Some("QUERY_AUTH_CODE:queryauthcode@@@abc"), None);
        assert_eq!(
            Case::of(&query),
            Some(Case::QueryAuthCode("queryauthcode@@@abc"))
        );
        let event = message("event", None, Some("LOCATION"));
        assert_eq!(
            Case::of(&event),
            Some(Case::Reply("LOCATIONfrom_callback".into()))
        );
        assert_eq!(Case::of(&message("text", Some("hello"), None)), None);
        assert_eq!(
            Case::of(&message("text", Some("QUERY_AUTH_CODE:"), None)),
            None
        );
        assert_eq!(Case::of(&message("image", None, None)), None);
    }

    #[test]
    fn the_five_groups_each_have_an_account_of_each_kind() {
        for group in 1..=5 {
            let members: Vec<_> = TEST_ACCOUNTS.iter().filter(|a| a.group == group).collect();
            assert_eq!(members.len(), 2);
            assert!(members.iter().any(|a| a.mini_program));
            assert!(members.iter().any(|a| !a.mini_program));
        }
        assert_eq!(
            test_account("wxa35b9c23cfe664eb").map(|a| a.user_name),
            Some("gh_2b3713f184a6")
        );
        assert_eq!(test_account("wx0000000000000000"), None);
    }
}
