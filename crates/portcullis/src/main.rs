//! `portcullis`: the command line. Thin wiring only — every command calls into
//! the policy or gateway crates and reports their errors with context.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

// mimalloc: per-thread free lists suit a proxy's many short-lived buffers;
// it measurably lowers CPU per request against glibc malloc (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "portcullis", version, about = "API security gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
        /// Worker threads (overrides runtime.worker_threads); 1 runs a single-threaded runtime.
        #[arg(long)]
        threads: Option<usize>,
        /// Log format on stderr.
        #[arg(long, value_parser = ["text", "json"], default_value = "text")]
        log_format: String,
    },
    /// Check a config file (and every file it names) without starting anything.
    Validate {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Evaluate a raw HTTP/1.1 request file against the policy; prints the
    /// verdict as JSON and exits 0 when allowed, 1 when blocked.
    Check {
        #[arg(long, short)]
        config: PathBuf,
        /// File holding the request (request line, headers, blank line, body); `-` for stdin.
        #[arg(long, short)]
        request: PathBuf,
        /// The address the request is taken to come from.
        #[arg(long, default_value = "127.0.0.1")]
        client_ip: IpAddr,
        /// A raw HTTP/1.1 response file: also run it through the response
        /// checks, as the upstream's answer (exit 1 when it would be refused).
        #[arg(long)]
        response: Option<PathBuf>,
    },
    /// Audit an OpenAPI spec for weaknesses that make enforcement weak;
    /// exits 1 when a finding is at or above --fail-on.
    AuditSpec {
        /// The OpenAPI 3.0 / 3.1 document (YAML or JSON).
        file: PathBuf,
        #[arg(long, value_parser = ["text", "json"], default_value = "text")]
        format: String,
        /// Lowest severity that fails the run: info, low, medium, high, critical.
        #[arg(long, default_value = "high")]
        fail_on: String,
    },
    /// Serve the built-in demo API on its own.
    DemoUpstream {
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
    },
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.compact().init();
    }
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    runtime.context("cannot start the async runtime")
}

/// `println!` for the CLI's reports: a closed stdout (`portcullis check … |
/// head`) ends the output quietly instead of panicking; any other write
/// error is reported on stderr. The exit code stays the verdict's.
macro_rules! out {
    ($($arg:tt)*) => {
        write_out(format_args!($($arg)*))
    };
}

fn write_out(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_fmt(text)
        .and_then(|()| stdout.write_all(b"\n"))
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write to stdout: {e}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            config,
            threads,
            log_format,
        } => {
            init_logging(log_format == "json");
            let policy = portcullis_gateway::validate(&config)?;
            let threads = threads
                .or(policy.config.runtime.worker_threads)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            drop(policy);
            runtime(threads)?.block_on(portcullis_gateway::serve(&config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { config } => {
            let policy = portcullis_gateway::validate(&config)?;
            out!(
                "{}: ok ({} listener(s), {} route(s), {} upstream(s), {} polic(ies))",
                config.display(),
                policy.config.listeners.len(),
                policy.routes.len(),
                policy.config.upstreams.len(),
                policy.config.policies.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::AuditSpec {
            file,
            format,
            fail_on,
        } => audit_spec(&file, &format, &fail_on),
        Command::Check {
            config,
            request,
            client_ip,
            response,
        } => {
            let policy = portcullis_policy::Policy::load(&config)?;
            let bytes = if request.as_os_str() == "-" {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                    .context("cannot read the request from stdin")?;
                buf
            } else {
                std::fs::read(&request)
                    .with_context(|| format!("cannot read {}", request.display()))?
            };
            let raw = portcullis_policy::offline::parse_raw_request(&bytes)
                .with_context(|| format!("{}: not a valid HTTP/1.1 request", request.display()))?;
            let Some(response) = response else {
                let report = portcullis_policy::offline::evaluate(&policy, &raw, client_ip);
                out!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(if report.is_block() {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                });
            };
            let bytes = std::fs::read(&response)
                .with_context(|| format!("cannot read {}", response.display()))?;
            let answer =
                portcullis_policy::offline::parse_raw_response(&bytes).with_context(|| {
                    format!("{}: not a valid HTTP/1.1 response", response.display())
                })?;
            let (report, response_report) = portcullis_policy::offline::evaluate_exchange(
                &policy,
                &raw,
                Some(&answer),
                client_ip,
            );
            let blocked =
                report.is_block() || response_report.as_ref().is_some_and(|r| r.is_block());
            out!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "request": report,
                    "response": response_report,
                }))?
            );
            Ok(if blocked {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::DemoUpstream { listen } => {
            init_logging(false);
            runtime(1)?.block_on(async move {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                tracing::info!(address = %listen, "demo API listening");
                portcullis_gateway::demo::serve(listener).await;
                Ok::<_, anyhow::Error>(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `audit-spec`: load, compile and audit one spec; print the findings.
fn audit_spec(file: &std::path::Path, format: &str, fail_on: &str) -> anyhow::Result<ExitCode> {
    use portcullis_openapi::{AuditSeverity, CompileOptions, Spec, audit_spec};
    let threshold: AuditSeverity = fail_on.parse().map_err(anyhow::Error::msg)?;
    let spec = Spec::load(file, &CompileOptions::default())?;
    let findings = audit_spec(&spec);
    if format == "json" {
        let list: Vec<serde_json::Value> = findings
            .iter()
            .map(|f| {
                serde_json::json!({
                    "id": f.id,
                    "severity": f.severity.as_str(),
                    "file": f.file.display().to_string(),
                    "pointer": f.pointer,
                    "message": f.message,
                })
            })
            .collect();
        let report = serde_json::json!({
            "spec": file.display().to_string(),
            "operations": spec.operations.len(),
            "findings": list,
        });
        out!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for f in &findings {
            out!(
                "{:<8} {:<28} {}#{}: {}",
                f.severity.as_str(),
                f.id,
                f.file.display(),
                f.pointer,
                f.message
            );
        }
        let count = |s: AuditSeverity| findings.iter().filter(|f| f.severity == s).count();
        out!(
            "{}: {} operation(s), {} finding(s): {} critical, {} high, {} medium, {} low, {} info",
            file.display(),
            spec.operations.len(),
            findings.len(),
            count(AuditSeverity::Critical),
            count(AuditSeverity::High),
            count(AuditSeverity::Medium),
            count(AuditSeverity::Low),
            count(AuditSeverity::Info)
        );
    }
    Ok(if findings.iter().any(|f| f.severity >= threshold) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
