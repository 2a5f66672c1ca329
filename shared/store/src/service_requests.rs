//! Service requests (R18): in their account's partition, listed there in the order they were
//! opened (LSI1), and in Billing Support's queue (GSI1, sparse) while open or in progress.

use vls_domain::model::ServiceRequest;

use crate::keys;
use crate::types::{AccountId, ServiceRequestId};
use crate::{Item, ListAt, Page, Store, StoreError};

impl Store {
    pub async fn service_request(
        &self,
        id: &ServiceRequestId,
    ) -> Result<Option<ServiceRequest>, StoreError> {
        self.get_as(&keys::service_request(id)).await
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
