//! Loading and compiling specs: YAML and JSON, `$ref`s inside a document,
//! across files on disk and across in-memory documents, recursive schemas,
//! reference-only cycles, and broken specs refused with file and pointer.

use portcullis_openapi::{CompileOptions, Dialect, Spec, SpecError};

fn compile(texts: &[(&str, &str)]) -> Result<Spec, SpecError> {
    Spec::from_texts(texts, &CompileOptions::default())
}

const MAIN: &str = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /users/{id}:
    parameters:
      - $ref: "common.yaml#/components/parameters/UserId"
    get:
      operationId: getUser
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Tree"}
  /items:
    $ref: "items.json#/pathItem"
components:
  schemas:
    Tree:
      type: object
      properties:
        name: {type: string}
        children:
          type: array
          items: {$ref: "#/components/schemas/Tree"}
"##;

const COMMON: &str = r##"
components:
  parameters:
    UserId:
      name: id
      in: path
      required: true
      schema: {$ref: "schemas/ids.yaml#/Id"}
"##;

const IDS: &str = "Id: {type: integer, minimum: 1}\n";

const ITEMS: &str = r##"{"pathItem": {"get": {"responses": {"200": {"description": "ok"}}}}}"##;

#[test]
fn references_resolve_across_documents_and_recursive_schemas_compile() {
    let spec = compile(&[
        ("api/main.yaml", MAIN),
        ("api/common.yaml", COMMON),
        ("api/schemas/ids.yaml", IDS),
        ("api/items.json", ITEMS),
    ])
    .unwrap();
    assert_eq!(spec.dialect(), Dialect::V30);
    assert_eq!(spec.operations.len(), 2);
    let get = spec.operation_by_id("getUser").unwrap();
    assert_eq!(&*get.parameters[0].name, "id");
    assert!(
        spec.operation_by_id("GET /items").is_some(),
        "synthesized id"
    );
    let m = spec.route(&http::Method::GET, "/users/7").unwrap();
    assert_eq!(m.captures, ["7"]);
}

#[test]
fn files_on_disk_load_with_relative_references() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("schemas")).unwrap();
    for (name, text) in [
        ("main.yaml", MAIN),
        ("common.yaml", COMMON),
        ("schemas/ids.yaml", IDS),
        ("items.json", ITEMS),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let spec = Spec::load(&dir.path().join("main.yaml"), &CompileOptions::default()).unwrap();
    assert_eq!(spec.operations.len(), 2);
    std::fs::remove_file(dir.path().join("schemas/ids.yaml")).unwrap();
    let err = Spec::load(&dir.path().join("main.yaml"), &CompileOptions::default()).unwrap_err();
    assert!(err.file.ends_with("common.yaml"), "{err}");
    assert_eq!(err.pointer, "/components/parameters/UserId/schema");
    assert!(err.message.contains("ids.yaml"), "{err}");
}

fn broken(paths: &str) -> SpecError {
    let text = format!("openapi: 3.1.0\ninfo: {{title: t, version: '1'}}\npaths:\n{paths}");
    compile(&[("spec.yaml", &text)]).unwrap_err()
}

#[test]
fn broken_specs_are_refused_with_file_and_pointer() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Nope'}\n",
            "/paths/~1a/get/responses/200/content/application~1json/schema/$ref",
            "points to nothing",
        ),
        (
            "  /a/{id}:\n    get:\n      responses: {}\n",
            "/paths/~1a~1{id}/get",
            "not defined",
        ),
        (
            "  /a:\n    get:\n      parameters:\n        - {name: q, in: body}\n      responses: {}\n",
            "/paths/~1a/get/parameters/0/in",
            "parameter location",
        ),
        (
            "  /a:\n    get:\n      parameters:\n        - {name: q, in: query, style: matrix}\n      responses: {}\n",
            "/paths/~1a/get/parameters/0/style",
            "not allowed",
        ),
        (
            "  /a:\n    get:\n      parameters:\n        - {name: q, in: query, schema: {type: string, pattern: '(?=x)'}}\n      responses: {}\n",
            "/paths/~1a/get/parameters/0/schema/pattern",
            "regular expression",
        ),
        (
            "  /a:\n    get:\n      operationId: same\n      responses: {}\n  /b:\n    get:\n      operationId: same\n      responses: {}\n",
            "/paths/~1b/get/operationId",
            "also used",
        ),
        (
            "  /a:\n    get:\n      x-portcullis-strict-object: true\n      responses: {}\n",
            "/paths/~1a/get/x-portcullis-strict-object",
            "unknown extension",
        ),
        (
            "  /a:\n    get:\n      responses:\n        '299x': {description: x}\n",
            "/paths/~1a/get/responses/299x",
            "not a status code",
        ),
        (
            "  /a:\n    get:\n      parameters:\n        - {name: q, in: query, schema: {type: strin}}\n      responses: {}\n",
            "/paths/~1a/get/parameters/0/schema/type",
            "unknown type",
        ),
        (
            "  /a:\n    get:\n      parameters:\n        - {name: q, in: query, schema: {$ref: 'https://example.com/s.yaml'}}\n      responses: {}\n",
            "/paths/~1a/get/parameters/0/schema",
            "never fetched",
        ),
    ];
    for (paths, pointer, message) in cases {
        let err = broken(paths);
        assert_eq!(err.file.to_str(), Some("spec.yaml"), "{err}");
        assert_eq!(err.pointer, *pointer, "{err}");
        assert!(err.message.contains(message), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("spec.yaml#{pointer}: ")),
            "{err}"
        );
    }
}

#[test]
fn reference_only_cycles_are_refused_recursive_schemas_are_not() {
    let cycle = r##"
openapi: 3.0.0
info: {title: t, version: "1"}
paths:
  /a:
    get:
      parameters:
        - {name: q, in: query, schema: {$ref: "#/components/schemas/A"}}
      responses: {}
components:
  schemas:
    A: {$ref: "#/components/schemas/B"}
    B: {$ref: "#/components/schemas/A"}
"##;
    let err = compile(&[("c.yaml", cycle)]).unwrap_err();
    assert!(err.message.contains("cycle"), "{err}");
    // Cycles through another document, via allOf, are schemas, not errors.
    let main = r##"
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /a:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "other.yaml#/Node"}
      responses: {}
"##;
    let other = r##"
Node:
  type: object
  properties:
    next: {$ref: "#/Node"}
    back: {$ref: "other.yaml#/Node"}
  allOf: [{$ref: "#/Base"}]
Base: {type: object, properties: {id: {type: integer}}}
"##;
    let spec = compile(&[("main.yaml", main), ("other.yaml", other)]).unwrap();
    assert_eq!(spec.dialect(), Dialect::V31);
    let err = compile(&[("main.yaml", main)]).unwrap_err();
    assert!(err.message.contains("other.yaml"), "{err}");
}

#[test]
fn json_documents_and_versions() {
    let json = r#"{"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"responses": {"204": {"description": "none"}}}}}}"#;
    assert_eq!(compile(&[("s.json", json)]).unwrap().operations.len(), 1);
    for (text, message) in [
        ("swagger: '2.0'\n", "missing"),
        ("openapi: 4.0.0\n", "unsupported OpenAPI version"),
        ("openapi: [\n", "invalid YAML"),
    ] {
        let err = compile(&[("s.yaml", text)]).unwrap_err();
        assert!(err.message.contains(message), "{text}: {err}");
    }
    assert!(
        compile(&[("s.json", "{")])
            .unwrap_err()
            .message
            .contains("invalid JSON")
    );
}
