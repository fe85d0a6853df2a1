//! The `openapi` block of a policy: which spec to enforce and the knobs of
//! the enforcement, with per-operation overrides. Only the model lives here;
//! [`crate::checks::OpenApiCheck`] compiles it, with the spec, into a check.

use std::collections::BTreeMap;
use std::path::PathBuf;

use portcullis_openapi::{Exposure, KnobOverrides, Knobs, ResponseValidation, UnknownParams};
use serde::{Deserialize, Serialize};

use crate::config::Mode;
use crate::units::ByteSize;

/// What to do with query parameters, headers or cookies the spec does not document.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnknownMode {
    Block,
    Strip,
    Allow,
}

impl From<UnknownMode> for UnknownParams {
    fn from(m: UnknownMode) -> Self {
        match m {
            UnknownMode::Block => UnknownParams::Block,
            UnknownMode::Strip => UnknownParams::Strip,
            UnknownMode::Allow => UnknownParams::Allow,
        }
    }
}

/// What to do with response fields the schema does not declare (or marks `writeOnly`).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ExposureMode {
    Block,
    Strip,
    Monitor,
}

impl From<ExposureMode> for Exposure {
    fn from(m: ExposureMode) -> Self {
        match m {
            ExposureMode::Block => Exposure::Block,
            ExposureMode::Strip => Exposure::Strip,
            ExposureMode::Monitor => Exposure::Monitor,
        }
    }
}

/// `validate_responses`: `true` (= `full`), `false` (= `off`), `full`,
/// `sample` or `headers_only`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseValidationMode(pub ResponseValidation);

impl Serialize for ResponseValidationMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self.0 {
            ResponseValidation::Full => "full",
            ResponseValidation::Sample => "sample",
            ResponseValidation::HeadersOnly => "headers_only",
            ResponseValidation::Off => "off",
        })
    }
}

impl<'de> Deserialize<'de> for ResponseValidationMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = ResponseValidationMode;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false, full, sample, headers_only or off")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(ResponseValidationMode(if v {
                    ResponseValidation::Full
                } else {
                    ResponseValidation::Off
                }))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                ResponseValidation::parse(&serde_json::Value::String(v.to_owned()))
                    .map(ResponseValidationMode)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(Visit)
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpenApiConfig {
    /// The OpenAPI 3.0 / 3.1 document (YAML or JSON), relative to the config file.
    pub spec: PathBuf,
    #[serde(default)]
    pub mode: Mode,
    /// Replaces the base paths of the spec's `servers`.
    #[serde(default)]
    pub base_path: Option<String>,
    #[serde(default = "defaults::block")]
    pub unknown_query: UnknownMode,
    #[serde(default = "defaults::allow")]
    pub unknown_headers: UnknownMode,
    #[serde(default = "defaults::allow")]
    pub unknown_cookies: UnknownMode,
    #[serde(default = "defaults::yes")]
    pub strict_objects: bool,
    #[serde(default = "defaults::yes")]
    pub refuse_read_only: bool,
    #[serde(default = "defaults::max_body_depth")]
    pub max_body_depth: usize,
    #[serde(default = "defaults::max_array_items")]
    pub max_array_items: usize,
    #[serde(default = "defaults::max_string_length")]
    pub max_string_length: usize,
    #[serde(default)]
    pub max_binary_bytes: Option<ByteSize>,
    #[serde(default = "defaults::validate_responses")]
    pub validate_responses: ResponseValidationMode,
    #[serde(default = "defaults::response_sample_one_in")]
    pub response_sample_one_in: u64,
    #[serde(default = "defaults::exposure")]
    pub response_exposure: ExposureMode,
    #[serde(default = "defaults::max_response_bytes")]
    pub max_response_bytes: ByteSize,
    /// Overrides by `operationId` (or `METHOD /template` for operations without one).
    #[serde(default)]
    pub operations: BTreeMap<String, OperationOverrides>,
}

/// Per-operation overrides; each unset field keeps the value of the spec's
/// `x-portcullis-*` extension, or else of the `openapi` block.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OperationOverrides {
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub unknown_query: Option<UnknownMode>,
    #[serde(default)]
    pub unknown_headers: Option<UnknownMode>,
    #[serde(default)]
    pub unknown_cookies: Option<UnknownMode>,
    #[serde(default)]
    pub strict_objects: Option<bool>,
    #[serde(default)]
    pub refuse_read_only: Option<bool>,
    #[serde(default)]
    pub max_body_depth: Option<usize>,
    #[serde(default)]
    pub max_array_items: Option<usize>,
    #[serde(default)]
    pub max_string_length: Option<usize>,
    #[serde(default)]
    pub max_binary_bytes: Option<ByteSize>,
    #[serde(default)]
    pub validate_responses: Option<ResponseValidationMode>,
    #[serde(default)]
    pub response_sample_one_in: Option<u64>,
    #[serde(default)]
    pub response_exposure: Option<ExposureMode>,
    #[serde(default)]
    pub max_response_bytes: Option<ByteSize>,
}

impl OpenApiConfig {
    /// The knobs every operation starts from (`mode` is the block's own).
    pub fn knobs(&self) -> Knobs {
        Knobs {
            monitor: self.mode == Mode::Monitor,
            unknown_query: self.unknown_query.into(),
            unknown_headers: self.unknown_headers.into(),
            unknown_cookies: self.unknown_cookies.into(),
            strict_objects: self.strict_objects,
            refuse_read_only: self.refuse_read_only,
            max_body_depth: self.max_body_depth,
            max_array_items: self.max_array_items,
            max_string_length: self.max_string_length,
            max_binary_bytes: self.max_binary_bytes.map(|b| b.0),
            validate_responses: self.validate_responses.0,
            response_sample_one_in: self.response_sample_one_in,
            response_exposure: self.response_exposure.into(),
            max_response_bytes: self.max_response_bytes.0,
        }
    }
}

impl OperationOverrides {
    pub fn to_knob_overrides(&self) -> KnobOverrides {
        KnobOverrides {
            monitor: self.mode.map(|m| m == Mode::Monitor),
            unknown_query: self.unknown_query.map(Into::into),
            unknown_headers: self.unknown_headers.map(Into::into),
            unknown_cookies: self.unknown_cookies.map(Into::into),
            strict_objects: self.strict_objects,
            refuse_read_only: self.refuse_read_only,
            max_body_depth: self.max_body_depth,
            max_array_items: self.max_array_items,
            max_string_length: self.max_string_length,
            max_binary_bytes: self.max_binary_bytes.map(|b| b.0),
            validate_responses: self.validate_responses.map(|m| m.0),
            response_sample_one_in: self.response_sample_one_in,
            response_exposure: self.response_exposure.map(Into::into),
            max_response_bytes: self.max_response_bytes.map(|b| b.0),
        }
    }
}

mod defaults {
    use super::*;
    pub fn yes() -> bool {
        true
    }
    pub fn block() -> UnknownMode {
        UnknownMode::Block
    }
    pub fn allow() -> UnknownMode {
        UnknownMode::Allow
    }
    pub fn exposure() -> ExposureMode {
        ExposureMode::Block
    }
    pub fn max_body_depth() -> usize {
        Knobs::default().max_body_depth
    }
    pub fn max_array_items() -> usize {
        Knobs::default().max_array_items
    }
    pub fn max_string_length() -> usize {
        Knobs::default().max_string_length
    }
    pub fn validate_responses() -> ResponseValidationMode {
        ResponseValidationMode(Knobs::default().validate_responses)
    }
    pub fn response_sample_one_in() -> u64 {
        Knobs::default().response_sample_one_in
    }
    pub fn max_response_bytes() -> ByteSize {
        ByteSize(Knobs::default().max_response_bytes)
    }
}
