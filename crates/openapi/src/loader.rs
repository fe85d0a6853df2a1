//! Reads OpenAPI documents (YAML or JSON) and every document their `$ref`s
//! name, and resolves references between them. This is the only module that
//! touches the file system, and only at config load or reload time; remote
//! (`http://`, `https://`) references are refused, never fetched. Resolving a
//! reference is pure: documents are identified by their lexically normalized
//! path, so the same logic serves files on disk and texts held in memory.

use std::collections::{HashMap, VecDeque};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::error::{SpecError, join};

/// Most documents one spec may pull in through `$ref`s.
pub const MAX_DOCUMENTS: usize = 64;

/// Identifies one document of a [`SpecSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId(pub(crate) u32);

/// One parsed document.
#[derive(Debug)]
pub struct Document {
    pub path: PathBuf,
    pub root: Value,
}

/// The OpenAPI version a root document declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// 3.0.x: its own JSON Schema subset (`nullable`, boolean `exclusiveMinimum`).
    V30,
    /// 3.1.x: JSON Schema 2020-12.
    V31,
}

/// A root document and every document it references, transitively.
#[derive(Debug)]
pub struct SpecSet {
    docs: Vec<Document>,
    by_path: HashMap<PathBuf, DocId>,
    pub dialect: Dialect,
}

/// Where a reference points: a document and a JSON pointer inside it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub doc: DocId,
    pub pointer: String,
}

impl SpecSet {
    /// Reads `path` and every file its `$ref`s name.
    pub fn load(path: &Path) -> Result<SpecSet, SpecError> {
        Self::build(path, |p| {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read: {e}"))
        })
    }

    /// Builds a set from texts held in memory, `(name, text)`, the first one
    /// being the root; `$ref`s name the others by relative path.
    pub fn from_texts(texts: &[(&str, &str)]) -> Result<SpecSet, SpecError> {
        let by_name: HashMap<PathBuf, &str> = texts
            .iter()
            .map(|(name, text)| (normalize(Path::new(name)), *text))
            .collect();
        let root = texts
            .first()
            .map(|(name, _)| PathBuf::from(name))
            .unwrap_or_default();
        Self::build(&root, |p| {
            by_name
                .get(p)
                .map(|t| (*t).to_owned())
                .ok_or_else(|| "no such document".to_owned())
        })
    }

    fn build(
        root: &Path,
        mut read: impl FnMut(&Path) -> Result<String, String>,
    ) -> Result<SpecSet, SpecError> {
        let root = normalize(root);
        let mut set = SpecSet {
            docs: Vec::new(),
            by_path: HashMap::new(),
            dialect: Dialect::V30,
        };
        let text = read(&root).map_err(|m| SpecError::new(&root, "", m))?;
        let value = parse_document(&root, &text)?;
        set.dialect = dialect_of(&root, &value)?;
        set.add(root, value);
        let mut queue = VecDeque::from([DocId(0)]);
        while let Some(id) = queue.pop_front() {
            let mut refs = Vec::new();
            collect_refs(&set.doc(id).root, &mut String::new(), &mut refs);
            let dir = set
                .doc(id)
                .path
                .parent()
                .map(Path::to_owned)
                .unwrap_or_default();
            for (pointer, reference) in refs {
                let file = reference.split('#').next().unwrap_or("");
                if file.is_empty() {
                    continue;
                }
                let here = || set.doc(id).path.clone();
                if is_remote(file) {
                    return Err(SpecError::new(
                        here(),
                        pointer,
                        format!(
                            "remote reference {reference:?} is never fetched: copy the document next to the spec and refer to it by a relative path"
                        ),
                    ));
                }
                let path = normalize(&dir.join(decode(file)));
                if set.by_path.contains_key(&path) {
                    continue;
                }
                if set.docs.len() >= MAX_DOCUMENTS {
                    return Err(SpecError::new(
                        here(),
                        pointer,
                        format!("more than {MAX_DOCUMENTS} referenced documents"),
                    ));
                }
                let text = read(&path).map_err(|m| {
                    SpecError::new(
                        here(),
                        pointer.clone(),
                        format!("referenced document {}: {m}", path.display()),
                    )
                })?;
                let value = parse_document(&path, &text)?;
                queue.push_back(set.add(path, value));
            }
        }
        Ok(set)
    }

    fn add(&mut self, path: PathBuf, root: Value) -> DocId {
        let id = DocId(self.docs.len() as u32);
        self.by_path.insert(path.clone(), id);
        self.docs.push(Document { path, root });
        id
    }

    pub fn root_id(&self) -> DocId {
        DocId(0)
    }

    pub fn doc(&self, id: DocId) -> &Document {
        &self.docs[id.0 as usize]
    }

    pub fn documents(&self) -> impl Iterator<Item = (DocId, &Document)> {
        self.docs
            .iter()
            .enumerate()
            .map(|(i, d)| (DocId(i as u32), d))
    }

    /// The value at `pointer` of document `doc`.
    pub fn get(&self, target: &Target) -> Option<&Value> {
        self.doc(target.doc).root.pointer(&target.pointer)
    }

    /// Where `reference`, written in document `from`, points.
    pub fn resolve(&self, from: DocId, reference: &str) -> Result<Target, String> {
        let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let doc = if file.is_empty() {
            from
        } else {
            if is_remote(file) {
                return Err(format!("remote reference {reference:?} is never fetched"));
            }
            let dir = self
                .doc(from)
                .path
                .parent()
                .map(Path::to_owned)
                .unwrap_or_default();
            let path = normalize(&dir.join(decode(file)));
            *self
                .by_path
                .get(&path)
                .ok_or_else(|| format!("reference {reference:?}: document not loaded"))?
        };
        let pointer = decode(fragment);
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(format!(
                "reference {reference:?}: only JSON pointer fragments (#/...) are supported, not anchors"
            ));
        }
        let target = Target { doc, pointer };
        if self.get(&target).is_none() {
            return Err(format!(
                "reference {reference:?} points to nothing in {}",
                self.doc(doc).path.display()
            ));
        }
        Ok(target)
    }

    /// Follows a chain of `{"$ref": ...}` objects to the first value that is
    /// not one, refusing cycles. Returns that value and where it is.
    pub fn follow<'s>(&'s self, at: &Target) -> Result<(Target, &'s Value), SpecError> {
        let mut current = at.clone();
        let mut seen: Vec<Target> = Vec::new();
        loop {
            let value = self.get(&current).ok_or_else(|| {
                SpecError::new(
                    &self.doc(current.doc).path,
                    current.pointer.clone(),
                    "nothing at this location",
                )
            })?;
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return Ok((current, value));
            };
            if seen.contains(&current) {
                return Err(self.error_at(
                    &current,
                    format!("reference cycle: {reference:?} leads back to itself"),
                ));
            }
            seen.push(current.clone());
            let next = self.resolve(current.doc, reference).map_err(|m| {
                SpecError::new(
                    &self.doc(current.doc).path,
                    join(&current.pointer, "$ref"),
                    m,
                )
            })?;
            current = next;
        }
    }

    /// A [`SpecError`] at `target`.
    pub fn error_at(&self, target: &Target, message: impl Into<String>) -> SpecError {
        SpecError::new(&self.doc(target.doc).path, target.pointer.clone(), message)
    }
}

fn dialect_of(path: &Path, root: &Value) -> Result<Dialect, SpecError> {
    let version = root.get("openapi").and_then(Value::as_str).ok_or_else(|| {
        SpecError::new(
            path,
            "/openapi",
            "not an OpenAPI 3 document: the `openapi` version field is missing (Swagger 2.0 is not supported)",
        )
    })?;
    if version.starts_with("3.0") {
        Ok(Dialect::V30)
    } else if version.starts_with("3.1") {
        Ok(Dialect::V31)
    } else {
        Err(SpecError::new(
            path,
            "/openapi",
            format!("unsupported OpenAPI version {version:?}: 3.0.x and 3.1.x are supported"),
        ))
    }
}

/// Parses one document: JSON when the name says so, YAML otherwise.
pub fn parse_document(path: &Path, text: &str) -> Result<Value, SpecError> {
    let is_json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        serde_json::from_str(text)
            .map_err(|e| SpecError::new(path, "", format!("invalid JSON: {e}")))
    } else {
        serde_saphyr::from_str::<Value>(text).map_err(|e| {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("invalid YAML").to_owned();
            SpecError::new(path, "", format!("invalid YAML: {first}"))
        })
    }
}

fn is_remote(file: &str) -> bool {
    let lower = file.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("//")
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Every `$ref` string of a document, with the pointer of the object holding it.
fn collect_refs(value: &Value, pointer: &mut String, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push((pointer.clone(), r.clone()));
            }
            for (key, child) in map {
                // Example values are data, not part of the description.
                if key == "example" || key == "examples" && !child.is_object() {
                    continue;
                }
                let len = pointer.len();
                crate::error::push_token(pointer, key);
                collect_refs(child, pointer, out);
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = pointer.len();
                crate::error::push_token(pointer, &i.to_string());
                collect_refs(child, pointer, out);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}
