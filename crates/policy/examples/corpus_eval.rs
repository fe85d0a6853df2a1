//! Offline replay of the shared corpus through the real policy (admission,
//! checks, decision) with `offline::evaluate`, the same code path as the
//! gateway and `portcullis check`. Requests are built the way
//! `corpus/run.py` builds them (query, JSON and header locations; benign
//! items at their own location; CRS requests as recorded, rebased under the
//! path as `run.py --crs-rebase` does), so the figures
//! predict a live run in seconds.
//!
//! ```sh
//! cargo run --release -p portcullis-policy --example corpus_eval -- \
//!     /work/shared/corpus examples/quickstart/gateway.yaml [misses-per-category] [max-pl]
//! ```
//! A request counts as blocked when the verdict is a block with status 403
//! (detection) or 400 / 411 / 413 / 414 / 431 (admission refusals).

use std::collections::BTreeMap;
use std::path::Path;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use portcullis_policy::Policy;
use portcullis_policy::offline::{evaluate, parse_raw_request};

/// `urllib.parse.quote(value, safe="")`: everything but `A-Za-z0-9_.-~`.
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');
const BLOCK_STATUSES: &[u16] = &[403, 400, 411, 413, 414, 431];

struct Tally {
    n: usize,
    ok: usize,
    misses: Vec<String>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| "/work/shared/corpus".to_owned());
    let config = args
        .next()
        .unwrap_or_else(|| "examples/quickstart/gateway.yaml".to_owned());
    let show: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let max_pl: u8 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let policy = Policy::load(Path::new(&config)).unwrap_or_else(|e| panic!("{e}"));
    let path = std::env::var("CORPUS_PATH").unwrap_or_else(|_| "/api/users".to_owned());
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut rules: BTreeMap<String, usize> = BTreeMap::new();
    let (mut unparsable, mut total) = (0, 0);
    for file in ["payloads.jsonl", "benign.jsonl", "crs-requests.jsonl"] {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).expect("corpus file");
        for line in text.lines() {
            let item: serde_json::Value = serde_json::from_str(line).expect("json line");
            let expected = item["expected"].as_str().unwrap_or("");
            if expected == "context" {
                continue;
            }
            let category = item["category"].as_str().unwrap_or("?");
            let requests = if file == "crs-requests.jsonl" {
                if expected == "block"
                    && item["paranoia_level"].as_u64().unwrap_or(1) > u64::from(max_pl)
                {
                    continue;
                }
                vec![("crs", crs_request(&item, &path))]
            } else {
                payload_requests(&item, file == "benign.jsonl", &path)
            };
            for (location, raw) in requests {
                total += 1;
                let blocked_by = match parse_raw_request(&raw) {
                    Ok(req) => {
                        let report = evaluate(&policy, &req, "127.0.0.1".parse().unwrap());
                        for f in &report.findings {
                            *rules.entry(f.rule.to_owned()).or_default() += 1;
                        }
                        report
                            .status
                            .filter(|s| report.is_block() && BLOCK_STATUSES.contains(s))
                            .map(|s| format!("{s} {}", report.rule.unwrap_or("")))
                            .or_else(|| {
                                (!report.findings.is_empty()).then(|| {
                                    format!(
                                        "monitor {:?}",
                                        report.findings.iter().map(|f| f.rule).collect::<Vec<_>>()
                                    )
                                })
                            })
                    }
                    Err(e) => {
                        unparsable += 1;
                        Some(format!("400 unparsable: {e}"))
                    }
                };
                let blocked = blocked_by
                    .as_deref()
                    .is_some_and(|b| !b.starts_with("monitor"));
                let key = if file == "crs-requests.jsonl" {
                    format!("{expected:5} crs/{category}")
                } else {
                    format!("{expected:5} {category}")
                };
                let t = tallies.entry(key).or_insert(Tally {
                    n: 0,
                    ok: 0,
                    misses: Vec::new(),
                });
                t.n += 1;
                if blocked == (expected == "block") {
                    t.ok += 1;
                } else if t.misses.len() < show {
                    let id = item["id"].as_str().unwrap_or("");
                    let shown = item["payload"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| {
                            format!(
                                "{} {} {:?}",
                                item["method"].as_str().unwrap_or(""),
                                item["uri"].as_str().unwrap_or(""),
                                item["body"].as_str().unwrap_or("")
                            ) + " "
                                + item["desc"].as_str().unwrap_or("")
                        });
                    t.misses.push(format!(
                        "{id} {location} {:?} → {}",
                        shown.chars().take(160).collect::<String>(),
                        blocked_by.unwrap_or_default()
                    ));
                }
            }
        }
    }
    let mut sums: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (key, t) in &tallies {
        println!(
            "{key:34} {:6}/{:<6} {:6.2}%",
            t.ok,
            t.n,
            100.0 * t.ok as f64 / t.n as f64
        );
        for m in &t.misses {
            println!("      miss: {m}");
        }
        let group = match (key.starts_with("block"), key.contains("crs/")) {
            (true, false) => "payloads block",
            (false, false) => "benign pass",
            (true, true) => "crs block",
            (false, true) => "crs pass",
        };
        let s = sums.entry(group).or_default();
        s.0 += t.n;
        s.1 += t.ok;
    }
    for (group, (n, ok)) in &sums {
        println!(
            "{group:16} {ok}/{n} = {:.2}%",
            100.0 * *ok as f64 / *n as f64
        );
    }
    println!("requests={total} unparsable={unparsable}");
    if std::env::var_os("RULES").is_some() {
        for (rule, n) in rules {
            println!("{rule:36} {n}");
        }
    }
}

fn head(
    method: &str,
    target: &str,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
    version: &str,
) -> Vec<u8> {
    let mut raw = format!("{method} {target} {version}\r\n").into_bytes();
    for (name, value) in headers {
        raw.extend_from_slice(name.as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body);
    raw
}

fn payload_requests(
    item: &serde_json::Value,
    benign: bool,
    path: &str,
) -> Vec<(&'static str, Vec<u8>)> {
    let payload = item["payload"].as_str().unwrap_or("");
    let field = item["field"].as_str();
    let base = vec![
        ("Host".to_owned(), b"127.0.0.1:8080".to_vec()),
        ("User-Agent".to_owned(), b"api-corpus-runner/1.0".to_vec()),
        ("Accept".to_owned(), b"application/json".to_vec()),
    ];
    let query = || {
        let key = utf8_percent_encode(field.unwrap_or("q"), QUOTE).to_string();
        let target = format!("{path}?{key}={}", utf8_percent_encode(payload, QUOTE));
        head("GET", &target, &base, b"", "HTTP/1.1")
    };
    let json = || {
        let mut map = serde_json::Map::new();
        map.insert(
            field.unwrap_or("q").to_owned(),
            serde_json::Value::String(payload.to_owned()),
        );
        let body = serde_json::to_vec(&serde_json::Value::Object(map)).unwrap();
        let mut h = base.clone();
        h.push(("Content-Type".into(), b"application/json".to_vec()));
        h.push(("Content-Length".into(), body.len().to_string().into_bytes()));
        head("POST", path, &h, &body, "HTTP/1.1")
    };
    let header = |name: &str| {
        let mut h: Vec<(String, Vec<u8>)> = base
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
            .cloned()
            .collect();
        h.push((name.to_owned(), payload.as_bytes().to_vec()));
        head("GET", path, &h, b"", "HTTP/1.1")
    };
    let form = || {
        let body = format!(
            "{}={}",
            form_urlencoded::byte_serialize(field.unwrap_or("q").as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(payload.as_bytes()).collect::<String>()
        );
        let mut h = base.clone();
        h.push((
            "Content-Type".into(),
            b"application/x-www-form-urlencoded".to_vec(),
        ));
        h.push(("Content-Length".into(), body.len().to_string().into_bytes()));
        head("POST", path, &h, body.as_bytes(), "HTTP/1.1")
    };
    let sendable = !payload.contains(['\r', '\n']);
    if benign {
        return match item["location"].as_str() {
            Some("query") => vec![("query", query())],
            Some("form") => vec![("form", form())],
            Some("path") => {
                let seg = utf8_percent_encode(payload, QUOTE).to_string();
                vec![(
                    "path",
                    head(
                        "GET",
                        &format!("{}/{seg}", path.trim_end_matches('/')),
                        &base,
                        b"",
                        "HTTP/1.1",
                    ),
                )]
            }
            Some("header") if sendable => vec![("header", header(field.unwrap_or("X-Payload")))],
            Some("header") => vec![],
            _ => vec![("json", json())],
        };
    }
    let mut out = vec![("query", query()), ("json", json())];
    if sendable {
        out.push(("header", header("X-Payload")));
    }
    out
}

/// A CRS request as recorded, its URI prefixed with `path` (`run.py --crs-rebase`).
fn crs_request(item: &serde_json::Value, path: &str) -> Vec<u8> {
    let headers: Vec<(String, Vec<u8>)> = item["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map_or_else(|| v.to_string(), str::to_owned)
                            .into_bytes(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let body = item["body"].as_str().unwrap_or("").as_bytes();
    let version = item["http_version"].as_str().unwrap_or("HTTP/1.1");
    let uri = item["uri"].as_str().unwrap_or("/");
    let uri = if uri.starts_with('/') {
        format!("{}{uri}", path.trim_end_matches('/'))
    } else {
        uri.to_owned()
    };
    head(
        item["method"].as_str().unwrap_or("GET"),
        &uri,
        &headers,
        body,
        version,
    )
}
