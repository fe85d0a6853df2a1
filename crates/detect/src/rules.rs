//! The catalogue of detection rules: every rule id an engine can report, with
//! its category, paranoia level, severity (which sets its anomaly score) and
//! confidence. Engines refer to these statics; nothing else creates a rule,
//! so [`ALL`] is the complete list (`docs/rules.md` documents each entry).

/// Attack family of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Sqli,
    Xss,
    Rce,
    PathTraversal,
    Rfi,
    Ssrf,
    Nosql,
    Ldap,
    Ssti,
    Ssi,
    Xxe,
    Crlf,
    PrototypePollution,
    Jndi,
    Deserialization,
    Shellshock,
    Php,
    Java,
    Scanner,
    SessionFixation,
    Protocol,
    Anomaly,
}

impl Category {
    pub const ALL: [Category; 22] = [
        Category::Sqli,
        Category::Xss,
        Category::Rce,
        Category::PathTraversal,
        Category::Rfi,
        Category::Ssrf,
        Category::Nosql,
        Category::Ldap,
        Category::Ssti,
        Category::Ssi,
        Category::Xxe,
        Category::Crlf,
        Category::PrototypePollution,
        Category::Jndi,
        Category::Deserialization,
        Category::Shellshock,
        Category::Php,
        Category::Java,
        Category::Scanner,
        Category::SessionFixation,
        Category::Protocol,
        Category::Anomaly,
    ];

    /// The name used in config (`sqli`, `path_traversal`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Category::Sqli => "sqli",
            Category::Xss => "xss",
            Category::Rce => "rce",
            Category::PathTraversal => "path_traversal",
            Category::Rfi => "rfi",
            Category::Ssrf => "ssrf",
            Category::Nosql => "nosql",
            Category::Ldap => "ldap",
            Category::Ssti => "ssti",
            Category::Ssi => "ssi",
            Category::Xxe => "xxe",
            Category::Crlf => "crlf",
            Category::PrototypePollution => "prototype_pollution",
            Category::Jndi => "jndi",
            Category::Deserialization => "deserialization",
            Category::Shellshock => "shellshock",
            Category::Php => "php",
            Category::Java => "java",
            Category::Scanner => "scanner",
            Category::SessionFixation => "session_fixation",
            Category::Protocol => "protocol",
            Category::Anomaly => "anomaly",
        }
    }

    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// How bad a match is; sets the anomaly score (CRS values: 5, 4, 3, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Notice,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn anomaly_score(self) -> u32 {
        match self {
            Severity::Critical => 5,
            Severity::Error => 4,
            Severity::Warning => 3,
            Severity::Notice => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        }
    }
}

/// How sure the engine is that a match is an attack and not a look-alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn name(self) -> &'static str {
        match self {
            Confidence::High => "high",
            Confidence::Medium => "medium",
            Confidence::Low => "low",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub category: Category,
    /// 1–4: the rule reports only when the policy's paranoia level is at least this.
    pub paranoia: u8,
    pub severity: Severity,
    pub confidence: Confidence,
    /// Client-safe, fixed description.
    pub summary: &'static str,
}

macro_rules! rules {
    ($( $name:ident = $id:literal, $cat:ident, $pl:literal, $sev:ident, $conf:ident, $summary:literal; )*) => {
        $(
            pub static $name: Rule = Rule {
                id: $id,
                category: Category::$cat,
                paranoia: $pl,
                severity: Severity::$sev,
                confidence: Confidence::$conf,
                summary: $summary,
            };
        )*
        /// Every rule, in catalogue order.
        pub static ALL: &[&Rule] = &[$(&$name),*];
    };
}

rules! {
    SQLI_UNION = "sqli.union", Sqli, 1, Critical, High, "SQL injection: UNION SELECT";
    SQLI_TAUTOLOGY = "sqli.tautology", Sqli, 1, Critical, High, "SQL injection: always-true condition";
    SQLI_BOOLEAN = "sqli.boolean", Sqli, 1, Critical, Medium, "SQL injection: boolean condition after a literal";
    SQLI_COMMENT = "sqli.comment_breakout", Sqli, 1, Critical, Medium, "SQL injection: quote closed then comment";
    SQLI_STACKED = "sqli.stacked_query", Sqli, 1, Critical, High, "SQL injection: stacked statement";
    SQLI_TIME = "sqli.time_based", Sqli, 1, Critical, High, "SQL injection: time delay";
    SQLI_ERROR = "sqli.error_based", Sqli, 1, Critical, High, "SQL injection: error-based extraction";
    SQLI_FUNCTION = "sqli.function", Sqli, 1, Critical, Medium, "SQL injection: database function or variable";
    SQLI_SCHEMA = "sqli.schema_probe", Sqli, 1, Critical, High, "SQL injection: system catalogue access";
    SQLI_OBFUSCATED = "sqli.obfuscated", Sqli, 1, Critical, High, "SQL injection: comment-obfuscated keywords";
    SQLI_ORDER_BY = "sqli.order_by", Sqli, 1, Critical, Medium, "SQL injection: column count probe";
    SQLI_STATEMENT = "sqli.statement", Sqli, 2, Critical, Medium, "SQL statement in a value";
    SQLI_FUNCTION_FRAGMENT = "sqli.function_fragment", Sqli, 2, Critical, Low, "SQL injection probe: SQL function call";
    SQLI_CONDITION_FRAGMENT = "sqli.condition_fragment", Sqli, 2, Critical, Low, "SQL injection probe: SQL condition or predicate";
    SQLI_OPERATOR_CHAIN = "sqli.operator_chain", Sqli, 3, Warning, Low, "SQL-like operator sequence";
    XSS_SCRIPT_TAG = "xss.script_tag", Xss, 1, Critical, High, "cross-site scripting: script element";
    XSS_EVENT_HANDLER = "xss.event_handler", Xss, 1, Critical, High, "cross-site scripting: event handler attribute";
    XSS_JS_URL = "xss.js_url", Xss, 1, Critical, High, "cross-site scripting: script URL";
    XSS_DANGEROUS_TAG = "xss.dangerous_tag", Xss, 1, Critical, Medium, "cross-site scripting: active HTML element";
    XSS_CSS_EXPRESSION = "xss.css_expression", Xss, 1, Critical, High, "cross-site scripting: script in CSS";
    XSS_JS_INJECTION = "xss.js_injection", Xss, 1, Critical, Medium, "cross-site scripting: script context breakout";
    XSS_TEMPLATE_GADGET = "xss.template_gadget", Xss, 1, Critical, High, "cross-site scripting: client-side template gadget";
    XSS_SPACED_TAG = "xss.spaced_tag", Xss, 2, Critical, Medium, "cross-site scripting: tag name spelled out with blanks (filter evasion)";
    XSS_HTML_TAG = "xss.html_tag", Xss, 3, Warning, Low, "HTML markup in a value";
    RCE_COMMAND_CHAIN = "rce.command_chain", Rce, 1, Critical, High, "command injection: command after a shell separator";
    RCE_SUBSTITUTION = "rce.substitution", Rce, 1, Critical, High, "command injection: command substitution";
    RCE_EVASION = "rce.evasion", Rce, 1, Critical, High, "command injection: shell evasion (IFS, quote splitting, globbing)";
    RCE_UNIX_COMMAND = "rce.unix_command", Rce, 2, Critical, Medium, "command injection: shell command with arguments";
    RCE_WINDOWS_COMMAND = "rce.windows_command", Rce, 1, Critical, Medium, "command injection: Windows command";
    RCE_POWERSHELL = "rce.powershell", Rce, 1, Critical, High, "command injection: PowerShell";
    RCE_REVERSE_SHELL = "rce.reverse_shell", Rce, 1, Critical, High, "command injection: reverse shell";
    RCE_SHELL_PATH = "rce.shell_path", Rce, 1, Critical, High, "command injection: path to a shell or system binary";
    RCE_NODEJS = "rce.nodejs", Rce, 1, Critical, Medium, "code injection: server-side JavaScript (Node.js)";
    RCE_FORK_BOMB = "rce.fork_bomb", Rce, 1, Critical, High, "command injection: shell fork bomb";
    RCE_BARE_COMMAND = "rce.bare_command", Rce, 3, Warning, Low, "a shell command name alone in a value";
    PATH_TRAVERSAL = "path.traversal", PathTraversal, 1, Critical, High, "path traversal";
    PATH_SENSITIVE_FILE = "path.sensitive_file", PathTraversal, 1, Critical, High, "access to a sensitive system file";
    PATH_WRAPPER = "path.wrapper", PathTraversal, 1, Critical, High, "file inclusion through a stream wrapper";
    PATH_RESTRICTED_EXTENSION = "path.restricted_extension", PathTraversal, 1, Critical, Medium, "request for a backup, database, key or server-side file";
    PATH_HIDDEN_FILE = "path.hidden_file", PathTraversal, 2, Critical, Medium, "request for a hidden or configuration file";
    RFI_URL = "rfi.url", Rfi, 1, Critical, Medium, "remote file inclusion";
    RFI_OFF_SITE = "rfi.off_site_url", Rfi, 3, Warning, Low, "URL pointing off site in a value";
    SSRF_METADATA = "ssrf.metadata", Ssrf, 1, Critical, High, "server-side request forgery: cloud metadata address";
    SSRF_LOOPBACK = "ssrf.loopback", Ssrf, 1, Critical, High, "server-side request forgery: loopback address";
    SSRF_PRIVATE = "ssrf.private_address", Ssrf, 2, Critical, Medium, "server-side request forgery: private or link-local address";
    SSRF_OBFUSCATED = "ssrf.obfuscated_ip", Ssrf, 1, Critical, High, "server-side request forgery: obfuscated IP address";
    SSRF_SCHEME = "ssrf.scheme", Ssrf, 1, Critical, High, "server-side request forgery: dangerous URL scheme";
    SSRF_PINGBACK = "ssrf.pingback", Ssrf, 2, Critical, Medium, "server-side request forgery: XML-RPC pingback call";
    NOSQL_OPERATOR = "nosql.operator", Nosql, 1, Critical, High, "NoSQL injection: query operator";
    NOSQL_ORM_RELATION = "nosql.orm_relation_lookup", Nosql, 2, Critical, Medium, "ORM filter across relations: it can read other models' fields";
    NOSQL_JS = "nosql.js_injection", Nosql, 1, Critical, Medium, "NoSQL injection: server-side JavaScript";
    LDAP_FILTER = "ldap.filter_injection", Ldap, 1, Critical, Medium, "LDAP filter injection";
    SSTI_EXPRESSION = "ssti.expression", Ssti, 1, Critical, High, "server-side template injection";
    SSTI_PROBE = "ssti.probe", Ssti, 2, Critical, Medium, "server-side template injection probe";
    SSI_DIRECTIVE = "ssi.directive", Ssi, 1, Critical, High, "server-side include directive";
    XXE_EXTERNAL_ENTITY = "xxe.external_entity", Xxe, 1, Critical, High, "XML external entity";
    XXE_ENTITY = "xxe.entity_declaration", Xxe, 1, Critical, Medium, "XML entity declaration";
    XXE_XINCLUDE = "xxe.xinclude", Xxe, 1, Critical, High, "XML inclusion or transformation";
    CRLF_HEADER = "crlf.header_injection", Crlf, 1, Critical, High, "CRLF injection: header after a line break";
    CRLF_MAIL = "crlf.mail_header", Crlf, 2, Critical, Medium, "mail header injection";
    CRLF_MAIL_COMMAND = "crlf.mail_command", Crlf, 2, Critical, Medium, "mail protocol command after a line break";
    CRLF_LINE_BREAK = "crlf.line_break", Crlf, 2, Critical, Medium, "line break in a header or cookie value";
    CRLF_SPLITTING = "crlf.http_splitting", Crlf, 1, Critical, High, "HTTP request or response splitting";
    PROTO_POLLUTION = "proto.pollution", PrototypePollution, 1, Critical, High, "prototype pollution";
    JNDI_LOOKUP = "jndi.lookup", Jndi, 1, Critical, High, "JNDI lookup (Log4Shell)";
    DESER_JAVA = "deser.java", Deserialization, 1, Critical, High, "serialized Java object";
    DESER_PHP = "deser.php", Deserialization, 1, Critical, High, "serialized PHP object";
    DESER_DOTNET = "deser.dotnet", Deserialization, 1, Critical, High, "serialized .NET object";
    DESER_PYTHON = "deser.python", Deserialization, 2, Critical, Medium, "serialized Python object";
    SHELLSHOCK = "shellshock.function_definition", Shellshock, 1, Critical, High, "Shellshock function definition";
    PHP_OPEN_TAG = "php.open_tag", Php, 1, Critical, High, "PHP code: opening tag";
    PHP_FUNCTION = "php.function_call", Php, 1, Critical, Medium, "PHP code: dangerous function call";
    PHP_VARIABLE_CALL = "php.variable_call", Php, 1, Critical, High, "PHP code: function called through a variable or string";
    PHP_VARIABLE = "php.variable", Php, 1, Critical, High, "PHP code: superglobal variable";
    PHP_INI_DIRECTIVE = "php.ini_directive", Php, 2, Critical, Medium, "PHP configuration directive in a value";
    PHP_VARIABLE_VARIABLE = "php.variable_variable", Php, 2, Critical, Medium, "PHP code: variable named by an expression";
    PHP_UPLOAD = "php.script_upload", Php, 1, Critical, High, "upload of a server-side script";
    JAVA_GADGET = "java.gadget_class", Java, 1, Critical, High, "Java gadget or runtime class";
    JAVA_OGNL = "java.ognl", Java, 1, Critical, High, "OGNL / Struts expression";
    JAVA_CLASS_LOADER = "java.class_loader", Java, 1, Critical, High, "Java class loader manipulation";
    JAVA_BASE64_RUNTIME = "java.base64_runtime", Java, 3, Critical, Low, "base64 text naming the Java runtime";
    JAVA_EL = "java.el_expression", Java, 2, Critical, Medium, "Java expression language";
    SCANNER_USER_AGENT = "scanner.user_agent", Scanner, 1, Critical, High, "security scanner";
    SESSION_COOKIE_SET = "session.fixation", SessionFixation, 1, Critical, Medium, "session fixation: cookie set from a value";
    SESSION_ID_PARAMETER = "session.id_in_parameter", SessionFixation, 2, Critical, Medium, "session identifier in a parameter";
    HTTP_CONTENT_TYPE = "http.content_type", Protocol, 1, Critical, High, "malformed or ambiguous Content-Type";
    HTTP_CHARSET = "http.charset", Protocol, 1, Critical, High, "character set the inspection cannot read the same way";
    HTTP_RANGE = "http.range", Protocol, 1, Critical, Medium, "abusive byte range request";
    HTTP_METHOD_OVERRIDE = "http.method_override", Protocol, 2, Critical, Medium, "HTTP method override";
    HTTP_RESTRICTED_HEADER = "http.restricted_header", Protocol, 1, Critical, High, "header a client never sends";
    HTTP_BODY_ON_GET = "http.body_on_get", Protocol, 2, Critical, Medium, "HEAD request with a body, or GET with a body that is not JSON";
    HTTP_JSON_BODY_ON_GET = "http.json_body_on_get", Protocol, 3, Critical, Medium, "GET request with a JSON body";
    HTTP_ENCODED_BODY = "http.encoded_body", Protocol, 2, Critical, Medium, "request body in a content coding the inspection cannot read";
    HTTP_BODY_WITHOUT_TYPE = "http.body_without_type", Protocol, 2, Critical, Medium, "request body without a Content-Type";
    HTTP_METHOD_SYNTAX = "http.method_syntax", Protocol, 2, Critical, Medium, "request method that is not a plain method name";
    HTTP_CONNECTION_CONFLICT = "http.connection_conflict", Protocol, 2, Critical, Medium, "repeated or contradictory Connection options";
    HTTP_LEGACY_COOKIE = "http.legacy_cookie", Protocol, 2, Critical, Medium, "RFC 2109 cookie attribute in a request";
    HTTP_ACCEPT_ENCODING = "http.accept_encoding", Protocol, 2, Critical, Medium, "Accept-Encoding outside the header's syntax or naming no real coding";
    HTTP_INVALID_ENCODING = "http.invalid_encoding", Protocol, 2, Critical, Medium, "malformed percent-encoding, or an overlong or surrogate UTF-8 form";
    HTTP_NON_UTF8 = "http.non_utf8", Protocol, 3, Critical, Low, "percent-escapes of a charset other than UTF-8";
    HTTP_EVASIVE_ENCODING = "http.evasive_encoding", Protocol, 2, Critical, Medium, "escape of a letter or digit, or a %u escape: no client needs one";
    HTTP_PROXY_SOCKET = "http.proxy_socket_target", Protocol, 1, Critical, High, "proxy target naming a Unix socket";
    HTTP_MULTIPART_NAME = "http.multipart_name", Protocol, 1, Critical, High, "multipart field or file name with separator characters";
    ANOMALY_CONTROL = "anomaly.control_character", Anomaly, 1, Critical, Medium, "control character in a value";
    ANOMALY_FLOAT_PARSE = "anomaly.float_parse_hang", Anomaly, 1, Critical, High, "number that sends old floating-point parsers into an endless loop";
    ANOMALY_VALUE_TRUNCATED = "anomaly.value_truncated", Anomaly, 3, Notice, Low, "value longer than the inspection limit";
}

/// The rule with this id, if any.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.id == id)
}
