//! Substring search for the engines: SIMD `memmem` instead of the standard
//! library's two-way searcher, which is several times slower on long values.

pub(crate) fn find(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    if n.len() > h.len() {
        return None;
    }
    // Short values (most of them): a first-byte scan beats building a
    // searcher. Still linear: each candidate costs at most the needle's length.
    if h.len() < 4096 {
        let first = *n.first()?;
        return memchr::memchr_iter(first, h).find(|&p| h[p..].starts_with(n));
    }
    memchr::memmem::find(h, n)
}

pub(crate) fn contains(haystack: &str, needle: &str) -> bool {
    find(haystack, needle).is_some()
}

/// Start offsets of every non-overlapping occurrence, with the needle (the
/// shape of `str::match_indices`).
pub(crate) fn find_iter<'h, 'n>(
    haystack: &'h str,
    needle: &'n str,
) -> impl Iterator<Item = (usize, &'n str)> + 'h
where
    'n: 'h,
{
    let mut from = 0;
    std::iter::from_fn(move || {
        if needle.is_empty() || from > haystack.len() {
            return None;
        }
        let p = from + find(&haystack[from..], needle)?;
        from = p + needle.len();
        Some((p, needle))
    })
}

/// `s.trim()`, without decoding a character when `s` starts and ends with
/// a printable ASCII byte (most values: nothing to trim).
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&a), Some(&z)) if printable_ascii(a) && printable_ascii(z) => s,
        _ => s.trim(),
    }
}

/// `s.trim_start()`, without decoding a character when `s` starts with a
/// printable ASCII byte.
#[inline]
pub(crate) fn trim_start(s: &str) -> &str {
    match s.as_bytes().first() {
        Some(&a) if printable_ascii(a) => s,
        _ => s.trim_start(),
    }
}

/// A byte that is neither white space nor part of a multi-byte character.
fn printable_ascii(b: u8) -> bool {
    (0x21..0x80).contains(&b)
}

/// A fixed list of literals searched in one Aho-Corasick pass (built on
/// first use and shared): replaces a loop of substring searches.
pub(crate) struct NeedleSet {
    needles: &'static [&'static str],
    matcher: std::sync::OnceLock<aho_corasick::AhoCorasick>,
}

impl NeedleSet {
    pub(crate) const fn new(needles: &'static [&'static str]) -> Self {
        NeedleSet {
            needles,
            matcher: std::sync::OnceLock::new(),
        }
    }

    fn matcher(&self) -> &aho_corasick::AhoCorasick {
        self.matcher.get_or_init(|| {
            dfa_builder()
                .match_kind(aho_corasick::MatchKind::LeftmostFirst)
                .build(self.needles)
                .unwrap_or_else(|_| {
                    aho_corasick::AhoCorasick::new(["\u{0}never"]).expect("one literal")
                })
        })
    }

    /// Every non-overlapping match, leftmost first: (start, needle).
    pub(crate) fn find_iter<'h>(
        &'static self,
        haystack: &'h str,
    ) -> impl Iterator<Item = (usize, &'static str)> + 'h {
        self.matcher()
            .find_iter(haystack)
            .map(|m| (m.start(), self.needles[m.pattern().as_usize()]))
    }
}

/// The builder every keyword automaton uses: a DFA (one table lookup per
/// byte) without a prefilter. Benign text is full of the bytes the
/// prefilters key on (`.`, `/`, letters), so their skip loops restart at
/// almost every byte and cost more than the plain DFA walk.
pub(crate) fn dfa_builder() -> aho_corasick::AhoCorasickBuilder {
    let mut b = aho_corasick::AhoCorasick::builder();
    b.kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .prefilter(false);
    b
}

/// An automaton over fixed literals, built with [`dfa_builder`].
pub(crate) fn literal_matcher<P: AsRef<[u8]>>(
    patterns: impl IntoIterator<Item = P>,
) -> aho_corasick::AhoCorasick {
    dfa_builder()
        .build(patterns)
        .unwrap_or_else(|_| aho_corasick::AhoCorasick::new(["\u{0}never"]).expect("one literal"))
}

/// A DFA over fixed literals to walk byte by byte through its transition
/// table, with its unanchored start state. Standard match semantics: every
/// state carries the literals of its failure chain, so the walk sees every
/// (overlapping) literal.
pub(crate) fn walked_dfa<P: AsRef<[u8]>>(
    patterns: impl IntoIterator<Item = P>,
) -> (aho_corasick::dfa::DFA, aho_corasick::automaton::StateID) {
    use aho_corasick::automaton::Automaton as _;
    let dfa = aho_corasick::dfa::DFA::builder()
        .match_kind(aho_corasick::MatchKind::Standard)
        .start_kind(aho_corasick::StartKind::Unanchored)
        .prefilter(false)
        .build(patterns)
        .or_else(|_| aho_corasick::dfa::DFA::new(["\u{0}never"]))
        .expect("one literal");
    let start = dfa
        .start_state(aho_corasick::Anchored::No)
        .expect("an unanchored DFA has an unanchored start state");
    (dfa, start)
}

/// FNV-1a: a fast hash for the engines' small keyword tables (short keys,
/// built once, never keyed by anything a client chooses the size of).
#[derive(Default)]
pub(crate) struct FnvHasher(u64);

impl std::hash::Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_agrees_with_the_standard_search() {
        let haystacks = [
            "",
            "a",
            "while while",
            "GET / HTTP/1.1 http/2 http/",
            "x http/",
            " http/ at the start",
            "aaaaab",
            "abababac",
            "José while(1)",
        ];
        let needles = [
            "a", "b", "ab", "ac", "while", " http/", "http", "(", "aab", "é", "José w", "zz",
        ];
        for h in haystacks {
            for n in needles {
                assert_eq!(find(h, n), h.find(n), "{h:?} {n:?}");
                let ours: Vec<usize> = find_iter(h, n).map(|(p, _)| p).collect();
                let std: Vec<usize> = h.match_indices(n).map(|(p, _)| p).collect();
                assert_eq!(ours, std, "{h:?} {n:?}");
            }
        }
        let long = "x".repeat(5000) + " http/";
        for v in [
            "",
            " ",
            "a",
            " a ",
            "\u{3000}a\u{3000}",
            "\ta",
            "a\n",
            "é",
            "a b",
        ] {
            assert_eq!(trim(v), v.trim(), "{v:?}");
            assert_eq!(trim_start(v), v.trim_start(), "{v:?}");
        }
        assert_eq!(find(&long, " http/"), Some(5000));
    }
}
