//! `reservations`: License Reservations (R12, R13) and what the next True-Up will bill.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use vls::access;
use vls::catalog::Sku;
use vls::http::{
    Ctx, Planned, Principal, Problem, Reply, Role, method_not_allowed, mutate, unrouted,
};
use vls::input;
use vls::model::{Account, Agreement, Reservation, ReservationStatus};
use vls::rules::cancellation;
use vls::rules::pool::AgreementHoldings;
use vls::rules::reservations;
use vls::store::{self, keys};
use vls::types::{AgreementId, ReservationId};

/// Everything a request needs, built once per process.
pub type App = vls::config::Deps;

type Answer = Result<Reply, Problem>;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let ctx = Ctx::from_request(req, &app.config.auth, (app.clock)());
    vls::http::serve(&ctx, || route(app, &ctx)).await
}

async fn route(app: &App, ctx: &Ctx) -> (&'static str, Answer) {
    let segments = ctx.segments();
    match segments.as_slice() {
        ["agreements", id, "reservations"] => (
            "/agreements/{agreement_id}/reservations",
            match ctx.method {
                Method::POST => reserve(app, ctx, id).await,
                Method::GET => list(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        ["reservations", id, "cancel"] => (
            "/reservations/{reservation_id}/cancel",
            match ctx.method {
                Method::POST => cancel(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        ["agreements", id, "true-up-preview"] => (
            "/agreements/{agreement_id}/true-up-preview",
            match ctx.method {
                Method::GET => preview(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        _ => unrouted(),
    }
}

/// The agreement's holdings if the caller may see them. R13: for a customer admin, an
/// agreement not associated with their account does not exist.
async fn visible_holdings(
    app: &App,
    p: &Principal,
    raw: &str,
) -> Result<AgreementHoldings, Problem> {
    let id = AgreementId::parse(raw).ok_or_else(|| Problem::not_found("agreement"))?;
    app.store
        .agreement_holdings(&id)
        .await?
        .filter(|h| access::agreement_visible(p, &h.agreement))
        .ok_or_else(|| Problem::not_found("agreement"))
}

fn views(h: &AgreementHoldings) -> impl Iterator<Item = Reservation> + '_ {
    h.reservations
        .iter()
        .map(|r| reservations::view(r, &h.agreement))
}

/// POST /agreements/{id}/reservations (the account's administrator).
async fn reserve(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::CustomerAdmin])?;
    let lines = &ctx.parse(input::lines)?;
    mutate(&app.store, ctx, move || async move {
        let id = AgreementId::parse(raw).ok_or_else(|| Problem::not_found("agreement"))?;
        let a = app
            .store
            .agreement(&id)
            .await?
            .filter(|a| access::agreement_visible(p, a))
            .ok_or_else(|| Problem::not_found("agreement"))?;
        let account = a
            .account_id
            .clone()
            .ok_or_else(|| Problem::not_found("agreement"))?;
        let r = reservations::reserve(&a, lines.clone(), ReservationId::generate(), ctx.now)?;
        let mut event = ctx.event(p, "reservation.created");
        event.agreement_id = Some(a.id.clone());
        event.account_id = Some(account.clone());
        event.details =
            json!({ "reservation_id": r.id, "lines": r.lines, "billable_at": r.billable_at });
        let mut tx = app.store.tx();
        // The agreement as read (still associated with this account, same anniversary), and
        // the account's version moved on: its volume licences changed.
        tx.check_version("agreement", &keys::agreement(&a.id), a.version)
            .create(
                "reservation",
                store::encode(&r, &keys::reservation(&a.id, &r.id), "reservation"),
            )
            .create(
                "reservation_ref",
                store::ref_item(&keys::reservation_ref(&r.id), a.id.as_str()),
            )
            .bump_version("account", &keys::account(&account))
            .event(keys::agreement_events(&a.id), &event)
            .event(keys::account_events(&account), &event);
        Ok(Planned {
            reply: Reply::created(&r),
            tx,
        })
    })
    .await
}

/// GET /agreements/{id}/reservations?status=active|cancelled|billed
async fn list(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::Partner, Role::CustomerAdmin, Role::BillingSupport])?;
    let wanted = match ctx.query_param("status").as_deref() {
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
            .with("field", json!("status")));
        }
    };
    let h = visible_holdings(app, p, raw).await?;
    let list: Vec<Reservation> = views(&h)
        .filter(|r| wanted.is_none_or(|w| r.status == w))
        .collect();
    Ok(Reply::ok(&json!({ "reservations": list })))
}

/// POST /reservations/{id}/cancel (the account's administrator, within 72 hours).
///
/// R11: cover that cancelled direct subscriptions rely on must stay. The first attempt
/// reads nothing more and lets the transaction check that nothing relies on the
/// reservation's SKUs; only when something does (or the first attempt lost a race) is the
/// account's volume read and the arithmetic done, under the account's version.
async fn cancel(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::CustomerAdmin])?;
    let id = &ReservationId::parse(raw).ok_or_else(|| Problem::not_found("reservation"))?;
    let first = &std::sync::atomic::AtomicBool::new(true);
    mutate(&app.store, ctx, move || async move {
        let (a, r) = app
            .store
            .reservation(id)
            .await?
            .filter(|(a, _)| access::agreement_visible(p, a))
            .ok_or_else(|| Problem::not_found("reservation"))?;
        let account_id = a
            .account_id
            .clone()
            .ok_or_else(|| Problem::not_found("reservation"))?;
        let cancelled = reservations::cancel(&r, &a, ctx.now)?;
        let skus: Vec<Sku> = r.lines.iter().map(|l| l.sku).collect();
        let mut tx = app.store.tx();
        if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            tx.bump_version_unless_relied_on("account", &keys::account(&account_id), &skus);
        } else {
            let account = app
                .store
                .account(&account_id)
                .await?
                .ok_or_else(|| Problem::not_found("reservation"))?;
            if cancellation::relies_on_any(&account, skus) {
                let holdings = app.store.account_holdings(&account).await?;
                let volume = cancellation::account_volume(&account, &holdings);
                let removed = cancellation::counts_of(&r.lines);
                cancellation::keep_relied_on(&account, &volume, &removed)?;
            }
            let touched = Account {
                version: account.version + 1,
                ..account.clone()
            };
            tx.replace(
                "account",
                store::encode(&touched, &keys::account(&account_id), "account"),
                account.version,
            );
        }
        let mut event = ctx.event(p, "reservation.cancelled");
        event.agreement_id = Some(a.id.clone());
        event.account_id = Some(account_id.clone());
        event.details = json!({ "reservation_id": r.id, "lines": r.lines });
        tx.replace(
            "reservation",
            store::encode(&cancelled, &keys::reservation(&a.id, &r.id), "reservation"),
            r.version,
        )
        .check_version("agreement", &keys::agreement(&a.id), a.version)
        .event(keys::agreement_events(&a.id), &event)
        .event(keys::account_events(&account_id), &event);
        Ok(Planned {
            reply: Reply::ok(&cancelled),
            tx,
        })
    })
    .await
}

/// GET /agreements/{id}/true-up-preview: per SKU, what the next anniversary will bill.
async fn preview(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::Partner, Role::CustomerAdmin, Role::BillingSupport])?;
    let h = visible_holdings(app, p, raw).await?;
    let preview = reservations::preview(&h.agreement, &h.reservations)?;
    Ok(Reply::ok(&with_billed_through(&preview, &h.agreement)))
}

fn with_billed_through(preview: &reservations::Preview, a: &Agreement) -> Value {
    let mut v = serde_json::to_value(preview).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("last_billed_anniversary".into(), json!(a.billed_through));
    }
    v
}
