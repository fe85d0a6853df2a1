//! RESP2, the Redis wire protocol, as far as the decision path needs it:
//! commands are written straight into an output buffer (no argument
//! vectors), and replies are parsed from an input buffer that may hold a
//! partial reply (the caller reads more and tries again). Pure: no I/O.
//!
//! Replies are bounded, whatever the server sends: nesting deeper than
//! [`MAX_DEPTH`], arrays longer than [`MAX_ELEMENTS`] or bulk strings over
//! [`MAX_BULK`] are protocol errors, so a broken or hostile peer cannot make
//! the gateway buffer without limit.

use std::fmt;

/// Deepest array nesting accepted (decision replies are flat).
pub const MAX_DEPTH: usize = 4;
/// Most elements in one array reply.
pub const MAX_ELEMENTS: usize = 1 << 16;
/// Longest bulk string accepted.
pub const MAX_BULK: usize = 1 << 20;

/// One reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Status(Vec<u8>),
    /// `-ERR ...` (also `-NOSCRIPT ...`): an answer, not a broken link.
    Error(String),
    /// `:42`
    Int(i64),
    /// `$3\r\nabc` (`None` for the null bulk `$-1`).
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...` (`None` for the null array `*-1`).
    Array(Option<Vec<Reply>>),
    /// A non-empty array of nothing but integers (what the decision scripts
    /// return), kept flat.
    Ints(Vec<i64>),
}

impl Reply {
    /// The integers of an array of integers (what the decision scripts
    /// return); `None` for any other shape.
    pub fn into_ints(self) -> Option<Vec<i64>> {
        match self {
            Reply::Ints(ints) => Some(ints),
            Reply::Array(Some(items)) => items
                .into_iter()
                .map(|item| match item {
                    Reply::Int(n) => Some(n),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }
}

/// The peer sent something that is not RESP2, or is over a bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub &'static str);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad RESP reply: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Writes one command of `args` arguments; follow with exactly `args`
/// calls of [`bulk`] / [`bulk_int`] / [`bulk_parts`].
pub fn command(out: &mut Vec<u8>, args: usize) {
    out.push(b'*');
    push_decimal(out, args as u64);
    out.extend_from_slice(b"\r\n");
}

/// One argument.
pub fn bulk(out: &mut Vec<u8>, arg: &[u8]) {
    bulk_parts(out, &[arg]);
}

/// One argument made of the concatenation of `parts` (a key prefix and
/// a key, without building the key first).
pub fn bulk_parts(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.push(b'$');
    push_decimal(out, len as u64);
    out.extend_from_slice(b"\r\n");
    for part in parts {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(b"\r\n");
}

/// One integer argument (sent as its decimal text, as Redis expects).
pub fn bulk_int(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let text = decimal(&mut digits, n);
    bulk_parts(out, &[text]);
}

fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    out.extend_from_slice(decimal(&mut digits, n));
}

fn decimal(digits: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[at..]
}

/// Parses one reply from the front of `input`: `Ok(Some((reply, bytes
/// used)))`, `Ok(None)` when `input` holds only part of a reply.
pub fn parse(input: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let mut at = 0;
    match parse_at(input, &mut at, 0)? {
        Some(reply) => Ok(Some((reply, at))),
        None => Ok(None),
    }
}

fn parse_at(input: &[u8], at: &mut usize, depth: usize) -> Result<Option<Reply>, ProtocolError> {
    let Some(&kind) = input.get(*at) else {
        return Ok(None);
    };
    let Some(line) = line(input, *at + 1)? else {
        return Ok(None);
    };
    let body = &input[*at + 1..line];
    *at = line + 2;
    Ok(Some(match kind {
        b'+' => Reply::Status(body.to_vec()),
        b'-' => Reply::Error(String::from_utf8_lossy(body).into_owned()),
        b':' => Reply::Int(integer(body)?),
        b'$' => {
            let len = integer(body)?;
            if len < 0 {
                return Ok(Some(Reply::Bulk(None)));
            }
            let len = len as usize;
            if len > MAX_BULK {
                return Err(ProtocolError("bulk string over the bound"));
            }
            if input.len() < *at + len + 2 {
                return Ok(None);
            }
            if &input[*at + len..*at + len + 2] != b"\r\n" {
                return Err(ProtocolError("bulk string without its CRLF"));
            }
            let value = input[*at..*at + len].to_vec();
            *at += len + 2;
            Reply::Bulk(Some(value))
        }
        b'*' => {
            let len = integer(body)?;
            if len < 0 {
                return Ok(Some(Reply::Array(None)));
            }
            if depth >= MAX_DEPTH {
                return Err(ProtocolError("arrays nested too deep"));
            }
            let len = len as usize;
            if len > MAX_ELEMENTS {
                return Err(ProtocolError("array over the bound"));
            }
            if let Some(ints) = ints(input, at, len)? {
                return Ok(Some(Reply::Ints(ints)));
            }
            // Each element takes at least 4 bytes (`:0\r\n`): never reserve
            // more than the input could hold.
            let mut items = Vec::with_capacity(len.min((input.len() - *at) / 4 + 1));
            for _ in 0..len {
                match parse_at(input, at, depth + 1)? {
                    Some(item) => items.push(item),
                    None => return Ok(None),
                }
            }
            Reply::Array(Some(items))
        }
        _ => return Err(ProtocolError("unknown reply type")),
    }))
}

/// The `len` elements at `at` when every one is a complete integer;
/// `None` (and `at` unmoved) when one is not, or has not fully arrived.
fn ints(input: &[u8], at: &mut usize, len: usize) -> Result<Option<Vec<i64>>, ProtocolError> {
    if len == 0 {
        return Ok(None);
    }
    let mut ints = Vec::with_capacity(len.min(64));
    let mut pos = *at;
    for _ in 0..len {
        if input.get(pos) != Some(&b':') {
            return Ok(None);
        }
        let Some(end) = line(input, pos + 1)? else {
            return Ok(None);
        };
        ints.push(integer(&input[pos + 1..end])?);
        pos = end + 2;
    }
    *at = pos;
    Ok(Some(ints))
}

/// Where the CRLF ending the line that starts at `from` is; `None` when it
/// has not arrived yet.
fn line(input: &[u8], from: usize) -> Result<Option<usize>, ProtocolError> {
    // A header line is short (a type, an integer or a status / error text).
    const MAX_LINE: usize = 4096;
    let rest = input.get(from..).unwrap_or(&[]);
    match rest.iter().take(MAX_LINE + 1).position(|&b| b == b'\r') {
        Some(cr) => match rest.get(cr + 1) {
            Some(b'\n') => Ok(Some(from + cr)),
            Some(_) => Err(ProtocolError("CR without LF")),
            None => Ok(None),
        },
        None if rest.len() > MAX_LINE => Err(ProtocolError("line over the bound")),
        None => Ok(None),
    }
}

fn integer(text: &[u8]) -> Result<i64, ProtocolError> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(ProtocolError("bad integer"));
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(ProtocolError("bad integer"));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add((d - b'0') as i64))
            .ok_or(ProtocolError("integer overflow"))?;
    }
    Ok(if negative { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_written_as_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        command(&mut out, 4);
        bulk(&mut out, b"EVALSHA");
        bulk_int(&mut out, 0);
        bulk_parts(&mut out, &[b"pre:", b"key"]);
        bulk_int(&mut out, 18_446_744_073_709_551_615);
        assert_eq!(
            out,
            b"*4\r\n$7\r\nEVALSHA\r\n$1\r\n0\r\n$7\r\npre:key\r\n$20\r\n18446744073709551615\r\n"
        );
    }

    #[test]
    fn every_reply_type_parses_and_reports_its_length() {
        let cases: Vec<(&[u8], Reply)> = vec![
            (b"+OK\r\n", Reply::Status(b"OK".to_vec())),
            (
                b"-NOSCRIPT No matching script\r\n",
                Reply::Error("NOSCRIPT No matching script".into()),
            ),
            (b":-42\r\n", Reply::Int(-42)),
            (b"$3\r\na\r\n\r\n", Reply::Bulk(Some(b"a\r\n".to_vec()))),
            (b"$-1\r\n", Reply::Bulk(None)),
            (b"*-1\r\n", Reply::Array(None)),
            (b"*0\r\n", Reply::Array(Some(vec![]))),
            (b"*2\r\n:1\r\n:-250\r\n", Reply::Ints(vec![1, -250])),
            (
                b"*3\r\n:1\r\n:250\r\n*1\r\n$0\r\n\r\n",
                Reply::Array(Some(vec![
                    Reply::Int(1),
                    Reply::Int(250),
                    Reply::Array(Some(vec![Reply::Bulk(Some(vec![]))])),
                ])),
            ),
        ];
        for (wire, expected) in cases {
            let mut input = wire.to_vec();
            input.extend_from_slice(b":7\r\n"); // the next reply stays unread
            let (reply, used) = parse(&input).unwrap().unwrap();
            assert_eq!(reply, expected, "{}", String::from_utf8_lossy(wire));
            assert_eq!(used, wire.len());
            assert_eq!(parse(&input[used..]).unwrap().unwrap().0, Reply::Int(7));
        }
    }

    #[test]
    fn every_prefix_of_a_reply_is_incomplete_not_an_error() {
        let wire = b"*3\r\n:1\r\n$5\r\nhello\r\n*2\r\n:-3\r\n+OK\r\n";
        for end in 0..wire.len() {
            assert_eq!(parse(&wire[..end]), Ok(None), "prefix of {end} bytes");
        }
        assert!(parse(wire).unwrap().is_some());
    }

    #[test]
    fn malformed_or_oversized_replies_are_errors() {
        let bad: &[&[u8]] = &[
            b"?what\r\n",
            b":12a\r\n",
            b":\r\n",
            b":99999999999999999999\r\n",
            b"$3\r\nabcd\r\n",
            b"+OK\rX",
            b"*99999999\r\n",
            b"$99999999\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
        ];
        for wire in bad {
            assert!(parse(wire).is_err(), "{}", String::from_utf8_lossy(wire));
        }
        let long_line = [b"+".as_slice(), &[b'a'; 5000]].concat();
        assert!(parse(&long_line).is_err());
    }

    #[test]
    fn decision_replies_become_integers() {
        let (reply, _) = parse(b"*3\r\n:1\r\n:500\r\n:0\r\n").unwrap().unwrap();
        assert_eq!(reply.into_ints(), Some(vec![1, 500, 0]));
        let (reply, _) = parse(b"*2\r\n:1\r\n+OK\r\n").unwrap().unwrap();
        assert_eq!(reply.into_ints(), None);
        assert_eq!(Reply::Int(3).into_ints(), None);
    }
}
