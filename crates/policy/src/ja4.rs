//! JA4 TLS client fingerprints (FoxIO's JA4, the `t…` TCP form), computed
//! from the raw bytes of a ClientHello as the client sent them, before rustls
//! sees the connection. Owns the record reassembly ([`hello_progress`]) and
//! the fingerprint ([`ja4`]).
//!
//! Untrusted bytes: every length is checked, nothing panics, nothing
//! allocates per byte. GREASE values (RFC 8701, `0x?a?a`) are ignored
//! everywhere, as the JA4 definition requires.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// Most bytes read for one ClientHello (records included): real hellos,
/// post-quantum key shares included, are under 2 KiB.
pub const MAX_HELLO_BYTES: usize = 16 * 1024;

/// What the bytes read so far hold.
#[derive(Debug, PartialEq, Eq)]
pub enum HelloProgress {
    /// A ClientHello so far: read more.
    NeedMore,
    /// The whole ClientHello message is in the first `n` bytes.
    Complete(usize),
    /// Not a TLS ClientHello (or one past [`MAX_HELLO_BYTES`]): no fingerprint.
    NotAHello,
}

const RECORD_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;

/// Whether `buf` (the first bytes of a connection) holds a complete
/// ClientHello. A hello may span several handshake records.
pub fn hello_progress(buf: &[u8]) -> HelloProgress {
    let mut at = 0;
    let mut handshake_bytes = 0usize;
    let mut wanted: Option<usize> = None;
    loop {
        if at >= MAX_HELLO_BYTES {
            return HelloProgress::NotAHello;
        }
        let Some(header) = buf.get(at..at + 5) else {
            return HelloProgress::NeedMore;
        };
        if header[0] != RECORD_HANDSHAKE || header[1] != 3 {
            return HelloProgress::NotAHello;
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 {
            return HelloProgress::NotAHello;
        }
        let fragment_start = at + 5;
        if wanted.is_none() {
            // The handshake header is in the first record's first 4 bytes.
            let Some(h) = buf.get(fragment_start..fragment_start + 4.min(len)) else {
                return HelloProgress::NeedMore;
            };
            if h[0] != HANDSHAKE_CLIENT_HELLO {
                return HelloProgress::NotAHello;
            }
            if h.len() < 4 {
                return HelloProgress::NotAHello;
            }
            let body = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
            wanted = Some(body + 4);
        }
        handshake_bytes += len;
        at = fragment_start + len;
        if handshake_bytes >= wanted.unwrap_or(usize::MAX) {
            return if at > MAX_HELLO_BYTES {
                HelloProgress::NotAHello
            } else if buf.len() >= at {
                HelloProgress::Complete(at)
            } else {
                HelloProgress::NeedMore
            };
        }
    }
}

fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// A cursor over untrusted bytes; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

fn u16s(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
}

/// The parts of a ClientHello JA4 reads (GREASE already removed).
#[derive(Debug, Default)]
struct Hello {
    version: u16,
    ciphers: Vec<u16>,
    extensions: Vec<u16>,
    signature_algorithms: Vec<u16>,
    sni: bool,
    first_alpn: Option<Vec<u8>>,
}

/// The handshake bytes of the records in `buf`, joined when the hello spans
/// several records.
fn handshake_message(buf: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(buf.len());
    let mut r = Reader { bytes: buf };
    while !r.bytes.is_empty() {
        let header = r.take(5)?;
        if header[0] != RECORD_HANDSHAKE {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        out.extend_from_slice(r.take(len)?);
    }
    Some(out)
}

fn parse(message: &[u8]) -> Option<Hello> {
    let mut r = Reader { bytes: message };
    if r.u8()? != HANDSHAKE_CLIENT_HELLO {
        return None;
    }
    let len = r.take(3)?;
    let len = usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2]);
    let mut r = Reader {
        bytes: r.take(len)?,
    };
    let mut hello = Hello {
        version: r.u16()?,
        ..Hello::default()
    };
    r.take(32)?; // random
    r.vec8()?; // session id
    hello.ciphers = u16s(r.vec16()?).filter(|c| !is_grease(*c)).collect();
    r.vec8()?; // compression methods
    if r.bytes.is_empty() {
        return Some(hello);
    }
    let mut ext = Reader { bytes: r.vec16()? };
    while !ext.bytes.is_empty() {
        let kind = ext.u16()?;
        let data = ext.vec16()?;
        if is_grease(kind) {
            continue;
        }
        hello.extensions.push(kind);
        let mut d = Reader { bytes: data };
        match kind {
            0x0000 => hello.sni = true,
            0x0010 => {
                let mut list = Reader { bytes: d.vec16()? };
                if !list.bytes.is_empty() {
                    hello.first_alpn = Some(list.vec8()?.to_vec());
                }
            }
            0x000d => {
                hello.signature_algorithms = u16s(d.vec16()?).filter(|s| !is_grease(*s)).collect();
            }
            0x002b => {
                if let Some(best) = u16s(d.vec8()?).filter(|v| !is_grease(*v)).max() {
                    hello.version = hello.version.max(best);
                }
            }
            _ => {}
        }
    }
    Some(hello)
}

fn version_label(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0200 => "s2",
        0x0100 => "s1",
        _ => "00",
    }
}

fn alpn_label(alpn: Option<&[u8]>, out: &mut String) {
    let Some(a) = alpn.filter(|a| !a.is_empty()) else {
        out.push_str("00");
        return;
    };
    let (first, last) = (a[0], a[a.len() - 1]);
    if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
        out.push(char::from(first));
        out.push(char::from(last));
    } else {
        // Non-alphanumeric: the first and last characters of its hex form.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.push(char::from(HEX[usize::from(first >> 4)]));
        out.push(char::from(HEX[usize::from(last & 0x0f)]));
    }
}

fn hex_list(values: impl Iterator<Item = u16>, out: &mut String) {
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{v:04x}");
    }
}

/// The first 12 hex characters of the SHA-256 of `text` (`000000000000`
/// for an empty list, as JA4 writes it).
fn truncated_hash(text: &str, out: &mut String) {
    if text.is_empty() {
        out.push_str("000000000000");
        return;
    }
    let digest = Sha256::digest(text.as_bytes());
    for b in &digest[..6] {
        let _ = write!(out, "{b:02x}");
    }
}

/// The JA4 fingerprint of a ClientHello: `buf` holds its records, as
/// [`hello_progress`] measured them. `None` when the bytes are no hello.
pub fn ja4(buf: &[u8]) -> Option<String> {
    let message = handshake_message(buf)?;
    let hello = parse(&message)?;
    Some(fingerprint(&hello))
}

fn fingerprint(hello: &Hello) -> String {
    let mut out = String::with_capacity(36);
    out.push('t');
    out.push_str(version_label(hello.version));
    out.push(if hello.sni { 'd' } else { 'i' });
    let _ = write!(
        out,
        "{:02}{:02}",
        hello.ciphers.len().min(99),
        hello.extensions.len().min(99)
    );
    alpn_label(hello.first_alpn.as_deref(), &mut out);
    out.push('_');
    let mut ciphers = hello.ciphers.clone();
    ciphers.sort_unstable();
    let mut text = String::with_capacity(5 * (ciphers.len() + hello.extensions.len() + 12));
    hex_list(ciphers.iter().copied(), &mut text);
    truncated_hash(&text, &mut out);
    out.push('_');
    let mut extensions: Vec<u16> = hello
        .extensions
        .iter()
        .copied()
        .filter(|e| *e != 0x0000 && *e != 0x0010)
        .collect();
    extensions.sort_unstable();
    text.clear();
    hex_list(extensions.iter().copied(), &mut text);
    if !hello.signature_algorithms.is_empty() {
        text.push('_');
        hex_list(hello.signature_algorithms.iter().copied(), &mut text);
    }
    truncated_hash(&text, &mut out);
    out
}

/// Whether `s` is shaped like a JA4 fingerprint (`t13d1516h2_…_…`), for
/// config validation.
pub fn is_ja4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('_').collect();
    let hex12 = |p: &str| p.len() == 12 && p.bytes().all(|b| b.is_ascii_hexdigit());
    parts.len() == 3
        && parts[0].len() == 10
        && parts[0].is_ascii()
        && matches!(parts[0].as_bytes()[0], b't' | b'q' | b'd')
        && hex12(parts[1])
        && hex12(parts[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The FoxIO example: ciphers, extensions (in wire order) and signature
    /// algorithms of a Chrome hello, with GREASE sprinkled in.
    fn example_hello(sni: bool, alpn: &[&[u8]], sigalgs: bool) -> Vec<u8> {
        let ciphers: [u16; 16] = [
            0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
            0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let ext_order: [u16; 17] = [
            0x3a3a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023,
            0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
        ];
        let mut exts = Vec::new();
        for e in ext_order {
            let data: Vec<u8> = match e {
                0x0000 if !sni => continue,
                0x0000 => {
                    let name = b"example.com";
                    let mut d = vec![0, (name.len() + 3) as u8, 0, 0, name.len() as u8];
                    d.extend_from_slice(name);
                    d
                }
                0x0010 if alpn.is_empty() => continue,
                0x0010 => {
                    let mut list = Vec::new();
                    for p in alpn {
                        list.push(p.len() as u8);
                        list.extend_from_slice(p);
                    }
                    let mut d = (list.len() as u16).to_be_bytes().to_vec();
                    d.extend(list);
                    d
                }
                0x000d if !sigalgs => continue,
                0x000d => {
                    let algs: [u16; 8] = [
                        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
                    ];
                    let mut d = ((algs.len() * 2) as u16).to_be_bytes().to_vec();
                    for a in algs {
                        d.extend(a.to_be_bytes());
                    }
                    d
                }
                0x002b => vec![6, 0x2a, 0x2a, 0x03, 0x04, 0x03, 0x03],
                _ => vec![],
            };
            exts.extend(e.to_be_bytes());
            exts.extend((data.len() as u16).to_be_bytes());
            exts.extend(data);
        }
        let mut body = vec![0x03, 0x03];
        body.extend([7u8; 32]);
        body.push(0); // session id
        body.extend(((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            body.extend(c.to_be_bytes());
        }
        body.extend([1, 0]); // compression: null
        body.extend((exts.len() as u16).to_be_bytes());
        body.extend(exts);
        let mut msg = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        msg.extend(body);
        let mut rec = vec![22, 3, 1, (msg.len() >> 8) as u8, msg.len() as u8];
        rec.extend(msg);
        rec
    }

    #[test]
    fn the_foxio_example_fingerprint() {
        let hello = example_hello(true, &[b"h2", b"http/1.1"], true);
        assert_eq!(hello_progress(&hello), HelloProgress::Complete(hello.len()));
        assert_eq!(
            ja4(&hello).as_deref(),
            Some("t13d1516h2_8daaf6152771_e5627efa2ab1")
        );
    }

    #[test]
    fn no_signature_algorithms_hashes_extensions_alone() {
        let hello = example_hello(true, &[b"h2"], false);
        // One extension fewer (no 0x000d), and its hash from the spec.
        let expect = "t13d1515h2_8daaf6152771_";
        let got = ja4(&hello).unwrap();
        assert!(got.starts_with(expect), "{got}");
        // Without 000d the list differs from the spec's example; the hash is
        // of the sorted list alone, without an underscore.
        let mut text = String::new();
        hex_list(
            [
                0x0005u16, 0x000a, 0x000b, 0x0012, 0x0015, 0x0017, 0x001b, 0x0023, 0x002b, 0x002d,
                0x0033, 0x4469, 0xff01,
            ]
            .into_iter(),
            &mut text,
        );
        let mut hash = String::new();
        truncated_hash(&text, &mut hash);
        assert_eq!(&got[expect.len()..], hash);
    }

    #[test]
    fn spec_hash_of_extensions_without_signature_algorithms() {
        let mut out = String::new();
        truncated_hash(
            "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01",
            &mut out,
        );
        assert_eq!(out, "6d807ffa2a79");
    }

    #[test]
    fn no_sni_and_no_alpn() {
        let hello = example_hello(false, &[], true);
        let got = ja4(&hello).unwrap();
        assert!(got.starts_with("t13i151400_8daaf6152771_"), "{got}");
        // SNI and ALPN never enter the extension hash.
        assert!(got.ends_with("_e5627efa2ab1"), "{got}");
    }

    #[test]
    fn alpn_first_value_first_and_last_characters() {
        let hello = example_hello(true, &[b"http/1.1"], true);
        assert!(ja4(&hello).unwrap().starts_with("t13d1516h1_"));
        let mut out = String::new();
        alpn_label(Some(&[0xab, 0xcd]), &mut out);
        assert_eq!(out, "ad");
    }

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && is_grease(0x3a3a));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301));
    }

    #[test]
    fn a_hello_split_over_records_is_reassembled() {
        let hello = example_hello(true, &[b"h2"], true);
        let msg = &hello[5..];
        let (a, b) = msg.split_at(40);
        let mut split = vec![22, 3, 1, 0, a.len() as u8];
        split.extend_from_slice(a);
        split.extend([22, 3, 1, (b.len() >> 8) as u8, b.len() as u8]);
        split.extend_from_slice(b);
        for cut in 0..split.len() {
            assert_eq!(
                hello_progress(&split[..cut]),
                HelloProgress::NeedMore,
                "{cut}"
            );
        }
        assert_eq!(hello_progress(&split), HelloProgress::Complete(split.len()));
        assert_eq!(ja4(&split), ja4(&hello));
    }

    #[test]
    fn not_a_hello_and_truncated_bytes_never_panic() {
        assert_eq!(
            hello_progress(b"GET / HTTP/1.1\r\n"),
            HelloProgress::NotAHello
        );
        assert_eq!(
            hello_progress(&[22, 3, 1, 0, 4, 2, 0, 0, 0]),
            HelloProgress::NotAHello
        );
        let hello = example_hello(true, &[b"h2"], true);
        for cut in 0..hello.len() {
            let mut bytes = hello[..cut].to_vec();
            let _ = ja4(&bytes);
            // Corrupt lengths too.
            if cut > 10 {
                bytes[cut / 2] ^= 0xff;
                let _ = ja4(&bytes);
            }
        }
        assert!(ja4(b"\x16\x03\x01\x00\x01\x01").is_none());
    }

    #[test]
    fn ja4_shape() {
        assert!(is_ja4("t13d1516h2_8daaf6152771_e5627efa2ab1"));
        assert!(!is_ja4("t13d1516h2_8daaf6152771"));
        assert!(!is_ja4("x"));
    }
}
