//! The `identity` block of a policy: how callers authenticate (JWT with
//! static keys or a JWKS URL, API keys stored as hashes, client
//! certificates), what an operation requires when its OpenAPI spec says
//! nothing, per-operation claim rules and object-level (BOLA) bindings, and
//! the headers the principal is passed upstream in. Only the model lives
//! here; [`crate::checks::IdentityCheck`] compiles it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Mode, Secret};
use crate::units::ConfigDuration;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    #[serde(default)]
    pub api_keys: Option<ApiKeysConfig>,
    #[serde(default)]
    pub mtls: Option<MtlsConfig>,
    /// OAuth2 token introspection (RFC 7662) for opaque bearer tokens.
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
    /// Schemes (`jwt`, `api_key`, `mtls`) of which one must pass when the
    /// operation has no OpenAPI `security` (or the policy has no spec);
    /// empty lets such requests through unauthenticated.
    #[serde(default)]
    pub require: Vec<SchemeName>,
    /// Headers that carry the principal upstream; incoming copies are
    /// always removed first.
    #[serde(default)]
    pub upstream_headers: UpstreamHeadersConfig,
    /// Claim rules and BOLA bindings by operation id (OpenAPI
    /// `operationId`), or `*` for every request of the policy.
    #[serde(default)]
    pub operations: BTreeMap<String, OperationRulesConfig>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SchemeName {
    Jwt,
    ApiKey,
    Mtls,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Accepted algorithms; every supported one when empty.
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// Accepted `iss` values; any when empty.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Accepted audiences (`aud` must contain one); any when empty.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    #[serde(default = "defaults::leeway")]
    pub leeway: ConfigDuration,
    #[serde(default = "defaults::yes")]
    pub require_exp: bool,
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Static keys: files (PEM, JWK or JWKS) and HMAC secrets.
    #[serde(default)]
    pub keys: Vec<JwtKeyConfig>,
    /// JWKS endpoint the gateway fetches and refreshes in the background.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// How often the JWKS is refetched.
    #[serde(default = "defaults::jwks_refresh")]
    pub jwks_refresh: ConfigDuration,
    /// How long past a missed refresh the last fetched keys stay usable.
    #[serde(default = "defaults::jwks_grace")]
    pub jwks_grace: ConfigDuration,
    /// Least time between two refetches caused by an unknown `kid`.
    #[serde(default = "defaults::jwks_min_refetch")]
    pub jwks_min_refetch: ConfigDuration,
    /// Timeout of one JWKS fetch.
    #[serde(default = "defaults::jwks_timeout")]
    pub jwks_timeout: ConfigDuration,
    /// Where the token is read (default: `Authorization: Bearer`).
    #[serde(default)]
    pub token: TokenLocationConfig,
}

/// One static key: a file, or an HMAC secret. Unset fields are left out of
/// `/config` output.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// A PEM public key, a JWK or a JWKS, relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// An HMAC secret (at least 32 bytes); prefer `secret_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// Name of an environment variable holding an HMAC secret (wins over
    /// `secret` when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// Key id tokens name in their `kid` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenLocationConfig {
    /// A header holding the token (`Bearer ` prefix optional); default
    /// `authorization`.
    #[serde(default)]
    pub header: Option<String>,
    /// A cookie holding the token, tried after the header.
    #[serde(default)]
    pub cookie: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeysConfig {
    /// Header the key is read from (when the spec's `apiKey` scheme does not say).
    #[serde(default = "defaults::api_key_header")]
    pub header: String,
    /// Query parameter the key may also come in.
    #[serde(default)]
    pub query: Option<String>,
    /// Remove an accepted key (its header, query parameter or cookie) before
    /// the request goes upstream, so services and their logs never see it.
    #[serde(default)]
    pub hide_credentials: bool,
    #[serde(default)]
    pub keys: Vec<ApiKeyEntry>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntry {
    /// Lower-case hex SHA-256 of the key (`printf %s "$KEY" | sha256sum`).
    pub sha256: String,
    pub principal: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsConfig {
    /// Which certificate field names the principal: `spiffe` (the SPIFFE ID,
    /// else the first SAN, else the subject), `san` or `subject`.
    #[serde(default = "defaults::mtls_principal")]
    pub principal: String,
    /// Scopes by principal (a certificate's identity), for `security`
    /// requirements that name scopes.
    #[serde(default)]
    pub scopes: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamHeadersConfig {
    #[serde(default = "defaults::subject_header")]
    pub subject: String,
    #[serde(default = "defaults::scopes_header")]
    pub scopes: String,
    /// How the caller authenticated (`jwt`, `api_key`, `mtls`).
    #[serde(default = "defaults::method_header")]
    pub method: String,
    /// More headers from claims: header name → claim name.
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
}

impl Default for UpstreamHeadersConfig {
    fn default() -> Self {
        Self {
            subject: defaults::subject_header(),
            scopes: defaults::scopes_header(),
            method: defaults::method_header(),
            claims: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OperationRulesConfig {
    /// Claim rules, all of which must hold: `role in [admin, support]`,
    /// `tenant == header.X-Tenant-Id`.
    #[serde(default)]
    pub claims: Vec<String>,
    #[serde(default)]
    pub bola: Vec<BolaConfig>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BolaConfig {
    /// `path.<name>`, `query.<name>`, `header.<name>` or `body.<json pointer>`.
    pub param: String,
    pub claim: String,
    /// Scopes that may access any object.
    #[serde(default)]
    pub unless_scopes: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// The `http://` or `https://` introspection endpoint.
    pub url: String,
    pub client_id: String,
    /// Environment variable holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// File holding the client secret (relative to the config file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub client_auth: ClientAuthConfig,
    /// Timeout of one introspection call.
    #[serde(default = "defaults::introspection_timeout")]
    pub timeout: ConfigDuration,
    /// Longest time an active token's answer is reused (its `exp` bounds it too).
    #[serde(default = "defaults::introspection_cache_ttl")]
    pub cache_ttl: ConfigDuration,
    /// How long a refused token's answer is reused.
    #[serde(default = "defaults::introspection_negative_ttl")]
    pub negative_cache_ttl: ConfigDuration,
    /// Most answers kept.
    #[serde(default = "defaults::introspection_cache_size")]
    pub cache_size: usize,
    /// Consecutive failures that open the circuit breaker.
    #[serde(default = "defaults::introspection_failure_threshold")]
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before one probe.
    #[serde(default = "defaults::introspection_cool_down")]
    pub cool_down: ConfigDuration,
    /// Most introspection calls in flight at once (a flood of made-up
    /// tokens cannot flood the authorization server); past it, uncached
    /// tokens are refused as unavailable.
    #[serde(default = "defaults::introspection_max_concurrent_calls")]
    pub max_concurrent_calls: usize,
    /// Status when a token cannot be introspected: 503 or 401.
    #[serde(default = "defaults::introspection_on_unavailable")]
    pub on_unavailable: u16,
    #[serde(default)]
    pub issuers: Vec<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "defaults::leeway")]
    pub leeway: ConfigDuration,
    /// Where the token is read (default: the JWT's location, else
    /// `Authorization: Bearer`).
    #[serde(default)]
    pub token: TokenLocationConfig,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthConfig {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

mod defaults {
    use crate::units::ConfigDuration;

    pub fn yes() -> bool {
        true
    }
    pub fn leeway() -> ConfigDuration {
        ConfigDuration::secs(30)
    }
    pub fn jwks_refresh() -> ConfigDuration {
        ConfigDuration::secs(300)
    }
    pub fn jwks_grace() -> ConfigDuration {
        ConfigDuration::secs(3600)
    }
    pub fn jwks_min_refetch() -> ConfigDuration {
        ConfigDuration::secs(30)
    }
    pub fn jwks_timeout() -> ConfigDuration {
        ConfigDuration::secs(5)
    }
    pub fn introspection_timeout() -> ConfigDuration {
        ConfigDuration::secs(2)
    }
    pub fn introspection_cache_ttl() -> ConfigDuration {
        ConfigDuration::secs(60)
    }
    pub fn introspection_negative_ttl() -> ConfigDuration {
        ConfigDuration::secs(10)
    }
    pub fn introspection_cache_size() -> usize {
        10_000
    }
    pub fn introspection_failure_threshold() -> u32 {
        5
    }
    pub fn introspection_cool_down() -> ConfigDuration {
        ConfigDuration::secs(10)
    }
    pub fn introspection_max_concurrent_calls() -> usize {
        64
    }
    pub fn introspection_on_unavailable() -> u16 {
        503
    }
    pub fn api_key_header() -> String {
        "x-api-key".into()
    }
    pub fn mtls_principal() -> String {
        "spiffe".into()
    }
    pub fn subject_header() -> String {
        "x-auth-subject".into()
    }
    pub fn scopes_header() -> String {
        "x-auth-scopes".into()
    }
    pub fn method_header() -> String {
        "x-auth-method".into()
    }
}
