//! Compiles a mesh snapshot, for one proxy, into Envoy xDS resources named
//! and shaped as Istio names and shapes them.
//!
//! This crate knows protobufs (`envoy-types`); it does no I/O. The
//! [`json`] module reads and writes any emitted resource in the protobuf
//! JSON mapping; [`version`] gives each resource its content version;
//! [`encode`] writes route configurations and clusters to protobuf bytes,
//! exactly as prost does, in one pass.
//!
//! * [`authz`]: AuthorizationPolicies → the RBAC and ext_authz filters of a
//!   workload's HTTP and TCP filter chains.
//! * Gateways: a listener per server port, with plain HTTP, terminated
//!   HTTPS (`SIMPLE`, `MUTUAL`, `ISTIO_MUTUAL`), TLS `PASSTHROUGH` by SNI,
//!   and `AUTO_PASSTHROUGH` (GW-7): SNI-DNAT chains and clusters
//!   (`outbound_.<port>_.<subset>_.<host>`) that carry an Istio client's
//!   mTLS through unopened, as east-west gateways do.

pub mod assemble;
pub mod authz;
pub mod cluster;
mod compile;
pub mod encode;
pub mod endpoint;
pub mod http;
pub mod json;
pub mod listener;
pub mod proxy;
pub mod resources;
pub mod route;
pub mod tls;
pub mod util;
pub mod version;

pub use compile::{Certificates, CompileOptions, Compiler, PreparedProxy, compile};
