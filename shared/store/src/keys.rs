//! The single-table layout, in one place. Every item has `pk`, `sk` and `type`.
//!
//! | pk                       | sk              | item (type)                                     |
//! |--------------------------|-----------------|-------------------------------------------------|
//! | `PARTNER#<partner_id>`   | `PARTNER`       | partner: name, contact, endpoints, version      |
//! | `PARTNER#<partner_id>`   | `EP#<we>`       | webhook endpoint (sealed secrets); in LSI1      |
//! | `ACCOUNT#<acc>`          | `A`             | account: …, volume per SKU, version             |
//! | `ACCOUNT#<acc>`          | `SRC#D#<sub>`   | pool source: an active direct subscription      |
//! | `ACCOUNT#<acc>`          | `SRC#A#<agr>`   | pool source: an associated agreement's volume   |
//! | `ACCOUNT#<acc>`          | `SUB#<sub>`     | direct subscription                             |
//! | `ACCOUNT#<acc>`          | `SRQ#<srq>`     | service request (R18); in LSI1; in GSI1 if open |
//! | `SUBREF#<sub>`           | `SUBREF`        | which account a subscription is on (R4 by id)   |
//! | `AGREEMENT#<agr>`        | `A`             | agreement, version; in GSI1 (due anniversaries) |
//! | `AGREEMENT#<agr>`        | `O#<ord>`       | order (source order or true_up); in LSI1        |
//! | `AGREEMENT#<agr>`        | `R#<res>`       | reservation; in LSI1                            |
//! | `CUSTOMER#<number>`      | `CUSTOMER`      | the customer's billing month-day (R2)           |
//! | `EVENTS#AGREEMENT#<agr>` | `E#<ver>#<n>`   | audit event (R17), in commit order (below)      |
//! | `EVENTS#ACCOUNT#<acc>`   | `E#<ver>#<n>`   | audit event                                     |
//! | `EVENTS#PARTNER#<id>`    | `E#<ver>#<n>`   | audit event                                     |
//! | `MAIL#<mail>`            | `MAIL`          | outbox mail intent; in GSI1 while pending       |
//! | `IDEMPOTENCY#<sha256>`   | `IDEMPOTENCY`   | stored first response; `expires_at` TTL         |
//! | `LINK#<sha256 of token>` | `LINK`          | activation link (R8): only the token's hash     |
//! | `TRUEUP#<agr>`           | `<anniversary>` | marker: this anniversary is billed (R14, once)  |
//! | `LOCKOUT#<agr>`          | `LOCKOUT`       | R9 mismatch counter; `expires_at` TTL           |
//! | `EVT#<evt>`              | `EVT`           | partner event; in GSI1 until sequenced          |
//! | `FEED#<partner>`         | `S#<sequence>`  | a partner's sequenced event (its body)          |
//! | `FEED#<partner>`         | `MARK`          | the partner's last sequence                     |
//! | `HOOK#<we>`              | `D#<dlv>`       | a delivery and its attempts; in GSI1 if pending |
//! | `HOOK#<we>`              | `REPLAY`        | the endpoint's replay in progress (in GSI1)     |
//! | `HOOK#<we>`              | `SENDER`        | the sender working its deliveries now (TTL)     |
//! | `HOOK#<we>`              | `TESTS#<minute>`| test events sent that minute (TTL)              |
//! | `PSESSION#<sha256 of id>`| `PSESSION`      | a person's session on the customer's pages (TTL)|
//!
//! An order's and a reservation's id names its agreement (`ord_<agreement>_<own>`), so one
//! read finds it with its agreement; nothing else points at it.
//!
//! An agreement's partition holds the agreement and everything that follows it (orders,
//! reservations), so licences follow the agreement: a remap rewrites the agreement and the
//! two accounts, never its orders.
//!
//! An agreement's and an account's events are keyed by the version their owner was written
//! at in the same transaction (20 digits) and their place among that transaction's events on
//! the trail (3 digits): every transaction that writes a trail writes its owner under the
//! version it read, so the keys grow in commit order and a page read by key never has an
//! event added behind it. A partner's trail is keyed by the partner's version the same way.
//!
//! LSI1 (`lsi1sk`, all attributes, strongly consistent): an agreement's orders (`O#<seq>`) and
//! reservations (`R#<seq>`) by the agreement's version when each was created (its `sequence`,
//! 20 digits), so their lists are read a page at a time in commit order, like the trails; an
//! account's subscriptions (`SUB#<seq>`) and pool sources (`SRC#<seq>#<D|A>#<id>`) by the
//! account's version when each was bought or joined the pool.
//!
//! GSI1 (`gsi1pk`, `gsi1sk`, keys only on the items that carry them — sparse):
//! - agreements: `gsi1pk = DUE#<shard>` (16 shards by agreement id), `gsi1sk =
//!   <anniversary>#<agr>`. The true-up job queries every shard with `gsi1sk <= <today>~`
//!   and so reads only agreements that are due.
//! - pending mail intents: `gsi1pk = OUTBOX#<shard>` (8 shards by mail id), `gsi1sk = <due
//!   at>#<mail>` (created, or the next retry after a failure); removed when the mail is sent or
//!   given up, so the sweep reads only what is pending and due.
//! - partner events not yet sequenced: `gsi1pk = UNSEQ#<shard>` (8 shards by event id),
//!   `gsi1sk = <occurred at>#<evt>`; removed when the dispatcher sequences the event, so the
//!   sweep reads only what the stream's dispatcher has not done; then, if an endpoint takes
//!   it, `FANOUT#<shard>` until its deliveries are made.
//! - pending deliveries: `gsi1pk = DLVDUE#<shard>` (8 shards by endpoint), `gsi1sk = <due
//!   at>#<dlv>`, until they succeed, fail or are cancelled.
//! - replays in progress: `gsi1pk = REPLAYS` (one partition: they are few), `gsi1sk = <asked
//!   at>#<we>`, until the dispatcher's steps reach its end.
//!
//! The index projects keys only: the listings take ids from `pk` and read the items
//! themselves (strongly consistent), so the index stores and writes nothing else.
//!
//! The table's stream (NEW_IMAGE) feeds the mailer; `expires_at` is the TTL attribute.

use chrono::NaiveDate;

use crate::sources::SourceKind;
use crate::types::{
    AccountId, AgreementId, DeliveryId, EndpointId, EventId, MailId, OrderId, PartnerId,
    ReservationId, ServiceRequestId, SubscriptionId,
};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const LSI1: &str = "lsi1";
pub const LSI1_SK: &str = "lsi1sk";
pub const TTL_ATTR: &str = "expires_at";
pub const VERSION: &str = "version";

/// Sort key of an account's or an agreement's own item.
pub const META: &str = "A";
/// Index partitions the due agreements and the pending mail are spread over: each takes about
/// 1,000 writes a second, and a write to the index throttles the table when its partition
/// does. 16 due shards take a million agreements due on one date; 8 outbox shards take the
/// three or four writes of each mail at SES's highest sending rates. Raising either only adds
/// partitions that the readers query (every item stays findable); lowering one strands items.
pub const DUE_SHARDS: u32 = 16;
pub const OUTBOX_SHARDS: u32 = 8;
/// Events not yet sequenced are spread as the outbox is: each change that a partner hears of
/// writes one, and a true-up day writes one per agreement billed.
pub const UNSEQUENCED_SHARDS: u32 = 8;
/// Pending deliveries, by endpoint: each delivery writes the index when made, retried and done.
pub const DELIVERY_SHARDS: u32 = 8;

pub type Key = (String, String);

/// A partner's webhook endpoint, in its partner's partition.
pub fn endpoint(partner: &PartnerId, id: &EndpointId) -> Key {
    (partner_pk(partner), format!("{ENDPOINT_PREFIX}{id}"))
}

pub const ENDPOINT_PREFIX: &str = "EP#";

/// An endpoint's place in LSI1 (its partner's endpoints, in the order they were created).
pub fn endpoint_position(sequence: u64) -> String {
    format!("{ENDPOINT_PREFIX}{sequence:020}")
}

pub fn partner_pk(id: &PartnerId) -> String {
    format!("PARTNER#{id}")
}

pub fn partner(id: &PartnerId) -> Key {
    (partner_pk(id), "PARTNER".into())
}

pub fn account(id: &AccountId) -> Key {
    (account_pk(id), META.into())
}

pub fn account_pk(id: &AccountId) -> String {
    format!("ACCOUNT#{id}")
}

pub fn subscription(account: &AccountId, id: &SubscriptionId) -> Key {
    (account_pk(account), format!("SUB#{id}"))
}

pub const SUBSCRIPTION_PREFIX: &str = "SUB#";

/// A service request, in its account's partition (its id names the account).
pub fn service_request(id: &ServiceRequestId) -> Key {
    (
        account_pk(&id.account()),
        format!("{SERVICE_REQUEST_PREFIX}{id}"),
    )
}

pub const SERVICE_REQUEST_PREFIX: &str = "SRQ#";

/// A service request's place among its account's (LSI1): the account's version it was
/// opened at.
pub fn service_request_position(sequence: u64) -> String {
    format!("{SERVICE_REQUEST_PREFIX}{sequence:020}")
}

/// GSI1 keys of a service request open or in progress: Billing Support's queue (one
/// partition: requests are few), oldest first.
pub fn service_request_queued(opened_at: &str, id: &ServiceRequestId) -> Key {
    (SERVICE_REQUEST_QUEUE.into(), format!("{opened_at}#{id}"))
}

pub const SERVICE_REQUEST_QUEUE: &str = "SRQUEUE";
/// Sorts after the account's own item (`A`) and before its subscriptions (`SUB#`).
pub const SOURCE_PREFIX: &str = "SRC#";

/// A pool source's item: `SRC#D#<subscription>` or `SRC#A#<agreement>`.
pub fn source(account: &AccountId, kind: SourceKind, id: &str) -> Key {
    (
        account_pk(account),
        format!("{SOURCE_PREFIX}{}#{id}", source_code(kind)),
    )
}

fn source_code(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Direct => "D",
        SourceKind::Agreement => "A",
    }
}

pub fn subscription_ref(id: &SubscriptionId) -> Key {
    (format!("SUBREF#{id}"), "SUBREF".into())
}

pub fn agreement_pk(id: &AgreementId) -> String {
    format!("{AGREEMENT_PREFIX}{id}")
}

pub fn agreement(id: &AgreementId) -> Key {
    (agreement_pk(id), META.into())
}

pub fn order(agreement: &AgreementId, id: &OrderId) -> Key {
    (agreement_pk(agreement), format!("{ORDER_PREFIX}{id}"))
}

pub const ORDER_PREFIX: &str = "O#";
pub const RESERVATION_PREFIX: &str = "R#";

pub fn reservation(agreement: &AgreementId, id: &ReservationId) -> Key {
    (agreement_pk(agreement), format!("{RESERVATION_PREFIX}{id}"))
}

pub fn customer(number: &crate::types::CustomerNumber) -> Key {
    (format!("CUSTOMER#{number}"), "CUSTOMER".into())
}

pub fn agreement_events(id: &AgreementId) -> String {
    format!("EVENTS#AGREEMENT#{id}")
}

pub fn account_events(id: &AccountId) -> String {
    format!("EVENTS#ACCOUNT#{id}")
}

pub const EVENT_PREFIX: &str = "E#";

/// An event's sort key in a sequenced trail: its owner's version, its place in the
/// transaction.
pub fn event_position(version: u64, n: u32) -> String {
    format!("{EVENT_PREFIX}{version:020}#{n:03}")
}

/// An order's place in LSI1 (its agreement's orders, in commit order).
pub fn order_position(sequence: u64) -> String {
    format!("{ORDER_PREFIX}{sequence:020}")
}

/// A reservation's place in LSI1.
pub fn reservation_position(sequence: u64) -> String {
    format!("{RESERVATION_PREFIX}{sequence:020}")
}

/// A pool source's place in LSI1 (its account's sources, in the order they joined): the
/// account's version then, and the source itself (each join moves the account's version on,
/// so the version alone is unique; the source makes the key say what it is).
pub fn source_position(joined: u64, kind: SourceKind, id: &str) -> String {
    format!("{SOURCE_PREFIX}{joined:020}#{}#{id}", source_code(kind))
}

/// A direct subscription's place in LSI1 (its account's subscriptions, in commit order).
pub fn subscription_position(sequence: u64) -> String {
    format!("{SUBSCRIPTION_PREFIX}{sequence:020}")
}

pub fn partner_events(id: &PartnerId) -> String {
    format!("EVENTS#PARTNER#{id}")
}

pub fn mail(id: &MailId) -> Key {
    (format!("{MAIL_PREFIX}{id}"), "MAIL".into())
}

pub fn idempotency(hash_hex: &str) -> Key {
    (format!("IDEMPOTENCY#{hash_hex}"), "IDEMPOTENCY".into())
}

/// A stable shard of an id among `shards`.
fn shard_of(id: &str, shards: u32) -> u32 {
    id.bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % shards
}

/// GSI1 keys of an agreement: its due shard and anniversary.
pub fn due(id: &AgreementId, anniversary: NaiveDate) -> Key {
    let shard = shard_of(id.as_str(), DUE_SHARDS);
    (format!("DUE#{shard}"), format!("{anniversary}#{id}"))
}

/// GSI1 keys of a pending mail intent: its outbox shard and when it is due.
pub fn outbox(id: &MailId, due: &str) -> Key {
    let shard = shard_of(id.as_str(), OUTBOX_SHARDS);
    (format!("{OUTBOX}#{shard}"), format!("{due}#{id}"))
}

/// Every shard of the outbox index, in the order a sweep reads them.
pub fn outbox_shards() -> impl Iterator<Item = String> {
    (0..OUTBOX_SHARDS).map(|s| format!("{OUTBOX}#{s}"))
}

pub const OUTBOX: &str = "OUTBOX";

/// Partition key prefixes of the items the GSI1 listings name by their keys alone.
pub const MAIL_PREFIX: &str = "MAIL#";
pub const AGREEMENT_PREFIX: &str = "AGREEMENT#";

pub fn activation_link(token_hash: &str) -> Key {
    (format!("LINK#{token_hash}"), "LINK".into())
}

pub fn true_up(agreement: &AgreementId, anniversary: NaiveDate) -> Key {
    (format!("TRUEUP#{agreement}"), anniversary.to_string())
}

/// The GSI1 partition of `DUE#` shard `n` (of [`DUE_SHARDS`]).
pub fn due_shard(n: u32) -> String {
    format!("DUE#{}", n % DUE_SHARDS)
}

/// A partner event (SPEC §6), by its id alone: written by its change, sequenced after.
pub fn partner_event(id: &EventId) -> Key {
    (format!("{EVENT_ITEM_PREFIX}{id}"), "EVT".into())
}

pub const EVENT_ITEM_PREFIX: &str = "EVT#";

/// A partner's events in sequence order, and its sequence so far (the `MARK` item, which
/// sorts after every position).
pub fn feed(partner: &PartnerId) -> String {
    format!("FEED#{partner}")
}

pub const FEED_PREFIX: &str = "S#";

/// A sequenced event's place in its partner's feed.
pub fn feed_position(sequence: u64) -> String {
    format!("{FEED_PREFIX}{sequence:020}")
}

pub fn feed_mark(partner: &PartnerId) -> Key {
    (feed(partner), "MARK".into())
}

/// GSI1 keys of an event not yet sequenced: its shard and when it happened.
pub fn unsequenced(id: &EventId, at: &str) -> Key {
    let shard = shard_of(id.as_str(), UNSEQUENCED_SHARDS);
    (format!("{UNSEQUENCED}#{shard}"), format!("{at}#{id}"))
}

/// Every shard of the unsequenced events' index.
pub fn unsequenced_shards() -> impl Iterator<Item = String> {
    (0..UNSEQUENCED_SHARDS).map(|s| format!("{UNSEQUENCED}#{s}"))
}

pub const UNSEQUENCED: &str = "UNSEQ";

/// GSI1 keys of an event sequenced but not yet given its deliveries: its shard and when it
/// happened.
pub fn unfanned(id: &EventId, at: &str) -> Key {
    let shard = shard_of(id.as_str(), UNSEQUENCED_SHARDS);
    (format!("{FANOUT}#{shard}"), format!("{at}#{id}"))
}

/// Every shard of the index of events not yet given their deliveries.
pub fn unfanned_shards() -> impl Iterator<Item = String> {
    (0..UNSEQUENCED_SHARDS).map(|s| format!("{FANOUT}#{s}"))
}

pub const FANOUT: &str = "FANOUT";

/// An endpoint's deliveries, in its own partition (one endpoint's traffic never shares a
/// partition with another's).
pub fn deliveries(endpoint: &EndpointId) -> String {
    format!("{DELIVERIES_PREFIX}{endpoint}")
}

pub const DELIVERIES_PREFIX: &str = "HOOK#";
pub const DELIVERY_PREFIX: &str = "D#";

pub fn delivery(endpoint: &EndpointId, id: &DeliveryId) -> Key {
    (deliveries(endpoint), format!("{DELIVERY_PREFIX}{id}"))
}

/// GSI1 keys of a pending delivery: its shard (by endpoint) and when it is due.
pub fn delivery_due(endpoint: &EndpointId, id: &DeliveryId, due: &str) -> Key {
    let shard = shard_of(endpoint.as_str(), DELIVERY_SHARDS);
    (format!("{DELIVERY_DUE}#{shard}"), format!("{due}#{id}"))
}

/// Every shard of the due deliveries' index.
pub fn delivery_due_shards() -> impl Iterator<Item = String> {
    (0..DELIVERY_SHARDS).map(|s| format!("{DELIVERY_DUE}#{s}"))
}

pub const DELIVERY_DUE: &str = "DLVDUE";

/// An endpoint's replay in progress (one at a time), beside its deliveries.
pub fn replay(endpoint: &EndpointId) -> Key {
    (deliveries(endpoint), "REPLAY".into())
}

/// GSI1 keys of a replay in progress: one partition (replays are few), by when it was asked.
pub fn replay_waiting(endpoint: &EndpointId, at: &str) -> Key {
    (REPLAYS.into(), format!("{at}#{endpoint}"))
}

pub const REPLAYS: &str = "REPLAYS";

/// Which sender works an endpoint's deliveries now (one at a time), and until when.
pub fn endpoint_sender(endpoint: &EndpointId) -> Key {
    (deliveries(endpoint), "SENDER".into())
}

/// A session of the customer's pages, by the SHA-256 (hex) of its id.
pub fn portal_session(hash: &str) -> Key {
    (format!("PSESSION#{hash}"), "PSESSION".into())
}

/// The count of test events sent to an endpoint in one minute (since the epoch).
pub fn tests_sent(endpoint: &EndpointId, minute: i64) -> Key {
    (deliveries(endpoint), format!("TESTS#{minute}"))
}

pub fn lockout(agreement: &AgreementId) -> Key {
    (format!("LOCKOUT#{agreement}"), "LOCKOUT".into())
}
