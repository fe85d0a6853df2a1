//! Portcullis policy: the configuration model, the compiled [`Policy`], the
//! parsed request view ([`Exchange`]), the [`Check`] trait with the core
//! checks, findings and the single decision point ([`decide`]). Everything
//! here is pure: no sockets, no async runtime, no clocks on the hot path, so
//! it can be unit-tested, fuzzed and benchmarked alone, and the offline
//! `check` command evaluates requests with exactly the gateway's logic.

pub mod admission;
pub mod body;
pub mod bots;
pub mod checks;
pub mod client_ip;
pub mod config;
pub mod exchange;
pub mod finding;
mod identity_compile;
pub mod identity_config;
pub mod introspection;
pub mod ja4;
pub mod jwks;
pub mod offline;
mod openapi_compile;
pub mod openapi_config;
pub mod path;
pub mod policy;
pub mod protocol;
pub mod rate_limit;
pub mod request_id;
pub mod spec_extensions;
pub mod units;
mod yaml_path;

pub use checks::{Check, FieldLookup, ResponseBody, ResponseHead};
pub use config::{Config, ConfigError, Mode};
pub use exchange::{Exchange, ExchangeHead, PeerIdentity, RequestRewrites};
pub use finding::{Finding, Severity, Verdict, decide};
pub use policy::{CompiledPolicy, Policy, Route};
