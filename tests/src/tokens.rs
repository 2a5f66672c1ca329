//! Bearer tokens: the local stack's, and (on the template stack) its issuer's.

use super::*;

/// A token the local verifier accepts.
pub fn token_with(claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode token")
}

pub fn claims(role: &str, extra: Value) -> Value {
    let mut c = json!({
        "sub": format!("{role}-user"),
        "role": role,
        "iss": "vls-local",
        "aud": "vls",
        "exp": chrono::Utc::now().timestamp() + 3600,
    });
    if let (Value::Object(c), Value::Object(e)) = (&mut c, extra) {
        c.extend(e);
    }
    c
}

pub fn billing_support() -> String {
    token_with(claims("billing_support", json!({})), SECRET)
}

pub fn specialist() -> String {
    token_with(claims("licensing_specialist", json!({})), SECRET)
}

pub fn partner(id: &str) -> String {
    token_with(
        claims(
            "partner",
            json!({ "partner_id": id, "sub": format!("{id}-user") }),
        ),
        SECRET,
    )
}

pub fn admin(account_id: &str) -> String {
    token_with(
        claims(
            "customer_admin",
            json!({ "account_id": account_id, "sub": format!("{account_id}-admin") }),
        ),
        SECRET,
    )
}

/// The secret the local stack verifies tokens with (`LOCAL_JWT_SECRET`, as `make` sets it).
pub fn stack_secret() -> String {
    std::env::var("LOCAL_JWT_SECRET").unwrap_or_else(|_| "local-dev-secret".into())
}

/// A token the running stack accepts: `role` plus `extra` claims — the local stack's own, or,
/// on the template stack, one of its issuer under its claim names.
pub fn stack_token(role: &str, extra: Value) -> String {
    match template_stack::description() {
        Some(stack) => {
            let mut c = json!({"sub": format!("{role}-user"), "role": role});
            if let (Value::Object(c), Value::Object(e)) = (&mut c, extra) {
                c.extend(e);
            }
            template_stack::token(&stack, &c)
        }
        None => token_with(claims(role, extra), &stack_secret()),
    }
}
