//! The CEL rules (`x-kubernetes-validations`) of Istio's CRDs, in Rust.
//!
//! `xtask/src/cel.rs` maps each rule's exact text to one of these
//! functions; each returns whether the rule holds. A rule whose evaluation
//! would fail in CEL (a duration that does not parse, `int(key)` on a
//! non-number) does not hold.

use super::extensions::{EnvValueSource, EnvVar, TrafficExtension};
use super::networking::{
    EnvoyConfigObjectMatch, PatchContext, Resolution, ServiceEntry, ServicePort, WorkloadEntry,
    WorkloadEntryTemplate,
};
use super::security::{PeerAuthentication, Source};
use super::telemetry::{TagOperation, TagOverride};
use std::collections::BTreeMap;
use std::time::Duration;

/// `duration(self) >= duration('1ms')`
pub fn duration_at_least_1ms(v: &str) -> bool {
    crate::duration::parse_duration(v).is_ok_and(|d| d >= Duration::from_millis(1))
}

/// `self.size() == 0`
pub fn is_empty(v: &str) -> bool {
    v.is_empty()
}

/// `0 < self && self <= 65535`
pub fn port_number(v: i64) -> bool {
    0 < v && v <= 65535
}

/// `self.all(key, !key.contains("*"))`
pub fn keys_without_wildcard<T>(m: &BTreeMap<String, T>) -> bool {
    m.keys().all(|k| !k.contains('*'))
}

/// `self.all(key, key.size() != 0)`
pub fn keys_not_empty<T>(m: &BTreeMap<String, T>) -> bool {
    m.keys().all(|k| !k.is_empty())
}

/// `!self.contains("*")`
pub fn no_wildcard(v: &str) -> bool {
    !v.contains('*')
}

/// `self != "*"`
pub fn not_lone_wildcard(v: &str) -> bool {
    v != "*"
}

/// `self.startsWith("unix://") ? (self.substring(7, 8) == "/" || self.substring(7, 8) == "@") : true`
pub fn uds_absolute_or_abstract(v: &str) -> bool {
    match v.strip_prefix("unix://") {
        Some(rest) => rest.starts_with('/') || rest.starts_with('@'),
        None => true,
    }
}

/// `self.startsWith("unix://") ? !self.endsWith("/") : true`
pub fn uds_not_dir(v: &str) -> bool {
    !(v.starts_with("unix://") && v.ends_with('/'))
}

/// `self.all(key, size(key) < 63 && key.matches("^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$"))`
pub fn keys_are_port_names<T>(m: &BTreeMap<String, T>) -> bool {
    m.keys().all(|k| {
        k.chars().count() < 63
            && !k.is_empty()
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !k.starts_with('-')
            && !k.ends_with('-')
    })
}

/// `self.all(key, 0 < int(key) && int(key) <= 65535)`
pub fn keys_are_port_numbers<T>(m: &BTreeMap<String, T>) -> bool {
    m.keys().all(|k| k.parse::<i64>().is_ok_and(port_number))
}

/// `self.all(l1, self.exists_one(l2, l1.number == l2.number))`
pub fn unique_port_numbers(ports: &[ServicePort]) -> bool {
    ports
        .iter()
        .all(|a| ports.iter().filter(|b| b.number == a.number).count() == 1)
}

/// `self in ["", "HTTP", "HTTPS"]`
pub fn http_or_https_scheme(v: &str) -> bool {
    matches!(v, "" | "HTTP" | "HTTPS")
}

/// `url(self).getScheme() in ["http", "https"]`
pub fn url_scheme_http_or_https(v: &str) -> bool {
    url_scheme(v).is_some_and(|s| s == "http" || s == "https")
}

/// `isURL(self) ? (url(self).getScheme() in ["", "http", "https", "file", "oci"]) : (isURL("http://" + self) && …)`
pub fn wasm_url_scheme(v: &str) -> bool {
    let ok = |s: &str| matches!(s, "" | "http" | "https" | "file" | "oci");
    if is_url(v) {
        url_scheme(v).is_some_and(|s| ok(&s))
    } else {
        is_url(&format!("http://{v}"))
    }
}

/// The scheme of a URL as Go's `url.Parse` reads it (lower-cased), or
/// `None` where parsing fails.
fn url_scheme(v: &str) -> Option<String> {
    match split_scheme(v) {
        Some((scheme, _)) => Some(scheme.to_ascii_lowercase()),
        None if v.contains(':') && !v.starts_with('/') && !v.contains('/') => None,
        None => Some(String::new()),
    }
}

fn split_scheme(v: &str) -> Option<(&str, &str)> {
    let colon = v.find(':')?;
    let scheme = &v[..colon];
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    if !first.is_ascii_alphabetic()
        || !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    Some((scheme, &v[colon + 1..]))
}

/// CEL's `isURL`: Go's `url.ParseRequestURI` succeeds (an absolute URI or
/// an absolute path, with valid escapes and userinfo).
fn is_url(v: &str) -> bool {
    if !escapes_valid(v) {
        return false;
    }
    let rest = match split_scheme(v) {
        Some((_, rest)) => rest,
        None => return v.starts_with('/'),
    };
    if let Some(authority_and_path) = rest.strip_prefix("//") {
        let end = authority_and_path
            .find('/')
            .unwrap_or(authority_and_path.len());
        let authority = &authority_and_path[..end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            let valid = userinfo
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b));
            if !valid {
                return false;
            }
        }
        true
    } else {
        // An opaque URI (`mailto:x`) parses; a rootless path does not.
        !rest.is_empty()
    }
}

fn escapes_valid(v: &str) -> bool {
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Access to the address and ports of the two WorkloadEntry shapes.
pub trait AddressAndPorts {
    /// `address`.
    fn address(&self) -> Option<&str>;
    /// Whether `ports` is set.
    fn has_ports(&self) -> bool;
}

impl AddressAndPorts for WorkloadEntry {
    fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }
    fn has_ports(&self) -> bool {
        self.ports.is_some()
    }
}

impl AddressAndPorts for WorkloadEntryTemplate {
    fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }
    fn has_ports(&self) -> bool {
        self.ports.is_some()
    }
}

/// `(has(self.address) ? self.address : "").startsWith("unix://") ? !has(self.ports) : true`
pub fn uds_without_ports<T: AddressAndPorts>(v: &T) -> bool {
    !(v.address().unwrap_or("").starts_with("unix://") && v.has_ports())
}

/// `has(self.address) || has(self.network)`
pub fn address_or_network(v: &WorkloadEntry) -> bool {
    v.address.is_some() || v.network.is_some()
}

/// `(has(self.valueFrom) ? self.valueFrom : "") != "HOST" || !has(self.value)`
pub fn value_only_when_inline(v: &EnvVar) -> bool {
    v.value_from != Some(EnvValueSource::Host) || v.value.is_none()
}

/// `has(self.wasm) != has(self.lua)`
pub fn exactly_one_of_wasm_or_lua(v: &TrafficExtension) -> bool {
    v.wasm.is_some() != v.lua.is_some()
}

/// `has(self.context) ? ((self.context == "WAYPOINT") ? has(self.waypoint) : !has(self.waypoint)) : !has(self.waypoint)`
pub fn waypoint_match_needs_waypoint_context(v: &EnvoyConfigObjectMatch) -> bool {
    match v.context {
        Some(PatchContext::Waypoint) => v.waypoint.is_some(),
        _ => v.waypoint.is_none(),
    }
}

/// CIDR addresses only with `NONE` or `STATIC` resolution.
pub fn cidr_only_with_none_or_static(v: &ServiceEntry) -> bool {
    let has_cidr = v
        .addresses
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|a| a.contains('/'));
    let resolution = v.resolution.unwrap_or(Resolution::None);
    !has_cidr || matches!(resolution, Resolution::Static | Resolution::None)
}

/// `NONE` resolution cannot have endpoints.
pub fn no_endpoints_with_none_resolution(v: &ServiceEntry) -> bool {
    v.resolution.unwrap_or(Resolution::None) != Resolution::None || v.endpoints.is_none()
}

/// `DNS_ROUND_ROBIN` has at most one endpoint.
pub fn dns_round_robin_single_endpoint(v: &ServiceEntry) -> bool {
    v.resolution != Some(Resolution::DnsRoundRobin) || v.endpoints.as_ref().map_or(0, Vec::len) <= 1
}

/// `serviceAccounts` cannot be combined with principals or namespaces.
pub fn service_accounts_exclusive(v: &Source) -> bool {
    if v.service_accounts.is_some() || v.not_service_accounts.is_some() {
        v.principals.is_none()
            && v.not_principals.is_none()
            && v.namespaces.is_none()
            && v.not_namespaces.is_none()
    } else {
        true
    }
}

/// `portLevelMtls` requires a selector with at least one label.
pub fn port_level_mtls_requires_selector(v: &PeerAuthentication) -> bool {
    if v.port_level_mtls.is_none() {
        return true;
    }
    v.selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .is_some_and(|m| !m.is_empty())
}

/// `UPSERT` needs a non-empty value.
pub fn upsert_has_value(v: &TagOverride) -> bool {
    v.operation != Some(TagOperation::Upsert) || v.value.as_deref().is_some_and(|s| !s.is_empty())
}

/// `REMOVE` takes no value.
pub fn remove_has_no_value(v: &TagOverride) -> bool {
    v.operation != Some(TagOperation::Remove) || v.value.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_go_parsing() {
        assert!(url_scheme_http_or_https("https://example.com/jwks"));
        assert!(!url_scheme_http_or_https("hTPp\\\\blah"));
        assert!(wasm_url_scheme("http://test"));
        assert!(wasm_url_scheme("oci://ghcr.io/x/y:1"));
        assert!(wasm_url_scheme("ghcr.io/x/y:1"));
        assert!(!wasm_url_scheme("fake://example.com"));
        assert!(!wasm_url_scheme("#%blah$#@"));
    }

    #[test]
    fn port_keys() {
        let m: BTreeMap<String, ()> = [("80".to_string(), ())].into();
        assert!(keys_are_port_numbers(&m));
        let m: BTreeMap<String, ()> = [("acd".to_string(), ())].into();
        assert!(!keys_are_port_numbers(&m));
        let m: BTreeMap<String, ()> = [("42949672".to_string(), ())].into();
        assert!(!keys_are_port_numbers(&m));
    }
}
