//! The pool: what an account may use, per SKU. Active direct subscription lines + the
//! agreements associated with the account (their invoiced `source: "order"` orders and their
//! active and billed reservations; true-up orders bill reservations that are already counted,
//! so they never count). The totals are kept on the account (`direct`, `volume`), so reading
//! them is one item; each source is kept as an item in the account's partition as it changes
//! ([`crate::sources::Source`]), listed a page at a time in the order the sources joined.

use crate::catalog::Sku;
use crate::model::{Account, Agreement, Order, Reservation, Subscription};
use crate::sources::{Source, holdings_of};
use crate::types::{AccountId, SkuCounts};

pub use crate::sources::SourceKind;

/// One SKU of the pool: its total, the direct and volume licences it is made of, and how many
/// of the volume licences stand in for cancelled subscriptions (R11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkuTotal {
    pub sku: Sku,
    pub total: u64,
    pub direct: u64,
    pub volume: u64,
    pub relied_on: u64,
}

/// The pool's totals per SKU (those with any licence or reliance), at the account's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub account_id: AccountId,
    pub skus: Vec<SkuTotal>,
    pub version: u64,
}

impl Totals {
    pub fn total(&self, sku: Sku) -> u64 {
        self.skus
            .iter()
            .find(|s| s.sku == sku)
            .map_or(0, |s| s.total)
    }
}

/// The pool's totals as the account keeps them.
pub fn totals(account: &Account) -> Totals {
    totals_of(account, &account.direct, &account.volume)
}

fn totals_of(account: &Account, direct: &SkuCounts, volume: &SkuCounts) -> Totals {
    let count = |counts: &SkuCounts, sku: &Sku| counts.get(sku).copied().unwrap_or(0);
    let mut skus: Vec<Sku> = direct
        .keys()
        .chain(volume.keys())
        .chain(account.relied_on.keys())
        .copied()
        .collect();
    skus.sort_unstable();
    skus.dedup();
    Totals {
        account_id: account.id.clone(),
        skus: skus
            .iter()
            .map(|sku| SkuTotal {
                sku: *sku,
                total: count(direct, sku).saturating_add(count(volume, sku)),
                direct: count(direct, sku),
                volume: count(volume, sku),
                relied_on: count(&account.relied_on, sku),
            })
            .filter(|t| t.total > 0 || t.relied_on > 0)
            .collect(),
        version: account.version,
    }
}

/// One line of the pool's sources list: what one source gives of one SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    pub sku: Sku,
    pub kind: SourceKind,
    pub id: String,
    pub quantity: u64,
}

/// A source's lines, SKU by SKU in catalogue order (only `sku`'s if one is asked for), none
/// for a SKU it gives nothing of.
pub fn lines_of(source: &Source, sku: Option<Sku>) -> Vec<SourceLine> {
    let mut lines: Vec<SourceLine> = source
        .counts
        .iter()
        .filter(|(s, n)| **n > 0 && sku.is_none_or(|wanted| wanted == **s))
        .map(|(s, n)| SourceLine {
            sku: *s,
            kind: source.kind,
            id: source.id.clone(),
            quantity: *n,
        })
        .collect();
    lines.sort_by_key(|l| l.sku);
    lines
}

/// Where a page of the sources list starts: after a whole source (`sku: None`), or after one
/// of its lines (a page may end inside a source that gives several SKUs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinesAfter {
    /// The source's place in the list (opaque here: positions only compare).
    pub position: String,
    pub sku: Option<Sku>,
}

impl LinesAfter {
    /// As a cursor keeps it: the source's position, and `|<sku>` when a page ended inside it.
    pub fn to_text(&self) -> String {
        match self.sku {
            Some(sku) => format!("{}|{}", self.position, sku.code()),
            None => self.position.clone(),
        }
    }

    /// Back from [`Self::to_text`]; `None` for anything else.
    pub fn from_text(text: &str) -> Option<Self> {
        let (position, sku) = match text.split_once('|') {
            None => (text, None),
            Some((position, code)) => (position, Some(Sku::parse(code)?)),
        };
        Some(Self {
            position: position.to_owned(),
            sku,
        })
    }

    /// Whether `line` of the source at `position` was already answered, the list read in
    /// the order given (`descending`: newest source first, a source's lines last SKU first).
    fn covers(&self, position: &str, line: &SourceLine, descending: bool) -> bool {
        let (position, sku) = if descending {
            (
                self.position.as_str().cmp(position),
                self.sku.map(|s| (s, line.sku)),
            )
        } else {
            (
                position.cmp(self.position.as_str()),
                self.sku.map(|s| (line.sku, s)),
            )
        };
        match position {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal => sku.is_none_or(|(a, b)| a <= b),
            std::cmp::Ordering::Greater => false,
        }
    }
}

/// How a page of the sources list is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinesAsked<'a> {
    pub start: Option<&'a LinesAfter>,
    pub sku: Option<Sku>,
    pub limit: usize,
    pub descending: bool,
}

/// One page of the sources list: at most `limit` lines (only `sku`'s, if asked) from the
/// sources `read` — each with its position, in list order, read from `start`'s source on —
/// and where the next page starts, if anything follows (`more`: the read stopped before the
/// list's end). Each line of the list is on exactly one page.
pub fn lines_page(
    read: &[(String, Source)],
    asked: LinesAsked<'_>,
    more: bool,
) -> (Vec<SourceLine>, Option<LinesAfter>) {
    let LinesAsked {
        start,
        sku,
        limit,
        descending,
    } = asked;
    let mut page = Vec::new();
    let mut last: Option<LinesAfter> = None;
    for (position, source) in read {
        let mut lines = lines_of(source, sku);
        if descending {
            lines.reverse();
        }
        let lines: Vec<SourceLine> = lines
            .into_iter()
            .filter(|l| !start.is_some_and(|s| s.covers(position, l, descending)))
            .collect();
        for (i, line) in lines.iter().enumerate() {
            if page.len() == limit {
                return (page, last);
            }
            page.push(line.clone());
            last = Some(LinesAfter {
                position: position.clone(),
                sku: (i + 1 < lines.len()).then_some(line.sku),
            });
        }
        last = Some(LinesAfter {
            position: position.clone(),
            sku: None,
        });
    }
    (page, last.filter(|_| more))
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

/// The pool counted from the subscriptions, orders and reservations themselves: what
/// [`totals`] must answer from the account's kept figures, and the sources the account's
/// partition must hold.
pub fn recount(
    account: &Account,
    subscriptions: &[Subscription],
    agreements: &[AgreementHoldings],
) -> (Totals, Vec<Source>) {
    let held: Vec<Agreement> = agreements
        .iter()
        .map(AgreementHoldings::recounted)
        .collect();
    let (sources, direct, volume) = crate::sources::recount(account, subscriptions, &held);
    (totals_of(account, &direct, &volume), sources)
}

#[cfg(test)]
#[allow(clippy::too_many_lines)] // scenarios read top to bottom
mod tests {
    use super::*;
    use crate::model::{Billing, OrderSource, OrderStatus, ReservationStatus, SubscriptionStatus};
    use crate::testing;
    use crate::types::Lines;
    use crate::types::{ReservationId, SubscriptionId};
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
            sequence: 2,
            named_by: Vec::new(),
            open_request: None,
            cancellation: None,
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
            source,
            status,
            placed_at: now(),
            ..testing::order(a, l)
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
        let (pool, sources) = recount(&acc, &[direct.clone(), gone], &[holdings]);
        assert_eq!(pool.total(Sku::SalesProfessional), 50 + 50 + 5 + 2);
        assert_eq!(pool.total(Sku::AdditionalStorageGb), 5);
        assert_eq!(pool.total(Sku::SalesEnterprise), 0);
        assert_eq!(
            pool.skus[0],
            SkuTotal {
                sku: Sku::SalesProfessional,
                total: 107,
                direct: 50,
                volume: 57,
                relied_on: 0
            }
        );
        let seats: Vec<(SourceKind, String, u64)> = sources
            .iter()
            .flat_map(|s| lines_of(s, Some(Sku::SalesProfessional)))
            .map(|l| (l.kind, l.id, l.quantity))
            .collect();
        assert_eq!(
            seats,
            vec![
                (SourceKind::Direct, direct.id.to_string(), 50),
                (SourceKind::Agreement, a.id.to_string(), 50 + 5 + 2)
            ],
            "one source per subscription and per agreement"
        );
        let all: Vec<Sku> = sources
            .iter()
            .flat_map(|s| lines_of(s, None))
            .map(|l| l.sku)
            .collect();
        assert_eq!(
            all,
            [
                Sku::SalesProfessional,
                Sku::AdditionalStorageGb,
                Sku::SalesProfessional
            ],
            "each source's lines in catalogue order"
        );
    }

    /// What is relied on shows beside the total, even where nothing is left to rely on.
    #[test]
    fn totals_are_the_account_s_kept_figures() {
        let acc = Account {
            direct: [(Sku::SalesProfessional, 5)].into_iter().collect(),
            volume: [(Sku::SalesProfessional, 20)].into_iter().collect(),
            relied_on: [(Sku::SalesProfessional, 3), (Sku::SalesEnterprise, 1)]
                .into_iter()
                .collect(),
            version: 7,
            ..account()
        };
        let t = totals(&acc);
        assert_eq!(t.version, 7);
        assert_eq!(t.total(Sku::SalesProfessional), 25);
        assert_eq!(
            t.skus
                .iter()
                .map(|s| (s.sku, s.total, s.relied_on))
                .collect::<Vec<_>>(),
            [
                (Sku::SalesProfessional, 25, 3),
                (Sku::SalesEnterprise, 0, 1)
            ]
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
        let (pool, sources) = recount(&acc, &[], &[holdings]);
        assert!(pool.skus.is_empty());
        assert!(sources.is_empty());
    }

    fn source(kind: SourceKind, joined: u64, counts: &[(Sku, u64)]) -> (String, Source) {
        let source = Source {
            account_id: AccountId::parse("acc_01KBENCH0000000000000000AA").expect("id"),
            kind,
            id: format!("s{joined}"),
            counts: counts.iter().copied().collect(),
            joined,
        };
        (format!("{joined:03}"), source)
    }

    /// Walks the list page by page as a caller would, each page read from its start.
    fn walk(
        list: &[(String, Source)],
        sku: Option<Sku>,
        limit: usize,
        descending: bool,
    ) -> Vec<(String, Sku)> {
        let mut list = list.to_vec();
        if descending {
            list.reverse();
        }
        let mut seen = Vec::new();
        let mut start: Option<LinesAfter> = None;
        for _ in 0..100 {
            let from = list
                .iter()
                .position(|(p, _)| {
                    start.as_ref().is_none_or(|s| {
                        let beyond = if descending {
                            p < &s.position
                        } else {
                            p > &s.position
                        };
                        beyond || (p == &s.position && s.sku.is_some())
                    })
                })
                .unwrap_or(list.len());
            let read = &list[from..list.len().min(from + limit)];
            let more = from + limit < list.len();
            let asked = LinesAsked {
                start: start.as_ref(),
                sku,
                limit,
                descending,
            };
            let (page, next) = lines_page(read, asked, more);
            assert!(page.len() <= limit, "a page holds at most the limit");
            seen.extend(page.into_iter().map(|l| (l.id, l.sku)));
            match next {
                Some(n) => start = Some(n),
                None => return seen,
            }
        }
        panic!("the walk did not end");
    }

    #[test]
    fn every_line_is_on_exactly_one_page_whatever_the_limit() {
        use Sku::{AdditionalStorageGb as Gb, SalesEnterprise as Ent, SalesProfessional as Pro};
        let list = vec![
            source(SourceKind::Direct, 2, &[(Pro, 5), (Gb, 3)]),
            source(SourceKind::Agreement, 3, &[(Pro, 50)]),
            source(SourceKind::Agreement, 5, &[(Pro, 1), (Ent, 2), (Gb, 9)]),
            source(SourceKind::Direct, 9, &[(Ent, 4)]),
        ];
        let all: Vec<(String, Sku)> = list
            .iter()
            .flat_map(|(_, s)| lines_of(s, None))
            .map(|l| (l.id, l.sku))
            .collect();
        assert_eq!(all.len(), 7);
        let mut reversed = all.clone();
        reversed.reverse();
        for limit in 1..=8 {
            assert_eq!(walk(&list, None, limit, false), all, "limit {limit}");
            assert_eq!(
                walk(&list, None, limit, true),
                reversed,
                "limit {limit}, desc"
            );
            assert_eq!(
                walk(&list, Some(Ent), limit, false),
                [("s5".to_owned(), Ent), ("s9".to_owned(), Ent)],
                "limit {limit}, one SKU"
            );
            assert_eq!(
                walk(&list, Some(Ent), limit, true),
                [("s9".to_owned(), Ent), ("s5".to_owned(), Ent)],
                "limit {limit}, one SKU, desc"
            );
        }
    }

    #[test]
    fn a_page_that_ends_inside_a_source_goes_on_from_its_next_line() {
        use Sku::{AdditionalStorageGb as Gb, SalesProfessional as Pro};
        let list = vec![source(SourceKind::Direct, 2, &[(Pro, 5), (Gb, 3)])];
        let first = LinesAsked {
            start: None,
            sku: None,
            limit: 1,
            descending: false,
        };
        let (page, next) = lines_page(&list, first, false);
        assert_eq!(page.iter().map(|l| l.sku).collect::<Vec<_>>(), [Pro]);
        assert_eq!(
            next,
            Some(LinesAfter {
                position: "002".into(),
                sku: Some(Pro)
            })
        );
        let asked = LinesAsked {
            start: next.as_ref(),
            ..first
        };
        let (page, next) = lines_page(&list, asked, false);
        assert_eq!(page.iter().map(|l| l.sku).collect::<Vec<_>>(), [Gb]);
        assert_eq!(next, None, "the source's last line ends the list");
    }
}
