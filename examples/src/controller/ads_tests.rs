//! The ADS protocol as a client sees it, in process: what is answered, what
//! is not, and what a change pushes (state of the world and delta).

use super::ads::AdsService;
use super::ca::Ca;
use super::hub::{Hub, HubOptions, mesh_compiler};
use super::store::Store;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
    aggregated_discovery_service_client::AggregatedDiscoveryServiceClient,
};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use mesh_xds::resources::ResourceType;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

fn mesh(w1: u32, port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: reviews, namespace: app}}\nspec:\n  selector: {{app: reviews}}\n  ports: [{{name: http, port: {port}}}]\n---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {{name: r1, namespace: app}}\nspec: {{address: 10.0.0.1, labels: {{app: reviews, version: v1}}}}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: reviews, namespace: app}}\nspec:\n  host: reviews\n  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: reviews, namespace: app}}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - {{destination: {{host: reviews, subset: v1}}, weight: {w1}}}\n    - {{destination: {{host: reviews, subset: v2}}, weight: {}}}\n",
        100 - w1
    )
}

fn snapshot(w1: u32, port: u16) -> mesh_model::snapshot::Snapshot {
    let mut s = Store::new();
    s.update("mesh.yaml", &mesh(w1, port));
    s.snapshot()
}

async fn server(hub: Arc<Hub>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _keep = _tx;
        let _ = tonic::transport::Server::builder()
            .add_service(AdsService::new(hub, rx).into_server())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l))
            .await;
    });
    format!("http://{addr}")
}

fn hub(w1: u32) -> Arc<Hub> {
    hub_of(snapshot(w1, 9080))
}

fn hub_of(mesh: impl Into<super::hub::Mesh>) -> Arc<Hub> {
    let ca = Arc::new(Ca::generate("cluster.local", Duration::from_secs(3600)).unwrap());
    Hub::new(
        mesh,
        mesh_compiler(Default::default()),
        ca,
        HubOptions {
            push_debounce: Duration::from_millis(1),
            ..Default::default()
        },
    )
}

fn node() -> Node {
    Node {
        id: "sidecar~10.0.0.9~client-0.app~app.svc.cluster.local".into(),
        ..Default::default()
    }
}

type Client = AggregatedDiscoveryServiceClient<tonic::transport::Channel>;

/// Opens a delta stream whose first request (with the node) subscribes to
/// `type_url` as a wildcard.
async fn open_delta(
    client: &mut Client,
    type_url: String,
) -> (
    mpsc::UnboundedSender<DeltaDiscoveryRequest>,
    tonic::Streaming<DeltaDiscoveryResponse>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(DeltaDiscoveryRequest {
        node: Some(node()),
        type_url,
        ..Default::default()
    })
    .unwrap();
    let s = client
        .delta_aggregated_resources(UnboundedReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    (tx, s)
}

/// Opens a state-of-the-world stream with `first` (the node is added).
async fn open_sotw(
    client: &mut Client,
    mut first: DiscoveryRequest,
) -> (
    mpsc::UnboundedSender<DiscoveryRequest>,
    tonic::Streaming<DiscoveryResponse>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    first.node = Some(node());
    tx.send(first).unwrap();
    let s = client
        .stream_aggregated_resources(UnboundedReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    (tx, s)
}

/// The ACK of a delta response.
fn delta_ack(r: &DeltaDiscoveryResponse) -> DeltaDiscoveryRequest {
    DeltaDiscoveryRequest {
        type_url: r.type_url.clone(),
        response_nonce: r.nonce.clone(),
        ..Default::default()
    }
}

const QUIET: Duration = Duration::from_millis(300);

async fn next<T>(s: &mut tonic::Streaming<T>) -> Option<T> {
    tokio::time::timeout(QUIET, s.message())
        .await
        .ok()
        .and_then(|r| r.ok())
        .flatten()
}

fn req(
    t: impl Into<super::hub::TypeKey>,
    names: &[&str],
    r: Option<&DiscoveryResponse>,
) -> DiscoveryRequest {
    DiscoveryRequest {
        type_url: t.into().type_url(),
        resource_names: names.iter().map(|s| s.to_string()).collect(),
        version_info: r.map(|r| r.version_info.clone()).unwrap_or_default(),
        response_nonce: r.map(|r| r.nonce.clone()).unwrap_or_default(),
        ..Default::default()
    }
}

#[tokio::test]
async fn state_of_the_world() {
    let hub = hub(80);
    let url = server(hub.clone()).await;
    let mut client = AggregatedDiscoveryServiceClient::connect(url)
        .await
        .unwrap();
    let (tx, mut s) = open_sotw(&mut client, req(ResourceType::Route, &["9080"], None)).await;
    let r1 = next(&mut s).await.expect("a new subscription is answered");
    assert_eq!(r1.resources.len(), 1);
    // An ACK is not answered.
    tx.send(req(ResourceType::Route, &["9080"], Some(&r1)))
        .unwrap();
    assert!(next(&mut s).await.is_none(), "an ACK was answered");
    // A stale nonce is ignored, even with other names.
    let mut stale = req(ResourceType::Route, &["9080", "other"], Some(&r1));
    stale.response_nonce = "stale".into();
    tx.send(stale).unwrap();
    assert!(next(&mut s).await.is_none(), "a stale nonce was answered");
    // A change of the content pushes it; an equal mesh does not.
    hub.publish(snapshot(50, 9080));
    let r2 = next(&mut s).await.expect("a push after the change");
    assert_ne!(r2.version_info, r1.version_info);
    hub.publish(snapshot(50, 9080));
    assert!(next(&mut s).await.is_none(), "an unchanged mesh was pushed");
    // A NACK is recorded, and that version is not sent again.
    let mut nack = req(ResourceType::Route, &["9080"], Some(&r2));
    nack.error_detail = Some(RpcStatus {
        code: 3,
        message: "rejected".into(),
        ..Default::default()
    });
    tx.send(nack).unwrap();
    assert!(next(&mut s).await.is_none(), "a NACK was answered");
    let status = hub.statuses();
    let t = &status[0].types[&ResourceType::Route.type_url()];
    assert_eq!(t.nack.as_ref().map(|n| n.error.as_str()), Some("rejected"));
    assert_eq!(
        t.nack.as_ref().map(|n| n.version.as_str()),
        Some(r2.version_info.as_str())
    );
    assert_eq!(hub.metrics.nacks(ResourceType::Route), 1);
    // A new version is sent.
    hub.publish(snapshot(20, 9080));
    let r3 = next(&mut s)
        .await
        .expect("a push of a new version after a NACK");
    assert_ne!(r3.version_info, r2.version_info);
}

#[tokio::test]
async fn delta() {
    let hub = hub(80);
    let url = server(hub.clone()).await;
    let mut client = AggregatedDiscoveryServiceClient::connect(url)
        .await
        .unwrap();
    let (tx, mut s) = open_delta(&mut client, ResourceType::Cluster.type_url()).await;
    let ack = delta_ack;
    let r1 = next(&mut s).await.expect("the wildcard CDS subscription");
    let names: Vec<&str> = r1.resources.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.contains(&"outbound|9080|v1|reviews.app.svc.cluster.local"),
        "{names:?}"
    );
    tx.send(ack(&r1)).unwrap();
    assert!(next(&mut s).await.is_none(), "an ACK was answered");
    // A weight change changes no cluster.
    hub.publish(snapshot(50, 9080));
    assert!(
        next(&mut s).await.is_none(),
        "clusters were pushed for a route change"
    );
    // A port change replaces every cluster: new ones sent, old ones removed.
    hub.publish(snapshot(50, 9090));
    let r2 = next(&mut s).await.expect("a push of the new clusters");
    assert!(
        r2.resources.iter().all(|r| r.name.contains("|9090|")),
        "{:?}",
        r2.resources
    );
    assert!(
        r2.removed_resources
            .contains(&"outbound|9080|v1|reviews.app.svc.cluster.local".to_string()),
        "{:?}",
        r2.removed_resources
    );
    tx.send(ack(&r2)).unwrap();
    assert!(next(&mut s).await.is_none());
    assert_eq!(hub.statuses()[0].protocol, "delta");
}

fn mesh_of(w1: u32, port: u16) -> super::hub::Mesh {
    let mut s = Store::new();
    s.update("mesh.yaml", &mesh(w1, port));
    s.mesh()
}

fn config_json(r: &envoy_types::pb::google::protobuf::Any) -> serde_json::Value {
    let text = crate::config_xds::decode(r).expect("a StringValue");
    serde_json::from_str(&text).expect("JSON")
}

/// The mesh's own configuration kinds over ADS: the objects as JSON, pushed
/// when they change, a NACKed version not sent again; over delta too.
#[tokio::test]
async fn configuration_kinds() {
    use super::hub::TypeKey;
    use crate::config_xds::ConfigType;
    let vs = ConfigType::of("networking.istio.io", "VirtualService").unwrap();
    let hub = hub_of(mesh_of(80, 9080));
    let url = server(hub.clone()).await;
    let mut client = AggregatedDiscoveryServiceClient::connect(url)
        .await
        .unwrap();
    let sotw = |r: Option<&DiscoveryResponse>| req(TypeKey::Config(vs), &[], r);
    let (tx, mut s) = open_sotw(&mut client, sotw(None)).await;
    let r1 = next(&mut s)
        .await
        .expect("a wildcard subscription is answered");
    assert_eq!(r1.type_url, "networking.istio.io/v1/VirtualService");
    assert_eq!(r1.resources.len(), 1);
    let v = config_json(&r1.resources[0]);
    assert_eq!(v["metadata"]["namespace"], "app");
    assert_eq!(v["spec"]["http"][0]["route"][0]["weight"], 80);
    tx.send(sotw(Some(&r1))).unwrap();
    assert!(next(&mut s).await.is_none(), "an ACK was answered");
    hub.publish(mesh_of(50, 9080));
    let r2 = next(&mut s).await.expect("a push after the change");
    assert_eq!(
        config_json(&r2.resources[0])["spec"]["http"][0]["route"][0]["weight"],
        50
    );
    let mut nack = sotw(Some(&r2));
    nack.error_detail = Some(RpcStatus {
        code: 3,
        message: "bad object".into(),
        ..Default::default()
    });
    tx.send(nack).unwrap();
    assert!(next(&mut s).await.is_none(), "a NACK was answered");
    assert_eq!(hub.metrics.nacks(TypeKey::Config(vs)), 1);
    // A port change leaves the VirtualService as it was NACKed: not resent.
    hub.publish(mesh_of(50, 9090));
    assert!(next(&mut s).await.is_none(), "a NACKed version was resent");
    hub.publish(mesh_of(20, 9090));
    let r3 = next(&mut s).await.expect("a new version after a NACK");
    assert_ne!(r3.version_info, r2.version_info);

    // Delta: a wildcard subscription to Services, a change of one.
    let (tx, mut d) = open_delta(&mut client, "core/v1/Service".into()).await;
    let r1 = next(&mut d).await.expect("the wildcard subscription");
    assert_eq!(r1.resources.len(), 1);
    assert_eq!(r1.resources[0].name, "app/reviews");
    tx.send(delta_ack(&r1)).unwrap();
    assert!(next(&mut d).await.is_none(), "an ACK was answered");
    hub.publish(mesh_of(20, 9080));
    let r2 = next(&mut d).await.expect("the changed Service");
    let v = config_json(r2.resources[0].resource.as_ref().unwrap());
    assert_eq!(v["spec"]["ports"][0]["port"], 9080);
}

/// A new generation compiles each proxy shape from the shape's previous
/// compile ([`mesh_xds::Compiler::recompile`]): the result is what a full
/// compile gives, and a type the change leaves alone keeps its set (its
/// versions and the response bodies already encoded).
#[test]
fn a_new_generation_recompiles_from_the_last_and_keeps_what_is_unchanged() {
    use super::hub::Compiled;
    use mesh_xds::proxy::Proxy;
    let hub = hub(90);
    let proxy = Proxy::sidecar("app", Default::default(), "default");
    let full = |s: &mesh_model::snapshot::Snapshot| {
        let mut r = mesh_xds::Compiler::new(s, Default::default()).compile(&proxy);
        r.sort();
        Compiled::new(r)
    };
    let versions = |c: &Compiled, t: ResourceType| -> Vec<(String, String)> {
        c.get(t)
            .items
            .values()
            .map(|v| (v.name.clone(), v.version.clone()))
            .collect()
    };
    let same = |a: &Compiled, b: &Compiled| {
        for t in [
            ResourceType::Cluster,
            ResourceType::Endpoint,
            ResourceType::Listener,
            ResourceType::Route,
        ] {
            assert_eq!(versions(a, t), versions(b, t), "{t:?}");
        }
    };
    let first = hub.compiled(&hub.current(), &proxy);
    same(&first, &full(&snapshot(90, 9080)));

    // The VirtualService's weights: routes only.
    hub.publish(snapshot(50, 9080));
    let second = hub.compiled(&hub.current(), &proxy);
    same(&second, &full(&snapshot(50, 9080)));
    for t in [
        ResourceType::Cluster,
        ResourceType::Endpoint,
        ResourceType::Listener,
    ] {
        assert!(Arc::ptr_eq(&first.get(t), &second.get(t)), "{t:?} kept");
    }
    assert_ne!(
        versions(&first, ResourceType::Route),
        versions(&second, ResourceType::Route)
    );

    // The service's port: compiled in full, still as a full compile has it.
    hub.publish(snapshot(50, 9081));
    let third = hub.compiled(&hub.current(), &proxy);
    same(&third, &full(&snapshot(50, 9081)));
    assert!(!Arc::ptr_eq(
        &second.get(ResourceType::Cluster),
        &third.get(ResourceType::Cluster)
    ));
}
