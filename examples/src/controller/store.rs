//! The configuration store: every source's objects by origin (a file path,
//! or a Kubernetes object), each origin's last good version kept when a new
//! version fails to parse or validate.

use mesh_model::config::{Object, ValidationContext, convert};
use mesh_model::diag::Diagnostic;
use mesh_model::parse::{ParseOptions, Source};
use mesh_model::snapshot::{Snapshot, SnapshotOptions};
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
    /// Whether `objects` come from a version without errors.
    good: bool,
    /// The diagnostics of the text last read.
    diagnostics: Vec<Diagnostic>,
}

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
        for r in &parsed.resources {
            let c = convert(r, &self.vcx);
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
        assert!(s.remove("a.yaml"));
        assert_eq!(s.snapshot().virtual_services().count(), 0);
    }
}
