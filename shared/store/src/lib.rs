//! The one crate that speaks DynamoDB. Reads are strongly consistent; every business
//! operation is committed as ONE `TransactWriteItems` built with [`Tx`] (the change, its
//! audit events, its idempotency record and any outbox mail, all or nothing). No `Scan`.

pub mod counter;
mod deliveries;
mod feed;
pub mod keys;
mod portal_sessions;
mod service_requests;
mod stored;
mod tx;

use vls_domain::{change, metrics, model, rules, sources, trail, types};

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use counter::{backoff, count, count_all, count_n};
pub use deliveries::ReplayContext;
pub use feed::{FeedPage, Sequenced};
pub use keys::DUE_SHARDS;
pub use portal_sessions::PortalSession;
pub use stored::{Keyed, Stored, Trail, Versioned};
pub use tx::{Tx, TxFailure};

use crate::model::{
    Account, Agreement, MailIntent, Order, Partner, Reservation, Subscription, WebhookEndpoint,
};
use crate::rules::activation::{ActivationLink, Mismatches};
use crate::rules::pool::AgreementHoldings;
use crate::rules::schedule::MonthDay;
use crate::sources::Source;
use crate::trail::Event;
use crate::types::{
    AccountId, AgreementId, CustomerNumber, EndpointId, MailId, OrderId, PartnerId, ReservationId,
    SubscriptionId,
};
use keys::Key;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB could not be reached or refused the request (throttling, outage): the
    /// caller did nothing wrong, and nothing was written.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// An item in the table does not decode: a bug or a hand edit, never the caller's fault.
    #[error("stored item does not decode: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        Self::Unavailable(e.to_string())
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn key_map((pk, sk): &Key) -> Item {
    HashMap::from([(keys::PK.to_owned(), s(pk)), (keys::SK.to_owned(), s(sk))])
}

/// An entity as a table item: its fields, its keys and its type name.
pub fn encode<T: Serialize>(entity: &T, key: &Key, kind: &str) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(entity).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.insert(keys::PK.into(), s(&key.0));
    item.insert(keys::SK.into(), s(&key.1));
    item.insert("type".into(), s(kind));
    Ok(item)
}

pub fn decode<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    let what = item
        .get(keys::PK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// The id in an item's partition key (`MAIL#<id>` → `<id>`).
fn id_from_pk(item: &Item, prefix: &str) -> Option<String> {
    item.get(keys::PK)
        .and_then(|v| v.as_s().ok())
        .and_then(|pk| pk.strip_prefix(prefix))
        .map(str::to_owned)
}

/// Where the next page of one index partition starts; opaque to callers.
#[derive(Debug, Clone)]
pub struct PageKey(Item);

/// Where the next page of a sharded listing starts; opaque to callers.
#[derive(Debug, Clone)]
pub struct Cursor {
    shard: usize,
    /// The shard the listing started at: it goes round the shards once.
    first: usize,
    key: Option<Item>,
}

impl Cursor {
    /// A listing that starts at shard `n` (of however many there are) and goes round once:
    /// mailers running side by side start at different shards rather than on the same mail.
    pub fn at_shard(n: usize) -> Self {
        let shard = n % keys::OUTBOX_SHARDS as usize;
        Self {
            shard,
            first: shard,
            key: None,
        }
    }
}

/// One page of a list in commit order: at most the `limit` asked for, and the position of the
/// last one read when more follow (what the next page starts after).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Where a list is kept: a partition, the sort key it is ordered by (the table's or LSI1's)
/// and the prefix its positions share.
/// Where a page starts: after a position, or at it (a source whose lines a page cut).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    After(String),
    From(String),
}

struct ListAt<'a> {
    pk: String,
    index: Option<&'static str>,
    sort: &'static str,
    prefix: &'a str,
}

impl ListAt<'static> {
    /// An agreement's orders or reservations (`prefix`), in the order their transactions
    /// committed (the local index).
    fn listed(agreement: &AgreementId, prefix: &'static str) -> Self {
        Self::by_position(keys::agreement_pk(agreement), prefix)
    }

    /// An account's subscriptions or pool sources (`prefix`), in the order they were bought or
    /// joined (the local index).
    fn in_account(account: &AccountId, prefix: &'static str) -> Self {
        Self::by_position(keys::account_pk(account), prefix)
    }

    fn by_position(pk: String, prefix: &'static str) -> Self {
        Self {
            pk,
            index: Some(keys::LSI1),
            sort: keys::LSI1_SK,
            prefix,
        }
    }
}

fn sort_key(item: &Item) -> &str {
    item.get(keys::SK)
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

/// A stored first response to a mutating request (SPEC §4, `Idempotency-Key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub status: u16,
    #[serde(default = "json_content_type")]
    pub content_type: String,
    pub body: String,
    pub expires_at: i64,
    /// A 201's `Location`, sent again with every replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Whether the answer carried its representation's `ETag` (made again from the body).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub etag: bool,
    /// Whether `body` is sealed (an answer that shows a secret).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sealed: bool,
}

fn json_content_type() -> String {
    // Records written before the content type was kept were all JSON.
    "application/json".to_owned()
}

#[derive(Serialize, serde::Deserialize)]
pub(crate) struct RefItem {
    pub(crate) target: String,
}

#[derive(Serialize, serde::Deserialize)]
pub(crate) struct CustomerItem {
    pub(crate) schedule: MonthDay,
    pub(crate) first_agreement_id: AgreementId,
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tx(&self) -> Tx {
        Tx::new(self.table.clone())
    }

    /// Commits `change` (see [`vls_domain::change`]) as one transaction, its trail entries
    /// made by `stamp`'s actor.
    pub async fn commit_change(
        &self,
        change: &change::Change,
        stamp: &change::Stamp,
    ) -> Result<(), TxFailure> {
        let mut tx = self.tx();
        tx.apply(change, stamp);
        self.commit(tx).await
    }

    pub async fn commit(&self, tx: Tx) -> Result<(), TxFailure> {
        let counts = tx.counts().to_vec();
        tx.commit(&self.client).await?;
        count_all(&counts);
        Ok(())
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                StoreError::unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))
            })?;
        Ok(out.item)
    }

    async fn get_as<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        self.get(key).await?.map(decode).transpose()
    }

    /// One `BatchGetItem` for up to 100 keys; answers in the order of `wanted`.
    async fn batch_get(&self, wanted: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        let mut found: HashMap<Key, Item> = HashMap::new();
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(wanted.iter().map(key_map).collect()))
                .consistent_read(true)
                .build()
                .map_err(StoreError::unavailable)?,
        );
        while let Some(request) = pending.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| {
                    StoreError::unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))
                })?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let pk = item
                    .get(keys::PK)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                let sk = sort_key(&item).to_owned();
                found.insert((pk, sk), item);
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys.is_empty());
        }
        Ok(wanted.iter().map(|k| found.remove(k)).collect())
    }

    /// Every item of a partition, optionally only sort keys below `below`.
    async fn query(&self, pk: &str, below: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start.take());
            q = match below {
                Some(b) => q
                    .key_condition_expression("pk = :pk AND sk < :below")
                    .expression_attribute_values(":below", s(b)),
                None => q.key_condition_expression("pk = :pk"),
            };
            let out = q.send().await.map_err(|e| {
                StoreError::unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))
            })?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    pub async fn partner(&self, id: &PartnerId) -> Result<Option<Partner>, StoreError> {
        self.get_as(&keys::partner(id)).await
    }

    /// A partner and one of its webhook endpoints (the endpoint `None` when it has no such
    /// one), in one read.
    pub async fn partner_and_endpoint(
        &self,
        partner: &PartnerId,
        id: &EndpointId,
    ) -> Result<(Option<Partner>, Option<WebhookEndpoint>), StoreError> {
        let found = self
            .batch_get(&[keys::partner(partner), keys::endpoint(partner, id)])
            .await?;
        let mut found = found.into_iter();
        let p = found.next().flatten().map(decode).transpose()?;
        let e = found.next().flatten().map(decode).transpose()?;
        Ok((p, e))
    }

    /// A page of a partner's webhook endpoints, in the order they were created.
    pub async fn endpoints_page(
        &self,
        partner: &PartnerId,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<WebhookEndpoint>, StoreError> {
        let at = ListAt::by_position(keys::partner_pk(partner), keys::ENDPOINT_PREFIX);
        Self::decoded(self.page(&at, after, limit, descending).await?)
    }

    pub async fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        self.get_as(&keys::account(id)).await
    }

    /// An account with every direct subscription it ever had (one query that grows with its
    /// history: for checks and tools; no request reads this).
    pub async fn account_with_subscriptions(
        &self,
        id: &AccountId,
    ) -> Result<Option<(Account, Vec<Subscription>)>, StoreError> {
        let mut account = None;
        let mut subs = Vec::new();
        for item in self.query(&keys::account_pk(id), None).await? {
            let sk = sort_key(&item).to_owned();
            if sk == keys::META {
                account = Some(decode::<Account>(item)?);
            } else if sk.starts_with(keys::SUBSCRIPTION_PREFIX) {
                subs.push(decode::<Subscription>(item)?);
            }
        }
        Ok(account.map(|a| (a, subs)))
    }

    /// Two accounts in one read (the same account twice is read once).
    pub async fn two_accounts(
        &self,
        first: &AccountId,
        second: Option<&AccountId>,
    ) -> Result<(Option<Account>, Option<Account>), StoreError> {
        match second {
            None => Ok((self.account(first).await?, None)),
            Some(s) if s == first => {
                let a = self.account(first).await?;
                Ok((a.clone(), a))
            }
            Some(s) => self.get_pair(keys::account(first), keys::account(s)).await,
        }
    }

    /// An account and one of its direct subscriptions, in one read.
    pub async fn account_and_subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> Result<(Option<Account>, Option<Subscription>), StoreError> {
        self.get_pair(keys::account(account), keys::subscription(account, id))
            .await
    }

    pub async fn subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        self.get_as(&keys::subscription(account, id)).await
    }

    /// An agreement and, if named, a direct subscription on whichever account holds it
    /// (R4: the rule decides whether that account is the right one). Two reads at most.
    pub async fn agreement_and_subscription(
        &self,
        agreement: &AgreementId,
        subscription: Option<&SubscriptionId>,
    ) -> Result<(Option<Agreement>, Option<Subscription>), StoreError> {
        let Some(sub) = subscription else {
            return Ok((self.agreement(agreement).await?, None));
        };
        let mut got = self
            .batch_get(&[keys::agreement(agreement), keys::subscription_ref(sub)])
            .await?
            .into_iter();
        let agreement = got.next().flatten().map(decode::<Agreement>).transpose()?;
        let holder = got.next().flatten().map(decode::<RefItem>).transpose()?;
        let subscription = match holder.map(|r| AccountId::parse(&r.target)) {
            None => None,
            Some(Some(acc)) => self.subscription(&acc, sub).await?,
            Some(None) => return Err(StoreError::Corrupt(format!("subscription ref {sub}"))),
        };
        Ok((agreement, subscription))
    }

    pub async fn agreement(&self, id: &AgreementId) -> Result<Option<Agreement>, StoreError> {
        self.get_as(&keys::agreement(id)).await
    }

    /// An agreement with every order and reservation it ever had (one query that grows with
    /// its history: for checks and tools, which compare it with the kept holdings; no request
    /// reads this).
    pub async fn agreement_holdings(
        &self,
        id: &AgreementId,
    ) -> Result<Option<AgreementHoldings>, StoreError> {
        let mut agreement = None;
        let mut orders = Vec::new();
        let mut reservations = Vec::new();
        for item in self.query(&keys::agreement_pk(id), None).await? {
            let sk = sort_key(&item).to_owned();
            if sk == keys::META {
                agreement = Some(decode::<Agreement>(item)?);
            } else if sk.starts_with(keys::ORDER_PREFIX) {
                orders.push(decode::<Order>(item)?);
            } else if sk.starts_with(keys::RESERVATION_PREFIX) {
                reservations.push(decode::<Reservation>(item)?);
            }
        }
        Ok(agreement.map(|agreement| AgreementHoldings {
            agreement,
            orders,
            reservations,
        }))
    }

    /// An account and its pool's sources, in one query of its partition (the account item
    /// sorts before its source items, and the subscriptions after them).
    pub async fn pool(
        &self,
        account: &AccountId,
    ) -> Result<Option<(Account, Vec<Source>)>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(keys::account_pk(account)))
            .expression_attribute_values(":lo", s(keys::META))
            .expression_attribute_values(":hi", s(format!("{}~", keys::SOURCE_PREFIX)))
            .send()
            .await
            .map_err(|e| {
                StoreError::unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))
            })?;
        if out.last_evaluated_key.is_some_and(|k| !k.is_empty()) {
            return Err(StoreError::Unavailable(format!(
                "the pool of {account} is more than one page"
            )));
        }
        let mut found = None;
        let mut sources = Vec::new();
        for item in out.items.unwrap_or_default() {
            if sort_key(&item) == keys::META {
                found = Some(decode::<Account>(item)?);
            } else {
                sources.push(decode::<Source>(item)?);
            }
        }
        Ok(found.map(|a| (a, sources)))
    }

    /// The agreement an order is on and the order itself.
    pub async fn order(&self, id: &OrderId) -> Result<Option<(Agreement, Order)>, StoreError> {
        self.in_agreement(&id.agreement(), |agr| keys::order(agr, id))
            .await
    }

    /// An item of an agreement's partition found by its own id (which names the agreement),
    /// with the agreement: one read.
    async fn in_agreement<T: DeserializeOwned>(
        &self,
        agr: &AgreementId,
        key: impl FnOnce(&AgreementId) -> Key,
    ) -> Result<Option<(Agreement, T)>, StoreError> {
        match self.get_pair(keys::agreement(agr), key(agr)).await? {
            (Some(a), Some(item)) => Ok(Some((a, item))),
            _ => Ok(None),
        }
    }

    /// What creating an agreement needs to know, in one read: the partner's registration,
    /// the customer's billing schedule and the Online Services account, if one is named.
    pub async fn agreement_creation_context(
        &self,
        partner: &PartnerId,
        customer: &CustomerNumber,
        online_services_account: Option<&AccountId>,
    ) -> Result<(Option<Partner>, Option<MonthDay>, Option<Account>), StoreError> {
        let mut wanted = vec![keys::partner(partner), keys::customer(customer)];
        if let Some(acc) = online_services_account {
            wanted.push(keys::account(acc));
        }
        let mut got = self.batch_get(&wanted).await?.into_iter();
        let partner = got.next().flatten().map(decode::<Partner>).transpose()?;
        let schedule = got
            .next()
            .flatten()
            .map(decode::<CustomerItem>)
            .transpose()?
            .map(|c| c.schedule);
        let account = got.next().flatten().map(decode::<Account>).transpose()?;
        Ok((partner, schedule, account))
    }

    /// One page of a list: the items after position `after` (from the start when `None`),
    /// at most `limit` of them, oldest first or (`descending`) newest first, read in one query
    /// of at most `limit + 2` items (one more says whether more follow; newest first, the
    /// cursor's own item comes back first and is dropped).
    async fn page(
        &self,
        at: &ListAt<'_>,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<Item>, StoreError> {
        let start = after.map(|a| Start::After(a.to_owned()));
        self.page_from(at, start, limit, descending).await
    }

    /// One page of a list from `start` on, in the order asked.
    async fn page_from(
        &self,
        at: &ListAt<'_>,
        start: Option<Start>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<Item>, StoreError> {
        if let Some(Start::After(a) | Start::From(a)) = &start
            && !a.starts_with(at.prefix)
        {
            return Err(StoreError::Corrupt("a position of another list".into()));
        }
        let (mut lo, mut hi) = (at.prefix.to_owned(), format!("{}~", at.prefix));
        // Positions are fixed-width, so `after + "!"` is the least position after `after`.
        let mut skip = None;
        match (start, descending) {
            (None, _) => {}
            (Some(Start::After(a)), false) => lo = format!("{a}!"),
            (Some(Start::From(a)), false) => lo = a,
            (Some(Start::After(a)), true) => {
                skip = Some(a.clone());
                hi = a;
            }
            (Some(Start::From(a)), true) => hi = a,
        }
        let extra = 1 + usize::from(skip.is_some());
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(at.index.map(str::to_owned))
            .consistent_read(true)
            .scan_index_forward(!descending)
            .key_condition_expression("pk = :pk AND #s BETWEEN :lo AND :hi")
            .expression_attribute_names("#s", at.sort)
            .expression_attribute_values(":pk", s(&at.pk))
            .expression_attribute_values(":lo", s(lo))
            .expression_attribute_values(":hi", s(hi))
            .limit(i32::try_from(limit + extra).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| {
                StoreError::unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))
            })?;
        let mut items = out.items.unwrap_or_default();
        let position = |item: &Item| item.get(at.sort).and_then(|v| v.as_s().ok()).cloned();
        if let Some(cursor) = skip
            && items.first().and_then(position).as_ref() == Some(&cursor)
        {
            items.remove(0);
        }
        // More follow if the one extra came back, or if the read stopped short (1 MB).
        let cut = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
        let more = items.len() > limit || cut;
        items.truncate(limit);
        let next = match items.last() {
            Some(last) if more => Some(
                position(last)
                    .ok_or_else(|| StoreError::Corrupt(format!("{} without {}", at.pk, at.sort)))?,
            ),
            _ => None,
        };
        Ok(Page { items, next })
    }

    fn decoded<T: DeserializeOwned>(page: Page<Item>) -> Result<Page<T>, StoreError> {
        let items = page
            .items
            .into_iter()
            .map(decode)
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// A page of an account's or an agreement's audit trail, oldest first (commit order).
    pub async fn events_page(
        &self,
        on: &impl Trail,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<Event>, StoreError> {
        let at = ListAt {
            pk: on.trail(),
            index: None,
            sort: keys::SK,
            prefix: keys::EVENT_PREFIX,
        };
        Self::decoded(self.page(&at, after, limit, descending).await?)
    }

    /// A page of an agreement's orders, oldest first (commit order).
    pub async fn orders_page(
        &self,
        agreement: &AgreementId,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<Order>, StoreError> {
        let at = ListAt::listed(agreement, keys::ORDER_PREFIX);
        Self::decoded(self.page(&at, after, limit, descending).await?)
    }

    /// A page of an agreement's reservations, oldest first (commit order).
    pub async fn reservations_page(
        &self,
        agreement: &AgreementId,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<Reservation>, StoreError> {
        let at = ListAt::listed(agreement, keys::RESERVATION_PREFIX);
        Self::decoded(self.page(&at, after, limit, descending).await?)
    }

    /// A page of an account's direct subscriptions, oldest first (commit order).
    pub async fn subscriptions_page(
        &self,
        account: &AccountId,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<Subscription>, StoreError> {
        let at = ListAt::in_account(account, keys::SUBSCRIPTION_PREFIX);
        Self::decoded(self.page(&at, after, limit, descending).await?)
    }

    /// A page of an account's pool sources in the order they joined the pool (or the reverse),
    /// each with its position, from `start` on: after a source, or from one a page's cut fell
    /// inside.
    pub async fn sources_page(
        &self,
        account: &AccountId,
        start: Option<Start>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<(String, Source)>, StoreError> {
        let at = ListAt::in_account(account, keys::SOURCE_PREFIX);
        let page = self.page_from(&at, start, limit, descending).await?;
        let items = page
            .items
            .into_iter()
            .map(|item| {
                let position = item
                    .get(keys::LSI1_SK)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                decode::<Source>(item).map(|s| (position, s))
            })
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// A whole audit trail, oldest first (for checks and tools; requests read pages).
    pub async fn events(&self, on: &impl Trail) -> Result<Vec<Event>, StoreError> {
        self.query(&on.trail(), None)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// A reservation and its agreement (by the reservation's id alone).
    pub async fn reservation(
        &self,
        id: &ReservationId,
    ) -> Result<Option<(Agreement, Reservation)>, StoreError> {
        self.in_agreement(&id.agreement(), |agr| keys::reservation(agr, id))
            .await
    }

    /// One page of the agreements due on or before `today` in one `DUE#` shard (of
    /// [`DUE_SHARDS`]), and where the next page of that shard starts.
    pub async fn due_agreements_page(
        &self,
        shard: u32,
        today: chrono::NaiveDate,
        start: Option<PageKey>,
    ) -> Result<(Vec<AgreementId>, Option<PageKey>), StoreError> {
        let partition = keys::due_shard(shard);
        let upper = format!("{today}#~");
        let (ids, next) = self
            .index_ids(&partition, &upper, None, start.map(|k| k.0), Self::due_id)
            .await?;
        Ok((ids, next.map(PageKey)))
    }

    fn due_id(item: &Item) -> Option<AgreementId> {
        AgreementId::parse(&id_from_pk(item, keys::AGREEMENT_PREFIX)?)
    }

    fn outbox_id(item: &Item) -> Option<MailId> {
        MailId::parse(&id_from_pk(item, keys::MAIL_PREFIX)?)
    }

    /// The ids named by one page of a GSI1 partition up to `upper` (sort key), and where the
    /// next page starts. An index entry that names no id is logged and passed over: it never
    /// stops the listing.
    async fn index_ids<T>(
        &self,
        partition: &str,
        upper: &str,
        limit: Option<i32>,
        start: Option<Item>,
        id_of: fn(&Item) -> Option<T>,
    ) -> Result<(Vec<T>, Option<Item>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("gsi1pk = :partition AND gsi1sk <= :upper")
            .expression_attribute_values(":partition", s(partition))
            .expression_attribute_values(":upper", s(upper))
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| {
                StoreError::unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))
            })?;
        let next = out.last_evaluated_key.filter(|k| !k.is_empty());
        let ids = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| {
                let id = id_of(item);
                if id.is_none() {
                    tracing::warn!(partition, key = ?item.get(keys::PK), "index entry names no id");
                }
                id
            })
            .collect();
        Ok((ids, next))
    }

    /// What one page of each of `shards` (GSI1 partitions) names up to `before`: the sweeps'
    /// reads of the sparse indexes.
    async fn due_in_shards<T>(
        &self,
        shards: impl Iterator<Item = String>,
        before: chrono::DateTime<chrono::Utc>,
        per_shard: i32,
        id_of: fn(&Item) -> Option<T>,
    ) -> Result<Vec<T>, StoreError> {
        let upper = format!("{}#~", timestamp(before));
        let mut ids = Vec::new();
        for shard in shards {
            let (found, _) = self
                .index_ids(&shard, &upper, Some(per_shard), None, id_of)
                .await?;
            ids.extend(found);
        }
        Ok(ids)
    }

    /// The event an index entry names (`EVT#<id>`).
    fn event_id(item: &Item) -> Option<types::EventId> {
        types::EventId::parse(&id_from_pk(item, keys::EVENT_ITEM_PREFIX)?)
    }

    pub async fn mail(&self, id: &MailId) -> Result<Option<MailIntent>, StoreError> {
        self.get_as(&keys::mail(id)).await
    }

    /// A page of the pending mail intents due at `now`, oldest first within an outbox shard,
    /// the shards in turn from the cursor's (GSI1, sparse: nothing else is read), and where the
    /// next page starts; `None` once every shard was read.
    /// Ids come from the keys, so an intent whose item no longer decodes is still listed (and
    /// can be set aside).
    pub async fn due_mails(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: i32,
        start: Option<Cursor>,
    ) -> Result<(Vec<MailId>, Option<Cursor>), StoreError> {
        let shards: Vec<String> = keys::outbox_shards().collect();
        let start = start.unwrap_or_else(|| Cursor::at_shard(0));
        let (shard, first, from) = (start.shard % shards.len(), start.first, start.key);
        let Some(partition) = shards.get(shard) else {
            return Ok((Vec::new(), None));
        };
        let upper = format!("{}#~", timestamp(now));
        let (ids, next) = self
            .index_ids(partition, &upper, Some(limit), from, Self::outbox_id)
            .await?;
        let following = (shard + 1) % shards.len();
        let next = match next {
            Some(key) => Some(Cursor {
                shard,
                first,
                key: Some(key),
            }),
            None => (following != first).then_some(Cursor {
                shard: following,
                first,
                key: None,
            }),
        };
        Ok((ids, next))
    }

    /// Counts a run that could not read the intent; at `set_aside_after` it is set aside: out
    /// of the outbox index, marked, kept for an operator. Answers whether it was set aside now.
    pub async fn unreadable_mail(
        &self,
        id: &MailId,
        set_aside_after: u32,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::mail(id))))
            .update_expression("ADD unreadable :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| {
                StoreError::unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))
            })?;
        let count: u32 = out
            .attributes
            .as_ref()
            .and_then(|a| a.get("unreadable"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if count < set_aside_after {
            return Ok(false);
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::mail(id))))
            .update_expression("REMOVE gsi1pk, gsi1sk SET set_aside = :yes")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(|e| {
                StoreError::unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))
            })?;
        Ok(true)
    }

    /// An activation link by its token's hash, with its agreement and the agreement's orders.
    pub async fn activation_link(
        &self,
        token_hash: &str,
    ) -> Result<Option<(ActivationLink, Agreement)>, StoreError> {
        let Some(link) = self
            .get_as::<ActivationLink>(&keys::activation_link(token_hash))
            .await?
        else {
            return Ok(None);
        };
        Ok(self.agreement(&link.agreement_id).await?.map(|a| (link, a)))
    }

    /// An activation link and the account to associate it with, in one read; then the link's
    /// agreement: two reads for the whole association.
    pub async fn link_for_association(
        &self,
        token_hash: &str,
        account: &AccountId,
    ) -> Result<(Option<(ActivationLink, Agreement)>, Option<Account>), StoreError> {
        let mut got = self
            .batch_get(&[keys::activation_link(token_hash), keys::account(account)])
            .await?
            .into_iter();
        let link = got
            .next()
            .flatten()
            .map(decode::<ActivationLink>)
            .transpose()?;
        let account = got.next().flatten().map(decode::<Account>).transpose()?;
        let Some(link) = link else {
            return Ok((None, account));
        };
        let found = self.agreement(&link.agreement_id).await?.map(|a| (link, a));
        Ok((found, account))
    }

    /// An agreement and R9's mismatch counter for it, in one read.
    pub async fn agreement_and_mismatches(
        &self,
        id: &AgreementId,
    ) -> Result<(Option<Agreement>, Option<Mismatches>), StoreError> {
        self.get_pair(keys::agreement(id), keys::lockout(id)).await
    }

    /// Two items of any kinds in one read.
    async fn get_pair<A: DeserializeOwned, B: DeserializeOwned>(
        &self,
        a: Key,
        b: Key,
    ) -> Result<(Option<A>, Option<B>), StoreError> {
        let mut got = self.batch_get(&[a, b]).await?.into_iter();
        let a = got.next().flatten().map(decode::<A>).transpose()?;
        let b = got.next().flatten().map(decode::<B>).transpose()?;
        Ok((a, b))
    }

    pub async fn idempotency(
        &self,
        hash_hex: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get_as(&keys::idempotency(hash_hex)).await
    }
}

/// A timestamp as stored in sort keys: fixed width, so text order is time order.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::SkuCounts;
    use vls_domain::catalog::Sku;

    fn account(relied_on: SkuCounts) -> Account {
        Account {
            id: AccountId::generate(),
            name: "Contoso".into(),
            domain: "contoso.com".into(),
            online_services: vec![],
            relied_on,
            volume: Default::default(),
            direct: Default::default(),
            created_at: chrono::Utc::now(),
            version: 1,
        }
    }

    /// R11's `relied_on` is a map keyed by SKU code, absent while nothing is relied on (the
    /// condition a reservation cancel checks without a read).
    #[test]
    fn relied_on_round_trips_through_the_table_encoding() {
        let acc = account(
            [(Sku::SalesProfessional, 50), (Sku::AdditionalStorageGb, 5)]
                .into_iter()
                .collect(),
        );
        let item: Item = serde_dynamo::to_item(&acc).expect("encodes");
        let relied = item["relied_on"].as_m().expect("a map");
        assert_eq!(
            relied["d365-sales-professional"].as_n().map(String::as_str),
            Ok("50")
        );
        let back: Account = serde_dynamo::from_item(item).expect("decodes");
        assert_eq!(back, acc);
        let bare: Item = serde_dynamo::to_item(account(SkuCounts::new())).expect("encodes");
        assert!(
            !bare.contains_key("relied_on"),
            "absent while nothing is relied on"
        );
    }
}
