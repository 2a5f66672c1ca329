//! The business entities. Their serde form is how the store keeps them (`vls-store`); what
//! the API answers of each is a view of its own (`vls-http`'s views.rs).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::holdings::Holdings;
use crate::types::{
    AccountId, AgreementId, CustomerNumber, DeliveryId, Email, EndpointId, EventId, Lines, MailId,
    OrderId, PartnerId, Program, ReplayId, ReservationId, ServiceRequestId, SkuCounts,
    SubscriptionId,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub email: Email,
    pub phone: String,
}

/// A Licensing Solutions Partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    pub id: PartnerId,
    pub name: String,
    pub contact: Contact,
    pub updated_at: DateTime<Utc>,
    /// Its webhook endpoints (at most [`crate::rules::endpoints::MOST_ENDPOINTS`]).
    #[serde(default)]
    pub webhook_endpoints: u32,
    /// Moves on with every change to the partner and its endpoints: it orders the partner's
    /// trail and its endpoints' list. A partner registered before it was kept reads as 0.
    #[serde(default)]
    pub version: u64,
}

/// What the next anniversary will bill (the preview): per SKU, and how many reservations.
/// The reservations themselves are the agreement's list (`?status=active`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    pub agreement_id: AgreementId,
    pub anniversary: chrono::NaiveDate,
    pub lines: Vec<crate::types::Line>,
    pub reservations: u64,
}

/// A partner's webhook endpoint (SPEC §6.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: EndpointId,
    pub partner_id: PartnerId,
    pub url: String,
    /// Event types, or `["*"]` for every type.
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub status: EndpointStatus,
    pub disabled_reason: Option<DisabledReason>,
    /// Its signing secrets, sealed: the current one first, then, while a rotation's overlap
    /// lasts (until `rotation_expires_at`), the one it replaced.
    pub secrets: Vec<String>,
    pub rotation_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Its partner's version when it was created: its place in the partner's list.
    pub sequence: u64,
    pub version: u64,
    /// Since when no attempt has succeeded (set by the first failure after a success, cleared
    /// by a success or by enabling it): five days of it disable the endpoint (`failing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// When its partner's contact was last mailed that a delivery was given up (at most
    /// once a day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mailed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointStatus {
    Enabled,
    Disabled,
}

/// Why an endpoint is disabled: its partner did it, the receiver answered 410 Gone, or no
/// delivery has succeeded for five days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    ByPartner,
    Gone,
    Failing,
}

/// One event's delivery to one endpoint, with its attempts (SPEC §6.5, §6.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub endpoint_id: EndpointId,
    pub partner_id: PartnerId,
    pub event_id: EventId,
    pub event_type: String,
    /// The event's sequence (none for a test event, which has none).
    pub sequence: Option<u64>,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    /// When it is tried next, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// A sender holds it until then; no other sends it meanwhile.
    #[serde(default)]
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub version: u64,
    /// The bytes sent, for an event that is not in the partner's feed (a test event); the
    /// others send the body their event was given when it was sequenced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// A replay in progress (SPEC §6.5): the partner's events after `after_sequence` up to
/// `through_sequence` (its mark when asked), of `types` (all when empty), delivered again to
/// one endpoint, a batch at a time; `after_sequence` moves on with each batch, and the replay
/// is gone when it reaches `through_sequence`. One at a time per endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    pub id: ReplayId,
    pub endpoint_id: EndpointId,
    pub partner_id: PartnerId,
    pub after_sequence: u64,
    pub through_sequence: u64,
    pub types: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
    Cancelled,
}

/// One request to the endpoint and how it ended: its status code, or why there was none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

impl Delivery {
    /// The first delivery of `event` (sequenced as `sequence`) to `endpoint`, due at once.
    pub fn of(
        event: (&EventId, &str, Option<u64>),
        endpoint: &WebhookEndpoint,
        now: DateTime<Utc>,
    ) -> Self {
        let (event_id, event_type, sequence) = event;
        Self {
            id: DeliveryId::of_event(event_id),
            endpoint_id: endpoint.id.clone(),
            partner_id: endpoint.partner_id.clone(),
            event_id: event_id.clone(),
            event_type: event_type.to_owned(),
            sequence,
            status: DeliveryStatus::Pending,
            attempts: Vec::new(),
            next_attempt_at: Some(now),
            lease_until: None,
            created_at: now,
            version: 1,
            body: None,
        }
    }
}

impl WebhookEndpoint {
    /// The sealed secrets a delivery at `at` is signed with (both during a rotation's
    /// overlap).
    pub fn live_secrets(&self, at: DateTime<Utc>) -> Vec<&str> {
        let overlap = self.rotation_expires_at.is_some_and(|until| at < until);
        self.secrets
            .iter()
            .take(if overlap { 2 } else { 1 })
            .map(String::as_str)
            .collect()
    }

    /// Whether events of type `kind` go to it.
    pub fn wants(&self, kind: &str) -> bool {
        self.enabled_events.iter().any(|e| e == "*" || e == kind)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnlineServicesProduct {
    Office365,
    Intune,
}

/// Microsoft Online Services licences an account holds (R7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineServicesLicense {
    pub product: OnlineServicesProduct,
    pub quantity: crate::types::Quantity,
}

/// An online-service tenant. It keeps its volume licences per SKU and a version that every
/// change to them moves on, so a guard over them (R11) is one condition; its pool's sources
/// are items beside it in its partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub domain: String,
    pub online_services: Vec<OnlineServicesLicense>,
    /// R11: per SKU, how many of the account's volume licences stand in for direct licences
    /// of cancelled subscriptions. No SKU is kept at zero, so "nothing relies on this SKU"
    /// is the attribute's absence (a condition a transaction can check without a read).
    #[serde(default, skip_serializing_if = "SkuCounts::is_empty")]
    pub relied_on: SkuCounts,
    /// Its volume licences per SKU: what its associated agreements give its pool, kept
    /// current with each of their changes (each agreement's share is a pool source item, see
    /// [`crate::sources::Source`]), so R11 reads the account alone.
    #[serde(default, skip_serializing_if = "SkuCounts::is_empty")]
    pub volume: SkuCounts,
    /// Its direct licences per SKU: its active direct subscriptions' lines, kept current as
    /// they are bought and cancelled, so the pool's totals are this item alone.
    #[serde(default, skip_serializing_if = "SkuCounts::is_empty")]
    pub direct: SkuCounts,
    pub created_at: DateTime<Utc>,
    pub version: u64,
}

impl Account {
    pub fn holds_online_services(&self) -> bool {
        !self.online_services.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Billing {
    CreditCard,
    Invoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    Cancelled,
}

/// A direct-purchase subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub account_id: AccountId,
    pub billing: Billing,
    pub lines: Lines,
    pub status: SubscriptionStatus,
    pub created_at: DateTime<Utc>,
    pub version: u64,
    /// Its place among the account's subscriptions and pool sources: the account's version
    /// when it was bought (in the same transaction), so both lists follow commit order.
    #[serde(default)]
    pub sequence: u64,
    /// The orders that named it in `replaces_subscription_id`, recorded as each is placed:
    /// their partners hear of its cancellation (SPEC §6.2 `subscription.cancelled`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub named_by: Vec<NamedBy>,
    /// Its service request still open or in progress (R18: one at a time); set and cleared
    /// under the subscription's version, so concurrent submits open one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_request: Option<ServiceRequestId>,
    /// Once it is cancelled (R11): when, by which role, and what of it volume licences now
    /// stand in for. Kept for the customer's pages; the JSON view shows the status alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<SubscriptionCancellation>,
}

/// How a direct subscription was cancelled (R11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionCancellation {
    pub at: DateTime<Utc>,
    pub by_role: String,
    /// Per SKU, the volume licences that now stand in for it (`relied_on`).
    pub relied_on: crate::types::SkuCounts,
}

/// Who did something (R17): a trail's entries and a service request's opening name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    pub role: String,
}

/// Where a service request stands (R18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceRequestStatus {
    Open,
    /// Acknowledged by Billing Support.
    InProgress,
    /// Its subscription was cancelled (R11), by anyone.
    Resolved,
    /// Billing Support declined it, with a note the customer sees.
    Declined,
    /// Its customer withdrew it.
    Withdrawn,
}

impl ServiceRequestStatus {
    /// A closed request never changes again.
    pub fn is_closed(self) -> bool {
        !matches!(self, Self::Open | Self::InProgress)
    }
}

/// One step of a service request's life: when, by whom (their role), to what status, and
/// the note given with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRequestStep {
    pub at: DateTime<Utc>,
    pub role: String,
    pub status: ServiceRequestStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ServiceRequest {
    /// The request moved to `status` by someone in `role` at `at`, with `note`: the step on
    /// its timeline, its version on.
    pub fn stepped(
        &self,
        (status, note): (ServiceRequestStatus, Option<String>),
        role: &str,
        at: DateTime<Utc>,
    ) -> Self {
        let mut after = self.clone();
        after.status = status;
        after.timeline.push(ServiceRequestStep {
            at,
            role: role.to_owned(),
            status,
            note,
        });
        after.version = self.version + 1;
        after
    }
}

/// R18: a customer's administrator asks Billing Support to cancel a direct subscription of
/// their account that R11 refuses. It lives in the account's partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRequest {
    pub id: ServiceRequestId,
    pub account_id: AccountId,
    pub subscription_id: SubscriptionId,
    pub status: ServiceRequestStatus,
    pub message: Option<String>,
    /// The administrator's consent that Billing Support may cancel it although the account
    /// loses `shortfalls`.
    pub accept_license_loss: bool,
    /// R11's refusal when it was opened, line by line.
    pub shortfalls: Vec<crate::error::CoverageShortfall>,
    pub opened_by: Actor,
    pub opened_at: DateTime<Utc>,
    /// Its steps, the opening first.
    pub timeline: Vec<ServiceRequestStep>,
    pub version: u64,
    /// Its place among the account's requests: the account's version it was opened at.
    pub sequence: u64,
}

/// An order that named a subscription it replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedBy {
    pub partner_id: PartnerId,
    pub agreement_id: AgreementId,
    pub order_id: OrderId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub number: CustomerNumber,
    pub legal_name: String,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Osm {
    pub name: String,
    pub email: Email,
}

/// A volume licensing agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    pub id: AgreementId,
    pub program: Program,
    pub customer: Customer,
    pub osm: Osm,
    pub partner_id: PartnerId,
    pub start_date: NaiveDate,
    /// R2: the month-day its anniversaries fall on (29 February stays a leap day).
    pub schedule: crate::types::MonthDay,
    /// R2: the next anniversary (the true-up date).
    pub anniversary: NaiveDate,
    /// R14: the last anniversary billed; active reservations made before it are billed.
    #[serde(default)]
    pub billed_through: Option<NaiveDate>,
    /// The account it is associated with (R6, R7), if any.
    pub account_id: Option<AccountId>,
    pub bound_to_online_services: bool,
    pub volume_discount_eligible: bool,
    /// Seat licences on its `source: "order"` orders, placed or invoiced (R3).
    pub ordered_seats: u64,
    /// Bumped on every OSM change: activation links of an earlier generation stop working
    /// (R8, R10).
    pub osm_generation: u64,
    /// Bumped whenever a link is issued or a resend is asked for: only a link carrying the
    /// current number works (R8).
    #[serde(default)]
    pub link_seq: u64,
    /// Set when the activation mail could not be delivered after every retry; cleared when a
    /// link is next issued.
    #[serde(default)]
    pub activation_email_failed: Option<MailFailure>,
    pub created_at: DateTime<Utc>,
    /// What it holds, per SKU, kept current in the same transaction as every change.
    #[serde(default)]
    pub holdings: Holdings,
    /// Its place among its account's pool sources: the account's version when it was
    /// associated with it (R6, R7, R15; in the same transaction), 0 while it is not.
    #[serde(default)]
    pub joined_pool_at: u64,
    pub version: u64,
}

/// An activation mail that was given up on (R5: parked as failed, shown on the agreement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailFailure {
    pub mail_id: MailId,
    pub at: DateTime<Utc>,
    pub attempts: u32,
    /// A stable code (`rejected_address`, `rejected_message`, `sending_paused`, …), never
    /// SES's own text.
    #[serde(default)]
    pub reason: MailRefusal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderSource {
    Order,
    TrueUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Invoiced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationEmail {
    Queued,
    NotNeeded,
}

/// A purchase order (or a true-up order) on an agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub agreement_id: AgreementId,
    pub partner_id: PartnerId,
    pub source: OrderSource,
    pub status: OrderStatus,
    pub lines: Lines,
    pub replaces_subscription_id: Option<SubscriptionId>,
    /// The agreement's R3 eligibility once this order was placed.
    pub volume_discount_eligible: bool,
    pub placed_at: DateTime<Utc>,
    pub invoiced_at: Option<DateTime<Utc>>,
    pub activation_email: Option<ActivationEmail>,
    pub version: u64,
    /// Its place in the agreement's orders: the agreement's version when it was created
    /// (in the same transaction), so the list follows commit order.
    #[serde(default)]
    pub sequence: u64,
}

/// The start of a date, UTC: reservations made before it are billed at it.
pub fn start_of(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

impl Reservation {
    /// Its status as the API shows it: stored `active` becomes `billed` once the anniversary
    /// after it has been billed.
    pub fn status_on(&self, agreement: &Agreement) -> ReservationStatus {
        match (self.status, agreement.billed_through) {
            (ReservationStatus::Active, Some(through)) if self.created_at < start_of(through) => {
                ReservationStatus::Billed
            }
            (s, _) => s,
        }
    }
}

impl Order {
    /// An invoiced purchase order: its licences are the agreement's volume licences, attached
    /// to the agreement's account (a true-up order bills reservations, which count already).
    pub fn is_invoiced_purchase(&self) -> bool {
        self.source == OrderSource::Order && self.status == OrderStatus::Invoiced
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    Active,
    Cancelled,
    Billed,
}

/// A License Reservation: licences added at once, billed at the next anniversary (R13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: ReservationId,
    pub agreement_id: AgreementId,
    pub lines: Lines,
    pub status: ReservationStatus,
    pub billable_at: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub version: u64,
    /// Its place in the agreement's reservations (the agreement's version when it was made).
    #[serde(default)]
    pub sequence: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    Activation,
    /// To a partner's contact: a delivery to one of its endpoints was given up (SPEC §6.7).
    WebhookFailed,
}

/// Why a mail was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailReason {
    Invoiced,
    Resend,
    /// A webhook delivery was given up (a `WebhookFailed` mail).
    DeliveryFailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailStatus {
    Pending,
    Sent,
    Failed,
    /// Nothing left to activate by the time it was due (the agreement was associated).
    Skipped,
}

/// An outbox entry: a mail to send, stored in the same transaction as the change that
/// calls for it (R5), so it survives any failure of SES or of the function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailIntent {
    pub id: MailId,
    pub kind: MailKind,
    #[serde(default = "default_reason")]
    pub reason: MailReason,
    pub agreement_id: AgreementId,
    pub order_id: Option<OrderId>,
    pub status: MailStatus,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// Not before this time (backoff after a failure).
    #[serde(default)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// A sender holds the intent until then; nobody else may send it meanwhile.
    #[serde(default)]
    pub lease_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ses_message_id: Option<String>,
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
    /// The reason code of the last refusal.
    #[serde(default)]
    pub last_error: Option<MailRefusal>,
    pub version: u64,
    /// What a `WebhookFailed` mail tells (its `agreement_id` is the event's agreement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookFailure>,
}

/// A delivery given up, as the mail to the partner's contact tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookFailure {
    pub partner_id: PartnerId,
    pub endpoint_id: EndpointId,
    pub url: String,
    pub event_id: EventId,
    pub event_type: String,
    pub attempts: u32,
    /// How the last attempt ended: its status code, or why there was none.
    pub last: String,
}

fn default_reason() -> MailReason {
    MailReason::Invoiced
}

impl MailIntent {
    /// A new activation mail to send as soon as possible.
    pub fn activation(
        agreement_id: AgreementId,
        order_id: Option<OrderId>,
        reason: MailReason,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: MailId::generate(),
            kind: MailKind::Activation,
            reason,
            agreement_id,
            order_id,
            status: MailStatus::Pending,
            attempts: 0,
            created_at: now,
            next_attempt_at: None,
            lease_until: None,
            ses_message_id: None,
            sent_at: None,
            last_error: None,
            version: 1,
            webhook: None,
        }
    }

    /// A mail to the partner's contact: `failure` (of an event about `agreement_id`).
    pub fn webhook_failed(
        agreement_id: AgreementId,
        failure: WebhookFailure,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            kind: MailKind::WebhookFailed,
            reason: MailReason::DeliveryFailed,
            webhook: Some(failure),
            ..Self::activation(agreement_id, None, MailReason::DeliveryFailed, now)
        }
    }
}

/// Why SES did not take a mail, as a stable code that partners and administrators may see;
/// SES's own wording goes to the logs only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailRefusal {
    /// The recipient address was refused (suppressed, invalid).
    RejectedAddress,
    /// The message itself was refused.
    RejectedMessage,
    /// The sender identity (or its MAIL FROM domain) is not verified.
    SenderNotVerified,
    /// The account is still in the SES sandbox, which sends only to verified recipients: the
    /// address is not at fault, and the mail goes once the account has production access.
    RecipientNotVerified,
    /// Sending is paused for the account or its configuration set.
    SendingPaused,
    AccountSuspended,
    /// The maximum send rate was exceeded.
    Throttled,
    /// The daily sending quota is spent.
    QuotaExceeded,
    /// SES could not be reached, or answered something else.
    #[default]
    Unavailable,
}

impl MailRefusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::RejectedAddress => "rejected_address",
            Self::RejectedMessage => "rejected_message",
            Self::SenderNotVerified => "sender_not_verified",
            Self::RecipientNotVerified => "recipient_not_verified",
            Self::SendingPaused => "sending_paused",
            Self::AccountSuspended => "account_suspended",
            Self::Throttled => "throttled",
            Self::QuotaExceeded => "quota_exceeded",
            Self::Unavailable => "unavailable",
        }
    }
}

/// A stored activation link (keyed by the token's hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationLink {
    pub agreement_id: AgreementId,
    pub link_seq: u64,
    pub osm_generation: u64,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Absent until spent, so "not yet used" is a plain `attribute_not_exists` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_for: Option<AccountId>,
}

/// R9's mismatch counter: mismatches since `window_start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatches {
    pub window_start: DateTime<Utc>,
    pub count: u32,
}
