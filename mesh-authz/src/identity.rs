//! SPIFFE identities: the peer principal an Istio mTLS certificate carries.
//!
//! Istio workload certificates hold one URI SAN
//! `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`; Istio
//! writes the principal without the scheme, `td/ns/NS/sa/SA`, and matches
//! policies against it (AZ-20). Trust-domain aliases (AZ-23) are in
//! [`crate::trust_domain`].

use crate::matcher::SPIFFE_PREFIX;
use crate::trust_domain::TrustDomainBundle;
use serde::Serialize;
use std::fmt;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why no identity could be read from a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The bytes are neither a DER certificate nor a PEM `CERTIFICATE`.
    #[error("not an X.509 certificate: {0}")]
    NotACertificate(String),
    /// The certificate has no `spiffe://` URI SAN.
    #[error("the certificate has no spiffe:// URI subject alternative name")]
    NoSpiffeId,
    /// A SPIFFE ID without the Istio shape `td/ns/NS/sa/SA`.
    #[error(
        "{0:?} is not an Istio SPIFFE identity (spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT)"
    )]
    NotIstioShape(String),
}

/// An Istio SPIFFE identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpiffeId {
    /// The trust domain.
    pub trust_domain: String,
    /// The namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: String,
}

impl SpiffeId {
    /// Parses `spiffe://td/ns/NS/sa/SA` or the principal `td/ns/NS/sa/SA`.
    ///
    /// ```
    /// use mesh_authz::identity::SpiffeId;
    /// let id = SpiffeId::parse("spiffe://cluster.local/ns/shop/sa/web").unwrap();
    /// assert_eq!(id.principal(), "cluster.local/ns/shop/sa/web");
    /// assert!(SpiffeId::parse("spiffe://cluster.local/web").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<SpiffeId, IdentityError> {
        let p = s.strip_prefix(SPIFFE_PREFIX).unwrap_or(s);
        match p.split('/').collect::<Vec<_>>().as_slice() {
            [td, "ns", ns, "sa", sa] if !td.is_empty() && !ns.is_empty() && !sa.is_empty() => {
                Ok(SpiffeId {
                    trust_domain: (*td).to_string(),
                    namespace: (*ns).to_string(),
                    service_account: (*sa).to_string(),
                })
            }
            _ => Err(IdentityError::NotIstioShape(s.to_string())),
        }
    }

    /// The principal `td/ns/NS/sa/SA`.
    pub fn principal(&self) -> String {
        format!(
            "{}/ns/{}/sa/{}",
            self.trust_domain, self.namespace, self.service_account
        )
    }

    /// The URI `spiffe://td/ns/NS/sa/SA`.
    pub fn uri(&self) -> String {
        format!("{SPIFFE_PREFIX}{}", self.principal())
    }

    /// Whether the trust domain is the local one or an alias (AZ-23).
    pub fn trusted_by(&self, bundle: &TrustDomainBundle) -> bool {
        bundle.contains(&self.trust_domain)
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri())
    }
}

/// The peer principal of a certificate: its first `spiffe://` URI SAN
/// without the scheme (what Envoy's `authenticated.principal_name`
/// compares, AZ-20). `cert` is DER or PEM (the first `CERTIFICATE` block).
///
/// Any SPIFFE ID is returned, Istio-shaped or not; see
/// [`spiffe_id_from_certificate`] for the parsed form.
pub fn principal_from_certificate(cert: &[u8]) -> Result<String, IdentityError> {
    let with_cert = |c: &X509Certificate<'_>| -> Result<String, IdentityError> {
        let san = c
            .subject_alternative_name()
            .map_err(|e| IdentityError::NotACertificate(e.to_string()))?
            .ok_or(IdentityError::NoSpiffeId)?;
        san.value
            .general_names
            .iter()
            .find_map(|n| match n {
                GeneralName::URI(u) => u.strip_prefix(SPIFFE_PREFIX).map(str::to_string),
                _ => None,
            })
            .ok_or(IdentityError::NoSpiffeId)
    };
    let trimmed = cert.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        for pem in x509_parser::pem::Pem::iter_from_buffer(trimmed) {
            let pem = pem.map_err(|e| IdentityError::NotACertificate(e.to_string()))?;
            if pem.label != "CERTIFICATE" {
                continue;
            }
            let c = pem
                .parse_x509()
                .map_err(|e| IdentityError::NotACertificate(e.to_string()))?;
            return with_cert(&c);
        }
        return Err(IdentityError::NotACertificate(
            "no CERTIFICATE block in PEM".into(),
        ));
    }
    let (_, c) = X509Certificate::from_der(cert)
        .map_err(|e| IdentityError::NotACertificate(e.to_string()))?;
    with_cert(&c)
}

/// The Istio SPIFFE identity of a certificate (DER or PEM).
pub fn spiffe_id_from_certificate(cert: &[u8]) -> Result<SpiffeId, IdentityError> {
    SpiffeId::parse(&principal_from_certificate(cert)?)
}
