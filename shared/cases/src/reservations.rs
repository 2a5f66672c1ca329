//! License Reservations (R12, R13): reserving on an agreement, and cancelling within 72 hours.

use vls_domain::access;
use vls_domain::error::RuleError;
use vls_domain::metrics::Metric;
use vls_domain::model::{Account, Agreement};
use vls_domain::rules::reservations;
use vls_domain::types::{AgreementId, Lines, ReservationId};
use vls_http::idempotency::mutate_keyed;
use vls_http::metrics::refused;
use vls_http::views::ReservationView;
use vls_http::{Answer, Ctx, Principal, Problem, Reply, associated_account};
use vls_store::Store;

use crate::By;

/// The agreement `id`, if the caller may see it (404 otherwise, as for one that never existed).
pub async fn visible_agreement(
    store: &Store,
    p: &Principal,
    id: &AgreementId,
) -> Result<Agreement, Problem> {
    store
        .agreement(id)
        .await?
        .filter(|a| access::agreement_visible(p, a))
        .ok_or_else(|| Problem::not_found("agreement"))
}

/// The account `a` is associated with, as it stands (`what` is not found when it is not).
async fn associated(store: &Store, a: &Agreement, what: &'static str) -> Result<Account, Problem> {
    associated_account(store, a)
        .await?
        .ok_or_else(|| Problem::not_found(what))
}

/// R13: reserves `lines` on the agreement for its account's administrator: 201 with the
/// reservation and its `Location`.
pub async fn reserve(
    store: &Store,
    ctx: &Ctx,
    by: &By<'_>,
    agreement: &AgreementId,
    lines: &Lines,
) -> Answer {
    mutate_keyed(store, ctx, by.key.clone(), move || async move {
        let a = visible_agreement(store, by.principal, agreement).await?;
        let account = associated(store, &a, "agreement").await?;
        let id = ReservationId::generate(&a.id);
        let made = reservations::reserve(&a, &account, lines.clone(), id, ctx.now)?;
        let view = ReservationView::new(&made.reservation, &made.agreement);
        let location = format!("/reservations/{}", made.reservation.id);
        let reply = Reply::created(&view, location).with_etag();
        Ok(by.planned(reply, made.change))
    })
    .await
}

/// The reservation `id` with its agreement, if the caller may see them (404 otherwise).
pub async fn visible_reservation(
    store: &Store,
    p: &Principal,
    id: &ReservationId,
) -> Result<(Agreement, vls_domain::model::Reservation), Problem> {
    store
        .reservation(id)
        .await?
        .filter(|(a, _)| access::agreement_visible(p, a))
        .ok_or_else(|| Problem::not_found("reservation"))
}

/// R13 (within 72 hours) and R11 (cover that cancelled direct subscriptions rely on must
/// stay, checked against the account's volume under the account's version): 200 with the
/// cancelled reservation.
pub async fn cancel(store: &Store, ctx: &Ctx, by: &By<'_>, id: &ReservationId) -> Answer {
    let answer = mutate_keyed(store, ctx, by.key.clone(), move || async move {
        let (a, r) = visible_reservation(store, by.principal, id).await?;
        ctx.precondition(&ReservationView::new(&r, &a))?;
        let account = associated(store, &a, "reservation").await?;
        let done = reservations::cancel(&r, &a, &account, ctx.now)?;
        let reply =
            Reply::ok(&ReservationView::new(&done.reservation, &done.agreement)).with_etag();
        Ok(by.planned(reply, done.change))
    })
    .await;
    let refusal = RuleError::WouldLoseReliedOnLicenses { shortfalls: vec![] };
    refused(answer, &refusal, Metric::ReservationCancelRefused)
}
