//! The Portcullis gateway runtime: listeners, TLS, upstream pools, the request
//! phase driver (`phases.rs` — read it first), the admin API, metrics, logs,
//! reload and graceful shutdown. The security logic itself lives in the pure
//! `portcullis-policy` crate; this crate moves bytes and calls it.

pub mod abuse;
pub mod access_lists;
pub mod admin;
pub mod admin_access_lists;
pub mod admin_bans;
pub mod audit;
pub mod body;
pub mod bots;
pub mod demo;
pub mod failure_ratio;
pub mod forwarding;
pub mod http1;
pub mod identity;
pub mod introspection;
pub mod listener;
pub mod metrics;
pub mod outbound;
pub mod phases;
pub mod problem;
pub mod rate_limits;
pub mod splice;
pub mod state;
pub mod tls;
pub mod upstream;
pub mod upstream_connection;
pub mod wire;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};

pub use state::{Gateway, Generation, validate};

/// Runs the gateway until SIGTERM or SIGINT, then drains.
pub async fn serve(config_path: &Path) -> anyhow::Result<()> {
    tls::install_crypto_provider();
    let policy = validate(config_path)?;
    let metrics = metrics::Metrics::new();
    let drain_timeout = policy.config.runtime.drain_timeout.0;
    let watch_config = policy.config.runtime.watch_config;
    let addresses = policy.config.listeners.iter().map(|l| l.address).collect();
    let admin_address = policy.config.admin.as_ref().map(|a| a.address);
    let generation = Generation::build(policy, &metrics)?;
    let gateway = Arc::new(Gateway::new(
        generation,
        metrics,
        config_path.to_owned(),
        addresses,
    ));

    // Signal handlers and the config watcher are in place before any socket
    // listens (a connect succeeds as soon as a socket listens, even before
    // the first accept), so no signal or edit made once the port is open can
    // fall into a gap.
    let termination = TerminationSignals::install()?;
    spawn_reload_triggers(gateway.clone(), config_path.to_owned(), watch_config)?;
    // The shared access lists are read once before any socket listens, so
    // a new instance never serves a client the other instances refuse.
    if let Some(settings) = &gateway.generation.load().access_lists {
        gateway.access_lists.refresh(settings).await;
    }
    access_lists::spawn_refresh(Arc::downgrade(&gateway));
    let mut listeners = Vec::new();
    for (i, address) in gateway.listener_addresses.iter().enumerate() {
        let bound = listener::bind(*address).with_context(|| {
            format!(
                "{}: listeners[{i}].address: cannot listen on {address}",
                config_path.display()
            )
        })?;
        listeners.push(bound);
    }
    let admin_listener = match admin_address {
        Some(address) => Some(listener::bind(address).with_context(|| {
            format!(
                "{}: admin.address: cannot listen on {address}",
                config_path.display()
            )
        })?),
        None => None,
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    for (i, l) in listeners.into_iter().enumerate() {
        let address = l.local_addr().ok();
        let tls = gateway.generation.load().listener_tls[i].is_some();
        tracing::info!(address = ?address, tls, "listening");
        tokio::spawn(listener::accept_loop(
            gateway.clone(),
            i,
            l,
            shutdown_rx.clone(),
        ));
    }
    if let Some(admin_listener) = admin_listener {
        tracing::info!(address = ?admin_listener.local_addr().ok(), "admin API listening");
        tokio::spawn(admin::serve(
            gateway.clone(),
            admin_listener,
            shutdown_rx.clone(),
        ));
    }
    termination.wait().await;
    tracing::info!(drain_timeout = ?drain_timeout, "shutting down: no new connections, draining in-flight requests");
    gateway.draining.store(true, Ordering::Relaxed);
    let _ = shutdown_tx.send(true);
    let deadline = tokio::time::Instant::now() + drain_timeout;
    while gateway.connections.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let left = gateway.connections.load(Ordering::Acquire);
    if left > 0 {
        tracing::warn!(
            connections = left,
            "drain timeout reached; closing remaining connections"
        );
    } else {
        tracing::info!("drained");
    }
    Ok(())
}

/// SIGTERM and SIGINT, installed once.
struct TerminationSignals {
    term: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl TerminationSignals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?,
            interrupt: signal(SignalKind::interrupt())
                .context("cannot install the SIGINT handler")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

/// SIGHUP and (optionally) changes to the config file trigger a reload.
fn spawn_reload_triggers(
    gateway: Arc<Gateway>,
    config_path: PathBuf,
    watch_config: bool,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, mut rx) = mpsc::channel::<&'static str>(8);
    let mut hup = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
    let hup_tx = tx.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let _ = hup_tx.send("SIGHUP").await;
        }
    });
    if watch_config {
        let watcher = watch_file(&config_path, tx.clone())?;
        // The watcher lives as long as the reload task.
        tokio::spawn(async move {
            let _watcher = watcher;
            std::future::pending::<()>().await;
        });
    }
    tokio::spawn(async move {
        while let Some(trigger) = rx.recv().await {
            // Editors write files in several steps: let them settle, and fold bursts into one reload.
            tokio::time::sleep(Duration::from_millis(150)).await;
            while rx.try_recv().is_ok() {}
            let _ = gateway.reload(trigger).await;
        }
    });
    Ok(())
}

fn watch_file(
    path: &Path,
    tx: mpsc::Sender<&'static str>,
) -> anyhow::Result<notify::RecommendedWatcher> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let absolute = std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    let directory = absolute
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("/"));
    let file_name = absolute.file_name().map(|n| n.to_owned());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if !matches!(event.kind, EventKind::Create(_) | EventKind::Modify(_)) {
            return;
        }
        if event
            .paths
            .iter()
            .any(|p| p.file_name() == file_name.as_deref())
        {
            let _ = tx.try_send("file change");
        }
    })
    .context("cannot start the config file watcher")?;
    // Watch the directory: editors and config managers often replace the file.
    watcher
        .watch(&directory, RecursiveMode::NonRecursive)
        .with_context(|| format!("cannot watch {}", directory.display()))?;
    Ok(watcher)
}
