//! Cross-site scripting. An HTML tokenizer (the browser's tag-open, tag-name,
//! attribute-name and attribute-value states, including unquoted and
//! backtick values, `/` as an attribute separator and tags left open at the
//! end of the value) finds elements and attributes; what is dangerous is
//! decided per element and attribute: script and active elements, event
//! handlers, script URLs in URL-valued attributes (tabs and newlines inside
//! the scheme are ignored, as browsers do), script in CSS, framework
//! directive attributes. Outside markup, script URLs, JavaScript sinks right
//! after a breakout character and client-side template gadgets are found.
//!
//! Never backtracks: the tokenizer advances on every step; look-behind is
//! bounded.

use crate::Sink;
use crate::normalize::CharFlags;
use crate::rules;

/// Elements that run script or load active content by themselves.
fn is_dangerous_element(name: &str) -> bool {
    matches!(
        name,
        "iframe"
            | "frame"
            | "frameset"
            | "object"
            | "embed"
            | "applet"
            | "base"
            | "svg"
            | "math"
            | "style"
            | "xml"
            | "isindex"
            | "bgsound"
            | "layer"
            | "ilayer"
            | "import"
            | "vmlframe"
            | "handler"
            | "listener"
            | "portal"
            | "xmp"
            | "plaintext"
            | "xss"
            | "html"
            | "body"
            | "marquee"
    ) || name.starts_with("xsl:")
        || name.starts_with("svg:")
}

/// Dangerous elements that do nothing by themselves without attributes: a
/// bare `<svg>` or `<math>` only holds content (an SVG image upload starts
/// with one), and what it holds is judged on its own.
fn is_container(name: &str) -> bool {
    matches!(name, "svg" | "math")
}

/// Attributes whose value is fetched or navigated to.
fn is_url_attribute(name: &str) -> bool {
    matches!(
        name,
        "href"
            | "src"
            | "action"
            | "formaction"
            | "data"
            | "xlink:href"
            | "background"
            | "dynsrc"
            | "lowsrc"
            | "poster"
            | "code"
            | "codebase"
            | "to"
            | "from"
            | "values"
            | "by"
            | "ping"
            | "cite"
            | "longdesc"
            | "usemap"
            | "manifest"
            | "icon"
            | "archive"
            | "classid"
            | "content"
            | "srcset"
            | "imagesrcset"
            | "datasrc"
            | "folder"
            | "target"
            | "xmlns"
            | "open"
    )
}

fn is_framework_directive(name: &str) -> bool {
    name.starts_with("v-on:")
        || name == "v-html"
        || (name.starts_with('@') && name.len() > 1)
        || name.starts_with("x-on:")
        || matches!(
            name,
            "x-html" | "x-init" | "x-data" | "ng-init" | "ng-bind-html" | "data-ng-init"
        )
        || (name.starts_with("ng-") && name[3..].starts_with(['c', 'm', 'f', 'k']))
        || name.starts_with("hx-on")
}

fn is_html_element(name: &str) -> bool {
    matches!(
        name,
        "a" | "b"
            | "i"
            | "u"
            | "p"
            | "div"
            | "span"
            | "img"
            | "input"
            | "form"
            | "button"
            | "video"
            | "audio"
            | "source"
            | "table"
            | "td"
            | "tr"
            | "th"
            | "li"
            | "ul"
            | "ol"
            | "br"
            | "hr"
            | "h1"
            | "h2"
            | "h3"
            | "font"
            | "center"
            | "details"
            | "select"
            | "option"
            | "textarea"
            | "label"
            | "meta"
            | "link"
            | "title"
            | "head"
            | "textpath"
            | "animate"
            | "set"
            | "image"
            | "use"
            | "picture"
            | "area"
            | "map"
            | "keygen"
            | "menu"
            | "noscript"
            | "template"
            | "canvas"
            | "dialog"
            | "em"
            | "strong"
            | "code"
            | "pre"
            | "blockquote"
            | "abbr"
            | "address"
            | "article"
            | "aside"
            | "section"
            | "nav"
            | "header"
            | "footer"
            | "main"
            | "output"
            | "track"
            | "wbr"
            | "q"
            | "s"
            | "sub"
            | "sup"
    )
}

/// A script scheme at the start of `value`, ignoring leading blanks and the
/// tabs / newlines browsers strip from URLs.
fn script_scheme(value: &str) -> bool {
    let mut letters = [0u8; 16];
    let mut n = 0;
    for &b in value.as_bytes() {
        match b {
            b'\t' | b'\n' | b'\r' | 0..=0x1f => continue,
            b' ' if n == 0 => continue,
            b'\'' | b'"' | b'`' if n == 0 => continue,
            b':' => break,
            _ if n < letters.len() => {
                letters[n] = b;
                n += 1;
            }
            _ => return false,
        }
    }
    let scheme = &letters[..n];
    if matches!(
        scheme,
        b"javascript" | b"vbscript" | b"livescript" | b"mocha" | b"jscript"
    ) {
        return true;
    }
    if scheme == b"data" {
        let rest = value.trim_start().get(5..).unwrap_or("").trim_start();
        return rest.starts_with("text/html")
            || rest.starts_with("image/svg")
            || rest.starts_with("application/xhtml")
            || rest.starts_with("text/xml")
            || rest.starts_with("application/xml")
            || rest.starts_with("text/javascript")
            || rest.starts_with("application/javascript")
            || rest.starts_with("application/x-shockwave")
            || rest.starts_with(',')
                && (crate::text::contains(rest, "<script")
                    || crate::text::contains(rest, "alert"));
    }
    false
}

fn css_is_active(value: &str) -> bool {
    css_is_active_as_written(value)
        || (memchr::memchr(b'\\', value.as_bytes()).is_some()
            && css_is_active_as_written(&css_unescaped(value)))
}

/// `value` with CSS escapes undone as a browser's CSS parser does: `\` and
/// one to six hex digits (then one optional blank) is that code point,
/// `\` and any other character is the character
/// (`\0075\0072\006c\0028` is `url(`, `\ja\vasc\ript` is `javascript`).
fn css_unescaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let mut code = 0u32;
        let mut digits = 0;
        while digits < 6
            && let Some(d) = chars.peek().and_then(|d| d.to_digit(16))
        {
            code = code * 16 + d;
            digits += 1;
            chars.next();
        }
        if digits == 0 {
            if let Some(next) = chars.next() {
                out.push(next);
            }
            continue;
        }
        if chars
            .peek()
            .is_some_and(|b| matches!(b, ' ' | '\t' | '\n' | '\r' | '\x0c'))
        {
            chars.next();
        }
        out.extend(char::from_u32(code).map(|c| c.to_ascii_lowercase()));
    }
    out
}

fn css_is_active_as_written(value: &str) -> bool {
    crate::text::contains(value, "expression(")
        || crate::text::contains(value, "expression (")
        || crate::text::contains(value, "javascript:")
        || crate::text::contains(value, "vbscript:")
        || crate::text::contains(value, "-moz-binding")
        || crate::text::contains(value, "behavior:")
        || crate::text::contains(value, "behaviour:")
        || crate::text::contains(value, "@import")
        || crate::text::contains(value, "url(javascript")
        || crate::text::contains(value, "url(\"javascript")
        || crate::text::contains(value, "url('javascript")
}

/// Names of which every report of [`js_sinks`] but a global's subscript
/// (which needs a `[`) holds one: a sink call names one of [`SINKS`] (its
/// identifier, or the identifier's last part), and every DOM name it
/// reports holds `document.`, `location`, `localstorage`, `innerhtml` or
/// `outerhtml`. With the PHP call names they are the dispatcher's CALLEE
/// gate.
pub(crate) const SINK_NAME_LITERALS: &[&[&str]] = &[
    SINKS,
    &[
        "document.",
        "location",
        "localstorage",
        "innerhtml",
        "outerhtml",
    ],
];

/// Inspects `lower` (the lower-cased normalized value), whose byte classes
/// are `flags`; `sink_named` is false only when `lower` holds none of
/// [`SINK_NAME_LITERALS`]. (Each flag tested below is set by the byte the
/// check then looks for, and for a bracket by its closing partner too: a
/// missing flag means a missing byte.)
pub(crate) fn inspect(lower: &str, flags: CharFlags, sink_named: bool, sink: &mut Sink<'_>) {
    let s = lower.as_bytes();
    let paren = || flags.contains(CharFlags::PAREN) && memchr::memchr(b'(', s).is_some();
    if flags.contains(CharFlags::ANGLE) && memchr::memchr(b'<', s).is_some() {
        markup(lower, sink);
    }
    let colon = flags.contains(CharFlags::COLON);
    if colon {
        script_urls(lower, sink);
    }
    // A global's subscript needs a `[`; every other report of `js_sinks`
    // names a sink or a DOM name.
    if (flags.contains(CharFlags::BRACKET) && memchr::memchr(b'[', s).is_some())
        || (sink_named
            && (paren()
                || flags.contains(CharFlags::BACKTICK)
                || crate::text::contains(lower, "document.")))
    {
        js_sinks(lower, sink);
    }
    if flags.contains(CharFlags::EQUALS) {
        attribute_event_handler(lower, sink);
    }
    // (Every declaration it looks for loads through `url(` or `binding`.)
    if colon && paren() {
        css_declarations(lower, sink);
    }
    if flags.contains(CharFlags::BRACE) && crate::text::contains(lower, "{{") {
        template_gadgets(lower, sink);
    }
}

/// The value as a 7-bit channel reads it (US-ASCII pages in old IE, mail
/// gateways, serial links strip the high bit): `¼script¾alert(¢x¢)` is
/// `<script>alert("x")`. Latin-1 characters whose low seven bits are markup
/// punctuation become it; other Latin-1 characters (the lead byte of a
/// UTF-8 pair spelled as `\xc2\xbc`) are dropped. `None` when no tag opens.
fn seven_bit_markup(lower: &str) -> Option<String> {
    let mut out = String::with_capacity(lower.len());
    let mut opens = false;
    for c in lower.chars() {
        match u32::from(c) {
            0x80..=0xff => {
                let b = (u32::from(c) & 0x7f) as u8;
                if matches!(b, b'<' | b'>' | b'"' | b'\'' | b'/' | b'=') {
                    out.push(char::from(b));
                }
            }
            _ => {
                if out.ends_with('<') && c.is_ascii_alphabetic() {
                    opens = true;
                }
                out.push(if c.is_ascii() {
                    c.to_ascii_lowercase()
                } else {
                    'x'
                });
            }
        }
    }
    opens.then_some(out)
}

/// Markup a 7-bit channel would read in `text` (the normalized value, not
/// lower-cased), when it holds `¼` (`<` with the high bit set).
pub(crate) fn seven_bit(text: &str, sink: &mut Sink<'_>) {
    if let Some(stripped) = seven_bit_markup(text) {
        markup(&stripped, sink);
    }
}

fn markup(lower: &str, sink: &mut Sink<'_>) {
    let s = lower.as_bytes();
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'<', &s[i..]) {
        let open = i + p;
        i = open + 1;
        let Some(&first) = s.get(i) else { break };
        if first == b'/'
            && (lower[i + 1..].starts_with("script")
                || lower[i + 1..].starts_with("style")
                || lower[i + 1..].starts_with("title")
                || lower[i + 1..].starts_with("textarea"))
        {
            // Closing the element the value was placed in, to open a new one.
            let rule = if lower[i + 1..].starts_with("script") {
                &rules::XSS_SCRIPT_TAG
            } else {
                &rules::XSS_HTML_TAG
            };
            sink.report(rule, lower, open..(open + 10).min(s.len()));
            continue;
        }
        // `<?import implementation=...>`: IE's behavior import.
        if first == b'?' && lower[i + 1..].starts_with("import") {
            sink.report(
                &rules::XSS_DANGEROUS_TAG,
                lower,
                open..(open + 16).min(s.len()),
            );
            continue;
        }
        if let Some(end) = spaced_tag_name(&s[i..]) {
            sink.report(&rules::XSS_SPACED_TAG, lower, open..i + end);
            i += end;
            continue;
        }
        // `<:vmlframe`: a tag in the default namespace, prefix left empty.
        let prefixed = first == b':' && s.get(i + 1).is_some_and(u8::is_ascii_alphabetic);
        if !first.is_ascii_alphabetic() && !prefixed {
            continue;
        }
        let name_end = s[i..]
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_')))
            .map_or(s.len(), |q| i + q);
        let name = &lower[i..name_end];
        // What a namespace-aware parser sees (`<v:vmlframe>`, `<x:script>`).
        let local = name.rsplit(':').next().unwrap_or(name);
        let mut j = name_end;
        let mut attributes = 0;
        let mut dangerous_attr = false;
        // Attributes, until `>` or the end of the value (an open tag is
        // closed by whatever the page has next).
        loop {
            while j < s.len() && (s[j].is_ascii_whitespace() || s[j] == b'/' || s[j] < 0x20) {
                j += 1;
            }
            if j >= s.len() || s[j] == b'>' {
                break;
            }
            let attr_start = j;
            j += 1;
            while j < s.len() && !(s[j].is_ascii_whitespace() || matches!(s[j], b'/' | b'>' | b'='))
            {
                j += 1;
            }
            let attr = lower[attr_start..j].trim_matches(|c| c == '"' || c == '\'');
            let mut k = j;
            while k < s.len() && s[k].is_ascii_whitespace() {
                k += 1;
            }
            let mut value: Option<(usize, usize)> = None;
            if s.get(k) == Some(&b'=') {
                k += 1;
                while k < s.len() && s[k].is_ascii_whitespace() {
                    k += 1;
                }
                match s.get(k) {
                    Some(&q @ (b'"' | b'\'' | b'`')) => {
                        let end = memchr::memchr(q, &s[k + 1..]).map_or(s.len(), |e| k + 1 + e);
                        value = Some((k + 1, end));
                        j = (end + 1).min(s.len());
                    }
                    Some(_) => {
                        let end = s[k..]
                            .iter()
                            .position(|b| b.is_ascii_whitespace() || *b == b'>')
                            .map_or(s.len(), |e| k + e);
                        value = Some((k, end));
                        j = end;
                    }
                    None => {
                        value = Some((k, k));
                        j = k;
                    }
                }
            }
            attributes += 1;
            if attributes > 256 {
                break;
            }
            let val = value.map(|(a, b)| &lower[a..b]);
            let span = open..j.max(open + 1);
            if attr.len() > 2
                && attr.starts_with("on")
                && attr[2..]
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
                && val.is_some()
            {
                sink.report(&rules::XSS_EVENT_HANDLER, lower, span.clone());
                dangerous_attr = true;
            }
            if let Some(v) = val {
                if (is_url_attribute(attr) || attr.ends_with(":href"))
                    && (script_scheme(v)
                        || (attr == "content"
                            && crate::text::find(v, "url=")
                                .is_some_and(|u| script_scheme(&v[u + 4..]))))
                {
                    sink.report(&rules::XSS_JS_URL, lower, span.clone());
                    dangerous_attr = true;
                }
                if attr == "style" && css_is_active(v) {
                    sink.report(&rules::XSS_CSS_EXPRESSION, lower, span.clone());
                    dangerous_attr = true;
                }
                // A validating XML parser fetches the schema named here.
                if matches!(attr, "xsi:schemalocation" | "xsi:nonamespaceschemalocation")
                    && crate::text::contains(v, "://")
                {
                    sink.report(&rules::XXE_XINCLUDE, lower, span.clone());
                    dangerous_attr = true;
                }
                // IE data binding renders the bound field as markup.
                if attr == "dataformatas" && crate::text::contains(v, "html") {
                    sink.report(&rules::XSS_DANGEROUS_TAG, lower, span.clone());
                    dangerous_attr = true;
                }
                if attr == "srcdoc" {
                    sink.report(&rules::XSS_DANGEROUS_TAG, lower, span.clone());
                    dangerous_attr = true;
                }
                if name == "meta" && attr == "http-equiv" && crate::text::contains(v, "set-cookie")
                {
                    sink.report(&rules::SESSION_COOKIE_SET, lower, span.clone());
                }
            }
            if is_framework_directive(attr) && val.is_some() {
                sink.report(&rules::XSS_TEMPLATE_GADGET, lower, span.clone());
                dangerous_attr = true;
            }
        }
        let span = open..j.max(open + 1).min(s.len());
        if name == "script" || local == "script" {
            sink.report(&rules::XSS_SCRIPT_TAG, lower, span.clone());
        } else if (is_dangerous_element(name) && (attributes > 0 || !is_container(name)))
            || (local != name && matches!(local, "vmlframe" | "iframe" | "object" | "embed"))
            || (name == "meta" && attributes > 0)
            || (name == "link" && attributes > 0)
            || (name == "form" && lower[open..j.min(s.len())].contains("action"))
        {
            sink.report(&rules::XSS_DANGEROUS_TAG, lower, span.clone());
        } else if !dangerous_attr && (attributes > 0 || is_html_element(name)) {
            sink.report(&rules::XSS_HTML_TAG, lower, span.clone());
        }
        if name == "style" {
            let body_end = lower[j.min(s.len())..]
                .find("</style")
                .map_or(s.len(), |e| j + e);
            if css_is_active(&lower[j.min(body_end)..body_end]) {
                sink.report(&rules::XSS_CSS_EXPRESSION, lower, open..body_end);
            }
        }
        i = j.max(i);
    }
}

/// `<f o r m`, `<s c r i p t>`: an element name of three letters or more
/// spelled one letter at a time, each followed by one blank, right after
/// the `<`. A filter that collapses blanks (or a sanitizer that strips them
/// after matching) turns it into the tag; no language writes a name so.
/// `after_open` starts after the `<`; the length of the spelled name.
fn spaced_tag_name(after_open: &[u8]) -> Option<usize> {
    let alone = |at: usize| {
        after_open.get(at).is_some_and(u8::is_ascii_alphabetic)
            && !after_open
                .get(at + 1)
                .is_some_and(u8::is_ascii_alphanumeric)
    };
    let mut name = [0u8; 12];
    let mut letters = 0;
    let mut k = 0;
    loop {
        let letter = *after_open.get(k)?;
        if !letter.is_ascii_alphabetic() || letters == name.len() {
            return None;
        }
        name[letters] = letter;
        letters += 1;
        match after_open.get(k + 1) {
            Some(b' ' | b'\t') if alone(k + 2) => k += 2,
            Some(b) if b.is_ascii_alphanumeric() => return None,
            _ => break,
        }
    }
    let name = std::str::from_utf8(&name[..letters]).ok()?;
    (letters >= 3 && (name == "script" || is_dangerous_element(name) || is_html_element(name)))
        .then_some(k + 1)
}

/// DOM event names, for handlers injected into an attribute context
/// (`" onmouseover="alert(1)`, `  onload= x`) without a tag of their own.
const EVENTS: &[&str] = &[
    "load",
    "error",
    "click",
    "dblclick",
    "mouseover",
    "mouseout",
    "mousemove",
    "mousedown",
    "mouseup",
    "mouseenter",
    "mouseleave",
    "keydown",
    "keyup",
    "keypress",
    "focus",
    "blur",
    "focusin",
    "focusout",
    "change",
    "submit",
    "input",
    "reset",
    "select",
    "scroll",
    "resize",
    "unload",
    "beforeunload",
    "abort",
    "animationstart",
    "animationend",
    "transitionend",
    "toggle",
    "pageshow",
    "pagehide",
    "hashchange",
    "popstate",
    "message",
    "wheel",
    "drag",
    "dragstart",
    "drop",
    "copy",
    "cut",
    "paste",
    "contextmenu",
    "play",
    "pause",
    "ended",
    "loadstart",
    "canplay",
    "pointerover",
    "pointerdown",
    "pointerenter",
    "auxclick",
    "begin",
    "end",
    "repeat",
    "readystatechange",
    "start",
    "finish",
    "show",
    "invalid",
    "search",
    "afterprint",
    "beforeprint",
    "securitypolicyviolation",
];

fn attribute_event_handler(lower: &str, sink: &mut Sink<'_>) {
    let s = lower.as_bytes();
    // `'formaction=`: a quote closed, then the attribute that points a
    // form's submission (a `javascript:` URL) elsewhere.
    if memchr::memchr2(b'"', b'\'', s).is_some() {
        for (p, _) in crate::text::find_iter(lower, "formaction") {
            let quoted = lower[..p].trim_end().ends_with(['"', '\'']);
            if quoted && lower[p + 10..].trim_start().starts_with('=') {
                sink.report(&rules::XSS_JS_URL, lower, p..(p + 24).min(s.len()));
                return;
            }
        }
    }
    for (p, _) in crate::text::find_iter(lower, "on") {
        let before_ok = p == 0
            || matches!(
                s[p - 1],
                b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'' | b'/' | b'`' | 0x0c
            );
        if !before_ok {
            continue;
        }
        let name_len = s[p + 2..]
            .iter()
            .take_while(|b| b.is_ascii_lowercase())
            .count();
        let name = &lower[p + 2..p + 2 + name_len];
        let mut k = p + 2 + name_len;
        while k < s.len() && matches!(s[k], b' ' | b'\t' | b'\n' | b'\r' | 0x0c) {
            k += 1;
        }
        if s.get(k) != Some(&b'=') || s.get(k + 1) == Some(&b'=') {
            continue;
        }
        // (A slash inside a word is base64 or a path: `...Qo/onafe=`.)
        let slash_context =
            p > 0 && s[p - 1] == b'/' && (p < 2 || !s[p - 2].is_ascii_alphanumeric());
        let quoted_context = p > 0 && matches!(s[p - 1], b'"' | b'\'')
            || slash_context
            || lower[..p].trim_end().ends_with(['"', '\'']);
        if EVENTS.contains(&name)
            || (quoted_context && (3..=50).contains(&name_len))
            || (p < 4 && (3..=50).contains(&name_len) && lower[k + 1..].trim_start().is_empty())
        {
            sink.report(&rules::XSS_EVENT_HANDLER, lower, p..(k + 16).min(s.len()));
            return;
        }
    }
}

/// CSS declarations that run script, outside a style attribute
/// (`style=-moz-binding:url(...)`, `x:url(javascript` cut off before the
/// colon, `behavior: url(a.htc)`): the property, a colon, then what loads.
fn css_declarations(lower: &str, sink: &mut Sink<'_>) {
    let s = lower.as_bytes();
    for colon in memchr::memchr_iter(b':', s) {
        let value = lower[colon + 1..].trim_start();
        let property = lower[..colon].trim_end();
        let binding = property.ends_with("-moz-binding")
            || ((property.ends_with("behavior") || property.ends_with("behaviour"))
                && value.starts_with("url("));
        let script_url = value.strip_prefix("url(").is_some_and(|u| {
            let u = u.trim_start_matches(['"', '\'', ' ']);
            ["javascript", "vbscript"].iter().any(|scheme| {
                u.strip_prefix(scheme)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '&', '\\']))
            })
        });
        if binding || script_url {
            let start = property.rfind(|c: char| !c.is_ascii_alphanumeric() && c != '-');
            let start = start.map_or(0, |p| p + 1);
            sink.report(
                &rules::XSS_CSS_EXPRESSION,
                lower,
                start..(colon + 24).min(s.len()),
            );
            return;
        }
    }
}

/// `javascript:` and friends anywhere in the value.
fn script_urls(lower: &str, sink: &mut Sink<'_>) {
    let s = lower.as_bytes();
    for colon in memchr::memchr_iter(b':', s) {
        // Collect up to 12 letters before the colon, skipping tabs and newlines.
        let mut n = 0;
        let mut k = colon;
        let mut letters = [0u8; 12];
        while k > 0 && n < letters.len() {
            let b = s[k - 1];
            if b.is_ascii_alphabetic() {
                letters[letters.len() - 1 - n] = b;
                n += 1;
            } else if !matches!(b, b'\t' | b'\n' | b'\r') {
                break;
            }
            k -= 1;
        }
        let word = &letters[letters.len() - n..];
        let scheme_len = [&b"javascript"[..], b"vbscript", b"livescript"]
            .into_iter()
            .find(|w| word.ends_with(w))
            .map(<[u8]>::len);
        let Some(len) = scheme_len else {
            if word.ends_with(b"data") && s[colon + 1..].starts_with(b"text/html") {
                sink.report(
                    &rules::XSS_JS_URL,
                    lower,
                    colon.saturating_sub(4)..colon + 10,
                );
            }
            continue;
        };
        let next = s[colon + 1..]
            .iter()
            .find(|b| !matches!(b, b'\t' | b'\n' | b'\r'));
        if next.is_some_and(|b| !b.is_ascii_whitespace()) {
            let start = colon.saturating_sub(len);
            sink.report(&rules::XSS_JS_URL, lower, start..(colon + 24).min(s.len()));
            return;
        }
    }
}

/// What [`js_sinks`] reports called (see [`SINK_NAME_LITERALS`]).
const SINKS: &[&str] = &[
    "alert",
    "prompt",
    "confirm",
    "eval",
    "settimeout",
    "setinterval",
    "execscript",
    "msgbox",
    "atob",
    "fromcharcode",
    "document.write",
    "document.writeln",
    "importscripts",
    "function",
    "constructor",
    "print",
    "open",
];

fn is_breakout(b: u8) -> bool {
    matches!(
        b,
        b'\''
            | b'"'
            | b';'
            | b'('
            | b')'
            | b'{'
            | b'}'
            | b'['
            | b']'
            | b'|'
            | b'&'
            | b','
            | b'='
            | b'+'
            | b'-'
            | b'*'
            | b'/'
            | b'!'
            | b'?'
            | b':'
            | b'<'
            | b'>'
            | b'`'
            | b'^'
            | b'~'
    )
}

/// JavaScript sinks called right after a character that ends a string or
/// expression (`";alert(1)//`, `'-prompt(1)-'`, `(alert)(1)`), and
/// dynamic property access on the global object (`top['al'+'ert']`).
fn js_sinks(lower: &str, sink: &mut Sink<'_>) {
    /// Bytes of a JavaScript identifier (`a-z0-9_$`) and the dot, one
    /// table lookup per byte of the scan.
    const IDENT: u8 = 1;
    const DOT: u8 = 2;
    /// Letters, which may start an identifier (with [`IDENT`] set too).
    const LETTER: u8 = 4;
    static CLASS: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            if c.is_ascii_alphabetic() {
                t[b] = IDENT | LETTER;
            } else if c.is_ascii_digit() || c == b'_' || c == b'$' {
                t[b] = IDENT;
            }
            b += 1;
        }
        t[b'.' as usize] = DOT;
        t
    };
    let class = |b: u8| CLASS[usize::from(b)];
    let s = lower.as_bytes();
    let mut i = 0;
    while i < s.len() {
        if class(s[i]) & LETTER == 0 || (i > 0 && class(s[i - 1]) & IDENT != 0) {
            i += 1;
            continue;
        }
        let mut end = i;
        let mut dotted = false;
        while end < s.len() {
            match class(s[end]) {
                DOT => dotted = true,
                c if c & IDENT != 0 => {}
                _ => break,
            }
            end += 1;
        }
        let before = s[..i]
            .iter()
            .rev()
            .find(|b| !b.is_ascii_whitespace())
            .copied();
        let breakout = before.is_none_or(is_breakout);
        // Every report below needs a breakout character before the
        // identifier (a sink call or passed sink, a global's subscript) or a
        // dot inside it (every DOM name listed has one, and so do
        // `.innerhtml` / `.outerhtml`): a word of prose has neither.
        if !breakout && !dotted {
            i = end;
            continue;
        }
        let ident = lower[i..end].trim_end_matches('.');
        let last = ident.rsplit('.').next().unwrap_or(ident);
        let after_pos = s[end..]
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map(|p| end + p);
        let after = after_pos.map(|p| s[p]);
        let is_sink = SINKS.contains(&last) || SINKS.contains(&ident);
        if is_sink && breakout {
            let call = match after {
                Some(b'(') => after_pos.is_some_and(|p| js_call_argument(&s[p + 1..], last)),
                Some(b'`') => true,
                // `(alert)(1)`, `[1].find(alert)`, `a=alert,a(1)`: the sink passed as a value.
                Some(b')' | b',' | b';' | b']') => {
                    matches!(last, "alert" | "prompt" | "confirm" | "eval")
                        && matches!(before, Some(b'(' | b'=' | b',' | b'['))
                }
                _ => false,
            };
            let strong = !matches!(
                last,
                "function" | "constructor" | "print" | "open" | "atob" | "fromcharcode"
            ) || ident.contains('.');
            if call && (strong || before.is_some()) {
                sink.report(&rules::XSS_JS_INJECTION, lower, i..(end + 16).min(s.len()));
                return;
            }
        }
        if matches!(
            ident,
            "document.cookie"
                | "document.domain"
                | "document.location"
                | "window.location"
                | "location.href"
                | "top.location"
                | "document.body.innerhtml"
                | "localstorage.getitem"
        ) || ident.ends_with(".innerhtml")
            || ident.ends_with(".outerhtml")
        {
            // Read or written in an expression, not merely named (a URL path
            // `/manual/document.cookie` names it).
            let in_expression = matches!(after, Some(b'=' | b')' | b';' | b'+' | b',' | b']'))
                || matches!(
                    before,
                    Some(b'(' | b'=' | b'+' | b';' | b',' | b'\'' | b'"')
                );
            if in_expression {
                sink.report(&rules::XSS_JS_INJECTION, lower, i..end);
            }
            if ident == "document.cookie"
                && after == Some(b'=')
                && after_pos.is_some_and(|p| s.get(p + 1) != Some(&b'='))
            {
                sink.report(&rules::SESSION_COOKIE_SET, lower, i..end + 2);
            }
        }
        if matches!(
            ident,
            "top" | "window" | "self" | "parent" | "frames" | "globalthis" | "this" | "content"
        ) && after == Some(b'[')
            && after_pos.is_some_and(|p| {
                matches!(s.get(p + 1), Some(b'\'' | b'"' | b'`' | b'/' | b'0'..=b'9'))
            })
            && breakout
        {
            sink.report(&rules::XSS_JS_INJECTION, lower, i..(end + 16).min(s.len()));
        }
        i = end.max(i + 1);
    }
}

/// The argument of a sink call looks like code, not prose (`alert(1)`,
/// `alert(document.cookie)`, `eval(atob(...))`, not `alert(s)`).
fn js_call_argument(arg: &[u8], sink_name: &str) -> bool {
    let arg = &arg[arg
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(arg.len())..];
    let Some(&first) = arg.first() else {
        return false;
    };
    if first.is_ascii_digit() || matches!(first, b'\'' | b'"' | b'`' | b'/' | b')' | b'[' | b'{') {
        return true;
    }
    let word_len = arg
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.'))
        .count();
    let word = std::str::from_utf8(&arg[..word_len]).unwrap_or("");
    let known = [
        "document",
        "window",
        "this",
        "self",
        "top",
        "location",
        "string",
        "atob",
        "eval",
        "unescape",
        "decodeuri",
        "navigator",
        "origin",
        "name",
        "xss",
    ];
    known
        .iter()
        .any(|k| word == *k || word.strip_prefix(k).is_some_and(|r| r.starts_with('.')))
        || (matches!(
            sink_name,
            "eval" | "settimeout" | "setinterval" | "function" | "constructor"
        ) && word_len > 0
            && arg.get(word_len) == Some(&b'('))
}

/// AngularJS / Vue expression sandbox escapes inside `{{ }}`.
fn template_gadgets(lower: &str, sink: &mut Sink<'_>) {
    let mut from = 0;
    while let Some(p) = crate::text::find(&lower[from..], "{{") {
        let start = from + p + 2;
        // No closer after this opener means none after any later one either.
        let Some(close) = crate::text::find(&lower[start..], "}}") else {
            break;
        };
        let end = (start + close).min(start + 1024);
        let inner = &lower[start..end];
        if [
            "constructor",
            "$eval",
            "$on",
            "$emit",
            "$parse",
            "alert(",
            "prompt(",
            "confirm(",
            "tostring.call",
            "[].pop",
            "$event",
            "__proto__",
            "charat",
            "fromcharcode",
            "$root",
            "$$",
        ]
        .iter()
        .any(|g| crate::text::contains(inner, g))
        {
            sink.report(
                &rules::XSS_TEMPLATE_GADGET,
                lower,
                start - 2..(end + 2).min(lower.len()),
            );
            return;
        }
        from = end;
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{assert_clean, assert_detects};

    #[test]
    fn markup_attacks() {
        assert_detects("<script>alert(1)</script>", "xss.script_tag");
        assert_detects("<ScRiPt src=//x.y/z.js>", "xss.script_tag");
        assert_detects("<img src=x onerror=alert(1)>", "xss.event_handler");
        assert_detects("<svg/onload=alert(1)>", "xss.event_handler");
        assert_detects("\"><img/onerror=\"x\"src=y", "xss.event_handler");
        assert_detects("<x%09onxxx=1", "xss.event_handler");
        assert_detects("<a href=\"jav&#x09;ascript:alert(1)\">x</a>", "xss.js_url");
        assert_detects("<a href='java\nscript:alert(1)'>", "xss.js_url");
        assert_detects(
            "<iframe src=\"data:text/html;base64,PHNjcmlwdD4=\">",
            "xss.js_url",
        );
        assert_detects("<iframe src=//evil>", "xss.dangerous_tag");
        assert_detects(
            "<div style=\"width: expression(alert(1))\">",
            "xss.css_expression",
        );
        assert_detects(
            "<style>@import 'http://x/y.css';</style>",
            "xss.css_expression",
        );
        assert_detects("&lt;script&gt;alert(1)&lt;/script&gt;", "xss.script_tag");
        assert_detects("%3Cscript%3Ealert(1)%3C%2Fscript%3E", "xss.script_tag");
        assert_detects("<div v-html=\"x\"></div>", "xss.template_gadget");
    }

    #[test]
    fn a_tag_name_spelled_with_blanks() {
        for v in [
            "<f o r m",
            "foo=bar<f o r m",
            "<d i a l o g",
            "<S c R i P t>",
            "<i f r a m e src=x",
        ] {
            assert_detects(v, "xss.spaced_tag");
        }
        for benign in [
            "<a b c",
            "<b r>",
            "x <f o r mat",
            "< f o r m",
            "<f o r",
            "a<b and c>d",
            "<for m",
            "<p>hi</p>",
        ] {
            let found = crate::tests::detect_with(benign, 4);
            assert!(
                !crate::tests::ids(&found).contains(&"xss.spaced_tag"),
                "{benign:?}: {:?}",
                crate::tests::ids(&found)
            );
        }
        assert_clean("<a b c");
        assert_clean("x<f o r mat");
    }

    #[test]
    fn script_contexts() {
        assert_detects("javascript:alert(1)", "xss.js_url");
        assert_detects("  JaVaScRiPt:void(0)", "xss.js_url");
        assert_detects("\";alert(1)//", "xss.js_injection");
        assert_detects("'-prompt(1)-'", "xss.js_injection");
        assert_detects("(alert)(1)", "xss.js_injection");
        assert_detects("alert`1`", "xss.js_injection");
        assert_detects("top['al'+'ert'](1)", "xss.js_injection");
        // DOM names the CALLEE gate finds (no sink called).
        assert_detects("';(location.href='//evil.example/')", "xss.js_injection");
        assert_detects("x=(elem.innerHTML)", "xss.js_injection");
        assert_detects("\";confirm(1)//", "xss.js_injection");
        assert_detects(
            "{{constructor.constructor('alert(1)')()}}",
            "xss.template_gadget",
        );
        assert_detects(
            "\\x3cscript\\x3ealert(1)\\x3c/script\\x3e",
            "xss.script_tag",
        );
    }

    #[test]
    fn markup_read_through_a_seven_bit_channel() {
        assert_detects("¼script¾alert(¢XSS¢)¼/script¾", "xss.script_tag");
        assert_detects(
            "\\xbcscript\\xbealert(1)\\xbc/script\\xbe",
            "xss.script_tag",
        );
        assert_detects("\\xc2\\xbcscript\\xc2\\xbe", "xss.script_tag");
        assert_detects("\\xd0\\xbcscript\\xd0\\xbe", "xss.script_tag");
        for benign in [
            "Add ¼ cup of milk and ¾ cup of flour",
            "¼in bolts, ¾in nuts",
            "Stake: ¼ of the shares, ¾ to the founders, ½ price",
            "Größe ¼ Zoll, Länge ¾ Meter, café au lait",
        ] {
            assert_clean(benign);
        }
    }

    #[test]
    fn text_with_brackets_passes() {
        for benign in [
            "a < b and c > d",
            "I <3 this product",
            "2 < 3",
            "Set an alert(s) for my flight",
            "Please confirm (yes or no)",
            "Javascript: the good parts",
            "Use <placeholder> here",
            "x<y",
            "price: 5 <= 10",
            "email me at <jo@example.com>",
        ] {
            assert_clean(benign);
        }
    }

    #[test]
    fn namespaced_and_legacy_active_content() {
        for (v, rule) in [
            ("<v:vmlframe src=\"foo.com/sup.fml\"/>", "xss.dangerous_tag"),
            ("<:vmlframe src=", "xss.dangerous_tag"),
            ("<x:script>alert(1)</x:script>", "xss.script_tag"),
            ("<?import implementation =\"", "xss.dangerous_tag"),
            (
                "<SPAN DATASRC=#I DATAFLD=C DATAFORMATAS=HTML></SPAN>",
                "xss.dangerous_tag",
            ),
            (
                "<aai xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://a.b/ http://c5.example.net/aai.xsd\">aai</aai>",
                "xxe.xinclude",
            ),
        ] {
            crate::tests::assert_detects(v, rule);
        }
        for v in [
            "<o:p>text</o:p>",
            "see the xsi:schemaLocation attribute",
            "<?xml version=\"1.0\"?>",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn css_declarations_and_attribute_injection() {
        for (v, rule) in [
            ("STYLE=X:URL(JAVASCRIPT", "xss.css_expression"),
            ("x=k:v;k:v;z:url(javascript", "xss.css_expression"),
            (
                "-moz-binding:url(http://example.com/xss.xml#xss)",
                "xss.css_expression",
            ),
            ("behavior: url(a.htc)", "xss.css_expression"),
            ("'formaction=", "xss.js_url"),
            ("\"onzoom=", "xss.event_handler"),
            ("  onload= ", "xss.event_handler"),
        ] {
            crate::tests::assert_detects(v, rule);
        }
        for v in [
            "background:url(javascript-logo.png)",
            "behavior: good",
            "the formaction= attribute",
            "a=b&c=d",
            "color: red; font-size: 2em",
            "upload=done",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn css_escapes_in_a_style_attribute() {
        crate::tests::assert_detects(
            "<div style=\"background-image:\\0075\\0072\\006C\\0028'\\006a\\0061\\0076\\0061\\0073\\0063\\0072\\0069\\0070\\0074\\003a\\0061\\006c\\0065\\0072\\0074\\0028.1027\\0058\">",
            "xss.css_expression",
        );
        crate::tests::assert_detects(
            "<p style=\"x:\\65 xpression(alert(1))\">",
            "xss.css_expression",
        );
        assert_eq!(super::css_unescaped("\\ja\\vasc\\ript:"), "javascript:");
        assert_eq!(super::css_unescaped("\\75 rl("), "url(");
        for v in [
            "<div style=\"font-family:\\5FAE\\8F6F\\96C5\\9ED1\">x</div>",
            "<p style=\"content:\\201C\">",
        ] {
            assert_clean(v);
        }
    }
}
