//! Who buys and sells: partners registered, accounts opened, direct subscriptions added to an
//! account (each one of its pool's sources from then on).

use chrono::{DateTime, Utc};

use crate::audit::Audit;
use crate::change::{Audited, Change, Decision};
use crate::holdings::add_lines;
use crate::model::{
    Account, Billing, Contact, OnlineServicesLicense, Partner, Subscription, SubscriptionStatus,
};
use crate::sources::Source;
use crate::types::{AccountId, Lines, PartnerId, SubscriptionId};

/// A partner registered, or its name and contact replaced (the trail records what was set).
pub fn register_partner(
    registered: Option<&Partner>,
    id: &PartnerId,
    (name, contact): (&str, &Contact),
    now: DateTime<Utc>,
) -> Decision<Partner> {
    let partner = Partner {
        id: id.clone(),
        name: name.to_owned(),
        contact: contact.clone(),
        updated_at: now,
        webhook_endpoints: registered.map_or(0, |p| p.webhook_endpoints),
        version: registered.map_or(1, |p| p.version + 1),
    };
    let audit = Audit::PartnerRegistered {
        partner_id: id.clone(),
        name: name.to_owned(),
    };
    let change = match registered {
        None => Change::default().create(&partner),
        Some(read) => Change::default().replace(&partner, read.version),
    };
    let change = change.audit(Audited::of(audit).on(id));
    Decision {
        outcome: partner,
        change,
    }
}

/// What a new account is opened with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub name: String,
    pub domain: String,
    pub online_services: Vec<OnlineServicesLicense>,
}

/// A new account, with no volume licences yet.
pub fn open_account(id: AccountId, new: &NewAccount, now: DateTime<Utc>) -> Decision<Account> {
    let account = Account {
        id,
        name: new.name.clone(),
        domain: new.domain.clone(),
        online_services: new.online_services.clone(),
        relied_on: Default::default(),
        volume: Default::default(),
        direct: Default::default(),
        created_at: now,
        version: 1,
    };
    let audit = Audit::AccountCreated {
        name: new.name.clone(),
        domain: new.domain.clone(),
        online_services: new.online_services.clone(),
    };
    let entry = Audited::of(audit)
        .naming_account(Some(&account.id))
        .on(&account.id);
    let change = Change::default().create(&account).audit(entry);
    Decision {
        outcome: account,
        change,
    }
}

/// A direct subscription added to `account` (as read): one of its pool's sources from now on,
/// its lines in the account's direct licences, and the account's version moves on so that
/// guards on it see the change (the subscription's place in the account's lists).
pub fn add_subscription(
    account: &Account,
    id: SubscriptionId,
    billing: Billing,
    lines: &Lines,
    now: DateTime<Utc>,
) -> Decision<Subscription> {
    let mut after = account.clone();
    add_lines(&mut after.direct, lines);
    after.version += 1;
    let sub = Subscription {
        id,
        account_id: account.id.clone(),
        billing,
        lines: lines.clone(),
        status: SubscriptionStatus::Active,
        created_at: now,
        version: 1,
        sequence: after.version,
        named_by: Vec::new(),
        open_request: None,
        cancellation: None,
    };
    let audit = Audit::SubscriptionCreated {
        subscription_id: sub.id.clone(),
        billing,
        lines: lines.clone(),
    };
    let entry = Audited::of(audit)
        .naming_account(Some(&account.id))
        .on(&account.id);
    let change = Change::default()
        .create(&sub)
        .put_source(Source::direct(&sub))
        .replace(&after, account.version)
        .audit(entry);
    Decision {
        outcome: sub,
        change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Sku;
    use crate::change::{Owner, Record, Write};
    use crate::testing;

    #[test]
    fn a_subscription_is_a_pool_source_and_moves_its_account_on() {
        let account = open_account(
            AccountId::generate(),
            &NewAccount {
                name: "Contoso".into(),
                domain: "contoso.com".into(),
                online_services: vec![],
            },
            testing::at("2027-01-01T00:00:00Z"),
        )
        .outcome;
        let lines = testing::lines(&[(Sku::SalesProfessional, 3)]);
        let made = add_subscription(
            &account,
            SubscriptionId::generate(),
            Billing::Invoice,
            &lines,
            testing::at("2027-01-02T00:00:00Z"),
        );
        let sub = &made.outcome;
        let after = Account {
            direct: [(Sku::SalesProfessional, 3)].into_iter().collect(),
            version: account.version + 1,
            ..account.clone()
        };
        assert_eq!(
            made.change.writes,
            vec![
                Write::Create(Record::Subscription(sub.clone())),
                Write::PutSource(Source::direct(sub)),
                Write::Replace(Record::Account(after.clone()), account.version),
            ]
        );
        assert_eq!(
            (
                sub.sequence,
                after.version,
                after.direct.get(&Sku::SalesProfessional)
            ),
            (account.version + 1, account.version + 1, Some(&3)),
            "its place is the account's new version; its lines are the account's direct licences"
        );
        assert_eq!(
            made.change.entries[0].trails,
            vec![Owner::Account(account.id)]
        );
    }
}
