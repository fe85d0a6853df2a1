//! The edge half of OAuth2 token introspection (RFC 7662): before the checks
//! run, a request whose opaque bearer token has no cached answer waits for
//! one call to the route's introspection endpoint, and the answer goes into
//! the policy's cache (`portcullis_policy::introspection`), where the
//! identity check reads it. Concurrent requests with the same uncached token
//! share that one call (single-flight). The call runs in its own task with a
//! timeout, so a client that goes away does not cancel it for the others;
//! failures feed the circuit breaker, and while it is open requests fail
//! fast (no call, no wait). No lock is held across an `.await`; the token
//! is never logged (its fingerprint is), nor the client secret.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::Full;
use portcullis_identity::fingerprint;
use portcullis_policy::Route;
use portcullis_policy::introspection::{
    Admission, Answer, DEMO_URL, IntrospectionSource, TokenKey, Transition, token_key,
};
use portcullis_policy::jwks::unix_ms;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

/// Largest introspection answer accepted.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Calls in flight, by source (its address) and token hash. Waiters hold a
/// receiver; the call's sender is dropped when its answer is stored.
type Flights = HashMap<(usize, TokenKey), watch::Receiver<()>>;
static FLIGHTS: LazyLock<Mutex<Flights>> = LazyLock::new(Default::default);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    result: &'static str,
}

/// `portcullis_introspection_calls{result}` and
/// `portcullis_introspection_circuit_opened`.
#[derive(Clone)]
pub struct IntrospectionMetrics {
    calls: Family<CallLabels, Counter>,
    circuit_opened: Counter,
}

impl IntrospectionMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = IntrospectionMetrics {
            calls: Family::default(),
            circuit_opened: Counter::default(),
        };
        registry.register(
            "introspection_calls",
            "Token introspection calls by result (active, refused, error; circuit_open and overloaded: not called)",
            m.calls.clone(),
        );
        registry.register(
            "introspection_circuit_opened",
            "Times the introspection circuit breaker opened",
            m.circuit_opened.clone(),
        );
        m
    }

    fn count(&self, result: &'static str) {
        self.calls.get_or_create(&CallLabels { result }).inc();
    }
}

/// Before the checks: when the route's policy introspects tokens and the
/// request carries one without a cached answer, introspect it (or join the
/// call already running for it) and wait, at most the call's timeout.
pub async fn introspect_before_checks(
    route: &Route,
    headers: &HeaderMap,
    metrics: &IntrospectionMetrics,
) {
    let Some(source) = route.policy.as_ref().and_then(|p| p.introspection.as_ref()) else {
        return;
    };
    let Some(token) = source.token(headers) else {
        return;
    };
    let key = token_key(token);
    let now = unix_ms();
    if source.cached(&key, now).is_some() {
        return;
    }
    let flight = (Arc::as_ptr(source) as usize, key);
    let mut waiter = {
        let Ok(mut flights) = FLIGHTS.lock() else {
            return;
        };
        match flights.get(&flight) {
            Some(rx) => rx.clone(),
            None => {
                if source.breaker.admit(now) == Admission::Refuse {
                    metrics.count("circuit_open");
                    return;
                }
                if !source.claim_call() {
                    // A probe claimed above is not lost: its slot is
                    // released, the next request probes.
                    source.breaker.release_probe();
                    metrics.count("overloaded");
                    return;
                }
                let (tx, rx) = watch::channel(());
                flights.insert(flight, rx.clone());
                tokio::spawn(call(
                    source.clone(),
                    token.to_owned(),
                    flight,
                    tx,
                    metrics.clone(),
                ));
                rx
            }
        }
    };
    let wait = source.timeout + Duration::from_millis(100);
    let _ = tokio::time::timeout(wait, waiter.changed()).await;
}

/// One introspection call: its answer cached, its outcome recorded by the
/// breaker; then the waiters are released.
async fn call(
    source: Arc<IntrospectionSource>,
    token: String,
    flight: (usize, TokenKey),
    done: watch::Sender<()>,
    metrics: IntrospectionMetrics,
) {
    let outcome = match tokio::time::timeout(source.timeout, post(&source, &token)).await {
        Ok(Ok(body)) => source.rules.evaluate(&body, unix_ms() / 1000),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(format!("no answer within {:?}", source.timeout)),
    };
    let now = unix_ms();
    match outcome {
        Ok(answer) => {
            metrics.count(match answer {
                Answer::Active(_) => "active",
                Answer::Refused(_) => "refused",
            });
            source.remember(flight.1, answer, now);
            if source.breaker.success() == Transition::Closed {
                tracing::info!(url = %source.url, "introspection endpoint answers again: circuit breaker closed");
            }
        }
        Err(error) => {
            metrics.count("error");
            tracing::warn!(
                url = %source.url,
                token = %fingerprint(&token),
                %error,
                "token introspection failed; the request is refused"
            );
            if source.breaker.failure(now) == Transition::Opened {
                metrics.circuit_opened.inc();
                tracing::warn!(
                    url = %source.url,
                    cool_down = ?source.breaker.cool_down(),
                    "introspection circuit breaker open: requests with uncached opaque tokens are refused without a call until a probe succeeds"
                );
            }
        }
    }
    if let Ok(mut flights) = FLIGHTS.lock() {
        flights.remove(&flight);
    }
    source.call_done();
    drop(done);
}

/// POSTs the token (RFC 7662 §2.1) over HTTP/1.1, TLS for `https` (web PKI
/// roots); the answer body when the endpoint says 200.
async fn post(source: &IntrospectionSource, token: &str) -> Result<Bytes, String> {
    let url = if source.url == DEMO_URL {
        let addr = crate::demo::ensure_started().ok_or("the demo API did not start")?;
        format!("http://{addr}/oauth2/introspect")
    } else {
        source.url.clone()
    };
    let endpoint = crate::outbound::Endpoint::parse(&url)?;
    let mut request = Request::post(endpoint.path.as_str())
        .header(header::HOST, endpoint.authority.as_str())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, "portcullis-introspection");
    if let Some(basic) = source.authorization() {
        request = request.header(header::AUTHORIZATION, basic);
    }
    let request = request
        .body(Full::new(Bytes::from(source.request_body(token))))
        .map_err(|e| e.to_string())?;
    let response = crate::outbound::send(&endpoint, request, "introspection").await?;
    match response.status() {
        StatusCode::OK => {}
        s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
            return Err(format!(
                "the endpoint refused the gateway's client credentials ({s}): check client_id, the client secret and client_auth"
            ));
        }
        s => return Err(format!("status {s}")),
    }
    crate::outbound::body(response, MAX_ANSWER_BYTES).await
}
