//! Volume licensing as the functions use it: configuration, secrets, TLS roots, telemetry,
//! the SES client and the SQS queues, over the crates that hold the rest — `vls-domain` (types,
//! rules, no AWS SDK), `vls-store` (DynamoDB) and `vls-http` (requests, replies, auth). Cargo
//! enforces the direction domain ← store ← http ← runtime; this crate re-exports them under
//! one name.

pub mod config;
pub mod emf;
pub mod queue;
pub mod secrets;
pub mod serve;
pub mod ses;
pub mod telemetry;

pub use vls_domain::{access, catalog, error, holdings, html, input, model, rules, sources, types};
pub use vls_http as http;
/// The business metrics: what they are (domain), counting them (store), counting a refusal
/// (HTTP).
pub mod metrics {
    pub use vls_domain::metrics::*;
    pub use vls_http::metrics::refused;
    pub use vls_store::{count, count_all};
}
pub use vls_store as store;

/// The activation mail: its content (domain) and the client that sends it.
pub mod mail {
    pub use crate::ses::{MailError, Mailer, refusal_of};
    pub use vls_domain::mail::*;
}
