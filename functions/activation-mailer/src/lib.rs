//! `activation-mailer`: sends every pending activation-mail intent through SES v2 (R5, R8),
//! from the table's stream and a sweeping schedule (README: Design decisions, Mailer).

pub mod pacing;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::Ordering;
use tracing::Instrument;
use vls_domain::change::{Change, Stamp};
use vls_domain::mail::{MailContent, activation_mail, webhook_failed_mail};
use vls_domain::metrics::Metric;
use vls_domain::model::{Agreement, MailIntent, MailRefusal, WebhookFailure};
use vls_domain::rules::activation::{Issued, LinkToken, issue_link};
pub use vls_domain::rules::outbox::Waits;
use vls_domain::rules::outbox::{self, Claim, Idle, Kind, Refused, changes};
use vls_domain::trail::Actor;
use vls_domain::types::{Email, MailId};
use vls_runtime::config::Clock;
use vls_runtime::queue::{BatchResponse, Queue};
use vls_runtime::ses::{MailError, Mailer};
use vls_store::{Cursor, Store, StoreError, Stored, TxFailure};

pub struct MailerSettings {
    pub sender: String,
    /// Links are `<public_base_url>/activate/<token>`.
    pub public_base_url: String,
    pub link_ttl: Duration,
    /// How long a sender may hold an intent before another may take it over.
    pub lease: Duration,
    /// How long an intent waits after each kind of refusal.
    pub waits: Waits,
    /// A throttled send is tried again this many times in the same invocation, this far
    /// apart, before the intent waits for a later run.
    pub throttle_retries: u32,
    pub throttle_pause: std::time::Duration,
    /// Intents read per page of the sweep, and worked on at once.
    pub page: i32,
    pub in_flight: usize,
    /// An intent that cannot be read in this many runs is set aside for an operator.
    pub set_aside_after: u32,
    /// A sweep starts no new intent after this long (the function's timeout is 60 s); the next
    /// sweep goes on where it stopped.
    pub sweep_budget: std::time::Duration,
}

impl Default for MailerSettings {
    fn default() -> Self {
        Self {
            sender: "licensing@vls.example.com".into(),
            public_base_url: "http://127.0.0.1:9000".into(),
            link_ttl: Duration::days(30),
            lease: Duration::seconds(60),
            waits: Waits::default(),
            throttle_retries: 3,
            throttle_pause: std::time::Duration::from_secs(1),
            page: 100,
            in_flight: 8,
            set_aside_after: 5,
            sweep_budget: std::time::Duration::from_secs(40),
        }
    }
}

impl MailerSettings {
    /// `SENDER_EMAIL`, `PUBLIC_BASE_URL`, `ACTIVATION_LINK_TTL_DAYS`.
    pub fn from_env() -> Self {
        let mut s = Self::default();
        if let Ok(v) = std::env::var("SENDER_EMAIL") {
            s.sender = v;
        }
        if let Ok(v) = std::env::var("PUBLIC_BASE_URL") {
            s.public_base_url = v.trim_end_matches('/').to_owned();
        }
        if let Some(days) = std::env::var("ACTIVATION_LINK_TTL_DAYS")
            .ok()
            .and_then(|d| d.parse().ok())
        {
            s.link_ttl = Duration::days(days);
        }
        s
    }
}

pub struct MailerApp {
    pub store: Store,
    pub mailer: Mailer,
    pub settings: MailerSettings,
    pub clock: Clock,
    /// Every send waits for its slot: this mailer's share of the account's sending rate.
    pub pacer: pacing::Pacer,
    /// A postponed mail asks here to be woken when it is due again (SQS holds the message back
    /// up to 15 minutes); a longer wait, or a wake-up that could not be sent, is the sweep's.
    pub wakeups: Queue,
}

impl MailerApp {
    /// Configuration and clients from the environment.
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = vls_runtime::config::Config::from_env()?;
        let settings = MailerSettings::from_env();
        let wakeups = vls_runtime::config::var("MAIL_WAKEUP_QUEUE_URL")
            .ok_or("MAIL_WAKEUP_QUEUE_URL is not set")?;
        let sdk = vls_runtime::config::aws().await;
        let mailer = Mailer::new(aws_sdk_sesv2::Client::new(&sdk), settings.sender.clone())
            .through(vls_runtime::config::var("SES_CONFIGURATION_SET"));
        Ok(Self {
            store: vls_runtime::config::store(&sdk, &config),
            // One GetAccount answers both the sending rate and whether the account is sandboxed.
            pacer: pacing::Pacer::from_env(mailer.account()),
            mailer,
            settings,
            clock: vls_runtime::config::system_clock(),
            wakeups: Queue::new(aws_sdk_sqs::Client::new(&sdk), wakeups),
        })
    }
}

/// A wake-up: the mail to try again, delivered when it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Wakeup {
    pub mail_id: MailId,
}

/// What happened to one intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Sent,
    /// The agreement was associated before the mail went out: nothing to activate.
    Skipped,
    /// SES failed on the way; it stays pending until its next attempt (counted, never parked).
    Retrying,
    /// SES is taking mail slower than this run sends it; pending again shortly (not counted).
    Throttled,
    /// Nothing can be sent from the account now (quota spent, paused, suspended, sender not
    /// verified, the sandbox refusing an unverified recipient): pending until it can (not
    /// counted), and the run sends nothing more.
    Blocked,
    /// Given up: refused for good (a rejected address or message); the agreement shows it.
    Failed,
    /// A mail to a partner's contact (a webhook delivery given up) sent; not an activation
    /// mail, so not counted as one.
    NoticeSent,
    /// A mail to a partner's contact given up (its log line says why).
    NoticeFailed,
    /// Not due yet (backoff), or another sender holds it.
    NotDue,
    /// Already sent, skipped or failed.
    Done,
    Missing,
    /// Could not be read or written (logged with its id); the others went on.
    Unreadable,
}

impl Outcome {
    /// What the business metrics count of it (`ActivationMails`, by outcome).
    pub fn metric(self) -> Option<Metric> {
        match self {
            Self::Sent => Some(Metric::MailSent),
            Self::Skipped => Some(Metric::MailSkipped),
            Self::Retrying => Some(Metric::MailRetried),
            Self::Throttled => Some(Metric::MailThrottled),
            Self::Blocked => Some(Metric::MailBlocked),
            Self::Failed => Some(Metric::MailParked),
            Self::NotDue
            | Self::Done
            | Self::Missing
            | Self::Unreadable
            | Self::NoticeSent
            | Self::NoticeFailed => None,
        }
    }
}

/// Sends one intent if it is pending, due and free.
pub async fn process(
    app: &MailerApp,
    id: &MailId,
    request_id: &str,
) -> Result<Outcome, StoreError> {
    // A lost race on the agreement (an order invoiced at the same moment) is retried at once.
    for _ in 0..5 {
        // Boxed: the SDK futures nest deeply, and the runtime future would grow past the
        // compiler's layout depth limit.
        match Box::pin(attempt(app, id, request_id)).await {
            Err(TxFailure::Store(e)) => return Err(e),
            Err(failure) => tracing::info!(%failure, mail_id = %id, "claim lost a race; retrying"),
            Ok(outcome) => return Ok(outcome),
        }
    }
    Ok(Outcome::NotDue)
}

async fn attempt(app: &MailerApp, id: &MailId, request_id: &str) -> Result<Outcome, TxFailure> {
    let now = (app.clock)();
    let Some(mail) = app.store.mail(id).await? else {
        return Ok(Outcome::Missing);
    };
    match outbox::workable(&mail, now) {
        Err(Idle::Done) => return Ok(Outcome::Done),
        Err(Idle::NotDue) => return Ok(Outcome::NotDue),
        Ok(()) => {}
    }
    let run = Run {
        app,
        request_id,
        now,
    };
    if let Some(failure) = &mail.webhook {
        return run.notice(&mail, failure).await;
    }
    let Some(agreement) = app.store.agreement(&mail.agreement_id).await? else {
        return Ok(Outcome::Missing);
    };
    match outbox::claim(&mail, &agreement, now, app.settings.lease) {
        Claim::Skip(skipped) => run.skip(&mail, &skipped, &agreement).await,
        Claim::Send(claimed) => {
            let issued = run.issue(&mail, &claimed, &agreement).await?;
            run.send(&mail, &claimed, &issued).await
        }
    }
}

/// One sender's turn on one intent.
struct Run<'a> {
    app: &'a MailerApp,
    request_id: &'a str,
    now: DateTime<Utc>,
}

impl Run<'_> {
    /// Commits `change` as this run's.
    async fn commit(&self, change: &Change) -> Result<(), TxFailure> {
        let stamp = Stamp {
            at: self.now,
            actor: Actor::system("activation-mailer"),
            request_id: self.request_id.to_owned(),
            via: None,
        };
        self.app.store.commit_change(change, &stamp).await
    }

    /// The agreement was associated first: the intent is skipped, and the trail says why.
    async fn skip(
        &self,
        mail: &MailIntent,
        skipped: &MailIntent,
        agreement: &Agreement,
    ) -> Result<Outcome, TxFailure> {
        self.commit(&changes::skipped(mail, skipped, agreement))
            .await?;
        Ok(Outcome::Skipped)
    }

    /// Leases the intent and issues its link, in one transaction. The link's token never
    /// enters the trail; its expiry and the mail it goes with do.
    async fn issue(
        &self,
        mail: &MailIntent,
        claimed: &MailIntent,
        agreement: &Agreement,
    ) -> Result<Issued, TxFailure> {
        let token = LinkToken::generate().map_err(StoreError::Unavailable)?;
        let issued = issue_link(agreement, token, self.now, self.app.settings.link_ttl);
        self.commit(&changes::issued(mail, claimed, &issued, agreement))
            .await?;
        Ok(issued)
    }

    /// Sends the mail, then records what the mail service answered.
    async fn send(
        &self,
        mail: &MailIntent,
        claimed: &MailIntent,
        issued: &Issued,
    ) -> Result<Outcome, TxFailure> {
        let settings = &self.app.settings;
        let url = format!(
            "{}/activate/{}",
            settings.public_base_url,
            issued.token.as_str()
        );
        let content = activation_mail(&issued.agreement, &url, issued.link.expires_at);
        let to = &issued.agreement.osm.email;
        let message_id = match self.send_paced(to, &content).await {
            Ok(message_id) => message_id,
            Err(err) => {
                tracing::warn!(mail_id = %mail.id, attempts = claimed.attempts,
                    reason = err.reason.code(), error = %err.detail, "activation mail refused");
                return self.refused(claimed, err.reason).await;
            }
        };
        let sent = outbox::sent(claimed, message_id, (self.app.clock)());
        let record = |sent: &MailIntent, held: u64, agreement: u64| {
            let told = (&issued.agreement.partner_id, to.masked());
            changes::sent(sent, held, agreement, told, issued.link.expires_at)
        };
        self.record_sent(claimed, sent, issued.agreement.version, record)
            .await?;
        tracing::info!(mail_id = %mail.id, attempts = claimed.attempts, "activation mail sent");
        Ok(Outcome::Sent)
    }

    /// A mail to a partner's contact that a webhook delivery was given up: leased, sent and
    /// recorded, as an activation mail is, but about no link and shown on no agreement.
    async fn notice(
        &self,
        mail: &MailIntent,
        failure: &WebhookFailure,
    ) -> Result<Outcome, TxFailure> {
        let Some(partner) = self.app.store.partner(&failure.partner_id).await? else {
            return Ok(Outcome::Missing);
        };
        let claimed = outbox::lease_for_send(mail, self.now, self.app.settings.lease);
        self.commit(&changes::intent(&claimed, mail.version))
            .await?;
        let content = webhook_failed_mail(&partner, failure);
        match self.send_paced(&partner.contact.email, &content).await {
            Ok(message_id) => {
                let sent = outbox::sent(&claimed, message_id, (self.app.clock)());
                self.commit(&changes::intent(&sent, claimed.version))
                    .await?;
                tracing::info!(mail_id = %mail.id, endpoint_id = %failure.endpoint_id,
                    "webhook failure mail sent");
                Ok(Outcome::NoticeSent)
            }
            Err(err) => {
                tracing::warn!(mail_id = %mail.id, reason = err.reason.code(),
                    error = %err.detail, "webhook failure mail refused");
                self.refused(&claimed, err.reason).await
            }
        }
    }

    /// One send; a throttled one is tried again a few times, a moment apart, under the lease.
    async fn send_paced(&self, to: &Email, content: &MailContent) -> Result<String, MailError> {
        let settings = &self.app.settings;
        let mut tries = 0;
        loop {
            self.app.pacer.slot().await;
            match self.app.mailer.send(to, content).await {
                Err(e)
                    if e.reason == MailRefusal::Throttled && tries < settings.throttle_retries =>
                {
                    tries += 1;
                    tokio::time::sleep(settings.throttle_pause).await;
                }
                other => return other,
            }
        }
    }

    /// SES has the mail: its record is written however long the table takes, the lease moved
    /// on meanwhile so that no other sender takes the intent over. Only the death of this
    /// process (or another writer changing the intent, which the lease rules out) leaves it
    /// unrecorded, and only then can a second mail go out. The event moves the agreement's
    /// version on (its trail's sequence); an agreement changed meanwhile is read again.
    async fn record_sent(
        &self,
        claimed: &MailIntent,
        mut sent: MailIntent,
        mut agreement_version: u64,
        record: impl Fn(&MailIntent, u64, u64) -> Change,
    ) -> Result<(), TxFailure> {
        let store = &self.app.store;
        let mut held = claimed.clone();
        let mut round = 0u32;
        loop {
            let change = record(&sent, held.version, agreement_version);
            let why = match self.commit(&change).await {
                Ok(()) => return Ok(()),
                Err(TxFailure::Store(e)) => e.to_string(),
                Err(TxFailure::Conflict) => "a concurrent transaction".to_owned(),
                Err(TxFailure::Conditions(failed)) if !failed.contains(&MailIntent::KIND) => {
                    if let Ok(Some(a)) = store.agreement(&held.agreement_id).await {
                        agreement_version = a.version;
                    }
                    "the agreement changed".to_owned()
                }
                Err(other) => {
                    tracing::error!(mail_id = %held.id, error = %other,
                        "sent, but the intent changed under the lease: not recorded");
                    return Err(other);
                }
            };
            tracing::warn!(mail_id = %held.id, round, error = %why, "sent; recording it again");
            tokio::time::sleep(vls_store::backoff(round)).await;
            let now = (self.app.clock)();
            if held
                .lease_until
                .is_none_or(|t| t - now < self.app.settings.lease / 2)
            {
                let extended = outbox::extend_lease(&held, now, self.app.settings.lease);
                if self
                    .commit(&changes::intent(&extended, held.version))
                    .await
                    .is_ok()
                {
                    sent.version = extended.version + 1;
                    held = extended;
                }
            }
            round = round.saturating_add(1);
        }
    }

    async fn refused(
        &self,
        claimed: &MailIntent,
        reason: MailRefusal,
    ) -> Result<Outcome, TxFailure> {
        let (intent, outcome) =
            match outbox::refused(claimed, reason, self.now, &self.app.settings.waits) {
                Refused::Park(failed) if claimed.webhook.is_some() => {
                    self.commit(&changes::intent(&failed, claimed.version))
                        .await?;
                    return Ok(Outcome::NoticeFailed);
                }
                Refused::Park(failed) => return self.park(claimed, &failed).await,
                Refused::Retry(retry) => (retry, Outcome::Retrying),
                Refused::Wait(wait) if outbox::kind(reason) == Kind::Throttled => {
                    (wait, Outcome::Throttled)
                }
                Refused::Wait(wait) => {
                    blocked(reason);
                    (wait, Outcome::Blocked)
                }
            };
        self.commit(&changes::intent(&intent, claimed.version))
            .await?;
        self.wake_when_due(&intent).await;
        Ok(outcome)
    }

    /// Asks for a wake-up when the postponed intent is due, if SQS can hold it back that long.
    /// Best effort: the intent is pending in the table, and the sweep sends it if this fails.
    async fn wake_when_due(&self, intent: &MailIntent) {
        let Some(after) = intent
            .next_attempt_at
            .and_then(|due| (due - self.now).to_std().ok())
            .filter(|after| *after <= vls_runtime::queue::MAX_DELAY)
        else {
            return;
        };
        let wakeup = Wakeup {
            mail_id: intent.id.clone(),
        };
        if let Err(e) = self.app.wakeups.send_later(&wakeup, after).await {
            tracing::warn!(mail_id = %intent.id, error = %e, "no wake-up; the sweep will send it");
        }
    }

    /// Parks the intent as failed and shows it on the agreement (re-read: it may have
    /// moved on since the claim).
    async fn park(&self, claimed: &MailIntent, failed: &MailIntent) -> Result<Outcome, TxFailure> {
        for _ in 0..5 {
            let Some(agreement) = self.app.store.agreement(&claimed.agreement_id).await? else {
                return Ok(Outcome::Missing);
            };
            let marked = outbox::parked_on(&agreement, failed, self.now);
            let change = changes::parked(claimed, failed, &marked, agreement.version);
            match self.commit(&change).await {
                Ok(()) => return Ok(Outcome::Failed),
                Err(TxFailure::Store(e)) => return Err(e.into()),
                Err(_) => continue,
            }
        }
        Err(TxFailure::Conflict)
    }
}

/// Alarm-able: nothing goes out until an operator acts or the quota frees; the log says what.
fn blocked(reason: MailRefusal) {
    if reason == MailRefusal::RecipientNotVerified {
        tracing::error!(
            metric = "mail_sending_blocked",
            reason = reason.code(),
            "the SES account is in the sandbox and sends only to verified recipients: verify \
             the recipient or request production access; every mail waits"
        );
    } else {
        tracing::error!(
            metric = "mail_sending_blocked",
            reason = reason.code(),
            "SES takes no mail from this account now; every mail waits"
        );
    }
}

/// One intent's outcome, whatever happened to it: an error on one intent is logged with its
/// id and never stops the others. An intent that cannot be read is set aside after
/// `set_aside_after` runs.
async fn outcome_of(app: &MailerApp, id: &MailId, request_id: &str) -> Outcome {
    match process(app, id, request_id).await {
        Ok(outcome) => {
            if let Some(metric) = outcome.metric() {
                vls_store::count(metric);
            }
            outcome
        }
        Err(e) => {
            tracing::error!(mail_id = %id, error = %e, "mail intent could not be processed");
            if matches!(e, StoreError::Corrupt(_)) {
                match app
                    .store
                    .unreadable_mail(id, app.settings.set_aside_after)
                    .await
                {
                    Ok(true) => {
                        tracing::error!(mail_id = %id, "unreadable mail intent set aside");
                        vls_store::count(Metric::MailSetAside);
                    }
                    Ok(false) => {}
                    Err(e) => tracing::error!(mail_id = %id, error = %e, "could not count it"),
                }
            }
            Outcome::Unreadable
        }
    }
}

/// Sends everything pending and due, page by page from a shard of its own choosing, up to
/// `in_flight` intents at a time (the pacer spaces their sends), until the account refuses all
/// mail or the sweep's time is up. Mail SES throttled is due again in a moment: the sweep waits
/// for it and goes round again while its time lasts, rather than leaving it to the next run.
pub async fn sweep(
    app: &MailerApp,
    request_id: &str,
) -> Result<Vec<(MailId, Outcome)>, StoreError> {
    let started = std::time::Instant::now();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let again = app.settings.waits.throttled.to_std().unwrap_or_default();
    let mut done = Vec::new();
    loop {
        let round = sweep_round(app, request_id, started, &stop).await?;
        let throttled = round.iter().any(|(_, o)| *o == Outcome::Throttled);
        done.extend(round);
        if stop.load(Ordering::SeqCst)
            || !throttled
            || started.elapsed() + again > app.settings.sweep_budget
        {
            return Ok(done);
        }
        tokio::time::sleep(again).await;
    }
}

/// One round of the outbox shards, from a shard of its own choosing.
async fn sweep_round(
    app: &MailerApp,
    request_id: &str,
    started: std::time::Instant,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<Vec<(MailId, Outcome)>, StoreError> {
    let now = (app.clock)();
    let mut done = Vec::new();
    let mut start = Some(Cursor::at_shard(any_shard()));
    while let Some(cursor) = start {
        let (ids, next) = app
            .store
            .due_mails(now, app.settings.page, Some(cursor))
            .await?;
        let page: Vec<(MailId, Outcome)> = futures::stream::iter(ids)
            .map(|id| async move {
                if stop.load(Ordering::SeqCst) || started.elapsed() > app.settings.sweep_budget {
                    stop.store(true, Ordering::SeqCst);
                    return None;
                }
                let outcome = outcome_of(app, &id, request_id).await;
                if outcome == Outcome::Blocked {
                    stop.store(true, Ordering::SeqCst);
                }
                Some((id, outcome))
            })
            .buffer_unordered(app.settings.in_flight.max(1))
            .filter_map(|done| async move { done })
            .collect()
            .await;
        done.extend(page);
        if stop.load(Ordering::SeqCst) {
            break;
        }
        start = next;
    }
    Ok(done)
}

/// A shard to start a sweep at: mailers side by side spread over the shards.
fn any_shard() -> usize {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize)
}

/// The mail intents a DynamoDB stream batch announces, each with its record's sequence
/// number; `None` for any other event.
pub fn stream_mail_ids(event: &Value) -> Option<Vec<(String, MailId)>> {
    vls_runtime::queue::stream_ids(event, "mail", MailId::parse)
}

/// The mail a wake-up names (with its message id), if it reads.
fn wakeup_of(m: &vls_runtime::queue::Message) -> Option<(String, MailId)> {
    match serde_json::from_str::<Wakeup>(&m.body) {
        Ok(w) => Some((m.message_id.clone(), w.mail_id)),
        Err(e) => {
            tracing::warn!(message_id = %m.message_id, error = %e, "not a wake-up; dropped");
            None
        }
    }
}

/// Named intents one after another (a stream batch's, or the wake-ups'): an unreadable one is
/// added to `failures` by its identifier, and nothing more is tried once the account refuses
/// all mail.
async fn in_turn(
    app: &MailerApp,
    ids: Vec<(String, MailId)>,
    request_id: &str,
    failures: &mut Vec<String>,
) -> Vec<(MailId, Outcome)> {
    let mut out = Vec::new();
    for (identifier, id) in ids {
        let outcome = outcome_of(app, &id, request_id).await;
        if outcome == Outcome::Unreadable {
            failures.push(identifier);
        }
        out.push((id, outcome));
        if outcome == Outcome::Blocked {
            break;
        }
    }
    out
}

/// What an invocation answers: a stream's or the queue's batch, which records to offer again;
/// the sweep, what happened to each intent it took.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Ran {
    Batch(BatchResponse),
    Sweep { processed: Vec<Processed> },
}

/// One intent the sweep took, and what happened to it.
#[derive(Debug, Serialize)]
pub struct Processed {
    pub mail_id: MailId,
    pub outcome: Outcome,
}

/// A stream batch sends what it announces and reports the records it could not process
/// (`batchItemFailures`: the stream retries those alone); wake-ups from the queue send the
/// mail they name; anything else (the schedule) sweeps.
pub async fn handle(app: &MailerApp, request_id: &str, event: Value) -> Result<Ran, StoreError> {
    let span = tracing::info_span!("invocation", request_id);
    run(app, request_id, event).instrument(span).await
}

async fn run(app: &MailerApp, request_id: &str, event: Value) -> Result<Ran, StoreError> {
    let mut failures = Vec::new();
    let (outcomes, batch) = if let Some(messages) = vls_runtime::queue::messages(&event) {
        // A wake-up is never offered again: its intent is pending in the table, and if this
        // turn could not send it, its next wake-up or the sweep will.
        let ids = messages.iter().filter_map(wakeup_of).collect();
        (in_turn(app, ids, request_id, &mut Vec::new()).await, true)
    } else if let Some(records) = stream_mail_ids(&event) {
        (in_turn(app, records, request_id, &mut failures).await, true)
    } else {
        (sweep(app, request_id).await?, false)
    };
    if !outcomes.is_empty() {
        let mut counts = std::collections::BTreeMap::new();
        for (_, o) in &outcomes {
            *counts.entry(*o).or_insert(0usize) += 1;
        }
        tracing::info!(processed = outcomes.len(), failed = failures.len(), outcomes = ?counts,
            "mailer run");
    }
    if batch {
        // What the stream or the queue reads: the records to offer again, and nothing else.
        return Ok(Ran::Batch(BatchResponse::failing(failures)));
    }
    let processed = outcomes
        .into_iter()
        .map(|(mail_id, outcome)| Processed { mail_id, outcome })
        .collect();
    Ok(Ran::Sweep { processed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_mail_ids_from_a_stream_batch_only() {
        let id = MailId::generate();
        let batch = json!({"Records": [
            {"eventName": "INSERT",
             "dynamodb": {"SequenceNumber": "1",
                          "NewImage": {"type": {"S": "mail"}, "id": {"S": id.as_str()}}}},
            {"eventName": "INSERT",
             "dynamodb": {"NewImage": {"type": {"S": "order"}, "id": {"S": "ord_x"}}}},
            {"eventName": "REMOVE", "dynamodb": {}},
        ]});
        assert_eq!(stream_mail_ids(&batch), Some(vec![("1".to_owned(), id)]));
        let schedule = json!({"source": "aws.events", "detail-type": "Scheduled Event",
                              "time": "2026-11-28T10:00:00Z"});
        assert_eq!(stream_mail_ids(&schedule), None);
    }

    #[test]
    fn retry_schedule() {
        let s = MailerSettings::default();
        assert_eq!(s.waits.retry_after.len(), 7);
        assert_eq!(s.waits.retry_after[0], Duration::seconds(10));
        assert_eq!(s.waits.retry_after.last(), Some(&Duration::hours(4)));
    }
}
