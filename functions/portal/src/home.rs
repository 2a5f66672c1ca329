//! P1, the home page (SPEC §7.3): the pool's totals per SKU as of now (never paged), its
//! sources newest first 25 at a time, and a "to do" box: the open service requests and, among
//! the 25 newest subscriptions, the active ones R11 would now let the administrator cancel (a
//! bounded read: it never walks every subscription).

use vls_domain::catalog::Sku;
use vls_domain::html::escape;
use vls_domain::model::{ServiceRequest, Subscription, SubscriptionStatus};
use vls_domain::rules::{cancellation, pool};
use vls_domain::sources::SourceKind;
use vls_http::paging::List;
use vls_http::{Answer, Ctx, Params, Problem, Reply};

use crate::guard::{self, Signed};
use crate::layout::{self, wide_table};
use crate::{App, PAGE_SIZE, catalog};

/// GET /portal.
pub async fn home(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let signed = match guard::for_page(app, ctx).await {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    Ok(match parts(app, ctx, &signed).await {
        Ok(main) => {
            let title = format!("Licences as of {}", layout::time(ctx.now));
            Reply::html(
                200,
                layout::page(Some(&signed.chrome()), "/portal", &title, &main),
            )
        }
        Err(p) => guard::list_problem(ctx, &p, &signed.chrome(), "/portal"),
    })
}

async fn parts(app: &App, ctx: &Ctx, signed: &Signed) -> Result<String, Problem> {
    let account = &signed.account;
    let p = signed.principal();
    let mut list = List::new(
        app.config.cursor_key.as_ref(),
        ("sources", "pool_sources"),
        account.id.as_str(),
        None,
        &p,
    );
    let cursor = ctx.query_param("cursor");
    let asked = list.asked_for(PAGE_SIZE, true, cursor.as_deref())?;
    let (lines, next) =
        vls_cases::pool::source_lines(&app.store, &account.id, &asked, None).await?;
    let older = list.cursor(next.as_deref())?;
    let requests = app
        .store
        .service_requests_page(&account.id, None, PAGE_SIZE, true)
        .await?;
    let subs = app
        .store
        .subscriptions_page(&account.id, None, PAGE_SIZE, true)
        .await?;
    let todo = to_do(&requests.items, &subs.items, account);
    let totals = pool::totals(account);
    Ok(format!(
        "<h1>Licences as of {now}</h1>{todo}{totals}{sources}",
        now = layout::time(ctx.now),
        totals = totals_table(&totals),
        sources = sources_table(&lines, older.as_deref()),
    ))
}

fn totals_table(t: &pool::Totals) -> String {
    let rows: String = t
        .skus
        .iter()
        .map(|s| {
            format!(
                "<tr><th scope=\"row\">{name}<br><small><code>{code}</code></small></th>\
<td class=\"n\" data-sku=\"{code}\">{total}</td><td class=\"n\">{direct}</td>\
<td class=\"n\">{volume}</td><td class=\"n\">{relied}</td></tr>",
                name = escape(s.sku.display_name()),
                code = escape(s.sku.code()),
                total = s.total,
                direct = s.direct,
                volume = s.volume,
                relied = s.relied_on,
            )
        })
        .collect();
    let body = if rows.is_empty() {
        format!("<p id=\"no-licences\">{}</p>", catalog::NO_LICENCES)
    } else {
        wide_table(
            "Licences per product",
            &format!(
                "<table id=\"totals\"><caption>Licences per product</caption><tr>\
<th scope=\"col\">Product</th><th scope=\"col\" class=\"n\">Total</th>\
<th scope=\"col\" class=\"n\">From direct subscriptions</th>\
<th scope=\"col\" class=\"n\">From agreements</th>\
<th scope=\"col\" class=\"n\">Standing in for cancelled subscriptions</th></tr>{rows}</table>"
            ),
        )
    };
    format!("<h2>Per product</h2>{body}")
}

fn source_link(kind: SourceKind, id: &str) -> String {
    let (what, path) = match kind {
        SourceKind::Direct => ("Direct subscription", "subscriptions"),
        SourceKind::Agreement => ("Agreement", "agreements"),
    };
    format!(
        "{what} <a href=\"/portal/{path}/{id}\"><code class=\"source-id\">{id}</code></a>",
        id = escape(id)
    )
}

fn sources_table(lines: &[pool::SourceLine], older: Option<&str>) -> String {
    let rows: String = lines
        .iter()
        .map(|l| {
            format!(
                "<tr><td>{source}</td><td>{sku}</td><td class=\"n\">{qty}</td></tr>",
                source = source_link(l.kind, &l.id),
                sku = escape(Sku::display_name(l.sku)),
                qty = l.quantity,
            )
        })
        .collect();
    let older = layout::older("/portal", older);
    if rows.is_empty() {
        return format!(
            "<h2>Where they come from</h2><p>{}</p>{older}",
            catalog::NO_SOURCES
        );
    }
    let table = format!(
        "<table id=\"sources\"><caption>Sources, newest first</caption><tr>\
<th scope=\"col\">Source</th><th scope=\"col\">Product</th>\
<th scope=\"col\" class=\"n\">Licences</th></tr>{rows}</table>"
    );
    format!(
        "<h2>Where they come from</h2>{}{older}",
        wide_table("Sources", &table)
    )
}

fn to_do(
    requests: &[ServiceRequest],
    subs: &[Subscription],
    account: &vls_domain::model::Account,
) -> String {
    let mut items: Vec<String> = requests
        .iter()
        .filter(|r| !r.status.is_closed())
        .map(|r| {
            format!(
                "<li>Service request <a href=\"/portal/service-requests/{id}\">\
<code>{id}</code></a> for subscription <code>{sub}</code> is {status}.</li>",
                id = escape(r.id.as_str()),
                sub = escape(r.subscription_id.as_str()),
                status = catalog::request_status(r.status),
            )
        })
        .collect();
    items.extend(
        subs.iter()
            .filter(|s| s.status == SubscriptionStatus::Active && s.open_request.is_none())
            .filter(|s| {
                cancellation::coverage(account, s, &account.volume)
                    .iter()
                    .all(|c| c.covered)
            })
            .map(|s| {
                format!(
                    "<li>Subscription <a href=\"/portal/subscriptions/{id}\"><code>{id}</code></a> \
{can}</li>",
                    id = escape(s.id.as_str()),
                    can = catalog::CAN_CANCEL,
                )
            }),
    );
    if items.is_empty() {
        return String::new();
    }
    format!(
        "<section class=\"todo noprint\" aria-labelledby=\"todo\">\
<h2 id=\"todo\">To do</h2><ul>{}</ul></section>",
        items.concat()
    )
}
