//! A page's forms (SPEC §7.6 5): each mutating form carries the session's CSRF value and a
//! one-time `form_id`; the idempotency key of what it asks is derived from that id and the
//! session, so a form sent twice (a double click, a reload) shows the first outcome, and a
//! change made through a form is the session administrator's, `via` the portal.

use vls_cases::By;
use vls_domain::change::Via;
use vls_domain::html::escape;
use vls_http::idempotency::{IdempotencyKey, derived_key};
use vls_http::{Ctx, Principal, Reply};
use vls_store::PortalSession;

use crate::App;
use crate::guard::Signed;

/// A submitted form's fields, in order.
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn of(ctx: &Ctx) -> Self {
        Self(
            form_urlencoded::parse(ctx.body_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The field's value (the last one, if sent more than once), trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }

    /// A checkbox: ticked when sent with any value.
    pub fn ticked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !v.is_empty())
    }

    /// The one-time id, if it is one these pages could have given.
    fn form_id(&self) -> Option<&str> {
        self.get("form_id").filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    }

    /// What the form asks, for the key's request fingerprint: every field but the CSRF
    /// value, in the order sent.
    fn asked(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in self.0.iter().filter(|(k, _)| k != "csrf") {
            out.extend_from_slice(k.as_bytes());
            out.push(0);
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out
    }
}

/// A mutating form as its route takes it: the session it came from, its fields, and the key
/// of the change it asks for.
pub struct Sent {
    pub signed: Signed,
    pub form: Form,
    pub key: IdempotencyKey,
}

/// The form this request sends: from this origin, in a session in use, with the session's
/// CSRF value and a one-time id; otherwise the 403 page, which signs in again and comes back
/// to `back`. Nothing is read of the body before the origin is checked.
pub async fn sent(app: &App, ctx: &Ctx, back: &str) -> Result<Sent, Reply> {
    let signed = crate::guard::for_form(app, ctx, back).await?;
    let form = Form::of(ctx);
    let key = key(&signed.hash, &ctx.path, &form)
        .ok_or_else(|| crate::pages::session_invalid(ctx, "session_invalid", back))?;
    Ok(Sent { signed, form, key })
}

/// The key of a form sent to `action` in the session stored under `hash` (`None` without a
/// one-time id these pages could have given: such a form is refused).
pub fn key(hash: &str, action: &str, form: &Form) -> Option<IdempotencyKey> {
    let id = form.form_id()?;
    let scope: [&[u8]; 3] = [b"portal-form", hash.as_bytes(), id.as_bytes()];
    let asked = form.asked();
    let request: [&[u8]; 4] = [b"portal-form", hash.as_bytes(), action.as_bytes(), &asked];
    Some(derived_key(&scope, &request))
}

/// The caller of a form's change: the session's administrator, under the form's key, via the
/// portal with the session's email.
pub fn by<'a>(principal: &'a Principal, signed: &Signed, key: IdempotencyKey) -> By<'a> {
    By {
        principal,
        key: Some(key),
        via: Some(Via::Portal {
            email: signed.session.email.clone(),
            email_verified: signed.session.email_verified,
        }),
    }
}

/// A fresh one-time form id (empty if no random bytes can be had: the form is then refused
/// when sent, and nothing is written).
pub fn new_id() -> String {
    vls_signin::oidc::random_token(16).unwrap_or_default()
}

/// A form's hidden fields: the session's CSRF value and a one-time id.
pub fn hidden(session: &PortalSession) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<input type=\"hidden\" name=\"form_id\" value=\"{}\">",
        escape(&session.csrf),
        escape(&new_id())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Form {
        Form(
            form_urlencoded::parse(body.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_forms_key_is_its_id_and_session_and_its_fingerprint_what_it_asks() {
        let a = form("csrf=x&form_id=f1&qty=3");
        let again = form("csrf=y&form_id=f1&qty=3");
        let other = form("csrf=x&form_id=f1&qty=4");
        let k = key("h", "/portal/x", &a).expect("key");
        assert_eq!(
            Some(&k),
            key("h", "/portal/x", &again).as_ref(),
            "the CSRF value aside"
        );
        let changed = key("h", "/portal/x", &other).expect("key");
        assert_eq!(k.key_hash, changed.key_hash, "the same form");
        assert_ne!(
            k.request_hash, changed.request_hash,
            "asking something else"
        );
        assert_ne!(
            Some(k.key_hash.clone()),
            key("h2", "/portal/x", &a).map(|k| k.key_hash)
        );
        assert_eq!(key("h", "/p", &form("csrf=x")), None, "no form id");
        assert_eq!(
            key("h", "/p", &form("form_id=a%20b")),
            None,
            "not one of ours"
        );
    }

    #[test]
    fn fields_are_the_last_sent_and_trimmed() {
        let f = form("a=1&a=%202%20&box=on");
        assert_eq!(f.get("a"), Some("2"));
        assert!(f.ticked("box") && !f.ticked("none"));
    }
}
