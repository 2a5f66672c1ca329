//! Fixtures for the domain's unit tests: valid values to start from, changed with struct
//! update syntax where a test needs something else.

use chrono::{DateTime, NaiveDate, Utc};

use crate::catalog::Sku;
use crate::model::{
    Account, Agreement, Billing, Contact, Customer, Order, OrderSource, OrderStatus, Osm, Partner,
    Subscription, SubscriptionStatus,
};
use crate::rules::schedule::MonthDay;
use crate::types::{
    AccountId, AgreementId, CustomerNumber, Email, Line, Lines, OrderId, PartnerId, Program,
    Quantity, SubscriptionId,
};

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("timestamp")
        .with_timezone(&Utc)
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

pub fn lines(items: &[(Sku, u64)]) -> Lines {
    Lines::new(
        items
            .iter()
            .map(|(sku, q)| Line {
                sku: *sku,
                quantity: Quantity::new(*q).expect("quantity"),
            })
            .collect(),
    )
    .expect("lines")
}

/// The partner `p1`, registered, without webhook endpoints.
pub fn partner() -> Partner {
    Partner {
        id: PartnerId::parse("p1").expect("partner id"),
        name: "Fabrikam LSP".into(),
        contact: Contact {
            name: "Pat".into(),
            email: Email::parse("pat@fabrikam.com").expect("email"),
            phone: "+1 555 0100".into(),
        },
        updated_at: at("2026-11-28T10:00:00Z"),
        webhook_endpoints: 0,
        version: 1,
    }
}

/// An account without agreements or Online Services licences.
pub fn account() -> Account {
    Account {
        id: AccountId::generate(),
        name: "Contoso".into(),
        domain: "contoso.com".into(),
        online_services: vec![],
        relied_on: Default::default(),
        volume: Default::default(),
        direct: Default::default(),
        created_at: at("2026-01-01T00:00:00Z"),
        version: 1,
    }
}

/// An EA of partner p1 for Contoso Ltd (NL), started 2026-03-15, not associated.
pub fn agreement() -> Agreement {
    Agreement {
        id: AgreementId::generate(),
        program: Program::Ea,
        customer: Customer {
            number: CustomerNumber::parse("4711").expect("number"),
            legal_name: "Contoso Ltd".into(),
            country: "NL".into(),
        },
        osm: Osm {
            name: "Olivia".into(),
            email: Email::parse("olivia@contoso.com").expect("email"),
        },
        partner_id: PartnerId::parse("p1").expect("partner"),
        start_date: date("2026-03-15"),
        schedule: MonthDay { month: 3, day: 15 },
        anniversary: date("2027-03-15"),
        billed_through: None,
        account_id: None,
        bound_to_online_services: false,
        volume_discount_eligible: false,
        ordered_seats: 0,
        osm_generation: 0,
        link_seq: 0,
        activation_email_failed: None,
        created_at: at("2026-03-01T00:00:00Z"),
        holdings: Default::default(),
        joined_pool_at: 0,
        version: 1,
    }
}

/// A placed order of `lines` on `agreement` by its partner, placed 2026-04-01.
pub fn order(agreement: &Agreement, lines: Lines) -> Order {
    Order {
        id: OrderId::generate(&agreement.id),
        agreement_id: agreement.id.clone(),
        partner_id: agreement.partner_id.clone(),
        source: OrderSource::Order,
        status: OrderStatus::Placed,
        lines,
        replaces_subscription_id: None,
        volume_discount_eligible: false,
        placed_at: at("2026-04-01T00:00:00Z"),
        invoiced_at: None,
        activation_email: None,
        version: 1,
        sequence: 1,
    }
}

/// An active credit-card subscription of `lines` on `account`, bought 2026-02-01.
pub fn subscription(account: &Account, lines: Lines) -> Subscription {
    Subscription {
        id: SubscriptionId::generate(),
        account_id: account.id.clone(),
        billing: Billing::CreditCard,
        lines,
        status: SubscriptionStatus::Active,
        created_at: at("2026-02-01T00:00:00Z"),
        version: 1,
        sequence: 1,
        named_by: Vec::new(),
        open_request: None,
        cancellation: None,
    }
}
