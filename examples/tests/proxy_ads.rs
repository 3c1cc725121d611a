//! Our proxy fed by the controller over ADS, as a user runs them: the
//! controller serves the mesh's Istio and Kubernetes objects and each
//! proxy's workload certificate (SDS, from the controller's CA); two proxies
//! then carry a request over STRICT mTLS, and a config change reaches them.

mod proxy_support;

use mesh_examples::controller::{self, Controller};
use mesh_examples::proxy::telemetry::AccessLog;
use mesh_examples::proxy::{ConfigSource, ProxyOptions, RunningProxy};
use proxy_support::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const STRICT: &str = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: server, namespace: test}\nspec:\n  selector: {matchLabels: {app: server}}\n  mtls: {mode: STRICT}\n---\n";

async fn ads_proxy(
    w: mesh_examples::proxy::state::Workload,
    ads: SocketAddr,
) -> (
    RunningProxy,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let (log, entries) = AccessLog::memory();
    let mut o = ProxyOptions::new(w, ConfigSource::Ads { address: ads });
    o.access_log = log;
    o.initial_fetch_timeout = Duration::from_secs(5);
    (RunningProxy::start(o).await.unwrap(), entries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_gets_config_and_certificate_from_the_controller() {
    let port = free_port();
    let inbound_port = free_port();
    let app = Backend::start("server-app").await;
    let server_inbound: SocketAddr = format!("127.0.0.1:{inbound_port}").parse().unwrap();
    let mesh = format!(
        "{}{}{}{STRICT}",
        service("server", port, &[(server_inbound, "v1", true)]),
        sidecar("client", Some(port), None),
        sidecar("server", None, Some((inbound_port, app.addr))),
    );
    let opts = controller::Options {
        inline: vec![("mesh.yaml".into(), mesh.clone())],
        ads: "127.0.0.1:0".parse().unwrap(),
        debug: "127.0.0.1:0".parse().unwrap(),
        debounce: Duration::from_millis(5),
        push_debounce: Duration::from_millis(5),
        ..Default::default()
    };
    let ctl = Controller::start(opts, controller::hub::mesh_compiler(Default::default()))
        .await
        .unwrap();
    let (server, log) = ads_proxy(workload("server-0", "server", "server"), ctl.ads_addr).await;
    let (client, _) = ads_proxy(workload("client-0", "client", "client"), ctl.ads_addr).await;

    // The certificates chain to the controller's root and carry each
    // workload's SPIFFE identity; the server sees the client's.
    let r = get(
        format!("127.0.0.1:{port}").parse().unwrap(),
        &format!("server:{port}"),
        "/hello",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.served_by(), Some("server-app"));
    let xfcc = r.json()["headers"]["x-forwarded-client-cert"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        xfcc.contains("URI=spiffe://cluster.local/ns/test/sa/client"),
        "{xfcc}"
    );
    let e = entries(&log, 1).await;
    assert_eq!(e[0]["mtls_mode"], "STRICT");
    assert_eq!(e[0]["connection_security_policy"], "mutual_tls");

    // Both proxies are connected and have ACKed the configuration kinds.
    let statuses = ctl.hub.statuses();
    assert_eq!(statuses.len(), 2);
    for s in &statuses {
        let vs = &s.types["networking.istio.io/v1/VirtualService"];
        assert!(vs.acked.is_some() && vs.nack.is_none(), "{s:?}");
        assert!(
            s.types["type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"]
                .acked
                .is_some()
        );
    }

    // A change to the mesh reaches the client: a VirtualService aborting
    // every request with 418.
    let abort = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: server, namespace: test}\nspec:\n  hosts: [server.test.svc.cluster.local]\n  http:\n  - fault: {abort: {httpStatus: 418, percentage: {value: 100}}}\n    route:\n    - destination: {host: server.test.svc.cluster.local}\n";
    ctl.sources.store().update("abort.yaml", abort);
    ctl.sources.changed();
    let started = Instant::now();
    loop {
        let r = get(
            format!("127.0.0.1:{port}").parse().unwrap(),
            &format!("server:{port}"),
            "/hello",
        )
        .await;
        if r.status == 418 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the change did not arrive: {}",
            r.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("config change converged in {:?}", started.elapsed());
    client.shutdown().await;
    server.shutdown().await;
    ctl.shutdown().await;
}
