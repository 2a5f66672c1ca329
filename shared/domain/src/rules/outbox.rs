//! The activation mail's outbox (R5, R8): what a sender may do with an intent, and what each
//! answer of the mail service makes of it. The mailer reads, asks here, commits.

use chrono::{DateTime, Duration, Utc};

use crate::model::{Agreement, MailFailure, MailIntent, MailRefusal, MailStatus};

/// Why a sender leaves an intent alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Sent, skipped or failed already.
    Done,
    /// Waiting for its next attempt, or another sender holds its lease.
    NotDue,
}

/// Whether the intent is a sender's to work on now.
pub fn workable(mail: &MailIntent, now: DateTime<Utc>) -> Result<(), Idle> {
    if mail.status != MailStatus::Pending {
        return Err(Idle::Done);
    }
    let later = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t > now);
    if later(mail.next_attempt_at) || later(mail.lease_until) {
        return Err(Idle::NotDue);
    }
    Ok(())
}

/// What a sender does with a workable intent (changes: the intent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The agreement was associated before the mail went out: nothing left to activate.
    Skip(MailIntent),
    /// Leased to this sender for `lease`, one more attempt counted; its link is issued in
    /// the same transaction.
    Send(MailIntent),
}

pub fn claim(
    mail: &MailIntent,
    agreement: &Agreement,
    now: DateTime<Utc>,
    lease: Duration,
) -> Claim {
    if agreement.account_id.is_some() {
        return Claim::Skip(MailIntent {
            status: MailStatus::Skipped,
            version: mail.version + 1,
            ..mail.clone()
        });
    }
    Claim::Send(MailIntent {
        attempts: mail.attempts + 1,
        lease_until: Some(now + lease),
        version: mail.version + 1,
        ..mail.clone()
    })
}

/// The mail service took it (changes: the intent, now sent and released).
pub fn sent(claimed: &MailIntent, message_id: String, at: DateTime<Utc>) -> MailIntent {
    MailIntent {
        status: MailStatus::Sent,
        lease_until: None,
        ses_message_id: Some(message_id),
        sent_at: Some(at),
        last_error: None,
        version: claimed.version + 1,
        ..claimed.clone()
    }
}

/// The mail service refused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Pending again from `next_attempt_at` (changes: the intent).
    Retry(MailIntent),
    /// The last attempt: given up (changes: the intent; the agreement, see [`parked_on`]).
    Park(MailIntent),
}

/// `retry_after[n - 1]` is the wait after the n-th refusal; after the last, the intent fails.
pub fn refused(
    claimed: &MailIntent,
    reason: MailRefusal,
    now: DateTime<Utc>,
    retry_after: &[Duration],
) -> Refused {
    let released = MailIntent {
        lease_until: None,
        last_error: Some(reason),
        version: claimed.version + 1,
        ..claimed.clone()
    };
    match retry_after.get((claimed.attempts as usize).saturating_sub(1)) {
        Some(delay) => Refused::Retry(MailIntent {
            next_attempt_at: Some(now + *delay),
            ..released
        }),
        _ => Refused::Park(MailIntent {
            status: MailStatus::Failed,
            ..released
        }),
    }
}

/// The agreement showing its parked mail, so its partner and billing support see it.
pub fn parked_on(agreement: &Agreement, failed: &MailIntent, now: DateTime<Utc>) -> Agreement {
    Agreement {
        activation_email_failed: Some(MailFailure {
            mail_id: failed.id.clone(),
            at: now,
            attempts: failed.attempts,
            reason: failed.last_error.unwrap_or_default(),
        }),
        version: agreement.version + 1,
        ..agreement.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MailReason;
    use crate::testing::{account, agreement, at};

    fn mail() -> MailIntent {
        let now = at("2026-11-01T10:00:00Z");
        MailIntent::activation(agreement().id, None, MailReason::Invoiced, now)
    }

    #[test]
    fn only_a_pending_due_free_intent_is_workable() {
        let now = at("2026-11-01T10:05:00Z");
        assert_eq!(workable(&mail(), now), Ok(()));
        let sent = MailIntent {
            status: MailStatus::Sent,
            ..mail()
        };
        assert_eq!(workable(&sent, now), Err(Idle::Done));
        let leased = MailIntent {
            lease_until: Some(now + Duration::seconds(1)),
            ..mail()
        };
        assert_eq!(workable(&leased, now), Err(Idle::NotDue));
        let waiting = MailIntent {
            next_attempt_at: Some(now + Duration::seconds(1)),
            ..mail()
        };
        assert_eq!(workable(&waiting, now), Err(Idle::NotDue));
        let lapsed = MailIntent {
            lease_until: Some(now),
            ..mail()
        };
        assert_eq!(workable(&lapsed, now), Ok(()));
    }

    #[test]
    fn an_associated_agreement_skips_its_mail_and_otherwise_the_sender_leases_it() {
        let now = at("2026-11-01T10:05:00Z");
        let lease = Duration::seconds(60);
        let associated = Agreement {
            account_id: Some(account().id),
            ..agreement()
        };
        let Claim::Skip(skipped) = claim(&mail(), &associated, now, lease) else {
            panic!("skipped")
        };
        assert_eq!(
            (skipped.status, skipped.version, skipped.attempts),
            (MailStatus::Skipped, 2, 0)
        );
        let Claim::Send(claimed) = claim(&mail(), &agreement(), now, lease) else {
            panic!("claimed")
        };
        assert_eq!((claimed.attempts, claimed.version), (1, 2));
        assert_eq!(claimed.lease_until, Some(now + lease));
        let done = sent(&claimed, "m-1".into(), now);
        assert_eq!(
            (done.status, done.lease_until, done.version),
            (MailStatus::Sent, None, 3)
        );
    }

    #[test]
    fn refusals_wait_their_turn_then_park_on_the_agreement() {
        let now = at("2026-11-01T10:05:00Z");
        let waits = [Duration::seconds(10), Duration::seconds(30)];
        let nth = |attempts| MailIntent {
            attempts,
            lease_until: Some(now),
            ..mail()
        };
        let Refused::Retry(first) = refused(&nth(1), MailRefusal::Unavailable, now, &waits) else {
            panic!("retried")
        };
        assert_eq!(first.next_attempt_at, Some(now + waits[0]));
        assert_eq!(
            (first.lease_until, first.status),
            (None, MailStatus::Pending)
        );
        let Refused::Retry(second) = refused(&nth(2), MailRefusal::Unavailable, now, &waits) else {
            panic!("retried")
        };
        assert_eq!(second.next_attempt_at, Some(now + waits[1]));
        let Refused::Park(failed) = refused(&nth(3), MailRefusal::RejectedAddress, now, &waits)
        else {
            panic!("parked")
        };
        assert_eq!(failed.status, MailStatus::Failed);
        let shown = parked_on(&agreement(), &failed, now);
        let failure = shown.activation_email_failed.expect("shown");
        assert_eq!(
            (failure.attempts, failure.reason),
            (3, MailRefusal::RejectedAddress)
        );
        assert_eq!(shown.version, agreement().version + 1);
    }
}
