//! HTTP protocol enforcement on the request head: the shapes a lenient
//! parser accepts and attackers use to slip a body past inspection or to
//! abuse the server (the CRS 920/921 family, as real rules rather than a
//! list): a malformed `Content-Type` (several media types, a media type
//! hidden in a parameter, two `charset`s), a charset other than the ASCII
//! supersets a WAF can read (`ibm037`, `utf-7`, `utf-16` carry encoded
//! attacks), range abuse (too many ranges, a last byte before the first,
//! the obsolete `Request-Range`), a body on `GET` / `HEAD`, a body with no
//! `Content-Type`, method-override headers, headers no client sends
//! (`Proxy`: httpoxy; `Content-Range` on a request), a method that is not a
//! method name, contradictory `Connection` options, RFC 2109 cookies; and,
//! on a raw query string or form body, encodings decoders disagree on
//! (malformed `%`, invalid UTF-8, `%u`, double-encoded letters).
//!
//! Pure and linear: each header value and raw string is read once, with
//! no buffer.

use crate::normalize::hex;
use crate::{Decoding, Detection, Detector, Sink, rules};

/// Charsets every inspection layer reads the same way (ASCII supersets).
const SAFE_CHARSETS: &[&str] = &[
    "utf-8",
    "utf8",
    "us-ascii",
    "ascii",
    "iso-8859-1",
    "iso-8859-15",
    "latin1",
    "windows-1252",
];

/// Most byte ranges in one `Range` header (PDF viewers fetch pages in
/// many more pieces: [`MAX_PDF_RANGES`] for a `.pdf` path, as CRS allows).
const MAX_RANGES: usize = 5;
const MAX_PDF_RANGES: usize = 62;

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// A media type parameter list: `(name, value)` pairs, quotes removed.
fn params(rest: &str) -> impl Iterator<Item = (&str, &str)> {
    rest.split(';').filter_map(|p| {
        let (n, v) = p.split_once('=')?;
        Some((n.trim(), v.trim().trim_matches(['"', '\''])))
    })
}

/// What is wrong with a `Content-Type` value, if anything.
fn content_type_problem(value: &str) -> Option<&'static rules::Rule> {
    let value = value.trim();
    let (essence, rest) = value.split_once(';').unwrap_or((value, ""));
    let Some((ty, sub)) = essence.trim().split_once('/') else {
        return Some(&rules::HTTP_CONTENT_TYPE);
    };
    if !is_token(ty) || !is_token(sub.trim()) {
        return Some(&rules::HTTP_CONTENT_TYPE);
    }
    let multipart = ty.eq_ignore_ascii_case("multipart");
    // `boundary=  x`, `boundary =x`: parsers disagree on whether the blanks
    // belong to the delimiter, so they split the body in different places.
    // (Blanks around `;` are allowed, RFC 9110 §5.6.6.)
    let spaced_boundary = multipart
        && rest
            .split(';')
            .filter_map(|p| p.split_once('='))
            .any(|(n, v)| {
                n.trim().eq_ignore_ascii_case("boundary")
                    && (n.ends_with([' ', '\t']) || v.starts_with([' ', '\t']))
            });
    if spaced_boundary {
        return Some(&rules::HTTP_CONTENT_TYPE);
    }
    let mut charsets = 0;
    for (name, v) in params(rest) {
        let name = name.to_ascii_lowercase();
        // Only a multipart body has parts to delimit: a boundary elsewhere
        // is there for a parser that guesses the type from it.
        if name == "boundary" && !multipart {
            return Some(&rules::HTTP_CONTENT_TYPE);
        }
        if name == "charset" {
            charsets += 1;
            if !SAFE_CHARSETS.iter().any(|c| v.eq_ignore_ascii_case(c)) {
                return Some(&rules::HTTP_CHARSET);
            }
        }
        // A media type inside a parameter: some parsers take it for the type.
        let v = v.to_ascii_lowercase();
        if name != "boundary" && name != "type" && name != "start" && v.contains("charset=") {
            return Some(&rules::HTTP_CONTENT_TYPE);
        }
        if ["application/", "text/", "multipart/"]
            .iter()
            .any(|p| v.starts_with(p))
            && name != "type"
        {
            return Some(&rules::HTTP_CONTENT_TYPE);
        }
    }
    if charsets > 1 {
        return Some(&rules::HTTP_CHARSET);
    }
    // Parameters must be `name=value`: junk after the type is a parser trap.
    if rest
        .split(';')
        .any(|p| !p.trim().is_empty() && !p.contains('='))
    {
        return Some(&rules::HTTP_CONTENT_TYPE);
    }
    None
}

/// Whether a `Range` value is abusive: more than `max` ranges, or a first
/// complete range (`first-last`) whose last byte is before its first (a
/// client asking for its first range backwards is probing the server; later
/// odd ranges in a long PDF page list are left to the count).
fn range_abuse(value: &str, max: usize) -> bool {
    let Some(set) = value.trim().strip_prefix("bytes=") else {
        return false;
    };
    let mut count = 0;
    let mut first_pair = true;
    for r in set.split(',') {
        let r = r.trim();
        if r.is_empty() {
            continue;
        }
        count += 1;
        if first_pair
            && let Some((a, b)) = r.split_once('-')
            && let (Ok(a), Ok(b)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>())
        {
            if b < a {
                return true;
            }
            first_pair = false;
        }
    }
    count > max
}

/// Whether a request method looks like one: letters with inner `-` or `_`
/// (`PROPFIND`, `VERSION-CONTROL`), at most 20 bytes (the longest
/// registered method, `UPDATEREDIRECTREF`, has 17). `|GET` or a 30-letter
/// word is a probe of the server's request-line parser.
fn method_shaped(method: &str) -> bool {
    let b = method.as_bytes();
    (1..=20).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_alphabetic() || *c == b'-' || *c == b'_')
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphabetic()
}

/// `Content-Type` names JSON (`application/json`, `application/*+json`).
fn is_json_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .get(essence.len().saturating_sub(5)..)
            .is_some_and(|t| t.eq_ignore_ascii_case("+json"))
}

/// `Connection` naming `close` or `keep-alive` twice, or both: proxies and
/// servers then disagree on whether the connection stays open.
fn connection_conflict(value: &str) -> bool {
    let (mut close, mut keep_alive) = (0, 0);
    for option in value.split(',') {
        let option = option.trim();
        if option.eq_ignore_ascii_case("close") {
            close += 1;
        } else if option.eq_ignore_ascii_case("keep-alive") {
            keep_alive += 1;
        }
    }
    close + keep_alive > 1
}

/// Longer than any content-coding name a client asks for: the IANA
/// registry's longest is `pack200-gzip` (12 bytes).
const MAX_CODING_NAME: usize = 32;

/// Whether an `Accept-Encoding` value is outside RFC 9110 §12.5.3's
/// `#( codings [ weight ] )`, or names a coding longer than any there is:
/// the oversized, junk-filled header of CVE-2022-21907 (HTTP.sys) and its
/// kin. Unknown short names are allowed; a server ignores them.
fn accept_encoding_problem(value: &str) -> bool {
    value.split(',').any(|element| {
        let mut parts = element.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let params_ok = parts.all(|p| {
            p.split_once('=')
                .is_some_and(|(n, v)| is_token(n.trim()) && is_token(v.trim()))
        });
        !params_ok
            || coding.len() > MAX_CODING_NAME
            || (!coding.is_empty() && !is_token(coding))
            || (coding.is_empty() && element.contains(';'))
    })
}

/// A `Cookie` header in the RFC 2109 form (`$Version=1; a="b; c=d"`):
/// parsers that still honour it read quoted values across `;` and so see
/// other cookies than the application's.
fn legacy_cookie(value: &str) -> bool {
    value.split(';').any(|pair| {
        let name = pair.split('=').next().unwrap_or("").trim();
        name.strip_prefix('$').is_some_and(|n| {
            ["version", "path", "domain", "port"]
                .iter()
                .any(|a| n.eq_ignore_ascii_case(a))
        })
    })
}

fn hex_pair(s: &[u8], at: usize) -> Option<u8> {
    Some(hex(*s.get(at)?)? << 4 | hex(*s.get(at + 1)?)?)
}

fn hex_quad(s: &[u8], at: usize) -> bool {
    s.get(at..at + 4)
        .is_some_and(|q| q.iter().all(|b| hex(*b).is_some()))
}

/// Streaming UTF-8 validation of decoded bytes (rejects overlong forms,
/// surrogates, code points past U+10FFFF and truncated sequences, like
/// `str::from_utf8`, without a buffer).
#[derive(Default)]
struct Utf8State {
    need: u8,
    lo: u8,
    hi: u8,
    /// Continuation bytes of the current sequence read so far.
    got: u8,
}

impl Utf8State {
    /// Feeds one byte; `false` when the sequence so far is invalid.
    fn push(&mut self, c: u8) -> bool {
        if self.need > 0 {
            if !(self.lo..=self.hi).contains(&c) {
                return false;
            }
            self.need -= 1;
            self.got += 1;
            (self.lo, self.hi) = (0x80, 0xBF);
            return true;
        }
        let (need, lo, hi) = match c {
            0x00..=0x7F => return true,
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xE1..=0xEF => (2, 0x80, 0xBF),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return false,
        };
        (self.need, self.lo, self.hi, self.got) = (need, lo, hi, 0);
        true
    }
}

/// The decoded bytes of a form string, with the raw offset each came from,
/// kept for the last few bytes: what the second-level checks look at.
struct Window {
    bytes: [u8; 6],
    at: [usize; 6],
    len: usize,
}

impl Window {
    fn push(&mut self, b: u8, at: usize) {
        self.bytes.copy_within(1.., 0);
        self.at.copy_within(1.., 0);
        self.bytes[5] = b;
        self.at[5] = at;
        self.len = (self.len + 1).min(6);
    }

    fn tail(&self, n: usize) -> Option<(&[u8], usize)> {
        (self.len >= n).then(|| (&self.bytes[6 - n..], self.at[6 - n]))
    }

    /// An escape (still there after one decoding) of an ASCII letter or
    /// digit, which no encoder produces: `%41` left by double encoding,
    /// `\u0061` (JavaScript / Java string escapes), or `%u` with four hex
    /// digits (IIS's non-standard form).
    fn evasive_escape(&self) -> Option<usize> {
        if let Some((t, at)) = self.tail(3)
            && t[0] == b'%'
            && hex_pair(t, 1).is_some_and(|c| c.is_ascii_alphanumeric())
        {
            return Some(at);
        }
        let (t, at) = self.tail(6)?;
        let unicode = t[0] == b'\\' && t[1] == b'u' && t[2] == b'0' && t[3] == b'0';
        if unicode && hex_pair(t, 4).is_some_and(|c| c.is_ascii_alphanumeric()) {
            return Some(at);
        }
        (t[0] == b'%' && (t[1] | 0x20) == b'u' && hex_quad(t, 2)).then_some(at)
    }
}

/// Matches `unix:` ... `|scheme://`, Apache mod_proxy's Unix-socket target
/// syntax (CVE-2021-40438: a long socket path makes the proxy send the
/// request to the URL after `|`), over decoded bytes.
#[derive(Default)]
struct SocketTarget {
    matched: usize,
    after_pipe: Option<usize>,
}

impl SocketTarget {
    fn push(&mut self, b: u8) -> bool {
        const UNIX: &[u8] = b"unix:";
        if self.matched < UNIX.len() {
            if b.to_ascii_lowercase() == UNIX[self.matched] {
                self.matched += 1;
            } else {
                self.matched = usize::from(b.eq_ignore_ascii_case(&b'u'));
            }
            return false;
        }
        match (self.after_pipe, b) {
            (_, b'|') => self.after_pipe = Some(0),
            (Some(n), _) if n > 0 && b == b':' => self.after_pipe = Some(usize::MAX),
            (Some(usize::MAX), b'/') => return true,
            (Some(n), _) if n < 32 && b.is_ascii_alphabetic() => self.after_pipe = Some(n + 1),
            _ => self.after_pipe = None,
        }
        false
    }
}

/// A `%` typed before a word in prose ("We%examine", "100%sure"): three
/// letters or more, not an escape (`%1G`, `%w20`, `%u0F` stay malformed).
/// Every decoder that accepts it keeps it literally.
fn percent_before_word(after: &[u8]) -> bool {
    let letters = after.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    letters >= 3 && !(after[0] | 0x20 == b'u' && hex_quad(after, 1))
}

/// What is wrong with the encoding of a raw `application/x-www-form-urlencoded`
/// string (a query string or a form body), with the raw offset of the
/// offending escape. One pass, no buffer.
fn urlencoded_problem(raw: &str) -> Option<(&'static rules::Rule, usize)> {
    let s = raw.as_bytes();
    let mut utf8 = Utf8State::default();
    let mut window = Window {
        bytes: [0; 6],
        at: [0; 6],
        len: 0,
    };
    let mut socket = SocketTarget::default();
    let mut sequence_start = 0;
    // Where the first byte that is not UTF-8 (and not evasive) began.
    let mut legacy: Option<usize> = None;
    let mut i = 0;
    while i < s.len() {
        let at = i;
        let b = match s[i] {
            b'%' => {
                if let Some(b) = hex_pair(s, i + 1) {
                    i += 3;
                    b
                } else if s.get(i + 1).is_some_and(|u| *u | 0x20 == b'u') && hex_quad(s, i + 2) {
                    return Some((&rules::HTTP_EVASIVE_ENCODING, at));
                } else if s
                    .get(i + 1)
                    .is_some_and(|n| n.is_ascii_alphanumeric() || *n == b'%')
                    && !percent_before_word(&s[i + 1..])
                {
                    // `%1G`, `%w2`, `%%33`: decoders disagree on these.
                    return Some((&rules::HTTP_INVALID_ENCODING, at));
                } else {
                    // A bare `%` before a blank, punctuation or the end
                    // ("24% of") is kept literally by every decoder.
                    i += 1;
                    b'%'
                }
            }
            b'+' => {
                i += 1;
                b' '
            }
            b => {
                i += 1;
                b
            }
        };
        if utf8.need == 0 {
            sequence_start = at;
        }
        if !utf8.push(b) {
            // A continuation byte outside the range its lead allows
            // (`%e0%80%af`, `%ed%a0%80`: overlong forms, surrogates, code
            // points past U+10FFFF), a sequence cut after its first
            // continuation byte (`%e2%82x`), or a lead byte no UTF-8 has
            // followed by a continuation byte (`%c0%af`, `%f5%80`): UTF-8
            // written to decode differently in different decoders.
            let in_sequence = utf8.need > 0;
            let continuation = |c: u8| (0x80..=0xBF).contains(&c);
            let overlong_lead = matches!(b, 0xC0 | 0xC1 | 0xF5..=0xFF)
                && next_decoded(s, i).is_some_and(continuation);
            if (in_sequence && (continuation(b) || utf8.got > 0)) || (!in_sequence && overlong_lead)
            {
                return Some((&rules::HTTP_INVALID_ENCODING, sequence_start));
            }
            // Anything else is text in another charset (`caf%E9`, `%A7`:
            // Latin-1 letters and symbols, which a continuation byte rarely
            // follows): noted, and the byte read again as the start of a
            // sequence.
            legacy.get_or_insert(sequence_start);
            utf8 = Utf8State::default();
            if in_sequence {
                sequence_start = at;
                if !utf8.push(b) {
                    if overlong_lead {
                        return Some((&rules::HTTP_INVALID_ENCODING, at));
                    }
                    utf8 = Utf8State::default();
                }
            }
        }
        window.push(b, at);
        if let Some(at) = window.evasive_escape() {
            return Some((&rules::HTTP_EVASIVE_ENCODING, at));
        }
        if socket.push(b) {
            return Some((&rules::HTTP_PROXY_SOCKET, 0));
        }
        // A separator ends a value: a sequence cut by one is truncated.
        if matches!(b, b'&' | b'=') && s[at] == b {
            window.len = 0;
        }
    }
    if utf8.need > 0 {
        if utf8.got > 0 {
            return Some((&rules::HTTP_INVALID_ENCODING, sequence_start));
        }
        legacy.get_or_insert(sequence_start);
    }
    legacy.map(|at| (&rules::HTTP_NON_UTF8, at))
}

/// The byte the form decoding of `s` yields at `i` (`%XX`, `+`, or the byte).
fn next_decoded(s: &[u8], i: usize) -> Option<u8> {
    match *s.get(i)? {
        b'%' => hex_pair(s, i + 1),
        b'+' => Some(b' '),
        b => Some(b),
    }
}

/// Whether a parameter name says its value is a local file or directory:
/// a name part (split at `_`, `-`, `.`, `[`, `]`) that is `path`, `file`,
/// `dir`, `include`, `inc`, `require`, `template` or `root`
/// (`_CONF[path]`, `mosConfig_absolute_path`, `include_file`, `tpl_dir`).
fn file_parameter(name: &str) -> bool {
    name.split(['_', '-', '.', '[', ']']).any(|part| {
        [
            "path", "file", "filename", "dir", "include", "inc", "require", "template", "root",
        ]
        .iter()
        .any(|w| part.eq_ignore_ascii_case(w))
    })
}

impl Detector {
    /// A remote URL (`http`, `https`, `ftp`) given to a parameter named for
    /// a local file or directory (`?_CONF[path]=https://x/`,
    /// `mosConfig_absolute_path=http://x/`): the classic remote file
    /// inclusion, where the application builds an include path from it.
    pub fn inspect_file_parameter(&self, name: &str, value: &str, out: &mut Vec<Detection>) {
        let v = value.trim_start();
        let remote = ["http://", "https://", "ftp://", "ftps://"]
            .iter()
            .any(|scheme| {
                v.get(..scheme.len())
                    .is_some_and(|h| h.eq_ignore_ascii_case(scheme))
            });
        if remote && file_parameter(name) {
            let mut sink = Sink::new(&self.settings, out, Decoding::Normalized);
            sink.report(&rules::RFI_URL, value, 0..value.len().min(48));
        }
    }

    /// A multipart field or file name that the body parser read through a
    /// backslash escape (`name="cv.p\\d\\f"`): parsers disagree on such
    /// names as on names with separators.
    pub fn inspect_escaped_multipart_name(&self, name: &str, out: &mut Vec<Detection>) {
        let mut sink = Sink::new(&self.settings, out, Decoding::Normalized);
        sink.report(&rules::HTTP_MULTIPART_NAME, name, 0..name.len().min(48));
    }

    /// Encoding checks on a raw query string or
    /// `application/x-www-form-urlencoded` body, before any decoding: a `%`
    /// not followed by two hex digits, bytes that do not decode to UTF-8
    /// (overlong `%c0%af`, truncated `%e2%a3`), escapes no client produces
    /// (`%uff0f`, double-encoded letters `%2573`, `\u0061`), and a mod_proxy
    /// Unix-socket target (`unix:...|http://`).
    pub fn inspect_urlencoded(&self, raw: &str, out: &mut Vec<Detection>) {
        if let Some((rule, at)) = urlencoded_problem(raw) {
            let mut sink = Sink::new(&self.settings, out, Decoding::Normalized);
            sink.report(rule, raw, at..at + 24);
        }
    }

    /// Protocol checks on a request head: `method` and the header fields
    /// (lower-case names). `has_body`: the request declares a body
    /// (`Content-Length` > 0 or `Transfer-Encoding`). Each detection comes
    /// with the lower-case name of the header it is about (`""`: the request).
    pub fn inspect_head<'h>(
        &self,
        method: &str,
        path: &str,
        has_body: bool,
        headers: impl Iterator<Item = (&'h str, &'h [u8])>,
        out: &mut Vec<(Detection, &'h str)>,
    ) {
        let mut found: Vec<Detection> = Vec::new();
        let mut at: Vec<&'h str> = Vec::new();
        let mut report = |rule: &'static rules::Rule, name: &'h str, text: &str| {
            let mut sink = Sink::new(&self.settings, &mut found, Decoding::Normalized);
            let before = sink.out.len();
            sink.report(rule, text, 0..text.len().min(48));
            if sink.out.len() > before {
                at.push(name);
            }
        };
        if !method_shaped(method) {
            report(&rules::HTTP_METHOD_SYNTAX, "", method);
        }
        let mut content_type = false;
        let mut json_body = false;
        for (name, value) in headers {
            let text = String::from_utf8_lossy(value);
            match name {
                "content-type" => {
                    content_type = true;
                    json_body = is_json_type(&text);
                    // A charset only matters for a body to decode: on a
                    // bodiless request it misleads nothing.
                    if let Some(rule) = content_type_problem(&text)
                        && (has_body || !std::ptr::eq(rule, &rules::HTTP_CHARSET))
                    {
                        report(rule, name, &text);
                    }
                }
                "accept" => {
                    let bad = text.split(',').any(|item| {
                        params(item.split_once(';').map_or("", |(_, r)| r)).any(|(n, v)| {
                            n.eq_ignore_ascii_case("charset")
                                && !SAFE_CHARSETS.iter().any(|c| v.eq_ignore_ascii_case(c))
                        })
                    });
                    if bad {
                        report(&rules::HTTP_CHARSET, name, &text);
                    }
                }
                "range" => {
                    let pdf = path
                        .rsplit('/')
                        .next()
                        .is_some_and(|f| f.to_ascii_lowercase().ends_with(".pdf"));
                    let max = if pdf { MAX_PDF_RANGES } else { MAX_RANGES };
                    if range_abuse(&text, max) {
                        report(&rules::HTTP_RANGE, name, &text);
                    }
                }
                "request-range" => report(&rules::HTTP_RANGE, name, &text),
                "x-http-method-override" | "x-http-method" | "x-method-override" => {
                    report(&rules::HTTP_METHOD_OVERRIDE, name, &text)
                }
                // `Content-Range` describes a response part; `If` and
                // `Lock-Token` are WebDAV lock state no API client holds.
                "proxy" | "lock-token" | "content-range" | "if" => {
                    report(&rules::HTTP_RESTRICTED_HEADER, name, &text)
                }
                // Checks read a body as sent: a compressed one would pass
                // them unread, and the back end inflates it.
                "content-encoding" if !text.trim().eq_ignore_ascii_case("identity") => {
                    report(&rules::HTTP_ENCODED_BODY, name, &text)
                }
                "connection" if connection_conflict(&text) => {
                    report(&rules::HTTP_CONNECTION_CONFLICT, name, &text)
                }
                "cookie" if legacy_cookie(&text) => report(&rules::HTTP_LEGACY_COOKIE, name, &text),
                "accept-encoding" if accept_encoding_problem(&text) => {
                    report(&rules::HTTP_ACCEPT_ENCODING, name, &text)
                }
                _ => {}
            }
        }
        if has_body {
            let head = method.eq_ignore_ascii_case("HEAD");
            if head || method.eq_ignore_ascii_case("GET") {
                // A JSON query body on GET is the search-API idiom
                // (Elasticsearch, OpenSearch); anything else on GET or HEAD
                // is a body servers disagree about.
                let rule = if json_body && !head {
                    &rules::HTTP_JSON_BODY_ON_GET
                } else {
                    &rules::HTTP_BODY_ON_GET
                };
                report(rule, "", method);
            }
            // `PUT` of a raw file (`curl -T`) is the one upload clients
            // send without a type.
            if !content_type && !method.eq_ignore_ascii_case("PUT") {
                report(&rules::HTTP_BODY_WITHOUT_TYPE, "", method);
            }
        }
        out.extend(found.into_iter().zip(at));
    }

    /// A `_method` query parameter naming another method than the request's
    /// (`POST ...?_method=DELETE`): what the back end will run instead.
    pub fn inspect_method_override(&self, method: &str, value: &str, out: &mut Vec<Detection>) {
        let method_like = (3..=10).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_alphabetic())
            && !value.eq_ignore_ascii_case(method);
        if method_like {
            let mut sink = Sink::new(&self.settings, out, Decoding::Normalized);
            sink.report(&rules::HTTP_METHOD_OVERRIDE, value, 0..value.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectorSettings;

    fn ids(method: &str, body: bool, headers: &[(&str, &str)]) -> Vec<&'static str> {
        let d = Detector::new(&DetectorSettings::default());
        let mut out = Vec::new();
        d.inspect_head(
            method,
            "/x",
            body,
            headers.iter().map(|(n, v)| (*n, v.as_bytes())),
            &mut out,
        );
        out.iter().map(|(d, _)| d.rule.id).collect()
    }

    #[test]
    fn content_types_and_charsets() {
        for ct in [
            "my-new-content-type",
            "application/x-www-form-urlencoded;boundary=\"application/json\"",
            "text/plain; charset=\"UTF-8\"; garbage",
            "application/json, text/plain",
        ] {
            assert_eq!(
                ids("POST", true, &[("content-type", ct)]),
                ["http.content_type"],
                "{ct}"
            );
        }
        for ct in [
            "application/x-www-form-urlencoded; charset=ibm037",
            "application/x-www-form-urlencoded; charset=utf-8; charset=utf-7",
            "text/xml; charset=UTF-16",
        ] {
            assert_eq!(
                ids("POST", true, &[("content-type", ct)]),
                ["http.charset"],
                "{ct}"
            );
        }
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
            "application/vnd.api+json",
            "text/plain;charset=UTF-8",
            "multipart/related; type=\"application/xop+xml\"; boundary=x",
        ] {
            assert!(
                ids("POST", true, &[("content-type", ct)]).is_empty(),
                "{ct}"
            );
        }
        assert_eq!(
            ids("GET", false, &[("accept", "text/html; charset=CP1026")]),
            ["http.charset"]
        );
        assert!(ids("GET", false, &[("accept", "application/json, */*;q=0.8")]).is_empty());
    }

    #[test]
    fn ranges_bodies_and_headers() {
        assert_eq!(
            ids(
                "GET",
                false,
                &[("range", "bytes=1-10,11-20,21-30,31-40,41-50,51-60")]
            ),
            ["http.range"]
        );
        assert_eq!(ids("GET", false, &[("range", "bytes=5-0")]), ["http.range"]);
        assert!(ids("GET", false, &[("range", "bytes=0-1023")]).is_empty());
        // Only the first complete range must be in order; a PDF viewer asks
        // for many pages (up to 62 ranges).
        assert_eq!(
            ids("GET", false, &[("range", "bytes=0-,5-0,5-1")]),
            ["http.range"]
        );
        let pages: Vec<String> = (1..=35)
            .map(|i| format!("{}-{}", i * 10, i * 10 - 9))
            .collect();
        let pdf_range = format!("bytes=0-9, {}", pages.join(", "));
        let d = Detector::new(&DetectorSettings::default());
        let mut out = Vec::new();
        let range = [("range", pdf_range.as_bytes())];
        d.inspect_head("GET", "/doc/a.pdf", false, range.into_iter(), &mut out);
        assert!(out.is_empty());
        d.inspect_head("GET", "/doc/a.html", false, range.into_iter(), &mut out);
        assert_eq!(out.len(), 1);
        // A charset on a request without a body decodes nothing.
        let odd_charset = [("content-type", "text/plain; charset=/gar/bage")];
        assert!(ids("GET", false, &odd_charset).is_empty());
        assert_eq!(ids("POST", true, &odd_charset), ["http.charset"]);
        assert_eq!(
            ids("GET", false, &[("request-range", "bytes=0-1")]),
            ["http.range"]
        );
        let d = Detector::new(&DetectorSettings {
            paranoia_level: 3,
            ..DetectorSettings::default()
        });
        let mut out = Vec::new();
        let headers = [("content-type", "application/json".as_bytes())];
        d.inspect_head("GET", "/x", true, headers.into_iter(), &mut out);
        assert_eq!(out[0].0.rule.id, "http.json_body_on_get");
        let mut out = Vec::new();
        d.inspect_head("POST", "/x", true, std::iter::empty(), &mut out);
        assert_eq!(out[0].0.rule.id, "http.body_without_type");
        assert!(ids("GET", true, &[("content-type", "application/json")]).is_empty());
        let mut out = Vec::new();
        d.inspect_method_override("POST", "DELETE", &mut out);
        d.inspect_method_override("POST", "post", &mut out);
        d.inspect_method_override("POST", "X", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            ids("POST", false, &[("x-http-method-override", "DELETE")]),
            ["http.method_override"]
        );
        assert_eq!(
            ids("GET", false, &[("proxy", "http://x")]),
            ["http.restricted_header"]
        );
        assert!(ids("POST", true, &[("content-type", "application/json")]).is_empty());
        // A compressed request body would pass every check unread.
        let gzip = [
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ];
        assert_eq!(ids("POST", true, &gzip), ["http.encoded_body"]);
        assert_eq!(
            ids("GET", false, &[("content-encoding", "deflate")]),
            ["http.encoded_body"]
        );
        assert!(
            ids(
                "POST",
                true,
                &[
                    ("content-type", "text/plain"),
                    ("content-encoding", "identity")
                ]
            )
            .is_empty()
        );
        // Blanks around a boundary: parsers split the body differently.
        for spaced in [
            "multipart/form-data; boundary=  x1",
            "multipart/form-data; boundary =x1",
        ] {
            assert_eq!(
                ids("POST", true, &[("content-type", spaced)]),
                ["http.content_type"],
                "{spaced}"
            );
        }
        for fine in [
            "multipart/form-data; boundary=----x1",
            "multipart/form-data;boundary=x1",
            "multipart/form-data; boundary=x1 ; charset=utf-8",
            "multipart/form-data; boundary=\"a b\"; charset=utf-8",
        ] {
            assert!(
                ids("POST", true, &[("content-type", fine)]).is_empty(),
                "{fine}"
            );
        }
    }

    fn encoding(raw: &str) -> Option<&'static str> {
        urlencoded_problem(raw).map(|(rule, _)| rule.id)
    }

    #[test]
    fn urlencoded_strings_must_decode_cleanly() {
        for bad in [
            "x=new %w20$",
            "param=%1G",
            "param=%7%6F%6D",
            "param=%c0%af",
            "param=%C1%81",
            "param=%F5%80%BF%BF",
            "param=%e0%80%af",
            "p=%ed%a0%80",
            "p=%f4%90%80%80",
            "test=%u0F",
            // An evasive form after a Latin-1 byte is still found.
            "q=caf%E9&x=%c0%af",
            "q=%E9%c0%af",
            // Cut after a continuation byte: UTF-8, not Latin-1.
            "param=%E2%A3",
            "a=%E2%A3&b=1",
            "a=%F0%9F%98x",
        ] {
            assert_eq!(encoding(bad), Some("http.invalid_encoding"), "{bad}");
        }
        // Bytes of another charset: Latin-1 letters, EBCDIC, a truncated
        // sequence. Reported (at paranoia 3), not as an evasion.
        for legacy in [
            "q=caf%E9",
            "q=%FCber+uns",
            "param=%c0",
            "param=%c0a",
            "q=%E9t%E9+%E0+Paris",
            "%89%95%97%A4%A3%F1=%A7%A7%A7%A7",
            "test%FD=test1",
        ] {
            assert_eq!(encoding(legacy), Some("http.non_utf8"), "{legacy}");
        }
        assert_eq!(
            encoding("q=%E9&x=%uff0f"),
            Some("http.evasive_encoding"),
            "an evasive escape after a Latin-1 byte"
        );
        for evasive in [
            "test=%uff0F",
            "param=foo%uFF01",
            "parm=%25%37%33%25%36%46",
            "testarg=%5Cu0061lert",
            "x=%5cu0065val%28%29",
            "x=%25u0041",
        ] {
            assert_eq!(
                encoding(evasive),
                Some("http.evasive_encoding"),
                "{evasive}"
            );
        }
        for fine in [
            "q=caf%C3%A9&lang=fr",
            "redirect=https%3A%2F%2Fexample.com%2F%3Fa%3D1%2520b",
            "filter%5Bstatus%5D=open&sort=-created",
            "q=%E7%8E%8B%E8%8A%B3+%F0%9F%98%80",
            "note=100%25+sure",
            "q=50%",
            "payload=One quarter (24%) of people",
            "a=5%+b",
            "code=%5Cn+is+a+newline",
            "u=%5Cu00e9t%5Cu00e9",
            "x=unix+time",
            "text=We%examine+this",
            "q=100%sure",
            "",
        ] {
            assert_eq!(encoding(fine), None, "{fine}");
        }
        assert_eq!(
            encoding("unix:AAAAAAAAA|http://coreruleset.org/"),
            Some("http.proxy_socket_target")
        );
        assert_eq!(
            encoding("unix%3AAAAA%7Chttp://example.com/"),
            Some("http.proxy_socket_target")
        );
        assert_eq!(encoding("os=unix: a|b c://"), None);
    }

    #[test]
    fn request_line_connection_and_cookie_shapes() {
        for bad in ["REALLYLONGUNREALMETHOD", "|GET", "GET-", "G3T", ""] {
            assert_eq!(ids(bad, false, &[]), ["http.method_syntax"], "{bad}");
        }
        for fine in ["GET", "PROPFIND", "VERSION-CONTROL", "M-SEARCH", "patch"] {
            assert!(ids(fine, false, &[]).is_empty(), "{fine}");
        }
        for bad in ["keep-alive,keep-alive", "keep-alive, close", "close,close"] {
            assert_eq!(
                ids("GET", false, &[("connection", bad)]),
                ["http.connection_conflict"],
                "{bad}"
            );
        }
        for fine in [
            "keep-alive",
            "close",
            "Upgrade",
            "keep-alive, Upgrade",
            "User-Agent",
        ] {
            assert!(
                ids("GET", false, &[("connection", fine)]).is_empty(),
                "{fine}"
            );
        }
        assert_eq!(
            ids(
                "GET",
                false,
                &[(
                    "cookie",
                    "$Version=1; session=\"deadbeef; PHPSESSID=secret\""
                )]
            ),
            ["http.legacy_cookie"]
        );
        assert!(ids("GET", false, &[("cookie", "session=abc; version=2; $x=1")]).is_empty());
        let long_junk = format!(
            "{},{}&AA&**{}",
            "A".repeat(24),
            "A".repeat(60),
            "A".repeat(20)
        );
        for bad in [
            long_junk.as_str(),
            "gzip;;q=1",
            "gzip, de flate",
            "gzip; q",
            "br;q=\"1\"",
        ] {
            assert_eq!(
                ids("GET", false, &[("accept-encoding", bad)]),
                ["http.accept_encoding"],
                "{bad}"
            );
        }
        for good in [
            "",
            "gzip, deflate, br",
            "gzip;q=1.0, identity; q=0.5, *;q=0",
            "aes128gcm, br, compress, deflate, exi, identity, pack200-gzip, x-compress, x-gzip, zstd",
            "gzip,,deflate",
        ] {
            assert!(
                ids("GET", false, &[("accept-encoding", good)]).is_empty(),
                "{good}"
            );
        }
        for header in ["content-range", "if"] {
            assert_eq!(
                ids("GET", false, &[(header, "test")]),
                ["http.restricted_header"]
            );
        }
        assert_eq!(
            ids(
                "POST",
                true,
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded;boundary=\"image/jpeg\""
                )]
            ),
            ["http.content_type"]
        );
        assert_eq!(
            ids(
                "POST",
                true,
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8; boundary=\"charset=utf-7\""
                )]
            ),
            ["http.content_type"]
        );
    }

    #[test]
    fn bodies_on_get_and_head_and_without_type() {
        let form = [("content-type", "application/x-www-form-urlencoded")];
        let json = [("content-type", "application/json")];
        assert_eq!(ids("GET", true, &form), ["http.body_on_get"]);
        assert_eq!(ids("HEAD", true, &json), ["http.body_on_get"]);
        assert_eq!(
            ids("GET", true, &[("transfer-encoding", "chunked")]),
            ["http.body_on_get", "http.body_without_type"]
        );
        // The search-API idiom: paranoia 3 only.
        assert!(ids("GET", true, &json).is_empty());
        assert!(
            ids(
                "GET",
                true,
                &[("content-type", "application/vnd.search+json")]
            )
            .is_empty()
        );
        assert_eq!(ids("POST", true, &[]), ["http.body_without_type"]);
        assert_eq!(ids("PATCH", true, &[]), ["http.body_without_type"]);
        assert!(ids("PUT", true, &[]).is_empty());
        assert!(ids("POST", false, &[]).is_empty());
        assert!(ids("POST", true, &form).is_empty());
        assert!(ids("GET", false, &form).is_empty());
    }

    #[test]
    fn urls_in_file_parameters() {
        let d = Detector::new(&DetectorSettings::default());
        let mut out = Vec::new();
        for (name, value) in [
            ("_CONF[path]", "https://foo.bar"),
            ("mosConfig_absolute_path", "https://foo.bar"),
            ("include_file", "ftp://x.example/shell.txt"),
            ("tpl-dir", "HTTP://evil.example/"),
        ] {
            out.clear();
            d.inspect_file_parameter(name, value, &mut out);
            assert_eq!(out.len(), 1, "{name}={value}");
        }
        for (name, value) in [
            ("callback_url", "https://hooks.example.com/x"),
            ("avatar", "https://cdn.example.com/a.png"),
            ("path", "/home/user/docs"),
            ("profile", "https://example.com"),
            ("filepath", "reports/2024.pdf"),
        ] {
            out.clear();
            d.inspect_file_parameter(name, value, &mut out);
            assert!(out.is_empty(), "{name}={value}");
        }
    }
}
