//! What an agreement holds, kept on the agreement itself and changed in the same transaction
//! as every order invoiced and every reservation made, cancelled or billed. It is bounded —
//! per SKU, and per anniversary for what is reserved — so no rule has to read an agreement's
//! orders or reservations, however many there are. [`crate::sources::holdings_of`] is what
//! the kept figures must always equal. Bookkeeping over counts only: it knows no entity.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::catalog::Sku;
use crate::error::RuleError;
use crate::types::{Line, Lines, Quantity, SkuCounts};

/// Active reservations that bill at one anniversary: their lines summed, and how many.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedAt {
    pub lines: SkuCounts,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holdings {
    /// Invoiced purchase orders (`source: "order"`).
    #[serde(default, skip_serializing_if = "SkuCounts::is_empty")]
    pub invoiced: SkuCounts,
    /// Active reservations not billed yet, by the anniversary they bill at.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reserved: BTreeMap<NaiveDate, ReservedAt>,
    /// Reservations a true-up billed (they stay in the pool).
    #[serde(default, skip_serializing_if = "SkuCounts::is_empty")]
    pub billed: SkuCounts,
}

fn add(counts: &mut SkuCounts, sku: Sku, n: u64) {
    let c = counts.entry(sku).or_default();
    *c = c.saturating_add(n);
}

pub(crate) fn add_lines(counts: &mut SkuCounts, lines: &Lines) {
    for l in lines.iter() {
        add(counts, l.sku, l.quantity.get());
    }
}

pub(crate) fn add_counts(counts: &mut SkuCounts, more: &SkuCounts) {
    for (sku, n) in more {
        add(counts, *sku, *n);
    }
}

/// Takes `lines` off `counts`; no SKU is kept at zero.
pub(crate) fn take_lines(counts: &mut SkuCounts, lines: &Lines) {
    for l in lines.iter() {
        if let Some(c) = counts.get_mut(&l.sku) {
            *c = c.saturating_sub(l.quantity.get());
            if *c == 0 {
                counts.remove(&l.sku);
            }
        }
    }
}

/// Per-SKU counts as order lines (`None` when there are none). A total beyond what an order
/// line can hold is refused rather than billed short.
pub fn lines_of(counts: &SkuCounts) -> Result<Option<Lines>, RuleError> {
    let lines = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(sku, n)| {
            Quantity::total(*n)
                .map(|quantity| Line {
                    sku: *sku,
                    quantity,
                })
                .ok_or(RuleError::TotalOutOfRange { sku: *sku })
        })
        .collect::<Result<Vec<Line>, RuleError>>()?;
    Ok(Lines::new(lines).ok())
}

impl Holdings {
    /// A purchase order invoiced.
    pub fn invoice(&mut self, lines: &Lines) {
        add_lines(&mut self.invoiced, lines);
    }

    /// A reservation made, billing at `at`.
    pub fn reserve(&mut self, at: NaiveDate, lines: &Lines) {
        let entry = self.reserved.entry(at).or_default();
        add_lines(&mut entry.lines, lines);
        entry.count = entry.count.saturating_add(1);
    }

    /// A reservation that would have billed at `at`, cancelled.
    pub fn unreserve(&mut self, at: NaiveDate, lines: &Lines) {
        if let Some(entry) = self.reserved.get_mut(&at) {
            take_lines(&mut entry.lines, lines);
            entry.count = entry.count.saturating_sub(1);
            if entry.count == 0 {
                self.reserved.remove(&at);
            }
        }
    }

    /// What the true-up of `anniversary` bills: every reservation due by then, summed, and
    /// how many they are.
    pub fn due_by(&self, anniversary: NaiveDate) -> ReservedAt {
        let mut due = ReservedAt::default();
        for r in self.reserved.range(..=anniversary).map(|(_, r)| r) {
            add_counts(&mut due.lines, &r.lines);
            due.count = due.count.saturating_add(r.count);
        }
        due
    }

    /// The true-up of `anniversary`: what is due by then moves to billed. Returns what it
    /// billed.
    pub fn bill_through(&mut self, anniversary: NaiveDate) -> ReservedAt {
        let due = self.due_by(anniversary);
        self.reserved.retain(|at, _| *at > anniversary);
        add_counts(&mut self.billed, &due.lines);
        due
    }

    /// The licences the agreement gives its account's pool, per SKU: invoiced purchase
    /// orders, active and billed reservations.
    pub fn volume(&self) -> SkuCounts {
        let mut volume = self.invoiced.clone();
        for r in self.reserved.values() {
            add_counts(&mut volume, &r.lines);
        }
        add_counts(&mut volume, &self.billed);
        volume.retain(|_, n| *n > 0);
        volume
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn reserved_lines_move_to_billed_at_their_anniversary_and_leave_when_cancelled() {
        let seats = |n| testing::lines(&[(Sku::SalesProfessional, n)]);
        let mut h = Holdings::default();
        h.invoice(&seats(10));
        h.reserve(d("2027-03-15"), &seats(2));
        h.reserve(d("2027-03-15"), &seats(3));
        h.reserve(d("2028-03-15"), &seats(4));
        assert_eq!(h.volume()[&Sku::SalesProfessional], 19);
        h.unreserve(d("2027-03-15"), &seats(3));
        let due = h.due_by(d("2027-03-15"));
        assert_eq!((due.lines[&Sku::SalesProfessional], due.count), (2, 1));
        let billed = h.bill_through(d("2027-03-15"));
        assert_eq!(billed, due);
        assert_eq!(h.billed[&Sku::SalesProfessional], 2);
        assert_eq!(
            h.reserved.len(),
            1,
            "the later anniversary's stays reserved"
        );
        assert_eq!(h.volume()[&Sku::SalesProfessional], 16);
        assert_eq!(h.bill_through(d("2027-03-15")).count, 0, "billed once");
        h.unreserve(d("2028-03-15"), &seats(4));
        assert!(h.reserved.is_empty(), "no anniversary kept at zero");
        assert_eq!(lines_of(&h.due_by(d("2030-01-01")).lines), Ok(None));
    }

    #[test]
    fn a_total_no_order_line_can_hold_is_refused() {
        let counts = SkuCounts::from([(Sku::SalesProfessional, u64::from(u32::MAX) + 1)]);
        assert_eq!(
            lines_of(&counts),
            Err(RuleError::TotalOutOfRange {
                sku: Sku::SalesProfessional
            })
        );
    }
}
