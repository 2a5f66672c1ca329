//! Volume licensing: the domain (types, catalog, rules), the store that speaks DynamoDB and
//! the HTTP plumbing every function shares.

pub mod access;
pub mod catalog;
pub mod config;
pub mod error;
pub mod html;
pub mod http;
pub mod input;
pub mod mail;
pub mod model;
pub mod rules;
pub mod store;
pub mod telemetry;
#[cfg(test)]
pub(crate) mod testing;
pub mod types;
