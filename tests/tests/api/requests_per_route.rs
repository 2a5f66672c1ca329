//! DynamoDB requests per route, counted by an SDK interceptor on the handlers' own client,
//! held to the bar on a small fixture and on a large one (an agreement with 20,000
//! reservations and orders, an account with 500 agreements, 30,000 events on each trail): a
//! change is one write request (one transaction), and a route reads at most twice, at most
//! one page (query) of them, however large the customer. The lists are asked for pages of 5,
//! so that both fixtures answer the same page size. `--nocapture` prints the table; with
//! `VLS_BENCH_OPERATIONS` set (`make bench`) each read is also timed, median of 15.

use serde_json::{Value, json};
use vls_tests::fixtures::*;
use vls_tests::*;

/// Method, path, token (none for the activation page), body, expected status, read budget.
type Call = (
    &'static str,
    String,
    Option<String>,
    Option<Value>,
    u16,
    usize,
);

/// The large fixture.
const LARGE: seeding::Large = seeding::Large {
    reservations: 10_000,
    events: 30_000,
    agreements: 500,
};

/// No route reads more than this, on any fixture.
const MOST_READS: usize = 2;

#[tokio::test]
async fn every_route_within_its_request_budget() {
    let bench = std::env::var("VLS_BENCH_OPERATIONS").ok();
    let repeat = if bench.is_some() { 15 } else { 1 };
    let small = measure(None, repeat).await;
    let large = measure(Some(LARGE), repeat).await;
    println!(
        "{:<7} {:<72} {:>11} {:>13} {:>17}",
        "method", "route", "reads s/l", "items s/l", "ms s/l"
    );
    for (route, s) in &small.routes {
        let l = &large.routes[route];
        let pair = |f: &str| format!("{}/{}", s[f], l[f]);
        println!(
            "{route:<80} {:>11} {:>13} {:>17}",
            pair("reads"),
            pair("items"),
            pair("ms")
        );
    }
    if let Some(out) = bench {
        let both = json!({"small": small.routes, "large": large.routes});
        std::fs::write(&out, both.to_string()).expect("write the counts");
    }
    let failures = [small.failures, large.failures].concat();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What one run of every route measured: per route template, the most it read, wrote, the
/// items it read, pages and the median latency; and what broke the bar.
struct Measured {
    routes: serde_json::Map<String, Value>,
    failures: Vec<String>,
}

/// What every route is called on: the callers, an account bound to an agreement (with a
/// subscription, orders and reservations), another account, and an unassociated agreement
/// whose order is invoiced.
struct World {
    bs: String,
    p: String,
    a: String,
    acc: String,
    other: String,
    sub: String,
    agr: String,
    order: String,
    loose: String,
    res: String,
    res_body: Value,
    /// One of p1's events.
    event: String,
    /// Two of p1's webhook endpoints (one to delete).
    hook: String,
    doomed: String,
    /// A delivery to `hook` (a test event's).
    delivery: String,
    /// Direct subscriptions of `acc` its volume does not cover: one to open a request for,
    /// and two with a request open each (one to acknowledge and decline, one to withdraw).
    uncovered: String,
    srq: String,
    srq2: String,
}

async fn world(h: &Harness) -> World {
    let bs = billing_support();
    h.put("/partners/p1", &bs, &partner_body("Fabrikam")).await;
    let p = partner("p1");
    let acc = h
        .post("/accounts", &bs, &mos_account_body("Contoso"))
        .await
        .id();
    let other = h.post("/accounts", &bs, &account_body("Other")).await.id();
    let a = admin(&acc);
    let subs = format!("/accounts/{acc}/subscriptions");
    let sub = h.post(&subs, &a, &faq_subscription()).await.id();
    let mut bound = agreement_body("1", "2026-03-15");
    bound["online_services_account_id"] = json!(acc);
    let agr = h.post("/agreements", &p, &bound).await.id();
    let order = h
        .post("/orders", &p, &order_body(&agr, covering_lines(), None))
        .await
        .id();
    let loose = h
        .post("/agreements", &p, &agreement_body("2", "2026-03-15"))
        .await
        .id();
    let loose_order = h
        .post("/orders", &p, &order_body(&loose, covering_lines(), None))
        .await;
    h.post(
        &format!("/orders/{}/invoice", loose_order.id()),
        &p,
        &json!({}),
    )
    .await;
    h.sweep().await;
    let res_body = json!({"lines": [{"sku": "d365-team-members", "quantity": 2}]});
    let reservations = format!("/agreements/{agr}/reservations");
    let res = h.post(&reservations, &a, &res_body).await.id();
    // Enough of each list for a page of 5 on either fixture.
    for _ in 0..5 {
        h.post("/orders", &p, &order_body(&agr, covering_lines(), None))
            .await;
        h.post(&reservations, &a, &res_body).await;
    }
    h.dispatch().await;
    let events = h.get("/events?limit=1", &p).await;
    let event = events.body["events"][0]["id"]
        .as_str()
        .expect("an event")
        .to_owned();
    let hook = h.post("/webhook-endpoints", &p, &endpoint()).await.id();
    let doomed = h.post("/webhook-endpoints", &p, &endpoint()).await.id();
    let tested = h
        .post(&format!("/webhook-endpoints/{hook}/test"), &p, &json!({}))
        .await;
    let delivery = tested.body["delivery_id"]
        .as_str()
        .expect("a delivery")
        .to_owned();
    let big = json!({"billing": "invoice", "lines": [{"sku": "d365-sales-professional",
                     "quantity": 1000}]});
    let mut uncovered = Vec::new();
    for _ in 0..3 {
        uncovered.push(h.post(&subs, &a, &big).await.id());
    }
    let requests = format!("/accounts/{acc}/service-requests");
    let mut open = Vec::new();
    for s in &uncovered[1..] {
        let ask = json!({"subscription_id": s, "accept_license_loss": false});
        open.push(h.post(&requests, &a, &ask).await.id());
    }
    World {
        uncovered: uncovered.swap_remove(0),
        srq: open.swap_remove(0),
        srq2: open.swap_remove(0),
        bs,
        p,
        a,
        acc,
        other,
        sub,
        agr,
        order,
        loose,
        res,
        res_body,
        event,
        hook,
        doomed,
        delivery,
    }
}

fn endpoint() -> Value {
    json!({"url": "http://127.0.0.1:9541/hooks", "enabled_events": ["*"]})
}

/// The fixture's name; the large one's history seeded first.
async fn seed(h: &Harness, w: &World, large: Option<seeding::Large>) -> String {
    let Some(size) = large else {
        return "small".to_owned();
    };
    let acc_id = vls_domain::types::AccountId::parse(&w.acc).expect("id");
    let agr_id = vls_domain::types::AgreementId::parse(&w.agr).expect("id");
    let started = std::time::Instant::now();
    let written = seeding::large_history(h, &acc_id, &agr_id, size).await;
    let took = started.elapsed().as_secs_f64();
    format!("large ({written} items seeded in {took:.1} s)")
}

fn call(
    method: &'static str,
    path: impl Into<String>,
    token: &str,
    body: Option<Value>,
    status: u16,
    budget: usize,
) -> Call {
    (
        method,
        path.into(),
        Some(token.to_owned()),
        body,
        status,
        budget,
    )
}

/// A read, answered 200.
fn get(path: impl Into<String>, token: &str, budget: usize) -> Call {
    call("GET", path, token, None, 200, budget)
}

/// A POST with a body.
fn post(path: impl Into<String>, token: &str, body: Value, status: u16, budget: usize) -> Call {
    call("POST", path, token, Some(body), status, budget)
}

/// Every authenticated route once, with its caller, body, status and read budget.
fn calls(w: &World) -> Vec<Call> {
    let (bs, p, a, acc, agr, sub) = (&w.bs, &w.p, &w.a, &w.acc, &w.agr, &w.sub);
    let (order, loose, res, other) = (&w.order, &w.loose, &w.res, &w.other);
    let lines = json!([{"sku": "d365-sales-professional", "quantity": 1}]);
    let osm = json!({"name": "N", "email": "n@contoso.com"});
    let resend = json!({"legal_name": "Contoso Ltd", "country": "NL"});
    let resend_path = format!("/agreements/{loose}/activation-email/resend");
    let cancel = json!({"reason": "r", "accept_license_loss": true});
    let (sp, amend) = (
        specialist(),
        json!({"kind": "separate_online_services", "reason": "r"}),
    );
    // The cancellation before it relies on this agreement's licences: the guard reads the
    // account's volume (one query per agreement it holds), and the loss is accepted.
    let remap = json!({"target_account_id": other, "reason": "r", "accept_license_loss": true});
    let (account, agreement) = (format!("/accounts/{acc}"), format!("/agreements/{agr}"));
    let cancellation = format!("{account}/subscriptions/{sub}/cancellation");
    let sold = order_body(loose, covering_lines(), Some(sub));
    let hook = format!("/webhook-endpoints/{}", w.hook);
    vec![
        call("PUT", "/partners/p9", bs, Some(partner_body("N")), 200, 1),
        post("/accounts", bs, account_body("N"), 201, 0),
        post(
            format!("{account}/subscriptions"),
            a,
            faq_subscription(),
            201,
            1,
        ),
        get(account.clone(), a, 1),
        get(format!("{account}/subscriptions?limit=5"), a, 2),
        get(format!("{account}/subscriptions/{sub}"), a, 1),
        get(format!("{account}/licenses"), a, 1),
        get(format!("{account}/licenses/sources?limit=5"), a, 2),
        get(format!("{account}/events?limit=5"), a, 2),
        post("/agreements", p, agreement_body("1", "2026-05-05"), 201, 1),
        get(agreement.clone(), p, 1),
        call("PUT", format!("{agreement}/osm"), p, Some(osm), 200, 1),
        get(format!("{agreement}/orders?limit=5"), p, 2),
        post("/orders", p, order_body(agr, lines.clone(), None), 201, 1),
        post("/orders", p, sold, 201, 2),
        post(format!("/orders/{order}/invoice"), p, json!({}), 200, 2),
        get(format!("/orders/{order}"), p, 1),
        get(format!("{agreement}/invoice-support"), p, 2),
        get(format!("{agreement}/events?limit=5"), p, 2),
        post(
            format!("{agreement}/reservations"),
            a,
            w.res_body.clone(),
            201,
            2,
        ),
        get(format!("{agreement}/reservations?limit=5"), a, 2),
        get(format!("/reservations/{res}"), a, 1),
        get(format!("{agreement}/true-up-preview"), a, 1),
        post(format!("/reservations/{res}/cancel"), a, json!({}), 200, 2),
        post(resend_path, bs, resend, 202, 2),
        get(format!("{cancellation}-preview"), a, 1 + 1),
        post(cancellation, bs, cancel, 200, 1 + 1),
        post(format!("{agreement}/amendments"), &sp, amend, 201, 2),
        post(format!("{agreement}/remap"), bs, remap, 200, 2 + 1),
        get("/events?limit=5", p, 2),
        get("/events?after=1&limit=5", p, 2),
        get(format!("/events/{}", w.event), p, 1),
        get("/partners/p1/events?limit=5", p, 2),
        post("/webhook-endpoints", p, endpoint(), 201, 1),
        get("/webhook-endpoints?limit=5", p, 1),
        get(hook.clone(), p, 1),
        call("PUT", hook.clone(), p, Some(endpoint()), 200, 2),
        post(format!("{hook}/disable"), p, json!({}), 200, 1),
        post(format!("{hook}/enable"), p, json!({}), 200, 1),
        post(format!("{hook}/rotate-secret"), p, json!({}), 200, 2),
        get(format!("{hook}/deliveries?limit=5"), p, 2),
        post(format!("{hook}/test"), p, json!({}), 202, 2),
        post(
            format!("{hook}/deliveries/{}/redeliver", w.delivery),
            p,
            json!({}),
            202,
            2,
        ),
        post(
            format!("{hook}/replay"),
            p,
            json!({"after_sequence": 0}),
            202,
            2,
        ),
        call(
            "DELETE",
            format!("/webhook-endpoints/{}", w.doomed),
            p,
            None,
            204,
            1,
        ),
        post(
            format!("{account}/service-requests"),
            a,
            json!({"subscription_id": w.uncovered, "accept_license_loss": true}),
            201,
            1,
        ),
        get(format!("{account}/service-requests?limit=5"), a, 1),
        get("/service-requests?limit=5", bs, 2),
        get(format!("/service-requests/{}", w.srq), a, 1),
        post(
            format!("/service-requests/{}/acknowledge", w.srq),
            bs,
            json!({}),
            200,
            1,
        ),
        post(
            format!("/service-requests/{}/decline", w.srq),
            bs,
            json!({"note": "n"}),
            200,
            2,
        ),
        post(
            format!("/service-requests/{}/withdraw", w.srq2),
            a,
            json!({}),
            200,
            2,
        ),
    ]
}

/// Runs calls on one fixture, printing a line per call and keeping what each route took
/// and what broke the bar.
struct Meter<'h> {
    h: &'h Harness,
    fixture: String,
    repeat: usize,
    measured: serde_json::Map<String, Value>,
    failures: Vec<String>,
}

impl Meter<'_> {
    /// The `i`th call, its requests counted and (a read, `repeat` times) timed.
    async fn run(&mut self, i: usize, call: Call) {
        let (method, path, token, body, status, budget) = call;
        let h = self.h;
        let (token, body) = (token.as_deref(), body.map(|b| b.to_string()));
        h.ops.take();
        h.ops.take_items();
        let started = std::time::Instant::now();
        let tag = format!("measure-{i}");
        let r = h
            .call(method, &path, token, body.as_deref(), Some(&tag))
            .await;
        let mut times = vec![started.elapsed().as_secs_f64() * 1000.0];
        let ops = h.ops.take();
        let items = h.ops.take_items();
        // A read again (nothing changes), for a median worth comparing.
        for _ in 1..if method == "GET" { self.repeat } else { 1 } {
            let again = std::time::Instant::now();
            h.call(method, &path, token, None, None).await;
            times.push(again.elapsed().as_secs_f64() * 1000.0);
        }
        h.ops.take();
        h.ops.take_items();
        times.sort_by(f64::total_cmp);
        let ms = (times[times.len() / 2] * 10.0).round() / 10.0;
        let (reads, writes) = reads_writes(&ops);
        let pages = ops.iter().filter(|o| o.as_str() == "Query").count();
        println!("{method:<7} {path:<72} {reads:>5} {writes:>6} {items:>6} {pages:>5} {ms:>7}");
        // The most a route took, keyed by its template (`make bench` reports these).
        let route = format!("{method} {}", route_template(&path));
        let before = self.measured.get(&route).cloned().unwrap_or(Value::Null);
        let most = |field: &str, n: usize| before[field].as_u64().unwrap_or(0).max(n as u64);
        self.measured.insert(
            route,
            json!({"reads": most("reads", reads), "writes": writes, "items": most("items", items),
                   "pages": most("pages", pages), "ms": ms}),
        );
        let fixture = &self.fixture;
        if r.status != status {
            let failure = format!("{fixture}: {method} {path}: {} {}", r.status, r.raw);
            self.failures.push(failure);
        }
        let want_writes = usize::from(method != "GET");
        if writes != want_writes || reads > budget.min(MOST_READS) || pages > 1 {
            self.failures.push(format!(
                "{fixture}: {method} {path}: {reads} reads (budget {budget}), {pages} pages, \
                 {writes} writes: {ops:?}"
            ));
        }
    }
}

async fn measure(large: Option<seeding::Large>, repeat: usize) -> Measured {
    let h = Harness::new().await;
    let w = world(&h).await;
    let fixture = seed(&h, &w, large).await;
    println!("{fixture}:");
    // One request first, so that the first one measured pays no warm-up of the emulator's.
    h.get(&format!("/agreements/{}", w.agr), &w.bs).await;
    let mut meter = Meter {
        h: &h,
        fixture,
        repeat,
        measured: serde_json::Map::new(),
        failures: Vec::new(),
    };
    for (i, c) in calls(&w).into_iter().enumerate() {
        meter.run(i, c).await;
    }
    // The activation page and the association, with a fresh link after the resend.
    h.sweep().await;
    let link = link_token(h.mail().last().expect("mail")).expect("link");
    let page = format!("/activate/{link}");
    meter
        .run(100, ("GET", page.clone(), None, None, 200, 2))
        .await;
    let association = Some(json!({ "account_id": w.acc }));
    meter
        .run(101, ("POST", page, Some(w.a.clone()), association, 200, 2))
        .await;
    Measured {
        routes: meter.measured,
        failures: meter.failures,
    }
}

/// `/agreements/agr_…/orders?x=y` → `/agreements/{agreement_id}/orders`, as the contract names it.
fn route_template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let mut out = Vec::new();
    let mut previous = "";
    for segment in path.split('/') {
        let param = match previous {
            "partners" => Some("{partner_id}"),
            "accounts" => Some("{account_id}"),
            "subscriptions" => Some("{subscription_id}"),
            "agreements" => Some("{agreement_id}"),
            "orders" => Some("{order_id}"),
            "reservations" => Some("{reservation_id}"),
            "events" => Some("{event_id}"),
            "webhook-endpoints" => Some("{endpoint_id}"),
            "deliveries" => Some("{delivery_id}"),
            "service-requests" => Some("{service_request_id}"),
            "activate" => Some("{token}"),
            _ => None,
        };
        match param {
            Some(p) if !segment.is_empty() => {
                out.push(p);
                previous = "";
            }
            _ => {
                out.push(segment);
                previous = segment;
            }
        }
    }
    out.join("/")
}

#[test]
fn routes_are_named_by_their_templates() {
    assert_eq!(
        route_template("/agreements/agr_1/orders?status=x"),
        "/agreements/{agreement_id}/orders"
    );
    assert_eq!(
        route_template("/accounts/acc_1/subscriptions/sub_2/cancellation"),
        "/accounts/{account_id}/subscriptions/{subscription_id}/cancellation"
    );
    assert_eq!(
        route_template("/reservations/res_1/cancel"),
        "/reservations/{reservation_id}/cancel"
    );
    assert_eq!(route_template("/activate/abc"), "/activate/{token}");
    assert_eq!(route_template("/accounts"), "/accounts");
}
