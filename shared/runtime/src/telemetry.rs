//! JSON logs, one line per event, with the request id of the span they happen in.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber (level from `RUST_LOG`, default `info`). Safe to call twice.
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .try_init();
}
