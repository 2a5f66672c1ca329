//! Agreements: creation (R1, R2, R7), the Online Services Manager (R10).

use chrono::{DateTime, NaiveDate, Utc};

use super::Policy;
use super::schedule::{MonthDay, first_anniversary, schedule_for};
use crate::audit::Audit;
use crate::change::{Audited, Change, Decision, Write};
use crate::error::RuleError;
use crate::model::{Account, Agreement, Customer, Osm, Partner};
use crate::sources::Source;
use crate::types::{AccountId, AgreementId, Program};
use crate::views::AgreementView;

/// `POST /agreements`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAgreement {
    pub program: Program,
    pub customer: Customer,
    pub osm: Osm,
    pub start_date: NaiveDate,
    pub online_services_account_id: Option<AccountId>,
}

/// What the creation needs to know about the world.
pub struct CreationContext<'a> {
    /// The caller's registration, if any.
    pub partner: Option<&'a Partner>,
    /// The customer's billing schedule, if it already holds an agreement (R2).
    pub customer_schedule: Option<MonthDay>,
    /// The account named by `online_services_account_id`, if it exists (R7).
    pub online_services_account: Option<&'a Account>,
}

/// The new agreement and the schedule its customer follows from now on. Changes: the
/// agreement (new); the customer's schedule (new when this is its first agreement, R2);
/// the Online Services account it is bound to, if any (R7: it holds the agreement from the
/// start, version moved on).
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub agreement: Agreement,
    pub schedule: MonthDay,
    pub first_of_customer: bool,
    pub bound: Option<Account>,
    /// All of the above as one change, with the trail entries.
    pub change: Change,
}

/// R10: an OSM address must not be on a public mail domain.
pub fn check_osm(osm: &Osm, policy: &Policy) -> Result<(), RuleError> {
    let domain = osm.email.domain();
    let public = policy
        .public_mail_domains
        .iter()
        .any(|p| domain == p || domain.ends_with(&format!(".{p}")));
    if public {
        return Err(RuleError::OsmPublicMailDomain {
            domain: domain.to_owned(),
        });
    }
    Ok(())
}

/// R1 (the program already parsed), R2, R7, R10.
pub fn create(
    cmd: NewAgreement,
    ctx: CreationContext<'_>,
    policy: &Policy,
    id: AgreementId,
    now: DateTime<Utc>,
) -> Result<Created, RuleError> {
    let partner = ctx.partner.ok_or(RuleError::UnknownPartner)?;
    check_osm(&cmd.osm, policy)?;
    let account_id = match &cmd.online_services_account_id {
        None => None,
        Some(wanted) => {
            let account = ctx
                .online_services_account
                .filter(|a| &a.id == wanted)
                .ok_or(RuleError::UnknownOnlineServicesAccount)?;
            if !account.holds_online_services() {
                return Err(RuleError::NoOnlineServices);
            }
            Some(account.id.clone())
        }
    };
    let schedule = schedule_for(ctx.customer_schedule, cmd.start_date);
    let mut agreement = Agreement {
        id,
        program: cmd.program,
        customer: cmd.customer,
        osm: cmd.osm,
        partner_id: partner.id.clone(),
        start_date: cmd.start_date,
        schedule,
        anniversary: first_anniversary(schedule, cmd.start_date),
        billed_through: None,
        bound_to_online_services: account_id.is_some(),
        account_id,
        volume_discount_eligible: false,
        ordered_seats: 0,
        osm_generation: 0,
        link_seq: 0,
        activation_email_failed: None,
        created_at: now,
        holdings: Default::default(),
        joined_pool_at: 0,
        version: 1,
    };
    let bound = ctx
        .online_services_account
        .filter(|_| agreement.bound_to_online_services)
        .map(|account| {
            let mut bound = account.clone();
            // Its volume is nothing yet: the account's only moves on.
            bound.version += 1;
            bound
        });
    if let Some(bound) = &bound {
        agreement.joined_pool_at = bound.version;
    }
    let first_of_customer = ctx.customer_schedule.is_none();
    let change = created(&agreement, schedule, first_of_customer, bound.as_ref(), ctx);
    Ok(Created {
        agreement,
        schedule,
        first_of_customer,
        bound,
        change,
    })
}

/// What creating `agreement` writes: the agreement, the customer's schedule (set by its first
/// agreement, R2) or the check that it is still there, the entry, and (R7) the Online Services
/// account it is bound to, as read, with the entry of the association.
fn created(
    agreement: &Agreement,
    schedule: MonthDay,
    first_of_customer: bool,
    bound: Option<&Account>,
    ctx: CreationContext<'_>,
) -> Change {
    let mut change = Change::default().create(agreement);
    change = if first_of_customer {
        // The first agreement of this customer sets its schedule (R2); a concurrent first
        // agreement fails this write and re-reads the schedule.
        change.write(Write::CreateSchedule {
            customer: agreement.customer.number.clone(),
            schedule,
            first: agreement.id.clone(),
        })
    } else {
        change.write(Write::CheckCustomer(agreement.customer.number.clone()))
    };
    let audit = Audit::AgreementCreated {
        program: agreement.program,
        customer_number: agreement.customer.number.clone(),
        start_date: agreement.start_date,
        anniversary: agreement.anniversary,
        bound_to_online_services: agreement.bound_to_online_services,
    };
    change = change.audit(
        Audited::of(audit)
            .naming_agreement(&agreement.id)
            .naming_account(agreement.account_id.as_ref())
            .on(&agreement.id),
    );
    if let (Some(bound), Some(read)) = (bound, ctx.online_services_account) {
        // R7: associated with the Online Services account from the start.
        let audit = Audit::AgreementAssociated {
            bound_to_online_services: true,
        };
        change = change
            .replace(bound, read.version)
            .put_source(Source::agreement(agreement, &bound.id))
            .audit(
                Audited::of(audit)
                    .naming_agreement(&agreement.id)
                    .naming_account(Some(&bound.id))
                    .on(&bound.id)
                    .notify(
                        &agreement.partner_id,
                        &agreement.id,
                        &AgreementView::from(agreement),
                    ),
            );
    }
    change
}

/// R10: the agreement's partner replaces the OSM. Nothing is sent; earlier links die
/// because the OSM generation moves on (R8).
pub fn change_osm(
    agreement: &Agreement,
    osm: Osm,
    policy: &Policy,
) -> Result<Decision<Agreement>, RuleError> {
    check_osm(&osm, policy)?;
    let after = Agreement {
        osm,
        osm_generation: agreement.osm_generation + 1,
        version: agreement.version + 1,
        ..agreement.clone()
    };
    let audit = Audit::OsmChanged {
        from: agreement.osm.clone(),
        to: after.osm.clone(),
    };
    let change = Change::default().replace(&after, agreement.version).audit(
        Audited::of(audit)
            .naming_agreement(&after.id)
            .on(&after.id)
            .notify(&after.partner_id, &after.id, &AgreementView::from(&after)),
    );
    Ok(Decision {
        outcome: after,
        change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OnlineServicesLicense, OnlineServicesProduct};
    use crate::types::{CustomerNumber, Email, Quantity};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .expect("ts")
            .with_timezone(&Utc)
    }

    fn partner() -> Partner {
        crate::testing::partner()
    }

    fn osm(email: &str) -> Osm {
        Osm {
            name: "Olivia".into(),
            email: Email::parse(email).expect("email"),
        }
    }

    fn cmd(start: &str) -> NewAgreement {
        NewAgreement {
            program: Program::Ea,
            customer: Customer {
                number: CustomerNumber::parse("4711").expect("n"),
                legal_name: "Contoso Ltd".into(),
                country: "NL".into(),
            },
            osm: osm("olivia@contoso.com"),
            start_date: NaiveDate::parse_from_str(start, "%Y-%m-%d").expect("date"),
            online_services_account_id: None,
        }
    }

    fn account(with_mos: bool) -> Account {
        Account {
            id: AccountId::generate(),
            name: "Contoso".into(),
            domain: "contoso.com".into(),
            online_services: if with_mos {
                vec![OnlineServicesLicense {
                    product: OnlineServicesProduct::Office365,
                    quantity: Quantity::new(300).expect("q"),
                }]
            } else {
                vec![]
            },
            relied_on: Default::default(),
            volume: Default::default(),
            direct: Default::default(),
            created_at: now(),
            version: 1,
        }
    }

    fn ctx<'a>(p: Option<&'a Partner>, acc: Option<&'a Account>) -> CreationContext<'a> {
        CreationContext {
            partner: p,
            customer_schedule: None,
            online_services_account: acc,
        }
    }

    #[test]
    fn creates_with_next_anniversary_and_no_account() {
        let p = partner();
        let c = create(
            cmd("2026-03-15"),
            ctx(Some(&p), None),
            &Policy::default(),
            AgreementId::generate(),
            now(),
        )
        .expect("created");
        assert_eq!(c.agreement.anniversary.to_string(), "2027-03-15");
        assert_eq!(c.schedule, MonthDay { month: 3, day: 15 });
        assert_eq!(c.agreement.account_id, None);
        assert!(!c.agreement.bound_to_online_services);
        assert!(!c.agreement.volume_discount_eligible);
    }

    #[test]
    fn second_agreement_follows_the_customer_schedule() {
        let p = partner();
        let mut context = ctx(Some(&p), None);
        context.customer_schedule = Some(MonthDay { month: 3, day: 15 });
        let c = create(
            cmd("2026-07-01"),
            context,
            &Policy::default(),
            AgreementId::generate(),
            now(),
        )
        .expect("created");
        assert_eq!(c.agreement.anniversary.to_string(), "2027-03-15");
    }

    #[test]
    fn unregistered_partner_is_refused() {
        let r = create(
            cmd("2026-03-15"),
            ctx(None, None),
            &Policy::default(),
            AgreementId::generate(),
            now(),
        );
        assert_eq!(r, Err(RuleError::UnknownPartner));
    }

    #[test]
    fn public_mail_domains_are_refused() {
        let p = partner();
        for email in ["olivia@gmail.com", "olivia@mail.com", "o@eu.proton.me"] {
            let mut c = cmd("2026-03-15");
            c.osm = osm(email);
            let r = create(
                c,
                ctx(Some(&p), None),
                &Policy::default(),
                AgreementId::generate(),
                now(),
            );
            assert!(
                matches!(r, Err(RuleError::OsmPublicMailDomain { .. })),
                "{email}"
            );
        }
        // A company domain that merely ends in the same letters is fine.
        assert_eq!(
            check_osm(&osm("olivia@hotmail.com.contoso.com"), &Policy::default()),
            Ok(())
        );
        assert_eq!(
            check_osm(&osm("olivia@notgmail.com"), &Policy::default()),
            Ok(())
        );
    }

    #[test]
    fn online_services_account_binds_the_agreement() {
        let p = partner();
        let acc = account(true);
        let mut c = cmd("2026-03-15");
        c.online_services_account_id = Some(acc.id.clone());
        let created = create(
            c,
            ctx(Some(&p), Some(&acc)),
            &Policy::default(),
            AgreementId::generate(),
            now(),
        )
        .expect("created");
        assert_eq!(created.agreement.account_id, Some(acc.id));
        assert!(created.agreement.bound_to_online_services);
    }

    #[test]
    fn online_services_account_must_exist_and_hold_mos() {
        let p = partner();
        let plain = account(false);
        let mut c = cmd("2026-03-15");
        c.online_services_account_id = Some(plain.id.clone());
        let r = create(
            c.clone(),
            ctx(Some(&p), Some(&plain)),
            &Policy::default(),
            AgreementId::generate(),
            now(),
        );
        assert_eq!(r, Err(RuleError::NoOnlineServices));
        let r = create(
            c,
            ctx(Some(&p), None),
            &Policy::default(),
            AgreementId::generate(),
            now(),
        );
        assert_eq!(r, Err(RuleError::UnknownOnlineServicesAccount));
    }

    #[test]
    fn osm_change_moves_the_generation_on() {
        let p = partner();
        let a = create(
            cmd("2026-03-15"),
            ctx(Some(&p), None),
            &Policy::default(),
            AgreementId::generate(),
            now(),
        )
        .expect("created")
        .agreement;
        let changed = change_osm(&a, osm("new.osm@contoso.com"), &Policy::default()).expect("ok");
        assert_eq!(changed.outcome.osm.email.as_str(), "new.osm@contoso.com");
        assert_eq!(changed.outcome.osm_generation, a.osm_generation + 1);
        assert_eq!(changed.outcome.version, a.version + 1);
        assert!(matches!(
            change_osm(&a, osm("x@yahoo.com"), &Policy::default()),
            Err(RuleError::OsmPublicMailDomain { .. })
        ));
    }
}
