//! The pages every route may answer: a failure (SPEC §7.5: its status, `data-code`, the
//! catalog's sentence, "Nothing was changed" and the request id as the reference), the
//! sign-in page, the 403 for someone who may not use the pages, and redirects.

use vls_domain::html::escape;
use vls_http::{Ctx, Reply};

use crate::catalog;
use crate::layout::{self, Chrome};

/// A failure page for `code` (whose sentence the catalog has), with the frame when signed in.
pub fn failure(ctx: &Ctx, status: u16, code: &str, chrome: Option<&Chrome<'_>>) -> Reply {
    failure_with(ctx, (status, code), chrome, "")
}

/// The 404 page: the same for an id of another account as for one never issued.
pub fn not_found(ctx: &Ctx, chrome: Option<&Chrome<'_>>) -> Reply {
    failure(ctx, 404, "not_found", chrome)
}

/// [`failure`] with more of the page after the sentence (a link to go on).
pub fn failure_with(
    ctx: &Ctx,
    (status, code): (u16, &str),
    chrome: Option<&Chrome<'_>>,
    more: &str,
) -> Reply {
    let (title, sentence) = catalog::failure(code).unwrap_or(("Something went wrong", ""));
    let main = format!(
        "<h1>{t}</h1><div class=\"error\" id=\"problem\" data-code=\"{code}\">\
<p>{sentence}</p><p>{nothing}</p></div>{more}\
<p class=\"reference\">Reference: <code id=\"reference\">{reference}</code></p>",
        t = escape(title),
        code = escape(code),
        nothing = catalog::NOTHING_CHANGED,
        reference = escape(&ctx.request_id),
    );
    let page = layout::page(chrome, "", &format!("Error: {title}"), &main);
    let reply = Reply::html(status, page);
    if status == 503 {
        reply.with_header("retry-after", "60".into())
    } else {
        reply
    }
}

/// 403: this form did not come from the current session; a link signs in again and comes
/// back to `return_to`.
pub fn session_invalid(ctx: &Ctx, code: &str, return_to: &str) -> Reply {
    let more = format!(
        "<p><a class=\"button\" id=\"sign-in-again\" href=\"/portal/sign-in/start?return_to={}\">\
Sign in again</a></p>",
        escape(&layout::query_value(return_to))
    );
    failure_with(ctx, (403, code), None, &more)
}

/// 303 to `path` of the pages (after a form did what it asked).
pub fn see_other(app: &crate::App, path: &str) -> Reply {
    Reply::redirect(303, &format!("{}{path}", app.sign_in.public_base_url))
}

/// 303 to the sign-in page, which says why (`ended`) and returns to `return_to`.
pub fn to_sign_in(base: &str, return_to: &str, ended: Option<&str>) -> Reply {
    let mut url = format!(
        "{base}/portal/sign-in?return_to={}",
        layout::query_value(return_to)
    );
    if let Some(why) = ended {
        url.push_str("&ended=");
        url.push_str(why);
    }
    Reply::redirect(303, &url)
}

/// The sign-in page: why it is shown, and the link that starts the sign-in.
pub fn sign_in(return_to: &str, ended: Option<&str>, provider_sign_out: Option<&str>) -> Reply {
    let why = ended
        .and_then(catalog::ended)
        .map(|s| format!("<p class=\"note\" id=\"ended\">{s}</p>"))
        .unwrap_or_default();
    let provider = provider_sign_out
        .map(|url| {
            format!(
                "<p>{} <a id=\"provider-sign-out\" href=\"{}\">sign out of it</a>.</p>",
                catalog::SIGNED_OUT_PROVIDER,
                escape(url)
            )
        })
        .unwrap_or_default();
    let main = format!(
        "<h1>{title}</h1>{why}{provider}<p>{lead}</p>\
<p><a class=\"button\" id=\"sign-in\" href=\"/portal/sign-in/start?return_to={to}\">\
{button}</a></p>",
        title = catalog::SIGN_IN_TITLE,
        lead = catalog::SIGN_IN_LEAD,
        to = escape(&layout::query_value(return_to)),
        button = catalog::SIGN_IN_BUTTON,
    );
    Reply::html(200, layout::page(None, "", catalog::SIGN_IN_TITLE, &main))
}

/// 403: the person signed in may not use the pages (who, why, and signing in as someone else).
pub fn not_an_admin(ctx: &Ctx, email: Option<&str>, why: &str) -> Reply {
    let who = email.unwrap_or(catalog::NO_EMAIL);
    let main = format!(
        "<h1>{title}</h1><div class=\"error\" id=\"problem\" data-code=\"not_an_admin\">\
<p><strong id=\"signed-in\">{who}</strong> {why}</p><p>{nothing}</p></div>\
<p><a class=\"button\" id=\"switch\" href=\"/portal/sign-in/start?prompt=login\">{other}</a></p>\
<p class=\"reference\">Reference: <code id=\"reference\">{reference}</code></p>",
        title = catalog::NOT_ADMIN_TITLE,
        who = escape(who),
        why = escape(why),
        nothing = catalog::NOTHING_CHANGED,
        other = catalog::SIGN_IN_OTHER,
        reference = escape(&ctx.request_id),
    );
    let title = format!("Error: {}", catalog::NOT_ADMIN_TITLE);
    Reply::html(403, layout::page(None, "", &title, &main))
}

/// A refused form's message (SPEC §7.5): the catalog's sentence for the problem, an error
/// summary linking to the fields it is about, "Nothing was changed", and the reference.
/// `fields`: (request field, the input's id, its label) of the form.
pub fn refused(
    ctx: &Ctx,
    problem: &vls_http::Problem,
    facts: &catalog::Facts<'_>,
    fields: &[(&str, &str, &str)],
) -> String {
    let named = problem
        .extra
        .get("field")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let links: String = fields
        .iter()
        .filter(|(field, ..)| !named.is_empty() && named.starts_with(field))
        .map(|(_, id, label)| format!("<li><a href=\"#{id}\">{}</a></li>", escape(label)))
        .collect();
    let summary = if links.is_empty() {
        String::new()
    } else {
        format!("<ul>{links}</ul>")
    };
    format!(
        "<div class=\"error\" id=\"problem\" data-code=\"{code}\" role=\"alert\">\
<h2>There is a problem</h2><div class=\"sentence\">{sentence}</div>{summary}<p>{nothing}</p>\
<p class=\"reference\">Reference: <code id=\"reference\">{reference}</code></p></div>",
        code = escape(problem.code),
        sentence = catalog::refusal(problem, facts),
        nothing = catalog::NOTHING_CHANGED,
        reference = escape(&ctx.request_id),
    )
}

/// Whether a refused form's field is the one the problem is about (its input then says so).
pub fn invalid(problem: Option<&vls_http::Problem>, field: &str) -> &'static str {
    let named = problem
        .and_then(|p| p.extra.get("field"))
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if !named.is_empty() && named.starts_with(field) {
        " aria-invalid=\"true\""
    } else {
        ""
    }
}
