//! Values an [`Inspector`](crate::Inspector) has already found clean.
//!
//! Inspection is a pure function of the value, its [`ValueKind`] and the
//! detector's settings, and request bodies repeat themselves: the keys of
//! every object in a JSON array, enum-like values (`"GB"`, `"active"`),
//! repeated query names. A value seen clean once in this inspector's life
//! (one request) is clean again, so it is not inspected twice.
//!
//! Only short values are remembered, in a direct-mapped table: one entry
//! per slot, a later value overwrites an earlier one, so a lookup is one
//! hash and one comparison whatever the client sends (colliding values only
//! evict each other). A hit compares the whole value and its kind byte for
//! byte: the hash only picks the slot, it never decides the answer. Values
//! with a detection are never remembered (they are reported every time).
//! The table is made only once a request has carried enough values to make
//! it pay, and it is bounded: past [`ARENA_BYTES`] it starts again empty.

use crate::ValueKind;

/// Longest value remembered.
pub(crate) const MAX_VALUE_BYTES: usize = 96;
/// Longest kind context (header name, parent key) remembered, so every key
/// fits the arena many times over.
const MAX_CONTEXT_BYTES: usize = 64;
/// Values of a request inspected before any is looked up or remembered:
/// requests with fewer values (a typical 1 KB JSON document has about 60)
/// never pay for the table.
const WARM_UP_VALUES: u32 = 64;
/// Slots of the direct-mapped table (a power of two).
const SLOTS: usize = 512;
/// Bytes of remembered keys; past it the table starts again.
const ARENA_BYTES: usize = 32 * 1024;

/// A slot: the key's arena offset plus one (0: empty) in the high 32 bits,
/// its length in the low 32.
type Slot = u64;

pub(crate) struct SeenClean {
    /// Values looked up before any is remembered (see [`WARM_UP_VALUES`]).
    warm_up: u32,
    values: u32,
    slots: Vec<Slot>,
    /// Keys back to back: kind tag, kind context, 0xFF, value.
    arena: Vec<u8>,
    /// The slot the last lookup hashed to, for the insert that follows it.
    last_slot: usize,
    /// The slots written since the last clear, while there are at most
    /// [`TOUCHED_SLOTS`] (a request just past the warm-up writes a few:
    /// clearing those beats clearing the whole table); `None` past that.
    touched: Option<Vec<u16>>,
}

/// Most written slots [`SeenClean::clear`] resets one by one.
const TOUCHED_SLOTS: usize = 32;

impl Default for SeenClean {
    /// A table for one request's values, used once the request has carried
    /// [`WARM_UP_VALUES`] of them.
    fn default() -> Self {
        SeenClean {
            warm_up: WARM_UP_VALUES,
            values: 0,
            slots: Vec::new(),
            arena: Vec::new(),
            last_slot: usize::MAX,
            touched: None,
        }
    }
}

/// The kind as bytes: a tag and the header or parent-key name it carries.
fn kind_key<'a>(kind: &ValueKind<'a>) -> (u8, &'a str) {
    match *kind {
        ValueKind::PathSegment => (1, ""),
        ValueKind::QueryName => (2, ""),
        ValueKind::QueryValue => (3, ""),
        ValueKind::HeaderValue { name } => (4, name),
        ValueKind::CookieName => (5, ""),
        ValueKind::CookieValue => (6, ""),
        ValueKind::JsonKey { parent } => (7, parent),
        ValueKind::JsonValue => (8, ""),
        ValueKind::FormName => (9, ""),
        ValueKind::FormValue => (10, ""),
        ValueKind::MultipartName => (11, ""),
        ValueKind::MultipartValue => (12, ""),
        ValueKind::MultipartFilename => (13, ""),
        ValueKind::XmlText => (14, ""),
        ValueKind::XmlAttribute => (15, ""),
        ValueKind::TextBody => (16, ""),
        ValueKind::GraphqlArgument => (17, ""),
    }
}

fn slot_of(tag: u8, context: &str, value: &str) -> usize {
    // A word at a time; only picks a slot (a hit compares the key itself).
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = u64::from(tag) ^ ((context.len() as u64) << 8);
    for part in [context.as_bytes(), value.as_bytes()] {
        let mut words = part.chunks_exact(8);
        for word in &mut words {
            let word = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
            h = (h ^ word).wrapping_mul(K);
            h ^= h >> 32;
        }
        let rest = words.remainder();
        let mut last = (rest.len() as u64) << 56;
        for (i, &b) in rest.iter().enumerate() {
            last |= u64::from(b) << (8 * i);
        }
        h = (h ^ last).wrapping_mul(K);
        h ^= h >> 32;
    }
    // The finaliser of MurmurHash3: every input bit reaches the slot bits.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h as usize & (SLOTS - 1)
}

impl SeenClean {
    /// A table used from the first value on, for values that recur from
    /// request to request (it is never [cleared](Self::clear), only
    /// [forgotten](Self::forget)).
    pub(crate) fn without_warm_up() -> Self {
        SeenClean {
            warm_up: 0,
            ..SeenClean::default()
        }
    }

    /// Forgets every value, whatever was written (keeps the allocations).
    pub(crate) fn forget(&mut self) {
        self.arena.clear();
        self.slots.fill(0);
        if let Some(touched) = &mut self.touched {
            touched.clear();
        }
        self.values = 0;
    }

    /// Forgets every value (keeps the allocations).
    pub(crate) fn clear(&mut self) {
        // Only a request past the warm-up wrote to the table.
        if self.values > self.warm_up {
            self.arena.clear();
            match &mut self.touched {
                Some(touched) => {
                    for &index in touched.iter() {
                        self.slots[usize::from(index)] = 0;
                    }
                    touched.clear();
                }
                None => {
                    self.slots.fill(0);
                    self.touched = Some(Vec::with_capacity(TOUCHED_SLOTS));
                }
            }
        }
        self.values = 0;
    }

    /// Bytes its buffers hold.
    pub(crate) fn capacity(&self) -> usize {
        self.arena.capacity()
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.touched.as_ref().map_or(0, |t| t.capacity() * 2)
    }

    /// Whether `value` of `kind` was found clean before. Counts the value
    /// towards the warm-up either way, and keeps its slot for [`Self::insert`].
    /// (The warm-up and length tests inline: most values of most requests
    /// stop there, and a call costs more than they do.)
    #[inline]
    pub(crate) fn contains(&mut self, value: &str, kind: &ValueKind<'_>) -> bool {
        self.values = self.values.saturating_add(1);
        self.last_slot = usize::MAX;
        if value.len() > MAX_VALUE_BYTES || self.values <= self.warm_up {
            return false;
        }
        self.look_up(value, kind)
    }

    /// [`Self::contains`] past its warm-up and length tests.
    #[inline(never)]
    fn look_up(&mut self, value: &str, kind: &ValueKind<'_>) -> bool {
        let (tag, context) = kind_key(kind);
        if context.len() > MAX_CONTEXT_BYTES {
            return false;
        }
        let index = slot_of(tag, context, value);
        self.last_slot = index;
        let Some(&slot) = self.slots.get(index) else {
            return false;
        };
        let start = (slot >> 32) as usize;
        if start == 0 {
            return false;
        }
        let key = &self.arena[start - 1..start - 1 + (slot as u32) as usize];
        key.len() == 2 + context.len() + value.len()
            && key[0] == tag
            && &key[1..1 + context.len()] == context.as_bytes()
            && key[1 + context.len()] == 0xFF
            && &key[2 + context.len()..] == value.as_bytes()
    }

    /// Remembers that the value of the last [`Self::contains`] call, `value`
    /// of `kind`, is clean.
    #[inline]
    pub(crate) fn insert(&mut self, value: &str, kind: &ValueKind<'_>) {
        let index = self.last_slot;
        if index == usize::MAX {
            return;
        }
        self.remember(index, value, kind);
    }

    /// [`Self::insert`] of a value whose lookup hashed it to slot `index`.
    #[inline(never)]
    fn remember(&mut self, index: usize, value: &str, kind: &ValueKind<'_>) {
        if self.slots.is_empty() {
            self.slots = vec![0; SLOTS];
            self.arena.reserve(4096);
            self.touched = Some(Vec::with_capacity(TOUCHED_SLOTS));
        }
        let (tag, context) = kind_key(kind);
        let len = 2 + context.len() + value.len();
        if self.arena.len() + len > ARENA_BYTES {
            self.arena.clear();
            self.slots.fill(0);
            if let Some(touched) = &mut self.touched {
                touched.clear();
            }
        }
        if let Some(touched) = &mut self.touched {
            if touched.len() < TOUCHED_SLOTS {
                // `index < SLOTS`, which fits a `u16`.
                touched.push(index as u16);
            } else {
                self.touched = None;
            }
        }
        let start = self.arena.len();
        self.arena.push(tag);
        self.arena.extend_from_slice(context.as_bytes());
        self.arena.push(0xFF);
        self.arena.extend_from_slice(value.as_bytes());
        self.slots[index] = ((start as u64 + 1) << 32) | len as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warm() -> SeenClean {
        let mut seen = SeenClean::default();
        for _ in 0..WARM_UP_VALUES {
            assert!(!seen.contains("warm-up", &ValueKind::JsonValue));
        }
        seen
    }

    /// What the inspector does with a clean value: look it up, then insert it.
    fn remember(seen: &mut SeenClean, value: &str, kind: ValueKind<'_>) {
        if !seen.contains(value, &kind) {
            seen.insert(value, &kind);
        }
    }

    #[test]
    fn nothing_is_remembered_before_the_warm_up() {
        let mut seen = SeenClean::default();
        remember(&mut seen, "GB", ValueKind::JsonValue);
        assert!(!seen.contains("GB", &ValueKind::JsonValue));
    }

    #[test]
    fn a_hit_needs_the_same_value_and_the_same_kind() {
        let mut seen = warm();
        remember(&mut seen, "GB", ValueKind::JsonValue);
        remember(&mut seen, "id", ValueKind::JsonKey { parent: "orders" });
        assert!(seen.contains("GB", &ValueKind::JsonValue));
        assert!(!seen.contains("GB", &ValueKind::QueryValue));
        assert!(!seen.contains("GBR", &ValueKind::JsonValue));
        assert!(!seen.contains("G", &ValueKind::JsonValue));
        assert!(seen.contains("id", &ValueKind::JsonKey { parent: "orders" }));
        assert!(!seen.contains("id", &ValueKind::JsonKey { parent: "order" }));
        assert!(!seen.contains("id", &ValueKind::JsonKey { parent: "" }));
        // The split between context and value is part of the key.
        remember(&mut seen, "b", ValueKind::HeaderValue { name: "a" });
        assert!(!seen.contains("ab", &ValueKind::HeaderValue { name: "" }));
        assert!(!seen.contains("", &ValueKind::HeaderValue { name: "ab" }));
        assert!(seen.contains("b", &ValueKind::HeaderValue { name: "a" }));
    }

    #[test]
    fn colliding_values_evict_each_other_and_never_match_each_other() {
        let mut seen = warm();
        let first = "value-0".to_string();
        let slot = slot_of(8, "", &first);
        let other = (1..100_000)
            .map(|i| format!("value-{i}"))
            .find(|v| slot_of(8, "", v) == slot)
            .expect("a collision among 100k values in 256 slots");
        remember(&mut seen, &first, ValueKind::JsonValue);
        assert!(!seen.contains(&other, &ValueKind::JsonValue));
        remember(&mut seen, &other, ValueKind::JsonValue);
        assert!(seen.contains(&other, &ValueKind::JsonValue));
        assert!(!seen.contains(&first, &ValueKind::JsonValue));
    }

    #[test]
    fn a_cleared_table_waits_for_the_warm_up_again() {
        let mut seen = warm();
        remember(&mut seen, "GB", ValueKind::JsonValue);
        assert!(seen.contains("GB", &ValueKind::JsonValue));
        seen.clear();
        for _ in 0..WARM_UP_VALUES {
            assert!(!seen.contains("GB", &ValueKind::JsonValue));
        }
        assert!(!seen.contains("GB", &ValueKind::JsonValue), "forgotten");
    }

    #[test]
    fn a_clear_forgets_every_value_however_many_were_written() {
        for written in [1, TOUCHED_SLOTS, TOUCHED_SLOTS + 1, 400] {
            let mut seen = warm();
            let values: Vec<String> = (0..written).map(|i| format!("v{i}")).collect();
            for v in &values {
                remember(&mut seen, v, ValueKind::JsonValue);
            }
            seen.clear();
            assert!(seen.slots.iter().all(|&s| s == 0), "{written}");
            let mut seen_again = seen;
            for _ in 0..WARM_UP_VALUES {
                seen_again.contains("warm-up", &ValueKind::JsonValue);
            }
            for v in &values {
                assert!(
                    !seen_again.contains(v, &ValueKind::JsonValue),
                    "{written} {v}"
                );
            }
        }
    }

    #[test]
    fn long_values_are_not_remembered_and_the_arena_is_bounded() {
        let mut seen = warm();
        let parent = "p".repeat(MAX_CONTEXT_BYTES + 1);
        let kind = ValueKind::JsonKey { parent: &parent };
        remember(&mut seen, "id", kind);
        assert!(!seen.contains("id", &kind));
        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        remember(&mut seen, &long, ValueKind::JsonValue);
        assert!(!seen.contains(&long, &ValueKind::JsonValue));
        for i in 0..10_000 {
            remember(&mut seen, &format!("{i:090}"), ValueKind::JsonValue);
            assert!(seen.arena.len() <= ARENA_BYTES);
        }
        assert!(seen.contains(&format!("{:090}", 9_999), &ValueKind::JsonValue));
    }
}
