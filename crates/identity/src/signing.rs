//! Token signing, for tests, benches and the demo-token command only: the
//! gateway verifies, it never signs. Keys are generated in memory and can be
//! exported as a JWK for the verifying side.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::keys::Algorithm;

/// A private key able to sign tokens of one family.
pub enum SigningKey {
    Hmac(Vec<u8>),
    Rsa(Box<RsaKeyPair>),
    EcP256(Box<EcdsaKeyPair>),
    EcP384(Box<EcdsaKeyPair>),
    Ed25519(Box<Ed25519KeyPair>),
}

impl SigningKey {
    /// A fresh key for `alg` (HMAC: 32 random bytes; RSA: 2048 bits).
    pub fn generate(alg: Algorithm) -> SigningKey {
        use aws_lc_rs::rand::SecureRandom;
        match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let mut secret = vec![0u8; 32];
                SystemRandom::new()
                    .fill(&mut secret)
                    .expect("the system RNG works");
                SigningKey::Hmac(secret)
            }
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => SigningKey::Rsa(Box::new(
                RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA keygen"),
            )),
            Algorithm::ES256 => SigningKey::EcP256(Box::new(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .expect("P-256 keygen"),
            )),
            Algorithm::ES384 => SigningKey::EcP384(Box::new(
                EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
                    .expect("P-384 keygen"),
            )),
            Algorithm::EdDSA => SigningKey::Ed25519(Box::new(
                Ed25519KeyPair::generate().expect("Ed25519 keygen"),
            )),
        }
    }

    /// The verifying side as a JWK (with `kid` when given).
    pub fn public_jwk(&self, kid: Option<&str>) -> Value {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let mut jwk = match self {
            SigningKey::Hmac(secret) => json!({"kty": "oct", "k": b64(secret)}),
            SigningKey::Rsa(k) => {
                let public = k.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
            SigningKey::EcP256(k) | SigningKey::EcP384(k) => {
                let point = k.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                let crv = if len == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv, "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..])})
            }
            SigningKey::Ed25519(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref())})
            }
        };
        if let Some(kid) = kid {
            jwk["kid"] = Value::String(kid.to_owned());
        }
        jwk
    }

    /// The public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo); `None`
    /// for HMAC secrets.
    pub fn public_pem(&self) -> Option<String> {
        let der: Vec<u8> = match self {
            SigningKey::Hmac(_) => return None,
            SigningKey::Rsa(k) => k.public_key().as_der().ok()?.as_ref().to_vec(),
            SigningKey::EcP256(k) | SigningKey::EcP384(k) => {
                k.public_key().as_der().ok()?.as_ref().to_vec()
            }
            SigningKey::Ed25519(k) => k.public_key().as_der().ok()?.as_ref().to_vec(),
        };
        let body = STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).ok()?);
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        Some(pem)
    }

    /// Signs `claims` with `alg` (which must suit the key) and the given
    /// header members (`kid`, or anything a test wants to forge).
    pub fn sign(&self, alg: &str, header_extra: &Value, claims: &Value) -> String {
        let mut header = json!({"alg": alg, "typ": "JWT"});
        if let (Some(h), Some(extra)) = (header.as_object_mut(), header_extra.as_object()) {
            for (k, v) in extra {
                h.insert(k.clone(), v.clone());
            }
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self.sign_bytes(Algorithm::from_name(alg), input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// The raw signature of `message`; an algorithm that does not suit the
    /// key (or `None`) gives an empty signature.
    pub fn sign_bytes(&self, alg: Option<Algorithm>, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        let Some(alg) = alg else {
            return Vec::new();
        };
        match self {
            SigningKey::Hmac(secret) => hmac_sign(alg, secret, message),
            SigningKey::Rsa(k) => {
                let encoding: &'static dyn signature::RsaEncoding = match alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_SHA512,
                    _ => return Vec::new(),
                };
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(encoding, &rng, message, &mut sig).expect("RSA sign");
                sig
            }
            SigningKey::EcP256(k) | SigningKey::EcP384(k) => {
                k.sign(&rng, message).expect("ECDSA sign").as_ref().to_vec()
            }
            SigningKey::Ed25519(k) => k.sign(message).as_ref().to_vec(),
        }
    }
}

/// HMAC tag with `secret` (also how a forger would use a public key as an
/// HMAC secret, which the confusion tests do).
pub fn hmac_sign(alg: Algorithm, secret: &[u8], message: &[u8]) -> Vec<u8> {
    let h = match alg {
        Algorithm::HS256 => aws_lc_rs::hmac::HMAC_SHA256,
        Algorithm::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
        Algorithm::HS512 => aws_lc_rs::hmac::HMAC_SHA512,
        _ => return Vec::new(),
    };
    let key = aws_lc_rs::hmac::Key::new(h, secret);
    aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
}
