//! Checks shared by the webhook rules of several kinds (VAL-H1, VAL-P1,
//! VAL-D1, labels, exportTo, gateway names, header names and values,
//! regexes). Each returns the message Istio's validation gives.

use std::time::Duration;

/// DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS label as Istio's validation checks it (`labels.IsDNS1123Label`):
/// letters of either case, digits and inner dashes, at most 63 characters.
/// Istio applies it to host labels, namespaces in references, gateway,
/// subset and port names, and `exportTo` entries; Kubernetes object names
/// use the stricter lower-case [`is_dns1123_label`].
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_host_label(s: &str) -> bool {
    is_dns_label(s)
}

/// A wildcard label: `*`, `*x`, `*-x`, or a plain label.
fn is_wildcard_label(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    let rest = s
        .strip_prefix("*-")
        .or_else(|| s.strip_prefix('*'))
        .unwrap_or(s);
    s.len() <= 63 && is_host_label(rest)
}

/// `ValidateDNS1123Labels`: every label valid (a trailing dot allowed), the
/// last one not all digits. Messages name `domain`, which for a wildcard
/// domain is the part after the first label, as Istio's do.
fn dns_labels(domain: &str) -> Result<(), String> {
    let parts: Vec<&str> = domain.split('.').collect();
    let tld = parts[parts.len() - 1];
    if is_go_int(tld) {
        return Err(format!(
            "domain name {domain:?} invalid (top level domain {tld:?} cannot be all-numeric)"
        ));
    }
    for (i, label) in parts.iter().enumerate() {
        if i == parts.len() - 1 && label.is_empty() {
            return Ok(());
        }
        if !is_host_label(label) {
            return Err(format!(
                "domain name {domain:?} invalid (label {label:?} invalid)"
            ));
        }
    }
    Ok(())
}

/// Whether Go's `strconv.Atoi` accepts `s` (an optional sign, then digits).
fn is_go_int(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn dns_preconditions(domain: &str) -> Result<(), String> {
    if domain.len() > 255 {
        return Err(format!("domain name {domain:?} too long (max 255)"));
    }
    if domain.is_empty() {
        return Err("empty domain name not allowed".into());
    }
    Ok(())
}

/// `ValidateWildcardDomain` (VAL-H1): a host name whose first label may be
/// a wildcard (`*`, `*.foo.com`, `*foo.com`, `*-foo.com`).
pub fn wildcard_domain(domain: &str) -> Result<(), String> {
    dns_preconditions(domain)?;
    let (first, rest) = match domain.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (domain, None),
    };
    if !is_wildcard_label(first) {
        return Err(format!(
            "domain name {domain:?} invalid (label {first:?} invalid)"
        ));
    }
    match rest {
        Some(r) => dns_labels(r),
        None => Ok(()),
    }
}

/// `ValidateWildcardDomainForVirtualServiceBoundToGateway` (VAL-H1): as
/// [`wildcard_domain`], but when the VirtualService has TLS routes with SNI
/// hosts it also admits the names `AUTO_PASSTHROUGH` gateways route on,
/// `outbound_.<PORT>_._.<HOSTNAME>`.
pub fn wildcard_domain_for_gateway_vs(sni: bool, domain: &str) -> Result<(), String> {
    const FORMAT: &str = "outbound_.<PORT>_._.<HOSTNAME>";
    dns_preconditions(domain)?;
    if sni && domain.starts_with("outbound_") {
        let parts: Vec<&str> = domain.split('_').collect();
        if parts.len() < 4 {
            return Err(format!(
                "domain name {domain} invalid, should follow '{FORMAT}' format"
            ));
        }
        let port = parts[1].trim_matches('.');
        let host = parts[3].trim_matches('.');
        if !port.bytes().any(|b| b.is_ascii_digit()) {
            return Err(format!(
                "domain name {domain:?} invalid (label {port:?} invalid). should follow {FORMAT} format"
            ));
        }
        if !host.bytes().any(|b| b.is_ascii_alphabetic()) {
            return Err(format!(
                "domain name {domain:?} invalid (label {host:?} invalid). should follow {FORMAT} format"
            ));
        }
        return Ok(());
    }
    wildcard_domain(domain)
}

/// `ValidateFQDN`: a host name without wildcards.
pub fn fqdn(domain: &str) -> Result<(), String> {
    dns_preconditions(domain)?;
    dns_labels(domain)
}

/// `ValidatePort` (VAL-P1): 1..=65535.
pub fn port(p: i64) -> Result<(), String> {
    if (1..=65535).contains(&p) {
        Ok(())
    } else {
        Err(format!("port number {p} must be in the range 1..65535"))
    }
}

/// `ValidateDuration` (VAL-D1): at least 1ms and a whole number of
/// milliseconds.
pub fn duration(d: Duration) -> Result<(), String> {
    if d < Duration::from_millis(1) {
        return Err("duration must be greater than 1ms".into());
    }
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return Err("only durations to ms precision are supported".into());
    }
    Ok(())
}

/// A label key as Istio checks it (`labels.Instance.Validate`): an
/// optional prefix of dot-separated DNS labels (at most 253 characters) and
/// `/`, then a name of at most 63 characters
/// (`[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`).
pub fn label_key(k: &str) -> Result<(), String> {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| p.split('.').all(is_dns_label));
    if !prefix_ok || !is_qualified_name(name) {
        return Err(format!("invalid tag key: {k:?}"));
    }
    if prefix.is_some_and(|p| p.len() > 253) {
        return Err(format!("invalid tag key: {k:?} (DNS prefix is too long)"));
    }
    if name.len() > 63 {
        return Err(format!("invalid tag key: {k:?} (name is too long)"));
    }
    Ok(())
}

fn is_qualified_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.as_bytes()[n.len() - 1].is_ascii_alphanumeric()
}

/// A label value as Istio checks it: empty, or alphanumerics with inner
/// `-`, `_` and `.` (no length limit in Istio's check).
pub fn label_value(v: &str) -> Result<(), String> {
    if v.is_empty() || is_qualified_name(v) {
        Ok(())
    } else {
        Err(format!("invalid tag value: {v:?}"))
    }
}

/// Whether `name` is an HTTP header name: one or more RFC 7230 token
/// characters (Istio's `validHeaderNameRegex`; no `:`).
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The HTTP/2 pseudo-headers a header match may name (RFC 7540).
pub const PSEUDO_HEADERS: &[&str] = &[":method", ":scheme", ":authority", ":path", ":status"];

/// `ValidateHTTPHeaderValue`: no control characters other than tab, and
/// Envoy's `%VARIABLE%` / `%VAR(args)%` substitution syntax well formed
/// (`%%` is a literal percent), as Envoy's header parser reads it.
pub fn header_value(value: &str) -> Result<(), String> {
    if value
        .chars()
        .any(|c| matches!(c, '\u{0}'..='\u{8}' | '\u{a}'..='\u{1f}' | '\u{7f}'))
    {
        return Err(format!("header value configuration {value} is invalid"));
    }
    header_value_syntax(value).map_err(|e| format!("header value configuration: {e}"))
}

fn header_value_syntax(v: &str) -> Result<(), String> {
    #[derive(PartialEq)]
    enum St {
        Literal,
        VariableName,
        ExpectArray,
        ExpectString,
        String,
        ExpectDelimiterOrEnd,
        ExpectArgsEnd,
        ExpectVariableEnd,
    }
    let b = v.as_bytes();
    let mut st = St::Literal;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let has_next = i + 1 < b.len();
        match st {
            St::Literal => {
                if c == b'%' {
                    if !has_next {
                        return Err("invalid header configuration. Un-escaped %".into());
                    }
                    if b[i + 1] == b'%' {
                        i += 1;
                    } else {
                        st = St::VariableName;
                    }
                }
            }
            St::VariableName => {
                if c == b'%' {
                    st = St::Literal;
                } else if c == b'(' {
                    st = St::ExpectArray;
                }
            }
            St::ExpectArray => {
                if c == b'[' {
                    st = St::ExpectString;
                } else if c != b' ' {
                    st = St::String;
                }
            }
            St::ExpectDelimiterOrEnd => {
                if c == b',' {
                    st = St::ExpectString;
                } else if c == b']' {
                    st = St::ExpectArgsEnd;
                } else if c != b' ' {
                    return Err(
                        "invalid header configuration. Expecting ',', ']', or whitespace".into(),
                    );
                }
            }
            St::ExpectString => {
                if c == b'"' {
                    st = St::String;
                } else if c != b' ' {
                    return Err("invalid header configuration. Expecting '\"'".into());
                }
            }
            St::String => {
                if c == b'\\' {
                    if !has_next {
                        return Err(
                            "invalid header configuration. Un-terminated backslash in JSON string"
                                .into(),
                        );
                    }
                    i += 1;
                } else if c == b')' {
                    st = St::ExpectVariableEnd;
                } else if c == b'"' {
                    st = St::ExpectDelimiterOrEnd;
                }
            }
            St::ExpectArgsEnd => {
                if c == b')' {
                    st = St::ExpectVariableEnd;
                } else if c != b' ' {
                    return Err("invalid header configuration. Expecting ')' or whitespace after '{}', but found '{}'".into());
                }
            }
            St::ExpectVariableEnd => {
                if c == b'%' {
                    st = St::Literal;
                } else if c != b' ' {
                    return Err(
                        "invalid header configuration. Expecting '%' or whitespace after".into(),
                    );
                }
            }
        }
        i += 1;
    }
    if st != St::Literal {
        return Err(format!(
            "invalid header configuration. Un-terminated variable expression '{v}'"
        ));
    }
    Ok(())
}

/// Compiles an RE2 pattern as Envoy matches it: the whole input, no
/// partial matches (VS-10). Istio rejects patterns over 1024 characters
/// (VAL-VS-9).
pub fn full_match_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > 1024 {
        return Err("regex is too large, max length allowed is 1024".into());
    }
    regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
        let msg = match e {
            regex::Error::Syntax(s) => s.lines().last().unwrap_or("invalid").trim().to_string(),
            other => other.to_string(),
        };
        format!("{msg}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)")
    })
}

/// Go's `strconv.ParseBool`, which Istio uses for boolean annotations such
/// as `istio.io/dry-run`: `1 t T TRUE true True` and `0 f F FALSE false
/// False`.
///
/// ```
/// use mesh_model::validation::parse_go_bool;
/// assert_eq!(parse_go_bool("True"), Some(true));
/// assert_eq!(parse_go_bool("0"), Some(false));
/// assert_eq!(parse_go_bool("yes"), None);
/// ```
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Whether `s` is an IP address.
pub fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// `ValidateIPSubnet`: a CIDR block (`10.0.0.0/8`, when the text has one
/// `/`) or an IP address, which becomes a one-address network.
pub fn ip_subnet(s: &str) -> Result<ipnet::IpNet, String> {
    if s.matches('/').count() == 1 {
        s.parse::<ipnet::IpNet>()
            .map_err(|_| format!("{s} is not a valid CIDR block"))
    } else {
        s.parse::<std::net::IpAddr>()
            .map(ipnet::IpNet::from)
            .map_err(|_| format!("{s} is not a valid IP"))
    }
}

/// Whether `s` is an IP address or a CIDR block.
pub fn is_ip_or_cidr(s: &str) -> bool {
    is_ip(s) || s.parse::<ipnet::IpNet>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// VAL-H1
    #[test]
    fn wildcard_domains() {
        for ok in [
            "foo.com",
            "*.foo.com",
            "*",
            "*foo.com",
            "*-bar.foo.com",
            "reviews",
            "istio.io.",
            "Foo.COM",
        ] {
            assert_eq!(wildcard_domain(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "foo.*.com",
            "foo*.com",
            "a..b",
            "-a.com",
            "foo.123",
            &"a".repeat(256),
        ] {
            assert!(wildcard_domain(bad).is_err(), "{bad}");
        }
        assert_eq!(
            wildcard_domain("foo.123").unwrap_err(),
            "domain name \"123\" invalid (top level domain \"123\" cannot be all-numeric)"
        );
        assert_eq!(wildcard_domain("foo."), Ok(()));
    }

    /// VAL-D1
    #[test]
    fn durations() {
        assert!(duration(Duration::from_millis(1)).is_ok());
        assert!(duration(Duration::from_micros(999)).is_err());
        assert!(duration(Duration::from_micros(1500)).is_err());
    }

    /// VAL-P1
    #[test]
    fn ports() {
        assert!(port(1).is_ok() && port(65535).is_ok());
        assert!(port(0).is_err() && port(65536).is_err());
    }

    #[test]
    fn header_values() {
        assert!(header_value("plain").is_ok());
        assert!(header_value("%DOWNSTREAM_REMOTE_ADDRESS%").is_ok());
        assert!(header_value("100%%").is_ok());
        assert!(header_value("%REQ(x-foo)%").is_ok());
        assert!(header_value("50%").is_err());
        assert!(header_value("%START_TIME%%").is_err());
        assert!(header_value("abc%123").is_err());
        assert!(header_value("a\nb").is_err());
        assert!(header_value("%REQ(x-foo) x%").is_err());
        assert!(header_value("%UPSTREAM_METADATA([\"a\", \"b\"])%").is_ok());
    }

    #[test]
    fn regexes_are_anchored() {
        let re = full_match_regex("/api/.*").unwrap();
        assert!(re.is_match("/api/x"));
        assert!(!re.is_match("x/api/x"));
        assert!(full_match_regex("(").is_err());
    }
}
