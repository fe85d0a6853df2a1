//! Admission: the steps every request goes through before any route check —
//! framing and size limits, path normalization, host extraction, routing and
//! client-address resolution. The gateway and the offline `check` command both
//! call [`Policy::admit`], so they cannot disagree about a request.

use std::borrow::Cow;
use std::net::IpAddr;

use http::{HeaderMap, Method, Uri, Version, header};

use crate::finding::Finding;
use crate::policy::{Policy, Route};
use crate::{client_ip, path, protocol};

pub struct HeadInput<'a> {
    pub version: Version,
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub peer_ip: IpAddr,
}

/// A request that passed admission.
pub struct Admitted<'p, 'a> {
    pub route: &'p Route,
    pub host: Cow<'a, str>,
    pub path: Cow<'a, str>,
    pub client_ip: IpAddr,
    pub uri_len: usize,
}

/// Lower-case host without port, from the URI authority (HTTP/2, absolute
/// form) or the `Host` header.
pub fn host_of<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Cow<'a, str> {
    let raw = uri
        .host()
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(|h| {
                    if let Some(rest) = h.strip_prefix('[') {
                        rest.split(']').next().unwrap_or("")
                    } else {
                        h.rsplit_once(':').map_or(h, |(host, _)| host)
                    }
                })
        })
        .unwrap_or("")
        .trim_end_matches('.');
    if raw.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(raw.to_ascii_lowercase())
    } else {
        Cow::Borrowed(raw)
    }
}

/// Length of the request target as sent (path + query).
pub fn uri_len(uri: &Uri) -> usize {
    uri.path_and_query().map_or(1, |pq| pq.as_str().len())
}

impl Policy {
    /// Protocol checks, routing and client resolution. An `Err` is a finding
    /// that always blocks (protocol violations are never monitor-only).
    pub fn admit<'p, 'a>(&'p self, input: &HeadInput<'a>) -> Result<Admitted<'p, 'a>, Finding> {
        let uri_len = uri_len(input.uri);
        if let Some(f) = protocol::check_framing(input.version, input.headers) {
            return Err(f);
        }
        if let Some(f) = protocol::check_head_limits(
            &self.config.limits,
            input.method.as_str().len(),
            uri_len,
            input.headers,
        ) {
            return Err(f);
        }
        if *input.method == Method::CONNECT {
            return Err(protocol::connect_not_implemented());
        }
        let path = path::normalize_path(input.uri.path()).map_err(|e| protocol::bad_path(&e))?;
        let host = host_of(input.uri, input.headers);
        let route = self.route(&host, &path).ok_or_else(protocol::no_route)?;
        let client_ip = client_ip::resolve(input.peer_ip, input.headers, &self.trusted_proxies);
        Ok(Admitted {
            route,
            host,
            path,
            client_ip,
            uri_len,
        })
    }
}
