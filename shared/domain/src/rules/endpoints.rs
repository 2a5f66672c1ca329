//! Partners' webhook endpoints (SPEC §6.5): at most ten a partner. Every change to one is one
//! transaction that also writes the partner under the version read, which counts its endpoints
//! (the limit holds under concurrency), orders its trail and places a new endpoint in its
//! list; each is audited as `webhook_endpoint.*` on the partner's trail, never with a secret.
//! Secrets are made and sealed by the caller: a rule sees only the sealed form.

use chrono::{DateTime, Duration, Utc};

use crate::audit::{Audit, EndpointDetails};
use crate::change::{Audited, Change, Decision};
use crate::error::{FieldError, RuleError};
use crate::input::{Obj, Res};
use crate::model::{DisabledReason, EndpointStatus, Partner, Replay, WebhookEndpoint};
use crate::notices::listed_type;
use crate::types::{EndpointId, ReplayId, parse_text};
use crate::webhooks::{UrlRefusal, url_allowed};

/// Endpoints a partner may have.
pub const MOST_ENDPOINTS: u32 = 10;
/// A rotation's overlap: how long the replaced secret still signs, unless asked otherwise.
pub const DEFAULT_OVERLAP_SECONDS: i64 = 86_400;
pub const MOST_OVERLAP_SECONDS: i64 = 604_800;
const MOST_DESCRIPTION: usize = 500;

/// What an endpoint is created or replaced with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    pub url: String,
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
}

/// The refusal of an endpoint URL: unreadable is `invalid_field`, a scheme or an address a
/// delivery may not use is `webhook_url_forbidden`.
pub fn url_refused(refusal: &UrlRefusal) -> FieldError {
    match refusal {
        UrlRefusal::Malformed(why) => FieldError::new("url", "invalid_field", *why),
        UrlRefusal::NotHttps => {
            FieldError::new("url", "webhook_url_forbidden", "an endpoint must be https")
        }
        UrlRefusal::Address(f) => FieldError::new(
            "url",
            "webhook_url_forbidden",
            format!("the URL names {}", f.what()),
        ),
    }
}

/// `{url, enabled_events: [type…] | ["*"], description?}` (`local`: the local stack, whose
/// test receivers' ports are allowed). A name in the URL is resolved and checked by the caller.
pub fn spec(body: &Obj<'_>, local: bool) -> Res<EndpointSpec> {
    let raw = body.str("url")?;
    let url = url_allowed(raw, local).map_err(|r| url_refused(&r))?;
    let mut enabled_events: Vec<String> = Vec::new();
    let all = body.each("enabled_events", |v, path| {
        let t = v
            .as_str()
            .ok_or_else(|| FieldError::new(path, "invalid_type", "must be a string"))?;
        if t != "*" && !listed_type(t) {
            let why = format!("{t:?} is not an event type (or \"*\" for every type)");
            return Err(FieldError::new(path, "invalid_field", why));
        }
        Ok(t.to_owned())
    })?;
    for t in all {
        if !enabled_events.contains(&t) {
            enabled_events.push(t);
        }
    }
    if enabled_events.is_empty()
        || (enabled_events.len() > 1 && enabled_events.contains(&"*".into()))
    {
        let why = "one or more event types, or [\"*\"] alone";
        return Err(FieldError::new("enabled_events", "invalid_field", why));
    }
    let description = match body.opt_str("description")? {
        None => None,
        Some(d) => Some(
            parse_text(d, MOST_DESCRIPTION)
                .map_err(|why| FieldError::new("description", "invalid_field", why))?,
        ),
    };
    Ok(EndpointSpec {
        url: url.to_string(),
        enabled_events,
        description,
    })
}

/// `{overlap_seconds?}`: 0 to 604,800, 86,400 unless given.
pub fn overlap(body: &Obj<'_>) -> Res<Duration> {
    let Some(v) = body.get("overlap_seconds") else {
        return Ok(Duration::seconds(DEFAULT_OVERLAP_SECONDS));
    };
    v.as_i64()
        .filter(|s| (0..=MOST_OVERLAP_SECONDS).contains(s))
        .map(Duration::seconds)
        .ok_or_else(|| {
            let why = "a whole number of seconds from 0 to 604,800";
            FieldError::new("overlap_seconds", "invalid_field", why)
        })
}

/// What a replay asks for: the events after `after_sequence`, of `types` (every type the
/// endpoint takes when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySpec {
    pub after_sequence: u64,
    pub types: Vec<String>,
}

/// `{after_sequence, types?}`: a sequence (0 or more) and event types a partner lists.
pub fn replay_spec(body: &Obj<'_>) -> Res<ReplaySpec> {
    let v = body.req("after_sequence")?;
    let after_sequence = v.as_u64().ok_or_else(|| {
        FieldError::new("after_sequence", "invalid_field", "a sequence (0 or more)")
    })?;
    let mut types: Vec<String> = Vec::new();
    if body.get("types").is_some() {
        for t in body.each("types", |v, path| {
            let t = v
                .as_str()
                .ok_or_else(|| FieldError::new(path, "invalid_type", "must be a string"))?;
            if !listed_type(t) {
                let why = format!("{t:?} is not an event type a partner lists");
                return Err(FieldError::new(path, "invalid_field", why));
            }
            Ok(t.to_owned())
        })? {
            if !types.contains(&t) {
                types.push(t);
            }
        }
    }
    types.sort();
    Ok(ReplaySpec {
        after_sequence,
        types,
    })
}

/// A replay to `endpoint` of the partner's events after `spec.after_sequence` through
/// `through` (its mark now), unless one is in progress (`current`); audited on the partner's
/// trail. The dispatcher makes its deliveries, a step at a time.
pub fn replay(
    (partner, endpoint): (&Partner, &WebhookEndpoint),
    current: Option<&Replay>,
    spec: ReplaySpec,
    (id, through): (ReplayId, u64),
    now: DateTime<Utc>,
) -> Result<Decision<Replay>, RuleError> {
    if current.is_some() {
        return Err(RuleError::ReplayInProgress);
    }
    let made = Replay {
        id,
        endpoint_id: endpoint.id.clone(),
        partner_id: partner.id.clone(),
        after_sequence: spec.after_sequence.min(through),
        through_sequence: through,
        types: spec.types,
        created_at: now,
        version: 1,
    };
    let audit = Audit::WebhookEndpointReplayed {
        endpoint_id: endpoint.id.clone(),
        replay_id: made.id.clone(),
        after_sequence: spec.after_sequence,
        through_sequence: through,
        types: made.types.clone(),
    };
    let change = Change::default()
        .replace(moved(partner, 0), partner.version)
        .create(&made)
        .audit(Audited::of(audit).on(&partner.id));
    Ok(Decision {
        outcome: made,
        change,
    })
}

/// The partner moved on by a change to its endpoints (`delta` to their count).
fn moved(partner: &Partner, delta: i32) -> Partner {
    Partner {
        webhook_endpoints: partner.webhook_endpoints.saturating_add_signed(delta),
        version: partner.version + 1,
        ..partner.clone()
    }
}

fn details(e: &WebhookEndpoint) -> EndpointDetails {
    EndpointDetails {
        endpoint_id: e.id.clone(),
        url: e.url.clone(),
        enabled_events: e.enabled_events.clone(),
    }
}

/// `endpoint` as it now stands (read at `read`), with the partner moved on and `audit` on
/// its trail.
fn changed(
    partner: &Partner,
    endpoint: &WebhookEndpoint,
    read: u64,
    audit: Audit,
) -> Decision<WebhookEndpoint> {
    let change = Change::default()
        .replace(moved(partner, 0), partner.version)
        .replace(endpoint, read)
        .audit(Audited::of(audit).on(&partner.id));
    Decision {
        outcome: endpoint.clone(),
        change,
    }
}

/// A new endpoint of `partner`'s, signing with the secret sealed as `sealed`.
pub fn create(
    partner: &Partner,
    spec: EndpointSpec,
    (id, sealed): (EndpointId, String),
    now: DateTime<Utc>,
) -> Result<Decision<WebhookEndpoint>, RuleError> {
    if partner.webhook_endpoints >= MOST_ENDPOINTS {
        return Err(RuleError::WebhookEndpointLimit);
    }
    let after = moved(partner, 1);
    let endpoint = WebhookEndpoint {
        id,
        partner_id: partner.id.clone(),
        url: spec.url,
        enabled_events: spec.enabled_events,
        description: spec.description,
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        secrets: vec![sealed],
        rotation_expires_at: None,
        created_at: now,
        sequence: after.version,
        version: 1,
        failing_since: None,
        failure_mailed_at: None,
    };
    let audit = Audit::WebhookEndpointCreated(details(&endpoint));
    let change = Change::default()
        .replace(&after, partner.version)
        .create(&endpoint)
        .audit(Audited::of(audit).on(&partner.id));
    Ok(Decision {
        outcome: endpoint,
        change,
    })
}

/// The endpoint's URL, types and description replaced.
pub fn update(
    partner: &Partner,
    endpoint: &WebhookEndpoint,
    spec: EndpointSpec,
) -> Decision<WebhookEndpoint> {
    let after = WebhookEndpoint {
        url: spec.url,
        enabled_events: spec.enabled_events,
        description: spec.description,
        version: endpoint.version + 1,
        ..endpoint.clone()
    };
    let audit = Audit::WebhookEndpointUpdated(details(&after));
    changed(partner, &after, endpoint.version, audit)
}

/// The endpoint gone (its pending deliveries with it).
pub fn delete(partner: &Partner, endpoint: &WebhookEndpoint) -> Change {
    let audit = Audit::WebhookEndpointDeleted {
        endpoint_id: endpoint.id.clone(),
    };
    Change::default()
        .replace(moved(partner, -1), partner.version)
        .delete(endpoint, endpoint.version)
        .audit(Audited::of(audit).on(&partner.id))
}

/// Nothing more is delivered to it until it is enabled (`reason`: the partner's, 410 Gone or
/// five days without a success).
pub fn disable(
    partner: &Partner,
    endpoint: &WebhookEndpoint,
    reason: DisabledReason,
) -> Decision<WebhookEndpoint> {
    let after = WebhookEndpoint {
        status: EndpointStatus::Disabled,
        disabled_reason: Some(reason),
        version: endpoint.version + 1,
        ..endpoint.clone()
    };
    let audit = Audit::WebhookEndpointDisabled {
        endpoint_id: endpoint.id.clone(),
        reason,
    };
    changed(partner, &after, endpoint.version, audit)
}

/// Delivering again, its failure state cleared; what it missed is a replay's.
pub fn enable(partner: &Partner, endpoint: &WebhookEndpoint) -> Decision<WebhookEndpoint> {
    let after = WebhookEndpoint {
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        failing_since: None,
        version: endpoint.version + 1,
        ..endpoint.clone()
    };
    let audit = Audit::WebhookEndpointEnabled {
        endpoint_id: endpoint.id.clone(),
    };
    changed(partner, &after, endpoint.version, audit)
}

/// A new secret (sealed as `sealed`) signs from now on; the current one signs too for
/// `overlap` (none: at once only the new one).
pub fn rotate(
    partner: &Partner,
    endpoint: &WebhookEndpoint,
    sealed: String,
    overlap: Duration,
    now: DateTime<Utc>,
) -> Decision<WebhookEndpoint> {
    let mut secrets = vec![sealed];
    let until = (overlap > Duration::zero()).then(|| now + overlap);
    if until.is_some()
        && let Some(current) = endpoint.secrets.first()
    {
        secrets.push(current.clone());
    }
    let after = WebhookEndpoint {
        secrets,
        rotation_expires_at: until,
        version: endpoint.version + 1,
        ..endpoint.clone()
    };
    let audit = Audit::WebhookEndpointSecretRotated {
        endpoint_id: endpoint.id.clone(),
        previous_expires_at: until,
    };
    changed(partner, &after, endpoint.version, audit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;
    use serde_json::json;

    fn partner(endpoints: u32) -> Partner {
        Partner {
            webhook_endpoints: endpoints,
            version: 4,
            ..crate::testing::partner()
        }
    }

    fn parsed(body: serde_json::Value) -> Res<EndpointSpec> {
        spec(&Obj::root(&body)?, false)
    }

    fn made(p: &Partner) -> WebhookEndpoint {
        let s = parsed(json!({"url": "https://hooks.example.com/vls", "enabled_events": ["*"]}))
            .expect("spec");
        let id = (EndpointId::generate(), "sealed-1".to_owned());
        create(p, s, id, at("2027-01-02T00:00:00Z"))
            .expect("created")
            .outcome
    }

    #[test]
    fn a_body_names_https_and_known_types() {
        let ok = parsed(json!({"url": "https://hooks.example.com/x",
            "enabled_events": ["order.invoiced", "order.invoiced", "true_up.billed"],
            "description": "billing"}))
        .expect("spec");
        assert_eq!(ok.enabled_events, ["order.invoiced", "true_up.billed"]);
        let code = |body| parsed(body).map_err(|e| (e.field, e.code)).err();
        let events = json!(["*"]);
        assert_eq!(
            code(json!({"url": "http://hooks.example.com", "enabled_events": events})),
            Some(("url".into(), "webhook_url_forbidden"))
        );
        assert_eq!(
            code(json!({"url": "https://10.0.0.1/x", "enabled_events": events})),
            Some(("url".into(), "webhook_url_forbidden"))
        );
        assert_eq!(
            code(json!({"url": "https://u:p@hooks.example.com", "enabled_events": events})),
            Some(("url".into(), "invalid_field"))
        );
        let url = "https://hooks.example.com";
        for (events, field) in [
            (json!(["order.placed"]), "enabled_events[0]"),
            (json!(["webhook.test"]), "enabled_events[0]"),
            (json!([]), "enabled_events"),
            (json!(["*", "osm.changed"]), "enabled_events"),
        ] {
            let got = code(json!({"url": url, "enabled_events": events}));
            assert_eq!(got, Some((field.into(), "invalid_field")), "{events}");
        }
        let long = "d".repeat(501);
        let got = code(json!({"url": url, "enabled_events": ["*"], "description": long}));
        assert_eq!(got, Some(("description".into(), "invalid_field")));
    }

    #[test]
    fn at_most_ten_and_each_change_moves_the_partner_on() {
        assert_eq!(
            create(
                &partner(MOST_ENDPOINTS),
                parsed(json!({"url": "https://a.example.com", "enabled_events": ["*"]}))
                    .expect("spec"),
                (EndpointId::generate(), "s".into()),
                at("2027-01-02T00:00:00Z"),
            )
            .err(),
            Some(RuleError::WebhookEndpointLimit)
        );
        let p = partner(9);
        let e = made(&p);
        assert_eq!((e.sequence, e.version), (5, 1));
        let off = disable(&p, &e, DisabledReason::ByPartner);
        assert_eq!(off.outcome.disabled_reason, Some(DisabledReason::ByPartner));
        let on = enable(&p, &off.outcome);
        assert_eq!(
            (
                on.outcome.status,
                on.outcome.disabled_reason,
                on.outcome.version
            ),
            (EndpointStatus::Enabled, None, 3)
        );
        let gone = delete(&p, &e);
        let audit: Vec<&str> = gone.entries.iter().map(|e| e.audit.action()).collect();
        assert_eq!(audit, ["webhook_endpoint.deleted"]);
    }

    #[test]
    fn a_rotation_signs_with_both_secrets_while_its_overlap_lasts() {
        let p = partner(0);
        let e = made(&p);
        let now = at("2027-01-03T00:00:00Z");
        let r = rotate(&p, &e, "sealed-2".into(), Duration::hours(1), now).outcome;
        assert_eq!(r.live_secrets(now), ["sealed-2", "sealed-1"]);
        assert_eq!(r.live_secrets(now + Duration::hours(1)), ["sealed-2"]);
        let at_once = rotate(&p, &e, "sealed-3".into(), Duration::zero(), now).outcome;
        assert_eq!(at_once.live_secrets(now), ["sealed-3"]);
        assert_eq!(at_once.rotation_expires_at, None);
        let body = json!({"overlap_seconds": 604_801});
        assert!(overlap(&Obj::root(&body).expect("obj")).is_err());
        let none = json!({});
        assert_eq!(
            overlap(&Obj::root(&none).expect("obj")).expect("default"),
            Duration::days(1)
        );
    }
}
