//! OpenID Connect for the sign-in (SPEC §3.1): the provider's discovery document and keys,
//! fetched over HTTPS with the system's roots (plain http only on loopback) and cached per
//! process; the authorization request with PKCE; redeeming a code; verifying an ID token.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OnceCell};
use vls_http::auth::{principal_from_claims, signing_key, string_claims, verify_signed};
use vls_http::{Principal, Problem};

/// Leeway on `exp` and `nbf` of an ID token.
pub const LEEWAY_SECONDS: u64 = 60;
/// Each request to the provider gives up after this long (the page then says 503).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

pub use vls_http::auth::ClaimNames;

/// The provider and this application's registration with it.
#[derive(Debug, Clone)]
pub struct Settings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// `<public base URL>/sign-in/callback`.
    pub redirect_uri: String,
    pub claims: ClaimNames,
    /// An unknown `kid` fetches the keys again, at most this often.
    pub jwks_refetch_after: Duration,
    /// The audience of API bearer tokens (`JWT_AUDIENCE`; by default the client id, which is
    /// what a Cognito ID token carries).
    pub api_audience: String,
}

impl Settings {
    /// `OIDC_ISSUER`, `OIDC_CLIENT_ID`, `OIDC_ROLE_CLAIM`, `OIDC_ACCOUNT_CLAIM`,
    /// `OIDC_PARTNER_CLAIM`, `OIDC_EMAIL_CLAIM`; the redirect URI from `public_base_url`;
    /// `client_secret` from its secret (optional: a public client uses PKCE alone).
    pub fn from_env(public_base_url: &str, client_secret: Option<String>) -> Option<Self> {
        let var = vls_runtime::config::var;
        let client_id = var("OIDC_CLIENT_ID")?;
        Some(Self {
            issuer: var("OIDC_ISSUER")?.trim_end_matches('/').to_owned(),
            api_audience: var("JWT_AUDIENCE").unwrap_or_else(|| client_id.clone()),
            client_id,
            client_secret,
            redirect_uri: format!("{}/sign-in/callback", public_base_url.trim_end_matches('/')),
            claims: ClaimNames::from_vars(var),
            jwks_refetch_after: Duration::from_secs(60),
        })
    }
}

impl Settings {
    /// The same registration, called back at `path` of the base URL (the client's second
    /// redirect URI: the customer's pages').
    pub fn called_back_at(self, public_base_url: &str, path: &str) -> Self {
        let base = public_base_url.trim_end_matches('/');
        Self {
            redirect_uri: format!("{base}{path}"),
            ..self
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered nonsense: try again later (503).
    #[error("the identity provider cannot be reached: {0}")]
    Unreachable(String),
    /// The provider refused to redeem the code (used, expired, not ours): 401.
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The ID token does not verify: 401.
    #[error("the ID token is not valid: {0}")]
    InvalidIdToken(String),
}

/// The endpoints the discovery document names.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// Where a person signs out of the provider too (RP-initiated logout), if it says.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

struct Keys {
    set: JwkSet,
    fetched: Instant,
}

type Https = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One provider, shared by every request of the process.
pub struct Provider {
    pub settings: Settings,
    http: OnceCell<Https>,
    discovery: Mutex<Option<Discovery>>,
    keys: Mutex<Option<Keys>>,
    jwks_fetches: std::sync::atomic::AtomicUsize,
    /// After the provider failed (unreachable, timed out, a 5xx), it is not asked again until
    /// then: a provider that is down is not hit by every page, and the pages answer at once.
    down_until: std::sync::Mutex<Option<Instant>>,
    /// Requests actually sent to the provider (for tests and logs).
    requests: std::sync::atomic::AtomicUsize,
}

/// How long a failed provider is left alone.
pub const PROVIDER_DOWN_FOR: Duration = Duration::from_secs(10);

/// A URL the provider may be reached at: https, or http on a loopback address.
pub fn allowed_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://")
        || (lower.starts_with("http://") && vls_runtime::config::is_loopback_url(url))
}

/// HTTPS with the system's roots (rustls, aws-lc): the provider is not an AWS endpoint, so
/// the AWS clients' Amazon-only trust store would refuse Entra ID or Okta.
fn https_client() -> Result<Https, OidcError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OidcError::Unreachable(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(hyper_util::rt::TokioExecutor::new()).build(https))
}

/// A PKCE verifier (256 random bits, base64url) and its S256 challenge.
pub fn pkce() -> Result<(String, String), String> {
    let verifier = random_token(32)?;
    let challenge = b64(&Sha256::digest(verifier.as_bytes()));
    Ok((verifier, challenge))
}

/// `n` random bytes as unpadded base64url.
pub fn random_token(n: usize) -> Result<String, String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(b64(&bytes))
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Provider {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            http: OnceCell::new(),
            discovery: Mutex::new(None),
            keys: Mutex::new(None),
            jwks_fetches: std::sync::atomic::AtomicUsize::new(0),
            down_until: std::sync::Mutex::new(None),
            requests: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// How many requests reached out to the provider.
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn down(&self) -> bool {
        let until = self.down_until.lock().map(|u| *u).unwrap_or(None);
        until.is_some_and(|u| Instant::now() < u)
    }

    fn mark_down(&self) {
        if let Ok(mut u) = self.down_until.lock() {
            *u = Some(Instant::now() + PROVIDER_DOWN_FOR);
        }
    }

    /// Sends unless the provider failed a moment ago; a failure on the way (not a refusal)
    /// marks it down for [`PROVIDER_DOWN_FOR`].
    async fn send(&self, request: hyper::Request<Full<Bytes>>) -> Result<(u16, Value), OidcError> {
        if self.down() {
            return Err(OidcError::Unreachable(format!(
                "failed less than {}s ago: not asked again yet",
                PROVIDER_DOWN_FOR.as_secs()
            )));
        }
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let answer = self.exchange(request).await;
        if matches!(&answer, Err(_) | Ok((500.., _))) {
            self.mark_down();
        }
        answer
    }

    /// How often the keys were fetched (for tests and logs).
    pub fn jwks_fetches(&self) -> usize {
        self.jwks_fetches.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn exchange(
        &self,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<(u16, Value), OidcError> {
        let url = request.uri().to_string();
        if !allowed_url(&url) {
            return Err(OidcError::Unreachable(format!(
                "{url}: only https, or http on loopback"
            )));
        }
        let client = self
            .http
            .get_or_try_init(|| async { https_client() })
            .await?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, client.request(request))
            .await
            .map_err(|_| OidcError::Unreachable(format!("{url}: timed out")))?
            .map_err(|e| OidcError::Unreachable(format!("{url}: {e}")))?;
        let status = response.status().as_u16();
        let body = tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| OidcError::Unreachable(format!("{url}: timed out")))?
            .map_err(|e| OidcError::Unreachable(format!("{url}: {e}")))?
            .to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok((status, json))
    }

    async fn get_json(&self, url: &str) -> Result<Value, OidcError> {
        let request = hyper::Request::get(url)
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| OidcError::Unreachable(format!("{url}: {e}")))?;
        match self.send(request).await? {
            (200, json) if !json.is_null() => Ok(json),
            (status, _) => Err(OidcError::Unreachable(format!("{url}: HTTP {status}"))),
        }
    }

    /// The discovery document, fetched once per process; its `issuer` must be the
    /// configured one.
    pub async fn discovery(&self) -> Result<Discovery, OidcError> {
        let mut cached = self.discovery.lock().await;
        if let Some(d) = cached.as_ref() {
            return Ok(d.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.settings.issuer);
        let doc: Discovery = serde_json::from_value(self.get_json(&url).await?)
            .map_err(|e| OidcError::Unreachable(format!("{url}: {e}")))?;
        if doc.issuer.trim_end_matches('/') != self.settings.issuer {
            return Err(OidcError::Unreachable(format!(
                "the discovery document names issuer {:?}, not {:?}",
                doc.issuer, self.settings.issuer
            )));
        }
        *cached = Some(doc.clone());
        Ok(doc)
    }

    async fn fetch_keys(&self) -> Result<JwkSet, OidcError> {
        let uri = self.discovery().await?.jwks_uri;
        self.jwks_fetches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        serde_json::from_value(self.get_json(&uri).await?)
            .map_err(|e| OidcError::Unreachable(format!("{uri}: {e}")))
    }

    /// The key a token names: from the cached set, or — when it is not there and the set
    /// was last fetched long enough ago — from the set fetched again.
    async fn key(&self, kid: Option<&str>) -> Result<Jwk, OidcError> {
        let mut cached = self.keys.lock().await;
        if let Some(keys) = cached.as_ref() {
            if let Some(k) = signing_key(&keys.set, kid) {
                return Ok(k.clone());
            }
            if keys.fetched.elapsed() < self.settings.jwks_refetch_after {
                return Err(OidcError::InvalidIdToken(
                    "the token's signing key is unknown".into(),
                ));
            }
        }
        let set = self.fetch_keys().await?;
        let found = signing_key(&set, kid).cloned();
        *cached = Some(Keys {
            set,
            fetched: Instant::now(),
        });
        found.ok_or_else(|| OidcError::InvalidIdToken("the token's signing key is unknown".into()))
    }

    /// Where to send the browser: the authorization endpoint with code + PKCE S256, state,
    /// nonce (and `prompt=login` to sign in as someone else).
    pub async fn authorize_url(
        &self,
        state: &str,
        nonce: &str,
        challenge: &str,
        prompt_login: bool,
    ) -> Result<String, OidcError> {
        let endpoint = self.discovery().await?.authorization_endpoint;
        let query = {
            let mut q = form_urlencoded::Serializer::new(String::new());
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.settings.client_id)
                .append_pair("redirect_uri", &self.settings.redirect_uri)
                .append_pair("scope", "openid email")
                .append_pair("state", state)
                .append_pair("nonce", nonce)
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
            if prompt_login {
                q.append_pair("prompt", "login");
            }
            q.finish()
        };
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        Ok(format!("{endpoint}{sep}{query}"))
    }

    /// Redeems an authorization code (with its PKCE verifier) for an ID token.
    pub async fn redeem(&self, code: &str, verifier: &str) -> Result<String, OidcError> {
        let endpoint = self.discovery().await?.token_endpoint;
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", &self.settings.redirect_uri)
                .append_pair("client_id", &self.settings.client_id)
                .append_pair("code_verifier", verifier);
            if let Some(secret) = &self.settings.client_secret {
                form.append_pair("client_secret", secret);
            }
            form.finish()
        };
        let request = hyper::Request::post(&endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| OidcError::Unreachable(format!("{endpoint}: {e}")))?;
        match self.send(request).await? {
            (200, json) => json
                .get("id_token")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| OidcError::InvalidIdToken("the answer has no ID token".into())),
            (400..=499, json) => Err(OidcError::Refused(
                json.get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("refused")
                    .to_owned(),
            )),
            (status, _) => Err(OidcError::Unreachable(format!("{endpoint}: HTTP {status}"))),
        }
    }

    /// Verifies an ID token: the signature with the provider's key (the algorithm from the
    /// key, never `none`), `iss`, `aud` (equal to or containing the client id), `exp` and
    /// `nbf` (60 s of leeway), and the `nonce` of this sign-in. Answers its claims.
    pub async fn verify_id_token(
        &self,
        token: &str,
        nonce: &str,
    ) -> Result<HashMap<String, Value>, OidcError> {
        let claims = self
            .verify(token, &self.settings.client_id, LEEWAY_SECONDS)
            .await?;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(OidcError::InvalidIdToken(
                "the nonce is not this sign-in's".into(),
            ));
        }
        Ok(claims)
    }

    /// Verifies an API bearer token (the JSON activation route, which has no gateway
    /// authorizer) as the gateway would: the provider's keys, `iss`, the API's audience,
    /// `exp` and `nbf` with no leeway.
    pub async fn verify_bearer(&self, token: &str) -> Result<HashMap<String, Value>, OidcError> {
        self.verify(token, &self.settings.api_audience, 0).await
    }

    async fn verify(
        &self,
        token: &str,
        audience: &str,
        leeway: u64,
    ) -> Result<HashMap<String, Value>, OidcError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| OidcError::InvalidIdToken(e.to_string()))?;
        let jwk = self.key(header.kid.as_deref()).await?;
        verify_signed(token, &jwk, &self.settings.issuer, audience, leeway)
            .map_err(OidcError::InvalidIdToken)
    }

    /// The caller a verified API token names, read under this stack's claim names (the
    /// same mapping the gateway-authorized routes use).
    pub fn principal(&self, claims: &HashMap<String, Value>) -> Result<Principal, Problem> {
        principal_from_claims(&string_claims(claims), &self.settings.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider that cannot be reached is asked once, then left alone for a while: the
    /// next pages answer at once instead of each waiting on it.
    #[tokio::test]
    async fn a_failed_provider_is_not_asked_again_at_once() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let provider = Provider::new(Settings {
            issuer: format!("http://127.0.0.1:{port}"),
            client_id: "c".into(),
            client_secret: None,
            redirect_uri: "http://127.0.0.1:1/sign-in/callback".into(),
            claims: ClaimNames::default(),
            jwks_refetch_after: Duration::from_secs(60),
            api_audience: "c".into(),
        });
        assert!(matches!(
            provider.discovery().await,
            Err(OidcError::Unreachable(_))
        ));
        assert_eq!(provider.requests(), 1);
        let again = provider.discovery().await;
        assert!(matches!(&again, Err(OidcError::Unreachable(why)) if why.contains("not asked")));
        assert_eq!(provider.requests(), 1, "not asked again within the window");
    }

    #[test]
    fn only_https_or_loopback_http() {
        assert!(allowed_url("https://login.microsoftonline.com/t/v2.0"));
        assert!(allowed_url("http://127.0.0.1:9400/jwks"));
        assert!(allowed_url("http://localhost:9400"));
        assert!(!allowed_url("http://id.example.com/jwks"));
        assert!(!allowed_url("ftp://127.0.0.1/x"));
    }

    #[test]
    fn pkce_challenge_is_the_verifiers_s256() {
        let (verifier, challenge) = pkce().expect("random");
        assert_eq!(verifier.len(), 43);
        // RFC 7636 appendix B.
        let rfc = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            b64(&Sha256::digest(rfc.as_bytes())),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_ne!(verifier, challenge);
    }
}
