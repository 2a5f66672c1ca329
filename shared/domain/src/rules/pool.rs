//! The pool: what an account may use, per SKU, with every source listed. Active direct
//! subscription lines + invoiced `source: "order"` orders of the agreements associated with
//! the account + those agreements' active and billed reservations. True-up orders bill
//! reservations that are already counted, so they never appear here.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::Sku;
use crate::model::{
    Account, Agreement, Order, Reservation, ReservationStatus, Subscription, SubscriptionStatus,
};
use crate::types::{AccountId, AgreementId, Lines};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Direct,
    Order,
    Reservation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolSource {
    pub kind: SourceKind,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement_id: Option<AgreementId>,
    pub quantity: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolSku {
    pub sku: Sku,
    pub total: u64,
    pub sources: Vec<PoolSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pool {
    pub account_id: AccountId,
    pub skus: Vec<PoolSku>,
}

impl Pool {
    pub fn total(&self, sku: Sku) -> u64 {
        self.skus
            .iter()
            .find(|s| s.sku == sku)
            .map_or(0, |s| s.total)
    }
}

/// An associated agreement with what it holds.
#[derive(Debug, Clone)]
pub struct AgreementHoldings {
    pub agreement: Agreement,
    pub orders: Vec<Order>,
    pub reservations: Vec<Reservation>,
}

impl AgreementHoldings {
    /// The volume licences this agreement contributes to its account's pool.
    pub fn volume_sources(&self) -> impl Iterator<Item = (SourceKind, String, &Lines)> {
        let orders = self
            .orders
            .iter()
            .filter(|o| o.is_invoiced_purchase())
            .map(|o| (SourceKind::Order, o.id.to_string(), &o.lines));
        let reservations = self
            .reservations
            .iter()
            .filter(|r| {
                matches!(
                    r.status,
                    ReservationStatus::Active | ReservationStatus::Billed
                )
            })
            .map(|r| (SourceKind::Reservation, r.id.to_string(), &r.lines));
        orders.chain(reservations)
    }
}

pub fn compute(
    account: &Account,
    subscriptions: &[Subscription],
    agreements: &[AgreementHoldings],
) -> Pool {
    let mut by_sku: BTreeMap<Sku, Vec<PoolSource>> = BTreeMap::new();
    let mut add = |kind, id: String, agreement_id: Option<AgreementId>, lines: &Lines| {
        for line in lines.iter() {
            by_sku.entry(line.sku).or_default().push(PoolSource {
                kind,
                id: id.clone(),
                agreement_id: agreement_id.clone(),
                quantity: line.quantity.get(),
            });
        }
    };
    for sub in subscriptions
        .iter()
        .filter(|s| s.account_id == account.id && s.status == SubscriptionStatus::Active)
    {
        add(SourceKind::Direct, sub.id.to_string(), None, &sub.lines);
    }
    // Only agreements that really are associated with this account count, whatever the
    // caller passed in.
    for holding in agreements
        .iter()
        .filter(|h| h.agreement.account_id.as_ref() == Some(&account.id))
    {
        for (kind, id, lines) in holding.volume_sources() {
            add(kind, id, Some(holding.agreement.id.clone()), lines);
        }
    }
    Pool {
        account_id: account.id.clone(),
        skus: by_sku
            .into_iter()
            .map(|(sku, sources)| PoolSku {
                sku,
                total: sources.iter().map(|s| s.quantity).sum(),
                sources,
            })
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::too_many_lines)] // scenarios read top to bottom
mod tests {
    use super::*;
    use crate::model::{Billing, OrderSource, OrderStatus};
    use crate::testing;
    use crate::types::{OrderId, ReservationId, SubscriptionId};
    use chrono::{DateTime, Utc};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .expect("ts")
            .with_timezone(&Utc)
    }

    fn lines(items: &[(Sku, u64)]) -> Lines {
        testing::lines(items)
    }

    fn account() -> Account {
        testing::account()
    }

    fn sub(acc: &Account, l: Lines, status: SubscriptionStatus) -> Subscription {
        Subscription {
            id: SubscriptionId::generate(),
            account_id: acc.id.clone(),
            billing: Billing::Invoice,
            lines: l,
            status,
            created_at: now(),
            version: 1,
        }
    }

    fn agreement(acc: Option<&Account>) -> Agreement {
        Agreement {
            account_id: acc.map(|a| a.id.clone()),
            ..testing::agreement()
        }
    }

    fn order(a: &Agreement, l: Lines, source: OrderSource, status: OrderStatus) -> Order {
        Order {
            id: OrderId::generate(&a.id),
            agreement_id: a.id.clone(),
            partner_id: a.partner_id.clone(),
            source,
            status,
            lines: l,
            replaces_subscription_id: None,
            volume_discount_eligible: false,
            placed_at: now(),
            invoiced_at: None,
            activation_email: None,
            version: 1,
            sequence: 1,
        }
    }

    fn reservation(a: &Agreement, l: Lines, status: ReservationStatus) -> Reservation {
        Reservation {
            id: ReservationId::generate(&a.id),
            agreement_id: a.id.clone(),
            lines: l,
            status,
            billable_at: a.anniversary,
            created_at: now(),
            version: 1,
            sequence: 1,
        }
    }

    #[test]
    fn pools_direct_orders_and_reservations_with_sources() {
        let acc = account();
        let direct = sub(
            &acc,
            lines(&[(Sku::SalesProfessional, 50), (Sku::AdditionalStorageGb, 5)]),
            SubscriptionStatus::Active,
        );
        let gone = sub(
            &acc,
            lines(&[(Sku::SalesProfessional, 7)]),
            SubscriptionStatus::Cancelled,
        );
        let a = agreement(Some(&acc));
        let holdings = AgreementHoldings {
            orders: vec![
                order(
                    &a,
                    lines(&[(Sku::SalesProfessional, 50)]),
                    OrderSource::Order,
                    OrderStatus::Invoiced,
                ),
                order(
                    &a,
                    lines(&[(Sku::SalesProfessional, 9)]),
                    OrderSource::Order,
                    OrderStatus::Placed,
                ),
                order(
                    &a,
                    lines(&[(Sku::SalesProfessional, 5)]),
                    OrderSource::TrueUp,
                    OrderStatus::Invoiced,
                ),
            ],
            reservations: vec![
                reservation(
                    &a,
                    lines(&[(Sku::SalesProfessional, 5)]),
                    ReservationStatus::Active,
                ),
                reservation(
                    &a,
                    lines(&[(Sku::SalesProfessional, 2)]),
                    ReservationStatus::Billed,
                ),
                reservation(
                    &a,
                    lines(&[(Sku::SalesProfessional, 100)]),
                    ReservationStatus::Cancelled,
                ),
            ],
            agreement: a.clone(),
        };
        let pool = compute(&acc, &[direct.clone(), gone], &[holdings]);
        assert_eq!(pool.total(Sku::SalesProfessional), 50 + 50 + 5 + 2);
        assert_eq!(pool.total(Sku::AdditionalStorageGb), 5);
        assert_eq!(pool.total(Sku::SalesEnterprise), 0);
        let seats = &pool.skus[0];
        assert_eq!(seats.sources.len(), 4);
        assert_eq!(seats.sources[0].kind, SourceKind::Direct);
        assert_eq!(seats.sources[0].id, direct.id.to_string());
        assert_eq!(seats.sources[0].agreement_id, None);
        assert!(
            seats.sources[1..]
                .iter()
                .all(|s| s.agreement_id.as_ref() == Some(&a.id))
        );
    }

    #[test]
    fn agreements_of_other_accounts_do_not_count() {
        let acc = account();
        let other = account();
        let a = agreement(Some(&other));
        let holdings = AgreementHoldings {
            orders: vec![order(
                &a,
                lines(&[(Sku::SalesProfessional, 50)]),
                OrderSource::Order,
                OrderStatus::Invoiced,
            )],
            reservations: vec![],
            agreement: a,
        };
        let pool = compute(&acc, &[], &[holdings]);
        assert!(pool.skus.is_empty());
    }
}
