//! R15 remap and R7's amendment: moving an agreement, with all its licences, to another
//! account, and separating an agreement from its Online Services account.

use chrono::{DateTime, Utc};

use super::cancellation;
use crate::audit::{AmendmentKind, Audit};
use crate::change::{Audited, Change, Decision};
use crate::error::{ReliedOnShortfall, RuleError};
use crate::metrics::Metric;
use crate::model::{Account, Agreement};
use crate::sources::{Source, SourceKind};
use crate::types::AmendmentId;
use crate::views::AgreementView;

/// The agreement and both accounts after a remap. Orders and reservations are not touched:
/// licences follow the agreement.
#[derive(Debug, Clone, PartialEq)]
pub struct Remapped {
    pub agreement: Agreement,
    pub from: Account,
    pub to: Account,
    /// R11: cover that cancelled subscriptions of the old account relied on and that billing
    /// support accepted to lose with the remap.
    pub accepted_shortfalls: Vec<ReliedOnShortfall>,
    /// The agreement and both accounts under the versions read, the pool source moved from
    /// one account to the other, the entry on the three trails, the metric.
    pub change: Change,
}

/// R15, checked in this order: not associated, bound (R7), unknown target, same account;
/// then R11: the old account keeps what its cancelled subscriptions rely on, unless billing
/// support accepts the loss (what is relied on then drops to what is left). What leaving
/// takes away is the agreement's volume, out of the old account's, as the two keep them.
pub fn remap(
    agreement: &Agreement,
    current: &Account,
    target: Option<&Account>,
    accept_license_loss: bool,
) -> Result<Remapped, RuleError> {
    let Some(from_id) = &agreement.account_id else {
        return Err(RuleError::AgreementNotAssociated);
    };
    if agreement.bound_to_online_services {
        return Err(RuleError::AgreementBoundToOnlineServices);
    }
    let target = target.ok_or(RuleError::UnknownTargetAccount)?;
    if &target.id == from_id {
        return Err(RuleError::SameAccount);
    }
    let moving = agreement.holdings.volume();
    let shortfalls = cancellation::relied_on_shortfalls(current, &current.volume, &moving);
    if !shortfalls.is_empty() && !accept_license_loss {
        return Err(RuleError::WouldLoseReliedOnLicenses { shortfalls });
    }
    let mut from = cancellation::accept_loss(current, &shortfalls);
    // The agreement's licences leave one account's volume for the other's.
    crate::sources::shift(&mut from.volume, &moving, &Default::default());
    from.version += 1;
    let mut to = target.clone();
    crate::sources::shift(&mut to.volume, &Default::default(), &moving);
    to.version += 1;
    let after = Agreement {
        account_id: Some(target.id.clone()),
        joined_pool_at: to.version,
        version: agreement.version + 1,
        ..agreement.clone()
    };
    let lost = Some(shortfalls.clone()).filter(|s| !s.is_empty());
    let audit = Audit::AgreementRemapped {
        agreement_id: agreement.id.clone(),
        from_account_id: from.id.clone(),
        to_account_id: to.id.clone(),
        license_loss_accepted: lost.as_ref().map(|_| true),
        shortfalls: lost,
    };
    let entry = Audited::of(audit)
        .naming_agreement(&agreement.id)
        .on(&agreement.id)
        .on(&from.id)
        .on(&to.id)
        .notify(&after.partner_id, &after.id, &AgreementView::from(&after));
    let change = Change::default()
        .replace(&after, agreement.version)
        .replace(&from, current.version)
        .replace(&to, target.version)
        .drop_source(&from.id, SourceKind::Agreement, agreement.id.as_str())
        .put_source(Source::agreement(&after, &to.id))
        .audit(entry)
        .count(Metric::Remapped);
    Ok(Remapped {
        agreement: after,
        from,
        to,
        accepted_shortfalls: shortfalls,
        change,
    })
}

/// R7: a licensing specialist's `separate_online_services` amendment clears the binding;
/// the licences stay where they are.
pub fn separate_online_services(agreement: &Agreement) -> Result<Agreement, RuleError> {
    if !agreement.bound_to_online_services {
        return Err(RuleError::NotBoundToOnlineServices);
    }
    Ok(Agreement {
        bound_to_online_services: false,
        version: agreement.version + 1,
        ..agreement.clone()
    })
}

/// R7's amendment (`separate_online_services`) with all it changes: the agreement, and the
/// account it is associated with (`account`, as read) moved on so that the entry goes on its
/// trail too.
pub fn amend(
    agreement: &Agreement,
    account: Option<&Account>,
    id: AmendmentId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Decision<Agreement>, RuleError> {
    let amended = separate_online_services(agreement)?;
    let audit = Audit::AgreementAmended {
        id,
        agreement_id: agreement.id.clone(),
        kind: AmendmentKind::SeparateOnlineServices,
        reason: reason.to_owned(),
        account_id: agreement.account_id.clone(),
        created_at: now,
    };
    let mut entry = Audited::of(audit)
        .naming_agreement(&agreement.id)
        .naming_account(agreement.account_id.as_ref())
        .on(&agreement.id)
        .notify(
            &amended.partner_id,
            &amended.id,
            &AgreementView::from(&amended),
        );
    let mut change = Change::default().replace(&amended, agreement.version);
    if let Some(account) = account {
        change = change.advance(&account.id, account.version);
        entry = entry.on(&account.id);
    }
    Ok(Decision {
        outcome: amended,
        change: change.audit(entry).because(reason),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            version: 4,
            ..crate::testing::account()
        }
    }

    /// An agreement holding 7 seats, associated with `on` (whose volume holds them).
    fn agreement(on: Option<&mut Account>, bound: bool) -> Agreement {
        holding(7, on, bound)
    }

    /// An agreement holding `seats` seats, associated with `on` (whose volume holds them).
    fn holding(seats: u64, on: Option<&mut Account>, bound: bool) -> Agreement {
        let mut a = crate::testing::agreement();
        let seats = crate::testing::lines(&[(crate::catalog::Sku::SalesProfessional, seats)]);
        a.holdings.invoice(&seats);
        let account_id = on.map(|acc| {
            crate::sources::shift(&mut acc.volume, &Default::default(), &a.holdings.volume());
            acc.id.clone()
        });
        Agreement {
            account_id,
            bound_to_online_services: bound,
            version: 2,
            ..a
        }
    }

    #[test]
    fn remap_moves_the_agreement_between_accounts() {
        let mut old = account();
        let a = agreement(Some(&mut old), false);
        let new = account();
        let r = remap(&a, &old, Some(&new), false).expect("remapped");
        assert_eq!(r.agreement.account_id, Some(new.id.clone()));
        assert!(
            r.from.volume.is_empty(),
            "its licences left the old account"
        );
        assert_eq!(r.to.volume, a.holdings.volume());
        assert_eq!(
            (r.from.version, r.to.version, r.agreement.version),
            (5, 5, 3)
        );
    }

    #[test]
    fn remap_refusals_in_order() {
        let mut old = account();
        let unassociated = agreement(None, false);
        assert_eq!(
            remap(&unassociated, &old, Some(&account()), false),
            Err(RuleError::AgreementNotAssociated)
        );
        let bound = agreement(Some(&mut old), true);
        assert_eq!(
            remap(&bound, &old, Some(&account()), false),
            Err(RuleError::AgreementBoundToOnlineServices)
        );
        let a = agreement(Some(&mut old), false);
        assert_eq!(
            remap(&a, &old, Some(&old), false),
            Err(RuleError::SameAccount)
        );
        assert_eq!(
            remap(&a, &old, None, false),
            Err(RuleError::UnknownTargetAccount)
        );
    }

    #[test]
    fn the_amendment_clears_the_binding_only() {
        let mut old = account();
        let bound = agreement(Some(&mut old), true);
        let amended = separate_online_services(&bound).expect("amended");
        assert!(!amended.bound_to_online_services);
        assert_eq!(
            amended.account_id, bound.account_id,
            "the licences stay where they are"
        );
        assert_eq!(
            separate_online_services(&amended),
            Err(RuleError::NotBoundToOnlineServices)
        );
        let fresh = account();
        assert!(
            remap(&amended, &old, Some(&fresh), false).is_ok(),
            "then it remaps like any other"
        );
    }

    #[test]
    fn remapping_away_relied_on_cover_needs_billing_supports_acceptance() {
        use crate::catalog::Sku;
        let mut old = account();
        old.relied_on = [(Sku::SalesProfessional, 50)].into_iter().collect();
        // The account holds 70 seats, 50 of them the agreement's.
        old.volume = [(Sku::SalesProfessional, 20)].into_iter().collect();
        let a = holding(50, Some(&mut old), false);
        let new = account();
        let refused = remap(&a, &old, Some(&new), false);
        assert!(
            matches!(&refused, Err(RuleError::WouldLoseReliedOnLicenses { shortfalls })
                if shortfalls[0].volume == 20 && shortfalls[0].relied_on == 50
                    && shortfalls[0].available == -30),
            "{refused:?}"
        );
        let done = remap(&a, &old, Some(&new), true).expect("accepted");
        assert_eq!(done.accepted_shortfalls.len(), 1);
        assert_eq!(done.from.relied_on.get(&Sku::SalesProfessional), Some(&20));
        assert!(done.to.relied_on.is_empty());
        // With 50 spare seats elsewhere on the account, nothing is lost.
        let mut spare = old.clone();
        spare.volume = [(Sku::SalesProfessional, 100)].into_iter().collect();
        let fine = remap(&a, &spare, Some(&new), false).expect("covered");
        assert!(fine.accepted_shortfalls.is_empty());
        assert_eq!(fine.from.relied_on, spare.relied_on);
    }
}
