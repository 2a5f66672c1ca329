//! Every create answers 201 with the `Location` of what it created (SPEC §4.1 6): reading it
//! there answers what the create answered, and a replay of the create (same Idempotency-Key)
//! sends the same `Location` again.

use serde_json::{Value, json};
use vls_tests::fixtures::*;
use vls_tests::*;

/// A create with an Idempotency-Key: its 201 and its `Location`, which a replay repeats.
async fn create(h: &Harness, path: &str, token: &str, body: &Value) -> (Resp, String) {
    let key = format!("create-{}", path.replace('/', "-"));
    let body = body.to_string();
    let r = h
        .call("POST", path, Some(token), Some(&body), Some(&key))
        .await;
    assert_eq!(r.status, 201, "{path}: {}", r.raw);
    let location = r.headers.get("location").cloned().expect("a Location");
    let again = h
        .call("POST", path, Some(token), Some(&body), Some(&key))
        .await;
    assert_eq!(
        (again.status, again.replayed, again.headers.get("location")),
        (201, true, Some(&location)),
        "{path}: the replay"
    );
    (r, location)
}

/// What is at `location`, read by `token`, is what the create answered.
async fn reads_back(h: &Harness, (created, location): &(Resp, String), token: &str) {
    let read = h.get(location, token).await;
    assert_eq!(read.status, 200, "{location}: {}", read.raw);
    assert_eq!(read.body, created.body, "{location}");
}

#[tokio::test]
async fn every_create_can_be_read_at_its_location() {
    let t = Tenancy::new().await;
    t.h.clock.set(at("2026-11-28T10:00:00Z"));
    let h = &t.h;

    let account = create(h, "/accounts", &t.bs, &account_body("Fabrikam Retail")).await;
    assert_eq!(account.1, format!("/accounts/{}", account.0.id()));
    reads_back(h, &account, &t.bs).await;

    let subs = format!("/accounts/{}/subscriptions", t.account);
    let sub = create(h, &subs, &t.admin, &faq_subscription()).await;
    assert_eq!(sub.1, format!("{subs}/{}", sub.0.id()));
    reads_back(h, &sub, &t.admin).await;

    let mut bound = agreement_body("4711", "2026-03-15");
    bound["online_services_account_id"] = json!(t.account);
    let agreement = create(h, "/agreements", &t.partner, &bound).await;
    let agr = agreement.0.id();
    assert_eq!(agreement.1, format!("/agreements/{agr}"));
    reads_back(h, &agreement, &t.partner).await;

    let lines = json!([{"sku": "d365-sales-professional", "quantity": 5}]);
    let order = create(
        h,
        "/orders",
        &t.partner,
        &order_body(&agr, lines.clone(), None),
    )
    .await;
    assert_eq!(order.1, format!("/orders/{}", order.0.id()));
    reads_back(h, &order, &t.partner).await;

    let reservations = format!("/agreements/{agr}/reservations");
    let reservation = create(h, &reservations, &t.admin, &json!({ "lines": lines })).await;
    assert_eq!(
        reservation.1,
        format!("/reservations/{}", reservation.0.id())
    );
    reads_back(h, &reservation, &t.admin).await;

    // An amendment is no resource of its own: its Location is the agreement it changed.
    let amend = json!({"kind": "separate_online_services", "reason": "asked for"});
    let path = format!("/agreements/{agr}/amendments");
    let (amended, location) = create(h, &path, &specialist(), &amend).await;
    assert_eq!(location, format!("/agreements/{agr}"), "{}", amended.raw);
    let read = h.get(&location, &t.partner).await;
    assert_eq!(
        read.body["bound_to_online_services"],
        json!(false),
        "{}",
        read.raw
    );
}

/// The new reads answer for their own callers only, and a subscription list is filtered by
/// status.
#[tokio::test]
async fn accounts_subscriptions_and_reservations_are_read_one_by_one() {
    let t = Tenancy::new().await;
    let h = &t.h;
    let subs = format!("/accounts/{}/subscriptions", t.account);
    let first = h.post(&subs, &t.admin, &faq_subscription()).await.id();
    let second = h.post(&subs, &t.admin, &faq_subscription()).await.id();
    let cancel = format!("{subs}/{first}/cancellation");
    let r = h
        .post(
            &cancel,
            &t.bs,
            &json!({"reason": "r", "accept_license_loss": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let ids = |r: &Resp| -> Vec<String> {
        r.body["subscriptions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_str().map(str::to_owned))
            .collect()
    };
    let all = h.get(&subs, &t.admin).await;
    assert_eq!(
        ids(&all),
        [first.clone(), second.clone()],
        "in the order bought"
    );
    let active = h.get(&format!("{subs}?status=active"), &t.admin).await;
    assert_eq!(ids(&active), std::slice::from_ref(&second));
    let cancelled = h.get(&format!("{subs}?status=cancelled"), &t.bs).await;
    assert_eq!(ids(&cancelled), std::slice::from_ref(&first));
    assert_problem(
        &h.get(&format!("{subs}?status=gone"), &t.bs).await,
        422,
        "invalid_status",
    );

    let account = h.get(&format!("/accounts/{}", t.account), &t.admin).await;
    assert_eq!(account.body["id"], json!(t.account), "{}", account.raw);
    assert!(
        account.body.get("volume").is_none(),
        "the pool shows the licences"
    );
    let other = h
        .post("/accounts", &t.bs, &account_body("Other"))
        .await
        .id();
    let stranger = admin(&other);
    for path in [
        format!("/accounts/{}", t.account),
        subs.clone(),
        format!("{subs}/{second}"),
    ] {
        assert_problem(&h.get(&path, &stranger).await, 404, "not_found");
    }
    // Another account's subscription under this account's path is not found either.
    let theirs = h
        .post(
            &format!("/accounts/{other}/subscriptions"),
            &stranger,
            &faq_subscription(),
        )
        .await
        .id();
    assert_problem(
        &h.get(&format!("{subs}/{theirs}"), &t.bs).await,
        404,
        "not_found",
    );

    let agr = t.associated("EA", "2026-03-15").await;
    let lines = json!([{"sku": "d365-team-members", "quantity": 2}]);
    let res = h
        .post(
            &format!("/agreements/{agr}/reservations"),
            &t.admin,
            &json!({ "lines": lines }),
        )
        .await
        .id();
    let path = format!("/reservations/{res}");
    for token in [&t.admin, &t.partner, &t.bs] {
        let r = h.get(&path, token).await;
        assert_eq!(
            (r.status, r.body["id"].as_str()),
            (200, Some(res.as_str())),
            "{}",
            r.raw
        );
    }
    assert_problem(&h.get(&path, &stranger).await, 404, "not_found");
    assert_problem(&h.get(&path, &partner("p2")).await, 404, "not_found");
    assert_eq!(h.get(&path, &specialist()).await.status, 403);
}
