//! A request's whole life, in order, in one file.
//!
//! 1. **connection** — accepted, TLS handshake and client identity, the head
//!    read and parsed once (`listener.rs`, `http1.rs`, hyper for HTTP/2);
//!    everything below runs once per request on that connection.
//! 2. **request head** — request id; admission (framing and size limits, path
//!    normalization, routing, real client IP); the runtime access lists
//!    (`access_lists.rs`: a deny entry is a finding, an allow entry skips
//!    the limit and bot phases); the route's checks on the head.
//! 3. **request body** — buffered under the route's limit only when a check
//!    wants it (or it is small and of known length), then inspected;
//!    otherwise streamed upstream under the same limit.
//! 4. **limit** — the route's rate limits counted in the store
//!    (`rate_limits.rs`); a refusal is a finding like any other.
//! 5. **decide** — findings become one verdict ([`portcullis_policy::decide`]):
//!    allow, monitor (log and forward) or block (problem+json).
//! 6. **upstream** — names a check asked to strip (query parameters, headers,
//!    cookies) are removed; an endpoint is picked, the request head written
//!    from the parsed one (hop-by-hop fields dropped, forwarding fields set), sent with
//!    a response timeout; idempotent requests with a replayable body are
//!    retried on another endpoint when the connection failed before any answer.
//! 7. **response head** — the route's response checks (a block becomes a 502);
//!    the request id added. A `101` hands both connections over to a tunnel.
//! 8. **response body** — when a check wants it, buffered under its limit and
//!    inspected before any byte leaves: a block becomes a 502, a check may
//!    replace it (fields stripped). Otherwise a small body of unknown length
//!    is read ahead (so it leaves with a length), and anything else is
//!    streamed to the client by the connection as it arrives.
//! 9. **log** — metrics always; audit line for blocked or monitored requests;
//!    access line when enabled.
//!
//! Checks never write responses; this driver answers, through `problem.rs`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};
use portcullis_policy::admission::HeadInput;
use portcullis_policy::checks::ResponseBody;
use portcullis_policy::exchange::MatchedOperation;
use portcullis_policy::{
    Exchange, ExchangeHead, Finding, PeerIdentity, Route, Verdict, decide, protocol, request_id,
};

use crate::audit::{AccessRecord, AuditRecord, now_rfc3339};
use crate::body::{BodyError, RequestBody};
use crate::forwarding::{ForwardedFor, UpstreamRequestHead};
use crate::metrics::{Action, FindingLabels, UpstreamErrorLabels};
use crate::problem::problem;
use crate::state::{Gateway, Generation};
use crate::upstream::{SendError, UpstreamPool};
use crate::upstream_connection::{OutgoingBody, PoolSlot, UpstreamBody, UpstreamConnection};
use crate::wire::{Framing, HeadError, RequestFacts, ResponseFields};

/// Request bodies of known length up to this size are buffered before the
/// upstream request is sent; larger or chunked ones stream.
const SMALL_BODY_BYTES: u64 = 64 * 1024;

/// Most bytes of a response body of unknown length read ahead of its head.
const READ_AHEAD_BYTES: usize = 64 * 1024;

/// What the connection knows, shared by its requests.
pub struct ConnectionInfo {
    pub peer: std::net::SocketAddr,
    /// The peer's address as text (for forwarding fields), formatted once.
    pub peer_text: String,
    pub tls: bool,
    pub identity: Option<PeerIdentity>,
    pub activity: crate::listener::ConnectionActivity,
    /// The TLS ClientHello's JA4 fingerprint, when a route scores bots.
    pub ja4: Option<HeaderValue>,
}

/// A request head as the phases see it, whatever the protocol.
pub struct ClientRequest {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub facts: RequestFacts,
}

/// What the phases answer; the connection writes it.
pub struct Answer {
    pub status: StatusCode,
    pub fields: AnswerFields,
    /// The request id field, added to whatever `fields` hold.
    pub request_id: Option<(HeaderName, HeaderValue)>,
    /// Fields the gateway adds to an upstream answer (the rate-limit
    /// headers); empty (no allocation) for most answers.
    pub extra: Vec<(HeaderName, HeaderValue)>,
    pub body: AnswerBody,
}

/// The header fields of an answer.
pub enum AnswerFields {
    /// Made by the gateway (problem answers).
    Generated(HeaderMap),
    /// The upstream's, as received (hop-by-hop fields already removed).
    Upstream(ResponseFields),
}

impl AnswerFields {
    /// Whether a field is present (case-insensitive name).
    pub fn contains(&self, name: &HeaderName) -> bool {
        match self {
            AnswerFields::Generated(map) => map.contains_key(name),
            AnswerFields::Upstream(fields) => fields.get(name.as_str()).is_some(),
        }
    }

    /// Every field as a `HeaderMap`, with the request id and the gateway's
    /// extra fields (for HTTP/2 clients).
    pub fn into_header_map(
        self,
        request_id: Option<(HeaderName, HeaderValue)>,
        extra: Vec<(HeaderName, HeaderValue)>,
    ) -> HeaderMap {
        let mut map = match self {
            AnswerFields::Generated(map) => map,
            AnswerFields::Upstream(fields) => fields.to_header_map(),
        };
        if let Some((name, value)) = request_id {
            map.insert(name, value);
        }
        for (name, value) in extra {
            map.append(name, value);
        }
        map
    }
}

pub enum AnswerBody {
    /// A complete body: generated, or an upstream body read to its end.
    Full(Bytes),
    /// An upstream body, streamed as the client takes it; `prefix` was read
    /// ahead and goes first.
    Upstream {
        prefix: Option<Bytes>,
        body: UpstreamBody,
    },
    /// `101 Switching Protocols`: after the head, the two connections are
    /// joined into a tunnel (HTTP/1.1 clients only).
    Upgrade(UpstreamConnection),
}

/// Serves one request. Never fails: every error becomes an answer.
pub async fn serve(
    gateway: &Gateway,
    conn: &ConnectionInfo,
    request: ClientRequest,
    body: &mut RequestBody<'_>,
) -> Answer {
    let started = Instant::now();
    let generation = gateway.generation.load_full();
    let (request_id, request_id_value) = request_id_for(&generation, &request.headers);
    let outcome = proxy(
        gateway,
        &generation,
        conn,
        request,
        body,
        &request_id,
        request_id_value.as_ref(),
    )
    .await;
    let mut answer = outcome.answer;
    answer.request_id = request_id_value.map(|v| (generation.request_id_header.clone(), v));

    // ── Phase: log ──────────────────────────────────────────────────────
    let status = answer.status.as_u16();
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
    if let Some(access) = &generation.access_log
        && let Some(log) = &outcome.log
    {
        let route = outcome.route.and_then(|i| generation.policy.routes.get(i));
        access.write(&AccessRecord {
            time: now_rfc3339(),
            kind: "access",
            request_id: &request_id,
            client_ip: outcome.client_ip.to_string(),
            method: log.method.as_str(),
            host: &log.host,
            path: &log.path,
            route: route.map(|r| r.name.as_str()),
            status,
            verdict: action_name(&outcome.action),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            upstream: route.map(|r| r.upstream.as_str()),
        });
    }
    answer
}

/// Answers a request whose head could not be read (too large, malformed):
/// audited and counted like any block, then the connection closes.
pub fn refuse_head(gateway: &Gateway, conn: &ConnectionInfo, error: HeadError) -> Answer {
    let generation = gateway.generation.load_full();
    let finding = match error {
        HeadError::TooLarge {
            request_line_complete: false,
        } => protocol::uri_too_long(),
        HeadError::TooLarge { .. } | HeadError::TooManyHeaders => protocol::header_too_large(),
        HeadError::Malformed(what) => protocol::malformed_head(what),
    };
    let request_id = request_id::generate();
    let findings = [finding];
    let verdict = decide(&findings);
    let peer_ip = conn.peer.ip();
    audit(
        gateway,
        &generation,
        &request_id,
        peer_ip,
        &Method::GET,
        "",
        "",
        None,
        None,
        &verdict,
        &findings,
    );
    let answer = block_answer(&verdict, &request_id);
    generation.no_route_metrics.record(
        &gateway.metrics,
        answer.status.as_u16(),
        Action::block,
        0.0,
    );
    answer
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
    answer: Answer,
    route: Option<usize>,
    action: Action,
    client_ip: std::net::IpAddr,
    /// Only when the access log is on (kept small otherwise: outcomes move).
    log: Option<Box<AccessFields>>,
}

/// Request fields kept for the access log only when it is enabled.
struct AccessFields {
    method: Method,
    host: String,
    path: String,
}

/// The request id and its header value (built once, shared by the upstream
/// request and the response).
fn request_id_for(generation: &Generation, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if generation.propagate_request_id
        && let Some(v) = headers.get(&generation.request_id_header)
        && request_id::is_acceptable_incoming(v.as_bytes())
        && let Ok(s) = v.to_str()
    {
        return (s.to_owned(), Some(v.clone()));
    }
    let id = request_id::generate();
    let value = HeaderValue::from_maybe_shared(Bytes::from(id.clone().into_bytes())).ok();
    (id, value)
}

/// Everything [`proxy`] needs to write an audit line, so each exit is short.
struct AuditContext<'a> {
    gateway: &'a Gateway,
    generation: &'a Generation,
    request_id: &'a str,
    method: &'a Method,
}

impl AuditContext<'_> {
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        client_ip: std::net::IpAddr,
        host: &str,
        path: &str,
        route: Option<&Route>,
        operation: Option<&str>,
        verdict: &Verdict,
        findings: &[Finding],
    ) {
        audit(
            self.gateway,
            self.generation,
            self.request_id,
            client_ip,
            self.method,
            host,
            path,
            route,
            operation,
            verdict,
            findings,
        );
    }
}

#[allow(clippy::too_many_arguments)]
async fn proxy(
    gateway: &Gateway,
    generation: &Generation,
    conn: &ConnectionInfo,
    request: ClientRequest,
    body: &mut RequestBody<'_>,
    request_id: &str,
    request_id_value: Option<&HeaderValue>,
) -> Outcome {
    let policy = &generation.policy;
    let peer_ip = conn.peer.ip();
    let mut log: Option<Box<AccessFields>> = None;
    let ClientRequest {
        method,
        uri,
        version,
        headers,
        facts,
    } = request;
    let auditor = AuditContext {
        gateway,
        generation,
        request_id,
        method: &method,
    };
    let outcome = |answer: Answer, route: Option<usize>, action, client_ip, log| Outcome {
        answer,
        route,
        action,
        client_ip,
        log,
    };

    // ── Phase: request head ─────────────────────────────────────────────
    // `OPTIONS *` asks about the server itself, no resource (RFC 9110
    // §9.3.7): the gateway answers it, naming the methods it forwards.
    if method == Method::OPTIONS && uri == "*" {
        return outcome(server_options(), None, Action::allow, peer_ip, log);
    }
    let admitted = policy.admit(&HeadInput {
        version,
        method: &method,
        uri: &uri,
        headers: &headers,
        peer_ip,
    });
    let admitted = match admitted {
        Ok(a) => a,
        Err(finding) => {
            let host = portcullis_policy::admission::host_of(&uri, &headers);
            if generation.access_log.is_some() {
                log = Some(Box::new(AccessFields {
                    method: method.clone(),
                    host: host.to_string(),
                    path: uri.path().to_owned(),
                }));
            }
            let findings = [finding];
            let verdict = decide(&findings);
            auditor.record(peer_ip, &host, uri.path(), None, None, &verdict, &findings);
            let answer = block_answer(&verdict, request_id);
            return outcome(answer, None, Action::block, peer_ip, log);
        }
    };
    let route: &Route = admitted.route;
    let client_ip = admitted.client_ip;
    if generation.access_log.is_some() {
        log = Some(Box::new(AccessFields {
            method: method.clone(),
            host: admitted.host.to_string(),
            path: admitted.path.to_string(),
        }));
    }
    // ── Phase: identify (keys) ──────────────────────────────────────────
    // A token signed with a key the JWKS did not have yet: refetched once
    // (rate-limited) before the identity check verifies it.
    crate::identity::refresh_on_unknown_kid(route, &headers).await;
    // An opaque token without a cached introspection answer: one call
    // (shared by concurrent requests with the same token), unless the
    // endpoint's circuit breaker is open.
    crate::introspection::introspect_before_checks(route, &headers, &gateway.metrics.introspection)
        .await;
    let mut exchange = Exchange::new(ExchangeHead {
        request_id,
        client_ip,
        peer_identity: conn.identity.as_ref(),
        method: &method,
        host: &admitted.host,
        path: &admitted.path,
        raw_query: uri.query(),
        headers: &headers,
        uri_len: admitted.uri_len,
        route_name: &route.name,
    });
    let mut findings: Vec<Finding> = Vec::new();
    // The runtime lists: the local copy only (no store round trip).
    let mut allow_listed = false;
    if let Some(settings) = &generation.access_lists {
        match gateway.access_lists.check(client_ip) {
            crate::access_lists::Access::Unlisted => {}
            crate::access_lists::Access::Allowed => allow_listed = true,
            crate::access_lists::Access::Denied => findings.push(
                portcullis_policy::rate_limit::access_list_denied(client_ip, settings.mode),
            ),
        }
    }
    route.inspect_request_head(&exchange, &mut findings);

    // ── Phase: request body ─────────────────────────────────────────────
    let inspect_body = route.wants_request_body(&exchange)
        || (!allow_listed && generation.limits.wants_body(route.index));
    // Small bodies of known length are read before the upstream is contacted
    // (as nginx does): head and body then leave in one write.
    let small_known_length = body
        .remaining_length()
        .is_some_and(|len| len <= SMALL_BODY_BYTES.min(route.max_body_bytes));
    let mut buffered: Option<Bytes> = None;
    let read_first = inspect_body || (small_known_length && !body.is_complete());
    if read_first && !decide(&findings).is_block() {
        let limits = &policy.config.limits;
        // A body that does not arrive in time is a finding like any other:
        // the decide phase below blocks it (408) and audits it.
        let read = if body.is_complete() {
            Ok(Ok(Bytes::new()))
        } else {
            conn.activity
                .within(
                    limits.body_read_timeout.0,
                    body.read_to_end(route.max_body_bytes),
                )
                .await
        };
        match read {
            Ok(Ok(bytes)) => {
                if inspect_body {
                    exchange.attach_body(bytes.clone());
                    route.inspect_request_body(&exchange, &mut findings);
                }
                buffered = (!bytes.is_empty()).then_some(bytes);
            }
            Ok(Err(BodyError::TooLarge)) => findings.push(protocol::body_too_large()),
            Err(()) => findings.push(protocol::body_timeout()),
            Ok(Err(e)) => {
                // The client went away or sent a broken body: nothing to forward.
                tracing::debug!(error = %e, "request body could not be read");
                let answer = problem(
                    StatusCode::BAD_REQUEST,
                    "request body could not be read",
                    None,
                    request_id,
                );
                return outcome(answer, Some(route.index), Action::error, client_ip, log);
            }
        }
    }

    // ── Phase: limit ────────────────────────────────────────────────────
    // Keys are built from the view first; the store is asked without it.
    // An allow-listed client skips this phase and the bot phase.
    let plan = (!allow_listed)
        .then(|| generation.limits.plan(route.index, &exchange, &findings))
        .flatten();
    let limited = match plan {
        Some(plan) => generation.limits.enforce(plan, &mut findings).await,
        None => crate::rate_limits::LimitOutcome::default(),
    };

    // ── Phase: bots ─────────────────────────────────────────────────────
    // Scored after the limits, so a honeypot hit of this request counts.
    let bot = if allow_listed {
        crate::bots::BotOutcome::default()
    } else {
        generation
            .bots
            .run(
                &generation.limits,
                crate::bots::BotInput {
                    route: route.index,
                    client_ip,
                    path: &admitted.path,
                    headers: &headers,
                    version,
                    tls: conn.tls,
                    ja4: conn.ja4.as_ref(),
                },
                &mut findings,
            )
            .await
    };

    // ── Phase: decide ───────────────────────────────────────────────────
    let verdict = decide(&findings);
    let operation: Option<MatchedOperation> = exchange.operation().cloned();
    if !findings.is_empty() {
        auditor.record(
            client_ip,
            &admitted.host,
            &admitted.path,
            Some(route),
            operation.as_ref().map(|o| &*o.id),
            &verdict,
            &findings,
        );
    }
    let action = match verdict {
        Verdict::Allow => Action::allow,
        Verdict::Monitor => Action::monitor,
        Verdict::Block { .. } => {
            let mut answer = block_answer(&verdict, request_id);
            if let (Some(h), AnswerFields::Generated(map)) = (&limited.headers, &mut answer.fields)
            {
                h.apply(map);
            }
            if let (Some(retry), AnswerFields::Generated(map)) =
                (bot.retry_after, &mut answer.fields)
                && !map.contains_key(header::RETRY_AFTER)
            {
                map.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry.as_secs().max(1)),
                );
            }
            return outcome(answer, Some(route.index), Action::block, client_ip, log);
        }
    };

    // ── Phase: upstream ─────────────────────────────────────────────────
    // Names a check asked to strip (an OpenAPI policy in `strip` mode) are
    // removed now that the request is allowed.
    // Added fields (the principal headers) are written after the client's;
    // only removals need a copy of the client's map.
    let added_headers = exchange.take_added_headers();
    let rewrites = {
        let requested = exchange.rewrites();
        (!requested.is_empty()).then(|| requested.clone())
    };
    let inspects_responses = route.inspects_responses();
    drop(exchange);
    // The admitted view still borrows the client's fields: a request with
    // names to strip forwards a copy (the rare path pays for it).
    let stripped_headers;
    let forward_headers: &HeaderMap = match &rewrites {
        Some(rw) => {
            let mut copy = headers.clone();
            rw.apply_to_headers(&mut copy);
            stripped_headers = copy;
            &stripped_headers
        }
        None => &headers,
    };
    let target = match &rewrites {
        Some(rw) if !rw.remove_query.is_empty() => {
            let path = route.upstream_path(&admitted.path);
            Cow::Owned(match rw.query(uri.query()) {
                Some(q) => format!("{path}?{q}"),
                None => path.to_owned(),
            })
        }
        _ => upstream_target(route, &admitted.path, &uri),
    };
    // The original Host (or HTTP/2 authority), as the client sent it.
    let host_bytes: Option<&[u8]> = match headers.get(header::HOST) {
        Some(v) => Some(v.as_bytes()),
        None => uri.authority().map(|a| a.as_str().as_bytes()),
    };
    let original_host = host_bytes
        .and_then(|h| std::str::from_utf8(h).ok())
        .unwrap_or("");
    let upgrade = version < Version::HTTP_2 && facts.upgrade;
    let upstream_head = UpstreamRequestHead {
        method: &method,
        target: &target,
        headers: forward_headers,
        host: host_bytes,
        forwarded: ForwardedFor {
            peer_ip,
            peer_text: &conn.peer_text,
            peer_trusted: policy.trusted_proxies.contains(peer_ip),
            proto: if conn.tls { "https" } else { "http" },
            host: original_host,
            fields: &policy.config.forwarding,
        },
        request_id: Some((
            &generation.request_id_header,
            request_id_value.filter(|_| policy.config.request_id.send_upstream),
        )),
        facts: RequestFacts { upgrade, ..facts },
        added: &added_headers,
        bot_tag: bot.tag.as_ref(),
    };
    let mut outgoing = match &buffered {
        Some(bytes) => OutgoingBody::Buffered(bytes),
        None if body.is_complete() => OutgoingBody::Empty,
        None => OutgoingBody::Streamed {
            length: body.remaining_length(),
            source: body,
            limit: route.max_body_bytes,
        },
    };
    let pool = &generation.upstreams[route.index];
    let sent = send_upstream(gateway, conn, pool, &method, &upstream_head, &mut outgoing).await;
    let (response, upstream_conn, endpoint) = match sent {
        Ok(r) => r,
        Err(failure) => {
            if let Some(finding) = failure.finding {
                let findings = [finding];
                let verdict = decide(&findings);
                auditor.record(
                    client_ip,
                    &admitted.host,
                    &admitted.path,
                    Some(route),
                    operation.as_ref().map(|o| &*o.id),
                    &verdict,
                    &findings,
                );
                let answer = block_answer(&verdict, request_id);
                return outcome(answer, Some(route.index), Action::block, client_ip, log);
            }
            let answer = problem(failure.status, failure.detail, None, request_id);
            return outcome(answer, Some(route.index), Action::error, client_ip, log);
        }
    };

    // ── Phase: response head ────────────────────────────────────────────
    if let Some(attempt) = limited.login {
        generation
            .limits
            .record_login(attempt, response.status.as_u16())
            .await;
    }
    // Response checks read the parsed head as it is (no `HeaderMap`). The
    // request view is made again: the first one is not `Sync`, so it could
    // not live across the upstream wait (a handful of words, no parsing).
    let response_view = inspects_responses.then(|| {
        let exchange = Exchange::new(ExchangeHead {
            request_id,
            client_ip,
            peer_identity: conn.identity.as_ref(),
            method: &method,
            host: &admitted.host,
            path: &admitted.path,
            raw_query: uri.query(),
            headers: &headers,
            uri_len: admitted.uri_len,
            route_name: &route.name,
        });
        if let Some(op) = &operation {
            exchange.set_operation(op.clone());
        }
        let head = portcullis_policy::ResponseHead::new(response.status, &response.fields);
        (exchange, head)
    });
    let mut response_body_limit = None;
    if let Some((exchange, head)) = &response_view {
        let mut response_findings = Vec::new();
        route.inspect_response_head(exchange, head, &mut response_findings);
        let verdict = decide(&response_findings);
        if !response_findings.is_empty() {
            auditor.record(
                client_ip,
                &admitted.host,
                &admitted.path,
                Some(route),
                operation.as_ref().map(|o| &*o.id),
                &verdict,
                &response_findings,
            );
        }
        if verdict.is_block() {
            return outcome(
                refused_response(request_id),
                Some(route.index),
                Action::block,
                client_ip,
                log,
            );
        }
        response_body_limit = route.response_body_limit(exchange, head);
    }
    if response.status == StatusCode::SWITCHING_PROTOCOLS {
        drop(response_view);
        if !upgrade {
            tracing::warn!(upstream = %pool.name, "upstream switched protocols without an upgrade request");
            let answer = problem(
                StatusCode::BAD_GATEWAY,
                "upstream unavailable",
                None,
                request_id,
            );
            return outcome(answer, Some(route.index), Action::error, client_ip, log);
        }
        let answer = Answer {
            status: response.status,
            fields: AnswerFields::Upstream(response.fields),
            request_id: None,
            extra: Vec::new(),
            body: AnswerBody::Upgrade(upstream_conn),
        };
        return outcome(answer, Some(route.index), action, client_ip, log);
    }

    // ── Phase: response body ────────────────────────────────────────────
    let slot = PoolSlot {
        pool: pool.clone(),
        endpoint,
    };
    let mut upstream_body = UpstreamBody::new(
        upstream_conn,
        response.framing,
        response.keep_alive,
        Some(slot),
    );
    let body = if let Some(limit) = response_body_limit {
        // A check wants the whole body before any of it leaves: buffered
        // under its limit, inspected, then forwarded (or replaced) whole.
        let buffered = match buffer_response(&conn.activity, &mut upstream_body, limit).await {
            Ok(b) => b,
            Err(error) => {
                pool.record_failure(endpoint);
                count_error(gateway, pool, "protocol");
                tracing::warn!(upstream = %pool.name, %error, "upstream response body failed");
                let answer = problem(
                    StatusCode::BAD_GATEWAY,
                    "upstream unavailable",
                    None,
                    request_id,
                );
                return outcome(answer, Some(route.index), Action::error, client_ip, log);
            }
        };
        // Borrowed only now: the view is not `Sync`, so no reference to it
        // may be held across the wait above.
        let Some((exchange, head)) = &response_view else {
            unreachable!("a response body limit comes from the response view")
        };
        let mut body_findings = Vec::new();
        let seen = match &buffered {
            BufferedResponse::Complete(b) => ResponseBody::Complete(b),
            BufferedResponse::TooLarge(_) => ResponseBody::TooLarge { limit },
        };
        let replaced = route.inspect_response_body(exchange, head, seen, &mut body_findings);
        let verdict = decide(&body_findings);
        if !body_findings.is_empty() {
            auditor.record(
                client_ip,
                &admitted.host,
                &admitted.path,
                Some(route),
                operation.as_ref().map(|o| &*o.id),
                &verdict,
                &body_findings,
            );
        }
        if verdict.is_block() {
            return outcome(
                refused_response(request_id),
                Some(route.index),
                Action::block,
                client_ip,
                log,
            );
        }
        match buffered {
            BufferedResponse::Complete(original) => AnswerBody::Full(replaced.unwrap_or(original)),
            BufferedResponse::TooLarge(prefix) => AnswerBody::Upstream {
                prefix: Some(prefix),
                body: upstream_body,
            },
        }
    } else {
        match response.framing {
            Framing::Chunked | Framing::UntilClose => match read_ahead(&mut upstream_body).await {
                ReadAhead::Complete(bytes) => AnswerBody::Full(bytes),
                ReadAhead::Partial(prefix) => AnswerBody::Upstream {
                    prefix,
                    body: upstream_body,
                },
            },
            Framing::Empty => AnswerBody::Full(Bytes::new()),
            Framing::Length(_) => AnswerBody::Upstream {
                prefix: None,
                body: upstream_body,
            },
        }
    };
    drop(response_view);
    let answer = Answer {
        status: response.status,
        fields: AnswerFields::Upstream(response.fields),
        request_id: None,
        // `RateLimit-Policy` / `RateLimit` on an allowed answer.
        extra: limited.headers.map_or_else(Vec::new, |h| h.into_fields()),
        body,
    };
    outcome(answer, Some(route.index), action, client_ip, log)
}

/// The 502 that replaces an upstream answer a response check refused:
/// nothing of the original is sent.
fn refused_response(request_id: &str) -> Answer {
    problem(
        StatusCode::BAD_GATEWAY,
        "upstream response refused by policy",
        None,
        request_id,
    )
}

enum BufferedResponse {
    Complete(Bytes),
    /// Past the limit: what was read, the rest still to stream.
    TooLarge(Bytes),
}

/// Reads an upstream body for the response-body checks, up to `limit` bytes
/// (each wait bounded by the upstream's `read_timeout`).
async fn buffer_response(
    activity: &crate::listener::ConnectionActivity,
    body: &mut UpstreamBody,
    limit: u64,
) -> Result<BufferedResponse, String> {
    if body.remaining_length().is_some_and(|n| n <= limit) {
        // Of known length within the limit: read into one buffer of its
        // size and taken whole, with no copy of the pieces it came in.
        let read_timeout = body.read_timeout();
        loop {
            let more = std::future::poll_fn(|cx| body.poll_fill_whole(cx));
            match activity.within(read_timeout, more).await {
                Err(()) => return Err("response body stalled past read_timeout".into()),
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok(true)) => break,
                Ok(Ok(false)) => {}
            }
        }
        return Ok(BufferedResponse::Complete(
            body.take_buffered().unwrap_or_default(),
        ));
    }
    let mut collected = BytesMut::new();
    let mut first: Option<Bytes> = None;
    loop {
        let next = activity.within(body.read_timeout(), body.data()).await;
        let data = match next {
            Err(()) => return Err("response body stalled past read_timeout".into()),
            Ok(Err(e)) => return Err(e.to_string()),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(data))) => data,
        };
        match first.take() {
            None if collected.is_empty() => first = Some(data),
            previous => {
                if let Some(p) = previous {
                    // Sized once from the declared length: no regrowth.
                    let rest = body.remaining_length().unwrap_or(0).min(limit) as usize;
                    collected.reserve(p.len() + data.len() + rest);
                    collected.extend_from_slice(&p);
                }
                collected.extend_from_slice(&data);
            }
        }
        let total = first.as_ref().map_or(collected.len(), |f| f.len()) as u64;
        if total > limit {
            let read = first.unwrap_or_else(|| collected.freeze());
            return Ok(BufferedResponse::TooLarge(read));
        }
    }
    Ok(BufferedResponse::Complete(
        first.unwrap_or_else(|| collected.freeze()),
    ))
}

enum ReadAhead {
    /// The whole body arrived (or failed: the client then gets what came).
    Complete(Bytes),
    /// Still streaming: what was read so far.
    Partial(Option<Bytes>),
}

/// For a response body of unknown length (chunked, or until close), takes
/// what has already arrived, without waiting. A small chunked answer is then
/// complete before its head is written, so it leaves in one write with a
/// length instead of a second write for the final chunk; a streaming answer
/// (server-sent events) stops the read-ahead at its first wait.
async fn read_ahead(body: &mut UpstreamBody) -> ReadAhead {
    use std::task::Poll;
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut total = 0usize;
    let ended = std::future::poll_fn(|cx| {
        loop {
            match body.poll_data(cx) {
                Poll::Pending => return Poll::Ready(false),
                Poll::Ready(Ok(None)) => return Poll::Ready(true),
                // Reported to the client as a cut connection when streamed.
                Poll::Ready(Err(_)) => return Poll::Ready(false),
                Poll::Ready(Ok(Some(data))) => {
                    total += data.len();
                    match (&mut joined, first.take()) {
                        (Some(j), _) => j.extend_from_slice(&data),
                        (None, None) => first = Some(data),
                        (None, Some(previous)) => {
                            let mut j = BytesMut::with_capacity(previous.len() + data.len());
                            j.extend_from_slice(&previous);
                            j.extend_from_slice(&data);
                            joined = Some(j);
                        }
                    }
                    if total >= READ_AHEAD_BYTES {
                        return Poll::Ready(false);
                    }
                }
            }
        }
    })
    .await;
    let read = match (joined, first) {
        (Some(j), _) => Some(j.freeze()),
        (None, first) => first,
    };
    if ended && body.is_done() {
        ReadAhead::Complete(read.unwrap_or_default())
    } else {
        ReadAhead::Partial(read)
    }
}

/// The origin-form target to send upstream: the normalized path (after
/// `strip_prefix`) and the query. When the path is forwarded unchanged, the
/// client's target is reused without copying.
fn upstream_target<'u>(route: &Route, normalized_path: &str, original: &'u Uri) -> Cow<'u, str> {
    let path = route.upstream_path(normalized_path);
    if path == original.path()
        && let Some(pq) = original.path_and_query()
    {
        return Cow::Borrowed(pq.as_str());
    }
    Cow::Owned(match original.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    })
}

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
/// written (refused connect, failed first write) is retried on another
/// endpoint when it is idempotent and its body replayable.
async fn send_upstream(
    gateway: &Gateway,
    conn: &ConnectionInfo,
    pool: &Arc<UpstreamPool>,
    method: &Method,
    head: &UpstreamRequestHead<'_>,
    body: &mut OutgoingBody<'_, '_>,
) -> Result<(crate::wire::ResponseHead, UpstreamConnection, usize), UpstreamFailure> {
    let idempotent = is_idempotent(method);
    let max_attempts = if idempotent && body.is_replayable() {
        1 + pool.retries
    } else {
        1
    };
    let write_head = |out: &mut Vec<u8>, framing: Framing| head.write(out, framing);
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
        let send = pool.send(lease.index, method, idempotent, &write_head, body);
        match conn.activity.within(pool.response_timeout, send).await {
            Err(_elapsed) => {
                pool.record_failure(lease.index);
                count_error(gateway, pool, "timeout");
                return Err(UpstreamFailure {
                    status: StatusCode::GATEWAY_TIMEOUT,
                    detail: "upstream did not answer in time",
                    finding: None,
                });
            }
            Ok(Err(SendError::NotSent(error))) => {
                pool.record_failure(lease.index);
                count_error(gateway, pool, "connect");
                if attempt < max_attempts {
                    tracing::debug!(upstream = %pool.name, endpoint = %lease.endpoint.label, %error, "retrying on another endpoint");
                    exclude = Some(lease.index);
                    continue;
                }
                tracing::warn!(upstream = %pool.name, endpoint = %lease.endpoint.label, %error, "upstream unavailable");
                return Err(UpstreamFailure {
                    status: StatusCode::BAD_GATEWAY,
                    detail: "upstream unavailable",
                    finding: None,
                });
            }
            Ok(Err(SendError::ClientBody(e))) => {
                let finding = match e {
                    BodyError::TooLarge => Some(protocol::body_too_large()),
                    _ => None,
                };
                return Err(UpstreamFailure {
                    status: if finding.is_some() {
                        StatusCode::PAYLOAD_TOO_LARGE
                    } else {
                        StatusCode::BAD_REQUEST
                    },
                    detail: "request body could not be read",
                    finding,
                });
            }
            Ok(Err(SendError::Failed(error))) => {
                pool.record_failure(lease.index);
                count_error(gateway, pool, "protocol");
                tracing::warn!(upstream = %pool.name, endpoint = %lease.endpoint.label, %error, "upstream request failed");
                return Err(UpstreamFailure {
                    status: StatusCode::BAD_GATEWAY,
                    detail: "upstream unavailable",
                    finding: None,
                });
            }
            Ok(Ok((response, upstream_conn))) => {
                if response.status.is_server_error() {
                    pool.record_failure(lease.index);
                } else {
                    pool.record_success(lease.index);
                }
                return Ok((response, upstream_conn, lease.index));
            }
        }
    }
    Err(UpstreamFailure {
        status: StatusCode::BAD_GATEWAY,
        detail: "upstream unavailable",
        finding: None,
    })
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

/// The answer to `OPTIONS *`: 204 with the methods the gateway forwards.
fn server_options() -> Answer {
    let mut headers = HeaderMap::with_capacity(1);
    headers.insert(
        header::ALLOW,
        HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    Answer {
        status: StatusCode::NO_CONTENT,
        fields: AnswerFields::Generated(headers),
        request_id: None,
        extra: Vec::new(),
        body: AnswerBody::Full(Bytes::new()),
    }
}

fn block_answer(verdict: &Verdict, request_id: &str) -> Answer {
    match verdict {
        Verdict::Block {
            status,
            rule,
            reason,
            // A decoy must look like nothing: its 404 names no rule.
        } => problem(
            *status,
            reason,
            (*rule != "abuse.honeypot").then_some(*rule),
            request_id,
        ),
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
