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
use crate::identity_config::{IdentityConfig, SchemeName};
use crate::jwks::JwksSource;

pub fn compile_identity(
    policy: &str,
    ic: &IdentityConfig,
    mode: Mode,
    spec: Option<Arc<Spec>>,
    path: &Path,
    source: &str,
) -> Result<(IdentityCheck, Option<Arc<JwksSource>>), ConfigError> {
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
            SchemeName::Jwt => jwt.is_some(),
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
    Ok((
        IdentityCheck {
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
        },
        jwks,
    ))
}
