//! `cancellation`: the service request that stops a direct subscription's billing (R11),
//! refused while it would lose licences unless billing support accepts the loss, and its
//! preview; and the customer's service requests to Billing Support for one R11 refuses (R18,
//! `requests`).

mod requests;

use lambda_http::{Body, Request, Response};
use vls_domain::access;
use vls_domain::error::RuleError;
use vls_domain::metrics::Metric;
use vls_domain::model::{Account, Subscription};
use vls_domain::rules::cancellation::{self, Canceller};
use vls_domain::types::SkuCounts;
use vls_http::metrics::refused;
use vls_http::views::{CancellationPreviewView, CancellationView, SubscriptionView};
use vls_http::{
    Access, Answer, Ctx, Params, Planned, Principal, Problem, Reply, Role, Route, mutate, route,
};

use vls_domain::types::{AccountId, SubscriptionId};

/// Everything a request needs, built once per process.
pub type App = vls_runtime::config::Deps;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let ctx = Ctx::from_request(req, &app.config.auth, (app.clock)());
    vls_http::serve_routes(ROUTES, app, ctx).await
}

const ADMINS: Access = Access::Roles(&[Role::CustomerAdmin, Role::BillingSupport]);
const ADMIN: Access = Access::Roles(&[Role::CustomerAdmin]);
const BILLING: Access = Access::Roles(&[Role::BillingSupport]);

/// What this function serves.
pub static ROUTES: &[Route<App>] = &[
    route!(
        "POST",
        "/accounts/{account_id}/service-requests",
        ADMIN,
        requests::open
    ),
    route!(
        "GET",
        "/accounts/{account_id}/service-requests",
        ADMINS,
        requests::list
    ),
    route!("GET", "/service-requests", BILLING, requests::queue),
    route!(
        "GET",
        "/service-requests/{service_request_id}",
        ADMINS,
        requests::get
    ),
    route!(
        "POST",
        "/service-requests/{service_request_id}/acknowledge",
        BILLING,
        requests::acknowledge
    ),
    route!(
        "POST",
        "/service-requests/{service_request_id}/decline",
        BILLING,
        requests::decline
    ),
    route!(
        "POST",
        "/service-requests/{service_request_id}/withdraw",
        ADMIN,
        requests::withdraw
    ),
    route!(
        "POST",
        "/accounts/{account_id}/subscriptions/{subscription_id}/cancellation",
        ADMINS,
        cancel
    ),
    route!(
        "GET",
        "/accounts/{account_id}/subscriptions/{subscription_id}/cancellation-preview",
        ADMINS,
        preview
    ),
];

/// The account (its admin's or any for billing support), the subscription, and the account's
/// volume licences per SKU as the account keeps them: one read.
async fn load(
    app: &App,
    p: &Principal,
    path: &Params,
) -> Result<(Account, Subscription, SkuCounts), Problem> {
    let account_id = path
        .id::<AccountId>("account_id")
        .ok()
        .filter(|a| access::account_visible(p, a))
        .ok_or_else(|| Problem::not_found("account"))?;
    let sub_id: SubscriptionId = path.id("subscription_id")?;
    let (account, sub) = app
        .store
        .account_and_subscription(&account_id, &sub_id)
        .await?;
    let account = account.ok_or_else(|| Problem::not_found("account"))?;
    let sub = sub.ok_or_else(|| Problem::not_found("subscription"))?;
    let volume = account.volume.clone();
    Ok((account, sub, volume))
}

/// GET …/cancellation-preview: per SKU, direct against volume and what is already relied
/// on, and whether R11 would pass.
async fn preview(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let (account, sub, volume) = load(app, p, path).await?;
    let coverage = cancellation::coverage(&account, &sub, &volume);
    Ok(Reply::ok(&CancellationPreviewView::new(&sub, &coverage)))
}

/// POST …/cancellation `{reason, accept_license_loss?}`.
async fn cancel(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let (reason, accept) = &ctx.parse(|b| {
        let accept = b.opt_bool("accept_license_loss")?.unwrap_or(false);
        Ok((b.text("reason", 1000)?, accept))
    })?;
    let who = Canceller::of(p);
    let answer = mutate(&app.store, ctx, move || async move {
        let (account, before, volume) = load(app, p, path).await?;
        ctx.precondition(&SubscriptionView::from(&before))?;
        // Its service request still open (R18) is resolved in the same transaction.
        let request = match &before.open_request {
            Some(id) => app.store.service_request(id).await?,
            None => None,
        };
        let asked = (who, *accept);
        let done =
            cancellation::cancel(&account, &before, &volume, asked, request.as_ref(), ctx.now)?;
        let reply = Reply::ok(&CancellationView {
            subscription_id: &before.id,
            status: done.subscription.status,
            account_id: &account.id,
        });
        Ok(Planned::by(p, reply, done.change.because(reason)))
    })
    .await;
    let refusal = RuleError::CancellationWouldLoseLicenses { shortfalls: vec![] };
    refused(answer, &refusal, Metric::CancellationRefused)
}
