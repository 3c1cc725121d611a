//! Istio's standard metrics in Prometheus text format, JSON access logs,
//! and trace header propagation.
//!
//! * `istio_requests_total` (counter) and
//!   `istio_request_duration_milliseconds` (histogram with Istio's
//!   buckets), labelled as Istio's telemetry labels them: `reporter`
//!   (`source` on the client side, `destination` on the server side),
//!   `source_*`, `destination_*`, `request_protocol`, `response_code`,
//!   `response_flags`, `connection_security_policy`.
//! * One JSON object per request on the access log, with Envoy's field
//!   names (`response_code`, `response_flags`, `upstream_host`, …) plus the
//!   authorization decision (`authz_policy`, `authz_rule`) and the peer's
//!   identity.
//! * `x-request-id` (generated when missing), B3 (`x-b3-*`) and W3C
//!   (`traceparent`) headers: a client-side hop starts a child span of the
//!   incoming one, or a new trace.

use hyper::HeaderMap;
use hyper::header::HeaderValue;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

/// Istio's default duration buckets (milliseconds).
pub const BUCKETS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// The labels of one request's metrics.
#[derive(Debug, Clone, Default)]
pub struct RequestLabels<'a> {
    /// `source` or `destination`.
    pub reporter: &'a str,
    /// The client workload.
    pub source_workload: &'a str,
    /// Its namespace.
    pub source_workload_namespace: &'a str,
    /// Its principal (`spiffe://…`), or `unknown`.
    pub source_principal: &'a str,
    /// Its `app` label.
    pub source_app: &'a str,
    /// Its `version` label.
    pub source_version: &'a str,
    /// The server workload.
    pub destination_workload: &'a str,
    /// Its namespace.
    pub destination_workload_namespace: &'a str,
    /// Its principal.
    pub destination_principal: &'a str,
    /// Its `app` label.
    pub destination_app: &'a str,
    /// Its `version` label.
    pub destination_version: &'a str,
    /// The service FQDN.
    pub destination_service: &'a str,
    /// The service name.
    pub destination_service_name: &'a str,
    /// The service namespace.
    pub destination_service_namespace: &'a str,
    /// `http`.
    pub request_protocol: &'a str,
    /// The status code.
    pub response_code: u16,
    /// Envoy response flags (`-` when none).
    pub response_flags: &'a str,
    /// `mutual_tls`, `none` or `unknown`.
    pub connection_security_policy: &'a str,
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "unknown" } else { s }
}

fn escape(out: &mut String, v: &str) {
    for c in or_unknown(v).chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

impl RequestLabels<'_> {
    fn key(&self) -> String {
        let mut s = String::with_capacity(512);
        let pairs: [(&str, &str); 17] = [
            ("reporter", self.reporter),
            ("source_workload", self.source_workload),
            ("source_workload_namespace", self.source_workload_namespace),
            ("source_principal", self.source_principal),
            ("source_app", self.source_app),
            ("source_version", self.source_version),
            ("destination_workload", self.destination_workload),
            (
                "destination_workload_namespace",
                self.destination_workload_namespace,
            ),
            ("destination_principal", self.destination_principal),
            ("destination_app", self.destination_app),
            ("destination_version", self.destination_version),
            ("destination_service", self.destination_service),
            ("destination_service_name", self.destination_service_name),
            (
                "destination_service_namespace",
                self.destination_service_namespace,
            ),
            ("request_protocol", self.request_protocol),
            ("response_flags", self.response_flags),
            (
                "connection_security_policy",
                self.connection_security_policy,
            ),
        ];
        for (k, v) in pairs {
            s.push_str(k);
            s.push_str("=\"");
            escape(&mut s, v);
            s.push_str("\",");
        }
        let _ = write!(s, "response_code=\"{}\"", self.response_code);
        s
    }
}

#[derive(Debug, Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// The proxy's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<String, Series>>,
}

impl Metrics {
    /// Records one request that took `ms` milliseconds.
    pub fn record(&self, labels: &RequestLabels<'_>, ms: f64) {
        let key = labels.key();
        let mut m = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let s = m.entry(key).or_default();
        s.count += 1;
        s.sum += ms;
        for (i, b) in BUCKETS.iter().enumerate() {
            if ms <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let m = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str("# TYPE istio_requests_total counter\n");
        for (k, s) in m.iter() {
            let _ = writeln!(out, "istio_requests_total{{{k}}} {}", s.count);
        }
        out.push_str("# TYPE istio_request_duration_milliseconds histogram\n");
        for (k, s) in m.iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "istio_request_duration_milliseconds_bucket{{{k},le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_bucket{{{k},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_sum{{{k}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_count{{{k}}} {}",
                s.count
            );
        }
        out
    }
}

/// Where access log lines go.
#[derive(Clone, Default)]
pub enum AccessLog {
    /// Nowhere.
    #[default]
    Off,
    /// Standard output, one JSON object per line.
    Stdout,
    /// Kept in memory (tests and the demo read them).
    Memory(Arc<Mutex<Vec<serde_json::Value>>>),
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AccessLog::Off => "Off",
            AccessLog::Stdout => "Stdout",
            AccessLog::Memory(_) => "Memory",
        })
    }
}

impl AccessLog {
    /// A log kept in memory, and the handle to read it.
    pub fn memory() -> (AccessLog, Arc<Mutex<Vec<serde_json::Value>>>) {
        let v = Arc::new(Mutex::new(Vec::new()));
        (AccessLog::Memory(v.clone()), v)
    }

    /// Whether anything is logged.
    pub fn enabled(&self) -> bool {
        !matches!(self, AccessLog::Off)
    }

    /// Writes one entry.
    pub fn write(&self, entry: serde_json::Value) {
        match self {
            AccessLog::Off => {}
            AccessLog::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = serde_json::to_writer(&mut out, &entry);
                let _ = out.write_all(b"\n");
            }
            AccessLog::Memory(v) => {
                let mut v = v.lock().unwrap_or_else(|e| e.into_inner());
                if v.len() >= 100_000 {
                    v.drain(..50_000);
                }
                v.push(entry);
            }
        }
    }
}

/// A small, fast random source (xorshift64*), seeded per thread.
pub fn random() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let local = 0u8;
            crate::proxy::state::mix(t ^ (std::ptr::addr_of!(local) as u64)) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

fn hex(n: u64, width: usize) -> String {
    format!("{n:0width$x}")
}

/// A new random request id (UUID version 4 text).
pub fn request_id() -> String {
    let a = random();
    let b = random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn set(h: &mut HeaderMap, name: &'static str, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(name, v);
    }
}

/// Ensures `x-request-id` and starts a client span: the outgoing request
/// carries the trace id of the incoming B3 or W3C headers (a new one when
/// neither is there), a new span id, and the incoming span as its parent,
/// in both formats. Returns the request id.
pub fn propagate(h: &mut HeaderMap) -> String {
    let rid = match header(h, "x-request-id") {
        Some(r) if !r.is_empty() => r.to_string(),
        _ => {
            let r = request_id();
            set(h, "x-request-id", &r);
            r
        }
    };
    let (trace, parent, sampled) = if let Some(t) = header(h, "x-b3-traceid") {
        (
            t.to_string(),
            header(h, "x-b3-spanid").map(str::to_string),
            header(h, "x-b3-sampled") != Some("0"),
        )
    } else if let Some(tp) = header(h, "traceparent") {
        let parts: Vec<&str> = tp.split('-').collect();
        match parts.as_slice() {
            [_, t, s, f] if t.len() == 32 && s.len() == 16 => {
                (t.to_string(), Some(s.to_string()), f.ends_with('1'))
            }
            _ => (hex(random(), 16) + &hex(random(), 16), None, true),
        }
    } else {
        (hex(random(), 16) + &hex(random(), 16), None, true)
    };
    let span = hex(random(), 16);
    set(h, "x-b3-traceid", &trace);
    set(h, "x-b3-spanid", &span);
    match &parent {
        Some(p) => set(h, "x-b3-parentspanid", p),
        None => {
            h.remove("x-b3-parentspanid");
        }
    }
    set(h, "x-b3-sampled", if sampled { "1" } else { "0" });
    let trace32 = if trace.len() == 16 {
        format!("{:0>32}", trace)
    } else {
        trace.clone()
    };
    set(
        h,
        "traceparent",
        &format!("00-{trace32}-{span}-{}", if sampled { "01" } else { "00" }),
    );
    rid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propagation_starts_or_continues_a_trace() {
        let mut h = HeaderMap::new();
        let rid = propagate(&mut h);
        assert_eq!(rid.len(), 36);
        let trace = h["x-b3-traceid"].to_str().unwrap().to_string();
        let span = h["x-b3-spanid"].to_str().unwrap().to_string();
        assert_eq!(trace.len(), 32);
        assert!(h.get("x-b3-parentspanid").is_none());
        assert_eq!(
            h["traceparent"].to_str().unwrap(),
            format!("00-{trace}-{span}-01")
        );
        // The next hop keeps the trace and request id, parents the span.
        propagate(&mut h);
        assert_eq!(h["x-b3-traceid"].to_str().unwrap(), trace);
        assert_eq!(h["x-b3-parentspanid"].to_str().unwrap(), span);
        assert_eq!(h["x-request-id"].to_str().unwrap(), rid);
        // W3C only.
        let mut w = HeaderMap::new();
        w.insert(
            "traceparent",
            HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
        propagate(&mut w);
        assert_eq!(
            w["x-b3-traceid"].to_str().unwrap(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(w["x-b3-parentspanid"].to_str().unwrap(), "b7ad6b7169203331");
    }

    #[test]
    fn metrics_render_istio_names() {
        let m = Metrics::default();
        let l = RequestLabels {
            reporter: "source",
            response_code: 200,
            request_protocol: "http",
            ..Default::default()
        };
        m.record(&l, 3.0);
        m.record(&l, 700.0);
        let text = m.render();
        assert!(text.contains("istio_requests_total{reporter=\"source\","));
        assert!(text.contains("response_code=\"200\"} 2"));
        assert!(text.contains("le=\"5\"} 1"));
        assert!(text.contains("le=\"1000\"} 2"));
    }
}
