//! Purchase orders: placing (R3, R4) and invoicing, which attaches the licences or queues the
//! activation mail (R5).

use vls_domain::access;
use vls_domain::input;
use vls_domain::model::{Agreement, Order};
use vls_domain::rules::orders;
use vls_domain::types::OrderId;
use vls_http::views::OrderView;
use vls_http::{
    Answer, Ctx, Params, Planned, Principal, Problem, Reply, associated_account, mutate,
};

use crate::App;

pub(crate) async fn post_order(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let p = ctx.principal()?;
    let cmd = &ctx.parse(input::new_order)?;
    mutate(&app.store, ctx, move || async move {
        let (before, replaced) = app
            .store
            .agreement_and_subscription(&cmd.agreement_id, cmd.replaces_subscription_id.as_ref())
            .await?;
        let before = before
            .filter(|a| access::agreement_visible(p, a))
            .ok_or_else(|| Problem::not_found("agreement").at_field("agreement_id"))?;
        let policy = &app.config.policy;
        let id = OrderId::generate(&before.id);
        let placed = orders::place(&before, cmd.clone(), replaced.as_ref(), policy, id, ctx.now)?;
        let location = format!("/orders/{}", placed.order.id);
        let view = OrderView::new(&placed.order, &placed.agreement);
        let reply = Reply::created(&view, location).with_etag();
        Ok(Planned::by(p, reply, placed.change))
    })
    .await
}

/// The order in the path and its agreement, if the caller may see them.
pub(crate) async fn visible_order(
    app: &App,
    p: &Principal,
    path: &Params,
) -> Result<(Agreement, Order), Problem> {
    let id: OrderId = path.id("order_id")?;
    app.store
        .order(&id)
        .await?
        .filter(|(a, o)| access::order_visible(p, o, a))
        .ok_or_else(|| Problem::not_found("order"))
}

pub(crate) async fn get_order(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let (a, o) = visible_order(app, p, path).await?;
    Ok(Reply::ok(&OrderView::new(&o, &a)).with_etag())
}

pub(crate) async fn post_invoice(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    mutate(&app.store, ctx, move || async move {
        let (a, before) = visible_order(app, p, path).await?;
        ctx.precondition(&OrderView::new(&before, &a))?;
        let held = associated_account(&app.store, &a).await?;
        let invoiced = orders::invoice(&a, &before, held.as_ref(), ctx.now)?;
        let reply = Reply::ok(&OrderView::new(&invoiced.order, &a)).with_etag();
        Ok(Planned::by(p, reply, invoiced.change))
    })
    .await
}
