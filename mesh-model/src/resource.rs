//! Resources: one parsed object of any kind the mesh uses, with where it
//! came from.

use crate::diag::{Origin, Subject};
use crate::wire::{self, kube, meta::ObjectMeta};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

macro_rules! define_istio_kinds {
    ($($kind:ident => $m:ident::$t:ident, $group:literal, $required:literal;)*) => {
        /// The Istio resource kinds (one per CRD of `crd-all.gen.yaml`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum IstioKind {
            $(
                #[doc = concat!("`", $group, "/", stringify!($kind), "`")]
                $kind,
            )*
        }

        impl IstioKind {
            /// Every Istio kind.
            pub const ALL: &'static [IstioKind] = &[$(IstioKind::$kind,)*];

            /// The kind name (`VirtualService`).
            pub const fn name(self) -> &'static str {
                match self { $(IstioKind::$kind => stringify!($kind),)* }
            }

            /// The API group (`networking.istio.io`).
            pub const fn group(self) -> &'static str {
                match self { $(IstioKind::$kind => $group,)* }
            }

            /// Whether the CRD schema requires `spec`.
            pub const fn spec_required(self) -> bool {
                match self { $(IstioKind::$kind => $required,)* }
            }

            /// The kind named `name`.
            pub fn from_name(name: &str) -> Option<IstioKind> {
                match name { $(stringify!($kind) => Some(IstioKind::$kind),)* _ => None }
            }

            /// The CRD facts (served versions …).
            pub fn crd(self) -> &'static wire::CrdInfo {
                wire::CrdInfo::find(self.group(), self.name())
                    .expect("every IstioKind has a generated CRD entry")
            }
        }

        /// The `spec` of an Istio resource, as written.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum IstioSpec {
            $(
                #[doc = concat!("A `", stringify!($kind), "` spec.")]
                $kind(Box<wire::$m::$t>),
            )*
        }

        impl IstioSpec {
            /// The kind of this spec.
            pub fn kind(&self) -> IstioKind {
                match self { $(IstioSpec::$kind(_) => IstioKind::$kind,)* }
            }

            /// The empty spec of `kind` (for objects written without `spec`).
            pub fn default_for(kind: IstioKind) -> IstioSpec {
                match kind { $(IstioKind::$kind => IstioSpec::$kind(Box::default()),)* }
            }

            /// Runs the generated schema checks.
            pub fn schema_check(&self, cx: &mut wire::schema::SchemaContext) {
                use wire::schema::SchemaCheck;
                match self { $(IstioSpec::$kind(s) => s.check(cx),)* }
            }

            /// Deserializes the spec of `kind`.
            pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
                kind: IstioKind,
                d: D,
            ) -> Result<IstioSpec, D::Error> {
                Ok(match kind {
                    $(IstioKind::$kind => IstioSpec::$kind(Box::new(
                        <wire::$m::$t as serde::Deserialize>::deserialize(d)?,
                    )),)*
                })
            }
        }
    };
}
wire::generated::for_each_crd!(define_istio_kinds);

/// The Kubernetes kinds the mesh refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum KubeKind {
    /// `v1/Namespace`
    Namespace,
    /// `v1/Service`
    Service,
    /// `v1/Pod`
    Pod,
    /// `apps/v1/Deployment`
    Deployment,
    /// `apps/v1/StatefulSet`
    StatefulSet,
    /// `apps/v1/DaemonSet`
    DaemonSet,
    /// `apps/v1/ReplicaSet`
    ReplicaSet,
    /// `v1/ServiceAccount`
    ServiceAccount,
    /// `v1/ConfigMap`
    ConfigMap,
    /// `v1/Secret`
    Secret,
}

impl KubeKind {
    /// Every Kubernetes kind read.
    pub const ALL: &'static [KubeKind] = &[
        KubeKind::Namespace,
        KubeKind::Service,
        KubeKind::Pod,
        KubeKind::Deployment,
        KubeKind::StatefulSet,
        KubeKind::DaemonSet,
        KubeKind::ReplicaSet,
        KubeKind::ServiceAccount,
        KubeKind::ConfigMap,
        KubeKind::Secret,
    ];

    /// The kind name.
    pub const fn name(self) -> &'static str {
        match self {
            KubeKind::Namespace => "Namespace",
            KubeKind::Service => "Service",
            KubeKind::Pod => "Pod",
            KubeKind::Deployment => "Deployment",
            KubeKind::StatefulSet => "StatefulSet",
            KubeKind::DaemonSet => "DaemonSet",
            KubeKind::ReplicaSet => "ReplicaSet",
            KubeKind::ServiceAccount => "ServiceAccount",
            KubeKind::ConfigMap => "ConfigMap",
            KubeKind::Secret => "Secret",
        }
    }

    /// The API group (`""` for the core group).
    pub const fn group(self) -> &'static str {
        match self {
            KubeKind::Deployment
            | KubeKind::StatefulSet
            | KubeKind::DaemonSet
            | KubeKind::ReplicaSet => "apps",
            _ => "",
        }
    }

    /// The served versions this crate reads.
    pub const fn versions(self) -> &'static [&'static str] {
        match self {
            KubeKind::Deployment
            | KubeKind::StatefulSet
            | KubeKind::DaemonSet
            | KubeKind::ReplicaSet => &["v1", "v1beta1", "v1beta2"],
            _ => &["v1"],
        }
    }

    /// Whether the kind is cluster-scoped (no namespace).
    pub const fn cluster_scoped(self) -> bool {
        matches!(self, KubeKind::Namespace)
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<KubeKind> {
        KubeKind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

/// Any kind the mesh uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Kind {
    /// An Istio CRD.
    Istio(IstioKind),
    /// A Kubernetes object.
    Kube(KubeKind),
}

impl Kind {
    /// The kind name.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Istio(k) => k.name(),
            Kind::Kube(k) => k.name(),
        }
    }

    /// The API group.
    pub const fn group(self) -> &'static str {
        match self {
            Kind::Istio(k) => k.group(),
            Kind::Kube(k) => k.group(),
        }
    }

    /// The kind named `name` in API group `group`. A kind of the mesh's
    /// groups under a group that does not serve it is still returned (its
    /// `apiVersion` is then an error); a kind of another API group that
    /// merely shares a name (the Gateway API's `Gateway`) is not.
    ///
    /// ```
    /// use mesh_model::resource::{Kind, IstioKind};
    /// assert_eq!(Kind::from_group_name("networking.istio.io", "Gateway"), Some(Kind::Istio(IstioKind::Gateway)));
    /// assert_eq!(Kind::from_group_name("gateway.networking.k8s.io", "Gateway"), None);
    /// ```
    pub fn from_group_name(group: &str, name: &str) -> Option<Kind> {
        let kind = Kind::from_name(name)?;
        if kind.group() == group || Kind::is_mesh_group(group) {
            Some(kind)
        } else {
            None
        }
    }

    /// Whether `group` is an API group of a kind the mesh reads.
    fn is_mesh_group(group: &str) -> bool {
        IstioKind::ALL.iter().any(|k| k.group() == group)
            || KubeKind::ALL.iter().any(|k| k.group() == group)
    }

    /// The kind named `name`, Istio's first.
    pub fn from_name(name: &str) -> Option<Kind> {
        IstioKind::from_name(name)
            .map(Kind::Istio)
            .or_else(|| KubeKind::from_name(name).map(Kind::Kube))
    }

    /// Whether objects of this kind have no namespace.
    pub const fn cluster_scoped(self) -> bool {
        match self {
            Kind::Istio(_) => false,
            Kind::Kube(k) => k.cluster_scoped(),
        }
    }

    /// Whether `version` of `group` is served for this kind.
    pub fn serves(self, group: &str, version: &str) -> bool {
        if group != self.group() {
            return false;
        }
        match self {
            Kind::Istio(k) => k.crd().versions.contains(&version),
            Kind::Kube(k) => k.versions().contains(&version),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a resource holds besides its metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Body {
    /// An Istio resource's spec (and status, kept as written).
    Istio {
        /// The spec.
        spec: IstioSpec,
        /// `status`, kept as written.
        status: Option<serde_json::Value>,
    },
    /// A Namespace.
    Namespace,
    /// A Service.
    Service(Box<kube::ServiceSpec>),
    /// A Pod.
    Pod {
        /// `spec`.
        spec: Box<kube::PodSpec>,
        /// `status`.
        status: Box<kube::PodStatus>,
    },
    /// A Deployment, StatefulSet, DaemonSet or ReplicaSet.
    Workload(Box<kube::WorkloadControllerSpec>),
    /// A ServiceAccount.
    ServiceAccount,
    /// A ConfigMap's data.
    ConfigMap(BTreeMap<String, String>),
    /// A Secret: its type and the names of its keys (never the values).
    Secret {
        /// `type`.
        type_: Option<String>,
        /// The keys of `data`.
        keys: Vec<String>,
    },
}

/// Identifies a resource: kind, namespace (empty for cluster-scoped kinds)
/// and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ResourceKey {
    /// The kind.
    pub kind: Kind,
    /// The namespace (`""` for cluster-scoped kinds).
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// One parsed object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    /// `apiVersion` as written (`networking.istio.io/v1`).
    pub api_version: String,
    /// The kind.
    pub kind: Kind,
    /// `metadata`. `namespace` is filled in for namespaced kinds (from the
    /// parse options' default namespace where the object had none).
    pub metadata: ObjectMeta,
    /// The content.
    pub body: Body,
    /// Where it came from.
    pub origin: Origin,
}

impl Resource {
    /// The name (`metadata.name`).
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }

    /// The namespace (`""` for cluster-scoped kinds).
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("")
    }

    /// The resource's key.
    pub fn key(&self) -> ResourceKey {
        ResourceKey {
            kind: self.kind,
            namespace: self.namespace().to_string(),
            name: self.name().to_string(),
        }
    }

    /// The diagnostic subject for this resource.
    pub fn subject(&self) -> Subject {
        Subject {
            kind: Some(self.kind.name().to_string()),
            namespace: self.metadata.namespace.clone(),
            name: self.metadata.name.clone(),
        }
    }

    /// The Istio spec, if this is an Istio resource.
    pub fn istio_spec(&self) -> Option<&IstioSpec> {
        match &self.body {
            Body::Istio { spec, .. } => Some(spec),
            _ => None,
        }
    }

    /// The labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.metadata.labels()
    }

    /// The annotations.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        self.metadata.annotations()
    }
}
