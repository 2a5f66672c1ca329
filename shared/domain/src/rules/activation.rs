//! Activation (R6, R8, R9): links, associating an agreement with an account, resends.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::audit::{AssociatedVia, Audit, SkuQuantity};
use crate::change::{Audited, Change, Decision, Write};
use crate::error::RuleError;
use crate::metrics::Metric;
use crate::model::{Account, Agreement, MailIntent, MailReason};
use crate::sources::Source;
use crate::types::AgreementId;
use crate::views::AgreementView;

/// The secret in an activation link: 256 random bits, hex (URL-safe, no readable data).
/// Only its SHA-256 is ever stored; it is never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

impl std::fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkToken(…)")
    }
}

impl LinkToken {
    pub const LEN: usize = 64;

    /// A fresh token from the operating system's random source.
    pub fn generate() -> Result<Self, String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
        Ok(Self(hex::encode(bytes)))
    }

    /// A token as it arrives in a path; anything else cannot be a token (404).
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == Self::LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What is stored instead of the token.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

pub use crate::model::ActivationLink;

pub use crate::error::LinkState;

pub fn link_state(link: &ActivationLink, agreement: &Agreement, now: DateTime<Utc>) -> LinkState {
    if link.used_at.is_some() {
        LinkState::Used
    } else if link.osm_generation != agreement.osm_generation {
        LinkState::OsmChanged
    } else if link.link_seq != agreement.link_seq {
        LinkState::Replaced
    } else if now >= link.expires_at {
        LinkState::Expired
    } else {
        LinkState::Usable
    }
}

/// A new link for the agreement's OSM: earlier links die because the sequence moves on.
pub struct Issued {
    pub token: LinkToken,
    pub link: ActivationLink,
    pub agreement: Agreement,
}

pub fn issue_link(
    agreement: &Agreement,
    token: LinkToken,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Issued {
    let agreement = Agreement {
        link_seq: agreement.link_seq + 1,
        activation_email_failed: None,
        version: agreement.version + 1,
        ..agreement.clone()
    };
    let link = ActivationLink {
        agreement_id: agreement.id.clone(),
        link_seq: agreement.link_seq,
        osm_generation: agreement.osm_generation,
        issued_at: now,
        expires_at: now + ttl,
        used_at: None,
        used_for: None,
    };
    Issued {
        token,
        link,
        agreement,
    }
}

/// The association: the agreement now points at the account, the account holds it, the link
/// is spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Associated {
    pub agreement: Agreement,
    pub account: Account,
    pub link: ActivationLink,
}

/// R6 and R7: associate the agreement of a usable link with the target account.
pub fn associate(
    agreement: &Agreement,
    link: &ActivationLink,
    target: &Account,
    now: DateTime<Utc>,
) -> Result<Associated, RuleError> {
    match link_state(link, agreement, now) {
        LinkState::Usable => {}
        state => return Err(RuleError::LinkGone { state }),
    }
    match &agreement.account_id {
        Some(acc) if agreement.bound_to_online_services && acc != &target.id => {
            return Err(RuleError::AgreementBoundToOnlineServices);
        }
        // Links are issued only while an agreement is unassociated, and associating spends
        // the link in the same transaction: an associated agreement behind a link that still
        // looks unused means the link was spent by a request that committed meanwhile.
        Some(_) => {
            return Err(RuleError::LinkGone {
                state: LinkState::Used,
            });
        }
        None => {}
    }
    let mut account = target.clone();
    crate::sources::shift(
        &mut account.volume,
        &Default::default(),
        &agreement.holdings.volume(),
    );
    account.version += 1;
    Ok(Associated {
        agreement: Agreement {
            account_id: Some(target.id.clone()),
            joined_pool_at: account.version,
            version: agreement.version + 1,
            ..agreement.clone()
        },
        account,
        link: ActivationLink {
            used_at: Some(now),
            used_for: Some(target.id.clone()),
            ..link.clone()
        },
    })
}

/// R6 and R7 with all they change: the link spent (under its token's hash), the agreement as
/// read and the account as read moved on, the agreement's pool source, the entry on both
/// trails (what was attached, and `via` which way), the metric.
pub fn activate(
    agreement: &Agreement,
    link: &ActivationLink,
    token_hash: &str,
    target: &Account,
    via: AssociatedVia,
    now: DateTime<Utc>,
) -> Result<Decision<Associated>, RuleError> {
    let done = associate(agreement, link, target, now)?;
    let audit = Audit::ActivationCompleted {
        attached_orders: crate::mail::to_associate(agreement)
            .into_iter()
            .map(|(sku, quantity)| SkuQuantity { quantity, sku })
            .collect(),
        program: agreement.program,
        signed_in: via,
    };
    let entry = Audited::of(audit)
        .naming_agreement(&agreement.id)
        .naming_account(Some(&target.id))
        .on(&agreement.id)
        .on(&target.id)
        .notify(
            &agreement.partner_id,
            &agreement.id,
            &AgreementView::from(&done.agreement),
        );
    let change = Change::default()
        .write(Write::SpendLink {
            token_hash: token_hash.to_owned(),
            link: done.link.clone(),
        })
        .replace(&done.agreement, agreement.version)
        .replace(&done.account, target.version)
        .put_source(Source::agreement(&done.agreement, &target.id))
        .audit(entry)
        .count(Metric::Activated);
    Ok(Decision {
        outcome: done,
        change,
    })
}

/// R9 with all it changes: the agreement moved on (earlier links die), a new activation mail
/// in the outbox, the entry (to whom it goes, masked).
pub fn request_resend(
    agreement: &Agreement,
    now: DateTime<Utc>,
) -> Result<Decision<MailIntent>, RuleError> {
    let after = resend(agreement)?;
    let mail = MailIntent::activation(agreement.id.clone(), None, MailReason::Resend, now);
    let audit = Audit::ActivationEmailResendRequested {
        mail_id: mail.id.clone(),
        sent_to: agreement.osm.email.masked(),
    };
    let change = Change::default()
        .replace(&after, agreement.version)
        .create(mail.clone())
        .audit(
            Audited::of(audit)
                .naming_agreement(&agreement.id)
                .on(&agreement.id),
        );
    Ok(Decision {
        outcome: mail,
        change,
    })
}

/// R9: a mismatch counted on top of `before` (the counter as read), as a change of its own:
/// written even though the request is refused, and only if the counter is still as read.
pub fn mismatch(
    agreement: &AgreementId,
    before: Option<&Mismatches>,
    now: DateTime<Utc>,
) -> Decision<Mismatches> {
    let after = count_mismatch(before, now);
    let change = Change::default().write(Write::Mismatch {
        agreement: agreement.clone(),
        before: before.map(|m| m.count),
        after,
    });
    Decision {
        outcome: after,
        change,
    }
}

/// R9: company information as the caller gave it, compared without regard to case or
/// surrounding spaces, in time that does not depend on where the strings differ.
pub fn company_matches(agreement: &Agreement, legal_name: &str, country: &str) -> bool {
    let norm = |s: &str| Sha256::digest(s.trim().to_lowercase().as_bytes());
    let given = [norm(legal_name), norm(country)];
    let stored = [
        norm(&agreement.customer.legal_name),
        norm(&agreement.customer.country),
    ];
    let diff = given
        .iter()
        .zip(&stored)
        .flat_map(|(a, b)| a.iter().zip(b.iter()))
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    diff == 0
}

pub use crate::model::Mismatches;

pub const LOCKOUT_AFTER: u32 = 5;

pub fn lockout_window() -> Duration {
    Duration::hours(1)
}

/// Locked out: five mismatches within the hour that began with the first of them.
pub fn locked_until(m: Option<&Mismatches>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let m = m?;
    let until = m.window_start + lockout_window();
    (m.count >= LOCKOUT_AFTER && now < until).then_some(until)
}

/// The counter after one more mismatch (a new window once the old one is over).
pub fn count_mismatch(m: Option<&Mismatches>, now: DateTime<Utc>) -> Mismatches {
    match m {
        Some(m) if now < m.window_start + lockout_window() => Mismatches {
            window_start: m.window_start,
            count: m.count + 1,
        },
        _ => Mismatches {
            window_start: now,
            count: 1,
        },
    }
}

/// R9, after role, lockout and company checks: only an agreement not yet associated has
/// anything to activate. Earlier links die at once.
pub fn resend(agreement: &Agreement) -> Result<Agreement, RuleError> {
    if agreement.account_id.is_some() {
        return Err(RuleError::NothingToActivate);
    }
    Ok(Agreement {
        link_seq: agreement.link_seq + 1,
        version: agreement.version + 1,
        ..agreement.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing;
    use crate::types::AccountId;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("ts")
            .with_timezone(&Utc)
    }

    fn agreement() -> Agreement {
        let mut a = testing::agreement();
        a.customer.country = "Netherlands".into();
        a
    }

    fn account() -> Account {
        Account {
            version: 3,
            ..testing::account()
        }
    }

    fn token() -> LinkToken {
        LinkToken::generate().expect("random")
    }

    #[test]
    fn tokens_are_random_hex_and_stored_hashed() {
        let a = token();
        let b = token();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 64, "256 bits");
        assert_eq!(LinkToken::parse(a.as_str()), Some(a.clone()));
        assert_ne!(a.hash(), a.as_str());
        assert_eq!(a.hash().len(), 64);
        assert_eq!(LinkToken::parse("short"), None);
        assert_eq!(LinkToken::parse(&"G".repeat(64)), None);
        assert_eq!(LinkToken::parse(&a.as_str().to_uppercase()), None);
        assert!(!format!("{a:?}").contains(a.as_str()), "never printed");
    }

    #[test]
    fn a_link_works_once_until_it_expires_or_is_replaced() {
        let now = at("2026-11-28T10:00:00Z");
        let issued = issue_link(&agreement(), token(), now, Duration::days(30));
        let a = &issued.agreement;
        assert_eq!(a.link_seq, 1);
        assert_eq!(link_state(&issued.link, a, now), LinkState::Usable);
        assert_eq!(
            link_state(&issued.link, a, at("2026-12-28T09:59:59Z")),
            LinkState::Usable
        );
        assert_eq!(
            link_state(&issued.link, a, at("2026-12-28T10:00:00Z")),
            LinkState::Expired
        );

        let newer = issue_link(a, token(), now, Duration::days(30));
        assert_eq!(
            link_state(&issued.link, &newer.agreement, now),
            LinkState::Replaced
        );
        assert_eq!(
            link_state(&newer.link, &newer.agreement, now),
            LinkState::Usable
        );

        let resent = resend(&newer.agreement).expect("nothing associated yet");
        assert_eq!(
            link_state(&newer.link, &resent, now),
            LinkState::Replaced,
            "a resend kills earlier links at once"
        );

        let mut osm_changed = newer.agreement.clone();
        osm_changed.osm_generation += 1;
        assert_eq!(
            link_state(&newer.link, &osm_changed, now),
            LinkState::OsmChanged
        );
    }

    #[test]
    fn associating_spends_the_link_and_links_both_sides() {
        let now = at("2026-11-28T10:00:00Z");
        let issued = issue_link(&agreement(), token(), now, Duration::days(30));
        let target = account();
        let done = associate(&issued.agreement, &issued.link, &target, now).expect("associated");
        assert_eq!(done.agreement.account_id, Some(target.id.clone()));
        assert_eq!(done.account.version, target.version + 1);
        assert_eq!(done.account.version, target.version + 1);
        assert_eq!(done.link.used_for, Some(target.id.clone()));
        assert_eq!(
            associate(&done.agreement, &done.link, &target, now),
            Err(RuleError::LinkGone {
                state: LinkState::Used
            })
        );
        // A stale read of the link (still unused) behind an associated agreement: the link
        // was spent by the association, whatever the read said.
        assert_eq!(
            associate(&done.agreement, &issued.link, &target, now),
            Err(RuleError::LinkGone {
                state: LinkState::Used
            })
        );
        let mut bound = issued.agreement.clone();
        bound.account_id = Some(AccountId::generate());
        bound.bound_to_online_services = true;
        assert_eq!(
            associate(&bound, &issued.link, &target, now),
            Err(RuleError::AgreementBoundToOnlineServices)
        );
        let expired = at("2027-01-01T00:00:00Z");
        assert_eq!(
            associate(&issued.agreement, &issued.link, &target, expired),
            Err(RuleError::LinkGone {
                state: LinkState::Expired
            })
        );
    }

    #[test]
    fn company_information_ignores_case_and_spaces_only() {
        let a = agreement();
        assert!(company_matches(&a, "  contoso LTD ", "NETHERLANDS"));
        assert!(!company_matches(&a, "Contoso", "Netherlands"));
        assert!(!company_matches(&a, "Contoso Ltd", "Belgium"));
        assert!(!company_matches(&a, "", ""));
    }

    #[test]
    fn five_mismatches_lock_until_the_hour_is_over() {
        let t0 = at("2026-11-28T10:00:00Z");
        let mut m = None;
        for i in 0..5 {
            assert_eq!(locked_until(m.as_ref(), t0), None, "not locked after {i}");
            m = Some(count_mismatch(m.as_ref(), t0 + Duration::minutes(i)));
        }
        assert_eq!(
            locked_until(m.as_ref(), t0 + Duration::minutes(59)),
            Some(at("2026-11-28T11:00:00Z"))
        );
        assert_eq!(locked_until(m.as_ref(), t0 + Duration::minutes(60)), None);
        let after = count_mismatch(m.as_ref(), t0 + Duration::minutes(61));
        assert_eq!(after.count, 1, "a new window");
    }

    #[test]
    fn resend_needs_something_to_activate() {
        let mut a = agreement();
        assert_eq!(resend(&a).map(|r| r.link_seq), Ok(1));
        a.account_id = Some(AccountId::generate());
        assert_eq!(resend(&a), Err(RuleError::NothingToActivate));
    }
}
