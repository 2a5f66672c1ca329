//! Failure drills against the emulator. Bodies no client should send (a megabyte, JSON nested
//! ten thousand deep, bytes that are not UTF-8) get a 4xx problem, write nothing, and the
//! function keeps serving; throttled DynamoDB writes fail cleanly. SES refusing mail is drilled
//! in activation.rs.

use serde_json::json;
use vls_tests::fixtures::*;
use vls_tests::*;

#[tokio::test]
async fn hostile_bodies_get_4xx_and_write_nothing() {
    let h = Harness::new().await;
    let bs = billing_support();
    h.put("/partners/p1", &bs, &partner_body("Fabrikam")).await;
    let before = h.item_count().await;
    let p = partner("p1");

    let mut big = br#"{"program":"EA","pad":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 1024 * 1024));
    big.extend(br#""}"#);
    let r = h.call_bytes("POST", "/agreements", &p, big).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = h
        .call_bytes("POST", "/orders", &p, nested.into_bytes())
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("malformed_json"))
    );

    let r = h
        .call_bytes("POST", "/accounts", &bs, vec![0xff, 0xfe, b'{', b'}'])
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("malformed_json"))
    );
    let r = h
        .call_bytes(
            "POST",
            "/activate/0000",
            &admin("acc_01JD0000000000000000000000"),
            vec![0xc3, 0x28],
        )
        .await;
    assert!(r.status >= 400 && r.status < 500, "{}", r.raw);

    assert_eq!(h.item_count().await, before, "nothing written");
    let ok = h
        .post(
            "/accounts",
            &bs,
            &json!({"name": "Still serving", "domain": "contoso.com"}),
        )
        .await;
    assert_eq!(ok.status, 201);
}

/// DynamoDB throttling every write: the request fails cleanly with 503, nothing partial is
/// written, and the same request succeeds once DynamoDB recovers.
#[tokio::test]
async fn throttled_writes_fail_cleanly_with_503_and_leave_nothing_behind() {
    let h = Harness::new().await;
    let bs = billing_support();
    h.put("/partners/p1", &bs, &partner_body("Fabrikam")).await;
    let p = partner("p1");
    let agr = h
        .post("/agreements", &p, &agreement_body("1", "2026-03-15"))
        .await
        .id();
    let before = h.item_count().await;

    h.faults.fail_writes(true);
    let body = order_body(&agr, covering_lines(), None).to_string();
    let r = h
        .call("POST", "/orders", Some(&p), Some(&body), Some("retry-me"))
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (503, Some("unavailable")),
        "{}",
        r.raw
    );
    assert_eq!(h.item_count().await, before, "nothing partial");

    h.faults.fail_writes(false);
    let r = h
        .call("POST", "/orders", Some(&p), Some(&body), Some("retry-me"))
        .await;
    assert_eq!(
        r.status, 201,
        "the same key may be retried after a failure: {}",
        r.raw
    );
    let orders = h.get(&format!("/agreements/{agr}/orders"), &p).await;
    assert_eq!(orders.body["orders"].as_array().map(Vec::len), Some(1));
}
