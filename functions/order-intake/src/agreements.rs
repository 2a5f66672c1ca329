//! Agreements: creation (R1, R2, R7, R10), the OSM, their orders, invoice support (R16) and
//! the agreement's trail.

use vls_domain::input;
use vls_domain::model::Agreement;
use vls_http::paging::{Asked, List};
use vls_http::views::{AgreementView, EventView, InvoiceSupportView, OrderView};
use vls_http::{Answer, Ctx, Params, Planned, Problem, Reply, mutate, visible_agreement};

use vls_domain::rules::agreements::{self, NewAgreement};
use vls_domain::types::{AgreementId, PartnerId};

use crate::App;

pub(crate) async fn post_agreement(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let p = ctx.principal()?;
    let partner_id = p.partner_id().cloned().ok_or_else(Problem::forbidden)?;
    let cmd = &ctx.parse(input::new_agreement)?;
    let partner_id = &partner_id;
    mutate(&app.store, ctx, move || async move {
        let created = create(app, partner_id, cmd, ctx).await?;
        let location = format!("/agreements/{}", created.agreement.id);
        let reply = Reply::created(&AgreementView::from(&created.agreement), location).with_etag();
        Ok(Planned::by(p, reply, created.change))
    })
    .await
}

/// What the creation needs to know (the partner, the customer's schedule, the Online
/// Services account: one read), then the rules' decision.
async fn create(
    app: &App,
    partner_id: &PartnerId,
    cmd: &NewAgreement,
    ctx: &Ctx,
) -> Result<agreements::Created, Problem> {
    let (partner, schedule, mos_account) = app
        .store
        .agreement_creation_context(
            partner_id,
            &cmd.customer.number,
            cmd.online_services_account_id.as_ref(),
        )
        .await?;
    let context = agreements::CreationContext {
        partner: partner.as_ref(),
        customer_schedule: schedule,
        online_services_account: mos_account.as_ref(),
    };
    let (policy, id) = (&app.config.policy, AgreementId::generate());
    Ok(agreements::create(
        cmd.clone(),
        context,
        policy,
        id,
        ctx.now,
    )?)
}

/// The agreement in the path, if the caller may see it.
pub(crate) async fn get_agreement(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let a = visible_agreement(&app.store, p, path).await?;
    Ok(Reply::ok(&AgreementView::from(&a)).with_etag())
}

pub(crate) async fn put_osm(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let osm = &ctx.parse(input::osm_change)?;
    mutate(&app.store, ctx, move || async move {
        let before = visible_agreement(&app.store, p, path).await?;
        ctx.precondition(&AgreementView::from(&before))?;
        let changed = agreements::change_osm(&before, osm.clone(), &app.config.policy)?;
        let reply = Reply::ok(&AgreementView::from(&changed.outcome)).with_etag();
        Ok(Planned::by(p, reply, changed.change))
    })
    .await
}

/// The agreement in the path, if the caller may see it, and its list `names` (the answer's
/// field, the cursor's kind) as the caller asks for it.
async fn agreement_list<'a>(
    app: &'a App,
    ctx: &Ctx,
    path: &Params,
    names: (&'static str, &'static str),
) -> Result<(Agreement, List<'a>, Asked), Problem> {
    let p = ctx.principal()?;
    let a = visible_agreement(&app.store, p, path).await?;
    let mut list = List::new(
        app.config.cursor_key.as_ref(),
        names,
        a.id.as_str(),
        None,
        p,
    );
    let asked = list.asked(ctx)?;
    Ok((a, list, asked))
}

/// GET /agreements/{id}/orders: a page of its orders, oldest first.
pub(crate) async fn get_agreement_orders(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let (a, list, asked) = agreement_list(app, ctx, path, ("orders", "orders")).await?;
    let page = app
        .store
        .orders_page(&a.id, asked.after.as_deref(), asked.limit, asked.descending)
        .await?;
    let orders: Vec<OrderView> = page.items.iter().map(|o| OrderView::new(o, &a)).collect();
    list.reply(&orders, page.next.as_deref())
}

pub(crate) async fn get_invoice_support(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let a = visible_agreement(&app.store, p, path).await?;
    // R16: invoice questions go to the LSP on the agreement.
    let partner = app
        .store
        .partner(&a.partner_id)
        .await?
        .ok_or_else(|| Problem::not_found("partner"))?;
    Ok(Reply::ok(&InvoiceSupportView {
        agreement_id: &a.id,
        partner_id: &partner.id,
        name: &partner.name,
        contact: &partner.contact,
    }))
}

/// GET /agreements/{id}/events: a page of its trail, oldest first (R17).
pub(crate) async fn get_agreement_events(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let (a, list, asked) = agreement_list(app, ctx, path, ("events", "agreement_events")).await?;
    let page = app
        .store
        .events_page(&a.id, asked.after.as_deref(), asked.limit, asked.descending)
        .await?;
    let events: Vec<EventView> = page.items.iter().map(EventView::from).collect();
    list.reply(&events, page.next.as_deref())
}
