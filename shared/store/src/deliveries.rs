//! Deliveries (SPEC §6.5, §6.7): once an event is sequenced, one delivery for each of its
//! partner's enabled endpoints that wants its type, in the endpoint's own partition. Making
//! them is idempotent (a delivery's id is its event's), so a fan-out that stopped half-way is
//! simply made again: the event waits in the fan-out index until every delivery is made.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use vls_domain::model::{Delivery, EndpointStatus, Partner, Replay, WebhookEndpoint};
use vls_domain::notices::PartnerEvent;
use vls_domain::rules::deliveries::Due;

use crate::keys;
use crate::types::{DeliveryId, EndpointId, EventId, PartnerId};
use crate::{Page, Store, StoreError, Stored, key_map};

/// What [`Store::replay_context`] read.
#[derive(Debug, Clone)]
pub struct ReplayContext {
    pub partner: Option<Partner>,
    pub endpoint: Option<WebhookEndpoint>,
    pub replay: Option<Replay>,
    pub mark: u64,
}

impl Store {
    /// Every endpoint of `partner`'s (at most ten).
    pub async fn endpoints(&self, partner: &PartnerId) -> Result<Vec<WebhookEndpoint>, StoreError> {
        Ok(self.endpoints_page(partner, None, 100, false).await?.items)
    }

    /// The deliveries of `events` (sequenced, of any partners) to the endpoints that want
    /// them, made if not made yet; then each event leaves the fan-out index. A partner's
    /// endpoints are those `read` holds for it, else read now. Answers the deliveries made now
    /// (those made before are the sweep's, if their message was lost).
    pub async fn fan_out(
        &self,
        events: &[PartnerEvent],
        read: &HashMap<PartnerId, Vec<WebhookEndpoint>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Due>, StoreError> {
        let mut made = Vec::new();
        let mut partners: Vec<&PartnerId> = events.iter().map(|e| &e.partner_id).collect();
        partners.sort();
        partners.dedup();
        for partner in partners {
            let read_now;
            let endpoints = match read.get(partner) {
                Some(endpoints) => endpoints,
                None => {
                    read_now = self.endpoints(partner).await?;
                    &read_now
                }
            };
            for event in events.iter().filter(|e| &e.partner_id == partner) {
                for endpoint in endpoints
                    .iter()
                    .filter(|e| e.status == EndpointStatus::Enabled && e.wants(&event.kind))
                {
                    let delivery =
                        Delivery::of((&event.id, &event.kind, event.sequence), endpoint, now);
                    if self.make_delivery(&delivery).await? {
                        made.push(Due::of(&delivery));
                    }
                }
                self.fanned_out(&event.id).await?;
            }
        }
        Ok(made)
    }

    /// Writes a new delivery; `false` if it was made already.
    async fn make_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        let sent = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(delivery.item()?))
            .condition_expression("attribute_not_exists(pk)")
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

    /// Takes `endpoint`'s deliveries for the sender `holder` until `until`, unless another
    /// sender holds them now (`false`): an endpoint is worked by one sender at a time, so its
    /// attempts in flight are that sender's (at most four) and a stall holds one sender only.
    pub async fn hold_endpoint(
        &self,
        endpoint: &EndpointId,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let ms = |t: DateTime<Utc>| AttributeValue::N(t.timestamp_millis().to_string());
        let ttl = AttributeValue::N((until + chrono::Duration::days(1)).timestamp().to_string());
        let sent = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key_map(&keys::endpoint_sender(endpoint))))
            .update_expression("SET holder = :me, held_until = :until, #ttl = :ttl")
            .condition_expression("attribute_not_exists(pk) OR held_until < :now OR holder = :me")
            .expression_attribute_names("#ttl", keys::TTL_ATTR)
            .expression_attribute_values(":me", AttributeValue::S(holder.to_owned()))
            .expression_attribute_values(":until", ms(until))
            .expression_attribute_values(":now", ms(now))
            .expression_attribute_values(":ttl", ttl)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(StoreError::unavailable(DisplayErrorContext(other))),
            },
        }
    }

    /// Lets `endpoint`'s deliveries go, if `holder` still holds them.
    pub async fn release_endpoint(
        &self,
        endpoint: &EndpointId,
        holder: &str,
    ) -> Result<(), StoreError> {
        let sent = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key_map(&keys::endpoint_sender(endpoint))))
            .update_expression("SET held_until = :zero")
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", AttributeValue::S(holder.to_owned()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(()),
                other => Err(StoreError::unavailable(DisplayErrorContext(other))),
            },
        }
    }

    /// The event leaves the fan-out index (its deliveries are made).
    async fn fanned_out(&self, id: &EventId) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key_map(&keys::partner_event(id))))
            .update_expression("REMOVE gsi1pk, gsi1sk")
            .condition_expression("attribute_exists(#seq)")
            .expression_attribute_names("#seq", "sequence")
            .send()
            .await
            .map_err(|e| StoreError::unavailable(DisplayErrorContext(e)))?;
        Ok(())
    }

    /// Ids of events sequenced at or before `before` whose deliveries are not all made, a page
    /// per shard of the fan-out index (the sweep's read).
    pub async fn unfanned(
        &self,
        before: DateTime<Utc>,
        per_shard: i32,
    ) -> Result<Vec<EventId>, StoreError> {
        let shards = keys::unfanned_shards();
        self.due_in_shards(shards, before, per_shard, Self::event_id)
            .await
    }

    /// What a replay is asked against, in one read: the partner, its endpoint, the endpoint's
    /// replay in progress and the partner's mark (its last sequence listed, 0 before any).
    pub async fn replay_context(
        &self,
        partner: &PartnerId,
        endpoint: &EndpointId,
    ) -> Result<ReplayContext, StoreError> {
        let wanted = [
            keys::partner(partner),
            keys::endpoint(partner, endpoint),
            keys::replay(endpoint),
            keys::feed_mark(partner),
        ];
        let mut found = self.batch_get(&wanted).await?.into_iter();
        let mut next = || found.next().flatten();
        let partner = next().map(crate::decode).transpose()?;
        let endpoint = next().map(crate::decode).transpose()?;
        let replay = next().map(crate::decode).transpose()?;
        let mark = next()
            .and_then(|i| i.get("last")?.as_n().ok()?.parse().ok())
            .unwrap_or(0);
        Ok(ReplayContext {
            partner,
            endpoint,
            replay,
            mark,
        })
    }

    /// The endpoint's replay in progress, if any.
    pub async fn replay(&self, endpoint: &EndpointId) -> Result<Option<Replay>, StoreError> {
        self.get_as(&keys::replay(endpoint)).await
    }

    /// Replays in progress asked for at or before `before`, oldest first, at most `limit`
    /// (the sweep's read), by endpoint.
    pub async fn replays_waiting(
        &self,
        before: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<EndpointId>, StoreError> {
        let shard = std::iter::once(keys::REPLAYS.to_owned());
        self.due_in_shards(shard, before, limit, |item| {
            EndpointId::parse(&crate::id_from_pk(item, keys::DELIVERIES_PREFIX)?)
        })
        .await
    }

    /// Test events sent to the endpoint in `minute` (since the epoch) so far.
    pub async fn tests_sent(&self, endpoint: &EndpointId, minute: i64) -> Result<u32, StoreError> {
        let item = self.get(&keys::tests_sent(endpoint, minute)).await?;
        let count = item
            .as_ref()
            .and_then(|i| i.get("count")?.as_n().ok()?.parse::<u32>().ok());
        Ok(count.unwrap_or(0))
    }

    pub async fn delivery(
        &self,
        endpoint: &EndpointId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        self.get_as(&keys::delivery(endpoint, id)).await
    }

    /// Deliveries pending and due at `now`, a page per shard of the due index, by endpoint
    /// and id (from the index's keys alone).
    pub async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        per_shard: i32,
    ) -> Result<Vec<(EndpointId, DeliveryId)>, StoreError> {
        let shards = keys::delivery_due_shards();
        self.due_in_shards(shards, now, per_shard, |item| {
            let endpoint = crate::id_from_pk(item, keys::DELIVERIES_PREFIX)?;
            let sk = item.get(keys::SK)?.as_s().ok()?;
            let id = DeliveryId::parse(sk.strip_prefix(keys::DELIVERY_PREFIX)?)?;
            Some((EndpointId::parse(&endpoint)?, id))
        })
        .await
    }

    /// A page of an endpoint's deliveries, oldest first (by when their event happened).
    pub async fn deliveries_page(
        &self,
        endpoint: &EndpointId,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<Delivery>, StoreError> {
        let at = crate::ListAt {
            pk: keys::deliveries(endpoint),
            index: None,
            sort: keys::SK,
            prefix: keys::DELIVERY_PREFIX,
        };
        Self::decoded(self.page(&at, after, limit, descending).await?)
    }
}
