//! A Kubernetes cluster as a config source (cargo feature `kube`): Istio's
//! CRDs as dynamic objects, Namespaces, Services and Pods, listed at start
//! and then watched. Each object is one origin of the store
//! (`kube:Kind/namespace/name`), parsed and validated like a file, so a bad
//! object is reported and its last good version stays in force.
//!
//! EndpointSlices are watched and counted but not turned into endpoints:
//! the mesh model derives endpoints from Service selectors and Pods, and
//! has no kind for slices of selector-less Services.

use super::Sources;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::runtime::watcher;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_stream::StreamExt;

/// The kinds read: (group, version, kind).
pub const KINDS: &[(&str, &str, &str)] = &[
    ("networking.istio.io", "v1", "VirtualService"),
    ("networking.istio.io", "v1", "DestinationRule"),
    ("networking.istio.io", "v1", "Gateway"),
    ("networking.istio.io", "v1", "ServiceEntry"),
    ("networking.istio.io", "v1", "Sidecar"),
    ("networking.istio.io", "v1", "WorkloadEntry"),
    ("security.istio.io", "v1", "PeerAuthentication"),
    ("security.istio.io", "v1", "RequestAuthentication"),
    ("security.istio.io", "v1", "AuthorizationPolicy"),
    ("", "v1", "Namespace"),
    ("", "v1", "Service"),
    ("", "v1", "Pod"),
    ("discovery.k8s.io", "v1", "EndpointSlice"),
];

/// Why the cluster could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// No client configuration, or the API server refused.
    #[error("{0}")]
    Client(#[from] kube::Error),
}

fn origin(kind: &str, o: &DynamicObject) -> String {
    format!(
        "kube:{kind}/{}/{}",
        o.metadata.namespace.as_deref().unwrap_or(""),
        o.metadata.name.as_deref().unwrap_or("")
    )
}

fn api(client: &kube::Client, group: &str, version: &str, kind: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    Api::all_with(client.clone(), &ar)
}

/// Applies one object to the store; returns whether the mesh changed.
fn apply(sources: &Sources, kind: &str, o: &DynamicObject) -> bool {
    if kind == "EndpointSlice" {
        return false;
    }
    let text = match serde_json::to_string(o) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(origin = %origin(kind, o), error = %e, "cannot serialise object");
            return false;
        }
    };
    let origin = origin(kind, o);
    match sources.store().update(&origin, &text) {
        super::store::Update::Applied => true,
        super::store::Update::Rejected => {
            sources.status_changed();
            false
        }
        super::store::Update::Unchanged => false,
    }
}

/// Connects with the ambient kubeconfig (or in-cluster config) and lists
/// every kind once, so the first mesh is complete.
pub async fn initial_load(sources: &Sources) -> Result<kube::Client, KubeError> {
    let client = kube::Client::try_default().await?;
    for (g, v, k) in KINDS {
        match api(&client, g, v, k).list(&ListParams::default()).await {
            Ok(list) => {
                for o in &list.items {
                    apply(sources, k, o);
                }
                tracing::info!(kind = k, objects = list.items.len(), "listed");
            }
            Err(e) => tracing::warn!(kind = k, error = %e, "cannot list (CRD not installed?)"),
        }
    }
    Ok(client)
}

async fn watch_kind(
    client: kube::Client,
    kind: &'static (&'static str, &'static str, &'static str),
    sources: Arc<Sources>,
) {
    let (g, v, k) = *kind;
    let stream = watcher(api(&client, g, v, k), watcher::Config::default());
    let mut stream = std::pin::pin!(stream);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut relisting: Option<BTreeSet<String>> = None;
    while let Some(ev) = stream.next().await {
        let changed = match ev {
            Ok(watcher::Event::Apply(o)) => {
                seen.insert(origin(k, &o));
                apply(&sources, k, &o)
            }
            Ok(watcher::Event::Delete(o)) => {
                let name = origin(k, &o);
                seen.remove(&name);
                sources.store().remove(&name)
            }
            Ok(watcher::Event::Init) => {
                relisting = Some(BTreeSet::new());
                false
            }
            Ok(watcher::Event::InitApply(o)) => {
                let name = origin(k, &o);
                if let Some(r) = &mut relisting {
                    r.insert(name.clone());
                }
                seen.insert(name);
                apply(&sources, k, &o)
            }
            Ok(watcher::Event::InitDone) => {
                let mut changed = false;
                if let Some(now) = relisting.take() {
                    let mut store = sources.store();
                    let gone: Vec<String> = store
                        .origins()
                        .filter(|o| o.starts_with(&format!("kube:{k}/")) && !now.contains(*o))
                        .map(str::to_string)
                        .collect();
                    for o in gone {
                        changed |= store.remove(&o);
                    }
                    seen = now;
                }
                changed
            }
            Err(e) => {
                tracing::warn!(kind = k, error = %e, "watch error; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                false
            }
        };
        if changed {
            sources.changed();
        }
    }
}

/// Watches every kind until `shutdown`.
pub async fn watch(
    client: kube::Client,
    sources: Arc<Sources>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tasks = Vec::new();
    for kind in KINDS {
        tasks.push(tokio::spawn(watch_kind(
            client.clone(),
            kind,
            sources.clone(),
        )));
    }
    let _ = shutdown.changed().await;
    for t in tasks {
        t.abort();
    }
}
