//! A naive evaluator: the reference the indexed engine is checked against
//! (property tests) and measured against (benchmarks).
//!
//! For each decision it scans every policy of the mesh, checks attachment
//! (AZ-3), and for each stage of the filter chain (AZ-2) picks the matching
//! rule with the smallest Envoy name (AZ-6) by comparing names, without any
//! per-workload index or pre-sorting. It is written for clarity, not speed.

use crate::engine::{Authz, ProviderKind, Reason, Verdict};
use crate::policy::CompiledPolicy;
use crate::request::Request;
use mesh_model::labels::Labels;
use mesh_model::security::Action;

/// The naive evaluator's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaiveDecision {
    /// The verdict.
    pub verdict: Verdict,
    /// Why.
    pub reason: Reason,
    /// `namespace/name` and rule index of the deciding rule.
    pub rule: Option<(String, usize)>,
}

/// Decides a request to a workload of `namespace` with `labels` by scanning
/// every policy of `authz`. `jwt_applies`: whether a RequestAuthentication
/// applies (JWT attributes count only then).
pub fn decide(
    authz: &Authz,
    namespace: &str,
    labels: &Labels,
    req: &Request,
    jwt_applies: bool,
) -> NaiveDecision {
    let jwt = if jwt_applies { req.jwt() } else { None };
    let tcp = req.is_tcp();
    let attached = |p: &CompiledPolicy| authz.attaches(p, namespace, labels);
    // The matching rule with the smallest Envoy name among policies that
    // `pick` selects.
    let first = |pick: &dyn Fn(&CompiledPolicy) -> bool, as_allow: bool| {
        let mut best: Option<(&str, &CompiledPolicy, usize)> = None;
        for p in authz.policies() {
            if !attached(p) || !pick(p) {
                continue;
            }
            for (i, r) in p.rules().iter().enumerate() {
                if r.matches(req, jwt, as_allow)
                    && best.is_none_or(|(n, _, _)| r.envoy_name.as_str() < n)
                {
                    best = Some((r.envoy_name.as_str(), p, i));
                }
            }
        }
        best.map(|(_, p, i)| (p.id(), i))
    };
    let decided = |verdict, reason, rule| NaiveDecision {
        verdict,
        reason,
        rule,
    };

    // CUSTOM providers, by name.
    let mut providers: Vec<String> = authz
        .policies()
        .iter()
        .filter(|p| attached(p) && p.action() == Action::Custom)
        .map(|p| p.provider().unwrap_or_default().to_string())
        .collect();
    providers.sort();
    providers.dedup();
    let several = providers.len() > 1 && !authz.options().multiple_custom_providers
        || providers.len() > crate::engine::MAX_CUSTOM_PROVIDERS;
    let mut custom_matched = false;
    for name in &providers {
        let state = authz.provider(name);
        let bad = several || state.is_none_or(|s| s.error.is_some());
        if tcp && !bad && state.is_some_and(|s| s.kind == ProviderKind::Http) {
            continue;
        }
        let hit = first(
            &|p| p.action() == Action::Custom && p.provider().unwrap_or_default() == name,
            false,
        );
        match (hit, bad) {
            (Some(r), true) => return decided(Verdict::Deny, Reason::BadCustomProvider, Some(r)),
            (Some(_), false) => custom_matched = true,
            (None, _) => {}
        }
    }
    if jwt_applies && !tcp && req.jwt_rejection().is_some() {
        return decided(Verdict::Deny, Reason::InvalidJwt, None);
    }
    if let Some(r) = first(&|p| p.action() == Action::Deny && !p.dry_run(), false) {
        return decided(Verdict::Deny, Reason::DenyMatched, Some(r));
    }
    let any_allow = authz
        .policies()
        .iter()
        .any(|p| attached(p) && p.action() == Action::Allow && !p.dry_run());
    let (verdict, reason, rule) = if !any_allow {
        (Verdict::Allow, Reason::NoAllowPolicy, None)
    } else if let Some(r) = first(&|p| p.action() == Action::Allow && !p.dry_run(), true) {
        (Verdict::Allow, Reason::AllowMatched, Some(r))
    } else {
        (Verdict::Deny, Reason::NoAllowMatched, None)
    };
    let verdict = if verdict == Verdict::Allow && custom_matched {
        Verdict::Custom
    } else {
        verdict
    };
    decided(verdict, reason, rule)
}
