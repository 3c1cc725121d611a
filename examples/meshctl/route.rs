//! `meshctl route`: where a request goes, and why (MESHCTL.md).

use crate::common::{Fatal, Format, InputArgs, parse_kv, print_value};
use mesh_model::labels::Labels;
use mesh_route::l4::Connection;
use mesh_route::report::{RouteReport, TcpReport};
use mesh_route::{DestinationRules, ProxyContext, Request, RouteTable};
use std::process::ExitCode;

/// Arguments of `route` (boxed: the command enum stays small).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    inner: Box<RouteArgs>,
}

/// The flags of `route`.
#[derive(Debug, clap::Args)]
struct RouteArgs {
    #[command(flatten)]
    inputs: InputArgs,
    /// The request's Host (`:authority`), optionally with `:port`.
    #[arg(long)]
    host: String,
    /// The destination port (default: the authority's, else the port
    /// whose routes serve the host, else 80, 443 for https).
    #[arg(long)]
    port: Option<u16>,
    /// The method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// The path, with an optional `?query`, as the client sends it (routed
    /// after Envoy's path normalization: dot segments resolved, escaped
    /// unreserved characters decoded).
    #[arg(long, default_value = "/")]
    path: String,
    /// A request header `name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// The scheme (`http` or `https`).
    #[arg(long, default_value = "http")]
    scheme: String,
    /// The client's namespace (a sidecar).
    #[arg(long, default_value = "default")]
    source_namespace: String,
    /// A client label k=v (repeatable).
    #[arg(long = "source-label")]
    source_labels: Vec<String>,
    /// The request arrives at this gateway (NS/NAME) instead of a sidecar.
    #[arg(long)]
    gateway: Option<String>,
    /// A number in 0..2^32 that picks among weighted destinations.
    #[arg(long)]
    dice: Option<u32>,
    /// A validated JWT claim name=value (repeatable; nested as a.b=value).
    #[arg(long = "claim")]
    claims: Vec<String>,
    /// The TLS SNI (gateway HTTPS ports, TLS routes).
    #[arg(long)]
    sni: Option<String>,
    /// Route a TCP/TLS connection instead of an HTTP request.
    #[arg(long)]
    tcp: bool,
    /// The connection's destination IP (TCP `destinationSubnets`).
    #[arg(long)]
    destination_ip: Option<std::net::IpAddr>,
}

fn header(s: &str) -> Result<(String, String), Fatal> {
    s.split_once(':')
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| Fatal(format!("--header {s:?}: expected 'name: value'")))
}

pub fn run(args: Args) -> ExitCode {
    match try_run(&args.inner) {
        Ok(code) => code,
        Err(f) => f.exit(),
    }
}

fn try_run(args: &RouteArgs) -> Result<ExitCode, Fatal> {
    let loaded = args.inputs.load()?;
    let snapshot = &loaded.snapshot;
    let proxy = match &args.gateway {
        Some(g) => {
            let (ns, name) = g
                .split_once('/')
                .ok_or_else(|| Fatal(format!("--gateway {g:?}: expected NAMESPACE/NAME")))?;
            ProxyContext::gateway(ns, name)
        }
        None => {
            let mut labels = Labels::new();
            for l in &args.source_labels {
                let (k, v) = parse_kv(l)?;
                labels.insert(k, v);
            }
            ProxyContext::sidecar(&args.source_namespace, labels)
        }
    };
    let table = RouteTable::compile(snapshot, &proxy);
    if args.tcp {
        let conn = Connection {
            host: &args.host,
            port: args.port.unwrap_or(0),
            sni: args.sni.as_deref(),
            destination_ip: args.destination_ip,
        };
        let d = table.route_tcp(&conn);
        let report = TcpReport::new(&table, &d, args.dice);
        match args.inputs.output {
            Format::Text => print_tcp_text(&report),
            f => print_value(f, &serde_json::to_value(&report).unwrap_or_default()),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let headers: Vec<(String, String)> = args
        .headers
        .iter()
        .map(|h| header(h))
        .collect::<Result<_, _>>()?;
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let claims: Vec<(String, String)> = args
        .claims
        .iter()
        .map(|c| parse_kv(c))
        .collect::<Result<_, _>>()?;
    let claim_refs: Vec<(&str, &str)> = claims
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let path = mesh_route::request::normalize_path(&args.path);
    let req = Request {
        authority: &args.host,
        method: &args.method,
        path: &path,
        scheme: &args.scheme,
        headers: &header_refs,
        port: args.port.unwrap_or(0),
        claims: &claim_refs,
        sni: args.sni.as_deref(),
    };
    let explained = table.explain(&req);
    let mut report = RouteReport::new(&table, &explained.decision, &req, args.dice);
    report.explain = explained.steps;
    let rules = DestinationRules::new(snapshot);
    report.resolve_destinations(snapshot, &rules, &proxy, &explained.decision);
    match args.inputs.output {
        Format::Text => print_text(&report),
        f => print_value(f, &serde_json::to_value(&report).unwrap_or_default()),
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints rows as left-aligned columns, the first row a header.
fn table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if i + 1 == r.len() {
                    s.clone()
                } else {
                    format!("{s:<w$}", w = widths[i])
                }
            })
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
}

fn or_dash(s: Option<String>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into())
}

fn print_text(r: &RouteReport) {
    let route = r.route.as_ref().map(|x| match &x.name {
        Some(n) => format!("{} ({n})", x.index),
        None => x.index.to_string(),
    });
    let m = r
        .match_block
        .as_ref()
        .and_then(|m| m.index)
        .map(|i| i.to_string());
    let outcome = match (&r.action, &r.reason) {
        (Some(a), _) => a.clone(),
        (None, Some(reason)) => format!("no match: {reason}"),
        (None, None) => "no match".into(),
    };
    table(&[
        vec![
            "ROUTE CONFIG".into(),
            "VIRTUAL HOST".into(),
            "VIRTUALSERVICE".into(),
            "ROUTE".into(),
            "MATCH".into(),
            "ACTION".into(),
        ],
        vec![
            or_dash(r.route_configuration.clone()),
            or_dash(r.virtual_host.clone()),
            or_dash(r.virtual_service.clone()),
            or_dash(route),
            or_dash(m),
            outcome,
        ],
    ]);
    if !r.destinations.is_empty() {
        println!();
        let mut rows = vec![vec![
            "DESTINATION".into(),
            "SUBSET".into(),
            "PORT".into(),
            "WEIGHT".into(),
            "CLUSTER".into(),
        ]];
        for (i, d) in r.destinations.iter().enumerate() {
            let picked = if r.picked == Some(i) { " *" } else { "" };
            rows.push(vec![
                format!("{}{picked}", d.host),
                or_dash(d.subset.clone()),
                or_dash(d.port.map(|p| p.to_string())),
                d.weight.to_string(),
                d.cluster.clone(),
            ]);
        }
        table(&rows);
    }
    let mut notes = Vec::new();
    if let Some(t) = &r.timeout {
        notes.push(format!("timeout: {t}"));
    }
    match &r.retries {
        Some(x) => notes.push(format!("retries: {} on {}", x.attempts, x.retry_on)),
        None if r.action.as_deref() == Some("route") || r.action.as_deref() == Some("default") => {
            notes.push("retries: off".into())
        }
        None => {}
    }
    if let Some(rd) = &r.redirect {
        notes.push(format!("redirect: {} {}", rd.code, rd.location));
    }
    if let Some(d) = &r.direct_response {
        notes.push(format!("direct response: {}", d.status));
    }
    if let Some(rw) = &r.rewrite {
        notes.push(format!("rewritten path: {}", rw.path));
        if let Some(a) = &rw.authority {
            notes.push(format!("rewritten authority: {a}"));
        }
    }
    if let Some(f) = &r.fault {
        if let Some(d) = &f.delay {
            notes.push(format!(
                "fault: delay {} for {}%",
                d.fixed_delay, d.percentage
            ));
        }
        if let Some(a) = &f.abort {
            let what = a
                .http_status
                .map(|s| format!("HTTP {s}"))
                .or(a.grpc_status.map(|s| format!("gRPC {s}")))
                .unwrap_or_default();
            notes.push(format!("fault: abort {what} for {}%", a.percentage));
        }
    }
    for m in &r.mirrors {
        notes.push(format!("mirror: {} ({}%)", m.cluster, m.percentage));
    }
    if let Some(f) = &r.fallback {
        let to = f
            .cluster
            .clone()
            .or(f.status.map(|s| format!("status {s}")))
            .unwrap_or_default();
        notes.push(format!("falls through to: {to}"));
    }
    if !notes.is_empty() {
        println!();
        for n in notes {
            println!("{n}");
        }
    }
    if !r.explain.is_empty() {
        println!();
        let mut rows = vec![vec![
            "#".into(),
            "ROUTE".into(),
            "VIRTUALSERVICE".into(),
            "MATCH".into(),
            "RESULT".into(),
        ]];
        for s in &r.explain {
            rows.push(vec![
                s.index.to_string(),
                if s.name.is_empty() {
                    or_dash(s.route.map(|i| i.to_string()))
                } else {
                    s.name.clone()
                },
                or_dash(s.virtual_service.clone()),
                or_dash(s.match_index.map(|i| i.to_string())),
                if s.matched {
                    "matched".into()
                } else {
                    s.reason.clone().unwrap_or_default()
                },
            ]);
        }
        table(&rows);
    }
}

fn print_tcp_text(r: &TcpReport) {
    let outcome = match (&r.action, &r.reason) {
        (Some(a), _) => a.clone(),
        (None, Some(reason)) => format!("no match: {reason}"),
        (None, None) => "no match".into(),
    };
    table(&[
        vec![
            "LISTENER".into(),
            "CHAIN".into(),
            "VIRTUALSERVICE".into(),
            "ROUTE".into(),
            "ACTION".into(),
        ],
        vec![
            or_dash(r.listener.clone()),
            or_dash(r.filter_chain.map(|i| i.to_string())),
            or_dash(r.virtual_service.clone()),
            or_dash(r.route.as_ref().map(|x| {
                format!(
                    "{} {}",
                    serde_json::to_value(x.kind)
                        .unwrap_or_default()
                        .as_str()
                        .unwrap_or(""),
                    x.index
                )
            })),
            outcome,
        ],
    ]);
    if !r.destinations.is_empty() {
        println!();
        let mut rows = vec![vec!["CLUSTER".into(), "WEIGHT".into()]];
        for (i, d) in r.destinations.iter().enumerate() {
            let picked = if r.picked == Some(i) { " *" } else { "" };
            rows.push(vec![format!("{}{picked}", d.cluster), d.weight.to_string()]);
        }
        table(&rows);
    }
    if let Some(f) = &r.fallback {
        println!();
        println!("falls through to: {}", or_dash(f.cluster.clone()));
    }
}
