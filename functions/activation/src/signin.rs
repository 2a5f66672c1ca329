//! The activation pages' sign-in (SPEC §3.1): the link page, the redirect to the identity
//! provider, its callback, the confirmation page and the confirm. Every answer is a page
//! (or a redirect) with the headers of [`vls_http::PAGE_HEADERS`]; never a 500.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use vls_domain::audit::AssociatedVia;
use vls_domain::model::{Account, Agreement};
use vls_domain::rules::activation::{ActivationLink, LinkState, LinkToken, link_state};
use vls_domain::types::AccountId;
use vls_http::idempotency::{IdempotencyKey, derived_key, replay};
use vls_http::{Answer, Ctx, Params, Principal, Problem, Reply};

use crate::oidc::{ClaimNames, OidcError};
use crate::session::{CookieKey, CookiePolicy, SESSION_TTL_MINUTES, Session, SignIn, cookie};
use crate::{App, pages};

const SIGN_IN_PURPOSE: &str = "vls sign-in";
const SESSION_PURPOSE: &str = "vls session";

/// What the sign-in needs, built once per process.
pub struct SignInSetup {
    /// `<public base URL>`: the callback and the redirects back to the link page.
    pub public_base_url: String,
    /// `None` when no provider is configured (the sign-in then answers 503 and says so).
    pub provider: Option<crate::oidc::Provider>,
    /// `None` when no key is configured outside the local stack.
    pub cookie_key: Option<CookieKey>,
    pub cookies: CookiePolicy,
}

impl SignInSetup {
    /// `PUBLIC_BASE_URL`, the provider (`OIDC_…`), and from `secrets` the cookie key and
    /// the client secret (the local stack alone may go without a cookie key, with a fixed
    /// development key).
    pub fn from_env(local: bool, secrets: vls_runtime::secrets::Secrets) -> Self {
        let var = vls_runtime::config::var;
        let public_base_url = var("PUBLIC_BASE_URL")
            .unwrap_or_else(|| "http://127.0.0.1:9000".into())
            .trim_end_matches('/')
            .to_owned();
        let cookie_key = match secrets.cookie_key {
            Some(k) => {
                let key = CookieKey::from_versions(&k.current, k.previous.as_deref());
                if key.is_none() {
                    tracing::error!("a cookie key is shorter than 32 characters: sign-in is off");
                }
                key
            }
            None if local => Some(CookieKey::development()),
            None => {
                tracing::error!("VLS_COOKIE_KEY_SECRET_ARN is not set: sign-in is off");
                None
            }
        };
        let provider =
            crate::oidc::Settings::from_env(&public_base_url, secrets.oidc_client_secret)
                .map(crate::oidc::Provider::new);
        if provider.is_none() {
            tracing::warn!("OIDC_ISSUER and OIDC_CLIENT_ID are not set: sign-in is off");
        }
        Self {
            cookies: CookiePolicy::for_base_url(&public_base_url),
            public_base_url,
            provider,
            cookie_key,
        }
    }

    fn ready(&self) -> Result<(&crate::oidc::Provider, &CookieKey), Reply> {
        match (&self.provider, &self.cookie_key) {
            (Some(p), Some(k)) => Ok((p, k)),
            _ => Err(pages::not_configured()),
        }
    }

    fn link_page_url(&self, token: &str) -> String {
        format!("{}/activate/{token}", self.public_base_url)
    }

    /// The session in the request's cookie, if it is intact, unexpired and for this link.
    fn session(&self, ctx: &Ctx, link_hash: &str) -> Option<Session> {
        let key = self.cookie_key.as_ref()?;
        let sealed = cookie(ctx.header("cookie"), self.cookies.session_name())?;
        let session: Session = key.open(SESSION_PURPOSE, sealed)?;
        (session.expires_at > ctx.now && session.link_hash == link_hash).then_some(session)
    }
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
    let (provider, key) = match app.sign_in.ready() {
        Ok(ready) => ready,
        Err(page) => return page,
    };
    let Ok((sign_in, challenge)) = crate::session::new_sign_in(token.as_str(), ctx.now) else {
        return pages::provider_unreachable();
    };
    let prompt_login = ctx.query_param("prompt").as_deref() == Some("login");
    let url = match provider
        .authorize_url(&sign_in.state, &sign_in.nonce, &challenge, prompt_login)
        .await
    {
        Ok(url) => url,
        Err(e) => return failed(&e),
    };
    let Some(sealed) = key.seal(SIGN_IN_PURPOSE, &sign_in) else {
        return pages::provider_unreachable();
    };
    let policy = app.sign_in.cookies;
    let mut reply = Reply::redirect(302, &url)
        .with_header("set-cookie", policy.set_sign_in(&sealed, &sign_in.state));
    if prompt_login {
        reply = reply.with_header("set-cookie", policy.clear_session());
    }
    reply
}

fn failed(e: &OidcError) -> Reply {
    match e {
        OidcError::Unreachable(why) => {
            tracing::warn!(error = %why, "identity provider unreachable");
            pages::provider_unreachable()
        }
        OidcError::Refused(why) => pages::sign_in_refused(why),
        OidcError::InvalidIdToken(why) => {
            tracing::warn!(error = %why, "ID token refused");
            pages::id_token_invalid()
        }
    }
}

/// The sign-in cookie this callback belongs to, if intact, unexpired and for this `state`.
fn sign_in_of(app: &App, ctx: &Ctx, state: &str) -> Option<SignIn> {
    let valid = !state.is_empty()
        && state.len() <= 64
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return None;
    }
    let key = app.sign_in.cookie_key.as_ref()?;
    let name = format!("{}{state}", crate::session::SIGN_IN_COOKIE_PREFIX);
    let sign_in: SignIn = key.open(SIGN_IN_PURPOSE, cookie(ctx.header("cookie"), &name)?)?;
    (sign_in.state == state && sign_in.expires_at > ctx.now).then_some(sign_in)
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
    let found = sign_in_of(app, ctx, &state);
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
    let (provider, key) = match app.sign_in.ready() {
        Ok(ready) => ready,
        Err(page) => return page,
    };
    let Some(code) = ctx
        .query_param("code")
        .filter(|c| !c.is_empty() && c.len() <= 2048)
    else {
        return pages::sign_in_refused("the provider sent no code");
    };
    let id_token = match provider.redeem(&code, &sign_in.verifier).await {
        Ok(t) => t,
        Err(e) => return failed(&e),
    };
    let claims = match provider.verify_id_token(&id_token, &sign_in.nonce).await {
        Ok(c) => c,
        Err(e) => return failed(&e),
    };
    let Ok(csrf) = crate::oidc::random_token(24) else {
        return pages::provider_unreachable();
    };
    let session = session_from(&claims, &provider.settings.claims, &token, csrf, ctx.now);
    let Some(sealed) = key.seal(SESSION_PURPOSE, &session) else {
        return pages::provider_unreachable();
    };
    tracing::info!(sub = %session.sub, "signed in on an activation link");
    Reply::redirect(303, &app.sign_in.link_page_url(token.as_str()))
        .with_header("set-cookie", app.sign_in.cookies.set_session(&sealed))
}

fn claim(claims: &std::collections::HashMap<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 320)
        .map(str::to_owned)
}

/// `email_verified` as providers write it: `true`, or the string `"true"` (some write every
/// claim as a string).
fn verified(claim: Option<&Value>) -> bool {
    match claim {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn session_from(
    claims: &std::collections::HashMap<String, Value>,
    names: &ClaimNames,
    token: &LinkToken,
    csrf: String,
    now: DateTime<Utc>,
) -> Session {
    Session {
        link_hash: token.hash(),
        sub: claim(claims, "sub").unwrap_or_default(),
        email: claim(claims, &names.email),
        email_verified: verified(claims.get("email_verified")),
        role: claim(claims, &names.role),
        account_id: claim(claims, &names.account_id),
        csrf,
        expires_at: now + Duration::minutes(SESSION_TTL_MINUTES),
    }
}

/// The confirm form's fields: the CSRF value and the acknowledgement. Nothing else is read:
/// a field naming an account is ignored.
fn form(ctx: &Ctx) -> (Option<String>, bool) {
    let mut csrf = None;
    let mut acknowledged = false;
    for (k, v) in form_urlencoded::parse(ctx.body_bytes()) {
        match k.as_ref() {
            "csrf" => csrf = Some(v.into_owned()),
            "acknowledge" => acknowledged = !v.is_empty(),
            _ => {}
        }
    }
    (csrf, acknowledged)
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
    let principal = Principal::CustomerAdmin {
        sub: session.sub.clone(),
        account_id: account.id.clone(),
    };
    let key = confirm_key(&token.hash(), &session.csrf);
    let signed_in = AssociatedVia::SignIn {
        email: session.email.clone(),
        acknowledged_unrelated_email: acknowledged,
    };
    let check = |agreement: &Agreement| {
        if needs_acknowledgement(&session, agreement, &account) && !acknowledged {
            Err(Problem::new(
                422,
                "acknowledgement_required",
                "the signed-in address is neither the Online Services Manager's nor on the \
                 account's domain: tick the box to confirm that this is the right account",
            ))
        } else {
            Ok(())
        }
    };
    let associated = crate::Association {
        principal: &principal,
        account: &account.id,
        key: Some(key),
        via: signed_in,
    };
    match crate::associate_as(app, ctx, &token, associated, check).await {
        Ok(reply) => {
            let clear = app.sign_in.cookies.clear_session();
            associated_page(app, &reply, Some(&account.id))
                .await
                .with_header("set-cookie", clear)
        }
        Err(p) => pages::problem(&p),
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
    let session = app.sign_in.session(ctx, &link_hash);
    let valid = match (&session, &csrf) {
        (Some(s), Some(c)) => constant_time_eq(s.csrf.as_bytes(), c.as_bytes()),
        _ => false,
    };
    if let (Some(session), true) = (session, valid) {
        return Ok((session, acknowledged));
    }
    if let Some(c) = csrf.filter(|c| !c.is_empty())
        && let Ok(Some(first)) = replay(
            &app.store,
            &confirm_key(&link_hash, &c),
            ctx.now.timestamp(),
        )
        .await
    {
        return Err(associated_page(app, &first, None).await);
    }
    Err(pages::session_invalid())
}

/// "Licences associated": the attached orders and the account's totals now.
async fn associated_page(app: &App, reply: &Reply, account: Option<&AccountId>) -> Reply {
    let done: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    let id = account
        .cloned()
        .or_else(|| done["account_id"].as_str().and_then(AccountId::parse));
    let totals = match id {
        Some(id) => crate::pool_totals(app, &id).await,
        None => Vec::new(),
    };
    pages::associated(&done, &totals)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
