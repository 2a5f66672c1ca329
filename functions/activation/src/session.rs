//! The activation pages' cookies (SPEC §3.1): a per-sign-in cookie that carries the sign-in's
//! state, nonce, PKCE verifier and the raw link, and the session cookie that says who signed
//! in for which link. Both are AES-256-GCM sealed with the configured key and carry their own
//! expiry; nothing of them is stored server-side.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a sign-in may take (the provider's page and back).
pub const SIGN_IN_TTL_MINUTES: i64 = 10;
/// How long a session lasts (the confirmation page and the confirm).
pub const SESSION_TTL_MINUTES: i64 = 15;
pub const SIGN_IN_COOKIE_PREFIX: &str = "vls_si_";

/// The key both cookies are sealed with.
pub struct CookieKey(LessSafeKey);

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey(…)")
    }
}

impl CookieKey {
    pub fn new(bytes: &[u8; 32]) -> Self {
        // A 32-byte key is always a valid AES-256 key.
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .unwrap_or_else(|_| unreachable!("32 bytes make an AES-256 key"));
        Self(LessSafeKey::new(key))
    }

    /// The key `VLS_COOKIE_KEY` gives: base64 (standard or URL-safe) of 32 bytes, or any
    /// secret of at least 32 characters (a generated Secrets Manager secret), keyed through
    /// SHA-256.
    pub fn from_config(text: &str) -> Option<Self> {
        let text = text.trim();
        let decoded = URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text))
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        if let Some(bytes) = decoded {
            return Some(Self::new(&bytes));
        }
        (text.len() >= 32).then(|| {
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(&Sha256::digest(text.as_bytes()));
            Self::new(&bytes)
        })
    }

    /// The fixed key of the local stack (never used when deployed: the template passes a
    /// secret).
    pub fn development() -> Self {
        let digest = Sha256::digest(b"vls local development cookie key");
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&digest);
        Self::new(&bytes)
    }

    /// `value` sealed for `purpose` (a cookie of one kind never opens as another).
    pub fn seal<T: Serialize>(&self, purpose: &str, value: &T) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).ok()?;
        let mut data = serde_json::to_vec(value).ok()?;
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut data,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// The value sealed for `purpose`, if `sealed` is intact and was sealed with this key.
    pub fn open<T: DeserializeOwned>(&self, purpose: &str, sealed: &str) -> Option<T> {
        let raw = URL_SAFE_NO_PAD.decode(sealed.trim()).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = data.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut data)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }
}

/// One sign-in in progress (the cookie `vls_si_<state>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// The raw link token (the provider never sees it).
    pub link: String,
    pub expires_at: DateTime<Utc>,
}

/// Who signed in, for which link (the session cookie).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The link's hash: a session works for this link only.
    pub link_hash: String,
    pub sub: String,
    pub email: Option<String>,
    pub role: Option<String>,
    pub account_id: Option<String>,
    /// Sent back with the confirm form.
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

/// How cookies are written for this deployment: `Secure` and the `__Host-` prefix over
/// https; plain names over http on loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    pub fn for_base_url(public_base_url: &str) -> Self {
        Self {
            secure: public_base_url
                .trim()
                .to_ascii_lowercase()
                .starts_with("https://"),
        }
    }

    pub fn session_name(self) -> &'static str {
        if self.secure { "__Host-vls_s" } else { "vls_s" }
    }

    fn attributes(self, path: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
    }

    pub fn set_sign_in(self, sign_in: &str, state: &str) -> String {
        format!(
            "{SIGN_IN_COOKIE_PREFIX}{state}={sign_in}; {}",
            self.attributes("/sign-in/callback", SIGN_IN_TTL_MINUTES * 60)
        )
    }

    pub fn clear_sign_in(self, state: &str) -> String {
        format!(
            "{SIGN_IN_COOKIE_PREFIX}{state}=; {}",
            self.attributes("/sign-in/callback", 0)
        )
    }

    pub fn set_session(self, session: &str) -> String {
        format!(
            "{}={session}; {}",
            self.session_name(),
            self.attributes("/", SESSION_TTL_MINUTES * 60)
        )
    }

    pub fn clear_session(self) -> String {
        format!("{}=; {}", self.session_name(), self.attributes("/", 0))
    }
}

/// A cookie's value from a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A new sign-in for `link`, expiring in ten minutes.
pub fn new_sign_in(link: &str, now: DateTime<Utc>) -> Result<(SignIn, String), String> {
    let (verifier, challenge) = crate::oidc::pkce()?;
    let sign_in = SignIn {
        // Hex-safe for a cookie name: base64url without padding.
        state: crate::oidc::random_token(16)?,
        nonce: crate::oidc::random_token(16)?,
        verifier,
        link: link.to_owned(),
        expires_at: now + Duration::minutes(SIGN_IN_TTL_MINUTES),
    };
    Ok((sign_in, challenge))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_purpose() {
        let key = CookieKey::development();
        let (sign_in, _) = new_sign_in("abc", now()).expect("random");
        let sealed = key.seal("sign-in", &sign_in).expect("sealed");
        assert_eq!(
            key.open::<SignIn>("sign-in", &sealed),
            Some(sign_in.clone())
        );
        assert_eq!(
            key.open::<SignIn>("session", &sealed),
            None,
            "another purpose"
        );
        let other = CookieKey::new(&[7u8; 32]);
        assert_eq!(
            other.open::<SignIn>("sign-in", &sealed),
            None,
            "another key"
        );
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert_eq!(key.open::<SignIn>("sign-in", &tampered), None, "tampered");
        assert_eq!(key.open::<SignIn>("sign-in", "short"), None);
        assert!(
            !key.seal("sign-in", &sign_in)
                .expect("sealed")
                .contains("abc")
        );
    }

    #[test]
    fn keys_from_configuration() {
        let b64 = URL_SAFE_NO_PAD.encode([9u8; 32]);
        assert!(CookieKey::from_config(&b64).is_some());
        let std = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        assert!(CookieKey::from_config(&std).is_some());
        assert!(CookieKey::from_config("too-short").is_none());
        let generated = "Xq7fK2mPzR9vLw3nT8bYc4dHj6sGa1eUo5iNpQrS0tVwXyZ2AbCdEfGhIjKlMn";
        let key = CookieKey::from_config(generated).expect("a long secret");
        let sealed = key.seal("p", &1u8).expect("sealed");
        let again = CookieKey::from_config(generated).expect("the same key");
        assert_eq!(again.open::<u8>("p", &sealed), Some(1));
    }

    #[test]
    fn cookies_are_host_only_http_only_and_lax() {
        let https = CookiePolicy::for_base_url("https://licensing.example.com");
        let set = https.set_session("v");
        assert!(
            set.starts_with("__Host-vls_s=v; Path=/; Max-Age=900; HttpOnly; SameSite=Lax; Secure")
        );
        let http = CookiePolicy::for_base_url("http://127.0.0.1:9000");
        assert!(http.set_session("v").starts_with("vls_s=v;"));
        assert!(!http.set_session("v").contains("Secure"));
        let si = http.set_sign_in("v", "st");
        assert!(si.starts_with("vls_si_st=v; Path=/sign-in/callback; Max-Age=600"));
        assert!(http.clear_sign_in("st").contains("Max-Age=0"));
        assert_eq!(cookie(Some("a=1; vls_s=xyz; b=2"), "vls_s"), Some("xyz"));
        assert_eq!(cookie(Some("a=1"), "vls_s"), None);
    }
}
