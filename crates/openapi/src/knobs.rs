//! The enforcement knobs: what to do with unknown parameters, how strictly
//! to read objects, the caps on bodies, and what to do with responses. A
//! policy sets them for a whole spec; an operation overrides them with
//! `x-portcullis-*` extensions, and the policy config may override those again.

use serde_json::Value;

/// What to do with a query parameter, header or cookie the operation does not document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownParams {
    /// Refuse the request.
    Block,
    /// Remove it before forwarding (and audit it).
    Strip,
    /// Forward it untouched.
    Allow,
}

/// What to do with response fields the schema does not declare, or marks `writeOnly`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposure {
    /// Replace the response with a 502.
    Block,
    /// Remove the fields and forward the rest.
    Strip,
    /// Forward as is; audit only.
    Monitor,
}

/// How much of each response is checked against the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseValidation {
    /// Status, content type and body of every response (the default).
    Full,
    /// Status and content type of every response; the body of one response
    /// in [`Knobs::response_sample_one_in`], the others streamed unchecked.
    Sample,
    /// Status and content type only: bodies stream, never buffered.
    HeadersOnly,
    /// Responses are not checked.
    Off,
}

impl ResponseValidation {
    /// `true`, `false` or a mode's name, as configs and extensions write it.
    pub fn parse(value: &Value) -> Option<ResponseValidation> {
        match value {
            Value::Bool(true) => Some(ResponseValidation::Full),
            Value::Bool(false) => Some(ResponseValidation::Off),
            Value::String(s) => match s.as_str() {
                "full" => Some(ResponseValidation::Full),
                "sample" => Some(ResponseValidation::Sample),
                "headers_only" => Some(ResponseValidation::HeadersOnly),
                "off" => Some(ResponseValidation::Off),
                _ => None,
            },
            _ => None,
        }
    }

    /// The head (status, content type) is checked.
    pub fn checks_head(self) -> bool {
        self != ResponseValidation::Off
    }

    /// Some bodies are buffered and validated (so they must arrive uncompressed).
    pub fn checks_bodies(self) -> bool {
        matches!(self, ResponseValidation::Full | ResponseValidation::Sample)
    }
}

/// The effective knobs of one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Knobs {
    /// Findings are audited, never enforced.
    pub monitor: bool,
    pub unknown_query: UnknownParams,
    pub unknown_headers: UnknownParams,
    pub unknown_cookies: UnknownParams,
    pub strict_objects: bool,
    pub refuse_read_only: bool,
    pub max_body_depth: usize,
    pub max_array_items: usize,
    pub max_string_length: usize,
    /// Largest body of a media type the gateway does not parse (binary uploads), unless the schema gives `maxLength`.
    pub max_binary_bytes: Option<u64>,
    pub validate_responses: ResponseValidation,
    /// With [`ResponseValidation::Sample`]: one response body in this many
    /// is validated.
    pub response_sample_one_in: u64,
    pub response_exposure: Exposure,
    /// Largest response body buffered for validation.
    pub max_response_bytes: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            monitor: false,
            unknown_query: UnknownParams::Block,
            unknown_headers: UnknownParams::Allow,
            unknown_cookies: UnknownParams::Allow,
            strict_objects: true,
            refuse_read_only: true,
            max_body_depth: 32,
            max_array_items: 10_000,
            max_string_length: 65_536,
            max_binary_bytes: None,
            validate_responses: ResponseValidation::Full,
            response_sample_one_in: 100,
            response_exposure: Exposure::Block,
            max_response_bytes: 1 << 20,
        }
    }
}

/// Overrides of some knobs; `None` keeps the value underneath.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnobOverrides {
    pub monitor: Option<bool>,
    pub unknown_query: Option<UnknownParams>,
    pub unknown_headers: Option<UnknownParams>,
    pub unknown_cookies: Option<UnknownParams>,
    pub strict_objects: Option<bool>,
    pub refuse_read_only: Option<bool>,
    pub max_body_depth: Option<usize>,
    pub max_array_items: Option<usize>,
    pub max_string_length: Option<usize>,
    pub max_binary_bytes: Option<u64>,
    pub validate_responses: Option<ResponseValidation>,
    pub response_sample_one_in: Option<u64>,
    pub response_exposure: Option<Exposure>,
    pub max_response_bytes: Option<u64>,
}

impl Knobs {
    pub fn with(mut self, o: &KnobOverrides) -> Knobs {
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = o.$field { self.$field = v; } )* };
        }
        take!(
            monitor,
            unknown_query,
            unknown_headers,
            unknown_cookies,
            strict_objects,
            refuse_read_only,
            max_body_depth,
            max_array_items,
            max_string_length,
            validate_responses,
            response_sample_one_in,
            response_exposure,
            max_response_bytes
        );
        if o.max_binary_bytes.is_some() {
            self.max_binary_bytes = o.max_binary_bytes;
        }
        self
    }
}

/// The `x-portcullis-*` extensions an operation may carry, with the knob each sets.
pub const EXTENSIONS: &[&str] = &[
    "x-portcullis-mode",
    "x-portcullis-unknown-query",
    "x-portcullis-unknown-headers",
    "x-portcullis-unknown-cookies",
    "x-portcullis-strict-objects",
    "x-portcullis-refuse-read-only",
    "x-portcullis-max-body-depth",
    "x-portcullis-max-array-items",
    "x-portcullis-max-string-length",
    "x-portcullis-max-binary-bytes",
    "x-portcullis-validate-responses",
    "x-portcullis-response-sample-one-in",
    "x-portcullis-response-exposure",
    "x-portcullis-max-response-bytes",
    // Read by the policy compiler (rate limits and brute force), not knobs.
    "x-portcullis-rate-limit",
    "x-portcullis-login",
];

impl KnobOverrides {
    /// Reads the `x-portcullis-*` extensions of an operation object. An
    /// unknown `x-portcullis-` name or a bad value is an error `(key, message)`,
    /// so a typo never silently leaves an operation unprotected.
    pub fn from_extensions(operation: &Value) -> Result<KnobOverrides, (String, String)> {
        let mut o = KnobOverrides::default();
        let Some(map) = operation.as_object() else {
            return Ok(o);
        };
        for (key, value) in map {
            let Some(name) = key.strip_prefix("x-portcullis-") else {
                continue;
            };
            let bad = |what: &str| (key.clone(), format!("`{key}` must be {what}"));
            let unknown = |v: &Value| match v.as_str() {
                Some("block") => Ok(UnknownParams::Block),
                Some("strip") => Ok(UnknownParams::Strip),
                Some("allow") => Ok(UnknownParams::Allow),
                _ => Err(bad("block, strip or allow")),
            };
            let flag = |v: &Value| v.as_bool().ok_or_else(|| bad("true or false"));
            let count = |v: &Value| {
                v.as_u64()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("a positive integer"))
            };
            match name {
                "mode" => {
                    o.monitor = Some(match value.as_str() {
                        Some("block") => false,
                        Some("monitor") => true,
                        _ => return Err(bad("block or monitor")),
                    })
                }
                "unknown-query" => o.unknown_query = Some(unknown(value)?),
                "unknown-headers" => o.unknown_headers = Some(unknown(value)?),
                "unknown-cookies" => o.unknown_cookies = Some(unknown(value)?),
                "strict-objects" => o.strict_objects = Some(flag(value)?),
                "refuse-read-only" => o.refuse_read_only = Some(flag(value)?),
                "max-body-depth" => o.max_body_depth = Some(count(value)? as usize),
                "max-array-items" => o.max_array_items = Some(count(value)? as usize),
                "max-string-length" => o.max_string_length = Some(count(value)? as usize),
                "max-binary-bytes" => o.max_binary_bytes = Some(count(value)?),
                "validate-responses" => {
                    o.validate_responses = Some(
                        ResponseValidation::parse(value)
                            .ok_or_else(|| bad("true, false, full, sample, headers_only or off"))?,
                    )
                }
                "response-sample-one-in" => o.response_sample_one_in = Some(count(value)?),
                "response-exposure" => {
                    o.response_exposure = Some(match value.as_str() {
                        Some("block") => Exposure::Block,
                        Some("strip") => Exposure::Strip,
                        Some("monitor") => Exposure::Monitor,
                        _ => return Err(bad("block, strip or monitor")),
                    })
                }
                "max-response-bytes" => o.max_response_bytes = Some(count(value)?),
                // Limits and logins, validated where they are compiled
                // (`portcullis_policy::spec_extensions`).
                "rate-limit" | "login" => {}
                _ => {
                    return Err((
                        key.clone(),
                        format!(
                            "unknown extension `{key}` (known: {})",
                            EXTENSIONS.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_override_and_typos_are_refused() {
        let op = serde_json::json!({
            "x-portcullis-mode": "monitor",
            "x-portcullis-unknown-query": "strip",
            "x-portcullis-max-array-items": 5,
            "x-portcullis-response-exposure": "strip",
            "x-other": 1
        });
        let o = KnobOverrides::from_extensions(&op).unwrap();
        let k = Knobs::default().with(&o);
        assert!(k.monitor);
        assert_eq!(k.unknown_query, UnknownParams::Strip);
        assert_eq!(k.max_array_items, 5);
        assert_eq!(k.response_exposure, Exposure::Strip);
        assert_eq!(k.unknown_headers, Knobs::default().unknown_headers);
        let typo = serde_json::json!({"x-portcullis-strict-object": true});
        let (key, msg) = KnobOverrides::from_extensions(&typo).unwrap_err();
        assert_eq!(key, "x-portcullis-strict-object");
        assert!(msg.contains("unknown extension"), "{msg}");
        let bad = serde_json::json!({"x-portcullis-max-body-depth": 0});
        assert!(KnobOverrides::from_extensions(&bad).is_err());
        let sampled = serde_json::json!({
            "x-portcullis-validate-responses": "sample",
            "x-portcullis-response-sample-one-in": 10
        });
        let k = Knobs::default().with(&KnobOverrides::from_extensions(&sampled).unwrap());
        assert_eq!(k.validate_responses, ResponseValidation::Sample);
        assert_eq!(k.response_sample_one_in, 10);
        let off = serde_json::json!({"x-portcullis-validate-responses": false});
        let k = Knobs::default().with(&KnobOverrides::from_extensions(&off).unwrap());
        assert_eq!(k.validate_responses, ResponseValidation::Off);
        let typo = serde_json::json!({"x-portcullis-validate-responses": "head"});
        let (_, msg) = KnobOverrides::from_extensions(&typo).unwrap_err();
        assert!(msg.contains("headers_only"), "{msg}");
    }
}
