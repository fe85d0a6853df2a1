//! Portcullis OpenAPI enforcement: the positive security model. It loads
//! OpenAPI 3.0 and 3.1 documents (YAML or JSON, `$ref`s across files),
//! compiles them once into a [`Spec`] (an [`OperationRouter`] and compiled
//! schema validators), and then, per request, routes it to its operation and
//! validates parameters, bodies and responses, returning [`Violation`]s with
//! a location and a reason that never echoes the offending value.
//!
//! It is a pure library: no network, no async runtime, no clocks. Files are
//! read only by [`Spec::load`], at config load or reload time; everything
//! after that works on borrowed request data.

pub mod audit;
pub mod error;
pub mod fast;
pub mod format;
pub mod knobs;
pub mod loader;
pub mod params;
pub mod request;
pub mod response;
pub mod router;
pub mod schema;
pub mod spec;
pub mod strip;
pub mod validate;

pub use audit::{AuditFinding, AuditSeverity, audit_spec};
pub use error::SpecError;
pub use knobs::{Exposure, KnobOverrides, Knobs, ResponseValidation, UnknownParams};
pub use loader::{Dialect, SpecSet};
pub use request::{
    PartView, RequestBody, RequestParts, RequestReport, StripList, Violation, ViolationKind,
};
pub use response::{ResponseParts, ResponseReport};
pub use router::{OperationRouter, RouteError, RouteMatch};
pub use spec::{CompileOptions, Operation, Spec};
pub use validate::{Direction, ValidationOptions};
