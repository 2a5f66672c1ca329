//! Purchase orders: placing (R3, R4) and invoicing, which attaches the licences or queues the
//! activation mail (R5).

use vls_domain::access;
use vls_domain::audit::{Audit, NotNeeded, Queued};
use vls_domain::input;
use vls_domain::metrics::Metric;
use vls_domain::model::{Agreement, MailIntent, MailReason, Order};
use vls_domain::rules::orders::{self, InvoiceEffect};
use vls_domain::sources::moved;
use vls_domain::types::OrderId;
use vls_http::views::OrderView;
use vls_http::{Answer, Ctx, Params, Planned, Principal, Problem, Reply, mutate};

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
        let (a, o) = (&placed.agreement, &placed.order);
        let audit = Audit::OrderPlaced {
            order_id: o.id.clone(),
            lines: o.lines.clone(),
            replaces_subscription_id: o.replaces_subscription_id.clone(),
            volume_discount_eligible: a.volume_discount_eligible,
            became_volume_discount_eligible: a.volume_discount_eligible
                && !before.volume_discount_eligible,
        };
        let event = ctx.event(p, audit).on_agreement(&a.id);
        let mut tx = app.store.tx();
        tx.replace(a, before.version).create(o).event(&a.id, &event);
        tx.count(Metric::OrderPlaced);
        Ok(Planned {
            reply: Reply::created(&OrderView::new(o, a)),
            tx,
        })
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
    Ok(Reply::ok(&OrderView::new(&o, &a)))
}

pub(crate) async fn post_invoice(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    mutate(&app.store, ctx, move || async move {
        let (a, before) = visible_order(app, p, path).await?;
        let invoiced = orders::invoice(&a, &before, ctx.now)?;
        let o = &invoiced.order;
        let mut tx = app.store.tx();
        // The agreement must be as read: an activation or a remap in between changes where
        // the licences go.
        tx.replace(o, before.version)
            .replace(&invoiced.agreement, a.version);
        let event = |audit| ctx.event(p, audit).on_agreement(&a.id);
        let event = match &invoiced.effect {
            InvoiceEffect::Attach(account) => {
                let event = event(Audit::OrderInvoicedAttached {
                    order_id: o.id.clone(),
                    attached_account_id: account.clone(),
                    activation_email: NotNeeded::NotNeeded,
                })
                .on_account(Some(account));
                // The account's volume licences changed: guards keyed on its version must see it.
                let held = app.store.account(account).await?;
                let held = held.ok_or_else(|| Problem::not_found("account"))?;
                let (after, source) = moved(&held, &a, &invoiced.agreement);
                tx.replace(&after, held.version)
                    .put_source(&source)
                    .event(account, &event);
                event
            }
            InvoiceEffect::QueueActivationMail => {
                let (order, reason) = (Some(o.id.clone()), MailReason::Invoiced);
                let mail = MailIntent::activation(a.id.clone(), order, reason, ctx.now);
                tx.create(&mail);
                event(Audit::OrderInvoicedMailQueued {
                    order_id: o.id.clone(),
                    activation_email: Queued::Queued,
                    mail_id: mail.id.clone(),
                })
            }
        };
        tx.event(&a.id, &event).count(Metric::OrderInvoiced);
        Ok(Planned {
            reply: Reply::ok(&OrderView::new(o, &a)),
            tx,
        })
    })
    .await
}
