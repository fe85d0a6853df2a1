//! The fast path of JSON body validation: one pass over the raw bytes that
//! parses and validates at once, with no `serde_json::Value` tree and no
//! allocation unless a string carries escapes (one reused buffer).
//!
//! It only ever answers "clean" or "unsure". "Clean" means the document is
//! well-formed JSON that `serde_json` accepts and that the full validator
//! ([`crate::validate`]) would find nothing in: no failure, no exposure, no
//! cap exceeded. Anything else (an error, a schema keyword it does not
//! implement such as `allOf`/`oneOf`/`patternProperties`, an `enum` of
//! numbers or objects, nesting near the caps) is "unsure", and the caller
//! runs the full parse-then-validate path, which
//! produces the findings with their locations and reasons. So the fast path
//! can make validation cheaper but never changes a verdict or a location;
//! `tests/fast_differential.rs` checks that on many generated documents.

use serde_json::Value;

use crate::schema::{Additional, Schema, SchemaArena, SchemaId, TypeSet};
use crate::validate::{Direction, ValidationOptions};

/// Which schemas the fast path can apply, computed once when the spec is
/// compiled (indexed like the arena).
#[derive(Debug, Default)]
pub struct FastTable {
    simple: Vec<bool>,
    /// The declared and required keys of each object schema with few of
    /// them, for a lookup that compares one word per candidate.
    keys: Vec<Option<Box<[Key]>>>,
    /// What a string or a number must satisfy, decided per schema once so
    /// that an ordinary value is checked without walking every keyword.
    rules: Vec<Rules>,
}

/// The checks a scalar needs under one schema.
#[derive(Clone, Copy, Debug)]
struct Rules {
    string: StringRule,
    number: NumberRule,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StringRule {
    /// Strings are admitted and only `maxLength` (if any) applies.
    Length(Option<usize>),
    /// Every keyword is checked ([`Fast::check_string`]).
    Full,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumberRule {
    /// Any integer is admitted (no bounds, format, `multipleOf` or enum).
    AnyInteger,
    /// Every keyword is checked ([`check_number`]).
    Full,
}

fn rules(s: &Schema) -> Rules {
    let admits = |bits: u8| s.types.is_none_or(|t| t.0 & bits != 0);
    let string = if admits(TypeSet::STRING)
        && s.enum_values.is_none()
        && s.min_length.is_none()
        && s.pattern.is_none()
        && s.format.is_none()
    {
        StringRule::Length(s.max_length)
    } else {
        StringRule::Full
    };
    let number = if admits(TypeSet::INTEGER | TypeSet::NUMBER)
        && s.enum_values.is_none()
        && s.minimum.is_none()
        && s.maximum.is_none()
        && s.exclusive_minimum.is_none()
        && s.exclusive_maximum.is_none()
        && s.multiple_of.is_none()
        && s.format.is_none()
    {
        NumberRule::AnyInteger
    } else {
        NumberRule::Full
    };
    Rules { string, number }
}

/// A declared or required key of an object schema.
#[derive(Debug)]
struct Key {
    /// Its first eight bytes, little-endian, zero-padded.
    word: u64,
    name: Box<str>,
    property: Option<SchemaId>,
    /// Its bits in the schema's `required` list (0 when optional).
    required: u64,
}

impl Key {
    #[inline]
    fn matches(&self, key: &[u8], word: u64) -> bool {
        self.word == word
            && self.name.len() == key.len()
            && (key.len() <= 8 || self.name.as_bytes()[8..] == key[8..])
    }
}

/// Above this many keys, the schema's own (binary search) lookup is used.
const MAX_INDEXED_KEYS: usize = 24;

impl FastTable {
    pub fn new(arena: &SchemaArena) -> FastTable {
        FastTable {
            simple: arena.iter().map(|(_, s)| is_simple(s)).collect(),
            keys: arena.iter().map(|(_, s)| key_index(s)).collect(),
            rules: arena.iter().map(|(_, s)| rules(s)).collect(),
        }
    }

    #[inline]
    fn rules(&self, id: SchemaId) -> Rules {
        self.rules.get(id.0 as usize).copied().unwrap_or(Rules {
            string: StringRule::Full,
            number: NumberRule::Full,
        })
    }

    fn get(&self, id: SchemaId) -> bool {
        self.simple.get(id.0 as usize).copied().unwrap_or(false)
    }

    fn keys(&self, id: SchemaId) -> Option<&[Key]> {
        self.keys.get(id.0 as usize).and_then(|k| k.as_deref())
    }
}

fn key_index(s: &Schema) -> Option<Box<[Key]>> {
    if s.properties.len() + s.required.len() > MAX_INDEXED_KEYS || s.required.len() > 64 {
        return None;
    }
    let mut keys: Vec<Key> = s
        .properties
        .iter()
        .map(|(name, id)| Key {
            word: key_word(name.as_bytes()),
            name: name.clone(),
            property: Some(*id),
            required: 0,
        })
        .collect();
    for (i, name) in s.required.iter().enumerate() {
        match keys.iter_mut().find(|k| k.name == *name) {
            Some(k) => k.required |= 1 << i,
            None => keys.push(Key {
                word: key_word(name.as_bytes()),
                name: name.clone(),
                property: None,
                required: 1 << i,
            }),
        }
    }
    Some(keys.into_boxed_slice())
}

/// The first eight bytes of a key as a little-endian word, zero-padded.
#[inline]
fn key_word(key: &[u8]) -> u64 {
    if let Some(head) = key.first_chunk::<8>() {
        return u64::from_le_bytes(*head);
    }
    key_word_short(key)
}

/// [`key_word`] of a key found at `start` in `doc`: one load and a mask
/// when eight bytes follow it in the document (they do, but at its end).
#[inline]
fn key_word_in(doc: &[u8], start: usize, key: &[u8]) -> u64 {
    if key.len() >= 8 {
        return key_word(key);
    }
    match doc.get(start..).and_then(|rest| rest.first_chunk::<8>()) {
        Some(chunk) => u64::from_le_bytes(*chunk) & ((1u64 << (8 * key.len())) - 1),
        None => key_word_short(key),
    }
}

fn key_word_short(key: &[u8]) -> u64 {
    let mut word = 0u64;
    for (i, &c) in key.iter().enumerate() {
        word |= u64::from(c) << (8 * i);
    }
    word
}

/// A schema whose keywords the fast path implements exactly.
fn is_simple(s: &Schema) -> bool {
    !s.never
        && s.const_value.is_none()
        && s.enum_values.as_ref().is_none_or(|values| {
            values
                .iter()
                .all(|e| matches!(e, Value::String(_) | Value::Bool(_) | Value::Null))
        })
        && s.prefix_items.is_empty()
        && !s.unique_items
        && s.contains.is_none()
        && s.pattern_properties.is_empty()
        && s.unevaluated.is_none()
        && s.property_names.is_none()
        && s.min_properties.is_none()
        && s.dependent_required.is_empty()
        && s.all_of.is_empty()
        && s.any_of.is_empty()
        && s.one_of.is_empty()
        && s.not.is_none()
        && s.if_then_else.is_none()
        && s.discriminator.is_none()
        && s.required.len() <= 64
}

/// Whether `bytes` is one JSON document that the full validator, given the
/// same schema and options, would accept without a single error or
/// exposure. `schema: None` checks well-formedness only (a media type
/// without a schema). `false` means "unsure": run the full path.
pub fn is_clean(
    arena: &SchemaArena,
    table: &FastTable,
    schema: Option<SchemaId>,
    bytes: &[u8],
    options: &ValidationOptions,
) -> bool {
    // serde_json refuses invalid UTF-8 anywhere. Outside strings any byte
    // above 0x7F is a syntax error (unsure) here too, so only the strings
    // that hold one are checked, as they are read.
    let mut f = Fast {
        b: bytes,
        pos: 0,
        arena,
        table,
        options,
        request: options.direction == Direction::Request,
        // Stays clear of the full path's depth checks and of the gateway's
        // and serde_json's nesting limits (64 and 128).
        depth_cap: options.max_depth.min(60),
        scratch: String::new(),
    };
    let root = match schema {
        Some(id) if table.get(id) => Node::Schema(arena.get(id), id),
        Some(_) => return false,
        None => Node::Skip,
    };
    f.document(root).is_ok()
}

/// Whether a scalar parameter value, typed as
/// [`crate::params::coerce_scalar`] types it, is one the full validator
/// would find nothing in against `schema` (the same "clean" or "unsure"
/// answer as [`is_clean`], for a value that never was JSON text).
pub fn scalar_is_clean(
    arena: &SchemaArena,
    table: &FastTable,
    schema: SchemaId,
    value: &crate::params::Scalar<'_>,
    options: &ValidationOptions,
) -> bool {
    use crate::params::Scalar;
    if !table.get(schema) {
        return false;
    }
    let s = arena.get(schema);
    let result = match value {
        Scalar::Number(n) => check_number(s, n),
        Scalar::Bool(b) => check_literal(s, TypeSet::BOOLEAN, Some(*b)),
        Scalar::Null => check_literal(s, TypeSet::NULL, None),
        Scalar::Text(text) => {
            let mut f = Fast {
                b: &[],
                pos: 0,
                arena,
                table,
                options,
                request: options.direction == Direction::Request,
                depth_cap: options.max_depth.min(60),
                scratch: String::new(),
            };
            let ascii = text.is_ascii();
            f.check_string(Node::Schema(s, schema), Text::Given { text, ascii })
        }
    };
    result.is_ok()
}

/// The fast path gives up: the full path decides.
struct Unsure;

type R<T> = Result<T, Unsure>;

/// What applies to a value.
#[derive(Clone, Copy)]
enum Node<'s> {
    /// Nothing: only well-formedness (no schema, or a response value no
    /// schema describes).
    Skip,
    /// No schema, but the request caps (string and array length, depth).
    Uncovered,
    Schema(&'s Schema, SchemaId),
}

/// A string just parsed: a span of the document (made a `str` only when a
/// keyword needs one), decoded into `scratch`, or given (a parameter).
#[derive(Clone, Copy)]
enum Text<'a> {
    Span {
        start: usize,
        end: usize,
        ascii: bool,
    },
    Decoded {
        ascii: bool,
    },
    Given {
        text: &'a str,
        ascii: bool,
    },
}

/// `b[start..end]` as text (unsure when it is not UTF-8).
#[inline]
fn utf8(b: &[u8], start: usize, end: usize) -> R<&str> {
    b.get(start..end)
        .and_then(|t| std::str::from_utf8(t).ok())
        .ok_or(Unsure)
}

/// Characters in valid UTF-8: the bytes that do not continue a character.
fn char_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b as i8) >= -0x40).count()
}

struct Fast<'a> {
    /// The document; its strings are valid UTF-8 once read.
    b: &'a [u8],
    pos: usize,
    arena: &'a SchemaArena,
    table: &'a FastTable,
    options: &'a ValidationOptions,
    request: bool,
    depth_cap: usize,
    scratch: String,
}

impl<'a> Fast<'a> {
    fn document(&mut self, root: Node<'a>) -> R<()> {
        self.ws();
        self.value(root, 0)?;
        self.ws();
        if self.pos == self.b.len() {
            Ok(())
        } else {
            Err(Unsure)
        }
    }

    #[inline]
    /// After an object member or array item: `,` (more follow) or `close`
    /// (true: the container ends); anything else is unsure.
    fn end_of_member(&mut self, close: u8) -> R<bool> {
        self.ws();
        let c = self.peek()?;
        self.pos += 1;
        if c == b',' {
            self.ws();
            Ok(false)
        } else if c == close {
            Ok(true)
        } else {
            Err(Unsure)
        }
    }

    /// Skips white space. Compact documents have none: one comparison.
    #[inline(always)]
    fn ws(&mut self) {
        if self.b.get(self.pos).is_some_and(|&c| c > b' ') {
            return;
        }
        self.ws_run();
    }

    fn ws_run(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn peek(&self) -> R<u8> {
        self.b.get(self.pos).copied().ok_or(Unsure)
    }

    fn child(&self, id: SchemaId) -> R<Node<'a>> {
        if self.table.get(id) {
            Ok(Node::Schema(self.arena.get(id), id))
        } else {
            Err(Unsure)
        }
    }

    /// What applies to a value no schema describes.
    fn uncovered(&self) -> Node<'a> {
        if self.request {
            Node::Uncovered
        } else {
            Node::Skip
        }
    }

    fn value(&mut self, node: Node<'a>, depth: usize) -> R<()> {
        match self.peek()? {
            b'{' => self.object(node, depth),
            b'[' => self.array(node, depth),
            b'"' => {
                let text = self.string()?;
                self.check_string(node, text)
            }
            b't' => self.literal(b"true", node, TypeSet::BOOLEAN, Some(true)),
            b'f' => self.literal(b"false", node, TypeSet::BOOLEAN, Some(false)),
            b'n' => self.literal(b"null", node, TypeSet::NULL, None),
            b'-' | b'0'..=b'9' => self.number(node),
            _ => Err(Unsure),
        }
    }

    #[inline]
    fn literal(&mut self, word: &[u8], node: Node<'a>, bit: u8, boolean: Option<bool>) -> R<()> {
        if !self.b[self.pos..].starts_with(word) {
            return Err(Unsure);
        }
        self.pos += word.len();
        match node {
            Node::Schema(s, _) => check_literal(s, bit, boolean),
            _ => Ok(()),
        }
    }

    fn enter(&self, depth: usize) -> R<()> {
        if depth > 0 && depth >= self.depth_cap {
            Err(Unsure)
        } else {
            Ok(())
        }
    }

    fn object(&mut self, node: Node<'a>, depth: usize) -> R<()> {
        self.enter(depth)?;
        self.pos += 1; // '{'
        let schema = match node {
            Node::Schema(s, id) => {
                types_allow(s, TypeSet::OBJECT)?;
                if s.enum_values.is_some() {
                    return Err(Unsure);
                }
                Some((s, id))
            }
            _ => None,
        };
        let mut count = 0usize;
        let mut seen_required = 0u64;
        self.ws();
        if self.peek()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                if self.peek()? != b'"' {
                    return Err(Unsure);
                }
                let key_start = self.pos + 1;
                let key = self.string()?;
                self.ws();
                if self.peek()? != b':' {
                    return Err(Unsure);
                }
                self.pos += 1;
                self.ws();
                count += 1;
                let child = match schema {
                    None => node,
                    // Keys are spans of the document but for escaped
                    // ones: only those borrow the scratch buffer (moving
                    // it out and back per key cost ~8 instructions).
                    Some((s, id)) => match key {
                        Text::Span { start, end, .. } => {
                            let b = self.b;
                            let k = b.get(start..end).ok_or(Unsure)?;
                            let word = key_word_in(b, key_start, k);
                            self.property_node(s, id, k, word, &mut seen_required)?
                        }
                        Text::Decoded { .. } => {
                            let scratch = std::mem::take(&mut self.scratch);
                            let bytes = scratch.as_bytes();
                            let child = self.property_node(
                                s,
                                id,
                                bytes,
                                key_word(bytes),
                                &mut seen_required,
                            );
                            self.scratch = scratch;
                            child?
                        }
                        Text::Given { text, .. } => {
                            let bytes = text.as_bytes();
                            self.property_node(s, id, bytes, key_word(bytes), &mut seen_required)?
                        }
                    },
                };
                self.value(child, depth + 1)?;
                if self.end_of_member(b'}')? {
                    break;
                }
            }
        }
        if let Some((s, _)) = schema {
            if s.max_properties.is_some_and(|max| count > max) {
                return Err(Unsure);
            }
            let all = if s.required.len() == 64 {
                u64::MAX
            } else {
                (1u64 << s.required.len()) - 1
            };
            if seen_required != all {
                for (i, name) in s.required.iter().enumerate() {
                    if seen_required & (1 << i) != 0 {
                        continue;
                    }
                    // A readOnly property is required in responses only, a
                    // writeOnly one in requests only (as the full path does).
                    let skip = s.property(name).is_some_and(|p| {
                        let p = self.arena.get(p);
                        if self.request {
                            p.read_only
                        } else {
                            p.write_only
                        }
                    });
                    if !skip {
                        return Err(Unsure);
                    }
                }
            }
        }
        Ok(())
    }

    /// What applies to the value of key `key` (first word `word`, see
    /// [`key_word`]) in an object of schema `s`.
    #[inline]
    fn property_node(
        &self,
        s: &'a Schema,
        id: SchemaId,
        key: &[u8],
        word: u64,
        seen_required: &mut u64,
    ) -> R<Node<'a>> {
        let declared = match self.table.keys(id) {
            Some(keys) => keys.iter().find(|k| k.matches(key, word)).and_then(|k| {
                *seen_required |= k.required;
                k.property
            }),
            None => {
                // Bytes of a document that was valid UTF-8, cut at quotes.
                let key = std::str::from_utf8(key).map_err(|_| Unsure)?;
                for (i, name) in s.required.iter().enumerate() {
                    if **name == *key {
                        *seen_required |= 1 << i;
                    }
                }
                s.property(key)
            }
        };
        if let Some(p) = declared {
            let ps = self.arena.get(p);
            if self.request && ps.read_only && self.options.refuse_read_only {
                return Err(Unsure);
            }
            if !self.request && ps.write_only {
                return Err(Unsure);
            }
            return self.child(p);
        }
        match s.additional {
            Additional::Allow => Ok(self.uncovered()),
            Additional::Schema(p) => self.child(p),
            Additional::Forbid => Err(Unsure),
            Additional::Unspecified => {
                let closed = s.describes_object && (!self.request || self.options.strict_objects);
                if closed {
                    Err(Unsure)
                } else {
                    Ok(self.uncovered())
                }
            }
        }
    }

    fn array(&mut self, node: Node<'a>, depth: usize) -> R<()> {
        self.enter(depth)?;
        self.pos += 1; // '['
        let (item, schema) = match node {
            Node::Schema(s, _) => {
                types_allow(s, TypeSet::ARRAY)?;
                if s.enum_values.is_some() {
                    return Err(Unsure);
                }
                let item = match s.items {
                    Some(id) => self.child(id)?,
                    None => self.uncovered(),
                };
                (item, Some(s))
            }
            other => (other, None),
        };
        let mut count = 0usize;
        self.ws();
        if self.peek()? == b']' {
            self.pos += 1;
        } else {
            loop {
                count += 1;
                self.value(item, depth + 1)?;
                if self.end_of_member(b']')? {
                    break;
                }
            }
        }
        let capped = match node {
            Node::Skip => false,
            Node::Uncovered => true,
            Node::Schema(s, _) => self.request && s.max_items.is_none(),
        };
        if capped && count > self.options.max_array_items {
            return Err(Unsure);
        }
        if let Some(s) = schema
            && (s.min_items.is_some_and(|min| count < min)
                || s.max_items.is_some_and(|max| count > max))
        {
            return Err(Unsure);
        }
        Ok(())
    }

    /// Parses a string (the cursor on its opening quote). Escapes are
    /// decoded into `scratch`; invalid ones, control characters and lone
    /// surrogates are "unsure" (serde_json refuses them).
    #[inline(always)]
    fn string(&mut self) -> R<Text<'a>> {
        self.pos += 1; // '"'
        let start = self.pos;
        let b = self.b;
        let mut ascii = true;
        let mut i = start;
        loop {
            // Eight bytes at a time: the first special one (quote,
            // backslash, control, non-ASCII) is found from the word's mask;
            // the last few bytes of the input one by one.
            let c = match b.get(i..i + 8) {
                Some(chunk) => {
                    let mask =
                        special_mask(u64::from_le_bytes(chunk.try_into().map_err(|_| Unsure)?));
                    if mask == 0 {
                        i += 8;
                        continue;
                    }
                    i += (mask.trailing_zeros() / 8) as usize;
                    b[i]
                }
                None => *b.get(i).ok_or(Unsure)?,
            };
            match CLASS[c as usize] {
                PLAIN => {}
                QUOTE => {
                    self.pos = i + 1;
                    if !ascii {
                        std::str::from_utf8(&b[start..i]).map_err(|_| Unsure)?;
                    }
                    return Ok(Text::Span {
                        start,
                        end: i,
                        ascii,
                    });
                }
                HIGH => ascii = false,
                BACKSLASH => break,
                _ => return Err(Unsure),
            }
            i += 1;
        }
        // Escapes: decode into the scratch buffer.
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        out.push_str(utf8(b, start, i)?);
        let result = self.decode_rest(i, &mut out, &mut ascii);
        self.scratch = out;
        result.map(|()| Text::Decoded { ascii })
    }

    fn decode_rest(&mut self, mut i: usize, out: &mut String, ascii: &mut bool) -> R<()> {
        let b = self.b;
        loop {
            let run_start = i;
            let mut run_ascii = true;
            loop {
                match b.get(i) {
                    None => return Err(Unsure),
                    Some(b'"') | Some(b'\\') => break,
                    Some(0..=0x1f) => return Err(Unsure),
                    Some(0x80..) => run_ascii = false,
                    Some(_) => {}
                }
                i += 1;
            }
            *ascii &= run_ascii;
            out.push_str(utf8(b, run_start, i)?);
            if b[i] == b'"' {
                self.pos = i + 1;
                return Ok(());
            }
            // A backslash.
            let esc = *b.get(i + 1).ok_or(Unsure)?;
            i += 2;
            let c = match esc {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hi = hex4(b, i)?;
                    i += 4;
                    let code = match hi {
                        0xD800..=0xDBFF => {
                            if b.get(i) != Some(&b'\\') || b.get(i + 1) != Some(&b'u') {
                                return Err(Unsure);
                            }
                            let lo = hex4(b, i + 2)?;
                            if !(0xDC00..=0xDFFF).contains(&lo) {
                                return Err(Unsure);
                            }
                            i += 6;
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        }
                        0xDC00..=0xDFFF => return Err(Unsure),
                        other => other,
                    };
                    char::from_u32(code).ok_or(Unsure)?
                }
                _ => return Err(Unsure),
            };
            if !c.is_ascii() {
                *ascii = false;
            }
            out.push(c);
        }
    }

    /// The common cases without a call: a value no schema covers, and an
    /// ASCII span under a length-only rule (bytes are chars).
    #[inline(always)]
    fn check_string(&mut self, node: Node<'a>, text: Text<'a>) -> R<()> {
        match (node, text) {
            (Node::Skip, _) => Ok(()),
            (
                Node::Schema(_, id),
                Text::Span {
                    start,
                    end,
                    ascii: true,
                },
            ) if matches!(self.table.rules(id).string, StringRule::Length(Some(_))) => {
                match self.table.rules(id).string {
                    StringRule::Length(Some(max)) if end - start > max => Err(Unsure),
                    _ => Ok(()),
                }
            }
            _ => self.check_string_full(node, text),
        }
    }

    fn check_string_full(&mut self, node: Node<'a>, text: Text<'a>) -> R<()> {
        let (schema, id) = match node {
            Node::Skip => return Ok(()),
            Node::Uncovered => (None, SchemaId(0)),
            Node::Schema(s, id) => (Some(s), id),
        };
        let (bytes, ascii) = match text {
            Text::Span { start, end, ascii } => (self.b.get(start..end).ok_or(Unsure)?, ascii),
            Text::Decoded { ascii } => (self.scratch.as_bytes(), ascii),
            Text::Given { text, ascii } => (text.as_bytes(), ascii),
        };
        let chars = |t: &[u8]| if ascii { t.len() } else { char_count(t) };
        let cap = self.options.max_string_length;
        let Some(s) = schema else {
            // Uncovered (request): only the length cap.
            return if bytes.len() > cap && chars(bytes) > cap {
                Err(Unsure)
            } else {
                Ok(())
            };
        };
        if let StringRule::Length(max) = self.table.rules(id).string {
            // Only a length applies: the byte length bounds the char count.
            let limit = match max {
                Some(max) => max,
                None if self.request => cap,
                None => return Ok(()),
            };
            return if bytes.len() > limit && chars(bytes) > limit {
                Err(Unsure)
            } else {
                Ok(())
            };
        }
        let chars = |t: &str| chars(t.as_bytes());
        let text: &str = match text {
            Text::Span { start, end, .. } => utf8(self.b, start, end)?,
            Text::Decoded { .. } => self.scratch.as_str(),
            Text::Given { text, .. } => text,
        };
        types_allow(s, TypeSet::STRING)?;
        if let Some(values) = &s.enum_values
            && !values
                .iter()
                .any(|e| matches!(e, Value::String(v) if v == text))
        {
            return Err(Unsure);
        }
        if s.min_length.is_some() || s.max_length.is_some() {
            let len = chars(text);
            if s.min_length.is_some_and(|min| len < min)
                || s.max_length.is_some_and(|max| len > max)
            {
                return Err(Unsure);
            }
        }
        // The request cap applies where the schema sets no maxLength.
        if self.request && s.max_length.is_none() && text.len() > cap && chars(text) > cap {
            return Err(Unsure);
        }
        if let Some(p) = &s.pattern
            && !p.is_match(text)
        {
            return Err(Unsure);
        }
        if let Some(format) = s.format
            && format.check_str(text) == Some(false)
        {
            return Err(Unsure);
        }
        Ok(())
    }

    fn number(&mut self, node: Node<'a>) -> R<()> {
        let b = self.b;
        let start = self.pos;
        let mut i = start;
        let negative = b[i] == b'-';
        if negative {
            i += 1;
        }
        let int_start = i;
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while matches!(b.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => return Err(Unsure),
        }
        let int_end = i;
        let mut integer = true;
        if b.get(i) == Some(&b'.') {
            integer = false;
            i += 1;
            let digits = i;
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            if i == digits {
                return Err(Unsure);
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            integer = false;
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let digits = i;
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            if i == digits {
                return Err(Unsure);
            }
        }
        self.pos = i;
        // A plain integer of 64 bits is read here exactly as serde_json
        // stores it; any other literal (fraction, exponent, `-0`, beyond 64
        // bits) is read by serde_json itself, so that its value, and thus
        // every bound, is exactly the full path's.
        let plain = if integer {
            int_value(&b[int_start..int_end], negative).ok()
        } else {
            None
        };
        let is_plain = plain.is_some();
        let n = match plain {
            Some(n) => n,
            None => {
                serde_json::from_slice::<serde_json::Number>(&b[start..i]).map_err(|_| Unsure)?
            }
        };
        let Node::Schema(s, id) = node else {
            return Ok(());
        };
        if is_plain && self.table.rules(id).number == NumberRule::AnyInteger {
            return Ok(());
        }
        check_number(s, &n)
    }
}

/// `true`, `false` (`boolean` set) or `null` against a simple schema.
fn check_literal(s: &Schema, bit: u8, boolean: Option<bool>) -> R<()> {
    types_allow(s, bit)?;
    if let Some(values) = &s.enum_values
        && !values.iter().any(|e| match (e, boolean) {
            (Value::Bool(x), Some(y)) => *x == y,
            (Value::Null, None) => true,
            _ => false,
        })
    {
        return Err(Unsure);
    }
    Ok(())
}

/// A number (as serde_json holds it) against a schema the table calls simple.
fn check_number(s: &Schema, n: &serde_json::Number) -> R<()> {
    {
        if s.enum_values.is_some() {
            return Err(Unsure);
        }
        let Some(x) = n.as_f64() else {
            return Err(Unsure);
        };
        let integral = n.is_i64() || n.is_u64() || x.fract() == 0.0;
        let bits = if integral {
            TypeSet::INTEGER | TypeSet::NUMBER
        } else {
            TypeSet::NUMBER
        };
        types_allow(s, bits)?;
        if s.minimum.is_some_and(|min| x < min)
            || s.exclusive_minimum.is_some_and(|min| x <= min)
            || s.maximum.is_some_and(|max| x > max)
            || s.exclusive_maximum.is_some_and(|max| x >= max)
        {
            return Err(Unsure);
        }
        if let Some(m) = s.multiple_of {
            let q = x / m;
            if !q.is_finite() || (q - q.round()).abs() > 1e-9 {
                return Err(Unsure);
            }
        }
        if let Some(format) = s.format
            && format.check_number(n) == Some(false)
        {
            return Err(Unsure);
        }
        Ok(())
    }
}

const PLAIN: u8 = 0;
const QUOTE: u8 = 1;
const BACKSLASH: u8 = 2;
const CONTROL: u8 = 3;
const HIGH: u8 = 4;

/// What each byte is inside a JSON string.
static CLASS: [u8; 256] = {
    let mut t = [PLAIN; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i < 0x20 {
            CONTROL
        } else if i >= 0x80 {
            HIGH
        } else if i == b'"' as usize {
            QUOTE
        } else if i == b'\\' as usize {
            BACKSLASH
        } else {
            PLAIN
        };
        i += 1;
    }
    t
};

/// The high bit of each byte of the (little-endian) word that is a quote,
/// a backslash, a control character or non-ASCII: the classic "has zero
/// byte" bit tricks. Bytes above the first flagged one may be flagged
/// wrongly, never the first one itself, so `trailing_zeros / 8` is exact.
#[inline]
fn special_mask(w: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let quote = zero(w ^ (LO * u64::from(b'"')));
    let backslash = zero(w ^ (LO * u64::from(b'\\')));
    let control = w.wrapping_sub(LO * 0x20) & !w & HI;
    quote | backslash | control | (w & HI)
}

/// The schema's `type` admits a value with these type bits.
#[inline]
fn types_allow(s: &Schema, bits: u8) -> R<()> {
    match s.types {
        Some(t) if t.0 & bits == 0 => Err(Unsure),
        _ => Ok(()),
    }
}

/// The integer as serde_json stores it (u64 for non-negative, i64 for
/// negative); beyond 64 bits, or `-0`, is left to serde_json.
fn int_value(digits: &[u8], negative: bool) -> R<serde_json::Number> {
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(Unsure)?;
    }
    if !negative {
        return Ok(serde_json::Number::from(v));
    }
    if v == 0 || v > (i64::MAX as u64) + 1 {
        return Err(Unsure);
    }
    Ok(serde_json::Number::from((v as i64).wrapping_neg()))
}

fn hex4(b: &[u8], i: usize) -> R<u32> {
    let digits = b.get(i..i + 4).ok_or(Unsure)?;
    let mut v = 0u32;
    for &d in digits {
        let n = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(Unsure),
        };
        v = v * 16 + u32::from(n);
    }
    Ok(v)
}

impl crate::spec::Spec {
    /// [`is_clean`] with this spec's arena and table: whether `bytes` is a
    /// JSON document the full validator would find nothing in, against
    /// `schema` (`None`: well-formedness only).
    pub fn json_is_clean(
        &self,
        schema: Option<SchemaId>,
        bytes: &[u8],
        options: &ValidationOptions,
    ) -> bool {
        is_clean(&self.arena, &self.fast, schema, bytes, options)
    }

    /// [`scalar_is_clean`] with this spec's arena and table.
    pub fn scalar_is_clean(
        &self,
        schema: SchemaId,
        value: &crate::params::Scalar<'_>,
        options: &ValidationOptions,
    ) -> bool {
        scalar_is_clean(&self.arena, &self.fast, schema, value, options)
    }
}
