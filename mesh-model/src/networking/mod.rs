//! The `networking.istio.io` domain types: what the router and the xDS
//! compiler reason with, converted from the wire types by the webhook rules.

mod common;
mod destination_rule;
mod gateway;
pub(crate) mod other;
mod unused_rules;
mod virtual_service;

pub use common::{
    Destination, ExportTo, FullRegex, GatewayRef, HeaderOperations, Headers, StringMatch,
};
pub use destination_rule::{DestinationRule, PortTrafficPolicy, Subset, TrafficPolicy};
pub use gateway::{
    EgressHost, EgressListener, Gateway, GatewayHost, GatewayPort, Server, ServiceEntry,
    ServiceEntryPort, Sidecar, WorkloadEntry,
};
pub use unused_rules::{RouteKind, UnusedRule, unused_rules};
pub use virtual_service::{
    AbortError, CorsPolicy, DirectResponse, FaultAbort, FaultDelay, HttpAction, HttpFault,
    HttpMatchRequest, HttpRedirect, HttpRetry, HttpRewrite, HttpRoute, HttpRouteDestination,
    L4MatchAttributes, Mirror, RedirectPort, RegexRewrite, RouteDestination, TcpRoute,
    TlsMatchAttributes, TlsRoute, VirtualService, jwt_claim_route,
};
