//! Partner events (SPEC §6.1–6.4) in-process against the emulator: each change a partner
//! hears of writes one event in its own transaction, the dispatcher sequences them gap-free
//! per partner after the commit (several dispatchers side by side included), and the catch-up
//! list pages them by sequence while writers commit.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use serde_json::{Value, json};
use vls_tests::fixtures::*;
use vls_tests::*;

/// Every event `token`'s partner can list now, after the dispatcher ran.
async fn listed(h: &Harness, token: &str) -> Vec<Value> {
    h.dispatch().await;
    h.walk("/events", token, "events", 100).await
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// The one event of `kind` about `expected`'s resource, whose object is `expected` (what GET
/// answered just after).
fn assert_told(events: &[Value], kind: &str, expected: &Value) {
    let found: Vec<&Value> = of_type(events, kind)
        .into_iter()
        .filter(|e| e["data"]["object"]["id"] == expected["id"])
        .collect();
    assert_eq!(found.len(), 1, "one {kind}: {events:#?}");
    assert_eq!(&found[0]["data"]["object"], expected, "{kind}");
    assert!(
        found[0]["data"].get("complete").is_none(),
        "{kind} is whole"
    );
}

fn seats(n: u64) -> Value {
    json!({"lines": [{"sku": "d365-sales-professional", "quantity": n}]})
}

/// The migration walkthrough, step by step: each change the partner hears of is one event
/// whose object is the resource as the partner's GET showed it just after; changes the
/// partner does not hear of (a subscription bought, an order placed) and refusals and replays
/// write none.
#[tokio::test]
#[allow(clippy::too_many_lines)] // one walkthrough, read top to bottom
async fn each_change_a_partner_hears_of_is_one_event_showing_what_its_get_showed() {
    let h = Harness::new().await;
    // Within the events' 90 days of the true-up at the anniversary, 2027-03-15.
    h.clock.set(at("2027-01-20T10:00:00Z"));
    let m = invoiced_migration(&h).await;
    let p = &m.partner;
    let order = h.get(&format!("/orders/{}", m.order), p).await.body;
    // Invoicing again is refused; the same request replayed answers as stored: neither is told.
    let again = format!("/orders/{}/invoice", m.order);
    assert_eq!(h.post(&again, p, &json!({})).await.status, 409);

    h.sweep().await;
    let token = link_token(h.mail().last().expect("mail")).expect("link");
    h.associate(&token, &m.admin, &m.account).await;
    let agreement_path = format!("/agreements/{}", m.agreement);
    let activated = h.get(&agreement_path, p).await.body;
    // The direct subscription the order replaced, cancelled: its partner hears of it.
    let cancellation = format!(
        "/accounts/{}/subscriptions/{}/cancellation",
        m.account, m.subscription
    );
    let retired = h
        .post(
            &cancellation,
            &m.admin,
            &json!({"reason": "moved to volume"}),
        )
        .await;
    assert_eq!(retired.status, 200, "{}", retired.raw);

    let reserve = format!("/agreements/{}/reservations", m.agreement);
    let key = Some("reserve-once");
    let kept = h
        .call(
            "POST",
            &reserve,
            Some(&m.admin),
            Some(&seats(5).to_string()),
            key,
        )
        .await;
    assert_eq!(kept.status, 201, "{}", kept.raw);
    let replay = h
        .call(
            "POST",
            &reserve,
            Some(&m.admin),
            Some(&seats(5).to_string()),
            key,
        )
        .await;
    assert!(replay.replayed);
    let cancelled = h.post(&reserve, &m.admin, &seats(2)).await.id();
    let made = h.get(&format!("/reservations/{cancelled}"), p).await.body;
    let cancel = format!("/reservations/{cancelled}/cancel");
    assert_eq!(h.post(&cancel, &m.admin, &json!({})).await.status, 200);
    let gone = h.get(&format!("/reservations/{cancelled}"), p).await.body;

    let osm = json!({"name": "Noah New", "email": "noah@contoso.com"});
    assert_eq!(
        h.put(&format!("{agreement_path}/osm"), p, &osm)
            .await
            .status,
        200
    );
    let osm_changed = h.get(&agreement_path, p).await.body;

    let other = h
        .post("/accounts", &m.bs, &account_body("Contoso EU"))
        .await
        .id();
    // The cancelled subscription relies on these licences: billing support accepts the loss.
    let remap = json!({"target_account_id": other, "reason": "the wrong tenant",
                       "accept_license_loss": true});
    let r = h
        .post(&format!("{agreement_path}/remap"), &m.bs, &remap)
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let remapped = h.get(&agreement_path, p).await.body;

    h.clock.set(at("2027-03-16T02:00:00Z"));
    h.run_true_up(h.clock.now()).await;
    let orders = h.get(&format!("{agreement_path}/orders"), p).await.body;
    let true_up = true_up_orders(&orders)[0].clone();

    let events = listed(&h, p).await;
    assert_told(&events, "order.invoiced", &order);
    let sent = of_type(&events, "activation_email.sent");
    assert_eq!(sent.len(), 1, "{events:#?}");
    let mail = &sent[0]["data"]["object"];
    assert_eq!(
        (&mail["agreement_id"], &mail["status"], &mail["attempts"]),
        (&json!(m.agreement), &json!("sent"), &json!(1))
    );
    assert_eq!(mail["sent_to"], "o***@contoso.com");
    assert_told(&events, "activation.completed", &activated);
    assert_told(&events, "reservation.created", &made);
    assert_eq!(
        of_type(&events, "reservation.created").len(),
        2,
        "the replay told nothing"
    );
    assert_told(&events, "reservation.cancelled", &gone);
    assert_told(&events, "osm.changed", &osm_changed);
    assert_told(&events, "agreement.remapped", &remapped);
    assert_told(&events, "true_up.billed", &true_up);
    let retired = json!({"subscription_id": m.subscription, "status": "cancelled",
                         "cancelled_at": "2027-01-20T10:00:00Z", "order_ids": [m.order]});
    let told: Vec<&Value> = of_type(&events, "subscription.cancelled")
        .into_iter()
        .map(|e| &e["data"]["object"])
        .collect();
    assert_eq!(told, [&retired], "told to the partner whose order named it");
    assert_eq!(events.len(), 10, "one event per change told: {events:#?}");
    let sequences: Vec<u64> = events
        .iter()
        .filter_map(|e| e["sequence"].as_u64())
        .collect();
    assert_eq!(sequences, (1..=10).collect::<Vec<_>>());
    for e in &events {
        assert_eq!(
            (&e["partner_id"], &e["agreement_id"], &e["api_version"]),
            (&json!("p1"), &json!(m.agreement), &json!("0.3.0"))
        );
        let id = e["id"].as_str().expect("id");
        let one = h.get(&format!("/events/{id}"), p).await;
        assert_eq!((one.status, &one.body), (200, e), "GET /events/{{id}}");
    }
    // Nothing is sequenced twice: the dispatcher finds nothing left.
    assert_eq!(h.dispatch().await, 0);
}

/// R7's binding and its amendment, and a mail given up, are told too.
#[tokio::test]
async fn a_bound_agreement_its_amendment_and_a_failed_mail_are_told() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let bound = w.associated("EA", "2026-03-15").await;
    let path = format!("/agreements/{bound}");
    let associated = h.get(&path, &w.partner).await.body;
    let amend = json!({"kind": "separate_online_services", "reason": "its own tenant"});
    let r = h
        .post(&format!("{path}/amendments"), &specialist(), &amend)
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let amended = h.get(&path, &w.partner).await.body;

    let unbound = h
        .post(
            "/agreements",
            &w.partner,
            &agreement_body("4712", "2026-03-15"),
        )
        .await
        .id();
    let order = order_body(
        &unbound,
        json!([{"sku": "d365-sales-professional", "quantity": 3}]),
        None,
    );
    let o = h.post("/orders", &w.partner, &order).await.id();
    let inv = h
        .post(&format!("/orders/{o}/invoice"), &w.partner, &json!({}))
        .await;
    assert_eq!(inv.status, 200, "{}", inv.raw);
    h.ses_faults.set(Some(SesFault::RejectedAddress));
    h.sweep().await;

    let events = listed(h, &w.partner).await;
    assert_told(&events, "agreement.associated", &associated);
    assert_told(&events, "agreement.amended", &amended);
    let failed = of_type(&events, "activation_email.failed");
    assert_eq!(failed.len(), 1, "{events:#?}");
    let mail = &failed[0]["data"]["object"];
    assert_eq!(
        (&mail["agreement_id"], &mail["status"], &mail["reason"]),
        (
            &json!(unbound),
            &json!("failed"),
            &json!("rejected_address")
        )
    );
    assert_eq!(mail["sent_to"], "o***@contoso.com");
}

/// Changes to `n` agreements of partner `p1`, `per` each, all at once (OSM changes, each told).
async fn changes_at_once(h: &Harness, agreements: &[String], per: usize) -> usize {
    let p = partner("p1");
    let calls = agreements.iter().flat_map(|a| {
        let p = p.clone();
        (0..per).map(move |i| {
            let p = p.clone();
            let osm = json!({"name": format!("Osm {i}"), "email": format!("osm{i}@contoso.com")});
            async move {
                h.put(&format!("/agreements/{a}/osm"), &p, &osm)
                    .await
                    .status
            }
        })
    });
    let statuses = join_all(calls).await;
    statuses.iter().filter(|s| **s == 200).count()
}

async fn agreements_of_p1(w: &Tenancy, n: usize) -> Vec<String> {
    let mut made = Vec::new();
    for i in 0..n {
        let body = agreement_body(&format!("c{i}"), "2026-03-15");
        made.push(w.h.post("/agreements", &w.partner, &body).await.id());
    }
    made
}

/// 200 concurrent changes on 20 agreements of one partner, sequenced by four dispatchers
/// running side by side with the writers: the partner's sequences are exactly 1..N, one per
/// committed change, each event once.
#[tokio::test]
async fn concurrent_changes_and_dispatchers_give_sequences_exactly_one_to_n() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let agreements = agreements_of_p1(&w, 20).await;
    let done = std::sync::atomic::AtomicBool::new(false);
    let dispatchers = join_all((0..4).map(|_| async {
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            h.dispatch().await;
        }
    }));
    let writers = async {
        let committed = changes_at_once(h, &agreements, 10).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        committed
    };
    let (committed, _) = futures::join!(writers, dispatchers);
    assert!(committed > 150, "most changes commit: {committed}");
    let events = listed(h, &w.partner).await;
    let told: Vec<&Value> = of_type(&events, "osm.changed");
    assert_eq!(told.len(), committed, "one event per committed change");
    let sequences: Vec<u64> = events
        .iter()
        .filter_map(|e| e["sequence"].as_u64())
        .collect();
    assert_eq!(sequences, (1..=events.len() as u64).collect::<Vec<_>>());
    let ids: BTreeSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids.len(), events.len(), "each event once");
    // One resource's states are ordered by its version.
    let mut versions: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in &told {
        let object = &e["data"]["object"];
        let id = object["id"].as_str().expect("id").to_owned();
        versions
            .entry(id)
            .or_default()
            .push(object["version"].as_u64().expect("v"));
    }
    for (id, mut v) in versions {
        let n = v.len();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), n, "{id}: one event per version");
    }
}

/// A reader walking the list 7 at a time while writers commit and the dispatcher runs sees
/// every event exactly once, in sequence order: it never pages past one not yet written.
#[tokio::test]
async fn walking_the_list_while_writers_commit_sees_every_event_once() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let agreements = agreements_of_p1(&w, 5).await;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let (done, drained) = (AtomicBool::new(false), AtomicBool::new(false));
    let writers = async {
        let n = changes_at_once(h, &agreements, 8).await;
        done.store(true, SeqCst);
        n
    };
    let dispatcher = async {
        while !done.load(SeqCst) {
            h.dispatch().await;
        }
        h.dispatch().await;
        drained.store(true, SeqCst);
    };
    let reader = async {
        let mut seen: Vec<u64> = Vec::new();
        loop {
            // Whether everything was sequenced before this read began.
            let last = drained.load(SeqCst);
            let after = seen.last().copied().unwrap_or(0);
            let page = h
                .walk(&format!("/events?after={after}"), &w.partner, "events", 7)
                .await;
            seen.extend(page.iter().filter_map(|e| e["sequence"].as_u64()));
            if last && page.is_empty() {
                break seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let (committed, (), seen) = futures::join!(writers, dispatcher, reader);
    let all = listed(h, &w.partner).await;
    let created = agreements.len() as u64;
    assert_eq!(
        all.len() as u64,
        committed as u64,
        "agreements created unbound: none told"
    );
    assert_eq!(
        seen,
        (1..=committed as u64).collect::<Vec<_>>(),
        "each once, in order"
    );
    assert!(created > 0);
}

/// `after` lists exactly what follows it, `types` only those types; another partner's events
/// are not there and one of them by id is 404; other roles are refused; bad input is 422.
#[tokio::test]
async fn after_and_types_filter_and_nobody_else_sees_a_partner_s_events() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let agreements = agreements_of_p1(&w, 2).await;
    changes_at_once(h, &agreements, 3).await;
    let r = h
        .post(
            &format!(
                "/agreements/{}/reservations",
                w.associated("EA", "2026-03-15").await
            ),
            &w.admin,
            &seats(1),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let all = listed(h, &w.partner).await;
    assert_eq!(all.len(), 8, "6 OSM changes, 1 association, 1 reservation");
    let after = h.walk("/events?after=5", &w.partner, "events", 2).await;
    assert_eq!(after, all[5..].to_vec());
    let typed = h
        .walk(
            "/events?types=reservation.created,agreement.associated",
            &w.partner,
            "events",
            1,
        )
        .await;
    let kinds: Vec<&str> = typed.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&"reservation.created") && kinds.contains(&"agreement.associated"));
    let past_the_end = h.get("/events?after=8", &w.partner).await;
    assert_eq!(
        past_the_end.body,
        json!({"events": [], "next_cursor": null})
    );
    let newest = h.get("/events?order=desc&limit=3", &w.partner).await;
    let top: Vec<u64> = newest.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["sequence"].as_u64())
        .collect();
    assert_eq!(top, vec![8, 7, 6]);

    h.put("/partners/p2", &w.bs, &partner_body("Northwind"))
        .await;
    let other = partner("p2");
    assert_eq!(listed(h, &other).await, Vec::<Value>::new());
    let id = all[0]["id"].as_str().expect("id");
    assert_problem(
        &h.get(&format!("/events/{id}"), &other).await,
        404,
        "not_found",
    );
    assert_problem(
        &h.get("/events/evt_nope", &w.partner).await,
        404,
        "not_found",
    );
    for token in [&w.bs, &w.admin, &specialist()] {
        assert_eq!(h.get("/events", token).await.status, 403);
        assert_eq!(h.get(&format!("/events/{id}"), token).await.status, 403);
    }
    for bad in [
        "after=-1",
        "after=x",
        "types=order.placed",
        "types=webhook.test",
    ] {
        let r = h.get(&format!("/events?{bad}"), &w.partner).await;
        assert_problem(&r, 422, "invalid_field");
    }
    let r = h.get("/events?limit=0", &w.partner).await;
    assert_problem(&r, 422, "invalid_limit");
    let r = h.get("/events?order=newest", &w.partner).await;
    assert_problem(&r, 422, "invalid_order");
    // A cursor is bound to its `after` and `types`.
    let page = h.get("/events?after=1&limit=2", &w.partner).await;
    let cursor = page.body["next_cursor"].as_str().expect("cursor");
    let moved = h
        .get(
            &format!("/events?after=2&limit=2&cursor={cursor}"),
            &w.partner,
        )
        .await;
    assert_problem(&moved, 422, "invalid_cursor");
}

/// Events are kept for the retention (90 days): an `after` whose next event is gone is 410
/// with the oldest sequence kept, and a gone event is 404.
#[tokio::test]
async fn events_past_their_retention_are_gone() {
    let w = Tenancy::new().await;
    let h = &w.h;
    h.clock.set(at("2026-11-28T10:00:00Z"));
    let agreements = agreements_of_p1(&w, 1).await;
    changes_at_once(h, &agreements, 2).await;
    let first = listed(h, &w.partner).await;
    h.clock.set(at("2027-02-20T10:00:00Z"));
    changes_at_once(h, &agreements, 1).await;
    assert_eq!(listed(h, &w.partner).await.len(), 3);
    h.clock.set(at("2027-03-01T10:00:00Z"));
    let r = h.get("/events?after=1", &w.partner).await;
    assert_problem(&r, 410, "events_expired");
    assert_eq!(r.body["oldest_sequence"], 3);
    let kept = h.get("/events?after=2", &w.partner).await;
    assert_eq!(kept.status, 200, "{}", kept.raw);
    let all = h.walk("/events", &w.partner, "events", 10).await;
    let sequences: Vec<u64> = all.iter().filter_map(|e| e["sequence"].as_u64()).collect();
    assert_eq!(sequences, vec![3]);
    let id = first[0]["id"].as_str().expect("id");
    assert_eq!(
        h.get(&format!("/events/{id}"), &w.partner).await.status,
        404
    );
}

async fn hook(h: &Harness, token: &str, events: Value) -> String {
    let body = json!({"url": "http://127.0.0.1:9533/hooks", "enabled_events": events});
    let r = h.post("/webhook-endpoints", token, &body).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    r.id()
}

async fn deliveries(h: &Harness, token: &str, endpoint: &str) -> Vec<Value> {
    let path = format!("/webhook-endpoints/{endpoint}/deliveries");
    h.walk(&path, token, "deliveries", 2).await
}

/// An event that no enabled endpoint wants is done once sequenced: only the wanted one waits
/// in the fan-out index, and the fan-out takes it out.
#[tokio::test]
async fn only_an_event_some_endpoint_wants_waits_for_its_deliveries() {
    let w = Tenancy::new().await;
    let h = &w.h;
    hook(h, &w.partner, json!(["reservation.created"])).await;
    let agr = w.associated("EA", "2026-03-15").await;
    let made = h
        .post(
            &format!("/agreements/{agr}/reservations"),
            &w.admin,
            &seats(1),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.raw);
    let store = &h.dispatcher.store;
    let now = h.clock.now();
    let waiting = store.unsequenced(now, 100).await.expect("unsequenced");
    let events = store.partner_events(&waiting).await.expect("events");
    let sequenced = store
        .sequence(events, chrono::Duration::days(90))
        .await
        .expect("sequenced");
    assert_eq!(sequenced.events.len(), 2);
    let kinds: Vec<&str> = sequenced
        .awaiting_deliveries
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds, ["reservation.created"]);
    let unfanned = store.unfanned(now, 100).await.expect("unfanned");
    assert_eq!(unfanned, vec![sequenced.awaiting_deliveries[0].id.clone()]);
    assert!(store.unsequenced(now, 100).await.expect("read").is_empty());
    h.dispatch().await;
    assert!(store.unfanned(now, 100).await.expect("read").is_empty());
}

/// Each sequenced event gets one delivery for each enabled endpoint of its partner that wants
/// its type, made once however often the fan-out runs; a fan-out that stopped after the
/// sequencing is finished by the sweep.
#[tokio::test]
async fn each_event_is_delivered_to_every_enabled_endpoint_that_wants_it() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let every = hook(h, &w.partner, json!(["*"])).await;
    let reserved = hook(h, &w.partner, json!(["reservation.created"])).await;
    let off = hook(h, &w.partner, json!(["*"])).await;
    let r = h
        .post(
            &format!("/webhook-endpoints/{off}/disable"),
            &w.partner,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let agr = w.associated("EA", "2026-03-15").await;
    let made = h
        .post(
            &format!("/agreements/{agr}/reservations"),
            &w.admin,
            &seats(1),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.raw);
    let events = listed(h, &w.partner).await;
    assert_eq!(events.len(), 2);
    let all = deliveries(h, &w.partner, &every).await;
    let kinds: Vec<&str> = all.iter().filter_map(|d| d["type"].as_str()).collect();
    assert_eq!(kinds, ["agreement.associated", "reservation.created"]);
    let first = &all[0];
    let event_id = events[0]["id"].as_str().expect("id");
    assert_eq!(
        (
            &first["event_id"],
            &first["sequence"],
            &first["status"],
            &first["attempts"]
        ),
        (&json!(event_id), &json!(1), &json!("pending"), &json!([]))
    );
    assert_eq!(
        first["id"].as_str().map(|d| &d["dlv_".len()..]),
        Some(&event_id["evt_".len()..]),
        "a delivery made by the fan-out is named after its event"
    );
    let only = deliveries(h, &w.partner, &reserved).await;
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["type"], "reservation.created");
    assert_eq!(deliveries(h, &w.partner, &off).await, Vec::<Value>::new());
    h.dispatch().await;
    assert_eq!(
        deliveries(h, &w.partner, &every).await.len(),
        2,
        "made once"
    );

    // Sequenced, then the dispatcher stopped before the deliveries: the sweep makes them.
    let osm = json!({"name": "Noah New", "email": "noah@contoso.com"});
    assert_eq!(
        h.put(&format!("/agreements/{agr}/osm"), &w.partner, &osm)
            .await
            .status,
        200
    );
    let store = &h.dispatcher.store;
    let waiting = store
        .unsequenced(h.clock.now(), 100)
        .await
        .expect("unsequenced");
    let events = store.partner_events(&waiting).await.expect("events");
    let sequenced = store
        .sequence(events, chrono::Duration::days(90))
        .await
        .expect("sequenced");
    assert_eq!(sequenced.events.len(), 1);
    assert_eq!(
        deliveries(h, &w.partner, &every).await.len(),
        2,
        "not made yet"
    );
    h.dispatch().await;
    let after = deliveries(h, &w.partner, &every).await;
    assert_eq!(after.len(), 3);
    assert_eq!(after[2]["type"], "osm.changed");

    let pending = h
        .get(
            &format!("/webhook-endpoints/{every}/deliveries?status=pending"),
            &w.partner,
        )
        .await;
    assert_eq!(pending.body["deliveries"].as_array().map(Vec::len), Some(3));
    let path = format!("/webhook-endpoints/{every}/deliveries");
    let bad = h.get(&format!("{path}?status=open"), &w.partner).await;
    assert_problem(&bad, 422, "invalid_status");
    for (query, code) in [
        ("limit=0", "invalid_limit"),
        ("order=newest", "invalid_order"),
        ("cursor=bm9wZQ.bm9wZQ", "invalid_cursor"),
    ] {
        assert_problem(
            &h.get(&format!("{path}?{query}"), &w.partner).await,
            422,
            code,
        );
    }
    h.put("/partners/p2", &w.bs, &partner_body("Northwind"))
        .await;
    assert_problem(&h.get(&path, &partner("p2")).await, 404, "not_found");
}
