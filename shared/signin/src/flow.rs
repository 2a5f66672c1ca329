//! The sign-in as a page runs it (SPEC §3.1): the redirect to the provider with a sign-in
//! cookie of its own, the callback's cookie and `state`, the code redeemed and the ID token
//! verified, and the session that comes of it, bound to what the sign-in was for. Nothing here
//! answers a page: a sign-in that cannot go on says why ([`Failure`]) and the caller answers
//! with its own.

use std::collections::HashMap;

use chrono::Duration;
use serde_json::Value;
use vls_http::{Ctx, Reply};

use crate::oidc::{ClaimNames, OidcError, Provider, Settings};
use crate::session::{
    ACTIVATION, CookieKey, CookiePolicy, Door, SESSION_TTL_MINUTES, Session, SignIn, cookie,
    new_sign_in,
};

const SESSION_PURPOSE: &str = "vls session";

/// Why a sign-in cannot go on; the caller answers each with a page of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No provider or no cookie key is configured (503: sign-in is off).
    NotConfigured,
    /// No random bytes, or a cookie could not be sealed (503, as if the provider were
    /// unreachable).
    Unavailable,
    /// The provider cannot be reached, refused the sign-in, or its ID token did not verify.
    Provider(OidcError),
}

impl From<OidcError> for Failure {
    fn from(e: OidcError) -> Self {
        Self::Provider(e)
    }
}

/// What the sign-in needs, built once per process.
pub struct SignInSetup {
    /// `<public base URL>`: the callback and the redirects back to the pages.
    pub public_base_url: String,
    /// `None` when no provider is configured (the sign-in then answers 503 and says so).
    pub provider: Option<Provider>,
    /// `None` when no key is configured outside the local stack.
    pub cookie_key: Option<CookieKey>,
    pub cookies: CookiePolicy,
}

impl SignInSetup {
    /// The activation pages' sign-in: [`Self::from_env_at`] [`ACTIVATION`].
    pub fn from_env(local: bool, secrets: vls_runtime::secrets::Secrets) -> Self {
        Self::from_env_at(ACTIVATION, local, secrets)
    }

    /// `PUBLIC_BASE_URL`, the provider (`OIDC_…`, called back at `door`'s path), and from
    /// `secrets` the cookie key and the client secret (the local stack alone may go without a
    /// cookie key, with a fixed development key).
    pub fn from_env_at(door: Door, local: bool, secrets: vls_runtime::secrets::Secrets) -> Self {
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
            None if local => Some(CookieKey::development("cookie")),
            None => {
                tracing::error!("VLS_COOKIE_KEY_SECRET_ARN is not set: sign-in is off");
                None
            }
        };
        let provider = Settings::from_env(&public_base_url, secrets.oidc_client_secret)
            .map(|s| Provider::new(s.called_back_at(&public_base_url, door.callback_path)));
        if provider.is_none() {
            tracing::warn!("OIDC_ISSUER and OIDC_CLIENT_ID are not set: sign-in is off");
        }
        Self {
            cookies: CookiePolicy::for_base_url(&public_base_url).at(door),
            public_base_url,
            provider,
            cookie_key,
        }
    }

    /// The provider and the cookie key, if both are configured.
    pub fn ready(&self) -> Result<(&Provider, &CookieKey), Failure> {
        match (&self.provider, &self.cookie_key) {
            (Some(p), Some(k)) => Ok((p, k)),
            _ => Err(Failure::NotConfigured),
        }
    }

    /// The session in the request's cookie, if it is intact, unexpired and for this link.
    pub fn session(&self, ctx: &Ctx, link_hash: &str) -> Option<Session> {
        let key = self.cookie_key.as_ref()?;
        let sealed = cookie(ctx.header("cookie"), self.cookies.session_name())?;
        let session: Session = key.open(SESSION_PURPOSE, sealed)?;
        (session.expires_at > ctx.now && session.link_hash == link_hash).then_some(session)
    }

    /// The session a form was submitted in: the request's session for this link, if the
    /// form's CSRF value (`csrf`) is the session's.
    pub fn form_session(&self, ctx: &Ctx, link_hash: &str, csrf: Option<&str>) -> Option<Session> {
        let session = self.session(ctx, link_hash)?;
        crate::csrf::csrf_matches(&session, csrf?).then_some(session)
    }

    /// Starts a sign-in for `link` (`?prompt=login` to sign in as someone else): a 302 to the
    /// provider's authorization endpoint with a sign-in cookie of its own; signing in as
    /// someone else also clears the session.
    pub async fn start(&self, ctx: &Ctx, link: &str) -> Result<Reply, Failure> {
        let (provider, key) = self.ready()?;
        let Ok((sign_in, challenge)) = new_sign_in(link, ctx.now) else {
            return Err(Failure::Unavailable);
        };
        let prompt_login = ctx.query_param("prompt").as_deref() == Some("login");
        let url = provider
            .authorize_url(&sign_in.state, &sign_in.nonce, &challenge, prompt_login)
            .await?;
        let sealed = key
            .seal(self.cookies.door.purpose, &sign_in)
            .ok_or(Failure::Unavailable)?;
        let policy = self.cookies;
        let mut reply = Reply::redirect(302, &url)
            .with_header("set-cookie", policy.set_sign_in(&sealed, &sign_in.state));
        if prompt_login {
            reply = reply.with_header("set-cookie", policy.clear_session());
        }
        Ok(reply)
    }

    /// The sign-in cookie this callback belongs to, if intact, unexpired and for this `state`.
    pub fn pending(&self, ctx: &Ctx, state: &str) -> Option<SignIn> {
        let valid = !state.is_empty()
            && state.len() <= 64
            && state
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return None;
        }
        let key = self.cookie_key.as_ref()?;
        let door = self.cookies.door;
        let name = format!("{}{state}", door.cookie_prefix);
        let sign_in: SignIn = key.open(door.purpose, cookie(ctx.header("cookie"), &name)?)?;
        (sign_in.state == state && sign_in.expires_at > ctx.now).then_some(sign_in)
    }

    /// The rest of the callback, once the caller has checked what `sign_in` is for: the code
    /// redeemed with the sign-in's PKCE verifier and the ID token verified with its nonce;
    /// who signed in, as its claims say.
    pub async fn identify(&self, ctx: &Ctx, sign_in: &SignIn) -> Result<Identity, Failure> {
        let (provider, _) = self.ready()?;
        let Some(code) = ctx
            .query_param("code")
            .filter(|c| !c.is_empty() && c.len() <= 2048)
        else {
            return Err(OidcError::Refused("the provider sent no code".into()).into());
        };
        let id_token = provider.redeem(&code, &sign_in.verifier).await?;
        let claims = provider.verify_id_token(&id_token, &sign_in.nonce).await?;
        Ok(identity(&claims, &provider.settings.claims))
    }

    /// [`Self::identify`], then a new session for `link_hash` (an activation link's) with the
    /// `Set-Cookie` value that carries it.
    pub async fn finish(
        &self,
        ctx: &Ctx,
        sign_in: &SignIn,
        link_hash: String,
    ) -> Result<(Session, String), Failure> {
        let who = self.identify(ctx, sign_in).await?;
        let (_, key) = self.ready()?;
        let Ok(csrf) = crate::oidc::random_token(24) else {
            return Err(Failure::Unavailable);
        };
        let session = Session {
            link_hash,
            sub: who.sub,
            email: who.email,
            email_verified: who.email_verified,
            role: who.role,
            account_id: who.account_id,
            csrf,
            expires_at: ctx.now + Duration::minutes(SESSION_TTL_MINUTES),
        };
        let sealed = key
            .seal(SESSION_PURPOSE, &session)
            .ok_or(Failure::Unavailable)?;
        let set_cookie = self.cookies.set_session(&sealed);
        Ok((session, set_cookie))
    }
}

/// Who signed in: the ID token's claims this service reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub sub: String,
    pub email: Option<String>,
    /// The provider vouches for the email (`email_verified`).
    pub email_verified: bool,
    pub role: Option<String>,
    pub account_id: Option<String>,
}

fn claim(claims: &HashMap<String, Value>, name: &str) -> Option<String> {
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

fn identity(claims: &HashMap<String, Value>, names: &ClaimNames) -> Identity {
    Identity {
        sub: claim(claims, "sub").unwrap_or_default(),
        email: claim(claims, &names.email),
        email_verified: verified(claims.get("email_verified")),
        role: claim(claims, &names.role),
        account_id: claim(claims, &names.account_id),
    }
}
