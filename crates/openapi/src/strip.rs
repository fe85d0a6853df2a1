//! Removes object members, named by JSON pointers, from JSON *text*, so a
//! response that exposed fields is forwarded with every other byte exactly
//! as the upstream wrote it (key order, number spelling, escapes). Objects
//! and arrays with nothing to remove inside are copied verbatim; one that
//! loses a member is rewritten as its kept members joined by `,`. It reads
//! text the JSON parser already accepted, and still answers `None`, never
//! panics, on anything unexpected.

use std::collections::HashSet;

use crate::error::push_token;

/// `body` without the members at `pointers`; `None` if the text is not JSON.
pub fn splice_out(body: &[u8], pointers: &[String]) -> Option<Vec<u8>> {
    let targets: HashSet<&str> = pointers.iter().map(String::as_str).collect();
    let mut s = Splicer {
        text: body,
        pos: 0,
        targets,
        pointer: String::new(),
        out: Vec::with_capacity(body.len()),
    };
    s.ws();
    let start = s.pos;
    s.value(start)?;
    s.ws();
    (s.pos == body.len()).then_some(s.out)
}

struct Splicer<'a> {
    text: &'a [u8],
    pos: usize,
    targets: HashSet<&'a str>,
    pointer: String,
    out: Vec<u8>,
}

impl Splicer<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Whether anything is removed at or below the current pointer.
    fn touched(&self) -> bool {
        self.targets.iter().any(|t| {
            t.strip_prefix(self.pointer.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    /// Copies (or rewrites) the value starting at `self.pos` into `out`.
    fn value(&mut self, start: usize) -> Option<()> {
        match self.peek()? {
            b'{' | b'[' if self.touched() => {
                if self.peek()? == b'{' {
                    self.object()
                } else {
                    self.array()
                }
            }
            _ => {
                self.skip_value()?;
                self.out.extend_from_slice(&self.text[start..self.pos]);
                Some(())
            }
        }
    }

    fn object(&mut self) -> Option<()> {
        self.pos += 1;
        self.out.push(b'{');
        let mut first = true;
        loop {
            self.ws();
            match self.peek()? {
                b'}' => {
                    self.pos += 1;
                    self.out.push(b'}');
                    return Some(());
                }
                b',' => {
                    self.pos += 1;
                    continue;
                }
                b'"' => {}
                _ => return None,
            }
            let key_start = self.pos;
            self.skip_string()?;
            let key_end = self.pos;
            let key = decode_key(&self.text[key_start..key_end])?;
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.pos += 1;
            self.ws();
            let len = self.pointer.len();
            push_token(&mut self.pointer, &key);
            if self.targets.contains(self.pointer.as_str()) {
                self.skip_value()?;
            } else {
                if !first {
                    self.out.push(b',');
                }
                first = false;
                self.out.extend_from_slice(&self.text[key_start..key_end]);
                self.out.push(b':');
                let value_start = self.pos;
                self.value(value_start)?;
            }
            self.pointer.truncate(len);
        }
    }

    fn array(&mut self) -> Option<()> {
        self.pos += 1;
        self.out.push(b'[');
        let mut index = 0usize;
        loop {
            self.ws();
            match self.peek()? {
                b']' => {
                    self.pos += 1;
                    self.out.push(b']');
                    return Some(());
                }
                b',' => {
                    self.pos += 1;
                    continue;
                }
                _ => {}
            }
            if index > 0 {
                self.out.push(b',');
            }
            let len = self.pointer.len();
            self.pointer.push('/');
            self.pointer.push_str(&index.to_string());
            let start = self.pos;
            self.value(start)?;
            self.pointer.truncate(len);
            index += 1;
        }
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                // Depth counting is enough: strings are skipped whole.
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                self.pos += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
            _ => {
                let start = self.pos;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.'))
                {
                    self.pos += 1;
                }
                (self.pos > start).then_some(())
            }
        }
    }

    fn skip_string(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.pos += 1;
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => self.pos += 2,
                _ => self.pos += 1,
            }
        }
    }
}

/// A key as the parser saw it (escapes resolved), from its quoted text.
fn decode_key(quoted: &[u8]) -> Option<String> {
    let inner = quoted.get(1..quoted.len().checked_sub(1)?)?;
    if !inner.contains(&b'\\') {
        return std::str::from_utf8(inner).ok().map(str::to_owned);
    }
    serde_json::from_slice::<String>(quoted).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(body: &str, pointers: &[&str]) -> Option<String> {
        let pointers: Vec<String> = pointers.iter().map(|p| p.to_string()).collect();
        splice_out(body.as_bytes(), &pointers).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn members_are_removed_and_everything_else_kept() {
        let cases: &[(&str, &[&str], &str)] = &[
            (r#"{"a":1,"b":2,"c":3}"#, &["/b"], r#"{"a":1,"c":3}"#),
            (r#"{"a":1,"b":2}"#, &["/a"], r#"{"b":2}"#),
            (r#"{"a":1,"b":2}"#, &["/a", "/b"], r#"{}"#),
            (
                r#" { "z" : 1.50 , "x":{"y":[1, 2]} , "p": "s" } "#,
                &["/p"],
                r#"{"z":1.50,"x":{"y":[1, 2]}}"#,
            ),
            (
                r#"[{"id":1,"pw":"a"},{"id":2},{"id":3,"pw":"b"}]"#,
                &["/0/pw", "/2/pw"],
                r#"[{"id":1},{"id":2},{"id":3}]"#,
            ),
            (
                r#"{"a/b":1,"k":{"x~y":2,"q":"}\"{"}}"#,
                &["/a~1b", "/k/x~0y"],
                r#"{"k":{"q":"}\"{"}}"#,
            ),
            (r#"{"\u0061":1,"b":1e2}"#, &["/a"], r#"{"b":1e2}"#),
            (
                r#"{"keep":{"deep":{"x":1}},"n":null}"#,
                &["/nope"],
                r#"{"keep":{"deep":{"x":1}},"n":null}"#,
            ),
        ];
        for (body, pointers, want) in cases {
            let got = strip(body, pointers);
            assert_eq!(got.as_deref(), Some(*want), "{body} - {pointers:?}");
            // What is forwarded is still JSON.
            serde_json::from_str::<serde_json::Value>(&got.unwrap()).unwrap();
        }
    }

    #[test]
    fn text_that_is_not_json_gives_none() {
        for bad in [
            r#"{"a":1"#,
            r#"{"a" 1}"#,
            r#"{"a":1}}"#,
            "",
            r#"["#,
            r#"{"a":"#,
        ] {
            assert_eq!(strip(bad, &["/a"]), None, "{bad}");
        }
    }
}
