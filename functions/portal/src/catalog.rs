//! Every sentence the pages say (SPEC §7.5, §7.7), in one place: the frame's words, and what
//! a refusal says, keyed by the problem's code (and for `invalid_field`, its field), filled
//! from the problem's fields and never from its `detail`. Rules carry codes and numbers only.

use vls_domain::model::ServiceRequestStatus;

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

/// Every code a failure page can show.
pub const FAILURE_CODES: &[&str] = &[
    "not_found",
    "session_invalid",
    "cross_site",
    "unavailable",
    "invalid_cursor",
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
    fn every_ending_says_why() {
        for reason in ["idle", "expired", "signed_out"] {
            assert!(ended(reason).is_some(), "{reason}");
        }
        assert_eq!(ended("other"), None);
    }
}
