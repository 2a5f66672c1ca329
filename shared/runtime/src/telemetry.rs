//! JSON logs, one object per line, shaped as Lambda's JSON log format and CloudWatch Logs
//! Insights expect: `timestamp`, `level`, `message`, `requestId` and `traceId` at the top level,
//! then the event's fields and those of the spans it happens in, flat.

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the JSON subscriber (level from `RUST_LOG`, default `info`) and the metrics
/// recorder of the function `name` (`crate::emf`). Safe to call twice.
pub fn init(name: &'static str) {
    init_logs();
    crate::emf::install(name);
}

/// The Lambda request id of an HTTP request (empty outside the runtime).
pub fn request_id(req: &lambda_http::Request) -> String {
    use lambda_http::RequestExt;
    req.lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default()
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .fmt_fields(JsonFields::new())
        .event_format(LambdaJson)
        .try_init();
}

/// The line format (see the module's documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct LambdaJson;

impl<S, N> FormatEvent<S, N> for LambdaJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Map::new();
        // The spans' fields, outermost first, so that an inner span's value wins.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(recorded) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(span_fields)) = serde_json::from_str(&recorded.fields) {
                    fields.extend(span_fields);
                }
            }
        }
        event.record(&mut Fields(&mut fields));
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let trace = std::env::var("_X_AMZN_TRACE_ID").ok();
        let line = line(&now, event.metadata().level().as_str(), fields, trace);
        writeln!(writer, "{line}")
    }
}

/// The line: the top-level keys first (in this order, for a person reading a console), then
/// the rest of `fields`. The request id comes from the runtime's span (`requestId`) or ours
/// (`request_id`); the trace id from the runtime's span (`xrayTraceId`) or, failing that, the
/// invocation's `_X_AMZN_TRACE_ID`.
fn line(
    timestamp: &str,
    level: &str,
    mut fields: Map<String, Value>,
    trace: Option<String>,
) -> String {
    let message = fields.remove("message").unwrap_or(Value::Null);
    let ours = fields.remove("request_id");
    let request = fields.remove("requestId").or(ours).unwrap_or(Value::Null);
    let trace = fields
        .remove("xrayTraceId")
        .or(trace.map(Value::String))
        .unwrap_or(Value::Null);
    let first = [
        ("timestamp", json!(timestamp)),
        ("level", json!(level)),
        ("message", message),
        ("requestId", request),
        ("traceId", trace),
    ];
    let entries = first
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(fields)
        .map(|(k, v)| format!("{}:{v}", Value::String(k)));
    format!("{{{}}}", entries.collect::<Vec<_>>().join(","))
}

/// Records an event's fields as JSON values.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), json!(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(log: impl FnOnce()) -> Vec<String> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(LambdaJson)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = buffer.0.lock().expect("buffer").clone();
        String::from_utf8(bytes)
            .expect("utf-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_line_has_its_time_level_message_request_and_trace_at_the_top() {
        let logged = lines(|| {
            let runtime = tracing::info_span!(
                "Lambda runtime invoke",
                requestId = "req-1",
                xrayTraceId = "Root=1-5759e988-bd862e3fe1be46a994272793"
            );
            let _in_invocation = runtime.enter();
            let ours = tracing::info_span!("invocation", request_id = "req-1");
            let _in_ours = ours.enter();
            tracing::warn!(
                mail_id = "mail_1",
                attempts = 3u64,
                "activation mail refused"
            );
        });
        assert_eq!(logged.len(), 1);
        let raw = &logged[0];
        let l: Value = serde_json::from_str(raw).expect("one JSON object per line");
        let at = |key: &str| raw.find(&format!("\"{key}\":")).expect(key);
        let order = [
            "timestamp",
            "level",
            "message",
            "requestId",
            "traceId",
            "attempts",
        ];
        assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{raw}");
        assert_eq!(l["level"], "WARN");
        assert_eq!(l["message"], "activation mail refused");
        assert_eq!(l["requestId"], "req-1");
        assert_eq!(l["traceId"], "Root=1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(
            (l["mail_id"].as_str(), l["attempts"].as_u64()),
            (Some("mail_1"), Some(3))
        );
        assert!(
            l.get("request_id").is_none() && l.get("fields").is_none(),
            "{l}"
        );
        let at = l["timestamp"].as_str().expect("timestamp");
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    }

    #[test]
    fn a_line_outside_any_invocation_says_so() {
        let parsed = |l: String| serde_json::from_str::<Value>(&l).expect("json");
        let l = parsed(line("2026-11-29T10:00:00.000Z", "INFO", Map::new(), None));
        assert_eq!(
            l,
            json!({"timestamp": "2026-11-29T10:00:00.000Z", "level": "INFO", "message": null,
                   "requestId": null, "traceId": null})
        );
        let ours = Map::from_iter([("request_id".to_owned(), json!("r"))]);
        let l = parsed(line("t", "INFO", ours, Some("Root=1-x".into())));
        assert_eq!(
            (l["requestId"].as_str(), l["traceId"].as_str()),
            (Some("r"), Some("Root=1-x"))
        );
    }
}
