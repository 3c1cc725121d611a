//! gRPC streams whose messages are written as shared bytes.
//!
//! A push sends the same resources to every proxy of a shape. Encoding a
//! message per stream (as a generated tonic server does) costs a copy of
//! every resource per proxy, and tonic's per-stream encode buffer keeps
//! the capacity of the largest message it ever held for the life of the
//! stream. Here a message is a list of [`Bytes`] pieces, most of them
//! shared by every stream (encoded once per resource set), and the
//! response body hands them to HTTP/2 as they are: a stream holds no
//! encoded bytes of its own beyond the small per-stream pieces (the nonce).
//!
//! Protobuf fields may come in any order and repeated fields concatenate,
//! so the pieces of a message are each an encoding of some of its fields:
//! their concatenation is the encoding of the whole message.

use bytes::{Bytes, BytesMut};
use http_body::Frame;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tonic::Status;

/// One gRPC message: the length-prefixed frame header and the pieces of
/// the encoded message, in order.
#[derive(Debug, Clone)]
pub struct Message {
    parts: Vec<Bytes>,
}

impl Message {
    /// The message whose encoding is the concatenation of `pieces`.
    pub fn new(mut pieces: Vec<Bytes>) -> Result<Message, Status> {
        let len: usize = pieces.iter().map(Bytes::len).sum();
        let len = u32::try_from(len).map_err(|_| {
            Status::resource_exhausted(format!("a message of {len} bytes is too large for gRPC"))
        })?;
        // Not compressed (0), then the length, big-endian.
        let mut header = [0u8; 5];
        header[1..].copy_from_slice(&len.to_be_bytes());
        pieces.insert(0, Bytes::copy_from_slice(&header));
        pieces.retain(|p| !p.is_empty());
        Ok(Message { parts: pieces })
    }
}

/// Where a stream's driver sends its messages, or the status that ends the
/// stream.
pub type Outbound = mpsc::Sender<Result<Message, Status>>;

/// The body of a streaming gRPC response: the messages sent on its
/// [`Outbound`], then the `grpc-status` trailers (OK when every sender is
/// gone, or the status sent).
#[derive(Debug)]
pub struct ResponseBody {
    rx: mpsc::Receiver<Result<Message, Status>>,
    pending: std::vec::IntoIter<Bytes>,
    done: bool,
}

/// A response stream holding at most `capacity` messages not yet taken by
/// HTTP/2.
pub fn channel(capacity: usize) -> (Outbound, ResponseBody) {
    let (tx, rx) = mpsc::channel(capacity);
    (
        tx,
        ResponseBody {
            rx,
            pending: Vec::new().into_iter(),
            done: false,
        },
    )
}

impl ResponseBody {
    /// The HTTP response carrying this body.
    pub fn into_response(self) -> http::Response<tonic::body::Body> {
        let mut r = http::Response::new(tonic::body::Body::new(self));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/grpc"),
        );
        r
    }

    fn trailers(&mut self, status: &Status) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        self.done = true;
        self.rx.close();
        let mut trailers = http::HeaderMap::new();
        if let Err(e) = status.add_header(&mut trailers) {
            trailers.clear();
            let _ = Status::internal(e.message().to_string()).add_header(&mut trailers);
        }
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        loop {
            if let Some(b) = self.pending.next() {
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match std::task::ready!(self.rx.poll_recv(cx)) {
                Some(Ok(m)) => self.pending = m.parts.into_iter(),
                Some(Err(status)) => return self.trailers(&status),
                None => return self.trailers(&Status::ok("")),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.pending.len() == 0
    }
}

/// The messages of a streaming gRPC request, decoded with prost.
///
/// Like tonic's `Streaming`, but the buffer of a message is released once
/// the message is decoded: a stream whose proxy once sent a large request
/// (a subscription to a thousand names) does not keep that much memory for
/// the rest of its life.
pub struct Requests<T> {
    body: UnsyncBoxBody<Bytes, Status>,
    buf: BytesMut,
    max_message_size: usize,
    ended: bool,
    message: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Requests<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requests")
            .field("buffered", &self.buf.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// The frame header: a compression flag and the message length.
const HEADER: usize = 5;

impl<T: prost::Message + Default> Requests<T> {
    /// The messages of `request`. Only uncompressed requests are accepted
    /// (as a tonic server without compression features does).
    pub fn new<B>(request: http::Request<B>, max_message_size: usize) -> Result<Requests<T>, Status>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Some(encoding) = request.headers().get("grpc-encoding")
            && encoding != "identity"
        {
            return Err(Status::unimplemented(format!(
                "Content is compressed with `{}` which isn't supported",
                encoding.to_str().unwrap_or("?")
            )));
        }
        Ok(Requests {
            body: request
                .into_body()
                .map_err(|e| Status::from_error(e.into()))
                .boxed_unsync(),
            buf: BytesMut::new(),
            max_message_size,
            ended: false,
            message: PhantomData,
        })
    }

    /// The next message; `None` when the client has finished sending (or
    /// cancelled).
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        loop {
            if let Some(m) = self.decode()? {
                return Ok(Some(m));
            }
            if self.ended {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(Status::internal("Unexpected EOF decoding stream."))
                };
            }
            match self.body.frame().await {
                None => self.ended = true,
                Some(Err(status)) if status.code() == tonic::Code::Cancelled => self.ended = true,
                Some(Err(status)) => return Err(status),
                Some(Ok(frame)) => {
                    // Trailers carry nothing a request needs.
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    fn decode(&mut self) -> Result<Option<T>, Status> {
        if self.buf.len() < HEADER {
            return Ok(None);
        }
        match self.buf[0] {
            0 => {}
            1 => {
                return Err(Status::internal(
                    "protocol error: received message with compressed-flag but no grpc-encoding was specified",
                ));
            }
            f => {
                return Err(Status::internal(format!(
                    "protocol error: received message with invalid compression flag: {f}"
                )));
            }
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > self.max_message_size {
            return Err(Status::out_of_range(format!(
                "Error, decoded message length too large: found {len} bytes, the limit is: {} bytes",
                self.max_message_size
            )));
        }
        if self.buf.len() < HEADER + len {
            self.buf.reserve(HEADER + len - self.buf.len());
            return Ok(None);
        }
        let m = T::decode(&self.buf[HEADER..HEADER + len])
            .map_err(|e| Status::internal(format!("Error decoding: {e}")))?;
        if self.buf.len() == HEADER + len {
            // Release the buffer rather than keep its capacity.
            self.buf = BytesMut::new();
        } else {
            let _ = self.buf.split_to(HEADER + len);
        }
        Ok(Some(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn a_body_frames_its_messages_and_ends_with_the_status() {
        let (tx, body) = channel(4);
        let shared = Bytes::from_static(b"\x0a\x01v");
        tx.send(Message::new(vec![
            shared.clone(),
            Bytes::from_static(b"\x2a\x01n"),
        ]))
        .await
        .unwrap();
        tx.send(Err(Status::unavailable("bye"))).await.unwrap();
        drop(tx);
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().cloned().unwrap();
        assert_eq!(trailers.get("grpc-status").unwrap(), "14");
        assert_eq!(trailers.get("grpc-message").unwrap(), "bye");
        assert_eq!(
            &collected.to_bytes()[..],
            b"\x00\x00\x00\x00\x06\x0a\x01v\x2a\x01n"
        );
    }

    #[tokio::test]
    async fn requests_are_decoded_across_frames_and_the_buffer_is_released() {
        use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
        use prost::Message as _;
        let framed = |r: &DiscoveryRequest| {
            let m = r.encode_to_vec();
            let mut v = vec![0];
            v.extend_from_slice(&u32::try_from(m.len()).unwrap().to_be_bytes());
            v.extend_from_slice(&m);
            v
        };
        let a = DiscoveryRequest {
            type_url: "a".into(),
            resource_names: (0..1000).map(|i| format!("name-{i}")).collect(),
            ..Default::default()
        };
        let b = DiscoveryRequest {
            type_url: "b".into(),
            ..Default::default()
        };
        let mut wire = framed(&a);
        wire.extend(framed(&b));
        // Split in three frames, the first inside a's header.
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
            Ok(Frame::data(Bytes::copy_from_slice(&wire[..3]))),
            Ok(Frame::data(Bytes::copy_from_slice(&wire[3..5000]))),
            Ok(Frame::data(Bytes::copy_from_slice(&wire[5000..]))),
        ];
        let body = http_body_util::StreamBody::new(tokio_stream::iter(frames));
        let mut r = Requests::<DiscoveryRequest>::new(http::Request::new(body), 1 << 20).unwrap();
        assert_eq!(r.message().await.unwrap(), Some(a));
        assert_eq!(r.message().await.unwrap(), Some(b));
        assert_eq!(r.buf.capacity(), 0);
        assert_eq!(r.message().await.unwrap(), None);

        let big = Full::new(Bytes::from(framed(&DiscoveryRequest {
            type_url: "c".repeat(100),
            ..Default::default()
        })));
        let mut r = Requests::<DiscoveryRequest>::new(http::Request::new(big), 10).unwrap();
        assert_eq!(
            r.message().await.unwrap_err().code(),
            tonic::Code::OutOfRange
        );
    }

    #[tokio::test]
    async fn a_body_ends_ok_when_its_sender_is_gone() {
        let (tx, body) = channel(1);
        drop(tx);
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().cloned().unwrap();
        assert_eq!(trailers.get("grpc-status").unwrap(), "0");
        assert!(collected.to_bytes().is_empty());
    }
}
