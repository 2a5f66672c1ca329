//! order-intake against the emulator: the issue's acceptance flows, refusals that write
//! nothing, idempotency under concurrency, and DynamoDB requests per route.

use futures::future::join_all;
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
}

/// A registered partner `p1`, an account with the FAQ's direct subscription.
async fn world() -> World {
    let h = Harness::new().await;
    let bs = billing_support();
    let r = h
        .put("/partners/p1", &bs, &partner_body("Fabrikam LSP"))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = h.post("/accounts", &bs, &account_body("Contoso")).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let account = r.body["id"].as_str().expect("account id").to_owned();
    let admin = admin(&account);
    let r = h
        .post(
            &format!("/accounts/{account}/subscriptions"),
            &admin,
            &faq_subscription(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(r.body["status"], "active");
    let subscription = r.body["id"].as_str().expect("sub id").to_owned();
    World {
        h,
        bs,
        partner: partner("p1"),
        account,
        admin,
        subscription,
    }
}

async fn agreement(w: &World, customer: &str, start: &str) -> Value {
    let r =
        w.h.post("/agreements", &w.partner, &agreement_body(customer, start))
            .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    r.body
}

/// The account's pool shows the FAQ's direct subscription alone.
async fn assert_the_direct_pool(w: &World) {
    let pool =
        w.h.get(&format!("/accounts/{}/licenses", w.account), &w.admin)
            .await;
    assert_eq!(pool.status, 200, "{}", pool.raw);
    assert_eq!(total(&pool.body, "d365-sales-professional"), 50);
    assert_eq!(total(&pool.body, "d365-additional-production-instance"), 3);
    assert_eq!(total(&pool.body, "d365-additional-storage-gb"), 5);
    assert_eq!(
        pool.body["skus"][0],
        json!({"sku": "d365-sales-professional", "total": 50, "direct": 50, "volume": 0,
               "relied_on": 0}),
        "{}",
        pool.raw
    );
    let sources =
        w.h.get(
            &format!("/accounts/{}/licenses/sources", w.account),
            &w.admin,
        )
        .await;
    assert_eq!(sources.status, 200, "{}", sources.raw);
    let sub = w.subscription.as_str();
    assert_eq!(
        sources.body,
        json!({"sources": [
            {"sku": "d365-sales-professional", "kind": "direct", "id": sub, "quantity": 50},
            {"sku": "d365-additional-production-instance", "kind": "direct", "id": sub,
             "quantity": 3},
            {"sku": "d365-additional-storage-gb", "kind": "direct", "id": sub, "quantity": 5}
        ], "next_cursor": null}),
        "one line per SKU of the subscription, in catalog order"
    );
}

/// R2: the next anniversary after the start; a second agreement of the customer keeps the
/// month-day. The first agreement's id.
async fn agreements_and_their_anniversaries(w: &World) -> String {
    let a = agreement(w, "4711", "2026-03-15").await;
    assert_eq!(a["anniversary"], "2027-03-15");
    assert_eq!(a["program"], "EA");
    assert_eq!(a["account_id"], Value::Null);
    assert_eq!(a["bound_to_online_services"], false);
    assert_eq!(a["volume_discount_eligible"], false);
    let second = agreement(w, "4711", "2026-07-01").await;
    assert_eq!(second["anniversary"], "2027-03-15");
    let other_customer = agreement(w, "4712", "2026-07-01").await;
    assert_eq!(other_customer["anniversary"], "2027-07-01");
    a["id"].as_str().expect("id").to_owned()
}

/// R4: an order below the subscription lists every short line.
async fn assert_a_short_order_is_refused(w: &World, agr: &str) {
    let sales = json!([{"sku": "d365-sales-professional", "quantity": 40}]);
    let short = order_body(agr, sales, Some(&w.subscription));
    let r = w.h.post("/orders", &w.partner, &short).await;
    assert_problem(&r, 422, "order_below_current_entitlement");
    assert!(r.headers_content_type_is_problem());
    assert_eq!(
        r.body["shortfalls"],
        json!([
            {"sku": "d365-sales-professional", "required": 50, "ordered": 40},
            {"sku": "d365-additional-production-instance", "required": 3, "ordered": 0},
            {"sku": "d365-additional-storage-gb", "required": 5, "ordered": 0},
        ])
    );
}

/// A covering order placed, answered as its GET answers. Its id.
async fn a_covering_order(w: &World, agr: &str) -> String {
    let covering = order_body(agr, covering_lines(), Some(&w.subscription));
    let r = w.h.post("/orders", &w.partner, &covering).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(
        (r.body["status"].as_str(), r.body["source"].as_str()),
        (Some("placed"), Some("order"))
    );
    let order = r.body["id"].as_str().expect("order id").to_owned();
    let got = w.h.get(&format!("/orders/{order}"), &w.partner).await;
    assert_eq!(
        got.body, r.body,
        "a POST that creates returns what the GET returns"
    );
    order
}

/// R5: invoicing an unassociated agreement queues the OSM's activation mail, once.
async fn assert_invoicing_queues_one_mail(w: &World, order: &str) {
    let h = &w.h;
    let inv = h
        .post(&format!("/orders/{order}/invoice"), &w.partner, &json!({}))
        .await;
    assert_eq!(inv.status, 200, "{}", inv.raw);
    assert_eq!(inv.body["status"], "invoiced");
    assert_eq!(inv.body["activation_email"], "queued");
    assert_eq!(inv.body["attached_account_id"], Value::Null);
    let mails: Vec<_> = scan_all(&h.client, &h.table)
        .await
        .into_iter()
        .filter(|i| {
            i.get("type")
                .and_then(|t| t.as_s().ok())
                .map(String::as_str)
                == Some("mail")
        })
        .collect();
    assert_eq!(mails.len(), 1, "exactly one pending mail intent");
    assert_eq!(mails[0]["status"].as_s().map(String::as_str), Ok("pending"));
    let outbox = mails[0]["gsi1pk"]
        .as_s()
        .map(String::as_str)
        .unwrap_or_default();
    assert!(
        outbox.starts_with("OUTBOX#"),
        "in an outbox shard: {outbox}"
    );

    // Invoicing twice is refused.
    let again = h
        .post(&format!("/orders/{order}/invoice"), &w.partner, &json!({}))
        .await;
    assert_eq!(
        (again.status, again.body["code"].as_str()),
        (409, Some("order_already_invoiced"))
    );
}

/// The audit trails of the agreement and of the account, oldest first.
async fn assert_the_trails(w: &World, agr: &str) {
    let events =
        w.h.get(&format!("/agreements/{agr}/events"), &w.partner)
            .await;
    let trail = actions(&events.body);
    assert_eq!(
        trail,
        ["agreement.created", "order.placed", "order.invoiced"]
    );
    assert_eq!(
        events.body["events"][0]["actor"],
        json!({"sub": "p1-user", "role": "partner"})
    );
    assert!(
        events.body["events"][0]["request_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    let events =
        w.h.get(&format!("/accounts/{}/events", w.account), &w.admin)
            .await;
    let trail = actions(&events.body);
    assert_eq!(trail, ["account.created", "subscription.created"]);
}

#[tokio::test]
async fn migration_flow_from_direct_subscription_to_an_ea() {
    let w = world().await;
    let h = &w.h;
    assert_the_direct_pool(&w).await;

    // An unregistered partner may not create agreements.
    let body = agreement_body("4711", "2026-03-15");
    let r = h.post("/agreements", &partner("p-unknown"), &body).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("unknown_partner"))
    );

    let agr = agreements_and_their_anniversaries(&w).await;
    assert_a_short_order_is_refused(&w, &agr).await;
    let order = a_covering_order(&w, &agr).await;
    assert_invoicing_queues_one_mail(&w, &order).await;

    // Not yet activated: the pool is unchanged, and the order is listed on the agreement.
    let pool = h
        .get(&format!("/accounts/{}/licenses", w.account), &w.bs)
        .await;
    assert_eq!(total(&pool.body, "d365-sales-professional"), 50);
    let orders = h.get(&format!("/agreements/{agr}/orders"), &w.bs).await;
    assert_eq!(orders.body["orders"].as_array().map(Vec::len), Some(1));

    assert_the_trails(&w, &agr).await;

    // R16: invoice questions go to the partner.
    let support = h
        .get(&format!("/agreements/{agr}/invoice-support"), &w.bs)
        .await;
    assert_eq!(support.status, 200, "{}", support.raw);
    assert_eq!(support.body["partner_id"], "p1");
    assert_eq!(support.body["contact"]["email"], "pat@fabrikam.com");
}

trait ProblemCheck {
    fn headers_content_type_is_problem(&self) -> bool;
}

impl ProblemCheck for Resp {
    fn headers_content_type_is_problem(&self) -> bool {
        ["type", "title", "status", "detail", "code"]
            .iter()
            .all(|k| !self.body[*k].is_null())
    }
}

#[tokio::test]
async fn online_services_agreement_attaches_on_invoicing_without_mail() {
    let w = world().await;
    let h = &w.h;
    let r = h
        .post("/accounts", &w.bs, &mos_account_body("Contoso O365"))
        .await;
    let mos = r.id();
    let mut body = agreement_body("5000", "2026-05-01");
    body["online_services_account_id"] = json!(mos);
    let r = h.post("/agreements", &w.partner, &body).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(r.body["account_id"], mos.as_str());
    assert_eq!(r.body["bound_to_online_services"], true);
    let agr = r.id();

    // An account without MOS licences cannot bind an agreement.
    let mut body = agreement_body("5001", "2026-05-01");
    body["online_services_account_id"] = json!(w.account);
    let r = h.post("/agreements", &w.partner, &body).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("no_online_services"))
    );

    let r = h
        .post(
            "/orders",
            &w.partner,
            &order_body(
                &agr,
                json!([{"sku": "d365-sales-enterprise", "quantity": 20}]),
                None,
            ),
        )
        .await;
    let order = r.id();
    let inv = h
        .post(&format!("/orders/{order}/invoice"), &w.partner, &json!({}))
        .await;
    assert_eq!(inv.status, 200, "{}", inv.raw);
    assert_eq!(inv.body["activation_email"], "not_needed");
    assert_eq!(inv.body["attached_account_id"], mos.as_str());

    let pool = h
        .get(&format!("/accounts/{mos}/licenses"), &admin(&mos))
        .await;
    assert_eq!(total(&pool.body, "d365-sales-enterprise"), 20);
    let sources = h
        .get(&format!("/accounts/{mos}/licenses/sources"), &admin(&mos))
        .await;
    assert_eq!(
        sources.body["sources"],
        json!([{"sku": "d365-sales-enterprise", "kind": "agreement", "id": agr, "quantity": 20}]),
        "one source per agreement: its invoiced orders"
    );
    // The admin of the bound account sees the agreement and the order.
    assert_eq!(
        h.get(&format!("/agreements/{agr}"), &admin(&mos))
            .await
            .status,
        200
    );
    assert_eq!(
        h.get(&format!("/orders/{order}"), &admin(&mos))
            .await
            .status,
        200
    );
    assert_eq!(
        h.get(&format!("/orders/{order}"), &w.admin).await.status,
        404
    );

    let items = scan_all(&h.client, &h.table).await;
    assert!(
        !items.iter().any(|i| i
            .get("type")
            .and_then(|t| t.as_s().ok())
            .map(String::as_str)
            == Some("mail")),
        "no activation mail for an MOS-bound agreement"
    );
    let events = h.get(&format!("/accounts/{mos}/events"), &w.bs).await;
    let trail = actions(&events.body);
    assert_eq!(
        trail,
        ["account.created", "agreement.associated", "order.invoiced"]
    );
}

#[tokio::test]
async fn an_ea_reaching_250_seats_is_volume_discount_eligible() {
    let w = world().await;
    let a = agreement(&w, "4711", "2026-03-15").await;
    let agr = a["id"].as_str().expect("id");
    let lines = json!([{"sku": "d365-sales-professional", "quantity": 200},
                       {"sku": "d365-additional-storage-gb", "quantity": 500}]);
    let r =
        w.h.post("/orders", &w.partner, &order_body(agr, lines, None))
            .await;
    assert_eq!(
        r.body["volume_discount_eligible"], false,
        "add-ons do not count"
    );
    let r =
        w.h.post(
            "/orders",
            &w.partner,
            &order_body(
                agr,
                json!([{"sku": "d365-customer-service-enterprise", "quantity": 50}]),
                None,
            ),
        )
        .await;
    assert_eq!(r.body["volume_discount_eligible"], true);
    let got = w.h.get(&format!("/agreements/{agr}"), &w.partner).await;
    assert_eq!(got.body["volume_discount_eligible"], true);
    assert_eq!(got.body["ordered_seats"], 250);
}

/// A request decided by authorisation alone: method, path, token, body.
type Attempt = (&'static str, String, String, Option<Value>);

fn attempt(
    method: &'static str,
    path: impl Into<String>,
    token: &str,
    body: Option<Value>,
) -> Attempt {
    (method, path.into(), token.to_owned(), body)
}

/// Each attempt answered `status`.
async fn assert_answered(h: &Harness, attempts: &[Attempt], status: u16) {
    for (method, path, token, body) in attempts {
        let body = body.as_ref().map(Value::to_string);
        let got = h
            .call(method, path, Some(token), body.as_deref(), None)
            .await
            .status;
        assert_eq!(got, status, "{method} {path}");
    }
}

/// Someone else's agreement, pool and subscriptions do not exist for them (404).
async fn assert_others_see_nothing(w: &World, agr: &str) {
    let h = &w.h;
    for path in [
        format!("/agreements/{agr}"),
        format!("/agreements/{agr}/orders"),
        format!("/agreements/{agr}/events"),
        format!("/agreements/{agr}/invoice-support"),
    ] {
        let r = h.get(&path, &partner("p2")).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
        assert_eq!(
            h.get(&path, &w.admin).await.status,
            404,
            "not associated with the admin's account: {path}"
        );
    }
    let (p2, osm) = (
        partner("p2"),
        json!({"name": "X", "email": "x@fabrikam.com"}),
    );
    let covering = Some(order_body(agr, covering_lines(), None));
    let osm_path = format!("/agreements/{agr}/osm");
    let theirs = [
        attempt("POST", "/orders", &p2, covering),
        attempt("PUT", osm_path, &p2, Some(osm)),
    ];
    assert_answered(h, &theirs, 404).await;
    // Another account's pool and subscriptions.
    let other = admin(
        &h.post("/accounts", &w.bs, &account_body("Other"))
            .await
            .id(),
    );
    let (account, faq) = (format!("/accounts/{}", w.account), Some(faq_subscription()));
    let theirs = [
        attempt("GET", format!("{account}/licenses"), &other, None),
        attempt("POST", format!("{account}/subscriptions"), &other, faq),
    ];
    assert_answered(h, &theirs, 404).await;
}

/// Roles that may never do it (403), and the specialist who may read an agreement.
async fn assert_roles_that_may_never(w: &World, agr: &str) {
    let h = &w.h;
    let covering = order_body(agr, covering_lines(), None);
    let r = h.post("/orders", &w.admin, &covering).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (sp, agreement, p) = (specialist(), format!("/agreements/{agr}"), &w.partner);
    let never = [
        attempt(
            "POST",
            "/agreements",
            &w.bs,
            Some(agreement_body("1", "2026-01-01")),
        ),
        attempt("POST", "/accounts", p, Some(account_body("X"))),
        attempt("PUT", "/partners/p3", p, Some(partner_body("X"))),
        attempt("GET", format!("/accounts/{}/licenses", w.account), p, None),
        attempt("GET", format!("{agreement}/invoice-support"), &sp, None),
    ];
    assert_answered(h, &never, 403).await;
    assert_answered(h, &[attempt("GET", agreement, &sp, None)], 200).await;
}

/// Tokens: none, expired a second ago, forged, wrong audience, garbage: 401.
async fn assert_bad_tokens_are_refused(h: &Harness, path: &str) {
    assert_eq!(h.call("GET", path, None, None, None).await.status, 401);
    let mut expired = claims("partner", json!({"partner_id": "p1"}));
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 1);
    let r = h
        .call("GET", path, Some(&token_with(expired, SECRET)), None, None)
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let forged = token_with(
        claims("partner", json!({"partner_id": "p1"})),
        "not-the-secret",
    );
    let mut aud = claims("partner", json!({"partner_id": "p1"}));
    aud["aud"] = json!("elsewhere");
    for token in [forged, token_with(aud, SECRET), "garbage".to_owned()] {
        assert_eq!(
            h.call("GET", path, Some(&token), None, None).await.status,
            401
        );
    }
}

#[tokio::test]
async fn roles_ownership_and_tokens() {
    let w = world().await;
    let h = &w.h;
    let a = agreement(&w, "4711", "2026-03-15").await;
    let agr = a["id"].as_str().expect("id");
    h.put("/partners/p2", &w.bs, &partner_body("Other LSP"))
        .await;

    assert_others_see_nothing(&w, agr).await;
    assert_roles_that_may_never(&w, agr).await;
    let path = format!("/agreements/{agr}");
    assert_bad_tokens_are_refused(h, &path).await;
    // Unknown route and method.
    assert_eq!(h.get("/nothing/here", &w.bs).await.status, 404);
    assert_eq!(
        h.call("DELETE", &path, Some(&w.bs), None, None)
            .await
            .status,
        405
    );
}

#[tokio::test]
async fn osm_change_by_the_partner_only_and_never_to_a_public_domain() {
    let w = world().await;
    let a = agreement(&w, "4711", "2026-03-15").await;
    let agr = a["id"].as_str().expect("id");
    let path = format!("/agreements/{agr}/osm");
    let r =
        w.h.put(
            &path,
            &w.partner,
            &json!({"name": "Noah New", "email": "noah@contoso.com"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        r.body["osm"],
        json!({"name": "Noah New", "email": "noah@contoso.com"})
    );
    let r =
        w.h.put(
            &path,
            &w.partner,
            &json!({"name": "Noah", "email": "noah@gmail.com"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("osm_public_mail_domain"))
    );
    assert_eq!(
        w.h.put(
            &path,
            &w.bs,
            &json!({"name": "Noah", "email": "noah@contoso.com"})
        )
        .await
        .status,
        403
    );
    let events = w.h.get(&format!("/agreements/{agr}/events"), &w.bs).await;
    let last = &events.body["events"][1];
    assert_eq!(last["action"], "osm.changed");
    assert_eq!(last["details"]["from"]["email"], "olivia@contoso.com");
    assert_eq!(last["details"]["to"]["email"], "noah@contoso.com");
}

/// A request refused: its name, path, body, status and problem code.
type Refusal = (&'static str, &'static str, String, u16, &'static str);

/// Orders on `agr` refused for their quantities, SKUs, lines, JSON or replaced subscription.
fn bad_orders(agr: &str) -> Vec<Refusal> {
    let order = |name, body: String, status, code| (name, "/orders", body, status, code);
    let lines = |lines: Value| order_body(agr, lines, None).to_string();
    let line = |q: Value| lines(json!([{"sku": "d365-sales-professional", "quantity": q}]));
    let unicorn = json!([{"sku": "d365-unicorn", "quantity": 1}]);
    let unknown_sub = Some("sub_01JD0000000000000000000000");
    let replacing = order_body(agr, covering_lines(), unknown_sub).to_string();
    let quantity = "invalid_quantity";
    vec![
        order("quantity 0", line(json!(0)), 422, quantity),
        order("quantity -1", line(json!(-1)), 422, quantity),
        order(
            "quantity 10^12",
            line(json!(1_000_000_000_000u64)),
            422,
            quantity,
        ),
        order("quantity \"5\"", line(json!("5")), 422, "invalid_type"),
        order("unknown sku", lines(unicorn), 422, "unknown_sku"),
        order("empty lines", lines(json!([])), 422, "empty_lines"),
        order(
            "missing lines",
            json!({"agreement_id": agr}).to_string(),
            422,
            "missing_field",
        ),
        order(
            "malformed json",
            "{\"agreement_id\": ".to_owned(),
            400,
            "malformed_json",
        ),
        order("not an object", "[1,2]".to_owned(), 422, "invalid_type"),
        order("empty body", String::new(), 400, "malformed_json"),
        order(
            "unknown replaced subscription",
            replacing,
            422,
            "unknown_subscription",
        ),
    ]
}

/// The agreement body of `bad_input…`, patched into one refused with 422 and `code`.
fn bad_agreement(name: &'static str, patch: &dyn Fn(&mut Value), code: &'static str) -> Refusal {
    let mut b = agreement_body("4711", "2026-03-15");
    patch(&mut b);
    (name, "/agreements", b.to_string(), 422, code)
}

/// Agreements refused for their program, OSM, customer, start date or MOS account.
fn bad_agreements() -> Vec<Refusal> {
    let crlf = json!("olivia@contoso.com\r\nBcc: all@evil.example");
    let unknown = json!("acc_01JD0000000000000000000000");
    vec![
        bad_agreement(
            "program OPEN",
            &|b| b["program"] = json!("OPEN"),
            "unknown_program",
        ),
        bad_agreement(
            "OSM with CR/LF",
            &|b| b["osm"]["email"] = crlf.clone(),
            "invalid_email",
        ),
        bad_agreement(
            "OSM on gmail.com",
            &|b| b["osm"]["email"] = json!("olivia@gmail.com"),
            "osm_public_mail_domain",
        ),
        bad_agreement(
            "missing customer",
            &|b| {
                b.as_object_mut().map(|m| m.remove("customer"));
            },
            "missing_field",
        ),
        bad_agreement(
            "bad start date",
            &|b| b["start_date"] = json!("2026-13-01"),
            "invalid_date",
        ),
        bad_agreement(
            "unknown MOS account",
            &|b| b["online_services_account_id"] = unknown.clone(),
            "unknown_account",
        ),
    ]
}

/// The partner's POST of `refusal` answers its status and code, as a problem document.
async fn assert_refused(w: &World, refusal: &Refusal) {
    let (name, path, body, status, code) = refusal;
    let key = format!("key-{}", name.replace(' ', "-"));
    let r =
        w.h.call("POST", path, Some(&w.partner), Some(body), Some(&key))
            .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (*status, Some(*code)),
        "{name}: {}",
        r.raw
    );
    assert!(r.headers_content_type_is_problem(), "{name}");
}

#[tokio::test]
async fn bad_input_is_refused_with_a_code_and_writes_nothing() {
    let w = world().await;
    let h = &w.h;
    let a = agreement(&w, "4711", "2026-03-15").await;
    let agr = a["id"].as_str().expect("id").to_owned();
    let before = h.item_count().await;

    for refusal in bad_orders(&agr).iter().chain(&bad_agreements()) {
        assert_refused(&w, refusal).await;
    }
    let subs = format!("/accounts/{}/subscriptions", w.account);
    let cash = r#"{"billing":"cash","lines":[]}"#;
    let sub = h
        .call("POST", &subs, Some(&w.admin), Some(cash), None)
        .await;
    assert_eq!(
        (sub.status, sub.body["code"].as_str()),
        (422, Some("invalid_billing"))
    );
    let bad_domain = r#"{"name":"X","domain":"not a domain"}"#;
    let acc = h
        .call("POST", "/accounts", Some(&w.bs), Some(bad_domain), None)
        .await;
    assert_eq!(
        (acc.status, acc.body["code"].as_str()),
        (422, Some("invalid_field"))
    );
    assert_eq!(
        h.item_count().await,
        before,
        "refused requests wrote nothing"
    );
}

/// The partner's order of `body`, with an idempotency key or none.
async fn post_order(w: &World, body: &str, key: Option<&str>) -> Resp {
    w.h.call("POST", "/orders", Some(&w.partner), Some(body), key)
        .await
}

/// An order of `quantity` of `sku` on `agr`, as a request body.
fn one_line(agr: &str, sku: &str, quantity: u64) -> String {
    order_body(agr, json!([{"sku": sku, "quantity": quantity}]), None).to_string()
}

/// Every response created its order (201).
fn assert_all_created(responses: &[Resp]) {
    assert!(
        responses.iter().all(|r| r.status == 201),
        "{:?}",
        responses
            .iter()
            .map(|r| (r.status, &r.raw))
            .collect::<Vec<_>>()
    );
}

/// A key replays its first answer, and is refused with another body. The order's id.
async fn assert_a_key_replays_and_is_not_reused(w: &World, agr: &str) -> String {
    let body = order_body(agr, covering_lines(), Some(&w.subscription)).to_string();
    let first = post_order(w, &body, Some("order-1")).await;
    assert_eq!(first.status, 201);
    assert!(!first.replayed);
    let replay = post_order(w, &body, Some("order-1")).await;
    assert_eq!(
        (replay.status, &replay.raw),
        (201, &first.raw),
        "identical response"
    );
    assert!(replay.replayed);
    let other = one_line(agr, "d365-sales-enterprise", 1);
    let reused = post_order(w, &other, Some("order-1")).await;
    assert_eq!(
        (reused.status, reused.body["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    first.body["id"].as_str().expect("id").to_owned()
}

/// Ten concurrent duplicates: one order, its seats counted once.
async fn assert_duplicates_make_one_order(w: &World, agr: &str) {
    let h = &w.h;
    let dup = one_line(agr, "d365-team-members", 7);
    let responses = join_all((0..10).map(|_| post_order(w, &dup, Some("order-burst")))).await;
    let ids: Vec<&Value> = responses.iter().map(|r| &r.body["id"]).collect();
    assert_all_created(&responses);
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "every duplicate answers the same order"
    );
    let orders = h
        .get(&format!("/agreements/{agr}/orders"), &w.partner)
        .await;
    let team: Vec<&Value> = orders.body["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["lines"][0]["sku"] == "d365-team-members")
        .collect();
    assert_eq!(team.len(), 1, "ten concurrent duplicates created one order");
    let a = h.get(&format!("/agreements/{agr}"), &w.partner).await;
    assert_eq!(a.body["ordered_seats"], 57, "the seats were counted once");
}

#[tokio::test]
async fn idempotency_replays_refuses_reuse_and_does_concurrent_work_once() {
    let w = world().await;
    let h = &w.h;
    let a = agreement(&w, "4711", "2026-03-15").await;
    let agr = a["id"].as_str().expect("id").to_owned();
    let order = assert_a_key_replays_and_is_not_reused(&w, &agr).await;

    // Replaying an invoice after it succeeded gives the first answer, not a 409.
    let path = format!("/orders/{order}/invoice");
    let inv = h
        .call("POST", &path, Some(&w.partner), Some("{}"), Some("inv-1"))
        .await;
    let inv2 = h
        .call("POST", &path, Some(&w.partner), Some("{}"), Some("inv-1"))
        .await;
    assert_eq!((inv.status, inv2.status, &inv2.raw), (200, 200, &inv.raw));

    assert_duplicates_make_one_order(&w, &agr).await;

    // Ten concurrent different orders without keys: none lost (optimistic retries).
    let bodies: Vec<String> = (1..=10)
        .map(|i| one_line(&agr, "d365-field-service", i))
        .collect();
    let responses = join_all(bodies.iter().map(|b| post_order(&w, b, None))).await;
    assert_all_created(&responses);
    let a = h.get(&format!("/agreements/{agr}"), &w.partner).await;
    assert_eq!(
        a.body["ordered_seats"],
        57 + 55,
        "no lost update on the agreement"
    );
}

/// One person with tokens for two partners: a key used for one partner's order is never
/// replayed to the other (its answer is that partner's own: here, no such agreement).
#[tokio::test]
async fn an_idempotency_key_is_the_tenants_own() {
    let w = world().await;
    let h = &w.h;
    h.put("/partners/p2", &w.bs, &partner_body("Other LSP"))
        .await;
    let as_partner = |id: &str| {
        token_with(
            claims(
                "partner",
                json!({"partner_id": id, "sub": "pat@lsp.example"}),
            ),
            SECRET,
        )
    };
    let (p1, p2) = (as_partner("p1"), as_partner("p2"));
    let r = h
        .post("/agreements", &p1, &agreement_body("4711", "2026-03-15"))
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let body = order_body(&r.id(), covering_lines(), None).to_string();
    let first = h
        .call("POST", "/orders", Some(&p1), Some(&body), Some("k-1"))
        .await;
    assert_eq!(first.status, 201, "{}", first.raw);
    let other = h
        .call("POST", "/orders", Some(&p2), Some(&body), Some("k-1"))
        .await;
    assert_eq!(
        (other.status, other.replayed),
        (404, false),
        "{}",
        other.raw
    );
    let again = h
        .call("POST", "/orders", Some(&p1), Some(&body), Some("k-1"))
        .await;
    assert_eq!((again.status, again.replayed), (201, true));
    assert_eq!(again.raw, first.raw);
}
