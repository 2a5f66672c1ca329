//! Paged lists (SPEC §4): `?limit=` and `?cursor=`. A cursor names where the next page starts
//! and is sealed (HMAC-SHA256) to the list it came from — the list, its parent, its filter
//! and the caller's tenant — so that a caller can neither forge one nor carry one to another
//! list, another filter or another tenant's data.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::problem::Problem;
use crate::{Ctx, Reply};
use vls_domain::principal::Principal;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;
/// The shortest key cursors may be sealed with.
pub const MIN_KEY_BYTES: usize = 32;

/// `?limit=`: a whole number 1–100 (a maximum, not a promise); absent, 50. Anything else is
/// 422 `invalid_limit`.
pub fn limit(raw: Option<&str>) -> Result<usize, Problem> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    raw.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            Problem::new(
                422,
                "invalid_limit",
                format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
            )
        })
}

/// What a cursor is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Scope<'a> {
    /// The list: `agreement_events`, `account_events`, `orders`, `reservations`.
    pub list: &'a str,
    /// The id the list hangs off (an agreement's, an account's).
    pub parent: &'a str,
    /// The list's filter as asked (`?status=`), if any.
    pub filter: Option<&'a str>,
    /// Newest first (`?order=desc`).
    pub descending: bool,
    /// Whose data the caller may see: their partner or account, or `billing_support`.
    pub tenant: &'a str,
}

/// The keys cursors are sealed with (kept as keyed MACs, ready to be cloned per cursor):
/// `current` seals; a cursor sealed with `previous` still opens while a rotation is under way.
#[derive(Clone)]
pub struct CursorKey {
    current: Hmac<Sha256>,
    previous: Option<Hmac<Sha256>>,
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// The keyed MAC of a key of at least [`MIN_KEY_BYTES`] bytes.
fn mac_of(bytes: &[u8]) -> Option<Hmac<Sha256>> {
    if bytes.len() < MIN_KEY_BYTES {
        return None;
    }
    Hmac::<Sha256>::new_from_slice(bytes).ok()
}

fn tag(key: &Hmac<Sha256>, scope: &Scope<'_>, position: &str) -> Hmac<Sha256> {
    let mut mac = key.clone();
    // JSON keeps the fields apart: no two (scope, position) pairs share an encoding.
    let signed = serde_json::to_vec(&(scope, position)).unwrap_or_default();
    mac.update(&signed);
    mac
}

impl CursorKey {
    /// A key of at least [`MIN_KEY_BYTES`] bytes, with no previous one.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        Some(Self {
            current: mac_of(bytes)?,
            previous: None,
        })
    }

    /// The local stack's fixed key (never used when deployed: the template passes a secret).
    pub fn development() -> Option<Self> {
        use sha2::Digest;
        Self::new(&Sha256::digest(b"vls local development cursor key"))
    }

    /// The key secret's versions: `current` seals and opens, `previous` (if any) only opens.
    /// Either one shorter than [`MIN_KEY_BYTES`] refuses the whole key.
    pub fn from_versions(current: &str, previous: Option<&str>) -> Option<Self> {
        let previous = match previous {
            Some(p) => Some(mac_of(p.trim().as_bytes())?),
            None => None,
        };
        Some(Self {
            current: mac_of(current.trim().as_bytes())?,
            previous,
        })
    }

    /// The `next_cursor` for a position in the list `scope` names.
    pub fn seal(&self, scope: &Scope<'_>, position: &str) -> String {
        let tag = tag(&self.current, scope, position).finalize().into_bytes();
        format!("{}.{}", B64.encode(position), B64.encode(tag))
    }

    /// The position a cursor names, if the current or the previous key sealed it for this very
    /// list; otherwise 422 `invalid_cursor` (malformed, tampered with, or from another list,
    /// filter or tenant).
    pub fn open(&self, scope: &Scope<'_>, cursor: &str) -> Result<String, Problem> {
        let invalid = invalid_cursor;
        let (position, sealed) = cursor.split_once('.').ok_or_else(invalid)?;
        let position = B64.decode(position).map_err(|_| invalid())?;
        let position = String::from_utf8(position).map_err(|_| invalid())?;
        let sealed = B64.decode(sealed).map_err(|_| invalid())?;
        // `verify_slice` compares in constant time.
        let opens = |key: &Hmac<Sha256>| tag(key, scope, &position).verify_slice(&sealed).is_ok();
        if opens(&self.current) || self.previous.as_ref().is_some_and(opens) {
            Ok(position)
        } else {
            Err(invalid())
        }
    }
}

/// Whose data a caller may see, as a cursor is bound to it: their partner or account, or
/// their role when it sees every tenant's.
pub fn tenant(p: &Principal) -> String {
    match p {
        Principal::Partner { partner_id, .. } => format!("partner:{partner_id}"),
        Principal::CustomerAdmin { account_id, .. } => format!("account:{account_id}"),
        other => other.role().as_str().to_owned(),
    }
}

/// What a list request asked for: how many at most, after which position, in which order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub limit: usize,
    pub after: Option<String>,
    pub descending: bool,
}

/// `?order=`: `asc` (the default, oldest first) or `desc`; anything else is 422
/// `invalid_order`.
pub fn descending(raw: Option<&str>) -> Result<bool, Problem> {
    match raw {
        None | Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        Some(other) => Err(Problem::new(
            422,
            "invalid_order",
            format!("order must be asc or desc, not {other:?}"),
        )
        .at_field("order")),
    }
}

/// One list as one caller sees it: what its cursors are bound to, and the key they are
/// sealed with.
pub struct List<'a> {
    key: Option<&'a CursorKey>,
    name: &'static str,
    kind: &'static str,
    parent: String,
    filter: Option<String>,
    tenant: String,
    descending: bool,
}

impl<'a> List<'a> {
    /// The list `name` (the answer's field: `events`, `orders`, `reservations`) of kind
    /// `kind` hanging off `parent`, as `caller` asks for it, filtered by `filter`.
    pub fn new(
        key: Option<&'a CursorKey>,
        (name, kind): (&'static str, &'static str),
        parent: &str,
        filter: Option<&str>,
        caller: &Principal,
    ) -> Self {
        Self {
            key,
            name,
            kind,
            parent: parent.to_owned(),
            filter: filter.map(str::to_owned),
            tenant: tenant(caller),
            descending: false,
        }
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            list: self.kind,
            parent: &self.parent,
            filter: self.filter.as_deref(),
            tenant: &self.tenant,
            descending: self.descending,
        }
    }

    /// `?limit=`, `?order=` then `?cursor=`, in that order (SPEC §4: after 401, 403 and 404);
    /// the order is bound in the cursors this list gives from then on. Without a configured
    /// key no cursor can be trusted: 503.
    pub fn asked(&mut self, ctx: &Ctx) -> Result<Asked, Problem> {
        let limit = limit(ctx.query_param("limit").as_deref())?;
        self.descending = descending(ctx.query_param("order").as_deref())?;
        let after = match ctx.query_param("cursor") {
            None => None,
            Some(cursor) => Some(self.key.ok_or_else(unkeyed)?.open(&self.scope(), &cursor)?),
        };
        Ok(Asked {
            limit,
            after,
            descending: self.descending,
        })
    }

    /// A page a server-rendered list asks for itself (the customer's pages: 25, newest
    /// first), after the position `cursor` names (422 `invalid_cursor` for one this list did
    /// not give).
    pub fn asked_for(
        &mut self,
        limit: usize,
        descending: bool,
        cursor: Option<&str>,
    ) -> Result<Asked, Problem> {
        self.descending = descending;
        let after = match cursor {
            None => None,
            Some(cursor) => Some(self.key.ok_or_else(unkeyed)?.open(&self.scope(), cursor)?),
        };
        Ok(Asked {
            limit,
            after,
            descending,
        })
    }

    /// The cursor of the page after the one that ended at `next` (none when nothing follows).
    pub fn cursor(&self, next: Option<&str>) -> Result<Option<String>, Problem> {
        match next {
            None => Ok(None),
            Some(position) => Ok(Some(
                self.key.ok_or_else(unkeyed)?.seal(&self.scope(), position),
            )),
        }
    }

    /// The page as SPEC §4 answers it: `{<name>: [...], "next_cursor": …}`, the cursor `null`
    /// when nothing follows.
    pub fn reply<T: Serialize>(&self, items: &[T], next: Option<&str>) -> Result<Reply, Problem> {
        let cursor = match self.cursor(next)? {
            None => serde_json::Value::Null,
            Some(sealed) => sealed.into(),
        };
        let mut body = serde_json::Map::new();
        body.insert(
            self.name.to_owned(),
            serde_json::to_value(items).unwrap_or_default(),
        );
        body.insert("next_cursor".to_owned(), cursor);
        Ok(Reply::ok(&body))
    }
}

/// 422 `invalid_cursor`: a cursor this list did not give (or a position inside one that no
/// longer reads as this list's).
pub fn invalid_cursor() -> Problem {
    Problem::new(422, "invalid_cursor", "cursor is not one this list gave")
}

fn unkeyed() -> Problem {
    tracing::error!("the cursor key is not configured or too short: lists cannot be paged");
    Problem::new(
        503,
        "lists_unavailable",
        "lists cannot be paged now; try again later",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCOPE: Scope<'static> = Scope {
        list: "reservations",
        parent: "agr_1",
        filter: Some("active"),
        tenant: "acc_1",
        descending: false,
    };

    fn key(byte: u8) -> CursorKey {
        CursorKey::new(&[byte; MIN_KEY_BYTES]).expect("key")
    }

    #[test]
    fn a_limit_is_1_to_100_and_50_when_absent() {
        assert_eq!(limit(None), Ok(50));
        assert_eq!(limit(Some("1")), Ok(1));
        assert_eq!(limit(Some("100")), Ok(100));
        for bad in [
            "0",
            "101",
            "-1",
            "",
            "ten",
            "1.5",
            " 5",
            "99999999999999999999999",
        ] {
            assert_eq!(
                limit(Some(bad)).map_err(|p| p.code),
                Err("invalid_limit"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_cursor_opens_for_its_own_list_only() {
        let k = key(7);
        let cursor = k.seal(&SCOPE, "R#0042");
        assert_eq!(k.open(&SCOPE, &cursor), Ok("R#0042".to_owned()));
        let others = [
            Scope {
                list: "orders",
                ..SCOPE
            },
            Scope {
                parent: "agr_2",
                ..SCOPE
            },
            Scope {
                filter: None,
                ..SCOPE
            },
            Scope {
                filter: Some("billed"),
                ..SCOPE
            },
            Scope {
                tenant: "acc_2",
                ..SCOPE
            },
            Scope {
                descending: true,
                ..SCOPE
            },
        ];
        for other in others {
            assert_eq!(
                k.open(&other, &cursor).map_err(|p| p.code),
                Err("invalid_cursor"),
                "{other:?}"
            );
        }
        assert!(key(8).open(&SCOPE, &cursor).is_err(), "another key");
    }

    #[test]
    fn a_tampered_or_malformed_cursor_is_refused() {
        let k = key(7);
        let cursor = k.seal(&SCOPE, "R#0042");
        let (_, tag) = cursor.split_once('.').expect("dot");
        let moved = format!("{}.{tag}", B64.encode("R#9999"));
        let mut flipped = cursor.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).expect("ascii");
        for bad in [
            moved.as_str(),
            &flipped,
            "",
            ".",
            "abc",
            "!!.!!",
            &cursor[1..],
        ] {
            assert_eq!(
                k.open(&SCOPE, bad).map_err(|p| p.code),
                Err("invalid_cursor"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(CursorKey::new(&[1; MIN_KEY_BYTES - 1]).is_none());
        assert!(CursorKey::new(&[1; MIN_KEY_BYTES]).is_some());
        let short = "k".repeat(MIN_KEY_BYTES - 1);
        assert!(CursorKey::from_versions("", None).is_none(), "empty");
        assert!(CursorKey::from_versions(&short, None).is_none());
        assert!(
            CursorKey::from_versions(OLD, Some(&short)).is_none(),
            "short previous"
        );
        assert!(CursorKey::from_versions(&format!("{short}k"), None).is_some());
    }

    const OLD: &str = "old-cursor-key-old-cursor-key-old-cursor-key";
    const NEW: &str = "new-cursor-key-new-cursor-key-new-cursor-key";

    #[test]
    fn a_cursor_outlives_one_rotation_of_its_key() {
        let before = CursorKey::from_versions(OLD, None).expect("key");
        let cursor = before.seal(&SCOPE, "R#0042");
        let rotating = CursorKey::from_versions(NEW, Some(OLD)).expect("key");
        assert_eq!(rotating.open(&SCOPE, &cursor), Ok("R#0042".to_owned()));
        // New cursors are sealed with the new key: they open without the old one.
        let fresh = rotating.seal(&SCOPE, "R#0043");
        let after = CursorKey::from_versions(NEW, None).expect("key");
        assert_eq!(after.open(&SCOPE, &fresh), Ok("R#0043".to_owned()));
        assert!(
            before.open(&SCOPE, &fresh).is_err(),
            "sealed with the new key"
        );
        // Once the previous key is dropped, the old cursor no longer opens.
        assert_eq!(
            after.open(&SCOPE, &cursor).map_err(|p| p.code),
            Err("invalid_cursor")
        );
        // Still bound to its list under the previous key.
        let other = Scope {
            tenant: "acc_2",
            ..SCOPE
        };
        assert!(rotating.open(&other, &cursor).is_err());
    }

    #[test]
    fn a_cursor_of_neither_key_is_refused() {
        let stranger = CursorKey::from_versions(&"s".repeat(MIN_KEY_BYTES), None).expect("key");
        let cursor = stranger.seal(&SCOPE, "R#0042");
        let ring = CursorKey::from_versions(NEW, Some(OLD)).expect("key");
        assert_eq!(
            ring.open(&SCOPE, &cursor).map_err(|p| p.code),
            Err("invalid_cursor")
        );
    }
}
