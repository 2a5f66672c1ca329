//! A provider of the test's own, for what the local one cannot be made to do: ID tokens
//! with chosen claims (expired, another audience, another nonce), signed by a chosen key,
//! and keys added after the function started. It serves discovery, its key set and a token
//! endpoint that answers the next token the test set.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A signing key of the test fixtures (`tests/fixtures/provider-key-<name>.der`).
#[derive(Debug, Clone)]
pub struct Key {
    pub kid: String,
    der: Vec<u8>,
    n: String,
}

impl Key {
    pub fn fixture(name: &str, kid: &str) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
        let der = std::fs::read(format!("{dir}/provider-key-{name}.der")).expect("key");
        let n = std::fs::read_to_string(format!("{dir}/provider-key-{name}.n")).expect("n");
        Self {
            kid: kid.to_owned(),
            der,
            n: n.trim().to_owned(),
        }
    }

    pub fn jwk(&self) -> Value {
        json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": self.n,
               "e": "AQAB"})
    }

    /// `claims` signed RS256 by this key (with its `kid` unless `with_kid` is false).
    pub fn sign(&self, claims: &Value, with_kid: bool) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = with_kid.then(|| self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&self.der)).expect("sign")
    }
}

#[derive(Default)]
struct State {
    keys: Vec<Value>,
    next_token: Option<String>,
    jwks_requests: usize,
}

/// The running provider; it stops with the test process.
#[derive(Clone)]
pub struct FakeProvider {
    pub issuer: String,
    state: Arc<Mutex<State>>,
}

impl FakeProvider {
    pub fn start(keys: &[&Key]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            keys: keys.iter().map(|k| k.jwk()).collect(),
            ..State::default()
        }));
        let (s, i) = (state.clone(), issuer.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, i) = (s.clone(), i.clone());
                std::thread::spawn(move || serve(stream, &s, &i));
            }
        });
        Self { issuer, state }
    }

    pub fn add_key(&self, key: &Key) {
        if let Ok(mut s) = self.state.lock() {
            s.keys.push(key.jwk());
        }
    }

    /// The ID token the token endpoint answers next (once).
    pub fn answer_next(&self, id_token: String) {
        if let Ok(mut s) = self.state.lock() {
            s.next_token = Some(id_token);
        }
    }

    pub fn jwks_requests(&self) -> usize {
        self.state.lock().map(|s| s.jwks_requests).unwrap_or(0)
    }

    /// Claims of a valid ID token for `client_id` and `nonce`, to change as a test needs.
    pub fn claims(&self, client_id: &str, nonce: &str, extra: Value) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut c = json!({
            "iss": self.issuer, "aud": [client_id], "sub": "fake-user", "nonce": nonce,
            "iat": now, "exp": now + 300, "email": "olivia@contoso.com",
            "role": "customer_admin",
        });
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        c
    }
}

fn serve(stream: std::net::TcpStream, state: &Mutex<State>, issuer: &str) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (status, answer) = match path.split('?').next().unwrap_or_default() {
        "/.well-known/openid-configuration" => (
            200,
            json!({"issuer": issuer, "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "jwks_uri": format!("{issuer}/jwks")}),
        ),
        "/jwks" => {
            let mut s = state.lock().expect("state");
            s.jwks_requests += 1;
            (200, json!({"keys": s.keys}))
        }
        "/token" => match state.lock().expect("state").next_token.take() {
            Some(t) => (200, json!({"id_token": t, "token_type": "Bearer"})),
            None => (400, json!({"error": "invalid_grant"})),
        },
        _ => (404, json!({"error": "not_found"})),
    };
    let text = answer.to_string();
    let _ = write!(
        writer,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
}
