//! How AuthorizationPolicy values match request attributes (AZ-20).
//!
//! Each type here is one of the matchers Istio's builder generates for
//! Envoy (`pilot/pkg/security/authz/matcher`, `model/generator.go`),
//! evaluated directly: the xDS compiler uses the same types to emit the
//! Envoy form, so the engine and the proxy cannot disagree.
//!
//! * [`StringMatch`]: `v` exact, `v*` prefix, `*v` suffix, `*` any
//!   non-empty value (regex `.+`) or, for headers, methods and hosts, plain
//!   presence.
//! * [`PathMatch`]: a [`StringMatch`] on the path without query, or a path
//!   template with `{*}` (one segment) and `{**}` (the rest).
//! * [`PrincipalMatch`], [`NamespaceMatch`], [`ServiceAccountMatch`],
//!   [`TrustDomainMatch`]: the peer certificate's URI SAN
//!   (`spiffe://td/ns/NS/sa/SA`).
//!
//! Every `matches` call is allocation-free. Identities are URI SANs, which
//! hold no control characters, so the regexes' `.` (any character but a
//! newline) is matched as any character.

use serde::Serialize;
use std::fmt;

/// The URI scheme of SPIFFE identities.
pub const SPIFFE_PREFIX: &str = "spiffe://";

/// A string matcher built from one AuthorizationPolicy value (AZ-20).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum StringMatch {
    /// The value equals this.
    Exact(String),
    /// `v*`: the value starts with this.
    Prefix(String),
    /// `*v`: the value ends with this.
    Suffix(String),
    /// `*` on principals, paths, SNI, JWT claims, metadata: any non-empty
    /// value (Envoy regex `.+`).
    NonEmpty,
    /// `*` on request headers, methods and hosts: the header is present,
    /// with any value, empty included (Envoy `present_match`).
    Present,
}

impl StringMatch {
    /// Istio's `StringMatcher(v)`: `*` means any non-empty value.
    ///
    /// ```
    /// use mesh_authz::matcher::StringMatch;
    /// assert!(StringMatch::parse("/api/*").matches("/api/v1"));
    /// assert!(StringMatch::parse("*.json").matches("/a.json"));
    /// assert!(StringMatch::parse("*").matches("x"));
    /// assert!(!StringMatch::parse("*").matches(""));
    /// ```
    pub fn parse(v: &str) -> StringMatch {
        match v {
            "*" => StringMatch::NonEmpty,
            _ => Self::parse_affixed(v),
        }
    }

    /// Istio's `HeaderMatcher(k, v)`: `*` means the header is present.
    pub fn parse_header(v: &str) -> StringMatch {
        match v {
            "*" => StringMatch::Present,
            _ => Self::parse_affixed(v),
        }
    }

    fn parse_affixed(v: &str) -> StringMatch {
        if let Some(s) = v.strip_prefix('*') {
            StringMatch::Suffix(s.to_string())
        } else if let Some(p) = v.strip_suffix('*') {
            StringMatch::Prefix(p.to_string())
        } else {
            StringMatch::Exact(v.to_string())
        }
    }

    /// Whether a present value matches (case-sensitive).
    pub fn matches(&self, value: &str) -> bool {
        match self {
            StringMatch::Exact(e) => value == e,
            StringMatch::Prefix(p) => value.starts_with(p.as_str()),
            StringMatch::Suffix(s) => value.ends_with(s.as_str()),
            StringMatch::NonEmpty => !value.is_empty(),
            StringMatch::Present => true,
        }
    }

    /// Whether a present value matches, ASCII case-insensitively (hosts).
    pub fn matches_ignore_case(&self, value: &str) -> bool {
        let v = value.as_bytes();
        match self {
            StringMatch::Exact(e) => value.eq_ignore_ascii_case(e),
            StringMatch::Prefix(p) => {
                v.len() >= p.len() && v[..p.len()].eq_ignore_ascii_case(p.as_bytes())
            }
            StringMatch::Suffix(s) => {
                v.len() >= s.len() && v[v.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
            }
            StringMatch::NonEmpty => !value.is_empty(),
            StringMatch::Present => true,
        }
    }

    /// Whether a possibly absent value matches: an absent value matches
    /// nothing, presence included.
    pub fn matches_opt(&self, value: Option<&str>) -> bool {
        value.is_some_and(|v| self.matches(v))
    }
}

impl fmt::Display for StringMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StringMatch::Exact(e) => write!(f, "{e}"),
            StringMatch::Prefix(p) => write!(f, "{p}*"),
            StringMatch::Suffix(s) => write!(f, "*{s}"),
            StringMatch::NonEmpty | StringMatch::Present => f.write_str("*"),
        }
    }
}

/// Removes the query and fragment from a request path, as Envoy's path
/// matchers do (`PathUtil::removeQueryAndFragment`).
///
/// ```
/// assert_eq!(mesh_authz::matcher::strip_query("/a/b?x=1#f"), "/a/b");
/// ```
pub fn strip_query(path: &str) -> &str {
    match path.bytes().position(|b| b == b'?' || b == b'#') {
        Some(i) => &path[..i],
        None => path,
    }
}

/// A `paths` value (AZ-20): a string match on the path without query, or a
/// path template (1.22+).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum PathMatch {
    /// `/exact`, `/prefix*`, `*suffix` or `*` (any non-empty path).
    String(StringMatch),
    /// A path with `{*}` or `{**}`, as Envoy's `uri_template` matcher
    /// evaluates it.
    Template(PathTemplate),
}

impl PathMatch {
    /// Builds the matcher for a `paths` value. Values with `{*}`/`{**}` are
    /// templates (Istio's `ContainsPathTemplate`).
    ///
    /// ```
    /// use mesh_authz::matcher::PathMatch;
    /// let m = PathMatch::parse("/books/{*}/pages/{**}").unwrap();
    /// assert!(m.matches("/books/1/pages/2/3?x=y"));
    /// assert!(!m.matches("/books/1/2/pages/3"));
    /// ```
    pub fn parse(v: &str) -> Result<PathMatch, TemplateError> {
        if v.contains("{*}") || v.contains("{**}") {
            PathTemplate::parse(v).map(PathMatch::Template)
        } else {
            Ok(PathMatch::String(StringMatch::parse(v)))
        }
    }

    /// Whether the request path (query and fragment are ignored) matches.
    pub fn matches(&self, path: &str) -> bool {
        self.matches_without_query(strip_query(path))
    }

    /// Whether a path already stripped of its query matches.
    pub fn matches_without_query(&self, path: &str) -> bool {
        match self {
            PathMatch::String(s) => s.matches(path),
            PathMatch::Template(t) => t.matches(path),
        }
    }
}

/// A path template that Envoy's `uri_template` matcher cannot compile (the
/// proxy would reject the configuration).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path template {template:?}: {reason}")]
pub struct TemplateError {
    /// The template as written.
    pub template: String,
    /// Why it is invalid.
    pub reason: &'static str,
}

/// One segment of a [`PathTemplate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum TemplateSegment {
    /// A literal segment.
    Literal(String),
    /// `{*}`: one non-empty segment of path characters.
    One,
    /// `{**}`: any run of path characters and `/`, possibly empty.
    Any,
}

/// A path template, as Istio hands it to Envoy (`{*}` → `*`, `{**}` →
/// `**`) and as Envoy's `uri_template` library matches it: the template
/// `/s0/s1/…/sn` becomes the anchored regex `/r0/r1/…/rn` where a literal
/// is itself, `*` is `[pchar]+` and `**` is `[pchar/]*`, with
/// pchar = `a-zA-Z0-9-._~%!$&'()+,;:@`. So `/a/{**}` matches `/a/` and
/// `/a/b/c` but not `/a`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathTemplate {
    /// The template as written.
    pub template: String,
    /// The `/`-separated segments; a trailing `/` gives an empty literal.
    pub segments: Vec<TemplateSegment>,
}

/// Envoy's `kLiteral`: the characters `*` and `**` stand for.
fn is_pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()+,;:@".contains(&b)
}

impl PathTemplate {
    /// Parses a template in Istio's syntax.
    pub fn parse(template: &str) -> Result<PathTemplate, TemplateError> {
        let err = |reason| TemplateError {
            template: template.to_string(),
            reason,
        };
        let Some(body) = template.strip_prefix('/') else {
            return Err(err("a template must start with '/'"));
        };
        let mut segments = Vec::new();
        let mut seen_any = false;
        let parts: Vec<&str> = body.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let seg = match *part {
                "{*}" | "*" => TemplateSegment::One,
                "{**}" | "**" => TemplateSegment::Any,
                "" if i + 1 == parts.len() && i > 0 => TemplateSegment::Literal(String::new()),
                lit => {
                    if lit.is_empty() || !lit.bytes().all(is_pchar) {
                        return Err(err(
                            "a literal segment holds characters Envoy does not allow",
                        ));
                    }
                    TemplateSegment::Literal(lit.to_string())
                }
            };
            if matches!(seg, TemplateSegment::One | TemplateSegment::Any) {
                if seen_any {
                    return Err(err("{**} must be the last operator"));
                }
                seen_any = seg == TemplateSegment::Any;
            }
            segments.push(seg);
        }
        Ok(PathTemplate {
            template: template.to_string(),
            segments,
        })
    }

    /// Whether a path (without query) matches.
    pub fn matches(&self, path: &str) -> bool {
        let Some(mut rest) = path.strip_prefix('/') else {
            return false;
        };
        let n = self.segments.len();
        for (i, seg) in self.segments.iter().enumerate() {
            let last = i + 1 == n;
            match seg {
                TemplateSegment::Any => {
                    // `[pchar/]*` then the fixed literal tail `/l1/…/lk`.
                    let tail = &self.segments[i + 1..];
                    let tail_len: usize = tail
                        .iter()
                        .map(|s| match s {
                            TemplateSegment::Literal(l) => l.len() + 1,
                            _ => 0,
                        })
                        .sum();
                    if rest.len() < tail_len {
                        return false;
                    }
                    let (mid, end) = rest.split_at(rest.len() - tail_len);
                    if !mid.bytes().all(|b| b == b'/' || is_pchar(b)) {
                        return false;
                    }
                    let mut end = end;
                    for s in tail {
                        let TemplateSegment::Literal(l) = s else {
                            return false;
                        };
                        let Some(r) = end
                            .strip_prefix('/')
                            .and_then(|r| r.strip_prefix(l.as_str()))
                        else {
                            return false;
                        };
                        end = r;
                    }
                    return end.is_empty();
                }
                _ => {
                    let (part, next) = match rest.find('/') {
                        Some(j) if !last => (&rest[..j], Some(&rest[j + 1..])),
                        Some(_) => return false,
                        None if last => (rest, None),
                        None => return false,
                    };
                    let ok = match seg {
                        TemplateSegment::Literal(l) => part == l,
                        _ => !part.is_empty() && part.bytes().all(is_pchar),
                    };
                    if !ok {
                        return false;
                    }
                    match next {
                        Some(n) => rest = n,
                        None => return true,
                    }
                }
            }
        }
        false
    }

    /// The template in Envoy's syntax (`{*}` → `*`, `{**}` → `**`), as the
    /// xDS compiler writes it into `UriTemplateMatchConfig`.
    pub fn envoy_template(&self) -> String {
        self.template.replace("{**}", "**").replace("{*}", "*")
    }
}

/// A `principals` / `source.principal` value (AZ-20), matched against the
/// peer's URI SAN `spiffe://…` as Istio's `StringMatcherWithPrefix(v,
/// "spiffe://")` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum PrincipalMatch {
    /// `td/ns/a/sa/b`: the URI equals `spiffe://td/ns/a/sa/b`.
    Exact(String),
    /// `td/ns/a/*`: the URI starts with `spiffe://td/ns/a/`.
    Prefix(String),
    /// `*/sa/b`: regex `spiffe://.*/sa/b`.
    Suffix(String),
    /// `*`: any peer with an identity (regex `.+`).
    Any,
}

impl PrincipalMatch {
    /// Builds the matcher for a principal value.
    ///
    /// ```
    /// use mesh_authz::matcher::PrincipalMatch;
    /// let m = PrincipalMatch::parse("cluster.local/ns/foo/*");
    /// assert!(m.matches("spiffe://cluster.local/ns/foo/sa/bar"));
    /// ```
    pub fn parse(v: &str) -> PrincipalMatch {
        if v == "*" {
            PrincipalMatch::Any
        } else if let Some(s) = v.strip_prefix('*') {
            PrincipalMatch::Suffix(s.to_string())
        } else if let Some(p) = v.strip_suffix('*') {
            PrincipalMatch::Prefix(format!("{SPIFFE_PREFIX}{p}"))
        } else {
            PrincipalMatch::Exact(format!("{SPIFFE_PREFIX}{v}"))
        }
    }

    /// Whether the peer URI SAN matches.
    pub fn matches(&self, uri: &str) -> bool {
        match self {
            PrincipalMatch::Exact(e) => uri == e,
            PrincipalMatch::Prefix(p) => uri.starts_with(p.as_str()),
            PrincipalMatch::Suffix(s) => uri
                .strip_prefix(SPIFFE_PREFIX)
                .is_some_and(|r| r.ends_with(s.as_str())),
            PrincipalMatch::Any => !uri.is_empty(),
        }
    }
}

impl fmt::Display for PrincipalMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let strip = |s: &str| s.strip_prefix(SPIFFE_PREFIX).unwrap_or(s).to_string();
        match self {
            PrincipalMatch::Exact(e) => write!(f, "{}", strip(e)),
            PrincipalMatch::Prefix(p) => write!(f, "{}*", strip(p)),
            PrincipalMatch::Suffix(s) => write!(f, "*{s}"),
            PrincipalMatch::Any => f.write_str("*"),
        }
    }
}

/// A `namespaces` / `source.namespace` value: regex `.*/ns/<v>/.*` on the
/// peer URI, each `*` in the value becoming `.*` (AZ-20).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceMatch {
    /// The value as written.
    pub value: String,
    /// The literal pieces of `/ns/<v>/` between the `.*` wildcards.
    pieces: Vec<String>,
}

impl NamespaceMatch {
    /// Builds the matcher for a namespace value.
    ///
    /// ```
    /// use mesh_authz::matcher::NamespaceMatch;
    /// assert!(NamespaceMatch::parse("foo").matches("spiffe://td/ns/foo/sa/x"));
    /// assert!(NamespaceMatch::parse("f*").matches("spiffe://td/ns/fab/sa/x"));
    /// assert!(!NamespaceMatch::parse("foo").matches("spiffe://td/ns/foobar/sa/x"));
    /// ```
    pub fn parse(v: &str) -> NamespaceMatch {
        let pattern = format!("/ns/{v}/");
        NamespaceMatch {
            value: v.to_string(),
            pieces: pattern.split('*').map(str::to_string).collect(),
        }
    }

    /// The regex Istio generates for Envoy.
    pub fn envoy_regex(&self) -> String {
        let quoted: Vec<String> = self.value.split('*').map(regex_quote).collect();
        format!(".*/ns/{}/.*", quoted.join(".*"))
    }

    /// Whether the peer URI SAN matches.
    pub fn matches(&self, uri: &str) -> bool {
        // `.*P0.*P1….*Pk.*` (unanchored at both ends): find each piece after
        // the previous one; leftmost-first is optimal for `.*` gaps. The
        // first piece starts with `/`.
        let Some((first, more)) = self.pieces.split_first() else {
            return true;
        };
        let Some(end) = find_at_slash(uri, first) else {
            return false;
        };
        let mut rest = &uri[end..];
        for p in more {
            match rest.find(p.as_str()) {
                Some(i) => rest = &rest[i + p.len()..],
                None => return false,
            }
        }
        true
    }
}

/// A `serviceAccounts` / `source.serviceAccount` value (1.25+): regex
/// `spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)?` where a bare `sa` means the
/// policy's namespace (AZ-20).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceAccountMatch {
    /// The namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: String,
    #[serde(skip)]
    ns_needle: String,
    #[serde(skip)]
    sa_needle: String,
}

impl ServiceAccountMatch {
    /// Builds the matcher for `ns/sa` or `sa` (then in `policy_namespace`).
    ///
    /// ```
    /// use mesh_authz::matcher::ServiceAccountMatch;
    /// let m = ServiceAccountMatch::parse("bar", "foo");
    /// assert!(m.matches("spiffe://cluster.local/ns/foo/sa/bar"));
    /// assert!(!m.matches("spiffe://cluster.local/ns/foo/sa/bar-2"));
    /// ```
    pub fn parse(v: &str, policy_namespace: &str) -> ServiceAccountMatch {
        let (ns, sa) = v.split_once('/').unwrap_or((policy_namespace, v));
        ServiceAccountMatch {
            namespace: ns.to_string(),
            service_account: sa.to_string(),
            ns_needle: format!("/ns/{ns}/"),
            sa_needle: format!("sa/{sa}"),
        }
    }

    /// The regex Istio generates for Envoy.
    pub fn envoy_regex(&self) -> String {
        format!(
            "spiffe://.+/ns/{}/(.+/|)sa/{}(/.+)?",
            regex_quote(&self.namespace),
            regex_quote(&self.service_account)
        )
    }

    /// Whether the peer URI SAN matches.
    pub fn matches(&self, uri: &str) -> bool {
        let Some(rest) = uri.strip_prefix(SPIFFE_PREFIX) else {
            return false;
        };
        // `(/.+)?$` after the service account.
        let tail_ok = |t: &str| t.is_empty() || (t.len() > 1 && t.starts_with('/'));
        let slashes = rest.bytes().enumerate().filter(|(_, b)| *b == b'/');
        for (i, _) in slashes.filter(|(i, _)| rest[*i..].starts_with(self.ns_needle.as_str())) {
            if i == 0 {
                continue; // `.+` before `/ns/` needs one character
            }
            let after = &rest[i + self.ns_needle.len()..];
            if let Some(t) = after.strip_prefix(self.sa_needle.as_str())
                && tail_ok(t)
            {
                return true;
            }
            // `.+/sa/<sa>`: an occurrence of `/sa/<sa>` past the first byte.
            for (j, _) in after.match_indices(self.sa_needle.as_str()) {
                if j >= 2
                    && after.as_bytes()[j - 1] == b'/'
                    && tail_ok(&after[j + self.sa_needle.len()..])
                {
                    return true;
                }
            }
        }
        false
    }
}

/// A `trustDomains` / `source.trustDomain` value (1.31+, AZ-20): `*` any
/// SPIFFE identity, `td` the prefix `spiffe://td/`, and one `*` elsewhere a
/// wildcard inside the trust domain (regex `spiffe://A[^/]*B/.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum TrustDomainMatch {
    /// `*`: the URI starts with `spiffe://`.
    Any,
    /// The URI starts with `spiffe://<td>/`.
    Exact(String),
    /// `A*B`: the trust domain starts with `A`, ends with `B`.
    Wildcard(String, String),
}

impl TrustDomainMatch {
    /// Builds the matcher for a trust-domain value.
    ///
    /// ```
    /// use mesh_authz::matcher::TrustDomainMatch;
    /// assert!(TrustDomainMatch::parse("td1").matches("spiffe://td1/ns/a/sa/b"));
    /// assert!(TrustDomainMatch::parse("*-td").matches("spiffe://old-td/ns/a/sa/b"));
    /// ```
    pub fn parse(v: &str) -> TrustDomainMatch {
        match v.split_once('*') {
            _ if v == "*" => TrustDomainMatch::Any,
            None => TrustDomainMatch::Exact(v.to_string()),
            Some((a, b)) => TrustDomainMatch::Wildcard(a.to_string(), b.to_string()),
        }
    }

    /// Whether the peer URI SAN matches.
    pub fn matches(&self, uri: &str) -> bool {
        let Some(rest) = uri.strip_prefix(SPIFFE_PREFIX) else {
            return false;
        };
        match self {
            TrustDomainMatch::Any => true,
            TrustDomainMatch::Exact(td) => rest
                .strip_prefix(td.as_str())
                .is_some_and(|r| r.starts_with('/')),
            TrustDomainMatch::Wildcard(a, b) => rest.match_indices('/').any(|(k, _)| {
                let seg = &rest[..k];
                seg.len() >= a.len() + b.len()
                    && seg.starts_with(a.as_str())
                    && seg.ends_with(b.as_str())
                    && !seg[a.len()..seg.len() - b.len()].contains('/')
            }),
        }
    }
}

impl fmt::Display for TrustDomainMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustDomainMatch::Any => f.write_str("*"),
            TrustDomainMatch::Exact(td) => f.write_str(td),
            TrustDomainMatch::Wildcard(a, b) => write!(f, "{a}*{b}"),
        }
    }
}

/// A `requestPrincipals` / `request.auth.principal` value: the JWT `iss`
/// and `sub` claims, split at the **last** `/` (issuers are URLs), each
/// matched as Istio's `requestPrincipalGenerator` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestPrincipalMatch {
    /// Matcher for `iss`.
    pub issuer: StringMatch,
    /// Matcher for `sub`.
    pub subject: StringMatch,
}

impl RequestPrincipalMatch {
    /// Builds the matcher for a request-principal value.
    ///
    /// ```
    /// use mesh_authz::matcher::RequestPrincipalMatch;
    /// let m = RequestPrincipalMatch::parse("https://issuer.example.com/user-*");
    /// assert!(m.matches("https://issuer.example.com", "user-1"));
    /// let any = RequestPrincipalMatch::parse("*");
    /// assert!(!any.matches("iss", ""));
    /// ```
    pub fn parse(v: &str) -> RequestPrincipalMatch {
        let split = v.rfind('/').map(|i| (&v[..i], &v[i + 1..]));
        let (issuer, subject) = if v == "*" {
            (StringMatch::NonEmpty, StringMatch::NonEmpty)
        } else if let Some(rest) = v.strip_prefix('*') {
            match split {
                Some((iss, sub)) => (
                    if iss == "*" {
                        StringMatch::NonEmpty
                    } else {
                        StringMatch::Suffix(iss[1..].to_string())
                    },
                    StringMatch::Exact(sub.to_string()),
                ),
                None => (StringMatch::NonEmpty, StringMatch::Suffix(rest.to_string())),
            }
        } else if let Some(rest) = v.strip_suffix('*') {
            match split {
                Some((iss, sub)) => (
                    StringMatch::Exact(iss.to_string()),
                    if sub == "*" {
                        StringMatch::NonEmpty
                    } else {
                        StringMatch::Prefix(sub[..sub.len() - 1].to_string())
                    },
                ),
                None => (StringMatch::Prefix(rest.to_string()), StringMatch::NonEmpty),
            }
        } else {
            match split {
                Some((iss, sub)) => (
                    StringMatch::Exact(iss.to_string()),
                    StringMatch::Exact(sub.to_string()),
                ),
                None => (
                    StringMatch::Exact(v.to_string()),
                    StringMatch::Exact(String::new()),
                ),
            }
        };
        RequestPrincipalMatch { issuer, subject }
    }

    /// Whether the token's `iss` and `sub` match.
    pub fn matches(&self, iss: &str, sub: &str) -> bool {
        self.issuer.matches(iss) && self.subject.matches(sub)
    }
}

/// The end of the first occurrence of `needle` (which starts with `/`) in
/// `hay`: only the `/` positions are candidates, a short scan for URIs.
fn find_at_slash(hay: &str, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    (0..h.len())
        .filter(|&i| h[i] == b'/')
        .find(|&i| h[i..].starts_with(needle.as_bytes()))
        .map(|i| i + needle.len())
}

/// Go's `regexp.QuoteMeta`.
pub fn regex_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms() {
        assert_eq!(StringMatch::parse("a*"), StringMatch::Prefix("a".into()));
        assert_eq!(StringMatch::parse("*a"), StringMatch::Suffix("a".into()));
        assert_eq!(StringMatch::parse("*"), StringMatch::NonEmpty);
        assert_eq!(StringMatch::parse_header("*"), StringMatch::Present);
        assert!(StringMatch::parse_header("*").matches(""));
        // A `*` in the middle is literal.
        assert!(StringMatch::parse("a*b").matches("a*b"));
        assert!(!StringMatch::parse("a*b").matches("axb"));
        assert!(StringMatch::parse("EXAMPLE.com").matches_ignore_case("example.COM"));
        assert!(StringMatch::parse("*.Com").matches_ignore_case("a.cOm"));
    }

    #[test]
    fn templates() {
        let t = |p: &str| PathMatch::parse(p).unwrap();
        assert!(t("/a/{*}").matches("/a/b"));
        assert!(!t("/a/{*}").matches("/a/"));
        assert!(!t("/a/{*}").matches("/a/b/c"));
        assert!(t("/a/{**}").matches("/a/"));
        assert!(t("/a/{**}").matches("/a/b/c"));
        assert!(!t("/a/{**}").matches("/a"));
        assert!(t("/a/{**}/z").matches("/a/b/c/z"));
        assert!(t("/a/{**}/z").matches("/a//z"));
        assert!(!t("/a/{**}/z").matches("/a/z"));
        assert!(t("/{*}/x/").matches("/y/x/"));
        assert!(!t("/{*}/x/").matches("/y/x"));
        assert!(!t("/a/{*}").matches("/a/b=c"));
        assert!(PathMatch::parse("/a/{**}/{*}").is_err());
    }

    #[test]
    fn service_accounts() {
        let m = ServiceAccountMatch::parse("ns1/sa1", "foo");
        assert!(m.matches("spiffe://td/ns/ns1/sa/sa1"));
        assert!(m.matches("spiffe://td/ns/ns1/x/sa/sa1/y"));
        assert!(!m.matches("spiffe://td/ns/ns1/sa/sa1/"));
        assert!(!m.matches("spiffe:///ns/ns1/sa/sa1"));
        assert!(!m.matches("spiffe://td/ns/ns1/sa/sa12"));
    }

    #[test]
    fn request_principals() {
        let m = RequestPrincipalMatch::parse("*/sub");
        assert_eq!(m.issuer, StringMatch::NonEmpty);
        assert_eq!(m.subject, StringMatch::Exact("sub".into()));
        let m = RequestPrincipalMatch::parse("*.com/sub");
        assert_eq!(m.issuer, StringMatch::Suffix(".com".into()));
        let m = RequestPrincipalMatch::parse("iss/*");
        assert_eq!(m.subject, StringMatch::NonEmpty);
        let m = RequestPrincipalMatch::parse("iss*");
        assert_eq!(m.issuer, StringMatch::Prefix("iss".into()));
    }
}
