//! Matching one request against one [`RouteMatch`], as Envoy's
//! `RouteEntryImplBase::matchRoute` does (§3.2 of the semantics reference).
//!
//! [`RouteMatch::first_failure`] is the single implementation: the fast
//! router asks whether it is `None`, and explain turns its answer into a
//! [`Mismatch`].

use crate::config::{
    ClaimMatcher, HeaderMatcher, Mismatch, PathMatch, QueryParameterMatcher, RouteMatch,
    StringMatcher, ValueMatch,
};
use crate::request::Request;

/// The first condition of a route match that a request fails (borrowed:
/// finding it allocates nothing).
#[derive(Debug, Clone, Copy)]
pub enum Failure<'m> {
    /// The path specifier.
    Path,
    /// A header matcher.
    Header(&'m HeaderMatcher),
    /// A query parameter matcher.
    Query(&'m QueryParameterMatcher),
    /// A claim matcher.
    Claim(&'m ClaimMatcher),
}

/// ASCII case-insensitive `starts_with`.
fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

impl PathMatch {
    /// Whether `path` (without query) matches; `case_sensitive` applies to
    /// prefix and exact paths only (VS-10: never to regexes).
    pub fn matches(&self, path: &str, case_sensitive: bool) -> bool {
        match self {
            PathMatch::Prefix(p) => {
                if case_sensitive {
                    path.starts_with(p.as_str())
                } else {
                    starts_with_ci(path, p)
                }
            }
            PathMatch::Path(p) => {
                if case_sensitive {
                    path == p
                } else {
                    path.eq_ignore_ascii_case(p)
                }
            }
            PathMatch::SafeRegex(r) => r.is_match(path),
        }
    }
}

impl HeaderMatcher {
    /// Envoy's `HeaderUtility::matchHeaders` for one matcher (VS-12,
    /// VS-16, VS-17): presence is tested on its own; otherwise an absent
    /// header fails unless `treat_missing_header_as_empty`; a repeated
    /// header matches when any one occurrence does (Envoy 1.40 matches each
    /// value on its own, not the `,`-joined string); the result is then
    /// inverted by `invert_match`.
    pub fn matches(&self, req: &Request<'_>) -> bool {
        let mut values = req.header_occurrences(&self.name).peekable();
        let present = values.peek().is_some();
        match &self.value {
            ValueMatch::Present => present != self.invert_match,
            ValueMatch::String(m) => {
                let hit = if present {
                    values.any(|v| m.matches(v))
                } else if self.treat_missing_header_as_empty {
                    m.matches("")
                } else {
                    return false;
                };
                hit != self.invert_match
            }
        }
    }
}

impl QueryParameterMatcher {
    /// Envoy's `QueryParameterMatcher::matches`: the first occurrence,
    /// raw; absent never matches (VS-12).
    pub fn matches(&self, req: &Request<'_>) -> bool {
        match req.query_param(&self.name) {
            None => false,
            Some(v) => match &self.value {
                ValueMatch::Present => true,
                ValueMatch::String(m) => m.matches(v),
            },
        }
    }
}

impl ClaimMatcher {
    /// A string claim, or any element of a list claim, matches; a missing
    /// claim does not (an inverted matcher flips the answer).
    pub fn matches(&self, req: &Request<'_>) -> bool {
        let mut hit = false;
        for (k, v) in req.claims {
            if !k.split('.').eq(self.claim.iter().map(String::as_str)) {
                continue;
            }
            if match &self.value {
                ValueMatch::Present => true,
                ValueMatch::String(m) => m.matches(v),
            } {
                hit = true;
                break;
            }
        }
        hit != self.invert
    }
}

impl RouteMatch {
    /// The first condition `req` fails, or `None` when the route matches.
    pub fn first_failure(&self, req: &Request<'_>) -> Option<Failure<'_>> {
        self.first_failure_at(req, req.path_only())
    }

    /// [`RouteMatch::first_failure`] with the request's path without query
    /// already split off (the router splits it once per request).
    #[inline]
    pub fn first_failure_at(&self, req: &Request<'_>, path_only: &str) -> Option<Failure<'_>> {
        if !self.path.matches(path_only, self.case_sensitive) {
            return Some(Failure::Path);
        }
        self.first_failure_beyond_path(req)
    }

    /// The first condition after the path that `req` fails: for a router
    /// that already knows the path matches.
    #[inline]
    pub(crate) fn first_failure_beyond_path(&self, req: &Request<'_>) -> Option<Failure<'_>> {
        for h in &self.headers {
            if !h.matches(req) {
                return Some(Failure::Header(h));
            }
        }
        for q in &self.query_parameters {
            if !q.matches(req) {
                return Some(Failure::Query(q));
            }
        }
        for c in &self.claims {
            if !c.matches(req) {
                return Some(Failure::Claim(c));
            }
        }
        None
    }

    /// Whether `req` matches.
    #[inline]
    pub fn matches(&self, req: &Request<'_>) -> bool {
        self.first_failure(req).is_none()
    }

    /// Whether `req`, whose path without query is `path_only`, matches.
    #[inline]
    pub fn matches_at(&self, req: &Request<'_>, path_only: &str) -> bool {
        self.first_failure_at(req, path_only).is_none()
    }

    /// Why `req` does not match, for explain.
    pub fn mismatch(&self, req: &Request<'_>) -> Option<Mismatch> {
        Some(match self.first_failure(req)? {
            Failure::Path => Mismatch::Path {
                expected: if self.case_sensitive || matches!(self.path, PathMatch::SafeRegex(_)) {
                    self.path.to_string()
                } else {
                    format!("{} (ignoring case)", self.path)
                },
                actual: req.path_only().to_string(),
            },
            Failure::Header(h) => Mismatch::Header {
                name: h.name.clone(),
                expected: if h.invert_match {
                    format!("not {}", h.value)
                } else {
                    h.value.to_string()
                },
                actual: req.header(&h.name).as_str().map(str::to_string),
            },
            Failure::Query(q) => Mismatch::QueryParameter {
                name: q.name.clone(),
                expected: q.value.to_string(),
                actual: req.query_param(&q.name).map(str::to_string),
            },
            Failure::Claim(c) => Mismatch::Claim {
                claim: c.claim.join("."),
                expected: if c.invert {
                    format!("not {}", c.value)
                } else {
                    c.value.to_string()
                },
            },
        })
    }
}

impl StringMatcher {
    /// The exact value, when this is an exact matcher.
    pub(crate) fn exact(&self) -> Option<&str> {
        match self {
            StringMatcher::Exact(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_model::networking::FullRegex;

    fn hm(name: &str, value: ValueMatch, invert: bool) -> HeaderMatcher {
        HeaderMatcher {
            name: name.into(),
            treat_missing_header_as_empty: invert && value != ValueMatch::Present,
            value,
            invert_match: invert,
        }
    }

    fn exact(s: &str) -> ValueMatch {
        ValueMatch::String(StringMatcher::Exact(s.into()))
    }

    /// VS-17: withoutHeaders semantics since 1.22.
    #[test]
    fn without_headers() {
        let none: [(&str, &str); 0] = [];
        let a = [("x", "a")];
        let b = [("x", "b")];
        let req =
            |h: &'static [(&'static str, &'static str)]| Request::new("h", "/").with_headers(h);
        let m = hm("x", exact("a"), true);
        assert!(m.matches(&Request::new("h", "/").with_headers(&none)));
        assert!(!m.matches(&Request::new("h", "/").with_headers(&a)));
        assert!(m.matches(&Request::new("h", "/").with_headers(&b)));
        let present = hm("x", ValueMatch::Present, true);
        assert!(present.matches(&req(&[])));
        assert!(!present.matches(&req(&[("x", "")])));
        let any = hm(
            "x",
            ValueMatch::String(StringMatcher::SafeRegex(FullRegex::new(".*").unwrap())),
            true,
        );
        assert!(!any.matches(&req(&[])));
        assert!(!any.matches(&req(&[("x", "q")])));
    }

    /// VS-16: `exact: ""` requires an empty value, presence any value.
    #[test]
    fn presence_and_empty() {
        let req =
            |h: &'static [(&'static str, &'static str)]| Request::new("h", "/").with_headers(h);
        let e = hm("x", exact(""), false);
        assert!(!e.matches(&req(&[])));
        assert!(e.matches(&req(&[("x", "")])));
        assert!(!e.matches(&req(&[("x", "1")])));
        let p = hm("x", ValueMatch::Present, false);
        assert!(p.matches(&req(&[("X", "")])));
        assert!(!p.matches(&req(&[])));
    }

    /// VS-10, VS-15: path matching on the path without query.
    #[test]
    fn paths() {
        let p = PathMatch::Prefix("/foo".into());
        assert!(p.matches("/foobar", true));
        assert!(!p.matches("/Foo", true));
        assert!(p.matches("/FOO", false));
        let q = PathMatch::Prefix("/foo?x".into());
        assert!(!q.matches(Request::new("h", "/foo?x=1").path_only(), true));
        let r = PathMatch::SafeRegex(FullRegex::new("/a+").unwrap());
        assert!(r.matches("/aaa", true));
        assert!(!r.matches("/aaab", true));
        assert!(!r.matches("/AAA", false));
    }
}
