//! A webhook receiver for the tests: a real HTTP server on a loopback port set aside for test
//! receivers (9500–9599, the only ones the local stack lets an endpoint name), which records
//! every request it gets and answers each as its script says (200 once the script is spent).

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
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(9500);

impl Receiver {
    /// A receiver on the next free port of 9500–9599 that answers as `script` says, then 200.
    pub async fn start(script: Vec<Answer>) -> Self {
        let listener = loop {
            let port = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
            assert!(port <= 9599, "the test receivers' ports are spent");
            if let Ok(l) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                break l;
            }
        };
        let me = Self {
            port: listener.local_addr().expect("address").port(),
            received: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
        };
        let served = me.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let me = served.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let me = me.clone();
                        async move { Ok::<_, Infallible>(me.answer(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        me
    }

    /// `http://127.0.0.1:<port>/hooks`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
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
