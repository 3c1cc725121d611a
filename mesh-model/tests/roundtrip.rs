//! Wire resources printed to YAML (and to JSON, which is YAML too) and
//! parsed back with `Source::parse` are equal to themselves, with no
//! diagnostic: every field's wire name is read back, strings YAML would
//! read as other types are quoted, numbers and enums survive.

mod strategies;

use mesh_model::parse::{ParseOptions, Source};
use mesh_model::resource::IstioSpec;
use proptest::prelude::*;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Doc<'a, T> {
    api_version: &'a str,
    kind: &'a str,
    metadata: Meta,
    spec: &'a T,
}

#[derive(Serialize)]
struct Meta {
    name: &'static str,
    namespace: &'static str,
}

/// Prints `spec` as one object of `kind`, reads it back, and compares.
fn round_trip<T: Serialize>(
    api_version: &str,
    kind: &str,
    spec: &T,
    expected: IstioSpec,
) -> Result<(), TestCaseError> {
    let doc = Doc {
        api_version,
        kind,
        metadata: Meta {
            name: "r",
            namespace: "ns",
        },
        spec,
    };
    // The CRD schema checks judge the values, which the strategies do not
    // try to keep valid; the round trip is about reading what was written.
    let opts = ParseOptions {
        schema_check: false,
        ..ParseOptions::default()
    };
    let yaml = serde_yaml::to_string(&doc).expect("prints as YAML");
    let json = serde_json::to_string_pretty(&doc).expect("prints as JSON");
    for (form, text) in [("YAML", &yaml), ("JSON", &json)] {
        let parsed = Source::new("t.yaml", text).parse(&opts);
        let diags: Vec<String> = parsed.diagnostics.iter().map(ToString::to_string).collect();
        prop_assert!(
            diags.is_empty(),
            "{form} diagnostics {diags:?} for:\n{text}"
        );
        prop_assert_eq!(parsed.resources.len(), 1);
        let got = parsed.resources[0].istio_spec();
        prop_assert_eq!(got, Some(&expected), "{} form:\n{}", form, text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn virtual_service(spec in strategies::virtual_service()) {
        round_trip("networking.istio.io/v1", "VirtualService", &spec, IstioSpec::VirtualService(Box::new(spec.clone())))?;
    }

    #[test]
    fn destination_rule(spec in strategies::destination_rule()) {
        round_trip("networking.istio.io/v1", "DestinationRule", &spec, IstioSpec::DestinationRule(Box::new(spec.clone())))?;
    }

    #[test]
    fn gateway(spec in strategies::gateway()) {
        round_trip("networking.istio.io/v1beta1", "Gateway", &spec, IstioSpec::Gateway(Box::new(spec.clone())))?;
    }

    #[test]
    fn service_entry(spec in strategies::service_entry()) {
        round_trip("networking.istio.io/v1", "ServiceEntry", &spec, IstioSpec::ServiceEntry(Box::new(spec.clone())))?;
    }

    #[test]
    fn authorization_policy(spec in strategies::authorization_policy()) {
        round_trip("security.istio.io/v1", "AuthorizationPolicy", &spec, IstioSpec::AuthorizationPolicy(Box::new(spec.clone())))?;
    }

    #[test]
    fn peer_authentication(spec in strategies::peer_authentication()) {
        round_trip("security.istio.io/v1beta1", "PeerAuthentication", &spec, IstioSpec::PeerAuthentication(Box::new(spec.clone())))?;
    }

    #[test]
    fn request_authentication(spec in strategies::request_authentication()) {
        round_trip("security.istio.io/v1", "RequestAuthentication", &spec, IstioSpec::RequestAuthentication(Box::new(spec.clone())))?;
    }
}
