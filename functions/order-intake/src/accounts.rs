//! Partners, accounts and their direct subscriptions, the pool and the account's trail.

use vls_domain::access;
use vls_domain::catalog::Sku;
use vls_domain::input;
use vls_domain::model::{Account, SubscriptionStatus};
use vls_domain::rules::directory;
use vls_domain::rules::pool;
use vls_domain::types::{AccountId, PartnerId, SubscriptionId};
use vls_http::paging::{Asked, List};
use vls_http::views::SubscriptionView;
use vls_http::views::{AccountView, EventView, PartnerView, PoolView, SourceLineView};
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
        let registered = app.store.partner(id).await?;
        let made = directory::register_partner(registered.as_ref(), id, (name, contact), ctx.now);
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
        let location = format!("/accounts/{}", made.outcome.id);
        let reply = Reply::created(&AccountView::from(&made.outcome), location).with_etag();
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

/// The account in the path as stored, if the caller may see it and it exists (404 otherwise).
async fn read_account(app: &App, p: &Principal, path: &Params) -> Result<Account, Problem> {
    let id = visible_account(p, path)?;
    app.store
        .account(&id)
        .await?
        .ok_or_else(|| Problem::not_found("account"))
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
        let sub = &made.outcome;
        let location = format!("/accounts/{}/subscriptions/{}", sub.account_id, sub.id);
        let reply = Reply::created(&SubscriptionView::from(sub), location).with_etag();
        Ok(Planned::by(p, reply, made.change))
    })
    .await
}

/// GET /accounts/{id}: the account (its administrator, billing support).
pub(crate) async fn get_account(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let account = read_account(app, ctx.principal()?, path).await?;
    Ok(Reply::ok(&AccountView::from(&account)).with_etag())
}

/// A list hanging off the account in the path, as the caller asks for it: the account must
/// exist (404), then the filter `param` (parsed by `parse`; the cursors are bound to it),
/// `?limit=`, `?order=` and `?cursor=`, in that order.
async fn account_list<'a, F>(
    app: &'a App,
    ctx: &Ctx,
    path: &Params,
    names: (&'static str, &'static str),
    filter: Option<Filter<F>>,
) -> Result<(AccountId, List<'a>, Asked, Option<F>), Problem> {
    let p = ctx.principal()?;
    let account_id = read_account(app, p, path).await?.id;
    let (raw, wanted) = match filter {
        None => (None, None),
        Some(Filter { param, parse }) => {
            let raw = ctx.query_param(param).filter(|s| !s.is_empty());
            let wanted = raw.as_deref().map(parse).transpose()?;
            (raw, wanted)
        }
    };
    let key = app.config.cursor_key.as_ref();
    let mut list = List::new(key, names, account_id.as_str(), raw.as_deref(), p);
    let asked = list.asked(ctx)?;
    Ok((account_id, list, asked, wanted))
}

/// A list's filter: its query parameter and what the parameter's value means.
struct Filter<F> {
    param: &'static str,
    parse: fn(&str) -> Result<F, Problem>,
}

/// GET /accounts/{id}/subscriptions?status=active|cancelled: its direct subscriptions, a page
/// at a time in the order they were bought (the filter applies to each page read).
pub(crate) async fn list_subscriptions(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let names = ("subscriptions", "subscriptions");
    let filter = Filter {
        param: "status",
        parse: subscription_status,
    };
    let (account_id, list, asked, wanted) =
        account_list(app, ctx, path, names, Some(filter)).await?;
    let page = app
        .store
        .subscriptions_page(
            &account_id,
            asked.after.as_deref(),
            asked.limit,
            asked.descending,
        )
        .await?;
    let shown: Vec<SubscriptionView> = page
        .items
        .iter()
        .filter(|s| wanted.is_none_or(|w| s.status == w))
        .map(SubscriptionView::from)
        .collect();
    list.reply(&shown, page.next.as_deref())
}

fn subscription_status(raw: &str) -> Result<SubscriptionStatus, Problem> {
    match raw {
        "active" => Ok(SubscriptionStatus::Active),
        "cancelled" => Ok(SubscriptionStatus::Cancelled),
        other => Err(Problem::new(
            422,
            "invalid_status",
            format!("{other:?} is not active or cancelled"),
        )
        .at_field("status")),
    }
}

/// GET /accounts/{id}/subscriptions/{sid}: one direct subscription of the account.
pub(crate) async fn get_subscription(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let account_id = visible_account(p, path)?;
    let id: SubscriptionId = path.id("subscription_id")?;
    let sub = app
        .store
        .subscription(&account_id, &id)
        .await?
        .ok_or_else(|| Problem::not_found("subscription"))?;
    Ok(Reply::ok(&SubscriptionView::from(&sub)).with_etag())
}

/// GET /accounts/{id}/licenses: the pool's totals as the account keeps them (one read).
pub(crate) async fn get_licenses(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let account = read_account(app, ctx.principal()?, path).await?;
    Ok(Reply::ok(&PoolView::from(&pool::totals(&account))).with_etag())
}

/// GET /accounts/{id}/licenses/sources?sku=: the pool's sources, a line per source and SKU,
/// in the order the sources joined the pool, a page at a time (the account, then one query).
pub(crate) async fn get_license_sources(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let names = ("sources", "pool_sources");
    let filter = Filter {
        param: "sku",
        parse: sku_filter,
    };
    let (account_id, list, asked, sku) = account_list(app, ctx, path, names, Some(filter)).await?;
    let (lines, next) = vls_cases::pool::source_lines(&app.store, &account_id, &asked, sku).await?;
    let shown: Vec<SourceLineView> = lines.iter().map(SourceLineView::from).collect();
    list.reply(&shown, next.as_deref())
}

fn sku_filter(code: &str) -> Result<Sku, Problem> {
    Sku::parse(code).ok_or_else(|| {
        Problem::new(422, "unknown_sku", format!("{code:?} is not a catalog SKU")).at_field("sku")
    })
}

/// GET /accounts/{id}/events: a page of its trail, oldest first (R17).
pub(crate) async fn get_account_events(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let names = ("events", "account_events");
    let (account_id, list, asked, _) = account_list::<()>(app, ctx, path, names, None).await?;
    let page = app
        .store
        .events_page(
            &account_id,
            asked.after.as_deref(),
            asked.limit,
            asked.descending,
        )
        .await?;
    let events: Vec<EventView> = page.items.iter().map(EventView::from).collect();
    list.reply(&events, page.next.as_deref())
}

/// GET /partners/{id}/events: a page of the partner's trail, oldest first (its registration
/// and its webhook endpoints' changes; the partner itself and billing support). Another
/// partner's is 404.
pub(crate) async fn get_partner_events(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id =
        PartnerId::parse(path.get("partner_id")).ok_or_else(|| Problem::not_found("partner"))?;
    let mine = match p {
        Principal::Partner { partner_id, .. } => partner_id == &id,
        _ => true,
    };
    if !mine || app.store.partner(&id).await?.is_none() {
        return Err(Problem::not_found("partner"));
    }
    let key = app.config.cursor_key.as_ref();
    let mut list = List::new(
        key,
        ("events", "partner_events_trail"),
        id.as_str(),
        None,
        p,
    );
    let asked = list.asked(ctx)?;
    let page = app
        .store
        .events_page(&id, asked.after.as_deref(), asked.limit, asked.descending)
        .await?;
    let events: Vec<EventView> = page.items.iter().map(EventView::from).collect();
    list.reply(&events, page.next.as_deref())
}
