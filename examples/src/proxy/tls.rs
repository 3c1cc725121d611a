//! Istio mTLS with rustls: the workload certificate (SDS `default`) and the
//! mesh root (SDS `ROOTCA`) as server and client configurations.
//!
//! * Server side (inbound): the client must present a certificate that
//!   chains to the mesh root; ALPN accepts Istio's protocols
//!   (`istio-peer-exchange`, `istio`, `istio-http/1.1`) and plain
//!   `http/1.1`, so an Envoy sidecar's upstream TLS finds a protocol.
//! * Client side (outbound): the server certificate must chain to the mesh
//!   root and carry one of the expected SPIFFE URI SANs (DR-8: the
//!   service's service accounts); the SNI is Istio's
//!   `outbound_.<port>_.<subset>_.<host>`; ALPN offers Istio's protocols as
//!   an Envoy sidecar does, so an Envoy server picks its mTLS filter chain.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The ALPN protocols an Istio sidecar offers on mTLS connections between
/// sidecars (HTTP/1.1 upstreams; `mesh_xds::tls::ISTIO_ALPN`).
pub const CLIENT_ALPN: &[&[u8]] = &[b"istio-peer-exchange", b"istio"];

/// The ALPN protocols the inbound side accepts, in order of preference.
pub const SERVER_ALPN: &[&[u8]] = &[
    b"istio-peer-exchange",
    b"istio",
    b"istio-http/1.1",
    b"istio-http/1.0",
    b"http/1.1",
];

/// Why certificates could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The PEM text holds no certificate or key.
    #[error("{0}")]
    Pem(String),
    /// rustls refused the material.
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("client verifier: {0}")]
    Verifier(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A workload identity: its certificate chain and key, the mesh roots, and
/// the rustls configurations built from them.
pub struct Identity {
    /// The SPIFFE URI of the certificate (`spiffe://td/ns/NS/sa/SA`).
    pub spiffe_id: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: Arc<RootCertStore>,
    server: Arc<ServerConfig>,
    clients: Mutex<HashMap<Vec<String>, Arc<ClientConfig>>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("spiffe_id", &self.spiffe_id)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// An identity from PEM: the certificate chain (leaf first), its
    /// PKCS#8 key, and the root certificate(s).
    pub fn from_pem(chain_pem: &str, key_pem: &str, root_pem: &str) -> Result<Identity, TlsError> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::Pem(format!("certificate chain: {e}")))?;
        let Some(leaf) = chain.first() else {
            return Err(TlsError::Pem("certificate chain: no certificate".into()));
        };
        let spiffe_id = mesh_authz::identity::principal_from_certificate(leaf.as_ref())
            .map(|p| format!("spiffe://{p}"))
            .map_err(|e| TlsError::Pem(format!("certificate chain: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| TlsError::Pem(format!("private key: {e}")))?;
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
            let c = c.map_err(|e| TlsError::Pem(format!("root: {e}")))?;
            roots.add(c)?;
        }
        if roots.is_empty() {
            return Err(TlsError::Pem("root: no certificate".into()));
        }
        let roots = Arc::new(roots);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())?;
        server.alpn_protocols = SERVER_ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Identity {
            spiffe_id,
            chain,
            key,
            roots,
            server: Arc::new(server),
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// The inbound (server) configuration.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }

    /// The outbound (client) configuration that accepts a server whose
    /// certificate carries one of `sans` (any mesh identity when empty).
    pub fn client_config(&self, sans: &[String]) -> Result<Arc<ClientConfig>, TlsError> {
        let mut cache = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(sans) {
            return Ok(c.clone());
        }
        let p = provider();
        let verifier = Arc::new(SpiffeVerifier {
            roots: self.roots.clone(),
            sans: sans.to_vec(),
            algs: p.signature_verification_algorithms,
        });
        let mut config = ClientConfig::builder_with_provider(p)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = CLIENT_ALPN.iter().map(|p| p.to_vec()).collect();
        let config = Arc::new(config);
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(sans.to_vec(), config.clone());
        Ok(config)
    }
}

/// The SNI for a TLS connection: Istio's SNI names contain `_`, which
/// rustls accepts in DNS names; anything else falls back to a fixed name.
pub fn server_name(sni: &str) -> ServerName<'static> {
    ServerName::try_from(sni.to_string())
        .unwrap_or_else(|_| ServerName::try_from("mesh.invalid").expect("a valid DNS name"))
}

/// The peer principal (`td/ns/NS/sa/SA`) of a TLS connection's first
/// certificate.
pub fn peer_principal(certs: Option<&[CertificateDer<'_>]>) -> Option<String> {
    let leaf = certs?.first()?;
    mesh_authz::identity::principal_from_certificate(leaf.as_ref()).ok()
}

/// Verifies a server certificate as Envoy's `UpstreamTlsContext` with
/// `match_typed_subject_alt_names` does: the chain to the mesh root, then
/// a URI SAN equal to one of the expected SPIFFE ids.
#[derive(Debug)]
struct SpiffeVerifier {
    roots: Arc<RootCertStore>,
    sans: Vec<String>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for SpiffeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algs.all,
        )?;
        if self.sans.is_empty() {
            return Ok(ServerCertVerified::assertion());
        }
        let principal = mesh_authz::identity::principal_from_certificate(end_entity.as_ref())
            .map_err(|_| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
            })?;
        let ok = self.sans.iter().any(|s| {
            s.strip_prefix(mesh_authz::matcher::SPIFFE_PREFIX)
                .unwrap_or(s)
                == principal
        });
        if ok {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
