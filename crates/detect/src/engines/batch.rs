//! Windows `cmd` control statements: `FOR ... IN (...) DO command` and
//! `IF [/I] [NOT] condition command`, parsed with cmd's own token rules
//! (quoted operands, `==` with or without blanks, `%v` / `%%v` loop
//! variables). A statement counts only where cmd would start one: at the
//! start of the value or after `&`, `|`, `;`, `(` or a line break, so the
//! English "for" and "if" in prose never start one; an `IF EXIST` / `IF
//! DEFINED` condition must also be followed by a command (a cmd built-in,
//! a block, `@`), not by more words.
//!
//! Linear: every candidate statement is read once, at most [`MAX_TOKENS`]
//! tokens each, and statements do not overlap.

use crate::{Sink, rules};

const MAX_TOKENS: usize = 16;

/// Built-ins and common commands that follow an `IF` condition.
const FOLLOW_COMMANDS: &[&str] = &[
    "echo",
    "set",
    "goto",
    "call",
    "cmd",
    "copy",
    "del",
    "erase",
    "type",
    "dir",
    "md",
    "mkdir",
    "cd",
    "chdir",
    "exit",
    "if",
    "for",
    "start",
    "move",
    "ren",
    "rename",
    "rd",
    "rmdir",
    "pause",
    "shift",
    "setlocal",
    "endlocal",
    "xcopy",
    "powershell",
    "net",
    "reg",
    "cls",
    "title",
];

/// Splits `s` into cmd tokens: blanks separate, `"..."` is one token,
/// `==` (or `===`) is a token of its own. Returns at most `MAX_TOKENS`.
fn tokens(s: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && out.len() < MAX_TOKENS {
        match b[i] {
            b' ' | b'\t' => i += 1,
            b'=' if b.get(i + 1) == Some(&b'=') => {
                let start = i;
                while i < b.len() && b[i] == b'=' {
                    i += 1;
                }
                out.push((start, i));
            }
            _ => {
                let start = i;
                while i < b.len() && !matches!(b[i], b' ' | b'\t') {
                    if b[i] == b'"' {
                        i += 1;
                        while i < b.len() && b[i] != b'"' {
                            i += 1;
                        }
                        i = (i + 1).min(b.len());
                        continue;
                    }
                    if b[i] == b'=' && b.get(i + 1) == Some(&b'=') {
                        break;
                    }
                    i += 1;
                }
                if i > start {
                    out.push((start, i));
                } else {
                    i += 1;
                }
            }
        }
    }
}

fn is_loop_variable(t: &str) -> bool {
    let v = t.strip_prefix("%%").or_else(|| t.strip_prefix('%'));
    v.is_some_and(|v| v.len() == 1 || (v.len() <= 2 && v.starts_with('~')))
}

/// `FOR [/D|/R [path]|/L|/F ["options"]]... %v IN (set) DO command`.
fn for_statement(rest: &str, toks: &[(usize, usize)]) -> bool {
    let word = |i: usize| toks.get(i).map(|&(a, b)| &rest[a..b]);
    let mut i = 1;
    // Switches, their options and a /R root directory, then the variable.
    while let Some(t) = word(i) {
        if is_loop_variable(t) {
            break;
        }
        let option = t.starts_with('/') || t.starts_with('"') || t.contains(":\\");
        if !option || i > 8 {
            return false;
        }
        i += 1;
    }
    if !word(i).is_some_and(is_loop_variable) || word(i + 1) != Some("in") {
        return false;
    }
    let Some(&(set_start, _)) = toks.get(i + 2) else {
        return false;
    };
    let set = &rest[set_start..];
    if !set.starts_with('(') {
        return false;
    }
    // `) do` / `)do` after the set, followed by a command or a block.
    let mut from = 0;
    while let Some(p) = memchr::memchr(b')', &set.as_bytes()[from..]) {
        let after = set[from + p + 1..].trim_start_matches([' ', '\t']);
        if let Some(cmd) = after.strip_prefix("do")
            && cmd.starts_with([' ', '\t', '(', '@'])
            && !cmd.trim().is_empty()
        {
            return true;
        }
        from += p + 1;
    }
    false
}

/// `IF [/I] [NOT] (EXIST x | DEFINED x | ERRORLEVEL n | CMDEXTVERSION n |
/// a==b | a EQU|NEQ|LSS|LEQ|GTR|GEQ b) command`.
fn if_statement(rest: &str, toks: &[(usize, usize)]) -> bool {
    let word = |i: usize| toks.get(i).map(|&(a, b)| &rest[a..b]);
    let mut i = 1;
    if word(i) == Some("/i") {
        i += 1;
    }
    if word(i) == Some("not") {
        i += 1;
    }
    let Some(first) = word(i) else {
        return false;
    };
    let command_follows = |j: usize| {
        word(j).is_some_and(|w| {
            w.starts_with(['(', '@'])
                || FOLLOW_COMMANDS
                    .iter()
                    .any(|c| w == *c || w.strip_prefix(c).is_some_and(|r| r.starts_with('(')))
        })
    };
    match first {
        "exist" | "defined" => word(i + 1).is_some() && command_follows(i + 2),
        "errorlevel" | "cmdextversion" => {
            word(i + 1).is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                && word(i + 2).is_some()
        }
        _ => match word(i + 1) {
            Some(op) if op.starts_with("==") => {
                word(i + 2).is_some_and(|r| !r.is_empty()) && word(i + 3).is_some()
            }
            Some("equ" | "neq" | "lss" | "leq" | "gtr" | "geq") => {
                word(i + 2).is_some() && word(i + 3).is_some()
            }
            _ => false,
        },
    }
}

/// Reports a cmd `FOR` or `IF` statement anywhere a statement can start.
pub(crate) fn inspect(lower: &str, toks: &mut Vec<(usize, usize)>, sink: &mut Sink<'_>) {
    let s = lower.as_bytes();
    // Whether a statement may start here: at the value start or after a
    // separator, blanks and `@` (echo off) in between.
    let mut boundary = true;
    let mut i = 0;
    while i < s.len() {
        // Mid-word, a statement can start only after the next separator (a
        // byte before it leaves `boundary` false and looks for no keyword):
        // go straight past it.
        if !boundary {
            match s[i..]
                .iter()
                .position(|c| matches!(c, b'&' | b'|' | b';' | b'(' | b'\n' | b'\r'))
            {
                Some(p) => {
                    i += p + 1;
                    boundary = true;
                    continue;
                }
                None => return,
            }
        }
        // (Here a statement may start.)
        boundary = matches!(
            s[i],
            b'&' | b'|' | b';' | b'(' | b'\n' | b'\r' | b' ' | b'\t' | b'@'
        );
        let keyword = if s[i..].starts_with(b"for") {
            3
        } else if s[i..].starts_with(b"if") {
            2
        } else {
            0
        };
        if keyword > 0 && matches!(s.get(i + keyword), Some(b' ' | b'\t' | b'/')) {
            let rest = &lower[i..];
            let line_end = memchr::memchr2(b'\n', b'&', rest.as_bytes()).unwrap_or(rest.len());
            // `&` chains statements, but a FOR set may hold one inside quotes.
            let stmt = if keyword == 3 {
                rest
            } else {
                &rest[..line_end]
            };
            // `if/i` is `if /i` (rare: the copy is made only then).
            let spaced;
            let stmt = if keyword == 2 && stmt.as_bytes()[2] == b'/' {
                spaced = format!("if {}", &stmt[2..]);
                spaced.as_str()
            } else {
                stmt
            };
            tokens(stmt, toks);
            let toks_ref: &[(usize, usize)] = toks;
            let hit = if keyword == 3 {
                for_statement(stmt, toks_ref)
            } else {
                if_statement(stmt, toks_ref)
            };
            if hit {
                sink.report(
                    &rules::RCE_WINDOWS_COMMAND,
                    lower,
                    i..(i + 48).min(lower.len()),
                );
                return;
            }
        }
        i += 1;
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
        inspect(&value.to_ascii_lowercase(), &mut Vec::new(), &mut sink);
        !out.is_empty()
    }

    #[test]
    fn for_loops() {
        for v in [
            "& for %a in (a,b,c) do cmd",
            "& FOR %%a IN (a,b,c) DO cmd",
            "& FOR %@ IN (a,b,c)DO cmd",
            "FOR %G IN (Sun Mon Tue Wed Thur Fri Sat) DO echo %G",
            "for /f \"delims=\" %i in ('cmd /c \"set /a (63+21)\"') do @set /p = x",
            "FOR /R C:\\temp\\ %G IN (*.bak) do Echo del \"%G\"",
            "for %i in (*) do set LIST= %i",
        ] {
            assert!(hit(v), "{v}");
        }
    }

    #[test]
    fn if_statements() {
        for v in [
            "IF        EXIST filename.txt     (",
            "IF /I NOT EXIST C:\\nonexistent   echo hey",
            "IF    NOT DEFINED _example       ECHO Value Missing",
            "IF        ERRORLEVEL 0           CMD",
            "IF        %ERRORLEVEL% NEQ 0     echo test",
            "IF /I NOT 1==2                   CMD",
            "if \"A A\" == \"A A\" echo same",
            "IF \"%var%\"==\"Hello, World!\" (ECHO found)",
            "if not (2 equ 2) echo hey",
            "if/i a==b foo",
            "IF [%1]==[/?] ...",
        ] {
            assert!(hit(v), "{v}");
        }
    }

    #[test]
    fn prose_and_look_alikes_pass() {
        for v in [
            "ifq a==b foo",
            "iffoo a==b foo",
            "if3 a==b foo",
            "if foo==",
            "Tell me if not defined yet, please",
            "If defined benefits apply, see section 4",
            "If exist, the file is kept",
            "for a in (the list) we do not care",
            "Thanks for % in (tips)",
            "What is best for me: tea, or coffee? If so, do tell",
        ] {
            assert!(!hit(v), "{v}");
        }
    }
}
