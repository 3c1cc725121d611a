//! Trust-domain aliases (AZ-23): the local trust domain and the aliases a
//! mesh treats as the same (`trustDomainAliases`), and how policy values
//! are expanded over them.

use serde::Serialize;

/// Istio's default trust domain, which policies may use to mean "the local
/// trust domain" whatever it is.
pub const CLUSTER_LOCAL: &str = "cluster.local";

/// The local trust domain followed by its aliases (Istio's
/// `trustdomain.Bundle`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustDomainBundle {
    /// `[local, aliases…]`.
    pub domains: Vec<String>,
}

impl TrustDomainBundle {
    /// The bundle for a trust domain and its aliases.
    pub fn new(trust_domain: &str, aliases: &[String]) -> TrustDomainBundle {
        let mut domains = vec![trust_domain.to_string()];
        domains.extend(aliases.iter().cloned());
        TrustDomainBundle { domains }
    }

    /// The bundle of a mesh config.
    pub fn from_mesh(mesh: &mesh_model::wire::mesh::MeshConfig) -> TrustDomainBundle {
        TrustDomainBundle::new(mesh.trust_domain(), &mesh.trust_domain_aliases)
    }

    /// Whether `td` is the local trust domain or one of its aliases.
    pub fn contains(&self, td: &str) -> bool {
        self.domains.iter().any(|d| d == td)
    }

    /// Expands `principals` (and `source.principal` values) over the bundle
    /// (Istio's `ReplaceTrustDomainAliases`): a value of exactly five
    /// `/`-separated parts whose trust domain is enforced (not `*`) and
    /// matches a bundle domain (exactly or by `*` prefix/suffix on either
    /// side) or is `cluster.local` gives one value per bundle domain, in
    /// bundle order, without duplicates; a domain the value's own wildcard
    /// already covers keeps the value as written. Other values are kept.
    ///
    /// ```
    /// use mesh_authz::trust_domain::TrustDomainBundle;
    /// let b = TrustDomainBundle::new("td1", &["cluster.local".to_string()]);
    /// assert_eq!(
    ///     b.expand_principal("cluster.local/ns/foo/sa/bar"),
    ///     ["td1/ns/foo/sa/bar", "cluster.local/ns/foo/sa/bar"]
    /// );
    /// assert_eq!(b.expand_principal("*/ns/foo/sa/bar"), ["*/ns/foo/sa/bar"]);
    /// ```
    pub fn expand_principal(&self, principal: &str) -> Vec<String> {
        let parts: Vec<&str> = principal.split('/').collect();
        if parts.len() != 5 || parts[0] == "*" {
            return vec![principal.to_string()];
        }
        let td = parts[0];
        if !(string_match(td, &self.domains) || td == CLUSTER_LOCAL) {
            return vec![principal.to_string()];
        }
        let mut out: Vec<String> = Vec::new();
        for d in &self.domains {
            let p = if suffix_match(d, td) {
                principal.to_string()
            } else {
                format!("{d}/{}", parts[1..].join("/"))
            };
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// Expands `trustDomains` (and `source.trustDomain`) values (Istio's
    /// `ExpandTrustDomainAliases`): a value equal to a bundle domain becomes
    /// every bundle domain; duplicates are removed, first kept.
    ///
    /// ```
    /// use mesh_authz::trust_domain::TrustDomainBundle;
    /// let b = TrustDomainBundle::new("new-td", &["old-td".to_string()]);
    /// assert_eq!(b.expand_trust_domains(&["old-td".into(), "x".into()]), ["new-td", "old-td", "x"]);
    /// ```
    pub fn expand_trust_domains(&self, values: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in values {
            let add: Vec<&String> = if self.contains(v) {
                self.domains.iter().collect()
            } else {
                vec![v]
            };
            for a in add {
                if !out.contains(a) {
                    out.push(a.clone());
                }
            }
        }
        out
    }
}

impl Default for TrustDomainBundle {
    fn default() -> Self {
        TrustDomainBundle::new(CLUSTER_LOCAL, &[])
    }
}

/// Istio's `trustdomain.stringMatch`: the pattern may be on either side.
fn string_match(a: &str, list: &[String]) -> bool {
    list.iter().any(|s| {
        a == s
            || s == "*"
            || prefix_match(a, s)
            || prefix_match(s, a)
            || suffix_match(a, s)
            || suffix_match(s, a)
    })
}

fn prefix_match(a: &str, pattern: &str) -> bool {
    pattern.strip_suffix('*').is_some_and(|p| a.starts_with(p))
}

fn suffix_match(a: &str, pattern: &str) -> bool {
    pattern.strip_prefix('*').is_some_and(|p| a.ends_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The golden `trust-domain-wildcard-in-principal` case: `*bar` suffix-
    /// matches alias `foobar`, so the value is kept and an exact `td1`
    /// version is added.
    #[test]
    fn wildcard_trust_domain_in_principal() {
        let b = TrustDomainBundle::new("td1", &["foobar".into()]);
        assert_eq!(
            b.expand_principal("*bar/ns/foo/sa/baz"),
            ["td1/ns/foo/sa/baz", "*bar/ns/foo/sa/baz"]
        );
        assert_eq!(
            b.expand_principal("other/ns/foo/sa/baz"),
            ["other/ns/foo/sa/baz"]
        );
        assert_eq!(b.expand_principal("td1/ns/foo"), ["td1/ns/foo"]);
    }

    #[test]
    fn custom_trust_domain_rewrites_cluster_local() {
        let b = TrustDomainBundle::new("td1", &[]);
        assert_eq!(
            b.expand_principal("cluster.local/ns/a/sa/b"),
            ["td1/ns/a/sa/b"]
        );
    }
}
