//! `cargo xtask codegen`: regenerates `mesh-model/src/wire/generated/` from
//! Istio's CRD schemas (by default those of `../shared/corpus/istio`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const DEFAULT_CRDS: &str = "../shared/corpus/istio/manifests/charts/base/files/crd-all.gen.yaml";
const OUT_DIR: &str = "mesh-model/src/wire/generated";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match args.first().map(String::as_str) {
        Some("codegen") => {
            let mut crds = root.join(DEFAULT_CRDS);
            let mut check = false;
            let mut it = args[1..].iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--crds" => match it.next() {
                        Some(p) => crds = PathBuf::from(p),
                        None => return usage("--crds needs a path"),
                    },
                    "--check" => check = true,
                    other => return usage(&format!("unknown argument {other}")),
                }
            }
            match codegen(&root, &crds, check) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => usage("expected a command"),
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("{msg}\nusage: cargo xtask codegen [--crds crd-all.gen.yaml] [--check]");
    ExitCode::from(2)
}

fn codegen(root: &Path, crds: &Path, check: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(crds).map_err(|e| format!("{}: {e}", crds.display()))?;
    let out = xtask::generate(&text)?;
    for d in &out.derived {
        eprintln!("note: derived name {d}");
    }
    let dir = root.join(OUT_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut stale = Vec::new();
    for (name, src) in &out.files {
        let formatted = xtask::rustfmt(src)?;
        let path = dir.join(name);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != formatted {
            stale.push(name.clone());
            if !check {
                std::fs::write(&path, formatted).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
    }
    if check && !stale.is_empty() {
        return Err(format!(
            "generated files are stale: {}; run `cargo xtask codegen`",
            stale.join(", ")
        ));
    }
    eprintln!(
        "{} CRDs, {} files {}",
        out.crds.len(),
        out.files.len(),
        if check { "checked" } else { "written" }
    );
    Ok(())
}
