//! Service requests (R18): in their account's partition, listed there in the order they were
//! opened (LSI1), and in Billing Support's queue (GSI1, sparse) while open or in progress.

use vls_domain::model::{Account, ServiceRequest};

use crate::keys;
use crate::types::{AccountId, ServiceRequestId};
use crate::{Item, ListAt, Page, Store, StoreError, decode, s};

impl Store {
    pub async fn service_request(
        &self,
        id: &ServiceRequestId,
    ) -> Result<Option<ServiceRequest>, StoreError> {
        self.get_as(&keys::service_request(id)).await
    }

    /// A request and its account, in one read (its id names the account).
    pub async fn account_and_service_request(
        &self,
        id: &ServiceRequestId,
    ) -> Result<(Option<Account>, Option<ServiceRequest>), StoreError> {
        let account = keys::account(&id.account());
        self.get_pair(account, keys::service_request(id)).await
    }

    /// A page of Billing Support's queue (the requests open or in progress, oldest first, or
    /// the reverse), after the position `after` (a queue key); one query of the sparse index
    /// and one read of the requests it names.
    pub async fn service_request_queue_page(
        &self,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<ServiceRequest>, StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .scan_index_forward(!descending)
            .expression_attribute_values(":q", s(keys::SERVICE_REQUEST_QUEUE))
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX));
        q = match after {
            None => q.key_condition_expression("gsi1pk = :q"),
            Some(a) => q
                .key_condition_expression(if descending {
                    "gsi1pk = :q AND gsi1sk < :after"
                } else {
                    "gsi1pk = :q AND gsi1sk > :after"
                })
                .expression_attribute_values(":after", s(a)),
        };
        let out = q.send().await.map_err(|e| {
            StoreError::unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))
        })?;
        let mut entries: Vec<(String, ServiceRequestId)> = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| {
                let position = item.get(keys::GSI1_SK)?.as_s().ok()?.clone();
                let sk = item.get(keys::SK)?.as_s().ok()?;
                let id = ServiceRequestId::parse(sk.strip_prefix(keys::SERVICE_REQUEST_PREFIX)?)?;
                Some((position, id))
            })
            .collect();
        let more = entries.len() > limit;
        entries.truncate(limit);
        let next = more
            .then(|| entries.last().map(|(p, _)| p.clone()))
            .flatten();
        let wanted: Vec<_> = entries
            .iter()
            .map(|(_, id)| keys::service_request(id))
            .collect();
        let mut items = Vec::with_capacity(wanted.len());
        if !wanted.is_empty() {
            for item in self.batch_get(&wanted).await?.into_iter().flatten() {
                items.push(decode::<ServiceRequest>(item)?);
            }
        }
        Ok(Page { items, next })
    }

    /// A page of an account's service requests, in the order they were opened (or the
    /// reverse).
    pub async fn service_requests_page(
        &self,
        account: &AccountId,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Page<ServiceRequest>, StoreError> {
        let at = ListAt::in_account(account, keys::SERVICE_REQUEST_PREFIX);
        Self::decoded(self.page(&at, after, limit, descending).await?)
    }

    /// Billing Support's queue: the ids of up to `limit` requests open or in progress, oldest
    /// first, from `start` (the previous page's end) on, and where the next page starts.
    pub async fn queued_service_requests(
        &self,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<ServiceRequestId>, Option<Item>), StoreError> {
        let id_of = |item: &Item| {
            let sk = item.get(keys::SK)?.as_s().ok()?;
            ServiceRequestId::parse(sk.strip_prefix(keys::SERVICE_REQUEST_PREFIX)?)
        };
        let queue = keys::SERVICE_REQUEST_QUEUE;
        self.index_ids(queue, "~", Some(limit), start, id_of).await
    }
}
