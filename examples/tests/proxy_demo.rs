//! The demo's library entry point on the embedded sample with our proxies,
//! every one configured by the in-process controller over ADS with a
//! certificate from its CA: the split follows the configured weights, the
//! policies deny what they should and are named, and every hop is mutual
//! TLS.

mod demo_support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_the_sample_mesh() {
    let opts = mesh_examples::demo::DemoOptions {
        requests: 200,
        concurrency: 8,
        ..Default::default()
    };
    let mut last = (0, 0);
    let s = mesh_examples::demo::run(&opts, |d, t| last = (d, t))
        .await
        .unwrap();
    assert_eq!(last, (220, 220));
    assert_eq!(s.data_plane, "proxy");
    demo_support::check(&s);
}
