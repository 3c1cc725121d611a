//! TLS contexts as Istio builds them: mesh certificates through SDS
//! (secrets `default` and `ROOTCA`), DestinationRule client TLS, gateway
//! server TLS.

use crate::util::{ads, any};
use envoy_types::pb::envoy::config::core::v3::{DataSource, TransportSocket, transport_socket};
use envoy_types::pb::envoy::extensions::transport_sockets::raw_buffer::v3::RawBuffer;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig,
    SubjectAltNameMatcher, UpstreamTlsContext,
    common_tls_context::{CombinedCertificateValidationContext, ValidationContextType},
    subject_alt_name_matcher::SanType,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use envoy_types::pb::google::protobuf::Any;
use prost::encoding::{WireType, encode_key, encode_varint};

/// The SDS secret holding the workload certificate and key.
pub const SECRET_DEFAULT: &str = "default";
/// The SDS secret holding the mesh root certificate.
pub const SECRET_ROOTCA: &str = "ROOTCA";
/// The ALPN Istio offers on mTLS connections between sidecars.
pub const ISTIO_ALPN: &[&str] = &["istio-peer-exchange", "istio"];

/// An SDS secret config served over ADS.
pub fn sds(name: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.to_string(),
        sds_config: Some(ads()),
    }
}

fn san_matchers(sans: &[String]) -> Vec<SubjectAltNameMatcher> {
    sans.iter()
        .map(|s| SubjectAltNameMatcher {
            san_type: if s.starts_with("spiffe://") {
                SanType::Uri as i32
            } else {
                SanType::Dns as i32
            },
            matcher: Some(StringMatcher {
                match_pattern: Some(MatchPattern::Exact(s.clone())),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect()
}

/// The common context of an Istio mTLS connection: the workload
/// certificate from SDS `default`, peers validated against SDS `ROOTCA`
/// and the given SANs.
pub fn istio_common_context(sans: &[String], alpn: &[&str]) -> CommonTlsContext {
    CommonTlsContext {
        tls_certificate_sds_secret_configs: vec![sds(SECRET_DEFAULT)],
        alpn_protocols: alpn.iter().map(|s| (*s).to_string()).collect(),
        validation_context_type: Some(ValidationContextType::CombinedValidationContext(
            CombinedCertificateValidationContext {
                default_validation_context: Some(CertificateValidationContext {
                    match_typed_subject_alt_names: san_matchers(sans),
                    ..Default::default()
                }),
                validation_context_sds_secret_config: Some(sds(SECRET_ROOTCA)),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// The upstream TLS of an ISTIO_MUTUAL cluster (DR-8).
pub fn istio_mutual_upstream(sni: &str, sans: &[String], h2: bool) -> TransportSocket {
    IstioMutualUpstreams::default().socket(sni, sans, h2)
}

/// [`istio_mutual_upstream`] for many clusters in a row. Clusters differ
/// in their SNI and mostly share the rest (the SANs of one service, often
/// none), so the encoded context without the SNI is kept for the last
/// SANs and protocol asked for, and each socket appends its SNI to a copy.
#[derive(Debug, Default)]
pub struct IstioMutualUpstreams {
    /// SANs, HTTP/2, the encoded `UpstreamTlsContext` with no SNI, and its
    /// type URL.
    last: Option<(Vec<String>, bool, Vec<u8>, String)>,
}

impl IstioMutualUpstreams {
    /// The transport socket of one cluster: the same as
    /// [`istio_mutual_upstream`] gives.
    ///
    /// ```
    /// use mesh_xds::tls::{IstioMutualUpstreams, istio_mutual_upstream};
    /// let mut sockets = IstioMutualUpstreams::default();
    /// let sans = vec!["spiffe://cluster.local/ns/shop/sa/web".to_string()];
    /// for sni in ["outbound_.80_._.web.shop.svc.cluster.local", "outbound_.81_._.web.shop.svc.cluster.local"] {
    ///     assert_eq!(sockets.socket(sni, &sans, false), istio_mutual_upstream(sni, &sans, false));
    /// }
    /// ```
    pub fn socket(&mut self, sni: &str, sans: &[String], h2: bool) -> TransportSocket {
        let (_, _, context, type_url) = match self.last.take() {
            Some(last) if last.0 == sans && last.1 == h2 => self.last.insert(last),
            _ => {
                let mut alpn: Vec<&str> = Vec::new();
                if h2 {
                    alpn.push("istio-h2");
                }
                alpn.extend_from_slice(ISTIO_ALPN);
                let ctx = UpstreamTlsContext {
                    common_tls_context: Some(istio_common_context(sans, &alpn)),
                    ..Default::default()
                };
                let Any { type_url, value } = any(&ctx);
                self.last.insert((sans.to_vec(), h2, value, type_url))
            }
        };
        let mut value = Vec::with_capacity(context.len() + sni.len() + 3);
        value.extend_from_slice(context);
        // `sni` is field 2 of `UpstreamTlsContext`, right after the common
        // context (1), the only other field set; prost writes fields in
        // number order and leaves an empty string out, so appending it
        // gives the bytes of the whole context.
        if !sni.is_empty() {
            encode_key(2, WireType::LengthDelimited, &mut value);
            encode_varint(sni.len() as u64, &mut value);
            value.extend_from_slice(sni.as_bytes());
        }
        tls_socket(Any {
            type_url: type_url.clone(),
            value,
        })
    }
}

/// The downstream TLS of an inbound mTLS chain (PA-6): client certificates
/// required and validated against the mesh root.
pub fn istio_mutual_downstream() -> DownstreamTlsContext {
    DownstreamTlsContext {
        common_tls_context: Some(istio_common_context(&[], &["h2", "http/1.1"])),
        require_client_certificate: Some(crate::util::boolv(true)),
        ..Default::default()
    }
}

/// A `tls` transport socket with the given typed config.
pub fn tls_socket(config: envoy_types::pb::google::protobuf::Any) -> TransportSocket {
    TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(config)),
    }
}

/// A plaintext transport socket.
pub fn raw_buffer() -> TransportSocket {
    TransportSocket {
        name: "envoy.transport_sockets.raw_buffer".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(any(
            &RawBuffer {},
        ))),
    }
}

/// A file data source (certificates named by path in a DestinationRule).
pub fn file(path: &str) -> DataSource {
    DataSource {
        specifier: Some(
            envoy_types::pb::envoy::config::core::v3::data_source::Specifier::Filename(
                path.to_string(),
            ),
        ),
        ..Default::default()
    }
}

/// The downstream TLS context of a terminating gateway server (GW-7):
/// `SIMPLE`, `MUTUAL`/`OPTIONAL_MUTUAL` (client certificates), with the
/// certificate from SDS `kubernetes://<credentialName>` or from files, or
/// `ISTIO_MUTUAL` with the mesh certificates.
pub fn gateway_server(t: &mesh_model::wire::networking::ServerTlsSettings) -> DownstreamTlsContext {
    use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
        TlsCertificate, TlsParameters, tls_parameters::TlsProtocol as EnvoyTls,
    };
    use mesh_model::wire::networking::{ServerTlsMode, TlsProtocol};
    let mode = t.mode.unwrap_or(ServerTlsMode::Simple);
    if mode == ServerTlsMode::IstioMutual {
        return istio_mutual_downstream();
    }
    let mutual = matches!(mode, ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual);
    let mut common = CommonTlsContext {
        alpn_protocols: vec!["h2".into(), "http/1.1".into()],
        ..Default::default()
    };
    let creds: Vec<String> = t
        .credential_name
        .iter()
        .chain(t.credential_names.iter().flatten())
        .filter(|c| !c.is_empty())
        .cloned()
        .collect();
    if !creds.is_empty() {
        common.tls_certificate_sds_secret_configs = creds
            .iter()
            .map(|c| sds(&format!("kubernetes://{c}")))
            .collect();
        if mutual {
            let ca = t
                .ca_cert_credential_name
                .clone()
                .unwrap_or_else(|| format!("{}-cacert", creds[0]));
            common.validation_context_type =
                Some(ValidationContextType::ValidationContextSdsSecretConfig(
                    sds(&format!("kubernetes://{ca}")),
                ));
        }
    } else {
        let pairs: Vec<(String, String)> =
            match t.tls_certificates.as_ref().filter(|v| !v.is_empty()) {
                Some(list) => list
                    .iter()
                    .map(|c| {
                        (
                            c.server_certificate.clone().unwrap_or_default(),
                            c.private_key.clone().unwrap_or_default(),
                        )
                    })
                    .collect(),
                None => vec![(
                    t.server_certificate.clone().unwrap_or_default(),
                    t.private_key.clone().unwrap_or_default(),
                )],
            };
        common.tls_certificates = pairs
            .into_iter()
            .map(|(cert, key)| TlsCertificate {
                certificate_chain: Some(file(&cert)),
                private_key: Some(file(&key)),
                ..Default::default()
            })
            .collect();
        if mutual && let Some(ca) = &t.ca_certificates {
            common.validation_context_type = Some(ValidationContextType::ValidationContext(
                CertificateValidationContext {
                    trusted_ca: Some(file(ca)),
                    match_typed_subject_alt_names: san_matchers(
                        t.subject_alt_names.as_deref().unwrap_or_default(),
                    ),
                    ..Default::default()
                },
            ));
        }
    }
    let proto = |p: Option<TlsProtocol>| match p {
        Some(TlsProtocol::TlsV1_0) => EnvoyTls::TlSv10,
        Some(TlsProtocol::TlsV1_1) => EnvoyTls::TlSv11,
        Some(TlsProtocol::TlsV1_2) => EnvoyTls::TlSv12,
        Some(TlsProtocol::TlsV1_3) => EnvoyTls::TlSv13,
        _ => EnvoyTls::TlsAuto,
    } as i32;
    if t.min_protocol_version.is_some()
        || t.max_protocol_version.is_some()
        || t.cipher_suites.is_some()
    {
        common.tls_params = Some(TlsParameters {
            tls_minimum_protocol_version: proto(t.min_protocol_version),
            tls_maximum_protocol_version: proto(t.max_protocol_version),
            cipher_suites: t.cipher_suites.clone().unwrap_or_default(),
            ecdh_curves: t.ecdh_curves.clone().unwrap_or_default(),
            ..Default::default()
        });
    }
    DownstreamTlsContext {
        common_tls_context: Some(common),
        require_client_certificate: Some(crate::util::boolv(mode == ServerTlsMode::Mutual)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The appended SNI gives the bytes prost writes for the whole context
    /// (DR-8), hit or miss, for every SAN list, protocol and SNI, empty too.
    #[test]
    fn shared_context_gives_the_whole_encoding() {
        let mut sockets = IstioMutualUpstreams::default();
        let san_lists = [
            vec![],
            vec!["spiffe://cluster.local/ns/shop/sa/web".to_string()],
            vec!["spiffe://a".to_string(), "b.example.com".to_string()],
        ];
        for sans in &san_lists {
            for h2 in [false, true] {
                for sni in ["", "outbound_.80_._.web.shop.svc.cluster.local", "x"] {
                    let mut alpn: Vec<&str> = if h2 { vec!["istio-h2"] } else { vec![] };
                    alpn.extend_from_slice(ISTIO_ALPN);
                    let want = tls_socket(any(&UpstreamTlsContext {
                        common_tls_context: Some(istio_common_context(sans, &alpn)),
                        sni: sni.to_string(),
                        ..Default::default()
                    }));
                    // Twice: the first may build the context, the second
                    // reuses it.
                    assert_eq!(sockets.socket(sni, sans, h2), want, "{sans:?} {h2} {sni}");
                    assert_eq!(sockets.socket(sni, sans, h2), want, "{sans:?} {h2} {sni}");
                }
            }
        }
    }
}
