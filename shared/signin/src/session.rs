//! The sign-in's cookies (SPEC §3.1): a per-sign-in cookie that carries the sign-in's state,
//! nonce, PKCE verifier and the raw link it returns to, and the session cookie that says who
//! signed in for which link (on the activation pages, the activation link). Both are
//! AES-256-GCM sealed with the configured key and carry their own expiry; nothing of them is
//! stored server-side.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How long a sign-in may take (the provider's page and back).
pub const SIGN_IN_TTL_MINUTES: i64 = 10;
/// How long a session lasts (the confirmation page and the confirm).
pub const SESSION_TTL_MINUTES: i64 = 15;
pub const SIGN_IN_COOKIE_PREFIX: &str = "vls_si_";

/// Which pages a sign-in is for (SPEC §7.6): where the provider sends the browser back, the
/// name of the cookie that carries the sign-in meanwhile, and what that cookie is sealed for,
/// so that neither set of pages opens the other's cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Door {
    pub callback_path: &'static str,
    pub cookie_prefix: &'static str,
    pub purpose: &'static str,
}

/// The activation pages' sign-in (`vls_si_<state>`, back at `/sign-in/callback`).
pub const ACTIVATION: Door = Door {
    callback_path: "/sign-in/callback",
    cookie_prefix: SIGN_IN_COOKIE_PREFIX,
    purpose: "vls sign-in",
};

/// The customer's pages' sign-in (`vls_psi_<state>`, back at `/portal/sign-in/callback`).
pub const PORTAL: Door = Door {
    callback_path: "/portal/sign-in/callback",
    cookie_prefix: "vls_psi_",
    purpose: "vls portal sign-in",
};

/// The keys both cookies are sealed with (`current` seals; a cookie sealed with `previous`
/// still opens while a rotation is under way).
pub use vls_http::sealing::SealingKey as CookieKey;

/// One sign-in in progress (the cookie `vls_si_<state>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// The raw link token the sign-in is for and returns to (the provider never sees it).
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
    /// The provider vouches for the email (`email_verified`): only then does it count as the
    /// OSM's or the account's. A user who may set their own email could otherwise claim the
    /// OSM's.
    #[serde(default)]
    pub email_verified: bool,
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
    /// The pages the sign-in cookie is for.
    pub door: Door,
}

impl CookiePolicy {
    /// The activation pages' cookies at this base URL.
    pub fn for_base_url(public_base_url: &str) -> Self {
        Self {
            secure: public_base_url
                .trim()
                .to_ascii_lowercase()
                .starts_with("https://"),
            door: ACTIVATION,
        }
    }

    /// The same policy for the sign-in cookies of another set of pages.
    pub fn at(self, door: Door) -> Self {
        Self { door, ..self }
    }

    /// A cookie of a person's own, named with `__Host-` over https (`Path=/`, no domain).
    pub fn host_name(self, name: &'static str) -> String {
        if self.secure {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        }
    }

    /// Sets the cookie `name` (named as [`Self::host_name`]) for `max_age` seconds.
    pub fn set_host(self, name: &'static str, value: &str, max_age: i64) -> String {
        format!(
            "{}={value}; {}",
            self.host_name(name),
            self.attributes("/", max_age)
        )
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
            "{}{state}={sign_in}; {}",
            self.door.cookie_prefix,
            self.attributes(self.door.callback_path, SIGN_IN_TTL_MINUTES * 60)
        )
    }

    pub fn clear_sign_in(self, state: &str) -> String {
        format!(
            "{}{state}=; {}",
            self.door.cookie_prefix,
            self.attributes(self.door.callback_path, 0)
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
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_purpose() {
        let key = CookieKey::development("cookie");
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
        assert!(CookieKey::from_versions(&b64, None).is_some());
        let std = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        assert!(CookieKey::from_versions(&std, None).is_some());
        assert!(CookieKey::from_versions("too-short", None).is_none());
        let generated = "Xq7fK2mPzR9vLw3nT8bYc4dHj6sGa1eUo5iNpQrS0tVwXyZ2AbCdEfGhIjKlMn";
        let key = CookieKey::from_versions(generated, None).expect("a long secret");
        let sealed = key.seal("p", &1u8).expect("sealed");
        let again = CookieKey::from_versions(generated, None).expect("the same key");
        assert_eq!(again.open::<u8>("p", &sealed), Some(1));
    }

    const OLD: &str = "old-cookie-key-old-cookie-key-old-cookie-key";
    const NEW: &str = "new-cookie-key-new-cookie-key-new-cookie-key";

    #[test]
    fn a_cookie_outlives_one_rotation_of_its_key() {
        let before = CookieKey::from_versions(OLD, None).expect("key");
        let sealed = before.seal("p", &7u8).expect("sealed");
        let rotating = CookieKey::from_versions(NEW, Some(OLD)).expect("key");
        assert_eq!(rotating.open::<u8>("p", &sealed), Some(7));
        assert_eq!(rotating.open::<u8>("q", &sealed), None, "another purpose");
        // New cookies are sealed with the new key: they open without the old one.
        let fresh = rotating.seal("p", &8u8).expect("sealed");
        let after = CookieKey::from_versions(NEW, None).expect("key");
        assert_eq!(after.open::<u8>("p", &fresh), Some(8));
        assert_eq!(
            before.open::<u8>("p", &fresh),
            None,
            "sealed with the new key"
        );
        // Once the previous key is dropped, the old cookie no longer opens.
        assert_eq!(after.open::<u8>("p", &sealed), None);
    }

    #[test]
    fn a_cookie_of_neither_key_is_refused() {
        let stranger = CookieKey::from_versions(&"s".repeat(32), None).expect("key");
        let sealed = stranger.seal("p", &7u8).expect("sealed");
        let ring = CookieKey::from_versions(NEW, Some(OLD)).expect("key");
        assert_eq!(ring.open::<u8>("p", &sealed), None);
    }

    #[test]
    fn an_empty_or_short_key_is_refused() {
        let short = "k".repeat(31);
        assert!(CookieKey::from_versions("", None).is_none(), "empty");
        assert!(CookieKey::from_versions(&short, None).is_none());
        assert!(
            CookieKey::from_versions(NEW, Some(&short)).is_none(),
            "short previous"
        );
        assert!(CookieKey::from_versions(&format!("{short}k"), None).is_some());
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
