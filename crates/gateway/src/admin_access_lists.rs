//! `/access-lists` on the admin API (every method needs the bearer token):
//! the runtime allow and deny lists (`access_lists.rs`), as the
//! rate-limit store holds them (one Redis hash when configured, so every
//! instance applies an edit within `access_lists.refresh`).
//!
//! - `GET /access-lists` — both lists; `GET /access-lists/deny` one list.
//! - `POST /access-lists/{allow|deny}?cidr=NET[&comment=TEXT]` — adds an
//!   address or network (201; 200 when it replaced one; 409 past
//!   `max_entries`).
//! - `DELETE /access-lists/{allow|deny}?cidr=NET` — removes it (404 when
//!   absent).
//!
//! Without an `access_lists` block in the config every call answers 404.

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::access_lists::{Edit, List, normalize};
use crate::admin::json as answer;
use crate::body::ClientBody;
use crate::state::Gateway;

/// Longest comment kept, in characters.
const MAX_COMMENT: usize = 200;

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

fn unavailable(e: String) -> Response<ClientBody> {
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"error": format!("rate-limit store unavailable: {e}")}),
    )
}

/// `rest` is the path after `/access-lists` (`""`, `/allow`, `/deny`).
pub async fn handle(
    gateway: &Gateway,
    request: &Request<Incoming>,
    rest: &str,
) -> Response<ClientBody> {
    let generation = gateway.generation.load_full();
    let Some(settings) = generation.access_lists.as_ref() else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"error": "access lists are off: add an `access_lists` block to the config"}),
        );
    };
    let list = match rest {
        "" | "/" => None,
        _ => match rest.strip_prefix('/').and_then(List::parse) {
            Some(list) => Some(list),
            None => {
                return answer(
                    StatusCode::NOT_FOUND,
                    json!({"error": "the lists are /access-lists/allow and /access-lists/deny"}),
                );
            }
        },
    };
    let lists = &gateway.access_lists;
    if request.method() == Method::GET {
        let entries = match lists.entries(settings).await {
            Ok(e) => e,
            Err(e) => return unavailable(e),
        };
        let show = |want: List| {
            entries
                .iter()
                .filter(|e| e.list == want)
                .map(|e| {
                    let mut v = json!({"cidr": e.cidr});
                    if let (Some(obj), Some(meta)) = (v.as_object_mut(), e.meta.as_object()) {
                        obj.extend(meta.clone());
                    }
                    v
                })
                .collect::<Vec<_>>()
        };
        return match list {
            Some(l) => answer(StatusCode::OK, json!({ l.name(): show(l) })),
            None => answer(
                StatusCode::OK,
                json!({
                    "backend": settings.backend(),
                    "max_entries": settings.max_entries,
                    "allow": show(List::Allow),
                    "deny": show(List::Deny),
                }),
            ),
        };
    }
    let Some(list) = list else {
        return answer(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": "POST and DELETE go to /access-lists/allow or /access-lists/deny"}),
        );
    };
    let cidr = match query_param(request, "cidr").map(|c| normalize(&c)) {
        Some(Ok(c)) => c,
        Some(Err(e)) => return answer(StatusCode::BAD_REQUEST, json!({"error": e})),
        None => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"error": "give ?cidr=<address or network>"}),
            );
        }
    };
    if request.method() == Method::POST {
        let mut meta = json!({"added_at": portcullis_limits::now_micros() / 1_000_000});
        if let Some(c) = query_param(request, "comment") {
            meta["comment"] = json!(c.chars().take(MAX_COMMENT).collect::<String>());
        }
        return match lists.add(settings, list, &cidr, &meta).await {
            Err(e) => unavailable(e),
            Ok(Edit::Full) => answer(
                StatusCode::CONFLICT,
                json!({"error": format!("the access lists hold access_lists.max_entries ({}) entries", settings.max_entries)}),
            ),
            Ok(edit) => {
                tracing::info!(list = list.name(), %cidr, "access list entry added through the admin API");
                let status = if edit == Edit::Added {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                let word = if edit == Edit::Added {
                    "added"
                } else {
                    "replaced"
                };
                answer(
                    status,
                    json!({"status": word, "list": list.name(), "cidr": cidr}),
                )
            }
        };
    }
    match lists.remove(settings, list, &cidr).await {
        Err(e) => unavailable(e),
        Ok(Edit::Removed) => {
            tracing::info!(list = list.name(), %cidr, "access list entry removed through the admin API");
            answer(
                StatusCode::OK,
                json!({"status": "removed", "list": list.name(), "cidr": cidr}),
            )
        }
        Ok(_) => answer(
            StatusCode::NOT_FOUND,
            json!({"error": "no such entry", "list": list.name(), "cidr": cidr}),
        ),
    }
}
