//! Portcullis identity: who is calling and may they do this. JWT
//! verification for HS/RS/PS/ES/EdDSA with keys from PEM, JWK or JWKS
//! (looked up by `kid`), API keys stored as hashes, principals, and the
//! authorization rules an operation applies (OpenAPI security requirements,
//! claim rules, object-level bindings). Pure: no network, no runtime, no
//! clock (callers pass `now`); fetching JWKS and introspecting tokens lives in
//! the gateway. Every refusal is a typed [`AuthError`] with a stable rule id.

pub mod api_keys;
pub mod authz;
pub mod error;
pub mod jwt;
pub mod keys;
pub mod principal;
pub mod signing;

pub use api_keys::{ApiKeyStore, fingerprint, sha256_hex};
pub use authz::{BolaBinding, ClaimRule, Operand, RequestValues, Requirement, SchemeUse};
pub use error::{AuthError, KeyError, RULES, Refusal};
pub use jwt::{JwtVerifier, Validation, decode_header};
pub use keys::{Algorithm, Key, KeySet};
pub use principal::{Principal, PrincipalSource};
