//! Who is at the browser (SPEC §7.1, §7.6): a page needs a session in use, otherwise it sends
//! the browser to sign in and back; a form also needs to come from this origin (checked
//! before its body is read) and to carry the session's CSRF value, otherwise it is refused
//! with the 403 page and nothing is written. The account is always the session's.

use vls_domain::model::Account;
use vls_domain::types::AccountId;
use vls_http::{Ctx, Principal, Problem, Reply};
use vls_signin::csrf::{constant_time_eq, form_field};
use vls_store::PortalSession;

use crate::layout::Chrome;
use crate::session::{self, Found};
use crate::{App, pages};

/// The signed-in administrator: their session (and the hash it is stored under) and account.
pub struct Signed {
    pub session: PortalSession,
    pub hash: String,
    pub account: Account,
}

impl Signed {
    pub fn chrome(&self) -> Chrome<'_> {
        Chrome {
            account: &self.account,
            session: &self.session,
        }
    }

    /// The session's administrator as the use cases take a caller.
    pub fn principal(&self) -> Principal {
        Principal::CustomerAdmin {
            sub: self.session.sub.clone(),
            account_id: self.account.id.clone(),
        }
    }
}

/// A path to return to after signing in: a portal GET path of this origin, or `/portal`.
pub fn return_path(raw: Option<&str>) -> String {
    let ok = raw.filter(|p| {
        let rest = p.strip_prefix("/portal").unwrap_or("#");
        p.len() <= 1000
            && (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
            && !p.starts_with("/portal/sign-in")
            && !p.contains("//")
            && !p.contains('\\')
            && p.bytes().all(|b| b.is_ascii_graphic())
    });
    ok.unwrap_or("/portal").to_owned()
}

/// The page this request is for, to come back to after signing in.
fn here(ctx: &Ctx) -> String {
    let query = ctx.query();
    let path = if query.is_empty() {
        ctx.path.clone()
    } else {
        format!("{}?{query}", ctx.path)
    };
    return_path(Some(&path))
}

/// The page for a problem met while finding the session (the store unreachable: 503).
pub fn problem_page(ctx: &Ctx, p: &Problem, chrome: Option<&Chrome<'_>>) -> Reply {
    let code = match p.status {
        404 => "not_found",
        409 => "concurrent_update",
        s if s >= 500 => "unavailable",
        _ => p.code,
    };
    let status = if p.status >= 500 { 503 } else { p.status };
    pages::failure(ctx, status, code, chrome)
}

/// The page for a list's problem: a cursor these pages did not give is 422 with a link to the
/// list's first page (`first`); anything else as [`problem_page`].
pub fn list_problem(ctx: &Ctx, p: &Problem, chrome: &Chrome<'_>, first: &str) -> Reply {
    if p.code == "invalid_cursor" || p.code == "invalid_status" {
        let more = format!(
            "<p><a id=\"first-page\" href=\"{}\">Go to the first page</a></p>",
            vls_domain::html::escape(first)
        );
        return pages::failure_with(ctx, (422, p.code), Some(chrome), &more);
    }
    problem_page(ctx, p, Some(chrome))
}

/// A signed-in list page titled `title` under the navigation's `nav`: `rows` builds its main
/// part; a cursor these pages did not give is 422 with a link to the list's first page.
pub async fn list_page(
    app: &App,
    ctx: &Ctx,
    (nav, title): (&str, &str),
    rows: impl AsyncFnOnce(&Signed) -> Result<String, Problem>,
) -> vls_http::Answer {
    let signed = match for_page(app, ctx).await {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    let chrome = signed.chrome();
    Ok(match rows(&signed).await {
        Ok(main) => Reply::html(200, crate::layout::page(Some(&chrome), nav, title, &main)),
        Err(p) => list_problem(ctx, &p, &chrome, nav),
    })
}

async fn signed(
    app: &App,
    ctx: &Ctx,
    session: PortalSession,
    hash: String,
) -> Result<Signed, Reply> {
    let id = AccountId::parse(&session.account_id);
    let account = match id {
        Some(id) => app.store.account(&id).await.map_err(Problem::from),
        None => Ok(None),
    };
    match account {
        Ok(Some(account)) => Ok(Signed {
            session,
            hash,
            account,
        }),
        Ok(None) => Err(pages::not_found(ctx, None)),
        Err(p) => Err(problem_page(ctx, &p, None)),
    }
}

/// A page's session, or the redirect that signs in and comes back here.
pub async fn for_page(app: &App, ctx: &Ctx) -> Result<Signed, Reply> {
    let base = &app.sign_in.public_base_url;
    match session::current(app, ctx).await {
        Ok(Found::Live(s, hash)) => signed(app, ctx, *s, hash).await,
        Ok(Found::Ended(why)) => Err(pages::to_sign_in(base, &here(ctx), Some(why.as_str()))),
        Ok(Found::None) => Err(pages::to_sign_in(base, &here(ctx), None)),
        Err(p) => Err(problem_page(ctx, &p, None)),
    }
}

/// SPEC §7.6 3: the pages answer on the public base URL alone. A request that reached them
/// under another host name (the API's own URL where a custom domain is the base; `localhost`
/// where the base says `127.0.0.1`) is sent there if it is a GET, and refused if it is a form
/// (its cookie and its origin are the other host's). Without a `Host` there is nothing to
/// compare.
pub fn elsewhere(ctx: &Ctx, base: &str) -> Option<Reply> {
    let host = ctx.header("host")?;
    let origin = origin_of(base);
    let base_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    if host.trim().eq_ignore_ascii_case(base_host) {
        return None;
    }
    if ctx.method.as_str() != "GET" {
        return Some(pages::session_invalid(ctx, "cross_site", "/portal"));
    }
    let query = ctx.query();
    let to = if query.is_empty() {
        format!("{origin}{}", ctx.path)
    } else {
        format!("{origin}{}?{query}", ctx.path)
    };
    Some(Reply::redirect(308, &to))
}

/// The origin of a base URL (`https://host[:port]`).
fn origin_of(base: &str) -> &str {
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    }
}

/// SPEC §7.6 2: a POST from another site is refused before its body is read.
pub fn cross_site(ctx: &Ctx, base: &str) -> bool {
    let fetch_site = ctx
        .header("sec-fetch-site")
        .is_some_and(|v| !v.eq_ignore_ascii_case("same-origin"));
    let origin = ctx
        .header("origin")
        .is_some_and(|o| o != "null" && !o.eq_ignore_ascii_case(origin_of(base)));
    fetch_site || origin
}

/// A form's session: from this origin, in a session in use, with its CSRF value; otherwise
/// the 403 page (a link signs in again and returns to `back`).
pub async fn for_form(app: &App, ctx: &Ctx, back: &str) -> Result<Signed, Reply> {
    if cross_site(ctx, &app.sign_in.public_base_url) {
        return Err(pages::session_invalid(ctx, "cross_site", back));
    }
    let (session, hash) = match session::current(app, ctx).await {
        Ok(Found::Live(s, hash)) => (*s, hash),
        Ok(_) => return Err(pages::session_invalid(ctx, "session_invalid", back)),
        Err(p) => return Err(problem_page(ctx, &p, None)),
    };
    let sent = form_field(ctx.body_bytes(), "csrf").unwrap_or_default();
    if !constant_time_eq(session.csrf.as_bytes(), sent.as_bytes()) {
        return Err(pages::session_invalid(ctx, "session_invalid", back));
    }
    signed(app, ctx, session, hash).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_portal_get_path_is_returned_to() {
        assert_eq!(
            return_path(Some("/portal/agreements/x?status=active")),
            "/portal/agreements/x?status=active"
        );
        assert_eq!(return_path(Some("/portal")), "/portal");
        for bad in [
            "https://evil.example/portal",
            "//evil.example",
            "/portal//evil.example",
            "/portalx",
            "/orders",
            "/portal/sign-in/callback",
            "/portal/\\evil",
            "/portal/a b",
        ] {
            assert_eq!(return_path(Some(bad)), "/portal", "{bad}");
        }
        assert_eq!(return_path(None), "/portal");
    }

    #[test]
    fn the_origin_of_a_base_url() {
        assert_eq!(
            origin_of("https://licensing.example.com"),
            "https://licensing.example.com"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:9000/stage"),
            "http://127.0.0.1:9000"
        );
    }
}
