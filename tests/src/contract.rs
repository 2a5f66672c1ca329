//! What the contract says each operation may answer (`openapi.yaml`'s `x-codes`), held against
//! every refusal the in-process suite sees: a handler that answers a (status, code) its
//! operation does not list fails the test that made it do so (SPEC §4.1 10).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_yaml::Value;

/// Per operation (`METHOD /template`): the (status, code) pairs it lists.
type Codes = BTreeMap<String, BTreeSet<(u16, String)>>;

/// The contract, read once: `openapi.yaml` at the workspace's root (or the file
/// `VLS_OPENAPI` names: scripts/contract_mutants.sh hands the suite a broken copy).
pub fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = std::env::var("VLS_OPENAPI")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml").into());
        let text = std::fs::read_to_string(&path).expect("openapi.yaml");
        serde_yaml::from_str(&text).expect("openapi.yaml parses")
    })
}

/// A response, with `$ref: "#/components/responses/…"` followed.
pub fn resolved<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    match response.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            &doc["components"]["responses"][name]
        }
        None => response,
    }
}

/// Every operation's `x-codes`, per status.
pub fn listed_codes() -> &'static Codes {
    static CODES: OnceLock<Codes> = OnceLock::new();
    CODES.get_or_init(|| {
        let doc = openapi();
        let mut all = Codes::new();
        for (path, item) in doc["paths"].as_mapping().expect("paths") {
            for (method, operation) in item.as_mapping().expect("path item") {
                let Some(responses) = operation.get("responses").and_then(Value::as_mapping) else {
                    continue;
                };
                let key = format!(
                    "{} {}",
                    method.as_str().unwrap_or_default().to_uppercase(),
                    path.as_str().unwrap_or_default()
                );
                let codes = all.entry(key).or_default();
                for (status, response) in responses {
                    let status: u16 = status.as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
                    let listed = resolved(doc, response)["x-codes"].as_sequence();
                    for code in listed.into_iter().flatten().filter_map(Value::as_str) {
                        codes.insert((status, code.to_owned()));
                    }
                }
            }
        }
        all
    })
}

/// The operation a request's path falls under: the template whose segments match, literal
/// ones first (`/accounts/acc_1/licenses` → `/accounts/{account_id}/licenses`).
pub fn operation_of(method: &str, path: &str) -> Option<String> {
    let bare = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = bare.split('/').collect();
    listed_codes()
        .keys()
        .filter_map(|op| {
            let (m, template) = op.split_once(' ')?;
            let parts: Vec<&str> = template.split('/').collect();
            let fits = m == method
                && parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s);
            let literal = parts.iter().filter(|t| !t.starts_with('{')).count();
            fits.then(|| (literal, op.clone()))
        })
        .max()
        .map(|(_, op)| op)
}

/// Panics when `status`/`code`, answered to `method path`, is not among its operation's
/// `x-codes`. Paths the contract does not have (a 404 of the router) are not checked. With
/// `VLS_OBSERVED_CODES` set, each refusal seen is also appended to that file (what
/// `scripts/codes_seen.py` compares with the contract).
pub fn check_refusal(method: &str, path: &str, status: u16, code: &str) {
    let Some(op) = operation_of(method, path) else {
        return;
    };
    if let Ok(path) = std::env::var("VLS_OBSERVED_CODES") {
        use std::io::Write;
        let line = format!("{op}\t{status}\t{code}\n");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Ok(mut f) = file {
            let _ = f.write_all(line.as_bytes());
        }
    }
    let listed = &listed_codes()[&op];
    assert!(
        listed.contains(&(status, code.to_owned())),
        "{op} answered {status} {code}, which its x-codes in openapi.yaml do not list \
         ({method} {path})"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_under_their_templates() {
        assert_eq!(
            operation_of("GET", "/accounts/acc_1/licenses/sources?sku=x").as_deref(),
            Some("GET /accounts/{account_id}/licenses/sources")
        );
        assert_eq!(
            operation_of("POST", "/activate/abc").as_deref(),
            Some("POST /activate/{token}")
        );
        assert_eq!(operation_of("DELETE", "/accounts/acc_1"), None);
    }

    #[test]
    #[should_panic(expected = "do not list")]
    fn a_code_the_operation_does_not_list_fails() {
        check_refusal("GET", "/accounts/acc_1", 409, "concurrent_update");
    }

    #[test]
    fn a_listed_code_passes() {
        check_refusal("GET", "/accounts/acc_1", 404, "not_found");
        check_refusal("POST", "/orders", 422, "order_below_current_entitlement");
    }
}
