//! One generated mesh made concrete: loaded, decided on by `mesh-route`
//! and `mesh-authz`, compiled by `mesh-xds` into one static Envoy
//! bootstrap whose clusters point at the upstream pool; and the
//! comparison of a decision with what Envoy did.

use super::net::{Response, UpstreamPool};
use mesh_authz::engine::{Authz, AuthzOptions};
use mesh_authz::peer::effective_mtls;
use mesh_model::labels::Labels;
use mesh_model::security::MtlsMode;
use mesh_model::snapshot::Snapshot;
use mesh_route::report::RouteReport;
use mesh_route::{DestinationRules, Outcome, ProxyContext, RouteTable};
use mesh_testkit::{
    Action, Bindings, HttpRequest, Mesh, NAMESPACE, SERVER_PORT, StringMatch, Target,
};
use mesh_xds::proxy::{Interception, Proxy};
use mesh_xds::resources::static_bootstrap;
use mesh_xds::{Certificates, CompileOptions, Compiler};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// What our crates say a request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Forwarded to one of these clusters (a weighted route: any with
    /// weight > 0), with this path and `Host`. `None` in the set: a cluster
    /// that does not exist, so Envoy answers 503.
    Upstream {
        /// Candidate clusters.
        clusters: BTreeSet<Option<String>>,
        /// The forwarded path.
        path: String,
        /// The forwarded authority.
        host: String,
    },
    /// A local reply (404 NR, 502 block_all, 403 RBAC, a direct
    /// response, a redirect).
    Local {
        /// Status.
        status: u16,
        /// Body, when it is known.
        body: Option<String>,
        /// `Location`, for redirects.
        location: Option<String>,
    },
    /// The connection is refused (STRICT mTLS, plaintext client: PA-6).
    Refused,
}

/// What Envoy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// An upstream of the pool answered.
    Upstream {
        /// The cluster whose upstream answered.
        cluster: String,
        /// The path it received.
        path: String,
        /// The `Host` it received.
        host: String,
    },
    /// Envoy answered itself.
    Local {
        /// Status.
        status: u16,
        /// Body.
        body: String,
        /// `Location`.
        location: Option<String>,
    },
    /// The connection failed or closed without a response.
    Failed(String),
}

/// The decisions behind an expectation, for coverage and vectors.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The expectation.
    pub expected: Expected,
    /// Rule ids the decision exercised.
    pub rules: BTreeSet<String>,
    /// The route report (outbound requests).
    pub report: Option<Value>,
    /// The authz verdict (inbound requests): `ALLOW`/`DENY`/`CUSTOM`.
    pub verdict: Option<String>,
}

/// A mesh ready to run: its snapshot, decision engines, and bootstrap.
pub struct World {
    /// The generated mesh.
    pub mesh: Mesh,
    /// Where its proxies listen.
    pub bindings: Bindings,
    /// Its YAML.
    pub yaml: String,
    snapshot: Snapshot,
    table: RouteTable,
    drs: DestinationRules,
    ctx: ProxyContext,
    authz: Authz,
    /// Cluster name by upstream id.
    pub clusters: Vec<String>,
    /// The Envoy bootstrap (JSON text).
    pub bootstrap: String,
}

fn labels(app: &str) -> Labels {
    [("app".to_string(), app.to_string())].into()
}

impl World {
    /// Loads, compiles and binds `mesh`; `Err` when it does not validate
    /// or has more clusters than the pool has upstreams.
    pub fn build(
        mesh: &Mesh,
        bindings: &Bindings,
        certificates: &Certificates,
        pool: &UpstreamPool,
        admin_port: u16,
    ) -> Result<World, String> {
        let yaml = mesh.to_yaml(bindings);
        let loaded = mesh_model::load(&[("mesh.yaml", yaml.as_str())], &mesh.load_options());
        let errors = loaded.errors();
        if !errors.is_empty() {
            return Err(format!("mesh does not validate: {errors:?}"));
        }
        let snapshot = loaded.snapshot;
        let compiler = Compiler::new(
            &snapshot,
            CompileOptions {
                certificates: Some(certificates.clone()),
                ..CompileOptions::default()
            },
        );
        let mut client = Proxy::sidecar(NAMESPACE, labels("client"), "client");
        client.interception = Interception::None;
        let mut server = Proxy::sidecar(NAMESPACE, labels("server"), "server");
        server.interception = Interception::None;
        let c = mesh_xds::json::to_json(&static_bootstrap(
            &compiler.compile(&client),
            &client.id,
            "client",
            admin_port,
        ));
        let s = mesh_xds::json::to_json(&static_bootstrap(
            &compiler.compile(&server),
            &server.id,
            "server",
            admin_port,
        ));
        let (bootstrap, clusters) = merge(c, &s, pool)?;
        let ctx = ProxyContext::sidecar(NAMESPACE, labels("client"));
        let table = RouteTable::compile(&snapshot, &ctx);
        Ok(World {
            mesh: mesh.clone(),
            bindings: bindings.clone(),
            yaml,
            drs: DestinationRules::new(&snapshot),
            authz: Authz::compile(&snapshot, &AuthzOptions::default()),
            snapshot,
            table,
            ctx,
            clusters,
            bootstrap: bootstrap.to_string(),
        })
    }

    /// The address a request goes to.
    pub fn address(&self, t: Target) -> std::net::SocketAddr {
        let (ip, port) = match t {
            Target::Outbound(p) => (&self.bindings.client_ip, p),
            Target::Inbound => (&self.bindings.server_ip, SERVER_PORT),
        };
        format!("{ip}:{port}").parse().expect("a socket address")
    }

    /// What our crates decide for `req`.
    pub fn decide(&self, req: &HttpRequest) -> Decided {
        match req.target {
            Target::Outbound(port) => self.route(req, port),
            Target::Inbound => self.authorize(req),
        }
    }

    fn route(&self, req: &HttpRequest, port: u16) -> Decided {
        let headers: Vec<(&str, &str)> = req
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // Envoy routes the normalized path (Istio's `normalize_path`).
        let path = mesh_route::request::normalize_path(&req.path);
        let r = mesh_route::Request {
            authority: &req.authority,
            method: &req.method,
            path: &path,
            scheme: "http",
            headers: &headers,
            port,
            claims: &[],
            sni: None,
        };
        let explained = self.table.explain(&r);
        let d = &explained.decision;
        let mut report = RouteReport::new(&self.table, d, &r, None);
        report.resolve_destinations(&self.snapshot, &self.drs, &self.ctx, d);
        let mut rules = BTreeSet::new();
        rules.insert("HOST-1".to_string());
        let expected = match d.outcome {
            Outcome::Route | Outcome::Default => {
                if d.outcome == Outcome::Default {
                    rules.insert("VS-7".into());
                }
                let clusters: BTreeSet<Option<String>> = report
                    .destinations
                    .iter()
                    .filter(|x| x.weight > 0 || report.destinations.len() == 1)
                    .map(|x| (!x.cluster_missing).then(|| x.cluster.clone()))
                    .collect();
                if report.destinations.len() > 1 {
                    rules.insert("WT-2".into());
                } else {
                    rules.insert("WT-1".into());
                }
                if report.destinations.iter().any(|x| x.subset.is_some()) {
                    rules.insert("DR-3".into());
                }
                if report.destinations.iter().any(|x| x.cluster_missing) {
                    rules.insert("WT-4".into());
                }
                let (path, host) = match &report.rewrite {
                    Some(rw) => {
                        rules.insert("VS-23".into());
                        (
                            rw.path.clone(),
                            rw.authority
                                .clone()
                                .unwrap_or_else(|| req.authority.clone()),
                        )
                    }
                    None => (path.to_string(), req.authority.clone()),
                };
                Expected::Upstream {
                    clusters,
                    path,
                    host,
                }
            }
            Outcome::Redirect => {
                rules.insert("VS-21".into());
                let rd = report.redirect.as_ref();
                Expected::Local {
                    status: rd.map_or(301, |r| u16::try_from(r.code).unwrap_or(301)),
                    body: None,
                    location: rd.map(|r| r.location.clone()),
                }
            }
            Outcome::DirectResponse => {
                rules.insert("VS-22".into());
                let dr = report.direct_response.as_ref();
                Expected::Local {
                    status: dr.map_or(0, |r| u16::try_from(r.status).unwrap_or(0)),
                    body: Some(dr.and_then(|r| r.body.clone()).unwrap_or_default()),
                    location: None,
                }
            }
            Outcome::NoRouteMatched => {
                rules.insert("VS-5".into());
                Expected::Local {
                    status: 404,
                    body: Some(String::new()),
                    location: None,
                }
            }
            Outcome::UnknownHost | Outcome::TlsRequired | Outcome::Rejected => {
                rules.insert("VS-5".into());
                match report.fallback.as_ref() {
                    Some(f) if f.cluster.is_some() => Expected::Upstream {
                        clusters: [f.cluster.clone()].into(),
                        path: path.to_string(),
                        host: req.authority.clone(),
                    },
                    Some(f) => Expected::Local {
                        status: f.status.and_then(|s| u16::try_from(s).ok()).unwrap_or(404),
                        body: None,
                        location: None,
                    },
                    None => Expected::Local {
                        status: 404,
                        body: None,
                        location: None,
                    },
                }
            }
        };
        self.route_rules(&report, &mut rules);
        Decided {
            expected,
            rules,
            report: serde_json::to_value(&report).ok(),
            verdict: None,
        }
    }

    /// Rule ids from the matched VirtualService route and match block.
    fn route_rules(&self, report: &RouteReport, rules: &mut BTreeSet<String>) {
        let Some(vs_name) = report.virtual_service.as_deref() else {
            return;
        };
        let Some(vs) = self
            .mesh
            .virtual_services
            .iter()
            .find(|v| format!("{NAMESPACE}/{}", v.name) == vs_name)
        else {
            return;
        };
        rules.insert("HOST-7".into());
        let hosts_shared = self
            .mesh
            .virtual_services
            .iter()
            .any(|o| o.name != vs.name && o.hosts.iter().any(|h| vs.hosts.contains(h)));
        if hosts_shared {
            rules.insert("HOST-8".into());
        }
        let Some(route_ref) = &report.route else {
            return;
        };
        let Some(route) = vs.http.get(route_ref.index) else {
            return;
        };
        if route_ref.index > 0 {
            rules.insert("VS-1".into());
        }
        if route.name.is_some() {
            rules.insert("VS-6".into());
        }
        if route.headers.is_some() {
            rules.insert("VS-29".into());
        }
        if let Action::Route { destinations, .. } = &route.action
            && destinations.iter().any(|d| d.weight == Some(0))
        {
            rules.insert("WT-2".into());
        }
        let m = report
            .match_block
            .as_ref()
            .and_then(|m| m.index)
            .and_then(|i| route.matches.get(i));
        let Some(m) = m else {
            rules.insert("VS-2".into());
            return;
        };
        if route.matches.len() > 1 {
            rules.insert("VS-2".into());
        }
        let kind = |s: &StringMatch| match s {
            StringMatch::Exact(_) | StringMatch::Regex { .. } => "VS-10",
            StringMatch::Prefix(_) => "VS-15",
            StringMatch::Presence => "VS-16",
        };
        if let Some(u) = &m.uri {
            rules.insert(kind(u).into());
            if matches!(u, StringMatch::Prefix(p) if p.is_empty()) {
                rules.insert("VS-11".into());
            }
        }
        for s in [&m.scheme, &m.method, &m.authority].into_iter().flatten() {
            rules.insert(kind(s).into());
        }
        for (_, s) in &m.headers {
            rules.insert(kind(s).into());
            rules.insert("VS-12".into());
        }
        for (_, s) in &m.query_params {
            rules.insert(kind(s).into());
            rules.insert("VS-12".into());
        }
        if !m.without_headers.is_empty() {
            rules.insert("VS-17".into());
        }
        if m.port.is_some() {
            rules.insert("VS-3".into());
        }
    }

    fn authorize(&self, req: &HttpRequest) -> Decided {
        let server = labels("server");
        let mut rules = BTreeSet::new();
        let mtls = effective_mtls(&self.snapshot, NAMESPACE, &server, Some(SERVER_PORT));
        rules.insert("PA-4".to_string());
        if !self.mesh.peer_authentications.is_empty() {
            rules.insert("PA-2".to_string());
        }
        if mtls.mode == MtlsMode::Strict {
            rules.insert("PA-6".into());
            return Decided {
                expected: Expected::Refused,
                rules,
                report: None,
                verdict: None,
            };
        }
        let wl = self.authz.workload(NAMESPACE, &server);
        let local: IpAddr = [127, 0, 0, 1].into();
        let dest: IpAddr = self.bindings.server_ip.parse().unwrap_or(local);
        // RBAC, like the router, sees the normalized path.
        let path = mesh_route::request::normalize_path(&req.path);
        let mut r = mesh_authz::request::Request::http(&req.method, &path)
            .with_host(&req.authority)
            .with_port(SERVER_PORT)
            .with_source_ip(local)
            .with_remote_ip(local)
            .with_destination_ip(dest);
        for (k, v) in &req.headers {
            r = r.with_header(k, v);
        }
        let d = wl.decide(&r);
        rules.insert("AZ-1".into());
        if let Some(hit) = d.rule {
            rules.insert("AZ-10".into());
            if let Some(ap) = self
                .mesh
                .authorization_policies
                .iter()
                .find(|p| format!("{}/{}", p.namespace, p.name) == hit.policy.id())
            {
                if ap.action == mesh_testkit::AuthzAction::Custom {
                    rules.insert("AZ-7".into());
                }
                if let Some(rule) = ap.rules.as_ref().and_then(|rs| rs.get(hit.rule)) {
                    let fields = rule.from.iter().chain(&rule.to).flatten();
                    for (k, vs) in fields {
                        if k.starts_with("not") {
                            rules.insert("AZ-11".into());
                        }
                        if vs.iter().any(|v| v.contains('*')) {
                            rules.insert("AZ-20".into());
                        }
                        if k.contains("rincipals") || k.contains("amespaces") {
                            rules.insert("AZ-22".into());
                        }
                    }
                    if rule.when.iter().any(|c| !c.not_values.is_empty()) {
                        rules.insert("AZ-11".into());
                    }
                }
            }
        }
        if self
            .mesh
            .authorization_policies
            .iter()
            .any(|p| p.rules.is_none())
        {
            rules.insert("AZ-4".into());
        }
        if d.dry_run_allow.is_some() || d.dry_run_deny.is_some() {
            rules.insert("AZ-5".into());
        }
        if self
            .mesh
            .authorization_policies
            .iter()
            .any(|p| p.namespace != NAMESPACE || p.selector)
        {
            rules.insert("AZ-3".into());
        }
        let expected = match d.deny_status() {
            Some(status) => Expected::Local {
                status,
                body: Some("RBAC: access denied".into()),
                location: None,
            },
            None => Expected::Upstream {
                clusters: [Some(format!("inbound|{SERVER_PORT}||"))].into(),
                path: path.to_string(),
                host: req.authority.clone(),
            },
        };
        Decided {
            expected,
            rules,
            report: None,
            verdict: Some(d.verdict.to_string()),
        }
    }

    /// Reads an HTTP answer (or a failure) as an observation.
    pub fn observe(&self, r: Result<Response, String>) -> Observed {
        let r = match r {
            Ok(r) => r,
            Err(e) => return Observed::Failed(e),
        };
        if r.status == 200
            && let Ok(v) = serde_json::from_str::<Value>(&r.body)
            && let Some(id) = v.get("id").and_then(Value::as_u64)
        {
            return Observed::Upstream {
                cluster: usize::try_from(id)
                    .ok()
                    .and_then(|i| self.clusters.get(i))
                    .cloned()
                    .unwrap_or_else(|| format!("upstream {id}")),
                path: v["path"].as_str().unwrap_or_default().to_string(),
                host: v["host"].as_str().unwrap_or_default().to_string(),
            };
        }
        Observed::Local {
            status: r.status,
            location: r.header("location").map(str::to_string),
            body: r.body,
        }
    }
}

/// Compares; `None` when they agree, else the kind of disagreement.
pub fn compare(e: &Expected, o: &Observed) -> Option<&'static str> {
    match (e, o) {
        (
            Expected::Upstream {
                clusters,
                path,
                host,
            },
            Observed::Upstream {
                cluster,
                path: p,
                host: h,
            },
        ) => {
            if !clusters.contains(&Some(cluster.clone())) {
                Some("destination")
            } else if p != path {
                Some("path")
            } else if h != host {
                Some("authority")
            } else {
                None
            }
        }
        (Expected::Upstream { clusters, .. }, Observed::Local { status: 503, .. })
            if clusters.contains(&None) =>
        {
            None
        }
        (
            Expected::Local {
                status,
                body,
                location,
            },
            Observed::Local {
                status: s,
                body: b,
                location: l,
            },
        ) => {
            if status != s {
                Some("status")
            } else if body.as_ref().is_some_and(|body| body != b) {
                Some("body")
            } else if location.is_some() && location != l {
                Some("redirect")
            } else {
                None
            }
        }
        (Expected::Refused, Observed::Failed(_)) => None,
        (Expected::Refused, _) => Some("mtls"),
        (_, Observed::Failed(_)) => Some("connection"),
        (Expected::Upstream { .. }, Observed::Local { .. }) => Some("outcome-local"),
        (Expected::Local { .. }, Observed::Upstream { .. }) => Some("outcome-upstream"),
    }
}

/// Merges the client's and the server's bootstraps into one, every
/// cluster but the black hole pointed at its own upstream of the pool.
/// Returns the bootstrap and the cluster name of each upstream id.
fn merge(mut c: Value, s: &Value, pool: &UpstreamPool) -> Result<(Value, Vec<String>), String> {
    let mut clusters: BTreeMap<String, Value> = BTreeMap::new();
    for b in [&c, s] {
        for cl in b["staticResources"]["clusters"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(name) = cl["name"].as_str() {
                clusters
                    .entry(name.to_string())
                    .or_insert_with(|| cl.clone());
            }
        }
    }
    let mut names = Vec::new();
    let mut out = Vec::new();
    for (name, mut cl) in clusters {
        if name != "BlackHoleCluster" {
            let id = names.len();
            if id >= pool.len() {
                return Err(format!("more than {} clusters", pool.len()));
            }
            names.push(name.clone());
            let m = cl.as_object_mut().ok_or("a cluster is not an object")?;
            m.insert("type".into(), json!("STATIC"));
            m.remove("originalDstLbConfig");
            m.remove("edsClusterConfig");
            if m.get("lbPolicy").and_then(Value::as_str) == Some("CLUSTER_PROVIDED") {
                m.insert("lbPolicy".into(), json!("ROUND_ROBIN"));
            }
            m.insert(
                "loadAssignment".into(),
                json!({"clusterName": name, "endpoints": [{"lbEndpoints": [{"endpoint": {"address": {"socketAddress": {"address": "127.0.0.1", "portValue": pool.port(id)}}}}]}]}),
            );
        }
        out.push(cl);
    }
    let mut listeners: Vec<Value> = Vec::new();
    for b in [&c, s] {
        for l in b["staticResources"]["listeners"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if !listeners.iter().any(|x| x["name"] == l["name"]) {
                listeners.push(l.clone());
            }
        }
    }
    let mut secrets: Vec<Value> = Vec::new();
    for b in [&c, s] {
        for x in b["staticResources"]["secrets"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if !secrets.iter().any(|y| y["name"] == x["name"]) {
                secrets.push(x.clone());
            }
        }
    }
    c["staticResources"] = json!({"listeners": listeners, "clusters": out, "secrets": secrets});
    Ok((c, names))
}
