//! What one attempt of a delivery decides (SPEC §6.7): the attempt recorded, and the delivery
//! succeeded, waiting for its next attempt (the retry schedule with its jitter, a receiver's
//! `Retry-After` up to a day), or failed; a 410 also disables its endpoint (`gone`).

use chrono::{DateTime, Utc};

use crate::model::{Attempt, Delivery, DeliveryStatus};
use crate::webhooks::{Next, after_attempt};

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
    use crate::types::{EndpointId, EventId, PartnerId};
    use std::time::Duration;

    fn pending() -> Delivery {
        let endpoint = WebhookEndpoint {
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
        };
        let event = EventId::generate();
        Delivery::of(
            (&event, "order.invoiced", Some(1)),
            &endpoint,
            at("2027-01-01T00:00:00Z"),
        )
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
