//! Partners, accounts and their direct subscriptions, the pool and the account's trail.

use vls_domain::access;
use vls_domain::audit::Audit;
use vls_domain::input;
use vls_domain::model::{Account, Partner, Subscription, SubscriptionStatus};
use vls_domain::rules::pool;
use vls_domain::sources::Source;
use vls_domain::types::{AccountId, PartnerId, SubscriptionId};
use vls_http::paging::List;
use vls_http::views::{AccountView, EventView, PartnerView, SubscriptionView};
use vls_http::{Answer, Ctx, Params, Planned, Principal, Problem, Reply, mutate};

use crate::App;

pub(crate) async fn put_partner(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id = PartnerId::parse(path.get("partner_id")).ok_or_else(|| {
        Problem::new(
            422,
            "invalid_id",
            "a partner id is 1–64 letters, digits, '.', '_' or '-'",
        )
        .at_field("partner_id")
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
        let event = ctx.event(
            p,
            Audit::PartnerRegistered {
                partner_id: id.clone(),
                name: name.clone(),
            },
        );
        let mut tx = app.store.tx();
        tx.upsert(&partner).event(&id, &event);
        Ok(Planned {
            reply: Reply::ok(&PartnerView::from(&partner)),
            tx,
        })
    })
    .await
}

pub(crate) async fn post_account(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let p = ctx.principal()?;
    let (name, domain, online_services) = ctx.parse(input::new_account)?;
    let (name, domain, online_services) = (&name, &domain, &online_services);
    mutate(&app.store, ctx, move || async move {
        let account = Account {
            id: AccountId::generate(),
            name: name.clone(),
            domain: domain.clone(),
            online_services: online_services.clone(),
            relied_on: Default::default(),
            volume: Default::default(),
            created_at: ctx.now,
            version: 1,
        };
        let audit = Audit::AccountCreated {
            name: account.name.clone(),
            domain: account.domain.clone(),
            online_services: account.online_services.clone(),
        };
        let event = ctx.event(p, audit).on_account(Some(&account.id));
        let mut tx = app.store.tx();
        tx.create(&account).event(&account.id, &event);
        Ok(Planned {
            reply: Reply::created(&AccountView::from(&account)),
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

pub(crate) async fn post_subscription(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let account_id = visible_account(p, path)?;
    let (billing, lines) = ctx.parse(input::new_subscription)?;
    let (account_id, lines) = (&account_id, &lines);
    mutate(&app.store, ctx, move || async move {
        let Some(account) = app.store.account(account_id).await? else {
            return Err(Problem::not_found("account"));
        };
        let sub = Subscription {
            id: SubscriptionId::generate(),
            account_id: account_id.clone(),
            billing,
            lines: lines.clone(),
            status: SubscriptionStatus::Active,
            created_at: ctx.now,
            version: 1,
        };
        let audit = Audit::SubscriptionCreated {
            subscription_id: sub.id.clone(),
            billing: sub.billing,
            lines: sub.lines.clone(),
        };
        let event = ctx.event(p, audit).on_account(Some(account_id));
        let mut tx = app.store.tx();
        // The subscription is one of the pool's sources from now on.
        tx.create(&sub)
            .put_source(&Source::direct(&sub))
            .advance(account_id, account.version)
            .event(account_id, &event);
        Ok(Planned {
            reply: Reply::created(&SubscriptionView::from(&sub)),
            tx,
        })
    })
    .await
}

pub(crate) async fn get_licenses(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let account_id = visible_account(p, path)?;
    let (account, sources) = app
        .store
        .pool(&account_id)
        .await?
        .ok_or_else(|| Problem::not_found("account"))?;
    Ok(Reply::ok(&pool::of(&account.id, &sources)))
}

/// GET /accounts/{id}/events: a page of its trail, oldest first (R17).
pub(crate) async fn get_account_events(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let account_id = visible_account(p, path)?;
    if app.store.account(&account_id).await?.is_none() {
        return Err(Problem::not_found("account"));
    }
    let key = app.config.cursor_key.as_ref();
    let list = List::new(
        key,
        ("events", "account_events"),
        account_id.as_str(),
        None,
        p,
    );
    let asked = list.asked(ctx)?;
    let page = app
        .store
        .events_page(&account_id, asked.after.as_deref(), asked.limit)
        .await?;
    let events: Vec<EventView> = page.items.iter().map(EventView::from).collect();
    list.reply(&events, page.next.as_deref())
}
