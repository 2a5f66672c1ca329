//! The customer's pages' forms and lists (PORTAL.md §7.8 6–14) in-process against the
//! emulator: each form runs its JSON route's use case (same checks, same transaction, same
//! idempotency store, `via: portal`), a refusal re-renders the form with the catalog's
//! sentence and writes nothing, and another account's ids are the same 404 as ids never
//! issued.

use futures::future::join_all;
use serde_json::{Value, json};
use vls_tests::browser::{Jar, hidden, path_of};
use vls_tests::*;

use crate::portal::{Headers, get, location, page, post, signed_in, signed_in_to};

/// The clock of these tests: an EA started 2026-03-15 has its anniversary on 2027-03-15,
/// and reservations are open on it until 2027-02-12.
const NOW: &str = "2026-11-28T10:00:00Z";

fn seats(n: u64) -> Value {
    json!([{"sku": "d365-sales-professional", "quantity": n}])
}

/// Contoso with an EA whose invoiced order adds `volume` seats (none: no order).
async fn with_ea(volume: u64) -> (Tenancy, String) {
    let t = Tenancy::new().await;
    t.h.clock.set(at(NOW));
    let agreement = t.associated("EA", "2026-03-15").await;
    if volume > 0 {
        let order = fixtures::order_body(&agreement, seats(volume), None);
        let order = t.h.post("/orders", &t.partner, &order).await.id();
        let inv =
            t.h.post(&format!("/orders/{order}/invoice"), &t.partner, &json!({}))
                .await;
        assert_eq!(inv.status, 200, "{}", inv.raw);
    }
    (t, agreement)
}

/// A direct subscription of `n` seats on Contoso: its id.
async fn subscription(t: &Tenancy, n: u64) -> String {
    let body = json!({"billing": "invoice", "lines": seats(n)});
    let path = format!("/accounts/{}/subscriptions", t.account);
    t.h.post(&path, &t.admin, &body).await.id()
}

/// The form of `page` that posts to `action`, filled with `fields`: its CSRF value and
/// one-time id as the page gave them.
fn filled(page: &Resp, action: &str, fields: &str) -> String {
    let at = page
        .raw
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form to {action}: {}", page.raw));
    let form = &page.raw[at..];
    let csrf = hidden(form, "csrf").expect("csrf");
    let id = hidden(form, "form_id").expect("form_id");
    if fields.is_empty() {
        format!("csrf={csrf}&form_id={id}")
    } else {
        format!("csrf={csrf}&form_id={id}&{fields}")
    }
}

/// The numbers of a table row (`<tr data-sku="…">`) of a page, in order.
fn row(page: &str, table: &str, sku: &str) -> Vec<i64> {
    let at = page
        .find(&format!("id=\"{table}\""))
        .unwrap_or_else(|| panic!("no {table}"));
    let from = page[at..]
        .find(&format!("data-sku=\"{sku}\""))
        .map(|i| at + i);
    let from = from.unwrap_or_else(|| panic!("no {sku} row in {table}: {page}"));
    let end = page[from..].find("</tr>").map_or(page.len(), |i| from + i);
    page[from..end]
        .split("<td class=\"n\">")
        .skip(1)
        .filter_map(|c| c.split('<').next()?.parse().ok())
        .collect()
}

/// The account's trail as the JSON route gives it.
async fn trail(t: &Tenancy) -> Vec<Value> {
    let r =
        t.h.get(
            &format!("/accounts/{}/events?limit=100", t.account),
            &t.admin,
        )
        .await;
    r.body["events"].as_array().cloned().unwrap_or_default()
}

fn actions<'a>(events: &'a [Value], action: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["action"] == action).collect()
}

async fn pool_seats(t: &Tenancy) -> u64 {
    let r =
        t.h.get(&format!("/accounts/{}/licenses", t.account), &t.admin)
            .await;
    total(&r.body, "d365-sales-professional")
}

/// Acceptance 9 in process: the review's sums are `…/true-up-preview` read after Reserve;
/// the reservation is in the pool at once, cancellable until made + 72 h, its trail entry
/// says `via: portal`; the same form again is the same reservation and one entry.
#[tokio::test]
async fn reserving_through_the_review_is_the_json_use_case_once() {
    let (t, agreement) = with_ea(20).await;
    let h = &t.h;
    let (mut jar, _) = signed_in(&t).await;
    let before = pool_seats(&t).await;
    let base = format!("/portal/agreements/{agreement}");
    let form = get(h, &mut jar, &format!("{base}/reserve")).await;
    page(&form, 200, None);
    let fields = filled(
        &form,
        &format!("{base}/reserve/review"),
        "qty_d365-sales-professional=10",
    );
    let review = post(h, &mut jar, &format!("{base}/reserve/review"), &fields, &[]).await;
    page(&review, 200, None);
    assert_eq!(pool_seats(&t).await, before, "a review writes nothing");
    let sums = row(&review.raw, "review", "d365-sales-professional");
    let reserve = filled(
        &review,
        &format!("{base}/reservations"),
        "qty_d365-sales-professional=10",
    );
    let done = post(h, &mut jar, &format!("{base}/reservations"), &reserve, &[]).await;
    page(&done, 303, None);
    let preview = h
        .get(
            &format!("/agreements/{agreement}/true-up-preview"),
            &t.admin,
        )
        .await;
    let billed = preview.body["lines"][0]["quantity"]
        .as_i64()
        .expect("a line");
    assert_eq!(sums, vec![billed - 10, 10, billed], "{}", review.raw);
    assert_eq!(pool_seats(&t).await, before + 10, "in the pool at once");

    let again = post(h, &mut jar, &format!("{base}/reservations"), &reserve, &[]).await;
    assert_eq!(
        location(&again),
        location(&done),
        "the same form is the same reservation"
    );
    let p5 = get(h, &mut jar, &path_of(&location(&done))).await;
    page(&p5, 200, None);
    let id = location(&done)
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let json = h.get(&format!("/reservations/{id}"), &t.admin).await;
    let made =
        chrono::DateTime::parse_from_rfc3339(json.body["created_at"].as_str().expect("made"))
            .expect("a time");
    let until = (made + chrono::Duration::hours(72))
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    assert!(
        p5.raw
            .contains(&format!("id=\"cancellable-until\">{until}")),
        "{}",
        p5.raw
    );
    let entries = trail(&t).await;
    let created = actions(&entries, "reservation.created");
    assert_eq!(created.len(), 1, "one entry for the form sent twice");
    assert_eq!(created[0]["details"]["via"], "portal", "{}", created[0]);
    assert_eq!(created[0]["details"]["email"], "ada@contoso.example");
    assert_eq!(pool_seats(&t).await, before + 10);
}

/// Acceptance 10: a reserve forced on a CASA, and one inside the closed window, are 422 pages
/// with the JSON code, the catalog's sentence and the quantities kept; nothing is written.
#[tokio::test]
async fn a_refused_reservation_keeps_the_form_and_writes_nothing() {
    let t = Tenancy::new().await;
    let h = &t.h;
    h.clock.set(at(NOW));
    let casa = t.associated("CASA", "2026-03-15").await;
    let ea = t.associated("EA", "2026-03-15").await;
    let (mut jar, _) = signed_in(&t).await;
    let p2 = get(h, &mut jar, &format!("/portal/agreements/{casa}")).await;
    page(&p2, 200, None);
    assert!(
        p2.raw.contains("data-code=\"program_not_eligible\""),
        "{}",
        p2.raw
    );
    assert!(
        !p2.raw.contains("id=\"reserve\""),
        "no reserve link on a CASA"
    );
    let events = trail(&t).await.len();
    let cases = [
        (casa.clone(), "program_not_eligible", "EA and EAS only"),
        (ea.clone(), "", ""),
    ];
    for (i, (agreement, code, sentence)) in cases.into_iter().enumerate() {
        if i == 1 {
            h.clock.set(at("2027-02-13T09:00:00Z"));
            // The session went idle meanwhile: a new one.
            (jar, _) = signed_in(&t).await;
        }
        let fresh = get(h, &mut jar, &format!("/portal/agreements/{ea}/reserve")).await;
        let action = format!("/portal/agreements/{agreement}/reservations");
        let ea_action = format!("/portal/agreements/{ea}/reserve/review");
        let fields = filled(&fresh, &ea_action, "qty_d365-sales-professional=7");
        let r = post(h, &mut jar, &action, &fields, &[]).await;
        let (code, sentence) = if i == 0 {
            (code, sentence)
        } else {
            (
                "reservation_window_closed",
                "close 30 days before the anniversary (2027-03-15)",
            )
        };
        page(&r, 422, Some(code));
        assert!(r.raw.contains(sentence), "{}", r.raw);
        assert!(r.raw.contains("<title>Error: "), "{}", r.raw);
        assert!(r.raw.contains("Nothing was changed"));
        assert!(
            r.raw.contains("value=\"7\""),
            "the quantity is kept: {}",
            r.raw
        );
    }
    assert_eq!(trail(&t).await.len(), events, "nothing written");
    let listed = h
        .get(&format!("/agreements/{ea}/reservations"), &t.admin)
        .await;
    assert_eq!(listed.body["reservations"], json!([]));
}

/// The quantities a person can type: none at all, too many, or no number: each a 422 page with
/// the JSON code and the catalog's one sentence about quantities, the input kept.
#[tokio::test]
async fn quantities_out_of_bounds_are_refused_with_one_sentence() {
    let (t, agreement) = with_ea(0).await;
    let h = &t.h;
    let (mut jar, _) = signed_in(&t).await;
    let base = format!("/portal/agreements/{agreement}");
    let form = get(h, &mut jar, &format!("{base}/reserve")).await;
    let cases = [
        ("", "empty_lines"),
        ("qty_d365-sales-professional=1000001", "invalid_quantity"),
        ("qty_d365-sales-professional=ten", "invalid_field"),
    ];
    for (fields, code) in cases {
        let body = filled(&form, &format!("{base}/reserve/review"), fields);
        for action in [
            format!("{base}/reserve/review"),
            format!("{base}/reservations"),
        ] {
            let r = post(h, &mut jar, &action, &body, &[]).await;
            page(&r, 422, Some(code));
            assert!(
                r.raw.contains("whole number from 1 to 1,000,000"),
                "{code}: {}",
                r.raw
            );
            let kept = fields.split('=').nth(1).unwrap_or_default();
            assert!(
                r.raw.contains(&format!("value=\"{kept}\"")),
                "{code}: {}",
                r.raw
            );
        }
    }
    let listed = h
        .get(&format!("/agreements/{agreement}/reservations"), &t.admin)
        .await;
    assert_eq!(listed.body["reservations"], json!([]));
}

/// Acceptance 11: a reservation cancelled within 72 hours leaves the pool; one a cancelled
/// subscription relies on is a 409 page whose table is the JSON refusal's `shortfalls`.
#[tokio::test]
async fn cancelling_a_reservation_and_the_refusal_that_names_what_relies_on_it() {
    let (t, agreement) = with_ea(0).await;
    let h = &t.h;
    let path = format!("/agreements/{agreement}/reservations");
    let first = h
        .post(&path, &t.admin, &json!({"lines": seats(5)}))
        .await
        .id();
    let second = h
        .post(&path, &t.admin, &json!({"lines": seats(10)}))
        .await
        .id();
    let (mut jar, _) = signed_in(&t).await;
    let before = pool_seats(&t).await;
    let p5 = get(h, &mut jar, &format!("/portal/reservations/{first}")).await;
    let action = format!("/portal/reservations/{first}/cancel");
    let done = post(h, &mut jar, &action, &filled(&p5, &action, ""), &[]).await;
    page(&done, 303, None);
    assert_eq!(pool_seats(&t).await, before - 5, "back out of the pool");

    // A 10-seat subscription cancelled now relies on the second reservation's 10.
    let sub = subscription(&t, 10).await;
    let cancel = format!("/accounts/{}/subscriptions/{sub}/cancellation", t.account);
    let r = h
        .post(&cancel, &t.admin, &json!({"reason": "replaced"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let json = h
        .post(
            &format!("/reservations/{second}/cancel"),
            &t.admin,
            &json!({}),
        )
        .await;
    assert_problem(&json, 409, "would_lose_relied_on_licenses");
    let events = trail(&t).await.len();
    let p5 = get(h, &mut jar, &format!("/portal/reservations/{second}")).await;
    let action = format!("/portal/reservations/{second}/cancel");
    let refused = post(h, &mut jar, &action, &filled(&p5, &action, ""), &[]).await;
    page(&refused, 409, Some("would_lose_relied_on_licenses"));
    for s in json.body["shortfalls"].as_array().expect("shortfalls") {
        let shown = row(
            &refused.raw,
            "shortfalls",
            s["sku"].as_str().unwrap_or_default(),
        );
        let expected: Vec<i64> = ["removed", "volume", "relied_on", "available"]
            .iter()
            .map(|k| s[*k].as_i64().unwrap_or(-1))
            .collect();
        assert_eq!(shown, expected, "{s}");
    }
    assert_eq!(trail(&t).await.len(), events, "nothing written");
}

/// Acceptance 12: P7's table is `…/cancellation-preview` row for row; Cancel takes the
/// subscription out of the pool; cancelling again is 409.
#[tokio::test]
async fn a_covered_subscription_is_cancelled_from_its_page() {
    let (t, _) = with_ea(50).await;
    let h = &t.h;
    // 40 direct against 50 volume: the preview's columns differ from one another.
    let sub = subscription(&t, 40).await;
    let (mut jar, _) = signed_in(&t).await;
    let p7 = get(h, &mut jar, &format!("/portal/subscriptions/{sub}")).await;
    page(&p7, 200, None);
    let preview = h
        .get(
            &format!(
                "/accounts/{}/subscriptions/{sub}/cancellation-preview",
                t.account
            ),
            &t.admin,
        )
        .await;
    for c in preview.body["coverage"].as_array().expect("coverage") {
        let shown = row(&p7.raw, "preview", c["sku"].as_str().unwrap_or_default());
        let expected: Vec<i64> = ["direct", "volume", "relied_on", "available"]
            .iter()
            .map(|k| c[*k].as_i64().unwrap_or(-1))
            .collect();
        assert_eq!(shown[..4], expected[..], "{c}");
    }
    assert!(p7.raw.contains("Replaced by volume licences"), "{}", p7.raw);
    let action = format!("/portal/subscriptions/{sub}/cancel");
    let fields = filled(&p7, &action, "reason=Replaced+by+volume+licences");
    let direct_before = h
        .get(&format!("/accounts/{}/licenses", t.account), &t.admin)
        .await;
    let done = post(h, &mut jar, &action, &fields, &[]).await;
    page(&done, 303, None);
    let after = h
        .get(&format!("/accounts/{}/licenses", t.account), &t.admin)
        .await;
    let direct = |b: &Value| b["skus"][0]["direct"].as_u64().unwrap_or(0);
    assert_eq!(
        direct(&after.body),
        direct(&direct_before.body) - 40,
        "left the pool"
    );
    let cancelled = get(h, &mut jar, &format!("/portal/subscriptions/{sub}")).await;
    assert!(
        cancelled.raw.contains("id=\"status\">cancelled"),
        "{}",
        cancelled.raw
    );
    let by = "id=\"cancelled-by\">you (the account's administrator)<";
    assert!(cancelled.raw.contains(by), "{}", cancelled.raw);
    let relied = "id=\"relied-on\">40 × Dynamics 365 Sales Professional<";
    assert!(cancelled.raw.contains(relied), "{}", cancelled.raw);
    assert!(
        !cancelled.raw.contains(&format!("action=\"{action}\"")),
        "no cancel form"
    );
    let replay = post(h, &mut jar, &action, &fields, &[]).await;
    page(&replay, 303, None);
    let again = fields.replace("form_id=", "form_id=x");
    let refused = post(h, &mut jar, &action, &again, &[]).await;
    page(&refused, 409, Some("subscription_already_cancelled"));
    assert!(
        refused.raw.contains("This is already cancelled."),
        "{}",
        refused.raw
    );
    let entries = trail(&t).await;
    let entry = actions(&entries, "subscription.cancelled");
    assert_eq!(entry.len(), 1);
    assert_eq!(entry[0]["details"]["via"], "portal");
}

/// Two 50-seat subscriptions on 50 volume seats, the first cancelled: the second's page
/// (its own session, its own form) has no cancel form and opens a request with consent.
async fn uncovered_request(t: &Tenancy, jar: &mut Jar) -> (String, String) {
    let h = &t.h;
    let first = subscription(t, 50).await;
    let second = subscription(t, 50).await;
    let cancel = format!("/accounts/{}/subscriptions/{first}/cancellation", t.account);
    assert_eq!(
        h.post(&cancel, &t.admin, &json!({"reason": "replaced"}))
            .await
            .status,
        200
    );
    let p7 = get(h, jar, &format!("/portal/subscriptions/{second}")).await;
    page(&p7, 200, None);
    let cancel_form = format!("action=\"/portal/subscriptions/{second}/cancel\"");
    assert!(
        !p7.raw.contains(&cancel_form),
        "no cancel form while R11 refuses"
    );
    assert!(p7.raw.contains("id=\"shortfall\">50 × "), "{}", p7.raw);
    let action = format!("/portal/subscriptions/{second}/service-requests");
    let fields = filled(
        &p7,
        &action,
        "message=Please+cancel+it&accept_license_loss=yes",
    );
    let opened = post(h, jar, &action, &fields, &[]).await;
    page(&opened, 303, None);
    let request = location(&opened)
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(request.starts_with("srq_"), "{}", location(&opened));
    (second, request)
}

/// Acceptance 13: the request reaches Billing Support's queue; acknowledged, the customer
/// sees it in progress; cancelled by Billing Support accepting the loss, it is resolved and
/// the cancellation's entry names it.
#[tokio::test]
async fn a_request_from_the_page_is_worked_by_billing_support_and_resolved() {
    let (t, _) = with_ea(50).await;
    let h = &t.h;
    let (mut jar, _) = signed_in(&t).await;
    let (sub, request) = uncovered_request(&t, &mut jar).await;
    let queue = h.get("/service-requests", &t.bs).await;
    let queued: Vec<&str> = queue.body["service_requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(queued.contains(&request.as_str()), "{}", queue.raw);
    let json = h.get(&format!("/service-requests/{request}"), &t.bs).await;
    assert_eq!(json.body["accept_license_loss"], true);
    let ack = h
        .post(
            &format!("/service-requests/{request}/acknowledge"),
            &t.bs,
            &json!({}),
        )
        .await;
    assert_eq!(ack.status, 200, "{}", ack.raw);
    let p8 = get(h, &mut jar, &format!("/portal/service-requests/{request}")).await;
    assert!(p8.raw.contains("id=\"status\">in progress"), "{}", p8.raw);
    let cancel = format!("/accounts/{}/subscriptions/{sub}/cancellation", t.account);
    let body = json!({"reason": "customer consented", "accept_license_loss": true});
    assert_eq!(h.post(&cancel, &t.bs, &body).await.status, 200);
    let p8 = get(h, &mut jar, &format!("/portal/service-requests/{request}")).await;
    assert!(p8.raw.contains("id=\"status\">resolved"), "{}", p8.raw);
    assert!(
        !p8.raw.contains("id=\"withdraw\""),
        "a closed request has no Withdraw"
    );
    let entries = trail(&t).await;
    let cancelled = actions(&entries, "subscription.cancelled");
    let last = cancelled.last().expect("cancelled");
    assert_eq!(
        last["details"]["service_request_id"],
        request.as_str(),
        "{last}"
    );
    assert_eq!(last["details"]["customer_consented"], true);
    let opened = actions(&entries, "service_request.opened");
    assert_eq!(opened[0]["details"]["via"], "portal");
}

/// Acceptance 14 (the pages' side): a second request is 409 linking the first; ten
/// concurrent submits open one; a covered subscription is 409 `cancellation_available`; a
/// decline's note is shown; withdrawing works; acting on a closed request is 409.
#[tokio::test]
async fn service_requests_are_one_at_a_time_and_closed_ones_stay_closed() {
    let (t, agreement) = with_ea(50).await;
    let h = &t.h;
    let (mut jar, csrf) = signed_in(&t).await;
    let (sub, request) = uncovered_request(&t, &mut jar).await;
    let action = format!("/portal/subscriptions/{sub}/service-requests");
    let second = format!("csrf={csrf}&form_id=second&accept_license_loss=yes");
    let r = post(h, &mut jar, &action, &second, &[]).await;
    page(&r, 409, Some("service_request_exists"));
    // The refusal itself links the first request.
    let refusal = r
        .raw
        .split("id=\"problem\"")
        .nth(1)
        .and_then(|p| p.split("</div>").next());
    let first = format!("id=\"first-request\" href=\"/portal/service-requests/{request}\"");
    assert!(refusal.is_some_and(|p| p.contains(&first)), "{}", r.raw);

    let decline = json!({"note": "Covered by the order placed today"});
    let d = h
        .post(
            &format!("/service-requests/{request}/decline"),
            &t.bs,
            &decline,
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.raw);
    let p8 = get(h, &mut jar, &format!("/portal/service-requests/{request}")).await;
    assert!(
        p8.raw.contains("Covered by the order placed today"),
        "{}",
        p8.raw
    );
    let withdraw = format!("/portal/service-requests/{request}/withdraw");
    let closed = post(
        h,
        &mut jar,
        &withdraw,
        &format!("csrf={csrf}&form_id=late"),
        &[],
    )
    .await;
    page(&closed, 409, Some("service_request_closed"));
    assert!(
        closed.raw.contains("This is already declined."),
        "{}",
        closed.raw
    );

    // Ten submits at once for the same subscription: one request.
    let sends = (0..10).map(|i| {
        let body = format!("csrf={csrf}&form_id=burst{i}&accept_license_loss=yes");
        let cookie = jar.header();
        let action = action.clone();
        async move { h.browse("POST", &action, &cookie, Some(&body)).await }
    });
    let answers = join_all(sends).await;
    let opened: Vec<_> = answers.iter().filter(|r| r.status == 303).collect();
    assert_eq!(
        opened.len(),
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(answers.iter().all(|r| r.status == 303 || r.status == 409));
    let open = location(opened[0])
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let p8 = get(h, &mut jar, &format!("/portal/service-requests/{open}")).await;
    let withdraw = format!("/portal/service-requests/{open}/withdraw");
    let done = post(h, &mut jar, &withdraw, &filled(&p8, &withdraw, ""), &[]).await;
    page(&done, 303, None);
    let p8 = get(h, &mut jar, &format!("/portal/service-requests/{open}")).await;
    assert!(p8.raw.contains("id=\"status\">withdrawn"), "{}", p8.raw);

    // One more volume seat from the partner: a 1-seat subscription is covered.
    let order = fixtures::order_body(&agreement, seats(1), None);
    let order = h.post("/orders", &t.partner, &order).await.id();
    let inv = h
        .post(&format!("/orders/{order}/invoice"), &t.partner, &json!({}))
        .await;
    assert_eq!(inv.status, 200, "{}", inv.raw);
    let covered = subscription(&t, 1).await;
    let p7 = get(h, &mut jar, &format!("/portal/subscriptions/{covered}")).await;
    assert!(p7.raw.contains("id=\"cancel\""), "covered now: {}", p7.raw);
    let action = format!("/portal/subscriptions/{covered}/service-requests");
    let forced = post(
        h,
        &mut jar,
        &action,
        &format!("csrf={csrf}&form_id=forced"),
        &[],
    )
    .await;
    page(&forced, 409, Some("cancellation_available"));
    assert!(
        forced.raw.contains("You can cancel it yourself."),
        "{}",
        forced.raw
    );
}

/// Strips the reference (the request id) from a page: what else differs between two 404s.
fn without_reference(page: &str) -> String {
    match page.split_once("id=\"reference\">") {
        Some((head, tail)) => format!("{head}{}", tail.split_once('<').map_or("", |(_, t)| t)),
        None => page.to_owned(),
    }
}

/// Acceptance 6: another account's agreement, subscription, reservation and service request
/// are the same 404 page as ids never issued; a POST to cancel another account's reservation
/// is 404 and writes nothing.
#[tokio::test]
async fn another_accounts_ids_are_pages_that_do_not_exist() {
    let (t, agreement) = with_ea(50).await;
    let h = &t.h;
    let (mut other_jar, _) = signed_in(&t).await;
    let (sub, request) = uncovered_request(&t, &mut other_jar).await;
    let reservation = h
        .post(
            &format!("/agreements/{agreement}/reservations"),
            &t.admin,
            &json!({"lines": seats(3)}),
        )
        .await
        .id();
    let b = h
        .post("/accounts", &t.bs, &fixtures::account_body("Northwind"))
        .await
        .id();
    let (mut jar, csrf) = signed_in_to(h, &b).await;
    let never = [
        format!(
            "/portal/agreements/{}",
            vls_domain::types::AgreementId::generate()
        ),
        format!("/portal/subscriptions/sub_{}", ulid::Ulid::generate()),
        "/portal/reservations/res_nothing".to_owned(),
        format!("/portal/service-requests/srq_{b}_x"),
    ];
    let theirs = [
        format!("/portal/agreements/{agreement}"),
        format!("/portal/subscriptions/{sub}"),
        format!("/portal/reservations/{reservation}"),
        format!("/portal/service-requests/{request}"),
    ];
    let first = get(h, &mut jar, &never[0]).await;
    page(&first, 404, Some("not_found"));
    let expected = without_reference(&first.raw);
    for path in never.iter().chain(theirs.iter()) {
        let r = get(h, &mut jar, path).await;
        page(&r, 404, Some("not_found"));
        assert_eq!(without_reference(&r.raw), expected, "{path}");
    }
    let events = trail(&t).await.len();
    let action = format!("/portal/reservations/{reservation}/cancel");
    let r = post(
        h,
        &mut jar,
        &action,
        &format!("csrf={csrf}&form_id=theirs"),
        &[],
    )
    .await;
    page(&r, 404, Some("not_found"));
    let json = h
        .get(&format!("/reservations/{reservation}"), &t.admin)
        .await;
    assert_eq!(json.body["status"], "active");
    assert_eq!(trail(&t).await.len(), events, "nothing written");
}

/// Acceptance 8: P2's program, anniversary and partner contact are `GET /agreements/{id}`'s
/// and `…/invoice-support`'s; an EA open for reservations offers them until its last day.
#[tokio::test]
async fn an_agreement_page_shows_what_the_json_routes_say() {
    let (t, agreement) = with_ea(20).await;
    let h = &t.h;
    let (mut jar, _) = signed_in(&t).await;
    let p2 = get(h, &mut jar, &format!("/portal/agreements/{agreement}")).await;
    page(&p2, 200, None);
    let a = h.get(&format!("/agreements/{agreement}"), &t.admin).await;
    let support = h
        .get(
            &format!("/agreements/{agreement}/invoice-support"),
            &t.admin,
        )
        .await;
    let program = a.body["program"].as_str().expect("program");
    let anniversary = a.body["anniversary"].as_str().expect("anniversary");
    assert!(
        p2.raw.contains(&format!("id=\"program\">{program}<")),
        "{}",
        p2.raw
    );
    assert!(
        p2.raw
            .contains(&format!("id=\"anniversary\">{anniversary}<"))
    );
    for field in [
        &support.body["name"],
        &support.body["contact"]["email"],
        &support.body["contact"]["phone"],
    ] {
        let text = field.as_str().expect("a contact field");
        assert!(p2.raw.contains(text), "{text}: {}", p2.raw);
    }
    assert!(
        p2.raw.contains("id=\"reserve\"") && p2.raw.contains("2027-02-12"),
        "{}",
        p2.raw
    );
    let base = format!("/portal/agreements/{agreement}/reservations");
    let listed = get(h, &mut jar, &format!("{base}?status=active")).await;
    page(&listed, 200, None);
    let current = format!("href=\"{base}?status=active\" aria-current=\"true\"");
    assert!(listed.raw.contains(&current), "{}", listed.raw);
    let unknown = get(h, &mut jar, &format!("{base}?status=lost")).await;
    page(&unknown, 422, Some("invalid_status"));
    assert!(
        unknown
            .raw
            .contains(&format!("id=\"first-page\" href=\"{base}\""))
    );
}

/// The ids a page's list shows, in order (`pattern` precedes each id).
fn ids(page: &str, pattern: &str) -> Vec<String> {
    page.split(pattern)
        .skip(1)
        .filter_map(|s| s.split('<').next().map(str::to_owned))
        .collect()
}

/// Every page of a list from `first`, following "Older": each page's ids.
async fn pages_of(h: &Harness, jar: &mut Jar, first: &str, pattern: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(path) = next.take() {
        let r = get(h, jar, &path).await;
        page(&r, 200, None);
        out.push(ids(&r.raw, pattern));
        next = r
            .raw
            .split("id=\"older\" href=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(|s| s.replace("&amp;", "&"));
        assert!(out.len() <= 5, "too many pages");
    }
    out
}

/// Acceptance 7: with 60 sources, orders and events, "Older" shows each exactly once, newest
/// first, 25 a page, while more are added; a cursor these pages did not give is 422 with a
/// link to the first page.
#[tokio::test]
async fn older_shows_each_once_newest_first_while_more_arrive() {
    let (t, agreement) = with_ea(0).await;
    let h = &t.h;
    for _ in 0..60 {
        subscription(&t, 1).await;
        let order = fixtures::order_body(&agreement, seats(1), None);
        assert_eq!(h.post("/orders", &t.partner, &order).await.status, 201);
    }
    let json_sources = h
        .get(
            &format!(
                "/accounts/{}/licenses/sources?order=desc&limit=100",
                t.account
            ),
            &t.admin,
        )
        .await;
    let expected: Vec<String> = json_sources.body["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(expected.len(), 60);
    let (mut jar, _) = signed_in(&t).await;
    let first = get(h, &mut jar, "/portal").await;
    let older = first
        .raw
        .split("id=\"older\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next());
    let older = older.expect("an Older link").replace("&amp;", "&");
    // Placed meanwhile: newer than every page already open, so on none of the older ones.
    subscription(&t, 1).await;
    let mut shown = ids(&first.raw, "class=\"source-id\">");
    for p in pages_of(h, &mut jar, &older, "class=\"source-id\">").await {
        shown.extend(p);
    }
    assert_eq!(shown, expected, "each source once, newest first");

    let json_orders = h
        .get(
            &format!("/agreements/{agreement}/orders?order=desc&limit=100"),
            &t.admin,
        )
        .await;
    let expected: Vec<String> = json_orders.body["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["id"].as_str().map(str::to_owned))
        .collect();
    let pages = pages_of(
        h,
        &mut jar,
        &format!("/portal/agreements/{agreement}/orders"),
        "<tr><td><code>",
    )
    .await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![25, 25, 10]
    );
    assert_eq!(pages.concat(), expected);

    let events = pages_of(h, &mut jar, "/portal/activity", "<tr><td>").await;
    let json_events = trail(&t).await;
    assert_eq!(events.concat().len(), json_events.len(), "every entry once");
    assert_eq!(events[0].len(), 25);

    for list in ["/portal", "/portal/activity", "/portal/subscriptions"] {
        let r = get(h, &mut jar, &format!("{list}?cursor=not-one-of-ours")).await;
        page(&r, 422, Some("invalid_cursor"));
        assert!(
            r.raw
                .contains(&format!("id=\"first-page\" href=\"{list}\"")),
            "{}",
            r.raw
        );
    }
}

/// A form sent twice at once (a double click): one change, and both answers are the first
/// outcome.
#[tokio::test]
async fn a_double_submit_at_once_is_one_reservation() {
    let (t, agreement) = with_ea(0).await;
    let h = &t.h;
    let (mut jar, _) = signed_in(&t).await;
    let base = format!("/portal/agreements/{agreement}");
    let form = get(h, &mut jar, &format!("{base}/reserve")).await;
    let fields = filled(
        &form,
        &format!("{base}/reserve/review"),
        "qty_d365-sales-professional=4",
    );
    let action = format!("{base}/reservations");
    let cookie = jar.header();
    let send = || h.browse("POST", &action, &cookie, Some(&fields));
    let (a, b) = tokio::join!(send(), send());
    page(&a, 303, None);
    page(&b, 303, None);
    assert_eq!(location(&a), location(&b));
    let listed = h
        .get(&format!("/agreements/{agreement}/reservations"), &t.admin)
        .await;
    assert_eq!(
        listed.body["reservations"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(actions(&trail(&t).await, "reservation.created").len(), 1);
}

/// Acceptance 4, for every POST route of the portal's table: without the CSRF value, with
/// another session's, from another site (`Sec-Fetch-Site: cross-site`), or from another
/// origin → 403 and nothing written; the same form with `Origin: null` and
/// `Sec-Fetch-Site: same-origin` is taken.
#[tokio::test]
async fn every_form_from_elsewhere_is_refused_and_writes_nothing() {
    let (t, agreement) = with_ea(50).await;
    let h = &t.h;
    let covered = subscription(&t, 50).await;
    let uncovered = subscription(&t, 100).await;
    let path = format!("/agreements/{agreement}/reservations");
    let reservation = h
        .post(&path, &t.admin, &json!({"lines": seats(1)}))
        .await
        .id();
    let opened = h
        .post(
            &format!("/accounts/{}/service-requests", t.account),
            &t.admin,
            &json!({"subscription_id": uncovered, "accept_license_loss": false}),
        )
        .await;
    assert_eq!(opened.status, 201, "{}", opened.raw);
    let request = opened.id();
    let posts: Vec<(String, &str)> = portal::ROUTES
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            let (path, fields) = match r.template {
                "/portal/sign-out" => ("/portal/sign-out".to_owned(), ""),
                "/portal/subscriptions/{subscription_id}/cancel" => (
                    format!("/portal/subscriptions/{covered}/cancel"),
                    "reason=replaced",
                ),
                "/portal/subscriptions/{subscription_id}/service-requests" => (
                    format!("/portal/subscriptions/{uncovered}/service-requests"),
                    "accept_license_loss=yes",
                ),
                "/portal/agreements/{agreement_id}/reserve/review" => (
                    format!("/portal/agreements/{agreement}/reserve/review"),
                    "qty_d365-sales-professional=2",
                ),
                "/portal/agreements/{agreement_id}/reservations" => (
                    format!("/portal/agreements/{agreement}/reservations"),
                    "qty_d365-sales-professional=2",
                ),
                "/portal/reservations/{reservation_id}/cancel" => {
                    (format!("/portal/reservations/{reservation}/cancel"), "")
                }
                "/portal/service-requests/{service_request_id}/withdraw" => {
                    (format!("/portal/service-requests/{request}/withdraw"), "")
                }
                other => panic!("a POST route this test does not know: {other}"),
            };
            (path, fields)
        })
        .collect();
    assert_eq!(posts.len(), 7);
    let (mut jar, csrf) = signed_in(&t).await;
    let (_, other) = signed_in(&t).await;
    let before = (trail(&t).await.len(), pool_seats(&t).await);
    for (i, (path, fields)) in posts.iter().enumerate() {
        let valid = format!("csrf={csrf}&form_id=f{i}&{fields}");
        let refused: [(String, Headers, &str); 4] = [
            (format!("form_id=f{i}&{fields}"), &[], "session_invalid"),
            (
                format!("csrf={other}&form_id=f{i}&{fields}"),
                &[],
                "session_invalid",
            ),
            (
                valid.clone(),
                &[("sec-fetch-site", "cross-site")],
                "cross_site",
            ),
            (
                valid.clone(),
                &[("origin", "https://evil.example")],
                "cross_site",
            ),
        ];
        for (body, headers, code) in refused {
            let r = post(h, &mut jar, path, &body, headers).await;
            page(&r, 403, Some(code));
        }
    }
    assert_eq!(
        (trail(&t).await.len(), pool_seats(&t).await),
        before,
        "nothing written"
    );
    let same = [("origin", "null"), ("sec-fetch-site", "same-origin")];
    // The sign-out last: it ends the session the others are sent in.
    for (i, (path, fields)) in posts.iter().enumerate().rev() {
        let body = format!("csrf={csrf}&form_id=g{i}&{fields}");
        let r = post(h, &mut jar, path, &body, &same).await;
        assert!(
            r.status != 403 && r.status < 500,
            "{path}: {} {}",
            r.status,
            r.raw
        );
    }
    assert_ne!(trail(&t).await.len(), before.0, "the forms were taken");
}
