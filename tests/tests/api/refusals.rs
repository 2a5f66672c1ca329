//! The refusals the contract lists for each operation's input (`x-codes` in openapi.yaml),
//! each answered by its route: one request per (route, code), from a table. The harness
//! holds every refusal against the operation's codes too, so a case answered with another
//! code fails twice over.

use serde_json::{Value, json};
use vls_tests::fixtures::*;
use vls_tests::*;

/// Method, path, token, body, the status and code it must be refused with.
type Case = (&'static str, String, String, Value, u16, &'static str);

fn lines(items: &[(&str, i64)]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|(sku, q)| json!({"sku": sku, "quantity": q}))
            .collect(),
    )
}

const PRO: &str = "d365-sales-professional";

/// Bodies broken one way each, for the routes that take lines of SKUs.
fn line_cases(method: &'static str, path: &str, token: &str, base: &Value) -> Vec<Case> {
    let with = |l: Value| {
        let mut b = base.clone();
        b["lines"] = l;
        b
    };
    vec![
        (
            method,
            path.into(),
            token.into(),
            with(json!([])),
            422,
            "empty_lines",
        ),
        (
            method,
            path.into(),
            token.into(),
            with(lines(&[(PRO, 1), (PRO, 2)])),
            422,
            "duplicate_sku",
        ),
        (
            method,
            path.into(),
            token.into(),
            with(lines(&[("d365-nope", 1)])),
            422,
            "unknown_sku",
        ),
        (
            method,
            path.into(),
            token.into(),
            with(lines(&[(PRO, 0)])),
            422,
            "invalid_quantity",
        ),
    ]
}

fn cases(t: &Tenancy, agr: &str) -> Vec<Case> {
    let (bs, partner, admin) = (t.bs.clone(), t.partner.clone(), t.admin.clone());
    let account = format!("/accounts/{}", t.account);
    let agreement = format!("/agreements/{agr}");
    let missing = "agr_01JFQ8ZP5Q7S9U1W3Y5A7C9E1G";
    let contact = json!({"name": "Pat", "email": "pat@fabrikam.com", "phone": "1"});
    let mut all: Vec<Case> = vec![
        (
            "PUT",
            "/partners/bad*id".into(),
            bs.clone(),
            json!({"name": "F", "contact": contact}),
            422,
            "invalid_id",
        ),
        (
            "PUT",
            "/partners/p7".into(),
            bs.clone(),
            json!({"name": "", "contact": contact}),
            422,
            "invalid_field",
        ),
        (
            "PUT",
            "/partners/p7".into(),
            bs.clone(),
            json!({"name": "F", "contact": {"name": "Pat", "email": "pat", "phone": "1"}}),
            422,
            "invalid_email",
        ),
        (
            "POST",
            "/accounts".into(),
            bs.clone(),
            json!({"name": "C", "domain": "c.com",
                "online_services": [{"product": "teams", "quantity": 1}]}),
            422,
            "unknown_product",
        ),
        (
            "POST",
            "/accounts".into(),
            bs.clone(),
            json!({"name": "C", "domain": "c.com",
                "online_services": [{"product": "intune", "quantity": 0}]}),
            422,
            "invalid_quantity",
        ),
        (
            "POST",
            "/agreements".into(),
            partner.clone(),
            json!({"program": "EA", "customer": {"number": "1", "legal_name": "", "country": "NL"},
                "osm": {"name": "O", "email": "o@contoso.com"}, "start_date": "2026-03-15"}),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/agreements".into(),
            partner.clone(),
            json!({"program": "EA", "customer": {"number": "1", "legal_name": "C", "country": "NL"},
                "osm": {"name": "O", "email": "o@contoso.com"}, "start_date": "2026-03-15",
                "online_services_account_id": "nope"}),
            422,
            "invalid_id",
        ),
        (
            "PUT",
            format!("{agreement}/osm"),
            partner.clone(),
            json!({"name": "", "email": "n@contoso.com"}),
            422,
            "invalid_field",
        ),
        (
            "PUT",
            format!("{agreement}/osm"),
            partner.clone(),
            json!({"name": "N", "email": "n"}),
            422,
            "invalid_email",
        ),
        (
            "POST",
            "/orders".into(),
            partner.clone(),
            json!({"agreement_id": "nope", "lines": lines(&[(PRO, 1)])}),
            422,
            "invalid_id",
        ),
        (
            "POST",
            format!("{agreement}/activation-email/resend"),
            bs.clone(),
            json!({"legal_name": "", "country": "NL"}),
            422,
            "invalid_field",
        ),
        (
            "POST",
            format!("/agreements/{missing}/activation-email/resend"),
            bs.clone(),
            json!({"legal_name": "C", "country": "NL"}),
            404,
            "not_found",
        ),
        (
            "POST",
            format!("{agreement}/amendments"),
            specialist(),
            json!({"kind": "merge", "reason": "r"}),
            422,
            "unknown_amendment",
        ),
        (
            "POST",
            format!("{agreement}/amendments"),
            specialist(),
            json!({"kind": "separate_online_services", "reason": ""}),
            422,
            "invalid_field",
        ),
        (
            "POST",
            format!("/agreements/{missing}/amendments"),
            specialist(),
            json!({"kind": "separate_online_services", "reason": "r"}),
            404,
            "not_found",
        ),
        (
            "POST",
            format!("{agreement}/remap"),
            bs.clone(),
            json!({"target_account_id": t.account, "reason": ""}),
            422,
            "invalid_field",
        ),
    ];
    all.extend(line_cases(
        "POST",
        &format!("{account}/subscriptions"),
        &admin,
        &json!({"billing": "invoice"}),
    ));
    all.extend(line_cases(
        "POST",
        &format!("{agreement}/reservations"),
        &admin,
        &json!({}),
    ));
    all.extend(line_cases(
        "POST",
        "/orders",
        &partner,
        &json!({"agreement_id": agr}),
    ));
    for list in [
        format!("{account}/events"),
        format!("{account}/subscriptions"),
        format!("{account}/licenses/sources"),
        format!("{agreement}/orders"),
        format!("{agreement}/reservations"),
    ] {
        all.push((
            "GET",
            format!("{list}?limit=0"),
            bs.clone(),
            Value::Null,
            422,
            "invalid_limit",
        ));
    }
    all
}

#[tokio::test]
async fn every_listed_input_refusal_is_answered_by_its_route() {
    let t = Tenancy::new().await;
    t.h.clock.set(at("2026-11-28T10:00:00Z"));
    let agr = t.associated("EA", "2026-03-15").await;
    let sub =
        t.h.post(
            &format!("/accounts/{}/subscriptions", t.account),
            &t.admin,
            &faq_subscription(),
        )
        .await
        .id();
    let mut all = cases(&t, &agr);
    let cancellation = format!("/accounts/{}/subscriptions/{sub}/cancellation", t.account);
    all.push((
        "POST",
        cancellation,
        t.bs.clone(),
        json!({"reason": ""}),
        422,
        "invalid_field",
    ));
    let before = t.h.item_count().await;
    let mut failures = Vec::new();
    for (method, path, token, body, status, code) in &all {
        let body = (!body.is_null()).then(|| body.to_string());
        let r =
            t.h.call(method, path, Some(token), body.as_deref(), None)
                .await;
        if (r.status, r.body["code"].as_str()) != (*status, Some(*code)) {
            failures.push(format!(
                "{method} {path}: {} {} (want {status} {code})",
                r.status, r.raw
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(t.h.item_count().await, before, "no refusal wrote anything");
}

/// The refusals that need a state, not a body: a token of a role the API does not know on the
/// agreement's reads (every known role may read them), and a program's association through a
/// link replaced by an OSM change, or expired.
#[tokio::test]
async fn the_listed_refusals_that_need_a_state_are_answered_too() {
    let h = Harness::new().await;
    let m = invoiced_migration(&h).await;
    let stranger = token_with(claims("auditor", json!({})), SECRET);
    for path in [
        format!("/agreements/{}", m.agreement),
        format!("/agreements/{}/events", m.agreement),
        format!("/agreements/{}/orders", m.agreement),
    ] {
        assert_problem(&h.get(&path, &stranger).await, 403, "forbidden");
    }

    h.sweep().await;
    let first = link_token(h.mail().last().expect("a mail")).expect("a link");
    let osm = json!({"name": "Noah New", "email": "noah@contoso.com"});
    let r = h
        .put(
            &format!("/agreements/{}/osm", m.agreement),
            &m.partner,
            &osm,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let body = json!({ "account_id": m.account });
    let r = h.post(&format!("/activate/{first}"), &m.admin, &body).await;
    assert_problem(&r, 410, "link_osm_changed");

    let resend = json!({"legal_name": "Contoso Ltd", "country": "NL"});
    let path = format!("/agreements/{}/activation-email/resend", m.agreement);
    assert_eq!(h.post(&path, &m.bs, &resend).await.status, 202);
    h.sweep().await;
    let second = link_token(h.mail().last().expect("a mail")).expect("a link");
    assert_ne!(second, first);
    h.clock.advance(chrono::Duration::days(400));
    let r = h
        .post(&format!("/activate/{second}"), &m.admin, &body)
        .await;
    assert_problem(&r, 410, "link_expired");
}
