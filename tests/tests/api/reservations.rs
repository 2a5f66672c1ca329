//! Reservations and the True-Up against the emulator (R12–R14).

use chrono::Duration;
use futures::future::join_all;
use serde_json::{Value, json};
use vls_tests::fixtures::*;
use vls_tests::*;

/// Billing support's tenancy: partner `p1`, the account Contoso and its admin.
type World = Tenancy;

async fn world() -> World {
    Tenancy::new().await
}

/// An agreement associated with the world's account from the start (it holds Office 365).
async fn associated(w: &World, program: &str, start: &str) -> String {
    w.associated(program, start).await
}

fn reservation(lines: Value) -> Value {
    json!({ "lines": lines })
}

fn seats(n: u64) -> Value {
    reservation(json!([{"sku": "d365-sales-professional", "quantity": n}]))
}

async fn pool_seats(w: &World) -> u64 {
    total(
        &w.h.get(&format!("/accounts/{}/licenses", w.account), &w.admin)
            .await
            .body,
        "d365-sales-professional",
    )
}

#[tokio::test]
async fn reserving_adds_to_the_pool_at_once_and_cancelling_takes_it_back() {
    let w = world().await;
    let h = &w.h;
    h.clock.set(at("2026-11-28T10:00:00Z"));
    let agr = associated(&w, "EA", "2026-03-15").await;
    let path = format!("/agreements/{agr}/reservations");

    let r = h.post(&path, &w.admin, &seats(10)).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(
        (r.body["status"].as_str(), r.body["billable_at"].as_str()),
        (Some("active"), Some("2027-03-15"))
    );
    let res = r.id();
    assert_eq!(pool_seats(&w).await, 10);
    let sources = h
        .get(
            &format!("/accounts/{}/licenses/sources", w.account),
            &w.admin,
        )
        .await;
    assert_eq!(
        sources.body["sources"][0],
        json!({"sku": "d365-sales-professional", "kind": "agreement", "id": agr, "quantity": 10}),
        "the reservation counts in its agreement's source"
    );

    let c = h
        .post(&format!("/reservations/{res}/cancel"), &w.admin, &json!({}))
        .await;
    assert_eq!(
        (c.status, c.body["status"].as_str()),
        (200, Some("cancelled")),
        "{}",
        c.raw
    );
    assert_eq!(pool_seats(&w).await, 0);
    let again = h
        .post(&format!("/reservations/{res}/cancel"), &w.admin, &json!({}))
        .await;
    assert_eq!(
        (again.status, again.body["code"].as_str()),
        (409, Some("reservation_not_active"))
    );
    let listed = h.get(&format!("{path}?status=cancelled"), &w.partner).await;
    assert_eq!(
        listed.body["reservations"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        h.get(&format!("{path}?status=active"), &w.bs).await.body["reservations"],
        json!([])
    );
    assert_eq!(
        h.get(&format!("{path}?status=nope"), &w.bs).await.status,
        422
    );

    // After 72 hours a reservation stays.
    let late = h.post(&path, &w.admin, &seats(3)).await.id();
    h.clock.advance(Duration::hours(72));
    let r = h
        .post(
            &format!("/reservations/{late}/cancel"),
            &w.admin,
            &json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("cancellation_window_passed"))
    );
    assert_eq!(pool_seats(&w).await, 3);

    // The trail records both, on the agreement and on the account.
    let trail = h.get(&format!("/agreements/{agr}/events"), &w.bs).await;
    assert_eq!(
        actions(&trail.body),
        [
            "agreement.created",
            "reservation.created",
            "reservation.cancelled",
            "reservation.created"
        ]
    );
}

#[tokio::test]
async fn who_may_reserve_and_when() {
    let w = world().await;
    let h = &w.h;
    h.clock.set(at("2026-11-28T10:00:00Z"));
    let agr = associated(&w, "EA", "2026-03-15").await;
    let path = format!("/agreements/{agr}/reservations");
    assert_eq!(
        h.post(&path, &w.partner, &seats(1)).await.status,
        403,
        "a partner cannot reserve"
    );
    assert_eq!(h.post(&path, &w.bs, &seats(1)).await.status, 403);
    let other = h
        .post("/accounts", &w.bs, &account_body("Other"))
        .await
        .id();
    assert_eq!(
        h.post(&path, &admin(&other), &seats(1)).await.status,
        404,
        "not associated with the caller's account"
    );
    let unassociated = h
        .post(
            "/agreements",
            &w.partner,
            &agreement_body("9", "2026-03-15"),
        )
        .await
        .id();
    assert_eq!(
        h.post(
            &format!("/agreements/{unassociated}/reservations"),
            &w.admin,
            &seats(1)
        )
        .await
        .status,
        404
    );

    let casa = associated(&w, "CASA", "2026-03-15").await;
    let r = h
        .post(
            &format!("/agreements/{casa}/reservations"),
            &w.admin,
            &seats(1),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("program_not_eligible"))
    );
    let eas = associated(&w, "EAS", "2026-03-15").await;
    assert_eq!(
        h.post(
            &format!("/agreements/{eas}/reservations"),
            &w.admin,
            &seats(1)
        )
        .await
        .status,
        201
    );

    let r = h
        .post(
            &path,
            &w.admin,
            &reservation(json!([{"sku": "d365-sales-professional", "quantity": 0}])),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("invalid_quantity"))
    );

    h.clock.set(at("2027-02-13T00:00:00Z"));
    let r = h.post(&path, &w.admin, &seats(1)).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("reservation_window_closed"))
    );
}

#[tokio::test]
async fn the_anniversary_bills_one_true_up_order_exactly_once() {
    let w = world().await;
    let h = &w.h;
    h.clock.set(at("2026-11-28T10:00:00Z"));
    let agr = associated(&w, "EA", "2026-03-15").await;
    let path = format!("/agreements/{agr}/reservations");
    let both = reservation(json!([
        {"sku": "d365-sales-professional", "quantity": 5},
        {"sku": "d365-additional-storage-gb", "quantity": 20},
    ]));
    let kept = h.post(&path, &w.admin, &both).await.id();
    let dropped = h.post(&path, &w.admin, &seats(100)).await.id();
    h.post(
        &format!("/reservations/{dropped}/cancel"),
        &w.admin,
        &json!({}),
    )
    .await;

    let preview = h
        .get(&format!("/agreements/{agr}/true-up-preview"), &w.partner)
        .await;
    assert_eq!(preview.status, 200, "{}", preview.raw);
    assert_eq!(preview.body["anniversary"], "2027-03-15");
    assert_eq!(
        preview.body["lines"],
        json!([{"sku": "d365-sales-professional", "quantity": 5},
               {"sku": "d365-additional-storage-gb", "quantity": 20}])
    );
    assert_eq!(
        preview.body["reservations"], 1,
        "{kept} alone: the other was cancelled"
    );

    assert!(
        h.run_true_up(at("2027-03-14T06:00:00Z")).await.is_empty(),
        "not before the anniversary"
    );
    let billed = h.run_true_up(at("2027-03-15T06:00:00Z")).await;
    assert_eq!(billed.len(), 1, "{billed:?}");
    assert_eq!(billed[0].reservations, 1);
    assert!(
        h.run_true_up(at("2027-03-15T18:00:00Z")).await.is_empty(),
        "again the same day: nothing"
    );
    assert!(
        h.run_true_up(at("2027-03-17T06:00:00Z")).await.is_empty(),
        "two days later: nothing"
    );

    let orders = h
        .get(&format!("/agreements/{agr}/orders"), &w.partner)
        .await;
    let true_ups = true_up_orders(&orders.body);
    assert_eq!(true_ups.len(), 1);
    assert_eq!(true_ups[0]["status"], "invoiced");
    assert_eq!(
        true_ups[0]["lines"],
        json!([{"sku": "d365-sales-professional", "quantity": 5},
               {"sku": "d365-additional-storage-gb", "quantity": 20}])
    );
    // Billed reservations stay in the pool; the true-up order never joins it.
    let pool = h
        .get(&format!("/accounts/{}/licenses", w.account), &w.admin)
        .await;
    assert_eq!(total(&pool.body, "d365-sales-professional"), 5);
    assert_eq!(total(&pool.body, "d365-additional-storage-gb"), 20);
    let r = h.get(&format!("{path}?status=billed"), &w.admin).await;
    assert_eq!(
        r.body["reservations"]
            .as_array()
            .map(|a| a.iter().map(|r| r["id"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(kept)])
    );
    let a = h.get(&format!("/agreements/{agr}"), &w.bs).await;
    assert_eq!(a.body["anniversary"], "2028-03-15");
    let trail = h.get(&format!("/agreements/{agr}/events"), &w.bs).await;
    assert_eq!(
        actions(&trail.body)
            .iter()
            .filter(|a| **a == "true_up.billed")
            .count(),
        1
    );
    assert_eq!(
        h.get(&format!("/agreements/{agr}/true-up-preview"), &w.admin)
            .await
            .body["lines"],
        json!([])
    );
}

#[tokio::test]
async fn concurrent_runs_bill_once() {
    let w = world().await;
    let h = &w.h;
    h.clock.set(at("2026-11-28T10:00:00Z"));
    let agr = associated(&w, "EA", "2026-03-15").await;
    h.post(
        &format!("/agreements/{agr}/reservations"),
        &w.admin,
        &seats(5),
    )
    .await;
    let runs = join_all((0..4).map(|_| h.run_true_up(at("2027-03-15T06:00:00Z")))).await;
    assert_eq!(runs.iter().map(Vec::len).sum::<usize>(), 1, "{runs:?}");
    let orders = h
        .get(&format!("/agreements/{agr}/orders"), &w.partner)
        .await;
    assert_eq!(orders.body["orders"].as_array().map(Vec::len), Some(1));
}

/// The function as Lambda invokes it: the schedule's event enqueues, an SQS batch bills and
/// answers with the messages that failed. The same message delivered twice in one batch and
/// then the whole batch again (SQS delivers at least once) bill the anniversary once.
#[tokio::test]
async fn the_function_enqueues_on_schedule_and_a_redelivered_message_bills_nothing() {
    let w = world().await;
    let h = &w.h;
    h.clock.set(at("2026-11-28T10:00:00Z"));
    let agr = associated(&w, "EA", "2026-03-15").await;
    let path = format!("/agreements/{agr}/reservations");
    assert_eq!(h.post(&path, &w.admin, &seats(5)).await.status, 201);
    let schedule = json!({"detail-type": "Scheduled Event", "source": "aws.scheduler",
                          "time": "2027-03-15T06:00:00Z", "detail": {}});
    let planned = true_up::handle(&h.true_up, "schedule", schedule)
        .await
        .expect("run");
    let planned = serde_json::to_value(planned).expect("an answer");
    assert_eq!(planned["enqueued"], 1, "{planned}");
    let got = h
        .sqs
        .receive_message()
        .queue_url(h.true_up.queue.url())
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(got.len(), 1);
    let body = got[0].body.clone().unwrap_or_default();
    assert!(body.contains(&agr), "{body}");
    let record = |id: &str, body: &str| {
        json!({"messageId": id, "receiptHandle": "r", "body": body, "eventSource": "aws:sqs",
               "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "attributes": {}})
    };
    let batch = json!({"Records": [record("m1", &body), record("m2", &body),
                                   record("m3", "{\"agreement_id\": 7}")]});
    let true_ups = async || {
        let orders = h
            .get(&format!("/agreements/{agr}/orders"), &w.partner)
            .await;
        true_up_orders(&orders.body).len()
    };
    for round in 0..2 {
        let out = true_up::handle(&h.true_up, "worker", batch.clone())
            .await
            .expect("batch");
        let out = serde_json::to_value(out).expect("an answer");
        assert_eq!(
            out,
            json!({"batchItemFailures": [{"itemIdentifier": "m3"}]}),
            "round {round}: only the garbage is offered again"
        );
        assert_eq!(true_ups().await, 1, "round {round}: billed once");
    }
}

#[tokio::test]
async fn missed_years_are_billed_one_anniversary_at_a_time_oldest_first() {
    let w = world().await;
    let h = &w.h;
    h.clock.set(at("2023-06-01T10:00:00Z"));
    let agr = associated(&w, "EAS", "2023-05-01").await;
    assert_eq!(
        h.post(
            &format!("/agreements/{agr}/reservations"),
            &w.admin,
            &seats(7)
        )
        .await
        .status,
        201
    );
    h.clock.set(at("2026-11-28T10:00:00Z"));
    let billed = h.run_true_up(at("2026-11-28T06:00:00Z")).await;
    let anniversaries: Vec<String> = billed.iter().map(|b| b.anniversary.to_string()).collect();
    assert_eq!(anniversaries, ["2024-05-01", "2025-05-01", "2026-05-01"]);
    assert!(
        billed[0].order_id.is_some()
            && billed[1].order_id.is_none()
            && billed[2].order_id.is_none()
    );
    let a = h.get(&format!("/agreements/{agr}"), &w.bs).await;
    assert_eq!(a.body["anniversary"], "2027-05-01");
}

#[tokio::test]
async fn two_hundred_fifty_reservations_are_billed_completely_in_one_order() {
    let w = world().await;
    let h = &w.h;
    h.clock.set(at("2026-11-28T10:00:00Z"));
    let agr = associated(&w, "EA", "2026-03-15").await;
    let path = format!("/agreements/{agr}/reservations");
    let two = seats(2);
    // Two at a time: reservations on one agreement commit one after another (each moves the
    // agreement's version on), so a wider burst only adds retries.
    for _ in 0..125 {
        let rs = join_all((0..2).map(|_| h.post(&path, &w.admin, &two))).await;
        assert!(
            rs.iter().all(|r| r.status == 201),
            "{:?}",
            rs.iter().find(|r| r.status != 201).map(|r| &r.raw)
        );
    }
    assert_eq!(pool_seats(&w).await, 500);
    let billed = h.run_true_up(at("2027-03-15T06:00:00Z")).await;
    assert_eq!((billed.len(), billed[0].reservations), (1, 250));
    assert!(h.run_true_up(at("2027-03-16T06:00:00Z")).await.is_empty());
    let orders = h
        .get(&format!("/agreements/{agr}/orders"), &w.partner)
        .await;
    assert_eq!(
        orders.body["orders"][0]["lines"],
        json!([{"sku": "d365-sales-professional", "quantity": 500}])
    );
    let billed_list = h
        .walk(
            &format!("{path}?status=billed"),
            &w.admin,
            "reservations",
            100,
        )
        .await;
    assert_eq!(billed_list.len(), 250);
    assert_eq!(
        pool_seats(&w).await,
        500,
        "billed reservations stay in the pool"
    );
}
