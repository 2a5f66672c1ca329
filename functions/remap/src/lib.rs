//! `remap`: billing support moves an agreement, with all its licences, to another account
//! (R15); a licensing specialist separates an agreement from its Online Services account (R7).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use vls::http::{Ctx, Planned, Problem, Reply, Role, method_not_allowed, mutate, unrouted};
use vls::input::Obj;
use vls::model::Account;
use vls::rules::{cancellation, remap};
use vls::store::{self, keys};
use vls::types::{AccountId, AgreementId, AmendmentId};

/// Everything a request needs, built once per process.
pub type App = vls::config::Deps;

type Answer = Result<Reply, Problem>;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let ctx = Ctx::from_request(req, &app.config.auth, (app.clock)());
    vls::http::serve(&ctx, || route(app, &ctx)).await
}

async fn route(app: &App, ctx: &Ctx) -> (&'static str, Answer) {
    match ctx.segments().as_slice() {
        ["agreements", id, "remap"] => (
            "/agreements/{agreement_id}/remap",
            match ctx.method {
                Method::POST => remap(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        ["agreements", id, "amendments"] => (
            "/agreements/{agreement_id}/amendments",
            match ctx.method {
                Method::POST => amend(app, ctx, id).await,
                _ => method_not_allowed(),
            },
        ),
        _ => unrouted(),
    }
}

fn reason(b: &Obj<'_>) -> Result<String, vls::error::FieldError> {
    b.text("reason", 1000)
}

/// POST /agreements/{id}/remap `{target_account_id, reason, accept_license_loss?}` (billing
/// support). The old account's volume is read only when cancelled subscriptions rely on it.
async fn remap(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::BillingSupport])?;
    let id = &AgreementId::parse(raw).ok_or_else(|| Problem::not_found("agreement"))?;
    let (target_raw, reason, accept) = &ctx.parse(|b| {
        Ok((
            b.str("target_account_id")?.trim().to_owned(),
            reason(b)?,
            b.opt_bool("accept_license_loss")?.unwrap_or(false),
        ))
    })?;
    // An id that cannot exist names no account.
    let target_id = AccountId::parse(target_raw);
    mutate(&app.store, ctx, move || {
        let target_id = target_id.clone();
        async move {
            let a = app
                .store
                .agreement(id)
                .await?
                .ok_or_else(|| Problem::not_found("agreement"))?;
            let Some(from_id) = a.account_id.clone() else {
                return Err(vls::error::RuleError::AgreementNotAssociated.into());
            };
            let (current, target) = app.store.two_accounts(&from_id, target_id.as_ref()).await?;
            let current = current.ok_or_else(|| {
                Problem::new(500, "internal_error", "the associated account is missing")
            })?;
            let leaving = leaving(app, &current, &a.id).await?;
            let done = remap::remap(&a, &current, target.as_ref(), &leaving, *accept)?;
            let body = json!({
                "agreement_id": a.id,
                "from_account_id": done.from.id,
                "to_account_id": done.to.id,
            });
            let mut event = ctx.event(p, "agreement.remapped");
            event.agreement_id = Some(a.id.clone());
            event.reason = Some(reason.clone());
            event.details = body.clone();
            if !done.accepted_shortfalls.is_empty() {
                event.details["license_loss_accepted"] = json!(true);
                event.details["shortfalls"] = json!(done.accepted_shortfalls);
            }
            let (from, to) = (&done.from, &done.to);
            let mut tx = app.store.tx();
            tx.replace(
                "agreement",
                store::agreement_item(&done.agreement),
                a.version,
            )
            .replace(
                "from_account",
                store::encode(from, &keys::account(&from.id), "account"),
                current.version,
            )
            .replace(
                "to_account",
                store::encode(to, &keys::account(&to.id), "account"),
                to.version - 1,
            )
            .event(keys::agreement_events(&a.id), &event)
            .event(keys::account_events(&from.id), &event)
            .event(keys::account_events(&to.id), &event);
            Ok(Planned {
                reply: Reply::ok(&body),
                tx,
            })
        }
    })
    .await
}

/// R11's view of what the remap takes from the old account: its volume and the agreement's,
/// read (one query per agreement of the account) only when something relies on cover.
async fn leaving(
    app: &App,
    current: &Account,
    agreement: &AgreementId,
) -> Result<remap::Leaving, Problem> {
    if !cancellation::relies_on_any(current, current.relied_on.keys().copied()) {
        return Ok(remap::Leaving::default());
    }
    let holdings = app.store.account_holdings(current).await?;
    let agreement_volume = holdings
        .iter()
        .find(|h| &h.agreement.id == agreement)
        .map(cancellation::agreement_volume)
        .unwrap_or_default();
    Ok(remap::Leaving {
        account_volume: cancellation::account_volume(current, &holdings),
        agreement_volume,
    })
}

/// POST /agreements/{id}/amendments `{kind: "separate_online_services", reason}`
/// (licensing specialists only).
async fn amend(app: &App, ctx: &Ctx, raw: &str) -> Answer {
    let p = ctx.caller(&[Role::LicensingSpecialist])?;
    let id = &AgreementId::parse(raw).ok_or_else(|| Problem::not_found("agreement"))?;
    let reason = &ctx.parse(|b| {
        let kind = b.str("kind")?;
        if kind != "separate_online_services" {
            return Err(vls::error::FieldError::new(
                "kind",
                "unknown_amendment",
                format!("{kind:?} is not separate_online_services"),
            ));
        }
        reason(b)
    })?;
    mutate(&app.store, ctx, move || async move {
        let a = app
            .store
            .agreement(id)
            .await?
            .ok_or_else(|| Problem::not_found("agreement"))?;
        let amended = remap::separate_online_services(&a)?;
        let amendment = json!({
            "id": AmendmentId::generate(),
            "agreement_id": a.id,
            "kind": "separate_online_services",
            "reason": reason,
            "account_id": a.account_id,
            "created_at": ctx.now,
        });
        let mut event = ctx.event(p, "agreement.amended");
        event.agreement_id = Some(a.id.clone());
        event.account_id = a.account_id.clone();
        event.reason = Some(reason.clone());
        event.details = amendment.clone();
        let mut tx = app.store.tx();
        tx.replace("agreement", store::agreement_item(&amended), a.version)
            .event(keys::agreement_events(&a.id), &event);
        if let Some(acc) = &a.account_id {
            tx.event(keys::account_events(acc), &event);
        }
        Ok(Planned {
            reply: Reply::created(&amendment),
            tx,
        })
    })
    .await
}
