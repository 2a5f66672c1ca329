//! `webhooks`: what a partner hears of its agreements (SPEC §6). The catch-up list of its
//! events (§6.4), in the order of their sequence, and one event by id; its webhook endpoints
//! (§6.5, `endpoints`).

pub mod deliveries;
pub mod endpoints;

use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use serde_json::Value;
use vls_domain::notices::listed_type;
use vls_domain::types::{EventId, PartnerId};
use vls_http::paging::List;
use vls_http::sealing::SealingKey;
use vls_http::{Access, Answer, Ctx, Params, Problem, Reply, Role, Route, route};
use vls_runtime::config::{Clock, Config, ConfigError, Startup};
use vls_runtime::secrets::Secret;
use vls_store::Store;

use endpoints::partner_of;

/// Everything a request needs, built once per process.
pub struct App {
    pub store: Store,
    pub config: Config,
    pub clock: Clock,
    /// Seals the endpoints' signing secrets, and the answers that show one.
    pub sealing: Arc<SealingKey>,
    /// Where endpoints' names resolve (the check each attempt makes again).
    pub resolver: vls_runtime::resolve::Resolver,
    /// Where a test event's or a redelivery's delivery is handed to the sender.
    pub deliveries: vls_runtime::queue::Queue,
}

impl App {
    /// Configuration, the cursor and webhook keys, and clients from the environment; without
    /// a usable webhook key (deployed) the function does not start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let Startup {
            config,
            sdk,
            secrets,
        } = Startup::from_env(&[Secret::CursorKey, Secret::WebhookKey]).await?;
        let sealing = vls_runtime::config::webhook_sealing(&secrets, config.is_local())?;
        Ok(Self {
            store: vls_runtime::config::store(&sdk, &config),
            config,
            clock: vls_runtime::config::system_clock(),
            sealing: Arc::new(sealing),
            resolver: vls_runtime::resolve::Resolver::system(),
            deliveries: vls_runtime::config::delivery_queue(&sdk)?,
        })
    }
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let ctx =
        Ctx::from_request(req, &app.config.auth, (app.clock)()).with_sealing(app.sealing.clone());
    vls_http::serve_routes(ROUTES, app, ctx).await
}

/// A partner's own events and endpoints only; every other role is refused.
const PARTNER: Access = Access::Roles(&[Role::Partner]);

/// What this function serves.
pub static ROUTES: &[Route<App>] = &[
    route!("GET", "/events", PARTNER, list),
    route!("GET", "/events/{event_id}", PARTNER, get_event),
    route!("POST", "/webhook-endpoints", PARTNER, endpoints::create),
    route!("GET", "/webhook-endpoints", PARTNER, endpoints::list),
    route!(
        "GET",
        "/webhook-endpoints/{endpoint_id}",
        PARTNER,
        endpoints::get
    ),
    route!(
        "PUT",
        "/webhook-endpoints/{endpoint_id}",
        PARTNER,
        endpoints::update
    ),
    route!(
        "DELETE",
        "/webhook-endpoints/{endpoint_id}",
        PARTNER,
        endpoints::delete
    ),
    route!(
        "POST",
        "/webhook-endpoints/{endpoint_id}/disable",
        PARTNER,
        endpoints::disable
    ),
    route!(
        "POST",
        "/webhook-endpoints/{endpoint_id}/enable",
        PARTNER,
        endpoints::enable
    ),
    route!(
        "POST",
        "/webhook-endpoints/{endpoint_id}/rotate-secret",
        PARTNER,
        endpoints::rotate
    ),
    route!(
        "POST",
        "/webhook-endpoints/{endpoint_id}/test",
        PARTNER,
        deliveries::test
    ),
    route!(
        "GET",
        "/webhook-endpoints/{endpoint_id}/deliveries",
        PARTNER,
        deliveries::list
    ),
    route!(
        "POST",
        "/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver",
        PARTNER,
        deliveries::redeliver
    ),
    route!(
        "POST",
        "/webhook-endpoints/{endpoint_id}/replay",
        PARTNER,
        deliveries::replay
    ),
];

/// `?after=`: a sequence the caller has seen (0 when absent).
fn after(raw: Option<String>) -> Result<u64, Problem> {
    match raw.as_deref() {
        None | Some("") => Ok(0),
        Some(s) => s.parse::<u64>().map_err(|_| {
            Problem::new(
                422,
                "invalid_field",
                format!("after must be a sequence (0 or more), not {s:?}"),
            )
            .at_field("after")
        }),
    }
}

/// `?types=a,b`: event types a partner lists (all when absent), each once, in order.
fn types(raw: Option<String>) -> Result<Vec<String>, Problem> {
    let mut wanted: Vec<String> = Vec::new();
    for t in raw
        .iter()
        .flat_map(|r| r.split(','))
        .filter(|t| !t.is_empty())
    {
        if !listed_type(t) {
            return Err(Problem::new(
                422,
                "invalid_field",
                format!("{t:?} is not an event type a partner lists"),
            )
            .at_field("types"));
        }
        if !wanted.iter().any(|w| w == t) {
            wanted.push(t.to_owned());
        }
    }
    wanted.sort();
    Ok(wanted)
}

/// GET /events?after=&types=: the partner's events by sequence, only those every lower one of
/// which is written (at or below the partner's mark); 410 `events_expired` when what follows
/// `after` is no longer kept.
async fn list(app: &App, ctx: &Ctx, _path: &Params) -> Answer {
    let p = ctx.principal()?;
    let partner = partner_of(p)?;
    let after = after(ctx.query_param("after"))?;
    let types = types(ctx.query_param("types"))?;
    let filter = format!("after={after};types={}", types.join(","));
    let key = app.config.cursor_key.as_ref();
    let mut list = List::new(
        key,
        ("events", "partner_events"),
        partner.as_str(),
        Some(&filter),
        p,
    );
    let asked = list.asked(ctx)?;
    let mark = app.store.feed_mark(partner).await?;
    let position = match asked.after.as_deref() {
        None => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| vls_http::paging::invalid_cursor())?,
        ),
    };
    let range = match (position, asked.descending) {
        (None, d) => (after, mark, d),
        (Some(at), false) => (at, mark, false),
        (Some(at), true) => (after, at.saturating_sub(1), true),
    };
    let page = app
        .store
        .feed_page(partner, range, &types, asked.limit, ctx.now)
        .await?;
    // A catch-up (oldest first) from a sequence whose next one is no longer kept has missed
    // events: 410, with where to start again.
    let catching_up = position.is_none() && !asked.descending && after > 0 && after < mark;
    if catching_up && !page.starts_kept {
        return Err(expired_after(app, ctx, partner, after).await);
    }
    let events: Vec<Value> = page
        .bodies
        .iter()
        .filter_map(|(_, body)| serde_json::from_str(body).ok())
        .collect();
    list.reply(&events, page.next.map(|n| n.to_string()).as_deref())
}

/// 410 `events_expired`, with the oldest sequence still kept: the event after `after` is past
/// its retention.
pub(crate) async fn expired_after(
    app: &App,
    ctx: &Ctx,
    partner: &PartnerId,
    after: u64,
) -> Problem {
    let oldest = match app.store.oldest_sequence(partner, ctx.now).await {
        Ok(oldest) => oldest,
        Err(e) => return e.into(),
    };
    Problem::new(
        410,
        "events_expired",
        format!("events after {after} are no longer kept; read from the oldest sequence kept"),
    )
    .with("oldest_sequence", oldest.into())
}

/// GET /events/{event_id}: one of the partner's events once it is listed (another
/// partner's, one not yet sequenced or a test event is 404).
async fn get_event(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let partner = partner_of(p)?;
    let id = path.id::<EventId>("event_id")?;
    let (event, body) = app
        .store
        .sequenced_event(&id)
        .await?
        .filter(|(e, _)| &e.partner_id == partner)
        .ok_or_else(|| Problem::not_found("event"))?;
    let shown: Value = serde_json::from_str(&body).map_err(|_| Problem::unavailable())?;
    if event.occurred_at + vls_runtime::config::event_retention() <= ctx.now {
        return Err(Problem::not_found("event"));
    }
    Ok(Reply::ok(&shown).with_etag())
}
