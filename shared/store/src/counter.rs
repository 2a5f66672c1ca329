//! What the store does around a commit besides writing: counting the business metrics a
//! committed transaction noted ([`Metric`], listed in `vls_domain::metrics`) through the
//! `metrics` facade — the function's recorder (CloudWatch embedded metric format, installed by
//! the runtime crate) writes them out after each invocation; without one they cost nothing —
//! and spacing out the retries of a write that lost a race.

use std::time::Duration;

use vls_domain::metrics::Metric;

/// Counts one occurrence of `metric`, under its own dimension.
pub fn count(metric: Metric) {
    let (dimension, value) = metric.dimension();
    ::metrics::counter!(metric.name(), dimension => value).increment(1);
}

/// Counts `n` occurrences of `metric` at once.
pub fn count_n(metric: Metric, n: u64) {
    let (dimension, value) = metric.dimension();
    ::metrics::counter!(metric.name(), dimension => value).increment(n);
}

/// Counts each of `metrics` once.
pub fn count_all(metrics: &[Metric]) {
    metrics.iter().copied().for_each(count);
}

/// Exponential backoff with full jitter (capped), so racing writers spread out.
pub fn backoff(round: u32) -> Duration {
    let cap_ms = (5u64 << round.min(6)).min(250);
    let jitter = (ulid::Ulid::generate().random() as u64) % (cap_ms + 1);
    Duration::from_millis(jitter)
}
