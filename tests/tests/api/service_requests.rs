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
