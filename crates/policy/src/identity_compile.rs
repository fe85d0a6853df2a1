//! Compiles a policy's `identity` block into an [`IdentityCheck`]: reads key
//! files (relative to the config file) and secrets, parses rules, maps the
//! spec's security schemes, and reports every problem with the config field
//! (and so its line).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use http::HeaderName;
use portcullis_identity::{
    ApiKeyStore, BolaBinding, ClaimRule, JwtVerifier, Key, KeySet, Operand, Requirement, SchemeUse,
    Validation,
};
use portcullis_openapi::Spec;

use crate::checks::identity::{
    API_KEY_SCHEME, IdentityCheck, JWT_SCHEME, JwtSettings, MTLS_SCHEME, MtlsSettings,
    OperationRules, UpstreamHeaders, base_schemes, parse_algorithms, spec_requirements,
};
use crate::config::{ConfigError, Mode};
use crate::identity_config::{ClientAuthConfig, IdentityConfig, IntrospectionConfig, SchemeName};
use crate::introspection::{AnswerRules, ClientAuth, IntrospectionSource, SourceSettings};
use crate::jwks::JwksSource;

/// The identity check and the sources the gateway feeds it from.
pub struct CompiledIdentity {
    pub check: IdentityCheck,
    pub jwks: Option<Arc<JwksSource>>,
    pub introspection: Option<Arc<IntrospectionSource>>,
}

pub fn compile_identity(
    policy: &str,
    ic: &IdentityConfig,
    mode: Mode,
    spec: Option<Arc<Spec>>,
    path: &Path,
    source: &str,
) -> Result<CompiledIdentity, ConfigError> {
    let field = |f: &str| format!("policies.{policy}.identity.{f}");
    let err = |f: &str, m: String| ConfigError::at_field(path, source, &field(f), m);
    let header = |f: &str, name: &str| {
        HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| err(f, format!("{name:?} is not a valid header name")))
    };
    let base_dir = path.parent().unwrap_or(Path::new(""));

    let mut jwks = None;
    let jwt = match &ic.jwt {
        None => None,
        Some(j) => {
            let algorithms =
                parse_algorithms(&j.algorithms).map_err(|m| err("jwt.algorithms", m))?;
            let mut keys = KeySet::default();
            for (i, k) in j.keys.iter().enumerate() {
                let f = format!("jwt.keys[{i}]");
                let from_env = k
                    .secret_env
                    .as_ref()
                    .and_then(|var| std::env::var(var).ok());
                let secret = match (from_env, &k.secret, &k.secret_env) {
                    (Some(s), _, _) => Some(s),
                    (None, Some(s), _) => Some(s.0.clone()),
                    (None, None, Some(var)) => {
                        return Err(err(
                            &format!("{f}.secret_env"),
                            format!("environment variable {var} is not set"),
                        ));
                    }
                    (None, None, None) => None,
                };
                match (&k.file, secret) {
                    (Some(file), None) => {
                        let full = base_dir.join(file);
                        let text = std::fs::read_to_string(&full).map_err(|e| {
                            err(
                                &format!("{f}.file"),
                                format!("cannot read {}: {e}", full.display()),
                            )
                        })?;
                        let set = KeySet::from_file_text(&text, k.kid.clone()).map_err(|e| {
                            err(&format!("{f}.file"), format!("{}: {e}", full.display()))
                        })?;
                        keys.extend(set);
                    }
                    (None, Some(secret)) => {
                        let hs: Vec<_> =
                            algorithms.iter().copied().filter(|a| a.is_hmac()).collect();
                        if hs.is_empty() {
                            return Err(err(
                                &f,
                                "an HMAC secret needs an HS algorithm in jwt.algorithms".into(),
                            ));
                        }
                        keys.push(
                            Key::hmac(k.kid.clone(), secret.as_bytes(), &hs)
                                .map_err(|e| err(&f, e.to_string()))?,
                        );
                    }
                    _ => {
                        return Err(err(&f, "give either file, or secret / secret_env".into()));
                    }
                }
            }
            if let Some(url) = &j.jwks_url {
                let uri: http::Uri = url
                    .parse()
                    .map_err(|e| err("jwt.jwks_url", format!("invalid URL: {e}")))?;
                if !matches!(uri.scheme_str(), Some("http") | Some("https")) || uri.host().is_none()
                {
                    return Err(err(
                        "jwt.jwks_url",
                        "must be an http:// or https:// URL".into(),
                    ));
                }
                for (f, d) in [
                    ("jwt.jwks_refresh", j.jwks_refresh.0),
                    ("jwt.jwks_timeout", j.jwks_timeout.0),
                ] {
                    if d.is_zero() {
                        return Err(err(f, "must be greater than 0".into()));
                    }
                }
                let mut source = JwksSource::new(
                    url.clone(),
                    j.jwks_refresh.0,
                    j.jwks_grace.0,
                    j.jwks_min_refetch.0,
                    j.jwks_timeout.0,
                );
                source.token_header = j
                    .token
                    .header
                    .as_deref()
                    .unwrap_or("authorization")
                    .to_ascii_lowercase();
                source.token_cookie = j.token.cookie.clone();
                jwks = Some(Arc::new(source));
            }
            if keys.is_empty() && jwks.is_none() {
                return Err(err("jwt", "give keys, a jwks_url, or both".into()));
            }
            let token_header = j.token.header.as_deref().unwrap_or("authorization");
            Some(JwtSettings {
                verifier: JwtVerifier::new(Validation {
                    algorithms,
                    issuers: j.issuers.clone(),
                    audiences: j.audiences.clone(),
                    leeway_secs: j.leeway.0.as_secs(),
                    require_exp: j.require_exp,
                    required_claims: j.required_claims.clone(),
                }),
                static_keys: keys,
                jwks: jwks.clone(),
                header: header("jwt.token.header", token_header)?,
                cookie: j.token.cookie.clone(),
                cache: Default::default(),
            })
        }
    };

    let introspection = match &ic.introspection {
        None => None,
        Some(c) => Some(Arc::new(compile_introspection(c, ic, base_dir, &err)?)),
    };

    let (api_key_header, api_key_query) = match &ic.api_keys {
        Some(a) => (a.header.as_str(), a.query.as_deref()),
        None => ("x-api-key", None),
    };
    if ic.api_keys.is_some() {
        header("api_keys.header", api_key_header)?;
    }
    let api_keys = match &ic.api_keys {
        None => None,
        Some(a) => {
            let mut store = ApiKeyStore::default();
            for (i, k) in a.keys.iter().enumerate() {
                store
                    .insert(&k.sha256, &k.principal, &k.scopes)
                    .map_err(|e| err(&format!("api_keys.keys[{i}].sha256"), e.to_string()))?;
            }
            Some(store)
        }
    };

    let mtls = match &ic.mtls {
        None => None,
        Some(m) => {
            if !matches!(m.principal.as_str(), "spiffe" | "san" | "subject") {
                return Err(err(
                    "mtls.principal",
                    format!("{:?}: expected spiffe, san or subject", m.principal),
                ));
            }
            Some(MtlsSettings {
                principal: m.principal.clone(),
                scopes: m.scopes.clone().into_iter().collect(),
            })
        }
    };

    let (operation_requirements, schemes) = match &spec {
        Some(spec) => {
            let (per_op, schemes, _) = spec_requirements(spec, (api_key_header, api_key_query));
            (per_op, schemes)
        }
        None => (Vec::new(), base_schemes((api_key_header, api_key_query)).0),
    };
    for (i, name) in ic.require.iter().enumerate() {
        let configured = match name {
            SchemeName::Jwt => jwt.is_some() || introspection.is_some(),
            SchemeName::ApiKey => api_keys.is_some(),
            SchemeName::Mtls => mtls.is_some(),
        };
        if !configured {
            return Err(err(
                &format!("require[{i}]"),
                format!("{name:?} is required but has no block in this identity config"),
            ));
        }
    }
    let default_requirements = ic
        .require
        .iter()
        .map(|n| Requirement {
            schemes: vec![SchemeUse {
                scheme: match n {
                    SchemeName::Jwt => JWT_SCHEME,
                    SchemeName::ApiKey => API_KEY_SCHEME,
                    SchemeName::Mtls => MTLS_SCHEME,
                },
                scopes: Vec::new(),
            }],
        })
        .collect();

    let mut rules = HashMap::new();
    for (id, oc) in &ic.operations {
        if id != "*"
            && let Some(spec) = &spec
            && spec.operation_by_id(id).is_none()
        {
            return Err(err(
                &format!("operations.{id}"),
                format!("the spec has no operation {id:?}"),
            ));
        }
        let mut compiled = OperationRules::default();
        for (i, text) in oc.claims.iter().enumerate() {
            compiled.claims.push(
                ClaimRule::parse(text)
                    .map_err(|m| err(&format!("operations.{id}.claims[{i}]"), m))?,
            );
        }
        for (i, b) in oc.bola.iter().enumerate() {
            let param = Operand::parse(&b.param)
                .map_err(|m| err(&format!("operations.{id}.bola[{i}].param"), m))?;
            if matches!(param, Operand::Literal(_) | Operand::Claim(_)) {
                return Err(err(
                    &format!("operations.{id}.bola[{i}].param"),
                    format!(
                        "{:?}: expected path.<name>, query.<name>, header.<name> or body.<pointer>",
                        b.param
                    ),
                ));
            }
            compiled.bola.push(BolaBinding {
                param,
                claim: b.claim.clone(),
                unless_scopes: b.unless_scopes.clone(),
            });
        }
        rules.insert(id.clone(), compiled);
    }

    let h = &ic.upstream_headers;
    let headers = UpstreamHeaders {
        subject: header("upstream_headers.subject", &h.subject)?,
        scopes: header("upstream_headers.scopes", &h.scopes)?,
        method: header("upstream_headers.method", &h.method)?,
        claims: h
            .claims
            .iter()
            .map(|(name, claim)| {
                header(&format!("upstream_headers.claims.{name}"), name).map(|n| (n, claim.clone()))
            })
            .collect::<Result<_, _>>()?,
    };
    let effective = if mode == Mode::Monitor {
        Mode::Monitor
    } else {
        ic.mode
    };
    Ok(CompiledIdentity {
        check: IdentityCheck {
            mode: effective,
            spec,
            operation_requirements,
            default_requirements,
            schemes,
            jwt,
            api_keys,
            mtls,
            headers,
            rules,
            hide_api_keys: ic.api_keys.as_ref().is_some_and(|a| a.hide_credentials),
            introspection: introspection.clone(),
        },
        jwks,
        introspection,
    })
}

fn compile_introspection(
    c: &IntrospectionConfig,
    ic: &IdentityConfig,
    base_dir: &Path,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<IntrospectionSource, ConfigError> {
    let uri: http::Uri = c
        .url
        .parse()
        .map_err(|e| err("introspection.url", format!("invalid URL: {e}")))?;
    let demo = c.url == crate::introspection::DEMO_URL;
    if !demo && (!matches!(uri.scheme_str(), Some("http") | Some("https")) || uri.host().is_none())
    {
        return Err(err(
            "introspection.url",
            "must be an http:// or https:// URL (or builtin:demo)".into(),
        ));
    }
    // The variable wins when it is set (as for `jwt.keys[].secret_env`).
    let from_env = c
        .client_secret_env
        .as_ref()
        .and_then(|var| std::env::var(var).ok());
    let client_secret = match (from_env, &c.client_secret_file, &c.client_secret_env) {
        (Some(secret), _, _) => secret,
        (None, Some(file), _) => {
            let full = base_dir.join(file);
            let text = std::fs::read_to_string(&full).map_err(|e| {
                err(
                    "introspection.client_secret_file",
                    format!("cannot read {}: {e}", full.display()),
                )
            })?;
            text.trim_end_matches(['\r', '\n']).to_owned()
        }
        (None, None, Some(var)) => {
            return Err(err(
                "introspection.client_secret_env",
                format!("environment variable {var} is not set"),
            ));
        }
        (None, None, None) => {
            return Err(err(
                "introspection",
                "give client_secret_env or client_secret_file".into(),
            ));
        }
    };
    if client_secret.is_empty() {
        return Err(err("introspection", "the client secret is empty".into()));
    }
    for (f, d) in [
        ("introspection.timeout", c.timeout.0),
        ("introspection.cool_down", c.cool_down.0),
    ] {
        if d.is_zero() {
            return Err(err(f, "must be greater than 0".into()));
        }
    }
    if c.cache_size == 0 {
        return Err(err("introspection.cache_size", "must be at least 1".into()));
    }
    if c.max_concurrent_calls == 0 {
        return Err(err(
            "introspection.max_concurrent_calls",
            "must be at least 1".into(),
        ));
    }
    if c.failure_threshold == 0 {
        return Err(err(
            "introspection.failure_threshold",
            "must be at least 1".into(),
        ));
    }
    let on_unavailable = match c.on_unavailable {
        401 => http::StatusCode::UNAUTHORIZED,
        503 => http::StatusCode::SERVICE_UNAVAILABLE,
        other => {
            return Err(err(
                "introspection.on_unavailable",
                format!("{other}: expected 503 or 401"),
            ));
        }
    };
    // The token is where JWTs are read unless introspection names its own place.
    let jwt_token = ic.jwt.as_ref().map(|j| &j.token);
    let header = c
        .token
        .header
        .as_deref()
        .or_else(|| jwt_token.and_then(|t| t.header.as_deref()))
        .unwrap_or("authorization");
    HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
        err(
            "introspection.token.header",
            format!("{header:?} is not a valid header name"),
        )
    })?;
    let cookie = c
        .token
        .cookie
        .clone()
        .or_else(|| jwt_token.and_then(|t| t.cookie.clone()));
    Ok(IntrospectionSource::new(SourceSettings {
        url: c.url.clone(),
        client_id: c.client_id.clone(),
        client_secret,
        client_auth: match c.client_auth {
            ClientAuthConfig::ClientSecretBasic => ClientAuth::Basic,
            ClientAuthConfig::ClientSecretPost => ClientAuth::Post,
        },
        timeout: c.timeout.0,
        cache_ttl: c.cache_ttl.0,
        negative_cache_ttl: c.negative_cache_ttl.0,
        cache_size: c.cache_size,
        failure_threshold: c.failure_threshold,
        cool_down: c.cool_down.0,
        max_concurrent_calls: c.max_concurrent_calls,
        on_unavailable,
        token_header: header.to_ascii_lowercase(),
        token_cookie: cookie,
        opaque_only: ic.jwt.is_some(),
        rules: AnswerRules {
            issuers: c.issuers.clone(),
            audiences: c.audiences.clone(),
            leeway_secs: c.leeway.0.as_secs(),
        },
    }))
}
