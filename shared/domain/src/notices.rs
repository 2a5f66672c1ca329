//! Partner events (SPEC §6): what a committed change tells the partner of the agreement it
//! concerns. A rule attaches a [`Notice`] to the trail entry of an action a partner hears
//! about (`Audited::notify`), with the resource as that partner's GET shows it at the version
//! the change writes; the change's own transaction writes it as a [`PartnerEvent`], so an event
//! exists exactly when its change does. The dispatcher gives it its partner's next `sequence`
//! after the commit and serialises the envelope once ([`PartnerEvent::body`]): every list, GET
//! and delivery answers those bytes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::{AgreementId, EventId, PartnerId};

/// The contract's version, in every envelope (`openapi.yaml`'s `info.version`).
pub const API_VERSION: &str = "0.3.0";

/// The largest `data.object` an event carries whole (serialised); a larger one is reduced to
/// its `id` and `version` with `data.complete: false`.
pub const OBJECT_LIMIT: usize = 16 * 1024;

/// Every event type (§6.1), the audit action that raises it.
pub const TYPES: &[&str] = &[
    "order.invoiced",
    "agreement.associated",
    "activation_email.sent",
    "activation_email.failed",
    "activation.completed",
    "osm.changed",
    "reservation.created",
    "reservation.cancelled",
    "true_up.billed",
    "agreement.remapped",
    "agreement.amended",
    "subscription.cancelled",
    "webhook.test",
];

/// The types a partner lists and subscribes to (all but `webhook.test`, which goes to one
/// endpoint only and is never sequenced).
pub fn listed_type(name: &str) -> bool {
    name != "webhook.test" && TYPES.contains(&name)
}

/// To whom an audited action is told, and what it shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub partner_id: PartnerId,
    pub agreement_id: AgreementId,
    pub object: Value,
    /// `false` when `object` was too large and holds only its `id` and `version`.
    pub complete: bool,
}

impl Notice {
    /// `object` (a view) told to `partner` about `agreement`.
    pub fn of(partner: &PartnerId, agreement: &AgreementId, object: &impl Serialize) -> Self {
        // Views are plain values with string keys: serialising cannot fail.
        let full = serde_json::to_value(object).unwrap_or_default();
        let size = serde_json::to_vec(&full).map_or(usize::MAX, |b| b.len());
        let (object, complete) = if size <= OBJECT_LIMIT {
            (full, true)
        } else {
            let mut short = serde_json::Map::new();
            for field in ["id", "version"] {
                if let Some(v) = full.get(field) {
                    short.insert(field.to_owned(), v.clone());
                }
            }
            (Value::Object(short), false)
        };
        Self {
            partner_id: partner.clone(),
            agreement_id: agreement.clone(),
            object,
            complete,
        }
    }
}

/// An event as its change's transaction writes it; `sequence` and `body` once the dispatcher
/// has sequenced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerEvent {
    pub id: EventId,
    /// The event's type (`event_type` where it is kept: an item's `type` is the store's).
    #[serde(rename = "event_type")]
    pub kind: String,
    pub partner_id: PartnerId,
    pub agreement_id: Option<AgreementId>,
    pub occurred_at: DateTime<Utc>,
    pub object: Value,
    pub complete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
}

/// The envelope (§6.2), as every list, GET and delivery sends it.
#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a EventId,
    #[serde(rename = "type")]
    kind: &'a str,
    sequence: Option<u64>,
    occurred_at: DateTime<Utc>,
    partner_id: &'a PartnerId,
    agreement_id: Option<&'a AgreementId>,
    api_version: &'static str,
    data: Data<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    object: &'a Value,
    #[serde(skip_serializing_if = "is_true")]
    complete: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

impl PartnerEvent {
    /// The event `notice` raises for the action `kind`, at `at`.
    pub fn raised(notice: &Notice, kind: &str, at: DateTime<Utc>) -> Self {
        Self {
            id: EventId::generate(),
            kind: kind.to_owned(),
            partner_id: notice.partner_id.clone(),
            agreement_id: Some(notice.agreement_id.clone()),
            occurred_at: at,
            object: notice.object.clone(),
            complete: notice.complete,
            sequence: None,
        }
    }

    /// The envelope serialised: what is stored once sequenced and sent on every attempt.
    pub fn body(&self) -> String {
        let envelope = Envelope {
            id: &self.id,
            kind: &self.kind,
            sequence: self.sequence,
            occurred_at: self.occurred_at,
            partner_id: &self.partner_id,
            agreement_id: self.agreement_id.as_ref(),
            api_version: API_VERSION,
            data: Data {
                object: &self.object,
                complete: self.complete,
            },
        };
        // Plain values with string keys: serialising cannot fail.
        serde_json::to_string(&envelope).unwrap_or_default()
    }
}

/// Events sequenced per transaction: the partner's counter and, per event, its item and its
/// place in the partner's list, within DynamoDB's 100 items a transaction.
pub const SEQUENCE_BATCH: usize = 49;

/// `events` (one partner's, oldest first) numbered on from `last`, the partner's sequence so
/// far: the batches each transaction writes, with the counter each leaves.
pub fn numbered(last: u64, mut events: Vec<PartnerEvent>) -> Vec<(u64, Vec<PartnerEvent>)> {
    events.sort_by(|a, b| (a.occurred_at, &a.id).cmp(&(b.occurred_at, &b.id)));
    let mut next = last;
    let mut batches = Vec::new();
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let batch: Vec<PartnerEvent> = events
            .by_ref()
            .take(SEQUENCE_BATCH)
            .map(|mut e| {
                next += 1;
                e.sequence = Some(next);
                e
            })
            .collect();
        batches.push((next, batch));
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn notice(object: Value) -> Notice {
        Notice::of(
            &PartnerId::parse("p-1").expect("partner"),
            &AgreementId::generate(),
            &object,
        )
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("ts")
            .with_timezone(&Utc)
    }

    #[test]
    fn an_object_over_the_limit_is_reduced_to_its_id_and_version() {
        let small = notice(json!({"id": "ord_1", "version": 2, "lines": []}));
        assert!(small.complete);
        assert_eq!(small.object["lines"], json!([]));
        let big = notice(json!({"id": "ord_1", "version": 2, "note": "x".repeat(OBJECT_LIMIT)}));
        assert!(!big.complete);
        assert_eq!(big.object, json!({"id": "ord_1", "version": 2}));
    }

    #[test]
    fn the_body_is_the_envelope_with_its_sequence() {
        let n = notice(json!({"id": "ord_1", "version": 2}));
        let mut e = PartnerEvent::raised(&n, "order.invoiced", at("2027-01-02T03:04:05Z"));
        e.sequence = Some(7);
        let body: Value = serde_json::from_str(&e.body()).expect("json");
        assert_eq!(
            body,
            json!({"id": e.id, "type": "order.invoiced", "sequence": 7,
                   "occurred_at": "2027-01-02T03:04:05Z", "partner_id": "p-1",
                   "agreement_id": n.agreement_id, "api_version": API_VERSION,
                   "data": {"object": {"id": "ord_1", "version": 2}}})
        );
        let reduced = notice(json!({"id": "x", "version": 1, "n": "y".repeat(OBJECT_LIMIT)}));
        let e = PartnerEvent::raised(&reduced, "order.invoiced", at("2027-01-02T03:04:05Z"));
        let body: Value = serde_json::from_str(&e.body()).expect("json");
        assert_eq!(body["data"]["complete"], json!(false));
        assert_eq!(body["sequence"], Value::Null);
    }

    #[test]
    fn events_are_numbered_on_in_batches_oldest_first() {
        let n = notice(json!({"id": "a", "version": 1}));
        let events: Vec<PartnerEvent> = (0..120)
            .rev()
            .map(|i| {
                let t = at("2027-01-02T03:04:05Z") + chrono::Duration::seconds(i);
                PartnerEvent::raised(&n, "osm.changed", t)
            })
            .collect();
        let batches = numbered(10, events);
        let lasts: Vec<u64> = batches.iter().map(|(last, _)| *last).collect();
        assert_eq!(lasts, vec![59, 108, 130]);
        let all: Vec<&PartnerEvent> = batches.iter().flat_map(|(_, b)| b).collect();
        let sequences: Vec<u64> = all.iter().filter_map(|e| e.sequence).collect();
        assert_eq!(sequences, (11..=130).collect::<Vec<_>>());
        assert!(all.windows(2).all(|w| w[0].occurred_at <= w[1].occurred_at));
        assert!(numbered(3, Vec::new()).is_empty());
    }

    #[test]
    fn webhook_tests_are_typed_but_never_listed() {
        assert!(TYPES.contains(&"webhook.test") && !listed_type("webhook.test"));
        assert!(listed_type("true_up.billed") && !listed_type("order.placed"));
    }
}
