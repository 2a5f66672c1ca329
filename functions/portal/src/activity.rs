//! P9 (SPEC §7.3): the account's trail, newest first: when, the action in words, who (the
//! signed-in person's own email, otherwise the role), and the ids it concerns.

use vls_domain::html::escape;
use vls_domain::trail::Event;
use vls_http::paging::List;
use vls_http::{Answer, Ctx, Params, Problem};

use crate::guard::{self, Signed};
use crate::layout::{self, wide_table};
use crate::{App, PAGE_SIZE, catalog};

const NAV: &str = "/portal/activity";

/// GET /portal/activity.
pub async fn activity(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    guard::list_page(app, ctx, (NAV, "Activity"), async |s| {
        rows(app, ctx, s).await
    })
    .await
}

async fn rows(app: &App, ctx: &Ctx, signed: &Signed) -> Result<String, Problem> {
    let p = signed.principal();
    let account = &signed.account.id;
    let names = ("events", "account_events");
    let mut list = List::new(
        app.config.cursor_key.as_ref(),
        names,
        account.as_str(),
        None,
        &p,
    );
    let asked = list.asked_for(PAGE_SIZE, true, ctx.query_param("cursor").as_deref())?;
    let page = app
        .store
        .events_page(account, asked.after.as_deref(), asked.limit, true)
        .await?;
    let older = list.cursor(page.next.as_deref())?;
    let rows: String = page.items.iter().map(|e| row(signed, e)).collect();
    let table = format!(
        "<table id=\"events\"><caption>What happened on the account, newest first</caption><tr>\
<th scope=\"col\">When</th><th scope=\"col\">What</th><th scope=\"col\">Who</th>\
<th scope=\"col\">Concerning</th></tr>{rows}</table>"
    );
    Ok(format!(
        "<h1>Activity</h1>{}{}",
        wide_table("Activity", &table),
        layout::older(NAV, older.as_deref())
    ))
}

fn row(signed: &Signed, e: &Event) -> String {
    let own = e.actor.sub == signed.session.sub;
    let who = match (own, e.details.get("email").and_then(|v| v.as_str())) {
        (true, _) => escape(signed.session.email.as_deref().unwrap_or(catalog::NO_EMAIL)),
        (false, _) => catalog::role(&e.actor.role).to_owned(),
    };
    let ids: Vec<String> = e
        .details
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.ends_with("_id"))
        .filter_map(|(_, v)| v.as_str())
        .map(|id| format!("<code>{}</code>", escape(id)))
        .collect();
    format!(
        "<tr><td>{at}</td><td>{what}</td><td>{who}</td><td>{ids}</td></tr>",
        at = layout::time(e.at),
        what = catalog::action(&e.action),
        ids = ids.join(" "),
    )
}
