//! Differential conformance against real Envoy 1.40, fixed seed: 80
//! generated meshes × 200 requests, each decided by `mesh-route` /
//! `mesh-authz` and carried by an Envoy running what `mesh-xds` compiles
//! for the same mesh. Any disagreement fails the test, with the shrunk
//! mesh and request and the vector written for it.
//!
//! Without Envoy the test skips with a message (under `CI=true` it fails).

use mesh_examples::conformance::{Options, run};

#[test]
fn generated_meshes_agree_with_envoy() {
    let Some(envoy) = mesh_examples::demo::envoy::find_for_test() else {
        return;
    };
    let vectors =
        std::env::temp_dir().join(format!("mesh-conformance-vectors-{}", std::process::id()));
    let opts = Options {
        meshes: 80,
        requests: 200,
        seed: 20_261_122,
        envoy,
        vectors: Some(vectors.clone()),
        shrink: 2,
        progress: 0,
        path_normalization: true,
    };
    let summary = run(&opts).expect("the harness runs");
    let report = summary.render();
    eprintln!("{report}");
    let _ = std::fs::remove_dir_all(&vectors);
    assert!(summary.meshes >= 78, "too few meshes ran:\n{report}");
    assert_eq!(summary.requests, summary.meshes * 200, "{report}");
    assert_eq!(summary.total_disagreements(), 0, "{report}");
    assert_eq!(summary.agreements, summary.requests);
    // The generated cases reach route matching, actions and authorization.
    for rule in [
        "VS-1", "VS-5", "VS-10", "VS-15", "VS-21", "VS-22", "WT-2", "AZ-1", "PA-6",
    ] {
        assert!(
            summary.coverage.contains_key(rule),
            "{rule} not exercised:\n{report}"
        );
    }
}
