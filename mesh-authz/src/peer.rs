//! The effective PeerAuthentication mode of a workload port (PA-1..PA-7).
//!
//! ```
//! use mesh_authz::peer::{effective_mtls, Scope};
//! use mesh_model::security::MtlsMode;
//! use mesh_model::{load, LoadOptions};
//! let yaml = r#"
//! apiVersion: security.istio.io/v1
//! kind: PeerAuthentication
//! metadata: {name: default, namespace: istio-system}
//! spec: {mtls: {mode: STRICT}}
//! "#;
//! let snapshot = load(&[("pa.yaml", yaml)], &LoadOptions::default()).snapshot;
//! let m = effective_mtls(&snapshot, "shop", &Default::default(), None);
//! assert_eq!(m.mode, MtlsMode::Strict);
//! assert_eq!(m.scope, Scope::Mesh);
//! assert_eq!(m.policy.as_deref(), Some("istio-system/default"));
//! ```

use mesh_model::config::Config;
use mesh_model::labels::Labels;
use mesh_model::security::{MtlsMode, PeerAuthentication};
use mesh_model::snapshot::Snapshot;
use serde::Serialize;
use std::sync::Arc;

/// Where the effective mode came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// A workload policy (selector, non-root namespace), or its port level.
    Workload,
    /// The workload namespace's policy.
    Namespace,
    /// The root namespace's policy.
    Mesh,
    /// No policy sets a mode: PERMISSIVE.
    Default,
}

/// The effective mode of a workload (port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveMtls {
    /// STRICT, PERMISSIVE or DISABLE (never UNSET).
    pub mode: MtlsMode,
    /// `namespace/name` of the policy that set it; `None` for the default.
    pub policy: Option<String>,
    /// The policy's scope.
    pub scope: Scope,
    /// Whether a `portLevelMtls` entry decided it.
    pub port_level: bool,
}

/// The mesh, namespace and workload policies that apply to a workload
/// (PA-1..PA-3): per namespace the oldest selector-less policy; the oldest
/// matching workload policy; root-namespace selector policies ignored.
#[derive(Debug, Clone, Default)]
pub struct PeerPolicies {
    /// The root namespace's oldest selector-less policy.
    pub mesh: Option<Arc<Config<PeerAuthentication>>>,
    /// The workload namespace's oldest selector-less policy.
    pub namespace: Option<Arc<Config<PeerAuthentication>>>,
    /// The oldest workload policy whose selector matches.
    pub workload: Option<Arc<Config<PeerAuthentication>>>,
}

impl PeerPolicies {
    /// Selects the policies for a workload of `namespace` with `labels`.
    pub fn select(snapshot: &Snapshot, namespace: &str, labels: &Labels) -> PeerPolicies {
        let root = snapshot.root_namespace();
        let mut out = PeerPolicies::default();
        // Snapshot order is oldest first (RES-8): the first hit wins.
        for pa in snapshot.peer_authentications() {
            let ns = pa.meta.namespace();
            if ns != root && ns != namespace {
                continue;
            }
            match &pa.spec.selector {
                Some(s) if !s.is_empty() => {
                    // PA-1: a selector in the root namespace is ignored.
                    if ns != root && s.matches(labels) && out.workload.is_none() {
                        out.workload = Some(pa.clone());
                    }
                }
                _ if ns == root => {
                    if out.mesh.is_none() {
                        out.mesh = Some(pa.clone());
                    }
                }
                _ => {
                    if out.namespace.is_none() {
                        out.namespace = Some(pa.clone());
                    }
                }
            }
        }
        out
    }

    /// The effective mode for `port` (a workload target port, PA-5), or for
    /// the workload as a whole (PA-4): PERMISSIVE, then the mesh, namespace
    /// and workload modes where set, then the port-level mode where set
    /// (UNSET inherits).
    pub fn effective(&self, port: Option<u16>) -> EffectiveMtls {
        let mut out = EffectiveMtls {
            mode: MtlsMode::Permissive,
            policy: None,
            scope: Scope::Default,
            port_level: false,
        };
        for (pa, scope) in [
            (&self.mesh, Scope::Mesh),
            (&self.namespace, Scope::Namespace),
            (&self.workload, Scope::Workload),
        ] {
            if let Some(pa) = pa
                && let Some(m) = pa.spec.mode
            {
                out.mode = m;
                out.policy = Some(pa.meta.id());
                out.scope = scope;
            }
        }
        if let (Some(pa), Some(port)) = (&self.workload, port)
            && let Some(m) = pa.spec.port_level.get(&port)
            && *m != MtlsMode::Unset
        {
            out.mode = *m;
            out.policy = Some(pa.meta.id());
            out.scope = Scope::Workload;
            out.port_level = true;
        }
        out
    }
}

/// The effective mTLS mode of a workload port (PA-1..PA-6).
pub fn effective_mtls(
    snapshot: &Snapshot,
    namespace: &str,
    labels: &Labels,
    port: Option<u16>,
) -> EffectiveMtls {
    PeerPolicies::select(snapshot, namespace, labels).effective(port)
}

/// istiod's `GetNamespaceMutualTLSMode` (PA-7), used by clients' auto mTLS:
/// the namespace policy's mode (UNSET: the mesh mode, else PERMISSIVE),
/// else the mesh mode, else `None` (unknown).
pub fn namespace_mtls_mode(snapshot: &Snapshot, namespace: &str) -> Option<MtlsMode> {
    let p = PeerPolicies::select(snapshot, namespace, &Labels::new());
    let mesh = p.mesh.as_ref().map(|m| m.spec.mode);
    match (&p.namespace, mesh) {
        (Some(ns), mesh) => Some(
            ns.spec
                .mode
                .or(mesh.flatten())
                .unwrap_or(MtlsMode::Permissive),
        ),
        (None, Some(m)) => Some(m.unwrap_or(MtlsMode::Permissive)),
        (None, None) => None,
    }
}
