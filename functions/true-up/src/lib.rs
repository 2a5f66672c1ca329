//! `true-up`: the daily job (R14). The scheduled event's `time` is "now". Every agreement
//! whose anniversary is on or before today is read through the sparse due index (no scan);
//! each passed anniversary is billed on its own, oldest first, in ONE transaction that writes
//! the true-up order (if anything is billable), a marker for that anniversary, the agreement's
//! new anniversary and the audit event, under the agreement's version. A second or concurrent
//! run finds the anniversary moved on (or loses the version race and re-reads), so each
//! anniversary is billed exactly once. Reservations are never rewritten: the agreement's
//! `billed_through` makes them billed, so 250 reservations cost the same one transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::Instrument;
use vls::model::{Actor, Event};
use vls::rules::reservations::true_up_step;
use vls::store::{self, Store, StoreError, TxFailure, keys};
use vls::types::{AgreementId, OrderId};

pub struct App {
    pub store: Store,
}

/// One billed anniversary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Billed {
    pub agreement_id: AgreementId,
    pub anniversary: chrono::NaiveDate,
    pub order_id: Option<OrderId>,
    pub reservations: usize,
}

/// "Now" from a scheduled event's `time`.
pub fn event_time(event: &Value) -> Option<DateTime<Utc>> {
    event
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Bills every passed anniversary of one agreement, oldest first.
pub async fn true_up_agreement(
    app: &App,
    id: &AgreementId,
    now: DateTime<Utc>,
    request_id: &str,
) -> Result<Vec<Billed>, StoreError> {
    let mut billed = Vec::new();
    let mut conflicts = 0;
    loop {
        let Some(h) = app.store.agreement_holdings(id).await? else {
            return Ok(billed);
        };
        let Some(step) = true_up_step(&h.agreement, &h.reservations, now, OrderId::generate())
        else {
            return Ok(billed);
        };
        let a = &step.agreement;
        let event = Event {
            at: now,
            action: "true_up.billed".into(),
            actor: Actor {
                sub: "true-up".into(),
                role: "system".into(),
            },
            request_id: request_id.to_owned(),
            reason: None,
            agreement_id: Some(a.id.clone()),
            account_id: a.account_id.clone(),
            details: json!({
                "anniversary": step.anniversary,
                "order_id": step.order.as_ref().map(|o| &o.id),
                "lines": step.order.as_ref().map(|o| &o.lines),
                "reservations": step.billed,
                "next_anniversary": a.anniversary,
            }),
        };
        let mut tx = app.store.tx();
        tx.replace("agreement", store::agreement_item(a), h.agreement.version)
            .create(
                "true_up_marker",
                store::encode(
                    &json!({ "order_id": step.order.as_ref().map(|o| &o.id) }),
                    &keys::true_up(&a.id, step.anniversary),
                    "true_up",
                ),
            )
            .event(keys::agreement_events(&a.id), &event);
        if let Some(order) = &step.order {
            tx.create(
                "order",
                store::encode(order, &keys::order(&a.id, &order.id), "order"),
            )
            .create(
                "order_ref",
                store::ref_item(&keys::order_ref(&order.id), a.id.as_str()),
            );
        }
        if let Some(acc) = &a.account_id {
            tx.event(keys::account_events(acc), &event);
        }
        match app.store.commit(tx).await {
            Ok(()) => {
                tracing::info!(agreement_id = %a.id, anniversary = %step.anniversary, reservations = step.billed.len(), "true-up billed");
                billed.push(Billed {
                    agreement_id: a.id.clone(),
                    anniversary: step.anniversary,
                    order_id: step.order.map(|o| o.id),
                    reservations: step.billed.len(),
                });
                // The usual case: the new anniversary is in the future, nothing more to read.
                if a.anniversary > now.date_naive() {
                    return Ok(billed);
                }
            }
            Err(TxFailure::Store(e)) => return Err(e),
            // Another run billed it, or the agreement changed: read again and see.
            Err(failure) => {
                conflicts += 1;
                tracing::info!(agreement_id = %id, %failure, "true-up lost a race; re-reading");
                if conflicts > 10 {
                    return Ok(billed);
                }
            }
        }
    }
}

/// The job: every due agreement, each passed anniversary once.
pub async fn run(
    app: &App,
    now: DateTime<Utc>,
    request_id: &str,
) -> Result<Vec<Billed>, StoreError> {
    let mut billed = Vec::new();
    for id in app.store.due_agreements(now.date_naive()).await? {
        billed.extend(Box::pin(true_up_agreement(app, &id, now, request_id)).await?);
    }
    Ok(billed)
}

pub async fn handle(app: &App, request_id: &str, event: Value) -> Result<Value, StoreError> {
    let span = tracing::info_span!("invocation", request_id);
    async {
        let now = event_time(&event).unwrap_or_else(Utc::now);
        let billed = run(app, now, request_id).await?;
        tracing::info!(now = %now, billed = billed.len(), "true-up run");
        Ok(json!({ "now": now, "billed": billed }))
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_the_scheduled_event_time() {
        let e = json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": "2027-03-15T06:00:00Z"});
        assert_eq!(
            event_time(&e).map(|t| t.to_rfc3339()),
            Some("2027-03-15T06:00:00+00:00".into())
        );
        assert_eq!(event_time(&json!({})), None);
    }
}
