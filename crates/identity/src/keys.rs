//! Verification keys and key sets: PEM public keys, JWKs, JWKS documents and
//! HMAC secrets, parsed once into ready-to-verify keys (the signature
//! algorithms' parsed form, so a verification never re-parses DER), looked up
//! by `kid`. A key carries the algorithms its type allows, which is what
//! defeats algorithm confusion: an RSA public key can only verify RS*/PS*, an
//! HMAC secret only HS*, whatever a token's header claims.

use std::fmt;

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;

use crate::error::KeyError;

/// A JWS algorithm this crate verifies (`none` is deliberately absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Algorithm {
    pub const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn is_hmac(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    fn hmac(self) -> Option<aws_lc_rs::hmac::Algorithm> {
        Some(match self {
            Algorithm::HS256 => aws_lc_rs::hmac::HMAC_SHA256,
            Algorithm::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
            Algorithm::HS512 => aws_lc_rs::hmac::HMAC_SHA512,
            _ => return None,
        })
    }

    fn rsa(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const RSA_ALGS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// The material of one key.
enum Material {
    /// HMAC secret, one prepared key per allowed HS algorithm.
    Hmac(Vec<(Algorithm, aws_lc_rs::hmac::Key)>),
    /// A public key parsed for each algorithm it may verify.
    Public(Vec<(Algorithm, ParsedPublicKey)>),
}

/// One verification key.
pub struct Key {
    pub kid: Option<String>,
    material: Material,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms())
            .finish()
    }
}

impl Key {
    /// The algorithms this key verifies.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        match &self.material {
            Material::Hmac(v) => v.iter().map(|(a, _)| *a).collect(),
            Material::Public(v) => v.iter().map(|(a, _)| *a).collect(),
        }
    }

    pub fn supports(&self, alg: Algorithm) -> bool {
        match &self.material {
            Material::Hmac(v) => v.iter().any(|(a, _)| *a == alg),
            Material::Public(v) => v.iter().any(|(a, _)| *a == alg),
        }
    }

    /// Checks `signature` over `message`; `false` also when the key cannot
    /// be used with `alg`.
    pub fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
        match &self.material {
            Material::Hmac(v) => v
                .iter()
                .find(|(a, _)| *a == alg)
                .is_some_and(|(_, k)| aws_lc_rs::hmac::verify(k, message, sig).is_ok()),
            Material::Public(v) => v
                .iter()
                .find(|(a, _)| *a == alg)
                .is_some_and(|(_, k)| k.verify_sig(message, sig).is_ok()),
        }
    }

    /// An HMAC secret (at least 32 bytes: RFC 7518 §3.2 asks for a key as
    /// long as the hash), usable for `algorithms` (all HS* when empty).
    pub fn hmac(
        kid: Option<String>,
        secret: &[u8],
        algorithms: &[Algorithm],
    ) -> Result<Key, KeyError> {
        if secret.len() < 32 {
            return Err(KeyError::ShortSecret);
        }
        let wanted: Vec<Algorithm> = if algorithms.is_empty() {
            vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
        } else {
            algorithms.to_vec()
        };
        let mut prepared = Vec::new();
        for alg in wanted {
            let h = alg
                .hmac()
                .ok_or_else(|| KeyError::UnsupportedAlgorithm(alg.name().into()))?;
            prepared.push((alg, aws_lc_rs::hmac::Key::new(h, secret)));
        }
        Ok(Key {
            kid,
            material: Material::Hmac(prepared),
        })
    }

    /// A DER public key (SubjectPublicKeyInfo, or PKCS#1 RSAPublicKey); its
    /// type decides the algorithms, optionally narrowed to `only`.
    pub fn public_der(
        kid: Option<String>,
        der: &[u8],
        only: Option<Algorithm>,
    ) -> Result<Key, KeyError> {
        let candidates: Vec<Algorithm> = match only {
            Some(a) => vec![a],
            None => Algorithm::ALL
                .into_iter()
                .filter(|a| !a.is_hmac())
                .collect(),
        };
        let mut parsed = Vec::new();
        for alg in candidates {
            if let Some(k) = parse_for(alg, der) {
                parsed.push((alg, k));
            }
        }
        if parsed.is_empty() {
            return Err(KeyError::Rejected(match only {
                Some(a) => format!("not a public key usable with {a}"),
                None => "not an RSA (2048 bits or more), P-256, P-384 or Ed25519 public key".into(),
            }));
        }
        Ok(Key {
            kid,
            material: Material::Public(parsed),
        })
    }

    /// A PEM `PUBLIC KEY` (or `RSA PUBLIC KEY`) block.
    pub fn public_pem(
        kid: Option<String>,
        pem: &str,
        only: Option<Algorithm>,
    ) -> Result<Key, KeyError> {
        let der = pem_body(pem).ok_or(KeyError::Pem)?;
        Key::public_der(kid, &der, only)
    }

    /// One JWK object (`kty` RSA, EC, OKP or oct).
    pub fn from_jwk(jwk: &Value) -> Result<Key, KeyError> {
        let member = |name: &'static str| -> Result<&str, KeyError> {
            jwk.get(name)
                .and_then(Value::as_str)
                .ok_or(KeyError::MissingMember(name))
        };
        let b64 = |name: &'static str| -> Result<Vec<u8>, KeyError> {
            let text = member(name)?;
            URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| KeyError::Base64(name))
        };
        let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
        let alg = match jwk.get("alg").and_then(Value::as_str) {
            None => None,
            Some(name) => Some(
                Algorithm::from_name(name)
                    .ok_or_else(|| KeyError::UnsupportedAlgorithm(name.into()))?,
            ),
        };
        let kty = member("kty")?;
        let only_if = |allowed: &[Algorithm]| -> Result<Vec<Algorithm>, KeyError> {
            match alg {
                None => Ok(allowed.to_vec()),
                Some(a) if allowed.contains(&a) => Ok(vec![a]),
                Some(a) => Err(KeyError::Rejected(format!(
                    "a {kty} key cannot be used with {a}"
                ))),
            }
        };
        match kty {
            "RSA" => {
                let n = b64("n")?;
                let e = b64("e")?;
                let components = RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                };
                let mut parsed = Vec::new();
                for a in only_if(&RSA_ALGS)? {
                    let params = a
                        .rsa()
                        .ok_or(KeyError::UnsupportedAlgorithm(a.name().into()))?;
                    let k = components
                        .to_parsed_public_key(params)
                        .map_err(|e| KeyError::Rejected(e.to_string()))?;
                    parsed.push((a, k));
                }
                // Key size is only enforced at verification: refuse short
                // keys now, when it can be reported.
                if n.iter().skip_while(|b| **b == 0).count() < 256 {
                    return Err(KeyError::Rejected(
                        "RSA keys need at least 2048 bits".into(),
                    ));
                }
                Ok(Key {
                    kid,
                    material: Material::Public(parsed),
                })
            }
            "EC" => {
                let (a, len) = match member("crv")? {
                    "P-256" => (Algorithm::ES256, 32),
                    "P-384" => (Algorithm::ES384, 48),
                    other => return Err(KeyError::UnsupportedType(format!("EC {other}"))),
                };
                only_if(&[a])?;
                let x = b64("x")?;
                let y = b64("y")?;
                if x.len() != len || y.len() != len {
                    return Err(KeyError::Rejected(
                        "EC coordinates of the wrong length".into(),
                    ));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Key::public_der(kid, &point, Some(a))
            }
            "OKP" => {
                if member("crv")? != "Ed25519" {
                    return Err(KeyError::UnsupportedType(format!("OKP {}", member("crv")?)));
                }
                only_if(&[Algorithm::EdDSA])?;
                Key::public_der(kid, &b64("x")?, Some(Algorithm::EdDSA))
            }
            "oct" => {
                let algs = only_if(&[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512])?;
                Key::hmac(kid, &b64("k")?, &algs)
            }
            other => Err(KeyError::UnsupportedType(other.into())),
        }
    }
}

fn parse_for(alg: Algorithm, der: &[u8]) -> Option<ParsedPublicKey> {
    let verification: &'static dyn signature::VerificationAlgorithm = match alg {
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
        a => a.rsa()?,
    };
    // RSA keys under 2048 bits parse, but the `_2048_8192` parameters
    // refuse every signature they would verify.
    ParsedPublicKey::new(verification, der).ok()
}

/// The DER bytes of the first PEM block.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let mut inside = false;
    let mut b64 = String::new();
    for line in pem.lines().map(str::trim) {
        if line.starts_with("-----BEGIN ") {
            if !(line.contains("PUBLIC KEY")) {
                return None;
            }
            inside = true;
        } else if line.starts_with("-----END ") {
            break;
        } else if inside {
            b64.push_str(line);
        }
    }
    if !inside {
        return None;
    }
    STANDARD.decode(b64).ok()
}

/// The keys a verifier may use, looked up by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    pub fn new(keys: Vec<Key>) -> Self {
        Self { keys }
    }

    /// Parses a JWKS document (`{"keys": [...]}`). Keys of a type or
    /// algorithm this crate does not verify (e.g. `use: enc`) are skipped, so
    /// one odd key does not take the whole set down; `skipped` counts them.
    pub fn from_jwks(json: &str) -> Result<(KeySet, usize), KeyError> {
        let doc: Value = serde_json::from_str(json).map_err(|e| KeyError::Json(e.to_string()))?;
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeyError::MissingMember("keys"))?;
        let mut keys = Vec::new();
        let mut skipped = 0;
        for jwk in list {
            if jwk.get("use").and_then(Value::as_str) == Some("enc") {
                skipped += 1;
                continue;
            }
            match Key::from_jwk(jwk) {
                Ok(k) => keys.push(k),
                Err(_) => skipped += 1,
            }
        }
        Ok((KeySet { keys }, skipped))
    }

    /// Reads a key file: a JWKS, one JWK, or a PEM public key (detected).
    pub fn from_file_text(text: &str, kid: Option<String>) -> Result<KeySet, KeyError> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') {
            let doc: Value =
                serde_json::from_str(trimmed).map_err(|e| KeyError::Json(e.to_string()))?;
            if doc.get("keys").is_some() {
                let (set, _) = KeySet::from_jwks(trimmed)?;
                return Ok(set);
            }
            let mut key = Key::from_jwk(&doc)?;
            if kid.is_some() {
                key.kid = kid;
            }
            return Ok(KeySet { keys: vec![key] });
        }
        Ok(KeySet {
            keys: vec![Key::public_pem(kid, text, None)?],
        })
    }

    pub fn extend(&mut self, other: KeySet) {
        self.keys.extend(other.keys);
    }

    pub fn push(&mut self, key: Key) {
        self.keys.push(key);
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The key for a token: by `kid` when it has one; without one, the only
    /// key that supports the algorithm (ambiguity is refused).
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Lookup<'_> {
        match kid {
            Some(kid) => match self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
                Some(k) if k.supports(alg) => Lookup::Found(k),
                Some(_) => Lookup::WrongType,
                None => Lookup::UnknownKid,
            },
            None => {
                let mut usable = self.keys.iter().filter(|k| k.supports(alg));
                match (usable.next(), usable.next()) {
                    (Some(k), None) => Lookup::Found(k),
                    (Some(_), Some(_)) => Lookup::UnknownKid,
                    (None, _) if self.keys.is_empty() => Lookup::UnknownKid,
                    (None, _) => Lookup::WrongType,
                }
            }
        }
    }
}

/// What [`KeySet::find`] found.
pub enum Lookup<'k> {
    Found(&'k Key),
    UnknownKid,
    /// A key exists but its type cannot verify the token's algorithm.
    WrongType,
}
