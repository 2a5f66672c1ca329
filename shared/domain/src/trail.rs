//! The trails (R17): who did something, and the entries an agreement's, an account's or a
//! partner's trail keeps. An entry's action and details come from an [`Audit`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::Audit;
use crate::types::{AccountId, AgreementId};

pub use crate::model::Actor;

/// An audit event (R17). `details` carries what the action changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub action: String,
    pub actor: Actor,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement_id: Option<AgreementId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null", default)]
    pub details: serde_json::Value,
}

impl Actor {
    /// A job of the system's own (`true-up`, `activation-mailer`).
    pub fn system(name: &str) -> Self {
        Self {
            sub: name.to_owned(),
            role: "system".to_owned(),
        }
    }
}

/// Events are built one way: who did what, when, in which request; what an event concerns
/// comes from its [`crate::change::Audited`] entry.
impl Event {
    pub fn new(at: DateTime<Utc>, audit: &Audit, actor: Actor, request_id: &str) -> Self {
        Self {
            at,
            action: audit.action().to_owned(),
            actor,
            request_id: request_id.to_owned(),
            reason: None,
            agreement_id: None,
            account_id: None,
            details: audit.details(),
        }
    }
}
