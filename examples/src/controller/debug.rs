//! The debug port: `/debug/proxies` (each connected proxy, the version it
//! last ACKed per type, its last NACK; JSON), `/debug/config` (each config
//! origin and its diagnostics; JSON), `/metrics` (Prometheus text) and
//! `/ready`.

use super::hub::Hub;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn json(v: &impl serde::Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_string_pretty(v) {
        Ok(s) => respond(StatusCode::OK, "application/json", s),
        Err(e) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            e.to_string(),
        ),
    }
}

/// Answers one debug request.
pub fn handle(hub: &Hub, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match path {
        "/debug/proxies" | "/debug/syncz" => json(&hub.statuses()),
        "/debug/config" => json(&serde_json::json!({
            "generation": hub.current().id,
            "origins": hub.config_status(),
        })),
        "/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            hub.metrics.render(),
        ),
        "/ready" => respond(StatusCode::OK, "text/plain", "ready\n".into()),
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            "endpoints: /debug/proxies /debug/config /metrics /ready\n".into(),
        ),
    }
}

/// Serves the debug port until `shutdown` turns true.
pub async fn serve(hub: Arc<Hub>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "debug port: accept failed");
                continue;
            }
        };
        let hub = hub.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let r = handle(&hub, req.method(), req.uri().path());
                async move { Ok::<_, Infallible>(r) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "debug port connection");
            }
        });
    }
}
