//! Every route × every caller: the owner and everyone else, by role, plus no token, an
//! expired one and a forged one. A caller whose role may never do it gets 403; a caller of
//! the right role who does not own the resource gets 404; a bad token gets 401; everyone
//! allowed gets past authorisation (2xx, or a business refusal such as 409/422).

use serde_json::{Value, json};
use vls_tests::fixtures::*;
use vls_tests::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    PartnerOwner,
    PartnerOther,
    AdminOwner,
    AdminOther,
    BillingSupport,
    Specialist,
}

use Who::*;

const EVERYONE: [Who; 6] = [
    PartnerOwner,
    PartnerOther,
    AdminOwner,
    AdminOther,
    BillingSupport,
    Specialist,
];

/// What a caller outside `allowed` must get.
fn denied(who: Who, allowed: &[Who]) -> u16 {
    match who {
        PartnerOther if allowed.contains(&PartnerOwner) => 404,
        AdminOther if allowed.contains(&AdminOwner) => 404,
        _ => 403,
    }
}

struct Row {
    method: &'static str,
    path: String,
    body: Option<Value>,
    allowed: Vec<Who>,
}

fn row(method: &'static str, path: impl Into<String>, body: Option<Value>, allowed: &[Who]) -> Row {
    Row {
        method,
        path: path.into(),
        body,
        allowed: allowed.to_vec(),
    }
}

/// The owner of an agreement, its account's admin and the staff may read it.
const READERS: &[Who] = &[PartnerOwner, AdminOwner, BillingSupport, Specialist];
/// The owner of an agreement, its account's admin and billing support.
const OWNERS_AND_BILLING: &[Who] = &[PartnerOwner, AdminOwner, BillingSupport];
/// One role alone.
const BILLING: &[Who] = &[BillingSupport];
const PARTNER: &[Who] = &[PartnerOwner];
const ADMIN: &[Who] = &[AdminOwner];
const SPECIALIST: &[Who] = &[Specialist];
/// The account's admin and billing support.
const ACCOUNT_AND_BILLING: &[Who] = &[AdminOwner, BillingSupport];

/// What every route is called on: the owner's account and agreement (with a subscription,
/// an invoiced order and a reservation), another account, and an unassociated agreement
/// with a mailed activation link.
struct World {
    acc: String,
    other_acc: String,
    sub: String,
    agr: String,
    order: String,
    res: String,
    loose: String,
    link: String,
    /// One of p1's events.
    event: String,
    /// Two of p1's webhook endpoints (one for the delete).
    hook: String,
    doomed: String,
    /// A delivery to `hook` (a test event's).
    delivery: String,
    /// A service request of `acc`'s, open on a subscription R11 refuses.
    srq: String,
}

async fn world(h: &Harness) -> World {
    let bs = billing_support();
    let p1 = partner("p1");
    h.put("/partners/p1", &bs, &partner_body("Owner LSP")).await;
    h.put("/partners/p2", &bs, &partner_body("Other LSP")).await;
    let acc = h
        .post("/accounts", &bs, &mos_account_body("Contoso"))
        .await
        .id();
    let other_acc = h
        .post("/accounts", &bs, &account_body("Fabrikam"))
        .await
        .id();
    let subs = format!("/accounts/{acc}/subscriptions");
    let sub = h.post(&subs, &admin(&acc), &faq_subscription()).await.id();
    let mut bound = agreement_body("1", "2026-03-15");
    bound["online_services_account_id"] = json!(acc);
    let agr = h.post("/agreements", &p1, &bound).await.id();
    let order = invoiced_order(h, &agr).await;
    let one = json!({"lines": [{"sku": "d365-team-members", "quantity": 1}]});
    let reservations = format!("/agreements/{agr}/reservations");
    let res = h.post(&reservations, &admin(&acc), &one).await.id();
    // An unassociated agreement with a mailed link, for the activation routes.
    let loose = h
        .post("/agreements", &p1, &agreement_body("2", "2026-03-15"))
        .await
        .id();
    invoiced_order(h, &loose).await;
    h.sweep().await;
    let link = link_token(h.mail().last().expect("mail")).expect("link");
    h.dispatch().await;
    let events = h.get("/events?limit=1", &p1).await;
    let event = events.body["events"][0]["id"]
        .as_str()
        .expect("an event")
        .to_owned();
    let hook = h.post("/webhook-endpoints", &p1, &endpoint()).await.id();
    let doomed = h.post("/webhook-endpoints", &p1, &endpoint()).await.id();
    let test = format!("/webhook-endpoints/{hook}/test");
    let tested = h.post(&test, &p1, &json!({})).await;
    let delivery = tested.body["delivery_id"]
        .as_str()
        .expect("a delivery")
        .to_owned();
    let srq = a_service_request(h, &acc).await;
    World {
        acc,
        other_acc,
        sub,
        agr,
        order,
        res,
        loose,
        link,
        event,
        hook,
        doomed,
        delivery,
        srq,
    }
}

/// A service request on a new subscription of `acc` that its volume does not cover.
async fn a_service_request(h: &Harness, acc: &str) -> String {
    let subs = format!("/accounts/{acc}/subscriptions");
    let lines = json!({"billing": "invoice", "lines": [{"sku": "d365-sales-professional",
                      "quantity": 1000}]});
    let big = h.post(&subs, &admin(acc), &lines).await.id();
    let ask = json!({"subscription_id": big, "accept_license_loss": false});
    let path = format!("/accounts/{acc}/service-requests");
    let r = h.post(&path, &admin(acc), &ask).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    r.id()
}

fn endpoint() -> Value {
    json!({"url": "http://127.0.0.1:9540/hooks", "enabled_events": ["*"]})
}

/// An order of the covering lines on `agr`, placed and invoiced by its partner p1.
async fn invoiced_order(h: &Harness, agr: &str) -> String {
    let p1 = partner("p1");
    let order = h
        .post("/orders", &p1, &order_body(agr, covering_lines(), None))
        .await
        .id();
    h.post(&format!("/orders/{order}/invoice"), &p1, &json!({}))
        .await;
    order
}

fn token(w: &World, who: Who) -> String {
    match who {
        PartnerOwner => partner("p1"),
        PartnerOther => partner("p2"),
        AdminOwner => admin(&w.acc),
        AdminOther => admin(&w.other_acc),
        BillingSupport => billing_support(),
        Specialist => specialist(),
    }
}

/// A GET, by who may call it.
fn read(path: impl Into<String>, allowed: &[Who]) -> Row {
    row("GET", path, None, allowed)
}

/// A POST with a body, by who may call it.
fn post(path: impl Into<String>, body: Value, allowed: &[Who]) -> Row {
    row("POST", path, Some(body), allowed)
}

/// Every authenticated operation of the contract, with who may call it.
fn rows(w: &World) -> Vec<Row> {
    let (acc, sub, agr, order) = (&w.acc, &w.sub, &w.agr, &w.order);
    let lines = json!([{"sku": "d365-sales-professional", "quantity": 1}]);
    let osm = json!({"name": "N", "email": "n@contoso.com"});
    let resend = json!({"legal_name": "Contoso Ltd", "country": "NL"});
    let resend_path = format!("/agreements/{}/activation-email/resend", w.loose);
    let remap = json!({"target_account_id": w.other_acc, "reason": "r"});
    let amend = json!({"kind": "separate_online_services", "reason": "r"});
    let (account, agreement) = (format!("/accounts/{acc}"), format!("/agreements/{agr}"));
    let cancellation = format!("{account}/subscriptions/{sub}/cancellation");
    let new_order = order_body(agr, lines.clone(), None);
    let partners = [PartnerOwner, PartnerOther];
    let (subs, invoice) = (
        format!("{account}/subscriptions"),
        format!("/orders/{order}/invoice"),
    );
    let (page, cancel) = (
        format!("/activate/{}", w.link),
        format!("/reservations/{}/cancel", w.res),
    );
    let hook = format!("/webhook-endpoints/{}", w.hook);
    vec![
        row("PUT", "/partners/p3", Some(partner_body("New")), BILLING),
        post("/accounts", account_body("New"), BILLING),
        read(account.clone(), ACCOUNT_AND_BILLING),
        read(subs.clone(), ACCOUNT_AND_BILLING),
        read(format!("{subs}/{sub}"), ACCOUNT_AND_BILLING),
        post(subs, faq_subscription(), ACCOUNT_AND_BILLING),
        read(format!("{account}/licenses"), ACCOUNT_AND_BILLING),
        read(format!("{account}/licenses/sources"), ACCOUNT_AND_BILLING),
        read(format!("{account}/events"), ACCOUNT_AND_BILLING),
        post("/agreements", agreement_body("3", "2026-03-15"), &partners),
        read(agreement.clone(), READERS),
        row("PUT", format!("{agreement}/osm"), Some(osm), PARTNER),
        read(format!("{agreement}/orders"), READERS),
        post("/orders", new_order, PARTNER),
        post(invoice, json!({}), PARTNER),
        read(format!("/orders/{order}"), OWNERS_AND_BILLING),
        read(format!("{agreement}/invoice-support"), OWNERS_AND_BILLING),
        read(format!("{agreement}/events"), READERS),
        read("/events", &partners),
        read(format!("/events/{}", w.event), PARTNER),
        read("/partners/p1/events", &[PartnerOwner, BillingSupport]),
        post("/webhook-endpoints", endpoint(), &partners),
        read("/webhook-endpoints", &partners),
        read(hook.clone(), PARTNER),
        row("PUT", hook.clone(), Some(endpoint()), PARTNER),
        post(format!("{hook}/disable"), json!({}), PARTNER),
        post(format!("{hook}/enable"), json!({}), PARTNER),
        post(format!("{hook}/rotate-secret"), json!({}), PARTNER),
        read(format!("{hook}/deliveries"), PARTNER),
        post(format!("{hook}/test"), json!({}), PARTNER),
        post(
            format!("{hook}/deliveries/{}/redeliver", w.delivery),
            json!({}),
            PARTNER,
        ),
        post(
            format!("{hook}/replay"),
            json!({"after_sequence": 0}),
            PARTNER,
        ),
        row(
            "DELETE",
            format!("/webhook-endpoints/{}", w.doomed),
            None,
            PARTNER,
        ),
        post(resend_path, resend, BILLING),
        post(
            format!("{agreement}/reservations"),
            json!({ "lines": lines }),
            ADMIN,
        ),
        read(format!("{agreement}/reservations"), OWNERS_AND_BILLING),
        read(format!("/reservations/{}", w.res), OWNERS_AND_BILLING),
        post(cancel, json!({}), ADMIN),
        read(format!("{agreement}/true-up-preview"), OWNERS_AND_BILLING),
        post(format!("{agreement}/remap"), remap, BILLING),
        post(format!("{agreement}/amendments"), amend, SPECIALIST),
        read(format!("{cancellation}-preview"), ACCOUNT_AND_BILLING),
        post(cancellation, json!({"reason": "r"}), ACCOUNT_AND_BILLING),
        post(
            format!("{account}/service-requests"),
            json!({"subscription_id": sub, "accept_license_loss": false}),
            ADMIN,
        ),
        read(format!("{account}/service-requests"), ACCOUNT_AND_BILLING),
        read("/service-requests", BILLING),
        read(format!("/service-requests/{}", w.srq), ACCOUNT_AND_BILLING),
        post(
            format!("/service-requests/{}/acknowledge", w.srq),
            json!({}),
            BILLING,
        ),
        post(
            format!("/service-requests/{}/decline", w.srq),
            json!({"note": "n"}),
            BILLING,
        ),
        post(
            format!("/service-requests/{}/withdraw", w.srq),
            json!({}),
            ADMIN,
        ),
        // The activation POST: the admin of the account named in the body (its own).
        post(page, json!({ "account_id": acc }), ADMIN),
    ]
}

/// No token, an expired one and a forged one, each with a route's body and, where it takes
/// one, with a malformed body: 401 every time.
async fn refuses_bad_tokens(h: &Harness, r: &Row, failures: &mut Vec<String>) {
    let mut expired = claims("billing_support", json!({}));
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 1);
    let expired = token_with(expired, SECRET);
    let forged = token_with(claims("billing_support", json!({})), "not-the-secret");
    let body = r.body.as_ref().map(Value::to_string);
    for (label, token) in [
        ("no token", None),
        ("expired", Some(expired.as_str())),
        ("forged", Some(forged.as_str())),
    ] {
        let got = h
            .call(r.method, &r.path, token, body.as_deref(), None)
            .await
            .status;
        if got != 401 {
            failures.push(format!(
                "{} {} with {label}: {got}, want 401",
                r.method, r.path
            ));
        }
        // 401 before the body is looked at: a malformed one changes nothing.
        if r.body.is_some() {
            let got = h
                .call(r.method, &r.path, token, Some("{not json"), None)
                .await
                .status;
            if got != 401 {
                failures.push(format!(
                    "{} {} with {label} and a malformed body: {got}, want 401",
                    r.method, r.path
                ));
            }
        }
    }
}

/// Every caller outside the row's `allowed` refused (403, or 404 for a non-owner of the
/// right role), then every allowed one past authorisation.
async fn sorts_the_callers(h: &Harness, w: &World, r: &Row, failures: &mut Vec<String>) {
    let body = r.body.as_ref().map(Value::to_string);
    // Refused callers first, so that the allowed ones' changes do not hide a refusal.
    for who in EVERYONE.iter().filter(|w| !r.allowed.contains(w)) {
        let want = denied(*who, &r.allowed);
        let got = h
            .call(
                r.method,
                &r.path,
                Some(&token(w, *who)),
                body.as_deref(),
                None,
            )
            .await;
        if got.status != want {
            failures.push(format!(
                "{} {} as {who:?}: {} {}, want {want}",
                r.method, r.path, got.status, got.raw
            ));
        }
    }
    for who in &r.allowed {
        let got = h
            .call(
                r.method,
                &r.path,
                Some(&token(w, *who)),
                body.as_deref(),
                None,
            )
            .await;
        if matches!(got.status, 401 | 403 | 404) || got.status >= 500 {
            failures.push(format!(
                "{} {} as {who:?}: {} {}, want it allowed",
                r.method, r.path, got.status, got.raw
            ));
        }
    }
}

#[tokio::test]
async fn every_route_for_every_caller() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let rows = rows(&w);
    let mut failures = Vec::new();
    for r in &rows {
        refuses_bad_tokens(&h, r, &mut failures).await;
        sorts_the_callers(&h, &w, r, &mut failures).await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        rows.len(),
        51,
        "every authenticated operation of the contract (the page GET needs no token)"
    );
    // The page itself needs only the link.
    let page = format!("/activate/{}", w.link);
    assert_ne!(h.call("GET", &page, None, None, None).await.status, 401);
}
