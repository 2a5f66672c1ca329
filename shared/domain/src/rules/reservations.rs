//! License Reservations (R12, R13) and the anniversary True-Up (R14).
//!
//! A reservation is never rewritten when it is billed: the agreement records the last
//! anniversary it billed (`billed_through`), and every active reservation made before that
//! date is billed. What is reserved is also kept on the agreement, per anniversary and SKU
//! (its holdings), so a true-up reads and writes a bounded handful of items however many
//! reservations there are, and billing can happen at most once per anniversary.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::audit::Audit;
use crate::change::{Audited, Change, Write};
use crate::error::RuleError;
use crate::holdings::lines_of;
use crate::metrics::Metric;
use crate::model::{
    Account, Agreement, Order, OrderSource, OrderStatus, Reservation, ReservationStatus,
};
use crate::rules::cancellation;
use crate::types::{Lines, OrderId, Program, ReservationId};
use crate::views::{OrderView, ReservationView};

/// Reservations close this many days before the next anniversary.
pub const WINDOW_CLOSES_DAYS: i64 = 30;
/// A reservation can be cancelled within this many hours of being made.
pub const CANCEL_WITHIN_HOURS: i64 = 72;

/// A reservation made or cancelled, its agreement moved on with it in its holdings, and all
/// that goes with it: the account's volume and the agreement's pool source moved, the entry on
/// both trails, the metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    pub reservation: Reservation,
    pub agreement: Agreement,
    pub change: Change,
}

/// R13's window on `agreement` at `now`: the last day a reservation may be made, or why none
/// may (a CASA; within 30 days of the anniversary).
pub fn window(agreement: &Agreement, now: DateTime<Utc>) -> Result<NaiveDate, RuleError> {
    if agreement.program == Program::Casa {
        return Err(RuleError::ProgramNotEligible);
    }
    let closes = agreement.anniversary - Duration::days(WINDOW_CLOSES_DAYS);
    if now.date_naive() >= closes {
        return Err(RuleError::ReservationWindowClosed {
            anniversary: agreement.anniversary,
        });
    }
    Ok(closes - Duration::days(1))
}

/// Until when a reservation may be cancelled (R13: 72 hours after it was made).
pub fn cancellable_until(r: &Reservation) -> DateTime<Utc> {
    r.created_at + Duration::hours(CANCEL_WITHIN_HOURS)
}

/// R13: the account's administrator reserves more licences on an associated EA or EAS.
pub fn reserve(
    agreement: &Agreement,
    account: &Account,
    lines: Lines,
    id: ReservationId,
    now: DateTime<Utc>,
) -> Result<Changed, RuleError> {
    window(agreement, now)?;
    let mut after = Agreement {
        version: agreement.version + 1,
        ..agreement.clone()
    };
    after.holdings.reserve(agreement.anniversary, &lines);
    let reservation = Reservation {
        id,
        agreement_id: agreement.id.clone(),
        lines,
        status: ReservationStatus::Active,
        billable_at: agreement.anniversary,
        created_at: now,
        version: 1,
        sequence: after.version,
    };
    let audit = Audit::ReservationCreated {
        reservation_id: reservation.id.clone(),
        lines: reservation.lines.clone(),
        billable_at: reservation.billable_at,
    };
    // The agreement as read (still associated with this account, same anniversary), and
    // both moved on: the account's volume licences changed, and both trails grow.
    let change = Change::default()
        .replace(&after, agreement.version)
        .create(&reservation)
        .holdings_moved(account, agreement, &after)
        .audit(on_both(audit, agreement, account).notify(
            &after.partner_id,
            &after.id,
            &ReservationView::new(&reservation, &after),
        ))
        .count(Metric::ReservationMade);
    Ok(Changed {
        reservation,
        agreement: after,
        change,
    })
}

/// An entry naming the agreement and its account, on both trails.
fn on_both(audit: Audit, agreement: &Agreement, account: &Account) -> Audited {
    Audited::of(audit)
        .naming_agreement(&agreement.id)
        .naming_account(Some(&account.id))
        .on(&agreement.id)
        .on(&account.id)
}

/// R13: cancel within 72 hours; a cancelled reservation is never billed. R11: not while the
/// account (`account`, which the agreement is associated with) relies on its licences for
/// cancelled direct subscriptions — checked last.
pub fn cancel(
    r: &Reservation,
    agreement: &Agreement,
    account: &Account,
    now: DateTime<Utc>,
) -> Result<Changed, RuleError> {
    // Checked in this order: cancelled, then the 72 hours (billed or not), then billed.
    if r.status == ReservationStatus::Cancelled {
        return Err(RuleError::ReservationNotActive {
            status: "cancelled",
        });
    }
    if now >= cancellable_until(r) {
        return Err(RuleError::CancellationWindowPassed);
    }
    if r.status_on(agreement) == ReservationStatus::Billed {
        return Err(RuleError::ReservationNotActive { status: "billed" });
    }
    let removed = cancellation::counts_of(&r.lines);
    cancellation::keep_relied_on(account, &account.volume, &removed)?;
    let mut after = Agreement {
        version: agreement.version + 1,
        ..agreement.clone()
    };
    after.holdings.unreserve(r.billable_at, &r.lines);
    let reservation = Reservation {
        status: ReservationStatus::Cancelled,
        version: r.version + 1,
        ..r.clone()
    };
    let audit = Audit::ReservationCancelled {
        reservation_id: r.id.clone(),
        lines: r.lines.clone(),
    };
    let change = Change::default()
        .replace(&reservation, r.version)
        .replace(&after, agreement.version)
        .holdings_moved(account, agreement, &after)
        .audit(on_both(audit, agreement, account).notify(
            &after.partner_id,
            &after.id,
            &ReservationView::new(&reservation, &after),
        ))
        .count(Metric::ReservationCancelled);
    Ok(Changed {
        reservation,
        agreement: after,
        change,
    })
}

pub use crate::model::Preview;

pub fn preview(agreement: &Agreement) -> Result<Preview, RuleError> {
    let due = agreement.holdings.due_by(agreement.anniversary);
    Ok(Preview {
        agreement_id: agreement.id.clone(),
        anniversary: agreement.anniversary,
        lines: lines_of(&due.lines)?.map(Vec::from).unwrap_or_default(),
        reservations: due.count,
    })
}

/// One passed anniversary, billed: the agreement after it, the true-up order (if any) and how
/// many reservations it billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrueUp {
    pub anniversary: NaiveDate,
    pub agreement: Agreement,
    pub order: Option<Order>,
    pub billed: u64,
}

/// R14: the oldest passed anniversary of a due agreement (`None` when none has passed).
/// Bills the reservations due by then (from the agreement's holdings, never read one by
/// one) as one true-up order and moves the anniversary on: to the next one if that has
/// passed too (handled by the next step), otherwise to the first after now. A total that no
/// order line can hold refuses the step: the anniversary stays unbilled (and due) rather
/// than moving on without its order.
pub fn true_up_step(
    agreement: &Agreement,
    now: DateTime<Utc>,
    order_id: OrderId,
) -> Result<Option<TrueUp>, RuleError> {
    let anniversary = agreement.anniversary;
    if anniversary > now.date_naive() {
        return Ok(None);
    }
    let mut holdings = agreement.holdings.clone();
    let due = holdings.bill_through(anniversary);
    let order = lines_of(&due.lines)?.map(|lines| Order {
        id: order_id,
        agreement_id: agreement.id.clone(),
        partner_id: agreement.partner_id.clone(),
        source: OrderSource::TrueUp,
        status: OrderStatus::Invoiced,
        lines,
        replaces_subscription_id: None,
        volume_discount_eligible: agreement.volume_discount_eligible,
        placed_at: now,
        invoiced_at: Some(now),
        activation_email: None,
        version: 1,
        sequence: agreement.version + 1,
    });
    // The next anniversary: another passed one is the next step; otherwise the first after now.
    let next = agreement.schedule.next_after(anniversary);
    Ok(Some(TrueUp {
        anniversary,
        agreement: Agreement {
            anniversary: next,
            billed_through: Some(anniversary),
            holdings,
            version: agreement.version + 1,
            ..agreement.clone()
        },
        order,
        billed: due.count,
    }))
}

/// Everything billing `step` writes, under the agreement's version as read (`read`): the
/// agreement moved on, the marker that the anniversary is billed, the true-up order (if
/// anything is billable), the entry on the agreement's trail and, when it is associated, on
/// its account's (`held`, as read, moved on so its trail is ordered), the metrics.
pub fn billed(step: &TrueUp, read: &Agreement, held: Option<&Account>) -> Change {
    let a = &step.agreement;
    let order = step.order.as_ref();
    let audit = Audit::TrueUpBilled {
        anniversary: step.anniversary,
        order_id: order.map(|o| o.id.clone()),
        lines: order.map(|o| o.lines.clone()),
        reservations: step.billed,
        next_anniversary: a.anniversary,
    };
    let mut entry = Audited::of(audit)
        .naming_agreement(&a.id)
        .naming_account(a.account_id.as_ref())
        .on(&a.id);
    let mut change = Change::default()
        .replace(a, read.version)
        .write(Write::TrueUpMarker {
            agreement: a.id.clone(),
            anniversary: step.anniversary,
            order: order.map(|o| o.id.clone()),
        })
        .count(Metric::TrueUpBilled);
    if let Some(order) = order {
        // The partner invoices the true-up order: told only when one is made.
        entry = entry.notify(&a.partner_id, &a.id, &OrderView::new(order, a));
        change = change.create(order).count(Metric::TrueUpOrder);
    }
    if let Some(account) = held {
        change = change.advance(&account.id, account.version);
        entry = entry.on(&account.id);
    }
    change.audit(entry)
}

#[cfg(test)]
#[allow(clippy::too_many_lines)] // scenarios read top to bottom
mod tests {
    use super::*;

    use crate::catalog::Sku;
    use crate::model::start_of;
    use crate::rules::schedule::{MonthDay, first_anniversary};
    use crate::types::AccountId;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("ts")
            .with_timezone(&Utc)
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn agreement(program: Program, start: &str) -> Agreement {
        let start = d(start);
        let schedule = MonthDay::of(start);
        Agreement {
            program,
            start_date: start,
            schedule,
            anniversary: first_anniversary(schedule, start),
            account_id: Some(AccountId::generate()),
            created_at: start_of(start),
            ..crate::testing::agreement()
        }
    }

    fn lines(items: &[(Sku, u64)]) -> Lines {
        crate::testing::lines(items)
    }

    /// An active reservation of `a` made at `when`.
    fn active(a: &Agreement, lines: Lines, when: &str) -> Reservation {
        Reservation {
            id: ReservationId::generate(&a.id),
            agreement_id: a.id.clone(),
            lines,
            status: ReservationStatus::Active,
            billable_at: a.anniversary,
            created_at: at(when),
            version: 1,
            sequence: 1,
        }
    }

    fn seats(n: u64) -> Lines {
        lines(&[(Sku::SalesProfessional, n)])
    }

    /// R13's cancel of `r` on `a` at `when`, for an account that relies on nothing.
    fn cancel_at(r: &Reservation, a: &Agreement, when: &str) -> Result<Changed, RuleError> {
        cancel(r, a, &crate::testing::account(), at(when))
    }

    /// `a` holding `rs` (its kept figures counted from them).
    fn held(a: &Agreement, rs: &[Reservation]) -> Agreement {
        Agreement {
            holdings: crate::sources::holdings_of(a, &[], rs),
            ..a.clone()
        }
    }

    #[test]
    fn reserve_on_ea_and_eas_only_and_not_in_the_last_30_days() {
        let a = agreement(Program::Ea, "2026-03-15");
        assert_eq!(a.anniversary, d("2027-03-15"));
        let r = reserve(
            &a,
            &crate::testing::account(),
            seats(10),
            ReservationId::generate(&a.id),
            at("2026-11-28T10:00:00Z"),
        )
        .expect("reserved");
        assert_eq!(r.agreement.version, a.version + 1);
        assert_eq!(r.reservation.sequence, r.agreement.version);
        assert_eq!(
            r.agreement.holdings,
            held(&a, std::slice::from_ref(&r.reservation)).holdings
        );
        let r = r.reservation;
        assert_eq!(
            (r.status, r.billable_at),
            (ReservationStatus::Active, d("2027-03-15"))
        );
        assert!(
            reserve(
                &agreement(Program::Eas, "2026-03-15"),
                &crate::testing::account(),
                seats(1),
                ReservationId::generate(&a.id),
                at("2026-11-28T10:00:00Z")
            )
            .is_ok()
        );
        assert_eq!(
            reserve(
                &agreement(Program::Casa, "2026-03-15"),
                &crate::testing::account(),
                seats(1),
                ReservationId::generate(&a.id),
                at("2026-11-28T10:00:00Z")
            ),
            Err(RuleError::ProgramNotEligible)
        );
        // 2027-02-13 is 30 days before 2027-03-15: closed from then on; the day before is open.
        assert!(
            reserve(
                &a,
                &crate::testing::account(),
                seats(1),
                ReservationId::generate(&a.id),
                at("2027-02-12T23:59:59Z")
            )
            .is_ok()
        );
        assert_eq!(
            reserve(
                &a,
                &crate::testing::account(),
                seats(1),
                ReservationId::generate(&a.id),
                at("2027-02-13T00:00:00Z")
            ),
            Err(RuleError::ReservationWindowClosed {
                anniversary: d("2027-03-15")
            })
        );
        // After the anniversary but before the job has run: still closed.
        assert!(
            reserve(
                &a,
                &crate::testing::account(),
                seats(1),
                ReservationId::generate(&a.id),
                at("2027-03-16T08:00:00Z")
            )
            .is_err()
        );
    }

    #[test]
    fn cancel_within_72_hours_only() {
        let a = agreement(Program::Ea, "2026-03-15");
        let r = reserve(
            &a,
            &crate::testing::account(),
            seats(10),
            ReservationId::generate(&a.id),
            at("2026-11-28T10:00:00Z"),
        )
        .expect("reserved");
        let (a, r) = (r.agreement, r.reservation);
        let done = cancel_at(&r, &a, "2026-12-01T09:59:59Z").expect("within 72 h");
        assert!(
            done.agreement.holdings.reserved.is_empty(),
            "no longer reserved"
        );
        let c = done.reservation;
        assert_eq!(c.status, ReservationStatus::Cancelled);
        assert_eq!(
            cancel_at(&r, &a, "2026-12-01T10:00:00Z"),
            Err(RuleError::CancellationWindowPassed)
        );
        assert_eq!(
            cancel_at(&c, &a, "2026-11-28T11:00:00Z"),
            Err(RuleError::ReservationNotActive {
                status: "cancelled"
            })
        );
    }

    #[test]
    fn a_reservation_the_account_relies_on_stays() {
        let a = agreement(Program::Ea, "2026-03-15");
        let r = active(&a, seats(10), "2026-11-28T10:00:00Z");
        // The account's 10 volume seats are all relied on by a cancelled subscription.
        let mut acc = crate::testing::account();
        acc.volume = [(Sku::SalesProfessional, 10)].into_iter().collect();
        acc.relied_on = acc.volume.clone();
        assert!(matches!(
            cancel(&r, &a, &acc, at("2026-11-28T11:00:00Z")),
            Err(RuleError::WouldLoseReliedOnLicenses { .. })
        ));
        acc.volume = [(Sku::SalesProfessional, 20)].into_iter().collect();
        assert!(cancel(&r, &a, &acc, at("2026-11-28T11:00:00Z")).is_ok());
    }

    #[test]
    fn the_72_hours_are_checked_before_whether_it_was_billed() {
        let a = agreement(Program::Ea, "2026-03-15");
        let made = |when: &str| active(&a, seats(3), when);
        let billed = Agreement {
            billed_through: Some(d("2027-03-15")),
            anniversary: d("2028-03-15"),
            ..a.clone()
        };
        let old = made("2026-11-28T10:00:00Z");
        assert_eq!(old.status_on(&billed), ReservationStatus::Billed);
        assert_eq!(
            cancel_at(&old, &billed, "2027-03-16T10:00:00Z"),
            Err(RuleError::CancellationWindowPassed),
            "past its 72 hours, billed since or not"
        );
        let recent = made("2027-03-14T10:00:00Z");
        assert_eq!(
            cancel_at(&recent, &billed, "2027-03-15T10:00:00Z"),
            Err(RuleError::ReservationNotActive { status: "billed" }),
            "within 72 hours but billed"
        );
        let cancelled = Reservation {
            status: ReservationStatus::Cancelled,
            ..old
        };
        assert_eq!(
            cancel_at(&cancelled, &billed, "2027-03-16T10:00:00Z"),
            Err(RuleError::ReservationNotActive {
                status: "cancelled"
            })
        );
    }

    #[test]
    fn a_total_no_order_line_can_hold_refuses_the_step() {
        let a = agreement(Program::Ea, "2026-03-15");
        // 4,295 reservations of 1,000,000 seats pass what an order line holds (u32).
        let rs: Vec<Reservation> = (0..4_295)
            .map(|_| active(&a, seats(1_000_000), "2026-11-28T10:00:00Z"))
            .collect();
        let overflow = Err(RuleError::TotalOutOfRange {
            sku: Sku::SalesProfessional,
        });
        assert_eq!(
            true_up_step(
                &held(&a, &rs),
                at("2027-03-15T06:00:00Z"),
                OrderId::generate(&a.id)
            ),
            overflow,
            "never moves billed_through on without an order"
        );
        assert_eq!(
            preview(&held(&a, &rs)).map(|p| p.lines),
            Err(RuleError::TotalOutOfRange {
                sku: Sku::SalesProfessional
            })
        );
        let fits = &rs[..4_294];
        let t = true_up_step(
            &held(&a, fits),
            at("2027-03-15T06:00:00Z"),
            OrderId::generate(&a.id),
        )
        .expect("in range")
        .expect("due");
        assert_eq!(
            t.order.map(|o| o.lines.quantity_of(Sku::SalesProfessional)),
            Some(4_294_000_000)
        );
    }

    #[test]
    fn a_true_up_bills_the_reservations_made_before_its_anniversary_once() {
        let a = agreement(Program::Ea, "2026-03-15");
        let made = |when: &str, n| {
            active(
                &a,
                lines(&[(Sku::SalesProfessional, n), (Sku::AdditionalStorageGb, 20)]),
                when,
            )
        };
        let mut cancelled = made("2026-11-01T00:00:00Z", 100);
        cancelled.status = ReservationStatus::Cancelled;
        let rs = vec![
            made("2026-11-28T10:00:00Z", 5),
            made("2027-01-02T10:00:00Z", 3),
            cancelled,
        ];

        let a = held(&a, &rs);
        let p = preview(&a).expect("preview");
        assert_eq!(p.anniversary, d("2027-03-15"));
        assert_eq!(p.reservations, 2);
        assert_eq!(
            Lines::new(p.lines.clone()).map(|l| (
                l.quantity_of(Sku::SalesProfessional),
                l.quantity_of(Sku::AdditionalStorageGb)
            )),
            Ok((8, 40))
        );

        assert_eq!(
            true_up_step(&a, at("2027-03-14T23:00:00Z"), OrderId::generate(&a.id)),
            Ok(None),
            "not yet"
        );
        let t = true_up_step(&a, at("2027-03-15T06:00:00Z"), OrderId::generate(&a.id))
            .expect("in range")
            .expect("due");
        let order = t.order.expect("an order");
        assert_eq!(
            (order.source, order.status),
            (OrderSource::TrueUp, OrderStatus::Invoiced)
        );
        assert_eq!(order.lines.quantity_of(Sku::SalesProfessional), 8);
        assert_eq!(t.billed, 2);
        assert_eq!(t.agreement.holdings, held(&t.agreement, &rs).holdings);
        assert_eq!(t.agreement.anniversary, d("2028-03-15"));
        assert_eq!(t.agreement.billed_through, Some(d("2027-03-15")));
        for r in &rs[..2] {
            assert_eq!(r.status_on(&t.agreement), ReservationStatus::Billed);
        }
        assert_eq!(rs[2].status_on(&t.agreement), ReservationStatus::Cancelled);
        // Run again: nothing is due.
        assert_eq!(
            true_up_step(
                &t.agreement,
                at("2027-03-15T07:00:00Z"),
                OrderId::generate(&a.id)
            ),
            Ok(None)
        );
        // A reservation made in the next term is billed by the next anniversary only.
        let later = made("2027-04-01T00:00:00Z", 7);
        let next = preview(&held(&t.agreement, std::slice::from_ref(&later))).expect("preview");
        assert_eq!(next.reservations, 1);
        assert_eq!(later.status_on(&t.agreement), ReservationStatus::Active);
    }

    #[test]
    fn missed_anniversaries_are_billed_one_by_one_oldest_first() {
        let a = agreement(Program::Ea, "2024-02-29");
        assert_eq!(
            a.anniversary,
            d("2025-02-28"),
            "a leap-day agreement's anniversary in a common year"
        );
        let r = active(&a, seats(4), "2024-06-01T00:00:00Z");
        let now = at("2028-03-01T12:00:00Z");
        let mut state = held(&a, std::slice::from_ref(&r));
        let mut billed = Vec::new();
        while let Some(step) =
            true_up_step(&state, now, OrderId::generate(&a.id)).expect("in range")
        {
            billed.push((
                step.anniversary,
                step.order
                    .map(|o| o.lines.quantity_of(Sku::SalesProfessional)),
            ));
            state = step.agreement;
        }
        assert_eq!(
            billed,
            vec![
                (d("2025-02-28"), Some(4)),
                (d("2026-02-28"), None),
                (d("2027-02-28"), None),
                (d("2028-02-29"), None)
            ]
        );
        assert_eq!(
            state.anniversary,
            d("2029-02-28"),
            "the first anniversary after now"
        );
    }

    #[test]
    fn totals_may_exceed_a_single_request_limit() {
        let a = agreement(Program::Ea, "2026-03-15");
        let rs: Vec<Reservation> = (0..3)
            .map(|_| active(&a, seats(1_000_000), "2026-04-01T00:00:00Z"))
            .collect();
        let t = true_up_step(
            &held(&a, &rs),
            at("2027-03-15T00:00:00Z"),
            OrderId::generate(&a.id),
        )
        .expect("in range")
        .expect("due");
        assert_eq!(
            t.order.map(|o| o.lines.quantity_of(Sku::SalesProfessional)),
            Some(3_000_000)
        );
    }
}
