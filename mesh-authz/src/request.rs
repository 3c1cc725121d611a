//! What the engine knows about a request or connection: the attributes an
//! inbound sidecar sees (peer identity and addresses, HTTP headers, the
//! payload of a validated JWT).
//!
//! Building a [`Request`] allocates (header names are lower-cased; a
//! repeated header keeps each occurrence, which header matchers test one
//! at a time as Envoy 1.40 does, and a `,`-joined view); deciding on it
//! does not.

use crate::matcher::SPIFFE_PREFIX;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// A request to a workload (HTTP) or a connection (TCP).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    tcp: bool,
    method: Option<String>,
    host: Option<String>,
    path: Option<String>,
    headers: Vec<(String, String)>,
    occurrences: Vec<(String, String)>,
    port: Option<u16>,
    peer: Option<String>,
    source_ip: Option<IpAddr>,
    remote_ip: Option<IpAddr>,
    destination_ip: Option<IpAddr>,
    sni: Option<String>,
    jwt: Option<Arc<JwtPayload>>,
    jwt_rejected: Option<JwtRejection>,
    metadata: BTreeMap<String, Value>,
}

impl Request {
    /// An HTTP request with a method and a path (which may carry a query).
    ///
    /// ```
    /// use mesh_authz::request::Request;
    /// let r = Request::http("GET", "/books?id=1")
    ///     .with_host("books.example.com")
    ///     .with_header("X-Token", "a")
    ///     .with_header("x-token", "b")
    ///     .with_port(8080)
    ///     .with_peer_principal("cluster.local/ns/shop/sa/web");
    /// assert_eq!(r.header("x-token"), Some("a,b"));
    /// assert_eq!(r.peer_uri(), Some("spiffe://cluster.local/ns/shop/sa/web"));
    /// ```
    pub fn http(method: &str, path: &str) -> Request {
        Request {
            method: Some(method.to_string()),
            path: Some(path.to_string()),
            ..Request::default()
        }
    }

    /// A TCP connection: HTTP attributes are absent (AZ-30).
    pub fn tcp() -> Request {
        Request {
            tcp: true,
            ..Request::default()
        }
    }

    /// Sets `:authority` (hosts, AZ-20: includes `:port` when sent).
    pub fn with_host(mut self, host: &str) -> Request {
        self.host = Some(host.to_string());
        self
    }

    /// Adds a header; a repeated name keeps each occurrence (see
    /// [`header_values`](Self::header_values)) and joins them with `,` in
    /// [`header`](Self::header).
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            ":authority" | "host" if self.host.is_none() => self.host = Some(value.to_string()),
            ":method" => self.method = Some(value.to_string()),
            ":path" => self.path = Some(value.to_string()),
            _ => {
                self.occurrences.push((name.clone(), value.to_string()));
                match self.headers.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, v)) => {
                        v.push(',');
                        v.push_str(value);
                    }
                    None => self.headers.push((name, value.to_string())),
                }
            }
        }
        self
    }

    /// Sets the local (workload target) port (`ports`, `destination.port`).
    pub fn with_port(mut self, port: u16) -> Request {
        self.port = Some(port);
        self
    }

    /// Sets the peer's identity from mTLS, as a principal `td/ns/NS/sa/SA`
    /// (stored as the URI SAN `spiffe://td/ns/NS/sa/SA`). Without it the
    /// peer is plaintext and has no identity (AZ-22).
    pub fn with_peer_principal(mut self, principal: &str) -> Request {
        let p = principal.strip_prefix(SPIFFE_PREFIX).unwrap_or(principal);
        self.peer = Some(format!("{SPIFFE_PREFIX}{p}"));
        self
    }

    /// Sets the peer's address (`ipBlocks`, `source.ip`).
    pub fn with_source_ip(mut self, ip: IpAddr) -> Request {
        self.source_ip = Some(ip);
        self
    }

    /// Sets the original client address from `X-Forwarded-For` or the
    /// PROXY protocol (`remoteIpBlocks`, `remote.ip`); the peer address when
    /// unset.
    pub fn with_remote_ip(mut self, ip: IpAddr) -> Request {
        self.remote_ip = Some(ip);
        self
    }

    /// Sets the local address (`destination.ip`).
    pub fn with_destination_ip(mut self, ip: IpAddr) -> Request {
        self.destination_ip = Some(ip);
        self
    }

    /// Sets the TLS server name (`connection.sni`).
    pub fn with_sni(mut self, sni: &str) -> Request {
        self.sni = Some(sni.to_string());
        self
    }

    /// Sets the payload of a JWT that the proxy validated (the attributes
    /// `requestPrincipals` and `request.auth.*` match). It only counts where
    /// a RequestAuthentication applies to the workload, as in Envoy.
    pub fn with_jwt(mut self, payload: Arc<JwtPayload>) -> Request {
        self.jwt = Some(payload);
        self
    }

    /// Records that the proxy's JWT filter rejected the request's token
    /// (RA-2): where a RequestAuthentication applies, the request is
    /// denied before authorization policies run.
    pub fn with_jwt_rejected(mut self, rejection: JwtRejection) -> Request {
        self.jwt_rejected = Some(rejection);
        self
    }

    /// Sets the dynamic metadata of an Envoy filter
    /// (`experimental.envoy.filters.<filter>[<key>]`).
    pub fn with_filter_metadata(mut self, filter: &str, value: Value) -> Request {
        self.metadata.insert(filter.to_string(), value);
        self
    }

    /// Whether this is a TCP connection.
    pub fn is_tcp(&self) -> bool {
        self.tcp
    }

    /// `:method`.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// `:authority`.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// `:path`, query included.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// A header's (joined) value; `name` is case-insensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        if let Some(pseudo) = name.strip_prefix(':') {
            return match pseudo {
                "authority" => self.host(),
                "method" => self.method(),
                "path" => self.path(),
                _ => None,
            };
        }
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every occurrence of header `name`, in order (a pseudo-header has at
    /// most one). Envoy 1.40's header matchers (RBAC included) test each
    /// occurrence on its own, not the `,`-joined value (AZ-20).
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        let pseudo = name.starts_with(':').then(|| self.header(name)).flatten();
        let plain = !name.starts_with(':');
        pseudo.into_iter().chain(
            self.occurrences
                .iter()
                .filter(move |(n, _)| plain && n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str()),
        )
    }

    /// Every header, lower-cased names, joined values.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The local port.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The peer's URI SAN (`spiffe://…`), when mTLS authenticated it.
    pub fn peer_uri(&self) -> Option<&str> {
        self.peer.as_deref()
    }

    /// The peer's principal (`td/ns/NS/sa/SA`).
    pub fn peer_principal(&self) -> Option<&str> {
        self.peer
            .as_deref()
            .map(|u| u.strip_prefix(SPIFFE_PREFIX).unwrap_or(u))
    }

    /// The peer address.
    pub fn source_ip(&self) -> Option<IpAddr> {
        self.source_ip
    }

    /// The original client address (the peer address when unset).
    pub fn remote_ip(&self) -> Option<IpAddr> {
        self.remote_ip.or(self.source_ip)
    }

    /// The local address.
    pub fn destination_ip(&self) -> Option<IpAddr> {
        self.destination_ip
    }

    /// The TLS server name.
    pub fn sni(&self) -> Option<&str> {
        self.sni.as_deref()
    }

    /// The validated JWT's payload.
    pub fn jwt(&self) -> Option<&JwtPayload> {
        self.jwt.as_deref()
    }

    /// The JWT filter's rejection of the token, if any.
    pub fn jwt_rejection(&self) -> Option<&JwtRejection> {
        self.jwt_rejected.as_ref()
    }

    /// An Envoy filter's dynamic metadata.
    pub fn filter_metadata(&self, filter: &str) -> Option<&Value> {
        self.metadata.get(filter)
    }
}

/// Why the JWT filter rejected a token (RA-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtRejection {
    /// The HTTP status: 401, or 403 when only the audience is not allowed.
    pub status: u16,
    /// What was wrong.
    pub reason: String,
}

/// The payload of a validated JWT, as Envoy's `jwt_authn` filter writes it
/// to the metadata `envoy.filters.http.jwt_authn`/`payload`: the claims,
/// with space-delimited claims (`scope`, `permission` and the rule's
/// `spaceDelimitedClaims`, RA-6) split into lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JwtPayload {
    claims: serde_json::Map<String, Value>,
}

impl JwtPayload {
    /// A payload from claims as they are (already normalized).
    pub fn new(claims: serde_json::Map<String, Value>) -> JwtPayload {
        JwtPayload { claims }
    }

    /// A payload from a token's claims, splitting the space-delimited ones
    /// (RA-6).
    ///
    /// ```
    /// use mesh_authz::request::JwtPayload;
    /// let claims = serde_json::json!({"iss": "i", "sub": "s", "scope": "read write"});
    /// let p = JwtPayload::normalized(claims.as_object().unwrap().clone(), &["scope"]);
    /// assert_eq!(p.claim(&["scope"]), Some(&serde_json::json!(["read", "write"])));
    /// assert_eq!(p.request_principal().as_deref(), Some("i/s"));
    /// ```
    pub fn normalized(
        mut claims: serde_json::Map<String, Value>,
        space_delimited: &[&str],
    ) -> JwtPayload {
        for name in space_delimited {
            if let Some(Value::String(s)) = claims.get(*name) {
                let parts: Vec<Value> = s
                    .split(' ')
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect();
                claims.insert((*name).to_string(), Value::Array(parts));
            }
        }
        JwtPayload { claims }
    }

    /// A payload made of a request principal `iss/sub` (split at the last
    /// `/`), as `meshctl authz --request-principal` describes an
    /// already-validated token.
    pub fn from_request_principal(principal: &str) -> JwtPayload {
        let (iss, sub) = principal.rsplit_once('/').unwrap_or((principal, ""));
        let mut claims = serde_json::Map::new();
        claims.insert("iss".into(), Value::String(iss.into()));
        if !sub.is_empty() {
            claims.insert("sub".into(), Value::String(sub.into()));
        }
        JwtPayload { claims }
    }

    /// Every claim.
    pub fn claims(&self) -> &serde_json::Map<String, Value> {
        &self.claims
    }

    /// Mutable claims, to build a payload by hand.
    pub fn claims_mut(&mut self) -> &mut serde_json::Map<String, Value> {
        &mut self.claims
    }

    /// A (nested) claim: `["a", "b"]` is `request.auth.claims[a][b]`.
    pub fn claim(&self, path: &[impl AsRef<str>]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let mut v = self.claims.get(first.as_ref())?;
        for k in rest {
            v = v.as_object()?.get(k.as_ref())?;
        }
        Some(v)
    }

    /// A string claim.
    pub fn string_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.string_claim("iss")
    }

    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.string_claim("sub")
    }

    /// The request principal `iss/sub` (RA-6).
    pub fn request_principal(&self) -> Option<String> {
        Some(format!(
            "{}/{}",
            self.issuer()?,
            self.subject().unwrap_or("")
        ))
    }

    /// `aud`, a string or a list of strings (RA-4).
    pub fn audiences(&self) -> Vec<&str> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// `azp`, the authorized presenter.
    pub fn presenter(&self) -> Option<&str> {
        self.string_claim("azp")
    }
}
