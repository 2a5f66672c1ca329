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
