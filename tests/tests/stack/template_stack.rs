//! What the template stack saw while the black-box tests ran against it (`make test` runs
//! these last, with `VLS_TEMPLATE_STACK`): each AWS call a function made was one its role in
//! the translated template allows, every route the template declares was reached, and no
//! function was given anything its template environment does not hold beyond Lambda's own
//! variables and the stack's documented local settings.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use serde_json::json;
use vls_tests::fixtures::*;
use vls_tests::template_stack::{description, fire, recycle, report, ses_production_access};
use vls_tests::{Http, stack_token as tok};

fn stack() -> Value {
    description().expect("VLS_TEMPLATE_STACK (run through `make test`)")
}

/// The report, once the mail and event sweeps (schedules of once a minute, which the tests'
/// run may not reach) have run too, so that their calls are among those checked.
fn swept_report(stack: &Value) -> Value {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    fire(stack, "ActivationMailerFunctionSweep", &now);
    fire(stack, "WebhookDispatcherFunctionSweep", &now);
    fire(stack, "WebhookSenderFunctionSweep", &now);
    report(stack)
}

/// The stream's own actions (read by Lambda's poller, not by the function's code).
const STREAM_ACTIONS: &[&str] = &[
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
];

/// Each table action a role grants (inline statements; no managed policy grants any here).
fn granted_table_actions(role: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in role["Policies"].as_array().into_iter().flatten() {
        let statements = &p["PolicyDocument"]["Statement"];
        for s in statements.as_array().into_iter().flatten() {
            if s["Effect"] != "Allow" {
                continue;
            }
            let actions = match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                v => strings(v).into_iter().collect(),
            };
            out.extend(
                actions.into_iter().filter(|a| {
                    a.starts_with("dynamodb:") && !STREAM_ACTIONS.contains(&a.as_str())
                }),
            );
        }
    }
    out
}

/// Least privilege, measured: every table action a function's role grants is one the function
/// was seen to make while the black-box tests ran (granted ⊆ seen; the calls themselves are
/// all allowed, so seen ⊆ granted too).
#[test]
#[ignore = "needs the template stack: run through `make test`"]
fn every_table_action_granted_is_used() {
    let report = swept_report(&stack());
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in report["calls"].as_array().expect("calls") {
        let resource = c["resource"].as_str().unwrap_or_default();
        if c["allowed"] == true && resource.contains(":table/") && !resource.contains("/stream/") {
            seen.entry(c["function"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .insert(c["action"].as_str().unwrap_or_default().to_owned());
        }
    }
    let roles = report["granted"].as_object().expect("granted");
    assert_eq!(roles.len(), 12);
    for (function, role) in roles {
        let granted = granted_table_actions(role);
        let used = seen.get(function).cloned().unwrap_or_default();
        let unused: Vec<_> = granted.difference(&used).collect();
        assert!(
            unused.is_empty(),
            "{function} is granted {unused:?} and never uses them"
        );
        assert!(!granted.is_empty(), "{function} reads or writes the table");
    }
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
    let report = swept_report(&stack());
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
        "the local settings are docs/testing.md's table"
    );
    let functions: BTreeMap<String, Value> =
        serde_json::from_value(report["functions"].clone()).expect("functions");
    assert_eq!(functions.len(), 12, "every function of the template runs");
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

/// The stack's SES account in the sandbox for as long as this lives.
struct Sandbox(Value);

impl Sandbox {
    /// A mailer instance keeps what it learnt of the account for a while; a sandboxed
    /// account's mailers know it from their first mail, so they start afresh here.
    fn on(stack: &Value) -> Self {
        ses_production_access(stack, false, &["licensing@vls.example.com"]);
        recycle(stack, "ActivationMailerFunction");
        Self(stack.clone())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        ses_production_access(&self.0, true, &[]);
        recycle(&self.0, "ActivationMailerFunction");
    }
}

/// In the SES sandbox, SES refuses mail to a recipient it has not verified. The activation
/// mail then waits (sending not yet allowed: R5) and is not parked: the agreement shows no
/// failure, so the OSM gets a link once the account has production access.
#[test]
#[ignore = "needs the template stack: run through `make test`"]
fn in_the_ses_sandbox_activation_mail_waits_instead_of_being_parked() {
    let stack = stack();
    let _sandbox = Sandbox::on(&stack);
    let http = Http::new(stack["api"].as_str().expect("api"));
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let bs = tok("billing_support", json!({}));
    let partner = crate::blackbox::registered_partner(&http, &bs, &run);
    let agr = http
        .post(
            "/agreements",
            &partner,
            &agreement_body(&format!("s-{run}"), "2026-03-15"),
        )
        .id();
    let lines = json!([{"sku": "d365-sales-professional", "quantity": 10}]);
    let order = http
        .post("/orders", &partner, &order_body(&agr, lines, None))
        .id();
    // The stream hands the mail to the mailer within a second; SES refuses it.
    let refusals = || report(&stack)["ses_sandbox_refusals"].as_u64().unwrap_or(0);
    let mailers = || {
        report(&stack)["invocations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["name"] == "ActivationMailerFunction")
            .count()
    };
    let (before, mailers_before) = (refusals(), mailers());
    let r = http.post(&format!("/orders/{order}/invoice"), &partner, &json!({}));
    assert_eq!(r.body["activation_email"], "queued", "{}", r.raw);
    for _ in 0..100 {
        if refusals() > before {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(refusals() > before, "SES refused the mail in the sandbox");
    // The invocation that met the refusal has finished (and written what it decided).
    for _ in 0..100 {
        if mailers() > mailers_before {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let a = http.get(&format!("/agreements/{agr}"), &bs);
    assert_eq!(a.status, 200, "{}", a.raw);
    assert!(
        a.body["activation_email_failed"].is_null(),
        "the mail waits, it is not parked: {}",
        a.raw
    );
    let sender = stack["sender"].as_str().expect("sender");
    assert!(
        !vls_tests::sent_mail(sender)
            .iter()
            .any(|m| m["body"].as_str().is_some_and(|b| b.contains(&agr))),
        "nothing reached the OSM"
    );
}
