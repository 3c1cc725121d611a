//! Whether a request may reach a workload, as Istio decides it.
//!
//! `mesh-authz` answers the questions an inbound sidecar answers, from a
//! [`mesh_model::snapshot::Snapshot`]:
//!
//! * [`engine`]: AuthorizationPolicy — which policies attach to a workload
//!   (AZ-3), and whether CUSTOM, DENY and ALLOW policies let a request
//!   through (AZ-1), with AUDIT and dry-run observations (AZ-5), the TCP
//!   lowering (AZ-30..AZ-32) and CUSTOM providers (AZ-7). A decision names
//!   the policy, rule and action that made it; `explain` lists every rule
//!   and why it did or did not match.
//! * [`peer`]: PeerAuthentication — the effective mTLS mode of a workload
//!   port (PA-1..PA-7).
//! * [`jwt`]: RequestAuthentication — which JWT rules apply, where tokens
//!   are read from, and whether a token is valid (RA-1..RA-6).
//! * [`identity`]: the SPIFFE identity in a peer certificate, and
//!   trust-domain aliases ([`trust_domain`], AZ-23).
//! * [`matcher`]: Istio's string, path-template and identity matching, which
//!   the xDS compiler reuses to emit the same semantics for Envoy.
//!
//! It deliberately does **not** do I/O: no clocks (JWT validation takes
//! `now`), no key fetching (JWKS for a `jwksUri` are handed in as bytes),
//! no sockets, no logging. It does not emit Envoy configuration either;
//! that is `mesh-xds`'s job.
//!
//! ```
//! use mesh_authz::engine::{Authz, AuthzOptions, Reason, Verdict};
//! use mesh_authz::request::Request;
//! use mesh_model::{load, LoadOptions};
//!
//! let yaml = r#"
//! apiVersion: security.istio.io/v1
//! kind: AuthorizationPolicy
//! metadata: {name: ratings-viewer, namespace: bookinfo}
//! spec:
//!   selector: {matchLabels: {app: ratings}}
//!   rules:
//!   - from: [{source: {principals: ["cluster.local/ns/bookinfo/sa/reviews"]}}]
//!     to: [{operation: {methods: ["GET"]}}]
//! "#;
//! let snapshot = load(&[("policy.yaml", yaml)], &LoadOptions::default()).snapshot;
//! let authz = Authz::compile(&snapshot, &AuthzOptions::default());
//! let ratings = authz.workload("bookinfo", &[("app".into(), "ratings".into())].into());
//!
//! let from_reviews = Request::http("GET", "/ratings/1")
//!     .with_peer_principal("cluster.local/ns/bookinfo/sa/reviews");
//! let d = ratings.decide(&from_reviews);
//! assert_eq!(d.verdict, Verdict::Allow);
//! assert_eq!(d.rule.unwrap().policy.id(), "bookinfo/ratings-viewer");
//!
//! // A plaintext peer has no identity (AZ-22): no ALLOW rule matches.
//! let d = ratings.decide(&Request::http("GET", "/ratings/1"));
//! assert_eq!((d.verdict, d.reason), (Verdict::Deny, Reason::NoAllowMatched));
//! ```
//!
//! # API themes
//!
//! * Compile once, decide many times: [`engine::Authz::compile`] and
//!   [`engine::Authz::workload`] build immutable indexes; deciding borrows
//!   them and does not allocate.
//! * Invalid configuration fails closed: a value the proxy could not apply
//!   makes an ALLOW rule never match and a DENY rule match more, an unusable
//!   CUSTOM provider denies, a `jwksUri` without keys rejects every token.
//! * Comments cite the rule ids of `istio-semantics.md` (AZ-*, PA-*, RA-*).

pub mod engine;
pub mod identity;
pub mod jwt;
pub mod matcher;
pub mod peer;
pub mod policy;
pub mod reference;
pub mod request;
pub mod trust_domain;
