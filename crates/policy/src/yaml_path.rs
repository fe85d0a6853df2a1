//! Maps lines of a block-style YAML document to dotted field paths
//! (`routes[1].match.path_prefix`) and back, so config errors can name the
//! field as well as the line. It reads indentation only; flow collections and
//! multi-line scalars are attributed to the key that opens them.

struct Frame {
    indent: usize,
    segment: Segment,
    next_item: usize,
}

enum Segment {
    Key(String),
    Item(usize),
}

/// The dotted path of every line (None for blank and comment lines).
fn paths_by_line(source: &str) -> Vec<Option<String>> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut out = Vec::new();
    for raw in source.lines() {
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        let content = raw[indent..].trim_end();
        if content.is_empty() || content.starts_with('#') || content == "---" {
            out.push(None);
            continue;
        }
        let mut indent = indent;
        let mut content = content;
        while let Some(rest) = content
            .strip_prefix('-')
            .filter(|r| r.is_empty() || r.starts_with(' '))
        {
            while stack.last().is_some_and(|f| {
                f.indent > indent || (f.indent == indent && matches!(f.segment, Segment::Item(_)))
            }) {
                stack.pop();
            }
            let index = match stack.last_mut() {
                Some(parent) => {
                    let i = parent.next_item;
                    parent.next_item += 1;
                    i
                }
                None => 0,
            };
            stack.push(Frame {
                indent,
                segment: Segment::Item(index),
                next_item: 0,
            });
            let trimmed = rest.trim_start();
            indent += 1 + (rest.len() - trimmed.len());
            content = trimmed;
        }
        if let Some(key) = leading_key(content) {
            while stack.last().is_some_and(|f| f.indent >= indent) {
                stack.pop();
            }
            stack.push(Frame {
                indent,
                segment: Segment::Key(key),
                next_item: 0,
            });
        }
        out.push(Some(render(&stack)));
    }
    out
}

fn leading_key(content: &str) -> Option<String> {
    let (key, rest) = if let Some(quoted) = content.strip_prefix('"') {
        let end = quoted.find('"')?;
        (&quoted[..end], &quoted[end + 1..])
    } else if let Some(quoted) = content.strip_prefix('\'') {
        let end = quoted.find('\'')?;
        (&quoted[..end], &quoted[end + 1..])
    } else {
        let end = content.find(':')?;
        let key = &content[..end];
        if key.is_empty() || key.contains(['{', '[', ',', '"', '\'']) {
            return None;
        }
        if key.starts_with(['&', '*', '!', '|', '>']) {
            return None;
        }
        (key, &content[end..])
    };
    let after = rest.trim_start().strip_prefix(':')?;
    if after.is_empty() || after.starts_with(' ') {
        Some(key.trim().to_owned())
    } else {
        None
    }
}

fn render(stack: &[Frame]) -> String {
    let mut path = String::new();
    for frame in stack {
        match &frame.segment {
            Segment::Key(k) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Segment::Item(i) => {
                path.push('[');
                path.push_str(&i.to_string());
                path.push(']');
            }
        }
    }
    path
}

/// The field path of a 1-based line, if the line holds YAML content.
pub fn field_path_at_line(source: &str, line: usize) -> Option<String> {
    let paths = paths_by_line(source);
    // An error reported on a blank line or past the end belongs to the last field before it.
    let upto = line.min(paths.len());
    paths[..upto]
        .iter()
        .rev()
        .find_map(|p| p.clone())
        .filter(|p| !p.is_empty())
}

/// The first 1-based line whose path is `field`, or the closest ancestor's line.
pub fn line_of_field_path(source: &str, field: &str) -> Option<usize> {
    let paths = paths_by_line(source);
    let mut candidate = field;
    loop {
        if let Some(i) = paths.iter().position(|p| p.as_deref() == Some(candidate)) {
            return Some(i + 1);
        }
        let cut = candidate.rfind(['.', '['])?;
        candidate = &candidate[..cut];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
listeners:
  - address: 127.0.0.1:8080
    tls:
      cert: a.pem
routes:
- name: first
  upstream: api
- name: second
  match:
    path_prefix: /x   # comment
  upstream: web
upstreams:
  api:
    endpoints: [http://a]
";

    #[test]
    fn lines_map_to_dotted_paths() {
        assert_eq!(
            field_path_at_line(DOC, 2).as_deref(),
            Some("listeners[0].address")
        );
        assert_eq!(
            field_path_at_line(DOC, 4).as_deref(),
            Some("listeners[0].tls.cert")
        );
        assert_eq!(
            field_path_at_line(DOC, 7).as_deref(),
            Some("routes[0].upstream")
        );
        assert_eq!(
            field_path_at_line(DOC, 10).as_deref(),
            Some("routes[1].match.path_prefix")
        );
        assert_eq!(
            field_path_at_line(DOC, 11).as_deref(),
            Some("routes[1].upstream")
        );
        assert_eq!(
            field_path_at_line(DOC, 14).as_deref(),
            Some("upstreams.api.endpoints")
        );
    }

    #[test]
    fn paths_map_back_to_lines() {
        assert_eq!(line_of_field_path(DOC, "routes[1].upstream"), Some(11));
        assert_eq!(line_of_field_path(DOC, "upstreams.api.retries"), Some(13));
        assert_eq!(line_of_field_path(DOC, "nothing.here"), None);
    }
}
