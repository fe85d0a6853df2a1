//! An introspection cache hit, as the identity check pays it per request
//! with an opaque token: hash the token (SHA-256), look it up, clone the
//! principal's `Arc`. Target: under 1 µs. Run with
//! `cargo bench -p portcullis-policy --bench introspection_cache`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::StatusCode;
use portcullis_identity::{Principal, PrincipalSource};
use portcullis_policy::introspection::{
    Answer, AnswerRules, ClientAuth, IntrospectionSource, SourceSettings, token_key,
};

fn bench(c: &mut Criterion) {
    let source = IntrospectionSource::new(SourceSettings {
        url: "http://127.0.0.1:9/introspect".into(),
        client_id: "gateway".into(),
        client_secret: "secret".into(),
        client_auth: ClientAuth::Basic,
        timeout: Duration::from_secs(1),
        cache_ttl: Duration::from_secs(3600),
        negative_cache_ttl: Duration::from_secs(10),
        cache_size: 10_000,
        failure_threshold: 5,
        cool_down: Duration::from_secs(10),
        max_concurrent_calls: 64,
        on_unavailable: StatusCode::SERVICE_UNAVAILABLE,
        token_header: "authorization".into(),
        token_cookie: None,
        opaque_only: true,
        rules: AnswerRules::default(),
    });
    // A realistic fill: many tokens cached, one looked up.
    for i in 0..5_000 {
        let token = format!("opaque-token-{i:08}-2Yp6hWcX0r9QkLmN");
        let p = Principal::named(
            "user",
            &["users:read".into()],
            PrincipalSource::Introspection,
        );
        source.remember(token_key(&token), Answer::Active(p), 0);
    }
    let token = "opaque-token-00004242-2Yp6hWcX0r9QkLmN";
    let now = 1_000;
    assert!(source.authenticate(token, now).is_ok());
    c.bench_function("introspection_cache_hit", |b| {
        b.iter(|| source.authenticate(black_box(token), black_box(now)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
