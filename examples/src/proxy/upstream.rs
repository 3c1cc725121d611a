//! Upstream connections: plaintext or Istio mTLS (rustls), HTTP/1.1,
//! pooled per endpoint and TLS settings. A connection returns to the pool
//! when its response body has been read to the end; a connection that
//! closed is dropped; a request that a pooled connection could not send
//! (the peer closed it meanwhile) is sent again on a new connection.

use super::state::UpstreamTls;
use super::tls::{Identity, server_name};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

/// Why an upstream request failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The connection could not be made (refused, timed out, TLS failed):
    /// Envoy's `UF`.
    #[error("upstream connect error: {0}")]
    Connect(String),
    /// The connection broke before a response arrived: Envoy's `UC`/reset.
    #[error("upstream reset: {0}")]
    Reset(String),
}

/// A pool key: where, and how secured.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    addr: SocketAddr,
    tls: Option<UpstreamTls>,
}

type Sender = SendRequest<Full<Bytes>>;

/// Idle connections by endpoint.
#[derive(Debug, Default)]
pub struct Pool {
    idle: Mutex<HashMap<Key, Vec<Sender>>>,
}

/// At most this many idle connections per endpoint.
const MAX_IDLE: usize = 64;

impl Pool {
    fn take(&self, key: &Key) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(key)?;
        while let Some(s) = list.pop() {
            if s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    fn put(&self, key: Key, s: Sender) {
        if s.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(key).or_default();
        if list.len() < MAX_IDLE {
            list.push(s);
        }
    }

    /// Sends `req` to `addr` (over mTLS with `identity` when `tls` is set)
    /// and returns the response, whose body streams from the connection.
    pub async fn send(
        self: &Arc<Self>,
        addr: SocketAddr,
        tls: Option<&UpstreamTls>,
        identity: Option<&Arc<Identity>>,
        req: Request<Full<Bytes>>,
        connect_timeout: Duration,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        let key = Key {
            addr,
            tls: tls.cloned(),
        };
        let mut req = req;
        if let Some(mut s) = self.take(&key) {
            match s.try_send_request(req).await {
                Ok(resp) => return Ok(self.wrap(key, s, resp)),
                Err(mut e) => match e.take_message() {
                    Some(r) => req = r,
                    None => return Err(UpstreamError::Reset(e.into_error().to_string())),
                },
            }
        }
        let mut s = connect(addr, tls, identity, connect_timeout).await?;
        match s.send_request(req).await {
            Ok(resp) => Ok(self.wrap(key, s, resp)),
            Err(e) => Err(UpstreamError::Reset(e.to_string())),
        }
    }

    fn wrap(
        self: &Arc<Self>,
        key: Key,
        s: Sender,
        resp: Response<Incoming>,
    ) -> Response<PooledBody> {
        resp.map(|b| {
            let done = b.is_end_stream();
            let mut body = PooledBody {
                inner: b,
                back: Some((self.clone(), key, s)),
                bytes: 0,
            };
            if done {
                body.release();
            }
            body
        })
    }
}

async fn connect(
    addr: SocketAddr,
    tls: Option<&UpstreamTls>,
    identity: Option<&Arc<Identity>>,
    timeout: Duration,
) -> Result<Sender, UpstreamError> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| UpstreamError::Connect(format!("{addr}: connect timeout")))?
        .map_err(|e| UpstreamError::Connect(format!("{addr}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    match tls {
        None => handshake(TokioIo::new(tcp)).await,
        Some(t) => {
            let Some(id) = identity else {
                return Err(UpstreamError::Connect(format!(
                    "{addr}: mTLS required and no workload certificate yet"
                )));
            };
            let config = id
                .client_config(&t.sans)
                .map_err(|e| UpstreamError::Connect(e.to_string()))?;
            let connector = tokio_rustls::TlsConnector::from(config);
            let stream = tokio::time::timeout(timeout, connector.connect(server_name(&t.sni), tcp))
                .await
                .map_err(|_| UpstreamError::Connect(format!("{addr}: TLS handshake timeout")))?
                .map_err(|e| UpstreamError::Connect(format!("{addr}: TLS: {e}")))?;
            handshake(TokioIo::new(stream)).await
        }
    }
}

async fn handshake<T>(io: T) -> Result<Sender, UpstreamError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (s, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(io)
        .await
        .map_err(|e| UpstreamError::Connect(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(s)
}

/// A response body from a pooled connection: the connection goes back to
/// the pool when the body ends.
pub struct PooledBody {
    inner: Incoming,
    back: Option<(Arc<Pool>, Key, Sender)>,
    bytes: u64,
}

impl std::fmt::Debug for PooledBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBody").finish_non_exhaustive()
    }
}

impl PooledBody {
    fn release(&mut self) {
        if let Some((pool, key, s)) = self.back.take() {
            pool.put(key, s);
        }
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    self.bytes += d.len() as u64;
                }
                if self.inner.is_end_stream() {
                    self.release();
                }
            }
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Err(_))) => self.back = None,
            Poll::Pending => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
