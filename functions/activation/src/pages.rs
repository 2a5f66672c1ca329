//! The activation pages: server-rendered, no script, readable on a phone, every datum escaped.

use serde_json::Value;
use vls::html::{escape, page};
use vls::http::{Problem, Reply};
use vls::mail::to_associate;
use vls::model::{Agreement, Order};
use vls::rules::activation::{ActivationLink, LinkState};

const RESEND_ADVICE: &str = "Ask Billing Support to resend the activation email to the \
Online Services Manager on the agreement (have the company's legal name and country ready). \
If the Online Services Manager has changed, ask your Licensing Solutions Partner to update it first.";

/// The page for a usable link: what will be associated, and the form to do it.
pub fn activation(a: &Agreement, orders: &[Order], link: &ActivationLink) -> Reply {
    let rows: String = to_associate(orders)
        .iter()
        .map(|(sku, qty)| {
            format!(
                "<tr><td>{}<br><small><code>{}</code></small></td><td>{qty}</td></tr>",
                escape(sku.display_name()),
                escape(sku.code())
            )
        })
        .collect();
    let body = format!(
        "<h1>Activate your volume licences</h1>\
<p>Agreement <strong id=\"agreement-id\">{id}</strong> · {program}<br>{customer} ({country})<br>\
Online Services Manager: {osm}</p>\
<h2>What will be associated</h2>\
<table><tr><th>Product</th><th>Quantity</th></tr>{rows}</table>\
<p class=\"note\">Associating pools these licences with those the account already has. \
A direct subscription on the account is not cancelled. This link works once, until {expires}.</p>\
<h2>Associate with your account</h2>\
<form method=\"post\">\
<label for=\"account_id\">Account id</label>\
<input id=\"account_id\" name=\"account_id\" required autocomplete=\"off\" placeholder=\"acc_…\">\
<label for=\"access_token\">Administrator access token</label>\
<input id=\"access_token\" name=\"access_token\" type=\"password\" required autocomplete=\"off\">\
<button type=\"submit\" id=\"associate\">Associate agreement</button>\
</form>",
        id = escape(a.id.as_str()),
        program = a.program.as_str(),
        customer = escape(&a.customer.legal_name),
        country = escape(&a.customer.country),
        osm = escape(&a.osm.name),
        expires = link.expires_at.format("%Y-%m-%d %H:%M UTC"),
    );
    Reply::html(200, page("Activate your volume licences", &body))
}

/// 410: the link no longer works — and why, and what to do.
pub fn gone(state: LinkState) -> Reply {
    let (title, why) = match state {
        LinkState::Used => (
            "This link has already been used",
            "The agreement has been associated with an account. Its licences are in that account's pool; \
there is nothing left to do. If they went to the wrong account, ask Billing Support to remap the agreement.",
        ),
        LinkState::Expired => ("This link has expired", RESEND_ADVICE),
        LinkState::OsmChanged => (
            "This link was replaced: the Online Services Manager changed",
            "The agreement now has another Online Services Manager. They can ask Billing Support to send them a new link.",
        ),
        LinkState::Replaced | LinkState::Usable => (
            "This link was replaced by a newer one",
            "A newer activation email was sent to the Online Services Manager; use the link in the latest one. \
If you cannot find it, ask Billing Support to resend it.",
        ),
    };
    let body = format!(
        "<h1 id=\"gone\" data-reason=\"{reason}\">{t}</h1><p class=\"note gone\">{w}</p>",
        reason = escape(
            &serde_json::to_value(state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
        t = escape(title),
        w = escape(why),
    );
    Reply::html(410, page(title, &body))
}

/// 404: not a link this service issued.
pub fn unknown() -> Reply {
    let body = format!(
        "<h1>This activation link is not valid</h1><p class=\"note gone\">Check that the whole link was copied from the email. {}</p>",
        escape(RESEND_ADVICE)
    );
    Reply::html(404, page("Activation link not valid", &body))
}

/// The form's success page.
pub fn associated(done: &Value) -> Reply {
    let orders: String = done["attached_orders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|o| format!("<li><code>{}</code></li>", escape(o)))
        .collect();
    let body = format!(
        "<h1 id=\"done\">Licences associated</h1>\
<p>Agreement <strong>{agr}</strong> is now associated with account <strong id=\"account\">{acc}</strong>. \
Its licences pool with those the account already has.</p><p>Orders attached:</p><ul>{orders}</ul>",
        agr = escape(done["agreement_id"].as_str().unwrap_or_default()),
        acc = escape(done["account_id"].as_str().unwrap_or_default()),
    );
    Reply::html(200, page("Licences associated", &body))
}

/// A refusal, as a page with the same status.
pub fn problem(p: &Problem) -> Reply {
    if p.status == 410 {
        let state = match p.code {
            "link_used" => LinkState::Used,
            "link_expired" => LinkState::Expired,
            "link_osm_changed" => LinkState::OsmChanged,
            _ => LinkState::Replaced,
        };
        return gone(state);
    }
    let body = format!(
        "<h1>{t}</h1><p class=\"note gone\" id=\"problem\" data-code=\"{code}\">{d}</p><p><a href=\"\">Back to the form</a></p>",
        t = escape(match p.status {
            401 => "Please sign in",
            403 => "You may not do this",
            404 => "Not found",
            409 => "This agreement cannot be associated here",
            _ => "That did not work",
        }),
        code = escape(p.code),
        d = escape(&p.detail),
    );
    Reply::html(p.status, page("Activation", &body))
}
