//! The customer's pages (SPEC §7, PORTAL.md §7.8) in-process against the emulator and the
//! local OpenID provider: signing in to a session of one's own, what the home page shows
//! against the JSON routes, how a session ends, and the forms' origin and CSRF checks.

use serde_json::{Value, json};
use vls_tests::browser::{Jar, hidden, path_of, provider_answer, register_user};
use vls_tests::*;

/// Request headers a test adds.
pub(crate) type Headers<'a> = &'a [(&'a str, &'a str)];

/// The session cookie's name at the harness's https base URL.
const SESSION: &str = "__Host-vls_p";

fn unique_sub(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    )
}

/// A user of the local provider with these claims (email verified unless they say).
pub(crate) fn user(claims: Value) -> String {
    let sub = unique_sub("p");
    register_user(&oidc_issuer(), &sub, &claims);
    sub
}

pub(crate) fn admin_user(account: &str, email: &str) -> String {
    user(json!({"email": email, "role": "customer_admin", "account_id": account}))
}

/// A page answer: HTML, never cached, never referred, never framed, and without script.
pub(crate) fn page(r: &Resp, status: u16, code: Option<&str>) {
    assert_page(r, status, code);
    assert!(!r.raw.contains("<script"), "{}", r.raw);
}

pub(crate) async fn get(h: &Harness, jar: &mut Jar, path: &str) -> Resp {
    let r = h.browse("GET", path, &jar.header(), None).await;
    jar.take(&r);
    r
}

pub(crate) async fn post(
    h: &Harness,
    jar: &mut Jar,
    path: &str,
    form: &str,
    headers: &[(&str, &str)],
) -> Resp {
    let r = h
        .browse_with(("POST", path), &jar.header(), Some(form), headers)
        .await;
    jar.take(&r);
    r
}

pub(crate) fn location(r: &Resp) -> String {
    r.headers.get("location").cloned().unwrap_or_default()
}

/// Signs in as `sub` from the start link: the callback's answer.
async fn sign_in(h: &Harness, jar: &mut Jar, sub: &str, return_to: &str) -> Resp {
    let start = format!("/portal/sign-in/start?return_to={return_to}");
    let to_provider = get(h, jar, &start).await;
    page(&to_provider, 302, None);
    let back = provider_answer(&location(&to_provider), Some(sub));
    get(h, jar, &path_of(&back)).await
}

/// Contoso with a direct subscription of 10 and an EA whose invoiced order adds 50 more.
async fn pooled() -> (Tenancy, String) {
    let t = Tenancy::new().await;
    let path = format!("/accounts/{}/subscriptions", t.account);
    t.h.post(&path, &t.admin, &fixtures::faq_subscription())
        .await
        .id();
    let agreement = t.associated("EA", "2026-01-10").await;
    let order = fixtures::order_body(&agreement, fixtures::covering_lines(), None);
    let order = t.h.post("/orders", &t.partner, &order).await.id();
    let inv =
        t.h.post(&format!("/orders/{order}/invoice"), &t.partner, &json!({}))
            .await;
    assert_eq!(inv.status, 200, "{}", inv.raw);
    (t, agreement)
}

#[tokio::test]
async fn an_admin_signs_in_to_a_session_of_their_own_and_sees_the_pool() {
    let (t, agreement) = pooled().await;
    let h = &t.h;
    let mut jar = Jar::default();
    let first = get(h, &mut jar, "/portal").await;
    page(&first, 303, None);
    assert!(
        location(&first).ends_with("/portal/sign-in?return_to=%2Fportal"),
        "{first:?}"
    );
    let sign_in_page = get(h, &mut jar, &path_of(&location(&first))).await;
    page(&sign_in_page, 200, None);
    assert!(
        sign_in_page
            .raw
            .contains("href=\"/portal/sign-in/start?return_to=%2Fportal\"")
    );

    let start = get(h, &mut jar, "/portal/sign-in/start?return_to=%2Fportal").await;
    let callback = "redirect_uri=https%3A%2F%2Flicensing.example.com%2Fportal%2Fsign-in%2Fcallback";
    assert!(location(&start).contains(callback), "{}", location(&start));
    let sign_in_cookie = start.set_cookies.first().cloned().unwrap_or_default();
    assert!(sign_in_cookie.starts_with("vls_psi_"), "{sign_in_cookie}");
    assert!(
        sign_in_cookie.contains("Path=/portal/sign-in/callback"),
        "{sign_in_cookie}"
    );

    let email = "ada@contoso.example";
    let sub = admin_user(&t.account, email);
    let back = provider_answer(&location(&start), Some(&sub));
    let done = get(h, &mut jar, &path_of(&back)).await;
    page(&done, 303, None);
    assert_eq!(location(&done), "https://licensing.example.com/portal");
    let set = done
        .set_cookies
        .iter()
        .find(|c| c.starts_with(SESSION))
        .expect("a session cookie");
    for attribute in ["Path=/;", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(set.contains(attribute), "{attribute}: {set}");
    }
    let max_age: i64 = set
        .split("Max-Age=")
        .nth(1)
        .and_then(|v| v.split(';').next())
        .and_then(|v| v.parse().ok())
        .expect("Max-Age");
    assert!(max_age > 0 && max_age <= 28_800, "{set}");
    let value = jar.get(SESSION).expect("kept").to_owned();
    for secret in [sub.as_str(), email, t.account.as_str(), "customer_admin"] {
        assert!(!value.contains(secret), "the cookie shows {secret}");
    }
    assert!(
        jar.names().iter().all(|n| !n.starts_with("vls_psi_")),
        "the sign-in cookie is spent"
    );

    let home = get(h, &mut jar, "/portal").await;
    page(&home, 200, None);
    assert!(
        home.raw.contains("Contoso") && home.raw.contains(email),
        "{}",
        home.raw
    );
    assert!(home.raw.contains("<h1>Licences as of "), "{}", home.raw);
    let totals = h
        .get(&format!("/accounts/{}/licenses", t.account), &t.admin)
        .await;
    for sku in totals.body["skus"].as_array().expect("skus") {
        let cell = format!(
            "data-sku=\"{}\">{}<",
            sku["sku"].as_str().expect("sku"),
            sku["total"]
        );
        assert!(home.raw.contains(&cell), "{cell}: {}", home.raw);
    }
    let sources = h
        .get(
            &format!("/accounts/{}/licenses/sources", t.account),
            &t.admin,
        )
        .await;
    for s in sources.body["sources"].as_array().expect("sources") {
        let id = s["id"].as_str().expect("id");
        assert!(home.raw.contains(&format!(">{id}</code>")), "{id}");
    }
    assert!(home.raw.contains(&agreement));

    // The session's cookie is no bearer token; the pages read no other cookie.
    let json = h
        .browse(
            "GET",
            &format!("/accounts/{}/licenses", t.account),
            &jar.header(),
            None,
        )
        .await;
    assert_eq!(json.status, 401, "{}", json.raw);
    let as_activation = format!("__Host-vls_s={value}");
    page(
        &h.browse("GET", "/portal", &as_activation, None).await,
        303,
        None,
    );
    let sealed = vls_signin::CookieKey::development("cookie")
        .seal("vls session", &json!({"sub": sub}))
        .expect("sealed");
    page(
        &h.browse("GET", "/portal", &format!("{SESSION}={sealed}"), None)
            .await,
        303,
        None,
    );
}

#[tokio::test]
async fn only_an_administrator_of_a_known_account_gets_a_session() {
    let t = Tenancy::new().await;
    let h = &t.h;
    let support = user(json!({"email": "bo@vendor.example", "role": "billing_support"}));
    let stranger = vls_domain::types::AccountId::generate();
    let unknown = admin_user(stranger.as_str(), "cy@elsewhere.example");
    let partner =
        user(json!({"email": "di@fabrikam.example", "role": "partner", "partner_id": "p1"}));
    // A role other than the administrator's, even with a known account named in its claims.
    let misnamed = user(
        json!({"email": "ed@vendor.example", "role": "billing_support",
                               "account_id": t.account}),
    );
    for (sub, email) in [
        (support, "bo@vendor.example"),
        (unknown, "cy@elsewhere.example"),
        (partner, "di@fabrikam.example"),
        (misnamed, "ed@vendor.example"),
    ] {
        let mut jar = Jar::default();
        let r = sign_in(h, &mut jar, &sub, "%2Fportal").await;
        page(&r, 403, Some("not_an_admin"));
        assert!(r.raw.contains(email), "{}", r.raw);
        assert!(
            r.raw.contains("/portal/sign-in/start?prompt=login"),
            "{}",
            r.raw
        );
        assert_eq!(jar.get(SESSION), None, "no session for {email}");
    }
}

/// Signs in as Contoso's administrator: the jar, and the CSRF value of the home page's forms.
pub(crate) async fn signed_in(t: &Tenancy) -> (Jar, String) {
    signed_in_to(&t.h, &t.account).await
}

/// Signs in as an administrator of `account`: the jar, and the session's CSRF value.
pub(crate) async fn signed_in_to(h: &Harness, account: &str) -> (Jar, String) {
    let mut jar = Jar::default();
    let sub = admin_user(account, "ada@contoso.example");
    page(&sign_in(h, &mut jar, &sub, "%2Fportal").await, 303, None);
    let home = get(h, &mut jar, "/portal").await;
    page(&home, 200, None);
    let csrf = hidden(&home.raw, "csrf").expect("the sign-out form's CSRF value");
    (jar, csrf)
}

#[tokio::test]
async fn a_session_ends_after_idling_at_its_end_and_when_signed_out() {
    let mut t = Tenancy::new().await;
    t.h.portal.timing = portal::Timing {
        lifetime: chrono::Duration::seconds(60),
        idle: chrono::Duration::seconds(20),
    };
    let h = &t.h;
    let step = |s: i64| h.clock.advance(chrono::Duration::seconds(s));

    let (mut jar, csrf) = signed_in(&t).await;
    for _ in 0..2 {
        step(10);
        page(&get(h, &mut jar, "/portal/help").await, 200, None);
    }
    step(25);
    let idle = get(h, &mut jar, "/portal/help").await;
    page(&idle, 303, None);
    assert!(
        location(&idle).ends_with("return_to=%2Fportal%2Fhelp&ended=idle"),
        "{idle:?}"
    );
    let late = post(
        h,
        &mut jar,
        "/portal/sign-out",
        &format!("csrf={csrf}"),
        &[],
    )
    .await;
    page(&late, 403, Some("session_invalid"));

    let (mut jar, csrf) = signed_in(&t).await;
    for _ in 0..5 {
        step(10);
        page(&get(h, &mut jar, "/portal").await, 200, None);
    }
    step(10);
    let expired = get(h, &mut jar, "/portal").await;
    assert!(
        location(&expired).ends_with("&ended=expired"),
        "{expired:?}"
    );
    let late = post(
        h,
        &mut jar,
        "/portal/sign-out",
        &format!("csrf={csrf}"),
        &[],
    )
    .await;
    page(&late, 403, Some("session_invalid"));

    let (mut jar, csrf) = signed_in(&t).await;
    let copied = jar.header();
    let out = post(
        h,
        &mut jar,
        "/portal/sign-out",
        &format!("csrf={csrf}"),
        &[],
    )
    .await;
    page(&out, 303, None);
    assert!(location(&out).ends_with("/portal/sign-in?return_to=%2Fportal&ended=signed_out"));
    assert_eq!(jar.get(SESSION), None, "the cookie is cleared");
    let replayed = h.browse("GET", "/portal", &copied, None).await;
    page(&replayed, 303, None);
    assert!(
        location(&replayed).ends_with("return_to=%2Fportal"),
        "{replayed:?}"
    );
    let told = get(h, &mut jar, &path_of(&location(&out))).await;
    page(&told, 200, None);
    assert!(told.raw.contains("id=\"ended\""), "{}", told.raw);
}

#[tokio::test]
async fn a_form_from_another_site_or_session_is_refused_before_anything_happens() {
    let t = Tenancy::new().await;
    let h = &t.h;
    let (mut jar, csrf) = signed_in(&t).await;
    let (_, other_csrf) = signed_in(&t).await;
    let valid = format!("csrf={csrf}");
    let refused: [(&str, Headers, &str); 5] = [
        ("", &[], "session_invalid"),
        (&format!("csrf={other_csrf}"), &[], "session_invalid"),
        (&valid, &[("sec-fetch-site", "cross-site")], "cross_site"),
        (&valid, &[("origin", "https://evil.example")], "cross_site"),
        (&valid, &[("sec-fetch-site", "same-site")], "cross_site"),
    ];
    for (form, headers, code) in refused {
        let r = post(h, &mut jar, "/portal/sign-out", form, headers).await;
        page(&r, 403, Some(code));
        assert!(r.raw.contains("Nothing was changed"), "{}", r.raw);
        assert!(r.raw.contains("Reference: <code"), "{}", r.raw);
        page(&get(h, &mut jar, "/portal").await, 200, None);
    }
    let same = [("origin", "null"), ("sec-fetch-site", "same-origin")];
    let out = post(h, &mut jar, "/portal/sign-out", &valid, &same).await;
    page(&out, 303, None);
    assert!(location(&out).ends_with("ended=signed_out"), "{out:?}");
    let good_origin = [("origin", "https://licensing.example.com")];
    let (mut jar, csrf) = signed_in(&t).await;
    let out = post(
        h,
        &mut jar,
        "/portal/sign-out",
        &format!("csrf={csrf}"),
        &good_origin,
    )
    .await;
    page(&out, 303, None);
}

/// A sign-in whose email the provider does not vouch for: the header says so, and what the
/// session changes records it on the account's trail.
#[tokio::test]
async fn an_unverified_email_is_said_and_recorded() {
    let (t, _) = pooled().await;
    let h = &t.h;
    let subs = h
        .get(&format!("/accounts/{}/subscriptions", t.account), &t.admin)
        .await;
    let sub = subs.body["subscriptions"][0]["id"]
        .as_str()
        .expect("a subscription")
        .to_owned();
    let email = "vi@contoso.example";
    let claims = json!({"email": email, "email_verified": false, "role": "customer_admin",
                        "account_id": t.account});
    let who = user(claims);
    let mut jar = Jar::default();
    page(&sign_in(h, &mut jar, &who, "%2Fportal").await, 303, None);
    let home = get(h, &mut jar, "/portal").await;
    assert!(home.raw.contains("id=\"unverified\""), "{}", home.raw);
    let p7 = get(h, &mut jar, &format!("/portal/subscriptions/{sub}")).await;
    let csrf = hidden(&p7.raw, "csrf").expect("csrf");
    let form = hidden(&p7.raw, "form_id").expect("form_id");
    let action = format!("/portal/subscriptions/{sub}/cancel");
    let body = format!("csrf={csrf}&form_id={form}&reason=replaced");
    page(&post(h, &mut jar, &action, &body, &[]).await, 303, None);
    let trail = h
        .get(
            &format!("/accounts/{}/events?order=desc&limit=1", t.account),
            &t.admin,
        )
        .await;
    let entry = &trail.body["events"][0];
    assert_eq!(entry["action"], "subscription.cancelled", "{entry}");
    assert_eq!(entry["details"]["email"], email);
    assert_eq!(entry["details"]["email_verified"], false);
}

/// SPEC §7.6 3: the pages answer on the public base URL alone: a page asked for under another
/// host name is sent there, a form sent to it is refused.
#[tokio::test]
async fn the_pages_answer_on_the_public_base_url_alone() {
    let t = Tenancy::new().await;
    let h = &t.h;
    let (mut jar, csrf) = signed_in(&t).await;
    let other = [("host", "abc123.execute-api.us-east-1.amazonaws.com")];
    let r = h
        .browse_with(("GET", "/portal/help?x=1"), &jar.header(), None, &other)
        .await;
    page(&r, 308, None);
    assert_eq!(
        location(&r),
        "https://licensing.example.com/portal/help?x=1"
    );
    let form = format!("csrf={csrf}");
    let r = post(h, &mut jar, "/portal/sign-out", &form, &other).await;
    page(&r, 403, Some("cross_site"));
    let own = [("host", "licensing.example.com")];
    let r = h
        .browse_with(("GET", "/portal/help"), &jar.header(), None, &own)
        .await;
    page(&r, 200, None);
}
