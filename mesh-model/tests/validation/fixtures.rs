//! `mk_*` builders for one-resource YAML documents and assertions on what
//! [`mesh_model::load`] reports for them.

use mesh_model::diag::{Diagnostic, Severity};
use mesh_model::parse::ParseOptions;
use mesh_model::{LoadOptions, Loaded, load};

/// The namespace every fixture lives in.
pub const NS: &str = "ns";

/// Removes the indentation the lines of `s` share, and blank leading lines,
/// so specs can be written indented inside raw strings.
pub fn dedent(s: &str) -> String {
    let lines: Vec<&str> = s.lines().skip_while(|l| l.trim().is_empty()).collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// One object of `kind` named `name` in [`NS`], with `spec` (YAML, any
/// indentation) under `spec:`; `meta` is extra metadata YAML (labels,
/// annotations) or empty.
pub fn mk_with(api_version: &str, kind: &str, name: &str, meta: &str, spec: &str) -> String {
    let mut out = format!(
        "apiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {NS}\n"
    );
    for l in dedent(meta).lines() {
        out.push_str("  ");
        out.push_str(l);
        out.push('\n');
    }
    out.push_str("spec:\n");
    for l in dedent(spec).lines() {
        out.push_str("  ");
        out.push_str(l);
        out.push('\n');
    }
    out
}

macro_rules! builders {
    ($($f:ident, $fm:ident => $api:literal, $kind:literal, $name:literal;)*) => {$(
        #[doc = concat!("A `", $kind, "` named `", $name, "` with this spec.")]
        pub fn $f(spec: &str) -> String {
            mk_with($api, $kind, $name, "", spec)
        }
        #[doc = concat!("A `", $kind, "` named `", $name, "` with extra metadata and this spec.")]
        #[allow(dead_code)]
        pub fn $fm(meta: &str, spec: &str) -> String {
            mk_with($api, $kind, $name, meta, spec)
        }
    )*};
}

builders! {
    mk_vs, mk_vs_meta => "networking.istio.io/v1", "VirtualService", "r";
    mk_dr, mk_dr_meta => "networking.istio.io/v1", "DestinationRule", "r";
    mk_gw, mk_gw_meta => "networking.istio.io/v1", "Gateway", "gw";
    mk_se, mk_se_meta => "networking.istio.io/v1", "ServiceEntry", "se";
    mk_sc, mk_sc_meta => "networking.istio.io/v1", "Sidecar", "sc";
    mk_ap, mk_ap_meta => "security.istio.io/v1", "AuthorizationPolicy", "ap";
    mk_pa, mk_pa_meta => "security.istio.io/v1", "PeerAuthentication", "pa";
    mk_ra, mk_ra_meta => "security.istio.io/v1", "RequestAuthentication", "ra";
}

/// Loads one document with the default options (schema and webhook checks).
pub fn load_yaml(yaml: &str) -> Loaded {
    load(&[("t.yaml", yaml)], &LoadOptions::default())
}

/// Loads one document with the CRD schema checks off, so only the webhook
/// rules judge it (for rules the schema repeats).
pub fn load_webhook_only(yaml: &str) -> Loaded {
    let opts = LoadOptions {
        parse: ParseOptions {
            schema_check: false,
            ..ParseOptions::default()
        },
        ..LoadOptions::default()
    };
    load(&[("t.yaml", yaml)], &opts)
}

fn rendered(l: &Loaded) -> String {
    l.diagnostics
        .iter()
        .map(|d| format!("  {d}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn find<'a>(l: &'a Loaded, sev: Severity, code: &str, path: &str) -> Option<&'a Diagnostic> {
    l.diagnostics
        .iter()
        .find(|d| d.severity == sev && d.code == code && d.path.to_string() == path)
}

/// Asserts that `l` rejected its one resource with an error `code` at
/// `path`, located on a line, and returns that diagnostic.
#[track_caller]
pub fn assert_rejected<'a>(l: &'a Loaded, code: &str, path: &str, yaml: &str) -> &'a Diagnostic {
    let Some(d) = find(l, Severity::Error, code, path) else {
        panic!(
            "expected error {code} at {path}, got:\n{}\nfor:\n{yaml}",
            rendered(l)
        );
    };
    assert!(d.line.is_some(), "not located: {d}");
    assert_eq!(l.snapshot.len(), 0, "the resource was admitted:\n{yaml}");
    d
}

/// The webhook (schema checks included) rejects `yaml` with `code` at `path`.
#[track_caller]
pub fn rejects(yaml: &str, code: &str, path: &str) -> Diagnostic {
    let l = load_yaml(yaml);
    assert_rejected(&l, code, path, yaml).clone()
}

/// With the schema checks off, the webhook rule alone rejects `yaml` with
/// `code` at `path`; with them on, the resource is rejected too (by the
/// schema, the webhook, or both).
#[track_caller]
pub fn webhook_rejects(yaml: &str, code: &str, path: &str) -> Diagnostic {
    let full = load_yaml(yaml);
    assert!(
        full.has_errors() && full.snapshot.is_empty(),
        "admitted:\n{yaml}"
    );
    let l = load_webhook_only(yaml);
    assert_rejected(&l, code, path, yaml).clone()
}

/// `yaml` is admitted with a warning `code` at `path`.
#[track_caller]
pub fn warns(yaml: &str, code: &str, path: &str) -> Diagnostic {
    let l = load_yaml(yaml);
    let Some(d) = find(&l, Severity::Warning, code, path) else {
        panic!(
            "expected warning {code} at {path}, got:\n{}\nfor:\n{yaml}",
            rendered(&l)
        );
    };
    assert!(d.line.is_some(), "not located: {d}");
    assert!(!l.has_errors(), "rejected:\n{}\nfor:\n{yaml}", rendered(&l));
    assert_eq!(l.snapshot.len(), 1, "not admitted:\n{yaml}");
    d.clone()
}

/// `yaml` is admitted with no diagnostic at all.
#[track_caller]
pub fn accepts(yaml: &str) {
    let l = load_yaml(yaml);
    assert!(
        l.diagnostics.is_empty(),
        "expected no diagnostics, got:\n{}\nfor:\n{yaml}",
        rendered(&l)
    );
    assert_eq!(l.snapshot.len(), 1, "not admitted:\n{yaml}");
}
