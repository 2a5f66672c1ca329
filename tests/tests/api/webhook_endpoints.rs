//! A partner's webhook endpoints (SPEC §6.5) in-process against the emulator: its own only,
//! at most ten, URLs a delivery may use, the secret shown once and kept only sealed, ETags and
//! `If-Match`, rotation, and the partner's trail of it all (never with a secret).

use serde_json::{Value, json};
use vls_tests::fixtures::*;
use vls_tests::*;

const RECEIVER: &str = "http://127.0.0.1:9531/hooks";

fn endpoint(url: &str) -> Value {
    json!({"url": url, "enabled_events": ["order.invoiced", "true_up.billed"],
           "description": "billing"})
}

async fn registered() -> Tenancy {
    Tenancy::new().await
}

/// Every string value anywhere in the table's items (secrets must be in none of them).
async fn stored_text(h: &Harness) -> String {
    format!("{:?}", scan_all(&h.client, &h.table).await)
}

#[tokio::test]
async fn the_secret_is_shown_once_and_kept_only_sealed() {
    let w = registered().await;
    let h = &w.h;
    let body = endpoint(RECEIVER).to_string();
    let key = Some("endpoint-1");
    let r = h
        .call(
            "POST",
            "/webhook-endpoints",
            Some(&w.partner),
            Some(&body),
            key,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let secret = r.body["secret"].as_str().expect("secret").to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    let id = r.id();
    assert_eq!(r.headers["location"], format!("/webhook-endpoints/{id}"));
    assert_eq!(
        (
            &r.body["status"],
            &r.body["disabled_reason"],
            &r.body["version"]
        ),
        (&json!("enabled"), &Value::Null, &json!(1))
    );
    let replay = h
        .call(
            "POST",
            "/webhook-endpoints",
            Some(&w.partner),
            Some(&body),
            key,
        )
        .await;
    assert!(replay.replayed);
    assert_eq!(replay.raw, r.raw, "the replay answers the same secret");
    let got = h.get(&format!("/webhook-endpoints/{id}"), &w.partner).await;
    assert_eq!(got.status, 200, "{}", got.raw);
    assert!(got.body.get("secret").is_none(), "{}", got.raw);
    assert!(got.headers.contains_key("etag"));
    let everything = stored_text(h).await;
    assert!(
        !everything.contains(&secret),
        "the secret is stored in the clear"
    );
    assert!(!everything.contains(&secret["whsec_".len()..]));

    let rotated = h
        .post(
            &format!("/webhook-endpoints/{id}/rotate-secret"),
            &w.partner,
            &json!({"overlap_seconds": 3600}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.raw);
    let new = rotated.body["secret"].as_str().expect("new secret");
    assert_ne!(new, secret);
    let until = h.clock.now() + chrono::Duration::hours(1);
    assert_eq!(
        rotated.body["rotation_expires_at"],
        json!(until.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    );
    assert!(!stored_text(h).await.contains(new));
}

#[tokio::test]
async fn at_most_ten_a_partner_and_only_its_own() {
    let w = registered().await;
    let h = &w.h;
    let mut ids = Vec::new();
    for _ in 0..10 {
        let r = h
            .post("/webhook-endpoints", &w.partner, &endpoint(RECEIVER))
            .await;
        assert_eq!(r.status, 201, "{}", r.raw);
        ids.push(r.id());
    }
    let r = h
        .post("/webhook-endpoints", &w.partner, &endpoint(RECEIVER))
        .await;
    assert_problem(&r, 409, "webhook_endpoint_limit");
    let listed = h
        .walk("/webhook-endpoints", &w.partner, "webhook_endpoints", 3)
        .await;
    let listed: Vec<&str> = listed.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(listed, ids, "in the order they were made");
    let gone = h
        .call(
            "DELETE",
            &format!("/webhook-endpoints/{}", ids[0]),
            Some(&w.partner),
            None,
            None,
        )
        .await;
    assert_eq!((gone.status, gone.raw.as_str()), (204, ""));
    let again = h
        .get(&format!("/webhook-endpoints/{}", ids[0]), &w.partner)
        .await;
    assert_problem(&again, 404, "not_found");
    let r = h
        .post("/webhook-endpoints", &w.partner, &endpoint(RECEIVER))
        .await;
    assert_eq!(r.status, 201, "a slot is free again: {}", r.raw);

    h.put("/partners/p2", &w.bs, &partner_body("Northwind"))
        .await;
    let other = partner("p2");
    let theirs = format!("/webhook-endpoints/{}", ids[1]);
    assert_problem(&h.get(&theirs, &other).await, 404, "not_found");
    let r = h.call("DELETE", &theirs, Some(&other), None, None).await;
    assert_problem(&r, 404, "not_found");
    let listed = h.get("/webhook-endpoints", &other).await;
    assert_eq!(listed.body["webhook_endpoints"], json!([]));
    for token in [&w.bs, &w.admin, &specialist()] {
        assert_eq!(h.get("/webhook-endpoints", token).await.status, 403);
        assert_eq!(h.get(&theirs, token).await.status, 403);
    }
    let unregistered = h
        .post("/webhook-endpoints", &partner("p9"), &endpoint(RECEIVER))
        .await;
    assert_problem(&unregistered, 403, "unknown_partner");
}

#[tokio::test]
async fn urls_a_delivery_may_not_use_are_refused() {
    let w = registered().await;
    let h = &w.h;
    for url in [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://10.0.0.1/x",
        "https://172.16.0.1/x",
        "https://192.168.1.1/x",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/x",
        "https://0.0.0.0/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://localhost/x",
        "http://127.0.0.1:4566/x",
        "http://127.0.0.1:9000/x",
    ] {
        let r = h
            .post("/webhook-endpoints", &w.partner, &endpoint(url))
            .await;
        assert_problem(&r, 422, "webhook_url_forbidden");
        assert_eq!(r.body["field"], "url", "{url}");
    }
    let userinfo = endpoint("https://user:pass@hooks.example.com/x");
    let r = h.post("/webhook-endpoints", &w.partner, &userinfo).await;
    assert_problem(&r, 422, "invalid_field");
    let mut unknown = endpoint(RECEIVER);
    unknown["enabled_events"] = json!(["order.invoiced", "order.placed"]);
    let r = h.post("/webhook-endpoints", &w.partner, &unknown).await;
    assert_problem(&r, 422, "invalid_field");
    assert_eq!(r.body["field"], "enabled_events[1]");
    let public = h
        .post(
            "/webhook-endpoints",
            &w.partner,
            &endpoint("https://93.184.215.14/hooks"),
        )
        .await;
    assert_eq!(public.status, 201, "a public address: {}", public.raw);
    let id = public.id();
    let path = format!("/webhook-endpoints/{id}");
    let r = h
        .put(&path, &w.partner, &endpoint("https://10.0.0.1/x"))
        .await;
    assert_problem(&r, 422, "webhook_url_forbidden");
    assert_eq!(
        stored_items(h, "webhook_endpoint").await,
        1,
        "nothing else written"
    );
}

async fn stored_items(h: &Harness, kind: &str) -> usize {
    scan_all(&h.client, &h.table)
        .await
        .iter()
        .filter(|i| {
            i.get("type")
                .and_then(|t| t.as_s().ok())
                .map(String::as_str)
                == Some(kind)
        })
        .count()
}

#[tokio::test]
async fn changes_honour_if_match_and_the_partner_s_trail_records_them_without_secrets() {
    let w = registered().await;
    let h = &w.h;
    let made = h
        .post("/webhook-endpoints", &w.partner, &endpoint(RECEIVER))
        .await;
    let path = format!("/webhook-endpoints/{}", made.id());
    let secret = made.body["secret"].as_str().expect("secret").to_owned();
    let tag = h.get(&path, &w.partner).await.headers["etag"].clone();
    let mut changed = endpoint("http://127.0.0.1:9532/other");
    changed["enabled_events"] = json!(["*"]);
    let r = h
        .with_header("PUT", &path, &w.partner, Some(&changed), ("if-match", &tag))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        (
            &r.body["url"],
            &r.body["enabled_events"],
            &r.body["version"]
        ),
        (
            &json!("http://127.0.0.1:9532/other"),
            &json!(["*"]),
            &json!(2)
        )
    );
    let stale = h
        .with_header(
            "POST",
            &format!("{path}/disable"),
            &w.partner,
            Some(&json!({})),
            ("if-match", &tag),
        )
        .await;
    assert_problem(&stale, 412, "precondition_failed");
    let off = h
        .post(&format!("{path}/disable"), &w.partner, &json!({}))
        .await;
    assert_eq!(
        (&off.body["status"], &off.body["disabled_reason"]),
        (&json!("disabled"), &json!("by_partner")),
        "{}",
        off.raw
    );
    let on = h
        .post(&format!("{path}/enable"), &w.partner, &json!({}))
        .await;
    assert_eq!(
        (&on.body["status"], &on.body["disabled_reason"]),
        (&json!("enabled"), &Value::Null)
    );
    let at_once = h
        .post(
            &format!("{path}/rotate-secret"),
            &w.partner,
            &json!({"overlap_seconds": 0}),
        )
        .await;
    assert_eq!(
        at_once.body["rotation_expires_at"],
        Value::Null,
        "{}",
        at_once.raw
    );
    let too_long = h
        .post(
            &format!("{path}/rotate-secret"),
            &w.partner,
            &json!({"overlap_seconds": 604_801}),
        )
        .await;
    assert_problem(&too_long, 422, "invalid_field");

    let trail = h.walk("/partners/p1/events", &w.partner, "events", 2).await;
    let actions: Vec<&str> = trail.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "partner.registered",
            "webhook_endpoint.created",
            "webhook_endpoint.updated",
            "webhook_endpoint.disabled",
            "webhook_endpoint.enabled",
            "webhook_endpoint.secret_rotated",
        ]
    );
    let text = serde_json::to_string(&trail).expect("json");
    assert!(
        !text.contains(&secret) && !text.contains("whsec_"),
        "{text}"
    );
    let by_billing = h.get("/partners/p1/events", &w.bs).await;
    assert_eq!(by_billing.body["events"].as_array().map(Vec::len), Some(6));
    h.put("/partners/p2", &w.bs, &partner_body("Northwind"))
        .await;
    assert_problem(
        &h.get("/partners/p1/events", &partner("p2")).await,
        404,
        "not_found",
    );
    assert_eq!(h.get("/partners/p1/events", &w.admin).await.status, 403);
}

/// The refusals the contract lists for the endpoints' and the partner trail's routes.
#[tokio::test]
async fn stale_tags_and_bad_list_parameters_are_refused() {
    let w = registered().await;
    let h = &w.h;
    let made = h
        .post("/webhook-endpoints", &w.partner, &endpoint(RECEIVER))
        .await;
    let path = format!("/webhook-endpoints/{}", made.id());
    let stale = ("if-match", "\"not-the-tag\"");
    let body = endpoint(RECEIVER);
    for (method, at, body) in [
        ("PUT", path.clone(), Some(&body)),
        ("DELETE", path.clone(), None),
        ("POST", format!("{path}/disable"), None),
        ("POST", format!("{path}/enable"), None),
        ("POST", format!("{path}/rotate-secret"), None),
    ] {
        let r = h.with_header(method, &at, &w.partner, body, stale).await;
        assert_problem(&r, 412, "precondition_failed");
    }
    let mut unknown = endpoint(RECEIVER);
    unknown["enabled_events"] = json!(["webhook.test"]);
    assert_problem(
        &h.put(&path, &w.partner, &unknown).await,
        422,
        "invalid_field",
    );
    for list in ["/webhook-endpoints", "/partners/p1/events"] {
        for (query, code) in [
            ("limit=0", "invalid_limit"),
            ("order=newest", "invalid_order"),
            ("cursor=bm9wZQ.bm9wZQ", "invalid_cursor"),
        ] {
            let r = h.get(&format!("{list}?{query}"), &w.partner).await;
            assert_problem(&r, 422, code);
        }
    }
    assert_problem(&h.get("/partners/p9/events", &w.bs).await, 404, "not_found");
}
