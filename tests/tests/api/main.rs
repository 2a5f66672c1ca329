//! The API suite: every function in-process against the emulator (a fresh table per test)
//! and the local OpenID provider — flows, rules, races, roles, failure drills, the sign-in and
//! the DynamoDB requests per route. One binary, so it links once.

mod activation;
mod business_metrics;
mod conditional;
mod failure_drills;
mod holdings;
mod locations;
mod mail_delivery;
mod order_intake;
mod paging;
mod partner_events;
mod portal;
mod portal_pages;
mod refusals;
mod remap_cancellation;
mod requests_per_route;
mod reservations;
mod role_matrix;
mod secrets;
mod service_requests;
mod sign_in;
mod webhook_deliveries;
mod webhook_endpoints;
mod webhook_replays;
