//! Where a request goes in an Istio mesh, decided as Envoy decides it.
//!
//! `mesh-route` compiles a [`Snapshot`](mesh_model::snapshot::Snapshot)
//! into the route tables Istio generates for one proxy — a sidecar (the
//! `mesh` gateway) or a gateway workload — and evaluates requests on them:
//! which VirtualService, route and match block apply, which destinations
//! and clusters, with what timeout, retries, fault, mirrors, rewrite,
//! redirect, CORS and header operations. The rules are those of istiod and
//! Envoy, cited by rule id from the semantics reference.
//!
//! The compiled tables ([`RouteConfiguration`] and the types of [`config`])
//! are a neutral, typed description of Envoy's `RouteConfiguration`s as
//! Istio builds them (names, domains, matchers, actions), meant to be
//! translated one to one into Envoy protos by an xDS compiler. Evaluation
//! runs on those same values, so what this crate decides is what the
//! translated configuration does; explain is a by-product of evaluation.
//!
//! It deliberately does **not**: read files or the network, draw random
//! numbers (weighted picks take a number the caller draws), speak xDS or
//! protobuf, load-balance between endpoints, or check authorization.
//!
//! ```
//! use mesh_model::{load, LoadOptions};
//! use mesh_route::{ProxyContext, Request, RouteTable, Outcome};
//! let yaml = r#"
//! apiVersion: v1
//! kind: Service
//! metadata: {name: reviews, namespace: bookinfo}
//! spec:
//!   clusterIP: 10.0.0.9
//!   ports: [{name: http, port: 9080}]
//! ---
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: {name: reviews, namespace: bookinfo}
//! spec:
//!   hosts: [reviews]
//!   http:
//!   - match: [{headers: {end-user: {exact: jason}}}]
//!     route: [{destination: {host: reviews, subset: v2}}]
//!   - route: [{destination: {host: reviews, subset: v1}}]
//! "#;
//! let snapshot = load(&[("mesh.yaml", yaml)], &LoadOptions::default()).snapshot;
//! let table = RouteTable::compile(&snapshot, &ProxyContext::sidecar("bookinfo", Default::default()));
//! let headers = [("end-user", "jason")];
//! let req = Request::new("reviews:9080", "/reviews/1").with_headers(&headers);
//! let d = table.route(&req);
//! assert_eq!(d.outcome, Outcome::Route);
//! let hit = d.route.unwrap();
//! assert_eq!(hit.route.origin.as_ref().unwrap().route_index, 0);
//! assert_eq!(d.route_configuration.unwrap().name, "9080");
//! ```
//!
//! # API themes
//!
//! * Compile once ([`RouteTable::compile`]), evaluate many times
//!   ([`RouteTable::route`]): evaluation borrows the request and the table
//!   and allocates nothing.
//! * "No route matched" and "unknown host" are [`Outcome`]s, not errors.
//! * Randomness is a parameter: [`weighted::pick`] takes the caller's
//!   number.
//! * Every decision names its provenance ([`RouteOrigin`]); [`report`]
//!   turns it into the `meshctl route` JSON.
//!
//! # Not modelled
//!
//! Inbound (server-side) routes; ExternalName aliases; proxyless gRPC;
//! `HTTP_PROXY` and unix-socket Sidecar egress listeners; Gateway API and
//! Ingress resources; the mesh `defaultTrafficPolicy` in DestinationRule
//! merging. TCP services without a VIP are evaluated per service rather
//! than on Envoy's shared `0.0.0.0` listener. Evaluation allocates nothing.

mod compile;
pub mod config;
pub mod destination_rule;
mod index;
pub mod l4;
pub mod matcher;
pub mod proxy;
pub mod reference;
pub mod report;
pub mod request;
pub mod table;
pub mod weighted;

pub use compile::{
    GatewayServerRoutes, ProxyRoutes, SnapshotRoutes, gateway_virtual_service_routes,
    sidecar_virtual_service_routes,
};
pub use config::{RouteConfiguration, RouteOrigin};
pub use destination_rule::DestinationRules;
pub use proxy::ProxyContext;
pub use request::Request;
pub use table::{Decision, Explanation, Outcome, RouteTable};
