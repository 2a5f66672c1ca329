//! P6 and P7 (SPEC §7.3): the account's direct subscriptions, and one of them with R11's
//! preview line by line; its cancel form only when R11 passes, otherwise the shortfall in
//! words and the service-request form (R18), or a link to the request already open.

use vls_cases::cancellation::{Asked, account_and_subscription};
use vls_domain::html::escape;
use vls_domain::model::{Account, Subscription, SubscriptionStatus};
use vls_domain::rules::cancellation::{self, Coverage};
use vls_domain::rules::service_requests::Ask;
use vls_domain::types::SubscriptionId;
use vls_http::paging::List;
use vls_http::{Answer, Ctx, Params, Problem, Reply};

use crate::catalog::{self, Facts};
use crate::forms::{self, Form, Sent};
use crate::guard::{self, Signed};
use crate::layout::{self, wide_table};
use crate::{App, PAGE_SIZE, pages};

const NAV: &str = "/portal/subscriptions";

/// GET /portal/subscriptions: the account's subscriptions, newest first, cancelled included.
pub async fn list(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    guard::list_page(app, ctx, (NAV, "Subscriptions"), async |s| {
        rows(app, ctx, s).await
    })
    .await
}

async fn rows(app: &App, ctx: &Ctx, signed: &Signed) -> Result<String, Problem> {
    let p = signed.principal();
    let account = &signed.account.id;
    let names = ("subscriptions", "subscriptions");
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
        .subscriptions_page(account, asked.after.as_deref(), asked.limit, true)
        .await?;
    let older = list.cursor(page.next.as_deref())?;
    let rows: String = page
        .items
        .iter()
        .map(|s| {
            format!(
                "<tr><td><a href=\"/portal/subscriptions/{id}\"><code>{id}</code></a></td>\
<td>{status}</td><td>{lines}</td><td>{bought}</td></tr>",
                id = escape(s.id.as_str()),
                status = status_word(s.status),
                lines = layout::lines(&s.lines),
                bought = layout::time(s.created_at),
            )
        })
        .collect();
    let table = format!(
        "<table id=\"subscriptions\"><caption>Direct subscriptions, newest first</caption><tr>\
<th scope=\"col\">Subscription</th><th scope=\"col\">Status</th><th scope=\"col\">Licences</th>\
<th scope=\"col\">Bought</th></tr>{rows}</table>"
    );
    Ok(format!(
        "<h1>Subscriptions</h1>{}{}",
        wide_table("Subscriptions", &table),
        layout::older(NAV, older.as_deref())
    ))
}

fn status_word(s: SubscriptionStatus) -> &'static str {
    match s {
        SubscriptionStatus::Active => "active",
        SubscriptionStatus::Cancelled => "cancelled",
    }
}

/// GET /portal/subscriptions/{subscription_id}.
pub async fn show(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let signed = match guard::for_page(app, ctx).await {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    Ok(subscription_page(app, ctx, &signed, path, None).await)
}

/// What a refused form of P7 brings back: its problem and the values sent.
struct Refused<'a> {
    problem: &'a Problem,
    form: &'a Form,
}

async fn subscription_page(
    app: &App,
    ctx: &Ctx,
    signed: &Signed,
    path: &Params,
    refused: Option<Refused<'_>>,
) -> Reply {
    let chrome = signed.chrome();
    let p = signed.principal();
    let Ok(id) = path.id::<SubscriptionId>("subscription_id") else {
        return pages::not_found(ctx, Some(&chrome));
    };
    let read = account_and_subscription(&app.store, &p, (Some(signed.account.id.clone()), &id));
    let (account, sub) = match read.await {
        Ok(found) => found,
        Err(e) => return guard::problem_page(ctx, &e, Some(&chrome)),
    };
    let title = format!("Subscription {}", sub.id);
    let main = body(ctx, signed, (&account, &sub), refused.as_ref());
    let (status, title) = match &refused {
        Some(r) => (r.problem.status, format!("Error: {title}")),
        None => (200, title),
    };
    Reply::html(status, layout::page(Some(&chrome), NAV, &title, &main))
}

fn body(
    ctx: &Ctx,
    signed: &Signed,
    (account, sub): (&Account, &Subscription),
    refused: Option<&Refused<'_>>,
) -> String {
    let facts = Facts {
        status: Some(status_word(sub.status)),
        request: sub.open_request.as_ref().map(|r| r.as_str()),
        ..Facts::default()
    };
    let error = refused
        .map(|r| pages::refused(ctx, r.problem, &facts, &FIELDS))
        .unwrap_or_default();
    let head = format!(
        "<h1>Subscription <code>{id}</code></h1>{error}<p>Status: <strong id=\"status\">{status}\
</strong> · billed by {billing} · bought {bought}</p><p>Licences: {lines}</p>",
        id = escape(sub.id.as_str()),
        status = status_word(sub.status),
        billing = catalog::billing(sub.billing),
        bought = layout::time(sub.created_at),
        lines = layout::lines(&sub.lines),
    );
    if sub.status == SubscriptionStatus::Cancelled {
        return format!(
            "{head}<p id=\"verdict\">{}</p>{}",
            catalog::CANCELLED,
            cancelled(sub)
        );
    }
    let coverage = cancellation::coverage(account, sub, &account.volume);
    let passes = coverage.iter().all(|c| c.covered);
    let form = refused.map(|r| r.form);
    let next = if passes {
        cancel_form(signed, sub, form)
    } else {
        short_of(signed, sub, &coverage, (form, refused.map(|r| r.problem)))
    };
    format!("{head}{}{next}", preview_table(&coverage))
}

/// When and by whom it was cancelled, and what volume licences stand in for.
fn cancelled(sub: &Subscription) -> String {
    let Some(c) = &sub.cancellation else {
        return String::new();
    };
    let relied: Vec<String> = c
        .relied_on
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(sku, n)| format!("{n} × {}", escape(sku.display_name())))
        .collect();
    let relied = if relied.is_empty() {
        catalog::NOTHING.to_owned()
    } else {
        relied.join(", ")
    };
    format!(
        "<dl class=\"facts\"><dt>Cancelled</dt><dd id=\"cancelled-at\">{at}</dd><dt>By</dt>\
<dd id=\"cancelled-by\">{by}</dd><dt>Volume licences standing in for it</dt>\
<dd id=\"relied-on\">{relied}</dd></dl>",
        at = layout::time(c.at),
        by = catalog::role(&c.by_role),
    )
}

/// The form fields a refusal may name: (field, input id, label).
const FIELDS: [(&str, &str, &str); 2] = [
    ("reason", "reason", "Reason"),
    ("message", "message", "Message to Billing Support"),
];

fn preview_table(coverage: &[Coverage]) -> String {
    let rows: String = coverage
        .iter()
        .map(|c| {
            let relies = u64::try_from(c.available.max(0)).unwrap_or(0).min(c.direct);
            format!(
                "<tr data-sku=\"{code}\"><th scope=\"row\">{name}</th><td class=\"n\">{direct}</td>\
<td class=\"n\">{volume}</td><td class=\"n\">{relied}</td><td class=\"n\">{available}</td>\
<td class=\"n\">{relies}</td><td>{covered}</td></tr>",
                code = escape(c.sku.code()),
                name = escape(c.sku.display_name()),
                direct = c.direct,
                volume = c.volume,
                relied = c.relied_on,
                available = c.available,
                covered = if c.covered { "yes" } else { "no" },
            )
        })
        .collect();
    let table = format!(
        "<table id=\"preview\"><caption>What cancelling it would do, product by product</caption>\
<tr><th scope=\"col\">Product</th><th scope=\"col\" class=\"n\">This subscription</th>\
<th scope=\"col\" class=\"n\">Volume licences</th><th scope=\"col\" class=\"n\">Already relied on\
</th><th scope=\"col\" class=\"n\">Available</th><th scope=\"col\" class=\"n\">It would rely on\
</th>\
<th scope=\"col\">Covered</th></tr>{rows}</table>"
    );
    wide_table("What cancelling it would do", &table)
}

fn cancel_form(signed: &Signed, sub: &Subscription, form: Option<&Form>) -> String {
    let reason = form
        .and_then(|f| f.get("reason"))
        .unwrap_or(catalog::DEFAULT_REASON);
    format!(
        "<p id=\"verdict\">{verdict}</p><form method=\"post\" \
action=\"/portal/subscriptions/{id}/cancel\">{hidden}<label for=\"reason\">Reason</label>\
<textarea id=\"reason\" name=\"reason\" rows=\"2\" maxlength=\"1000\" required>{reason}</textarea>\
<p>{stops}</p><button type=\"submit\" id=\"cancel\">Cancel the subscription</button></form>",
        verdict = catalog::CAN_CANCEL_NOW,
        id = escape(sub.id.as_str()),
        hidden = forms::hidden(&signed.session),
        reason = escape(reason),
        stops = catalog::CANCEL_STOPS_BILLING,
    )
}

/// The shortfall in words, what would cover it, and the service-request form (or the link to
/// the request already open).
fn short_of(
    signed: &Signed,
    sub: &Subscription,
    coverage: &[Coverage],
    (form, problem): (Option<&Form>, Option<&Problem>),
) -> String {
    let missing: Vec<String> = coverage
        .iter()
        .filter(|c| !c.covered)
        .map(|c| {
            let short = i64::try_from(c.direct).unwrap_or(i64::MAX) - c.available.max(0);
            format!("{short} × {}", escape(c.sku.display_name()))
        })
        .collect();
    let shortfall = missing.join(", ");
    let words = format!(
        "<p id=\"verdict\">{} <strong id=\"shortfall\">{shortfall}</strong>.</p><p>{}</p>",
        catalog::NOT_COVERED,
        catalog::WHAT_COVERS
    );
    if let Some(open) = &sub.open_request {
        return format!(
            "{words}<p>{} <a id=\"open-request\" href=\"/portal/service-requests/{id}\">{id}</a>.\
</p>",
            catalog::REQUEST_OPEN,
            id = escape(open.as_str())
        );
    }
    let message = form.and_then(|f| f.get("message")).unwrap_or_default();
    let ticked = form.is_some_and(|f| f.ticked("accept_license_loss"));
    format!(
        "{words}<h2>Ask Billing Support</h2><form method=\"post\" \
action=\"/portal/subscriptions/{id}/service-requests\">{hidden}\
<label for=\"message\">Message to Billing Support (optional)</label>\
<textarea id=\"message\" name=\"message\" rows=\"4\" maxlength=\"2000\"{invalid}>{message}\
</textarea>\
<p><input type=\"checkbox\" id=\"accept_license_loss\" name=\"accept_license_loss\" \
value=\"yes\"{checked}> \
<label class=\"inline\" for=\"accept_license_loss\">{consent} {shortfall}</label></p>\
<button type=\"submit\" id=\"ask\">Send the request</button></form>",
        id = escape(sub.id.as_str()),
        hidden = forms::hidden(&signed.session),
        invalid = pages::invalid(problem, "message"),
        message = escape(message),
        checked = if ticked { " checked" } else { "" },
        consent = catalog::CONSENT,
    )
}

/// POST /portal/subscriptions/{subscription_id}/cancel: R11, as the JSON route runs it; 303
/// back to P7, or P7 again with the refusal.
pub async fn cancel(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let back = format!("/portal/subscriptions/{}", path.get("subscription_id"));
    let Sent { signed, form, key } = match forms::sent(app, ctx, &back).await {
        Ok(sent) => sent,
        Err(page) => return Ok(page),
    };
    let Ok(id) = path.id::<SubscriptionId>("subscription_id") else {
        return Ok(pages::not_found(ctx, Some(&signed.chrome())));
    };
    let p = signed.principal();
    let by = forms::by(&p, &signed, key);
    let reason = form.get("reason").unwrap_or_default();
    let answer = match reason.chars().count() {
        1..=1000 => {
            let asked = Asked {
                reason,
                accept_license_loss: false,
            };
            let names = (&signed.account.id, &id);
            vls_cases::cancellation::cancel(&app.store, ctx, &by, names, &asked).await
        }
        _ => {
            Err(Problem::new(422, "invalid_field", "reason: 1-1000 characters").at_field("reason"))
        }
    };
    Ok(match answer {
        Ok(_) => pages::see_other(app, &back),
        Err(problem) => {
            let refused = Refused {
                problem: &problem,
                form: &form,
            };
            subscription_page(app, ctx, &signed, path, Some(refused)).await
        }
    })
}

/// POST /portal/subscriptions/{subscription_id}/service-requests: R18, as the JSON route runs
/// it (the path names the subscription); 303 to the request, or P7 again with the refusal.
pub async fn ask(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let back = format!("/portal/subscriptions/{}", path.get("subscription_id"));
    let Sent { signed, form, key } = match forms::sent(app, ctx, &back).await {
        Ok(sent) => sent,
        Err(page) => return Ok(page),
    };
    let Ok(id) = path.id::<SubscriptionId>("subscription_id") else {
        return Ok(pages::not_found(ctx, Some(&signed.chrome())));
    };
    let p = signed.principal();
    let by = forms::by(&p, &signed, key);
    let answer = match asked(&id, &form) {
        Ok(ask) => {
            let names = (&signed.account.id, &id);
            vls_cases::service_requests::open(&app.store, ctx, &by, names, &ask).await
        }
        Err(p) => Err(p),
    };
    Ok(match answer {
        Ok(reply) => {
            let to = reply.header("location").unwrap_or("/service-requests/");
            let url = format!("{}/portal{to}", app.sign_in.public_base_url);
            Reply::redirect(303, &url)
        }
        Err(problem) => {
            let refused = Refused {
                problem: &problem,
                form: &form,
            };
            subscription_page(app, ctx, &signed, path, Some(refused)).await
        }
    })
}

/// The form as the JSON route's body, read by the same parser (the same checks).
fn asked(id: &SubscriptionId, form: &Form) -> Result<Ask, Problem> {
    let mut body = serde_json::json!({
        "subscription_id": id.as_str(),
        "accept_license_loss": form.ticked("accept_license_loss"),
    });
    if let Some(m) = form.get("message").filter(|m| !m.is_empty()) {
        body["message"] = m.into();
    }
    let obj = vls_domain::input::Obj::root(&body).map_err(Problem::from)?;
    Ok(vls_domain::input::new_service_request(&obj).map(|(_, ask)| ask)?)
}
