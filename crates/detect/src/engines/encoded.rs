//! Java serialization and gadget names hidden in base64 at any alignment.
//!
//! A serialized Java object (`AC ED 00 05`) or a gadget class name embedded in
//! a larger byte string and base64-encoded does not start on a 3-byte
//! boundary, so its base64 form depends on where it sat: `rO0ABQ`, `KztAAU`
//! and `Cs7QAF` all carry the same magic. Exploit payloads are routinely cut
//! out of such streams, so the decoder here reads the value's sextets with
//! 0–3 leading zero sextets (every bit alignment of a byte boundary) and
//! searches each decoding for the magic and the gadget names. Linear: four
//! passes over the value, each decoding it and walking one Aho-Corasick DFA
//! over the decoded bytes as they come (nothing is allocated).

use aho_corasick::Anchored;
use aho_corasick::automaton::{Automaton as _, StateID};

use crate::{Sink, rules};

/// Shortest value searched (`rO0ABQ` spells the 4-byte magic).
const MIN_LEN: usize = 6;

/// Decoded needles: the serialization magic and gadget class names
/// (lower-cased; decoded letters are lower-cased before the search).
const NEEDLES: &[&[u8]] = &[
    b"\xac\xed\x00\x05",
    b"invokertransformer",
    b"chainedtransformer",
    b"constanttransformer",
    b"instantiatetransformer",
    b"instantiatefactory",
    b"clonetransformer",
    b"forclosure",
    b"whileclosure",
    b"prototypeclonefactory",
    b"prototypeserializationfactory",
    b"templatesimpl",
    b"annotationinvocationhandler",
    b"processbuilder",
    b"getruntime",
    b"java.lang.",
    b"runtime",
];

/// Index of `runtime` in [`NEEDLES`]: an ordinary word, so only paranoia 3.
const RUNTIME: usize = NEEDLES.len() - 1;

/// What the base64 text of the stream magic `AC ED 00 05` holds at each
/// byte alignment, whatever the bytes around it (`rO0AB...`, `?ztAA?`,
/// `?s7QAF`), lower-cased as the dispatcher's gate sees them.
pub(crate) const MAGIC_RUNS: &[&str] = &["ro0ab", "ztaa", "s7qa"];

/// Whether a base64 value of `len` characters can decode to a needle
/// other than the magic: the shortest gadget names are 10 bytes (80 bits,
/// 14 characters), `runtime` (paranoia 3 only) 7 bytes (10 characters).
/// A shorter value can only hold the magic, which takes a [`MAGIC_RUNS`]
/// run of characters.
pub(crate) fn long_enough_for_a_name(len: usize, paranoia: u8) -> bool {
    len >= if paranoia >= 3 { 10 } else { 14 }
}

/// The needles' automaton, walked byte by byte through its DFA's transition
/// table as the value is decoded (no decoded copy, no search set-up per
/// alignment: the values that reach it are short ids and words).
pub(crate) struct Base64Matcher {
    dfa: aho_corasick::dfa::DFA,
    start: StateID,
}

impl Base64Matcher {
    pub(crate) fn new() -> Self {
        let (dfa, start) = crate::text::walked_dfa(NEEDLES);
        Base64Matcher { dfa, start }
    }
}

/// The sextet of each base64 character (either alphabet), [`NOT_SEXTET`]
/// for every other byte: one lookup per character in the decoding loop.
static SEXTETS: [u8; 256] = {
    let mut t = [NOT_SEXTET; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => NOT_SEXTET,
        };
        i += 1;
    }
    t
};

const NOT_SEXTET: u8 = 0xFF;

fn sextet(b: u8) -> Option<u8> {
    let x = SEXTETS[usize::from(b)];
    (x != NOT_SEXTET).then_some(x)
}

/// Whether `v` can be (a slice of) base64 worth decoding: only base64
/// characters, and at least two of upper case, lower case and digits.
pub(crate) fn looks_like_base64(v: &[u8]) -> bool {
    if v.len() < MIN_LEN {
        return false;
    }
    let (mut upper, mut lower, mut digit) = (false, false, false);
    for &b in v {
        match b {
            b'A'..=b'Z' => upper = true,
            b'a'..=b'z' => lower = true,
            b'0'..=b'9' => digit = true,
            b'+' | b'/' | b'-' | b'_' => {}
            _ => return false,
        }
    }
    u8::from(upper) + u8::from(lower) + u8::from(digit) >= 2
}

/// Decodes `v` with `shift` zero sextets in front, letters lower-cased, and
/// reports every needle the decoding holds (in the order a left-to-right
/// overlapping search finds them: by end, then by needle).
fn search_shifted(v: &str, shift: usize, matcher: &Base64Matcher, sink: &mut Sink<'_>) {
    let dfa = &matcher.dfa;
    let mut sid = matcher.start;
    let mut acc: u32 = 0;
    let mut bits = 6 * shift as u32;
    // Bytes decoded so far.
    let mut at = 0;
    for &b in v.as_bytes() {
        let Some(x) = sextet(b) else { continue };
        acc = (acc << 6) | x as u32;
        bits += 6;
        if bits < 8 {
            continue;
        }
        bits -= 8;
        let byte = ((acc >> bits) as u8).to_ascii_lowercase();
        acc &= (1 << bits) - 1;
        at += 1;
        sid = dfa.next_state(Anchored::No, sid, byte);
        if !(dfa.is_special(sid) && dfa.is_match(sid)) {
            continue;
        }
        for i in 0..dfa.match_len(sid) {
            let pid = dfa.match_pattern(sid, i);
            let rule = match pid.as_usize() {
                0 => &rules::DESER_JAVA,
                RUNTIME => &rules::JAVA_BASE64_RUNTIME,
                _ => &rules::JAVA_GADGET,
            };
            if !sink.wants(rule) {
                continue;
            }
            let found_at = at - dfa.pattern_len(pid);
            // Where the match sits in the value: 4 characters per 3 bytes,
            // less the zero sextets put in front.
            let start = (found_at * 4 / 3).saturating_sub(shift).min(v.len());
            sink.report(rule, v, start..(start + 24).min(v.len()));
        }
    }
}

/// Whether any of the four decodings [`search_shifted`] reads reaches a
/// match state of the needles' DFA: the same four decoders (same sextets,
/// same bytes, same DFA steps), run side by side in one pass over `v`, so
/// a value that holds no needle (nearly every one) is read once, not four
/// times. `search_shifted` reports only at a match state, so when this is
/// false none of its passes can report.
fn any_shift_matches(v: &str, matcher: &Base64Matcher) -> bool {
    let dfa = &matcher.dfa;
    let mut sid = [matcher.start; 4];
    let mut acc = [0u32; 4];
    // `search_shifted`'s starting bit counts, `6 * shift`.
    let mut bits = [0u32, 6, 12, 18];
    for &b in v.as_bytes() {
        let Some(x) = sextet(b) else { continue };
        for shift in 0..4 {
            acc[shift] = (acc[shift] << 6) | x as u32;
            bits[shift] += 6;
            if bits[shift] < 8 {
                continue;
            }
            bits[shift] -= 8;
            let byte = ((acc[shift] >> bits[shift]) as u8).to_ascii_lowercase();
            acc[shift] &= (1 << bits[shift]) - 1;
            sid[shift] = dfa.next_state(Anchored::No, sid[shift], byte);
            if dfa.is_special(sid[shift]) && dfa.is_match(sid[shift]) {
                return true;
            }
        }
    }
    false
}

/// Searches `value` (raw, not normalized: base64 is case sensitive). The
/// dispatcher trims and tests the value itself and calls [`inspect_trimmed`].
#[cfg(test)]
pub(crate) fn inspect(value: &str, matcher: &Base64Matcher, sink: &mut Sink<'_>) {
    let v = crate::text::trim(value).trim_end_matches('=');
    if looks_like_base64(v.as_bytes()) {
        inspect_trimmed(v, matcher, sink);
    }
}

/// [`inspect`] of a value already trimmed of white space and `=` padding
/// that [`looks_like_base64`] (the dispatcher has tested both).
pub(crate) fn inspect_trimmed(v: &str, matcher: &Base64Matcher, sink: &mut Sink<'_>) {
    if !any_shift_matches(v, matcher) {
        return;
    }
    for shift in 0..4 {
        search_shifted(v, shift, matcher, sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Detection, DetectorSettings};

    fn ids(value: &str, paranoia: u8) -> Vec<&'static str> {
        let settings = DetectorSettings {
            paranoia_level: paranoia,
            ..DetectorSettings::default()
        };
        let mut out: Vec<Detection> = Vec::new();
        let mut sink = Sink::new(&settings, &mut out, crate::Decoding::Base64);
        inspect(value, &Base64Matcher::new(), &mut sink);
        out.iter().map(|d| d.rule.id).collect()
    }

    #[test]
    fn serialization_magic_at_every_alignment() {
        for v in ["rO0ABQ", "KztAAU", "Cs7QAF", "rO0ABXNyABdqYXZh"] {
            assert_eq!(ids(v, 1), ["deser.java"], "{v}");
        }
    }

    #[test]
    fn gadget_names_at_every_alignment() {
        for v in [
            "Y2xvbmV0cmFuc2Zvcm1lcg",
            "GNsb25ldHJhbnNmb3JtZXI",
            "BjbG9uZXRyYW5zZm9ybWVy",
            "aW52b2tlcnRyYW5zZm9ybWVy",
            "cHJvY2Vzc2J1aWxkZXI",
        ] {
            assert_eq!(ids(v, 1), ["java.gadget_class"], "{v}");
        }
        // `runtime` is an ordinary word: paranoia 3 only.
        assert!(ids("BydW50aW1l", 2).is_empty());
        assert_eq!(ids("BydW50aW1l", 3), ["java.base64_runtime"]);
    }

    #[test]
    fn the_one_pass_test_sees_what_the_four_passes_report() {
        let matcher = Base64Matcher::new();
        for v in [
            "rO0ABQ",
            "KztAAU",
            "Cs7QAF",
            "Y2xvbmV0cmFuc2Zvcm1lcg",
            "GNsb25ldHJhbnNmb3JtZXI",
            "BjbG9uZXRyYW5zZm9ybWVy",
            "BydW50aW1l",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
            "c2f1a8e4-9b7d-4c3e-8f21-000000000001",
        ] {
            assert_eq!(any_shift_matches(v, &matcher), !ids(v, 4).is_empty(), "{v}");
        }
    }

    #[test]
    fn tokens_and_words_are_not_gadgets() {
        for v in [
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
            "dGhlIHF1aWNrIGJyb3duIGZveA",
            "Newsletter",
            "c2f1a8e4-9b7d-4c3e-8f21-000000000001",
            "SKU-1042-B",
        ] {
            assert!(ids(v, 4).is_empty(), "{v}");
        }
    }
}
