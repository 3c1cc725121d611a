//! The sample mesh's tiny applications: productpage calls details and
//! reviews, reviews v2/v3 call ratings. Each calls its dependencies
//! through its own sidecar's egress listener and forwards the request's
//! `end-user` and trace headers, as bookinfo's applications do. Every app
//! also answers `/call?host=H&path=P` (a call through its sidecar), which
//! the demo uses to show requests that policies deny.

use crate::proxy::upstream::Pool;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What an application is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    /// Calls details and reviews.
    Productpage,
    /// Book details.
    Details,
    /// Reviews of one version (v2 and v3 call ratings).
    Reviews(u8),
    /// Star ratings.
    Ratings,
}

const FORWARDED: [&str; 9] = [
    "end-user",
    "authorization",
    "x-request-id",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "traceparent",
    "tracestate",
];

struct App {
    kind: AppKind,
    egress: SocketAddr,
    pool: Arc<Pool>,
}

impl App {
    async fn call(&self, host: &str, path: &str, incoming: &hyper::HeaderMap) -> (u16, Value) {
        let mut req = Request::new(Full::new(Bytes::new()));
        *req.uri_mut() = path
            .parse()
            .unwrap_or_else(|_| hyper::Uri::from_static("/"));
        if let Ok(v) = format!("{host}:9080").parse() {
            req.headers_mut().insert("host", v);
        }
        for h in FORWARDED {
            if let Some(v) = incoming.get(h) {
                req.headers_mut().insert(h, v.clone());
            }
        }
        match self
            .pool
            .send(self.egress, None, None, req, Duration::from_secs(2))
            .await
        {
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r
                    .into_body()
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                let v = serde_json::from_slice(&body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
                (status, v)
            }
            Err(e) => (503, Value::String(e.to_string())),
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> (u16, Value) {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let headers = req.headers().clone();
        let peer = headers
            .get("x-forwarded-client-cert")
            .and_then(|v| v.to_str().ok())
            .and_then(|x| x.split(';').find_map(|p| p.strip_prefix("URI=")))
            .map(str::to_string);
        if path == "/call" {
            let mut host = "";
            let mut target = "/";
            for kv in query.split('&') {
                match kv.split_once('=') {
                    Some(("host", h)) => host = h,
                    Some(("path", p)) => target = p,
                    _ => {}
                }
            }
            let (status, body) = self.call(host, target, &headers).await;
            return (200, json!({"status": status, "body": body}));
        }
        match self.kind {
            AppKind::Productpage => {
                let (ds, details) = self.call("details", "/details/0", &headers).await;
                let (rs, reviews) = self.call("reviews", "/reviews/0", &headers).await;
                let status = if ds == 200 && rs == 200 { 200 } else { 503 };
                (
                    status,
                    json!({"details": details, "reviews": reviews, "peer": peer}),
                )
            }
            AppKind::Details => (
                200,
                json!({"id": 0, "author": "William Shakespeare", "pages": 200, "peer": peer}),
            ),
            AppKind::Reviews(v) => {
                if v == 1 {
                    return (200, json!({"version": "v1", "peer": peer}));
                }
                let (s, ratings) = self.call("ratings", "/ratings/0", &headers).await;
                let color = if v == 2 { "black" } else { "red" };
                (
                    if s == 200 { 200 } else { 503 },
                    json!({"version": format!("v{v}"), "stars": ratings["stars"], "color": color, "ratings_status": s, "peer": peer}),
                )
            }
            AppKind::Ratings => (200, json!({"stars": 5, "peer": peer})),
        }
    }
}

/// Starts an application on `listener`; it calls out through `egress`.
pub fn start(kind: AppKind, listener: TcpListener, egress: SocketAddr) -> JoinHandle<()> {
    let app = Arc::new(App {
        kind,
        egress,
        pool: Arc::default(),
    });
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                continue;
            };
            let _ = s.set_nodelay(true);
            let app = app.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let app = app.clone();
                    async move {
                        let (status, body) = app.handle(req).await;
                        let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
                        *r.status_mut() =
                            hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
                        r.headers_mut().insert(
                            "content-type",
                            hyper::header::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    })
}
