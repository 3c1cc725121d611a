//! DestinationRule resolution: which rule applies to a destination for a
//! client (DR-1), how same-host rules merge (DR-2, DR-10), the effective
//! traffic policy for a port and subset (DR-4), and the endpoints a subset
//! selects (DR-3).
//!
//! ```
//! use mesh_model::{load, LoadOptions, host::Hostname};
//! use mesh_route::DestinationRules;
//! let yaml = r#"
//! apiVersion: networking.istio.io/v1
//! kind: DestinationRule
//! metadata: {name: reviews, namespace: bookinfo}
//! spec:
//!   host: reviews
//!   subsets:
//!   - {name: v1, labels: {version: v1}}
//! "#;
//! let snap = load(&[("dr.yaml", yaml)], &LoadOptions::default()).snapshot;
//! let drs = DestinationRules::new(&snap);
//! let host = Hostname::new("reviews.bookinfo.svc.cluster.local");
//! let rule = drs.for_client("default", &Default::default(), &host, "bookinfo").unwrap();
//! assert_eq!(rule.from[0].name, "reviews");
//! assert!(rule.rule.subset("v1").is_some());
//! ```

use crate::config::{ConfigRef, HashPolicy};
use mesh_model::duration::parse_duration;
use mesh_model::host::Hostname;
use mesh_model::labels::Labels;
use mesh_model::networking::{Destination, DestinationRule, ExportTo, Subset, TrafficPolicy};
use mesh_model::snapshot::{Endpoint, Service, Snapshot};
use mesh_model::wire::networking::ConsistentHashLb;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// One entry of Istio's consolidated DestinationRule index: a rule, or
/// several same-host rules merged (DR-2, DR-10).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsolidatedRule {
    /// The host.
    pub host: Hostname,
    /// The merged rule: subsets of every merged rule (first of a name
    /// kept), the top-level traffic policy of the oldest rule that has one.
    pub rule: DestinationRule,
    /// The rules merged into it, oldest first.
    pub from: Vec<ConfigRef>,
    /// The namespace of the first rule.
    pub namespace: String,
    /// The export set the entry was filed with (empty: unset).
    pub export_to: BTreeSet<String>,
}

impl ConsolidatedRule {
    /// The effective policy for service port `port` and `subset` (DR-4;
    /// `GetPortLevelTrafficPolicy`, `MergeSubsetTrafficPolicy`): a matching
    /// port-level entry replaces the top-level policy (only its load
    /// balancer, connection pool, outlier detection and TLS); a subset's
    /// policy then overrides field by field, wholesale for those four
    /// fields when the subset has a matching port-level entry.
    pub fn effective_policy(&self, port: u16, subset: Option<&str>) -> Option<TrafficPolicy> {
        let original = port_level(self.rule.traffic_policy.as_ref(), port).map(|(p, _)| p);
        let sub = subset
            .and_then(|s| self.rule.subset(s))
            .and_then(|s| s.traffic_policy.as_ref());
        let Some(sub) = sub else {
            return original;
        };
        let (sub, has_port_level) = port_level(Some(sub), port)?;
        let Some(mut merged) = original else {
            return Some(sub);
        };
        if sub.connection_pool.is_some() || has_port_level {
            merged.connection_pool = sub.connection_pool;
        }
        if sub.outlier_detection.is_some() || has_port_level {
            merged.outlier_detection = sub.outlier_detection;
        }
        if sub.load_balancer.is_some() || has_port_level {
            merged.load_balancer = sub.load_balancer;
        }
        if sub.tls.is_some() || has_port_level {
            merged.tls = sub.tls;
        }
        if sub.tunnel.is_some() {
            merged.tunnel = sub.tunnel;
        }
        if sub.proxy_protocol.is_some() {
            merged.proxy_protocol = sub.proxy_protocol;
        }
        if sub.retry_budget.is_some() {
            merged.retry_budget = sub.retry_budget;
        }
        Some(merged)
    }

    /// The subset named `name`.
    pub fn subset(&self, name: &str) -> Option<&Subset> {
        self.rule.subset(name)
    }

    /// The consistent-hash policy of a route destination (WT-5,
    /// `HashForHTTPDestination`): subset port-level > subset > rule
    /// port-level > rule; port-level entries only when the destination
    /// names its port.
    pub fn hash_for_destination(&self, d: &Destination) -> Option<HashPolicy> {
        let tp = self.rule.traffic_policy.as_ref();
        let top = tp.and_then(consistent_hash);
        let pls = d.port.and_then(|p| {
            tp.and_then(|t| t.port_level(p))
                .and_then(|pl| pl.load_balancer.as_ref())
                .and_then(|lb| lb.consistent_hash.as_ref())
        });
        let (mut sub_hash, mut sub_pls) = (None, None);
        if let Some(s) = d.subset.as_deref().and_then(|s| self.rule.subset(s)) {
            let stp = s.traffic_policy.as_ref();
            sub_hash = stp.and_then(consistent_hash);
            sub_pls = d.port.and_then(|p| {
                stp.and_then(|t| t.port_level(p))
                    .and_then(|pl| pl.load_balancer.as_ref())
                    .and_then(|lb| lb.consistent_hash.as_ref())
            });
        }
        hash_policy(sub_pls.or(sub_hash).or(pls).or(top)?)
    }

    /// The consistent-hash policy of a service's default route
    /// (`hashForService`): the rule's, or its port-level one for `port`.
    pub fn hash_for_service_port(&self, port: u16) -> Option<HashPolicy> {
        let tp = self.rule.traffic_policy.as_ref()?;
        let pl = tp
            .port_level(port)
            .and_then(|pl| pl.load_balancer.as_ref())
            .and_then(|lb| lb.consistent_hash.as_ref());
        hash_policy(pl.or_else(|| consistent_hash(tp))?)
    }
}

fn consistent_hash(tp: &TrafficPolicy) -> Option<&ConsistentHashLb> {
    tp.load_balancer.as_ref()?.consistent_hash.as_ref()
}

/// `ConsistentHashToHashPolicy`.
fn hash_policy(h: &ConsistentHashLb) -> Option<HashPolicy> {
    if let Some(name) = &h.http_header_name {
        return Some(HashPolicy::Header(name.clone()));
    }
    if let Some(c) = &h.http_cookie {
        return Some(HashPolicy::Cookie {
            name: c.name.clone().unwrap_or_default(),
            path: c.path.clone().filter(|p| !p.is_empty()),
            ttl: c.ttl.as_deref().and_then(|t| parse_duration(t).ok()),
        });
    }
    if h.use_source_ip.is_some() {
        return Some(HashPolicy::SourceIp);
    }
    if let Some(q) = &h.http_query_parameter_name {
        return Some(HashPolicy::QueryParameter(q.clone()));
    }
    None
}

/// `GetPortLevelTrafficPolicy`: the port-level entry for `port` as a
/// policy of its four fields, or the policy itself; the flag says whether
/// a port-level entry was used.
fn port_level(p: Option<&TrafficPolicy>, port: u16) -> Option<(TrafficPolicy, bool)> {
    let p = p?;
    match p.port_level(port) {
        Some(pl) => Some((
            TrafficPolicy {
                load_balancer: pl.load_balancer.clone(),
                connection_pool: pl.connection_pool.clone(),
                outlier_detection: pl.outlier_detection.clone(),
                tls: pl.tls.clone(),
                ..TrafficPolicy::default()
            },
            true,
        )),
        None => Some((
            TrafficPolicy {
                port_level_settings: Vec::new(),
                ..p.clone()
            },
            false,
        )),
    }
}

/// Rules of one index, by host.
#[derive(Debug, Clone, Default)]
struct Consolidated {
    specific: BTreeMap<Hostname, Vec<ConsolidatedRule>>,
    wildcard: BTreeMap<Hostname, Vec<ConsolidatedRule>>,
}

impl Consolidated {
    /// `mergeDestinationRule` (DR-2, DR-10).
    fn merge(&mut self, dr: &DestinationRule, from: ConfigRef, export: &BTreeSet<String>) {
        let map = if dr.host.is_wildcard() {
            &mut self.wildcard
        } else {
            &mut self.specific
        };
        let Some(list) = map.get_mut(&dr.host) else {
            map.insert(dr.host.clone(), vec![new_entry(dr, from, export)]);
            return;
        };
        let mut append_separately = true;
        for entry in list.iter_mut() {
            if *export == entry.export_to {
                append_separately = false;
            } else if !entry.export_to.is_empty() && export.is_superset(&entry.export_to) {
                append_separately = true;
            } else {
                append_separately = true;
                continue;
            }
            let existing = entry.rule.workload_selector.as_ref();
            let incoming = dr.workload_selector.as_ref();
            match (existing, incoming) {
                (Some(a), Some(b)) if a != b => {
                    append_separately = true;
                    continue;
                }
                (None, None) | (Some(_), Some(_)) => append_separately = false,
                _ => {}
            }
            entry.from.push(from.clone());
            for s in &dr.subsets {
                if entry.rule.subset(&s.name).is_none() {
                    entry.rule.subsets.push(s.clone());
                }
            }
            if entry.rule.traffic_policy.is_none() && dr.traffic_policy.is_some() {
                entry.rule.traffic_policy = dr.traffic_policy.clone();
            }
        }
        if append_separately {
            list.push(new_entry(dr, from, export));
        }
    }

    /// `MostSpecificHostMatch`: the rules of the most specific host
    /// matching `needle`.
    fn most_specific(&self, needle: &Hostname) -> Option<&[ConsolidatedRule]> {
        if needle.is_wildcard() {
            if let Some(v) = self.wildcard.get(needle) {
                return Some(v);
            }
        } else if let Some(v) = self.specific.get(needle) {
            return Some(v);
        }
        let n = needle.as_str().trim_start_matches('*');
        let mut best: Option<(&Hostname, &Vec<ConsolidatedRule>)> = None;
        for (h, v) in &self.wildcard {
            if n.ends_with(&h.as_str()[1..]) {
                best = match best {
                    Some((b, bv)) if b.specificity_cmp(h) != Ordering::Greater => Some((b, bv)),
                    _ => Some((h, v)),
                };
            }
        }
        best.map(|(_, v)| v.as_slice())
    }
}

fn new_entry(dr: &DestinationRule, from: ConfigRef, export: &BTreeSet<String>) -> ConsolidatedRule {
    ConsolidatedRule {
        host: dr.host.clone(),
        rule: dr.clone(),
        namespace: from.namespace.clone(),
        from: vec![from],
        export_to: export.clone(),
    }
}

/// Istio's DestinationRule index for one mesh (PUSH `setDestinationRules`).
#[derive(Debug, Clone, Default)]
pub struct DestinationRules {
    namespace_local: BTreeMap<String, Consolidated>,
    exported: BTreeMap<String, Consolidated>,
    root_local: Consolidated,
    root: String,
}

impl DestinationRules {
    /// Indexes every DestinationRule of `snapshot`: selector rules first,
    /// then oldest first; same-host rules merged per namespace (DR-2).
    pub fn new(snapshot: &Snapshot) -> DestinationRules {
        let root = snapshot.root_namespace().to_string();
        let defaults = &snapshot.mesh().default_destination_rule_export_to;
        let default_private = defaults.iter().any(|d| d == ".");
        let mut rules: Vec<_> = snapshot.destination_rules().collect();
        rules.sort_by(|a, b| {
            let sa = a.spec.workload_selector.is_some();
            let sb = b.spec.workload_selector.is_some();
            sb.cmp(&sa).then_with(|| a.meta.age_cmp(&b.meta))
        });
        let mut out = DestinationRules {
            root: root.clone(),
            ..Default::default()
        };
        for c in rules {
            let ns = c.meta.namespace();
            let dr = &c.spec;
            let from = ConfigRef::new(ns, c.meta.name());
            let export: BTreeSet<String> = if dr.workload_selector.is_some() {
                [ns.to_string()].into()
            } else {
                match &dr.export_to {
                    ExportTo::Default | ExportTo::Nobody => BTreeSet::new(),
                    ExportTo::Public => ["*".to_string()].into(),
                    ExportTo::Namespaces(v) => v.iter().cloned().collect(),
                }
            };
            if export.is_empty() || export.contains("*") || export.contains(ns) {
                out.namespace_local
                    .entry(ns.to_string())
                    .or_default()
                    .merge(dr, from.clone(), &export);
            }
            let private_only = (export.is_empty() && default_private)
                || (export.len() == 1 && export.contains(ns));
            if !private_only {
                out.exported
                    .entry(ns.to_string())
                    .or_default()
                    .merge(dr, from, &export);
            } else if ns == root {
                out.root_local.merge(dr, from, &export);
            }
        }
        out
    }

    /// The candidate rules for a service, as Istio's `destinationRule`
    /// finds them (DR-1): the client's namespace (the root namespace's
    /// private rules for a client there), then the service's namespace,
    /// then the root namespace, exported to the client; the most specific
    /// host within a step, the first step with a hit; no merging across
    /// steps.
    pub fn candidates(
        &self,
        client_namespace: &str,
        host: &Hostname,
        service_namespace: &str,
    ) -> Vec<&ConsolidatedRule> {
        let step1 = if client_namespace != self.root {
            self.namespace_local
                .get(client_namespace)
                .and_then(|c| c.most_specific(host))
        } else {
            self.root_local.most_specific(host)
        };
        if let Some(v) = step1 {
            return v.iter().collect();
        }
        for ns in [service_namespace, self.root.as_str()] {
            if ns.is_empty() {
                continue;
            }
            if let Some(v) = self.exported.get(ns).and_then(|c| c.most_specific(host)) {
                let out: Vec<&ConsolidatedRule> = v
                    .iter()
                    .filter(|r| {
                        r.export_to.is_empty()
                            || r.export_to.contains("*")
                            || r.export_to.contains(client_namespace)
                    })
                    .collect();
                if !out.is_empty() {
                    return out;
                }
            }
        }
        Vec::new()
    }

    /// The rule a client proxy uses for `host` (SCOPE
    /// `SidecarScope.DestinationRule`): a selector rule of the client's
    /// namespace whose selector its labels satisfy, else the last rule
    /// without a selector.
    pub fn for_client(
        &self,
        client_namespace: &str,
        client_labels: &Labels,
        host: &Hostname,
        service_namespace: &str,
    ) -> Option<&ConsolidatedRule> {
        let mut catch_all = None;
        for r in self.candidates(client_namespace, host, service_namespace) {
            match &r.rule.workload_selector {
                None => catch_all = Some(r),
                Some(sel) => {
                    if r.namespace == client_namespace && sel.matches(client_labels) {
                        return Some(r);
                    }
                }
            }
        }
        catch_all
    }

    /// Everything about one route destination for a client: the rule, the
    /// effective policy on the cluster's port, the subset and the
    /// endpoints it selects.
    pub fn resolve<'s>(
        &'s self,
        snapshot: &'s Snapshot,
        client_namespace: &str,
        client_labels: &Labels,
        destination: &Destination,
        port: u16,
    ) -> ResolvedDestination<'s> {
        let service = snapshot.service_visible(&destination.host, client_namespace);
        let rule = service.and_then(|s| {
            self.for_client(client_namespace, client_labels, &s.hostname, &s.namespace)
        });
        let subset = destination
            .subset
            .as_deref()
            .and_then(|s| rule.and_then(|r| r.subset(s)));
        let policy = rule.and_then(|r| r.effective_policy(port, destination.subset.as_deref()));
        let endpoints = match (service, &destination.subset) {
            (Some(s), None) => s.endpoints_for(None).collect(),
            (Some(s), Some(_)) => match subset {
                Some(sub) => s.endpoints_for(Some(&sub.labels)).collect(),
                None => Vec::new(),
            },
            (None, _) => Vec::new(),
        };
        ResolvedDestination {
            service,
            rule,
            subset,
            policy,
            endpoints,
            subset_missing: destination.subset.is_some() && subset.is_none(),
            port_missing: service.is_some_and(|s| !s.ports.iter().any(|p| p.number == port)),
        }
    }
}

/// What [`DestinationRules::resolve`] finds.
#[derive(Debug, Clone)]
pub struct ResolvedDestination<'s> {
    /// The registry service, if the host is one visible to the client.
    pub service: Option<&'s std::sync::Arc<Service>>,
    /// The DestinationRule entry that applies.
    pub rule: Option<&'s ConsolidatedRule>,
    /// The subset, when the destination names one the rule defines.
    pub subset: Option<&'s Subset>,
    /// The effective traffic policy (DR-4).
    pub policy: Option<TrafficPolicy>,
    /// The endpoints the destination reaches (DR-3: labels ⊇ subset's).
    pub endpoints: Vec<&'s Endpoint>,
    /// The destination names a subset no applicable rule defines: its
    /// cluster does not exist (WT-4: 503 `NC`).
    pub subset_missing: bool,
    /// The service has no port with the cluster's number (a destination
    /// without `port` on a service with several ports takes the listener
    /// port, WT-4): its cluster does not exist (503 `NC`).
    pub port_missing: bool,
}
