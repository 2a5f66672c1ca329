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

/// Method, path, token, body, expected status, read budget.
type Call = (&'static str, String, String, Option<Value>, u16, usize);

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

#[allow(clippy::too_many_lines)] // one table of calls
async fn measure(large: Option<seeding::Large>, repeat: usize) -> Measured {
    let h = Harness::new().await;
    let bs = billing_support();
    h.put("/partners/p1", &bs, &partner_body("Fabrikam")).await;
    let p = partner("p1");
    let acc = h
        .post("/accounts", &bs, &mos_account_body("Contoso"))
        .await
        .id();
    let other = h.post("/accounts", &bs, &account_body("Other")).await.id();
    let a = admin(&acc);
    let sub = h
        .post(
            &format!("/accounts/{acc}/subscriptions"),
            &a,
            &faq_subscription(),
        )
        .await
        .id();
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
        .await
        .id();
    h.post(&format!("/orders/{loose_order}/invoice"), &p, &json!({}))
        .await;
    h.sweep().await;
    let res_body = json!({"lines": [{"sku": "d365-team-members", "quantity": 2}]});
    let res = h
        .post(&format!("/agreements/{agr}/reservations"), &a, &res_body)
        .await
        .id();
    // Enough of each list for a page of 5 on either fixture.
    for _ in 0..5 {
        h.post("/orders", &p, &order_body(&agr, covering_lines(), None))
            .await;
        h.post(&format!("/agreements/{agr}/reservations"), &a, &res_body)
            .await;
    }

    let fixture = if let Some(size) = large {
        let acc_id = vls_domain::types::AccountId::parse(&acc).expect("id");
        let agr_id = vls_domain::types::AgreementId::parse(&agr).expect("id");
        let started = std::time::Instant::now();
        let written = seeding::large_history(&h, &acc_id, &agr_id, size).await;
        let took = started.elapsed().as_secs_f64();
        format!("large ({written} items seeded in {took:.1} s)")
    } else {
        "small".to_owned()
    };
    let lines = json!([{"sku": "d365-sales-professional", "quantity": 1}]);
    let mut calls: Vec<Call> = vec![
        (
            "PUT",
            "/partners/p9".into(),
            bs.clone(),
            Some(partner_body("N")),
            200,
            0,
        ),
        (
            "POST",
            "/accounts".into(),
            bs.clone(),
            Some(account_body("N")),
            201,
            0,
        ),
        (
            "POST",
            format!("/accounts/{acc}/subscriptions"),
            a.clone(),
            Some(faq_subscription()),
            201,
            1,
        ),
        (
            "GET",
            format!("/accounts/{acc}/licenses"),
            a.clone(),
            None,
            200,
            1 + 1,
        ),
        (
            "GET",
            format!("/accounts/{acc}/events?limit=5"),
            a.clone(),
            None,
            200,
            2,
        ),
        (
            "POST",
            "/agreements".into(),
            p.clone(),
            Some(agreement_body("1", "2026-05-05")),
            201,
            1,
        ),
        ("GET", format!("/agreements/{agr}"), p.clone(), None, 200, 1),
        (
            "PUT",
            format!("/agreements/{agr}/osm"),
            p.clone(),
            Some(json!({"name": "N", "email": "n@contoso.com"})),
            200,
            1,
        ),
        (
            "GET",
            format!("/agreements/{agr}/orders?limit=5"),
            p.clone(),
            None,
            200,
            2,
        ),
        (
            "POST",
            "/orders".into(),
            p.clone(),
            Some(order_body(&agr, lines.clone(), None)),
            201,
            1,
        ),
        (
            "POST",
            "/orders".into(),
            p.clone(),
            Some(order_body(&loose, covering_lines(), Some(&sub))),
            201,
            2,
        ),
        (
            "POST",
            format!("/orders/{order}/invoice"),
            p.clone(),
            Some(json!({})),
            200,
            2,
        ),
        ("GET", format!("/orders/{order}"), p.clone(), None, 200, 1),
        (
            "GET",
            format!("/agreements/{agr}/invoice-support"),
            p.clone(),
            None,
            200,
            2,
        ),
        (
            "GET",
            format!("/agreements/{agr}/events?limit=5"),
            p.clone(),
            None,
            200,
            2,
        ),
        (
            "POST",
            format!("/agreements/{agr}/reservations"),
            a.clone(),
            Some(res_body.clone()),
            201,
            2,
        ),
        (
            "GET",
            format!("/agreements/{agr}/reservations?limit=5"),
            a.clone(),
            None,
            200,
            2,
        ),
        (
            "GET",
            format!("/agreements/{agr}/true-up-preview"),
            a.clone(),
            None,
            200,
            1,
        ),
        (
            "POST",
            format!("/reservations/{res}/cancel"),
            a.clone(),
            Some(json!({})),
            200,
            2,
        ),
        (
            "POST",
            format!("/agreements/{loose}/activation-email/resend"),
            bs.clone(),
            Some(json!({"legal_name": "Contoso Ltd", "country": "NL"})),
            202,
            2,
        ),
        (
            "GET",
            format!("/accounts/{acc}/subscriptions/{sub}/cancellation-preview"),
            a.clone(),
            None,
            200,
            1 + 1,
        ),
        (
            "POST",
            format!("/accounts/{acc}/subscriptions/{sub}/cancellation"),
            bs.clone(),
            Some(json!({"reason": "r", "accept_license_loss": true})),
            200,
            1 + 1,
        ),
        (
            "POST",
            format!("/agreements/{agr}/amendments"),
            specialist(),
            Some(json!({"kind": "separate_online_services", "reason": "r"})),
            201,
            2,
        ),
        (
            "POST",
            format!("/agreements/{agr}/remap"),
            bs.clone(),
            // The cancellation above relies on this agreement's licences: the guard reads the
            // account's volume (one query per agreement it holds), and the loss is accepted.
            Some(json!({"target_account_id": other, "reason": "r", "accept_license_loss": true})),
            200,
            2 + 1,
        ),
    ];
    println!("{fixture}:");
    // One request first, so that the first one measured pays no warm-up of the emulator's.
    h.get(&format!("/agreements/{agr}"), &bs).await;
    let mut failures = Vec::new();
    let mut measured = serde_json::Map::new();
    let mut run = async |method: &str,
                         path: &str,
                         token: Option<&str>,
                         body: Option<String>,
                         status: u16,
                         budget: usize,
                         i: usize| {
        h.ops.take();
        h.ops.take_items();
        let started = std::time::Instant::now();
        let r = h
            .call(
                method,
                path,
                token,
                body.as_deref(),
                Some(&format!("measure-{i}")),
            )
            .await;
        let mut times = vec![started.elapsed().as_secs_f64() * 1000.0];
        let ops = h.ops.take();
        let items = h.ops.take_items();
        // A read again (nothing changes), for a median worth comparing.
        for _ in 1..if method == "GET" { repeat } else { 1 } {
            let again = std::time::Instant::now();
            h.call(method, path, token, None, None).await;
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
        let route = format!("{method} {}", route_template(path));
        let before = measured.get(&route).cloned().unwrap_or(Value::Null);
        let most = |field: &str, n: usize| before[field].as_u64().unwrap_or(0).max(n as u64);
        measured.insert(
            route,
            json!({"reads": most("reads", reads), "writes": writes, "items": most("items", items),
                   "pages": most("pages", pages), "ms": ms}),
        );
        if r.status != status {
            failures.push(format!(
                "{fixture}: {method} {path}: {} {}",
                r.status, r.raw
            ));
        }
        let want_writes = usize::from(method != "GET");
        if writes != want_writes || reads > budget.min(MOST_READS) || pages > 1 {
            failures.push(format!(
                "{fixture}: {method} {path}: {reads} reads (budget {budget}), {pages} pages, \
                 {writes} writes: {ops:?}"
            ));
        }
    };
    for (i, (method, path, token, body, status, budget)) in calls.drain(..).enumerate() {
        run(
            method,
            &path,
            Some(&token),
            body.map(|b| b.to_string()),
            status,
            budget,
            i,
        )
        .await;
    }
    // The activation page and the association, with a fresh link after the resend.
    h.sweep().await;
    let link = link_token(h.mail().last().expect("mail")).expect("link");
    run("GET", &format!("/activate/{link}"), None, None, 200, 2, 100).await;
    run(
        "POST",
        &format!("/activate/{link}"),
        Some(&a),
        Some(json!({ "account_id": acc }).to_string()),
        200,
        2,
        101,
    )
    .await;
    Measured {
        routes: measured,
        failures,
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
