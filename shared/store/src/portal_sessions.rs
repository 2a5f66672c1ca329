//! A person's session on the customer's pages (SPEC §7.1): a stored record, keyed by the
//! SHA-256 of the random id its cookie holds, so that signing out really ends it (a copied
//! cookie then opens nothing) and the table never holds the id itself. DynamoDB's TTL removes
//! ended records at its own pace; a record is read as ended from its times, not its presence.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::{Store, StoreError, encode, key_map};

/// What a session knows: the sign-in's claims, the form value that proves a form came from
/// it, and its times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalSession {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub role: String,
    pub account_id: String,
    /// Every form of the session carries it (compared in constant time).
    pub csrf: String,
    pub signed_in_at: DateTime<Utc>,
    /// Written at most once a minute: a page view is not a write.
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end: the sign-in plus the session's lifetime.
    pub ends_at: DateTime<Utc>,
}

impl Store {
    /// Stores a new session under `hash` (never over another: each sign-in makes a new id).
    pub async fn start_portal_session(
        &self,
        hash: &str,
        session: &PortalSession,
    ) -> Result<(), StoreError> {
        match self
            .put_session(hash, session, "attribute_not_exists(pk)")
            .await?
        {
            true => Ok(()),
            false => Err(StoreError::Corrupt("a session id was drawn twice".into())),
        }
    }

    /// Writes the session under `condition`; `false` if the condition does not hold.
    async fn put_session(
        &self,
        hash: &str,
        session: &PortalSession,
        condition: &str,
    ) -> Result<bool, StoreError> {
        let key = keys::portal_session(hash);
        let mut item = encode(session, &key, "portal_session")?;
        let ttl = (session.ends_at + Duration::days(1)).timestamp();
        item.insert(keys::TTL_ATTR.into(), AttributeValue::N(ttl.to_string()));
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(StoreError::unavailable(DisplayErrorContext(other))),
            },
        }
    }

    /// The session stored under `hash`, ended or not (one strongly consistent read).
    pub async fn portal_session(&self, hash: &str) -> Result<Option<PortalSession>, StoreError> {
        self.get_as(&keys::portal_session(hash)).await
    }

    /// Notes that the session was used at `at`, if it still exists (signed out meanwhile: no
    /// record comes back to life). The record is small: it is written whole, so the pages'
    /// role needs no `UpdateItem`.
    pub async fn touch_portal_session(
        &self,
        hash: &str,
        session: &PortalSession,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let touched = PortalSession {
            last_seen_at: at,
            ..session.clone()
        };
        self.put_session(hash, &touched, "attribute_exists(pk)")
            .await
            .map(|_| ())
    }

    /// Ends the session: its record is deleted.
    pub async fn end_portal_session(&self, hash: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::portal_session(hash))))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::unavailable(DisplayErrorContext(e)))
    }
}
