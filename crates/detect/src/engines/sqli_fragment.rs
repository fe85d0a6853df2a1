//! SQL fragments (paranoia 2): pieces of SQL syntax that are not a whole
//! injection yet but that only SQL writes — the probes a scanner sends to
//! find out which characters and words reach a query. Judged on the token
//! stream of the SQL tokenizer (the value taken as it stands), never on
//! substrings, so a word is a function only where a call follows it:
//!
//! - a call to a built-in SQL function (`SUBSTR(`, `round (`, `'||version(`)
//!   at the start of the value or right after SQL punctuation, not in prose
//!   (`3rd floor, left (ask for Ann)`, `` `len(items)` ``);
//! - a condition after a logic operator whose right side is a literal, a
//!   parenthesis or nothing yet (`AND 7639=(`, `|| c == '`, `&&(b=0)`,
//!   `oR pmw==`), not prose (`4 or 5 = fine`);
//! - predicates only SQL has at the end of a value (`IS NULL`, `IS NOT
//!   NULL`, `LIKE NULL`, `in (0,1)`, `NOT IN (`);
//! - a statement keyword alone after `;` (`;drop`, `;update users`).
//!
//! Each rule runs on tokens already produced for the main SQL pass: no extra
//! scan, bounded look-ahead per token.

use super::sqli::{Kw, Tk, Token};
use crate::Sink;
use crate::rules;

/// Built-in functions of MySQL, PostgreSQL, MSSQL, Oracle and SQLite that a
/// probe calls (string, numeric, date and information functions).
fn is_sql_function(name: &str) -> bool {
    matches!(
        name,
        "abs"
            | "acos"
            | "asin"
            | "atan"
            | "atan2"
            | "avg"
            | "ascii"
            | "benchmark"
            | "bin"
            | "bit_length"
            | "cast"
            | "ceil"
            | "ceiling"
            | "char"
            | "char_length"
            | "character_length"
            | "chr"
            | "coalesce"
            | "concat"
            | "concat_ws"
            | "conv"
            | "convert"
            | "cos"
            | "cot"
            | "count"
            | "crc32"
            | "curdate"
            | "current_date"
            | "current_time"
            | "current_timestamp"
            | "current_user"
            | "curtime"
            | "database"
            | "date_add"
            | "date_format"
            | "date_sub"
            | "datediff"
            | "dayname"
            | "dayofmonth"
            | "dayofweek"
            | "dayofyear"
            | "db_name"
            | "degrees"
            | "elt"
            | "exists"
            | "exp"
            | "extract"
            | "extractvalue"
            | "find_in_set"
            | "floor"
            | "greatest"
            | "group_concat"
            | "hex"
            | "hour"
            | "if"
            | "ifnull"
            | "iif"
            | "instr"
            | "isnull"
            | "json_extract"
            | "lcase"
            | "least"
            | "left"
            | "compress"
            | "uncompress"
            | "decode"
            | "encode"
            | "insert"
            | "len"
            | "length"
            | "ln"
            | "load_file"
            | "locate"
            | "log"
            | "log10"
            | "log2"
            | "lower"
            | "lpad"
            | "ltrim"
            | "max"
            | "md5"
            | "mid"
            | "min"
            | "minute"
            | "mod"
            | "month"
            | "monthname"
            | "now"
            | "nullif"
            | "oct"
            | "ord"
            | "password"
            | "pg_sleep"
            | "pi"
            | "position"
            | "pow"
            | "power"
            | "quarter"
            | "radians"
            | "rand"
            | "randomblob"
            | "repeat"
            | "replace"
            | "reverse"
            | "right"
            | "round"
            | "rpad"
            | "rtrim"
            | "schema"
            | "sha1"
            | "sha2"
            | "sign"
            | "sin"
            | "sleep"
            | "soundex"
            | "sqrt"
            | "strcmp"
            | "substr"
            | "substring"
            | "substring_index"
            | "sum"
            | "sysdate"
            | "system_user"
            | "tan"
            | "time"
            | "timestamp"
            | "trim"
            | "ucase"
            | "unhex"
            | "updatexml"
            | "upper"
            | "user"
            | "values"
            | "version"
            | "week"
            | "weekday"
            | "year"
            | "yearweek"
    )
}

pub(crate) struct Tokens<'a> {
    pub(crate) text: &'a str,
    pub(crate) toks: &'a [Token],
}

impl Tokens<'_> {
    fn kind(&self, i: usize) -> Option<Tk> {
        self.toks.get(i).map(|t| t.kind)
    }

    fn word(&self, i: usize) -> &str {
        self.toks.get(i).map_or("", |t| &self.text[t.start..t.end])
    }

    fn span(&self, from: usize, to: usize) -> std::ops::Range<usize> {
        let last = to.min(self.toks.len().saturating_sub(1));
        let start = self.toks.get(from).map_or(0, |t| t.start);
        let end = self.toks.get(last).map_or(self.text.len(), |t| t.end);
        start..end.max(start)
    }

    /// The end of the value, or a comment or `;` that cuts it.
    fn is_end(&self, i: usize) -> bool {
        matches!(
            self.kind(i),
            None | Some(Tk::LineComment | Tk::Semi | Tk::BlockComment { .. })
        )
    }

    /// Whether blanks separate token `i` from the next one.
    fn spaced_after(&self, i: usize) -> bool {
        match (self.toks.get(i), self.toks.get(i + 1)) {
            (Some(a), Some(b)) => b.start > a.end,
            _ => false,
        }
    }
}

/// Inspects the bare-context token stream of `lower`.
pub(crate) fn inspect(lower: &str, toks: &[Token], sink: &mut Sink<'_>) {
    if !sink.wants(&rules::SQLI_FUNCTION_FRAGMENT) {
        return;
    }
    let t = Tokens { text: lower, toks };
    if !may_report(&t) {
        return;
    }
    // Computed once, when a call is first judged.
    let mut is_prose = None;
    for (i, tok) in toks.iter().enumerate() {
        match tok.kind {
            Tk::Word(_) if tok.call && function_probe(&t, i, &mut is_prose) => {
                sink.report(&rules::SQLI_FUNCTION_FRAGMENT, lower, t.span(i, i + 1));
            }
            Tk::Logic if tok.call && integer_division(&t, i) => {
                sink.report(&rules::SQLI_FUNCTION_FRAGMENT, lower, t.span(i, i + 5));
            }
            Tk::Logic if condition_probe(&t, i) => {
                sink.report(&rules::SQLI_CONDITION_FRAGMENT, lower, t.span(i, i + 3));
            }
            Tk::Word(Kw::Is | Kw::Like | Kw::In | Kw::Not) if predicate_probe(&t, i) => {
                sink.report(&rules::SQLI_CONDITION_FRAGMENT, lower, t.span(i, i + 2));
            }
            Tk::Semi if statement_probe(&t, i + 1) => {
                sink.report(&rules::SQLI_CONDITION_FRAGMENT, lower, t.span(i, i + 2));
            }
            Tk::Word(Kw::As | Kw::Order | Kw::Group | Kw::Having | Kw::Select | Kw::From)
                if clause_probe(&t, i) =>
            {
                sink.report(&rules::SQLI_CONDITION_FRAGMENT, lower, t.span(i, i + 3));
            }
            _ if statement_fragment(&t, i) => {
                sink.report(&rules::SQLI_CONDITION_FRAGMENT, lower, t.span(i, i + 3));
            }
            Tk::Num | Tk::Str { .. } | Tk::Op if literal_comparison(&t, i) => {
                sink.report(&rules::SQLI_CONDITION_FRAGMENT, lower, t.span(i, i + 3));
            }
            _ => {}
        }
    }
}

/// Whether the stream has a token at which some probe of [`inspect`] could
/// report, or that such a probe needs. Without one, none can fire. Each
/// probe of [`inspect`] opens on one token kind, and is checked here on it
/// (the same predicate, or a cheaper one it implies):
///
/// - a function probe needs a call to one of [`is_sql_function`] (a call
///   to another name, `available (50% off?)`, is read by no probe but as
///   the operand of a shape opened on a token listed here);
/// - a logic operator reports only through [`condition_probe`] or
///   [`integer_division`] (both checked here); `tea or coffee` has neither;
/// - a `;` reports only through [`statement_probe`] (checked);
/// - `is`, `like`, `in`, `not` report through [`predicate_probe`] or
///   [`statement_fragment`] (checked), or are the comparator of a literal
///   comparison, which follows its literal (a number or a string);
/// - a literal comparison ([`literal_comparison`], opening on the literal)
///   needs a comparator right after the literal (or after `-` and a
///   number): a comparison operator after a number or a string, or `is`,
///   `not`, `like`, listed above;
/// - `as`, `having`, `from` report only through [`clause_probe`]
///   (checked); `order` / `group` only before `by` (the only shapes of
///   [`clause_probe`] that open on them);
/// - `select` reports through [`clause_probe`] or [`statement_fragment`]
///   (checked) and is read by the statement fragments opened on `(`
///   before it and on `except` / `intersect` before it (listed by the
///   token before `select`); `in (select` opens on `in`, `; select` on `;`;
/// - `values` is read after `except` / `intersect` (listed);
/// - `case`, `procedure`, `declare`, `exec`, `drop`, `truncate` and a
///   closed string (a provider name) report only through
///   [`statement_fragment`] (checked); `when` is read only by the
///   statement fragment opened on the token before it (`case` or `)`),
///   checked on that token;
/// - the other statement fragments need a `::` pair (a cast) or a dot
///   before `e` (`1.e(`).
///
/// A comparison between words (`q=0.9`, `utm_source=newsletter`) and most
/// free text (`+1 (555) 010-4477`, `O'Reilly & Sons, Ltd.`) have none.
fn may_report(t: &Tokens<'_>) -> bool {
    let after_literal = |i: usize| i > 0 && matches!(t.kind(i - 1), Some(Tk::Num | Tk::Str { .. }));
    t.toks.iter().enumerate().any(|(i, tok)| match tok.kind {
        Tk::Word(_) if tok.call && is_sql_function(t.word(i)) => true,
        Tk::Logic => (tok.call && integer_division(t, i)) || condition_probe(t, i),
        Tk::Semi => statement_probe(t, i + 1),
        Tk::Cmp => after_literal(i),
        Tk::Word(Kw::Is | Kw::Like | Kw::In | Kw::Not) => {
            after_literal(i) || predicate_probe(t, i) || statement_fragment(t, i)
        }
        Tk::Word(Kw::As | Kw::Having | Kw::From) => clause_probe(t, i),
        Tk::Word(Kw::Select) => {
            clause_probe(t, i)
                || statement_fragment(t, i)
                || (i > 0
                    && (t.kind(i - 1) == Some(Tk::LParen)
                        || matches!(t.word(i - 1), "except" | "intersect")))
        }
        Tk::Word(Kw::Values) => i > 0 && matches!(t.word(i - 1), "except" | "intersect"),
        Tk::Word(Kw::Case | Kw::Procedure | Kw::Declare | Kw::Exec | Kw::Drop | Kw::Truncate)
        | Tk::Str { closed: true } => statement_fragment(t, i),
        Tk::Word(Kw::When) => i > 0 && statement_fragment(t, i - 1),
        Tk::Op => t.word(i) == ":" && t.kind(i + 1) == Some(Tk::Op) && t.word(i + 1) == ":",
        Tk::Word(Kw::Order | Kw::Group) => t.kind(i + 1) == Some(Tk::Word(Kw::By)),
        Tk::Dot => t.word(i + 1) == "e",
        _ => false,
    })
}

/// `SUBSTR(`, `'||version(`, `=round (`: a function call where SQL puts one.
fn function_probe(t: &Tokens<'_>, i: usize, is_prose: &mut Option<bool>) -> bool {
    if !is_sql_function(t.word(i)) {
        return false;
    }
    let after_sql = match i.checked_sub(1).and_then(|p| t.kind(p)) {
        None => true,
        Some(Tk::Str { .. } | Tk::Op | Tk::Cmp | Tk::Logic | Tk::Semi | Tk::LParen) => true,
        Some(Tk::Comma | Tk::RParen) => !t.spaced_after(i),
        _ => false,
    };
    if !after_sql {
        return false;
    }
    if !t.spaced_after(i) {
        return true;
    }
    // `round (2, 1)`, `user (`: with a blank before the parenthesis, what
    // it holds must read as arguments, not as an aside in prose
    // (`Left (near the door)`, `Left (WA, RR), following wood edge`).
    if *is_prose.get_or_insert_with(|| prose(t)) {
        return false;
    }
    match t.kind(i + 2) {
        None => true,
        Some(Tk::Num | Tk::Str { .. } | Tk::Var | Tk::Op | Tk::LParen | Tk::RParen) => true,
        Some(Tk::Word(_)) => matches!(
            t.kind(i + 3),
            Some(Tk::Comma | Tk::Op | Tk::Cmp | Tk::LParen | Tk::Dot)
        ),
        _ => false,
    }
}

/// `div(23,-2)`, `div (23.23 , 2)`: PostgreSQL's integer division called on
/// two numbers where an expression starts, closing the value (MySQL's `DIV`
/// operator spelled as a function, a way round filters of `/`).
fn integer_division(t: &Tokens<'_>, i: usize) -> bool {
    if t.word(i) != "div" || !expression_start(t, i) || t.kind(i + 1) != Some(Tk::LParen) {
        return false;
    }
    let number = |j: usize| match t.kind(j) {
        Some(Tk::Num) => Some(j + 1),
        Some(Tk::Op) if t.word(j) == "-" && t.kind(j + 1) == Some(Tk::Num) => Some(j + 2),
        _ => None,
    };
    let Some(comma) = number(i + 2) else {
        return false;
    };
    if t.kind(comma) != Some(Tk::Comma) {
        return false;
    }
    let Some(close) = number(comma + 1) else {
        return false;
    };
    t.kind(close) == Some(Tk::RParen) && t.is_end(close + 1)
}

/// Three plain words in a row somewhere in the value: it is prose.
fn prose(t: &Tokens<'_>) -> bool {
    let mut run = 0;
    for tok in t.toks {
        if tok.kind == Tk::Word(Kw::Bare) && !tok.call {
            run += 1;
            if run == 3 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// `AND 7639=(`, `or 1='`, `|| c == '`, `&&(e===`, `AND deleted = 0)`.
fn condition_probe(t: &Tokens<'_>, i: usize) -> bool {
    if t.word(i) == "div" {
        return false;
    }
    if i == 0 && leading_condition(t) {
        return true;
    }
    let mut j = i + 1;
    if t.kind(j) == Some(Tk::LParen) {
        j += 1;
    }
    if !matches!(
        t.kind(j),
        Some(Tk::Word(_) | Tk::Num | Tk::Var | Tk::Str { closed: true })
    ) || t.toks[j].call
    {
        return false;
    }
    if t.kind(j + 1) != Some(Tk::Cmp) {
        return false;
    }
    let mut r = j + 2;
    if t.kind(r) == Some(Tk::Op) && matches!(t.word(r), "!" | "-" | "~") {
        r += 1;
    }
    match t.kind(r) {
        None | Some(Tk::Str { .. } | Tk::LParen) => true,
        Some(Tk::Num) => {
            t.is_end(r + 1) || matches!(t.kind(r + 1), Some(Tk::RParen | Tk::Cmp | Tk::Str { .. }))
        }
        Some(Tk::Word(Kw::Null | Kw::True | Kw::False)) => {
            t.is_end(r + 1) || t.kind(r + 1) == Some(Tk::RParen)
        }
        _ => false,
    }
}

/// Whether a value opens with `or` / `xor` and a blank: what a value without
/// SQL punctuation (`or 88`, `xor 5-`) needs for [`leading_condition`] to
/// report, which the dispatcher otherwise sends to no SQL reading.
pub(crate) fn opens_with_logic_word(lower: &str) -> bool {
    let t = crate::text::trim_start(lower);
    let rest = t
        .strip_prefix("or")
        .or_else(|| t.strip_prefix("xor"))
        .unwrap_or("");
    rest.starts_with([' ', '\t'])
}

/// A whole value that is a condition appended to a query's own: `or 88`,
/// `xor 5-`, ` or true`, ` OR x=y#` — an `or` / `xor` / `||` opening the
/// value, then one literal (a number, `true`, `false`) or one comparison,
/// then the end (a comment or a `;` included) or a dangling `-`. Prose
/// that starts with `or` goes on with words (`or more`, `or true love`).
fn leading_condition(t: &Tokens<'_>) -> bool {
    if !matches!(t.word(0), "or" | "xor" | "||") {
        return false;
    }
    let ends = |k: usize| {
        t.is_end(k) || (t.kind(k) == Some(Tk::Op) && t.word(k) == "-" && t.kind(k + 1).is_none())
    };
    match t.kind(1) {
        Some(Tk::Num | Tk::Word(Kw::True | Kw::False)) if ends(2) => true,
        Some(Tk::Word(Kw::Bare) | Tk::Num) if t.kind(2) == Some(Tk::Cmp) => {
            matches!(
                t.kind(3),
                Some(Tk::Word(Kw::Bare) | Tk::Num | Tk::Str { closed: true })
            ) && ends(4)
        }
        _ => false,
    }
}

/// `IS NULL`, `IS NOT NULL`, `LIKE NULL`, `in (0,1)`, `NOT IN (` at the
/// end of the value (`the deal is null and void` goes on).
fn predicate_probe(t: &Tokens<'_>, i: usize) -> bool {
    let w = |k: usize| t.kind(k);
    let end_after = |k: usize| t.is_end(k) || w(k) == Some(Tk::RParen);
    match w(i) {
        Some(Tk::Word(Kw::Is)) => {
            let k = i + 1 + usize::from(w(i + 1) == Some(Tk::Word(Kw::Not)));
            w(k) == Some(Tk::Word(Kw::Null)) && end_after(k + 1)
        }
        Some(Tk::Word(Kw::Like)) => {
            (w(i + 1) == Some(Tk::Word(Kw::Null)) && end_after(i + 2))
                // `LIKE '%'` ending the value: the pattern every string
                // matches, an always-true condition.
                || (w(i + 1) == Some(Tk::Str { closed: true })
                    && t.word(i + 1).len() >= 3
                    && t.word(i + 1)[1..t.word(i + 1).len() - 1]
                        .bytes()
                        .all(|b| b == b'%')
                    && end_after(i + 2))
                // `name LIKE '` ending the value: the pattern's quote opened
                // for the query's own closing quote (`I like 'em` has one).
                || (i > 0
                    && matches!(w(i - 1), Some(Tk::Word(Kw::Bare)))
                    && w(i + 1) == Some(Tk::Str { closed: false })
                    && t.word(i + 1).len() == 1
                    && w(i + 2).is_none())
                // `) like (`: a comparison between two parenthesised operands.
                || (i > 0
                    && w(i - 1) == Some(Tk::RParen)
                    && w(i + 1) == Some(Tk::LParen)
                    && t.is_end(i + 2))
        }
        Some(Tk::Word(Kw::Not)) => w(i + 1) == Some(Tk::Word(Kw::In)) && in_list(t, i + 1),
        Some(Tk::Word(Kw::In)) => in_list(t, i),
        _ => false,
    }
}

/// `in (` at the end, or `in (0,1)`: a list of literals only.
fn in_list(t: &Tokens<'_>, i: usize) -> bool {
    if t.kind(i + 1) != Some(Tk::LParen) {
        return false;
    }
    let mut k = i + 2;
    if t.is_end(k) {
        return true;
    }
    let mut items = 0;
    while k < t.toks.len() && k < i + 64 {
        match t.kind(k) {
            Some(Tk::Num | Tk::Str { closed: true } | Tk::Word(Kw::Null)) => items += 1,
            Some(Tk::Op) if t.word(k) == "-" => {}
            Some(Tk::Comma) => {}
            Some(Tk::RParen) => return items > 0 && (items > 1 || t.is_end(k + 1)),
            _ => return false,
        }
        k += 1;
    }
    false
}

/// Pieces of a query's clauses: `) AS t FROM`, `` `a` AS b FROM ``, `ORDER BY`
/// ending the value, `HAVING 1=`, `SELECT (CASE`, and `FROM t` followed by
/// `LIMIT`, `GROUP BY`, `ORDER BY` or `WHERE col =`.
fn clause_probe(t: &Tokens<'_>, i: usize) -> bool {
    let k = |j: usize| t.kind(j);
    match k(i) {
        Some(Tk::Word(Kw::As)) => {
            let after_sql = matches!(
                i.checked_sub(1).and_then(k),
                Some(Tk::RParen | Tk::Str { .. } | Tk::Num | Tk::Op | Tk::Semi | Tk::Other)
            ) || (i > 0 && t.word(i - 1).starts_with('`'));
            let from_at = if matches!(k(i + 1), Some(Tk::Word(Kw::Bare) | Tk::Str { .. })) {
                i + 2
            } else {
                i + 1
            };
            after_sql && from_clause(t, from_at)
        }
        // `GROUP BY x HAVING COUNT(id) >= 9`: a grouped filter on an aggregate.
        Some(Tk::Word(Kw::Group))
            if k(i + 1) == Some(Tk::Word(Kw::By))
                && k(i + 2) == Some(Tk::Word(Kw::Bare))
                && k(i + 3) == Some(Tk::Word(Kw::Having)) =>
        {
            t.toks.get(i + 4).is_some_and(|x| x.call)
                || (matches!(k(i + 4), Some(Tk::Word(_) | Tk::Num)) && k(i + 5) == Some(Tk::Cmp))
        }
        Some(Tk::Word(Kw::Order | Kw::Group)) => {
            k(i + 1) == Some(Tk::Word(Kw::By)) && t.is_end(i + 2) && k(i + 2).is_none()
        }
        Some(Tk::Word(Kw::Having)) => {
            matches!(k(i + 1), Some(Tk::Num | Tk::Str { .. })) && k(i + 2) == Some(Tk::Cmp)
        }

        Some(Tk::Word(Kw::Select)) => {
            k(i + 1) == Some(Tk::LParen) && k(i + 2) == Some(Tk::Word(Kw::Case))
        }
        Some(Tk::Word(Kw::From)) => {
            // A table name, possibly qualified (`db`.`t`, information_schema.tables).
            let mut j = i + 1;
            if k(j) != Some(Tk::Word(Kw::Bare)) {
                return false;
            }
            j += 1;
            while k(j) == Some(Tk::Dot) && k(j + 1) == Some(Tk::Word(Kw::Bare)) {
                j += 2;
            }
            match k(j) {
                Some(Tk::Word(Kw::Limit)) => t.is_end(j + 1) || k(j + 1) == Some(Tk::Num),
                Some(Tk::Word(Kw::Group | Kw::Order)) => k(j + 1) == Some(Tk::Word(Kw::By)),
                Some(Tk::Word(Kw::Where)) => {
                    // The column, possibly qualified (`t`.`id`).
                    let mut c = j + 2;
                    while k(c) == Some(Tk::Dot) && k(c + 1) == Some(Tk::Word(Kw::Bare)) {
                        c += 2;
                    }
                    matches!(k(j + 1), Some(Tk::Word(_))) && k(c) == Some(Tk::Cmp)
                        || (k(j + 1) == Some(Tk::Word(Kw::Bare)) && k(j + 2) == Some(Tk::LParen))
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether token `i` opens the value or follows SQL punctuation that can
/// precede an expression.
fn expression_start(t: &Tokens<'_>, i: usize) -> bool {
    matches!(
        i.checked_sub(1).and_then(|p| t.kind(p)),
        None | Some(Tk::LParen | Tk::Comma | Tk::Cmp | Tk::Op | Tk::Logic | Tk::Semi)
    )
}

/// The end of the value, or a comment, `;` or logic operator after which an
/// injected comparison may stop.
fn comparison_end(t: &Tokens<'_>, i: usize) -> bool {
    t.is_end(i) || matches!(t.kind(i), Some(Tk::Logic | Tk::RParen | Tk::Comma))
}

/// A literal (`1`, `'a'`, `-1`) at `i`: the token after it.
fn literal_at(t: &Tokens<'_>, i: usize) -> Option<usize> {
    match t.kind(i)? {
        Tk::Num | Tk::Str { .. } => Some(i + 1),
        Tk::Op if t.word(i) == "-" && t.kind(i + 1) == Some(Tk::Num) => Some(i + 2),
        _ => None,
    }
}

fn literal_text<'t>(t: &'t Tokens<'_>, from: usize, to: usize) -> &'t str {
    let r = t.span(from, to - 1);
    t.text[r].trim_matches(|c| c == '\'' || c == '"').trim()
}

/// `1=1`, `42 like 42`, `11!=1`, `1 is not 2`, `'1' not regexp '2'`,
/// `'{"a":2}' < '$.a' = 7`: two literals compared where a value or a list
/// item starts, ending the value (or cut off), and holding — or a chain of
/// comparisons, which only SQL writes. `1 = 2`, `5 > 3 stars` and `2+2=4`
/// are not such comparisons.
fn literal_comparison(t: &Tokens<'_>, i: usize) -> bool {
    if !expression_start(t, i) || matches!(i.checked_sub(1).and_then(|p| t.kind(p)), Some(Tk::Op)) {
        return false;
    }
    let Some(op) = literal_at(t, i) else {
        return false;
    };
    // The comparator: `=`, `!=`, `<=>`, ..., or `[not] like|regexp`, `is [not]`.
    let (negated, ordering, right) = match t.kind(op) {
        Some(Tk::Cmp) => {
            let w = t.word(op);
            (
                matches!(w, "!=" | "<>"),
                matches!(w, "<" | ">" | "<=" | ">="),
                op + 1,
            )
        }
        Some(Tk::Word(Kw::Is)) => {
            let not = t.kind(op + 1) == Some(Tk::Word(Kw::Not));
            (not, false, op + 1 + usize::from(not))
        }
        Some(Tk::Word(Kw::Not)) if t.kind(op + 1) == Some(Tk::Word(Kw::Like)) => {
            (true, false, op + 2)
        }
        Some(Tk::Word(Kw::Like)) if t.word(op) != "sounds" => (false, false, op + 1),
        _ => return false,
    };
    let Some(after) = literal_at(t, right) else {
        return false;
    };
    if t.kind(after) == Some(Tk::Cmp) && literal_at(t, after + 1).is_some() {
        return true;
    }
    if ordering || !comparison_end(t, after) {
        return false;
    }
    let same = literal_text(t, i, op) == literal_text(t, right, after);
    same != negated
}

/// Statement pieces only SQL writes: `EXCEPT SELECT 1`, `in (select *`,
/// `=(select` ending the value, `CASE WHEN x THEN`, `) when 234 then`,
/// `procedure analyse(`, `declare @b`, `EXECUTE IMMEDIATE '`, `drop t;--`,
/// `select pg_sleep`, `password::int`, the OLE DB provider of `OPENROWSET`
/// (`'msdasql'`).
fn statement_fragment(t: &Tokens<'_>, i: usize) -> bool {
    let k = |j: usize| t.kind(j);
    let select_item = |j: usize| {
        matches!(k(j), Some(Tk::Num | Tk::Str { .. } | Tk::Var))
            || (k(j) == Some(Tk::Op) && t.word(j) == "*")
            || t.toks.get(j).is_some_and(|tok| tok.call)
    };
    match k(i) {
        Some(Tk::Word(Kw::Bare)) => match t.word(i) {
            "except" | "intersect" => {
                (k(i + 1) == Some(Tk::Word(Kw::Select)) && select_item(i + 2))
                    || (k(i + 1) == Some(Tk::Word(Kw::Values)) && t.toks[i + 1].call)
            }
            "then" => false,
            w => {
                // `password::int`, `current_user::int`: a PostgreSQL cast of a column.
                k(i + 1) == Some(Tk::Op)
                    && t.word(i + 1) == ":"
                    && k(i + 2) == Some(Tk::Op)
                    && t.word(i + 2) == ":"
                    && t.toks[i + 1].start == t.toks[i].end
                    && matches!(
                        t.word(i + 3),
                        "int"
                            | "integer"
                            | "bigint"
                            | "smallint"
                            | "numeric"
                            | "varchar"
                            | "bytea"
                            | "regclass"
                            | "oid"
                            | "boolean"
                            | "int4"
                            | "int8"
                            | "float8"
                    )
                    && t.is_end(i + 4)
                    && !w.is_empty()
            }
        },
        Some(Tk::Word(Kw::In)) => {
            k(i + 1) == Some(Tk::LParen)
                && k(i + 2) == Some(Tk::Word(Kw::Select))
                && select_item(i + 3)
        }
        Some(Tk::LParen) => {
            k(i + 1) == Some(Tk::Word(Kw::Select))
                && k(i + 2).is_none()
                && matches!(
                    i.checked_sub(1).and_then(k),
                    None | Some(Tk::Cmp | Tk::Logic | Tk::Comma | Tk::LParen)
                )
        }
        Some(Tk::Word(Kw::Case)) => {
            expression_start(t, i) && k(i + 1) == Some(Tk::Word(Kw::When)) && when_then(t, i + 1)
        }
        Some(Tk::RParen) => k(i + 1) == Some(Tk::Word(Kw::When)) && when_then(t, i + 1),
        Some(Tk::Word(Kw::Procedure)) => {
            matches!(t.word(i + 1), "analyse" | "analyze")
                && t.toks.get(i + 1).is_some_and(|x| x.call)
        }
        Some(Tk::Word(Kw::Declare)) => {
            i == 0
                && k(i + 1) == Some(Tk::Var)
                && t.word(i + 1).len() > 1
                && (t.is_end(i + 2) || matches!(k(i + 2), Some(Tk::Comma | Tk::Word(_))))
                && (t.is_end(i + 2) || t.is_end(i + 3) || k(i + 3) == Some(Tk::LParen))
        }
        Some(Tk::Word(Kw::Exec)) => {
            t.word(i + 1) == "immediate" && matches!(k(i + 2), Some(Tk::Str { .. } | Tk::Var))
        }
        Some(Tk::Word(Kw::Drop | Kw::Truncate)) => {
            i == 0
                && k(i + 1) == Some(Tk::Word(Kw::Bare))
                && k(i + 2) == Some(Tk::Semi)
                && k(i + 3) == Some(Tk::LineComment)
        }
        Some(Tk::Word(Kw::Select)) => {
            let w = t.word(i + 1);
            ((k(i + 1) == Some(Tk::Word(Kw::Bare)) && super::sqli::is_time_function(w))
                || (k(i + 1) == Some(Tk::Num) && w.starts_with("0x")))
                && t.is_end(i + 2)
        }
        // `1.e(ascii ...`, `1.e.tables`: MySQL reads `1.e` as a number
        // glued to what follows, a known way to split keywords from a WAF.
        Some(Tk::Dot)
            if i > 0
                && matches!(k(i - 1), Some(Tk::Num | Tk::Word(Kw::Bare)))
                && t.word(i - 1).bytes().all(|b| b.is_ascii_digit())
                && t.word(i + 1) == "e"
                && !t.spaced_after(i - 1)
                && !t.spaced_after(i) =>
        {
            // (`see 1.e.g. below`, `clause 1.e.iv of the deed` are outlines.)
            !t.spaced_after(i + 1)
                && (t.toks.get(i + 1).is_some_and(|x| x.call)
                    || (k(i + 2) == Some(Tk::Dot)
                        && !t.spaced_after(i + 2)
                        && k(i + 3) == Some(Tk::Word(Kw::Bare))
                        && t.word(i + 3).len() > 1))
                && !prose(t)
        }
        Some(Tk::Str { closed: true }) => matches!(
            literal_text(t, i, i + 1),
            "msdasql"
                | "sqloledb"
                | "sqlncli"
                | "microsoft.jet.oledb.4.0"
                | "microsoft.ace.oledb.12.0"
        ),
        _ => false,
    }
}

/// `when <operand> [<cmp> <operand>] then`: a CASE branch (prose puts more
/// than one word between them: "case when the lid is open then ...").
fn when_then(t: &Tokens<'_>, when: usize) -> bool {
    let operand = |j: usize| {
        matches!(
            t.kind(j),
            Some(Tk::Num | Tk::Str { .. } | Tk::Var | Tk::Word(Kw::Bare | Kw::Null))
        )
    };
    let mut j = when + 1;
    if !operand(j) {
        return false;
    }
    j += 1;
    if t.kind(j) == Some(Tk::Cmp) && operand(j + 1) {
        j += 2;
    }
    t.word(j) == "then"
}

/// `FROM` at `i` ending the value, or naming a table that the value ends
/// on or follows with a clause (`from now on` is prose).
pub(crate) fn from_clause(t: &Tokens<'_>, i: usize) -> bool {
    if t.kind(i) != Some(Tk::Word(Kw::From)) {
        return false;
    }
    if t.kind(i + 1).is_none() {
        return true;
    }
    let mut j = i + 2;
    while t.kind(j) == Some(Tk::Dot) && t.kind(j + 1) == Some(Tk::Word(Kw::Bare)) {
        j += 2;
    }
    matches!(t.kind(i + 1), Some(Tk::Word(Kw::Bare)))
        && !matches!(
            t.kind(j),
            Some(Tk::Word(Kw::Bare) | Tk::Num | Tk::Str { .. })
        )
}

/// `;drop`, `;update users`: a statement keyword alone after `;`, or glued
/// to it with one table name after it.
fn statement_probe(t: &Tokens<'_>, i: usize) -> bool {
    let keyword = matches!(
        t.kind(i),
        Some(Tk::Word(
            Kw::Drop
                | Kw::Truncate
                | Kw::Delete
                | Kw::Update
                | Kw::Insert
                | Kw::Shutdown
                | Kw::Exec
                | Kw::Declare
                | Kw::Alter
                | Kw::Select
        ))
    );
    // `; update me` in prose has a blank after the `;`; a probe glues them.
    let glued = i > 0 && !t.spaced_after(i - 1);
    // `;truncate[xx`: an MSSQL bracketed identifier glued to the keyword.
    let bracketed = t.word(i + 1) == "[" && !t.spaced_after(i);
    keyword
        && (t.is_end(i + 1)
            || (glued && bracketed)
            || (glued
                && matches!(t.kind(i + 1), Some(Tk::Word(Kw::Bare | Kw::Table)))
                && t.is_end(i + 2)))
}

#[cfg(test)]
mod tests {
    use crate::tests::{assert_clean, assert_detects};

    /// `may_report` counts `order` / `group` only before `by`: the clause
    /// probes that open on them are still found.
    #[test]
    fn order_and_group_by_still_probed() {
        assert_detects("ORDER BY", "sqli.condition_fragment");
        assert_detects("group by", "sqli.condition_fragment");
        assert_detects(
            "x GROUP BY tag HAVING COUNT(id) >= 9",
            "sqli.condition_fragment",
        );
        assert_clean("Would order again - 5/5");
    }

    #[test]
    fn glued_sql_without_punctuation() {
        // A cast or a `1.e` number alone in a value, no quote or parenthesis
        // to send it to the SQL engine.
        assert_detects("password::int", "sqli.condition_fragment");
        assert_detects("1.e.tables", "sqli.condition_fragment");
        for v in [
            "fe80::1",
            "std::vector::iter",
            "Foo::Bar",
            "see 1.e.g. below",
            "clause 1.e.iv of the deed",
            "v1.e.2",
            "file.e.txt",
            "ratio 3::4 in the plan",
            "https://example.com/a::b",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn bracketed_identifier_after_stacked_keyword() {
        for v in [";truncate[xx", "1;drop[users]"] {
            assert_detects(v, "sqli.condition_fragment");
        }
        for v in [
            "see notes; drop [optional] items",
            "a;b[1]",
            "x; update [draft]",
            "foo;select [x",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn a_condition_opening_the_value() {
        for v in [
            "or 88",
            "xor 5",
            "or 5-",
            "xor 5-",
            " or true",
            " OR x=y",
            " OR x=y#",
            " OR x=y-- ",
            "|| 1=1",
        ] {
            assert_detects(v, "sqli.condition_fragment");
        }
        for v in ["or more", "or true love", "Or 2 others", "or x", "and 5"] {
            assert_clean(v);
        }
    }

    #[test]
    fn integer_division_call() {
        for v in ["div(23,-2)", "div (23.23 , 2)", "1=div(7,2)"] {
            assert_detects(v, "sqli.function_fragment");
        }
        for v in [
            "div(23,-2) is the answer",
            "<div (class, id)>",
            "a div(2, 3, 4)",
            "use div(a, b) here",
            "the div (2 columns)",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn function_fragments() {
        for v in [
            "SUBSTR(",
            "substring(",
            "uNhEx(",
            "LENGTH(",
            "SLEEP   (",
            "round (",
            "user (",
            "round (2, 1)",
            "1||version(",
            "a=now()",
        ] {
            assert_detects(v, "sqli.function_fragment");
        }
    }

    #[test]
    fn condition_fragments() {
        for v in [
            "AND 7639=(",
            "or 1='",
            "|| c == '",
            "|| langCode ==",
            "&&(e===",
            "&&(b=0)",
            "||(c=!1)",
            "AND deleted = 0)",
            "oR pmw==",
            "IS NULL",
            "x IS NOT NULL",
            "LIKE NULL",
            " like '%'",
            "name LIKE '%%')",
            "in (0,1)",
            "NOT IN (",
            ";drop",
            ";update users",
            ") AS t FROM",
            "ORder by",
            "HAVING 1=",
            "SELECT (CASE",
            "from `db_miwf`.`sys_refindex` limit",
            "FROM termine GROUP BY tag1",
            "FROM ack_variable WHERE name=\"cron_last\";",
            "xor 2 <",
        ] {
            assert_detects(v, "sqli.condition_fragment");
        }
    }

    #[test]
    fn prose_and_code_pass() {
        for v in [
            "I like '%' more than 'x'",
            "like '%s'",
            "3rd floor, left (ask for Thandiwe)",
            "Left (near the door)",
            "Run `len(items)` before pushing",
            "See the field `len(items)`; it is optional",
            "Table for 4 or 5 = fine",
            "It's 5 or 6 = about right",
            "the deal is null and void",
            "Order #42 (gift); select delivery options",
            "I'd like coffee or tea; please update my order",
            "Luka Smith (née Kowalski)",
            "Attn: Accounts Payable (fragile)",
            "in (the) list",
            "Please drop off at 5; update me",
            "Left (fragile)",
            "time (approx)",
            "Left (WA, RR), following wood edge south",
            "such as Tom from accounting",
            "I work from home where it is quiet",
            "sort order by date",
            "from home limit 2 visits",
            "Fine as is, from me",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn literal_comparisons() {
        for v in [
            "1=1",
            "b,1=1",
            "42 like 42",
            "42<=>42",
            "11!=1",
            "1 is not 2",
            "'1' not regexp '2'",
            "'admin', '1'='1'",
            "1='1' or-- -",
            "'x'!='y",
            "'{\"a\":2,\"c\":[4,5,{\"f\":7}]}' < '$.c[2].f' = 7",
        ] {
            assert_detects(v, "sqli.condition_fragment");
        }
        for v in [
            "1 = 2",
            "5 > 3 stars",
            "2+2=4",
            "x=1",
            "5=5 stars",
            "10 is the answer",
            "3 like this one",
            "page 2 of 10",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn statement_fragments() {
        for v in [
            "in ( select * from",
            "except \tselect.1,2",
            "except values(1,2)",
            "@example.com&name=(select",
            ") when 234 then",
            "procedure analyse (",
            "declare @b",
            "DECLARE/**/@x",
            "EXECUTE IMMEDIATE \"",
            "DROP sampletable;--",
            "select pg_sleep",
            "select 0x616263",
            "1+current_user::int",
            "'msdasql'",
            "; select",
            "FROM `we_tblErrorLog` WHERE `we_tblErrorLog`.`ID` = 25251 LIMIT",
        ] {
            assert_detects(v, "sqli.condition_fragment");
        }
        for v in [
            "everything except select few",
            "(select one)",
            "in case when the lid is open then close it",
            "declare @john the winner",
            "drop off at 5",
            "Execute immediately, please",
            "select 2 plans",
            "std::string",
            "'ms access'",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn grouped_filters_number_tricks_and_more_functions() {
        for (v, rule) in [
            (
                "SELECT x GROUP BY SOMETHING HAVING COUNT(Id) >= 9",
                "sqli.condition_fragment",
            ),
            ("1.e(ascii)", "sqli.condition_fragment"),
            ("decode(", "sqli.function_fragment"),
            ("Uncompress (", "sqli.function_fragment"),
        ] {
            assert_detects(v, rule);
        }
        for v in [
            "group by age having fun",
            "see 1.e (below)",
            "Section 1.e. Tables",
            "please decode (the message) later",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn like_with_an_open_pattern() {
        for v in ["something LIKE '", ") like (", ")like("] {
            assert_detects(v, "sqli.condition_fragment");
        }
        for v in [
            "I like 'em",
            "I like (most of) it",
            "looks like (see below) fine",
            "like '",
        ] {
            assert_clean(v);
        }
    }
}
