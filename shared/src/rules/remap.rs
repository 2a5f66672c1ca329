//! R15 remap and R7's amendment: moving an agreement, with all its licences, to another
//! account, and separating an agreement from its Online Services account.

use crate::error::RuleError;
use crate::model::{Account, Agreement};

/// The agreement and both accounts after a remap. Orders and reservations are not touched:
/// licences follow the agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remapped {
    pub agreement: Agreement,
    pub from: Account,
    pub to: Account,
}

/// R15, checked in this order: not associated, bound (R7), same account. `target` is the
/// account named by the request, if it exists (404 otherwise).
pub fn remap(
    agreement: &Agreement,
    current: &Account,
    target: Option<&Account>,
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
    let mut from = current.clone();
    from.agreement_ids.retain(|a| a != &agreement.id);
    from.version += 1;
    let mut to = target.clone();
    to.agreement_ids.push(agreement.id.clone());
    to.version += 1;
    Ok(Remapped {
        agreement: Agreement {
            account_id: Some(target.id.clone()),
            version: agreement.version + 1,
            ..agreement.clone()
        },
        from,
        to,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            version: 4,
            ..crate::testing::account()
        }
    }

    fn agreement(on: Option<&mut Account>, bound: bool) -> Agreement {
        let a = crate::testing::agreement();
        let account_id = on.map(|acc| {
            acc.agreement_ids.push(a.id.clone());
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
        let r = remap(&a, &old, Some(&new)).expect("remapped");
        assert_eq!(r.agreement.account_id, Some(new.id.clone()));
        assert!(r.from.agreement_ids.is_empty());
        assert_eq!(r.to.agreement_ids, vec![a.id.clone()]);
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
            remap(&unassociated, &old, Some(&account())),
            Err(RuleError::AgreementNotAssociated)
        );
        let bound = agreement(Some(&mut old), true);
        assert_eq!(
            remap(&bound, &old, Some(&account())),
            Err(RuleError::AgreementBoundToOnlineServices)
        );
        let a = agreement(Some(&mut old), false);
        assert_eq!(remap(&a, &old, Some(&old)), Err(RuleError::SameAccount));
        assert_eq!(remap(&a, &old, None), Err(RuleError::UnknownTargetAccount));
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
            remap(&amended, &old, Some(&fresh)).is_ok(),
            "then it remaps like any other"
        );
    }
}
