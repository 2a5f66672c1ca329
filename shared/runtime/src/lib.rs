//! What a function runs on: configuration, secrets, TLS roots, telemetry and metrics, the SES
//! client, the SQS queues, and the entry points (`serve`). The rest is in the crates a function
//! names itself — `vls-domain` (types, rules, no AWS SDK), `vls-store` (DynamoDB) and
//! `vls-http` (requests, replies, auth); Cargo enforces the direction domain ← store ← http ←
//! runtime.

pub mod config;
pub mod emf;
pub mod queue;
pub mod resolve;
pub mod secrets;
pub mod serve;
pub mod ses;
pub mod telemetry;
