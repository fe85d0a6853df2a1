//! SQL injection, libinjection style: the value is tokenized as SQL (MySQL,
//! PostgreSQL, MSSQL, Oracle and SQLite lexical rules: quoting and escapes,
//! `--`, `#` and `/* */` comments, MySQL `/*! */` executable comments, `@`
//! variables, hex and scientific numbers) three times — as it stands, as if
//! it continued a single-quoted literal, and as if it continued a
//! double-quoted one — and each token stream is matched against the shapes
//! injections take: breaking out of a literal into a condition, comment or
//! new statement, UNION SELECT, time delays, error-based extraction, system
//! catalogue access. A word is only a keyword where SQL grammar would make it
//! one, so "select a plan", "drop off at 5" and O'Brien pass.
//!
//! Never backtracks: one tokenizing pass per context and a bounded look-ahead
//! per token.

use crate::Sink;
use crate::rules::{self, Rule};

/// Tokens inspected per context; a longer value is judged on its first ones.
const MAX_TOKENS: usize = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kw {
    Bare,
    Select,
    Union,
    All,
    Distinct,
    From,
    Where,
    Insert,
    Into,
    Values,
    Update,
    Set,
    Delete,
    Drop,
    Table,
    Database,
    Alter,
    Create,
    Truncate,
    Exec,
    Declare,
    Waitfor,
    Delay,
    Order,
    Group,
    By,
    Having,
    Limit,
    Procedure,
    Shutdown,
    Null,
    True,
    False,
    Like,
    In,
    Between,
    Is,
    Not,
    Case,
    When,
    As,
    Outfile,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tk {
    Str {
        closed: bool,
    },
    Num,
    Word(Kw),
    Var,
    Op,
    Cmp,
    Logic,
    LParen,
    RParen,
    Comma,
    Semi,
    Dot,
    /// `--` or `#` to the end of the line.
    LineComment,
    /// `/* ... */` (an executable `/*! */` is tokenized through instead).
    BlockComment {
        closed: bool,
    },
    Other,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    pub kind: Tk,
    pub start: usize,
    pub end: usize,
    /// A word immediately followed by `(`.
    pub call: bool,
}

/// Which literal the value is assumed to continue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Bare,
    Single,
    Double,
    /// A MySQL quoted identifier (`` `name` ``).
    Backtick,
    /// A single-quoted literal where a backslash escapes nothing: standard
    /// SQL (PostgreSQL, MSSQL, Oracle, SQLite), and what an application that
    /// escapes quotes as `\'` turns `\'` into (`\\'` closes the literal).
    SingleAnsi,
    /// The same for a double-quoted literal.
    DoubleAnsi,
}

impl Context {
    /// The quote the value is assumed to continue, and whether a backslash
    /// escapes the next character.
    fn quote(self) -> Option<(u8, bool)> {
        match self {
            Context::Bare => None,
            Context::Single => Some((b'\'', true)),
            Context::Double => Some((b'"', true)),
            Context::Backtick => Some((b'`', false)),
            Context::SingleAnsi => Some((b'\'', false)),
            Context::DoubleAnsi => Some((b'"', false)),
        }
    }

    /// Whether backslashes escape inside literals of this reading.
    fn backslash_escapes(self) -> bool {
        !matches!(self, Context::SingleAnsi | Context::DoubleAnsi)
    }
}

/// The keyword `word` is (bytes: the lower-cased text is ASCII, and a
/// word is matched without a UTF-8 check).
fn keyword(word: &[u8]) -> Kw {
    match word {
        b"select" => Kw::Select,
        b"union" => Kw::Union,
        b"all" => Kw::All,
        b"distinct" | b"distinctrow" => Kw::Distinct,
        b"from" => Kw::From,
        b"where" => Kw::Where,
        b"insert" | b"replace" => Kw::Insert,
        b"into" => Kw::Into,
        b"values" => Kw::Values,
        b"update" => Kw::Update,
        b"set" => Kw::Set,
        b"delete" => Kw::Delete,
        b"drop" => Kw::Drop,
        b"table" => Kw::Table,
        b"database" | b"schema" => Kw::Database,
        b"alter" => Kw::Alter,
        b"create" => Kw::Create,
        b"truncate" => Kw::Truncate,
        b"exec" | b"execute" => Kw::Exec,
        b"declare" => Kw::Declare,
        b"waitfor" => Kw::Waitfor,
        b"delay" | b"time" => Kw::Delay,
        b"order" => Kw::Order,
        b"group" => Kw::Group,
        b"by" => Kw::By,
        b"having" => Kw::Having,
        b"limit" | b"offset" => Kw::Limit,
        b"procedure" => Kw::Procedure,
        b"shutdown" => Kw::Shutdown,
        b"null" => Kw::Null,
        b"true" => Kw::True,
        b"false" => Kw::False,
        b"like" | b"rlike" | b"regexp" | b"glob" | b"sounds" => Kw::Like,
        b"in" => Kw::In,
        b"between" => Kw::Between,
        b"is" => Kw::Is,
        b"not" => Kw::Not,
        b"case" => Kw::Case,
        b"when" => Kw::When,
        b"as" => Kw::As,
        b"outfile" | b"dumpfile" => Kw::Outfile,
        _ => Kw::Bare,
    }
}

/// The length of the longest word [`keyword`] knows (`distinctrow`).
const LONGEST_KEYWORD: usize = 11;

fn is_logic_word(word: &[u8]) -> bool {
    matches!(word, b"and" | b"or" | b"xor" | b"div")
}

/// Byte classes of the tokenizer, one table lookup per byte.
const SPACE: u8 = 1;
const WORD: u8 = 2;
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            t[b] = SPACE;
        }
        if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$') || c >= 0x80 {
            t[b] = WORD;
        }
        b += 1;
    }
    t
};

fn is_space(b: u8) -> bool {
    CLASS[usize::from(b)] & SPACE != 0
}

fn is_word_byte(b: u8) -> bool {
    CLASS[usize::from(b)] & WORD != 0
}

/// Which readings have a token some report of [`analyse`] or
/// [`super::sqli_fragment::inspect`] needs, as the tokenizer sees them go
/// by (see [`inspect`] for why each is enough).
#[derive(Clone, Copy, Default)]
struct Seen {
    /// A token that [`bare_may_report`] or the fragment gate
    /// (`sqli_fragment::may_report`) may count.
    bare: bool,
    /// A token that [`quoted_may_report`] may count anywhere in the stream.
    quoted: bool,
}

/// Keywords that neither [`bare_may_report`] nor the fragment gate counts
/// on their own (`order` / `group` count only before `by`, noted at `by`).
fn inert_keyword(kw: Kw) -> bool {
    matches!(
        kw,
        Kw::Bare
            | Kw::All
            | Kw::Distinct
            | Kw::Set
            | Kw::Table
            | Kw::Database
            | Kw::Delay
            | Kw::Order
            | Kw::Group
            | Kw::By
            | Kw::Limit
            | Kw::Shutdown
            | Kw::Null
            | Kw::True
            | Kw::False
            | Kw::Between
            | Kw::Outfile
    )
}

/// The plain words (no keyword) a stacked statement opens with.
fn opens_stacked_statement(word: &[u8]) -> bool {
    matches!(
        word,
        b"sleep"
            | b"pg_sleep"
            | b"benchmark"
            | b"xp_cmdshell"
            | b"sp_executesql"
            | b"dbms_lock"
            | b"copy"
            | b"grant"
            | b"print"
    )
}

/// The first byte at or after `i` that is not a blank (or `s.len()`).
fn skip_blanks(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    i
}

/// Whether the bare reading of `s` (the value as it stands) may note a
/// token [`Seen::bare`] counts or an obfuscation, read from the bytes
/// without tokenizing: `false` only when [`tokenize`] in
/// [`Context::Bare`] would return `bare == false` with `obfuscated == 0`
/// (a unit test compares the two). Why each test is enough:
///
/// - tokens are cut at non-word bytes, so a run of word bytes is one
///   token, or lies inside one (a literal, comment, backtick name or
///   variable: checking it anyway only errs towards `true`), except where
///   a comment is skipped (`/*`, `*/`, `/*!50000select`: `true` at any
///   `/*` or `*/`, which every obfuscation needs too), an ODBC brace word
///   is skipped (`{`: `true`), or a number ends inside the run: a run
///   starting with a digit holds a word token only after a hexadecimal
///   number (`0x1for`) or a number that began at a `.` (`.5or`, `.5e-5or`,
///   `.5.5or`), so only when it is not all digits and starts with `0x` /
///   `0b` or follows a `.`, `-` or `+` (`true`); otherwise it is a number
///   or a plain word with no call;
/// - a word token that starts a run is counted when it is a logic word, a
///   keyword other than the [`inert_keyword`]s, `by` (`true` after the run
///   `order` / `group` whatever lies between), `e`, a call (the run, blanks
///   and `(`), or, right after a `;` (blanks or `+` between), a keyword or
///   [`opens_stacked_statement`] word;
/// - a closed literal needs two of its quote (`true` at the second `'` or
///   `"`), `@@`, `&&`, `||` and a `::` pair (blanks between) need those
///   bytes;
/// - a comparison (`=`, `<`, `>`, or `!` before one) counts after a number
///   or a literal only: the last byte of the token before it is the last
///   non-blank byte before it (nothing is skipped but blanks once `/*`,
///   `*/` and `{` are excluded, and a `+` read as a blank is followed by a
///   letter, digit or backtick); a literal ends at its quote, and a number
///   at a digit, a `.`, `+`, `-` or a byte of a run that starts with a
///   digit (`0x1f`; `1.e5` ends in the run `e5`).
fn bare_may_count(s: &[u8]) -> bool {
    let mut quotes = [false; 2];
    // The last run of word bytes: whether it starts with a digit, and
    // whether it is `order` / `group`.
    let mut run_digit = false;
    let mut run_orders = false;
    let mut after_semi = false;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if is_word_byte(b) {
            let e = scan_word(s, i);
            let word = &s[i..e];
            if b.is_ascii_digit() {
                if !word.iter().all(u8::is_ascii_digit)
                    && (word.starts_with(b"0x")
                        || word.starts_with(b"0b")
                        || (i > 0 && matches!(s[i - 1], b'.' | b'-' | b'+')))
                {
                    return true;
                }
                run_digit = true;
                run_orders = false;
            } else {
                if word.len() <= 3 && is_logic_word(word) {
                    return true;
                }
                // (Every keyword has two letters at least.)
                let kw = if (2..=LONGEST_KEYWORD).contains(&word.len()) {
                    keyword(word)
                } else {
                    Kw::Bare
                };
                if !inert_keyword(kw)
                    || (kw == Kw::By && run_orders)
                    || word == b"e"
                    || (after_semi && (kw != Kw::Bare || opens_stacked_statement(word)))
                    || s.get(skip_blanks(s, e)) == Some(&b'(')
                {
                    return true;
                }
                run_digit = false;
                run_orders = matches!(kw, Kw::Order | Kw::Group);
            }
            after_semi = false;
            i = e;
            continue;
        }
        if is_space(b) {
            i += 1;
            continue;
        }
        // (A `+` between words is a blank to the tokenizer: `;+sleep`.)
        after_semi &= b == b'+';
        match b {
            b'\'' | b'"' => {
                let seen = &mut quotes[usize::from(b == b'"')];
                if *seen {
                    return true;
                }
                *seen = true;
            }
            b'@' | b'&' | b'|' if s.get(i + 1) == Some(&b) => return true,
            b'/' if s.get(i + 1) == Some(&b'*') => return true,
            b'*' if s.get(i + 1) == Some(&b'/') => return true,
            b'{' => return true,
            b':' if s.get(skip_blanks(s, i + 1)) == Some(&b':') => return true,
            b'=' | b'<' | b'>' | b'!' => {
                if b == b'!' && !matches!(s.get(i + 1), Some(b'=' | b'<' | b'>')) {
                    i += 1;
                    continue;
                }
                let mut p = i;
                while p > 0 && is_space(s[p - 1]) {
                    p -= 1;
                }
                if p > 0 {
                    let last = s[p - 1];
                    if matches!(last, b'\'' | b'"' | b'.' | b'+' | b'-')
                        || last.is_ascii_digit()
                        || (is_word_byte(last) && run_digit)
                    {
                        return true;
                    }
                }
                // The rest of the comparison (`!=`, `<>`, `==`): its bytes
                // follow a comparison byte, not a number or a literal.
                while i + 1 < s.len() && matches!(s[i + 1], b'=' | b'<' | b'>') {
                    i += 1;
                }
            }
            b';' => after_semi = true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Tokenizes `s` (lower-cased) as SQL, optionally starting inside a literal.
fn tokenize(s: &[u8], context: Context, out: &mut Vec<Token>, obfuscated: &mut u8) -> Seen {
    out.clear();
    let mut seen = Seen::default();
    let mut i = 0;
    let push = |out: &mut Vec<Token>, kind, start, end| {
        out.push(Token {
            kind,
            start,
            end,
            call: false,
        })
    };
    let escapes = context.backslash_escapes();
    if let Some((q, initial_escapes)) = context.quote() {
        let (end, closed) = scan_string(s, 0, q, initial_escapes);
        push(out, Tk::Str { closed }, 0, end);
        i = end;
    }
    while i < s.len() && out.len() < MAX_TOKENS {
        let b = s[i];
        let start = i;
        if is_space(b) {
            i += 1;
            continue;
        }
        match b {
            b'\'' | b'"' => {
                let (end, closed) = scan_string(s, i + 1, b, escapes);
                seen.bare |= closed;
                push(out, Tk::Str { closed }, start, end);
                i = end;
            }
            b'`' => {
                let end = memchr::memchr(b'`', &s[i + 1..]).map_or(s.len(), |p| i + 2 + p);
                push(out, Tk::Word(Kw::Bare), start, end);
                i = end;
            }
            b'0'..=b'9' => {
                let end = scan_number(s, i);
                if end < s.len() && is_word_byte(s[end]) && !s[i..end].starts_with(b"0x") {
                    let wend = scan_word(s, i);
                    push(out, Tk::Word(Kw::Bare), start, wend);
                    i = wend;
                } else {
                    push(out, Tk::Num, start, end);
                    i = end;
                }
            }
            b'.' if s.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let end = scan_number(s, i + 1);
                push(out, Tk::Num, start, end);
                i = end;
            }
            b'@' => {
                let mut end = i + 1;
                while end < s.len() && s[end] == b'@' {
                    end += 1;
                }
                let wend = scan_word(s, end);
                if end - i >= 2 && wend > i + 3 {
                    // An `@@` variable (`v.starts_with("@@") && v.len() > 3`).
                    seen.bare = true;
                    seen.quoted = true;
                }
                push(out, Tk::Var, start, wend.max(end));
                i = wend.max(end);
            }
            b'-' if s.get(i + 1) == Some(&b'-') => {
                let end = memchr::memchr(b'\n', &s[i..]).map_or(s.len(), |p| i + p);
                seen.quoted = true;
                push(out, Tk::LineComment, start, end);
                i = end;
            }
            b'#' => {
                let end = memchr::memchr(b'\n', &s[i..]).map_or(s.len(), |p| i + p);
                seen.quoted = true;
                push(out, Tk::LineComment, start, end);
                i = end;
            }
            b'/' if s.get(i + 1) == Some(&b'*') => {
                if s.get(i + 2) == Some(&b'!') {
                    // MySQL runs the inside of `/*! ... */` (after an optional version).
                    *obfuscated = 2;
                    i += 3;
                    while i < s.len() && s[i].is_ascii_digit() {
                        i += 1;
                    }
                    continue;
                }
                let close = memchr::memmem::find(&s[i + 2..], b"*/");
                let (end, closed) = close.map_or((s.len(), false), |p| (i + 4 + p, true));
                // `/*+ index(t) */`: an optimizer hint, which only SQL reads.
                let hint = s[i + 2..end.saturating_sub(2).max(i + 2)]
                    .iter()
                    .find(|b| !is_space(**b))
                    == Some(&b'+');
                if closed && hint {
                    *obfuscated = (*obfuscated).max(1);
                }
                if closed {
                    // A comment is a blank to SQL; one glued between two words
                    // (`UNION/**/SELECT`, `SEL/**/ECT`) is an evasion.
                    let glued_before =
                        start > 0 && (is_word_byte(s[start - 1]) || s[start - 1] == b'\'');
                    let glued_after = s.get(end).is_some_and(|b| is_word_byte(*b) || *b == b'(');
                    if glued_before && glued_after && end - start <= 64 {
                        let mut b = start;
                        while b > 0 && is_word_byte(s[b - 1]) {
                            b -= 1;
                        }
                        let a = scan_word(s, end);
                        let mut joined = String::from_utf8_lossy(&s[b..start]).into_owned();
                        joined.push_str(&String::from_utf8_lossy(&s[end..a]));
                        let split_keyword = keyword(joined.as_bytes()) != Kw::Bare
                            || is_logic_word(joined.as_bytes());
                        *obfuscated = (*obfuscated).max(if split_keyword { 2 } else { 1 });
                    }
                } else {
                    seen.quoted = true;
                    push(out, Tk::BlockComment { closed }, start, end);
                }
                i = end;
            }
            b'*' if s.get(i + 1) == Some(&b'/') => {
                // The end of an executable comment.
                i += 2;
            }
            // `{if expr}`, `{x 1}=1`: ODBC escape braces, whose first word
            // MySQL reads as a name and ignores, evaluating the rest.
            b'{' if s.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic()) => {
                let end = scan_word(s, i + 1);
                if s.get(end).is_some_and(|c| is_space(*c)) {
                    i = end;
                } else {
                    push(out, Tk::Other, start, i + 1);
                    i += 1;
                }
            }
            b'(' => {
                push(out, Tk::LParen, start, i + 1);
                i += 1;
            }
            b')' => {
                push(out, Tk::RParen, start, i + 1);
                i += 1;
            }
            b',' => {
                push(out, Tk::Comma, start, i + 1);
                i += 1;
            }
            b';' => {
                // (The bare gates count a `;` only before the word opening a
                // statement: noted at that word.)
                seen.quoted = true;
                push(out, Tk::Semi, start, i + 1);
                i += 1;
            }
            b'.' => {
                push(out, Tk::Dot, start, i + 1);
                i += 1;
            }
            b'=' | b'<' | b'>' | b'!' => {
                let mut end = i + 1;
                while end < s.len() && end < i + 3 && matches!(s[end], b'=' | b'<' | b'>') {
                    end += 1;
                }
                let kind = if end == i + 1 && b == b'!' {
                    Tk::Op
                } else {
                    // The fragment gate counts a comparison after a literal only.
                    seen.bare |=
                        matches!(out.last().map(|t| t.kind), Some(Tk::Num | Tk::Str { .. }));
                    Tk::Cmp
                };
                push(out, kind, start, end);
                i = end;
            }
            b'&' | b'|' if s.get(i + 1) == Some(&b) => {
                seen.bare = true;
                seen.quoted = true;
                push(out, Tk::Logic, start, i + 2);
                i += 2;
            }
            // `1+OR+1=1`: a plus between words is a space that was never decoded.
            // (A backticked identifier is a word too: `` `t`+where ``.)
            b'+' if i > 0
                && (s[i - 1].is_ascii_alphanumeric() || is_space(s[i - 1]) || s[i - 1] == b'`')
                && s.get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'`') =>
            {
                i += 1;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'&' | b'|' | b'~' | b':' => {
                // The second of a `::` pair (a cast).
                if b == b':'
                    && out
                        .last()
                        .is_some_and(|t| t.kind == Tk::Op && s[t.start] == b':')
                {
                    seen.bare = true;
                    seen.quoted = true;
                }
                push(out, Tk::Op, start, i + 1);
                i += 1;
            }
            b if is_word_byte(b) => {
                let end = scan_word(s, i);
                let word = &s[i..end];
                // (No keyword is longer than `distinctrow`, no logic word than `xor`.)
                let kind = if word.len() <= 3 && is_logic_word(word) {
                    Tk::Logic
                } else if word.len() <= LONGEST_KEYWORD {
                    Tk::Word(keyword(word))
                } else {
                    Tk::Word(Kw::Bare)
                };
                let mut next = end;
                while next < s.len() && is_space(s[next]) {
                    next += 1;
                }
                let call = s.get(next) == Some(&b'(');
                match kind {
                    // Most words: only `e` after a dot counts (`1.e(`, `1.e.tables`).
                    Tk::Word(Kw::Bare) if !call => {
                        seen.bare |= match out.last().map(|t| t.kind) {
                            Some(Tk::Dot) => word == b"e",
                            Some(Tk::Semi) => opens_stacked_statement(word),
                            _ => false,
                        };
                    }
                    Tk::Word(kw) => {
                        let previous = out.last().map(|t| t.kind);
                        seen.bare |= call
                            || !inert_keyword(kw)
                            || (kw == Kw::By
                                && matches!(previous, Some(Tk::Word(Kw::Order | Kw::Group))))
                            // A keyword after `;` (`; set @x`, `;shutdown`).
                            || previous == Some(Tk::Semi);
                        seen.quoted |= call
                            || matches!(
                                kw,
                                Kw::Union | Kw::Waitfor | Kw::Into | Kw::Order | Kw::Group
                            );
                    }
                    _ => {
                        // A logic operator.
                        seen.bare = true;
                        seen.quoted = true;
                    }
                }
                out.push(Token {
                    kind,
                    start,
                    end,
                    call,
                });
                i = end;
            }
            _ => {
                // One token per run of other characters (non-SQL punctuation).
                let mut end = i + 1;
                while end < s.len() && (s[end] & 0xC0) == 0x80 {
                    end += 1;
                }
                push(out, Tk::Other, start, end);
                i = end;
            }
        }
    }
    seen
}

fn scan_string(s: &[u8], mut i: usize, quote: u8, escapes: bool) -> (usize, bool) {
    while i < s.len() {
        match s[i] {
            b'\\' if escapes => i += 2,
            c if c == quote => {
                if s.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return (i + 1, true);
                }
            }
            _ => i += 1,
        }
    }
    (s.len(), false)
}

fn scan_number(s: &[u8], i: usize) -> usize {
    let mut end = i;
    if s.get(i) == Some(&b'0') && matches!(s.get(i + 1), Some(b'x' | b'b')) {
        end += 2;
        while end < s.len() && s[end].is_ascii_hexdigit() {
            end += 1;
        }
        return end;
    }
    while end < s.len() && s[end].is_ascii_digit() {
        end += 1;
    }
    if end < s.len() && s[end] == b'.' {
        end += 1;
        while end < s.len() && s[end].is_ascii_digit() {
            end += 1;
        }
    }
    if end < s.len()
        && s[end] == b'e'
        && s.get(end + 1)
            .is_some_and(|c| c.is_ascii_digit() || *c == b'-' || *c == b'+')
    {
        end += 2;
        while end < s.len() && s[end].is_ascii_digit() {
            end += 1;
        }
    }
    end
}

fn scan_word(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_word_byte(s[i]) {
        i += 1;
    }
    i
}

/// Functions that only a database runs: a call to one is injection.
const STRONG_FUNCTIONS: &[&str] = &[
    "group_concat",
    "find_in_set",
    "json_build_object",
    "jsonb_pretty",
    "starts_with",
    "array_to_string",
    "string_agg",
    "query_to_xml",
    "concat_ws",
    "load_file",
    "sys_eval",
    "sys_exec",
    "xp_cmdshell",
    "xp_regread",
    "xp_dirtree",
    "xp_fileexist",
    "sp_executesql",
    "sp_oacreate",
    "sp_makewebtask",
    "sp_password",
    "sp_addlogin",
    "sp_addsrvrolemember",
    "openrowset",
    "opendatasource",
    "openquery",
    "pg_read_file",
    "pg_ls_dir",
    "pg_read_binary_file",
    "lo_import",
    "lo_export",
    "lo_get",
    "lo_put",
    "lo_from_bytea",
    "utl_http",
    "utl_inaddr",
    "utl_file",
    "dbms_java",
    "dbms_xmlgen",
    "dbms_xmlquery",
    "dbms_aw_xml",
    "dbms_utility",
    "dbms_export_extension",
    "dbms_sql",
    "ctxsys",
    "make_set",
    "elt",
    "json_keys",
    "uuid_short",
    "name_const",
    "master",
    "sqlite_version",
    "load_extension",
    "current_setting",
    "current_database",
    "current_schema",
    "inet_server_addr",
    "version",
    "database",
    "current_user",
    "session_user",
    "system_user",
    "user_name",
    "db_name",
    "host_name",
    "suser_sname",
    "is_srvrolemember",
    "has_dbaccess",
    "schema_name",
    "table_name",
    "column_name",
    "object_id",
    "char",
    "chr",
    "nchar",
    "concat",
    "ascii",
    "unicode",
    "substring",
    "substr",
    "mid",
    "ord",
    "hex",
    "unhex",
    "count",
    "length",
    "len",
    "ifnull",
    "isnull",
    "nullif",
    "coalesce",
    "iif",
    "if",
    "cast",
    "convert",
    "exists",
    "rand",
    "md5",
    "sha1",
    "row_count",
    "sleep",
    "benchmark",
    "pg_sleep",
    "randomblob",
];

/// Whether `name` is one of [`STRONG_FUNCTIONS`]: a hash lookup (a call's
/// name is looked up for every word followed by `(`, prose included).
fn is_strong_function(name: &str) -> bool {
    type Set = std::collections::HashSet<
        &'static str,
        std::hash::BuildHasherDefault<crate::text::FnvHasher>,
    >;
    static SET: std::sync::OnceLock<Set> = std::sync::OnceLock::new();
    name.len() <= LONGEST_STRONG_FUNCTION
        && SET
            .get_or_init(|| STRONG_FUNCTIONS.iter().copied().collect())
            .contains(name)
}

/// The length of the longest of [`STRONG_FUNCTIONS`].
const LONGEST_STRONG_FUNCTION: usize = {
    let mut longest = 0;
    let mut i = 0;
    while i < STRONG_FUNCTIONS.len() {
        if STRONG_FUNCTIONS[i].len() > longest {
            longest = STRONG_FUNCTIONS[i].len();
        }
        i += 1;
    }
    longest
};

/// Of [`STRONG_FUNCTIONS`], those that are also ordinary words or
/// spreadsheet/programming functions: they count only after a breakout or
/// next to other SQL syntax.
fn is_weak_function(name: &str) -> bool {
    matches!(
        name,
        "char"
            | "chr"
            | "nchar"
            | "concat"
            | "ascii"
            | "unicode"
            | "substring"
            | "substr"
            | "mid"
            | "ord"
            | "hex"
            | "unhex"
            | "count"
            | "length"
            | "len"
            | "ifnull"
            | "isnull"
            | "nullif"
            | "coalesce"
            | "iif"
            | "if"
            | "cast"
            | "convert"
            | "exists"
            | "rand"
            | "md5"
            | "sha1"
            | "version"
            | "database"
            | "master"
            | "elt"
            | "row_count"
            | "table_name"
            | "column_name"
            | "schema_name"
            | "object_id"
            | "sleep"
            | "benchmark"
            | "pg_sleep"
            | "randomblob"
    )
}

pub(crate) fn is_time_function(name: &str) -> bool {
    matches!(
        name,
        "sleep" | "pg_sleep" | "benchmark" | "randomblob" | "sleep_for" | "pg_sleep_for"
    ) || name.ends_with("receive_message")
        || name == "dbms_lock"
}

fn is_error_function(name: &str) -> bool {
    matches!(
        name,
        "extractvalue"
            | "updatexml"
            | "geometrycollection"
            | "multipoint"
            | "polygon"
            | "multipolygon"
            | "linestring"
            | "multilinestring"
            | "xmltype"
            | "exp"
            | "floor"
            | "gtid_subset"
            | "json_extract"
    )
}

/// System catalogues: tables and schemas that describe the database.
const CATALOGUES: &[&str] = &[
    "information_schema",
    "sysobjects",
    "syscolumns",
    "sysdatabases",
    "sysusers",
    "syslogins",
    "sysprocesses",
    "sysservers",
    "sys",
    "pg_catalog",
    "pg_tables",
    "pg_user",
    "pg_shadow",
    "pg_database",
    "pg_class",
    "pg_namespace",
    "sqlite_master",
    "sqlite_schema",
    "sqlite_temp_master",
    "all_tables",
    "all_tab_columns",
    "user_tables",
    "user_tab_columns",
    "dba_users",
    "dba_tables",
    "all_users",
    "user_objects",
    "v$version",
    "v$instance",
    "msysaccessobjects",
    "msysobjects",
    "msysqueries",
    "mysql",
    "performance_schema",
    "tempdb",
    "msdb",
    "dual",
];

fn is_catalogue(name: &str) -> bool {
    CATALOGUES.contains(&name)
}

/// Literals one of which every name of [`CATALOGUES`] and
/// [`SERVER_PROCEDURES`] holds (a unit test checks it): the dispatcher
/// tells [`inspect`] whether the value holds one, and without one no token
/// can be such a name (a token is a piece of the value).
pub(crate) const NAME_LITERALS: &[&str] = &[
    "_schema",
    "sys",
    "pg_",
    "sqlite_",
    "all_",
    "user_",
    "dba_",
    "v$",
    "mysql",
    "tempdb",
    "msdb",
    "dual",
    "xp_",
    "sp_",
    "utl_",
    "openrowset",
    "opendatasource",
];

pub(crate) struct SqlAnalysis<'a> {
    text: &'a str,
    toks: &'a [Token],
    context: Context,
    /// The value holds one of [`NAME_LITERALS`]: without one, no word is a
    /// catalogue or server procedure name, and none is looked up.
    names: bool,
}

impl SqlAnalysis<'_> {
    fn word(&self, i: usize) -> &str {
        self.toks.get(i).map_or("", |t| &self.text[t.start..t.end])
    }

    fn kind(&self, i: usize) -> Option<Tk> {
        self.toks.get(i).map(|t| t.kind)
    }

    fn is_kw(&self, i: usize, kw: Kw) -> bool {
        self.kind(i) == Some(Tk::Word(kw))
    }

    fn span(&self, from: usize, to: usize) -> std::ops::Range<usize> {
        let start = self.toks.get(from).map_or(0, |t| t.start);
        let end = self
            .toks
            .get(to.min(self.toks.len().saturating_sub(1)))
            .map_or(self.text.len(), |t| t.end);
        start..end.max(start)
    }

    fn is_literal(&self, i: usize) -> bool {
        matches!(
            self.kind(i),
            Some(Tk::Num | Tk::Str { .. } | Tk::Word(Kw::Null | Kw::True | Kw::False))
        )
    }

    fn is_operand(&self, i: usize) -> bool {
        self.is_literal(i) || matches!(self.kind(i), Some(Tk::Var | Tk::Word(Kw::Bare)))
    }

    fn is_end(&self, i: usize) -> bool {
        matches!(
            self.kind(i),
            None | Some(Tk::LineComment | Tk::Semi | Tk::BlockComment { closed: false })
        )
    }

    /// The token after a function call's closing parenthesis (bounded scan).
    fn skip_call(&self, i: usize) -> usize {
        let mut depth = 0usize;
        let mut j = i + 1;
        while j < self.toks.len() && j < i + 64 {
            match self.toks[j].kind {
                Tk::LParen => depth += 1,
                Tk::RParen => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return j + 1;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        j
    }

    /// An operand that may be a call (`char(49)`) or a parenthesised subquery.
    fn operand_end(&self, i: usize) -> Option<usize> {
        match self.kind(i)? {
            Tk::Word(_) if self.toks[i].call => Some(self.skip_call(i)),
            Tk::LParen => Some(self.skip_call(i.wrapping_sub(1)).max(i + 1)),
            Tk::Op if self.word(i) == "-" && self.is_operand(i + 1) => Some(i + 2),
            _ if self.is_operand(i) => Some(i + 1),
            _ => None,
        }
    }

    fn same_literal(&self, a: usize, b: usize) -> bool {
        let strip = |s: &str| s.trim_matches(|c| c == '\'' || c == '"').trim().to_owned();
        strip(self.word(a)) == strip(self.word(b))
    }
}

/// Whether `quote` appears right after a backslash.
fn escaped_quote(bytes: &[u8], quote: u8) -> bool {
    memchr::memchr_iter(quote, bytes).any(|p| p > 0 && bytes[p - 1] == b'\\')
}

/// What the dispatcher already knows about a value, from its byte classes
/// and gate literals.
#[derive(Clone, Copy)]
pub(crate) struct Hints {
    /// The value holds a `'`.
    pub(crate) single: bool,
    /// The value holds a `"`.
    pub(crate) double: bool,
    /// The value holds a `` ` ``.
    pub(crate) backtick: bool,
    /// The value holds one of [`NAME_LITERALS`].
    pub(crate) names: bool,
}

impl Hints {
    /// The hints read from `lower` itself.
    pub(crate) fn of(lower: &str) -> Self {
        Hints {
            single: lower.contains('\''),
            double: lower.contains('"'),
            backtick: lower.contains('`'),
            names: NAME_LITERALS.iter().any(|l| lower.contains(l)),
        }
    }
}

/// Inspects `lower` (the lower-cased normalized value).
///
/// A reading is analysed only when the tokenizer saw a token its gate may
/// count ([`Seen`]): every token [`bare_may_report`] and the fragment gate
/// count is a closed literal, `@@` variable, comparison operator after a
/// number or a literal (the fragment gate's own condition), logic
/// operator, second `:` of a pair, call, keyword other than
/// [`inert_keyword`]s, `by` after `order` / `group`, `e` after a dot, a
/// catalogue or procedure name (possible only with `hints.names`), or a
/// `;` before a word a statement opens with (both gates read a `;` only
/// through [`stacked_statement`] and `sqli_fragment::statement_probe`,
/// which need a keyword or, for a stacked statement, one of the plain
/// words `sleep`, `pg_sleep`, `benchmark`, `xp_cmdshell`,
/// `sp_executesql`, `dbms_lock`, `copy`, `grant` right after it; noted at
/// that word); every
/// token [`quoted_may_report`] counts anywhere is a call, `union`,
/// `waitfor`, `into`, `order`, `group`, `;`, logic operator, comment,
/// `@@` variable, second `:` of a pair or such a name, and the rest of it
/// reads the token after the literal ([`after_literal_may_report`], asked
/// here). Obfuscation is judged on the comments the tokenizer reports. A
/// quoted reading is not even tokenized when its bytes show it can hold
/// none of those tokens ([`quoted_may_hold`]).
pub(crate) fn inspect(lower: &str, hints: Hints, toks: &mut Vec<Token>, sink: &mut Sink<'_>) {
    let bytes = lower.as_bytes();
    let contexts = [
        (Context::Bare, true),
        (Context::Single, hints.single),
        (Context::Double, hints.double),
        // Code spans in prose (`` `--verbose` ``) pair their backticks; a
        // value that continues an identifier leaves one unmatched.
        (
            Context::Backtick,
            hints.backtick && memchr::memchr_iter(b'`', bytes).count() % 2 == 1,
        ),
        (
            Context::SingleAnsi,
            hints.single && escaped_quote(bytes, b'\''),
        ),
        (
            Context::DoubleAnsi,
            hints.double && escaped_quote(bytes, b'"'),
        ),
    ];
    for (context, applies) in contexts {
        if !applies {
            continue;
        }
        if let Some((quote, escapes)) = context.quote()
            && !hints.names
            && !quoted_may_hold(bytes, quote, escapes)
        {
            continue;
        }
        // Without a catalogue name, the bare reading is analysed only for a
        // token `Seen::bare` counts or an obfuscation, and `bare_may_count`
        // is `false` only when the tokenizer would note neither.
        if context == Context::Bare && !hints.names && !bare_may_count(bytes) {
            continue;
        }
        let mut obfuscated = 0;
        let seen = tokenize(lower.as_bytes(), context, toks, &mut obfuscated);
        let a = SqlAnalysis {
            text: lower,
            toks,
            context,
            names: hints.names,
        };
        if context == Context::Bare {
            if obfuscated > 0 || seen.bare || hints.names {
                analyse(&a, obfuscated, sink);
            }
            if seen.bare || hints.names {
                super::sqli_fragment::inspect(lower, toks, sink);
            }
        } else if obfuscated > 0 || seen.quoted || hints.names || after_literal_may_report(&a) {
            analyse(&a, obfuscated, sink);
        }
    }
}

/// Whether the reading of `s` as the continuation of a literal closed by
/// `quote` (`escapes`: whether a backslash escapes in it) may hold a token
/// [`quoted_may_report`] counts, or a comment: read from the bytes after
/// the literal, without tokenizing. Every token of that reading after the
/// literal lies in those bytes, and:
///
/// - a literal never closed is the only token (nothing after it to count);
/// - the token after the literal (and its closing parentheses) is an
///   operator or a comparison only if it opens with one of their bytes, and
///   a word of [`after_literal_may_report`] only as a whole run of word
///   bytes (a run that opens with a digit is a number or a plain word);
/// - a `;`, `#`, `--`, `/*`, `&&`, `||`, `@@` token or comment opens with
///   those bytes, and a `::` pair is two `:` apart by blanks at most;
/// - a call is a word, blanks and `(`: the word is the run of word bytes
///   before the blanks, unless a number cut it (a run opening with a
///   digit, counted on its own below);
/// - a keyword or logic word is a whole run of word bytes, except after a
///   hexadecimal number or a `.5`-style one (`0x1for`, `.5or`: a run that
///   opens with a digit and is not all digits, counted), or after `/*!`
///   (counted as a comment).
///
/// Catalogue names are the caller's (`Hints::names`).
fn quoted_may_hold(s: &[u8], quote: u8, escapes: bool) -> bool {
    let (end, closed) = scan_string(s, 0, quote, escapes);
    if !closed {
        return false;
    }
    let rest = &s[end..];
    let mut k = 0;
    while k < rest.len() && (is_space(rest[k]) || rest[k] == b')') {
        k += 1;
    }
    if let Some(&c) = rest.get(k) {
        if matches!(
            c,
            b'=' | b'<'
                | b'>'
                | b'!'
                | b'+'
                | b'-'
                | b'*'
                | b'/'
                | b'%'
                | b'^'
                | b'&'
                | b'|'
                | b'~'
                | b':'
        ) {
            return true;
        }
        if is_word_byte(c) && !c.is_ascii_digit() {
            let word = &rest[k..scan_word(rest, k)];
            if matches!(
                word,
                b"group"
                    | b"order"
                    | b"union"
                    | b"alter"
                    | b"as"
                    | b"like"
                    | b"rlike"
                    | b"regexp"
                    | b"glob"
                    | b"sounds"
                    | b"having"
                    | b"where"
                    | b"collate"
            ) {
                return true;
            }
        }
    }
    let mut i = 0;
    while i < rest.len() {
        let b = rest[i];
        if is_word_byte(b) {
            let e = scan_word(rest, i);
            let word = &rest[i..e];
            let counted = if b.is_ascii_digit() {
                !word.iter().all(u8::is_ascii_digit)
            } else {
                matches!(
                    word,
                    b"and"
                        | b"or"
                        | b"xor"
                        | b"div"
                        | b"union"
                        | b"waitfor"
                        | b"into"
                        | b"order"
                        | b"group"
                )
            };
            if counted {
                return true;
            }
            i = e;
            continue;
        }
        match b {
            b';' | b'#' => return true,
            b'&' | b'|' | b'-' | b'@' if rest.get(i + 1) == Some(&b) => return true,
            b'/' if rest.get(i + 1) == Some(&b'*') => return true,
            b':' => {
                let mut n = i + 1;
                while n < rest.len() && is_space(rest[n]) {
                    n += 1;
                }
                if rest.get(n) == Some(&b':') {
                    return true;
                }
            }
            b'(' => {
                let mut p = i;
                while p > 0 && is_space(rest[p - 1]) {
                    p -= 1;
                }
                let mut q = p;
                while q > 0 && is_word_byte(rest[q - 1]) {
                    q -= 1;
                }
                if let Ok(name) = std::str::from_utf8(&rest[q..p])
                    && !name.is_empty()
                    && (is_strong_function(name)
                        || is_time_function(name)
                        || is_error_function(name))
                {
                    return true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// Server procedures and packages named on their own (no call needed).
const SERVER_PROCEDURES: &[&str] = &[
    "xp_cmdshell",
    "sp_executesql",
    "sp_oacreate",
    "sp_makewebtask",
    "sp_password",
    "xp_regread",
    "xp_dirtree",
    "utl_http",
    "utl_inaddr",
    "openrowset",
    "opendatasource",
];

fn is_server_procedure(name: &str) -> bool {
    SERVER_PROCEDURES.contains(&name)
}

/// Whether the value taken as it stands (the bare context) has a token
/// that some report of [`analyse`] needs. Without one, none can fire (the
/// bare reading never takes the quoted branches of [`analyse`]):
///
/// - the per-token shapes need `union` before (`all`, `distinct`, `(`)
///   `select` ([`union_select`], the union shape itself), `waitfor`,
///   `into`, `order` / `group` followed by `by`, a `;` opening a stacked
///   statement, a catalogue or procedure name, a `::` pair, an `@@`
///   variable, or a call whose name is a strong, time or error function
///   (the only names the call shape reports: `convert` and `char` / `chr` /
///   `nchar` are strong names). A call is read elsewhere only inside
///   shapes opened by another token of this list (a condition after a
///   logic operator, a select list, a stacked statement), so `available
///   (50% off?)` needs no analysis;
/// - the breakout shapes read the value's start: a logic operator or
///   `having` before a literal at token 0, or, after a number (`-` and a
///   number) and closing parentheses, a logic operator or `having` /
///   `where` before a literal (every other breakout shape is quoted-only);
///   such a `having` / `where` follows a number or `)` or opens the value;
/// - the later conditions need a logic operator after a number, a `)` or
///   a closed literal;
/// - obfuscation needs a comment (`obfuscated`, checked by the caller);
/// - a whole statement ([`statement`]) needs the keyword [`statement_at`]
///   accepts, checked here as it is there.
///
/// Elsewhere in the bare reading a `;`, `order`, `group`, `select`,
/// `union` or a logic operator is read only inside shapes that need a
/// token listed above or a quoted reading. So `en-GB,en;q=0.9`, `would
/// order again`, `union station`, `tea or coffee` and `5pm; select the
/// blue plan` need no analysis.
///
/// Most free text (`+1 (555) 010-4477`, `O'Reilly & Sons, Ltd.`) has none.
fn bare_may_report(a: &SqlAnalysis<'_>) -> bool {
    a.toks.iter().enumerate().any(|(i, t)| match t.kind {
        Tk::Word(_)
            if t.call && {
                let name = a.word(i);
                is_strong_function(name) || is_time_function(name) || is_error_function(name)
            } =>
        {
            true
        }
        Tk::Word(Kw::Union) => union_select(a, i).is_some(),
        Tk::Word(Kw::Waitfor | Kw::Into) => true,
        Tk::Word(Kw::Having | Kw::Where) => {
            a.is_literal(i + 1) && (i == 0 || matches!(a.kind(i - 1), Some(Tk::Num | Tk::RParen)))
        }
        Tk::Word(
            Kw::Select
            | Kw::Create
            | Kw::Insert
            | Kw::Delete
            | Kw::Alter
            | Kw::Drop
            | Kw::Truncate
            | Kw::Update
            | Kw::Exec,
        ) => statement_at(a, i),
        Tk::Word(Kw::Bare) if a.names => {
            let name = a.word(i);
            is_catalogue(unquoted_identifier(name)) || is_server_procedure(name)
        }
        Tk::Word(Kw::Order | Kw::Group) => a.is_kw(i + 1, Kw::By),
        Tk::Semi => stacked_statement(a, i + 1),
        Tk::Logic => {
            i == 0
                || matches!(
                    a.kind(i - 1),
                    Some(Tk::Num | Tk::RParen | Tk::Str { closed: true })
                )
        }
        Tk::Var => {
            let v = a.word(i);
            v.starts_with("@@") && v.len() > 3
        }
        Tk::Op => a.word(i) == ":" && a.kind(i + 1) == Some(Tk::Op) && a.word(i + 1) == ":",
        _ => false,
    })
}

/// `union` at `i` followed by `select` (after `all`, `distinct` and
/// opening parentheses): the `select` token.
fn union_select(a: &SqlAnalysis<'_>, i: usize) -> Option<usize> {
    let mut j = i + 1;
    while a.is_kw(j, Kw::All) || a.is_kw(j, Kw::Distinct) || a.kind(j) == Some(Tk::LParen) {
        j += 1;
    }
    a.is_kw(j, Kw::Select).then_some(j)
}

/// Whether a quoted reading (the value continuing a literal) has a token
/// that some report of [`analyse`] needs. Without one, none can fire:
///
/// - the per-token shapes need `union`, `waitfor`, `into`, `order`,
///   `group`, a `;`, a call to a function of [`STRONG_FUNCTIONS`], a time
///   or an error function (the only names the call shape reports), a
///   catalogue or procedure name, a `::` pair or an `@@` variable;
/// - the shapes after the literal closes look at the token `j` after it
///   (and its closing parentheses): a call there needs a time function; a
///   new statement, a predicate cut off and the comment shapes need a `--`
///   / `#` comment, an unclosed `/*` comment or a `;` somewhere; the
///   others need at `j` a logic operator, an operator, a comparison,
///   `group` / `order` / `union` / `alter` / `as` / `like` / `having` /
///   `where`, or `collate`;
/// - the later conditions (and every condition helper) need a logic operator;
/// - obfuscation needs a comment (`obfuscated`, checked by the caller).
///
/// Prose with an apostrophe (`O'Brien`, `nobody's home.`) has none.
fn quoted_may_report(a: &SqlAnalysis<'_>) -> bool {
    let anywhere = a.toks.iter().enumerate().any(|(i, t)| match t.kind {
        Tk::Word(_) if t.call => {
            let name = a.word(i);
            is_strong_function(name) || is_time_function(name) || is_error_function(name)
        }
        Tk::Word(Kw::Union | Kw::Waitfor | Kw::Into | Kw::Order | Kw::Group) => true,
        Tk::Word(Kw::Bare) if a.names => {
            let name = a.word(i);
            is_catalogue(unquoted_identifier(name)) || is_server_procedure(name)
        }
        Tk::Semi | Tk::Logic | Tk::LineComment | Tk::BlockComment { .. } => true,
        Tk::Var => {
            let v = a.word(i);
            v.starts_with("@@") && v.len() > 3
        }
        Tk::Op => a.word(i) == ":" && a.kind(i + 1) == Some(Tk::Op) && a.word(i + 1) == ":",
        _ => false,
    });
    anywhere || after_literal_may_report(a)
}

/// The part of [`quoted_may_report`] that reads the token after the
/// literal, as the breakout shapes find it (a superset: they only look
/// when the literal closes at token 0).
fn after_literal_may_report(a: &SqlAnalysis<'_>) -> bool {
    let mut j = 1;
    while a.kind(j) == Some(Tk::RParen) {
        j += 1;
    }
    match a.kind(j) {
        Some(Tk::Op | Tk::Cmp) => true,
        Some(Tk::Word(
            Kw::Group
            | Kw::Order
            | Kw::Union
            | Kw::Alter
            | Kw::As
            | Kw::Like
            | Kw::Having
            | Kw::Where,
        )) => true,
        Some(Tk::Word(Kw::Bare)) => a.word(j) == "collate",
        _ => false,
    }
}

fn analyse(a: &SqlAnalysis<'_>, obfuscated: u8, sink: &mut Sink<'_>) {
    if a.context == Context::Bare && obfuscated == 0 && !bare_may_report(a) {
        return;
    }
    if a.context != Context::Bare && obfuscated == 0 && !quoted_may_report(a) {
        return;
    }
    let n = a.toks.len();
    // Where the value leaves the literal it was assumed to be in.
    let breakout = match a.context {
        Context::Bare => None,
        _ => match a.toks.first() {
            Some(Token {
                kind: Tk::Str { closed: true },
                ..
            }) => Some(1),
            _ => None,
        },
    };
    let mut sql_signal = false;
    let report = |rule: &'static Rule, span: std::ops::Range<usize>, sink: &mut Sink<'_>| {
        sink.report(rule, a.text, span);
    };

    for i in 0..n {
        let t = a.toks[i];
        match t.kind {
            Tk::Word(Kw::Union) => {
                // `union select` ending the value is the probe itself.
                if let Some(j) = union_select(a, i) {
                    report(&rules::SQLI_UNION, a.span(i, j + 1), sink);
                    sql_signal = true;
                }
            }
            Tk::Semi if stacked_statement(a, i + 1) => {
                report(&rules::SQLI_STACKED, a.span(i, i + 3), sink);
                sql_signal = true;
            }
            // (`waitfor delay +'0:0:5'`: a unary plus is still SQL.)
            Tk::Word(Kw::Waitfor)
                if a.is_kw(i + 1, Kw::Delay)
                    && (a.is_literal(i + 2) || (a.word(i + 2) == "+" && a.is_literal(i + 3))) =>
            {
                report(&rules::SQLI_TIME, a.span(i, i + 2), sink);
                sql_signal = true;
            }
            Tk::Word(_) if t.call => {
                let name = a.word(i);
                let numeric_arg = a.kind(i + 1) == Some(Tk::LParen)
                    && (a.kind(i + 2) == Some(Tk::Num)
                        || (a.kind(i + 2) == Some(Tk::Op) && a.kind(i + 3) == Some(Tk::Num))
                        || a.kind(i + 2) == Some(Tk::LParen)
                        || a.kind(i + 2) == Some(Tk::Word(Kw::Select)));
                let closes = matches!(a.kind(i + 3), Some(Tk::RParen | Tk::Comma))
                    || a.kind(i + 2) == Some(Tk::LParen)
                    || a.kind(i + 2) == Some(Tk::Word(Kw::Select));
                if is_time_function(name) && numeric_arg && closes {
                    report(&rules::SQLI_TIME, a.span(i, i + 3), sink);
                    sql_signal = true;
                } else if is_error_function(name) && error_call(a, i) {
                    report(&rules::SQLI_ERROR, a.span(i, i + 4), sink);
                    sql_signal = true;
                } else if is_strong_function(name) && !is_weak_function(name) {
                    report(&rules::SQLI_FUNCTION, a.span(i, i + 2), sink);
                    sql_signal = true;
                } else if name == "convert"
                    && a.kind(i + 2).is_some_and(|k| matches!(k, Tk::Word(_)))
                    && a.kind(i + 3) == Some(Tk::Comma)
                {
                    report(&rules::SQLI_ERROR, a.span(i, i + 4), sink);
                    sql_signal = true;
                } else if matches!(name, "char" | "chr" | "nchar") && char_chain(a, i) {
                    report(&rules::SQLI_FUNCTION, a.span(i, i + 6), sink);
                    sql_signal = true;
                }
            }
            Tk::Word(Kw::Bare) if a.names => {
                let name = a.word(i);
                if is_catalogue(unquoted_identifier(name)) && catalogue_use(a, i) {
                    report(&rules::SQLI_SCHEMA, a.span(i, i + 2), sink);
                    sql_signal = true;
                } else if is_server_procedure(name) {
                    report(&rules::SQLI_FUNCTION, a.span(i, i + 1), sink);
                    sql_signal = true;
                }
            }
            // PostgreSQL casts after a call or literal (`starts_with(p,'a')::int`,
            // `'{"b":2}'::jsonb`): type juggling only SQL does.
            Tk::Op
                if a.word(i) == ":"
                    && a.kind(i + 1) == Some(Tk::Op)
                    && a.word(i + 1) == ":"
                    && i > 0
                    && matches!(a.kind(i - 1), Some(Tk::RParen | Tk::Str { closed: true }))
                    && matches!(
                        a.word(i + 2),
                        "int"
                            | "integer"
                            | "text"
                            | "jsonb"
                            | "json"
                            | "varchar"
                            | "bigint"
                            | "numeric"
                            | "bool"
                            | "boolean"
                            | "bytea"
                            | "regclass"
                            | "oid"
                            | "double"
                            | "float"
                            | "real"
                            | "smallint"
                            | "char"
                            | "xml"
                    ) =>
            {
                report(
                    &rules::SQLI_FUNCTION,
                    a.span(i.saturating_sub(1), i + 2),
                    sink,
                );
                sql_signal = true;
            }
            Tk::Var => {
                let v = a.word(i);
                if v.starts_with("@@") && v.len() > 3 {
                    report(&rules::SQLI_FUNCTION, a.span(i, i), sink);
                    sql_signal = true;
                }
            }
            Tk::Word(Kw::Into) if a.is_kw(i + 1, Kw::Outfile) => {
                report(&rules::SQLI_FUNCTION, a.span(i, i + 2), sink);
                sql_signal = true;
            }
            Tk::Word(Kw::Order | Kw::Group)
                if a.is_kw(i + 1, Kw::By)
                    && a.kind(i + 2) == Some(Tk::Num)
                    && (a.is_end(i + 3)
                        || matches!(a.kind(i + 3), Some(Tk::Comma | Tk::RParen))
                        || (a.context != Context::Bare && breakout.is_some())) =>
            {
                let probing = a.is_end(i + 3) && a.kind(i + 3).is_some()
                    || breakout == Some(i)
                    || i == 0
                    || a.kind(i.wrapping_sub(1)) == Some(Tk::RParen);
                if probing {
                    report(&rules::SQLI_ORDER_BY, a.span(i, i + 3), sink);
                    sql_signal = true;
                }
            }
            _ => {}
        }
    }

    // Breaking out of the assumed literal (or a numeric value running on).
    let mut strict = false;
    let start = match (a.context, breakout) {
        (Context::Bare, _)
            if a.kind(0) == Some(Tk::Logic) || (a.is_kw(0, Kw::Having) && a.is_literal(1)) =>
        {
            // `or 1=1--`: the value is the rest of a condition.
            strict = true;
            Some(0)
        }
        (Context::Bare, _) => {
            // `1 or 1=1`, `1) union ...`, `-1 or ...`: a numeric value continued.
            let mut j = 0;
            if a.kind(0) == Some(Tk::Op) && a.word(0) == "-" {
                j = 1;
            }
            (a.kind(j) == Some(Tk::Num)).then_some(j + 1)
        }
        (_, b) => b,
    };
    if let Some(mut j) = start {
        while a.kind(j) == Some(Tk::RParen) {
            j += 1;
        }
        let quoted = a.context != Context::Bare;
        match a.kind(j) {
            // `' sleep(5) '`, `" benchmark(1e7,md5(1)) "`: a delay right after the literal.
            Some(Tk::Word(_)) if quoted && a.toks[j].call && is_time_function(a.word(j)) => {
                report(&rules::SQLI_TIME, a.span(j, j + 3), sink);
                sql_signal = true;
            }
            // `' group by password having 1=1--`: a clause after the literal.
            Some(Tk::Word(Kw::Group | Kw::Order))
                if quoted
                    && a.is_kw(j + 1, Kw::By)
                    && matches!(a.kind(j + 2), Some(Tk::Word(_) | Tk::Num)) =>
            {
                report(&rules::SQLI_ORDER_BY, a.span(j, j + 3), sink);
                sql_signal = true;
            }
            // `'exec sp_addlogin ...`, `' insert into ...`: a new statement after the literal.
            // (Without `;` the statement must end in a comment, as an injected
            // one does to cut off the rest of the query.)
            Some(Tk::Word(_))
                if quoted
                    && stacked_statement(a, j)
                    && a.toks[j..]
                        .iter()
                        .any(|t| matches!(t.kind, Tk::LineComment | Tk::Semi)) =>
            {
                report(&rules::SQLI_STACKED, a.span(j, j + 3), sink);
                sql_signal = true;
            }
            Some(Tk::LineComment) if quoted => {
                report(&rules::SQLI_COMMENT, a.span(0, j), sink);
                sql_signal = true;
            }
            Some(Tk::BlockComment { .. })
                if quoted
                    && (a.kind(j + 1).is_none()
                        || a.kind(j + 1) == Some(Tk::Str { closed: false })) =>
            {
                report(&rules::SQLI_COMMENT, a.span(0, j), sink);
                sql_signal = true;
            }
            Some(Tk::Semi) if quoted && a.is_end(j + 1) && a.kind(j + 1).is_some() => {
                report(&rules::SQLI_COMMENT, a.span(0, j + 1), sink);
                sql_signal = true;
            }
            // `admin@example.com';`: a value, the literal closed, the
            // statement ended (a lone `';` is a bare metacharacter probe).
            Some(Tk::Semi) if quoted && a.kind(j + 1).is_none() && j == 1 && !leading_quote(a) => {
                report(&rules::SQLI_COMMENT, a.span(0, j + 1), sink);
                sql_signal = true;
            }
            // `id'is not-id--`, `x' mod id--`, `' notnull --`: the literal
            // closed, an SQL predicate, the rest of the query cut off.
            Some(_) if quoted && predicate_cut_off(a, j) => {
                report(&rules::SQLI_BOOLEAN, a.span(j, a.toks.len()), sink);
                sql_signal = true;
            }
            // `'alter a`, `" union/`: a value that opens with the quote and
            // goes straight into a statement keyword, the quote never closed
            // again (`'Union Square'` is a quoted name).
            Some(Tk::Word(Kw::Union | Kw::Alter))
                if quoted
                    && j == 1
                    && leading_quote(a)
                    && a.kind(j + 1).is_some()
                    && !a.toks[j..].iter().any(|t| matches!(t.kind, Tk::Str { .. })) =>
            {
                report(&rules::SQLI_CONDITION_FRAGMENT, a.span(0, j + 1), sink);
            }
            // `` ` AS `user_id` from ``: an alias clause after the literal.
            Some(Tk::Word(Kw::As))
                if quoted
                    && matches!(a.kind(j + 1), Some(Tk::Word(_) | Tk::Str { closed: true }))
                    && super::sqli_fragment::from_clause(
                        &super::sqli_fragment::Tokens {
                            text: a.text,
                            toks: a.toks,
                        },
                        j + 2,
                    ) =>
            {
                report(&rules::SQLI_CONDITION_FRAGMENT, a.span(j, j + 2), sink);
            }
            // `` ` regexp ``: a pattern operator right after the literal, ending the value.
            Some(Tk::Word(Kw::Like))
                if quoted && matches!(a.word(j), "regexp" | "rlike") && a.kind(j + 1).is_none() =>
            {
                report(&rules::SQLI_CONDITION_FRAGMENT, a.span(j, j), sink);
            }
            Some(Tk::Logic) => {
                if let Some(rule) = condition_after_logic(a, j)
                    .filter(|_| !strict || strict_literal_condition(a, j))
                {
                    report(rule, a.span(j, j + 4), sink);
                    sql_signal = true;
                } else if quoted && cut_off_after(a, j + 1) {
                    // `' and email ilike email--`, `' or json (id);`: the
                    // literal closed, a condition, the rest of the query cut.
                    report(&rules::SQLI_BOOLEAN, a.span(j, j + 4), sink);
                    sql_signal = true;
                } else if quoted && logic_probe(a, j) {
                    report(&rules::SQLI_CONDITION_FRAGMENT, a.span(j, j + 3), sink);
                } else if escaped_quote_probe(a, j) {
                    report(&rules::SQLI_CONDITION_FRAGMENT, a.span(0, j), sink);
                }
            }
            // `x'|email--`, `x'-email--`, `x'>email--`: the literal closed,
            // an operator on a column, the rest of the query cut off.
            Some(Tk::Op | Tk::Cmp)
                if quoted
                    && matches!(a.kind(j + 1), Some(Tk::Word(_) | Tk::Num))
                    && a.kind(j + 2) == Some(Tk::LineComment)
                    && a.toks.len() == j + 3 =>
            {
                report(&rules::SQLI_BOOLEAN, a.span(j, j + 3), sink);
                sql_signal = true;
            }
            // `user'collate nocase--`: a collation only SQL applies.
            Some(Tk::Word(Kw::Bare))
                if quoted && a.word(j) == "collate" && a.kind(j + 1).is_some() =>
            {
                report(&rules::SQLI_BOOLEAN, a.span(j, j + 2), sink);
                sql_signal = true;
            }
            Some(Tk::Word(Kw::Having | Kw::Where))
                if (quoted || a.is_literal(j + 1)) && condition_after_logic(a, j).is_some() =>
            {
                report(&rules::SQLI_BOOLEAN, a.span(j, j + 4), sink);
                sql_signal = true;
            }
            Some(Tk::Op) if quoted => {
                // `'||(select ...)||'`, `'+convert(int,@@version)+'`, `'-sleep(5)-'`.
                let k = j + 1;
                let next_is_sql = match a.kind(k) {
                    Some(Tk::LParen) => a.is_kw(k + 1, Kw::Select),
                    Some(Tk::Word(_)) if a.toks[k].call => {
                        is_strong_function(a.word(k)) || is_time_function(a.word(k))
                    }
                    Some(Tk::Var) => true,
                    _ => false,
                };
                if next_is_sql {
                    report(&rules::SQLI_BOOLEAN, a.span(j, j + 3), sink);
                    sql_signal = true;
                } else if sink.paranoia() >= 3 {
                    report(&rules::SQLI_OPERATOR_CHAIN, a.span(0, j + 1), sink);
                }
            }
            Some(Tk::Cmp) if quoted && sink.paranoia() >= 3 => {
                report(&rules::SQLI_OPERATOR_CHAIN, a.span(0, j + 1), sink);
            }
            _ => {}
        }
    }
    // `1 and 1=1` style conditions later in a numeric value, or after a
    // closing parenthesis: any logic operator followed by a literal comparison.
    for i in 0..n {
        if a.kind(i) == Some(Tk::Logic)
            && i > 0
            && matches!(
                a.kind(i - 1),
                Some(Tk::Num | Tk::RParen | Tk::Str { closed: true })
            )
            && let Some(rule) = condition_after_logic(a, i)
        {
            if a.context == Context::Bare && !strict_literal_condition(a, i) {
                continue;
            }
            report(rule, a.span(i, i + 4), sink);
            sql_signal = true;
            break;
        }
    }
    if sink.wants(&rules::SQLI_OBFUSCATED) && obfuscated > 0 {
        let any_keyword = a.toks.iter().any(|t| {
            matches!(t.kind, Tk::Word(k) if k != Kw::Bare && k != Kw::Null) || t.kind == Tk::Logic
        });
        if any_keyword || obfuscated == 2 {
            report(&rules::SQLI_OBFUSCATED, a.span(0, n), sink);
            sql_signal = true;
        }
    }
    if !sql_signal && sink.wants(&rules::SQLI_STATEMENT) && a.context == Context::Bare {
        statement(a, sink);
    }
}

/// Whether the value from `i` on ends in a comment or a final `;` within a
/// few tokens (an injected condition cuts off the rest of the query).
fn cut_off_after(a: &SqlAnalysis<'_>, i: usize) -> bool {
    let n = a.toks.len();
    let last = n.checked_sub(1).map(|l| a.toks[l].kind);
    let cut = match last {
        Some(Tk::LineComment) => true,
        Some(Tk::Semi) => true,
        Some(Tk::Str { closed: false }) => n >= 2 && a.kind(n - 2) == Some(Tk::Semi),
        _ => false,
    };
    cut && n > i + 1 && n <= i + 12
}

/// `' xor abcdefg!`, `'or 12356789<`, `' or 3,4,2@!`: after the literal,
/// a logic operator, an operand and an operator or junk ending the value.
fn logic_probe(a: &SqlAnalysis<'_>, j: usize) -> bool {
    let n = a.toks.len();
    if !matches!(
        a.kind(j + 1),
        Some(Tk::Num | Tk::Word(Kw::Bare) | Tk::Str { .. })
    ) {
        return false;
    }
    n <= j + 8
        && a.toks[j + 2..].iter().all(|t| {
            matches!(
                t.kind,
                Tk::Num | Tk::Comma | Tk::Cmp | Tk::Op | Tk::Other | Tk::Var
            )
        })
        && n > j + 2
}

/// A new statement after `;`: the keyword and what SQL requires after it.
fn stacked_statement(a: &SqlAnalysis<'_>, i: usize) -> bool {
    let next_word = |k: usize| a.word(k);
    match a.kind(i) {
        // (`';select p`: one column, the statement ending there, right
        // after the literal is closed, as T-SQL's `print` below.)
        Some(Tk::Word(Kw::Select)) => {
            select_list(a, i + 1)
                || (i == 2
                    && a.context.quote().is_some()
                    && a.kind(i + 1) == Some(Tk::Word(Kw::Bare))
                    && a.is_end(i + 2))
        }
        Some(Tk::Word(Kw::Insert)) => a.is_kw(i + 1, Kw::Into),
        Some(Tk::Word(Kw::Update)) => a.is_kw(i + 2, Kw::Set),
        Some(Tk::Word(Kw::Delete)) => a.is_kw(i + 1, Kw::From),
        Some(Tk::Word(Kw::Drop | Kw::Truncate | Kw::Alter | Kw::Create)) => matches!(
            next_word(i + 1),
            "table"
                | "database"
                | "schema"
                | "user"
                | "login"
                | "procedure"
                | "function"
                | "view"
                | "index"
                | "trigger"
        ),
        Some(Tk::Word(Kw::Exec)) => {
            matches!(a.kind(i + 1), Some(Tk::Word(_) | Tk::LParen | Tk::Var))
        }
        Some(Tk::Word(Kw::Declare)) => a.kind(i + 1) == Some(Tk::Var),
        Some(Tk::Word(Kw::Shutdown)) => a.is_end(i + 1),
        Some(Tk::Word(Kw::Waitfor)) => a.is_kw(i + 1, Kw::Delay),
        // `; set @x = ...` (a bare `@` names no variable).
        Some(Tk::Word(Kw::Set)) => a.kind(i + 1) == Some(Tk::Var) && a.word(i + 1).len() > 1,
        Some(Tk::Word(Kw::Bare)) => {
            let w = next_word(i);
            (matches!(w, "sleep" | "pg_sleep" | "benchmark") && a.toks[i].call)
                || matches!(w, "xp_cmdshell" | "sp_executesql" | "dbms_lock")
                // `';print @@version--`, `';print'`: T-SQL's print of one
                // operand, the statement ending there, right after the
                // literal is closed or of a variable (`done; print 3` and
                // `; print 3 copies` are prose).
                || (w == "print"
                    && match a.kind(i + 1) {
                        Some(Tk::Var) => true,
                        Some(Tk::Str { .. } | Tk::Num) => i == 2 && a.context.quote().is_some(),
                        _ => false,
                    }
                    && a.is_end(i + 2))
                || (w == "copy" && a.kind(i + 1) == Some(Tk::Word(Kw::Bare)))
                // `grant connect to name`: a privilege change.
                || (w == "grant"
                    && a.kind(i + 1) == Some(Tk::Word(Kw::Bare))
                    && (i + 2..(i + 6).min(a.toks.len())).any(|k| a.word(k) == "to"))
        }
        _ => false,
    }
}

/// Whether a select list starting at `i` reads as SQL rather than prose.
fn select_list(a: &SqlAnalysis<'_>, i: usize) -> bool {
    match a.kind(i) {
        Some(Tk::Op) => a.word(i) == "*",
        Some(Tk::Num | Tk::Str { .. } | Tk::Var | Tk::Word(Kw::Null | Kw::Distinct | Kw::All)) => {
            true
        }
        Some(Tk::Word(_)) if a.toks[i].call => true,
        Some(Tk::Word(Kw::Bare)) => {
            matches!(a.kind(i + 1), Some(Tk::Comma | Tk::Dot))
                || a.is_kw(i + 1, Kw::From)
                    && matches!(a.kind(i + 2), Some(Tk::Word(_)))
                    && (a.is_end(i + 3) || a.is_kw(i + 3, Kw::Where))
        }
        _ => false,
    }
}

/// After a logic operator at `i`: a comparison of operands, a lone truthy
/// literal at the end, or a subquery / function — the shapes of an injected
/// condition.
fn condition_after_logic(a: &SqlAnalysis<'_>, i: usize) -> Option<&'static Rule> {
    let is_or = matches!(a.word(i), "or" | "||" | "xor");
    let mut j = i + 1;
    if a.is_kw(j, Kw::Not) {
        j += 1;
    }
    while a.kind(j) == Some(Tk::LParen) {
        j += 1;
    }
    if a.is_kw(j, Kw::Select) && select_list(a, j + 1) {
        return Some(&rules::SQLI_BOOLEAN);
    }
    if a.word(j) == "exists" && a.toks[j].call {
        return Some(&rules::SQLI_BOOLEAN);
    }
    let mut left_end = a.operand_end(j)?;
    while a.kind(left_end) == Some(Tk::RParen) {
        left_end += 1;
    }
    let left_is_sql_call = a.kind(j).is_some_and(|k| matches!(k, Tk::Word(_)))
        && a.toks[j].call
        && (is_strong_function(a.word(j))
            || is_time_function(a.word(j))
            || is_error_function(a.word(j)));
    match a.kind(left_end) {
        // `'' - '`, `'' & '`: arithmetic between literals is as truthy as a comparison.
        Some(Tk::Op)
            if a.is_literal(j)
                && matches!(
                    a.word(left_end),
                    "-" | "&" | "^" | "*" | "|" | "+" | "/" | "%"
                )
                && a.is_literal(left_end + 1) =>
        {
            Some(if is_or {
                &rules::SQLI_TAUTOLOGY
            } else {
                &rules::SQLI_BOOLEAN
            })
        }
        Some(Tk::Cmp) | Some(Tk::Word(Kw::Like | Kw::Is | Kw::In | Kw::Between)) => {
            let mut right = left_end + 1 + usize::from(a.is_kw(left_end + 1, Kw::Not));
            while a.kind(right) == Some(Tk::LParen) {
                right += 1;
            }
            // `' and 1=(select count(*) from t)`: compared with a subquery.
            if right > left_end + 1 && a.is_kw(right, Kw::Select) && select_list(a, right + 1) {
                return Some(&rules::SQLI_BOOLEAN);
            }
            let right_end = a
                .operand_end(right)
                .or_else(|| (a.kind(right) == Some(Tk::LParen)).then_some(right + 1))?;
            let literal_both =
                a.is_literal(j) && (a.is_literal(right) || a.kind(right) == Some(Tk::LParen));
            let same = a.operand_end(j) == Some(j + 1)
                && right_end == right + 1
                && a.same_literal(j, right);
            let sql_call = left_is_sql_call
                || (a.kind(right).is_some_and(|k| matches!(k, Tk::Word(_)))
                    && a.toks.get(right).is_some_and(|t| t.call));
            if (same || literal_both) && is_or {
                Some(&rules::SQLI_TAUTOLOGY)
            } else if same
                || literal_both
                || sql_call
                || a.kind(j) == Some(Tk::Var)
                || (a.context != Context::Bare
                    && (a.is_end(right_end)
                        || a.kind(right_end) == Some(Tk::Str { closed: false })))
            {
                Some(&rules::SQLI_BOOLEAN)
            } else {
                None
            }
        }
        // `or '{"a":"b"}' ? 'a'`, `or '[1,2]' -> '$[0]' = 1`: a JSON
        // document tested with a PostgreSQL / MySQL JSON operator.
        _ if matches!(a.kind(j), Some(Tk::Str { closed: true }))
            && json_operator(a, left_end).is_some() =>
        {
            Some(if is_or {
                &rules::SQLI_TAUTOLOGY
            } else {
                &rules::SQLI_BOOLEAN
            })
        }
        _ if left_is_sql_call => Some(&rules::SQLI_BOOLEAN),
        _ if a.is_literal(j)
            && left_end == j + 1
            && (a.is_end(left_end) || a.kind(left_end) == Some(Tk::Str { closed: false })) =>
        {
            // `' or 1--`, `" or true#`, `' or 'x`: a bare truthy operand.
            if a.kind(left_end).is_some() || a.context != Context::Bare {
                Some(if is_or {
                    &rules::SQLI_TAUTOLOGY
                } else {
                    &rules::SQLI_BOOLEAN
                })
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A JSON operator at `k` (`->`, `->>`, `?`, `?|`, `?&`) applied to a JSON
/// document literal just before it (`'{"a":1}'`, `'[1,2]'`) with a literal
/// or an `array[...]` after it (`'red' or 'blue'? 'red'` is prose): the
/// token after the operator.
fn json_operator(a: &SqlAnalysis<'_>, k: usize) -> Option<usize> {
    let document = k > 0
        && matches!(a.kind(k - 1), Some(Tk::Str { closed: true }))
        && a.word(k - 1)[1..].trim_start().starts_with(['{', '[']);
    if !document {
        return None;
    }
    let after = match (a.kind(k)?, a.word(k)) {
        (Tk::Op, "-") if a.kind(k + 1) == Some(Tk::Cmp) && matches!(a.word(k + 1), ">" | ">>") => {
            k + 2
        }
        (Tk::Other, "?") if matches!(a.word(k + 1), "|" | "&") => k + 2,
        (Tk::Other, "?") => k + 1,
        _ => return None,
    };
    let glued = a.toks[k + 1].start == a.toks[k].end || after == k + 1;
    let right = a.is_literal(after) || (a.word(after) == "array" && a.word(after + 1) == "[");
    (glued && right).then_some(after)
}

/// Whether the assumed literal is only its closing quote (the value opens
/// with the quote, after blanks at most).
fn leading_quote(a: &SqlAnalysis<'_>) -> bool {
    a.toks
        .first()
        .is_some_and(|t| a.text[t.start..t.end.saturating_sub(1)].trim().is_empty())
}

/// `\'and`, `\"or`: the whole value is a backslash-escaped quote with a
/// logic operator glued to it — a probe of whether the application's `\'`
/// reaches a database that does not read the backslash as an escape.
fn escaped_quote_probe(a: &SqlAnalysis<'_>, j: usize) -> bool {
    matches!(a.context, Context::SingleAnsi | Context::DoubleAnsi)
        && j == 1
        && a.kind(j + 1).is_none()
        && matches!(a.word(0), "\\'" | "\\\"")
        && a.toks[1].start == a.toks[0].end
}

/// After the literal closed at `j`: an SQL predicate (`is [not]`, `not
/// like`, `regexp`, `mod`, `div`, the postfix `notnull` / `isnull`) on one
/// operand, then a line comment that ends the value, glued to what it cuts
/// off (`id'is not-id--`). Prose puts blanks around a dash
/// (`James' is not -- really`).
fn predicate_cut_off(a: &SqlAnalysis<'_>, j: usize) -> bool {
    let n = a.toks.len();
    // A final `;` ends the statement as a comment does, on a literal
    // operand only (`'glob 1;`; `the kids' like it;` is prose).
    let semi = a.kind(n.wrapping_sub(1)) == Some(Tk::Semi);
    if n < j + 2 || n > j + 7 || !(a.kind(n - 1) == Some(Tk::LineComment) || semi) {
        return false;
    }
    let postfix = matches!(a.word(j), "notnull" | "isnull");
    let predicate = match a.kind(j) {
        Some(Tk::Word(Kw::Is | Kw::Not | Kw::Like | Kw::Between | Kw::In)) => true,
        Some(Tk::Logic) => a.word(j) == "div",
        Some(Tk::Word(Kw::Bare)) => postfix || a.word(j) == "mod",
        _ => false,
    };
    if !predicate {
        return false;
    }
    if postfix {
        return n == j + 2;
    }
    let mut k = j + 1;
    while matches!(a.kind(k), Some(Tk::Word(Kw::Not | Kw::Like | Kw::Is))) {
        k += 1;
    }
    let operands = &a.toks[k..n - 1];
    let mut words = 0;
    for t in operands {
        match t.kind {
            Tk::Word(Kw::Bare) => words += 1,
            Tk::Num | Tk::Str { .. } | Tk::Var | Tk::Op | Tk::Other | Tk::Word(Kw::Null) => {}
            _ => return false,
        }
    }
    let glued = a.toks[n - 1].start == a.toks[n - 2].end;
    !operands.is_empty() && words <= usize::from(!semi) && glued
}

/// In an unquoted value, a condition only counts when both sides are
/// literals (numbers or strings) or the same word: prose has `or` and `=` too.
fn strict_literal_condition(a: &SqlAnalysis<'_>, i: usize) -> bool {
    let mut j = i + 1;
    if a.is_kw(j, Kw::Not) {
        j += 1;
    }
    while a.kind(j) == Some(Tk::LParen) {
        j += 1;
    }
    if a.is_kw(j, Kw::Select)
        || (a.toks.get(j).is_some_and(|t| t.call)
            && (is_strong_function(a.word(j)) || is_time_function(a.word(j))))
    {
        return true;
    }
    let Some(left_end) = a.operand_end(j) else {
        return false;
    };
    if a.is_literal(j) && json_operator(a, left_end).is_some() {
        return true;
    }
    if !matches!(a.kind(left_end), Some(Tk::Cmp)) {
        return a.is_literal(j)
            && a.kind(j) != Some(Tk::Str { closed: true })
            && a.is_end(left_end)
            && a.kind(left_end).is_some();
    }
    let right = left_end + 1;
    (a.is_literal(j) && a.is_literal(right))
        || (a.operand_end(j) == Some(j + 1) && a.same_literal(j, right))
}

fn error_call(a: &SqlAnalysis<'_>, i: usize) -> bool {
    let name = a.word(i);
    match name {
        "exp" => a.word(i + 2) == "~",
        "floor" => (i + 2..(i + 8).min(a.toks.len())).any(|k| a.word(k) == "rand"),
        "json_extract" | "gtid_subset" => (i + 2..(i + 12).min(a.toks.len()))
            .any(|k| a.kind(k) == Some(Tk::Var) || a.is_kw(k, Kw::Select) || a.toks[k].call),
        _ => true,
    }
}

/// `char(88)+char(88)`, `chr(65)||chr(66)`, `char(0x41,...)`.
fn char_chain(a: &SqlAnalysis<'_>, i: usize) -> bool {
    let end = a.skip_call(i);
    (a.kind(i + 2) == Some(Tk::Num))
        && (matches!(a.word(end), "+" | "||" | ",") && a.toks.get(end + 1).is_some_and(|t| t.call)
            || a.kind(i + 3) == Some(Tk::Comma) && a.kind(i + 4) == Some(Tk::Num))
}

fn catalogue_use(a: &SqlAnalysis<'_>, i: usize) -> bool {
    match unquoted_identifier(a.word(i)) {
        // Short names that are ordinary words: only as a qualified name or after FROM.
        "sys" | "mysql" | "dual" => {
            (a.kind(i + 1) == Some(Tk::Dot)
                && a.kind(i + 2).is_some_and(|k| matches!(k, Tk::Word(_))))
                && a.is_kw(i.wrapping_sub(1), Kw::From)
                || (a.word(i) == "dual" && a.is_kw(i.wrapping_sub(1), Kw::From))
        }
        _ => true,
    }
}

/// A MySQL identifier without the backticks that quote it
/// (`` `information_schema` `` names the catalogue too).
fn unquoted_identifier(word: &str) -> &str {
    word.strip_prefix('`')
        .and_then(|w| w.strip_suffix('`'))
        .unwrap_or(word)
}

/// A whole SQL statement in a value (paranoia 2): `select x, y from t`,
/// The niladic names a bare `select` reads the server itself with
/// (`select current_user;`).
fn is_server_identity(word: &str) -> bool {
    matches!(
        word,
        "current_user"
            | "session_user"
            | "system_user"
            | "user"
            | "current_database"
            | "current_schema"
    )
}

/// `insert into t values`, `drop table t`, `delete from t where ...`.
fn statement(a: &SqlAnalysis<'_>, sink: &mut Sink<'_>) {
    if let Some(i) = (0..a.toks.len()).find(|&i| statement_at(a, i)) {
        sink.report(&rules::SQLI_STATEMENT, a.text, a.span(i, i + 3));
    }
}

/// Whether a whole statement ([`statement`]) opens at token `i`.
fn statement_at(a: &SqlAnalysis<'_>, i: usize) -> bool {
    let n = a.toks.len();
    match a.kind(i) {
        // `select version();`, `select current_user;`: a query of the server itself.
        Some(Tk::Word(Kw::Select))
            if (a.toks.get(i + 1).is_some_and(|t| t.call)
                && is_strong_function(a.word(i + 1))
                && a.is_end(a.skip_call(i + 1)))
                || (is_server_identity(a.word(i + 1))
                    && a.is_end(i + 2)
                    && a.kind(i + 2).is_some()) =>
        {
            true
        }
        Some(Tk::Word(Kw::Create)) => {
            matches!(
                a.word(i + 1),
                "table" | "user" | "database" | "function" | "procedure" | "login"
            ) && matches!(a.kind(i + 2), Some(Tk::Word(_)))
                && matches!(a.kind(i + 3), Some(Tk::LParen) | Some(Tk::Word(_)))
        }
        Some(Tk::Word(Kw::Select)) => {
            select_list(a, i + 1)
                && (i + 2..n.min(i + 40))
                    .any(|k| a.is_kw(k, Kw::From) && matches!(a.kind(k + 1), Some(Tk::Word(_))))
        }
        Some(Tk::Word(Kw::Insert)) => {
            a.is_kw(i + 1, Kw::Into)
                && matches!(a.kind(i + 2), Some(Tk::Word(_)))
                && (a.is_kw(i + 3, Kw::Values)
                    || a.kind(i + 3) == Some(Tk::LParen)
                    || a.is_kw(i + 3, Kw::Select))
        }
        Some(Tk::Word(Kw::Delete)) => {
            a.is_kw(i + 1, Kw::From)
                && matches!(a.kind(i + 2), Some(Tk::Word(_)))
                && (a.is_kw(i + 3, Kw::Where) || a.is_end(i + 3) && a.kind(i + 3).is_some())
        }
        // `ALTER TABLE t CHANGE ...`: a schema change names its action.
        Some(Tk::Word(Kw::Alter)) => {
            a.is_kw(i + 1, Kw::Table)
                && matches!(a.kind(i + 2), Some(Tk::Word(_)))
                && matches!(
                    a.word(i + 3),
                    "add" | "change" | "modify" | "rename" | "drop" | "alter" | "engine"
                )
        }
        Some(Tk::Word(Kw::Drop | Kw::Truncate)) => {
            a.is_kw(i + 1, Kw::Table)
                && matches!(a.kind(i + 2), Some(Tk::Word(_)))
                && (a.is_end(i + 3) || a.kind(i + 3) == Some(Tk::Comma))
        }
        Some(Tk::Word(Kw::Update)) => {
            matches!(a.kind(i + 1), Some(Tk::Word(Kw::Bare)))
                && a.is_kw(i + 2, Kw::Set)
                && matches!(a.kind(i + 3), Some(Tk::Word(_)))
                && a.kind(i + 4) == Some(Tk::Cmp)
        }
        Some(Tk::Word(Kw::Exec)) => {
            let w = a.word(i + 1);
            w.starts_with("xp_") || w.starts_with("sp_") || w == "master" || w == "sys"
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{assert_clean, assert_detects};

    #[test]
    fn escaped_quote_then_logic_operator() {
        for v in ["\\'and", "\\'or", "\\\"xor"] {
            assert_detects(v, "sqli.condition_fragment");
        }
        for v in [
            "\\'and then\\'",
            "\\'andrew\\'",
            "it\\'s and",
            "\\' and",
            "rock \\'n\\' roll",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn operator_on_a_column_then_comment() {
        for v in [
            "x'|email--",
            "x'-email--",
            "x'^email--",
            "x'&email--",
            "x'>email--",
            "x'+email--",
        ] {
            crate::tests::assert_detects(v, "sqli.boolean");
        }
        for v in [
            "rock'n'roll -- live",
            "it's -- a test",
            "O'Brien-Smith",
            "x'-email",
        ] {
            crate::tests::assert_clean(v);
        }
    }

    /// The quoted readings skip their analysis without a token some report
    /// needs (`quoted_may_report`): shapes whose only such token is the one
    /// right after the literal, or a call, are still found.
    #[test]
    fn quoted_reading_gate_keeps_breakout_shapes() {
        assert_detects("x'||(select 'a')||'", "sqli.boolean");
        assert_detects("x'-sleep(5)-'", "sqli.boolean");
        assert_detects("' sleep(5) '", "sqli.time_based");
        assert_detects("x' having 1=1", "sqli.boolean");
        assert_detects("x' where 1=1", "sqli.boolean");
        assert_detects("'alter a", "sqli.condition_fragment");
        assert_detects("' union/", "sqli.condition_fragment");
        assert_detects("x' group by password", "sqli.order_by");
        assert_detects("x'+convert(int,@@version)+'", "sqli.function");
        for v in [
            "Miles O'Brien",
            "O'Reilly & Sons, Ltd.",
            "nobody's home (ask).",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn classic_injections() {
        assert_detects("' or '1'='1", "sqli.tautology");
        assert_detects("admin' --", "sqli.comment_breakout");
        assert_detects("admin'#", "sqli.comment_breakout");
        assert_detects("1 or 1=1", "sqli.tautology");
        assert_detects("1' and 1=1--", "sqli.boolean");
        assert_detects("') or ('a'='a", "sqli.tautology");
        assert_detects("\" or \"\"=\"", "sqli.tautology");
        assert_detects("' or 1--", "sqli.tautology");
        assert_detects("1 union all select null,null--", "sqli.union");
        assert_detects("-1' UNION/**/SELECT 1,2,3--", "sqli.union");
        assert_detects("1 UN/**/ION SEL/**/ECT", "sqli.obfuscated");
        assert_detects("1'/*!50000union*/ /*!50000select*/ 1,2--", "sqli.union");
        assert_detects("1; drop table users--", "sqli.stacked_query");
        assert_detects("'; exec master..xp_cmdshell 'dir'--", "sqli.stacked_query");
        assert_detects("1 and sleep(5)", "sqli.time_based");
        assert_detects("'; waitfor delay '0:0:5'--", "sqli.time_based");
        assert_detects("1) or pg_sleep(10)--", "sqli.time_based");
        assert_detects(
            "1 and extractvalue(1,concat(0x7e,version()))",
            "sqli.error_based",
        );
        assert_detects("' AND 5650=CONVERT(INT,(SELECT 1))--", "sqli.error_based");
        assert_detects("1 order by 14--", "sqli.order_by");
        assert_detects(
            "x' and 1=(select count(*) from information_schema.tables)--",
            "sqli.schema_probe",
        );
        assert_detects("1 and @@version>5", "sqli.function");
        assert_detects("' union select load_file('/etc/passwd')#", "sqli.union");
        assert_detects("1'||(select 'x')||'", "sqli.boolean");
        assert_detects("%27%20or%20%271%27%3D%271", "sqli.tautology");
        assert_detects("1+OR+1=1", "sqli.tautology");
        assert_detects("\" union select", "sqli.union");
        assert_detects("UnIon seleCt", "sqli.union");
        assert_detects("information_schema", "sqli.schema_probe");
        assert_detects("z'or email notnull--", "sqli.boolean");
        assert_detects("admin@juice-sh.op' and email ilike email--", "sqli.boolean");
        assert_detects("x' or json (id);", "sqli.boolean");
        assert_detects("user'collate nocase--", "sqli.boolean");
        assert_detects("'  xor  abcdefg!", "sqli.condition_fragment");
        assert_detects("'or     12356789<", "sqli.condition_fragment");
    }

    #[test]
    fn one_trigger_token_is_enough_past_the_bare_gates() {
        // Each value has a single token of the kinds `bare_may_report` and
        // `sqli_fragment::may_report` look for.
        for (v, rule) in [
            ("@@version", "sqli.function"),
            ("5 or 6=6", "sqli.tautology"),
            ("x from users where id=", "sqli.condition_fragment"),
            ("1.e(ascii", "sqli.condition_fragment"),
            ("'msdasql'", "sqli.condition_fragment"),
            ("tempdb", "sqli.schema_probe"),
            ("is null", "sqli.condition_fragment"),
        ] {
            assert_detects(v, rule);
        }
    }

    /// The dispatcher's name gate: every catalogue and procedure name holds
    /// one of its literals, and a name alone is still found through it.
    #[test]
    fn name_literals_cover_every_catalogue_and_procedure() {
        for name in super::CATALOGUES.iter().chain(super::SERVER_PROCEDURES) {
            assert!(
                super::NAME_LITERALS.iter().any(|l| name.contains(l)),
                "{name} holds no name literal"
            );
        }
        for (v, rule) in [
            ("msysobjects", "sqli.schema_probe"),
            ("x' union all select 1 from sysusers--", "sqli.union"),
            ("opendatasource", "sqli.function"),
        ] {
            assert_detects(v, rule);
        }
    }

    /// The tokenizer's notes of what a reading holds ([`super::Seen`]): a
    /// reading with one counted token only is still analysed.
    #[test]
    fn one_seen_token_is_enough() {
        for (v, rule) in [
            ("x'--", "sqli.comment_breakout"),
            ("x'/*", "sqli.comment_breakout"),
            ("1 order by 3--", "sqli.order_by"),
            ("password::int", "sqli.condition_fragment"),
            ("1.e.tables", "sqli.condition_fragment"),
            ("'msdasql'", "sqli.condition_fragment"),
            ("@@version", "sqli.function"),
            ("1 && 1=1", "sqli.boolean"),
            ("x' )) union select 1--", "sqli.union"),
            ("x') or ('a'='a", "sqli.tautology"),
            ("x' or 0x1f=0x1f--", "sqli.tautology"),
            ("x' and sleep (5)", "sqli.time_based"),
            ("1=1", "sqli.condition_fragment"),
            (";drop", "sqli.condition_fragment"),
            ("1;shutdown", "sqli.stacked_query"),
        ] {
            assert_detects(v, rule);
        }
    }

    /// [`super::bare_may_count`] is `false` only where the bare reading
    /// notes nothing: checked on tricky values and on random strings of
    /// SQL bytes and words.
    #[test]
    fn bare_byte_gate_agrees_with_the_tokenizer() {
        let check = |v: &str| {
            let mut toks = Vec::new();
            let mut obfuscated = 0;
            let seen = super::tokenize(
                v.as_bytes(),
                super::Context::Bare,
                &mut toks,
                &mut obfuscated,
            );
            if seen.bare || obfuscated > 0 {
                assert!(super::bare_may_count(v.as_bytes()), "{v:?}");
            }
        };
        for v in [
            "0x1for 1",
            ".5or",
            "1.5or",
            ".5e-5or",
            ".5e+5or",
            ".5.5or",
            "0xabcdefor",
            "1 = 2",
            "1=2",
            "1.=2",
            "1e+=2",
            "'a'=1",
            "x!=1",
            "5 !=1",
            "0x1f=1",
            "a;+sleep(",
            "; set @x",
            ";shutdown",
            "a;print",
            "order by",
            "order+by",
            "1.e.tables",
            "1.e(",
            "password::int",
            "a: :b",
            "@@version",
            "a&&b",
            "a||b",
            "/*!50000select*/",
            "sel/**/ect",
            "{x 1}=1",
            "1*/=1",
            "count (x)",
            "it's 5 or 6",
            "a'b'c",
            "x\"y\"",
            "5pm; select",
            "en-gb,en;q=0.9",
            "+1 (555) 010-4477 ext. 12",
        ] {
            check(v);
        }
        let pieces: &[&str] = &[
            " ", "  ", "\t", "\n", "'", "\"", "`", "0", "1", "5", "0x", "0b", "1f", "e", "e5", ".",
            "-", "+", "*", "/", "(", ")", "{", "}", "=", "<", ">", "!", ";", ":", "@", "&", "|",
            "#", ",", "or", "and", "by", "order", "group", "select", "set", "sleep", "is", "x",
            "abc", "_", "$", "\\", "%", "?",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..300_000 {
            let mut v = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = 1 + (state % 12) as usize;
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                v.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            check(&v);
        }
    }

    /// The tokenizer asks [`super::keyword`] only about words up to
    /// `LONGEST_KEYWORD` long.
    #[test]
    fn longest_keyword_is_distinctrow() {
        assert_eq!(super::keyword(b"distinctrow"), super::Kw::Distinct);
        assert_eq!(super::LONGEST_KEYWORD, "distinctrow".len());
        // `bare_may_count` asks only about words of two bytes or more.
        for b in 0..=u8::MAX {
            assert_eq!(super::keyword(&[b]), super::Kw::Bare);
        }
    }

    #[test]
    fn statements_at_paranoia_two() {
        assert_detects("select username, password from users", "sqli.statement");
        assert_detects("insert into users values (1,'a')", "sqli.statement");
    }

    /// The bare reading reads `;`, `order` / `group` and `select` only in
    /// the shapes `bare_may_report` lists: those shapes are still found.
    #[test]
    fn bare_gate_keeps_semicolon_order_and_select_shapes() {
        assert_detects("1; select * from users", "sqli.stacked_query");
        assert_detects("1;shutdown", "sqli.stacked_query");
        assert_detects("1) order by 5", "sqli.order_by");
        assert_detects("1 group by 2--", "sqli.order_by");
        assert_detects("select current_user;", "sqli.statement");
        assert_detects("select version();", "sqli.statement");
        for v in [
            "en-GB,en;q=0.9",
            "Would order again - 5/5",
            "5pm; select the blue plan",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn prose_and_names_pass() {
        for benign in [
            "O'Brien",
            "D'Angelo's pizza",
            "'t Hooft",
            "select a plan",
            "drop off at 5",
            "union station",
            "delete my account",
            "where is my order",
            "Rock 'n' roll -- the best",
            "It's 5 or 6 = about right",
            "Order #42 (gift); select delivery options",
            "I'd like coffee or tea; please update my order",
            "He said \"hi\" and left",
            "50% off -- today only",
            "1-800-555-0199",
            "2024-01-15T10:30:00Z",
            "select the items from the list",
            "Please don't sleep (5 hours is fine)",
            "order by date",
            "char 5",
            "Table for 4 or 5 = fine",
        ] {
            assert_clean(benign);
        }
    }

    #[test]
    fn backslash_quote_breakouts() {
        // Standard SQL does not escape with a backslash, and `\'` escaped
        // once more (`\\'`) closes the literal.
        for (v, rule) in [
            ("admin@juice-sh.op\\' or json (id);", "sqli.boolean"),
            ("admin@juice-sh.op\\'and likely (id)--", "sqli.boolean"),
            ("\\'or'1", "sqli.tautology"),
            ("\\\"or\"1", "sqli.tautology"),
        ] {
            assert_detects(v, rule);
        }
        for v in [
            "O\\'Brien",
            "it\\'s fine, isn\\'t it",
            "say \\\"hi\\\" or wave",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn identifier_breakouts() {
        for (v, rule) in [
            ("` AS `edit_user_id` from", "sqli.condition_fragment"),
            ("` REGEXP ", "sqli.condition_fragment"),
            ("admin@juice-sh.op`;", "sqli.comment_breakout"),
            ("x` or 1=1--", "sqli.tautology"),
        ] {
            assert_detects(v, rule);
        }
        // Markdown code spans pair their backticks.
        for v in [
            "I think `--dry-run` returns `0.5em` when the list is empty",
            "- [x] write tests for `#ff8800`\n- [ ] update `git pull --rebase`",
            "use `a` as `b` from now on",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn literal_closed_then_statement_end_or_predicate() {
        for v in [
            "admin@juice-sh.op';",
            "admin@juice-sh.op\";",
            "root@example.com'/* comment */;",
            "id'is not-id--",
            "id'not like id--",
            "x' mod id--",
            "'sounds like rowid--",
            "' is not?--",
            "' notnull --",
        ] {
            assert_detects(
                v,
                if v.ends_with(';') {
                    "sqli.comment_breakout"
                } else {
                    "sqli.boolean"
                },
            );
        }
        for v in [
            "';",
            "He said 'hi';",
            "James' is not -- really",
            "James' is not home -- ok",
            "the Beatles' sounds",
            "Chris' like",
            "the kids' like it;",
            "Chris' like me;",
        ] {
            assert_clean(v);
        }
        // A final `;` cuts a predicate on a literal off as a comment does.
        for v in ["'glob 1;", "' like '%';", "x' is not null;"] {
            assert_detects(v, "sqli.boolean");
        }
    }

    #[test]
    fn leading_quote_into_a_statement_keyword() {
        for v in ["'alter a", "\" ALTER A", "' union/", "'UNION A"] {
            assert_detects(v, "sqli.condition_fragment");
        }
        for v in ["'Union Square'", "\"Alter Ego\" is a film", "union station"] {
            assert_clean(v);
        }
    }

    #[test]
    fn schema_changes_and_casts() {
        assert_detects(
            "ALTER TABLE `mass_mails` CHANGE `receivers` `receivers` ENUM('A','B') CHARACTER SET utf8",
            "sqli.statement",
        );
        assert_detects("function(foo)::double precision", "sqli.function");
        assert_detects("lo_get(16400)", "sqli.function");
        for v in [
            "alter table layout",
            "Please alter the table plan",
            "std::string",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn backticked_catalogues_and_a_select_right_after_the_literal() {
        assert_detects("from `information_schema`", "sqli.schema_probe");
        assert_detects(
            "select 1 from `information_schema`.`tables`",
            "sqli.schema_probe",
        );
        assert_detects("';select p", "sqli.stacked_query");
        assert_detects("\";SELECT P\n", "sqli.stacked_query");
        for v in [
            "'yes'; select Continue",
            "it's; select one",
            "; select one",
            "`schema` docs",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn json_operators_and_server_procedures() {
        for v in [
            "OR '{\"a\":2,\"c\":[4,5,{\"f\":7}]}' -> '$.c[2].f' = 7",
            "OR '{\"a\":\"b\"}' ? 'a'",
            "OR '[1,2]' ? '1'",
            "OR '{\"name\":\"asd\"}' ?| array['a','name']",
        ] {
            assert_detects(v, "sqli.tautology");
        }
        for v in ["xp_cmdshell", "sp_password", "UTL_HTTP", "OPENROWSET"] {
            assert_detects(v, "sqli.function");
        }
        for v in [
            "Is it 'red' or 'blue'? 'red'",
            "Either 'a' or 'b' -> 'c'",
            "or '{}' is fine",
            "open row set",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn optimizer_hints_unary_delays_and_acute_quotes() {
        for (v, rule) in [
            ("9999 or /*+optimizer hint */ true", "sqli.obfuscated"),
            ("\" WAITFOR DELAY +'0:0:5'", "sqli.time_based"),
            (
                "1\u{b4} OR \u{b4}1\u{b4}=\u{b4}x\u{b4}#;--()",
                "sqli.tautology",
            ),
        ] {
            assert_detects(v, rule);
        }
        for v in ["don\u{b4}t stop", "/* + */ note", "2 + 2 /* sum */"] {
            assert_clean(v);
        }
    }

    #[test]
    fn subquery_comparisons_grants_and_server_functions() {
        for (v, rule) in [
            (
                "1' and 1=(select count(*) from tablenames); --",
                "sqli.boolean",
            ),
            (
                "' grant connect to name; grant resource to name; --",
                "sqli.stacked_query",
            ),
            ("select current_database();", "sqli.function"),
        ] {
            assert_detects(v, rule);
        }
        for v in [
            "We grant access to members; see the FAQ",
            "Tom's pick and 1=(select one) for me",
            "current database: prod",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn odbc_braces_and_tsql_print() {
        for (v, rule) in [
            ("9999 or {if 1=1}", "sqli.tautology"),
            (
                "9999 or {if length((/* !5000select username/*!50000from*/user where id=1))>0}",
                "sqli.boolean",
            ),
            ("1' or {fn version()}='", "sqli.boolean"),
            ("';print'", "sqli.stacked_query"),
            ("x';print 'a'--", "sqli.stacked_query"),
            ("';print @@version", "sqli.stacked_query"),
            ("1;print @x", "sqli.stacked_query"),
        ] {
            assert_detects(v, rule);
        }
        for v in [
            "Use {curly braces} and stuff",
            "{if you want} or not",
            "Hello {name}, or {other}",
            "Done; print 3 copies",
            "Done; print 3",
            "ok; print 'x'",
            "It's done; print 2",
        ] {
            assert_clean(v);
        }
    }
}
