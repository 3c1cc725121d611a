//! The mesh CA: a root (generated, or loaded from PEM files) that issues
//! SPIFFE workload certificates (`spiffe://<trust-domain>/ns/<ns>/sa/<sa>`)
//! with a configurable lifetime, each renewed at half its lifetime.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Why the CA could not do something.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// Certificate generation or parsing failed.
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// A PEM file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// An identity that cannot be a SPIFFE URI.
    #[error("invalid identity {0:?}")]
    Identity(String),
}

/// A workload certificate.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// `spiffe://td/ns/NS/sa/SA`.
    pub spiffe_id: String,
    /// The certificate chain (leaf first), PEM.
    pub chain_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// When to issue the next one (half the lifetime).
    pub rotate_at: SystemTime,
    /// A serial that changes with every issue (for logs and tests).
    pub serial: u64,
}

/// The mesh CA.
pub struct Ca {
    trust_domain: String,
    root_pem: String,
    issuer: Issuer<'static, KeyPair>,
    lifetime: Duration,
    issued: Mutex<HashMap<String, Arc<IssuedCert>>>,
    serial: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("trust_domain", &self.trust_domain)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// The file names of a root in a CA directory.
pub const ROOT_CERT_FILE: &str = "root-cert.pem";
/// The root key file name.
pub const ROOT_KEY_FILE: &str = "root-key.pem";

impl Ca {
    /// A CA with a new root (valid ten years).
    pub fn generate(trust_domain: &str, lifetime: Duration) -> Result<Ca, CaError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, trust_domain);
        dn.push(DnType::CommonName, "mesh root CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(3650);
        let cert = params.self_signed(&key)?;
        let root_pem = cert.pem();
        Ok(Ca::with_issuer(
            trust_domain,
            root_pem,
            Issuer::new(params, key),
            lifetime,
        ))
    }

    /// A CA from a root certificate and its key (PEM).
    pub fn from_pem(
        trust_domain: &str,
        cert_pem: &str,
        key_pem: &str,
        lifetime: Duration,
    ) -> Result<Ca, CaError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Ca::with_issuer(
            trust_domain,
            cert_pem.to_string(),
            issuer,
            lifetime,
        ))
    }

    /// The root in `dir` (`root-cert.pem`, `root-key.pem`), generated and
    /// written there at first start.
    pub fn load_or_generate(
        dir: &Path,
        trust_domain: &str,
        lifetime: Duration,
    ) -> Result<Ca, CaError> {
        let cert_path = dir.join(ROOT_CERT_FILE);
        let key_path = dir.join(ROOT_KEY_FILE);
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| CaError::Io { path, source }
        };
        if cert_path.exists() && key_path.exists() {
            let cert = std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
            let key = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
            tracing::info!(dir = %dir.display(), "loaded the mesh root");
            return Ca::from_pem(trust_domain, &cert, &key, lifetime);
        }
        let ca = Ca::generate(trust_domain, lifetime)?;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        std::fs::write(&cert_path, &ca.root_pem).map_err(io(&cert_path))?;
        write_private(&key_path, &ca.issuer.key().serialize_pem()).map_err(io(&key_path))?;
        tracing::info!(dir = %dir.display(), "generated a new mesh root");
        Ok(ca)
    }

    fn with_issuer(
        trust_domain: &str,
        root_pem: String,
        issuer: Issuer<'static, KeyPair>,
        lifetime: Duration,
    ) -> Ca {
        Ca {
            trust_domain: trust_domain.to_string(),
            root_pem,
            issuer,
            lifetime: lifetime.max(Duration::from_secs(1)),
            issued: Mutex::new(HashMap::new()),
            serial: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// The root certificate, PEM.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The lifetime of workload certificates.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The SPIFFE id of a namespace and service account.
    pub fn spiffe_id(&self, namespace: &str, service_account: &str) -> String {
        format!(
            "spiffe://{}/ns/{namespace}/sa/{service_account}",
            self.trust_domain
        )
    }

    /// The certificate of an identity at `now`: the one issued before while
    /// it is not due for rotation, else a new one.
    pub fn certificate(
        &self,
        namespace: &str,
        service_account: &str,
        now: SystemTime,
    ) -> Result<Arc<IssuedCert>, CaError> {
        let id = self.spiffe_id(namespace, service_account);
        let cached = self
            .issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned();
        if let Some(c) = cached.filter(|c| now < c.rotate_at) {
            return Ok(c);
        }
        let cert = Arc::new(self.issue(&id, now)?);
        tracing::info!(identity = %id, serial = cert.serial, "issued a workload certificate");
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, cert.clone());
        Ok(cert)
    }

    fn issue(&self, spiffe_id: &str, now: SystemTime) -> Result<IssuedCert, CaError> {
        let uri = rcgen::string::Ia5String::try_from(spiffe_id.to_string())
            .map_err(|_| CaError::Identity(spiffe_id.to_string()))?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, self.trust_domain.as_str());
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::URI(uri)];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let serial = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        params.serial_number = Some(rcgen::SerialNumber::from(serial.to_be_bytes().to_vec()));
        let not_before = now - Duration::from_secs(60).min(self.lifetime);
        let not_after = now + self.lifetime;
        params.not_before = time::OffsetDateTime::from(not_before);
        params.not_after = time::OffsetDateTime::from(not_after);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            spiffe_id: spiffe_id.to_string(),
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            not_before,
            not_after,
            rotate_at: now + self.lifetime / 2,
            serial,
        })
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_and_rotates_spiffe_certificates() {
        let ca = Ca::generate("cluster.local", Duration::from_secs(100)).unwrap();
        let t0 = SystemTime::now();
        let a = ca.certificate("ns", "sa", t0).unwrap();
        assert_eq!(a.spiffe_id, "spiffe://cluster.local/ns/ns/sa/sa");
        assert!(a.chain_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let same = ca
            .certificate("ns", "sa", t0 + Duration::from_secs(49))
            .unwrap();
        assert_eq!(same.serial, a.serial);
        let next = ca
            .certificate("ns", "sa", t0 + Duration::from_secs(50))
            .unwrap();
        assert_ne!(next.serial, a.serial);
        // A root loaded from its PEM files issues too.
        let again = Ca::from_pem(
            "cluster.local",
            ca.root_pem(),
            &ca.issuer.key().serialize_pem(),
            Duration::from_secs(10),
        )
        .unwrap();
        assert!(again.certificate("a", "b", t0).is_ok());
    }
}
