//! `remap`: billing support moves an agreement, with all its licences, to another account
//! (R15); a licensing specialist separates an agreement from its Online Services account (R7).

use lambda_http::{Body, Request, Response};
use vls_domain::audit::{AmendmentKind, Audit};
use vls_domain::input::Obj;
use vls_domain::metrics::Metric;
use vls_domain::model::Event;
use vls_domain::rules::remap;
use vls_domain::rules::remap::Remapped;
use vls_domain::sources::{Source, SourceKind};
use vls_http::views::{AmendmentView, RemapView};
use vls_http::{Access, Answer, Ctx, Params, Planned, Problem, Reply, Role, Route, mutate, route};

use vls_domain::types::{AccountId, AgreementId, AmendmentId};

/// Everything a request needs, built once per process.
pub type App = vls_runtime::config::Deps;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let ctx = Ctx::from_request(req, &app.config.auth, (app.clock)());
    vls_http::serve_routes(ROUTES, app, ctx).await
}

/// What this function serves.
pub static ROUTES: &[Route<App>] = &[
    route!(
        "POST",
        "/agreements/{agreement_id}/remap",
        Access::Roles(&[Role::BillingSupport]),
        remap
    ),
    route!(
        "POST",
        "/agreements/{agreement_id}/amendments",
        Access::Roles(&[Role::LicensingSpecialist]),
        amend
    ),
];

fn reason(b: &Obj<'_>) -> Result<String, vls_domain::error::FieldError> {
    b.text("reason", 1000)
}

/// POST /agreements/{id}/remap `{target_account_id, reason, accept_license_loss?}` (billing
/// support). R11 weighs the volume the old account and the agreement keep: no further read.
async fn remap(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id = &path.id::<AgreementId>("agreement_id")?;
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
                return Err(vls_domain::error::RuleError::AgreementNotAssociated.into());
            };
            let (current, target) = app.store.two_accounts(&from_id, target_id.as_ref()).await?;
            let current = current.ok_or_else(|| {
                Problem::new(500, "internal_error", "the associated account is missing")
            })?;
            let done = remap::remap(&a, &current, target.as_ref(), *accept)?;
            let read = (a.version, current.version);
            let lost = Some(done.accepted_shortfalls.clone()).filter(|s| !s.is_empty());
            let audit = Audit::AgreementRemapped {
                agreement_id: a.id.clone(),
                from_account_id: current.id.clone(),
                to_account_id: done.to.id.clone(),
                license_loss_accepted: lost.as_ref().map(|_| true),
                shortfalls: lost,
            };
            Ok(remapped(app, ctx.event(p, audit), read, &done, reason))
        }
    })
    .await
}

/// The remap's one transaction: the agreement and both accounts under the versions read
/// (`read`: the agreement's, the old account's), the event on the three trails.
fn remapped(app: &App, event: Event, read: (u64, u64), done: &Remapped, reason: &str) -> Planned {
    let (a, from, to) = (&done.agreement, &done.from, &done.to);
    let body = RemapView {
        agreement_id: &a.id,
        from_account_id: &from.id,
        to_account_id: &to.id,
    };
    let event = event.on_agreement(&a.id).because(reason);
    let mut tx = app.store.tx();
    tx.replace(a, read.0)
        .replace(from, read.1)
        .replace(to, to.version - 1)
        .drop_source(&from.id, SourceKind::Agreement, a.id.as_str())
        .put_source(&Source::agreement(a, &to.id))
        .event(&a.id, &event)
        .event(&from.id, &event)
        .event(&to.id, &event)
        .count(Metric::Remapped);
    Planned {
        reply: Reply::ok(&body),
        tx,
    }
}

/// POST /agreements/{id}/amendments `{kind: "separate_online_services", reason}`
/// (licensing specialists only).
async fn amend(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id = &path.id::<AgreementId>("agreement_id")?;
    let reason = &ctx.parse(|b| {
        let kind = b.str("kind")?;
        if kind != "separate_online_services" {
            return Err(vls_domain::error::FieldError::new(
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
        let id = AmendmentId::generate();
        let amendment = AmendmentView {
            id: &id,
            agreement_id: &a.id,
            kind: AmendmentKind::SeparateOnlineServices,
            reason,
            account_id: a.account_id.as_ref(),
            created_at: ctx.now,
        };
        let audit = Audit::AgreementAmended {
            id: id.clone(),
            agreement_id: a.id.clone(),
            kind: AmendmentKind::SeparateOnlineServices,
            reason: reason.clone(),
            account_id: a.account_id.clone(),
            created_at: ctx.now,
        };
        let event = ctx
            .event(p, audit)
            .on_agreement(&a.id)
            .on_account(a.account_id.as_ref())
            .because(reason);
        let mut tx = app.store.tx();
        tx.replace(&amended, a.version).event(&a.id, &event);
        if let Some(acc) = &a.account_id {
            let held = app.store.account(acc).await?;
            let held = held.ok_or_else(|| Problem::not_found("account"))?.version;
            tx.advance(acc, held).event(acc, &event);
        }
        Ok(Planned {
            reply: Reply::created(&amendment),
            tx,
        })
    })
    .await
}
