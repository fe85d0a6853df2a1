//! Loads and compiles the spec of a policy's `openapi` block when the config
//! is compiled, so a reload recompiles it and a broken spec fails the load
//! (and `portcullis validate`) with the config field, the spec file and the
//! JSON pointer. The spec path is relative to the config file.

use std::path::Path;

use portcullis_openapi::{CompileOptions, Spec};

use crate::config::ConfigError;
use crate::openapi_config::OpenApiConfig;

pub fn compile_spec(
    policy: &str,
    oc: &OpenApiConfig,
    path: &Path,
    source: &str,
) -> Result<Spec, ConfigError> {
    let field = |f: &str| format!("policies.{policy}.openapi.{f}");
    let err = |f: &str, m: String| ConfigError::at_field(path, source, &field(f), m);
    for (f, v) in [
        ("max_body_depth", oc.max_body_depth),
        ("max_array_items", oc.max_array_items),
        ("max_string_length", oc.max_string_length),
        ("response_sample_one_in", oc.response_sample_one_in as usize),
    ] {
        if v == 0 {
            return Err(err(f, "must be at least 1".into()));
        }
    }
    for (id, o) in &oc.operations {
        if o.response_sample_one_in == Some(0) {
            return Err(err(
                &format!("operations.{id}.response_sample_one_in"),
                "must be at least 1".into(),
            ));
        }
    }
    if let Some(base) = &oc.base_path
        && !base.starts_with('/')
    {
        return Err(err("base_path", "must start with '/'".into()));
    }
    let spec_path = path.parent().unwrap_or(Path::new("")).join(&oc.spec);
    let options = CompileOptions {
        base_path: oc.base_path.clone(),
        knobs: oc.knobs(),
        overrides: oc
            .operations
            .iter()
            .map(|(id, o)| (id.clone(), o.to_knob_overrides()))
            .collect(),
    };
    let spec = Spec::load(&spec_path, &options).map_err(|e| err("spec", e.to_string()))?;
    for id in oc.operations.keys() {
        if spec.operation_by_id(id).is_none() {
            let mut known: Vec<&str> = spec.operations.iter().map(|o| &*o.id).collect();
            known.sort_unstable();
            return Err(err(
                &format!("operations.{id}"),
                format!(
                    "the spec has no operation {id:?} (operations: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(spec)
}
