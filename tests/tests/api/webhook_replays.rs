//! Sending an endpoint what it did not get (SPEC §6.5): a test event to one endpoint alone, a
//! delivery made again with its event's id, and a replay of the partner's events after a
//! sequence — each missed event delivered once, one replay at a time, none past retention.

use serde_json::{Value, json};
use vls_tests::receiver::{Answer, Receiver};
use vls_tests::*;

/// An endpoint of the partner's at `receiver` for every type; its id and secret.
async fn subscribed(w: &Tenancy, receiver: &Receiver) -> (String, String) {
    let body = json!({"url": receiver.url(), "enabled_events": ["*"]});
    let r = w.h.post("/webhook-endpoints", &w.partner, &body).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let secret = r.body["secret"].as_str().expect("secret").to_owned();
    (r.id(), secret)
}

async fn deliveries(w: &Tenancy, endpoint: &str) -> Vec<Value> {
    let path = format!("/webhook-endpoints/{endpoint}/deliveries");
    w.h.walk(&path, &w.partner, "deliveries", 10).await
}

fn header<'a>(r: &'a vls_tests::receiver::Received, name: &str) -> &'a str {
    r.headers.get(name).map_or("", String::as_str)
}

fn body_of(r: &vls_tests::receiver::Received) -> Value {
    serde_json::from_slice(&r.body).expect("a json body")
}

#[tokio::test]
async fn a_test_event_goes_to_its_endpoint_alone_five_a_minute() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let (here, elsewhere) = (Receiver::start(vec![]).await, Receiver::start(vec![]).await);
    let (endpoint, secret) = subscribed(&w, &here).await;
    subscribed(&w, &elsewhere).await;
    let path = format!("/webhook-endpoints/{endpoint}/test");
    let mut made = Vec::new();
    for _ in 0..5 {
        let r = h.post(&path, &w.partner, &json!({})).await;
        assert_eq!(r.status, 202, "{}", r.raw);
        made.push((r.body["event_id"].clone(), r.body["delivery_id"].clone()));
    }
    let refused = h.post(&path, &w.partner, &json!({})).await;
    assert_problem(&refused, 429, "rate_limited");
    let wait = refused.body["retry_after_seconds"]
        .as_u64()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(refused.headers.get("retry-after"), Some(&wait.to_string()));
    h.dispatch().await;
    h.send_webhooks().await;
    let got = here.received();
    assert_eq!(got.len(), 5);
    assert!(elsewhere.received().is_empty(), "to that endpoint alone");
    let mut received: Vec<&str> = got.iter().map(|r| header(r, "webhook-id")).collect();
    let mut sent: Vec<&str> = made.iter().filter_map(|(e, _)| e.as_str()).collect();
    received.sort();
    sent.sort();
    assert_eq!(received, sent, "each test event once (in any order)");
    for r in &got {
        let body = body_of(r);
        let event_id = &json!(header(r, "webhook-id"));
        assert_eq!(
            (
                &body["id"],
                &body["type"],
                &body["sequence"],
                &body["agreement_id"]
            ),
            (event_id, &json!("webhook.test"), &Value::Null, &Value::Null)
        );
        assert_eq!(body["data"]["object"], json!({"endpoint_id": endpoint}));
        let (id, ts) = (header(r, "webhook-id"), header(r, "webhook-timestamp"));
        let ts: i64 = ts.parse().expect("timestamp");
        let signed = vls_domain::webhooks::signature(&secret, id, ts, &r.body).expect("signs");
        assert_eq!(header(r, "webhook-signature"), signed);
    }
    let listed = deliveries(&w, &endpoint).await;
    let ids: Vec<&Value> = listed.iter().map(|d| &d["id"]).collect();
    let want: Vec<&Value> = made.iter().map(|(_, d)| d).collect();
    assert_eq!(ids, want);
    assert!(
        listed
            .iter()
            .all(|d| d["type"] == "webhook.test" && d["sequence"].is_null())
    );
    assert!(
        h.walk("/events", &w.partner, "events", 10).await.is_empty(),
        "never listed"
    );
    let first = made[0].0.as_str().expect("id");
    let one = h.get(&format!("/events/{first}"), &w.partner).await;
    assert_problem(&one, 404, "not_found");
    h.clock.advance(chrono::Duration::seconds(60));
    assert_eq!(
        h.post(&path, &w.partner, &json!({})).await.status,
        202,
        "the next minute"
    );
    let other = h.post(&path, &partner("p2"), &json!({})).await;
    assert_problem(&other, 404, "not_found");
}

/// A receiver answering `answers` (then 200), the partner's endpoint at it, and one event
/// sequenced (an agreement made bound), its delivery made.
async fn one_event(w: &Tenancy, answers: Vec<Answer>) -> (Receiver, String) {
    let receiver = Receiver::start(answers).await;
    let (endpoint, _) = subscribed(w, &receiver).await;
    w.associated("EA", "2026-03-15").await;
    w.h.dispatch().await;
    (receiver, endpoint)
}

#[tokio::test]
async fn a_delivery_made_again_sends_the_same_event() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let (receiver, endpoint) = one_event(&w, vec![]).await;
    h.send_webhooks().await;
    let first = deliveries(&w, &endpoint).await[0].clone();
    assert_eq!(first["status"], "succeeded");
    let path = |d: &Value| {
        let id = d["id"].as_str().expect("id");
        format!("/webhook-endpoints/{endpoint}/deliveries/{id}/redeliver")
    };
    let again = h.post(&path(&first), &w.partner, &json!({})).await;
    assert_eq!(again.status, 202, "{}", again.raw);
    assert_ne!(again.body["id"], first["id"]);
    assert_eq!(
        (
            &again.body["event_id"],
            &again.body["status"],
            &again.body["attempts"]
        ),
        (&first["event_id"], &json!("pending"), &json!([]))
    );
    h.send_webhooks().await;
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(header(&got[1], "webhook-id"), header(&got[0], "webhook-id"));
    assert_eq!(got[1].body, got[0].body, "the same bytes");
    let listed = deliveries(&w, &endpoint).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1]["status"], "succeeded");
    let unknown = json!({"id": "dlv_01JFQC2D3E4F5G6H7J8K9M0N1P"});
    assert_problem(
        &h.post(&path(&unknown), &w.partner, &json!({})).await,
        404,
        "not_found",
    );
    let malformed = json!({"id": "dlv_x"});
    assert_problem(
        &h.post(&path(&malformed), &w.partner, &json!({})).await,
        404,
        "not_found",
    );
    let theirs = h.post(&path(&first), &partner("p2"), &json!({})).await;
    assert_problem(&theirs, 404, "not_found");
}

#[tokio::test]
async fn enable_and_replay_deliver_each_missed_event_once() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let receiver = Receiver::start(vec![Answer::Status(410)]).await;
    let (endpoint, _) = subscribed(&w, &receiver).await;
    let agr = w.associated("EA", "2026-03-15").await;
    h.dispatch().await;
    h.send_webhooks().await;
    let shown = h
        .get(&format!("/webhook-endpoints/{endpoint}"), &w.partner)
        .await;
    assert_eq!(shown.body["disabled_reason"], "gone");
    // Missed while disabled: three events.
    for name in ["Ann", "Bo", "Cy"] {
        let osm = json!({"name": name, "email": format!("{name}@contoso.com")});
        let r = h
            .put(&format!("/agreements/{agr}/osm"), &w.partner, &osm)
            .await;
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    h.dispatch().await;
    assert_eq!(
        deliveries(&w, &endpoint).await.len(),
        1,
        "none while disabled"
    );
    let replay = format!("/webhook-endpoints/{endpoint}/replay");
    // Asked while disabled, a replay waits for the endpoint to be enabled.
    let r = h
        .post(&replay, &w.partner, &json!({"after_sequence": 1}))
        .await;
    assert_eq!(r.status, 202, "{}", r.raw);
    assert_eq!(r.body["through_sequence"], 4);
    assert!(
        r.body["replay_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("rpl_"))
    );
    let busy = h
        .post(&replay, &w.partner, &json!({"after_sequence": 0}))
        .await;
    assert_problem(&busy, 409, "replay_in_progress");
    h.dispatch().await;
    assert_eq!(deliveries(&w, &endpoint).await.len(), 1, "it waits");
    let on = format!("/webhook-endpoints/{endpoint}/enable");
    assert_eq!(h.post(&on, &w.partner, &json!({})).await.status, 200);
    h.dispatch().await;
    h.send_webhooks().await;
    let listed = h.walk("/events", &w.partner, "events", 10).await;
    // Delivery order is not guaranteed (SPEC §6.3): by sequence, each missed event once.
    let mut got: Vec<Value> = receiver.received()[1..].iter().map(body_of).collect();
    got.sort_by_key(|b| b["sequence"].as_u64());
    assert_eq!(
        got,
        listed[1..].to_vec(),
        "each missed event once, as listed"
    );
    // Done: another replay is taken, of the types asked only.
    let only = json!({"after_sequence": 0, "types": ["agreement.associated"]});
    let r = h.post(&replay, &w.partner, &only).await;
    assert_eq!(r.status, 202, "{}", r.raw);
    h.dispatch().await;
    h.send_webhooks().await;
    let last = body_of(receiver.received().last().expect("one more"));
    assert_eq!(
        (receiver.received().len(), &last["id"]),
        (5, &listed[0]["id"])
    );
}

#[tokio::test]
async fn a_replay_is_refused_past_retention_and_for_bad_input() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let (_receiver, endpoint) = one_event(&w, vec![]).await;
    let replay = format!("/webhook-endpoints/{endpoint}/replay");
    for (body, code) in [
        (json!({}), "missing_field"),
        (json!({"after_sequence": -1}), "invalid_field"),
        (json!({"after_sequence": 0, "types": "x"}), "invalid_type"),
        (
            json!({"after_sequence": 0, "types": ["webhook.test"]}),
            "invalid_field",
        ),
    ] {
        assert_problem(&h.post(&replay, &w.partner, &body).await, 422, code);
    }
    let raw = h
        .call("POST", &replay, Some(&w.partner), Some("{"), None)
        .await;
    assert_problem(&raw, 400, "malformed_json");
    let theirs = h
        .post(&replay, &partner("p2"), &json!({"after_sequence": 0}))
        .await;
    assert_problem(&theirs, 404, "not_found");
    h.clock.advance(chrono::Duration::days(91));
    let gone = h
        .post(&replay, &w.partner, &json!({"after_sequence": 0}))
        .await;
    assert_problem(&gone, 410, "events_expired");
    assert_eq!(gone.body["oldest_sequence"], Value::Null);
}
