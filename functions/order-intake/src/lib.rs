//! `order-intake`: partners, accounts, direct subscriptions, agreements, orders, the OSM,
//! the pool, invoice support and the audit trails. Handlers read, call a rule, commit.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use vls::access;
use vls::http::{
    Ctx, Planned, Principal, Problem, Reply, Role, method_not_allowed, mutate, to_value, unrouted,
};
use vls::input;
use vls::model::{
    Account, Agreement, MailIntent, MailReason, Order, Partner, Subscription, SubscriptionStatus,
};
use vls::rules::orders::InvoiceEffect;
use vls::rules::{agreements, orders, pool};
use vls::store::{self, keys};
use vls::types::{AccountId, AgreementId, OrderId, PartnerId, SubscriptionId};

/// Everything a request needs, built once per process.
pub type App = vls::config::Deps;

type Answer = Result<Reply, Problem>;

/// Serves one HTTP request.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let ctx = Ctx::from_request(req, &app.config.auth, (app.clock)());
    vls::http::serve(&ctx, || route(app, &ctx)).await
}

/// Maps method and path to a handler; answers with the route template (what is logged).
async fn route(app: &App, ctx: &Ctx) -> (&'static str, Answer) {
    let segments = ctx.segments();
    let m = &ctx.method;
    match segments.as_slice() {
        ["partners", id] => (
            "/partners/{partner_id}",
            match *m {
                Method::PUT => put_partner(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        ["accounts"] => (
            "/accounts",
            match *m {
                Method::POST => post_account(app, ctx).await,
                _ => method_not_allowed(),
            },
        ),
        ["accounts", id, "subscriptions"] => (
            "/accounts/{account_id}/subscriptions",
            match *m {
                Method::POST => post_subscription(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        ["accounts", id, "licenses"] => (
            "/accounts/{account_id}/licenses",
            match *m {
                Method::GET => get_licenses(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        ["accounts", id, "events"] => (
            "/accounts/{account_id}/events",
            match *m {
                Method::GET => get_account_events(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        ["agreements"] => (
            "/agreements",
            match *m {
                Method::POST => post_agreement(app, ctx).await,
                _ => method_not_allowed(),
            },
        ),
        ["agreements", id] => (
            "/agreements/{agreement_id}",
            match *m {
                Method::GET => get_agreement(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        ["agreements", id, "osm"] => (
            "/agreements/{agreement_id}/osm",
            match *m {
                Method::PUT => put_osm(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        ["agreements", id, "orders"] => (
            "/agreements/{agreement_id}/orders",
            match *m {
                Method::GET => get_agreement_orders(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        ["agreements", id, "invoice-support"] => (
            "/agreements/{agreement_id}/invoice-support",
            match *m {
                Method::GET => get_invoice_support(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        ["agreements", id, "events"] => (
            "/agreements/{agreement_id}/events",
            match *m {
                Method::GET => get_agreement_events(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        ["orders"] => (
            "/orders",
            match *m {
                Method::POST => post_order(app, ctx).await,
                _ => method_not_allowed(),
            },
        ),
        ["orders", id] => (
            "/orders/{order_id}",
            match *m {
                Method::GET => get_order(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        ["orders", id, "invoice"] => (
            "/orders/{order_id}/invoice",
            match *m {
                Method::POST => post_invoice(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        _ => unrouted(),
    }
}

// ---- ids in paths: one that cannot exist is simply not found ------------------------------

fn account_id(raw: &str) -> Result<AccountId, Problem> {
    AccountId::parse(raw).ok_or_else(|| Problem::not_found("account"))
}

fn agreement_id(raw: &str) -> Result<AgreementId, Problem> {
    AgreementId::parse(raw).ok_or_else(|| Problem::not_found("agreement"))
}

fn order_id(raw: &str) -> Result<OrderId, Problem> {
    OrderId::parse(raw).ok_or_else(|| Problem::not_found("order"))
}

// ---- representations ---------------------------------------------------------------------

/// An agreement as the API shows it (the link generation is internal).
fn agreement_view(a: &Agreement) -> Value {
    let mut v = to_value(a);
    if let Value::Object(m) = &mut v {
        m.remove("osm_generation");
        m.remove("link_seq");
    }
    v
}

/// An order as the API shows it, with the account its licences are attached to now.
fn order_view(o: &Order, a: &Agreement) -> Value {
    let mut v = to_value(o);
    if let Value::Object(m) = &mut v {
        m.insert(
            "attached_account_id".into(),
            json!(access::attached_account(o, a)),
        );
    }
    v
}

// ---- partners and accounts -----------------------------------------------------------------

async fn put_partner(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::BillingSupport])?;
    let id = PartnerId::parse(raw).ok_or_else(|| {
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
        let mut event = ctx.event(p, "partner.registered");
        event.details = json!({ "partner_id": id, "name": name });
        let mut tx = app.store.tx();
        tx.upsert(
            "partner",
            store::encode(&partner, &keys::partner(id), "partner"),
        )
        .event(keys::partner_events(id), &event);
        Ok(Planned {
            reply: Reply::ok(&partner),
            tx,
        })
    })
    .await
}

async fn post_account(app: &App, ctx: &Ctx) -> Answer {
    let p = ctx.caller(&[Role::BillingSupport])?;
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
        let mut event = ctx.event(p, "account.created");
        event.account_id = Some(account.id.clone());
        event.details = json!({ "name": account.name, "domain": account.domain, "online_services": account.online_services });
        let mut tx = app.store.tx();
        tx.create("account", store::encode(&account, &keys::account(&account.id), "account"))
            .event(keys::account_events(&account.id), &event);
        Ok(Planned { reply: Reply::created(&account), tx })
    })
    .await
}

/// The account in the path, if the caller may see it (its admin, billing support).
fn visible_account(p: &Principal, raw: &str) -> Result<AccountId, Problem> {
    let id = account_id(raw)?;
    if access::account_visible(p, &id) {
        Ok(id)
    } else {
        Err(Problem::not_found("account"))
    }
}

async fn post_subscription(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::CustomerAdmin, Role::BillingSupport])?;
    let account_id = visible_account(p, raw)?;
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
        let mut event = ctx.event(p, "subscription.created");
        event.account_id = Some(account_id.clone());
        event.details =
            json!({ "subscription_id": sub.id, "billing": sub.billing, "lines": sub.lines });
        let mut tx = app.store.tx();
        tx.create(
            "subscription",
            store::encode(
                &sub,
                &keys::subscription(account_id, &sub.id),
                "subscription",
            ),
        )
        .create(
            "subscription_ref",
            store::ref_item(&keys::subscription_ref(&sub.id), account_id.as_str()),
        )
        .event(keys::account_events(account_id), &event);
        Ok(Planned {
            reply: Reply::created(&sub),
            tx,
        })
    })
    .await
}

async fn get_licenses(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::CustomerAdmin, Role::BillingSupport])?;
    let account_id = visible_account(p, raw)?;
    let (account, subs) = app
        .store
        .account_with_subscriptions(&account_id)
        .await?
        .ok_or_else(|| Problem::not_found("account"))?;
    let holdings = app.store.account_holdings(&account).await?;
    Ok(Reply::ok(&pool::compute(&account, &subs, &holdings)))
}

async fn get_account_events(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::CustomerAdmin, Role::BillingSupport])?;
    let account_id = visible_account(p, raw)?;
    // Every account's trail starts with its creation, so an empty trail is an unknown account.
    let events = app.store.events(&keys::account_events(&account_id)).await?;
    if events.is_empty() {
        return Err(Problem::not_found("account"));
    }
    Ok(Reply::ok(&json!({ "events": events })))
}

// ---- agreements ----------------------------------------------------------------------------

async fn post_agreement(app: &App, ctx: &Ctx) -> Answer {
    let p = ctx.caller(&[Role::Partner])?;
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
        let created = agreements::create(
            cmd.clone(),
            context,
            &app.config.policy,
            AgreementId::generate(),
            ctx.now,
        )?;
        let a = &created.agreement;
        let mut tx = app.store.tx();
        tx.create("agreement", store::agreement_item(a));
        match schedule {
            // The first agreement of this customer sets its schedule (R2); a concurrent first
            // agreement loses this condition and re-reads the schedule.
            None => tx.create(
                "customer",
                store::customer_item(&a.customer.number, created.schedule, &a.id),
            ),
            Some(_) => tx.check_exists("customer", &keys::customer(&a.customer.number)),
        };
        let mut event = ctx.event(p, "agreement.created");
        event.agreement_id = Some(a.id.clone());
        event.account_id = a.account_id.clone();
        event.details = json!({
            "program": a.program, "customer_number": a.customer.number, "start_date": a.start_date,
            "anniversary": a.anniversary, "bound_to_online_services": a.bound_to_online_services,
        });
        tx.event(keys::agreement_events(&a.id), &event);
        if let Some(account) = mos_account.filter(|_| a.bound_to_online_services) {
            // R7: associated with the Online Services account from the start.
            let mut bound = account.clone();
            bound.agreement_ids.push(a.id.clone());
            bound.version += 1;
            tx.replace(
                "account",
                store::encode(&bound, &keys::account(&bound.id), "account"),
                account.version,
            );
            let mut assoc = ctx.event(p, "agreement.associated");
            assoc.agreement_id = Some(a.id.clone());
            assoc.account_id = Some(bound.id.clone());
            assoc.details = json!({ "bound_to_online_services": true });
            tx.event(keys::account_events(&bound.id), &assoc);
        }
        Ok(Planned {
            reply: Reply::json(201, &agreement_view(a)),
            tx,
        })
    })
    .await
}

/// The agreement in the path, if the caller may see it.
async fn visible_agreement(app: &App, p: &Principal, raw: &str) -> Result<Agreement, Problem> {
    let id = agreement_id(raw)?;
    app.store
        .agreement(&id)
        .await?
        .filter(|a| access::agreement_visible(p, a))
        .ok_or_else(|| Problem::not_found("agreement"))
}

const AGREEMENT_READERS: &[Role] = &[
    Role::Partner,
    Role::BillingSupport,
    Role::LicensingSpecialist,
    Role::CustomerAdmin,
];

async fn get_agreement(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(AGREEMENT_READERS)?;
    let a = visible_agreement(app, p, raw).await?;
    Ok(Reply::ok(&agreement_view(&a)))
}

async fn put_osm(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::Partner])?;
    let osm = &ctx.parse(input::osm_change)?;
    mutate(&app.store, ctx, move || async move {
        let before = visible_agreement(app, p, raw).await?;
        let after = agreements::change_osm(&before, osm.clone(), &app.config.policy)?;
        let mut event = ctx.event(p, "osm.changed");
        event.agreement_id = Some(after.id.clone());
        event.details = json!({ "from": before.osm, "to": after.osm });
        let mut tx = app.store.tx();
        tx.replace("agreement", store::agreement_item(&after), before.version)
            .event(keys::agreement_events(&after.id), &event);
        Ok(Planned {
            reply: Reply::ok(&agreement_view(&after)),
            tx,
        })
    })
    .await
}

async fn get_agreement_orders(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(AGREEMENT_READERS)?;
    let id = agreement_id(raw)?;
    let (a, orders) = app
        .store
        .agreement_with_orders(&id)
        .await?
        .filter(|(a, _)| access::agreement_visible(p, a))
        .ok_or_else(|| Problem::not_found("agreement"))?;
    let orders: Vec<Value> = orders.iter().map(|o| order_view(o, &a)).collect();
    Ok(Reply::ok(&json!({ "orders": orders })))
}

async fn get_invoice_support(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::Partner, Role::CustomerAdmin, Role::BillingSupport])?;
    let a = visible_agreement(app, p, raw).await?;
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

async fn get_agreement_events(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(AGREEMENT_READERS)?;
    let a = visible_agreement(app, p, raw).await?;
    let events = app.store.events(&keys::agreement_events(&a.id)).await?;
    Ok(Reply::ok(&json!({ "events": events })))
}

// ---- orders --------------------------------------------------------------------------------

async fn post_order(app: &App, ctx: &Ctx) -> Answer {
    let p = ctx.caller(&[Role::Partner])?;
    let cmd = &ctx.parse(input::new_order)?;
    mutate(&app.store, ctx, move || async move {
        let (before, replaced) = app
            .store
            .agreement_and_subscription(&cmd.agreement_id, cmd.replaces_subscription_id.as_ref())
            .await?;
        let before = before
            .filter(|a| access::agreement_visible(p, a))
            .ok_or_else(|| Problem::not_found("agreement").with("field", json!("agreement_id")))?;
        let placed = orders::place(&before, cmd.clone(), replaced.as_ref(), &app.config.policy, OrderId::generate(), ctx.now)?;
        let (a, o) = (&placed.agreement, &placed.order);
        let mut event = ctx.event(p, "order.placed");
        event.agreement_id = Some(a.id.clone());
        event.details = json!({
            "order_id": o.id, "lines": o.lines, "replaces_subscription_id": o.replaces_subscription_id,
            "volume_discount_eligible": a.volume_discount_eligible,
            "became_volume_discount_eligible": a.volume_discount_eligible && !before.volume_discount_eligible,
        });
        let mut tx = app.store.tx();
        tx.replace("agreement", store::agreement_item(a), before.version)
            .create("order", store::encode(o, &keys::order(&a.id, &o.id), "order"))
            .create("order_ref", store::ref_item(&keys::order_ref(&o.id), a.id.as_str()))
            .event(keys::agreement_events(&a.id), &event);
        Ok(Planned { reply: Reply::json(201, &order_view(o, a)), tx })
    })
    .await
}

/// The order in the path and its agreement, if the caller may see them.
async fn visible_order(app: &App, p: &Principal, raw: &str) -> Result<(Agreement, Order), Problem> {
    let id = order_id(raw)?;
    app.store
        .order(&id)
        .await?
        .filter(|(a, o)| access::order_visible(p, o, a))
        .ok_or_else(|| Problem::not_found("order"))
}

async fn get_order(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::Partner, Role::BillingSupport, Role::CustomerAdmin])?;
    let (a, o) = visible_order(app, p, raw).await?;
    Ok(Reply::ok(&order_view(&o, &a)))
}

async fn post_invoice(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::Partner])?;
    mutate(&app.store, ctx, move || async move {
        let (a, before) = visible_order(app, p, raw).await?;
        let invoiced = orders::invoice(&a, &before, ctx.now)?;
        let o = &invoiced.order;
        let mut tx = app.store.tx();
        // The agreement must be as read: an activation or a remap in between changes where
        // the licences go.
        tx.replace("order", store::encode(o, &keys::order(&a.id, &o.id), "order"), before.version)
            .check_version("agreement", &keys::agreement(&a.id), a.version);
        let mut event = ctx.event(p, "order.invoiced");
        event.agreement_id = Some(a.id.clone());
        match &invoiced.effect {
            InvoiceEffect::Attach(account) => {
                event.account_id = Some(account.clone());
                event.details = json!({ "order_id": o.id, "attached_account_id": account, "activation_email": "not_needed" });
                // The account's volume licences changed: guards keyed on its version must see it.
                tx.bump_version("account", &keys::account(account))
                    .event(keys::account_events(account), &event);
            }
            InvoiceEffect::QueueActivationMail => {
                let mail = MailIntent::activation(a.id.clone(), Some(o.id.clone()), MailReason::Invoiced, ctx.now);
                event.details = json!({ "order_id": o.id, "activation_email": "queued", "mail_id": mail.id });
                tx.create("mail", store::mail_item(&mail));
            }
        }
        tx.event(keys::agreement_events(&a.id), &event);
        Ok(Planned { reply: Reply::ok(&order_view(o, &a)), tx })
    })
    .await
}
