//! One business operation = one `TransactWriteItems`. Each item carries a label so that a
//! cancelled transaction says which condition failed (a stale version, an id taken, an
//! idempotency key already used).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update,
};

use chrono::NaiveDate;

use super::keys;
use super::stored::{Keyed, Stored, Trail, Versioned, lookup_item};
use super::{CustomerItem, IdempotencyRecord, Item, StoreError, encode, key_map};
use crate::change::{Change, Owner, Record, Stamp, Write};
use crate::metrics::Metric;
use crate::model::Mismatches;
use crate::rules::activation::{ActivationLink, lockout_window};
use crate::rules::schedule::MonthDay;
use crate::sources::{Source, SourceKind};
use crate::trail::Event;
use crate::types::{AccountId, AgreementId, CustomerNumber, EndpointId, OrderId};
use vls_domain::notices::PartnerEvent;

/// `$body` with `$e` bound to the entity `$record` holds, whichever it is.
macro_rules! each_record {
    ($record:expr, $e:ident => $body:expr) => {
        match $record {
            Record::Partner($e) => $body,
            Record::Account($e) => $body,
            Record::Subscription($e) => $body,
            Record::Agreement(boxed) => {
                let $e = boxed.as_ref();
                $body
            }
            Record::Order($e) => $body,
            Record::Reservation($e) => $body,
            Record::Mail($e) => $body,
            Record::Endpoint($e) => $body,
            Record::Delivery($e) => $body,
            Record::Replay($e) => $body,
            Record::ServiceRequest($e) => $body,
        }
    };
}

/// DynamoDB's limit on items in one transaction.
pub const MAX_ITEMS: usize = 100;

/// Label of the idempotency record in a transaction.
pub const IDEMPOTENCY: &str = "idempotency";

#[derive(Debug, thiserror::Error)]
pub enum TxFailure {
    /// Conditions failed: the labels of the items whose condition did not hold.
    #[error("conditions failed: {0:?}")]
    Conditions(Vec<&'static str>),
    /// Another transaction touched the same items at the same time; try again.
    #[error("transaction conflict")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Tx {
    table: String,
    items: Vec<TransactWriteItem>,
    labels: Vec<&'static str>,
    error: Option<StoreError>,
    /// The version each trail's owner is written at here: the sequence of its events.
    sequences: HashMap<String, u64>,
    /// Events on sequenced trails, keyed when the transaction is committed (the owner may be
    /// written after the event is added).
    events: Vec<(String, Result<Item, StoreError>)>,
    /// Items created at a place in their owner's list: the owner's trail and that place,
    /// which must be the owner's version written here.
    listed: Vec<(String, u64)>,
    /// What the change counts once it is committed (the business metrics).
    counts: Vec<Metric>,
}

/// An activation link's item: keyed by its token's hash, never the token.
fn link_item(token_hash: &str, link: &ActivationLink) -> Result<Item, StoreError> {
    encode(link, &keys::activation_link(token_hash), "activation_link")
}

fn v(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

impl Tx {
    pub(super) fn new(table: String) -> Self {
        Self {
            table,
            items: Vec::new(),
            labels: Vec::new(),
            error: None,
            sequences: HashMap::new(),
            events: Vec::new(),
            listed: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// Counts `metric` if (and only if) this transaction is committed: `vls_http::mutate`,
    /// which commits every HTTP change, records [`Tx::counts`] after the commit succeeded, so
    /// an attempt that lost a race or was refused counts nothing.
    pub fn count(&mut self, metric: Metric) -> &mut Self {
        self.counts.push(metric);
        self
    }

    /// What [`Tx::count`] noted.
    pub fn counts(&self) -> &[Metric] {
        &self.counts
    }

    pub fn len(&self) -> usize {
        self.items.len() + self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Notes that `entity`'s trail (if it owns one) is written at its version here.
    fn sequenced<T: Stored>(&mut self, entity: &T) {
        if let Some((trail, version)) = entity.sequence() {
            self.sequences.insert(trail, version);
        }
    }

    fn push(&mut self, label: &'static str, built: Result<TransactWriteItem, StoreError>) {
        match built {
            Ok(item) => {
                self.items.push(item);
                self.labels.push(label);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }

    /// A write the caller built (the dispatcher's sequencing), under `label`.
    pub(crate) fn push_write(
        &mut self,
        label: &'static str,
        built: Result<TransactWriteItem, StoreError>,
    ) -> &mut Self {
        self.push(label, built);
        self
    }

    fn put_item(
        &self,
        item: Item,
        condition: Option<&str>,
        values: HashMap<String, AttributeValue>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Creates an item; fails (label) if the key is taken.
    fn create_item(&mut self, label: &'static str, item: Result<Item, StoreError>) -> &mut Self {
        let built =
            item.and_then(|i| self.put_item(i, Some("attribute_not_exists(pk)"), HashMap::new()));
        self.push(label, built);
        self
    }

    /// Replaces a versioned item; fails (label) unless the stored version is `expected`.
    /// The new item must carry `expected + 1`.
    fn replace_item(
        &mut self,
        label: &'static str,
        item: Result<Item, StoreError>,
        expected: u64,
    ) -> &mut Self {
        // Version 0 is an item from before it kept one (a partner registered before then).
        let condition = if expected == 0 {
            "attribute_exists(pk) AND (attribute_not_exists(version) OR version = :expected)"
        } else {
            "version = :expected"
        };
        let built = item.and_then(|i| {
            self.put_item(
                i,
                Some(condition),
                HashMap::from([(":expected".to_owned(), v(expected))]),
            )
        });
        self.push(label, built);
        self
    }

    /// Writes an item under a condition of the caller's.
    fn put_item_if(
        &mut self,
        label: &'static str,
        item: Result<Item, StoreError>,
        condition: &str,
    ) -> &mut Self {
        let built = item.and_then(|i| self.put_item(i, Some(condition), HashMap::new()));
        self.push(label, built);
        self
    }

    /// Holds only if the item with `id`'s key exists.
    pub fn check_exists<K: Keyed>(&mut self, id: &K) -> &mut Self {
        let (label, key) = (K::KIND, &id.key());
        let built = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map(|c| TransactWriteItem::builder().condition_check(c).build())
            .map_err(StoreError::unavailable);
        self.push(label, built);
        self
    }

    /// Moves an account's or an agreement's version on by one from `read_version` without
    /// rewriting it: holds only if it is still at that version. Guards keyed on that version
    /// (R11 on an account) see that something it covers changed, and the owner's trail gets
    /// its sequence for the events of this transaction.
    pub fn advance<K: Keyed + Trail>(&mut self, id: &K, read_version: u64) -> &mut Self {
        let (label, key) = (K::KIND, &id.key());
        let next = read_version + 1;
        let built = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .update_expression("SET version = :next")
            .condition_expression("version = :read")
            .expression_attribute_values(":read", v(read_version))
            .expression_attribute_values(":next", v(next))
            .build()
            .map(|u| TransactWriteItem::builder().update(u).build())
            .map_err(StoreError::unavailable);
        self.push(label, built);
        self.sequences.insert(id.trail(), next);
        self
    }

    /// An audit event in the trail of `on` (R17). A trail is ordered by its owner's version,
    /// so the transaction must also write the owner (create, replace or advance it): an event
    /// whose owner is not written fails the commit.
    pub fn event<T: Trail>(&mut self, on: &T, event: &Event) -> &mut Self {
        let trail = on.trail();
        let item = encode(event, &(trail.clone(), String::new()), "event");
        self.events.push((trail, item));
        self
    }

    /// Keys the events of sequenced trails: `E#<owner's version, 20 digits>#<n, 3 digits>`,
    /// n counting this transaction's events on that trail. Versions only grow, and a
    /// transaction commits only at the version after the one it read, so the keys follow
    /// commit order and a reader paging by key never has an event land behind its cursor.
    /// Checks too that every item created at a place in a list is at its owner's version.
    fn key_events(&mut self) {
        for (trail, place) in std::mem::take(&mut self.listed) {
            if self.sequences.get(&trail) != Some(&place) {
                let e = StoreError::Unavailable(format!(
                    "an item listed at {place} in {trail}, whose owner is not written at it"
                ));
                self.error.get_or_insert(e);
            }
        }
        let mut counts: HashMap<String, u32> = HashMap::new();
        for (trail, item) in std::mem::take(&mut self.events) {
            let Some(seq) = self.sequences.get(&trail) else {
                let e = StoreError::Unavailable(format!(
                    "an event on {trail} in a transaction that does not write its owner"
                ));
                self.error.get_or_insert(e);
                continue;
            };
            let n = counts.entry(trail).or_default();
            let sk = keys::event_position(*seq, *n);
            *n += 1;
            let item = item.map(|mut i| {
                i.insert(keys::SK.into(), AttributeValue::S(sk));
                i
            });
            self.create_item("event", item);
        }
    }

    /// Creates an entity and the items that find it by id; fails if its key is taken.
    pub fn create<T: Stored>(&mut self, entity: &T) -> &mut Self {
        self.sequenced(entity);
        self.listed.extend(entity.listed());
        self.create_item(T::KIND, entity.item());
        for (key, target) in entity.lookups() {
            self.create_item("lookup", lookup_item(&key, target));
        }
        self
    }

    /// Replaces an entity read at `read_version`; the entity carries `read_version + 1`.
    pub fn replace<T: Versioned>(&mut self, entity: &T, read_version: u64) -> &mut Self {
        self.sequenced(entity);
        self.replace_item(T::KIND, entity.item(), read_version)
    }

    /// Creates or overwrites an entity whatever is stored.
    fn upsert<T: Stored>(&mut self, entity: &T) -> &mut Self {
        let built = entity
            .item()
            .and_then(|i| self.put_item(i, None, HashMap::new()));
        self.push(T::KIND, built);
        self
    }

    /// Deletes an entity read at `read_version`; fails unless it is still at that version.
    pub fn delete<T: Versioned>(&mut self, entity: &T, read_version: u64) -> &mut Self {
        let built = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(&entity.key())))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", v(read_version))
            .build()
            .map(|d| TransactWriteItem::builder().delete(d).build())
            .map_err(StoreError::unavailable);
        self.push(T::KIND, built);
        self
    }

    /// A pool source as it stands now (written whatever was there: the owner's version,
    /// conditioned in the same transaction, orders the writers).
    pub fn put_source(&mut self, source: &Source) -> &mut Self {
        self.upsert(source)
    }

    /// A pool source gone (a subscription cancelled, an agreement remapped away).
    pub fn drop_source(&mut self, account: &AccountId, kind: SourceKind, id: &str) -> &mut Self {
        let built = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::source(account, kind, id))))
            .build()
            .map(|d| TransactWriteItem::builder().delete(d).build())
            .map_err(StoreError::unavailable);
        self.push("pool_source", built);
        self
    }

    /// A new activation link (R8), stored under its token's hash.
    pub fn create_link(&mut self, token_hash: &str, link: &ActivationLink) -> &mut Self {
        self.create_item("link", link_item(token_hash, link))
    }

    /// The link, spent: holds only if it was not spent already.
    pub fn spend_link(&mut self, token_hash: &str, link: &ActivationLink) -> &mut Self {
        let item = link_item(token_hash, link);
        self.put_item_if("link", item, "attribute_not_exists(used_at)")
    }

    /// The customer's billing schedule, set by its first agreement (R2): fails if another
    /// first agreement set it meanwhile.
    pub fn create_schedule(
        &mut self,
        customer: &CustomerNumber,
        schedule: MonthDay,
        first: &AgreementId,
    ) -> &mut Self {
        let record = CustomerItem {
            schedule,
            first_agreement_id: first.clone(),
        };
        self.create_item("customer", encode(&record, &customer.key(), "customer"))
    }

    /// The marker that an agreement's anniversary is billed (R14, once).
    pub fn true_up_marker(
        &mut self,
        agreement: &AgreementId,
        anniversary: NaiveDate,
        order: Option<&OrderId>,
    ) -> &mut Self {
        let key = keys::true_up(agreement, anniversary);
        let item = encode(&serde_json::json!({ "order_id": order }), &key, "true_up");
        self.create_item("true_up_marker", item)
    }

    /// Everything `change` writes, its trail entries as made by `stamp`'s actor, and what it
    /// counts.
    pub fn apply(&mut self, change: &Change, stamp: &Stamp) -> &mut Self {
        for write in &change.writes {
            self.write(write);
        }
        for entry in &change.entries {
            for notice in &entry.notices {
                self.create(&PartnerEvent::raised(
                    notice,
                    entry.audit.action(),
                    stamp.at,
                ));
            }
            let event = entry.event(stamp);
            for owner in &entry.trails {
                match owner {
                    Owner::Agreement(id) => self.event(id, &event),
                    Owner::Account(id) => self.event(id, &event),
                    Owner::Partner(id) => self.event(id, &event),
                };
            }
        }
        for metric in &change.metrics {
            self.count(*metric);
        }
        self
    }

    fn write(&mut self, write: &Write) {
        match write {
            Write::Create(record) => each_record!(record, e => self.create(e)),
            Write::Replace(record, read) => each_record!(record, e => self.replace(e, *read)),
            Write::Delete(record, read) => each_record!(record, e => self.delete(e, *read)),
            Write::Advance(Owner::Agreement(id), read) => self.advance(id, *read),
            Write::Advance(Owner::Account(id), read) => self.advance(id, *read),
            Write::Advance(Owner::Partner(_), _) => self.refuse("a partner has no version"),
            Write::PutSource(source) => self.put_source(source),
            Write::DropSource { account, kind, id } => self.drop_source(account, *kind, id),
            Write::CheckCustomer(customer) => self.check_exists(customer),
            Write::CreateSchedule {
                customer,
                schedule,
                first,
            } => self.create_schedule(customer, *schedule, first),
            Write::CreateLink { token_hash, link } => self.create_link(token_hash, link),
            Write::SpendLink { token_hash, link } => self.spend_link(token_hash, link),
            Write::Mismatch {
                agreement,
                before,
                after,
            } => self.count_mismatch(agreement, *before, after),
            Write::TrueUpMarker {
                agreement,
                anniversary,
                order,
            } => self.true_up_marker(agreement, *anniversary, order.as_ref()),
            Write::TestsSent {
                endpoint,
                minute,
                before,
            } => self.tests_sent(endpoint, *minute, *before),
        };
    }

    /// The endpoint's test events this minute as one more than `before`, only if still at
    /// `before` (absent when 0); kept a little past the minute (TTL).
    fn tests_sent(&mut self, endpoint: &EndpointId, minute: i64, before: u32) -> &mut Self {
        let key = keys::tests_sent(endpoint, minute);
        let expires = (minute + 2) * 60;
        let mut item = key_map(&key);
        item.insert("type".into(), AttributeValue::S("tests_sent".into()));
        item.insert("count".into(), v(u64::from(before) + 1));
        item.insert(
            keys::TTL_ATTR.into(),
            v(u64::try_from(expires).unwrap_or(0)),
        );
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = if before == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("#c = :count")
                .expression_attribute_names("#c", "count")
                .expression_attribute_values(":count", v(u64::from(before)))
        };
        let built = put
            .build()
            .map(|p| TransactWriteItem::builder().put(p).build())
            .map_err(StoreError::unavailable);
        self.push("tests_sent", built);
        self
    }

    /// R9's counter as `after`, only if it is still at `before` (absent when `None`); kept
    /// until its window has passed (TTL).
    fn count_mismatch(
        &mut self,
        id: &AgreementId,
        before: Option<u32>,
        after: &Mismatches,
    ) -> &mut Self {
        let expires = (after.window_start + lockout_window()).timestamp();
        let built = encode(after, &keys::lockout(id), "lockout").and_then(|mut item| {
            item.insert(
                keys::TTL_ATTR.into(),
                AttributeValue::N(expires.to_string()),
            );
            let put = Put::builder().table_name(&self.table).set_item(Some(item));
            let put = match before {
                None => put.condition_expression("attribute_not_exists(pk)"),
                Some(count) => put
                    .condition_expression("#c = :count")
                    .expression_attribute_names("#c", "count")
                    .expression_attribute_values(":count", v(u64::from(count))),
            };
            put.build()
                .map(|p| TransactWriteItem::builder().put(p).build())
                .map_err(StoreError::unavailable)
        });
        self.push("lockout", built);
        self
    }

    /// A write the store cannot make: the transaction fails before it is sent.
    fn refuse(&mut self, why: &str) -> &mut Self {
        self.error
            .get_or_insert(StoreError::Unavailable(format!("not written: {why}")));
        self
    }

    /// The idempotency record: taken only if no live record holds this key.
    pub fn idempotency(
        &mut self,
        record: &IdempotencyRecord,
        key_hash: &str,
        now_epoch: i64,
    ) -> &mut Self {
        let item = encode(record, &keys::idempotency(key_hash), "idempotency");
        let built = item.and_then(|i| {
            self.put_item(
                i,
                Some("attribute_not_exists(pk) OR expires_at < :now"),
                HashMap::from([(":now".to_owned(), AttributeValue::N(now_epoch.to_string()))]),
            )
        });
        self.push(IDEMPOTENCY, built);
        self
    }

    pub(super) async fn commit(mut self, client: &Client) -> Result<(), TxFailure> {
        self.key_events();
        if let Some(e) = self.error {
            return Err(e.into());
        }
        if self.items.len() > MAX_ITEMS {
            return Err(StoreError::Unavailable(format!(
                "transaction of {} items exceeds {MAX_ITEMS}",
                self.items.len()
            ))
            .into());
        }
        let result = client
            .transact_write_items()
            .set_transact_items(Some(self.items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        match err.into_service_error() {
            TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                let reasons = cancelled.cancellation_reasons();
                let failed: Vec<&'static str> = reasons
                    .iter()
                    .zip(&self.labels)
                    .filter(|(r, _)| r.code() == Some("ConditionalCheckFailed"))
                    .map(|(_, label)| *label)
                    .collect();
                if failed.is_empty() {
                    Err(TxFailure::Conflict)
                } else {
                    Err(TxFailure::Conditions(failed))
                }
            }
            TransactWriteItemsError::TransactionInProgressException(_) => Err(TxFailure::Conflict),
            other => Err(StoreError::unavailable(DisplayErrorContext(other)).into()),
        }
    }
}
