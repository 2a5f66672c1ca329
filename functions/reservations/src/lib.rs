//! `reservations`: License Reservations (R12, R13) and what the next True-Up will bill.

use lambda_http::{Body, Request, Response};
use vls_cases::By;
use vls_domain::input;
use vls_domain::model::ReservationStatus;
use vls_domain::rules::reservations;
use vls_domain::types::{AgreementId, ReservationId};
use vls_http::paging::List;
use vls_http::views::{PreviewView, ReservationView};
use vls_http::{
    Access, Answer, Ctx, Params, Problem, Reply, Role, Route, route, visible_agreement,
};

/// Everything a request needs, built once per process.
pub type App = vls_runtime::config::Deps;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let ctx = Ctx::from_request(req, &app.config.auth, (app.clock)());
    vls_http::serve_routes(ROUTES, app, ctx).await
}

const ADMIN: Access = Access::Roles(&[Role::CustomerAdmin]);
const READERS: Access = Access::Roles(&[Role::Partner, Role::CustomerAdmin, Role::BillingSupport]);

/// What this function serves.
pub static ROUTES: &[Route<App>] = &[
    route!(
        "POST",
        "/agreements/{agreement_id}/reservations",
        ADMIN,
        reserve
    ),
    route!(
        "GET",
        "/agreements/{agreement_id}/reservations",
        READERS,
        list
    ),
    route!(
        "GET",
        "/reservations/{reservation_id}",
        READERS,
        get_reservation
    ),
    route!(
        "POST",
        "/reservations/{reservation_id}/cancel",
        ADMIN,
        cancel
    ),
    route!(
        "GET",
        "/agreements/{agreement_id}/true-up-preview",
        READERS,
        preview
    ),
];

/// POST /agreements/{id}/reservations (the account's administrator).
async fn reserve(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let lines = &ctx.parse(input::lines)?;
    let by = &By::json(ctx)?;
    let agreement = &path.id::<AgreementId>("agreement_id")?;
    vls_cases::reservations::reserve(&app.store, ctx, by, agreement, lines).await
}

/// GET /agreements/{id}/reservations?status=active|cancelled|billed
async fn list(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let a = visible_agreement(&app.store, p, path).await?;
    let filter = ctx.query_param("status").filter(|s| !s.is_empty());
    let wanted = match filter.as_deref() {
        None | Some("") => None,
        Some("active") => Some(ReservationStatus::Active),
        Some("cancelled") => Some(ReservationStatus::Cancelled),
        Some("billed") => Some(ReservationStatus::Billed),
        Some(other) => {
            return Err(Problem::new(
                422,
                "invalid_status",
                format!("{other:?} is not active, cancelled or billed"),
            )
            .at_field("status"));
        }
    };
    let key = app.config.cursor_key.as_ref();
    let mut list = List::new(
        key,
        ("reservations", "reservations"),
        a.id.as_str(),
        filter.as_deref(),
        p,
    );
    let asked = list.asked(ctx)?;
    let page = app
        .store
        .reservations_page(&a.id, asked.after.as_deref(), asked.limit, asked.descending)
        .await?;
    // The filter applies to the page read (a status is partly derived from the agreement):
    // a page may hold fewer than the limit, and its cursor goes on from the last one read.
    let shown: Vec<ReservationView> = page
        .items
        .iter()
        .map(|r| ReservationView::new(r, &a))
        .filter(|r| wanted.is_none_or(|w| r.status == w))
        .collect();
    list.reply(&shown, page.next.as_deref())
}

/// GET /reservations/{id}: one reservation, for whoever may list its agreement's.
async fn get_reservation(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id = path.id::<ReservationId>("reservation_id")?;
    let (a, r) = vls_cases::reservations::visible_reservation(&app.store, p, &id).await?;
    Ok(Reply::ok(&ReservationView::new(&r, &a)).with_etag())
}

/// POST /reservations/{id}/cancel (the account's administrator, within 72 hours).
async fn cancel(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let by = &By::json(ctx)?;
    let id = &path.id::<ReservationId>("reservation_id")?;
    vls_cases::reservations::cancel(&app.store, ctx, by, id).await
}

/// GET /agreements/{id}/true-up-preview: per SKU, what the next anniversary will bill.
async fn preview(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let a = visible_agreement(&app.store, p, path).await?;
    let preview = reservations::preview(&a)?;
    Ok(Reply::ok(&PreviewView::new(&preview, &a)))
}
