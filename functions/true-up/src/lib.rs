//! `true-up`: the daily job (R14). The schedule's run lists the due agreements and puts one
//! message each on an SQS queue; workers (the same function, fed by the queue) bill each
//! passed anniversary once, in one transaction each (README: Design decisions, True-Up).

use chrono::{DateTime, Utc};
use futures::future::join_all;
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;
use vls_domain::change::Stamp;
use vls_domain::metrics::Metric;
use vls_domain::model::Agreement;
use vls_domain::rules::reservations::{self, TrueUp, true_up_step};
use vls_domain::trail::Actor;
use vls_domain::types::{AgreementId, OrderId};
use vls_store::count;
use vls_store::{DUE_SHARDS, Store, StoreError, TxFailure};

use vls_runtime::queue::{self, BatchResponse, Message, Queue, QueueError};

pub struct App {
    pub store: Store,
    /// Where the daily run puts the due agreements, one [`Job`] each.
    pub queue: Queue,
    /// Whether a true-up order is told to its partner (SPEC §6): always, deployed; off only
    /// for `make bench-true-up` to measure what telling costs.
    pub tell_partners: bool,
}

impl App {
    /// Configuration and clients from the environment.
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = vls_runtime::config::Config::from_env()?;
        let queue_url =
            vls_runtime::config::var("TRUE_UP_QUEUE_URL").ok_or("TRUE_UP_QUEUE_URL is not set")?;
        let sdk = vls_runtime::config::aws().await;
        Ok(Self {
            store: vls_runtime::config::store(&sdk, &config),
            queue: Queue::new(aws_sdk_sqs::Client::new(&sdk), queue_url),
            tell_partners: true,
        })
    }
}

/// One agreement to true up, as of the daily run's scheduled time (so that a message that
/// waits bills what was due that day, and a later run takes what fell due since).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Job {
    pub agreement_id: AgreementId,
    pub now: DateTime<Utc>,
}

/// One billed anniversary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Billed {
    pub agreement_id: AgreementId,
    pub anniversary: chrono::NaiveDate,
    pub order_id: Option<OrderId>,
    pub reservations: u64,
}

/// "Now" from a scheduled event's `time`.
pub fn event_time(event: &Value) -> Option<DateTime<Utc>> {
    event
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// A message the worker could not do: its agreement's anniversary stays due, and the
/// message is offered again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    pub message_id: String,
    /// `None` when the message itself does not read.
    pub agreement_id: Option<AgreementId>,
    pub code: &'static str,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The rules refuse to bill this agreement as it stands (a total out of range).
    #[error(transparent)]
    Refused(#[from] vls_domain::error::RuleError),
    /// The agreement kept changing under every attempt: the message is offered again.
    #[error("the agreement kept changing while it was billed")]
    Contended,
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
        let Some(agreement) = app.store.agreement(id).await? else {
            tracing::warn!(agreement_id = %id, "true-up: the agreement does not exist");
            count(Metric::TrueUpSkipped);
            return Ok(());
        };
        let Some(step) = true_up_step(&agreement, now, OrderId::generate(&agreement.id))? else {
            if billed.is_empty() {
                count(Metric::TrueUpUpToDate);
            }
            return Ok(());
        };
        match commit_step(app, &step, &agreement, now, request_id).await {
            Ok(()) => {
                let a = &step.agreement;
                tracing::info!(agreement_id = %a.id, anniversary = %step.anniversary,
                    reservations = step.billed, "true-up billed");
                billed.push(Billed {
                    agreement_id: a.id.clone(),
                    anniversary: step.anniversary,
                    order_id: step.order.as_ref().map(|o| o.id.clone()),
                    reservations: step.billed,
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
                    return Err(StepError::Contended);
                }
            }
        }
    }
}

/// One billed anniversary in one transaction (see `reservations::billed`). The account is
/// read only once a step is due, to order its trail.
async fn commit_step(
    app: &App,
    step: &TrueUp,
    read: &Agreement,
    now: DateTime<Utc>,
    request_id: &str,
) -> Result<(), TxFailure> {
    let held = match &read.account_id {
        Some(acc) => {
            let held = app.store.account(acc).await?;
            if held.is_none() {
                tracing::warn!(agreement_id = %read.id, account_id = %acc,
                    "true-up: the agreement's account is missing; its trail is not written");
            }
            held
        }
        None => None,
    };
    let stamp = Stamp {
        at: now,
        actor: Actor::system("true-up"),
        request_id: request_id.to_owned(),
        via: None,
    };
    let mut change = reservations::billed(step, read, held.as_ref());
    if !app.tell_partners {
        change.entries.iter_mut().for_each(|e| e.notices.clear());
    }
    app.store.commit_change(&change, &stamp).await
}

/// What the daily run handed to the workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub now: DateTime<Utc>,
    pub enqueued: usize,
}

/// Jobs sent at once per shard (each a `SendMessageBatch` of up to ten).
const SENDS_IN_FLIGHT: usize = 8;

/// The daily run: every agreement due on `now`'s date, one message each on the work queue,
/// the `DUE#` shards side by side. A shard that fails fails the run after the others are
/// sent (the schedule's retry sends them all again: duplicates bill nothing twice).
pub async fn plan(app: &App, now: DateTime<Utc>) -> Result<Planned, JobFailed> {
    let shards = (0..DUE_SHARDS).map(|shard| plan_shard(app, shard, now));
    let mut enqueued = 0;
    let mut failure = None;
    for (shard, sent) in join_all(shards).await.into_iter().enumerate() {
        match sent {
            Ok(n) => enqueued += n,
            Err(e) => {
                tracing::error!(shard, error = %e, "due agreements of a shard not all enqueued");
                failure = Some(e);
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(Planned { now, enqueued }),
    }
}

async fn plan_shard(app: &App, shard: u32, now: DateTime<Utc>) -> Result<usize, JobFailed> {
    let (mut start, mut sent) = (None, 0);
    loop {
        let (ids, next) = app
            .store
            .due_agreements_page(shard, now.date_naive(), start)
            .await?;
        let jobs: Vec<Job> = ids
            .into_iter()
            .map(|agreement_id| Job { agreement_id, now })
            .collect();
        // The sends made first (an async call does nothing until polled), then run
        // SENDS_IN_FLIGHT at a time.
        let sends: Vec<_> = jobs
            .chunks(queue::BATCH)
            .map(|batch| app.queue.send(batch))
            .collect();
        stream::iter(sends)
            .buffer_unordered(SENDS_IN_FLIGHT)
            .try_collect::<()>()
            .await?;
        sent += jobs.len();
        match next {
            Some(key) => start = Some(key),
            None => return Ok(sent),
        }
    }
}

/// What one batch of messages did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Worked {
    pub billed: Vec<Billed>,
    pub failed: Vec<Failed>,
}

/// A worker's batch, one message after another: a worker bills one agreement at a time, so
/// the event source's maximum concurrency is how many are billed at once (and what the table
/// sees). A message that fails is reported alone (SQS offers it again, and after three
/// receives moves it to the dead-letter queue); the others are done.
pub async fn work(app: &App, messages: &[Message], request_id: &str) -> Worked {
    let mut worked = Worked::default();
    for m in messages {
        match work_one(app, m, request_id).await {
            Ok(billed) => worked.billed.extend(billed),
            Err(failed) => worked.failed.push(failed),
        }
    }
    worked
}

async fn work_one(app: &App, m: &Message, request_id: &str) -> Result<Vec<Billed>, Failed> {
    let job: Job = serde_json::from_str(&m.body).map_err(|e| {
        tracing::error!(message_id = %m.message_id, error = %e, "true-up message unreadable");
        count(Metric::TrueUpFailed);
        Failed {
            message_id: m.message_id.clone(),
            agreement_id: None,
            code: "unreadable_message",
            detail: e.to_string(),
        }
    })?;
    let mut billed = Vec::new();
    let id = &job.agreement_id;
    let step = Box::pin(true_up_agreement(app, id, job.now, request_id, &mut billed));
    step.await.map(|()| billed).map_err(|e| {
        let code = match &e {
            StepError::Refused(e) => e.code(),
            StepError::Store(StoreError::Corrupt(_)) => "unreadable",
            StepError::Store(_) => "unavailable",
            StepError::Contended => "concurrent_update",
        };
        // The rules refuse it as it stands: offered again, it is refused again (skipped,
        // for an operator to look at); anything else may pass next time.
        count(match &e {
            StepError::Refused(_) => Metric::TrueUpSkipped,
            _ => Metric::TrueUpFailed,
        });
        tracing::error!(agreement_id = %id, message_id = %m.message_id, code, error = %e,
            "true-up not billed; the message is offered again, the others go on");
        Failed {
            message_id: m.message_id.clone(),
            agreement_id: Some(id.clone()),
            code,
            detail: e.to_string(),
        }
    })
}

/// What an invocation answers: a worker's batch, which messages to offer again; the daily
/// run, what it enqueued.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Ran {
    Batch(BatchResponse),
    Run(Planned),
}

/// The function: an SQS batch is a worker's (its answer names the messages that failed,
/// `batchItemFailures`); anything else is the daily schedule's run, whose `time` is "now".
pub async fn handle(app: &App, request_id: &str, event: Value) -> Result<Ran, JobFailed> {
    let span = tracing::info_span!("invocation", request_id);
    async {
        if let Some(messages) = queue::messages(&event) {
            let worked = work(app, &messages, request_id).await;
            let (billed, failed) = (worked.billed.len(), worked.failed.len());
            tracing::info!(messages = messages.len(), billed, failed, "true-up batch");
            let failures = worked.failed.iter().map(|f| f.message_id.clone());
            return Ok(Ran::Batch(BatchResponse::failing(failures)));
        }
        let now = event_time(&event).unwrap_or_else(Utc::now);
        let planned = plan(app, now).await?;
        count(Metric::TrueUpRun);
        tracing::info!(now = %now, enqueued = planned.enqueued, "true-up run enqueued");
        Ok(Ran::Run(planned))
    }
    .instrument(span)
    .await
}

#[derive(Debug, thiserror::Error)]
pub enum JobFailed {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn now_is_the_scheduled_event_time() {
        let e = json!({"detail-type": "Scheduled Event", "source": "aws.events",
                       "time": "2027-03-15T06:00:00Z"});
        assert_eq!(
            event_time(&e).map(|t| t.to_rfc3339()),
            Some("2027-03-15T06:00:00+00:00".into())
        );
        assert_eq!(event_time(&json!({})), None);
        // What the deployed schedule sends: its input, the scheduled time filled in.
        let scheduled = json!({"time": "2027-03-15T06:00:00Z"});
        assert_eq!(event_time(&scheduled), event_time(&e));
    }

    #[test]
    fn a_job_reads_back_as_written() {
        let job = Job {
            agreement_id: AgreementId::generate(),
            now: "2027-03-15T06:00:00Z".parse().expect("time"),
        };
        let body = serde_json::to_string(&job).expect("json");
        assert_eq!(serde_json::from_str::<Job>(&body).expect("job"), job);
    }
}
