//! Deserializes parameters by their OpenAPI style — `simple`, `label`,
//! `matrix` (path), `form`, `spaceDelimited`, `pipeDelimited`, `deepObject`
//! (query), `simple` (header), `form` (cookie), each with `explode` on or
//! off — into JSON values typed by the parameter's schema, so one schema
//! validator serves parameters and bodies. Splitting happens on the raw
//! text before percent-decoding, so an encoded delimiter (`%2C`) stays part
//! of a value. Every function takes untrusted text and returns an error
//! reason rather than panicking; none of them echoes the text in a reason.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use crate::schema::{SchemaArena, SchemaId, TypeSet};
use crate::spec::{Parameter, Shape, Style};

/// A parameter value after style parsing, before typing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Raw<'a> {
    Scalar(Cow<'a, str>),
    List(Vec<Cow<'a, str>>),
    Pairs(Vec<(Cow<'a, str>, Cow<'a, str>)>),
}

/// Percent-decodes a path or header fragment (no `+` rule).
pub fn decode(text: &str) -> Result<Cow<'_, str>, String> {
    if !text.contains('%') {
        return Ok(Cow::Borrowed(text));
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map_err(|_| "not valid UTF-8 once percent-decoded".to_owned())
}

/// Decodes a query component: `+` is a space, then percent escapes.
pub fn decode_query(text: &str) -> Result<Cow<'_, str>, String> {
    if !text.contains(['%', '+']) {
        return Ok(Cow::Borrowed(text));
    }
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|c| Cow::Owned(c.into_owned()))
        .map_err(|_| "not valid UTF-8 once percent-decoded".to_owned())
}

fn pairs_of<'a>(
    items: impl Iterator<Item = &'a str>,
    decode: fn(&'a str) -> Result<Cow<'a, str>, String>,
) -> Result<Raw<'a>, String> {
    let items: Vec<&str> = items.collect();
    if !items.len().is_multiple_of(2) {
        return Err("object value needs name,value pairs".to_owned());
    }
    items
        .chunks(2)
        .map(|kv| Ok((decode(kv[0])?, decode(kv[1])?)))
        .collect::<Result<_, String>>()
        .map(Raw::Pairs)
}

fn key_values<'a>(
    items: impl Iterator<Item = &'a str>,
    decode: fn(&'a str) -> Result<Cow<'a, str>, String>,
) -> Result<Raw<'a>, String> {
    items
        .filter(|i| !i.is_empty())
        .map(|item| {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| "exploded object value needs name=value items".to_owned())?;
            Ok((decode(k)?, decode(v)?))
        })
        .collect::<Result<_, String>>()
        .map(Raw::Pairs)
}

fn list<'a>(
    items: impl Iterator<Item = &'a str>,
    decode: fn(&'a str) -> Result<Cow<'a, str>, String>,
) -> Result<Raw<'a>, String> {
    items.map(decode).collect::<Result<_, _>>().map(Raw::List)
}

fn no_decode(text: &str) -> Result<Cow<'_, str>, String> {
    Ok(Cow::Borrowed(text.trim()))
}

/// `simple` style (path segments and headers): `5`, `3,4,5`,
/// `role,admin,name,Ada` or, exploded, `role=admin,name=Ada`.
fn simple<'a>(
    raw: &'a str,
    shape: Shape,
    explode: bool,
    decode: fn(&'a str) -> Result<Cow<'a, str>, String>,
) -> Result<Raw<'a>, String> {
    match (shape, explode) {
        (Shape::Primitive, _) => decode(raw).map(Raw::Scalar),
        (Shape::Array, _) => list(raw.split(','), decode),
        (Shape::Object, false) => pairs_of(raw.split(','), decode),
        (Shape::Object, true) => key_values(raw.split(','), decode),
    }
}

/// A path parameter's raw (percent-encoded) capture, by style.
pub fn parse_path<'a>(p: &Parameter, raw: &'a str) -> Result<Raw<'a>, String> {
    match p.style {
        Style::Label => {
            let rest = raw
                .strip_prefix('.')
                .ok_or_else(|| "label-style value must start with '.'".to_owned())?;
            match (p.shape, p.explode) {
                (Shape::Primitive, _) => decode(rest).map(Raw::Scalar),
                (Shape::Array, false) => list(rest.split(','), decode),
                (Shape::Array, true) => list(rest.split('.'), decode),
                (Shape::Object, false) => pairs_of(rest.split(','), decode),
                (Shape::Object, true) => key_values(rest.split('.'), decode),
            }
        }
        Style::Matrix => {
            let rest = raw
                .strip_prefix(';')
                .ok_or_else(|| "matrix-style value must start with ';'".to_owned())?;
            let named = |item: &'a str| -> Result<&'a str, String> {
                match item.split_once('=') {
                    Some((k, v)) if decode(k)? == *p.name => Ok(v),
                    _ => Err(format!("matrix-style value must be ;{}=...", p.name)),
                }
            };
            match (p.shape, p.explode) {
                (Shape::Primitive, _) => decode(named(rest)?).map(Raw::Scalar),
                (Shape::Array, false) => list(named(rest)?.split(','), decode),
                (Shape::Array, true) => {
                    let items = rest.split(';').map(named).collect::<Result<Vec<_>, _>>()?;
                    list(items.into_iter(), decode)
                }
                (Shape::Object, false) => pairs_of(named(rest)?.split(','), decode),
                (Shape::Object, true) => key_values(rest.split(';'), decode),
            }
        }
        _ => simple(raw, p.shape, p.explode, decode),
    }
}

/// A header parameter's value(s) (repeated header lines joined with `,`).
pub fn parse_header<'a>(p: &Parameter, value: &'a str) -> Result<Raw<'a>, String> {
    simple(value.trim(), p.shape, p.explode, no_decode)
}

/// A cookie parameter's value (`form` style without the name).
pub fn parse_cookie<'a>(p: &Parameter, value: &'a str) -> Result<Raw<'a>, String> {
    match (p.shape, p.explode) {
        (Shape::Primitive, _) | (Shape::Array, true) => decode(value).map(Raw::Scalar),
        (Shape::Array, false) => list(value.split(','), decode),
        (Shape::Object, _) => pairs_of(value.split(','), decode),
    }
}

/// One `name=value` piece of a query string, split but not decoded.
#[derive(Clone, Debug)]
pub struct QueryPair<'a> {
    pub key: Cow<'a, str>,
    pub raw_key: &'a str,
    pub raw_value: &'a str,
}

/// Splits a raw query string into pairs (empty pieces skipped); `Err` names
/// a key that is not valid UTF-8 once decoded.
pub fn split_query(query: &str) -> Result<Vec<QueryPair<'_>>, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|piece| {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            Ok(QueryPair {
                key: decode_query(k)?,
                raw_key: k,
                raw_value: v,
            })
        })
        .collect()
}

/// Characters that must be percent-encoded in a query value unless the
/// parameter says `allowReserved: true`. These are the RFC 3986 reserved
/// characters that no form encoder leaves bare and that no style uses as a
/// delimiter.
pub const RESERVED_UNLESS_ALLOWED: &[char] = &['[', ']', '!', '$', '\'', '(', ')'];

fn check_reserved(p: &Parameter, raw: &str) -> Result<(), String> {
    if !p.allow_reserved && raw.contains(RESERVED_UNLESS_ALLOWED) {
        return Err("reserved character not percent-encoded (the parameter does not allow reserved characters)".to_owned());
    }
    Ok(())
}

/// A query parameter's value, marking in `claimed` every pair it takes.
/// `Ok(None)` when the parameter is absent.
pub fn parse_query<'a>(
    p: &Parameter,
    arena: &SchemaArena,
    pairs: &[QueryPair<'a>],
    claimed: &mut [bool],
) -> Result<Option<Raw<'a>>, String> {
    if p.style == Style::DeepObject {
        let mut out = Vec::new();
        for (i, pair) in pairs.iter().enumerate() {
            let Some(inner) = pair
                .key
                .strip_prefix(&*p.name)
                .and_then(|k| k.strip_prefix('['))
                .and_then(|k| k.strip_suffix(']'))
            else {
                continue;
            };
            claimed[i] = true;
            if inner.contains(['[', ']']) {
                return Err("nested deepObject keys are not supported".to_owned());
            }
            check_reserved(p, pair.raw_value)?;
            out.push((Cow::Owned(inner.to_owned()), decode_query(pair.raw_value)?));
        }
        return Ok((!out.is_empty()).then_some(Raw::Pairs(out)));
    }
    if p.shape == Shape::Object && p.explode {
        // Exploded form objects spread their properties as parameters of their own.
        let mut out = Vec::new();
        for (i, pair) in pairs.iter().enumerate() {
            if claimed[i] {
                continue;
            }
            if p.schema
                .and_then(|s| arena.find_property(s, &pair.key))
                .is_some()
            {
                claimed[i] = true;
                check_reserved(p, pair.raw_value)?;
                out.push((pair.key.clone(), decode_query(pair.raw_value)?));
            }
        }
        return Ok((!out.is_empty()).then_some(Raw::Pairs(out)));
    }
    let mut mine = pairs
        .iter()
        .enumerate()
        .filter(|(_, pair)| *pair.key == *p.name)
        .map(|(i, _)| i);
    let Some(first) = mine.next() else {
        return Ok(None);
    };
    let repeated = p.shape == Shape::Array && p.explode;
    let mut count = 0usize;
    for i in std::iter::once(first).chain(mine) {
        claimed[i] = true;
        check_reserved(p, pairs[i].raw_value)?;
        count += 1;
    }
    if count > 1 && !repeated {
        return Err("given more than once".to_owned());
    }
    let raw = pairs[first].raw_value;
    Ok(Some(match (p.shape, p.style) {
        (Shape::Array, _) if p.explode => Raw::List(
            pairs
                .iter()
                .filter(|pair| *pair.key == *p.name)
                .map(|pair| decode_query(pair.raw_value))
                .collect::<Result<_, _>>()?,
        ),
        (Shape::Primitive, _) => Raw::Scalar(decode_query(raw)?),
        (Shape::Array, Style::SpaceDelimited) => split_decoded(raw, ' ', false)?,
        (Shape::Array, Style::PipeDelimited) => split_decoded(raw, '|', false)?,
        (Shape::Array, _) => list(raw.split(','), decode_query)?,
        (Shape::Object, Style::SpaceDelimited) => split_decoded(raw, ' ', true)?,
        (Shape::Object, Style::PipeDelimited) => split_decoded(raw, '|', true)?,
        (Shape::Object, _) => pairs_of(raw.split(','), decode_query)?,
    }))
}

/// spaceDelimited / pipeDelimited: the delimiter is itself encoded
/// (`%20`, `%7C`) by most clients, so split after decoding.
fn split_decoded(raw: &str, delimiter: char, as_pairs: bool) -> Result<Raw<'static>, String> {
    let decoded = decode_query(raw)?.into_owned();
    let items: Vec<Cow<'static, str>> = decoded
        .split(delimiter)
        .map(|s| Cow::Owned(s.to_owned()))
        .collect();
    if !as_pairs {
        return Ok(Raw::List(items));
    }
    if !items.len().is_multiple_of(2) {
        return Err("object value needs name,value pairs".to_owned());
    }
    let mut it = items.into_iter();
    let mut pairs = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        pairs.push((k, v));
    }
    Ok(Raw::Pairs(pairs))
}

/// Types a raw value by the parameter's schema: `"42"` becomes 42 where an
/// integer is expected, `"true"` a boolean; anything that does not parse
/// stays a string, for the validator to refuse with a type reason.
pub fn to_json(arena: &SchemaArena, p: &Parameter, raw: Raw<'_>) -> Result<Value, String> {
    if p.json_content {
        let Raw::Scalar(text) = raw else {
            return Err("a JSON-encoded parameter must be one value".to_owned());
        };
        return serde_json::from_str(&text).map_err(|_| "not valid JSON".to_owned());
    }
    Ok(match raw {
        Raw::Scalar(text) => coerce(arena, p.schema, &text),
        Raw::List(items) => {
            let item_schema = p.schema.and_then(|s| arena.find_items(s));
            Value::Array(
                items
                    .iter()
                    .map(|i| coerce(arena, item_schema, i))
                    .collect(),
            )
        }
        Raw::Pairs(pairs) => {
            let mut map = Map::new();
            for (k, v) in pairs {
                let prop = p.schema.and_then(|s| arena.find_property(s, &k));
                if map
                    .insert(k.into_owned(), coerce(arena, prop, &v))
                    .is_some()
                {
                    return Err("object value names a property twice".to_owned());
                }
            }
            Value::Object(map)
        }
    })
}

/// Types one string by a schema (see [`to_json`]).
pub fn coerce(arena: &SchemaArena, schema: Option<SchemaId>, text: &str) -> Value {
    match coerce_scalar(arena, schema, text) {
        Scalar::Number(n) => Value::Number(n),
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Null => Value::Null,
        Scalar::Text(t) => Value::String(t.to_owned()),
    }
}

/// A scalar parameter value typed by its schema, without building a JSON
/// value (the string borrows the parameter's text).
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar<'t> {
    Number(Number),
    Bool(bool),
    Null,
    Text(&'t str),
}

/// What [`coerce`] makes of one string, as a [`Scalar`].
pub fn coerce_scalar<'t>(
    arena: &SchemaArena,
    schema: Option<SchemaId>,
    text: &'t str,
) -> Scalar<'t> {
    let Some(types) = schema.and_then(|s| arena.effective_types(s)) else {
        return Scalar::Text(text);
    };
    if (types.has(TypeSet::INTEGER) || types.has(TypeSet::NUMBER))
        && let Some(n) = parse_number(text, types.has(TypeSet::NUMBER))
    {
        return Scalar::Number(n);
    }
    if types.has(TypeSet::BOOLEAN) {
        match text {
            "true" => return Scalar::Bool(true),
            "false" => return Scalar::Bool(false),
            _ => {}
        }
    }
    if types.has(TypeSet::NULL)
        && (text.is_empty() || text == "null")
        && !types.has(TypeSet::STRING)
    {
        return Scalar::Null;
    }
    Scalar::Text(text)
}

/// A JSON number from plain decimal text (no `inf`, `NaN`, hex, or spaces).
fn parse_number(text: &str, allow_fraction: bool) -> Option<Number> {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
        && text.bytes().any(|c| c.is_ascii_digit());
    if !plain {
        return None;
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(Number::from(i));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Some(Number::from(u));
    }
    if allow_fraction || text.contains(['.', 'e', 'E']) {
        // An integer-valued fraction (`2.0`) still counts as an integer.
        return text.parse::<f64>().ok().and_then(Number::from_f64);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{DocId, Target};

    fn param(style: Style, explode: bool, shape: Shape) -> Parameter {
        Parameter {
            name: "id".into(),
            header: None,
            location: crate::spec::ParamIn::Path,
            required: true,
            style,
            explode,
            allow_reserved: false,
            schema: None,
            json_content: false,
            shape,
            site: Target {
                doc: DocId(0),
                pointer: String::new(),
            },
        }
    }

    fn s(v: &str) -> Cow<'_, str> {
        Cow::Borrowed(v)
    }

    #[test]
    fn path_styles_table() {
        use Shape::*;
        use Style::*;
        let pairs = Raw::Pairs(vec![(s("role"), s("admin")), (s("firstName"), s("Alex"))]);
        let list345 = Raw::List(vec![s("3"), s("4"), s("5")]);
        // The examples of the OpenAPI specification's style table.
        let cases: Vec<(Style, bool, Shape, &str, Raw)> = vec![
            (Simple, false, Primitive, "5", Raw::Scalar(s("5"))),
            (Simple, true, Primitive, "5", Raw::Scalar(s("5"))),
            (Simple, false, Array, "3,4,5", list345.clone()),
            (Simple, true, Array, "3,4,5", list345.clone()),
            (
                Simple,
                false,
                Object,
                "role,admin,firstName,Alex",
                pairs.clone(),
            ),
            (
                Simple,
                true,
                Object,
                "role=admin,firstName=Alex",
                pairs.clone(),
            ),
            (Label, false, Primitive, ".5", Raw::Scalar(s("5"))),
            (Label, false, Array, ".3,4,5", list345.clone()),
            (Label, true, Array, ".3.4.5", list345.clone()),
            (
                Label,
                false,
                Object,
                ".role,admin,firstName,Alex",
                pairs.clone(),
            ),
            (
                Label,
                true,
                Object,
                ".role=admin.firstName=Alex",
                pairs.clone(),
            ),
            (Matrix, false, Primitive, ";id=5", Raw::Scalar(s("5"))),
            (Matrix, true, Primitive, ";id=5", Raw::Scalar(s("5"))),
            (Matrix, false, Array, ";id=3,4,5", list345.clone()),
            (Matrix, true, Array, ";id=3;id=4;id=5", list345.clone()),
            (
                Matrix,
                false,
                Object,
                ";id=role,admin,firstName,Alex",
                pairs.clone(),
            ),
            (
                Matrix,
                true,
                Object,
                ";role=admin;firstName=Alex",
                pairs.clone(),
            ),
            (Simple, false, Primitive, "a%2Cb", Raw::Scalar(s("a,b"))),
            (
                Simple,
                false,
                Array,
                "a%2Cb,c",
                Raw::List(vec![s("a,b"), s("c")]),
            ),
        ];
        for (style, explode, shape, raw, want) in cases {
            let p = param(style, explode, shape);
            assert_eq!(
                parse_path(&p, raw).unwrap(),
                want,
                "{style:?} explode={explode} {shape:?} {raw}"
            );
        }
        for (style, shape, raw) in [
            (Label, Primitive, "5"),
            (Matrix, Primitive, ";other=5"),
            (Matrix, Primitive, "id=5"),
            (Simple, Object, "role,admin,firstName"),
            (Simple, Primitive, "%ff"),
        ] {
            assert!(
                parse_path(&param(style, false, shape), raw).is_err(),
                "{style:?} {raw}"
            );
        }
    }

    #[test]
    fn query_styles_table() {
        use Shape::*;
        use Style::*;
        let arena = SchemaArena::default();
        let cases: Vec<(Style, bool, Shape, &str, Option<Raw>)> = vec![
            (Form, true, Primitive, "id=5&x=1", Some(Raw::Scalar(s("5")))),
            (
                Form,
                true,
                Primitive,
                "id=a+b%26c",
                Some(Raw::Scalar(Cow::Owned("a b&c".into()))),
            ),
            (
                Form,
                true,
                Array,
                "id=3&id=4&id=5",
                Some(Raw::List(vec![s("3"), s("4"), s("5")])),
            ),
            (
                Form,
                false,
                Array,
                "id=3,4,5",
                Some(Raw::List(vec![s("3"), s("4"), s("5")])),
            ),
            (
                Form,
                false,
                Object,
                "id=role,admin",
                Some(Raw::Pairs(vec![(s("role"), s("admin"))])),
            ),
            (
                SpaceDelimited,
                false,
                Array,
                "id=3%204%205",
                Some(Raw::List(vec![s("3"), s("4"), s("5")])),
            ),
            (
                PipeDelimited,
                false,
                Array,
                "id=3|4|5",
                Some(Raw::List(vec![s("3"), s("4"), s("5")])),
            ),
            (
                PipeDelimited,
                false,
                Array,
                "id=3%7C4",
                Some(Raw::List(vec![s("3"), s("4")])),
            ),
            (
                PipeDelimited,
                true,
                Array,
                "id=3&id=4",
                Some(Raw::List(vec![s("3"), s("4")])),
            ),
            (
                SpaceDelimited,
                false,
                Object,
                "id=a%201",
                Some(Raw::Pairs(vec![(s("a"), s("1"))])),
            ),
            (
                DeepObject,
                true,
                Object,
                "id%5Brole%5D=admin&id[firstName]=Alex",
                Some(Raw::Pairs(vec![
                    (s("role"), s("admin")),
                    (s("firstName"), s("Alex")),
                ])),
            ),
            (Form, true, Primitive, "other=5", None),
        ];
        for (style, explode, shape, query, want) in cases {
            let mut p = param(style, explode, shape);
            p.location = crate::spec::ParamIn::Query;
            let pairs = split_query(query).unwrap();
            let mut claimed = vec![false; pairs.len()];
            let got = parse_query(&p, &arena, &pairs, &mut claimed).unwrap();
            assert_eq!(got, want, "{style:?} explode={explode} {shape:?} {query}");
            assert_eq!(
                claimed.iter().any(|c| *c),
                want.is_some(),
                "{query}: claimed {claimed:?}"
            );
        }
        let p = param(Form, true, Primitive);
        for bad in ["id=1&id=2", "id=a(b)", "id=%ff", "id%5Bx%5D%5By%5D=1"] {
            let mut q = param(
                if bad.contains("%5B") {
                    DeepObject
                } else {
                    Form
                },
                true,
                if bad.contains("%5B") {
                    Object
                } else {
                    Primitive
                },
            );
            q.location = p.location;
            let pairs = split_query(bad).unwrap();
            let mut claimed = vec![false; pairs.len()];
            assert!(
                parse_query(&q, &arena, &pairs, &mut claimed).is_err(),
                "{bad}"
            );
        }
        let mut reserved = param(Form, true, Primitive);
        reserved.allow_reserved = true;
        let pairs = split_query("id=a(b)").unwrap();
        assert!(parse_query(&reserved, &arena, &pairs, &mut [false]).is_ok());
    }

    #[test]
    fn header_and_cookie_styles() {
        let p = param(Style::Simple, false, Shape::Array);
        assert_eq!(
            parse_header(&p, " a, b ,c").unwrap(),
            Raw::List(vec![s("a"), s("b"), s("c")])
        );
        let p = param(Style::Simple, true, Shape::Object);
        assert_eq!(
            parse_header(&p, "a=1,b=2").unwrap(),
            Raw::Pairs(vec![(s("a"), s("1")), (s("b"), s("2"))])
        );
        let p = param(Style::Form, false, Shape::Array);
        assert_eq!(
            parse_cookie(&p, "3,4").unwrap(),
            Raw::List(vec![s("3"), s("4")])
        );
        let p = param(Style::Form, true, Shape::Primitive);
        assert_eq!(parse_cookie(&p, "x%20y").unwrap(), Raw::Scalar(s("x y")));
    }

    #[test]
    fn numbers_parse_strictly() {
        for (text, frac, want) in [
            ("42", false, Some("42")),
            ("-7", true, Some("-7")),
            ("1.5", true, Some("1.5")),
            ("2.0", false, Some("2.0")),
            ("18446744073709551615", false, Some("18446744073709551615")),
            ("inf", true, None),
            ("NaN", true, None),
            ("0x10", false, None),
            (" 1", false, None),
            ("", false, None),
            ("-", false, None),
        ] {
            assert_eq!(
                parse_number(text, frac).map(|n| n.to_string()),
                want.map(str::to_owned),
                "{text}"
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn encode(v: &str) -> String {
            percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
        }

        fn owned(raw: Raw<'_>) -> Vec<String> {
            match raw {
                Raw::Scalar(s) => vec![s.into_owned()],
                Raw::List(l) => l.into_iter().map(Cow::into_owned).collect(),
                Raw::Pairs(p) => p
                    .into_iter()
                    .flat_map(|(k, v)| [k.into_owned(), v.into_owned()])
                    .collect(),
            }
        }

        proptest! {
            /// Any array serialized by a client in a style parses back to the same items.
            #[test]
            fn arrays_round_trip_through_every_style(items in proptest::collection::vec("[ -~é]{1,8}", 1..6)) {
                let encoded: Vec<String> = items.iter().map(|i| encode(i)).collect();
                let path_cases = [
                    (Style::Simple, false, encoded.join(",")),
                    (Style::Label, false, format!(".{}", encoded.join(","))),
                    (Style::Label, true, format!(".{}", encoded.join("."))),
                    (Style::Matrix, false, format!(";id={}", encoded.join(","))),
                    (Style::Matrix, true, encoded.iter().map(|e| format!(";id={e}")).collect::<String>()),
                ];
                for (style, explode, raw) in path_cases {
                    let p = param(style, explode, Shape::Array);
                    prop_assert_eq!(owned(parse_path(&p, &raw).unwrap()), items.clone(), "{:?} {}", style, raw);
                }
                let arena = SchemaArena::default();
                let query_cases = [
                    (Style::Form, true, encoded.iter().map(|e| format!("id={e}")).collect::<Vec<_>>().join("&")),
                    (Style::Form, false, format!("id={}", encoded.join(","))),
                    (Style::PipeDelimited, false, format!("id={}", encoded.join("%7C"))),
                ];
                for (style, explode, query) in query_cases {
                    // A pipe inside an item is indistinguishable from the
                    // (encoded) delimiter: the style cannot carry one.
                    if style == Style::PipeDelimited && items.iter().any(|i| i.contains('|')) {
                        continue;
                    }
                    let mut p = param(style, explode, Shape::Array);
                    p.location = crate::spec::ParamIn::Query;
                    p.allow_reserved = true;
                    let pairs = split_query(&query).unwrap();
                    let mut claimed = vec![false; pairs.len()];
                    let got = parse_query(&p, &arena, &pairs, &mut claimed).unwrap().unwrap();
                    prop_assert!(claimed.iter().all(|c| *c));
                    prop_assert_eq!(owned(got), items.clone(), "{:?} {}", style, query);
                }
            }

            /// Objects given as deepObject pairs come back as the same pairs.
            #[test]
            fn deep_objects_round_trip(pairs in proptest::collection::vec(("[a-z]{1,6}", "[ -~]{0,8}"), 1..5)) {
                let query = pairs.iter().map(|(k, v)| format!("id%5B{}%5D={}", k, encode(v))).collect::<Vec<_>>().join("&");
                let mut p = param(Style::DeepObject, true, Shape::Object);
                p.location = crate::spec::ParamIn::Query;
                let parsed = split_query(&query).unwrap();
                let mut claimed = vec![false; parsed.len()];
                let got = parse_query(&p, &SchemaArena::default(), &parsed, &mut claimed).unwrap().unwrap();
                let want: Vec<String> = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
                prop_assert_eq!(owned(got), want);
            }

            /// Whatever the client sends, the parsers answer (a value or a reason), never panic.
            #[test]
            fn arbitrary_text_never_panics(raw in "\\PC{0,40}", style in 0usize..7, explode: bool, shape in 0usize..3) {
                let styles = [Style::Simple, Style::Label, Style::Matrix, Style::Form, Style::SpaceDelimited, Style::PipeDelimited, Style::DeepObject];
                let shapes = [Shape::Primitive, Shape::Array, Shape::Object];
                let mut p = param(styles[style], explode, shapes[shape]);
                let _ = parse_path(&p, &raw);
                let _ = parse_header(&p, &raw);
                let _ = parse_cookie(&p, &raw);
                p.location = crate::spec::ParamIn::Query;
                if let Ok(pairs) = split_query(&raw) {
                    let mut claimed = vec![false; pairs.len()];
                    let _ = parse_query(&p, &SchemaArena::default(), &pairs, &mut claimed);
                }
                let _ = coerce(&SchemaArena::default(), None, &raw);
            }
        }
    }
}
