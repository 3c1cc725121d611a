//! Cross-resource analysis of mesh configuration, as `istioctl analyze`
//! does it, and more.
//!
//! `mesh-analyze` runs Istio's analyzers — with Istio's names
//! (`virtualservice.GatewayAnalyzer`), message codes (`IST0101`), levels and
//! wording — over the objects of a set of inputs, and adds checks of its own
//! that read the mesh's semantics (codes `MESH001`–`MESH006`). Every message
//! names its resource and where in the inputs it points: file, document,
//! line, column and field path.
//!
//! It is a crate of its own, not a module of `mesh-model`, because its own
//! checks reason with the route and policy semantics above the model, and
//! the crate graph keeps the model at the bottom. Like the other library
//! crates it does no I/O: callers hand it text (and, for certificate
//! validity, the time).
//!
//! ```
//! use mesh_analyze::{AnalysisOptions, Inputs, analyze};
//! let yaml = r#"
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: {name: reviews, namespace: bookinfo}
//! spec:
//!   hosts: [reviews]
//!   gateways: [bookinfo-gateway]
//!   http:
//!   - route:
//!     - destination: {host: reviews}
//! "#;
//! let inputs = Inputs::load(&[("reviews.yaml", yaml)], &AnalysisOptions::default()).unwrap();
//! let messages = analyze(&inputs, &["virtualservice.GatewayAnalyzer"]).unwrap();
//! assert_eq!(
//!     messages[0].to_string(),
//!     r#"Error [IST0101] (VirtualService bookinfo/reviews reviews.yaml:7) Referenced gateway not found: "bookinfo-gateway""#
//! );
//! assert_eq!(messages[0].location.path.to_string(), "spec.gateways[0]");
//! ```
//!
//! # Our own checks
//!
//! | Code | Name | What |
//! |---|---|---|
//! | MESH001 | ShadowedRoute | An HTTP route that no request reaches: every request its match blocks match is matched first by earlier routes of the same VirtualService (match-block subsumption, VS-1/VS-2), beyond Istio's syntactic IST0130/IST0131. |
//! | MESH002 | AuthorizationRuleNeedsMtls | An AuthorizationPolicy rule that requires a peer identity (`principals`, `namespaces`, `serviceAccounts`, `trustDomains`, their `source.*` conditions) on workloads whose PeerAuthentication disables mTLS: plaintext peers have no identity (AZ-22), so the rule never matches. |
//! | MESH003 | AuthorizationRuleHttpOnTcp | An AuthorizationPolicy rule with HTTP-only fields (AZ-30) for a port the selected workloads serve as TCP: an ALLOW rule is dropped there (AZ-31), a DENY rule loses those conditions and denies more (AZ-32). |
//! | MESH004 | AuthorizationPolicySelectsNothing | An AuthorizationPolicy whose selector selects none of the workloads (Pods, workload controllers, WorkloadEntries) of its scope: it never applies. Scopes without any workload in the inputs are not judged. |
//! | MESH005 | ShadowedPeerAuthentication | A PeerAuthentication that an older one silently overrides: a second selector-less policy in a namespace, or a workload policy selecting the same workloads as an older one (PA-3). |
//! | MESH006 | SubsetWithoutEndpoints | A DestinationRule subset whose labels no endpoint of its host carries (DR-3): requests routed to it fail with 503. Hosts without any endpoint in the inputs are not judged. |
//!
//! # API themes
//!
//! * [`Inputs::load`] reads everything once; [`analyze`] runs any number
//!   of analyzers over it.
//! * Messages come back sorted as istioctl sorts them, and de-duplicated as
//!   istioctl de-duplicates them.
//! * Nothing panics on input: objects that cannot be read are kept as
//!   [`Inputs::diagnostics`] and the rest are analyzed.

pub mod analyzers;
pub mod cert;
mod checks;
pub mod input;
pub mod mesh;
pub mod message;

pub use analyzers::Analyzer;
pub use input::{AnalysisOptions, Entry, InputError, Inputs};
pub use message::{Level, Location, Message, MessageType, ResourceRef, types};

/// A name that is not an analyzer's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown analyzer {0:?}")]
pub struct UnknownAnalyzer(pub String);

/// Every analyzer: Istio's (in Istio's order), then ours.
pub fn all_analyzers() -> &'static [Analyzer] {
    analyzers::ALL
}

/// Runs the named analyzers (none named: every default analyzer) and
/// returns their messages, sorted by level, code and resource.
pub fn analyze(inputs: &Inputs, names: &[&str]) -> Result<Vec<Message>, UnknownAnalyzer> {
    let selected: Vec<&Analyzer> = if names.is_empty() {
        analyzers::ALL.iter().filter(|a| a.default).collect()
    } else {
        let mut v = Vec::new();
        for n in names {
            let a = analyzers::ALL
                .iter()
                .find(|a| a.name == *n)
                .ok_or_else(|| UnknownAnalyzer((*n).to_string()))?;
            v.push(a);
        }
        v
    };
    let mut out = Vec::new();
    for a in selected {
        let mut cx = analyzers::Cx::new(inputs);
        (a.run)(&mut cx);
        out.extend(cx.finish(a.name));
    }
    out.sort_by(|a, b| {
        let key = |m: &Message| {
            (
                m.message_type.level,
                m.message_type.code,
                m.resource
                    .as_ref()
                    .map(|r| (r.kind.clone(), r.name.clone(), r.namespace.clone())),
                m.to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
    out.dedup_by(|a, b| a.to_string() == b.to_string());
    Ok(out)
}
