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

/// A host label as Istio checks hosts: letters of either case, digits and
/// inner dashes, at most 63 characters.
fn is_host_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
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

fn dns_labels(domain: &str, full: &str) -> Result<(), String> {
    let parts: Vec<&str> = domain.split('.').collect();
    let tld = parts[parts.len() - 1];
    if !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "domain name {full:?} invalid (top level domain {tld:?} cannot be all-numeric)"
        ));
    }
    for (i, label) in parts.iter().enumerate() {
        if i == parts.len() - 1 && label.is_empty() && i > 0 {
            return Ok(());
        }
        if !is_host_label(label) {
            return Err(format!(
                "domain name {full:?} invalid (label {label:?} invalid)"
            ));
        }
    }
    Ok(())
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
        Some(r) => dns_labels(r, domain),
        None => Ok(()),
    }
}

/// `ValidateFQDN`: a host name without wildcards.
pub fn fqdn(domain: &str) -> Result<(), String> {
    dns_preconditions(domain)?;
    dns_labels(domain, domain)
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

/// A Kubernetes label key: optional DNS-1123 subdomain prefix and `/`,
/// then a name of at most 63 characters (`[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`).
pub fn label_key(k: &str) -> Result<(), String> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !p.split('.').all(is_dns1123_label))
    {
        return Err(format!(
            "invalid label key {k:?}: prefix must be a DNS-1123 subdomain"
        ));
    }
    if !is_qualified_name(name) {
        return Err(format!(
            "invalid label key {k:?}: name must be 63 characters or less, begin and end with an alphanumeric character, and contain only alphanumerics, '-', '_' or '.'"
        ));
    }
    Ok(())
}

fn is_qualified_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 63
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.as_bytes()[n.len() - 1].is_ascii_alphanumeric()
}

/// A Kubernetes label value: empty, or a qualified name.
pub fn label_value(v: &str) -> Result<(), String> {
    if v.is_empty() || is_qualified_name(v) {
        Ok(())
    } else {
        Err(format!(
            "invalid label value {v:?}: must be 63 characters or less, begin and end with an alphanumeric character, and contain only alphanumerics, '-', '_' or '.'"
        ))
    }
}

/// Whether `name` is an HTTP header name (token characters), optionally a
/// pseudo-header (`:authority`).
pub fn is_header_name(name: &str) -> bool {
    let n = name.strip_prefix(':').unwrap_or(name);
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `ValidateHTTPHeaderValue`: Envoy's `%…%` substitution syntax must be
/// well formed (`%%` is a literal percent).
pub fn header_value(v: &str) -> Result<(), String> {
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if b.get(i + 1) == Some(&b'%') {
                i += 2;
                continue;
            }
            let Some(end) = v[i + 1..].find('%') else {
                return Err(format!("header value {v:?}: unterminated '%' variable"));
            };
            let var = &v[i + 1..i + 1 + end];
            let name_end = var.find('(').unwrap_or(var.len());
            let name = &var[..name_end];
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
                || (name_end < var.len() && !var.ends_with(')'))
            {
                return Err(format!("header value {v:?}: invalid variable %{var}%"));
            }
            i += end + 2;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Compiles an RE2 pattern as Envoy matches it: the whole input, no
/// partial matches (VS-10). Istio rejects patterns over 1024 characters
/// (VAL-VS-9).
pub fn full_match_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > 1024 {
        return Err("regex string match should be less than 1024 characters long".into());
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
            "domain name \"foo.123\" invalid (top level domain \"123\" cannot be all-numeric)"
        );
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
        assert!(header_value("%bad%").is_err());
    }

    #[test]
    fn regexes_are_anchored() {
        let re = full_match_regex("/api/.*").unwrap();
        assert!(re.is_match("/api/x"));
        assert!(!re.is_match("x/api/x"));
        assert!(full_match_regex("(").is_err());
    }
}
