//! Signing in and out (SPEC §7.1): the sign-in page, the redirect to the provider (the same
//! client as the activation pages, called back at `/portal/sign-in/callback`), the callback
//! that gives a `customer_admin` of a known account a session of their own, and Sign out,
//! which ends it. Sign-ins and sign-outs are logged and counted, not put on any trail.

use vls_domain::metrics::Metric;
use vls_domain::types::AccountId;
use vls_http::{Answer, Ctx, Params, Reply};
use vls_signin::oidc::OidcError;
use vls_signin::{Failure, Identity, SignIn};

use crate::guard::{self, return_path};
use crate::{App, catalog, pages, session};

/// GET /portal/sign-in?return_to=&ended=: why, and the link that starts signing in.
pub async fn page(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let return_to = return_path(ctx.query_param("return_to").as_deref());
    let ended = ctx.query_param("ended");
    // After signing out, the provider's own sign-out, if its discovery names one.
    let provider_sign_out = match (ended.as_deref(), &app.sign_in.provider) {
        (Some("signed_out"), Some(p)) => p
            .discovery()
            .await
            .ok()
            .and_then(|d| d.end_session_endpoint),
        _ => None,
    };
    Ok(pages::sign_in(
        &return_to,
        ended.as_deref(),
        provider_sign_out.as_deref(),
    ))
}

/// GET /portal/sign-in/start?return_to=[&prompt=login]: 302 to the provider, with a sign-in
/// cookie of the portal's own that carries where to return.
pub async fn start(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let return_to = return_path(ctx.query_param("return_to").as_deref());
    Ok(match app.sign_in.start(ctx, &return_to).await {
        Ok(redirect) => redirect,
        Err(e) => failed(ctx, &e),
    })
}

/// The page for a sign-in that cannot go on.
fn failed(ctx: &Ctx, e: &Failure) -> Reply {
    let (status, code) = match e {
        Failure::NotConfigured => (503, "not_configured"),
        Failure::Unavailable => (503, "unavailable"),
        Failure::Provider(OidcError::Unreachable(why)) => {
            tracing::warn!(error = %why, "identity provider unreachable");
            (503, "unavailable")
        }
        Failure::Provider(OidcError::Refused(why)) => {
            tracing::info!(why, "the provider refused a portal sign-in");
            (401, "sign_in_refused")
        }
        Failure::Provider(OidcError::InvalidIdToken(why)) => {
            tracing::warn!(error = %why, "ID token refused");
            (401, "id_token_invalid")
        }
    };
    pages::failure(ctx, status, code, None)
}

/// GET /portal/sign-in/callback?code&state: the provider's refusal, or the sign-in cookie and
/// its state first (nothing is redeemed without them), then the code and the ID token; a
/// `customer_admin` of a known account gets a new session and goes back where they were.
pub async fn callback(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let state = ctx.query_param("state").unwrap_or_default();
    let found = app.sign_in.pending(ctx, &state);
    let clear = found
        .as_ref()
        .map(|s| app.sign_in.cookies.clear_sign_in(&s.state));
    let reply = if ctx.query_param("error").is_some() {
        pages::failure(ctx, 401, "sign_in_refused", None)
    } else {
        match &found {
            None => pages::failure(ctx, 400, "sign_in_state", None),
            Some(sign_in) => signed_in(app, ctx, sign_in).await,
        }
    };
    Ok(match clear {
        Some(c) => reply.with_header("set-cookie", c),
        None => reply,
    })
}

async fn signed_in(app: &App, ctx: &Ctx, sign_in: &SignIn) -> Reply {
    let who = match app.sign_in.identify(ctx, sign_in).await {
        Ok(who) => who,
        Err(e) => return failed(ctx, &e),
    };
    let account = match admin_of(app, ctx, &who).await {
        Ok(account) => account,
        Err(page) => {
            vls_store::count(Metric::PortalSignInRefused);
            return page;
        }
    };
    let set_cookie = match session::start(app, &who, account.as_str(), ctx.now).await {
        Ok(Some(c)) => c,
        Ok(None) => return pages::failure(ctx, 503, "unavailable", None),
        Err(p) => return guard::problem_page(ctx, &p, None),
    };
    vls_store::count(Metric::PortalSignedIn);
    tracing::info!(sub = %who.sub, account = %account, "signed in to the portal");
    let to = format!(
        "{}{}",
        app.sign_in.public_base_url,
        return_path(Some(&sign_in.link))
    );
    Reply::redirect(303, &to).with_header("set-cookie", set_cookie)
}

/// The account `who` administers, or the 403 page that says why not.
async fn admin_of(app: &App, ctx: &Ctx, who: &Identity) -> Result<AccountId, Reply> {
    let refuse = |why: &str| pages::not_an_admin(ctx, who.email.as_deref(), why);
    if who.role.as_deref() != Some("customer_admin") {
        return Err(refuse(catalog::NOT_ADMIN_ROLE));
    }
    let Some(id) = who.account_id.as_deref().and_then(AccountId::parse) else {
        return Err(refuse(catalog::NOT_ADMIN_ACCOUNT));
    };
    match app.store.account(&id).await {
        Ok(Some(_)) => Ok(id),
        Ok(None) => Err(refuse(catalog::NOT_ADMIN_UNKNOWN)),
        Err(e) => Err(guard::problem_page(ctx, &e.into(), None)),
    }
}

/// POST /portal/sign-out: ends the session (its record deleted, the cookie cleared), 303 to
/// the sign-in page that says so.
pub async fn sign_out(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    let signed = match guard::for_form(app, ctx, "/portal").await {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    if let Err(e) = app.store.end_portal_session(&signed.hash).await {
        return Ok(guard::problem_page(ctx, &e.into(), None));
    }
    vls_store::count(Metric::PortalSignedOut);
    tracing::info!(sub = %signed.session.sub, "signed out of the portal");
    let base = &app.sign_in.public_base_url;
    Ok(pages::to_sign_in(base, "/portal", Some("signed_out"))
        .with_header("set-cookie", session::clear(app)))
}
