//! VAL-VS-23: VirtualService rules and match blocks that can never be used,
//! as Istio's webhook finds them and warns about them.
//!
//! The checks are syntactic, as Istio's are (`analyzeUnreachableHTTPRules`,
//! `analyzeUnreachableTCPRules`, `analyzeUnreachableTLSRules` in
//! `pkg/config/validation/validation.go`):
//!
//! * a rule without matches after another rule without matches is unused,
//!   and so is every match of a rule that follows a match-less rule;
//! * a match block equal (ignoring its name) to an earlier rule's match is
//!   ineffective; a rule whose every match is such a duplicate is unused;
//! * for HTTP, a match on a URI prefix is ineffective when an earlier match
//!   block has a prefix of that prefix and otherwise "covers" it by Istio's
//!   heuristic (same port; method, authority, header, query and
//!   without-header values equal or prefixes of each other; an unset
//!   method counts as `GET`). The heuristic is Istio's own and is kept as
//!   is, so that the findings are the ones Istio reports.
//!
//! `istioctl analyze` reports the two kinds of finding as
//! `VirtualServiceUnreachableRule` (IST0130) and
//! `VirtualServiceIneffectiveMatch` (IST0131); the webhook as warnings.

use crate::diag::FieldPath;
use crate::wire::networking as w;
use serde::Serialize;
use std::collections::BTreeMap;

/// What kind of route a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    /// `spec.http`
    Http,
    /// `spec.tcp`
    Tcp,
    /// `spec.tls`
    Tls,
}

impl RouteKind {
    /// The field name (`http`).
    pub const fn field(self) -> &'static str {
        match self {
            RouteKind::Http => "http",
            RouteKind::Tcp => "tcp",
            RouteKind::Tls => "tls",
        }
    }
}

/// One VAL-VS-23 finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UnusedRule {
    /// A rule that no request can reach.
    Unreachable {
        /// Where: `spec.http[2]`.
        path: FieldPath,
        /// The rule as Istio names it: `"name"` (quoted) or `#2`.
        rule: String,
        /// Why.
        reason: &'static str,
    },
    /// A match block that an earlier one makes useless.
    IneffectiveMatch {
        /// Where: `spec.http[2].match[0]`.
        path: FieldPath,
        /// The rule as Istio names it.
        rule: String,
        /// The match block as Istio names it (`"name"` or `#0`, with the
        /// prefix for overlapping prefixes).
        matched: String,
        /// The earlier rule (or match and rule) that takes its requests.
        earlier: String,
    },
}

impl UnusedRule {
    /// The field path of the rule or match block.
    pub fn path(&self) -> &FieldPath {
        match self {
            UnusedRule::Unreachable { path, .. } | UnusedRule::IneffectiveMatch { path, .. } => {
                path
            }
        }
    }

    /// The webhook's warning text.
    pub fn message(&self) -> String {
        match self {
            UnusedRule::Unreachable { rule, reason, .. } => {
                format!("virtualService rule {rule} not used ({reason})")
            }
            UnusedRule::IneffectiveMatch {
                rule,
                matched,
                earlier,
                ..
            } => format!(
                "virtualService rule {rule} match {matched} is not used (duplicate/overlapping match in rule {earlier})"
            ),
        }
    }
}

fn rule_name(name: Option<&str>, i: usize) -> String {
    match name {
        Some(n) if !n.is_empty() => format!("{n:?}"),
        _ => format!("#{i}"),
    }
}

/// Every VAL-VS-23 finding of a VirtualService, HTTP rules first, then TCP,
/// then TLS (Istio's order).
///
/// ```
/// use mesh_model::networking::unused_rules;
/// let vs: mesh_model::wire::networking::VirtualService = serde_yaml::from_str(r#"
/// hosts: [a]
/// http:
/// - route: [{destination: {host: a}}]
/// - match: [{uri: {prefix: /x}}]
///   route: [{destination: {host: b}}]
/// "#).unwrap();
/// let found = unused_rules(&vs);
/// assert_eq!(found[0].message(), "virtualService rule #1 not used (route without matches defined before)");
/// assert_eq!(found[0].path().to_string(), "spec.http[1]");
/// ```
pub fn unused_rules(vs: &w::VirtualService) -> Vec<UnusedRule> {
    let mut out = Vec::new();
    if let Some(routes) = &vs.http {
        let rules: Vec<Rule<'_>> = routes
            .iter()
            .map(|r| Rule {
                name: r.name.as_deref(),
                matches: r
                    .r#match
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .map(|m| {
                        let mut unnamed = m.clone();
                        unnamed.name = None;
                        Match {
                            name: m.name.as_deref(),
                            key: serde_json::to_string(&unnamed).unwrap_or_default(),
                        }
                    })
                    .collect(),
            })
            .collect();
        let first_uses = scan(RouteKind::Http, &rules, &mut out);
        overlapping_prefixes(routes, &first_uses, &mut out);
    }
    if let Some(routes) = &vs.tcp {
        let rules = l4_rules(
            routes
                .iter()
                .map(|r| r.r#match.as_deref().unwrap_or_default()),
        );
        scan(RouteKind::Tcp, &rules, &mut out);
    }
    if let Some(routes) = &vs.tls {
        let rules = l4_rules(
            routes
                .iter()
                .map(|r| r.r#match.as_deref().unwrap_or_default()),
        );
        scan(RouteKind::Tls, &rules, &mut out);
    }
    out
}

struct Rule<'a> {
    name: Option<&'a str>,
    matches: Vec<Match<'a>>,
}

struct Match<'a> {
    name: Option<&'a str>,
    /// The match as JSON (its name cleared), for equality.
    key: String,
}

fn l4_rules<'a, T: Serialize + 'a>(routes: impl Iterator<Item = &'a [T]>) -> Vec<Rule<'a>> {
    routes
        .map(|ms| Rule {
            name: None,
            matches: ms
                .iter()
                .map(|m| Match {
                    name: None,
                    key: serde_json::to_string(m).unwrap_or_default(),
                })
                .collect(),
        })
        .collect()
}

/// The duplicate and match-less scan; returns, per rule and match, whether
/// the match is the first of its kind (the candidates for the prefix
/// overlap check).
fn scan(kind: RouteKind, rules: &[Rule<'_>], out: &mut Vec<UnusedRule>) -> Vec<Vec<bool>> {
    let base = FieldPath::root().field("spec").field(kind.field());
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut empty_seen = false;
    let mut first_uses = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        let name = rule_name(r.name, i);
        let mut firsts = vec![false; r.matches.len()];
        if r.matches.is_empty() {
            if empty_seen {
                out.push(UnusedRule::Unreachable {
                    path: base.index(i),
                    rule: name,
                    reason: "only the last rule can have no matches",
                });
            }
            empty_seen = true;
            first_uses.push(firsts);
            continue;
        }
        let mut duplicates = 0;
        for (j, m) in r.matches.iter().enumerate() {
            if empty_seen {
                out.push(UnusedRule::Unreachable {
                    path: base.index(i),
                    rule: name.clone(),
                    reason: "route without matches defined before",
                });
                continue;
            }
            if let Some(&prev) = seen.get(m.key.as_str()) {
                out.push(UnusedRule::IneffectiveMatch {
                    path: base.index(i).field("match").index(j),
                    rule: name.clone(),
                    matched: rule_name(m.name, j),
                    earlier: rule_name(rules[prev].name, prev),
                });
                duplicates += 1;
                continue;
            }
            seen.insert(&m.key, i);
            firsts[j] = true;
        }
        if duplicates == r.matches.len() {
            out.push(UnusedRule::Unreachable {
                path: base.index(i),
                rule: name,
                reason: "all matches used by prior rules",
            });
        }
        first_uses.push(firsts);
    }
    first_uses
}

/// A URI-prefix match block reduced to what Istio's overlap heuristic
/// compares.
struct PrefixMatch {
    path: FieldPath,
    rule: String,
    name: String,
    prefix: String,
    port: Option<u32>,
    method: String,
    authority: String,
    headers: BTreeMap<String, String>,
    query: BTreeMap<String, String>,
    without: BTreeMap<String, String>,
}

fn exact_or_prefix(m: Option<&w::StringMatch>) -> String {
    let Some(m) = m else {
        return String::new();
    };
    match (m.exact.as_deref(), m.prefix.as_deref()) {
        (Some(e), _) if !e.is_empty() => format!("exact:{e}"),
        (_, Some(p)) if !p.is_empty() => format!("prefix:{p}"),
        _ => String::new(),
    }
}

fn value_map(m: Option<&BTreeMap<String, w::StringMatch>>) -> BTreeMap<String, String> {
    m.into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), exact_or_prefix(Some(v))))
        .collect()
}

fn overlapping_prefixes(
    routes: &[w::HttpRoute],
    first_uses: &[Vec<bool>],
    out: &mut Vec<UnusedRule>,
) {
    let base = FieldPath::root().field("spec").field("http");
    let mut prefixed = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        for (j, m) in r.r#match.as_deref().unwrap_or_default().iter().enumerate() {
            if !first_uses
                .get(i)
                .and_then(|f| f.get(j))
                .copied()
                .unwrap_or(false)
            {
                continue;
            }
            let Some(prefix) = m.uri.as_ref().and_then(|u| u.prefix.as_deref()) else {
                continue;
            };
            if prefix.is_empty() {
                continue;
            }
            let mut method = exact_or_prefix(m.method.as_ref());
            if method.is_empty() {
                // Istio's heuristic treats an unset method as GET.
                method = "exact:GET".into();
            }
            prefixed.push(PrefixMatch {
                path: base.index(i).field("match").index(j),
                rule: rule_name(r.name.as_deref(), i),
                name: rule_name(m.name.as_deref(), j),
                prefix: prefix.to_string(),
                port: m.port,
                method,
                authority: exact_or_prefix(m.authority.as_ref()),
                headers: value_map(m.headers.as_ref()),
                query: value_map(m.query_params.as_ref()),
                without: value_map(m.without_headers.as_ref()),
            });
        }
    }
    for (a_index, a) in prefixed.iter().enumerate() {
        for b in &prefixed[a_index + 1..] {
            if a.prefix == b.prefix || !covers(a, b) {
                continue;
            }
            out.push(UnusedRule::IneffectiveMatch {
                path: b.path.clone(),
                rule: b.rule.clone(),
                matched: format!("{} of prefix {}", b.name, b.prefix),
                earlier: format!("{} of prefix {} on {}", a.name, a.prefix, a.rule),
            });
        }
    }
}

/// Istio's `coveredValidation`: whether the earlier block `a` takes the
/// requests of `b`.
fn covers(a: &PrefixMatch, b: &PrefixMatch) -> bool {
    let value_covers = |av: &str, bv: &str| av == bv || av.starts_with(bv);
    let map_covers = |am: &BTreeMap<String, String>, bm: &BTreeMap<String, String>| {
        am.len() == bm.len()
            && am
                .iter()
                .all(|(k, av)| bm.get(k).is_some_and(|bv| value_covers(av, bv)))
    };
    b.prefix.starts_with(&a.prefix)
        && a.port == b.port
        && value_covers(&a.method, &b.method)
        && value_covers(&a.authority, &b.authority)
        && map_covers(&a.headers, &b.headers)
        && map_covers(&a.query, &b.query)
        && map_covers(&a.without, &b.without)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(yaml: &str) -> Vec<String> {
        let vs: w::VirtualService = serde_yaml::from_str(yaml).expect("test VirtualService");
        unused_rules(&vs)
            .iter()
            .map(|f| format!("{}: {}", f.path(), f.message()))
            .collect()
    }

    #[test]
    fn duplicate_http_matches_ignore_names() {
        let f = found(
            r#"
hosts: [a]
http:
- name: first
  match: [{uri: {exact: /a}}, {name: m, uri: {exact: /b}}]
  route: [{destination: {host: a}}]
- match: [{name: other, uri: {exact: /b}}]
  route: [{destination: {host: a}}]
- match: [{uri: {exact: /a}}, {uri: {exact: /c}}]
  route: [{destination: {host: a}}]
"#,
        );
        assert_eq!(
            f,
            [
                r#"spec.http[1].match[0]: virtualService rule #1 match "other" is not used (duplicate/overlapping match in rule "first")"#,
                r#"spec.http[1]: virtualService rule #1 not used (all matches used by prior rules)"#,
                r#"spec.http[2].match[0]: virtualService rule #2 match #0 is not used (duplicate/overlapping match in rule "first")"#,
            ]
        );
    }

    #[test]
    fn rules_after_a_match_less_rule() {
        let f = found(
            r#"
hosts: [a]
tcp:
- route: [{destination: {host: a}}]
- route: [{destination: {host: b}}]
- match: [{port: 80}, {port: 81}]
  route: [{destination: {host: c}}]
"#,
        );
        assert_eq!(
            f,
            [
                "spec.tcp[1]: virtualService rule #1 not used (only the last rule can have no matches)",
                "spec.tcp[2]: virtualService rule #2 not used (route without matches defined before)",
                "spec.tcp[2]: virtualService rule #2 not used (route without matches defined before)",
            ]
        );
    }

    #[test]
    fn an_earlier_shorter_prefix_covers_a_longer_one() {
        // Istio's heuristic: same port and method (unset counts as GET).
        let f = found(
            r#"
hosts: [a]
http:
- match: [{uri: {prefix: /api/v1/product}}]
  route: [{destination: {host: a}}]
- match: [{uri: {prefix: /api/v1/products}, method: {exact: GET}}]
  route: [{destination: {host: b}}]
- match: [{uri: {prefix: /api/v1/productz}, method: {exact: POST}}]
  route: [{destination: {host: b}}]
"#,
        );
        assert_eq!(
            f,
            [
                "spec.http[1].match[0]: virtualService rule #1 match #0 of prefix /api/v1/products is not used (duplicate/overlapping match in rule #0 of prefix /api/v1/product on #0)"
            ]
        );
    }
}
