//! The API's representations, separate from the stored items: what a caller sees of an
//! entity is written here field by field, so that what is kept for storage alone (an
//! agreement's link bookkeeping) never reaches a reply, and what a reply adds (the account an
//! order's licences are attached to) is a field, not a patch.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::access;
use crate::model::{Agreement, Customer, MailFailure, Order, Osm};
use crate::rules::reservations::Preview;
use crate::types::{AccountId, AgreementId, MonthDay, PartnerId, Program};

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

/// An order with the account its licences are attached to now (its agreement's, once
/// invoiced).
#[derive(Debug, Serialize)]
pub struct OrderView<'a> {
    #[serde(flatten)]
    pub order: &'a Order,
    pub attached_account_id: Option<&'a AccountId>,
}

impl<'a> OrderView<'a> {
    pub fn new(order: &'a Order, agreement: &'a Agreement) -> Self {
        Self {
            order,
            attached_account_id: access::attached_account(order, agreement),
        }
    }
}

/// What the next True-Up will bill, and the last anniversary billed.
#[derive(Debug, Serialize)]
pub struct PreviewView<'a> {
    #[serde(flatten)]
    pub preview: &'a Preview,
    pub last_billed_anniversary: Option<NaiveDate>,
}
