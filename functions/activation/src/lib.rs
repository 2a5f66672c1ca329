//! `activation`: the link page the OSM opens (R6, R8), associating the agreement with an
//! account (JSON with a bearer header, or the page's own form), and resends (R9).
//!
//! `/activate/{token}` has no gateway authorizer: the page needs only the link, and the form
//! carries the admin's token in its body, so this function verifies bearer tokens itself.

mod pages;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use vls::access;
use vls::config::{Clock, Config};
use vls::error::FieldError;
use vls::http::auth::SelfVerifier;
use vls::http::{
    Ctx, Planned, Principal, Problem, Reply, Role, method_not_allowed, mutate, unrouted,
};
use vls::input::Obj;
use vls::model::{MailIntent, MailReason, OrderSource, OrderStatus};
use vls::rules::activation::{self, LinkToken, link_state};
use vls::store::{self, Store, keys};
use vls::types::{AccountId, AgreementId};

pub struct App {
    pub store: Store,
    pub config: Config,
    pub verifier: SelfVerifier,
    pub clock: Clock,
}

type Answer = Result<Reply, Problem>;

/// R9: attempts at counting a wrong answer against concurrent ones before giving up (409).
const MISMATCH_ATTEMPTS: u32 = 8;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let is_activation = req.uri().path().starts_with("/activate/");
    let ctx = Ctx::from_request(req, &app.config.auth, (app.clock)());
    // The activation routes verify the bearer header themselves (no gateway authorizer).
    let ctx = if is_activation {
        let p = app.verifier.from_header(ctx.header("authorization"));
        ctx.with_principal(p)
    } else {
        ctx
    };
    vls::http::serve(&ctx, || route(app, &ctx)).await
}

async fn route(app: &App, ctx: &Ctx) -> (&'static str, Answer) {
    let segments = ctx.segments();
    match segments.as_slice() {
        ["activate", token] => (
            "/activate/{token}",
            match ctx.method {
                Method::GET => Ok(page(app, ctx, token).await),
                Method::POST if is_form(ctx) => Ok(submit_form(app, ctx, token).await),
                Method::POST => submit_json(app, ctx, token).await,
                _ => method_not_allowed(),
            },
        ),
        ["agreements", id, "activation-email", "resend"] => (
            "/agreements/{agreement_id}/activation-email/resend",
            match ctx.method {
                Method::POST => resend(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        _ => unrouted(),
    }
}

fn is_form(ctx: &Ctx) -> bool {
    ctx.header("content-type").is_some_and(|c| {
        c.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    })
}

/// GET /activate/{token}: the page. Unknown links 404, spent/expired/replaced ones 410.
async fn page(app: &App, ctx: &Ctx, raw: &str) -> Reply {
    let Some(token) = LinkToken::parse(raw) else {
        return pages::unknown();
    };
    match app.store.activation_link(&token.hash()).await {
        Err(e) => pages::problem(&Problem::from(e)),
        Ok(None) => pages::unknown(),
        Ok(Some((link, agreement, orders))) => match link_state(&link, &agreement, ctx.now) {
            activation::LinkState::Usable => pages::activation(&agreement, &orders, &link),
            state => pages::gone(state),
        },
    }
}

/// The page's form: `account_id` and the admin's `access_token` (RFC 6750 §2.2).
async fn submit_form(app: &App, ctx: &Ctx, raw: &str) -> Reply {
    let mut account = None;
    let mut access_token = None;
    for (k, v) in form_urlencoded::parse(ctx.body_bytes()) {
        match k.as_ref() {
            "account_id" => account = Some(v.trim().to_owned()),
            "access_token" => access_token = Some(v.trim().to_owned()),
            _ => {}
        }
    }
    let principal = match access_token.filter(|t| !t.is_empty()) {
        Some(t) => app.verifier.principal(&t),
        None => Err(Problem::unauthorized(
            "sign in: the form needs your access token",
        )),
    };
    let Some(account) = account.filter(|a| !a.is_empty()) else {
        return pages::problem(&Problem::from(FieldError::new(
            "account_id",
            "missing_field",
            "is required",
        )));
    };
    match associate(app, ctx, raw, principal, &account).await {
        Ok(done) => pages::associated(&done),
        Err(p) => pages::problem(&p),
    }
}

/// JSON `{account_id}` with the admin's bearer header.
async fn submit_json(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    // 401 and 403 before the body is looked at.
    let principal = ctx.caller(&[Role::CustomerAdmin])?.clone();
    let account = ctx.parse(|b| Ok(b.str("account_id")?.trim().to_owned()))?;
    let done = associate(app, ctx, raw, Ok(principal), &account).await?;
    Ok(Reply::ok(&done))
}

/// R6/R7: the admin of the target account associates the link's agreement with it.
async fn associate(
    app: &App,
    ctx: &Ctx,
    raw: &str,
    principal: Result<Principal, Problem>,
    account_raw: &str,
) -> Result<Value, Problem> {
    let p = principal?;
    p.require(&[Role::CustomerAdmin])?;
    let token = LinkToken::parse(raw).ok_or_else(|| Problem::not_found("activation link"))?;
    // Someone else's account does not exist for this admin.
    let account_id = AccountId::parse(account_raw)
        .filter(|a| access::account_visible(&p, a))
        .ok_or_else(|| Problem::not_found("account"))?;
    let (p, account_id, token) = (&p, &account_id, &token);
    let reply = mutate(&app.store, ctx, move || async move {
        let (found, target) = app
            .store
            .link_for_association(&token.hash(), account_id)
            .await?;
        let (link, agreement, orders) =
            found.ok_or_else(|| Problem::not_found("activation link"))?;
        let target = target.ok_or_else(|| Problem::not_found("account"))?;
        let done = activation::associate(&agreement, &link, &target, ctx.now)?;
        let attached: Vec<_> = orders
            .iter()
            .filter(|o| o.source == OrderSource::Order && o.status == OrderStatus::Invoiced)
            .map(|o| o.id.clone())
            .collect();
        let body = json!({
            "agreement_id": agreement.id,
            "account_id": target.id,
            "attached_orders": attached,
        });
        let mut event = ctx.event(p, "activation.completed");
        event.agreement_id = Some(agreement.id.clone());
        event.account_id = Some(target.id.clone());
        event.details = json!({ "attached_orders": attached, "program": agreement.program });
        let mut tx = app.store.tx();
        tx.put_if(
            "link",
            store::encode(
                &done.link,
                &keys::activation_link(&token.hash()),
                "activation_link",
            ),
            "attribute_not_exists(used_at)",
        )
        .replace(
            "agreement",
            store::agreement_item(&done.agreement),
            agreement.version,
        )
        .replace(
            "account",
            store::encode(&done.account, &keys::account(&target.id), "account"),
            target.version,
        )
        .event(keys::agreement_events(&agreement.id), &event)
        .event(keys::account_events(&target.id), &event);
        Ok(Planned {
            reply: Reply::ok(&body),
            tx,
        })
    })
    .await?;
    Ok(serde_json::from_str(&reply.body).unwrap_or(Value::Null))
}

/// POST /agreements/{id}/activation-email/resend (R9): role, lockout, company, state.
async fn resend(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::BillingSupport])?;
    let id = AgreementId::parse(raw).ok_or_else(|| Problem::not_found("agreement"))?;
    // Only the company information is read; any recipient in the body is ignored.
    let (legal_name, country) =
        ctx.parse(|b: &Obj<'_>| Ok((b.text("legal_name", 200)?, b.text("country", 100)?)))?;
    // A wrong answer is counted before it is refused, and it never falls through to sending:
    // when concurrent wrong answers keep winning the counter's conditional write, this one
    // gives up with 409 rather than go on unverified.
    let mut verified = false;
    for round in 0..MISMATCH_ATTEMPTS {
        let (agreement, mismatches) = app.store.agreement_and_mismatches(&id).await?;
        let agreement = agreement.ok_or_else(|| Problem::not_found("agreement"))?;
        if let Some(until) = activation::locked_until(mismatches.as_ref(), ctx.now) {
            return Err(vls::error::RuleError::TooManyAttempts { until }.into());
        }
        if activation::company_matches(&agreement, &legal_name, &country) {
            verified = true;
            break;
        }
        let after = activation::count_mismatch(mismatches.as_ref(), ctx.now);
        if app
            .store
            .record_mismatch(&id, mismatches.as_ref(), &after)
            .await?
        {
            tracing::warn!(agreement_id = %id, mismatches = after.count, "resend: company information did not match");
            return Err(vls::error::RuleError::CompanyMismatch.into());
        }
        // A concurrent mismatch moved the counter: count this one on top of it.
        tokio::time::sleep(vls::http::idempotency::backoff(round)).await;
    }
    if !verified {
        return Err(Problem::concurrent_update());
    }
    let id = &id;
    mutate(&app.store, ctx, move || async move {
        let before = app
            .store
            .agreement(id)
            .await?
            .ok_or_else(|| Problem::not_found("agreement"))?;
        let after = activation::resend(&before)?;
        let mail = MailIntent::activation(before.id.clone(), None, MailReason::Resend, ctx.now);
        let sent_to = before.osm.email.masked();
        let mut event = ctx.event(p, "activation_email.resend_requested");
        event.agreement_id = Some(before.id.clone());
        event.details = json!({ "mail_id": mail.id, "sent_to": sent_to });
        let mut tx = app.store.tx();
        tx.replace("agreement", store::agreement_item(&after), before.version)
            .create("mail", store::mail_item(&mail))
            .event(keys::agreement_events(&before.id), &event);
        Ok(Planned {
            reply: Reply::json(202, &json!({ "sent_to": sent_to })),
            tx,
        })
    })
    .await
}
