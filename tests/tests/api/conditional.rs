//! Conditional requests (SPEC §4.1 8): a strong ETag from the representation on every read of
//! an account, agreement, order, reservation, subscription and the pool (and on the changes
//! that answer them); 304 for a matching If-None-Match; If-Match on exactly the routes that
//! honour it, 412 `precondition_failed` when it does not match or the resource changed
//! between the check and the write — nothing written either way.

use serde_json::{Value, json};
use vls_tests::fixtures::*;
use vls_tests::*;

fn etag(r: &Resp) -> String {
    r.headers
        .get("etag")
        .cloned()
        .unwrap_or_else(|| panic!("no ETag: {}", r.raw))
}

/// An EA associated with the tenancy's account from the start, with an invoiced order and
/// a reservation: (agreement, order, reservation, the account's subscription).
async fn world() -> (Tenancy, String, String, String, String) {
    let t = Tenancy::new().await;
    t.h.clock.set(at("2026-11-28T10:00:00Z"));
    let agr = t.associated("EA", "2026-03-15").await;
    let lines = json!([{"sku": "d365-sales-professional", "quantity": 5}]);
    let order =
        t.h.post(
            "/orders",
            &t.partner,
            &order_body(&agr, lines.clone(), None),
        )
        .await
        .id();
    let r =
        t.h.post(&format!("/orders/{order}/invoice"), &t.partner, &json!({}))
            .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let path = format!("/agreements/{agr}/reservations");
    let res =
        t.h.post(&path, &t.admin, &json!({ "lines": lines }))
            .await
            .id();
    let subs = format!("/accounts/{}/subscriptions", t.account);
    let sub = t.h.post(&subs, &t.admin, &faq_subscription()).await.id();
    (t, agr, order, res, sub)
}

#[tokio::test]
async fn a_tag_changes_exactly_when_the_representation_does_and_a_match_is_304() {
    let (t, agr, order, res, sub) = world().await;
    let h = &t.h;
    let reads = [
        format!("/accounts/{}", t.account),
        format!("/accounts/{}/subscriptions/{sub}", t.account),
        format!("/accounts/{}/licenses", t.account),
        format!("/agreements/{agr}"),
        format!("/orders/{order}"),
        format!("/reservations/{res}"),
    ];
    let mut tags = Vec::new();
    for path in &reads {
        let first = h.get(path, &t.bs).await;
        let again = h.get(path, &t.bs).await;
        assert_eq!(
            etag(&first),
            etag(&again),
            "{path}: the same body, the same tag"
        );
        let hit = h
            .with_header("GET", path, &t.bs, None, ("if-none-match", &etag(&first)))
            .await;
        assert_eq!((hit.status, hit.raw.as_str()), (304, ""), "{path}");
        assert_eq!(hit.headers.get("etag"), Some(&etag(&first)), "{path}");
        let weak = format!("W/{}", etag(&first));
        let hit = h
            .with_header("GET", path, &t.bs, None, ("if-none-match", &weak))
            .await;
        assert_eq!(hit.status, 304, "{path}: If-None-Match compares weakly");
        let miss = h
            .with_header("GET", path, &t.bs, None, ("if-none-match", "\"old\""))
            .await;
        assert_eq!((miss.status, &miss.body), (200, &first.body), "{path}");
        tags.push(etag(&first));
    }
    // The OSM changes: the agreement's tag moves, and the change answers the new one.
    let osm = json!({"name": "Noah New", "email": "noah@contoso.com"});
    let changed = h
        .put(&format!("/agreements/{agr}/osm"), &t.partner, &osm)
        .await;
    let after = h.get(&reads[3], &t.bs).await;
    assert_ne!(etag(&after), tags[3]);
    assert_eq!(
        etag(&changed),
        etag(&after),
        "the change answers the tag a read gives"
    );
    let stale = h
        .with_header("GET", &reads[3], &t.bs, None, ("if-none-match", &tags[3]))
        .await;
    assert_eq!(stale.status, 200);
    // The anniversary bills the reservation without rewriting it: its tag moves all the
    // same. Every tag moves exactly when its body does.
    let bodies: Vec<Value> = {
        let mut v = Vec::new();
        for path in &reads {
            v.push(h.get(path, &t.bs).await.body);
        }
        v
    };
    let tags: Vec<String> = {
        let mut v = Vec::new();
        for path in &reads {
            v.push(etag(&h.get(path, &t.bs).await));
        }
        v
    };
    h.run_true_up(at("2027-03-15T06:00:00Z")).await;
    let billed = h.get(&reads[5], &t.bs).await;
    assert_eq!(billed.body["status"], "billed", "{}", billed.raw);
    assert_ne!(etag(&billed), tags[5], "billed, so another representation");
    for (i, path) in reads.iter().enumerate() {
        let now = h.get(path, &t.bs).await;
        assert_eq!(
            etag(&now) != tags[i],
            now.body != bodies[i],
            "{path}: the tag moves exactly when the body does"
        );
    }
    assert_eq!(
        etag(&h.get(&reads[4], &t.bs).await),
        tags[4],
        "the order is unchanged"
    );
}

/// Each route that honours If-Match, with the representation it is checked against.
fn conditional_routes(
    t: &Tenancy,
    agr: &str,
    order: &str,
    res: &str,
    sub: &str,
) -> Vec<(&'static str, String, String, Value, String)> {
    let other = "acc_01JFQ90A2C4E6G8J0L2N4Q6S8U";
    vec![
        (
            "PUT",
            format!("/agreements/{agr}/osm"),
            t.partner.clone(),
            json!({"name": "Noah New", "email": "noah@contoso.com"}),
            format!("/agreements/{agr}"),
        ),
        (
            "POST",
            format!("/agreements/{agr}/remap"),
            billing_support(),
            json!({"target_account_id": other, "reason": "r"}),
            format!("/agreements/{agr}"),
        ),
        (
            "POST",
            format!("/agreements/{agr}/amendments"),
            specialist(),
            json!({"kind": "separate_online_services", "reason": "r"}),
            format!("/agreements/{agr}"),
        ),
        (
            "POST",
            format!("/orders/{order}/invoice"),
            t.partner.clone(),
            json!({}),
            format!("/orders/{order}"),
        ),
        (
            "POST",
            format!("/reservations/{res}/cancel"),
            t.admin.clone(),
            json!({}),
            format!("/reservations/{res}"),
        ),
        (
            "POST",
            format!("/accounts/{}/subscriptions/{sub}/cancellation", t.account),
            billing_support(),
            json!({"reason": "r", "accept_license_loss": true}),
            format!("/accounts/{}/subscriptions/{sub}", t.account),
        ),
    ]
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_writes_nothing() {
    let (t, agr, _, res, sub) = world().await;
    let h = &t.h;
    // A fresh, placed order: invoicing it is the change under test.
    let lines = json!([{"sku": "d365-team-members", "quantity": 1}]);
    let order = h
        .post("/orders", &t.partner, &order_body(&agr, lines, None))
        .await
        .id();
    for (method, path, token, body, resource) in conditional_routes(&t, &agr, &order, &res, &sub) {
        let before = h.get(&resource, &t.bs).await;
        let trail = h
            .walk(&format!("/agreements/{agr}/events"), &t.bs, "events", 100)
            .await;
        let items = h.item_count().await;
        for stale in ["\"stale\"", &format!("W/{}", etag(&before))] {
            let r = h
                .with_header(method, &path, &token, Some(&body), ("if-match", stale))
                .await;
            assert_problem(&r, 412, "precondition_failed");
        }
        assert_eq!(h.item_count().await, items, "{path}: nothing written");
        let now = h.get(&resource, &t.bs).await;
        assert_eq!(
            etag(&now),
            etag(&before),
            "{path}: the resource is as it was"
        );
        let trail_now = h
            .walk(&format!("/agreements/{agr}/events"), &t.bs, "events", 100)
            .await;
        assert_eq!(trail_now, trail, "{path}: the trail is as it was");
    }
    // The current tag, or `*`, lets the change through (to its rules).
    let routes = conditional_routes(&t, &agr, &order, &res, &sub);
    let (method, path, token, body, resource) = &routes[0];
    let current = etag(&h.get(resource, &t.bs).await);
    let r = h
        .with_header(method, path, token, Some(body), ("if-match", &current))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let (method, path, token, body, _) = &routes[3];
    let r = h
        .with_header(method, path, token, Some(body), ("if-match", "*"))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
}

/// A write that lands between the check and the commit (here the commit's conditions fail
/// as when another writer got there first): under If-Match, 412 at once, never a retry on
/// the changed resource; without it, the change is retried and ends 409.
#[tokio::test]
async fn a_change_between_the_check_and_the_write_is_412_not_a_lost_update() {
    let (t, agr, ..) = world().await;
    let h = &t.h;
    let path = format!("/agreements/{agr}");
    let before = h.get(&path, &t.bs).await;
    let osm = json!({"name": "Noah New", "email": "noah@contoso.com"});
    h.faults.lose_conditional_puts(true);
    let r = h
        .with_header(
            "PUT",
            &format!("{path}/osm"),
            &t.partner,
            Some(&osm),
            ("if-match", &etag(&before)),
        )
        .await;
    h.faults.lose_conditional_puts(false);
    assert_problem(&r, 412, "precondition_failed");
    h.faults.lose_conditional_puts(true);
    let r = h.put(&format!("{path}/osm"), &t.partner, &osm).await;
    h.faults.lose_conditional_puts(false);
    assert_problem(&r, 409, "concurrent_update");
    assert_eq!(
        etag(&h.get(&path, &t.bs).await),
        etag(&before),
        "nothing was written"
    );
}

/// A create answers its representation's tag, and its replay the same one.
#[tokio::test]
async fn a_create_and_its_replay_carry_the_tag() {
    let t = Tenancy::new().await;
    let h = &t.h;
    let body = account_body("Fabrikam Retail").to_string();
    let first = h
        .call("POST", "/accounts", Some(&t.bs), Some(&body), Some("acc-1"))
        .await;
    let again = h
        .call("POST", "/accounts", Some(&t.bs), Some(&body), Some("acc-1"))
        .await;
    assert!(again.replayed);
    assert_eq!(etag(&again), etag(&first));
    let read = h.get(&format!("/accounts/{}", first.id()), &t.bs).await;
    assert_eq!(etag(&read), etag(&first));
}
