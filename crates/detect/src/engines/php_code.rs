//! PHP syntax that the call checks in `misc` do not see on their own:
//! variable variables (`${'a'}`, `$ {$a}`: only PHP puts a string or a
//! blank there), calls hidden behind blanks and comments (`(/* x */system)
//! (ls)`, `[ system ][ 0 ]( ls )`, `"sys"."tem" ('uname')`, a quoted
//! function name called: `"system"(x)`), PHP session files as upload names
//! (`sess_<id>`: session poisoning), and `<?xml` used as a short open tag
//! (`<?xml :echo 1;`).
//!
//! Linear: each finder walks the value once with bounded look-ahead; the
//! compacted copy for hidden calls is made only for values holding both a
//! call and a blank or comment, and is capped.

use super::misc::{is_php_function, php_dynamic_call};

/// Longest prefix of a value compacted for [`hidden_call`].
const MAX_COMPACT: usize = 4096;

/// `${'name'}`, `${"a" . "b"}`, `${$a}`, or `$` then blanks then `{`: a
/// variable whose name is an expression. Shell and JavaScript templates
/// write `${name}` (which passes); neither allows a quote, a `$` or a blank
/// there.
pub(crate) fn variable_variable(lower: &str) -> Option<usize> {
    let s = lower.as_bytes();
    for p in memchr::memchr_iter(b'$', s) {
        let mut j = p + 1;
        while j < s.len() && j - p <= 32 && matches!(s[j], b' ' | b'\t' | b'\r' | b'\n') {
            j += 1;
        }
        if s.get(j) != Some(&b'{') {
            continue;
        }
        let blanks = j > p + 1;
        let limit = (j + 128).min(s.len());
        let Some(close) = memchr::memchr(b'}', &s[j..limit]) else {
            continue;
        };
        let inner = lower[j + 1..j + close].trim();
        if inner.is_empty() {
            continue;
        }
        if blanks || inner.starts_with(['\'', '"', '$', '@']) {
            return Some(p);
        }
    }
    None
}

/// A call PHP reads through blanks and comments: the value with both
/// removed is a dynamic call (`(string) {[system][0]} ('uname')`,
/// `(/* c */system)(ls/* c */)`, `define('x', 'sys' . 'tem');(x)('uname')`).
pub(crate) fn hidden_call(lower: &str) -> Option<usize> {
    let s = lower.as_bytes();
    // Only a `(` after a closing `)` `]` `}` or quote can start such a
    // call; without a blank or a comment in between, `php_dynamic_call`
    // already saw it. Most text stops here, before any copy is made.
    let comment = crate::text::contains(lower, "/*");
    let candidate = memchr::memchr_iter(b'(', s).any(|p| {
        let before = s[..p]
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
        before.is_some_and(|q| {
            matches!(s[q], b')' | b']' | b'}' | b'\'' | b'"' | b'/') && (comment || q + 1 < p)
        })
    });
    if !candidate {
        return None;
    }
    let head = &s[..s.len().min(MAX_COMPACT)];
    let mut compact = String::with_capacity(head.len());
    let mut i = 0;
    while i < head.len() {
        match head[i] {
            b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c => i += 1,
            b'/' if head.get(i + 1) == Some(&b'*') => {
                i = memchr::memmem::find(&head[i + 2..], b"*/").map_or(head.len(), |e| i + e + 4);
            }
            _ => {
                let start = i;
                i += 1;
                while i < head.len() && !head[i].is_ascii() && head[i] & 0xC0 == 0x80 {
                    i += 1;
                }
                compact.push_str(std::str::from_utf8(&head[start..i]).unwrap_or("?"));
            }
        }
    }
    if compact.len() == lower.len() {
        // Nothing removed: the plain checks already saw this text.
        return None;
    }
    // Joined words can look like a call by accident ("[ draft ] ( ls )"):
    // the callee must be PHP, a function name or strings joined with `.`.
    let php_like = compact.contains("'.'")
        || compact.contains("\".\"")
        || compact
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|w| w.len() > 2 && is_php_function(w));
    if !php_like {
        return None;
    }
    php_dynamic_call(&compact).map(|_| 0)
}

/// A quoted PHP function name called as a function: `"system"(x)`,
/// `'passthru'($c)`: PHP calls a string naming a function; prose puts a
/// blank or a word between a quote and a parenthesis.
pub(crate) fn quoted_function_call(lower: &str) -> Option<usize> {
    let s = lower.as_bytes();
    for p in memchr::memchr_iter(b'(', s) {
        if p < 3 || !matches!(s[p - 1], b'"' | b'\'') {
            continue;
        }
        let quote = s[p - 1];
        let from = p.saturating_sub(40);
        let Some(open) = memchr::memrchr(quote, &s[from..p - 1]) else {
            continue;
        };
        let name = &lower[from + open + 1..p - 1];
        if !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && is_php_function(name)
            && !matches!(name, "print" | "echo" | "file" | "header" | "copy" | "mail")
        {
            return Some(from + open);
        }
    }
    None
}

/// An upload named like a PHP session file (`sess_` and a session id of
/// 20 to 256 characters from PHP's id alphabet, in any directory): writing
/// one plants a session the application then unserializes.
pub(crate) fn session_file(name: &str) -> bool {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.strip_prefix("sess_").is_some_and(|id| {
        (20..=256).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b',' || b == b'-')
    })
}

/// `<?xml` followed, after blanks, by `:`, `(`, `;` or `$`: with
/// `short_open_tag` on, PHP runs what follows `<?` and an XML declaration
/// never continues that way (`<?xml version=...`, `<?xml-stylesheet`).
pub(crate) fn xml_short_tag(lower: &str) -> Option<usize> {
    for (p, _) in crate::text::find_iter(lower, "<?xml") {
        let rest = lower[p + 5..].trim_start_matches([' ', '\t', '\r', '\n']);
        if rest.starts_with([':', '(', ';', '$']) {
            return Some(p);
        }
    }
    None
}

/// php.ini sections whose directives are `section.name` (`opcache.`,
/// `mbstring.`, `session.`...).
const INI_SECTIONS: &[&str] = &[
    "opcache",
    "mbstring",
    "session",
    "pcre",
    "zend",
    "xdebug",
    "phar",
    "mysqli",
    "pdo_mysql",
    "sqlite3",
    "assert",
    "filter",
    "iconv",
    "intl",
    "ldap",
    "oci8",
    "odbc",
    "soap",
    "zlib",
    "cgi",
    "fastcgi",
    "user_ini",
    "url_rewriter",
    "apc",
    "realpath_cache",
];

/// Directives without a section that change what PHP runs, includes or
/// allows (and no English word).
const INI_NAMES: &[&str] = &[
    "allow_url_include",
    "allow_url_fopen",
    "auto_prepend_file",
    "auto_append_file",
    "disable_functions",
    "disable_classes",
    "open_basedir",
    "include_path",
    "extension_dir",
    "memory_limit",
    "max_execution_time",
    "unserialize_max_depth",
    "upload_tmp_dir",
    "error_log",
    "display_errors",
    "register_globals",
    "safe_mode",
    "short_open_tag",
    "file_uploads",
    "sendmail_path",
    "doc_root",
    "user_dir",
];

fn ini_name(name: &str) -> bool {
    let snake = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
    };
    match name.split_once('.') {
        Some((section, rest)) => {
            INI_SECTIONS.contains(&section) && snake(rest) && rest.contains('_')
        }
        None => INI_NAMES.contains(&name),
    }
}

/// A php.ini directive set in a value: the whole value `name = value`
/// (`opcache.jit_max_polymorphic_calls=50`, `memory_limit = 512M`) or a
/// PHP-CGI `-d name=value` option (CVE-2012-1823, CVE-2024-4577:
/// `-d allow_url_include=1`), for a back end that writes values into an
/// ini file or a command line.
pub(crate) fn ini_directive(lower: &str) -> Option<usize> {
    let t = lower.trim();
    if let Some((name, value)) = t.split_once('=')
        && !value.trim().is_empty()
        && ini_name(name.trim())
    {
        return Some(lower.len() - lower.trim_start().len());
    }
    for (p, _) in crate::text::find_iter(lower, "-d ") {
        let rest = lower[p + 3..].trim_start();
        if let Some((name, _)) = rest.split_once('=')
            && ini_name(name.trim())
        {
            return Some(p);
        }
    }
    None
}

/// Function-name prefixes of PHP extensions (`pg_`, `ldap_`, `sodium_`...):
/// PHP names a module's functions `module_verb`, which no prose and few
/// other languages' call syntax share.
const EXTENSION_PREFIXES: &[&str] = &[
    "array_",
    "pg_",
    "ldap_",
    "odbc_",
    "sodium_crypto_",
    "tidy_",
    "zend_",
    "mysqli_",
    "mysql_",
    "mb_",
    "openssl_",
    "curl_",
    "pcntl_",
    "proc_",
    "stream_",
    "socket_",
    "ftp_",
    "imap_",
    "xmlrpc_",
    "libxml_",
    "preg_",
    "ob_",
    "spl_",
    "iterator_",
    "func_get_",
    "filter_",
    "hash_",
    "json_",
    "apache_",
    "iconv_",
    "grapheme_",
    "ctype_",
    "sqlite_",
    "oci_",
    "ibase_",
    "db2_",
    "sqlsrv_",
    "exif_",
    "finfo_",
    "gmp_",
    "dba_",
    "shmop_",
    "msg_",
    "readline_",
    "yaml_",
    "simplexml_",
    "session_",
    "opcache_",
    "apcu_",
    "ssh2_",
    "gnupg_",
    "mcrypt_",
    "bzip2_",
    "zlib_",
    "gz",
];

/// A value that is one call of a PHP extension function: `name(`,
/// `name ()`, `name(args)` with `name` a module prefix and at least one more
/// part (`pg_enter_pipeline_mode (`, `ldap_get_entries()`,
/// `tidy_parse_string()`), the probe shape of PHP code injection.
pub(crate) fn extension_call(lower: &str) -> Option<usize> {
    let t = lower.trim_start();
    let at = lower.len() - t.len();
    let name_len = t
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        .count();
    let name = &t[..name_len];
    let rest = t[name_len..].trim_start_matches([' ', '\t']);
    let args = rest.strip_prefix('(')?;
    let module = EXTENSION_PREFIXES.iter().find(|p| name.starts_with(*p))?;
    let verb = &name[module.len()..];
    // `gz` has no underscore: `gzinflate`, `gzdecode` (letters only).
    let verb_ok = if module.ends_with('_') {
        verb.len() >= 2 && verb.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
    } else {
        verb.len() >= 4 && verb.bytes().all(|b| b.is_ascii_lowercase())
    };
    let args = args.trim_end();
    let call_end = args.is_empty() || args.ends_with(')') || args.ends_with(");");
    (verb_ok && call_end && args.len() <= 256).then_some(at)
}

/// Reports [`ini_directive`] matches.
pub(crate) fn inspect_ini(text: &str, lower: &str, sink: &mut crate::Sink<'_>) {
    if let Some(p) = ini_directive(lower) {
        sink.report(
            &crate::rules::PHP_INI_DIRECTIVE,
            text,
            p..(p + 48).min(text.len()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_variables() {
        for v in [
            "${'ff'}",
            "$ {'fdf'}",
            "$              {$a}",
            "$ {'_VAR'.'IABLE_NAME'}",
            "$     {   constant   }",
            "$ {@_.__}(31);",
            "${\"a\"}",
        ] {
            assert!(variable_variable(v).is_some(), "{v}");
        }
        for v in [
            "hello ${name}",
            "${a}",
            "costs $5 {approx}",
            "${}",
            "price: $ 5 {x",
            "${user.name} joined",
        ] {
            assert!(variable_variable(v).is_none(), "{v}");
        }
    }

    #[test]
    fn calls_behind_blanks_and_comments() {
        for v in [
            "( string ) \"sys\".\"t\".\"em\" ('uname');",
            "(string) {[system][0]} ('uname');",
            "define('x', 'sys' . 'tem');(x)/* comment */('uname');",
            "(/* comment */system)(ls/* comment */);",
            "[ system ] [ 0 ] ( ls );",
            "(  [  system  ][  0  ])  {/* comment */0}  (  ls  );",
        ] {
            assert!(hidden_call(v).is_some(), "{v}");
        }
        // No blank to remove: the plain dynamic-call check takes it.
        assert!(php_dynamic_call("$y = 'sys'.'tem';($y)('uname');").is_some());
        for v in [
            "see (above) (2)",
            "call me (maybe) ('soon')",
            "[ draft ] ( ls )",
            "a list [1] [2] (done)",
            "the system (new) is up",
        ] {
            assert!(hidden_call(v).is_none(), "{v}");
        }
    }

    #[test]
    fn quoted_names_called() {
        for v in ["return\"system\"(xyz).s", "'passthru'($c)", "x='exec'(id)"] {
            assert!(quoted_function_call(v).is_some(), "{v}");
        }
        for v in [
            "he said \"hi\"(laughing)",
            "the word 'system' (noun)",
            "\"echo\"(sound)",
            "'system'",
        ] {
            assert!(quoted_function_call(v).is_none(), "{v}");
        }
    }

    #[test]
    fn session_files_and_xml_tags() {
        for f in [
            "sess_d8ew88tqmabdcokhumchy8htqm",
            "/tmp/sess_abc123def456ghi789jkl",
            "c:\\temp\\sess_malicious12345678901",
            "sess_abc123,def456,ghi789jkl",
            "sess_abc-123-def-456-ghij",
        ] {
            assert!(session_file(f), "{f}");
        }
        for f in [
            "sess_notes.txt",
            "session_2024_report.pdf",
            "sess_12345",
            "my_sess_abcdefghijklmnopqrstuvwxyz",
        ] {
            assert!(!session_file(f), "{f}");
        }
        for v in [
            "<?xml\t:echo 1;",
            "<?xml\n:echo 1;",
            "<?xml   \t\t ();echo 1;",
        ] {
            assert!(xml_short_tag(v).is_some(), "{v}");
        }
        for v in [
            "<?xml version=\"1.0\"?><a/>",
            "<?xml-stylesheet href=\"a.xsl\"?>",
            "<?xml ?>",
        ] {
            assert!(xml_short_tag(v).is_none(), "{v}");
        }
    }

    #[test]
    fn extension_calls() {
        for v in [
            "array_diff (",
            "pg_enter_pipeline_mode (",
            "ldap_get_entries()",
            "odbc_connection_string_should_quote(",
            "sodium_crypto_aead_chacha20poly1305_ietf_keygen (",
            "tidy_parse_string()",
            "zend_test_is_string_marked_as_valid_utf8(",
            "gzdecode($x)",
            "mb_strlen($s);",
        ] {
            assert!(extension_call(v).is_some(), "{v}");
        }
        for v in [
            "array (of options)",
            "json_ file",
            "my_func()",
            "session_ (2)",
            "see pg_dump (the tool) for backups",
            "gzip (fast)",
            "pg_13 (new)",
            // `sodium_` alone is also a word (a recipe API's field).
            "sodium_add_to_recipe(foo)",
            "array_diff is a function",
        ] {
            assert!(extension_call(v).is_none(), "{v}");
        }
    }

    #[test]
    fn ini_directives() {
        for v in [
            "opcache.jit_max_polymorphic_calls=50",
            "mbstring.regex_retry_limit=true",
            "memory_limit = 512m",
            "extension_dir=/path/to/example",
            "unserialize_max_depth=true",
            "-d allow_url_include=1 -d auto_prepend_file=php://input",
        ] {
            assert!(ini_directive(v).is_some(), "{v}");
        }
        for v in [
            "precision=true",
            "session.id=abc",
            "memory_limit",
            "limit=5",
            "sort=-created",
            "a -d b=c",
            "opcache.enable=",
        ] {
            assert!(ini_directive(v).is_none(), "{v}");
        }
    }

    #[test]
    fn through_the_inspector() {
        use crate::ValueKind;
        use crate::tests::{assert_clean, assert_clean_in, assert_detects, assert_detects_in};
        let upload = ValueKind::HeaderValue { name: "x-filename" };
        assert_detects_in(
            "sess_d8ew88tqmabdcokhumchy8htqm",
            upload,
            "php.script_upload",
        );
        assert_detects_in("SESS_abc123def456ghi789jkl", upload, "php.script_upload");
        assert_clean_in("session_notes_2024.txt", upload);
        for name in [
            "wp-config-php.bak",
            "wp-config_php.txt",
            ".boto",
            "keys/.env",
        ] {
            assert_detects_in(name, upload, "path.restricted_extension");
        }
        for name in [
            "wp-configurator-guide.pdf",
            "boto.png",
            "environment.txt",
            "my.env.example",
        ] {
            assert_clean_in(name, upload);
        }
        assert_detects_in(
            "fthi/sfewfda.php907.............",
            upload,
            "php.script_upload",
        );
        assert_detects("${'ff'}", "php.variable_variable");
        assert_detects("return\"system\"(xyz).s", "php.variable_call");
        assert_detects("[ system ] [ 0 ] ( ls );", "php.variable_call");
        assert_detects("<?xml\t:echo 1;", "php.open_tag");
        for v in ["exec  (blah)", "exec\t(blah)", "exec //comment\r\n (blah)"] {
            assert_detects(v, "php.function_call");
        }
        assert_detects("posix_getegid()", "php.function_call");
        assert_detects("opcache.jit_max_polymorphic_calls=50", "php.ini_directive");
        for v in [
            "Hello ${name}, your order shipped",
            "[ draft ] ( ls )",
            "the system (new) is up",
            "exec (blah)",
        ] {
            assert_clean(v);
        }
    }
}
