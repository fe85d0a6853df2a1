//! Portcullis' own OpenAPI extensions, read once when a policy's spec
//! compiles: `x-portcullis-rate-limit` on an operation (one limit or a list,
//! in the shape of a `rate_limits.limits[]` entry, counted only for that
//! operation) and `x-portcullis-login` (the operation is a login whose
//! failures the policy's `brute_force` block counts, with the username's
//! location). A bad extension fails the load naming the spec file, its
//! line and the field. Nothing here counts anything: the gateway compiles
//! these with the config's own limits (`rate_limits.rs`, `abuse.rs`).

use std::path::{Path, PathBuf};

use portcullis_openapi::Spec;
use serde_json::Value;

use crate::config::ConfigError;
use crate::config::rate_limits::{KeyPart, LimitConfig};

pub const RATE_LIMIT: &str = "x-portcullis-rate-limit";
pub const LOGIN: &str = "x-portcullis-login";

/// What a policy's spec adds to its limits and login operations.
#[derive(Debug, Default)]
pub struct SpecExtensions {
    pub rate_limits: Vec<SpecLimit>,
    pub logins: Vec<SpecLogin>,
}

/// A limit from `x-portcullis-rate-limit`: its `operations` is the one
/// operation it sits on.
#[derive(Debug)]
pub struct SpecLimit {
    pub limit: LimitConfig,
    pub at: SpecField,
}

/// An operation marked `x-portcullis-login`.
#[derive(Debug)]
pub struct SpecLogin {
    pub operation: String,
    /// Where the username is; `None`: the `brute_force` block's `username`.
    pub username: Option<KeyPart>,
    pub at: SpecField,
}

/// Where a value is in a spec, for errors found after it was read.
#[derive(Clone, Debug)]
pub struct SpecField {
    pub file: PathBuf,
    /// Dotted path (`paths./login.post.x-portcullis-rate-limit`).
    pub field: String,
}

impl SpecField {
    /// An error at this field (or one below it), with the spec's line.
    pub fn error(&self, sub: &str, message: impl Into<String>) -> ConfigError {
        let field = if sub.is_empty() {
            self.field.clone()
        } else {
            format!("{}.{sub}", self.field)
        };
        let source = std::fs::read_to_string(&self.file).unwrap_or_default();
        ConfigError::at_field(&self.file, &source, &field, message)
    }
}

/// `/paths/~1login/post` as `paths./login.post`.
fn dotted(pointer: &str) -> String {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

/// Reads the extensions of every operation of `spec`. A login mark is
/// checked even when the policy has no `brute_force` block (a spec may be
/// shared by policies that count logins and ones that do not); only a
/// `brute_force` block uses it.
pub fn read(spec: &Spec) -> Result<SpecExtensions, ConfigError> {
    let mut out = SpecExtensions::default();
    for op in &spec.operations {
        let doc = spec.documents.doc(op.site.doc);
        let Some(Value::Object(object)) = doc.root.pointer(&op.site.pointer) else {
            continue;
        };
        let here = |name: &str| SpecField {
            file: doc.path.clone(),
            field: format!("{}.{name}", dotted(&op.site.pointer)),
        };
        if let Some(value) = object.get(RATE_LIMIT) {
            read_limits(&op.id, value, &here(RATE_LIMIT), &mut out.rate_limits)?;
        }
        if let Some(value) = object.get(LOGIN) {
            let at = here(LOGIN);
            let username = match value {
                Value::Bool(false) => continue,
                Value::Bool(true) => None,
                Value::Object(o) => {
                    if let Some(k) = o.keys().find(|k| *k != "username") {
                        return Err(
                            at.error(k, format!("unknown field {k:?}: {LOGIN} takes `username`"))
                        );
                    }
                    match o.get("username") {
                        None => None,
                        Some(Value::String(s)) => {
                            let part: KeyPart =
                                s.parse().map_err(|e: String| at.error("username", e))?;
                            if !matches!(
                                part,
                                KeyPart::Body(_) | KeyPart::Header(_) | KeyPart::Query(_)
                            ) {
                                return Err(at.error(
                                    "username",
                                    "the username must come from a body field, header or query parameter (body:/username)",
                                ));
                            }
                            Some(part)
                        }
                        Some(_) => {
                            return Err(
                                at.error("username", "a key part as text, e.g. \"body:/email\"")
                            );
                        }
                    }
                }
                _ => {
                    return Err(
                        at.error("", format!("{LOGIN} is `true` or a block with `username`"))
                    );
                }
            };
            out.logins.push(SpecLogin {
                operation: op.id.to_string(),
                username,
                at,
            });
        }
    }
    Ok(out)
}

fn read_limits(
    operation: &str,
    value: &Value,
    at: &SpecField,
    out: &mut Vec<SpecLimit>,
) -> Result<(), ConfigError> {
    let (items, listed): (Vec<&Value>, bool) = match value {
        Value::Array(list) => (list.iter().collect(), true),
        other => (vec![other], false),
    };
    for (i, item) in items.into_iter().enumerate() {
        let at = if listed {
            SpecField {
                file: at.file.clone(),
                field: format!("{}[{i}]", at.field),
            }
        } else {
            at.clone()
        };
        let Value::Object(fields) = item else {
            return Err(at.error("", "a limit block (name, key, rate or quota, ...)"));
        };
        if fields.contains_key("operations") {
            return Err(at.error(
                "operations",
                "implied: a limit in the spec applies to the operation it is on",
            ));
        }
        let mut fields = fields.clone();
        // One unnamed limit per operation is named after it.
        fields
            .entry("name")
            .or_insert_with(|| Value::String(operation.to_owned()));
        let mut limit: LimitConfig = serde_json::from_value(Value::Object(fields))
            .map_err(|e| at.error("", format!("invalid limit: {e}")))?;
        limit.operations = vec![operation.to_owned()];
        out.push(SpecLimit { limit, at });
    }
    Ok(())
}

/// The spec's root file, for messages about the spec as a whole.
pub fn root_file(spec: &Spec) -> &Path {
    &spec.documents.doc(spec.documents.root_id()).path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<SpecExtensions, ConfigError> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("portcullis-ext-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spec.yaml");
        std::fs::write(&path, text).unwrap();
        let spec = Spec::load(&path, &Default::default()).unwrap();
        let read = read(&spec);
        let _ = std::fs::remove_dir_all(&dir);
        read
    }

    const SPEC: &str = "\
openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /login:
    post:
      operationId: login
      x-portcullis-login:
        username: body:/email
      x-portcullis-rate-limit:
        key: [client_ip]
        rate: 5/1m
      responses:
        '200': {description: ok}
  /orders:
    get:
      operationId: listOrders
      x-portcullis-login: false
      x-portcullis-rate-limit:
        - name: orders-burst
          key: [client_ip]
          rate: 10/1s
        - name: orders-daily
          key: [client_ip]
          quota: 1000/1d
      responses:
        '200': {description: ok}
";

    #[test]
    fn limits_and_logins_are_read_from_operations() {
        let ext = load(SPEC).unwrap();
        let names: Vec<(&str, &[String])> = ext
            .rate_limits
            .iter()
            .map(|l| (l.limit.name.as_str(), &l.limit.operations[..]))
            .collect();
        assert_eq!(
            names,
            [
                ("login", &["login".to_owned()][..]),
                ("orders-burst", &["listOrders".to_owned()][..]),
                ("orders-daily", &["listOrders".to_owned()][..]),
            ]
        );
        assert_eq!(ext.logins.len(), 1);
        assert_eq!(ext.logins[0].operation, "login");
        assert_eq!(ext.logins[0].username, Some(KeyPart::Body("/email".into())));
    }

    #[test]
    fn bad_extensions_name_the_spec_file_line_and_field() {
        let bad = SPEC.replace("rate: 5/1m", "rate: 5/fortnight");
        let e = load(&bad).unwrap_err().to_string();
        assert!(
            e.contains("spec.yaml:9:")
                && e.contains("paths./login.post.x-portcullis-rate-limit")
                && e.contains("invalid rate"),
            "{e}"
        );
        let bad = SPEC.replace(
            "        rate: 5/1m",
            "        rate: 5/1m\n        operations: [x]",
        );
        let e = load(&bad).unwrap_err().to_string();
        assert!(
            e.contains("x-portcullis-rate-limit.operations") && e.contains("implied"),
            "{e}"
        );
        let bad = SPEC.replace("username: body:/email", "username: principal");
        let e = load(&bad).unwrap_err().to_string();
        assert!(
            e.contains("spec.yaml:8:") && e.contains("x-portcullis-login.username"),
            "{e}"
        );
        let bad = SPEC.replace(
            "x-portcullis-login: false",
            "x-portcullis-login: yes please",
        );
        let e = load(&bad).unwrap_err().to_string();
        assert!(
            e.contains("spec.yaml:17:") && e.contains("`true` or a block"),
            "{e}"
        );
    }
}
