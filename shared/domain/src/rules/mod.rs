//! The business rules (SPEC R1–R17) as pure functions: state and command in, decision or
//! typed refusal out. No I/O, no clock, no randomness: ids and "now" are passed in.

pub mod activation;
pub mod agreements;
pub mod cancellation;
pub mod deliveries;
pub mod directory;
pub mod endpoints;
pub mod orders;
pub mod outbox;
pub mod pool;
pub mod remap;
pub mod reservations;
pub mod schedule;
pub mod service_requests;

/// Operator configuration the rules depend on.
#[derive(Debug, Clone)]
pub struct Policy {
    /// R3: seat licences on an EA's orders that make it volume-discount eligible.
    pub volume_discount_threshold: u64,
    /// R10: domains an OSM address may not be on.
    pub public_mail_domains: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            volume_discount_threshold: 250,
            public_mail_domains: [
                "gmail.com",
                "outlook.com",
                "hotmail.com",
                "live.com",
                "yahoo.com",
                "icloud.com",
                "aol.com",
                "proton.me",
                "protonmail.com",
                "gmx.com",
                "mail.com",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}
