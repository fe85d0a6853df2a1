//! Authorization decisions on an authenticated request: OpenAPI security
//! requirements (AND of the schemes inside one requirement object, OR across
//! the list, scopes per scheme), claim rules (`role in [admin, support]`,
//! `tenant == header.X-Tenant-Id`) and object-level bindings (BOLA: a path,
//! query, header or body value must equal a claim unless the caller has an
//! overriding scope). Pure: request values come through [`RequestValues`].

use std::borrow::Cow;

use serde_json::Value;

use crate::error::AuthError;
use crate::principal::{Principal, claim_text};

/// One scheme of a requirement object and the scopes it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemeUse {
    /// Index of the scheme in the caller's scheme table.
    pub scheme: usize,
    pub scopes: Vec<String>,
}

/// A security requirement object: every scheme must pass (AND).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requirement {
    pub schemes: Vec<SchemeUse>,
}

/// The result of [`evaluate_requirements`].
#[derive(Debug)]
pub enum Satisfied<'p> {
    /// No requirement applies (`security: []`, or an empty `{}` alternative).
    Anonymous,
    /// A requirement passed; the principal of its first scheme.
    By(&'p Principal),
}

/// Evaluates the alternatives (OR) in order. `authenticate(scheme)` runs a
/// scheme's authentication (callers cache its result). When no alternative
/// passes: 403 `auth.scope` if one was authenticated but lacked scopes,
/// otherwise the most telling authentication error (a presented but invalid
/// credential beats a missing one).
pub fn evaluate_requirements<'p>(
    alternatives: &[Requirement],
    mut authenticate: impl FnMut(usize) -> Result<&'p Principal, AuthError>,
) -> Result<Satisfied<'p>, AuthError> {
    if alternatives.is_empty() {
        return Ok(Satisfied::Anonymous);
    }
    let mut error: Option<AuthError> = None;
    let note = |e: AuthError, error: &mut Option<AuthError>| {
        let rank = |e: &AuthError| match e {
            AuthError::Scope => 3,
            AuthError::Missing | AuthError::ClientCertificate => 1,
            _ => 2,
        };
        if error.as_ref().is_none_or(|old| rank(&e) > rank(old)) {
            *error = Some(e);
        }
    };
    'alternatives: for requirement in alternatives {
        let mut first: Option<&'p Principal> = None;
        for used in &requirement.schemes {
            match authenticate(used.scheme) {
                Ok(p) => {
                    if !used.scopes.iter().all(|s| p.has_scope(s)) {
                        note(AuthError::Scope, &mut error);
                        continue 'alternatives;
                    }
                    first.get_or_insert(p);
                }
                Err(e) => {
                    note(e, &mut error);
                    continue 'alternatives;
                }
            }
        }
        return Ok(match first {
            Some(p) => Satisfied::By(p),
            None => Satisfied::Anonymous,
        });
    }
    Err(error.unwrap_or(AuthError::Missing))
}

/// Where a value of the request comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    Literal(String),
    Header(String),
    Path(String),
    Query(String),
    /// A JSON pointer into the body (`body./owner/id`, or `body.owner` for a
    /// top-level member).
    Body(String),
    Claim(String),
}

impl Operand {
    /// `header.X-Tenant-Id`, `path.userId`, `query.account`, `body./owner/id`,
    /// `claim.tenant`, a quoted string or a bare literal.
    pub fn parse(text: &str) -> Result<Operand, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty operand".into());
        }
        if let Some(q) = t
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .or_else(|| t.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
        {
            return Ok(Operand::Literal(q.to_owned()));
        }
        let (kind, name) = match t.split_once('.') {
            Some((k, n)) if !n.is_empty() => (k, n),
            _ => return Ok(Operand::Literal(t.to_owned())),
        };
        Ok(match kind {
            "header" => Operand::Header(name.to_ascii_lowercase()),
            "path" => Operand::Path(name.to_owned()),
            "query" => Operand::Query(name.to_owned()),
            "body" => Operand::Body(if name.starts_with('/') {
                name.to_owned()
            } else {
                format!("/{name}")
            }),
            "claim" => Operand::Claim(name.to_owned()),
            _ => Operand::Literal(t.to_owned()),
        })
    }

    /// Whether the value lives in the request body (so the rule waits for it).
    pub fn needs_body(&self) -> bool {
        matches!(self, Operand::Body(_))
    }
}

/// Request values rules read (implemented by the policy check over its
/// request view).
pub trait RequestValues {
    fn header(&self, lower_name: &str) -> Option<&str>;
    fn path_param(&self, name: &str) -> Option<Cow<'_, str>>;
    fn query(&self, name: &str) -> Option<Cow<'_, str>>;
    /// `None` when the body is absent, not JSON, or the pointer misses.
    fn body(&self, pointer: &str) -> Option<Cow<'_, str>>;
}

fn resolve<'v>(
    operand: &'v Operand,
    principal: &'v Principal,
    request: &'v dyn RequestValues,
) -> Option<Cow<'v, str>> {
    match operand {
        Operand::Literal(s) => Some(Cow::Borrowed(s)),
        Operand::Header(h) => request.header(h).map(Cow::Borrowed),
        Operand::Path(p) => request.path_param(p),
        Operand::Query(q) => request.query(q),
        Operand::Body(b) => request.body(b),
        Operand::Claim(c) => principal.claim(c).and_then(claim_text),
    }
}

/// Whether a claim value equals `wanted` (a list claim: contains it).
fn claim_matches(claim: &Value, wanted: &str) -> bool {
    match claim {
        Value::Array(list) => list
            .iter()
            .any(|v| claim_text(v).is_some_and(|t| t == wanted)),
        other => claim_text(other).is_some_and(|t| t == wanted),
    }
}

/// A rule on the principal's claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimRule {
    /// `claim in [a, b]`: the claim (or one of its elements) is listed.
    In { claim: String, values: Vec<String> },
    /// `claim == operand`.
    Eq { claim: String, operand: Operand },
    /// `claim != operand`.
    Ne { claim: String, operand: Operand },
}

impl ClaimRule {
    pub fn parse(text: &str) -> Result<ClaimRule, String> {
        let t = text.trim();
        let claim_name = |c: &str| -> Result<String, String> {
            let c = c.trim();
            let c = c.strip_prefix("claim.").unwrap_or(c);
            if c.is_empty() || c.contains(char::is_whitespace) {
                Err(format!(
                    "{text:?}: expected a claim name before the operator"
                ))
            } else {
                Ok(c.to_owned())
            }
        };
        if let Some((claim, op)) = t.split_once("==") {
            return Ok(ClaimRule::Eq {
                claim: claim_name(claim)?,
                operand: Operand::parse(op)?,
            });
        }
        if let Some((claim, op)) = t.split_once("!=") {
            return Ok(ClaimRule::Ne {
                claim: claim_name(claim)?,
                operand: Operand::parse(op)?,
            });
        }
        if let Some((claim, list)) = t.split_once(" in ") {
            let list = list.trim();
            let inner = list
                .strip_prefix('[')
                .and_then(|l| l.strip_suffix(']'))
                .ok_or_else(|| {
                    format!("{text:?}: `in` takes a list, as in `role in [admin, support]`")
                })?;
            let values: Vec<String> = inner
                .split(',')
                .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
                .filter(|v| !v.is_empty())
                .collect();
            if values.is_empty() {
                return Err(format!("{text:?}: the list is empty"));
            }
            return Ok(ClaimRule::In {
                claim: claim_name(claim)?,
                values,
            });
        }
        Err(format!(
            "{text:?}: expected `claim in [a, b]`, `claim == operand` or `claim != operand`"
        ))
    }

    pub fn needs_body(&self) -> bool {
        match self {
            ClaimRule::In { .. } => false,
            ClaimRule::Eq { operand, .. } | ClaimRule::Ne { operand, .. } => operand.needs_body(),
        }
    }

    /// Whether the rule holds; a missing claim or request value never holds
    /// for `in` and `==`.
    pub fn holds(&self, principal: &Principal, request: &dyn RequestValues) -> bool {
        match self {
            ClaimRule::In { claim, values } => principal
                .claim(claim)
                .is_some_and(|c| values.iter().any(|v| claim_matches(c, v))),
            ClaimRule::Eq { claim, operand } => {
                match (principal.claim(claim), resolve(operand, principal, request)) {
                    (Some(c), Some(v)) => claim_matches(c, &v),
                    _ => false,
                }
            }
            ClaimRule::Ne { claim, operand } => {
                match (principal.claim(claim), resolve(operand, principal, request)) {
                    (Some(c), Some(v)) => !claim_matches(c, &v),
                    _ => false,
                }
            }
        }
    }
}

/// Object-level binding: the request's `param` must equal the principal's
/// `claim`, unless the principal holds one of `unless_scopes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BolaBinding {
    pub param: Operand,
    pub claim: String,
    pub unless_scopes: Vec<String>,
}

impl BolaBinding {
    /// `Ok` when the binding holds or does not apply (the parameter is
    /// absent: nothing names an object); [`AuthError::Bola`] otherwise.
    pub fn check(
        &self,
        principal: &Principal,
        request: &dyn RequestValues,
    ) -> Result<(), AuthError> {
        if self.unless_scopes.iter().any(|s| principal.has_scope(s)) {
            return Ok(());
        }
        let Some(value) = resolve(&self.param, principal, request) else {
            return Ok(());
        };
        match principal.claim(&self.claim) {
            Some(c) if claim_matches(c, &value) => Ok(()),
            _ => Err(AuthError::Bola),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::PrincipalSource;
    use serde_json::json;

    struct Req;
    impl RequestValues for Req {
        fn header(&self, n: &str) -> Option<&str> {
            (n == "x-tenant-id").then_some("acme")
        }
        fn path_param(&self, n: &str) -> Option<Cow<'_, str>> {
            (n == "userId").then_some(Cow::Borrowed("u-1"))
        }
        fn query(&self, n: &str) -> Option<Cow<'_, str>> {
            (n == "account").then_some(Cow::Borrowed("a-9"))
        }
        fn body(&self, p: &str) -> Option<Cow<'_, str>> {
            (p == "/owner/id").then_some(Cow::Borrowed("u-1"))
        }
    }

    fn principal(claims: Value) -> Principal {
        Principal::from_claims(claims.as_object().unwrap().clone(), PrincipalSource::Jwt)
    }

    fn req(schemes: &[(usize, &[&str])]) -> Requirement {
        Requirement {
            schemes: schemes
                .iter()
                .map(|(s, scopes)| SchemeUse {
                    scheme: *s,
                    scopes: scopes.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn and_inside_a_requirement_or_across_the_list() {
        let jwt = principal(json!({"sub": "u-1", "scope": "users:read orders:read"}));
        let key = Principal::named("svc", &[], PrincipalSource::ApiKey);
        // scheme 0 = jwt (present), scheme 1 = api key (present), scheme 2 = mtls (absent)
        let auth = |s: usize| match s {
            0 => Ok(&jwt),
            1 => Ok(&key),
            _ => Err(AuthError::Missing),
        };
        // AND: jwt + mtls fails, jwt + key passes.
        assert!(matches!(
            evaluate_requirements(&[req(&[(0, &[]), (2, &[])])], auth),
            Err(AuthError::Missing)
        ));
        assert!(evaluate_requirements(&[req(&[(0, &[]), (1, &[])])], auth).is_ok());
        // OR: first alternative fails (mtls), second (jwt) passes.
        let r = evaluate_requirements(&[req(&[(2, &[])]), req(&[(0, &["users:read"])])], auth);
        assert!(matches!(r, Ok(Satisfied::By(p)) if p.subject.as_deref() == Some("u-1")));
        // Scopes: authenticated but lacking one → 403 scope, even if another
        // alternative was simply missing.
        let r = evaluate_requirements(&[req(&[(0, &["users:write"])]), req(&[(2, &[])])], auth);
        assert!(matches!(r, Err(AuthError::Scope)));
        // An invalid token beats a missing certificate.
        let bad = |s: usize| match s {
            0 => Err(AuthError::Expired),
            _ => Err(AuthError::Missing),
        };
        let r = evaluate_requirements(&[req(&[(2, &[])]), req(&[(0, &[])])], bad);
        assert!(matches!(r, Err(AuthError::Expired)));
        // No requirement, or an empty alternative: anonymous.
        assert!(matches!(
            evaluate_requirements(&[], bad),
            Ok(Satisfied::Anonymous)
        ));
        assert!(matches!(
            evaluate_requirements(&[req(&[(0, &[])]), req(&[])], bad),
            Ok(Satisfied::Anonymous)
        ));
    }

    #[test]
    fn claim_rules_parse_and_hold() {
        let p = principal(
            json!({"sub": "u-1", "role": "support", "tenant": "acme", "groups": ["a", "b"]}),
        );
        let holds = |t: &str| ClaimRule::parse(t).unwrap().holds(&p, &Req);
        assert!(holds("role in [admin, support]"));
        assert!(!holds("role in [admin]"));
        assert!(holds("groups in [b]"));
        assert!(holds("tenant == header.X-Tenant-Id"));
        assert!(!holds("tenant == 'other'"));
        assert!(holds("tenant != other"));
        assert!(holds("sub == path.userId"));
        assert!(!holds("missing == acme"));
        assert!(ClaimRule::parse("role in admin").is_err());
        assert!(ClaimRule::parse("role ~ admin").is_err());
        assert!(
            ClaimRule::parse("tenant == body.owner")
                .unwrap()
                .needs_body()
        );
    }

    #[test]
    fn bola_allowed_refused_and_overridden() {
        let owner = principal(json!({"sub": "u-1", "scope": "users:read"}));
        let other = principal(json!({"sub": "u-2", "scope": "users:read"}));
        let admin = principal(json!({"sub": "u-2", "scope": "users:admin"}));
        let b = BolaBinding {
            param: Operand::parse("path.userId").unwrap(),
            claim: "sub".into(),
            unless_scopes: vec!["users:admin".into()],
        };
        assert!(b.check(&owner, &Req).is_ok());
        assert_eq!(b.check(&other, &Req), Err(AuthError::Bola));
        assert!(b.check(&admin, &Req).is_ok());
        let body = BolaBinding {
            param: Operand::parse("body./owner/id").unwrap(),
            claim: "sub".into(),
            unless_scopes: vec![],
        };
        assert!(body.check(&owner, &Req).is_ok());
        assert_eq!(body.check(&other, &Req), Err(AuthError::Bola));
        // An absent parameter binds nothing.
        let absent = BolaBinding {
            param: Operand::parse("query.nothing").unwrap(),
            claim: "sub".into(),
            unless_scopes: vec![],
        };
        assert!(absent.check(&other, &Req).is_ok());
    }
}
