//! Counting a refusal the rules made, as the answer goes out (the counting itself is the
//! store's: `vls_store::count`).

pub use vls_domain::metrics::{DEFAULT_NAMESPACE, FUNCTION, Metric, UNIT};

use crate::Answer;
use vls_domain::error::RuleError;
use vls_store::count;

/// Counts `metric` if `answer` is the rules' `refusal` (of any details); hands it on.
pub fn refused(answer: Answer, refusal: &RuleError, metric: Metric) -> Answer {
    if answer.as_ref().is_err_and(|p| p.code == refusal.code()) {
        count(metric);
    }
    answer
}
