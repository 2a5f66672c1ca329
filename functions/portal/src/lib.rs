//! `portal`: the customer's own pages (SPEC §7, PORTAL.md). A `customer_admin` signs in with
//! the organisation's identity provider and gets a stored session of their own; the pages
//! show the account's pool, agreements, reservations, subscriptions, service requests and
//! activity, and their forms run the same use cases as the JSON routes (`vls_cases`), with
//! the session's administrator as the caller, `via: portal`, and an idempotency key derived
//! from the form's one-time id and the session.
//!
//! Like `/activate/…`, these routes have no gateway authorizer: the session is what they
//! check, and they ignore `Authorization`. Every answer is a page or a redirect with
//! `no-store` and the pages' headers; never JSON, never a 500.

mod activity;
mod agreements;
mod catalog;
mod forms;
mod guard;
mod help;
mod home;
mod layout;
mod pages;
mod requests;
mod reservations;
mod session;
mod signin;
mod subscriptions;
mod table;

use lambda_http::{Body, Request, Response};
use vls_http::{Access, Ctx, Route, route};
use vls_runtime::config::{Clock, Config, Startup};
use vls_runtime::secrets::Secret;
use vls_signin::{PORTAL, SignInSetup};

pub use catalog::{FAILURE_CODES, REFUSAL_CODES};
pub use session::Timing;

/// Lists are paged 25 at a time, newest first (SPEC §7.3).
pub const PAGE_SIZE: usize = 25;

pub struct App {
    pub store: vls_store::Store,
    pub config: Config,
    pub clock: Clock,
    /// The sign-in at `/portal/sign-in/callback`, with the portal's own cookie.
    pub sign_in: SignInSetup,
    pub timing: Timing,
}

impl App {
    /// Configuration, the cookie key, the cursor key and the client secret, and clients, from
    /// the environment.
    pub async fn from_env() -> Result<Self, vls_runtime::config::ConfigError> {
        let needs = [
            Secret::CookieKey,
            Secret::CursorKey,
            Secret::OidcClientSecret,
        ];
        let Startup {
            config,
            sdk,
            secrets,
        } = Startup::from_env(&needs).await?;
        let local = config.is_local();
        Ok(Self {
            store: vls_runtime::config::store(&sdk, &config),
            sign_in: SignInSetup::from_env_at(PORTAL, local, secrets),
            timing: Timing::from_env(local),
            config,
            clock: vls_runtime::config::system_clock(),
        })
    }
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let ctx = Ctx::from_request(req, &app.config.auth, (app.clock)());
    if let Some(reply) = guard::elsewhere(&ctx, &app.sign_in.public_base_url) {
        return vls_http::serve(&ctx, || async { ("(another host)", Ok(reply)) }).await;
    }
    vls_http::serve_routes(ROUTES, app, ctx).await
}

/// What this function serves: every route is public to the gateway; the handlers check the
/// session.
pub static ROUTES: &[Route<App>] = &[
    route!("GET", "/portal", Access::Public, home::home),
    route!("GET", "/portal/sign-in", Access::Public, signin::page),
    route!(
        "GET",
        "/portal/sign-in/start",
        Access::Public,
        signin::start
    ),
    route!(
        "GET",
        "/portal/sign-in/callback",
        Access::Public,
        signin::callback
    ),
    route!("POST", "/portal/sign-out", Access::Public, signin::sign_out),
    route!("GET", "/portal/help", Access::Public, help::help),
    route!(
        "GET",
        "/portal/subscriptions",
        Access::Public,
        subscriptions::list
    ),
    route!(
        "GET",
        "/portal/subscriptions/{subscription_id}",
        Access::Public,
        subscriptions::show
    ),
    route!(
        "POST",
        "/portal/subscriptions/{subscription_id}/cancel",
        Access::Public,
        subscriptions::cancel
    ),
    route!(
        "POST",
        "/portal/subscriptions/{subscription_id}/service-requests",
        Access::Public,
        subscriptions::ask
    ),
    route!(
        "GET",
        "/portal/service-requests",
        Access::Public,
        requests::list
    ),
    route!(
        "GET",
        "/portal/activity",
        Access::Public,
        activity::activity
    ),
    route!(
        "GET",
        "/portal/agreements/{agreement_id}",
        Access::Public,
        agreements::show
    ),
    route!(
        "GET",
        "/portal/agreements/{agreement_id}/orders",
        Access::Public,
        agreements::orders
    ),
    route!(
        "GET",
        "/portal/agreements/{agreement_id}/reservations",
        Access::Public,
        agreements::reservations
    ),
    route!(
        "GET",
        "/portal/agreements/{agreement_id}/reserve",
        Access::Public,
        agreements::reserve_form
    ),
    route!(
        "POST",
        "/portal/agreements/{agreement_id}/reserve/review",
        Access::Public,
        agreements::review
    ),
    route!(
        "POST",
        "/portal/agreements/{agreement_id}/reservations",
        Access::Public,
        agreements::reserve
    ),
    route!(
        "GET",
        "/portal/reservations/{reservation_id}",
        Access::Public,
        reservations::show
    ),
    route!(
        "POST",
        "/portal/reservations/{reservation_id}/cancel",
        Access::Public,
        reservations::cancel
    ),
    route!(
        "GET",
        "/portal/service-requests/{service_request_id}",
        Access::Public,
        requests::show
    ),
    route!(
        "POST",
        "/portal/service-requests/{service_request_id}/withdraw",
        Access::Public,
        requests::withdraw
    ),
];
