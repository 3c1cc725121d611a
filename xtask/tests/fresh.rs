//! The committed wire types are what the generator produces from the CRD
//! schemas in the corpus: a schema change shows up here until someone runs
//! `cargo xtask codegen`.

use std::path::Path;

#[test]
fn generated_wire_types_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let crds = root.join("../shared/corpus/istio/manifests/charts/base/files/crd-all.gen.yaml");
    let Ok(text) = std::fs::read_to_string(&crds) else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "the CRD schemas are missing at {}",
            crds.display()
        );
        eprintln!("skipping: no CRD schemas at {}", crds.display());
        return;
    };
    let out = xtask::generate(&text).expect("the CRDs generate");
    assert!(
        out.derived.is_empty(),
        "types without a reviewed name: {:?}",
        out.derived
    );
    assert_eq!(out.crds.len(), 15);
    for (name, src) in &out.files {
        let formatted = xtask::rustfmt(src).expect("rustfmt runs");
        let committed =
            std::fs::read_to_string(root.join("mesh-model/src/wire/generated").join(name))
                .unwrap_or_default();
        if committed != formatted {
            let line = committed
                .lines()
                .zip(formatted.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| committed.lines().count().min(formatted.lines().count()));
            panic!(
                "{name} is stale: run `cargo xtask codegen` (first difference at line {}: committed {:?}, generated {:?})",
                line + 1,
                committed.lines().nth(line),
                formatted.lines().nth(line)
            );
        }
    }
}
