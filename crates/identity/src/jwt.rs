//! JWT (JWS compact) verification: header checks (`alg: none`, algorithms
//! outside the allowed list, unknown `crit`), key lookup by `kid`, the
//! signature, then the registered claims (`exp`, `nbf`, `iat` with a skew,
//! `iss`, `aud`) and required claims. Order matters: nothing of the payload
//! is trusted, or even parsed, before the signature checks out.
//! Never logs, never allocates a copy of the token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::keys::{Algorithm, KeySet, Lookup};
use crate::principal::{Principal, PrincipalSource};

/// Longest token accepted, in bytes (a header line is bounded anyway; this
/// bounds the work done on garbage).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What a token must satisfy besides its signature.
#[derive(Clone, Debug)]
pub struct Validation {
    /// Accepted algorithms (a key must also support the token's one).
    pub algorithms: Vec<Algorithm>,
    /// Accepted `iss` values; empty accepts any.
    pub issuers: Vec<String>,
    /// Accepted audiences: the token's `aud` (string or list) must contain
    /// one of them; empty accepts any.
    pub audiences: Vec<String>,
    /// Allowed clock difference, in seconds, for `exp`, `nbf` and `iat`.
    pub leeway_secs: u64,
    /// Whether a token without `exp` is refused.
    pub require_exp: bool,
    /// Claims that must be present.
    pub required_claims: Vec<String>,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            algorithms: Algorithm::ALL.to_vec(),
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway_secs: 30,
            require_exp: true,
            required_claims: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    crit: Option<Value>,
}

/// The parts of a token that decide which key verifies it.
pub struct TokenHeader {
    pub alg: Algorithm,
    pub kid: Option<String>,
}

/// Decodes and checks the header alone (no key needed): lets the gateway
/// see an unknown `kid` before it verifies.
pub fn decode_header(token: &str) -> Result<TokenHeader, AuthError> {
    let (header_b64, _, _) = split(token)?;
    // Headers are small: decoded on the stack, unless one carries a
    // certificate chain.
    let mut buf = [0u8; 1024];
    let heap;
    let bytes: &[u8] = if header_b64.len() <= 1300 {
        let len = URL_SAFE_NO_PAD
            .decode_slice(header_b64, &mut buf)
            .map_err(|_| AuthError::Malformed("header is not base64url"))?;
        &buf[..len]
    } else {
        heap = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| AuthError::Malformed("header is not base64url"))?;
        &heap
    };
    let header: Header<'_> = serde_json::from_slice(bytes)
        .map_err(|_| AuthError::Malformed("header is not a JSON object"))?;
    let alg = match header.alg.as_deref() {
        None => return Err(AuthError::Malformed("header has no alg")),
        Some(a) if a.eq_ignore_ascii_case("none") => return Err(AuthError::AlgNone),
        Some(a) => Algorithm::from_name(a).ok_or(AuthError::Algorithm)?,
    };
    // No extension is understood, so any `crit` entry is refused (RFC 7515 §4.1.11).
    if header.crit.is_some() {
        return Err(AuthError::Crit);
    }
    Ok(TokenHeader {
        alg,
        kid: header.kid.map(|k| k.into_owned()),
    })
}

fn split(token: &str) -> Result<(&str, &str, &str), AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Malformed("token too long"));
    }
    let mut parts = token.splitn(4, '.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => Ok((h, p, s)),
        _ => Err(AuthError::Malformed("not three dot-separated parts")),
    }
}

/// Verifies JWTs against a key set.
pub struct JwtVerifier {
    pub validation: Validation,
}

impl JwtVerifier {
    pub fn new(validation: Validation) -> Self {
        Self { validation }
    }

    /// Verifies `token` with `keys` at `now` (seconds since the Unix epoch).
    pub fn verify(&self, token: &str, keys: &KeySet, now: u64) -> Result<Principal, AuthError> {
        let header = decode_header(token)?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(AuthError::Algorithm);
        }
        let key = match keys.find(header.kid.as_deref(), header.alg) {
            Lookup::Found(k) => k,
            Lookup::UnknownKid => return Err(AuthError::UnknownKid),
            Lookup::WrongType => return Err(AuthError::KeyMismatch),
        };
        let (_, payload_b64, sig_b64) = split(token)?;
        let signed = &token[..token.len() - sig_b64.len() - 1];
        let mut sig = [0u8; 1040];
        let sig_len = URL_SAFE_NO_PAD
            .decode_slice(sig_b64, &mut sig)
            .map_err(|_| AuthError::Malformed("signature is not base64url"))?;
        if !key.verify(header.alg, signed.as_bytes(), &sig[..sig_len]) {
            return Err(AuthError::Signature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| AuthError::Malformed("payload is not base64url"))?;
        let claims: Map<String, Value> = serde_json::from_slice(&payload)
            .map_err(|_| AuthError::Malformed("payload is not a JSON object"))?;
        self.check_claims(&claims, now)?;
        Ok(Principal::from_claims(claims, PrincipalSource::Jwt))
    }

    /// The registered and required claims.
    pub fn check_claims(&self, claims: &Map<String, Value>, now: u64) -> Result<(), AuthError> {
        let v = &self.validation;
        let leeway = v.leeway_secs;
        let number = |name: &str| -> Result<Option<u64>, AuthError> {
            match claims.get(name) {
                None => Ok(None),
                Some(Value::Number(n)) => n
                    .as_u64()
                    .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                    .map(Some)
                    .ok_or(AuthError::Malformed(
                        "a time claim is not a positive number",
                    )),
                Some(_) => Err(AuthError::Malformed("a time claim is not a number")),
            }
        };
        match number("exp")? {
            Some(exp) if now >= exp.saturating_add(leeway) => return Err(AuthError::Expired),
            None if v.require_exp => return Err(AuthError::ClaimMissing),
            _ => {}
        }
        if let Some(nbf) = number("nbf")?
            && nbf > now.saturating_add(leeway)
        {
            return Err(AuthError::NotYetValid);
        }
        if let Some(iat) = number("iat")?
            && iat > now.saturating_add(leeway)
        {
            return Err(AuthError::IssuedInFuture);
        }
        if !v.issuers.is_empty() {
            let iss = claims.get("iss").and_then(Value::as_str);
            if !iss.is_some_and(|i| v.issuers.iter().any(|w| w == i)) {
                return Err(AuthError::Issuer);
            }
        }
        if !v.audiences.is_empty() {
            let ok = match claims.get("aud") {
                Some(Value::String(a)) => v.audiences.iter().any(|w| w == a),
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|a| v.audiences.iter().any(|w| w == a)),
                _ => false,
            };
            if !ok {
                return Err(AuthError::Audience);
            }
        }
        if v.required_claims.iter().any(|c| !claims.contains_key(c)) {
            return Err(AuthError::ClaimMissing);
        }
        Ok(())
    }
}
