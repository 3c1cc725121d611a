//! The configuration store: every source's objects by origin (a file path,
//! or a Kubernetes object), each origin's last good version kept when a new
//! version fails to parse or validate.
//!
//! Beside each object the store keeps its text as JSON in Kubernetes form
//! (the document it was read from, with the namespace it was given), which
//! is what the controller serves to proxies that subscribe to the mesh's
//! own configuration ([`crate::config_xds`]).

use crate::config_xds::{self, ConfigType};
use mesh_model::config::{Object, ValidationContext, convert};
use mesh_model::diag::Diagnostic;
use mesh_model::parse::{ParseOptions, Source};
use mesh_model::resource::Resource;
use mesh_model::snapshot::{Snapshot, SnapshotOptions};
use mesh_xds::resources::Versioned;
use serde::Serialize;
use std::collections::BTreeMap;

/// What the store holds for one origin.
#[derive(Debug, Clone, Default)]
struct Entry {
    /// The hash of the text last read.
    text_hash: u64,
    /// The objects in force (the last version without errors, or, before
    /// any version was good, the objects that did validate).
    objects: Vec<Object>,
    /// The configuration of `objects` that proxies subscribe to.
    config: Vec<ConfigItem>,
    /// Whether `objects` come from a version without errors.
    good: bool,
    /// The diagnostics of the text last read.
    diagnostics: Vec<Diagnostic>,
}

/// One object as served over xDS.
#[derive(Debug, Clone)]
struct ConfigItem {
    ty: ConfigType,
    name: String,
    json: String,
}

/// The mesh's own configuration as served over xDS: per type, the
/// resources by name (`namespace/name`), each a JSON object in a
/// `StringValue`.
pub type ConfigSet = BTreeMap<ConfigType, BTreeMap<String, Versioned>>;

/// The status of one origin, as the debug port shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OriginStatus {
    /// The origin (file path or `kube:Kind/ns/name`).
    pub origin: String,
    /// Objects in force.
    pub objects: usize,
    /// Whether the text last read had an error (the previous good version
    /// then stays in force).
    pub rejected: bool,
    /// Errors and warnings of the text last read.
    pub diagnostics: Vec<Diagnostic>,
}

/// What [`Store::update`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// The text is what was read before.
    Unchanged,
    /// The new objects are in force.
    Applied,
    /// The text has errors; the last good version stays in force.
    Rejected,
}

/// Every origin's objects.
#[derive(Debug, Clone, Default)]
pub struct Store {
    entries: BTreeMap<String, Entry>,
    vcx: ValidationContext,
    domain_suffix: Option<String>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// Reads a new version of `origin`'s text. Errors are logged (file,
    /// line, column, code) and returned in [`Store::status`].
    pub fn update(&mut self, origin: &str, text: &str) -> Update {
        let hash = mesh_xds::json::fnv1a(text);
        if self
            .entries
            .get(origin)
            .is_some_and(|e| e.text_hash == hash)
        {
            return Update::Unchanged;
        }
        let src = Source::new(origin, text);
        let parsed = src.parse(&ParseOptions::default());
        let mut diagnostics = parsed.diagnostics;
        let mut objects = Vec::new();
        let mut config = Vec::new();
        for r in &parsed.resources {
            let c = convert(r, &self.vcx);
            if c.object.is_some()
                && let Some(item) = config_item(&src, r)
            {
                config.push(item);
            }
            objects.extend(c.object);
            diagnostics.extend(c.diagnostics);
        }
        src.locate(&mut diagnostics);
        let has_errors = diagnostics.iter().any(Diagnostic::is_error);
        for d in &diagnostics {
            if d.is_error() {
                tracing::warn!(
                    file = %d.file,
                    line = d.line,
                    column = d.column,
                    code = %d.code,
                    path = %d.path,
                    kind = d.kind.as_deref(),
                    name = d.name.as_deref(),
                    "{}",
                    d.message
                );
            } else if d.severity == mesh_model::diag::Severity::Warning {
                tracing::info!(file = %d.file, line = d.line, code = %d.code, "warning: {}", d.message);
            }
        }
        let entry = self.entries.entry(origin.to_string()).or_default();
        entry.text_hash = hash;
        entry.diagnostics = diagnostics;
        if has_errors && entry.good {
            tracing::warn!(file = origin, "keeping the last good version of this file");
            return Update::Rejected;
        }
        entry.objects = objects;
        entry.config = config;
        entry.good = !has_errors;
        if has_errors {
            Update::Rejected
        } else {
            Update::Applied
        }
    }

    /// Forgets `origin` (a deleted file or object). Returns whether it was
    /// known.
    pub fn remove(&mut self, origin: &str) -> bool {
        self.entries.remove(origin).is_some()
    }

    /// The origins known.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The mesh of every object in force.
    pub fn snapshot(&self) -> Snapshot {
        let objects = self
            .entries
            .values()
            .flat_map(|e| e.objects.iter().cloned())
            .collect();
        Snapshot::build(
            objects,
            &SnapshotOptions {
                mesh: None,
                domain_suffix: self.domain_suffix.clone(),
            },
        )
    }

    /// The configuration proxies subscribe to, of every object in force.
    /// Every type is present, empty or not.
    pub fn config(&self) -> ConfigSet {
        let mut set: ConfigSet = ConfigType::all().map(|t| (t, BTreeMap::new())).collect();
        for item in self.entries.values().flat_map(|e| &e.config) {
            set.entry(item.ty).or_default().insert(
                item.name.clone(),
                Versioned {
                    name: item.name.clone(),
                    version: format!("{:016x}", mesh_xds::json::fnv1a(&item.json)),
                    resource: config_xds::encode(&item.json),
                },
            );
        }
        set
    }

    /// The mesh and its configuration, to publish.
    pub fn mesh(&self) -> super::hub::Mesh {
        super::hub::Mesh {
            snapshot: self.snapshot(),
            config: self.config(),
        }
    }

    /// Every origin's status.
    pub fn status(&self) -> Vec<OriginStatus> {
        self.entries
            .iter()
            .map(|(k, e)| OriginStatus {
                origin: k.clone(),
                objects: e.objects.len(),
                rejected: e.diagnostics.iter().any(Diagnostic::is_error),
                diagnostics: e.diagnostics.clone(),
            })
            .collect()
    }
}

/// The JSON of a parsed object: its document (or `List` item) as written,
/// with the namespace it was given. `None` for kinds not served over xDS.
fn config_item(src: &Source<'_>, r: &Resource) -> Option<ConfigItem> {
    let ty = ConfigType::of(r.kind.group(), r.kind.name())?;
    let doc = src.document(r.origin.document)?;
    let mut value: serde_json::Value = serde_yaml::from_str(doc).ok()?;
    if let Some(i) = r.origin.item {
        value = value.get_mut("items")?.get_mut(i)?.take();
    }
    let ns = r.namespace();
    if !ns.is_empty()
        && let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut())
    {
        meta.insert("namespace".into(), ns.into());
    }
    Some(ConfigItem {
        ty,
        name: config_xds::resource_name(ns, r.name()),
        json: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, namespace: ns}\nspec:\n  hosts: [r]\n  http:\n  - route:\n    - destination: {host: r}\n";
    const BAD: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, namespace: ns}\nspec:\n  hosts: [r]\n  http:\n  - route:\n    - {destination: {host: r}, weight: -1}\n";

    #[test]
    fn a_bad_version_keeps_the_last_good_one() {
        let mut s = Store::new();
        assert_eq!(s.update("a.yaml", GOOD), Update::Applied);
        assert_eq!(s.update("a.yaml", GOOD), Update::Unchanged);
        assert_eq!(s.update("a.yaml", BAD), Update::Rejected);
        assert_eq!(s.snapshot().virtual_services().count(), 1);
        let st = s.status();
        assert!(st[0].rejected);
        assert_eq!(st[0].diagnostics[0].code, "VAL-VS-7");
        assert_eq!(st[0].diagnostics[0].line, Some(8));
        let config = s.config();
        let vs = &config[&ConfigType::of("networking.istio.io", "VirtualService").unwrap()];
        let json = config_xds::decode(&vs["ns/r"].resource).unwrap();
        assert!(json.contains(r#""kind":"VirtualService""#), "{json}");
        assert!(json.contains(r#""namespace":"ns""#), "{json}");
        assert!(s.remove("a.yaml"));
        assert!(s.config().values().all(BTreeMap::is_empty));
        assert_eq!(s.snapshot().virtual_services().count(), 0);
    }
}
