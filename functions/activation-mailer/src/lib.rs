//! `activation-mailer`: sends every pending activation-mail intent through SES v2 (R5, R8),
//! from the table's stream and a sweeping schedule (README: Design decisions, Mailer).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::Instrument;
use vls::config::Clock;
use vls::mail::{Mailer, activation_mail};
use vls::model::{Actor, Agreement, Event, MailIntent, MailRefusal, Order};
use vls::rules::activation::{Issued, LinkToken, issue_link};
use vls::rules::outbox::{self, Claim, Idle, Refused};
use vls::store::{Store, StoreError, TxFailure};
use vls::types::MailId;

pub struct MailerSettings {
    pub sender: String,
    /// Links are `<public_base_url>/activate/<token>`.
    pub public_base_url: String,
    pub link_ttl: Duration,
    /// How long a sender may hold an intent before another may take it over.
    pub lease: Duration,
    /// Delay before the next attempt after the n-th failure; after the last, the intent fails.
    pub retry_after: Vec<Duration>,
}

impl Default for MailerSettings {
    fn default() -> Self {
        Self {
            sender: "licensing@vls.example.com".into(),
            public_base_url: "http://127.0.0.1:9000".into(),
            link_ttl: Duration::days(30),
            lease: Duration::seconds(60),
            retry_after: [10, 30, 60, 300, 900, 3600, 4 * 3600]
                .into_iter()
                .map(Duration::seconds)
                .collect(),
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

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.retry_after.len() as u32 + 1
    }
}

pub struct MailerApp {
    pub store: Store,
    pub mailer: Mailer,
    pub settings: MailerSettings,
    pub clock: Clock,
}

/// What happened to one intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Sent,
    /// The agreement was associated before the mail went out: nothing to activate.
    Skipped,
    /// SES refused it; it stays pending until its next attempt.
    Retrying,
    /// Given up after the last attempt; the agreement shows it.
    Failed,
    /// Not due yet (backoff), or another sender holds it.
    NotDue,
    /// Already sent, skipped or failed.
    Done,
    Missing,
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
    let Some((agreement, orders)) = app.store.agreement_with_orders(&mail.agreement_id).await?
    else {
        return Ok(Outcome::Missing);
    };
    let run = Run {
        app,
        request_id,
        now,
    };
    match outbox::claim(&mail, &agreement, now, app.settings.lease) {
        Claim::Skip(skipped) => run.skip(&mail, &skipped, &agreement).await,
        Claim::Send(claimed) => {
            let issued = run.issue(&mail, &claimed, &agreement).await?;
            run.send(&mail, &claimed, &issued, &orders).await
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
    fn event(&self, action: &str, mail: &MailIntent, details: Value) -> Event {
        let actor = Actor::system("activation-mailer");
        Event::new(self.now, action, actor, self.request_id)
            .on_agreement(&mail.agreement_id)
            .with(details)
    }

    /// The agreement was associated first: the intent is skipped, and the trail says why.
    async fn skip(
        &self,
        mail: &MailIntent,
        skipped: &MailIntent,
        agreement: &Agreement,
    ) -> Result<Outcome, TxFailure> {
        let event = self.event(
            "activation_email.skipped",
            mail,
            json!({ "mail_id": mail.id, "reason": "agreement_associated",
                    "account_id": agreement.account_id }),
        );
        let mut tx = self.app.store.tx();
        tx.replace(skipped, mail.version)
            .event(&mail.agreement_id, &event);
        self.app.store.commit(tx).await?;
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
        let event = self.event(
            "activation_link.issued",
            mail,
            json!({ "mail_id": mail.id, "attempt": claimed.attempts,
                    "expires_at": issued.link.expires_at }),
        );
        let mut tx = self.app.store.tx();
        tx.event(&mail.agreement_id, &event)
            .replace(claimed, mail.version)
            .replace(&issued.agreement, agreement.version)
            .create_link(&issued.token.hash(), &issued.link);
        self.app.store.commit(tx).await?;
        Ok(issued)
    }

    /// Sends the mail, then records what the mail service answered.
    async fn send(
        &self,
        mail: &MailIntent,
        claimed: &MailIntent,
        issued: &Issued,
        orders: &[Order],
    ) -> Result<Outcome, TxFailure> {
        let settings = &self.app.settings;
        let url = format!(
            "{}/activate/{}",
            settings.public_base_url,
            issued.token.as_str()
        );
        let content = activation_mail(&issued.agreement, orders, &url, issued.link.expires_at);
        let to = &issued.agreement.osm.email;
        let message_id = match self.app.mailer.send(to, &content).await {
            Ok(message_id) => message_id,
            Err(err) => {
                tracing::warn!(mail_id = %mail.id, attempts = claimed.attempts,
                    reason = err.reason.code(), error = %err.detail, "activation mail refused");
                return self.refused(claimed, err.reason).await;
            }
        };
        let sent = outbox::sent(claimed, message_id.clone(), (self.app.clock)());
        let event = self.event(
            "activation_email.sent",
            mail,
            json!({ "mail_id": mail.id, "sent_to": to.masked(), "reason": mail.reason,
                    "ses_message_id": message_id, "link_expires_at": issued.link.expires_at }),
        );
        let mut tx = self.app.store.tx();
        tx.replace(&sent, claimed.version)
            .event(&mail.agreement_id, &event);
        if let Err(e) = self.app.store.commit(tx).await {
            // SES has the mail; only the record is missing. Leave the lease to expire
            // rather than send twice now.
            tracing::error!(error = %e, mail_id = %mail.id, "sent, but could not record it");
        }
        tracing::info!(mail_id = %mail.id, attempts = claimed.attempts, "activation mail sent");
        Ok(Outcome::Sent)
    }

    async fn refused(
        &self,
        claimed: &MailIntent,
        reason: MailRefusal,
    ) -> Result<Outcome, TxFailure> {
        match outbox::refused(claimed, reason, self.now, &self.app.settings.retry_after) {
            Refused::Retry(retry) => {
                let mut tx = self.app.store.tx();
                tx.replace(&retry, claimed.version);
                self.app.store.commit(tx).await?;
                Ok(Outcome::Retrying)
            }
            Refused::Park(failed) => self.park(claimed, &failed).await,
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
            let event = self.event(
                "activation_email.failed",
                claimed,
                json!({ "mail_id": claimed.id, "attempts": claimed.attempts,
                        "reason": failed.last_error }),
            );
            let mut tx = self.app.store.tx();
            tx.replace(failed, claimed.version)
                .replace(&marked, agreement.version)
                .event(&claimed.agreement_id, &event);
            match self.app.store.commit(tx).await {
                Ok(()) => return Ok(Outcome::Failed),
                Err(TxFailure::Store(e)) => return Err(e.into()),
                Err(_) => continue,
            }
        }
        Err(TxFailure::Conflict)
    }
}

/// Sends everything pending and due.
pub async fn sweep(
    app: &MailerApp,
    request_id: &str,
) -> Result<Vec<(MailId, Outcome)>, StoreError> {
    let now = (app.clock)();
    let mut done = Vec::new();
    for id in app.store.due_mails(now, 100).await? {
        let outcome = process(app, &id, request_id).await?;
        done.push((id, outcome));
    }
    Ok(done)
}

/// The mail intents a DynamoDB stream batch announces, or `None` for any other event.
pub fn stream_mail_ids(event: &Value) -> Option<Vec<MailId>> {
    let records = event.get("Records")?.as_array()?;
    Some(
        records
            .iter()
            .filter_map(|r| r.pointer("/dynamodb/NewImage"))
            .filter(|img| img.pointer("/type/S").and_then(Value::as_str) == Some("mail"))
            .filter_map(|img| img.pointer("/id/S").and_then(Value::as_str))
            .filter_map(MailId::parse)
            .collect(),
    )
}

/// A stream batch sends what it announces; anything else (the schedule) sweeps.
pub async fn handle(app: &MailerApp, request_id: &str, event: Value) -> Result<Value, StoreError> {
    let span = tracing::info_span!("invocation", request_id);
    run(app, request_id, event).instrument(span).await
}

async fn run(app: &MailerApp, request_id: &str, event: Value) -> Result<Value, StoreError> {
    let outcomes = match stream_mail_ids(&event) {
        Some(ids) => {
            let mut out = Vec::new();
            for id in ids {
                let o = process(app, &id, request_id).await?;
                out.push((id, o));
            }
            out
        }
        None => sweep(app, request_id).await?,
    };
    tracing::info!(processed = outcomes.len(), "mailer run");
    let processed: Vec<Value> = outcomes
        .iter()
        .map(|(id, o)| json!({"mail_id": id, "outcome": o}))
        .collect();
    Ok(json!({ "processed": processed }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mail_ids_from_a_stream_batch_only() {
        let id = MailId::generate();
        let batch = json!({"Records": [
            {"eventName": "INSERT",
             "dynamodb": {"NewImage": {"type": {"S": "mail"}, "id": {"S": id.as_str()}}}},
            {"eventName": "INSERT",
             "dynamodb": {"NewImage": {"type": {"S": "order"}, "id": {"S": "ord_x"}}}},
            {"eventName": "REMOVE", "dynamodb": {}},
        ]});
        assert_eq!(stream_mail_ids(&batch), Some(vec![id]));
        let schedule = json!({"source": "aws.events", "detail-type": "Scheduled Event",
                              "time": "2026-11-28T10:00:00Z"});
        assert_eq!(stream_mail_ids(&schedule), None);
    }

    #[test]
    fn retry_schedule() {
        let s = MailerSettings::default();
        assert_eq!(s.max_attempts(), 8);
        assert_eq!(s.retry_after[0], Duration::seconds(10));
    }
}
