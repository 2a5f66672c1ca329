//! Every sentence the pages say (SPEC §7.5, §7.7), in one place: the frame's words, and what
//! a refusal says, keyed by the problem's code (and for `invalid_field`, its field), filled
//! from the problem's fields and never from its `detail`. Rules carry codes and numbers only.

use vls_domain::html::escape;
use vls_domain::model::ServiceRequestStatus;
use vls_http::Problem;

pub const PRODUCT: &str = "Volume licensing";
pub const HELP_LINE: &str = "Questions about an order or an invoice: your Licensing Solutions \
Partner. Activation, a wrong account or billing: Billing Support. \
<a href=\"/portal/help\">Who to ask for what</a>.";
pub const NO_EMAIL: &str = "(no email address)";
pub const UNVERIFIED: &str = "(email address not verified)";

pub const SIGN_IN_TITLE: &str = "Sign in";
pub const SIGN_IN_LEAD: &str = "Sign in with your organisation's account as the administrator \
of your online account to see its licences, reserve more, and cancel a direct subscription.";
pub const SIGN_IN_BUTTON: &str = "Sign in";

/// Why the sign-in page is shown (`?ended=`).
pub fn ended(reason: &str) -> Option<&'static str> {
    match reason {
        "idle" => Some("You were signed out because the session went unused for a while."),
        "expired" => Some("Your session reached the end of its working day. Sign in again."),
        "signed_out" => Some("You are signed out."),
        _ => None,
    }
}

pub const SIGNED_OUT_PROVIDER: &str = "To sign out of your organisation's account too:";

pub const NOT_ADMIN_TITLE: &str = "You cannot use these pages";
pub const NOT_ADMIN_ROLE: &str = "is not signed in as an account administrator.";
pub const NOT_ADMIN_ACCOUNT: &str = "has no account named in the sign-in.";
pub const NOT_ADMIN_UNKNOWN: &str = "administers an account this service does not know.";
pub const SIGN_IN_OTHER: &str = "Sign in as someone else";

pub const NOTHING_CHANGED: &str = "Nothing was changed.";

/// P10: who to ask for what (the FAQ).
pub const HELP: &str = "\
<h2>Your Licensing Solutions Partner</h2><p>Orders, quotes and invoices for your agreement: \
buying more licences, a true-up order, a question about an invoice line. The agreement's \
page names the partner's invoice contact.</p>\
<h2>Billing Support</h2><p>The activation email (it goes to your agreement's Online Services \
Manager; Billing Support can send it again), licences associated with the wrong online \
account (a remap), and a direct subscription you cannot cancel yourself.</p>\
<h2>A service request</h2><p>When a subscription's page says its licences are not covered, \
open a service request from that page: Billing Support may cancel it if you accept losing \
what is not covered, or tells you why not.</p>\
<h2>These pages</h2><p>You are signed out after a while without activity and at the end of \
a working day. Reservations can be cancelled for 72 hours; after that they are billed at the \
agreement's True-Up.</p>";

pub const CANCELLED: &str = "This subscription is cancelled: its billing has stopped, and what \
it relied on stays in the pool from volume licences.";
pub const CAN_CANCEL_NOW: &str = "Every licence of this subscription is covered by volume \
licences: you can cancel it.";
pub const CANCEL_STOPS_BILLING: &str = "Cancelling stops this subscription's credit-card or \
invoice billing. Its licences stay in the pool, covered by your volume licences.";
pub const DEFAULT_REASON: &str = "Replaced by volume licences";
pub const NOT_COVERED: &str = "You cannot cancel it yourself: volume licences do not cover";
pub const WHAT_COVERS: &str = "A partner order on an agreement, a reservation, or moving an \
agreement to this account (a remap, through Billing Support) would cover it. Or ask Billing \
Support to cancel it anyway.";
pub const REQUEST_OPEN: &str = "A service request for it is already open:";
pub const CONSENT: &str = "Billing Support may cancel it even though the account loses:";

/// How a subscription is billed, in words.
pub fn billing(b: vls_domain::model::Billing) -> &'static str {
    match b {
        vls_domain::model::Billing::CreditCard => "credit card",
        vls_domain::model::Billing::Invoice => "invoice",
    }
}

pub const NO_REQUESTS: &str = "You have not asked Billing Support for anything yet.";
pub const CONSENTED: &str = "You accepted that the account may lose what is not covered.";
pub const NOT_CONSENTED: &str = "You did not accept losing licences: Billing Support cancels \
it only once it is covered.";

/// Who did something, by role, in words.
pub fn role(role: &str) -> &'static str {
    match role {
        "customer_admin" => "you (the account's administrator)",
        "billing_support" => "Billing Support",
        "partner" => "your partner",
        "system" => "the service",
        _ => "someone else",
    }
}

pub const RESERVE_UNTIL: &str = "Possible until";
pub const RESERVE_LEAD: &str = "Reserved licences are in the pool at once and billed at the \
agreement's next True-Up. Enter how many of each product; nothing is reserved before you \
review and confirm.";
pub const RESERVE_AT_ONCE: &str = "The licences are in the pool at once.";
pub const RESERVE_CANCEL: &str = "You can cancel the reservation for 72 hours.";
pub const RESERVE_BILLED: &str = "They are billed at the True-Up on";
pub const RESERVE_USED_OR_NOT: &str = "whether they are used or not.";
pub const RESERVE_COST: &str = "The cost is the licences billed: your Licensing Solutions \
Partner invoices them at your agreement's prices.";

/// An order's source, in words.
pub fn order_source(s: vls_domain::model::OrderSource) -> &'static str {
    match s {
        vls_domain::model::OrderSource::Order => "partner order",
        vls_domain::model::OrderSource::TrueUp => "true-up",
    }
}

/// An order's status, in words ("placed" is not yet in the pool).
pub fn order_status(s: vls_domain::model::OrderStatus) -> &'static str {
    match s {
        vls_domain::model::OrderStatus::Placed => "placed (not yet in the pool)",
        vls_domain::model::OrderStatus::Invoiced => "invoiced",
    }
}

/// A reservation's status, as its filter and the pages say it.
pub fn reservation_status(s: vls_domain::model::ReservationStatus) -> &'static str {
    match s {
        vls_domain::model::ReservationStatus::Active => "active",
        vls_domain::model::ReservationStatus::Cancelled => "cancelled",
        vls_domain::model::ReservationStatus::Billed => "billed",
    }
}

pub const RESERVATION_LEAVES: &str = "Cancelling takes these licences out of the pool:";

/// A trail entry's action, in words.
pub fn action(action: &str) -> String {
    let said = match action {
        "account.created" => "The account was created",
        "subscription.created" => "A direct subscription was bought",
        "subscription.cancelled" => "A direct subscription was cancelled",
        "agreement.associated" => "An agreement was associated with the account",
        "agreement.remapped" => "An agreement was moved to or from the account",
        "order.invoiced" => "A partner order was invoiced",
        "reservation.created" => "Licences were reserved",
        "reservation.cancelled" => "A reservation was cancelled",
        "true_up.billed" => "A True-Up was billed",
        "service_request.opened" => "A service request was opened",
        "service_request.acknowledged" => "Billing Support took up a service request",
        "service_request.declined" => "Billing Support declined a service request",
        "service_request.withdrawn" => "A service request was withdrawn",
        "service_request.resolved" => "A service request was resolved",
        other => return escape(&other.replace(['.', '_'], " ")),
    };
    said.to_owned()
}

pub const NOTHING: &str = "nothing";

pub const NO_LICENCES: &str = "The account has no licences yet.";
pub const NO_SOURCES: &str = "Nothing adds licences to the account yet.";
pub const CAN_CANCEL: &str = "is covered by volume licences: you can cancel it now.";

/// A service request's status in words.
pub fn request_status(s: ServiceRequestStatus) -> &'static str {
    match s {
        ServiceRequestStatus::Open => "open",
        ServiceRequestStatus::InProgress => "in progress",
        ServiceRequestStatus::Resolved => "resolved",
        ServiceRequestStatus::Declined => "declined",
        ServiceRequestStatus::Withdrawn => "withdrawn",
    }
}

/// The title and sentence of a failure page for `code`, if the catalog has one.
pub fn failure(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "not_found" => (
            "Page not found",
            "We cannot find that page; it may not exist, or belong to another account.",
        ),
        "session_invalid" | "cross_site" => (
            "Sign in again",
            "This form did not come from your current session. Sign in again.",
        ),
        "unavailable" => ("Try again shortly", "Try again in a minute."),
        "invalid_status" => ("Unknown filter", "That list has no such filter."),
        "invalid_cursor" => (
            "Page link out of date",
            "That page link is not one these pages gave, or no longer reads as one.",
        ),
        "concurrent_update" => (
            "Changed meanwhile",
            "Someone changed this meanwhile; check and retry.",
        ),
        "sign_in_refused" => (
            "Sign-in refused",
            "Your organisation's sign-in did not let you in. Try again, or ask your IT team.",
        ),
        "sign_in_state" => (
            "Sign-in expired",
            "That sign-in was started elsewhere or took too long. Start it again.",
        ),
        "id_token_invalid" => (
            "Sign-in not accepted",
            "The sign-in could not be verified. Start it again.",
        ),
        "not_configured" => (
            "Sign-in is off",
            "Sign-in is not set up for this service yet. Ask Billing Support.",
        ),
        _ => return None,
    })
}

/// What a refusal's sentence is filled from besides the problem's own fields: the page's
/// entities as read.
#[derive(Default)]
pub struct Facts<'a> {
    /// The agreement's partner, who takes orders.
    pub partner: Option<&'a str>,
    /// The date that matters: an anniversary, a reservation's billing day.
    pub date: Option<chrono::NaiveDate>,
    /// What the thing already is (`cancelled`, `billed`, `resolved`).
    pub status: Option<&'a str>,
    /// The subscription's open service request.
    pub request: Option<&'a str>,
}

/// The sentence (HTML) a refused form shows for `problem` (SPEC §7.5).
pub fn refusal(problem: &Problem, facts: &Facts<'_>) -> String {
    let partner = escape(facts.partner.unwrap_or("your Licensing Solutions Partner"));
    let date = facts
        .date
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    match problem.code {
        "invalid_field" | "missing_field" | "invalid_type" | "invalid_quantity" | "empty_lines" => {
            field_sentence(problem).to_owned()
        }
        "program_not_eligible" => {
            format!("Reservations are for EA and EAS only. Ask {partner} for an order.")
        }
        "reservation_window_closed" => format!(
            "Reservations close 30 days before the anniversary ({date}). Ask {partner} for an \
             order."
        ),
        "cancellation_window_passed" => {
            format!("Reservations can be cancelled for 72 hours; this one is billed on {date}.")
        }
        "reservation_not_active" | "subscription_already_cancelled" | "service_request_closed" => {
            format!(
                "This is already {}.",
                escape(facts.status.unwrap_or("closed"))
            )
        }
        "would_lose_relied_on_licenses" | "cancellation_would_lose_licenses" => format!(
            "These licences are not covered: {}",
            crate::table::wide_table("Not covered", &shortfall_table(problem))
        ),
        "cancellation_available" => "You can cancel it yourself.".into(),
        "idempotency_key_reused" => "This form was already sent with other values: open the \
            page again and fill it in anew."
            .into(),
        "total_out_of_range" => "That would take a product past what one agreement can \
            hold. Reserve fewer."
            .into(),
        "service_request_exists" => match facts.request {
            Some(id) => format!(
                "A request is already open: <a id=\"first-request\" \
                 href=\"/portal/service-requests/{id}\">{id}</a>.",
                id = escape(id)
            ),
            None => "A request is already open.".into(),
        },
        code => failure(code).map(|(_, s)| s.to_owned()).unwrap_or_else(|| {
            "That did not work. Nothing was changed; try again, or ask Billing Support.".into()
        }),
    }
}

/// The codes a refused form of these pages can show (each has its sentence above).
pub const REFUSAL_CODES: &[&str] = &[
    "invalid_field",
    "missing_field",
    "invalid_type",
    "invalid_quantity",
    "empty_lines",
    "program_not_eligible",
    "reservation_window_closed",
    "cancellation_window_passed",
    "reservation_not_active",
    "subscription_already_cancelled",
    "service_request_closed",
    "would_lose_relied_on_licenses",
    "cancellation_would_lose_licenses",
    "cancellation_available",
    "idempotency_key_reused",
    "total_out_of_range",
    "service_request_exists",
    "concurrent_update",
    "unavailable",
    "not_found",
];

/// `invalid_field`'s sentence, by field.
fn field_sentence(problem: &Problem) -> &'static str {
    let field = problem
        .extra
        .get("field")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if field.starts_with("lines") || field == "quantity" {
        "Enter a whole number from 1 to 1,000,000 for at least one product."
    } else if field == "message" || field == "note" {
        "Write at most 2,000 characters."
    } else if field == "reason" {
        "Give a reason of 1 to 1,000 characters."
    } else {
        "Check the values you entered."
    }
}

/// The shortfalls of a refusal, as a table (the problem's `shortfalls`, row for row).
pub fn shortfall_table(problem: &Problem) -> String {
    let rows: String = problem
        .extra
        .get("shortfalls")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .map(|s| {
            let sku = s["sku"].as_str().unwrap_or_default();
            let name = vls_domain::catalog::Sku::parse(sku).map_or(sku, |k| k.display_name());
            let taken = s
                .get("direct")
                .or_else(|| s.get("removed"))
                .cloned()
                .unwrap_or_default();
            format!(
                "<tr data-sku=\"{sku}\"><th scope=\"row\">{name}</th><td class=\"n\">{taken}</td>\
<td class=\"n\">{volume}</td><td class=\"n\">{relied}</td><td class=\"n\">{available}</td></tr>",
                sku = escape(sku),
                name = escape(name),
                volume = s["volume"],
                relied = s["relied_on"],
                available = s["available"],
            )
        })
        .collect();
    format!(
        "<table id=\"shortfalls\"><caption>Not covered</caption><tr><th scope=\"col\">Product</th>\
<th scope=\"col\" class=\"n\">Taken out</th><th scope=\"col\" class=\"n\">Volume licences</th>\
<th scope=\"col\" class=\"n\">Already relied on</th><th scope=\"col\" class=\"n\">Available</th>\
</tr>{rows}</table>"
    )
}

/// Every code a failure page can show.
pub const FAILURE_CODES: &[&str] = &[
    "not_found",
    "session_invalid",
    "cross_site",
    "unavailable",
    "invalid_cursor",
    "invalid_status",
    "concurrent_update",
    "sign_in_refused",
    "sign_in_state",
    "id_token_invalid",
    "not_configured",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_code_has_a_title_and_a_sentence() {
        for code in FAILURE_CODES {
            let (title, sentence) = failure(code).unwrap_or_else(|| panic!("{code}"));
            assert!(!title.is_empty() && sentence.ends_with('.'), "{code}");
        }
        assert_eq!(failure("no_such_code"), None);
    }

    #[test]
    fn every_refusal_code_has_a_sentence_of_its_own() {
        let facts = Facts::default();
        for code in REFUSAL_CODES {
            let p = Problem::new(409, code, "detail never shown");
            let said = refusal(&p, &facts);
            assert!(
                !said.is_empty() && !said.contains("detail never shown"),
                "{code}"
            );
            assert!(
                !said.starts_with("That did not work"),
                "{code} has no sentence"
            );
        }
        let p = Problem::new(422, "invalid_field", "x").at_field("lines[0].quantity");
        assert!(refusal(&p, &facts).contains("1 to 1,000,000"));
    }

    #[test]
    fn every_ending_says_why() {
        for reason in ["idle", "expired", "signed_out"] {
            assert!(ended(reason).is_some(), "{reason}");
        }
        assert_eq!(ended("other"), None);
    }
}
