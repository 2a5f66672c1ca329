//! The customer's pages (SPEC §7, PORTAL.md §7.8) over HTTP, as a person uses them: headless
//! Chromium with JavaScript off against `cargo lambda watch` (`make dev`'s stack) and against
//! the template-driven stack. Screenshots go to `target/screenshots/`.

use serde_json::json;
use vls_tests::total;

use crate::blackbox::{activated, base, http};
use crate::browser::Browser;

/// Acceptance 1 (and 16, without JavaScript): `/portal` without a session goes to the
/// sign-in page; after signing in on the local provider as the account's administrator, the
/// home page shows the account, the per-SKU totals of `…/licenses` and the source ids of
/// `…/licenses/sources`; Help is one click away; Sign out ends the session.
#[tokio::test]
#[ignore = "needs the local stack and Chromium: run through `make test`"]
async fn the_customer_signs_in_and_sees_the_pool_in_a_real_browser() {
    let http = http();
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let w = activated(&http, &run);
    let sub = format!("ada-{run}");
    vls_tests::browser::register_user(
        &vls_tests::oidc_issuer(),
        &sub,
        &json!({"email": "ada@contoso.com", "role": "customer_admin", "account_id": w.account}),
    );

    let browser = Browser::start();
    browser.assert_scripts_off();
    browser.open(&format!("{}/portal", base()));
    browser.wait_for("id=\"sign-in\"");
    browser.screenshot("portal-sign-in-1280");
    browser.click("#sign-in");
    browser.wait_for("name=\"sub\"");
    browser.type_into("input[name=sub]", &sub);
    browser.click("form button[type=submit]");
    let home = browser.wait_for("Licences as of");
    assert!(
        home.contains(&w.account) && home.contains("ada@contoso.com"),
        "{home}"
    );
    let pool = http.get(&format!("/accounts/{}/licenses", w.account), &w.admin);
    let skus = pool.body["skus"].as_array().cloned().unwrap_or_default();
    assert!(!skus.is_empty(), "{}", pool.raw);
    for s in &skus {
        let sku = s["sku"].as_str().unwrap_or_default();
        let cell = format!("data-sku=\"{sku}\">{}<", total(&pool.body, sku));
        assert!(home.contains(&cell), "{cell}: {home}");
    }
    let sources = http.get(
        &format!("/accounts/{}/licenses/sources", w.account),
        &w.admin,
    );
    for s in sources.body["sources"].as_array().into_iter().flatten() {
        let id = s["id"].as_str().unwrap_or_default();
        assert!(home.contains(id), "source {id}: {home}");
    }
    assert!(home.contains(&w.agreement) && home.contains(&w.subscription));
    browser.screenshot("portal-home-1280");

    browser.click("a[href=\"/portal/help\"]");
    browser.wait_for("<h1>Help</h1>");
    browser.screenshot("portal-help-1280");

    browser.click("#sign-out");
    let out = browser.wait_for("id=\"ended\"");
    assert!(out.contains("You are signed out"), "{out}");
    browser.open(&format!("{}/portal/help", base()));
    browser.wait_for("id=\"sign-in\"");
}

/// An account for the pages' tests: Contoso with the FAQ's subscription, an EA whose order
/// covers it, associated through its link, and two 100-seat subscriptions volume does not
/// cover; the administrator registered with the local provider, signed in in a browser.
struct Signed {
    browser: Browser,
    w: crate::blackbox::Invoiced,
    uncovered: [String; 2],
}

fn signed_in(run: &str) -> Signed {
    let http = http();
    let w = activated(&http, run);
    let big = json!({"billing": "invoice",
        "lines": [{"sku": "d365-sales-professional", "quantity": 100}]});
    let path = format!("/accounts/{}/subscriptions", w.account);
    let uncovered = [
        http.post(&path, &w.admin, &big).id(),
        http.post(&path, &w.admin, &big).id(),
    ];
    let sub = format!("ada-{run}");
    vls_tests::browser::register_user(
        &vls_tests::oidc_issuer(),
        &sub,
        &json!({"email": "ada@contoso.com", "role": "customer_admin", "account_id": w.account}),
    );
    let browser = Browser::start();
    browser.assert_scripts_off();
    browser.open(&format!("{}/portal", base()));
    browser.wait_for("id=\"sign-in\"");
    browser.click("#sign-in");
    browser.wait_for("name=\"sub\"");
    browser.type_into("input[name=sub]", &sub);
    browser.click("form button[type=submit]");
    browser.wait_for("Licences as of");
    Signed {
        browser,
        w,
        uncovered,
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
    let from = from.unwrap_or_else(|| panic!("no {sku} row in {table}"));
    let end = page[from..].find("</tr>").map_or(page.len(), |i| from + i);
    page[from..end]
        .split("<td class=\"n\">")
        .skip(1)
        .filter_map(|c| c.split('<').next()?.parse().ok())
        .collect()
}

/// Acceptance 9, 12 and 13 in a real browser with JavaScript off (16): reserving 10 seats
/// through the review; cancelling a covered subscription from its page; asking Billing
/// Support about one volume does not cover, which Billing Support then resolves.
#[tokio::test]
#[ignore = "needs the local stack and Chromium: run through `make test`"]
async fn the_customer_reserves_cancels_and_asks_in_a_real_browser() {
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let Signed {
        browser,
        w,
        uncovered,
    } = signed_in(&run);
    let http = http();
    let pool = |sku: &str| {
        let r = http.get(&format!("/accounts/{}/licenses", w.account), &w.admin);
        total(&r.body, sku)
    };
    let seats = "d365-sales-professional";
    let before = pool(seats);

    browser.open(&format!("{}/portal/agreements/{}", base(), w.agreement));
    browser.wait_for("id=\"reserve\"");
    browser.click("#reserve");
    browser.wait_for("id=\"qty-first\"");
    browser.type_into("#qty-first", "10");
    browser.click("#review");
    let review = browser.wait_for("id=\"confirm-reserve\"");
    let sums = row(&review, "review", seats);
    browser.click("#confirm-reserve");
    let p5 = browser.wait_for("id=\"cancellable-until\"");
    let preview = http.get(
        &format!("/agreements/{}/true-up-preview", w.agreement),
        &w.admin,
    );
    let billed = preview.body["lines"][0]["quantity"].as_i64().unwrap_or(-1);
    assert_eq!(
        sums,
        vec![billed - 10, 10, billed],
        "the review is the preview read after"
    );
    assert_eq!(pool(seats), before + 10, "in the pool at once");
    assert!(p5.contains("id=\"cancel\""), "cancellable for 72 hours");

    browser.open(&format!(
        "{}/portal/subscriptions/{}",
        base(),
        w.subscription
    ));
    let p7 = browser.wait_for("id=\"preview\"");
    let coverage = http.get(
        &format!(
            "/accounts/{}/subscriptions/{}/cancellation-preview",
            w.account, w.subscription
        ),
        &w.admin,
    );
    for c in coverage.body["coverage"].as_array().into_iter().flatten() {
        let shown = row(&p7, "preview", c["sku"].as_str().unwrap_or_default());
        let json: Vec<i64> = ["direct", "volume", "relied_on", "available"]
            .iter()
            .map(|k| c[*k].as_i64().unwrap_or(-1))
            .collect();
        assert_eq!(shown[..4], json[..], "{c}");
    }
    browser.click("#cancel");
    browser.wait_for("id=\"status\">cancelled");
    let direct = http.get(&format!("/accounts/{}/licenses", w.account), &w.admin);
    let sub = http.get(
        &format!("/accounts/{}/subscriptions/{}", w.account, w.subscription),
        &w.admin,
    );
    assert_eq!(sub.body["status"], "cancelled", "{}", direct.raw);

    browser.open(&format!("{}/portal/subscriptions/{}", base(), uncovered[0]));
    let p7 = browser.wait_for("id=\"ask\"");
    assert!(
        !p7.contains("id=\"cancel\""),
        "no cancel form while R11 refuses"
    );
    browser.type_into("#message", "Please cancel the direct one");
    browser.click("#accept_license_loss");
    browser.click("#ask");
    let p8 = browser.wait_for("id=\"withdraw\"");
    let request = p8
        .split("Service request <code>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the request's id")
        .to_owned();
    let bs = vls_tests::stack_token("billing_support", json!({}));
    let queue = http.get("/service-requests", &bs);
    assert!(queue.raw.contains(&request), "{}", queue.raw);
    let ack = http.post(
        &format!("/service-requests/{request}/acknowledge"),
        &bs,
        &json!({}),
    );
    assert_eq!(ack.status, 200, "{}", ack.raw);
    browser.open(&format!("{}/portal/service-requests/{request}", base()));
    browser.wait_for("id=\"status\">in progress");
    let cancel = format!(
        "/accounts/{}/subscriptions/{}/cancellation",
        w.account, uncovered[0]
    );
    let body = json!({"reason": "customer consented", "accept_license_loss": true});
    assert_eq!(http.post(&cancel, &bs, &body).status, 200);
    browser.open(&format!("{}/portal/service-requests/{request}", base()));
    browser.wait_for("id=\"status\">resolved");
    let trail = http.get(
        &format!("/accounts/{}/events?order=desc&limit=5", w.account),
        &w.admin,
    );
    let named = trail.body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| {
            e["action"] == "subscription.cancelled"
                && e["details"]["service_request_id"] == request.as_str()
        });
    assert!(named, "{}", trail.raw);
}

/// What each page is checked for at one width: axe reports no violation; at 320 px nothing
/// but a table's own region is wider than the window; a screenshot.
fn check_page(browser: &Browser, name: &str, width: u32) {
    browser.size(width, 900);
    let violations = browser.axe();
    assert!(
        violations.is_empty(),
        "{name} at {width} px: {violations:#?}"
    );
    if width == 320 {
        let wide = browser.execute("return document.documentElement.scrollWidth;");
        assert!(
            wide.as_u64().is_some_and(|w| w <= 320),
            "{name} at 320 px is {wide} wide"
        );
    }
    browser.screenshot(&format!("portal-{name}-{width}"));
}

/// Tab from the top: the skip link first, then every control in order, each visibly focused.
fn check_keyboard(browser: &Browser, name: &str) {
    browser.size(1280, 900);
    let controls = browser.execute(
        "return Array.from(document.querySelectorAll('a[href], button, input:not([type=hidden]),\
         textarea, select, [tabindex=\"0\"]')).length;",
    );
    let n = controls.as_u64().unwrap_or(0);
    let first = browser.tab();
    assert_eq!(
        first["href"], "#main",
        "{name}: the skip link first, not {first}"
    );
    for i in 1..n {
        let at = browser.tab();
        assert_eq!(
            at["outline"], true,
            "{name}: control {i} is not visibly focused: {at}"
        );
        assert_ne!(
            at["tag"], "BODY",
            "{name}: Tab left the page after {i} of {n} controls"
        );
    }
}

/// Acceptance 15 and 17: every page (P1–P10, the review, a refusal, 403, 404 and sign-in)
/// passes axe (WCAG 2.2 AA's tags) at 1280 and 320 px, fits 320 px but for its tables' own
/// regions, and is walked by Tab from the skip link through every control, each visibly
/// focused; the home page prints its SKU totals and "as of", without "Sign out".
#[tokio::test]
#[ignore = "needs the local stack and Chromium: run through `make test`"]
async fn every_page_is_accessible_at_1280_and_320_px() {
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let Signed {
        browser,
        w,
        uncovered,
    } = signed_in(&run);
    let http = http();
    let reservation = http
        .post(
            &format!("/agreements/{}/reservations", w.agreement),
            &w.admin,
            &json!({"lines": [{"sku": "d365-sales-professional", "quantity": 2}]}),
        )
        .id();
    browser.open(&format!("{}/portal/subscriptions/{}", base(), uncovered[1]));
    browser.wait_for("id=\"ask\"");
    browser.click("#ask");
    browser.wait_for("id=\"withdraw\"");
    let request_page = browser.source();

    let b = base();
    let agreement = format!("{b}/portal/agreements/{}", w.agreement);
    let pages = [
        ("home", format!("{b}/portal")),
        ("agreement", agreement.clone()),
        ("orders", format!("{agreement}/orders")),
        ("reservations", format!("{agreement}/reservations")),
        ("reserve", format!("{agreement}/reserve")),
        (
            "reservation",
            format!("{b}/portal/reservations/{reservation}"),
        ),
        ("subscriptions", format!("{b}/portal/subscriptions")),
        (
            "subscription",
            format!("{b}/portal/subscriptions/{}", w.subscription),
        ),
        (
            "subscription-short",
            format!("{b}/portal/subscriptions/{}", uncovered[0]),
        ),
        ("service-requests", format!("{b}/portal/service-requests")),
        ("activity", format!("{b}/portal/activity")),
        ("help", format!("{b}/portal/help")),
        ("not-found", format!("{b}/portal/agreements/agr_{run}")),
    ];
    for (name, url) in &pages {
        browser.open(url);
        browser.wait_for("id=\"help-line\"");
        check_page(&browser, name, 1280);
        check_page(&browser, name, 320);
        check_keyboard(&browser, name);
    }
    assert!(request_page.contains("id=\"timeline\""));
    browser.open(&format!("{b}/portal/service-requests"));
    browser.click("#requests a");
    browser.wait_for("id=\"withdraw\"");
    check_page(&browser, "service-request", 1280);
    check_page(&browser, "service-request", 320);

    // The review, and a refused form keeping its input.
    browser.open(&format!("{agreement}/reserve"));
    browser.wait_for("id=\"qty-first\"");
    browser.type_into("#qty-first", "3");
    browser.click("#review");
    browser.wait_for("id=\"confirm-reserve\"");
    check_page(&browser, "review", 1280);
    check_page(&browser, "review", 320);
    browser.open(&format!("{agreement}/reserve"));
    browser.wait_for("id=\"qty-first\"");
    browser.type_into("#qty-first", "many");
    browser.click("#review");
    let refused = browser.wait_for("data-code=\"invalid_field\"");
    assert!(refused.contains("value=\"many\"") && refused.contains("aria-invalid=\"true\""));
    check_page(&browser, "refusal", 1280);
    check_page(&browser, "refusal", 320);
    check_keyboard(&browser, "refusal");

    // A 409: the subscription's page was opened while volume covered it; another cancelled
    // subscription then came to rely on that volume.
    browser.open(&format!("{b}/portal/subscriptions/{}", w.subscription));
    browser.wait_for("id=\"cancel\"");
    let path = format!("/accounts/{}/subscriptions", w.account);
    let seats = json!({"billing": "invoice",
        "lines": [{"sku": "d365-sales-professional", "quantity": 50}]});
    let other = http.post(&path, &w.admin, &seats).id();
    let reason = json!({"reason": "replaced"});
    assert_eq!(
        http.post(&format!("{path}/{other}/cancellation"), &w.admin, &reason)
            .status,
        200
    );
    browser.click("#cancel");
    browser.wait_for("data-code=\"cancellation_would_lose_licenses\"");
    check_page(&browser, "refusal-409", 1280);
    check_page(&browser, "refusal-409", 320);

    // Print: the account, "as of" and both tables, not the navigation or forms.
    browser.open(&format!("{b}/portal"));
    browser.wait_for("Licences as of");
    let pdf = browser.print();
    // The PDF's text, its line breaks (where cells wrap) read as spaces.
    let text = pdf_text(&pdf)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(text.contains("Licences as of"), "{text}");
    assert!(!text.contains("Sign out"), "{text}");
    let pool = http.get(&format!("/accounts/{}/licenses", w.account), &w.admin);
    for s in pool.body["skus"].as_array().into_iter().flatten() {
        let name = vls_domain::catalog::Sku::parse(s["sku"].as_str().unwrap_or_default())
            .map(|k| k.display_name())
            .unwrap_or_default();
        let row = format!(
            "{} {} {} {}",
            s["total"], s["direct"], s["volume"], s["relied_on"]
        );
        assert!(
            text.contains(name) && text.contains(&row),
            "{name} {row}: {text}"
        );
    }

    // Cancel the reservation and withdraw the request (their routes, from their pages).
    browser.open(&format!("{b}/portal/reservations/{reservation}"));
    browser.click("#cancel");
    browser.wait_for("id=\"status\">cancelled");
    browser.open(&format!("{b}/portal/service-requests"));
    browser.click("#requests a");
    browser.click("#withdraw");
    browser.wait_for("id=\"status\">withdrawn");

    // Signed out, the sign-in page; someone who may not use the pages, the 403 page.
    browser.click("#sign-out");
    browser.wait_for("id=\"ended\"");
    check_page(&browser, "sign-in", 1280);
    check_page(&browser, "sign-in", 320);
    let support = format!("bo-{run}");
    vls_tests::browser::register_user(
        &vls_tests::oidc_issuer(),
        &support,
        &json!({"email": "bo@vendor.example", "role": "billing_support"}),
    );
    browser.click("#sign-in");
    browser.wait_for("name=\"sub\"");
    browser.type_into("input[name=sub]", &support);
    browser.click("form button[type=submit]");
    browser.wait_for("data-code=\"not_an_admin\"");
    check_page(&browser, "forbidden", 1280);
    check_page(&browser, "forbidden", 320);
}

/// Prints the text of the PDF at argv[1], page after page.
const PDF_TEXT: &str = concat!(
    "import sys, pypdf; ",
    "print(''.join(p.extract_text() for p in pypdf.PdfReader(sys.argv[1]).pages))"
);

/// The text of a PDF (pypdf, pinned in .venv).
fn pdf_text(pdf: &[u8]) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join("target/screenshots/portal-home-print.pdf");
    std::fs::create_dir_all(path.parent().expect("folder")).expect("folder");
    std::fs::write(&path, pdf).expect("the PDF");
    let out = std::process::Command::new(root.join(".venv/bin/python"))
        .args(["-c", PDF_TEXT])
        .arg(&path)
        .output()
        .expect("pypdf");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
