//! Values sealed for a purpose with a rotatable key (AES-256-GCM, a random nonce each time):
//! the activation pages' cookies, and partners' webhook signing secrets at rest and in the
//! idempotency records of the answers that show them. A sealed value opens only with the key
//! and for the purpose it was sealed for; nothing of it can be read or changed without them.

/// What a webhook endpoint's signing secrets are sealed for.
pub const WEBHOOK_SECRET: &str = "webhook-secret";

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// A rotatable AES-256-GCM key: `current` seals; a value sealed with `previous` still opens
/// while a rotation is under way.
pub struct SealingKey {
    current: LessSafeKey,
    previous: Option<LessSafeKey>,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

fn aead_key(bytes: &[u8; 32]) -> LessSafeKey {
    // A 32-byte key is always a valid AES-256 key.
    let key = UnboundKey::new(&AES_256_GCM, bytes)
        .unwrap_or_else(|_| unreachable!("32 bytes make an AES-256 key"));
    LessSafeKey::new(key)
}

/// A configured key's bytes: base64 (standard or URL-safe) of 32 bytes, or any secret of at
/// least 32 characters (a generated Secrets Manager secret), keyed through SHA-256.
fn key_bytes(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let decoded = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text))
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok());
    if decoded.is_some() {
        return decoded;
    }
    (text.len() >= 32).then(|| {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&Sha256::digest(text.as_bytes()));
        bytes
    })
}

impl SealingKey {
    pub fn new(bytes: &[u8; 32]) -> Self {
        Self {
            current: aead_key(bytes),
            previous: None,
        }
    }

    /// The key secret's versions, each base64 of 32 bytes or a secret of at least 32
    /// characters: `current` seals and opens, `previous` (if any) only opens. Either one
    /// unusable refuses the whole key.
    pub fn from_versions(current: &str, previous: Option<&str>) -> Option<Self> {
        let previous = match previous {
            Some(p) => Some(aead_key(&key_bytes(p)?)),
            None => None,
        };
        Some(Self {
            current: aead_key(&key_bytes(current)?),
            previous,
        })
    }

    /// The fixed key of the local stack for `what` (`cookie`, `webhook`; never used when
    /// deployed: the template passes a secret).
    pub fn development(what: &str) -> Self {
        let digest = Sha256::digest(format!("vls local development {what} key").as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&digest);
        Self::new(&bytes)
    }

    /// `value` sealed with the current key for `purpose` (a value sealed for one purpose never
    /// opens as another).
    pub fn seal<T: Serialize>(&self, purpose: &str, value: &T) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).ok()?;
        let mut data = serde_json::to_vec(value).ok()?;
        self.current
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

    /// The value sealed for `purpose`, if `sealed` is intact and was sealed with the current
    /// or the previous key.
    pub fn open<T: DeserializeOwned>(&self, purpose: &str, sealed: &str) -> Option<T> {
        let raw = URL_SAFE_NO_PAD.decode(sealed.trim()).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let open = |key: &LessSafeKey| -> Option<T> {
            let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
            let mut data = data.to_vec();
            // AES-GCM checks the tag in constant time.
            let plain = key
                .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut data)
                .ok()?;
            serde_json::from_slice(plain).ok()
        };
        open(&self.current).or_else(|| self.previous.as_ref().and_then(open))
    }
}
