//! Pieces several networking kinds share: exportTo, gateway references,
//! destinations, string matches, header operations, percentages.

use crate::config::Cx;
use crate::host::Hostname;
use crate::labels::Labels;
use crate::validation;
use crate::wire::networking as w;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Who may see a VirtualService, DestinationRule or ServiceEntry (HOST-6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub enum ExportTo {
    /// Not set: the mesh default (`*` unless MeshConfig says otherwise).
    #[default]
    Default,
    /// `*`: every namespace.
    Public,
    /// The listed namespaces (`.` resolved to the object's own).
    Namespaces(Vec<String>),
    /// `~`: nobody (ServiceEntry only).
    Nobody,
}

impl ExportTo {
    /// Whether a proxy in `namespace` sees the object, given the mesh
    /// default for unset exportTo (`defaults`, empty meaning `*`) and the
    /// object's own namespace.
    pub fn visible_to(&self, namespace: &str, own_namespace: &str, defaults: &[String]) -> bool {
        match self {
            ExportTo::Default => {
                defaults.is_empty()
                    || defaults.iter().any(|d| {
                        d == "*" || d == namespace || (d == "." && namespace == own_namespace)
                    })
            }
            ExportTo::Public => true,
            ExportTo::Namespaces(ns) => ns.iter().any(|n| n == namespace),
            ExportTo::Nobody => false,
        }
    }

    /// Whether the set names `namespace` explicitly (not through `*`).
    pub fn names(&self, namespace: &str) -> bool {
        matches!(self, ExportTo::Namespaces(ns) if ns.iter().any(|n| n == namespace))
    }

    /// Converts and validates `exportTo` (VAL-VS-24): no duplicates (`.`
    /// and the own namespace count as one), `*` alone, `~` only for
    /// ServiceEntries and alone, other entries DNS labels. A DestinationRule
    /// with a workload selector may only be exported to its own namespace
    /// (VAL-DR-7).
    pub(crate) fn convert(
        v: Option<&Vec<String>>,
        service_entry: bool,
        dr_with_selector: bool,
        cx: &mut Cx<'_>,
    ) -> ExportTo {
        let Some(list) = v.filter(|l| !l.is_empty()) else {
            return ExportTo::Default;
        };
        cx.field("exportTo", |cx| {
            let mut seen: Vec<String> = Vec::new();
            for (i, e) in list.iter().enumerate() {
                cx.index(i, |cx| {
                    let key = if e == "." {
                        cx.namespace.to_string()
                    } else {
                        e.clone()
                    };
                    if seen.contains(&key) {
                        if key != *e {
                            cx.error(
                                "VAL-VS-24",
                                format!(
                                    "duplicate entries in exportTo: . and current namespace {}",
                                    cx.namespace
                                ),
                            );
                        } else {
                            cx.error(
                                "VAL-VS-24",
                                format!("duplicate entries in exportTo for entry {e}"),
                            );
                        }
                        return;
                    }
                    match key.as_str() {
                        "*" => seen.push(key),
                        "~" if service_entry => seen.push(key),
                        "~" => cx.error(
                            "VAL-VS-24",
                            "exportTo ~ (none) is not allowed for Istio configuration objects",
                        ),
                        other if validation::is_dns_label(other) => seen.push(key),
                        _ => cx.error(
                            "VAL-VS-24",
                            "only .,*, or a valid DNS 1123 label is allowed as exportTo entry",
                        ),
                    }
                });
            }
            if dr_with_selector && !seen.is_empty() {
                if seen.iter().any(|s| s == cx.namespace) {
                    if seen.len() > 1 {
                        cx.error(
                            "VAL-DR-7",
                            "destination rule with workload selector cannot have multiple entries in exportTo",
                        );
                    }
                } else {
                    cx.error(
                        "VAL-DR-7",
                        "destination rule with workload selector cannot have exportTo beyond current namespace",
                    );
                }
            }
            if seen.iter().any(|s| s == "*") && list.len() > 1 {
                cx.error(
                    "VAL-VS-24",
                    "cannot have both public (*) and non-public exportTo values for a resource",
                );
            }
            if seen.iter().any(|s| s == "~") && list.len() > 1 {
                cx.error(
                    "VAL-VS-24",
                    "cannot export service entry to no one (~) and someone",
                );
            }
            if seen.iter().any(|s| s == "*") {
                ExportTo::Public
            } else if seen.iter().any(|s| s == "~") {
                ExportTo::Nobody
            } else {
                ExportTo::Namespaces(seen)
            }
        })
    }
}

/// A gateway a VirtualService binds to (HOST-2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum GatewayRef {
    /// `mesh`: every sidecar.
    Mesh,
    /// `namespace/name`.
    Named {
        /// The Gateway's namespace.
        namespace: String,
        /// The Gateway's name.
        name: String,
    },
}

impl GatewayRef {
    /// Resolves a gateway name written in `namespace` (HOST-2): `mesh`;
    /// `gw` and `./gw` → `namespace/gw`; `ns/gw`; legacy
    /// `gw.ns.svc.cluster.local` → `ns/gw`.
    ///
    /// Istio's webhook rejects `./gw` (VAL-VS-20: `.` is not a namespace),
    /// but its resolver reads it as the config's namespace, and so does
    /// this one for configuration admitted without the webhook.
    ///
    /// ```
    /// use mesh_model::networking::GatewayRef;
    /// let named = |ns: &str, n: &str| GatewayRef::Named { namespace: ns.into(), name: n.into() };
    /// assert_eq!(GatewayRef::resolve("gw", "web"), named("web", "gw"));
    /// assert_eq!(GatewayRef::resolve("./gw", "web"), named("web", "gw"));
    /// assert_eq!(GatewayRef::resolve("edge/gw", "web"), named("edge", "gw"));
    /// assert_eq!(GatewayRef::resolve("gw.edge.svc.cluster.local", "web"), named("edge", "gw"));
    /// assert!(GatewayRef::resolve("mesh", "web").is_mesh());
    /// ```
    pub fn resolve(s: &str, namespace: &str) -> GatewayRef {
        if s == "mesh" {
            return GatewayRef::Mesh;
        }
        if let Some((ns, name)) = s.split_once('/') {
            let ns = if ns == "." { namespace } else { ns };
            return GatewayRef::Named {
                namespace: ns.to_string(),
                name: name.to_string(),
            };
        }
        let mut parts = s.split('.');
        match (parts.next(), parts.next()) {
            (Some(name), Some(ns)) => GatewayRef::Named {
                namespace: ns.to_string(),
                name: name.to_string(),
            },
            _ => GatewayRef::Named {
                namespace: namespace.to_string(),
                name: s.to_string(),
            },
        }
    }

    /// Whether this is `mesh`.
    pub fn is_mesh(&self) -> bool {
        matches!(self, GatewayRef::Mesh)
    }
}

impl fmt::Display for GatewayRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatewayRef::Mesh => f.write_str("mesh"),
            GatewayRef::Named { namespace, name } => write!(f, "{namespace}/{name}"),
        }
    }
}

/// Validates gateway names (VAL-VS-20, `validateGatewayNames`) and
/// resolves them (HOST-2).
///
/// As in Istio, the check stops at the first name without a `/` (`mesh`,
/// `gw`, or the legacy `gw.ns.svc.cluster.local`): names after it are not
/// checked. Istio checks the namespace part as a DNS label, so `./gw`,
/// which resolves at runtime, does not pass the webhook.
pub(crate) fn gateway_names(list: Option<&Vec<String>>, cx: &mut Cx<'_>) -> Vec<GatewayRef> {
    let Some(list) = list else { return Vec::new() };
    cx.field("gateways", |cx| {
        let mut checking = true;
        let mut out = Vec::new();
        for (i, g) in list.iter().enumerate() {
            if checking {
                cx.index(i, |cx| match g.split_once('/') {
                    Some((ns, name)) => {
                        if ns.is_empty() || name.is_empty() {
                            cx.error(
                                "VAL-VS-20",
                                "config namespace and gateway name cannot be empty",
                            );
                        }
                        if !validation::is_dns_label(ns) {
                            cx.error("VAL-VS-20", format!("invalid value for namespace: {ns:?}"));
                        }
                        if !validation::is_dns_label(name) {
                            cx.error(
                                "VAL-VS-20",
                                format!("invalid value for gateway name: {name:?}"),
                            );
                        }
                    }
                    None => {
                        if g.contains('.') {
                            let parts: Vec<&str> = g.split('.').collect();
                            cx.warn(
                                "VAL-VS-20",
                                format!(
                                    "using legacy gatewayName format {g:?}; prefer the <namespace>/<name> format: \"{}/{}\"",
                                    parts.get(1).unwrap_or(&""),
                                    parts[0]
                                ),
                            );
                        }
                        cx.check("VAL-VS-20", validation::fqdn(g));
                        checking = false;
                    }
                });
            }
            out.push(GatewayRef::resolve(g, cx.namespace));
        }
        out
    })
}

/// A route destination: a service host, an optional subset and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Destination {
    /// The host, resolved to an FQDN in the config's namespace (HOST-1).
    pub host: Hostname,
    /// The subset of a DestinationRule.
    pub subset: Option<String>,
    /// The port (`destination.port.number`).
    pub port: Option<u16>,
}

impl Destination {
    /// Istio's Envoy cluster name for this destination on `port`
    /// (`outbound|port|subset|host`, XDS-3).
    pub fn cluster_name(&self, port: u16) -> String {
        crate::host::cluster_name(
            port,
            self.subset.as_deref().unwrap_or(""),
            self.host.as_str(),
        )
    }

    /// Converts and validates a destination (VAL-VS-8, `validateDestination`):
    /// a host that is not `*`, a subset that is a DNS label, and a port
    /// selector, when present, with a valid number (VAL-P1).
    pub(crate) fn convert(d: &w::Destination, cx: &mut Cx<'_>, validate: bool) -> Destination {
        let host = d.host.as_deref().unwrap_or("");
        if validate {
            cx.field("host", |cx| {
                if host == "*" {
                    cx.error("VAL-VS-8", format!("invalid destination host {host}"));
                } else {
                    cx.check("VAL-VS-8", validation::wildcard_domain(host));
                }
            });
            if let Some(s) = d.subset.as_deref().filter(|s| !s.is_empty()) {
                cx.field("subset", |cx| {
                    if !validation::is_dns_label(s) {
                        cx.error("VAL-VS-8", format!("subset name is invalid: {s}"));
                    }
                });
            }
            if let Some(sel) = &d.port {
                let n = sel.number.unwrap_or(0);
                cx.field("port", |cx| {
                    cx.field("number", |cx| {
                        cx.check("VAL-P1", validation::port(n.into()))
                    })
                });
            }
        }
        let port = d.port.as_ref().and_then(|p| p.number).filter(|n| *n != 0);
        Destination {
            host: cx.resolve(host),
            subset: d.subset.clone().filter(|s| !s.is_empty()),
            port: port.and_then(|p| u16::try_from(p).ok()),
        }
    }
}

/// A compiled RE2 pattern matched against the whole input (VS-10).
///
/// Cloning shares the compiled program (route tables copy their matchers
/// into every route built from a VirtualService).
#[derive(Clone)]
pub struct FullRegex(Arc<(String, regex::Regex)>);

impl FullRegex {
    /// Compiles `pattern` anchored at both ends.
    pub fn new(pattern: &str) -> Result<FullRegex, String> {
        let regex = validation::full_match_regex(pattern)?;
        Ok(FullRegex(Arc::new((pattern.to_string(), regex))))
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.0.0
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        self.0.1.is_match(s)
    }

    /// The compiled (anchored) regex.
    pub fn regex(&self) -> &regex::Regex {
        &self.0.1
    }
}

impl PartialEq for FullRegex {
    fn eq(&self, o: &Self) -> bool {
        self.pattern() == o.pattern()
    }
}

impl Eq for FullRegex {}

impl std::hash::Hash for FullRegex {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.pattern().hash(h);
    }
}

impl fmt::Debug for FullRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "regex({:?})", self.pattern())
    }
}

impl Serialize for FullRegex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.pattern())
    }
}

/// How a string is matched (RES-7).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StringMatch {
    /// Equal.
    Exact(String),
    /// Starts with.
    Prefix(String),
    /// RE2 full match.
    Regex(FullRegex),
    /// Present with any value (`{}`; `regex: "*"` under `withoutHeaders`,
    /// VS-16).
    Present,
}

impl StringMatch {
    /// Whether `value` matches (case-sensitive).
    pub fn matches(&self, value: &str) -> bool {
        match self {
            StringMatch::Exact(e) => e == value,
            StringMatch::Prefix(p) => value.starts_with(p.as_str()),
            StringMatch::Regex(r) => r.is_match(value),
            StringMatch::Present => true,
        }
    }

    /// Converts a wire StringMatch. `where_` names the field for messages;
    /// `empty_prefix_ok` is true only for `uri` (VS-11); `star_is_presence`
    /// only under `withoutHeaders` (VS-16).
    pub(crate) fn convert(
        m: &w::StringMatch,
        where_: &str,
        empty_prefix_ok: bool,
        star_is_presence: bool,
        cx: &mut Cx<'_>,
    ) -> Option<StringMatch> {
        if let Some(e) = &m.exact {
            return Some(StringMatch::Exact(e.clone()));
        }
        if let Some(p) = &m.prefix {
            if p.is_empty() && !empty_prefix_ok {
                cx.field("prefix", |cx| {
                    cx.error(
                        "VAL-VS-9",
                        format!("{where_:?}: prefix string match should not be empty"),
                    )
                });
                return None;
            }
            return Some(StringMatch::Prefix(p.clone()));
        }
        if let Some(r) = &m.regex {
            if star_is_presence && r == "*" {
                return Some(StringMatch::Present);
            }
            return cx.field("regex", |cx| {
                if r.is_empty() {
                    cx.error(
                        "VAL-VS-9",
                        format!("{where_:?}: regex string match should not be empty"),
                    );
                    return None;
                }
                match FullRegex::new(r) {
                    Ok(re) => Some(StringMatch::Regex(re)),
                    Err(e) => {
                        cx.error("VAL-VS-9", format!("{where_:?}: {e}"));
                        None
                    }
                }
            });
        }
        Some(StringMatch::Present)
    }
}

/// Header operations for one direction (VS-29).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct HeaderOperations {
    /// Overwrite or add.
    pub set: Vec<(String, String)>,
    /// Append or add.
    pub add: Vec<(String, String)>,
    /// Remove.
    pub remove: Vec<String>,
}

impl HeaderOperations {
    /// Whether nothing is done.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// Request and response header operations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Headers {
    /// On the request to the upstream.
    pub request: HeaderOperations,
    /// On the response to the client.
    pub response: HeaderOperations,
}

impl Headers {
    /// Whether nothing is done.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }

    /// The authority the request operations set (`:authority` or `host`
    /// in `set`, else in `add`): a host rewrite, not a header (VS-29).
    pub fn authority_rewrite(&self) -> Option<&str> {
        self.request
            .set
            .iter()
            .chain(self.request.add.iter())
            .find(|(k, _)| is_authority_header(k))
            .map(|(_, v)| v.as_str())
    }

    /// Converts and validates header operations (VAL-VS-11).
    pub(crate) fn convert(h: Option<&w::Headers>, cx: &mut Cx<'_>) -> Headers {
        let Some(h) = h else {
            return Headers::default();
        };
        cx.field("headers", |cx| Headers {
            request: cx.field("request", |cx| ops(h.request.as_ref(), true, cx)),
            response: cx.field("response", |cx| ops(h.response.as_ref(), false, cx)),
        })
    }
}

/// Whether a header name is an authority header (`:authority`, `host`).
pub(crate) fn is_authority_header(k: &str) -> bool {
    k.eq_ignore_ascii_case(":authority") || k.eq_ignore_ascii_case("host")
}

/// `ValidateHTTPHeaderWithAuthorityOperationName` (request `set`/`add`):
/// an authority header is a host rewrite; other `:` names are rejected.
fn authority_op_name(k: &str) -> Result<(), String> {
    if k.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if k.starts_with(':') && !is_authority_header(k) {
        return Err(format!(
            "invalid header {k:?}: header cannot have \":\" prefix"
        ));
    }
    Ok(())
}

/// `ValidateHTTPHeaderOperationName` (request `remove`, every response
/// operation): neither `host` nor a `:` name.
fn op_name(k: &str) -> Result<(), String> {
    if k.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if k.eq_ignore_ascii_case("host") {
        return Err(format!("invalid header {k:?}: cannot set Host header"));
    }
    if k.starts_with(':') {
        return Err(format!(
            "invalid header {k:?}: header cannot have \":\" prefix"
        ));
    }
    Ok(())
}

fn ops(o: Option<&w::HeaderOperations>, request: bool, cx: &mut Cx<'_>) -> HeaderOperations {
    let Some(o) = o else {
        return HeaderOperations::default();
    };
    let mut out = HeaderOperations::default();
    for (field, src, dst) in [("set", &o.set, &mut out.set), ("add", &o.add, &mut out.add)] {
        if let Some(m) = src {
            cx.field(field, |cx| {
                for (k, v) in m {
                    cx.key(k, |cx| {
                        let name = if request {
                            authority_op_name(k)
                        } else {
                            op_name(k)
                        };
                        cx.check("VAL-VS-11", name);
                        cx.check("VAL-VS-11", validation::header_value(v));
                    });
                    dst.push((k.clone(), v.clone()));
                }
            });
        }
    }
    if let Some(r) = &o.remove {
        cx.field("remove", |cx| {
            for (i, k) in r.iter().enumerate() {
                cx.index(i, |cx| cx.check("VAL-VS-11", op_name(k)));
                out.remove.push(k.clone());
            }
        });
    }
    out
}

/// Converts a duration field, validating it (VAL-D1); reports and returns
/// `None` on error.
pub(crate) fn duration_field(
    v: Option<&String>,
    field: &'static str,
    code: &'static str,
    cx: &mut Cx<'_>,
) -> Option<Duration> {
    let s = v?;
    cx.field(field, |cx| match crate::duration::parse_duration(s) {
        Ok(d) => {
            if cx.check(code, validation::duration(d)) {
                Some(d)
            } else {
                None
            }
        }
        Err(e) => {
            cx.error(code, e.to_string());
            None
        }
    })
}

/// A percentage `{value}` validated as Istio's `validatePercentage`
/// (0, or 0.0001..=100).
pub(crate) fn percentage(
    p: Option<&w::Percent>,
    field: &'static str,
    code: &'static str,
    cx: &mut Cx<'_>,
) -> Option<f64> {
    let p = p?;
    let v = p.value.unwrap_or(0.0);
    if !(0.0..=100.0).contains(&v) || (v > 0.0 && v < 0.0001) {
        cx.field(field, |cx| {
            cx.error(
                code,
                format!("percentage {v} is neither 0.0, nor in range [0.0001, 100.0]"),
            )
        });
    }
    Some(v)
}

/// A mirror percentage, checked only to lie in 0..=100 (Istio's
/// `validateHTTPRoute` and `validateHTTPMirrors`; VAL-VS-18).
pub(crate) fn mirror_percentage(
    p: Option<&w::Percent>,
    what: &str,
    cx: &mut Cx<'_>,
) -> Option<f64> {
    let v = p?.value.unwrap_or(0.0);
    if v > 100.0 {
        cx.error(
            "VAL-VS-18",
            format!("{what} must have a max value of 100 (it has {v:.6})"),
        );
    }
    if v < 0.0 {
        cx.error(
            "VAL-VS-18",
            format!("{what} must have a min value of 0 (it has {v:.6})"),
        );
    }
    Some(v)
}

/// Validates `sourceLabels` (label keys and values).
pub(crate) fn labels(
    l: Option<&std::collections::BTreeMap<String, String>>,
    field: &'static str,
    code: &'static str,
    cx: &mut Cx<'_>,
) -> Labels {
    let Some(l) = l else { return Labels::new() };
    cx.field(field, |cx| {
        for (k, v) in l {
            cx.key(k, |cx| {
                cx.check(code, validation::label_key(k));
                cx.check(code, validation::label_value(v));
            });
        }
    });
    l.clone()
}

/// `validateWorkloadSelector` (`matchLabels` of a selector): no empty key,
/// no `*` in keys or values; no labels at all is a warning.
pub(crate) fn workload_selector(
    labels: Option<&std::collections::BTreeMap<String, String>>,
    code: &'static str,
    cx: &mut Cx<'_>,
) -> Labels {
    let labels = labels.cloned().unwrap_or_default();
    cx.field("matchLabels", |cx| {
        for (k, v) in &labels {
            cx.key(k, |cx| {
                if k.is_empty() {
                    cx.error(
                        code,
                        format!("empty key is not supported in selector: \"{k}={v}\""),
                    );
                }
                if k.contains('*') || v.contains('*') {
                    cx.error(
                        code,
                        format!("wildcard is not supported in selector: \"{k}={v}\""),
                    );
                }
            });
        }
    });
    if labels.is_empty() {
        cx.warn(code, "workload selector specified without labels");
    }
    labels
}
