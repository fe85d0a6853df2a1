//! Portcullis threat detection: a negative security model for request values.
//!
//! A [`Detector`] is compiled once per policy from [`DetectorSettings`] and is
//! immutable (`Send + Sync`). Each value a request carries is handed to an
//! [`Inspector`] (the detector plus reusable buffers) with its [`ValueKind`];
//! the value is normalized once (bounded URL / entity / escape decoding,
//! overlong UTF-8, NUL bytes, Unicode look-alikes; see [`normalize`]), a cheap
//! byte-class pre-filter decides which engines can possibly match, and the
//! engines (tokenizers and state machines, one per attack family) push
//! [`Detection`]s. Base64-looking values are decoded and inspected too.
//!
//! This crate must never do I/O, read a clock, spawn, or use a backtracking
//! matcher: every engine is linear in the inspected length, and the inspected
//! length is capped ([`DetectorSettings::max_value_bytes`]).

mod engines;
pub mod normalize;
mod protocol;
pub mod rules;
mod seen;
mod text;

use std::ops::Range;

pub use rules::{Category, Confidence, Rule, Severity};

use normalize::{CharFlags, Normalizer};

/// What a value is, so engines can weigh it (a JSON key is checked for NoSQL
/// operators, a header value for Shellshock, a path segment for hidden files).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind<'a> {
    PathSegment,
    QueryName,
    QueryValue,
    /// A header value, with the header's lower-case name.
    HeaderValue {
        name: &'a str,
    },
    CookieName,
    CookieValue,
    /// A JSON object key, with the key of the object it is in (`""` at the top).
    JsonKey {
        parent: &'a str,
    },
    JsonValue,
    FormName,
    FormValue,
    MultipartName,
    MultipartValue,
    MultipartFilename,
    XmlText,
    XmlAttribute,
    /// A whole `text/*` body.
    TextBody,
    /// A literal argument inside a GraphQL query document.
    GraphqlArgument,
}

impl ValueKind<'_> {
    /// Parameter names and object keys (where operators and pollution keys live).
    pub fn is_name(&self) -> bool {
        matches!(
            self,
            ValueKind::QueryName
                | ValueKind::CookieName
                | ValueKind::JsonKey { .. }
                | ValueKind::FormName
                | ValueKind::MultipartName
        )
    }

    /// Names and values a request head carries that recur from request to
    /// request (path segments, query and cookie names, the values of the
    /// standard headers that describe the client rather than the request):
    /// an inspector remembers the clean ones across the requests its thread
    /// serves. Body values, query and cookie values, and every other header
    /// (credentials, tokens, ids, custom headers) are remembered for one
    /// request only, so no secret outlives its request in the table.
    fn recurs_across_requests(&self) -> bool {
        match self {
            ValueKind::PathSegment | ValueKind::QueryName | ValueKind::CookieName => true,
            ValueKind::HeaderValue { name } => recurring_header(name),
            _ => false,
        }
    }

    fn header_name(&self) -> Option<&str> {
        match self {
            ValueKind::HeaderValue { name } => Some(name),
            _ => None,
        }
    }
}

/// The standard headers whose values describe the client rather than the
/// request (see [`ValueKind::recurs_across_requests`]). Out of line: the
/// per-value path of body values stays small.
#[inline(never)]
fn recurring_header(name: &str) -> bool {
    matches!(
        name,
        "host"
            | "user-agent"
            | "accept"
            | "accept-encoding"
            | "accept-language"
            | "accept-charset"
            | "content-type"
            | "content-encoding"
            | "connection"
            | "cache-control"
            | "pragma"
            | "origin"
            | "te"
            | "dnt"
            | "upgrade-insecure-requests"
            | "x-requested-with"
            | "x-forwarded-proto"
            | "sec-fetch-site"
            | "sec-fetch-mode"
            | "sec-fetch-dest"
            | "sec-fetch-user"
            | "sec-ch-ua"
            | "sec-ch-ua-mobile"
            | "sec-ch-ua-platform"
    )
}

/// How the matched text was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoding {
    /// The value after normalization (which is the value itself when nothing was encoded).
    Normalized,
    /// The value was base64; the match is in the decoded text.
    Base64,
}

/// One thing an engine recognised in a value.
#[derive(Clone, Debug)]
pub struct Detection {
    pub rule: &'static Rule,
    /// The matched text (normalized, at most [`MATCH_CHARS`] characters), for an audit excerpt.
    pub matched: String,
    /// Byte range of the match in the normalized text that was inspected.
    pub span: Range<usize>,
    pub decoding: Decoding,
}

impl Detection {
    /// The anomaly score this detection adds to its request's total.
    pub fn anomaly_score(&self) -> u32 {
        self.rule.severity.anomaly_score()
    }
}

/// Longest matched text kept in a [`Detection`], in characters.
pub const MATCH_CHARS: usize = 80;

/// Settings a detector is compiled from.
#[derive(Clone, Debug)]
pub struct DetectorSettings {
    /// 1 (fewest false positives) to 4 (most thorough): rules above it never report.
    pub paranoia_level: u8,
    /// Longest part of a value inspected. A longer value is inspected on its
    /// first and last `max_value_bytes / 2` bytes (attacks sit at the edges of
    /// padded values: padding is how they are pushed past inspection limits),
    /// and the rule `anomaly.value_truncated` (paranoia 3) reports it.
    pub max_value_bytes: usize,
    /// Most rounds of repeated URL decoding (`%252e` → `%2e` → `.`).
    pub max_decode_rounds: u8,
    /// Categories that never report.
    pub disabled_categories: Vec<Category>,
}

impl Default for DetectorSettings {
    fn default() -> Self {
        Self {
            paranoia_level: 2,
            max_value_bytes: 64 * 1024,
            max_decode_rounds: 4,
            disabled_categories: Vec::new(),
        }
    }
}

/// A compiled detector: engines and their keyword automata, built once.
pub struct Detector {
    settings: DetectorSettings,
    engines: engines::Engines,
    /// Unique in the process: the clean head values a thread keeps from
    /// request to request belong to one detector (its settings decide what
    /// is clean).
    id: u64,
}

/// The next [`Detector::id`].
static NEXT_DETECTOR_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Detector {
    pub fn new(settings: &DetectorSettings) -> Detector {
        let mut settings = settings.clone();
        settings.paranoia_level = settings.paranoia_level.clamp(1, 4);
        settings.max_value_bytes = settings.max_value_bytes.max(64);
        Detector {
            engines: engines::Engines::new(),
            settings,
            id: NEXT_DETECTOR_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub fn settings(&self) -> &DetectorSettings {
        &self.settings
    }

    /// An inspector; keep one per request and reuse it for every value. Its
    /// buffers come from (and go back to, when it is dropped) a spare set
    /// kept by the thread, so a request does not grow them from nothing.
    pub fn inspector(&self) -> Inspector<'_> {
        let mut buffers = SPARE_BUFFERS.with(|spare| spare.take()).unwrap_or_default();
        if buffers.seen_head_owner != self.id {
            buffers.seen_head.forget();
            buffers.seen_head_owner = self.id;
        }
        Inspector {
            detector: self,
            buffers: Some(buffers),
        }
    }

    /// Convenience for one-off use: inspects one value with fresh buffers.
    pub fn inspect(&self, value: &str, kind: ValueKind<'_>, out: &mut Vec<Detection>) {
        self.inspector().inspect(value, kind, out);
    }

    /// Looks for XXE constructs (DOCTYPE with entity declarations, external
    /// DTDs, XInclude) in a whole XML document.
    pub fn inspect_xml_document(&self, document: &[u8], out: &mut Vec<Detection>) {
        let window = &document[..document.len().min(self.settings.max_value_bytes)];
        let text = String::from_utf8_lossy(window);
        let mut sink = Sink::new(&self.settings, out, Decoding::Normalized);
        engines::xxe::inspect_document(&text, &mut sink);
    }
}

/// A [`Detector`] plus the buffers it reuses from value to value.
pub struct Inspector<'d> {
    detector: &'d Detector,
    /// Boxed, so that handing them from the thread's spare slot to the
    /// inspector and back moves a pointer, not the whole set; `None` only
    /// once [`Drop`] has given them back.
    buffers: Option<Box<Buffers>>,
}

/// What an inspector reuses from value to value.
struct Buffers {
    normalizer: Normalizer,
    base64: Normalizer,
    scratch: engines::Scratch,
    /// Short values already found clean: inspecting them again would find
    /// nothing again (repeated JSON keys, enum-like values).
    seen_clean: seen::SeenClean,
    /// Short head values ([`ValueKind::recurs_across_requests`]) found clean
    /// by the detector `seen_head_owner`, kept from request to request (the
    /// `Accept`, `Host` and `User-Agent` values, the API's path words).
    seen_head: seen::SeenClean,
    seen_head_owner: u64,
}

impl Default for Buffers {
    fn default() -> Self {
        Buffers {
            normalizer: Normalizer::default(),
            base64: Normalizer::default(),
            scratch: engines::Scratch::default(),
            seen_clean: seen::SeenClean::default(),
            seen_head: seen::SeenClean::without_warm_up(),
            seen_head_owner: 0,
        }
    }
}

/// Buffers kept for the thread's next inspector only up to this size, so a
/// huge request does not pin its memory to the thread.
const SPARE_BUFFER_BYTES: usize = 256 * 1024;

impl Buffers {
    fn capacity(&self) -> usize {
        self.normalizer.capacity()
            + self.base64.capacity()
            + self.scratch.capacity()
            + self.seen_clean.capacity()
            + self.seen_head.capacity()
    }
}

thread_local! {
    /// The buffers of the thread's last inspector, for its next one.
    static SPARE_BUFFERS: std::cell::Cell<Option<Box<Buffers>>> = const { std::cell::Cell::new(None) };
}

impl Drop for Inspector<'_> {
    fn drop(&mut self) {
        let Some(mut buffers) = self.buffers.take() else {
            return;
        };
        if buffers.capacity() > SPARE_BUFFER_BYTES {
            return;
        }
        // The table of clean values is sized for one request: the next
        // inspector starts it empty.
        buffers.seen_clean.clear();
        // `try_with`: the thread may be exiting.
        let _ = SPARE_BUFFERS.try_with(|spare| spare.set(Some(buffers)));
    }
}

impl Inspector<'_> {
    /// Inspects one value and appends what it finds to `out`.
    pub fn inspect(&mut self, value: &str, kind: ValueKind<'_>, out: &mut Vec<Detection>) {
        let head = kind.recurs_across_requests();
        let buffers = self.buffers.get_or_insert_with(Box::default);
        let seen = if head {
            &mut buffers.seen_head
        } else {
            &mut buffers.seen_clean
        };
        if seen.contains(value, &kind) {
            return;
        }
        let before = out.len();
        self.inspect_uncached(value, kind, out);
        if out.len() == before {
            let buffers = self.buffers.get_or_insert_with(Box::default);
            let seen = if head {
                &mut buffers.seen_head
            } else {
                &mut buffers.seen_clean
            };
            seen.insert(value, &kind);
        }
    }

    fn inspect_uncached(&mut self, value: &str, kind: ValueKind<'_>, out: &mut Vec<Detection>) {
        let settings = &self.detector.settings;
        let cap = settings.max_value_bytes;
        let truncated = value.len() > cap;
        let (head, tail) = if truncated {
            let half = cap / 2;
            let head_end = floor_char_boundary(value, half);
            let tail_start = ceil_char_boundary(value, value.len() - half);
            (&value[..head_end], Some(&value[tail_start..]))
        } else {
            (value, None)
        };
        let mut sink = Sink::new(settings, out, Decoding::Normalized);
        if truncated {
            sink.report(&rules::ANOMALY_VALUE_TRUNCATED, head, 0..head.len().min(16));
        }
        for part in std::iter::once(head).chain(tail) {
            self.inspect_part(part, kind, &mut sink);
        }
    }

    fn inspect_part(&mut self, value: &str, kind: ValueKind<'_>, sink: &mut Sink<'_>) {
        let settings = &self.detector.settings;
        let engines = &self.detector.engines;
        let buffers = self.buffers.get_or_insert_with(Box::default);
        let view = buffers
            .normalizer
            .normalize(value, settings.max_decode_rounds);
        sink.decoding = Decoding::Normalized;
        let may_be_base64 = view.decoded || !view.flags.any(normalize::NOT_BASE64);
        engines.run(value, &view, kind, &mut buffers.scratch, sink);
        if !may_be_base64 {
            return;
        }
        // Base64 as sent, or once backslash escapes are undone
        // (`\u0058\u0079QkTk...`).
        let candidate = normalize::base64_candidate(value).or_else(|| {
            (view.text.len() != value.len() && memchr::memchr(b'\\', value.as_bytes()).is_some())
                .then(|| normalize::base64_candidate(view.text))
                .flatten()
        });
        if let Some(decoded) = candidate {
            let view = buffers
                .base64
                .normalize(&decoded, settings.max_decode_rounds);
            if view.flags.contains(CharFlags::BINARY) {
                return;
            }
            sink.decoding = Decoding::Base64;
            engines.run(&decoded, &view, kind, &mut buffers.scratch, sink);
            sink.decoding = Decoding::Normalized;
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Where engines report: filters by paranoia level and disabled categories,
/// and keeps one detection per rule per value.
pub(crate) struct Sink<'a> {
    settings: &'a DetectorSettings,
    out: &'a mut Vec<Detection>,
    first: usize,
    pub(crate) decoding: Decoding,
}

impl<'a> Sink<'a> {
    fn new(
        settings: &'a DetectorSettings,
        out: &'a mut Vec<Detection>,
        decoding: Decoding,
    ) -> Self {
        let first = out.len();
        Sink {
            settings,
            out,
            first,
            decoding,
        }
    }

    /// Whether a rule of this paranoia level and category can report at all
    /// (lets engines skip work for rules that are off).
    pub(crate) fn wants(&self, rule: &Rule) -> bool {
        rule.paranoia <= self.settings.paranoia_level
            && !self.settings.disabled_categories.contains(&rule.category)
    }

    pub(crate) fn report(&mut self, rule: &'static Rule, text: &str, span: Range<usize>) {
        if !self.wants(rule) {
            return;
        }
        if self.out[self.first..]
            .iter()
            .any(|d| std::ptr::eq(d.rule, rule))
        {
            return;
        }
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let end = ceil_char_boundary(text, span.end.clamp(start, text.len()));
        let matched: String = text[start..end].chars().take(MATCH_CHARS).collect();
        self.out.push(Detection {
            rule,
            matched,
            span: start..end,
            decoding: self.decoding,
        });
    }

    pub(crate) fn paranoia(&self) -> u8 {
        self.settings.paranoia_level
    }
}

#[cfg(test)]
mod tests;

/// Entry points for the fuzz targets in `fuzz/`: each runs one tokenizer or
/// engine on a value at paranoia level 4. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::{Detection, DetectorSettings, Sink, normalize::Normalizer};

    fn with_sink(value: &str, run: impl FnOnce(&str, &mut Sink<'_>)) -> Vec<Detection> {
        let settings = DetectorSettings {
            paranoia_level: 4,
            ..DetectorSettings::default()
        };
        let mut out = Vec::new();
        let mut normalizer = Normalizer::default();
        let view = normalizer.normalize(value, settings.max_decode_rounds);
        assert_eq!(view.text.len(), view.lower.len(), "lower keeps offsets");
        assert!(view.lower.is_ascii(), "lower is ASCII");
        let mut sink = Sink::new(&settings, &mut out, crate::Decoding::Normalized);
        run(view.lower, &mut sink);
        for d in &out {
            assert!(d.span.start <= d.span.end && d.span.end <= value.len().max(view.text.len()));
        }
        out
    }

    pub fn sql(value: &str) -> Vec<Detection> {
        with_sink(value, |lower, sink| {
            let mut tokens = Vec::new();
            crate::engines::sqli_for_fuzzing(lower, &mut tokens, sink)
        })
    }

    pub fn html(value: &str) -> Vec<Detection> {
        with_sink(value, crate::engines::xss_for_fuzzing)
    }

    pub fn shell(value: &str) -> Vec<Detection> {
        with_sink(value, crate::engines::shell_for_fuzzing)
    }

    /// Normalizes `value`; returns the normalized text and its lower-cased copy.
    pub fn normalize(value: &str) -> (String, String) {
        let mut normalizer = Normalizer::default();
        let view = normalizer.normalize(value, 4);
        (view.text.to_owned(), view.lower.to_owned())
    }
}

#[cfg(test)]
mod dispatch_tests {
    use super::*;

    /// Names reach the protocol checks only through the ` http/` gate (or
    /// as multipart names): a request line smuggled into a name is still
    /// request splitting.
    #[test]
    fn request_lines_in_names_are_still_splitting() {
        let detector = Detector::new(&DetectorSettings::default());
        for kind in [
            ValueKind::JsonKey { parent: "" },
            ValueKind::QueryName,
            ValueKind::FormName,
            ValueKind::CookieName,
        ] {
            let mut out = Vec::new();
            detector.inspect("GET /admin HTTP/1.1", kind, &mut out);
            assert!(
                out.iter().any(|d| d.rule.id == "crlf.http_splitting"),
                "{kind:?}: {out:?}"
            );
        }
    }
}
