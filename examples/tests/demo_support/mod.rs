//! What every run of the demo must show, whichever data plane carries it:
//! the split follows the configured weights, the policies deny what they
//! should and are named, and every hop is mutual TLS with the caller's
//! identity.

use mesh_examples::demo::Summary;

/// Checks a summary of a run with 200 split requests (and 20 with
/// `end-user: jason`).
pub fn check(s: &Summary) {
    let text = s.render();
    assert!(s.success(), "{text}");
    assert_eq!((s.sent, s.ok), (220, 220), "{text}");
    // WT-3: 80/20 between v1 and v2 (±10 points at n = 200), v3 unused.
    let v1 = s.split.iter().find(|x| x.version == "v1").unwrap();
    let v2 = s.split.iter().find(|x| x.version == "v2").unwrap();
    assert_eq!((v1.weight, v2.weight), (80, 20));
    assert_eq!(v1.count + v2.count, 200, "{text}");
    assert!((140..=180).contains(&v1.count), "{text}");
    assert_eq!(s.jason.keys().collect::<Vec<_>>(), ["v2"], "{text}");
    // The refusals and who refused them.
    let by_what = |w: &str| s.denied.iter().find(|d| d.what.starts_with(w)).unwrap();
    let d = by_what("POST /productpage");
    assert_eq!(d.status, 403);
    assert!(d.policy.contains("bookinfo/productpage-viewer"), "{text}");
    let d = by_what("GET /productpage (bad JWT)");
    assert_eq!(
        (d.status, d.policy.as_str()),
        (401, "bookinfo/productpage-jwt")
    );
    let d = by_what("GET /admin");
    assert_eq!(
        (d.status, d.policy.as_str(), d.reason.as_str()),
        (403, "bookinfo/productpage-admin", "a DENY rule matched"),
        "{text}"
    );
    let d = by_what("GET /ratings/0");
    assert!(d.policy.contains("bookinfo/ratings-viewer"), "{text}");
    // Every hop is mutual TLS under STRICT with the caller's identity.
    let hop = |from: &str, to: &str| {
        s.hops
            .iter()
            .find(|h| h.from == from && h.to == to)
            .unwrap_or_else(|| panic!("{from} → {to}: {text}"))
    };
    let h = hop("istio-ingressgateway", "productpage-v1");
    assert_eq!(
        h.peer,
        "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
    );
    for (from, to) in [
        ("productpage-v1", "details-v1"),
        ("productpage-v1", "reviews-v1"),
        ("productpage-v1", "reviews-v2"),
        ("reviews-v2", "ratings-v1"),
    ] {
        let h = hop(from, to);
        assert_eq!(
            (h.mode.as_str(), h.security.as_str()),
            ("STRICT", "mutual_tls"),
            "{text}"
        );
    }
    assert!(s.hops.iter().all(|h| h.from != "unknown"), "{text}");
}
