//! R18: a customer's administrator asks Billing Support to cancel a direct subscription R11
//! refuses; Billing Support acknowledges or declines it; the administrator may withdraw it.

use vls_domain::access;
use vls_domain::model::ServiceRequest;
use vls_domain::rules::service_requests;
use vls_domain::rules::service_requests::Ask;
use vls_domain::types::{AccountId, ServiceRequestId, SubscriptionId};
use vls_domain::views::ServiceRequestView;
use vls_http::idempotency::mutate_keyed;
use vls_http::{Answer, Ctx, Principal, Problem, Reply};
use vls_store::Store;

use crate::By;

/// The request `id` names, if the caller may see it: Billing Support, or the administrator of
/// its account (404 otherwise, as for one that never existed).
pub fn visible_request(
    p: &Principal,
    id: Option<ServiceRequestId>,
) -> Result<ServiceRequestId, Problem> {
    id.filter(|id| access::account_visible(p, &id.account()))
        .ok_or_else(|| Problem::not_found("service request"))
}

/// The request as the JSON routes answer it.
pub fn shown(r: &ServiceRequest) -> Reply {
    Reply::ok(&ServiceRequestView::from(r)).with_etag()
}

/// Opens a request for the subscription of the account (R18's checks in their order): 201
/// with the request and its `Location`.
pub async fn open(
    store: &Store,
    ctx: &Ctx,
    by: &By<'_>,
    (account_id, sub_id): (&AccountId, &SubscriptionId),
    ask: &Ask,
) -> Answer {
    let id = &ServiceRequestId::generate(account_id);
    let actor = &by.principal.actor();
    mutate_keyed(store, ctx, by.key.clone(), move || async move {
        let names = (Some(account_id.clone()), sub_id);
        let (account, sub) =
            crate::cancellation::account_and_subscription(store, by.principal, names).await?;
        let volume = account.volume.clone();
        let made = service_requests::open(
            &account,
            &sub,
            &volume,
            ask.clone(),
            (id.clone(), actor),
            ctx.now,
        )?;
        let location = format!("/service-requests/{}", made.outcome.id);
        let reply = Reply::created(&ServiceRequestView::from(&made.outcome), location).with_etag();
        Ok(by.planned(reply, made.change))
    })
    .await
}

/// How a request is closed: declined by Billing Support with a note the customer sees, or
/// withdrawn by its administrator.
#[derive(Clone, Debug)]
pub enum Closing {
    Decline { note: String },
    Withdraw,
}

/// Closes the request (409 `service_request_closed` if it already is).
pub async fn close(
    store: &Store,
    ctx: &Ctx,
    by: &By<'_>,
    id: &ServiceRequestId,
    how: &Closing,
) -> Answer {
    let actor = &by.principal.actor();
    mutate_keyed(store, ctx, by.key.clone(), move || async move {
        let (account, r) = store.account_and_service_request(id).await?;
        let (Some(account), Some(r)) = (account, r) else {
            return Err(Problem::not_found("service request"));
        };
        let sub = store
            .subscription(&account.id, &r.subscription_id)
            .await?
            .ok_or_else(|| Problem::not_found("subscription"))?;
        let done = match how {
            Closing::Decline { note } => {
                service_requests::decline(&account, (&r, &sub), (note.clone(), actor), ctx.now)?
            }
            Closing::Withdraw => service_requests::withdraw(&account, (&r, &sub), actor, ctx.now)?,
        };
        Ok(by.planned(shown(&done.outcome), done.change))
    })
    .await
}
