//! One attempt of a delivery (SPEC §6.7): the endpoint's host resolved and every address
//! checked, the connection made to a checked address (never to what a second lookup might
//! answer), TLS with the host's name, one POST of the event's bytes with its signature
//! headers, no redirect followed; 5 s to connect, 15 s for the whole attempt.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use vls_domain::rules::deliveries::Tried;
use vls_domain::webhooks::LOCAL_RECEIVER_PORTS;
use vls_runtime::resolve::Resolver;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// What a request carries besides the event's bytes.
pub struct Signed<'a> {
    pub id: &'a str,
    pub timestamp: i64,
    pub signature: String,
}

/// How attempts connect: the TLS roots, and whether this is the local stack (whose test
/// receivers on `127.0.0.1:9500–9599` alone may be reached).
#[derive(Clone)]
pub struct Connector {
    pub tls: Arc<rustls::ClientConfig>,
    pub local: bool,
    /// Where names resolve (the same check as at create and update).
    pub resolver: Resolver,
}

impl Connector {
    /// The system's roots, and on the local stack the test CA at `WEBHOOK_TEST_CA` (a PEM
    /// file the tests make), if set.
    pub fn from_env(local: bool) -> Result<Self, String> {
        let test_ca = match vls_runtime::config::var("WEBHOOK_TEST_CA").filter(|_| local) {
            Some(path) => Some(std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?),
            None => None,
        };
        Self::trusting(local, test_ca.as_deref())
    }

    /// The system's roots, and (the local stack only) the certificates of `test_ca`, PEM.
    pub fn trusting(local: bool, test_ca: Option<&[u8]>) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        for cert in test_ca
            .filter(|_| local)
            .into_iter()
            .flat_map(rustls::pki_types::pem::PemObject::pem_slice_iter)
        {
            let cert = cert.map_err(|e| format!("the test CA: {e}"))?;
            roots.add(cert).map_err(|e| format!("the test CA: {e}"))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            tls: Arc::new(tls),
            local,
            resolver: Resolver::system(),
        })
    }

    /// A local test receiver: plain loopback allowed on its ports only.
    fn receiver(&self, ip: IpAddr, port: u16) -> bool {
        self.local && ip == IpAddr::V4(Ipv4Addr::LOCALHOST) && LOCAL_RECEIVER_PORTS.contains(&port)
    }

    /// The addresses the URL's host may be reached at: each one it resolves to must be
    /// allowed (else the attempt is refused, `address_forbidden`, before any connection).
    async fn addresses(&self, url: &url::Url) -> Result<Vec<SocketAddr>, String> {
        let port = url.port_or_known_default().ok_or("no port")?;
        let host = url.host().ok_or("no host")?;
        let found = self
            .resolver
            .checked(host, port, |ip| self.receiver(ip, port))
            .await
            .map_err(|e| e.to_string())?;
        Ok(found
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }

    /// One attempt of `body` to `url`, at `at`.
    pub async fn attempt(
        &self,
        url: &str,
        body: &str,
        signed: &Signed<'_>,
        at: DateTime<Utc>,
    ) -> Tried {
        let started = Instant::now();
        let result = tokio::time::timeout(ATTEMPT_TIMEOUT, self.send(url, body, signed)).await;
        let (status, retry_after, error) = match result {
            Ok(Ok((status, retry_after))) => (Some(status), retry_after, None),
            Ok(Err(e)) => (None, None, Some(e)),
            Err(_) => (None, None, Some("timed out after 15 s".to_owned())),
        };
        Tried {
            at,
            status,
            retry_after,
            error,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    async fn send(
        &self,
        raw: &str,
        body: &str,
        signed: &Signed<'_>,
    ) -> Result<(u16, Option<Duration>), String> {
        let url = url::Url::parse(raw).map_err(|e| format!("url: {e}"))?;
        let addresses = self.addresses(&url).await?;
        let tcp = connect(&addresses).await?;
        let request = hyper::Request::post(url.as_str())
            .header("host", host_header(&url))
            .header("content-type", "application/json")
            .header("user-agent", "vls-webhooks/1")
            .header("webhook-id", signed.id)
            .header("webhook-timestamp", signed.timestamp.to_string())
            .header("webhook-signature", signed.signature.as_str())
            .body(Full::new(Bytes::from(body.to_owned())))
            .map_err(|e| format!("request: {e}"))?;
        let response = if url.scheme() == "https" {
            let name = server_name(&url)?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("tls: {e}"))?;
            exchange(TokioIo::new(tls), request).await?
        } else {
            exchange(TokioIo::new(tcp), request).await?
        };
        Ok(response)
    }
}

fn host_header(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

fn server_name(url: &url::Url) -> Result<rustls::pki_types::ServerName<'static>, String> {
    let name = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).to_string(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).to_string(),
        Some(url::Host::Domain(d)) => d.to_owned(),
        None => return Err("no host".into()),
    };
    rustls::pki_types::ServerName::try_from(name).map_err(|e| format!("tls name: {e}"))
}

/// A connection to the first checked address that takes one, within the connect timeout.
async fn connect(addresses: &[SocketAddr]) -> Result<tokio::net::TcpStream, String> {
    let mut last = "no address".to_owned();
    for addr in addresses {
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = format!("connect {addr}: {e}"),
            Err(_) => last = format!("connect {addr}: timed out after 5 s"),
        }
    }
    Err(last)
}

/// One HTTP/1.1 request on `io`: the status and `Retry-After` (seconds) of its answer, its
/// body read and dropped. A redirect is an answer like any other: never followed.
async fn exchange<T>(
    io: TokioIo<T>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(u16, Option<Duration>), String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("http: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("http: {e}"))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let _ = response.into_body().collect().await;
    Ok((status, retry_after))
}
