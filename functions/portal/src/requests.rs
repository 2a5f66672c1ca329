//! P8 (SPEC §7.3, R18): the account's service requests, and one of them with the shortfall
//! it was opened for, its timeline, and Withdraw while it is open.

use vls_cases::service_requests::{Closing, visible_request};
use vls_domain::html::escape;
use vls_domain::model::ServiceRequest;
use vls_domain::types::ServiceRequestId;
use vls_http::paging::List;
use vls_http::{Answer, Ctx, Params, Problem, Reply};

use crate::catalog::{self, Facts};
use crate::forms::{self, Sent};
use crate::guard::{self, Signed};
use crate::layout::{self, wide_table};
use crate::{App, PAGE_SIZE, pages};

const NAV: &str = "/portal/service-requests";

/// GET /portal/service-requests: newest first.
pub async fn list(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    guard::list_page(app, ctx, (NAV, "Service requests"), async |s| {
        rows(app, ctx, s).await
    })
    .await
}

async fn rows(app: &App, ctx: &Ctx, signed: &Signed) -> Result<String, Problem> {
    let p = signed.principal();
    let account = &signed.account.id;
    let names = ("service_requests", "service_requests");
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
        .service_requests_page(account, asked.after.as_deref(), asked.limit, true)
        .await?;
    let older = list.cursor(page.next.as_deref())?;
    let rows: String = page
        .items
        .iter()
        .map(|r| {
            format!(
                "<tr><td><a href=\"/portal/service-requests/{id}\"><code>{id}</code></a></td>\
<td><a href=\"/portal/subscriptions/{sub}\"><code>{sub}</code></a></td><td>{status}</td>\
<td>{opened}</td></tr>",
                id = escape(r.id.as_str()),
                sub = escape(r.subscription_id.as_str()),
                status = catalog::request_status(r.status),
                opened = layout::time(r.opened_at),
            )
        })
        .collect();
    let table = format!(
        "<table id=\"requests\"><caption>Service requests, newest first</caption><tr>\
<th scope=\"col\">Request</th><th scope=\"col\">Subscription</th><th scope=\"col\">Status</th>\
<th scope=\"col\">Opened</th></tr>{rows}</table>"
    );
    let empty = if page.items.is_empty() {
        catalog::NO_REQUESTS
    } else {
        ""
    };
    Ok(format!(
        "<h1>Service requests</h1><p>{empty}</p>{}{}",
        wide_table("Service requests", &table),
        layout::older(NAV, older.as_deref())
    ))
}

/// GET /portal/service-requests/{service_request_id}.
pub async fn show(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let signed = match guard::for_page(app, ctx).await {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    Ok(request_page(app, ctx, &signed, path, None).await)
}

async fn request_page(
    app: &App,
    ctx: &Ctx,
    signed: &Signed,
    path: &Params,
    refused: Option<&Problem>,
) -> Reply {
    let chrome = signed.chrome();
    let p = signed.principal();
    let id = path.id::<ServiceRequestId>("service_request_id").ok();
    let found = match visible_request(&p, id) {
        Ok(id) => app.store.service_request(&id).await.map_err(Problem::from),
        Err(e) => Err(e),
    };
    let r = match found {
        Ok(Some(r)) => r,
        Ok(None) => return pages::not_found(ctx, Some(&chrome)),
        Err(e) => return guard::problem_page(ctx, &e, Some(&chrome)),
    };
    let facts = Facts {
        status: Some(catalog::request_status(r.status)),
        ..Facts::default()
    };
    let error = refused
        .map(|p| pages::refused(ctx, p, &facts, &[]))
        .unwrap_or_default();
    let title = format!("Service request {}", r.id);
    let main = format!(
        "<h1>Service request <code>{}</code></h1>{error}{}",
        escape(r.id.as_str()),
        body(signed, &r)
    );
    let (status, title) = match refused {
        Some(p) => (p.status, format!("Error: {title}")),
        None => (200, title),
    };
    Reply::html(status, layout::page(Some(&chrome), NAV, &title, &main))
}

fn body(signed: &Signed, r: &ServiceRequest) -> String {
    let steps: String = r
        .timeline
        .iter()
        .map(|s| {
            format!(
                "<tr><td>{at}</td><td>{who}</td><td>{status}</td><td class=\"note\">{note}</td>\
</tr>",
                at = layout::time(s.at),
                who = catalog::role(&s.role),
                status = catalog::request_status(s.status),
                note = escape(s.note.as_deref().unwrap_or("")),
            )
        })
        .collect();
    let timeline = format!(
        "<table id=\"timeline\"><caption>What happened</caption><tr><th scope=\"col\">When</th>\
<th scope=\"col\">Who</th><th scope=\"col\">Status</th><th scope=\"col\">Note</th></tr>{steps}\
</table>"
    );
    let withdraw = if r.status.is_closed() {
        String::new()
    } else {
        format!(
            "<form method=\"post\" action=\"/portal/service-requests/{id}/withdraw\">{hidden}\
<button type=\"submit\" id=\"withdraw\">Withdraw the request</button></form>",
            id = escape(r.id.as_str()),
            hidden = forms::hidden(&signed.session),
        )
    };
    format!(
        "<p>Status: <strong id=\"status\">{status}</strong> · subscription \
<a href=\"/portal/subscriptions/{sub}\"><code>{sub}</code></a> · opened {opened}</p>\
<p>{consent}</p><p class=\"message\">{message}</p>{shortfall}{timeline}{withdraw}",
        status = catalog::request_status(r.status),
        sub = escape(r.subscription_id.as_str()),
        opened = layout::time(r.opened_at),
        consent = if r.accept_license_loss {
            catalog::CONSENTED
        } else {
            catalog::NOT_CONSENTED
        },
        message = escape(r.message.as_deref().unwrap_or("")),
        shortfall = shortfall_at_opening(r),
        timeline = wide_table("What happened", &timeline),
    )
}

fn shortfall_at_opening(r: &ServiceRequest) -> String {
    let value = serde_json::json!({ "shortfalls": r.shortfalls });
    let p = Problem::new(409, "cancellation_would_lose_licenses", "")
        .with("shortfalls", value["shortfalls"].clone());
    format!(
        "<h2>Not covered when it was opened</h2>{}",
        wide_table("Not covered", &catalog::shortfall_table(&p))
    )
}

/// POST /portal/service-requests/{service_request_id}/withdraw: R18, as the JSON route runs
/// it; 303 back to the request, or the request again with the refusal.
pub async fn withdraw(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let back = format!(
        "/portal/service-requests/{}",
        path.get("service_request_id")
    );
    let Sent { signed, key, .. } = match forms::sent(app, ctx, &back).await {
        Ok(sent) => sent,
        Err(page) => return Ok(page),
    };
    let p = signed.principal();
    let id = match visible_request(&p, path.id::<ServiceRequestId>("service_request_id").ok()) {
        Ok(id) => id,
        Err(_) => {
            return Ok(pages::not_found(ctx, Some(&signed.chrome())));
        }
    };
    let by = forms::by(&p, &signed, key);
    let answer =
        vls_cases::service_requests::close(&app.store, ctx, &by, &id, &Closing::Withdraw).await;
    Ok(match answer {
        Ok(_) => pages::see_other(app, &back),
        Err(problem) if problem.status == 404 => pages::not_found(ctx, Some(&signed.chrome())),
        Err(problem) => request_page(app, ctx, &signed, path, Some(&problem)).await,
    })
}
