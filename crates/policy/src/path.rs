//! Request path normalization. Routing, checks and the upstream must all see
//! the same path, or `/public/../admin` is routed as public and served as
//! admin. So the gateway decodes percent-escaped unreserved characters, merges
//! repeated slashes and resolves dot segments once, then routes, inspects and
//! forwards that one normalized path.

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("request path must start with '/'")]
    NotAbsolute,
    #[error("request path contains an encoded NUL byte")]
    NulByte,
    #[error("request path contains an invalid percent escape")]
    BadEscape,
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Returns the normalized path, borrowing when it is already normal.
pub fn normalize_path(raw: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if !needs_work(bytes)? {
        return Ok(Cow::Borrowed(raw));
    }
    // Decode unreserved escapes; keep reserved ones (e.g. %2F) encoded.
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (h, l) = match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => (h, l),
                _ => return Err(PathError::BadEscape),
            };
            let value = h << 4 | l;
            if value == 0 {
                return Err(PathError::NulByte);
            }
            if is_unreserved(value) {
                decoded.push(value);
            } else {
                decoded.extend_from_slice(&bytes[i..i + 3]);
            }
            i += 3;
        } else {
            decoded.push(b);
            i += 1;
        }
    }
    // Resolve segments.
    let mut out: Vec<&[u8]> = Vec::new();
    let segments: Vec<&[u8]> = decoded.split(|&b| b == b'/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (n, seg) in segments.iter().enumerate() {
        match *seg {
            b"" => trailing_slash = n == last,
            b"." => trailing_slash = n == last,
            b".." => {
                out.pop();
                trailing_slash = n == last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut result = Vec::with_capacity(decoded.len());
    for seg in &out {
        result.push(b'/');
        result.extend_from_slice(seg);
    }
    if trailing_slash || result.is_empty() {
        result.push(b'/');
    }
    // Only ASCII bytes were produced from ASCII input, and non-ASCII input bytes were copied whole.
    String::from_utf8(result)
        .map(Cow::Owned)
        .map_err(|_| PathError::BadEscape)
}

/// True when the path has an escape, a dot segment or an empty segment.
fn needs_work(bytes: &[u8]) -> Result<bool, PathError> {
    if bytes.contains(&b'%') {
        return Ok(true);
    }
    let mut prev_slash = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'/' {
            if prev_slash {
                return Ok(true);
            }
            prev_slash = true;
        } else {
            if b == b'.' && prev_slash {
                let rest = &bytes[i..];
                if rest == b"."
                    || rest == b".."
                    || rest.starts_with(b"./")
                    || rest.starts_with(b"../")
                {
                    return Ok(true);
                }
            }
            prev_slash = false;
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_are_borrowed() {
        for p in ["/", "/api/users/1", "/a.b/c..d/.e", "/x/"] {
            assert!(matches!(normalize_path(p), Ok(Cow::Borrowed(_))), "{p}");
        }
    }

    #[test]
    fn dot_segments_slashes_and_escapes_are_resolved() {
        let cases = [
            ("/public/../admin", "/admin"),
            ("/a/./b/", "/a/b/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("//api///users", "/api/users"),
            ("/api/%2e%2e/admin", "/admin"),
            ("/api/%2E%2e/", "/"),
            ("/%41pi/x%2Fy", "/Api/x%2Fy"),
            ("/a/..", "/"),
            ("/a/b/..", "/a/"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_path(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn bad_paths_are_refused() {
        assert_eq!(normalize_path("api"), Err(PathError::NotAbsolute));
        assert_eq!(normalize_path("/a%00b"), Err(PathError::NulByte));
        assert_eq!(normalize_path("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize_path("/a%2"), Err(PathError::BadEscape));
    }
}
