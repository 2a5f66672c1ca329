//! `cancellation`: the service request that stops a direct subscription's billing (R11),
//! refused while it would lose licences unless billing support accepts the loss, and its
//! preview; and the customer's service requests to Billing Support for one R11 refuses (R18,
//! `requests`).

mod requests;

use lambda_http::{Body, Request, Response};
use vls_cases::By;
use vls_cases::cancellation::Asked;
use vls_domain::model::{Account, Subscription};
use vls_domain::rules::cancellation;
use vls_http::views::CancellationPreviewView;
use vls_http::{Access, Answer, Ctx, Params, Principal, Problem, Reply, Role, Route, route};

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

/// The account in the path (its admin's, or any for billing support) and its subscription.
async fn load(app: &App, p: &Principal, path: &Params) -> Result<(Account, Subscription), Problem> {
    let account = path.id::<AccountId>("account_id").ok();
    let visible = vls_cases::cancellation::visible_account(p, account)?;
    let sub_id: SubscriptionId = path.id("subscription_id")?;
    let names = (Some(visible), &sub_id);
    vls_cases::cancellation::account_and_subscription(&app.store, p, names).await
}

/// GET …/cancellation-preview: per SKU, direct against volume and what is already relied
/// on, and whether R11 would pass.
async fn preview(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let (account, sub) = load(app, p, path).await?;
    let coverage = cancellation::coverage(&account, &sub, &account.volume);
    Ok(Reply::ok(&CancellationPreviewView::new(&sub, &coverage)))
}

/// POST …/cancellation `{reason, accept_license_loss?}`.
async fn cancel(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let (reason, accept) = &ctx.parse(|b| {
        let accept = b.opt_bool("accept_license_loss")?.unwrap_or(false);
        Ok((b.text("reason", 1000)?, accept))
    })?;
    let by = &By::json(ctx)?;
    let account = path.id::<AccountId>("account_id").ok();
    let account = &vls_cases::cancellation::visible_account(by.principal, account)?;
    let sub_id = &path.id::<SubscriptionId>("subscription_id")?;
    let asked = Asked {
        reason,
        accept_license_loss: *accept,
    };
    vls_cases::cancellation::cancel(&app.store, ctx, by, (account, sub_id), &asked).await
}
