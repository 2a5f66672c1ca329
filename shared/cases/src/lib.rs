//! The use cases that more than one way in runs (SPEC §7): a JSON route and a form of the
//! customer's pages call the same code, so they make the same checks in the same order, the
//! same transaction, the same trail entries and events, under the same idempotency store.
//! What differs is who asks and how ([`By`]): the JSON routes pass the caller's bearer
//! principal and `Idempotency-Key`; the pages pass the session's administrator, a key derived
//! from the form and the session, and `via` the portal (the entries say so). Each answers the
//! JSON route's reply; the pages read what they show from it.

pub mod cancellation;
pub mod pool;
pub mod reservations;
pub mod service_requests;

use vls_domain::change::{Change, Via};
use vls_http::idempotency::{IdempotencyKey, key_of};
use vls_http::{Ctx, Planned, Principal, Problem, Reply};

/// Who asks for a change, and how the request came.
pub struct By<'a> {
    pub principal: &'a Principal,
    /// The request's idempotency key: its `Idempotency-Key` header, or one derived from a
    /// form's one-time id and the session.
    pub key: Option<IdempotencyKey>,
    /// `None` over JSON; the portal, with the session's email.
    pub via: Option<Via>,
}

impl<'a> By<'a> {
    /// A JSON request's caller and `Idempotency-Key` (400 for a malformed key).
    pub fn json(ctx: &'a Ctx) -> Result<Self, Problem> {
        Ok(Self {
            principal: ctx.principal()?,
            key: key_of(ctx)?,
            via: None,
        })
    }

    /// What a decided change commits, as made by this caller.
    fn planned(&self, reply: Reply, change: Change) -> Planned {
        Planned::by(self.principal, reply, change).via(self.via.clone())
    }
}
