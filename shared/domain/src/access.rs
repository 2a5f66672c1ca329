//! Who may see what (SPEC §3). A resource of someone else is answered as if it did not
//! exist (404), so these return `bool` and the caller turns `false` into "not found".

use crate::model::{Agreement, Order};
use crate::principal::Principal;
use crate::types::AccountId;

/// The agreement's partner, billing support, licensing specialists and the administrator
/// of the account it is associated with.
pub fn agreement_visible(p: &Principal, a: &Agreement) -> bool {
    match p {
        Principal::Partner { partner_id, .. } => &a.partner_id == partner_id,
        Principal::CustomerAdmin { account_id, .. } => a.account_id.as_ref() == Some(account_id),
        Principal::BillingSupport { .. } | Principal::LicensingSpecialist { .. } => true,
    }
}

/// The account's own administrator and billing support.
pub fn account_visible(p: &Principal, account: &AccountId) -> bool {
    match p {
        Principal::CustomerAdmin { account_id, .. } => account_id == account,
        Principal::BillingSupport { .. } => true,
        Principal::Partner { .. } | Principal::LicensingSpecialist { .. } => false,
    }
}

/// The account an order's licences are attached to: its agreement's, once invoiced.
pub fn attached_account<'a>(order: &Order, agreement: &'a Agreement) -> Option<&'a AccountId> {
    order
        .is_invoiced_purchase()
        .then_some(agreement.account_id.as_ref())
        .flatten()
}

/// The order's partner, billing support and the administrator of the account it is attached to.
pub fn order_visible(p: &Principal, order: &Order, agreement: &Agreement) -> bool {
    match p {
        Principal::Partner { partner_id, .. } => &order.partner_id == partner_id,
        Principal::CustomerAdmin { account_id, .. } => {
            attached_account(order, agreement) == Some(account_id)
        }
        Principal::BillingSupport { .. } => true,
        Principal::LicensingSpecialist { .. } => false,
    }
}
