//! Compiles the JSON Schemas of a spec into an arena of [`Schema`] nodes, once,
//! at load time. Both dialects compile to the same node: OpenAPI 3.0's
//! `nullable` becomes a `null` type, its boolean `exclusiveMinimum` becomes a
//! numeric bound, and 3.1 (JSON Schema 2020-12) keywords map one to one.
//! `$ref`s become node indices, so recursive schemas are cycles in the arena
//! and never recursion at compile time. Nothing here runs per request.

use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value};

use crate::error::{SpecError, join};
use crate::format::Format;
use crate::loader::{Dialect, SpecSet, Target};

/// Index of a compiled schema in its [`SchemaArena`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SchemaId(pub(crate) u32);

/// JSON types as a bit set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TypeSet(pub(crate) u8);

impl TypeSet {
    pub const NULL: u8 = 1;
    pub const BOOLEAN: u8 = 2;
    pub const INTEGER: u8 = 4;
    pub const NUMBER: u8 = 8;
    pub const STRING: u8 = 16;
    pub const ARRAY: u8 = 32;
    pub const OBJECT: u8 = 64;

    fn bit(name: &str) -> Option<u8> {
        Some(match name {
            "null" => Self::NULL,
            "boolean" => Self::BOOLEAN,
            "integer" => Self::INTEGER,
            "number" => Self::NUMBER,
            "string" => Self::STRING,
            "array" => Self::ARRAY,
            "object" => Self::OBJECT,
            _ => return None,
        })
    }

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// Whether `value` is of one of the types (an integer-valued number is
    /// both `integer` and `number`).
    pub fn matches(self, value: &Value) -> bool {
        self.0 & value_bits(value) != 0
    }

    /// `integer or string`, for reasons.
    pub fn describe(self) -> String {
        let names = [
            (Self::NULL, "null"),
            (Self::BOOLEAN, "boolean"),
            (Self::INTEGER, "integer"),
            (Self::NUMBER, "number"),
            (Self::STRING, "string"),
            (Self::ARRAY, "array"),
            (Self::OBJECT, "object"),
        ];
        let parts: Vec<&str> = names
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, n)| *n)
            .collect();
        parts.join(" or ")
    }
}

/// The type bits a value has.
pub fn value_bits(value: &Value) -> u8 {
    match value {
        Value::Null => TypeSet::NULL,
        Value::Bool(_) => TypeSet::BOOLEAN,
        Value::Number(n) => {
            let integral = n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0);
            if integral {
                TypeSet::INTEGER | TypeSet::NUMBER
            } else {
                TypeSet::NUMBER
            }
        }
        Value::String(_) => TypeSet::STRING,
        Value::Array(_) => TypeSet::ARRAY,
        Value::Object(_) => TypeSet::OBJECT,
    }
}

/// The name of a value's type, for reasons (never the value itself).
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What a schema says about object keys it does not list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Additional {
    /// Not written: open in JSON Schema, closed under `strict_objects`.
    Unspecified,
    Allow,
    Forbid,
    Schema(SchemaId),
}

#[derive(Debug)]
pub struct Discriminator {
    pub property: Box<str>,
    /// Value → schema, from `mapping` and the names of the `oneOf`/`anyOf` branches.
    pub mapping: Vec<(Box<str>, SchemaId)>,
}

/// One compiled schema. Absent keywords are `None` / empty.
#[derive(Debug)]
pub struct Schema {
    /// Where it was written, for audit findings.
    pub site: Target,
    /// `false` (3.1): nothing is valid.
    pub never: bool,
    pub types: Option<TypeSet>,
    pub enum_values: Option<Vec<Value>>,
    pub const_value: Option<Value>,
    pub minimum: Option<f64>,
    pub exclusive_minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_maximum: Option<f64>,
    pub multiple_of: Option<f64>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub pattern: Option<Regex>,
    pub format: Option<Format>,
    pub items: Option<SchemaId>,
    pub prefix_items: Vec<SchemaId>,
    pub min_items: Option<usize>,
    pub max_items: Option<usize>,
    pub unique_items: bool,
    pub contains: Option<SchemaId>,
    pub min_contains: Option<usize>,
    pub max_contains: Option<usize>,
    /// Sorted by name for binary search.
    pub properties: Vec<(Box<str>, SchemaId)>,
    pub required: Vec<Box<str>>,
    pub pattern_properties: Vec<(Regex, SchemaId)>,
    pub additional: Additional,
    pub unevaluated: Option<Additional>,
    pub property_names: Option<SchemaId>,
    pub min_properties: Option<usize>,
    pub max_properties: Option<usize>,
    pub dependent_required: Vec<(Box<str>, Vec<Box<str>>)>,
    pub all_of: Vec<SchemaId>,
    pub any_of: Vec<SchemaId>,
    pub one_of: Vec<SchemaId>,
    pub not: Option<SchemaId>,
    pub if_then_else: Option<(SchemaId, Option<SchemaId>, Option<SchemaId>)>,
    pub discriminator: Option<Discriminator>,
    pub read_only: bool,
    pub write_only: bool,
    /// Says anything about objects (`type: object`, `properties`, ...): the
    /// schemas `strict_objects` and the exposure check close.
    pub describes_object: bool,
}

impl Schema {
    fn empty(site: Target) -> Self {
        Schema {
            site,
            never: false,
            types: None,
            enum_values: None,
            const_value: None,
            minimum: None,
            exclusive_minimum: None,
            maximum: None,
            exclusive_maximum: None,
            multiple_of: None,
            min_length: None,
            max_length: None,
            pattern: None,
            format: None,
            items: None,
            prefix_items: Vec::new(),
            min_items: None,
            max_items: None,
            unique_items: false,
            contains: None,
            min_contains: None,
            max_contains: None,
            properties: Vec::new(),
            required: Vec::new(),
            pattern_properties: Vec::new(),
            additional: Additional::Unspecified,
            unevaluated: None,
            property_names: None,
            min_properties: None,
            max_properties: None,
            dependent_required: Vec::new(),
            all_of: Vec::new(),
            any_of: Vec::new(),
            one_of: Vec::new(),
            not: None,
            if_then_else: None,
            discriminator: None,
            read_only: false,
            write_only: false,
            describes_object: false,
        }
    }

    pub fn property(&self, name: &str) -> Option<SchemaId> {
        self.properties
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .map(|i| self.properties[i].1)
    }

    /// Whether the schema constrains nothing at all (`{}` or `true`).
    pub fn is_unconstrained(&self) -> bool {
        !self.never
            && self.types.is_none()
            && self.enum_values.is_none()
            && self.const_value.is_none()
            && !self.describes_object
            && self.all_of.is_empty()
            && self.any_of.is_empty()
            && self.one_of.is_empty()
            && self.not.is_none()
            && self.items.is_none()
            && self.prefix_items.is_empty()
            && self.format.is_none()
            && self.pattern.is_none()
            && self.max_length.is_none()
            && self.min_length.is_none()
    }
}

/// Every compiled schema of one spec.
#[derive(Debug, Default)]
pub struct SchemaArena {
    nodes: Vec<Schema>,
}

impl SchemaArena {
    pub fn get(&self, id: SchemaId) -> &Schema {
        &self.nodes[id.0 as usize]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (SchemaId, &Schema)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, s)| (SchemaId(i as u32), s))
    }

    /// The types a schema admits, looking through `allOf` / `anyOf` / `oneOf`
    /// when it names none itself (used to coerce parameter strings).
    pub fn effective_types(&self, id: SchemaId) -> Option<TypeSet> {
        self.effective_types_within(id, 0)
    }

    fn effective_types_within(&self, id: SchemaId, depth: u32) -> Option<TypeSet> {
        let s = self.get(id);
        if s.types.is_some() || depth > 8 {
            return s.types;
        }
        let mut bits = 0u8;
        for sub in s.all_of.iter().chain(&s.any_of).chain(&s.one_of) {
            if let Some(t) = self.effective_types_within(*sub, depth + 1) {
                bits |= t.0;
            }
        }
        if bits == 0 && s.describes_object {
            bits = TypeSet::OBJECT;
        }
        (bits != 0).then_some(TypeSet(bits))
    }

    /// The schema of property `name` in `id` or the schemas it combines in place.
    pub fn find_property(&self, id: SchemaId, name: &str) -> Option<SchemaId> {
        self.find_property_within(id, name, 0)
    }

    fn find_property_within(&self, id: SchemaId, name: &str, depth: u32) -> Option<SchemaId> {
        let s = self.get(id);
        if let Some(p) = s.property(name) {
            return Some(p);
        }
        if depth > 8 {
            return None;
        }
        s.all_of
            .iter()
            .chain(&s.any_of)
            .chain(&s.one_of)
            .find_map(|sub| self.find_property_within(*sub, name, depth + 1))
    }

    /// The item schema of an array schema, looking through combinators.
    pub fn find_items(&self, id: SchemaId) -> Option<SchemaId> {
        let s = self.get(id);
        s.items.or_else(|| {
            s.all_of
                .iter()
                .chain(&s.any_of)
                .chain(&s.one_of)
                .find_map(|sub| self.get(*sub).items)
        })
    }
}

/// Deepest nesting of schemas inside schemas accepted at compile time.
const MAX_COMPILE_DEPTH: u32 = 128;

/// Compiles schemas of one [`SpecSet`] into a [`SchemaArena`], memoized by
/// location so each schema is compiled once however often it is referenced.
pub struct SchemaCompiler<'s> {
    specs: &'s SpecSet,
    arena: SchemaArena,
    memo: HashMap<Target, SchemaId>,
    depth: u32,
}

impl<'s> SchemaCompiler<'s> {
    pub fn new(specs: &'s SpecSet) -> Self {
        Self {
            specs,
            arena: SchemaArena::default(),
            memo: HashMap::new(),
            depth: 0,
        }
    }

    pub fn finish(self) -> SchemaArena {
        self.arena
    }

    pub fn arena(&self) -> &SchemaArena {
        &self.arena
    }

    fn err(&self, at: &Target, message: impl Into<String>) -> SpecError {
        self.specs.error_at(at, message)
    }

    /// Compiles the schema at `at`.
    pub fn compile(&mut self, at: &Target) -> Result<SchemaId, SpecError> {
        if let Some(id) = self.memo.get(at) {
            return Ok(*id);
        }
        let dialect = self.specs.dialect;
        let value = self
            .specs
            .get(at)
            .ok_or_else(|| self.err(at, "no schema at this location"))?;
        // A bare reference (3.0 ignores a `$ref`'s siblings) is the schema it
        // points to: follow the chain, refusing reference-only cycles.
        if let Some(obj) = value.as_object()
            && obj.contains_key("$ref")
            && (dialect == Dialect::V30 || obj.keys().all(|k| is_annotation(k) || k == "$ref"))
        {
            let (target, _) = self.specs.follow(at)?;
            let id = self.compile(&target)?;
            self.memo.insert(at.clone(), id);
            return Ok(id);
        }
        self.depth += 1;
        if self.depth > MAX_COMPILE_DEPTH {
            self.depth -= 1;
            return Err(self.err(
                at,
                format!("schemas nested deeper than {MAX_COMPILE_DEPTH} levels"),
            ));
        }
        let id = SchemaId(self.arena.nodes.len() as u32);
        self.arena.nodes.push(Schema::empty(at.clone()));
        self.memo.insert(at.clone(), id);
        let built = self.build(at, value);
        self.depth -= 1;
        self.arena.nodes[id.0 as usize] = built?;
        Ok(id)
    }

    fn child(&mut self, at: &Target, token: &str) -> Result<SchemaId, SpecError> {
        self.compile(&Target {
            doc: at.doc,
            pointer: join(&at.pointer, token),
        })
    }

    fn child_list(
        &mut self,
        at: &Target,
        key: &str,
        value: &Value,
    ) -> Result<Vec<SchemaId>, SpecError> {
        let here = at_key(at, key);
        let items = value.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
            self.err(
                &here,
                format!("`{key}` must be a non-empty list of schemas"),
            )
        })?;
        (0..items.len())
            .map(|i| self.child(&here, &i.to_string()))
            .collect()
    }

    fn build(&mut self, at: &Target, value: &Value) -> Result<Schema, SpecError> {
        let dialect = self.specs.dialect;
        let mut s = Schema::empty(at.clone());
        let obj = match value {
            Value::Bool(b) if dialect == Dialect::V31 => {
                s.never = !b;
                return Ok(s);
            }
            Value::Object(obj) => obj,
            _ => {
                return Err(self.err(
                    at,
                    if dialect == Dialect::V31 {
                        "a schema must be an object or a boolean"
                    } else {
                        "a schema must be an object"
                    },
                ));
            }
        };
        if obj.contains_key("$ref") {
            // 3.1: a reference with sibling keywords applies both.
            let target = self
                .specs
                .resolve(at.doc, obj["$ref"].as_str().unwrap_or(""))
                .map_err(|m| self.err(&at_key(at, "$ref"), m))?;
            s.all_of.push(self.compile(&target)?);
        }
        self.types(at, obj, &mut s)?;
        if let Some(v) = obj.get("enum") {
            let values = v
                .as_array()
                .ok_or_else(|| self.err(&at_key(at, "enum"), "`enum` must be a list"))?;
            s.enum_values = Some(values.clone());
        }
        if let Some(v) = obj.get("const") {
            s.const_value = Some(v.clone());
        }
        s.minimum = self.number(at, obj, "minimum")?;
        s.maximum = self.number(at, obj, "maximum")?;
        for (key, bound, target) in [
            ("exclusiveMinimum", s.minimum, 0),
            ("exclusiveMaximum", s.maximum, 1),
        ] {
            let Some(v) = obj.get(key) else { continue };
            let value = match (dialect, v) {
                (Dialect::V30, Value::Bool(true)) => bound.ok_or_else(|| {
                    self.err(
                        &at_key(at, key),
                        format!("`{key}: true` needs the matching bound"),
                    )
                })?,
                (Dialect::V30, Value::Bool(false)) => continue,
                (_, Value::Number(n)) if dialect == Dialect::V31 => n.as_f64().unwrap_or(f64::NAN),
                (Dialect::V30, _) => {
                    return Err(self.err(
                        &at_key(at, key),
                        format!("`{key}` must be a boolean in OpenAPI 3.0"),
                    ));
                }
                _ => {
                    return Err(self.err(
                        &at_key(at, key),
                        format!("`{key}` must be a number in OpenAPI 3.1"),
                    ));
                }
            };
            if target == 0 {
                s.exclusive_minimum = Some(value);
                if dialect == Dialect::V30 {
                    s.minimum = None;
                }
            } else {
                s.exclusive_maximum = Some(value);
                if dialect == Dialect::V30 {
                    s.maximum = None;
                }
            }
        }
        s.multiple_of = self.number(at, obj, "multipleOf")?;
        if s.multiple_of.is_some_and(|m| m <= 0.0 || !m.is_finite()) {
            return Err(self.err(
                &at_key(at, "multipleOf"),
                "`multipleOf` must be greater than 0",
            ));
        }
        s.min_length = self.count(at, obj, "minLength")?;
        s.max_length = self.count(at, obj, "maxLength")?;
        if let Some(p) = obj.get("pattern") {
            let text = p
                .as_str()
                .ok_or_else(|| self.err(&at_key(at, "pattern"), "`pattern` must be a string"))?;
            s.pattern = Some(self.regex(&at_key(at, "pattern"), text)?);
        }
        if let Some(f) = obj.get("format").and_then(Value::as_str) {
            s.format = Format::parse(f);
        }
        if obj.contains_key("items") {
            match (&obj["items"], dialect) {
                (Value::Array(_), Dialect::V30) => {
                    return Err(
                        self.err(&at_key(at, "items"), "`items` must be a schema, not a list")
                    );
                }
                (Value::Array(_), Dialect::V31) => {
                    return Err(self.err(
                        &at_key(at, "items"),
                        "`items` must be a schema; use `prefixItems` for tuples",
                    ));
                }
                _ => s.items = Some(self.child(at, "items")?),
            }
        }
        if let Some(v) = obj.get("prefixItems") {
            s.prefix_items = self.child_list(at, "prefixItems", v)?;
        }
        s.min_items = self.count(at, obj, "minItems")?;
        s.max_items = self.count(at, obj, "maxItems")?;
        s.unique_items = obj
            .get("uniqueItems")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if obj.contains_key("contains") {
            s.contains = Some(self.child(at, "contains")?);
        }
        s.min_contains = self.count(at, obj, "minContains")?;
        s.max_contains = self.count(at, obj, "maxContains")?;
        if let Some(v) = obj.get("properties") {
            let props = v
                .as_object()
                .ok_or_else(|| self.err(&at_key(at, "properties"), "`properties` must be a map"))?;
            let here = at_key(at, "properties");
            let mut compiled: Vec<(Box<str>, SchemaId)> = Vec::with_capacity(props.len());
            for name in props.keys() {
                compiled.push((Box::from(name.as_str()), self.child(&here, name)?));
            }
            compiled.sort_by(|a, b| a.0.cmp(&b.0));
            s.properties = compiled;
        }
        if let Some(v) = obj.get("required") {
            let names = v.as_array().ok_or_else(|| {
                self.err(
                    &at_key(at, "required"),
                    "`required` must be a list of names",
                )
            })?;
            for n in names {
                let n = n.as_str().ok_or_else(|| {
                    self.err(
                        &at_key(at, "required"),
                        "`required` must be a list of names",
                    )
                })?;
                s.required.push(n.into());
            }
        }
        if let Some(v) = obj.get("patternProperties") {
            let props = v.as_object().ok_or_else(|| {
                self.err(
                    &at_key(at, "patternProperties"),
                    "`patternProperties` must be a map",
                )
            })?;
            let here = at_key(at, "patternProperties");
            for pattern in props.keys() {
                let regex = self.regex(&at_key(&here, pattern), pattern)?;
                s.pattern_properties
                    .push((regex, self.child(&here, pattern)?));
            }
        }
        s.additional = self.additional(at, obj, "additionalProperties")?;
        if obj.contains_key("unevaluatedProperties") {
            s.unevaluated = Some(self.additional(at, obj, "unevaluatedProperties")?);
        }
        if obj.contains_key("propertyNames") {
            s.property_names = Some(self.child(at, "propertyNames")?);
        }
        s.min_properties = self.count(at, obj, "minProperties")?;
        s.max_properties = self.count(at, obj, "maxProperties")?;
        if let Some(Value::Object(deps)) = obj.get("dependentRequired") {
            for (name, list) in deps {
                let names = list
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).map(Box::from).collect())
                    .unwrap_or_default();
                s.dependent_required.push((name.as_str().into(), names));
            }
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(v) = obj.get(key) {
                let list = self.child_list(at, key, v)?;
                match key {
                    "allOf" => s.all_of.extend(list),
                    "anyOf" => s.any_of = list,
                    _ => s.one_of = list,
                }
            }
        }
        if obj.contains_key("not") {
            s.not = Some(self.child(at, "not")?);
        }
        if obj.contains_key("if") && dialect == Dialect::V31 {
            let cond = self.child(at, "if")?;
            let then = if obj.contains_key("then") {
                Some(self.child(at, "then")?)
            } else {
                None
            };
            let otherwise = if obj.contains_key("else") {
                Some(self.child(at, "else")?)
            } else {
                None
            };
            s.if_then_else = Some((cond, then, otherwise));
        }
        s.read_only = obj
            .get("readOnly")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        s.write_only = obj
            .get("writeOnly")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if let Some(d) = obj.get("discriminator") {
            s.discriminator = Some(self.discriminator(at, obj, d)?);
        }
        s.describes_object = s.types.is_some_and(|t| t.has(TypeSet::OBJECT))
            && s.types
                .is_some_and(|t| t.0 & !(TypeSet::OBJECT | TypeSet::NULL) == 0)
            || !s.properties.is_empty()
            || !s.required.is_empty()
            || !s.pattern_properties.is_empty()
            || s.additional != Additional::Unspecified
            || s.unevaluated.is_some();
        Ok(s)
    }

    fn types(
        &self,
        at: &Target,
        obj: &Map<String, Value>,
        s: &mut Schema,
    ) -> Result<(), SpecError> {
        let dialect = self.specs.dialect;
        let mut bits = 0u8;
        match obj.get("type") {
            None => {}
            Some(Value::String(name)) => {
                bits = TypeSet::bit(name).ok_or_else(|| {
                    self.err(&at_key(at, "type"), format!("unknown type {name:?}"))
                })?;
            }
            Some(Value::Array(names)) if dialect == Dialect::V31 => {
                for n in names {
                    let bit = n.as_str().and_then(TypeSet::bit).ok_or_else(|| {
                        self.err(&at_key(at, "type"), "`type` must list known type names")
                    })?;
                    bits |= bit;
                }
            }
            Some(_) => {
                return Err(self.err(
                    &at_key(at, "type"),
                    if dialect == Dialect::V30 {
                        "`type` must be one type name in OpenAPI 3.0 (use `nullable: true` for null)"
                    } else {
                        "`type` must be a type name or a list of them"
                    },
                ));
            }
        }
        if bits != 0 {
            // An `integer` is also acceptable where `number` is asked.
            if dialect == Dialect::V30 && obj.get("nullable").and_then(Value::as_bool) == Some(true)
            {
                bits |= TypeSet::NULL;
            }
            s.types = Some(TypeSet(bits));
        }
        Ok(())
    }

    fn number(
        &self,
        at: &Target,
        obj: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<f64>, SpecError> {
        match obj.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(self.err(&at_key(at, key), format!("`{key}` must be a number"))),
        }
    }

    fn count(
        &self,
        at: &Target,
        obj: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<usize>, SpecError> {
        match obj.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| {
                    v.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                        .map(|f| f as u64)
                })
                .map(|n| Some(usize::try_from(n).unwrap_or(usize::MAX)))
                .ok_or_else(|| {
                    self.err(
                        &at_key(at, key),
                        format!("`{key}` must be a non-negative integer"),
                    )
                }),
        }
    }

    fn regex(&self, at: &Target, pattern: &str) -> Result<Regex, SpecError> {
        regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 20)
            .build()
            .map_err(|e| {
                let detail = e.to_string();
                let detail = detail.lines().last().unwrap_or("").trim();
                self.err(
                    at,
                    format!("pattern is not a supported regular expression (no look-around or back-references): {detail}"),
                )
            })
    }

    fn additional(
        &mut self,
        at: &Target,
        obj: &Map<String, Value>,
        key: &str,
    ) -> Result<Additional, SpecError> {
        Ok(match obj.get(key) {
            None => Additional::Unspecified,
            Some(Value::Bool(true)) => Additional::Allow,
            Some(Value::Bool(false)) => Additional::Forbid,
            Some(Value::Object(o)) if o.is_empty() => Additional::Allow,
            Some(Value::Object(_)) => Additional::Schema(self.child(at, key)?),
            Some(_) => {
                return Err(self.err(
                    &at_key(at, key),
                    format!("`{key}` must be a boolean or a schema"),
                ));
            }
        })
    }

    fn discriminator(
        &mut self,
        at: &Target,
        obj: &Map<String, Value>,
        d: &Value,
    ) -> Result<Discriminator, SpecError> {
        let here = at_key(at, "discriminator");
        let property = d
            .get("propertyName")
            .and_then(Value::as_str)
            .ok_or_else(|| self.err(&here, "a discriminator needs a `propertyName`"))?;
        let mut mapping: Vec<(Box<str>, SchemaId)> = Vec::new();
        if let Some(Value::Object(map)) = d.get("mapping") {
            for (value, reference) in map {
                let reference = reference.as_str().ok_or_else(|| {
                    self.err(
                        &at_key(&here, "mapping"),
                        "mapping values must be references or schema names",
                    )
                })?;
                let reference = if reference.contains('#')
                    || reference.contains('/')
                    || reference.contains('.')
                {
                    reference.to_owned()
                } else {
                    format!("#/components/schemas/{reference}")
                };
                let target = self
                    .specs
                    .resolve(at.doc, &reference)
                    .map_err(|m| self.err(&at_key(&at_key(&here, "mapping"), value), m))?;
                mapping.push((value.as_str().into(), self.compile(&target)?));
            }
        }
        // Implicit mapping: a branch referenced as `#/.../Name` is chosen by "Name".
        for key in ["oneOf", "anyOf"] {
            let Some(Value::Array(branches)) = obj.get(key) else {
                continue;
            };
            for (i, branch) in branches.iter().enumerate() {
                let Some(reference) = branch.get("$ref").and_then(Value::as_str) else {
                    continue;
                };
                let name = reference.rsplit('/').next().unwrap_or(reference);
                if mapping.iter().any(|(v, _)| &**v == name) {
                    continue;
                }
                let id = self.child(&at_key(at, key), &i.to_string())?;
                mapping.push((name.into(), id));
            }
        }
        if mapping.is_empty() && !obj.contains_key("oneOf") && !obj.contains_key("anyOf") {
            self.inheriting_schemas(at, &mut mapping)?;
        }
        Ok(Discriminator {
            property: property.into(),
            mapping,
        })
    }
}

impl SchemaCompiler<'_> {
    /// Implicit mapping of an inheritance discriminator: every schema of
    /// `components/schemas` (of the same document) whose `allOf` refers to
    /// `at` is chosen by its name.
    fn inheriting_schemas(
        &mut self,
        at: &Target,
        mapping: &mut Vec<(Box<str>, SchemaId)>,
    ) -> Result<(), SpecError> {
        let root = &self.specs.doc(at.doc).root;
        let Some(Value::Object(schemas)) = root.pointer("/components/schemas") else {
            return Ok(());
        };
        let mut names = Vec::new();
        for (name, schema) in schemas {
            let Some(Value::Array(all_of)) = schema.get("allOf") else {
                continue;
            };
            let refers = all_of.iter().any(|b| {
                b.get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| self.specs.resolve(at.doc, r).ok())
                    .is_some_and(|t| t == *at)
            });
            if refers {
                names.push(name.clone());
            }
        }
        for name in names {
            let target = Target {
                doc: at.doc,
                pointer: join("/components/schemas", &name),
            };
            mapping.push((name.as_str().into(), self.compile(&target)?));
        }
        Ok(())
    }
}

fn at_key(at: &Target, key: &str) -> Target {
    Target {
        doc: at.doc,
        pointer: join(&at.pointer, key),
    }
}

fn is_annotation(key: &str) -> bool {
    matches!(key, "description" | "summary" | "title" | "$comment") || key.starts_with("x-")
}
