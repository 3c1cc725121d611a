//! The embedded sample mesh (a small book shop in the style of Istio's
//! bookinfo): the default input of the demo and the README's examples.

/// The sample mesh's YAML.
pub const BOOKINFO: &str = include_str!("../sample/bookinfo.yaml");

/// The label used for the sample in diagnostics.
pub const BOOKINFO_LABEL: &str = "sample/bookinfo.yaml";

/// The PKCS#8 PEM private key that signs the sample's demo JWTs (its public
/// half is inline in the sample's RequestAuthentication). A demo key: never
/// use it for anything real.
pub const DEMO_JWT_KEY: &str = include_str!("../sample/demo-jwt-key.pem");

/// The issuer the sample's RequestAuthentication accepts.
pub const DEMO_JWT_ISSUER: &str = "https://auth.bookinfo.example.com";

#[cfg(test)]
mod tests {
    use mesh_model::{LoadOptions, load};

    #[test]
    fn sample_mesh_is_valid() {
        let loaded = load(
            &[(super::BOOKINFO_LABEL, super::BOOKINFO)],
            &LoadOptions::default(),
        );
        let rendered: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
        assert!(rendered.is_empty(), "{rendered:#?}");
        let s = &loaded.snapshot;
        assert_eq!(s.virtual_services().count(), 3);
        assert_eq!(s.authorization_policies().count(), 5);
        let reviews = s
            .services()
            .find(|svc| svc.hostname.as_str() == "reviews.bookinfo.svc.cluster.local")
            .unwrap();
        assert_eq!(reviews.endpoints.len(), 3);
        assert!(reviews.endpoints.iter().all(|e| e.sidecar));
    }
}
