//! Everything one decision changes, as data: the entities it writes (each with the version it
//! read), the pool-source and account-volume moves that go with a change to what an agreement
//! holds, the trail entries and the metrics. A rule returns one; the store commits it as one
//! transaction (`vls_store::Store::commit_change`), so whoever adds a rule cannot forget a
//! write that must go with it, and no handler finishes a decision by hand.

use chrono::{DateTime, NaiveDate, Utc};

use crate::audit::Audit;
use crate::metrics::Metric;
use crate::model::{
    Account, ActivationLink, Agreement, MailIntent, Mismatches, Order, Partner, Reservation,
    Subscription, WebhookEndpoint,
};
use crate::model::{Delivery, Replay, ServiceRequest};
use crate::notices::Notice;
use crate::sources::{Source, SourceKind, moved};
use crate::trail::{Actor, Event};
use crate::types::{
    AccountId, AgreementId, CustomerNumber, EndpointId, MonthDay, OrderId, PartnerId,
};

/// An entity a change writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Partner(Partner),
    Account(Account),
    Subscription(Subscription),
    /// Boxed: an agreement is the largest entity by far.
    Agreement(Box<Agreement>),
    Order(Order),
    Reservation(Reservation),
    Mail(MailIntent),
    Endpoint(WebhookEndpoint),
    Delivery(Delivery),
    Replay(Replay),
    ServiceRequest(ServiceRequest),
}

macro_rules! records {
    ($($variant:ident),+) => {$(
        impl From<$variant> for Record {
            fn from(e: $variant) -> Self {
                Record::$variant(e)
            }
        }
        impl From<&$variant> for Record {
            fn from(e: &$variant) -> Self {
                Record::$variant(e.clone())
            }
        }
    )+};
}
records!(
    Partner,
    Account,
    Subscription,
    Order,
    Reservation,
    ServiceRequest
);

impl From<&WebhookEndpoint> for Record {
    fn from(e: &WebhookEndpoint) -> Self {
        Record::Endpoint(e.clone())
    }
}

impl From<&Replay> for Record {
    fn from(r: &Replay) -> Self {
        Record::Replay(r.clone())
    }
}

impl From<&Delivery> for Record {
    fn from(d: &Delivery) -> Self {
        Record::Delivery(d.clone())
    }
}

impl From<Agreement> for Record {
    fn from(a: Agreement) -> Self {
        Record::Agreement(Box::new(a))
    }
}

impl From<&Agreement> for Record {
    fn from(a: &Agreement) -> Self {
        Record::Agreement(Box::new(a.clone()))
    }
}

impl From<MailIntent> for Record {
    fn from(m: MailIntent) -> Self {
        Record::Mail(m)
    }
}

impl From<&MailIntent> for Record {
    fn from(m: &MailIntent) -> Self {
        Record::Mail(m.clone())
    }
}

/// Whose trail an entry goes on (R17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Agreement(AgreementId),
    Account(AccountId),
    Partner(PartnerId),
}

impl From<&AgreementId> for Owner {
    fn from(id: &AgreementId) -> Self {
        Owner::Agreement(id.clone())
    }
}

impl From<&AccountId> for Owner {
    fn from(id: &AccountId) -> Self {
        Owner::Account(id.clone())
    }
}

impl From<&PartnerId> for Owner {
    fn from(id: &PartnerId) -> Self {
        Owner::Partner(id.clone())
    }
}

/// One write of a change.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// A new entity (and what finds it by id); its key must be free.
    Create(Record),
    /// An entity read at the given version; it carries the next one.
    Replace(Record, u64),
    /// An entity read at the given version, deleted.
    Delete(Record, u64),
    /// An agreement's or an account's version moved on from the one read, without rewriting
    /// it: its trail gets this change's entries, guards on its version see the change.
    Advance(Owner, u64),
    /// A pool source as it now stands.
    PutSource(Source),
    /// A pool source gone.
    DropSource {
        account: AccountId,
        kind: SourceKind,
        id: String,
    },
    /// Holds only if the customer's record exists.
    CheckCustomer(CustomerNumber),
    /// The customer's billing schedule, set by its first agreement (R2).
    CreateSchedule {
        customer: CustomerNumber,
        schedule: MonthDay,
        first: AgreementId,
    },
    /// A new activation link, under its token's hash.
    CreateLink {
        token_hash: String,
        link: ActivationLink,
    },
    /// An activation link spent; holds only if it was not spent already.
    SpendLink {
        token_hash: String,
        link: ActivationLink,
    },
    /// R9's mismatch counter, written only if it is still as read (`before`: its count, or
    /// `None` when there was none).
    Mismatch {
        agreement: AgreementId,
        before: Option<u32>,
        after: Mismatches,
    },
    /// The test deliveries sent to an endpoint in one minute (`minute`: since the epoch),
    /// written only if still `before` (0: none yet).
    TestsSent {
        endpoint: EndpointId,
        minute: i64,
        before: u32,
    },
    /// An anniversary billed (R14, once).
    TrueUpMarker {
        agreement: AgreementId,
        anniversary: NaiveDate,
        order: Option<OrderId>,
    },
}

/// A trail entry: the action, what it names, why, and the trails it goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct Audited {
    pub audit: Audit,
    pub agreement: Option<AgreementId>,
    pub account: Option<AccountId>,
    pub reason: Option<String>,
    pub trails: Vec<Owner>,
    /// The partner events the action raises (SPEC §6), written with it.
    pub notices: Vec<Notice>,
}

impl Audited {
    pub fn of(audit: Audit) -> Self {
        Self {
            audit,
            agreement: None,
            account: None,
            reason: None,
            trails: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// The entry names this agreement.
    pub fn naming_agreement(mut self, id: &AgreementId) -> Self {
        self.agreement = Some(id.clone());
        self
    }

    /// The entry names this account (if any).
    pub fn naming_account(mut self, id: Option<&AccountId>) -> Self {
        self.account = id.cloned();
        self
    }

    pub fn because(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    /// The entry goes on `owner`'s trail too.
    pub fn on(mut self, owner: impl Into<Owner>) -> Self {
        self.trails.push(owner.into());
        self
    }

    /// The action is told to a partner (SPEC §6.1): `object` (a view) about `agreement`.
    pub fn notify(
        mut self,
        partner: &PartnerId,
        agreement: &AgreementId,
        object: &impl serde::Serialize,
    ) -> Self {
        self.notices.push(Notice::of(partner, agreement, object));
        self
    }

    /// The entry as the trail keeps it, made by `stamp`'s actor in its request (and, made on
    /// the customer's pages, saying so in its details).
    pub fn event(&self, stamp: &Stamp) -> Event {
        let mut event = Event {
            reason: self.reason.clone(),
            agreement_id: self.agreement.clone(),
            account_id: self.account.clone(),
            ..Event::new(
                stamp.at,
                &self.audit,
                stamp.actor.clone(),
                &stamp.request_id,
            )
        };
        if let Some(via) = &stamp.via {
            via.mark(&mut event.details);
        }
        event
    }
}

/// Who made a change, when, in which request: what every trail entry of it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub request_id: String,
    /// Made through the customer's pages rather than the JSON API (SPEC §7).
    pub via: Option<Via>,
}

/// Where a change was asked for, when not over the JSON API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// The customer's pages (SPEC §7): the session's email goes with every entry, and
    /// whether the provider vouched for it.
    Portal {
        email: Option<String>,
        email_verified: bool,
    },
}

impl Via {
    /// Adds `via` (and the session's email) to an entry's details.
    pub fn mark(&self, details: &mut serde_json::Value) {
        let Self::Portal {
            email,
            email_verified,
        } = self;
        if !details.is_object() {
            *details = serde_json::Value::Object(serde_json::Map::new());
        }
        if let Some(fields) = details.as_object_mut() {
            fields.insert("via".into(), "portal".into());
            if let Some(email) = email {
                fields.insert("email".into(), email.as_str().into());
                if !email_verified {
                    fields.insert("email_verified".into(), false.into());
                }
            }
        }
    }
}

/// What a rule decided: its outcome (what the reply shows) and everything it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<T> {
    pub outcome: T,
    pub change: Change,
}

/// A decision's whole effect (see the module doc). Built by value: `Change::default()
/// .replace(&agreement, read).audit(...)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    pub writes: Vec<Write>,
    pub entries: Vec<Audited>,
    pub metrics: Vec<Metric>,
}

impl Change {
    pub fn create(mut self, entity: impl Into<Record>) -> Self {
        self.writes.push(Write::Create(entity.into()));
        self
    }

    pub fn replace(mut self, entity: impl Into<Record>, read_version: u64) -> Self {
        self.writes
            .push(Write::Replace(entity.into(), read_version));
        self
    }

    pub fn delete(mut self, entity: impl Into<Record>, read_version: u64) -> Self {
        self.writes.push(Write::Delete(entity.into(), read_version));
        self
    }

    pub fn advance(mut self, owner: impl Into<Owner>, read_version: u64) -> Self {
        self.writes.push(Write::Advance(owner.into(), read_version));
        self
    }

    pub fn put_source(mut self, source: Source) -> Self {
        self.writes.push(Write::PutSource(source));
        self
    }

    pub fn drop_source(mut self, account: &AccountId, kind: SourceKind, id: &str) -> Self {
        self.writes.push(Write::DropSource {
            account: account.clone(),
            kind,
            id: id.to_owned(),
        });
        self
    }

    /// An agreement associated with `account` changed what it holds from `before` to
    /// `after`: the account's volume moves with it (its version too, so guards on it see
    /// the change) and the agreement's pool source is rewritten.
    pub fn holdings_moved(self, account: &Account, before: &Agreement, after: &Agreement) -> Self {
        let (moved, source) = moved(account, before, after);
        self.replace(moved, account.version).put_source(source)
    }

    pub fn write(mut self, write: Write) -> Self {
        self.writes.push(write);
        self
    }

    pub fn audit(mut self, entry: Audited) -> Self {
        self.entries.push(entry);
        self
    }

    /// Every entry of the change records `reason` (the caller's, as given).
    pub fn because(mut self, reason: &str) -> Self {
        for entry in &mut self.entries {
            entry.reason = Some(reason.to_owned());
        }
        self
    }

    /// Counted once the change is committed (never for a refusal or a lost race).
    pub fn count(mut self, metric: Metric) -> Self {
        self.metrics.push(metric);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_entry_made_on_the_pages_says_so_and_names_the_email() {
        let mut details = json!({"reservation_id": "r1"});
        let via = Via::Portal {
            email: Some("admin@contoso.example".into()),
            email_verified: true,
        };
        via.mark(&mut details);
        let expected = json!({"reservation_id": "r1", "via": "portal",
            "email": "admin@contoso.example"});
        assert_eq!(details, expected);
        let mut none = serde_json::Value::Null;
        Via::Portal {
            email: None,
            email_verified: false,
        }
        .mark(&mut none);
        assert_eq!(none, json!({"via": "portal"}));
        let mut unverified = json!({});
        Via::Portal {
            email: Some("x@y.example".into()),
            email_verified: false,
        }
        .mark(&mut unverified);
        let said = json!({"via": "portal", "email": "x@y.example", "email_verified": false});
        assert_eq!(
            unverified, said,
            "the account's trail records an unverified address"
        );
    }
}
