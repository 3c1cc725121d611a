//! AuthorizationPolicy → Envoy filters, as istiod builds them (§7 of
//! `istio-semantics.md`, Istio's `pilot/pkg/security/authz/builder`).
//!
//! The caller picks the policies that apply to one workload (AZ-3) and
//! hands them here with the mesh's trust domains (AZ-23), its MeshConfig
//! (CUSTOM providers, AZ-7) and a registry to find provider services. The
//! result is the ordered list of filters for the workload's inbound chain:
//!
//! * HTTP ([`build_http`]): `envoy.filters.http.rbac` and
//!   `envoy.filters.http.ext_authz` filters for the HTTP connection
//!   manager;
//! * TCP ([`build_tcp`]): `envoy.filters.network.rbac` (stat prefix `tcp.`)
//!   and `envoy.filters.network.ext_authz` listener filters, where fields
//!   that need HTTP are lowered as AZ-30..AZ-32 say.
//!
//! Order (AZ-2): for each CUSTOM provider in name order, a shadow RBAC
//! filter and its ext_authz filter; then RBAC `LOG` (AUDIT), `DENY` and
//! `ALLOW`, each present only when a policy of that action applies. In an
//! HTTP chain Envoy's `jwt_authn` filter goes between the CUSTOM filters
//! and the others; build the two groups separately
//! ([`Actions::Custom`], [`Actions::Rbac`]) to put it there.
//!
//! ```
//! use mesh_model::{load, LoadOptions};
//! use mesh_xds::authz::{build_http, Actions, AuthzInputs, BuildOptions, TrustDomainBundle};
//! let yaml = r#"
//! apiVersion: security.istio.io/v1
//! kind: AuthorizationPolicy
//! metadata: {name: allow-get, namespace: foo}
//! spec:
//!   rules:
//!   - to: [{operation: {methods: [GET]}}]
//! "#;
//! let loaded = load(&[("p.yaml", yaml)], &LoadOptions::default());
//! let policies: Vec<_> = loaded.snapshot.authorization_policies().cloned().collect();
//! let built = build_http(&AuthzInputs {
//!     policies: &policies,
//!     trust_domains: &TrustDomainBundle::default(),
//!     mesh: loaded.snapshot.mesh(),
//!     registry: &loaded.snapshot,
//!     options: BuildOptions::default(),
//! });
//! assert_eq!(built.filters.len(), 1);
//! assert_eq!(built.filters[0].name, "envoy.filters.http.rbac");
//! let json = mesh_xds::json::to_json(&built.filters[0]);
//! let policy = &json["typedConfig"]["rules"]["policies"]["ns[foo]-policy[allow-get]-rule[0]"];
//! assert_eq!(
//!     policy["permissions"][0]["andRules"]["rules"][0]["orRules"]["rules"][0]["header"]["name"],
//!     ":method"
//! );
//! ```
//!
//! Nothing here fails: configuration that cannot be built is reported in
//! [`Built::notes`] and handled the way Istio handles it, which for a
//! CUSTOM policy whose provider is unusable means a DENY filter with its
//! rules (fail closed).

mod ext_authz;
pub mod matcher;
mod model;

pub use mesh_authz::trust_domain::TrustDomainBundle;

use crate::util::any as pack_any;
use envoy_types::pb::envoy::config::listener::v3::{Filter, filter};
use envoy_types::pb::envoy::config::rbac::v3::{Policy, Rbac, rbac::Action as RbacAction};
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3 as rbac_http;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::rbac::v3 as rbac_tcp;
use envoy_types::pb::google::protobuf::Any;
use mesh_model::config::Config;
use mesh_model::host::Hostname;
use mesh_model::security::{Action, AuthorizationPolicy};
use mesh_model::snapshot::Snapshot;
use mesh_model::wire::mesh::MeshConfig;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The HTTP RBAC filter's name.
pub const HTTP_RBAC: &str = "envoy.filters.http.rbac";
/// The HTTP ext_authz filter's name.
pub const HTTP_EXT_AUTHZ: &str = "envoy.filters.http.ext_authz";
/// The network RBAC filter's name.
pub const NETWORK_RBAC: &str = "envoy.filters.network.rbac";
/// The network ext_authz filter's name.
pub const NETWORK_EXT_AUTHZ: &str = "envoy.filters.network.ext_authz";

/// Stat prefix of every network RBAC filter.
const TCP_STAT_PREFIX: &str = "tcp.";
const DRY_RUN_ALLOW_PREFIX: &str = "istio_dry_run_allow_";
const DRY_RUN_DENY_PREFIX: &str = "istio_dry_run_deny_";
/// Suffix of the rules of a CUSTOM policy turned into DENY (AZ-7).
pub const BAD_CUSTOM_SUFFIX: &str = "-deny-due-to-bad-CUSTOM-action";

/// Where CUSTOM providers' services are looked up (AZ-7).
pub trait ServiceRegistry {
    /// The namespaces that hold a service whose hostname is exactly
    /// `host`.
    fn service_namespaces(&self, host: &str) -> Vec<String>;
}

impl ServiceRegistry for Snapshot {
    fn service_namespaces(&self, host: &str) -> Vec<String> {
        // Exact, as Istio's service index is keyed: a host written with
        // capitals names no service.
        let mut ns: Vec<String> = self
            .services_for_host(&Hostname::new(host))
            .filter(|s| s.hostname.as_str() == host)
            .map(|s| s.namespace.clone())
            .collect();
        ns.sort();
        ns.dedup();
        ns
    }
}

/// Which policies to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Actions {
    /// CUSTOM filters, then AUDIT, DENY and ALLOW (what a workload gets).
    #[default]
    All,
    /// AUDIT, DENY and ALLOW only (Envoy RBAC).
    Rbac,
    /// CUSTOM only (shadow RBAC + ext_authz).
    Custom,
}

/// How to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BuildOptions {
    /// Which policies to build.
    pub actions: Actions,
    /// Allow CUSTOM policies naming different providers on one workload
    /// (`PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS`, default off, 1.30+).
    /// Off, such policies all become DENY filters (AZ-7).
    pub multiple_custom_providers: bool,
    /// Match peer identities in the filter state that HBONE termination
    /// writes (`io.istio.peer_principal`), as Istio does on waypoints and
    /// HBONE inbound chains, instead of the peer certificate's URI SAN.
    pub use_filter_state: bool,
}

/// What the filters are built from.
#[derive(Clone, Copy)]
pub struct AuthzInputs<'a> {
    /// The policies that apply to the workload (AZ-3), any order.
    pub policies: &'a [Arc<Config<AuthorizationPolicy>>],
    /// The mesh's trust domain and aliases (AZ-23).
    pub trust_domains: &'a TrustDomainBundle,
    /// The MeshConfig: its `extensionProviders` serve CUSTOM policies.
    pub mesh: &'a MeshConfig,
    /// Where providers' services are found.
    pub registry: &'a dyn ServiceRegistry,
    /// How to build.
    pub options: BuildOptions,
}

/// Filters, in chain order, and what the builder had to say.
#[derive(Debug, Clone, PartialEq)]
pub struct Built<F> {
    /// The filters, in the order they go in the chain.
    pub filters: Vec<F>,
    /// Rules skipped, providers rejected and other notes.
    pub notes: Vec<Note>,
}

/// A note from the builder about one rule, policy or provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// What it is about: an Envoy policy name
    /// (`ns[foo]-policy[p]-rule[0]`), `provider <name>`, or `CUSTOM` for
    /// the CUSTOM policies together.
    pub subject: String,
    /// What happened.
    pub message: String,
}

/// The filters for an HTTP connection manager.
pub fn build_http(inputs: &AuthzInputs<'_>) -> Built<HttpFilter> {
    build::<Http>(inputs)
}

/// The network filters for a TCP filter chain. HTTP-only fields are
/// lowered (AZ-30..AZ-32) and HTTP ext_authz providers are left out.
pub fn build_tcp(inputs: &AuthzInputs<'_>) -> Built<Filter> {
    build::<Tcp>(inputs)
}

/// An HTTP or a TCP filter chain: the shape of its filters.
trait Chain {
    type Filter;
    const TCP: bool;
    fn rbac(rules: Option<Rbac>, shadow_rules: Option<Rbac>, shadow_prefix: &str) -> Self::Filter;
    /// The provider's ext_authz filter, if it has a form for this chain.
    fn ext_authz(built: &ext_authz::BuiltExtAuthz, provider: &str) -> Option<Self::Filter>;
}

struct Http;

impl Chain for Http {
    type Filter = HttpFilter;
    const TCP: bool = false;

    fn rbac(rules: Option<Rbac>, shadow_rules: Option<Rbac>, shadow_prefix: &str) -> HttpFilter {
        http_filter(
            HTTP_RBAC,
            pack_any(&rbac_http::Rbac {
                rules,
                shadow_rules,
                shadow_rules_stat_prefix: shadow_prefix.into(),
                ..Default::default()
            }),
        )
    }

    fn ext_authz(built: &ext_authz::BuiltExtAuthz, provider: &str) -> Option<HttpFilter> {
        let mut http = built.http.clone();
        http.filter_enabled_metadata =
            Some(ext_authz::filter_enabled_metadata(HTTP_RBAC, provider));
        Some(http_filter(HTTP_EXT_AUTHZ, pack_any(&http)))
    }
}

struct Tcp;

impl Chain for Tcp {
    type Filter = Filter;
    const TCP: bool = true;

    fn rbac(rules: Option<Rbac>, shadow_rules: Option<Rbac>, shadow_prefix: &str) -> Filter {
        network_filter(
            NETWORK_RBAC,
            pack_any(&rbac_tcp::Rbac {
                rules,
                shadow_rules,
                shadow_rules_stat_prefix: shadow_prefix.into(),
                stat_prefix: TCP_STAT_PREFIX.into(),
                ..Default::default()
            }),
        )
    }

    fn ext_authz(built: &ext_authz::BuiltExtAuthz, provider: &str) -> Option<Filter> {
        let mut tcp = built.tcp.clone()?;
        tcp.filter_enabled_metadata =
            Some(ext_authz::filter_enabled_metadata(NETWORK_RBAC, provider));
        Some(network_filter(NETWORK_EXT_AUTHZ, pack_any(&tcp)))
    }
}

fn http_filter(name: &str, any: Any) -> HttpFilter {
    HttpFilter {
        name: name.into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(any)),
        ..Default::default()
    }
}

fn network_filter(name: &str, any: Any) -> Filter {
    Filter {
        name: name.into(),
        config_type: Some(filter::ConfigType::TypedConfig(any)),
    }
}

struct Builder<'a, C> {
    inputs: &'a AuthzInputs<'a>,
    notes: Vec<Note>,
    chain: std::marker::PhantomData<C>,
}

fn build<C: Chain>(inputs: &AuthzInputs<'_>) -> Built<C::Filter> {
    let mut b = Builder::<C> {
        inputs,
        notes: Vec::new(),
        chain: std::marker::PhantomData,
    };
    let of = |a: Action| -> Vec<&Config<AuthorizationPolicy>> {
        inputs
            .policies
            .iter()
            .filter(|p| p.spec.action == a)
            .map(|p| &**p)
            .collect()
    };
    let mut out = Vec::new();
    let actions = inputs.options.actions;
    if actions != Actions::Rbac {
        out.extend(b.custom(&of(Action::Custom)));
    }
    if actions != Actions::Custom {
        // AZ-2: AUDIT (LOG), then DENY, then ALLOW.
        for (action, rbac) in [
            (Action::Audit, RbacAction::Log),
            (Action::Deny, RbacAction::Deny),
            (Action::Allow, RbacAction::Allow),
        ] {
            out.extend(b.rbac(&of(action), rbac));
        }
    }
    Built {
        filters: out,
        notes: b.notes,
    }
}

/// An RBAC rule set: action and named policies.
fn rule_set(action: RbacAction) -> Rbac {
    Rbac {
        action: action as i32,
        ..Default::default()
    }
}

/// The Envoy policy of a policy without rules: never matches (AZ-4).
fn match_never() -> Policy {
    Policy {
        permissions: vec![model::permission_not(model::permission_any())],
        principals: vec![model::principal_not(model::principal_any())],
        ..Default::default()
    }
}

/// AZ-6: `ns[<ns>]-policy[<name>]-rule[<i>]`, CUSTOM ones prefixed
/// `istio-ext-authz-<provider>-`.
fn policy_name(namespace: &str, name: &str, rule: usize, custom: Option<&str>) -> String {
    let prefix = match custom {
        Some("") => format!("{}-", ext_authz::MATCH_PREFIX),
        Some(p) => format!("{}-{p}-", ext_authz::MATCH_PREFIX),
        None => String::new(),
    };
    format!("{prefix}ns[{namespace}]-policy[{name}]-rule[{rule}]")
}

/// The shadow-rules stat prefix of an ALLOW/DENY/AUDIT filter, read from
/// the action of its shadow rule set. Istio reads it even when there are
/// no shadow rules, and then gets the default action, ALLOW: so every such
/// filter carries `istio_dry_run_allow_` unless it has dry-run DENY rules.
fn shadow_prefix(shadow: Option<&Rbac>) -> &'static str {
    match shadow.map_or(RbacAction::Allow as i32, |r| r.action) {
        a if a == RbacAction::Allow as i32 => DRY_RUN_ALLOW_PREFIX,
        a if a == RbacAction::Deny as i32 => DRY_RUN_DENY_PREFIX,
        _ => "",
    }
}

/// A CUSTOM policy whose provider cannot be used denies what its rules
/// match (AZ-7): its enforced rules, renamed, in a DENY rule set.
fn bad_custom_deny(rules: &Rbac) -> Rbac {
    let mut r = rule_set(RbacAction::Deny);
    r.policies = rules
        .policies
        .iter()
        .map(|(k, v)| (format!("{k}{BAD_CUSTOM_SUFFIX}"), v.clone()))
        .collect::<HashMap<_, _>>();
    r
}

impl<C: Chain> Builder<'_, C> {
    fn note(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        self.notes.push(Note {
            subject: subject.into(),
            message: message.into(),
        });
    }

    /// Adds every rule of `policy` to `set` (AZ-4, AZ-6, AZ-12, AZ-23,
    /// AZ-31, AZ-32).
    fn add_policy(
        &mut self,
        policy: &Config<AuthorizationPolicy>,
        action: RbacAction,
        custom: Option<&str>,
        set: &mut Rbac,
    ) {
        let ns = policy.meta.namespace();
        let name = policy.meta.name();
        for (i, rule) in policy.spec.rules.iter().enumerate() {
            let key = policy_name(ns, name, i, custom);
            let mut m = model::RuleModel::new(ns, rule);
            m.migrate_trust_domain(self.inputs.trust_domains);
            let use_authenticated = !self.inputs.options.use_filter_state;
            let chain = if C::TCP { "TCP" } else { "HTTP" };
            let mut dropped = Vec::new();
            match m.generate(C::TCP, use_authenticated, action, &mut dropped) {
                Ok(p) => {
                    set.policies.insert(key.clone(), p);
                }
                Err(e) => {
                    self.note(
                        key.clone(),
                        format!("skipped rule on {chain} filter chain: {e}"),
                    );
                }
            }
            for d in dropped {
                self.note(
                    key.clone(),
                    format!("left out a condition on {chain} filter chain, the rule is wider: {d}"),
                );
            }
        }
        if policy.spec.rules.is_empty() {
            set.policies
                .insert(policy_name(ns, name, 0, custom), match_never());
        }
    }

    /// One RBAC filter for the ALLOW, DENY or AUDIT policies: enforced
    /// policies in `rules`, dry-run ones in `shadowRules` (AZ-5).
    fn rbac(
        &mut self,
        policies: &[&Config<AuthorizationPolicy>],
        action: RbacAction,
    ) -> Option<C::Filter> {
        if policies.is_empty() {
            return None;
        }
        let mut rules = None;
        let mut shadow_rules = None;
        for p in policies {
            let set = if p.spec.dry_run {
                &mut shadow_rules
            } else {
                &mut rules
            };
            let set = set.get_or_insert_with(|| rule_set(action));
            self.add_policy(p, action, None, set);
        }
        let prefix = shadow_prefix(shadow_rules.as_ref());
        Some(C::rbac(rules, shadow_rules, prefix))
    }

    /// Per provider, a shadow RBAC filter that marks the requests its
    /// policies match, and the ext_authz filter that then asks the
    /// provider (AZ-7).
    fn custom(&mut self, policies: &[&Config<AuthorizationPolicy>]) -> Vec<C::Filter> {
        if policies.is_empty() {
            return Vec::new();
        }
        // provider → (enforced rules, dry-run rules)
        let mut by_provider: BTreeMap<String, (Rbac, Rbac)> = BTreeMap::new();
        for p in policies {
            let provider = p.spec.provider.clone().unwrap_or_default();
            let sets = by_provider
                .entry(provider.clone())
                .or_insert_with(|| (rule_set(RbacAction::Deny), rule_set(RbacAction::Deny)));
            let set = if p.spec.dry_run {
                &mut sets.1
            } else {
                &mut sets.0
            };
            self.add_policy(p, RbacAction::Deny, Some(&provider), set);
        }

        let mut out = Vec::new();
        let bad = |rules: &Rbac| C::rbac(Some(bad_custom_deny(rules)), None, "");
        if by_provider.len() > 1 && !self.inputs.options.multiple_custom_providers {
            let names: Vec<&String> = by_provider.keys().collect();
            self.note(
                "CUSTOM",
                format!("multiple CUSTOM authorization providers per workload need the multiple-providers option, found {} providers: {names:?}; their rules deny", names.len()),
            );
            for (enforced, _) in by_provider.values() {
                out.push(bad(enforced));
            }
            return out;
        }
        let resolved = ext_authz::resolve_providers(self.inputs.mesh, self.inputs.registry);
        for (provider, (enforced, dry_run)) in by_provider {
            let built = match ext_authz::provider(&resolved, &provider) {
                Ok(b) => b,
                Err(e) => {
                    self.note(
                        format!("provider {provider}"),
                        format!("failed to process CUSTOM action, its rules deny: {e}"),
                    );
                    out.push(bad(&enforced));
                    continue;
                }
            };
            let Some(ext) = C::ext_authz(built, &provider) else {
                self.note(
                    format!("provider {provider}"),
                    "ignored CUSTOM action with HTTP provider on TCP filter chain",
                );
                continue;
            };
            // The RBAC filter never enforces here: enforced CUSTOM rules
            // are shadow rules whose match the ext_authz filter reads.
            // Dry-run CUSTOM rules land in `rules` (an Istio limitation:
            // they still call the provider).
            let rules = (!dry_run.policies.is_empty()).then_some(dry_run);
            out.push(C::rbac(
                rules,
                Some(enforced),
                ext_authz::SHADOW_STAT_PREFIX,
            ));
            out.push(ext);
        }
        out
    }
}

#[cfg(test)]
mod tests;
