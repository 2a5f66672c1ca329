//! Deliveries (SPEC §6.6–6.7) in-process against the emulator, to real HTTP receivers on the
//! loopback ports set aside for them: signed as Standard Webhooks v1 with every live secret,
//! `webhook-id` the event's id, the same bytes on every attempt, the retry schedule and
//! `Retry-After`, a redirect never followed, a 410 disabling the endpoint, an endpoint that
//! stalls never delaying another.

use std::time::Duration;

use serde_json::{Value, json};
use vls_tests::receiver;
use vls_tests::receiver::{Answer, Receiver};
use vls_tests::*;

/// A partner (`p1`) with an endpoint at `receiver` for every type; its secret.
async fn subscribed(w: &Tenancy, receiver: &Receiver) -> (String, String) {
    let body = json!({"url": receiver.url(), "enabled_events": ["*"]});
    let r = w.h.post("/webhook-endpoints", &w.partner, &body).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    (
        r.id(),
        r.body["secret"].as_str().expect("secret").to_owned(),
    )
}

/// One event the partner hears of: an agreement made bound to the account.
async fn an_event(w: &Tenancy) -> String {
    w.associated("EA", "2026-03-15").await
}

fn header<'a>(r: &'a receiver::Received, name: &str) -> &'a str {
    r.headers.get(name).map_or("", String::as_str)
}

/// `signature` holds one signature of the request made with `secret`.
fn verifies(r: &receiver::Received, secret: &str) -> bool {
    let (id, ts) = (header(r, "webhook-id"), header(r, "webhook-timestamp"));
    let ts: i64 = ts.parse().expect("a timestamp");
    let want = vls_domain::webhooks::signature(secret, id, ts, &r.body).expect("signature");
    header(r, "webhook-signature").split(' ').any(|s| s == want)
}

async fn deliveries(w: &Tenancy, endpoint: &str) -> Vec<Value> {
    let path = format!("/webhook-endpoints/{endpoint}/deliveries");
    w.h.walk(&path, &w.partner, "deliveries", 10).await
}

#[tokio::test]
async fn a_delivery_is_signed_and_every_attempt_sends_the_event_s_bytes() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let stall = Answer::Stall(Duration::from_secs(20));
    let answers = vec![Answer::Status(500), Answer::Status(500), stall];
    let receiver = Receiver::start(answers).await;
    let (endpoint, secret) = subscribed(&w, &receiver).await;
    an_event(&w).await;
    h.dispatch().await;
    h.send_webhooks().await;
    h.send_webhooks().await;
    // The third attempt is due 5 s after the second, the fourth 5 min after the third.
    h.clock.advance(chrono::Duration::seconds(6));
    h.send_webhooks().await;
    h.clock.advance(chrono::Duration::seconds(331));
    h.send_webhooks().await;
    let got = receiver.received();
    assert_eq!(
        got.len(),
        4,
        "two failures, a stall past the attempt's 15 s, then 200"
    );
    let events = h.walk("/events", &w.partner, "events", 10).await;
    let event_id = events[0]["id"].as_str().expect("id");
    for r in &got {
        assert_eq!(header(r, "webhook-id"), event_id);
        assert_eq!(r.body, got[0].body, "the same bytes on every attempt");
        assert!(verifies(r, &secret), "signed with the endpoint's secret");
        assert_eq!(header(r, "content-type"), "application/json");
    }
    let body: Value = serde_json::from_slice(&got[0].body).expect("json");
    assert_eq!(body, events[0], "the body is the event as listed");
    let d = &deliveries(&w, &endpoint).await[0];
    assert_eq!(d["status"], "succeeded");
    let codes: Vec<&Value> = d["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| &a["status_code"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(500), &Value::Null, &json!(200)]);
    assert_eq!(d["attempts"][2]["error"], "timed out after 15 s");
    assert_eq!(h.send_webhooks().await.len(), 0, "nothing more is due");
}

#[tokio::test]
async fn retry_after_is_honoured_and_a_redirect_is_never_followed() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let elsewhere = Receiver::start(vec![]).await;
    let receiver = Receiver::start(vec![
        Answer::RetryAfter(503, 3),
        Answer::Redirect(elsewhere.url()),
    ])
    .await;
    let (endpoint, _) = subscribed(&w, &receiver).await;
    an_event(&w).await;
    h.dispatch().await;
    h.send_webhooks().await;
    h.clock.advance(chrono::Duration::seconds(2));
    h.send_webhooks().await;
    assert_eq!(receiver.received().len(), 1, "Retry-After: 3 holds for 3 s");
    h.clock.advance(chrono::Duration::seconds(2));
    h.send_webhooks().await;
    assert_eq!(receiver.received().len(), 2);
    assert!(
        elsewhere.received().is_empty(),
        "the redirect was not followed"
    );
    let d = &deliveries(&w, &endpoint).await[0];
    assert_eq!(d["status"], "pending", "a 302 is a failure");
    assert_eq!(d["attempts"][1]["status_code"], 302);
}

#[tokio::test]
async fn a_410_disables_the_endpoint() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let receiver = Receiver::start(vec![Answer::Status(410), Answer::Status(410)]).await;
    let (endpoint, _) = subscribed(&w, &receiver).await;
    an_event(&w).await;
    an_event(&w).await;
    h.dispatch().await;
    let outcomes = h.send_webhooks().await;
    let failed = outcomes.get(&webhook_sender::Outcome::Failed);
    assert_eq!(failed, Some(&2), "{outcomes:?}");
    let e = h
        .get(&format!("/webhook-endpoints/{endpoint}"), &w.partner)
        .await;
    assert_eq!(
        (&e.body["status"], &e.body["disabled_reason"]),
        (&json!("disabled"), &json!("gone")),
        "{}",
        e.raw
    );
    let trail = h
        .walk("/partners/p1/events", &w.partner, "events", 10)
        .await;
    let disabled: Vec<&Value> = trail
        .iter()
        .filter(|e| e["action"] == "webhook_endpoint.disabled")
        .collect();
    assert_eq!(disabled.len(), 1, "disabled once: {trail:?}");
    assert_eq!(disabled[0]["details"]["reason"], "gone");
    an_event(&w).await;
    h.dispatch().await;
    let made = deliveries(&w, &endpoint).await.len();
    assert_eq!(made, 2, "none for a disabled endpoint");
}

/// Five days without a successful attempt disable the endpoint (`failing`), once; enabling it
/// starts the count again.
#[tokio::test]
async fn five_days_without_a_success_disable_the_endpoint() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let receiver = Receiver::start((0..100).map(|_| Answer::Status(500)).collect()).await;
    let (endpoint, _) = subscribed(&w, &receiver).await;
    let shown = |r: Resp| (r.body["status"].clone(), r.body["disabled_reason"].clone());
    let path = format!("/webhook-endpoints/{endpoint}");
    an_event(&w).await;
    h.dispatch().await;
    h.send_webhooks().await;
    // Four days on, its retries failed all along: still enabled.
    for _ in 0..8 {
        h.clock.advance(chrono::Duration::hours(12));
        h.send_webhooks().await;
    }
    let still = shown(h.get(&path, &w.partner).await);
    assert_eq!(still, (json!("enabled"), Value::Null));
    // A day later another event, whose attempt fails too: five days without a success.
    h.clock.advance(chrono::Duration::days(1));
    an_event(&w).await;
    h.dispatch().await;
    h.send_webhooks().await;
    let off = shown(h.get(&path, &w.partner).await);
    assert_eq!(off, (json!("disabled"), json!("failing")));
    let trail = h
        .walk("/partners/p1/events", &w.partner, "events", 10)
        .await;
    let disabled: Vec<&Value> = trail
        .iter()
        .filter(|e| e["action"] == "webhook_endpoint.disabled")
        .collect();
    assert_eq!(disabled.len(), 1, "disabled once: {trail:?}");
    assert_eq!(disabled[0]["details"]["reason"], "failing");
    // Enabled, the count starts again: a failure four days on leaves it enabled.
    let on = format!("{path}/enable");
    assert_eq!(h.post(&on, &w.partner, &json!({})).await.status, 200);
    an_event(&w).await;
    h.dispatch().await;
    h.send_webhooks().await;
    h.clock.advance(chrono::Duration::days(4));
    an_event(&w).await;
    h.dispatch().await;
    h.send_webhooks().await;
    let again = shown(h.get(&path, &w.partner).await);
    assert_eq!(again, (json!("enabled"), Value::Null));
}

/// A sender that dies between the receiver's 2xx and its record (here the record's write
/// fails, as if the sender had been killed) leaves the delivery leased: when the lease ends,
/// that event alone is sent again, with its id; every other event is received once.
#[tokio::test]
async fn a_sender_lost_after_a_2xx_repeats_only_that_event() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let receiver = Receiver::start(vec![]).await;
    let (endpoint, _) = subscribed(&w, &receiver).await;
    an_event(&w).await;
    h.dispatch().await;
    // The lease goes through; the record after the 2xx does not.
    h.faults.fail_writes_after(1, 1);
    h.send_webhooks().await;
    assert_eq!(receiver.received().len(), 1);
    let d = &deliveries(&w, &endpoint).await[0];
    assert_eq!(
        (&d["status"], &d["attempts"]),
        (&json!("pending"), &json!([]))
    );
    an_event(&w).await;
    an_event(&w).await;
    h.dispatch().await;
    h.send_webhooks().await;
    assert_eq!(
        receiver.received().len(),
        3,
        "the leased one waits for its lease"
    );
    h.clock.advance(chrono::Duration::seconds(61));
    h.send_webhooks().await;
    let got = receiver.received();
    let ids: Vec<&str> = got.iter().map(|r| header(r, "webhook-id")).collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids[3], ids[0], "the unrecorded one again, with its id");
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let events = h.walk("/events", &w.partner, "events", 10).await;
    assert_eq!(
        distinct.len(),
        events.len(),
        "distinct ids received = events"
    );
    let all = deliveries(&w, &endpoint).await;
    assert!(all.iter().all(|d| d["status"] == "succeeded"), "{all:?}");
    assert_eq!(all[0]["attempts"].as_array().map(Vec::len), Some(1));
    assert_eq!(h.send_webhooks().await.len(), 0, "nothing more is due");
}

/// Every pending delivery of `endpoint` attempted when due, the clock moved to each next
/// attempt, until none is pending (the schedule gives up after about three days).
async fn until_given_up(w: &Tenancy, endpoint: &str) {
    for _ in 0..40 {
        w.h.send_webhooks().await;
        let next = deliveries(w, endpoint)
            .await
            .iter()
            .filter(|d| d["status"] == "pending")
            .filter_map(|d| d["next_attempt_at"].as_str().map(at))
            .min();
        let Some(next) = next else {
            return;
        };
        w.h.clock
            .set(next.max(w.h.clock.now()) + chrono::Duration::seconds(1));
    }
    panic!("still pending after 40 rounds");
}

/// The failure mails the partner's contact got.
fn failure_mails(h: &Harness) -> Vec<Value> {
    h.mail()
        .into_iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.contains("are failing"))
        })
        .collect()
}

/// A delivery given up after its last attempt mails the partner's contact through the
/// outbox, at most once a day per endpoint (two given up together: one mail).
#[tokio::test]
async fn a_delivery_given_up_mails_the_partner_s_contact_at_most_daily() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let receiver = Receiver::start((0..100).map(|_| Answer::Status(503)).collect()).await;
    let (endpoint, _) = subscribed(&w, &receiver).await;
    an_event(&w).await;
    an_event(&w).await;
    h.dispatch().await;
    until_given_up(&w, &endpoint).await;
    let all = deliveries(&w, &endpoint).await;
    assert!(all.iter().all(|d| d["status"] == "failed"), "{all:?}");
    assert_eq!(
        all[0]["attempts"].as_array().map(Vec::len),
        Some(11),
        "at once, then nine waits"
    );
    h.sweep().await;
    let mails = failure_mails(h);
    assert_eq!(mails.len(), 1, "one a day: {mails:?}");
    assert!(
        mails[0]["destinations"]
            .to_string()
            .contains("pat@fabrikam.com"),
        "{}",
        mails[0]
    );
    let body = mails[0]["body"].to_string();
    assert!(
        body.contains(&endpoint) && body.contains("/replay"),
        "{body}"
    );
    // Still enabled (under five days); enabling again starts its failing days anew. A day
    // later, another given up: a second mail.
    let on = format!("/webhook-endpoints/{endpoint}/enable");
    assert_eq!(h.post(&on, &w.partner, &json!({})).await.status, 200);
    h.clock.advance(chrono::Duration::hours(25));
    an_event(&w).await;
    h.dispatch().await;
    until_given_up(&w, &endpoint).await;
    h.sweep().await;
    assert_eq!(failure_mails(h).len(), 2);
}

/// The harness's sender, trusting `test_ca` (PEM) beside the system's roots.
fn sender_trusting(h: &Harness, test_ca: Option<&str>) -> webhook_sender::Sender {
    let settings = webhook_sender::Settings {
        sweep_after: chrono::Duration::zero(),
        ..webhook_sender::Settings::default()
    };
    sender_with(h, test_ca, settings)
}

/// The harness's sender with `settings`, trusting `test_ca` (PEM) beside the system's roots.
fn sender_with(
    h: &Harness,
    test_ca: Option<&str>,
    settings: webhook_sender::Settings,
) -> webhook_sender::Sender {
    let s = &h.webhook_sender;
    let connector = webhook_sender::attempt::Connector::trusting(true, test_ca.map(str::as_bytes));
    webhook_sender::Sender {
        store: s.store.clone(),
        settings,
        clock: s.clock.clone(),
        sealing: s.sealing.clone(),
        connector: connector.expect("TLS roots"),
        deliveries: s.deliveries.clone(),
    }
}

/// Over https the sender connects with TLS for the URL's host and checks the receiver's
/// certificate: a sender that does not trust the receiver's CA sends it nothing (the handshake
/// fails, and so does the attempt); one that trusts it (as the local stack may trust a test
/// CA) delivers the signed event.
#[tokio::test]
async fn an_https_receiver_gets_its_delivery_over_tls() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let secure = Receiver::start_tls(vec![]).await;
    assert!(secure.url().starts_with("https://"));
    let (endpoint, secret) = subscribed(&w, &secure).await;
    an_event(&w).await;
    h.dispatch().await;
    webhook_sender::sweep(&sender_trusting(h, None))
        .await
        .expect("a sweep");
    assert!(
        secure.received().is_empty(),
        "no request without a trusted certificate"
    );
    let d = &deliveries(&w, &endpoint).await[0];
    assert_eq!(
        (&d["status"], &d["attempts"][0]["status_code"]),
        (&json!("pending"), &Value::Null)
    );
    let error = d["attempts"][0]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("tls"), "{error}");
    let trusting = sender_trusting(h, secure.test_ca.as_deref());
    webhook_sender::sweep(&trusting).await.expect("a sweep");
    let got = secure.received();
    assert_eq!(got.len(), 1);
    assert!(verifies(&got[0], &secret));
    assert_eq!(deliveries(&w, &endpoint).await[0]["status"], "succeeded");
}

/// A name is checked where it points when the endpoint is made, and again at each attempt:
/// re-pointed to a private address afterwards, the attempt is refused before any connection
/// (`address_forbidden`, where a connection to it would have timed out after 5 s).
#[tokio::test]
async fn a_name_re_pointed_to_a_private_address_is_refused_at_the_attempt() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let (public, private) = (
        "93.184.215.14".parse().expect("ip"),
        "10.0.0.1".parse().expect("ip"),
    );
    h.resolver.point("hooks.fabrikam.example", &[public]);
    h.resolver
        .point("inside.fabrikam.example", &[public, private]);
    let made = |name: &str| json!({"url": format!("https://{name}/vls"), "enabled_events": ["*"]});
    let inside = h
        .post(
            "/webhook-endpoints",
            &w.partner,
            &made("inside.fabrikam.example"),
        )
        .await;
    assert_problem(&inside, 422, "webhook_url_forbidden");
    let r = h
        .post(
            "/webhook-endpoints",
            &w.partner,
            &made("hooks.fabrikam.example"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let endpoint = r.id();
    h.resolver.point("hooks.fabrikam.example", &[private]);
    an_event(&w).await;
    h.dispatch().await;
    h.send_webhooks().await;
    let d = &deliveries(&w, &endpoint).await[0];
    let attempt = &d["attempts"][0];
    assert_eq!(
        (&attempt["status_code"], &attempt["error"]),
        (
            &Value::Null,
            &json!("address_forbidden: 10.0.0.1 is a private address")
        )
    );
    assert!(
        attempt["duration_ms"].as_u64().is_some_and(|ms| ms < 1000),
        "{attempt}"
    );
    assert_eq!(d["status"], "pending", "tried again later");
}

/// A delivery pending when its endpoint is disabled is given up, never sent.
#[tokio::test]
async fn a_disabled_endpoint_s_pending_deliveries_are_cancelled() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let receiver = Receiver::start(vec![]).await;
    let (endpoint, _) = subscribed(&w, &receiver).await;
    an_event(&w).await;
    h.dispatch().await;
    let off = format!("/webhook-endpoints/{endpoint}/disable");
    assert_eq!(h.post(&off, &w.partner, &json!({})).await.status, 200);
    let outcomes = h.send_webhooks().await;
    let cancelled = outcomes.get(&webhook_sender::Outcome::Cancelled);
    assert_eq!(cancelled, Some(&1), "{outcomes:?}");
    assert!(receiver.received().is_empty());
    assert_eq!(deliveries(&w, &endpoint).await[0]["status"], "cancelled");
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign_then_only_the_new_one() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let receiver = Receiver::start(vec![]).await;
    let (endpoint, old) = subscribed(&w, &receiver).await;
    let rotated = h
        .post(
            &format!("/webhook-endpoints/{endpoint}/rotate-secret"),
            &w.partner,
            &json!({"overlap_seconds": 600}),
        )
        .await;
    let new = rotated.body["secret"].as_str().expect("secret").to_owned();
    an_event(&w).await;
    h.dispatch().await;
    h.send_webhooks().await;
    h.clock.advance(chrono::Duration::seconds(601));
    an_event(&w).await;
    h.dispatch().await;
    h.send_webhooks().await;
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(header(&got[0], "webhook-signature").split(' ').count(), 2);
    assert!(verifies(&got[0], &old) && verifies(&got[0], &new));
    assert_eq!(header(&got[1], "webhook-signature").split(' ').count(), 1);
    assert!(verifies(&got[1], &new) && !verifies(&got[1], &old));
}

/// Endpoint A stalls every attempt past the 15 s limit; each of 50 events reaches endpoint B
/// within 10 s of its commit all the same. The events are committed one after another while
/// the dispatcher runs and two senders work the delivery queue side by side (the template's
/// `WebhookSenderConcurrency`), as the queue's event source runs them; A is worked by one
/// sender at a time, never more than four attempts in flight.
#[tokio::test]
async fn an_endpoint_that_stalls_never_delays_another() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::time::Instant;
    const EVENTS: usize = 50;
    let w = Tenancy::new().await;
    let h = &w.h;
    let slow = Receiver::start(vec![Answer::Stall(Duration::from_secs(20)); 400]).await;
    let fast = Receiver::start(vec![]).await;
    subscribed(&w, &slow).await;
    subscribed(&w, &fast).await;
    let committed = std::sync::Mutex::new(std::collections::BTreeMap::new());
    let all_committed = AtomicBool::new(false);
    let commit = async {
        for _ in 0..EVENTS {
            let agreement = an_event(&w).await;
            committed
                .lock()
                .expect("commits")
                .insert(agreement, Instant::now());
        }
        all_committed.store(true, SeqCst);
    };
    let dispatch = async {
        loop {
            let last = all_committed.load(SeqCst);
            h.dispatch().await;
            if last {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let all_heard = async {
        while fast.received().len() < EVENTS {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let url = h.webhook_sender.deliveries.url();
    let poller = || async {
        loop {
            match work_queue::receive_event(&h.sqs, url, 10).await {
                Some((event, handles)) => {
                    webhook_sender::handle(&h.webhook_sender, "test-poller", event)
                        .await
                        .expect("an invocation");
                    work_queue::delete(&h.sqs, url, &handles).await;
                }
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    };
    tokio::select! {
        _ = async { tokio::join!(commit, dispatch, all_heard) } => {}
        _ = futures::future::join(poller(), poller()) => {}
        _ = tokio::time::sleep(Duration::from_secs(120)) => panic!("B did not hear every event"),
    }
    let committed = committed.lock().expect("commits").clone();
    for r in fast.received() {
        let body: Value = serde_json::from_slice(&r.body).expect("json");
        let agreement = body["agreement_id"].as_str().expect("agreement_id");
        let after = r.at.saturating_duration_since(committed[agreement]);
        assert!(after < Duration::from_secs(10), "{agreement}: {after:?}");
    }
    // A: at most four attempts in flight, each held its 15 s: any five arrivals span them.
    let at: Vec<Instant> = slow.received().iter().map(|r| r.at).collect();
    assert!(!at.is_empty());
    for five in at.windows(5) {
        let span = five[4].duration_since(five[0]);
        assert!(span > Duration::from_secs(14), "five attempts in {span:?}");
    }
}

/// The delivery queue as Lambda's event source works it: `pollers` side by side, each handing
/// the sender up to ten visible messages at a time and deleting them after, until none is
/// visible. How many messages were worked.
async fn work_delivery_queue(h: &Harness, pollers: usize) -> usize {
    let url = h.webhook_sender.deliveries.url();
    let poll = || async {
        let mut worked = 0;
        while let Some((event, handles)) = work_queue::receive_event(&h.sqs, url, 10).await {
            webhook_sender::handle(&h.webhook_sender, "test-poller", event)
                .await
                .expect("an invocation");
            work_queue::delete(&h.sqs, url, &handles).await;
            worked += handles.len();
        }
        worked
    };
    let polled = futures::future::join_all((0..pollers).map(|_| poll())).await;
    polled.into_iter().sum()
}

/// Each delivery the dispatcher makes is handed to the sender as a message of its own, and a
/// retry comes back on the queue when it is due (here at once), with no sweep.
#[tokio::test]
async fn the_delivery_queue_hands_over_each_delivery_and_its_retries() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let receiver = Receiver::start(vec![Answer::Status(500)]).await;
    let (endpoint, _) = subscribed(&w, &receiver).await;
    an_event(&w).await;
    an_event(&w).await;
    h.dispatch().await;
    let url = h.webhook_sender.deliveries.url();
    assert_eq!(
        work_queue::depth(&h.sqs, url).await,
        2,
        "a message a delivery"
    );
    assert_eq!(
        work_delivery_queue(h, 2).await,
        3,
        "two deliveries, and the failed one's retry"
    );
    assert_eq!(receiver.received().len(), 3);
    let all = deliveries(&w, &endpoint).await;
    assert!(all.iter().all(|d| d["status"] == "succeeded"), "{all:?}");
    assert_eq!(work_queue::depth(&h.sqs, url).await, 0);
}

/// The dispatcher's stream reader off and the delivery queue purged mid-run: the one-minute
/// sweeps, as deployed, deliver everything, each event once (distinct ids received = events).
#[tokio::test]
async fn with_the_stream_off_and_the_queue_purged_the_sweeps_deliver_everything() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let receiver = Receiver::start(vec![]).await;
    subscribed(&w, &receiver).await;
    for _ in 0..3 {
        an_event(&w).await;
    }
    h.dispatch().await;
    let url = h.webhook_sender.deliveries.url();
    let (event, handles) = work_queue::receive_event(&h.sqs, url, 1)
        .await
        .expect("a message");
    webhook_sender::handle(&h.webhook_sender, "test", event)
        .await
        .expect("sent");
    work_queue::delete(&h.sqs, url, &handles).await;
    assert_eq!(receiver.received().len(), 1);
    h.sqs
        .purge_queue()
        .queue_url(url)
        .send()
        .await
        .expect("purged");
    // Three more, with no stream to announce them.
    for _ in 0..3 {
        an_event(&w).await;
    }
    let dispatcher = webhook_dispatcher::Dispatcher {
        store: h.dispatcher.store.clone(),
        settings: webhook_dispatcher::Settings::default(),
        clock: h.clock.as_clock(),
        deliveries: h.dispatcher.deliveries.clone(),
    };
    let sender = sender_with(h, None, webhook_sender::Settings::default());
    h.clock.advance(chrono::Duration::seconds(61));
    webhook_dispatcher::sweep(&dispatcher).await.expect("sweep");
    // Their messages lost too (SQS allows one purge a minute: taken off unworked instead).
    let mut lost = 0;
    while let Some((_, handles)) = work_queue::receive_event(&h.sqs, url, 10).await {
        work_queue::delete(&h.sqs, url, &handles).await;
        lost += handles.len();
    }
    assert_eq!(lost, 3);
    assert_eq!(receiver.received().len(), 1, "nothing sent meanwhile");
    // The sweep takes what has been due a minute: the two purged, not yet the three new.
    let swept = webhook_sender::sweep(&sender)
        .await
        .expect("sweep")
        .outcomes;
    let succeeded = |swept: &std::collections::BTreeMap<webhook_sender::Outcome, usize>| {
        swept.get(&webhook_sender::Outcome::Succeeded).copied()
    };
    assert_eq!(succeeded(&swept), Some(2), "{swept:?}");
    h.clock.advance(chrono::Duration::seconds(61));
    let swept = webhook_sender::sweep(&sender)
        .await
        .expect("sweep")
        .outcomes;
    assert_eq!(succeeded(&swept), Some(3), "{swept:?}");
    let got = receiver.received();
    let mut ids: Vec<&str> = got.iter().map(|r| header(r, "webhook-id")).collect();
    assert_eq!(ids.len(), 6, "each event once");
    ids.sort_unstable();
    ids.dedup();
    let events = h.walk("/events", &w.partner, "events", 10).await;
    assert_eq!(ids.len(), events.len(), "distinct ids received = events");
    assert_eq!(events.len(), 6);
}
