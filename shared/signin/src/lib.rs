//! Signing in with the organisation's identity provider (SPEC §3.1), for the server-rendered
//! pages that need to know who is at the browser: the activation pages today, the customer's
//! own pages next. It holds what does not depend on what the pages are for: the OpenID Connect
//! client (discovery, keys, PKCE, redeeming a code, verifying an ID token: [`oidc`]), the
//! sealed cookies of a sign-in in progress and of a session ([`session`]), the sign-in itself
//! (the redirect to the provider, the callback checked, the session it makes: [`flow`]) and
//! the CSRF check of a form submitted in a session ([`csrf`]).
//!
//! What a page is for (an activation link, an agreement, an account) and what each failure
//! looks like stay with the function that serves the pages: it names what a sign-in is for
//! (the raw value the sign-in returns to, the hash a session is bound to) and answers each
//! [`Failure`] with a page of its own.

pub mod csrf;
pub mod flow;
pub mod oidc;
pub mod session;

pub use flow::{Failure, Identity, SignInSetup};
pub use session::{ACTIVATION, CookieKey, CookiePolicy, Door, PORTAL, Session, SignIn};
