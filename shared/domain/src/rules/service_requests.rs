//! R18: a customer's administrator asks Billing Support to cancel a direct subscription of
//! their account that R11 refuses. One request at a time per subscription (marked on the
//! subscription under its version, so concurrent submits open one); Billing Support
//! acknowledges or declines it, the administrator may withdraw it, and it is resolved only by
//! the R11 cancellation of its subscription, in that cancellation's transaction
//! ([`super::cancellation::cancel`], which this module leans on for R11's coverage). A closed
//! request never changes. Every step goes on the
//! account's trail.

use chrono::{DateTime, Utc};

use super::cancellation::{coverage, shortfalls};
use crate::audit::Audit;
use crate::change::{Audited, Change, Decision};
use crate::error::RuleError;
use crate::model::{
    Account, ServiceRequest, ServiceRequestStatus, ServiceRequestStep, Subscription,
    SubscriptionStatus,
};
use crate::trail::Actor;
use crate::types::{ServiceRequestId, SkuCounts};

/// The longest message, and the longest note, a request carries.
pub const TEXT_MAX: usize = 2000;

/// What the administrator asks with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub message: Option<String>,
    /// Consent that Billing Support may cancel although the account loses the shortfall.
    pub accept_license_loss: bool,
}

/// Opens a request for `sub` of `account` (whose volume licences per SKU are `volume`), by
/// `by`. Refused, in this order: the subscription is cancelled already (409
/// `subscription_already_cancelled`), R11 would let it be cancelled now (409
/// `cancellation_available`), it has a request open or in progress (409
/// `service_request_exists`). The subscription that the caller found on the account is the
/// caller's check (404 otherwise).
pub fn open(
    account: &Account,
    sub: &Subscription,
    volume: &SkuCounts,
    ask: Ask,
    (id, by): (ServiceRequestId, &Actor),
    now: DateTime<Utc>,
) -> Result<Decision<ServiceRequest>, RuleError> {
    if sub.status == SubscriptionStatus::Cancelled {
        return Err(RuleError::SubscriptionAlreadyCancelled);
    }
    let short = shortfalls(&coverage(account, sub, volume));
    if short.is_empty() {
        return Err(RuleError::CancellationAvailable);
    }
    if sub.open_request.is_some() {
        return Err(RuleError::ServiceRequestExists);
    }
    let request = ServiceRequest {
        id: id.clone(),
        account_id: account.id.clone(),
        subscription_id: sub.id.clone(),
        status: ServiceRequestStatus::Open,
        message: ask.message.clone(),
        accept_license_loss: ask.accept_license_loss,
        shortfalls: short.clone(),
        opened_by: by.clone(),
        opened_at: now,
        timeline: vec![step(now, &by.role, ServiceRequestStatus::Open, None)],
        version: 1,
        sequence: account.version + 1,
    };
    let marked = Subscription {
        open_request: Some(id.clone()),
        version: sub.version + 1,
        ..sub.clone()
    };
    let audit = Audit::ServiceRequestOpened {
        service_request_id: id,
        subscription_id: sub.id.clone(),
        accept_license_loss: ask.accept_license_loss,
        shortfalls: short,
    };
    let change = Change::default()
        .create(&request)
        .replace(&marked, sub.version)
        .advance(&account.id, account.version)
        .audit(on_trail(account, audit));
    Ok(Decision {
        change,
        outcome: request,
    })
}

/// Billing Support takes `request` on (`in_progress`); one already in progress is answered
/// as it is, with nothing written.
pub fn acknowledge(
    account: &Account,
    request: &ServiceRequest,
    (note, by): (Option<String>, &Actor),
    now: DateTime<Utc>,
) -> Result<Decision<ServiceRequest>, RuleError> {
    match request.status {
        ServiceRequestStatus::InProgress => {
            return Ok(Decision {
                change: Change::default(),
                outcome: request.clone(),
            });
        }
        s if s.is_closed() => return Err(RuleError::ServiceRequestClosed),
        _ => {}
    }
    let after = request.stepped(
        (ServiceRequestStatus::InProgress, note.clone()),
        &by.role,
        now,
    );
    let audit = Audit::ServiceRequestAcknowledged {
        service_request_id: request.id.clone(),
        note,
    };
    let change = Change::default()
        .replace(&after, request.version)
        .advance(&account.id, account.version)
        .audit(on_trail(account, audit));
    Ok(Decision {
        change,
        outcome: after,
    })
}

/// Billing Support declines `request` with `note` (the customer sees it); its subscription
/// may have a request again.
pub fn decline(
    account: &Account,
    (request, sub): (&ServiceRequest, &Subscription),
    (note, by): (String, &Actor),
    now: DateTime<Utc>,
) -> Result<Decision<ServiceRequest>, RuleError> {
    let audit = Audit::ServiceRequestDeclined {
        service_request_id: request.id.clone(),
        note: note.clone(),
    };
    let closing = (ServiceRequestStatus::Declined, Some(note));
    close(account, (request, sub), closing, (audit, by), now)
}

/// The administrator withdraws `request`; its subscription may have a request again.
pub fn withdraw(
    account: &Account,
    (request, sub): (&ServiceRequest, &Subscription),
    by: &Actor,
    now: DateTime<Utc>,
) -> Result<Decision<ServiceRequest>, RuleError> {
    let audit = Audit::ServiceRequestWithdrawn {
        service_request_id: request.id.clone(),
    };
    let closing = (ServiceRequestStatus::Withdrawn, None);
    close(account, (request, sub), closing, (audit, by), now)
}

/// `request` closed as `status` (with `note`), its subscription's mark cleared.
fn close(
    account: &Account,
    (request, sub): (&ServiceRequest, &Subscription),
    status: (ServiceRequestStatus, Option<String>),
    (audit, by): (Audit, &Actor),
    now: DateTime<Utc>,
) -> Result<Decision<ServiceRequest>, RuleError> {
    if request.status.is_closed() {
        return Err(RuleError::ServiceRequestClosed);
    }
    let after = request.stepped(status, &by.role, now);
    let mut change = Change::default().replace(&after, request.version);
    if sub.open_request.as_ref() == Some(&request.id) {
        let unmarked = Subscription {
            open_request: None,
            version: sub.version + 1,
            ..sub.clone()
        };
        change = change.replace(&unmarked, sub.version);
    }
    let change = change
        .advance(&account.id, account.version)
        .audit(on_trail(account, audit));
    Ok(Decision {
        change,
        outcome: after,
    })
}

fn on_trail(account: &Account, audit: Audit) -> Audited {
    Audited::of(audit)
        .naming_account(Some(&account.id))
        .on(&account.id)
}

fn step(
    at: DateTime<Utc>,
    role: &str,
    status: ServiceRequestStatus,
    note: Option<String>,
) -> ServiceRequestStep {
    ServiceRequestStep {
        at,
        role: role.to_owned(),
        status,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Sku;
    use crate::change::{Record, Write};
    use crate::rules::cancellation::{Canceller, cancel};
    use crate::testing::{account, at, lines, subscription};

    fn admin() -> Actor {
        Actor {
            sub: "u1".into(),
            role: "customer_admin".into(),
        }
    }

    fn billing_support() -> Actor {
        Actor {
            sub: "bs".into(),
            role: "billing_support".into(),
        }
    }

    fn volume(n: u64) -> SkuCounts {
        [(Sku::SalesProfessional, n)].into_iter().collect()
    }

    /// An account whose 50 direct licences are covered by `covered` volume licences.
    fn refused_now() -> (Account, Subscription, SkuCounts) {
        let acc = account();
        let sub = subscription(&acc, lines(&[(Sku::SalesProfessional, 50)]));
        (acc, sub, volume(20))
    }

    fn ask(accept: bool) -> Ask {
        Ask {
            message: Some("please cancel it".into()),
            accept_license_loss: accept,
        }
    }

    fn opened() -> (Account, Subscription, ServiceRequest) {
        let (acc, sub, vol) = refused_now();
        let id = ServiceRequestId::generate(&acc.id);
        let made = open(
            &acc,
            &sub,
            &vol,
            ask(true),
            (id, &admin()),
            at("2027-01-04T10:00:00Z"),
        )
        .expect("opened");
        let marked = Subscription {
            open_request: Some(made.outcome.id.clone()),
            version: 2,
            ..sub
        };
        (acc, marked, made.outcome)
    }

    fn replaced(change: &Change) -> Vec<(&Record, u64)> {
        change
            .writes
            .iter()
            .filter_map(|w| match w {
                Write::Replace(r, v) => Some((r, *v)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_request_is_opened_only_for_an_active_subscription_r11_refuses() {
        let (acc, sub, vol) = refused_now();
        let id = || ServiceRequestId::generate(&acc.id);
        let now = at("2027-01-04T10:00:00Z");
        let cancelled = Subscription {
            status: SubscriptionStatus::Cancelled,
            open_request: Some(id()),
            ..sub.clone()
        };
        let refused = |s: &Subscription, v: &SkuCounts| {
            open(&acc, s, v, ask(false), (id(), &admin()), now).map(|_| ())
        };
        assert_eq!(
            refused(&cancelled, &volume(50)),
            Err(RuleError::SubscriptionAlreadyCancelled),
            "checked first"
        );
        let marked = Subscription {
            open_request: Some(id()),
            ..sub.clone()
        };
        assert_eq!(
            refused(&marked, &volume(50)),
            Err(RuleError::CancellationAvailable),
            "then R11"
        );
        assert_eq!(refused(&marked, &vol), Err(RuleError::ServiceRequestExists));
        let made = open(&acc, &sub, &vol, ask(true), (id(), &admin()), now).expect("opened");
        let r = &made.outcome;
        assert_eq!(
            (r.status, r.accept_license_loss),
            (ServiceRequestStatus::Open, true)
        );
        assert_eq!(r.shortfalls.len(), 1);
        assert_eq!(
            (r.shortfalls[0].direct, r.shortfalls[0].available),
            (50, 20)
        );
        assert_eq!(r.sequence, acc.version + 1);
        let Some((Record::Subscription(s), read)) = replaced(&made.change).first().copied() else {
            panic!("the subscription is marked");
        };
        assert_eq!((s.open_request.as_ref(), read), (Some(&r.id), sub.version));
        assert!(
            made.change
                .writes
                .contains(&Write::Advance((&acc.id).into(), acc.version)),
            "the account's trail gets the entry"
        );
        assert_eq!(
            made.change.entries[0].audit.action(),
            "service_request.opened"
        );
    }

    #[test]
    fn acknowledging_twice_changes_nothing_and_a_closed_request_never_changes() {
        let (acc, sub, r) = opened();
        let now = at("2027-01-05T09:00:00Z");
        let bs = billing_support();
        let ack = acknowledge(&acc, &r, (Some("on it".into()), &bs), now).expect("acknowledged");
        let taken = &ack.outcome;
        assert_eq!(taken.status, ServiceRequestStatus::InProgress);
        assert_eq!(taken.timeline.len(), 2);
        assert_eq!(taken.timeline[1].note.as_deref(), Some("on it"));
        let again = acknowledge(&acc, taken, (None, &bs), now).expect("as it is");
        assert_eq!((&again.outcome, again.change), (taken, Change::default()));
        let declined =
            decline(&acc, (taken, &sub), ("not this time".into(), &bs), now).expect("declined");
        assert_eq!(declined.outcome.status, ServiceRequestStatus::Declined);
        let unmarked = replaced(&declined.change)
            .into_iter()
            .find_map(|(rec, _)| match rec {
                Record::Subscription(s) => Some(s.open_request.clone()),
                _ => None,
            });
        assert_eq!(
            unmarked,
            Some(None),
            "the subscription may have a request again"
        );
        let closed = &declined.outcome;
        assert_eq!(
            acknowledge(&acc, closed, (None, &bs), now).map(|_| ()),
            Err(RuleError::ServiceRequestClosed)
        );
        assert_eq!(
            withdraw(&acc, (closed, &sub), &admin(), now).map(|_| ()),
            Err(RuleError::ServiceRequestClosed)
        );
        let withdrawn = withdraw(&acc, (&r, &sub), &admin(), now).expect("withdrawn");
        assert_eq!(withdrawn.outcome.status, ServiceRequestStatus::Withdrawn);
        assert_eq!(
            withdrawn.change.entries[0].audit.action(),
            "service_request.withdrawn"
        );
    }

    #[test]
    fn the_cancellation_of_its_subscription_resolves_the_request_in_its_transaction() {
        let (acc, sub, r) = opened();
        let now = at("2027-01-06T09:00:00Z");
        let who = (Canceller::BillingSupport, true);
        let done = cancel(&acc, &sub, &volume(20), who, Some(&r), now).expect("cancelled");
        assert_eq!(done.subscription.open_request, None);
        let resolved = replaced(&done.change)
            .into_iter()
            .find_map(|(rec, read)| match rec {
                Record::ServiceRequest(s) => Some((s.status, read)),
                _ => None,
            });
        assert_eq!(resolved, Some((ServiceRequestStatus::Resolved, r.version)));
        let actions: Vec<&str> = done
            .change
            .entries
            .iter()
            .map(|e| e.audit.action())
            .collect();
        assert_eq!(
            actions,
            ["subscription.cancelled", "service_request.resolved"]
        );
        let details = done.change.entries[0].audit.details();
        assert_eq!(details["service_request_id"], r.id.as_str());
        assert_eq!(details["customer_consented"], true);
        // A request closed meanwhile is not resolved; the subscription is cancelled all the same.
        let withdrawn = withdraw(&acc, (&r, &sub), &admin(), now)
            .expect("withdrawn")
            .outcome;
        let done = cancel(&acc, &sub, &volume(20), who, Some(&withdrawn), now).expect("cancelled");
        assert_eq!(done.change.entries.len(), 1);
        assert!(
            done.change.entries[0]
                .audit
                .details()
                .get("service_request_id")
                .is_none()
        );
    }
}
