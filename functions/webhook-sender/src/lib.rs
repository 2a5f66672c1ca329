//! `webhook-sender`: delivers partners' events to their webhook endpoints (SPEC §6.6–6.7).
//! The delivery queue hands it each delivery when it is due (the dispatcher's new ones, and
//! its own retries that wait up to SQS's 15 minutes); a one-minute sweep of the due-time
//! index takes whatever waits longer or lost its message or its sender. Each due delivery is
//! leased (no other sender takes it meanwhile), sent once, signed with every live secret of
//! its endpoint (Standard Webhooks v1), the same bytes on every attempt, and recorded:
//! succeeded, waiting for its next attempt by the retry schedule, or failed; a 410 also
//! disables the endpoint, and so do five days without a success. Deliveries are worked side
//! by side, at most four at a time per endpoint, so an endpoint that stalls never delays
//! another's.

pub mod attempt;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;
use vls_domain::change::{Change, Stamp};
use vls_domain::model::{Delivery, DeliveryStatus, EndpointStatus, Partner, WebhookEndpoint};
use vls_domain::rules::deliveries::{self, Due};
use vls_domain::trail::Actor;
use vls_domain::types::{AgreementId, DeliveryId, EndpointId};
use vls_domain::webhooks::signatures;
use vls_http::sealing::{SealingKey, WEBHOOK_SECRET};
use vls_runtime::config::Clock;
use vls_runtime::queue::Queue;
use vls_store::{Store, StoreError, TxFailure};

use attempt::{Connector, Signed};

pub struct Settings {
    /// How long a sender holds a delivery before another may take it over (longer than an
    /// attempt's 15 s).
    pub lease: Duration,
    /// Due deliveries read per shard of the index, per sweep.
    pub page: i32,
    /// Endpoints worked at once, and deliveries at once per endpoint.
    pub endpoints_at_once: usize,
    pub per_endpoint: usize,
    /// An invocation starts no attempt after this long (an attempt takes up to 15 s, the
    /// function has 60): the next sweep goes on with what is left.
    pub sweep_budget: std::time::Duration,
    /// The sweep takes deliveries due this long (the queue has them first): a longer wait
    /// than SQS holds a message, a lost message, or a lease that lapsed.
    pub sweep_after: Duration,
    /// How long a sender holds an endpoint at most (the function's timeout; it lets go when
    /// its invocation is done with the endpoint).
    pub hold: Duration,
    /// How long a message whose endpoint another sender holds waits to be handed over again.
    pub held_elsewhere: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lease: Duration::seconds(60),
            page: 100,
            endpoints_at_once: 32,
            per_endpoint: 4,
            sweep_budget: std::time::Duration::from_secs(40),
            sweep_after: Duration::seconds(60),
            hold: Duration::seconds(60),
            held_elsewhere: std::time::Duration::from_secs(5),
        }
    }
}

impl Settings {
    /// `DELIVERY_SWEEP_AFTER_SECONDS` (60 unless set).
    pub fn from_env() -> Self {
        let d = Self::default();
        Self {
            sweep_after: vls_runtime::config::seconds("DELIVERY_SWEEP_AFTER_SECONDS")
                .unwrap_or(d.sweep_after),
            ..d
        }
    }
}

pub struct Sender {
    pub store: Store,
    pub settings: Settings,
    pub clock: Clock,
    /// Opens the endpoints' sealed signing secrets.
    pub sealing: Arc<SealingKey>,
    pub connector: Connector,
    /// Where a delivery waiting for its next attempt asks to be handed back when due.
    pub deliveries: Queue,
}

impl Sender {
    /// Configuration, the webhook key and clients from the environment.
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        use vls_runtime::config::Startup;
        use vls_runtime::secrets::Secret;
        let Startup {
            config,
            sdk,
            secrets,
        } = Startup::from_env(&[Secret::WebhookKey]).await?;
        let sealing = vls_runtime::config::webhook_sealing(&secrets, config.is_local())?;
        Ok(Self {
            store: vls_runtime::config::store(&sdk, &config),
            settings: Settings::from_env(),
            clock: vls_runtime::config::system_clock(),
            sealing: Arc::new(sealing),
            connector: Connector::from_env(config.is_local())?,
            deliveries: vls_runtime::config::delivery_queue(&sdk)?,
        })
    }
}

/// What happened to one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    /// Tried, and waiting for its next attempt.
    Retrying,
    Failed,
    /// Its endpoint is gone or disabled: not sent.
    Cancelled,
    /// Another sender works its endpoint now: handed back to the queue a few seconds later
    /// (or, swept, left due).
    HeldElsewhere,
    /// Not due, done, leased by another sender, or not worked (the table failed): its
    /// message is dropped, and the sweep has it if it is still due.
    Skipped,
}

/// What an invocation did.
#[derive(Debug, Serialize)]
pub struct Swept {
    pub outcomes: BTreeMap<Outcome, usize>,
}

/// The delivery queue's messages are worked; any other invocation (the schedule) sweeps.
/// Every message is taken off the queue: one not worked is still in the table, where the
/// sweep finds it sooner than the queue's visibility timeout would offer it again.
pub async fn handle(app: &Sender, request_id: &str, event: Value) -> Result<Swept, StoreError> {
    let span = tracing::info_span!("invocation", request_id);
    match vls_runtime::queue::messages(&event) {
        Some(messages) => {
            let due = messages
                .iter()
                .filter_map(|m| match serde_json::from_str::<Due>(&m.body) {
                    Ok(due) => Some((due.endpoint_id, due.delivery_id)),
                    Err(e) => {
                        tracing::warn!(message_id = %m.message_id, error = %e, "not a delivery");
                        None
                    }
                })
                .collect();
            Ok(work_all(app, due, Source::Queue).instrument(span).await)
        }
        None => sweep(app).instrument(span).await,
    }
}

/// Every delivery due for the sweep's wait, each endpoint's at most `per_endpoint` at a time.
pub async fn sweep(app: &Sender) -> Result<Swept, StoreError> {
    let before = (app.clock)() - app.settings.sweep_after;
    let due = app.store.due_deliveries(before, app.settings.page).await?;
    Ok(work_all(app, due, Source::Sweep).await)
}

/// Where `due` came from: what becomes of the deliveries of an endpoint another sender holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The queue: handed back on it, a few seconds later.
    Queue,
    /// The sweep: left due, for the next sweep or their own messages.
    Sweep,
}

/// `due` worked side by side, endpoint by endpoint, each endpoint's (if this sender can hold
/// it) at most `per_endpoint` at a time.
async fn work_all(app: &Sender, due: Vec<(EndpointId, DeliveryId)>, from: Source) -> Swept {
    let started = std::time::Instant::now();
    let holder = ulid::Ulid::generate().to_string();
    let holder = holder.as_str();
    let mut by_endpoint: BTreeMap<EndpointId, Vec<DeliveryId>> = BTreeMap::new();
    for (endpoint, delivery) in due {
        by_endpoint.entry(endpoint).or_default().push(delivery);
    }
    let outcomes: Vec<Outcome> = futures::stream::iter(by_endpoint)
        .map(|(endpoint, ids)| async move {
            work_endpoint(app, &endpoint, ids, (holder, started), from).await
        })
        .buffer_unordered(app.settings.endpoints_at_once)
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    let mut counts = BTreeMap::new();
    for o in outcomes {
        *counts.entry(o).or_insert(0) += 1;
    }
    if !counts.is_empty() {
        tracing::info!(outcomes = ?counts, "deliveries worked");
    }
    Swept { outcomes: counts }
}

/// One endpoint's deliveries, at most `per_endpoint` at a time, if this sender (`holder`)
/// can hold the endpoint: one sender at a time works an endpoint, so a stalling endpoint
/// holds one sender and its attempts in flight are at most that sender's four.
async fn work_endpoint(
    app: &Sender,
    endpoint: &EndpointId,
    ids: Vec<DeliveryId>,
    (holder, started): (&str, std::time::Instant),
    from: Source,
) -> Vec<Outcome> {
    let now = (app.clock)();
    let until = now + app.settings.hold;
    match app.store.hold_endpoint(endpoint, holder, now, until).await {
        Ok(true) => {}
        Ok(false) => {
            if from == Source::Queue {
                let due: Vec<Due> = ids
                    .iter()
                    .map(|id| Due {
                        endpoint_id: endpoint.clone(),
                        delivery_id: id.clone(),
                    })
                    .collect();
                let wait = app.settings.held_elsewhere;
                app.deliveries.wake_deliveries_later(&due, wait).await;
            }
            return vec![Outcome::HeldElsewhere; ids.len()];
        }
        Err(e) => {
            tracing::warn!(endpoint_id = %endpoint, error = %e, "endpoint not held");
            return vec![Outcome::Skipped; ids.len()];
        }
    }
    let outcomes = futures::stream::iter(ids)
        .map(|id| async move {
            if started.elapsed() > app.settings.sweep_budget {
                return Outcome::Skipped;
            }
            work(app, endpoint, &id).await
        })
        .buffer_unordered(app.settings.per_endpoint)
        .collect::<Vec<_>>()
        .await;
    if let Err(e) = app.store.release_endpoint(endpoint, holder).await {
        tracing::warn!(endpoint_id = %endpoint, error = %e, "endpoint not released");
    }
    outcomes
}

/// The delivery asks the queue to hand it over again after `wait` (if that fails, the sweep
/// has it).
async fn hand_back(
    app: &Sender,
    endpoint: &EndpointId,
    id: &DeliveryId,
    wait: std::time::Duration,
) {
    let due = Due {
        endpoint_id: endpoint.clone(),
        delivery_id: id.clone(),
    };
    let group = Some(endpoint.as_str());
    if let Err(e) = app.deliveries.send_later_in(group, &due, wait).await {
        let why = "not queued again; the sweep has it";
        tracing::warn!(delivery_id = %id, error = %e, "{why}");
    }
}

fn stamp(now: DateTime<Utc>) -> Stamp {
    Stamp {
        at: now,
        actor: Actor::system("webhook-sender"),
        request_id: ulid::Ulid::generate().to_string(),
        via: None,
    }
}

/// A spread in [-1, 1] for the retry schedule's jitter.
fn jitter() -> f64 {
    let r = ulid::Ulid::generate().random() as u64 % 2001;
    r as f64 / 1000.0 - 1.0
}

/// One delivery, leased, sent and recorded; one that waits for its next attempt for as long
/// as SQS holds a message back asks the queue to hand it back then. A failure of the table
/// leaves it to the lease's end and the sweep.
async fn work(app: &Sender, endpoint: &EndpointId, id: &DeliveryId) -> Outcome {
    match try_work(app, endpoint, id).await {
        Ok((outcome, None)) => outcome,
        Ok((outcome, Some(next))) => {
            let wait = (next - (app.clock)()).to_std().unwrap_or_default();
            if wait <= vls_runtime::queue::MAX_DELAY {
                hand_back(app, endpoint, id, wait).await;
            }
            outcome
        }
        Err(e) => {
            tracing::warn!(delivery_id = %id, error = %e, "delivery not worked");
            Outcome::Skipped
        }
    }
}

/// The delivery, if it is pending, due and free, leased to this sender (`None` otherwise, or
/// when another sender took it first).
async fn leased(
    app: &Sender,
    endpoint_id: &EndpointId,
    id: &DeliveryId,
    now: DateTime<Utc>,
) -> Result<Option<Delivery>, TxFailure> {
    let Some(d) = app.store.delivery(endpoint_id, id).await? else {
        return Ok(None);
    };
    let due = d.next_attempt_at.is_some_and(|t| t <= now);
    let held = d.lease_until.is_some_and(|t| t > now);
    if d.status != DeliveryStatus::Pending || !due || held {
        return Ok(None);
    }
    let leased = Delivery {
        lease_until: Some(now + app.settings.lease),
        version: d.version + 1,
        ..d.clone()
    };
    let lease = Change::default().replace(&leased, d.version);
    match app.store.commit_change(&lease, &stamp(now)).await {
        Ok(()) => Ok(Some(leased)),
        Err(TxFailure::Store(e)) => Err(e.into()),
        Err(_) => Ok(None),
    }
}

/// The signature headers of `body` for the event `id`, with every live secret of the
/// endpoint (`None` if none opens with the webhook key).
fn signed<'a>(
    app: &Sender,
    endpoint: &vls_domain::model::WebhookEndpoint,
    id: &'a str,
    body: &str,
    now: DateTime<Utc>,
) -> Option<Signed<'a>> {
    let opened: Vec<String> = endpoint
        .live_secrets(now)
        .into_iter()
        .filter_map(|s| app.sealing.open::<String>(WEBHOOK_SECRET, s))
        .collect();
    if opened.is_empty() {
        tracing::error!(endpoint_id = %endpoint.id, "no signing secret opens with the webhook key");
        return None;
    }
    let secrets: Vec<&str> = opened.iter().map(String::as_str).collect();
    Some(Signed {
        id,
        timestamp: now.timestamp(),
        signature: signatures(&secrets, id, now.timestamp(), body.as_bytes()),
    })
}

/// What became of the delivery, and when its next attempt is due if it waits for one.
async fn try_work(
    app: &Sender,
    endpoint_id: &EndpointId,
    id: &DeliveryId,
) -> Result<(Outcome, Option<DateTime<Utc>>), TxFailure> {
    let now = (app.clock)();
    let Some(leased) = leased(app, endpoint_id, id, now).await? else {
        return Ok((Outcome::Skipped, None));
    };
    let d = &leased;
    let (partner, endpoint) = app
        .store
        .partner_and_endpoint(&d.partner_id, endpoint_id)
        .await?;
    // A test event carries its bytes; the others send what their event was given when it was
    // sequenced.
    let body = match &d.body {
        Some(body) => Some(body.clone()),
        None => app
            .store
            .sequenced_event(&d.event_id)
            .await?
            .map(|(_, b)| b),
    };
    let (Some(partner), Some(endpoint), Some(body)) = (partner, endpoint, body) else {
        return Ok((cancel(app, &leased, now).await?, None));
    };
    if endpoint.status != EndpointStatus::Enabled {
        return Ok((cancel(app, &leased, now).await?, None));
    }
    let Some(signed) = signed(app, &endpoint, d.event_id.as_str(), &body, now) else {
        return Ok((Outcome::Skipped, None));
    };
    let tried = app
        .connector
        .attempt(&endpoint.url, &body, &signed, now)
        .await;
    let (after, gone) = deliveries::attempted(&leased, tried, jitter());
    let read = (partner, endpoint);
    let outcome = (leased.version, gone, about(&body));
    record(app, &after, read, outcome, now).await?;
    Ok(match after.status {
        DeliveryStatus::Succeeded => (Outcome::Succeeded, None),
        DeliveryStatus::Failed => (Outcome::Failed, None),
        DeliveryStatus::Cancelled => (Outcome::Cancelled, None),
        DeliveryStatus::Pending => (Outcome::Retrying, after.next_attempt_at),
    })
}

/// The agreement the event sent as `body` is about (none for a test event).
fn about(body: &str) -> Option<AgreementId> {
    let event: serde_json::Value = serde_json::from_str(body).ok()?;
    AgreementId::parse(event["agreement_id"].as_str()?)
}

/// The attempt recorded (`after`, leased at `leased`), with what it does to its endpoint (a
/// 410 disables it; a failure starts or ends its five failing days; a success ends them), in
/// one transaction; another change to the endpoint or its partner meanwhile (another
/// delivery's outcome) is read again.
async fn record(
    app: &Sender,
    after: &Delivery,
    read: (Partner, WebhookEndpoint),
    (leased, gone, about): (u64, bool, Option<AgreementId>),
    now: DateTime<Utc>,
) -> Result<(), TxFailure> {
    let mut last = TxFailure::Conflict;
    // The partner and endpoint read before the attempt first; read again after a lost race.
    let mut read = (Some(read.0), Some(read.1));
    for round in 0..8 {
        if round > 0 {
            read = app
                .store
                .partner_and_endpoint(&after.partner_id, &after.endpoint_id)
                .await?;
        }
        let change = match &read {
            (Some(p), Some(e)) => {
                deliveries::endpoint_after((p, e), after, (gone, about.as_ref()), now)
            }
            _ => Change::default(),
        };
        match app
            .store
            .commit_change(
                &change
                    .replace(after, leased)
                    .count(deliveries::outcome(after)),
                &stamp(now),
            )
            .await
        {
            Ok(()) => return Ok(()),
            Err(TxFailure::Store(e)) => return Err(e.into()),
            Err(failure) => last = failure,
        }
        tokio::time::sleep(vls_store::backoff(round)).await;
    }
    Err(last)
}

async fn cancel(app: &Sender, leased: &Delivery, now: DateTime<Utc>) -> Result<Outcome, TxFailure> {
    let cancelled = deliveries::cancelled(leased);
    let change = Change::default()
        .replace(&cancelled, leased.version)
        .count(deliveries::outcome(&cancelled));
    app.store.commit_change(&change, &stamp(now)).await?;
    Ok(Outcome::Cancelled)
}
