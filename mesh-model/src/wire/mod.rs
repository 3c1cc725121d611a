//! Wire types: Istio and Kubernetes objects exactly as they are written.
//!
//! The Istio CRD types in [`generated`] are produced by `cargo xtask
//! codegen` from the CRD schemas Istio ships (`crd-all.gen.yaml`): every field
//! of every schema is modelled, camelCase on the wire, with the proto's
//! snake_case name accepted as an alias (Istio decodes with jsonpb, which
//! takes both). Each generated type implements [`schema::SchemaCheck`],
//! which enforces the schema's structural constraints and CEL rules as the
//! Kubernetes API server does.
//!
//! [`meta`] holds the object envelope (`apiVersion`, `kind`, `metadata`),
//! [`kube`] the Kubernetes objects the mesh refers to (read partially: the
//! fields the mesh uses), and [`mesh`] Istio's MeshConfig.

pub mod cel;
pub mod de;
pub mod enums;
#[rustfmt::skip]
pub mod generated;
pub mod kube;
pub mod mesh;
pub mod meta;
pub mod schema;

pub use generated::{extensions, networking, security, telemetry, types};

/// What the generator knows of one Istio CRD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrdInfo {
    /// API group, `networking.istio.io`.
    pub group: &'static str,
    /// Kind, `VirtualService`.
    pub kind: &'static str,
    /// Every served version.
    pub versions: &'static [&'static str],
    /// The storage version.
    pub storage_version: &'static str,
    /// Whether the schema requires `spec`.
    pub spec_required: bool,
    /// The generated spec type, `networking::VirtualService`.
    pub spec_type: &'static str,
}

impl CrdInfo {
    /// The CRD of `group`/`kind`, if Istio has one.
    pub fn find(group: &str, kind: &str) -> Option<&'static CrdInfo> {
        generated::CRDS
            .iter()
            .find(|c| c.group == group && c.kind == kind)
    }
}
