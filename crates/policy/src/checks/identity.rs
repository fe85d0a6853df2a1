//! The identity check: authenticates the caller and authorizes the request
//! before any other check of the policy (route → identify → limit →
//! validate → detect). It matches the OpenAPI operation itself (so it runs
//! first and the operation's `security` applies), evaluates the security
//! requirements with the configured schemes (JWT, API keys, client
//! certificates), then the operation's claim rules and BOLA bindings (body
//! bindings on the body hook), and asks the gateway to pass the principal
//! upstream in headers whose incoming copies it always removes. Failures are
//! 401 (`auth.*` authentication rules) or 403 (`auth.scope`, `auth.claim`,
//! `auth.bola`). Tokens are never copied into findings: the excerpt is a
//! fingerprint (first 12 hex digits of the token's SHA-256).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderName, StatusCode, header};
use portcullis_identity::authz::{Satisfied, evaluate_requirements};
use portcullis_identity::keys::Algorithm;
use portcullis_identity::principal::claim_text;
use portcullis_identity::{
    ApiKeyStore, AuthError, BolaBinding, ClaimRule, JwtVerifier, KeySet, Principal,
    PrincipalSource, Refusal, RequestValues, Requirement, SchemeUse, fingerprint,
};
use portcullis_openapi::Spec;
use serde_json::Value;

use crate::body::ParsedBody;
use crate::checks::Check;
use crate::config::Mode;
use crate::exchange::{Exchange, MatchedOperation};
use crate::finding::{Finding, Severity};
use crate::introspection::IntrospectionSource;
use crate::jwks::{JwksSource, unix_ms};

const CHECK: &str = "identity";

/// How one security scheme authenticates.
#[derive(Debug)]
pub enum Scheme {
    /// `Authorization: Bearer` (or the configured header / cookie): a JWT.
    Jwt,
    /// An API key in a header, query parameter or cookie.
    ApiKey {
        header: Option<HeaderName>,
        query: Option<String>,
        cookie: Option<String>,
    },
    /// The verified client certificate.
    Mtls,
    /// A scheme the gateway cannot check (HTTP basic, ...): never passes.
    Unsupported,
}

/// JWT settings compiled from the config.
pub struct JwtSettings {
    pub verifier: JwtVerifier,
    pub static_keys: KeySet,
    pub jwks: Option<Arc<JwksSource>>,
    pub header: HeaderName,
    pub cookie: Option<String>,
    pub cache: super::token_cache::TokenCache,
}

/// Client-certificate settings.
pub struct MtlsSettings {
    /// `spiffe`, `san` or `subject`.
    pub principal: String,
    pub scopes: HashMap<String, Vec<String>>,
}

/// Claim rules and bindings of one operation.
#[derive(Default)]
pub struct OperationRules {
    pub claims: Vec<ClaimRule>,
    pub bola: Vec<BolaBinding>,
}

impl OperationRules {
    fn needs_body(&self) -> bool {
        self.claims.iter().any(ClaimRule::needs_body)
            || self.bola.iter().any(|b| b.param.needs_body())
    }
}

pub struct UpstreamHeaders {
    pub subject: HeaderName,
    pub scopes: HeaderName,
    pub method: HeaderName,
    pub claims: Vec<(HeaderName, String)>,
}

impl UpstreamHeaders {
    fn names(&self) -> impl Iterator<Item = &HeaderName> {
        [&self.subject, &self.scopes, &self.method]
            .into_iter()
            .chain(self.claims.iter().map(|(h, _)| h))
    }
}

pub struct IdentityCheck {
    pub mode: Mode,
    pub spec: Option<Arc<Spec>>,
    /// By spec operation index: its requirements (`None`: the spec says nothing).
    pub operation_requirements: Vec<Option<Vec<Requirement>>>,
    /// Requirements when the operation has none (from `require`).
    pub default_requirements: Vec<Requirement>,
    pub schemes: Vec<Scheme>,
    pub jwt: Option<JwtSettings>,
    pub api_keys: Option<ApiKeyStore>,
    pub mtls: Option<MtlsSettings>,
    pub headers: UpstreamHeaders,
    /// By operation id; `*` applies to every request.
    pub rules: HashMap<String, OperationRules>,
    /// `api_keys.hide_credentials`: an accepted key is not forwarded.
    pub hide_api_keys: bool,
    /// Opaque bearer tokens: the answers the gateway fetched before the checks.
    pub introspection: Option<Arc<IntrospectionSource>>,
}

/// A scheme's authentication outcome, computed at most once per request.
type Outcome = OnceCell<Result<Arc<Principal>, AuthError>>;
const INLINE_SCHEMES: usize = 8;

/// What the head hook learnt about the operation.
struct Matched<'s, 'p> {
    op: Option<&'s portcullis_openapi::Operation>,
    captures: Vec<&'p str>,
}

impl IdentityCheck {
    fn finding(&self, error: &AuthError, excerpt: Option<String>) -> Finding {
        let mut finding = refusal_finding(error, self.mode);
        if let (AuthError::IntrospectionUnavailable, Some(source)) = (error, &self.introspection) {
            finding.status = source.on_unavailable;
        }
        finding.excerpt = excerpt;
        finding
    }

    /// The bearer token, from the configured header then cookie.
    fn token<'e>(&self, exchange: &'e Exchange<'_>) -> Option<&'e str> {
        std::str::from_utf8(self.token_bytes(exchange)?).ok()
    }

    /// The bearer token's bytes: a cache hit needs no UTF-8 check of them.
    fn token_bytes<'e>(&self, exchange: &'e Exchange<'_>) -> Option<&'e [u8]> {
        let jwt = self.jwt.as_ref()?;
        if let Some(v) = exchange.headers.get(&jwt.header) {
            let v = v.as_bytes().trim_ascii();
            let token = match v.get(..7) {
                Some(p) if p.eq_ignore_ascii_case(b"bearer ") => v[7..].trim_ascii_start(),
                _ if jwt.header == header::AUTHORIZATION => return None,
                _ => v,
            };
            return Some(token);
        }
        let name = jwt.cookie.as_deref()?;
        exchange
            .cookies()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_bytes())
    }

    fn verify_jwt(&self, token: &[u8]) -> Result<Arc<Principal>, AuthError> {
        let Some(jwt) = &self.jwt else {
            return Err(AuthError::Missing);
        };
        let now_ms = unix_ms();
        let now = now_ms / 1000;
        let jwks_keys = jwt.jwks.as_ref().and_then(|s| s.keys(now_ms));
        if jwt.jwks.is_some() && jwks_keys.is_none() && jwt.static_keys.is_empty() {
            return Err(AuthError::KeysUnavailable);
        }
        let epoch = jwt.jwks.as_ref().map_or(0, |s| s.fetched_at_ms());
        if let Some(hit) = jwt.cache.get(token, now_ms, epoch) {
            return Ok(hit);
        }
        let token = std::str::from_utf8(token).map_err(|_| AuthError::Malformed("not UTF-8"))?;
        let verified = match &jwks_keys {
            Some(keys) => match jwt.verifier.verify(token, keys, now) {
                Err(AuthError::UnknownKid) if !jwt.static_keys.is_empty() => {
                    jwt.verifier.verify(token, &jwt.static_keys, now)
                }
                other => other,
            },
            None => jwt.verifier.verify(token, &jwt.static_keys, now),
        };
        let principal = Arc::new(verified?);
        jwt.cache.put(token, principal.clone(), now_ms, epoch);
        Ok(principal)
    }

    fn authenticate(
        &self,
        scheme: &Scheme,
        exchange: &Exchange<'_>,
    ) -> Result<Arc<Principal>, AuthError> {
        match scheme {
            Scheme::Jwt => {
                // An opaque token (or any, without a JWT verifier) is introspected.
                if let Some(source) = &self.introspection
                    && let Some(token) = source.token(exchange.headers)
                {
                    return source.authenticate(token, unix_ms());
                }
                let token = self.token_bytes(exchange).ok_or(AuthError::Missing)?;
                self.verify_jwt(token)
            }
            Scheme::ApiKey {
                header,
                query,
                cookie,
            } => {
                let store = self.api_keys.as_ref().ok_or(AuthError::Missing)?;
                let presented: Option<Cow<'_, str>> = header
                    .as_ref()
                    .and_then(|h| exchange.headers.get(h))
                    .and_then(|v| v.to_str().ok())
                    .map(Cow::Borrowed)
                    .or_else(|| {
                        let q = query.as_deref()?;
                        exchange
                            .query_pairs()
                            .iter()
                            .find(|(k, _)| k == q)
                            .map(|(_, v)| v.clone())
                    })
                    .or_else(|| {
                        let c = cookie.as_deref()?;
                        exchange
                            .cookies()
                            .iter()
                            .find(|(n, _)| *n == c)
                            .map(|(_, v)| Cow::Borrowed(*v))
                    });
                let presented = presented.ok_or(AuthError::Missing)?;
                let principal = store
                    .lookup(presented.trim())
                    .map(|p| Arc::new(p.clone()))
                    .ok_or(AuthError::ApiKey)?;
                if self.hide_api_keys {
                    // Every place this scheme reads a key from: one the
                    // client did not use costs nothing to remove.
                    exchange.add_rewrites(|r| {
                        if let Some(h) = header {
                            r.remove_headers.push(Cow::Owned(h.as_str().to_owned()));
                        }
                        if let Some(q) = query {
                            r.remove_query.push(q.clone());
                        }
                        if let Some(c) = cookie {
                            r.remove_cookies.push(c.clone());
                        }
                    });
                }
                Ok(principal)
            }
            Scheme::Mtls => {
                let identity = exchange.peer_identity.ok_or(AuthError::ClientCertificate)?;
                let settings = self.mtls.as_ref().ok_or(AuthError::ClientCertificate)?;
                // SANs are typed (`DNS:api.internal`): the principal is the value.
                let first_san = identity
                    .sans
                    .first()
                    .map(|s| s.split_once(':').map_or(s.as_str(), |(_, v)| v));
                let name = match settings.principal.as_str() {
                    "subject" => Some(identity.subject.as_str()),
                    "san" => first_san,
                    _ => identity.spiffe_id.as_deref().or(first_san),
                }
                .unwrap_or(identity.subject.as_str());
                let scopes = settings.scopes.get(name).cloned().unwrap_or_default();
                let mut p = Principal::named(name, &scopes, PrincipalSource::ClientCertificate);
                p.claims.insert(
                    "x5t#S256".into(),
                    Value::String(identity.fingerprint_sha256.clone()),
                );
                Ok(Arc::new(p))
            }
            Scheme::Unsupported => Err(AuthError::Missing),
        }
    }

    fn matched<'s, 'p>(&'s self, exchange: &Exchange<'p>) -> Matched<'s, 'p> {
        let Some(spec) = &self.spec else {
            return Matched {
                op: None,
                captures: Vec::new(),
            };
        };
        match spec.route(exchange.method, exchange.path) {
            Ok(m) => {
                let op = &spec.operations[m.operation];
                exchange.set_operation(MatchedOperation {
                    id: op.id.clone(),
                    index: m.operation,
                });
                Matched {
                    op: Some(op),
                    captures: m.captures,
                }
            }
            Err(_) => Matched {
                op: None,
                captures: Vec::new(),
            },
        }
    }

    fn requirements(&self, op_index: Option<usize>) -> &[Requirement] {
        op_index
            .and_then(|i| self.operation_requirements.get(i))
            .and_then(Option::as_ref)
            .map_or(&self.default_requirements, |r| r)
    }

    /// Runs the requirements; the principal when one authenticated.
    fn identify(
        &self,
        exchange: &Exchange<'_>,
        op_index: Option<usize>,
    ) -> Result<Option<Arc<Principal>>, AuthError> {
        // One outcome per scheme, on the stack for the usual few schemes.
        let inline: [Outcome; INLINE_SCHEMES] = Default::default();
        let heap: Vec<Outcome> = if self.schemes.len() > INLINE_SCHEMES {
            (0..self.schemes.len()).map(|_| OnceCell::new()).collect()
        } else {
            Vec::new()
        };
        let cache: &[Outcome] = if heap.is_empty() {
            &inline[..self.schemes.len()]
        } else {
            &heap
        };
        let result = evaluate_requirements(self.requirements(op_index), |i| {
            let (Some(cell), Some(scheme)) = (cache.get(i), self.schemes.get(i)) else {
                return Err(AuthError::Missing);
            };
            match cell.get_or_init(|| self.authenticate(scheme, exchange)) {
                Ok(p) => Ok(&**p),
                Err(e) => Err(e.clone()),
            }
        });
        match result {
            Ok(Satisfied::Anonymous) => Ok(None),
            Ok(Satisfied::By(p)) => Ok(cache
                .iter()
                .filter_map(|c| c.get()?.as_ref().ok())
                .find(|a| std::ptr::eq(&***a, p))
                .cloned()),
            Err(e) => Err(e),
        }
    }

    fn operation_rules<'r>(
        &'r self,
        op_id: Option<&str>,
    ) -> impl Iterator<Item = &'r OperationRules> {
        let own = op_id.and_then(|id| self.rules.get(id));
        self.rules.get("*").into_iter().chain(own)
    }

    /// Claim rules and bindings; `body` selects the ones that read the body.
    fn authorize(
        &self,
        principal: &Principal,
        values: &dyn RequestValues,
        op_id: Option<&str>,
        body: bool,
    ) -> Result<(), AuthError> {
        for rules in self.operation_rules(op_id) {
            for rule in rules.claims.iter().filter(|r| r.needs_body() == body) {
                if !rule.holds(principal, values) {
                    return Err(AuthError::Claim);
                }
            }
            for binding in rules.bola.iter().filter(|b| b.param.needs_body() == body) {
                binding.check(principal, values)?;
            }
        }
        Ok(())
    }

    fn pass_upstream(&self, exchange: &Exchange<'_>, principal: &Principal) {
        let h = &self.headers;
        // Values that cannot be header values (control characters) are dropped.
        let value = |v: &str| http::HeaderValue::from_str(v).ok();
        exchange.add_rewrites(|r| {
            let add = &mut r.add_headers;
            add.reserve(3 + h.claims.len());
            if let Some(v) = principal.subject.as_deref().and_then(value) {
                add.push((h.subject.clone(), v));
            }
            let scopes = match principal.scopes.as_slice() {
                [] => None,
                [one] => value(one),
                many => value(&many.join(" ")),
            };
            if let Some(v) = scopes {
                add.push((h.scopes.clone(), v));
            }
            add.push((
                h.method.clone(),
                http::HeaderValue::from_static(principal.source.name()),
            ));
            for (name, claim) in &h.claims {
                if let Some(v) = principal
                    .claim(claim)
                    .and_then(claim_text)
                    .and_then(|t| value(&t))
                {
                    add.push((name.clone(), v));
                }
            }
        });
    }
}

/// The finding of a refused credential (no excerpt; 503 for an unavailable
/// introspection endpoint unless the source says 401).
pub fn refusal_finding(error: &AuthError, mode: Mode) -> Finding {
    let status = match (error, error.refusal()) {
        (AuthError::IntrospectionUnavailable, _) => StatusCode::SERVICE_UNAVAILABLE,
        (_, Refusal::Unauthenticated) => StatusCode::UNAUTHORIZED,
        (_, Refusal::Forbidden) => StatusCode::FORBIDDEN,
    };
    Finding {
        check: CHECK,
        rule: error.rule(),
        severity: Severity::Critical,
        status,
        location: "credentials".into(),
        reason: error.to_string().into(),
        excerpt: None,
        mode,
    }
}

/// Request values for rules, over the exchange and the matched route.
struct Values<'a, 'e> {
    exchange: &'a Exchange<'e>,
    matched: &'a Matched<'a, 'e>,
}

impl RequestValues for Values<'_, '_> {
    fn header(&self, lower_name: &str) -> Option<&str> {
        self.exchange.headers.get(lower_name)?.to_str().ok()
    }

    fn path_param(&self, name: &str) -> Option<Cow<'_, str>> {
        let op = self.matched.op?;
        let pos = op
            .path_params
            .iter()
            .position(|&i| &*op.parameters[i].name == name)?;
        let raw = self.matched.captures.get(pos)?;
        percent_encoding::percent_decode_str(raw).decode_utf8().ok()
    }

    fn query(&self, name: &str) -> Option<Cow<'_, str>> {
        self.exchange
            .query_pairs()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| Cow::Borrowed(v.as_ref()))
    }

    fn body(&self, pointer: &str) -> Option<Cow<'_, str>> {
        match self.exchange.parsed_body()? {
            ParsedBody::Json(v) => claim_text(v.pointer(pointer)?),
            ParsedBody::Form(pairs) => pairs
                .iter()
                .find(|(k, _)| Some(k.as_str()) == pointer.strip_prefix('/'))
                .map(|(_, v)| Cow::Borrowed(v.as_str())),
            _ => None,
        }
    }
}

impl Check for IdentityCheck {
    fn name(&self) -> &'static str {
        CHECK
    }

    fn on_request_head(&self, exchange: &Exchange<'_>, findings: &mut Vec<Finding>) {
        // Anti-spoofing: the principal headers reach the upstream only from here.
        // One pass over the request's few names instead of a hashed lookup
        // per principal header (custom names hash their bytes each time).
        let spoofed = exchange
            .headers
            .keys()
            .any(|k| self.headers.names().any(|h| h == k));
        if spoofed {
            let names: Vec<Cow<'static, str>> = self
                .headers
                .names()
                .filter(|h| exchange.headers.contains_key(*h))
                .map(|h| Cow::Owned(h.as_str().to_owned()))
                .collect();
            exchange.add_rewrites(|r| r.remove_headers.extend(names));
        }
        let matched = self.matched(exchange);
        let op_index = exchange
            .operation()
            .map(|m| m.index)
            .filter(|_| matched.op.is_some());
        let op_id = matched.op.map(|o| &*o.id);
        let principal = match self.identify(exchange, op_index) {
            Ok(p) => p,
            Err(e) => {
                let excerpt = self
                    .token(exchange)
                    .or_else(|| self.introspection.as_ref()?.token(exchange.headers))
                    .map(|t| format!("token {}", fingerprint(t)));
                findings.push(self.finding(&e, excerpt));
                return;
            }
        };
        let Some(principal) = principal else {
            return;
        };
        // Verified: later phases (principal and claim rate-limit keys) read it.
        exchange.set_principal(principal.clone());
        let values = Values {
            exchange,
            matched: &matched,
        };
        if let Err(e) = self.authorize(&principal, &values, op_id, false) {
            let who = principal.subject.as_deref().map(|s| format!("subject {s}"));
            findings.push(self.finding(&e, who.map(|w| crate::finding::excerpt(&w))));
            return;
        }
        self.pass_upstream(exchange, &principal);
    }

    fn wants_request_body(&self, exchange: &Exchange<'_>) -> bool {
        self.operation_rules(exchange.operation_id())
            .any(OperationRules::needs_body)
    }

    fn on_request_body(&self, exchange: &Exchange<'_>, findings: &mut Vec<Finding>) {
        // Only operations with body bindings get here. The head hook's
        // verified principal is used (never verified twice); a failure was
        // already reported there.
        let matched = self.matched(exchange);
        let Some(principal) = exchange.principal() else {
            return;
        };
        let values = Values {
            exchange,
            matched: &matched,
        };
        if let Err(e) = self.authorize(principal, &values, matched.op.map(|o| &*o.id), true) {
            let who = principal.subject.as_deref().map(|s| format!("subject {s}"));
            findings.push(self.finding(&e, who.map(|w| crate::finding::excerpt(&w))));
        }
    }
}

/// Parses an algorithm list from the config.
pub fn parse_algorithms(names: &[String]) -> Result<Vec<Algorithm>, String> {
    if names.is_empty() {
        return Ok(Algorithm::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            Algorithm::from_name(n).ok_or_else(|| {
                format!(
                    "unknown algorithm {n:?} (supported: {})",
                    Algorithm::ALL.map(|a| a.name()).join(", ")
                )
            })
        })
        .collect()
}

/// Fixed slots of the scheme table: the config's own schemes (what `require`
/// names), then one that never passes.
pub const JWT_SCHEME: usize = 0;
pub const API_KEY_SCHEME: usize = 1;
pub const MTLS_SCHEME: usize = 2;
const UNDEFINED_SCHEME: usize = 3;

/// The scheme table without a spec: the config's schemes, then the
/// never-passing slot.
pub fn base_schemes(api_key_defaults: (&str, Option<&str>)) -> (Vec<Scheme>, Vec<String>) {
    let schemes = vec![
        Scheme::Jwt,
        Scheme::ApiKey {
            header: HeaderName::from_bytes(api_key_defaults.0.as_bytes()).ok(),
            query: api_key_defaults.1.map(str::to_owned),
            cookie: None,
        },
        Scheme::Mtls,
        Scheme::Unsupported,
    ];
    let names = vec![
        "jwt".into(),
        "api_key".into(),
        "mtls".into(),
        "undefined".into(),
    ];
    (schemes, names)
}

/// The OpenAPI `security` of each operation, mapped onto a scheme table
/// built from `components.securitySchemes` (by scheme name).
pub fn spec_requirements(
    spec: &Spec,
    api_key_defaults: (&str, Option<&str>),
) -> (Vec<Option<Vec<Requirement>>>, Vec<Scheme>, Vec<String>) {
    let root = &spec.documents.doc(spec.documents.root_id()).root;
    let (mut schemes, mut names) = base_schemes(api_key_defaults);
    let mut index_of: HashMap<String, usize> = HashMap::new();
    if let Some(Value::Object(defs)) = root.pointer("/components/securitySchemes") {
        for (name, def) in defs {
            let kind = def.get("type").and_then(Value::as_str).unwrap_or("");
            let scheme = match kind {
                "http" => {
                    let s = def.get("scheme").and_then(Value::as_str).unwrap_or("");
                    if s.eq_ignore_ascii_case("bearer") {
                        Scheme::Jwt
                    } else {
                        Scheme::Unsupported
                    }
                }
                "oauth2" | "openIdConnect" => Scheme::Jwt,
                "mutualTLS" => Scheme::Mtls,
                "apiKey" => {
                    let key_name = def.get("name").and_then(Value::as_str).unwrap_or("");
                    match def.get("in").and_then(Value::as_str) {
                        Some("header") => Scheme::ApiKey {
                            header: HeaderName::from_bytes(key_name.as_bytes()).ok(),
                            query: None,
                            cookie: None,
                        },
                        Some("query") => Scheme::ApiKey {
                            header: None,
                            query: Some(key_name.to_owned()),
                            cookie: None,
                        },
                        Some("cookie") => Scheme::ApiKey {
                            header: None,
                            query: None,
                            cookie: Some(key_name.to_owned()),
                        },
                        _ => Scheme::Unsupported,
                    }
                }
                _ => Scheme::Unsupported,
            };
            index_of.insert(name.clone(), schemes.len());
            names.push(name.clone());
            schemes.push(scheme);
        }
    }
    let parse = |v: &Value| -> Vec<Requirement> {
        v.as_array()
            .map(|list| {
                list.iter()
                    .map(|req| Requirement {
                        schemes: req
                            .as_object()
                            .map(|o| {
                                o.iter()
                                    .map(|(name, scopes)| SchemeUse {
                                        scheme: index_of
                                            .get(name)
                                            .copied()
                                            .unwrap_or(UNDEFINED_SCHEME),
                                        scopes: scopes
                                            .as_array()
                                            .map(|s| {
                                                s.iter()
                                                    .filter_map(Value::as_str)
                                                    .map(str::to_owned)
                                                    .collect()
                                            })
                                            .unwrap_or_default(),
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let root_security = root.get("security").map(parse);
    let per_op = spec
        .operations
        .iter()
        .map(|op| {
            let doc = &spec.documents.doc(op.site.doc).root;
            match doc
                .pointer(&op.site.pointer)
                .and_then(|v| v.get("security"))
            {
                Some(s) => Some(parse(s)),
                None => root_security.clone(),
            }
        })
        .collect();
    (per_op, schemes, names)
}
