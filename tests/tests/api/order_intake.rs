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

#[tokio::test]
async fn migration_flow_from_direct_subscription_to_an_ea() {
    let w = world().await;
    let h = &w.h;

    // The pool shows the direct subscription.
    let pool = h
        .get(&format!("/accounts/{}/licenses", w.account), &w.admin)
        .await;
    assert_eq!(pool.status, 200, "{}", pool.raw);
    assert_eq!(total(&pool.body, "d365-sales-professional"), 50);
    assert_eq!(total(&pool.body, "d365-additional-production-instance"), 3);
    assert_eq!(total(&pool.body, "d365-additional-storage-gb"), 5);
    assert_eq!(pool.body["skus"][0]["sources"][0]["kind"], "direct");
    assert_eq!(
        pool.body["skus"][0]["sources"][0]["id"],
        w.subscription.as_str()
    );

    // An unregistered partner may not create agreements.
    let r = h
        .post(
            "/agreements",
            &partner("p-unknown"),
            &agreement_body("4711", "2026-03-15"),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("unknown_partner"))
    );

    // R2: the next anniversary after the start; a second agreement keeps the month-day.
    let a = agreement(&w, "4711", "2026-03-15").await;
    assert_eq!(a["anniversary"], "2027-03-15");
    assert_eq!(a["program"], "EA");
    assert_eq!(a["account_id"], Value::Null);
    assert_eq!(a["bound_to_online_services"], false);
    assert_eq!(a["volume_discount_eligible"], false);
    let second = agreement(&w, "4711", "2026-07-01").await;
    assert_eq!(second["anniversary"], "2027-03-15");
    let other_customer = agreement(&w, "4712", "2026-07-01").await;
    assert_eq!(other_customer["anniversary"], "2027-07-01");
    let agr = a["id"].as_str().expect("id");

    // R4: an order below the subscription lists every short line.
    let short = order_body(
        agr,
        json!([{"sku": "d365-sales-professional", "quantity": 40}]),
        Some(&w.subscription),
    );
    let r = h.post("/orders", &w.partner, &short).await;
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

    // A covering order is placed.
    let r = h
        .post(
            "/orders",
            &w.partner,
            &order_body(agr, covering_lines(), Some(&w.subscription)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(
        (r.body["status"].as_str(), r.body["source"].as_str()),
        (Some("placed"), Some("order"))
    );
    let order = r.body["id"].as_str().expect("order id").to_owned();
    let got = h.get(&format!("/orders/{order}"), &w.partner).await;
    assert_eq!(
        got.body, r.body,
        "a POST that creates returns what the GET returns"
    );

    // R5: invoicing an unassociated agreement queues the OSM's activation mail.
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

    // Not yet activated: the pool is unchanged, and the order is listed on the agreement.
    let pool = h
        .get(&format!("/accounts/{}/licenses", w.account), &w.bs)
        .await;
    assert_eq!(total(&pool.body, "d365-sales-professional"), 50);
    let orders = h.get(&format!("/agreements/{agr}/orders"), &w.bs).await;
    assert_eq!(orders.body["orders"].as_array().map(Vec::len), Some(1));

    // The audit trail, oldest first.
    let events = h
        .get(&format!("/agreements/{agr}/events"), &w.partner)
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
    let events = h
        .get(&format!("/accounts/{}/events", w.account), &w.admin)
        .await;
    let trail = actions(&events.body);
    assert_eq!(trail, ["account.created", "subscription.created"]);

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
    let src = &pool.body["skus"][0]["sources"][0];
    assert_eq!(
        *src,
        json!({"kind": "agreement", "id": agr, "quantity": 20}),
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

#[tokio::test]
async fn roles_ownership_and_tokens() {
    let w = world().await;
    let h = &w.h;
    let a = agreement(&w, "4711", "2026-03-15").await;
    let agr = a["id"].as_str().expect("id");
    h.put("/partners/p2", &w.bs, &partner_body("Other LSP"))
        .await;

    // Someone else's agreement does not exist for them.
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
    let r = h
        .post(
            "/orders",
            &partner("p2"),
            &order_body(agr, covering_lines(), None),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = h
        .put(
            &format!("/agreements/{agr}/osm"),
            &partner("p2"),
            &json!({"name": "X", "email": "x@fabrikam.com"}),
        )
        .await;
    assert_eq!(r.status, 404);
    // Another account's pool and subscriptions.
    let other = h
        .post("/accounts", &w.bs, &account_body("Other"))
        .await
        .id();
    assert_eq!(
        h.get(&format!("/accounts/{}/licenses", w.account), &admin(&other))
            .await
            .status,
        404
    );
    assert_eq!(
        h.post(
            &format!("/accounts/{}/subscriptions", w.account),
            &admin(&other),
            &faq_subscription()
        )
        .await
        .status,
        404
    );

    // Roles that may never do it.
    let r = h
        .post(
            "/orders",
            &w.admin,
            &order_body(agr, covering_lines(), None),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert_eq!(
        h.post("/agreements", &w.bs, &agreement_body("1", "2026-01-01"))
            .await
            .status,
        403
    );
    assert_eq!(
        h.post("/accounts", &w.partner, &account_body("X"))
            .await
            .status,
        403
    );
    assert_eq!(
        h.put("/partners/p3", &w.partner, &partner_body("X"))
            .await
            .status,
        403
    );
    assert_eq!(
        h.get(&format!("/accounts/{}/licenses", w.account), &w.partner)
            .await
            .status,
        403
    );
    assert_eq!(
        h.get(&format!("/agreements/{agr}/invoice-support"), &specialist())
            .await
            .status,
        403
    );
    assert_eq!(
        h.get(&format!("/agreements/{agr}"), &specialist())
            .await
            .status,
        200
    );

    // Tokens: none, expired a second ago, forged, wrong audience.
    let path = format!("/agreements/{agr}");
    assert_eq!(h.call("GET", &path, None, None, None).await.status, 401);
    let mut expired = claims("partner", json!({"partner_id": "p1"}));
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 1);
    let r = h
        .call("GET", &path, Some(&token_with(expired, SECRET)), None, None)
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let forged = token_with(
        claims("partner", json!({"partner_id": "p1"})),
        "not-the-secret",
    );
    assert_eq!(
        h.call("GET", &path, Some(&forged), None, None).await.status,
        401
    );
    let mut aud = claims("partner", json!({"partner_id": "p1"}));
    aud["aud"] = json!("elsewhere");
    assert_eq!(
        h.call("GET", &path, Some(&token_with(aud, SECRET)), None, None)
            .await
            .status,
        401
    );
    assert_eq!(
        h.call("GET", &path, Some("garbage"), None, None)
            .await
            .status,
        401
    );
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

#[tokio::test]
async fn bad_input_is_refused_with_a_code_and_writes_nothing() {
    let w = world().await;
    let h = &w.h;
    let a = agreement(&w, "4711", "2026-03-15").await;
    let agr = a["id"].as_str().expect("id").to_owned();
    let before = h.item_count().await;

    let line = |q: Value| {
        order_body(
            &agr,
            json!([{"sku": "d365-sales-professional", "quantity": q}]),
            None,
        )
    };
    let mut cases: Vec<(&str, &str, String, u16, &str)> = vec![
        (
            "quantity 0",
            "/orders",
            line(json!(0)).to_string(),
            422,
            "invalid_quantity",
        ),
        (
            "quantity -1",
            "/orders",
            line(json!(-1)).to_string(),
            422,
            "invalid_quantity",
        ),
        (
            "quantity 10^12",
            "/orders",
            line(json!(1_000_000_000_000u64)).to_string(),
            422,
            "invalid_quantity",
        ),
        (
            "quantity \"5\"",
            "/orders",
            line(json!("5")).to_string(),
            422,
            "invalid_type",
        ),
        (
            "unknown sku",
            "/orders",
            order_body(&agr, json!([{"sku": "d365-unicorn", "quantity": 1}]), None).to_string(),
            422,
            "unknown_sku",
        ),
        (
            "empty lines",
            "/orders",
            order_body(&agr, json!([]), None).to_string(),
            422,
            "empty_lines",
        ),
        (
            "missing lines",
            "/orders",
            json!({"agreement_id": agr}).to_string(),
            422,
            "missing_field",
        ),
        (
            "malformed json",
            "/orders",
            "{\"agreement_id\": ".to_owned(),
            400,
            "malformed_json",
        ),
        (
            "not an object",
            "/orders",
            "[1,2]".to_owned(),
            422,
            "invalid_type",
        ),
        (
            "empty body",
            "/orders",
            String::new(),
            400,
            "malformed_json",
        ),
        (
            "unknown replaced subscription",
            "/orders",
            order_body(
                &agr,
                covering_lines(),
                Some("sub_01JD0000000000000000000000"),
            )
            .to_string(),
            422,
            "unknown_subscription",
        ),
    ];
    let mut agreement_case = |name, patch: &dyn Fn(&mut Value), code| {
        let mut b = agreement_body("4711", "2026-03-15");
        patch(&mut b);
        cases.push((name, "/agreements", b.to_string(), 422, code));
    };
    agreement_case(
        "program OPEN",
        &|b| b["program"] = json!("OPEN"),
        "unknown_program",
    );
    agreement_case(
        "OSM with CR/LF",
        &|b| b["osm"]["email"] = json!("olivia@contoso.com\r\nBcc: all@evil.example"),
        "invalid_email",
    );
    agreement_case(
        "OSM on gmail.com",
        &|b| b["osm"]["email"] = json!("olivia@gmail.com"),
        "osm_public_mail_domain",
    );
    agreement_case(
        "missing customer",
        &|b| {
            b.as_object_mut().map(|m| m.remove("customer"));
        },
        "missing_field",
    );
    agreement_case(
        "bad start date",
        &|b| b["start_date"] = json!("2026-13-01"),
        "invalid_date",
    );
    agreement_case(
        "unknown MOS account",
        &|b| b["online_services_account_id"] = json!("acc_01JD0000000000000000000000"),
        "unknown_account",
    );

    for (name, path, body, status, code) in &cases {
        let r = h
            .call(
                "POST",
                path,
                Some(&w.partner),
                Some(body),
                Some(&format!("key-{}", name.replace(' ', "-"))),
            )
            .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (*status, Some(*code)),
            "{name}: {}",
            r.raw
        );
        assert!(r.headers_content_type_is_problem(), "{name}");
    }
    let sub = h
        .call(
            "POST",
            &format!("/accounts/{}/subscriptions", w.account),
            Some(&w.admin),
            Some(r#"{"billing":"cash","lines":[]}"#),
            None,
        )
        .await;
    assert_eq!(
        (sub.status, sub.body["code"].as_str()),
        (422, Some("invalid_billing"))
    );
    let acc = h
        .call(
            "POST",
            "/accounts",
            Some(&w.bs),
            Some(r#"{"name":"X","domain":"not a domain"}"#),
            None,
        )
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

#[tokio::test]
async fn idempotency_replays_refuses_reuse_and_does_concurrent_work_once() {
    let w = world().await;
    let h = &w.h;
    let a = agreement(&w, "4711", "2026-03-15").await;
    let agr = a["id"].as_str().expect("id").to_owned();
    let body = order_body(&agr, covering_lines(), Some(&w.subscription)).to_string();

    let first = h
        .call(
            "POST",
            "/orders",
            Some(&w.partner),
            Some(&body),
            Some("order-1"),
        )
        .await;
    assert_eq!(first.status, 201);
    assert!(!first.replayed);
    let replay = h
        .call(
            "POST",
            "/orders",
            Some(&w.partner),
            Some(&body),
            Some("order-1"),
        )
        .await;
    assert_eq!(
        (replay.status, &replay.raw),
        (201, &first.raw),
        "identical response"
    );
    assert!(replay.replayed);
    let other = order_body(
        &agr,
        json!([{"sku": "d365-sales-enterprise", "quantity": 1}]),
        None,
    )
    .to_string();
    let reused = h
        .call(
            "POST",
            "/orders",
            Some(&w.partner),
            Some(&other),
            Some("order-1"),
        )
        .await;
    assert_eq!(
        (reused.status, reused.body["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );

    // Replaying an invoice after it succeeded gives the first answer, not a 409.
    let order = first.body["id"].as_str().expect("id");
    let path = format!("/orders/{order}/invoice");
    let inv = h
        .call("POST", &path, Some(&w.partner), Some("{}"), Some("inv-1"))
        .await;
    let inv2 = h
        .call("POST", &path, Some(&w.partner), Some("{}"), Some("inv-1"))
        .await;
    assert_eq!((inv.status, inv2.status, &inv2.raw), (200, 200, &inv.raw));

    // Ten concurrent duplicates: one order.
    let dup = order_body(
        &agr,
        json!([{"sku": "d365-team-members", "quantity": 7}]),
        None,
    )
    .to_string();
    let responses = join_all((0..10).map(|_| {
        h.call(
            "POST",
            "/orders",
            Some(&w.partner),
            Some(&dup),
            Some("order-burst"),
        )
    }))
    .await;
    let ids: Vec<&Value> = responses.iter().map(|r| &r.body["id"]).collect();
    assert!(
        responses.iter().all(|r| r.status == 201),
        "{:?}",
        responses
            .iter()
            .map(|r| (r.status, &r.raw))
            .collect::<Vec<_>>()
    );
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

    // Ten concurrent different orders without keys: none lost (optimistic retries).
    let bodies: Vec<String> = (1..=10)
        .map(|i| {
            order_body(
                &agr,
                json!([{"sku": "d365-field-service", "quantity": i}]),
                None,
            )
            .to_string()
        })
        .collect();
    let responses = join_all(
        bodies
            .iter()
            .map(|b| h.call("POST", "/orders", Some(&w.partner), Some(b), None)),
    )
    .await;
    assert!(
        responses.iter().all(|r| r.status == 201),
        "{:?}",
        responses
            .iter()
            .map(|r| (r.status, &r.raw))
            .collect::<Vec<_>>()
    );
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
