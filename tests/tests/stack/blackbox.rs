//! Black-box: the whole bundle over HTTP through `cargo lambda watch` (one base URL, the
//! router in Cargo.toml), against the local stack's emulator table. `make test` starts
//! watch and runs these with `--ignored`; they need `VLS_BASE_URL`.

use serde_json::{Value, json};
use vls_tests::fixtures::*;

use crate::browser::Browser;
use vls_tests::{
    Http, Resp, claims, client, scan_all, stack_secret as secret, stack_token as tok, token_with,
    total, true_up_orders,
};

/// The items of the table but those the event dispatcher writes beside the tests (partners'
/// feeds: it sequences events as they come, whatever a test is doing).
async fn written_by_requests(ddb: &aws_sdk_dynamodb::Client, table: &str) -> usize {
    scan_all(ddb, table)
        .await
        .iter()
        .filter(|i| {
            let pk = i.get("pk").and_then(|v| v.as_s().ok());
            !pk.is_some_and(|pk| pk.starts_with("FEED#"))
        })
        .count()
}

pub(crate) fn base() -> String {
    std::env::var("VLS_BASE_URL").expect("VLS_BASE_URL (run through `make test`)")
}

pub(crate) fn http() -> Http {
    Http::new(&base())
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn the_walkthrough_over_http() {
    let http = http();
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let pid = format!("lsp-{run}");
    let customer = format!("c{}", &run[..12]);
    let bs = tok("billing_support", json!({}));
    let partner = tok("partner", json!({"partner_id": pid}));

    // Billing support registers the partner; an unregistered one is refused.
    let r = http.put(
        &format!("/partners/{pid}"),
        &bs,
        &partner_body("Fabrikam LSP"),
    );
    assert_eq!(r.status, 200, "{}", r.raw);
    let stranger = tok("partner", json!({"partner_id": format!("x-{run}")}));
    let r = http.post(
        "/agreements",
        &stranger,
        &agreement_body(&customer, "2026-03-15"),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("unknown_partner"))
    );

    // An account, its admin's direct subscription, and the pool.
    let r = http.post("/accounts", &bs, &account_body("Contoso"));
    assert_eq!(r.status, 201, "{}", r.raw);
    let account = r.id();
    let admin = tok("customer_admin", json!({"account_id": account}));
    let r = http.post(
        &format!("/accounts/{account}/subscriptions"),
        &admin,
        &faq_subscription(),
    );
    assert_eq!(r.status, 201, "{}", r.raw);
    let sub = r.id();
    let pool = http.get(&format!("/accounts/{account}/licenses"), &admin);
    assert_eq!(total(&pool.body, "d365-sales-professional"), 50);
    assert_eq!(total(&pool.body, "d365-additional-production-instance"), 3);
    assert_eq!(total(&pool.body, "d365-additional-storage-gb"), 5);
    let sources = http.get(
        &format!("/accounts/{account}/licenses/sources?limit=2"),
        &admin,
    );
    assert_eq!(sources.status, 200, "{}", sources.raw);
    assert_eq!(
        sources.body["sources"][0]["id"],
        json!(sub),
        "{}",
        sources.raw
    );
    assert!(sources.body["next_cursor"].is_string(), "{}", sources.raw);
    // The account and its subscriptions, each where the create said.
    let r = http.get(&format!("/accounts/{account}"), &admin);
    assert_eq!(
        (r.status, r.body["id"].as_str()),
        (200, Some(account.as_str()))
    );
    let r = http.get(
        &format!("/accounts/{account}/subscriptions?status=active"),
        &admin,
    );
    assert_eq!(r.body["subscriptions"][0]["id"], json!(sub), "{}", r.raw);
    let r = http.get(&format!("/accounts/{account}/subscriptions/{sub}"), &admin);
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("active")));

    // Agreements and R2.
    let r = http.post(
        "/agreements",
        &partner,
        &agreement_body(&customer, "2026-03-15"),
    );
    assert_eq!(
        (r.status, r.body["anniversary"].as_str()),
        (201, Some("2027-03-15")),
        "{}",
        r.raw
    );
    let agr = r.id();
    let r = http.post(
        "/agreements",
        &partner,
        &agreement_body(&customer, "2026-08-20"),
    );
    assert_eq!(
        r.body["anniversary"], "2027-03-15",
        "same month-day as the customer's first agreement"
    );

    // R4, then a covering order, then invoicing.
    let short = order_body(
        &agr,
        json!([{"sku": "d365-sales-professional", "quantity": 40}]),
        Some(&sub),
    );
    let r = http.post("/orders", &partner, &short);
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("order_below_current_entitlement"))
    );
    assert_eq!(r.body["shortfalls"].as_array().map(Vec::len), Some(3));
    let r = http.post(
        "/orders",
        &partner,
        &order_body(&agr, covering_lines(), Some(&sub)),
    );
    assert_eq!(r.status, 201, "{}", r.raw);
    let order = r.id();
    let r = http.post(&format!("/orders/{order}/invoice"), &partner, &json!({}));
    assert_eq!(
        (r.status, r.body["activation_email"].as_str()),
        (200, Some("queued")),
        "{}",
        r.raw
    );

    // An MOS-bound agreement attaches on invoicing.
    let mos = http
        .post("/accounts", &bs, &mos_account_body("Contoso 365"))
        .id();
    let mut body = agreement_body(&format!("{customer}m"), "2026-04-01");
    body["online_services_account_id"] = json!(mos);
    let r = http.post("/agreements", &partner, &body);
    assert_eq!(
        (r.status, r.body["bound_to_online_services"].as_bool()),
        (201, Some(true)),
        "{}",
        r.raw
    );
    let bound = r.id();
    let o = http.post(
        "/orders",
        &partner,
        &order_body(
            &bound,
            json!([{"sku": "d365-sales-enterprise", "quantity": 250}]),
            None,
        ),
    );
    assert_eq!(
        o.body["volume_discount_eligible"], true,
        "an EA reaching 250 seats"
    );
    let r = http.post(
        &format!("/orders/{}/invoice", o.body["id"].as_str().expect("id")),
        &partner,
        &json!({}),
    );
    assert_eq!(
        (
            r.body["activation_email"].as_str(),
            r.body["attached_account_id"].as_str()
        ),
        (Some("not_needed"), Some(mos.as_str()))
    );
    let pool = http.get(&format!("/accounts/{mos}/licenses"), &bs);
    assert_eq!(total(&pool.body, "d365-sales-enterprise"), 250);

    // Who may see what.
    let other = tok("partner", json!({"partner_id": format!("o-{run}")}));
    http.put(&format!("/partners/o-{run}"), &bs, &partner_body("Other"));
    assert_eq!(http.get(&format!("/agreements/{agr}"), &other).status, 404);
    assert_eq!(
        http.post("/orders", &admin, &order_body(&agr, covering_lines(), None))
            .status,
        403
    );
    assert_eq!(
        http.send("GET", &format!("/agreements/{agr}"), None, None, None)
            .status,
        401
    );
    let mut expired = claims("partner", json!({"partner_id": pid}));
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 1);
    assert_eq!(
        http.get(
            &format!("/agreements/{agr}"),
            &token_with(expired, &secret())
        )
        .status,
        401
    );
    assert_eq!(
        http.get(
            &format!("/agreements/{agr}"),
            &token_with(claims("partner", json!({"partner_id": pid})), "forged")
        )
        .status,
        401
    );

    // Bad input: a code, and not one item written.
    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "vls".into());
    let ddb = client();
    // The mailer runs beside this test: let it finish with this agreement's mail first.
    mail_sent_after(&http, &agr, std::time::Duration::from_secs(10)).expect("the activation mail");
    let before = written_by_requests(&ddb, &table).await;
    let line = |q: Value| {
        order_body(
            &agr,
            json!([{"sku": "d365-sales-professional", "quantity": q}]),
            None,
        )
        .to_string()
    };
    let mut bad = vec![
        ("/orders", line(json!(0)), 422),
        ("/orders", line(json!(-1)), 422),
        ("/orders", line(json!(1_000_000_000_000u64)), 422),
        ("/orders", line(json!("5")), 422),
        (
            "/orders",
            order_body(&agr, json!([{"sku": "nope", "quantity": 1}]), None).to_string(),
            422,
        ),
        (
            "/orders",
            order_body(&agr, json!([]), None).to_string(),
            422,
        ),
        ("/orders", json!({"lines": []}).to_string(), 422),
        ("/orders", "{not json".to_owned(), 400),
    ];
    for (field, value) in [
        ("program", json!("OPEN")),
        (
            "osm",
            json!({"name": "O", "email": "o@contoso.com\r\nBcc: x@y.z"}),
        ),
        ("osm", json!({"name": "O", "email": "o@gmail.com"})),
    ] {
        let mut b = agreement_body(&customer, "2026-03-15");
        b[field] = value;
        bad.push(("/agreements", b.to_string(), 422));
    }
    for (path, body, status) in &bad {
        let r = http.send("POST", path, Some(&partner), Some(body), None);
        assert_eq!(r.status, *status, "{body}: {}", r.raw);
        assert!(r.body["code"].as_str().is_some(), "{}", r.raw);
    }
    assert_eq!(
        written_by_requests(&ddb, &table).await,
        before,
        "refused requests wrote nothing"
    );

    // Idempotency: replay, and ten concurrent duplicates create one order.
    let body = order_body(
        &agr,
        json!([{"sku": "d365-team-members", "quantity": 3}]),
        None,
    )
    .to_string();
    let first = http.send(
        "POST",
        "/orders",
        Some(&partner),
        Some(&body),
        Some(&format!("k-{run}")),
    );
    let again = http.send(
        "POST",
        "/orders",
        Some(&partner),
        Some(&body),
        Some(&format!("k-{run}")),
    );
    assert_eq!(
        (first.status, again.status, &again.raw),
        (201, 201, &first.raw)
    );
    assert!(again.replayed && !first.replayed);
    let dup = order_body(
        &agr,
        json!([{"sku": "d365-field-service", "quantity": 4}]),
        None,
    )
    .to_string();
    let key = format!("burst-{run}");
    let results: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|_| {
                s.spawn(|| {
                    Http::new(&base()).send(
                        "POST",
                        "/orders",
                        Some(&partner),
                        Some(&dup),
                        Some(&key),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(
        results
            .iter()
            .all(|r| r.status == 201 && r.raw == results[0].raw)
    );
    let orders = http.get(&format!("/agreements/{agr}/orders"), &partner);
    let field: Vec<&Value> = orders.body["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["lines"][0]["sku"] == "d365-field-service")
        .collect();
    assert_eq!(field.len(), 1);

    // The logs carry a request id on every request line, and never a token.
    if let Ok(path) = std::env::var("VLS_WATCH_LOG") {
        let log = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for t in [&bs, &partner, &admin] {
            assert!(!log.contains(t.as_str()), "a token appeared in the logs");
        }
        let handled: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("request handled"))
            .collect();
        assert!(!handled.is_empty());
        // One JSON object a line, the request id at its top level, as Logs Insights reads it.
        for l in &handled {
            let at = l.find('{').unwrap_or(0);
            let line: Value = serde_json::from_str(&l[at..]).unwrap_or_default();
            assert!(
                line["requestId"].as_str().is_some_and(|id| !id.is_empty())
                    && line["timestamp"].is_string()
                    && line["level"] == "INFO",
                "every request line has its request id: {l}"
            );
        }
    }
}

/// How long until the agreement's trail says its activation mail went out (the mailer
/// records that after SES accepted the mail), polling for up to `deadline`.
fn mail_sent_after(
    http: &Http,
    agreement: &str,
    deadline: std::time::Duration,
) -> Option<std::time::Duration> {
    let bs = tok("billing_support", json!({}));
    let started = std::time::Instant::now();
    while started.elapsed() < deadline {
        let trail = http.get(&format!("/agreements/{agreement}/events"), &bs);
        if vls_tests::actions(&trail.body).contains(&"activation_email.sent") {
            return Some(started.elapsed());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}

/// The agreement's activation mail as the emulator's SES holds it, once it went out.
fn wait_for_mail(
    http: &Http,
    agreement: &str,
    deadline: std::time::Duration,
) -> Option<(Value, std::time::Duration)> {
    let took = mail_sent_after(http, agreement, deadline)?;
    let sender =
        std::env::var("SENDER_EMAIL").unwrap_or_else(|_| "licensing@vls.example.com".into());
    let mail = vls_tests::sent_mail(&sender)
        .into_iter()
        .find(|m| m["body"].as_str().is_some_and(|b| b.contains(agreement)))?;
    Some((mail, took))
}

pub(crate) struct Invoiced {
    pub(crate) agreement: String,
    pub(crate) account: String,
    pub(crate) admin: String,
    pub(crate) subscription: String,
}

/// A registered partner, an account with the FAQ's subscription, an EA with a covering order,
/// invoiced now.
/// Billing support (`bs`) registers the partner `lsp-<run>`: its token.
pub(crate) fn registered_partner(http: &Http, bs: &str, run: &str) -> String {
    let pid = format!("lsp-{run}");
    http.put(
        &format!("/partners/{pid}"),
        bs,
        &partner_body("Fabrikam LSP"),
    );
    tok("partner", json!({"partner_id": pid}))
}

pub(crate) fn invoiced(http: &Http, run: &str) -> Invoiced {
    let bs = tok("billing_support", json!({}));
    let partner = registered_partner(http, &bs, run);
    let account = http.post("/accounts", &bs, &account_body("Contoso")).id();
    let admin = tok("customer_admin", json!({"account_id": account}));
    let sub = http
        .post(
            &format!("/accounts/{account}/subscriptions"),
            &admin,
            &faq_subscription(),
        )
        .id();
    let agreement = http
        .post(
            "/agreements",
            &partner,
            &agreement_body(&format!("c-{run}"), "2026-03-15"),
        )
        .id();
    let order = http.post(
        "/orders",
        &partner,
        &order_body(&agreement, covering_lines(), Some(&sub)),
    );
    let r = http.post(
        &format!("/orders/{}/invoice", order.body["id"].as_str().expect("id")),
        &partner,
        &json!({}),
    );
    assert_eq!(r.body["activation_email"], "queued", "{}", r.raw);
    Invoiced {
        agreement,
        account,
        admin,
        subscription: sub,
    }
}

/// [`invoiced`], then the agreement associated through its activation mail's link by the
/// account's admin (a program's JSON association).
pub(crate) fn activated(http: &Http, run: &str) -> Invoiced {
    let w = invoiced(http, run);
    let (mail, _) = wait_for_mail(http, &w.agreement, std::time::Duration::from_secs(10))
        .expect("the activation mail within 10 s");
    let token = vls_tests::link_token(&mail).expect("a link");
    let r = http.post(
        &format!("/activate/{token}"),
        &w.admin,
        &json!({"account_id": w.account}),
    );
    assert_eq!(r.status, 200, "{}", r.raw);
    w
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn activation_over_http_with_the_mailer_running() {
    let http = http();
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let w = invoiced(&http, &run);
    let (mail, latency) = wait_for_mail(&http, &w.agreement, std::time::Duration::from_secs(10))
        .expect("the activation mail within 10 s");
    println!(
        "activation mail in the emulator {} ms after invoicing",
        latency.as_millis()
    );
    assert_eq!(
        mail["destinations"]["ToAddresses"],
        json!(["olivia@contoso.com"])
    );
    let token = vls_tests::link_token(&mail).expect("a link");
    assert!(
        mail["body"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("{}/activate/{token}", base()))
    );

    let page = http.send("GET", &format!("/activate/{token}"), None, None, None);
    assert_eq!(page.status, 200);
    assert!(page.raw.contains(&w.agreement));
    let r = http.post(
        &format!("/activate/{token}"),
        &w.admin,
        &json!({"account_id": w.account}),
    );
    assert_eq!(r.status, 200, "{}", r.raw);
    let pool = http.get(&format!("/accounts/{}/licenses", w.account), &w.admin);
    assert_eq!(
        total(&pool.body, "d365-sales-professional"),
        100,
        "direct and volume licences together"
    );
    assert_eq!(
        http.send("GET", &format!("/activate/{token}"), None, None, None)
            .status,
        410
    );
    assert_eq!(
        http.post(
            &format!("/activate/{token}"),
            &w.admin,
            &json!({"account_id": w.account})
        )
        .status,
        410
    );

    // The link's secret never reaches the logs.
    if let Ok(path) = std::env::var("VLS_WATCH_LOG") {
        let log = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            !log.contains(&token),
            "an activation token appeared in the logs"
        );
    }
}

/// The reading routes and the OSM's routes over HTTP, each answering for its own caller: an
/// order, the agreement's reservations, its true-up preview, the partner's invoice contact,
/// an OSM change, a resend refused for the wrong company (R9's counter, a transaction of its
/// own) and the resend to the new OSM.
#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn the_agreement_s_other_routes_over_http() {
    let http = http();
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let w = invoiced(&http, &run);
    let bs = tok("billing_support", json!({}));
    let partner = tok("partner", json!({"partner_id": format!("lsp-{run}")}));
    let agr = &w.agreement;
    let orders = http.get(&format!("/agreements/{agr}/orders"), &partner);
    let order = orders.body["orders"][0]["id"]
        .as_str()
        .expect("an order")
        .to_owned();
    let r = http.get(&format!("/orders/{order}"), &partner);
    assert_eq!(
        (r.status, r.body["agreement_id"].as_str()),
        (200, Some(agr.as_str())),
        "{}",
        r.raw
    );
    let r = http.get(&format!("/agreements/{agr}/reservations"), &bs);
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["reservations"], json!([]));
    let r = http.get(&format!("/agreements/{agr}/true-up-preview"), &partner);
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = http.get(&format!("/agreements/{agr}/invoice-support"), &bs);
    assert_eq!(
        (r.status, r.body["partner_id"].as_str()),
        (200, Some(format!("lsp-{run}").as_str())),
        "{}",
        r.raw
    );
    let r = http.put(
        &format!("/agreements/{agr}/osm"),
        &partner,
        &json!({"name": "Noah New", "email": "noah@contoso.com"}),
    );
    assert_eq!(r.status, 200, "{}", r.raw);
    // A wrong answer first: R9's counter is written in a transaction of its own, which the
    // function's role must allow.
    let resend = format!("/agreements/{agr}/activation-email/resend");
    let r = http.post(
        &resend,
        &bs,
        &json!({"legal_name": "Fabrikam", "country": "NL"}),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("company_mismatch")),
        "{}",
        r.raw
    );
    let r = http.post(
        &resend,
        &bs,
        &json!({"legal_name": "Contoso Ltd", "country": "NL"}),
    );
    assert_eq!(
        (r.status, r.body["sent_to"].as_str()),
        (202, Some("n***@contoso.com")),
        "{}",
        r.raw
    );
    partner_hears_of_it(&http, &partner, agr);
}

/// The partner's events, once the stream's dispatcher has sequenced them (about a second
/// locally; on the template stack, through the table's stream and the dispatcher's role):
/// the invoice and the OSM change, each once (and whatever activation mail went out by then),
/// gap-free from 1, then the same event by id.
fn partner_hears_of_it(http: &Http, partner: &str, agr: &str) {
    let started = std::time::Instant::now();
    let events = loop {
        let r = http.get("/events?limit=100", partner);
        assert_eq!(r.status, 200, "{}", r.raw);
        let events = r.body["events"].as_array().cloned().unwrap_or_default();
        if events.iter().any(|e| e["type"] == "osm.changed") {
            break events;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the OSM change is not listed after 30 s: {}",
            r.raw
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let count = |kind: &str| events.iter().filter(|e| e["type"] == kind).count();
    assert_eq!(
        (count("order.invoiced"), count("osm.changed")),
        (1, 1),
        "{events:?}"
    );
    let sequences: Vec<u64> = events
        .iter()
        .filter_map(|e| e["sequence"].as_u64())
        .collect();
    assert_eq!(sequences, (1..=events.len() as u64).collect::<Vec<_>>());
    assert!(events.iter().all(|e| e["agreement_id"] == agr));
    let last = events.last().expect("an event");
    let id = last["id"].as_str().expect("id");
    let one = http.get(&format!("/events/{id}"), partner);
    assert_eq!((one.status, &one.body), (200, last), "{}", one.raw);
}

/// A partner's webhook endpoint over HTTP, each change one transaction of its function (which
/// its role must allow, on the template stack): made (its secret shown once), read, listed,
/// replaced, disabled, enabled, its secret rotated, deleted; and the partner's trail of it.
#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn a_partner_s_webhook_endpoint_over_http() {
    let http = http();
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let bs = tok("billing_support", json!({}));
    let partner = registered_partner(&http, &bs, &run);
    let body = json!({"url": receiver_url(), "enabled_events": ["*"]});
    let made = http.post("/webhook-endpoints", &partner, &body);
    assert_eq!(made.status, 201, "{}", made.raw);
    let secret = made.body["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    let path = format!("/webhook-endpoints/{}", made.id());
    let got = http.get(&path, &partner);
    assert_eq!(
        (got.status, got.body.get("secret")),
        (200, None),
        "{}",
        got.raw
    );
    let listed = http.get("/webhook-endpoints", &partner);
    assert_eq!(listed.body["webhook_endpoints"][0]["id"], made.body["id"]);
    let mut replaced = body.clone();
    replaced["enabled_events"] = json!(["order.invoiced"]);
    let r = http.put(&path, &partner, &replaced);
    assert_eq!(
        (r.status, &r.body["version"]),
        (200, &json!(2)),
        "{}",
        r.raw
    );
    for (action, status) in [("disable", "disabled"), ("enable", "enabled")] {
        let r = http.post(&format!("{path}/{action}"), &partner, &json!({}));
        assert_eq!(
            (r.status, &r.body["status"]),
            (200, &json!(status)),
            "{}",
            r.raw
        );
    }
    let rotated = http.post(&format!("{path}/rotate-secret"), &partner, &json!({}));
    assert_eq!(rotated.status, 200, "{}", rotated.raw);
    assert_ne!(rotated.body["secret"].as_str(), Some(secret.as_str()));
    a_delivery_is_made(&http, &partner, &path, &run);
    sent_again(&http, &partner, &path);
    let gone = http.send("DELETE", &path, Some(&partner), None, None);
    assert_eq!(gone.status, 204, "{}", gone.raw);
    assert_eq!(http.get(&path, &partner).status, 404);
    let trail = http.get(&format!("/partners/lsp-{run}/events"), &bs);
    let actions: Vec<&str> = trail.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions.len(), 9, "{}", trail.raw);
    assert_eq!(actions.last(), Some(&"webhook_endpoint.deleted"));
    assert!(!trail.raw.contains(&secret));
}

/// A partner's receiver, written with the Standard Webhooks reference library (PyPI's
/// `standardwebhooks`), verifies every request the local stack sends it: during a rotation
/// each request carries two signatures, one per secret, both verifying; `webhook-id` is the
/// body's `id`; a 500 is retried with the same id. Locally only: the template stack's
/// endpoints cannot be plain http on loopback.
#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn a_receiver_verifies_every_request_with_the_reference_library() {
    let http = http();
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let bs = tok("billing_support", json!({}));
    let partner = registered_partner(&http, &bs, &run);
    let port = 9590;
    let url = format!("http://127.0.0.1:{port}/hooks");
    let body = json!({"url": url, "enabled_events": ["order.invoiced"]});
    let made = http.post("/webhook-endpoints", &partner, &body);
    assert_eq!(made.status, 201, "{}", made.raw);
    let first = made.body["secret"].as_str().expect("secret").to_owned();
    let path = format!("/webhook-endpoints/{}", made.id());
    let rotated = http.post(&format!("{path}/rotate-secret"), &partner, &json!({}));
    let second = rotated.body["secret"].as_str().expect("secret").to_owned();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut receiver = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/webhook_receiver.py"))
        .args([
            "--port",
            &port.to_string(),
            "--secret",
            &first,
            "--secret",
            &second,
        ])
        .args(["--answers", "500"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the receiver");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        receiver.stdout.take().expect("stdout"),
    ));
    let listening = lines.next().expect("a line").expect("text");
    assert!(listening.contains("listening"), "{listening}");
    let agreement = http.post(
        "/agreements",
        &partner,
        &agreement_body(&format!("v-{run}"), "2026-03-15"),
    );
    let lines_body = json!([{"sku": "d365-sales-professional", "quantity": 1}]);
    let order = http.post(
        "/orders",
        &partner,
        &order_body(&agreement.id(), lines_body, None),
    );
    let r = http.post(
        &format!("/orders/{}/invoice", order.id()),
        &partner,
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.raw);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut got: Vec<Value> = Vec::new();
    while got.len() < 2 {
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(line) => got.push(serde_json::from_str(&line).expect("a JSON line")),
            Err(_) => break,
        }
    }
    let _ = receiver.kill();
    let _ = receiver.wait();
    assert_eq!(got.len(), 2, "a 500, then the same event again: {got:?}");
    for g in &got {
        assert_eq!(g["verified"], json!([0, 1]), "both secrets verify: {g}");
        assert_eq!(g["signatures"], 2);
        assert_eq!(g["webhook_id"], g["body_id"]);
    }
    assert_eq!(got[0]["webhook_id"], got[1]["webhook_id"]);
    assert_eq!(
        (&got[0]["status"], &got[1]["status"]),
        (&json!(500), &json!(200))
    );
}

/// An invoice of the partner's raises an event, and the endpoint (wanting every type) gets a
/// delivery of it. The endpoint is deleted next: the sender then gives the delivery up
/// (cancelled), without a request, on its next sweep (on the template stack, the sweep the
/// report fires).
fn a_delivery_is_made(http: &Http, partner: &str, endpoint: &str, run: &str) {
    let replaced = json!({"url": receiver_url(), "enabled_events": ["order.invoiced"]});
    assert_eq!(http.put(endpoint, partner, &replaced).status, 200);
    let agreement = http.post(
        "/agreements",
        partner,
        &agreement_body(&format!("c-{run}"), "2026-03-15"),
    );
    assert_eq!(agreement.status, 201, "{}", agreement.raw);
    let lines = json!([{"sku": "d365-sales-professional", "quantity": 1}]);
    let order = http.post(
        "/orders",
        partner,
        &order_body(&agreement.id(), lines, None),
    );
    let invoiced = http.post(
        &format!("/orders/{}/invoice", order.id()),
        partner,
        &json!({}),
    );
    assert_eq!(invoiced.status, 200, "{}", invoiced.raw);
    let started = std::time::Instant::now();
    loop {
        let r = http.get(&format!("{endpoint}/deliveries"), partner);
        assert_eq!(r.status, 200, "{}", r.raw);
        if r.body["deliveries"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
        {
            assert_eq!(r.body["deliveries"][0]["type"], "order.invoiced");
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no delivery: {}",
            r.raw
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A test event sent to the endpoint, that delivery made again, and the partner's events
/// replayed to it (the dispatcher's sweep works the replay; deleting the endpoint next ends
/// it, whichever comes first).
fn sent_again(http: &Http, partner: &str, endpoint: &str) {
    let tested = http.post(&format!("{endpoint}/test"), partner, &json!({}));
    assert_eq!(tested.status, 202, "{}", tested.raw);
    let delivery = tested.body["delivery_id"].as_str().expect("a delivery");
    let again = format!("{endpoint}/deliveries/{delivery}/redeliver");
    let made = http.post(&again, partner, &json!({}));
    assert_eq!(
        (made.status, &made.body["event_id"]),
        (202, &tested.body["event_id"]),
        "{}",
        made.raw
    );
    let replay = json!({"after_sequence": 0});
    let r = http.post(&format!("{endpoint}/replay"), partner, &replay);
    assert_eq!(r.status, 202, "{}", r.raw);
    assert!(
        r.body["through_sequence"].as_u64().is_some_and(|s| s >= 1),
        "{}",
        r.raw
    );
}

/// Where the endpoint of the black-box tests points: on the template stack (not the local
/// one) a public address, never reached (its deliveries are given up first); locally a test
/// receiver's port where nothing listens, so that nothing leaves the machine.
fn receiver_url() -> &'static str {
    if std::env::var("VLS_TEMPLATE_STACK").is_ok() {
        "https://93.184.215.14/hooks"
    } else {
        "http://127.0.0.1:9599/hooks"
    }
}

/// A remap that moves an associated agreement's licences to another account, and an
/// amendment that separates an agreement from its Online Services account, over HTTP: each
/// one transaction that also deletes (a pool source), which its function must be allowed.
#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn a_remap_and_an_amendment_over_http() {
    let http = http();
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let w = activated(&http, &run);
    let bs = tok("billing_support", json!({}));
    let new = http
        .post("/accounts", &bs, &account_body("Contoso Holding"))
        .id();
    let r = http.post(
        &format!("/agreements/{}/remap", w.agreement),
        &bs,
        &json!({"target_account_id": new, "reason": "attached to the wrong tenant"}),
    );
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["to_account_id"], json!(new));
    let pool = http.get(&format!("/accounts/{new}/licenses"), &bs);
    assert_eq!(
        total(&pool.body, "d365-sales-professional"),
        50,
        "{}",
        pool.raw
    );
    let pool = http.get(&format!("/accounts/{}/licenses", w.account), &bs);
    assert_eq!(
        total(&pool.body, "d365-sales-professional"),
        50,
        "the subscription's own"
    );

    let partner = tok("partner", json!({"partner_id": format!("lsp-{run}")}));
    let mos = http
        .post("/accounts", &bs, &mos_account_body("Contoso 365"))
        .id();
    let mut body = agreement_body(&format!("m-{run}"), "2026-04-01");
    body["online_services_account_id"] = json!(mos);
    let bound = http.post("/agreements", &partner, &body).id();
    let lines = json!([{"sku": "d365-sales-enterprise", "quantity": 250}]);
    let o = http.post("/orders", &partner, &order_body(&bound, lines, None));
    let r = http.post(
        &format!("/orders/{}/invoice", o.body["id"].as_str().expect("id")),
        &partner,
        &json!({}),
    );
    assert_eq!(r.body["attached_account_id"], json!(mos), "{}", r.raw);
    let r = http.post(
        &format!("/agreements/{bound}/amendments"),
        &tok("licensing_specialist", json!({})),
        &json!({"kind": "separate_online_services", "reason": "the customer asked"}),
    );
    assert_eq!(r.status, 201, "{}", r.raw);
    let a = http.get(&format!("/agreements/{bound}"), &bs);
    assert_eq!(a.body["bound_to_online_services"], false, "{}", a.raw);
}

/// Prints the time from invoicing to the mail being in the emulator, over 20 invoices.
#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn activation_mail_latency() {
    let http = http();
    let mut ms: Vec<u128> = (0..20)
        .map(|i| {
            let run = format!("{}-{i}", ulid::Ulid::generate().to_string().to_lowercase());
            let w = invoiced(&http, &run);
            mail_sent_after(&http, &w.agreement, std::time::Duration::from_secs(30))
                .expect("every activation mail goes out")
                .as_millis()
        })
        .collect();
    ms.sort();
    println!(
        "activation mail latency over {} invoices: median {} ms, min {} ms, max {} ms",
        ms.len(),
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1]
    );
}

/// The OSM as a person would do it, in headless Chromium with JavaScript off: opens the link
/// from the real mail, clicks "Sign in to associate", signs in on the local provider's own
/// page as a registered administrator, sees the confirmation page naming their account,
/// confirms, and sees "Licences associated". Screenshots go to `target/screenshots/`.
#[tokio::test]
#[ignore = "needs the local stack and Chromium: run through `make test`"]
async fn the_osm_signs_in_and_associates_in_a_real_browser_without_javascript() {
    let http = http();
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let w = invoiced(&http, &run);
    let (mail, _) = wait_for_mail(&http, &w.agreement, std::time::Duration::from_secs(10))
        .expect("the activation mail");
    let token = vls_tests::link_token(&mail).expect("a link in the mail");
    let link = format!("{}/activate/{token}", base());
    assert!(
        mail["body"].as_str().unwrap_or_default().contains(&link),
        "the browser opens the mail's own link"
    );
    let sub = format!("olivia-{run}");
    vls_tests::browser::register_user(
        &vls_tests::oidc_issuer(),
        &sub,
        &json!({"email": "olivia@contoso.com", "role": "customer_admin", "account_id": w.account}),
    );

    let browser = Browser::start();
    browser.open(&link);
    let page = browser.wait_for("Sign in to associate");
    assert!(page.contains(&w.agreement), "the page shows the agreement");
    assert!(page.contains("Dynamics 365 Sales Professional"));
    browser.screenshot("activation-link-page");
    browser.click("#sign-in");
    // The provider's own sign-in page.
    browser.wait_for("name=\"sub\"");
    browser.type_into("input[name=sub]", &sub);
    browser.click("form button[type=submit]");
    let confirm = browser.wait_for("Confirm the association");
    assert!(
        confirm.contains(&w.account),
        "the account it will be associated with"
    );
    assert!(confirm.contains("olivia@contoso.com"), "who is signed in");
    browser.screenshot("activation-confirmation-page");
    browser.click("#confirm");
    let done = browser.wait_for("Licences associated");
    assert!(done.contains(&w.account));
    browser.screenshot("activation-associated-page");

    let pool = http.get(&format!("/accounts/{}/licenses", w.account), &w.admin);
    assert_eq!(
        total(&pool.body, "d365-sales-professional"),
        100,
        "the pool grew by the ordered 50"
    );
    browser.open(&link);
    browser.wait_for("already been used");
}

/// Invokes the true-up function through `cargo lambda watch` with an EventBridge scheduled
/// event whose `time` is `now`, as the daily schedule does: its answer (what it enqueued).
/// On the template stack, its daily schedule fires with `now` as the scheduled time.
fn invoke_true_up(now: &str) -> Value {
    if let Some(stack) = vls_tests::template_stack::description() {
        return vls_tests::template_stack::fire(&stack, "TrueUpFunctionDaily", now);
    }
    let port = base().rsplit(':').next().unwrap_or("9001").to_owned();
    let event = json!({
        "version": "0", "id": ulid::Ulid::generate().to_string(), "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": now, "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/true-up-daily"], "detail": {}
    });
    let file = std::env::temp_dir().join(format!("true-up-{}.json", ulid::Ulid::generate()));
    std::fs::write(&file, event.to_string()).expect("event file");
    let out = std::process::Command::new("cargo")
        .args(["lambda", "invoke", "true-up", "--data-file"])
        .arg(&file)
        .args(["-A", "127.0.0.1", "-P", &port])
        .output()
        .expect("cargo lambda invoke");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn the_true_up_job_as_a_scheduled_event_bills_once() {
    let http = http();
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let bs = tok("billing_support", json!({}));
    let partner = registered_partner(&http, &bs, &run);
    let account = http
        .post("/accounts", &bs, &mos_account_body("Contoso 365"))
        .id();
    let admin = tok("customer_admin", json!({"account_id": account}));
    // Started a month ago: the anniversary is eleven months away and reservations are open.
    let start = (chrono::Utc::now() - chrono::Duration::days(30)).date_naive();
    let mut body = agreement_body(&format!("t-{run}"), &start.to_string());
    body["online_services_account_id"] = json!(account);
    let a = http.post("/agreements", &partner, &body);
    assert_eq!(a.status, 201, "{}", a.raw);
    let agr = a.id();
    let anniversary = a.body["anniversary"]
        .as_str()
        .expect("anniversary")
        .to_owned();

    let r = http.post(
        &format!("/agreements/{agr}/reservations"),
        &admin,
        &json!({"lines": [{"sku": "d365-sales-professional", "quantity": 5},
                {"sku": "d365-additional-storage-gb", "quantity": 20}]}),
    );
    assert_eq!(r.status, 201, "{}", r.raw);
    let pool = http.get(&format!("/accounts/{account}/licenses"), &admin);
    assert_eq!(
        total(&pool.body, "d365-sales-professional"),
        5,
        "in the pool at once"
    );

    let true_ups = || {
        let orders = http.get(&format!("/agreements/{agr}/orders"), &partner);
        true_up_orders(&orders.body).len()
    };
    let day = |offset: i64| {
        let d = chrono::NaiveDate::parse_from_str(&anniversary, "%Y-%m-%d").expect("date")
            + chrono::Duration::days(offset);
        format!("{d}T06:00:00Z")
    };
    let sqs = aws_sdk_sqs::Client::new(&vls_tests::sdk_config());
    let queue = std::env::var("TRUE_UP_QUEUE_URL").expect("TRUE_UP_QUEUE_URL (make test sets it)");
    // Each run enqueues the due agreements; the stack's queue worker bills them.
    let run = |offset: i64| {
        let out = invoke_true_up(&day(offset));
        assert!(out["enqueued"].is_u64(), "{out}");
        let (sqs, queue) = (sqs.clone(), queue.clone());
        async move {
            for _ in 0..600 {
                if vls_tests::work_queue::depth(&sqs, &queue).await == 0 {
                    return out;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("the true-up queue was not worked within a minute");
        }
    };
    run(-1).await;
    assert_eq!(true_ups(), 0, "the day before: nothing");
    let out = run(0).await;
    assert!(out["enqueued"].as_u64() >= Some(1), "{out}");
    assert_eq!(true_ups(), 1, "the anniversary: billed");
    run(0).await;
    assert_eq!(true_ups(), 1, "run again the same day: nothing more");
    run(2).await;
    assert_eq!(true_ups(), 1, "two days late: nothing more");

    let orders = http.get(&format!("/agreements/{agr}/orders"), &partner);
    let true_ups = true_up_orders(&orders.body);
    assert_eq!(true_ups.len(), 1);
    assert_eq!(
        true_ups[0]["lines"],
        json!([{"sku": "d365-sales-professional", "quantity": 5},
               {"sku": "d365-additional-storage-gb", "quantity": 20}])
    );
    let pool = http.get(&format!("/accounts/{account}/licenses"), &admin);
    assert_eq!(
        total(&pool.body, "d365-sales-professional"),
        5,
        "the true-up order is not in the pool"
    );
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn remap_and_cancellation_are_routed_to_their_functions() {
    let http = http();
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let bs = tok("billing_support", json!({}));
    let account = http.post("/accounts", &bs, &account_body("Contoso")).id();
    let admin = tok("customer_admin", json!({"account_id": account}));
    let body = json!({"billing": "invoice", "lines": [{"sku": "d365-sales-professional",
                      "quantity": 100}]});
    let sub = http
        .post(&format!("/accounts/{account}/subscriptions"), &admin, &body)
        .id();
    let preview = http.get(
        &format!("/accounts/{account}/subscriptions/{sub}/cancellation-preview"),
        &admin,
    );
    assert_eq!(
        (preview.status, preview.body["would_pass"].as_bool()),
        (200, Some(false)),
        "{}",
        preview.raw
    );
    let path = format!("/accounts/{account}/subscriptions/{sub}/cancellation");
    let r = http.post(&path, &admin, &json!({"reason": "moving"}));
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("cancellation_would_lose_licenses"))
    );
    // R11 refuses the administrator: a service request to Billing Support instead (R18).
    let requests = format!("/accounts/{account}/service-requests");
    let ask = json!({"subscription_id": sub, "accept_license_loss": true});
    let opened = http.post(&requests, &admin, &ask);
    assert_eq!(opened.status, 201, "{}", opened.raw);
    let one = format!("/service-requests/{}", opened.id());
    assert_eq!(http.get(&one, &admin).body["status"], "open");
    assert_eq!(
        http.get(&requests, &bs).body["service_requests"][0]["id"],
        opened.body["id"]
    );
    let queue = http.get("/service-requests", &bs);
    assert!(queue.raw.contains(opened.id().as_str()), "{}", queue.raw);
    let ack = http.post(
        &format!("{one}/acknowledge"),
        &bs,
        &json!({"note": "on it"}),
    );
    assert_eq!(ack.body["status"], "in_progress", "{}", ack.raw);
    let r = http.post(
        &path,
        &bs,
        &json!({"reason": "confirmed", "accept_license_loss": true}),
    );
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(http.get(&one, &bs).body["status"], "resolved");
    // Another subscription: a request declined, then one withdrawn.
    let other = http
        .post(&format!("/accounts/{account}/subscriptions"), &admin, &body)
        .id();
    let ask = json!({"subscription_id": other, "accept_license_loss": false});
    let declined = http.post(&requests, &admin, &ask).id();
    let note = json!({"note": "order the licences first"});
    let r = http.post(&format!("/service-requests/{declined}/decline"), &bs, &note);
    assert_eq!(r.body["status"], "declined", "{}", r.raw);
    let withdrawn = http.post(&requests, &admin, &ask).id();
    let r = http.post(
        &format!("/service-requests/{withdrawn}/withdraw"),
        &admin,
        &json!({}),
    );
    assert_eq!(r.body["status"], "withdrawn", "{}", r.raw);

    let partner = registered_partner(&http, &bs, &run);
    let agr = http
        .post(
            "/agreements",
            &partner,
            &agreement_body(&format!("r-{run}"), "2026-03-15"),
        )
        .id();
    let r = http.post(
        &format!("/agreements/{agr}/remap"),
        &bs,
        &json!({"target_account_id": account, "reason": "x"}),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("agreement_not_associated"))
    );
    let r = http.post(
        &format!("/agreements/{agr}/amendments"),
        &tok("licensing_specialist", json!({})),
        &json!({"kind": "separate_online_services", "reason": "x"}),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("not_bound_to_online_services"))
    );
}

/// R11 over HTTP on the local stack, as a customer would try it: two direct subscriptions of
/// 50 seats and one EA of 50 cannot both be cancelled; billing support's override passes and
/// is audited; a reservation a cancellation relied on cannot be cancelled.
#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn the_licence_guard_over_http() {
    let http = http();
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let w = activated(&http, &run);
    let bs = tok("billing_support", json!({}));
    let fifty = json!({"billing": "invoice",
        "lines": [{"sku": "d365-sales-professional", "quantity": 50}]});
    let subs = format!("/accounts/{}/subscriptions", w.account);
    let second = http.post(&subs, &w.admin, &fifty).id();
    let cancel = |sub: &str, who: &str, body: Value| {
        http.post(&format!("{subs}/{sub}/cancellation"), who, &body)
    };
    let seats = || {
        total(
            &http
                .get(&format!("/accounts/{}/licenses", w.account), &w.admin)
                .body,
            "d365-sales-professional",
        )
    };

    let r = cancel(
        &w.subscription,
        &w.admin,
        json!({"reason": "moved to the EA"}),
    );
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = cancel(&second, &w.admin, json!({"reason": "this one too"}));
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("cancellation_would_lose_licenses")),
        "{}",
        r.raw
    );
    let shortfall = json!({"sku": "d365-sales-professional", "direct": 50, "volume": 50,
        "relied_on": 50, "available": 0});
    assert_eq!(r.body["shortfalls"], json!([shortfall]));
    assert_eq!(seats(), 100, "nothing lost");
    let r = cancel(
        &second,
        &bs,
        json!({"reason": "customer accepts", "accept_license_loss": true}),
    );
    assert_eq!(r.status, 200, "{}", r.raw);
    let trail = http.get(&format!("/accounts/{}/events", w.account), &bs);
    let last = trail.body["events"]
        .as_array()
        .and_then(|e| e.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["action"], "subscription.cancelled");
    assert_eq!(last["details"]["license_loss_accepted"], true);
    assert_eq!(last["details"]["shortfalls"], json!([shortfall]));

    // Reserve 50, cancel a 50-seat subscription relying on them, then try the reservation.
    let third = http.post(&subs, &w.admin, &fifty).id();
    let seats_body = json!({"lines": [{"sku": "d365-sales-professional", "quantity": 50}]});
    let res = http.post(
        &format!("/agreements/{}/reservations", w.agreement),
        &w.admin,
        &seats_body,
    );
    assert_eq!(res.status, 201, "{}", res.raw);
    let location = res.headers.get("location").cloned().unwrap_or_default();
    let read = http.get(&location, &w.admin);
    assert_eq!((read.status, &read.body), (200, &res.body), "{location}");
    let r = cancel(
        &third,
        &w.admin,
        json!({"reason": "covered by the reservation"}),
    );
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(seats(), 100);
    let r = http.post(
        &format!("/reservations/{}/cancel", res.id()),
        &w.admin,
        &json!({}),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("would_lose_relied_on_licenses")),
        "{}",
        r.raw
    );
    assert_eq!(seats(), 100, "nothing lost");
}

/// The EMF documents (CloudWatch embedded metric format) in the watch log after `from`.
fn metric_documents(path: &str, from: usize) -> Vec<Value> {
    let log = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    String::from_utf8_lossy(log.get(from..).unwrap_or_default())
        .lines()
        .filter_map(|l| l.find("{\"_aws\"").map(|at| &l[at..]))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A walkthrough over HTTP — an order placed and invoiced, its mail sent, the agreement
/// activated, a reservation made (its request sent twice) and cancelled, subscriptions
/// cancelled (passed, refused, overridden), the daily true-up run at the anniversary and its
/// workers billing a reservation — and the metrics the
/// functions wrote meanwhile: every document is one the catalog lists (name, dimensions,
/// unit, namespace, the function that emits it), with its request id, and each step's metric
/// is there. These are the names the alarms and the dashboard use (tests/tests/contract).
#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn the_functions_write_the_metrics_the_alarms_and_the_dashboard_name() {
    use vls_domain::metrics::{DEFAULT_NAMESPACE, FUNCTION, Metric, UNIT};
    let log = std::env::var("VLS_WATCH_LOG").expect("VLS_WATCH_LOG (run through `make test`)");
    let from = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
    let http = http();
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let w = activated(&http, &run);
    let bs = tok("billing_support", json!({}));
    let five = json!({"lines": [{"sku": "d365-sales-professional", "quantity": 5}]}).to_string();
    let reserve = || {
        let reservations = format!("/agreements/{}/reservations", w.agreement);
        http.send(
            "POST",
            &reservations,
            Some(&w.admin),
            Some(&five),
            Some(&run),
        )
    };
    let (first, again) = (reserve(), reserve());
    assert_eq!((first.status, again.replayed), (201, true), "{}", again.raw);
    let cancelled = format!("/reservations/{}/cancel", first.id());
    let r = http.post(&cancelled, &w.admin, &json!({}));
    assert_eq!(r.status, 200, "{}", r.raw);
    let subs = format!("/accounts/{}/subscriptions", w.account);
    let fifty = json!({"billing": "invoice",
        "lines": [{"sku": "d365-sales-professional", "quantity": 50}]});
    let second = http.post(&subs, &w.admin, &fifty).id();
    let cancel = |sub: &str, who: &str, body: Value| {
        http.post(&format!("{subs}/{sub}/cancellation"), who, &body)
    };
    let r = cancel(
        &w.subscription,
        &w.admin,
        json!({"reason": "moved to the EA"}),
    );
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = cancel(&second, &w.admin, json!({"reason": "this one too"}));
    assert_eq!(r.status, 409, "{}", r.raw);
    let r = cancel(
        &second,
        &bs,
        json!({"reason": "customer accepts", "accept_license_loss": true}),
    );
    assert_eq!(r.status, 200, "{}", r.raw);
    // A reservation that stays, billed at the anniversary by the daily run's workers.
    let kept = http.post(
        &format!("/agreements/{}/reservations", w.agreement),
        &w.admin,
        &json!({"lines": [{"sku": "d365-sales-professional", "quantity": 3}]}),
    );
    assert_eq!(kept.status, 201, "{}", kept.raw);
    invoke_true_up("2027-03-16T06:00:00Z");
    let partner = tok("partner", json!({"partner_id": format!("lsp-{run}")}));
    let started = std::time::Instant::now();
    while started.elapsed().as_secs() < 20 {
        let orders = http.get(&format!("/agreements/{}/orders", w.agreement), &partner);
        if !true_up_orders(&orders.body).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let namespace =
        std::env::var("METRICS_NAMESPACE").unwrap_or_else(|_| DEFAULT_NAMESPACE.to_owned());
    let expected = [
        ("order-intake", Metric::OrderPlaced),
        ("order-intake", Metric::OrderInvoiced),
        ("activation-mailer", Metric::MailSent),
        ("activation", Metric::Activated),
        ("reservations", Metric::ReservationMade),
        ("reservations", Metric::Replayed),
        ("reservations", Metric::ReservationCancelled),
        ("cancellation", Metric::CancellationPassed),
        ("cancellation", Metric::CancellationRefused),
        ("cancellation", Metric::CancellationOverridden),
        ("true-up", Metric::TrueUpRun),
        ("true-up", Metric::TrueUpBilled),
        ("true-up", Metric::TrueUpOrder),
    ];
    // What one document counts: (function, metric name, its own dimension).
    let counted = |d: &Value| -> Option<(String, String, (String, String))> {
        let aws = &d["_aws"]["CloudWatchMetrics"][0];
        let dims = aws["Dimensions"][0].as_array()?;
        let own = dims.get(1)?.as_str()?;
        let name = aws["Metrics"][0]["Name"].as_str()?;
        Some((
            d[FUNCTION].as_str()?.to_owned(),
            name.to_owned(),
            (own.to_owned(), d[own].as_str()?.to_owned()),
        ))
    };
    let has = |docs: &[Value], (f, m): &(&str, Metric)| {
        let (key, value) = m.dimension();
        let want = (
            (*f).to_owned(),
            m.name().to_owned(),
            (key.to_owned(), value.to_owned()),
        );
        docs.iter().any(|d| counted(d).as_ref() == Some(&want))
    };
    // A function writes its metrics before it answers; watch relays its output a moment later.
    let started = std::time::Instant::now();
    let docs = loop {
        let docs = metric_documents(&log, from);
        if expected.iter().all(|e| has(&docs, e)) || started.elapsed().as_secs() > 10 {
            break docs;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let missing: Vec<_> = expected.iter().filter(|e| !has(&docs, e)).collect();
    assert!(missing.is_empty(), "not written: {missing:?}");

    let catalog: Vec<(String, String, (String, String))> = Metric::all()
        .into_iter()
        .flat_map(|m| {
            let (key, value) = m.dimension();
            m.emitted_by().iter().map(move |f| {
                (
                    (*f).to_owned(),
                    m.name().to_owned(),
                    (key.to_owned(), value.to_owned()),
                )
            })
        })
        .collect();
    for d in &docs {
        let aws = &d["_aws"]["CloudWatchMetrics"][0];
        let what = counted(d).unwrap_or_else(|| panic!("a document of one metric: {d}"));
        assert!(catalog.contains(&what), "not in the catalog: {d}");
        assert_eq!(aws["Namespace"], namespace.as_str(), "{d}");
        assert_eq!(aws["Dimensions"], json!([[FUNCTION, what.2.0]]), "{d}");
        assert_eq!(
            aws["Metrics"],
            json!([{"Name": what.1, "Unit": UNIT}]),
            "one metric a document, counted: {d}"
        );
        assert!(d[&what.1].as_u64().is_some_and(|n| n >= 1), "{d}");
        assert!(
            d["requestId"].as_str().is_some_and(|id| !id.is_empty()),
            "{d}"
        );
        assert!(d["_aws"]["Timestamp"].as_u64().is_some(), "{d}");
    }
}

/// The binary of a function, as `make test` built it.
fn function_binary(name: &str) -> std::path::PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug").join(name)
}

/// Local token verification trusts a development secret: a function told to use it while
/// its AWS endpoint is not on loopback refuses to start, and says why.
#[test]
#[ignore = "needs the functions built: run through `make test`"]
fn local_auth_refuses_to_start_off_loopback() {
    let start = |endpoint: &str| {
        let out = std::process::Command::new(function_binary("order-intake"))
            .env_clear()
            .env("VLS_AUTH_MODE", "local")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", endpoint)
            .output()
            .expect("the function starts");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = start("https://dynamodb.us-east-1.amazonaws.com");
    assert!(!ok, "{text}");
    assert!(text.contains("refusing to start"), "{text}");
    assert!(text.contains("not a loopback address"), "{text}");
    // On loopback the configuration passes (it stops later, for want of a Lambda runtime).
    let (_, text) = start("http://127.0.0.1:4566");
    assert!(!text.contains("refusing to start"), "{text}");
}
