//! P2 to P4 (SPEC §7.3): an agreement of the account, its orders and reservations, and
//! reserving licences on it (R13) with a review step that writes nothing.

use vls_domain::catalog::Sku;
use vls_domain::html::escape;
use vls_domain::model::{Agreement, Partner, ReservationStatus};
use vls_domain::rules::reservations as r13;
use vls_domain::types::{AgreementId, Lines, SkuCounts};
use vls_http::paging::List;
use vls_http::{Answer, Ctx, Params, Problem, Reply};

use crate::catalog::{self, Facts};
use crate::forms::{self, Form, Sent};
use crate::guard::{self, Signed};
use crate::layout::{self, wide_table};
use crate::{App, PAGE_SIZE, pages};

/// The agreement in the path, if it is the session account's (404 otherwise, as for one
/// that never existed), with its partner (R16's contact).
async fn visible(
    app: &App,
    signed: &Signed,
    path: &Params,
) -> Result<(Agreement, Option<Partner>), Problem> {
    let id = path.id::<AgreementId>("agreement_id")?;
    let a =
        vls_cases::reservations::visible_agreement(&app.store, &signed.principal(), &id).await?;
    let partner = app.store.partner(&a.partner_id).await?;
    Ok((a, partner))
}

fn nav(a: &Agreement) -> String {
    format!("/portal/agreements/{}", a.id)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// GET /portal/agreements/{agreement_id}: P2.
pub async fn show(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let signed = match guard::for_page(app, ctx).await {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    let chrome = signed.chrome();
    let (a, partner) = match visible(app, &signed, path).await {
        Ok(found) => found,
        Err(e) => return Ok(guard::problem_page(ctx, &e, Some(&chrome))),
    };
    let latest = latest(app, &a).await;
    let (orders, reservations) = match latest {
        Ok(found) => found,
        Err(e) => return Ok(guard::problem_page(ctx, &e, Some(&chrome))),
    };
    let main = format!(
        "<h1>Agreement <code>{id}</code></h1>{facts}{held}{preview}{reserve}\
<h2>Latest orders</h2>{orders}<p><a href=\"{nav}/orders\">All orders</a></p>\
<h2>Latest reservations</h2>{reservations}<p><a href=\"{nav}/reservations\">All reservations</a>\
</p>",
        id = escape(a.id.as_str()),
        facts = agreement_facts(&a, partner.as_ref()),
        held = counts_table("held", "Licences it adds to the pool", &a.holdings.volume()),
        preview = preview_table(&a),
        reserve = reserve_offer(&a, partner.as_ref(), ctx),
        nav = nav(&a),
    );
    let title = format!("Agreement {}", a.id);
    Ok(Reply::html(
        200,
        layout::page(Some(&chrome), "", &title, &main),
    ))
}

async fn latest(app: &App, a: &Agreement) -> Result<(String, String), Problem> {
    let orders = app.store.orders_page(&a.id, None, 5, true).await?;
    let reservations = app.store.reservations_page(&a.id, None, 5, true).await?;
    Ok((
        orders_table(&orders.items),
        reservations_table(a, &reservations.items),
    ))
}

fn agreement_facts(a: &Agreement, partner: Option<&Partner>) -> String {
    let contact = partner.map_or_else(String::new, |p| {
        format!(
            "<dt>Invoices and orders</dt><dd id=\"partner\">{name}: {contact} · \
<a href=\"mailto:{email}\">{email}</a> · {phone}</dd>",
            name = escape(&p.name),
            contact = escape(&p.contact.name),
            email = escape(p.contact.email.as_str()),
            phone = escape(&p.contact.phone),
        )
    });
    format!(
        "<dl class=\"facts\"><dt>Program</dt><dd id=\"program\">{program}</dd>\
<dt>Customer</dt><dd>{customer} ({country}), customer number {number}</dd>\
<dt>Anniversary (True-Up)</dt><dd id=\"anniversary\">{anniversary}</dd>\
<dt>Volume discount eligible</dt><dd>{r3}</dd>\
<dt>Bound to the online services</dt><dd>{r7}</dd>\
<dt>Online Services Manager</dt><dd>{osm} · {osm_email}</dd>{contact}</dl>",
        program = a.program.as_str(),
        customer = escape(&a.customer.legal_name),
        country = escape(&a.customer.country),
        number = escape(a.customer.number.as_str()),
        anniversary = a.anniversary.format("%Y-%m-%d"),
        r3 = yes_no(a.volume_discount_eligible),
        r7 = yes_no(a.bound_to_online_services),
        osm = escape(&a.osm.name),
        osm_email = escape(a.osm.email.as_str()),
    )
}

fn counts_table(id: &str, caption: &str, counts: &SkuCounts) -> String {
    let rows: String = Sku::ALL
        .iter()
        .filter_map(|sku| counts.get(sku).filter(|n| **n > 0).map(|n| (sku, n)))
        .map(|(sku, n)| {
            format!(
                "<tr data-sku=\"{code}\"><th scope=\"row\">{name}</th><td class=\"n\">{n}</td>\
</tr>",
                code = escape(sku.code()),
                name = escape(sku.display_name()),
            )
        })
        .collect();
    let table = format!(
        "<table id=\"{id}\"><caption>{caption}</caption><tr><th scope=\"col\">Product</th>\
<th scope=\"col\" class=\"n\">Licences</th></tr>{rows}</table>"
    );
    wide_table(caption, &table)
}

fn preview_table(a: &Agreement) -> String {
    let due = a.holdings.due_by(a.anniversary).lines;
    let caption = format!(
        "Billed at the True-Up on {}",
        a.anniversary.format("%Y-%m-%d")
    );
    format!(
        "<h2>True-up preview</h2>{}",
        counts_table("true-up", &caption, &due)
    )
}

/// "Reserve licences" with the last day it is possible, or why it is not (R13).
fn reserve_offer(a: &Agreement, partner: Option<&Partner>, ctx: &Ctx) -> String {
    match r13::window(a, ctx.now) {
        Ok(last) => format!(
            "<p><a class=\"button\" id=\"reserve\" href=\"{nav}/reserve\">Reserve licences</a> \
{until} {last}.</p>",
            nav = nav(a),
            until = catalog::RESERVE_UNTIL,
            last = last.format("%Y-%m-%d"),
        ),
        Err(e) => {
            let p = Problem::from(e);
            let facts = Facts {
                partner: partner.map(|p| p.name.as_str()),
                date: Some(a.anniversary),
                ..Facts::default()
            };
            format!(
                "<p class=\"note\" id=\"no-reserve\" data-code=\"{}\">{}</p>",
                p.code,
                catalog::refusal(&p, &facts)
            )
        }
    }
}

fn orders_table(orders: &[vls_domain::model::Order]) -> String {
    let rows: String = orders
        .iter()
        .map(|o| {
            format!(
                "<tr><td><code>{id}</code></td><td>{source}</td><td>{status}</td><td>{lines}</td>\
<td>{placed}</td></tr>",
                id = escape(o.id.as_str()),
                source = catalog::order_source(o.source),
                status = catalog::order_status(o.status),
                lines = layout::lines(&o.lines),
                placed = layout::time(o.placed_at),
            )
        })
        .collect();
    let table = format!(
        "<table class=\"orders\"><caption>Orders, newest first</caption><tr><th scope=\"col\">Order\
</th><th scope=\"col\">Source</th><th scope=\"col\">Status</th><th scope=\"col\">Licences</th>\
<th scope=\"col\">Placed</th></tr>{rows}</table>"
    );
    wide_table("Orders", &table)
}

fn reservations_table(a: &Agreement, items: &[vls_domain::model::Reservation]) -> String {
    let rows: String = items
        .iter()
        .map(|r| {
            format!(
                "<tr><td><a href=\"/portal/reservations/{id}\"><code>{id}</code></a></td>\
<td>{lines}</td><td>{status}</td><td>{until}</td></tr>",
                id = escape(r.id.as_str()),
                lines = layout::lines(&r.lines),
                status = catalog::reservation_status(r.status_on(a)),
                until = layout::time(r13::cancellable_until(r)),
            )
        })
        .collect();
    let table = format!(
        "<table class=\"reservations\"><caption>Reservations, newest first</caption><tr>\
<th scope=\"col\">Reservation</th><th scope=\"col\">Licences</th><th scope=\"col\">Status</th>\
<th scope=\"col\">Cancellable until</th></tr>{rows}</table>"
    );
    wide_table("Reservations", &table)
}

/// Which list P3 shows.
#[derive(Clone, Copy)]
enum Listed {
    Orders,
    Reservations,
}

/// GET /portal/agreements/{agreement_id}/orders: P3.
pub async fn orders(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    listing(app, ctx, path, Listed::Orders).await
}

/// GET /portal/agreements/{agreement_id}/reservations[?status=]: P3.
pub async fn reservations(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    listing(app, ctx, path, Listed::Reservations).await
}

async fn listing(app: &App, ctx: &Ctx, path: &Params, what: Listed) -> Answer {
    let signed = match guard::for_page(app, ctx).await {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    let chrome = signed.chrome();
    let (a, _) = match visible(app, &signed, path).await {
        Ok(found) => found,
        Err(e) => return Ok(guard::problem_page(ctx, &e, Some(&chrome))),
    };
    let here = match what {
        Listed::Orders => format!("{}/orders", nav(&a)),
        Listed::Reservations => format!("{}/reservations", nav(&a)),
    };
    Ok(match page_of(app, ctx, &signed, &a, what).await {
        Ok((title, main)) => Reply::html(200, layout::page(Some(&chrome), "", &title, &main)),
        Err(p) => guard::list_problem(ctx, &p, &chrome, &here),
    })
}

async fn page_of(
    app: &App,
    ctx: &Ctx,
    signed: &Signed,
    a: &Agreement,
    what: Listed,
) -> Result<(String, String), Problem> {
    let p = signed.principal();
    let status = status_filter(ctx)?;
    let (names, here) = match what {
        Listed::Orders => (("orders", "orders"), format!("{}/orders", nav(a))),
        Listed::Reservations => (
            ("reservations", "reservations"),
            format!("{}/reservations", nav(a)),
        ),
    };
    let filter = status.map(catalog::reservation_status);
    let mut list = List::new(
        app.config.cursor_key.as_ref(),
        names,
        a.id.as_str(),
        filter,
        &p,
    );
    let asked = list.asked_for(PAGE_SIZE, true, ctx.query_param("cursor").as_deref())?;
    let after = asked.after.as_deref();
    let (title, table, next) = match what {
        Listed::Orders => {
            let page = app.store.orders_page(&a.id, after, PAGE_SIZE, true).await?;
            ("Orders", orders_table(&page.items), page.next)
        }
        Listed::Reservations => {
            let page = app
                .store
                .reservations_page(&a.id, after, PAGE_SIZE, true)
                .await?;
            let shown: Vec<_> = page
                .items
                .into_iter()
                .filter(|r| status.is_none_or(|s| r.status_on(a) == s))
                .collect();
            ("Reservations", reservations_table(a, &shown), page.next)
        }
    };
    let older = list.cursor(next.as_deref())?;
    let older = match filter {
        Some(f) => {
            layout::older(&format!("{here}?status={f}&"), older.as_deref()).replacen("&?", "&", 1)
        }
        None => layout::older(&here, older.as_deref()),
    };
    let filters = match what {
        Listed::Orders => String::new(),
        Listed::Reservations => status_links(&here, filter),
    };
    let title = format!("{title} of agreement {}", a.id);
    let main = format!("<h1>{}</h1>{filters}{table}{older}", escape(&title));
    Ok((title, main))
}

/// P3's reservation filters: every status, and all; the one shown is marked current.
fn status_links(here: &str, current: Option<&str>) -> String {
    let links: String = [None, Some("active"), Some("cancelled"), Some("billed")]
        .iter()
        .map(|status| {
            let href = status.map_or_else(|| here.to_owned(), |s| format!("{here}?status={s}"));
            let mark = if *status == current {
                " aria-current=\"true\""
            } else {
                ""
            };
            let label = status.unwrap_or("all");
            format!("<li><a href=\"{href}\"{mark}>{label}</a></li>")
        })
        .collect();
    format!("<nav aria-label=\"Filter by status\" class=\"filters\"><ul>{links}</ul></nav>")
}

/// `?status=` of P3's reservations: active, cancelled or billed (422 otherwise).
fn status_filter(ctx: &Ctx) -> Result<Option<ReservationStatus>, Problem> {
    match ctx.query_param("status").as_deref() {
        None | Some("") => Ok(None),
        Some("active") => Ok(Some(ReservationStatus::Active)),
        Some("cancelled") => Ok(Some(ReservationStatus::Cancelled)),
        Some("billed") => Ok(Some(ReservationStatus::Billed)),
        Some(_) => Err(Problem::new(422, "invalid_status", "not a status").at_field("status")),
    }
}

/// P4's quantities: one field per catalog SKU (`qty_<sku>`), blank meaning none.
fn quantity_field(sku: Sku) -> String {
    format!("qty_{}", sku.code())
}

/// The form's quantities as the JSON route's `lines`, read by the same parser: a blank or 0
/// is left out; anything else goes in as sent, so the parser judges it.
fn lines_of(form: &Form) -> Result<Lines, Problem> {
    let mut lines = Vec::new();
    for sku in Sku::ALL {
        let Some(raw) = form
            .get(&quantity_field(*sku))
            .filter(|v| !v.is_empty() && *v != "0")
        else {
            continue;
        };
        // A text field always sends text: one that is no whole number is the field's refusal.
        let Ok(quantity) = raw.parse::<u64>() else {
            let at = format!("lines[{}].quantity", lines.len());
            return Err(Problem::new(422, "invalid_field", "not a whole number").at_field(&at));
        };
        lines.push(serde_json::json!({"sku": sku.code(), "quantity": quantity}));
    }
    let body = serde_json::json!({ "lines": lines });
    let obj = vls_domain::input::Obj::root(&body).map_err(Problem::from)?;
    Ok(vls_domain::input::lines(&obj)?)
}

/// What P4 shows besides the form: nothing yet, a review of `lines`, or a refusal.
enum Step<'a> {
    Ask,
    Review(&'a Lines),
    Refused(&'a Problem),
}

/// GET /portal/agreements/{agreement_id}/reserve: P4's form, a quantity per catalog SKU.
pub async fn reserve_form(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let signed = match guard::for_page(app, ctx).await {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    Ok(reserve_page(app, ctx, &signed, path, (None, Step::Ask)).await)
}

/// POST /portal/agreements/{agreement_id}/reserve/review: the same checks, and what the
/// reservation would do; writes nothing.
pub async fn review(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let back = format!("/portal/agreements/{}/reserve", path.get("agreement_id"));
    let signed = match guard::for_form(app, ctx, &back).await {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    let form = Form::of(ctx);
    let checked = lines_of(&form);
    let step = match &checked {
        Ok(lines) => Step::Review(lines),
        Err(p) => Step::Refused(p),
    };
    Ok(reserve_page(app, ctx, &signed, path, (Some(&form), step)).await)
}

/// POST /portal/agreements/{agreement_id}/reservations: R13, as the JSON route runs it; 303
/// to the reservation, or P4 again with the refusal and the quantities kept.
pub async fn reserve(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let back = format!("/portal/agreements/{}/reserve", path.get("agreement_id"));
    let Sent { signed, form, key } = match forms::sent(app, ctx, &back).await {
        Ok(sent) => sent,
        Err(page) => return Ok(page),
    };
    let Ok(id) = path.id::<AgreementId>("agreement_id") else {
        return Ok(pages::not_found(ctx, Some(&signed.chrome())));
    };
    let p = signed.principal();
    let by = forms::by(&p, &signed, key);
    let answer = match lines_of(&form) {
        Ok(lines) => vls_cases::reservations::reserve(&app.store, ctx, &by, &id, &lines).await,
        Err(p) => Err(p),
    };
    Ok(match answer {
        Ok(reply) => {
            let to = reply.header("location").unwrap_or("/reservations/");
            Reply::redirect(303, &format!("{}/portal{to}", app.sign_in.public_base_url))
        }
        Err(problem) if problem.status == 404 => pages::not_found(ctx, Some(&signed.chrome())),
        Err(problem) => {
            let step = (Some(&form), Step::Refused(&problem));
            reserve_page(app, ctx, &signed, path, step).await
        }
    })
}

async fn reserve_page(
    app: &App,
    ctx: &Ctx,
    signed: &Signed,
    path: &Params,
    (form, step): (Option<&Form>, Step<'_>),
) -> Reply {
    let chrome = signed.chrome();
    let (a, partner) = match visible(app, signed, path).await {
        Ok(found) => found,
        Err(e) => return guard::problem_page(ctx, &e, Some(&chrome)),
    };
    // A review of what R13 would refuse is the refusal.
    let window = r13::window(&a, ctx.now).map_err(Problem::from);
    let refused = match (&step, &window) {
        (Step::Refused(p), _) => Some((*p).clone()),
        (Step::Review(_), Err(p)) => Some(p.clone()),
        _ => None,
    };
    let facts = Facts {
        partner: partner.as_ref().map(|p| p.name.as_str()),
        date: Some(a.anniversary),
        ..Facts::default()
    };
    let error = refused
        .as_ref()
        .map(|p| pages::refused(ctx, p, &facts, &QUANTITY_FIELDS))
        .unwrap_or_default();
    let body = match (&step, &refused) {
        (Step::Review(lines), None) => review_body(signed, &a, lines),
        _ => quantities_form(signed, &a, form, refused.as_ref()),
    };
    let title = format!("Reserve licences on agreement {}", a.id);
    let main = format!("<h1>{}</h1>{error}{body}", escape(&title));
    let (status, title) = match &refused {
        Some(p) => (p.status, format!("Error: {title}")),
        None => (200, title),
    };
    Reply::html(status, layout::page(Some(&chrome), "", &title, &main))
}

/// The fields a refusal of P4 may name: the first quantity field stands for them all.
const QUANTITY_FIELDS: [(&str, &str, &str); 1] = [("lines", "qty-first", "Quantities")];

fn quantities_form(
    signed: &Signed,
    a: &Agreement,
    form: Option<&Form>,
    refused: Option<&Problem>,
) -> String {
    let inputs: String = Sku::ALL
        .iter()
        .enumerate()
        .map(|(i, sku)| {
            let name = quantity_field(*sku);
            let id = if i == 0 {
                "qty-first".to_owned()
            } else {
                format!("qty-{}", sku.code())
            };
            let value = form.and_then(|f| f.get(&name)).unwrap_or_default();
            format!(
                "<label for=\"{id}\">{label} <small>(<code>{code}</code>)</small></label>\
<input id=\"{id}\" name=\"{name}\" inputmode=\"numeric\" autocomplete=\"off\" size=\"9\" \
value=\"{value}\"{invalid}>",
                label = escape(sku.display_name()),
                code = escape(sku.code()),
                value = escape(value),
                invalid = pages::invalid(refused, "lines"),
            )
        })
        .collect();
    format!(
        "<p>{lead}</p><form method=\"post\" action=\"{nav}/reserve/review\">{hidden}\
<fieldset><legend>How many licences of each product (blank for none)</legend>{inputs}</fieldset>\
<button type=\"submit\" id=\"review\">Review</button></form>",
        lead = catalog::RESERVE_LEAD,
        nav = nav(a),
        hidden = forms::hidden(&signed.session),
    )
}

/// The review: per SKU the true-up preview, this reservation and the sum; what reserving
/// means; and the Reserve form carrying the same quantities.
fn review_body(signed: &Signed, a: &Agreement, lines: &Lines) -> String {
    let due = a.holdings.due_by(a.anniversary).lines;
    let rows: String = lines
        .iter()
        .map(|l| {
            let before = due.get(&l.sku).copied().unwrap_or(0);
            format!(
                "<tr data-sku=\"{code}\"><th scope=\"row\">{name}</th><td class=\"n\">{before}</td>\
<td class=\"n\">{this}</td><td class=\"n\">{sum}</td></tr>",
                code = escape(l.sku.code()),
                name = escape(l.sku.display_name()),
                this = l.quantity.get(),
                sum = before + l.quantity.get(),
            )
        })
        .collect();
    let table = format!(
        "<table id=\"review\"><caption>Billed at the True-Up on {date}</caption><tr>\
<th scope=\"col\">Product</th><th scope=\"col\" class=\"n\">Already due</th>\
<th scope=\"col\" class=\"n\">This reservation</th><th scope=\"col\" class=\"n\">Total billed</th>\
</tr>{rows}</table>",
        date = a.anniversary.format("%Y-%m-%d"),
    );
    let carried: String = lines
        .iter()
        .map(|l| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                quantity_field(l.sku),
                l.quantity.get()
            )
        })
        .collect();
    format!(
        "<ul id=\"terms\"><li>{now}</li><li>{cancel}</li><li>{billed} {date}, {used}</li></ul>\
{table}<p>{cost}</p><form method=\"post\" action=\"{nav}/reservations\">{hidden}{carried}\
<button type=\"submit\" id=\"confirm-reserve\">Reserve</button></form>\
<p><a href=\"{nav}/reserve\">Change the quantities</a></p>",
        now = catalog::RESERVE_AT_ONCE,
        cancel = catalog::RESERVE_CANCEL,
        billed = catalog::RESERVE_BILLED,
        date = a.anniversary.format("%Y-%m-%d"),
        used = catalog::RESERVE_USED_OR_NOT,
        table = wide_table("What the True-Up will bill", &table),
        cost = catalog::RESERVE_COST,
        nav = nav(a),
        hidden = forms::hidden(&signed.session),
    )
}
