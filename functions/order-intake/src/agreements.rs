//! Agreements: creation (R1, R2, R7, R10), the OSM, their orders, invoice support (R16) and
//! the agreement's trail.

use vls_domain::audit::Audit;
use vls_domain::input;
use vls_http::paging::List;
use vls_http::views::{AgreementView, EventView, InvoiceSupportView, OrderView};
use vls_http::{Answer, Ctx, Params, Planned, Problem, Reply, mutate, visible_agreement};

use vls_domain::rules::agreements;
use vls_domain::types::AgreementId;

use crate::App;

pub(crate) async fn post_agreement(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let p = ctx.principal()?;
    let partner_id = p.partner_id().cloned().ok_or_else(Problem::forbidden)?;
    let cmd = &ctx.parse(input::new_agreement)?;
    let partner_id = &partner_id;
    mutate(&app.store, ctx, move || async move {
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
        let created = agreements::create(cmd.clone(), context, policy, id, ctx.now)?;
        let a = &created.agreement;
        let mut tx = app.store.tx();
        tx.create(a);
        if created.first_of_customer {
            // The first agreement of this customer sets its schedule (R2); a concurrent first
            // agreement loses this condition and re-reads the schedule.
            tx.create_schedule(&a.customer.number, created.schedule, &a.id);
        } else {
            tx.check_exists(&a.customer.number);
        }
        let audit = Audit::AgreementCreated {
            program: a.program,
            customer_number: a.customer.number.clone(),
            start_date: a.start_date,
            anniversary: a.anniversary,
            bound_to_online_services: a.bound_to_online_services,
        };
        let event = ctx
            .event(p, audit)
            .on_agreement(&a.id)
            .on_account(a.account_id.as_ref());
        tx.event(&a.id, &event);
        if let (Some(bound), Some(read)) = (&created.bound, &mos_account) {
            // R7: associated with the Online Services account from the start.
            let audit = Audit::AgreementAssociated {
                bound_to_online_services: true,
            };
            let assoc = ctx
                .event(p, audit)
                .on_agreement(&a.id)
                .on_account(Some(&bound.id));
            tx.replace(bound, read.version)
                .put_source(&vls_domain::sources::Source::agreement(a, &bound.id))
                .event(&bound.id, &assoc);
        }
        Ok(Planned {
            reply: Reply::created(&AgreementView::from(a)),
            tx,
        })
    })
    .await
}

/// The agreement in the path, if the caller may see it.
pub(crate) async fn get_agreement(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let a = visible_agreement(&app.store, p, path).await?;
    Ok(Reply::ok(&AgreementView::from(&a)))
}

pub(crate) async fn put_osm(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let osm = &ctx.parse(input::osm_change)?;
    mutate(&app.store, ctx, move || async move {
        let before = visible_agreement(&app.store, p, path).await?;
        let after = agreements::change_osm(&before, osm.clone(), &app.config.policy)?;
        let audit = Audit::OsmChanged {
            from: before.osm.clone(),
            to: after.osm.clone(),
        };
        let event = ctx.event(p, audit).on_agreement(&after.id);
        let mut tx = app.store.tx();
        tx.replace(&after, before.version).event(&after.id, &event);
        Ok(Planned {
            reply: Reply::ok(&AgreementView::from(&after)),
            tx,
        })
    })
    .await
}

/// GET /agreements/{id}/orders: a page of its orders, oldest first.
pub(crate) async fn get_agreement_orders(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let a = visible_agreement(&app.store, p, path).await?;
    let key = app.config.cursor_key.as_ref();
    let list = List::new(key, ("orders", "orders"), a.id.as_str(), None, p);
    let asked = list.asked(ctx)?;
    let page = app
        .store
        .orders_page(&a.id, asked.after.as_deref(), asked.limit)
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
    let p = ctx.principal()?;
    let a = visible_agreement(&app.store, p, path).await?;
    let key = app.config.cursor_key.as_ref();
    let list = List::new(key, ("events", "agreement_events"), a.id.as_str(), None, p);
    let asked = list.asked(ctx)?;
    let page = app
        .store
        .events_page(&a.id, asked.after.as_deref(), asked.limit)
        .await?;
    let events: Vec<EventView> = page.items.iter().map(EventView::from).collect();
    list.reply(&events, page.next.as_deref())
}
