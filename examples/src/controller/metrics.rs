//! Prometheus metrics of the controller, written in the text exposition
//! format: connected proxies, pushes and NACKs by type, push latency
//! (mesh change to response sent) and compile time.

use super::hub::TypeKey;
use mesh_xds::resources::ResourceType;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// The metric labels: one per Envoy type, and `config` for every
/// configuration kind.
const LABELS: [&str; 6] = [
    "clusters",
    "endpoints",
    "listeners",
    "routes",
    "secrets",
    "config",
];

fn index(t: impl Into<TypeKey>) -> usize {
    match t.into() {
        TypeKey::Xds(ResourceType::Cluster) => 0,
        TypeKey::Xds(ResourceType::Endpoint) => 1,
        TypeKey::Xds(ResourceType::Listener) => 2,
        TypeKey::Xds(ResourceType::Route) => 3,
        TypeKey::Xds(ResourceType::Secret) => 4,
        TypeKey::Config(_) => 5,
    }
}

/// Histogram bucket bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += s;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", self.counts[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

/// The controller's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    connected: AtomicI64,
    connections: AtomicU64,
    pushes: [AtomicU64; LABELS.len()],
    nacks: [AtomicU64; LABELS.len()],
    acks: [AtomicU64; LABELS.len()],
    generation: AtomicU64,
    push_latency: Mutex<Histogram>,
    compile_time: Mutex<Histogram>,
}

impl Metrics {
    /// A proxy connected.
    pub fn connect(&self) {
        self.connected.fetch_add(1, Ordering::Relaxed);
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// A proxy disconnected.
    pub fn disconnect(&self) {
        self.connected.fetch_sub(1, Ordering::Relaxed);
    }

    /// Proxies connected now.
    pub fn connected(&self) -> i64 {
        self.connected.load(Ordering::Relaxed)
    }

    /// A response of type `t` was sent; `latency` is the time since the
    /// mesh change that caused it, when it was caused by one.
    pub fn push(&self, t: impl Into<TypeKey>, latency: Option<Duration>) {
        self.pushes[index(t)].fetch_add(1, Ordering::Relaxed);
        if let Some(l) = latency {
            self.push_latency
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .observe(l);
        }
    }

    /// Responses of type `t` sent.
    pub fn pushes(&self, t: impl Into<TypeKey>) -> u64 {
        self.pushes[index(t)].load(Ordering::Relaxed)
    }

    /// A NACK of type `t`.
    pub fn nack(&self, t: impl Into<TypeKey>) {
        self.nacks[index(t)].fetch_add(1, Ordering::Relaxed);
    }

    /// NACKs of type `t`.
    pub fn nacks(&self, t: impl Into<TypeKey>) -> u64 {
        self.nacks[index(t)].load(Ordering::Relaxed)
    }

    /// An ACK of type `t`.
    pub fn ack(&self, t: impl Into<TypeKey>) {
        self.acks[index(t)].fetch_add(1, Ordering::Relaxed);
    }

    /// ACKs of type `t`.
    pub fn acks(&self, t: impl Into<TypeKey>) -> u64 {
        self.acks[index(t)].load(Ordering::Relaxed)
    }

    /// A new mesh generation.
    pub fn generation(&self, id: u64) {
        self.generation.store(id, Ordering::Relaxed);
    }

    /// A proxy shape was compiled.
    pub fn compiled(&self, d: Duration) {
        self.compile_time
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(d);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP mesh_xds_connected_proxies Proxies connected over ADS.\n# TYPE mesh_xds_connected_proxies gauge\nmesh_xds_connected_proxies {}",
            self.connected()
        );
        let _ = writeln!(
            out,
            "# HELP mesh_xds_connections_total ADS streams accepted.\n# TYPE mesh_xds_connections_total counter\nmesh_xds_connections_total {}",
            self.connections.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP mesh_xds_pushes_total xDS responses sent, by type.\n# TYPE mesh_xds_pushes_total counter"
        );
        for (i, l) in LABELS.iter().enumerate() {
            let _ = writeln!(
                out,
                "mesh_xds_pushes_total{{type=\"{l}\"}} {}",
                self.pushes[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP mesh_xds_nacks_total xDS responses rejected by a proxy, by type.\n# TYPE mesh_xds_nacks_total counter"
        );
        for (i, l) in LABELS.iter().enumerate() {
            let _ = writeln!(
                out,
                "mesh_xds_nacks_total{{type=\"{l}\"}} {}",
                self.nacks[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP mesh_xds_acks_total xDS responses accepted by a proxy, by type.\n# TYPE mesh_xds_acks_total counter"
        );
        for (i, l) in LABELS.iter().enumerate() {
            let _ = writeln!(
                out,
                "mesh_xds_acks_total{{type=\"{l}\"}} {}",
                self.acks[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP mesh_config_generation The mesh generation in force.\n# TYPE mesh_config_generation gauge\nmesh_config_generation {}",
            self.generation.load(Ordering::Relaxed)
        );
        self.push_latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(
                &mut out,
                "mesh_xds_push_latency_seconds",
                "Time from a mesh change to the response that carries it.",
            );
        self.compile_time
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(
                &mut out,
                "mesh_xds_compile_seconds",
                "Time to compile the mesh for one proxy shape.",
            );
        out
    }
}
