//! Service requests (R18) against the emulator, through the store: one opened per
//! subscription under concurrent submits, queued for Billing Support while open, on the
//! account's trail, and resolved by the cancellation of their subscription in its transaction.

use serde_json::json;
use vls_domain::change::{Change, Stamp};
use vls_domain::model::{Account, ServiceRequestStatus, Subscription};
use vls_domain::rules::cancellation::{self, Canceller};
use vls_domain::rules::service_requests::{self, Ask};
use vls_domain::trail::Actor;
use vls_domain::types::{AccountId, ServiceRequestId};
use vls_tests::*;

/// An account with a direct subscription of 100 licences and no volume licences (R11
/// refuses its cancellation): the account and the subscription as stored.
async fn uncovered(h: &Harness) -> (Account, Subscription) {
    let bs = billing_support();
    let account = h
        .post("/accounts", &bs, &fixtures::account_body("Contoso"))
        .await
        .id();
    let body = json!({"billing": "invoice", "lines": [{"sku": "d365-sales-professional",
                      "quantity": 100}]});
    let path = format!("/accounts/{account}/subscriptions");
    let sub = h.post(&path, &admin(&account), &body).await.id();
    read(h, &AccountId::parse(&account).expect("id"), &sub).await
}

async fn read(h: &Harness, account: &AccountId, sub: &str) -> (Account, Subscription) {
    let sub = vls_domain::types::SubscriptionId::parse(sub).expect("id");
    match h.app.store.account_and_subscription(account, &sub).await {
        Ok((Some(a), Some(s))) => (a, s),
        other => panic!("{other:?}"),
    }
}

fn actor(role: &str) -> Actor {
    Actor {
        sub: format!("{role}-1"),
        role: role.to_owned(),
    }
}

async fn commit(h: &Harness, change: &Change, role: &str) -> bool {
    let stamp = Stamp {
        at: h.clock.now(),
        actor: actor(role),
        request_id: ulid::Ulid::generate().to_string(),
        via: None,
    };
    h.app.store.commit_change(change, &stamp).await.is_ok()
}

async fn actions(h: &Harness, account: &AccountId) -> Vec<serde_json::Value> {
    let path = format!("/accounts/{account}/events");
    h.walk(&path, &billing_support(), "events", 25).await
}

#[tokio::test]
async fn one_request_a_subscription_queued_while_open_and_resolved_by_its_cancellation() {
    let h = Harness::new().await;
    let store = &h.app.store;
    let (account, sub) = uncovered(&h).await;
    let now = h.clock.now();
    let admin = actor("customer_admin");
    let ask = Ask {
        message: Some("please cancel the direct one".into()),
        accept_license_loss: true,
    };
    let opening = |id: ServiceRequestId| {
        service_requests::open(
            &account,
            &sub,
            &account.volume,
            ask.clone(),
            (id, &admin),
            now,
        )
        .expect("R11 refuses it: a request may be opened")
    };
    let (first, second) = (
        opening(ServiceRequestId::generate(&account.id)),
        opening(ServiceRequestId::generate(&account.id)),
    );
    let (a, b) = tokio::join!(
        commit(&h, &first.change, "customer_admin"),
        commit(&h, &second.change, "customer_admin")
    );
    assert!(a ^ b, "concurrent submits open one request ({a}, {b})");
    let opened = if a { &first.outcome } else { &second.outcome };
    let stored = store.service_request(&opened.id).await.expect("read");
    assert_eq!(stored.as_ref(), Some(opened));
    let (queued, _) = store
        .queued_service_requests(25, None)
        .await
        .expect("queue");
    assert_eq!(
        queued,
        std::slice::from_ref(&opened.id),
        "in Billing Support's queue"
    );
    let listed = store
        .service_requests_page(&account.id, None, 25, false)
        .await
        .expect("list");
    assert_eq!(listed.items, std::slice::from_ref(opened));
    let (account, sub) = read(&h, &account.id, sub.id.as_str()).await;
    assert_eq!(sub.open_request.as_ref(), Some(&opened.id));
    let again = service_requests::open(
        &account,
        &sub,
        &account.volume,
        ask.clone(),
        (ServiceRequestId::generate(&account.id), &admin),
        now,
    );
    assert_eq!(
        again.map(|_| ()),
        Err(vls_domain::error::RuleError::ServiceRequestExists)
    );

    let who = (Canceller::BillingSupport, true);
    let done = cancellation::cancel(&account, &sub, &account.volume, who, Some(opened), now)
        .expect("billing support accepts the loss");
    assert!(commit(&h, &done.change, "billing_support").await);
    let resolved = store
        .service_request(&opened.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(resolved.status, ServiceRequestStatus::Resolved);
    let (queued, _) = store
        .queued_service_requests(25, None)
        .await
        .expect("queue");
    assert!(queued.is_empty(), "a closed request leaves the queue");
    let trail = actions(&h, &account.id).await;
    let named: Vec<&str> = trail.iter().filter_map(|e| e["action"].as_str()).collect();
    for action in [
        "service_request.opened",
        "subscription.cancelled",
        "service_request.resolved",
    ] {
        assert!(named.contains(&action), "{action} in {named:?}");
    }
    let cancelled = trail
        .iter()
        .find(|e| e["action"] == "subscription.cancelled")
        .expect("entry");
    assert_eq!(
        cancelled["details"]["service_request_id"],
        opened.id.as_str()
    );
    assert_eq!(cancelled["details"]["customer_consented"], true);
}

/// An account's administrator and Billing Support over the JSON routes (SPEC §7.2, §7.4): the
/// opening checks in their order, one request per subscription, the queue, acknowledge (twice
/// answers it as it is), decline with a note, withdraw, a closed request never changing, and
/// the cancellation resolving it.
#[tokio::test]
async fn the_routes_open_work_and_close_a_request() {
    let h = Harness::new().await;
    let (account, sub) = uncovered(&h).await;
    let (acc, bs) = (account.id.as_str(), billing_support());
    let admin = admin(acc);
    let path = format!("/accounts/{acc}/service-requests");
    let ask = |sub: &str| {
        json!({"subscription_id": sub, "message": "please\ncancel it",
                                  "accept_license_loss": true})
    };
    let bad = [
        (json!({"accept_license_loss": true}), "missing_field"),
        (
            json!({"subscription_id": "x", "accept_license_loss": true}),
            "invalid_id",
        ),
        (json!({"subscription_id": sub.id.as_str()}), "invalid_field"),
        (
            json!({"subscription_id": sub.id.as_str(), "accept_license_loss": "yes"}),
            "invalid_type",
        ),
        (
            json!({"subscription_id": sub.id.as_str(), "accept_license_loss": true,
                "message": "x".repeat(2001)}),
            "invalid_field",
        ),
    ];
    for (body, code) in bad {
        assert_problem(&h.post(&path, &admin, &body).await, 422, code);
    }
    let unknown = vls_domain::types::SubscriptionId::generate();
    assert_problem(
        &h.post(&path, &admin, &ask(unknown.as_str())).await,
        404,
        "not_found",
    );
    let opened = h.post(&path, &admin, &ask(sub.id.as_str())).await;
    assert_eq!(opened.status, 201, "{}", opened.raw);
    assert_eq!(opened.body["status"], "open");
    assert_eq!(opened.body["message"], "please\ncancel it");
    let id = opened.id();
    assert_problem(
        &h.post(&path, &admin, &ask(sub.id.as_str())).await,
        409,
        "service_request_exists",
    );
    let one = format!("/service-requests/{id}");
    assert_eq!(h.get(&one, &admin).await.body, opened.body);
    assert_problem(
        &h.get(&one, &vls_tests::admin(&ulid_account())).await,
        404,
        "not_found",
    );
    let queue = h.get("/service-requests", &bs).await;
    assert_eq!(queue.body["service_requests"][0]["id"], id.as_str());
    let refusals = [
        ("limit=0", "invalid_limit"),
        ("order=newest", "invalid_order"),
        ("cursor=nope", "invalid_cursor"),
    ];
    for (bad, code) in refusals {
        assert_problem(
            &h.get(&format!("/service-requests?{bad}"), &bs).await,
            422,
            code,
        );
        assert_problem(&h.get(&format!("{path}?{bad}"), &bs).await, 422, code);
    }
    assert_problem(
        &h.get(&format!("{path}?status=closed"), &bs).await,
        422,
        "invalid_status",
    );
    let open_ones = h.get(&format!("{path}?status=open"), &admin).await;
    assert_eq!(open_ones.body["service_requests"][0]["id"], id.as_str());
    let ack = format!("{one}/acknowledge");
    let long = json!({"note": "x".repeat(2001)});
    assert_problem(&h.post(&ack, &bs, &long).await, 422, "invalid_field");
    let nobody = format!(
        "/service-requests/{}",
        ServiceRequestId::generate(&account.id)
    );
    for step in ["acknowledge", "decline"] {
        let path = format!("{nobody}/{step}");
        let r = h.post(&path, &bs, &json!({"note": "n"})).await;
        assert_problem(&r, 404, "not_found");
    }
    let taken = h.post(&ack, &bs, &json!({"note": "looking"})).await;
    assert_eq!(
        (taken.status, &taken.body["status"]),
        (200, &json!("in_progress"))
    );
    let again = h.post(&ack, &bs, &json!({})).await;
    assert_eq!(again.body, taken.body, "acknowledged twice: as it is");
    let decline = format!("{one}/decline");
    assert_problem(
        &h.post(&decline, &bs, &json!({})).await,
        422,
        "invalid_field",
    );
    let declined = h
        .post(&decline, &bs, &json!({"note": "order more first"}))
        .await;
    assert_eq!(declined.body["status"], "declined", "{}", declined.raw);
    let withdraw = format!("{one}/withdraw");
    assert_problem(
        &h.post(&withdraw, &admin, &json!({})).await,
        409,
        "service_request_closed",
    );
    assert_problem(
        &h.post(&ack, &bs, &json!({})).await,
        409,
        "service_request_closed",
    );
    assert_problem(
        &h.post(&decline, &bs, &json!({"note": "n"})).await,
        409,
        "service_request_closed",
    );

    // Open again (the subscription may have one again), withdraw it, open a third and
    // cancel the subscription: that one is resolved.
    let second = h.post(&path, &admin, &ask(sub.id.as_str())).await.id();
    let gone = h
        .post(
            &format!("/service-requests/{second}/withdraw"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(gone.body["status"], "withdrawn", "{}", gone.raw);
    let third = h.post(&path, &admin, &ask(sub.id.as_str())).await.id();
    let cancel = format!("/accounts/{acc}/subscriptions/{}/cancellation", sub.id);
    let body = json!({"reason": "replaced", "accept_license_loss": true});
    assert_eq!(h.post(&cancel, &bs, &body).await.status, 200);
    let resolved = h.get(&format!("/service-requests/{third}"), &bs).await;
    assert_eq!(resolved.body["status"], "resolved", "{}", resolved.raw);
    assert_problem(
        &h.post(&path, &admin, &ask(sub.id.as_str())).await,
        409,
        "subscription_already_cancelled",
    );
}

/// A subscription the account's volume licences cover is its administrator's to cancel: no
/// request is opened for it.
#[tokio::test]
async fn a_covered_subscription_is_not_for_a_request() {
    let w = Tenancy::new().await;
    let h = &w.h;
    let agr = w.associated("EA", "2026-03-15").await;
    let lines = fixtures::covering_lines();
    let order = h
        .post(
            "/orders",
            &w.partner,
            &fixtures::order_body(&agr, lines, None),
        )
        .await;
    let invoice = format!("/orders/{}/invoice", order.id());
    assert_eq!(h.post(&invoice, &w.partner, &json!({})).await.status, 200);
    let subs = format!("/accounts/{}/subscriptions", w.account);
    let sub = h
        .post(&subs, &w.admin, &fixtures::faq_subscription())
        .await
        .id();
    let path = format!("/accounts/{}/service-requests", w.account);
    let ask = json!({"subscription_id": sub, "accept_license_loss": false});
    let refused = h.post(&path, &w.admin, &ask).await;
    assert_problem(&refused, 409, "cancellation_available");
}

fn ulid_account() -> String {
    AccountId::generate().to_string()
}
