//! `order-intake`: partners, accounts, direct subscriptions, agreements, orders, the OSM,
//! the pool, invoice support and the audit trails.

mod accounts;
mod agreements;
mod orders;

use lambda_http::{Body, Request, Response};
use vls_http::{Access, Ctx, Role, Route, route};

use accounts::*;
use agreements::*;
use orders::*;

/// Everything a request needs, built once per process.
pub type App = vls_runtime::config::Deps;

/// Serves one HTTP request.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let ctx = Ctx::from_request(req, &app.config.auth, (app.clock)());
    vls_http::serve_routes(ROUTES, app, ctx).await
}

const BILLING: Access = Access::Roles(&[Role::BillingSupport]);
const PARTNER: Access = Access::Roles(&[Role::Partner]);
/// A partner's own trail: the partner, and billing support.
const PARTNER_READERS: Access = Access::Roles(&[Role::Partner, Role::BillingSupport]);
const ACCOUNT_READERS: Access = Access::Roles(&[Role::CustomerAdmin, Role::BillingSupport]);
const AGREEMENT_READERS: Access = Access::Roles(&[
    Role::Partner,
    Role::BillingSupport,
    Role::LicensingSpecialist,
    Role::CustomerAdmin,
]);
const ORDER_READERS: Access =
    Access::Roles(&[Role::Partner, Role::BillingSupport, Role::CustomerAdmin]);
const INVOICE_READERS: Access =
    Access::Roles(&[Role::Partner, Role::CustomerAdmin, Role::BillingSupport]);

/// What this function serves.
pub static ROUTES: &[Route<App>] = &[
    route!("PUT", "/partners/{partner_id}", BILLING, put_partner),
    route!(
        "GET",
        "/partners/{partner_id}/events",
        PARTNER_READERS,
        get_partner_events
    ),
    route!("POST", "/accounts", BILLING, post_account),
    route!(
        "POST",
        "/accounts/{account_id}/subscriptions",
        ACCOUNT_READERS,
        post_subscription
    ),
    route!(
        "GET",
        "/accounts/{account_id}",
        ACCOUNT_READERS,
        get_account
    ),
    route!(
        "GET",
        "/accounts/{account_id}/subscriptions",
        ACCOUNT_READERS,
        list_subscriptions
    ),
    route!(
        "GET",
        "/accounts/{account_id}/subscriptions/{subscription_id}",
        ACCOUNT_READERS,
        get_subscription
    ),
    route!(
        "GET",
        "/accounts/{account_id}/licenses",
        ACCOUNT_READERS,
        get_licenses
    ),
    route!(
        "GET",
        "/accounts/{account_id}/licenses/sources",
        ACCOUNT_READERS,
        get_license_sources
    ),
    route!(
        "GET",
        "/accounts/{account_id}/events",
        ACCOUNT_READERS,
        get_account_events
    ),
    route!("POST", "/agreements", PARTNER, post_agreement),
    route!(
        "GET",
        "/agreements/{agreement_id}",
        AGREEMENT_READERS,
        get_agreement
    ),
    route!("PUT", "/agreements/{agreement_id}/osm", PARTNER, put_osm),
    route!(
        "GET",
        "/agreements/{agreement_id}/orders",
        AGREEMENT_READERS,
        get_agreement_orders
    ),
    route!(
        "GET",
        "/agreements/{agreement_id}/invoice-support",
        INVOICE_READERS,
        get_invoice_support
    ),
    route!(
        "GET",
        "/agreements/{agreement_id}/events",
        AGREEMENT_READERS,
        get_agreement_events
    ),
    route!("POST", "/orders", PARTNER, post_order),
    route!("GET", "/orders/{order_id}", ORDER_READERS, get_order),
    route!("POST", "/orders/{order_id}/invoice", PARTNER, post_invoice),
];
