//! `Idempotency-Key` (SPEC §4). The record of the first response is written in the SAME
//! transaction as the work, under a condition that no live record holds the key. So:
//! - a replay finds the record (its own transaction is refused on that condition, or the
//!   rule refuses because the work is already done) and answers the stored response;
//! - concurrent duplicates race, exactly one transaction commits, the others read the
//!   record it wrote;
//! - the same key with another body is 422 `idempotency_key_reused`;
//! - a refused request stores nothing and may be retried with the same key.

use sha2::{Digest, Sha256};

use super::metrics::Metric;
use super::{Ctx, Principal, Problem, Reply};
use crate::store::{IdempotencyRecord, Store, StoreError, TxFailure, backoff, count};
use vls_domain::change::{Change, Stamp, Via};
use vls_domain::trail::Actor;

/// How long a key is remembered.
pub const TTL_SECONDS: i64 = 24 * 60 * 60;
/// Optimistic-concurrency attempts before giving up with 409: changes to one agreement or
/// account commit one after another (each moves its version on), so a burst of them on one
/// agreement needs room to take turns (backoff capped at 250 ms: ~3 s at most).
const ATTEMPTS: u32 = 16;

/// A decided change: the reply it will give, what it changes (committed as one transaction
/// with the idempotency record) and who makes it (the trail entries' actor).
pub struct Planned {
    pub reply: Reply,
    pub change: Change,
    pub actor: Actor,
    /// The reply shows a secret: its idempotency record keeps it sealed with the request's
    /// sealing key ([`Ctx::with_sealing`]).
    pub seal_record: bool,
    /// Asked for on the customer's pages: the trail entries say so.
    pub via: Option<Via>,
}

impl Planned {
    /// `change`, made by `principal`, answered with `reply`.
    pub fn by(principal: &Principal, reply: Reply, change: Change) -> Self {
        Self {
            reply,
            change,
            actor: principal.actor(),
            seal_record: false,
            via: None,
        }
    }

    /// The change was asked for `via` the customer's pages (or, `None`, over JSON).
    pub fn via(mut self, via: Option<Via>) -> Self {
        self.via = via;
        self
    }

    /// The reply shows a secret (a webhook endpoint's): its record is kept sealed.
    pub fn sealed_in_record(mut self) -> Self {
        self.seal_record = true;
        self
    }
}

/// The purpose a stored answer is sealed for.
const SEALED_ANSWER: &str = "idempotency-answer";

/// The key an answer with a secret is sealed with (503 without one: nothing is written).
fn sealing(ctx: &Ctx) -> Result<&crate::sealing::SealingKey, Problem> {
    ctx.sealing().ok_or_else(|| {
        tracing::error!("no sealing key: an answer with a secret cannot be kept");
        Problem::unavailable()
    })
}

/// The key of this request, scoped to the caller, and the fingerprint of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key_hash: String,
    pub request_hash: String,
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// A key is the caller's own: role, subject AND tenant (partner or account), so a subject
/// holding tokens for two tenants can never replay one tenant's stored answer to the other.
fn scoped_key(principal: &super::Principal, raw: &str) -> String {
    let tenant = match principal {
        super::Principal::Partner { partner_id, .. } => partner_id.as_str(),
        super::Principal::CustomerAdmin { account_id, .. } => account_id.as_str(),
        _ => "",
    };
    sha256_hex(&[
        principal.role().as_str().as_bytes(),
        principal.sub().as_bytes(),
        tenant.as_bytes(),
        raw.as_bytes(),
    ])
}

/// The request's idempotency key, if it sent one (400 if the header is malformed).
pub fn key_of(ctx: &Ctx) -> Result<Option<IdempotencyKey>, Problem> {
    let Some(raw) = ctx.header("idempotency-key") else {
        return Ok(None);
    };
    let valid =
        !raw.is_empty() && raw.len() <= 255 && raw.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if !valid {
        return Err(Problem::new(
            400,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1–255 visible ASCII characters",
        ));
    }
    let principal = ctx.principal()?;
    // The same JSON with other spacing or key order is the same request.
    let canonical = serde_json::from_slice::<serde_json::Value>(ctx.body_bytes())
        .map(|v| v.to_string().into_bytes())
        .unwrap_or_else(|_| ctx.body_bytes().to_vec());
    Ok(Some(IdempotencyKey {
        key_hash: scoped_key(principal, raw),
        request_hash: sha256_hex(&[
            ctx.method.as_str().as_bytes(),
            ctx.path.as_bytes(),
            &canonical,
        ]),
    }))
}

/// What a stored record answers to this request (a sealed one opened with `ctx`'s key).
fn answer(record: IdempotencyRecord, key: &IdempotencyKey, ctx: &Ctx) -> Result<Reply, Problem> {
    if record.request_hash != key.request_hash {
        return Err(Problem::new(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request",
        ));
    }
    let mut record = record;
    if record.sealed {
        record.body = sealing(ctx)?
            .open::<String>(SEALED_ANSWER, &record.body)
            .ok_or_else(|| {
                tracing::error!("a stored answer does not open with the sealing key");
                Problem::unavailable()
            })?;
    }
    count(Metric::Replayed);
    let etag = record
        .etag
        .then(|| crate::conditional::etag_of(&record.body));
    let headers = [("location", record.location), ("etag", etag)]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect();
    Ok(Reply {
        status: record.status,
        content_type: record.content_type,
        body: record.body,
        replayed: true,
        headers,
    })
}

async fn stored(
    store: &Store,
    key: &IdempotencyKey,
    now: i64,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    Ok(store
        .idempotency(&key.key_hash)
        .await?
        .filter(|r| r.expires_at >= now))
}

/// The record of `planned`'s answer under `key` (sealed whole if it shows a secret).
fn record_of(
    planned: &Planned,
    key: &IdempotencyKey,
    ctx: &Ctx,
) -> Result<IdempotencyRecord, Problem> {
    let reply = &planned.reply;
    let body = if planned.seal_record {
        sealing(ctx)?
            .seal(SEALED_ANSWER, &reply.body)
            .ok_or_else(Problem::unavailable)?
    } else {
        reply.body.clone()
    };
    Ok(IdempotencyRecord {
        request_hash: key.request_hash.clone(),
        status: reply.status,
        content_type: reply.content_type.clone(),
        body,
        expires_at: ctx.now.timestamp() + TTL_SECONDS,
        location: reply.header("location").map(str::to_owned),
        etag: reply.header("etag").is_some(),
        sealed: planned.seal_record,
    })
}

/// Runs a mutation: `attempt` reads the state and decides; its transaction is committed
/// with the idempotency record. A lost optimistic race re-runs `attempt` on fresh state.
pub async fn mutate<Fut>(
    store: &Store,
    ctx: &Ctx,
    attempt: impl FnMut() -> Fut,
) -> Result<Reply, Problem>
where
    Fut: Future<Output = Result<Planned, Problem>>,
{
    let key = key_of(ctx)?;
    mutate_keyed(store, ctx, key, attempt).await
}

/// A key the server derives itself (the activation page's confirm: its link and the
/// session's CSRF value), so that a form submitted twice answers the first outcome.
pub fn derived_key(scope: &[&[u8]], request: &[&[u8]]) -> IdempotencyKey {
    IdempotencyKey {
        key_hash: sha256_hex(scope),
        request_hash: sha256_hex(request),
    }
}

/// The stored first answer under `key`, if a live one exists.
pub async fn replay(
    store: &Store,
    key: &IdempotencyKey,
    ctx: &Ctx,
) -> Result<Option<Reply>, Problem> {
    match stored(store, key, ctx.now.timestamp()).await? {
        Some(rec) => answer(rec, key, ctx).map(Some),
        None => Ok(None),
    }
}

/// [`mutate`] under a given key (or none).
pub async fn mutate_keyed<Fut>(
    store: &Store,
    ctx: &Ctx,
    key: Option<IdempotencyKey>,
    mut attempt: impl FnMut() -> Fut,
) -> Result<Reply, Problem>
where
    Fut: Future<Output = Result<Planned, Problem>>,
{
    let now = ctx.now.timestamp();
    for round in 0..ATTEMPTS {
        let planned = match attempt().await {
            Ok(p) => p,
            Err(problem) => {
                // The work may already have been done under this key (e.g. the order is
                // invoiced): the first response wins over the refusal it now gets.
                if let Some(k) = &key
                    && problem.status < 500
                    && let Some(rec) = stored(store, k, now).await?
                {
                    return answer(rec, k, ctx);
                }
                return Err(problem);
            }
        };
        let stamp = Stamp {
            at: ctx.now,
            actor: planned.actor.clone(),
            request_id: ctx.request_id.clone(),
            via: planned.via.clone(),
        };
        let mut tx = store.tx();
        tx.apply(&planned.change, &stamp);
        if let Some(k) = &key {
            tx.idempotency(&record_of(&planned, k, ctx)?, &k.key_hash, now);
        }
        match store.commit(tx).await {
            Ok(()) => return Ok(planned.reply),
            Err(TxFailure::Store(e)) => return Err(e.into()),
            Err(failure) => {
                if let Some(k) = &key
                    && let Some(rec) = stored(store, k, now).await?
                {
                    return answer(rec, k, ctx);
                }
                // Under If-Match the resource may have changed since it was checked: the
                // caller decides again on what it reads, not this request.
                if ctx.is_conditional() {
                    return Err(crate::conditional::precondition_failed(
                        "the resource changed while this request ran: read it again",
                    ));
                }
                tracing::info!(round, %failure, "optimistic write lost a race; retrying");
                count(Metric::ConflictRetried);
                tokio::time::sleep(backoff(round)).await;
            }
        }
    }
    count(Metric::ConflictExhausted);
    Err(Problem::concurrent_update())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_length_prefixed() {
        assert_ne!(sha256_hex(&[b"ab", b"c"]), sha256_hex(&[b"a", b"bc"]));
        assert_eq!(sha256_hex(&[b"x"]).len(), 64);
    }

    #[test]
    fn keys_are_scoped_to_the_tenant() {
        use crate::types::{AccountId, PartnerId};
        let partner = |id: &str| super::super::Principal::Partner {
            sub: "same-person".into(),
            partner_id: PartnerId::parse(id).expect("partner id"),
        };
        assert_ne!(
            scoped_key(&partner("p1"), "k"),
            scoped_key(&partner("p2"), "k")
        );
        assert_eq!(
            scoped_key(&partner("p1"), "k"),
            scoped_key(&partner("p1"), "k")
        );
        let admin = |a: &AccountId| super::super::Principal::CustomerAdmin {
            sub: "same-person".into(),
            account_id: a.clone(),
        };
        let (a, b) = (AccountId::generate(), AccountId::generate());
        assert_ne!(scoped_key(&admin(&a), "k"), scoped_key(&admin(&b), "k"));
    }

    #[test]
    fn another_body_is_a_reuse() {
        let key = IdempotencyKey {
            key_hash: "k".into(),
            request_hash: "h1".into(),
        };
        let rec = IdempotencyRecord {
            request_hash: "h2".into(),
            status: 201,
            content_type: "application/json".into(),
            body: "{}".into(),
            expires_at: 0,
            location: None,
            etag: false,
            sealed: false,
        };
        assert_eq!(
            answer(rec, &key, &ctx()).map_err(|p| p.code),
            Err("idempotency_key_reused")
        );
        let rec = IdempotencyRecord {
            request_hash: "h1".into(),
            status: 201,
            content_type: "application/json".into(),
            body: "{\"a\":1}".into(),
            expires_at: 0,
            location: Some("/a/1".into()),
            etag: true,
            sealed: false,
        };
        let reply = answer(rec, &key, &ctx()).expect("replay");
        assert_eq!(
            (reply.status, reply.body.as_str(), reply.replayed),
            (201, "{\"a\":1}", true)
        );
    }

    fn ctx() -> Ctx {
        let req = lambda_http::http::Request::builder()
            .uri("/webhook-endpoints")
            .body(lambda_http::Body::Empty)
            .expect("request");
        Ctx::from_request(req, &crate::AuthMode::local("s"), chrono::Utc::now())
    }

    #[test]
    fn an_answer_with_a_secret_is_kept_sealed_and_opens_with_the_key_alone() {
        let sealing = std::sync::Arc::new(crate::sealing::SealingKey::development("webhook"));
        let key = IdempotencyKey {
            key_hash: "k".into(),
            request_hash: "h".into(),
        };
        let body = "{\"secret\":\"whsec_abc\"}";
        let sealed = sealing.seal(SEALED_ANSWER, &body).expect("sealed");
        assert!(!sealed.contains("whsec_abc"));
        let rec = IdempotencyRecord {
            request_hash: "h".into(),
            status: 201,
            content_type: "application/json".into(),
            body: sealed,
            expires_at: 0,
            location: None,
            etag: false,
            sealed: true,
        };
        let with_key = ctx().with_sealing(sealing);
        let reply = answer(rec.clone(), &key, &with_key).expect("opened");
        assert_eq!(reply.body, body);
        assert_eq!(
            answer(rec, &key, &ctx()).map_err(|p| p.status).err(),
            Some(503),
            "without the key it cannot be answered"
        );
    }
}
