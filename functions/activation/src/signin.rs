//! The activation pages' routes (SPEC §3.1): the link page, the redirect to the identity
//! provider, its callback, the confirmation page and the confirm. The sign-in itself is
//! [`vls_signin`]'s; what it is for (the link, its agreement, the signed-in account) and the
//! pages are these. Every answer is a page (or a redirect) with the headers of
//! [`vls_http::PAGE_HEADERS`]; never a 500.

use vls_domain::audit::AssociatedVia;
use vls_domain::model::{Account, Agreement};
use vls_domain::rules::activation::{ActivationLink, LinkState, LinkToken, link_state};
use vls_domain::types::AccountId;
use vls_http::idempotency::{IdempotencyKey, derived_key, replay};
use vls_http::{Answer, Ctx, Params, Principal, Problem, Reply};
use vls_signin::oidc::OidcError;
use vls_signin::{Failure, Session, SignIn};

use crate::{App, Associated, pages};

/// The link page a sign-in returns to.
fn link_page_url(app: &App, token: &str) -> String {
    format!("{}/activate/{token}", app.sign_in.public_base_url)
}

/// A usable link with its agreement, or the page that says why not.
async fn usable_link(
    app: &App,
    ctx: &Ctx,
    raw: &str,
) -> Result<(LinkToken, ActivationLink, Agreement), Reply> {
    let token = LinkToken::parse(raw).ok_or_else(pages::unknown)?;
    match app.store.activation_link(&token.hash()).await {
        Err(e) => Err(pages::problem(&Problem::from(e))),
        Ok(None) => Err(pages::unknown()),
        Ok(Some((link, agreement))) => match link_state(&link, &agreement, ctx.now) {
            LinkState::Usable => Ok((token, link, agreement)),
            state => Err(pages::gone(state)),
        },
    }
}

/// GET /activate/{token}: the link page, or — signed in for this link — the confirmation page.
/// `page` for the route table.
pub async fn page_route(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    Ok(page(app, ctx, path.get("token")).await)
}

async fn page(app: &App, ctx: &Ctx, raw: &str) -> Reply {
    let (token, link, agreement) = match usable_link(app, ctx, raw).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(session) = app.sign_in.session(ctx, &token.hash()) else {
        return pages::activation(&agreement, &link, token.as_str());
    };
    match signed_in_account(app, &session).await {
        Err(page) => page,
        Ok(account) => pages::confirmation(&pages::Confirmation {
            agreement: &agreement,
            link: &link,
            token: token.as_str(),
            session: &session,
            account: &account,
            needs_acknowledgement: needs_acknowledgement(&session, &agreement, &account),
        }),
    }
}

/// The account the signed-in person administers, or the 403 page that says why not.
async fn signed_in_account(app: &App, session: &Session) -> Result<Account, Reply> {
    if session.role.as_deref() != Some("customer_admin") {
        return Err(pages::not_an_admin(
            session,
            "is not signed in as an account administrator",
        ));
    }
    let Some(id) = session.account_id.as_deref().and_then(AccountId::parse) else {
        return Err(pages::not_an_admin(
            session,
            "has no account named in the sign-in",
        ));
    };
    match app.store.account(&id).await {
        Err(e) => Err(pages::problem(&Problem::from(e))),
        Ok(None) => Err(pages::not_an_admin(
            session,
            "administers an account this service does not know",
        )),
        Ok(Some(account)) => Ok(account),
    }
}

/// The signed-in email is not verified, or neither the OSM's nor on the account's domain.
pub fn needs_acknowledgement(session: &Session, agreement: &Agreement, account: &Account) -> bool {
    let Some(email) = session.email.as_deref().map(str::to_ascii_lowercase) else {
        return true;
    };
    if !session.email_verified {
        return true;
    }
    let osm = agreement.osm.email.as_str().to_ascii_lowercase();
    let domain = account.domain.trim().to_ascii_lowercase();
    email != osm && !email.ends_with(&format!("@{domain}"))
}

/// GET /activate/{token}/sign-in[?prompt=login]: checks the link, then sends the browser to the
/// provider with a sign-in cookie of its own.
/// `sign_in` for the route table.
pub async fn sign_in_route(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    Ok(sign_in(app, ctx, path.get("token")).await)
}

async fn sign_in(app: &App, ctx: &Ctx, raw: &str) -> Reply {
    let (token, ..) = match usable_link(app, ctx, raw).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    match app.sign_in.start(ctx, token.as_str()).await {
        Ok(redirect) => redirect,
        Err(e) => failed(&e),
    }
}

/// The page for a sign-in that cannot go on.
fn failed(e: &Failure) -> Reply {
    match e {
        Failure::NotConfigured => pages::not_configured(),
        Failure::Unavailable => pages::provider_unreachable(),
        Failure::Provider(OidcError::Unreachable(why)) => {
            tracing::warn!(error = %why, "identity provider unreachable");
            pages::provider_unreachable()
        }
        Failure::Provider(OidcError::Refused(why)) => pages::sign_in_refused(why),
        Failure::Provider(OidcError::InvalidIdToken(why)) => {
            tracing::warn!(error = %why, "ID token refused");
            pages::id_token_invalid()
        }
    }
}

/// GET /sign-in/callback?code&state: a provider's `error=` is a refusal; otherwise the sign-in
/// cookie and state first (nothing is redeemed without them), then the link, the code and
/// the ID token; then a new session and 303 back to the link page.
/// `callback` for the route table.
pub async fn callback_route(app: &App, ctx: &Ctx, _: &Params) -> Answer {
    Ok(callback(app, ctx).await)
}

async fn callback(app: &App, ctx: &Ctx) -> Reply {
    let state = ctx.query_param("state").unwrap_or_default();
    let found = app.sign_in.pending(ctx, &state);
    // The provider's refusal redeems nothing; it may come back without `state` (some
    // providers drop it on errors), so it is answered as such whatever the cookie says.
    if let Some(error) = ctx.query_param("error") {
        let reply = pages::sign_in_refused(&error);
        return match found {
            Some(s) => reply.with_header("set-cookie", app.sign_in.cookies.clear_sign_in(&s.state)),
            None => reply,
        };
    }
    let Some(sign_in) = found else {
        return pages::sign_in_state();
    };
    let clear = app.sign_in.cookies.clear_sign_in(&sign_in.state);
    let reply = callback_checked(app, ctx, &sign_in).await;
    reply.with_header("set-cookie", clear)
}

async fn callback_checked(app: &App, ctx: &Ctx, sign_in: &SignIn) -> Reply {
    let (token, ..) = match usable_link(app, ctx, &sign_in.link).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let (session, set_session) = match app.sign_in.finish(ctx, sign_in, token.hash()).await {
        Ok(signed_in) => signed_in,
        Err(e) => return failed(&e),
    };
    tracing::info!(sub = %session.sub, "signed in on an activation link");
    Reply::redirect(303, &link_page_url(app, token.as_str())).with_header("set-cookie", set_session)
}

/// The confirm form's fields: the CSRF value and the acknowledgement. Nothing else is read:
/// a field naming an account is ignored.
fn form(ctx: &Ctx) -> (Option<String>, bool) {
    let body = ctx.body_bytes();
    let acknowledged =
        vls_signin::csrf::form_field(body, "acknowledge").is_some_and(|v| !v.is_empty());
    (vls_signin::csrf::form_csrf(body), acknowledged)
}

/// The confirm's own idempotency key: the link and the session's CSRF value, so a second
/// submit of the same form answers the first outcome.
fn confirm_key(link_hash: &str, csrf: &str) -> IdempotencyKey {
    derived_key(
        &[b"activation-confirm", link_hash.as_bytes(), csrf.as_bytes()],
        &[b"activation-confirm", link_hash.as_bytes()],
    )
}

/// POST /activate/{token}/confirm: associates the agreement with the SESSION's account.
/// `confirm` for the route table.
pub async fn confirm_route(app: &App, ctx: &Ctx, path: &Params) -> Answer {
    Ok(confirm(app, ctx, path.get("token")).await)
}

async fn confirm(app: &App, ctx: &Ctx, raw: &str) -> Reply {
    let Some(token) = LinkToken::parse(raw) else {
        return pages::unknown();
    };
    let (session, acknowledged) = match confirmed_session(app, ctx, &token).await {
        Ok(confirmed) => confirmed,
        Err(page) => return page,
    };
    let account = match signed_in_account(app, &session).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    match associate_signed_in(app, ctx, &token, (&session, acknowledged), &account).await {
        Ok(outcome) => {
            let clear = app.sign_in.cookies.clear_session();
            associated_page(app, &outcome.associated)
                .await
                .with_header("set-cookie", clear)
        }
        Err(p) => pages::problem(&p),
    }
}

/// The signed-in administrator associates the link's agreement with their account, under a
/// key derived from the link and the session's CSRF value (a form sent twice answers the
/// first outcome); an unrelated signed-in address must have been acknowledged.
async fn associate_signed_in(
    app: &App,
    ctx: &Ctx,
    token: &LinkToken,
    (session, acknowledged): (&Session, bool),
    account: &Account,
) -> Result<crate::Outcome, Problem> {
    let principal = Principal::CustomerAdmin {
        sub: session.sub.clone(),
        account_id: account.id.clone(),
    };
    let association = crate::Association {
        principal: &principal,
        account: &account.id,
        key: Some(confirm_key(&token.hash(), &session.csrf)),
        via: AssociatedVia::SignIn {
            email: session.email.clone(),
            acknowledged_unrelated_email: acknowledged,
        },
    };
    let check =
        |agreement: &Agreement| acknowledged_if_needed(session, agreement, account, acknowledged);
    crate::associate_as(app, ctx, token, association, check).await
}

/// Refused (422) when the signed-in address is unrelated to the agreement and the account and
/// the box was not ticked.
fn acknowledged_if_needed(
    session: &Session,
    agreement: &Agreement,
    account: &Account,
    acknowledged: bool,
) -> Result<(), Problem> {
    if needs_acknowledgement(session, agreement, account) && !acknowledged {
        Err(Problem::new(
            422,
            "acknowledgement_required",
            "the signed-in address is neither the Online Services Manager's nor on the \
             account's domain: tick the box to confirm that this is the right account",
        ))
    } else {
        Ok(())
    }
}

/// The session this form was submitted in, if its CSRF value matches, and whether the box
/// was ticked. The same form submitted again after it succeeded shows that success.
async fn confirmed_session(
    app: &App,
    ctx: &Ctx,
    token: &LinkToken,
) -> Result<(Session, bool), Reply> {
    let link_hash = token.hash();
    let (csrf, acknowledged) = form(ctx);
    if let Some(session) = app.sign_in.form_session(ctx, &link_hash, csrf.as_deref()) {
        return Ok((session, acknowledged));
    }
    if let Some(c) = csrf.filter(|c| !c.is_empty())
        && let Ok(Some(first)) = replay(&app.store, &confirm_key(&link_hash, &c), ctx).await
    {
        return Err(match crate::stored_association(&first) {
            Ok(done) => associated_page(app, &done).await,
            Err(p) => pages::problem(&p),
        });
    }
    Err(pages::session_invalid())
}

/// "Licences associated": the attached orders and the account's totals now.
async fn associated_page(app: &App, done: &Associated) -> Reply {
    let totals = crate::pool_totals(app, &done.account_id).await;
    pages::associated(done, &totals)
}
