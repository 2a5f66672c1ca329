//! Partners, accounts and their direct subscriptions, the pool and the account's trail.

use vls_domain::access;
use vls_domain::input;
use vls_domain::rules::{directory, pool};
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
        let made = directory::register_partner(id, name, contact, ctx.now);
        let reply = Reply::ok(&PartnerView::from(&made.outcome));
        Ok(Planned::by(p, reply, made.change))
    })
    .await
}

pub(crate) async fn post_account(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let p = ctx.principal()?;
    let new = &ctx.parse(input::new_account)?;
    mutate(&app.store, ctx, move || async move {
        let made = directory::open_account(AccountId::generate(), new, ctx.now);
        let reply = Reply::created(&AccountView::from(&made.outcome));
        Ok(Planned::by(p, reply, made.change))
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
        let id = SubscriptionId::generate();
        let made = directory::add_subscription(&account, id, billing, lines, ctx.now);
        let reply = Reply::created(&SubscriptionView::from(&made.outcome));
        Ok(Planned::by(p, reply, made.change))
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
