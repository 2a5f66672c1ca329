//! Signing in on the activation pages as a browser would: a cookie jar, and the local
//! OpenID provider's own sign-in form.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Resp;

/// A browser's cookies: what `Set-Cookie` set, without what `Max-Age=0` removed.
#[derive(Debug, Clone, Default)]
pub struct Jar(BTreeMap<String, String>);

impl Jar {
    /// The `Cookie` header to send.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_owned(), value.to_owned());
    }

    /// Applies a response's `Set-Cookie` headers.
    pub fn take(&mut self, r: &Resp) {
        for c in &r.set_cookies {
            let mut parts = c.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('=')) else {
                continue;
            };
            let gone = parts.any(|p| p.trim().eq_ignore_ascii_case("max-age=0"));
            if gone || value.is_empty() {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into()
}

/// Registers a user's claims with the local provider (`PUT /users/{sub}`), an email
/// verified unless `email_verified` says otherwise; on the template stack under its
/// claim names.
pub fn register_user(issuer: &str, sub: &str, claims: &Value) {
    let mut claims = match crate::template_stack::description() {
        Some(stack) => crate::template_stack::named(&stack, claims),
        None => claims.clone(),
    };
    if claims.get("email").is_some() && claims.get("email_verified").is_none() {
        claims["email_verified"] = serde_json::json!(true);
    }
    let status = agent()
        .put(&format!("{issuer}/users/{sub}"))
        .header("content-type", "application/json")
        .send(claims.to_string())
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|e| panic!("the local OpenID provider at {issuer}: {e}"));
    assert_eq!(status, 204, "registering {sub}");
}

/// Answers the provider's sign-in form at `authorize_url` (`sub`, or `None` to deny):
/// the URL it sends the browser back to.
pub fn provider_answer(authorize_url: &str, sub: Option<&str>) -> String {
    let form = match sub {
        Some(s) => format!("sub={s}"),
        None => "action=deny".to_owned(),
    };
    let r = agent()
        .post(authorize_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .send(form)
        .unwrap_or_else(|e| panic!("{authorize_url}: {e}"));
    assert_eq!(r.status().as_u16(), 302, "the provider redirects back");
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The path and query of a URL (what the harness routes on).
pub fn path_of(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/".into(), |i| rest[i..].to_owned()),
        None => url.to_owned(),
    }
}

/// The value of `name="…" value="…"` in a page's hidden input.
pub fn hidden(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &page[at + name.len() + 15..];
    rest.split('"').next().map(str::to_owned)
}
