//! The engines and the dispatcher that decides, from the byte classes of a
//! normalized value, which of them can possibly match it. A value of plain
//! words and numbers reaches no engine at all.

mod batch;
mod encoded;
mod mail;
pub(crate) mod misc;
mod path;
mod php_code;
mod rce;
mod sqli;
mod sqli_fragment;
mod ssrf;
mod xss;
mod xss_js;
pub(crate) mod xxe;

use aho_corasick::automaton::Automaton as _;

use crate::normalize::{CharFlags, View};
use crate::{Sink, ValueKind};

/// The literals the dispatcher asks about, each with a bit of the gate
/// mask: one automaton over all of them, run once per value, answers every
/// "does the value contain ..." question below (most benign values contain
/// none of them, and engines whose every report needs one are skipped).
mod gate {
    pub(super) const JAVA: u64 = 1;
    pub(super) const SENSITIVE: u64 = 1 << 1;
    pub(super) const WRAPPER: u64 = 1 << 2;
    pub(super) const DESER: u64 = 1 << 3;
    /// SQL statement words (`select`, `union`, ...), in plain text.
    pub(super) const SQL_WORD: u64 = 1 << 4;
    /// System catalogue names (`information_schema`), SQL on their own, and
    /// SQL syntax glued into one word ([`SQL_GLUED_SYNTAX`]).
    pub(super) const SQL_CATALOGUE: u64 = 1 << 5;
    pub(super) const HTTP_VERSION: u64 = 1 << 6;
    pub(super) const DASHES: u64 = 1 << 7;
    pub(super) const UNION: u64 = 1 << 8;
    pub(super) const DOCUMENT: u64 = 1 << 9;
    /// `if` or `for`: a cmd batch construct may start here.
    pub(super) const BATCH: u64 = 1 << 10;
    /// `etc` or `0x2`: a path spelled without separators.
    pub(super) const SPELLED_PATH: u64 = 1 << 11;
    /// `this.`, `db.`: server-side JavaScript of a NoSQL query.
    pub(super) const THIS: u64 = 1 << 12;
    /// `<%`, `@(`, `<#`: template syntax without braces.
    pub(super) const TEMPLATE: u64 = 1 << 13;
    /// `<!--#` (server-side includes), `<esi:`, `<!--esi` (Edge Side
    /// Includes): every report of `misc::ssi` starts with one.
    pub(super) const SSI: u64 = 1 << 14;
    /// `<!`, `xi:`, `xsl:`.
    pub(super) const XML: u64 = 1 << 15;
    pub(super) const PROTO: u64 = 1 << 16;
    /// `child_process`, `__js_function`.
    pub(super) const NODE: u64 = 1 << 17;
    pub(super) const COOKIE: u64 = 1 << 18;
    /// SQL comparison words (`42 like 42`, `1 is not 2`).
    pub(super) const SQL_COMPARE: u64 = 1 << 19;
    /// A fragment every session-id parameter name has
    /// ([`misc::SESSION_NAME_FRAGMENTS`]): names without one skip the
    /// session engine.
    pub(super) const SESSION_NAME: u64 = 1 << 20;
    /// `..`, `0x2e` ([`path::DOT_LITERALS`]).
    pub(super) const PATH_DOTS: u64 = 1 << 21;
    /// [`path::FOLD_LITERALS`].
    pub(super) const PATH_FOLD: u64 = 1 << 22;
    /// `//`.
    pub(super) const PATH_SLASHES: u64 = 1 << 23;
    /// [`path::FILE_WORD_LITERALS`].
    pub(super) const PATH_FILE_WORD: u64 = 1 << 24;
    /// `://`, `http:`, `https:` ([`ssrf::URL_LITERALS`]).
    pub(super) const SSRF_URL: u64 = 1 << 25;
    /// [`ssrf::METADATA_ADDRESSES`].
    pub(super) const SSRF_METADATA_ADDRESS: u64 = 1 << 26;
    /// [`ssrf::INTERNAL_NAME_LITERALS`].
    pub(super) const SSRF_INTERNAL_NAME: u64 = 1 << 27;
    /// `__`: an ORM lookup across relations may be here.
    pub(super) const ORM: u64 = 1 << 28;
    /// A Java serialization stream in base64 ([`encoded::MAGIC_RUNS`]: every
    /// form of [`misc::JAVA_STREAM_BASE64`] holds one).
    pub(super) const JAVA_STREAM: u64 = 1 << 29;
    /// Server-side script markers: every literal the Node.js check looks
    /// for ([`misc::NODE_NEEDLES`]) and those of the constant-loop and
    /// Perl-interpolation check ([`misc::SCRIPT_LOOP_LITERALS`]).
    pub(super) const SERVER_SCRIPT: u64 = 1 << 42;
    /// Browser script without markup ([`xss_js::GATE_LITERALS`]).
    pub(super) const BROWSER_SCRIPT: u64 = 1 << 41;
    /// A function a call injection names: JavaScript sinks and DOM names
    /// ([`xss::SINK_NAME_LITERALS`]), PHP functions ([`misc::PHP_STRONG`],
    /// [`misc::PHP_WEAK_REPORTED`], [`misc::PHP_CALL_LITERALS`]). Without one, `xss::inspect` skips its
    /// sink scan and `misc::php` its named-call scan.
    pub(super) const CALLEE: u64 = 1 << 40;
    /// [`sqli::NAME_LITERALS`]: a catalogue or server procedure name may be here.
    pub(super) const SQL_NAME: u64 = 1 << 34;
}

const SQL_STATEMENT_WORDS: &[&str] = &[
    "select", "union", "insert", "delete", "drop", "update", "exec", "waitfor", "shutdown",
    "truncate", "order", "group", "having", "create", "null", "alter",
];

const SQL_CATALOGUE_WORDS: &[&str] = &[
    "_schema",
    "pg_",
    "sysobjects",
    "syscolumns",
    "msys",
    "sqlite_",
    "tempdb",
    "msdb",
    // Server procedures and packages no ordinary value names.
    "xp_cmdshell",
    "xp_dirtree",
    "xp_regread",
    "sp_password",
    "sp_executesql",
    "sp_oacreate",
    "sp_makewebtask",
    "utl_http",
    "utl_inaddr",
    "openrowset",
    "opendatasource",
];

/// SQL written without any of the punctuation that sends a value to the SQL
/// engine: a PostgreSQL cast (`password::int`) and MySQL's `1.e` number glued
/// to a name (`1.e.tables`, `1.e(ascii`).
const SQL_GLUED_SYNTAX: &[&str] = &["::", ".e.", ".e("];

/// The automaton is walked byte by byte through its DFA's transition table
/// rather than through an overlapping-search iterator: a value is read once,
/// and a byte that ends no literal costs one table lookup and one compare
/// (most values are short, where the iterator's per-match set-up dominated).
struct Gates {
    dfa: aho_corasick::dfa::DFA,
    start: aho_corasick::automaton::StateID,
    /// The gate bits of each pattern (a literal listed under several gates
    /// is one pattern with all their bits).
    bits: Vec<u64>,
}

impl Gates {
    fn new() -> Self {
        let lists: [(u64, &[&[&str]]); 35] = [
            (gate::JAVA, misc::JAVA_ANCHORS),
            (gate::SENSITIVE, &[path::SENSITIVE]),
            (gate::WRAPPER, &[path::WRAPPERS]),
            (gate::DESER, misc::DESER_ANCHORS),
            (gate::SQL_WORD, &[SQL_STATEMENT_WORDS]),
            (
                gate::SQL_CATALOGUE,
                &[SQL_CATALOGUE_WORDS, SQL_GLUED_SYNTAX],
            ),
            (gate::HTTP_VERSION, &[&[" http/"]]),
            (gate::DASHES, &[&["--"]]),
            (gate::UNION, &[&["union"]]),
            (gate::DOCUMENT, &[&["document."]]),
            (gate::BATCH, &[&["if", "for"]]),
            (gate::SPELLED_PATH, &[&["etc", "0x2"]]),
            (gate::THIS, &[&["this.", "db."]]),
            (gate::TEMPLATE, &[&["<%", "@(", "<#"]]),
            (gate::SSI, &[&["<!--#", "<esi:", "<!--esi"]]),
            (
                gate::XML,
                &[&["<!", "xi:", "xsl:", "<?xml-s", "pingback.ping"]],
            ),
            (gate::PROTO, &[&["proto", "constructor"]]),
            (gate::NODE, &[&["child_process", "__js_function"]]),
            (gate::COOKIE, &[&["cookie"]]),
            (
                gate::SQL_COMPARE,
                &[&[" like ", " is ", " regexp ", " rlike "]],
            ),
            (gate::SESSION_NAME, &[misc::SESSION_NAME_FRAGMENTS]),
            (gate::PATH_DOTS, &[path::DOT_LITERALS]),
            (gate::PATH_FOLD, &[path::FOLD_LITERALS]),
            (gate::PATH_SLASHES, &[path::SLASHES]),
            (
                gate::PATH_FILE_WORD,
                &[
                    path::FILE_WORD_LITERALS,
                    path::SYSTEM_ROOTS,
                    &[path::WINDOWS_ROOT],
                ],
            ),
            (gate::SSRF_URL, &[ssrf::URL_LITERALS]),
            (gate::SSRF_METADATA_ADDRESS, &[ssrf::METADATA_ADDRESSES]),
            (gate::SSRF_INTERNAL_NAME, &[ssrf::INTERNAL_NAME_LITERALS]),
            (gate::ORM, &[&["__"]]),
            (gate::JAVA_STREAM, &[encoded::MAGIC_RUNS]),
            (
                gate::SERVER_SCRIPT,
                &[misc::NODE_NEEDLES, misc::SCRIPT_LOOP_LITERALS],
            ),
            (gate::BROWSER_SCRIPT, xss_js::GATE_LITERALS),
            (gate::CALLEE, xss::SINK_NAME_LITERALS),
            (
                gate::CALLEE,
                &[
                    misc::PHP_STRONG,
                    misc::PHP_WEAK_REPORTED,
                    misc::PHP_CALL_LITERALS,
                ],
            ),
            (gate::SQL_NAME, &[sqli::NAME_LITERALS]),
        ];
        let mut patterns: Vec<&str> = Vec::new();
        let mut bits: Vec<u64> = Vec::new();
        for (bit, sets) in lists {
            for set in sets {
                for p in *set {
                    match patterns.iter().position(|q| q == p) {
                        Some(i) => bits[i] |= bit,
                        None => {
                            patterns.push(p);
                            bits.push(bit);
                        }
                    }
                }
            }
        }
        let (dfa, start) = crate::text::walked_dfa(&patterns);
        Gates { dfa, start, bits }
    }

    /// The gates with at least one literal in `lower`.
    fn of(&self, lower: &str) -> u64 {
        let dfa = &self.dfa;
        let mut sid = self.start;
        let mut mask = 0;
        for &b in lower.as_bytes() {
            sid = dfa.next_state(aho_corasick::Anchored::No, sid, b);
            if dfa.is_special(sid) && dfa.is_match(sid) {
                for i in 0..dfa.match_len(sid) {
                    mask |= self.bits[dfa.match_pattern(sid, i).as_usize()];
                }
            }
        }
        mask
    }
}

/// Everything compiled once per detector.
pub(crate) struct Engines {
    gates: Gates,
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
    batch: Vec<(usize, usize)>,
}

impl Scratch {
    /// Bytes its buffers hold (roughly: the token and word buffers by length).
    pub(crate) fn capacity(&self) -> usize {
        self.sql.capacity() * std::mem::size_of::<sqli::Token>()
            + self.shell.capacity()
            + self.path.capacity()
            + self.lookups.capacity()
            + self.batch.capacity() * std::mem::size_of::<(usize, usize)>()
    }
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
            gates: Gates::new(),
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
        let gates = self.gates.of(lower);
        if gates & gate::ORM != 0 {
            misc::orm_relation_lookup(lower, sink);
        }
        if f.contains(CharFlags::NON_ASCII)
            && memchr::memmem::find(text.as_bytes(), "¼".as_bytes()).is_some()
        {
            xss::seven_bit(text, sink);
        }
        // Every name and path parameter the session engine knows has a
        // session-name fragment, and every `Set-Cookie` shape it looks for
        // has `cookie`.
        if (kind.is_name() || matches!(kind, ValueKind::PathSegment))
            && gates & (gate::SESSION_NAME | gate::COOKIE) != 0
        {
            misc::session(lower, kind, sink);
        }
        // `protocol_values` reports a multipart name or file name with a
        // separator in it (those two kinds only), and request splitting,
        // which it looks for only at a ` http/` (the HTTP_VERSION literal,
        // walked over the same `lower`): any other value, the names of
        // JSON, query, form and cookie fields among them, cannot report.
        if matches!(
            kind,
            ValueKind::MultipartName | ValueKind::MultipartFilename
        ) || gates & gate::HTTP_VERSION != 0
        {
            misc::protocol_values(lower, kind, sink);
        }
        // Base64 at any alignment: only the value as sent (the decoded
        // pass of a base64 value is not base64 again).
        // A value too short to decode to a gadget name can only hold the
        // stream magic, and then holds one of its runs (the JAVA_STREAM
        // gate: a base64 value is its own lower-cased view).
        if sink.decoding == crate::Decoding::Normalized
            && (view.decoded || !f.any(crate::normalize::NOT_BASE64))
        {
            let base64 = crate::text::trim(raw).trim_end_matches('=');
            if (gates & gate::JAVA_STREAM != 0
                || encoded::long_enough_for_a_name(base64.len(), sink.paranoia()))
                && encoded::looks_like_base64(base64.as_bytes())
            {
                encoded::inspect_trimmed(base64, &self.base64, sink);
            }
        }
        if only_plain(f) {
            // (A comparison of numbers, `42 like 42`, is plain text too.)
            if (f.contains(CharFlags::SPACE) && gates & gate::SQL_WORD != 0)
                || gates & gate::SQL_CATALOGUE != 0
                || (gates & gate::SQL_COMPARE != 0
                    && lower.as_bytes().first().is_some_and(u8::is_ascii_digit))
                || sqli_fragment::opens_with_logic_word(lower)
            {
                // (Plain text has no quote or backtick.)
                let hints = sqli::Hints {
                    single: false,
                    double: false,
                    backtick: false,
                    names: gates & gate::SQL_NAME != 0,
                };
                sqli::inspect(lower, hints, &mut scratch.sql, sink);
            }
            // Every prototype-pollution report names `proto` or `constructor`;
            // a plain value (`__proto__` as a JSON string) is not a key.
            if kind.is_name() && gates & gate::PROTO != 0 {
                misc::prototype_pollution(lower, kind, sink);
            }
            // `__js_function`, `_$$ND_FUNC$$_` markers are plain words.
            if gates & gate::NODE != 0 && gates & gate::SERVER_SCRIPT != 0 {
                misc::nodejs(lower, sink);
            }
            // Serialized objects in base64 or hex are letters and digits only.
            if (f.contains(CharFlags::DIGIT) && lower.len() >= 8 && gates & gate::DESER != 0)
                || gates & gate::JAVA_STREAM != 0
            {
                misc::deserialization(text, lower, kind, sink);
            }
            // A command with plain arguments (`net view`, `sleep 5`), or a bare
            // command name at paranoia 3, is plain text too.
            if sink.paranoia() >= 3 || rce::starts_with_command_in(lower, f) {
                rce::inspect(lower, &mut scratch.shell, sink);
            }
            let head = crate::text::trim_start(lower);
            if head.starts_with("if ") || head.starts_with("for ") {
                batch::inspect(lower, &mut scratch.batch, sink);
            }
            // A PHP session file name (`sess_<id>`) as an upload name.
            if head.starts_with("sess_") {
                misc::php(text, lower, kind, f, gates & gate::CALLEE != 0, sink);
            }
            // `etc` and a system file behind separators that decoded to
            // letters, digits or non-ASCII (`etc0x2fpasswd`, `%uEFC8`).
            if gates & gate::SPELLED_PATH != 0 {
                path::inspect_as_sent(raw, lower, &mut scratch.path, sink);
            }
            return;
        }
        misc::control_characters(text, view.had_nul, f, kind, sink);
        // A number: a digit, sign or dot first, and 17 significant digits
        // (one that can hang a parser has a `.` or a `-`: it is not plain).
        if lower.len() >= 18
            && f.contains(CharFlags::DIGIT)
            && !f.any(crate::normalize::NOT_IN_NUMBERS)
            && matches!(lower.as_bytes()[0], b'0'..=b'9' | b'+' | b'-' | b'.' | b' ')
            && misc::float_parse_hang(lower)
        {
            sink.report(
                &crate::rules::ANOMALY_FLOAT_PARSE,
                lower,
                0..lower.len().min(32),
            );
        }
        let sql_punctuation = CharFlags::QUOTE
            | CharFlags::BACKTICK
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
            || gates & (gate::DASHES | gate::SQL_CATALOGUE) != 0
            || (f.contains(CharFlags::SPACE) && gates & (gate::UNION | gate::SQL_WORD) != 0)
            || (f.contains(CharFlags::SPACE) && sqli_fragment::opens_with_logic_word(lower))
        {
            // (`QUOTE` is the class of all three quotes.)
            let quoted = f.contains(CharFlags::QUOTE);
            let hints = sqli::Hints {
                single: quoted && memchr::memchr(b'\'', lower.as_bytes()).is_some(),
                double: quoted && memchr::memchr(b'"', lower.as_bytes()).is_some(),
                backtick: f.contains(CharFlags::BACKTICK),
                names: gates & gate::SQL_NAME != 0,
            };
            sqli::inspect(lower, hints, &mut scratch.sql, sink);
        }
        if f.any(
            CharFlags::ANGLE
                | CharFlags::COLON
                | CharFlags::PAREN
                | CharFlags::BACKTICK
                | CharFlags::BRACE
                | CharFlags::BRACKET
                | CharFlags::EQUALS,
        ) || gates & gate::DOCUMENT != 0
        {
            xss::inspect(lower, f, gates & gate::CALLEE != 0, sink);
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
        // (Read only when nothing cheaper sent the value to the shell engine,
        // and only when the value holds a quote at all.)
        let first_word_quoted = || {
            f.contains(CharFlags::QUOTE)
                && crate::text::trim_start(lower)
                    .split([' ', '\t'])
                    .next()
                    .unwrap_or("")
                    .contains(['\'', '"'])
        };
        // `/etc/pas[s]wd`, `/???/c?t`: a globbed path.
        let glob_path = f.contains(CharFlags::SLASH)
            && f.any(CharFlags::BRACKET | CharFlags::QUESTION | CharFlags::STAR);
        if f.any(shell)
            || glob_path
            || (f.contains(CharFlags::OPERATOR) && crate::text::contains(lower, "%"))
            || rce::starts_with_command_in(lower, f)
            // `~+` (directory stack), `!-1` (history): a whole value.
            || (f.any(CharFlags::TILDE | CharFlags::OPERATOR)
                && crate::text::trim_start(lower).starts_with(['~', '!']))
            || first_word_quoted()
        {
            rce::inspect(lower, &mut scratch.shell, sink);
        }
        // `batch` starts a statement only at the value's start (after blanks
        // and `@`) or after `&`, `|`, `;`, `(` or a line break: without one
        // of those bytes, only a value opening with `if` / `for` can hold one
        // (`Leave ... at #6 if nobody's home` cannot).
        if gates & gate::BATCH != 0
            && (f.any(
                CharFlags::PIPE_AMP | CharFlags::SEMICOLON | CharFlags::PAREN | CharFlags::NEWLINE,
            ) || matches!(
                lower.bytes().find(|b| !matches!(b, b' ' | b'\t' | b'@')),
                Some(b'i' | b'f')
            ))
        {
            batch::inspect(lower, &mut scratch.batch, sink);
        }
        // `etc` + `passwd` behind undecodable separators has neither slash nor dot.
        let spelled_path = gates & gate::SPELLED_PATH != 0;
        // Outside a path segment, no path report without one of these
        // literals (why: at `path::DOT_LITERALS`).
        let path_segment = matches!(kind, ValueKind::PathSegment);
        let path_literals = path::Literals {
            sensitive: gates & gate::SENSITIVE != 0,
            wrapper: gates & gate::WRAPPER != 0,
            dots: gates & gate::PATH_DOTS != 0,
            fold: gates & gate::PATH_FOLD != 0,
            slashes: gates & gate::PATH_SLASHES != 0,
            file_word: gates & gate::PATH_FILE_WORD != 0,
        };
        if (f.any(CharFlags::SLASH | CharFlags::DOT | CharFlags::COLON) || spelled_path)
            && (path_segment || path_literals.any())
        {
            path::inspect(lower, path_segment, path_literals, &mut scratch.path, sink);
        }
        // A `%` that decoding left behind: a fuzzer's junk separator, whose
        // decoding may have garbled the name after it (`%%32%%66etc`); a
        // system file behind escapes that decoded to letters
        // (`%c0%fe%c1%afboot.ini`); a `..` whose separator decoded to one.
        if view.decoded
            && (gates & (gate::SENSITIVE | gate::PATH_DOTS) != 0
                || memchr::memchr(b'%', lower.as_bytes()).is_some())
        {
            path::inspect_as_sent(raw, lower, &mut scratch.path, sink);
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
            let literals = ssrf::Literals {
                url: gates & gate::SSRF_URL != 0,
                metadata_address: gates & gate::SSRF_METADATA_ADDRESS != 0,
                internal_name: gates & gate::SSRF_INTERNAL_NAME != 0,
            };
            ssrf::inspect(lower, !f.contains(CharFlags::SPACE), literals, sink);
        }
        // (`misc::nosql` proves from a few bytes, `may_be_nosql`, when none of
        // its reports can fire.)
        if f.any(CharFlags::DOLLAR | CharFlags::EQUALS | CharFlags::SEMICOLON | CharFlags::PIPE_AMP)
            || gates & gate::THIS != 0
        {
            misc::nosql(lower, kind, sink);
        }
        if f.contains(CharFlags::PAREN) || lower.starts_with('*') {
            misc::ldap(lower, sink);
        }
        if f.any(CharFlags::BRACE | CharFlags::BRACKET) || gates & gate::TEMPLATE != 0 {
            misc::ssti(lower, sink);
        }
        if f.contains(CharFlags::ANGLE) {
            if gates & gate::SSI != 0 {
                misc::ssi(lower, sink);
            }
            if gates & gate::XML != 0 {
                xxe::inspect_lower(lower, sink);
            }
        }
        if f.contains(CharFlags::NEWLINE) {
            misc::crlf(lower, sink);
            mail::inspect(lower, sink);
        }
        if gates & gate::PROTO != 0 {
            misc::prototype_pollution(lower, kind, sink);
        }
        if f.contains(CharFlags::DOLLAR) && f.contains(CharFlags::BRACE) {
            misc::jndi(lower, &mut scratch.lookups, sink);
        }
        if (gates & gate::DESER != 0
            && f.any(
                CharFlags::DIGIT
                    | CharFlags::COLON
                    | CharFlags::NEWLINE
                    | CharFlags::OPERATOR
                    | CharFlags::SLASH,
            ))
            || gates & gate::JAVA_STREAM != 0
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
            misc::php(text, lower, kind, f, gates & gate::CALLEE != 0, sink);
        }
        if f.contains(CharFlags::EQUALS) {
            php_code::inspect_ini(text, lower, sink);
        }
        if gates & gate::JAVA != 0 {
            misc::java(lower, &self.java, sink);
        }
        // Both report only at a match of one of their literals (the
        // SERVER_SCRIPT gate; why: at `misc::nodejs` and
        // `misc::script_loops_and_interpolation`).
        if (f.any(CharFlags::DOT | CharFlags::PAREN | CharFlags::BRACKET | CharFlags::DOLLAR)
            || gates & gate::NODE != 0)
            && gates & gate::SERVER_SCRIPT != 0
        {
            misc::nodejs(lower, sink);
            misc::script_loops_and_interpolation(lower, sink);
        }
        // Not in a path segment: `/javascript-manual/document.cookie` and
        // `/eval(` name pages, no page runs them. Every report needs one of
        // its literals or a backtick (why: at `xss_js::GATE_LITERALS`).
        if !matches!(kind, ValueKind::PathSegment)
            && (gates & gate::BROWSER_SCRIPT != 0 || f.contains(CharFlags::BACKTICK))
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
        if gates & gate::COOKIE != 0 {
            misc::session(lower, ValueKind::TextBody, sink);
        }
    }
}

pub(crate) fn sqli_for_fuzzing(lower: &str, tokens: &mut Vec<sqli::Token>, sink: &mut Sink<'_>) {
    sqli::inspect(lower, sqli::Hints::of(lower), tokens, sink);
}

pub(crate) fn xss_for_fuzzing(lower: &str, sink: &mut Sink<'_>) {
    xss::inspect(lower, crate::normalize::flags_of(lower), true, sink);
}

pub(crate) fn shell_for_fuzzing(lower: &str, sink: &mut Sink<'_>) {
    rce::inspect(lower, &mut rce::ShellScratch::default(), sink);
}
