//! What the integration tests share: finding Istio's corpus.

// Tests read the corpus from disk and CI's setting from the environment;
// the library itself does neither.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

/// Whether the tests run under CI, where a missing input fails instead of
/// skipping.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Istio's corpus (`../shared/corpus/istio` from the repository root):
/// `None`, after saying so, when it is missing outside CI; a panic under
/// CI.
pub fn istio_corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/istio");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        !under_ci(),
        "the Istio corpus is missing at {}",
        dir.display()
    );
    eprintln!("skipping: no corpus at {}", dir.display());
    None
}
