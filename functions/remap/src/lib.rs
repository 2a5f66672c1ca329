//! `remap`: billing support moves an agreement, with all its licences, to another account
//! (R15); a licensing specialist separates an agreement from its Online Services account (R7).

use lambda_http::{Body, Request, Response};
use vls_domain::input::Obj;
use vls_domain::model::{Account, Agreement};
use vls_domain::rules::remap;
use vls_http::views::{AgreementView, AmendmentView, RemapView};
use vls_http::{
    Access, Answer, Ctx, Params, Planned, Problem, Reply, Role, Route, associated_account, mutate,
    route,
};

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

/// `{kind: "separate_online_services", reason}`: the reason.
fn amendment(b: &Obj<'_>) -> Result<String, vls_domain::error::FieldError> {
    let kind = b.str("kind")?;
    if kind != "separate_online_services" {
        return Err(vls_domain::error::FieldError::new(
            "kind",
            "unknown_amendment",
            format!("{kind:?} is not separate_online_services"),
        ));
    }
    reason(b)
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
    let target_id = &AccountId::parse(target_raw);
    mutate(&app.store, ctx, move || async move {
        let (a, current, target) = remap_reads(app, ctx, id, target_id.as_ref()).await?;
        let done = remap::remap(&a, &current, target.as_ref(), *accept)?;
        let reply = Reply::ok(&RemapView {
            agreement_id: &a.id,
            from_account_id: &current.id,
            to_account_id: &done.to.id,
        });
        Ok(Planned::by(p, reply, done.change.because(reason)))
    })
    .await
}

/// The agreement, the account it is associated with and the target account (one read for
/// both accounts). Under `If-Match` the agreement must be the one named; one that is not
/// associated is refused before the accounts are read.
async fn remap_reads(
    app: &App,
    ctx: &Ctx,
    id: &AgreementId,
    target_id: Option<&AccountId>,
) -> Result<(Agreement, Account, Option<Account>), Problem> {
    let a = app
        .store
        .agreement(id)
        .await?
        .ok_or_else(|| Problem::not_found("agreement"))?;
    ctx.precondition(&AgreementView::from(&a))?;
    let Some(from_id) = a.account_id.clone() else {
        return Err(vls_domain::error::RuleError::AgreementNotAssociated.into());
    };
    let (current, target) = app.store.two_accounts(&from_id, target_id).await?;
    let current = current
        .ok_or_else(|| Problem::new(500, "internal_error", "the associated account is missing"))?;
    Ok((a, current, target))
}

/// POST /agreements/{id}/amendments `{kind: "separate_online_services", reason}`
/// (licensing specialists only).
async fn amend(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id = &path.id::<AgreementId>("agreement_id")?;
    let reason = &ctx.parse(amendment)?;
    mutate(&app.store, ctx, move || async move {
        let a = app
            .store
            .agreement(id)
            .await?
            .ok_or_else(|| Problem::not_found("agreement"))?;
        ctx.precondition(&AgreementView::from(&a))?;
        let held = associated_account(&app.store, &a).await?;
        let amendment_id = AmendmentId::generate();
        let amended = remap::amend(&a, held.as_ref(), amendment_id.clone(), reason, ctx.now)?;
        let reply = AmendmentView::separation(&amendment_id, &a, reason, ctx.now);
        // An amendment has no resource of its own: what it changed is its agreement.
        let reply = Reply::created(&reply, format!("/agreements/{}", a.id));
        Ok(Planned::by(p, reply, amended.change))
    })
    .await
}
