//! Reading the flat XML WeChat's messages and the platform's replies are made of: the text of
//! each child of the root, by name. The sandbox only reads what the platform under test sends,
//! so a malformed document is an error to report, not an attack to survive.

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::Event;

/// The text (or CDATA) of each direct child of the root element, by name.
#[derive(Debug, Default)]
pub struct Fields(HashMap<String, String>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// Reads the children of the root element.
pub fn fields(document: &str) -> Result<Fields, String> {
    let mut reader = Reader::from_str(document);
    let mut fields = HashMap::new();
    let mut open: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(start) => {
                open.push(start.name().as_ref().to_owned());
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(c) => text.push_str(&c.xml10_content()),
            Event::GeneralRef(r) => {
                let name = r.into_inner();
                let value = quick_xml::escape::resolve_predefined_entity(&name)
                    .ok_or_else(|| format!("unknown entity &{name};"))?;
                text.push_str(value);
            }
            Event::End(_) => {
                let name = open.pop().ok_or("an end without a start")?;
                if open.len() == 1 {
                    fields.insert(name, std::mem::take(&mut text));
                } else {
                    text.clear();
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if open.is_empty() {
        Ok(Fields(fields))
    } else {
        Err("an element is not closed".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_of_the_root_by_name() {
        let fields =
            fields("<xml><A><![CDATA[x <y>]]></A><B>1 &amp; 2</B><C><D>deep</D></C></xml>")
                .unwrap();
        assert_eq!(fields.get("A"), Some("x <y>"));
        assert_eq!(fields.get("B"), Some("1 & 2"));
        assert_eq!((fields.get("C"), fields.get("D")), (Some(""), None));
        assert!(super::fields("<xml><A>").is_err());
    }
}
