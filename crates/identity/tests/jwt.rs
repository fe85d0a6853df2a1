//! JWT verification: every algorithm, and every attack the issue names.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_identity::signing::{SigningKey, hmac_sign};
use portcullis_identity::{Algorithm, AuthError, JwtVerifier, Key, KeySet, Validation};
use serde_json::{Value, json};

const NOW: u64 = 1_900_000_000;

fn claims() -> Value {
    json!({"iss": "https://issuer.example", "aud": "portcullis", "sub": "user-42",
           "exp": NOW + 600, "iat": NOW - 10, "scope": "users:read"})
}

fn verifier() -> JwtVerifier {
    JwtVerifier::new(Validation {
        issuers: vec!["https://issuer.example".into()],
        audiences: vec!["portcullis".into()],
        ..Validation::default()
    })
}

fn set_for(signer: &SigningKey, kid: &str) -> KeySet {
    KeySet::new(vec![Key::from_jwk(&signer.public_jwk(Some(kid))).unwrap()])
}

#[test]
fn every_algorithm_verifies_and_a_tampered_token_does_not() {
    for alg in Algorithm::ALL {
        let signer = SigningKey::generate(alg);
        let keys = set_for(&signer, "k1");
        let token = signer.sign(alg.name(), &json!({"kid": "k1"}), &claims());
        let p = verifier()
            .verify(&token, &keys, NOW)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(p.subject.as_deref(), Some("user-42"), "{alg}");
        assert!(p.has_scope("users:read"));
        // Change one claim, keep the signature.
        let (head, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let mut forged = claims();
        forged["sub"] = json!("admin");
        let forged = format!(
            "{head}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(forged.to_string())
        );
        assert_eq!(
            verifier().verify(&forged, &keys, NOW).unwrap_err(),
            AuthError::Signature,
            "{alg}"
        );
        // Another key of the same type does not verify it.
        let other = set_for(&SigningKey::generate(alg), "k1");
        assert_eq!(
            verifier().verify(&token, &other, NOW).unwrap_err(),
            AuthError::Signature,
            "{alg}"
        );
    }
}

#[test]
fn pem_public_keys_verify_their_algorithms_only() {
    for alg in [
        Algorithm::RS256,
        Algorithm::PS384,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let signer = SigningKey::generate(alg);
        let pem = signer.public_pem().unwrap();
        let keys = KeySet::from_file_text(&pem, None).unwrap();
        let token = signer.sign(alg.name(), &json!({}), &claims());
        assert!(
            verifier().verify(&token, &keys, NOW).is_ok(),
            "{alg} from PEM"
        );
    }
    let rsa = Key::public_pem(
        None,
        &SigningKey::generate(Algorithm::RS256).public_pem().unwrap(),
        None,
    )
    .unwrap();
    let algs = rsa.algorithms();
    assert!(
        algs.iter()
            .all(|a| a.name().starts_with("RS") || a.name().starts_with("PS")),
        "{algs:?}"
    );
    assert_eq!(algs.len(), 6);
    let ec = Key::public_pem(
        None,
        &SigningKey::generate(Algorithm::ES256).public_pem().unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(ec.algorithms(), vec![Algorithm::ES256]);
    let ed = Key::public_pem(
        None,
        &SigningKey::generate(Algorithm::EdDSA).public_pem().unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(ed.algorithms(), vec![Algorithm::EdDSA]);
}

fn unsigned(header: Value, claims: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

#[test]
fn alg_none_is_refused_in_any_spelling() {
    let signer = SigningKey::generate(Algorithm::RS256);
    let keys = set_for(&signer, "k1");
    for none in ["none", "None", "NONE"] {
        let token = unsigned(json!({"alg": none, "kid": "k1"}), &claims(), b"");
        assert_eq!(
            verifier().verify(&token, &keys, NOW).unwrap_err(),
            AuthError::AlgNone
        );
        let token = format!("{}.", &token[..token.len() - 1].trim_end_matches('.'));
        assert!(verifier().verify(&token, &keys, NOW).is_err());
    }
    let token = unsigned(json!({"kid": "k1"}), &claims(), b"x");
    assert!(matches!(
        verifier().verify(&token, &keys, NOW),
        Err(AuthError::Malformed(_))
    ));
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let signer = SigningKey::generate(Algorithm::RS256);
    let pem = signer.public_pem().unwrap();
    let keys = KeySet::from_file_text(&pem, Some("k1".into())).unwrap();
    // The classic confusion: the public key (PEM text, or its DER) as an HMAC secret.
    let header = json!({"alg": "HS256", "kid": "k1"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    let sig = hmac_sign(Algorithm::HS256, pem.as_bytes(), input.as_bytes());
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(
        verifier().verify(&token, &keys, NOW).unwrap_err(),
        AuthError::KeyMismatch
    );
    // Without a kid too.
    let keys = KeySet::from_file_text(&pem, None).unwrap();
    let header = json!({"alg": "HS256"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    let sig = hmac_sign(Algorithm::HS256, pem.as_bytes(), input.as_bytes());
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(
        verifier().verify(&token, &keys, NOW).unwrap_err(),
        AuthError::KeyMismatch
    );
    // An EC key cannot verify RS256 either, and an HMAC secret cannot verify ES256.
    let ec = SigningKey::generate(Algorithm::ES256);
    let ec_keys = set_for(&ec, "k1");
    let token = signer.sign("RS256", &json!({"kid": "k1"}), &claims());
    assert_eq!(
        verifier().verify(&token, &ec_keys, NOW).unwrap_err(),
        AuthError::KeyMismatch
    );
    let hs = SigningKey::generate(Algorithm::HS256);
    let token = ec.sign("ES256", &json!({"kid": "k1"}), &claims());
    assert_eq!(
        verifier()
            .verify(&token, &set_for(&hs, "k1"), NOW)
            .unwrap_err(),
        AuthError::KeyMismatch
    );
}

#[test]
fn a_jwk_alg_narrows_the_key() {
    let signer = SigningKey::generate(Algorithm::RS256);
    let mut jwk = signer.public_jwk(Some("k1"));
    jwk["alg"] = json!("PS256");
    let keys = KeySet::new(vec![Key::from_jwk(&jwk).unwrap()]);
    let token = signer.sign("RS256", &json!({"kid": "k1"}), &claims());
    assert_eq!(
        verifier().verify(&token, &keys, NOW).unwrap_err(),
        AuthError::KeyMismatch
    );
    jwk["alg"] = json!("HS256");
    assert!(
        Key::from_jwk(&jwk).is_err(),
        "an RSA JWK cannot claim HS256"
    );
}

#[test]
fn algorithms_outside_the_allowed_list_are_refused() {
    let signer = SigningKey::generate(Algorithm::HS256);
    let keys = set_for(&signer, "k1");
    let v = JwtVerifier::new(Validation {
        algorithms: vec![Algorithm::RS256],
        ..Validation::default()
    });
    let token = signer.sign("HS256", &json!({"kid": "k1"}), &claims());
    assert_eq!(
        v.verify(&token, &keys, NOW).unwrap_err(),
        AuthError::Algorithm
    );
    let token = signer.sign("HS999", &json!({"kid": "k1"}), &claims());
    assert_eq!(
        verifier().verify(&token, &keys, NOW).unwrap_err(),
        AuthError::Algorithm
    );
}

#[test]
fn unknown_crit_headers_are_refused() {
    let signer = SigningKey::generate(Algorithm::ES256);
    let keys = set_for(&signer, "k1");
    let token = signer.sign(
        "ES256",
        &json!({"kid": "k1", "crit": ["exp"], "exp": 1}),
        &claims(),
    );
    assert_eq!(
        verifier().verify(&token, &keys, NOW).unwrap_err(),
        AuthError::Crit
    );
}

#[test]
fn time_claims_with_skew() {
    let signer = SigningKey::generate(Algorithm::HS256);
    let keys = set_for(&signer, "k1");
    let with = |patch: Value| {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        verifier().verify(&signer.sign("HS256", &json!({"kid": "k1"}), &c), &keys, NOW)
    };
    assert_eq!(
        with(json!({"exp": NOW - 31})).unwrap_err(),
        AuthError::Expired
    );
    assert!(
        with(json!({"exp": NOW - 29})).is_ok(),
        "within the 30 s leeway"
    );
    assert_eq!(
        with(json!({"nbf": NOW + 31})).unwrap_err(),
        AuthError::NotYetValid
    );
    assert!(with(json!({"nbf": NOW + 29})).is_ok());
    assert_eq!(
        with(json!({"iat": NOW + 3600})).unwrap_err(),
        AuthError::IssuedInFuture
    );
    assert_eq!(
        with(json!({"exp": null})).unwrap_err(),
        AuthError::ClaimMissing
    );
    assert!(matches!(
        with(json!({"exp": "tomorrow"})),
        Err(AuthError::Malformed(_))
    ));
}

#[test]
fn issuer_audience_and_required_claims() {
    let signer = SigningKey::generate(Algorithm::HS256);
    let keys = set_for(&signer, "k1");
    let sign = |c: &Value| signer.sign("HS256", &json!({"kid": "k1"}), c);
    let mut c = claims();
    c["iss"] = json!("https://evil.example");
    assert_eq!(
        verifier().verify(&sign(&c), &keys, NOW).unwrap_err(),
        AuthError::Issuer
    );
    let mut c = claims();
    c["aud"] = json!("someone-else");
    assert_eq!(
        verifier().verify(&sign(&c), &keys, NOW).unwrap_err(),
        AuthError::Audience
    );
    c["aud"] = json!(["someone-else", "portcullis"]);
    assert!(verifier().verify(&sign(&c), &keys, NOW).is_ok());
    let v = JwtVerifier::new(Validation {
        required_claims: vec!["tenant".into()],
        ..Validation::default()
    });
    assert_eq!(
        v.verify(&sign(&claims()), &keys, NOW).unwrap_err(),
        AuthError::ClaimMissing
    );
}

#[test]
fn key_lookup_by_kid() {
    let a = SigningKey::generate(Algorithm::ES256);
    let b = SigningKey::generate(Algorithm::ES256);
    let jwks = json!({"keys": [a.public_jwk(Some("a")), b.public_jwk(Some("b")),
                               {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB", "kid": "enc"},
                               {"kty": "weird", "kid": "w"}]});
    let (keys, skipped) = KeySet::from_jwks(&jwks.to_string()).unwrap();
    assert_eq!((keys.len(), skipped), (2, 2));
    let ta = a.sign("ES256", &json!({"kid": "a"}), &claims());
    let tb = b.sign("ES256", &json!({"kid": "b"}), &claims());
    assert!(verifier().verify(&ta, &keys, NOW).is_ok());
    assert!(verifier().verify(&tb, &keys, NOW).is_ok());
    let tc = a.sign("ES256", &json!({"kid": "c"}), &claims());
    assert_eq!(
        verifier().verify(&tc, &keys, NOW).unwrap_err(),
        AuthError::UnknownKid
    );
    // Without a kid, two candidate keys are ambiguous.
    let t = a.sign("ES256", &json!({}), &claims());
    assert_eq!(
        verifier().verify(&t, &keys, NOW).unwrap_err(),
        AuthError::UnknownKid
    );
    assert_eq!(
        portcullis_identity::decode_header(&tc)
            .unwrap()
            .kid
            .as_deref(),
        Some("c")
    );
}

#[test]
fn garbage_never_panics() {
    let keys = set_for(&SigningKey::generate(Algorithm::HS256), "k1");
    for t in [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d",
        "!!!.@@@.###",
        "e30.e30.",
        "e30.e30.e30",
        &"a".repeat(20_000),
        "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.AAAA",
    ] {
        assert!(verifier().verify(t, &keys, NOW).is_err(), "{t:?}");
    }
    assert!(Key::hmac(None, b"short", &[]).is_err());
    assert!(KeySet::from_file_text("not a key", None).is_err());
    assert!(KeySet::from_file_text("{\"kty\": \"RSA\"}", None).is_err());
}
