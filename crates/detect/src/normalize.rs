//! Normalization: turns a value into the text an interpreter downstream would
//! see, so engines match what is executed rather than how it was spelled.
//! Percent escapes (`%XX`, `%uXXXX`) are undone repeatedly up to a bounded
//! number of rounds; overlong and invalid UTF-8 is decoded leniently (overlong
//! forms of ASCII become that ASCII, stray bytes are dropped); NUL bytes and
//! zero-width characters are dropped; full-width and look-alike slashes and
//! dots are folded to ASCII; HTML entities (named, decimal, hex, with or
//! without `;`) and `\xHH` / `\uHHHH` escapes are decoded. The result and an
//! ASCII-lower-cased copy (same byte offsets) are kept in reusable buffers.
//!
//! Never allocates per byte, never loops without bound: every round is one
//! linear pass, and rounds are capped by the caller.

use base64::Engine as _;

/// Byte classes present in a normalized value; engines skip values that
/// cannot contain what they look for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CharFlags(u32);

impl CharFlags {
    pub const QUOTE: CharFlags = CharFlags(1);
    pub const SEMICOLON: CharFlags = CharFlags(1 << 1);
    pub const PAREN: CharFlags = CharFlags(1 << 2);
    pub const ANGLE: CharFlags = CharFlags(1 << 3);
    pub const EQUALS: CharFlags = CharFlags(1 << 4);
    pub const PIPE_AMP: CharFlags = CharFlags(1 << 5);
    pub const DOLLAR: CharFlags = CharFlags(1 << 6);
    pub const BRACE: CharFlags = CharFlags(1 << 7);
    pub const BRACKET: CharFlags = CharFlags(1 << 8);
    pub const SLASH: CharFlags = CharFlags(1 << 9);
    pub const DOT: CharFlags = CharFlags(1 << 10);
    pub const DASH: CharFlags = CharFlags(1 << 11);
    pub const HASH: CharFlags = CharFlags(1 << 12);
    pub const STAR: CharFlags = CharFlags(1 << 13);
    pub const COLON: CharFlags = CharFlags(1 << 14);
    pub const NEWLINE: CharFlags = CharFlags(1 << 15);
    pub const CONTROL: CharFlags = CharFlags(1 << 16);
    pub const NUL: CharFlags = CharFlags(1 << 17);
    pub const BACKTICK: CharFlags = CharFlags(1 << 18);
    pub const AT: CharFlags = CharFlags(1 << 19);
    pub const COMMA: CharFlags = CharFlags(1 << 20);
    pub const SPACE: CharFlags = CharFlags(1 << 21);
    pub const DIGIT: CharFlags = CharFlags(1 << 22);
    pub const ALPHA: CharFlags = CharFlags(1 << 23);
    pub const OPERATOR: CharFlags = CharFlags(1 << 24);
    pub const BACKSLASH: CharFlags = CharFlags(1 << 25);
    /// Decoded bytes that are not text (invalid UTF-8 or many control characters).
    pub const BINARY: CharFlags = CharFlags(1 << 26);
    pub const NON_ASCII: CharFlags = CharFlags(1 << 27);
    pub const TILDE: CharFlags = CharFlags(1 << 28);
    pub const QUESTION: CharFlags = CharFlags(1 << 29);

    pub fn contains(self, other: CharFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn any(self, other: CharFlags) -> bool {
        self.0 & other.0 != 0
    }

    pub fn insert(&mut self, other: CharFlags) {
        self.0 |= other.0;
    }
}

impl std::ops::BitOr for CharFlags {
    type Output = CharFlags;
    fn bitor(self, rhs: CharFlags) -> CharFlags {
        CharFlags(self.0 | rhs.0)
    }
}

/// Bits of [`BYTE_FLAGS`] that are not [`CharFlags`]: what the one scan of
/// a value also tells [`Normalizer::normalize`] (never in a public flag set).
const FLAGS_MASK: u32 = (1 << 30) - 1;
/// A byte that normalization may change (`%`, `&`, `\\`, NUL): see
/// `needs_work` in [`Normalizer::normalize`].
const DECODES: u32 = 1 << 30;
/// An upper-case ASCII letter: the lower-cased copy differs from the text.
const UPPER: u32 = 1 << 31;

/// The flags of each byte, with [`DECODES`] and [`UPPER`] (every byte
/// from 0x80 up is [`CharFlags::NON_ASCII`]).
static BYTE_FLAGS: [u32; 256] = {
    let mut t = [CharFlags::NON_ASCII.0; 256];
    let mut i = 0;
    while i < 128 {
        let c = i as u8;
        let extra = if matches!(c, b'%' | b'&' | b'\\' | 0) {
            DECODES
        } else if c.is_ascii_uppercase() {
            UPPER
        } else {
            0
        };
        t[i] = extra
            | match c {
                b'\'' | b'"' => CharFlags::QUOTE.0,
                b'`' => CharFlags::BACKTICK.0 | CharFlags::QUOTE.0,
                b';' => CharFlags::SEMICOLON.0,
                b'(' | b')' => CharFlags::PAREN.0,
                b'<' | b'>' => CharFlags::ANGLE.0,
                b'=' => CharFlags::EQUALS.0,
                b'|' | b'&' => CharFlags::PIPE_AMP.0,
                b'$' => CharFlags::DOLLAR.0,
                b'{' | b'}' => CharFlags::BRACE.0,
                b'[' | b']' => CharFlags::BRACKET.0,
                b'/' => CharFlags::SLASH.0,
                b'\\' => CharFlags::SLASH.0 | CharFlags::BACKSLASH.0,
                b'.' => CharFlags::DOT.0,
                b'-' => CharFlags::DASH.0,
                b'#' => CharFlags::HASH.0,
                b'*' => CharFlags::STAR.0,
                b':' => CharFlags::COLON.0,
                b'\r' | b'\n' => CharFlags::NEWLINE.0,
                b'@' => CharFlags::AT.0,
                b',' => CharFlags::COMMA.0,
                b' ' | b'\t' => CharFlags::SPACE.0,
                b'~' => CharFlags::TILDE.0,
                b'?' => CharFlags::QUESTION.0,
                b'+' | b'%' | b'^' | b'!' => CharFlags::OPERATOR.0,
                b'0'..=b'9' => CharFlags::DIGIT.0,
                b'a'..=b'z' | b'A'..=b'Z' => CharFlags::ALPHA.0,
                0 => CharFlags::NUL.0 | CharFlags::CONTROL.0,
                0..=31 | 127 => CharFlags::CONTROL.0,
                _ => 0,
            };
        i += 1;
    }
    t
};

/// Flags of a text.
pub fn flags_of(text: &str) -> CharFlags {
    CharFlags(scan(text.as_bytes()) & FLAGS_MASK)
}

/// The flags of `bytes` with the [`DECODES`] and [`UPPER`] bits: one
/// table lookup per byte, so one read of a value tells
/// [`Normalizer::normalize`] everything it needs to know.
fn scan(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0u32, |f, &b| f | BYTE_FLAGS[usize::from(b)])
}

/// `text` lower-cased with every non-ASCII byte replaced by `x`: the same
/// length and offsets as `text`, and every index a character boundary, so
/// engines can slice it anywhere without care (no engine matches non-ASCII
/// letters; keeping them word characters keeps words whole).
pub fn ascii_lower_into(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        out.push_str(text);
        out.make_ascii_lowercase();
        return;
    }
    out.extend(text.bytes().map(|b| {
        if b < 0x80 {
            b.to_ascii_lowercase() as char
        } else {
            'x'
        }
    }));
}

/// A normalized value.
pub struct View<'a> {
    pub text: &'a str,
    /// `text` lower-cased, ASCII only (see [`ascii_lower_into`]): same length and offsets.
    pub lower: &'a str,
    pub flags: CharFlags,
    /// Whether normalization changed anything (the value was encoded).
    pub decoded: bool,
    /// Whether the value had NUL bytes (dropped from `text`).
    pub had_nul: bool,
}

/// Reusable normalization buffers.
#[derive(Default)]
pub struct Normalizer {
    bytes: Vec<u8>,
    spare: Vec<u8>,
    text: String,
    lower: String,
}

impl Normalizer {
    /// Bytes its buffers hold.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity() + self.spare.capacity() + self.text.capacity() + self.lower.capacity()
    }

    /// Normalizes `value`. A value with nothing to decode (no `%`, `&`,
    /// `\\`, NUL or non-ASCII byte: most of them) is its own text, and its
    /// own lower-cased copy when it has no upper-case letter: the view then
    /// borrows `value` and nothing is copied.
    #[inline]
    pub fn normalize<'a>(&'a mut self, value: &'a str, max_rounds: u8) -> View<'a> {
        let raw_scan = scan(value.as_bytes());
        if raw_scan & (DECODES | CharFlags::NON_ASCII.0) == 0 {
            return self.as_is(value, raw_scan);
        }
        self.decode(value, raw_scan, max_rounds)
    }

    /// The view of a value that normalization leaves as it is (`raw_scan`
    /// its [`scan`]): the value itself, lower-cased into a buffer only when
    /// it has an upper-case letter.
    #[inline]
    fn as_is<'a>(&'a mut self, value: &'a str, raw_scan: u32) -> View<'a> {
        let lower = if raw_scan & UPPER == 0 {
            value
        } else {
            self.lower.clear();
            self.lower.push_str(value);
            self.lower.make_ascii_lowercase();
            &self.lower
        };
        View {
            text: value,
            lower,
            flags: CharFlags(raw_scan & FLAGS_MASK),
            decoded: false,
            had_nul: false,
        }
    }

    /// [`Normalizer::normalize`] of a value with a byte that may decode
    /// (out of line: the common path above stays small enough to inline).
    #[inline(never)]
    fn decode<'a>(&'a mut self, value: &'a str, raw_scan: u32, max_rounds: u8) -> View<'a> {
        let raw = value.as_bytes();
        // Most `%` and `&` in benign text decode nothing (`50% off`,
        // `O'Reilly & Sons`, a query string's separators). An ASCII value
        // without NUL or `\\` whose every `%` starts no escape
        // ([`percent_escape_at`]) and every `&` no reference ([`entity_at`])
        // comes out of the passes below as it went in: the first percent
        // round finds no escape and stops, `lenient_utf8` copies ASCII
        // without NUL unchanged, `decode_entities` finds no reference,
        // there is no escape to decode, so no second percent pass; `text`
        // is then `value` (not `decoded`, no NUL), its flags `raw_scan`'s.
        let kept_as_is = CharFlags::NON_ASCII.0 | CharFlags::NUL.0 | CharFlags::BACKSLASH.0;
        if raw_scan & kept_as_is == 0
            && memchr::memchr_iter(b'%', raw).all(|i| !percent_escape_at(raw, i))
            && memchr::memchr_iter(b'&', raw).all(|i| entity_at(&raw[i + 1..]).is_none())
        {
            return self.as_is(value, raw_scan);
        }
        self.bytes.clear();
        self.bytes.extend_from_slice(raw);
        percent_rounds(&mut self.bytes, &mut self.spare, max_rounds);
        let mut had_nul = memchr::memchr(0, &self.bytes).is_some();
        let mut changed_text = false;
        lenient_utf8(&self.bytes, &mut self.text);
        // Twice: an XML or HTML layer escapes the `&` of an entity once
        // more (`ja&amp;tab;vascript:`).
        for _ in 0..2 {
            if !self.text.contains('&') || !decode_entities(&mut self.text, &mut self.spare) {
                break;
            }
            changed_text = true;
        }
        if self.text.contains('\\') {
            changed_text |= decode_escapes(&mut self.text, &mut self.spare);
        }
        // An entity or escape can hide one more layer of percent encoding.
        if changed_text && self.text.contains('%') {
            self.bytes.clear();
            self.bytes.extend_from_slice(self.text.as_bytes());
            percent_rounds(&mut self.bytes, &mut self.spare, 2);
            had_nul |= memchr::memchr(0, &self.bytes).is_some();
            lenient_utf8(&self.bytes, &mut self.text);
        }
        ascii_lower_into(&self.text, &mut self.lower);
        let mut flags = flags_of(&self.text);
        if had_nul {
            flags.insert(CharFlags::NUL);
        }
        View {
            decoded: self.text != value,
            text: &self.text,
            lower: &self.lower,
            flags,
            had_nul,
        }
    }
}

/// The value of one hex digit.
pub(crate) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Whether `input[i]` (a `%`) starts an escape [`percent_once`] decodes.
fn percent_escape_at(input: &[u8], i: usize) -> bool {
    let hex_at = |j: usize| input.get(j).copied().and_then(hex).is_some();
    (hex_at(i + 1) && hex_at(i + 2))
        || (matches!(input.get(i + 1), Some(b'u' | b'U')) && hex4(&input[i + 2..]).is_some())
}

/// One pass of `%XX` / `%uXXXX` decoding; returns whether anything changed.
fn percent_once(input: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    // Most `%` in benign text escape nothing (`50% off`): find the first
    // one that does before copying anything, and copy the text before it
    // in one go (the loop below would copy it byte by byte, unchanged).
    let Some(first) = memchr::memchr_iter(b'%', input).find(|&i| percent_escape_at(input, i))
    else {
        return false;
    };
    out.extend_from_slice(&input[..first]);
    let mut changed = false;
    let mut i = first;
    while i < input.len() {
        let b = input[i];
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                changed = true;
                continue;
            }
            if matches!(input.get(i + 1), Some(b'u' | b'U'))
                && let Some(cp) = hex4(&input[i + 2..])
            {
                if let Some(c) = char::from_u32(cp) {
                    push_char(out, c);
                }
                i += 6;
                changed = true;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    changed
}

fn hex4(s: &[u8]) -> Option<u32> {
    if s.len() < 4 {
        return None;
    }
    let mut v = 0u32;
    for &b in &s[..4] {
        v = v << 4 | hex(b)? as u32;
    }
    Some(v)
}

fn percent_rounds(bytes: &mut Vec<u8>, spare: &mut Vec<u8>, max_rounds: u8) {
    for _ in 0..max_rounds {
        if memchr::memchr(b'%', bytes).is_none() || !percent_once(bytes, spare) {
            break;
        }
        std::mem::swap(bytes, spare);
    }
}

/// Decodes UTF-8 leniently into `out`: overlong encodings of ASCII become
/// that ASCII (`C0 AF` is `/`: the classic IIS traversal), invalid bytes and
/// NUL are dropped, look-alike characters are folded.
fn lenient_utf8(input: &[u8], out: &mut String) {
    out.clear();
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b < 0x80 {
            // A run of ASCII without NUL is copied as it is, in one go.
            let run = input[i..]
                .iter()
                .position(|&c| c == 0 || c >= 0x80)
                .map_or(input.len(), |p| i + p);
            if let Ok(ascii) = std::str::from_utf8(&input[i..run]) {
                out.push_str(ascii);
            }
            i = run.max(i + 1);
            continue;
        }
        let (len, init) = match b {
            0xC0..=0xDF => (2, (b & 0x1F) as u32),
            0xE0..=0xEF => (3, (b & 0x0F) as u32),
            0xF0..=0xF7 => (4, (b & 0x07) as u32),
            0xF8..=0xFB => (5, (b & 0x03) as u32),
            0xFC..=0xFD => (6, (b & 0x01) as u32),
            _ => {
                i += 1;
                continue;
            }
        };
        let cont = input
            .get(i + 1..i + len)
            .filter(|c| c.iter().all(|&c| c & 0xC0 == 0x80));
        let Some(cont) = cont else {
            // IIS decoded a two-byte lead with any second byte by masking it
            // (`C1 1C` is `\`): such pairs are kept when they spell a separator.
            if len == 2
                && let Some(&next) = input.get(i + 1)
            {
                let cp = (init << 6) | (next & 0x3F) as u32;
                if matches!(cp, 0x2E | 0x2F | 0x5C) {
                    out.push(cp as u8 as char);
                    i += 2;
                    continue;
                }
            }
            i += 1;
            continue;
        };
        let cp = cont
            .iter()
            .fold(init, |acc, &c| (acc << 6) | (c & 0x3F) as u32);
        i += len;
        if cp == 0 {
            continue;
        }
        if let Some(c) = char::from_u32(cp) {
            if let Some(folded) = fold(c) {
                out.push(folded);
            } else if !is_invisible(c) {
                out.push(c);
            }
        }
    }
}

/// Look-alikes that interpreters or path APIs treat as ASCII.
fn fold(c: char) -> Option<char> {
    let cp = c as u32;
    match cp {
        0 => None,
        1..=0x7F => Some(c),
        // Full-width ASCII.
        0xFF01..=0xFF5E => char::from_u32(cp - 0xFEE0),
        0x2215 | 0x2044 | 0x29F8 => Some('/'),
        0x2216 | 0xFE68 | 0x29F9 => Some('\\'),
        0x2024 | 0xFE52 => Some('.'),
        // What IDNA (UTS 46) maps to ASCII in a host name: circled digits
        // and letters, ideographic full stops (`①②⑦。⓪。⓪。①`).
        0x2460..=0x2468 => char::from_u32(cp - 0x2460 + u32::from(b'1')),
        0x24EA => Some('0'),
        0x24B6..=0x24CF => char::from_u32(cp - 0x24B6 + u32::from(b'A')),
        0x24D0..=0x24E9 => char::from_u32(cp - 0x24D0 + u32::from(b'a')),
        0x3002 | 0xFF61 => Some('.'),
        0x00A0 | 0x2000..=0x200A | 0x3000 => Some(' '),
        0x2028 | 0x2029 => Some('\n'),
        // Typographic quotes and dashes, which some layers fold to ASCII
        // before SQL or a shell sees them.
        0x02BC | 0x2018 | 0x2019 | 0x2032 | 0x201B | 0x00B4 => Some('\''),
        0x201C | 0x201D | 0x2033 => Some('"'),
        0x2013 | 0x2014 | 0x2212 => Some('-'),
        _ => None,
    }
}

/// Characters dropped from the normalized text: zero-width ones and soft
/// hyphens, which split a keyword without showing, and U+FFFD, what a lossy
/// decoder (the gateway's form parser among them) makes of a byte that is
/// not UTF-8. Dropped like the invalid bytes themselves, so `sel%E9ect`
/// reads as `select` whichever decoder ran first.
fn is_invisible(c: char) -> bool {
    matches!(
        c as u32,
        0x200B..=0x200D | 0xFEFF | 0x2060 | 0x00AD | 0xFFFD
    )
}

/// Named entities an attacker uses to spell markup and script.
const ENTITIES: &[(&str, char)] = &[
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("amp", '&'),
    ("colon", ':'),
    ("tab", '\t'),
    ("newline", '\n'),
    ("lpar", '('),
    ("rpar", ')'),
    ("sol", '/'),
    ("bsol", '\\'),
    ("period", '.'),
    ("semi", ';'),
    ("equals", '='),
    ("nbsp", ' '),
    ("grave", '`'),
    ("excl", '!'),
    ("quest", '?'),
    ("num", '#'),
    ("percnt", '%'),
    ("plus", '+'),
    ("comma", ','),
    ("lsqb", '['),
    ("rsqb", ']'),
    ("lbrack", '['),
    ("rbrack", ']'),
    ("lcub", '{'),
    ("rcub", '}'),
    ("lbrace", '{'),
    ("rbrace", '}'),
    ("ast", '*'),
    ("dollar", '$'),
    ("verbar", '|'),
    ("vert", '|'),
    ("hyphen", '-'),
    ("dash", '-'),
    ("lowbar", '_'),
];

/// The bit of an ASCII letter of either case in [`ENTITY_INITIALS`].
const fn initial_bit(letter: u8) -> u32 {
    1 << (letter.to_ascii_lowercase().wrapping_sub(b'a') & 31)
}

/// The first letters of the [`ENTITIES`] names, one bit each.
const ENTITY_INITIALS: u32 = {
    let mut bits = 0;
    let mut i = 0;
    while i < ENTITIES.len() {
        bits |= initial_bit(ENTITIES[i].0.as_bytes()[0]);
        i += 1;
    }
    bits
};

/// Decodes HTML character references in place; returns whether any was found.
fn decode_entities(text: &mut String, spare: &mut Vec<u8>) -> bool {
    let src = text.as_bytes();
    spare.clear();
    // Most `&` in benign text start no reference (`O'Reilly & Sons`, a
    // query string's separators): find the first that does before copying
    // anything, and copy the text before it in one go.
    let Some(first) = memchr::memchr_iter(b'&', src).find(|&i| entity_at(&src[i + 1..]).is_some())
    else {
        return false;
    };
    spare.extend_from_slice(&src[..first]);
    let mut changed = false;
    let mut i = first;
    while i < src.len() {
        if src[i] != b'&' {
            spare.push(src[i]);
            i += 1;
            continue;
        }
        if let Some((c, used)) = entity_at(&src[i + 1..]) {
            if c != '\0' {
                push_char(spare, c);
            }
            i += 1 + used;
            changed = true;
        } else {
            spare.push(b'&');
            i += 1;
        }
    }
    if changed {
        replace_text(text, spare);
    }
    changed
}

/// The character and byte length of the reference after `&`.
fn entity_at(s: &[u8]) -> Option<(char, usize)> {
    if s.first() == Some(&b'#') {
        let (radix, start) = match s.get(1) {
            Some(b'x' | b'X') => (16, 2),
            _ => (10, 1),
        };
        let mut v: u32 = 0;
        let mut n = start;
        while n < s.len() && n < start + 10 {
            let d = match (radix, s[n]) {
                (16, b) => hex(b).map(u32::from),
                (_, b @ b'0'..=b'9') => Some((b - b'0') as u32),
                _ => None,
            };
            let Some(d) = d else { break };
            v = v.saturating_mul(radix).saturating_add(d);
            n += 1;
        }
        if n == start {
            return None;
        }
        if s.get(n) == Some(&b';') {
            n += 1;
        }
        let c = char::from_u32(v).unwrap_or('\u{FFFD}');
        return Some((fold(c).unwrap_or(c), n));
    }
    let name_len = s
        .iter()
        .take(12)
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    let name = &s[..name_len];
    // Every entity name is letters and matches from its first one: a name
    // whose first letter starts none (`& Sons`, `&utm_medium`) is none.
    if name
        .first()
        .is_none_or(|b| ENTITY_INITIALS & initial_bit(*b) == 0)
    {
        return None;
    }
    // Without `;` browsers still decode the legacy names (`&lt`, `&quot`...):
    // accept the longest known prefix.
    for &(entity, c) in ENTITIES {
        if name.len() >= entity.len()
            && name[..entity.len()].eq_ignore_ascii_case(entity.as_bytes())
        {
            let exact = name.len() == entity.len();
            let mut used = entity.len();
            if exact && s.get(used) == Some(&b';') {
                used += 1;
            } else if !exact && !matches!(entity, "lt" | "gt" | "amp" | "quot") {
                continue;
            }
            return Some((c, used));
        }
    }
    None
}

/// Decodes `\xHH`, `\uHHHH` and `\u{H...}` escapes (JavaScript, JSON, Python).
fn decode_escapes(text: &mut String, spare: &mut Vec<u8>) -> bool {
    let src = text.as_bytes();
    spare.clear();
    let mut changed = false;
    let mut i = 0;
    while i < src.len() {
        if src[i] == b'\\' {
            match src.get(i + 1) {
                Some(b'x' | b'X') => {
                    if let (Some(h), Some(l)) = (
                        src.get(i + 2).copied().and_then(hex),
                        src.get(i + 3).copied().and_then(hex),
                    ) {
                        let b = h << 4 | l;
                        if b < 0x80 {
                            if b != 0 {
                                spare.push(b);
                            }
                        } else {
                            push_char(spare, b as char);
                        }
                        i += 4;
                        changed = true;
                        continue;
                    }
                }
                Some(b'u' | b'U') => {
                    if src.get(i + 2) == Some(&b'{') {
                        let digits = src[i + 3..]
                            .iter()
                            .take(7)
                            .take_while(|b| b.is_ascii_hexdigit())
                            .count();
                        if digits > 0 && src.get(i + 3 + digits) == Some(&b'}') {
                            let v = src[i + 3..i + 3 + digits]
                                .iter()
                                .fold(0u32, |a, &b| a << 4 | hex(b).unwrap_or(0) as u32);
                            if let Some(c) = char::from_u32(v).and_then(|c| fold(c).or(Some(c))) {
                                push_char(spare, c);
                            }
                            i += 4 + digits;
                            changed = true;
                            continue;
                        }
                    } else if let Some(v) = hex4(&src[i + 2..]) {
                        if let Some(c) = char::from_u32(v).and_then(|c| fold(c).or(Some(c)))
                            && c != '\0'
                        {
                            push_char(spare, c);
                        }
                        i += 6;
                        changed = true;
                        continue;
                    }
                }
                _ => {}
            }
        }
        spare.push(src[i]);
        i += 1;
    }
    if changed {
        replace_text(text, spare);
    }
    changed
}

fn replace_text(text: &mut String, bytes: &[u8]) {
    text.clear();
    match std::str::from_utf8(bytes) {
        Ok(s) => text.push_str(s),
        Err(_) => text.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// Flags of bytes no decimal number holds (a number has digits, `.`, `-`,
/// `+`, an `e` and blanks around it): a value with any of them is no number.
pub(crate) const NOT_IN_NUMBERS: CharFlags = CharFlags(
    FLAGS_MASK
        & !(CharFlags::DIGIT.0
            | CharFlags::DOT.0
            | CharFlags::DASH.0
            | CharFlags::ALPHA.0
            | CharFlags::OPERATOR.0
            | CharFlags::SPACE.0),
);

/// Flags of bytes that are neither base64 (letters, digits, `+`, `/`, `-`,
/// `_`, `=`) nor white space: a value with any of them is not base64, so a
/// value whose [`View::flags`] have one (and whose text is the value itself)
/// need not be tried.
pub(crate) const NOT_BASE64: CharFlags = CharFlags(
    CharFlags::QUOTE.0
        | CharFlags::SEMICOLON.0
        | CharFlags::PAREN.0
        | CharFlags::ANGLE.0
        | CharFlags::PIPE_AMP.0
        | CharFlags::DOLLAR.0
        | CharFlags::BRACE.0
        | CharFlags::BRACKET.0
        | CharFlags::DOT.0
        | CharFlags::HASH.0
        | CharFlags::STAR.0
        | CharFlags::COLON.0
        | CharFlags::AT.0
        | CharFlags::COMMA.0
        | CharFlags::BACKSLASH.0
        | CharFlags::TILDE.0
        | CharFlags::QUESTION.0
        | CharFlags::NUL.0,
);

/// Bits of [`B64_CLASSES`]: an upper-case letter, a lower-case one, a
/// digit, `-` or `_` (the URL-safe alphabet), `+` or `/`.
const B64_UPPER: u8 = 1;
const B64_LOWER: u8 = 2;
const B64_DIGIT: u8 = 4;
const B64_URL_SAFE: u8 = 8;
const B64_STANDARD: u8 = 16;

/// The class bit of each character of either base64 alphabet, 0 for every
/// other byte: one lookup per character.
static B64_CLASSES: [u8; 256] = {
    let mut t = [0; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match i as u8 {
            b'A'..=b'Z' => B64_UPPER,
            b'a'..=b'z' => B64_LOWER,
            b'0'..=b'9' => B64_DIGIT,
            b'-' | b'_' => B64_URL_SAFE,
            b'+' | b'/' => B64_STANDARD,
            _ => 0,
        };
        i += 1;
    }
    t
};

/// The [`B64_CLASSES`] bits of the characters of `v`, or `None` at the
/// first byte that is in neither base64 alphabet.
#[inline]
pub(crate) fn base64_classes(v: &[u8]) -> Option<u8> {
    let mut classes = 0;
    for &b in v {
        let class = B64_CLASSES[usize::from(b)];
        if class == 0 {
            return None;
        }
        classes |= class;
    }
    Some(classes)
}

/// Whether `classes` ([`base64_classes`]) hold at least two of upper-case
/// letters, lower-case letters and digits.
#[inline]
pub(crate) fn two_letter_cases_or_digits(classes: u8) -> bool {
    (classes & (B64_UPPER | B64_LOWER | B64_DIGIT)).count_ones() >= 2
}

/// Shortest value worth trying as base64 (9 bytes of payload).
pub const MIN_BASE64_LEN: usize = 12;

/// How [`base64_candidate`] decodes: padding optional, trailing bits
/// ignored. Built at compile time (building an engine fills its decode
/// table).
const BASE64_CONFIG: base64::engine::GeneralPurposeConfig =
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
static BASE64_STANDARD: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, BASE64_CONFIG);
static BASE64_URL_SAFE: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, BASE64_CONFIG);

/// When the whole value (ignoring an auth scheme word and padding) looks like
/// base64 and decodes to text, the decoded text.
#[inline]
pub fn base64_candidate(value: &str) -> Option<String> {
    // Trimming only shortens: most keys and short values stop here (inline:
    // the test costs less than a call).
    if value.len() < MIN_BASE64_LEN {
        return None;
    }
    decoded_base64(value)
}

/// [`base64_candidate`] of a value long enough to be one.
#[inline(never)]
fn decoded_base64(value: &str) -> Option<String> {
    let mut v = crate::text::trim(value);
    if let Some((scheme, rest)) = v.split_once(' ')
        && scheme.len() <= 8
        && scheme.bytes().all(|b| b.is_ascii_alphabetic())
    {
        v = rest.trim();
    }
    let v = v.trim_end_matches('=');
    if v.len() < MIN_BASE64_LEN || v.len() > 1 << 20 {
        return None;
    }
    let classes = base64_classes(v.as_bytes())?;
    if !two_letter_cases_or_digits(classes) {
        return None;
    }
    let url_safe = classes & B64_URL_SAFE != 0;
    let usable = v.len() - v.len() % 4 * usize::from(v.len() % 4 == 1);
    let v = &v[..usable];
    let engine = if url_safe {
        &BASE64_URL_SAFE
    } else {
        &BASE64_STANDARD
    };
    // Most values that get this far decode to bytes that are not UTF-8
    // (ids, hex, words): a short one is decoded on the stack, and a `String`
    // made only of text that passes (the same decoder, the same bytes: a
    // buffer of the decoder's own estimate, `v.len() / 4 * 3` rounded up,
    // never runs short).
    let mut stack = [0u8; SHORT_BASE64_LEN / 4 * 3];
    if v.len() <= SHORT_BASE64_LEN {
        let len = engine.decode_slice(v, &mut stack).ok()?;
        let text = std::str::from_utf8(&stack[..len]).ok()?;
        return mostly_printable(text).then(|| text.to_owned());
    }
    let bytes = engine.decode(v).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    mostly_printable(&text).then_some(text)
}

/// Longest base64 [`decoded_base64`] decodes on the stack.
const SHORT_BASE64_LEN: usize = 512;

/// Whether at most one byte in 20 of decoded `text` is a control character
/// other than a tab or a line break.
fn mostly_printable(text: &str) -> bool {
    let controls = text
        .bytes()
        .filter(|b| *b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
        .count();
    controls * 20 <= text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Normalizer::default().normalize(s, 4).text.to_owned()
    }

    #[test]
    fn repeated_percent_and_unicode_escapes() {
        assert_eq!(norm("%252e%252e%252f"), "../");
        assert_eq!(norm("%%32%65%%32%65/"), "../");
        assert_eq!(norm("%u002e%u002e%u2215etc"), "../etc");
        assert_eq!(norm("%uff0e%uff0e/"), "../");
        assert_eq!(norm("100%"), "100%");
        assert_eq!(norm("50% off"), "50% off");
    }

    #[test]
    fn overlong_and_invalid_utf8() {
        assert_eq!(norm("%c0%ae%c0%ae%c0%af"), "../");
        assert_eq!(norm("%e0%80%ae%e0%80%ae/"), "../");
        assert_eq!(norm("..%c1%9c"), "..\\");
        assert_eq!(norm("a%ffb%00c"), "abc");
        // What a lossy decoder made of a Latin-1 byte is dropped the same way.
        assert_eq!(norm("sel\u{FFFD}ect"), "select");
        assert_eq!(norm("sel%ef%bf%bdect"), "select");
        assert_eq!(norm("José Zoë 王芳"), "José Zoë 王芳");
    }

    #[test]
    fn entities_and_escapes() {
        assert_eq!(norm("&lt;script&gt;"), "<script>");
        assert_eq!(norm("&#x3C;img&#62"), "<img>");
        assert_eq!(norm("&#0000106avascript&colon;"), "javascript:");
        assert_eq!(norm("&ltb"), "<b");
        assert_eq!(norm("\\x3cscript\\u003e"), "<script>");
        assert_eq!(norm("\\u{6a}s"), "js");
        assert_eq!(norm("Fish &amp; Chips"), "Fish & Chips");
        assert_eq!(norm("AT&T"), "AT&T");
        assert_eq!(norm("C:\\new\\table"), "C:\\new\\table");
        // An escaped entity is decoded twice, not more.
        assert_eq!(norm("ja&amp;tab;vascript:"), "ja\tvascript:");
        assert_eq!(norm("AT&amp;T"), "AT&T");
        assert_eq!(norm("&amp;amp;amp;"), "&amp;");
    }

    #[test]
    fn idna_look_alikes_fold() {
        assert_eq!(norm("①②⑦。⓪。⓪。①"), "127.0.0.1");
        assert_eq!(norm("ⓛⓞⓒⓐⓛⓗⓞⓢⓣ"), "localhost");
        assert_eq!(norm("don\u{b4}t"), "don't");
    }

    #[test]
    fn values_with_nothing_to_decode_are_their_own_view() {
        let mut normalizer = Normalizer::default();
        for value in [
            "plain words",
            "MixedCase-Value_1",
            "a;b|c$(d)",
            "",
            "José",
            "50%",
        ] {
            let view = normalizer.normalize(value, 4);
            let text = view.text.to_owned();
            let (flags, lower) = (view.flags, view.lower.to_owned());
            assert_eq!(flags, flags_of(&text), "{value}");
            let mut expected = String::new();
            ascii_lower_into(&text, &mut expected);
            assert_eq!(lower, expected, "{value}");
            assert!(!flags.any(CharFlags(!FLAGS_MASK)), "{value}");
        }
        // Nothing to decode and nothing to lower-case: nothing is copied.
        let value = String::from("no-upper; a=b");
        let view = normalizer.normalize(&value, 4);
        assert_eq!(view.text.as_ptr(), value.as_ptr());
        assert_eq!(view.lower.as_ptr(), value.as_ptr());
        assert!(!view.decoded);
    }

    #[test]
    fn rounds_are_bounded() {
        let mut s = "%2e".to_owned();
        for _ in 0..10 {
            s = s.replace('%', "%25");
        }
        let out = Normalizer::default().normalize(&s, 4).text.to_owned();
        assert!(out.starts_with('%'), "{out}");
    }

    #[test]
    fn base64_values_decode_when_they_are_text() {
        assert_eq!(
            base64_candidate("Y2xvbmV0cmFuc2Zvcm1lcg").as_deref(),
            Some("clonetransformer")
        );
        assert_eq!(
            base64_candidate("Basic YWRtaW46cGFzc3dvcmQ=").as_deref(),
            Some("admin:password")
        );
        assert!(base64_candidate("internationalization").is_none());
        assert!(base64_candidate("550e8400-e29b-41d4-a716-446655440000").is_none());
        assert!(base64_candidate("short").is_none());
    }
}
