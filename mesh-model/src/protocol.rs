//! Istio's port protocols and their inference from port names.

use serde::Serialize;
use std::fmt;

/// A port protocol as Istio understands it (`protocol.Instance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Protocol {
    /// HTTP/1.1.
    Http,
    /// HTTP/2.
    Http2,
    /// HTTP CONNECT proxy.
    HttpProxy,
    /// gRPC.
    Grpc,
    /// gRPC-Web.
    GrpcWeb,
    /// HTTPS (TLS carrying HTTP).
    Https,
    /// TLS.
    Tls,
    /// Opaque TCP.
    Tcp,
    /// UDP.
    Udp,
    /// MongoDB.
    Mongo,
    /// Redis.
    Redis,
    /// MySQL.
    Mysql,
    /// Not declared: detected from the first bytes.
    Unsupported,
}

impl Protocol {
    /// Parses a protocol name case-insensitively (`protocol.Parse`);
    /// unknown names are `Unsupported`.
    pub fn parse(s: &str) -> Protocol {
        match s.to_ascii_lowercase().as_str() {
            "http" => Protocol::Http,
            "http2" => Protocol::Http2,
            "http_proxy" => Protocol::HttpProxy,
            "grpc" => Protocol::Grpc,
            "grpc-web" => Protocol::GrpcWeb,
            "https" => Protocol::Https,
            "tls" => Protocol::Tls,
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "mongo" => Protocol::Mongo,
            "redis" => Protocol::Redis,
            "mysql" => Protocol::Mysql,
            _ => Protocol::Unsupported,
        }
    }

    /// The protocol of a Kubernetes service port: `appProtocol` first,
    /// else the port name's prefix before `-` (`http-web` → HTTP).
    pub fn from_port_name(app_protocol: Option<&str>, name: Option<&str>) -> Protocol {
        if let Some(a) = app_protocol {
            let p = match a.to_ascii_lowercase().as_str() {
                "kubernetes.io/h2c" => Protocol::Http2,
                "kubernetes.io/ws" | "kubernetes.io/wss" => Protocol::Http,
                other => Protocol::parse(other),
            };
            if p != Protocol::Unsupported {
                return p;
            }
        }
        let Some(name) = name else {
            return Protocol::Unsupported;
        };
        let prefix = name.split('-').next().unwrap_or(name);
        Protocol::parse(prefix)
    }

    /// Whether the protocol carries HTTP in clear text (HTTP, HTTP2, gRPC, gRPC-Web).
    pub fn is_http(self) -> bool {
        matches!(
            self,
            Protocol::Http | Protocol::Http2 | Protocol::Grpc | Protocol::GrpcWeb
        )
    }

    /// Whether the protocol is HTTP/2-based (HTTP2, gRPC, gRPC-Web).
    pub fn is_http2(self) -> bool {
        matches!(self, Protocol::Http2 | Protocol::Grpc | Protocol::GrpcWeb)
    }

    /// Whether the protocol is TLS-based (HTTPS, TLS).
    pub fn is_tls(self) -> bool {
        matches!(self, Protocol::Https | Protocol::Tls)
    }

    /// Whether the protocol is opaque TCP (including Mongo, Redis, MySQL, TLS).
    pub fn is_tcp(self) -> bool {
        matches!(
            self,
            Protocol::Tcp
                | Protocol::Https
                | Protocol::Tls
                | Protocol::Mongo
                | Protocol::Redis
                | Protocol::Mysql
        )
    }

    /// The canonical name (`HTTP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Http2 => "HTTP2",
            Protocol::HttpProxy => "HTTP_PROXY",
            Protocol::Grpc => "GRPC",
            Protocol::GrpcWeb => "GRPC-Web",
            Protocol::Https => "HTTPS",
            Protocol::Tls => "TLS",
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Mongo => "Mongo",
            Protocol::Redis => "Redis",
            Protocol::Mysql => "MySQL",
            Protocol::Unsupported => "UnsupportedProtocol",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inference() {
        assert_eq!(
            Protocol::from_port_name(None, Some("http-web")),
            Protocol::Http
        );
        assert_eq!(Protocol::from_port_name(None, Some("grpc")), Protocol::Grpc);
        assert_eq!(
            Protocol::from_port_name(Some("http2"), Some("tcp")),
            Protocol::Http2
        );
        assert_eq!(
            Protocol::from_port_name(None, Some("web")),
            Protocol::Unsupported
        );
        assert_eq!(Protocol::parse("HTTPS"), Protocol::Https);
    }
}
