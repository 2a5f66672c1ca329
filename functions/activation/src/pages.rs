//! The activation pages: server-rendered, no script, readable on a phone, every datum escaped.

use vls_domain::catalog::Sku;
use vls_domain::html::{escape, page};
use vls_domain::mail::to_associate;
use vls_domain::model::{Account, Agreement};
use vls_domain::rules::activation::{ActivationLink, LinkState};
use vls_http::{Problem, Reply};

use vls_signin::Session;

use crate::Associated;

const RESEND_ADVICE: &str = "Ask Billing Support to resend the activation email to the \
Online Services Manager on the agreement (have the company's legal name and country ready). \
If the Online Services Manager has changed, ask your Licensing Solutions Partner to update it \
first.";

fn lines_table(a: &Agreement) -> String {
    let rows: String = to_associate(a)
        .iter()
        .map(|(sku, qty)| {
            format!(
                "<tr><td>{}<br><small><code>{}</code></small></td><td>{qty}</td></tr>",
                escape(sku.display_name()),
                escape(sku.code())
            )
        })
        .collect();
    format!(
        "<table><caption>What will be associated</caption>\
<tr><th scope=\"col\">Product</th><th scope=\"col\">Quantity</th></tr>{rows}</table>"
    )
}

fn agreement_summary(a: &Agreement) -> String {
    format!(
        "<p>Agreement <strong id=\"agreement-id\">{id}</strong> · {program}<br>{customer} \
            ({country})<br>\
Online Services Manager: {osm}</p>",
        id = escape(a.id.as_str()),
        program = a.program.as_str(),
        customer = escape(&a.customer.legal_name),
        country = escape(&a.customer.country),
        osm = escape(&a.osm.name),
    )
}

/// The page for a usable link: what will be associated, and a link to sign in (a plain GET).
pub fn activation(a: &Agreement, link: &ActivationLink, token: &str) -> Reply {
    let body = format!(
        "<h1>Activate your volume licences</h1>{summary}{table}\
<p class=\"note\">Associating pools these licences with those the account already has. \
A direct subscription on the account is not cancelled. This link works once, until {expires}.</p>\
<h2>Associate with your account</h2>\
<p>Sign in with your organisation's account as the administrator of the online account these \
licences belong to. You will see which account that is before anything is associated.</p>\
<p><a class=\"button\" id=\"sign-in\" href=\"{token}/sign-in\">Sign in to associate</a></p>",
        summary = agreement_summary(a),
        table = lines_table(a),
        expires = link.expires_at.format("%Y-%m-%d %H:%M UTC"),
        token = escape(token),
    );
    Reply::html(200, page("Activate your volume licences", &body))
}

/// What the confirmation page shows.
pub struct Confirmation<'a> {
    pub agreement: &'a Agreement,
    pub link: &'a ActivationLink,
    pub token: &'a str,
    pub session: &'a Session,
    pub account: &'a Account,
    pub needs_acknowledgement: bool,
}

/// Signed in for this link: who, which account, what will be associated, and Confirm.
pub fn confirmation(c: &Confirmation<'_>) -> Reply {
    let email = c.session.email.as_deref().unwrap_or("(no email address)");
    let acknowledgement = if c.needs_acknowledgement {
        format!(
            "<p class=\"note gone\" id=\"unrelated-email\">You are signed in as {email}, which is \
neither the Online Services Manager's address nor an address on {domain}.</p>\
<p><input type=\"checkbox\" id=\"acknowledge\" name=\"acknowledge\" value=\"yes\" required> \
<label class=\"inline\" for=\"acknowledge\">I confirm that {account} is the right account for \
these licences.</label></p>",
            email = escape(email),
            domain = escape(&c.account.domain),
            account = escape(&c.account.name),
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>Confirm the association</h1>\
<p>Signed in as <strong id=\"signed-in\">{email}</strong>.</p>\
<h2>The account</h2><p><strong id=\"account-name\">{name}</strong><br>\
Account id <code id=\"account-id\">{id}</code><br>Domain {domain}</p>\
{summary}{table}\
<p class=\"note\">Your direct subscription is not cancelled by this: cancel it separately once \
these licences are in the account, through a cancellation service request.</p>\
<form method=\"post\" action=\"{token}/confirm\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{acknowledgement}\
<button type=\"submit\" id=\"confirm\">Confirm</button></form>\
<p><a id=\"switch\" href=\"{token}/sign-in?prompt=login\">Sign in as someone else</a></p>\
<p><small>This link works until {expires}.</small></p>",
        email = escape(email),
        name = escape(&c.account.name),
        id = escape(c.account.id.as_str()),
        domain = escape(&c.account.domain),
        summary = agreement_summary(c.agreement),
        table = lines_table(c.agreement),
        token = escape(c.token),
        csrf = escape(&c.session.csrf),
        expires = c.link.expires_at.format("%Y-%m-%d %H:%M UTC"),
    );
    Reply::html(200, page("Confirm the association", &body))
}

/// A failure page: status, code, what happened and what to do next.
fn failure(status: u16, code: &str, title: &str, what: &str, next: &str) -> Reply {
    let body = format!(
        "<h1>{t}</h1><p class=\"note gone\" id=\"problem\" data-code=\"{code}\">{w}</p><p>{n}</p>",
        t = escape(title),
        code = escape(code),
        w = escape(what),
        n = escape(next),
    );
    Reply::html(status, page(title, &body))
}

/// 403: signed in, but not as someone who may associate.
pub fn not_an_admin(s: &Session, why: &str) -> Reply {
    let who = s.email.as_deref().unwrap_or(&s.sub);
    failure(
        403,
        "forbidden",
        "This sign-in cannot associate the licences",
        &format!("{who} {why}."),
        "Sign in as the administrator of the online account these licences belong to: \
use the link in the email again and choose \"Sign in as someone else\" if needed.",
    )
}

/// 403: no session for this link, or the form's CSRF value is not the session's.
pub fn session_invalid() -> Reply {
    failure(
        403,
        "session_invalid",
        "Your sign-in for this link has expired",
        "Nothing was associated: the sign-in for this link is missing, has expired, or belongs \
to another link or browser window.",
        "Open the link from the email again and sign in.",
    )
}

/// 400: the callback does not belong to a sign-in this browser started.
pub fn sign_in_state() -> Reply {
    failure(
        400,
        "sign_in_state",
        "This sign-in could not be completed",
        "The sign-in did not start here, took longer than ten minutes, or was already used.",
        "Open the link from the email again and sign in.",
    )
}

/// 401: the provider did not sign the person in.
pub fn sign_in_refused(why: &str) -> Reply {
    failure(
        401,
        "sign_in_refused",
        "You were not signed in",
        &format!("The identity provider did not complete the sign-in ({why})."),
        "Open the link from the email again and sign in; if it keeps failing, ask your \
organisation's administrator about your account.",
    )
}

/// 401: the provider's ID token did not verify.
pub fn id_token_invalid() -> Reply {
    failure(
        401,
        "id_token_invalid",
        "Your sign-in could not be verified",
        "The identity provider's answer could not be verified, so nobody is signed in.",
        "Open the link from the email again and sign in. If it keeps happening, tell Billing \
            Support.",
    )
}

/// 503: the provider cannot be reached.
pub fn provider_unreachable() -> Reply {
    failure(
        503,
        "provider_unavailable",
        "Sign-in is unavailable for a moment",
        "The identity provider cannot be reached right now. Nothing was associated.",
        "Try again in a minute: open the link from the email again.",
    )
    .with_header("retry-after", "60".into())
}

/// 503: this deployment has no sign-in configured.
pub fn not_configured() -> Reply {
    failure(
        503,
        "sign_in_not_configured",
        "Sign-in is not available",
        "This service has no identity provider configured for the activation pages.",
        "Ask Billing Support; your link keeps working until it expires.",
    )
    .with_header("retry-after", "3600".into())
}

/// 410: the link no longer works — and why, and what to do.
pub fn gone(state: LinkState) -> Reply {
    let (title, why) = match state {
        LinkState::Used => (
            "This link has already been used",
            "The agreement has been associated with an account. Its licences are in that \
                account's pool; \
there is nothing left to do. If they went to the wrong account, ask Billing Support to remap the \
agreement.",
        ),
        LinkState::Expired => ("This link has expired", RESEND_ADVICE),
        LinkState::OsmChanged => (
            "This link was replaced: the Online Services Manager changed",
            "The agreement now has another Online Services Manager. They can ask Billing Support \
                to send them a new link.",
        ),
        LinkState::Replaced | LinkState::Usable => (
            "This link was replaced by a newer one",
            "A newer activation email was sent to the Online Services Manager; use the link in \
                the latest one. \
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
        "<h1>This activation link is not valid</h1><p class=\"note gone\">Check that the whole \
            link was copied from the email. {}</p>",
        escape(RESEND_ADVICE)
    );
    Reply::html(404, page("Activation link not valid", &body))
}

/// "Licences associated": what the invoiced orders attached, per SKU, and the account's
/// totals now.
pub fn associated(done: &Associated, totals: &[(Sku, u64)]) -> Reply {
    let orders: String = done
        .attached_orders
        .iter()
        .map(|l| {
            format!(
                "<li>{} × <code>{}</code></li>",
                l.quantity,
                escape(l.sku.code())
            )
        })
        .collect();
    let rows: String = totals
        .iter()
        .map(|(sku, total)| {
            format!(
                "<tr><td>{}<br><small><code>{}</code></small></td><td>{total}</td></tr>",
                escape(sku.display_name()),
                escape(sku.code())
            )
        })
        .collect();
    let body = format!(
        "<h1 id=\"done\">Licences associated</h1>\
<p>Agreement <strong>{agr}</strong> is now associated with account <strong id=\"account\">{acc}\
</strong>. \
Its licences pool with those the account already has.</p><p>Orders attached:</p><ul>{orders}</ul>\
<table id=\"totals\"><caption>The account's licences now</caption>\
<tr><th scope=\"col\">Product</th><th scope=\"col\">Total</th></tr>{rows}</table>\
<p class=\"note\">Your direct subscription is still active: cancel it through a cancellation \
service request once you no longer need it.</p>",
        agr = escape(done.agreement_id.as_str()),
        acc = escape(done.account_id.as_str()),
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
        "<h1>{t}</h1><p class=\"note gone\" id=\"problem\" data-code=\"{code}\">{d}</p>\
<p>Open the link from the email again; if this keeps happening, ask Billing Support.</p>",
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
