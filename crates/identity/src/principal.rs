//! The authenticated caller: who (subject), with which scopes, proven how,
//! and the claims rules can read. Built by the JWT verifier, the API key
//! store, token introspection or a client certificate.

use serde_json::{Map, Value};

/// How a principal was authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalSource {
    Jwt,
    ApiKey,
    Introspection,
    ClientCertificate,
}

impl PrincipalSource {
    pub fn name(self) -> &'static str {
        match self {
            PrincipalSource::Jwt => "jwt",
            PrincipalSource::ApiKey => "api_key",
            PrincipalSource::Introspection => "introspection",
            PrincipalSource::ClientCertificate => "mtls",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Principal {
    /// `sub`, the API key's principal, or the certificate's identity.
    pub subject: Option<String>,
    pub scopes: Vec<String>,
    /// Every claim (for rules and BOLA bindings); synthesized for API keys
    /// and certificates (`sub`, `scope`).
    pub claims: Map<String, Value>,
    pub source: PrincipalSource,
}

impl Principal {
    /// From verified claims: scopes from `scope` (space separated, RFC 8693)
    /// or `scp` (a list or a string).
    pub fn from_claims(claims: Map<String, Value>, source: PrincipalSource) -> Self {
        let mut scopes = Vec::new();
        for name in ["scope", "scp"] {
            match claims.get(name) {
                Some(Value::String(s)) => {
                    scopes.extend(s.split_ascii_whitespace().map(str::to_owned))
                }
                Some(Value::Array(list)) => {
                    scopes.extend(list.iter().filter_map(Value::as_str).map(str::to_owned))
                }
                _ => {}
            }
        }
        Principal {
            subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
            scopes,
            claims,
            source,
        }
    }

    /// A principal with a subject and scopes only (API keys, certificates).
    pub fn named(subject: &str, scopes: &[String], source: PrincipalSource) -> Self {
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::String(subject.to_owned()));
        claims.insert("scope".into(), Value::String(scopes.join(" ")));
        Principal {
            subject: Some(subject.to_owned()),
            scopes: scopes.to_vec(),
            claims,
            source,
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// A claim by name; a dotted name walks into objects (`realm.role`) when
    /// no claim has the dotted name itself.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        if let Some(v) = self.claims.get(name) {
            return Some(v);
        }
        let mut parts = name.split('.');
        let mut current = self.claims.get(parts.next()?)?;
        for part in parts {
            current = current.get(part)?;
        }
        Some(current)
    }
}

/// A claim value as text for comparisons and upstream headers: strings as
/// they are, numbers and booleans printed, others `None`.
pub fn claim_text(value: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b {
            "true"
        } else {
            "false"
        })),
        _ => None,
    }
}
