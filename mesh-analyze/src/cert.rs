//! Just enough X.509 to tell whether a gateway's certificate is usable: a
//! PEM block whose DER content is a sequence of well-formed certificates,
//! each inside its validity period. This mirrors the check istiod makes
//! before serving a credential (`ValidateCertificate` in
//! `pilot/pkg/xds/sds.go`); no signature is checked.

/// Why a certificate is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// No PEM block.
    #[error("pem decode failed")]
    NoPem,
    /// The DER content is not a certificate.
    #[error("x509: malformed certificate")]
    Malformed,
    /// `now` is outside the validity period.
    #[error("certificate is expired or not yet valid")]
    OutsideValidity,
}

/// The validity period of a certificate, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// `notBefore`.
    pub not_before: i64,
    /// `notAfter`.
    pub not_after: i64,
}

/// Checks PEM text: the first PEM block must hold certificates, each
/// valid at `now` (seconds since the epoch; `None` skips the period check).
///
/// ```
/// use mesh_analyze::cert::{check_pem, CertError};
/// assert_eq!(check_pem(b"hush hush hush\n", None), Err(CertError::NoPem));
/// ```
pub fn check_pem(pem: &[u8], now: Option<i64>) -> Result<Vec<Validity>, CertError> {
    let der = first_pem_block(pem).ok_or(CertError::NoPem)?;
    let mut rest: &[u8] = &der;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (cert, after) = tlv(rest, 0x30).ok_or(CertError::Malformed)?;
        out.push(certificate_validity(cert).ok_or(CertError::Malformed)?);
        rest = after;
    }
    if out.is_empty() {
        return Err(CertError::Malformed);
    }
    if let Some(now) = now
        && out.iter().any(|v| now > v.not_after || now < v.not_before)
    {
        return Err(CertError::OutsideValidity);
    }
    Ok(out)
}

/// The base64 body of the first `-----BEGIN …-----` block, decoded.
fn first_pem_block(text: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut lines = text.lines();
    let begin = lines.find(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with("-----"))?;
    let label = begin
        .trim_end()
        .strip_prefix("-----BEGIN ")?
        .strip_suffix("-----")?;
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    for l in lines {
        if l.trim_end() == end {
            return mesh_model::base64::decode(&body).ok();
        }
        if l.contains(':') {
            // A PEM header (`Proc-Type: …`).
            continue;
        }
        body.push_str(l.trim());
    }
    None
}

/// Reads one DER TLV with tag `tag`; returns its content and the rest.
fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for b in &rest[..n] {
            len = (len << 8) | usize::from(*b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

/// Any TLV: its tag, content and the rest.
fn any_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let (content, rest) = tlv(input, tag)?;
    Some((tag, content, rest))
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
/// signatureValue }`; the validity period of its `TBSCertificate`.
fn certificate_validity(cert: &[u8]) -> Option<Validity> {
    let (tbs, rest) = tlv(cert, 0x30)?;
    let (_alg, rest) = tlv(rest, 0x30)?;
    let (_sig, rest) = tlv(rest, 0x03)?;
    if !rest.is_empty() {
        return None;
    }
    // version [0] EXPLICIT (optional), serialNumber, signature, issuer,
    // validity, subject, subjectPublicKeyInfo, …
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = any_tlv(rest)?.2;
    }
    let (_serial, rest) = tlv(rest, 0x02)?;
    let (_sig, rest) = tlv(rest, 0x30)?;
    let (_issuer, rest) = tlv(rest, 0x30)?;
    let (validity, rest) = tlv(rest, 0x30)?;
    let (_subject, rest) = tlv(rest, 0x30)?;
    let (_spki, _) = tlv(rest, 0x30)?;
    let (t1, content1, after) = any_tlv(validity)?;
    let (t2, content2, after) = any_tlv(after)?;
    if !after.is_empty() {
        return None;
    }
    Some(Validity {
        not_before: asn1_time(t1, content1)?,
        not_after: asn1_time(t2, content2)?,
    })
}

/// UTCTime (`YYMMDDHHMMSSZ`, tag 0x17) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`, tag 0x18) in seconds since the epoch.
fn asn1_time(tag: u8, content: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(content).ok().filter(|s| s.is_ascii())?;
    let s = s.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 if s.len() == 12 => {
            let yy: i64 = s[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        0x18 if s.len() == 14 => (s[..4].parse().ok()?, &s[4..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let stamp = format!(
        "{year:04}-{}-{}T{}:{}:{}Z",
        &rest[0..2],
        &rest[2..4],
        &rest[4..6],
        &rest[6..8],
        &rest[8..10]
    );
    mesh_model::wire::meta::parse_rfc3339(&stamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate valid from 2024-01-01 to 2025-01-01
    /// (built by hand: serial 1, empty names and key, zero signature).
    fn der_cert(not_before: &str, not_after: &str) -> Vec<u8> {
        fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
            let mut v = vec![tag];
            let n = content.len();
            if n < 0x80 {
                v.push(n as u8);
            } else {
                v.push(0x82);
                v.push((n >> 8) as u8);
                v.push(n as u8);
            }
            v.extend_from_slice(content);
            v
        }
        let mut validity = wrap(0x17, not_before.as_bytes());
        validity.extend(wrap(0x17, not_after.as_bytes()));
        let mut tbs = wrap(0xa0, &wrap(0x02, &[2]));
        tbs.extend(wrap(0x02, &[1]));
        tbs.extend(wrap(0x30, &[]));
        tbs.extend(wrap(0x30, &[]));
        tbs.extend(wrap(0x30, &validity));
        tbs.extend(wrap(0x30, &[]));
        tbs.extend(wrap(0x30, &[]));
        let mut cert = wrap(0x30, &tbs);
        cert.extend(wrap(0x30, &[]));
        cert.extend(wrap(0x03, &[0]));
        wrap(0x30, &cert)
    }

    fn pem(der: &[u8]) -> Vec<u8> {
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            mesh_model::base64::encode(der)
        )
        .into_bytes()
    }

    #[test]
    fn validity_period_is_checked_against_the_given_time() {
        let p = pem(&der_cert("240101000000Z", "250101000000Z"));
        let jan_2024 = mesh_model::wire::meta::parse_rfc3339("2024-06-01T00:00:00Z").unwrap();
        let v = check_pem(&p, Some(jan_2024)).unwrap();
        assert_eq!(
            v[0].not_after,
            mesh_model::wire::meta::parse_rfc3339("2025-01-01T00:00:00Z").unwrap()
        );
        let later = mesh_model::wire::meta::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(check_pem(&p, Some(later)), Err(CertError::OutsideValidity));
        assert!(check_pem(&p, None).is_ok());
    }

    #[test]
    fn odd_times_are_malformed_not_a_panic() {
        // A validity time with a multi-byte character where digits belong.
        let p = pem(&der_cert("2\u{e9}000000000Z", "250101000000Z"));
        assert_eq!(check_pem(&p, None), Err(CertError::Malformed));
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        let p = pem(b"not der at all");
        assert_eq!(check_pem(&p, None), Err(CertError::Malformed));
        let mut truncated = der_cert("240101000000Z", "250101000000Z");
        truncated.truncate(20);
        assert_eq!(check_pem(&pem(&truncated), None), Err(CertError::Malformed));
    }
}
