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

/// An IMF-fixdate (RFC 9110 §5.6.7) for the `Date` field, e.g.
/// `Tue, 01 Dec 2026 21:05:58 GMT`.
pub fn http_date(unix_secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    let two = |out: &mut [u8; 29], at: usize, v: u64| {
        out[at] = b'0' + (v / 10 % 10) as u8;
        out[at + 1] = b'0' + (v % 10) as u8;
    };
    two(&mut out, 5, u64::from(d));
    out[8..11].copy_from_slice(MONTHS[(m - 1) as usize]);
    let y = y.clamp(0, 9999) as u64;
    two(&mut out, 12, y / 100);
    two(&mut out, 14, y % 100);
    two(&mut out, 17, rem / 3600);
    two(&mut out, 20, rem % 3600 / 60);
    two(&mut out, 23, rem % 60);
    out
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

    #[test]
    fn http_dates_are_imf_fixdates() {
        assert_eq!(&http_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&http_date(1_796_159_158), b"Tue, 01 Dec 2026 21:05:58 GMT");
        assert_eq!(&http_date(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
