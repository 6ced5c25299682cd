//! Bad input across the HTTP functions, as one table: every row is a request over HTTP to the
//! service (tests/src/service.rs), the exact answer it must get, and what may change: nothing
//! in DynamoDB (every item of the test's component, compared whole) and nothing at WeChat (the
//! sandbox's call counters and pushes), except where the row says otherwise.
//!
//! The table is also docs/bad-inputs.md; `UPDATE_DOCS=1 cargo test -p wxopen-tests --test
//! bad_inputs` rewrites its generated part after a row is added or changed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE};
use reqwest::{Method, StatusCode};
use wxopen::authorization::LinkError;
use wxopen::links::LinkRefusal;
use wxopen::store::PreAuthSession;
use wxopen_tests::dev_server::{self, DevServer};
use wxopen_tests::service::Service;
use wxopen_tests::*;

/// An appid that is not the test's platform.
const OTHER_APPID: &str = "wx0123456789abcdef";
/// A release-check test account (group 1's official account) and its username.
const TEST_ACCOUNT: &str = "wx570bc396a51b8ff8";
const TEST_ACCOUNT_USER_NAME: &str = "gh_3c884a361561";
/// A well-formed appid that no account authorized to the test's platform has.
const STRANGER_APPID: &str = "wx00000000000000aa";
/// The sandbox's first mini program (never authorized by `setup`).
const MINI_PROGRAM_APPID: &str = "wx5d8a1f3c7e9b2046";
/// The sandbox's answer to an authorization code it does not accept (61010: expired or invalid).
const CODE_INVALID: i64 = 61010;

/// One bad input and what it must get.
struct Row {
    case: &'static str,
    /// The request, for docs/bad-inputs.md.
    request: &'static str,
    call: Call,
    expect: Expect,
    effect: Effect,
}

struct Call {
    target: Target,
    method: Method,
    /// Path and query.
    path: String,
    headers: Vec<(reqwest::header::HeaderName, String)>,
    body: Vec<u8>,
}

/// Which origin the request goes to.
#[derive(Clone, Copy)]
enum Target {
    /// The service as the fixture serves it (its receiver accepts any timestamp).
    Service,
    /// The ticket receiver with the deployed replay window (300 s), on its own loopback port.
    Deployed,
}

struct Expect {
    status: u16,
    body: Body,
}

enum Body {
    Exact(String),
    /// The body contains each part (HTML pages, and texts with a varying number in them).
    Has(Vec<String>),
}

/// What the request may change.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Effect {
    Nothing,
    /// Only WeChat can tell a code is bad: one api_query_auth call, the session's count of codes
    /// tried one more, and nothing else stored (the claim taken for the exchange is dropped
    /// with WeChat's refusal).
    CodeAskedOnce,
}

fn exact(status: u16, body: &str) -> Expect {
    Expect {
        status,
        body: Body::Exact(body.to_owned()),
    }
}

fn has(status: u16, parts: &[&str]) -> Expect {
    Expect {
        status,
        body: Body::Has(parts.iter().map(|p| (*p).to_owned()).collect()),
    }
}

fn get(path: impl Into<String>) -> Call {
    request(Target::Service, Method::GET, path, Vec::new())
}

fn request(target: Target, method: Method, path: impl Into<String>, body: Vec<u8>) -> Call {
    Call {
        target,
        method,
        path: path.into(),
        headers: Vec::new(),
        body,
    }
}

impl Call {
    fn header(mut self, name: reqwest::header::HeaderName, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// A push as WeChat posts it: its query string and body.
fn post_push(push: &Push) -> Call {
    post_events(&query(push, &[]), push.body.as_bytes().to_vec())
}

fn post_events(query: &str, body: Vec<u8>) -> Call {
    request(
        Target::Service,
        Method::POST,
        format!("/wechat/component/events?{query}"),
        body,
    )
}

/// A message to an authorized account's message URL, signed and encrypted like a push.
fn post_message(appid: &str, push: &Push) -> Call {
    request(
        Target::Service,
        Method::POST,
        format!("/wechat/authorizers/{appid}/events?{}", query(push, &[])),
        push.body.as_bytes().to_vec(),
    )
}

/// The push's query parameters, with some replaced (`None` drops one).
fn query(push: &Push, overrides: &[(&str, Option<&str>)]) -> String {
    let mut params: Vec<(&str, String)> = vec![
        ("signature", "unused-in-safe-mode".to_owned()),
        ("timestamp", push.timestamp.clone()),
        ("nonce", push.nonce.clone()),
        ("encrypt_type", "aes".to_owned()),
        ("msg_signature", push.msg_signature.clone()),
    ];
    for (name, value) in overrides {
        params.retain(|(n, _)| n != name);
        if let Some(value) = value {
            params.push((name, (*value).to_owned()));
        }
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in &params {
        query.append_pair(name, value);
    }
    query.finish()
}

/// A body signed as WeChat signs it (the signature covers `encrypt` only, not the body).
fn signed_body(pusher: &Pusher, encrypt: &str, body: String, now: i64) -> Push {
    Push {
        body,
        ..pusher.push_encrypted(encrypt, now)
    }
}

/// The auth-link's and auth-callback's error pages put the message in HTML.
fn page(status: u16, parts: &[&str]) -> Expect {
    has(status, parts)
}

/// What the table needs that earlier steps made: stored facts and sessions in every state.
struct Setup {
    /// The ticket push the sandbox made, as stored.
    ticket_xml: String,
    ticket_create_time: i64,
    /// The `authorized` push that completed `used_session` (its code is `used_code`).
    authorized_xml: String,
    used_session: String,
    used_code: String,
    /// Opened and not used.
    fresh_session: String,
    /// Opened, not confirmed; the push named another session for `used_code`.
    other_session: String,
    /// Stored with its time already past.
    expired_session: String,
    /// Confirmed, its push never delivered, the code past its life at WeChat.
    expired_code_callback: String,
    /// Opened, and its codes tried as often as a session may.
    spent_session: String,
    /// A link the platform minted (path and query), current.
    link: String,
    /// A link the platform minted that expired an hour ago.
    expired_link: String,
    /// A minted link that started as many authorizations as a link may in this window (and
    /// the next, should the hour turn during the test).
    spent_link: String,
}

fn session_of(wechat_url: &str) -> String {
    let url = url::Url::parse(wechat_url).unwrap();
    let redirect = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    url::Url::parse(&redirect)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "session")
        .unwrap()
        .1
        .into_owned()
}

fn param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .unwrap()
        .1
        .into_owned()
}

async fn setup(s: &Service) -> Setup {
    let store = &s.app.link.tokens.store;
    // A ticket WeChat pushed: stored, so it can be pushed again (WeChat's retry) or older.
    let ticket = s.sandbox.push_ticket().await.unwrap();
    assert!(ticket.success, "{ticket:?}");

    // An authorization completed through its push, and a second link the same merchant opened.
    let (wechat, referer) = s.open_wechat_page("merchant=bad-inputs-1").await;
    let used_session = session_of(&wechat);
    let callback = s.confirm(&wechat, &referer, &s.appid(0)).await;
    let pushes = s.sandbox.wait_for_pushes(2).await.unwrap();
    let authorized = pushes
        .iter()
        .find(|p| p.info_type == "authorized")
        .expect("the authorized push");
    assert!(authorized.success, "{authorized:?}");
    assert!(s.account(&s.appid(0)).await.is_some());
    let (wechat, _) = s.open_wechat_page("merchant=bad-inputs-2").await;
    let other_session = session_of(&wechat);
    let (wechat, _) = s.open_wechat_page("merchant=bad-inputs-3").await;
    let fresh_session = session_of(&wechat);

    // A code whose push never comes and that WeChat no longer accepts when the browser returns.
    s.sandbox.set_event_url(None);
    let (wechat, referer) = s.open_wechat_page("merchant=bad-inputs-4").await;
    let expired_code_callback = s.confirm(&wechat, &referer, &s.appid(1)).await;
    s.sandbox.advance(Duration::from_secs(3601));

    // A session past its time (WeChat's pre_auth_code lives 30 minutes at most).
    let now = wxopen::unix_now();
    let expired = PreAuthSession {
        id: "e".repeat(32),
        merchant: "bad-inputs-5".into(),
        pre_auth_code: "preauthcode@@@bad-inputs-expired".into(),
        auth_type: 3,
        biz_appid: None,
        mobile: false,
        created_at: now - 1900,
        expires_at: now - 100,
        completed: None,
    };
    assert!(store.create_session(&s.component, &expired).await.unwrap());

    // A session whose codes were tried as often as a session may.
    let (wechat, _) = s.open_wechat_page("merchant=bad-inputs-6").await;
    let spent_session = session_of(&wechat);
    for _ in 0..wxopen::authorization::CODE_ATTEMPTS_PER_SESSION {
        assert!(
            store
                .count_code_attempt(
                    &s.component,
                    &spent_session,
                    wxopen::authorization::CODE_ATTEMPTS_PER_SESSION
                )
                .await
                .unwrap()
        );
    }

    // Minted links: current, expired, and one that started all it may.
    let path = |url: &str| url[s.url("").len()..].to_owned();
    let link = path(&s.link("merchant=bad-inputs-7&auth_type=2").await);
    let key = s.app.link.link_key.keys().await.unwrap();
    let params = |merchant: &str| wxopen::authorization::LinkParams {
        merchant: merchant.into(),
        auth_type: 3,
        biz_appid: None,
        mode: None,
    };
    let expired_link = wxopen::links::mint(
        &key,
        params("bad-inputs-8"),
        now - 3600 - 60,
        wxopen::links::MIN_TTL,
    )
    .unwrap();
    let spent_link =
        wxopen::links::mint(&key, params("bad-inputs-9"), now, wxopen::links::MAX_TTL).unwrap();
    for window in [now, now + wxopen::links::START_WINDOW_SECS] {
        for _ in 0..wxopen::links::STARTS_PER_WINDOW {
            assert!(
                store
                    .count_link_start(
                        &s.component,
                        &spent_link.signature,
                        window,
                        wxopen::links::START_WINDOW_SECS,
                        wxopen::links::STARTS_PER_WINDOW
                    )
                    .await
                    .unwrap()
            );
        }
    }

    Setup {
        spent_session,
        link,
        expired_link: path(&expired_link.url(&s.url(""))),
        spent_link: path(&spent_link.url(&s.url(""))),
        ticket_xml: ticket.xml,
        ticket_create_time: ticket.create_time,
        authorized_xml: authorized.xml.clone(),
        used_code: param(&callback, "auth_code"),
        used_session,
        fresh_session,
        other_session,
        expired_session: expired.id,
        expired_code_callback,
    }
}

fn rows(s: &Service, setup: &Setup) -> Vec<Row> {
    let component = s.component.as_str();
    let pusher = Pusher::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, component);
    let now = wxopen::unix_now();
    let ticket = |create_time: i64, ticket: &str| ticket_xml(component, create_time, ticket);
    let good = pusher.push(&ticket(now, "ticket@@@bad-inputs"), now);
    // A ticket push whose ticket is `raw` XML, not character data.
    let raw_ticket = |raw: &str| ticket(now, "@").replace("<![CDATA[@]]>", raw);
    let envelope = |appid: &str, encrypt: &str| {
        format!(
            "<xml><AppId><![CDATA[{appid}]]></AppId><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        )
    };
    let valid_encrypt = pusher.crypto.encrypt(&ticket(now, "ticket@@@bad-inputs"));
    let cipher = STANDARD.decode(&valid_encrypt).unwrap();
    // CBC: flipping a bit of one ciphertext block flips the same bit of the next plaintext
    // block. The last byte is the pad length (32 minus the message's length mod 32): make it 0.
    let mut zero_pad = cipher.clone();
    let n = zero_pad.len();
    let unpadded = 16 + 4 + ticket(now, "ticket@@@bad-inputs").len() + component.len();
    zero_pad[n - 17] ^= (32 - unpadded % 32) as u8;
    // The length field is the first 4 bytes of the second block: make it 2^31 more.
    let mut long_length = cipher.clone();
    long_length[0] ^= 0x80;
    let sign = |encrypt: &str| signed_body(&pusher, encrypt, envelope(component, encrypt), now);
    let other_token = Pusher::new("another-token", TEST_ENCODING_AES_KEY, component);
    let mut other_envelope = Pusher::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, component);
    other_envelope.envelope_appid = OTHER_APPID.into();
    let mut other_cipher = Pusher::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, OTHER_APPID);
    other_cipher.envelope_appid = component.into();
    let missing_field = |xml: &str| pusher.push(xml, now);
    let callback = |query: &str| get(format!("/authorize/callback?{query}"));
    let refused_code = |errcode: i64| {
        page(
            400,
            &[
                "微信未能确认此次授权",
                &format!(
                    "WeChat refused the authorization code (errcode {errcode}); it may have expired or been used. Start again from your authorization link."
                ),
            ],
        )
    };
    let bad_merchant = "merchant must be 1 to 64 letters, digits, &apos;-&apos;, &apos;_&apos;, &apos;.&apos; or &apos;:&apos;";
    let bad_auth_type = "auth_type must be 1 (official accounts), 2 (mini programs) or 3 (both)";
    let bad_biz_appid = "biz_appid must be an appid: wx followed by 16 hexadecimal digits";
    let unsigned = (
        LinkRefusal::Unsigned.zh(),
        "this link is not signed: ask the platform for your authorization link",
    );
    let altered = (
        LinkRefusal::Altered.zh(),
        "this link was altered: its signature does not match its parameters",
    );
    let expires = param(&s.url(&setup.link), "expires");
    let moved_expiry = setup.link.replace(
        &format!("expires={expires}"),
        &format!("expires={}", expires.parse::<i64>().unwrap() + 86400),
    );
    let app_return = "https%3A%2F%2Fapp.example.com%2Fwx%2F";
    // A well-formed state (an expiry and a signature) that no login of this service made.
    let forged_state = format!("{}{}", now + 600, "0".repeat(64));
    let login = |appid: &str, body: &str| {
        request(
            Target::Service,
            Method::POST,
            format!("/miniprogram/{appid}/login"),
            body.as_bytes().to_vec(),
        )
    };
    let post_links = |body: &str| {
        request(
            Target::Service,
            Method::POST,
            "/links",
            body.as_bytes().to_vec(),
        )
    };

    let message = |to: &str, sender: &str| {
        format!(
            "<xml><ToUserName><![CDATA[{to}]]></ToUserName>{sender}<CreateTime>{now}</CreateTime>\
             <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[TESTCOMPONENT_MSG_TYPE_TEXT]]></Content>\
             <MsgId>24000000000000009</MsgId></xml>"
        )
    };
    let sender = "<FromUserName><![CDATA[o_bad_inputs]]></FromUserName>";
    let text_message = pusher.push(&message(TEST_ACCOUNT_USER_NAME, sender), now);
    let misaddressed = pusher.push(&message("gh_000000000000", sender), now);
    let no_sender = pusher.push(&message(TEST_ACCOUNT_USER_NAME, ""), now);
    let doctype_message = pusher.push(
        &format!(
            "<!DOCTYPE xml [<!ENTITY x \"x\">]>{}",
            message(TEST_ACCOUNT_USER_NAME, sender)
        ),
        now,
    );
    // An ordinary account, authorized by `setup` (its profile stored with it).
    let authorized = s.appid(0);
    assert_eq!(authorized, "wx3f2a6c8d1e4b7a90");
    let doctype_markup_in_content = pusher.push(
        &message(TEST_ACCOUNT_USER_NAME, sender).replace(
            "<![CDATA[TESTCOMPONENT_MSG_TYPE_TEXT]]>",
            "see <!DOCTYPE html> in my text",
        ),
        now,
    );
    let pi_message = pusher.push(
        &message(TEST_ACCOUNT_USER_NAME, sender)
            .replace("<CreateTime>", "<?php echo 1; ?><CreateTime>"),
        now,
    );

    let rows = vec![
        // ----- the ticket receiver: POST /wechat/component/events -----
        Row {
            case: "GET instead of POST",
            request: "`GET`, a valid push's query, no body",
            call: request(
                Target::Service,
                Method::GET,
                format!("/wechat/component/events?{}", query(&good, &[])),
                Vec::new(),
            ),
            expect: exact(405, "only POST is accepted"),
            effect: Effect::Nothing,
        },
        Row {
            case: "PUT instead of POST",
            request: "`PUT`, a valid push",
            call: request(
                Target::Service,
                Method::PUT,
                format!("/wechat/component/events?{}", query(&good, &[])),
                good.body.clone().into_bytes(),
            ),
            expect: exact(405, "only POST is accepted"),
            effect: Effect::Nothing,
        },
        Row {
            case: "body over 64 KiB",
            request: "a valid query, a body of 65 537 bytes",
            call: post_events(&query(&good, &[]), vec![b'a'; 64 * 1024 + 1]),
            expect: exact(413, "the body is larger than 65536 bytes"),
            effect: Effect::Nothing,
        },
        Row {
            case: "body not UTF-8",
            request: "a valid query, body bytes `FF FE 3C 78`",
            call: post_events(&query(&good, &[]), vec![0xff, 0xfe, b'<', b'x']),
            expect: exact(400, "the body is not UTF-8 text"),
            effect: Effect::Nothing,
        },
        Row {
            case: "no msg_signature",
            request: "a valid push without `msg_signature`",
            call: post_events(
                &query(&good, &[("msg_signature", None)]),
                good.body.clone().into_bytes(),
            ),
            expect: exact(400, "query parameter msg_signature is missing"),
            effect: Effect::Nothing,
        },
        Row {
            case: "empty msg_signature",
            request: "a valid push with `msg_signature=`",
            call: post_events(
                &query(&good, &[("msg_signature", Some(""))]),
                good.body.clone().into_bytes(),
            ),
            expect: exact(400, "query parameter msg_signature is missing"),
            effect: Effect::Nothing,
        },
        Row {
            case: "no timestamp",
            request: "a valid push without `timestamp`",
            call: post_events(
                &query(&good, &[("timestamp", None)]),
                good.body.clone().into_bytes(),
            ),
            expect: exact(400, "query parameter timestamp is missing"),
            effect: Effect::Nothing,
        },
        Row {
            case: "no nonce",
            request: "a valid push without `nonce`",
            call: post_events(
                &query(&good, &[("nonce", None)]),
                good.body.clone().into_bytes(),
            ),
            expect: exact(400, "query parameter nonce is missing"),
            effect: Effect::Nothing,
        },
        Row {
            case: "encrypt_type=raw",
            request: "a valid push with `encrypt_type=raw` (plain mode is not accepted)",
            call: post_events(
                &query(&good, &[("encrypt_type", Some("raw"))]),
                good.body.clone().into_bytes(),
            ),
            expect: exact(400, "encrypt_type must be aes"),
            effect: Effect::Nothing,
        },
        Row {
            case: "timestamp not a number",
            request: "a valid push with `timestamp=12a`",
            call: post_events(
                &query(&good, &[("timestamp", Some("12a"))]),
                good.body.clone().into_bytes(),
            ),
            expect: exact(400, "timestamp is not a Unix time in seconds"),
            effect: Effect::Nothing,
        },
        Row {
            case: "replayed push (stale timestamp)",
            request: "a push signed an hour ago, to the receiver as deployed (300 s window)",
            call: {
                let old = pusher.push(&ticket(now - 3600, "ticket@@@replayed"), now - 3600);
                let mut send = post_push(&old);
                send.target = Target::Deployed;
                send
            },
            expect: has(
                403,
                &["timestamp is ", " s away from now: refused as a replay"],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "push from the future",
            request: "a push stamped an hour ahead, to the receiver as deployed",
            call: {
                let ahead = pusher.push(&ticket(now, "ticket@@@ahead"), now + 3600);
                let mut send = post_push(&ahead);
                send.target = Target::Deployed;
                send
            },
            expect: has(
                403,
                &["timestamp is -", " s away from now: refused as a replay"],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "forged signature",
            request: "a valid body, `msg_signature` of 40 zeros",
            call: post_events(
                &query(&good, &[("msg_signature", Some(&"0".repeat(40)))]),
                good.body.clone().into_bytes(),
            ),
            expect: exact(
                403,
                "msg_signature does not match (-40001 ValidateSignatureError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "signed with another token",
            request: "a push encrypted with our key but signed with another token",
            call: post_push(&other_token.push(&ticket(now, "ticket@@@other-token"), now)),
            expect: exact(
                403,
                "msg_signature does not match (-40001 ValidateSignatureError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "Encrypt changed after signing",
            request: "a valid push's signature over another push's Encrypt",
            call: {
                let other = pusher.push(&ticket(now, "ticket@@@swapped"), now);
                post_events(&query(&good, &[]), other.body.into_bytes())
            },
            expect: exact(
                403,
                "msg_signature does not match (-40001 ValidateSignatureError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "empty body",
            request: "a valid query, no body",
            call: post_events(&query(&good, &[]), Vec::new()),
            expect: exact(
                400,
                "XML is malformed: no root element (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "malformed XML",
            request: "body `<xml><AppId>wx..</AppId><Encrypt>abc</xml>`",
            call: post_events(
                &query(&good, &[]),
                format!("<xml><AppId>{component}</AppId><Encrypt>abc</xml>").into_bytes(),
            ),
            expect: has(400, &["XML is malformed: ", "(-40002 ParseXmlError)"]),
            effect: Effect::Nothing,
        },
        Row {
            case: "JSON instead of XML",
            request: "body `{\"Encrypt\": \"abc\"}`",
            call: post_events(&query(&good, &[]), br#"{"Encrypt": "abc"}"#.to_vec()),
            expect: exact(
                400,
                "XML is malformed: no root element (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "no Encrypt",
            request: "body `<xml><AppId>wx..</AppId></xml>`",
            call: post_events(
                &query(&good, &[]),
                format!("<xml><AppId>{component}</AppId></xml>").into_bytes(),
            ),
            expect: exact(400, "the push has no Encrypt (-40002 ParseXmlError)"),
            effect: Effect::Nothing,
        },
        Row {
            case: "empty Encrypt",
            request: "body with `<Encrypt></Encrypt>`, signed",
            call: post_push(&sign("")),
            expect: exact(400, "the push has no Encrypt (-40002 ParseXmlError)"),
            effect: Effect::Nothing,
        },
        Row {
            case: "DOCTYPE in the body",
            request: "a valid push's body behind `<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>`",
            call: post_events(
                &query(&good, &[]),
                format!(
                    "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
                    good.body
                )
                .into_bytes(),
            ),
            expect: exact(
                400,
                "XML with a DOCTYPE or entity declaration is refused (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "DOCTYPE in the decrypted message",
            request: "a signed push whose plaintext starts with `<!DOCTYPE xml>`",
            call: post_push(&pusher.push(
                &format!("<!DOCTYPE xml>{}", ticket(now, "ticket@@@doctype")),
                now,
            )),
            expect: exact(
                400,
                "XML with a DOCTYPE or entity declaration is refused (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "entity declaration in a field of the decrypted message",
            request: "a signed ticket push whose ticket is `<!ENTITY x SYSTEM \"file:///etc/passwd\">t`, unescaped",
            call: post_push(&pusher.push(
                &raw_ticket("<!ENTITY x SYSTEM \"file:///etc/passwd\">t"),
                now,
            )),
            expect: exact(
                400,
                "XML with a DOCTYPE or entity declaration is refused (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "processing instruction in the decrypted message",
            request: "a signed ticket push whose ticket is `<?xml version=\"1.0\"?>t`, unescaped (a declaration anywhere but the start)",
            call: post_push(&pusher.push(&raw_ticket("<?xml version=\"1.0\"?>t"), now)),
            expect: exact(
                400,
                "XML with a processing instruction is refused (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "undeclared entity",
            request: "body `<xml><AppId>&x;</AppId><Encrypt>..</Encrypt></xml>`",
            call: post_events(
                &query(&good, &[]),
                envelope("&x;", &valid_encrypt)
                    .replace("<![CDATA[&x;]]>", "&x;")
                    .into_bytes(),
            ),
            expect: exact(
                400,
                "XML references an unknown entity (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "300 repeated elements",
            request: "a valid push's body with 300 extra `<A>1</A>`",
            call: post_events(
                &query(&good, &[]),
                good.body
                    .replace("</xml>", &format!("{}</xml>", "<A>1</A>".repeat(300)))
                    .into_bytes(),
            ),
            expect: exact(
                400,
                "XML is nested or repeated beyond what WeChat sends (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "no AppId in the envelope",
            request: "body `<xml><Encrypt>..</Encrypt></xml>`, correctly signed",
            call: {
                let encrypt = valid_encrypt.clone();
                post_push(&signed_body(
                    &pusher,
                    &encrypt,
                    format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
                    now,
                ))
            },
            expect: exact(400, "the push has no AppId (-40002 ParseXmlError)"),
            effect: Effect::Nothing,
        },
        Row {
            case: "wrong AppId in the envelope",
            request: "a correctly signed push whose envelope says `<AppId>wx0123456789abcdef</AppId>`",
            call: post_push(&other_envelope.push(&ticket(now, "ticket@@@other-envelope"), now)),
            expect: exact(
                403,
                "the push is addressed to wx0123456789abcdef, not to this platform (-40005 ValidateAppidError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "ciphertext for another appid",
            request: "a correctly signed push encrypted for wx0123456789abcdef (the plaintext's trailing appid)",
            call: post_push(&other_cipher.push(&ticket(now, "ticket@@@other-cipher"), now)),
            expect: exact(
                403,
                "the message was encrypted for another appid (-40005 ValidateAppidError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "decrypted message for another appid",
            request: "a correctly encrypted and signed push whose XML says `<AppId>wx0123456789abcdef</AppId>`",
            call: post_push(
                &pusher.push(&ticket_xml(OTHER_APPID, now, "ticket@@@other-message"), now),
            ),
            expect: exact(
                403,
                "the push is addressed to wx0123456789abcdef, not to this platform (-40005 ValidateAppidError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "Encrypt not base64",
            request: "`<Encrypt>not*base64!</Encrypt>`, correctly signed",
            call: post_push(&sign("not*base64!")),
            expect: exact(
                400,
                "Encrypt is not valid base64 (-40010 DecodeBase64Error)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "ciphertext not whole AES blocks",
            request: "Encrypt = base64 of 20 bytes, correctly signed",
            call: post_push(&sign(&STANDARD.encode([7u8; 20]))),
            expect: exact(
                400,
                "the ciphertext is not a whole number of AES blocks (-40007 DecryptAESError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "bad padding",
            request: "a valid ciphertext altered so the pad byte decrypts to 0, correctly signed",
            call: post_push(&sign(&STANDARD.encode(&zero_pad))),
            expect: exact(
                400,
                "bad padding or length in the decrypted buffer (-40008 IllegalBuffer)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "message length past the buffer",
            request: "a valid ciphertext altered so the length field decrypts 2^31 larger, correctly signed",
            call: post_push(&sign(&STANDARD.encode(&long_length))),
            expect: exact(
                400,
                "bad padding or length in the decrypted buffer (-40008 IllegalBuffer)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "message without InfoType",
            request: "a correct push of `<xml><AppId>..</AppId><CreateTime>..</CreateTime></xml>`",
            call: post_push(&missing_field(&format!(
                "<xml><AppId>{component}</AppId><CreateTime>{now}</CreateTime></xml>"
            ))),
            expect: exact(400, "the push has no InfoType (-40002 ParseXmlError)"),
            effect: Effect::Nothing,
        },
        Row {
            case: "CreateTime not a number",
            request: "a correct ticket push with `<CreateTime>yesterday</CreateTime>`",
            call: post_push(&missing_field(
                &ticket(now, "ticket@@@bad-time")
                    .replace(&format!("<CreateTime>{now}"), "<CreateTime>yesterday"),
            )),
            expect: exact(
                400,
                "CreateTime is not a Unix time in seconds (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "ticket push without its ticket",
            request: "a correct `component_verify_ticket` push with no ComponentVerifyTicket",
            call: post_push(&missing_field(&format!(
                "<xml><AppId>{component}</AppId><CreateTime>{now}</CreateTime>\
                 <InfoType>component_verify_ticket</InfoType></xml>"
            ))),
            expect: exact(
                400,
                "the push has no ComponentVerifyTicket (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "authorized push without its code",
            request: "a correct `authorized` push with no AuthorizationCode",
            call: post_push(&missing_field(&format!(
                "<xml><AppId>{component}</AppId><CreateTime>{now}</CreateTime>\
                 <InfoType>authorized</InfoType><AuthorizerAppid>{}</AuthorizerAppid></xml>",
                s.appid(2)
            ))),
            expect: exact(
                400,
                "the push has no AuthorizationCode (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "fast registration created without its code",
            request: "a correct `notify_third_fasteregister` push, status 0, no auth_code",
            call: post_push(&missing_field(&format!(
                "<xml><AppId>{component}</AppId><CreateTime>{now}</CreateTime>\
                 <InfoType>notify_third_fasteregister</InfoType><appid>{}</appid>\
                 <status>0</status><msg>OK</msg></xml>",
                s.appid(2)
            ))),
            expect: exact(400, "the push has no auth_code (-40002 ParseXmlError)"),
            effect: Effect::Nothing,
        },
        Row {
            case: "fast registration status not a number",
            request: "a correct `notify_third_fasteregister` push with `<status>ok</status>`",
            call: post_push(&missing_field(&format!(
                "<xml><AppId>{component}</AppId><CreateTime>{now}</CreateTime>\
                 <InfoType>notify_third_fasteregister</InfoType><appid>{}</appid>\
                 <status>ok</status><auth_code>queryauthcode@@@bad-inputs</auth_code></xml>",
                s.appid(2)
            ))),
            expect: exact(400, "status is not a number (-40002 ParseXmlError)"),
            effect: Effect::Nothing,
        },
        Row {
            case: "duplicate ticket push (WeChat's retry)",
            request: "the stored ticket push again, newly signed",
            call: post_push(&pusher.push(&setup.ticket_xml, now)),
            expect: exact(200, "success"),
            effect: Effect::Nothing,
        },
        Row {
            case: "older ticket push (out of order)",
            request: "a correct ticket push 10 minutes older than the stored one",
            call: post_push(&pusher.push(
                &ticket(setup.ticket_create_time - 600, "ticket@@@older"),
                now,
            )),
            expect: exact(200, "success"),
            effect: Effect::Nothing,
        },
        Row {
            case: "duplicate authorized push",
            request: "the `authorized` push that completed an authorization, again",
            call: post_push(&pusher.push(&setup.authorized_xml, now)),
            expect: exact(200, "success"),
            effect: Effect::Nothing,
        },
        // ----- auth-link: GET /authorize -----
        Row {
            case: "link: POST",
            request: "`POST /authorize?merchant=m1`",
            call: request(
                Target::Service,
                Method::POST,
                "/authorize?merchant=m1",
                Vec::new(),
            ),
            expect: page(405, &["只接受 GET 请求。", "Only GET is accepted."]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: no merchant",
            request: "`/authorize`",
            call: get("/authorize"),
            expect: page(400, &["链接参数有误。", "merchant is required"]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: empty merchant",
            request: "`/authorize?merchant=&go=1`",
            call: get("/authorize?merchant=&go=1"),
            expect: page(400, &["链接参数有误。", "merchant is required"]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: merchant with markup",
            request: "`/authorize?merchant=<script>`",
            call: get("/authorize?merchant=%3Cscript%3E"),
            expect: page(400, &["链接参数有误。", bad_merchant]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: merchant too long",
            request: "`merchant` of 65 characters",
            call: get(format!("/authorize?merchant={}", "m".repeat(65))),
            expect: page(400, &[bad_merchant]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: auth_type=4",
            request: "`/authorize?merchant=m1&auth_type=4&go=1`",
            call: get("/authorize?merchant=m1&auth_type=4&go=1"),
            expect: page(400, &[bad_auth_type]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: auth_type not a number",
            request: "`/authorize?merchant=m1&auth_type=all`",
            call: get("/authorize?merchant=m1&auth_type=all"),
            expect: page(400, &[bad_auth_type]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: biz_appid too short",
            request: "`/authorize?merchant=m1&biz_appid=wx123&go=1`",
            call: get("/authorize?merchant=m1&biz_appid=wx123&go=1"),
            expect: page(400, &[bad_biz_appid]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: biz_appid in capitals",
            request: "`/authorize?merchant=m1&biz_appid=WX0123456789ABCDEF`",
            call: get("/authorize?merchant=m1&biz_appid=WX0123456789ABCDEF"),
            expect: page(400, &[bad_biz_appid]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: mode=tablet",
            request: "`/authorize?merchant=m1&mode=tablet&go=1`",
            call: get("/authorize?merchant=m1&mode=tablet&go=1"),
            expect: page(400, &["mode must be pc or mobile"]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link JSON: no merchant",
            request: "`/authorize?format=json`",
            call: get("/authorize?format=json"),
            expect: exact(400, r#"{"error":"merchant is required"}"#),
            effect: Effect::Nothing,
        },
        Row {
            case: "link JSON: bad auth_type",
            request: "`/authorize?merchant=m1&auth_type=9`, `Accept: application/json`",
            call: get("/authorize?merchant=m1&auth_type=9").header(ACCEPT, "application/json"),
            expect: exact(400, &format!(r#"{{"error":"{bad_auth_type}"}}"#)),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: unsigned",
            request: "`/authorize?merchant=m1&go=1` (typed, not minted)",
            call: get("/authorize?merchant=m1&go=1"),
            expect: page(403, &[unsigned.0, unsigned.1]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link JSON: unsigned",
            request: "`/authorize?merchant=m1&format=json`",
            call: get("/authorize?merchant=m1&format=json"),
            expect: exact(403, &format!(r#"{{"error":"{}"}}"#, unsigned.1)),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: another merchant",
            request: "a minted link with `merchant` changed, `&go=1`",
            call: get(format!(
                "{}&go=1",
                setup
                    .link
                    .replace("merchant=bad-inputs-7", "merchant=bad-inputs-1")
            )),
            expect: page(403, &[altered.0, altered.1]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: auth_type changed",
            request: "a minted link (`auth_type=2`) with `auth_type=3`, `&go=1`",
            call: get(format!(
                "{}&go=1",
                setup.link.replace("auth_type=2", "auth_type=3")
            )),
            expect: page(403, &[altered.1]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: mode added",
            request: "a minted link with `&mode=mobile` added, `&go=1`",
            call: get(format!("{}&mode=mobile&go=1", setup.link)),
            expect: page(403, &[altered.1]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: expiry moved",
            request: "a minted link with `expires` a day later",
            call: get(moved_expiry),
            expect: page(403, &[altered.1]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: signature not hex",
            request: "a minted link with `sig=zz`",
            call: get(format!(
                "{}sig=zz&go=1",
                setup.link.split_once("sig=").unwrap().0
            )),
            expect: page(403, &[altered.1]),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: expired",
            request: "a minted link past its `expires`, `&go=1`",
            call: get(format!("{}&go=1", setup.expired_link)),
            expect: page(
                410,
                &[
                    "此链接已过期",
                    "this link has expired: ask the platform for a new one",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "link: too many starts",
            request: "a minted link that started 5 authorizations this hour, `&go=1`",
            call: get(format!("{}&go=1", setup.spent_link)),
            expect: page(
                429,
                &[
                    "此链接的授权尝试过于频繁",
                    "This link has started 5 authorizations this hour",
                ],
            ),
            effect: Effect::Nothing,
        },
        // ----- auth-link: POST /links (behind IAM) -----
        Row {
            case: "links: GET",
            request: "`GET /links`",
            call: get("/links"),
            expect: exact(
                405,
                r#"{"error":"method_not_allowed","message":"only POST is accepted"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "links: not JSON",
            request: "`POST /links` with `merchant=m1`",
            call: post_links("merchant=m1"),
            expect: exact(
                400,
                r#"{"error":"bad_request","message":"the body must be {merchant, auth_type?, biz_appid?, mode?, ttl_secs?}: expected value"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "links: no merchant",
            request: "`POST /links` with `{\"auth_type\": 1}`",
            call: post_links(r#"{"auth_type": 1}"#),
            expect: exact(
                400,
                r#"{"error":"bad_request","message":"the body must be {merchant, auth_type?, biz_appid?, mode?, ttl_secs?}: missing field `merchant`"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "links: unknown field",
            request: "`POST /links` with `{\"merchant\": \"m1\", \"expires\": 1}`",
            call: post_links(r#"{"merchant": "m1", "expires": 1}"#),
            expect: exact(
                400,
                r#"{"error":"bad_request","message":"the body must be {merchant, auth_type?, biz_appid?, mode?, ttl_secs?}: unknown field `expires`, expected one of `merchant`, `auth_type`, `biz_appid`, `mode`, `ttl_secs`"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "links: bad merchant",
            request: "`POST /links` with `{\"merchant\": \"<b>\"}`",
            call: post_links(r#"{"merchant": "<b>"}"#),
            expect: exact(
                400,
                &format!(
                    r#"{{"error":"bad_request","message":"{}"}}"#,
                    LinkError::BadMerchant
                ),
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "links: bad mode",
            request: "`POST /links` with `{\"merchant\": \"m1\", \"mode\": \"tv\"}`",
            call: post_links(r#"{"merchant": "m1", "mode": "tv"}"#),
            expect: exact(
                400,
                r#"{"error":"bad_request","message":"mode must be pc or mobile"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "links: ttl over 7 days",
            request: "`POST /links` with `{\"merchant\": \"m1\", \"ttl_secs\": 604801}`",
            call: post_links(r#"{"merchant": "m1", "ttl_secs": 604801}"#),
            expect: exact(
                400,
                r#"{"error":"bad_request","message":"ttl_secs must be between 60 and 604800 (7 days)"}"#,
            ),
            effect: Effect::Nothing,
        },
        // ----- auth-callback: GET /authorize/callback -----
        Row {
            case: "callback: POST",
            request: "`POST /authorize/callback?session=..&auth_code=..`",
            call: request(
                Target::Service,
                Method::POST,
                format!(
                    "/authorize/callback?session={}&auth_code=x",
                    setup.fresh_session
                ),
                Vec::new(),
            ),
            expect: page(405, &["Only GET is accepted."]),
            effect: Effect::Nothing,
        },
        Row {
            case: "callback: no session",
            request: "`/authorize/callback?auth_code=x&expires_in=600`",
            call: callback("auth_code=x&expires_in=600"),
            expect: page(
                400,
                &[
                    "授权回调缺少参数",
                    "The callback has no session: start again from your authorization link.",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "callback: no auth_code",
            request: "`/authorize/callback?session=<fresh>`",
            call: callback(&format!("session={}", setup.fresh_session)),
            expect: page(
                400,
                &["The callback has no auth_code: start again from your authorization link."],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "callback: empty auth_code",
            request: "`/authorize/callback?session=<fresh>&auth_code=`",
            call: callback(&format!("session={}&auth_code=", setup.fresh_session)),
            expect: page(
                400,
                &["The callback has no auth_code: start again from your authorization link."],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "callback: session not an id",
            request: "`/authorize/callback?session=../../etc&auth_code=x`",
            call: callback("session=..%2F..%2Fetc&auth_code=x"),
            expect: page(
                400,
                &[
                    "无法识别此授权链接",
                    "this authorization link is unknown. Start again from your authorization link.",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "callback: unknown session",
            request: "a well-formed session id never issued",
            call: callback("session=0123456789abcdef0123456789abcdef&auth_code=x"),
            expect: page(
                400,
                &[
                    "无法识别此授权链接",
                    "this authorization link is unknown. Start again from your authorization link.",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "callback: stale session",
            request: "a session past its 30 minutes, any code",
            call: callback(&format!(
                "session={}&auth_code=queryauthcode@@@late",
                setup.expired_session
            )),
            expect: page(
                400,
                &[
                    "此授权链接已过期",
                    "this authorization link has expired. Start again from your authorization link.",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "callback: session already used",
            request: "a completed session with another code",
            call: callback(&format!(
                "session={}&auth_code=queryauthcode@@@another",
                setup.used_session
            )),
            expect: page(
                400,
                &[
                    "此授权链接已被使用",
                    "this authorization link was already used for another authorization. Start again from your authorization link.",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "callback: foreign session",
            request: "another open session of ours with the code whose push named the first",
            call: callback(&format!(
                "session={}&auth_code={}&expires_in=600",
                setup.other_session, setup.used_code
            )),
            expect: page(
                400,
                &[
                    "此授权不属于当前链接",
                    "this authorization belongs to another link. Start again from your authorization link.",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "callback: too many codes",
            request: "a session whose codes were tried 5 times, another code",
            call: callback(&format!(
                "session={}&auth_code=queryauthcode@@@sixth",
                setup.spent_session
            )),
            expect: page(
                429,
                &[
                    "此授权链接尝试次数过多",
                    "this authorization link was tried too many times. Start again from your authorization link.",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "callback: unknown auth code",
            request: "an open session with `auth_code=queryauthcode@@@forged`",
            call: callback(&format!(
                "session={}&auth_code=queryauthcode%40%40%40forged&expires_in=600",
                setup.fresh_session
            )),
            expect: refused_code(CODE_INVALID),
            effect: Effect::CodeAskedOnce,
        },
        Row {
            case: "callback: expired auth code",
            request: "the callback WeChat redirected to, after the code's hour at WeChat",
            call: get(setup
                .expired_code_callback
                .trim_start_matches(s.server.base_url().trim_end_matches('/'))
                .to_owned()),
            expect: refused_code(CODE_INVALID),
            effect: Effect::CodeAskedOnce,
        },
        // ----- the message URL: POST /wechat/authorizers/{appid}/events -----
        Row {
            case: "message URL: not an appid in the path",
            request: "a valid message to `/wechat/authorizers/$APPID$/events` (the console's placeholder left in)",
            call: post_message("$APPID$", &text_message),
            expect: exact(404, "\"$APPID$\" is not an authorizer appid"),
            effect: Effect::Nothing,
        },
        Row {
            case: "message URL: GET instead of POST",
            request: "`GET`, a valid message's query",
            call: request(
                Target::Service,
                Method::GET,
                format!(
                    "/wechat/authorizers/{TEST_ACCOUNT}/events?{}",
                    query(&text_message, &[])
                ),
                Vec::new(),
            ),
            expect: exact(405, "only POST is accepted"),
            effect: Effect::Nothing,
        },
        Row {
            case: "message URL: forged msg_signature",
            request: "a valid message with `msg_signature` of another body",
            call: request(
                Target::Service,
                Method::POST,
                format!(
                    "/wechat/authorizers/{TEST_ACCOUNT}/events?{}",
                    query(
                        &text_message,
                        &[("msg_signature", Some(&good.msg_signature))]
                    )
                ),
                text_message.body.clone().into_bytes(),
            ),
            expect: exact(
                403,
                "msg_signature does not match (-40001 ValidateSignatureError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "message URL: a test account's message to another username",
            request: "the release check's text for `wx570bc396a51b8ff8` with `ToUserName` `gh_000000000000`",
            call: post_message(TEST_ACCOUNT, &misaddressed),
            expect: exact(
                403,
                &format!(
                    "the message is addressed to gh_000000000000, not to account {TEST_ACCOUNT}"
                ),
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "message URL: a message replayed to another account's URL",
            request: "the release check's text for `gh_3c884a361561`, signed, posted to the message URL of an account authorized here (`wx3f2a6c8d1e4b7a90`, stored with its profile)",
            call: post_message(&authorized, &text_message),
            expect: exact(
                403,
                &format!(
                    "the message is addressed to {TEST_ACCOUNT_USER_NAME}, not to account {authorized}"
                ),
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "message URL: an account not authorized here",
            request: "a valid message to `/wechat/authorizers/wx00000000000000aa/events`, an appid no stored account has",
            call: post_message(STRANGER_APPID, &text_message),
            expect: exact(
                404,
                &format!("{STRANGER_APPID} is not an account authorized to this platform"),
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "message URL: message without FromUserName",
            request: "a decrypted message lacking `FromUserName`",
            call: post_message(TEST_ACCOUNT, &no_sender),
            expect: exact(400, "the push has no FromUserName (-40002 ParseXmlError)"),
            effect: Effect::Nothing,
        },
        Row {
            case: "message URL: DOCTYPE in the decrypted message",
            request: "a message whose plaintext starts with `<!DOCTYPE`",
            call: post_message(TEST_ACCOUNT, &doctype_message),
            expect: exact(
                400,
                "XML with a DOCTYPE or entity declaration is refused (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "message URL: DOCTYPE markup in a field",
            request: "a message whose `Content` is `see <!DOCTYPE html> in my text`, neither escaped nor in CDATA (WeChat sends a user's text as one or the other: then it is handed on as written)",
            call: post_message(TEST_ACCOUNT, &doctype_markup_in_content),
            expect: exact(
                400,
                "XML with a DOCTYPE or entity declaration is refused (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "message URL: processing instruction in the decrypted message",
            request: "a message with `<?php echo 1; ?>` between its fields",
            call: post_message(TEST_ACCOUNT, &pi_message),
            expect: exact(
                400,
                "XML with a processing instruction is refused (-40002 ParseXmlError)",
            ),
            effect: Effect::Nothing,
        },
        // ----- token vending: GET /tokens/... (IAM) -----
        Row {
            case: "tokens: unknown authorizer",
            request: "`GET /tokens/authorizers/wx0000000000000000`",
            call: get("/tokens/authorizers/wx0000000000000000"),
            expect: exact(
                404,
                r#"{"error":"unknown_authorizer","message":"authorizer wx0000000000000000 is not stored"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "tokens: unknown route",
            request: "`GET /tokens/everything`",
            call: get("/tokens/everything"),
            expect: exact(
                404,
                r#"{"error":"not_found","message":"no such token route: use /tokens/component or /tokens/authorizers/{appid}"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "tokens: POST instead of GET",
            request: "`POST /tokens/component`",
            call: request(
                Target::Service,
                Method::POST,
                "/tokens/component",
                Vec::new(),
            ),
            expect: exact(
                405,
                r#"{"error":"method_not_allowed","message":"only GET is accepted"}"#,
            ),
            effect: Effect::Nothing,
        },
        // ----- authorized accounts' users: user-identity -----
        Row {
            case: "users: login body not JSON",
            request: "`POST /miniprogram/{mini program}/login`, body `code=abc`",
            call: login(MINI_PROGRAM_APPID, "code=abc"),
            expect: exact(
                400,
                r#"{"error":"bad_body","message":"the body must be the JSON object {\"code\": \"...\"} of at most 1024 bytes: it is not JSON"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "users: login body with other fields",
            request: r#"body `{"code": "abc", "appid": "wx..."}`"#,
            call: login(
                MINI_PROGRAM_APPID,
                r#"{"code": "abc", "appid": "wx0123456789abcdef"}"#,
            ),
            expect: exact(
                400,
                r#"{"error":"bad_body","message":"the body must be the JSON object {\"code\": \"...\"} of at most 1024 bytes: it must have exactly one field, code, a string"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "users: login body too long",
            request: "a 2000-byte body",
            call: login(
                MINI_PROGRAM_APPID,
                &format!(r#"{{"code": "{}"}}"#, "a".repeat(2000)),
            ),
            expect: exact(
                400,
                r#"{"error":"bad_body","message":"the body must be the JSON object {\"code\": \"...\"} of at most 1024 bytes: it is too long"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "users: login code malformed",
            request: r#"body `{"code": "abc&appid=wx1"}`"#,
            call: login(MINI_PROGRAM_APPID, r#"{"code": "abc&appid=wx1"}"#),
            expect: exact(
                400,
                r#"{"error":"bad_code","message":"the code must be 1 to 128 letters, digits, '-' or '_'"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "users: login for a malformed appid",
            request: "`POST /miniprogram/wx123/login`",
            call: login("wx123", r#"{"code": "abc"}"#),
            expect: exact(
                400,
                r#"{"error":"bad_appid","message":"\"wx123\" is not an appid (wx and 16 hexadecimal digits)"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "users: login for an account never authorized",
            request: "a well-formed appid no account of the platform has",
            call: login(STRANGER_APPID, r#"{"code": "abc"}"#),
            expect: exact(
                404,
                r#"{"error":"unknown_account","message":"account wx00000000000000aa has not authorized the platform"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "users: login for an official account",
            request: "an authorized official account's appid",
            call: login(&authorized, r#"{"code": "abc"}"#),
            expect: exact(
                403,
                r#"{"error":"wrong_account_kind","message":"account wx3f2a6c8d1e4b7a90 is not a mini program"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "users: login by GET",
            request: "`GET /miniprogram/{appid}/login`",
            call: get(format!("/miniprogram/{MINI_PROGRAM_APPID}/login")),
            expect: exact(
                405,
                r#"{"error":"method_not_allowed","message":"this route does not accept this method"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "users: JS-SDK config without url",
            request: "`GET /jssdk/{official account}/config`",
            call: get(format!("/jssdk/{authorized}/config")),
            expect: exact(
                400,
                r#"{"error":"bad_url","message":"the url parameter is required: the page's location.href"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "users: JS-SDK config for a relative url",
            request: "`?url=/shop/item`",
            call: get(format!("/jssdk/{authorized}/config?url=%2Fshop%2Fitem")),
            expect: exact(
                400,
                r#"{"error":"bad_url","message":"the url must be the page's absolute http(s) location.href: it is not a URL"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "users: JS-SDK config for a page elsewhere",
            request: "`?url=https://evil.example.com/page` (not in `JSSDK_ORIGINS`)",
            call: get(format!(
                "/jssdk/{authorized}/config?url=https%3A%2F%2Fevil.example.com%2Fpage"
            )),
            expect: exact(
                400,
                r#"{"error":"origin_not_allowed","message":"pages on https://evil.example.com are not configured for the JS-SDK (JSSDK_ORIGINS)"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "users: JS-SDK config for a long url",
            request: "a 3000-character url",
            call: get(format!(
                "/jssdk/{authorized}/config?url=https%3A%2F%2Fevil.example.com%2F{}",
                "a".repeat(3000)
            )),
            expect: exact(
                400,
                r#"{"error":"bad_url","message":"the url must be the page's absolute http(s) location.href: it is longer than 2048 characters"}"#,
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "users: key set by POST",
            request: "`POST /.well-known/jwks.json`",
            call: request(
                Target::Service,
                Method::POST,
                "/.well-known/jwks.json",
                Vec::new(),
            ),
            expect: exact(
                405,
                r#"{"error":"method_not_allowed","message":"this route does not accept this method"}"#,
            ),
            effect: Effect::Nothing,
        },
        // ----- web login: user-identity -----
        Row {
            case: "web login: no scope",
            request: "`GET /oauth/{official account}/authorize?return_to=https://app.example.com/wx/`",
            call: get(format!(
                "/oauth/{authorized}/authorize?return_to={app_return}"
            )),
            expect: page(
                400,
                &["bad_scope", "scope must be snsapi_base or snsapi_userinfo"],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "web login: return_to off the list",
            request: "`?scope=snsapi_base&return_to=https://evil.example.com/` (not on `OAUTH_RETURN_TO`)",
            call: get(format!(
                "/oauth/{authorized}/authorize?scope=snsapi_base&return_to=https%3A%2F%2Fevil.example.com%2F"
            )),
            expect: page(
                400,
                &[
                    "bad_return_to",
                    "return_to is not among the return addresses the platform allows",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "web login: return_to with a user name",
            request: "`return_to=https://app.example.com@evil.example.com/wx/`",
            call: get(format!(
                "/oauth/{authorized}/authorize?scope=snsapi_base&return_to=https%3A%2F%2Fapp.example.com%40evil.example.com%2Fwx%2F"
            )),
            expect: page(
                400,
                &[
                    "bad_return_to",
                    "return_to must not carry a user name or password",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "web login: return_to with a backslash",
            request: r"`return_to=https://evil.example.com\@app.example.com/wx/`",
            call: get(format!(
                "/oauth/{authorized}/authorize?scope=snsapi_base&return_to=https%3A%2F%2Fevil.example.com%5C%40app.example.com%2Fwx%2F"
            )),
            expect: page(
                400,
                &["bad_return_to", "return_to must be an absolute http(s) URL"],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "web login: return_to with a path outside the prefix",
            request: "`return_to=https://app.example.com/wx/../admin` (allowed: `https://app.example.com/wx/`)",
            call: get(format!(
                "/oauth/{authorized}/authorize?scope=snsapi_base&return_to=https%3A%2F%2Fapp.example.com%2Fwx%2F..%2Fadmin"
            )),
            expect: page(
                400,
                &[
                    "bad_return_to",
                    "return_to is not among the return addresses the platform allows",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "web login: an account never authorized",
            request: "a well-formed appid no account of the platform has",
            call: get(format!(
                "/oauth/{STRANGER_APPID}/authorize?scope=snsapi_base&return_to={app_return}"
            )),
            expect: page(404, &["unknown_account", "该公众号未授权本平台"]),
            effect: Effect::Nothing,
        },
        Row {
            case: "web login: callback from another browser",
            request: "`GET /oauth/{appid}/callback?code=..&state=..` without the login cookie",
            call: get(format!(
                "/oauth/{authorized}/callback?code=abc&state={forged_state}&appid={authorized}"
            )),
            expect: page(
                400,
                &[
                    "login_not_started_here",
                    "this login was not started in this browser",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "web login: callback with a forged state",
            request: "a state this browser's login cookie was not signed for",
            call: get(format!(
                "/oauth/{authorized}/callback?code=abc&state={forged_state}&appid={authorized}"
            ))
            .header(
                COOKIE,
                &format!("wxopen_login=00112233445566778899aabbccddeeff.snsapi_base.{app_return}"),
            ),
            expect: page(
                400,
                &[
                    "login_not_started_here",
                    "the login state does not match the login started in this browser",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "web login: callback with a malformed state",
            request: "`state=abc`",
            call: get(format!("/oauth/{authorized}/callback?code=abc&state=abc")),
            expect: page(
                400,
                &[
                    "login_not_started_here",
                    "the login state is missing or malformed",
                ],
            ),
            effect: Effect::Nothing,
        },
        Row {
            case: "web login: callback for another appid",
            request: "`appid=` another account than the path's",
            call: get(format!(
                "/oauth/{authorized}/callback?code=abc&state={forged_state}&appid={OTHER_APPID}"
            )),
            expect: page(400, &["appid_mismatch"]),
            effect: Effect::Nothing,
        },
        Row {
            case: "web login: start by POST",
            request: "`POST /oauth/{appid}/authorize`",
            call: request(
                Target::Service,
                Method::POST,
                format!("/oauth/{authorized}/authorize"),
                Vec::new(),
            ),
            expect: exact(
                405,
                r#"{"error":"method_not_allowed","message":"this route does not accept this method"}"#,
            ),
            effect: Effect::Nothing,
        },
    ];
    // The table is read by people too: every row's case is unique.
    let mut seen = std::collections::HashSet::new();
    for row in &rows {
        assert!(seen.insert(row.case), "two rows named {}", row.case);
    }
    rows
}

type Items = Vec<HashMap<String, AttributeValue>>;

/// Everything the request could change: the component's items, and what WeChat saw.
#[derive(Debug, PartialEq)]
struct Snapshot {
    items: Items,
    calls: wxopen_tests::sandbox::Calls,
    pushes: usize,
}

async fn snapshot(s: &Service) -> Snapshot {
    Snapshot {
        items: items_of(&s.aws, &s.component).await,
        calls: s.sandbox.calls(),
        pushes: s.sandbox.pushes().len(),
    }
}

fn string(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| match v {
        AttributeValue::S(s) => Some(s.clone()),
        AttributeValue::N(n) => Some(n.clone()),
        _ => None,
    })
}

const CODE_ATTEMPTS: &str = "code_attempts";

/// The items without the sessions' count of codes tried.
fn without_attempts(items: &Items) -> Items {
    let mut items = items.clone();
    for item in &mut items {
        item.remove(CODE_ATTEMPTS);
    }
    items
}

/// Codes tried, over all sessions.
fn attempts(items: &Items) -> i64 {
    items
        .iter()
        .filter_map(|item| string(item, CODE_ATTEMPTS)?.parse::<i64>().ok())
        .sum()
}

/// Checks what a row changed against what it may change; returns a complaint if it differs.
fn check_effect(row: &Row, before: &Snapshot, after: &Snapshot) -> Option<String> {
    match row.effect {
        Effect::Nothing => (before != after).then(|| {
            let added: Vec<_> = after
                .items
                .iter()
                .filter(|i| !before.items.contains(i))
                .map(|i| (string(i, "pk"), string(i, "sk")))
                .collect();
            let removed: Vec<_> = before
                .items
                .iter()
                .filter(|i| !after.items.contains(i))
                .map(|i| (string(i, "pk"), string(i, "sk")))
                .collect();
            format!(
                "state changed: items added or changed {added:?}, removed or changed {removed:?}; \
                 calls {:?} -> {:?}; pushes {} -> {}",
                before.calls.per_api, after.calls.per_api, before.pushes, after.pushes
            )
        }),
        Effect::CodeAskedOnce => {
            let mut calls = before.calls.per_api.clone();
            *calls.entry("api_query_auth".into()).or_default() += 1;
            // The session counts the code tried; nothing else changes.
            let unchanged = without_attempts(&after.items) == without_attempts(&before.items)
                && attempts(&after.items) == attempts(&before.items) + 1
                && after.pushes == before.pushes;
            (!(unchanged && after.calls.per_api == calls)).then(|| {
                format!(
                    "expected one api_query_auth call and nothing stored: items unchanged \
                     {unchanged}, calls {:?} -> {:?}",
                    before.calls.per_api, after.calls.per_api
                )
            })
        }
    }
}

/// The receiver as deployed: the default replay window, on its own loopback origin.
async fn deployed_receiver(s: &Service) -> DevServer {
    let mut config = config(&s.component, "wxopen/local");
    config.wechat_api_base = s.sandbox.base_url().trim_end_matches('/').to_owned();
    assert_eq!(
        config.push_timestamp_tolerance,
        wxopen::Config::DEFAULT_PUSH_TIMESTAMP_TOLERANCE
    );
    let receiver = Arc::new(ticket_receiver::Receiver::new(&config, &s.aws));
    dev_server::serve(move |request| {
        let receiver = receiver.clone();
        async move { ticket_receiver::handle(&receiver, request).await }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn bad_inputs_get_their_exact_answer_and_change_nothing() {
    let s = Service::start().await;
    let deployed = deployed_receiver(&s).await;
    let setup = setup(&s).await;
    let rows = rows(&s, &setup);
    assert!(rows.len() >= 25);

    let mut failures = Vec::new();
    for row in &rows {
        let origin = match row.call.target {
            Target::Service => s.server.base_url(),
            Target::Deployed => deployed.base_url(),
        };
        let mut request = s
            .http
            .request(
                row.call.method.clone(),
                format!("{}{}", origin.trim_end_matches('/'), row.call.path),
            )
            .body(row.call.body.clone());
        if !row.call.body.is_empty() {
            request = request.header(CONTENT_TYPE, "text/xml");
        }
        for (name, value) in &row.call.headers {
            request = request.header(name, value);
        }
        let before = snapshot(&s).await;
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        let after = snapshot(&s).await;

        let body_ok = match &row.expect.body {
            Body::Exact(expected) => &body == expected,
            Body::Has(parts) => parts.iter().all(|p| body.contains(p.as_str())),
        };
        if status != StatusCode::from_u16(row.expect.status).unwrap() || !body_ok {
            let shown: String = body.chars().take(400).collect();
            failures.push(format!("{}: got {status} {shown:?}", row.case));
        }
        if let Some(complaint) = check_effect(row, &before, &after) {
            failures.push(format!("{}: {complaint}", row.case));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The refused codes stored nothing about an account, and no bad input bound one.
    assert!(s.account(&s.appid(1)).await.is_none());
    assert_eq!(
        s.account(&s.appid(0)).await.unwrap().merchant.as_deref(),
        Some("bad-inputs-1")
    );
    check_doc(&rows);
}

// ----- docs/bad-inputs.md -----

const DOC_START: &str = "<!-- generated by tests/tests/service/bad_inputs.rs: begin -->";
const DOC_END: &str = "<!-- generated by tests/tests/service/bad_inputs.rs: end -->";

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/bad-inputs.md")
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    let mut section = "";
    for row in rows {
        let route = if row.case.starts_with("links") {
            "auth-link: `POST /links` (behind IAM)"
        } else if row.case.starts_with("link") {
            "auth-link: `GET /authorize`"
        } else if row.case.starts_with("callback") {
            "auth-callback: `GET /authorize/callback`"
        } else if row.case.starts_with("message URL") {
            "ticket-receiver: `POST /wechat/authorizers/{appid}/events` (message URL)"
        } else if row.case.starts_with("tokens") {
            "token-vendor: `GET /tokens/...` (behind IAM)"
        } else if row.case.starts_with("web login") {
            "user-identity: `GET /oauth/{appid}/authorize`, `GET /oauth/{appid}/callback` (web login)"
        } else if row.case.starts_with("users") {
            "user-identity: `/miniprogram/{appid}/login`, `/jssdk/{appid}/config`, `/.well-known/jwks.json`"
        } else {
            "ticket-receiver: `POST /wechat/component/events`"
        };
        if route != section {
            section = route;
            out.push_str(&format!(
                "\n### {route}\n\n| case | request | expected response | changes |\n|---|---|---|---|\n"
            ));
        }
        let expected = match &row.expect.body {
            Body::Exact(body) => format!("{} `{}`", row.expect.status, cell(body)),
            Body::Has(parts) => format!(
                "{}, body containing {}",
                row.expect.status,
                parts
                    .iter()
                    .map(|p| format!("`{}`", cell(p)))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        };
        let changes = match row.effect {
            Effect::Nothing => "nothing",
            Effect::CodeAskedOnce => {
                "one api_query_auth call; the session counts one code tried; nothing else stored"
            }
        };
        out.push_str(&format!(
            "| {} | {} | {expected} | {changes} |\n",
            cell(row.case),
            cell(row.request)
        ));
    }
    out
}

/// docs/bad-inputs.md holds the table as generated from the rows (rewritten with UPDATE_DOCS=1).
fn check_doc(rows: &[Row]) {
    let generated = render(rows);
    let path = doc_path();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let current = text
        .split_once(DOC_START)
        .and_then(|(_, rest)| rest.split_once(DOC_END))
        .map(|(table, _)| table);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let (head, tail) = match text.split_once(DOC_START) {
            Some((head, rest)) => (
                head.to_owned(),
                rest.split_once(DOC_END)
                    .map(|(_, t)| t.to_owned())
                    .unwrap_or_default(),
            ),
            None => (text.clone(), "\n".to_owned()),
        };
        std::fs::write(
            &path,
            format!("{head}{DOC_START}\n{generated}\n{DOC_END}{tail}"),
        )
        .unwrap();
        return;
    }
    assert_eq!(
        current.map(str::trim),
        Some(generated.trim()),
        "docs/bad-inputs.md is out of date: UPDATE_DOCS=1 cargo test -p wxopen-tests --test bad_inputs"
    );
}
