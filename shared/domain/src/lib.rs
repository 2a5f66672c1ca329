//! The domain of volume licensing, with no AWS SDK and no HTTP: ids and value types, the
//! SKU catalog, the entities, the rules (R1–R17) as pure functions, their refusals, request
//! bodies parsed into commands, who is calling and what each may see, and the activation
//! mail's content.

pub mod access;
pub mod audit;
pub mod catalog;
pub mod change;
pub mod error;
pub mod holdings;
pub mod html;
pub mod input;
pub mod mail;
pub mod metrics;
pub mod model;
pub mod notices;
pub mod principal;
pub mod rules;
pub mod sources;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod trail;
pub mod types;
pub mod views;
pub mod webhooks;
