//! The activation pages' sign-in (SPEC §3.1) in-process against the emulator and the local
//! OpenID provider (`oidc-provider-mock`, started by `make test`): the whole flow, and every
//! refusal it names.

use serde_json::{Value, json};
use vls_tests::browser::{Jar, hidden, path_of, provider_answer, register_user};
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
#[allow(dead_code)]
async fn sign_in_as(h: &Harness, jar: &mut Jar, token: &str, sub: &str) -> Resp {
    let to_provider = start(h, jar, token).await;
    let back = provider_answer(&to_provider, Some(sub));
    get(h, jar, &path_of(&back)).await
}

fn assert_page(r: &Resp, status: u16, code: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.raw);
    assert!(
        r.content_type.starts_with("text/html"),
        "{}",
        r.content_type
    );
    assert_eq!(
        r.headers.get("cache-control").map(String::as_str),
        Some("no-store")
    );
    assert_eq!(
        r.headers.get("referrer-policy").map(String::as_str),
        Some("no-referrer")
    );
    if let Some(code) = code {
        assert!(
            r.raw.contains(&format!("data-code=\"{code}\"")),
            "{code}: {}",
            r.raw
        );
    }
}

#[tokio::test]
async fn the_osm_signs_in_sees_the_account_and_confirms() {
    let (h, m, token) = mailed().await;
    let mut jar = Jar::default();
    let link_page = get(&h, &mut jar, &format!("/activate/{token}")).await;
    assert_page(&link_page, 200, None);
    assert!(
        link_page.raw.contains(&format!("href=\"{token}/sign-in\"")),
        "{}",
        link_page.raw
    );
    assert!(!link_page.raw.contains("access_token"), "no token pasting");

    let to_provider = start(&h, &mut jar, &token).await;
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
        !to_provider.contains(&token),
        "the link never goes to the provider"
    );
    let sign_in_cookie = jar
        .names()
        .into_iter()
        .find(|n| n.starts_with("vls_si_"))
        .expect("a sign-in cookie");
    assert!(
        !jar.get(&sign_in_cookie)
            .unwrap_or_default()
            .contains(&token),
        "sealed"
    );

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

    let confirm_page = get(&h, &mut jar, &format!("/activate/{token}")).await;
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
    let csrf = hidden(&confirm_page.raw, "csrf").expect("a CSRF value");

    // A field naming another account is ignored: the session's account is the one.
    let other = h
        .post("/accounts", &m.bs, &fixtures::account_body("Elsewhere"))
        .await
        .id();
    let done = post(
        &h,
        &mut jar,
        &format!("/activate/{token}/confirm"),
        &format!("csrf={csrf}&account_id={other}"),
    )
    .await;
    assert_page(&done, 200, None);
    assert!(done.raw.contains("Licences associated"), "{}", done.raw);
    assert!(done.raw.contains(&m.order), "the attached order");
    assert!(done.raw.contains(&m.account));
    assert!(jar.get("__Host-vls_s").is_none(), "the session is cleared");
    let pool = h
        .get(&format!("/accounts/{}/licenses", m.account), &m.admin)
        .await;
    assert_eq!(total(&pool.body, "d365-sales-professional"), 100);
    let elsewhere = h.get(&format!("/accounts/{other}/licenses"), &m.bs).await;
    assert_eq!(total(&elsewhere.body, "d365-sales-professional"), 0);
    let trail = h
        .get(&format!("/agreements/{}/events", m.agreement), &m.bs)
        .await;
    let completed = trail.body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["action"] == "activation.completed")
        .cloned()
        .expect("audited");
    assert_eq!(completed["actor"]["sub"], sub.as_str());
    assert_eq!(
        completed["details"]["signed_in"]["email"],
        "olivia@contoso.com"
    );

    // Submitting the same form again shows the first outcome.
    let again = h
        .browse(
            "POST",
            &format!("/activate/{token}/confirm"),
            "",
            Some(&format!("csrf={csrf}")),
        )
        .await;
    assert_page(&again, 200, None);
    assert!(again.raw.contains("Licences associated"), "{}", again.raw);
}
