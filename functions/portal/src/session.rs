//! A person's session (SPEC §7.1 3–5): a stored record with a TTL, found by the SHA-256 of a
//! random 128-bit id that the cookie `__Host-vls_p` (`vls_p` on loopback http) carries sealed
//! for this purpose alone. It lasts a working day from sign-in and ends after a spell without
//! a request; signing out deletes it, so a copied cookie opens nothing afterwards.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use vls_http::{Ctx, Problem};
use vls_signin::Identity;
use vls_signin::session::cookie;
use vls_store::PortalSession;

use crate::App;

/// The session cookie's name (with `__Host-` over https).
pub const COOKIE: &str = "vls_p";
/// What the cookie's value is sealed for: no other cookie opens as this one.
const PURPOSE: &str = "vls portal session";

/// How long a session lasts, and how long it may go unused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub lifetime: Duration,
    pub idle: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            lifetime: Duration::hours(8),
            idle: Duration::minutes(30),
        }
    }
}

impl Timing {
    /// `PORTAL_SESSION_LIFETIME` and `PORTAL_SESSION_IDLE` (`8h`, `30m`, `20s`). Deployed,
    /// 1–12 h and 5–60 min; a value outside them, or unreadable, is logged and the default
    /// kept. The local stack takes any.
    pub fn from_env(local: bool) -> Self {
        let d = Self::default();
        let read = |name: &str, fallback: Duration, range: (Duration, Duration)| {
            let Some(raw) = vls_runtime::config::var(name) else {
                return fallback;
            };
            match parse_duration(&raw) {
                Some(v) if local || (range.0..=range.1).contains(&v) => v,
                _ => {
                    tracing::error!(
                        name,
                        raw,
                        "not a session duration allowed here: default kept"
                    );
                    fallback
                }
            }
        };
        Self {
            lifetime: read(
                "PORTAL_SESSION_LIFETIME",
                d.lifetime,
                (Duration::hours(1), Duration::hours(12)),
            ),
            idle: read(
                "PORTAL_SESSION_IDLE",
                d.idle,
                (Duration::minutes(5), Duration::minutes(60)),
            ),
        }
    }

    /// How stale `last_seen_at` may get before a request writes it again: at most once a
    /// minute, and often enough that a session in use never reads as idle.
    fn touch_every(self) -> Duration {
        (self.idle / 4).min(Duration::minutes(1))
    }
}

/// `90s`, `30m`, `8h` (a positive whole number and a unit).
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (n, unit) = raw.split_at(raw.len().checked_sub(1)?);
    let n: i64 = n.parse().ok().filter(|n| *n > 0 && *n <= 1_000_000)?;
    match unit {
        "s" => Some(Duration::seconds(n)),
        "m" => Some(Duration::minutes(n)),
        "h" => Some(Duration::hours(n)),
        _ => None,
    }
}

/// Why a session no longer works (the sign-in page says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Idle,
    Expired,
}

impl Ended {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Expired => "expired",
        }
    }
}

/// What the request's cookie leads to.
pub enum Found {
    /// A session in use: its record and the hash it is stored under.
    Live(Box<PortalSession>, String),
    /// A session that has ended, and why; its record is gone now.
    Ended(Ended),
    /// No cookie, one that does not open, or a session signed out.
    None,
}

fn hash_of(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The session the request's cookie names, as it stands at `ctx.now` (ending it if its time
/// is up, noting the request if it is still in use).
pub async fn current(app: &App, ctx: &Ctx) -> Result<Found, Problem> {
    let Some(key) = app.sign_in.cookie_key.as_ref() else {
        return Ok(Found::None);
    };
    let name = app.sign_in.cookies.host_name(COOKIE);
    let Some(id) = cookie(ctx.header("cookie"), &name).and_then(|v| key.open::<String>(PURPOSE, v))
    else {
        return Ok(Found::None);
    };
    let hash = hash_of(&id);
    let Some(session) = app.store.portal_session(&hash).await? else {
        return Ok(Found::None);
    };
    let ended = if ctx.now >= session.ends_at {
        Some(Ended::Expired)
    } else if ctx.now - session.last_seen_at > app.timing.idle {
        Some(Ended::Idle)
    } else {
        None
    };
    if let Some(why) = ended {
        app.store.end_portal_session(&hash).await?;
        tracing::info!(sub = %session.sub, ended = why.as_str(), "portal session ended");
        return Ok(Found::Ended(why));
    }
    if ctx.now - session.last_seen_at >= app.timing.touch_every() {
        app.store
            .touch_portal_session(&hash, &session, ctx.now)
            .await?;
    }
    Ok(Found::Live(Box::new(session), hash))
}

/// A new session for `who`, an administrator of `account`: its record, and the `Set-Cookie`
/// value that carries its id (`None` when no random id or sealed cookie can be had).
pub async fn start(
    app: &App,
    who: &Identity,
    account: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, Problem> {
    let Some(key) = app.sign_in.cookie_key.as_ref() else {
        return Ok(None);
    };
    let (Ok(id), Ok(csrf)) = (
        vls_signin::oidc::random_token(16),
        vls_signin::oidc::random_token(24),
    ) else {
        return Ok(None);
    };
    let Some(sealed) = key.seal(PURPOSE, &id) else {
        return Ok(None);
    };
    let session = PortalSession {
        sub: who.sub.clone(),
        email: who.email.clone(),
        email_verified: who.email_verified,
        role: "customer_admin".into(),
        account_id: account.to_owned(),
        csrf,
        signed_in_at: now,
        last_seen_at: now,
        ends_at: now + app.timing.lifetime,
    };
    app.store
        .start_portal_session(&hash_of(&id), &session)
        .await?;
    let max_age = app.timing.lifetime.num_seconds();
    Ok(Some(app.sign_in.cookies.set_host(COOKIE, &sealed, max_age)))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear(app: &App) -> String {
    app.sign_in.cookies.set_host(COOKIE, "", 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_a_number_and_a_unit() {
        assert_eq!(parse_duration("8h"), Some(Duration::hours(8)));
        assert_eq!(parse_duration("30m"), Some(Duration::minutes(30)));
        assert_eq!(parse_duration(" 20s "), Some(Duration::seconds(20)));
        for bad in ["", "h", "0m", "-5m", "5", "5d", "1.5h", "99999999s"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_session_in_use_is_noted_often_enough_never_to_read_as_idle() {
        let local = Timing {
            lifetime: Duration::seconds(60),
            idle: Duration::seconds(20),
        };
        assert_eq!(local.touch_every(), Duration::seconds(5));
        assert_eq!(Timing::default().touch_every(), Duration::minutes(1));
    }

    #[test]
    fn the_id_is_stored_only_as_its_hash() {
        let h = hash_of("abc");
        assert_eq!(h.len(), 64);
        assert!(!h.contains("abc"));
    }
}
