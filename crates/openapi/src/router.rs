//! Routes a request's method and path to one operation of a compiled spec.
//! Paths compile into a segment trie: at each segment a literal child is
//! tried before template children (more literal text first), backtracking
//! when a literal branch dead-ends, so `/users/me` beats `/users/{id}` and
//! `/users/{id}/orders` still matches `/users/me/orders` when only the
//! template has that tail. A lookup allocates at most the capture list.

use http::Method;

/// A path template segment: literal text and parameter captures in order
/// (`{name}.{ext}` is capture, `.`, capture).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Part {
    Literal(Box<str>),
    Capture,
}

#[derive(Debug, Default)]
struct Node {
    /// Literal children, sorted by segment for a binary search (a few
    /// comparisons cost less than hashing the segment).
    literals: Vec<(Box<str>, u32)>,
    /// Template children, most literal text first.
    templates: Vec<(Vec<Part>, u32)>,
    /// Operation per method; see [`method_slot`].
    methods: [Option<u32>; 8],
}

impl Node {
    /// The literal child for `segment`, or where it would be inserted.
    fn literal(&self, segment: &str) -> Result<u32, usize> {
        self.literals
            .binary_search_by(|(name, _)| (**name).cmp(segment))
            .map(|i| self.literals[i].1)
    }
}

/// Why a request has no operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No documented path matches (a shadow or undocumented API).
    UnknownPath,
    /// The path is documented, the method is not; lists the documented ones.
    UnknownMethod { allowed: Vec<Method> },
}

/// A successful match: the operation index and the raw (still
/// percent-encoded) values of its path parameters, in template order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMatch<'p> {
    pub operation: usize,
    pub captures: Vec<&'p str>,
}

/// The compiled router of one spec.
#[derive(Debug)]
pub struct OperationRouter {
    nodes: Vec<Node>,
    /// Server base paths without a trailing slash, longest first (`""` for the root).
    base_paths: Vec<String>,
}

const METHODS: [Method; 8] = [
    Method::GET,
    Method::PUT,
    Method::POST,
    Method::DELETE,
    Method::OPTIONS,
    Method::HEAD,
    Method::PATCH,
    Method::TRACE,
];

fn method_slot(method: &Method) -> Option<usize> {
    METHODS.iter().position(|m| m == method)
}

/// Splits a template segment into literal text and captures.
fn parse_segment(segment: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = segment;
    while !rest.is_empty() {
        match rest.find('{') {
            None => {
                if rest.contains('}') {
                    return Err(format!("unbalanced '}}' in path segment {segment:?}"));
                }
                parts.push(Part::Literal(rest.into()));
                break;
            }
            Some(open) => {
                if open > 0 {
                    if rest[..open].contains('}') {
                        return Err(format!("unbalanced '}}' in path segment {segment:?}"));
                    }
                    parts.push(Part::Literal(rest[..open].into()));
                }
                let close = rest[open..]
                    .find('}')
                    .ok_or_else(|| format!("unclosed '{{' in path segment {segment:?}"))?;
                if close == 1 {
                    return Err(format!("empty parameter name in path segment {segment:?}"));
                }
                if matches!(parts.last(), Some(Part::Capture)) {
                    return Err(format!(
                        "two parameters without literal text between them in {segment:?} cannot be told apart"
                    ));
                }
                parts.push(Part::Capture);
                rest = &rest[open + close + 1..];
            }
        }
    }
    Ok(parts)
}

/// The parameter names of a template, in order.
pub fn template_parameters(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        names.push(&rest[open + 1..open + close]);
        rest = &rest[open + close + 1..];
    }
    names
}

impl OperationRouter {
    pub fn new(base_paths: Vec<String>) -> Self {
        let mut base_paths: Vec<String> = base_paths
            .into_iter()
            .map(|b| b.trim_end_matches('/').to_owned())
            .collect();
        if base_paths.is_empty() {
            base_paths.push(String::new());
        }
        base_paths.sort_by_key(|b| std::cmp::Reverse(b.len()));
        base_paths.dedup();
        Self {
            nodes: vec![Node::default()],
            base_paths,
        }
    }

    pub fn base_paths(&self) -> &[String] {
        &self.base_paths
    }

    /// Adds an operation; fails when the template is malformed or the
    /// template and method are already taken (ambiguous spec).
    pub fn insert(
        &mut self,
        template: &str,
        method: &Method,
        operation: usize,
    ) -> Result<(), String> {
        if !template.starts_with('/') {
            return Err(format!("path {template:?} must start with '/'"));
        }
        let slot =
            method_slot(method).ok_or_else(|| format!("method {method} cannot be documented"))?;
        let mut node = 0u32;
        for segment in template[1..].split('/') {
            let parts = parse_segment(segment)?;
            node = match parts.as_slice() {
                [] => self.literal_child(node, ""),
                [Part::Literal(l)] => self.literal_child(node, l),
                _ => self.template_child(node, parts),
            };
        }
        let methods = &mut self.nodes[node as usize].methods;
        if methods[slot].is_some() {
            return Err(format!(
                "{method} {template} is documented twice (templates that differ only in parameter names are the same path)"
            ));
        }
        methods[slot] = Some(operation as u32);
        Ok(())
    }

    fn literal_child(&mut self, node: u32, literal: &str) -> u32 {
        let at = match self.nodes[node as usize].literal(literal) {
            Ok(child) => return child,
            Err(at) => at,
        };
        let child = self.nodes.len() as u32;
        self.nodes.push(Node::default());
        self.nodes[node as usize]
            .literals
            .insert(at, (literal.into(), child));
        child
    }

    fn template_child(&mut self, node: u32, parts: Vec<Part>) -> u32 {
        if let Some((_, child)) = self.nodes[node as usize]
            .templates
            .iter()
            .find(|(p, _)| *p == parts)
        {
            return *child;
        }
        let child = self.nodes.len() as u32;
        self.nodes.push(Node::default());
        let templates = &mut self.nodes[node as usize].templates;
        templates.push((parts, child));
        templates.sort_by_key(|(p, _)| {
            std::cmp::Reverse(
                p.iter()
                    .map(|part| match part {
                        Part::Literal(l) => l.len(),
                        Part::Capture => 0,
                    })
                    .sum::<usize>(),
            )
        });
        child
    }

    /// Finds the operation for `method` and a normalized `path` (as the
    /// client sent it, server base path included).
    pub fn route<'p>(&self, method: &Method, path: &'p str) -> Result<RouteMatch<'p>, RouteError> {
        for base in &self.base_paths {
            let Some(rest) = path.strip_prefix(base.as_str()) else {
                continue;
            };
            if !rest.starts_with('/') {
                continue;
            }
            let mut captures = Vec::new();
            let Some(node) = self.walk(0, &rest[1..], &mut captures) else {
                continue;
            };
            let methods = &self.nodes[node as usize].methods;
            let slot = method_slot(method);
            let op = slot
                .and_then(|s| methods[s])
                // HEAD is GET without a body when only GET is documented.
                .or_else(|| (*method == Method::HEAD).then(|| methods[0]).flatten());
            if let Some(op) = op {
                return Ok(RouteMatch {
                    operation: op as usize,
                    captures,
                });
            }
            let allowed = METHODS
                .iter()
                .zip(methods)
                .filter(|(_, op)| op.is_some())
                .map(|(m, _)| m.clone())
                .collect();
            return Err(RouteError::UnknownMethod { allowed });
        }
        Err(RouteError::UnknownPath)
    }

    /// The node `rest` (the path after `/`, segments joined by `/`) leads
    /// to, if it has any operation.
    fn walk<'p>(&self, node: u32, rest: &'p str, captures: &mut Vec<&'p str>) -> Option<u32> {
        let (segment, tail) = match rest.bytes().position(|b| b == b'/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let n = &self.nodes[node as usize];
        let done = |child: u32, captures: &mut Vec<&'p str>| -> Option<u32> {
            match tail {
                None => self.nodes[child as usize]
                    .methods
                    .iter()
                    .any(Option::is_some)
                    .then_some(child),
                Some(t) => self.walk(child, t, captures),
            }
        };
        if let Ok(child) = n.literal(segment)
            && let Some(found) = done(child, captures)
        {
            return Some(found);
        }
        for (parts, child) in &n.templates {
            let mark = captures.len();
            if capture(parts, segment, captures)
                && let Some(found) = done(*child, captures)
            {
                return Some(found);
            }
            captures.truncate(mark);
        }
        None
    }
}

/// Matches one segment against template parts, pushing the captured texts
/// (each non-empty; a capture ends at the first occurrence of the literal
/// that follows it).
fn capture<'p>(parts: &[Part], segment: &'p str, captures: &mut Vec<&'p str>) -> bool {
    let mut rest = segment;
    let mut i = 0;
    while i < parts.len() {
        match &parts[i] {
            Part::Literal(l) => match rest.strip_prefix(&**l) {
                Some(r) => rest = r,
                None => return false,
            },
            Part::Capture => {
                let end = match parts.get(i + 1) {
                    Some(Part::Literal(next)) => match rest.find(&**next) {
                        Some(e) => e,
                        None => return false,
                    },
                    _ => rest.len(),
                };
                if end == 0 {
                    return false;
                }
                captures.push(&rest[..end]);
                rest = &rest[end..];
            }
        }
        i += 1;
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(base: &[&str], ops: &[(&str, Method)]) -> OperationRouter {
        let mut r = OperationRouter::new(base.iter().map(|s| s.to_string()).collect());
        for (i, (t, m)) in ops.iter().enumerate() {
            r.insert(t, m, i).unwrap();
        }
        r
    }

    #[test]
    fn literal_wins_over_template_and_backtracks() {
        let r = router(
            &[],
            &[
                ("/users/{id}", Method::GET),
                ("/users/me", Method::GET),
                ("/users/{id}/orders", Method::GET),
                ("/files/{name}.{ext}", Method::GET),
                ("/files/{name}", Method::GET),
                ("/", Method::GET),
            ],
        );
        let cases: &[(&str, usize, &[&str])] = &[
            ("/users/42", 0, &["42"]),
            ("/users/me", 1, &[]),
            ("/users/me/orders", 2, &["me"]),
            ("/files/report.pdf", 3, &["report", "pdf"]),
            ("/files/report", 4, &["report"]),
            ("/", 5, &[]),
        ];
        for (path, op, caps) in cases {
            let m = r
                .route(&Method::GET, path)
                .unwrap_or_else(|e| panic!("{path}: {e:?}"));
            assert_eq!(m.operation, *op, "{path}");
            assert_eq!(m.captures, *caps, "{path}");
        }
        for path in ["/users", "/users/", "/users/42/orders/1", "/nope"] {
            assert_eq!(
                r.route(&Method::GET, path),
                Err(RouteError::UnknownPath),
                "{path}"
            );
        }
    }

    #[test]
    fn many_literal_siblings_in_any_order() {
        // Inserted out of order: the sorted list must keep every child.
        let names: Vec<String> = (0..50).map(|i| format!("r{}", (i * 37) % 50)).collect();
        let templates: Vec<String> = names.iter().map(|n| format!("/{n}/items")).collect();
        let ops: Vec<(&str, Method)> = templates
            .iter()
            .map(|t| (t.as_str(), Method::GET))
            .collect();
        let r = router(&[], &ops);
        for (op, template) in templates.iter().enumerate() {
            assert_eq!(r.route(&Method::GET, template).unwrap().operation, op);
        }
        for path in ["/r50/items", "/r/items", "/r1", "//items", "/R1/items"] {
            assert_eq!(
                r.route(&Method::GET, path),
                Err(RouteError::UnknownPath),
                "{path}"
            );
        }
    }

    #[test]
    fn methods_base_paths_and_head() {
        let r = router(
            &["/api/v1/", "/legacy"],
            &[("/users", Method::GET), ("/users", Method::POST)],
        );
        assert_eq!(
            r.route(&Method::POST, "/api/v1/users").unwrap().operation,
            1
        );
        assert_eq!(r.route(&Method::GET, "/legacy/users").unwrap().operation, 0);
        assert_eq!(
            r.route(&Method::HEAD, "/legacy/users").unwrap().operation,
            0
        );
        assert_eq!(
            r.route(&Method::GET, "/users"),
            Err(RouteError::UnknownPath)
        );
        assert_eq!(
            r.route(&Method::GET, "/api/v1users"),
            Err(RouteError::UnknownPath)
        );
        assert_eq!(
            r.route(&Method::DELETE, "/api/v1/users"),
            Err(RouteError::UnknownMethod {
                allowed: vec![Method::GET, Method::POST]
            })
        );
        let custom = Method::from_bytes(b"PROPFIND").unwrap();
        assert!(matches!(
            r.route(&custom, "/legacy/users"),
            Err(RouteError::UnknownMethod { .. })
        ));
    }

    #[test]
    fn malformed_and_duplicate_templates_are_refused() {
        let mut r = OperationRouter::new(vec![]);
        r.insert("/a/{id}", &Method::GET, 0).unwrap();
        assert!(
            r.insert("/a/{other}", &Method::GET, 1)
                .unwrap_err()
                .contains("twice")
        );
        for bad in ["a/b", "/a/{id", "/a/id}", "/a/{}", "/a/{x}{y}"] {
            assert!(r.insert(bad, &Method::GET, 2).is_err(), "{bad}");
        }
        assert_eq!(template_parameters("/a/{x}/b/{y}.{z}"), ["x", "y", "z"]);
    }
}
