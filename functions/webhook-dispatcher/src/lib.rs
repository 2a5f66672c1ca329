//! `webhook-dispatcher`: gives each partner's new events their sequence after the commit that
//! wrote them (SPEC §6.3), in batches, one conditional write of the partner's mark per batch
//! (`vls_store::Store::sequence`), then makes their deliveries, one per endpoint that wants
//! each (`vls_store::Store::fan_out`), and hands each to the sender on the delivery queue.
//! Fed by the table's stream (the events a batch announces, at once) and by a schedule that
//! sweeps whatever the stream's runs left unsequenced or without deliveries for a while (a
//! lost record or a failed run delays an event, never loses it).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;
use vls_domain::change::{Change, Stamp};
use vls_domain::metrics::Metric;
use vls_domain::model::EndpointStatus;
use vls_domain::rules::deliveries::{self, REPLAY_STEP};
use vls_domain::trail::Actor;
use vls_domain::types::{EndpointId, EventId};
use vls_runtime::config::Clock;
use vls_runtime::queue::{BatchResponse, Queue};
use vls_store::{Store, StoreError, TxFailure};

pub struct Settings {
    /// How long events are kept (the list's retention).
    pub retention: Duration,
    /// The sweep takes events left unsequenced this long (the stream's runs have the rest).
    pub sweep_after: Duration,
    /// Events read per shard of the unsequenced index, per round of a sweep.
    pub page: i32,
    /// A sweep starts no new round after this long (the function's timeout is 60 s).
    pub sweep_budget: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            retention: Duration::days(90),
            sweep_after: Duration::seconds(60),
            page: 100,
            sweep_budget: std::time::Duration::from_secs(40),
        }
    }
}

impl Settings {
    /// `EVENT_RETENTION_DAYS`, `EVENT_SWEEP_AFTER_SECONDS`.
    pub fn from_env() -> Self {
        let d = Self::default();
        Self {
            retention: vls_runtime::config::event_retention(),
            sweep_after: vls_runtime::config::seconds("EVENT_SWEEP_AFTER_SECONDS")
                .unwrap_or(d.sweep_after),
            ..d
        }
    }
}

pub struct Dispatcher {
    pub store: Store,
    pub settings: Settings,
    pub clock: Clock,
    /// Where the deliveries it makes are handed to the sender (a lost message leaves the
    /// delivery to the sender's sweep).
    pub deliveries: Queue,
}

impl Dispatcher {
    /// Configuration and clients from the environment.
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = vls_runtime::config::Config::from_env()?;
        let sdk = vls_runtime::config::aws().await;
        Ok(Self {
            store: vls_runtime::config::store(&sdk, &config),
            settings: Settings::from_env(),
            clock: vls_runtime::config::system_clock(),
            deliveries: vls_runtime::config::delivery_queue(&sdk)?,
        })
    }
}

/// What an invocation answers: a stream batch, which records to offer again; a sweep, how
/// many events it sequenced.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Ran {
    Batch(BatchResponse),
    Sweep {
        sequenced: usize,
        retries: u32,
        deliveries: usize,
    },
}

/// The events a DynamoDB stream batch announces (new partner events), each with its record's
/// sequence number; `None` for any other event.
pub fn stream_event_ids(event: &Value) -> Option<Vec<(String, EventId)>> {
    vls_runtime::queue::stream_ids(event, "partner_event", EventId::parse)
}

/// A stream batch sequences what it announces; if that fails, the whole batch is offered
/// again from its first record (`batchItemFailures`), which the events' own condition makes
/// harmless. Anything else (the schedule) sweeps.
pub async fn handle(app: &Dispatcher, request_id: &str, event: Value) -> Result<Ran, StoreError> {
    let span = tracing::info_span!("invocation", request_id);
    run(app, event).instrument(span).await
}

async fn run(app: &Dispatcher, event: Value) -> Result<Ran, StoreError> {
    let Some(records) = stream_event_ids(&event) else {
        return sweep(app).await;
    };
    let ids: Vec<EventId> = records.iter().map(|(_, id)| id.clone()).collect();
    match sequence(app, &ids).await {
        Ok(Done {
            sequenced,
            retries,
            deliveries,
        }) => {
            tracing::info!(sequenced, retries, deliveries, "stream batch sequenced");
            Ok(Ran::Batch(BatchResponse::default()))
        }
        Err(e) => {
            tracing::warn!(error = %e, "stream batch not sequenced; offered again");
            let first = records.into_iter().next().map(|(seq, _)| seq);
            Ok(Ran::Batch(BatchResponse::failing(first)))
        }
    }
}

/// What sequencing some events did.
#[derive(Debug, Default)]
struct Done {
    sequenced: usize,
    retries: u32,
    deliveries: usize,
}

/// The events `ids` sequenced (those not sequenced yet), and their deliveries made.
async fn sequence(app: &Dispatcher, ids: &[EventId]) -> Result<Done, StoreError> {
    let events = app.store.partner_events(ids).await?;
    let done = app.store.sequence(events, app.settings.retention).await?;
    let now = (app.clock)();
    let late = done
        .events
        .iter()
        .filter(|e| now - e.occurred_at > Duration::minutes(5))
        .count();
    vls_store::count_n(Metric::EventSequenced, done.events.len() as u64);
    vls_store::count_n(Metric::EventSequencedLate, late as u64);
    let made = app
        .store
        .fan_out(&done.awaiting_deliveries, &done.endpoints, (app.clock)())
        .await?;
    app.deliveries.wake_deliveries(&made).await;
    Ok(Done {
        sequenced: done.events.len(),
        retries: done.retries,
        deliveries: made.len(),
    })
}

/// Every event left unsequenced, or sequenced without its deliveries, for `sweep_after`, a
/// page per shard a round, until none is left or the budget is spent.
pub async fn sweep(app: &Dispatcher) -> Result<Ran, StoreError> {
    let started = std::time::Instant::now();
    let mut all = Done::default();
    while started.elapsed() < app.settings.sweep_budget {
        let before: DateTime<Utc> = (app.clock)() - app.settings.sweep_after;
        let ids = app.store.unsequenced(before, app.settings.page).await?;
        if ids.is_empty() {
            break;
        }
        let done = sequence(app, &ids).await?;
        all.sequenced += done.sequenced;
        all.retries += done.retries;
        all.deliveries += done.deliveries;
        if done.sequenced == 0 {
            // Listed but sequenced meanwhile (the index lags the table): the next sweep.
            break;
        }
    }
    // Sequenced, but the fan-out stopped before every delivery was made.
    let before: DateTime<Utc> = (app.clock)() - app.settings.sweep_after;
    let ids = app.store.unfanned(before, app.settings.page).await?;
    let mut events = app.store.partner_events(&ids).await?;
    events.retain(|e| e.sequence.is_some());
    let made = app
        .store
        .fan_out(&events, &Default::default(), (app.clock)())
        .await?;
    app.deliveries.wake_deliveries(&made).await;
    all.deliveries += made.len();
    all.deliveries += replays(app, started).await?;
    if all.sequenced + all.deliveries > 0 {
        tracing::info!(all.sequenced, all.retries, all.deliveries, "sweep");
    }
    Ok(Ran::Sweep {
        sequenced: all.sequenced,
        retries: all.retries,
        deliveries: all.deliveries,
    })
}

/// Every replay in progress, a step at a time, until each is done or the budget is spent:
/// how many deliveries they made.
async fn replays(app: &Dispatcher, started: std::time::Instant) -> Result<usize, StoreError> {
    let mut made = 0;
    let waiting = app
        .store
        .replays_waiting((app.clock)(), app.settings.page)
        .await?;
    for endpoint in waiting {
        while started.elapsed() < app.settings.sweep_budget {
            match replay_step(app, &endpoint).await {
                Ok(Step::Made(n)) => made += n,
                Ok(Step::Waits | Step::Done) => break,
                // One replay that cannot be read or written does not hold up the others.
                Err(e) => {
                    tracing::warn!(endpoint_id = %endpoint, error = %e, "replay step failed");
                    break;
                }
            }
        }
    }
    Ok(made)
}

/// What one step of a replay did.
enum Step {
    /// Deliveries made (none: it lost a race, and is read again).
    Made(usize),
    /// Its endpoint is disabled: it waits for it to be enabled.
    Waits,
    /// Nothing more to replay (or the endpoint is gone, and the replay with it).
    Done,
}

/// One step of the endpoint's replay: the next page of the partner's feed it covers made
/// into deliveries (of what the endpoint takes), and the replay moved on, in one transaction.
async fn replay_step(app: &Dispatcher, endpoint_id: &EndpointId) -> Result<Step, StoreError> {
    let now = (app.clock)();
    let Some(replay) = app.store.replay(endpoint_id).await? else {
        return Ok(Step::Done);
    };
    let (_, endpoint) = app
        .store
        .partner_and_endpoint(&replay.partner_id, endpoint_id)
        .await?;
    let step = match endpoint {
        None => deliveries::ReplayStep {
            change: Change::default().delete(&replay, replay.version),
            deliveries: Vec::new(),
            done: true,
        },
        Some(e) if e.status != EndpointStatus::Enabled => return Ok(Step::Waits),
        Some(e) => {
            let range = (replay.after_sequence, replay.through_sequence, false);
            let page = app
                .store
                .feed_page(&replay.partner_id, range, &replay.types, REPLAY_STEP, now)
                .await?;
            let events: Vec<(EventId, String, u64)> = page
                .bodies
                .iter()
                .filter_map(|(sequence, body)| {
                    let v: Value = serde_json::from_str(body).ok()?;
                    let id = EventId::parse(v["id"].as_str()?)?;
                    Some((id, v["type"].as_str()?.to_owned(), *sequence))
                })
                .collect();
            let through = page.next.unwrap_or(replay.through_sequence);
            deliveries::replay_step(&replay, &e, &events, through, now)
        }
    };
    let stamp = Stamp {
        at: now,
        actor: Actor::system("webhook-dispatcher"),
        request_id: ulid::Ulid::generate().to_string(),
        via: None,
    };
    let committed = app.store.commit_change(&step.change, &stamp).await;
    if committed.is_ok() {
        app.deliveries.wake_deliveries(&step.deliveries).await;
    }
    match committed {
        Ok(()) if step.done => Ok(Step::Done),
        Ok(()) => Ok(Step::Made(step.deliveries.len())),
        Err(TxFailure::Store(e)) => Err(e),
        // The replay moved meanwhile (another dispatcher's step): read again.
        Err(_) => Ok(Step::Made(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stream_batch_announces_its_new_events() {
        let id = EventId::generate();
        let batch = json!({"Records": [
            {"eventName": "INSERT",
             "dynamodb": {"SequenceNumber": "7",
                          "NewImage": {"type": {"S": "partner_event"}, "id": {"S": id.as_str()}}}},
            {"eventName": "INSERT",
             "dynamodb": {"NewImage": {"type": {"S": "mail"}, "id": {"S": "mail_x"}}}},
            {"eventName": "REMOVE", "dynamodb": {}},
        ]});
        assert_eq!(stream_event_ids(&batch), Some(vec![("7".to_owned(), id)]));
        let schedule = json!({"source": "aws.events", "detail-type": "Scheduled Event"});
        assert_eq!(stream_event_ids(&schedule), None);
    }
}
