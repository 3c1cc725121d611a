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
        match &self.tls {
            Some(t) => !matches!(
                t.mode,
                Some(w::ServerTlsMode::Passthrough | w::ServerTlsMode::AutoPassthrough)
            ),
            None => false,
        }
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

/// `validateNamespaceSlashWildcardHostname`: `ns/host` (or bare `host` on
/// gateways).
fn slash_host(
    h: &str,
    gateway: bool,
    cx: &mut Cx<'_>,
    code: &'static str,
) -> Option<(String, bool, Hostname)> {
    let (ns, dns) = match h.split_once('/') {
        Some((ns, dns)) => (ns, dns),
        None if gateway => ("*", h),
        None => {
            cx.error(
                code,
                format!("host {h:?} must be of form namespace/dnsName"),
            );
            return None;
        }
    };
    if ns.is_empty() || dns.is_empty() {
        cx.error(code, "config namespace and hostname are required");
        return None;
    }
    let (exclude, ns_name) = match ns.strip_prefix('~') {
        Some(rest) if !gateway => (true, rest),
        _ => (false, ns),
    };
    if ns_name != "*" && ns_name != "." && !validation::is_dns1123_label(ns_name) {
        cx.error(
            code,
            format!("invalid namespace value {ns:?} in host {h:?}"),
        );
    }
    if dns != "*" {
        if let Err(e) = validation::wildcard_domain(dns) {
            cx.error("VAL-H1", e);
        } else if gateway {
            // GW-3: FQDN, `*` or `*.suffix`; no short names, no `*foo.com`.
            if dns.starts_with('*') && !dns.starts_with("*.") {
                cx.error(
                    code,
                    format!("partial wildcard {dns:?} is not allowed; use *.domain"),
                );
            } else if !dns.contains('.') && !validation::is_ip(dns) {
                cx.error(code, format!("short name {dns:?} is not allowed in gateway hosts; use a fully qualified name"));
            }
        }
    }
    let ns_resolved = if ns_name == "." {
        cx.namespace.to_string()
    } else {
        ns_name.to_string()
    };
    Some((ns_resolved, exclude, Hostname::new(dns)))
}

/// VAL-GW-4 (also used for Sidecar ingress TLS).
fn server_tls(t: &w::ServerTlsSettings, cx: &mut Cx<'_>) {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    let mode = t.mode.unwrap_or(w::ServerTlsMode::Passthrough);
    let code = "VAL-GW-4";
    if mode == w::ServerTlsMode::IstioMutual {
        for (name, v) in [
            ("ServerCertificate", &t.server_certificate),
            ("PrivateKey", &t.private_key),
            ("CaCertificates", &t.ca_certificates),
            ("CredentialName", &t.credential_name),
        ] {
            if set(v) {
                cx.error(
                    code,
                    format!("ISTIO_MUTUAL TLSMode requires {name} to not be set"),
                );
            }
        }
        return;
    }
    let sources = usize::from(set(&t.credential_name))
        + usize::from(t.credential_names.as_ref().is_some_and(|v| !v.is_empty()))
        + usize::from(t.tls_certificates.as_ref().is_some_and(|v| !v.is_empty()))
        + usize::from(set(&t.server_certificate) || set(&t.private_key));
    if sources > 1 {
        cx.error(
            code,
            "only one of credentialName, credentialNames, tlsCertificates or serverCertificate/privateKey may be set",
        );
        return;
    }
    if matches!(
        mode,
        w::ServerTlsMode::Passthrough | w::ServerTlsMode::AutoPassthrough
    ) {
        if set(&t.server_certificate)
            || set(&t.private_key)
            || set(&t.ca_certificates)
            || set(&t.credential_name)
        {
            cx.warn(
                code,
                format!("{mode} mode does not use certificates, they will be ignored"),
            );
        }
        return;
    }
    let remote =
        set(&t.credential_name) || t.credential_names.as_ref().is_some_and(|v| !v.is_empty());
    if remote {
        return;
    }
    let mutual = matches!(
        mode,
        w::ServerTlsMode::Mutual | w::ServerTlsMode::OptionalMutual
    );
    if let Some(certs) = t.tls_certificates.as_ref().filter(|v| !v.is_empty()) {
        cx.field("tlsCertificates", |cx| {
            for (i, c) in certs.iter().enumerate() {
                cx.index(i, |cx| {
                    if !set(&c.server_certificate) {
                        cx.error(code, "SIMPLE TLS requires a server certificate");
                    }
                    if !set(&c.private_key) {
                        cx.error(code, "SIMPLE TLS requires a private key");
                    }
                });
            }
        });
    } else {
        if !set(&t.server_certificate) {
            cx.error(code, format!("{mode} TLS requires a server certificate"));
        }
        if !set(&t.private_key) {
            cx.error(code, format!("{mode} TLS requires a private key"));
        }
    }
    if mutual && !set(&t.ca_certificates) && !set(&t.ca_cert_credential_name) {
        cx.error(code, "MUTUAL TLS requires a client CA bundle");
    }
}

impl Gateway {
    pub(crate) fn convert(s: &w::Gateway, meta: &ObjectMeta, cx: &mut Cx<'_>) -> Gateway {
        let name = meta.name.as_deref().unwrap_or("");
        if !validation::is_dns1123_label(name) {
            let saved = std::mem::replace(
                &mut cx.path,
                crate::diag::FieldPath::root()
                    .field("metadata")
                    .field("name"),
            );
            cx.error("VAL-GW-1", format!("invalid gateway name: {name:?}"));
            cx.path = saved;
        }
        let selector = Selector(labels(s.selector.as_ref(), "selector", "VAL-GW-1", cx));
        let servers_in = s.servers.as_deref().unwrap_or_default();
        if servers_in.is_empty() {
            cx.error("VAL-GW-1", "gateway must have at least one server");
        }
        let mut servers = Vec::new();
        let mut port_names: Vec<String> = Vec::new();
        cx.field("servers", |cx| {
            for (i, sv) in servers_in.iter().enumerate() {
                cx.index(i, |cx| {
                    let hosts_in = sv.hosts.as_deref().unwrap_or_default();
                    let mut hosts = Vec::new();
                    if hosts_in.is_empty() {
                        cx.error("VAL-GW-1", "server config must contain at least one host");
                    }
                    cx.field("hosts", |cx| {
                        for (j, h) in hosts_in.iter().enumerate() {
                            if let Some((namespace, _, host)) = cx.index(j, |cx| slash_host(h, true, cx, "VAL-GW-1")) {
                                hosts.push(GatewayHost { namespace, host });
                            }
                        }
                    });
                    let bind = sv.bind.clone().filter(|b| !b.is_empty());
                    let port = match &sv.port {
                        None => {
                            cx.error("VAL-GW-2", "port is required");
                            None
                        }
                        Some(p) => cx.field("port", |cx| {
                            let number = p.number.unwrap_or(0);
                            let unix = bind.as_deref().is_some_and(|b| b.starts_with("unix://"));
                            if number > 0 || !unix {
                                cx.field("number", |cx| cx.check("VAL-GW-2", validation::port(number.into())));
                            }
                            let pname = p.name.clone().unwrap_or_default();
                            if pname.is_empty() {
                                cx.field("name", |cx| cx.error("VAL-GW-2", "port name must be set"));
                            } else if port_names.contains(&pname) {
                                cx.field("name", |cx| {
                                    cx.error("VAL-GW-2", format!("port names in servers must be unique: duplicate name {pname}"))
                                });
                            }
                            port_names.push(pname.clone());
                            if p.target_port.is_some_and(|t| t != 0) {
                                cx.field("targetPort", |cx| cx.error("VAL-GW-2", "targetPort has no impact on Gateways"));
                            }
                            let protocol = port_protocol(p.protocol.as_ref(), cx, "VAL-GW-2");
                            Some(GatewayPort { number, protocol, name: pname })
                        }),
                    };
                    if let Some(t) = &sv.tls {
                        cx.field("tls", |cx| server_tls(t, cx));
                    }
                    if let Some(p) = &port {
                        let proto = p.protocol;
                        if proto.is_tls() && sv.tls.is_none() {
                            cx.error("VAL-GW-3", "server must have TLS settings for HTTPS/TLS protocols");
                        } else if !proto.is_tls()
                            && let Some(t) = &sv.tls {
                                let redirect_only = t.https_redirect == Some(true)
                                    && t.server_certificate.is_none()
                                    && t.private_key.is_none()
                                    && t.ca_certificates.is_none()
                                    && t.credential_name.is_none();
                                if proto.is_http() {
                                    if !redirect_only {
                                        cx.field("tls", |cx| {
                                            cx.error("VAL-GW-3", "server cannot have TLS settings for plain text HTTP ports")
                                        });
                                    }
                                } else if proto != Protocol::Unsupported {
                                    cx.field("tls", |cx| {
                                        cx.error("VAL-GW-3", "server cannot have TLS settings for non HTTPS/TLS ports")
                                    });
                                }
                            }
                        if !proto.is_http() && sv.tls.as_ref().is_some_and(|t| t.https_redirect == Some(true)) {
                            cx.warn("VAL-GW-3", "tls.httpsRedirect should only be used with http servers");
                        }
                        servers.push(Server {
                            port: p.clone(),
                            hosts,
                            tls: sv.tls.clone(),
                            bind,
                            name: sv.name.clone(),
                        });
                    }
                });
            }
        });
        Gateway { selector, servers }
    }
}

fn port_name(n: &str, cx: &mut Cx<'_>, code: &'static str) {
    if !validation::is_dns1123_label(n) {
        cx.error(code, format!("invalid port name: {n}"));
    }
}

impl WorkloadEntry {
    pub(crate) fn convert(s: &w::WorkloadEntry, cx: &mut Cx<'_>) -> WorkloadEntry {
        Self::convert_with(s, None, cx)
    }

    fn convert_with(
        s: &w::WorkloadEntry,
        service_ports: Option<&[String]>,
        cx: &mut Cx<'_>,
    ) -> WorkloadEntry {
        let address = s.address.clone().unwrap_or_default();
        if !address.is_empty() && !address.starts_with("unix://") && !validation::is_ip(&address) {
            cx.field("address", |cx| {
                if validation::fqdn(&address).is_err() {
                    cx.error(
                        "VAL-SE-2",
                        format!(
                            "endpoint address {address:?} is not a valid FQDN or an IP address"
                        ),
                    );
                }
            });
        }
        let labels = labels(s.labels.as_ref(), "labels", "VAL-SE-1", cx);
        let mut ports = BTreeMap::new();
        if let Some(ps) = &s.ports {
            cx.field("ports", |cx| {
                for (name, p) in ps {
                    cx.key(name, |cx| {
                        port_name(name, cx, "VAL-SE-1");
                        cx.check("VAL-P1", validation::port((*p).into()));
                        if let Some(sp) = service_ports
                            && !sp.iter().any(|n| n == name)
                        {
                            cx.error(
                                "VAL-SE-1",
                                format!("endpoint port {name} is not defined by the service entry"),
                            );
                        }
                    });
                    ports.insert(name.clone(), u16::try_from(*p).unwrap_or(0));
                }
            });
        }
        WorkloadEntry {
            address,
            ports,
            labels,
            network: s.network.clone().filter(|n| !n.is_empty()),
            locality: s.locality.clone().filter(|n| !n.is_empty()),
            weight: s.weight.filter(|w| *w != 0),
            service_account: s.service_account.clone().filter(|n| !n.is_empty()),
        }
    }
}

impl ServiceEntry {
    pub(crate) fn convert(s: &w::ServiceEntry, cx: &mut Cx<'_>) -> ServiceEntry {
        let hosts_in = s.hosts.clone().unwrap_or_default();
        let resolution = s.resolution.unwrap_or(w::Resolution::None);
        cx.field("hosts", |cx| {
            for (i, h) in hosts_in.iter().enumerate() {
                cx.index(i, |cx| {
                    if h == "*" {
                        cx.error("VAL-SE-1", format!("invalid host {h}"));
                    } else if let Err(e) = validation::wildcard_domain(h) {
                        cx.error("VAL-H1", e);
                    } else if h.starts_with('*') && !h.starts_with("*.") {
                        cx.warn(
                            "VAL-SE-2",
                            format!("partial wildcard {h:?} is not supported; use *.domain"),
                        );
                    }
                });
            }
        });
        let addresses = s.addresses.clone().unwrap_or_default();
        cx.field("addresses", |cx| {
            for (i, a) in addresses.iter().enumerate() {
                if !validation::is_ip_or_cidr(a) {
                    cx.index(i, |cx| cx.error("VAL-SE-1", format!("invalid address {a}")));
                }
            }
        });
        let mut ports = Vec::new();
        let mut port_names = Vec::new();
        if let Some(ps) = &s.ports {
            cx.field("ports", |cx| {
                for (i, p) in ps.iter().enumerate() {
                    cx.index(i, |cx| {
                        let name = p.name.clone().unwrap_or_default();
                        cx.field("name", |cx| port_name(&name, cx, "VAL-SE-1"));
                        let number = p.number.unwrap_or(0);
                        cx.field("number", |cx| {
                            cx.check("VAL-P1", validation::port(number.into()))
                        });
                        let protocol = port_protocol(p.protocol.as_ref(), cx, "VAL-SE-1");
                        port_names.push(name.clone());
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
        if let Some(es) = &s.endpoints {
            cx.field("endpoints", |cx| {
                for (i, e) in es.iter().enumerate() {
                    endpoints.push(cx.index(i, |cx| {
                        let ep = WorkloadEntry::convert_with(e, Some(&port_names), cx);
                        if resolution == w::Resolution::Static
                            && !ep.address.starts_with("unix://")
                            && !validation::is_ip(&ep.address)
                        {
                            cx.field("address", |cx| {
                                cx.error(
                                    "VAL-SE-2",
                                    format!(
                                        "endpoint address {:?} is not a valid IP address",
                                        ep.address
                                    ),
                                )
                            });
                        }
                        ep
                    }));
                }
            });
        }
        match resolution {
            w::Resolution::None if s.workload_selector.is_some() => {
                cx.warn(
                    "VAL-SE-2",
                    "workloadSelector should not be set when resolution mode is NONE",
                );
            }
            w::Resolution::Dns | w::Resolution::DnsRoundRobin
                if endpoints.is_empty() && s.workload_selector.is_none() =>
            {
                cx.field("hosts", |cx| {
                        for (i, h) in hosts_in.iter().enumerate() {
                            if validation::fqdn(h).is_err() {
                                cx.index(i, |cx| {
                                    cx.error(
                                        "VAL-SE-2",
                                        format!("hosts must be FQDN if no endpoints are provided for resolution mode {resolution}"),
                                    )
                                });
                            }
                        }
                    });
            }
            _ => {}
        }
        // Multiple hosts on a non-HTTP, non-TLS port cannot be told apart.
        if addresses.is_empty() && hosts_in.len() > 1 && resolution != w::Resolution::None {
            for p in &ports {
                if !p.protocol.is_http()
                    && !p.protocol.is_tls()
                    && p.protocol != Protocol::Unsupported
                {
                    cx.error(
                        "VAL-SE-1",
                        format!(
                            "multiple hosts provided with non-HTTP, non-TLS ports (port {})",
                            p.number
                        ),
                    );
                    break;
                }
            }
        }
        if addresses.is_empty()
            && resolution == w::Resolution::None
            && let Some(p) = ports
                .iter()
                .find(|p| matches!(p.protocol, Protocol::Tcp | Protocol::Unsupported))
        {
            cx.warn(
                    "VAL-SE-2",
                    format!(
                        "addresses are required for ports serving TCP (or unknown) protocol when ISTIO_META_DNS_AUTO_ALLOCATE is not set (port {})",
                        p.number
                    ),
                );
        }
        if let Some(sans) = &s.subject_alt_names {
            cx.field("subjectAltNames", |cx| {
                for (i, san) in sans.iter().enumerate() {
                    if san.is_empty() {
                        cx.index(i, |cx| cx.error("VAL-SE-1", "empty subjectAltName"));
                    }
                }
            });
        }
        let workload_selector = s.workload_selector.as_ref().map(|sel| {
            Selector(labels(
                sel.labels.as_ref(),
                "workloadSelector",
                "VAL-SE-1",
                cx,
            ))
        });
        let export_to = ExportTo::convert(s.export_to.as_ref(), true, cx);
        ServiceEntry {
            hosts: hosts_in.iter().map(|h| Hostname::new(h)).collect(),
            addresses,
            ports,
            location: s.location.unwrap_or(w::Location::MeshExternal),
            resolution,
            endpoints,
            workload_selector,
            export_to,
            subject_alt_names: s.subject_alt_names.clone().unwrap_or_default(),
        }
    }
}

impl Sidecar {
    pub(crate) fn convert(s: &w::Sidecar, cx: &mut Cx<'_>) -> Sidecar {
        let workload_selector = s.workload_selector.as_ref().map(|sel| {
            if sel.labels.as_ref().is_none_or(BTreeMap::is_empty) {
                cx.field("workloadSelector", |cx| {
                    cx.error(
                        "VAL-SC-1",
                        "sidecar: workloadSelector cannot have empty labels",
                    )
                });
            }
            Selector(labels(
                sel.labels.as_ref(),
                "workloadSelector",
                "VAL-SC-1",
                cx,
            ))
        });
        let ingress = s.ingress.clone().unwrap_or_default();
        let egress_in = s.egress.clone().unwrap_or_default();
        if ingress.is_empty()
            && egress_in.is_empty()
            && s.outbound_traffic_policy.is_none()
            && s.inbound_connection_pool.is_none()
        {
            cx.error("VAL-SC-1", "sidecar: empty configuration provided");
        }
        cx.field("ingress", |cx| {
            let mut seen = Vec::new();
            for (i, l) in ingress.iter().enumerate() {
                cx.index(i, |cx| {
                    let Some(port) = &l.port else {
                        cx.error("VAL-SC-1", "sidecar: port is required for ingress listeners");
                        return;
                    };
                    let n = port.number.unwrap_or(0);
                    cx.field("port", |cx| {
                        cx.field("number", |cx| cx.check("VAL-P1", validation::port(n.into())));
                        port_protocol(port.protocol.as_ref(), cx, "VAL-SC-1");
                    });
                    if seen.contains(&n) {
                        cx.error("VAL-SC-1", "sidecar: ports on IP bound listeners must be unique");
                    }
                    seen.push(n);
                    if let Some(ep) = l.default_endpoint.as_deref().filter(|e| !e.is_empty())
                        && !ep.starts_with("unix://") {
                            let ok = ep.rsplit_once(':').is_some_and(|(h, p)| {
                                matches!(h, "" | "127.0.0.1" | "0.0.0.0" | "[::1]" | "[::]")
                                    && p.parse::<i64>().is_ok_and(|p| validation::port(p).is_ok())
                            });
                            if !ok {
                                cx.field("defaultEndpoint", |cx| {
                                    cx.error(
                                        "VAL-SC-1",
                                        "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:port, [::]:port, unix://filepath, or unset",
                                    )
                                });
                            }
                        }
                    if let Some(t) = &l.tls {
                        cx.field("tls", |cx| {
                            if t.mode == Some(w::ServerTlsMode::IstioMutual) {
                                cx.error("VAL-SC-1", "sidecar: ISTIO_MUTUAL is not supported for ingress listeners");
                            } else {
                                server_tls(t, cx);
                            }
                        });
                    }
                });
            }
        });
        let mut egress = Vec::new();
        cx.field("egress", |cx| {
            let mut ports = Vec::new();
            let mut catch_all = false;
            for (i, l) in egress_in.iter().enumerate() {
                cx.index(i, |cx| {
                    match &l.port {
                        None => {
                            if catch_all {
                                cx.error("VAL-SC-1", "sidecar: egress can have only one listener with empty port");
                            } else if i != egress_in.len() - 1 {
                                cx.error(
                                    "VAL-SC-1",
                                    "sidecar: the egress listener with empty port should be the last listener in the list",
                                );
                            }
                            catch_all = true;
                        }
                        Some(p) => {
                            let n = p.number.unwrap_or(0);
                            let unix = l.bind.as_deref().is_some_and(|b| b.starts_with("unix://"));
                            cx.field("port", |cx| {
                                if !unix {
                                    cx.field("number", |cx| cx.check("VAL-P1", validation::port(n.into())));
                                }
                                port_protocol(p.protocol.as_ref(), cx, "VAL-SC-1");
                            });
                            if let Some(b) = l.bind.as_deref().filter(|b| !b.is_empty() && !b.starts_with("unix://"))
                                && !validation::is_ip(b) {
                                    cx.field("bind", |cx| cx.error("VAL-SC-1", "sidecar: bind must be a valid ip address"));
                                }
                            if n != 0 {
                                if ports.contains(&n) {
                                    cx.error("VAL-SC-1", "sidecar: ports on IP bound listeners must be unique");
                                }
                                ports.push(n);
                            }
                        }
                    }
                    let hs = l.hosts.clone().unwrap_or_default();
                    if hs.is_empty() {
                        cx.error("VAL-SC-1", "sidecar: egress listener must contain at least one host");
                    }
                    let mut hosts = Vec::new();
                    cx.field("hosts", |cx| {
                        for (j, h) in hs.iter().enumerate() {
                            if let Some((namespace, exclude, host)) = cx.index(j, |cx| slash_host(h, false, cx, "VAL-SC-1")) {
                                if hosts.iter().any(|e: &EgressHost| {
                                    e.namespace == namespace && (e.host == host || e.host.as_str() == "*")
                                }) {
                                    cx.index(j, |cx| cx.warn("VAL-SC-1", format!("duplicated egress host: {h}")));
                                }
                                hosts.push(EgressHost { namespace, exclude, host });
                            }
                        }
                    });
                    egress.push(EgressListener {
                        port: l.port.clone(),
                        bind: l.bind.clone(),
                        capture_mode: l.capture_mode,
                        hosts,
                    });
                });
            }
        });
        if let Some(o) = &s.outbound_traffic_policy
            && o.egress_proxy.is_some()
            && o.mode != Some(w::OutboundTrafficPolicyMode::AllowAny)
        {
            cx.field("outboundTrafficPolicy", |cx| {
                    cx.error("VAL-SC-1", "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode")
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
