//! The pool: what an account may use, per SKU, with its sources. Active direct subscription
//! lines + the agreements associated with the account (their invoiced `source: "order"`
//! orders and their active and billed reservations; true-up orders bill reservations that
//! are already counted, so they never count). Each source is kept as an item in the account's
//! partition as it changes ([`crate::sources::Source`]), so reading the pool is one query.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::Sku;
use crate::model::{Account, Agreement, Order, Reservation, Subscription};
use crate::sources::{Source, holdings_of};
use crate::types::AccountId;

pub use crate::sources::SourceKind;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolSource {
    pub kind: SourceKind,
    pub id: String,
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

/// An agreement with everything it holds, read item by item: what its kept holdings are
/// checked against (tests and tools; no request reads this).
#[derive(Debug, Clone)]
pub struct AgreementHoldings {
    pub agreement: Agreement,
    pub orders: Vec<Order>,
    pub reservations: Vec<Reservation>,
}

impl AgreementHoldings {
    /// The agreement with its holdings counted from its orders and reservations.
    pub fn recounted(&self) -> Agreement {
        Agreement {
            holdings: holdings_of(&self.agreement, &self.orders, &self.reservations),
            ..self.agreement.clone()
        }
    }
}

/// The pool from an account's source items: per SKU, its total and one source per active
/// direct subscription and per associated agreement that holds it.
pub fn of(account_id: &AccountId, sources: &[Source]) -> Pool {
    let mut by_sku: BTreeMap<Sku, Vec<PoolSource>> = BTreeMap::new();
    let mut sorted: Vec<&Source> = sources.iter().collect();
    sorted.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    for source in sorted {
        for (sku, quantity) in source.counts.iter().filter(|(_, n)| **n > 0) {
            by_sku.entry(*sku).or_default().push(PoolSource {
                kind: source.kind,
                id: source.id.clone(),
                quantity: *quantity,
            });
        }
    }
    Pool {
        account_id: account_id.clone(),
        skus: by_sku
            .into_iter()
            .map(|(sku, sources)| PoolSku {
                sku,
                total: sources
                    .iter()
                    .fold(0u64, |t, s| t.saturating_add(s.quantity)),
                sources,
            })
            .collect(),
    }
}

/// The pool counted from the subscriptions, orders and reservations themselves: what [`of`]
/// must answer from the account's kept sources.
pub fn recount(
    account: &Account,
    subscriptions: &[Subscription],
    agreements: &[AgreementHoldings],
) -> Pool {
    let held: Vec<Agreement> = agreements
        .iter()
        .map(AgreementHoldings::recounted)
        .collect();
    let (sources, _) = crate::sources::recount(account, subscriptions, &held);
    of(&account.id, &sources)
}

#[cfg(test)]
#[allow(clippy::too_many_lines)] // scenarios read top to bottom
mod tests {
    use super::*;
    use crate::model::{Billing, OrderSource, OrderStatus, ReservationStatus, SubscriptionStatus};
    use crate::testing;
    use crate::types::Lines;
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
        let pool = recount(&acc, &[direct.clone(), gone], &[holdings]);
        assert_eq!(pool.total(Sku::SalesProfessional), 50 + 50 + 5 + 2);
        assert_eq!(pool.total(Sku::AdditionalStorageGb), 5);
        assert_eq!(pool.total(Sku::SalesEnterprise), 0);
        let seats = &pool.skus[0];
        let sources: Vec<(SourceKind, String, u64)> = seats
            .sources
            .iter()
            .map(|s| (s.kind, s.id.clone(), s.quantity))
            .collect();
        assert_eq!(
            sources,
            vec![
                (SourceKind::Direct, direct.id.to_string(), 50),
                (SourceKind::Agreement, a.id.to_string(), 50 + 5 + 2)
            ],
            "one source per subscription and per agreement"
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
        let pool = recount(&acc, &[], &[holdings]);
        assert!(pool.skus.is_empty());
    }
}
