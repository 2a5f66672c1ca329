//! Partner events after their commit (SPEC §6.3–6.4): the dispatcher numbers a partner's new
//! events on from its last sequence, and the catch-up list reads them back in that order.
//!
//! One transaction per batch moves the partner's `MARK` on from the value read, gives each
//! event its sequence and body (only if it has none yet) and writes its place in the feed.
//! The mark is therefore the contiguous high-water mark: it only moves in the transaction that
//! writes every sequence up to it, dispatchers running side by side take turns on it (a lost
//! race reads it again), and a reader that lists only sequences at or below the mark it read
//! (`GetItem`, serialisable) never pages past one not yet written. An event is sequenced once:
//! a second dispatcher holding it (the stream's retry, the sweep) finds it done and drops it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Duration, Utc};
use vls_domain::model::{EndpointStatus, WebhookEndpoint};
use vls_domain::notices::{PartnerEvent, numbered};

use crate::keys;
use crate::types::{EventId, PartnerId};
use crate::{Item, Store, StoreError, Tx, TxFailure, backoff, decode, key_map, s, timestamp};

/// The events one call of [`Store::sequence`] sequenced, each with its sequence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sequenced {
    pub events: Vec<PartnerEvent>,
    /// Those of `events` that some enabled endpoint wants, waiting in the fan-out index for
    /// their deliveries (the others are done once sequenced).
    pub awaiting_deliveries: Vec<PartnerEvent>,
    /// Transactions that lost a race with another dispatcher and were made again.
    pub retries: u32,
    /// Each partner's endpoints as read before its events were sequenced: what decided which
    /// events await deliveries, and what [`Store::fan_out`] makes them for.
    pub endpoints: HashMap<PartnerId, Vec<WebhookEndpoint>>,
}

/// One page of a partner's feed: the bodies in sequence order, and the last sequence read
/// when more may follow.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    pub bodies: Vec<(u64, String)>,
    pub next: Option<u64>,
    /// Whether the first sequence read is the one right after `after`, still kept: the
    /// catch-up has missed nothing.
    pub starts_kept: bool,
}

/// Rounds a partner's sequencing may lose before the call gives up (the sweep comes back).
const ROUNDS: u32 = 64;

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn number(item: &Item, attr: &str) -> Option<u64> {
    item.get(attr)?.as_n().ok()?.parse().ok()
}

fn text<'a>(item: &'a Item, attr: &str) -> Option<&'a str> {
    item.get(attr)?.as_s().ok().map(String::as_str)
}

fn dynamo(e: impl std::fmt::Display) -> StoreError {
    StoreError::unavailable(e)
}

impl Store {
    /// Events by id (those that exist), each as stored.
    pub async fn partner_events(&self, ids: &[EventId]) -> Result<Vec<PartnerEvent>, StoreError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(100) {
            let wanted: Vec<keys::Key> = chunk.iter().map(keys::partner_event).collect();
            for item in self.batch_get(&wanted).await?.into_iter().flatten() {
                found.push(decode(item)?);
            }
        }
        Ok(found)
    }

    /// An event with its body once it is sequenced (`None` before, or if there is none).
    pub async fn sequenced_event(
        &self,
        id: &EventId,
    ) -> Result<Option<(PartnerEvent, String)>, StoreError> {
        let Some(item) = self.get(&keys::partner_event(id)).await? else {
            return Ok(None);
        };
        let Some(body) = text(&item, "body").map(str::to_owned) else {
            return Ok(None);
        };
        Ok(Some((decode(item)?, body)))
    }

    /// Ids of events not yet sequenced that happened at or before `before`, a page per
    /// shard of the index (the sweep's read).
    pub async fn unsequenced(
        &self,
        before: DateTime<Utc>,
        per_shard: i32,
    ) -> Result<Vec<EventId>, StoreError> {
        let shards = keys::unsequenced_shards();
        self.due_in_shards(shards, before, per_shard, Self::event_id)
            .await
    }

    /// The partner's last sequence (0 before its first event).
    pub async fn feed_mark(&self, partner: &PartnerId) -> Result<u64, StoreError> {
        let item = self.get(&keys::feed_mark(partner)).await?;
        Ok(item.as_ref().and_then(|i| number(i, "last")).unwrap_or(0))
    }

    /// Gives `events` (of any partners; those already sequenced are passed over) their
    /// partners' next sequences, kept `retention` from when each happened.
    pub async fn sequence(
        &self,
        events: Vec<PartnerEvent>,
        retention: Duration,
    ) -> Result<Sequenced, StoreError> {
        let mut by_partner: HashMap<PartnerId, Vec<PartnerEvent>> = HashMap::new();
        for e in events.into_iter().filter(|e| e.sequence.is_none()) {
            by_partner.entry(e.partner_id.clone()).or_default().push(e);
        }
        let mut done = Sequenced::default();
        for (partner, pending) in by_partner {
            let one = self.sequence_partner(&partner, pending, retention).await?;
            done.events.extend(one.events);
            done.awaiting_deliveries.extend(one.awaiting_deliveries);
            done.endpoints.extend(one.endpoints);
            done.retries += one.retries;
        }
        Ok(done)
    }

    async fn sequence_partner(
        &self,
        partner: &PartnerId,
        mut pending: Vec<PartnerEvent>,
        retention: Duration,
    ) -> Result<Sequenced, StoreError> {
        let mut done = Sequenced::default();
        // Read once, before any sequence is given: an endpoint created meanwhile receives
        // the events sequenced after it (the earlier ones by a replay).
        let endpoints = self.endpoints(partner).await?;
        done.endpoints.insert(partner.clone(), endpoints.clone());
        let wanted = |e: &PartnerEvent| {
            endpoints
                .iter()
                .any(|x| x.status == EndpointStatus::Enabled && x.wants(&e.kind))
        };
        'rounds: for round in 0..ROUNDS {
            if pending.is_empty() {
                return Ok(done);
            }
            let last = self.feed_mark(partner).await?;
            let mut read = last;
            for (through, batch) in numbered(last, std::mem::take(&mut pending)) {
                let tx = self.sequencing(partner, (read, through), &batch, retention, &wanted);
                match self.commit(tx).await {
                    Ok(()) => {
                        let fan = batch.iter().filter(|e| wanted(e)).cloned();
                        done.awaiting_deliveries.extend(fan);
                        done.events.extend(batch);
                        read = through;
                    }
                    Err(failure) => {
                        // Lost to another dispatcher (the mark moved, or one of these events
                        // is sequenced already): what is still unsequenced is read again.
                        if let TxFailure::Store(e) = failure {
                            return Err(e);
                        }
                        let left: Vec<EventId> = batch.iter().map(|e| e.id.clone()).collect();
                        pending = self.partner_events(&left).await?;
                        pending.retain(|e| e.sequence.is_none());
                        done.retries += 1;
                        tokio::time::sleep(backoff(round)).await;
                        continue 'rounds;
                    }
                }
            }
            return Ok(done);
        }
        Err(StoreError::Unavailable(format!(
            "{partner}'s events not sequenced after {ROUNDS} rounds"
        )))
    }

    /// The transaction that sequences `batch` (numbered `read + 1..=through`); the events
    /// `wanted` by an endpoint wait in the fan-out index.
    fn sequencing(
        &self,
        partner: &PartnerId,
        (read, through): (u64, u64),
        batch: &[PartnerEvent],
        retention: Duration,
        wanted: &dyn Fn(&PartnerEvent) -> bool,
    ) -> Tx {
        let table = self.table().to_owned();
        let mut tx = self.tx();
        let mark = Update::builder()
            .table_name(&table)
            .set_key(Some(key_map(&keys::feed_mark(partner))))
            .update_expression("SET #last = :through")
            .expression_attribute_names("#last", "last")
            .expression_attribute_values(":through", n(through));
        let mark = if read == 0 {
            mark.condition_expression("attribute_not_exists(#last)")
        } else {
            mark.condition_expression("#last = :read")
                .expression_attribute_values(":read", n(read))
        };
        let built = mark
            .build()
            .map(|u| TransactWriteItem::builder().update(u).build())
            .map_err(dynamo);
        tx.push_write("feed_mark", built);
        for event in batch {
            if let Some(sequence) = event.sequence {
                let writes = (sequence, retention, wanted(event));
                let [done, listed] = self.sequenced_writes(partner, event, writes);
                tx.push_write("partner_event", done);
                tx.push_write("feed_event", listed);
            }
        }
        tx
    }

    /// An event given `sequence`: its item (only if it has none yet; it leaves the unsequenced
    /// index, for the fan-out index when an endpoint wants it), and its place in the
    /// partner's feed.
    fn sequenced_writes(
        &self,
        partner: &PartnerId,
        event: &PartnerEvent,
        (sequence, retention, wanted): (u64, Duration, bool),
    ) -> [Result<TransactWriteItem, StoreError>; 2] {
        let body = event.body();
        let expires = AttributeValue::N((event.occurred_at + retention).timestamp().to_string());
        let done = Update::builder()
            .table_name(self.table())
            .set_key(Some(key_map(&keys::partner_event(&event.id))))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#seq)")
            .expression_attribute_names("#seq", "sequence")
            .expression_attribute_names("#ttl", keys::TTL_ATTR)
            .expression_attribute_values(":seq", n(sequence))
            .expression_attribute_values(":body", s(body.clone()))
            .expression_attribute_values(":ttl", expires.clone());
        let done = if wanted {
            let fan = keys::unfanned(&event.id, &timestamp(event.occurred_at));
            done.update_expression(
                "SET #seq = :seq, body = :body, #ttl = :ttl, gsi1pk = :fpk, gsi1sk = :fsk",
            )
            .expression_attribute_values(":fpk", s(fan.0))
            .expression_attribute_values(":fsk", s(fan.1))
        } else {
            done.update_expression(
                "SET #seq = :seq, body = :body, #ttl = :ttl REMOVE gsi1pk, gsi1sk",
            )
        };
        let done = done
            .build()
            .map(|u| TransactWriteItem::builder().update(u).build())
            .map_err(dynamo);
        let mut item = key_map(&(keys::feed(partner), keys::feed_position(sequence)));
        item.insert("type".into(), s("feed_event"));
        item.insert("id".into(), s(event.id.as_str()));
        item.insert("event_type".into(), s(event.kind.as_str()));
        item.insert("sequence".into(), n(sequence));
        item.insert("body".into(), s(body));
        item.insert(keys::TTL_ATTR.into(), expires);
        let listed = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .build()
            .map(|p| TransactWriteItem::builder().put(p).build())
            .map_err(dynamo);
        [done, listed]
    }

    /// A page of `partner`'s feed between sequences `after` and `upto` (`after < s <=
    /// upto`; `upto` at most the mark the caller read first), oldest or newest first, of the
    /// `types` asked (all when empty), not past their retention at `now`. The type filter
    /// applies to the page read, so a page may hold fewer than `limit` and still have a next
    /// one; `next` is the last sequence read.
    pub async fn feed_page(
        &self,
        partner: &PartnerId,
        (after, upto, descending): (u64, u64, bool),
        types: &[String],
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<FeedPage, StoreError> {
        if after >= upto {
            return Ok(FeedPage {
                bodies: Vec::new(),
                next: None,
                starts_kept: false,
            });
        }
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(keys::feed(partner)))
            .expression_attribute_values(":lo", s(keys::feed_position(after + 1)))
            .expression_attribute_values(":hi", s(keys::feed_position(upto)))
            .scan_index_forward(!descending)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| dynamo(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        let items = out.items.unwrap_or_default();
        let kept = |i: &Item| number(i, keys::TTL_ATTR).is_none_or(|t| t > now.timestamp() as u64);
        // Ascending, the first read is the one after `after` if it is still kept.
        let starts_kept = items
            .first()
            .is_some_and(|i| number(i, "sequence") == Some(after + 1) && kept(i));
        let read: Vec<u64> = items.iter().filter_map(|i| number(i, "sequence")).collect();
        let wanted = |i: &Item| {
            types.is_empty() || text(i, "event_type").is_some_and(|t| types.iter().any(|w| w == t))
        };
        let mut bodies: Vec<(u64, String)> = items
            .iter()
            .take(limit)
            .filter(|i| kept(i) && wanted(i))
            .filter_map(|i| Some((number(i, "sequence")?, text(i, "body")?.to_owned())))
            .collect();
        bodies.truncate(limit);
        let cut = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
        let next = if items.len() > limit || cut {
            // Read short (1 MB) or one more than the page: go on from the last one answered.
            read.get(limit.min(read.len()).saturating_sub(1)).copied()
        } else {
            None
        };
        Ok(FeedPage {
            bodies,
            next,
            starts_kept,
        })
    }

    /// The oldest sequence of `partner`'s still within its retention at `now`, if any (the
    /// 410 `events_expired` answer); reads past those expired but not yet removed.
    pub async fn oldest_sequence(
        &self,
        partner: &PartnerId,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        let mut start = None;
        loop {
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND begins_with(sk, :feed)")
                .filter_expression("#ttl > :now")
                .expression_attribute_names("#ttl", keys::TTL_ATTR)
                .expression_attribute_values(":pk", s(keys::feed(partner)))
                .expression_attribute_values(":feed", s(keys::FEED_PREFIX))
                .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()))
                .projection_expression("#seq")
                .expression_attribute_names("#seq", "sequence")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| dynamo(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            if let Some(first) = out.items.unwrap_or_default().first() {
                return Ok(number(first, "sequence"));
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(None),
            }
        }
    }
}
