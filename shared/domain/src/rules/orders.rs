//! Orders: placing one (R3 volume discount, R4 no data loss on migration) and invoicing it
//! (R5, R7).

use chrono::{DateTime, Utc};

use super::Policy;
use crate::audit::{Audit, NotNeeded, Queued};
use crate::change::{Audited, Change};
use crate::error::{EntitlementShortfall, RuleError};
use crate::metrics::Metric;
use crate::model::{
    Account, ActivationEmail, Agreement, MailIntent, MailReason, NamedBy, Order, OrderSource,
    OrderStatus, Subscription,
};
use crate::types::{AccountId, AgreementId, Lines, OrderId, Program, SubscriptionId};
use crate::views::OrderView;

/// `POST /orders`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub agreement_id: AgreementId,
    pub lines: Lines,
    pub replaces_subscription_id: Option<SubscriptionId>,
}

/// R4: every line of the replaced subscription, seats and add-ons alike, must be ordered
/// at least as often; otherwise every short line is reported.
pub fn check_replacement(subscription: &Lines, order: &Lines) -> Result<(), RuleError> {
    let shortfalls: Vec<EntitlementShortfall> = subscription
        .iter()
        .filter_map(|line| {
            let ordered = order.quantity_of(line.sku);
            (ordered < line.quantity.get()).then_some(EntitlementShortfall {
                sku: line.sku,
                required: line.quantity.get(),
                ordered,
            })
        })
        .collect();
    if shortfalls.is_empty() {
        Ok(())
    } else {
        Err(RuleError::OrderBelowCurrentEntitlement { shortfalls })
    }
}

/// R3: an EA becomes eligible once its ordered seats reach the threshold, and stays so.
pub fn volume_discount(program: Program, already: bool, seats: u64, policy: &Policy) -> bool {
    already || (program == Program::Ea && seats >= policy.volume_discount_threshold)
}

/// The placed order and the agreement as it stands after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub order: Order,
    pub agreement: Agreement,
    /// The agreement as read moved on (an activation or a remap in between changes where the
    /// licences go), the order, the entry, the metric.
    pub change: Change,
}

/// The orders recorded on a subscription at most (about 10 KB of its item, far below
/// DynamoDB's 400 KB, however often partners name it).
pub const NAMED_BY_MAX: usize = 100;

/// The subscription `order` replaces, recording the order (its partner hears of the
/// subscription's cancellation, SPEC §6.2); `None` unless the order names `sub`. Past
/// [`NAMED_BY_MAX`] orders, the oldest of a partner that has a newer one is forgotten: every
/// partner keeps its newest, and still hears of the cancellation.
fn naming(sub: &Subscription, order: &Order) -> Option<Subscription> {
    if order.replaces_subscription_id.as_ref() != Some(&sub.id) {
        return None;
    }
    let mut named = sub.clone();
    named.named_by.push(NamedBy {
        partner_id: order.partner_id.clone(),
        agreement_id: order.agreement_id.clone(),
        order_id: order.id.clone(),
    });
    while named.named_by.len() > NAMED_BY_MAX {
        let by = &named.named_by;
        let superseded = (0..by.len())
            .find(|&i| by[i + 1..].iter().any(|n| n.partner_id == by[i].partner_id))
            .unwrap_or(0);
        named.named_by.remove(superseded);
    }
    named.version += 1;
    Some(named)
}

/// R3 and R4. `replaced` is the subscription named by `replaces_subscription_id`, if it
/// exists at all; it must belong to the agreement's account once the agreement is associated.
pub fn place(
    agreement: &Agreement,
    cmd: NewOrder,
    replaced: Option<&Subscription>,
    policy: &Policy,
    id: OrderId,
    now: DateTime<Utc>,
) -> Result<Placed, RuleError> {
    if let Some(wanted) = &cmd.replaces_subscription_id {
        let sub = replaced
            .filter(|s| &s.id == wanted)
            .filter(|s| {
                agreement
                    .account_id
                    .as_ref()
                    .is_none_or(|acc| acc == &s.account_id)
            })
            .ok_or(RuleError::UnknownSubscription)?;
        check_replacement(&sub.lines, &cmd.lines)?;
    }
    let ordered_seats = agreement.ordered_seats + cmd.lines.seats();
    let eligible = volume_discount(
        agreement.program,
        agreement.volume_discount_eligible,
        ordered_seats,
        policy,
    );
    let order = Order {
        id,
        agreement_id: agreement.id.clone(),
        partner_id: agreement.partner_id.clone(),
        source: OrderSource::Order,
        status: OrderStatus::Placed,
        lines: cmd.lines,
        replaces_subscription_id: cmd.replaces_subscription_id,
        volume_discount_eligible: eligible,
        placed_at: now,
        invoiced_at: None,
        activation_email: None,
        version: 1,
        sequence: agreement.version + 1,
    };
    let after = Agreement {
        ordered_seats,
        volume_discount_eligible: eligible,
        version: agreement.version + 1,
        ..agreement.clone()
    };
    let audit = Audit::OrderPlaced {
        order_id: order.id.clone(),
        lines: order.lines.clone(),
        replaces_subscription_id: order.replaces_subscription_id.clone(),
        volume_discount_eligible: eligible,
        became_volume_discount_eligible: eligible && !agreement.volume_discount_eligible,
    };
    let mut change = Change::default()
        .replace(&after, agreement.version)
        .create(&order)
        .audit(Audited::of(audit).naming_agreement(&after.id).on(&after.id))
        .count(Metric::OrderPlaced);
    if let Some(named) = replaced.and_then(|s| naming(s, &order)) {
        change = change.replace(&named, named.version - 1);
    }
    Ok(Placed {
        order,
        agreement: after,
        change,
    })
}

/// What invoicing does besides marking the order invoiced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceEffect {
    /// R5/R7: the agreement is associated; the licences join that account's pool now.
    Attach(AccountId),
    /// R5: nobody has activated it yet; the OSM gets an activation email.
    QueueActivationMail,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Invoiced {
    pub order: Order,
    /// The agreement with the order's lines in its holdings.
    pub agreement: Agreement,
    pub effect: InvoiceEffect,
    /// The order and the agreement as read; the account's volume and the pool source moved
    /// (attached), or the activation mail queued; the entry, the metric.
    pub change: Change,
}

/// An invoice's licences attached to the account the agreement is associated with (`held`),
/// or its activation mail queued: what `change` writes more, and the trail entry.
fn attached_or_mailed(
    change: Change,
    (agreement, after): (&Agreement, &Agreement),
    order: &Order,
    held: Option<&Account>,
    now: DateTime<Utc>,
) -> (Change, Audited) {
    match held {
        Some(account) => {
            let audit = Audit::OrderInvoicedAttached {
                order_id: order.id.clone(),
                attached_account_id: account.id.clone(),
                activation_email: NotNeeded::NotNeeded,
            };
            // The account's volume licences changed: guards keyed on its version must see it.
            let change = change.holdings_moved(account, agreement, after);
            let entry = Audited::of(audit)
                .naming_account(Some(&account.id))
                .on(&account.id);
            (change, entry)
        }
        None => {
            let why = (Some(order.id.clone()), MailReason::Invoiced);
            let mail = MailIntent::activation(agreement.id.clone(), why.0, why.1, now);
            let audit = Audit::OrderInvoicedMailQueued {
                order_id: order.id.clone(),
                activation_email: Queued::Queued,
                mail_id: mail.id.clone(),
            };
            (change.create(mail), Audited::of(audit))
        }
    }
}

/// R5 and R7: invoice a placed order. `held` is the account the agreement is associated
/// with, as read (`None` when it is not associated): the licences join its pool at once.
pub fn invoice(
    agreement: &Agreement,
    order: &Order,
    held: Option<&Account>,
    now: DateTime<Utc>,
) -> Result<Invoiced, RuleError> {
    if order.status != OrderStatus::Placed {
        return Err(RuleError::OrderAlreadyInvoiced);
    }
    let (effect, mail) = match held {
        Some(acc) => (
            InvoiceEffect::Attach(acc.id.clone()),
            ActivationEmail::NotNeeded,
        ),
        None => (InvoiceEffect::QueueActivationMail, ActivationEmail::Queued),
    };
    let mut after = Agreement {
        version: agreement.version + 1,
        ..agreement.clone()
    };
    after.holdings.invoice(&order.lines);
    let invoiced = Order {
        status: OrderStatus::Invoiced,
        invoiced_at: Some(now),
        activation_email: Some(mail),
        version: order.version + 1,
        ..order.clone()
    };
    let change = Change::default()
        .replace(&invoiced, order.version)
        .replace(&after, agreement.version);
    let (change, entry) = attached_or_mailed(change, (agreement, &after), order, held, now);
    let entry = entry
        .naming_agreement(&agreement.id)
        .on(&agreement.id)
        .notify(
            &agreement.partner_id,
            &agreement.id,
            &OrderView::new(&invoiced, &after),
        );
    Ok(Invoiced {
        agreement: after,
        order: invoiced,
        effect,
        change: change.audit(entry).count(Metric::OrderInvoiced),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Sku;
    use crate::model::Billing;
    use crate::model::SubscriptionStatus;
    use crate::testing;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .expect("ts")
            .with_timezone(&Utc)
    }

    fn lines(items: &[(Sku, u64)]) -> Lines {
        testing::lines(items)
    }

    fn agreement(program: Program, account: Option<AccountId>) -> Agreement {
        Agreement {
            program,
            account_id: account,
            ..testing::agreement()
        }
    }

    fn direct(account: &AccountId) -> Subscription {
        Subscription {
            id: SubscriptionId::generate(),
            account_id: account.clone(),
            billing: Billing::CreditCard,
            lines: lines(&[
                (Sku::SalesProfessional, 50),
                (Sku::AdditionalProductionInstance, 3),
                (Sku::AdditionalStorageGb, 5),
            ]),
            status: SubscriptionStatus::Active,
            created_at: now(),
            version: 1,
            sequence: 1,
            named_by: Vec::new(),
            open_request: None,
            cancellation: None,
        }
    }

    /// A subscription named by order after order stays bounded, and every partner that
    /// named it keeps its newest order.
    #[test]
    fn the_orders_recorded_on_a_subscription_are_bounded() {
        let a = agreement(Program::Ea, None);
        let mut sub = direct(&testing::account().id);
        let partners =
            ["p1", "p2", "p3"].map(|p| crate::types::PartnerId::parse(p).expect("partner"));
        let mut newest = std::collections::BTreeMap::new();
        for i in 0..(NAMED_BY_MAX + 40) {
            // p3 names it once, first; p1 and p2 over and over.
            let partner = &partners[if i == 0 { 2 } else { i % 2 }];
            let order = Order {
                partner_id: partner.clone(),
                replaces_subscription_id: Some(sub.id.clone()),
                ..testing::order(&a, lines(&[(Sku::SalesProfessional, 1)]))
            };
            newest.insert(partner.clone(), order.id.clone());
            sub = naming(&sub, &order).expect("named");
        }
        assert_eq!(sub.named_by.len(), NAMED_BY_MAX);
        for (partner, order) in &newest {
            let kept = sub
                .named_by
                .iter()
                .any(|n| &n.partner_id == partner && &n.order_id == order);
            assert!(kept, "{partner}'s newest order is kept");
        }
    }

    fn order_cmd(a: &Agreement, l: Lines, replaces: Option<&Subscription>) -> NewOrder {
        NewOrder {
            agreement_id: a.id.clone(),
            lines: l,
            replaces_subscription_id: replaces.map(|s| s.id.clone()),
        }
    }

    #[test]
    fn replacement_short_on_every_line_lists_all_three() {
        let acc = AccountId::generate();
        let sub = direct(&acc);
        let a = agreement(Program::Ea, None);
        let cmd = order_cmd(&a, lines(&[(Sku::SalesProfessional, 40)]), Some(&sub));
        let r = place(
            &a,
            cmd,
            Some(&sub),
            &Policy::default(),
            OrderId::generate(&a.id),
            now(),
        );
        let Err(RuleError::OrderBelowCurrentEntitlement { shortfalls }) = r else {
            panic!("expected shortfalls, got {r:?}");
        };
        assert_eq!(
            shortfalls,
            vec![
                EntitlementShortfall {
                    sku: Sku::SalesProfessional,
                    required: 50,
                    ordered: 40
                },
                EntitlementShortfall {
                    sku: Sku::AdditionalProductionInstance,
                    required: 3,
                    ordered: 0
                },
                EntitlementShortfall {
                    sku: Sku::AdditionalStorageGb,
                    required: 5,
                    ordered: 0
                },
            ]
        );
    }

    #[test]
    fn covering_replacement_is_placed() {
        let acc = AccountId::generate();
        let sub = direct(&acc);
        let a = agreement(Program::Ea, None);
        let l = lines(&[
            (Sku::SalesProfessional, 50),
            (Sku::AdditionalProductionInstance, 3),
            (Sku::AdditionalStorageGb, 10),
            (Sku::SalesEnterprise, 1),
        ]);
        let placed = place(
            &a,
            order_cmd(&a, l, Some(&sub)),
            Some(&sub),
            &Policy::default(),
            OrderId::generate(&a.id),
            now(),
        )
        .expect("placed");
        assert_eq!(placed.order.status, OrderStatus::Placed);
        assert_eq!(placed.order.source, OrderSource::Order);
        assert_eq!(placed.agreement.ordered_seats, 51);
        assert_eq!(placed.agreement.version, a.version + 1);
        let named = placed.change.writes.iter().find_map(|w| match w {
            crate::change::Write::Replace(crate::change::Record::Subscription(s), read) => {
                Some((s.named_by.clone(), s.version, *read))
            }
            _ => None,
        });
        let by = NamedBy {
            partner_id: a.partner_id.clone(),
            agreement_id: a.id.clone(),
            order_id: placed.order.id.clone(),
        };
        assert_eq!(
            named,
            Some((vec![by], sub.version + 1, sub.version)),
            "the subscription records the order that replaces it"
        );
    }

    #[test]
    fn replaced_subscription_must_be_on_the_associated_account() {
        let sub = direct(&AccountId::generate());
        let a = agreement(Program::Ea, Some(AccountId::generate()));
        let l = lines(&[(Sku::SalesProfessional, 100)]);
        let r = place(
            &a,
            order_cmd(&a, l.clone(), Some(&sub)),
            Some(&sub),
            &Policy::default(),
            OrderId::generate(&a.id),
            now(),
        );
        assert_eq!(r, Err(RuleError::UnknownSubscription));
        let r = place(
            &a,
            order_cmd(&a, l, Some(&sub)),
            None,
            &Policy::default(),
            OrderId::generate(&a.id),
            now(),
        );
        assert_eq!(r, Err(RuleError::UnknownSubscription));
    }

    #[test]
    fn volume_discount_at_250_seats_sticky_and_ea_only() {
        let p = Policy::default();
        let mut a = agreement(Program::Ea, None);
        let first = place(
            &a,
            order_cmd(
                &a,
                lines(&[
                    (Sku::SalesProfessional, 200),
                    (Sku::AdditionalStorageGb, 100),
                ]),
                None,
            ),
            None,
            &p,
            OrderId::generate(&a.id),
            now(),
        )
        .expect("placed");
        assert!(
            !first.agreement.volume_discount_eligible,
            "add-ons do not count"
        );
        a = first.agreement;
        let second = place(
            &a,
            order_cmd(&a, lines(&[(Sku::SalesEnterprise, 50)]), None),
            None,
            &p,
            OrderId::generate(&a.id),
            now(),
        )
        .expect("placed");
        assert!(second.agreement.volume_discount_eligible);
        assert!(second.order.volume_discount_eligible);
        assert!(
            volume_discount(Program::Ea, true, 0, &p),
            "once eligible, stays eligible"
        );
        assert!(!volume_discount(Program::Eas, false, 1000, &p));
        assert!(!volume_discount(Program::Casa, false, 1000, &p));
    }

    #[test]
    fn invoicing_attaches_or_queues_mail_and_only_once() {
        let p = Policy::default();
        let a = agreement(Program::Ea, None);
        let placed = place(
            &a,
            order_cmd(&a, lines(&[(Sku::SalesProfessional, 5)]), None),
            None,
            &p,
            OrderId::generate(&a.id),
            now(),
        )
        .expect("placed");
        let inv = invoice(&placed.agreement, &placed.order, None, now()).expect("invoiced");
        assert_eq!(inv.effect, InvoiceEffect::QueueActivationMail);
        assert_eq!(inv.order.activation_email, Some(ActivationEmail::Queued));
        assert_eq!(inv.order.status, OrderStatus::Invoiced);
        assert_eq!(
            invoice(&placed.agreement, &inv.order, None, now()),
            Err(RuleError::OrderAlreadyInvoiced)
        );

        let held = crate::testing::account();
        let bound = agreement(Program::Ea, Some(held.id.clone()));
        let inv = invoice(&bound, &placed.order, Some(&held), now()).expect("invoiced");
        assert_eq!(inv.effect, InvoiceEffect::Attach(held.id.clone()));
        assert_eq!(inv.order.activation_email, Some(ActivationEmail::NotNeeded));
        // The account's volume moves with the agreement's holdings, under the version read.
        let moved = inv.change.writes.iter().find_map(|w| match w {
            crate::change::Write::Replace(crate::change::Record::Account(a), read) => {
                Some((a, *read))
            }
            _ => None,
        });
        let (after, read) = moved.expect("the account is rewritten");
        assert_eq!((read, after.version), (held.version, held.version + 1));
        assert_eq!(after.volume, inv.agreement.holdings.volume());
    }
}
