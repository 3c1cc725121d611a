//! AuthorizationPolicy webhook rules that decide whether a policy exists at
//! all: a wrongly rejected DENY policy would widen access.

use mesh_model::{LoadOptions, load};

fn policy(annotation: &str, path: &str) -> String {
    format!(
        r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: p
  namespace: foo
  annotations: {{"istio.io/dry-run": "{annotation}"}}
spec:
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["{path}"]
"#
    )
}

/// Istio reads `istio.io/dry-run` with Go's `strconv.ParseBool` (AZ-5), so
/// `True`, `1` and `F` are valid and mean what Go says.
#[test]
fn dry_run_annotation_is_a_go_bool() {
    for (value, dry_run) in [
        ("true", true),
        ("True", true),
        ("1", true),
        ("t", true),
        ("false", false),
        ("FALSE", false),
        ("0", false),
        ("F", false),
    ] {
        let loaded = load(&[("p.yaml", &policy(value, "/a"))], &LoadOptions::default());
        assert!(!loaded.has_errors(), "{value}: {:?}", loaded.diagnostics);
        let p = loaded.snapshot.authorization_policies().next().unwrap();
        assert_eq!(p.spec.dry_run, dry_run, "{value}");
    }
    let loaded = load(&[("p.yaml", &policy("yes", "/a"))], &LoadOptions::default());
    assert!(loaded.has_errors());
}

/// `CheckValidPathTemplate` (VAL-AP-5): a literal segment beside a path
/// template may not contain `*` (Istio's `validLiteral` excludes it).
#[test]
fn template_literals_exclude_star() {
    let loaded = load(
        &[("p.yaml", &policy("false", "/a*/{**}"))],
        &LoadOptions::default(),
    );
    assert!(loaded.has_errors());
    let loaded = load(
        &[("p.yaml", &policy("false", "/a=b/{*}"))],
        &LoadOptions::default(),
    );
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
}
