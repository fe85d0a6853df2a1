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
//!
//! Per byte it must stay cheap: what each schema asks of a value is decided
//! once, when the spec is compiled ([`FastTable`]: one [`FastNode`] per
//! schema, with its object keys, their children and their flags resolved),
//! so the parser never walks a keyword list for an ordinary value; object
//! keys are matched in the order the previous key predicts, by comparing
//! the document's bytes with the name and its closing quote at once.

use std::sync::atomic::{AtomicU8, Ordering};

use serde_json::Value;

use crate::schema::{Additional, Schema, SchemaArena, SchemaId, TypeSet};
use crate::validate::{Direction, ValidationOptions};

/// Which schemas the fast path can apply and what each asks of a value,
/// computed once when the spec is compiled: one node per schema of the
/// arena (same index), then two for values no schema describes.
#[derive(Debug, Default)]
pub struct FastTable {
    nodes: Vec<FastNode>,
}

/// Index of a [`FastNode`] in its table.
type NodeId = u32;

/// Every type bit: a schema without `type`.
const ALL_TYPES: u8 = 0x7F;

/// What one schema asks of a value, flattened for the parser.
#[derive(Debug)]
struct FastNode {
    /// The fast path implements every keyword of the schema.
    simple: bool,
    /// The type bits `type` admits ([`ALL_TYPES`] without one).
    types: u8,
    /// An `enum` is given (objects and arrays are then unsure).
    has_enum: bool,
    string: StringRule,
    number: NumberRule,
    keys: Keys,
    additional: AdditionalRule,
    /// Every bit of the `required` list.
    required_all: u64,
    max_properties: usize,
    items: Items,
    min_items: usize,
    max_items: usize,
    /// The request's array cap applies (no `maxItems`).
    capped_in_requests: bool,
    /// The schema it was made from (none for the two synthetic nodes).
    schema: Option<SchemaId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StringRule {
    /// Strings are admitted and only `maxLength` (if any; else the
    /// request's cap) applies.
    Length(Option<usize>),
    /// Every keyword is checked ([`Fast::check_string_full`]).
    Full,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumberRule {
    /// Any integer is admitted (no bounds, format, `multipleOf` or enum).
    AnyInteger,
    /// Any well-formed number (no schema).
    Free,
    /// Every keyword is checked ([`check_number`]).
    Full,
}

/// How the members of an object find what applies to their values.
#[derive(Debug)]
enum Keys {
    /// The declared and required keys, and the one that came first in the
    /// last object.
    Indexed(Box<[Key]>, AtomicU8),
    /// Too many keys to index: the schema's own lookup.
    Lookup,
    /// No schema: every member value is under this same node.
    Same,
}

/// Undeclared members of an object.
#[derive(Clone, Copy, Debug)]
enum AdditionalRule {
    /// Allowed, no schema: the request caps only.
    Uncovered,
    Node(NodeId),
    /// Refused, or under a schema the fast path cannot apply.
    Unsure,
    /// Not written: open, or closed for responses and `strict_objects`.
    Unspecified {
        describes_object: bool,
    },
}

/// The items of an array.
#[derive(Clone, Copy, Debug)]
enum Items {
    Node(NodeId),
    /// Under a schema the fast path cannot apply.
    Unsure,
    Uncovered,
    /// No schema: items are under this same node.
    Same,
}

/// Key flags, tested against [`Fast::deny`].
const READ_ONLY: u8 = 1;
const WRITE_ONLY: u8 = 2;
const NOT_SIMPLE: u8 = 4;
/// Required but not declared: the value is an undeclared member.
const UNDECLARED: u8 = 8;

/// A declared or required key of an object schema.
#[derive(Debug)]
struct Key {
    name: Box<[u8]>,
    /// Its first eight bytes, little-endian, zero-padded (for a key that
    /// was scanned: [`key_word`]).
    word: u64,
    /// The name followed by its closing quote and the colon (`name":`).
    spelled: Box<[u8]>,
    /// Its first sixteen bytes as two little-endian words, and the masks of
    /// the bytes that count: compared with the document in two loads.
    quoted: [u64; 2],
    mask: [u64; 2],
    /// Those bytes beyond the first sixteen.
    tail: Box<[u8]>,
    /// The name has no byte that a JSON string would escape, so equal bytes
    /// in the document are this key.
    literal: bool,
    child: NodeId,
    flags: u8,
    /// Its bits in the schema's `required` list (0 when optional).
    required: u64,
    /// The key that followed it last time (an index in the same list).
    next: AtomicU8,
}

impl Key {
    #[inline]
    fn matches(&self, key: &[u8], word: u64) -> bool {
        self.word == word
            && self.name.len() == key.len()
            && (key.len() <= 8 || self.name[8..] == key[8..])
    }

    /// Whether the document, just after an opening quote at `pos`, holds
    /// exactly this key, its closing quote and a colon (written without
    /// white space before the colon, as compact and pretty-printed JSON
    /// both are; any other spelling is matched by a scan).
    #[inline(always)]
    fn at(&self, b: &[u8], pos: usize) -> bool {
        let Some(rest) = b.get(pos..) else {
            return false;
        };
        let Some((head, more)) = rest.split_first_chunk::<16>() else {
            // The last bytes of the document.
            return self.literal && rest.starts_with(&self.spelled);
        };
        let (w0, w1) = head.split_at(8);
        let word = |w: &[u8]| u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        self.literal
            && word(w0) & self.mask[0] == self.quoted[0]
            && word(w1) & self.mask[1] == self.quoted[1]
            && (self.tail.is_empty() || more.starts_with(&self.tail))
    }

    fn new(name: &str, child: NodeId, flags: u8, required: u64) -> Key {
        let name = name.as_bytes();
        let mut spelled = name.to_vec();
        spelled.extend_from_slice(b"\":");
        let part = |from: usize| {
            let bytes = spelled.get(from..).unwrap_or_default();
            let n = bytes.len().min(8);
            let mask = match n {
                8 => u64::MAX,
                n => (1u64 << (8 * n)) - 1,
            };
            (key_word_short(&bytes[..n]), mask)
        };
        let (q0, m0) = part(0);
        let (q1, m1) = part(8);
        Key {
            name: name.into(),
            word: key_word(name),
            tail: spelled.get(16..).unwrap_or_default().into(),
            spelled: spelled.into(),
            quoted: [q0, q1],
            mask: [m0, m1],
            literal: name.iter().all(|&c| CLASS[c as usize] == PLAIN),
            child,
            flags,
            required,
            next: AtomicU8::new(0),
        }
    }
}

/// Above this many keys, the schema's own (binary search) lookup is used.
const MAX_INDEXED_KEYS: usize = 24;

impl FastTable {
    pub fn new(arena: &SchemaArena) -> FastTable {
        let simple: Vec<bool> = arena.iter().map(|(_, s)| is_simple(s)).collect();
        let child_flags = |id: SchemaId| {
            let p = arena.get(id);
            let mut flags = 0;
            if p.read_only {
                flags |= READ_ONLY;
            }
            if p.write_only {
                flags |= WRITE_ONLY;
            }
            if !simple[id.0 as usize] {
                flags |= NOT_SIMPLE;
            }
            flags
        };
        let mut nodes: Vec<FastNode> = arena
            .iter()
            .map(|(id, s)| {
                let (string, number) = rules(s);
                let keys = match key_index(s, &child_flags) {
                    Some(keys) => Keys::Indexed(keys, AtomicU8::new(0)),
                    None => Keys::Lookup,
                };
                let additional = match s.additional {
                    Additional::Allow => AdditionalRule::Uncovered,
                    Additional::Schema(p) if simple[p.0 as usize] => AdditionalRule::Node(p.0),
                    Additional::Schema(_) | Additional::Forbid => AdditionalRule::Unsure,
                    Additional::Unspecified => AdditionalRule::Unspecified {
                        describes_object: s.describes_object,
                    },
                };
                let items = match s.items {
                    Some(p) if simple[p.0 as usize] => Items::Node(p.0),
                    Some(_) => Items::Unsure,
                    None => Items::Uncovered,
                };
                FastNode {
                    simple: simple[id.0 as usize],
                    types: s.types.map_or(ALL_TYPES, |t| t.0),
                    has_enum: s.enum_values.is_some(),
                    string,
                    number,
                    keys,
                    additional,
                    required_all: match s.required.len() {
                        n if n >= 64 => u64::MAX,
                        n => (1u64 << n) - 1,
                    },
                    max_properties: s.max_properties.unwrap_or(usize::MAX),
                    items,
                    min_items: s.min_items.unwrap_or(0),
                    max_items: s.max_items.unwrap_or(usize::MAX),
                    capped_in_requests: s.max_items.is_none(),
                    schema: Some(id),
                }
            })
            .collect();
        // Values no schema describes: well-formedness only (SKIP), or the
        // request caps too (UNCOVERED).
        let free = |string, capped_in_requests| FastNode {
            simple: true,
            types: ALL_TYPES,
            has_enum: false,
            string,
            number: NumberRule::Free,
            keys: Keys::Same,
            additional: AdditionalRule::Uncovered,
            required_all: 0,
            max_properties: usize::MAX,
            items: Items::Same,
            min_items: 0,
            max_items: usize::MAX,
            capped_in_requests,
            schema: None,
        };
        nodes.push(free(StringRule::Length(Some(usize::MAX)), false));
        nodes.push(free(StringRule::Length(None), true));
        FastTable { nodes }
    }

    /// The node of values no schema describes, checked for
    /// well-formedness only.
    fn skip(&self) -> NodeId {
        self.nodes.len().saturating_sub(2) as NodeId
    }

    /// The node of values no schema describes, under the request caps.
    fn uncovered(&self) -> NodeId {
        self.nodes.len().saturating_sub(1) as NodeId
    }

    fn get(&self, id: SchemaId) -> bool {
        (id.0 as usize) < self.nodes.len().saturating_sub(2)
            && self.nodes.get(id.0 as usize).is_some_and(|n| n.simple)
    }
}

fn rules(s: &Schema) -> (StringRule, NumberRule) {
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
    (string, number)
}

fn key_index(s: &Schema, child_flags: &dyn Fn(SchemaId) -> u8) -> Option<Box<[Key]>> {
    if s.properties.len() + s.required.len() > MAX_INDEXED_KEYS || s.required.len() > 64 {
        return None;
    }
    let mut keys: Vec<Key> = s
        .properties
        .iter()
        .map(|(name, id)| Key::new(name, id.0, child_flags(*id), 0))
        .collect();
    for (i, name) in s.required.iter().enumerate() {
        match keys.iter_mut().find(|k| *k.name == *name.as_bytes()) {
            Some(k) => k.required |= 1 << i,
            None => keys.push(Key::new(name, 0, UNDECLARED, 1 << i)),
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
    for (i, &c) in key.iter().enumerate().take(8) {
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
    if table.nodes.len() != arena.len() + 2 {
        return false;
    }
    let root = match schema {
        Some(id) if table.get(id) => id.0,
        Some(_) => return false,
        None => table.skip(),
    };
    let mut f = Fast::new(bytes, arena, table, options);
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
    if table.nodes.len() != arena.len() + 2 || !table.get(schema) {
        return false;
    }
    let s = arena.get(schema);
    let result = match value {
        Scalar::Number(n) => check_number(s, n),
        Scalar::Bool(b) => check_literal(s, TypeSet::BOOLEAN, Some(*b)),
        Scalar::Null => check_literal(s, TypeSet::NULL, None),
        Scalar::Text(text) => {
            let mut f = Fast::new(&[], arena, table, options);
            let ascii = text.is_ascii();
            f.check_string(schema.0, Text::Given { text, ascii })
        }
    };
    result.is_ok()
}

/// The fast path gives up: the full path decides.
struct Unsure;

type R<T> = Result<T, Unsure>;

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
    /// Key flags that make a member unsure in this direction.
    deny: u8,
    /// What applies to a value no schema describes.
    uncovered: NodeId,
    /// The longest string where no `maxLength` is given.
    default_max_length: usize,
    scratch: String,
}

impl<'a> Fast<'a> {
    fn new(
        b: &'a [u8],
        arena: &'a SchemaArena,
        table: &'a FastTable,
        options: &'a ValidationOptions,
    ) -> Fast<'a> {
        let request = options.direction == Direction::Request;
        let mut deny = NOT_SIMPLE;
        if request && options.refuse_read_only {
            deny |= READ_ONLY;
        }
        if !request {
            deny |= WRITE_ONLY;
        }
        Fast {
            b,
            pos: 0,
            arena,
            table,
            options,
            request,
            // Stays clear of the full path's depth checks and of the gateway's
            // and serde_json's nesting limits (64 and 128).
            depth_cap: options.max_depth.min(60),
            deny,
            uncovered: if request {
                table.uncovered()
            } else {
                table.skip()
            },
            default_max_length: if request {
                options.max_string_length
            } else {
                usize::MAX
            },
            scratch: String::new(),
        }
    }

    #[inline(always)]
    fn node(&self, id: NodeId) -> R<&'a FastNode> {
        let table: &'a FastTable = self.table;
        table.nodes.get(id as usize).ok_or(Unsure)
    }

    /// The schema of a node that has one.
    fn schema(&self, n: &FastNode) -> R<&'a Schema> {
        let arena: &'a SchemaArena = self.arena;
        n.schema.map(|id| arena.get(id)).ok_or(Unsure)
    }

    fn document(&mut self, root: NodeId) -> R<()> {
        self.value(root, 0)?;
        self.ws();
        if self.pos == self.b.len() {
            Ok(())
        } else {
            Err(Unsure)
        }
    }

    /// After an object member or array item: `,` (more follow) or `close`
    /// (true: the container ends); anything else is unsure.
    #[inline(always)]
    fn end_of_member(&mut self, close: u8) -> R<bool> {
        let c = self.token()?;
        self.pos += 1;
        if c == b',' {
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

    #[inline(always)]
    fn peek(&self) -> R<u8> {
        self.b.get(self.pos).copied().ok_or(Unsure)
    }

    /// The next byte that is not white space (the cursor left on it).
    #[inline(always)]
    fn token(&mut self) -> R<u8> {
        let c = self.peek()?;
        if c > b' ' {
            return Ok(c);
        }
        self.ws_run();
        self.peek()
    }

    /// One value; containers are parsed out of line, scalars here.
    #[inline(always)]
    fn value(&mut self, node: NodeId, depth: usize) -> R<()> {
        match self.token()? {
            b'"' => {
                let text = self.string()?;
                self.check_string(node, text)
            }
            b'{' => self.object(node, depth),
            b'[' => self.array(node, depth),
            b'-' | b'0'..=b'9' => self.number(node),
            b't' => self.literal(b"true", node, TypeSet::BOOLEAN, Some(true)),
            b'f' => self.literal(b"false", node, TypeSet::BOOLEAN, Some(false)),
            b'n' => self.literal(b"null", node, TypeSet::NULL, None),
            _ => Err(Unsure),
        }
    }

    #[inline(always)]
    fn literal<const N: usize>(
        &mut self,
        word: &[u8; N],
        node: NodeId,
        bit: u8,
        boolean: Option<bool>,
    ) -> R<()> {
        let at = self
            .b
            .get(self.pos..)
            .and_then(|rest| rest.first_chunk::<N>());
        if at != Some(word) {
            return Err(Unsure);
        }
        self.pos += N;
        let n = self.node(node)?;
        if n.types & bit == 0 {
            return Err(Unsure);
        }
        if n.has_enum {
            return check_literal(self.schema(n)?, bit, boolean);
        }
        Ok(())
    }

    fn enter(&self, depth: usize) -> R<()> {
        if depth > 0 && depth >= self.depth_cap {
            Err(Unsure)
        } else {
            Ok(())
        }
    }

    fn object(&mut self, node: NodeId, depth: usize) -> R<()> {
        self.enter(depth)?;
        let n = self.node(node)?;
        if n.types & TypeSet::OBJECT == 0 || n.has_enum {
            return Err(Unsure);
        }
        self.pos += 1; // '{'
        let mut count = 0usize;
        let mut seen_required = 0u64;
        // The key expected next is the one that followed the previous key
        // last time: objects written in one fixed order (the items of an
        // array, every request of a client) match at the first try. A
        // guess is only ever confirmed by comparing the bytes, so a stale
        // or racing one costs a lookup, never a wrong answer.
        let mut slot = match &n.keys {
            Keys::Indexed(_, first) => Some(first),
            _ => None,
        };
        if self.token()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                if self.token()? != b'"' {
                    return Err(Unsure);
                }
                count += 1;
                let child = match &n.keys {
                    Keys::Indexed(keys, _) => {
                        let after_quote = self.pos + 1;
                        let guess = slot.map_or(0, |s| s.load(Ordering::Relaxed));
                        let key = match keys.get(guess as usize) {
                            Some(k) if k.at(self.b, after_quote) => {
                                self.pos = after_quote + k.name.len() + 2;
                                Some(k)
                            }
                            _ => {
                                let found = self.scanned_key(keys)?;
                                self.colon()?;
                                if let (Some(i), Some(s)) = (found, slot) {
                                    s.store(i as u8, Ordering::Relaxed);
                                }
                                found.map(|i| &keys[i])
                            }
                        };
                        if let Some(k) = key {
                            slot = Some(&k.next);
                        }
                        match key {
                            Some(k) => {
                                seen_required |= k.required;
                                if k.flags & UNDECLARED != 0 {
                                    self.additional(n)?
                                } else if k.flags & self.deny != 0 {
                                    return Err(Unsure);
                                } else {
                                    k.child
                                }
                            }
                            None => self.additional(n)?,
                        }
                    }
                    Keys::Same => {
                        self.string()?;
                        self.colon()?;
                        node
                    }
                    Keys::Lookup => {
                        let child = self.looked_up_key(n, &mut seen_required)?;
                        self.colon()?;
                        child
                    }
                };
                self.value(child, depth + 1)?;
                if self.end_of_member(b'}')? {
                    break;
                }
            }
        }
        if count > n.max_properties {
            return Err(Unsure);
        }
        if seen_required & n.required_all != n.required_all {
            self.missing_required(n, seen_required)?;
        }
        Ok(())
    }

    /// The colon after a key (and any white space before it).
    fn colon(&mut self) -> R<()> {
        if self.token()? != b':' {
            return Err(Unsure);
        }
        self.pos += 1;
        Ok(())
    }

    /// A key that was not the one expected: scanned as a string, then
    /// looked up among the indexed keys (`None`: not one of them).
    fn scanned_key(&mut self, keys: &[Key]) -> R<Option<usize>> {
        let key_start = self.pos + 1;
        let found = match self.string()? {
            Text::Span { start, end, .. } => {
                let b = self.b;
                let k = b.get(start..end).ok_or(Unsure)?;
                let word = key_word_in(b, key_start, k);
                keys.iter().position(|c| c.matches(k, word))
            }
            Text::Decoded { .. } => {
                let k = self.scratch.as_bytes();
                let word = key_word(k);
                keys.iter().position(|c| c.matches(k, word))
            }
            Text::Given { .. } => return Err(Unsure),
        };
        Ok(found)
    }

    /// The node of a member of an object whose schema has too many keys to
    /// index: its own lookup.
    #[cold]
    fn looked_up_key(&mut self, n: &FastNode, seen_required: &mut u64) -> R<NodeId> {
        let s = self.schema(n)?;
        let text = self.string()?;
        let key = match text {
            Text::Span { start, end, .. } => utf8(self.b, start, end)?,
            Text::Decoded { .. } => self.scratch.as_str(),
            Text::Given { .. } => return Err(Unsure),
        };
        for (i, name) in s.required.iter().enumerate() {
            if **name == *key {
                *seen_required |= 1 << i;
            }
        }
        match s.property(key) {
            Some(p) => {
                let ps = self.arena.get(p);
                if self.request && ps.read_only && self.options.refuse_read_only {
                    return Err(Unsure);
                }
                if !self.request && ps.write_only {
                    return Err(Unsure);
                }
                if !self.table.get(p) {
                    return Err(Unsure);
                }
                Ok(p.0)
            }
            None => self.additional(n),
        }
    }

    /// What applies to an undeclared member of an object of node `n`.
    fn additional(&self, n: &FastNode) -> R<NodeId> {
        match n.additional {
            AdditionalRule::Uncovered => Ok(self.uncovered),
            AdditionalRule::Node(p) => Ok(p),
            AdditionalRule::Unsure => Err(Unsure),
            AdditionalRule::Unspecified { describes_object } => {
                if describes_object && (!self.request || self.options.strict_objects) {
                    Err(Unsure)
                } else {
                    Ok(self.uncovered)
                }
            }
        }
    }

    /// Some required keys were not seen: fine only for a readOnly property
    /// in a request or a writeOnly one in a response (as the full path
    /// does).
    #[cold]
    fn missing_required(&self, n: &FastNode, seen_required: u64) -> R<()> {
        let s = self.schema(n)?;
        for (i, name) in s.required.iter().enumerate() {
            if seen_required & (1 << i) != 0 {
                continue;
            }
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
        Ok(())
    }

    fn array(&mut self, node: NodeId, depth: usize) -> R<()> {
        self.enter(depth)?;
        let n = self.node(node)?;
        if n.types & TypeSet::ARRAY == 0 || n.has_enum {
            return Err(Unsure);
        }
        self.pos += 1; // '['
        let item = match n.items {
            Items::Node(p) => p,
            Items::Unsure => return Err(Unsure),
            Items::Uncovered => self.uncovered,
            Items::Same => node,
        };
        let mut count = 0usize;
        if self.token()? == b']' {
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
        if self.request && n.capped_in_requests && count > self.options.max_array_items {
            return Err(Unsure);
        }
        if count < n.min_items || count > n.max_items {
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
            // Sixteen bytes at a time, then eight: the first special one
            // (quote, backslash, control, non-ASCII) is found from a mask;
            // the last few bytes of the input one by one.
            let rest = b.get(i..).unwrap_or_default();
            let c = if let Some(chunk) = rest.first_chunk::<16>() {
                let mask = special_mask16(chunk);
                if mask == 0 {
                    i += 16;
                    continue;
                }
                i += mask.trailing_zeros() as usize;
                *b.get(i).ok_or(Unsure)?
            } else if let Some(chunk) = rest.first_chunk::<8>() {
                let mask = special_mask(u64::from_le_bytes(*chunk));
                if mask == 0 {
                    i += 8;
                    continue;
                }
                i += (mask.trailing_zeros() / 8) as usize;
                *b.get(i).ok_or(Unsure)?
            } else {
                *b.get(i).ok_or(Unsure)?
            };
            // The closing quote first: most strings have no other special byte.
            if c == b'"' {
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

    /// The common case without a call: a span of the document under a
    /// length-only rule no longer than the limit in bytes (which bound the
    /// characters).
    #[inline(always)]
    fn check_string(&mut self, node: NodeId, text: Text<'a>) -> R<()> {
        let n = self.node(node)?;
        if let (StringRule::Length(max), Text::Span { start, end, .. }) = (n.string, text)
            && end - start <= max.unwrap_or(self.default_max_length)
        {
            return Ok(());
        }
        self.check_string_full(n, text)
    }

    fn check_string_full(&mut self, n: &FastNode, text: Text<'a>) -> R<()> {
        let (bytes, ascii) = match text {
            Text::Span { start, end, ascii } => (self.b.get(start..end).ok_or(Unsure)?, ascii),
            Text::Decoded { ascii } => (self.scratch.as_bytes(), ascii),
            Text::Given { text, ascii } => (text.as_bytes(), ascii),
        };
        let chars = |t: &[u8]| if ascii { t.len() } else { char_count(t) };
        let cap = self.options.max_string_length;
        if let StringRule::Length(max) = n.string {
            // Only a length applies: the byte length bounds the char count.
            let limit = max.unwrap_or(self.default_max_length);
            return if bytes.len() > limit && chars(bytes) > limit {
                Err(Unsure)
            } else {
                Ok(())
            };
        }
        let s = self.schema(n)?;
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

    #[inline(always)]
    fn number(&mut self, node: NodeId) -> R<()> {
        let b = self.b;
        let start = self.pos;
        let mut i = start;
        let negative = b.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        let int_start = i;
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                i += 1;
                while matches!(b.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => return Err(Unsure),
        }
        let int_end = i;
        if matches!(b.get(i), Some(b'.' | b'e' | b'E')) {
            return self.number_beyond(node, start, int_end);
        }
        self.pos = i;
        // Up to 18 digits fit 64 bits whatever the sign: such an integer is
        // one serde_json stores exactly, so any integer rule admits it
        // (`-0` is read by serde_json itself, as a float).
        let n = self.node(node)?;
        if int_end - int_start <= 18
            && !(negative && b.get(int_start) == Some(&b'0'))
            && n.number != NumberRule::Full
        {
            return Ok(());
        }
        self.number_value(n, &b[start..i], Some((&b[int_start..int_end], negative)))
    }

    /// A number with a fraction or an exponent (the cursor at its start,
    /// its integer part read).
    #[cold]
    fn number_beyond(&mut self, node: NodeId, start: usize, int_end: usize) -> R<()> {
        let b = self.b;
        let mut i = int_end;
        if b.get(i) == Some(&b'.') {
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
        let n = self.node(node)?;
        self.number_value(n, &b[start..i], None)
    }

    /// A number literal checked by its value. A plain integer of 64 bits is
    /// read here exactly as serde_json stores it; any other literal
    /// (fraction, exponent, `-0`, beyond 64 bits) is read by serde_json
    /// itself, so that its value, and thus every bound, is exactly the full
    /// path's.
    fn number_value(&self, n: &FastNode, literal: &[u8], integer: Option<(&[u8], bool)>) -> R<()> {
        let plain = integer.and_then(|(digits, negative)| int_value(digits, negative).ok());
        let is_plain = plain.is_some();
        let value = match plain {
            Some(v) => v,
            None => serde_json::from_slice::<serde_json::Number>(literal).map_err(|_| Unsure)?,
        };
        match n.number {
            NumberRule::Free => Ok(()),
            NumberRule::AnyInteger if is_plain => Ok(()),
            _ => check_number(self.schema(n)?, &value),
        }
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

/// One bit per byte of `chunk` (bit `i` for byte `i`) that is a quote, a
/// backslash, a control character or non-ASCII: exact, with SSE2 (part of
/// every x86-64 CPU) in six instructions.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn special_mask16(chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: the load reads the 16 bytes `chunk` refers to (unaligned
    // loads are what `loadu` is for); SSE2 is part of the x86-64 baseline.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // Signed: below 0x20 are the control bytes and, negative, every
        // byte above 0x7F.
        let low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), low)) as u32
    }
}

/// [`special_mask16`] from two [`special_mask`] words where SSE2 is not
/// there: only the first special byte's bit is set (all the callers use).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn special_mask16(chunk: &[u8; 16]) -> u32 {
    let (lo, hi) = chunk.split_at(8);
    let word = |w: &[u8]| u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
    let (lo, hi) = (special_mask(word(lo)), special_mask(word(hi)));
    if lo != 0 {
        1 << (lo.trailing_zeros() / 8)
    } else if hi != 0 {
        1 << (8 + hi.trailing_zeros() / 8)
    } else {
        0
    }
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
