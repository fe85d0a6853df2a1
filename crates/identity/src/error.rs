//! Why a credential was refused: one typed error per cause, each with a stable
//! rule id (documented in `docs/rules.md`) and the HTTP answer it maps to.
//! Messages are safe to show a client: they never contain the token.

use thiserror::Error;

/// Whether a refusal means "who are you?" (401) or "not allowed" (403).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 401 with `WWW-Authenticate: Bearer error="invalid_token"` (or no error
    /// code when no credential was sent at all).
    Unauthenticated,
    /// 403 with `WWW-Authenticate: Bearer error="insufficient_scope"`.
    Forbidden,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no credentials")]
    Missing,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("token algorithm \"none\" is refused")]
    AlgNone,
    #[error("token algorithm is not accepted")]
    Algorithm,
    #[error("token has a critical header parameter that is not understood")]
    Crit,
    #[error("no key matches the token's key id")]
    UnknownKid,
    #[error("the key for this token cannot be used with its algorithm")]
    KeyMismatch,
    #[error("token signature is invalid")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("token issuer is not accepted")]
    Issuer,
    #[error("token audience is not accepted")]
    Audience,
    #[error("token lacks a required claim")]
    ClaimMissing,
    #[error("API key is not valid")]
    ApiKey,
    #[error("the keys that verify tokens are unavailable")]
    KeysUnavailable,
    #[error("a verified client certificate is required")]
    ClientCertificate,
    #[error("insufficient scope")]
    Scope,
    #[error("a claim rule refused the request")]
    Claim,
    #[error("object-level authorization refused the request")]
    Bola,
    #[error("token is not active")]
    Inactive,
    #[error("the token introspection endpoint is unavailable")]
    IntrospectionUnavailable,
}

impl AuthError {
    /// Stable rule id.
    pub fn rule(&self) -> &'static str {
        match self {
            AuthError::Missing => "auth.missing",
            AuthError::Malformed(_) => "auth.jwt.malformed",
            AuthError::AlgNone => "auth.jwt.alg_none",
            AuthError::Algorithm => "auth.jwt.algorithm",
            AuthError::Crit => "auth.jwt.crit",
            AuthError::UnknownKid => "auth.jwt.unknown_kid",
            AuthError::KeyMismatch => "auth.jwt.key_mismatch",
            AuthError::Signature => "auth.jwt.signature",
            AuthError::Expired => "auth.jwt.expired",
            AuthError::NotYetValid => "auth.jwt.not_yet_valid",
            AuthError::IssuedInFuture => "auth.jwt.iat",
            AuthError::Issuer => "auth.jwt.issuer",
            AuthError::Audience => "auth.jwt.audience",
            AuthError::ClaimMissing => "auth.jwt.claim_missing",
            AuthError::ApiKey => "auth.api_key",
            AuthError::KeysUnavailable => "auth.jwt.keys_unavailable",
            AuthError::ClientCertificate => "auth.mtls",
            AuthError::Scope => "auth.scope",
            AuthError::Claim => "auth.claim",
            AuthError::Bola => "auth.bola",
            AuthError::Inactive => "auth.introspection.inactive",
            AuthError::IntrospectionUnavailable => "auth.introspection.unavailable",
        }
    }

    pub fn refusal(&self) -> Refusal {
        match self {
            AuthError::Scope | AuthError::Claim | AuthError::Bola => Refusal::Forbidden,
            _ => Refusal::Unauthenticated,
        }
    }
}

/// Every rule id [`AuthError::rule`] can return (for the docs test).
pub const RULES: &[&str] = &[
    "auth.missing",
    "auth.jwt.malformed",
    "auth.jwt.alg_none",
    "auth.jwt.algorithm",
    "auth.jwt.crit",
    "auth.jwt.unknown_kid",
    "auth.jwt.key_mismatch",
    "auth.jwt.signature",
    "auth.jwt.expired",
    "auth.jwt.not_yet_valid",
    "auth.jwt.iat",
    "auth.jwt.issuer",
    "auth.jwt.audience",
    "auth.jwt.claim_missing",
    "auth.api_key",
    "auth.jwt.keys_unavailable",
    "auth.mtls",
    "auth.scope",
    "auth.claim",
    "auth.bola",
    "auth.introspection.inactive",
    "auth.introspection.unavailable",
];

/// Why a key or key set could not be loaded.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("not a PEM public key")]
    Pem,
    #[error("invalid base64 in {0}")]
    Base64(&'static str),
    #[error("unsupported key type {0:?}")]
    UnsupportedType(String),
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("missing JWK member {0:?}")]
    MissingMember(&'static str),
    #[error("key rejected: {0}")]
    Rejected(String),
    #[error("an HMAC secret must be at least 32 bytes")]
    ShortSecret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_catalogue_lists_every_rule() {
        let all = [
            AuthError::Missing,
            AuthError::Malformed("x"),
            AuthError::AlgNone,
            AuthError::Algorithm,
            AuthError::Crit,
            AuthError::UnknownKid,
            AuthError::KeyMismatch,
            AuthError::Signature,
            AuthError::Expired,
            AuthError::NotYetValid,
            AuthError::IssuedInFuture,
            AuthError::Issuer,
            AuthError::Audience,
            AuthError::ClaimMissing,
            AuthError::ApiKey,
            AuthError::KeysUnavailable,
            AuthError::ClientCertificate,
            AuthError::Scope,
            AuthError::Claim,
            AuthError::Bola,
            AuthError::Inactive,
            AuthError::IntrospectionUnavailable,
        ];
        assert_eq!(all.len(), RULES.len());
        for e in all {
            assert!(RULES.contains(&e.rule()), "{} not in RULES", e.rule());
        }
    }
}
