//! P5 (SPEC §7.3): one reservation, with a Cancel form while R13's 72 hours run.

use vls_domain::html::escape;
use vls_domain::model::{Agreement, Reservation, ReservationStatus};
use vls_domain::rules::reservations as r13;
use vls_domain::types::ReservationId;
use vls_http::{Answer, Ctx, Params, Problem, Reply};

use crate::catalog::{self, Facts};
use crate::forms::{self, Sent};
use crate::guard::{self, Signed};
use crate::{App, layout, pages};

async fn visible(
    app: &App,
    signed: &Signed,
    path: &Params,
) -> Result<(Agreement, Reservation), Problem> {
    let id = path.id::<ReservationId>("reservation_id")?;
    vls_cases::reservations::visible_reservation(&app.store, &signed.principal(), &id).await
}

/// GET /portal/reservations/{reservation_id}.
pub async fn show(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let signed = match guard::for_page(app, ctx).await {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    Ok(reservation_page(app, ctx, &signed, path, None).await)
}

async fn reservation_page(
    app: &App,
    ctx: &Ctx,
    signed: &Signed,
    path: &Params,
    refused: Option<&Problem>,
) -> Reply {
    let chrome = signed.chrome();
    let (a, r) = match visible(app, signed, path).await {
        Ok(found) => found,
        Err(e) => return guard::problem_page(ctx, &e, Some(&chrome)),
    };
    let status = r.status_on(&a);
    let facts = Facts {
        date: Some(r.billable_at),
        status: Some(catalog::reservation_status(status)),
        ..Facts::default()
    };
    let error = refused
        .map(|p| pages::refused(ctx, p, &facts, &[]))
        .unwrap_or_default();
    let until = r13::cancellable_until(&r);
    let cancel = if status == ReservationStatus::Active && ctx.now < until {
        format!(
            "<h2>Cancel it</h2><p>{leaves} {lines}.</p><form method=\"post\" \
action=\"/portal/reservations/{id}/cancel\">{hidden}\
<button type=\"submit\" id=\"cancel\">Cancel the reservation</button></form>",
            leaves = catalog::RESERVATION_LEAVES,
            lines = layout::lines(&r.lines),
            id = escape(r.id.as_str()),
            hidden = forms::hidden(&signed.session),
        )
    } else {
        String::new()
    };
    let main = format!(
        "<h1>Reservation <code>{id}</code></h1>{error}<dl class=\"facts\">\
<dt>Agreement</dt><dd><a href=\"/portal/agreements/{agreement}\"><code>{agreement}</code></a></dd>\
<dt>Licences</dt><dd id=\"lines\">{lines}</dd><dt>Status</dt><dd id=\"status\">{status}</dd>\
<dt>Made</dt><dd>{made}</dd><dt>Cancellable until</dt><dd id=\"cancellable-until\">{until}</dd>\
<dt>Billed at the True-Up on</dt><dd id=\"billable\">{billable}</dd></dl>{cancel}",
        id = escape(r.id.as_str()),
        agreement = escape(a.id.as_str()),
        lines = layout::lines(&r.lines),
        status = catalog::reservation_status(status),
        made = layout::time(r.created_at),
        until = layout::time(until),
        billable = r.billable_at.format("%Y-%m-%d"),
    );
    let title = format!("Reservation {}", r.id);
    let (code, title) = match refused {
        Some(p) => (p.status, format!("Error: {title}")),
        None => (200, title),
    };
    Reply::html(code, layout::page(Some(&chrome), "", &title, &main))
}

/// POST /portal/reservations/{reservation_id}/cancel: R13 and R11, as the JSON route runs
/// them; 303 back to the reservation, or the reservation again with the refusal.
pub async fn cancel(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let back = format!("/portal/reservations/{}", path.get("reservation_id"));
    let Sent { signed, key, .. } = match forms::sent(app, ctx, &back).await {
        Ok(sent) => sent,
        Err(page) => return Ok(page),
    };
    let Ok(id) = path.id::<ReservationId>("reservation_id") else {
        return Ok(pages::not_found(ctx, Some(&signed.chrome())));
    };
    let p = signed.principal();
    let by = forms::by(&p, &signed, key);
    Ok(
        match vls_cases::reservations::cancel(&app.store, ctx, &by, &id).await {
            Ok(_) => pages::see_other(app, &back),
            Err(problem) if problem.status == 404 => pages::not_found(ctx, Some(&signed.chrome())),
            Err(problem) => reservation_page(app, ctx, &signed, path, Some(&problem)).await,
        },
    )
}
