//! The activation mail's content (plain text + HTML, escaped); sending it is the runtime's.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::catalog::Sku;
use crate::html::escape;
use crate::model::{Agreement, Partner, WebhookFailure};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What activating will associate: the agreement's invoiced purchase orders, per SKU (kept
/// on the agreement, so nothing reads its orders one by one).
pub fn to_associate(a: &Agreement) -> BTreeMap<Sku, u64> {
    a.holdings.invoiced.clone()
}

fn program_name(a: &Agreement) -> &'static str {
    match a.program {
        crate::types::Program::Ea => "Enterprise Agreement (EA)",
        crate::types::Program::Eas => "Enterprise Subscription Agreement (EAS)",
        crate::types::Program::Casa => "Campus and School Agreement (CASA)",
    }
}

/// The activation mail to the agreement's OSM of record.
pub fn activation_mail(a: &Agreement, link: &str, expires_at: DateTime<Utc>) -> MailContent {
    let items = to_associate(a);
    let expires = expires_at.format("%Y-%m-%d").to_string();
    MailContent {
        subject: format!("Activate the licences on agreement {}", a.id),
        text: text(a, &items, link, &expires),
        html: html(a, &items, link, &expires),
    }
}

fn text(a: &Agreement, items: &BTreeMap<Sku, u64>, link: &str, expires: &str) -> String {
    let mut text = format!(
        "Hello {name},\n\n\
         you are the Online Services Manager on volume licensing agreement {id}\n\
         ({program}) for {customer}.\n\n\
         Licences on it are ready to be associated with your online account:\n",
        name = a.osm.name,
        id = a.id,
        program = program_name(a),
        customer = a.customer.legal_name,
    );
    for (sku, qty) in items {
        text.push_str(&format!("  - {qty} × {} ({sku})\n", sku.display_name()));
    }
    text.push_str(&format!(
        "\nOpen this link, sign in as an administrator of your existing account and associate\n\
         the agreement with it. The licences then pool with those you already have; your\n\
         direct subscription is not cancelled.\n\n  {link}\n\n\
         The link works once and until {expires}. If it has expired or no longer works, ask\n\
         Billing Support to resend the activation email (have your company's legal name and\n\
         country ready), or ask your Licensing Solutions Partner to correct the Online\n\
         Services Manager on the agreement.\n"
    ));
    text
}

fn html(a: &Agreement, items: &BTreeMap<Sku, u64>, link: &str, expires: &str) -> String {
    let rows: String = items
        .iter()
        .map(|(sku, qty)| {
            format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>{qty}</td></tr>",
                escape(sku.display_name()),
                escape(sku.code())
            )
        })
        .collect();
    format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <p>Hello {name},</p>\
         <p>you are the Online Services Manager on volume licensing agreement \
         <strong>{id}</strong> ({program}) for {customer}.</p>\
         <p>Licences on it are ready to be associated with your online account:</p>\
         <table cellpadding=\"4\"><tr><th align=\"left\">Product</th>\
         <th align=\"left\">SKU</th><th align=\"left\">Quantity</th></tr>{rows}</table>\
         <p><a href=\"{link}\">Associate agreement {id} with your account</a></p>\
         <p>Sign in as an administrator of your existing account. The licences then pool \
         with those you already have; your direct subscription is not cancelled.</p>\
         <p>The link works once and until {expires}. If it has expired or no longer works, \
         ask Billing Support to resend the activation email (have your company's legal name \
         and country ready), or ask your Licensing Solutions Partner to correct the Online \
         Services Manager on the agreement.</p>\
         </body></html>",
        name = escape(&a.osm.name),
        id = escape(a.id.as_str()),
        program = escape(program_name(a)),
        customer = escape(&a.customer.legal_name),
        link = escape(link),
        expires = escape(expires),
    )
}

/// The mail to a partner's contact when a delivery to one of its endpoints is given up
/// (SPEC §6.7): what failed, and how to recover (fix the receiver, then replay).
pub fn webhook_failed_mail(partner: &Partner, f: &WebhookFailure) -> MailContent {
    let deliveries = format!(
        "/webhook-endpoints/{}/deliveries?status=failed",
        f.endpoint_id
    );
    let replay = format!("/webhook-endpoints/{}/replay", f.endpoint_id);
    let text = format!(
        "Hello {name},\n\n\
         deliveries to your webhook endpoint {url} ({endpoint}) are failing. The event\n\
         {event} ({kind}) was given up after {attempts} attempts over about three days;\n\
         the last one ended with: {last}.\n\n\
         Nothing is lost: every event stays listed by GET /events for 90 days. Once your\n\
         receiver answers 2xx again, deliver what it missed with\n\
         POST {replay} {{\"after_sequence\": <the last sequence you hold>}}.\n\
         GET {deliveries} lists what failed and why. An endpoint that has had no\n\
         successful delivery for five days is disabled; enable it first.\n\n\
         This mail is sent at most once a day per endpoint.\n",
        name = partner.contact.name,
        url = f.url,
        endpoint = f.endpoint_id,
        event = f.event_id,
        kind = f.event_type,
        attempts = f.attempts,
        last = f.last,
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <p>Hello {name},</p>\
         <p>deliveries to your webhook endpoint <code>{url}</code> ({endpoint}) are failing. \
         The event <code>{event}</code> ({kind}) was given up after {attempts} attempts over \
         about three days; the last one ended with: {last}.</p>\
         <p>Nothing is lost: every event stays listed by <code>GET /events</code> for 90 days. \
         Once your receiver answers 2xx again, deliver what it missed with \
         <code>POST {replay}</code> and <code>{{\"after_sequence\": &lt;the last sequence \
         you hold&gt;}}</code>. <code>GET {deliveries}</code> lists what failed and why. An \
         endpoint that has had no successful delivery for five days is disabled; enable it \
         first.</p><p>This mail is sent at most once a day per endpoint.</p>\
         </body></html>",
        name = escape(&partner.contact.name),
        url = escape(&f.url),
        endpoint = escape(f.endpoint_id.as_str()),
        event = escape(f.event_id.as_str()),
        kind = escape(&f.event_type),
        attempts = f.attempts,
        last = escape(&f.last),
        replay = escape(&replay),
        deliveries = escape(&deliveries),
    );
    MailContent {
        subject: format!("Webhook deliveries to {} are failing", f.url),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreement() -> Agreement {
        let mut a = crate::testing::agreement();
        a.customer.legal_name = "Contoso <Ltd> & Co".into();
        a.osm.name = "Olivia <script>".into();
        a
    }

    #[test]
    fn lists_invoiced_orders_escapes_data_and_carries_the_link() {
        let mut a = agreement();
        for q in [50, 5] {
            a.holdings
                .invoice(&crate::testing::lines(&[(Sku::SalesProfessional, q)]));
        }
        let link = "https://licensing.example.com/activate/abc123";
        let m = activation_mail(&a, link, Utc::now());
        assert!(m.text.contains("55 × Dynamics 365 Sales Professional"));
        assert!(
            !m.text.contains("Storage"),
            "nothing the orders do not hold"
        );
        assert!(m.text.contains(link) && m.html.contains(link));
        assert!(m.html.contains("Olivia &lt;script&gt;"));
        assert!(m.html.contains("Contoso &lt;Ltd&gt; &amp; Co"));
        assert!(!m.html.contains("<script>"));
        assert!(m.text.contains("resend"));
        assert!(m.subject.contains(a.id.as_str()));
    }
}
