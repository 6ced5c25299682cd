//! The small, hostile-input-proof XML reader WeChat's payloads need.
//!
//! WeChat sends one `<xml>` root with text or CDATA children. Anything that could make a parser
//! expand or fetch something (a DOCTYPE, an entity declaration, a reference to an undeclared
//! entity) or is an instruction to some other parser (a processing instruction, an XML
//! declaration anywhere but at the very start) is refused outright, before and after decryption.
//!
//! These are refused where they are markup, as the reader meets them, never by searching the
//! text: a user who writes `<!DOCTYPE html>` sends it escaped or in CDATA, and those are their
//! words, handed on as written.

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;

/// Bounds that keep a parse cheap whatever the input.
const MAX_DEPTH: usize = 8;
const MAX_FIELDS: usize = 256;
/// WeChat's XML has no attributes; a bound keeps an element with thousands of them out.
const MAX_ATTRIBUTES: usize = 16;

/// Why an XML payload is refused; WeChat's code for all of them is -40002.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// A DOCTYPE or entity declaration.
    #[error("XML with a DOCTYPE or entity declaration is refused (-40002 ParseXmlError)")]
    Doctype,
    /// A reference to an entity XML does not predefine.
    #[error("XML references an unknown entity (-40002 ParseXmlError)")]
    UnknownEntity,
    /// Not well-formed XML.
    #[error("XML is malformed: {0} (-40002 ParseXmlError)")]
    Malformed(String),
    /// Deeper, wider or with more attributes than WeChat ever sends.
    #[error("XML is nested or repeated beyond what WeChat sends (-40002 ParseXmlError)")]
    TooLarge,
    /// WeChat sends none; a processing instruction is an instruction to some other parser.
    #[error("XML with a processing instruction is refused (-40002 ParseXmlError)")]
    ProcessingInstruction,
}

impl XmlError {
    /// WeChat's error code: -40002 (ParseXmlError).
    pub fn code(&self) -> i32 {
        -40002
    }
}

/// The leaves of a document as (path below the root, text) pairs, in document order.
/// Nested elements are joined with `/`, e.g. `info/name`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value at `path`.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == path)
            .map(|(_, value)| value.as_str())
    }

    /// Every (path, text) pair, in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The pairs, owned.
    pub fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }

    /// A short digest of every pair: the same fields, the same digest (telling a retried push
    /// from a new one).
    pub fn digest(&self) -> String {
        use sha1::{Digest, Sha1};
        let mut hasher = Sha1::new();
        for (name, value) in &self.0 {
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(value.as_bytes());
            hasher.update([0]);
        }
        hex::encode(&hasher.finalize()[..8])
    }

    /// The pairs whose path `keep` accepts.
    pub fn filtered(&self, keep: impl Fn(&str) -> bool) -> Self {
        Self(
            self.0
                .iter()
                .filter(|(name, _)| keep(name))
                .cloned()
                .collect(),
        )
    }
}

/// Parses one document; the root's own name is not checked (WeChat always sends `xml`).
pub fn parse(input: &str) -> Result<Fields, XmlError> {
    let mut fields = Vec::with_capacity(16);
    for_each_field(input, |path, text| {
        fields.push((path.to_owned(), text.to_owned()));
    })?;
    Ok(Fields(fields))
}

/// Parses one document as [`parse`] does, with the same checks and bounds, handing each leaf
/// to `field` as (path below the root, text) in document order instead of keeping them: a
/// reader that wants a few fields copies only those.
pub(crate) fn for_each_field(
    input: &str,
    mut field: impl FnMut(&str, &str),
) -> Result<(), XmlError> {
    let mut reader = Reader::from_str(input);
    let malformed = |e: quick_xml::Error| XmlError::Malformed(e.to_string());

    // The open elements below the root, as the path fields are named by (`info/name`), and
    // for each open element (the root first) where its name starts in it and whether it has
    // child elements (then its text is layout only). One buffer for every name: no allocation
    // per element. The buffers are sized for what WeChat sends, so they are allocated once.
    let mut names = String::with_capacity(64);
    let mut path: Vec<(usize, bool)> = Vec::with_capacity(MAX_DEPTH);
    // The text of the element being read; kept across elements (each value is handed on).
    let mut text = String::with_capacity(512);
    let mut fields = 0;
    let mut seen_root = false;
    loop {
        // Where this event starts: markup always starts a read of its own, so when the reader
        // fails on a declaration, this is where its `<` is.
        let at = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| refused_markup(input, at).unwrap_or_else(|| malformed(e)))?;
        match event {
            Event::Start(start) => {
                check_attributes(&start)?;
                open_element(&mut path, &mut seen_root)?;
                let from = names.len();
                if !path.is_empty() {
                    push_name(&mut names, path.len(), start.name().as_ref());
                }
                path.push((from, false));
                text.clear();
            }
            Event::Empty(start) => {
                check_attributes(&start)?;
                open_element(&mut path, &mut seen_root)?;
                if !path.is_empty() {
                    let from = names.len();
                    push_name(&mut names, path.len(), start.name().as_ref());
                    push_field(&mut fields, &mut field, &names, "")?;
                    names.truncate(from);
                }
            }
            Event::End(_) => {
                let (from, had_children) =
                    path.pop().expect("quick-xml checks that ends match starts");
                if !path.is_empty() && !had_children {
                    push_field(&mut fields, &mut field, &names, &text)?;
                }
                names.truncate(from);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(c) => text.push_str(&c.xml10_content()),
            Event::GeneralRef(r) => {
                if let Some(ch) = r.resolve_char_ref().map_err(malformed)? {
                    text.push(ch);
                } else {
                    let name = r.into_inner();
                    let value = resolve_predefined_entity(&name).ok_or(XmlError::UnknownEntity)?;
                    text.push_str(value);
                }
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::PI(_) => return Err(XmlError::ProcessingInstruction),
            // `<?xml ...?>` is a declaration only as the document's very first bytes; anywhere
            // else it is an instruction like any other.
            Event::Decl(_) if at != 0 => return Err(XmlError::ProcessingInstruction),
            Event::Decl(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !path.is_empty() {
        return Err(XmlError::Malformed("unclosed element".into()));
    }
    if !seen_root {
        return Err(XmlError::Malformed("no root element".into()));
    }
    Ok(())
}

/// Checks the document's shape before an element opens, and marks its parent as a container.
fn open_element(path: &mut [(usize, bool)], seen_root: &mut bool) -> Result<(), XmlError> {
    let depth = path.len();
    match path.last_mut() {
        None if *seen_root => Err(XmlError::Malformed("more than one root element".into())),
        None => {
            *seen_root = true;
            Ok(())
        }
        Some(_) if depth >= MAX_DEPTH => Err(XmlError::TooLarge),
        Some((_, has_children)) => {
            *has_children = true;
            Ok(())
        }
    }
}

/// Attributes are never read; they are only counted, without the duplicate check, whose cost
/// grows with the square of their number.
fn check_attributes(start: &quick_xml::events::BytesStart<'_>) -> Result<(), XmlError> {
    let mut attributes = start.attributes();
    attributes.with_checks(false);
    if attributes.take(MAX_ATTRIBUTES + 1).count() > MAX_ATTRIBUTES {
        return Err(XmlError::TooLarge);
    }
    Ok(())
}

/// Appends an element below the root, with `open` elements around it, to the path of names.
fn push_name(names: &mut String, open: usize, name: &str) {
    if open > 1 {
        names.push('/');
    }
    names.push_str(name);
}

/// Hands on a leaf under its path below the root, counting it against the bound.
fn push_field(
    count: &mut usize,
    field: &mut impl FnMut(&str, &str),
    path: &str,
    value: &str,
) -> Result<(), XmlError> {
    if *count >= MAX_FIELDS {
        return Err(XmlError::TooLarge);
    }
    *count += 1;
    field(path, value);
    Ok(())
}

/// What a read that failed at `at` was, when it was a declaration this reader refuses anyway
/// (`<!ENTITY` outside a DOCTYPE, which the reader does not know, or an unclosed `<!DOCTYPE`).
/// Only the markup the reader was reading is looked at, never the text. (An unclosed `<?` is
/// only a cut document: malformed.)
fn refused_markup(input: &str, at: usize) -> Option<XmlError> {
    let markup = input.as_bytes().get(at..)?;
    let starts = |prefix: &[u8]| {
        markup
            .get(..prefix.len())
            .is_some_and(|m| m.eq_ignore_ascii_case(prefix))
    };
    (starts(b"<!DOCTYPE") || starts(b"<!ENTITY")).then_some(XmlError::Doctype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_cdata_and_nested_leaves() {
        let fields = parse(
            "<?xml version=\"1.0\"?><xml><AppId><![CDATA[wx1]]></AppId><CreateTime>1413192605</CreateTime>\
             <info><name>a &amp; b &#20013;</name></info><Empty/></xml>",
        )
        .unwrap();
        assert_eq!(fields.get("AppId"), Some("wx1"));
        assert_eq!(fields.get("CreateTime"), Some("1413192605"));
        assert_eq!(fields.get("info/name"), Some("a & b 中"));
        assert_eq!(fields.get("Empty"), Some(""));
        assert_eq!(fields.get("missing"), None);
    }

    #[test]
    fn refuses_doctype_and_entities_where_they_are_markup() {
        for doc in [
            "<!DOCTYPE xml [<!ENTITY a \"b\">]><xml><A>&a;</A></xml>",
            "<!doctype xml><xml/>",
            "<!DocType xml><xml/>",
            "<!DOCTYPE><xml/>",
            "<!DOCTYPE xml",
            "<xml><A>x</A></xml><!DOCTYPE x>",
            "<xml><A>x<!DOCTYPE x></A></xml>",
            "<xml><A><!ENTITY x SYSTEM \"file:///etc/passwd\"></A></xml>",
            "<!entity x \"y\"><xml/>",
            "<xml><A>x</A><!Entity x \"y\"></xml>",
        ] {
            assert_eq!(parse(doc), Err(XmlError::Doctype), "{doc}");
        }
        assert_eq!(
            parse("<xml><A>&lol;</A></xml>"),
            Err(XmlError::UnknownEntity)
        );
    }

    #[test]
    fn a_users_words_about_markup_are_read_as_written() {
        let words = [
            "see <!DOCTYPE html> in my text",
            "<!ENTITY x SYSTEM \"file:///etc/passwd\">",
            "<?php echo 1; ?> and <?xml version=\"1.0\"?>",
            "<!doctype x [<!entity a \"&a;\">]>",
        ];
        for word in words {
            let escape = |text: &str| {
                text.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            };
            for spelled in [
                format!("<![CDATA[{word}]]>"),
                escape(word),
                format!("<![CDATA[{}]]>{}", &word[..5], escape(&word[5..])),
            ] {
                let doc = format!("<?xml version=\"1.0\"?><xml><Content>{spelled}</Content></xml>");
                assert_eq!(parse(&doc).unwrap().get("Content"), Some(word), "{doc}");
            }
        }
        // In a comment, the same words are no markup either (and are not read).
        let commented = parse("<xml><!-- <!DOCTYPE x> <?pi?> --><A>1</A></xml>").unwrap();
        assert_eq!(commented.into_vec(), vec![("A".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn refuses_malformed_and_oversized_documents() {
        for doc in [
            "",
            "<xml><A>1</B></xml>",
            "<xml><A>1</A>",
            "plain",
            "<a/><b/>",
            "<xml><?pi",
            "<?",
        ] {
            assert!(matches!(parse(doc), Err(XmlError::Malformed(_))), "{doc:?}");
        }
        let deep = format!("{}{}", "<a>".repeat(20), "</a>".repeat(20));
        assert_eq!(parse(&deep), Err(XmlError::TooLarge));
        let wide = format!("<xml>{}</xml>", "<A>1</A>".repeat(300));
        assert_eq!(parse(&wide), Err(XmlError::TooLarge));
        let attributes: String = (0..17).map(|i| format!(" a{i}=\"1\"")).collect();
        assert_eq!(
            parse(&format!("<xml><A{attributes}>1</A></xml>")),
            Err(XmlError::TooLarge)
        );
        assert_eq!(
            parse(&format!("<xml{attributes}/>")),
            Err(XmlError::TooLarge)
        );
        let sixteen: String = (0..16).map(|i| format!(" a{i}=\"1\"")).collect();
        assert_eq!(
            parse(&format!("<xml><A{sixteen}>1</A></xml>"))
                .unwrap()
                .get("A"),
            Some("1")
        );
    }

    #[test]
    fn refuses_processing_instructions_but_not_the_declaration() {
        assert_eq!(
            parse("<?xml version=\"1.0\"?><xml><A>1</A></xml>")
                .unwrap()
                .get("A"),
            Some("1")
        );
        for doc in [
            "<?xml-stylesheet href=\"http://x/\"?><xml/>",
            "<xml><A><?php echo 1; ?></A></xml>",
            "<xml/><?pi?>",
            "<xml><?XML version=\"1.0\"?></xml>",
            "<xml><A>1</A><?xml version=\"1.0\"?></xml>",
            " <?xml version=\"1.0\"?><xml/>",
            "<?xml version=\"1.0\"?><?xml version=\"1.0\"?><xml/>",
            "<??><xml/>",
        ] {
            assert_eq!(parse(doc), Err(XmlError::ProcessingInstruction), "{doc}");
        }
    }
}
