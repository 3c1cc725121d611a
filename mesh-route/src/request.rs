//! An HTTP request as the router sees it: borrowed, so evaluating one
//! allocates nothing.

/// An HTTP request arriving at a proxy.
///
/// The source of the request (namespace, labels, gateway) is not here: it
/// is the proxy the route table was compiled for
/// ([`ProxyContext`](crate::ProxyContext)), because Istio resolves those
/// predicates when it generates the proxy's configuration (VS-3).
///
/// ```
/// use mesh_route::Request;
/// let headers = [("end-user", "jason")];
/// let req = Request::new("reviews:9080", "/reviews/0?x=1").with_headers(&headers);
/// assert_eq!(req.path_only(), "/reviews/0");
/// assert_eq!(req.host_without_port(), "reviews");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `:authority` (the `Host` header) as sent: may carry `:port`.
    pub authority: &'a str,
    /// `:method`.
    pub method: &'a str,
    /// `:path`, with the query string.
    pub path: &'a str,
    /// `:scheme` (`http` or `https`).
    pub scheme: &'a str,
    /// Other headers; names in any case, repeated names allowed.
    pub headers: &'a [(&'a str, &'a str)],
    /// The destination port: the service port on a sidecar, the server
    /// port on a gateway. 0 means "from the authority, else the scheme's
    /// default".
    pub port: u16,
    /// Validated JWT claims, as `(path, value)` with nested claim paths
    /// joined by `.` and one entry per element of a list claim (VS-13).
    pub claims: &'a [(&'a str, &'a str)],
    /// The TLS SNI, on a gateway's HTTPS port (defaults to the authority's
    /// host).
    pub sni: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A `GET` over `http` to `authority` with `path`.
    pub fn new(authority: &'a str, path: &'a str) -> Request<'a> {
        Request {
            authority,
            method: "GET",
            path,
            scheme: "http",
            headers: &[],
            port: 0,
            claims: &[],
            sni: None,
        }
    }

    /// With this method.
    pub fn with_method(mut self, method: &'a str) -> Self {
        self.method = method;
        self
    }

    /// With these headers.
    pub fn with_headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// With this scheme.
    pub fn with_scheme(mut self, scheme: &'a str) -> Self {
        self.scheme = scheme;
        self
    }

    /// With this destination port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// With these JWT claims.
    pub fn with_claims(mut self, claims: &'a [(&'a str, &'a str)]) -> Self {
        self.claims = claims;
        self
    }

    /// The path without query string and fragment: what `uri` matches
    /// compare (VS-10, VS-15).
    #[inline]
    pub fn path_only(&self) -> &'a str {
        match find_query_or_fragment(self.path.as_bytes()) {
            Some(i) => &self.path[..i],
            None => self.path,
        }
    }

    /// The query string after the first `?` (empty when none).
    pub fn query(&self) -> &'a str {
        match self.path.find('?') {
            Some(i) => &self.path[i + 1..],
            None => "",
        }
    }

    /// The authority with a trailing `:port` removed, as Envoy strips it
    /// before matching virtual host domains (`ignore_port_in_host_matching`).
    pub fn host_without_port(&self) -> &'a str {
        strip_port(self.authority)
    }

    /// The port written in the authority, if any.
    pub fn authority_port(&self) -> Option<u16> {
        let host = strip_port(self.authority);
        self.authority.get(host.len() + 1..)?.parse().ok()
    }

    /// The first value of query parameter `name` (raw, not
    /// percent-decoded; `?k` and `?k=` give `""`), as Envoy's
    /// `QueryParamsMulti::getFirstValue` (VS-12).
    pub fn query_param(&self, name: &str) -> Option<&'a str> {
        let q = self.query();
        if q.is_empty() {
            return None;
        }
        for part in q.split('&') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            if k == name {
                return Some(v);
            }
        }
        None
    }
}

/// The first `?` or `#`, eight bytes at a time.
#[inline]
fn find_query_or_fragment(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Bytes equal to `b` get their high bit set (the lowest such byte is
    // exact; bits above it may be false positives, which are never used).
    let hits = |w: u64, b: u8| {
        let x = w ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let mut chunks = s.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let m = hits(w, b'?') | hits(w, b'#');
        if m != 0 {
            return Some(base + (m.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .map(|i| base + i)
}

/// Envoy's `getPortStart`: the part before the last `:` unless that colon
/// is inside an IPv6 literal.
#[inline]
pub(crate) fn strip_port(host: &str) -> &str {
    let b = host.as_bytes();
    let Some(colon) = b.iter().rposition(|&c| c == b':') else {
        return host;
    };
    if b[colon..].contains(&b']') {
        return host;
    }
    &host[..colon]
}

/// A header value as one string (repeated headers joined with `,`).
pub(crate) enum HeaderValue<'a> {
    /// Absent.
    Absent,
    /// One occurrence.
    One(&'a str),
    /// Several occurrences, joined with `,`.
    Joined(String),
}

impl HeaderValue<'_> {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            HeaderValue::Absent => None,
            HeaderValue::One(s) => Some(s),
            HeaderValue::Joined(s) => Some(s),
        }
    }
}

impl<'a> Request<'a> {
    /// The value of header `name` (lower case) as one string, for
    /// explanations: pseudo-headers from the request line, repeated
    /// headers joined with `,`. Matching looks at each occurrence
    /// ([`header_occurrences`](Self::header_occurrences)).
    pub(crate) fn header(&self, name: &str) -> HeaderValue<'a> {
        if let Some(pseudo) = name.strip_prefix(':') {
            let v = match pseudo {
                "method" => self.method,
                "authority" => self.authority,
                "scheme" => self.scheme,
                "path" => self.path,
                _ => return self.plain_header(name),
            };
            return HeaderValue::One(v);
        }
        self.plain_header(name)
    }

    /// Every occurrence of header `name` (lower case), in order; a
    /// pseudo-header has exactly one. Envoy matches a header matcher
    /// against each occurrence on its own (VS-12).
    pub(crate) fn header_occurrences<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = &'a str> + 's {
        let pseudo = match name {
            ":method" => Some(self.method),
            ":authority" => Some(self.authority),
            ":scheme" => Some(self.scheme),
            ":path" => Some(self.path),
            _ => None,
        };
        let plain = pseudo.is_none();
        pseudo.into_iter().chain(
            self.headers
                .iter()
                .filter(move |(k, _)| plain && k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v),
        )
    }

    fn plain_header(&self, name: &str) -> HeaderValue<'a> {
        let mut first: Option<&'a str> = None;
        let mut joined: Option<String> = None;
        for (k, v) in self.headers {
            if !k.eq_ignore_ascii_case(name) {
                continue;
            }
            match (&mut joined, first) {
                (Some(j), _) => {
                    j.push(',');
                    j.push_str(v);
                }
                (None, Some(f)) => {
                    let mut j = String::with_capacity(f.len() + v.len() + 1);
                    j.push_str(f);
                    j.push(',');
                    j.push_str(v);
                    joined = Some(j);
                }
                (None, None) => first = Some(v),
            }
        }
        match (joined, first) {
            (Some(j), _) => HeaderValue::Joined(j),
            (None, Some(f)) => HeaderValue::One(f),
            (None, None) => HeaderValue::Absent,
        }
    }
}

/// The path as Envoy's router sees it under Istio's default
/// `pathNormalization: BASE` (`normalize_path: true`, no slash merging):
/// percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are
/// decoded, then `.` and `..` segments are resolved (RFC 3986 §5.2.4,
/// never above the root). The query is kept as sent, other escapes and
/// repeated slashes too. Paths that do not start with `/` are returned
/// unchanged. Apply it to a raw request path before building a
/// [`Request`] to get Envoy's decision for what a client sent.
///
/// ```
/// use mesh_route::request::normalize_path;
/// assert_eq!(normalize_path("/a/./b/../c?x=/../"), "/a/c?x=/../");
/// assert_eq!(normalize_path("/%2e%2e/Admin/%7euser"), "/Admin/~user");
/// assert_eq!(normalize_path("/a/b/.."), "/a/");
/// assert_eq!(normalize_path("/a//b/%2F"), "/a//b/%2F");
/// assert!(matches!(normalize_path("/plain"), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn normalize_path(raw: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let (path, query) = match raw.find('?') {
        Some(i) => raw.split_at(i),
        None => (raw, ""),
    };
    if !path.starts_with('/') {
        return Cow::Borrowed(raw);
    }
    let dotted = |s: &str| s.split('/').any(|seg| seg == "." || seg == "..");
    if !path.contains('%') && !dotted(path) {
        return Cow::Borrowed(raw);
    }
    let unescaped = unescape_unreserved(path);
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = unescaped[1..].split('/').collect();
    let last = segs.len() - 1;
    for (i, seg) in segs.iter().enumerate() {
        match *seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => {
                out.push(s);
                continue;
            }
        }
        // A dot segment at the end leaves a directory: `/a/b/..` → `/a/`.
        if i == last {
            out.push("");
        }
    }
    let mut s = String::with_capacity(raw.len());
    s.push('/');
    s.push_str(&out.join("/"));
    s.push_str(query);
    if s == raw {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(s)
    }
}

/// Decodes `%XX` escapes of unreserved characters, keeping every other
/// escape (and malformed ones) as written.
fn unescape_unreserved(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            let c = h * 16 + l;
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(c));
                i += 3;
                continue;
            }
        }
        // Byte-wise copy of the rest of one UTF-8 character.
        let len = utf8_len(b[i]);
        out.push_str(&path[i..(i + len).min(b.len())]);
        i += len;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// VS-12: the first occurrence of a query parameter, raw.
    #[test]
    fn query_params() {
        let r = Request::new("a", "/p?x=1&y&x=2&z=%41");
        assert_eq!(r.query_param("x"), Some("1"));
        assert_eq!(r.query_param("y"), Some(""));
        assert_eq!(r.query_param("z"), Some("%41"));
        assert_eq!(r.query_param("w"), None);
        assert_eq!(Request::new("a", "/p").query_param("x"), None);
    }

    /// VS-12: each occurrence of a repeated header is seen on its own; the
    /// explanation joins them with `,`.
    #[test]
    fn repeated_headers() {
        let h = [("X-A", "1"), ("x-a", "2"), ("x-b", "3")];
        let r = Request::new("a", "/").with_headers(&h);
        assert_eq!(r.header_occurrences("x-a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(r.header_occurrences(":method").collect::<Vec<_>>(), ["GET"]);
        assert_eq!(r.header_occurrences("x-c").count(), 0);
    }

    #[test]
    fn repeated_headers_join() {
        let h = [("X-A", "1"), ("x-a", "2"), ("x-b", "3")];
        let r = Request::new("a", "/").with_headers(&h);
        assert_eq!(r.header("x-a").as_str(), Some("1,2"));
        assert_eq!(r.header("x-b").as_str(), Some("3"));
        assert_eq!(r.header("x-c").as_str(), None);
        assert_eq!(r.header(":method").as_str(), Some("GET"));
    }

    #[test]
    fn query_or_fragment_search() {
        for (s, want) in [
            ("", None),
            ("/", None),
            ("/abcdefgh?x", Some(9)),
            ("/abcdefg#?", Some(8)),
            ("/a?", Some(2)),
            ("/aaaaaaaaaaaaaaaaaaaaaaa#", Some(24)),
            ("/\u{bf}\u{a3}?", Some(5)),
            ("/\u{100}\u{123}/abcdefghijk", None),
        ] {
            let naive = s.bytes().position(|b| b == b'?' || b == b'#');
            assert_eq!(naive, want, "{s}");
            assert_eq!(find_query_or_fragment(s.as_bytes()), want, "{s}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(strip_port("a:80"), "a");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(Request::new("a:8080", "/").authority_port(), Some(8080));
        assert_eq!(Request::new("a", "/").authority_port(), None);
        assert_eq!(Request::new("a", "/x#f?q").path_only(), "/x");
    }

    /// Envoy's `normalize_path` (Chromium's path canonicalizer) on the
    /// edges the differential harness sends.
    #[test]
    fn normalized_paths() {
        for (raw, want) in [
            ("/", "/"),
            ("/..", "/"),
            ("/../../a", "/a"),
            ("/a/.", "/a/"),
            ("/a/..", "/"),
            ("/a/%2E%2e/b", "/b"),
            ("/a/.%2e/b", "/b"),
            ("/%2e/a", "/a"),
            ("/a/%2Fb/../c", "/a/c"),
            ("/%7Euser/%41%5a%20", "/~user/AZ%20"),
            ("/a/%zz/%4", "/a/%zz/%4"),
            ("/caf\u{e9}/./x", "/caf\u{e9}/x"),
            ("/a?b=/./c", "/a?b=/./c"),
            ("*", "*"),
        ] {
            let got = normalize_path(raw);
            assert_eq!(got, want, "{raw}");
            assert_eq!(normalize_path(&got), got, "idempotent on {raw}");
        }
    }
}
