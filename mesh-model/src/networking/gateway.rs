//! Gateway, ServiceEntry, Sidecar and WorkloadEntry: domain types and
//! webhook rules (VAL-GW-*, VAL-SE-*, VAL-SC-*).

use super::common::{ExportTo, labels};
use crate::config::Cx;
use crate::host::Hostname;
use crate::labels::{Labels, Selector};
use crate::protocol::Protocol;
use crate::validation;
use crate::wire::meta::ObjectMeta;
use crate::wire::networking as w;
use serde::Serialize;
use std::collections::BTreeMap;

/// A Gateway.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gateway {
    /// Gateway proxies whose labels contain these run it (GW-1); empty: all.
    pub selector: Selector,
    /// Servers.
    pub servers: Vec<Server>,
}

/// A Gateway server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// The port.
    pub port: GatewayPort,
    /// Hosts: `ns/dns` with ns `*` when not written (GW-3).
    pub hosts: Vec<GatewayHost>,
    /// TLS settings (wire type, validated).
    pub tls: Option<w::ServerTlsSettings>,
    /// `bind`.
    pub bind: Option<String>,
    /// `name`.
    pub name: Option<String>,
}

/// A Gateway server port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayPort {
    /// The number (the gateway Service port, GW-2).
    pub number: u32,
    /// The protocol.
    pub protocol: Protocol,
    /// The name.
    pub name: String,
}

/// A server host: the namespace whose VirtualServices may bind (`*` for
/// any) and the DNS name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayHost {
    /// `*`, or a namespace.
    pub namespace: String,
    /// The host (`*`, `*.x`, FQDN).
    pub host: Hostname,
}

impl Server {
    /// Whether the server terminates TLS (HTTPS, or TLS not in
    /// passthrough modes).
    pub fn terminates_tls(&self) -> bool {
        self.tls.is_some()
            && !matches!(
                self.tls_mode(),
                Some(w::ServerTlsMode::Passthrough | w::ServerTlsMode::AutoPassthrough)
            )
    }

    /// The TLS mode, when the server has TLS settings that name one.
    pub fn tls_mode(&self) -> Option<w::ServerTlsMode> {
        self.tls.as_ref().and_then(|t| t.mode)
    }
}

/// A ServiceEntry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntry {
    /// Hosts as written (FQDNs or `*.suffix`; never resolved).
    pub hosts: Vec<Hostname>,
    /// VIPs or CIDRs.
    pub addresses: Vec<String>,
    /// Ports.
    pub ports: Vec<ServiceEntryPort>,
    /// `MESH_EXTERNAL` (default) or `MESH_INTERNAL`.
    pub location: w::Location,
    /// Resolution (default `NONE`).
    pub resolution: w::Resolution,
    /// Inline endpoints.
    pub endpoints: Vec<WorkloadEntry>,
    /// Or a selector of workloads.
    pub workload_selector: Option<Selector>,
    /// Visibility.
    pub export_to: ExportTo,
    /// SANs to verify.
    pub subject_alt_names: Vec<String>,
}

/// A ServiceEntry port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntryPort {
    /// The number.
    pub number: u16,
    /// The protocol.
    pub protocol: Protocol,
    /// The name.
    pub name: String,
    /// The endpoint port, when different.
    pub target_port: Option<u16>,
}

/// A WorkloadEntry (also a ServiceEntry endpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEntry {
    /// IP, host name or `unix://` path.
    pub address: String,
    /// Port name to number.
    pub ports: BTreeMap<String, u16>,
    /// Labels.
    pub labels: Labels,
    /// Network.
    pub network: Option<String>,
    /// Locality (`region/zone/subzone`).
    pub locality: Option<String>,
    /// Weight.
    pub weight: Option<u32>,
    /// Service account.
    pub service_account: Option<String>,
}

/// A Sidecar.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sidecar {
    /// Workloads it applies to; `None` for the namespace default (SC-1).
    pub workload_selector: Option<Selector>,
    /// Ingress listeners.
    pub ingress: Vec<w::IstioIngressListener>,
    /// Egress listeners, hosts parsed.
    pub egress: Vec<EgressListener>,
    /// Outbound traffic policy.
    pub outbound_traffic_policy: Option<w::OutboundTrafficPolicy>,
    /// Inbound connection pool.
    pub inbound_connection_pool: Option<w::ConnectionPoolSettings>,
}

/// An egress listener.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressListener {
    /// The port, if any (catch-all otherwise).
    pub port: Option<w::SidecarPort>,
    /// `bind`.
    pub bind: Option<String>,
    /// `captureMode`.
    pub capture_mode: Option<w::CaptureMode>,
    /// `ns/host` imports (`.` resolved to the Sidecar's namespace; `~ns`
    /// excludes, SC-2).
    pub hosts: Vec<EgressHost>,
}

/// An egress host import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EgressHost {
    /// The namespace (`*` any).
    pub namespace: String,
    /// Whether the namespace is excluded (`~ns/…`).
    pub exclude: bool,
    /// The host pattern.
    pub host: Hostname,
}

/// Istio's `protocol.IsHTTP` (HTTP_PROXY included).
fn istio_is_http(p: Protocol) -> bool {
    p.is_http() || p == Protocol::HttpProxy
}

fn port_protocol(p: Option<&String>, cx: &mut Cx<'_>, code: &'static str) -> Protocol {
    let proto = Protocol::parse(p.map(String::as_str).unwrap_or(""));
    if proto == Protocol::Unsupported {
        cx.field("protocol", |cx| {
            cx.error(
                code,
                format!(
                    "invalid protocol {:?}, supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP",
                    p.map(String::as_str).unwrap_or("")
                ),
            )
        });
    }
    proto
}

/// `ValidateProtocol` (ServiceEntry and Sidecar ports): empty means
/// "sniff"; anything else must be a known protocol.
fn known_protocol(p: Option<&String>, cx: &mut Cx<'_>, code: &'static str) -> Protocol {
    let raw = p.map(String::as_str).unwrap_or("");
    let proto = Protocol::parse(raw);
    if !raw.is_empty() && proto == Protocol::Unsupported {
        cx.field("protocol", |cx| {
            cx.error(code, format!("unsupported protocol: {raw}"))
        });
    }
    proto
}

/// `ValidateUnixAddress`: an absolute path not ending in `/`, or an
/// abstract socket name (`@name`).
fn unix_address(addr: &str) -> Result<(), String> {
    if addr.is_empty() {
        return Err("unix address must not be empty".into());
    }
    if addr.starts_with('@') {
        return Ok(());
    }
    if !addr.starts_with('/') || addr.ends_with('/') {
        return Err(format!("{addr} is not an absolute path to a file"));
    }
    Ok(())
}

/// `validateSidecarOrGatewayHostnamePart`: no short names, a valid
/// (wildcard) DNS name or, on gateways, an IP, and no partial wildcards.
fn hostname_part(h: &str, gateway: bool, cx: &mut Cx<'_>, code: &'static str) {
    if h != "*" && !h.contains('.') {
        cx.error(code, "short names (non FQDN) are not allowed");
    }
    if let Err(e) = validation::wildcard_domain(h)
        && !(gateway && validation::is_ip(h))
    {
        cx.error("VAL-H1", e);
    }
    if let Err(e) = partial_wildcard(h) {
        cx.error(code, e);
    }
}

/// `ValidatePartialWildCard`: a `*` only as the whole name or as `*.`.
fn partial_wildcard(h: &str) -> Result<(), String> {
    if h.contains('*') && h.len() != 1 && !h.starts_with("*.") {
        return Err(format!("partial wildcard {h:?} not allowed"));
    }
    Ok(())
}

/// `ValidateNamespaceSlashWildcardHostname`: `ns/dnsName` (on gateways a
/// bare `dnsName` too). Returns the namespace (`.` resolved), whether it is
/// excluded (`~ns`, Sidecars only) and the host.
fn slash_host(
    h: &str,
    gateway: bool,
    cx: &mut Cx<'_>,
    code: &'static str,
) -> Option<(String, bool, Hostname)> {
    let Some((ns, dns)) = h.split_once('/') else {
        if gateway {
            hostname_part(h, true, cx, code);
            return Some(("*".to_string(), false, Hostname::new(h)));
        }
        cx.error(code, "host must be of form namespace/dnsName");
        return None;
    };
    if ns.is_empty() || dns.is_empty() {
        cx.error(
            code,
            "config namespace and dnsName in host entry cannot be empty",
        );
    }
    let (exclude, ns_name) = match ns.strip_prefix('~') {
        Some(rest) if !gateway => (true, rest),
        _ => (false, ns),
    };
    if gateway {
        if ns != "*" && ns != "." && !validation::is_dns_label(ns) {
            cx.error(code, format!("invalid namespace value {ns:?} in gateway"));
        }
    } else if !ns_name.is_empty()
        && ns_name != "*"
        && ns_name != "."
        && !validation::is_dns_label(ns_name)
    {
        cx.error(code, format!("invalid namespace value {ns:?} in sidecar"));
    }
    hostname_part(dns, gateway, cx, code);
    let ns_resolved = if ns_name == "." {
        cx.namespace.to_string()
    } else {
        ns_name.to_string()
    };
    Some((ns_resolved, exclude, Hostname::new(dns)))
}

/// The cipher suites a gateway accepts (Istio's `ValidCipherSuites`).
const CIPHER_SUITES: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA",
    "AES256-SHA",
    "DES-CBC3-SHA",
];

/// `IsValidCipherSuite`: a known suite, `ALL`, empty, or an expression
/// that starts with an operator (`-`, `+`, `!`).
fn valid_cipher_suite(cs: &str) -> bool {
    cs.is_empty()
        || cs == "ALL"
        || !cs.chars().next().is_some_and(char::is_alphanumeric)
        || CIPHER_SUITES.contains(&cs)
}

/// VAL-GW-4 (`validateTLSOptions`; also Sidecar ingress TLS).
fn server_tls(t: &w::ServerTlsSettings, cx: &mut Cx<'_>) {
    let code = "VAL-GW-4";
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    let non_empty = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|l| !l.is_empty());
    let mode = t.mode.unwrap_or(w::ServerTlsMode::Passthrough);
    let ciphers = t.cipher_suites.as_deref().unwrap_or_default();
    if matches!(
        t.min_protocol_version,
        Some(w::TlsProtocol::TlsV1_0 | w::TlsProtocol::TlsV1_1)
    ) && ciphers.is_empty()
    {
        cx.warn(
            code,
            "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.",
        );
    }
    let mut invalid = std::collections::BTreeSet::new();
    let mut valid = std::collections::BTreeSet::new();
    let mut duplicate = std::collections::BTreeSet::new();
    for c in ciphers {
        if !valid_cipher_suite(c) {
            invalid.insert(c.as_str());
        } else if !valid.insert(c.as_str()) {
            duplicate.insert(c.as_str());
        }
    }
    if !invalid.is_empty() || !duplicate.is_empty() {
        cx.field("cipherSuites", |cx| {
            if !invalid.is_empty() {
                let l: Vec<&str> = invalid.into_iter().collect();
                cx.warn(
                    code,
                    format!("ignoring invalid cipher suites: [{}]", l.join(" ")),
                );
            }
            if !duplicate.is_empty() {
                let l: Vec<&str> = duplicate.into_iter().collect();
                cx.warn(
                    code,
                    format!("ignoring duplicate cipher suites: [{}]", l.join(" ")),
                );
            }
        });
    }
    let certs = t.tls_certificates.as_deref().unwrap_or_default();
    if mode == w::ServerTlsMode::IstioMutual {
        for (field, present, what) in [
            (
                "serverCertificate",
                set(&t.server_certificate),
                "server certificate",
            ),
            ("privateKey", set(&t.private_key), "private key"),
            ("caCertificates", set(&t.ca_certificates), "CA bundle"),
            ("tlsCertificates", !certs.is_empty(), "tlsCertificates"),
            ("credentialName", set(&t.credential_name), "credentialName"),
            (
                "credentialNames",
                non_empty(&t.credential_names),
                "credentialNames",
            ),
        ] {
            if present {
                cx.field(field, |cx| {
                    cx.error(
                        code,
                        format!("ISTIO_MUTUAL TLS cannot have associated {what}"),
                    )
                });
            }
        }
        return;
    }
    if matches!(
        mode,
        w::ServerTlsMode::Passthrough | w::ServerTlsMode::AutoPassthrough
    ) && (set(&t.ca_crl)
        || set(&t.server_certificate)
        || set(&t.private_key)
        || set(&t.ca_certificates)
        || !certs.is_empty()
        || set(&t.credential_name)
        || non_empty(&t.credential_names))
    {
        cx.warn(
            code,
            format!("{mode} mode does not use certificates, they will be ignored"),
        );
    }
    let sources = usize::from(set(&t.server_certificate) && set(&t.private_key))
        + usize::from(set(&t.credential_name))
        + usize::from(non_empty(&t.credential_names))
        + usize::from(!certs.is_empty());
    if sources > 1 {
        cx.error(
            code,
            "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified",
        );
    }
    let terminating = matches!(
        mode,
        w::ServerTlsMode::Simple | w::ServerTlsMode::Mutual | w::ServerTlsMode::OptionalMutual
    );
    if terminating && (set(&t.credential_name) || non_empty(&t.credential_names)) {
        return;
    }
    if terminating {
        let prefix = if mode == w::ServerTlsMode::Simple {
            "SIMPLE TLS"
        } else {
            if !set(&t.ca_certificates) {
                cx.error(code, "MUTUAL TLS requires a client CA bundle");
            }
            "MUTUAL TLS"
        };
        if certs.len() > 2 {
            cx.warn(
                code,
                format!("{prefix} can support up to 2 server certificates"),
            );
        }
        if certs.is_empty() {
            if !set(&t.server_certificate) {
                cx.error(code, format!("{prefix} requires a server certificate"));
            }
            if !set(&t.private_key) {
                cx.error(code, format!("{prefix} requires a private key"));
            }
        } else {
            cx.field("tlsCertificates", |cx| {
                for (i, c) in certs.iter().enumerate() {
                    cx.index(i, |cx| {
                        if !set(&c.server_certificate) {
                            cx.error(code, format!("{prefix} requires a server certificate"));
                        }
                        if !set(&c.private_key) {
                            cx.error(code, format!("{prefix} requires a private key"));
                        }
                    });
                }
            });
        }
    }
    if set(&t.ca_crl) {
        if set(&t.credential_name) {
            cx.error(
                code,
                "CRL is not supported with credentialName. CRL has to be specified in the credential",
            );
        }
        if mode == w::ServerTlsMode::Simple {
            cx.error(code, "CRL is not supported with SIMPLE TLS");
        }
    }
}

impl Gateway {
    pub(crate) fn convert(s: &w::Gateway, meta: &ObjectMeta, cx: &mut Cx<'_>) -> Gateway {
        let name = meta.name.as_deref().unwrap_or("");
        if !validation::is_dns_label(name) {
            let saved = std::mem::replace(
                &mut cx.path,
                crate::diag::FieldPath::root()
                    .field("metadata")
                    .field("name"),
            );
            cx.error("VAL-GW-1", format!("invalid gateway name: {name:?}"));
            cx.path = saved;
        }
        let selector = Selector(s.selector.clone().unwrap_or_default());
        let servers_in = s.servers.as_deref().unwrap_or_default();
        if servers_in.is_empty() {
            cx.error("VAL-GW-1", "gateway must have at least one server");
        }
        let mut servers = Vec::new();
        let mut port_names: Vec<String> = Vec::new();
        cx.field("servers", |cx| {
            for (i, sv) in servers_in.iter().enumerate() {
                cx.index(i, |cx| {
                    if let Some(s) = Server::convert(sv, &mut port_names, cx) {
                        servers.push(s);
                    }
                });
            }
        });
        Gateway { selector, servers }
    }
}

impl Server {
    fn convert(sv: &w::Server, port_names: &mut Vec<String>, cx: &mut Cx<'_>) -> Option<Server> {
        let hosts_in = sv.hosts.as_deref().unwrap_or_default();
        let mut hosts = Vec::new();
        if hosts_in.is_empty() {
            cx.error("VAL-GW-1", "server config must contain at least one host");
        }
        cx.field("hosts", |cx| {
            for (j, h) in hosts_in.iter().enumerate() {
                if let Some((namespace, _, host)) =
                    cx.index(j, |cx| slash_host(h, true, cx, "VAL-GW-1"))
                {
                    hosts.push(GatewayHost { namespace, host });
                }
            }
        });
        let bind = sv.bind.as_deref().unwrap_or("");
        let unix = bind.strip_prefix("unix://");
        let Some(p) = &sv.port else {
            cx.error("VAL-GW-2", "port is required");
            if let Some(t) = &sv.tls {
                cx.field("tls", |cx| server_tls(t, cx));
            }
            return None;
        };
        let before = cx.diags.len();
        let number = p.number.unwrap_or(0);
        let (protocol, pname) = cx.field("port", |cx| {
            let protocol = port_protocol(p.protocol.as_ref(), cx, "VAL-GW-2");
            if number > 0 || unix.is_none() {
                cx.field("number", |cx| {
                    cx.check("VAL-P1", validation::port(number.into()))
                });
            }
            if p.target_port.is_some_and(|t| t > 0) {
                cx.field("targetPort", |cx| {
                    cx.error("VAL-GW-2", "targetPort has no impact on Gateways")
                });
            }
            let pname = p.name.clone().unwrap_or_default();
            if pname.is_empty() {
                cx.field("name", |cx| cx.error("VAL-GW-2", "port name must be set"));
            }
            (protocol, pname)
        });
        let port_ok = !cx.diags[before..].iter().any(|d| d.is_error());
        if port_names.contains(&pname) {
            cx.field("port", |cx| {
                cx.field("name", |cx| {
                    cx.error(
                        "VAL-GW-2",
                        format!("port names in servers must be unique: duplicate name {pname}"),
                    )
                })
            });
        }
        port_names.push(pname.clone());
        // `validateServerBind`.
        match unix {
            Some(path) => {
                if let Err(e) = unix_address(path) {
                    cx.field("bind", |cx| cx.error("VAL-GW-2", e));
                }
                if number != 0 {
                    cx.field("port", |cx| {
                        cx.field("number", |cx| {
                            cx.error("VAL-GW-2", "port number must be 0 for unix domain socket")
                        })
                    });
                }
            }
            None if !bind.is_empty() && !validation::is_ip(bind) => {
                cx.field("bind", |cx| {
                    cx.error("VAL-GW-2", format!("{bind} is not a valid IP"))
                });
            }
            None => {}
        }
        if let Some(t) = &sv.tls {
            cx.field("tls", |cx| server_tls(t, cx));
        }
        if port_ok {
            if protocol.is_tls() && sv.tls.is_none() {
                cx.error(
                    "VAL-GW-3",
                    "server must have TLS settings for HTTPS/TLS protocols",
                );
            } else if !protocol.is_tls()
                && let Some(t) = &sv.tls
            {
                let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
                let passthrough = matches!(
                    t.mode.unwrap_or(w::ServerTlsMode::Passthrough),
                    w::ServerTlsMode::Passthrough | w::ServerTlsMode::AutoPassthrough
                );
                if istio_is_http(protocol) {
                    if !passthrough
                        || set(&t.ca_certificates)
                        || set(&t.private_key)
                        || set(&t.server_certificate)
                    {
                        cx.field("tls", |cx| {
                            cx.error(
                                "VAL-GW-3",
                                "server cannot have TLS settings for plain text HTTP ports",
                            )
                        });
                    }
                } else {
                    cx.field("tls", |cx| {
                        cx.error(
                            "VAL-GW-3",
                            "server cannot have TLS settings for non HTTPS/TLS ports",
                        )
                    });
                }
            }
        }
        if !istio_is_http(protocol)
            && sv
                .tls
                .as_ref()
                .is_some_and(|t| t.https_redirect == Some(true))
        {
            cx.field("tls", |cx| {
                cx.field("httpsRedirect", |cx| {
                    cx.warn(
                        "VAL-GW-3",
                        "tls.httpsRedirect should only be used with http servers",
                    )
                })
            });
        }
        Some(Server {
            port: GatewayPort {
                number,
                protocol,
                name: pname,
            },
            hosts,
            tls: sv.tls.clone(),
            bind: sv.bind.clone().filter(|b| !b.is_empty()),
            name: sv.name.clone(),
        })
    }
}

/// `ValidatePortName`.
fn port_name(n: &str, cx: &mut Cx<'_>, code: &'static str) {
    if !validation::is_dns_label(n) {
        cx.error(code, format!("invalid port name: {n}"));
    }
}

/// `ValidateAlphaWorkloadSelector` (Sidecar and ServiceEntry selectors):
/// no empty key and no `*`. Returns the labels, or `Err` when the selector
/// is invalid (Istio then reports that error alone).
fn alpha_selector(
    sel: &w::WorkloadSelector,
    code: &'static str,
    cx: &mut Cx<'_>,
) -> Result<Labels, ()> {
    let labels = sel.labels.clone().unwrap_or_default();
    let mut ok = true;
    cx.field("workloadSelector", |cx| {
        cx.field("labels", |cx| {
            for (k, v) in &labels {
                cx.key(k, |cx| {
                    if k.is_empty() {
                        ok = false;
                        cx.error(
                            code,
                            format!("empty key is not supported in selector: \"{k}={v}\""),
                        );
                    }
                    if k.contains('*') || v.contains('*') {
                        ok = false;
                        cx.error(
                            code,
                            format!("wildcard is not supported in selector: \"{k}={v}\""),
                        );
                    }
                });
            }
        })
    });
    if ok { Ok(labels) } else { Err(()) }
}

impl WorkloadEntry {
    pub(crate) fn convert(s: &w::WorkloadEntry, cx: &mut Cx<'_>) -> WorkloadEntry {
        Self::convert_with(s, None, true, cx)
    }

    /// `validateWorkloadEntry`: an address (IP, `unix://` path, or with
    /// `allow_fqdn` an FQDN; none only with a network), ports named and
    /// numbered validly and, in a ServiceEntry, declared by it.
    fn convert_with(
        s: &w::WorkloadEntry,
        service_ports: Option<&[String]>,
        allow_fqdn: bool,
        cx: &mut Cx<'_>,
    ) -> WorkloadEntry {
        let address = s.address.clone().unwrap_or_default();
        let network = s.network.clone().filter(|n| !n.is_empty());
        let mut unix = false;
        if address.is_empty() {
            match &network {
                None => cx.error("VAL-SE-2", "address is required"),
                Some(n) => cx.field("address", |cx| {
                    cx.warn("VAL-SE-2", format!("address is unset with network {n:?}"))
                }),
            }
        } else if let Some(path) = address.strip_prefix("unix://") {
            unix = true;
            cx.field("address", |cx| {
                if let Err(e) = unix_address(path) {
                    cx.error("VAL-SE-2", e);
                }
            });
            if s.ports.as_ref().is_some_and(|p| !p.is_empty()) {
                cx.field("ports", |cx| {
                    cx.error(
                        "VAL-SE-2",
                        format!("unix endpoint {address} must not include ports"),
                    )
                });
            }
        } else if !validation::is_ip(&address) {
            cx.field("address", |cx| {
                if !allow_fqdn {
                    cx.error(
                        "VAL-SE-2",
                        format!("endpoint address {address:?} is not a valid IP address"),
                    );
                } else if validation::fqdn(&address).is_err() {
                    cx.error(
                        "VAL-SE-2",
                        format!(
                            "endpoint address {address:?} is not a valid FQDN or an IP address"
                        ),
                    );
                }
            });
        }
        let mut ports = BTreeMap::new();
        if let Some(ps) = &s.ports {
            cx.field("ports", |cx| {
                for (name, p) in ps {
                    cx.key(name, |cx| {
                        if let Some(sp) = service_ports
                            && !sp.iter().any(|n| n == name)
                        {
                            cx.error(
                                "VAL-SE-2",
                                format!("endpoint port {p} is not defined by the service entry"),
                            );
                        }
                        port_name(name, cx, "VAL-SE-2");
                        cx.check("VAL-P1", validation::port((*p).into()));
                    });
                    ports.insert(name.clone(), u16::try_from(*p).unwrap_or(0));
                }
            });
        }
        let labels = labels(s.labels.as_ref(), "labels", "VAL-SE-2", cx);
        if unix && service_ports.is_some_and(|sp| sp.len() != 1) {
            cx.error(
                "VAL-SE-2",
                "exactly 1 service port required for unix endpoints",
            );
        }
        WorkloadEntry {
            address,
            ports,
            labels,
            network,
            locality: s.locality.clone().filter(|n| !n.is_empty()),
            weight: s.weight.filter(|w| *w != 0),
            service_account: s.service_account.clone().filter(|n| !n.is_empty()),
        }
    }
}

impl ServiceEntry {
    /// VAL-SE-1 and VAL-SE-2 (`ValidateServiceEntry`). `meta_labels` are the
    /// object's labels (IP auto-allocation opt-out, waypoint use).
    pub(crate) fn convert(
        s: &w::ServiceEntry,
        meta_labels: &Labels,
        cx: &mut Cx<'_>,
    ) -> ServiceEntry {
        let hosts_in = s.hosts.clone().unwrap_or_default();
        let addresses = s.addresses.clone().unwrap_or_default();
        let resolution = s.resolution.unwrap_or(w::Resolution::None);
        let location = s.location.unwrap_or(w::Location::MeshExternal);
        let endpoints_in = s.endpoints.as_deref().unwrap_or_default();
        let mut workload_selector = None;
        if let Some(sel) = &s.workload_selector {
            match alpha_selector(sel, "VAL-SE-1", cx) {
                Err(()) => {
                    return ServiceEntry {
                        hosts: Vec::new(),
                        addresses,
                        ports: Vec::new(),
                        location,
                        resolution,
                        endpoints: Vec::new(),
                        workload_selector: None,
                        export_to: ExportTo::Default,
                        subject_alt_names: Vec::new(),
                    };
                }
                Ok(l) => {
                    if l.is_empty() {
                        cx.field("workloadSelector", |cx| {
                            cx.warn(
                                "VAL-SE-1",
                                "service entry: workload selector specified without labels, will be applied to all services in namespace",
                            )
                        });
                    }
                    workload_selector = Some(Selector(l));
                }
            }
        }
        if s.workload_selector.is_some() && s.endpoints.is_some() {
            cx.error(
                "VAL-SE-1",
                "only one of WorkloadSelector or Endpoints is allowed in Service Entry",
            );
        }
        if hosts_in.is_empty() {
            cx.error("VAL-SE-1", "service entry must have at least one host");
        }
        cx.field("hosts", |cx| {
            for (i, h) in hosts_in.iter().enumerate() {
                cx.index(i, |cx| {
                    if h == "*" {
                        cx.error("VAL-SE-1", format!("invalid host {h}"));
                        return;
                    }
                    cx.check("VAL-H1", validation::wildcard_domain(h));
                    if resolution != w::Resolution::DynamicDns
                        && let Err(e) = partial_wildcard(h)
                    {
                        cx.warn("VAL-SE-2", e);
                    }
                });
            }
        });
        let mut cidr = false;
        cx.field("addresses", |cx| {
            for (i, a) in addresses.iter().enumerate() {
                cidr |= a.contains('/');
                if let Err(e) = validation::ip_subnet(a) {
                    cx.index(i, |cx| cx.error("VAL-SE-1", e));
                }
            }
        });
        if cidr && !matches!(resolution, w::Resolution::None | w::Resolution::Static) {
            cx.field("addresses", |cx| {
                cx.error(
                    "VAL-SE-1",
                    "CIDR addresses are allowed only for NONE/STATIC resolution types",
                )
            });
        }
        // Istio allocates addresses itself unless resolution is NONE or the
        // object opts out (`networking.istio.io/enable-autoallocate-ip`).
        let auto_allocate = resolution != w::Resolution::None
            && !meta_labels
                .get("networking.istio.io/enable-autoallocate-ip")
                .is_some_and(|v| v.eq_ignore_ascii_case("false"))
            && addresses.is_empty();
        let mut ports = Vec::new();
        let mut port_names: Vec<String> = Vec::new();
        let mut port_numbers: Vec<u32> = Vec::new();
        if let Some(ps) = &s.ports {
            cx.field("ports", |cx| {
                for (i, p) in ps.iter().enumerate() {
                    cx.index(i, |cx| {
                        let name = p.name.clone().unwrap_or_default();
                        let number = p.number.unwrap_or(0);
                        if port_names.contains(&name) {
                            cx.field("name", |cx| {
                                cx.error(
                                    "VAL-SE-1",
                                    format!("service entry port name {name:?} already defined"),
                                )
                            });
                        }
                        port_names.push(name.clone());
                        if port_numbers.contains(&number) {
                            cx.field("number", |cx| {
                                cx.error(
                                    "VAL-SE-1",
                                    format!("service entry port {number} already defined"),
                                )
                            });
                        }
                        port_numbers.push(number);
                        if let Some(t) = p.target_port.filter(|t| *t != 0) {
                            cx.field("targetPort", |cx| {
                                cx.check("VAL-P1", validation::port(t.into()))
                            });
                        }
                        let raw = p.protocol.as_deref().unwrap_or("");
                        if addresses.is_empty() && !auto_allocate && (raw.is_empty() || raw == "TCP") {
                            cx.warn(
                                "VAL-SE-2",
                                "addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled",
                            );
                        }
                        cx.field("name", |cx| port_name(&name, cx, "VAL-SE-1"));
                        let protocol = known_protocol(p.protocol.as_ref(), cx, "VAL-SE-1");
                        cx.field("number", |cx| {
                            cx.check("VAL-P1", validation::port(number.into()))
                        });
                        ports.push(ServiceEntryPort {
                            number: u16::try_from(number).unwrap_or(0),
                            protocol,
                            name,
                            target_port: p
                                .target_port
                                .and_then(|t| u16::try_from(t).ok())
                                .filter(|t| *t != 0),
                        });
                    });
                }
            });
        }
        let mut endpoints = Vec::new();
        match resolution {
            w::Resolution::None => {
                if !endpoints_in.is_empty() {
                    cx.field("endpoints", |cx| {
                        cx.error(
                            "VAL-SE-2",
                            "no endpoints should be provided for resolution type none",
                        )
                    });
                }
                if s.workload_selector.is_some() {
                    cx.field("workloadSelector", |cx| {
                        cx.warn(
                            "VAL-SE-2",
                            "workloadSelector should not be set when resolution mode is NONE",
                        )
                    });
                }
            }
            w::Resolution::Static => {}
            w::Resolution::Dns | w::Resolution::DnsRoundRobin => {
                if endpoints_in.is_empty()
                    && let Some((i, e)) = hosts_in
                        .iter()
                        .enumerate()
                        .find_map(|(i, h)| validation::fqdn(h).err().map(|e| (i, e)))
                {
                    cx.field("hosts", |cx| {
                        cx.index(i, |cx| {
                            cx.error(
                                "VAL-SE-2",
                                format!("hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode {resolution}, {e}"),
                            )
                        })
                    });
                }
                if resolution == w::Resolution::DnsRoundRobin && endpoints_in.len() > 1 {
                    cx.field("endpoints", |cx| {
                        cx.error(
                            "VAL-SE-2",
                            format!("there must only be 0 or 1 endpoint for resolution mode {resolution}"),
                        )
                    });
                }
                if !addresses.is_empty()
                    && hosts_in.len() > 1
                    && ports.iter().any(|p| p.protocol.is_tcp())
                {
                    cx.warn(
                        "VAL-SE-2",
                        "service entry can not have more than one host specified simultaneously with address and tcp port",
                    );
                }
            }
            w::Resolution::DynamicDns => {
                if hosts_in.is_empty() {
                    cx.error(
                        "VAL-SE-2",
                        format!("at least one wildcard host must be provided for resolution type {resolution}"),
                    );
                }
                cx.field("hosts", |cx| {
                    for (i, h) in hosts_in.iter().enumerate() {
                        if !h.starts_with('*') {
                            cx.index(i, |cx| {
                                cx.error(
                                    "VAL-SE-2",
                                    format!(
                                        "host must be wildcarded for resolution mode {resolution}"
                                    ),
                                )
                            });
                        }
                    }
                });
                if !addresses.is_empty() {
                    cx.field("addresses", |cx| {
                        cx.error(
                            "VAL-SE-2",
                            format!("addresses cannot be set for resolution type {resolution}. HTTP route domains will only be generatedfrom the hosts field values"),
                        )
                    });
                }
                if !endpoints_in.is_empty() {
                    cx.field("endpoints", |cx| {
                        cx.error(
                            "VAL-SE-2",
                            format!("endpoints cannot be set for resolution type {resolution}. Destination IP address determined from hostsfield values"),
                        )
                    });
                }
                cx.field("ports", |cx| {
                    for (i, p) in ports.iter().enumerate() {
                        if !matches!(
                            p.protocol,
                            Protocol::Http | Protocol::Tls | Protocol::Grpc | Protocol::Http2
                        ) {
                            cx.index(i, |cx| {
                                cx.error(
                                    "VAL-SE-2",
                                    format!("only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type {resolution}"),
                                )
                            });
                        }
                    }
                });
                let waypoint = meta_labels
                    .get("istio.io/use-waypoint")
                    .is_some_and(|v| !v.is_empty() && !v.eq_ignore_ascii_case("none"));
                if location == w::Location::MeshInternal && waypoint {
                    cx.error(
                        "VAL-SE-2",
                        format!("location MESH_INTERNAL with resolution type {resolution} is not supported when using waypoints"),
                    );
                }
            }
        }
        // STATIC endpoints must be IPs; DNS ones may be FQDNs; NONE and
        // DYNAMIC_DNS endpoints are reported above and not checked further.
        if matches!(
            resolution,
            w::Resolution::Static | w::Resolution::Dns | w::Resolution::DnsRoundRobin
        ) {
            cx.field("endpoints", |cx| {
                for (i, e) in endpoints_in.iter().enumerate() {
                    endpoints.push(cx.index(i, |cx| {
                        WorkloadEntry::convert_with(
                            e,
                            Some(&port_names),
                            resolution != w::Resolution::Static,
                            cx,
                        )
                    }));
                }
            });
        } else {
            endpoints = endpoints_in
                .iter()
                .map(|e| WorkloadEntry {
                    address: e.address.clone().unwrap_or_default(),
                    labels: e.labels.clone().unwrap_or_default(),
                    ..WorkloadEntry::default()
                })
                .collect();
        }
        // Several hosts on a port that is neither HTTP nor TLS cannot be
        // told apart, unless resolution is NONE (hosts are ignored).
        if resolution != w::Resolution::None
            && hosts_in.len() > 1
            && ports
                .iter()
                .any(|p| !istio_is_http(p.protocol) && !p.protocol.is_tls())
        {
            cx.error(
                "VAL-SE-1",
                "multiple hosts provided with non-HTTP, non-TLS ports",
            );
        }
        let export_to = ExportTo::convert(s.export_to.as_ref(), true, false, cx);
        ServiceEntry {
            hosts: hosts_in.iter().map(|h| Hostname::new(h)).collect(),
            addresses,
            ports,
            location,
            resolution,
            endpoints,
            workload_selector,
            export_to,
            subject_alt_names: s.subject_alt_names.clone().unwrap_or_default(),
        }
    }
}

impl Sidecar {
    /// VAL-SC-1 (`ValidateSidecar`).
    pub(crate) fn convert(s: &w::Sidecar, cx: &mut Cx<'_>) -> Sidecar {
        let code = "VAL-SC-1";
        let ingress = s.ingress.clone().unwrap_or_default();
        let egress_in = s.egress.clone().unwrap_or_default();
        let empty = Sidecar {
            workload_selector: None,
            ingress: Vec::new(),
            egress: Vec::new(),
            outbound_traffic_policy: None,
            inbound_connection_pool: None,
        };
        let mut workload_selector = None;
        if let Some(sel) = &s.workload_selector {
            let Ok(l) = alpha_selector(sel, code, cx) else {
                return empty;
            };
            if l.is_empty() {
                cx.field("workloadSelector", |cx| {
                    cx.warn(
                        code,
                        "sidecar: workload selector specified without labels, will be applied to all services in namespace",
                    )
                });
            }
            workload_selector = Some(Selector(l));
        }
        if ingress.is_empty()
            && egress_in.is_empty()
            && s.outbound_traffic_policy.is_none()
            && s.inbound_connection_pool.is_none()
        {
            cx.error(code, "sidecar: empty configuration provided");
            return empty;
        }
        cx.field("ingress", |cx| {
            let mut seen = Vec::new();
            for (i, l) in ingress.iter().enumerate() {
                cx.index(i, |cx| ingress_listener(l, &mut seen, cx));
            }
        });
        if let Some(p) = &s.inbound_connection_pool {
            cx.field("inboundConnectionPool", |cx| {
                super::destination_rule::connection_pool(p, cx)
            });
        }
        let mut egress = Vec::new();
        cx.field("egress", |cx| {
            let mut ports = Vec::new();
            let mut sockets: Vec<String> = Vec::new();
            let mut catch_all = false;
            for (i, l) in egress_in.iter().enumerate() {
                cx.index(i, |cx| {
                    let bind = l.bind.as_deref().unwrap_or("");
                    match &l.port {
                        None if catch_all => {
                            cx.error(code, "sidecar: egress can have only one listener with empty port");
                            return;
                        }
                        None if i == egress_in.len() - 1 => catch_all = true,
                        None => cx.error(
                            code,
                            "sidecar: the egress listener with empty port should be the last listener in the list",
                        ),
                        Some(p) => {
                            let n = p.number.unwrap_or(0);
                            cx.field("port", |cx| {
                                if p.target_port.is_some_and(|t| t > 0) {
                                    cx.field("targetPort", |cx| {
                                        cx.error(code, "targetPort has no impact on Sidecars")
                                    });
                                }
                                if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                                    cx.field("name", |cx| port_name(name, cx, code));
                                }
                                known_protocol(p.protocol.as_ref(), cx, code);
                            });
                            if n == 0 {
                                match bind.strip_prefix("unix://") {
                                    None => cx.field("bind", |cx| {
                                        cx.error(code, "sidecar: ports with 0 value must have a unix domain socket bind address")
                                    }),
                                    Some(path) => {
                                        if let Err(e) = unix_address(path) {
                                            cx.field("bind", |cx| cx.error(code, e));
                                        }
                                    }
                                }
                                if !matches!(
                                    l.capture_mode.unwrap_or(w::CaptureMode::Default),
                                    w::CaptureMode::Default | w::CaptureMode::None
                                ) {
                                    cx.field("captureMode", |cx| {
                                        cx.error(code, "sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners")
                                    });
                                }
                                if sockets.iter().any(|b| b == bind) {
                                    cx.error(code, "sidecar: unix domain socket values for listeners must be unique");
                                }
                                sockets.push(bind.to_string());
                            } else {
                                cx.field("port", |cx| {
                                    cx.field("number", |cx| {
                                        cx.check("VAL-P1", validation::port(n.into()))
                                    })
                                });
                                if !bind.is_empty() && !validation::is_ip(bind) {
                                    cx.field("bind", |cx| {
                                        cx.error(code, format!("{bind} is not a valid IP"))
                                    });
                                }
                                if ports.contains(&n) {
                                    cx.error(code, "sidecar: ports on IP bound listeners must be unique");
                                }
                                ports.push(n);
                            }
                        }
                    }
                    let hs = l.hosts.clone().unwrap_or_default();
                    if hs.is_empty() {
                        cx.error(code, "sidecar: egress listener must contain at least one host");
                    }
                    let mut hosts = Vec::new();
                    // namespace → hosts imported (for duplicate warnings).
                    let mut imported: BTreeMap<String, Vec<String>> = BTreeMap::new();
                    cx.field("hosts", |cx| {
                        for (j, h) in hs.iter().enumerate() {
                            cx.index(j, |cx| {
                                if let Some((ns, svc)) = h.split_once('/')
                                    && !ns.starts_with('~')
                                {
                                    let ns = if ns == "." { cx.namespace } else { ns };
                                    let have = imported.entry(ns.to_string()).or_default();
                                    let dup = if svc == "*" {
                                        !have.is_empty()
                                    } else {
                                        have.iter().any(|s| s == svc || s == "*")
                                    };
                                    if dup {
                                        cx.warn(code, format!("duplicated egress host: {h}"));
                                    }
                                    have.push(svc.to_string());
                                }
                                if let Some((namespace, exclude, host)) = slash_host(h, false, cx, code) {
                                    hosts.push(EgressHost { namespace, exclude, host });
                                }
                            });
                        }
                    });
                    if imported.get("*").is_some_and(|s| s.iter().any(|h| h == "*"))
                        && imported.len() != 1
                    {
                        cx.field("hosts", |cx| {
                            cx.warn(code, "`*/*` host select all resources, no other hosts can be added")
                        });
                    }
                    egress.push(EgressListener {
                        port: l.port.clone(),
                        bind: l.bind.clone(),
                        capture_mode: l.capture_mode,
                        hosts,
                    });
                });
            }
        });
        if let Some(o) = &s.outbound_traffic_policy {
            cx.field("outboundTrafficPolicy", |cx| {
                if let Some(ep) = &o.egress_proxy {
                    if o.mode != Some(w::OutboundTrafficPolicyMode::AllowAny) {
                        cx.error(code, "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode");
                        return;
                    }
                    cx.field("egressProxy", |cx| {
                        cx.field("host", |cx| {
                            cx.check(code, validation::fqdn(ep.host.as_deref().unwrap_or("")))
                        });
                        if ep.port.is_none() {
                            cx.error(code, "sidecar: egress_proxy port must be non-nil");
                        } else {
                            let _ = super::common::Destination::convert(ep, cx, true);
                        }
                    });
                }
            });
        }
        Sidecar {
            workload_selector,
            ingress,
            egress,
            outbound_traffic_policy: s.outbound_traffic_policy.clone(),
            inbound_connection_pool: s.inbound_connection_pool.clone(),
        }
    }
}

/// One Sidecar ingress listener (VAL-SC-1).
fn ingress_listener(l: &w::IstioIngressListener, seen: &mut Vec<u32>, cx: &mut Cx<'_>) {
    let code = "VAL-SC-1";
    let Some(port) = &l.port else {
        cx.error(code, "sidecar: port is required for ingress listeners");
        return;
    };
    let n = port.number.unwrap_or(0);
    let protocol = cx.field("port", |cx| {
        if port.target_port.is_some_and(|t| t > 0) {
            cx.field("targetPort", |cx| {
                cx.error(code, "targetPort has no impact on Sidecars")
            });
        }
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            cx.field("name", |cx| port_name(name, cx, code));
        }
        let protocol = known_protocol(port.protocol.as_ref(), cx, code);
        cx.field("number", |cx| {
            cx.check("VAL-P1", validation::port(n.into()))
        });
        protocol
    });
    if let Some(b) = l.bind.as_deref().filter(|b| !b.is_empty())
        && !validation::is_ip(b)
    {
        cx.field("bind", |cx| {
            cx.error(code, format!("{b} is not a valid IP"))
        });
    }
    if seen.contains(&n) {
        cx.error(code, "sidecar: ports on IP bound listeners must be unique");
    }
    seen.push(n);
    if let Some(ep) = l.default_endpoint.as_deref().filter(|e| !e.is_empty()) {
        cx.field("defaultEndpoint", |cx| {
            if let Some(path) = ep.strip_prefix("unix://") {
                if let Err(e) = unix_address(path) {
                    cx.error(code, e);
                }
                return;
            }
            match split_host_port(ep) {
                Err(e) => cx.error(code, e),
                Ok((host, p)) => {
                    if !matches!(host, "" | "127.0.0.1" | "0.0.0.0" | "::1" | "::") {
                        cx.error(code, "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset");
                    }
                    match p.parse::<i64>() {
                        Ok(p) => {
                            cx.check("VAL-P1", validation::port(p));
                        }
                        Err(_) => cx.error(
                            code,
                            format!("sidecar: defaultEndpoint port ({p}) is not a number"),
                        ),
                    }
                }
            }
        });
    }
    if let Some(t) = &l.tls {
        cx.field("tls", |cx| {
            if t.subject_alt_names.as_ref().is_some_and(|s| !s.is_empty()) {
                cx.error(
                    code,
                    "sidecar: subjectAltNames is not supported in ingress tls",
                );
            }
            if t.https_redirect == Some(true) {
                cx.error(code, "sidecar: httpsRedirect is not supported");
            }
            if t.credential_name.as_deref().is_some_and(|c| !c.is_empty()) {
                cx.error(code, "sidecar: credentialName is not currently supported");
            }
            if t.credential_names.as_ref().is_some_and(|c| !c.is_empty()) {
                cx.error(code, "sidecar: credentialNames is not currently supported");
            }
            if t.tls_certificates.as_ref().is_some_and(|c| !c.is_empty()) {
                cx.error(code, "sidecar: tls_certificates is not currently supported");
            }
            if let Some(m @ (w::ServerTlsMode::IstioMutual | w::ServerTlsMode::AutoPassthrough)) =
                t.mode
            {
                cx.error(
                    code,
                    format!(
                        "configuration is invalid: cannot set mode to {m} in sidecar ingress tls"
                    ),
                );
            }
            if !protocol.is_tls() {
                cx.error(
                    code,
                    "server cannot have TLS settings for non HTTPS/TLS ports",
                );
            }
            server_tls(t, cx);
        });
    }
    if let Some(pool) = &l.connection_pool {
        cx.field("connectionPool", |cx| {
            super::destination_rule::connection_pool(pool, cx);
            if pool.http.is_some() && !istio_is_http(protocol) {
                cx.warn(
                    code,
                    format!(
                        "sidecar: HTTP connection pool settings are configured for port {n} ({:?}) but its protocol is not HTTP ({}); only TCP settings will apply",
                        port.name.as_deref().unwrap_or(""),
                        port.protocol.as_deref().unwrap_or("")
                    ),
                );
            }
        });
    }
}

/// Go's `net.SplitHostPort` for `host:port` and `[v6]:port`.
fn split_host_port(s: &str) -> Result<(&str, &str), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(format!("address {s}: missing ']' in address"));
        };
        let Some(port) = after.strip_prefix(':') else {
            return Err(format!("address {s}: missing port in address"));
        };
        return Ok((host, port));
    }
    match s.rsplit_once(':') {
        None => Err(format!("address {s}: missing port in address")),
        Some((h, _)) if h.contains(':') => Err(format!("address {s}: too many colons in address")),
        Some((h, p)) => Ok((h, p)),
    }
}
