//! An endpoint's deliveries (SPEC §6.5): listed with their attempts, one made again
//! (redeliver), a test event sent, and the partner's events replayed after a sequence.

use serde_json::json;
use vls_domain::model::{Delivery, DeliveryStatus};
use vls_domain::rules::deliveries::{self as rules, Due};
use vls_domain::rules::endpoints::{self, replay_spec};
use vls_domain::types::{DeliveryId, EndpointId, ReplayId};
use vls_http::paging::List;
use vls_http::views::DeliveryView;
use vls_http::{Answer, Ctx, Params, Planned, Problem, Reply, mutate};

use crate::App;
use crate::endpoints::{partner_and_endpoint, partner_of};

/// GET /webhook-endpoints/{id}/deliveries?status=pending|succeeded|failed|cancelled: the
/// endpoint's deliveries with their attempts, a page at a time, oldest first. The status
/// applies to the page read (a page may hold fewer than the limit and still have a next one).
pub(crate) async fn list(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let (_, e) = partner_and_endpoint(app, ctx, path).await?;
    let filter = ctx.query_param("status").filter(|s| !s.is_empty());
    let wanted = match filter.as_deref() {
        None => None,
        Some("pending") => Some(DeliveryStatus::Pending),
        Some("succeeded") => Some(DeliveryStatus::Succeeded),
        Some("failed") => Some(DeliveryStatus::Failed),
        Some("cancelled") => Some(DeliveryStatus::Cancelled),
        Some(other) => {
            let why = format!("{other:?} is not pending, succeeded, failed or cancelled");
            return Err(Problem::new(422, "invalid_status", why).at_field("status"));
        }
    };
    let key = app.config.cursor_key.as_ref();
    let names = ("deliveries", "webhook_deliveries");
    let mut list = List::new(key, names, e.id.as_str(), filter.as_deref(), p);
    let asked = list.asked(ctx)?;
    let page = app
        .store
        .deliveries_page(&e.id, asked.after.as_deref(), asked.limit, asked.descending)
        .await?;
    let shown: Vec<DeliveryView> = page
        .items
        .iter()
        .filter(|d| wanted.is_none_or(|w| d.status == w))
        .map(DeliveryView::from)
        .collect();
    list.reply(&shown, page.next.as_deref())
}

/// POST /webhook-endpoints/{id}/test: 202 `{event_id, delivery_id}`; a `webhook.test` event
/// for this endpoint alone, at most five a minute (then 429 `rate_limited`, `Retry-After`).
pub(crate) async fn test(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let made_now = Made::default();
    let made_now = &made_now;
    let reply = mutate(&app.store, ctx, move || async move {
        let (_, e) = partner_and_endpoint(app, ctx, path).await?;
        let minute = rules::minute_of(ctx.now);
        let sent = app.store.tests_sent(&e.id, minute).await?;
        let made = rules::test(&e, sent, ctx.now)?;
        let d = &made.outcome;
        made_now.set(d);
        let shown = json!({ "event_id": d.event_id, "delivery_id": d.id });
        Ok(Planned::by(p, Reply::accepted(&shown), made.change))
    })
    .await?;
    made_now.wake(app).await;
    Ok(reply)
}

/// The delivery a request made, if it committed one, for the sender's queue (a repeated
/// request, answered from the idempotency store, made none).
#[derive(Default)]
struct Made(std::sync::Mutex<Option<Due>>);

impl Made {
    fn set(&self, d: &Delivery) {
        if let Ok(mut made) = self.0.lock() {
            *made = Some(Due::of(d));
        }
    }

    /// Hands the delivery to the sender at once (if the message is lost, its sweep has it).
    async fn wake(&self, app: &App) {
        let made = self.0.lock().ok().and_then(|mut m| m.take());
        if let Some(due) = made {
            app.deliveries.wake_deliveries(&[due]).await;
        }
    }
}

/// POST /webhook-endpoints/{id}/deliveries/{delivery_id}/redeliver: 202 with a new delivery
/// of the same event (the same `webhook-id`), due at once.
pub(crate) async fn redeliver(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id = path.id::<DeliveryId>("delivery_id")?;
    let id = &id;
    let made_now = Made::default();
    let made_now = &made_now;
    let reply = mutate(&app.store, ctx, move || async move {
        let (_, e) = partner_and_endpoint(app, ctx, path).await?;
        let d = app
            .store
            .delivery(&e.id, id)
            .await?
            .ok_or_else(|| Problem::not_found("delivery"))?;
        let made = rules::redeliver(&d, ctx.now);
        made_now.set(&made.outcome);
        let reply = Reply::accepted(&DeliveryView::from(&made.outcome));
        Ok(Planned::by(p, reply, made.change))
    })
    .await?;
    made_now.wake(app).await;
    Ok(reply)
}

/// POST /webhook-endpoints/{id}/replay `{after_sequence, types?}`: 202 `{replay_id,
/// through_sequence}`; the partner's events after `after_sequence` up to its last one now,
/// delivered to this endpoint again (those it takes, of `types` if given), one replay at a
/// time (409 `replay_in_progress`); 410 `events_expired` when the event after
/// `after_sequence` is no longer kept.
pub(crate) async fn replay(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let partner = partner_of(p)?;
    let endpoint = path.id::<EndpointId>("endpoint_id")?;
    let spec = ctx.parse(replay_spec)?;
    let (endpoint, spec, id) = (&endpoint, &spec, &ReplayId::generate());
    mutate(&app.store, ctx, move || async move {
        let read = app.store.replay_context(partner, endpoint).await?;
        let (Some(partner), Some(e)) = (read.partner, read.endpoint) else {
            return Err(Problem::not_found("webhook endpoint"));
        };
        let after = spec.after_sequence;
        if read.replay.is_none() && after < read.mark {
            let next = (after, read.mark, false);
            let page = app
                .store
                .feed_page(&partner.id, next, &[], 1, ctx.now)
                .await?;
            if !page.starts_kept {
                return Err(crate::expired_after(app, ctx, &partner.id, after).await);
            }
        }
        let made = endpoints::replay(
            (&partner, &e),
            read.replay.as_ref(),
            spec.clone(),
            (id.clone(), read.mark),
            ctx.now,
        )?;
        let r = &made.outcome;
        let shown = json!({ "replay_id": r.id, "through_sequence": r.through_sequence });
        Ok(Planned::by(p, Reply::accepted(&shown), made.change))
    })
    .await
}
