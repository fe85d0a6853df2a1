//! The built-in demo API (`builtin:demo` upstream, or `portcullis demo-upstream`):
//! a tiny JSON service so the quickstart runs with nothing else installed. It
//! is a real HTTP server on a loopback port, not a shortcut inside the proxy.
//!
//! Routes: `GET /healthz`, `GET /api/users`, `GET /api/users/{id}`,
//! `POST /api/users` (201, echoes the JSON body with an id), `GET /api/orders`,
//! `POST /api/login` (200 for the password `correct horse`, 401 otherwise),
//! `POST /oauth2/introspect` (a **demo-only** RFC 7662 endpoint, see
//! [`DEMO_OPAQUE_TOKENS`]); anything else is a JSON 404.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

static DEMO_ADDRESS: OnceLock<Option<SocketAddr>> = OnceLock::new();

/// The demo introspection endpoint's client (what the quickstart's
/// `introspection` block authenticates as, Basic or in the form body).
pub const DEMO_INTROSPECTION_CLIENT: (&str, &str) =
    ("portcullis-demo", "quickstart-demo-introspection-secret");

/// `Basic` of [`DEMO_INTROSPECTION_CLIENT`] (RFC 6749 §2.3.1 encoding is a
/// no-op for these characters).
const DEMO_INTROSPECTION_BASIC: &str =
    "Basic cG9ydGN1bGxpcy1kZW1vOnF1aWNrc3RhcnQtZGVtby1pbnRyb3NwZWN0aW9uLXNlY3JldA==";

/// Opaque tokens the demo endpoint calls active (subject, scope); any other
/// token is inactive. Demo only: fixed tokens that never expire.
pub const DEMO_OPAQUE_TOKENS: &[(&str, &str, &str)] = &[
    ("demo-opaque-alice", "alice", "orders:read users:read"),
    ("demo-opaque-bob", "bob", "users:read"),
];

/// The demo RFC 7662 answer to a form body, or `None` when the client did
/// not authenticate.
fn introspect(authorization: Option<&[u8]>, form: &[u8]) -> Option<String> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(form).into_owned().collect();
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (id, secret) = DEMO_INTROSPECTION_CLIENT;
    let authenticated = authorization == Some(DEMO_INTROSPECTION_BASIC.as_bytes())
        || (field("client_id") == Some(id) && field("client_secret") == Some(secret));
    if !authenticated {
        return None;
    }
    let token = field("token").unwrap_or("");
    let answer = match DEMO_OPAQUE_TOKENS.iter().find(|(t, _, _)| *t == token) {
        Some((_, sub, scope)) => serde_json::json!({
            "active": true, "sub": sub, "scope": scope, "client_id": "quickstart-app",
            "iss": "https://quickstart.portcullis.test", "aud": "portcullis-demo",
            "token_type": "Bearer",
        }),
        None => serde_json::json!({"active": false}),
    };
    Some(answer.to_string())
}

/// Starts the in-process demo API on an ephemeral loopback port (once) and
/// returns its address. Must be called inside a Tokio runtime.
pub fn ensure_started() -> Option<SocketAddr> {
    *DEMO_ADDRESS.get_or_init(|| {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
        std_listener.set_nonblocking(true).ok()?;
        let address = std_listener.local_addr().ok()?;
        let listener = TcpListener::from_std(std_listener).ok()?;
        tokio::spawn(serve(listener));
        tracing::info!(%address, "built-in demo API started");
        Some(address)
    })
}

/// Serves the demo API on `listener` forever.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}

fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let response = match (&method, segments.as_slice()) {
        (&Method::GET, ["healthz"]) => json(StatusCode::OK, r#"{"status":"ok"}"#),
        (&Method::GET, ["api", "users"]) => json(
            StatusCode::OK,
            r#"[{"id":1,"name":"Ada Lovelace","email":"ada@example.com"},{"id":2,"name":"Alan Turing","email":"alan@example.com"}]"#,
        ),
        (&Method::GET, ["api", "users", id]) => match id.parse::<u32>() {
            Ok(id) => json(
                StatusCode::OK,
                format!(r#"{{"id":{id},"name":"User {id}","email":"user{id}@example.com"}}"#),
            ),
            Err(_) => json(
                StatusCode::BAD_REQUEST,
                r#"{"error":"user id must be a number"}"#,
            ),
        },
        (&Method::POST, ["api", "users"]) | (&Method::POST, ["api", "login"]) => {
            match Limited::new(request.into_body(), 1 << 20).collect().await {
                Ok(body) => {
                    let bytes = body.to_bytes();
                    match serde_json::from_slice::<serde_json::Value>(&bytes) {
                        Ok(serde_json::Value::Object(mut object)) if segments[1] == "users" => {
                            object.insert("id".into(), 3.into());
                            json(
                                StatusCode::CREATED,
                                serde_json::Value::Object(object).to_string(),
                            )
                        }
                        // One demo account, so failed logins can be tried.
                        Ok(v) if segments[1] == "login" => {
                            if v["password"] == "correct horse" {
                                json(StatusCode::OK, r#"{"token":"demo-session"}"#)
                            } else {
                                json(
                                    StatusCode::UNAUTHORIZED,
                                    r#"{"error":"wrong username or password"}"#,
                                )
                            }
                        }
                        _ => json(
                            StatusCode::BAD_REQUEST,
                            r#"{"error":"body must be a JSON object"}"#,
                        ),
                    }
                }
                Err(_) => json(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    r#"{"error":"body too large"}"#,
                ),
            }
        }
        (&Method::POST, ["oauth2", "introspect"]) => {
            let authorization = request
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes().to_vec());
            match Limited::new(request.into_body(), 64 * 1024).collect().await {
                Ok(body) => match introspect(authorization.as_deref(), &body.to_bytes()) {
                    Some(answer) => json(StatusCode::OK, answer),
                    None => json(StatusCode::UNAUTHORIZED, r#"{"error":"invalid_client"}"#),
                },
                Err(_) => json(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    r#"{"error":"body too large"}"#,
                ),
            }
        }
        (&Method::GET, ["api", "orders"]) => json(
            StatusCode::OK,
            r#"[{"id":"o-1001","user_id":1,"total":42.5,"status":"shipped"}]"#,
        ),
        _ => json(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#),
    };
    Ok(response)
}
