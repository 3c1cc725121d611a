//! Parse, validate and index in one call.

use crate::config::{ValidationContext, convert};
use crate::diag::Diagnostic;
use crate::parse::{ParseOptions, Source};
use crate::snapshot::{Snapshot, SnapshotOptions};
use crate::wire::mesh::MeshConfig;
use std::sync::Arc;

/// Options for [`load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// How to parse.
    pub parse: ParseOptions,
    /// The mesh config (else from an `istio` ConfigMap in the inputs, else
    /// Istio's defaults).
    pub mesh: Option<MeshConfig>,
    /// The DNS suffix (`cluster.local` unless set).
    pub domain_suffix: Option<String>,
}

/// What [`load`] returns.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The mesh built from every object that parsed and validated.
    pub snapshot: Snapshot,
    /// Every diagnostic, located (file, document, path, line, column).
    pub diagnostics: Vec<Diagnostic>,
    /// How many objects were read (valid or not).
    pub resources: usize,
}

impl Loaded {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The error diagnostics, each rendered as one line
    /// (`file:line:column: error[CODE]: …`): what a caller that refuses a
    /// load with errors reports.
    ///
    /// ```
    /// let loaded = mesh_model::load(&[("ns.yaml", "kind: Namespace\n")], &Default::default());
    /// assert_eq!(
    ///     loaded.errors(),
    ///     ["ns.yaml:1:1: error[SCHEMA-REQUIRED]: Namespace: apiVersion: apiVersion is required: not a Kubernetes object"]
    /// );
    /// ```
    pub fn errors(&self) -> Vec<String> {
        self.diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect()
    }
}

/// Parses `(label, text)` inputs, validates every object, and builds the
/// snapshot from the valid ones. A bad object is reported and skipped; the
/// rest still load.
pub fn load(inputs: &[(&str, &str)], opts: &LoadOptions) -> Loaded {
    let vcx = ValidationContext {
        domain_suffix: opts
            .domain_suffix
            .clone()
            .unwrap_or_else(|| "cluster.local".into()),
        mesh: Arc::new(opts.mesh.clone().unwrap_or_default()),
    };
    let mut diagnostics = Vec::new();
    let mut objects = Vec::new();
    let mut resources = 0;
    for (label, text) in inputs {
        let src = Source::new(*label, text);
        let parsed = src.parse(&opts.parse);
        let start = diagnostics.len();
        diagnostics.extend(parsed.diagnostics);
        resources += parsed.resources.len();
        for r in &parsed.resources {
            let c = convert(r, &vcx);
            objects.extend(c.object);
            diagnostics.extend(c.diagnostics);
        }
        src.locate(&mut diagnostics[start..]);
    }
    let snapshot = Snapshot::build(
        objects,
        &SnapshotOptions {
            mesh: opts.mesh.clone(),
            domain_suffix: opts.domain_suffix.clone(),
        },
    );
    Loaded {
        snapshot,
        diagnostics,
        resources,
    }
}
