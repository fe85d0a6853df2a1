//! The parsed view of one request that every check reads. It is built once per
//! request from the already-parsed head; the query, cookies and body are parsed
//! lazily, the first time a check asks, and never again. It holds borrowed
//! slices of the request wherever it can, so a request that no check inspects
//! deeply costs almost nothing.

use std::borrow::Cow;
use std::cell::{OnceCell, Ref, RefCell};
use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, header};

use crate::body::ParsedBody;

/// The identity a verified client certificate proves (mTLS).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PeerIdentity {
    /// RFC 4514 style subject, e.g. `CN=billing,O=Example`.
    pub subject: String,
    /// Subject alternative names: DNS names, URIs, IP addresses, e-mails.
    pub sans: Vec<String>,
    /// The first `spiffe://` URI SAN, if any.
    pub spiffe_id: Option<String>,
    /// Lower-case hex SHA-256 of the certificate's DER bytes.
    pub fingerprint_sha256: String,
}

/// The API operation a request was matched to: an OpenAPI `operationId`
/// (or a synthesized `METHOD /template`) and the index the matching check's
/// router gave it, so later hooks find it again without a lookup by name.
#[derive(Clone, Debug)]
pub struct MatchedOperation {
    pub id: std::sync::Arc<str>,
    /// Index in the matching check's operations; `usize::MAX` when unknown.
    pub index: usize,
}

/// One request, as the checks see it.
pub struct Exchange<'a> {
    pub request_id: &'a str,
    /// The real client address, after trusted-proxy resolution.
    pub client_ip: IpAddr,
    pub peer_identity: Option<&'a PeerIdentity>,
    pub method: &'a Method,
    /// Lower-case host without port.
    pub host: &'a str,
    /// Normalized path (dot segments resolved), as routed and forwarded.
    pub path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// Length of the request target as received.
    pub uri_len: usize,
    pub route_name: &'a str,
    query: OnceCell<Vec<(Cow<'a, str>, Cow<'a, str>)>>,
    cookies: OnceCell<Vec<(&'a str, &'a str)>>,
    body: Option<Bytes>,
    parsed_body: OnceCell<ParsedBody>,
    /// The API operation the request was matched to, set once by whichever
    /// check routes requests to operations.
    operation: OnceCell<MatchedOperation>,
    /// The caller the identity check verified, shared with later phases
    /// (rate-limit keys) so no token is verified twice.
    principal: OnceCell<std::sync::Arc<portcullis_identity::Principal>>,
    rewrites: RefCell<RequestRewrites>,
}

/// Changes checks ask the gateway to make to a request before forwarding it
/// (an OpenAPI policy stripping undocumented parameters). Checks only record
/// them; the gateway applies them with [`RequestRewrites::query`] and
/// [`RequestRewrites::apply_to_headers`], after the verdict allows the request.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestRewrites {
    /// Query parameter names (decoded): every pair with such a key is removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove_query: Vec<String>,
    /// Header names, lower case.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove_headers: Vec<Cow<'static, str>>,
    /// Cookie names, removed from every `Cookie` header.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove_cookies: Vec<String>,
    /// Headers to add after the removals, ready to write (built once per
    /// request, never parsed again): the identity check passes the principal
    /// upstream this way. Not serialized: values may be personal data.
    #[serde(skip)]
    pub add_headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl RequestRewrites {
    pub fn is_empty(&self) -> bool {
        self.remove_query.is_empty()
            && self.remove_headers.is_empty()
            && self.remove_cookies.is_empty()
            && self.add_headers.is_empty()
    }

    /// The query to forward: `raw` without the removed parameters (pairs kept
    /// byte for byte, in order); `None` when nothing is left.
    pub fn query(&self, raw: Option<&str>) -> Option<String> {
        let raw = raw?;
        let kept: Vec<&str> = raw
            .split('&')
            .filter(|pair| {
                let key = pair.split('=').next().unwrap_or("");
                let key: String = form_urlencoded::parse(key.as_bytes())
                    .next()
                    .map(|(k, _)| k.into_owned())
                    .unwrap_or_default();
                !pair.is_empty() && !self.remove_query.contains(&key)
            })
            .collect();
        (!kept.is_empty()).then(|| kept.join("&"))
    }

    /// Removes the headers, and the cookies from every `Cookie` header (a
    /// header left empty is removed).
    pub fn apply_to_headers(&self, headers: &mut HeaderMap) {
        for name in &self.remove_headers {
            headers.remove(name.as_ref());
        }
        for (name, value) in &self.add_headers {
            headers.append(name.clone(), value.clone());
        }
        if self.remove_cookies.is_empty() {
            return;
        }
        let kept: Vec<String> = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|c| {
                let name = c.split('=').next().unwrap_or("").trim();
                !c.is_empty() && !self.remove_cookies.iter().any(|r| r == name)
            })
            .map(str::to_owned)
            .collect();
        headers.remove(header::COOKIE);
        if !kept.is_empty()
            && let Ok(value) = http::HeaderValue::from_str(&kept.join("; "))
        {
            headers.insert(header::COOKIE, value);
        }
    }
}

/// What the gateway (or the offline `check` command) knows about a request head.
pub struct ExchangeHead<'a> {
    pub request_id: &'a str,
    pub client_ip: IpAddr,
    pub peer_identity: Option<&'a PeerIdentity>,
    pub method: &'a Method,
    pub host: &'a str,
    pub path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub uri_len: usize,
    pub route_name: &'a str,
}

impl<'a> Exchange<'a> {
    pub fn new(head: ExchangeHead<'a>) -> Self {
        Self {
            request_id: head.request_id,
            client_ip: head.client_ip,
            peer_identity: head.peer_identity,
            method: head.method,
            host: head.host,
            path: head.path,
            raw_query: head.raw_query,
            headers: head.headers,
            uri_len: head.uri_len,
            route_name: head.route_name,
            query: OnceCell::new(),
            cookies: OnceCell::new(),
            body: None,
            parsed_body: OnceCell::new(),
            operation: OnceCell::new(),
            principal: OnceCell::new(),
            rewrites: RefCell::new(RequestRewrites::default()),
        }
    }

    /// Records changes to make to the request before forwarding it.
    pub fn add_rewrites(&self, add: impl FnOnce(&mut RequestRewrites)) {
        add(&mut self.rewrites.borrow_mut());
    }

    /// Takes the headers checks asked to add, so the gateway can write them
    /// after the client's without copying the client's map.
    pub fn take_added_headers(&self) -> Vec<(http::HeaderName, http::HeaderValue)> {
        std::mem::take(&mut self.rewrites.borrow_mut().add_headers)
    }

    /// The changes checks asked for (empty for most requests).
    pub fn rewrites(&self) -> Ref<'_, RequestRewrites> {
        self.rewrites.borrow()
    }

    /// The operation this request was matched to, if any check matched one.
    pub fn operation_id(&self) -> Option<&str> {
        self.operation.get().map(|m| &*m.id)
    }

    /// The matched operation with the router's index for it.
    pub fn operation(&self) -> Option<&MatchedOperation> {
        self.operation.get()
    }

    /// Records the matched operation; the first call wins (later checks
    /// cannot re-route a request behind the router's back).
    pub fn set_operation(&self, operation: MatchedOperation) {
        let _ = self.operation.set(operation);
    }

    /// Records the matched operation by id alone (no router index).
    pub fn set_operation_id(&self, id: &str) {
        self.set_operation(MatchedOperation {
            id: id.into(),
            index: usize::MAX,
        });
    }

    /// The verified principal, when the identity check authenticated one.
    /// Only the identity check sets it, after verifying the credentials:
    /// nothing unverified is ever read from here.
    pub fn principal(&self) -> Option<&portcullis_identity::Principal> {
        self.principal.get().map(|p| &**p)
    }

    /// Records the verified principal; the first call wins.
    pub fn set_principal(&self, principal: std::sync::Arc<portcullis_identity::Principal>) {
        let _ = self.principal.set(principal);
    }

    /// Query pairs, percent-decoded, in order (parsed on first use).
    pub fn query_pairs(&self) -> &[(Cow<'a, str>, Cow<'a, str>)] {
        self.query.get_or_init(|| match self.raw_query {
            Some(q) if !q.is_empty() => form_urlencoded::parse(q.as_bytes()).collect(),
            _ => Vec::new(),
        })
    }

    /// Number of query parameters, without decoding them.
    pub fn query_param_count(&self) -> usize {
        match self.raw_query {
            Some(q) if !q.is_empty() => q.split('&').filter(|p| !p.is_empty()).count(),
            _ => 0,
        }
    }

    /// Cookie name/value pairs from every `Cookie` header (parsed on first use).
    pub fn cookies(&self) -> &[(&'a str, &'a str)] {
        self.cookies.get_or_init(|| {
            let headers: &'a HeaderMap = self.headers;
            // UTF-8, not only visible ASCII: a cookie with one non-ASCII
            // byte (`＜script＞`) would otherwise be no cookies at all, and
            // pass every check that reads cookies uninspected.
            headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|pair| {
                    let pair = pair.trim();
                    if pair.is_empty() {
                        return None;
                    }
                    Some(match pair.split_once('=') {
                        Some((n, v)) => (n.trim(), v.trim()),
                        None => ("", pair),
                    })
                })
                .collect()
        })
    }

    /// Path segments (still percent-encoded), without the leading empty one.
    pub fn path_segments(&self) -> impl Iterator<Item = &'a str> {
        let path: &'a str = self.path;
        path.split('/').skip(1)
    }

    pub fn content_type(&self) -> Option<&'a str> {
        let headers: &'a HeaderMap = self.headers;
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }

    /// The declared body length, when the client sent one.
    pub fn content_length(&self) -> Option<u64> {
        self.headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    }

    /// Attaches the buffered body; only called when some check asked for it.
    pub fn attach_body(&mut self, body: Bytes) {
        self.body = Some(body);
        self.parsed_body = OnceCell::new();
    }

    /// The raw buffered body, if it was buffered.
    pub fn body_bytes(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }

    /// The body parsed by content type (parsed on first use). `None` when the
    /// body was not buffered.
    pub fn parsed_body(&self) -> Option<&ParsedBody> {
        let body = self.body.as_ref()?;
        Some(
            self.parsed_body
                .get_or_init(|| ParsedBody::parse(self.content_type(), body)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_cookies_and_segments_are_parsed_lazily_and_once() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; b = two ;flag".parse().unwrap());
        headers.append(header::COOKIE, "c=3".parse().unwrap());
        let method = Method::GET;
        let ex = Exchange::new(ExchangeHead {
            request_id: "r1",
            client_ip: "127.0.0.1".parse().unwrap(),
            peer_identity: None,
            method: &method,
            host: "api.example.com",
            path: "/users/42/orders",
            raw_query: Some("q=a%20b&x=1&x=2&&empty="),
            headers: &headers,
            uri_len: 40,
            route_name: "api",
        });
        let q = ex.query_pairs();
        assert_eq!(q.len(), 4);
        assert_eq!(q[0], ("q".into(), "a b".into()));
        assert_eq!(q[3], ("empty".into(), "".into()));
        assert_eq!(ex.query_param_count(), 4);
        assert!(std::ptr::eq(q, ex.query_pairs()), "parsed once");
        assert_eq!(
            ex.cookies(),
            &[("a", "1"), ("b", "two"), ("", "flag"), ("c", "3")]
        );
        assert_eq!(
            ex.path_segments().collect::<Vec<_>>(),
            ["users", "42", "orders"]
        );
        assert!(ex.parsed_body().is_none());
        assert_eq!(ex.operation_id(), None);
        ex.set_operation_id("getOrders");
        ex.set_operation_id("other");
        assert_eq!(ex.operation_id(), Some("getOrders"));
        assert!(ex.rewrites().is_empty());
    }

    #[test]
    fn rewrites_remove_query_pairs_headers_and_cookies() {
        let r = RequestRewrites {
            remove_query: vec!["debug".into(), "a b".into()],
            remove_headers: vec![Cow::Borrowed("x-debug")],
            remove_cookies: vec!["tracker".into()],
            add_headers: Vec::new(),
        };
        assert_eq!(
            r.query(Some("q=1&debug=2&a+b=3&&z=%20&debug")).as_deref(),
            Some("q=1&z=%20")
        );
        assert_eq!(r.query(Some("debug=1")), None);
        assert_eq!(r.query(None), None);
        let mut h = HeaderMap::new();
        h.insert("x-debug", "1".parse().unwrap());
        h.insert("x-keep", "1".parse().unwrap());
        h.insert(header::COOKIE, "a=1; tracker=2".parse().unwrap());
        h.append(header::COOKIE, "tracker=3;b=4".parse().unwrap());
        r.apply_to_headers(&mut h);
        assert!(!h.contains_key("x-debug") && h.contains_key("x-keep"));
        assert_eq!(h.get(header::COOKIE).unwrap(), "a=1; b=4");
        let mut only = HeaderMap::new();
        only.insert(header::COOKIE, "tracker=1".parse().unwrap());
        r.apply_to_headers(&mut only);
        assert!(!only.contains_key(header::COOKIE));
    }
}
