//! Rendering a [`Mesh`] as YAML (flow style, every string quoted).

use crate::{
    Action, AuthzAction, Bindings, Fields, HttpMatch, Mesh, NAMESPACE, SERVER_PORT, Service,
    StringMatch, VirtualService,
};
use std::fmt::Write;

/// A YAML double-quoted scalar.
pub(crate) fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| q(s)).collect();
    format!("[{}]", items.join(", "))
}

fn string_match(m: &StringMatch) -> String {
    match m {
        StringMatch::Exact(s) => format!("{{exact: {}}}", q(s)),
        StringMatch::Prefix(s) => format!("{{prefix: {}}}", q(s)),
        StringMatch::Regex { pattern, .. } => format!("{{regex: {}}}", q(pattern)),
        StringMatch::Presence => "{}".into(),
    }
}

fn string_map(v: &[(String, StringMatch)]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|(k, m)| format!("{}: {}", q(k), string_match(m)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

fn http_match(m: &HttpMatch) -> String {
    let mut f = Vec::new();
    if let Some(n) = &m.name {
        f.push(format!("name: {}", q(n)));
    }
    if let Some(u) = &m.uri {
        f.push(format!("uri: {}", string_match(u)));
    }
    if m.ignore_uri_case {
        f.push("ignoreUriCase: true".into());
    }
    if let Some(s) = &m.scheme {
        f.push(format!("scheme: {}", string_match(s)));
    }
    if let Some(s) = &m.method {
        f.push(format!("method: {}", string_match(s)));
    }
    if let Some(s) = &m.authority {
        f.push(format!("authority: {}", string_match(s)));
    }
    if !m.headers.is_empty() {
        f.push(format!("headers: {}", string_map(&m.headers)));
    }
    if !m.without_headers.is_empty() {
        f.push(format!(
            "withoutHeaders: {}",
            string_map(&m.without_headers)
        ));
    }
    if !m.query_params.is_empty() {
        f.push(format!("queryParams: {}", string_map(&m.query_params)));
    }
    if let Some(p) = m.port {
        f.push(format!("port: {p}"));
    }
    format!("{{{}}}", f.join(", "))
}

fn fields(v: &Fields) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|(k, vs)| format!("{k}: {}", list(vs)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

pub(crate) fn render(mesh: &Mesh, b: &Bindings) -> String {
    let ns = NAMESPACE;
    let mut docs: Vec<String> = Vec::new();
    for s in &mesh.services {
        docs.push(service(s, ns));
        for v in &s.versions {
            let wports: Vec<String> = s.ports.iter().map(|p| format!("http-{p}: {p}")).collect();
            docs.push(format!(
                "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {{name: {n}-{v}, namespace: {ns}}}\nspec: {{address: 127.0.0.1, serviceAccount: {n}, labels: {{app: {n}, version: {v}}}, ports: {{{}}}}}\n",
                wports.join(", "),
                n = s.name
            ));
        }
    }
    // The client sidecar: one bound egress listener per service port.
    let egress: Vec<String> = mesh
        .ports()
        .iter()
        .map(|p| {
            format!(
                "  - {{port: {{number: {p}, protocol: HTTP, name: http-{p}}}, bind: {}, captureMode: NONE, hosts: [\"./*\"]}}\n",
                b.client_ip
            )
        })
        .collect();
    if !egress.is_empty() {
        docs.push(format!(
            "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: client, namespace: {ns}}}\nspec:\n  workloadSelector: {{labels: {{app: client}}}}\n  egress:\n{}",
            egress.concat()
        ));
    }
    // The server workload and its bound ingress listener.
    docs.push(format!(
        "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {{name: server, namespace: {ns}}}\nspec: {{address: {}, serviceAccount: server, labels: {{app: server}}}}\n",
        b.server_ip
    ));
    docs.push(format!(
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: server, namespace: {ns}}}\nspec:\n  workloadSelector: {{labels: {{app: server}}}}\n  ingress:\n  - {{port: {{number: {SERVER_PORT}, protocol: HTTP, name: http}}, bind: {}, captureMode: NONE, defaultEndpoint: {}}}\n  egress:\n  - {{hosts: [\"./*\"]}}\n",
        b.server_ip, q(&b.app_endpoint)
    ));
    for dr in &mesh.destination_rules {
        let subsets: Vec<String> = dr
            .subsets
            .iter()
            .map(|s| format!("{{name: {s}, labels: {{version: {s}}}}}"))
            .collect();
        docs.push(format!(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: {}, namespace: {ns}}}\nspec:\n  host: {}\n  subsets: [{}]\n",
            dr.name,
            dr.host,
            subsets.join(", ")
        ));
    }
    for (age, vs) in mesh.virtual_services.iter().enumerate() {
        docs.push(virtual_service(vs, ns, age));
    }
    for ap in &mesh.authorization_policies {
        let annotations = if ap.dry_run {
            ", annotations: {\"istio.io/dry-run\": \"true\"}"
        } else {
            ""
        };
        let mut s = format!(
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: {}, namespace: {}{annotations}}}\nspec:\n",
            ap.name, ap.namespace
        );
        if ap.selector {
            s.push_str("  selector: {matchLabels: {app: server}}\n");
        }
        let action = match ap.action {
            AuthzAction::Allow => "ALLOW",
            AuthzAction::Deny => "DENY",
            AuthzAction::Audit => "AUDIT",
            AuthzAction::Custom => "CUSTOM",
        };
        let _ = writeln!(s, "  action: {action}");
        if ap.action == AuthzAction::Custom {
            s.push_str("  provider: {name: undefined-provider}\n");
        }
        if let Some(rules) = &ap.rules {
            s.push_str("  rules:\n");
            if rules.is_empty() {
                s.push_str("  - {}\n");
            }
            for r in rules {
                let mut f = Vec::new();
                if !r.from.is_empty() {
                    let v: Vec<String> = r
                        .from
                        .iter()
                        .map(|x| format!("{{source: {}}}", fields(x)))
                        .collect();
                    f.push(format!("from: [{}]", v.join(", ")));
                }
                if !r.to.is_empty() {
                    let v: Vec<String> =
                        r.to.iter()
                            .map(|x| format!("{{operation: {}}}", fields(x)))
                            .collect();
                    f.push(format!("to: [{}]", v.join(", ")));
                }
                if !r.when.is_empty() {
                    let v: Vec<String> = r
                        .when
                        .iter()
                        .map(|c| {
                            let mut x = format!("key: {}", q(&c.key));
                            if !c.values.is_empty() {
                                let _ = write!(x, ", values: {}", list(&c.values));
                            }
                            if !c.not_values.is_empty() {
                                let _ = write!(x, ", notValues: {}", list(&c.not_values));
                            }
                            format!("{{{x}}}")
                        })
                        .collect();
                    f.push(format!("when: [{}]", v.join(", ")));
                }
                let _ = writeln!(s, "  - {{{}}}", f.join(", "));
            }
        }
        docs.push(s);
    }
    for pa in &mesh.peer_authentications {
        let mut s = format!(
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: {}, namespace: {}}}\nspec:\n",
            pa.name, pa.namespace
        );
        if pa.selector {
            s.push_str("  selector: {matchLabels: {app: server}}\n");
        }
        let _ = writeln!(s, "  mtls: {{mode: {}}}", pa.mode.as_str());
        if let Some(m) = pa.port_level {
            let _ = writeln!(
                s,
                "  portLevelMtls: {{\"{SERVER_PORT}\": {{mode: {}}}}}",
                m.as_str()
            );
        }
        docs.push(s);
    }
    docs.join("---\n")
}

/// One VirtualService in namespace `ns`, created `age` minutes after the
/// first (Istio orders VirtualServices oldest first).
pub(crate) fn virtual_service(vs: &VirtualService, ns: &str, age: usize) -> String {
    let gateways = if vs.gateways.is_empty() {
        String::new()
    } else {
        format!("  gateways: {}\n", list(&vs.gateways))
    };
    let mut s = format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {}, namespace: {ns}, creationTimestamp: \"2024-01-01T00:{:02}:00Z\"}}\nspec:\n  hosts: {}\n{gateways}  http:\n",
        vs.name,
        age % 60,
        list(&vs.hosts)
    );
    for r in &vs.http {
        s.push_str("  - ");
        let mut first = true;
        let mut field = |s: &mut String, text: String| {
            if !first {
                s.push_str("    ");
            }
            first = false;
            s.push_str(&text);
            s.push('\n');
        };
        if let Some(n) = &r.name {
            field(&mut s, format!("name: {}", q(n)));
        }
        if !r.matches.is_empty() {
            let ms: Vec<String> = r.matches.iter().map(http_match).collect();
            field(&mut s, format!("match: [{}]", ms.join(", ")));
        }
        match &r.action {
            Action::Route {
                destinations,
                rewrite,
            } => {
                let ds: Vec<String> = destinations
                    .iter()
                    .map(|d| {
                        let mut dest = format!("host: {}", d.host);
                        if let Some(sub) = &d.subset {
                            let _ = write!(dest, ", subset: {sub}");
                        }
                        if let Some(p) = d.port {
                            let _ = write!(dest, ", port: {{number: {p}}}");
                        }
                        match d.weight {
                            Some(w) => format!("{{destination: {{{dest}}}, weight: {w}}}"),
                            None => format!("{{destination: {{{dest}}}}}"),
                        }
                    })
                    .collect();
                field(&mut s, format!("route: [{}]", ds.join(", ")));
                if let Some(rw) = rewrite {
                    let mut f = Vec::new();
                    if let Some(u) = &rw.uri {
                        f.push(format!("uri: {}", q(u)));
                    }
                    if let Some(a) = &rw.authority {
                        f.push(format!("authority: {}", q(a)));
                    }
                    field(&mut s, format!("rewrite: {{{}}}", f.join(", ")));
                }
            }
            Action::Redirect(rd) => {
                let mut f = Vec::new();
                if let Some(u) = &rd.uri {
                    f.push(format!("uri: {}", q(u)));
                }
                if let Some(a) = &rd.authority {
                    f.push(format!("authority: {}", q(a)));
                }
                if let Some(c) = rd.code {
                    f.push(format!("redirectCode: {c}"));
                }
                field(&mut s, format!("redirect: {{{}}}", f.join(", ")));
            }
            Action::DirectResponse { status, body } => field(
                &mut s,
                format!(
                    "directResponse: {{status: {status}, body: {{string: {}}}}}",
                    q(body)
                ),
            ),
        }
        if let Some(h) = &r.headers {
            let mut f = Vec::new();
            let map = |v: &[(String, String)]| {
                let items: Vec<String> = v
                    .iter()
                    .map(|(k, v)| format!("{}: {}", q(k), q(v)))
                    .collect();
                format!("{{{}}}", items.join(", "))
            };
            if !h.set.is_empty() {
                f.push(format!("set: {}", map(&h.set)));
            }
            if !h.add.is_empty() {
                f.push(format!("add: {}", map(&h.add)));
            }
            if !h.remove.is_empty() {
                f.push(format!("remove: {}", list(&h.remove)));
            }
            field(
                &mut s,
                format!("headers: {{request: {{{}}}}}", f.join(", ")),
            );
        }
    }
    s
}

/// One Service in namespace `ns`, selecting `app: <name>`.
pub(crate) fn service(s: &Service, ns: &str) -> String {
    let ports: Vec<String> = s
        .ports
        .iter()
        .map(|p| format!("{{name: http-{p}, port: {p}}}"))
        .collect();
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {n}, namespace: {ns}}}\nspec:\n  selector: {{app: {n}}}\n  ports: [{}]\n",
        ports.join(", "),
        n = s.name
    )
}
