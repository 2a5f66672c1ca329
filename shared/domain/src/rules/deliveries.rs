//! What one attempt of a delivery decides (SPEC §6.7): the attempt recorded, and the delivery
//! succeeded, waiting for its next attempt (the retry schedule with its jitter, a receiver's
//! `Retry-After` up to a day), or failed; a 410 also disables its endpoint (`gone`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::change::{Change, Decision, Write};
use crate::error::RuleError;
use crate::metrics::Metric;
use crate::model::{
    Attempt, Delivery, DeliveryStatus, DisabledReason, EndpointStatus, MailIntent, Partner, Replay,
    WebhookEndpoint, WebhookFailure,
};
use crate::notices::PartnerEvent;
use crate::rules::endpoints;
use crate::types::{AgreementId, DeliveryId, EndpointId, EventId};
use crate::webhooks::{Next, after_attempt};

/// Test events an endpoint may be sent in one minute (then 429 `rate_limited`).
pub const TESTS_A_MINUTE: u32 = 5;

/// Deliveries one step of a replay makes (with the replay itself, one transaction).
pub const REPLAY_STEP: usize = 98;

/// The minute (since the epoch) `at` falls in: test events are counted per minute.
pub fn minute_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

/// The delivery queue's message (SPEC §6.8): a delivery to work, once it is due. It decides
/// nothing: the delivery in the table says whether and when it is sent, so a message lost,
/// repeated or early costs a delay (the sweep) or a read, never a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Due {
    pub endpoint_id: EndpointId,
    pub delivery_id: DeliveryId,
}

impl Due {
    pub fn of(delivery: &Delivery) -> Self {
        Self {
            endpoint_id: delivery.endpoint_id.clone(),
            delivery_id: delivery.id.clone(),
        }
    }
}

/// A `webhook.test` event, delivered to `endpoint` alone (never sequenced or listed): its
/// delivery, which carries the event's bytes, due at once. `sent`: the test events of this
/// minute so far; past [`TESTS_A_MINUTE`] it is refused until the next minute.
pub fn test(
    endpoint: &WebhookEndpoint,
    sent: u32,
    now: DateTime<Utc>,
) -> Result<Decision<Delivery>, RuleError> {
    let minute = minute_of(now);
    if sent >= TESTS_A_MINUTE {
        let next = (minute + 1) * 60 - now.timestamp();
        return Err(RuleError::RateLimited {
            retry_after_seconds: u64::try_from(next.max(1)).unwrap_or(60),
        });
    }
    let event = PartnerEvent {
        id: EventId::generate(),
        kind: "webhook.test".to_owned(),
        partner_id: endpoint.partner_id.clone(),
        agreement_id: None,
        occurred_at: now,
        object: serde_json::json!({ "endpoint_id": endpoint.id }),
        complete: true,
        sequence: None,
    };
    let mut delivery = Delivery::of((&event.id, &event.kind, None), endpoint, now);
    delivery.body = Some(event.body());
    let change = Change::default().create(&delivery).write(Write::TestsSent {
        endpoint: endpoint.id.clone(),
        minute,
        before: sent,
    });
    Ok(Decision {
        outcome: delivery,
        change,
    })
}

/// A new delivery of `delivery`'s event to the same endpoint, due at once: a new id, the same
/// event id (and, for a test event, the same bytes).
pub fn again(delivery: &Delivery, id: DeliveryId, now: DateTime<Utc>) -> Delivery {
    Delivery {
        id,
        status: DeliveryStatus::Pending,
        attempts: Vec::new(),
        next_attempt_at: Some(now),
        lease_until: None,
        created_at: now,
        version: 1,
        ..delivery.clone()
    }
}

/// POST …/deliveries/{id}/redeliver: [`again`], made.
pub fn redeliver(delivery: &Delivery, now: DateTime<Utc>) -> Decision<Delivery> {
    let made = again(delivery, DeliveryId::generate(), now);
    Decision {
        change: Change::default().create(&made),
        outcome: made,
    }
}

/// What one step of a replay writes: its deliveries, and the replay moved on or gone.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayStep {
    pub change: Change,
    /// The deliveries it makes, each due at once.
    pub deliveries: Vec<Due>,
    /// The replay is done (deleted by this step).
    pub done: bool,
}

/// One step of `replay` (read at its version) to `endpoint`: a delivery, due at once, for
/// each of `events` (the next of the partner's feed after the replay's position, at most
/// [`REPLAY_STEP`], each `(id, type, sequence)`, those the endpoint does not take left out),
/// and the replay moved on to `read_through` (the last sequence read), or gone when that is
/// its end.
pub fn replay_step(
    replay: &Replay,
    endpoint: &WebhookEndpoint,
    events: &[(EventId, String, u64)],
    read_through: u64,
    now: DateTime<Utc>,
) -> ReplayStep {
    let mut change = Change::default();
    let mut deliveries = Vec::new();
    let asked = |kind: &String| replay.types.is_empty() || replay.types.contains(kind);
    let range = replay.after_sequence + 1..=replay.through_sequence;
    for (id, kind, sequence) in events.iter().take(REPLAY_STEP) {
        if endpoint.wants(kind) && asked(kind) && range.contains(sequence) {
            let first = Delivery::of((id, kind, Some(*sequence)), endpoint, now);
            let made = again(&first, DeliveryId::generate(), now);
            deliveries.push(Due::of(&made));
            change = change.create(&made);
        }
    }
    let through = read_through.min(replay.through_sequence);
    let done = through >= replay.through_sequence;
    let change = if done {
        change.delete(replay, replay.version)
    } else {
        let moved = Replay {
            after_sequence: through.max(replay.after_sequence),
            version: replay.version + 1,
            ..replay.clone()
        };
        change.replace(&moved, replay.version)
    };
    ReplayStep {
        change,
        deliveries,
        done,
    }
}

/// How one attempt ended: the receiver's status code and `Retry-After`, or why there was no
/// answer (a refused address, a refused connection, a timeout), and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    pub at: DateTime<Utc>,
    pub status: Option<u16>,
    pub retry_after: Option<std::time::Duration>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// The delivery after `tried` (it was leased at version `delivery.version`), and whether its
/// endpoint must be disabled as gone. `jitter` in [-1, 1] spreads the wait (±10 %).
pub fn attempted(delivery: &Delivery, tried: Tried, jitter: f64) -> (Delivery, bool) {
    let mut after = Delivery {
        lease_until: None,
        version: delivery.version + 1,
        ..delivery.clone()
    };
    after.attempts.push(Attempt {
        at: tried.at,
        status_code: tried.status,
        error: tried.error,
        duration_ms: tried.duration_ms,
    });
    let number = u32::try_from(after.attempts.len()).unwrap_or(u32::MAX);
    let next = after_attempt(number, tried.status, tried.retry_after, jitter);
    let (status, due) = match next {
        Next::Succeeded => (DeliveryStatus::Succeeded, None),
        Next::Gone | Next::Failed => (DeliveryStatus::Failed, None),
        Next::RetryIn(wait) => {
            let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::days(1));
            (DeliveryStatus::Pending, Some(tried.at + wait))
        }
    };
    after.status = status;
    after.next_attempt_at = due;
    (after, next == Next::Gone)
}

/// How long an endpoint may go without a successful attempt before it is disabled
/// (`failing`); what it missed meanwhile is a replay's once it is enabled again.
pub fn failing_for() -> chrono::Duration {
    chrono::Duration::days(5)
}

/// How often at most a partner's contact is mailed that deliveries to one endpoint fail.
pub fn failure_mail_every() -> chrono::Duration {
    chrono::Duration::days(1)
}

/// What an attempt's outcome (`after`, and whether it was a 410) does to its endpoint, read
/// with its partner: a 410 disables it (`gone`); a failure starts its failing time, and five
/// days into it disables it (`failing`); a success ends it. A delivery given up after its
/// last attempt also mails the partner's contact, at most once a day per endpoint, through
/// the outbox (`about`: the event's agreement; a test event, about none, mails nobody).
/// Nothing for an endpoint already disabled, nor when nothing changes (most attempts write
/// the delivery alone).
pub fn endpoint_after(
    (partner, endpoint): (&Partner, &WebhookEndpoint),
    after: &Delivery,
    (gone, about): (bool, Option<&AgreementId>),
    now: DateTime<Utc>,
) -> Change {
    if endpoint.status != EndpointStatus::Enabled {
        return Change::default();
    }
    let reason = match (gone, after.status, endpoint.failing_since) {
        (true, ..) => Some(DisabledReason::Gone),
        (false, DeliveryStatus::Succeeded, _) => None,
        (false, _, Some(since)) if now - since >= failing_for() => Some(DisabledReason::Failing),
        _ => None,
    };
    if let Some(reason) = reason {
        let off = endpoints::disable(partner, endpoint, reason);
        return off.change.count(Metric::EndpointDisabled);
    }
    let mut moved = endpoint.clone();
    moved.failing_since = match after.status {
        DeliveryStatus::Succeeded => None,
        _ => endpoint.failing_since.or(Some(now)),
    };
    let mut change = Change::default();
    let due = endpoint
        .failure_mailed_at
        .is_none_or(|t| now - t >= failure_mail_every());
    if let (DeliveryStatus::Failed, Some(agreement), true) = (after.status, about, due) {
        moved.failure_mailed_at = Some(now);
        let mail = MailIntent::webhook_failed(agreement.clone(), failure_of(endpoint, after), now);
        change = change.create(&mail);
    }
    if moved == *endpoint {
        return change;
    }
    moved.version = endpoint.version + 1;
    change.replace(&moved, endpoint.version)
}

/// What the partner's contact is told of `after`, given up.
fn failure_of(endpoint: &WebhookEndpoint, after: &Delivery) -> WebhookFailure {
    let last = after.attempts.last().map_or_else(String::new, |a| {
        a.status_code.map_or_else(
            || a.error.clone().unwrap_or_default(),
            |code| format!("HTTP {code}"),
        )
    });
    WebhookFailure {
        partner_id: endpoint.partner_id.clone(),
        endpoint_id: endpoint.id.clone(),
        url: endpoint.url.clone(),
        event_id: after.event_id.clone(),
        event_type: after.event_type.clone(),
        attempts: u32::try_from(after.attempts.len()).unwrap_or(u32::MAX),
        last,
    }
}

/// What recording `after` counts: how its attempt ended.
pub fn outcome(after: &Delivery) -> Metric {
    match after.status {
        DeliveryStatus::Succeeded => Metric::DeliverySucceeded,
        DeliveryStatus::Pending => Metric::DeliveryRetried,
        DeliveryStatus::Failed => Metric::DeliveryFailed,
        DeliveryStatus::Cancelled => Metric::DeliveryCancelled,
    }
}

/// The delivery given up without an attempt (its endpoint deleted or disabled meanwhile).
pub fn cancelled(delivery: &Delivery) -> Delivery {
    Delivery {
        status: DeliveryStatus::Cancelled,
        next_attempt_at: None,
        lease_until: None,
        version: delivery.version + 1,
        ..delivery.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EndpointStatus, WebhookEndpoint};
    use crate::testing::at;
    use crate::types::{EndpointId, EventId, PartnerId, ReplayId};
    use std::time::Duration;

    fn endpoint(enabled_events: &[&str]) -> WebhookEndpoint {
        WebhookEndpoint {
            enabled_events: enabled_events.iter().map(|e| (*e).to_owned()).collect(),
            ..pending_endpoint()
        }
    }

    fn pending() -> Delivery {
        let endpoint = pending_endpoint();
        let event = EventId::generate();
        Delivery::of(
            (&event, "order.invoiced", Some(1)),
            &endpoint,
            at("2027-01-01T00:00:00Z"),
        )
    }

    #[test]
    fn a_test_event_carries_its_bytes_and_the_sixth_of_a_minute_waits_for_the_next() {
        let e = endpoint(&["order.invoiced"]);
        let now = at("2027-01-01T00:00:23Z");
        let made = test(&e, 4, now).expect("the fifth");
        let body: serde_json::Value =
            serde_json::from_str(made.outcome.body.as_deref().expect("its bytes")).expect("json");
        assert_eq!(
            (
                &body["type"],
                &body["sequence"],
                &body["data"]["object"]["endpoint_id"]
            ),
            (
                &serde_json::json!("webhook.test"),
                &serde_json::Value::Null,
                &serde_json::json!(e.id)
            )
        );
        assert_eq!(body["id"], serde_json::json!(made.outcome.event_id));
        assert_eq!(made.outcome.sequence, None);
        let counted = made.change.writes.iter().any(|w| {
            matches!(w, Write::TestsSent { minute, before: 4, .. } if *minute == minute_of(now))
        });
        assert!(counted, "{:?}", made.change.writes);
        let refused = test(&e, TESTS_A_MINUTE, now).expect_err("the sixth");
        assert_eq!(
            refused,
            RuleError::RateLimited {
                retry_after_seconds: 37
            }
        );
    }

    #[test]
    fn a_replay_step_delivers_what_the_endpoint_takes_and_moves_on_or_ends() {
        let e = endpoint(&["order.invoiced", "true_up.billed"]);
        let replay = Replay {
            id: ReplayId::generate(),
            endpoint_id: e.id.clone(),
            partner_id: e.partner_id.clone(),
            after_sequence: 10,
            through_sequence: 20,
            types: vec!["true_up.billed".into(), "osm.changed".into()],
            created_at: at("2027-01-01T00:00:00Z"),
            version: 3,
        };
        let event = |kind: &str, s: u64| (EventId::generate(), kind.to_owned(), s);
        let page = [
            event("true_up.billed", 11),
            event("order.invoiced", 12),
            event("osm.changed", 13),
            event("true_up.billed", 14),
        ];
        let now = at("2027-01-02T00:00:00Z");
        let step = replay_step(&replay, &e, &page, 14, now);
        assert_eq!((step.deliveries.len(), step.done), (2, false));
        let made: Vec<u64> = step
            .change
            .writes
            .iter()
            .filter_map(|w| match w {
                Write::Create(crate::change::Record::Delivery(d)) => d.sequence,
                _ => None,
            })
            .collect();
        assert_eq!(made, [11, 14], "asked for and taken by the endpoint");
        let moved = step.change.writes.iter().any(|w| {
            matches!(w, Write::Replace(crate::change::Record::Replay(r), 3)
                if r.after_sequence == 14 && r.version == 4)
        });
        assert!(moved, "{:?}", step.change.writes);
        let last = replay_step(&replay, &e, &[event("true_up.billed", 21)], 20, now);
        assert_eq!(
            (last.deliveries.len(), last.done),
            (0, true),
            "past its end"
        );
        let gone = last
            .change
            .writes
            .iter()
            .any(|w| matches!(w, Write::Delete(crate::change::Record::Replay(_), 3)));
        assert!(gone);
    }

    #[test]
    fn five_days_without_a_success_disable_the_endpoint_and_a_success_ends_the_count() {
        let partner = crate::testing::partner();
        let e = pending_endpoint();
        let start = at("2027-01-01T00:00:00Z");
        let failed = |d: &Delivery| Delivery {
            status: DeliveryStatus::Pending,
            ..d.clone()
        };
        let succeeded = Delivery {
            status: DeliveryStatus::Succeeded,
            ..pending()
        };
        let counting = endpoint_after((&partner, &e), &failed(&pending()), (false, None), start);
        let since = |c: &Change| {
            c.writes.iter().find_map(|w| match w {
                Write::Replace(crate::change::Record::Endpoint(x), 1) => Some(x.failing_since),
                _ => None,
            })
        };
        assert_eq!(
            since(&counting),
            Some(Some(start)),
            "the first failure starts it"
        );
        let e = WebhookEndpoint {
            failing_since: Some(start),
            ..e
        };
        let later = start + failing_for() - chrono::Duration::seconds(1);
        let quiet = endpoint_after((&partner, &e), &failed(&pending()), (false, None), later);
        assert!(
            quiet.writes.is_empty(),
            "a failure within five days writes nothing more"
        );
        let ended = endpoint_after((&partner, &e), &succeeded, (false, None), later);
        assert_eq!(since(&ended), Some(None), "a success ends it");
        let five = start + failing_for();
        let off = endpoint_after((&partner, &e), &failed(&pending()), (false, None), five);
        let disabled = off.writes.iter().find_map(|w| match w {
            Write::Replace(crate::change::Record::Endpoint(x), 1) => x.disabled_reason,
            _ => None,
        });
        assert_eq!(disabled, Some(DisabledReason::Failing));
        let gone = endpoint_after((&partner, &e), &failed(&pending()), (true, None), start);
        let reason = gone.writes.iter().find_map(|w| match w {
            Write::Replace(crate::change::Record::Endpoint(x), 1) => x.disabled_reason,
            _ => None,
        });
        assert_eq!(reason, Some(DisabledReason::Gone));
        let asleep = WebhookEndpoint {
            status: EndpointStatus::Disabled,
            ..e
        };
        let none = endpoint_after((&partner, &asleep), &failed(&pending()), (true, None), five);
        assert!(
            none.writes.is_empty(),
            "an endpoint already disabled is left as it is"
        );
    }

    #[test]
    fn a_delivery_given_up_mails_the_partner_at_most_daily_per_endpoint() {
        let partner = crate::testing::partner();
        let agreement = crate::types::AgreementId::generate();
        let now = at("2027-01-04T00:00:00Z");
        let e = WebhookEndpoint {
            failing_since: Some(at("2027-01-01T00:00:00Z")),
            ..pending_endpoint()
        };
        let mut given_up = Delivery {
            status: DeliveryStatus::Failed,
            ..pending()
        };
        given_up.attempts.push(Attempt {
            at: now,
            status_code: Some(503),
            error: None,
            duration_ms: 40,
        });
        let mailed = |c: &Change| {
            c.writes.iter().find_map(|w| match w {
                Write::Create(crate::change::Record::Mail(m)) => m.webhook.clone(),
                _ => None,
            })
        };
        let about = Some(&agreement);
        let told = endpoint_after((&partner, &e), &given_up, (false, about), now);
        let failure = mailed(&told).expect("a mail");
        assert_eq!(
            (&failure.event_id, failure.attempts, failure.last.as_str()),
            (&given_up.event_id, 1, "HTTP 503")
        );
        let stamped = told.writes.iter().any(|w| {
            matches!(w, Write::Replace(crate::change::Record::Endpoint(x), 1)
                if x.failure_mailed_at == Some(now))
        });
        assert!(stamped, "{:?}", told.writes);
        let e = WebhookEndpoint {
            failure_mailed_at: Some(now),
            ..e
        };
        let hour = now + chrono::Duration::hours(1);
        let quiet = endpoint_after((&partner, &e), &given_up, (false, about), hour);
        assert!(mailed(&quiet).is_none(), "once a day");
        let day = now + failure_mail_every();
        let next = endpoint_after((&partner, &e), &given_up, (false, about), day);
        assert!(mailed(&next).is_some());
        let test = endpoint_after((&partner, &e), &given_up, (false, None), day);
        assert!(mailed(&test).is_none(), "a test event mails nobody");
        let retrying = Delivery {
            status: DeliveryStatus::Pending,
            ..given_up.clone()
        };
        let pending = endpoint_after((&partner, &e), &retrying, (false, about), day);
        assert!(mailed(&pending).is_none(), "only a delivery given up");
    }

    fn pending_endpoint() -> WebhookEndpoint {
        WebhookEndpoint {
            id: EndpointId::generate(),
            partner_id: PartnerId::parse("p1").expect("id"),
            url: "https://hooks.example.com".into(),
            enabled_events: vec!["*".into()],
            description: None,
            status: EndpointStatus::Enabled,
            disabled_reason: None,
            secrets: vec!["sealed".into()],
            rotation_expires_at: None,
            created_at: at("2027-01-01T00:00:00Z"),
            sequence: 1,
            version: 1,
            failing_since: None,
            failure_mailed_at: None,
        }
    }

    fn tried(status: Option<u16>, retry_after: Option<u64>) -> Tried {
        Tried {
            at: at("2027-01-01T00:00:10Z"),
            status,
            retry_after: retry_after.map(Duration::from_secs),
            error: status.is_none().then(|| "connection refused".to_owned()),
            duration_ms: 12,
        }
    }

    #[test]
    fn a_2xx_succeeds_and_a_410_fails_and_disables() {
        let (ok, gone) = attempted(&pending(), tried(Some(204), None), 0.0);
        assert_eq!(
            (ok.status, ok.next_attempt_at, gone),
            (DeliveryStatus::Succeeded, None, false)
        );
        assert_eq!(ok.attempts.len(), 1);
        assert_eq!(ok.version, 2);
        let (failed, gone) = attempted(&pending(), tried(Some(410), None), 0.0);
        assert_eq!((failed.status, gone), (DeliveryStatus::Failed, true));
    }

    #[test]
    fn failures_wait_by_the_schedule_and_retry_after_is_honoured() {
        let first = tried(Some(500), None);
        let (once, _) = attempted(&pending(), first.clone(), 0.0);
        assert_eq!(once.status, DeliveryStatus::Pending);
        assert_eq!(
            once.next_attempt_at,
            Some(first.at),
            "the first retry is at once"
        );
        let (twice, _) = attempted(&once, tried(None, None), 0.0);
        assert_eq!(
            twice.next_attempt_at,
            Some(first.at + chrono::Duration::seconds(5))
        );
        assert_eq!(
            twice.attempts[1].error.as_deref(),
            Some("connection refused")
        );
        let (asked, _) = attempted(&twice, tried(Some(503), Some(3600)), 0.0);
        assert_eq!(
            asked.next_attempt_at,
            Some(first.at + chrono::Duration::hours(1)),
            "Retry-After beyond the schedule's 5 minutes"
        );
        let mut last = asked;
        while last.status == DeliveryStatus::Pending {
            last = attempted(&last, tried(Some(500), None), 1.0).0;
        }
        assert_eq!(
            (last.status, last.attempts.len()),
            (DeliveryStatus::Failed, 11)
        );
    }

    #[test]
    fn a_cancelled_delivery_is_no_longer_due() {
        let c = cancelled(&pending());
        assert_eq!(
            (c.status, c.next_attempt_at),
            (DeliveryStatus::Cancelled, None)
        );
    }
}
