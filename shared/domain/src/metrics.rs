//! The business metrics, in one place: what the functions count, under which name and
//! dimension. The functions emit them as CloudWatch embedded metric format lines (one
//! namespace, the function's name as a dimension); the template's alarms and dashboard name
//! the same metrics, and a contract test holds them to this list.

use crate::model::MailRefusal;

/// The CloudWatch namespace when the deployment does not name one (`METRICS_NAMESPACE`).
pub const DEFAULT_NAMESPACE: &str = "VolumeLicensing";

/// The dimension every metric carries besides its own: the function (binary) that counted it.
pub const FUNCTION: &str = "Function";

/// Every metric is a count of things that happened.
pub const UNIT: &str = "Count";

/// The functions that serve the HTTP API (each counts its replays and lost races).
pub const HTTP_FUNCTIONS: &[&str] = &[
    "order-intake",
    "activation",
    "reservations",
    "remap",
    "cancellation",
    "portal",
];

macro_rules! metrics {
    ($($(#[$doc:meta])* $variant:ident => $name:literal, $outcome:literal, $by:expr;)*) => {
        /// One thing the functions count.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Metric {
            $($(#[$doc])* $variant,)*
            /// An activation mail parked (given up), by why (`ParkedMails`, `Reason`).
            ParkedBecause(MailRefusal),
        }

        impl Metric {
            const PLAIN: &[Metric] = &[$(Metric::$variant,)*];

            fn plain(self) -> Option<(&'static str, &'static str, &'static [&'static str])> {
                match self {
                    $(Metric::$variant => Some(($name, $outcome, $by)),)*
                    Metric::ParkedBecause(_) => None,
                }
            }
        }
    };
}

metrics! {
    /// A partner placed an order on an agreement (R1–R3).
    OrderPlaced => "Orders", "placed", &["order-intake"];
    /// An order was invoiced (which queues the activation mail, R5).
    OrderInvoiced => "Orders", "invoiced", &["order-intake"];
    /// SES accepted an activation mail.
    MailSent => "ActivationMails", "sent", MAILER;
    /// The agreement was associated before its mail went out: nothing sent.
    MailSkipped => "ActivationMails", "skipped", MAILER;
    /// SES failed on the way; the mail is tried again later.
    MailRetried => "ActivationMails", "retried", MAILER;
    /// SES took mail slower than the mailer sent it; the mail waits a moment.
    MailThrottled => "ActivationMails", "throttled", MAILER;
    /// SES takes no mail from the account now (quota spent, paused, suspended, sender not
    /// verified, the account in the sandbox refusing an unverified recipient).
    MailBlocked => "ActivationMails", "blocked", MAILER;
    /// A mail given up: the agreement shows it, an operator resends it (runbook).
    MailParked => "ActivationMails", "parked", MAILER;
    /// A mail intent that could not be read, run after run: set aside, never sent.
    MailSetAside => "ActivationMails", "set_aside", MAILER;
    /// An agreement associated with an account through its activation link (R6–R8).
    Activated => "Associations", "activated", &["activation"];
    /// An agreement moved to another account by billing support (R12).
    Remapped => "Associations", "remapped", &["remap"];
    /// Licences reserved on an agreement (R14).
    ReservationMade => "Reservations", "made", &["reservations", "portal"];
    /// A reservation cancelled before its true-up.
    ReservationCancelled => "Reservations", "cancelled", &["reservations", "portal"];
    /// A cancellation of a reservation refused: a subscription's cancellation relied on it.
    ReservationCancelRefused => "Reservations", "cancel_refused", &["reservations", "portal"];
    /// The daily run handed the due agreements to the workers.
    TrueUpRun => "TrueUpRuns", "enqueued", &["true-up"];
    /// An anniversary billed (R15).
    TrueUpBilled => "TrueUpAgreements", "billed", &["true-up"];
    /// An agreement handed over with nothing due (another run billed it first).
    TrueUpUpToDate => "TrueUpAgreements", "up_to_date", &["true-up"];
    /// An agreement the rules refuse to bill as it stands, or one that no longer exists.
    TrueUpSkipped => "TrueUpAgreements", "skipped", &["true-up"];
    /// An agreement not billed this time (store unavailable, contended): offered again.
    TrueUpFailed => "TrueUpAgreements", "failed", &["true-up"];
    /// A true-up order created for what an anniversary billed.
    TrueUpOrder => "TrueUpOrders", "created", &["true-up"];
    /// A direct subscription cancelled with nothing lost (R11).
    CancellationPassed => "Cancellations", "passed", &["cancellation", "portal"];
    /// A cancellation refused because licences would be lost (R11).
    CancellationRefused => "Cancellations", "refused", &["cancellation", "portal"];
    /// Billing support cancelled accepting the loss of licences (R11's override).
    CancellationOverridden => "Cancellations", "overridden", &["cancellation"];
    /// A customer's administrator signed in to the customer's pages (SPEC §7.1).
    PortalSignedIn => "PortalSessions", "signed_in", &["portal"];
    /// A sign-in to the customer's pages refused: not an administrator of a known account.
    PortalSignInRefused => "PortalSessions", "turned_away", &["portal"];
    /// A session of the customer's pages ended by its person.
    PortalSignedOut => "PortalSessions", "signed_out", &["portal"];
    /// A request answered from its Idempotency-Key's first answer.
    Replayed => "IdempotentReplays", "replayed", HTTP_FUNCTIONS;
    /// A change lost an optimistic race and was tried again on fresh state.
    ConflictRetried => "ConcurrencyConflicts", "retried", HTTP_FUNCTIONS;
    /// A change lost every race it ran: the caller got 409 `concurrent_update`.
    ConflictExhausted => "ConcurrencyConflicts", "exhausted", HTTP_FUNCTIONS;
    /// A partner's event given its sequence (SPEC §6.3), by the stream's run or the sweep.
    EventSequenced => "PartnerEvents", "sequenced", DISPATCHER;
    /// An event sequenced more than five minutes after it happened: the stream's runs
    /// missed it and the sweep found it (the dispatcher is behind or failing).
    EventSequencedLate => "PartnerEvents", "sequenced_late", DISPATCHER;
    /// A delivery's attempt answered with a 2xx.
    DeliverySucceeded => "WebhookDeliveries", "succeeded", SENDER;
    /// An attempt failed; the delivery is tried again by the retry schedule.
    DeliveryRetried => "WebhookDeliveries", "retried", SENDER;
    /// A delivery given up: its last attempt failed, or the receiver answered 410.
    DeliveryFailed => "WebhookDeliveries", "failed", SENDER;
    /// A delivery dropped unsent: its endpoint was disabled or deleted meanwhile.
    DeliveryCancelled => "WebhookDeliveries", "cancelled", SENDER;
    /// An endpoint disabled by what its receiver answered: a 410, or five days without a
    /// success.
    EndpointDisabled => "WebhookEndpoints", "disabled", SENDER;
}

const MAILER: &[&str] = &["activation-mailer"];
const DISPATCHER: &[&str] = &["webhook-dispatcher"];
const SENDER: &[&str] = &["webhook-sender"];

/// Why a mail can be parked: refused for good, or failing past its last retry.
const PARK_REASONS: [MailRefusal; 3] = [
    MailRefusal::RejectedAddress,
    MailRefusal::RejectedMessage,
    MailRefusal::Unavailable,
];

impl Metric {
    /// Every metric and dimension value the functions can emit.
    pub fn all() -> Vec<Metric> {
        let parked = PARK_REASONS.into_iter().map(Metric::ParkedBecause);
        Self::PLAIN.iter().copied().chain(parked).collect()
    }

    /// The metric's name.
    pub fn name(self) -> &'static str {
        self.plain().map_or("ParkedMails", |(name, _, _)| name)
    }

    /// Its own dimension: `("Outcome", what happened)`, or `("Reason", why)` for a parked mail.
    pub fn dimension(self) -> (&'static str, &'static str) {
        match self {
            Metric::ParkedBecause(why) => ("Reason", why.code()),
            plain => (
                "Outcome",
                plain.plain().map_or("", |(_, outcome, _)| outcome),
            ),
        }
    }

    /// The functions that emit it (the value of their [`FUNCTION`] dimension).
    pub fn emitted_by(self) -> &'static [&'static str] {
        self.plain().map_or(MAILER, |(_, _, by)| by)
    }

    /// The distinct metric names.
    pub fn names() -> Vec<&'static str> {
        let mut names: Vec<_> = Self::all().into_iter().map(Metric::name).collect();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn each_metric_is_one_name_and_dimension_value() {
        let all = Metric::all();
        let distinct: BTreeSet<_> = all.iter().map(|m| (m.name(), m.dimension())).collect();
        assert_eq!(distinct.len(), all.len());
        assert_eq!(
            Metric::ParkedBecause(MailRefusal::RejectedAddress).dimension(),
            ("Reason", "rejected_address")
        );
        assert_eq!(Metric::OrderPlaced.dimension(), ("Outcome", "placed"));
    }

    #[test]
    fn each_name_keeps_one_dimension_name() {
        // An alarm or a dashboard names a metric by its name and dimensions: a name whose
        // values came under two dimension names would be two metrics in CloudWatch.
        for name in Metric::names() {
            let keys: BTreeSet<_> = Metric::all()
                .into_iter()
                .filter(|m| m.name() == name)
                .map(|m| m.dimension().0)
                .collect();
            assert_eq!(keys.len(), 1, "{name}");
        }
        let names = Metric::names();
        assert_eq!(
            names.len(),
            names.iter().collect::<BTreeSet<_>>().len(),
            "a name's metrics are listed together"
        );
    }

    #[test]
    fn within_a_function_an_outcome_names_one_metric() {
        // So that each EMF document (one a set of dimension values) carries one metric.
        let mut seen = BTreeSet::new();
        for m in Metric::all() {
            for f in m.emitted_by() {
                assert!(seen.insert((*f, m.dimension())), "{f}: {m:?}");
            }
        }
    }

    #[test]
    fn a_mail_the_sandbox_holds_is_counted_blocked_not_by_its_reason() {
        // Waiting, not parked: no `ParkedMails` value of its own, and the alarm on blocked
        // mail sees it.
        assert!(!PARK_REASONS.contains(&MailRefusal::RecipientNotVerified));
        assert!(!Metric::all().contains(&Metric::ParkedBecause(MailRefusal::RecipientNotVerified)));
        assert_eq!(Metric::MailBlocked.name(), "ActivationMails");
        assert_eq!(Metric::MailBlocked.dimension(), ("Outcome", "blocked"));
    }

    #[test]
    fn only_the_reasons_that_park_are_listed() {
        use crate::rules::outbox::{Kind, kind};
        for why in PARK_REASONS {
            assert!(matches!(kind(why), Kind::Permanent | Kind::Transient));
        }
    }
}
