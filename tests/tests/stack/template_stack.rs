//! What the template stack saw while the black-box tests ran against it (`make test` runs
//! these last, with `VLS_TEMPLATE_STACK`): each AWS call a function made was one its role in
//! the translated template allows, every route the template declares was reached, and no
//! function was given anything its template environment does not hold beyond Lambda's own
//! variables and the stack's documented local settings.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use vls_tests::template_stack::{description, report};

fn stack() -> Value {
    description().expect("VLS_TEMPLATE_STACK (run through `make test`)")
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[test]
#[ignore = "needs the template stack: run through `make test`"]
fn every_aws_call_was_allowed_by_its_functions_role() {
    let report = report(&stack());
    let calls = report["calls"].as_array().expect("calls");
    assert!(
        calls.len() > 50,
        "the walkthrough made AWS calls: {}",
        calls.len()
    );
    let refused: Vec<String> = calls
        .iter()
        .filter(|c| c["allowed"] != true)
        .map(|c| {
            format!(
                "{} {} on {}: {}",
                c["function"], c["action"], c["resource"], c["reason"]
            )
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        refused.is_empty(),
        "calls the roles do not allow:\n{}",
        refused.join("\n")
    );
}

#[test]
#[ignore = "needs the template stack: run through `make test`"]
fn every_route_of_the_template_was_reached() {
    let report = report(&stack());
    let reached: BTreeSet<String> = report["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["route_key"].as_str().map(str::to_owned))
        .collect();
    let declared: BTreeSet<String> = report["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap_or("?"),
                r["path"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert!(declared.len() >= 28, "the template's routes: {declared:?}");
    let missed: Vec<_> = declared.difference(&reached).collect();
    assert!(missed.is_empty(), "routes no test reached: {missed:?}");
}

/// Lambda's own variables (including the role's credentials) and the stack's local settings.
const ADDED: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

#[test]
#[ignore = "needs the template stack: run through `make test`"]
fn functions_get_their_template_environment_and_nothing_else() {
    let stack = stack();
    let report = report(&stack);
    let local: BTreeSet<String> = strings(&stack["local_settings"]);
    assert_eq!(
        local,
        BTreeSet::from(["AWS_ENDPOINT_URL".to_owned()]),
        "the local settings are the README's table"
    );
    let functions: BTreeMap<String, Value> =
        serde_json::from_value(report["functions"].clone()).expect("functions");
    assert_eq!(functions.len(), 8, "every function of the template runs");
    for (name, f) in functions {
        let given = strings(&f["environment"]);
        let template = strings(&f["template_environment"]);
        let extra: Vec<_> = given
            .difference(&template)
            .filter(|k| !ADDED.contains(&k.as_str()) && !local.contains(*k))
            .collect();
        assert!(
            extra.is_empty(),
            "{name} was given {extra:?} beyond its template"
        );
        assert!(
            !given.contains("VLS_AUTH_MODE"),
            "{name}: no local auth on this stack"
        );
    }
}
