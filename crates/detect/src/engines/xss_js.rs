//! Script that needs no markup: the JavaScript a value carries into a page
//! through a script context, an `eval` or a template. Read with
//! JavaScript's own lexical rules, so blanks and `/* */` comments between
//! the parts of a member access change nothing (`document /*x*/ . cookie`,
//! `(document)["cookie"]`):
//!
//! - a browser global's dangerous member (`document.cookie`,
//!   `window.location`, `document.createElement`, `self["alert"]`);
//! - a call of a string-evaluating or encoding sink (`setInterval(`,
//!   `setTimeout(`, `atob(`, `btoa(`, `eval(`, `String.fromCharCode(`);
//! - a tagged template call (`` [].sort.call`${alert}1337` ``,
//!   `` Reflect.apply.call`` ``): a call without parentheses;
//! - JSFuck type juggling (`![]`, `!![]`);
//! - UTF-7 markup (`+ADw-script+AD4-`);
//! - a script URL whose scheme is split by tabs or line breaks outside
//!   markup (`ja&Tab;vascript:`), as browsers ignore them.
//!
//! Linear: one pass over the bytes, bounded look-ahead per identifier.

use crate::Sink;
use crate::rules;

/// Browser globals whose members [`inspect`] reads.
const GLOBALS: &[&str] = &[
    "document",
    "window",
    "self",
    "top",
    "parent",
    "frames",
    "globalthis",
    "opener",
];

/// Sinks reported when called (`setTimeout(`, `atob(`).
const SINK_CALLS: &[&str] = &[
    "setinterval",
    "settimeout",
    "atob",
    "btoa",
    "eval",
    "execscript",
    "fromcharcode",
];

/// Literals of which every report of [`inspect`] but the tagged template
/// (which needs a backtick) holds one: the dispatcher skips a value with
/// neither one of them nor a backtick. Why each report needs one:
///
/// - JSFuck's `![]` holds `![`;
/// - a global's member is read after a whole word of [`GLOBALS`];
/// - a sink call is a whole word of [`SINK_CALLS`];
/// - UTF-7 markup is found at `+adw-`;
/// - a split script scheme is looked for only when a tab or a line break
///   was stepped on (`seen & LINE_BREAK`).
pub(crate) const GATE_LITERALS: &[&[&str]] =
    &[GLOBALS, SINK_CALLS, &["![", "+adw-", "\t", "\n", "\r"]];

fn dangerous_member(global: &str, member: &str) -> bool {
    matches!(
        member,
        "cookie"
            | "location"
            | "domain"
            | "write"
            | "writeln"
            | "body"
            | "createelement"
            | "queryselector"
            | "queryselectorall"
            | "getelementbyid"
            | "getelementsbytagname"
            | "documentelement"
            | "innerhtml"
            | "outerhtml"
            | "localstorage"
            | "sessionstorage"
            | "alert"
            | "prompt"
            | "confirm"
            | "eval"
            | "open"
            | "execscript"
            | "navigate"
            | "origin"
            | "referrer"
            | "url"
            | "href"
    ) && !(global == "top" && member == "url")
}

/// Byte classes of the scan in [`inspect`], one table lookup per byte.
const IDENT: u8 = 1;
const PLUS: u8 = 2;
const LINE_BREAK: u8 = 4;
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' {
            t[b] = IDENT;
        }
        b += 1;
    }
    t[b'+' as usize] = PLUS;
    t[b'\t' as usize] = LINE_BREAK;
    t[b'\n' as usize] = LINE_BREAK;
    t[b'\r' as usize] = LINE_BREAK;
    t
};

fn is_ident(b: u8) -> bool {
    CLASS[usize::from(b)] & IDENT != 0
}

/// Skips blanks and closed `/* */` comments from `i`.
fn skip_blank(s: &[u8], mut i: usize) -> usize {
    loop {
        while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        if s[i..].starts_with(b"/*")
            && let Some(p) = memchr::memmem::find(&s[i + 2..], b"*/")
            && p < 256
        {
            i += p + 4;
            continue;
        }
        return i;
    }
}

/// The member named after a global at `i` (past blanks, comments and a
/// closing parenthesis): `.name` or `["name"]`.
fn member_after(lower: &str, mut i: usize) -> Option<&str> {
    let s = lower.as_bytes();
    i = skip_blank(s, i);
    if s.get(i) == Some(&b')') {
        i = skip_blank(s, i + 1);
    }
    let blank_before = i > 0 && !is_ident(s[i - 1]);
    match s.get(i)? {
        b'.' => {
            let start = skip_blank(s, i + 1);
            // `the window. Location`: a sentence ends there.
            if start > i + 1 && !blank_before {
                return None;
            }
            let mut end = start;
            while end < s.len() && is_ident(s[end]) {
                end += 1;
            }
            (end > start).then(|| &lower[start..end])
        }
        b'[' => {
            let q = skip_blank(s, i + 1);
            let quote = *s.get(q)?;
            if !matches!(quote, b'"' | b'\'' | b'`') {
                return None;
            }
            let end = memchr::memchr(quote, &s[q + 1..]).map(|p| q + 1 + p)?;
            Some(&lower[q + 1..end])
        }
        _ => None,
    }
}

/// Reports only on a value holding one of [`GATE_LITERALS`] or a backtick
/// (the dispatcher calls it for no other).
pub(crate) fn inspect(lower: &str, sink: &mut Sink<'_>) {
    let s = lower.as_bytes();
    // The classes of the bytes the loop steps on: every byte but those of
    // identifiers, so every `+` and line break (what the UTF-7 and
    // split-scheme checks at the end need).
    let mut seen = 0u8;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if !is_ident(b) || (i > 0 && is_ident(s[i - 1])) {
            // `![]` / `!![]`: JSFuck's building block.
            if b == b'!' && s[i + 1..].starts_with(b"[]") {
                sink.report(&rules::XSS_JS_INJECTION, lower, i..(i + 24).min(s.len()));
                return;
            }
            seen |= CLASS[usize::from(b)];
            i += 1;
            continue;
        }
        let start = i;
        while i < s.len() && is_ident(s[i]) {
            i += 1;
        }
        // Every report below needs, past blanks and comments after the
        // word, a `.` or `[` (a global's member, possibly after a closing
        // parenthesis: see `member_after`), a `(` (a sink call) or a
        // backtick (a tagged template): a word of prose is followed by a
        // blank and another word.
        // (Blanks skipped here first: `skip_blank` is only needed when a
        // comment may follow.)
        let mut next = i;
        while next < s.len() && matches!(s[next], b' ' | b'\t' | b'\n' | b'\r') {
            next += 1;
        }
        if s.get(next) == Some(&b'/') {
            next = skip_blank(s, i);
        }
        if !matches!(s.get(next), Some(b'.' | b'[' | b')' | b'(' | b'`')) {
            continue;
        }
        let word = &lower[start..i];
        if GLOBALS.contains(&word)
            && (start == 0 || s[start - 1] != b'.')
            && let Some(member) = member_after(lower, i)
            && dangerous_member(word, member)
        {
            sink.report(
                &rules::XSS_JS_INJECTION,
                lower,
                start..(i + 24).min(s.len()),
            );
            return;
        }
        let sink_name = SINK_CALLS.contains(&word);
        // `call`, `apply`, `bind`, `sort`, `map`... directly followed by a
        // template: a function called with a template as its arguments.
        let tag_name = matches!(word, "call" | "apply" | "bind" | "alert" | "eval");
        if !sink_name && !tag_name {
            // Most words are neither: no look-ahead past them.
            continue;
        }
        let after = skip_blank(s, i);
        let sink_call = sink_name && s.get(after) == Some(&b'(');
        let tagged = tag_name
            && s.get(after) == Some(&b'`')
            && start > 0
            && (s[start - 1] == b'.' || skip_back_dot(s, start));
        if sink_call || tagged {
            sink.report(
                &rules::XSS_JS_INJECTION,
                lower,
                start..(after + 24).min(s.len()),
            );
            return;
        }
    }
    if seen & PLUS != 0
        && let Some(p) = crate::text::find(lower, "+adw-")
        && crate::text::contains(&lower[p..], "+ad4-")
    {
        sink.report(&rules::XSS_DANGEROUS_TAG, lower, p..(p + 24).min(s.len()));
    }
    if seen & LINE_BREAK != 0 && split_script_scheme(s) {
        sink.report(&rules::XSS_JS_URL, lower, 0..s.len().min(32));
    }
}

/// `x . call`: a dot before `start`, past blanks and comments.
fn skip_back_dot(s: &[u8], start: usize) -> bool {
    let mut j = start;
    while j > 0 && j + 64 > start && matches!(s[j - 1], b' ' | b'\t' | b'/' | b'*') {
        j -= 1;
    }
    j > 0 && s[j - 1] == b'.'
}

/// `javascript:` / `vbscript:` with tabs or line breaks inside the scheme.
fn split_script_scheme(s: &[u8]) -> bool {
    for scheme in [&b"javascript:"[..], &b"vbscript:"[..]] {
        let mut k = 0;
        for &b in s {
            if matches!(b, b'\t' | b'\n' | b'\r') {
                continue;
            }
            if b == scheme[k] {
                k += 1;
                if k == scheme.len() {
                    return true;
                }
            } else {
                k = usize::from(b == scheme[0]);
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use crate::tests::{assert_clean, detect_with, ids};

    #[test]
    fn script_without_markup() {
        for v in [
            "document.cookie=1",
            "window.location",
            "document /*foo*/ .     cookie",
            "document/*foo*/./*bar*/cookie",
            "(document)[\"cookie\"]",
            "self  /*jhb*/  [  /*bar*/  \"alert\"](\"xss\")",
            "document.body.appendChild(document.createElement(\"h1\"))",
            "setInterval(code, 1)",
            "atob()",
            "[].sort.call`${alert}1337`",
            "[  ] . sort . call ` ${ alert } 1337 `",
            "Reflect.apply.call``",
            "a= !![]",
            "(![] [])[ ! []]",
            "+ADw-script+AD4-",
            "ja\tvascript: ",
        ] {
            let found = detect_with(v, 2);
            assert!(
                ids(&found).iter().any(|id| id.starts_with("xss.")),
                "{v}: {:?}",
                ids(&found)
            );
        }
    }

    #[test]
    fn look_alikes_pass() {
        for v in [
            "Please update the document, cookie jar included",
            "the window. Location: 5th floor",
            "top.url",
            "I set a timeout (5 min)",
            "a call `npm test` later",
            "wow!! [sic]",
            "java\tscript is fun",
        ] {
            assert_clean(v);
        }
    }
}
