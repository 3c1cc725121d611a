//! RequestAuthentication: end-user JWTs, as the proxy's `jwt_authn` filter
//! checks them (RA-1..RA-6).
//!
//! * Rules: every RequestAuthentication that applies to the workload
//!   (selected like AuthorizationPolicy, AZ-3), their `jwtRules`
//!   concatenated and sorted by issuer (RA-1).
//! * Locations (RA-3): `fromHeaders` (a `prefix` is searched in the value,
//!   the token is the base64url run after it; a value without the prefix
//!   gives no token), `fromParams`, `fromCookies`; with none,
//!   `Authorization: Bearer <token>` and the `access_token` query parameter.
//! * Checks, in the filter's order: the token parses; its `iss` is the
//!   rule's issuer; `nbf`/`exp` hold at `now` with 60 s of clock skew; an
//!   `aud` is allowed (RA-4; only when `audiences` is set); the signature
//!   verifies with a key of the JWKS (kid and alg must agree).
//! * Outcome (RA-2): no token anywhere ⇒ unauthenticated but allowed; a
//!   token that fails ⇒ 401 (403 when the audience is what failed); a valid
//!   token ⇒ its payload, with space-delimited claims split (RA-6).
//!
//! Keys come from the rule's inline `jwks`, or for a `jwksUri` from bytes
//! the caller hands in ([`JwksSources`]): this crate fetches nothing. A
//! rule whose keys are missing or unusable rejects every token (fail
//! closed, as istiod's fallback key set does).

use crate::engine::attaches;
use crate::request::{JwtPayload, JwtRejection, Request};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use mesh_model::labels::Labels;
use mesh_model::snapshot::Snapshot;
use mesh_model::wire::security::JwtRule;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Envoy's default clock skew for `exp`/`nbf`.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

/// Claims always split on spaces (RA-6).
pub const DEFAULT_SPACE_DELIMITED_CLAIMS: [&str; 2] = ["permission", "scope"];

/// JWKS documents the caller fetched, by `jwksUri` (or, for rules with
/// neither `jwks` nor `jwksUri`, by issuer: OIDC discovery).
#[derive(Debug, Clone, Default)]
pub struct JwksSources {
    by_key: BTreeMap<String, String>,
}

impl JwksSources {
    /// No documents.
    pub fn new() -> JwksSources {
        JwksSources::default()
    }

    /// Adds the JWKS served at `uri` (or for an issuer).
    pub fn insert(&mut self, uri: &str, jwks: &str) {
        self.by_key.insert(uri.to_string(), jwks.to_string());
    }

    /// The document for `uri`.
    pub fn get(&self, uri: &str) -> Option<&str> {
        self.by_key.get(uri).map(String::as_str)
    }
}

/// Why a token was refused: Envoy `jwt_verify_lib` statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(rename_all = "camelCase", tag = "status", content = "detail")]
pub enum JwtError {
    /// Not a JWT: parts, base64url, JSON, `alg`, claim types.
    #[error("malformed JWT: {0}")]
    Malformed(String),
    /// `iss` is not the issuer of a rule that reads this location.
    #[error("issuer {0:?} is not configured for this token location")]
    UnknownIssuer(String),
    /// `exp` + skew is in the past.
    #[error("JWT is expired")]
    Expired,
    /// `nbf` - skew is in the future.
    #[error("JWT is not yet valid")]
    NotYetValid,
    /// No `aud` is among the rule's `audiences` (HTTP 403).
    #[error("audiences in JWT are not allowed")]
    AudienceNotAllowed,
    /// The rule has no usable keys (JWKS missing, unparsable or empty).
    #[error("no JWKS available for issuer {0:?}")]
    NoKeys(String),
    /// No key has the token's `kid` and `alg`.
    #[error("no key in the JWKS matches the JWT's kid and alg")]
    KidAlgMismatch,
    /// The signature does not verify.
    #[error("JWT signature verification failed")]
    BadSignature,
}

impl JwtError {
    /// The HTTP status the proxy answers with (RA-2).
    pub fn status(&self) -> u16 {
        match self {
            JwtError::AudienceNotAllowed => 403,
            _ => 401,
        }
    }

    fn is_missing_like(&self) -> bool {
        matches!(self, JwtError::UnknownIssuer(_))
    }
}

/// A token location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Location {
    /// A header, with the prefix before the token.
    Header {
        /// Lower-cased name.
        name: String,
        /// Prefix (`Bearer `), empty for none.
        prefix: String,
    },
    /// A query parameter.
    Param {
        /// Name.
        name: String,
    },
    /// A cookie.
    Cookie {
        /// Name.
        name: String,
    },
}

#[derive(Clone)]
struct Key {
    kid: Option<String>,
    alg: Option<Algorithm>,
    key: DecodingKey,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// One `jwtRules` entry, ready to check tokens.
#[derive(Debug, Clone)]
pub struct CompiledJwtRule {
    /// The RequestAuthentication `namespace/name`.
    pub policy: String,
    /// `issuer` (empty: any issuer).
    pub issuer: String,
    /// `audiences` (empty: not checked, RA-4).
    pub audiences: Vec<String>,
    /// Where tokens are read from (defaults applied, RA-3), in the order
    /// Envoy reads them.
    pub locations: Vec<Location>,
    /// Claims split on spaces (RA-6).
    pub space_delimited_claims: Vec<String>,
    /// The rule as written (the xDS compiler turns it into a `jwt_authn`
    /// provider).
    pub rule: JwtRule,
    keys: Result<Vec<Key>, String>,
}

impl CompiledJwtRule {
    /// Compiles a rule of RequestAuthentication `policy`.
    pub fn compile(policy: &str, rule: &JwtRule, sources: &JwksSources) -> CompiledJwtRule {
        let JwtRule {
            audiences,
            from_cookies,
            from_headers,
            from_params,
            issuer,
            jwks,
            jwks_uri,
            legacy_jwks_uri,
            space_delimited_claims,
            ..
        } = rule;
        let issuer = issuer.clone().unwrap_or_default();
        let mut headers: Vec<(String, String)> = from_headers
            .iter()
            .flatten()
            .map(|h| {
                (
                    h.name.clone().unwrap_or_default().to_ascii_lowercase(),
                    h.prefix.clone().unwrap_or_default(),
                )
            })
            .collect();
        let mut params: Vec<String> = from_params.clone().unwrap_or_default();
        let mut cookies: Vec<String> = from_cookies.clone().unwrap_or_default();
        if headers.is_empty() && params.is_empty() && cookies.is_empty() {
            headers.push(("authorization".into(), "Bearer ".into()));
            params.push("access_token".into());
        }
        // Envoy keeps each kind of location in a sorted map.
        headers.sort();
        headers.dedup();
        params.sort();
        params.dedup();
        cookies.sort();
        cookies.dedup();
        let mut locations: Vec<Location> = headers
            .into_iter()
            .map(|(name, prefix)| Location::Header { name, prefix })
            .collect();
        locations.extend(params.into_iter().map(|name| Location::Param { name }));
        locations.extend(cookies.into_iter().map(|name| Location::Cookie { name }));
        let uri = jwks_uri.as_deref().or(legacy_jwks_uri.as_deref());
        let doc = match jwks.as_deref().filter(|j| !j.is_empty()) {
            Some(inline) => Some(inline),
            None => match uri.filter(|u| !u.is_empty()) {
                Some(u) => sources.get(u),
                None => sources.get(&issuer),
            },
        };
        let keys = match doc {
            None => Err(match uri {
                Some(u) => format!("no JWKS was supplied for jwksUri {u}"),
                None => format!("no JWKS was supplied for issuer {issuer:?}"),
            }),
            Some(d) => parse_jwks(d),
        };
        let mut sdc: Vec<String> = DEFAULT_SPACE_DELIMITED_CLAIMS
            .iter()
            .map(|s| s.to_string())
            .collect();
        sdc.extend(space_delimited_claims.iter().flatten().cloned());
        sdc.sort();
        sdc.dedup();
        CompiledJwtRule {
            policy: policy.to_string(),
            issuer,
            audiences: audiences.clone().unwrap_or_default(),
            locations,
            space_delimited_claims: sdc,
            rule: rule.clone(),
            keys,
        }
    }

    /// Why the rule has no usable keys, if it has none.
    pub fn key_error(&self) -> Option<&str> {
        self.keys.as_ref().err().map(String::as_str)
    }

    /// The tokens this rule reads from a request, in Envoy's order.
    pub fn extract<'r>(&self, req: &'r Request) -> Vec<std::borrow::Cow<'r, str>> {
        let mut out = Vec::new();
        for loc in &self.locations {
            match loc {
                Location::Header { name, prefix } => {
                    let Some(v) = req.header(name) else { continue };
                    if prefix.is_empty() {
                        out.push(v.into());
                    } else if let Some(pos) = v.find(prefix.as_str()) {
                        out.push(token_after(v, pos + prefix.len()).into());
                    }
                }
                Location::Param { name } => {
                    if let Some(v) = req.path().and_then(|p| query_param(p, name)) {
                        out.push(v.into());
                    }
                }
                Location::Cookie { name } => {
                    if let Some(v) = req.header("cookie").and_then(|c| cookie(c, name)) {
                        out.push(v.into());
                    }
                }
            }
        }
        out
    }

    /// Checks one token against this rule (the `jwt_authn` authenticator's
    /// order: parse, issuer, time, audience, signature).
    pub fn check(&self, token: &str, now: u64) -> Result<JwtPayload, JwtError> {
        let parsed = ParsedToken::parse(token)?;
        let iss = parsed
            .claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !self.issuer.is_empty() && iss != self.issuer {
            return Err(JwtError::UnknownIssuer(iss.to_string()));
        }
        let num = |k: &str| parsed.claims.get(k).and_then(Value::as_u64).unwrap_or(0);
        let (nbf, exp) = (num("nbf"), num("exp"));
        if now.saturating_add(CLOCK_SKEW_SECONDS) < nbf {
            return Err(JwtError::NotYetValid);
        }
        if exp != 0 && now > exp.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err(JwtError::Expired);
        }
        if !self.audiences.is_empty() {
            let allowed: Vec<&str> = self.audiences.iter().map(|a| sanitize_aud(a)).collect();
            let auds: Vec<&str> = match parsed.claims.get("aud") {
                Some(Value::String(s)) => vec![s.as_str()],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !auds.iter().any(|a| allowed.contains(&sanitize_aud(a))) {
                return Err(JwtError::AudienceNotAllowed);
            }
        }
        let keys = self
            .keys
            .as_ref()
            .map_err(|_| JwtError::NoKeys(self.issuer.clone()))?;
        let mut candidate = false;
        for k in keys {
            if let (Some(kid), Some(want)) = (&parsed.kid, &k.kid)
                && kid != want
            {
                continue;
            }
            if k.alg.is_some_and(|a| a != parsed.alg) || k.key.family() != parsed.alg.family() {
                continue;
            }
            candidate = true;
            if jsonwebtoken::crypto::verify(parsed.signature, parsed.message, &k.key, parsed.alg)
                .unwrap_or(false)
            {
                let sdc: Vec<&str> = self
                    .space_delimited_claims
                    .iter()
                    .map(String::as_str)
                    .collect();
                return Ok(JwtPayload::normalized(parsed.claims, &sdc));
            }
        }
        Err(if candidate {
            JwtError::BadSignature
        } else {
            JwtError::KidAlgMismatch
        })
    }
}

fn parse_jwks(doc: &str) -> Result<Vec<Key>, String> {
    let v: Value = serde_json::from_str(doc).map_err(|e| format!("jwks parse error: {e}"))?;
    let list: Vec<&Value> = match v.get("keys").and_then(Value::as_array) {
        Some(k) => k.iter().collect(),
        None if v.get("kty").is_some() => vec![&v],
        None => return Err("jwks has no \"keys\"".into()),
    };
    let mut keys = Vec::new();
    for k in list {
        // A key this library cannot use is skipped: it could only make
        // fewer tokens valid.
        let Ok(jwk) = serde_json::from_value::<Jwk>(k.clone()) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let alg = jwk
            .common
            .key_algorithm
            .and_then(|a| Algorithm::try_from(a).ok());
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        });
    }
    if keys.is_empty() {
        return Err("jwks holds no usable public key".into());
    }
    Ok(keys)
}

/// jwt_verify_lib's `CheckAudience` sanitizing: no `http://`/`https://`
/// scheme, no trailing `/`.
fn sanitize_aud(a: &str) -> &str {
    let a = a
        .strip_prefix("http://")
        .or_else(|| a.strip_prefix("https://"))
        .unwrap_or(a);
    a.strip_suffix('/').unwrap_or(a)
}

/// Envoy's `extractJWT`: skip to the first base64url-or-dot character after
/// `after`, take the run of them; the whole value when there is none.
fn token_after(value: &str, after: usize) -> &str {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b"-_.".contains(&b);
    let bytes = value.as_bytes();
    let Some(start) = (after..bytes.len()).find(|&i| ok(bytes[i])) else {
        return value;
    };
    let end = (start..bytes.len())
        .find(|&i| !ok(bytes[i]))
        .unwrap_or(bytes.len());
    &value[start..end]
}

/// The first value of a query parameter, percent-decoded.
fn query_param(path: &str, name: &str) -> Option<String> {
    let query = path.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or("");
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (decode_component(k) == name).then(|| decode_component(v))
    })
}

fn decode_component(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A cookie's value from a `Cookie` header (first occurrence; quotes
/// removed).
fn cookie(header: &str, name: &str) -> Option<String> {
    header.split([';', ',']).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then(|| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .unwrap_or(v)
                .to_string()
        })
    })
}

struct ParsedToken<'t> {
    alg: Algorithm,
    kid: Option<String>,
    claims: Map<String, Value>,
    message: &'t [u8],
    signature: &'t str,
}

impl<'t> ParsedToken<'t> {
    fn parse(token: &'t str) -> Result<ParsedToken<'t>, JwtError> {
        let bad = |m: &str| JwtError::Malformed(m.to_string());
        let (message, signature) = token
            .rsplit_once('.')
            .ok_or_else(|| bad("not three parts"))?;
        if message.matches('.').count() != 1 {
            return Err(bad("not three parts"));
        }
        let data = jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(token)
            .map_err(|e| JwtError::Malformed(e.to_string()))?;
        let claims = data.claims;
        for k in ["iss", "sub", "jti", "azp"] {
            if claims.get(k).is_some_and(|v| !v.is_string()) {
                return Err(JwtError::Malformed(format!("claim {k} is not a string")));
            }
        }
        for k in ["exp", "nbf", "iat"] {
            if claims.get(k).is_some_and(|v| !v.is_u64()) {
                return Err(JwtError::Malformed(format!("claim {k} is not an integer")));
            }
        }
        match claims.get("aud") {
            None | Some(Value::String(_)) => {}
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
            _ => return Err(bad("claim aud is not a string or a list of strings")),
        }
        Ok(ParsedToken {
            alg: data.header.alg,
            kid: data.header.kid,
            claims,
            message: message.as_bytes(),
            signature,
        })
    }
}

/// What the JWT filter concluded about a request (RA-2).
#[derive(Debug, Clone, PartialEq)]
pub enum JwtOutcome {
    /// No RequestAuthentication applies: no JWT filter.
    NotApplicable,
    /// No token in any location: the request goes on unauthenticated.
    Missing,
    /// A valid token.
    Valid(Arc<JwtPayload>),
    /// Refused (401, or 403 for the audience).
    Invalid(JwtError),
}

impl JwtOutcome {
    /// Records the outcome on a request for the authorization engine.
    pub fn apply(&self, req: Request) -> Request {
        match self {
            JwtOutcome::Valid(p) => req.with_jwt(p.clone()),
            JwtOutcome::Invalid(e) => req.with_jwt_rejection_of(e),
            _ => req,
        }
    }
}

impl Request {
    fn with_jwt_rejection_of(self, e: &JwtError) -> Request {
        self.with_jwt_rejected(JwtRejection {
            status: e.status(),
            reason: e.to_string(),
        })
    }
}

/// The JWT rules of one workload.
#[derive(Debug, Clone, Default)]
pub struct WorkloadJwt {
    rules: Vec<CompiledJwtRule>,
}

impl WorkloadJwt {
    /// The rules of every RequestAuthentication attached to a workload
    /// (RA-1), sorted by issuer.
    pub fn for_workload(
        snapshot: &Snapshot,
        namespace: &str,
        labels: &Labels,
        sources: &JwksSources,
    ) -> WorkloadJwt {
        let root = snapshot.root_namespace();
        let namespaces: &[&str] = if namespace == root {
            &[root]
        } else {
            &[root, namespace]
        };
        let mut rules = Vec::new();
        for ns in namespaces {
            for ra in snapshot
                .request_authentications()
                .filter(|ra| ra.meta.namespace() == *ns)
            {
                if !attaches(
                    root,
                    ns,
                    ra.spec.selector.as_ref(),
                    &ra.spec.target_refs,
                    namespace,
                    labels,
                ) {
                    continue;
                }
                for r in &ra.spec.jwt_rules {
                    rules.push(CompiledJwtRule::compile(&ra.meta.id(), r, sources));
                }
            }
        }
        rules.sort_by(|a, b| a.issuer.cmp(&b.issuer));
        WorkloadJwt { rules }
    }

    /// The rules from compiled parts.
    pub fn from_rules(rules: Vec<CompiledJwtRule>) -> WorkloadJwt {
        WorkloadJwt { rules }
    }

    /// The rules, sorted by issuer (provider `origins-<i>` is rule i).
    pub fn rules(&self) -> &[CompiledJwtRule] {
        &self.rules
    }

    /// Whether no rule applies.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// What one provider (rule) makes of a request: `None` when it finds
    /// no token; else every token it finds must pass.
    fn provider(&self, i: usize, req: &Request, now: u64) -> Option<Result<JwtPayload, JwtError>> {
        let rule = &self.rules[i];
        let tokens = rule.extract(req);
        let mut first = None;
        for t in tokens {
            match rule.check(&t, now) {
                Ok(p) => {
                    if first.is_none() {
                        first = Some(p);
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
        first.map(Ok)
    }

    /// Authenticates a request as Istio's JWT filter configuration does
    /// (RA-2): one rule: valid or missing; several: any rule valid, or every
    /// rule valid-or-missing. `now` is seconds since the Unix epoch.
    pub fn authenticate(&self, req: &Request, now: u64) -> JwtOutcome {
        if self.rules.is_empty() {
            return JwtOutcome::NotApplicable;
        }
        let results: Vec<Option<Result<JwtPayload, JwtError>>> = (0..self.rules.len())
            .map(|i| self.provider(i, req, now))
            .collect();
        if let Some(p) = results.iter().flatten().find_map(|r| r.as_ref().ok()) {
            return JwtOutcome::Valid(Arc::new(p.clone()));
        }
        // Envoy's requires-any over [P1..Pn, all-of(Pi or missing)]; a
        // single rule is just (P1 or missing).
        let status = |r: &Option<Result<JwtPayload, JwtError>>| -> Option<JwtError> {
            r.as_ref().and_then(|r| r.as_ref().err().cloned())
        };
        let and_child = results.iter().find_map(status);
        let Some(first_error) = and_child.clone() else {
            return JwtOutcome::Missing;
        };
        if self.rules.len() == 1 {
            return JwtOutcome::Invalid(first_error);
        }
        // Aggregation: prefer errors that are neither "missing" nor "unknown
        // issuer"; among those the last child's.
        let mut fin: Option<JwtError> = None;
        for child in results.iter().map(status).chain([and_child]) {
            let real = child.as_ref().is_some_and(|e| !e.is_missing_like());
            if real || fin.is_none() {
                fin = child.or(fin);
            }
        }
        JwtOutcome::Invalid(fin.unwrap_or(first_error))
    }

    /// Validates one token given on its own (not read from a request): the
    /// rule with the token's issuer checks it.
    pub fn validate(&self, token: &str, now: u64) -> JwtOutcome {
        if self.rules.is_empty() {
            return JwtOutcome::NotApplicable;
        }
        let mut last = None;
        for r in &self.rules {
            match r.check(token, now) {
                Ok(p) => return JwtOutcome::Valid(Arc::new(p)),
                Err(JwtError::UnknownIssuer(i)) => {
                    last.get_or_insert(JwtError::UnknownIssuer(i));
                }
                Err(e) => return JwtOutcome::Invalid(e),
            }
        }
        JwtOutcome::Invalid(last.unwrap_or(JwtError::Malformed("no rule".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extraction_helpers() {
        assert_eq!(token_after("Bearer abc.def.ghi", 7), "abc.def.ghi");
        assert_eq!(token_after("x Bearer  a.b.c, other", 8), "a.b.c");
        assert_eq!(
            query_param("/p?a=1&access_token=t%2Ek", "access_token").as_deref(),
            Some("t.k")
        );
        assert_eq!(query_param("/p?x=1", "access_token"), None);
        assert_eq!(cookie("a=1; tok=\"v\"; b=2", "tok").as_deref(), Some("v"));
        assert_eq!(sanitize_aud("https://svc.example.com/"), "svc.example.com");
    }
}
