//! The API's representations, one per resource, separate from the entities (whose serde form
//! is how the store keeps them): what a caller sees is written here field by field, so that
//! what is kept for storage alone (an agreement's link bookkeeping, its holdings) never reaches
//! a reply, what a reply derives (a reservation's status) or adds (the account an order's
//! licences are attached to) is a field, not a patch, and a change to storage cannot change
//! the contract unseen. Every reply body of the JSON routes is one of these.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::access;
use crate::audit::AmendmentKind;
use crate::catalog::Sku;
use crate::error::CoverageShortfall;
use crate::model::{
    Account, ActivationEmail, Agreement, Attempt, Billing, Contact, Customer, Delivery,
    DeliveryStatus, DisabledReason, EndpointStatus, MailFailure, MailIntent, MailRefusal,
    MailStatus, OnlineServicesLicense, Order, OrderSource, OrderStatus, Osm, Partner, Preview,
    Reservation, ReservationStatus, ServiceRequest, ServiceRequestStatus, ServiceRequestStep,
    Subscription, SubscriptionStatus, WebhookEndpoint,
};
use crate::rules::cancellation::Coverage;
use crate::rules::pool::{SourceKind, SourceLine, Totals};
use crate::trail::{Actor, Event};
use crate::types::{
    AccountId, AgreementId, AmendmentId, DeliveryId, EndpointId, EventId, Line, Lines, MailId,
    MonthDay, OrderId, PartnerId, Program, ReservationId, ServiceRequestId, SubscriptionId,
};

/// An agreement as the API shows it (SPEC §4): without `osm_generation` and `link_seq`,
/// which only decide whether an activation link still works.
#[derive(Debug, Serialize)]
pub struct AgreementView<'a> {
    pub id: &'a AgreementId,
    pub program: Program,
    pub customer: &'a Customer,
    pub osm: &'a Osm,
    pub partner_id: &'a PartnerId,
    pub start_date: NaiveDate,
    pub schedule: MonthDay,
    pub anniversary: NaiveDate,
    pub billed_through: Option<NaiveDate>,
    pub account_id: Option<&'a AccountId>,
    pub bound_to_online_services: bool,
    pub volume_discount_eligible: bool,
    pub ordered_seats: u64,
    pub activation_email_failed: Option<&'a MailFailure>,
    pub created_at: DateTime<Utc>,
    pub version: u64,
}

impl<'a> From<&'a Agreement> for AgreementView<'a> {
    fn from(a: &'a Agreement) -> Self {
        Self {
            id: &a.id,
            program: a.program,
            customer: &a.customer,
            osm: &a.osm,
            partner_id: &a.partner_id,
            start_date: a.start_date,
            schedule: a.schedule,
            anniversary: a.anniversary,
            billed_through: a.billed_through,
            account_id: a.account_id.as_ref(),
            bound_to_online_services: a.bound_to_online_services,
            volume_discount_eligible: a.volume_discount_eligible,
            ordered_seats: a.ordered_seats,
            activation_email_failed: a.activation_email_failed.as_ref(),
            created_at: a.created_at,
            version: a.version,
        }
    }
}

/// A licensing solution partner.
#[derive(Debug, Serialize)]
pub struct PartnerView<'a> {
    pub id: &'a PartnerId,
    pub name: &'a str,
    pub contact: &'a Contact,
    pub updated_at: DateTime<Utc>,
}

impl<'a> From<&'a Partner> for PartnerView<'a> {
    fn from(p: &'a Partner) -> Self {
        Self {
            id: &p.id,
            name: &p.name,
            contact: &p.contact,
            updated_at: p.updated_at,
        }
    }
}

/// An online-service account (its licences are the pool's, `GET …/licenses`).
#[derive(Debug, Serialize)]
pub struct AccountView<'a> {
    pub id: &'a AccountId,
    pub name: &'a str,
    pub domain: &'a str,
    pub online_services: &'a [OnlineServicesLicense],
    pub created_at: DateTime<Utc>,
    pub version: u64,
}

impl<'a> From<&'a Account> for AccountView<'a> {
    fn from(a: &'a Account) -> Self {
        Self {
            id: &a.id,
            name: &a.name,
            domain: &a.domain,
            online_services: &a.online_services,
            created_at: a.created_at,
            version: a.version,
        }
    }
}

/// A direct-purchase subscription.
#[derive(Debug, Serialize)]
pub struct SubscriptionView<'a> {
    pub id: &'a SubscriptionId,
    pub account_id: &'a AccountId,
    pub billing: Billing,
    pub lines: &'a Lines,
    pub status: SubscriptionStatus,
    pub created_at: DateTime<Utc>,
    pub version: u64,
}

impl<'a> From<&'a Subscription> for SubscriptionView<'a> {
    fn from(s: &'a Subscription) -> Self {
        Self {
            id: &s.id,
            account_id: &s.account_id,
            billing: s.billing,
            lines: &s.lines,
            status: s.status,
            created_at: s.created_at,
            version: s.version,
        }
    }
}

/// An order, with the account its licences are attached to now (its agreement's, once
/// invoiced).
#[derive(Debug, Serialize)]
pub struct OrderView<'a> {
    pub id: &'a OrderId,
    pub agreement_id: &'a AgreementId,
    pub partner_id: &'a PartnerId,
    pub source: OrderSource,
    pub status: OrderStatus,
    pub lines: &'a Lines,
    pub replaces_subscription_id: Option<&'a SubscriptionId>,
    pub volume_discount_eligible: bool,
    pub placed_at: DateTime<Utc>,
    pub invoiced_at: Option<DateTime<Utc>>,
    pub activation_email: Option<ActivationEmail>,
    pub version: u64,
    pub attached_account_id: Option<&'a AccountId>,
}

impl<'a> OrderView<'a> {
    pub fn new(o: &'a Order, agreement: &'a Agreement) -> Self {
        Self {
            id: &o.id,
            agreement_id: &o.agreement_id,
            partner_id: &o.partner_id,
            source: o.source,
            status: o.status,
            lines: &o.lines,
            replaces_subscription_id: o.replaces_subscription_id.as_ref(),
            volume_discount_eligible: o.volume_discount_eligible,
            placed_at: o.placed_at,
            invoiced_at: o.invoiced_at,
            activation_email: o.activation_email,
            version: o.version,
            attached_account_id: access::attached_account(o, agreement),
        }
    }
}

/// A licence reservation, with its status as of its agreement (`billed` once the anniversary
/// after it has been billed).
#[derive(Debug, Serialize)]
pub struct ReservationView<'a> {
    pub id: &'a ReservationId,
    pub agreement_id: &'a AgreementId,
    pub lines: &'a Lines,
    pub status: ReservationStatus,
    pub billable_at: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub version: u64,
}

impl<'a> ReservationView<'a> {
    pub fn new(r: &'a Reservation, agreement: &Agreement) -> Self {
        Self {
            id: &r.id,
            agreement_id: &r.agreement_id,
            lines: &r.lines,
            status: r.status_on(agreement),
            billable_at: r.billable_at,
            created_at: r.created_at,
            version: r.version,
        }
    }
}

/// An activation mail sent or given up, as its agreement's partner hears of it (SPEC §6.2):
/// to whom (masked, as R9), how it stands, why it failed, after how many attempts.
#[derive(Debug, Serialize)]
pub struct ActivationEmailView<'a> {
    pub agreement_id: &'a AgreementId,
    pub mail_id: &'a MailId,
    pub sent_to: &'a str,
    pub status: MailStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<MailRefusal>,
    pub attempts: u32,
}

impl<'a> ActivationEmailView<'a> {
    pub fn new(mail: &'a MailIntent, sent_to: &'a str) -> Self {
        Self {
            agreement_id: &mail.agreement_id,
            mail_id: &mail.id,
            sent_to,
            status: mail.status,
            reason: mail
                .last_error
                .filter(|_| mail.status == MailStatus::Failed),
            attempts: mail.attempts,
        }
    }
}

/// A webhook endpoint as its partner sees it: never its secrets.
#[derive(Debug, Serialize)]
pub struct EndpointView<'a> {
    pub id: &'a EndpointId,
    pub url: &'a str,
    pub enabled_events: &'a [String],
    pub description: Option<&'a str>,
    pub status: EndpointStatus,
    pub disabled_reason: Option<DisabledReason>,
    pub rotation_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub version: u64,
}

impl<'a> From<&'a WebhookEndpoint> for EndpointView<'a> {
    fn from(e: &'a WebhookEndpoint) -> Self {
        Self {
            id: &e.id,
            url: &e.url,
            enabled_events: &e.enabled_events,
            description: e.description.as_deref(),
            status: e.status,
            disabled_reason: e.disabled_reason,
            rotation_expires_at: e.rotation_expires_at,
            created_at: e.created_at,
            version: e.version,
        }
    }
}

/// An endpoint with the signing secret just made: answered by its creation and by a rotation
/// only.
#[derive(Debug, Serialize)]
pub struct EndpointWithSecret<'a> {
    #[serde(flatten)]
    pub endpoint: EndpointView<'a>,
    pub secret: &'a str,
}

/// A delivery as its endpoint's partner sees it: the event it carries, how it stands, each
/// attempt.
#[derive(Debug, Serialize)]
pub struct DeliveryView<'a> {
    pub id: &'a DeliveryId,
    pub event_id: &'a EventId,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub sequence: Option<u64>,
    pub status: DeliveryStatus,
    pub attempts: &'a [Attempt],
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a Delivery> for DeliveryView<'a> {
    fn from(d: &'a Delivery) -> Self {
        Self {
            id: &d.id,
            event_id: &d.event_id,
            kind: &d.event_type,
            sequence: d.sequence,
            status: d.status,
            attempts: &d.attempts,
            next_attempt_at: d.next_attempt_at,
        }
    }
}

/// A service request as its account's administrator and Billing Support see it (R18).
#[derive(Debug, Serialize)]
pub struct ServiceRequestView<'a> {
    pub id: &'a ServiceRequestId,
    pub account_id: &'a AccountId,
    pub subscription_id: &'a SubscriptionId,
    pub status: ServiceRequestStatus,
    pub message: Option<&'a str>,
    pub accept_license_loss: bool,
    /// R11's refusal when it was opened.
    pub shortfalls: &'a [CoverageShortfall],
    pub opened_at: DateTime<Utc>,
    pub opened_by: &'a Actor,
    pub timeline: &'a [ServiceRequestStep],
    pub version: u64,
}

impl<'a> From<&'a ServiceRequest> for ServiceRequestView<'a> {
    fn from(r: &'a ServiceRequest) -> Self {
        Self {
            id: &r.id,
            account_id: &r.account_id,
            subscription_id: &r.subscription_id,
            status: r.status,
            message: r.message.as_deref(),
            accept_license_loss: r.accept_license_loss,
            shortfalls: &r.shortfalls,
            opened_at: r.opened_at,
            opened_by: &r.opened_by,
            timeline: &r.timeline,
            version: r.version,
        }
    }
}

/// One entry of an agreement's or an account's trail (R17).
#[derive(Debug, Serialize)]
pub struct EventView<'a> {
    pub at: DateTime<Utc>,
    pub action: &'a str,
    pub actor: &'a Actor,
    pub request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement_id: Option<&'a AgreementId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<&'a AccountId>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: &'a serde_json::Value,
}

impl<'a> From<&'a Event> for EventView<'a> {
    fn from(e: &'a Event) -> Self {
        Self {
            at: e.at,
            action: &e.action,
            actor: &e.actor,
            request_id: &e.request_id,
            reason: e.reason.as_deref(),
            agreement_id: e.agreement_id.as_ref(),
            account_id: e.account_id.as_ref(),
            details: &e.details,
        }
    }
}

/// Who to ask about an agreement's invoices (R16): the partner on it.
#[derive(Debug, Serialize)]
pub struct InvoiceSupportView<'a> {
    pub agreement_id: &'a AgreementId,
    pub partner_id: &'a PartnerId,
    pub name: &'a str,
    pub contact: &'a Contact,
}

/// The pool's totals (SPEC §4): per SKU, what the account may use and what it is made of.
#[derive(Debug, Serialize)]
pub struct PoolView<'a> {
    pub account_id: &'a AccountId,
    pub skus: Vec<SkuTotalView>,
    pub version: u64,
}

/// One SKU of the pool.
#[derive(Debug, Serialize)]
pub struct SkuTotalView {
    pub sku: Sku,
    pub total: u64,
    pub direct: u64,
    pub volume: u64,
    pub relied_on: u64,
}

impl<'a> From<&'a Totals> for PoolView<'a> {
    fn from(t: &'a Totals) -> Self {
        Self {
            account_id: &t.account_id,
            skus: t
                .skus
                .iter()
                .map(|s| SkuTotalView {
                    sku: s.sku,
                    total: s.total,
                    direct: s.direct,
                    volume: s.volume,
                    relied_on: s.relied_on,
                })
                .collect(),
            version: t.version,
        }
    }
}

/// One line of the pool's sources list: what one source gives of one SKU.
#[derive(Debug, Serialize)]
pub struct SourceLineView<'a> {
    pub sku: Sku,
    pub kind: SourceKind,
    pub id: &'a str,
    pub quantity: u64,
}

impl<'a> From<&'a SourceLine> for SourceLineView<'a> {
    fn from(l: &'a SourceLine) -> Self {
        Self {
            sku: l.sku,
            kind: l.kind,
            id: &l.id,
            quantity: l.quantity,
        }
    }
}

/// What the next True-Up will bill, and the last anniversary billed.
#[derive(Debug, Serialize)]
pub struct PreviewView<'a> {
    pub agreement_id: &'a AgreementId,
    pub anniversary: NaiveDate,
    pub lines: &'a [Line],
    pub reservations: u64,
    pub last_billed_anniversary: Option<NaiveDate>,
}

impl<'a> PreviewView<'a> {
    pub fn new(preview: &'a Preview, agreement: &Agreement) -> Self {
        Self {
            agreement_id: &preview.agreement_id,
            anniversary: preview.anniversary,
            lines: &preview.lines,
            reservations: preview.reservations,
            last_billed_anniversary: agreement.billed_through,
        }
    }
}

/// R11's check of a cancellation, per SKU, before it is asked for.
#[derive(Debug, Serialize)]
pub struct CancellationPreviewView<'a> {
    pub subscription_id: &'a SubscriptionId,
    pub status: SubscriptionStatus,
    pub coverage: &'a [Coverage],
    pub would_pass: bool,
}

impl<'a> CancellationPreviewView<'a> {
    pub fn new(sub: &'a Subscription, coverage: &'a [Coverage]) -> Self {
        Self {
            subscription_id: &sub.id,
            status: sub.status,
            coverage,
            would_pass: coverage.iter().all(|c| c.covered),
        }
    }
}

/// A subscription cancelled.
#[derive(Debug, Serialize)]
pub struct CancellationView<'a> {
    pub subscription_id: &'a SubscriptionId,
    pub status: SubscriptionStatus,
    pub account_id: &'a AccountId,
}

/// An agreement moved from one account to another.
#[derive(Debug, Serialize)]
pub struct RemapView<'a> {
    pub agreement_id: &'a AgreementId,
    pub from_account_id: &'a AccountId,
    pub to_account_id: &'a AccountId,
}

/// A resend of the activation mail accepted: to whom it goes, masked.
#[derive(Debug, Serialize)]
pub struct ResendView<'a> {
    pub sent_to: &'a str,
}

/// An amendment made to an agreement.
#[derive(Debug, Serialize)]
pub struct AmendmentView<'a> {
    pub id: &'a AmendmentId,
    pub agreement_id: &'a AgreementId,
    pub kind: AmendmentKind,
    pub reason: &'a str,
    pub account_id: Option<&'a AccountId>,
    pub created_at: DateTime<Utc>,
}

impl<'a> AmendmentView<'a> {
    /// R7's `separate_online_services` amendment `id` of `a`, made at `at`.
    pub fn separation(
        id: &'a AmendmentId,
        a: &'a Agreement,
        reason: &'a str,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            agreement_id: &a.id,
            kind: AmendmentKind::SeparateOnlineServices,
            reason,
            account_id: a.account_id.as_ref(),
            created_at: at,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each view answers what the entity it shows held, field for field, less what is kept for
    //! storage alone and plus what the view derives.
    use super::*;
    use serde_json::{Value, json};

    fn entity<T: serde::de::DeserializeOwned>(doc: Value) -> T {
        serde_json::from_value(doc).expect("a stored entity")
    }

    fn shown(view: impl Serialize) -> Value {
        serde_json::to_value(view).expect("a view serialises")
    }

    const AT: &str = "2027-03-15T10:00:00Z";

    fn agreement(account: Option<&AccountId>, billed_through: Option<&str>) -> Agreement {
        entity(json!({
            "id": AgreementId::generate(), "program": "EA",
            "customer": {"number": "CN-1", "legal_name": "Contoso", "country": "US"},
            "osm": {"name": "Olivia", "email": "olivia@contoso.com"},
            "partner_id": "ptn-1", "start_date": "2026-03-15",
            "schedule": {"month": 3, "day": 15}, "anniversary": "2028-03-15",
            "billed_through": billed_through, "account_id": account,
            "bound_to_online_services": false, "volume_discount_eligible": true,
            "ordered_seats": 5, "osm_generation": 1, "link_seq": 2, "created_at": AT,
            "version": 7,
        }))
    }

    #[test]
    fn partners_accounts_subscriptions_and_events_answer_what_they_hold() {
        let account = AccountId::generate();
        let lines = json!([{"sku": "d365-sales-professional", "quantity": 3}]);
        let docs = [
            json!({"id": "ptn-1", "name": "Fabrikam",
                   "contact": {"name": "Pat", "email": "pat@fabrikam.com", "phone": "+1 555"},
                   "updated_at": AT}),
            json!({"id": account, "name": "Contoso", "domain": "contoso.com",
                   "online_services": [], "created_at": AT, "version": 1}),
            json!({"id": account, "name": "Contoso", "domain": "contoso.com",
                   "online_services": [], "relied_on": {"d365-sales-professional": 2},
                   "volume": {"d365-sales-professional": 5}, "created_at": AT, "version": 4}),
            json!({"id": SubscriptionId::generate(), "account_id": account, "billing": "invoice",
                   "lines": lines, "status": "active", "created_at": AT, "version": 1}),
            json!({"at": AT, "action": "reservation.created",
                   "actor": {"sub": "u-1", "role": "customer_admin"}, "request_id": "r-1",
                   "account_id": account, "details": {"lines": lines}}),
            json!({"at": AT, "action": "agreement.remapped",
                   "actor": {"sub": "u-2", "role": "billing_support"}, "request_id": "r-2",
                   "reason": "wrong tenant", "agreement_id": AgreementId::generate()}),
        ];
        assert_eq!(
            shown(PartnerView::from(&entity::<Partner>(docs[0].clone()))),
            docs[0]
        );
        // What the account keeps of its licences is the pool's to show.
        for doc in &docs[1..3] {
            let mut expected = doc.clone();
            for pool in ["relied_on", "volume"] {
                expected.as_object_mut().map(|o| o.remove(pool));
            }
            assert_eq!(
                shown(AccountView::from(&entity::<Account>(doc.clone()))),
                expected
            );
        }
        let sub: Subscription = entity(docs[3].clone());
        assert_eq!(shown(SubscriptionView::from(&sub)), docs[3]);
        for doc in &docs[4..] {
            assert_eq!(shown(EventView::from(&entity::<Event>(doc.clone()))), *doc);
        }
    }

    #[test]
    fn an_order_shows_the_account_it_is_attached_to_and_not_the_agreement_s_bookkeeping() {
        let account = AccountId::generate();
        let a = agreement(Some(&account), None);
        let doc = json!({
            "id": OrderId::generate(&a.id), "agreement_id": a.id, "partner_id": "ptn-1",
            "source": "order", "status": "invoiced",
            "lines": [{"sku": "d365-sales-professional", "quantity": 3}],
            "replaces_subscription_id": null, "volume_discount_eligible": true,
            "placed_at": AT, "invoiced_at": AT, "activation_email": null, "version": 2,
            "sequence": 4,
        });
        let order: Order = entity(doc.clone());
        let mut expected = doc;
        expected["attached_account_id"] = json!(account);
        expected.as_object_mut().map(|o| o.remove("sequence"));
        assert_eq!(shown(OrderView::new(&order, &a)), expected);
        let agreement_shown = shown(AgreementView::from(&a));
        for kept in ["osm_generation", "link_seq", "holdings"] {
            assert!(agreement_shown.get(kept).is_none(), "{kept} is storage's");
        }
    }

    #[test]
    fn a_reservation_shows_its_status_as_of_its_agreement() {
        let a = agreement(None, None);
        let doc = json!({
            "id": ReservationId::generate(&a.id), "agreement_id": a.id,
            "lines": [{"sku": "d365-sales-professional", "quantity": 2}],
            "status": "active", "billable_at": "2028-03-15", "created_at": AT, "version": 1,
            "sequence": 3,
        });
        let r: Reservation = entity(doc.clone());
        let mut doc = doc;
        doc.as_object_mut().map(|o| o.remove("sequence"));
        assert_eq!(shown(ReservationView::new(&r, &a)), doc);
        let billed = agreement(None, Some("2028-03-15"));
        let mut expected = doc;
        expected["status"] = json!("billed");
        assert_eq!(shown(ReservationView::new(&r, &billed)), expected);
    }
}
