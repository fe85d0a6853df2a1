//! Compiles a loaded [`SpecSet`] into a [`Spec`]: every operation with its
//! parameters, request body and responses resolved and their schemas
//! compiled, the operation router, and the effective knobs of each
//! operation. A spec that is broken or ambiguous (a template parameter
//! without a definition, the same operation id twice, a style a location
//! cannot have) is refused here with the pointer of the offending value.
//! Compiling is pure; only [`Spec::load`] reads files.

use std::collections::HashMap;
use std::path::Path;

use http::{HeaderName, Method};
use serde_json::{Map, Value};

use crate::error::{SpecError, join};
use crate::knobs::{KnobOverrides, Knobs};
use crate::loader::{Dialect, SpecSet, Target};
use crate::router::{OperationRouter, template_parameters};
use crate::schema::{SchemaArena, SchemaCompiler, SchemaId, TypeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamIn {
    Path,
    Query,
    Header,
    Cookie,
}

impl ParamIn {
    /// The location prefix of findings (`query.limit`).
    pub fn prefix(self) -> &'static str {
        match self {
            ParamIn::Path => "path",
            ParamIn::Query => "query",
            ParamIn::Header => "header",
            ParamIn::Cookie => "cookie",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Simple,
    Label,
    Matrix,
    Form,
    SpaceDelimited,
    PipeDelimited,
    DeepObject,
}

impl Style {
    fn parse(name: &str) -> Option<Style> {
        Some(match name {
            "simple" => Style::Simple,
            "label" => Style::Label,
            "matrix" => Style::Matrix,
            "form" => Style::Form,
            "spaceDelimited" => Style::SpaceDelimited,
            "pipeDelimited" => Style::PipeDelimited,
            "deepObject" => Style::DeepObject,
            _ => return None,
        })
    }
}

/// The shape a parameter's value has once deserialized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Primitive,
    Array,
    Object,
}

#[derive(Debug)]
pub struct Parameter {
    pub name: Box<str>,
    /// For header parameters: the name as a header name.
    pub header: Option<HeaderName>,
    pub location: ParamIn,
    pub required: bool,
    pub style: Style,
    pub explode: bool,
    pub allow_reserved: bool,
    pub schema: Option<SchemaId>,
    /// Described with `content: application/json`: the value is JSON text.
    pub json_content: bool,
    pub shape: Shape,
    pub site: Target,
}

/// How one multipart part or form field is encoded.
#[derive(Debug, Default)]
pub struct Encoding {
    /// Accepted media types of the part (`image/png`, `image/*`).
    pub content_types: Vec<Box<str>>,
    pub style: Option<Style>,
    pub explode: Option<bool>,
}

#[derive(Debug)]
pub struct MediaType {
    /// Lower-case `type/subtype`, possibly with wildcards (`image/*`, `*/*`).
    pub range: Box<str>,
    pub schema: Option<SchemaId>,
    pub encoding: Vec<(Box<str>, Encoding)>,
    /// `application/json` or `+json` (decided once, at compile time).
    pub json: bool,
}

impl MediaType {
    pub fn encoding(&self, property: &str) -> Option<&Encoding> {
        self.encoding
            .iter()
            .find(|(n, _)| &**n == property)
            .map(|(_, e)| e)
    }
}

#[derive(Debug)]
pub struct RequestBodySpec {
    pub required: bool,
    pub content: Vec<MediaType>,
    pub site: Target,
}

/// Which response statuses a response object covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKey {
    Exact(u16),
    /// `2XX`: the first digit.
    Range(u16),
    Default,
}

#[derive(Debug)]
pub struct ResponseSpec {
    pub status: StatusKey,
    pub content: Vec<MediaType>,
    pub site: Target,
}

#[derive(Debug)]
pub struct Operation {
    /// `operationId`, or `METHOD /template` when the spec gives none.
    /// The `operationId`, or `METHOD /template` (shared, so recording it on
    /// a request costs no allocation).
    pub id: std::sync::Arc<str>,
    pub method: Method,
    pub template: Box<str>,
    pub parameters: Vec<Parameter>,
    /// Indices into `parameters` of the path parameters, in template order.
    pub path_params: Vec<usize>,
    pub request_body: Option<RequestBodySpec>,
    pub responses: Vec<ResponseSpec>,
    pub knobs: Knobs,
    /// Whether a security requirement applies (own or the document's).
    pub secured: bool,
    pub site: Target,
}

impl Operation {
    /// The response object for `status`: exact code, then range, then `default`.
    pub fn response(&self, status: u16) -> Option<&ResponseSpec> {
        self.responses
            .iter()
            .find(|r| r.status == StatusKey::Exact(status))
            .or_else(|| {
                self.responses
                    .iter()
                    .find(|r| r.status == StatusKey::Range(status / 100))
            })
            .or_else(|| {
                self.responses
                    .iter()
                    .find(|r| r.status == StatusKey::Default)
            })
    }
}

/// Parameter names that security schemes (`apiKey`) place in requests.
#[derive(Debug, Default)]
pub struct ApiKeyNames {
    pub query: Vec<Box<str>>,
    pub headers: Vec<HeaderName>,
    pub cookies: Vec<Box<str>>,
}

/// What compiling needs besides the documents.
#[derive(Debug, Default, Clone)]
pub struct CompileOptions {
    /// Replaces the base paths taken from `servers`.
    pub base_path: Option<String>,
    /// The knobs every operation starts from.
    pub knobs: Knobs,
    /// Overrides by operation id, applied over the operation's `x-portcullis-*` extensions.
    pub overrides: HashMap<String, KnobOverrides>,
}

/// A compiled spec: immutable, shared by every request.
#[derive(Debug)]
pub struct Spec {
    pub documents: SpecSet,
    pub arena: SchemaArena,
    pub operations: Vec<Operation>,
    pub router: OperationRouter,
    pub api_keys: ApiKeyNames,
    /// `servers[].url` as written, for the audit.
    pub servers: Vec<(String, Target)>,
    by_id: HashMap<Box<str>, usize>,
    /// Which schemas the single-pass JSON validator can apply ([`crate::fast`]).
    pub(crate) fast: crate::fast::FastTable,
}

const METHOD_KEYS: [(&str, Method); 8] = [
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("options", Method::OPTIONS),
    ("head", Method::HEAD),
    ("patch", Method::PATCH),
    ("trace", Method::TRACE),
];

impl Spec {
    /// Reads and compiles the spec at `path` (and the documents it references).
    pub fn load(path: &Path, options: &CompileOptions) -> Result<Spec, SpecError> {
        Self::compile(SpecSet::load(path)?, options)
    }

    /// Compiles in-memory documents; see [`SpecSet::from_texts`].
    pub fn from_texts(texts: &[(&str, &str)], options: &CompileOptions) -> Result<Spec, SpecError> {
        Self::compile(SpecSet::from_texts(texts)?, options)
    }

    pub fn compile(documents: SpecSet, options: &CompileOptions) -> Result<Spec, SpecError> {
        let compiled = {
            let mut c = Compiler {
                specs: &documents,
                schemas: SchemaCompiler::new(&documents),
                options,
            };
            let parts = c.document()?;
            (parts, c.schemas.finish())
        };
        let ((operations, router, api_keys, servers), arena) = compiled;
        let by_id = operations
            .iter()
            .enumerate()
            .map(|(i, op)| (Box::<str>::from(&*op.id), i))
            .collect();
        let fast = crate::fast::FastTable::new(&arena);
        Ok(Spec {
            documents,
            arena,
            operations,
            router,
            api_keys,
            servers,
            by_id,
            fast,
        })
    }

    pub fn operation_by_id(&self, id: &str) -> Option<&Operation> {
        self.by_id.get(id).map(|i| &self.operations[*i])
    }

    pub fn dialect(&self) -> Dialect {
        self.documents.dialect
    }
}

type Compiled = (
    Vec<Operation>,
    OperationRouter,
    ApiKeyNames,
    Vec<(String, Target)>,
);

struct Compiler<'s> {
    specs: &'s SpecSet,
    schemas: SchemaCompiler<'s>,
    options: &'s CompileOptions,
}

fn at(doc: crate::loader::DocId, pointer: String) -> Target {
    Target { doc, pointer }
}

fn key(t: &Target, k: &str) -> Target {
    Target {
        doc: t.doc,
        pointer: join(&t.pointer, k),
    }
}

impl Compiler<'_> {
    fn err(&self, t: &Target, m: impl Into<String>) -> SpecError {
        self.specs.error_at(t, m)
    }

    fn object<'v>(
        &self,
        t: &Target,
        v: &'v Value,
        what: &str,
    ) -> Result<&'v Map<String, Value>, SpecError> {
        v.as_object()
            .ok_or_else(|| self.err(t, format!("{what} must be an object")))
    }

    fn document(&mut self) -> Result<Compiled, SpecError> {
        // `specs` outlives the compiler, so values read from it do not borrow `self`.
        let specs = self.specs;
        let root_doc = specs.root_id();
        let root = &specs.doc(root_doc).root;
        let root_t = at(root_doc, String::new());
        let servers = self.servers(&root_t, root)?;
        let base_paths = match &self.options.base_path {
            Some(b) => vec![b.clone()],
            None => base_paths(&servers),
        };
        let mut router = OperationRouter::new(base_paths);
        let api_keys = self.api_keys(root);
        let root_secured = root.get("security").is_some_and(requires_security);
        let paths_t = key(&root_t, "paths");
        let empty = Map::new();
        let paths = match root.get("paths") {
            None => &empty,
            Some(p) => self.object(&paths_t, p, "`paths`")?,
        };
        let mut operations: Vec<Operation> = Vec::new();
        let mut ids: HashMap<Box<str>, Target> = HashMap::new();
        for (template, item) in paths {
            if template.starts_with("x-") {
                continue;
            }
            let item_t = key(&paths_t, template);
            let (item_t, item) = if item.get("$ref").is_some() {
                specs.follow(&item_t)?
            } else {
                (item_t, item)
            };
            let item_map = self.object(&item_t, item, "a path item")?;
            let shared = match item_map.get("parameters") {
                Some(p) => self.parameter_list(&key(&item_t, "parameters"), p)?,
                None => Vec::new(),
            };
            for (method_key, method) in &METHOD_KEYS {
                let Some(op_value) = item_map.get(*method_key) else {
                    continue;
                };
                let op_t = key(&item_t, method_key);
                let op =
                    self.operation(template, method, &op_t, op_value, &shared, root_secured)?;
                if let Some(first) = ids.insert(Box::<str>::from(&*op.id), op_t.clone()) {
                    return Err(self.err(
                        &key(&op_t, "operationId"),
                        format!("operationId {:?} is also used at {}", op.id, first.pointer),
                    ));
                }
                router
                    .insert(template, method, operations.len())
                    .map_err(|m| self.err(&key(&paths_t, template), m))?;
                operations.push(op);
            }
        }
        Ok((operations, router, api_keys, servers))
    }

    fn servers(&self, root_t: &Target, root: &Value) -> Result<Vec<(String, Target)>, SpecError> {
        let mut out = Vec::new();
        let Some(list) = root.get("servers") else {
            return Ok(out);
        };
        let list_t = key(root_t, "servers");
        let list = list
            .as_array()
            .ok_or_else(|| self.err(&list_t, "`servers` must be a list"))?;
        for (i, server) in list.iter().enumerate() {
            let t = key(&list_t, &i.to_string());
            let url = server
                .get("url")
                .and_then(Value::as_str)
                .ok_or_else(|| self.err(&t, "a server needs a `url`"))?;
            for expanded in expand_server_url(url, server.get("variables"))
                .map_err(|m| self.err(&key(&t, "variables"), m))?
            {
                out.push((expanded, t.clone()));
            }
        }
        Ok(out)
    }

    fn api_keys(&self, root: &Value) -> ApiKeyNames {
        let mut names = ApiKeyNames::default();
        let Some(Value::Object(schemes)) = root.pointer("/components/securitySchemes") else {
            return names;
        };
        for scheme in schemes.values() {
            if scheme.get("type").and_then(Value::as_str) != Some("apiKey") {
                continue;
            }
            let Some(name) = scheme.get("name").and_then(Value::as_str) else {
                continue;
            };
            match scheme.get("in").and_then(Value::as_str) {
                Some("query") => names.query.push(name.into()),
                Some("header") => {
                    if let Ok(h) = HeaderName::from_bytes(name.as_bytes()) {
                        names.headers.push(h);
                    }
                }
                Some("cookie") => names.cookies.push(name.into()),
                _ => {}
            }
        }
        names
    }

    fn operation(
        &mut self,
        template: &str,
        method: &Method,
        op_t: &Target,
        op_value: &Value,
        shared: &[Parameter],
        root_secured: bool,
    ) -> Result<Operation, SpecError> {
        let op_map = self.object(op_t, op_value, "an operation")?;
        let id: std::sync::Arc<str> = match op_map.get("operationId") {
            Some(Value::String(id)) if !id.is_empty() => id.as_str().into(),
            Some(_) => {
                return Err(self.err(
                    &key(op_t, "operationId"),
                    "`operationId` must be a non-empty string",
                ));
            }
            None => format!("{method} {template}").into(),
        };
        let mut parameters = match op_map.get("parameters") {
            Some(p) => self.parameter_list(&key(op_t, "parameters"), p)?,
            None => Vec::new(),
        };
        // Path-item parameters apply unless the operation redefines them.
        for p in shared {
            if !parameters
                .iter()
                .any(|q| q.name == p.name && q.location == p.location)
            {
                parameters.push(Parameter {
                    name: p.name.clone(),
                    header: p.header.clone(),
                    location: p.location,
                    required: p.required,
                    style: p.style,
                    explode: p.explode,
                    allow_reserved: p.allow_reserved,
                    schema: p.schema,
                    json_content: p.json_content,
                    shape: p.shape,
                    site: p.site.clone(),
                });
            }
        }
        let mut path_params = Vec::new();
        for name in template_parameters(template) {
            let index = parameters
                .iter()
                .position(|p| p.location == ParamIn::Path && &*p.name == name)
                .ok_or_else(|| {
                    self.err(
                        op_t,
                        format!(
                            "path parameter {name:?} of {template} is not defined in `parameters`"
                        ),
                    )
                })?;
            path_params.push(index);
        }
        if let Some(p) = parameters.iter().find(|p| {
            p.location == ParamIn::Path
                && !path_params.iter().any(|i| parameters[*i].name == p.name)
        }) {
            return Err(self.err(
                &p.site,
                format!(
                    "path parameter {:?} is not in the template {template}",
                    p.name
                ),
            ));
        }
        let request_body = match op_map.get("requestBody") {
            None => None,
            Some(_) => Some(self.request_body(&key(op_t, "requestBody"))?),
        };
        let responses = match op_map.get("responses") {
            None => Vec::new(),
            Some(_) => self.responses(&key(op_t, "responses"))?,
        };
        let extensions = KnobOverrides::from_extensions(op_value)
            .map_err(|(k, m)| self.err(&key(op_t, &k), m))?;
        let mut knobs = self.options.knobs.with(&extensions);
        if let Some(o) = self.options.overrides.get(&*id) {
            knobs = knobs.with(o);
        }
        let secured = match op_map.get("security") {
            Some(s) => requires_security(s),
            None => root_secured,
        };
        Ok(Operation {
            id,
            method: method.clone(),
            template: template.into(),
            parameters,
            path_params,
            request_body,
            responses,
            knobs,
            secured,
            site: op_t.clone(),
        })
    }

    fn parameter_list(&mut self, t: &Target, v: &Value) -> Result<Vec<Parameter>, SpecError> {
        let list = v
            .as_array()
            .ok_or_else(|| self.err(t, "`parameters` must be a list"))?;
        let mut out: Vec<Parameter> = Vec::with_capacity(list.len());
        for i in 0..list.len() {
            let p = self.parameter(&key(t, &i.to_string()))?;
            if out
                .iter()
                .any(|q| q.name == p.name && q.location == p.location)
            {
                return Err(self.err(
                    &p.site,
                    format!(
                        "parameter {:?} in {} is defined twice",
                        p.name,
                        p.location.prefix()
                    ),
                ));
            }
            out.push(p);
        }
        Ok(out)
    }

    fn parameter(&mut self, t: &Target) -> Result<Parameter, SpecError> {
        let (t, v) = self.specs.follow(t)?;
        let map = self.object(&t, v, "a parameter")?;
        let name = map
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| self.err(&t, "a parameter needs a `name`"))?;
        let location = match map.get("in").and_then(Value::as_str) {
            Some("path") => ParamIn::Path,
            Some("query") => ParamIn::Query,
            Some("header") => ParamIn::Header,
            Some("cookie") => ParamIn::Cookie,
            other => {
                return Err(self.err(
                    &key(&t, "in"),
                    format!(
                        "parameter location must be path, query, header or cookie, not {other:?}"
                    ),
                ));
            }
        };
        let style = match map.get("style").and_then(Value::as_str) {
            None => match location {
                ParamIn::Path | ParamIn::Header => Style::Simple,
                ParamIn::Query | ParamIn::Cookie => Style::Form,
            },
            Some(s) => Style::parse(s)
                .ok_or_else(|| self.err(&key(&t, "style"), format!("unknown style {s:?}")))?,
        };
        let allowed: &[Style] = match location {
            ParamIn::Path => &[Style::Simple, Style::Label, Style::Matrix],
            ParamIn::Query => &[
                Style::Form,
                Style::SpaceDelimited,
                Style::PipeDelimited,
                Style::DeepObject,
            ],
            ParamIn::Header => &[Style::Simple],
            ParamIn::Cookie => &[Style::Form],
        };
        if !allowed.contains(&style) {
            return Err(self.err(
                &key(&t, "style"),
                format!(
                    "style {style:?} is not allowed for {} parameters",
                    location.prefix()
                ),
            ));
        }
        let explode = map
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or(style == Style::Form);
        let (schema, json_content) = if map.contains_key("schema") {
            (Some(self.schemas.compile(&key(&t, "schema"))?), false)
        } else if let Some(Value::Object(content)) = map.get("content") {
            let (media, _) = content
                .iter()
                .next()
                .ok_or_else(|| self.err(&key(&t, "content"), "`content` needs one media type"))?;
            let media_t = key(&key(&t, "content"), media);
            let schema = if content[media].get("schema").is_some() {
                Some(self.schemas.compile(&key(&media_t, "schema"))?)
            } else {
                None
            };
            (schema, media_is_json(media))
        } else {
            (None, false)
        };
        let shape =
            schema
                .and_then(|s| self.schemas.arena_types(s))
                .map_or(Shape::Primitive, |types| {
                    if types.has(TypeSet::ARRAY) {
                        Shape::Array
                    } else if types.has(TypeSet::OBJECT) {
                        Shape::Object
                    } else {
                        Shape::Primitive
                    }
                });
        if style == Style::DeepObject && shape != Shape::Object {
            return Err(self.err(&key(&t, "style"), "deepObject style needs an object schema"));
        }
        let header = if location == ParamIn::Header {
            Some(HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                self.err(
                    &key(&t, "name"),
                    format!("{name:?} is not a valid header name"),
                )
            })?)
        } else {
            None
        };
        Ok(Parameter {
            name: name.into(),
            header,
            location,
            required: location == ParamIn::Path
                || map
                    .get("required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            style,
            explode,
            allow_reserved: map
                .get("allowReserved")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            schema,
            json_content,
            shape,
            site: t,
        })
    }

    fn content(&mut self, t: &Target, v: &Value) -> Result<Vec<MediaType>, SpecError> {
        let map = self.object(t, v, "`content`")?;
        let mut out = Vec::with_capacity(map.len());
        for (range, media) in map {
            let media_t = key(t, range);
            let essence = essence(range);
            if !essence.contains('/') {
                return Err(self.err(
                    &media_t,
                    format!("{range:?} is not a media type (type/subtype)"),
                ));
            }
            let schema = if media.get("schema").is_some() {
                Some(self.schemas.compile(&key(&media_t, "schema"))?)
            } else {
                None
            };
            let mut encoding = Vec::new();
            if let Some(Value::Object(enc)) = media.get("encoding") {
                for (property, e) in enc {
                    let content_types = e
                        .get("contentType")
                        .and_then(Value::as_str)
                        .map(|ct| {
                            ct.split(',')
                                .map(|c| {
                                    c.split(';')
                                        .next()
                                        .unwrap_or("")
                                        .trim()
                                        .to_ascii_lowercase()
                                })
                                .filter(|c| !c.is_empty())
                                .map(String::into_boxed_str)
                                .collect()
                        })
                        .unwrap_or_default();
                    encoding.push((
                        property.as_str().into(),
                        Encoding {
                            content_types,
                            style: e
                                .get("style")
                                .and_then(Value::as_str)
                                .and_then(Style::parse),
                            explode: e.get("explode").and_then(Value::as_bool),
                        },
                    ));
                }
            }
            out.push(MediaType {
                json: media_is_json(&essence),
                range: essence.into(),
                schema,
                encoding,
            });
        }
        Ok(out)
    }

    fn request_body(&mut self, t: &Target) -> Result<RequestBodySpec, SpecError> {
        let (t, v) = self.specs.follow(t)?;
        let map = self.object(&t, v, "a request body")?;
        let content = match map.get("content") {
            Some(c) => self.content(&key(&t, "content"), c)?,
            None => return Err(self.err(&t, "a request body needs `content`")),
        };
        Ok(RequestBodySpec {
            required: map
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            content,
            site: t,
        })
    }

    fn responses(&mut self, t: &Target) -> Result<Vec<ResponseSpec>, SpecError> {
        let v = self.specs.get(t).ok_or_else(|| self.err(t, "missing"))?;
        let map = self.object(t, v, "`responses`")?;
        let mut out = Vec::with_capacity(map.len());
        for code in map.keys() {
            if code.starts_with("x-") {
                continue;
            }
            let status = parse_status_key(code).ok_or_else(|| {
                self.err(
                    &key(t, code),
                    format!("{code:?} is not a status code, a range like 2XX, or default"),
                )
            })?;
            let (rt, rv) = self.specs.follow(&key(t, code))?;
            let rmap = self.object(&rt, rv, "a response")?;
            let content = match rmap.get("content") {
                Some(c) => self.content(&key(&rt, "content"), c)?,
                None => Vec::new(),
            };
            out.push(ResponseSpec {
                status,
                content,
                site: rt,
            });
        }
        Ok(out)
    }
}

impl SchemaCompiler<'_> {
    fn arena_types(&self, id: SchemaId) -> Option<TypeSet> {
        self.arena().effective_types(id)
    }
}

fn requires_security(v: &Value) -> bool {
    v.as_array().is_some_and(|reqs| {
        !reqs.is_empty()
            && reqs
                .iter()
                .all(|r| r.as_object().is_some_and(|o| !o.is_empty()))
    })
}

fn parse_status_key(code: &str) -> Option<StatusKey> {
    if code == "default" {
        return Some(StatusKey::Default);
    }
    let b = code.as_bytes();
    if b.len() == 3 && (b'1'..=b'5').contains(&b[0]) {
        if b[1..].eq_ignore_ascii_case(b"XX") {
            return Some(StatusKey::Range(u16::from(b[0] - b'0')));
        }
        if b[1..].iter().all(u8::is_ascii_digit) {
            return code.parse().ok().map(StatusKey::Exact);
        }
    }
    None
}

/// The lower-case `type/subtype` of a media type or `Content-Type` value.
/// The media type without parameters, trimmed and lower case (borrowed
/// when it already is: this runs on every request and response).
pub(crate) fn essence(media_type: &str) -> std::borrow::Cow<'_, str> {
    let bare = bare_essence(media_type);
    if bare.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(bare.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(bare)
    }
}

/// A media type without its parameters and surrounding white space, case
/// kept (compare it with `eq_ignore_ascii_case`: no allocation). Runs on
/// every body and every response, so byte searches only: `split_once` and
/// `trim` cost a char searcher and the Unicode tables per call.
pub(crate) fn bare_essence(media_type: &str) -> &str {
    let bytes = media_type.as_bytes();
    let end = bytes.iter().position(|&b| b == b';').unwrap_or(bytes.len());
    let bare = &media_type[..end];
    if !bare.is_ascii() {
        return bare.trim();
    }
    // The ASCII white space `str::trim` removes (with the vertical tab,
    // which `trim_ascii` keeps).
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let b = bare.as_bytes();
    let first = b.iter().position(|c| !space(c)).unwrap_or(b.len());
    let last = b.iter().rposition(|c| !space(c)).map_or(first, |i| i + 1);
    &bare[first..last]
}

pub(crate) fn media_is_json(range: &str) -> bool {
    let essence = essence(range);
    essence == "application/json" || essence.ends_with("+json")
}

/// Every URL a server entry stands for: variables replaced by each of their
/// `enum` values (or their default), at most 32 combinations.
fn expand_server_url(url: &str, variables: Option<&Value>) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in server URL {url:?}"))?;
        let name = &rest[open + 1..open + close];
        let var = variables
            .and_then(|v| v.get(name))
            .ok_or_else(|| format!("server variable {name:?} is not defined"))?;
        let mut values: Vec<String> = match var.get("enum") {
            Some(Value::Array(e)) => e
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        if values.is_empty() {
            values.push(
                var.get("default")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("server variable {name:?} needs a default"))?
                    .to_owned(),
            );
        }
        let prefix = &rest[..open];
        out = out
            .iter()
            .flat_map(|base| values.iter().map(move |v| format!("{base}{prefix}{v}")))
            .take(32)
            .collect();
        rest = &rest[open + close + 1..];
    }
    for o in &mut out {
        o.push_str(rest);
    }
    Ok(out)
}

/// The path part of each server URL (absolute or relative).
fn base_paths(servers: &[(String, Target)]) -> Vec<String> {
    servers
        .iter()
        .map(|(url, _)| {
            let path = match url.find("://") {
                Some(i) => url[i + 3..].find('/').map_or("", |p| &url[i + 3 + p..]),
                None => url.as_str(),
            };
            let path = path.split(['?', '#']).next().unwrap_or("");
            if path.is_empty() || path.starts_with('/') {
                path.to_owned()
            } else {
                format!("/{path}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_expand_and_give_base_paths() {
        let vars = serde_json::json!({"region": {"default": "eu", "enum": ["eu", "us"]}, "v": {"default": "v2"}});
        let urls = expand_server_url("https://{region}.example.com/{v}/api", Some(&vars)).unwrap();
        assert_eq!(
            urls,
            [
                "https://eu.example.com/v2/api",
                "https://us.example.com/v2/api"
            ]
        );
        assert!(expand_server_url("https://{nope}.x", None).is_err());
        let t = Target {
            doc: crate::loader::DocId(0),
            pointer: String::new(),
        };
        let servers: Vec<(String, Target)> = [
            "https://a.example.com",
            "http://b/v1/",
            "/rel",
            "v3",
            "https://c/x?q",
        ]
        .iter()
        .map(|u| (u.to_string(), t.clone()))
        .collect();
        assert_eq!(base_paths(&servers), ["", "/v1/", "/rel", "/v3", "/x"]);
    }

    #[test]
    fn status_keys() {
        assert_eq!(parse_status_key("200"), Some(StatusKey::Exact(200)));
        assert_eq!(parse_status_key("4xx"), Some(StatusKey::Range(4)));
        assert_eq!(parse_status_key("default"), Some(StatusKey::Default));
        for bad in ["600", "20", "2X0", "abc"] {
            assert_eq!(parse_status_key(bad), None, "{bad}");
        }
    }
}
