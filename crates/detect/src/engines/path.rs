//! Path traversal, local and remote file inclusion. The value is read as a
//! path (backslashes are separators, repeated separators collapse, as the
//! file APIs of both Unix and Windows do): dot-dot segments (`../`, `..\`,
//! `....//`, `..;/`) are traversal; well-known sensitive files and
//! directories (`/etc/*`, `/proc/self/*`, `boot.ini`, `web.config`,
//! `.ssh/id_rsa`, ...) are named by segment, not by substring; stream
//! wrappers (`php://`, `file://`, `phar://`, ...) are inclusion; hidden
//! files requested through the URL path are probes; URLs whose host is an
//! IP literal or that end in `?` are remote inclusion.
//!
//! Never backtracks: one pass to build the path view, then bounded scans.

use crate::Sink;
use crate::rules;

#[derive(Default)]
pub(crate) struct PathScratch {
    view: String,
}

impl PathScratch {
    pub(crate) fn capacity(&self) -> usize {
        self.view.capacity()
    }
}

/// Sensitive files and directories, as they appear after a separator.
pub(crate) const SENSITIVE: &[&str] = &[
    "etc/passwd",
    "etc/shadow",
    "etc/group",
    "etc/hosts",
    "etc/issue",
    "etc/motd",
    "etc/crontab",
    "etc/sudoers",
    "etc/fstab",
    "etc/mtab",
    "etc/inittab",
    "etc/resolv.conf",
    "etc/hostname",
    "etc/profile",
    "etc/bashrc",
    "etc/httpd",
    "etc/apache",
    "etc/nginx",
    "etc/mysql",
    "etc/php",
    "etc/ssh",
    "etc/security",
    "etc/master.passwd",
    "etc/pwd.db",
    "etc/ld.so",
    "etc/redhat-release",
    "etc/debian_version",
    "etc/lsb-release",
    "etc/os-release",
    "etc/network",
    "etc/sysconfig",
    "etc/apt",
    "etc/xinetd",
    "etc/init",
    "etc/rc.",
    "etc/cron",
    "etc/ftp",
    "etc/vsftpd",
    "etc/samba",
    "etc/ldap",
    "etc/openldap",
    "etc/postfix",
    "etc/mail",
    "etc/exports",
    "etc/snmp",
    "etc/proftp",
    "etc/pure-ftpd",
    "etc/my.cnf",
    "etc/lighttpd",
    "etc/tomcat",
    "etc/wgetrc",
    "etc/aliases",
    "etc/environment",
    "etc/login.defs",
    "etc/syslog",
    "etc/rsyslog",
    "etc/logrotate",
    "etc/modules",
    "etc/timezone",
    "etc/nsswitch",
    "etc/host.conf",
    "etc/hosts.allow",
    "etc/hosts.deny",
    "etc/gshadow",
    "etc/sysctl",
    "etc/selinux",
    "etc/x11",
    "etc/release",
    "etc/centos-release",
    "etc/fedora-release",
    "etc/slackware",
    "etc/gentoo",
    "etc/suse",
    "etc/knockd",
    "etc/chrootusers",
    "etc/ssl",
    "etc/pki",
    "etc/kubernetes",
    "etc/docker",
    "etc/systemd",
    "etc/default",
    "etc/skel",
    "etc/pam.d",
    "etc/sasl",
    "etc/squid",
    "etc/bind",
    "etc/named",
    "etc/dhcp",
    "etc/ntp",
    "etc/yum",
    "etc/opt",
    "etc/adduser",
    "etc/apache2",
    "etc/httpd.conf",
    "etc/php.ini",
    "etc/php5",
    "etc/php7",
    "etc/php8",
    "etc/webmin",
    "proc/self",
    "proc/interrupts",
    "proc/modules",
    "proc/kallsyms",
    "sys/class",
    "sys/kernel",
    "sys/firmware",
    "proc/version",
    "proc/cpuinfo",
    "proc/meminfo",
    "proc/mounts",
    "proc/net",
    "proc/sched_debug",
    "proc/partitions",
    "proc/stat",
    "proc/cmdline",
    "proc/config",
    "proc/1/",
    "proc/kcore",
    "proc/devices",
    "var/log/",
    "var/www/",
    "var/lib/mysql",
    "var/lib/pgsql",
    "var/mail/",
    "var/spool/",
    "var/run/",
    "var/adm/",
    "var/cpanel",
    "var/lib/php",
    "var/apache",
    "var/nginx",
    "var/db/",
    "var/backups",
    "usr/local/apache",
    "usr/local/etc",
    "usr/local/lib/php",
    "usr/local/www",
    "usr/local/cpanel",
    "usr/local/php",
    "usr/local/mysql",
    "usr/local/nginx",
    "usr/local/psa",
    "usr/pkg/etc",
    "usr/lib/php",
    "usr/local/app",
    "usr/apache",
    "usr/share/",
    "usr/home/",
    "root/",
    "home/",
    ".ssh/",
    ".bash_history",
    ".bashrc",
    ".bash_profile",
    ".profile",
    ".mysql_history",
    ".psql_history",
    ".htpasswd",
    ".htaccess",
    ".git/",
    ".gitconfig",
    ".svn/",
    ".hg/",
    ".env",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "authorized_keys",
    "known_hosts",
    ".aws/",
    ".kube/",
    ".docker/",
    ".npmrc",
    ".netrc",
    ".pgpass",
    ".my.cnf",
    ".viminfo",
    ".lesshst",
    ".ds_store",
    ".cshrc",
    ".tcshrc",
    ".zshrc",
    ".login",
    ".logout",
    ".forward",
    ".rhosts",
    ".k5login",
    ".xauthority",
    ".gnupg/",
    ".config/",
    "boot/grub",
    "boot/loader",
    "appserv/",
    "wp-config.php",
    "web.config",
    "web-inf/",
    "meta-inf/",
    "config.php",
    "configuration.php",
    "settings.php",
    "localsettings.php",
    "local.xml",
    "config.inc.php",
    "php.ini",
    "my.ini",
    "my.cnf",
    "httpd.conf",
    "httpd-vhosts.conf",
    "apache2.conf",
    "nginx.conf",
    "lighttpd.conf",
    "php-fpm.conf",
    "tomcat-users.xml",
    "server.xml",
    "boot.ini",
    "win.ini",
    "system.ini",
    "windows/system32",
    "windows/system",
    "windows/repair",
    "windows/panther",
    "windows/debug",
    "windows/temp",
    "windows/win.ini",
    "winnt/",
    "system32/",
    "inetpub/",
    "ntuser.dat",
    "pagefile.sys",
    "hiberfil.sys",
    "autoexec.bat",
    "config.sys",
    "unattend.xml",
    "sysprep",
    "program files",
    "xampp/",
    "apache/logs",
    "apache/conf",
    "apache2/logs",
    "mysql/data",
    "mysql/bin",
    "documents and settings",
    "wamp/",
    "appserv/",
    "php/php.ini",
    "access.log",
    "access_log",
    "error.log",
    "error_log",
    "php_errors.log",
    "debug.log",
    "install.log",
    "sam",
    "security",
    "software",
    "system",
    "shadow",
    "passwd",
    "global.asa",
    "applicationhost.config",
    "machine.config",
    "sites/default/settings",
    "app/etc/",
    "conf/server.xml",
    "catalina.",
    "jboss",
    "weblogic",
    "wp-content/",
    "wp-includes/",
];

/// Entries of [`SENSITIVE`] that are also ordinary words: only as a path
/// segment after a system directory or a traversal.
fn needs_strong_context(entry: &str) -> bool {
    matches!(
        entry,
        "sam"
            | "security"
            | "software"
            | "system"
            | "shadow"
            | "passwd"
            | "root/"
            | "home/"
            | "usr/share/"
            | "usr/home/"
            | "access.log"
            | "access_log"
            | "error.log"
            | "error_log"
            | "debug.log"
            | "install.log"
            | "jboss"
            | "weblogic"
            | "catalina."
            | "wp-content/"
            | "wp-includes/"
            | "program files"
            | "system32/"
            | "documents and settings"
            | "security.log"
            | "sysprep"
            | "config.php"
            | "settings.php"
            | "local.xml"
            | "server.xml"
            | ".profile"
            | "xampp/"
            | "wamp/"
            | "appserv/"
            | "app/etc/"
            | "php/php.ini"
            | "var/run/"
    )
}

pub(crate) const WRAPPERS: &[&str] = &[
    "php://",
    "file://",
    "file:/",
    "expect://",
    "zip://",
    "phar://",
    "glob://",
    "compress.zlib://",
    "compress.bzip2://",
    "ogg://",
    "rar://",
    "ssh2.shell://",
    "ssh2.exec://",
    "ssh2.tunnel://",
    "ssh2.sftp://",
    "ssh2.scp://",
    "zlib:",
    "jar:file:",
    "jar:http:",
    "jar:https:",
    "netdoc:",
    "data://text/plain",
    "data:text/plain",
    "data://",
    "input://",
];

/// Outside a path segment, every report [`inspect`] makes needs a
/// [`SENSITIVE`] entry, a [`WRAPPERS`] scheme or a literal of the lists
/// below in `lower`; the dispatcher skips values with none. Why, report by
/// report (`v` is the path view, which only folds `\` to `/`, drops a `/`
/// after a `/` and turns a spelled `0x2e`/`0x2f`/`0x5c` into `.`/`/`: so
/// letters adjacent in `v` are adjacent in `lower`, and so are a `.` and
/// what follows it unless the `.` was spelled `0x2e`):
/// - traversal counts `..` in `v`: `..` or `0x2e` in `lower`
///   ([`DOT_LITERALS`]); the dot-segment probe needs a `\`
///   ([`FOLD_LITERALS`]);
/// - the sensitive-file search needs an entry in `v`: one in `lower`, or
///   one the view makes, which needs a fold ([`FOLD_LITERALS`]) or a
///   squeezed `//` ([`SLASHES`]; see [`squeeze_may_make_entry`]);
/// - the junk-separated system file needs `etc`, `.ini`, `.bat` or `.dat` in
///   `v` (each also in `lower`, or `0x2e` is), and a config file's stem one
///   of the stem words of [`config_file`], each of which contains one of the
///   letter-only words of [`FILE_WORD_LITERALS`];
/// - a whole value under a system directory needs a [`SYSTEM_ROOTS`] entry
///   or [`WINDOWS_ROOT`] (the same gate as [`FILE_WORD_LITERALS`]), each
///   also in `lower` or made by a fold;
/// - remote inclusion needs `://` (so [`SLASHES`]) in `lower`;
/// - wrappers need a [`WRAPPERS`] scheme; restricted extensions and hidden
///   files are path-segment reports.
pub(crate) const DOT_LITERALS: &[&str] = &["..", "0x2e"];

/// What the path view folds into a separator or a dot.
pub(crate) const FOLD_LITERALS: &[&str] = &["\\", "0x2e", "0x2f", "0x5c"];

/// What the path view squeezes (and every URL has).
pub(crate) const SLASHES: &[&str] = &["//"];

/// Directories of the operating system itself: configuration, kernel
/// views, logs and spools, the administrator's home (and, after a drive
/// letter, [`WINDOWS_ROOT`]). No API client names a file there; `/usr`
/// (shared programs, ports, documentation) and web roots are left out.
pub(crate) const SYSTEM_ROOTS: &[&str] = &[
    "/etc/",
    "/proc/",
    "/sys/",
    "/boot/",
    "/root/",
    "/var/log",
    "/var/adm",
    "/var/spool",
    "/var/lib/",
    "/var/run/",
    "/var/cron",
];

/// The Windows directory after a drive letter (`c:/windows/...` in the path
/// view). A program in `System32`, which Windows clients send as an
/// ordinary file name, passes: see [`system_program`].
pub(crate) const WINDOWS_ROOT: &str = ":/windows/";

/// A whole value that is an absolute path under a [`SYSTEM_ROOTS`]
/// directory or [`WINDOWS_ROOT`] (`/etc/inetd.conf`, `/var/log`,
/// `c:\windows\notepad.exe`):
/// a file the application should never be asked to open. One token only
/// (no blank), so prose that mentions `/etc/` passes.
fn under_system_root(v: &str) -> bool {
    let t = v.trim();
    if t.contains([' ', '\t']) {
        return false;
    }
    // (An ASCII first byte: `t[1..]` starts on a character boundary.)
    if t.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && t[1..]
            .strip_prefix(WINDOWS_ROOT)
            .is_some_and(|rest| !rest.is_empty())
    {
        return !system_program(t);
    }
    SYSTEM_ROOTS.iter().any(|root| {
        t.strip_prefix(root).is_some_and(|rest| {
            // `/etc/` and `/var/lib/` need a name after them; `/var/log`
            // is the directory itself or a path below it.
            if root.ends_with('/') {
                !rest.is_empty()
            } else {
                rest.is_empty() || rest.starts_with('/')
            }
        })
    })
}

/// System-file words and config-file stems ([`config_file`]), and the
/// system directories of [`under_system_root`].
pub(crate) const FILE_WORD_LITERALS: &[&str] = &[
    "etc",
    ".ini",
    ".bat",
    ".dat",
    "0x2e",
    "conf",
    "db",
    "database",
    "settings",
    "setup",
    "install",
    "connect",
    "credentials",
    "secret",
    "passw",
    "global",
];

/// Which literals `lower` holds (the dispatcher's gate automaton answers, in
/// its one pass over the value).
#[derive(Clone, Copy)]
pub(crate) struct Literals {
    /// A [`SENSITIVE`] entry.
    pub(crate) sensitive: bool,
    /// A [`WRAPPERS`] scheme.
    pub(crate) wrapper: bool,
    /// A [`DOT_LITERALS`] entry.
    pub(crate) dots: bool,
    /// A [`FOLD_LITERALS`] entry.
    pub(crate) fold: bool,
    /// `//`.
    pub(crate) slashes: bool,
    /// A [`FILE_WORD_LITERALS`] or [`SYSTEM_ROOTS`] entry, or [`WINDOWS_ROOT`].
    pub(crate) file_word: bool,
}

impl Literals {
    /// Whether a value outside a path segment can be reported at all.
    pub(crate) fn any(self) -> bool {
        self.sensitive || self.wrapper || self.dots || self.fold || self.slashes || self.file_word
    }
}

/// Whether squeezing the `//` runs of `lower` can make a [`SENSITIVE`]
/// entry that `lower` lacks. The squeeze keeps a run's first `/`; an entry
/// that appears only after it must hold that `/` with a character after it,
/// and so start with it or hold the character before the run. No entry
/// starts with `/` or holds a `:` (a test checks), so runs at the start of
/// the value or after `:` (`https://host`) make none.
fn squeeze_may_make_entry(lower: &str) -> bool {
    let s = lower.as_bytes();
    memchr::memmem::find_iter(s, b"//").any(|p| p > 0 && !matches!(s[p - 1], b':' | b'/'))
}

/// `literals`: which of the literal lists above `lower` holds; a search
/// whose literal is missing is skipped (see [`DOT_LITERALS`]).
pub(crate) fn inspect(
    lower: &str,
    is_path_segment: bool,
    literals: Literals,
    scratch: &mut PathScratch,
    sink: &mut Sink<'_>,
) {
    // Every report on the path view needs one of these (see DOT_LITERALS);
    // without, neither the view nor its searches are needed (a URL).
    let view_reports = is_path_segment
        || literals.dots
        || literals.file_word
        || literals.sensitive
        || literals.fold
        || (literals.slashes && squeeze_may_make_entry(lower));
    let (v, needs_view) = if view_reports {
        path_view(lower, &mut scratch.view)
    } else {
        ("", false)
    };
    if view_reports {
        let traversal = traversal_steps(v);
        if traversal > 0 || (literals.fold && dot_segment_probe(lower)) {
            sink.report(&rules::PATH_TRAVERSAL, v, 0..v.len().min(64));
        }
        if literals.sensitive || needs_view {
            sensitive_files(v, traversal > 0, sink);
        }
        let system_file_words = || {
            crate::text::contains(v, "etc")
                || crate::text::contains(v, ".ini")
                || crate::text::contains(v, ".bat")
                || crate::text::contains(v, ".dat")
        };
        if !v.contains(' ') && system_file_words() && junk_separated_system_file(v) {
            sink.report(&rules::PATH_SENSITIVE_FILE, v, 0..v.len().min(64));
        }
        if config_file(v) {
            sink.report(&rules::PATH_SENSITIVE_FILE, v, 0..v.len());
        }
        if (literals.file_word || literals.fold) && under_system_root(v) {
            sink.report(&rules::PATH_SENSITIVE_FILE, v, 0..v.len().min(64));
        }
    }
    static WRAPPER_SET: crate::text::NeedleSet = crate::text::NeedleSet::new(WRAPPERS);
    // Without a wrapper in `lower`, no search is even set up.
    for (p, w) in literals
        .wrapper
        .then(|| WRAPPER_SET.find_iter(lower))
        .into_iter()
        .flatten()
    {
        {
            // `file:/` alone is too short a needle for text; a path must follow.
            if w == "file:/" && !lower[p + 6..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                continue;
            }
            sink.report(
                &rules::PATH_WRAPPER,
                lower,
                p..(p + w.len() + 24).min(lower.len()),
            );
            break;
        }
    }
    if is_path_segment && restricted_extension(v) {
        sink.report(&rules::PATH_RESTRICTED_EXTENSION, v, 0..v.len());
    }
    if is_path_segment
        && v.len() > 1
        && v.starts_with('.')
        && !v.starts_with("..")
        && v != ".well-known"
    {
        sink.report(&rules::PATH_HIDDEN_FILE, v, 0..v.len());
    }
    remote_inclusion(lower, sink);
}

/// The path view of `lower` (`view` when it differs, else `lower` itself)
/// and whether it differs.
fn path_view<'a>(lower: &'a str, view: &'a mut String) -> (&'a str, bool) {
    view.clear();
    let mut last_slash = false;
    // Some decoders take `0x2f` / `0x5c` for the separators they encode.
    let separators_spelled_out = crate::text::contains(lower, "0x")
        && (crate::text::contains(lower, "0x2f")
            || crate::text::contains(lower, "0x5c")
            || crate::text::contains(lower, "0x2e"));
    // The path view folds `\` to `/` and squeezes `//`: most values have
    // neither, and are their own view.
    let needs_view = separators_spelled_out
        || memchr::memchr(b'\\', lower.as_bytes()).is_some()
        || memchr::memmem::find(lower.as_bytes(), b"//").is_some();
    if !needs_view {
        return (lower, false);
    }
    let mut chars = lower.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let c = if separators_spelled_out
            && (lower[at..].starts_with("0x2f")
                || lower[at..].starts_with("0x5c")
                || lower[at..].starts_with("0x2e"))
        {
            let spelled = if lower[at..].starts_with("0x2e") {
                '.'
            } else {
                '/'
            };
            for _ in 0..3 {
                chars.next();
            }
            spelled
        } else {
            c
        };
        let c = if c == '\\' { '/' } else { c };
        if c == '/' && last_slash {
            continue;
        }
        last_slash = c == '/';
        view.push(c);
    }
    (view.as_str(), true)
}

/// A path segment naming a backup, database, key, log or server-side
/// source file that a web server should never hand out (`site.bak`,
/// `dump.rdb`, `db.sqlite`, `index.php~`, `privkey.pem`). `.key` (also a
/// Keynote document) and `.com` (a domain in a path) are left out.
fn restricted_extension(v: &str) -> bool {
    if v.ends_with('~') && v.len() > 1 {
        return true;
    }
    let Some((stem, ext)) = v.rsplit_once('.') else {
        return false;
    };
    // A compressed backup (`backup.sql.zip`, `site.bak.gz`) is the backup.
    if matches!(
        ext,
        "zip" | "gz" | "tgz" | "bz2" | "xz" | "7z" | "rar" | "tar" | "zst"
    ) {
        return stem.contains('.') && restricted_extension(stem);
    }
    !stem.is_empty()
        && matches!(
            ext,
            "bak"
                | "backup"
                | "old"
                | "orig"
                | "swp"
                | "sav"
                | "db"
                | "dbf"
                | "mdb"
                | "sql"
                | "sqlite"
                | "sqlite3"
                | "rdb"
                | "pem"
                | "crt"
                | "csr"
                | "p12"
                | "pfx"
                | "jks"
                | "asa"
                | "asax"
                | "ascx"
                | "cdx"
                | "config"
                | "csproj"
                | "vbproj"
                | "licx"
                | "resx"
                | "resources"
                | "dll"
                | "pdb"
                | "inc"
                | "htr"
                | "htw"
                | "ida"
                | "idc"
                | "idq"
                | "printer"
                | "pol"
                | "pwd"
                | "pass"
                | "lnk"
                | "vsdisco"
                | "webinfo"
        )
}

/// The number of dot-dot segments (`..` followed by a separator, or at the
/// end after one).
fn traversal_steps(v: &str) -> usize {
    let s = v.as_bytes();
    let mut steps = 0;
    let mut i = 0;
    while let Some(p) = memchr::memmem::find(&s[i..], b"..") {
        let start = i + p;
        let mut end = start;
        while end < s.len() && s[end] == b'.' {
            end += 1;
        }
        let before_ok = start == 0
            || matches!(
                s[start - 1],
                b'/' | b'='
                    | b' '
                    | b'"'
                    | b'\''
                    | b':'
                    | b'('
                    | b','
                    | b';'
                    | b'|'
                    | b'`'
                    | b'>'
                    | b'<'
                    | b'*'
                    | b'%'
            );
        let mut after = end;
        if s.get(after) == Some(&b';') {
            // A `;` path parameter (`..;jsessionid=x/`, `..;./`) is dropped
            // by Tomcat and Spring before the segment is resolved.
            after += 1;
            while after < s.len() && !matches!(s[after], b'/' | b'%') {
                after += 1;
            }
        }
        // A `%` left after decoding is an escape some later decoder undoes.
        let after_ok = matches!(s.get(after), Some(b'/' | b'%'))
            || (after == s.len() && start > 0 && s[start - 1] == b'/')
            || hex_separator_step(&s[after..]);
        if before_ok && after_ok {
            steps += 1;
        }
        i = end;
    }
    steps
}

/// `..2f..2f`, `..2fvar2flog`: a separator spelled as its hex code with the
/// `%` lost (payload lists and filters that strip `%`), counted when another
/// such code follows, so a lone `..2f` in text is not a step.
fn hex_separator_step(rest: &[u8]) -> bool {
    let spelled = |b: &[u8]| b.starts_with(b"2f") || b.starts_with(b"5c");
    spelled(rest) && rest[2..].windows(2).any(|w| w == b"2f" || w == b"5c")
}

/// `/./\/./`, `/.\/\.\`: a value of nothing but dots and both kinds of
/// slash, the probe that maps how a server folds separators and dot
/// segments before it resolves a path.
fn dot_segment_probe(lower: &str) -> bool {
    let b = lower.as_bytes();
    b.len() >= 6
        && b.iter().all(|c| matches!(c, b'.' | b'/' | b'\\'))
        && b.contains(&b'/')
        && b.contains(&b'\\')
        && b.iter().filter(|c| **c == b'.').count() >= 2
}

fn sensitive_matcher() -> &'static aho_corasick::AhoCorasick {
    static MATCHER: std::sync::OnceLock<aho_corasick::AhoCorasick> = std::sync::OnceLock::new();
    MATCHER.get_or_init(|| crate::text::literal_matcher(SENSITIVE))
}

/// `c:\windows\system32\ls`: a program in the system directory, as named in
/// prose or a path field, reads none of the system's files; those
/// (`drivers\etc\hosts`, `config\sam`) lie deeper.
fn system_program(v: &str) -> bool {
    let b = v.as_bytes();
    let v = if b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        &v[2..]
    } else {
        v
    };
    let v = v.trim_start_matches('/');
    let Some(rest) = v.strip_prefix("windows/") else {
        return false;
    };
    let Some(program) = rest
        .strip_prefix("system32/")
        .or_else(|| rest.strip_prefix("system/"))
    else {
        return false;
    };
    !program.is_empty() && program.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn sensitive_files(v: &str, traversal: bool, sink: &mut Sink<'_>) {
    if !traversal && system_program(v) {
        return;
    }
    let s = v.as_bytes();
    // One pass finds every entry at every position; each is then judged in place.
    for m in sensitive_matcher().find_overlapping_iter(v) {
        let entry = &SENSITIVE[m.pattern().as_usize()];
        {
            let start = m.start();
            let end = m.end();
            let before = if start == 0 { None } else { Some(s[start - 1]) };
            let segment_start = matches!(
                before,
                None | Some(b'/' | b':' | b'=' | b' ' | b'"' | b'\'')
            );
            if !segment_start && !entry.starts_with('.') {
                continue;
            }
            if entry.starts_with('.')
                && !matches!(
                    before,
                    None | Some(b'/' | b'~' | b'=' | b' ' | b'"' | b'\'')
                )
            {
                continue;
            }
            // A whole segment: the entry ends at a separator, the end, or
            // continues into the file name (`etc/passwd` in `etc/passwd%00`).
            let boundary = entry.ends_with('/')
                || end == s.len()
                || !s[end].is_ascii_alphanumeric()
                || entry.contains('/')
                    && !matches!(
                        *entry,
                        "etc/init" | "etc/cron" | "etc/rc." | "etc/php" | "proc/net" | "proc/stat"
                    );
            if !boundary && !entry.contains('.') {
                continue;
            }
            let rooted = before == Some(b'/') || before == Some(b':');
            if needs_strong_context(entry) {
                let strong = traversal
                    || (rooted
                        && (v[..start].ends_with("windows/")
                            || v[..start].ends_with("winnt/")
                            || v[..start].ends_with("repair/")
                            || v[..start].ends_with("config/")
                            || drive_prefix(&v[..start])
                            || v[..start].ends_with("etc/")
                            || start == 1
                            || v[..start].ends_with("logs/")
                            || v[..start].ends_with("log/")
                            || v[..start].ends_with("apache/")
                            || v[..start].ends_with("httpd/")
                            || v[..start].ends_with("nginx/")
                            || v[..start].ends_with("var/")
                            || v[..start].ends_with("wp-content/")));
                if !strong {
                    continue;
                }
            } else if entry.contains('/')
                && !entry.starts_with('.')
                && !rooted
                && start != 0
                && !traversal
            {
                // `etc/passwd` mid-prose needs a separator or a traversal before it.
                continue;
            }
            sink.report(&rules::PATH_SENSITIVE_FILE, v, start..end);
            return;
        }
    }
}

/// `etc` and a system file name with a few undecodable bytes between them
/// (fuzzers spell the separator in encodings only some servers undo), or a
/// Windows system file anywhere in a path-shaped value.
fn junk_separated_system_file(v: &str) -> bool {
    junk_separated(v.as_bytes(), false)
}

/// [`junk_separated_system_file`] over bytes (the value as sent may hold
/// non-ASCII); with `escape_between`, the bytes between `etc` and the name
/// must hold an escape: a `%`, a spelled `0x`, or non-ASCII
/// (`etc%%32%%66passwd`, `etc0x2fpasswd`; not `etcdhosts`, `secretcode2hosts`).
fn junk_separated(v: &[u8], escape_between: bool) -> bool {
    for base in [
        "passwd", "shadow", "issue", "hosts", "group", "motd", "fstab",
    ] {
        for p in memchr::memmem::find_iter(v, base.as_bytes()) {
            let window = &v[p.saturating_sub(14)..p];
            if let Some(e) = memchr::memmem::rfind(window, b"etc") {
                let between = &window[e + 3..];
                if !between.is_empty()
                    && !between.iter().any(|&b| {
                        b.is_ascii_lowercase()
                            && !matches!(
                                b,
                                b'a'..=b'f' | b'o' | b'p' | b'q' | b's' | b'u' | b'v' | b'x' | b'g'
                            )
                    })
                    && (!escape_between
                        || between.iter().any(|&b| b == b'%' || b >= 0x80)
                        || memchr::memmem::find(between, b"0x").is_some())
                {
                    return true;
                }
            }
        }
    }
    [
        "boot.ini",
        "win.ini",
        "system.ini",
        "autoexec.bat",
        "ntuser.dat",
        "desktop.ini",
    ]
    .iter()
    .any(|f| {
        memchr::memmem::find_iter(v, f.as_bytes()).any(|p| {
            if escape_between {
                // As sent: behind an escape no standard decoder reads
                // (an overlong lead, IIS `%u`, `%%`, a spelled `0x`), not
                // behind a letter (`R%C3%A9boot.ini`).
                let before = &v[..p];
                return ["%c0", "%c1", "%u", "%%", "0x"]
                    .iter()
                    .any(|e| memchr::memmem::find(before, e.as_bytes()).is_some());
            }
            p == 0
                || !v[p - 1].is_ascii_alphabetic()
                || v[..p].iter().any(|b| !b.is_ascii_alphanumeric())
        })
    })
}

/// What the value as sent shows and its normalized form hides, for values
/// the dispatcher otherwise keeps from this engine or that decoding garbled:
///
/// - the system files of [`junk_separated_system_file`]. Decoding a
///   fuzzer's junk separator again and again can eat the first letter of
///   the name after it (`%%32%%66etc` decodes to `%2%fetc`, whose `%fe` is
///   then taken for a byte: `%2` and `tc` are left), and a separator
///   spelled in an encoding that decodes to letters or non-ASCII (`0x2f`,
///   `%uEFC8`, `%c1%af`) leaves a value of plain words that reaches no
///   engine. Only a run between `etc` and the name that holds an escape
///   counts here (`etcdhosts` is a word), and neither form may hold a
///   space (`etc%20passwd%20reset` is prose);
/// - a dot-dot segment closed by an IIS `%u` escape of a non-ASCII
///   character (`/..%uEFC8..%uEFC8`): decoded, the separator is a letter to
///   [`traversal_steps`], but only a server that reads `%u` as a separator
///   is sent one (an ASCII `%u002f` decodes to `/` and is seen already).
pub(crate) fn inspect_as_sent(
    raw: &str,
    lower: &str,
    scratch: &mut PathScratch,
    sink: &mut Sink<'_>,
) {
    if memchr::memchr(b' ', lower.as_bytes()).is_some() || raw.contains(' ') {
        return;
    }
    scratch.view.clear();
    scratch.view.push_str(raw);
    scratch.view.make_ascii_lowercase();
    let v = scratch.view.as_bytes();
    if junk_separated(v, true) {
        sink.report(&rules::PATH_SENSITIVE_FILE, raw, 0..raw.len().min(64));
    }
    let dot_dot_escape = memchr::memmem::find_iter(v, b"..%u").any(|p| {
        let before_ok = p == 0 || matches!(v[p - 1], b'/' | b'\\' | b'=');
        let code = v
            .get(p + 4..p + 8)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        before_ok && code.is_some_and(|c| c >= 0x80)
    });
    if dot_dot_escape {
        sink.report(&rules::PATH_TRAVERSAL, raw, 0..raw.len().min(64));
    }
}

/// `c:/`, `d:/` just before.
fn drive_prefix(before: &str) -> bool {
    let b = before.as_bytes();
    b.len() >= 3
        && b[b.len() - 1] == b'/'
        && b[b.len() - 2] == b':'
        && b[b.len() - 3].is_ascii_alphabetic()
}

/// Names of configuration and credential files applications keep next to
/// their code (`config.php`, `/core/database.inc`, `wp-config.php.bak`).
fn config_file(v: &str) -> bool {
    let name = v.rsplit('/').next().unwrap_or(v);
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    if ext.len() > 10 || memchr::memchr(b' ', v.as_bytes()).is_some() {
        return false;
    }
    let stem = stem.trim_start_matches(['_', '.']);
    // Each contains a word of [`FILE_WORD_LITERALS`] (the dispatcher's gate).
    let stems = [
        "config",
        "configuration",
        "database",
        "db",
        "settings",
        "setup",
        "install",
        "wp-config",
        "conf",
        "connect",
        "connection",
        "credentials",
        "secrets",
        "secret",
        "passwd",
        "password",
        "passwords",
        "htpasswd",
        "local_settings",
        "localsettings",
        "dbconfig",
        "db_config",
        "config.inc",
        "global",
    ];
    let exts = [
        "php",
        "asp",
        "aspx",
        "jsp",
        "inc",
        "ini",
        "conf",
        "cfg",
        "js",
        "json",
        "xml",
        "yml",
        "yaml",
        "env",
        "bak",
        "old",
        "sql",
        "txt",
        "cnf",
        "properties",
        "php~",
        "swp",
    ];
    if !exts.contains(&ext) {
        return false;
    }
    let stem_ok = stems.iter().any(|s| {
        stem == *s
            || stem
                .strip_suffix(s)
                .is_some_and(|p| p.ends_with(['_', '-']))
            || stem.strip_prefix(s).is_some_and(|r| r.starts_with('.'))
    });
    stem_ok && exts.contains(&ext) && !v.contains(' ')
}

/// URLs that fetch code from elsewhere: an IP-literal host, a trailing `?`
/// that cuts off the application's own suffix, or an FTP source.
fn remote_inclusion(lower: &str, sink: &mut Sink<'_>) {
    let mut from = 0;
    while let Some(p) = crate::text::find(&lower[from..], "://") {
        let at = from + p;
        from = at + 3;
        let scheme_start = lower[..at]
            .rfind(|c: char| !c.is_ascii_alphanumeric() && c != '+' && c != '.' && c != '-')
            .map_or(0, |i| i + 1);
        let scheme = &lower[scheme_start..at];
        if !matches!(scheme, "http" | "https" | "ftp" | "ftps") {
            continue;
        }
        let rest = &lower[at + 3..];
        let url_end = rest
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '<' || c == '>')
            .unwrap_or(rest.len());
        let url = &rest[..url_end];
        let authority = url.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        let host = host.split(':').next().unwrap_or("");
        let ip_host = !host.is_empty()
            && host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && host.contains('.');
        // `http://x/shell.txt?`, `https://foo.bar?`: a `?` that turns what the
        // application appends into a query string.
        let trailing_question = url.ends_with('?') && url.len() > authority.len();
        // `http://example.com%2f:asd@evil.com/`: a user-info part that a
        // decoding parser reads past the host (`:` or a second `@` before
        // the `@`) sends the fetch elsewhere.
        let first_segment = url[authority.len()..]
            .strip_prefix('/')
            .map_or("", |r| r.split('/').next().unwrap_or(""));
        let smuggled_authority = first_segment.rsplit_once('@').is_some_and(|(user, host)| {
            (user.contains(':') || user.contains('@')) && host.contains('.')
        });
        let inclusion_suffix = [
            ".txt?", ".txt", ".php?", ".php", ".jpg?", ".gif?", "shell", "c99", "r57", ".pl?",
            ".sh",
        ]
        .iter()
        .any(|s| url.ends_with(s))
            && url.len() > authority.len();
        let embedded = scheme_start > 0 && lower[..scheme_start].ends_with('=');
        if ip_host
            || trailing_question
            || smuggled_authority
            || scheme.starts_with("ftp")
            || (inclusion_suffix && (embedded || scheme_start == 0))
        {
            sink.report(
                &rules::RFI_URL,
                lower,
                scheme_start..(at + 3 + url_end).min(lower.len()),
            );
        } else if sink.paranoia() >= 3 {
            sink.report(
                &rules::RFI_OFF_SITE,
                lower,
                scheme_start..(at + 3 + url_end).min(lower.len()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{assert_clean, assert_detects};

    #[test]
    fn traversal_and_inclusion() {
        assert_detects("../../etc/passwd", "path.traversal");
        assert_detects("..\\..\\boot.ini", "path.traversal");
        assert_detects("%2e%2e%2f%2e%2e%2fetc%2fpasswd", "path.traversal");
        assert_detects("%252e%252e%252f", "path.traversal");
        assert_detects("..%c0%af..%c0%afetc", "path.traversal");
        assert_detects("....//....//etc/issue", "path.traversal");
        assert_detects("%uff0e%uff0e%u2215", "path.traversal");
        assert_detects("..2f..2f..2fvar2flog2fapache2faccess.log", "path.traversal");
        assert_detects("..5c..5cwindows5cwin.ini", "path.traversal");
        assert_clean("see section 1..2f of the spec");
        assert_detects("/./\\/././\\/./", "path.traversal");
        assert_detects("/.\\/\\.\\.\\/\\.\\", "path.traversal");
        assert_clean("./a/b.txt");
        assert_clean("C:\\Users\\a.b\\c.txt");
        // Tomcat and Spring drop a `;` path parameter before resolving `..`.
        assert_detects("..;/..;/etc", "path.traversal");
        assert_detects("..;.\\.;\\.", "path.traversal");
        assert_detects("/app/..;jsessionid=1/admin", "path.traversal");
        assert_clean("wait..;) see /docs");
        assert_detects("/etc/passwd", "path.sensitive_file");
        assert_detects("C:\\Windows\\win.ini", "path.sensitive_file");
        assert_detects("/proc/self/environ", "path.sensitive_file");
        assert_detects(
            "php://filter/convert.base64-encode/resource=index.php",
            "path.wrapper",
        );
        assert_detects("file:///etc/passwd", "path.wrapper");
        assert_detects("http://192.0.2.10/shell.txt?", "rfi.url");
    }

    #[test]
    fn kernel_files_and_compressed_backups() {
        assert_detects("/sys/class", "path.sensitive_file");
        assert_detects("/get/proc/interrupts", "path.sensitive_file");
        assert_detects("/wp-content/debug.log", "path.sensitive_file");
        crate::tests::assert_detects_in(
            "backup.sql.zip",
            crate::ValueKind::PathSegment,
            "path.restricted_extension",
        );
        for benign in [
            "analysis/kernel notes",
            "photos.zip",
            "v1.2.zip",
            "debug.log",
        ] {
            crate::tests::assert_clean_in(benign, crate::ValueKind::PathSegment);
        }
        assert_clean("the sys/admin team");
    }

    #[test]
    fn files_in_the_windows_directory() {
        for attack in [
            "C:/windows/iis7.log",
            "c:\\windows\\notepad.exe",
            "C:/windows/csc/v2.0.6/sm",
            "D:\\Windows\\WindowsUpdate.log",
        ] {
            assert_detects(attack, "path.sensitive_file");
        }
        for benign in [
            "C:\\Windows\\System32\\ls",
            "C:\\Users\\me\\Documents\\report.pdf",
            "c:/windows/",
            "my notes on C:/windows/setup for class",
        ] {
            assert_clean(benign);
        }
    }

    /// `squeeze_may_make_entry` relies on it.
    #[test]
    fn no_sensitive_entry_starts_with_a_slash_or_holds_a_colon() {
        for e in super::SENSITIVE {
            assert!(!e.starts_with('/') && !e.contains(':'), "{e}");
        }
    }

    /// A `//` after a name squeezes into an entry; a URL's does not need to.
    #[test]
    fn squeezed_slashes_make_entries() {
        assert_detects("x/etc//passwd", "path.sensitive_file");
        assert_detects("foo/boot//grub", "path.sensitive_file");
        assert_detects("http://example.com/../x", "path.traversal");
        assert_detects("https://example.com/config.php.bak", "path.sensitive_file");
        assert!(!super::squeeze_may_make_entry("https://example.com/a"));
        assert!(super::squeeze_may_make_entry("https://example.com//a"));
        assert!(!super::squeeze_may_make_entry("//x:///y"));
        assert!(super::squeeze_may_make_entry("a//b"));
    }

    /// Values with few of the dispatcher's path literals (`DOT_LITERALS`).
    #[test]
    fn values_with_one_path_literal_reach_the_engine() {
        for (v, rule) in [
            ("db.sql", "path.sensitive_file"),
            ("credentials.json", "path.sensitive_file"),
            ("backup/global.asa", "path.sensitive_file"),
            ("etc%c0%afpasswd", "path.sensitive_file"),
            ("c:boot.ini", "path.sensitive_file"),
            ("http://192.0.2.10/x.txt", "rfi.url"),
            ("ftp://example.com/x", "rfi.url"),
        ] {
            assert_detects(v, rule);
        }
    }

    /// Separators spelled in encodings that decode to letters or
    /// non-ASCII, or that repeated decoding garbles (the name after the
    /// junk loses its first letter): read in the value as sent.
    #[test]
    fn system_files_behind_junk_separators_as_sent() {
        for attack in [
            "0x2e0x2e%uEFC8etc%uEFC8passwd",
            "0x2e0x2e%uF025windows%uF025system32%uF025drivers%uF025etc%uF025hosts",
            "%c0%fe%c0%fe%c1%afetc%c1%afpasswd",
            "0x2e0x2e0x2fetc0x2fpasswd",
            "etc0x2fpasswd",
            ".?%%32%%66.?%%32%%66etc%%32%%66passwd",
            "??%%35%%63etc%%35%%63issue",
            "?.%%35%%63boot.ini",
            "%%32%%65%%32%%65%%32%%66etc%%32%%66shadow",
            "%c0%5e%c0%5e%%35%%63windows%%35%%63system32%%35%%63drivers%%35%%63etc%%35%%63hosts",
            "%c0%fe%c0%fe%c1%afboot.ini",
            "%c0%fe%c0%fe%uF025boot.ini",
        ] {
            assert_detects(attack, "path.sensitive_file");
        }
        for benign in [
            "etcdhosts",
            "etcetcgroup",
            "fetchgroup",
            "sketchpad",
            "ketchupgroup",
            "100%25 etc passwd reset",
            "caf%C3%A9 et cetera",
            "etc%20passwd%20reset",
            "secretcode2hosts",
            "caf%C3%A9%2Fhosts",
            "R%C3%A9boot.ini",
        ] {
            assert_clean(benign);
        }
    }

    /// `..` and an IIS `%u` escape of a non-ASCII separator, as sent.
    #[test]
    fn dot_dot_before_an_iis_escape() {
        for attack in [
            "/..%uEFC8",
            "/..%uF025..%uF025..%uF025",
            "..%uEFC8..%uEFC8etc",
            "file=..%uF025..%uF025",
        ] {
            assert_detects(attack, "path.traversal");
        }
        for benign in ["wait..%u00e9 what", "1..%u00e9", "caf%u00e9", "..."] {
            assert_clean(benign);
        }
    }

    #[test]
    fn ordinary_paths_pass() {
        for benign in [
            "report (final).pdf",
            "docs/guide/intro.md",
            "wait... what?",
            "c/o John Smith",
            "system design interview",
            "the shadow of the wind",
            "notes; meeting 3.txt",
            "https://www.example.com/products?id=5",
            "Home / Garden / Tools",
            "v1.2.3",
        ] {
            assert_clean(benign);
        }
    }
}
