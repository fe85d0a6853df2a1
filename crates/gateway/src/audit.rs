//! The audit log (one JSON line per blocked or monitored request) and the
//! optional access log. Lines are serialized on the request path and handed
//! to a dedicated writer thread through a bounded channel: the proxy never
//! blocks on disk, and if the writer falls behind, lines are dropped and
//! counted (`portcullis_log_lines_dropped_total`) rather than buffered without bound.

use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use portcullis_policy::Finding;
use serde::Serialize;

use crate::metrics::Metrics;

const QUEUE_LINES: usize = 16_384;

/// Where log lines go.
#[derive(Clone)]
pub struct LogSink {
    sender: SyncSender<String>,
    metrics: Arc<Metrics>,
}

impl LogSink {
    /// Opens `output` (`stdout`, `stderr` or a file path, appended to) and
    /// starts its writer thread.
    pub fn open(output: &str, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let mut writer: Box<dyn Write + Send> = match output {
            "stdout" => Box::new(std::io::stdout()),
            "stderr" => Box::new(std::io::stderr()),
            path => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        let (sender, receiver) = sync_channel::<String>(QUEUE_LINES);
        std::thread::Builder::new()
            .name("portcullis-log".into())
            .spawn(move || {
                let mut buffered = std::io::BufWriter::new(&mut writer);
                while let Ok(line) = receiver.recv() {
                    let _ = buffered.write_all(line.as_bytes());
                    // Drain what is queued before flushing: one write per burst.
                    while let Ok(more) = receiver.try_recv() {
                        let _ = buffered.write_all(more.as_bytes());
                    }
                    let _ = buffered.flush();
                }
            })?;
        Ok(Self { sender, metrics })
    }

    pub fn write<T: Serialize>(&self, record: &T) {
        let Ok(mut line) = serde_json::to_string(record) else {
            return;
        };
        line.push('\n');
        match self.sender.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.metrics.log_lines_dropped.inc();
            }
        }
    }
}

/// One audit record: why a request was blocked or flagged.
#[derive(Serialize)]
pub struct AuditRecord<'a> {
    pub time: String,
    pub kind: &'static str,
    pub request_id: &'a str,
    pub client_ip: String,
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub route: Option<&'a str>,
    pub operation: Option<&'a str>,
    pub action: &'static str,
    pub status: u16,
    pub findings: &'a [Finding],
}

/// One access-log record.
#[derive(Serialize)]
pub struct AccessRecord<'a> {
    pub time: String,
    pub kind: &'static str,
    pub request_id: &'a str,
    pub client_ip: String,
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub route: Option<&'a str>,
    pub status: u16,
    pub verdict: &'static str,
    pub duration_ms: f64,
    pub upstream: Option<&'a str>,
}

/// RFC 3339 UTC timestamp with milliseconds, without a date-time dependency.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let millis = now.subsec_millis();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_are_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_785), (2026, 11, 28));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
