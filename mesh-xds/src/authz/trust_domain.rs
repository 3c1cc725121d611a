//! Trust-domain aliases (AZ-23): a mesh that changed its trust domain, or
//! trusts several, still matches identities issued under any of them.

use mesh_model::wire::mesh::MeshConfig;

/// Istio's default trust domain, which a policy may always use to mean
/// "the local trust domain".
const CLUSTER_LOCAL: &str = "cluster.local";

/// The local trust domain and its aliases, in that order (Istio's
/// `trustdomain.Bundle`).
///
/// ```
/// use mesh_xds::authz::TrustDomainBundle;
/// let b = TrustDomainBundle::new("td1", ["cluster.local"]);
/// assert_eq!(
///     b.replace_aliases(&["cluster.local/ns/foo/sa/bar".to_string()]),
///     ["td1/ns/foo/sa/bar", "cluster.local/ns/foo/sa/bar"]
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustDomainBundle {
    trust_domains: Vec<String>,
}

impl Default for TrustDomainBundle {
    /// The bundle of a mesh with Istio's default trust domain
    /// (`cluster.local`) and no aliases.
    fn default() -> Self {
        TrustDomainBundle::new(CLUSTER_LOCAL, [] as [&str; 0])
    }
}

impl TrustDomainBundle {
    /// The bundle `[local, aliases…]`.
    pub fn new<S: Into<String>>(local: &str, aliases: impl IntoIterator<Item = S>) -> Self {
        let mut trust_domains = vec![local.to_string()];
        trust_domains.extend(aliases.into_iter().map(Into::into));
        TrustDomainBundle { trust_domains }
    }

    /// The bundle of a MeshConfig: `trustDomain` (default `cluster.local`)
    /// and `trustDomainAliases`.
    pub fn from_mesh(mesh: &MeshConfig) -> Self {
        TrustDomainBundle::new(
            mesh.trust_domain(),
            mesh.trust_domain_aliases.iter().cloned(),
        )
    }

    /// The trust domains, local first.
    pub fn trust_domains(&self) -> &[String] {
        &self.trust_domains
    }

    /// Expands principals (`principals`, `source.principal`) to every
    /// trust domain of the bundle (AZ-23). A principal of exactly five
    /// `/`-separated parts (`td/ns/x/sa/y`) whose trust domain is in the
    /// bundle (exactly, or by a `*` prefix or suffix pattern on either
    /// side) or is `cluster.local` becomes one principal per trust domain,
    /// in bundle order; where the written trust domain is a `*suffix`
    /// pattern matching a bundle entry, the principal is kept as written
    /// for that entry. Duplicates within one expansion are dropped. A
    /// principal whose trust domain is `*`, that has another shape, or
    /// whose trust domain is unrelated is kept as it is.
    pub fn replace_aliases(&self, principals: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for p in principals {
            let parts: Vec<&str> = p.split('/').collect();
            // "*/ns/foo/sa/bar" does not enforce the trust domain; a
            // principal of another shape has no trust domain at all.
            if parts.len() != 5 || parts[0] == "*" {
                out.push(p.clone());
                continue;
            }
            let td = parts[0];
            if !(pattern_in_list(td, &self.trust_domains) || td == CLUSTER_LOCAL) {
                out.push(p.clone());
                continue;
            }
            let mut expanded: Vec<String> = Vec::new();
            for bundle_td in &self.trust_domains {
                let new = if suffix_match(bundle_td, td) {
                    p.clone()
                } else {
                    format!("{bundle_td}/{}", parts[1..].join("/"))
                };
                if !expanded.contains(&new) {
                    expanded.push(new);
                }
            }
            out.extend(expanded);
        }
        out
    }

    /// Expands trust domains (`trustDomains`, `source.trustDomain`): a
    /// value equal to a trust domain of the bundle becomes the whole
    /// bundle; the result keeps first occurrences only (AZ-23).
    pub fn expand_aliases(&self, values: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in values {
            let add: &[String] = if self.trust_domains.contains(v) {
                &self.trust_domains
            } else {
                std::slice::from_ref(v)
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

/// Istio's `trustdomain.stringMatch`: `a` matches an entry exactly, or one
/// of them is a `*`, `prefix*` or `*suffix` pattern matching the other.
fn pattern_in_list(a: &str, list: &[String]) -> bool {
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

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    /// AZ-23: a principal in the local trust domain or `cluster.local`
    /// expands to every trust domain, in bundle order.
    #[test]
    fn az23_expands_known_trust_domains_in_bundle_order() {
        let b = TrustDomainBundle::new("td1", ["cluster.local", "some-td"]);
        let want = v(&[
            "td1/ns/a/sa/b",
            "cluster.local/ns/a/sa/b",
            "some-td/ns/a/sa/b",
        ]);
        assert_eq!(b.replace_aliases(&v(&["cluster.local/ns/a/sa/b"])), want);
        assert_eq!(b.replace_aliases(&v(&["some-td/ns/a/sa/b"])), want);
        assert_eq!(b.replace_aliases(&v(&["td1/ns/a/sa/b"])), want);
    }

    /// AZ-23: `cluster.local` always stands for the local trust domain.
    #[test]
    fn az23_cluster_local_means_local() {
        let b = TrustDomainBundle::new("td1", ["td0"]);
        assert_eq!(
            b.replace_aliases(&v(&["cluster.local/ns/a/sa/b"])),
            v(&["td1/ns/a/sa/b", "td0/ns/a/sa/b"])
        );
    }

    /// AZ-23: `*` trust domains, other shapes and unrelated trust domains
    /// are left alone.
    #[test]
    fn az23_leaves_unenforced_and_foreign_principals() {
        let b = TrustDomainBundle::new("td1", ["cluster.local"]);
        let keep = v(&[
            "*",
            "*/ns/a/sa/b",
            "sa/b",
            "other-td/ns/a/sa/b",
            "a/b/c/d/e/f",
        ]);
        assert_eq!(b.replace_aliases(&keep), keep);
    }

    /// AZ-23: a `*suffix` trust domain matching bundle entries is kept
    /// once, and exact principals are added for the entries it does not
    /// match.
    #[test]
    fn az23_suffix_pattern_kept_once() {
        let b = TrustDomainBundle::new("new-td", ["old-td", "some-trustdomain"]);
        assert_eq!(
            b.replace_aliases(&v(&["*-td/ns/foo/sa/x"])),
            v(&["*-td/ns/foo/sa/x", "some-trustdomain/ns/foo/sa/x"])
        );
        let b = TrustDomainBundle::new("td1", ["foobar"]);
        assert_eq!(
            b.replace_aliases(&v(&["*bar/ns/foo/sa/x"])),
            v(&["td1/ns/foo/sa/x", "*bar/ns/foo/sa/x"])
        );
    }

    /// AZ-23: `trustDomains` equal to a known domain expand to the whole
    /// list; duplicates are dropped, order of first appearance kept.
    #[test]
    fn az23_trust_domains_expand_to_bundle() {
        let b = TrustDomainBundle::new("td1", ["td0"]);
        assert_eq!(
            b.expand_aliases(&v(&["other", "td0", "td1", "bad*"])),
            v(&["other", "td1", "td0", "bad*"])
        );
    }

    #[test]
    fn bundle_from_mesh_config() {
        let mesh = MeshConfig {
            trust_domain: Some("td1".into()),
            trust_domain_aliases: v(&["a", "b"]),
            ..Default::default()
        };
        assert_eq!(
            TrustDomainBundle::from_mesh(&mesh).trust_domains(),
            v(&["td1", "a", "b"])
        );
        assert_eq!(
            TrustDomainBundle::default().trust_domains(),
            v(&["cluster.local"])
        );
    }
}
