//! A request's whole life, in order, in one file.
//!
//! 1. **connection** — accepted, TLS handshake and client identity (`listener.rs`);
//!    everything below runs once per request on that connection.
//! 2. **request head** — request id; admission (framing and size limits, path
//!    normalization, routing, real client IP); the route's checks on the head.
//! 3. **request body** — buffered under the route's limit only when a check
//!    wants it, then inspected; otherwise streamed upstream under the same limit.
//! 4. **decide** — findings become one verdict ([`portcullis_policy::decide`]):
//!    allow, monitor (log and forward) or block (problem+json).
//! 5. **upstream** — an endpoint is picked, hop-by-hop headers dropped,
//!    forwarding headers set, the request sent with a response timeout;
//!    idempotent requests with a replayable body are retried on another
//!    endpoint when the connection failed before any answer.
//! 6. **response head** — the route's response checks; hop-by-hop headers
//!    dropped; the request id added. WebSocket upgrades are joined here.
//! 7. **response body** — streamed to the client as it arrives.
//! 8. **log** — metrics always; audit line for blocked or monitored requests;
//!    access line when enabled.
//!
//! Checks never write responses; this driver does, through `problem.rs`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use portcullis_policy::admission::HeadInput;
use portcullis_policy::{
    Exchange, ExchangeHead, Finding, PeerIdentity, Route, Verdict, decide, protocol, request_id,
};

use crate::audit::{AccessRecord, AuditRecord, now_rfc3339};
use crate::body::{ClientBody, UpstreamBody, is_body_too_large};
use crate::forwarding::{self, ForwardedFor};
use crate::metrics::{Action, FindingLabels, UpstreamErrorLabels};
use crate::problem::problem;
use crate::state::{Gateway, Generation};
use crate::upstream::{PoolReturn, SendError, UpstreamPool};

/// Request bodies of known length up to this size are buffered before the
/// upstream request is sent; larger or chunked ones stream.
const SMALL_BODY_BYTES: u64 = 64 * 1024;

/// What the connection knows, shared by its requests.
pub struct ConnectionInfo {
    pub peer: std::net::SocketAddr,
    pub tls: bool,
    pub identity: Option<PeerIdentity>,
    pub activity: crate::listener::ConnectionActivity,
}

/// Serves one request. Never fails: every error becomes a response.
pub async fn handle(
    gateway: Arc<Gateway>,
    conn: Arc<ConnectionInfo>,
    request: Request<Incoming>,
) -> Result<Response<ClientBody>, Infallible> {
    let active = conn.activity.begin();
    let started = Instant::now();
    let generation = gateway.generation.load_full();
    let (parts, body) = request.into_parts();
    let (request_id, request_id_value) = request_id_for(&generation, &parts);
    let outcome = proxy(
        &gateway,
        &generation,
        &conn,
        parts,
        body,
        &request_id,
        request_id_value.as_ref(),
    )
    .await;
    let mut response = outcome.response;
    if let ClientBody::Upstream { active: slot, .. } = response.body_mut() {
        *slot = Some(active);
    } else {
        drop(active);
    }
    if let Some(v) = request_id_value {
        response
            .headers_mut()
            .insert(generation.request_id_header.clone(), v);
    }
    let status = response.status().as_u16();
    outcome
        .route
        .and_then(|i| generation.route_metrics.get(i))
        .unwrap_or(&generation.no_route_metrics)
        .record(
            &gateway.metrics,
            status,
            outcome.action,
            started.elapsed().as_secs_f64(),
        );
    if let Some(access) = &generation.access_log {
        access.write(&AccessRecord {
            time: now_rfc3339(),
            kind: "access",
            request_id: &request_id,
            client_ip: outcome.client_ip.to_string(),
            method: outcome.log.method.as_str(),
            host: &outcome.log.host,
            path: &outcome.log.path,
            route: outcome
                .route
                .and_then(|i| generation.policy.routes.get(i))
                .map(|r| r.name.as_str()),
            status,
            verdict: action_name(&outcome.action),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            upstream: outcome
                .route
                .and_then(|i| generation.policy.routes.get(i))
                .map(|r| r.upstream.as_str()),
        });
    }
    Ok(response)
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::allow => "allow",
        Action::monitor => "monitor",
        Action::block => "block",
        Action::error => "error",
    }
}

struct Outcome {
    response: Response<ClientBody>,
    route: Option<usize>,
    action: Action,
    client_ip: std::net::IpAddr,
    log: AccessFields,
}

/// Request fields kept for the access log only when it is enabled.
#[derive(Default)]
struct AccessFields {
    method: Method,
    host: String,
    path: String,
}

/// The request id and its header value (built once, shared by the upstream
/// request and the response).
fn request_id_for(generation: &Generation, parts: &Parts) -> (String, Option<HeaderValue>) {
    if generation.propagate_request_id
        && let Some(v) = parts.headers.get(&generation.request_id_header)
        && request_id::is_acceptable_incoming(v.as_bytes())
        && let Ok(s) = v.to_str()
    {
        return (s.to_owned(), Some(v.clone()));
    }
    let id = request_id::generate();
    let value = HeaderValue::from_maybe_shared(Bytes::from(id.clone().into_bytes())).ok();
    (id, value)
}

#[allow(clippy::too_many_arguments)]
async fn proxy(
    gateway: &Gateway,
    generation: &Generation,
    conn: &ConnectionInfo,
    mut parts: Parts,
    body: Incoming,
    request_id: &str,
    request_id_value: Option<&HeaderValue>,
) -> Outcome {
    let policy = &generation.policy;
    let peer_ip = conn.peer.ip();
    let mut log = AccessFields::default();

    // ── Phase: request head ─────────────────────────────────────────────
    let ambiguous_framing =
        parts.version < http::Version::HTTP_2 && conn.activity.take_ambiguous_framing();
    let admitted = if ambiguous_framing {
        Err(protocol::ambiguous_framing())
    } else {
        policy.admit(&HeadInput {
            version: parts.version,
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            peer_ip,
        })
    };
    let admitted = match admitted {
        Ok(a) => a,
        Err(finding) => {
            let host = portcullis_policy::admission::host_of(&parts.uri, &parts.headers);
            if generation.access_log.is_some() {
                log = AccessFields {
                    method: parts.method.clone(),
                    host: host.to_string(),
                    path: parts.uri.path().to_owned(),
                };
            }
            let findings = [finding];
            let verdict = decide(&findings);
            audit(
                gateway,
                generation,
                request_id,
                peer_ip,
                &parts.method,
                &host,
                parts.uri.path(),
                None,
                None,
                &verdict,
                &findings,
            );
            return Outcome {
                response: block_response(&verdict, request_id),
                route: None,
                action: Action::block,
                client_ip: peer_ip,
                log,
            };
        }
    };
    let route: &Route = admitted.route;
    let client_ip = admitted.client_ip;
    if generation.access_log.is_some() {
        log = AccessFields {
            method: parts.method.clone(),
            host: admitted.host.to_string(),
            path: admitted.path.to_string(),
        };
    }
    let mut exchange = Exchange::new(ExchangeHead {
        request_id,
        client_ip,
        peer_identity: conn.identity.as_ref(),
        method: &parts.method,
        host: &admitted.host,
        path: &admitted.path,
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        uri_len: admitted.uri_len,
        route_name: &route.name,
    });
    let mut findings: Vec<Finding> = Vec::new();
    route.inspect_request_head(&exchange, &mut findings);

    // ── Phase: request body ─────────────────────────────────────────────
    let inspect_body = route.wants_request_body(&exchange);
    // Small bodies of known length are read before the upstream is contacted
    // (as nginx does): head and body then leave in one write.
    let small_known_length = exchange
        .content_length()
        .is_some_and(|len| len <= SMALL_BODY_BYTES.min(route.max_body_bytes));
    let upstream_body = if body.is_end_stream() || decide(&findings).is_block() {
        UpstreamBody::Empty
    } else if inspect_body || small_known_length {
        let read = http_body_util::Limited::new(body, route.max_body_bytes as usize).collect();
        // A body that does not arrive in time is a finding like any other:
        // the decide phase below blocks it (408) and audits it.
        let read = tokio::time::timeout(policy.config.limits.body_read_timeout.0, read)
            .await
            .unwrap_or_else(|_elapsed| Err(BodyTimedOut.into()));
        match read {
            Ok(collected) => {
                let bytes: Bytes = collected.to_bytes();
                if inspect_body {
                    exchange.attach_body(bytes.clone());
                    route.inspect_request_body(&exchange, &mut findings);
                }
                UpstreamBody::Buffered(Some(bytes))
            }
            Err(e) => {
                let finding = if e.is::<http_body_util::LengthLimitError>() {
                    protocol::body_too_large()
                } else if e.is::<BodyTimedOut>() {
                    protocol::body_timeout()
                } else {
                    // The client went away or sent a broken body: nothing to forward.
                    return Outcome {
                        response: problem(
                            StatusCode::BAD_REQUEST,
                            "request body could not be read",
                            None,
                            request_id,
                        ),
                        route: Some(route.index),
                        action: Action::error,
                        client_ip,
                        log,
                    };
                };
                findings.push(finding);
                UpstreamBody::Empty
            }
        }
    } else {
        UpstreamBody::Streaming {
            inner: body,
            remaining: route.max_body_bytes,
            limit: route.max_body_bytes,
        }
    };

    // ── Phase: decide ───────────────────────────────────────────────────
    let verdict = decide(&findings);
    if !findings.is_empty() {
        audit(
            gateway,
            generation,
            request_id,
            client_ip,
            &parts.method,
            &admitted.host,
            &admitted.path,
            Some(route),
            exchange.operation_id(),
            &verdict,
            &findings,
        );
    }
    let action = match verdict {
        Verdict::Allow => Action::allow,
        Verdict::Monitor => Action::monitor,
        Verdict::Block { .. } => {
            return Outcome {
                response: block_response(&verdict, request_id),
                route: Some(route.index),
                action: Action::block,
                client_ip,
                log,
            };
        }
    };

    // ── Phase: upstream ─────────────────────────────────────────────────
    let Some(upstream_uri) = upstream_uri(route, &admitted.path, &parts.uri) else {
        return Outcome {
            response: problem(
                StatusCode::BAD_REQUEST,
                "request target cannot be forwarded",
                None,
                request_id,
            ),
            route: Some(route.index),
            action: Action::error,
            client_ip,
            log,
        };
    };
    let inspects_responses = route.inspects_responses();
    // Kept only for response checks and their audit lines.
    let response_view =
        inspects_responses.then(|| (admitted.host.to_string(), admitted.path.to_string()));
    let operation: Option<Box<str>> = exchange.operation_id().map(Box::from);
    drop(exchange);
    // The original Host (or HTTP/2 authority), as the client sent it; cloning a
    // parsed header value shares its bytes.
    let original_host = match parts.headers.get(header::HOST) {
        Some(v) => Some(v.clone()),
        None => parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
    };
    let upgrade = forwarding::is_upgrade_request(&parts.headers);
    let client_upgrade = if upgrade {
        parts.extensions.remove::<OnUpgrade>()
    } else {
        None
    };
    forwarding::strip_hop_by_hop(&mut parts.headers, upgrade);
    forwarding::set_forwarding_headers(
        &mut parts.headers,
        &ForwardedFor {
            peer_ip,
            peer_trusted: policy.trusted_proxies.contains(peer_ip),
            proto: if conn.tls { "https" } else { "http" },
            host: original_host
                .as_ref()
                .and_then(|h| h.to_str().ok())
                .unwrap_or(""),
        },
    );
    if let Some(v) = request_id_value {
        parts
            .headers
            .insert(generation.request_id_header.clone(), v.clone());
    }
    if !parts.headers.contains_key(header::HOST)
        && let Some(v) = original_host.clone()
    {
        parts.headers.insert(header::HOST, v);
    }
    let pool = &generation.upstreams[route.index];
    let (mut response, pool_return) = match send_upstream(
        gateway,
        conn,
        pool,
        &mut parts,
        upstream_uri,
        upstream_body,
        inspects_responses,
    )
    .await
    {
        Ok(r) => r,
        Err(failure) => {
            if let Some(finding) = failure.finding {
                let findings = [finding];
                let verdict = decide(&findings);
                let host = original_host
                    .as_ref()
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("");
                audit(
                    gateway,
                    generation,
                    request_id,
                    client_ip,
                    &parts.method,
                    host,
                    parts.uri.path(),
                    Some(route),
                    operation.as_deref(),
                    &verdict,
                    &findings,
                );
                return Outcome {
                    response: block_response(&verdict, request_id),
                    route: Some(route.index),
                    action: Action::block,
                    client_ip,
                    log,
                };
            }
            return Outcome {
                response: problem(failure.status, failure.detail, None, request_id),
                route: Some(route.index),
                action: Action::error,
                client_ip,
                log,
            };
        }
    };

    // ── Phase: response head ────────────────────────────────────────────
    if let Some((response_host, response_path)) = &response_view {
        // The request view is rebuilt from the head we kept (cloned) for this purpose.
        let exchange = Exchange::new(ExchangeHead {
            request_id,
            client_ip,
            peer_identity: conn.identity.as_ref(),
            method: &parts.method,
            host: response_host,
            path: response_path,
            raw_query: parts.uri.query(),
            headers: &parts.headers,
            uri_len: 0,
            route_name: &route.name,
        });
        let mut response_findings = Vec::new();
        route.inspect_response_head(
            &exchange,
            &portcullis_policy::ResponseHead {
                status: response.status(),
                headers: response.headers(),
            },
            &mut response_findings,
        );
        let verdict = decide(&response_findings);
        if !response_findings.is_empty() {
            audit(
                gateway,
                generation,
                request_id,
                client_ip,
                &parts.method,
                response_host,
                response_path,
                Some(route),
                operation.as_deref(),
                &verdict,
                &response_findings,
            );
        }
        if verdict.is_block() {
            return Outcome {
                response: problem(
                    StatusCode::BAD_GATEWAY,
                    "upstream response refused by policy",
                    None,
                    request_id,
                ),
                route: Some(route.index),
                action: Action::block,
                client_ip,
                log,
            };
        }
    }
    let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    let mut pool_return = Some(pool_return);
    if switching {
        // The upstream connection now belongs to the tunnel, not the pool;
        // its I/O must keep running to hand the socket over.
        if let Some(r) = pool_return.take() {
            r.conn.detach();
        }
        if let Some(client_upgrade) = client_upgrade {
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            tokio::spawn(join_upgraded(client_upgrade, upstream_upgrade));
        }
    }
    forwarding::strip_hop_by_hop(response.headers_mut(), switching);

    // ── Phase: response body (streamed by hyper as the client reads it) ──
    let (head, mut incoming) = response.into_parts();
    let read = match pool_return.as_mut() {
        Some(r) if !switching => read_ahead(&mut incoming, &mut r.conn).await,
        _ => ReadAhead {
            frames: Default::default(),
            ended: true,
            error: None,
        },
    };
    if read.ended
        && read.error.is_none()
        && let Some(r) = pool_return.take()
    {
        r.give_back();
    }
    Outcome {
        response: Response::from_parts(
            head,
            ClientBody::Upstream {
                prefix: read.frames,
                body: incoming,
                ended: read.ended,
                error: read.error,
                active: None,
                pool_return,
            },
        ),
        route: Some(route.index),
        action,
        client_ip,
        log,
    }
}

struct ReadAhead {
    frames: std::collections::VecDeque<http_body::Frame<Bytes>>,
    ended: bool,
    error: Option<hyper::Error>,
}

/// Most bytes of a response body of unknown length read ahead of the head.
const READ_AHEAD_BYTES: usize = 64 * 1024;

/// For a response body of unknown length (chunked), reads what has already
/// arrived. A
/// small chunked answer is then complete before its head is written, so head,
/// data and end leave in one write (and the client learns its length) instead
/// of a second write for the final chunk. A streaming answer (server-sent
/// events) stops the read-ahead at its first wait. Returns the frames read and
/// whether the body ended (or failed: the error is kept for the client body).
async fn read_ahead(
    body: &mut Incoming,
    conn: &mut crate::upstream::UpstreamConnection,
) -> ReadAhead {
    use std::task::Poll;
    let mut frames = std::collections::VecDeque::new();
    let done = |frames, ended, error| ReadAhead {
        frames,
        ended,
        error,
    };
    if body.is_end_stream() {
        return done(frames, true, None);
    }
    if body.size_hint().exact().is_some() {
        return done(frames, false, None);
    }
    let mut bytes = 0usize;
    loop {
        // Driving the connection decodes whatever it has already received.
        let polled = std::future::poll_fn(|cx| {
            conn.drive(cx);
            Poll::Ready(std::pin::Pin::new(&mut *body).poll_frame(cx))
        })
        .await;
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                bytes += frame.data_ref().map_or(0, |d| d.len());
                frames.push_back(frame);
                if body.is_end_stream() {
                    return done(frames, true, None);
                }
                if bytes >= READ_AHEAD_BYTES {
                    return done(frames, false, None);
                }
            }
            Poll::Ready(None) => return done(frames, true, None),
            Poll::Ready(Some(Err(e))) => return done(frames, true, Some(e)),
            Poll::Pending => return done(frames, false, None),
        }
    }
}

/// The origin-form URI to send upstream: the normalized path (after
/// `strip_prefix`) and the query. When the path is forwarded unchanged, the
/// client's path-and-query is reused without copying.
fn upstream_uri(route: &Route, normalized_path: &str, original: &http::Uri) -> Option<http::Uri> {
    let path = route.upstream_path(normalized_path);
    if path == original.path() {
        let mut parts = http::uri::Parts::default();
        parts.path_and_query = original.path_and_query().cloned();
        return http::Uri::from_parts(parts).ok();
    }
    let text = match original.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    text.parse().ok()
}

/// The client did not send a body the gateway reads within its time limit.
#[derive(Debug, thiserror::Error)]
#[error("request body not received in time")]
struct BodyTimedOut;

struct UpstreamFailure {
    status: StatusCode,
    detail: &'static str,
    /// Set when the failure is the client's doing and blocks like a check.
    finding: Option<Finding>,
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// Sends the request to an endpoint of `pool`. A request that was not
/// written (refused connect, connection closed before use) is retried on
/// another endpoint when it is idempotent — it comes back intact, so nothing
/// is copied up front. With `keep_head`, the head in `parts` stays usable
/// afterwards (its headers are cloned for sending).
#[allow(clippy::too_many_arguments)]
async fn send_upstream(
    gateway: &Gateway,
    conn: &ConnectionInfo,
    pool: &Arc<UpstreamPool>,
    parts: &mut Parts,
    uri: http::Uri,
    body: UpstreamBody,
    keep_head: bool,
) -> Result<(Response<Incoming>, PoolReturn), UpstreamFailure> {
    let max_attempts = if is_idempotent(&parts.method) {
        1 + pool.retries
    } else {
        1
    };
    let mut request = Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = if keep_head {
        parts.headers.clone()
    } else {
        std::mem::take(&mut parts.headers)
    };
    let mut exclude = None;
    for attempt in 1..=max_attempts {
        let Some(lease) = pool.pick(exclude) else {
            count_error(gateway, pool, "no_healthy_endpoint");
            return Err(UpstreamFailure {
                status: StatusCode::SERVICE_UNAVAILABLE,
                detail: "no healthy upstream endpoint",
                finding: None,
            });
        };
        // Pinned in place: the timeout holds a reference, not a moved copy of the send future.
        let send = pool.send(lease.index, request);
        match within_response_timeout(&conn.activity, pool.response_timeout, send).await {
            Err(_elapsed) => {
                pool.record_failure(lease.index);
                count_error(gateway, pool, "timeout");
                return Err(UpstreamFailure {
                    status: StatusCode::GATEWAY_TIMEOUT,
                    detail: "upstream did not answer in time",
                    finding: None,
                });
            }
            Ok(Err(SendError::NotSent {
                request: unsent,
                error,
            })) => {
                pool.record_failure(lease.index);
                count_error(gateway, pool, "connect");
                if attempt < max_attempts {
                    tracing::debug!(upstream = %pool.name, endpoint = %lease.endpoint.label, %error, "retrying on another endpoint");
                    exclude = Some(lease.index);
                    request = *unsent;
                    continue;
                }
                tracing::warn!(upstream = %pool.name, endpoint = %lease.endpoint.label, %error, "upstream unavailable");
                return Err(UpstreamFailure {
                    status: StatusCode::BAD_GATEWAY,
                    detail: "upstream unavailable",
                    finding: None,
                });
            }
            Ok(Err(SendError::Failed(e))) => {
                if is_body_too_large(&e) {
                    return Err(UpstreamFailure {
                        status: StatusCode::PAYLOAD_TOO_LARGE,
                        detail: "request body too large",
                        finding: Some(protocol::body_too_large()),
                    });
                }
                pool.record_failure(lease.index);
                count_error(gateway, pool, "protocol");
                tracing::warn!(upstream = %pool.name, endpoint = %lease.endpoint.label, error = %e, "upstream request failed");
                return Err(UpstreamFailure {
                    status: StatusCode::BAD_GATEWAY,
                    detail: "upstream unavailable",
                    finding: None,
                });
            }
            Ok(Ok(answer)) => {
                if answer.0.status().is_server_error() {
                    pool.record_failure(lease.index);
                } else {
                    pool.record_success(lease.index);
                }
                return Ok(answer);
            }
        }
    }
    Err(UpstreamFailure {
        status: StatusCode::BAD_GATEWAY,
        detail: "upstream unavailable",
        finding: None,
    })
}

/// Waits for the upstream's response head under the upstream's response
/// timeout. On an HTTP/1.x connection (one request at a time) the deadline is
/// kept by the connection's watchdog, so no timer is armed per request; HTTP/2
/// connections, which carry many requests at once, use a timer.
async fn within_response_timeout<F: std::future::Future>(
    activity: &crate::listener::ConnectionActivity,
    limit: std::time::Duration,
    send: F,
) -> Result<F::Output, ()> {
    use std::task::Poll;
    if !activity.serves_one_request_at_a_time() {
        return tokio::time::timeout(limit, send).await.map_err(|_| ());
    }
    let deadline = activity.arm_upstream_deadline(limit);
    let mut send = std::pin::pin!(send);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(answer) = send.as_mut().poll(cx) {
            return Poll::Ready(Ok(answer));
        }
        if deadline.expired(cx) {
            return Poll::Ready(Err(()));
        }
        Poll::Pending
    })
    .await
}

fn count_error(gateway: &Gateway, pool: &UpstreamPool, kind: &'static str) {
    gateway
        .metrics
        .upstream_errors
        .get_or_create(&UpstreamErrorLabels {
            upstream: pool.name.clone(),
            kind,
        })
        .inc();
}

async fn join_upgraded(client: OnUpgrade, upstream: OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, "upgrade failed");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(error = %e, "upgraded connection ended with an error");
    }
}

fn block_response(verdict: &Verdict, request_id: &str) -> Response<ClientBody> {
    match verdict {
        Verdict::Block {
            status,
            rule,
            reason,
        } => problem(*status, reason, Some(rule), request_id),
        _ => problem(StatusCode::FORBIDDEN, "request refused", None, request_id),
    }
}

#[allow(clippy::too_many_arguments)]
fn audit(
    gateway: &Gateway,
    generation: &Generation,
    request_id: &str,
    client_ip: std::net::IpAddr,
    method: &Method,
    host: &str,
    path: &str,
    route: Option<&Route>,
    operation: Option<&str>,
    verdict: &Verdict,
    findings: &[Finding],
) {
    for f in findings {
        let action = if f.mode == portcullis_policy::Mode::Block {
            Action::block
        } else {
            Action::monitor
        };
        gateway
            .metrics
            .findings
            .get_or_create(&FindingLabels {
                check: f.check,
                rule: f.rule,
                action,
            })
            .inc();
    }
    let Some(sink) = &generation.audit_log else {
        return;
    };
    let status = match verdict {
        Verdict::Block { status, .. } => status.as_u16(),
        _ => findings
            .iter()
            .map(|f| f.status.as_u16())
            .next()
            .unwrap_or(0),
    };
    sink.write(&AuditRecord {
        time: now_rfc3339(),
        kind: "audit",
        request_id,
        client_ip: client_ip.to_string(),
        method: method.as_str(),
        host,
        path,
        route: route.map(|r| r.name.as_str()),
        operation,
        action: verdict.action(),
        status,
        findings,
    });
}
