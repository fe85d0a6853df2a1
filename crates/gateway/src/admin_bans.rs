//! `/bans` on the admin API (every method needs the bearer token): the
//! shared list of bans, login lockouts and credential-stuffing flags, as the
//! rate-limit store holds them (Redis when configured, so every instance
//! sees the same list).
//!
//! - `GET /bans` — every live entry: key, kind, value, seconds left.
//! - `POST /bans?ip=ADDR&ttl=SECONDS` — bans a client IP (default 1 h).
//! - `DELETE /bans?ip=ADDR` or `DELETE /bans?key=KEY` — lifts a ban, a
//!   lockout or a flag; 404 when there was none.

use std::net::IpAddr;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::abuse::{BAN_ADMIN, BAN_HONEYPOT, LISTED_PREFIXES};
use crate::admin::json as answer;
use crate::body::ClientBody;
use crate::state::Gateway;

/// Longest ban the API sets (30 days).
const MAX_BAN: Duration = Duration::from_secs(30 * 86_400);

fn query_param(request: &Request<Incoming>, name: &str) -> Option<String> {
    request.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn kind_of(key: &str, value: u64) -> &'static str {
    match key.split('|').next() {
        Some("ban") if value == BAN_HONEYPOT => "ban (honeypot)",
        Some("ban") if value == BAN_ADMIN => "ban (admin)",
        Some("ban") => "ban",
        Some("lock") => "login lockout",
        Some("stuff") => "credential stuffing",
        _ => "flag",
    }
}

pub async fn handle(gateway: &Gateway, request: &Request<Incoming>) -> Response<ClientBody> {
    let generation = gateway.generation.load_full();
    let limits = &generation.limits;
    match *request.method() {
        Method::GET => {
            let mut entries = Vec::new();
            for prefix in LISTED_PREFIXES {
                match limits.list_flags(prefix.as_bytes()).await {
                    Ok(flags) => entries.extend(flags.into_iter().map(|f| {
                        let key = String::from_utf8_lossy(&f.key).into_owned();
                        json!({
                            "kind": kind_of(&key, f.value),
                            "value": f.value,
                            "ttl_seconds": f.ttl.as_secs(),
                            "key": key,
                        })
                    })),
                    Err(e) => {
                        return answer(
                            StatusCode::SERVICE_UNAVAILABLE,
                            json!({"error": format!("rate-limit store unavailable: {e}")}),
                        );
                    }
                }
            }
            answer(StatusCode::OK, json!({ "bans": entries }))
        }
        Method::POST => {
            let Some(ip) = query_param(request, "ip").and_then(|ip| ip.parse::<IpAddr>().ok())
            else {
                return answer(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "give ?ip=<address> (and optionally &ttl=<seconds>)"}),
                );
            };
            let ttl = match query_param(request, "ttl").map(|t| t.parse::<u64>()) {
                None => Duration::from_secs(3600),
                Some(Ok(s)) if s > 0 => Duration::from_secs(s).min(MAX_BAN),
                Some(_) => {
                    return answer(
                        StatusCode::BAD_REQUEST,
                        json!({"error": "ttl is a number of seconds, at least 1"}),
                    );
                }
            };
            let key = format!("ban|{ip}");
            limits.set_flag_now(key.as_bytes(), BAN_ADMIN, ttl).await;
            tracing::info!(client_ip = %ip, ttl_seconds = ttl.as_secs(), "client banned through the admin API");
            answer(
                StatusCode::OK,
                json!({"status": "banned", "key": key, "ttl_seconds": ttl.as_secs()}),
            )
        }
        _ => {
            let key = match (query_param(request, "ip"), query_param(request, "key")) {
                (Some(ip), _) => match ip.parse::<IpAddr>() {
                    Ok(ip) => format!("ban|{ip}"),
                    Err(_) => {
                        return answer(
                            StatusCode::BAD_REQUEST,
                            json!({"error": "not an IP address"}),
                        );
                    }
                },
                (None, Some(key)) if LISTED_PREFIXES.iter().any(|p| key.starts_with(p)) => key,
                _ => {
                    return answer(
                        StatusCode::BAD_REQUEST,
                        json!({"error": "give ?ip=<address> or ?key=<key from GET /bans>"}),
                    );
                }
            };
            match limits.remove_flag(key.as_bytes()).await {
                Ok(true) => {
                    tracing::info!(%key, "ban lifted through the admin API");
                    answer(StatusCode::OK, json!({"status": "lifted", "key": key}))
                }
                Ok(false) => answer(
                    StatusCode::NOT_FOUND,
                    json!({"error": "no such ban", "key": key}),
                ),
                Err(e) => answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": format!("rate-limit store unavailable: {e}")}),
                ),
            }
        }
    }
}
