//! The proxy's ADS client: the mesh's own Istio and Kubernetes resources,
//! as istiod serves configuration over xDS, plus the workload certificate
//! over SDS.
//!
//! The type URLs and the encoding of configuration resources are
//! [`crate::config_xds`]'s, shared with the controller that serves them.
//! Subscriptions are wildcard; secrets are Envoy's SDS `default`
//! (certificate chain and key) and `ROOTCA` (the root).
//!
//! Each response is ACKed; a response holding an object that does not
//! parse or validate is NACKed with the diagnostics and the proxy keeps its
//! last good configuration, as Envoy does. The stream reconnects with
//! backoff and the proxy keeps its last configuration meanwhile.

use super::Shared;
use super::tls::Identity;
use crate::config_xds::{CONFIG_TYPES, decode, is_config_type, type_url};
use envoy_types::pb::envoy::config::core::v3::{Node, data_source::Specifier};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{Secret, secret};
use envoy_types::pb::envoy::service::discovery::v3::{
    DiscoveryRequest, DiscoveryResponse,
    aggregated_discovery_service_client::AggregatedDiscoveryServiceClient,
};
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use prost::{Message, Name};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

fn sv(s: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.to_string())),
    }
}

/// The Envoy node of a proxy, with Istio's node metadata.
pub fn node(w: &super::state::Workload) -> Node {
    let labels = Struct {
        fields: w.labels.iter().map(|(k, v)| (k.clone(), sv(v))).collect(),
    };
    let app = w
        .labels
        .get("app")
        .cloned()
        .unwrap_or_else(|| w.name.clone());
    Node {
        id: w.node_id(),
        cluster: format!("{app}.{}", w.namespace),
        metadata: Some(Struct {
            fields: [
                ("NAME".to_string(), sv(&w.name)),
                ("NAMESPACE".to_string(), sv(&w.namespace)),
                ("SERVICE_ACCOUNT".to_string(), sv(&w.service_account)),
                ("INSTANCE_IPS".to_string(), sv(&w.ip.to_string())),
                ("INTERCEPTION_MODE".to_string(), sv("NONE")),
                (
                    "LABELS".to_string(),
                    Value {
                        kind: Some(Kind::StructValue(labels)),
                    },
                ),
            ]
            .into(),
        }),
        ..Default::default()
    }
}

fn data(ds: Option<&envoy_types::pb::envoy::config::core::v3::DataSource>) -> Option<String> {
    match ds?.specifier.as_ref()? {
        Specifier::InlineString(s) => Some(s.clone()),
        Specifier::InlineBytes(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

#[derive(Default)]
struct Secrets {
    chain: Option<String>,
    key: Option<String>,
    root: Option<String>,
}

/// Runs the ADS stream until shutdown, reconnecting on failure.
pub async fn run(shared: Arc<Shared>, address: SocketAddr, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(100);
    let mut configs: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    loop {
        let r = tokio::select! {
            r = stream(&shared, address, &mut configs) => r,
            _ = shutdown.changed() => return,
        };
        match r {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(e) => {
                tracing::warn!(controller = %address, error = %e, "ADS stream ended; keeping the last configuration")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn stream(
    shared: &Arc<Shared>,
    address: SocketAddr,
    configs: &mut BTreeMap<String, Vec<(String, String)>>,
) -> Result<(), String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true);
    let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
    let mut client =
        AggregatedDiscoveryServiceClient::new(channel).max_decoding_message_size(64 << 20);
    let (tx, rx) = mpsc::channel::<DiscoveryRequest>(64);
    let mut first = true;
    let mut request = |type_url: String, names: Vec<String>| {
        let node = first.then(|| node(&shared.workload));
        first = false;
        DiscoveryRequest {
            node,
            type_url,
            resource_names: names,
            ..Default::default()
        }
    };
    let secret_url = Secret::type_url();
    let mut pending: Vec<DiscoveryRequest> = CONFIG_TYPES
        .iter()
        .map(|(v, k)| request(type_url(v, k), Vec::new()))
        .collect();
    pending.push(request(
        secret_url.clone(),
        vec![
            mesh_xds::tls::SECRET_DEFAULT.to_string(),
            mesh_xds::tls::SECRET_ROOTCA.to_string(),
        ],
    ));
    for r in pending {
        tx.send(r).await.map_err(|e| e.to_string())?;
    }
    let response = client
        .stream_aggregated_resources(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(|e| e.to_string())?;
    let mut inbound = response.into_inner();
    let mut seen: HashMap<String, bool> = HashMap::new();
    let mut secrets = Secrets::default();
    let mut applied_once = false;
    let mut good = configs.clone();
    loop {
        let msg: DiscoveryResponse = match inbound.message().await {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        let mut error = None;
        if msg.type_url == secret_url {
            for any in &msg.resources {
                let Ok(s) = Secret::decode(any.value.as_slice()) else {
                    continue;
                };
                match s.r#type {
                    Some(secret::Type::TlsCertificate(t)) => {
                        secrets.chain = data(t.certificate_chain.as_ref());
                        secrets.key = data(t.private_key.as_ref());
                    }
                    Some(secret::Type::ValidationContext(v)) => {
                        secrets.root = data(v.trusted_ca.as_ref());
                    }
                    _ => {}
                }
            }
            if let (Some(c), Some(k), Some(r)) = (&secrets.chain, &secrets.key, &secrets.root) {
                match Identity::from_pem(c, k, r) {
                    Ok(id) => {
                        tracing::info!(identity = %id.spiffe_id, "workload certificate installed");
                        shared.set_identity(Arc::new(id));
                        // Readiness may wait on the certificate.
                        shared.config_version.send_modify(|_| {});
                    }
                    Err(e) => error = Some(format!("secret: {e}")),
                }
            }
        } else if is_config_type(&msg.type_url) {
            let mut items = Vec::new();
            for any in &msg.resources {
                match decode(any) {
                    Some(json) => items.push((format!("ads:{}", msg.type_url), json)),
                    None => {
                        error = Some(format!(
                            "a resource of {} is not a StringValue",
                            msg.type_url
                        ));
                    }
                }
            }
            configs.insert(msg.type_url.clone(), items);
            seen.insert(msg.type_url.clone(), true);
            let all = CONFIG_TYPES
                .iter()
                .all(|(v, k)| seen.contains_key(&type_url(v, k)));
            if all || applied_once {
                let sources: Vec<(&str, &str)> = configs
                    .values()
                    .flatten()
                    .map(|(l, t)| (l.as_str(), t.as_str()))
                    .collect();
                match shared.apply_checked(&sources) {
                    Ok(()) => {
                        applied_once = true;
                        good = configs.clone();
                    }
                    Err(errors) => {
                        // NACK: the last good configuration stays in force,
                        // and is what later responses build on.
                        error = Some(errors.join("; "));
                        *configs = good.clone();
                    }
                }
            }
        }
        let ack = DiscoveryRequest {
            type_url: msg.type_url.clone(),
            version_info: if error.is_none() {
                msg.version_info.clone()
            } else {
                String::new()
            },
            response_nonce: msg.nonce.clone(),
            resource_names: if msg.type_url == secret_url {
                vec![
                    mesh_xds::tls::SECRET_DEFAULT.to_string(),
                    mesh_xds::tls::SECRET_ROOTCA.to_string(),
                ]
            } else {
                Vec::new()
            },
            error_detail: error.map(|m| RpcStatus {
                code: 3,
                message: m,
                details: Vec::new(),
            }),
            ..Default::default()
        };
        tx.send(ack).await.map_err(|e| e.to_string())?;
    }
}
