//! The mesh config analysis reads: a MeshConfig YAML fragment merged over
//! Istio's defaults the way istiod merges it (`ApplyMeshConfig` in
//! `pkg/config/mesh/mesh.go`): fields replace the defaults, except
//! `defaultConfig` and `defaultProviders`, which merge field by field, and
//! `extensionProviders`, which merge by name.

use crate::input::yaml_to_json;
use serde_json::{Value, json};

/// A mesh config that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MeshConfigError(pub String);

/// Istio's default MeshConfig, the fields analysis and the mesh model read
/// (`DefaultMeshConfig` in `pkg/config/mesh/mesh.go`).
pub fn default_mesh_config() -> Value {
    json!({
        "ingressService": "istio-ingressgateway",
        "ingressControllerMode": "STRICT",
        "ingressClass": "istio",
        "trustDomain": "cluster.local",
        "trustDomainAliases": [],
        "enableAutoMtls": true,
        "outboundTrafficPolicy": {"mode": "ALLOW_ANY"},
        "rootNamespace": "istio-system",
        "connectTimeout": "10s",
        "defaultServiceExportTo": ["*"],
        "defaultVirtualServiceExportTo": ["*"],
        "defaultDestinationRuleExportTo": ["*"],
        "defaultConfig": {},
        "defaultProviders": {},
        "extensionProviders": [
            {"name": "prometheus", "prometheus": {}},
            {"name": "stackdriver", "stackdriver": {}},
            {"name": "envoy", "envoyFileAccessLog": {"path": "/dev/stdout"}},
        ],
    })
}

fn merge_objects(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_objects(existing, v);
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// The mesh config: `yaml` (a MeshConfig fragment) merged over the
/// defaults; the defaults alone when `None`.
///
/// ```
/// use mesh_analyze::mesh::merged_mesh_config;
/// let m = merged_mesh_config(Some("rootNamespace: mesh-root\nextensionProviders:\n- name: envoy\n  envoyFileAccessLog: {path: /dev/null}\n")).unwrap();
/// assert_eq!(m["rootNamespace"], "mesh-root");
/// assert_eq!(m["ingressService"], "istio-ingressgateway");
/// assert_eq!(m["extensionProviders"].as_array().unwrap().len(), 3);
/// assert_eq!(m["extensionProviders"][2]["envoyFileAccessLog"]["path"], "/dev/null");
/// ```
pub fn merged_mesh_config(yaml: Option<&str>) -> Result<Value, MeshConfigError> {
    let mut mesh = default_mesh_config();
    let Some(text) = yaml else {
        return Ok(mesh);
    };
    if text.trim().is_empty() {
        return Ok(mesh);
    }
    let over = serde_yaml::from_str::<serde_yaml::Value>(text)
        .map(yaml_to_json)
        .map_err(|e| MeshConfigError(e.to_string()))?;
    let Value::Object(over) = over else {
        if over.is_null() {
            return Ok(mesh);
        }
        return Err(MeshConfigError("a MeshConfig must be a mapping".into()));
    };
    for (k, v) in over {
        match k.as_str() {
            "defaultConfig" | "defaultProviders" => merge_objects(&mut mesh[&k], v),
            "extensionProviders" => {
                let Value::Array(new) = v else {
                    return Err(MeshConfigError("extensionProviders must be a list".into()));
                };
                let Some(list) = mesh["extensionProviders"].as_array_mut() else {
                    continue;
                };
                for p in new {
                    let name = p.get("name").cloned();
                    match list.iter_mut().find(|e| e.get("name") == name.as_ref()) {
                        Some(e) => *e = p,
                        None => list.push(p),
                    }
                }
            }
            "trustDomainAliases" => {
                let mut all: Vec<String> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect();
                all.sort();
                all.dedup();
                mesh[&k] = json!(all);
            }
            _ => {
                mesh[&k] = v;
            }
        }
    }
    Ok(mesh)
}
