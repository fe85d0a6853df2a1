//! Substring search for the engines: SIMD `memmem` instead of the standard
//! library's two-way searcher, which is several times slower on long values.

pub(crate) fn find(haystack: &str, needle: &str) -> Option<usize> {
    memchr::memmem::find(haystack.as_bytes(), needle.as_bytes())
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
    memchr::memmem::find_iter(haystack.as_bytes(), needle.as_bytes()).map(move |p| (p, needle))
}
