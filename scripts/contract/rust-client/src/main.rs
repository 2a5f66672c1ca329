//! The Rust client progenitor generates from the contract, against a running stack:
//! getAgreement on an agreement another client created, and listAgreementOrders page by page.
//!
//! Usage: vls-rust-client BASE_URL AGREEMENT_ID PARTNER_ID (the local stack's token secret
//! from LOCAL_JWT_SECRET).

progenitor::generate_api!(
    spec = "../../../target/contract/sdk-3.0.json",
    interface = Builder,
    tags = Separate,
);

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};

/// A token the local stack accepts (HS256, as scripts/mint_token.py makes them).
fn token(partner_id: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({"sub": "rust-sdk", "role": "partner", "iss": "vls-local",
        "aud": "vls", "iat": now, "exp": now + 600, "partner_id": partner_id});
    let payload = B64.encode(claims.to_string());
    let secret = std::env::var("LOCAL_JWT_SECRET").unwrap_or_else(|_| "local-dev-secret".into());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("a key");
    mac.update(format!("{header}.{payload}").as_bytes());
    let signature = B64.encode(mac.finalize().into_bytes());
    format!("{header}.{payload}.{signature}")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (base, agreement_id, partner_id) = (&args[1], &args[2], &args[3]);
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {}", token(partner_id));
    headers.insert("authorization", bearer.parse().expect("a header"));
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client");
    let client = Client::new_with_client(base, http);

    let agreement = client
        .get_agreement()
        .agreement_id(agreement_id.as_str())
        .send()
        .await
        .expect("getAgreement")
        .into_inner();
    assert_eq!(&agreement.id, agreement_id);

    let mut seen = 0;
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut ask = client
            .list_agreement_orders()
            .agreement_id(agreement_id.as_str())
            .limit(std::num::NonZeroU64::new(2).expect("two"));
        if let Some(c) = &cursor {
            ask = ask.cursor(c.as_str());
        }
        let page = ask.send().await.expect("listAgreementOrders").into_inner();
        seen += page.orders.len();
        pages += 1;
        match page.next_cursor.0 {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(seen >= 1, "the agreement's orders");
    println!(
        "rust SDK: agreement {} ({:?}), {seen} orders over {pages} pages",
        agreement.id, agreement.program
    );
}
