//! What the trails record (R17): one variant per action, with the details kept of it. An
//! [`crate::model::Event`] takes its action name and its details from one of these, so an
//! action is named in one place and its details have one shape, checked by the compiler.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::catalog::Sku;
use crate::error::{CoverageShortfall, ReliedOnShortfall};
use crate::model::{Billing, DisabledReason, MailReason, MailRefusal, OnlineServicesLicense, Osm};
use crate::types::{
    AccountId, AgreementId, AmendmentId, CustomerNumber, EndpointId, Lines, MailId, OrderId,
    PartnerId, Program, ReplayId, ReservationId, ServiceRequestId, SkuCounts, SubscriptionId,
};

/// An audited action and its details (serialised as the details alone: the action is
/// [`Audit::action`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Audit {
    PartnerRegistered {
        partner_id: PartnerId,
        name: String,
    },
    AccountCreated {
        name: String,
        domain: String,
        online_services: Vec<OnlineServicesLicense>,
    },
    SubscriptionCreated {
        subscription_id: SubscriptionId,
        billing: Billing,
        lines: Lines,
    },
    AgreementCreated {
        program: Program,
        customer_number: CustomerNumber,
        start_date: NaiveDate,
        anniversary: NaiveDate,
        bound_to_online_services: bool,
    },
    /// R7: an agreement bound to Online Services, associated with their account at once.
    AgreementAssociated {
        bound_to_online_services: bool,
    },
    OsmChanged {
        from: Osm,
        to: Osm,
    },
    OrderPlaced {
        order_id: OrderId,
        lines: Lines,
        replaces_subscription_id: Option<SubscriptionId>,
        volume_discount_eligible: bool,
        became_volume_discount_eligible: bool,
    },
    /// An order invoiced on an associated agreement: its licences attached at once.
    OrderInvoicedAttached {
        order_id: OrderId,
        attached_account_id: AccountId,
        activation_email: NotNeeded,
    },
    /// An order invoiced on an agreement not yet associated: an activation mail queued.
    OrderInvoicedMailQueued {
        order_id: OrderId,
        activation_email: Queued,
        mail_id: MailId,
    },
    ReservationCreated {
        reservation_id: ReservationId,
        lines: Lines,
        billable_at: NaiveDate,
    },
    ReservationCancelled {
        reservation_id: ReservationId,
        lines: Lines,
    },
    SubscriptionCancelled {
        subscription_id: SubscriptionId,
        relied_on: SkuCounts,
        license_loss_accepted: bool,
        shortfalls: Vec<CoverageShortfall>,
        /// The service request the cancellation resolves (R18), and whether its customer
        /// consented to the loss.
        #[serde(skip_serializing_if = "Option::is_none")]
        service_request_id: Option<ServiceRequestId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        customer_consented: Option<bool>,
    },
    /// R18: a customer's administrator asks Billing Support to cancel a subscription.
    ServiceRequestOpened {
        service_request_id: ServiceRequestId,
        subscription_id: SubscriptionId,
        accept_license_loss: bool,
        shortfalls: Vec<CoverageShortfall>,
    },
    ServiceRequestAcknowledged {
        service_request_id: ServiceRequestId,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    ServiceRequestDeclined {
        service_request_id: ServiceRequestId,
        note: String,
    },
    ServiceRequestWithdrawn {
        service_request_id: ServiceRequestId,
    },
    /// Its subscription was cancelled (in that cancellation's transaction).
    ServiceRequestResolved {
        service_request_id: ServiceRequestId,
        subscription_id: SubscriptionId,
    },
    AgreementRemapped {
        agreement_id: AgreementId,
        from_account_id: AccountId,
        to_account_id: AccountId,
        /// Only when billing support accepted to lose relied-on cover.
        #[serde(skip_serializing_if = "Option::is_none")]
        license_loss_accepted: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        shortfalls: Option<Vec<ReliedOnShortfall>>,
    },
    AgreementAmended {
        id: AmendmentId,
        agreement_id: AgreementId,
        kind: AmendmentKind,
        reason: String,
        account_id: Option<AccountId>,
        created_at: DateTime<Utc>,
    },
    TrueUpBilled {
        anniversary: NaiveDate,
        order_id: Option<OrderId>,
        lines: Option<Lines>,
        reservations: u64,
        next_anniversary: NaiveDate,
    },
    ActivationEmailSkipped {
        mail_id: MailId,
        reason: SkippedBecause,
        account_id: Option<AccountId>,
    },
    ActivationLinkIssued {
        mail_id: MailId,
        attempt: u32,
        expires_at: DateTime<Utc>,
    },
    ActivationEmailSent {
        mail_id: MailId,
        /// The address, masked: the trail never holds it whole.
        sent_to: String,
        reason: MailReason,
        ses_message_id: String,
        link_expires_at: DateTime<Utc>,
    },
    ActivationEmailFailed {
        mail_id: MailId,
        attempts: u32,
        reason: Option<MailRefusal>,
    },
    /// R6/R7: an agreement associated with an account through its activation link.
    ActivationCompleted {
        attached_orders: Vec<SkuQuantity>,
        program: Program,
        signed_in: AssociatedVia,
    },
    ActivationEmailResendRequested {
        mail_id: MailId,
        /// The address, masked.
        sent_to: String,
    },
    /// A webhook endpoint as created or updated (never its secret).
    WebhookEndpointCreated(EndpointDetails),
    WebhookEndpointUpdated(EndpointDetails),
    WebhookEndpointDeleted {
        endpoint_id: EndpointId,
    },
    WebhookEndpointDisabled {
        endpoint_id: EndpointId,
        reason: DisabledReason,
    },
    WebhookEndpointEnabled {
        endpoint_id: EndpointId,
    },
    /// A new signing secret; the one it replaced still signs until `previous_expires_at`.
    WebhookEndpointSecretRotated {
        endpoint_id: EndpointId,
        previous_expires_at: Option<DateTime<Utc>>,
    },
    /// The partner's events after `after_sequence` through `through_sequence` (of `types`,
    /// every type the endpoint takes when empty) delivered to the endpoint again.
    WebhookEndpointReplayed {
        endpoint_id: EndpointId,
        replay_id: ReplayId,
        after_sequence: u64,
        through_sequence: u64,
        types: Vec<String>,
    },
}

/// What the trail keeps of a webhook endpoint: where it delivers and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointDetails {
    pub endpoint_id: EndpointId,
    pub url: String,
    pub enabled_events: Vec<String>,
}

/// A quantity of one SKU (its fields in the order the API has always answered them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SkuQuantity {
    pub quantity: u64,
    pub sku: Sku,
}

/// How an association was made: through the API with a bearer token, or on the activation
/// pages by the person who signed in (and whether they confirmed an unrelated address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum AssociatedVia {
    Api,
    SignIn {
        email: Option<String>,
        acknowledged_unrelated_email: bool,
    },
}

/// `"not_needed"`: an order attached to an associated agreement needs no activation mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotNeeded {
    NotNeeded,
}

/// `"queued"`: the activation mail of an invoiced order is in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Queued {
    Queued,
}

/// Why an activation mail was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkippedBecause {
    /// The agreement was associated before the mail went out.
    AgreementAssociated,
}

/// The amendments a licensing specialist makes (R7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AmendmentKind {
    SeparateOnlineServices,
}

impl Audit {
    /// The action's name on the trail.
    pub fn action(&self) -> &'static str {
        match self {
            Self::PartnerRegistered { .. } => "partner.registered",
            Self::AccountCreated { .. } => "account.created",
            Self::SubscriptionCreated { .. } => "subscription.created",
            Self::AgreementCreated { .. } => "agreement.created",
            Self::AgreementAssociated { .. } => "agreement.associated",
            Self::OsmChanged { .. } => "osm.changed",
            Self::OrderPlaced { .. } => "order.placed",
            Self::OrderInvoicedAttached { .. } | Self::OrderInvoicedMailQueued { .. } => {
                "order.invoiced"
            }
            Self::ReservationCreated { .. } => "reservation.created",
            Self::ReservationCancelled { .. } => "reservation.cancelled",
            Self::SubscriptionCancelled { .. } => "subscription.cancelled",
            Self::ServiceRequestOpened { .. } => "service_request.opened",
            Self::ServiceRequestAcknowledged { .. } => "service_request.acknowledged",
            Self::ServiceRequestDeclined { .. } => "service_request.declined",
            Self::ServiceRequestWithdrawn { .. } => "service_request.withdrawn",
            Self::ServiceRequestResolved { .. } => "service_request.resolved",
            Self::AgreementRemapped { .. } => "agreement.remapped",
            Self::AgreementAmended { .. } => "agreement.amended",
            Self::TrueUpBilled { .. } => "true_up.billed",
            Self::ActivationEmailSkipped { .. } => "activation_email.skipped",
            Self::ActivationLinkIssued { .. } => "activation_link.issued",
            Self::ActivationEmailSent { .. } => "activation_email.sent",
            Self::ActivationEmailFailed { .. } => "activation_email.failed",
            Self::ActivationCompleted { .. } => "activation.completed",
            Self::ActivationEmailResendRequested { .. } => "activation_email.resend_requested",
            Self::WebhookEndpointCreated(_) => "webhook_endpoint.created",
            Self::WebhookEndpointUpdated(_) => "webhook_endpoint.updated",
            Self::WebhookEndpointDeleted { .. } => "webhook_endpoint.deleted",
            Self::WebhookEndpointDisabled { .. } => "webhook_endpoint.disabled",
            Self::WebhookEndpointEnabled { .. } => "webhook_endpoint.enabled",
            Self::WebhookEndpointSecretRotated { .. } => "webhook_endpoint.secret_rotated",
            Self::WebhookEndpointReplayed { .. } => "webhook_endpoint.replayed",
        }
    }

    /// The details as the trail keeps them.
    pub fn details(&self) -> serde_json::Value {
        // Every field is a plain value with string keys: serialising cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_details_are_the_fields_and_the_action_is_named_apart() {
        let order_id = OrderId::generate(&AgreementId::generate());
        let account = AccountId::generate();
        let attached = Audit::OrderInvoicedAttached {
            order_id: order_id.clone(),
            attached_account_id: account.clone(),
            activation_email: NotNeeded::NotNeeded,
        };
        assert_eq!(attached.action(), "order.invoiced");
        assert_eq!(
            attached.details(),
            json!({"order_id": order_id, "attached_account_id": account,
                   "activation_email": "not_needed"})
        );
        let remapped = |shortfalls: Option<Vec<ReliedOnShortfall>>| Audit::AgreementRemapped {
            agreement_id: AgreementId::parse("agr_01JD0000000000000000000000").expect("id"),
            from_account_id: account.clone(),
            to_account_id: account.clone(),
            license_loss_accepted: shortfalls.as_ref().map(|_| true),
            shortfalls,
        };
        let plain = remapped(None).details();
        assert!(plain.get("license_loss_accepted").is_none() && plain.get("shortfalls").is_none());
        assert_eq!(
            remapped(Some(vec![])).details()["license_loss_accepted"],
            json!(true)
        );
    }
}
