//! The single-pass JSON fast path (`portcullis_openapi::fast`) against the
//! full path (serde_json parse, then `validate`): whenever the fast path
//! says "clean", the full path must parse the document and report nothing
//! (no failure, no exposure, no cap), in both directions, on many generated
//! documents and on hand-written edge cases of the JSON grammar. And the
//! fast path must really answer "clean" for ordinary valid traffic, or it
//! would save nothing.

use portcullis_openapi::validate::{Direction, ValidationOptions, validate};
use portcullis_openapi::{CompileOptions, Spec};
use proptest::prelude::*;
use serde_json::{Value, json};

/// One spec holding every schema below under `components/schemas`, each
/// reachable as the body of operation `/<name>`.
fn spec(version: &str) -> Spec {
    let schemas = schemas();
    let mut paths = serde_json::Map::new();
    for (name, _) in schemas.as_object().unwrap() {
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        paths.insert(
            format!("/{name}"),
            json!({"post": {
                "requestBody": {"content": {"application/json": {"schema": reference}}},
                "responses": {"200": {"description": "ok",
                    "content": {"application/json": {"schema": reference}}}}
            }}),
        );
    }
    let doc = json!({
        "openapi": version,
        "info": {"title": "t", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas}
    });
    Spec::from_texts(&[("t.json", &doc.to_string())], &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn schemas() -> Value {
    json!({
        "NewUser": {
            "type": "object", "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 8},
                "email": {"type": "string", "format": "email", "maxLength": 254},
                "age": {"type": "integer", "minimum": 0, "maximum": 150},
                "score": {"type": "number", "maximum": 9.99},
                "active": {"type": "boolean"},
                "roles": {"type": "array", "maxItems": 3,
                          "items": {"type": "string", "enum": ["member", "beta", "admin"]}},
                "address": {"type": "object", "properties": {
                    "street": {"type": "string", "maxLength": 20},
                    "zip": {"type": "string", "pattern": "^[0-9]{5}$"}}},
                "prefs": {"type": "object", "maxProperties": 3,
                          "additionalProperties": {"type": "string", "maxLength": 5}},
                "id": {"type": "integer", "readOnly": true},
                "secret": {"type": "string", "writeOnly": true},
                "tags": {"type": "array", "items": {"type": "string"}},
                "any": {}
            }
        },
        "Closed": {
            "type": "object", "additionalProperties": false, "required": ["id", "kind"],
            "properties": {
                "id": {"type": "integer", "format": "int32", "readOnly": true},
                "kind": {"type": "string", "enum": ["a", "b", null], "nullable": true},
                "flag": {"type": "boolean", "enum": [true]},
                "when": {"type": "string", "format": "date-time"},
                "uuid": {"type": "string", "format": "uuid"},
                "n": {"type": "number", "multipleOf": 0.5}
            }
        },
        "Page": {
            "type": "object",
            "properties": {
                "page": {"type": "integer", "minimum": 1},
                "items": {"type": "array", "minItems": 1, "maxItems": 4, "items": {
                    "type": "object", "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string", "maxLength": 6},
                        "tags": {"type": "array", "items": {"type": "string", "maxLength": 4}}
                    }
                }}
            }
        },
        "Untyped": {"properties": {"a": {"type": "string"}, "b": {"minimum": 3}}},
        "Composed": {"allOf": [{"$ref": "#/components/schemas/Page"},
                               {"properties": {"extra": {"type": "string"}}}]},
        "Prefixes": {
            "type": "object", "required": ["nickname_one", "undeclared_but_required"],
            "properties": {
                "nickname_one": {"type": "string", "maxLength": 3},
                "nickname_two": {"type": "integer"},
                "nickname": {"type": "boolean"}
            }
        },
        "Odd": {
            "type": "object", "additionalProperties": false,
            "properties": {
                "a\"b": {"type": "integer"},
                "tab\tkey": {"type": "string", "maxLength": 2},
                "\u{e9}": {"type": "boolean"},
                "exactly8": {"type": "integer"},
                "seven_7": {"type": "integer"}
            }
        },
        "Scalar": {"type": "string", "maxLength": 5},
        "Numbers": {"type": "array", "items": {"type": "integer", "format": "int64"}},
        "Floats": {"type": "array", "items": {"type": "number"}}
    })
}

/// The four option sets the gateway uses or could use.
fn all_options() -> Vec<ValidationOptions> {
    let request = |strict, refuse| ValidationOptions {
        direction: Direction::Request,
        strict_objects: strict,
        refuse_read_only: refuse,
        max_depth: 6,
        max_array_items: 5,
        max_string_length: 10,
        max_errors: 20,
    };
    vec![
        request(false, false),
        request(true, true),
        ValidationOptions::response(),
        ValidationOptions {
            max_depth: 4,
            ..ValidationOptions::response()
        },
    ]
}

/// Nesting of a value as the gateway's body parser measures it.
fn depth(v: &Value, d: usize) -> usize {
    match v {
        Value::Array(a) => a.iter().map(|x| depth(x, d + 1)).max().unwrap_or(d + 1),
        Value::Object(o) => o.values().map(|x| depth(x, d + 1)).max().unwrap_or(d + 1),
        _ => d,
    }
}

/// Fast says clean ⇒ the full path parses and finds nothing. Returns the
/// fast answer.
fn agree(spec: &Spec, name: &str, bytes: &[u8], options: &ValidationOptions) -> bool {
    let op = spec
        .operations
        .iter()
        .find(|o| *o.template == format!("/{name}"))
        .unwrap();
    let schema = spec.json_body_schema(op);
    let clean = spec.json_is_clean(schema, bytes, options);
    if clean {
        let value: Value = serde_json::from_slice(bytes).unwrap_or_else(|e| {
            panic!(
                "fast path accepted what serde_json refuses ({e}): {:?}",
                String::from_utf8_lossy(bytes)
            )
        });
        assert!(depth(&value, 0) <= 64, "too deep for the gateway's parser");
        if let Some(schema) = schema {
            let errors = validate(&spec.arena, schema, &value, options);
            assert!(
                errors.is_empty(),
                "fast path clean, full path found {errors:?} in {name} {:?} ({options:?})",
                String::from_utf8_lossy(bytes)
            );
        }
    }
    clean
}

static SPECS: std::sync::LazyLock<[Spec; 2]> =
    std::sync::LazyLock::new(|| [spec("3.0.3"), spec("3.1.0")]);

fn check_all(bytes: &[u8]) -> usize {
    let mut clean = 0;
    for spec in SPECS.iter() {
        for (name, _) in schemas().as_object().unwrap() {
            for options in all_options() {
                clean += usize::from(agree(spec, name, bytes, &options));
            }
        }
    }
    clean
}

/// Arbitrary JSON whose keys and strings often hit the schemas above.
fn arb_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("name"),
        Just("email"),
        Just("age"),
        Just("score"),
        Just("active"),
        Just("roles"),
        Just("address"),
        Just("street"),
        Just("zip"),
        Just("prefs"),
        Just("id"),
        Just("secret"),
        Just("tags"),
        Just("any"),
        Just("kind"),
        Just("flag"),
        Just("when"),
        Just("uuid"),
        Just("n"),
        Just("page"),
        Just("items"),
        Just("a"),
        Just("b"),
        Just("extra"),
        Just("x"),
        Just("na\u{e9}me"),
        Just("nickname"),
        Just("nickname_one"),
        Just("nickname_two"),
        Just("nickname_on"),
        Just("undeclared_but_required"),
    ]
    .prop_map(str::to_owned);
    let string = prop_oneof![
        Just("member".to_owned()),
        Just("admin".to_owned()),
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("12345".to_owned()),
        Just("bob@example.com".to_owned()),
        Just("2024-01-02T03:04:05Z".to_owned()),
        Just("123e4567-e89b-12d3-a456-426614174000".to_owned()),
        "[a-z]{0,12}",
        "[ -~]{0,12}",
        "[a\u{e9}\u{1F600}\"\\\\/\n\t\u{1}]{0,9}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..200).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        prop_oneof![Just(0.5), Just(1.0), Just(2.5), Just(-0.0), Just(9.75)].prop_map(Value::from),
        string.prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..7)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn clean_documents_are_clean_for_the_full_path(value in arb_json()) {
        check_all(value.to_string().as_bytes());
        check_all(serde_json::to_string_pretty(&value).unwrap().as_bytes());
    }

    #[test]
    fn broken_documents_are_never_clean_when_serde_refuses(
        value in arb_json(),
        cut in any::<prop::sample::Index>(),
        byte in prop_oneof![Just(b','), Just(b'"'), Just(b'\\'), Just(b'}'), Just(b']'),
                            Just(b'0'), Just(b'-'), Just(b'e'), Just(0xC3u8), Just(0x01u8),
                            Just(b' '), Just(b'.'), Just(b'+')],
        mode in 0u8..3,
    ) {
        let text = value.to_string().into_bytes();
        let at = cut.index(text.len() + 1);
        let mutated: Vec<u8> = match mode {
            0 => text[..at].to_vec(),
            1 => { let mut t = text.clone(); t.insert(at, byte); t }
            _ => { let mut t = text.clone(); if at < t.len() { t.remove(at); } t }
        };
        check_all(&mutated);
    }
}

#[test]
fn grammar_edge_cases_agree() {
    let cases: &[&[u8]] = &[
        b"",
        b"   ",
        b"{}",
        b" {} ",
        b"{} x",
        b"{},",
        b"{\"name\":\"bob\",}",
        b"[1,]",
        b"[01]",
        b"[-0]",
        b"[-]",
        b"[1.]",
        b"[.5]",
        b"[1e]",
        b"[1e400]",
        b"[-1e400]",
        b"[1.5e308]",
        b"[1E+2]",
        b"[1e-2]",
        b"[+1]",
        b"[18446744073709551615]",
        b"[18446744073709551616]",
        b"[-9223372036854775808]",
        b"[-9223372036854775809]",
        b"[NaN]",
        b"[true, false, null]",
        b"[tru]",
        b"[nulll]",
        b"\"abc\"",
        b"\"abcdef\"",
        b"\"a\\u00e9\"",
        b"\"\\ud83d\\ude00\"",
        b"\"\\ud83d\"",
        b"\"\\ude00\"",
        b"\"\\ud83dx\"",
        b"\"\\x\"",
        b"\"\\u12\"",
        b"\"a\tb\"",
        b"\"a\x01b\"",
        b"\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"",
        b"\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"",
        b"\"\xff\"",
        b"\"\xc3\"",
        // UTF-8 is checked per string now: broken sequences in keys, after
        // escapes, overlong forms, encoded surrogates, bytes outside strings.
        b"{\"n\xc3me\":\"bob\"}",
        b"{\"name\":\"b\\n\xc3\"}",
        b"{\"name\":\"\xc0\xaf\"}",
        b"{\"name\":\"\xed\xa0\x80\"}",
        b"{\"name\":\"\xf4\x90\x80\x80\"}",
        b"{\"name\":\"bob\"}\xc3\xa9",
        b"[1,\xc3\xa9]",
        b"{\"name\":\"h\xc3\xa9\"}",
        b"\xef\xbb\xbf{}",
        b"{\"name\":\"bob\",\"name\":\"\"}",
        b"{\"name\":\"bob\",\"name\":\"toolongname\"}",
        b"{\"n\\u0061me\":\"bob\"}",
        b"{\"name\":\"bob\",\"age\":150}",
        b"{\"name\":\"bob\",\"age\":150.0}",
        b"{\"name\":\"bob\",\"age\":1e2}",
        b"{\"name\":\"bob\",\"age\":151}",
        b"{\"name\":\"bob\",\"score\":9.99}",
        b"{\"name\":\"bob\",\"score\":10}",
        b"{\"name\":\"bob\",\"id\":1}",
        b"{\"name\":\"bob\",\"secret\":\"s\"}",
        b"{\"name\":\"bob\",\"prefs\":{\"a\":\"x\",\"b\":\"y\"}}",
        b"{\"name\":\"bob\",\"prefs\":{\"a\":\"x\",\"b\":\"y\",\"c\":\"z\",\"d\":\"w\"}}",
        b"{\"name\":\"bob\",\"address\":{\"zip\":\"12345\"}}",
        b"{\"name\":\"bob\",\"address\":{\"zip\":\"1234\"}}",
        b"{\"name\":\"bob\",\"tags\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]}",
        b"{\"name\":\"bob\",\"any\":[[[[[[[1]]]]]]]}",
        b"{\"name\":\"bob\",\"any\":{\"k\":\"a long string indeed\"}}",
        b"{\"id\":1,\"kind\":null}",
        b"{\"id\":1,\"kind\":\"c\"}",
        b"{\"id\":2147483648,\"kind\":\"a\"}",
        b"{\"id\":1,\"kind\":\"a\",\"flag\":false}",
        b"{\"id\":1,\"kind\":\"a\",\"n\":1.5}",
        b"{\"id\":1,\"kind\":\"a\",\"when\":\"2024-01-02T03:04:05Z\"}",
        b"{\"id\":1,\"kind\":\"a\",\"when\":\"yesterday\"}",
        b"{\"page\":1,\"items\":[{\"id\":1,\"name\":\"bob\",\"tags\":[\"x\"]}]}",
        b"{\"page\":1,\"items\":[]}",
        b"{\"page\":0,\"items\":[{}]}",
        b"[9223372036854775807, -9223372036854775808, 18446744073709551615]",
        // Keys matched by a guess of the next one: any order, repeats,
        // prefixes of longer names, names that need escapes, the last
        // bytes of the document.
        b"{\"page\":1,\"items\":[{\"id\":1,\"name\":\"a\"},{\"name\":\"b\",\"id\":2},\
          {\"tags\":[],\"id\":3,\"name\":\"c\"},{\"id\":4,\"id\":5,\"name\":\"toolong!\"}]}",
        b"{\"items\":[{\"name\":\"a\"}],\"page\":1}",
        b"{\"nickname_one\":\"abc\",\"undeclared_but_required\":1}",
        b"{\"undeclared_but_required\":1,\"nickname_one\":\"abc\"}",
        b"{\"nickname_one\":\"ab\",\"nickname_one\":\"abcd\",\"undeclared_but_required\":1}",
        b"{\"nickname_on\":\"a\",\"nickname_one\":\"a\",\"undeclared_but_required\":1}",
        b"{\"nickname_one_\":\"a\",\"nickname_one\":\"a\",\"undeclared_but_required\":1}",
        b"{\"nickname\":true,\"nickname_two\":2,\"nickname_one\":\"a\",\"undeclared_but_required\":1}",
        // Names that share their first eight bytes, in both orders, twice:
        // the second time a guess learned from the first is tried.
        b"{\"nickname_two\":\"abc\",\"nickname_one\":\"abc\",\"undeclared_but_required\":1}",
        b"{\"nickname_one\":\"abc\",\"nickname_two\":\"abc\",\"undeclared_but_required\":1}",
        b"{\"nickname_two\":\"abc\",\"nickname_one\":\"abc\",\"undeclared_but_required\":1}",
        b"{\"nickname_one\":\"abc\",\"nickname_two\":\"abc\",\"undeclared_but_required\":1}",
        b"{\"nickname_one\":\"abc\",\"nickname_oneX\":\"abc\",\"undeclared_but_required\":1}",
        b"{\"nickname_one\":\"abc\",\"undeclared_but_required\":1}",
        b"{\"nickname_two\":\"abc\",\"undeclared_but_required\":1}",
        b"{\"nickname_one\":\"abc\",\"undeclared_but_required\":1}",
        b"{\"nickname_two\":\"abc\",\"undeclared_but_required\":1}",
        b"{\"na\\u006de\":\"bob\"}",
        b"{\"name\":\"bob\",\"age\":1}",
        b"{\"age\":1,\"name\":\"bob\"}",
        b"{\"age\":1}",
        b"{\"id\":1}",
        b"{\"a\\\"b\":1}",
        b"{\"a\"b\":1}",
        b"{\"tab\\tkey\":\"x\"}",
        b"{\"tab\tkey\":\"x\"}",
        b"{\"\xc3\xa9\":true}",
        b"{\"\\u00e9\":true}",
        b"{\"exactly8\":1,\"seven_7\":2}",
        b"{\"seven_7\":2,\"exactly8\":1}",
        b"{\"exactly\":1}",
        b"{\"exactly88\":1}",
        b"{\"seven_7",
        b"{\"seven_7\"",
        b"[123456789012345678, -123456789012345678, -999999999999999999]",
        b"[1234567890123456789, -1234567890123456789, 99999999999999999999]",
        b"[-0, 0, -1, 00]",
        b"[0.5, 1, -2.5e3]",
    ];
    for case in cases {
        check_all(case);
    }
    let deep = format!("{}1{}", "[".repeat(70), "]".repeat(70));
    check_all(deep.as_bytes());
    // Strings scanned sixteen and eight bytes at a time: a special byte at
    // every offset of the first blocks, and strings ending in the last
    // bytes of the document.
    let specials: [&[u8]; 5] = [b"\\n", b"\\\"", b"\xc3\xa9", b"\x01", b"\xc3"];
    let mut clean = 0;
    for len in 0..34 {
        for at in 0..=len {
            for special in specials {
                let mut text = vec![b'a'; at];
                text.extend_from_slice(special);
                text.extend(std::iter::repeat_n(b'a', len - at));
                let mut bare = b"\"".to_vec();
                bare.extend_from_slice(&text);
                bare.push(b'"');
                check_all(&bare);
                let mut member = b"{\"name\":\"b\",\"tags\":[\"".to_vec();
                member.extend_from_slice(&text);
                member.extend_from_slice(b"\"]}");
                clean += check_all(&member);
            }
        }
    }
    assert!(clean > 0, "long strings must take the fast path");
}

#[test]
fn ordinary_valid_traffic_takes_the_fast_path() {
    let spec = &SPECS[0];
    let valid: &[(&str, &[u8])] = &[
        (
            "NewUser",
            b"{\"name\":\"bob\",\"email\":\"bob@example.com\",\"age\":42,\"active\":true,\
              \"roles\":[\"member\",\"beta\"],\"address\":{\"street\":\"Main \\\"St\\\"\",\
              \"zip\":\"12345\"},\"prefs\":{\"a\":\"x\"},\"score\":2.5,\"any\":{\"q\":[1,{}]}}",
        ),
        (
            "Page",
            b"{\"page\":1,\"items\":[{\"id\":1,\"name\":\"b\\u00e9b\",\"tags\":[\"a\",\"bb\"]},\
              {\"id\":2,\"name\":\"carol\",\"tags\":[]}]}",
        ),
        (
            "Page",
            b"{\"items\":[{\"name\":\"a\",\"id\":1},{\"id\":2,\"name\":\"b\"},\
              {\"tags\":[\"x\"],\"name\":\"c\",\"id\":3}],\"page\":2}",
        ),
        (
            "Odd",
            b"{\"a\\\"b\":1,\"tab\\tkey\":\"x\",\"\xc3\xa9\":true,\"exactly8\":1,\"seven_7\":2}",
        ),
        ("Scalar", b"\"h\xc3\xa9llo\""),
        (
            "Prefixes",
            b"{\"nickname_one\":\"abc\",\"undeclared_but_required\":[],\"nickname\":true,\
              \"nickname_two\":3,\"nickname_on\":\"any\"}",
        ),
        ("Numbers", b"[1, -2, 9223372036854775807]"),
        ("Floats", b"[1.5, -2e-3, 0]"),
    ];
    for (name, body) in valid {
        // Undeclared keys are exposures in responses and refused under
        // strict_objects: that document is clean only for open requests.
        let options = match *name {
            "Prefixes" => all_options()[..1].to_vec(),
            _ => all_options(),
        };
        for options in options {
            assert!(
                agree(spec, name, body, &options),
                "{name} should be clean: {}",
                String::from_utf8_lossy(body)
            );
        }
    }
    // Every one-byte change of a clean document: the two paths still agree.
    let bytes = [
        b'"', b'\\', b',', b':', b'{', b'}', b'[', b']', b'0', b'9', b'-', b'.', b'e', b' ', b'x',
        0x01, 0xC3, 0xFF,
    ];
    for (_, body) in valid {
        for at in 0..body.len() {
            let mut removed = body.to_vec();
            removed.remove(at);
            check_all(&removed);
            for b in bytes {
                let mut replaced = body.to_vec();
                replaced[at] = b;
                check_all(&replaced);
                let mut inserted = body.to_vec();
                inserted.insert(at, b);
                check_all(&inserted);
            }
        }
    }
    // A composed schema is left to the full path.
    assert!(!agree(spec, "Composed", b"{\"page\":1}", &all_options()[0]));
}

/// Schemas parameters typically have, for the scalar fast path.
fn parameter_spec(version: &str) -> Spec {
    let mut schemas = json!({
        "Id": {"type": "integer", "format": "int64", "minimum": 1},
        "Limit": {"type": "integer", "minimum": 1, "maximum": 100, "multipleOf": 5},
        "Ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "Flag": {"type": "boolean"},
        "OnlyTrue": {"type": "boolean", "enum": [true]},
        "Sort": {"type": "string", "enum": ["asc", "desc"]},
        "Name": {"type": "string", "minLength": 2, "maxLength": 5},
        "Zip": {"type": "string", "pattern": "^[0-9]{5}$"},
        "Day": {"type": "string", "format": "date"},
        "Uuid": {"type": "string", "format": "uuid"},
        "Untyped": {"maxLength": 3},
        "Open": {},
        "Composed": {"allOf": [{"type": "integer"}, {"minimum": 3}]},
        "Numbers": {"enum": [1, 2]}
    });
    let by_version = if version.starts_with("3.0") {
        json!({
            "Int32": {"type": "integer", "format": "int32", "maximum": 100,
                      "minimum": 0, "exclusiveMinimum": true},
            "Nullable": {"type": "integer", "nullable": true},
            "NullableText": {"type": "string", "nullable": true, "maxLength": 3}
        })
    } else {
        json!({
            "Int32": {"type": "integer", "format": "int32", "maximum": 100, "exclusiveMinimum": 0},
            "IntOrString": {"type": ["integer", "string"], "maxLength": 3},
            "NullOrBool": {"type": ["null", "boolean"]},
            "NullOrInt": {"type": ["null", "integer"]},
            "Const": {"const": "x"}
        })
    };
    for (k, v) in by_version.as_object().unwrap() {
        schemas[k] = v.clone();
    }
    let mut paths = serde_json::Map::new();
    for (name, _) in schemas.as_object().unwrap() {
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        paths.insert(
            format!("/{name}/{{p}}"),
            json!({"get": {
                "parameters": [{"name": "p", "in": "path", "required": true, "schema": reference}],
                "responses": {"200": {"description": "ok"}}
            }}),
        );
    }
    let doc = json!({
        "openapi": version,
        "info": {"title": "t", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas}
    });
    Spec::from_texts(&[("p.json", &doc.to_string())], &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

static PARAMETER_SPECS: std::sync::LazyLock<[Spec; 2]> =
    std::sync::LazyLock::new(|| [parameter_spec("3.0.3"), parameter_spec("3.1.0")]);

/// Scalar fast path says clean ⇒ the full path (the value built by
/// `coerce`, then `validate`) finds nothing, for every schema of both specs.
/// Returns how many (schema, options) pairs were clean.
fn scalar_agree(text: &str) -> usize {
    use portcullis_openapi::params::{coerce, coerce_scalar};
    let mut clean = 0;
    for spec in PARAMETER_SPECS.iter() {
        for (id, _) in spec.arena.iter() {
            for options in all_options() {
                let scalar = coerce_scalar(&spec.arena, Some(id), text);
                if !spec.scalar_is_clean(id, &scalar, &options) {
                    continue;
                }
                clean += 1;
                let value = coerce(&spec.arena, Some(id), text);
                let errors = validate(&spec.arena, id, &value, &options);
                assert!(
                    errors.is_empty(),
                    "scalar fast path clean, full path found {errors:?} for {text:?} \
                     against {:?} ({options:?})",
                    spec.arena.get(id)
                );
            }
        }
    }
    clean
}

#[test]
fn scalar_parameters_agree_with_the_full_path() {
    let cases = [
        "",
        "0",
        "1",
        "-1",
        "5",
        "7",
        "100",
        "101",
        "2147483648",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551616",
        "1.0",
        "0.5",
        "1e2",
        "-0",
        "+1",
        " 1",
        "1 ",
        "0x10",
        "NaN",
        "inf",
        "true",
        "false",
        "True",
        "null",
        "asc",
        "desc",
        "ASC",
        "ab",
        "abcde",
        "abcdef",
        "héllo",
        "hé",
        "12345",
        "1234",
        "2026-12-02",
        "2026-02-30",
        "123e4567-e89b-12d3-a456-426614174000",
        "x",
        "xyz",
        "abcd",
        "a\u{0}b",
    ];
    let mut clean = 0;
    for text in cases {
        clean += scalar_agree(text);
    }
    assert!(
        clean > 100,
        "the scalar fast path must vouch for ordinary values"
    );
    // Values the gateway sees every day take the fast path.
    let spec = &PARAMETER_SPECS[0];
    let id_schema = spec
        .operations
        .iter()
        .find(|o| o.template.starts_with("/Id/"))
        .and_then(|o| o.parameters[0].schema)
        .unwrap();
    let options = &all_options()[0];
    for text in ["1", "42", "9223372036854775807"] {
        let scalar = portcullis_openapi::params::coerce_scalar(&spec.arena, Some(id_schema), text);
        assert!(spec.scalar_is_clean(id_schema, &scalar, options), "{text}");
    }
    for text in ["0", "-3", "abc", "1.5", ""] {
        let scalar = portcullis_openapi::params::coerce_scalar(&spec.arena, Some(id_schema), text);
        assert!(!spec.scalar_is_clean(id_schema, &scalar, options), "{text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_scalar_parameters_agree(
        text in prop_oneof![
            "[0-9+\\-.eE]{0,12}",
            "[a-zA-Z0-9 é-]{0,8}",
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| n.to_string()),
            "\\PC{0,12}",
        ]
    ) {
        scalar_agree(&text);
    }
}
