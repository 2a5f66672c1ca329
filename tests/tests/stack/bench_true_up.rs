//! `make bench-true-up`: the true-up job over 2,000 agreements with 5 reservations each,
//! 500 and then 1,000 of them due, and over one agreement with 20,000, against the emulator.
//! Prints wall time and DynamoDB requests: they grow with the due agreements, not with all of
//! them. Figures, not a test.

use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use vls::store::Stored;
use vls::types::AccountId;
use vls_tests::{Harness, reads_writes, seeding};

const AGREEMENTS: usize = 2_000;
const RESERVATIONS_EACH: usize = 5;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("ts")
        .with_timezone(&Utc)
}

async fn seed(h: &Harness, due: usize) {
    let due_on = NaiveDate::from_ymd_opt(2027, 3, 15).expect("d");
    let later = NaiveDate::from_ymd_opt(2027, 9, 15).expect("d");
    let mut items = Vec::new();
    for i in 0..AGREEMENTS {
        let a = seeding::agreement(
            if i < due { due_on } else { later },
            Some(AccountId::generate()),
        );
        for _ in 0..RESERVATIONS_EACH {
            items.push(seeding::reservation(&a).item().expect("item"));
        }
        items.push(a.item().expect("item"));
    }
    seeding::write_all(h, &items).await;
}

async fn measure(due: usize) {
    let h = Harness::new().await;
    let t = Instant::now();
    seed(&h, due).await;
    let seeded = t.elapsed();
    h.ops.take();
    let now = at("2027-03-15T06:00:00Z");
    let t = Instant::now();
    let billed = h.run_true_up(now).await;
    let wall = t.elapsed();
    let ops = h.ops.take();
    let (reads, writes) = reads_writes(&ops);
    assert_eq!(billed.len(), due, "every due agreement billed once");
    let t = Instant::now();
    let again = h.run_true_up(now).await;
    let wall2 = t.elapsed();
    let (reads2, writes2) = reads_writes(&h.ops.take());
    assert!(again.is_empty());
    println!(
        "{AGREEMENTS:>6} agreements {due:>6} due | first run {:>7.2} s {reads:>6} reads \
         {writes:>6} writes ({:.2} requests per due agreement) | rerun {:>5.2} s {reads2:>3} \
         reads {writes2:>3} writes | seeding {:.1} s",
        wall.as_secs_f64(),
        (reads + writes) as f64 / due as f64,
        wall2.as_secs_f64(),
        seeded.as_secs_f64(),
    );
}

#[tokio::test]
#[ignore = "a benchmark: make bench-true-up"]
async fn true_up_requests_grow_with_due_agreements() {
    println!("true-up job, {RESERVATIONS_EACH} reservations per agreement, against the emulator");
    measure(500).await;
    measure(1_000).await;
}

/// One agreement with 20,000 reservations, all due: billed in one transaction of a few items,
/// its event a few hundred bytes (it counts the reservations rather than listing them).
#[tokio::test]
#[ignore = "a benchmark: make bench-true-up"]
async fn an_agreement_with_20_000_reservations_bills() {
    const MANY: usize = 20_000;
    let h = Harness::new().await;
    let due_on = NaiveDate::from_ymd_opt(2027, 3, 15).expect("d");
    let a = seeding::agreement(due_on, Some(AccountId::generate()));
    let mut items = vec![a.item().expect("item")];
    for _ in 0..MANY {
        items.push(seeding::reservation(&a).item().expect("item"));
    }
    let t = Instant::now();
    seeding::write_all(&h, &items).await;
    let seeded = t.elapsed();
    h.ops.take();
    let t = Instant::now();
    let billed = h.run_true_up(at("2027-03-15T06:00:00Z")).await;
    let wall = t.elapsed();
    let (reads, writes) = reads_writes(&h.ops.take());
    assert_eq!(billed.len(), 1);
    assert_eq!(billed[0].reservations, MANY);
    let trail = h.app.store.events(&a.id).await.expect("trail");
    let event = trail
        .iter()
        .find(|e| e.action == "true_up.billed")
        .expect("billed event");
    let bytes = serde_json::to_string(event).expect("json").len();
    assert_eq!(event.details["lines"][0]["quantity"], 2 * MANY as u64);
    println!(
        "1 agreement, {MANY} reservations due: billed in {:.2} s with {reads} reads and \
         {writes} write(s); the billed event is {bytes} bytes (seeding {:.1} s)",
        wall.as_secs_f64(),
        seeded.as_secs_f64()
    );
}
