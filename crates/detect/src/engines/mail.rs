//! Mail protocol commands injected after a line break: a value that a
//! back end writes into an SMTP, IMAP or POP3 session (a webmail, a
//! "contact us" form relayed over SMTP) can start a new protocol command
//! with a CR LF. A line after a line break counts only when it has the
//! exact shape of a command: `RCPT TO:<x>`, `EHLO host`, `a001 FETCH 1:4
//! (FLAGS)` (an IMAP tag with a digit, then an IMAP command), `RETR 12`,
//! `TOP 1 2`, `APOP user <32 hex digits>`. Bare words that are also
//! English (`DATA`, `QUIT`, `HELP`) are left to the other rules.
//!
//! Linear: each line is read once.

use crate::{Sink, rules};

const IMAP_COMMANDS: &[&str] = &[
    "capability",
    "noop",
    "logout",
    "authenticate",
    "login",
    "starttls",
    "select",
    "examine",
    "create",
    "delete",
    "rename",
    "subscribe",
    "unsubscribe",
    "list",
    "lsub",
    "status",
    "append",
    "check",
    "close",
    "expunge",
    "search",
    "fetch",
    "store",
    "copy",
    "uid",
    "move",
    "idle",
    "namespace",
    "getacl",
    "setacl",
    "quit",
];

/// IMAP commands that are also English words: they need IMAP syntax in the
/// arguments (a sequence set `2:4`, a parenthesized list, a quoted string,
/// a `\Flag`, a literal `{n}`, a mailbox named INBOX).
const ENGLISH_IMAP: &[&str] = &[
    "list", "store", "copy", "search", "select", "create", "delete", "rename", "close", "check",
    "move", "login", "quit", "status",
];

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_command_line(line: &str) -> bool {
    let mut words = line.split_ascii_whitespace();
    let Some(first) = words.next() else {
        return false;
    };
    let second = words.next();
    let third = words.next();
    let rest_empty = words.next().is_none();
    match first {
        // SMTP.
        "mail" => second.is_some_and(|w| w.starts_with("from:")),
        "rcpt" => second.is_some_and(|w| w.starts_with("to:")),
        "helo" | "ehlo" => second.is_some_and(|w| w.contains('.')) && third.is_none(),
        "vrfy" | "expn" => second.is_some() && third.is_none(),
        // POP3.
        "retr" | "dele" | "list" | "uidl" => second.is_some_and(all_digits) && third.is_none(),
        "top" => second.is_some_and(all_digits) && third.is_some_and(all_digits) && rest_empty,
        "apop" => {
            second.is_some()
                && third.is_some_and(|d| d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        }
        "auth" => {
            second.is_some()
                && third.is_some_and(|b| {
                    b.len() >= 8
                        && b.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
                })
        }
        // IMAP: `<tag> <command> ...`, the tag alphanumeric with a digit.
        tag => {
            tag.len() <= 8
                && tag.bytes().all(|b| b.is_ascii_alphanumeric())
                && tag.bytes().any(|b| b.is_ascii_digit())
                && tag.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                && second.is_some_and(|c| IMAP_COMMANDS.contains(&c))
                && (second.is_some_and(|c| !ENGLISH_IMAP.contains(&c))
                    || line.contains([':', '(', '"', '\\', '{'])
                    || line.contains("inbox"))
        }
    }
}

/// Inspects the lines after the first line break of `lower`.
pub(crate) fn inspect(lower: &str, sink: &mut Sink<'_>) {
    if !sink.wants(&rules::CRLF_MAIL_COMMAND) {
        return;
    }
    let mut offset = 0;
    for (n, line) in lower.split('\n').enumerate() {
        let start = offset;
        offset += line.len() + 1;
        if n == 0 {
            continue;
        }
        let line = line.trim_matches(|c: char| c == '\r' || c == ' ' || c == '\t');
        if is_command_line(line) {
            sink.report(
                &rules::CRLF_MAIL_COMMAND,
                lower,
                start..(start + 1 + line.len()).min(lower.len()),
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Detection, DetectorSettings};

    fn hit(value: &str) -> bool {
        let settings = DetectorSettings::default();
        let mut out: Vec<Detection> = Vec::new();
        let mut sink = Sink::new(&settings, &mut out, crate::Decoding::Normalized);
        inspect(&value.to_ascii_lowercase(), &mut sink);
        !out.is_empty()
    }

    #[test]
    fn protocol_commands_after_a_line_break() {
        for v in [
            "\r\nRCPT TO:<Postmaster>",
            "x\r\nEHLO test.com",
            "\r\na001 authenticate PLAIN\r\n",
            "\r\nA1 APPEND saved-messages (\\Seen) {310}",
            "\r\na001 uid store 231:233",
            "\r\nRETR 123",
            "\r\nTOP 1 2",
            "\r\nAPOP corerulest 7d0a3bd8e5b2abcfb3e256633c23b891",
            "\r\nAUTH corerulest dGhpc2lzIWF0ZXN0cGFzc3dvcmQ=",
        ] {
            assert!(hit(v), "{v:?}");
        }
    }

    #[test]
    fn ordinary_lines_pass() {
        for v in [
            "RCPT TO:<x> without a line break",
            "Dear team,\nPlease list 3 options\nThanks",
            "Line one\nData from the sensor\nQuit smoking",
            "Address:\nFlat 4B\nTop floor",
            "Notes\nB2 store room",
            "Hi\nHelo there friend",
        ] {
            assert!(!hit(v), "{v:?}");
        }
    }
}
