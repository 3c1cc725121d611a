//! Istio and Kubernetes mesh configuration as typed Rust.
//!
//! `mesh-model` reads the YAML and JSON that describe a service mesh (Istio's
//! CRDs and the Kubernetes objects they refer to), checks it the way Istio's
//! validating webhook does, and indexes one mesh into an immutable
//! [`Snapshot`](snapshot::Snapshot) that the router, the policy engine and
//! the xDS compiler share.
//!
//! It deliberately does **not** do I/O: no files, sockets, clocks or
//! environment variables. Callers hand it text ([`parse::Source`]) and get
//! values and [`diag::Diagnostic`]s back.
//!
//! ```
//! use mesh_model::{load, LoadOptions};
//! let yaml = r#"
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: {name: reviews, namespace: bookinfo}
//! spec:
//!   hosts: [reviews]
//!   http:
//!   - route:
//!     - destination: {host: reviews, subset: v1}
//!       weight: 80
//!     - destination: {host: reviews, subset: v2}
//!       weight: 20
//! "#;
//! let loaded = load(&[("reviews.yaml", yaml)], &LoadOptions::default());
//! assert!(loaded.diagnostics.is_empty());
//! let vs = loaded.snapshot.virtual_services().next().unwrap();
//! assert_eq!(vs.spec.hosts[0].as_str(), "reviews.bookinfo.svc.cluster.local");
//! ```
//!
//! # Layers
//!
//! * [`wire`]: the objects exactly as written. The Istio CRD types are
//!   generated from Istio's CRD schemas (`cargo xtask codegen`), every field
//!   modelled, each with the schema's own checks.
//! * [`parse`]: text to [`resource::Resource`]s, one document at a time, with
//!   located diagnostics (file, document, field path, line and column).
//! * [`config`]: the domain types ([`networking`], [`security`], [`kube`]),
//!   joined to the wire types by a conversion that applies Istio's webhook
//!   rules: validation is "the conversion succeeds".
//! * [`snapshot`]: one mesh, indexed: resources by kind and name, services by
//!   host, workloads by namespace and labels, Istio's "oldest first" order.
//!
//! # API themes
//!
//! * Nothing panics on input; every problem is a [`diag::Diagnostic`] with a
//!   stable code (the `VAL-*` rule ids of Istio's webhook where one exists).
//! * A bad resource is reported and skipped; the rest of the mesh loads.
//! * Host names are [`host::Hostname`]s (short names resolved, wildcards
//!   understood); selectors are [`labels::Selector`]s.

pub mod base64;
pub mod config;
pub mod diag;
pub mod duration;
pub mod host;
pub mod kube;
pub mod labels;
mod load;
pub mod networking;
pub mod parse;
pub mod protocol;
pub mod resource;
pub mod scope;
pub mod security;
pub mod snapshot;
pub mod validation;
pub mod wire;

pub use load::{LoadOptions, Loaded, load};
