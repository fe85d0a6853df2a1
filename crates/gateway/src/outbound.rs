//! The gateway's own HTTP/1.1 calls to the services its checks depend on (a
//! JWKS endpoint, a token introspection endpoint): one connection per call,
//! TLS for `https` verified against the web PKI roots. Callers build the
//! request from an [`Endpoint`] and judge the answer's status themselves.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// Where a call goes, read once from its URL.
pub struct Endpoint {
    /// Host without IPv6 brackets: what is connected to and verified.
    host: String,
    port: u16,
    https: bool,
    /// The `Host` field to send (host and any port, as the URL wrote them).
    pub authority: String,
    /// Path and query to request.
    pub path: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("invalid URL: {e}"))?;
        let host = uri.host().ok_or("URL without host")?;
        let https = uri.scheme_str() == Some("https");
        Ok(Self {
            host: host.trim_matches(['[', ']']).to_owned(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            https,
            authority: uri.authority().map_or(host.to_owned(), |a| a.to_string()),
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        })
    }
}

/// Connects to `endpoint` and sends `request`; `purpose` names the config
/// field in TLS setup errors. The answer's body is still to read ([`body`]).
pub async fn send<B>(
    endpoint: &Endpoint,
    request: Request<B>,
    purpose: &str,
) -> Result<Response<Incoming>, String>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = tokio::net::TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    if endpoint.https {
        let config = crate::tls::client_config(None, purpose).map_err(|e| e.detail())?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls::pki_types::ServerName::try_from(endpoint.host.clone())
            .map_err(|e| format!("server name: {e}"))?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        exchange(TokioIo::new(tls), request).await
    } else {
        exchange(TokioIo::new(tcp), request).await
    }
}

async fn exchange<T, B>(io: TokioIo<T>, request: Request<B>) -> Result<Response<Incoming>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))
}

/// Reads an answer's body, refusing more than `max_bytes`.
pub async fn body(response: Response<Incoming>, max_bytes: usize) -> Result<Bytes, String> {
    let body = Limited::new(response.into_body(), max_bytes)
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?;
    Ok(body.to_bytes())
}
