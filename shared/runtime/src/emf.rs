//! The business metrics written as CloudWatch embedded metric format (EMF): one JSON document
//! a line on stdout, which CloudWatch Logs turns into metrics without an API call (none of
//! PutMetricData's latency, throttling or cost on the request path). The recorder is
//! `metrics_cloudwatch_embedded` behind the `metrics` facade the code counts through
//! (`vls_store::count`); the function writes what it counted after each invocation.
//!
//! Every document has the stack's namespace (`METRICS_NAMESPACE`), the dimensions
//! `[Function, Outcome]` (or `[Function, Reason]`), each metric's unit and the request id as
//! a property, so a metric's spike leads to its requests' log lines.

use std::io::Write;
use std::sync::OnceLock;

use metrics_cloudwatch_embedded::{Builder, Collector};

use crate::config;
use vls_domain::metrics::{DEFAULT_NAMESPACE, FUNCTION, Metric};

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

/// The namespace the deployment names, or [`DEFAULT_NAMESPACE`].
pub fn namespace() -> String {
    config::var("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
}

/// Installs the process's recorder, counting for `function` (its binary's name). A second
/// call changes nothing.
pub fn install(function: &'static str) {
    if let Err(e) = try_install(function, namespace(), None) {
        tracing::warn!(error = %e, "metrics recorder not installed; nothing is counted");
    }
}

fn try_install(
    function: &'static str,
    namespace: String,
    timestamp: Option<u64>,
) -> Result<&'static Collector, metrics_cloudwatch_embedded::Error> {
    if let Some(installed) = COLLECTOR.get() {
        return Ok(installed);
    }
    let mut builder = Builder::new()
        .cloudwatch_namespace(namespace)
        .with_dimension(FUNCTION, function);
    if let Some(t) = timestamp {
        builder = builder.with_timestamp(t);
    }
    let collector = builder.init()?;
    for name in Metric::names() {
        ::metrics::describe_counter!(name, ::metrics::Unit::Count, "");
    }
    Ok(*COLLECTOR.get_or_init(|| collector))
}

/// Writes what was counted since the last flush, as EMF lines on stdout, tagged with the
/// invocation's request id. Call it before the invocation answers (the process may be frozen
/// right after).
pub fn flush(request_id: &str) {
    let Some(collector) = COLLECTOR.get() else {
        return;
    };
    let mut lines = Vec::new();
    collector.set_property("requestId", request_id);
    if let Err(e) = collector.flush(&mut lines) {
        tracing::warn!(error = %e, "metrics not written");
        return;
    }
    // One write for all the lines, so that no log line lands inside one of them.
    if !lines.is_empty() {
        let _ = std::io::stdout().lock().write_all(&lines);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use vls_domain::model::MailRefusal;

    /// The only test of this crate that installs the (process-wide) recorder.
    #[test]
    fn counts_come_out_as_embedded_metric_documents() {
        let collector = try_install(
            "order-intake",
            "VolumeLicensing/test".into(),
            Some(1_700_000_000_000),
        )
        .expect("installed");
        let first = |collector: &Collector| {
            let mut out = Vec::new();
            collector.set_property("requestId", "req-1");
            collector.flush(&mut out).expect("flushed");
            String::from_utf8(out).expect("utf-8")
        };
        assert_eq!(first(collector), "", "nothing counted, nothing written");
        vls_store::count(Metric::OrderPlaced);
        vls_store::count_all(&[Metric::OrderPlaced, Metric::OrderInvoiced]);
        vls_store::count(Metric::ParkedBecause(MailRefusal::RejectedAddress));
        let text = first(collector);
        let docs: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON document a line"))
            .collect();
        let doc = |key: &str, value: &str| {
            docs.iter()
                .find(|d| d[key] == value)
                .cloned()
                .unwrap_or_else(|| panic!("{key}={value} in {text}"))
        };
        assert_eq!(
            doc("Outcome", "placed"),
            json!({
                "_aws": {"Timestamp": 1_700_000_000_000u64, "CloudWatchMetrics": [{
                    "Namespace": "VolumeLicensing/test",
                    "Dimensions": [["Function", "Outcome"]],
                    "Metrics": [{"Name": "Orders", "Unit": "Count"}]}]},
                "Function": "order-intake", "Outcome": "placed", "requestId": "req-1",
                "Orders": 2
            })
        );
        assert_eq!(doc("Outcome", "invoiced")["Orders"], 1);
        let parked = doc("Reason", "rejected_address");
        assert_eq!(parked["ParkedMails"], 1);
        assert_eq!(
            parked["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Reason"]])
        );
        assert_eq!(docs.len(), 3);
        assert_eq!(first(collector), "", "a flush starts the counts again");
    }
}
