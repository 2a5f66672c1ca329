//! A partner's webhook endpoints (SPEC §6.5): its own only (another partner's is 404, as one
//! that does not exist), at most ten. The signing secret is made here, shown once (on create
//! and on rotate) and kept sealed with the webhook key, in the endpoint and in the idempotency
//! record of the answer that shows it.

use vls_domain::model::{DisabledReason, Partner, WebhookEndpoint};
use vls_domain::principal::Principal;
use vls_domain::rules::endpoints::{self, EndpointSpec};
use vls_domain::types::{EndpointId, PartnerId};
use vls_domain::webhooks::secret_from;
use vls_http::paging::List;
use vls_http::views::{EndpointView, EndpointWithSecret};
use vls_http::{Answer, Ctx, Params, Planned, Problem, Reply, mutate};
use vls_runtime::resolve::Unreachable;

use crate::App;

use vls_http::sealing::WEBHOOK_SECRET as SECRET_PURPOSE;

pub(crate) fn partner_of(p: &Principal) -> Result<&PartnerId, Problem> {
    match p {
        Principal::Partner { partner_id, .. } => Ok(partner_id),
        _ => Err(Problem::forbidden()),
    }
}

fn forbidden_url(detail: String) -> Problem {
    Problem::new(422, "webhook_url_forbidden", detail).at_field("url")
}

/// Every address the URL's host resolves to must be one a delivery may connect to (an
/// address literal was checked with the URL itself); a name that does not resolve is refused.
/// The check each attempt makes again (`vls_runtime::resolve`).
async fn resolves_allowed(app: &App, spec: &EndpointSpec) -> Result<(), Problem> {
    let url = url::Url::parse(&spec.url).map_err(|_| forbidden_url("not a URL".into()))?;
    let Some(host @ url::Host::Domain(name)) = url.host() else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(443);
    match app.resolver.checked(host, port, |_| false).await {
        Ok(_) => Ok(()),
        Err(Unreachable::Unresolved(_)) => Err(forbidden_url(format!("{name} does not resolve"))),
        Err(Unreachable::Forbidden { what, .. }) => {
            Err(forbidden_url(format!("{name} resolves to {what}")))
        }
    }
}

/// The body of a create or an update, its host's addresses checked.
async fn spec_of(app: &App, ctx: &Ctx) -> Result<EndpointSpec, Problem> {
    let local = app.config.is_local();
    let spec = ctx.parse(|body| endpoints::spec(body, local))?;
    resolves_allowed(app, &spec).await?;
    Ok(spec)
}

/// A new signing secret, and its sealed form.
fn new_secret(app: &App) -> Result<(String, String), Problem> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|_| Problem::unavailable())?;
    let secret = secret_from(random);
    let sealed = app
        .sealing
        .seal(SECRET_PURPOSE, &secret)
        .ok_or_else(Problem::unavailable)?;
    Ok((secret, sealed))
}

/// The caller's partner as registered (403 `unknown_partner` if it is not).
async fn registered(app: &App, partner: &PartnerId) -> Result<Partner, Problem> {
    app.store
        .partner(partner)
        .await?
        .ok_or_else(|| vls_domain::error::RuleError::UnknownPartner.into())
}

/// The caller's partner and the endpoint the path names (404 unless it is the partner's).
pub(crate) async fn partner_and_endpoint(
    app: &App,
    ctx: &Ctx,
    path: &Params,
) -> Result<(Partner, WebhookEndpoint), Problem> {
    let partner = partner_of(ctx.principal()?)?;
    let id = path.id::<EndpointId>("endpoint_id")?;
    match app.store.partner_and_endpoint(partner, &id).await? {
        (Some(p), Some(e)) => Ok((p, e)),
        _ => Err(Problem::not_found("webhook endpoint")),
    }
}

/// POST /webhook-endpoints: 201 with the secret, shown this once.
pub(crate) async fn create(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let p = ctx.principal()?;
    let partner = partner_of(p)?;
    let spec = &spec_of(app, ctx).await?;
    let (secret, sealed) = &new_secret(app)?;
    let id = &EndpointId::generate();
    mutate(&app.store, ctx, move || async move {
        let read = registered(app, partner).await?;
        let made = endpoints::create(&read, spec.clone(), (id.clone(), sealed.clone()), ctx.now)?;
        let shown = EndpointWithSecret {
            endpoint: EndpointView::from(&made.outcome),
            secret,
        };
        let reply = Reply::created(&shown, format!("/webhook-endpoints/{id}"));
        Ok(Planned::by(p, reply, made.change).sealed_in_record())
    })
    .await
}

/// GET /webhook-endpoints: the partner's endpoints, a page at a time, oldest first.
pub(crate) async fn list(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let p = ctx.principal()?;
    let partner = partner_of(p)?;
    let key = app.config.cursor_key.as_ref();
    let names = ("webhook_endpoints", "webhook_endpoints");
    let mut list = List::new(key, names, partner.as_str(), None, p);
    let asked = list.asked(ctx)?;
    let page = app
        .store
        .endpoints_page(
            partner,
            asked.after.as_deref(),
            asked.limit,
            asked.descending,
        )
        .await?;
    let shown: Vec<EndpointView> = page.items.iter().map(EndpointView::from).collect();
    list.reply(&shown, page.next.as_deref())
}

/// GET /webhook-endpoints/{id}
pub(crate) async fn get(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let (_, e) = partner_and_endpoint(app, ctx, path).await?;
    Ok(Reply::ok(&EndpointView::from(&e)).with_etag())
}

/// PUT /webhook-endpoints/{id}: the same body as a create; `If-Match` honoured.
pub(crate) async fn update(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    partner_and_endpoint(app, ctx, path).await?;
    let spec = &spec_of(app, ctx).await?;
    mutate(&app.store, ctx, move || async move {
        let (partner, e) = partner_and_endpoint(app, ctx, path).await?;
        ctx.precondition(&EndpointView::from(&e))?;
        let done = endpoints::update(&partner, &e, spec.clone());
        let reply = Reply::ok(&EndpointView::from(&done.outcome)).with_etag();
        Ok(Planned::by(p, reply, done.change))
    })
    .await
}

/// DELETE /webhook-endpoints/{id}: 204; `If-Match` honoured.
pub(crate) async fn delete(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    mutate(&app.store, ctx, move || async move {
        let (partner, e) = partner_and_endpoint(app, ctx, path).await?;
        ctx.precondition(&EndpointView::from(&e))?;
        let change = endpoints::delete(&partner, &e);
        Ok(Planned::by(p, Reply::no_content(), change))
    })
    .await
}

/// POST /webhook-endpoints/{id}/disable and …/enable; `If-Match` honoured.
async fn switch(app: &App, ctx: &Ctx, path: &Params, on: bool) -> Answer {
    let p = ctx.principal()?;
    mutate(&app.store, ctx, move || async move {
        let (partner, e) = partner_and_endpoint(app, ctx, path).await?;
        ctx.precondition(&EndpointView::from(&e))?;
        let done = if on {
            endpoints::enable(&partner, &e)
        } else {
            endpoints::disable(&partner, &e, DisabledReason::ByPartner)
        };
        let reply = Reply::ok(&EndpointView::from(&done.outcome)).with_etag();
        Ok(Planned::by(p, reply, done.change))
    })
    .await
}

pub(crate) async fn disable(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    switch(app, ctx, path, false).await
}

pub(crate) async fn enable(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    switch(app, ctx, path, true).await
}

/// POST /webhook-endpoints/{id}/rotate-secret `{overlap_seconds?}`: 200 with the new secret,
/// shown this once; the current one signs too until the overlap ends.
pub(crate) async fn rotate(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    partner_and_endpoint(app, ctx, path).await?;
    // The body is optional: none keeps the default overlap.
    let overlap = if ctx.body_bytes().iter().all(u8::is_ascii_whitespace) {
        chrono::Duration::seconds(endpoints::DEFAULT_OVERLAP_SECONDS)
    } else {
        ctx.parse(endpoints::overlap)?
    };
    let (secret, sealed) = &new_secret(app)?;
    mutate(&app.store, ctx, move || async move {
        let (partner, e) = partner_and_endpoint(app, ctx, path).await?;
        ctx.precondition(&EndpointView::from(&e))?;
        let done = endpoints::rotate(&partner, &e, sealed.clone(), overlap, ctx.now);
        let shown = EndpointWithSecret {
            endpoint: EndpointView::from(&done.outcome),
            secret,
        };
        Ok(Planned::by(p, Reply::ok(&shown), done.change).sealed_in_record())
    })
    .await
}
