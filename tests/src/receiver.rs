//! A webhook receiver for the tests: a real HTTP server on a loopback port set aside for test
//! receivers (9500–9599, the only ones the local stack lets an endpoint name), which records
//! every request it gets and answers each as its script says (200 once the script is spent).
//! One may serve https, with a certificate of a test CA made for it (the sender trusts that
//! CA on the local stack only), so that deliveries take the TLS path.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16),
    /// 429 or 503 with `Retry-After: <seconds>`.
    RetryAfter(u16, u64),
    /// No answer for this long (then 200).
    Stall(Duration),
    /// 302 to this URL.
    Redirect(String),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

#[derive(Clone)]
pub struct Receiver {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
    /// Served over TLS: the test CA's certificate (PEM) that signed its own.
    pub test_ca: Option<String>,
}

/// A test CA, and a certificate it signed for 127.0.0.1 with its key: the CA's PEM and the
/// server's TLS configuration.
fn test_ca() -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "volume licensing test CA");
    let ca_key = KeyPair::generate().expect("a CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("the CA's certificate");
    let issuer = Issuer::new(ca, ca_key);
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("leaf parameters");
    let leaf_key = KeyPair::generate().expect("a server key");
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .expect("the server's certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone()], key)
        .expect("the server's TLS configuration");
    (ca_cert.pem(), Arc::new(config))
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(9500);

impl Receiver {
    /// A receiver on the next free port of 9500–9599 that answers as `script` says, then 200.
    pub async fn start(script: Vec<Answer>) -> Self {
        Self::serve(script, None).await
    }

    /// [`Receiver::start`], over https with a certificate of a test CA of its own.
    pub async fn start_tls(script: Vec<Answer>) -> Self {
        Self::serve(script, Some(test_ca())).await
    }

    async fn serve(script: Vec<Answer>, tls: Option<(String, Arc<rustls::ServerConfig>)>) -> Self {
        let listener = loop {
            let port = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
            assert!(port <= 9599, "the test receivers' ports are spent");
            if let Ok(l) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                break l;
            }
        };
        let (test_ca, config) = tls.unzip();
        let me = Self {
            port: listener.local_addr().expect("address").port(),
            received: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
            test_ca,
        };
        let served = me.clone();
        let acceptor = config.map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let me = served.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let me = me.clone();
                        async move { Ok::<_, Infallible>(me.answer(req).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    let _ = match acceptor {
                        None => http.serve_connection(TokioIo::new(stream), service).await,
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(tls) => http.serve_connection(TokioIo::new(tls), service).await,
                            Err(_) => Ok(()),
                        },
                    };
                });
            }
        });
        me
    }

    /// `http://127.0.0.1:<port>/hooks` (https for a TLS receiver).
    pub fn url(&self) -> String {
        let scheme = if self.test_ca.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}/hooks", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    async fn answer(&self, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default();
        self.received.lock().expect("lock").push(Received {
            path,
            headers,
            body,
            at: Instant::now(),
        });
        let next = self.script.lock().expect("lock").pop_front();
        let response = hyper::Response::builder();
        let response = match next {
            None => response.status(200),
            Some(Answer::Status(s)) => response.status(s),
            Some(Answer::RetryAfter(s, secs)) => {
                response.status(s).header("retry-after", secs.to_string())
            }
            Some(Answer::Stall(d)) => {
                tokio::time::sleep(d).await;
                response.status(200)
            }
            Some(Answer::Redirect(to)) => response.status(302).header("location", to),
        };
        response.body(Full::new(Bytes::new())).expect("a response")
    }
}
