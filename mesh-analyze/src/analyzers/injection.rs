//! The injection analyzers: namespaces not enabled for injection (or with
//! several injection labels), pods missing their proxy, and `image: auto`
//! workloads that no injector will fill in.

use super::util::go_list;
use super::{Analyzer, Cx, path};
use crate::input::kinds;
use crate::message::types;
use mesh_model::diag::FieldPath;
use mesh_model::labels::Labels;
use std::collections::BTreeSet;

/// `injection.Analyzer`.
pub const INJECTION: Analyzer = Analyzer {
    name: "injection.Analyzer",
    description: "Checks conditions related to Istio sidecar injection",
    default: true,
    run: injection,
};

/// `injection.ImageAnalyzer`.
pub const IMAGE: Analyzer = Analyzer {
    name: "injection.ImageAnalyzer",
    description: "Checks the image of auto-injection configured with the running proxies on pods",
    default: true,
    run: images,
};

/// `injection.ImageAutoAnalyzer`.
pub const IMAGE_AUTO: Analyzer = Analyzer {
    name: "injection.ImageAutoAnalyzer",
    description: "Makes sure that Pods and Deployments with `image: auto` are going to be injected",
    default: true,
    run: image_auto,
};

/// `sidecarInjectorWebhook.enableNamespacesByDefault` of an injector
/// ConfigMap's `values`.
fn enabled_by_default(cm: &crate::input::Entry) -> bool {
    let Some(values) = cm.raw_at(&["data", "values"]).and_then(|v| v.as_str()) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(values)
        .ok()
        .and_then(|v| {
            v.pointer("/sidecarInjectorWebhook/enableNamespacesByDefault")
                .and_then(|b| b.as_bool())
        })
        .unwrap_or(false)
}

fn injection(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let mut injected: BTreeSet<String> = BTreeSet::new();
    let mut by_default = false;
    for ns in inputs.of(kinds::NAMESPACE) {
        if ns.name == "istio-system" {
            continue;
        }
        let legacy = ns.labels.get("istio-injection");
        let revision = ns.labels.get("istio.io/rev");
        let mut labels: Vec<String> = Vec::new();
        if let Some(v) = legacy {
            labels.push(format!("istio-injection={v}"));
        }
        for l in ["istio.io/rev", "istio.io/dataplane-mode"] {
            if let Some(v) = ns.labels.get(l)
                && legacy.is_none_or(|v| v == "enabled")
            {
                labels.push(format!("{l}={v}"));
            }
        }
        if labels.len() > 1 {
            cx.report(
                ns,
                types::NAMESPACE_MULTIPLE_INJECTION_LABELS,
                format!(
                    "The namespace has more than one type of injection labels {}, which may lead to undefined behavior. Make sure only one injection label exists.",
                    go_list(&labels)
                ),
                FieldPath::root(),
            );
        }
        if ns.labels.get("istio.io/dataplane-mode").map(String::as_str) == Some("ambient") {
            continue;
        }
        let cm_name = match revision.map(String::as_str) {
            None | Some("" | "default") => "istio-sidecar-injector".to_string(),
            Some(r) => format!("istio-sidecar-injector-{r}"),
        };
        if let Some(cm) = inputs.of(kinds::CONFIG_MAP).find(|c| c.name == cm_name) {
            by_default = enabled_by_default(cm);
        }
        if legacy.is_none_or(String::is_empty) && revision.is_none() {
            if by_default {
                cx.report(
                    ns,
                    types::NAMESPACE_INJECTION_ENABLED_BY_DEFAULT,
                    "is enabled for Istio injection, as Istio is installed with enableNamespacesByDefault as true.",
                    FieldPath::root(),
                );
                continue;
            }
            cx.report(
                ns,
                types::NAMESPACE_NOT_INJECTED,
                format!(
                    "The namespace is not enabled for Istio injection. Run 'kubectl label namespace {0} istio-injection=enabled' to enable it, or 'kubectl label namespace {0} istio-injection=disabled' to explicitly mark it as not needing injection.",
                    ns.name
                ),
                path("metadata.name"),
            );
            continue;
        }
        if legacy.map(String::as_str) != Some("enabled") {
            continue;
        }
        injected.insert(ns.name.clone());
    }
    for pod in inputs.of(kinds::POD) {
        if !injected.contains(&pod.namespace) {
            continue;
        }
        let mut inject = pod
            .annotations
            .get("sidecar.istio.io/inject")
            .cloned()
            .unwrap_or_default();
        if let Some(v) = pod.labels.get("sidecar.istio.io/inject") {
            inject.clone_from(v);
        }
        if inject.eq_ignore_ascii_case("false") {
            continue;
        }
        let Some(spec) = pod.pod_spec() else { continue };
        if spec.host_network == Some(true) {
            continue;
        }
        let image = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter())
            .find(|c| c.name == "istio-proxy")
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        if image.is_empty() {
            cx.report(
                pod,
                types::POD_MISSING_PROXY,
                format!(
                    "The pod {} is missing the Istio proxy. This can often be resolved by restarting or redeploying the workload.",
                    pod.full_name()
                ),
                FieldPath::root(),
            );
        }
    }
}

/// A Kubernetes label selector (`matchLabels` and `matchExpressions`), as
/// written; `None` (absent) selects everything.
pub(crate) fn label_selector_matches(
    selector: Option<&serde_json::Value>,
    labels: &Labels,
) -> bool {
    let Some(sel) = selector else { return true };
    if let Some(m) = sel.get("matchLabels").and_then(|m| m.as_object()) {
        for (k, v) in m {
            if labels.get(k).map(String::as_str) != v.as_str() {
                return false;
            }
        }
    }
    for expr in sel
        .get("matchExpressions")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
    {
        let key = expr.get("key").and_then(|k| k.as_str()).unwrap_or("");
        let values: Vec<&str> = expr
            .get("values")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        let value = labels.get(key).map(String::as_str);
        let ok = match expr.get("operator").and_then(|o| o.as_str()).unwrap_or("") {
            "In" => value.is_some_and(|v| values.contains(&v)),
            "NotIn" => value.is_none_or(|v| !values.contains(&v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

fn has_auto_image(spec: Option<&serde_json::Value>) -> bool {
    spec.and_then(|s| s.get("containers"))
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("name").and_then(|n| n.as_str()) == Some("istio-proxy")
                && c.get("image").and_then(|i| i.as_str()) == Some("auto")
        })
}

fn image_auto(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let webhooks: Vec<&serde_json::Value> = inputs
        .of(kinds::MUTATING_WEBHOOK)
        .flat_map(|m| {
            m.raw
                .get("webhooks")
                .and_then(|w| w.as_array())
                .into_iter()
                .flatten()
        })
        .filter(|w| {
            w.get("name")
                .and_then(|n| n.as_str())
                .is_some_and(|n| n.ends_with("istio.io"))
        })
        .collect();
    for pod in inputs.of(kinds::POD) {
        if has_auto_image(pod.raw.get("spec")) {
            cx.report(
                pod,
                types::IMAGE_AUTO_WITHOUT_INJECTION_ERROR,
                format!(
                    "Pod {} contains `image: auto` but does not match any Istio injection webhook selectors.",
                    pod.name
                ),
                FieldPath::root(),
            );
        }
    }
    for d in inputs.of(kinds::DEPLOYMENT) {
        if !has_auto_image(d.raw_at(&["spec", "template", "spec"])) {
            continue;
        }
        let ns = if d.namespace.is_empty() {
            "default"
        } else {
            d.namespace.as_str()
        };
        let ns_labels = inputs
            .find(kinds::NAMESPACE, "", ns)
            .map(|n| n.labels.clone())
            .unwrap_or_default();
        let pod_labels = d
            .workload_spec()
            .map(|s| s.template.metadata.labels().clone())
            .unwrap_or_default();
        let matched = webhooks.iter().any(|w| {
            label_selector_matches(w.get("namespaceSelector"), &ns_labels)
                && label_selector_matches(w.get("objectSelector"), &pod_labels)
        });
        if !matched {
            cx.report(
                d,
                types::IMAGE_AUTO_WITHOUT_INJECTION_WARNING,
                format!(
                    "Deployment {} contains `image: auto` but does not match any Istio injection webhook selectors.",
                    d.name
                ),
                FieldPath::root(),
            );
        }
    }
}

/// The proxy image an injector ConfigMap's `values` configure: `proxy.image`
/// when it is a full reference, else `hub/image:tag`.
fn injector_image(cm: &crate::input::Entry) -> String {
    let values = cm
        .raw_at(&["data", "values"])
        .and_then(|v| v.as_str())
        .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
        .unwrap_or_default();
    let s = |p: &str| {
        values
            .pointer(p)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let image = s("/global/proxy/image");
    if image.contains('/') {
        image
    } else {
        format!("{}/{image}:{}", s("/global/hub"), s("/global/tag"))
    }
}

/// The `image.imageType` of a ProxyConfig (or proxy config) value.
fn image_type(v: Option<&serde_json::Value>) -> Option<String> {
    v.and_then(|v| v.pointer("/image/imageType"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// The effective proxy image variant of a pod (`distroless`, or `""`):
/// mesh default, then the root namespace's ProxyConfig, the namespace's,
/// a selecting workload one, then the pod's `proxy.istio.io/config`.
fn image_variant(inputs: &crate::input::Inputs, pod: &crate::input::Entry) -> String {
    use mesh_model::resource::IstioKind;
    let mut variant = image_type(inputs.mesh().get("defaultConfig")).unwrap_or_default();
    let root = inputs.root_namespace();
    let mut namespace_pc = None;
    let mut workload = Vec::new();
    for pc in inputs.istio(IstioKind::ProxyConfig) {
        let spec = pc.raw.get("spec");
        if pc.namespace == root {
            if let Some(t) = image_type(spec) {
                variant = t;
            }
            continue;
        }
        if spec
            .and_then(|s| s.get("selector"))
            .is_none_or(serde_json::Value::is_null)
        {
            if pc.namespace == pod.namespace {
                namespace_pc = Some(pc);
            }
        } else {
            workload.push(pc);
        }
    }
    if let Some(t) = namespace_pc.and_then(|pc| image_type(pc.raw.get("spec"))) {
        variant = t;
    }
    for pc in workload {
        if !pc.full_name().starts_with(pod.namespace.as_str()) {
            continue;
        }
        let sel = pc
            .raw_at(&["spec", "selector", "matchLabels"])
            .and_then(|m| m.as_object());
        let selects = sel
            .into_iter()
            .flatten()
            .all(|(k, v)| pod.labels.get(k).map(String::as_str) == v.as_str());
        if selects && let Some(t) = image_type(pc.raw.get("spec")) {
            variant = t;
        }
    }
    if let Some(v) = pod.annotations.get("proxy.istio.io/config")
        && let Ok(y) = serde_yaml::from_str::<serde_yaml::Value>(v)
        && let Some(t) = image_type(Some(&crate::input::yaml_to_json(y)))
    {
        variant = t;
    }
    if variant == "default" {
        variant.clear();
    }
    variant
}

fn images(cx: &mut Cx<'_>) {
    let inputs = cx.inputs;
    let images: std::collections::BTreeMap<String, String> = inputs
        .of(kinds::CONFIG_MAP)
        .filter(|c| c.name.starts_with("istio-sidecar-injector"))
        .map(|c| (c.name.clone(), injector_image(c)))
        .collect();
    if images.is_empty() {
        return;
    }
    // Injected namespaces and their revision.
    let mut revisions: std::collections::BTreeMap<&str, String> = std::collections::BTreeMap::new();
    for ns in inputs.of(kinds::NAMESPACE) {
        if let Some(r) = ns.labels.get("istio.io/rev") {
            revisions.insert(&ns.name, r.clone());
        } else if ns.labels.get("istio-injection").map(String::as_str) == Some("enabled") {
            revisions.insert(&ns.name, "default".into());
        }
    }
    let mut mismatched: std::collections::BTreeMap<String, Vec<String>> =
        std::collections::BTreeMap::new();
    for pod in inputs.of(kinds::POD) {
        let Some(rev) = revisions.get(pod.namespace.as_str()) else {
            continue;
        };
        let cm = if rev.is_empty() || rev == "default" {
            "istio-sidecar-injector".to_string()
        } else {
            format!("istio-sidecar-injector-{rev}")
        };
        if pod
            .annotations
            .get("sidecar.istio.io/proxyImage")
            .is_some_and(|v| !v.is_empty())
        {
            continue;
        }
        let Some(spec) = pod.pod_spec() else { continue };
        let variant = image_variant(inputs, pod);
        for c in spec.containers.iter().chain(spec.init_containers.iter()) {
            if c.name != "istio-proxy" {
                continue;
            }
            let Some(want) = images.get(&cm) else { break };
            let image = c.image.as_deref().unwrap_or("");
            if image != want && image != format!("{want}-{variant}") {
                mismatched
                    .entry(pod.namespace.clone())
                    .or_default()
                    .push(pod.name.clone());
            }
        }
    }
    for (ns, mut pods) in mismatched {
        pods.sort();
        let Some(e) = inputs.find(kinds::NAMESPACE, "", &ns) else {
            continue;
        };
        cx.report(
            e,
            types::PODS_ISTIO_PROXY_IMAGE_MISMATCH_IN_NAMESPACE,
            format!(
                "The Istio proxy images of the pods running in the namespace do not match the image defined in the injection configuration (pod names: {}). This often happens after upgrading the Istio control-plane and can be fixed by redeploying the pods.",
                go_list(&pods)
            ),
            FieldPath::root(),
        );
    }
}
