//! Proxy header semantics on the way upstream: the request head written from
//! the client's parsed head with hop-by-hop fields removed,
//! `X-Forwarded-For/-Proto/-Host` and `Forwarded` written so the upstream can
//! trust them (appended to only when the peer is a trusted proxy, replaced
//! otherwise), the request id propagated, and WebSocket upgrades kept intact.
//! (Response heads lose their hop-by-hop fields as they are parsed, in
//! `wire.rs`.)

use std::net::IpAddr;

use http::Method;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use portcullis_policy::config::ForwardingConfig;

use crate::wire::{self, Framing, RequestFacts};

/// Every forwarding field on (the default).
pub static ALL_FORWARDING_FIELDS: ForwardingConfig = ForwardingConfig {
    x_forwarded_for: true,
    x_forwarded_proto: true,
    x_forwarded_host: true,
    forwarded: true,
};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

pub struct ForwardedFor<'a> {
    pub peer_ip: IpAddr,
    /// `peer_ip` as text, formatted once per connection.
    pub peer_text: &'a str,
    pub peer_trusted: bool,
    pub proto: &'static str,
    pub host: &'a str,
    /// Which fields are written (`forwarding` in the config).
    pub fields: &'a ForwardingConfig,
}

pub use portcullis_policy::client_ip::ip_text;

/// Appends the existing values of `name` (comma-joined) to `out`; false if none.
fn push_existing(out: &mut Vec<u8>, headers: &HeaderMap, name: &HeaderName) -> bool {
    let mut any = false;
    for v in headers.get_all(name) {
        if any {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(v.as_bytes());
        any = true;
    }
    any
}

/// The head of a request as it goes upstream, written straight from the
/// client's parsed head: hop-by-hop fields (and those `Connection` names)
/// dropped, forwarding fields rewritten, the request id set and the body's
/// framing declared by the gateway, never taken from the client.
pub struct UpstreamRequestHead<'a> {
    pub method: &'a Method,
    /// Origin-form target: path and query.
    pub target: &'a str,
    /// The client's fields, as received.
    pub headers: &'a HeaderMap,
    /// The `Host` to send: the client's `Host`, or its HTTP/2 authority.
    pub host: Option<&'a [u8]>,
    pub forwarded: ForwardedFor<'a>,
    /// The request id field: the client's copy is always dropped, and the
    /// value (if any) written in its place.
    pub request_id: Option<(&'a HeaderName, Option<&'a HeaderValue>)>,
    /// What the parser saw in the hop-by-hop fields (an upgrade keeps
    /// `Upgrade`).
    pub facts: RequestFacts,
    /// Fields a check added (the identity check's principal headers),
    /// written after the client's: no copy of the client's map for them.
    pub added: &'a [(HeaderName, HeaderValue)],
    /// On routes that score bots: the client's bot fields are dropped and
    /// these written (`bots.rs`).
    pub bot_tag: Option<&'a crate::bots::BotTag>,
}

impl UpstreamRequestHead<'_> {
    fn is_replaced(&self, name: &HeaderName) -> bool {
        if *name == header::HOST
            || *name == header::CONTENT_LENGTH
            || *name == header::TRANSFER_ENCODING
            || *name == header::CONNECTION
            || *name == header::TE
            || *name == header::TRAILER
            || *name == header::PROXY_AUTHORIZATION
            || *name == header::EXPECT
            || (*name == header::UPGRADE && !self.facts.upgrade)
        {
            return true;
        }
        if let Some((id, _)) = self.request_id
            && name == id
        {
            return true;
        }
        if self.bot_tag.is_some() && crate::bots::BotTag::owns(name) {
            return true;
        }
        matches!(
            name.as_str(),
            "x-forwarded-for"
                | "x-forwarded-proto"
                | "x-forwarded-host"
                | "forwarded"
                | "keep-alive"
                | "proxy-connection"
        )
    }

    /// Writes the head into `out`, declaring `framing` for the body.
    pub fn write(&self, out: &mut Vec<u8>, framing: Framing) {
        let f = &self.forwarded;
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if let Some(host) = self.host {
            wire::push_field(out, b"host", host);
        }
        let connection_named = if self.facts.connection_names_others {
            connection_named_fields(self.headers)
        } else {
            None
        };
        for (name, value) in self.headers {
            if self.is_replaced(name)
                || connection_named
                    .as_ref()
                    .is_some_and(|named| named.iter().any(|n| n == name))
            {
                continue;
            }
            wire::push_field(out, name.as_str().as_bytes(), value.as_bytes());
        }
        for (name, value) in self.added {
            wire::push_field(out, name.as_str().as_bytes(), value.as_bytes());
        }
        if f.fields.x_forwarded_for {
            out.extend_from_slice(b"x-forwarded-for: ");
            if f.peer_trusted && push_existing(out, self.headers, &X_FORWARDED_FOR) {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(f.peer_text.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if f.fields.x_forwarded_proto {
            out.extend_from_slice(b"x-forwarded-proto: ");
            if !(f.peer_trusted && push_existing(out, self.headers, &X_FORWARDED_PROTO)) {
                out.extend_from_slice(f.proto.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        let keep_host = f.peer_trusted && self.headers.contains_key(&X_FORWARDED_HOST);
        if f.fields.x_forwarded_host && (keep_host || is_field_value(f.host)) {
            out.extend_from_slice(b"x-forwarded-host: ");
            if !(keep_host && push_existing(out, self.headers, &X_FORWARDED_HOST)) {
                out.extend_from_slice(f.host.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        if f.fields.forwarded {
            out.extend_from_slice(b"forwarded: ");
            if f.peer_trusted && push_existing(out, self.headers, &FORWARDED) {
                out.extend_from_slice(b", ");
            }
            push_forwarded_element(out, f);
            out.extend_from_slice(b"\r\n");
        }
        if let Some((name, Some(value))) = self.request_id {
            wire::push_field(out, name.as_str().as_bytes(), value.as_bytes());
        }
        if let Some(tag) = self.bot_tag {
            tag.write(out);
        }
        if self.facts.upgrade {
            out.extend_from_slice(b"connection: upgrade\r\n");
        }
        match framing {
            Framing::Length(n) => {
                out.extend_from_slice(b"content-length: ");
                wire::push_decimal(out, n);
                out.extend_from_slice(b"\r\n");
            }
            Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
            Framing::Empty | Framing::UntilClose => {
                if matches!(*self.method, Method::POST | Method::PUT | Method::PATCH)
                    || self.facts.content_length_sent
                {
                    out.extend_from_slice(b"content-length: 0\r\n");
                }
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Names a `Connection` field lists beyond the hop-by-hop tokens (rare).
fn connection_named_fields(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let values = headers.get_all(header::CONNECTION);
    let mut named = None;
    for value in values {
        for token in value.as_bytes().split(|b| *b == b',') {
            let token = token.trim_ascii();
            if token.is_empty()
                || token.eq_ignore_ascii_case(b"keep-alive")
                || token.eq_ignore_ascii_case(b"close")
                || token.eq_ignore_ascii_case(b"upgrade")
            {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token) {
                named.get_or_insert_with(Vec::new).push(name);
            }
        }
    }
    named
}

/// Visible ASCII only: what may go into a field value unchecked.
fn is_field_value(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..0x7f).contains(&b))
}

/// `for=...;proto=...;host=...` (RFC 7239).
fn push_forwarded_element(out: &mut Vec<u8>, f: &ForwardedFor<'_>) {
    out.extend_from_slice(b"for=");
    match f.peer_ip {
        IpAddr::V4(_) => out.extend_from_slice(f.peer_text.as_bytes()),
        IpAddr::V6(_) => {
            out.extend_from_slice(b"\"[");
            out.extend_from_slice(f.peer_text.as_bytes());
            out.extend_from_slice(b"]\"");
        }
    }
    out.extend_from_slice(b";proto=");
    out.extend_from_slice(f.proto.as_bytes());
    // A value that is not a token (a port's ':' or an IPv6 '[') is a quoted string.
    let host_chars_ok = !f.host.is_empty()
        && f.host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:[]".contains(&b));
    if host_chars_ok {
        let quoted = f.host.bytes().any(|b| b":[]".contains(&b));
        out.extend_from_slice(b";host=");
        if quoted {
            out.push(b'"');
        }
        out.extend_from_slice(f.host.as_bytes());
        if quoted {
            out.push(b'"');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(
        headers: &HeaderMap,
        f: ForwardedFor<'_>,
        upgrade: bool,
        framing: Framing,
    ) -> String {
        let facts = RequestFacts {
            upgrade,
            connection_names_others: headers
                .get(header::CONNECTION)
                .is_some_and(|v| v.as_bytes().contains(&b'x')),
            content_length_sent: headers.contains_key(header::CONTENT_LENGTH),
        };
        let head = UpstreamRequestHead {
            method: &Method::POST,
            target: "/a?b=1",
            headers,
            host: Some(b"api.test"),
            forwarded: f,
            request_id: None,
            facts,
            added: &[],
            bot_tag: None,
        };
        let mut out = Vec::new();
        head.write(&mut out, framing);
        String::from_utf8(out).unwrap()
    }

    fn untrusted() -> ForwardedFor<'static> {
        ForwardedFor {
            peer_ip: "1.2.3.4".parse().unwrap(),
            peer_text: "1.2.3.4",
            peer_trusted: false,
            proto: "http",
            host: "api.test",
            fields: &ALL_FORWARDING_FIELDS,
        }
    }

    #[test]
    fn hop_by_hop_and_connection_named_fields_are_not_forwarded() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "keep-alive, x-secret".parse().unwrap());
        h.insert("x-secret", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert(header::TE, "trailers".parse().unwrap());
        h.insert(header::UPGRADE, "h2c".parse().unwrap());
        h.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        h.insert(header::EXPECT, "100-continue".parse().unwrap());
        h.insert("x-kept", "yes".parse().unwrap());
        let out = written(&h, untrusted(), false, Framing::Length(3));
        assert!(
            out.starts_with("POST /a?b=1 HTTP/1.1\r\nhost: api.test\r\nx-kept: yes\r\n"),
            "{out}"
        );
        for gone in [
            "x-secret",
            "keep-alive",
            "te:",
            "upgrade",
            "transfer-encoding",
            "expect",
            "connection",
        ] {
            assert!(!out.contains(gone), "{gone} in {out}");
        }
        assert!(out.ends_with("content-length: 3\r\n\r\n"), "{out}");
    }

    #[test]
    fn upgrade_is_kept_for_websockets() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "Upgrade".parse().unwrap());
        h.insert(header::UPGRADE, "websocket".parse().unwrap());
        let out = written(&h, untrusted(), true, Framing::Empty);
        assert!(out.contains("upgrade: websocket\r\n"), "{out}");
        assert!(out.contains("connection: upgrade\r\n"), "{out}");
    }

    #[test]
    fn spoofed_forwarding_headers_are_replaced_for_untrusted_peers() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        h.insert("forwarded", "for=6.6.6.6".parse().unwrap());
        let out = written(&h, untrusted(), false, Framing::Chunked);
        assert!(!out.contains("6.6.6.6"), "{out}");
        assert!(out.contains("x-forwarded-for: 1.2.3.4\r\n"), "{out}");
        assert!(out.contains("x-forwarded-proto: http\r\n"), "{out}");
        assert!(out.contains("x-forwarded-host: api.test\r\n"), "{out}");
        assert!(
            out.contains("forwarded: for=1.2.3.4;proto=http;host=api.test\r\n"),
            "{out}"
        );
        assert!(out.contains("transfer-encoding: chunked\r\n"), "{out}");
    }

    #[test]
    fn trusted_peers_get_appended_to() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.5".parse().unwrap());
        let f = ForwardedFor {
            peer_ip: "::1".parse().unwrap(),
            peer_text: "::1",
            peer_trusted: true,
            proto: "https",
            host: "a:8443",
            fields: &ALL_FORWARDING_FIELDS,
        };
        let out = written(&h, f, false, Framing::Empty);
        assert!(
            out.contains("x-forwarded-for: 203.0.113.5, ::1\r\n"),
            "{out}"
        );
        assert!(
            out.contains("forwarded: for=\"[::1]\";proto=https;host=\"a:8443\"\r\n"),
            "{out}"
        );
        assert!(out.contains("content-length: 0\r\n"), "{out}");
    }

    #[test]
    fn switched_off_fields_are_neither_written_nor_passed_through() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-host", "forged.example".parse().unwrap());
        h.insert("forwarded", "for=6.6.6.6".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        let fields = ForwardingConfig {
            x_forwarded_for: true,
            x_forwarded_proto: false,
            x_forwarded_host: false,
            forwarded: false,
        };
        let f = ForwardedFor {
            fields: &fields,
            ..untrusted()
        };
        let out = written(&h, f, false, Framing::Empty);
        assert!(out.contains("x-forwarded-for: 1.2.3.4\r\n"), "{out}");
        for gone in [
            "x-forwarded-host",
            "forwarded:",
            "x-forwarded-proto",
            "forged",
            "6.6.6.6",
        ] {
            assert!(!out.contains(gone), "{gone} in {out}");
        }
    }

    #[test]
    fn the_request_id_replaces_the_clients_copy_or_is_left_out() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("forged"));
        let name = HeaderName::from_static("x-request-id");
        let ours = HeaderValue::from_static("abc123");
        for (sent, expected) in [
            (Some(&ours), Some("x-request-id: abc123\r\n")),
            (None, None),
        ] {
            let head = UpstreamRequestHead {
                method: &Method::GET,
                target: "/",
                headers: &h,
                host: Some(b"api.test"),
                forwarded: untrusted(),
                request_id: Some((&name, sent)),
                facts: RequestFacts::default(),
                added: &[],
                bot_tag: None,
            };
            let mut out = Vec::new();
            head.write(&mut out, Framing::Empty);
            let out = String::from_utf8(out).unwrap();
            assert!(!out.contains("forged"), "{out}");
            match expected {
                Some(line) => assert!(out.contains(line), "{out}"),
                None => assert!(!out.contains("x-request-id"), "{out}"),
            }
        }
    }
}
