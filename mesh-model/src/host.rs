//! Host names as Istio reasons about them (HOST-* rules).
//!
//! A [`Hostname`] is either concrete (`reviews.bookinfo.svc.cluster.local`)
//! or a wildcard with a leading `*` (`*.bookinfo.svc.cluster.local`, `*`).
//! Only a leading `*` is a wildcard; the text after it is matched as a
//! suffix (HOST-3).

use serde::Serialize;
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// A host name, concrete or wildcard. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hostname(Arc<str>);

impl Hostname {
    /// A host name as written (lower-cased: DNS names are case-insensitive
    /// and Istio lower-cases hosts for virtual hosts, HOST-3).
    pub fn new(s: &str) -> Hostname {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Hostname(Arc::from(s.to_ascii_lowercase()))
        } else {
            Hostname(Arc::from(s))
        }
    }

    /// Resolves a short name against the namespace of the config that
    /// names it (HOST-1): `*`, IPs and names with a dot are kept;
    /// otherwise `name` becomes `name.<namespace>.svc.<domain>`.
    ///
    /// ```
    /// use mesh_model::host::Hostname;
    /// let h = Hostname::resolve("reviews", "bookinfo", "cluster.local");
    /// assert_eq!(h.as_str(), "reviews.bookinfo.svc.cluster.local");
    /// assert_eq!(Hostname::resolve("reviews.prod", "bookinfo", "cluster.local").as_str(), "reviews.prod");
    /// ```
    pub fn resolve(name: &str, namespace: &str, domain: &str) -> Hostname {
        if name == "*" || name.contains('.') || name.parse::<std::net::IpAddr>().is_ok() {
            Hostname::new(name)
        } else {
            Hostname::new(&format!("{name}.{namespace}.svc.{domain}"))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a wildcard (`*` or `*.suffix`).
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with('*')
    }

    /// For a wildcard, the suffix after `*` (`.foo.com`; `""` for `*`).
    fn suffix(&self) -> &str {
        &self.0[1..]
    }

    /// Whether the two hosts overlap (HOST-4 `Matches`): equal concrete
    /// names; a concrete name ending with a wildcard's suffix; two
    /// wildcards of which one suffix ends with the other.
    pub fn matches(&self, other: &Hostname) -> bool {
        match (self.is_wildcard(), other.is_wildcard()) {
            (false, false) => self == other,
            (true, false) => other.as_str().ends_with(self.suffix()),
            (false, true) => self.as_str().ends_with(other.suffix()),
            (true, true) => {
                let (a, b) = (self.suffix(), other.suffix());
                if a.len() > b.len() {
                    a.ends_with(b)
                } else {
                    b.ends_with(a)
                }
            }
        }
    }

    /// Whether every host this one matches is also matched by `other`
    /// (HOST-4 `SubsetOf`).
    pub fn subset_of(&self, other: &Hostname) -> bool {
        match (self.is_wildcard(), other.is_wildcard()) {
            (false, false) => self == other,
            (false, true) => self.as_str().ends_with(other.suffix()),
            (true, false) => false,
            (true, true) => {
                self.0.len() >= other.0.len() && self.suffix().ends_with(other.suffix())
            }
        }
    }

    /// The names both this pattern and `other` match, when one of them
    /// holds the other: the more specific of the two (HOST-4; one pair of
    /// Istio's `Names.Intersection`). `None` when neither holds the other.
    ///
    /// ```
    /// use mesh_model::host::Hostname;
    /// let (a, any_foo) = (Hostname::new("a.foo.com"), Hostname::new("*.foo.com"));
    /// assert_eq!(a.intersection(&any_foo), Some(&a));
    /// assert_eq!(any_foo.intersection(&a), Some(&a));
    /// assert_eq!(a.intersection(&Hostname::new("b.foo.com")), None);
    /// ```
    pub fn intersection<'a>(&'a self, other: &'a Hostname) -> Option<&'a Hostname> {
        match (self.is_wildcard(), other.is_wildcard()) {
            // Two concrete names (the usual case) hold each other when equal.
            (false, false) => (self == other).then_some(self),
            _ if self.subset_of(other) => Some(self),
            _ => other.subset_of(self).then_some(other),
        }
    }

    /// Whether `host` (a concrete request host) is matched by this pattern.
    pub fn matches_concrete(&self, host: &str) -> bool {
        if self.as_str() == "*" {
            true
        } else if self.is_wildcard() {
            host.len() > self.suffix().len() && host.ends_with(self.suffix())
        } else {
            self.as_str() == host
        }
    }

    /// Istio's `MoreSpecific` order (HOST-5): concrete before wildcard,
    /// then longer before shorter, then lexicographic.
    pub fn specificity_cmp(&self, other: &Hostname) -> Ordering {
        match (self.is_wildcard(), other.is_wildcard()) {
            (false, true) => Ordering::Less,
            (true, false) => Ordering::Greater,
            _ => other
                .0
                .len()
                .cmp(&self.0.len())
                .then_with(|| self.0.cmp(&other.0)),
        }
    }

    /// The most specific of `candidates` that matches `host` (HOST-5
    /// `MostSpecificHostMatch`): an exact hit, else the most specific
    /// matching wildcard.
    pub fn most_specific_match<'a>(
        host: &Hostname,
        candidates: impl IntoIterator<Item = &'a Hostname>,
    ) -> Option<&'a Hostname> {
        let mut best: Option<&Hostname> = None;
        for c in candidates {
            if c == host {
                return Some(c);
            }
            if c.is_wildcard() && host.subset_of(c) {
                best = match best {
                    Some(b) if b.specificity_cmp(c) != Ordering::Greater => Some(b),
                    _ => Some(c),
                };
            }
        }
        best
    }
}

impl fmt::Debug for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Hostname {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl AsRef<str> for Hostname {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Sets and maps keyed by host name can be searched with a `&str`: a
/// `Hostname` compares, orders and hashes as its text.
impl std::borrow::Borrow<str> for Hostname {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Hostname {
    fn from(s: &str) -> Self {
        Hostname::new(s)
    }
}

/// `name.namespace.svc.domain`: the FQDN of a Kubernetes service.
pub fn service_fqdn(name: &str, namespace: &str, domain: &str) -> Hostname {
    Hostname::new(&format!("{name}.{namespace}.svc.{domain}"))
}

/// A port's decimal digits, written without allocating.
///
/// ```
/// use mesh_model::host::PortDigits;
/// assert_eq!(PortDigits::new(9080).as_str(), "9080");
/// assert_eq!(PortDigits::new(0).as_str(), "0");
/// ```
#[derive(Clone, Copy)]
pub struct PortDigits {
    digits: [u8; 5],
    start: u8,
}

impl PortDigits {
    /// The digits of `port`.
    pub fn new(port: u16) -> PortDigits {
        let mut digits = [b'0'; 5];
        let mut at = digits.len();
        let mut n = port;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        PortDigits {
            digits,
            start: at as u8,
        }
    }

    /// The digits as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits were written.
        std::str::from_utf8(&self.digits[usize::from(self.start)..]).unwrap_or("0")
    }
}

/// Joins `pieces` into one string, allocated once at its exact size.
///
/// The names of clusters, virtual hosts and route decorators are made per
/// route, many thousands in a large mesh; `format!` costs several times
/// more than this.
///
/// ```
/// use mesh_model::host::{PortDigits, concat};
/// let port = PortDigits::new(80);
/// assert_eq!(concat(&["reviews", ":", port.as_str()]), "reviews:80");
/// ```
pub fn concat(pieces: &[&str]) -> String {
    let mut out = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
    for p in pieces {
        out.push_str(p);
    }
    out
}

/// Istio's Envoy cluster name for a host, port and subset,
/// `outbound|<port>|<subset>|<host>` (XDS-3, `BuildSubsetKey`).
///
/// ```
/// assert_eq!(
///     mesh_model::host::cluster_name(9080, "v1", "reviews.bookinfo.svc.cluster.local"),
///     "outbound|9080|v1|reviews.bookinfo.svc.cluster.local"
/// );
/// ```
pub fn cluster_name(port: u16, subset: &str, host: &str) -> String {
    concat(&[
        "outbound|",
        PortDigits::new(port).as_str(),
        "|",
        subset,
        "|",
        host,
    ])
}

/// Istio's SNI for a host, port and subset,
/// `outbound_.<port>_.<subset>_.<host>` (`BuildDNSSrvSubsetKey`): what an
/// Istio mTLS client sends (DR-8), and the name of the SNI-DNAT cluster an
/// `AUTO_PASSTHROUGH` gateway forwards it to (GW-7).
///
/// ```
/// assert_eq!(
///     mesh_model::host::sni_name(9080, None, "reviews.bookinfo.svc.cluster.local"),
///     "outbound_.9080_._.reviews.bookinfo.svc.cluster.local"
/// );
/// ```
pub fn sni_name(port: u16, subset: Option<&str>, host: &str) -> String {
    let port = PortDigits::new(port);
    concat(&[
        "outbound_.",
        port.as_str(),
        "_.",
        subset.unwrap_or(""),
        "_.",
        host,
    ])
}

/// `host:port`, with an IPv6 address in brackets (`[::1]:80`): the name
/// Istio gives a virtual host.
///
/// ```
/// use mesh_model::host::host_port;
/// assert_eq!(host_port("reviews", 9080), "reviews:9080");
/// assert_eq!(host_port("::1", 80), "[::1]:80");
/// ```
pub fn host_port(host: &str, port: u16) -> String {
    let port = PortDigits::new(port);
    if host.contains(':') {
        concat(&["[", host, "]:", port.as_str()])
    } else {
        concat(&[host, ":", port.as_str()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The joined names equal what `format!` writes, at every digit count.
    #[test]
    fn names_match_format() {
        for port in [0u16, 7, 80, 443, 9080, 15443, u16::MAX] {
            assert_eq!(PortDigits::new(port).as_str(), port.to_string());
            for subset in ["", "v1"] {
                assert_eq!(
                    cluster_name(port, subset, "a.b.svc.cluster.local"),
                    format!("outbound|{port}|{subset}|a.b.svc.cluster.local")
                );
            }
            assert_eq!(
                sni_name(port, Some("v1"), "h"),
                format!("outbound_.{port}_.v1_.h")
            );
            assert_eq!(host_port("a.b", port), format!("a.b:{port}"));
            assert_eq!(host_port("fe80::1", port), format!("[fe80::1]:{port}"));
        }
    }

    fn h(s: &str) -> Hostname {
        Hostname::new(s)
    }

    /// HOST-3, HOST-4
    #[test]
    fn wildcard_matching() {
        assert!(h("*.foo.com").matches(&h("a.foo.com")));
        assert!(h("*.foo.com").matches(&h("a.b.foo.com")));
        assert!(!h("*.foo.com").matches(&h("foo.com")));
        assert!(h("*").matches(&h("foo.com")));
        assert!(h("*.com").matches(&h("*.foo.com")));
        assert!(h("*.foo.com").matches(&h("*.com")));
        assert!(!h("a.com").matches(&h("b.com")));
        assert!(h("a.foo.com").subset_of(&h("*.foo.com")));
        assert!(!h("*.foo.com").subset_of(&h("a.foo.com")));
        assert!(h("*.a.foo.com").subset_of(&h("*.foo.com")));
        assert!(!h("*.foo.com").subset_of(&h("*.a.foo.com")));
        assert!(h("*.foo.com").subset_of(&h("*")));
    }

    /// HOST-1
    #[test]
    fn short_names_resolve_in_the_config_namespace() {
        assert_eq!(
            Hostname::resolve("reviews", "bookinfo", "cluster.local").as_str(),
            "reviews.bookinfo.svc.cluster.local"
        );
        assert_eq!(Hostname::resolve("*", "ns", "cluster.local").as_str(), "*");
        assert_eq!(
            Hostname::resolve("10.0.0.1", "ns", "cluster.local").as_str(),
            "10.0.0.1"
        );
        assert_eq!(
            Hostname::resolve("reviews.prod", "ns", "cluster.local").as_str(),
            "reviews.prod"
        );
    }

    /// HOST-5
    #[test]
    fn specificity() {
        let mut v = [
            h("*"),
            h("*.com"),
            h("a.foo.com"),
            h("*.foo.com"),
            h("b.com"),
        ];
        v.sort_by(Hostname::specificity_cmp);
        let got: Vec<_> = v.iter().map(Hostname::as_str).collect();
        assert_eq!(got, ["a.foo.com", "b.com", "*.foo.com", "*.com", "*"]);
        let cands = [h("*.com"), h("*.foo.com"), h("*")];
        assert_eq!(
            Hostname::most_specific_match(&h("x.foo.com"), &cands).map(Hostname::as_str),
            Some("*.foo.com")
        );
    }
}
