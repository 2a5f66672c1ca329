//! The activation pages' sign-in (SPEC §3.1) in-process against the emulator and the local
//! OpenID provider (`oidc-provider-mock`, started by `make test`): the whole flow, and every
//! refusal it names.

use serde_json::{Value, json};
use vls_tests::browser::{Jar, hidden, path_of, provider_answer, register_user};
use vls_tests::fixtures::covering_lines;
use vls_tests::*;

/// An invoiced migration whose activation mail went out: the harness, the walkthrough and
/// the link's token.
async fn mailed() -> (Harness, Migration, String) {
    let h = Harness::new().await;
    let m = invoiced_migration(&h).await;
    h.sweep().await;
    let token = link_token(h.mail().last().expect("a mail")).expect("a link");
    (h, m, token)
}

fn unique_sub(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    )
}

/// A user of the local provider with these claims.
fn user(claims: Value) -> String {
    let sub = unique_sub("u");
    register_user(&oidc_issuer(), &sub, &claims);
    sub
}

fn admin_of(account: &str, email: &str) -> String {
    user(json!({"email": email, "role": "customer_admin", "account_id": account}))
}

async fn get(h: &Harness, jar: &mut Jar, path: &str) -> Resp {
    let r = h.browse("GET", path, &jar.header(), None).await;
    jar.take(&r);
    r
}

async fn post(h: &Harness, jar: &mut Jar, path: &str, form: &str) -> Resp {
    let r = h.browse("POST", path, &jar.header(), Some(form)).await;
    jar.take(&r);
    r
}

/// "Sign in" on the link: the redirect to the provider (its URL).
async fn start(h: &Harness, jar: &mut Jar, token: &str) -> String {
    let r = get(h, jar, &format!("/activate/{token}/sign-in")).await;
    assert_eq!(r.status, 302, "{}", r.raw);
    r.headers.get("location").cloned().expect("a location")
}

/// The whole sign-in as `sub`: answers the callback's response (a 303 to the link page).
async fn sign_in_as(h: &Harness, jar: &mut Jar, token: &str, sub: &str) -> Resp {
    let to_provider = start(h, jar, token).await;
    let back = provider_answer(&to_provider, Some(sub));
    get(h, jar, &path_of(&back)).await
}

/// The link page offers a sign-in link, never a token to paste.
async fn assert_the_link_page_offers_sign_in(h: &Harness, jar: &mut Jar, token: &str) {
    let link_page = get(h, jar, &format!("/activate/{token}")).await;
    assert_page(&link_page, 200, None);
    assert!(
        link_page.raw.contains(&format!("href=\"{token}/sign-in\"")),
        "{}",
        link_page.raw
    );
    assert!(!link_page.raw.contains("access_token"), "no token pasting");
}

/// "Sign in" redirects to the provider with PKCE, state and nonce, never the link, and
/// sets a sealed sign-in cookie. The provider's URL and the cookie's name.
async fn sign_in_redirect(h: &Harness, jar: &mut Jar, token: &str) -> (String, String) {
    let to_provider = start(h, jar, token).await;
    let issuer = oidc_issuer();
    assert!(
        to_provider.starts_with(&format!("{issuer}/oauth2/authorize?")),
        "{to_provider}"
    );
    for part in [
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "response_type=code",
    ] {
        assert!(to_provider.contains(part), "{part}: {to_provider}");
    }
    assert!(
        !to_provider.contains(token),
        "the link never goes to the provider"
    );
    let sign_in_cookie = jar
        .names()
        .into_iter()
        .find(|n| n.starts_with("vls_si_"))
        .expect("a sign-in cookie");
    assert!(
        !jar.get(&sign_in_cookie).unwrap_or_default().contains(token),
        "sealed"
    );
    (to_provider, sign_in_cookie)
}

/// The confirm page shows who signed in and the account, with the CSRF value to confirm.
async fn confirm_page_csrf(h: &Harness, jar: &mut Jar, m: &Migration, token: &str) -> String {
    let confirm_page = get(h, jar, &format!("/activate/{token}")).await;
    assert_page(&confirm_page, 200, None);
    for shown in [
        "olivia@contoso.com",
        m.account.as_str(),
        "Contoso",
        "contoso.com",
        "Sign in as someone else",
    ] {
        assert!(
            confirm_page.raw.contains(shown),
            "{shown}: {}",
            confirm_page.raw
        );
    }
    assert!(
        !confirm_page.raw.contains("id=\"acknowledge\""),
        "the OSM's own address"
    );
    hidden(&confirm_page.raw, "csrf").expect("a CSRF value")
}

/// The confirmation's page lists what the order attached and ends the session.
fn assert_associated(done: &Resp, jar: &Jar, m: &Migration) {
    assert_page(done, 200, None);
    assert!(done.raw.contains("Licences associated"), "{}", done.raw);
    for line in covering_lines().as_array().into_iter().flatten() {
        let (q, sku) = (&line["quantity"], line["sku"].as_str().unwrap_or_default());
        assert!(
            done.raw
                .contains(&format!("<li>{q} × <code>{sku}</code></li>")),
            "what the order attached: {line}"
        );
    }
    assert!(done.raw.contains(&m.account));
    assert!(jar.get("__Host-vls_s").is_none(), "the session is cleared");
}

/// The licences went to the session's account, not `other`, and the trail names who
/// signed in.
async fn assert_the_pools_and_the_trail(h: &Harness, m: &Migration, other: &str, sub: &str) {
    let pool = h
        .get(&format!("/accounts/{}/licenses", m.account), &m.admin)
        .await;
    assert_eq!(total(&pool.body, "d365-sales-professional"), 100);
    let elsewhere = h.get(&format!("/accounts/{other}/licenses"), &m.bs).await;
    assert_eq!(total(&elsewhere.body, "d365-sales-professional"), 0);
    let trail = h
        .get(&format!("/agreements/{}/events", m.agreement), &m.bs)
        .await;
    let completed = event(&trail.body, "activation.completed").expect("audited");
    assert_eq!(completed["actor"]["sub"], sub);
    assert_eq!(
        completed["details"]["signed_in"]["email"],
        "olivia@contoso.com"
    );
}

#[tokio::test]
async fn the_osm_signs_in_sees_the_account_and_confirms() {
    let (h, m, token) = mailed().await;
    let mut jar = Jar::default();
    assert_the_link_page_offers_sign_in(&h, &mut jar, &token).await;
    let (to_provider, sign_in_cookie) = sign_in_redirect(&h, &mut jar, &token).await;

    let sub = admin_of(&m.account, "olivia@contoso.com");
    let back = provider_answer(&to_provider, Some(&sub));
    let r = get(&h, &mut jar, &path_of(&back)).await;
    assert_eq!(r.status, 303, "{}", r.raw);
    assert_eq!(
        r.headers.get("location").map(String::as_str),
        Some(format!("{PUBLIC_BASE_URL}/activate/{token}").as_str())
    );
    assert!(
        jar.get(&sign_in_cookie).is_none(),
        "the sign-in cookie is deleted"
    );
    assert!(
        jar.get("__Host-vls_s").is_some(),
        "a session: {:?}",
        jar.names()
    );

    let csrf = confirm_page_csrf(&h, &mut jar, &m, &token).await;
    // A field naming another account is ignored: the session's account is the one.
    let other = h
        .post("/accounts", &m.bs, &fixtures::account_body("Elsewhere"))
        .await
        .id();
    let confirm = format!("/activate/{token}/confirm");
    let form = format!("csrf={csrf}&account_id={other}");
    let done = post(&h, &mut jar, &confirm, &form).await;
    assert_associated(&done, &jar, &m);
    assert_the_pools_and_the_trail(&h, &m, &other, &sub).await;

    // Submitting the same form again shows the first outcome.
    let again = h
        .browse("POST", &confirm, "", Some(&format!("csrf={csrf}")))
        .await;
    assert_page(&again, 200, None);
    assert!(again.raw.contains("Licences associated"), "{}", again.raw);
}

fn query(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A mailed link, and the OSM signed in on it as the account's admin: the harness, the
/// walkthrough, the link's token and the browser's cookies.
async fn signed_in_osm() -> (Harness, Migration, String, Jar) {
    let (h, m, token) = mailed().await;
    let sub = admin_of(&m.account, "olivia@contoso.com");
    let mut jar = Jar::default();
    let r = sign_in_as(&h, &mut jar, &token, &sub).await;
    assert_eq!(r.status, 303, "{}", r.raw);
    (h, m, token, jar)
}

async fn confirm_page(h: &Harness, jar: &mut Jar, token: &str) -> (Resp, String) {
    let page = get(h, jar, &format!("/activate/{token}")).await;
    let csrf = hidden(&page.raw, "csrf").unwrap_or_default();
    (page, csrf)
}

/// "Sign in as someone else": the session goes, and the provider is asked for a new login.
#[tokio::test]
async fn signing_in_as_someone_else_clears_the_session() {
    let (h, m, token) = mailed().await;
    let mut jar = Jar::default();
    let partner = user(json!({"email": "pat@fabrikam.com", "role": "partner", "partner_id": "p1"}));
    sign_in_as(&h, &mut jar, &token, &partner).await;
    let page = get(&h, &mut jar, &format!("/activate/{token}")).await;
    assert_page(&page, 403, Some("forbidden"));
    let r = get(
        &h,
        &mut jar,
        &format!("/activate/{token}/sign-in?prompt=login"),
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.raw);
    let to = r.headers.get("location").cloned().unwrap_or_default();
    assert!(to.contains("prompt=login"), "{to}");
    assert!(jar.get("__Host-vls_s").is_none(), "the session is cleared");
    let admin = admin_of(&m.account, "olivia@contoso.com");
    let back = provider_answer(&to, Some(&admin));
    assert_eq!(get(&h, &mut jar, &path_of(&back)).await.status, 303);
    let page = get(&h, &mut jar, &format!("/activate/{token}")).await;
    assert_page(&page, 200, None);
    assert!(page.raw.contains("Confirm the association"));
}

#[tokio::test]
async fn a_partner_or_an_admin_without_an_account_cannot_associate() {
    let (h, m, token) = mailed().await;
    for (claims, why) in [
        (
            json!({"email": "pat@fabrikam.com", "role": "partner", "partner_id": "p1"}),
            "not signed in as an account administrator",
        ),
        (
            json!({"email": "olivia@contoso.com", "role": "customer_admin"}),
            "has no account named",
        ),
        (
            json!({"email": "olivia@contoso.com", "role": "customer_admin",
                   "account_id": "acc_01JD0000000000000000000000"}),
            "does not know",
        ),
    ] {
        let mut jar = Jar::default();
        let sub = user(claims);
        let r = sign_in_as(&h, &mut jar, &token, &sub).await;
        assert_eq!(r.status, 303, "{}", r.raw);
        let page = get(&h, &mut jar, &format!("/activate/{token}")).await;
        assert_page(&page, 403, Some("forbidden"));
        assert!(page.raw.contains(why), "{why}: {}", page.raw);
        assert!(!page.raw.contains("name=\"csrf\""), "no Confirm");
    }
    let link = h
        .call("GET", &format!("/activate/{token}"), None, None, None)
        .await;
    assert_eq!(link.status, 200, "nothing was spent");
    assert_eq!(
        total(
            &h.get(&format!("/accounts/{}/licenses", m.account), &m.admin)
                .await
                .body,
            "d365-sales-professional"
        ),
        50
    );
}

#[tokio::test]
async fn the_callback_checks_its_cookie_and_state_before_redeeming() {
    let (h, m, token) = mailed().await;
    let sub = admin_of(&m.account, "olivia@contoso.com");
    let mut jar = Jar::default();
    let to_provider = start(&h, &mut jar, &token).await;
    let back = path_of(&provider_answer(&to_provider, Some(&sub)));
    let state = query(&back, "state").expect("state");
    let code = query(&back, "code").expect("code");
    // No cookie at all.
    let r = h.browse("GET", &back, "", None).await;
    assert_page(&r, 400, Some("sign_in_state"));
    // A tampered state (the cookie is for another one).
    let r = h
        .browse(
            "GET",
            &format!("/sign-in/callback?code={code}&state={state}x"),
            &jar.header(),
            None,
        )
        .await;
    assert_page(&r, 400, Some("sign_in_state"));
    // A cookie value that does not open.
    let mut forged = jar.clone();
    forged.set(&format!("vls_si_{state}"), "AAAA");
    let r = h.browse("GET", &back, &forged.header(), None).await;
    assert_page(&r, 400, Some("sign_in_state"));
    // The real one works once; the code was not spent by the refusals above.
    let before = jar.clone();
    let r = get(&h, &mut jar, &back).await;
    assert_eq!(r.status, 303, "{}", r.raw);
    // Replayed: without its cookie (deleted) it is a stale state; with the old cookie, the
    // provider refuses the used code.
    let r = h.browse("GET", &back, &jar.header(), None).await;
    assert_page(&r, 400, Some("sign_in_state"));
    let r = h.browse("GET", &back, &before.header(), None).await;
    assert_page(&r, 401, Some("sign_in_refused"));
}

#[tokio::test]
async fn a_sign_in_the_provider_refused_or_that_took_too_long() {
    let (h, _m, token) = mailed().await;
    let mut jar = Jar::default();
    let to_provider = start(&h, &mut jar, &token).await;
    let back = path_of(&provider_answer(&to_provider, None));
    assert!(back.contains("error="), "{back}");
    let r = get(&h, &mut jar, &back).await;
    assert_page(&r, 401, Some("sign_in_refused"));
    // Eleven minutes after it started, a sign-in is over.
    let mut jar = Jar::default();
    let to_provider = start(&h, &mut jar, &token).await;
    let back = path_of(&provider_answer(&to_provider, Some(&unique_sub("late"))));
    h.clock.advance(chrono::Duration::minutes(11));
    let r = get(&h, &mut jar, &back).await;
    assert_page(&r, 400, Some("sign_in_state"));
}

#[tokio::test]
async fn an_unreachable_provider_is_a_503_with_retry_after() {
    let (mut h, _m, token) = mailed().await;
    h.activation.sign_in = sign_in_setup("http://127.0.0.1:9", PUBLIC_BASE_URL);
    let r = h
        .call(
            "GET",
            &format!("/activate/{token}/sign-in"),
            None,
            None,
            None,
        )
        .await;
    assert_page(&r, 503, Some("provider_unavailable"));
    assert_eq!(r.headers.get("retry-after").map(String::as_str), Some("60"));
    let r = h
        .call("GET", &format!("/activate/{token}"), None, None, None)
        .await;
    assert_eq!(r.status, 200, "the link page itself needs no provider");
}

#[tokio::test]
async fn confirm_needs_this_links_session_and_its_csrf_value() {
    let (h, m, token, mut jar) = signed_in_osm().await;
    let (page, csrf) = confirm_page(&h, &mut jar, &token).await;
    assert_eq!(page.status, 200, "{}", page.raw);
    let confirm = format!("/activate/{token}/confirm");
    // Missing CSRF value, a wrong one, no session.
    for (cookie, form) in [
        (jar.header(), String::new()),
        (jar.header(), "csrf=not-the-value".to_owned()),
        (String::new(), format!("csrf={csrf}")),
    ] {
        let r = h.browse("POST", &confirm, &cookie, Some(&form)).await;
        assert_page(&r, 403, Some("session_invalid"));
    }
    // Another session's CSRF value.
    let mut other = Jar::default();
    let sub = admin_of(&m.account, "olivia@contoso.com");
    sign_in_as(&h, &mut other, &token, &sub).await;
    let (_, other_csrf) = confirm_page(&h, &mut other, &token).await;
    assert_ne!(other_csrf, csrf);
    let r = h
        .browse(
            "POST",
            &confirm,
            &jar.header(),
            Some(&format!("csrf={other_csrf}")),
        )
        .await;
    assert_page(&r, 403, Some("session_invalid"));
    // A session for another link does not confirm that one, nor show its confirmation.
    let other_link = invoiced_migration(&h).await;
    h.sweep().await;
    let token2 = link_token(h.mail().last().expect("a mail")).expect("a link");
    assert_ne!(token2, token);
    let r = h
        .browse(
            "POST",
            &format!("/activate/{token2}/confirm"),
            &jar.header(),
            Some(&format!("csrf={csrf}")),
        )
        .await;
    assert_page(&r, 403, Some("session_invalid"));
    let page = h
        .browse("GET", &format!("/activate/{token2}"), &jar.header(), None)
        .await;
    assert!(page.raw.contains("Sign in to associate"), "{}", page.raw);
    let _ = other_link;
    // The expired session: fifteen minutes later.
    h.clock.advance(chrono::Duration::minutes(16));
    let r = h
        .browse(
            "POST",
            &confirm,
            &jar.header(),
            Some(&format!("csrf={csrf}")),
        )
        .await;
    assert_page(&r, 403, Some("session_invalid"));
    let link = h
        .call("GET", &format!("/activate/{token}"), None, None, None)
        .await;
    assert_eq!(link.status, 200, "nothing was associated");
}

#[tokio::test]
async fn a_link_spent_between_sign_in_and_confirm_is_410() {
    let (h, m, token, mut jar) = signed_in_osm().await;
    let (_, csrf) = confirm_page(&h, &mut jar, &token).await;
    // A program associates it with the JSON route meanwhile.
    h.associate(&token, &m.admin, &m.account).await;
    let r = post(
        &h,
        &mut jar,
        &format!("/activate/{token}/confirm"),
        &format!("csrf={csrf}"),
    )
    .await;
    assert_page(&r, 410, None);
    assert!(r.raw.contains("already been used"), "{}", r.raw);
}

#[tokio::test]
async fn confirm_submitted_twice_at_once_shows_success_both_times() {
    let (h, m, token, mut jar) = signed_in_osm().await;
    let (_, csrf) = confirm_page(&h, &mut jar, &token).await;
    let (path, cookie, form) = (
        format!("/activate/{token}/confirm"),
        jar.header(),
        format!("csrf={csrf}"),
    );
    let (a, b) = tokio::join!(
        h.browse("POST", &path, &cookie, Some(&form)),
        h.browse("POST", &path, &cookie, Some(&form)),
    );
    for r in [&a, &b] {
        assert_page(r, 200, None);
        assert!(r.raw.contains("Licences associated"), "{}", r.raw);
    }
    let trail = h
        .get(&format!("/agreements/{}/events", m.agreement), &m.bs)
        .await;
    let completed = actions(&trail.body)
        .iter()
        .filter(|a| **a == "activation.completed")
        .count();
    assert_eq!(completed, 1, "associated once");
}

/// The confirmation page asks for the acknowledgement, and a confirm without it is refused;
/// answers the page's CSRF value.
async fn acknowledgement_required(h: &Harness, jar: &mut Jar, token: &str) -> String {
    let (page, csrf) = confirm_page(h, jar, token).await;
    assert!(page.raw.contains("id=\"acknowledge\""), "{}", page.raw);
    let confirm = format!("/activate/{token}/confirm");
    let r = h
        .browse(
            "POST",
            &confirm,
            &jar.header(),
            Some(&format!("csrf={csrf}")),
        )
        .await;
    assert_page(&r, 422, Some("acknowledgement_required"));
    csrf
}

#[tokio::test]
async fn an_unrelated_email_must_acknowledge_the_account() {
    let (h, m, token) = mailed().await;
    let sub = admin_of(&m.account, "it-admin@fabrikam-outsourcing.example");
    let mut jar = Jar::default();
    sign_in_as(&h, &mut jar, &token, &sub).await;
    let csrf = acknowledgement_required(&h, &mut jar, &token).await;
    let confirm = format!("/activate/{token}/confirm");
    let r = post(
        &h,
        &mut jar,
        &confirm,
        &format!("csrf={csrf}&acknowledge=yes"),
    )
    .await;
    assert_page(&r, 200, None);
    let trail = h
        .get(&format!("/agreements/{}/events", m.agreement), &m.bs)
        .await;
    let completed = event(&trail.body, "activation.completed").expect("audited");
    assert_eq!(
        completed["details"]["signed_in"]["acknowledged_unrelated_email"],
        true
    );
    assert_eq!(
        completed["details"]["signed_in"]["email"],
        "it-admin@fabrikam-outsourcing.example"
    );
}

/// An email the provider does not vouch for (`email_verified` false) counts as unrelated, even
/// the OSM's own: a user who may set their own email could otherwise claim the OSM's.
#[tokio::test]
async fn an_unverified_email_must_acknowledge_even_the_osm_s() {
    let (h, m, token) = mailed().await;
    let sub = user(
        json!({"email": "olivia@contoso.com", "email_verified": false,
                          "role": "customer_admin", "account_id": m.account}),
    );
    let mut jar = Jar::default();
    sign_in_as(&h, &mut jar, &token, &sub).await;
    acknowledgement_required(&h, &mut jar, &token).await;
}

mod with_a_provider_of_the_tests_own {
    use super::*;
    use vls_tests::fake_provider::{FakeProvider, Key};

    /// How a case makes its ID token, given the sign-in's nonce.
    type TokenFor<'a> = Box<dyn Fn(&FakeProvider, &str) -> String + 'a>;

    /// A harness whose sign-in talks to `fake`; a sign-in started on its link.
    async fn started(fake: &FakeProvider) -> (Harness, Migration, String, Jar, String, String) {
        let (mut h, m, token) = mailed().await;
        h.activation.sign_in = sign_in_setup(&fake.issuer, PUBLIC_BASE_URL);
        let (jar, state, nonce) = another_sign_in(&h, fake, &token).await;
        (h, m, token, jar, state, nonce)
    }

    /// A new sign-in on the link, in a new browser: its cookies, state and nonce.
    async fn another_sign_in(
        h: &Harness,
        fake: &FakeProvider,
        token: &str,
    ) -> (Jar, String, String) {
        let mut jar = Jar::default();
        let to = start(h, &mut jar, token).await;
        assert!(
            to.starts_with(&format!("{}/authorize?", fake.issuer)),
            "{to}"
        );
        let state = query(&to, "state").expect("state");
        let nonce = query(&to, "nonce").expect("nonce");
        (jar, state, nonce)
    }

    async fn back(h: &Harness, jar: &mut Jar, state: &str) -> Resp {
        get(h, jar, &format!("/sign-in/callback?code=any&state={state}")).await
    }

    #[tokio::test]
    async fn bad_id_tokens_are_refused() {
        let a = Key::fixture("a", "key-a");
        let b = Key::fixture("b", "key-b");
        let fake = FakeProvider::start(&[&a]);
        let now = chrono::Utc::now().timestamp();
        let cases: Vec<(&str, TokenFor)> = vec![
            (
                "expired",
                Box::new(|f, n| a.sign(&f.claims(CLIENT_ID, n, json!({"exp": now - 120})), true)),
            ),
            (
                "another key",
                Box::new(|f, n| b.sign(&f.claims(CLIENT_ID, n, json!({})), true)),
            ),
            (
                "another key under this kid",
                Box::new(|f, n| {
                    Key::fixture("b", "key-a").sign(&f.claims(CLIENT_ID, n, json!({})), true)
                }),
            ),
            (
                "wrong audience",
                Box::new(|f, n| a.sign(&f.claims("someone-else", n, json!({})), true)),
            ),
            (
                "nonce mismatch",
                Box::new(|f, _| a.sign(&f.claims(CLIENT_ID, "not-this-sign-ins", json!({})), true)),
            ),
            (
                "another issuer",
                Box::new(|f, n| {
                    a.sign(
                        &f.claims(CLIENT_ID, n, json!({"iss": "https://evil.example"})),
                        true,
                    )
                }),
            ),
            (
                "not yet valid",
                Box::new(|f, n| a.sign(&f.claims(CLIENT_ID, n, json!({"nbf": now + 600})), true)),
            ),
        ];
        // One link: every case is a sign-in of its own on it.
        let (h, _m, token, ..) = started(&fake).await;
        for (what, token_for) in cases {
            let (mut jar, state, nonce) = another_sign_in(&h, &fake, &token).await;
            fake.answer_next(token_for(&fake, &nonce));
            let r = back(&h, &mut jar, &state).await;
            assert_eq!(r.status, 401, "{what}: {}", r.raw);
            assert!(
                r.raw.contains("data-code=\"id_token_invalid\""),
                "{what}: {}",
                r.raw
            );
            assert!(
                jar.names().iter().all(|n| !n.contains("vls_s")),
                "{what}: no session"
            );
        }
        // Within the 60 s of leeway, and a list audience containing the client: fine.
        let (mut jar, state, nonce) = another_sign_in(&h, &fake, &token).await;
        let now = chrono::Utc::now().timestamp();
        fake.answer_next(a.sign(
            &fake.claims(
                CLIENT_ID,
                &nonce,
                json!({"exp": now - 30, "aud": ["x", CLIENT_ID]}),
            ),
            false,
        ));
        let r = back(&h, &mut jar, &state).await;
        assert_eq!(r.status, 303, "{}", r.raw);
    }

    #[tokio::test]
    async fn a_key_added_after_start_verifies_after_one_refetch() {
        let a = Key::fixture("a", "key-a");
        let b = Key::fixture("b", "key-b");
        let fake = FakeProvider::start(&[&a]);
        let (mut h, _m, token, mut jar, state, nonce) = started(&fake).await;
        if let Some(p) = h.activation.sign_in.provider.as_mut() {
            p.settings.jwks_refetch_after = std::time::Duration::from_millis(300);
        }
        fake.answer_next(a.sign(&fake.claims(CLIENT_ID, &nonce, json!({})), true));
        assert_eq!(back(&h, &mut jar, &state).await.status, 303);
        assert_eq!(fake.jwks_requests(), 1);
        // The provider rotates: key b appears. Within the refetch interval it is unknown…
        fake.add_key(&b);
        let (mut jar2, state2, nonce2) = another_sign_in(&h, &fake, &token).await;
        fake.answer_next(b.sign(&fake.claims(CLIENT_ID, &nonce2, json!({})), true));
        assert_eq!(back(&h, &mut jar2, &state2).await.status, 401);
        assert_eq!(
            fake.jwks_requests(),
            1,
            "not fetched again within the interval"
        );
        // …and once the interval has passed, one refetch finds it.
        tokio::time::sleep(std::time::Duration::from_millis(350)).await;
        let (mut jar3, state3, nonce3) = another_sign_in(&h, &fake, &token).await;
        fake.answer_next(b.sign(&fake.claims(CLIENT_ID, &nonce3, json!({})), true));
        assert_eq!(back(&h, &mut jar3, &state3).await.status, 303);
        assert_eq!(fake.jwks_requests(), 2, "one refetch");
    }

    /// Deployed, the JSON route (no gateway authorizer) verifies bearer tokens with the
    /// provider's keys, as the gateway would: the local HS256 tokens are not accepted there.
    #[tokio::test]
    async fn deployed_the_json_route_verifies_bearer_tokens_with_the_providers_keys() {
        let a = Key::fixture("a", "key-a");
        let b = Key::fixture("b", "key-b");
        let fake = FakeProvider::start(&[&a]);
        let (mut h, m, token) = mailed().await;
        h.activation.sign_in = sign_in_setup(&fake.issuer, PUBLIC_BASE_URL);
        h.activation.verifier = vls_http::auth::SelfVerifier::Provider;
        let path = format!("/activate/{token}");
        let body = json!({"account_id": m.account});
        let admin = json!({"sub": "olivia", "account_id": m.account});
        let now = chrono::Utc::now().timestamp();
        let mut expired = admin.clone();
        expired["exp"] = json!(now - 1);
        for (what, bearer) in [
            ("a local token", m.admin.clone()),
            (
                "another key",
                b.sign(&fake.claims(CLIENT_ID, "-", admin.clone()), true),
            ),
            (
                "expired, no leeway",
                a.sign(&fake.claims(CLIENT_ID, "-", expired), true),
            ),
            (
                "another audience",
                a.sign(&fake.claims("other", "-", admin.clone()), true),
            ),
        ] {
            let r = h.post(&path, &bearer, &body).await;
            assert_eq!(r.status, 401, "{what}: {}", r.raw);
        }
        let good = a.sign(&fake.claims(CLIENT_ID, "-", admin.clone()), true);
        let r = h.post(&path, &good, &body).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        assert_eq!(r.body["account_id"], m.account.as_str());
    }
}
