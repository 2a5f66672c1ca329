//! `true-up`: the daily job (R14). Bills each passed anniversary of every due agreement once,
//! in one transaction each (README: Design decisions, True-Up).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::Instrument;
use vls::model::{Actor, Event};
use vls::rules::reservations::{TrueUp, true_up_step};
use vls::store::{Store, StoreError, TxFailure};
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

/// An agreement the job could not bill: its anniversary stays due, and the run says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    pub agreement_id: AgreementId,
    pub code: &'static str,
    pub detail: String,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub billed: Vec<Billed>,
    pub failed: Vec<Failed>,
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The rules refuse to bill this agreement as it stands (a total out of range).
    #[error(transparent)]
    Refused(#[from] vls::error::RuleError),
}

/// Bills every passed anniversary of one agreement, oldest first. `billed` collects what
/// was billed before a step failed.
pub async fn true_up_agreement(
    app: &App,
    id: &AgreementId,
    now: DateTime<Utc>,
    request_id: &str,
    billed: &mut Vec<Billed>,
) -> Result<(), StepError> {
    let mut conflicts = 0;
    loop {
        let Some(h) = app.store.agreement_holdings(id).await? else {
            return Ok(());
        };
        let Some(step) = true_up_step(&h.agreement, &h.reservations, now, OrderId::generate())?
        else {
            return Ok(());
        };
        match commit_step(app, &step, h.agreement.version, now, request_id).await {
            Ok(()) => {
                let a = &step.agreement;
                tracing::info!(agreement_id = %a.id, anniversary = %step.anniversary,
                    reservations = step.billed.len(), "true-up billed");
                billed.push(Billed {
                    agreement_id: a.id.clone(),
                    anniversary: step.anniversary,
                    order_id: step.order.as_ref().map(|o| o.id.clone()),
                    reservations: step.billed.len(),
                });
                // The usual case: the new anniversary is in the future, nothing more to read.
                if a.anniversary > now.date_naive() {
                    return Ok(());
                }
            }
            Err(TxFailure::Store(e)) => return Err(e.into()),
            // Another run billed it, or the agreement changed: read again and see.
            Err(failure) => {
                conflicts += 1;
                tracing::info!(agreement_id = %id, %failure, "true-up lost a race; re-reading");
                if conflicts > 10 {
                    return Ok(());
                }
            }
        }
    }
}

/// One billed anniversary in one transaction, under the agreement's version as read: the
/// agreement moved on, the marker that the anniversary is billed, the true-up order (if
/// anything is billable) and the audit event on the agreement's and the account's trails.
async fn commit_step(
    app: &App,
    step: &TrueUp,
    read_version: u64,
    now: DateTime<Utc>,
    request_id: &str,
) -> Result<(), TxFailure> {
    let a = &step.agreement;
    let order = step.order.as_ref();
    let event = Event::new(now, "true_up.billed", Actor::system("true-up"), request_id)
        .on_agreement(&a.id)
        .on_account(a.account_id.as_ref())
        .with(json!({
            "anniversary": step.anniversary,
            "order_id": order.map(|o| &o.id),
            "lines": order.map(|o| &o.lines),
            "reservations": step.billed.len(),
            "next_anniversary": a.anniversary,
        }));
    let mut tx = app.store.tx();
    tx.replace(a, read_version)
        .true_up_marker(&a.id, step.anniversary, order.map(|o| &o.id))
        .event(&a.id, &event);
    if let Some(order) = order {
        tx.create(order);
    }
    if let Some(acc) = &a.account_id {
        tx.event(acc, &event);
    }
    app.store.commit(tx).await
}

/// The job: every due agreement, each passed anniversary once. An agreement that cannot be
/// billed (the rules refuse it, its items do not read, the table fails on it) is logged as an
/// error and reported, and the others are billed; it stays due for the next run.
pub async fn run(app: &App, now: DateTime<Utc>, request_id: &str) -> Result<Report, StoreError> {
    let mut report = Report::default();
    for id in app.store.due_agreements(now.date_naive()).await? {
        match Box::pin(true_up_agreement(
            app,
            &id,
            now,
            request_id,
            &mut report.billed,
        ))
        .await
        {
            Ok(()) => {}
            Err(e) => {
                let code = match &e {
                    StepError::Refused(e) => e.code(),
                    StepError::Store(StoreError::Corrupt(_)) => "unreadable",
                    StepError::Store(_) => "unavailable",
                };
                tracing::error!(agreement_id = %id, code, error = %e,
                    "true-up not billed; the anniversary stays due, the others go on");
                report.failed.push(Failed {
                    agreement_id: id.clone(),
                    code,
                    detail: e.to_string(),
                });
            }
        }
    }
    Ok(report)
}

/// The scheduled invocation. It fails (so the invocation counts as an error) when an
/// agreement could not be billed, after billing every other one.
pub async fn handle(app: &App, request_id: &str, event: Value) -> Result<Value, JobFailed> {
    let span = tracing::info_span!("invocation", request_id);
    async {
        let now = event_time(&event).unwrap_or_else(Utc::now);
        let report = run(app, now, request_id).await?;
        let (billed, failed) = (report.billed.len(), report.failed.len());
        tracing::info!(now = %now, billed, failed, "true-up run");
        if !report.failed.is_empty() {
            return Err(JobFailed::Agreements(report.failed));
        }
        Ok(json!({ "now": now, "billed": report.billed }))
    }
    .instrument(span)
    .await
}

#[derive(Debug, thiserror::Error)]
pub enum JobFailed {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("agreements not billed: {0:?}")]
    Agreements(Vec<Failed>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_the_scheduled_event_time() {
        let e = json!({"detail-type": "Scheduled Event", "source": "aws.events",
                       "time": "2027-03-15T06:00:00Z"});
        assert_eq!(
            event_time(&e).map(|t| t.to_rfc3339()),
            Some("2027-03-15T06:00:00+00:00".into())
        );
        assert_eq!(event_time(&json!({})), None);
    }
}
