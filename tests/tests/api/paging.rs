//! Paged lists (SPEC §4): every list walked with limits 1, 7 and 100 while items are added
//! yields each item once, in commit order; a cursor works only for the list, the filter and
//! the caller it was given to; the checks run in the order the contract gives.

use chrono::Utc;
use futures::join;
use serde_json::{Value, json};
use vls_domain::audit::Audit;
use vls_domain::trail::{Actor, Event};
use vls_domain::types::{AgreementId, PartnerId};
use vls_store::{StoreError, TxFailure};
use vls_tests::fixtures::*;
use vls_tests::*;

/// The tenancy and its agreement (`w.h`, `w.admin`, … are the tenancy's).
struct World {
    t: Tenancy,
    agr: String,
}

impl std::ops::Deref for World {
    type Target = Tenancy;

    fn deref(&self) -> &Tenancy {
        &self.t
    }
}

/// An account with an EA associated from the start, a few reservations and orders on it.
async fn world() -> World {
    let t = Tenancy::new().await;
    t.h.clock.set(at("2026-11-28T10:00:00Z"));
    let agr = t.associated("EA", "2026-03-15").await;
    let w = World { t, agr };
    append(&w, 4).await;
    w
}

/// `n` reservations and `n` orders on the world's agreement, one after another.
async fn append(w: &World, n: usize) {
    let seats = json!({"lines": [{"sku": "d365-sales-professional", "quantity": 1}]});
    let order = json!({"agreement_id": w.agr,
                       "lines": [{"sku": "d365-sales-professional", "quantity": 1}]});
    for _ in 0..n {
        let path = format!("/agreements/{}/reservations", w.agr);
        let r = w.h.post(&path, &w.admin, &seats).await;
        assert_eq!(r.status, 201, "{}", r.raw);
        let o = w.h.post("/orders", &w.partner, &order).await;
        assert_eq!(o.status, 201, "{}", o.raw);
    }
}

/// The four lists, each with a caller who may read it.
fn lists(w: &World) -> Vec<(String, &str, &'static str)> {
    vec![
        (format!("/agreements/{}/events", w.agr), &w.bs, "events"),
        (
            format!("/accounts/{}/events", w.account),
            &w.admin,
            "events",
        ),
        (
            format!("/agreements/{}/orders", w.agr),
            &w.partner,
            "orders",
        ),
        (
            format!("/agreements/{}/reservations", w.agr),
            &w.admin,
            "reservations",
        ),
    ]
}

#[tokio::test]
async fn every_list_walks_each_item_once_in_commit_order_while_items_are_added() {
    let w = world().await;
    let h = &w.h;
    for limit in [1, 7, 100] {
        for (path, token, field) in lists(&w) {
            let before = h.walk(&path, token, field, 100).await.len();
            let (walked, ()) = join!(h.walk(&path, token, field, limit), append(&w, 2));
            let after = h.walk(&path, token, field, 100).await;
            assert!(after.len() > before, "{path}: the appends show in the list");
            assert!(walked.len() >= before, "{path} by {limit}: nothing missed");
            // What the walk saw is the list as it stands, from its start, in the same order:
            // nothing missed, nothing twice, nothing out of place.
            assert_eq!(
                walked[..],
                after[..walked.len()],
                "{path} by {limit}: the walk is a prefix of the list"
            );
            let distinct: std::collections::HashSet<String> =
                after.iter().map(Value::to_string).collect();
            assert_eq!(distinct.len(), after.len(), "{path}: every item once");
        }
    }
    // Orders and reservations are listed as they were created (their ids grow with time),
    // and show nothing of the place storage keeps them at.
    for (path, token, field) in &lists(&w)[2..] {
        let all = h.walk(path, token, field, 100).await;
        let ids: Vec<&str> = all.iter().filter_map(|i| i["id"].as_str()).collect();
        assert_eq!(ids.len(), all.len());
        assert!(ids.windows(2).all(|p| p[0] < p[1]), "{path}: {ids:?}");
        assert!(all.iter().all(|i| i.get("sequence").is_none()), "{path}");
    }
}

#[tokio::test]
async fn a_page_holds_at_most_the_limit_and_the_last_page_has_no_cursor() {
    let w = world().await;
    let path = format!("/agreements/{}/orders", w.agr);
    let first = w.h.get(&format!("{path}?limit=3"), &w.partner).await;
    assert_eq!(first.body["orders"].as_array().map(Vec::len), Some(3));
    assert!(first.body["next_cursor"].is_string(), "{}", first.raw);
    let all = w.h.get(&path, &w.partner).await;
    assert_eq!(all.body["orders"].as_array().map(Vec::len), Some(4));
    assert!(all.body["next_cursor"].is_null(), "{}", all.raw);
    // Exactly as many as the limit: nothing follows, and the cursor says so.
    let exact = w.h.get(&format!("{path}?limit=4"), &w.partner).await;
    assert!(exact.body["next_cursor"].is_null(), "{}", exact.raw);
}

#[tokio::test]
async fn a_cursor_works_only_for_the_list_filter_and_caller_it_was_given_to() {
    let w = world().await;
    let h = &w.h;
    let res = format!("/agreements/{}/reservations", w.agr);
    let first = h
        .get(&format!("{res}?status=active&limit=1"), &w.admin)
        .await;
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let ok = h
        .get(
            &format!("{res}?status=active&limit=1&cursor={cursor}"),
            &w.admin,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    assert_ne!(ok.body["reservations"], first.body["reservations"]);

    let mut flipped = cursor.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    let (position, _) = cursor.split_once('.').expect("two parts");
    let refused = [
        // tampered, malformed, truncated, or the position alone
        (format!("{res}?status=active&cursor={flipped}"), &w.admin),
        (format!("{res}?status=active&cursor=abc"), &w.admin),
        (format!("{res}?status=active&cursor="), &w.admin),
        (format!("{res}?status=active&cursor={position}"), &w.admin),
        // another filter, or none
        (format!("{res}?status=billed&cursor={cursor}"), &w.admin),
        (format!("{res}?cursor={cursor}"), &w.admin),
        // another caller who may read the same list
        (format!("{res}?status=active&cursor={cursor}"), &w.bs),
        (format!("{res}?status=active&cursor={cursor}"), &w.partner),
        // another list of the same agreement, or of its account
        (
            format!("/agreements/{}/events?cursor={cursor}", w.agr),
            &w.admin,
        ),
        (
            format!("/agreements/{}/orders?cursor={cursor}", w.agr),
            &w.admin,
        ),
        (
            format!("/accounts/{}/events?cursor={cursor}", w.account),
            &w.admin,
        ),
    ];
    for (path, token) in refused {
        assert_problem(&h.get(&path, token).await, 422, "invalid_cursor");
    }
    // The same list of another agreement.
    let mut body = agreement_body("4711", "2026-03-15");
    body["online_services_account_id"] = json!(w.account);
    let other = h.post("/agreements", &w.partner, &body).await.id();
    let path = format!("/agreements/{other}/reservations?status=active&cursor={cursor}");
    assert_problem(&h.get(&path, &w.admin).await, 422, "invalid_cursor");
}

#[tokio::test]
async fn limits_are_checked_after_access_and_before_the_cursor() {
    let w = world().await;
    let h = &w.h;
    let events = format!("/agreements/{}/events", w.agr);
    for bad in ["0", "101", "x", "-1", "1.5", ""] {
        let r = h.get(&format!("{events}?limit={bad}"), &w.bs).await;
        assert_problem(&r, 422, "invalid_limit");
    }
    // A bad limit is named before a bad cursor.
    let r = h.get(&format!("{events}?limit=0&cursor=abc"), &w.bs).await;
    assert_problem(&r, 422, "invalid_limit");
    // An agreement the caller may not see (or that does not exist) is 404 first.
    let unknown = format!("/agreements/{}/events?limit=0", AgreementId::generate());
    assert_problem(&h.get(&unknown, &w.bs).await, 404, "not_found");
    let stranger = admin("acc_01JD0000000000000000000000");
    let theirs = format!("/agreements/{}/orders?limit=0&cursor=abc", w.agr);
    assert_problem(&h.get(&theirs, &stranger).await, 404, "not_found");
    let account = format!("/accounts/{}/events?limit=0", w.account);
    assert_problem(&h.get(&account, &stranger).await, 404, "not_found");
    // A role that may never read the list is 403 before anything else.
    let r = h
        .get(
            &format!("/accounts/{}/events?limit=0", w.account),
            &specialist(),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.raw);
}

/// The trail's order is the owner's version: a transaction that writes an event but not its
/// owner is refused before it reaches the table.
#[tokio::test]
async fn an_event_without_its_owner_written_is_refused() {
    let w = world().await;
    let store = &w.h.app.store;
    let agr = AgreementId::parse(&w.agr).expect("id");
    let before = store.events(&agr).await.expect("trail").len();
    let audit = Audit::PartnerRegistered {
        partner_id: PartnerId::parse("ptn-orphan").expect("id"),
        name: "Orphan".into(),
    };
    let event = Event::new(Utc::now(), &audit, Actor::system("test"), "req");
    let mut tx = store.tx();
    tx.event(&agr, &event);
    match store.commit(tx).await {
        Err(TxFailure::Store(StoreError::Unavailable(why))) => {
            assert!(why.contains("does not write its owner"), "{why}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(store.events(&agr).await.expect("trail").len(), before);
}

/// 149 direct subscriptions beside the world's agreement: 150 pool sources, every other one
/// giving two SKUs (so that pages end inside a source). Their ids, in the order bought.
async fn many_sources(w: &World) -> Vec<String> {
    let subs = format!("/accounts/{}/subscriptions", w.account);
    let two = json!({"billing": "invoice", "lines": [
        {"sku": "d365-sales-professional", "quantity": 2},
        {"sku": "d365-team-members", "quantity": 1}]});
    let one = json!({"billing": "invoice", "lines": [{"sku": "d365-team-members", "quantity": 3}]});
    let mut ids = Vec::new();
    for i in 0..149 {
        let r =
            w.h.post(&subs, &w.admin, if i % 2 == 0 { &two } else { &one })
                .await;
        assert_eq!(r.status, 201, "{}", r.raw);
        ids.push(r.id());
    }
    ids
}

/// The pool's sources (SPEC §4), walked a line at a time: each line once, in the order the
/// sources joined the pool (the agreement with the account, then each subscription as it
/// was bought), summing to the totals the pool answers; one SKU's lines alone with `?sku=`.
#[tokio::test]
async fn the_pool_s_sources_walked_a_line_at_a_time_sum_to_its_totals() {
    let w = world().await;
    let ids = many_sources(&w).await;
    let path = format!("/accounts/{}/licenses/sources", w.account);
    let lines = w.h.walk(&path, &w.admin, "sources", 1).await;
    let mut joined: Vec<&str> = lines.iter().filter_map(|l| l["id"].as_str()).collect();
    joined.dedup();
    let mut expected = vec![w.agr.as_str()];
    expected.extend(ids.iter().map(String::as_str));
    assert_eq!(joined, expected, "the order the sources joined");
    let distinct: std::collections::HashSet<(String, String)> = lines
        .iter()
        .map(|l| (l["id"].to_string(), l["sku"].to_string()))
        .collect();
    assert_eq!(distinct.len(), lines.len(), "every line once");
    assert_eq!(lines.len(), 1 + 75 * 2 + 74);

    let pool =
        w.h.get(&format!("/accounts/{}/licenses", w.account), &w.admin)
            .await;
    let skus = pool.body["skus"].as_array().expect("skus");
    assert_eq!(skus.len(), 2, "{}", pool.raw);
    for s in skus {
        let sum: u64 = lines
            .iter()
            .filter(|l| l["sku"] == s["sku"])
            .filter_map(|l| l["quantity"].as_u64())
            .sum();
        assert_eq!(Some(sum), s["total"].as_u64(), "{s}");
    }
    assert_eq!(total(&pool.body, "d365-team-members"), 75 + 74 * 3);

    let members =
        w.h.walk(
            &format!("{path}?sku=d365-team-members"),
            &w.admin,
            "sources",
            7,
        )
        .await;
    assert_eq!(members.len(), 149);
    assert!(members.iter().all(|l| l["sku"] == "d365-team-members"));
}

/// A sources cursor goes on only with the SKU filter and the account it was given for; an
/// unknown SKU is refused by name.
#[tokio::test]
async fn a_sources_cursor_is_bound_to_its_sku_and_its_account() {
    let w = world().await;
    many_sources(&w).await;
    let path = format!("/accounts/{}/licenses/sources", w.account);
    let first =
        w.h.get(&format!("{path}?sku=d365-team-members&limit=1"), &w.bs)
            .await;
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let ok = format!("{path}?sku=d365-team-members&limit=1&cursor={cursor}");
    assert_eq!(w.h.get(&ok, &w.bs).await.status, 200);
    let other =
        w.h.post("/accounts", &w.bs, &account_body("Other"))
            .await
            .id();
    for refused in [
        format!("{path}?sku=d365-sales-professional&cursor={cursor}"),
        format!("{path}?cursor={cursor}"),
        format!("/accounts/{other}/licenses/sources?sku=d365-team-members&cursor={cursor}"),
    ] {
        assert_problem(&w.h.get(&refused, &w.bs).await, 422, "invalid_cursor");
    }
    let unknown = w.h.get(&format!("{path}?sku=d365-unheard-of"), &w.bs).await;
    assert_problem(&unknown, 422, "unknown_sku");
}

/// `?order=desc` walks every list newest first: the same items as oldest first, reversed,
/// whatever the page size; its cursors go on only in that order; any other order is refused.
#[tokio::test]
async fn every_list_walks_newest_first_when_asked() {
    let w = world().await;
    let h = &w.h;
    let subs = format!("/accounts/{}/subscriptions", w.account);
    for _ in 0..3 {
        let r = h.post(&subs, &w.admin, &faq_subscription()).await;
        assert_eq!(r.status, 201, "{}", r.raw);
    }
    let mut all = lists(&w);
    all.push((subs, &w.admin, "subscriptions"));
    let sources = format!("/accounts/{}/licenses/sources", w.account);
    all.push((sources, &w.admin, "sources"));
    for (path, token, field) in all {
        let oldest_first = h.walk(&path, token, field, 100).await;
        for limit in [1, 2, 100] {
            let mut newest_first = h
                .walk(&format!("{path}?order=desc"), token, field, limit)
                .await;
            newest_first.reverse();
            assert_eq!(
                newest_first, oldest_first,
                "{path} by {limit}, newest first"
            );
        }
        let first = h.get(&format!("{path}?order=desc&limit=1"), token).await;
        let cursor = first.body["next_cursor"].as_str().expect("a cursor");
        let ascending = format!("{path}?limit=1&cursor={cursor}");
        assert_problem(&h.get(&ascending, token).await, 422, "invalid_cursor");
        let asc = format!("{path}?order=asc&limit=1&cursor={cursor}");
        assert_problem(&h.get(&asc, token).await, 422, "invalid_cursor");
        let odd = format!("{path}?order=newest");
        assert_problem(&h.get(&odd, token).await, 422, "invalid_order");
    }
}
