//! R11: cancelling a direct subscription, guarded so that no licence is lost unless billing
//! support knowingly accepts it. Each volume licence stands in for ONE cancelled direct
//! licence: a passing cancellation records per SKU what it relied on (on the account), the
//! next one sees only what is left, and whatever reduces the account's volume later (a
//! reservation cancelled, an agreement remapped away) must leave what is relied on covered.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::pool::AgreementHoldings;
use crate::audit::Audit;
use crate::catalog::Sku;
use crate::change::{Audited, Change};
use crate::error::{CoverageShortfall, ReliedOnShortfall, RuleError};
use crate::holdings::take_lines;
use crate::metrics::Metric;
use crate::model::{
    Account, ServiceRequest, ServiceRequestStatus, Subscription, SubscriptionStatus,
};
use crate::notices::Notice;
use crate::sources::SourceKind;
use crate::types::{Lines, OrderId, PartnerId, SkuCounts, SubscriptionId};

/// One line of the subscription against the account's volume licences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub sku: Sku,
    pub direct: u64,
    pub volume: u64,
    pub relied_on: u64,
    /// `volume - relied_on`, signed: negative when cover has left since it was relied on.
    pub available: i64,
    pub covered: bool,
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `lines` as a quantity per SKU (what a reservation cancelled takes away).
pub fn counts_of(lines: &Lines) -> SkuCounts {
    let mut counts = SkuCounts::new();
    add_lines(&mut counts, lines);
    counts
}

/// Adds `lines` into `counts`.
fn add_lines(counts: &mut SkuCounts, lines: &Lines) {
    for l in lines.iter() {
        let n = counts.entry(l.sku).or_default();
        *n = n.saturating_add(l.quantity.get());
    }
}

/// Per SKU, the account's volume licences counted from its agreements' orders and
/// reservations (whatever else the caller passed in): what `account.volume` keeps.
pub fn account_volume(account: &Account, agreements: &[AgreementHoldings]) -> SkuCounts {
    let held: Vec<_> = agreements
        .iter()
        .map(AgreementHoldings::recounted)
        .collect();
    crate::sources::recount(account, &[], &held).2
}

/// Every line of the subscription against the account's volume (`volume`, per SKU) and what
/// earlier cancellations already rely on.
pub fn coverage(account: &Account, sub: &Subscription, volume: &SkuCounts) -> Vec<Coverage> {
    sub.lines
        .iter()
        .map(|line| {
            let direct = line.quantity.get();
            let volume = volume.get(&line.sku).copied().unwrap_or(0);
            let relied_on = account.relied_on.get(&line.sku).copied().unwrap_or(0);
            let available = signed(volume) - signed(relied_on);
            Coverage {
                sku: line.sku,
                direct,
                volume,
                relied_on,
                available,
                covered: available >= signed(direct),
            }
        })
        .collect()
}

/// The lines of `lines` the account's cover does not cover, as R11 reports them.
pub fn shortfalls(lines: &[Coverage]) -> Vec<CoverageShortfall> {
    lines
        .iter()
        .filter(|c| !c.covered)
        .map(|c| CoverageShortfall {
            sku: c.sku,
            direct: c.direct,
            volume: c.volume,
            relied_on: c.relied_on,
            available: c.available,
        })
        .collect()
}

/// Who is cancelling, as far as R11 cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canceller {
    AccountAdmin,
    BillingSupport,
}

impl Canceller {
    /// The role's name, as a trail and a service request's timeline show it.
    pub fn role(self) -> &'static str {
        match self {
            Self::AccountAdmin => "customer_admin",
            Self::BillingSupport => "billing_support",
        }
    }

    /// Billing support may accept a loss of licences (R11); anyone else cancels as the
    /// account's administrator.
    pub fn of(p: &crate::principal::Principal) -> Self {
        if p.role() == crate::principal::Role::BillingSupport {
            Self::BillingSupport
        } else {
            Self::AccountAdmin
        }
    }
}

/// A passing cancellation: the subscription and the account after it, what it relied on,
/// and the shortfall that was accepted, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancelled {
    pub subscription: Subscription,
    pub account: Account,
    pub relied: SkuCounts,
    pub accepted_shortfalls: Vec<CoverageShortfall>,
    /// The subscription and the account (carrying what is now relied on, under the version
    /// its volume was read at: a concurrent cancellation, invoice, reservation or remap fails
    /// this condition), the pool source gone, the entry, the metric.
    pub change: Change,
}

/// R11. Refused unless the available cover covers every line (or billing support accepts
/// the loss); a passing cancellation relies on `min(direct, max(available, 0))` of each line
/// and moves the account's version on, so a concurrent cancellation that read the same
/// cover cannot commit. `request`: the subscription's open service request as read with it,
/// which the cancellation resolves (R18) in the same transaction.
pub fn cancel(
    account: &Account,
    sub: &Subscription,
    volume: &SkuCounts,
    (who, accept_license_loss): (Canceller, bool),
    request: Option<&ServiceRequest>,
    now: DateTime<Utc>,
) -> Result<Cancelled, RuleError> {
    if accept_license_loss && who != Canceller::BillingSupport {
        return Err(RuleError::OverrideNotAllowed);
    }
    if sub.status == SubscriptionStatus::Cancelled {
        return Err(RuleError::SubscriptionAlreadyCancelled);
    }
    let lines = coverage(account, sub, volume);
    let shortfalls = shortfalls(&lines);
    if !shortfalls.is_empty() && !accept_license_loss {
        return Err(RuleError::CancellationWouldLoseLicenses { shortfalls });
    }
    let mut after = account.clone();
    let mut relied = SkuCounts::new();
    for c in &lines {
        let covered = u64::try_from(c.available.max(0)).unwrap_or(0).min(c.direct);
        if covered > 0 {
            relied.insert(c.sku, covered);
            let n = after.relied_on.entry(c.sku).or_default();
            *n = n.saturating_add(covered);
        }
    }
    take_lines(&mut after.direct, &sub.lines);
    after.version += 1;
    let cancelled = Subscription {
        status: SubscriptionStatus::Cancelled,
        open_request: None,
        version: sub.version + 1,
        cancellation: Some(crate::model::SubscriptionCancellation {
            at: now,
            by_role: who.role().to_owned(),
            relied_on: relied.clone(),
        }),
        ..sub.clone()
    };
    let told = told(&cancelled, now);
    let resolving = request
        .filter(|r| sub.open_request.as_ref() == Some(&r.id))
        .and_then(|r| Some((r, resolution(r, who.role(), now)?)));
    let mut change = cancelled_change(
        account,
        (sub, told),
        (&cancelled, &after),
        &relied,
        (&shortfalls, resolving.as_ref().map(|(read, _)| *read)),
    );
    if let Some((read, (resolved, entry))) = resolving {
        change = change.replace(&resolved, read.version).audit(entry);
    }
    Ok(Cancelled {
        subscription: cancelled,
        account: after,
        relied,
        accepted_shortfalls: shortfalls,
        change,
    })
}

/// The subscription's service request (R18) resolved by its cancellation by someone in
/// `role`: what the cancellation's transaction writes of it (`None` when it is closed).
fn resolution(
    request: &ServiceRequest,
    role: &str,
    now: DateTime<Utc>,
) -> Option<(ServiceRequest, Audited)> {
    if request.status.is_closed() {
        return None;
    }
    let after = request.stepped((ServiceRequestStatus::Resolved, None), role, now);
    let audit = Audit::ServiceRequestResolved {
        service_request_id: request.id.clone(),
        subscription_id: request.subscription_id.clone(),
    };
    let entry = Audited::of(audit)
        .naming_account(Some(&request.account_id))
        .on(&request.account_id);
    Some((after, entry))
}

/// What a partner whose order named the subscription is told of its cancellation.
#[derive(Debug, Serialize)]
struct CancelledNotice<'a> {
    subscription_id: &'a SubscriptionId,
    status: SubscriptionStatus,
    cancelled_at: DateTime<Utc>,
    order_ids: Vec<&'a OrderId>,
}

/// One notice per partner whose order named `cancelled` (SPEC §6.2), with its orders, about
/// the agreement of the first of them.
fn told(cancelled: &Subscription, now: DateTime<Utc>) -> Vec<Notice> {
    let mut partners: Vec<&PartnerId> = Vec::new();
    for n in &cancelled.named_by {
        if !partners.contains(&&n.partner_id) {
            partners.push(&n.partner_id);
        }
    }
    partners
        .into_iter()
        .filter_map(|partner| {
            let theirs: Vec<_> = cancelled
                .named_by
                .iter()
                .filter(|n| &n.partner_id == partner)
                .collect();
            let object = CancelledNotice {
                subscription_id: &cancelled.id,
                status: cancelled.status,
                cancelled_at: now,
                order_ids: theirs.iter().map(|n| &n.order_id).collect(),
            };
            let first = theirs.first()?;
            Some(Notice::of(partner, &first.agreement_id, &object))
        })
        .collect()
}

/// What a cancellation writes: the subscription and the account (`after`: as changed) under
/// the versions read, the subscription's pool source gone, the entry (naming the service
/// request it resolves, if any), the metric.
fn cancelled_change(
    account: &Account,
    (sub, told): (&Subscription, Vec<Notice>),
    after: (&Subscription, &Account),
    relied: &SkuCounts,
    (shortfalls, request): (&[CoverageShortfall], Option<&ServiceRequest>),
) -> Change {
    let audit = Audit::SubscriptionCancelled {
        subscription_id: sub.id.clone(),
        relied_on: relied.clone(),
        license_loss_accepted: !shortfalls.is_empty(),
        shortfalls: shortfalls.to_vec(),
        service_request_id: request.map(|r| r.id.clone()),
        customer_consented: request.map(|r| r.accept_license_loss),
    };
    let mut entry = Audited::of(audit)
        .naming_account(Some(&account.id))
        .on(&account.id);
    entry.notices.extend(told);
    Change::default()
        .replace(after.0, sub.version)
        .replace(after.1, account.version)
        .drop_source(&account.id, SourceKind::Direct, sub.id.as_str())
        .audit(entry)
        .count(if shortfalls.is_empty() {
            Metric::CancellationPassed
        } else {
            Metric::CancellationOverridden
        })
}

/// R11, "what relies on cover must keep it": the SKUs where taking `removed` out of the
/// account's `volume` would leave less than cancelled subscriptions rely on.
pub fn relied_on_shortfalls(
    account: &Account,
    volume: &SkuCounts,
    removed: &SkuCounts,
) -> Vec<ReliedOnShortfall> {
    removed
        .iter()
        .filter_map(|(sku, removed)| {
            let relied_on = account.relied_on.get(sku).copied().unwrap_or(0);
            let left = volume
                .get(sku)
                .copied()
                .unwrap_or(0)
                .saturating_sub(*removed);
            (left < relied_on).then(|| ReliedOnShortfall {
                sku: *sku,
                removed: *removed,
                volume: left,
                relied_on,
                available: signed(left) - signed(relied_on),
            })
        })
        .collect()
}

/// Refuses a change that takes `removed` out of the account's volume while cancelled
/// subscriptions rely on it (a reservation cancelled, R13).
pub fn keep_relied_on(
    account: &Account,
    volume: &SkuCounts,
    removed: &SkuCounts,
) -> Result<(), RuleError> {
    let shortfalls = relied_on_shortfalls(account, volume, removed);
    if shortfalls.is_empty() {
        Ok(())
    } else {
        Err(RuleError::WouldLoseReliedOnLicenses { shortfalls })
    }
}

/// The account after billing support accepted losing `shortfalls`: what is relied on drops
/// to what is left, so it never exceeds the volume.
pub fn accept_loss(account: &Account, shortfalls: &[ReliedOnShortfall]) -> Account {
    let mut after = account.clone();
    for s in shortfalls {
        if s.volume == 0 {
            after.relied_on.remove(&s.sku);
        } else {
            after.relied_on.insert(s.sku, s.volume);
        }
    }
    after
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Billing, Order, OrderSource, OrderStatus, Reservation, ReservationStatus};
    use crate::testing::at;
    use crate::types::{AgreementId, ReservationId};
    use chrono::Utc;

    fn lines(items: &[(Sku, u64)]) -> Lines {
        crate::testing::lines(items)
    }

    fn account() -> Account {
        crate::testing::account()
    }

    fn counts(items: &[(Sku, u64)]) -> SkuCounts {
        items.iter().copied().collect()
    }

    fn subscription_of(acc: &Account, items: &[(Sku, u64)]) -> Subscription {
        Subscription {
            id: SubscriptionId::generate(),
            account_id: acc.id.clone(),
            billing: Billing::CreditCard,
            lines: lines(items),
            status: SubscriptionStatus::Active,
            created_at: Utc::now(),
            version: 1,
            sequence: 1,
            named_by: Vec::new(),
            open_request: None,
            cancellation: None,
        }
    }

    #[test]
    fn each_partner_whose_order_named_it_is_told_with_its_orders() {
        let acc = account();
        let (a1, a2) = (
            crate::types::AgreementId::generate(),
            AgreementId::generate(),
        );
        let named = |partner: &str, agreement: &AgreementId| crate::model::NamedBy {
            partner_id: PartnerId::parse(partner).expect("id"),
            agreement_id: agreement.clone(),
            order_id: OrderId::generate(agreement),
        };
        let by = vec![named("p1", &a1), named("p2", &a2), named("p1", &a1)];
        let sub = Subscription {
            named_by: by.clone(),
            ..subscription_of(&acc, &[(Sku::SalesProfessional, 50)])
        };
        let volume = counts(&[(Sku::SalesProfessional, 50)]);
        let done = cancel_as(&acc, &sub, &volume, Canceller::AccountAdmin, false).expect("covered");
        let notices = &done.change.entries[0].notices;
        let told: Vec<(&str, &AgreementId, &serde_json::Value)> = notices
            .iter()
            .map(|n| {
                (
                    n.partner_id.as_str(),
                    &n.agreement_id,
                    &n.object["order_ids"],
                )
            })
            .collect();
        let ids = |ns: &[&crate::model::NamedBy]| {
            serde_json::json!(ns.iter().map(|n| &n.order_id).collect::<Vec<_>>())
        };
        assert_eq!(
            told,
            [
                ("p1", &a1, &ids(&[&by[0], &by[2]])),
                ("p2", &a2, &ids(&[&by[1]]))
            ]
        );
        assert_eq!(notices[0].object["status"], "cancelled");
        assert_eq!(notices[0].object["cancelled_at"], "2027-01-01T00:00:00Z");
        let unnamed = subscription_of(&acc, &[(Sku::SalesProfessional, 50)]);
        let none =
            cancel_as(&acc, &unnamed, &volume, Canceller::AccountAdmin, false).expect("covered");
        assert!(
            none.change.entries[0].notices.is_empty(),
            "no order named it"
        );
    }

    /// R11's cancellation at a fixed time.
    fn cancel_as(
        acc: &Account,
        sub: &Subscription,
        volume: &SkuCounts,
        who: Canceller,
        accept: bool,
    ) -> Result<Cancelled, RuleError> {
        cancel(
            acc,
            sub,
            volume,
            (who, accept),
            None,
            at("2027-01-01T00:00:00Z"),
        )
    }

    fn subscription(acc: &Account) -> Subscription {
        subscription_of(
            acc,
            &[(Sku::SalesProfessional, 50), (Sku::AdditionalStorageGb, 5)],
        )
    }

    fn holdings(acc: &Account, ordered: u64, reserved: u64, storage: u64) -> AgreementHoldings {
        let agreement = crate::model::Agreement {
            account_id: Some(acc.id.clone()),
            ..crate::testing::agreement()
        };
        let order = Order {
            id: OrderId::generate(&agreement.id),
            agreement_id: agreement.id.clone(),
            partner_id: agreement.partner_id.clone(),
            source: OrderSource::Order,
            status: OrderStatus::Invoiced,
            lines: lines(&[
                (Sku::SalesProfessional, ordered),
                (Sku::AdditionalStorageGb, storage),
            ]),
            replaces_subscription_id: None,
            volume_discount_eligible: false,
            placed_at: Utc::now(),
            invoiced_at: Some(Utc::now()),
            activation_email: None,
            version: 1,
            sequence: 1,
        };
        let reservation = Reservation {
            id: ReservationId::generate(&agreement.id),
            agreement_id: agreement.id.clone(),
            lines: lines(&[(Sku::SalesProfessional, reserved)]),
            status: ReservationStatus::Active,
            billable_at: agreement.anniversary,
            created_at: Utc::now(),
            version: 1,
            sequence: 1,
        };
        AgreementHoldings {
            agreement,
            orders: vec![order],
            reservations: vec![reservation],
        }
    }

    #[test]
    fn covered_lines_let_the_admin_cancel_and_are_relied_on() {
        let acc = account();
        let sub = subscription(&acc);
        let h = holdings(&acc, 45, 5, 5);
        let volume = account_volume(&acc, std::slice::from_ref(&h));
        assert_eq!(
            volume,
            counts(&[(Sku::SalesProfessional, 50), (Sku::AdditionalStorageGb, 5)])
        );
        let c = coverage(&acc, &sub, &volume);
        assert!(c.iter().all(|c| c.covered), "{c:?}");
        let done =
            cancel_as(&acc, &sub, &volume, Canceller::AccountAdmin, false).expect("cancelled");
        assert_eq!(done.subscription.status, SubscriptionStatus::Cancelled);
        assert!(done.accepted_shortfalls.is_empty());
        assert_eq!(done.account.relied_on, volume, "all of it is relied on now");
        assert_eq!(done.account.version, acc.version + 1);
        assert_eq!(
            cancel_as(
                &done.account,
                &done.subscription,
                &volume,
                Canceller::BillingSupport,
                true
            ),
            Err(RuleError::SubscriptionAlreadyCancelled)
        );
    }

    #[test]
    fn the_same_volume_licences_cover_one_cancellation_only() {
        let acc = account();
        let first = subscription_of(&acc, &[(Sku::SalesProfessional, 50)]);
        let second = subscription_of(&acc, &[(Sku::SalesProfessional, 50)]);
        let volume = counts(&[(Sku::SalesProfessional, 50)]);
        let done = cancel_as(&acc, &first, &volume, Canceller::AccountAdmin, false).expect("first");
        assert_eq!(done.relied, volume);
        let refused = cancel_as(
            &done.account,
            &second,
            &volume,
            Canceller::AccountAdmin,
            false,
        );
        assert_eq!(
            refused,
            Err(RuleError::CancellationWouldLoseLicenses {
                shortfalls: vec![CoverageShortfall {
                    sku: Sku::SalesProfessional,
                    direct: 50,
                    volume: 50,
                    relied_on: 50,
                    available: 0,
                }]
            })
        );
        // Billing support's override passes; nothing more is relied on (nothing was left).
        let forced = cancel_as(
            &done.account,
            &second,
            &volume,
            Canceller::BillingSupport,
            true,
        )
        .expect("override");
        assert_eq!(forced.accepted_shortfalls.len(), 1);
        assert!(forced.relied.is_empty());
        assert_eq!(forced.account.relied_on, volume);
    }

    #[test]
    fn under_the_override_only_the_covered_part_is_relied_on() {
        let mut acc = account();
        acc.relied_on = counts(&[(Sku::SalesProfessional, 10)]);
        let sub = subscription_of(&acc, &[(Sku::SalesProfessional, 50)]);
        let volume = counts(&[(Sku::SalesProfessional, 40)]);
        let c = coverage(&acc, &sub, &volume);
        assert_eq!((c[0].available, c[0].covered), (30, false));
        let done = cancel_as(&acc, &sub, &volume, Canceller::BillingSupport, true).expect("forced");
        assert_eq!(done.relied, counts(&[(Sku::SalesProfessional, 30)]));
        assert_eq!(
            done.account.relied_on,
            counts(&[(Sku::SalesProfessional, 40)])
        );
    }

    #[test]
    fn available_goes_negative_when_cover_left() {
        let mut acc = account();
        acc.relied_on = counts(&[(Sku::SalesProfessional, 50)]);
        let sub = subscription_of(&acc, &[(Sku::SalesProfessional, 5)]);
        let c = coverage(&acc, &sub, &counts(&[(Sku::SalesProfessional, 20)]));
        assert_eq!((c[0].available, c[0].covered), (-30, false));
        let done = cancel(
            &acc,
            &sub,
            &counts(&[(Sku::SalesProfessional, 20)]),
            (Canceller::BillingSupport, true),
            None,
            crate::testing::at("2027-01-01T00:00:00Z"),
        )
        .expect("forced");
        assert!(
            done.relied.is_empty(),
            "a negative availability relies on nothing"
        );
    }

    #[test]
    fn shortfalls_refuse_and_only_billing_support_overrides() {
        let acc = account();
        let sub = subscription(&acc);
        let volume = account_volume(&acc, &[holdings(&acc, 40, 5, 1)]);
        let r = cancel_as(&acc, &sub, &volume, Canceller::AccountAdmin, false);
        assert_eq!(
            r,
            Err(RuleError::CancellationWouldLoseLicenses {
                shortfalls: vec![
                    CoverageShortfall {
                        sku: Sku::SalesProfessional,
                        direct: 50,
                        volume: 45,
                        relied_on: 0,
                        available: 45,
                    },
                    CoverageShortfall {
                        sku: Sku::AdditionalStorageGb,
                        direct: 5,
                        volume: 1,
                        relied_on: 0,
                        available: 1,
                    },
                ]
            })
        );
        assert_eq!(
            cancel_as(&acc, &sub, &volume, Canceller::AccountAdmin, true),
            Err(RuleError::OverrideNotAllowed)
        );
        let done =
            cancel_as(&acc, &sub, &volume, Canceller::BillingSupport, true).expect("overridden");
        assert_eq!(done.accepted_shortfalls.len(), 2);
        assert_eq!(
            done.relied,
            counts(&[(Sku::SalesProfessional, 45), (Sku::AdditionalStorageGb, 1)])
        );
    }

    #[test]
    fn licences_of_agreements_on_other_accounts_do_not_cover() {
        let acc = account();
        let sub = subscription(&acc);
        let volume = account_volume(&acc, &[holdings(&account(), 100, 1, 100)]);
        assert!(volume.is_empty());
        assert!(matches!(
            cancel_as(&acc, &sub, &volume, Canceller::AccountAdmin, false),
            Err(RuleError::CancellationWouldLoseLicenses { .. })
        ));
    }

    #[test]
    fn what_is_relied_on_must_stay_covered() {
        let mut acc = account();
        acc.relied_on = counts(&[(Sku::SalesProfessional, 50)]);
        let volume = counts(&[(Sku::SalesProfessional, 60), (Sku::SalesEnterprise, 5)]);
        // 10 spare seats may go, and SKUs nothing relies on may go.
        let spare = counts(&[(Sku::SalesProfessional, 10), (Sku::SalesEnterprise, 5)]);
        assert_eq!(keep_relied_on(&acc, &volume, &spare), Ok(()));
        let too_many = counts(&[(Sku::SalesProfessional, 11)]);
        let expected = vec![ReliedOnShortfall {
            sku: Sku::SalesProfessional,
            removed: 11,
            volume: 49,
            relied_on: 50,
            available: -1,
        }];
        assert_eq!(
            keep_relied_on(&acc, &volume, &too_many),
            Err(RuleError::WouldLoseReliedOnLicenses {
                shortfalls: expected.clone()
            })
        );
        let accepted = accept_loss(&acc, &expected);
        assert_eq!(accepted.relied_on, counts(&[(Sku::SalesProfessional, 49)]));
        let all = accept_loss(
            &acc,
            &relied_on_shortfalls(&acc, &volume, &counts(&[(Sku::SalesProfessional, 60)])),
        );
        assert!(all.relied_on.is_empty(), "no SKU is kept at zero");
    }
}
