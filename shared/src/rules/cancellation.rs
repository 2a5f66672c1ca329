//! R11: cancelling a direct subscription, guarded so that no licence is lost unless billing
//! support knowingly accepts it.

use serde::Serialize;

use super::pool::AgreementHoldings;
use crate::catalog::Sku;
use crate::error::{CoverageShortfall, RuleError};
use crate::model::{Account, Subscription, SubscriptionStatus};

/// One line of the subscription against the account's volume licences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub sku: Sku,
    pub direct: u64,
    pub volume: u64,
    pub covered: bool,
}

/// Volume licences of the account (invoiced purchase orders + active and billed reservations
/// of the agreements associated with it) against every line of the subscription.
pub fn coverage(
    account: &Account,
    sub: &Subscription,
    agreements: &[AgreementHoldings],
) -> Vec<Coverage> {
    sub.lines
        .iter()
        .map(|line| {
            let volume: u64 = agreements
                .iter()
                .filter(|h| h.agreement.account_id.as_ref() == Some(&account.id))
                .flat_map(|h| {
                    h.volume_sources()
                        .map(|(_, _, lines)| lines.quantity_of(line.sku))
                        .collect::<Vec<_>>()
                })
                .sum();
            Coverage {
                sku: line.sku,
                direct: line.quantity.get(),
                volume,
                covered: volume >= line.quantity.get(),
            }
        })
        .collect()
}

/// Who is cancelling, as far as R11 cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canceller {
    AccountAdmin,
    BillingSupport,
}

/// The cancelled subscription and the shortfall that was accepted, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    pub subscription: Subscription,
    pub accepted_shortfalls: Vec<CoverageShortfall>,
}

/// R11.
pub fn cancel(
    account: &Account,
    sub: &Subscription,
    agreements: &[AgreementHoldings],
    who: Canceller,
    accept_license_loss: bool,
) -> Result<Cancelled, RuleError> {
    if accept_license_loss && who != Canceller::BillingSupport {
        return Err(RuleError::OverrideNotAllowed);
    }
    if sub.status == SubscriptionStatus::Cancelled {
        return Err(RuleError::SubscriptionAlreadyCancelled);
    }
    let shortfalls: Vec<CoverageShortfall> = coverage(account, sub, agreements)
        .into_iter()
        .filter(|c| !c.covered)
        .map(|c| CoverageShortfall {
            sku: c.sku,
            direct: c.direct,
            volume: c.volume,
        })
        .collect();
    if !shortfalls.is_empty() && !accept_license_loss {
        return Err(RuleError::CancellationWouldLoseLicenses { shortfalls });
    }
    Ok(Cancelled {
        subscription: Subscription {
            status: SubscriptionStatus::Cancelled,
            version: sub.version + 1,
            ..sub.clone()
        },
        accepted_shortfalls: shortfalls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Billing, Order, OrderSource, OrderStatus, Reservation, ReservationStatus};

    use crate::types::{Lines, OrderId, ReservationId, SubscriptionId};
    use chrono::Utc;

    fn lines(items: &[(Sku, u64)]) -> Lines {
        crate::testing::lines(items)
    }

    fn account() -> Account {
        crate::testing::account()
    }

    fn subscription(acc: &Account) -> Subscription {
        Subscription {
            id: SubscriptionId::generate(),
            account_id: acc.id.clone(),
            billing: Billing::CreditCard,
            lines: lines(&[(Sku::SalesProfessional, 50), (Sku::AdditionalStorageGb, 5)]),
            status: SubscriptionStatus::Active,
            created_at: Utc::now(),
            version: 1,
        }
    }

    fn holdings(acc: &Account, ordered: u64, reserved: u64, storage: u64) -> AgreementHoldings {
        let agreement = crate::model::Agreement {
            account_id: Some(acc.id.clone()),
            ..crate::testing::agreement()
        };
        let order = Order {
            id: OrderId::generate(),
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
        };
        let reservation = Reservation {
            id: ReservationId::generate(),
            agreement_id: agreement.id.clone(),
            lines: lines(&[(Sku::SalesProfessional, reserved)]),
            status: ReservationStatus::Active,
            billable_at: agreement.anniversary,
            created_at: Utc::now(),
            version: 1,
        };
        AgreementHoldings {
            agreement,
            orders: vec![order],
            reservations: vec![reservation],
        }
    }

    #[test]
    fn covered_lines_let_the_admin_cancel() {
        let acc = account();
        let sub = subscription(&acc);
        let h = holdings(&acc, 45, 5, 5);
        let c = coverage(&acc, &sub, std::slice::from_ref(&h));
        assert!(c.iter().all(|c| c.covered), "{c:?}");
        let done = cancel(&acc, &sub, &[h], Canceller::AccountAdmin, false).expect("cancelled");
        assert_eq!(done.subscription.status, SubscriptionStatus::Cancelled);
        assert!(done.accepted_shortfalls.is_empty());
        assert_eq!(
            cancel(
                &acc,
                &done.subscription,
                &[],
                Canceller::BillingSupport,
                true
            ),
            Err(RuleError::SubscriptionAlreadyCancelled)
        );
    }

    #[test]
    fn shortfalls_refuse_and_only_billing_support_overrides() {
        let acc = account();
        let sub = subscription(&acc);
        let h = holdings(&acc, 40, 5, 1);
        let r = cancel(
            &acc,
            &sub,
            std::slice::from_ref(&h),
            Canceller::AccountAdmin,
            false,
        );
        assert_eq!(
            r,
            Err(RuleError::CancellationWouldLoseLicenses {
                shortfalls: vec![
                    CoverageShortfall {
                        sku: Sku::SalesProfessional,
                        direct: 50,
                        volume: 45
                    },
                    CoverageShortfall {
                        sku: Sku::AdditionalStorageGb,
                        direct: 5,
                        volume: 1
                    },
                ]
            })
        );
        assert_eq!(
            cancel(
                &acc,
                &sub,
                std::slice::from_ref(&h),
                Canceller::AccountAdmin,
                true
            ),
            Err(RuleError::OverrideNotAllowed)
        );
        let done = cancel(&acc, &sub, &[h], Canceller::BillingSupport, true).expect("overridden");
        assert_eq!(done.accepted_shortfalls.len(), 2);
    }

    #[test]
    fn licences_of_agreements_on_other_accounts_do_not_cover() {
        let acc = account();
        let sub = subscription(&acc);
        let elsewhere = holdings(&account(), 100, 1, 100);
        assert!(matches!(
            cancel(&acc, &sub, &[elsewhere], Canceller::AccountAdmin, false),
            Err(RuleError::CancellationWouldLoseLicenses { .. })
        ));
    }
}
