//! What each entity is in the table: its type name, its key, its item (index attributes
//! included) and the lookup items written beside it. Handlers hand entities to [`crate::Tx`]
//! and never build a key or name a type themselves.

use serde::Serialize;

use crate::keys::{self, Key};
use crate::model::{
    Account, Agreement, Delivery, DeliveryStatus, MailIntent, MailStatus, Order, Partner, Replay,
    WebhookEndpoint,
};
use crate::model::{Reservation, ServiceRequest, Subscription};
use crate::sources::Source;
use crate::types::{AccountId, AgreementId, CustomerNumber, PartnerId};
use crate::{Item, RefItem, StoreError, encode, s, timestamp};

/// An entity with an item of its own.
pub trait Stored: Serialize + Sized {
    /// The item's `type`, and the label a failed condition is reported under.
    const KIND: &'static str;

    fn key(&self) -> Key;

    /// The item as written.
    fn item(&self) -> Result<Item, StoreError> {
        encode(self, &self.key(), Self::KIND)
    }

    /// Items that find this one by its id alone (`SUBREF#…` → its account's partition),
    /// created with it.
    fn lookups(&self) -> Vec<(Key, String)> {
        Vec::new()
    }

    /// The audit trail this entity owns and the version written: its events in the same
    /// transaction are sequenced by that version (an account's, an agreement's).
    fn sequence(&self) -> Option<(String, u64)> {
        None
    }

    /// For an item listed in its owner's partition in commit order: the owner's trail and
    /// the owner's version the item was created at, which the creating transaction must
    /// write.
    fn listed(&self) -> Option<(String, u64)> {
        None
    }
}

/// A stored entity whose every change moves its version on by one.
pub trait Versioned: Stored {
    fn version(&self) -> u64;
}

/// An entity's key from its id alone (for conditions and version bumps).
pub trait Keyed {
    const KIND: &'static str;
    fn key(&self) -> Key;
}

/// The audit trail (R17) an id has: an agreement's, an account's, a partner's.
pub trait Trail {
    fn trail(&self) -> String;
}

impl Stored for Partner {
    const KIND: &'static str = "partner";
    fn key(&self) -> Key {
        keys::partner(&self.id)
    }
    fn sequence(&self) -> Option<(String, u64)> {
        Some((self.id.trail(), self.version))
    }
}

/// A delivery, in its endpoint's partition; in GSI1 by when it is due while it is pending.
impl Stored for Delivery {
    const KIND: &'static str = "delivery";
    fn key(&self) -> Key {
        keys::delivery(&self.endpoint_id, &self.id)
    }
    fn item(&self) -> Result<Item, StoreError> {
        let mut item = encode(self, &self.key(), Self::KIND)?;
        if let (DeliveryStatus::Pending, Some(due)) = (self.status, self.next_attempt_at) {
            let (pk, sk) = keys::delivery_due(&self.endpoint_id, &self.id, &timestamp(due));
            item.insert(keys::GSI1_PK.into(), s(pk));
            item.insert(keys::GSI1_SK.into(), s(sk));
        }
        Ok(item)
    }
}

/// An endpoint's replay in progress, beside its deliveries; in the index of replays the
/// dispatcher's sweep works until it is done (then it is deleted).
impl Stored for Replay {
    const KIND: &'static str = "replay";
    fn key(&self) -> Key {
        keys::replay(&self.endpoint_id)
    }
    fn item(&self) -> Result<Item, StoreError> {
        let mut item = encode(self, &self.key(), Self::KIND)?;
        let (pk, sk) = keys::replay_waiting(&self.endpoint_id, &timestamp(self.created_at));
        item.insert(keys::GSI1_PK.into(), s(pk));
        item.insert(keys::GSI1_SK.into(), s(sk));
        Ok(item)
    }
}

/// A partner's webhook endpoint, in its partner's partition; listed in LSI1 in the order it
/// was created.
impl Stored for WebhookEndpoint {
    const KIND: &'static str = "webhook_endpoint";
    fn key(&self) -> Key {
        keys::endpoint(&self.partner_id, &self.id)
    }
    fn item(&self) -> Result<Item, StoreError> {
        let mut item = encode(self, &self.key(), Self::KIND)?;
        let position = keys::endpoint_position(self.sequence);
        item.insert(keys::LSI1_SK.into(), s(position));
        Ok(item)
    }
    fn listed(&self) -> Option<(String, u64)> {
        Some((self.partner_id.trail(), self.sequence))
    }
}

impl Stored for Account {
    const KIND: &'static str = "account";
    fn key(&self) -> Key {
        keys::account(&self.id)
    }
    fn sequence(&self) -> Option<(String, u64)> {
        Some((self.id.trail(), self.version))
    }
}

impl Stored for Source {
    const KIND: &'static str = "pool_source";
    fn key(&self) -> Key {
        keys::source(&self.account_id, self.kind, &self.id)
    }
    /// Listed in LSI1 in the order it joined the pool.
    fn item(&self) -> Result<Item, StoreError> {
        let mut item = encode(self, &self.key(), Self::KIND)?;
        let position = keys::source_position(self.joined, self.kind, &self.id);
        item.insert(keys::LSI1_SK.into(), s(position));
        Ok(item)
    }
}

impl Stored for Subscription {
    const KIND: &'static str = "subscription";
    fn key(&self) -> Key {
        keys::subscription(&self.account_id, &self.id)
    }
    /// Listed in LSI1 in the order it was bought.
    fn item(&self) -> Result<Item, StoreError> {
        let mut item = encode(self, &self.key(), Self::KIND)?;
        let position = keys::subscription_position(self.sequence);
        item.insert(keys::LSI1_SK.into(), s(position));
        Ok(item)
    }
    fn lookups(&self) -> Vec<(Key, String)> {
        vec![(
            keys::subscription_ref(&self.id),
            self.account_id.as_str().to_owned(),
        )]
    }
}

/// A service request, in its account's partition; listed in LSI1 in the order it was opened,
/// and in Billing Support's queue (GSI1) while it is open or in progress.
impl Stored for ServiceRequest {
    const KIND: &'static str = "service_request";
    fn key(&self) -> Key {
        keys::service_request(&self.id)
    }
    fn item(&self) -> Result<Item, StoreError> {
        let mut item = encode(self, &self.key(), Self::KIND)?;
        let position = keys::service_request_position(self.sequence);
        item.insert(keys::LSI1_SK.into(), s(position));
        if !self.status.is_closed() {
            let (pk, sk) = keys::service_request_queued(&timestamp(self.opened_at), &self.id);
            item.insert(keys::GSI1_PK.into(), s(pk));
            item.insert(keys::GSI1_SK.into(), s(sk));
        }
        Ok(item)
    }
}

impl Stored for Agreement {
    const KIND: &'static str = "agreement";
    fn key(&self) -> Key {
        keys::agreement(&self.id)
    }
    fn sequence(&self) -> Option<(String, u64)> {
        Some((self.id.trail(), self.version))
    }
    /// Indexed in GSI1 by its due anniversary (R14).
    fn item(&self) -> Result<Item, StoreError> {
        let mut item = encode(self, &self.key(), Self::KIND)?;
        let (gpk, gsk) = keys::due(&self.id, self.anniversary);
        item.insert(keys::GSI1_PK.into(), s(gpk));
        item.insert(keys::GSI1_SK.into(), s(gsk));
        Ok(item)
    }
}

/// An entity kept in its agreement's partition (licences follow the agreement); its id names
/// the agreement, so it needs no lookup item. Listed in LSI1 by its `sequence`.
macro_rules! in_agreement {
    ($t:ty, $kind:literal, $key:path, $position:path) => {
        impl Stored for $t {
            const KIND: &'static str = $kind;
            fn key(&self) -> Key {
                $key(&self.agreement_id, &self.id)
            }
            fn item(&self) -> Result<Item, StoreError> {
                let mut item = encode(self, &self.key(), Self::KIND)?;
                item.insert(keys::LSI1_SK.into(), s($position(self.sequence)));
                Ok(item)
            }
            fn listed(&self) -> Option<(String, u64)> {
                Some((self.agreement_id.trail(), self.sequence))
            }
        }
    };
}

in_agreement!(Order, "order", keys::order, keys::order_position);
in_agreement!(
    Reservation,
    "reservation",
    keys::reservation,
    keys::reservation_position
);

impl Stored for MailIntent {
    const KIND: &'static str = "mail";
    fn key(&self) -> Key {
        keys::mail(&self.id)
    }
    /// In GSI1 (its `OUTBOX#<shard>`) only while it is pending, so the sweep that retries what the
    /// stream missed reads nothing else.
    fn item(&self) -> Result<Item, StoreError> {
        let mut item = encode(self, &self.key(), Self::KIND)?;
        if self.status == MailStatus::Pending {
            let due = self.next_attempt_at.unwrap_or(self.created_at);
            let (gpk, gsk) = keys::outbox(&self.id, &timestamp(due));
            item.insert(keys::GSI1_PK.into(), s(gpk));
            item.insert(keys::GSI1_SK.into(), s(gsk));
        }
        Ok(item)
    }
}

macro_rules! versioned {
    ($($t:ty),*) => {$(
        impl Versioned for $t {
            fn version(&self) -> u64 {
                self.version
            }
        }
    )*};
}

versioned!(
    Partner,
    Account,
    Subscription,
    Agreement,
    Order,
    Reservation,
    MailIntent,
    WebhookEndpoint,
    Delivery,
    Replay,
    ServiceRequest
);

impl Keyed for AccountId {
    const KIND: &'static str = "account";
    fn key(&self) -> Key {
        keys::account(self)
    }
}

impl Keyed for AgreementId {
    const KIND: &'static str = "agreement";
    fn key(&self) -> Key {
        keys::agreement(self)
    }
}

impl Keyed for CustomerNumber {
    const KIND: &'static str = "customer";
    fn key(&self) -> Key {
        keys::customer(self)
    }
}

impl Trail for AgreementId {
    fn trail(&self) -> String {
        keys::agreement_events(self)
    }
}

impl Trail for AccountId {
    fn trail(&self) -> String {
        keys::account_events(self)
    }
}

impl Trail for PartnerId {
    fn trail(&self) -> String {
        keys::partner_events(self)
    }
}

impl<T: Trail + ?Sized> Trail for &T {
    fn trail(&self) -> String {
        (**self).trail()
    }
}

impl<K: Keyed + ?Sized> Keyed for &K {
    const KIND: &'static str = K::KIND;
    fn key(&self) -> Key {
        (**self).key()
    }
}

/// A lookup item: which partition holds the entity an id names.
pub(crate) fn lookup_item(key: &Key, target: String) -> Result<Item, StoreError> {
    encode(&RefItem { target }, key, "ref")
}

/// The stored form is the table's contract with every item already written: these pin it, so
/// a renamed or retyped entity field fails here before it reaches a table it cannot read.
/// A partner event as its change writes it: in the unsequenced index until the dispatcher
/// gives it its sequence.
impl Stored for vls_domain::notices::PartnerEvent {
    const KIND: &'static str = "partner_event";

    fn key(&self) -> Key {
        keys::partner_event(&self.id)
    }

    fn item(&self) -> Result<Item, StoreError> {
        let mut item = encode(self, &self.key(), Self::KIND)?;
        if self.sequence.is_none() {
            let (pk, sk) = keys::unsequenced(&self.id, &timestamp(self.occurred_at));
            item.insert(keys::GSI1_PK.into(), s(pk));
            item.insert(keys::GSI1_SK.into(), s(sk));
        }
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vls_domain::testing;

    /// The item's attribute names, sorted, as one line.
    fn attributes(item: &Item) -> String {
        let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        names.join(" ")
    }

    /// A string attribute's value.
    fn text<'a>(item: &'a Item, name: &str) -> &'a str {
        item[name].as_s().map(String::as_str).unwrap_or_default()
    }

    #[test]
    fn an_account_is_stored_under_its_key_with_its_fields() {
        let account = testing::account();
        let item = account.item().expect("encodes");
        let kept = "created_at domain id name online_services pk sk type version";
        assert_eq!(attributes(&item), kept);
        assert_eq!(text(&item, "pk"), format!("ACCOUNT#{}", account.id));
        assert_eq!(text(&item, "type"), "account");
        assert_eq!(crate::decode::<Account>(item).expect("decodes"), account);
    }

    #[test]
    fn an_agreement_is_stored_with_its_due_index_entry() {
        let agreement = testing::agreement();
        let item = agreement.item().expect("encodes");
        let kept = "account_id activation_email_failed anniversary billed_through \
                    bound_to_online_services created_at customer gsi1pk gsi1sk holdings id \
                    joined_pool_at link_seq ordered_seats osm osm_generation partner_id pk \
                    program schedule sk start_date type version volume_discount_eligible";
        assert_eq!(attributes(&item), kept);
        let (due_pk, due_sk) = keys::due(&agreement.id, agreement.anniversary);
        assert_eq!(
            (text(&item, "gsi1pk"), text(&item, "gsi1sk")),
            (&*due_pk, &*due_sk)
        );
        assert_eq!(text(&item, "anniversary"), "2027-03-15");
        assert_eq!(
            crate::decode::<Agreement>(item).expect("decodes"),
            agreement
        );
    }

    #[test]
    fn a_pool_source_is_listed_by_the_account_s_version_when_it_joined() {
        let agreement = Agreement {
            joined_pool_at: 42,
            ..testing::agreement()
        };
        let account = testing::account();
        let source = Source::agreement(&agreement, &account.id);
        let item = source.item().expect("encodes");
        assert_eq!(
            attributes(&item),
            "account_id counts id joined kind lsi1sk pk sk type"
        );
        let id = &agreement.id;
        assert_eq!(
            text(&item, "lsi1sk"),
            format!("SRC#00000000000000000042#A#{id}")
        );
        assert_eq!(text(&item, "sk"), format!("SRC#A#{id}"));
        assert_eq!(crate::decode::<Source>(item).expect("decodes"), source);
    }
}
