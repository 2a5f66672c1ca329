//! `activation`: the link page the OSM opens, the sign-in with the organisation's identity
//! provider and the confirmation (R6, R8, SPEC §3.1), the JSON association for programs, and
//! resends (R9).
//!
//! `/activate/{token}` and `/sign-in/callback` have no gateway authorizer: the pages need only
//! the link and the sign-in (`vls_signin`), and the JSON route's bearer token is verified here.

mod pages;
mod signin;

use std::sync::Mutex;

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use vls_domain::access;
use vls_domain::audit::{AssociatedVia, SkuQuantity};
use vls_domain::catalog::Sku;
use vls_domain::change::Stamp;
use vls_domain::input::Obj;
use vls_domain::model::{Account, ActivationLink, Agreement};
use vls_domain::rules::activation::{self, LinkToken};
use vls_domain::types::{AccountId, AgreementId};
use vls_http::auth::SelfVerifier;
use vls_http::idempotency::{IdempotencyKey, key_of, mutate_keyed};
use vls_http::views::ResendView;
use vls_http::{
    Access, Answer, Ctx, Params, Planned, Principal, Problem, Reply, Role, Route, mutate, route,
};
use vls_runtime::config::{Clock, Config, Startup};
use vls_runtime::secrets::Secret;
use vls_signin::SignInSetup;
use vls_signin::oidc::OidcError;
use vls_store::{Store, StoreError, TxFailure};

pub struct App {
    pub store: Store,
    pub config: Config,
    pub verifier: SelfVerifier,
    pub clock: Clock,
    pub sign_in: SignInSetup,
}

impl App {
    /// Configuration, the cookie key and the client secret, and clients from the environment.
    pub async fn from_env() -> Result<Self, vls_runtime::config::ConfigError> {
        let needs = [Secret::CookieKey, Secret::OidcClientSecret];
        let Startup {
            config,
            sdk,
            secrets,
        } = Startup::from_env(&needs).await?;
        Ok(Self {
            store: vls_runtime::config::store(&sdk, &config),
            verifier: SelfVerifier::from_env(&config.auth),
            sign_in: SignInSetup::from_env(config.is_local(), secrets),
            config,
            clock: vls_runtime::config::system_clock(),
        })
    }
}

/// R9: attempts at counting a wrong answer against concurrent ones before giving up (409).
const MISMATCH_ATTEMPTS: u32 = 8;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let is_activation = req.uri().path().starts_with("/activate/");
    let ctx = Ctx::from_request(req, &app.config.auth, (app.clock)());
    // The activation routes verify the bearer header themselves (no gateway authorizer).
    let ctx = if is_activation {
        let p = bearer_principal(app, ctx.header("authorization")).await;
        ctx.with_principal(p)
    } else {
        ctx
    };
    vls_http::serve_routes(ROUTES, app, ctx).await
}

/// The caller an `Authorization: Bearer` header names: a local token on the local stack;
/// deployed, a token of the identity provider, verified with its keys.
async fn bearer_principal(app: &App, header: Option<&str>) -> Result<Principal, Problem> {
    match (&app.verifier, &app.sign_in.provider) {
        (SelfVerifier::Local(_), _) => app.verifier.from_header(header),
        (SelfVerifier::Provider, Some(provider)) => {
            let token = vls_http::auth::bearer(header)?;
            match provider.verify_bearer(token).await {
                Ok(claims) => provider.principal(&claims),
                Err(OidcError::Unreachable(why)) => {
                    tracing::warn!(error = %why, "identity provider unreachable");
                    Err(Problem::unavailable())
                }
                Err(e) => Err(Problem::unauthorized(format!("invalid token: {e}"))),
            }
        }
        (SelfVerifier::Provider, None) => Err(Problem::unauthorized(
            "this deployment has no identity provider to verify such tokens",
        )),
    }
}

/// What this function serves. The pages and the sign-in need no token (the link and the
/// sign-in are what they check); the JSON association's bearer is verified here.
pub static ROUTES: &[Route<App>] = &[
    route!(
        "GET",
        "/activate/{token}",
        Access::Public,
        signin::page_route
    ),
    route!("POST", "/activate/{token}", ADMIN, submit_json),
    route!(
        "GET",
        "/activate/{token}/sign-in",
        Access::Public,
        signin::sign_in_route
    ),
    route!(
        "POST",
        "/activate/{token}/confirm",
        Access::Public,
        signin::confirm_route
    ),
    route!(
        "GET",
        "/sign-in/callback",
        Access::Public,
        signin::callback_route
    ),
    route!(
        "POST",
        "/agreements/{agreement_id}/activation-email/resend",
        Access::Roles(&[Role::BillingSupport]),
        resend
    ),
];

const ADMIN: Access = Access::Roles(&[Role::CustomerAdmin]);

/// POST /activate/{token} for programs: JSON `{account_id}` with the admin's bearer header.
async fn submit_json(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    // 401 and 403 (the route's) came before the body is looked at.
    let p = ctx.principal()?;
    let raw = path.get("token");
    let account_raw = ctx.parse(|b| Ok(b.str("account_id")?.trim().to_owned()))?;
    let token = LinkToken::parse(raw).ok_or_else(|| Problem::not_found("activation link"))?;
    // Someone else's account does not exist for this admin.
    let account_id = AccountId::parse(&account_raw)
        .filter(|a| access::account_visible(p, a))
        .ok_or_else(|| Problem::not_found("account"))?;
    let association = Association {
        principal: p,
        account: &account_id,
        key: key_of(ctx)?,
        via: AssociatedVia::Api,
    };
    let outcome = associate_as(app, ctx, &token, association, |_| Ok(())).await?;
    Ok(outcome.reply())
}

/// What an association did: the agreement, the account it is now associated with, and what
/// the agreement's invoiced orders attached, per SKU. The JSON route answers it as it is; the
/// confirm draws "Licences associated" from it. (Its fields are in the order the API has
/// always answered them.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Associated {
    pub account_id: AccountId,
    pub agreement_id: AgreementId,
    pub attached_orders: Vec<SkuQuantity>,
}

impl Associated {
    /// What associating `agreement` with `account` attaches: its invoiced orders, per SKU.
    fn of(agreement: &Agreement, account: &AccountId) -> Self {
        Self {
            account_id: account.clone(),
            agreement_id: agreement.id.clone(),
            attached_orders: vls_domain::mail::to_associate(agreement)
                .into_iter()
                .map(|(sku, quantity)| SkuQuantity { quantity, sku })
                .collect(),
        }
    }
}

/// An association's outcome: what was associated, and whether it is the first outcome
/// answered again (the same form, or the same `Idempotency-Key`, sent twice).
pub(crate) struct Outcome {
    pub associated: Associated,
    pub replayed: bool,
}

impl Outcome {
    /// The outcome `reply` answers: this request's own (what the attempt that committed
    /// left in `planned`), or the first outcome answered again, as it was stored.
    fn of(reply: &Reply, planned: &Mutex<Option<Associated>>) -> Result<Self, Problem> {
        let fresh = if reply.replayed {
            None
        } else {
            planned.lock().ok().and_then(|mut last| last.take())
        };
        let associated = match fresh {
            Some(associated) => associated,
            None => stored_association(reply)?,
        };
        Ok(Self {
            associated,
            replayed: reply.replayed,
        })
    }

    /// The JSON answer.
    fn reply(&self) -> Reply {
        Reply {
            replayed: self.replayed,
            ..Reply::ok(&self.associated)
        }
    }
}

/// What a stored first answer of an association says was associated.
pub(crate) fn stored_association(reply: &Reply) -> Result<Associated, Problem> {
    serde_json::from_str(&reply.body)
        .map_err(|e| StoreError::Corrupt(format!("a stored association: {e}")).into())
}

/// Who associates a link's agreement with which account, under which idempotency key, and
/// how (`via`, which the audit event records).
pub(crate) struct Association<'a> {
    pub principal: &'a Principal,
    pub account: &'a AccountId,
    pub key: Option<IdempotencyKey>,
    pub via: AssociatedVia,
}

/// R6/R7: the administrator of an account associates the link's agreement with it.
/// `check` may refuse on the agreement as read (the confirmation's acknowledgement). The
/// outcome is what the attempt that committed associated (a lost race runs another attempt).
pub(crate) async fn associate_as(
    app: &App,
    ctx: &Ctx,
    token: &LinkToken,
    association: Association<'_>,
    check: impl Fn(&Agreement) -> Result<(), Problem>,
) -> Result<Outcome, Problem> {
    let (p, account_id, check) = (association.principal, association.account, &check);
    let via = &association.via;
    let planned = &Mutex::new(None);
    let reply = mutate_keyed(&app.store, ctx, association.key, move || async move {
        let (link, agreement, target) = association_reads(app, token, account_id).await?;
        let (hash, via) = (token.hash(), via.clone());
        let done = activation::activate(&agreement, &link, &hash, &target, via, ctx.now)?;
        check(&agreement)?;
        let associated = Associated::of(&agreement, &target.id);
        let reply = Reply::ok(&associated);
        if let Ok(mut last) = planned.lock() {
            *last = Some(associated);
        }
        Ok(Planned::by(p, reply, done.change))
    })
    .await?;
    Outcome::of(&reply, planned)
}

/// The link, its agreement and the account it is to be associated with: one read.
async fn association_reads(
    app: &App,
    token: &LinkToken,
    account_id: &AccountId,
) -> Result<(ActivationLink, Agreement, Account), Problem> {
    let (found, target) = app
        .store
        .link_for_association(&token.hash(), account_id)
        .await?;
    let (link, agreement) = found.ok_or_else(|| Problem::not_found("activation link"))?;
    let target = target.ok_or_else(|| Problem::not_found("account"))?;
    Ok((link, agreement, target))
}

/// The account's pool totals per SKU (for the "Licences associated" page): the account alone.
pub(crate) async fn pool_totals(app: &App, id: &AccountId) -> Vec<(Sku, u64)> {
    let Ok(Some(account)) = app.store.account(id).await else {
        return Vec::new();
    };
    vls_domain::rules::pool::totals(&account)
        .skus
        .iter()
        .map(|s| (s.sku, s.total))
        .collect()
}

/// R9: the company information must match. A wrong answer is counted before it is refused,
/// and it never falls through to sending: when concurrent wrong answers keep winning the
/// counter's conditional write, this one gives up with 409 rather than go on unverified.
async fn verify_company(
    app: &App,
    ctx: &Ctx,
    id: &AgreementId,
    (legal_name, country): (&str, &str),
    stamp: &Stamp,
) -> Result<(), Problem> {
    for round in 0..MISMATCH_ATTEMPTS {
        let (agreement, mismatches) = app.store.agreement_and_mismatches(id).await?;
        let agreement = agreement.ok_or_else(|| Problem::not_found("agreement"))?;
        if let Some(until) = activation::locked_until(mismatches.as_ref(), ctx.now) {
            return Err(vls_domain::error::RuleError::TooManyAttempts { until }.into());
        }
        if activation::company_matches(&agreement, legal_name, country) {
            return Ok(());
        }
        let counted = activation::mismatch(id, mismatches.as_ref(), ctx.now);
        match app.store.commit_change(&counted.change, stamp).await {
            Ok(()) => {
                tracing::warn!(agreement_id = %id, mismatches = counted.outcome.count,
                    "resend: company information did not match");
                return Err(vls_domain::error::RuleError::CompanyMismatch.into());
            }
            Err(TxFailure::Store(e)) => return Err(e.into()),
            // A concurrent mismatch moved the counter: count this one on top of it.
            Err(_) => tokio::time::sleep(vls_store::backoff(round)).await,
        }
    }
    Err(Problem::concurrent_update())
}

/// POST /agreements/{id}/activation-email/resend (R9): role, lockout, company, state.
async fn resend(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    let p = ctx.principal()?;
    let id: AgreementId = path.id("agreement_id")?;
    // Only the company information is read; any recipient in the body is ignored.
    let (legal_name, country) =
        ctx.parse(|b: &Obj<'_>| Ok((b.text("legal_name", 200)?, b.text("country", 100)?)))?;
    let stamp = Stamp {
        at: ctx.now,
        actor: p.actor(),
        request_id: ctx.request_id.clone(),
        via: None,
    };
    verify_company(app, ctx, &id, (&legal_name, &country), &stamp).await?;
    let id = &id;
    mutate(&app.store, ctx, move || async move {
        let before = app
            .store
            .agreement(id)
            .await?
            .ok_or_else(|| Problem::not_found("agreement"))?;
        let resent = activation::request_resend(&before, ctx.now)?;
        let sent_to = &before.osm.email.masked();
        let reply = Reply::json(202, &ResendView { sent_to });
        Ok(Planned::by(p, reply, resent.change))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The JSON route answers an association as it always has (keys in the same order, a
    /// replay flagged as one), and a stored answer reads back as what it says.
    #[test]
    fn an_association_answers_the_same_json() {
        let account = AccountId::generate();
        let agreement = AgreementId::generate();
        let (seats, add_on) = (Sku::ALL[0], Sku::ALL[Sku::ALL.len() - 1]);
        let associated = Associated {
            account_id: account.clone(),
            agreement_id: agreement.clone(),
            attached_orders: vec![
                SkuQuantity {
                    quantity: 25,
                    sku: seats,
                },
                SkuQuantity {
                    quantity: 3,
                    sku: add_on,
                },
            ],
        };
        let before = json!({
            "agreement_id": agreement,
            "account_id": account,
            "attached_orders": [
                json!({ "sku": seats, "quantity": 25 }),
                json!({ "sku": add_on, "quantity": 3 }),
            ],
        });
        let fresh = Outcome {
            associated: associated.clone(),
            replayed: false,
        }
        .reply();
        assert_eq!(fresh.body, before.to_string());
        assert_eq!(
            (fresh.status, fresh.content_type.as_str()),
            (200, "application/json")
        );
        assert!(!fresh.replayed);
        assert_eq!(stored_association(&fresh), Ok(associated.clone()));
        let replayed = Outcome {
            associated,
            replayed: true,
        }
        .reply();
        assert_eq!(replayed.body, before.to_string());
        assert!(replayed.replayed);
        let corrupt = Reply::ok(&json!({ "account_id": account }));
        assert_eq!(stored_association(&corrupt).map_err(|p| p.status), Err(500));
    }
}
