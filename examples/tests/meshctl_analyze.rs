//! `meshctl analyze` as a user runs it: istioctl's text lines, the JSON
//! contract of MESHCTL.md, `--analyzer`, `--mesh-config`, and the exit
//! status.

use std::path::PathBuf;
use std::process::Command;

/// The `meshctl` example binary, which `cargo test` builds beside this
/// test (run the package's tests, not this test target alone, so that it
/// is current).
fn meshctl() -> Command {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target directory");
    let bin = dir
        .join("examples")
        .join(format!("meshctl{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is not built: run `cargo test -p mesh-examples`",
        bin.display()
    );
    Command::new(bin)
}

/// Writes `text` to a fresh file named `name` and returns its path.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshctl-analyze-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write input");
    p
}

const BROKEN: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts: [reviews]
  gateways: [bookinfo-gateway]
  http:
  - route:
    - destination: {host: reviews}
";

#[test]
fn an_error_prints_istioctl_lines_and_exits_79() {
    let p = file("broken.yaml", BROKEN);
    let out = meshctl()
        .args([
            "analyze",
            "--analyzer",
            "virtualservice.GatewayAnalyzer",
            "-f",
        ])
        .arg(&p)
        .output()
        .expect("run meshctl");
    assert_eq!(
        out.status.code(),
        Some(79),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!(
            "Error [IST0101] (VirtualService bookinfo/reviews {}:8) Referenced gateway not found: \"bookinfo-gateway\"",
            p.display()
        )
    );
}

#[test]
fn json_is_istioctls_array_with_locations() {
    let p = file("broken-json.yaml", BROKEN);
    let out = meshctl()
        .args([
            "analyze",
            "-o",
            "json",
            "--analyzer",
            "virtualservice.GatewayAnalyzer",
            "-f",
        ])
        .arg(&p)
        .output()
        .expect("run meshctl");
    assert_eq!(out.status.code(), Some(79));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let m = &v[0];
    assert_eq!(m["code"], "IST0101");
    assert_eq!(m["level"], "Error");
    assert_eq!(
        m["message"],
        "Referenced gateway not found: \"bookinfo-gateway\""
    );
    assert_eq!(m["origin"], "VirtualService bookinfo/reviews");
    assert_eq!(m["reference"], format!("{}:8", p.display()));
    assert_eq!(
        m["documentationUrl"],
        "https://istio.io/latest/docs/reference/config/analysis/ist0101/"
    );
    assert_eq!(m["file"], p.display().to_string());
    assert_eq!(m["document"], 0);
    assert_eq!(m["line"], 8);
    assert_eq!(m["column"], 14);
    assert_eq!(m["path"], "spec.gateways[0]");
    assert_eq!(m["kind"], "VirtualService");
    assert_eq!(m["namespace"], "bookinfo");
    assert_eq!(m["name"], "reviews");
    // The host check of the same analyzer: a warning, after the error.
    assert_eq!(v[1]["code"], "IST0132");
}

#[test]
fn warnings_alone_exit_0_and_the_mesh_config_is_read() {
    // A ServiceEntry TCP port without addresses is a warning, unless the
    // mesh config makes the agent allocate addresses.
    let se = file(
        "se.yaml",
        "\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: data}
spec:
  hosts: [db.example.com]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: DNS
",
    );
    let out = meshctl()
        .args(["analyze", "--analyzer", "serviceentry.Analyzer", "-f"])
        .arg(&se)
        .output()
        .expect("run meshctl");
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("Warning [IST0134] (ServiceEntry data/db")
    );
    let mesh = file(
        "mesh.yaml",
        "defaultConfig:\n  proxyMetadata:\n    ISTIO_META_DNS_CAPTURE: \"true\"\n    ISTIO_META_DNS_AUTO_ALLOCATE: \"true\"\n",
    );
    let out = meshctl()
        .args([
            "analyze",
            "--analyzer",
            "serviceentry.Analyzer",
            "--mesh-config",
        ])
        .arg(&mesh)
        .arg("-f")
        .arg(&se)
        .output()
        .expect("run meshctl");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "\u{2714} No validation issues found when analyzing the inputs."
    );
}

#[test]
fn an_unknown_analyzer_cannot_run() {
    let p = file("any.yaml", BROKEN);
    let out = meshctl()
        .args(["analyze", "--analyzer", "no.SuchAnalyzer", "-f"])
        .arg(&p)
        .output()
        .expect("run meshctl");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: unknown analyzer \"no.SuchAnalyzer\""
    );
}
