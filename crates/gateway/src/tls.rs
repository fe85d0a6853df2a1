//! TLS for both sides: the listener's server config (certificate, ALPN,
//! optional or required client certificates) with the verified client's
//! identity extracted for the checks, and the upstream client config (custom
//! CA, client certificate for mTLS to upstreams). Errors name the file and the
//! config field they came from.

use std::path::Path;
use std::sync::Arc;

use portcullis_policy::PeerIdentity;
use portcullis_policy::config::{ClientAuthMode, ServerTlsConfig, UpstreamTlsConfig};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
#[error("{field}: {path}: {message}")]
pub struct TlsConfigError {
    pub field: String,
    pub path: String,
    pub message: String,
}

impl TlsConfigError {
    /// The message without the field (for errors that name the field separately).
    pub fn detail(&self) -> String {
        format!("{}: {}", self.path, self.message)
    }
}

fn err(field: &str, path: &Path, message: impl std::fmt::Display) -> TlsConfigError {
    TlsConfigError {
        field: field.to_owned(),
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Installs the process-wide crypto provider (aws-lc-rs) once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn load_certs(field: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(field, path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(field, path, e))?;
    if certs.is_empty() {
        return Err(err(field, path, "no PEM certificate found"));
    }
    Ok(certs)
}

fn load_key(field: &str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| err(field, path, format!("no usable PEM private key: {e}")))
}

fn load_roots(field: &str, path: &Path) -> Result<RootCertStore, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(field, path)? {
        roots.add(cert).map_err(|e| err(field, path, e))?;
    }
    Ok(roots)
}

/// The listener's rustls config. `field` is the config path of the `tls` block.
pub fn server_config(
    tls: &ServerTlsConfig,
    http2: bool,
    field: &str,
) -> Result<Arc<rustls::ServerConfig>, TlsConfigError> {
    install_crypto_provider();
    let certs = load_certs(&format!("{field}.cert"), &tls.cert)?;
    let key = load_key(&format!("{field}.key"), &tls.key)?;
    let builder = rustls::ServerConfig::builder();
    let builder = match &tls.client_auth {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let ca_field = format!("{field}.client_auth.ca");
            let roots = Arc::new(load_roots(&ca_field, &ca.ca)?);
            let verifier = WebPkiClientVerifier::builder(roots);
            let verifier = match ca.mode {
                ClientAuthMode::Required => verifier.build(),
                ClientAuthMode::Optional => verifier.allow_unauthenticated().build(),
            }
            .map_err(|e| err(&ca_field, &ca.ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| err(&format!("{field}.key"), &tls.key, e))?;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

/// The upstream client's rustls config.
pub fn client_config(
    tls: Option<&UpstreamTlsConfig>,
    field: &str,
) -> Result<rustls::ClientConfig, TlsConfigError> {
    install_crypto_provider();
    let roots = match tls.and_then(|t| t.ca.as_deref()) {
        Some(ca) => load_roots(&format!("{field}.ca"), ca)?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match tls.map(|t| (&t.client_cert, &t.client_key)) {
        Some((Some(cert), Some(key))) => {
            let certs = load_certs(&format!("{field}.client_cert"), cert)?;
            let key_der = load_key(&format!("{field}.client_key"), key)?;
            builder
                .with_client_auth_cert(certs, key_der)
                .map_err(|e| err(&format!("{field}.client_key"), key, e))?
        }
        Some((Some(cert), None)) => {
            return Err(err(
                &format!("{field}.client_key"),
                cert,
                "client_cert needs client_key",
            ));
        }
        Some((None, Some(key))) => {
            return Err(err(
                &format!("{field}.client_cert"),
                key,
                "client_key needs client_cert",
            ));
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(config)
}

/// The identity proven by a verified client certificate.
pub fn peer_identity(cert: &CertificateDer<'_>) -> PeerIdentity {
    let fingerprint_sha256 = Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut identity = PeerIdentity {
        fingerprint_sha256,
        ..PeerIdentity::default()
    };
    if let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) {
        identity.subject = parsed.subject().to_string();
        if let Ok(Some(san)) = parsed.subject_alternative_name() {
            use x509_parser::extensions::GeneralName;
            for name in &san.value.general_names {
                let text = match name {
                    GeneralName::DNSName(d) => format!("DNS:{d}"),
                    GeneralName::URI(u) => {
                        if identity.spiffe_id.is_none() && u.starts_with("spiffe://") {
                            identity.spiffe_id = Some((*u).to_owned());
                        }
                        format!("URI:{u}")
                    }
                    GeneralName::RFC822Name(m) => format!("email:{m}"),
                    GeneralName::IPAddress(ip) => match ip.len() {
                        4 => format!(
                            "IP:{}",
                            std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*ip).unwrap_or_default())
                        ),
                        16 => format!(
                            "IP:{}",
                            std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*ip).unwrap_or_default())
                        ),
                        _ => continue,
                    },
                    _ => continue,
                };
                identity.sans.push(text);
            }
        }
    }
    identity
}
