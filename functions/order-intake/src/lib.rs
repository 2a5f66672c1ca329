//! `order-intake`: partners, accounts, direct subscriptions, agreements, orders, the OSM,
//! the pool, invoice support and the audit trails.

use lambda_http::{Body, Request, Response};
use serde_json::json;
use vls::access;
use vls::http::views::{AgreementView, OrderView};
use vls::http::{
    Access, Answer, Ctx, Params, Planned, Principal, Problem, Reply, Role, Route, mutate, route,
};
use vls::input;
use vls::model::{
    Account, Agreement, MailIntent, MailReason, Order, Partner, Subscription, SubscriptionStatus,
};
use vls::rules::orders::InvoiceEffect;
use vls::rules::{agreements, orders, pool};

use vls::types::{AccountId, AgreementId, OrderId, PartnerId, SubscriptionId};

/// Everything a request needs, built once per process.
pub type App = vls::config::Deps;

/// Serves one HTTP request.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let ctx = Ctx::from_request(req, &app.config.auth, (app.clock)());
    vls::http::serve_routes(ROUTES, app, ctx).await
}

const BILLING: Access = Access::Roles(&[Role::BillingSupport]);
const PARTNER: Access = Access::Roles(&[Role::Partner]);
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
    route!("POST", "/accounts", BILLING, post_account),
    route!(
        "POST",
        "/accounts/{account_id}/subscriptions",
        ACCOUNT_READERS,
        post_subscription
    ),
    route!(
        "GET",
        "/accounts/{account_id}/licenses",
        ACCOUNT_READERS,
        get_licenses
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

// ---- representations ---------------------------------------------------------------------

// ---- partners and accounts -----------------------------------------------------------------

async fn put_partner(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id = PartnerId::parse(path.get("partner_id")).ok_or_else(|| {
        Problem::new(
            422,
            "invalid_id",
            "a partner id is 1–64 letters, digits, '.', '_' or '-'",
        )
        .with("field", json!("partner_id"))
    })?;
    let (name, contact) = ctx.parse(input::partner)?;
    let (id, name, contact) = (&id, &name, &contact);
    mutate(&app.store, ctx, move || async move {
        let partner = Partner {
            id: id.clone(),
            name: name.clone(),
            contact: contact.clone(),
            updated_at: ctx.now,
        };
        let event = ctx
            .event(p, "partner.registered")
            .with(json!({ "partner_id": id, "name": name }));
        let mut tx = app.store.tx();
        tx.upsert(&partner).event(&id, &event);
        Ok(Planned {
            reply: Reply::ok(&partner),
            tx,
        })
    })
    .await
}

async fn post_account(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let p = ctx.principal()?;
    let (name, domain, online_services) = ctx.parse(input::new_account)?;
    let (name, domain, online_services) = (&name, &domain, &online_services);
    mutate(&app.store, ctx, move || async move {
        let account = Account {
            id: AccountId::generate(),
            name: name.clone(),
            domain: domain.clone(),
            online_services: online_services.clone(),
            agreement_ids: Vec::new(),
            relied_on: Default::default(),
            created_at: ctx.now,
            version: 1,
        };
        let event = ctx
            .event(p, "account.created")
            .on_account(Some(&account.id))
            .with(json!({ "name": account.name, "domain": account.domain,
                          "online_services": account.online_services }));
        let mut tx = app.store.tx();
        tx.create(&account).event(&account.id, &event);
        Ok(Planned {
            reply: Reply::created(&account),
            tx,
        })
    })
    .await
}

/// The account in the path, if the caller may see it (its admin, billing support).
fn visible_account(p: &Principal, path: &Params) -> Result<AccountId, Problem> {
    let id: AccountId = path.id("account_id")?;
    if access::account_visible(p, &id) {
        Ok(id)
    } else {
        Err(Problem::not_found("account"))
    }
}

async fn post_subscription(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let account_id = visible_account(p, path)?;
    let (billing, lines) = ctx.parse(input::new_subscription)?;
    let (account_id, lines) = (&account_id, &lines);
    mutate(&app.store, ctx, move || async move {
        if app.store.account(account_id).await?.is_none() {
            return Err(Problem::not_found("account"));
        }
        let sub = Subscription {
            id: SubscriptionId::generate(),
            account_id: account_id.clone(),
            billing,
            lines: lines.clone(),
            status: SubscriptionStatus::Active,
            created_at: ctx.now,
            version: 1,
        };
        let event = ctx
            .event(p, "subscription.created")
            .on_account(Some(account_id))
            .with(json!({ "subscription_id": sub.id, "billing": sub.billing, "lines": sub.lines }));
        let mut tx = app.store.tx();
        tx.create(&sub).event(account_id, &event);
        Ok(Planned {
            reply: Reply::created(&sub),
            tx,
        })
    })
    .await
}

async fn get_licenses(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let account_id = visible_account(p, path)?;
    let (account, subs) = app
        .store
        .account_with_subscriptions(&account_id)
        .await?
        .ok_or_else(|| Problem::not_found("account"))?;
    let holdings = app.store.account_holdings(&account).await?;
    Ok(Reply::ok(&pool::compute(&account, &subs, &holdings)))
}

async fn get_account_events(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let account_id = visible_account(p, path)?;
    // Every account's trail starts with its creation, so an empty trail is an unknown account.
    let events = app.store.events(&account_id).await?;
    if events.is_empty() {
        return Err(Problem::not_found("account"));
    }
    Ok(Reply::ok(&json!({ "events": events })))
}

// ---- agreements ----------------------------------------------------------------------------

async fn post_agreement(app: &App, ctx: &Ctx, _: &Params) -> Answer {
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
        let event = ctx
            .event(p, "agreement.created")
            .on_agreement(&a.id)
            .on_account(a.account_id.as_ref())
            .with(json!({
                "program": a.program, "customer_number": a.customer.number,
                "start_date": a.start_date, "anniversary": a.anniversary,
                "bound_to_online_services": a.bound_to_online_services,
            }));
        tx.event(&a.id, &event);
        if let (Some(bound), Some(read)) = (&created.bound, &mos_account) {
            // R7: associated with the Online Services account from the start.
            let assoc = ctx
                .event(p, "agreement.associated")
                .on_agreement(&a.id)
                .on_account(Some(&bound.id))
                .with(json!({ "bound_to_online_services": true }));
            tx.replace(bound, read.version).event(&bound.id, &assoc);
        }
        Ok(Planned {
            reply: Reply::created(&AgreementView::from(a)),
            tx,
        })
    })
    .await
}

/// The agreement in the path, if the caller may see it.
async fn visible_agreement(app: &App, p: &Principal, path: &Params) -> Result<Agreement, Problem> {
    let id: AgreementId = path.id("agreement_id")?;
    app.store
        .agreement(&id)
        .await?
        .filter(|a| access::agreement_visible(p, a))
        .ok_or_else(|| Problem::not_found("agreement"))
}

async fn get_agreement(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let a = visible_agreement(app, p, path).await?;
    Ok(Reply::ok(&AgreementView::from(&a)))
}

async fn put_osm(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let osm = &ctx.parse(input::osm_change)?;
    mutate(&app.store, ctx, move || async move {
        let before = visible_agreement(app, p, path).await?;
        let after = agreements::change_osm(&before, osm.clone(), &app.config.policy)?;
        let event = ctx
            .event(p, "osm.changed")
            .on_agreement(&after.id)
            .with(json!({ "from": before.osm, "to": after.osm }));
        let mut tx = app.store.tx();
        tx.replace(&after, before.version).event(&after.id, &event);
        Ok(Planned {
            reply: Reply::ok(&AgreementView::from(&after)),
            tx,
        })
    })
    .await
}

async fn get_agreement_orders(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id: AgreementId = path.id("agreement_id")?;
    let (a, orders) = app
        .store
        .agreement_with_orders(&id)
        .await?
        .filter(|(a, _)| access::agreement_visible(p, a))
        .ok_or_else(|| Problem::not_found("agreement"))?;
    let orders: Vec<OrderView> = orders.iter().map(|o| OrderView::new(o, &a)).collect();
    Ok(Reply::ok(&json!({ "orders": orders })))
}

async fn get_invoice_support(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let a = visible_agreement(app, p, path).await?;
    // R16: invoice questions go to the LSP on the agreement.
    let partner = app
        .store
        .partner(&a.partner_id)
        .await?
        .ok_or_else(|| Problem::not_found("partner"))?;
    Ok(Reply::ok(&json!({
        "agreement_id": a.id,
        "partner_id": partner.id,
        "name": partner.name,
        "contact": partner.contact,
    })))
}

async fn get_agreement_events(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let a = visible_agreement(app, p, path).await?;
    let events = app.store.events(&a.id).await?;
    Ok(Reply::ok(&json!({ "events": events })))
}

// ---- orders --------------------------------------------------------------------------------

async fn post_order(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let p = ctx.principal()?;
    let cmd = &ctx.parse(input::new_order)?;
    mutate(&app.store, ctx, move || async move {
        let (before, replaced) = app
            .store
            .agreement_and_subscription(&cmd.agreement_id, cmd.replaces_subscription_id.as_ref())
            .await?;
        let before = before
            .filter(|a| access::agreement_visible(p, a))
            .ok_or_else(|| Problem::not_found("agreement").with("field", json!("agreement_id")))?;
        let policy = &app.config.policy;
        let id = OrderId::generate();
        let placed = orders::place(&before, cmd.clone(), replaced.as_ref(), policy, id, ctx.now)?;
        let (a, o) = (&placed.agreement, &placed.order);
        let event = ctx
            .event(p, "order.placed")
            .on_agreement(&a.id)
            .with(json!({
                "order_id": o.id, "lines": o.lines,
                "replaces_subscription_id": o.replaces_subscription_id,
                "volume_discount_eligible": a.volume_discount_eligible,
                "became_volume_discount_eligible":
                    a.volume_discount_eligible && !before.volume_discount_eligible,
            }));
        let mut tx = app.store.tx();
        tx.replace(a, before.version).create(o).event(&a.id, &event);
        Ok(Planned {
            reply: Reply::created(&OrderView::new(o, a)),
            tx,
        })
    })
    .await
}

/// The order in the path and its agreement, if the caller may see them.
async fn visible_order(
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

async fn get_order(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let (a, o) = visible_order(app, p, path).await?;
    Ok(Reply::ok(&OrderView::new(&o, &a)))
}

async fn post_invoice(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    mutate(&app.store, ctx, move || async move {
        let (a, before) = visible_order(app, p, path).await?;
        let invoiced = orders::invoice(&a, &before, ctx.now)?;
        let o = &invoiced.order;
        let mut tx = app.store.tx();
        // The agreement must be as read: an activation or a remap in between changes where
        // the licences go.
        tx.replace(o, before.version).check_unchanged(&a);
        let event = ctx.event(p, "order.invoiced").on_agreement(&a.id);
        let event = match &invoiced.effect {
            InvoiceEffect::Attach(account) => {
                let event = event.on_account(Some(account)).with(json!({
                    "order_id": o.id, "attached_account_id": account,
                    "activation_email": "not_needed",
                }));
                // The account's volume licences changed: guards keyed on its version must see it.
                tx.bump_version(account).event(account, &event);
                event
            }
            InvoiceEffect::QueueActivationMail => {
                let (order, reason) = (Some(o.id.clone()), MailReason::Invoiced);
                let mail = MailIntent::activation(a.id.clone(), order, reason, ctx.now);
                tx.create(&mail);
                event.with(json!({ "order_id": o.id, "activation_email": "queued",
                                   "mail_id": mail.id }))
            }
        };
        tx.event(&a.id, &event);
        Ok(Planned {
            reply: Reply::ok(&OrderView::new(o, &a)),
            tx,
        })
    })
    .await
}
