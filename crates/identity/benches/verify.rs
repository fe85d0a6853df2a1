//! Verification cost of one token with a cached (already parsed) key: RS256,
//! ES256, EdDSA and HS256, claims checked as the gateway checks them.
//!
//! ```sh
//! cargo bench -p portcullis-identity --bench verify
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_identity::signing::SigningKey;
use portcullis_identity::{Algorithm, JwtVerifier, Key, KeySet, Validation};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let now = 1_900_000_000u64;
    let claims = json!({
        "iss": "https://issuer.example", "aud": "portcullis", "sub": "user-42",
        "exp": now + 3600, "iat": now - 60, "scope": "users:read orders:read",
    });
    let verifier = JwtVerifier::new(Validation {
        issuers: vec!["https://issuer.example".into()],
        audiences: vec!["portcullis".into()],
        ..Validation::default()
    });
    for alg in [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::HS256,
    ] {
        let signer = SigningKey::generate(alg);
        let key = Key::from_jwk(&signer.public_jwk(Some("k1"))).unwrap();
        let keys = KeySet::new(vec![key]);
        let token = signer.sign(alg.name(), &json!({"kid": "k1"}), &claims);
        assert!(verifier.verify(&token, &keys, now).is_ok());
        c.bench_function(&format!("verify {alg} (cached key)"), |b| {
            b.iter(|| {
                verifier
                    .verify(std::hint::black_box(&token), &keys, now)
                    .unwrap()
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
