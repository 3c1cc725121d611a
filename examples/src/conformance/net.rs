//! The harness's network side: a pool of tiny upstreams that answer with
//! their own number, a raw HTTP/1.1 client that sends exactly the bytes a
//! generated request describes, and an Envoy process that is always
//! stopped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Upstreams on 127.0.0.1, each answering `{"id", "path", "host"}` as
/// JSON: `id` tells which cluster Envoy chose, `path` and `host` what it
/// forwarded.
pub struct UpstreamPool {
    ports: Vec<u16>,
    stop: Arc<AtomicBool>,
}

impl UpstreamPool {
    /// Starts `n` upstreams.
    pub fn start(n: usize) -> std::io::Result<UpstreamPool> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut ports = Vec::with_capacity(n);
        for id in 0..n {
            let l = TcpListener::bind("127.0.0.1:0")?;
            ports.push(l.local_addr()?.port());
            let stop = stop.clone();
            std::thread::spawn(move || {
                for s in l.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(s) = s else { continue };
                    std::thread::spawn(move || serve(id, s));
                }
            });
        }
        Ok(UpstreamPool { ports, stop })
    }

    /// The port of upstream `id`.
    pub fn port(&self, id: usize) -> u16 {
        self.ports[id]
    }

    /// How many upstreams.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
}

impl Drop for UpstreamPool {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for p in &self.ports {
            let _ = TcpStream::connect(("127.0.0.1", *p));
        }
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn serve(id: usize, s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut w) = s.try_clone() else { return };
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split(' ').nth(1).unwrap_or("").to_string();
        let mut host = String::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("host") {
                    host = v.to_string();
                } else if k.eq_ignore_ascii_case("content-length") {
                    len = v.parse().unwrap_or(0);
                }
            }
        }
        if len > 0 {
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_err() {
                return;
            }
        }
        let body = format!(
            "{{\"id\":{id},\"path\":{},\"host\":{}}}",
            json_str(&target),
            json_str(&host)
        );
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// A response as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl Response {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A keep-alive HTTP/1.1 client of one address that writes requests
/// byte for byte.
pub struct RawClient {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl RawClient {
    /// A client of `addr`.
    pub fn new(addr: SocketAddr) -> RawClient {
        RawClient { addr, conn: None }
    }

    /// Sends one request; `Err` when the connection fails or is closed
    /// before a response.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        host: &str,
        headers: &[(String, String)],
    ) -> Result<Response, String> {
        let r = self.try_send(method, path, host, headers);
        if r.as_ref().map_or(true, |resp| {
            resp.header("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        }) {
            self.conn = None;
        }
        r
    }

    fn try_send(
        &mut self,
        method: &str,
        path: &str,
        host: &str,
        headers: &[(String, String)],
    ) -> Result<Response, String> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
                .map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .map_err(|e| e.to_string())?;
            let _ = s.set_nodelay(true);
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().ok_or("no connection")?;
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        conn.get_mut()
            .write_all(req.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut status_line = String::new();
        if conn
            .read_line(&mut status_line)
            .map_err(|e| format!("read: {e}"))?
            == 0
        {
            return Err("connection closed".into());
        }
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if conn.read_line(&mut h).map_err(|e| e.to_string())? == 0 {
                return Err("closed in headers".into());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let find = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v): &(String, String)| v.clone())
        };
        let mut body = Vec::new();
        if method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304 {
        } else if let Some(n) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
            body.resize(n, 0);
            conn.read_exact(&mut body).map_err(|e| e.to_string())?;
        } else if find("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            loop {
                let mut size = String::new();
                conn.read_line(&mut size).map_err(|e| e.to_string())?;
                let n = usize::from_str_radix(size.trim(), 16).map_err(|e| e.to_string())?;
                let mut chunk = vec![0; n + 2];
                conn.read_exact(&mut chunk).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            conn.read_to_end(&mut body).map_err(|e| e.to_string())?;
            self.conn = None;
        }
        Ok(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A running Envoy with a static bootstrap, killed (and waited for) on
/// drop; its directory is removed then too.
pub struct Envoy {
    child: std::process::Child,
    dir: PathBuf,
    /// The admin address.
    pub admin: SocketAddr,
}

impl Envoy {
    /// Starts Envoy on `bootstrap` (JSON) and waits until it is ready;
    /// `Err` carries the end of its log when it is not.
    pub fn start(bin: &Path, bootstrap: &str, admin_port: u16) -> Result<Envoy, String> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mesh-conformance-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let config = dir.join("envoy.json");
        std::fs::write(&config, bootstrap).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("envoy.log")).map_err(|e| e.to_string())?;
        let mut cmd = crate::demo::envoy::command(bin, &config, "error");
        cmd.stderr(log);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let child = cmd.spawn().map_err(|e| format!("spawn envoy: {e}"))?;
        let mut envoy = Envoy {
            child,
            dir,
            admin: SocketAddr::from(([127, 0, 0, 1], admin_port)),
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = envoy.child.try_wait() {
                return Err(format!("envoy exited ({status}): {}", envoy.log_tail()));
            }
            let mut c = RawClient::new(envoy.admin);
            if let Ok(r) = c.send("GET", "/ready", "localhost", &[])
                && r.status == 200
            {
                return Ok(envoy);
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err(format!("envoy not ready after 20s: {}", envoy.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The last lines of Envoy's log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
