//! Parses a buffered request body by its content type (JSON, form, multipart,
//! XML, text) into values that each carry a location (`body:/items/3/price`,
//! `form.name`, `multipart.avatar.filename`, `xml:/order/item@id`). Parsing is
//! bounded: nesting depth, part count and value count are capped, and broken
//! input becomes [`ParsedBody::Invalid`] with a reason, never a panic.

use bytes::Bytes;
use memchr::memmem;
use serde_json::Value;

/// Deepest JSON / XML nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// Most multipart parts or XML values collected from one body.
pub const MAX_ITEMS: usize = 10_000;

#[derive(Debug)]
pub enum ParsedBody {
    Empty,
    Json(Value),
    Form(Vec<(String, String)>),
    Multipart(Vec<MultipartPart>),
    Xml(Vec<(String, String)>),
    Text(String),
    /// A content type the gateway does not look inside.
    Binary,
    Invalid {
        kind: BodyKind,
        reason: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
    Multipart,
    Xml,
    Text,
    Binary,
}

#[derive(Debug)]
pub struct MultipartPart {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
    /// The `Content-Disposition` quoted a name with a backslash escape
    /// (`name="cv.p\\d\\f"`): read here as RFC 9110 says (`cv.pdf`), but
    /// taken literally by HTML-style parsers, so the two disagree.
    pub escaped_name: bool,
}

/// Classifies a `Content-Type` value (parameters and case ignored).
pub fn body_kind(content_type: Option<&str>) -> BodyKind {
    // A body without a type is parsed by guesswork downstream (many
    // frameworks sniff JSON): inspect it as text rather than not at all.
    let Some(ct) = content_type else {
        return BodyKind::Text;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => BodyKind::Json,
        "application/x-www-form-urlencoded" => BodyKind::Form,
        "multipart/form-data" => BodyKind::Multipart,
        "application/xml" | "text/xml" => BodyKind::Xml,
        e if e.ends_with("+json") => BodyKind::Json,
        e if e.ends_with("+xml") => BodyKind::Xml,
        e if e.starts_with("text/") => BodyKind::Text,
        _ => BodyKind::Binary,
    }
}

impl ParsedBody {
    pub fn parse(content_type: Option<&str>, body: &Bytes) -> ParsedBody {
        if body.is_empty() {
            return ParsedBody::Empty;
        }
        let kind = body_kind(content_type);
        let result = match kind {
            BodyKind::Json => parse_json(body).map(ParsedBody::Json),
            BodyKind::Form => Ok(ParsedBody::Form(
                form_urlencoded::parse(body)
                    .take(MAX_ITEMS)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            )),
            BodyKind::Multipart => content_type
                .and_then(boundary_of)
                .ok_or_else(|| "multipart body without a boundary parameter".to_owned())
                .and_then(|b| parse_multipart(body, &b))
                .map(ParsedBody::Multipart),
            BodyKind::Xml => parse_xml(body).map(ParsedBody::Xml),
            BodyKind::Text => std::str::from_utf8(body)
                .map(|s| ParsedBody::Text(s.to_owned()))
                .map_err(|e| format!("text body is not UTF-8: {e}")),
            BodyKind::Binary => Ok(ParsedBody::Binary),
        };
        result.unwrap_or_else(|reason| ParsedBody::Invalid { kind, reason })
    }

    /// Calls `visit(location, value)` for every leaf value (and every JSON key,
    /// form field name and multipart part name, as `location` + `#key`), in
    /// document order.
    pub fn for_each_value(&self, mut visit: impl FnMut(&str, &str)) {
        match self {
            ParsedBody::Json(v) => {
                let mut pointer = String::from("body:");
                visit_json(v, &mut pointer, &mut visit);
            }
            ParsedBody::Form(pairs) => {
                for (k, v) in pairs {
                    visit(&format!("form.{k}#key"), k);
                    visit(&format!("form.{k}"), v);
                }
            }
            ParsedBody::Multipart(parts) => {
                for p in parts {
                    visit(&format!("multipart.{}#key", p.name), &p.name);
                    if let Some(f) = &p.filename {
                        visit(&format!("multipart.{}.filename", p.name), f);
                    }
                    if p.filename.is_none()
                        && let Ok(text) = std::str::from_utf8(&p.data)
                    {
                        visit(&format!("multipart.{}", p.name), text);
                    }
                }
            }
            ParsedBody::Xml(values) => {
                for (loc, v) in values {
                    visit(loc, v);
                }
            }
            ParsedBody::Text(t) => visit("body", t),
            ParsedBody::Empty | ParsedBody::Binary | ParsedBody::Invalid { .. } => {}
        }
    }
}

fn parse_json(body: &[u8]) -> Result<Value, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    if json_depth(&value, 0) > MAX_DEPTH {
        return Err(format!("JSON nested deeper than {MAX_DEPTH} levels"));
    }
    Ok(value)
}

fn json_depth(v: &Value, depth: usize) -> usize {
    if depth > MAX_DEPTH {
        return depth;
    }
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| json_depth(x, depth + 1))
            .max()
            .unwrap_or(depth + 1),
        Value::Object(o) => o
            .values()
            .map(|x| json_depth(x, depth + 1))
            .max()
            .unwrap_or(depth + 1),
        _ => depth,
    }
}

fn visit_json(v: &Value, pointer: &mut String, visit: &mut impl FnMut(&str, &str)) {
    let len = pointer.len();
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                pointer.push('/');
                escape_pointer_token(k, pointer);
                let key_len = pointer.len();
                pointer.push_str("#key");
                visit(pointer, k);
                pointer.truncate(key_len);
                visit_json(child, pointer, visit);
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointer.push('/');
                pointer.push_str(&i.to_string());
                visit_json(child, pointer, visit);
                pointer.truncate(len);
            }
        }
        Value::String(s) => visit(ensure_root(pointer), s),
        Value::Number(n) => visit(ensure_root(pointer), &n.to_string()),
        Value::Bool(b) => visit(ensure_root(pointer), if *b { "true" } else { "false" }),
        Value::Null => {}
    }
}

fn ensure_root(pointer: &mut String) -> &str {
    if pointer == "body:" {
        pointer.push('/');
    }
    pointer
}

fn escape_pointer_token(token: &str, out: &mut String) {
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty() && value.len() <= 200).then(|| value.to_owned())
    })
}

fn parse_multipart(body: &Bytes, boundary: &str) -> Result<Vec<MultipartPart>, String> {
    let delimiter = format!("--{boundary}");
    let finder = memmem::Finder::new(delimiter.as_bytes());
    let mut parts = Vec::new();
    let Some(first) = finder.find(body) else {
        return Err("multipart body has no boundary delimiter".to_owned());
    };
    let mut pos = first + delimiter.len();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        let rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("multipart delimiter not followed by CRLF")?;
        let head_end =
            memmem::find(rest, b"\r\n\r\n").ok_or("multipart part without header end")?;
        let head = std::str::from_utf8(&rest[..head_end])
            .map_err(|_| "multipart part headers are not UTF-8")?;
        let data_start = pos + 2 + head_end + 4;
        let next = finder
            .find(&body[data_start..])
            .ok_or("multipart body is not terminated")?;
        let data_end = (data_start + next)
            .checked_sub(2)
            .filter(|end| *end >= data_start && &body[*end..*end + 2] == b"\r\n")
            .ok_or("multipart part data not followed by CRLF before the delimiter")?;
        let mut part = MultipartPart {
            name: String::new(),
            filename: None,
            content_type: None,
            data: body.slice(data_start..data_end),
            escaped_name: false,
        };
        for line in head.split("\r\n") {
            let Some((name, value)) = line.split_once(':') else {
                return Err("malformed multipart part header".to_owned());
            };
            if name.trim().eq_ignore_ascii_case("content-disposition") {
                part.escaped_name |= quoted_backslash(value);
                for (k, v) in disposition_params(value) {
                    match k.to_ascii_lowercase().as_str() {
                        "name" => part.name = v,
                        "filename" => part.filename = Some(v),
                        "filename*" => part.filename = Some(extended_value(&v)),
                        _ => {}
                    }
                }
            } else if name.trim().eq_ignore_ascii_case("content-type") {
                part.content_type = Some(value.trim().to_owned());
            }
        }
        parts.push(part);
        if parts.len() > MAX_ITEMS {
            return Err(format!("more than {MAX_ITEMS} multipart parts"));
        }
        pos = data_start + next + delimiter.len();
    }
}

/// Whether a quoted string in a header value holds a backslash.
fn quoted_backslash(value: &str) -> bool {
    let mut quoted = false;
    value.bytes().any(|b| {
        if b == b'"' {
            quoted = !quoted;
        }
        quoted && b == b'\\'
    })
}

/// The parameters of a `Content-Disposition` value (after its type), with
/// quoted strings read as RFC 9110 says: a `;` inside quotes does not end the
/// value and `\\x` stands for `x`. (Splitting on every `;` would hand the
/// checks a cut-down file name: `filename="a;../../x"`.)
fn disposition_params(value: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = value.chars().peekable();
    // Skip the disposition type (`form-data`).
    for c in chars.by_ref() {
        if c == ';' {
            break;
        }
    }
    loop {
        let mut name = String::new();
        for c in chars.by_ref() {
            if c == '=' || c == ';' {
                if c == ';' {
                    name.clear();
                    continue;
                }
                break;
            }
            name.push(c);
        }
        let name = name.trim().to_owned();
        if name.is_empty() {
            return params;
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut v = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            v.push(escaped);
                        }
                    }
                    c => v.push(c),
                }
            }
            // Anything after the closing quote up to the next `;` is junk.
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
            }
        } else {
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
                v.push(c);
            }
            v = v.trim().to_owned();
        }
        params.push((name, v));
    }
}

/// An RFC 8187 extended value (`UTF-8''%e2%82%ac.txt`), percent-decoded; a
/// value that is not one is returned as it is.
fn extended_value(v: &str) -> String {
    let mut pieces = v.splitn(3, '\'');
    match (pieces.next(), pieces.next(), pieces.next()) {
        (Some(_charset), Some(_language), Some(encoded)) => {
            percent_encoding::percent_decode_str(encoded)
                .decode_utf8_lossy()
                .into_owned()
        }
        _ => v.to_owned(),
    }
}

fn parse_xml(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut values = Vec::new();
    let mut buf = Vec::new();
    let location = |path: &[String]| format!("xml:/{}", path.join("/"));
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("invalid XML at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let is_empty = matches!(event, Event::Empty(_));
                path.push(name);
                if path.len() > MAX_DEPTH {
                    return Err(format!("XML nested deeper than {MAX_DEPTH} levels"));
                }
                for attr in e.attributes() {
                    let attr = attr.map_err(|e| format!("invalid XML attribute: {e}"))?;
                    let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
                    let value = String::from_utf8_lossy(&attr.value).into_owned();
                    values.push((format!("{}@{key}", location(&path)), value));
                }
                if is_empty {
                    path.pop();
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = String::from_utf8_lossy(t.as_ref()).into_owned();
                values.push((location(&path), text));
            }
            Event::CData(t) => {
                values.push((location(&path), String::from_utf8_lossy(&t).into_owned()));
            }
            Event::DocType(t) => {
                values.push((
                    "xml:!DOCTYPE".to_owned(),
                    String::from_utf8_lossy(&t).into_owned(),
                ));
            }
            Event::Eof => break,
            _ => {}
        }
        if values.len() > MAX_ITEMS {
            return Err(format!("more than {MAX_ITEMS} XML values"));
        }
        buf.clear();
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(ct: &str, body: &str) -> Vec<(String, String)> {
        let parsed = ParsedBody::parse(Some(ct), &Bytes::from(body.to_owned()));
        let mut out = Vec::new();
        parsed.for_each_value(|l, v| out.push((l.to_owned(), v.to_owned())));
        out
    }

    #[test]
    fn json_values_carry_pointers() {
        let v = values(
            "application/json; charset=utf-8",
            r#"{"a":{"b/c":[1,"x"]},"ok":true}"#,
        );
        assert!(v.contains(&("body:/a/b~1c/1".into(), "x".into())));
        assert!(v.contains(&("body:/a/b~1c/0".into(), "1".into())));
        assert!(v.contains(&("body:/a#key".into(), "a".into())));
        assert!(v.contains(&("body:/ok".into(), "true".into())));
        assert_eq!(
            values("application/vnd.api+json", "\"root\""),
            [("body:/".into(), "root".into())]
        );
    }

    #[test]
    fn broken_and_deep_json_is_invalid_not_a_panic() {
        let broken = ParsedBody::parse(Some("application/json"), &Bytes::from_static(b"{\"a\":"));
        assert!(matches!(
            broken,
            ParsedBody::Invalid {
                kind: BodyKind::Json,
                ..
            }
        ));
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let deep = ParsedBody::parse(Some("application/json"), &Bytes::from(deep));
        assert!(matches!(deep, ParsedBody::Invalid { .. }));
    }

    #[test]
    fn form_values_are_decoded() {
        let v = values(
            "application/x-www-form-urlencoded",
            "name=O%27Brien&tags=a+b",
        );
        assert!(v.contains(&("form.name".into(), "O'Brien".into())));
        assert!(v.contains(&("form.tags".into(), "a b".into())));
    }

    #[test]
    fn multipart_parameters_keep_quoted_semicolons_and_escapes() {
        let params =
            disposition_params(r#" form-data; name="file"; filename="a;../../etc/passwd"; x=1"#);
        assert_eq!(
            params,
            vec![
                ("name".to_owned(), "file".to_owned()),
                ("filename".to_owned(), "a;../../etc/passwd".to_owned()),
                ("x".to_owned(), "1".to_owned()),
            ]
        );
        let params = disposition_params(r#"form-data; name=f; filename="x\"; y=\\../z""#);
        assert_eq!(
            params[1],
            ("filename".to_owned(), r#"x"; y=\../z"#.to_owned())
        );
        assert_eq!(
            extended_value("UTF-8''%e2%82%ac%2F..%2Fx.txt"),
            "€/../x.txt"
        );
        assert_eq!(extended_value("plain.txt"), "plain.txt");
        let body = Bytes::from_static(
            b"--B\r\nContent-Disposition: form-data; name=\"up\"; filename=\"a;../../x.php\"\r\n\r\ndata\r\n--B--\r\n",
        );
        let parts = parse_multipart(&body, "B").expect("parses");
        assert_eq!(parts[0].name, "up");
        assert_eq!(parts[0].filename.as_deref(), Some("a;../../x.php"));
    }

    #[test]
    fn backslash_escapes_in_quoted_names_are_flagged() {
        let body = "--B\r\nContent-Disposition: form-data; name=\"cv.p\\d\\f\"; filename=\"cv.pdf\"\r\n\r\nx\r\n--B--\r\n";
        let parsed = ParsedBody::parse(Some("multipart/form-data; boundary=B"), &Bytes::from(body));
        let ParsedBody::Multipart(parts) = &parsed else {
            panic!("expected multipart, got {parsed:?}");
        };
        assert_eq!(parts[0].name, "cv.pdf");
        assert!(parts[0].escaped_name);
        assert!(!quoted_backslash(
            r#" form-data; name=a\b; filename="c.txt""#
        ));
    }

    #[test]
    fn multipart_parts_and_filenames() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../a.txt\"\r\n\
                    Content-Type: text/plain\r\n\r\nDATA\r\n--XyZ--\r\n";
        let parsed = ParsedBody::parse(
            Some("multipart/form-data; boundary=\"XyZ\""),
            &Bytes::from(body),
        );
        let ParsedBody::Multipart(parts) = &parsed else {
            panic!("expected multipart, got {parsed:?}");
        };
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| !p.escaped_name));
        assert_eq!(&parts[1].data[..], b"DATA");
        assert_eq!(parts[1].content_type.as_deref(), Some("text/plain"));
        let v = values("multipart/form-data; boundary=XyZ", body);
        assert!(v.contains(&("multipart.title".into(), "hello".into())));
        assert!(v.contains(&("multipart.file.filename".into(), "../a.txt".into())));
        assert!(v.contains(&("multipart.file#key".into(), "file".into())));
        let truncated = ParsedBody::parse(
            Some("multipart/form-data; boundary=XyZ"),
            &Bytes::from_static(b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nno end"),
        );
        assert!(matches!(truncated, ParsedBody::Invalid { .. }));
    }

    #[test]
    fn xml_text_attributes_and_doctype() {
        let v = values(
            "application/xml",
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><order id=\"7\"><item>pen</item></order>",
        );
        assert!(v.contains(&("xml:/order@id".into(), "7".into())));
        assert!(v.contains(&("xml:/order/item".into(), "pen".into())));
        assert!(
            v.iter()
                .any(|(l, val)| l == "xml:!DOCTYPE" && val.contains("ENTITY"))
        );
        let bad = ParsedBody::parse(Some("text/xml"), &Bytes::from_static(b"<a><b></a>"));
        assert!(matches!(
            bad,
            ParsedBody::Invalid {
                kind: BodyKind::Xml,
                ..
            }
        ));
    }
}
