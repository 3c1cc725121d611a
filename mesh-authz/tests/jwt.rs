//! RequestAuthentication with real tokens signed here (RS256, ES256): the
//! outcomes of RA-2, locations of RA-3, issuer and audiences of RA-4,
//! principals and space-delimited claims of RA-6.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mesh_authz::jwt::{JwksSources, JwtError, JwtOutcome, WorkloadJwt};
use mesh_authz::request::Request;
use mesh_model::{LoadOptions, load};
use serde_json::{Value, json};

/// A throwaway RSA key for signing test tokens; it protects nothing.
const TEST_RSA_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDJ0ufvuYKALcBE
CHYp/vbCWQWvFk5UV5t6/fSRBGTiH5mZ3FkUXwdEkwWaRJp7KOc59mt6GAgF/pY8
YcP5b+1gvRNDMEIvJ6KvVfhQw3j0Ve2PtZUrQA7ll3yqajOBW+F0/MiBM5m2UNdg
6dVqNsQ13PpLu8Rf54u7p4TYMp3zqcd5jMQL++YZxbrqbWD9da6B4koaN3G4YgGz
dfi+9NPPqkdRLcrWm5qf1loCZ3gbFb9RzUUFsw+jb/ASujeVx5G3X4k0Pcy+5OcL
mDSN12KZgqiIdP5Hw8Vgz0PAWHkJGmdtDROm1imAP0PBAISeF1VXaxWOnbWCfw23
Uh1kN0TpAgMBAAECggEAALqUP9de/fDXBZKKQAiTAjdUFUJysfdHBnYC+2sVT4O8
XZk1cSS5X/6v7H4G7h7tsYCO+XfmFNogghilnob68nh8U1J0oBBNPsOEDAvzVIk4
PGaezUiD7+xQykTBPtxYFMC88J/WaZl3zaUf3Nb/H7qr5LjJiBchTWIuJqG4KaMX
qvPgGRWPytNTNBuaPpL8uMrQ3k3k7q9gNzSFolxDLU2Il9qnede3FmRXp7gjdS+P
8ReFc9Dr8qaMxSTujGNVxApeRomdShpoDrkEPd7H8nhUXgCHyNiCAb6Me3HRn7eZ
IqWIC9lQJKwSVXIbFK2uvSHTCQLOvZLDCqJMXNVRIQKBgQD+36dDa1WMdtWORX/l
R7CKpjdWIkrsGsDved7COk1+7oYdwv0mgnDLChZL//x0a0p4Ykr5713/8dHL/ViV
ObisYWftxhJukDx9awRfPRmhTS+8ccxQHdvFxOc2ex4teCePpItImCNSiK/r+FJz
3vVgp5zFTfvtA5qmhNzNgHH+/QKBgQDKtzxX7XUWJyNXzeGQbn0RWOw4tMFb4oYi
504xPKccYXRR4TZqGejnRCiRMBJ8H+hYQZO7lB/0CFXvDQzfq4IcGIbE/zwkE5V9
UYixvfekisM7xl0xXMo7MJQn9ZQAWYrMs5geqEU8qXIhgBeAZOMgg+3csJOhJJGH
lIZDILEfXQKBgQCjZYDW8RXcQkbwuc+fjxE4Ig1x0/RSX2h3XpsXy8bo7EPhCqO+
r3teP65BtPAFNs98VA+bIgESV9ZXP6ktqd6h7KRzRDuG1ENjaFtaL1KiHVjQJ+iD
KFE//db5D38uSUybgzKkLJzgia62yfEaRcLr3yjbOP6cWWYpAR6JRKJQhQKBgQCL
MEt/uCzn/BGZbWTOrf60FZGE0h/d/mjJuHaI+jNoGkYrHm8lZQr1GGieYBqhHauE
ReqxJmDWR47xp81KGtIohnKq+vGJd+Tx+jTYji5mzVyGQ4qjpSm6gH2J/mYT42eZ
bEsr6bA4mcQi2nfIkf0dy1hcauXDBH/kTwftOZpEhQKBgFRSxCV2cKfidesBkqt4
J9aApSbrzueDcKGA1SNnSlyE8ViLridHJDPvlgYGpOSO8Dn+zDWPYK9vXlsadJHs
knLY5z1tWFr/xe/QwGa88FtoJNICjga1LznQKv6fX75GAkpCDuhe7is0dLYdrwez
vSWRyNGxbF/tAgGWn8YHdGbo
-----END PRIVATE KEY-----";

const ISS: &str = "https://auth.example.com";
const NOW: u64 = 1_700_000_000;

struct Signer {
    key: EncodingKey,
    alg: Algorithm,
    kid: &'static str,
}

impl Signer {
    fn rsa() -> Signer {
        Signer {
            key: EncodingKey::from_rsa_pem(TEST_RSA_KEY.as_bytes()).unwrap(),
            alg: Algorithm::RS256,
            kid: "rsa-1",
        }
    }

    /// A fresh P-256 key from rcgen.
    fn ec() -> Signer {
        let kp = rcgen::KeyPair::generate().unwrap();
        Signer {
            key: EncodingKey::from_ec_pem(kp.serialize_pem().as_bytes()).unwrap(),
            alg: Algorithm::ES256,
            kid: "ec-1",
        }
    }

    fn jwk(&self) -> Value {
        let mut j =
            serde_json::to_value(Jwk::from_encoding_key(&self.key, self.alg).unwrap()).unwrap();
        j["kid"] = json!(self.kid);
        j
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_kid(claims, self.kid)
    }

    fn sign_kid(&self, claims: &Value, kid: &str) -> String {
        let mut h = Header::new(self.alg);
        h.kid = Some(kid.to_string());
        jsonwebtoken::encode(&h, claims, &self.key).unwrap()
    }
}

fn claims() -> Value {
    json!({"iss": ISS, "sub": "alice", "aud": "books", "azp": "web", "exp": NOW + 3600,
           "scope": "read write", "roles": "a b"})
}

fn workload(rule: &str, sources: &JwksSources) -> WorkloadJwt {
    let yaml = format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: jwt, namespace: foo}}\nspec:\n  jwtRules:\n{rule}"
    );
    let loaded = load(&[("ra.yaml", &yaml)], &LoadOptions::default());
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    WorkloadJwt::for_workload(&loaded.snapshot, "foo", &Default::default(), sources)
}

fn inline(signers: &[&Signer], extra: &str) -> WorkloadJwt {
    let keys: Vec<Value> = signers.iter().map(|s| s.jwk()).collect();
    let jwks = json!({ "keys": keys }).to_string();
    workload(
        &format!("  - issuer: {ISS:?}\n    audiences: [books]\n    jwks: '{jwks}'\n{extra}"),
        &JwksSources::new(),
    )
}

fn bearer(token: &str) -> Request {
    Request::http("GET", "/").with_header("authorization", &format!("Bearer {token}"))
}

fn invalid(outcome: JwtOutcome) -> JwtError {
    match outcome {
        JwtOutcome::Invalid(e) => e,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn valid_rs256_token_gives_principal_and_claims() {
    let s = Signer::rsa();
    let w = inline(&[&s], "");
    let JwtOutcome::Valid(p) = w.authenticate(&bearer(&s.sign(&claims())), NOW) else {
        panic!("not valid");
    };
    // RA-6: the request principal is iss/sub; scope is split on spaces.
    assert_eq!(
        p.request_principal().as_deref(),
        Some("https://auth.example.com/alice")
    );
    assert_eq!(p.audiences(), ["books"]);
    assert_eq!(p.presenter(), Some("web"));
    assert_eq!(p.claim(&["scope"]), Some(&json!(["read", "write"])));
    assert_eq!(p.claim(&["roles"]), Some(&json!("a b")));
}

#[test]
fn valid_es256_token() {
    let s = Signer::ec();
    let w = inline(&[&Signer::rsa(), &s], "");
    let out = w.authenticate(&bearer(&s.sign(&claims())), NOW);
    assert!(matches!(out, JwtOutcome::Valid(_)), "{out:?}");
}

#[test]
fn no_token_is_missing_not_rejected() {
    // RA-2: a request without a token passes unauthenticated.
    let w = inline(&[&Signer::rsa()], "");
    assert_eq!(
        w.authenticate(&Request::http("GET", "/"), NOW),
        JwtOutcome::Missing
    );
    // A workload without RequestAuthentication has no JWT filter.
    assert_eq!(
        WorkloadJwt::default().authenticate(&bearer("x"), NOW),
        JwtOutcome::NotApplicable
    );
}

#[test]
fn expired_and_not_yet_valid_tokens_are_rejected_with_401() {
    let s = Signer::rsa();
    let w = inline(&[&s], "");
    let mut c = claims();
    c["exp"] = json!(NOW - 61);
    let e = invalid(w.authenticate(&bearer(&s.sign(&c)), NOW));
    assert_eq!((e.clone(), e.status()), (JwtError::Expired, 401));
    // Within Envoy's 60 s clock skew the token still counts.
    c["exp"] = json!(NOW - 60);
    assert!(matches!(
        w.authenticate(&bearer(&s.sign(&c)), NOW),
        JwtOutcome::Valid(_)
    ));
    let mut c = claims();
    c["nbf"] = json!(NOW + 61);
    assert_eq!(
        invalid(w.authenticate(&bearer(&s.sign(&c)), NOW)),
        JwtError::NotYetValid
    );
    c["nbf"] = json!(NOW + 60);
    assert!(matches!(
        w.authenticate(&bearer(&s.sign(&c)), NOW),
        JwtOutcome::Valid(_)
    ));
}

#[test]
fn wrong_issuer_is_rejected_with_401() {
    let s = Signer::rsa();
    let w = inline(&[&s], "");
    let mut c = claims();
    c["iss"] = json!("https://evil.example.com");
    let e = invalid(w.authenticate(&bearer(&s.sign(&c)), NOW));
    assert_eq!(
        e,
        JwtError::UnknownIssuer("https://evil.example.com".into())
    );
    assert_eq!(e.status(), 401);
}

#[test]
fn wrong_audience_is_rejected_with_403() {
    // RA-2/RA-4: only an audience failure answers 403.
    let s = Signer::rsa();
    let w = inline(&[&s], "");
    let mut c = claims();
    c["aud"] = json!(["movies", "music"]);
    let e = invalid(w.authenticate(&bearer(&s.sign(&c)), NOW));
    assert_eq!((e.clone(), e.status()), (JwtError::AudienceNotAllowed, 403));
    // A listed audience among several is enough; scheme and trailing slash
    // are ignored.
    c["aud"] = json!(["movies", "https://books/"]);
    assert!(matches!(
        w.authenticate(&bearer(&s.sign(&c)), NOW),
        JwtOutcome::Valid(_)
    ));
}

#[test]
fn audiences_unset_accept_any_audience() {
    let s = Signer::rsa();
    let jwks = json!({"keys": [s.jwk()]}).to_string();
    let w = workload(
        &format!("  - issuer: {ISS:?}\n    jwks: '{jwks}'\n"),
        &JwksSources::new(),
    );
    let mut c = claims();
    c["aud"] = json!("anything");
    assert!(matches!(
        w.authenticate(&bearer(&s.sign(&c)), NOW),
        JwtOutcome::Valid(_)
    ));
}

#[test]
fn bad_signature_is_rejected() {
    let s = Signer::rsa();
    let w = inline(&[&s], "");
    let good = s.sign(&claims());
    let mut c = claims();
    c["sub"] = json!("mallory");
    let forged = s.sign(&c);
    let (head, _) = good.rsplit_once('.').unwrap();
    let (_, sig) = forged.rsplit_once('.').unwrap();
    let e = invalid(w.authenticate(&bearer(&format!("{head}.{sig}")), NOW));
    assert_eq!(e, JwtError::BadSignature);
    // Signed by a key the JWKS does not hold, with the right kid.
    let other = Signer::ec();
    let w = inline(&[&Signer::ec()], "");
    assert_eq!(
        invalid(w.authenticate(&bearer(&other.sign(&claims())), NOW)),
        JwtError::BadSignature
    );
}

#[test]
fn unknown_key_id_is_rejected() {
    let s = Signer::rsa();
    let w = inline(&[&s], "");
    let e = invalid(w.authenticate(&bearer(&s.sign_kid(&claims(), "rotated")), NOW));
    assert_eq!((e.clone(), e.status()), (JwtError::KidAlgMismatch, 401));
}

#[test]
fn malformed_tokens_are_rejected() {
    let w = inline(&[&Signer::rsa()], "");
    for t in ["abc", "a.b", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x.y.z.w"] {
        let e = invalid(w.authenticate(&bearer(t), NOW));
        assert!(matches!(e, JwtError::Malformed(_)), "{t}: {e:?}");
        assert_eq!(e.status(), 401);
    }
    // exp must be an integer.
    let s = Signer::rsa();
    let mut c = claims();
    c["exp"] = json!("tomorrow");
    assert!(matches!(
        invalid(w.authenticate(&bearer(&s.sign(&c)), NOW)),
        JwtError::Malformed(_)
    ));
}

#[test]
fn default_locations_are_bearer_header_then_access_token_param() {
    let s = Signer::rsa();
    let w = inline(&[&s], "");
    let t = s.sign(&claims());
    let q = Request::http("GET", &format!("/books?access_token={t}"));
    assert!(matches!(w.authenticate(&q, NOW), JwtOutcome::Valid(_)));
    // Without the Bearer prefix the header holds no token (RA-3).
    let basic = Request::http("GET", "/").with_header("authorization", &format!("Basic {t}"));
    assert_eq!(w.authenticate(&basic, NOW), JwtOutcome::Missing);
    // Two tokens must both be valid.
    let two = Request::http("GET", "/?access_token=junk")
        .with_header("authorization", &format!("Bearer {t}"));
    assert!(matches!(w.authenticate(&two, NOW), JwtOutcome::Invalid(_)));
}

#[test]
fn configured_locations_replace_the_defaults() {
    let s = Signer::rsa();
    let t = s.sign(&claims());
    let w = inline(
        &[&s],
        "    fromHeaders: [{name: X-Token, prefix: \"Token \"}]\n    fromCookies: [session]\n",
    );
    let h = Request::http("GET", "/").with_header("x-token", &format!("Token {t}"));
    assert!(matches!(w.authenticate(&h, NOW), JwtOutcome::Valid(_)));
    let c = Request::http("GET", "/").with_header("cookie", &format!("a=1; session={t}"));
    assert!(matches!(w.authenticate(&c, NOW), JwtOutcome::Valid(_)));
    assert_eq!(w.authenticate(&bearer(&t), NOW), JwtOutcome::Missing);
}

#[test]
fn jwks_uri_keys_come_from_the_caller() {
    let s = Signer::rsa();
    let uri = "https://auth.example.com/.well-known/jwks.json";
    let rule = format!("  - issuer: {ISS:?}\n    jwksUri: {uri:?}\n");
    let t = s.sign(&claims());
    // Without the document every token fails (fail closed).
    let w = workload(&rule, &JwksSources::new());
    assert!(w.rules()[0].key_error().is_some());
    assert!(matches!(
        invalid(w.authenticate(&bearer(&t), NOW)),
        JwtError::NoKeys(_)
    ));
    let mut sources = JwksSources::new();
    sources.insert(uri, &json!({"keys": [s.jwk()]}).to_string());
    let w = workload(&rule, &sources);
    assert!(matches!(
        w.authenticate(&bearer(&t), NOW),
        JwtOutcome::Valid(_)
    ));
}

#[test]
fn space_delimited_claims_are_configurable() {
    let s = Signer::rsa();
    let w = inline(&[&s], "    spaceDelimitedClaims: [roles]\n");
    let JwtOutcome::Valid(p) = w.authenticate(&bearer(&s.sign(&claims())), NOW) else {
        panic!("not valid");
    };
    assert_eq!(p.claim(&["roles"]), Some(&json!(["a", "b"])));
    assert_eq!(p.claim(&["scope"]), Some(&json!(["read", "write"])));
}

#[test]
fn several_rules_any_valid_or_all_missing() {
    // RA-1: rules sorted by issuer; RA-2: any provider valid passes.
    let a = Signer::rsa();
    let b = Signer::ec();
    let ja = json!({"keys": [a.jwk()]}).to_string();
    let jb = json!({"keys": [b.jwk()]}).to_string();
    let w = workload(
        &format!(
            "  - issuer: \"https://z.example.com\"\n    jwks: '{jb}'\n  - issuer: {ISS:?}\n    jwks: '{ja}'\n"
        ),
        &JwksSources::new(),
    );
    assert_eq!(w.rules()[0].issuer, ISS);
    let mut c = claims();
    c["iss"] = json!("https://z.example.com");
    assert!(matches!(
        w.authenticate(&bearer(&b.sign(&c)), NOW),
        JwtOutcome::Valid(_)
    ));
    assert!(matches!(
        w.authenticate(&bearer(&a.sign(&claims())), NOW),
        JwtOutcome::Valid(_)
    ));
    assert_eq!(
        w.authenticate(&Request::http("GET", "/"), NOW),
        JwtOutcome::Missing
    );
    // Signed by the other issuer's key: invalid for both.
    assert!(matches!(
        w.authenticate(&bearer(&b.sign(&claims())), NOW),
        JwtOutcome::Invalid(_)
    ));
}
