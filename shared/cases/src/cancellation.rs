//! R11: cancelling a direct subscription of an account, and its preview.

use vls_domain::access;
use vls_domain::error::RuleError;
use vls_domain::metrics::Metric;
use vls_domain::model::{Account, Subscription};
use vls_domain::rules::cancellation::{self, Canceller};
use vls_domain::types::{AccountId, SubscriptionId};
use vls_http::idempotency::mutate_keyed;
use vls_http::metrics::refused;
use vls_http::views::{CancellationView, SubscriptionView};
use vls_http::{Answer, Ctx, Principal, Problem, Reply};
use vls_store::Store;

use crate::By;

/// The account, if the caller may see it (404 otherwise, as for one that never existed).
pub fn visible_account(p: &Principal, id: Option<AccountId>) -> Result<AccountId, Problem> {
    id.filter(|a| access::account_visible(p, a))
        .ok_or_else(|| Problem::not_found("account"))
}

/// The account and its subscription, in one read (the account's volume per SKU is the
/// account's own: R11 needs no other item).
pub async fn account_and_subscription(
    store: &Store,
    p: &Principal,
    (account, subscription): (Option<AccountId>, &SubscriptionId),
) -> Result<(Account, Subscription), Problem> {
    let account_id = visible_account(p, account)?;
    let (account, sub) = store
        .account_and_subscription(&account_id, subscription)
        .await?;
    let account = account.ok_or_else(|| Problem::not_found("account"))?;
    let sub = sub.ok_or_else(|| Problem::not_found("subscription"))?;
    Ok((account, sub))
}

/// What a cancellation asks: why, and whether billing support accepts losing licences.
pub struct Asked<'a> {
    pub reason: &'a str,
    pub accept_license_loss: bool,
}

/// R11: cancels the subscription, refused (409) while it would lose licences unless billing
/// support accepts the loss; the service request it names is resolved in the same
/// transaction (R18). The request is a second read, made only when the subscription names one.
pub async fn cancel(
    store: &Store,
    ctx: &Ctx,
    by: &By<'_>,
    (account, subscription): (&AccountId, &SubscriptionId),
    asked: &Asked<'_>,
) -> Answer {
    let who = Canceller::of(by.principal);
    let answer = mutate_keyed(store, ctx, by.key.clone(), move || async move {
        let names = (Some(account.clone()), subscription);
        let (account, before) = account_and_subscription(store, by.principal, names).await?;
        ctx.precondition(&SubscriptionView::from(&before))?;
        let request = match &before.open_request {
            Some(id) => store.service_request(id).await?,
            None => None,
        };
        let volume = account.volume.clone();
        let wish = (who, asked.accept_license_loss);
        let done =
            cancellation::cancel(&account, &before, &volume, wish, request.as_ref(), ctx.now)?;
        let reply = Reply::ok(&CancellationView {
            subscription_id: &before.id,
            status: done.subscription.status,
            account_id: &account.id,
        });
        Ok(by.planned(reply, done.change.because(asked.reason)))
    })
    .await;
    let refusal = RuleError::CancellationWouldLoseLicenses { shortfalls: vec![] };
    refused(answer, &refusal, Metric::CancellationRefused)
}
