//! The schema validator, table-driven, in both dialects: each case is a
//! schema, a value, and the errors expected (kind and pointer), so every
//! keyword is seen both accepting and refusing.

use portcullis_openapi::validate::{Direction, ErrorKind, ValidationOptions, validate};
use portcullis_openapi::{CompileOptions, Spec};
use serde_json::{Value, json};

/// A spec whose one operation takes `schema` as its JSON body.
fn spec(version: &str, schema: &Value, components: &Value) -> Spec {
    let doc = json!({
        "openapi": version,
        "info": {"title": "t", "version": "1"},
        "paths": {"/t": {"post": {
            "requestBody": {"content": {"application/json": {"schema": schema}}},
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}}
        }}},
        "components": {"schemas": components}
    });
    Spec::from_texts(&[("t.json", &doc.to_string())], &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn request_options(strict: bool) -> ValidationOptions {
    ValidationOptions {
        direction: Direction::Request,
        strict_objects: strict,
        refuse_read_only: true,
        max_depth: 8,
        max_array_items: 5,
        max_string_length: 10,
        max_errors: 20,
    }
}

/// (kind, pointer) of every error.
fn run(spec: &Spec, value: &Value, options: &ValidationOptions) -> Vec<(ErrorKind, String)> {
    let op = &spec.operations[0];
    let schema = spec.json_body_schema(op).unwrap();
    let errors = validate(&spec.arena, schema, value, options);
    for e in &errors {
        // A reason names what was expected, never the value.
        if let Value::String(s) = value.pointer(&e.pointer).unwrap_or(&Value::Null)
            && s.len() > 3
        {
            assert!(
                !e.reason.contains(s.as_str()),
                "reason echoes the value: {}",
                e.reason
            );
        }
    }
    errors.into_iter().map(|e| (e.kind, e.pointer)).collect()
}

use ErrorKind::*;

type Case = (&'static str, Value, Value, Vec<(ErrorKind, &'static str)>);

fn check(version: &str, cases: Vec<Case>, components: Value, strict: bool) {
    for (name, schema, value, want) in cases {
        let spec = spec(version, &schema, &components);
        let got = run(&spec, &value, &request_options(strict));
        let want: Vec<(ErrorKind, String)> =
            want.into_iter().map(|(k, p)| (k, p.to_owned())).collect();
        assert_eq!(got, want, "{version} {name}: {value}");
    }
}

#[test]
fn keywords_common_to_both_dialects() {
    for version in ["3.0.3", "3.1.0"] {
        check(
            version,
            vec![
                ("type ok", json!({"type": "integer"}), json!(3), vec![]),
                (
                    "integer-valued float is an integer",
                    json!({"type": "integer"}),
                    json!(3.0),
                    vec![],
                ),
                (
                    "type",
                    json!({"type": "integer"}),
                    json!("3"),
                    vec![(Schema, "")],
                ),
                (
                    "number accepts integer",
                    json!({"type": "number"}),
                    json!(3),
                    vec![],
                ),
                (
                    "fraction is no integer",
                    json!({"type": "integer"}),
                    json!(3.5),
                    vec![(Schema, "")],
                ),
                (
                    "enum",
                    json!({"enum": ["a", "b"]}),
                    json!("c"),
                    vec![(Schema, "")],
                ),
                ("enum number eq", json!({"enum": [1]}), json!(1.0), vec![]),
                (
                    "minimum",
                    json!({"type": "number", "minimum": 2}),
                    json!(1),
                    vec![(Schema, "")],
                ),
                (
                    "maximum",
                    json!({"type": "number", "maximum": 2}),
                    json!(2),
                    vec![],
                ),
                (
                    "multipleOf",
                    json!({"type": "number", "multipleOf": 0.5}),
                    json!(1.25),
                    vec![(Schema, "")],
                ),
                (
                    "multipleOf ok",
                    json!({"type": "number", "multipleOf": 0.1}),
                    json!(0.3),
                    vec![],
                ),
                (
                    "minLength chars",
                    json!({"type": "string", "minLength": 2}),
                    json!("é"),
                    vec![(Schema, "")],
                ),
                (
                    "maxLength",
                    json!({"type": "string", "maxLength": 3}),
                    json!("abcd"),
                    vec![(Schema, "")],
                ),
                (
                    "pattern",
                    json!({"type": "string", "pattern": "^[a-z]+$"}),
                    json!("ab1"),
                    vec![(Schema, "")],
                ),
                (
                    "format",
                    json!({"type": "string", "format": "uuid"}),
                    json!("nope"),
                    vec![(Schema, "")],
                ),
                (
                    "unknown format is an annotation",
                    json!({"type": "string", "format": "color"}),
                    json!("x"),
                    vec![],
                ),
                (
                    "int32 range",
                    json!({"type": "integer", "format": "int32"}),
                    json!(3_000_000_000u64),
                    vec![(Schema, "")],
                ),
                (
                    "items",
                    json!({"type": "array", "items": {"type": "integer"}}),
                    json!([1, "x", 3]),
                    vec![(Schema, "/1")],
                ),
                (
                    "minItems",
                    json!({"type": "array", "minItems": 2}),
                    json!([1]),
                    vec![(Schema, "")],
                ),
                (
                    "uniqueItems",
                    json!({"type": "array", "uniqueItems": true}),
                    json!([1, 1.0]),
                    vec![(Schema, "")],
                ),
                (
                    "required and nested pointer",
                    json!({"type": "object", "required": ["a"], "properties": {"a": {"type": "object", "properties": {"b/c": {"type": "string"}}, "additionalProperties": false}}}),
                    json!({"a": {"b/c": 1}}),
                    vec![(Schema, "/a/b~1c")],
                ),
                (
                    "missing required",
                    json!({"type": "object", "required": ["a"], "properties": {"a": {}}}),
                    json!({}),
                    vec![(Schema, "")],
                ),
                (
                    "additionalProperties false",
                    json!({"type": "object", "properties": {"a": {}}, "additionalProperties": false}),
                    json!({"a": 1, "b": 2}),
                    vec![(Undeclared, "/b")],
                ),
                (
                    "additionalProperties schema",
                    json!({"type": "object", "additionalProperties": {"type": "integer"}}),
                    json!({"a": 1, "b": "x"}),
                    vec![(Schema, "/b")],
                ),
                (
                    "minProperties",
                    json!({"type": "object", "minProperties": 1, "additionalProperties": true}),
                    json!({}),
                    vec![(Schema, "")],
                ),
                (
                    "allOf",
                    json!({"allOf": [{"type": "integer"}, {"minimum": 5}]}),
                    json!(3),
                    vec![(Schema, "")],
                ),
                (
                    "anyOf ok",
                    json!({"anyOf": [{"type": "integer"}, {"type": "string"}]}),
                    json!("x"),
                    vec![],
                ),
                (
                    "anyOf none",
                    json!({"anyOf": [{"type": "integer"}, {"type": "string"}]}),
                    json!(true),
                    vec![(Schema, "")],
                ),
                (
                    "oneOf both",
                    json!({"oneOf": [{"type": "integer"}, {"type": "number"}]}),
                    json!(1),
                    vec![(Schema, "")],
                ),
                (
                    "oneOf one",
                    json!({"oneOf": [{"type": "integer"}, {"type": "string"}]}),
                    json!(1),
                    vec![],
                ),
                (
                    "not",
                    json!({"not": {"type": "string"}}),
                    json!("x"),
                    vec![(Schema, "")],
                ),
                (
                    "readOnly refused in a request",
                    json!({"type": "object", "properties": {"id": {"type": "integer", "readOnly": true}, "name": {"type": "string"}}, "required": ["id", "name"]}),
                    json!({"id": 1, "name": "a"}),
                    vec![(ReadOnly, "/id")],
                ),
                (
                    "required readOnly not needed in a request",
                    json!({"type": "object", "properties": {"id": {"type": "integer", "readOnly": true}, "name": {"type": "string"}}, "required": ["id", "name"]}),
                    json!({"name": "a"}),
                    vec![],
                ),
            ],
            json!({}),
            false,
        );
    }
}

#[test]
fn openapi_30_semantics() {
    check(
        "3.0.3",
        vec![
            (
                "nullable",
                json!({"type": "string", "nullable": true}),
                json!(null),
                vec![],
            ),
            (
                "not nullable",
                json!({"type": "string"}),
                json!(null),
                vec![(Schema, "")],
            ),
            (
                "exclusiveMinimum boolean",
                json!({"type": "number", "minimum": 2, "exclusiveMinimum": true}),
                json!(2),
                vec![(Schema, "")],
            ),
            (
                "exclusiveMaximum false",
                json!({"type": "number", "maximum": 2, "exclusiveMaximum": false}),
                json!(2),
                vec![],
            ),
            (
                "ref siblings ignored",
                json!({"$ref": "#/components/schemas/Int", "maximum": 1}),
                json!(5),
                vec![],
            ),
            (
                "discriminator with mapping",
                json!({"oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}], "discriminator": {"propertyName": "kind", "mapping": {"dog": "#/components/schemas/Dog"}}}),
                json!({"kind": "dog", "bark": 3}),
                vec![(Schema, "/bark")],
            ),
            (
                "discriminator implicit name",
                json!({"oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}], "discriminator": {"propertyName": "kind"}}),
                json!({"kind": "Cat", "meow": true}),
                vec![],
            ),
            (
                "discriminator unknown value",
                json!({"oneOf": [{"$ref": "#/components/schemas/Cat"}], "discriminator": {"propertyName": "kind"}}),
                json!({"kind": "Cow"}),
                vec![(Schema, "/kind")],
            ),
            (
                "discriminator inheritance through allOf",
                json!({"$ref": "#/components/schemas/Pet"}),
                json!({"kind": "Bird", "name": "x", "wings": "two"}),
                vec![(Schema, "/wings")],
            ),
        ],
        json!({
            "Int": {"type": "integer"},
            "Cat": {"type": "object", "properties": {"kind": {"type": "string"}, "meow": {"type": "boolean"}}},
            "Dog": {"type": "object", "properties": {"kind": {"type": "string"}, "bark": {"type": "string"}}},
            "Pet": {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string"}, "name": {"type": "string"}}, "discriminator": {"propertyName": "kind"}},
            "Bird": {"allOf": [{"$ref": "#/components/schemas/Pet"}, {"type": "object", "properties": {"wings": {"type": "integer"}}}]}
        }),
        true,
    );
}

#[test]
fn openapi_31_is_json_schema_2020_12() {
    check(
        "3.1.0",
        vec![
            (
                "type list",
                json!({"type": ["string", "null"]}),
                json!(null),
                vec![],
            ),
            (
                "type list refuses",
                json!({"type": ["string", "null"]}),
                json!(1),
                vec![(Schema, "")],
            ),
            (
                "nullable is not a 3.1 keyword",
                json!({"type": "string", "nullable": true}),
                json!(null),
                vec![(Schema, "")],
            ),
            (
                "const",
                json!({"const": "x"}),
                json!("y"),
                vec![(Schema, "")],
            ),
            (
                "exclusiveMinimum number",
                json!({"exclusiveMinimum": 2}),
                json!(2),
                vec![(Schema, "")],
            ),
            (
                "prefixItems",
                json!({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": false}),
                json!([1, 2, 3]),
                vec![(Schema, "/1"), (Schema, "/2")],
            ),
            (
                "false schema",
                json!({"type": "object", "properties": {"x": false}}),
                json!({"x": 1}),
                vec![(Schema, "/x")],
            ),
            (
                "ref with siblings",
                json!({"$ref": "#/components/schemas/Int", "maximum": 1}),
                json!(5),
                vec![(Schema, "")],
            ),
            (
                "$defs",
                json!({"$ref": "#/components/schemas/WithDefs/$defs/Small"}),
                json!(9),
                vec![(Schema, "")],
            ),
            (
                "unevaluatedProperties",
                json!({"allOf": [{"properties": {"a": {}}}], "properties": {"b": {}}, "unevaluatedProperties": false}),
                json!({"a": 1, "b": 2, "c": 3}),
                vec![(Undeclared, "/c")],
            ),
            (
                "if/then/else",
                json!({"if": {"type": "integer"}, "then": {"minimum": 10}, "else": {"type": "string"}}),
                json!(3),
                vec![(Schema, "")],
            ),
            (
                "if/else",
                json!({"if": {"type": "integer"}, "then": {"minimum": 10}, "else": {"type": "string"}}),
                json!(true),
                vec![(Schema, "")],
            ),
            (
                "contains",
                json!({"type": "array", "contains": {"type": "string"}, "maxItems": 3}),
                json!([1, 2]),
                vec![(Schema, "")],
            ),
            (
                "dependentRequired",
                json!({"type": "object", "dependentRequired": {"card": ["cvv"]}, "additionalProperties": true}),
                json!({"card": 1}),
                vec![(Schema, "")],
            ),
            (
                "patternProperties",
                json!({"type": "object", "patternProperties": {"^x-": {"type": "integer"}}}),
                json!({"x-a": "s"}),
                vec![(Schema, "/x-a")],
            ),
            (
                "propertyNames",
                json!({"type": "object", "propertyNames": {"maxLength": 2}, "additionalProperties": true}),
                json!({"abc": 1}),
                vec![(Schema, "/abc")],
            ),
        ],
        json!({"Int": {"type": "integer"}, "WithDefs": {"$defs": {"Small": {"maximum": 3}}}}),
        false,
    );
}

#[test]
fn strict_objects_close_compositions_as_one_object() {
    let components = json!({
        "Base": {"type": "object", "properties": {"id": {"type": "integer"}}},
        "Open": {"type": "object", "properties": {"meta": {"type": "object", "additionalProperties": true}}}
    });
    let cases: Vec<Case> = vec![
        (
            "allOf keys are all declared",
            json!({"allOf": [{"$ref": "#/components/schemas/Base"}, {"properties": {"name": {"type": "string"}}}]}),
            json!({"id": 1, "name": "a"}),
            vec![],
        ),
        (
            "mass assignment refused",
            json!({"allOf": [{"$ref": "#/components/schemas/Base"}, {"properties": {"name": {"type": "string"}}}]}),
            json!({"id": 1, "name": "a", "is_admin": true}),
            vec![(Undeclared, "/is_admin")],
        ),
        (
            "explicitly open objects stay open",
            json!({"$ref": "#/components/schemas/Open"}),
            json!({"meta": {"anything": 1}}),
            vec![],
        ),
        (
            "nested undeclared",
            json!({"type": "object", "properties": {"a": {"type": "object", "properties": {}}}}),
            json!({"a": {"b": 1}}),
            vec![(Undeclared, "/a/b")],
        ),
        (
            "a schema saying nothing about objects is not closed",
            json!({}),
            json!({"x": 1}),
            vec![],
        ),
    ];
    check("3.0.3", cases, components.clone(), true);
    check(
        "3.0.3",
        vec![(
            "without strict_objects, undeclared keys pass",
            json!({"$ref": "#/components/schemas/Base"}),
            json!({"x": 1}),
            vec![],
        )],
        components,
        false,
    );
}

#[test]
fn caps_apply_where_the_schema_is_silent() {
    let cases: Vec<Case> = vec![
        (
            "long string",
            json!({"type": "string"}),
            json!("01234567890"),
            vec![(Limit, "")],
        ),
        (
            "declared maxLength wins over the cap",
            json!({"type": "string", "maxLength": 20}),
            json!("01234567890"),
            vec![],
        ),
        (
            "long array",
            json!({"type": "array"}),
            json!([1, 2, 3, 4, 5, 6]),
            vec![(Limit, "")],
        ),
        (
            "declared maxItems wins",
            json!({"type": "array", "maxItems": 9}),
            json!([1, 2, 3, 4, 5, 6]),
            vec![],
        ),
        (
            "undescribed values are capped too",
            json!({}),
            json!({"a": ["01234567890"]}),
            vec![(Limit, "/a/0")],
        ),
        (
            "depth",
            json!({}),
            json!([[[[[[[[[1]]]]]]]]]),
            vec![(Limit, "/0/0/0/0/0/0/0/0")],
        ),
    ];
    check("3.1.0", cases, json!({}), false);
}

#[test]
fn responses_report_exposure_without_failing() {
    let spec = spec(
        "3.0.3",
        &json!({"type": "object", "properties": {"id": {"type": "integer"}, "password": {"type": "string", "writeOnly": true}}, "required": ["id", "password"]}),
        &json!({}),
    );
    let got = run(
        &spec,
        &json!({"id": 1, "password": "x", "ssn": "1"}),
        &ValidationOptions::response(),
    );
    assert_eq!(
        got,
        [
            (WriteOnly, "/password".to_owned()),
            (Undeclared, "/ssn".to_owned())
        ]
    );
    let got = run(&spec, &json!({"id": "1"}), &ValidationOptions::response());
    assert_eq!(
        got,
        [(Schema, "/id".to_owned())],
        "writeOnly is not required in responses"
    );
}
