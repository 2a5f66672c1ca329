//! Every route × every caller: the owner and everyone else, by role, plus no token, an
//! expired one and a forged one. A caller whose role may never do it gets 403; a caller of
//! the right role who does not own the resource gets 404; a bad token gets 401; everyone
//! allowed gets past authorisation (2xx, or a business refusal such as 409/422).

use serde_json::{Value, json};
use vls_tests::fixtures::*;
use vls_tests::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    PartnerOwner,
    PartnerOther,
    AdminOwner,
    AdminOther,
    BillingSupport,
    Specialist,
}

use Who::*;

const EVERYONE: [Who; 6] = [
    PartnerOwner,
    PartnerOther,
    AdminOwner,
    AdminOther,
    BillingSupport,
    Specialist,
];

/// What a caller outside `allowed` must get.
fn denied(who: Who, allowed: &[Who]) -> u16 {
    match who {
        PartnerOther if allowed.contains(&PartnerOwner) => 404,
        AdminOther if allowed.contains(&AdminOwner) => 404,
        _ => 403,
    }
}

struct Row {
    method: &'static str,
    path: String,
    body: Option<Value>,
    allowed: Vec<Who>,
}

fn row(method: &'static str, path: String, body: Option<Value>, allowed: &[Who]) -> Row {
    Row {
        method,
        path,
        body,
        allowed: allowed.to_vec(),
    }
}

#[tokio::test]
async fn every_route_for_every_caller() {
    let h = Harness::new().await;
    let bs = billing_support();
    h.put("/partners/p1", &bs, &partner_body("Owner LSP")).await;
    h.put("/partners/p2", &bs, &partner_body("Other LSP")).await;
    let acc = h
        .post("/accounts", &bs, &mos_account_body("Contoso"))
        .await
        .id();
    let other_acc = h
        .post("/accounts", &bs, &account_body("Fabrikam"))
        .await
        .id();
    let tokens = |who: Who| match who {
        PartnerOwner => partner("p1"),
        PartnerOther => partner("p2"),
        AdminOwner => admin(&acc),
        AdminOther => admin(&other_acc),
        BillingSupport => billing_support(),
        Specialist => specialist(),
    };
    let sub = h
        .post(
            &format!("/accounts/{acc}/subscriptions"),
            &admin(&acc),
            &faq_subscription(),
        )
        .await
        .id();
    let mut bound = agreement_body("1", "2026-03-15");
    bound["online_services_account_id"] = json!(acc);
    let agr = h.post("/agreements", &partner("p1"), &bound).await.id();
    let order = h
        .post(
            "/orders",
            &partner("p1"),
            &order_body(&agr, covering_lines(), None),
        )
        .await
        .id();
    h.post(
        &format!("/orders/{order}/invoice"),
        &partner("p1"),
        &json!({}),
    )
    .await;
    let res = h
        .post(
            &format!("/agreements/{agr}/reservations"),
            &admin(&acc),
            &json!({"lines": [{"sku": "d365-team-members", "quantity": 1}]}),
        )
        .await
        .id();
    // An unassociated agreement with a mailed link, for the activation routes.
    let loose = h
        .post(
            "/agreements",
            &partner("p1"),
            &agreement_body("2", "2026-03-15"),
        )
        .await
        .id();
    let loose_order = h
        .post(
            "/orders",
            &partner("p1"),
            &order_body(&loose, covering_lines(), None),
        )
        .await
        .id();
    h.post(
        &format!("/orders/{loose_order}/invoice"),
        &partner("p1"),
        &json!({}),
    )
    .await;
    h.sweep().await;
    let link = link_token(h.mail().last().expect("mail")).expect("link");

    let lines = json!([{"sku": "d365-sales-professional", "quantity": 1}]);
    let rows = vec![
        row(
            "PUT",
            "/partners/p3".into(),
            Some(partner_body("New")),
            &[BillingSupport],
        ),
        row(
            "POST",
            "/accounts".into(),
            Some(account_body("New")),
            &[BillingSupport],
        ),
        row(
            "POST",
            format!("/accounts/{acc}/subscriptions"),
            Some(faq_subscription()),
            &[AdminOwner, BillingSupport],
        ),
        row(
            "GET",
            format!("/accounts/{acc}/licenses"),
            None,
            &[AdminOwner, BillingSupport],
        ),
        row(
            "GET",
            format!("/accounts/{acc}/events"),
            None,
            &[AdminOwner, BillingSupport],
        ),
        row(
            "POST",
            "/agreements".into(),
            Some(agreement_body("3", "2026-03-15")),
            &[PartnerOwner, PartnerOther],
        ),
        row(
            "GET",
            format!("/agreements/{agr}"),
            None,
            &[PartnerOwner, AdminOwner, BillingSupport, Specialist],
        ),
        row(
            "PUT",
            format!("/agreements/{agr}/osm"),
            Some(json!({"name": "N", "email": "n@contoso.com"})),
            &[PartnerOwner],
        ),
        row(
            "GET",
            format!("/agreements/{agr}/orders"),
            None,
            &[PartnerOwner, AdminOwner, BillingSupport, Specialist],
        ),
        row(
            "POST",
            "/orders".into(),
            Some(order_body(&agr, lines.clone(), None)),
            &[PartnerOwner],
        ),
        row(
            "POST",
            format!("/orders/{order}/invoice"),
            Some(json!({})),
            &[PartnerOwner],
        ),
        row(
            "GET",
            format!("/orders/{order}"),
            None,
            &[PartnerOwner, AdminOwner, BillingSupport],
        ),
        row(
            "GET",
            format!("/agreements/{agr}/invoice-support"),
            None,
            &[PartnerOwner, AdminOwner, BillingSupport],
        ),
        row(
            "GET",
            format!("/agreements/{agr}/events"),
            None,
            &[PartnerOwner, AdminOwner, BillingSupport, Specialist],
        ),
        row(
            "POST",
            format!("/agreements/{loose}/activation-email/resend"),
            Some(json!({"legal_name": "Contoso Ltd", "country": "NL"})),
            &[BillingSupport],
        ),
        row(
            "POST",
            format!("/agreements/{agr}/reservations"),
            Some(json!({ "lines": lines })),
            &[AdminOwner],
        ),
        row(
            "GET",
            format!("/agreements/{agr}/reservations"),
            None,
            &[PartnerOwner, AdminOwner, BillingSupport],
        ),
        row(
            "POST",
            format!("/reservations/{res}/cancel"),
            Some(json!({})),
            &[AdminOwner],
        ),
        row(
            "GET",
            format!("/agreements/{agr}/true-up-preview"),
            None,
            &[PartnerOwner, AdminOwner, BillingSupport],
        ),
        row(
            "POST",
            format!("/agreements/{agr}/remap"),
            Some(json!({"target_account_id": other_acc, "reason": "r"})),
            &[BillingSupport],
        ),
        row(
            "POST",
            format!("/agreements/{agr}/amendments"),
            Some(json!({"kind": "separate_online_services", "reason": "r"})),
            &[Specialist],
        ),
        row(
            "GET",
            format!("/accounts/{acc}/subscriptions/{sub}/cancellation-preview"),
            None,
            &[AdminOwner, BillingSupport],
        ),
        row(
            "POST",
            format!("/accounts/{acc}/subscriptions/{sub}/cancellation"),
            Some(json!({"reason": "r"})),
            &[AdminOwner, BillingSupport],
        ),
        // The activation POST: the admin of the account named in the body (its own).
        row(
            "POST",
            format!("/activate/{link}"),
            Some(json!({ "account_id": acc })),
            &[AdminOwner],
        ),
    ];

    let mut expired = claims("billing_support", json!({}));
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 1);
    let expired = token_with(expired, SECRET);
    let forged = token_with(claims("billing_support", json!({})), "not-the-secret");
    let mut failures = Vec::new();
    for r in &rows {
        let body = r.body.as_ref().map(Value::to_string);
        for (label, token) in [
            ("no token", None),
            ("expired", Some(expired.as_str())),
            ("forged", Some(forged.as_str())),
        ] {
            let got = h
                .call(r.method, &r.path, token, body.as_deref(), None)
                .await
                .status;
            if got != 401 {
                failures.push(format!(
                    "{} {} with {label}: {got}, want 401",
                    r.method, r.path
                ));
            }
            // 401 before the body is looked at: a malformed one changes nothing.
            if r.body.is_some() {
                let got = h
                    .call(r.method, &r.path, token, Some("{not json"), None)
                    .await
                    .status;
                if got != 401 {
                    failures.push(format!(
                        "{} {} with {label} and a malformed body: {got}, want 401",
                        r.method, r.path
                    ));
                }
            }
        }
        // Refused callers first, so that the allowed ones' changes do not hide a refusal.
        for who in EVERYONE.iter().filter(|w| !r.allowed.contains(w)) {
            let want = denied(*who, &r.allowed);
            let got = h
                .call(
                    r.method,
                    &r.path,
                    Some(&tokens(*who)),
                    body.as_deref(),
                    None,
                )
                .await;
            if got.status != want {
                failures.push(format!(
                    "{} {} as {who:?}: {} {}, want {want}",
                    r.method, r.path, got.status, got.raw
                ));
            }
        }
        for who in &r.allowed {
            let got = h
                .call(
                    r.method,
                    &r.path,
                    Some(&tokens(*who)),
                    body.as_deref(),
                    None,
                )
                .await;
            if matches!(got.status, 401 | 403 | 404) || got.status >= 500 {
                failures.push(format!(
                    "{} {} as {who:?}: {} {}, want it allowed",
                    r.method, r.path, got.status, got.raw
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        rows.len(),
        24,
        "every authenticated operation of the contract (the page GET needs no token)"
    );
    // The page itself needs only the link.
    assert_ne!(
        h.call("GET", &format!("/activate/{link}"), None, None, None)
            .await
            .status,
        401
    );
}
