//! Activation against the emulator: the mail, the link page, association, resend with its
//! lockout, OSM change, one token used concurrently (SES refusing: mail_delivery.rs).

use chrono::Duration;
use futures::future::join_all;
use serde_json::{Value, json};
use vls_tests::fixtures::*;
use vls_tests::*;

use activation_mailer::Outcome;

struct World {
    h: Harness,
    bs: String,
    partner: String,
    account: String,
    admin: String,
    agreement: String,
}

/// The README walkthrough up to invoicing: 50 direct seats, an EA with a covering order.
async fn world() -> World {
    let h = Harness::new().await;
    let m = invoiced_migration(&h).await;
    World {
        h,
        bs: m.bs,
        partner: m.partner,
        account: m.account,
        admin: m.admin,
        agreement: m.agreement,
    }
}

/// Sweeps until one mail has gone out; answers its link token.
async fn mailed_link(h: &Harness, expected_mails: usize) -> String {
    let outcomes = h.sweep().await;
    assert!(
        outcomes.iter().any(|(_, o)| *o == Outcome::Sent),
        "{outcomes:?}"
    );
    let mail = h.mail();
    assert_eq!(mail.len(), expected_mails, "{mail:?}");
    link_token(mail.last().expect("a mail")).expect("the mail carries a link")
}

fn resend_body(legal_name: &str, country: &str) -> Value {
    json!({"legal_name": legal_name, "country": country})
}

/// The mail goes to the OSM of record only, names the agreement and its SKU and carries the
/// link; the token itself is never stored, only its hash.
async fn assert_the_mail_and_the_stored_hash(w: &World, token: &str) {
    let h = &w.h;
    let mail = &h.mail()[0];
    assert_eq!(
        mail["destinations"]["ToAddresses"],
        json!(["olivia@contoso.com"]),
        "to the OSM of record only"
    );
    let body = mail["body"].as_str().unwrap_or_default();
    assert!(body.contains(&w.agreement) && body.contains("d365-sales-professional"));
    assert!(body.contains(&format!("https://licensing.example.com/activate/{token}")));

    // Only the token's hash is stored.
    let items = scan_all(&h.client, &h.table).await;
    let dump = format!("{items:?}");
    assert!(!dump.contains(token), "the token itself is never stored");
}

/// The link's page: the agreement, a sign-in link, its SKUs and program.
async fn assert_the_page(w: &World, token: &str) {
    let page =
        w.h.call("GET", &format!("/activate/{token}"), None, None, None)
            .await;
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"));
    assert!(page.raw.contains(&w.agreement));
    assert!(
        page.raw
            .contains(&format!("href=\"{token}/sign-in\">Sign in to associate"))
    );
    assert!(page.raw.contains("Dynamics 365 Sales Professional"));
    assert!(
        page.raw.contains("· EA<br>"),
        "the program as the contract writes it"
    );
}

/// Someone else's account, another role, no token: refused, nothing spent.
async fn assert_the_wrong_callers_are_refused(w: &World, token: &str) {
    let h = &w.h;
    let path = format!("/activate/{token}");
    let other = h
        .post("/accounts", &w.bs, &account_body("Other"))
        .await
        .id();
    let r = h.post(&path, &w.admin, &json!({"account_id": other})).await;
    assert_eq!(r.status, 404, "{}", r.raw);
    let own = json!({"account_id": w.account});
    let r = h.post(&path, &w.partner, &own).await;
    assert_eq!(r.status, 403);
    let r = h
        .call("POST", &path, None, Some(&own.to_string()), None)
        .await;
    assert_eq!(r.status, 401);
}

/// The admin associates the agreement: the invoiced order's lines attached, per SKU, and
/// the pool grown by them.
async fn assert_the_association_and_the_pool(w: &World, token: &str) {
    let h = &w.h;
    let r = h.associate(token, &w.admin, &w.account).await;
    assert_eq!(r.body["agreement_id"], w.agreement.as_str());
    assert_eq!(r.body["account_id"], w.account.as_str());
    // What the invoiced order held, per SKU (the order is the agreement's paged list).
    let mut attached: Vec<Value> = r.body["attached_orders"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut ordered: Vec<Value> = covering_lines().as_array().cloned().unwrap_or_default();
    let key = |v: &Value| v["sku"].as_str().unwrap_or_default().to_owned();
    attached.sort_by_key(key);
    ordered.sort_by_key(key);
    assert_eq!(attached, ordered);

    let pool = h
        .get(&format!("/accounts/{}/licenses", w.account), &w.admin)
        .await;
    assert_eq!(
        total(&pool.body, "d365-sales-professional"),
        100,
        "50 direct + 50 volume"
    );
    assert_eq!(total(&pool.body, "d365-additional-storage-gb"), 10);
    let a = h
        .get(&format!("/agreements/{}", w.agreement), &w.admin)
        .await;
    assert_eq!(
        a.body["account_id"],
        w.account.as_str(),
        "the admin now sees the agreement"
    );
}

/// The link is spent: page and POST both 410; unknown links are 404.
async fn assert_the_link_is_spent(w: &World, token: &str) {
    let h = &w.h;
    let again = h
        .call("GET", &format!("/activate/{token}"), None, None, None)
        .await;
    assert_eq!(again.status, 410);
    assert!(again.raw.contains("already been used"));
    let own = json!({"account_id": w.account});
    let r = h.post(&format!("/activate/{token}"), &w.admin, &own).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (410, Some("link_used"))
    );
    // Unknown links are 404.
    for unknown in ["0".repeat(64), "not-a-token".to_owned()] {
        let path = format!("/activate/{unknown}");
        assert_eq!(h.call("GET", &path, None, None, None).await.status, 404);
    }
}

#[tokio::test]
async fn invoice_mail_link_page_association_and_the_pool() {
    let w = world().await;
    let h = &w.h;
    let token = mailed_link(h, 1).await;
    assert_the_mail_and_the_stored_hash(&w, &token).await;
    assert_the_page(&w, &token).await;
    assert_the_wrong_callers_are_refused(&w, &token).await;
    assert_the_association_and_the_pool(&w, &token).await;
    assert_the_link_is_spent(&w, &token).await;

    let trail = h
        .get(&format!("/agreements/{}/events", w.agreement), &w.bs)
        .await;
    assert_eq!(
        actions(&trail.body),
        [
            "agreement.created",
            "order.placed",
            "order.invoiced",
            "activation_link.issued",
            "activation_email.sent",
            "activation.completed"
        ]
    );
    let acc = h
        .get(&format!("/accounts/{}/events", w.account), &w.admin)
        .await;
    assert_eq!(actions(&acc.body).last(), Some(&"activation.completed"));

    // Nothing left to send, nothing more mailed.
    h.clock.advance(Duration::hours(1));
    assert!(h.sweep().await.is_empty());
    assert_eq!(h.mail().len(), 1);
}

/// The token-pasting form is gone: a form post with an account id and a token in its body
/// is a program's call without a bearer header (401), and associates nothing.
#[tokio::test]
async fn the_token_pasting_form_is_gone() {
    let w = world().await;
    let h = &w.h;
    let token = mailed_link(h, 1).await;
    let path = format!("/activate/{token}");
    let r = h
        .form(
            &path,
            &format!("account_id={}&access_token={}", w.account, w.admin),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.raw);
    let page = h.call("GET", &path, None, None, None).await;
    assert_eq!(page.status, 200, "the link still works");
    assert!(!page.raw.contains("access_token"));
}

#[tokio::test]
async fn two_concurrent_associations_with_one_token_exactly_one_wins() {
    let w = world().await;
    let h = &w.h;
    let token = mailed_link(h, 1).await;
    let other = h
        .post("/accounts", &w.bs, &account_body("Contoso EU"))
        .await
        .id();
    let path = format!("/activate/{token}");
    let bodies = [
        json!({"account_id": w.account}),
        json!({"account_id": other}),
    ];
    let tokens = [w.admin.clone(), admin(&other)];
    let results = join_all((0..2).map(|i| h.post(&path, &tokens[i], &bodies[i]))).await;
    let mut statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 410],
        "{:?}",
        results.iter().map(|r| &r.raw).collect::<Vec<_>>()
    );
    let winner = results
        .iter()
        .find(|r| r.status == 200)
        .map(|r| r.body["account_id"].clone());
    let a = h.get(&format!("/agreements/{}", w.agreement), &w.bs).await;
    assert_eq!(Some(a.body["account_id"].clone()), winner);
    // Exactly one account holds it.
    let pools = [
        total(
            &h.get(&format!("/accounts/{}/licenses", w.account), &w.bs)
                .await
                .body,
            "d365-sales-professional",
        ),
        total(
            &h.get(&format!("/accounts/{other}/licenses"), &w.bs)
                .await
                .body,
            "d365-sales-professional",
        ),
    ];
    assert!(pools == [100, 0] || pools == [50, 50], "{pools:?}");
}

#[tokio::test]
async fn resend_checks_role_lockout_company_and_state_in_that_order() {
    let w = world().await;
    let h = &w.h;
    let first = mailed_link(h, 1).await;
    let path = format!("/agreements/{}/activation-email/resend", w.agreement);

    assert_eq!(
        h.post(&path, &w.partner, &resend_body("Contoso Ltd", "NL"))
            .await
            .status,
        403
    );
    for i in 0..5 {
        let r = h.post(&path, &w.bs, &resend_body("Fabrikam", "NL")).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (403, Some("company_mismatch")),
            "attempt {i}"
        );
    }
    let r = h
        .post(&path, &w.bs, &resend_body("Contoso Ltd", "NL"))
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (429, Some("too_many_attempts")),
        "even a right answer waits"
    );
    assert!(h.sweep().await.is_empty(), "nothing queued");
    assert_eq!(h.mail().len(), 1, "no mail sent");

    // An hour later the lockout is over; a right answer in other case and with spaces, with a
    // recipient of the caller's choosing that is ignored.
    h.clock.advance(Duration::minutes(61));
    let body = json!({"legal_name": "  contoso LTD ", "country": " nl",
                      "to": "attacker@evil.example", "email": "attacker@evil.example"});
    let r = h.post(&path, &w.bs, &body).await;
    assert_eq!(
        (r.status, r.body["sent_to"].as_str()),
        (202, Some("o***@contoso.com")),
        "{}",
        r.raw
    );
    // The earlier link died at once.
    let old = h
        .call("GET", &format!("/activate/{first}"), None, None, None)
        .await;
    assert_eq!(old.status, 410);
    assert!(old.raw.contains("replaced"));
    let second = mailed_link(h, 2).await;
    assert_ne!(second, first);
    for m in h.mail() {
        assert_eq!(
            m["destinations"]["ToAddresses"],
            json!(["olivia@contoso.com"])
        );
    }
    // After association there is nothing to activate.
    h.associate(&second, &w.admin, &w.account).await;
    let r = h
        .post(&path, &w.bs, &resend_body("Contoso Ltd", "NL"))
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("nothing_to_activate"))
    );
    let r = h
        .post(&path, &w.bs, &json!({"legal_name": "Contoso Ltd"}))
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("missing_field"))
    );
}

/// Every page (the link page, an unknown link, a spent one, a refused form) is never cached,
/// never sends its URL on as a referrer and is never framed.
#[tokio::test]
async fn pages_are_not_cached_not_referred_and_not_framed() {
    let w = world().await;
    let h = &w.h;
    let token = mailed_link(h, 1).await;
    let page = h
        .call("GET", &format!("/activate/{token}"), None, None, None)
        .await;
    assert_page(&page, 200, None);
    let unknown = h
        .call("GET", "/activate/not-a-token", None, None, None)
        .await;
    assert_page(&unknown, 404, None);
    let refused = h
        .call("GET", "/sign-in/callback?state=x&code=y", None, None, None)
        .await;
    assert_page(&refused, 400, None);
    let redirect = h
        .call(
            "GET",
            &format!("/activate/{token}/sign-in"),
            None,
            None,
            None,
        )
        .await;
    assert_page(&redirect, 302, None);
    h.associate(&token, &w.admin, &w.account).await;
    let spent = h
        .call("GET", &format!("/activate/{token}"), None, None, None)
        .await;
    assert_page(&spent, 410, None);
}

/// R17: a mail that is not sent because the agreement got associated first leaves an event.
#[tokio::test]
async fn a_mail_skipped_because_the_agreement_was_associated_is_audited() {
    let w = world().await;
    let h = &w.h;
    let first = mailed_link(h, 1).await;
    // A second order invoiced while the first link is still unused: a second mail is queued.
    let lines = json!([{"sku": "d365-sales-professional", "quantity": 10}]);
    let order = h
        .post(
            "/orders",
            &w.partner,
            &order_body(&w.agreement, lines, None),
        )
        .await
        .id();
    let r = h
        .post(&format!("/orders/{order}/invoice"), &w.partner, &json!({}))
        .await;
    assert_eq!(r.body["activation_email"], "queued", "{}", r.raw);
    h.associate(&first, &w.admin, &w.account).await;
    let outcomes = h.sweep().await;
    assert_eq!(
        outcomes.iter().map(|(_, o)| *o).collect::<Vec<_>>(),
        [Outcome::Skipped]
    );
    assert_eq!(h.mail().len(), 1, "nothing more was sent");
    let trail = h
        .get(&format!("/agreements/{}/events", w.agreement), &w.bs)
        .await;
    let skipped = event(&trail.body, "activation_email.skipped");
    let skipped = skipped.expect("a skipped event");
    assert_eq!(skipped["details"]["reason"], "agreement_associated");
    assert_eq!(skipped["details"]["account_id"], w.account.as_str());
}

/// R9 under concurrency: a wrong answer whose count keeps losing to concurrent writes is
/// never let through to sending.
#[tokio::test]
async fn a_wrong_answer_that_cannot_be_counted_is_not_sent() {
    let w = world().await;
    let h = &w.h;
    let path = format!("/agreements/{}/activation-email/resend", w.agreement);
    h.faults.lose_conditional_puts(true);
    let r = h.post(&path, &w.bs, &resend_body("Fabrikam", "NL")).await;
    h.faults.lose_conditional_puts(false);
    assert_problem(&r, 409, "concurrent_update");
    let trail = h
        .get(&format!("/agreements/{}/events", w.agreement), &w.bs)
        .await;
    assert!(
        !actions(&trail.body).contains(&"activation_email.resend_requested"),
        "{}",
        trail.raw
    );
}

#[tokio::test]
async fn concurrent_wrong_answers_never_send_and_count_at_most_five() {
    let w = world().await;
    let h = &w.h;
    let path = format!("/agreements/{}/activation-email/resend", w.agreement);
    let body = resend_body("Fabrikam", "NL");
    let answers = futures::future::join_all((0..8).map(|_| h.post(&path, &w.bs, &body))).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert!(!statuses.contains(&202), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| matches!(s, 403 | 409 | 429)),
        "{statuses:?}"
    );
    let mismatches = statuses.iter().filter(|s| **s == 403).count();
    assert!((1..=5).contains(&mismatches), "{statuses:?}");
    let (pk, sk) = vls_store::keys::lockout(
        &vls_domain::types::AgreementId::parse(&w.agreement).expect("agreement id"),
    );
    let counter = h
        .client
        .get_item()
        .table_name(&h.table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
        .consistent_read(true)
        .send()
        .await
        .expect("read the counter");
    let count = counter
        .item
        .and_then(|i| i.get("count").and_then(|c| c.as_n().ok()).cloned())
        .and_then(|n| n.parse::<usize>().ok());
    assert_eq!(
        count,
        Some(mismatches),
        "every refusal counted, none beyond five"
    );
    let trail = h
        .get(&format!("/agreements/{}/events", w.agreement), &w.bs)
        .await;
    assert!(!actions(&trail.body).contains(&"activation_email.resend_requested"));
}

#[tokio::test]
async fn an_osm_change_kills_the_link_and_a_resend_reaches_the_new_osm() {
    let w = world().await;
    let h = &w.h;
    let first = mailed_link(h, 1).await;
    let osm = format!("/agreements/{}/osm", w.agreement);
    h.put("/partners/p2", &w.bs, &partner_body("Other")).await;
    assert_eq!(
        h.put(
            &osm,
            &partner("p2"),
            &json!({"name": "Mallory", "email": "m@fabrikam.com"})
        )
        .await
        .status,
        404
    );
    let r = h
        .put(
            &osm,
            &w.partner,
            &json!({"name": "Noah New", "email": "noah@contoso.com"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let page = h
        .call("GET", &format!("/activate/{first}"), None, None, None)
        .await;
    assert_eq!(page.status, 410);
    assert!(page.raw.contains("Online Services Manager changed"));
    h.clock.advance(Duration::minutes(5));
    assert!(
        h.sweep().await.is_empty(),
        "an OSM change sends nothing by itself"
    );
    let r = h
        .post(
            &format!("/agreements/{}/activation-email/resend", w.agreement),
            &w.bs,
            &resend_body("Contoso Ltd", "NL"),
        )
        .await;
    assert_eq!(
        (r.status, r.body["sent_to"].as_str()),
        (202, Some("n***@contoso.com"))
    );
    let link = mailed_link(h, 2).await;
    assert_eq!(
        h.mail()[1]["destinations"]["ToAddresses"],
        json!(["noah@contoso.com"])
    );
    assert_eq!(
        h.call("GET", &format!("/activate/{link}"), None, None, None)
            .await
            .status,
        200
    );
}
