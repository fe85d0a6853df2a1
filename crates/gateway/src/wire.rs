//! The HTTP/1.x wire format, both directions, without I/O: finding the end
//! of a head in a read buffer, parsing request and response heads with
//! `httparse` into `http` types whose header values share the read buffer
//! (no copy per value), message framing (RFC 9112 §6), the incremental
//! chunked-body decoder, and head serialization into a write buffer.
//!
//! Everything here takes bytes a peer controls: it never panics on them and
//! never buffers more than the limits it is given.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

/// Header fields parsed in a stack array (uninitialized, so it costs
/// nothing to set up); more need a heap array.
const STACK_HEADERS: usize = 128;

type HeaderSlot<'b> = MaybeUninit<httparse::Header<'b>>;

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Responses only: the body runs until the connection closes.
    UntilClose,
}

/// Why a head could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The head is larger than allowed; `request_line_complete` tells a long
    /// request target (414) from long header fields (431).
    #[error("head too large")]
    TooLarge { request_line_complete: bool },
    /// More header fields than allowed.
    #[error("too many header fields")]
    TooManyHeaders,
    #[error("malformed head: {0}")]
    Malformed(&'static str),
}

/// Finds the end of a head in `buf`, scanning only from `*scanned` (bytes
/// before it are known not to end a head). Returns the head's length
/// including the blank line. Bare LF line ends are accepted, as `httparse`
/// accepts them.
pub fn find_head_end(buf: &[u8], scanned: &mut usize) -> Option<usize> {
    // A terminator may straddle the previous scan's end: back up 3 bytes.
    let start = scanned.saturating_sub(3);
    for i in memchr::memchr_iter(b'\n', &buf[start..]).map(|i| i + start) {
        match buf.get(i + 1) {
            Some(b'\n') => return Some(i + 2),
            Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => return Some(i + 3),
            _ => {}
        }
    }
    *scanned = buf.len();
    None
}

/// A parsed request head.
#[derive(Debug)]
pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    /// Every field as sent (framing and hop-by-hop fields included, so the
    /// protocol checks see the message as the client wrote it).
    pub headers: HeaderMap,
    /// `None` when the framing headers are unusable (the admission check
    /// refuses such requests; the connection cannot be reused after them).
    pub framing: Option<Framing>,
    /// The client asked to keep the connection open (HTTP/1.1 default).
    pub keep_alive: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// What the hop-by-hop fields say, for writing the upstream head
    /// without looking them up again.
    pub facts: RequestFacts,
}

/// Facts about a request's hop-by-hop and framing fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestFacts {
    /// `Connection: upgrade` with an `Upgrade` field: a WebSocket (or other) upgrade.
    pub upgrade: bool,
    /// `Connection` names other fields, which must not be forwarded either.
    pub connection_names_others: bool,
    /// The client sent a `Content-Length`.
    pub content_length_sent: bool,
}

/// Offsets of one header field inside the head buffer.
#[derive(Clone, Copy, Debug)]
struct FieldSpan {
    name: (usize, usize),
    value: (usize, usize),
}

fn span_of(base: *const u8, part: &[u8]) -> (usize, usize) {
    let start = part.as_ptr() as usize - base as usize;
    (start, start + part.len())
}

/// Parses the complete request head at the start of `buf` (`head_len` bytes,
/// from [`find_head_end`]) and removes it from `buf`. `max_headers` bounds the
/// number of fields.
pub fn parse_request_head(
    buf: &mut BytesMut,
    head_len: usize,
    max_headers: usize,
) -> Result<RequestHead, HeadError> {
    let mut spans: Vec<FieldSpan> = Vec::new();
    let mut fields = FramingFields::new();
    let mut expect_continue = false;
    let (method, path_span, version) = {
        let bytes = &buf[..head_len];
        let base = bytes.as_ptr();
        let mut stack: [HeaderSlot<'_>; STACK_HEADERS] =
            [const { MaybeUninit::uninit() }; STACK_HEADERS];
        let mut heap: Vec<HeaderSlot<'_>>;
        let storage: &mut [HeaderSlot<'_>] = if max_headers < STACK_HEADERS {
            &mut stack
        } else {
            heap = Vec::with_capacity(max_headers + 1);
            heap.resize_with(max_headers + 1, MaybeUninit::uninit);
            &mut heap
        };
        let mut request = httparse::Request::new(&mut []);
        match request.parse_with_uninit_headers(bytes, storage) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(HeadError::Malformed("incomplete head")),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
            Err(_) => return Err(HeadError::Malformed("invalid request head")),
        }
        let method = Method::from_bytes(request.method.unwrap_or("").as_bytes())
            .map_err(|_| HeadError::Malformed("invalid method"))?;
        let path = request.path.unwrap_or("");
        let version = match request.version {
            Some(0) => Version::HTTP_10,
            _ => Version::HTTP_11,
        };
        spans.reserve_exact(request.headers.len());
        for h in request.headers.iter() {
            let name = h.name.as_bytes();
            if fields.observe(name, h.value) == FieldKind::Expect {
                expect_continue |= h.value.eq_ignore_ascii_case(b"100-continue");
            }
            spans.push(FieldSpan {
                name: span_of(base, name),
                value: span_of(base, h.value),
            });
        }
        (method, span_of(base, path.as_bytes()), version)
    };
    let head = buf.split_to(head_len).freeze();
    let uri =
        portcullis_policy::protocol::parse_request_target(head.slice(path_span.0..path_span.1))
            .map_err(|_| HeadError::Malformed("invalid request target"))?;
    let headers = build_headers(&head, &spans)?;
    let framing = request_framing(version, &fields);
    let keep_alive = fields.persistent(version);
    let expect_continue = expect_continue && version == Version::HTTP_11;
    Ok(RequestHead {
        method,
        uri,
        version,
        headers,
        framing,
        keep_alive,
        expect_continue,
        facts: RequestFacts {
            upgrade: fields.connection_upgrade && fields.upgrade,
            connection_names_others: fields.connection_names_others,
            content_length_sent: !matches!(fields.content_length, Ok(None)),
        },
    })
}

fn build_headers(head: &Bytes, spans: &[FieldSpan]) -> Result<HeaderMap, HeadError> {
    let mut headers = HeaderMap::with_capacity(spans.len());
    for span in spans {
        let name = HeaderName::from_bytes(&head[span.name.0..span.name.1])
            .map_err(|_| HeadError::Malformed("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(span.value.0..span.value.1))
            .map_err(|_| HeadError::Malformed("invalid header value"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// Request framing (RFC 9112 §6.3): chunked when it is the final transfer
/// coding, else one valid `Content-Length`, else no body. `None` when the
/// framing fields cannot be trusted.
fn request_framing(version: Version, fields: &FramingFields) -> Option<Framing> {
    if fields.transfer_encoding {
        if version == Version::HTTP_10 || !matches!(fields.content_length, Ok(None)) {
            return None;
        }
        return fields.chunked_last.then_some(Framing::Chunked);
    }
    match fields.content_length {
        Ok(Some(0)) | Ok(None) => Some(Framing::Empty),
        Ok(Some(n)) => Some(Framing::Length(n)),
        Err(()) => None,
    }
}

/// The fields of an upstream response head as received: the head's bytes
/// and where each field lies in them, names as the upstream spelled them.
/// Hop-by-hop fields and the upstream's own framing are already left out.
/// Written to HTTP/1.x clients as they are; turned into a `HeaderMap` only
/// for a consumer that needs one (HTTP/2 clients, response checks).
#[derive(Debug, Clone, Default)]
pub struct ResponseFields {
    head: Bytes,
    spans: Vec<FieldSpan>,
}

impl ResponseFields {
    /// `(name, value)` pairs in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.spans.iter().map(|s| {
            (
                &self.head[s.name.0..s.name.1],
                &self.head[s.value.0..s.value.1],
            )
        })
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The fields as a `HeaderMap` (values share the head's bytes).
    pub fn to_header_map(&self) -> HeaderMap {
        build_headers(&self.head, &self.spans).unwrap_or_default()
    }
}

impl portcullis_policy::FieldLookup for ResponseFields {
    fn field(&self, name: &str) -> Option<&[u8]> {
        self.get(name)
    }
}

/// A parsed response head.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub fields: ResponseFields,
    pub framing: Framing,
    /// The upstream keeps the connection open after this response.
    pub keep_alive: bool,
}

/// The fields the wire layer itself reads or drops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldKind {
    ContentLength,
    TransferEncoding,
    Connection,
    Upgrade,
    Expect,
    /// Another hop-by-hop field (RFC 9110 §7.6.1), never forwarded.
    HopByHop,
    Other,
}

/// Classifies a field name (any case), comparing at most one candidate.
fn field_kind(name: &[u8]) -> FieldKind {
    let candidate: (&[u8], FieldKind) = match name.len() {
        2 => (b"te", FieldKind::HopByHop),
        6 => (b"expect", FieldKind::Expect),
        7 => match name[0] | 0x20 {
            b't' => (b"trailer", FieldKind::HopByHop),
            _ => (b"upgrade", FieldKind::Upgrade),
        },
        10 => match name[0] | 0x20 {
            b'c' => (b"connection", FieldKind::Connection),
            _ => (b"keep-alive", FieldKind::HopByHop),
        },
        14 => (b"content-length", FieldKind::ContentLength),
        16 => (b"proxy-connection", FieldKind::HopByHop),
        17 => (b"transfer-encoding", FieldKind::TransferEncoding),
        19 => (b"proxy-authorization", FieldKind::HopByHop),
        _ => return FieldKind::Other,
    };
    if name.eq_ignore_ascii_case(candidate.0) {
        candidate.1
    } else {
        FieldKind::Other
    }
}

/// What the framing-related fields of a head say, read from the raw fields.
struct FramingFields {
    /// `Content-Length`: Ok(None) when absent, Err when malformed or conflicting.
    content_length: Result<Option<u64>, ()>,
    transfer_encoding: bool,
    chunked_last: bool,
    connection_close: bool,
    connection_keep_alive: bool,
    /// `Connection` names fields beyond the hop-by-hop tokens.
    connection_names_others: bool,
    connection_upgrade: bool,
    upgrade: bool,
}

impl FramingFields {
    fn new() -> Self {
        Self {
            content_length: Ok(None),
            transfer_encoding: false,
            chunked_last: false,
            connection_close: false,
            connection_keep_alive: false,
            connection_names_others: false,
            connection_upgrade: false,
            upgrade: false,
        }
    }

    /// Looks at one field and says what kind it is.
    fn observe(&mut self, name: &[u8], value: &[u8]) -> FieldKind {
        let kind = field_kind(name);
        match kind {
            FieldKind::ContentLength => {
                self.content_length = match (self.content_length, parse_content_length(value)) {
                    (Err(()), _) | (_, Err(())) => Err(()),
                    (Ok(Some(a)), Ok(Some(b))) if a != b => Err(()),
                    (Ok(_), Ok(b)) => Ok(b),
                };
            }
            FieldKind::TransferEncoding => {
                self.transfer_encoding = true;
                self.chunked_last = value
                    .rsplit(|b| *b == b',')
                    .next()
                    .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
            FieldKind::Connection => self.observe_connection(value),
            FieldKind::Upgrade => self.upgrade = true,
            _ => {}
        }
        kind
    }

    fn observe_connection(&mut self, value: &[u8]) {
        {
            for token in value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    self.connection_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    self.connection_keep_alive = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    self.connection_upgrade = true;
                } else if !token.is_empty() {
                    self.connection_names_others = true;
                }
            }
        }
    }

    fn persistent(&self, version: Version) -> bool {
        !self.connection_close && (version == Version::HTTP_11 || self.connection_keep_alive)
    }
}

fn parse_content_length(value: &[u8]) -> Result<Option<u64>, ()> {
    let mut length = None;
    for part in value.split(|b| *b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
            return Err(());
        }
        let n = part
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        match length {
            Some(previous) if previous != n => return Err(()),
            _ => length = Some(n),
        }
    }
    Ok(length)
}

/// Parses the response head at the start of `buf` (`head_len` bytes) and
/// removes it from `buf`. `request_method` decides whether a body follows.
/// `Err` means the upstream broke the protocol.
pub fn parse_response_head(
    buf: &mut BytesMut,
    head_len: usize,
    request_method: &Method,
) -> Result<ResponseHead, HeadError> {
    let mut spans: Vec<FieldSpan> = Vec::new();
    let mut fields = FramingFields::new();
    let mut content_length_span = None;
    let mut upgrade_span = None;
    let mut connection_spans: Vec<(usize, usize)> = Vec::new();
    let (status, version) = {
        let bytes = &buf[..head_len];
        let base = bytes.as_ptr();
        let config = httparse::ParserConfig::default();
        let mut stack: [HeaderSlot<'_>; STACK_HEADERS] =
            [const { MaybeUninit::uninit() }; STACK_HEADERS];
        let mut heap: Vec<HeaderSlot<'_>>;
        let mut response = httparse::Response::new(&mut []);
        let mut parsed =
            config.parse_response_with_uninit_headers(&mut response, bytes, &mut stack);
        if matches!(parsed, Err(httparse::Error::TooManyHeaders)) {
            heap = Vec::with_capacity(1024);
            heap.resize_with(1024, MaybeUninit::uninit);
            response = httparse::Response::new(&mut []);
            parsed = config.parse_response_with_uninit_headers(&mut response, bytes, &mut heap);
        }
        match parsed {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(HeadError::Malformed("incomplete head")),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
            Err(_) => return Err(HeadError::Malformed("invalid response head")),
        }
        let status = StatusCode::from_u16(response.code.unwrap_or(0))
            .map_err(|_| HeadError::Malformed("invalid status code"))?;
        let version = match response.version {
            Some(0) => Version::HTTP_10,
            _ => Version::HTTP_11,
        };
        spans.reserve_exact(response.headers.len());
        for h in response.headers.iter() {
            let name = h.name.as_bytes();
            let span = FieldSpan {
                name: span_of(base, name),
                value: span_of(base, h.value),
            };
            match fields.observe(name, h.value) {
                FieldKind::Other | FieldKind::Expect => spans.push(span),
                // Kept aside: re-declared by whoever writes the head.
                FieldKind::ContentLength => content_length_span = Some(span),
                FieldKind::Upgrade => upgrade_span = Some(span),
                FieldKind::Connection => connection_spans.push(span.value),
                FieldKind::TransferEncoding | FieldKind::HopByHop => {}
            }
        }
        (status, version)
    };
    let head = buf.split_to(head_len).freeze();
    let framing = response_framing(status, request_method, &fields)?;
    // A 101 names the protocol the tunnel switches to.
    if status == StatusCode::SWITCHING_PROTOCOLS
        && let Some(span) = upgrade_span
    {
        spans.push(span);
    }
    // A length is kept only where it describes no body to come (HEAD, 304).
    if framing == Framing::Empty
        && !status.is_informational()
        && let Some(span) = content_length_span
    {
        spans.push(span);
    }
    if fields.connection_names_others {
        let named: Vec<&[u8]> = connection_spans
            .iter()
            .flat_map(|&(a, b)| head[a..b].split(|c| *c == b','))
            .map(|t| t.trim_ascii())
            .collect();
        spans.retain(|s| {
            let name = &head[s.name.0..s.name.1];
            !named.iter().any(|n| n.eq_ignore_ascii_case(name))
        });
    }
    let keep_alive = fields.persistent(version) && framing != Framing::UntilClose;
    Ok(ResponseHead {
        status,
        version,
        fields: ResponseFields { head, spans },
        framing,
        keep_alive,
    })
}

/// Response framing (RFC 9112 §6.3).
fn response_framing(
    status: StatusCode,
    request_method: &Method,
    fields: &FramingFields,
) -> Result<Framing, HeadError> {
    if *request_method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::Empty);
    }
    if fields.transfer_encoding {
        return Ok(if fields.chunked_last {
            Framing::Chunked
        } else {
            Framing::UntilClose
        });
    }
    match fields.content_length {
        Ok(Some(0)) => Ok(Framing::Empty),
        Ok(Some(n)) => Ok(Framing::Length(n)),
        Ok(None) => Ok(Framing::UntilClose),
        Err(()) => Err(HeadError::Malformed("invalid Content-Length")),
    }
}

/// Why a chunked body could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body: {0}")]
pub struct ChunkedError(pub &'static str);

/// Longest chunk-size line (size, extensions) or trailer line accepted.
const MAX_CHUNK_LINE: usize = 4096;
/// Largest trailer section accepted (trailers are read and dropped).
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailers { seen: usize },
    Done,
}

/// Incremental decoder of a chunked body. Feed it the connection's read
/// buffer; it takes decoded data out of it without copying.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self {
            state: ChunkState::Size,
        }
    }
}

impl ChunkedDecoder {
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes from the front of `buf`. Returns data when some is
    /// available, `Ok(None)` when more input is needed or the body ended
    /// (see [`ChunkedDecoder::is_done`]).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, ChunkedError> {
        loop {
            match self.state {
                ChunkState::Done => return Ok(None),
                ChunkState::Size => {
                    let Some(line_end) = memchr::memchr(b'\n', buf) else {
                        if buf.len() > MAX_CHUNK_LINE {
                            return Err(ChunkedError("chunk size line too long"));
                        }
                        return Ok(None);
                    };
                    if line_end > MAX_CHUNK_LINE {
                        return Err(ChunkedError("chunk size line too long"));
                    }
                    let line = &buf[..line_end];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let digits = line
                        .iter()
                        .position(|b| !b.is_ascii_hexdigit())
                        .unwrap_or(line.len());
                    if digits == 0 || digits > 15 {
                        return Err(ChunkedError("invalid chunk size"));
                    }
                    let rest = &line[digits..];
                    // Only extensions (`;name=value`) may follow, after optional whitespace.
                    let rest = rest.trim_ascii_start();
                    if !rest.is_empty() && rest[0] != b';' {
                        return Err(ChunkedError("invalid chunk size"));
                    }
                    if rest.iter().any(|b| *b == b'\r' || *b == 0) {
                        return Err(ChunkedError("invalid chunk extension"));
                    }
                    let size = line[..digits].iter().fold(0u64, |acc, d| {
                        acc * 16 + u64::from((*d as char).to_digit(16).unwrap_or(0))
                    });
                    let _ = buf.split_to(line_end + 1);
                    self.state = if size == 0 {
                        ChunkState::Trailers { seen: 0 }
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(remaining) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = (buf.len() as u64).min(remaining) as usize;
                    let data = buf.split_to(n).freeze();
                    self.state = if n as u64 == remaining {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(remaining - n as u64)
                    };
                    return Ok(Some(data));
                }
                ChunkState::DataEnd => {
                    if buf.starts_with(b"\r\n") {
                        let _ = buf.split_to(2);
                    } else if buf.starts_with(b"\n") {
                        let _ = buf.split_to(1);
                    } else if buf.is_empty() || &buf[..] == b"\r" {
                        return Ok(None);
                    } else {
                        return Err(ChunkedError("chunk data not followed by a line end"));
                    }
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers { seen } => {
                    let Some(line_end) = memchr::memchr(b'\n', buf) else {
                        if seen + buf.len() > MAX_TRAILERS {
                            return Err(ChunkedError("trailer section too large"));
                        }
                        return Ok(None);
                    };
                    let line = &buf[..line_end];
                    let empty = line.is_empty() || line == b"\r";
                    let _ = buf.split_to(line_end + 1);
                    if empty {
                        self.state = ChunkState::Done;
                        return Ok(None);
                    }
                    let seen = seen + line_end + 1;
                    if seen > MAX_TRAILERS {
                        return Err(ChunkedError("trailer section too large"));
                    }
                    self.state = ChunkState::Trailers { seen };
                }
            }
        }
    }
}

/// Appends `{len:x}\r\n` (a chunk header) to `out`.
pub fn push_chunk_header(out: &mut Vec<u8>, len: usize) {
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// Appends a decimal number without going through `fmt`.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `name: value\r\n`.
pub fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends the status line of an HTTP/1.1 response.
pub fn push_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &[u8]) -> Result<RequestHead, HeadError> {
        let mut buf = BytesMut::from(raw);
        let mut scanned = 0;
        let len = find_head_end(&buf, &mut scanned).expect("complete head");
        parse_request_head(&mut buf, len, 100)
    }

    #[test]
    fn head_ends_are_found_across_reads_with_crlf_or_lf() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
        for split in 1..raw.len() {
            let mut scanned = 0;
            let first = find_head_end(&raw[..split], &mut scanned);
            let found = first.or_else(|| find_head_end(raw, &mut scanned));
            assert_eq!(found, Some(raw.len() - 4), "split at {split}");
        }
        let mut scanned = 0;
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\nHost: a\n\nx", &mut scanned),
            Some(24)
        );
        let mut scanned = 0;
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\r\nHost:", &mut scanned),
            None
        );
        assert_eq!(scanned, 21);
    }

    #[test]
    fn request_heads_parse_with_shared_values_and_framing() {
        let h = head(
            b"POST /a?x=1 HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.method, Method::POST);
        assert_eq!(h.uri.path(), "/a");
        assert_eq!(h.uri.query(), Some("x=1"));
        assert_eq!(h.framing, Some(Framing::Length(5)));
        assert!(h.keep_alive);
        assert_eq!(h.headers.get_all("x-a").iter().count(), 2);

        let h = head(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").unwrap();
        assert_eq!(h.framing, Some(Framing::Chunked));
        let h = head(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        assert_eq!(h.framing, Some(Framing::Empty));
        let h = head(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert!(h.keep_alive);
        let h = head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        let h =
            head(b"PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").unwrap();
        assert!(h.expect_continue);
        assert!(h.facts.content_length_sent && !h.facts.upgrade);
        let h = head(b"GET / HTTP/1.1\r\nConnection: Upgrade, x-a\r\nUpgrade: websocket\r\n\r\n")
            .unwrap();
        assert!(h.facts.upgrade && h.facts.connection_names_others);
        let h = head(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n").unwrap();
        assert!(
            !h.facts.upgrade,
            "Upgrade without Connection: upgrade is not an upgrade"
        );
    }

    #[test]
    fn untrustworthy_request_framing_is_none() {
        for raw in [
            &b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        ] {
            assert_eq!(
                head(raw).unwrap().framing,
                None,
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        let h = head(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!(h.framing, Some(Framing::Length(5)));
    }

    #[test]
    fn malformed_and_oversized_heads_are_errors() {
        assert!(matches!(
            head(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            head(b"G\x01T / HTTP/1.1\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=STACK_HEADERS {
            many.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(head(&many).unwrap_err(), HeadError::TooManyHeaders);
    }

    fn response(raw: &[u8], method: Method) -> Result<ResponseHead, HeadError> {
        let mut buf = BytesMut::from(raw);
        let mut scanned = 0;
        let len = find_head_end(&buf, &mut scanned).expect("complete head");
        parse_response_head(&mut buf, len, &method)
    }

    fn names(r: &ResponseHead) -> Vec<String> {
        r.fields
            .iter()
            .map(|(n, _)| String::from_utf8_lossy(n).to_ascii_lowercase())
            .collect()
    }

    #[test]
    fn response_heads_drop_hop_by_hop_fields_and_keep_framing() {
        let r = response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive, x-secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nX-Kept: y\r\n\r\n",
            Method::GET,
        )
        .unwrap();
        assert_eq!(r.framing, Framing::Length(3));
        assert!(r.keep_alive);
        assert_eq!(names(&r), ["x-kept"]);
        assert_eq!(r.fields.get("X-KEPT"), Some(&b"y"[..]));
        assert_eq!(r.fields.to_header_map().get("x-kept").unwrap(), "y");

        let r = response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            Method::GET,
        )
        .unwrap();
        assert_eq!(r.framing, Framing::Chunked);
        assert!(!r.keep_alive);
        assert!(r.fields.is_empty());

        let r = response(b"HTTP/1.1 200 OK\r\n\r\n", Method::GET).unwrap();
        assert_eq!(r.framing, Framing::UntilClose);
        assert!(!r.keep_alive);
        let r = response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            Method::HEAD,
        )
        .unwrap();
        assert_eq!(r.framing, Framing::Empty);
        assert_eq!(r.fields.get("content-length"), Some(&b"10"[..]));
        let r = response(b"HTTP/1.1 304 Not Modified\r\n\r\n", Method::GET).unwrap();
        assert_eq!(r.framing, Framing::Empty);
        assert!(response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", Method::GET).is_err());
        assert!(
            response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                Method::GET
            )
            .is_err()
        );
        let r = response(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", Method::GET).unwrap();
        assert!(!r.keep_alive);
        let r = response(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            Method::GET,
        )
        .unwrap();
        assert_eq!(names(&r), ["upgrade"]);
    }

    fn decode_all(input: &[u8], split: usize) -> Result<(Vec<u8>, bool), ChunkedError> {
        let mut decoder = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in [&input[..split], &input[split..]] {
            buf.extend_from_slice(piece);
            while let Some(data) = decoder.decode(&mut buf)? {
                out.extend_from_slice(&data);
            }
        }
        Ok((out, decoder.is_done()))
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_split() {
        let body = b"3\r\nabc\r\n5;ext=\"1\"\r\nde\r\nf\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
        for split in 0..body.len() {
            let (data, done) = decode_all(body, split).unwrap();
            assert_eq!(data, b"abcde\r\nf", "split at {split}");
            assert!(done);
        }
        let (data, done) = decode_all(b"A\n0123456789\n0\n\n", 3).unwrap();
        assert_eq!(data, b"0123456789");
        assert!(done);
    }

    #[test]
    fn malformed_chunked_bodies_are_errors() {
        for bad in [
            &b"x\r\n"[..],
            b"3\r\nabcX",
            b"-1\r\n",
            b"1000000000000000\r\n",
            b"3 junk\r\nabc\r\n",
        ] {
            assert!(
                decode_all(bad, 1).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = vec![b'1'; MAX_CHUNK_LINE + 10];
        assert!(decode_all(&long, 5).is_err());
    }

    #[test]
    fn numbers_and_chunk_headers_are_written_without_fmt() {
        let mut out = Vec::new();
        push_decimal(&mut out, 0);
        out.push(b' ');
        push_decimal(&mut out, 18_446_744_073_709_551_615);
        out.push(b' ');
        push_chunk_header(&mut out, 0x1a2f);
        push_chunk_header(&mut out, 0);
        assert_eq!(out, b"0 18446744073709551615 1a2f\r\n0\r\n");
    }
}
