//! The admin listener (default 127.0.0.1:9090, never the traffic port):
//! `/health` (the process is up), `/ready` (config loaded, listeners bound, not
//! draining), `/metrics` (Prometheus text), `/config` (the running config,
//! secrets redacted), `POST /reload`, `/bans` (the shared ban and lockout
//! list, `admin_bans.rs`) and `/access-lists` (the runtime allow and deny
//! lists, `admin_access_lists.rs`). Endpoints that change state require
//! `Authorization: Bearer <admin.token>`; with no token configured they are refused.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::body::ClientBody;
use crate::state::Gateway;

pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(gateway.clone(), request));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .http1_only()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

pub(crate) fn json(status: StatusCode, body: serde_json::Value) -> Response<ClientBody> {
    let mut response = Response::new(ClientBody::full(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn authorized(
    gateway: &Gateway,
    request: &Request<Incoming>,
) -> Result<(), Box<Response<ClientBody>>> {
    let generation = gateway.generation.load();
    let Some(expected) = generation.admin_token.as_deref() else {
        return Err(Box::new(json(
            StatusCode::FORBIDDEN,
            serde_json::json!({"error": "no admin token is configured; state-changing endpoints are disabled"}),
        )));
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        let mut response = json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "missing or wrong bearer token"}),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"portcullis-admin\""),
        );
        Err(Box::new(response))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn handle(
    gateway: Arc<Gateway>,
    request: Request<Incoming>,
) -> Result<Response<ClientBody>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, "/health") => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
        (&Method::GET, "/ready") => {
            if gateway.draining.load(Ordering::Relaxed) {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({"status": "draining"}),
                )
            } else {
                json(StatusCode::OK, serde_json::json!({"status": "ready"}))
            }
        }
        (&Method::GET, "/metrics") => {
            let mut response = Response::new(ClientBody::full(gateway.metrics.encode()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        (&Method::GET, "/config") => {
            let generation = gateway.generation.load();
            match serde_json::to_value(&generation.policy.config) {
                Ok(v) => json(StatusCode::OK, v),
                Err(e) => json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    serde_json::json!({"error": e.to_string()}),
                ),
            }
        }
        (&Method::POST, "/reload") => match authorized(&gateway, &request) {
            Err(denied) => *denied,
            Ok(()) => match gateway.reload("admin").await {
                Ok(()) => json(StatusCode::OK, serde_json::json!({"status": "reloaded"})),
                Err(e) => json(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    serde_json::json!({"error": e.to_string()}),
                ),
            },
        },
        (&Method::GET | &Method::POST | &Method::DELETE, "/bans") => {
            match authorized(&gateway, &request) {
                Err(denied) => *denied,
                Ok(()) => crate::admin_bans::handle(&gateway, &request).await,
            }
        }
        (method, path) if path == "/access-lists" || path.starts_with("/access-lists/") => {
            if !matches!(*method, Method::GET | Method::POST | Method::DELETE) {
                json(
                    StatusCode::METHOD_NOT_ALLOWED,
                    serde_json::json!({"error": "method not allowed"}),
                )
            } else {
                match authorized(&gateway, &request) {
                    Err(denied) => *denied,
                    Ok(()) => {
                        let rest = &path["/access-lists".len()..];
                        crate::admin_access_lists::handle(&gateway, &request, rest).await
                    }
                }
            }
        }
        (_, "/health" | "/ready" | "/metrics" | "/config" | "/reload" | "/bans") => json(
            StatusCode::METHOD_NOT_ALLOWED,
            serde_json::json!({"error": "method not allowed"}),
        ),
        _ => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "not found"}),
        ),
    };
    Ok(response)
}
