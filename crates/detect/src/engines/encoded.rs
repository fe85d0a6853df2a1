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
    v.len() >= MIN_LEN
        && crate::normalize::base64_classes(v)
            .is_some_and(crate::normalize::two_letter_cases_or_digits)
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

/// Whether any of the four decodings [`search_shifted`] reads may reach a
/// match state of the needles' DFA, in one pass over `v` that steps each
/// of the four decoders' DFA states with the same bytes in the same order.
/// `search_shifted` reports only at a match state, so when this is false
/// none of its passes can report.
///
/// The decodings are the value's bit stream cut into bytes at four
/// alignments: with `shift` zero sextets in front, byte `j` ends at bit
/// `8 * j + 8 - 6 * shift` of the value. Every even bit position is the end
/// of a byte of exactly one of them (the one with `2 * shift` congruent to
/// it mod 8), so each character (6 bits) completes three bytes, one each of
/// three decodings, and the bytes made only of the zero sextets (one for
/// shift 2, two for shift 3) are stepped first. (`search_shifted` steps
/// one byte per character at most, so for a value of fewer than 6 sextets
/// it may stop short of the last bytes stepped here: it then reads a
/// prefix of the same bytes, and reaches no match state where this does
/// not.)
fn any_shift_matches(v: &str, matcher: &Base64Matcher) -> bool {
    let dfa = &matcher.dfa;
    let matches = |sid: StateID| dfa.is_special(sid) && dfa.is_match(sid);
    // Steps `sid` with the byte that ends `unread` bits before the end of `acc`.
    let step = |sid: &mut StateID, acc: u64, unread: u32| {
        let byte = ((acc >> unread) as u8).to_ascii_lowercase();
        *sid = dfa.next_state(Anchored::No, *sid, byte);
        matches(*sid)
    };
    let zero = dfa.next_state(Anchored::No, matcher.start, 0);
    let zero_zero = dfa.next_state(Anchored::No, zero, 0);
    if matches(zero) || matches(zero_zero) {
        return true;
    }
    let mut sid = [matcher.start, matcher.start, zero, zero_zero];
    let mut acc: u64 = 0;
    let bytes = v.as_bytes();
    // Four sextets at a time: 24 bits, whose bytes end 2, 4, 6, ... 24 bits
    // in, and so belong to shifts 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0.
    let mut read = 0;
    while let Some(group) = bytes.get(read..read + 4) {
        let x = [0, 1, 2, 3].map(|i| SEXTETS[usize::from(group[i])]);
        if x.contains(&NOT_SEXTET) {
            break;
        }
        acc = (acc << 24)
            | u64::from(x[0]) << 18
            | u64::from(x[1]) << 12
            | u64::from(x[2]) << 6
            | u64::from(x[3]);
        let [s0, s1, s2, s3] = &mut sid;
        if step(s1, acc, 22)
            || step(s2, acc, 20)
            || step(s3, acc, 18)
            || step(s0, acc, 16)
            || step(s1, acc, 14)
            || step(s2, acc, 12)
            || step(s3, acc, 10)
            || step(s0, acc, 8)
            || step(s1, acc, 6)
            || step(s2, acc, 4)
            || step(s3, acc, 2)
            || step(s0, acc, 0)
        {
            return true;
        }
        read += 4;
    }
    // The rest a sextet at a time. `end` is the bit position where the last
    // byte stepped ends: 24 bits per group read.
    let mut end = read / 4 * 24;
    for &b in &bytes[read..] {
        let Some(x) = sextet(b) else { continue };
        acc = (acc << 6) | u64::from(x);
        // The bytes ending 4, 2 and 0 bits before the end of this sextet.
        for unread in [4, 2, 0] {
            end += 2;
            if step(&mut sid[(end >> 1) & 3], acc, unread) {
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

    /// Whether the four passes, run without the one-pass test in front,
    /// report anything (at paranoia 4 every needle's rule reports).
    fn four_passes_report(v: &str, matcher: &Base64Matcher) -> bool {
        let settings = DetectorSettings {
            paranoia_level: 4,
            ..DetectorSettings::default()
        };
        let mut out: Vec<Detection> = Vec::new();
        let mut sink = Sink::new(&settings, &mut out, crate::Decoding::Base64);
        for shift in 0..4 {
            search_shifted(v, shift, matcher, &mut sink);
        }
        !out.is_empty()
    }

    #[test]
    fn the_one_pass_test_agrees_with_the_four_passes_on_generated_values() {
        use base64::Engine as _;
        let matcher = Base64Matcher::new();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize
        };
        const ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_.";
        let mut reports = 0;
        for round in 0..20_000 {
            let v: String = if round % 2 == 0 {
                // Random characters (and a `.`, which the decoders skip).
                let len = next() % 40;
                (0..len)
                    .map(|_| ALPHABET[next() % ALPHABET.len()] as char)
                    .collect()
            } else {
                // A needle (or a cut of one), in either case, between
                // random bytes, encoded.
                let needle = NEEDLES[next() % NEEDLES.len()];
                let cut = needle.len() - next() % 3 * usize::from(next() % 2 == 0);
                let mut bytes: Vec<u8> = (0..next() % 5).map(|_| next() as u8).collect();
                for &b in &needle[..cut] {
                    bytes.push(if next() % 2 == 0 {
                        b.to_ascii_uppercase()
                    } else {
                        b
                    });
                }
                bytes.extend((0..next() % 5).map(|_| next() as u8));
                let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes);
                // Sometimes cut its first characters off, sometimes put a
                // `.` in.
                let mut encoded = encoded[next() % 3..].to_owned();
                if next() % 4 == 0 {
                    encoded.insert(next() % (encoded.len() + 1), '.');
                }
                encoded
            };
            let reported = four_passes_report(&v, &matcher);
            reports += usize::from(reported);
            if v.bytes().filter(|&b| sextet(b).is_some()).count() >= MIN_LEN {
                assert_eq!(any_shift_matches(&v, &matcher), reported, "{v}");
            } else {
                assert!(!reported || any_shift_matches(&v, &matcher), "{v}");
            }
        }
        // (The generator hides needles that survive in most values.)
        assert!(reports > 5_000, "{reports}");
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
