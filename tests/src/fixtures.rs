//! Fixtures shared by the flows: the FAQ's customer.

use serde_json::{Value, json};

pub fn partner_body(name: &str) -> Value {
    json!({"name": name, "contact": {"name": "Pat Partner", "email": "pat@fabrikam.com",
           "phone": "+31 20 555 0100"}})
}

pub fn account_body(name: &str) -> Value {
    json!({"name": name, "domain": "contoso.com", "online_services": []})
}

pub fn mos_account_body(name: &str) -> Value {
    json!({"name": name, "domain": "contoso.com",
           "online_services": [{"product": "office365", "quantity": 300}]})
}

/// The FAQ's direct subscription: 50 Professional, 3 instances, 5 GB.
pub fn faq_subscription() -> Value {
    json!({"billing": "credit_card", "lines": [
        {"sku": "d365-sales-professional", "quantity": 50},
        {"sku": "d365-additional-production-instance", "quantity": 3},
        {"sku": "d365-additional-storage-gb", "quantity": 5},
    ]})
}

pub fn agreement_body(customer: &str, start: &str) -> Value {
    json!({
        "program": "EA",
        "customer": {"number": customer, "legal_name": "Contoso Ltd", "country": "NL"},
        "osm": {"name": "Olivia Osm", "email": "olivia@contoso.com"},
        "start_date": start,
    })
}

pub fn order_body(agreement: &str, lines: Value, replaces: Option<&str>) -> Value {
    let mut o = json!({"agreement_id": agreement, "lines": lines});
    if let Some(r) = replaces {
        o["replaces_subscription_id"] = json!(r);
    }
    o
}

pub fn covering_lines() -> Value {
    json!([
        {"sku": "d365-sales-professional", "quantity": 50},
        {"sku": "d365-additional-production-instance", "quantity": 3},
        {"sku": "d365-additional-storage-gb", "quantity": 5},
    ])
}
