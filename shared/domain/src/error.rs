//! Every refusal the domain can make, each with one stable `code`; the HTTP status each one
//! answers with is the HTTP layer's (`vls-http`'s problem table).

use serde::Serialize;

use crate::catalog::Sku;

/// A request field that did not parse: 422 with the field's path and a code naming the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub detail: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            detail: detail.into(),
        }
    }
}

/// R4: a line of the replaced subscription that the order does not cover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntitlementShortfall {
    pub sku: Sku,
    pub required: u64,
    pub ordered: u64,
}

/// R11: a line of the subscription the account's available volume licences do not cover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CoverageShortfall {
    pub sku: Sku,
    /// The subscription's quantity.
    pub direct: u64,
    /// The account's volume licences.
    pub volume: u64,
    /// What earlier cancellations already rely on.
    pub relied_on: u64,
    /// `volume - relied_on`: negative when cover has left since.
    pub available: i64,
}

/// R11: a SKU whose volume would fall below what cancelled subscriptions rely on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReliedOnShortfall {
    pub sku: Sku,
    /// What the change takes out of the account's volume.
    pub removed: u64,
    /// The account's volume licences after the change.
    pub volume: u64,
    pub relied_on: u64,
    /// `volume - relied_on` after the change (negative).
    pub available: i64,
}

/// Why a link no longer works (410), or that it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Usable,
    Used,
    /// The OSM changed after it was sent.
    OsmChanged,
    /// A newer link was sent (or a resend asked for).
    Replaced,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("{}: {}", .0.field, .0.detail)]
    Field(FieldError),
    #[error("the order does not cover every line of the subscription it replaces")]
    OrderBelowCurrentEntitlement {
        shortfalls: Vec<EntitlementShortfall>,
    },
    #[error("{domain} is a public mail domain; an Online Services Manager needs a company address")]
    OsmPublicMailDomain { domain: String },
    #[error("this partner is not registered")]
    UnknownPartner,
    #[error("no such subscription on the agreement's account")]
    UnknownSubscription,
    #[error("no such account")]
    UnknownOnlineServicesAccount,
    #[error("the account holds no Microsoft Online Services licences (Office 365 or Intune)")]
    NoOnlineServices,
    #[error("the order is already invoiced")]
    OrderAlreadyInvoiced,
    #[error("the agreement is bound to its Online Services account")]
    AgreementBoundToOnlineServices,
    #[error("this activation link no longer works ({state:?})")]
    LinkGone { state: LinkState },
    #[error("the agreement is already associated; there is nothing to activate")]
    NothingToActivate,
    #[error("the company information does not match the agreement")]
    CompanyMismatch,
    #[error("too many wrong answers; try again after {until}")]
    TooManyAttempts {
        until: chrono::DateTime<chrono::Utc>,
    },
    #[error("reservations are only for EA and EAS agreements")]
    ProgramNotEligible,
    #[error("reservations close 30 days before the anniversary ({anniversary})")]
    ReservationWindowClosed { anniversary: chrono::NaiveDate },
    #[error("a reservation can only be cancelled within 72 hours of being made")]
    CancellationWindowPassed,
    #[error("the reservation is {status}")]
    ReservationNotActive { status: &'static str },
    #[error("the agreement is not associated with any account yet")]
    AgreementNotAssociated,
    #[error("the agreement is already associated with that account")]
    SameAccount,
    #[error("no such target account")]
    UnknownTargetAccount,
    #[error("the agreement is not bound to an Online Services account")]
    NotBoundToOnlineServices,
    #[error("only billing support may accept a loss of licences")]
    OverrideNotAllowed,
    #[error("the subscription is already cancelled")]
    SubscriptionAlreadyCancelled,
    #[error("the account's volume licences do not cover every line of the subscription")]
    CancellationWouldLoseLicenses { shortfalls: Vec<CoverageShortfall> },
    #[error("the total of {sku} is beyond what an order line can hold")]
    TotalOutOfRange { sku: Sku },
    #[error("cancelled direct subscriptions rely on these licences")]
    WouldLoseReliedOnLicenses { shortfalls: Vec<ReliedOnShortfall> },
    #[error("a partner has at most 10 webhook endpoints")]
    WebhookEndpointLimit,
    #[error("too many requests of this kind; try again in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error("a replay of this endpoint is still in progress; one at a time")]
    ReplayInProgress,
    #[error("the account's volume licences cover the subscription: cancel it yourself")]
    CancellationAvailable,
    #[error("a service request for this subscription is already open")]
    ServiceRequestExists,
    #[error("the service request is closed")]
    ServiceRequestClosed,
}

impl From<FieldError> for RuleError {
    fn from(e: FieldError) -> Self {
        Self::Field(e)
    }
}

impl RuleError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Field(f) => f.code,
            Self::OrderBelowCurrentEntitlement { .. } => "order_below_current_entitlement",
            Self::OsmPublicMailDomain { .. } => "osm_public_mail_domain",
            Self::UnknownPartner => "unknown_partner",
            Self::UnknownSubscription => "unknown_subscription",
            Self::UnknownOnlineServicesAccount => "unknown_account",
            Self::NoOnlineServices => "no_online_services",
            Self::OrderAlreadyInvoiced => "order_already_invoiced",
            Self::AgreementBoundToOnlineServices => "agreement_bound_to_online_services",
            Self::LinkGone { state } => match state {
                LinkState::Used => "link_used",
                LinkState::Expired => "link_expired",
                LinkState::OsmChanged => "link_osm_changed",
                LinkState::Replaced | LinkState::Usable => "link_replaced",
            },
            Self::NothingToActivate => "nothing_to_activate",
            Self::CompanyMismatch => "company_mismatch",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::ProgramNotEligible => "program_not_eligible",
            Self::ReservationWindowClosed { .. } => "reservation_window_closed",
            Self::CancellationWindowPassed => "cancellation_window_passed",
            Self::ReservationNotActive { .. } => "reservation_not_active",
            Self::AgreementNotAssociated => "agreement_not_associated",
            Self::SameAccount => "same_account",
            Self::UnknownTargetAccount => "not_found",
            Self::NotBoundToOnlineServices => "not_bound_to_online_services",
            Self::OverrideNotAllowed => "forbidden",
            Self::SubscriptionAlreadyCancelled => "subscription_already_cancelled",
            Self::CancellationWouldLoseLicenses { .. } => "cancellation_would_lose_licenses",
            Self::WouldLoseReliedOnLicenses { .. } => "would_lose_relied_on_licenses",
            Self::TotalOutOfRange { .. } => "total_out_of_range",
            Self::WebhookEndpointLimit => "webhook_endpoint_limit",
            Self::RateLimited { .. } => "rate_limited",
            Self::ReplayInProgress => "replay_in_progress",
            Self::CancellationAvailable => "cancellation_available",
            Self::ServiceRequestExists => "service_request_exists",
            Self::ServiceRequestClosed => "service_request_closed",
        }
    }
}
