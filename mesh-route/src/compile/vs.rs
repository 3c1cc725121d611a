//! VirtualServices as a proxy sees them: delegates merged into their roots
//! (HOST-9), indexed by gateway and visibility (HOST-6, HOST-7,
//! `VirtualServicesForGateway`).

use crate::config::{ConfigRef, DelegateOrigin};
use mesh_model::config::Config;
use mesh_model::labels::Labels;
use mesh_model::networking::{
    ExportTo, GatewayRef, HttpAction, HttpMatchRequest, HttpRoute, StringMatch, VirtualService,
};
use mesh_model::snapshot::Snapshot;
use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::Arc;

/// A root VirtualService with its delegates merged in.
#[derive(Debug, Clone)]
pub(crate) struct MergedVs {
    pub cfg: Arc<Config<VirtualService>>,
    pub key: Arc<ConfigRef>,
    pub http: Vec<MergedRoute>,
    /// The namespaces it is exported to (`*` for all).
    pub export: BTreeSet<String>,
}

impl MergedVs {
    pub(crate) fn vs(&self) -> &VirtualService {
        &self.cfg.spec
    }

    pub(crate) fn namespace(&self) -> &str {
        &self.key.namespace
    }

    /// The HTTP route of `mr`: merged with a delegate, or the root's own.
    pub(crate) fn route<'a>(&'a self, mr: &'a MergedRoute) -> &'a HttpRoute {
        match &mr.merged {
            Some(r) => r,
            None => &self.cfg.spec.http[mr.route_index],
        }
    }
}

/// One HTTP route of a merged VirtualService.
#[derive(Debug, Clone)]
pub(crate) struct MergedRoute {
    /// The route merged with a delegate's (HOST-9); `None` for the root's
    /// own route at `route_index`.
    pub merged: Option<HttpRoute>,
    /// The index in the root's `http` list.
    pub route_index: usize,
    pub delegate: Option<DelegateOrigin>,
}

/// The export set of a VirtualService: `exportTo`, else the mesh default
/// (`defaultVirtualServiceExportTo`, `*` when unset), with `.` as the own
/// namespace (HOST-6).
fn export_set(e: &ExportTo, own: &str, defaults: &[String]) -> BTreeSet<String> {
    match e {
        ExportTo::Public => ["*".to_string()].into(),
        ExportTo::Namespaces(ns) => ns.iter().cloned().collect(),
        ExportTo::Nobody => BTreeSet::new(),
        ExportTo::Default => {
            if defaults.is_empty() {
                ["*".to_string()].into()
            } else {
                defaults
                    .iter()
                    .map(|d| if d == "." { own.to_string() } else { d.clone() })
                    .collect()
            }
        }
    }
}

/// The merged VirtualServices of a snapshot, oldest first, with the
/// positions of those bound to each gateway (`mesh` for those that name
/// none), so that finding a gateway's VirtualServices does not scan them
/// all.
#[derive(Debug, Default)]
pub(crate) struct VsSet {
    all: Vec<MergedVs>,
    /// Looked up once per gateway server for every compile, never walked:
    /// a hash map, with foldhash's per-process random seed rather than
    /// SipHash.
    by_gateway: foldhash::HashMap<GatewayRef, Vec<usize>>,
}

impl Deref for VsSet {
    type Target = [MergedVs];

    fn deref(&self) -> &[MergedVs] {
        &self.all
    }
}

impl VsSet {
    fn new(all: Vec<MergedVs>) -> VsSet {
        let mut by_gateway: foldhash::HashMap<GatewayRef, Vec<usize>> = Default::default();
        for (i, v) in all.iter().enumerate() {
            let vs = v.vs();
            if vs.gateways.is_empty() {
                by_gateway.entry(GatewayRef::Mesh).or_default().push(i);
            }
            for g in &vs.gateways {
                let list = by_gateway.entry(g.clone()).or_default();
                // A gateway named twice binds once.
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        VsSet { all, by_gateway }
    }

    /// The VirtualServices bound to `gateway`, oldest first.
    fn bound_to<'v>(&'v self, gateway: &GatewayRef) -> impl Iterator<Item = &'v MergedVs> {
        self.by_gateway
            .get(gateway)
            .into_iter()
            .flatten()
            .map(|&i| &self.all[i])
    }
}

/// Every root VirtualService of the snapshot, oldest first, delegates
/// merged (HOST-9; VSM `mergeVirtualServices`).
pub(crate) fn merged_virtual_services(snapshot: &Snapshot) -> VsSet {
    VsSet::new(
        snapshot
            .virtual_services()
            .filter_map(|cfg| merged_virtual_service(snapshot, cfg))
            .collect(),
    )
}

/// One root VirtualService with its delegates merged in; `None` for a
/// delegate, which applies only through its roots.
pub(crate) fn merged_virtual_service(
    snapshot: &Snapshot,
    cfg: &Arc<Config<VirtualService>>,
) -> Option<MergedVs> {
    let defaults = &snapshot.mesh().default_virtual_service_export_to;
    let vs = &cfg.spec;
    if vs.is_delegate() {
        return None;
    }
    let ns = cfg.meta.namespace();
    let mut http = Vec::new();
    for (i, r) in vs.http.iter().enumerate() {
        let HttpAction::Delegate { name, namespace } = &r.action else {
            http.push(MergedRoute {
                merged: None,
                route_index: i,
                delegate: None,
            });
            continue;
        };
        // A missing delegate, or one not exported to the root's
        // namespace, drops only this root route.
        let Some(d) = snapshot.virtual_service(namespace, name) else {
            continue;
        };
        if !d.spec.is_delegate() {
            continue;
        }
        let dexport = export_set(&d.spec.export_to, namespace, defaults);
        if !dexport.contains("*") && !dexport.contains(ns) {
            continue;
        }
        for (j, leaf) in d.spec.http.iter().enumerate() {
            if let Some(merged) = merge_route(r, leaf) {
                http.push(MergedRoute {
                    merged: Some(merged),
                    route_index: i,
                    delegate: Some(DelegateOrigin {
                        virtual_service: ConfigRef::new(namespace, name),
                        route_index: j,
                    }),
                });
            }
        }
    }
    Some(MergedVs {
        key: Arc::new(ConfigRef::new(ns, cfg.meta.name())),
        export: export_set(&vs.export_to, ns, defaults),
        cfg: cfg.clone(),
        http,
    })
}

/// `mergeHTTPRoute`: leaf fields win, unset ones come from the root;
/// `None` when a leaf match conflicts with every root match.
fn merge_route(root: &HttpRoute, leaf: &HttpRoute) -> Option<HttpRoute> {
    let matches = merge_matches(&root.matches, &leaf.matches)?;
    let mut out = leaf.clone();
    out.matches = matches;
    out.name = match (&root.name, &leaf.name) {
        (r, None) => r.clone(),
        (Some(r), Some(l)) => Some(format!("{r}-{l}")),
        (None, Some(l)) => Some(l.clone()),
    };
    if out.rewrite.is_none() {
        out.rewrite = root.rewrite.clone();
    }
    // A delegating root route has no redirect or direct response of its
    // own (VAL-VS-5), so the leaf's action stands.
    if out.timeout.is_none() {
        out.timeout = root.timeout;
    }
    if out.retries.is_none() {
        out.retries = root.retries.clone();
    }
    if out.fault.is_none() {
        out.fault = root.fault.clone();
    }
    if out.mirrors.is_empty() {
        out.mirrors = root.mirrors.clone();
    }
    if out.cors.is_none() {
        out.cors = root.cors.clone();
    }
    if out.headers.is_empty() {
        out.headers = root.headers.clone();
    }
    Some(out)
}

/// `mergeHTTPMatchRequests`.
fn merge_matches(
    root: &[HttpMatchRequest],
    leaf: &[HttpMatchRequest],
) -> Option<Vec<HttpMatchRequest>> {
    if root.is_empty() {
        return Some(leaf.to_vec());
    }
    if leaf.is_empty() {
        return Some(root.to_vec());
    }
    let mut out = Vec::new();
    for l in leaf {
        let mut found = false;
        for r in root {
            if has_conflict(r, l) {
                continue;
            }
            out.push(merge_match(r, l));
            found = true;
        }
        if !found {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

fn merge_map(
    root: &[(String, StringMatch)],
    leaf: &[(String, StringMatch)],
) -> Vec<(String, StringMatch)> {
    let mut out: Vec<(String, StringMatch)> = root.to_vec();
    for (k, v) in leaf {
        match out.iter_mut().find(|(rk, _)| rk == k) {
            Some(slot) => slot.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn merge_labels(root: &Labels, leaf: &Labels) -> Labels {
    let mut out = root.clone();
    out.extend(leaf.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// `mergeHTTPMatchRequest`.
fn merge_match(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> HttpMatchRequest {
    let mut out = leaf.clone();
    out.name = match (&root.name, &leaf.name) {
        (r, None) => r.clone(),
        (Some(r), Some(l)) if !r.is_empty() && !l.is_empty() => Some(format!("{r}-{l}")),
        (Some(r), Some(l)) if l.is_empty() => Some(r.clone()),
        (_, l) => l.clone(),
    };
    if out.uri.is_none() {
        out.uri = root.uri.clone();
    }
    if out.scheme.is_none() {
        out.scheme = root.scheme.clone();
    }
    if out.method.is_none() {
        out.method = root.method.clone();
    }
    if out.authority.is_none() {
        out.authority = root.authority.clone();
    }
    out.headers = merge_map(&root.headers, &leaf.headers);
    out.without_headers = merge_map(&root.without_headers, &leaf.without_headers);
    out.query_params = merge_map(&root.query_params, &leaf.query_params);
    if out.port.is_none() {
        out.port = root.port;
    }
    out.source_labels = merge_labels(&root.source_labels, &leaf.source_labels);
    if out.source_namespace.is_none() {
        out.source_namespace = root.source_namespace.clone();
    }
    if out.gateways.is_empty() {
        out.gateways = root.gateways.clone();
    }
    if out.stat_prefix.is_none() {
        out.stat_prefix = root.stat_prefix.clone();
    }
    out
}

/// The parts of a StringMatch `stringMatchConflict` looks at (Go's
/// `GetExact`/`GetPrefix`/`GetRegex`: empty means unset).
fn parts(m: &StringMatch) -> (&str, &str, &str) {
    match m {
        StringMatch::Exact(e) => (e, "", ""),
        StringMatch::Prefix(p) => ("", p, ""),
        StringMatch::Regex(r) => ("", "", r.pattern()),
        StringMatch::Present => ("", "", ""),
    }
}

/// `stringMatchConflict` (HOST-9).
fn string_conflict(root: Option<&StringMatch>, leaf: Option<&StringMatch>) -> bool {
    let (Some(root), Some(leaf)) = (root, leaf) else {
        return false;
    };
    let (re, rp, rr) = parts(root);
    let (le, lp, lr) = parts(leaf);
    if !rr.is_empty() && (!lr.is_empty() || !lp.is_empty() || !le.is_empty()) {
        return true;
    }
    if !lr.is_empty() && (!rr.is_empty() || !rp.is_empty() || !re.is_empty()) {
        return true;
    }
    if !re.is_empty() {
        if !lp.is_empty() {
            return true;
        }
        return le != re;
    }
    if !rp.is_empty() {
        if !lp.is_empty() {
            return !lp.starts_with(rp);
        }
        if !le.is_empty() {
            return !le.starts_with(rp);
        }
    }
    true
}

fn get<'a>(m: &'a [(String, StringMatch)], k: &str) -> Option<&'a StringMatch> {
    m.iter().find(|(n, _)| n == k).map(|(_, v)| v)
}

/// `hasConflict` (HOST-9).
fn has_conflict(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> bool {
    let pairs = [
        (&root.uri, &leaf.uri),
        (&root.scheme, &leaf.scheme),
        (&root.method, &leaf.method),
        (&root.authority, &leaf.authority),
    ];
    for (r, l) in pairs {
        if string_conflict(r.as_ref(), l.as_ref()) {
            return true;
        }
    }
    for (k, v) in &leaf.headers {
        if string_conflict(get(&root.headers, k), Some(v)) {
            return true;
        }
    }
    for (k, v) in &leaf.without_headers {
        if string_conflict(get(&root.without_headers, k), Some(v)) {
            return true;
        }
    }
    for (k, v) in &leaf.query_params {
        if string_conflict(get(&root.query_params, k), Some(v)) {
            return true;
        }
    }
    if root.ignore_uri_case != leaf.ignore_uri_case {
        return true;
    }
    if let (Some(r), Some(l)) = (root.port, leaf.port)
        && r != l
    {
        return true;
    }
    if let Some(rn) = &root.source_namespace
        && leaf.source_namespace.as_ref() != Some(rn)
    {
        return true;
    }
    for (k, v) in &leaf.source_labels {
        if root.source_labels.get(k).is_some_and(|rv| rv != v) {
            return true;
        }
    }
    if !root.gateways.is_empty() && !leaf.gateways.is_empty() {
        if root.gateways.len() < leaf.gateways.len() {
            return true;
        }
        if leaf.gateways.iter().any(|g| !root.gateways.contains(g)) {
            return true;
        }
    }
    false
}

/// The VirtualServices bound to `gateway` that a proxy in `namespace`
/// sees, in Istio's order (HOST-7, `VirtualServicesForGateway`): private to
/// the namespace, then exported to it, then public; each oldest first.
pub(crate) fn for_gateway<'v>(
    all: &'v VsSet,
    namespace: &str,
    gateway: &GatewayRef,
) -> Vec<&'v MergedVs> {
    debug_assert!(all.bound_to(gateway).all(|v| v.vs().applies_to(gateway)));
    let mut private = Vec::new();
    let mut exported = Vec::new();
    let mut public = Vec::new();
    for v in all.bound_to(gateway) {
        if v.export.contains("*") {
            public.push(v);
        } else if v.export.contains(namespace) {
            if v.namespace() == namespace {
                private.push(v);
            } else {
                exported.push(v);
            }
        }
    }
    if private.is_empty() && exported.is_empty() {
        return public;
    }
    private.extend(exported);
    private.extend(public);
    private
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_model::networking::FullRegex;

    fn m(uri: Option<StringMatch>) -> HttpMatchRequest {
        HttpMatchRequest {
            uri,
            ..Default::default()
        }
    }

    /// HOST-9: conflict rules of `stringMatchConflict`.
    #[test]
    fn conflicts() {
        let p = |s: &str| Some(StringMatch::Prefix(s.into()));
        let e = |s: &str| Some(StringMatch::Exact(s.into()));
        let r = |s: &str| Some(StringMatch::Regex(FullRegex::new(s).unwrap()));
        assert!(!has_conflict(&m(p("/a")), &m(p("/a/b"))));
        assert!(has_conflict(&m(p("/a/b")), &m(p("/a"))));
        assert!(!has_conflict(&m(p("/a")), &m(e("/a/x"))));
        assert!(has_conflict(&m(e("/a")), &m(p("/a"))));
        assert!(has_conflict(&m(e("/a")), &m(e("/b"))));
        assert!(!has_conflict(&m(e("/a")), &m(e("/a"))));
        assert!(has_conflict(&m(r("/a.*")), &m(p("/a"))));
        assert!(has_conflict(&m(p("/a")), &m(r("/a.*"))));
        assert!(!has_conflict(&m(None), &m(r("/a.*"))));
        assert!(!has_conflict(&m(p("/a")), &m(None)));
    }
}
