//! Counting the business metrics ([`Metric`], listed in `vls_domain::metrics`) through the
//! `metrics` facade: the function's recorder (CloudWatch embedded metric format, installed by
//! `vls::telemetry`) writes them out after each invocation; without one they cost nothing.

pub use vls_domain::metrics::{DEFAULT_NAMESPACE, FUNCTION, Metric, UNIT};

use crate::Answer;
use vls_domain::error::RuleError;

/// Counts one occurrence of `metric`, under its own dimension.
pub fn count(metric: Metric) {
    let (dimension, value) = metric.dimension();
    ::metrics::counter!(metric.name(), dimension => value).increment(1);
}

/// Counts each of `metrics` once (what a committed transaction noted).
pub fn count_all(metrics: &[Metric]) {
    metrics.iter().copied().for_each(count);
}

/// Counts `metric` if `answer` is the rules' `refusal` (of any details); hands it on.
pub fn refused(answer: Answer, refusal: &RuleError, metric: Metric) -> Answer {
    if answer.as_ref().is_err_and(|p| p.code == refusal.code()) {
        count(metric);
    }
    answer
}
