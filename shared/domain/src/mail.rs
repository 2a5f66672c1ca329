//! The activation mail's content (plain text + HTML, escaped); sending it is the runtime's.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::catalog::Sku;
use crate::html::escape;
use crate::model::{Agreement, Order};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What activating will associate: every invoiced purchase order of the agreement, per SKU.
pub fn to_associate(orders: &[Order]) -> BTreeMap<Sku, u64> {
    let mut totals = BTreeMap::new();
    for o in orders.iter().filter(|o| o.is_invoiced_purchase()) {
        for l in o.lines.iter() {
            *totals.entry(l.sku).or_insert(0) += l.quantity.get();
        }
    }
    totals
}

fn program_name(a: &Agreement) -> &'static str {
    match a.program {
        crate::types::Program::Ea => "Enterprise Agreement (EA)",
        crate::types::Program::Eas => "Enterprise Subscription Agreement (EAS)",
        crate::types::Program::Casa => "Campus and School Agreement (CASA)",
    }
}

/// The activation mail to the agreement's OSM of record.
pub fn activation_mail(
    a: &Agreement,
    orders: &[Order],
    link: &str,
    expires_at: DateTime<Utc>,
) -> MailContent {
    let items = to_associate(orders);
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::{OrderSource, OrderStatus};
    use crate::types::{Line, Lines, OrderId, Quantity};

    fn agreement() -> Agreement {
        let mut a = crate::testing::agreement();
        a.customer.legal_name = "Contoso <Ltd> & Co".into();
        a.osm.name = "Olivia <script>".into();
        a
    }

    fn order(a: &Agreement, status: OrderStatus, q: u64) -> Order {
        Order {
            id: OrderId::generate(&a.id),
            agreement_id: a.id.clone(),
            partner_id: a.partner_id.clone(),
            source: OrderSource::Order,
            status,
            lines: Lines::new(vec![Line {
                sku: Sku::SalesProfessional,
                quantity: Quantity::new(q).expect("q"),
            }])
            .expect("l"),
            replaces_subscription_id: None,
            volume_discount_eligible: false,
            placed_at: Utc::now(),
            invoiced_at: None,
            activation_email: None,
            version: 1,
            sequence: 1,
        }
    }

    #[test]
    fn lists_invoiced_orders_escapes_data_and_carries_the_link() {
        let a = agreement();
        let orders = [
            order(&a, OrderStatus::Invoiced, 50),
            order(&a, OrderStatus::Invoiced, 5),
            order(&a, OrderStatus::Placed, 99),
        ];
        let link = "https://licensing.example.com/activate/abc123";
        let m = activation_mail(&a, &orders, link, Utc::now());
        assert!(m.text.contains("55 × Dynamics 365 Sales Professional"));
        assert!(!m.text.contains("99 ×"), "a placed order is not listed");
        assert!(m.text.contains(link) && m.html.contains(link));
        assert!(m.html.contains("Olivia &lt;script&gt;"));
        assert!(m.html.contains("Contoso &lt;Ltd&gt; &amp; Co"));
        assert!(!m.html.contains("<script>"));
        assert!(m.text.contains("resend"));
        assert!(m.subject.contains(a.id.as_str()));
    }
}
