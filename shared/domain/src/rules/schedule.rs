//! R2: the billing schedule. An agreement's anniversary falls on a month-day; a customer's
//! later agreements keep the month-day of its earliest one.

use chrono::NaiveDate;

pub use crate::types::MonthDay;

/// R2: the month-day an agreement follows — its customer's existing schedule if there is
/// one, otherwise its own start date's.
pub fn schedule_for(existing: Option<MonthDay>, start_date: NaiveDate) -> MonthDay {
    existing.unwrap_or_else(|| MonthDay::of(start_date))
}

/// R2: the next anniversary of an agreement starting on `start_date` on schedule `md`.
pub fn first_anniversary(md: MonthDay, start_date: NaiveDate) -> NaiveDate {
    md.next_after(start_date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn own_start_date_gives_next_year() {
        let start = d("2026-03-15");
        let md = schedule_for(None, start);
        assert_eq!(first_anniversary(md, start), d("2027-03-15"));
    }

    #[test]
    fn existing_customer_schedule_wins() {
        let md = schedule_for(Some(MonthDay { month: 3, day: 15 }), d("2026-06-01"));
        assert_eq!(md, MonthDay { month: 3, day: 15 });
        assert_eq!(first_anniversary(md, d("2026-06-01")), d("2027-03-15"));
        // A start before the month-day in the same year: the anniversary is that same year.
        assert_eq!(first_anniversary(md, d("2026-01-10")), d("2026-03-15"));
        // On the month-day itself: strictly after, so next year.
        assert_eq!(first_anniversary(md, d("2026-03-15")), d("2027-03-15"));
    }

    #[test]
    fn leap_day_falls_on_28_february_in_common_years() {
        let start = d("2024-02-29");
        let md = schedule_for(None, start);
        assert_eq!(first_anniversary(md, start), d("2025-02-28"));
        assert_eq!(md.next_after(d("2027-03-01")), d("2028-02-29"));
        assert_eq!(md.next_after(d("2025-02-28")), d("2026-02-28"));
    }

    #[test]
    fn year_end() {
        let md = MonthDay { month: 12, day: 31 };
        assert_eq!(md.next_after(d("2026-12-31")), d("2027-12-31"));
        assert_eq!(md.next_after(d("2026-12-30")), d("2026-12-31"));
    }
}
