//! Validates a `serde_json::Value` against a compiled schema. It walks the
//! value once, collecting errors with the JSON pointer of each offending value
//! (`/items/3/price`) and a reason that names what was expected, never the
//! value itself (an excerpt for the audit log is kept apart).
//!
//! Beyond JSON Schema it knows the direction of the message: in a request,
//! `readOnly` properties are refused and, under `strict_objects`, keys no
//! schema declares are refused (mass assignment); in a response, undeclared
//! and `writeOnly` keys are *exposures*, reported (and removable) without
//! failing the value. Undeclared keys are found the way 2020-12
//! `unevaluatedProperties` finds them, so `allOf` compositions close as one
//! object rather than each branch refusing the others' keys. Depth, string
//! length and array length are capped where the schema is silent. It never
//! recurses deeper than the value (capped) plus a fixed schema nesting bound.

use serde_json::Value;

use crate::schema::{Additional, Schema, SchemaArena, SchemaId, type_name};

/// Which way the message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

/// How strictly to validate; see the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct ValidationOptions {
    pub direction: Direction,
    /// An unspecified `additionalProperties` is `false` (requests).
    pub strict_objects: bool,
    /// Refuse `readOnly` properties (requests).
    pub refuse_read_only: bool,
    /// Deepest nesting of arrays and objects (requests).
    pub max_depth: usize,
    /// Longest array where no schema gives `maxItems` (requests).
    pub max_array_items: usize,
    /// Longest string, in characters, where no schema gives `maxLength` (requests).
    pub max_string_length: usize,
    /// Stop after this many errors.
    pub max_errors: usize,
}

impl ValidationOptions {
    pub fn response() -> Self {
        Self {
            direction: Direction::Response,
            strict_objects: false,
            refuse_read_only: false,
            max_depth: 64,
            max_array_items: usize::MAX,
            max_string_length: usize::MAX,
            max_errors: 20,
        }
    }
}

/// What kind of problem an error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The value does not match its schema.
    Schema,
    /// A `readOnly` property in a request.
    ReadOnly,
    /// A key no schema declares (request under `strict_objects`, or response).
    Undeclared,
    /// A `writeOnly` property in a response.
    WriteOnly,
    /// Past a depth, string or array cap the schema did not set.
    Limit,
}

impl ErrorKind {
    /// Whether it is data exposure (responses): reported, does not fail the value.
    pub fn is_exposure(self, direction: Direction) -> bool {
        direction == Direction::Response
            && matches!(self, ErrorKind::Undeclared | ErrorKind::WriteOnly)
    }
}

/// One problem with a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    pub kind: ErrorKind,
    /// JSON pointer in the validated value (`""` for the value itself).
    pub pointer: String,
    /// What was expected; never contains the value.
    pub reason: String,
    /// A short rendering of the offending value, for the audit log only.
    pub excerpt: String,
}

/// Most schemas applied in place to one value (guards `allOf` cycles).
const MAX_IN_PLACE: u32 = 64;

/// Validates `value` against schema `id`; returns every error found (up to
/// `max_errors`), exposures included.
pub fn validate(
    arena: &SchemaArena,
    id: SchemaId,
    value: &Value,
    options: &ValidationOptions,
) -> Vec<SchemaError> {
    let mut v = Validator {
        arena,
        options,
        errors: Vec::new(),
        failures: 0,
        quiet: 0,
        in_place: 0,
        pointer: String::new(),
        dispatching: Vec::new(),
    };
    let facts = v.apply(id, value, 0);
    v.finish(value, facts, 0);
    v.errors
}

/// What the schemas applied to one value found out about it.
#[derive(Default)]
struct Facts {
    /// Object keys (by position) some schema evaluated.
    marks: Marks,
    /// Some schema described an object.
    object_schema: bool,
    max_length_declared: bool,
    max_items_declared: bool,
    /// Array items from this index on were validated by no schema.
    items_uncovered_from: usize,
}

impl Facts {
    fn for_value(value: &Value) -> Facts {
        Facts {
            marks: Marks::new(match value {
                Value::Object(o) => o.len(),
                _ => 0,
            }),
            items_uncovered_from: 0,
            ..Facts::default()
        }
    }

    fn merge(&mut self, other: Facts) {
        self.marks.merge(other.marks);
        self.object_schema |= other.object_schema;
        self.max_length_declared |= other.max_length_declared;
        self.max_items_declared |= other.max_items_declared;
        self.items_uncovered_from = self.items_uncovered_from.max(other.items_uncovered_from);
    }

    fn mark_all(&mut self) {
        self.marks.mark_all();
    }
}

/// Which keys of an object (by position) were evaluated: a bit set that
/// needs no allocation for objects of up to 64 keys.
#[derive(Default)]
enum Marks {
    #[default]
    None,
    Small(u64),
    Large(Vec<bool>),
}

impl Marks {
    fn new(len: usize) -> Marks {
        match len {
            0 => Marks::None,
            1..=64 => Marks::Small(0),
            n => Marks::Large(vec![false; n]),
        }
    }

    fn set(&mut self, i: usize) {
        match self {
            Marks::None => {}
            Marks::Small(bits) => *bits |= 1 << i,
            Marks::Large(v) => v[i] = true,
        }
    }

    fn get(&self, i: usize) -> bool {
        match self {
            Marks::None => false,
            Marks::Small(bits) => bits & (1 << i) != 0,
            Marks::Large(v) => v[i],
        }
    }

    fn merge(&mut self, other: Marks) {
        match (self, other) {
            (Marks::Small(a), Marks::Small(b)) => *a |= b,
            (Marks::Large(a), Marks::Large(b)) => a.iter_mut().zip(b).for_each(|(x, y)| *x |= y),
            _ => {}
        }
    }

    fn mark_all(&mut self) {
        match self {
            Marks::None => {}
            Marks::Small(bits) => *bits = u64::MAX,
            Marks::Large(v) => v.iter_mut().for_each(|m| *m = true),
        }
    }
}

struct Validator<'a> {
    arena: &'a SchemaArena,
    options: &'a ValidationOptions,
    errors: Vec<SchemaError>,
    /// Failures seen so far, counted even while quiet.
    failures: usize,
    /// Above 0 while trying `anyOf` / `oneOf` / `not` / `if` branches: errors
    /// are counted, not formatted.
    quiet: u32,
    in_place: u32,
    pointer: String,
    /// (schema, value) pairs whose discriminator already chose a branch.
    dispatching: Vec<(SchemaId, *const Value)>,
}

impl Validator<'_> {
    fn report(&mut self, kind: ErrorKind, value: &Value, reason: impl FnOnce() -> String) {
        let exposure = kind.is_exposure(self.options.direction);
        if !exposure {
            self.failures += 1;
        }
        if self.quiet > 0 || self.errors.len() >= self.options.max_errors {
            return;
        }
        self.errors.push(SchemaError {
            kind,
            pointer: self.pointer.clone(),
            reason: reason(),
            excerpt: excerpt(value),
        });
    }

    fn fail(&mut self, value: &Value, reason: impl FnOnce() -> String) {
        self.report(ErrorKind::Schema, value, reason);
    }

    fn request(&self) -> bool {
        self.options.direction == Direction::Request
    }

    /// Runs `f` quietly and says whether it failed nothing.
    fn trial<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> (bool, T) {
        let before = self.failures;
        self.quiet += 1;
        let out = f(self);
        self.quiet -= 1;
        let ok = self.failures == before;
        self.failures = before;
        (ok, out)
    }

    /// Applies schema `id` (and everything it combines in place) to `value`.
    fn apply(&mut self, id: SchemaId, value: &Value, depth: usize) -> Facts {
        let arena = self.arena;
        let s = arena.get(id);
        let mut facts = Facts::for_value(value);
        if s.never {
            self.fail(value, || "no value is allowed here".to_owned());
            return facts;
        }
        self.in_place += 1;
        if self.in_place > MAX_IN_PLACE {
            self.in_place -= 1;
            self.fail(value, || {
                "schema combines itself too deeply to be checked".to_owned()
            });
            return facts;
        }
        facts.object_schema = s.describes_object;
        facts.max_length_declared = s.max_length.is_some();
        facts.max_items_declared = s.max_items.is_some();
        if let Some(types) = s.types
            && !types.matches(value)
        {
            let found = type_name(value);
            self.fail(value, || {
                format!("expected {}, got {found}", types.describe())
            });
        }
        if let Some(values) = &s.enum_values
            && !values.iter().any(|e| json_equal(e, value))
        {
            self.fail(value, || "not one of the allowed values".to_owned());
        }
        if let Some(c) = &s.const_value
            && !json_equal(c, value)
        {
            self.fail(value, || "not the required constant value".to_owned());
        }
        match value {
            Value::Number(n) => self.number(s, value, n),
            Value::String(text) => self.string(s, value, text),
            Value::Array(items) => self.array(s, value, items, depth, &mut facts),
            Value::Object(map) => self.object(s, value, map, depth, &mut facts),
            _ => {}
        }
        for sub in &s.all_of {
            let sub_facts = self.apply(*sub, value, depth);
            facts.merge(sub_facts);
        }
        let dispatched = match &s.discriminator {
            Some(d)
                if value.is_object()
                    && !self.dispatching.contains(&(id, value as *const Value)) =>
            {
                self.dispatch(id, d, value, depth, &mut facts);
                true
            }
            _ => false,
        };
        if !dispatched {
            if !s.any_of.is_empty() {
                self.alternatives(&s.any_of, value, depth, &mut facts, false);
            }
            if !s.one_of.is_empty() {
                self.alternatives(&s.one_of, value, depth, &mut facts, true);
            }
        }
        if let Some(not) = s.not {
            let (ok, _) = self.trial(|v| v.apply(not, value, depth));
            if ok {
                self.fail(value, || "matches a schema it must not match".to_owned());
            }
        }
        if let Some((cond, then, otherwise)) = s.if_then_else {
            let (ok, cond_facts) = self.trial(|v| v.apply(cond, value, depth));
            let branch = if ok {
                facts.merge(cond_facts);
                then
            } else {
                otherwise
            };
            if let Some(b) = branch {
                let f = self.apply(b, value, depth);
                facts.merge(f);
            }
        }
        if let (Some(rule), Value::Object(map)) = (s.unevaluated, value) {
            self.remaining_keys(rule, map, depth, &mut facts);
        }
        self.in_place -= 1;
        facts
    }

    fn number(&mut self, s: &Schema, value: &Value, n: &serde_json::Number) {
        let Some(x) = n.as_f64() else { return };
        if let Some(min) = s.minimum
            && x < min
        {
            self.fail(value, || format!("must be at least {}", num(min)));
        }
        if let Some(min) = s.exclusive_minimum
            && x <= min
        {
            self.fail(value, || format!("must be greater than {}", num(min)));
        }
        if let Some(max) = s.maximum
            && x > max
        {
            self.fail(value, || format!("must be at most {}", num(max)));
        }
        if let Some(max) = s.exclusive_maximum
            && x >= max
        {
            self.fail(value, || format!("must be less than {}", num(max)));
        }
        if let Some(m) = s.multiple_of {
            let q = x / m;
            if !q.is_finite() || (q - q.round()).abs() > 1e-9 {
                self.fail(value, || format!("must be a multiple of {}", num(m)));
            }
        }
        if let Some(format) = s.format
            && format.check_number(n) == Some(false)
        {
            self.fail(value, || format!("must be {}", format.describe()));
        }
    }

    fn string(&mut self, s: &Schema, value: &Value, text: &str) {
        if s.min_length.is_some() || s.max_length.is_some() {
            let len = text.chars().count();
            if let Some(min) = s.min_length
                && len < min
            {
                self.fail(value, || format!("must be at least {min} characters long"));
            }
            if let Some(max) = s.max_length
                && len > max
            {
                self.fail(value, || format!("must be at most {max} characters long"));
            }
        }
        if let Some(p) = &s.pattern
            && !p.is_match(text)
        {
            self.fail(value, || {
                "does not match the pattern of its schema".to_owned()
            });
        }
        if let Some(format) = s.format
            && format.check_str(text) == Some(false)
        {
            self.fail(value, || format!("must be {}", format.describe()));
        }
    }

    fn array(
        &mut self,
        s: &Schema,
        value: &Value,
        items: &[Value],
        depth: usize,
        facts: &mut Facts,
    ) {
        if let Some(min) = s.min_items
            && items.len() < min
        {
            self.fail(value, || format!("must have at least {min} items"));
        }
        if let Some(max) = s.max_items
            && items.len() > max
        {
            self.fail(value, || format!("must have at most {max} items"));
        }
        if s.unique_items && has_duplicates(items) {
            self.fail(value, || "items must be unique".to_owned());
        }
        for (i, (item, schema)) in items.iter().zip(&s.prefix_items).enumerate() {
            self.child(*schema, item, i, depth);
        }
        let mut covered = s.prefix_items.len().min(items.len());
        if let Some(schema) = s.items {
            for (i, item) in items.iter().enumerate().skip(covered) {
                if self.errors.len() >= self.options.max_errors && self.quiet == 0 {
                    break;
                }
                self.child(schema, item, i, depth);
            }
            covered = usize::MAX;
        }
        facts.items_uncovered_from = facts.items_uncovered_from.max(covered);
        if let Some(c) = s.contains {
            let matching = items
                .iter()
                .filter(|item| self.trial(|v| v.apply(c, item, depth + 1)).0)
                .count();
            let min = s.min_contains.unwrap_or(1);
            if matching < min {
                self.fail(value, || {
                    format!("must contain at least {min} matching item(s)")
                });
            }
            if let Some(max) = s.max_contains
                && matching > max
            {
                self.fail(value, || {
                    format!("must contain at most {max} matching item(s)")
                });
            }
        }
    }

    fn object(
        &mut self,
        s: &Schema,
        value: &Value,
        map: &serde_json::Map<String, Value>,
        depth: usize,
        facts: &mut Facts,
    ) {
        if let Some(min) = s.min_properties
            && map.len() < min
        {
            self.fail(value, || format!("must have at least {min} properties"));
        }
        if let Some(max) = s.max_properties
            && map.len() > max
        {
            self.fail(value, || format!("must have at most {max} properties"));
        }
        for name in &s.required {
            if map.contains_key(&**name) {
                continue;
            }
            // A readOnly property is required in responses only, a writeOnly one in requests only.
            let skip = s.property(name).is_some_and(|p| {
                let p = self.arena.get(p);
                if self.request() {
                    p.read_only
                } else {
                    p.write_only
                }
            });
            if !skip {
                let owned = name.to_string();
                self.fail(value, move || {
                    format!("required property {owned:?} is missing")
                });
            }
        }
        for (name, deps) in &s.dependent_required {
            if map.contains_key(&**name) {
                for dep in deps {
                    if !map.contains_key(&**dep) {
                        let (n, d) = (name.to_string(), dep.to_string());
                        self.fail(value, move || {
                            format!("property {d:?} is required when {n:?} is present")
                        });
                    }
                }
            }
        }
        for (i, (key, child)) in map.iter().enumerate() {
            if self.errors.len() >= self.options.max_errors && self.quiet == 0 {
                break;
            }
            if let Some(names) = s.property_names {
                let key_value = Value::String(key.clone());
                let (ok, _) = self.trial(|v| v.apply(names, &key_value, depth));
                if !ok {
                    self.at_key(key, |v| {
                        v.fail(&key_value, || {
                            "property name not allowed by its schema".to_owned()
                        })
                    });
                }
            }
            let mut evaluated = false;
            if let Some(p) = s.property(key) {
                evaluated = true;
                self.property(p, key, child, depth);
            }
            for (pattern, p) in &s.pattern_properties {
                if pattern.is_match(key) {
                    evaluated = true;
                    self.child(*p, child, key, depth);
                }
            }
            if !evaluated {
                match s.additional {
                    Additional::Allow => {
                        evaluated = true;
                        self.at_key(key, |v| v.uncovered(child, depth + 1));
                    }
                    Additional::Schema(p) => {
                        evaluated = true;
                        self.child(p, child, key, depth);
                    }
                    Additional::Forbid => {
                        evaluated = true;
                        self.undeclared(key, child);
                    }
                    Additional::Unspecified => {}
                }
            }
            if evaluated {
                facts.marks.set(i);
            }
        }
    }

    /// A declared property: readOnly / writeOnly first, then its schema.
    fn property(&mut self, p: SchemaId, key: &str, child: &Value, depth: usize) {
        let schema = self.arena.get(p);
        if self.request() && schema.read_only && self.options.refuse_read_only {
            self.at_key(key, |v| {
                v.report(ErrorKind::ReadOnly, child, || {
                    "read-only property: the server sets it, a request may not".to_owned()
                })
            });
        } else if !self.request() && schema.write_only {
            self.at_key(key, |v| {
                v.report(ErrorKind::WriteOnly, child, || {
                    "write-only property must never be sent in a response".to_owned()
                })
            });
        } else {
            self.child(p, child, key, depth);
        }
    }

    fn undeclared(&mut self, key: &str, child: &Value) {
        self.at_key(key, |v| {
            v.report(ErrorKind::Undeclared, child, || {
                "property not declared by the schema".to_owned()
            })
        });
    }

    /// `unevaluatedProperties`: keys no schema so far evaluated.
    fn remaining_keys(
        &mut self,
        rule: Additional,
        map: &serde_json::Map<String, Value>,
        depth: usize,
        facts: &mut Facts,
    ) {
        for (i, (key, child)) in map.iter().enumerate() {
            if facts.marks.get(i) {
                continue;
            }
            match rule {
                Additional::Forbid => self.undeclared(key, child),
                Additional::Schema(p) => self.child(p, child, key, depth),
                Additional::Allow | Additional::Unspecified => {
                    self.at_key(key, |v| v.uncovered(child, depth + 1))
                }
            }
        }
        facts.mark_all();
    }

    fn alternatives(
        &mut self,
        branches: &[SchemaId],
        value: &Value,
        depth: usize,
        facts: &mut Facts,
        exactly_one: bool,
    ) {
        let mut passed: Vec<(SchemaId, Facts)> = Vec::new();
        for b in branches {
            let (ok, f) = self.trial(|v| v.apply(*b, value, depth));
            if ok {
                passed.push((*b, f));
                if exactly_one && passed.len() > 1 {
                    break;
                }
            }
        }
        match passed.len() {
            0 => {
                let n = branches.len();
                let word = if exactly_one { "oneOf" } else { "anyOf" };
                self.fail(value, move || {
                    format!("matches none of the {n} {word} alternatives")
                });
            }
            n if exactly_one && n > 1 => {
                self.fail(value, || {
                    "matches more than one oneOf alternative".to_owned()
                });
            }
            _ => {
                for (b, f) in passed {
                    if self.quiet == 0 {
                        // Again, aloud: a passing branch may still report exposures.
                        let f = self.apply(b, value, depth);
                        facts.merge(f);
                    } else {
                        facts.merge(f);
                    }
                }
            }
        }
    }

    fn dispatch(
        &mut self,
        id: SchemaId,
        d: &crate::schema::Discriminator,
        value: &Value,
        depth: usize,
        facts: &mut Facts,
    ) {
        let tag = value.get(&*d.property);
        let Some(Value::String(tag)) = tag else {
            let name = d.property.to_string();
            self.fail(value, move || {
                format!("discriminator property {name:?} is missing or not a string")
            });
            return;
        };
        let Some((_, branch)) = d.mapping.iter().find(|(v, _)| **v == **tag) else {
            let name = d.property.to_string();
            self.at_key(&name.clone(), |v| {
                v.fail(&Value::String(tag.clone()), move || {
                    format!("not a known value of discriminator {name:?}")
                })
            });
            return;
        };
        self.dispatching.push((id, value as *const Value));
        let f = self.apply(*branch, value, depth);
        self.dispatching.pop();
        facts.merge(f);
    }

    /// Validates a value one level down, then closes it.
    fn child(&mut self, id: SchemaId, value: &Value, token: impl Token, depth: usize) {
        self.at_key(token, |v| {
            if v.too_deep(value, depth + 1) {
                return;
            }
            let facts = v.apply(id, value, depth + 1);
            v.finish(value, facts, depth + 1);
        });
    }

    fn too_deep(&mut self, value: &Value, depth: usize) -> bool {
        let nested = matches!(value, Value::Array(_) | Value::Object(_));
        if nested && depth >= self.options.max_depth {
            let max = self.options.max_depth;
            self.report(ErrorKind::Limit, value, move || {
                format!("nested deeper than {max} levels")
            });
            return true;
        }
        false
    }

    /// After every schema of a value was applied: undeclared keys and caps.
    fn finish(&mut self, value: &Value, facts: Facts, depth: usize) {
        match value {
            Value::Object(map) => {
                let closed =
                    facts.object_schema && (!self.request() || self.options.strict_objects);
                for (i, (key, child)) in map.iter().enumerate() {
                    if facts.marks.get(i) {
                        continue;
                    }
                    if closed {
                        self.undeclared(key, child);
                    } else {
                        self.at_key(key, |v| v.uncovered(child, depth + 1));
                    }
                }
            }
            Value::String(text) if self.request() && !facts.max_length_declared => {
                self.string_cap(value, text);
            }
            Value::Array(items) => {
                if self.request() && !facts.max_items_declared {
                    self.array_cap(value, items);
                }
                for (i, item) in items.iter().enumerate().skip(facts.items_uncovered_from) {
                    self.at_key(i, |v| v.uncovered(item, depth + 1));
                }
            }
            _ => {}
        }
    }

    fn string_cap(&mut self, value: &Value, text: &str) {
        let max = self.options.max_string_length;
        // Bytes bound characters from above: count only when it could matter.
        if text.len() > max && text.chars().count() > max {
            self.report(ErrorKind::Limit, value, move || {
                format!("string longer than {max} characters")
            });
        }
    }

    fn array_cap(&mut self, value: &Value, items: &[Value]) {
        let max = self.options.max_array_items;
        if items.len() > max {
            self.report(ErrorKind::Limit, value, move || {
                format!("array longer than {max} items")
            });
        }
    }

    /// A value no schema describes: only the caps apply (requests).
    fn uncovered(&mut self, value: &Value, depth: usize) {
        if !self.request() || self.too_deep(value, depth) {
            return;
        }
        match value {
            Value::String(text) => self.string_cap(value, text),
            Value::Array(items) => {
                self.array_cap(value, items);
                for (i, item) in items.iter().enumerate() {
                    self.at_key(i, |v| v.uncovered(item, depth + 1));
                }
            }
            Value::Object(map) => {
                for (key, child) in map {
                    self.at_key(key, |v| v.uncovered(child, depth + 1));
                }
            }
            _ => {}
        }
    }

    fn at_key<T>(&mut self, token: impl Token, f: impl FnOnce(&mut Self) -> T) -> T {
        let len = self.pointer.len();
        token.push_to(&mut self.pointer);
        let out = f(self);
        self.pointer.truncate(len);
        out
    }
}

/// One step of a JSON pointer: an object key or an array index (written
/// without allocating).
trait Token {
    fn push_to(&self, pointer: &mut String);
}

impl Token for &str {
    fn push_to(&self, pointer: &mut String) {
        crate::error::push_token(pointer, self);
    }
}

impl Token for &String {
    fn push_to(&self, pointer: &mut String) {
        crate::error::push_token(pointer, self);
    }
}

impl Token for usize {
    fn push_to(&self, pointer: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(pointer, "/{self}");
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn has_duplicates(items: &[Value]) -> bool {
    // Quadratic, but only on arrays a schema asks to be unique, and those
    // are bounded by maxItems or the array cap before this runs on requests.
    items
        .iter()
        .enumerate()
        .any(|(i, a)| items[i + 1..].iter().any(|b| json_equal(a, b)))
}

fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// A short rendering of a value for the audit log: strings and scalars as
/// written (cut), containers by their size only.
pub fn excerpt(value: &Value) -> String {
    match value {
        Value::String(s) => s.chars().take(65).collect(),
        Value::Array(a) => format!("[array of {}]", a.len()),
        Value::Object(o) => format!("{{object of {} keys}}", o.len()),
        other => other.to_string(),
    }
}
