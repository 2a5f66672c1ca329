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
    Claim::Send(lease_for_send(mail, now, lease))
}

/// The intent held by one sender for `lease`, one attempt more.
pub fn lease_for_send(mail: &MailIntent, now: DateTime<Utc>, lease: Duration) -> MailIntent {
    MailIntent {
        attempts: mail.attempts + 1,
        lease_until: Some(now + lease),
        version: mail.version + 1,
        ..mail.clone()
    }
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

/// What a refusal says about the mail, and so what the outbox does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// This mail will never be taken (the address or the message): parked at once.
    Permanent,
    /// Sending faster than the account's rate: tried again shortly, not counted.
    Throttled,
    /// The account's daily quota is spent: tried again when it frees, not counted.
    QuotaSpent,
    /// Nothing can be sent from this account now (paused, suspended, the sender identity not
    /// verified, the account in the SES sandbox): every mail waits for the operator, not
    /// counted, and the mailer says so.
    AccountBlocked,
    /// Something failed on the way (SES unreachable, a 5xx): counted, retried with a growing
    /// backoff, then every few hours; never parked (R5: only a permanent refusal parks).
    Transient,
}

pub fn kind(reason: MailRefusal) -> Kind {
    match reason {
        MailRefusal::RejectedAddress | MailRefusal::RejectedMessage => Kind::Permanent,
        MailRefusal::Throttled => Kind::Throttled,
        MailRefusal::QuotaExceeded => Kind::QuotaSpent,
        MailRefusal::SendingPaused
        | MailRefusal::AccountSuspended
        | MailRefusal::SenderNotVerified
        | MailRefusal::RecipientNotVerified => Kind::AccountBlocked,
        MailRefusal::Unavailable => Kind::Transient,
    }
}

/// How long an intent waits after each kind of refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waits {
    /// `retry_after[n - 1]` is the wait after the n-th transient failure; the last one is the
    /// wait after every later failure.
    pub retry_after: Vec<Duration>,
    pub throttled: Duration,
    pub quota: Duration,
    pub blocked: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Self {
            retry_after: [10, 30, 60, 300, 900, 3600, 4 * 3600]
                .into_iter()
                .map(Duration::seconds)
                .collect(),
            throttled: Duration::seconds(2),
            quota: Duration::hours(1),
            blocked: Duration::minutes(15),
        }
    }
}

/// The mail service refused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Pending again from `next_attempt_at`, the attempt counted (changes: the intent).
    Retry(MailIntent),
    /// Pending again from `next_attempt_at`, the attempt not counted: the refusal was about
    /// the account's rate, quota or state, not this mail (changes: the intent).
    Wait(MailIntent),
    /// Given up: refused for good (changes: the intent; the agreement, see [`parked_on`]).
    Park(MailIntent),
}

pub fn refused(
    claimed: &MailIntent,
    reason: MailRefusal,
    now: DateTime<Utc>,
    waits: &Waits,
) -> Refused {
    let released = MailIntent {
        lease_until: None,
        last_error: Some(reason),
        version: claimed.version + 1,
        ..claimed.clone()
    };
    let wait = |delay: Duration| {
        Refused::Wait(MailIntent {
            attempts: claimed.attempts.saturating_sub(1),
            next_attempt_at: Some(now + delay),
            ..released.clone()
        })
    };
    let park = || {
        Refused::Park(MailIntent {
            status: MailStatus::Failed,
            ..released.clone()
        })
    };
    match kind(reason) {
        Kind::Permanent => park(),
        Kind::Throttled => wait(waits.throttled),
        Kind::QuotaSpent => wait(waits.quota),
        Kind::AccountBlocked => wait(waits.blocked),
        Kind::Transient => {
            let nth = (claimed.attempts as usize).saturating_sub(1);
            let delay = waits
                .retry_after
                .get(nth)
                .or(waits.retry_after.last())
                .copied()
                .unwrap_or(waits.blocked);
            Refused::Retry(MailIntent {
                next_attempt_at: Some(now + delay),
                ..released.clone()
            })
        }
    }
}

/// After SES took the mail, the record of it could not be written yet: the lease, moved on
/// so that no other sender takes the intent over meanwhile (changes: the intent).
pub fn extend_lease(claimed: &MailIntent, now: DateTime<Utc>, lease: Duration) -> MailIntent {
    MailIntent {
        lease_until: Some(now + lease),
        version: claimed.version + 1,
        ..claimed.clone()
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

/// What each step of sending an activation mail writes: one change each, the entry on the
/// agreement's trail (whose owner each of them writes, so the trail stays ordered).
pub mod changes {
    use super::*;
    use crate::audit::{Audit, SkippedBecause};
    use crate::change::{Audited, Change, Write};
    use crate::metrics::Metric;
    use crate::rules::activation::Issued;
    use crate::types::PartnerId;
    use crate::views::ActivationEmailView;

    fn entry(mail: &MailIntent, audit: Audit) -> Audited {
        Audited::of(audit)
            .naming_agreement(&mail.agreement_id)
            .on(&mail.agreement_id)
    }

    /// The agreement was associated first: the intent skipped, and the trail says why.
    pub fn skipped(mail: &MailIntent, skipped: &MailIntent, agreement: &Agreement) -> Change {
        let audit = Audit::ActivationEmailSkipped {
            mail_id: mail.id.clone(),
            reason: SkippedBecause::AgreementAssociated,
            account_id: agreement.account_id.clone(),
        };
        Change::default()
            .replace(skipped, mail.version)
            .advance(&agreement.id, agreement.version)
            .audit(entry(mail, audit))
    }

    /// The intent leased (`claimed`) and its link issued on the agreement as read. The link's
    /// token never enters the trail; its expiry and the mail it goes with do.
    pub fn issued(
        mail: &MailIntent,
        claimed: &MailIntent,
        issued: &Issued,
        read: &Agreement,
    ) -> Change {
        let audit = Audit::ActivationLinkIssued {
            mail_id: mail.id.clone(),
            attempt: claimed.attempts,
            expires_at: issued.link.expires_at,
        };
        Change::default()
            .replace(claimed, mail.version)
            .replace(&issued.agreement, read.version)
            .write(Write::CreateLink {
                token_hash: issued.token.hash(),
                link: issued.link.clone(),
            })
            .audit(entry(mail, audit))
    }

    /// What SES answered, recorded: the intent sent (held at `held_version`), the agreement's
    /// version moved on for the entry (`sent_to`: the address, masked).
    /// The agreement's partner hears of it (`partner`).
    pub fn sent(
        sent: &MailIntent,
        held_version: u64,
        agreement_version: u64,
        (partner, sent_to): (&PartnerId, String),
        link_expires_at: DateTime<Utc>,
    ) -> Change {
        let view = ActivationEmailView::new(sent, &sent_to);
        let told = entry(
            sent,
            Audit::ActivationEmailSent {
                mail_id: sent.id.clone(),
                sent_to: sent_to.clone(),
                reason: sent.reason,
                ses_message_id: sent.ses_message_id.clone().unwrap_or_default(),
                link_expires_at,
            },
        )
        .notify(partner, &sent.agreement_id, &view);
        Change::default()
            .replace(sent, held_version)
            .advance(&sent.agreement_id, agreement_version)
            .audit(told)
    }

    /// The intent as it now stands (a lease extended, a send put off), nothing else.
    pub fn intent(intent: &MailIntent, read_version: u64) -> Change {
        Change::default().replace(intent, read_version)
    }

    /// The intent parked as failed (R5) and shown on the agreement as read (`marked`).
    pub fn parked(
        claimed: &MailIntent,
        failed: &MailIntent,
        marked: &Agreement,
        read: u64,
    ) -> Change {
        let audit = Audit::ActivationEmailFailed {
            mail_id: claimed.id.clone(),
            attempts: claimed.attempts,
            reason: failed.last_error,
        };
        let masked = marked.osm.email.masked();
        let told = ActivationEmailView::new(failed, &masked);
        Change::default()
            .replace(failed, claimed.version)
            .replace(marked, read)
            .audit(entry(claimed, audit).notify(&marked.partner_id, &marked.id, &told))
            .count(Metric::ParkedBecause(failed.last_error.unwrap_or_default()))
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

    fn waits() -> Waits {
        Waits {
            retry_after: vec![Duration::seconds(10), Duration::seconds(30)],
            ..Waits::default()
        }
    }

    fn nth(attempts: u32, now: DateTime<Utc>) -> MailIntent {
        MailIntent {
            attempts,
            lease_until: Some(now),
            ..mail()
        }
    }

    #[test]
    fn transient_failures_wait_longer_each_time_and_are_never_parked() {
        let now = at("2026-11-01T10:05:00Z");
        let waits = waits();
        for (attempts, wait) in [(1, 0), (2, 1), (3, 1), (40, 1)] {
            let refused = refused(&nth(attempts, now), MailRefusal::Unavailable, now, &waits);
            let Refused::Retry(retry) = refused else {
                panic!("attempt {attempts} is retried, not parked")
            };
            assert_eq!(retry.next_attempt_at, Some(now + waits.retry_after[wait]));
            assert_eq!(
                (retry.lease_until, retry.status),
                (None, MailStatus::Pending)
            );
            assert_eq!(retry.attempts, attempts, "counted");
        }
    }

    #[test]
    fn a_rejected_address_is_parked_at_once_and_shown_on_the_agreement() {
        let now = at("2026-11-01T10:05:00Z");
        let Refused::Park(failed) =
            refused(&nth(1, now), MailRefusal::RejectedAddress, now, &waits())
        else {
            panic!("parked")
        };
        assert_eq!(failed.status, MailStatus::Failed);
        let shown = parked_on(&agreement(), &failed, now);
        let failure = shown.activation_email_failed.expect("shown");
        assert_eq!(
            (failure.attempts, failure.reason),
            (1, MailRefusal::RejectedAddress)
        );
        assert_eq!(shown.version, agreement().version + 1);
    }

    #[test]
    fn refusals_about_the_account_wait_without_counting_an_attempt() {
        let now = at("2026-11-01T10:05:00Z");
        let waits = waits();
        for (reason, wait) in [
            (MailRefusal::Throttled, waits.throttled),
            (MailRefusal::QuotaExceeded, waits.quota),
            (MailRefusal::SendingPaused, waits.blocked),
            (MailRefusal::AccountSuspended, waits.blocked),
            (MailRefusal::SenderNotVerified, waits.blocked),
            (MailRefusal::RecipientNotVerified, waits.blocked),
        ] {
            let Refused::Wait(waiting) = refused(&nth(3, now), reason, now, &waits) else {
                panic!("{reason:?} waits")
            };
            assert_eq!(waiting.attempts, 2, "{reason:?} is not counted");
            assert_eq!(waiting.next_attempt_at, Some(now + wait), "{reason:?}");
            assert_eq!(
                (waiting.status, waiting.lease_until),
                (MailStatus::Pending, None)
            );
        }
    }

    #[test]
    fn a_sandboxed_account_refusing_the_recipient_blocks_the_mail_and_never_parks_it() {
        let why = MailRefusal::RecipientNotVerified;
        assert_eq!(kind(why), Kind::AccountBlocked);
        assert_eq!(why.code(), "recipient_not_verified");
        // The code the logs carry is the one stored with the intent.
        assert_eq!(
            serde_json::to_value(why).expect("serialise"),
            serde_json::json!(why.code())
        );
        let now = at("2026-11-01T10:05:00Z");
        let waits = waits();
        // Mail after mail, for a week of sandbox: each waits, none is parked or counted.
        let mut mail = nth(1, now);
        for round in 0..(7 * 24 * 4) {
            let Refused::Wait(waiting) = refused(&mail, why, now, &waits) else {
                panic!("round {round}: waits")
            };
            assert_eq!((waiting.status, waiting.attempts), (MailStatus::Pending, 0));
            mail = MailIntent {
                attempts: waiting.attempts + 1,
                ..waiting
            };
        }
    }

    #[test]
    fn a_lease_extended_while_the_record_waits_moves_the_version_on() {
        let now = at("2026-11-01T10:05:00Z");
        let claimed = nth(1, now);
        let held = extend_lease(&claimed, now, Duration::seconds(60));
        assert_eq!(held.lease_until, Some(now + Duration::seconds(60)));
        assert_eq!(held.version, claimed.version + 1);
    }
}
