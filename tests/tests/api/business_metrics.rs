//! The business metrics as the functions count them, through a recorder of the test's own
//! (installed for this thread: the test runs on one): a change counts once, when its
//! transaction is committed — not once per attempt when it loses a race, and not again when
//! its request is replayed.

use futures::future::join_all;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use vls_domain::metrics::Metric;
use vls_tests::*;

/// A counter's name and labels.
type Id = (String, Vec<(String, String)>);

/// Counters by name and labels, as the functions registered them.
#[derive(Default)]
struct Tally(Mutex<HashMap<Id, Arc<AtomicU64>>>);

impl Tally {
    fn of(&self, m: Metric) -> u64 {
        let (key, value) = m.dimension();
        let id = (
            m.name().to_owned(),
            vec![(key.to_owned(), value.to_owned())],
        );
        let counters = self.0.lock().expect("tally");
        counters.get(&id).map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

impl Recorder for Tally {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        let id = (key.name().to_owned(), labels);
        let mut counters = self.0.lock().expect("tally");
        Counter::from_arc(counters.entry(id).or_default().clone())
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// The default test runtime runs every request of the test on this thread.
#[tokio::test]
async fn a_change_counts_once_when_committed_however_many_attempts_and_replays() {
    let tally = Tally::default();
    let _installed = metrics::set_default_local_recorder(&tally);
    let t = Tenancy::new().await;
    let h = &t.h;
    h.clock.set(at("2026-11-28T10:00:00Z"));
    let agr = t.associated("EA", "2026-03-15").await;
    let (admin, path) = (t.admin.as_str(), format!("/agreements/{agr}/reservations"));
    let seats = json!({"lines": [{"sku": "d365-sales-professional", "quantity": 2}]});

    // Four at once on one agreement: each reads the same version, one commits per round and
    // the others lose the race and try again on fresh state.
    let made = join_all((0..4).map(|_| h.post(&path, admin, &seats))).await;
    assert!(made.iter().all(|r| r.status == 201), "{made:?}");
    assert_eq!(tally.of(Metric::ReservationMade), 4);
    assert!(
        tally.of(Metric::ConflictRetried) >= 3,
        "three lost the first round"
    );
    assert_eq!(tally.of(Metric::ConflictExhausted), 0);

    // The same request twice under one key: one reservation, one replay.
    let body = seats.to_string();
    let keyed = || h.call("POST", &path, Some(admin), Some(&body), Some("k-1"));
    let (first, again) = (keyed().await, keyed().await);
    assert_eq!((first.status, again.replayed), (201, true), "{}", again.raw);
    assert_eq!(tally.of(Metric::ReservationMade), 5);
    assert_eq!(tally.of(Metric::Replayed), 1);

    // A cancellation counts; a refused one (no longer active) counts nothing.
    let cancel = format!("/reservations/{}/cancel", first.id());
    assert_eq!(h.post(&cancel, admin, &json!({})).await.status, 200);
    assert_eq!(h.post(&cancel, admin, &json!({})).await.status, 409);
    assert_eq!(tally.of(Metric::ReservationCancelled), 1);
    assert_eq!(tally.of(Metric::ReservationCancelRefused), 0);
}

/// The webhook functions count what they did: events sequenced (late when the sweep found
/// them five minutes on), each attempt's outcome, a delivery cancelled unsent, and an endpoint
/// disabled by its receiver.
#[tokio::test]
async fn events_and_deliveries_count_by_outcome() {
    use vls_tests::receiver::{Answer, Receiver};
    let tally = Tally::default();
    let _installed = metrics::set_default_local_recorder(&tally);
    let t = Tenancy::new().await;
    let h = &t.h;
    let hook = |url: String| {
        let (h, partner) = (&t.h, &t.partner);
        async move {
            let body = json!({"url": url, "enabled_events": ["*"]});
            let r = h.post("/webhook-endpoints", partner, &body).await;
            assert_eq!(r.status, 201, "{}", r.raw);
            r.id()
        }
    };
    let failing = Receiver::start(vec![Answer::Status(500), Answer::Status(410)]).await;
    hook(failing.url()).await;
    t.associated("EA", "2026-03-15").await;
    h.dispatch().await;
    assert_eq!(tally.of(Metric::EventSequenced), 1);
    h.send_webhooks().await;
    h.send_webhooks().await;
    assert_eq!(
        (
            tally.of(Metric::DeliveryRetried),
            tally.of(Metric::DeliveryFailed),
            tally.of(Metric::EndpointDisabled)
        ),
        (1, 1, 1),
        "a 500, then a 410 that disables the endpoint"
    );
    let fine = Receiver::start(vec![]).await;
    let second = hook(fine.url()).await;
    t.associated("EA", "2026-03-15").await;
    // Found by the sweep six minutes on: late.
    h.clock.advance(chrono::Duration::minutes(6));
    h.dispatch().await;
    assert_eq!(tally.of(Metric::EventSequenced), 2);
    assert_eq!(tally.of(Metric::EventSequencedLate), 1);
    h.send_webhooks().await;
    assert_eq!(tally.of(Metric::DeliverySucceeded), 1);
    t.associated("EA", "2026-03-15").await;
    h.dispatch().await;
    let off = format!("/webhook-endpoints/{second}/disable");
    assert_eq!(h.post(&off, &t.partner, &json!({})).await.status, 200);
    h.send_webhooks().await;
    assert_eq!(tally.of(Metric::DeliveryCancelled), 1);
    assert_eq!(
        tally.of(Metric::EndpointDisabled),
        1,
        "the partner's own disable is not one"
    );
}
