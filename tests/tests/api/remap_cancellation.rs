//! Remap, amendments and cancelling the direct subscription (R7, R11, R15) against the
//! emulator, and the races between them and invoicing or reserving.

use serde_json::{Value, json};
use vls_tests::fixtures::*;
use vls_tests::*;

struct World {
    h: Harness,
    bs: String,
    partner: String,
    account: String,
    admin: String,
    subscription: String,
    agreement: String,
}

/// The README walkthrough up to activation: 50 direct seats (+ add-ons), an EA with a
/// covering order of 50, invoiced and activated into the account.
async fn activated() -> (Harness, Migration) {
    let h = Harness::new().await;
    h.clock.set(at("2026-11-28T10:00:00Z"));
    let m = invoiced_migration(&h).await;
    h.sweep().await;
    let token = link_token(h.mail().last().expect("mail")).expect("link");
    h.associate(&token, &m.admin, &m.account).await;
    (h, m)
}

async fn reserve(h: &Harness, m: &Migration, quantity: u64) -> Resp {
    let seats = json!({"lines": [{"sku": "d365-sales-professional", "quantity": quantity}]});
    h.post(
        &format!("/agreements/{}/reservations", m.agreement),
        &m.admin,
        &seats,
    )
    .await
}

/// The walkthrough, activated, with 5 reserved seats.
async fn walkthrough() -> World {
    let (h, m) = activated().await;
    let r = reserve(&h, &m, 5).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    World {
        h,
        bs: m.bs,
        partner: m.partner,
        account: m.account,
        admin: m.admin,
        subscription: m.subscription,
        agreement: m.agreement,
    }
}

async fn seats(h: &Harness, account: &str) -> u64 {
    total(
        &h.get(&format!("/accounts/{account}/licenses"), &billing_support())
            .await
            .body,
        "d365-sales-professional",
    )
}

fn cancellation(reason: &str, accept: Option<bool>) -> Value {
    let mut b = json!({ "reason": reason });
    if let Some(a) = accept {
        b["accept_license_loss"] = json!(a);
    }
    b
}

#[tokio::test]
async fn cancelling_an_uncovered_subscription_needs_billing_supports_override() {
    let h = Harness::new().await;
    let bs = billing_support();
    let account = h
        .post("/accounts", &bs, &account_body("Contoso"))
        .await
        .id();
    let admin = admin(&account);
    let body = json!({"billing": "invoice", "lines": [{"sku": "d365-sales-professional",
                      "quantity": 100}]});
    let sub = h
        .post(&format!("/accounts/{account}/subscriptions"), &admin, &body)
        .await
        .id();
    let path = format!("/accounts/{account}/subscriptions/{sub}/cancellation");

    let preview = h
        .get(
            &format!("/accounts/{account}/subscriptions/{sub}/cancellation-preview"),
            &admin,
        )
        .await;
    assert_eq!(preview.body["would_pass"], false);
    assert_eq!(
        preview.body["coverage"],
        json!([{"sku": "d365-sales-professional", "direct": 100, "volume": 0, "relied_on": 0,
            "available": 0, "covered": false}])
    );

    let r = h
        .post(&path, &admin, &cancellation("moving to an EA", None))
        .await;
    assert_problem(&r, 409, "cancellation_would_lose_licenses");
    assert_eq!(
        r.body["shortfalls"],
        json!([{"sku": "d365-sales-professional", "direct": 100, "volume": 0, "relied_on": 0,
            "available": 0}])
    );
    let r = h
        .post(&path, &admin, &cancellation("I accept", Some(true)))
        .await;
    assert_eq!(r.status, 403, "only billing support may override");
    assert_eq!(
        h.post(&path, &partner("p1"), &cancellation("x", None))
            .await
            .status,
        403
    );

    let r = h
        .post(
            &path,
            &bs,
            &cancellation("customer confirmed by phone", Some(true)),
        )
        .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("cancelled")),
        "{}",
        r.raw
    );
    assert_eq!(
        seats(&h, &account).await,
        0,
        "a cancelled subscription leaves the pool"
    );
    let trail = h.get(&format!("/accounts/{account}/events"), &bs).await;
    let last = trail.body["events"]
        .as_array()
        .and_then(|e| e.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["action"], "subscription.cancelled");
    assert_eq!(last["reason"], "customer confirmed by phone");
    assert_eq!(last["details"]["license_loss_accepted"], true);
    assert_eq!(
        last["details"]["shortfalls"],
        json!([{"sku": "d365-sales-professional", "direct": 100, "volume": 0, "relied_on": 0,
            "available": 0}])
    );
    let r = h.post(&path, &bs, &cancellation("again", Some(true))).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("subscription_already_cancelled"))
    );
}

/// The direct subscription cancelled, then refused a second cancellation.
async fn assert_the_subscription_cancels_once(w: &World) {
    let h = &w.h;
    let path = format!(
        "/accounts/{}/subscriptions/{}/cancellation",
        w.account, w.subscription
    );
    let r = h
        .post(&path, &w.admin, &cancellation("moved to the EA", None))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(seats(h, &w.account).await, 55);
    let r = h.post(&path, &w.admin, &cancellation("again", None)).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("subscription_already_cancelled"))
    );
}

/// Remap to `new`: not by the admin; refused while the cancelled subscription relies on
/// the licences, nothing moved; then, the loss accepted, every licence of the agreement
/// moves and the trail says so.
async fn assert_the_remap_needs_the_loss_accepted(w: &World, new: &str) {
    let h = &w.h;
    let remap = format!("/agreements/{}/remap", w.agreement);
    let by_admin = json!({"target_account_id": new, "reason": "x"});
    assert_eq!(h.post(&remap, &w.admin, &by_admin).await.status, 403);
    let body = json!({"target_account_id": new, "reason": "attached to the wrong tenant"});
    let r = h.post(&remap, &w.bs, &body).await;
    assert_problem(&r, 409, "would_lose_relied_on_licenses");
    assert_eq!(
        r.body["shortfalls"][0],
        json!({"sku": "d365-sales-professional", "removed": 55, "volume": 0, "relied_on": 50,
            "available": -50})
    );
    assert_eq!(seats(h, &w.account).await, 55, "nothing moved");
    let mut accepted = body.clone();
    accepted["accept_license_loss"] = json!(true);
    let r = h.post(&remap, &w.bs, &accepted).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let trail = h
        .get(&format!("/agreements/{}/events", w.agreement), &w.bs)
        .await;
    let last = trail.body["events"]
        .as_array()
        .and_then(|e| e.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["action"], "agreement.remapped");
    assert_eq!(last["details"]["license_loss_accepted"], true);
    assert_eq!(
        last["details"]["shortfalls"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        r.body,
        json!({"agreement_id": w.agreement, "from_account_id": w.account, "to_account_id": new})
    );
}

/// Remaps refused: to the account it is on, to an unknown account, of an agreement on no
/// account.
async fn assert_pointless_remaps_are_refused(w: &World, new: &str) {
    let h = &w.h;
    let remap = format!("/agreements/{}/remap", w.agreement);
    let again = json!({"target_account_id": new, "reason": "again"});
    let r = h.post(&remap, &w.bs, &again).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("same_account"))
    );
    let unknown = json!({"target_account_id": "acc_01JD0000000000000000000000", "reason": "x"});
    let r = h.post(&remap, &w.bs, &unknown).await;
    assert_eq!(r.status, 404);
    let body = agreement_body("77", "2026-03-15");
    let unassociated = h.post("/agreements", &w.partner, &body).await.id();
    let to_new = json!({"target_account_id": new, "reason": "x"});
    let r = h
        .post(&format!("/agreements/{unassociated}/remap"), &w.bs, &to_new)
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("agreement_not_associated"))
    );
}

#[tokio::test]
async fn the_walkthrough_cancels_remaps_and_amends() {
    let w = walkthrough().await;
    let h = &w.h;
    assert_eq!(seats(h, &w.account).await, 50 + 50 + 5);
    assert_the_subscription_cancels_once(&w).await;

    // Remap to a new account: every licence of the agreement moves. The cancelled
    // subscription relies on them, so that takes billing support's acceptance.
    let new = h
        .post("/accounts", &w.bs, &account_body("Contoso Holding"))
        .await
        .id();
    assert_the_remap_needs_the_loss_accepted(&w, &new).await;
    assert_eq!(seats(h, &w.account).await, 0);
    assert_eq!(seats(h, &new).await, 55);
    let sources = h
        .get(
            &format!("/accounts/{new}/licenses/sources?sku=d365-sales-professional"),
            &w.bs,
        )
        .await;
    assert_eq!(
        sources.body["sources"],
        json!([{"sku": "d365-sales-professional", "kind": "agreement", "id": w.agreement,
                "quantity": 55}]),
        "the agreement's licences moved with it"
    );
    assert_pointless_remaps_are_refused(&w, &new).await;
    // The new account's admin sees the agreement; the old one no longer does.
    let agreement = format!("/agreements/{}", w.agreement);
    assert_eq!(h.get(&agreement, &admin(&new)).await.status, 200);
    assert_eq!(h.get(&agreement, &w.admin).await.status, 404);
}

#[tokio::test]
async fn an_online_services_agreement_moves_only_after_the_specialists_amendment() {
    let h = Harness::new().await;
    let bs = billing_support();
    h.put("/partners/p1", &bs, &partner_body("Fabrikam")).await;
    let p = partner("p1");
    let mos = h
        .post("/accounts", &bs, &mos_account_body("Contoso 365"))
        .await
        .id();
    let mut body = agreement_body("1", "2026-03-15");
    body["online_services_account_id"] = json!(mos);
    let agr = h.post("/agreements", &p, &body).await.id();
    let order = h
        .post(
            "/orders",
            &p,
            &order_body(
                &agr,
                json!([{"sku": "d365-sales-enterprise", "quantity": 30}]),
                None,
            ),
        )
        .await
        .id();
    h.post(&format!("/orders/{order}/invoice"), &p, &json!({}))
        .await;
    let target = h
        .post("/accounts", &bs, &account_body("Contoso CRM"))
        .await
        .id();
    let remap = format!("/agreements/{agr}/remap");
    let r = h
        .post(
            &remap,
            &bs,
            &json!({"target_account_id": target, "reason": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("agreement_bound_to_online_services"))
    );

    let amend = format!("/agreements/{agr}/amendments");
    let body = json!({"kind": "separate_online_services",
                      "reason": "customer wants CRM on its own tenant"});
    assert_eq!(
        h.post(&amend, &bs, &body).await.status,
        403,
        "billing support cannot amend"
    );
    let r = h.post(&amend, &specialist(), &body).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(r.body["kind"], "separate_online_services");
    let a = h.get(&format!("/agreements/{agr}"), &bs).await;
    assert_eq!(
        (
            a.body["bound_to_online_services"].as_bool(),
            a.body["account_id"].as_str()
        ),
        (Some(false), Some(mos.as_str()))
    );
    assert_eq!(
        total(
            &h.get(&format!("/accounts/{mos}/licenses"), &bs).await.body,
            "d365-sales-enterprise"
        ),
        30,
        "the licences stay"
    );
    let again = h.post(&amend, &specialist(), &body).await;
    assert_eq!(
        (again.status, again.body["code"].as_str()),
        (409, Some("not_bound_to_online_services"))
    );

    let r = h
        .post(
            &remap,
            &bs,
            &json!({"target_account_id": target, "reason": "after the amendment"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        total(
            &h.get(&format!("/accounts/{target}/licenses"), &bs)
                .await
                .body,
            "d365-sales-enterprise"
        ),
        30
    );
    assert_eq!(
        total(
            &h.get(&format!("/accounts/{mos}/licenses"), &bs).await.body,
            "d365-sales-enterprise"
        ),
        0
    );
}

/// A remap racing an invoice on the same agreement: the invoiced licences end up counted once,
/// in the account the agreement is associated with at the end.
#[tokio::test]
async fn race_remap_against_invoice() {
    let w = walkthrough().await;
    let h = &w.h;
    let order = h
        .post(
            "/orders",
            &w.partner,
            &order_body(
                &w.agreement,
                json!([{"sku": "d365-sales-professional", "quantity": 20}]),
                None,
            ),
        )
        .await
        .id();
    let new = h.post("/accounts", &w.bs, &account_body("New")).await.id();
    let invoice_path = format!("/orders/{order}/invoice");
    let remap_path = format!("/agreements/{}/remap", w.agreement);
    let remap_body = json!({"target_account_id": new, "reason": "race"});
    let empty = json!({});
    let (inv, remap) = tokio::join!(
        h.post(&invoice_path, &w.partner, &empty),
        h.post(&remap_path, &w.bs, &remap_body),
    );
    assert_eq!(
        (inv.status, remap.status),
        (200, 200),
        "{} {}",
        inv.raw,
        remap.raw
    );
    assert_eq!(
        seats(h, &w.account).await,
        50,
        "only the direct seats stay behind"
    );
    assert_eq!(
        seats(h, &new).await,
        50 + 5 + 20,
        "every volume licence moved, the new order once"
    );
    let got = h.get(&format!("/orders/{order}"), &w.bs).await;
    assert_eq!(got.body["attached_account_id"], new.as_str());
}

/// A remap racing a reservation: the reservation either lands before the move (and moves with
/// the agreement) or is refused; no licence is counted twice or lost.
#[tokio::test]
async fn race_remap_against_reservation() {
    let w = walkthrough().await;
    let h = &w.h;
    let new = h.post("/accounts", &w.bs, &account_body("New")).await.id();
    let reserve_path = format!("/agreements/{}/reservations", w.agreement);
    let reserve_body = json!({"lines": [{"sku": "d365-sales-professional", "quantity": 7}]});
    let remap_path = format!("/agreements/{}/remap", w.agreement);
    let remap_body = json!({"target_account_id": new, "reason": "race"});
    let (res, remap) = tokio::join!(
        h.post(&reserve_path, &w.admin, &reserve_body),
        h.post(&remap_path, &w.bs, &remap_body),
    );
    assert_eq!(remap.status, 200, "{}", remap.raw);
    assert!(res.status == 201 || res.status == 404, "{}", res.raw);
    let reserved = if res.status == 201 { 7 } else { 0 };
    assert_eq!(seats(h, &w.account).await, 50);
    assert_eq!(seats(h, &new).await, 50 + 5 + reserved);
}

/// A cancellation racing the remap that takes its covering licences away: exactly one of
/// them passes. Either the cancellation came first (and the remap is refused: the cancelled
/// subscription relies on the agreement's licences), or the remap did (and the cancellation
/// sees the licences gone and refuses).
#[tokio::test]
async fn race_cancellation_against_remap() {
    let w = walkthrough().await;
    let h = &w.h;
    let new = h.post("/accounts", &w.bs, &account_body("New")).await.id();
    let cancel_path = format!(
        "/accounts/{}/subscriptions/{}/cancellation",
        w.account, w.subscription
    );
    let remap_path = format!("/agreements/{}/remap", w.agreement);
    let remap_body = json!({"target_account_id": new, "reason": "race"});
    let cancel_body = cancellation("moved to the EA", None);
    let (cancel, remap) = tokio::join!(
        h.post(&cancel_path, &w.admin, &cancel_body),
        h.post(&remap_path, &w.bs, &remap_body),
    );
    match (cancel.status, remap.status) {
        (200, 409) => {
            assert_eq!(
                remap.body["code"], "would_lose_relied_on_licenses",
                "{}",
                remap.raw
            );
            assert_eq!(seats(h, &w.account).await, 55, "the licences stayed");
        }
        (409, 200) => {
            assert_eq!(
                cancel.body["code"], "cancellation_would_lose_licenses",
                "{}",
                cancel.raw
            );
            assert_eq!(
                seats(h, &w.account).await,
                50,
                "the direct subscription is still there"
            );
        }
        other => panic!("unexpected {other:?}: {} / {}", cancel.raw, remap.raw),
    }
}

fn cancel_path(m: &Migration, sub: &str) -> String {
    format!("/accounts/{}/subscriptions/{sub}/cancellation", m.account)
}

async fn direct_seats(h: &Harness, m: &Migration, quantity: u64) -> String {
    let body = json!({"billing": "credit_card",
        "lines": [{"sku": "d365-sales-professional", "quantity": quantity}]});
    h.post(
        &format!("/accounts/{}/subscriptions", m.account),
        &m.admin,
        &body,
    )
    .await
    .id()
}

/// The walkthrough activated, a second direct subscription of 50 seats, and the first (the
/// FAQ's) cancelled, relying on the EA's 50 seats: the harness, the walkthrough, the second.
async fn first_cancelled() -> (Harness, Migration, String) {
    let (h, m) = activated().await;
    let second = direct_seats(&h, &m, 50).await;
    let r = h
        .post(
            &cancel_path(&m, &m.subscription),
            &m.admin,
            &cancellation("to the EA", None),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    (h, m, second)
}

/// R11: each volume licence stands in for ONE cancelled direct licence. Two direct
/// subscriptions of 50 seats and an EA of 50: the first cancellation passes, the second is
/// refused (relied_on 50, available 0), and billing support's override is audited.
#[tokio::test]
async fn the_same_volume_licences_cover_one_cancellation_only() {
    let (h, m, second) = first_cancelled().await;
    let preview = h
        .get(
            &format!(
                "/accounts/{}/subscriptions/{second}/cancellation-preview",
                m.account
            ),
            &m.admin,
        )
        .await;
    let expected = json!({"sku": "d365-sales-professional", "direct": 50, "volume": 50,
        "relied_on": 50, "available": 0});
    let mut covered = expected.clone();
    covered["covered"] = json!(false);
    assert_eq!(
        preview.body["coverage"],
        json!([covered]),
        "{}",
        preview.raw
    );
    assert_eq!(preview.body["would_pass"], false);
    let r = h
        .post(
            &cancel_path(&m, &second),
            &m.admin,
            &cancellation("also", None),
        )
        .await;
    assert_problem(&r, 409, "cancellation_would_lose_licenses");
    assert_eq!(r.body["shortfalls"], json!([expected]));
    assert_eq!(seats(&h, &m.account).await, 50 + 50, "nothing lost");
    let r = h
        .post(
            &cancel_path(&m, &second),
            &m.bs,
            &cancellation("customer accepts", Some(true)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let trail = h
        .get(&format!("/accounts/{}/events", m.account), &m.bs)
        .await;
    let last = trail.body["events"]
        .as_array()
        .and_then(|e| e.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["details"]["license_loss_accepted"], true);
    assert_eq!(last["details"]["shortfalls"], json!([expected]));
    assert_eq!(
        last["details"]["relied_on"],
        json!({}),
        "nothing was left to rely on"
    );
}

/// Two cancellations at once on one account with cover for one: exactly one passes.
#[tokio::test]
async fn concurrent_cancellations_cannot_rely_on_the_same_licences() {
    let (h, m) = activated().await;
    // The FAQ subscription's add-ons are covered too; a second one like it competes for all.
    let second = h
        .post(
            &format!("/accounts/{}/subscriptions", m.account),
            &m.admin,
            &faq_subscription(),
        )
        .await
        .id();
    let (first_path, second_path) = (cancel_path(&m, &m.subscription), cancel_path(&m, &second));
    let (body_a, body_b) = (cancellation("a", None), cancellation("b", None));
    let (a, b) = tokio::join!(
        h.post(&first_path, &m.admin, &body_a),
        h.post(&second_path, &m.admin, &body_b),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", a.raw, b.raw);
    let refused = if a.status == 409 { &a } else { &b };
    assert_eq!(refused.body["code"], "cancellation_would_lose_licenses");
    assert_eq!(
        seats(&h, &m.account).await,
        50 + 50,
        "one direct subscription stays"
    );
}

/// What relies on cover must keep it: a reservation a cancellation relied on cannot be
/// cancelled (nothing is lost), and neither can one racing such a cancellation.
#[tokio::test]
async fn a_reservation_relied_on_cannot_be_cancelled() {
    let (h, m, second) = first_cancelled().await;
    let res = reserve(&h, &m, 50).await;
    assert_eq!(res.status, 201, "{}", res.raw);
    let r = h
        .post(
            &cancel_path(&m, &second),
            &m.admin,
            &cancellation("reserved", None),
        )
        .await;
    assert_eq!(r.status, 200, "relies on the reservation: {}", r.raw);
    let r = h
        .post(
            &format!("/reservations/{}/cancel", res.id()),
            &m.admin,
            &json!({}),
        )
        .await;
    assert_problem(&r, 409, "would_lose_relied_on_licenses");
    assert_eq!(
        r.body["shortfalls"],
        json!([{"sku": "d365-sales-professional", "removed": 50, "volume": 50,
            "relied_on": 100, "available": -50}])
    );
    assert_eq!(seats(&h, &m.account).await, 100, "nothing lost");
    // A spare reservation (nothing relies on it) cancels as before.
    let spare = reserve(&h, &m, 5).await;
    let r = h
        .post(
            &format!("/reservations/{}/cancel", spare.id()),
            &m.admin,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
}

#[tokio::test]
async fn race_reservation_cancel_against_the_cancellation_relying_on_it() {
    let (h, m, second) = first_cancelled().await;
    let res = reserve(&h, &m, 50).await.id();
    let (sub_path, res_path) = (
        cancel_path(&m, &second),
        format!("/reservations/{res}/cancel"),
    );
    let (body, empty) = (cancellation("race", None), json!({}));
    let (sub, resv) = tokio::join!(
        h.post(&sub_path, &m.admin, &body),
        h.post(&res_path, &m.admin, &empty),
    );
    match (sub.status, resv.status) {
        (200, 409) => {
            assert_eq!(
                resv.body["code"], "would_lose_relied_on_licenses",
                "{}",
                resv.raw
            );
            assert_eq!(seats(&h, &m.account).await, 100);
        }
        (409, 200) => {
            assert_eq!(
                sub.body["code"], "cancellation_would_lose_licenses",
                "{}",
                sub.raw
            );
            assert_eq!(seats(&h, &m.account).await, 50 + 50);
        }
        other => panic!("unexpected {other:?}: {} / {}", sub.raw, resv.raw),
    }
}
