//! SPIFFE identities read from certificates generated here (rcgen), and how
//! they meet policies (AZ-20, AZ-22, AZ-23).

use mesh_authz::engine::{Authz, AuthzOptions, Verdict};
use mesh_authz::identity::{
    IdentityError, SpiffeId, principal_from_certificate, spiffe_id_from_certificate,
};
use mesh_authz::request::Request;
use mesh_authz::trust_domain::TrustDomainBundle;
use mesh_model::wire::mesh::MeshConfig;
use mesh_model::{LoadOptions, load};
use rcgen::{CertificateParams, KeyPair, SanType};

fn cert(sans: Vec<SanType>) -> rcgen::Certificate {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = sans;
    params.self_signed(&KeyPair::generate().unwrap()).unwrap()
}

fn uri(s: &str) -> SanType {
    SanType::URI(s.try_into().unwrap())
}

#[test]
fn principal_from_der_and_pem() {
    let c = cert(vec![uri("spiffe://cluster.local/ns/shop/sa/web")]);
    assert_eq!(
        principal_from_certificate(c.der()).unwrap(),
        "cluster.local/ns/shop/sa/web"
    );
    assert_eq!(
        principal_from_certificate(c.pem().as_bytes()).unwrap(),
        "cluster.local/ns/shop/sa/web"
    );
    let id = spiffe_id_from_certificate(c.pem().as_bytes()).unwrap();
    assert_eq!(
        id,
        SpiffeId {
            trust_domain: "cluster.local".into(),
            namespace: "shop".into(),
            service_account: "web".into()
        }
    );
    assert_eq!(id.uri(), "spiffe://cluster.local/ns/shop/sa/web");
}

#[test]
fn the_spiffe_uri_san_is_found_among_others() {
    let c = cert(vec![
        SanType::DnsName("web.shop.svc".try_into().unwrap()),
        uri("https://example.com/not-spiffe"),
        uri("spiffe://td1/ns/a/sa/b"),
    ]);
    assert_eq!(
        principal_from_certificate(c.der()).unwrap(),
        "td1/ns/a/sa/b"
    );
}

#[test]
fn certificates_without_a_spiffe_id() {
    let dns = cert(vec![SanType::DnsName(
        "web.example.com".try_into().unwrap(),
    )]);
    assert_eq!(
        principal_from_certificate(dns.der()),
        Err(IdentityError::NoSpiffeId)
    );
    let none = cert(vec![]);
    assert_eq!(
        principal_from_certificate(none.der()),
        Err(IdentityError::NoSpiffeId)
    );
    let odd = cert(vec![uri("spiffe://td/workload/web")]);
    assert_eq!(
        principal_from_certificate(odd.der()).unwrap(),
        "td/workload/web"
    );
    assert!(matches!(
        spiffe_id_from_certificate(odd.der()),
        Err(IdentityError::NotIstioShape(_))
    ));
    assert!(matches!(
        principal_from_certificate(b"garbage"),
        Err(IdentityError::NotACertificate(_))
    ));
    assert!(matches!(
        principal_from_certificate(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        ),
        Err(IdentityError::NotACertificate(_))
    ));
}

#[test]
fn trust_domain_aliases() {
    let id = SpiffeId::parse("old-td/ns/a/sa/b").unwrap();
    let bundle = TrustDomainBundle::new("new-td", &["old-td".into()]);
    assert!(id.trusted_by(&bundle));
    assert!(
        !SpiffeId::parse("other/ns/a/sa/b")
            .unwrap()
            .trusted_by(&bundle)
    );
}

/// A peer certificate's identity drives a policy decision end to end,
/// including an alias trust domain (AZ-23).
#[test]
fn certificate_identity_meets_policy() {
    let yaml = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-web, namespace: shop}
spec:
  rules: [{from: [{source: {principals: ["new-td/ns/shop/sa/web"]}}]}]
"#;
    let mesh = MeshConfig {
        trust_domain: Some("new-td".into()),
        trust_domain_aliases: vec!["old-td".into()],
        ..MeshConfig::default()
    };
    let loaded = load(
        &[("p.yaml", yaml)],
        &LoadOptions {
            mesh: Some(mesh),
            ..LoadOptions::default()
        },
    );
    let authz = Authz::compile(&loaded.snapshot, &AuthzOptions::default());
    let w = authz.workload("shop", &Default::default());
    for (san, verdict) in [
        ("spiffe://new-td/ns/shop/sa/web", Verdict::Allow),
        ("spiffe://old-td/ns/shop/sa/web", Verdict::Allow),
        ("spiffe://evil-td/ns/shop/sa/web", Verdict::Deny),
        ("spiffe://new-td/ns/shop/sa/admin", Verdict::Deny),
    ] {
        let c = cert(vec![uri(san)]);
        let p = principal_from_certificate(c.pem().as_bytes()).unwrap();
        let d = w.decide(&Request::http("GET", "/").with_peer_principal(&p));
        assert_eq!(d.verdict, verdict, "{san}");
    }
}
