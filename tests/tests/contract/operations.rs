//! What an on-call engineer is told of, checked in the template as CloudFormation: every
//! function's errors and throttles alarm, the alarms the operation needs, every alarm telling
//! the topic, and a dashboard and alarms that name only the business metrics the code emits
//! (`vls_domain::metrics::Metric`, the one list of them).

use serde_json::{Value, json};
use std::collections::BTreeSet;
use vls_domain::metrics::{FUNCTION, Metric};

use crate::contract::{of_type, read, translated};

/// The custom namespace as the template writes it: one a stack.
const NAMESPACE: &str = "VolumeLicensing/${AWS::StackName}";

/// One metric an alarm or the dashboard names: namespace, name, dimensions (sorted).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Named {
    /// As JSON text (a string, or the template's `Fn::Sub`), and so the dimensions' values.
    namespace: String,
    name: String,
    dimensions: BTreeSet<(String, String)>,
}

/// The metrics one alarm watches (its own, or those of its metric math).
fn watched(alarm: &Value) -> Vec<Named> {
    let p = &alarm["Properties"];
    let named = |m: &Value| Named {
        namespace: m["Namespace"].to_string(),
        name: m["MetricName"].as_str().unwrap_or_default().to_owned(),
        dimensions: m["Dimensions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                (
                    d["Name"].as_str().unwrap_or_default().to_owned(),
                    d["Value"].to_string(),
                )
            })
            .collect(),
    };
    if p["MetricName"].is_string() {
        return vec![named(p)];
    }
    p["Metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|q| q["MetricStat"].is_object())
        .map(|q| named(&q["MetricStat"]["Metric"]))
        .collect()
}

fn alarms(r: &Value) -> Vec<(&str, &Value)> {
    of_type(r, "AWS::CloudWatch::Alarm").collect()
}

/// Whether some alarm watches `metric` (with exactly these dimensions).
fn alarmed(r: &Value, namespace: Value, name: &str, dimensions: &[(&str, Value)]) -> bool {
    let want = Named {
        namespace: namespace.to_string(),
        name: name.to_owned(),
        dimensions: dimensions
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_string()))
            .collect(),
    };
    alarms(r).iter().any(|(_, a)| watched(a).contains(&want))
}

fn custom() -> Value {
    json!({ "Fn::Sub": NAMESPACE })
}

/// Every function has an errors and a throttles alarm, and every alarm tells the topic when
/// it fires and when it is over and names its entry in docs/runbook.md, which has it;
/// the topic mails the address given, if one is.
#[test]
fn every_function_has_errors_and_throttles_alarms_that_tell_the_topic() {
    let cfn = translated();
    let r = &cfn["Resources"];
    let functions: Vec<_> = of_type(r, "AWS::Lambda::Function").collect();
    assert_eq!(functions.len(), 12, "every function");
    for (name, _) in &functions {
        for metric in ["Errors", "Throttles"] {
            let function = [("FunctionName", json!({ "Ref": name }))];
            assert!(
                alarmed(r, json!("AWS/Lambda"), metric, &function),
                "{name}: no {metric} alarm"
            );
        }
    }
    assert_eq!(r["AlarmTopic"]["Type"], "AWS::SNS::Topic");
    let runbook = read("docs/runbook.md").to_lowercase();
    for (name, a) in alarms(r) {
        for actions in ["AlarmActions", "OKActions"] {
            assert_eq!(
                a["Properties"][actions],
                json!([{ "Ref": "AlarmTopic" }]),
                "{name}: {actions}"
            );
        }
        // Its description names its runbook entry, and the runbook has that entry.
        let entry = a["Properties"]["AlarmDescription"]
            .as_str()
            .and_then(|d| d.split("(docs/runbook.md: ").nth(1))
            .and_then(|rest| rest.split(')').next())
            .unwrap_or_else(|| panic!("{name}: its description points at the runbook"));
        assert!(
            runbook.contains(&format!("**{}** (", entry.to_lowercase())),
            "{name}: no runbook entry \"{entry}\""
        );
    }
    let mail = &r["AlarmMail"];
    assert_eq!(
        mail["Properties"]["Endpoint"],
        json!({ "Ref": "AlarmEmail" })
    );
    assert_eq!(mail["Condition"], "HasAlarmEmail");
}

/// The alarms the operation needs beyond the functions': the mail stream behind, parked mail,
/// blocked mail (the SES account refuses everything: paused, the sender not verified, the
/// sandbox), true-up failures or skips, a day without a true-up run, the API's 5xx rate,
/// throttles on the table and on every global index, and SES bounces and complaints through
/// the configuration set the mailer sends with.
#[test]
fn the_alarms_cover_the_mail_the_true_up_the_api_the_table_and_ses() {
    let cfn = translated();
    let r = &cfn["Resources"];
    let lambda = json!("AWS/Lambda");
    let mailer = [("FunctionName", json!({ "Ref": "ActivationMailerFunction" }))];
    assert!(alarmed(r, lambda, "IteratorAge", &mailer));
    let of = |m: Metric| {
        let (key, value) = m.dimension();
        let by = m.emitted_by()[0];
        alarmed(
            r,
            custom(),
            m.name(),
            &[(FUNCTION, json!(by)), (key, json!(value))],
        )
    };
    for m in [
        Metric::MailParked,
        Metric::MailBlocked,
        Metric::MailSetAside,
        Metric::TrueUpFailed,
        Metric::TrueUpSkipped,
        Metric::TrueUpRun,
    ] {
        assert!(of(m), "{m:?}");
    }
    // Not having run is the alarm: no data counts against it.
    let (_, not_run) = alarms(r)
        .into_iter()
        .find(|(_, a)| a["Properties"]["MetricName"] == Metric::TrueUpRun.name())
        .expect("the true-up run alarm");
    assert_eq!(not_run["Properties"]["TreatMissingData"], "breaching");
    assert_eq!(
        not_run["Properties"]["ComparisonOperator"],
        "LessThanThreshold"
    );
    let api = [("ApiId", json!({ "Ref": "Api" }))];
    for metric in ["5xx", "Count"] {
        assert!(
            alarmed(r, json!("AWS/ApiGateway"), metric, &api),
            "{metric}"
        );
    }
    let table = ("TableName", json!({ "Ref": "Table" }));
    let indexes = r["Table"]["Properties"]["GlobalSecondaryIndexes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!indexes.is_empty());
    for metric in ["ReadThrottleEvents", "WriteThrottleEvents"] {
        assert!(alarmed(
            r,
            json!("AWS/DynamoDB"),
            metric,
            std::slice::from_ref(&table)
        ));
        for index in &indexes {
            let dims = [
                table.clone(),
                ("GlobalSecondaryIndexName", index["IndexName"].clone()),
            ];
            assert!(alarmed(r, json!("AWS/DynamoDB"), metric, &dims), "{index}");
        }
    }
    let set = [(
        "ses:configuration-set",
        json!({ "Ref": "MailConfigurationSet" }),
    )];
    for metric in ["Bounce", "Complaint", "Send"] {
        assert!(alarmed(r, json!("AWS/SES"), metric, &set), "{metric}");
    }
    let destination = &r["MailEvents"]["Properties"];
    assert_eq!(
        destination["ConfigurationSetName"],
        json!({ "Ref": "MailConfigurationSet" })
    );
    let events = &destination["EventDestination"]["MatchingEventTypes"];
    for event in ["send", "bounce", "complaint"] {
        assert!(
            events.as_array().into_iter().flatten().any(|e| e == event),
            "{event}"
        );
    }
    let env = &r["ActivationMailerFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        env["SES_CONFIGURATION_SET"],
        json!({ "Ref": "MailConfigurationSet" })
    );
}

/// The metrics the dashboard draws (`[namespace, name, dimension, value, …, options?]`).
fn drawn(body: &Value) -> Vec<Named> {
    let widgets = body["widgets"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for w in widgets {
        for m in w["properties"]["metrics"].as_array().into_iter().flatten() {
            let parts: Vec<&Value> = m
                .as_array()
                .expect("a metric is an array")
                .iter()
                .filter(|v| !v.is_object())
                .collect();
            assert!(parts.len() >= 2 && parts.len().is_multiple_of(2), "{m}");
            assert!(parts.iter().all(|p| p.is_string()), "no shorthand: {m}");
            out.push(Named {
                namespace: parts[0].to_string(),
                name: parts[1].as_str().unwrap_or_default().to_owned(),
                dimensions: parts[2..]
                    .chunks(2)
                    .map(|kv| {
                        (
                            kv[0].as_str().unwrap_or_default().to_owned(),
                            kv[1].to_string(),
                        )
                    })
                    .collect(),
            });
        }
    }
    out
}

/// Every business metric as the code can emit it: namespace, name, `Function` and its own
/// dimension, for each function that emits it.
fn emitted(namespace: &Value) -> BTreeSet<Named> {
    Metric::all()
        .into_iter()
        .flat_map(|m| {
            m.emitted_by().iter().map(move |f| {
                let (key, value) = m.dimension();
                Named {
                    namespace: namespace.to_string(),
                    name: m.name().to_owned(),
                    dimensions: [
                        (FUNCTION.to_owned(), json!(f).to_string()),
                        (key.to_owned(), json!(value).to_string()),
                    ]
                    .into(),
                }
            })
        })
        .collect()
}

/// The dashboard and the alarms name only metrics the code emits, in the namespace the
/// functions are given; the dashboard draws every one of them, and its alarm widget names
/// alarms of the stack. The functions that emit them are the template's binaries.
#[test]
fn the_dashboard_and_the_alarms_name_only_metrics_the_code_emits() {
    let cfn = translated();
    let r = &cfn["Resources"];
    for (name, f) in of_type(r, "AWS::Lambda::Function") {
        assert_eq!(
            f["Properties"]["Environment"]["Variables"]["METRICS_NAMESPACE"],
            custom(),
            "{name}"
        );
    }
    let binaries: BTreeSet<String> = read("template.yaml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Binary: ").map(str::to_owned))
        .collect();
    for m in Metric::all() {
        for f in m.emitted_by() {
            assert!(
                binaries.contains(*f),
                "{m:?}: {f} is no function of the template"
            );
        }
    }

    let namespace = custom().to_string();
    let alarmed: Vec<Named> = alarms(r)
        .iter()
        .flat_map(|(_, a)| watched(a))
        .filter(|n| n.namespace == namespace)
        .collect();
    assert!(!alarmed.is_empty());
    let code = emitted(&custom());
    for n in &alarmed {
        assert!(
            code.contains(n),
            "an alarm watches a metric the code does not emit: {n:?}"
        );
    }

    let body = r["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("the dashboard's body, with the stack's names substituted");
    let body: Value = serde_json::from_str(body).expect("the body is JSON");
    let on_dashboard = drawn(&body);
    let code = emitted(&json!(NAMESPACE));
    let ours = json!(NAMESPACE).to_string();
    let custom_drawn: BTreeSet<Named> = on_dashboard
        .iter()
        .filter(|n| n.namespace == ours)
        .cloned()
        .collect();
    for n in &custom_drawn {
        assert!(
            code.contains(n),
            "the dashboard draws a metric the code does not emit: {n:?}"
        );
    }
    let missing: Vec<_> = code.difference(&custom_drawn).collect();
    assert!(missing.is_empty(), "not on the dashboard: {missing:?}");
    // The rest are AWS's own metrics.
    for n in &on_dashboard {
        assert!(
            n.namespace == ours || n.namespace.starts_with("\"AWS/"),
            "{n:?}"
        );
    }
    for w in body["widgets"].as_array().into_iter().flatten() {
        for a in w["properties"]["alarms"].as_array().into_iter().flatten() {
            let id = a
                .as_str()
                .and_then(|s| s.strip_prefix("${"))
                .and_then(|s| s.strip_suffix(".Arn}"))
                .unwrap_or_else(|| panic!("{a}: an alarm of the stack"));
            assert_eq!(r[id]["Type"], "AWS::CloudWatch::Alarm", "{id}");
        }
    }
}
