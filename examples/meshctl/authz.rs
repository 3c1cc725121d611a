//! `meshctl authz`: whether a request may reach a workload, as its sidecar
//! decides it (MESHCTL.md).

use crate::common::{Fatal, Format, InputArgs, WorkloadArgs, parse_kv, print_value};
use mesh_authz::engine::{Authz, AuthzOptions, Decision, ExplainEntry, MatchedRule, ShadowResult};
use mesh_authz::jwt::{JwksSources, JwtOutcome, WorkloadJwt};
use mesh_authz::peer::effective_mtls;
use mesh_authz::request::{JwtPayload, Request};
use mesh_model::diag::Severity;
use mesh_model::security::MtlsMode;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `authz`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    inputs: InputArgs,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// The workload (target) port the request arrives on.
    #[arg(long)]
    port: Option<u16>,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// Path, may carry `?query`.
    #[arg(long, default_value = "/")]
    path: String,
    /// A request header `name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// `:authority`.
    #[arg(long)]
    host: Option<String>,
    /// The scheme (not an authorization attribute; accepted for symmetry
    /// with `route`).
    #[arg(long)]
    scheme: Option<String>,
    /// The peer's principal from its certificate (`cluster.local/ns/NS/sa/SA`);
    /// without it the peer is plaintext.
    #[arg(long)]
    source_principal: Option<String>,
    /// The peer's address.
    #[arg(long)]
    source_ip: Option<IpAddr>,
    /// The original client address (X-Forwarded-For / PROXY protocol).
    #[arg(long)]
    remote_ip: Option<IpAddr>,
    /// The workload's own address.
    #[arg(long)]
    destination_ip: Option<IpAddr>,
    /// The validated JWT's principal `ISS/SUB`.
    #[arg(long)]
    request_principal: Option<String>,
    /// A validated JWT claim `name=value`; nested as `a.b=value`
    /// (repeatable; a repeated name makes a list).
    #[arg(long = "claim")]
    claims: Vec<String>,
    /// A validated JWT audience (repeatable).
    #[arg(long = "audience")]
    audiences: Vec<String>,
    /// The TLS server name.
    #[arg(long)]
    sni: Option<String>,
    /// A TCP connection: HTTP attributes are absent.
    #[arg(long)]
    tcp: bool,
    /// A JWT to validate with the workload's RequestAuthentications.
    #[arg(long)]
    jwt: Option<String>,
    /// A JWKS file for the rules that name a `jwksUri`.
    #[arg(long)]
    jwks: Option<String>,
    /// The time for JWT validation, in seconds since the Unix epoch (default:
    /// now).
    #[arg(long)]
    now: Option<u64>,
    /// Allow more than one CUSTOM provider per workload
    /// (`PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS`).
    #[arg(long)]
    multiple_custom_providers: bool,
}

pub fn run(args: Args) -> ExitCode {
    match run_inner(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.exit(),
    }
}

fn rule_json(r: &MatchedRule<'_>) -> Value {
    json!({"policy": r.policy.id(), "action": r.policy.action().as_str(), "rule": r.rule})
}

fn shadow_json(s: &ShadowResult<'_>) -> Value {
    json!({
        "action": s.action.as_str(),
        "result": s.verdict.to_string(),
        "policy": s.rule.map(|r| r.policy.id()),
        "rule": s.rule.map(|r| r.rule),
    })
}

/// Builds `{a: {b: value}}` from `a.b=value`; repeated names make lists.
fn insert_claim(claims: &mut serde_json::Map<String, Value>, path: &[&str], value: &str) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        match claims.get_mut(*first) {
            Some(Value::Array(a)) => a.push(value.into()),
            Some(v) => *v = Value::Array(vec![v.take(), value.into()]),
            None => {
                claims.insert((*first).to_string(), value.into());
            }
        }
        return;
    }
    let entry = claims
        .entry((*first).to_string())
        .or_insert_with(|| Value::Object(Default::default()));
    if !entry.is_object() {
        *entry = Value::Object(Default::default());
    }
    if let Value::Object(m) = entry {
        insert_claim(m, rest, value);
    }
}

fn run_inner(args: &Args) -> Result<(), Fatal> {
    let loaded = args.inputs.load()?;
    let snapshot = &loaded.snapshot;
    let wl = args.workload.resolve(snapshot)?;
    let mut warnings: Vec<String> = Vec::new();
    for d in &loaded.diagnostics {
        if d.severity == Severity::Error
            && matches!(
                d.kind.as_deref(),
                Some("AuthorizationPolicy" | "RequestAuthentication" | "PeerAuthentication")
            )
        {
            warnings.push(format!(
                "{} {}/{} was rejected and is not in effect: {}",
                d.kind.as_deref().unwrap_or(""),
                d.namespace.as_deref().unwrap_or(""),
                d.name.as_deref().unwrap_or(""),
                d.message
            ));
        }
    }

    let authz = Authz::compile(
        snapshot,
        &AuthzOptions {
            multiple_custom_providers: args.multiple_custom_providers,
        },
    );
    let w = authz.workload(&wl.namespace, &wl.labels);
    for p in w.policies() {
        for msg in p.warnings() {
            warnings.push(format!("AuthorizationPolicy {}: {msg}", p.id()));
        }
    }

    // The request.
    let normalized_path = mesh_route::request::normalize_path(&args.path);
    let mut req = if args.tcp {
        Request::tcp()
    } else {
        // RBAC sees the path after Envoy's normalization.
        Request::http(&args.method, &normalized_path)
    };
    if let Some(h) = &args.host {
        req = req.with_host(h);
    }
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| Fatal(format!("--header {h:?}: expected 'name: value'")))?;
        req = req.with_header(k.trim(), v.trim());
    }
    if let Some(p) = args.port {
        req = req.with_port(p);
    }
    if let Some(p) = &args.source_principal {
        req = req.with_peer_principal(p);
    }
    if let Some(ip) = args.source_ip {
        req = req.with_source_ip(ip);
    }
    if let Some(ip) = args.remote_ip {
        req = req.with_remote_ip(ip);
    }
    if let Some(ip) = args.destination_ip {
        req = req.with_destination_ip(ip);
    }
    if let Some(s) = &args.sni {
        req = req.with_sni(s);
    }

    // The JWT: given as validated attributes, or as a token to validate.
    let attrs =
        args.request_principal.is_some() || !args.claims.is_empty() || !args.audiences.is_empty();
    if attrs {
        let mut p = args
            .request_principal
            .as_deref()
            .map(JwtPayload::from_request_principal)
            .unwrap_or_default();
        for c in &args.claims {
            let (k, v) = parse_kv(c)?;
            let path: Vec<&str> = k.split('.').collect();
            insert_claim(p.claims_mut(), &path, &v);
        }
        if !args.audiences.is_empty() {
            p.claims_mut()
                .insert("aud".into(), Value::from(args.audiences.clone()));
        }
        req = req.with_jwt(Arc::new(p));
    }
    let mut jwt_reason = None;
    let mut sources = JwksSources::new();
    if let Some(f) = &args.jwks {
        let text = std::fs::read_to_string(f).map_err(|e| Fatal(format!("{f}: {e}")))?;
        for ra in snapshot.request_authentications() {
            for r in &ra.spec.jwt_rules {
                for uri in [&r.jwks_uri, &r.legacy_jwks_uri].into_iter().flatten() {
                    sources.insert(uri, &text);
                }
                if r.jwks_uri.is_none() && r.legacy_jwks_uri.is_none() && r.jwks.is_none() {
                    sources.insert(r.issuer.as_deref().unwrap_or(""), &text);
                }
            }
        }
    }
    let jwt = WorkloadJwt::for_workload(snapshot, &wl.namespace, &wl.labels, &sources);
    for r in jwt.rules() {
        if let Some(e) = r.key_error() {
            warnings.push(format!(
                "RequestAuthentication {} issuer {:?}: {e}; every token is rejected",
                r.policy, r.issuer
            ));
        }
    }
    if !attrs && !args.tcp {
        if let Some(t) = &args.jwt {
            req = req.with_header("authorization", &format!("Bearer {t}"));
        }
        let now = args.now.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
        let outcome = match &args.jwt {
            Some(t) if !jwt.is_empty() => jwt.validate(t, now),
            _ => jwt.authenticate(&req, now),
        };
        match &outcome {
            JwtOutcome::Invalid(e) => jwt_reason = Some(e.to_string()),
            JwtOutcome::NotApplicable if args.jwt.is_some() => warnings.push(
                "--jwt: no RequestAuthentication applies to the workload, so the proxy has no JWT filter and ignores the token".into(),
            ),
            _ => {}
        }
        req = outcome.apply(req);
    } else if args.jwt.is_some() {
        warnings.push("--jwt is ignored with --tcp or with JWT attribute flags".into());
    }

    let (d, explain) = w.explain(&req);
    if d.jwt_ignored && attrs {
        warnings.push(
            "--request-principal, --claim and --audience are ignored: no RequestAuthentication applies to the workload, so the proxy has no JWT filter".into(),
        );
    }
    let mtls = effective_mtls(snapshot, &wl.namespace, &wl.labels, args.port);
    if mtls.mode == MtlsMode::Strict && args.source_principal.is_none() {
        warnings.push(format!(
            "the workload's mTLS mode is STRICT ({}): a plaintext peer is refused before authorization",
            mtls.policy.as_deref().unwrap_or("default")
        ));
    }
    if mtls.mode == MtlsMode::Disable && args.source_principal.is_some() {
        warnings
            .push("the workload's mTLS mode is DISABLE: the proxy sees no peer identity".into());
    }

    let reason = match (d.reason, &jwt_reason) {
        (mesh_authz::engine::Reason::InvalidJwt, Some(why)) => format!("invalid JWT: {why}"),
        (r, _) => r.describe().to_string(),
    };
    let dry_run: Vec<Value> = [d.dry_run_deny, d.dry_run_allow]
        .iter()
        .flatten()
        .map(shadow_json)
        .collect();
    let out = json!({
        "decision": d.verdict.to_string(),
        "policy": d.rule.map(|r| r.policy.id()),
        "action": d.action().map(|a| a.as_str()),
        "rule": d.rule.map(|r| r.rule),
        "custom": d.custom.iter().map(|c| json!({"provider": c.provider, "policy": c.rule.policy.id(), "rule": c.rule.rule})).collect::<Vec<_>>(),
        "audit": d.audit.iter().map(rule_json).collect::<Vec<_>>(),
        "dryRun": dry_run,
        "reason": if d.reason == mesh_authz::engine::Reason::InvalidJwt { "invalid JWT".to_string() } else { reason.clone() },
        "status": d.deny_status(),
        "warnings": warnings,
        "workload": {"namespace": wl.namespace, "name": wl.name, "serviceAccount": wl.service_account, "labels": wl.labels},
        "explain": explain,
    });
    match args.inputs.output {
        Format::Text => print_text(&d, &reason, &explain, &warnings),
        f => print_value(f, &out),
    }
    Ok(())
}

fn print_text(d: &Decision<'_>, reason: &str, explain: &[ExplainEntry], warnings: &[String]) {
    println!("DECISION  {}", d.verdict);
    match d.rule {
        Some(r) => println!(
            "POLICY    {} (action {}, rule {})",
            r.policy.id(),
            r.policy.action(),
            r.rule
        ),
        None => println!("POLICY    -"),
    }
    println!("REASON    {reason}");
    if let Some(s) = d.deny_status() {
        println!("STATUS    {s}");
    }
    for c in d.custom.iter() {
        println!(
            "CUSTOM    provider {} (policy {}, rule {})",
            c.provider,
            c.rule.policy.id(),
            c.rule.rule
        );
    }
    if let Some(a) = d.audit {
        println!("AUDIT     {} (rule {})", a.policy.id(), a.rule);
    }
    for s in [d.dry_run_deny, d.dry_run_allow].iter().flatten() {
        let by = s
            .rule
            .map(|r| format!(" by {} rule {}", r.policy.id(), r.rule))
            .unwrap_or_default();
        println!("DRY-RUN   {} policies would {}{by}", s.action, s.verdict);
    }
    for w in warnings {
        println!("WARNING   {w}");
    }
    if explain.is_empty() {
        return;
    }
    println!();
    let rows: Vec<[String; 5]> = explain
        .iter()
        .map(|e| {
            let result = serde_json::to_value(e.result)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            [
                e.policy.clone(),
                format!("{}{}", e.action, if e.dry_run { " (dry-run)" } else { "" }),
                e.rule.map_or("-".to_string(), |r| r.to_string()),
                result,
                e.reasons.join("; "),
            ]
        })
        .collect();
    let headers = ["POLICY", "ACTION", "RULE", "RESULT", "WHY"];
    let mut widths = headers.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate().take(4) {
            widths[i] = widths[i].max(c.len());
        }
    }
    print_row(&widths, headers);
    for r in &rows {
        print_row(&widths, [&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
}

fn print_row(widths: &[usize; 5], c: [&str; 5]) {
    let line = format!(
        "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
        c[0],
        c[1],
        c[2],
        c[3],
        c[4],
        w0 = widths[0],
        w1 = widths[1],
        w2 = widths[2],
        w3 = widths[3]
    );
    println!("{}", line.trim_end());
}
