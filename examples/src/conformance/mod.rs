//! Differential conformance: generated meshes and requests, decided by
//! `mesh-route` and `mesh-authz`, and carried by a real Envoy running what
//! `mesh-xds` compiles for the same mesh. Every difference is counted by
//! kind, shrunk greedily to a small mesh and request, and written as a
//! conformance vector of the route or authz crate.
//!
//! Per mesh: the client sidecar (outbound, Sidecar `captureMode: NONE`
//! egress listeners bound on a loopback address) and the server workload
//! (its bound ingress listener, for AuthorizationPolicy and
//! PeerAuthentication) are compiled into one static bootstrap; every
//! cluster's endpoint is replaced by an upstream of a pool that answers
//! with its number, so the answer names the cluster Envoy chose. One Envoy
//! runs per mesh and serves all of that mesh's requests.

mod net;
mod oracle;

pub use net::{Envoy, RawClient, Response, UpstreamPool, free_port};
pub use oracle::{Decided, Expected, Observed, World, compare};

use mesh_testkit::{Bindings, HttpRequest, Mesh, SERVER_PORT, Target, requests, shrink, strategy};
use mesh_xds::Certificates;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Meshes to generate.
    pub meshes: usize,
    /// Requests per mesh.
    pub requests: usize,
    /// The seed of the generators.
    pub seed: u64,
    /// The Envoy binary.
    pub envoy: PathBuf,
    /// Where to write a vector per shrunk disagreement (none: not written).
    pub vectors: Option<PathBuf>,
    /// How many disagreements to shrink (each costs Envoy restarts).
    pub shrink: usize,
    /// Print a line every this many meshes (0: never).
    pub progress: usize,
    /// Also send paths Envoy normalizes (see
    /// [`RequestOptions::path_normalization`](mesh_testkit::requests::RequestOptions)).
    pub path_normalization: bool,
}

/// One disagreement.
#[derive(Debug, Clone)]
pub struct Disagreement {
    /// Its kind (`destination`, `status`, `path` …).
    pub kind: String,
    /// The mesh (shrunk, when shrinking ran).
    pub mesh: Mesh,
    /// The request.
    pub request: HttpRequest,
    /// What our crates decided.
    pub expected: Expected,
    /// What Envoy did.
    pub observed: Observed,
    /// Where its vector was written.
    pub vector: Option<PathBuf>,
}

/// The counts of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Meshes run.
    pub meshes: usize,
    /// Meshes skipped (the generator gave up, or too many clusters).
    pub skipped: usize,
    /// Requests sent.
    pub requests: usize,
    /// Requests where Envoy did what we decided.
    pub agreements: usize,
    /// Disagreements by kind (`envoy-rejected` counts meshes whose
    /// bootstrap Envoy refused).
    pub disagreements: BTreeMap<String, usize>,
    /// How many decisions exercised each rule id.
    pub coverage: BTreeMap<String, usize>,
    /// Disagreements kept for reporting (the first of each kind, shrunk).
    pub examples: Vec<Disagreement>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Summary {
    /// Total disagreements.
    pub fn total_disagreements(&self) -> usize {
        self.disagreements.values().sum()
    }

    /// The report printed by the `conformance` example.
    pub fn render(&self) -> String {
        let mut s = format!(
            "meshes: {} (skipped {})\nrequests: {}\nagreements: {}\ndisagreements: {}\n",
            self.meshes,
            self.skipped,
            self.requests,
            self.agreements,
            self.total_disagreements()
        );
        for (k, n) in &self.disagreements {
            s.push_str(&format!("  {k}: {n}\n"));
        }
        let secs = self.elapsed.as_secs_f64();
        s.push_str(&format!(
            "elapsed: {secs:.1}s ({:.0} requests/s)\n",
            self.requests as f64 / secs.max(0.001)
        ));
        s.push_str(&format!(
            "rule coverage: {} rule ids exercised\n",
            self.coverage.len()
        ));
        let mut by_family: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (r, n) in &self.coverage {
            let fam = r.rsplit_once('-').map_or(r.as_str(), |(f, _)| f);
            by_family.entry(fam).or_default().push(format!("{r}:{n}"));
        }
        for (f, v) in by_family {
            s.push_str(&format!("  {f}: {}\n", v.join(" ")));
        }
        for d in &self.examples {
            s.push_str(&format!(
                "disagreement {}: {} {} host={} path={} headers={:?}\n  ours: {:?}\n  envoy: {:?}\n",
                d.kind,
                d.request.method,
                match d.request.target {
                    Target::Outbound(p) => format!("outbound:{p}"),
                    Target::Inbound => format!("inbound:{SERVER_PORT}"),
                },
                d.request.authority,
                d.request.path,
                d.request.headers,
                d.expected,
                d.observed
            ));
            if let Some(v) = &d.vector {
                s.push_str(&format!("  vector: {}\n", v.display()));
            }
        }
        s
    }
}

/// Shared state of a run: the upstream pool, certificates, address
/// allocation.
struct Runner {
    opts: Options,
    pool: UpstreamPool,
    certificates: Certificates,
    next_net: u32,
    net_base: u32,
}

impl Runner {
    fn bindings(&mut self) -> Bindings {
        let n = self.next_net;
        self.next_net += 1;
        let o2 = self.net_base + (n / 250) % 4;
        let o3 = n % 250 + 1;
        Bindings {
            client_ip: format!("127.{o2}.{o3}.2"),
            server_ip: format!("127.{o2}.{o3}.3"),
            app_endpoint: format!("127.0.0.1:{}", self.pool.port(0)),
        }
    }

    /// Builds and starts a mesh; `Err((kind, message))`. Addresses that
    /// another process holds are skipped, and Envoy is only used once every
    /// listener of the mesh accepts connections.
    fn start(&mut self, mesh: &Mesh) -> Result<(World, Envoy), (String, String)> {
        let mut last = String::new();
        for _ in 0..5 {
            let b = self.bindings();
            let mut addrs: Vec<String> = mesh
                .ports()
                .iter()
                .map(|p| format!("{}:{p}", b.client_ip))
                .collect();
            addrs.push(format!("{}:{SERVER_PORT}", b.server_ip));
            if addrs
                .iter()
                .any(|a| std::net::TcpListener::bind(a.as_str()).is_err())
            {
                last = format!("addresses in use: {addrs:?}");
                continue;
            }
            let admin = free_port();
            let world = World::build(mesh, &b, &self.certificates, &self.pool, admin)
                .map_err(|e| ("skipped".to_string(), e))?;
            let envoy = Envoy::start(&self.opts.envoy, &world.bootstrap, admin)
                .map_err(|e| ("envoy-rejected".to_string(), e))?;
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut pending = addrs.clone();
            while !pending.is_empty() && Instant::now() < deadline {
                pending.retain(|a| std::net::TcpStream::connect(a.as_str()).is_err());
                if !pending.is_empty() {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            if pending.is_empty() {
                return Ok((world, envoy));
            }
            last = format!("listeners not accepting: {pending:?}: {}", envoy.log_tail());
        }
        Err(("envoy-listeners".to_string(), last))
    }

    /// Sends `req` and compares: the disagreement kind, if any.
    fn check(
        world: &World,
        clients: &mut HashMap<Target, RawClient>,
        req: &HttpRequest,
    ) -> (Decided, Observed, Option<&'static str>) {
        let decided = world.decide(req);
        let client = clients
            .entry(req.target)
            .or_insert_with(|| RawClient::new(world.address(req.target)));
        let mut observed =
            world.observe(client.send(&req.method, &req.path, &req.authority, &req.headers));
        let mut kind = compare(&decided.expected, &observed);
        if kind.is_some() {
            // Once more on a fresh connection, so a dropped keep-alive
            // connection is not a disagreement.
            let mut fresh = RawClient::new(world.address(req.target));
            observed =
                world.observe(fresh.send(&req.method, &req.path, &req.authority, &req.headers));
            kind = compare(&decided.expected, &observed);
        }
        (decided, observed, kind)
    }

    /// Whether `mesh` + `req` still disagree with this kind.
    fn reproduces(&mut self, mesh: &Mesh, req: &HttpRequest, kind: &str) -> bool {
        match self.start(mesh) {
            Ok((world, _envoy)) => {
                let mut clients = HashMap::new();
                Self::check(&world, &mut clients, req).2 == Some(kind)
            }
            Err((k, _)) => k == kind,
        }
    }

    /// Greedy shrinking: drop parts of the request, then of the mesh,
    /// while the disagreement stays.
    fn shrink(&mut self, mut mesh: Mesh, mut req: HttpRequest, kind: &str) -> (Mesh, HttpRequest) {
        let mut budget = 300;
        'outer: loop {
            for r in shrink::request_candidates(&req) {
                budget -= 1;
                if budget == 0 {
                    break 'outer;
                }
                if self.reproduces(&mesh, &r, kind) {
                    req = r;
                    continue 'outer;
                }
            }
            for m in shrink::mesh_candidates(&mesh) {
                if !validates(&m) {
                    continue;
                }
                budget -= 1;
                if budget == 0 {
                    break 'outer;
                }
                if self.reproduces(&m, &req, kind) {
                    mesh = m;
                    continue 'outer;
                }
            }
            break;
        }
        (mesh, req)
    }
}

fn validates(m: &Mesh) -> bool {
    let yaml = m.to_yaml(&Bindings::default());
    mesh_model::load(&[("mesh.yaml", yaml.as_str())], &m.load_options())
        .diagnostics
        .iter()
        .all(|d| !d.is_error())
}

fn certificates() -> Result<Certificates, String> {
    let ca = crate::controller::ca::Ca::generate("cluster.local", Duration::from_secs(86_400))
        .map_err(|e| e.to_string())?;
    let c = ca
        .certificate("mesh", "default", std::time::SystemTime::now())
        .map_err(|e| e.to_string())?;
    Ok(Certificates {
        chain_pem: c.chain_pem.clone(),
        key_pem: c.key_pem.clone(),
        root_pem: ca.root_pem().to_string(),
    })
}

/// A deterministic proptest runner for `seed`.
pub fn seeded_runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&seed.rotate_left(29).to_le_bytes());
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// Runs the harness.
pub fn run(opts: &Options) -> Result<Summary, String> {
    let started = Instant::now();
    let mut runner = Runner {
        opts: opts.clone(),
        pool: UpstreamPool::start(64).map_err(|e| format!("upstream pool: {e}"))?,
        certificates: certificates()?,
        next_net: 0,
        net_base: 10
            + ((u64::from(std::process::id())
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()))
                % 60) as u32
                * 4,
    };
    let mut gen_runner = seeded_runner(opts.seed);
    let mut summary = Summary::default();
    let mut shrunk = 0;
    let mut kinds_seen: BTreeSet<String> = BTreeSet::new();
    for m in 0..opts.meshes {
        if opts.progress > 0 && m > 0 && m % opts.progress == 0 {
            eprintln!(
                "[{:.0}s] {m} meshes, {} requests, {} disagreements",
                started.elapsed().as_secs_f64(),
                summary.requests,
                summary.total_disagreements()
            );
        }
        let Ok(tree) = strategy::meshes().new_tree(&mut gen_runner) else {
            summary.skipped += 1;
            continue;
        };
        let mesh = tree.current();
        let reqs = requests::requests_with(
            &mesh,
            requests::RequestOptions {
                path_normalization: opts.path_normalization,
            },
        );
        let batch: Vec<HttpRequest> = (0..opts.requests)
            .filter_map(|_| reqs.new_tree(&mut gen_runner).ok().map(|t| t.current()))
            .collect();
        let (world, envoy) = match runner.start(&mesh) {
            Ok(x) => x,
            Err((kind, msg)) if kind == "skipped" => {
                eprintln!("mesh {m} skipped: {msg}");
                summary.skipped += 1;
                continue;
            }
            Err((kind, msg)) => {
                summary.meshes += 1;
                *summary.disagreements.entry(kind.clone()).or_default() += 1;
                eprintln!("mesh {m}: {kind}: {msg}");
                continue;
            }
        };
        summary.meshes += 1;
        let mut clients = HashMap::new();
        let mut failures: Vec<(HttpRequest, &'static str)> = Vec::new();
        for req in &batch {
            summary.requests += 1;
            let (decided, observed, kind) = Runner::check(&world, &mut clients, req);
            for r in &decided.rules {
                *summary.coverage.entry(r.clone()).or_default() += 1;
            }
            match kind {
                None => summary.agreements += 1,
                Some(k) => {
                    *summary.disagreements.entry(k.to_string()).or_default() += 1;
                    if failures.len() < 3 && !failures.iter().any(|(_, x)| *x == k) {
                        failures.push((req.clone(), k));
                    }
                    let _ = observed;
                }
            }
        }
        drop(clients);
        drop(envoy);
        drop(world);
        for (req, kind) in failures {
            let first_of_kind = kinds_seen.insert(kind.to_string());
            if !first_of_kind && shrunk >= opts.shrink {
                continue;
            }
            let (mesh, req) = if shrunk < opts.shrink {
                shrunk += 1;
                runner.shrink(mesh.clone(), req, kind)
            } else {
                (mesh.clone(), req)
            };
            let Ok((world, _envoy)) = runner.start(&mesh) else {
                continue;
            };
            let mut clients = HashMap::new();
            let (decided, observed, _) = Runner::check(&world, &mut clients, &req);
            let vector = opts.vectors.as_ref().and_then(|dir| {
                let name = format!(
                    "{}-{kind}-seed{}-mesh{m}.yaml",
                    if req.target == Target::Inbound {
                        "authz"
                    } else {
                        "route"
                    },
                    opts.seed
                );
                let path = dir.join(name);
                let text = vector(&world, &req, &decided, &observed, kind, opts.seed, m);
                std::fs::create_dir_all(dir).ok()?;
                std::fs::write(&path, text).ok()?;
                Some(path)
            });
            if summary.examples.len() < 20 {
                summary.examples.push(Disagreement {
                    kind: kind.to_string(),
                    mesh,
                    request: req,
                    expected: decided.expected,
                    observed,
                    vector,
                });
            }
        }
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn headers_value(h: &[(String, String)]) -> Value {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in h {
        m.entry(k.to_ascii_lowercase()).or_default().push(v.clone());
    }
    let mut out = serde_json::Map::new();
    for (k, v) in m {
        out.insert(k, if v.len() == 1 { json!(v[0]) } else { json!(v) });
    }
    Value::Object(out)
}

/// A conformance vector (route or authz suite format) whose `expect` is
/// what Envoy did.
fn vector(
    world: &World,
    req: &HttpRequest,
    decided: &Decided,
    observed: &Observed,
    kind: &str,
    seed: u64,
    mesh_index: usize,
) -> String {
    let rules: Vec<&String> = decided.rules.iter().collect();
    let description = format!(
        "differential (seed {seed}, mesh {mesh_index}, {kind}): Envoy {observed:?}; ours {:?}",
        decided.expected
    );
    let case = match req.target {
        Target::Outbound(port) => {
            let single = decided
                .report
                .as_ref()
                .and_then(|r| r["destinations"].as_array())
                .is_some_and(|d| d.len() == 1);
            let expect = match observed {
                Observed::Upstream { cluster, path, .. } => {
                    let mut e = json!({"matched": true});
                    if single {
                        e["destinations"] = json!([{"cluster": cluster}]);
                    }
                    if kind == "path" {
                        e["rewrite"] = json!({"path": path});
                    }
                    e
                }
                Observed::Local {
                    status,
                    body,
                    location,
                } => match (*status, location) {
                    (300..=399, Some(l)) => {
                        json!({"action": "redirect", "redirect": {"code": status, "location": l}})
                    }
                    (404, None) if body.is_empty() => json!({"matched": false}),
                    (503, None) if single => json!({"destinations": [{"clusterMissing": true}]}),
                    (502, None) => json!({"matched": false, "fallback": {"status": 502}}),
                    _ => {
                        json!({"action": "directResponse", "directResponse": {"status": status, "body": body}})
                    }
                },
                Observed::Failed(e) => json!({"matched": false, "reason": e}),
            };
            let mut c = json!({
                "rule": rules,
                "description": description,
                "config": world.yaml,
                "proxy": {"sidecar": {"namespace": mesh_testkit::NAMESPACE, "labels": {"app": "client"}}},
                "request": {
                    "host": req.authority,
                    "port": port,
                    "method": req.method,
                    "path": req.path,
                    "headers": headers_value(&req.headers),
                },
                "expect": expect,
            });
            if world.mesh.registry_only {
                c["mesh"] = json!({"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}});
            }
            c
        }
        Target::Inbound => {
            let mut c = json!({
                "rule": rules,
                "description": description,
                "config": world.yaml,
                "workload": {"namespace": mesh_testkit::NAMESPACE, "labels": {"app": "server"}, "serviceAccount": "server"},
            });
            match observed {
                Observed::Failed(_) => {
                    c["port"] = json!(SERVER_PORT);
                    c["expect"] = json!({"mode": "STRICT"});
                }
                other => {
                    if decided.expected == Expected::Refused {
                        c["port"] = json!(SERVER_PORT);
                        c["expect"] = json!({"mode": "PERMISSIVE"});
                    } else {
                        c["request"] = json!({
                            "method": req.method,
                            "host": req.authority,
                            "path": req.path,
                            "headers": headers_value(&req.headers),
                            "port": SERVER_PORT,
                            "sourceIp": "127.0.0.1",
                            "remoteIp": "127.0.0.1",
                            "destinationIp": world.bindings.server_ip,
                        });
                        let allowed = matches!(other, Observed::Upstream { .. });
                        c["expect"] = json!({"decision": if allowed { "ALLOW" } else { "DENY" }});
                    }
                }
            }
            c
        }
    };
    serde_yaml::to_string(&json!({ "cases": [case] })).unwrap_or_default()
}
