//! The controller: config sources (a watched directory, optionally a
//! Kubernetes cluster) merged into one mesh, compiled per proxy, served
//! over ADS (state of the world and delta) with workload certificates over
//! SDS from the mesh CA, and a debug port. After a change, each proxy shape
//! is compiled from its previous compile ([`mesh_xds::Compiler::recompile`]),
//! and resources the change left alone keep their versions and encodings.
//!
//! ```text
//!  files ─┐                       ┌─ compile per proxy shape (Arc-shared)
//!  kube ──┴─ Store ─ Snapshot ─ Hub ─ ADS streams ─ Envoy
//!                                 ├─ CA (SDS `default`, `ROOTCA`)
//!                                 └─ debug port (/debug/proxies, /metrics)
//! ```

pub mod ads;
#[cfg(test)]
mod ads_tests;
pub mod bootstrap;
pub mod ca;
pub mod debug;
pub mod files;
pub mod grpc;
pub mod hub;
#[cfg(feature = "kube")]
pub mod kube;
pub mod metrics;
pub mod store;

use hub::{CompileFn, Hub, HubOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::Store;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// The config sources' shared store, and a signal that the mesh changed.
#[derive(Debug, Default)]
pub struct Sources {
    store: Mutex<Store>,
    changed: Notify,
    status: Notify,
}

impl Sources {
    /// The store.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the publisher that the mesh changed.
    pub fn changed(&self) {
        self.changed.notify_one();
    }

    /// Tells the publisher that only the diagnostics changed.
    pub fn status_changed(&self) {
        self.status.notify_one();
    }
}

/// How to run the controller.
#[derive(Debug, Clone)]
pub struct Options {
    /// A directory of YAML/JSON config, watched.
    pub config_dir: Option<PathBuf>,
    /// Config texts loaded at start, as (label, text): a program that
    /// embeds its mesh (the demo) passes it here. Change them later through
    /// [`Controller::sources`].
    pub inline: Vec<(String, String)>,
    /// Read the mesh from the Kubernetes cluster of the ambient kubeconfig.
    #[cfg(feature = "kube")]
    pub kube: bool,
    /// The ADS (gRPC) address.
    pub ads: SocketAddr,
    /// The debug (HTTP) address.
    pub debug: SocketAddr,
    /// A directory holding the root (`root-cert.pem`, `root-key.pem`),
    /// generated there at first start; `None` keeps a new root in memory.
    pub ca_dir: Option<PathBuf>,
    /// The trust domain (else the mesh config's).
    pub trust_domain: Option<String>,
    /// Workload certificate lifetime (renewed at half).
    pub cert_lifetime: Duration,
    /// How often the directory is polled.
    pub poll: Duration,
    /// Quiet time after a config change before the mesh is rebuilt.
    pub debounce: Duration,
    /// Quiet time after a new mesh before connections push.
    pub push_debounce: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config_dir: None,
            inline: Vec::new(),
            #[cfg(feature = "kube")]
            kube: false,
            ads: SocketAddr::from(([127, 0, 0, 1], 15010)),
            debug: SocketAddr::from(([127, 0, 0, 1], 15014)),
            ca_dir: None,
            trust_domain: None,
            cert_lifetime: Duration::from_secs(24 * 3600),
            poll: Duration::from_millis(200),
            debounce: Duration::from_millis(50),
            push_debounce: Duration::from_millis(20),
        }
    }
}

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A port could not be bound.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The CA could not start.
    #[error("CA: {0}")]
    Ca(#[from] ca::CaError),
    /// The config directory is not a directory.
    #[error("{0}: not a directory")]
    NotADirectory(String),
    /// The Kubernetes source could not start.
    #[error("kubernetes: {0}")]
    Kube(String),
}

/// A running controller.
#[derive(Debug)]
pub struct Controller {
    /// The shared state.
    pub hub: Arc<Hub>,
    /// The config sources.
    pub sources: Arc<Sources>,
    /// The bound ADS address.
    pub ads_addr: SocketAddr,
    /// The bound debug address.
    pub debug_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

fn config_status(sources: &Sources) -> serde_json::Value {
    serde_json::to_value(sources.store().status()).unwrap_or_default()
}

impl Controller {
    /// Loads the config, binds the ports and starts serving.
    pub async fn start(opts: Options, compile: CompileFn) -> Result<Controller, StartError> {
        let sources = Arc::new(Sources::default());
        let mut dir = None;
        if let Some(d) = &opts.config_dir {
            if !d.is_dir() {
                return Err(StartError::NotADirectory(d.display().to_string()));
            }
            let mut source = files::DirSource::new(d.clone());
            source.load_all(&sources);
            dir = Some(source);
        }
        #[cfg(feature = "kube")]
        let kube_client = if opts.kube {
            Some(
                kube::initial_load(&sources)
                    .await
                    .map_err(|e| StartError::Kube(e.to_string()))?,
            )
        } else {
            None
        };
        for (label, text) in &opts.inline {
            sources.store().update(label, text);
        }
        let mesh = sources.store().mesh();
        let snapshot = &mesh.snapshot;
        let trust_domain = opts
            .trust_domain
            .clone()
            .unwrap_or_else(|| snapshot.trust_domain().to_string());
        let ca = Arc::new(match &opts.ca_dir {
            Some(d) => ca::Ca::load_or_generate(d, &trust_domain, opts.cert_lifetime)?,
            None => ca::Ca::generate(&trust_domain, opts.cert_lifetime)?,
        });
        let hub = Hub::new(
            mesh,
            compile,
            ca,
            HubOptions {
                push_debounce: opts.push_debounce,
                domain_suffix: "cluster.local".into(),
            },
        );
        hub.set_config_status(config_status(&sources));
        let ads_listener =
            TcpListener::bind(opts.ads)
                .await
                .map_err(|source| StartError::Bind {
                    addr: opts.ads,
                    source,
                })?;
        let debug_listener =
            TcpListener::bind(opts.debug)
                .await
                .map_err(|source| StartError::Bind {
                    addr: opts.debug,
                    source,
                })?;
        let ads_addr = ads_listener.local_addr().unwrap_or(opts.ads);
        let debug_addr = debug_listener.local_addr().unwrap_or(opts.debug);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(serve_ads(
            hub.clone(),
            ads_listener,
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(debug::serve(
            hub.clone(),
            debug_listener,
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(publish(
            hub.clone(),
            sources.clone(),
            opts.debounce,
            shutdown_rx.clone(),
        )));
        if let Some(d) = dir {
            tasks.push(tokio::spawn(files::watch(
                d,
                sources.clone(),
                opts.poll,
                shutdown_rx.clone(),
            )));
        }
        #[cfg(feature = "kube")]
        if let Some(client) = kube_client {
            tasks.push(tokio::spawn(kube::watch(
                client,
                sources.clone(),
                shutdown_rx.clone(),
            )));
        }
        tracing::info!(ads = %ads_addr, debug = %debug_addr, "controller started");
        Ok(Controller {
            hub,
            sources,
            ads_addr,
            debug_addr,
            shutdown,
            tasks,
        })
    }

    /// Stops serving: open ADS streams end with `UNAVAILABLE`, the ports
    /// close.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

/// Serves ADS on `listener` as the controller does (no Nagle delay on
/// accepted connections, HTTP/2 keepalive) until `shutdown` turns true.
pub async fn serve_ads(hub: Arc<Hub>, listener: TcpListener, shutdown: watch::Receiver<bool>) {
    use tokio_stream::StreamExt;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|s| {
        if let Ok(s) = &s {
            let _ = s.set_nodelay(true);
        }
        s
    });
    let mut stop = shutdown.clone();
    let result = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(ads::AdsService::new(hub, shutdown).into_server())
        .serve_with_incoming_shutdown(incoming, async move {
            while !*stop.borrow_and_update() {
                if stop.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "ADS server stopped");
    }
}

/// Rebuilds and publishes the mesh after each change, once the sources
/// have been quiet for `debounce`.
async fn publish(
    hub: Arc<Hub>,
    sources: Arc<Sources>,
    debounce: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let mesh_changed = tokio::select! {
            () = sources.changed.notified() => true,
            () = sources.status.notified() => false,
            _ = shutdown.changed() => return,
        };
        if mesh_changed {
            tokio::time::sleep(debounce).await;
            let mesh = sources.store().mesh();
            hub.publish(mesh);
        }
        hub.set_config_status(config_status(&sources));
    }
}
