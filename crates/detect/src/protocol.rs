//! HTTP protocol enforcement on the request head: the shapes a lenient
//! parser accepts and attackers use to slip a body past inspection or to
//! abuse the server (the CRS 920/921 family, as real rules rather than a
//! list): a malformed `Content-Type` (several media types, a media type
//! hidden in a parameter, two `charset`s), a charset other than the ASCII
//! supersets a WAF can read (`ibm037`, `utf-7`, `utf-16` carry encoded
//! attacks), range abuse (too many ranges, a last byte before the first,
//! the obsolete `Request-Range`), a body on `GET` / `HEAD`, a body with no
//! `Content-Type`, method-override headers, and headers no client sends
//! (`Proxy`: httpoxy; `Content-Range` on a request).
//!
//! Pure and linear: each header value is read once.

use crate::{Decoding, Detection, Detector, Sink, rules};

/// Charsets every inspection layer reads the same way (ASCII supersets).
const SAFE_CHARSETS: &[&str] = &[
    "utf-8",
    "utf8",
    "us-ascii",
    "ascii",
    "iso-8859-1",
    "iso-8859-15",
    "latin1",
    "windows-1252",
];

/// Most byte ranges in one `Range` header (PDF viewers fetch pages in
/// many more pieces: [`MAX_PDF_RANGES`] for a `.pdf` path, as CRS allows).
const MAX_RANGES: usize = 5;
const MAX_PDF_RANGES: usize = 62;

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// A media type parameter list: `(name, value)` pairs, quotes removed.
fn params(rest: &str) -> impl Iterator<Item = (&str, &str)> {
    rest.split(';').filter_map(|p| {
        let (n, v) = p.split_once('=')?;
        Some((n.trim(), v.trim().trim_matches(['"', '\''])))
    })
}

/// What is wrong with a `Content-Type` value, if anything.
fn content_type_problem(value: &str) -> Option<&'static rules::Rule> {
    let value = value.trim();
    let (essence, rest) = value.split_once(';').unwrap_or((value, ""));
    let Some((ty, sub)) = essence.trim().split_once('/') else {
        return Some(&rules::HTTP_CONTENT_TYPE);
    };
    if !is_token(ty) || !is_token(sub.trim()) {
        return Some(&rules::HTTP_CONTENT_TYPE);
    }
    let mut charsets = 0;
    for (name, v) in params(rest) {
        let name = name.to_ascii_lowercase();
        if name == "charset" {
            charsets += 1;
            if !SAFE_CHARSETS.iter().any(|c| v.eq_ignore_ascii_case(c)) {
                return Some(&rules::HTTP_CHARSET);
            }
        }
        // A media type inside a parameter: some parsers take it for the type.
        let v = v.to_ascii_lowercase();
        if name != "boundary" && name != "type" && name != "start" && v.contains("charset=") {
            return Some(&rules::HTTP_CONTENT_TYPE);
        }
        if ["application/", "text/", "multipart/"]
            .iter()
            .any(|p| v.starts_with(p))
            && name != "type"
        {
            return Some(&rules::HTTP_CONTENT_TYPE);
        }
    }
    if charsets > 1 {
        return Some(&rules::HTTP_CHARSET);
    }
    // Parameters must be `name=value`: junk after the type is a parser trap.
    if rest
        .split(';')
        .any(|p| !p.trim().is_empty() && !p.contains('='))
    {
        return Some(&rules::HTTP_CONTENT_TYPE);
    }
    None
}

/// Whether a `Range` value is abusive: more than `max` ranges, or a first
/// complete range (`first-last`) whose last byte is before its first (a
/// client asking for its first range backwards is probing the server; later
/// odd ranges in a long PDF page list are left to the count).
fn range_abuse(value: &str, max: usize) -> bool {
    let Some(set) = value.trim().strip_prefix("bytes=") else {
        return false;
    };
    let mut count = 0;
    let mut first_pair = true;
    for r in set.split(',') {
        let r = r.trim();
        if r.is_empty() {
            continue;
        }
        count += 1;
        if first_pair
            && let Some((a, b)) = r.split_once('-')
            && let (Ok(a), Ok(b)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>())
        {
            if b < a {
                return true;
            }
            first_pair = false;
        }
    }
    count > max
}

impl Detector {
    /// Protocol checks on a request head: `method` and the header fields
    /// (lower-case names). `has_body`: the request declares a body
    /// (`Content-Length` > 0 or `Transfer-Encoding`). Each detection comes
    /// with the lower-case name of the header it is about (`""`: the request).
    pub fn inspect_head<'h>(
        &self,
        method: &str,
        path: &str,
        has_body: bool,
        headers: impl Iterator<Item = (&'h str, &'h [u8])>,
        out: &mut Vec<(Detection, &'h str)>,
    ) {
        let mut found: Vec<Detection> = Vec::new();
        let mut at: Vec<&'h str> = Vec::new();
        let mut report = |rule: &'static rules::Rule, name: &'h str, text: &str| {
            let mut sink = Sink::new(&self.settings, &mut found, Decoding::Normalized);
            let before = sink.out.len();
            sink.report(rule, text, 0..text.len().min(48));
            if sink.out.len() > before {
                at.push(name);
            }
        };
        let mut content_type = false;
        for (name, value) in headers {
            let text = String::from_utf8_lossy(value);
            match name {
                "content-type" => {
                    content_type = true;
                    // A charset only matters for a body to decode: on a
                    // bodiless request it misleads nothing.
                    if let Some(rule) = content_type_problem(&text)
                        && (has_body || !std::ptr::eq(rule, &rules::HTTP_CHARSET))
                    {
                        report(rule, name, &text);
                    }
                }
                "accept" => {
                    let bad = text.split(',').any(|item| {
                        params(item.split_once(';').map_or("", |(_, r)| r)).any(|(n, v)| {
                            n.eq_ignore_ascii_case("charset")
                                && !SAFE_CHARSETS.iter().any(|c| v.eq_ignore_ascii_case(c))
                        })
                    });
                    if bad {
                        report(&rules::HTTP_CHARSET, name, &text);
                    }
                }
                "range" => {
                    let pdf = path
                        .rsplit('/')
                        .next()
                        .is_some_and(|f| f.to_ascii_lowercase().ends_with(".pdf"));
                    let max = if pdf { MAX_PDF_RANGES } else { MAX_RANGES };
                    if range_abuse(&text, max) {
                        report(&rules::HTTP_RANGE, name, &text);
                    }
                }
                "request-range" => report(&rules::HTTP_RANGE, name, &text),
                "x-http-method-override" | "x-http-method" | "x-method-override" => {
                    report(&rules::HTTP_METHOD_OVERRIDE, name, &text)
                }
                "proxy" | "lock-token" => report(&rules::HTTP_RESTRICTED_HEADER, name, &text),
                _ => {}
            }
        }
        if has_body {
            if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
                report(&rules::HTTP_BODY_ON_GET, "", method);
            }
            if !content_type {
                report(&rules::HTTP_BODY_WITHOUT_TYPE, "", method);
            }
        }
        out.extend(found.into_iter().zip(at));
    }

    /// A `_method` query parameter naming another method than the request's
    /// (`POST ...?_method=DELETE`): what the back end will run instead.
    pub fn inspect_method_override(&self, method: &str, value: &str, out: &mut Vec<Detection>) {
        let method_like = (3..=10).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_alphabetic())
            && !value.eq_ignore_ascii_case(method);
        if method_like {
            let mut sink = Sink::new(&self.settings, out, Decoding::Normalized);
            sink.report(&rules::HTTP_METHOD_OVERRIDE, value, 0..value.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectorSettings;

    fn ids(method: &str, body: bool, headers: &[(&str, &str)]) -> Vec<&'static str> {
        let d = Detector::new(&DetectorSettings::default());
        let mut out = Vec::new();
        d.inspect_head(
            method,
            "/x",
            body,
            headers.iter().map(|(n, v)| (*n, v.as_bytes())),
            &mut out,
        );
        out.iter().map(|(d, _)| d.rule.id).collect()
    }

    #[test]
    fn content_types_and_charsets() {
        for ct in [
            "my-new-content-type",
            "application/x-www-form-urlencoded;boundary=\"application/json\"",
            "text/plain; charset=\"UTF-8\"; garbage",
            "application/json, text/plain",
        ] {
            assert_eq!(
                ids("POST", true, &[("content-type", ct)]),
                ["http.content_type"],
                "{ct}"
            );
        }
        for ct in [
            "application/x-www-form-urlencoded; charset=ibm037",
            "application/x-www-form-urlencoded; charset=utf-8; charset=utf-7",
            "text/xml; charset=UTF-16",
        ] {
            assert_eq!(
                ids("POST", true, &[("content-type", ct)]),
                ["http.charset"],
                "{ct}"
            );
        }
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
            "application/vnd.api+json",
            "text/plain;charset=UTF-8",
            "multipart/related; type=\"application/xop+xml\"; boundary=x",
        ] {
            assert!(
                ids("POST", true, &[("content-type", ct)]).is_empty(),
                "{ct}"
            );
        }
        assert_eq!(
            ids("GET", false, &[("accept", "text/html; charset=CP1026")]),
            ["http.charset"]
        );
        assert!(ids("GET", false, &[("accept", "application/json, */*;q=0.8")]).is_empty());
    }

    #[test]
    fn ranges_bodies_and_headers() {
        assert_eq!(
            ids(
                "GET",
                false,
                &[("range", "bytes=1-10,11-20,21-30,31-40,41-50,51-60")]
            ),
            ["http.range"]
        );
        assert_eq!(ids("GET", false, &[("range", "bytes=5-0")]), ["http.range"]);
        assert!(ids("GET", false, &[("range", "bytes=0-1023")]).is_empty());
        // Only the first complete range must be in order; a PDF viewer asks
        // for many pages (up to 62 ranges).
        assert_eq!(
            ids("GET", false, &[("range", "bytes=0-,5-0,5-1")]),
            ["http.range"]
        );
        let pages: Vec<String> = (1..=35)
            .map(|i| format!("{}-{}", i * 10, i * 10 - 9))
            .collect();
        let pdf_range = format!("bytes=0-9, {}", pages.join(", "));
        let d = Detector::new(&DetectorSettings::default());
        let mut out = Vec::new();
        let range = [("range", pdf_range.as_bytes())];
        d.inspect_head("GET", "/doc/a.pdf", false, range.into_iter(), &mut out);
        assert!(out.is_empty());
        d.inspect_head("GET", "/doc/a.html", false, range.into_iter(), &mut out);
        assert_eq!(out.len(), 1);
        // A charset on a request without a body decodes nothing.
        let odd_charset = [("content-type", "text/plain; charset=/gar/bage")];
        assert!(ids("GET", false, &odd_charset).is_empty());
        assert_eq!(ids("POST", true, &odd_charset), ["http.charset"]);
        assert_eq!(
            ids("GET", false, &[("request-range", "bytes=0-1")]),
            ["http.range"]
        );
        let d = Detector::new(&DetectorSettings {
            paranoia_level: 3,
            ..DetectorSettings::default()
        });
        let mut out = Vec::new();
        let headers = [("content-type", "application/json".as_bytes())];
        d.inspect_head("GET", "/x", true, headers.into_iter(), &mut out);
        assert_eq!(out[0].0.rule.id, "http.body_on_get");
        let mut out = Vec::new();
        d.inspect_head("POST", "/x", true, std::iter::empty(), &mut out);
        assert_eq!(out[0].0.rule.id, "http.body_without_type");
        assert!(ids("GET", true, &[("content-type", "application/json")]).is_empty());
        let mut out = Vec::new();
        d.inspect_method_override("POST", "DELETE", &mut out);
        d.inspect_method_override("POST", "post", &mut out);
        d.inspect_method_override("POST", "X", &mut out);
        assert_eq!(out.len(), 1);
        assert!(ids("POST", true, &[]).is_empty());
        assert_eq!(
            ids("POST", false, &[("x-http-method-override", "DELETE")]),
            ["http.method_override"]
        );
        assert_eq!(
            ids("GET", false, &[("proxy", "http://x")]),
            ["http.restricted_header"]
        );
        assert!(ids("POST", true, &[("content-type", "application/json")]).is_empty());
    }
}
