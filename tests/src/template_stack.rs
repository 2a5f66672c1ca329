//! The template stack (`scripts/stack/run.py`): the functions wired from the translated
//! template behind a gateway that behaves as API Gateway's. `make test` starts it and names
//! its description file in `VLS_TEMPLATE_STACK`; the black-box tests then take their tokens
//! from its issuer, under the claim names its template parameters chose.

use serde_json::{Value, json};

/// The running template stack's description, when the tests run against one.
pub fn description() -> Option<Value> {
    let path = std::env::var("VLS_TEMPLATE_STACK").ok()?;
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Some(serde_json::from_str(&text).expect("the stack's description is JSON"))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Plain claims (`role`, `account_id`, `partner_id`) under the names this stack reads.
pub fn named(stack: &Value, claims: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in claims.as_object().into_iter().flatten() {
        let name = stack["claims"][k.as_str()].as_str().unwrap_or(k);
        out.insert(name.to_owned(), v.clone());
    }
    Value::Object(out)
}

/// An ID token of the stack's issuer for the API's client (Cognito-shaped: `aud` the client,
/// `token_use` id), carrying `claims` under the stack's names.
pub fn token(stack: &Value, claims: &Value) -> String {
    let mut claims = named(stack, claims);
    claims["email_verified"] = json!(true);
    let body = json!({"claims": claims, "token_use": "id", "audience": stack["audience"]});
    let issuer = stack["issuer"].as_str().expect("issuer");
    let mut r = agent()
        .post(&format!("{issuer}/mint"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("the stack's issuer at {issuer}: {e}"));
    let doc: Value = json_of(r.body_mut().read_to_string());
    doc["token"].as_str().expect("token").to_owned()
}

/// Fires one of the template's schedules as Scheduler would at `time`: the function's answer.
pub fn fire(stack: &Value, schedule: &str, time: &str) -> Value {
    let control = stack["control"].as_str().expect("control");
    let mut r = agent()
        .post(&format!("{control}/schedules/{schedule}?time={time}"))
        .send_empty()
        .unwrap_or_else(|e| panic!("the stack's control endpoint: {e}"));
    let doc: Value = json_of(r.body_mut().read_to_string());
    assert_eq!(doc["status"], "ok", "{schedule} at {time}: {doc}");
    serde_json::from_str(doc["body"].as_str().unwrap_or("null")).expect("the function's JSON")
}

/// What the stack saw: routes, requests, every AWS call with its verdict, the roles.
pub fn report(stack: &Value) -> Value {
    let control = stack["control"].as_str().expect("control");
    let mut r = agent()
        .get(&format!("{control}/report"))
        .call()
        .unwrap_or_else(|e| panic!("the stack's control endpoint: {e}"));
    json_of(
        r.body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string(),
    )
}

fn json_of(text: Result<String, ureq::Error>) -> Value {
    let text = text.expect("an answer");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Puts the stack's SES account in the sandbox (`false`: only `verified` recipients) or gives
/// it production access.
pub fn ses_production_access(stack: &Value, production: bool, verified: &[&str]) {
    let control = stack["control"].as_str().expect("control");
    let body = json!({"production_access": production, "verified": verified});
    let r = agent()
        .put(&format!("{control}/ses/account"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("the stack's control endpoint: {e}"));
    assert_eq!(r.status().as_u16(), 200);
}

/// Starts every later invocation of a function in a fresh instance, as a configuration
/// update does in Lambda.
pub fn recycle(stack: &Value, function: &str) {
    let control = stack["control"].as_str().expect("control");
    let r = agent()
        .post(&format!("{control}/functions/{function}/recycle"))
        .send_empty()
        .unwrap_or_else(|e| panic!("the stack's control endpoint: {e}"));
    assert_eq!(r.status().as_u16(), 200);
}
