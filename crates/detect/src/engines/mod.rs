//! The engines and the dispatcher that decides, from the byte classes of a
//! normalized value, which of them can possibly match it. A value of plain
//! words and numbers reaches no engine at all.

mod batch;
mod encoded;
mod mail;
pub(crate) mod misc;
mod path;
mod rce;
mod sqli;
mod sqli_fragment;
mod ssrf;
mod xss;
mod xss_js;
pub(crate) mod xxe;

use crate::normalize::{CharFlags, View};
use crate::{Sink, ValueKind};

/// Engine groups whose every report needs one of a fixed set of literals;
/// one automaton over all of them, run once per value, says which groups
/// can report at all (most benign values reach none).
const ANCHOR_JAVA: u8 = 1;
const ANCHOR_SENSITIVE: u8 = 1 << 1;
const ANCHOR_WRAPPER: u8 = 1 << 2;
const ANCHOR_DESER: u8 = 1 << 3;

struct Anchors {
    matcher: aho_corasick::AhoCorasick,
    /// The group bit of each pattern.
    group: Vec<u8>,
}

impl Anchors {
    fn new() -> Self {
        let lists: [(u8, &[&[&str]]); 4] = [
            (ANCHOR_JAVA, misc::JAVA_ANCHORS),
            (ANCHOR_SENSITIVE, &[path::SENSITIVE]),
            (ANCHOR_WRAPPER, &[path::WRAPPERS]),
            (ANCHOR_DESER, misc::DESER_ANCHORS),
        ];
        let mut patterns = Vec::new();
        let mut group = Vec::new();
        for (bit, sets) in lists {
            for set in sets {
                for p in *set {
                    patterns.push(*p);
                    group.push(bit);
                }
            }
        }
        Anchors {
            matcher: crate::text::literal_matcher(&patterns),
            group,
        }
    }

    /// The groups with at least one literal in `lower`.
    fn of(&self, lower: &str) -> u8 {
        let mut bits = 0;
        for m in self.matcher.find_overlapping_iter(lower) {
            bits |= self.group[m.pattern().as_usize()];
            if bits == ANCHOR_JAVA | ANCHOR_SENSITIVE | ANCHOR_WRAPPER | ANCHOR_DESER {
                break;
            }
        }
        bits
    }
}

/// Everything compiled once per detector.
pub(crate) struct Engines {
    anchors: Anchors,
    java: misc::JavaMatchers,
    scanner: misc::ScannerMatcher,
    base64: encoded::Base64Matcher,
}

/// Buffers reused from value to value.
#[derive(Default)]
pub(crate) struct Scratch {
    sql: Vec<sqli::Token>,
    shell: rce::ShellScratch,
    path: path::PathScratch,
    lookups: String,
    decoded: Vec<u8>,
    batch: Vec<(usize, usize)>,
}

/// Flags of text that no engine needs to look at: words, digits, spaces,
/// commas and non-ASCII letters.
const PLAIN: CharFlags = CharFlags::ALPHA;

fn only_plain(flags: CharFlags) -> bool {
    let plain =
        PLAIN | CharFlags::DIGIT | CharFlags::SPACE | CharFlags::NON_ASCII | CharFlags::COMMA;
    plain.contains(flags)
}

impl Engines {
    pub(crate) fn new() -> Self {
        Engines {
            anchors: Anchors::new(),
            java: misc::JavaMatchers::new(),
            scanner: misc::ScannerMatcher::new(),
            base64: encoded::Base64Matcher::new(),
        }
    }

    /// Runs every engine that can match `view` (the normalized form of `raw`).
    pub(crate) fn run(
        &self,
        raw: &str,
        view: &View<'_>,
        kind: ValueKind<'_>,
        scratch: &mut Scratch,
        sink: &mut Sink<'_>,
    ) {
        let first_new = sink.out.len();
        self.run_engines(raw, view, kind, scratch, sink);
        // Engines match on the ASCII lower-cased copy; excerpts show the
        // normalized text itself (same offsets).
        for d in &mut sink.out[first_new..] {
            if d.span.end <= view.text.len()
                && view.text.is_char_boundary(d.span.start)
                && view.text.is_char_boundary(d.span.end)
            {
                d.matched = view.text[d.span.clone()]
                    .chars()
                    .take(crate::MATCH_CHARS)
                    .collect();
            }
        }
    }

    fn run_engines(
        &self,
        raw: &str,
        view: &View<'_>,
        kind: ValueKind<'_>,
        scratch: &mut Scratch,
        sink: &mut Sink<'_>,
    ) {
        let f = view.flags;
        let lower = view.lower;
        let text = view.text;
        if let Some(header) = kind.header_name() {
            misc::scanner(lower, header, &self.scanner, sink);
        }
        if kind.is_name() || matches!(kind, ValueKind::PathSegment) {
            misc::session(lower, kind, sink);
        }
        if kind.is_name()
            || matches!(kind, ValueKind::MultipartFilename)
            || crate::text::contains(lower, " http/")
        {
            misc::protocol_values(lower, kind, sink);
        }
        // Base64 at any alignment: only the value as sent (the decoded
        // pass of a base64 value is not base64 again).
        if sink.decoding == crate::Decoding::Normalized
            && encoded::looks_like_base64(raw.trim().trim_end_matches('=').as_bytes())
        {
            encoded::inspect(raw, &self.base64, &mut scratch.decoded, sink);
        }
        if only_plain(f) {
            let statement_words = [
                "select", "union", "insert", "delete", "drop", "update", "exec", "waitfor",
                "shutdown", "truncate", "order", "group", "having", "create", "null",
            ];
            // System catalogue names are SQL on their own (`information_schema`).
            let catalogue_words = [
                "_schema",
                "pg_",
                "sysobjects",
                "syscolumns",
                "msys",
                "sqlite_",
                "tempdb",
                "msdb",
            ];
            if (f.contains(CharFlags::SPACE) && statement_words.iter().any(|w| lower.contains(w)))
                || catalogue_words.iter().any(|w| lower.contains(w))
            {
                sqli::inspect(lower, false, false, &mut scratch.sql, sink);
            }
            if kind.is_name() {
                misc::prototype_pollution(lower, kind, sink);
            }
            // Serialized objects in base64 or hex are letters and digits only.
            if f.contains(CharFlags::DIGIT)
                && lower.len() >= 8
                && self.anchors.of(lower) & ANCHOR_DESER != 0
            {
                misc::deserialization(text, lower, kind, sink);
            }
            // A command with plain arguments (`net view`, `sleep 5`), or a bare
            // command name at paranoia 3, is plain text too.
            if sink.paranoia() >= 3 || rce::starts_with_command(lower) {
                rce::inspect(lower, &mut scratch.shell, sink);
            }
            let head = lower.trim_start();
            if head.starts_with("if ") || head.starts_with("for ") {
                batch::inspect(lower, &mut scratch.batch, sink);
            }
            return;
        }
        let anchors = self.anchors.of(lower);
        misc::control_characters(text, view.had_nul, f, kind, sink);
        let sql_punctuation = CharFlags::QUOTE
            | CharFlags::SEMICOLON
            | CharFlags::PAREN
            | CharFlags::EQUALS
            | CharFlags::PIPE_AMP
            | CharFlags::HASH
            | CharFlags::STAR
            | CharFlags::AT
            | CharFlags::ANGLE
            | CharFlags::OPERATOR;
        if f.any(sql_punctuation)
            || crate::text::contains(lower, "--")
            || (f.contains(CharFlags::SPACE) && crate::text::contains(lower, "union"))
        {
            let has_single = memchr::memchr(b'\'', lower.as_bytes()).is_some();
            let has_double = memchr::memchr(b'"', lower.as_bytes()).is_some();
            sqli::inspect(lower, has_single, has_double, &mut scratch.sql, sink);
        }
        if f.any(
            CharFlags::ANGLE
                | CharFlags::COLON
                | CharFlags::PAREN
                | CharFlags::BACKTICK
                | CharFlags::BRACE
                | CharFlags::BRACKET,
        ) || crate::text::contains(lower, "document.")
        {
            xss::inspect(lower, sink);
        }
        // Shell syntax needs an operator or an expansion character; without
        // one, only a value that starts with a command (`uname -a`,
        // `c''at /etc/passwd`) can be one.
        let shell = CharFlags::SEMICOLON
            | CharFlags::PIPE_AMP
            | CharFlags::BACKTICK
            | CharFlags::DOLLAR
            | CharFlags::NEWLINE
            | CharFlags::PAREN
            | CharFlags::BRACE
            | CharFlags::ANGLE
            | CharFlags::BACKSLASH;
        let first_word = lower.trim_start().split([' ', '\t']).next().unwrap_or("");
        // `/etc/pas[s]wd`, `/???/c?t`: a globbed path.
        let glob_path = f.contains(CharFlags::SLASH)
            && f.any(CharFlags::BRACKET | CharFlags::QUESTION | CharFlags::STAR);
        if f.any(shell)
            || glob_path
            || (f.contains(CharFlags::OPERATOR) && crate::text::contains(lower, "%"))
            || rce::starts_with_command(lower)
            || first_word.contains(['\'', '"'])
        {
            rce::inspect(lower, &mut scratch.shell, sink);
        }
        if crate::text::contains(lower, "if") || crate::text::contains(lower, "for") {
            batch::inspect(lower, &mut scratch.batch, sink);
        }
        // `etc` + `passwd` behind undecodable separators has neither slash nor dot.
        let spelled_path =
            crate::text::contains(lower, "etc") || crate::text::contains(lower, "0x2");
        if f.any(CharFlags::SLASH | CharFlags::DOT | CharFlags::COLON) || spelled_path {
            path::inspect(
                lower,
                matches!(kind, ValueKind::PathSegment),
                anchors & ANCHOR_SENSITIVE != 0,
                anchors & ANCHOR_WRAPPER != 0,
                &mut scratch.path,
                sink,
            );
        }
        // A Referer or Origin names the site the client came from, often the
        // gateway's own (loopback in development): not a fetch target.
        let own_url = matches!(
            kind,
            ValueKind::HeaderValue {
                name: "referer" | "origin"
            }
        );
        let host_like = f.any(CharFlags::COLON | CharFlags::DOT | CharFlags::SLASH)
            || lower.starts_with("localhost")
            || lower.starts_with("ip6-");
        if host_like && !own_url {
            ssrf::inspect(lower, !f.contains(CharFlags::SPACE), sink);
        }
        if f.any(CharFlags::DOLLAR | CharFlags::EQUALS | CharFlags::SEMICOLON | CharFlags::PIPE_AMP)
            || crate::text::contains(lower, "this.")
        {
            misc::nosql(lower, kind, sink);
        }
        if f.contains(CharFlags::PAREN) || lower.starts_with('*') {
            misc::ldap(lower, sink);
        }
        if f.any(CharFlags::BRACE | CharFlags::BRACKET)
            || crate::text::contains(lower, "<%")
            || crate::text::contains(lower, "@(")
            || crate::text::contains(lower, "<#")
        {
            misc::ssti(lower, sink);
        }
        if f.contains(CharFlags::ANGLE) {
            if crate::text::contains(lower, "<!--#") {
                misc::ssi(lower, sink);
            }
            if crate::text::contains(lower, "<!")
                || crate::text::contains(lower, "xi:")
                || crate::text::contains(lower, "xsl:")
            {
                xxe::inspect_lower(lower, sink);
            }
        }
        if f.contains(CharFlags::NEWLINE) {
            misc::crlf(lower, sink);
            mail::inspect(lower, sink);
        }
        if crate::text::contains(lower, "proto") || kind.is_name() {
            misc::prototype_pollution(lower, kind, sink);
        }
        if f.contains(CharFlags::DOLLAR) && f.contains(CharFlags::BRACE) {
            misc::jndi(lower, &mut scratch.lookups, sink);
        }
        if anchors & ANCHOR_DESER != 0
            && f.any(
                CharFlags::DIGIT
                    | CharFlags::COLON
                    | CharFlags::NEWLINE
                    | CharFlags::OPERATOR
                    | CharFlags::SLASH,
            )
        {
            misc::deserialization(text, lower, kind, sink);
        }
        if f.contains(CharFlags::PAREN) && f.contains(CharFlags::BRACE) {
            misc::shellshock(lower, sink);
        }
        if f.any(
            CharFlags::ANGLE
                | CharFlags::DOLLAR
                | CharFlags::PAREN
                | CharFlags::COLON
                | CharFlags::BRACKET
                | CharFlags::BRACE,
        ) || matches!(
            kind,
            ValueKind::MultipartFilename | ValueKind::HeaderValue { .. }
        ) {
            misc::php(text, lower, kind, sink);
        }
        if anchors & ANCHOR_JAVA != 0 {
            misc::java(lower, &self.java, sink);
        }
        if f.any(CharFlags::DOT | CharFlags::PAREN | CharFlags::BRACKET | CharFlags::DOLLAR)
            || crate::text::contains(lower, "child_process")
            || crate::text::contains(lower, "__js_function")
        {
            misc::nodejs(lower, sink);
            misc::script_loops_and_interpolation(lower, sink);
        }
        // Not in a path segment: `/javascript-manual/document.cookie` and
        // `/eval(` name pages, no page runs them.
        if !matches!(kind, ValueKind::PathSegment)
            && f.any(
                CharFlags::DOT
                    | CharFlags::PAREN
                    | CharFlags::BRACKET
                    | CharFlags::BACKTICK
                    | CharFlags::NEWLINE
                    | CharFlags::OPERATOR
                    | CharFlags::COLON,
            )
        {
            xss_js::inspect(lower, sink);
        }
        if crate::text::contains(lower, "cookie") {
            misc::session(lower, ValueKind::TextBody, sink);
        }
    }
}

pub(crate) fn sqli_for_fuzzing(lower: &str, tokens: &mut Vec<sqli::Token>, sink: &mut Sink<'_>) {
    sqli::inspect(
        lower,
        lower.contains('\''),
        lower.contains('"'),
        tokens,
        sink,
    );
}

pub(crate) fn xss_for_fuzzing(lower: &str, sink: &mut Sink<'_>) {
    xss::inspect(lower, sink);
}

pub(crate) fn shell_for_fuzzing(lower: &str, sink: &mut Sink<'_>) {
    rce::inspect(lower, &mut rce::ShellScratch::default(), sink);
}
