//! The secrets a function starts with, read from the emulator's Secrets Manager: the values
//! as stored, all in one request, and a secret that cannot be read named in the refusal.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_secretsmanager::Client;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use vls_runtime::secrets::{KeyVersions, Secret, load};
use vls_tests::sdk_config;

/// Counts the HTTP requests a connector sends, retries included.
#[derive(Debug)]
struct Counted(SharedHttpConnector, Arc<AtomicUsize>);

impl HttpConnector for Counted {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.call(request)
    }
}

/// The tests' SDK configuration, its requests counted.
fn counted_sdk() -> (aws_config::SdkConfig, Arc<AtomicUsize>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let inner = vls_runtime::config::amazon_https_client();
    let count = sent.clone();
    let client = http_client_fn(move |settings, components| {
        use aws_smithy_runtime_api::client::http::HttpClient;
        let connector = inner.http_connector(settings, components);
        SharedHttpConnector::new(Counted(connector, count.clone()))
    });
    (sdk_config().to_builder().http_client(client).build(), sent)
}

async fn create(client: &Client, name: &str, text: &str) -> String {
    let created = client
        .create_secret()
        .name(name)
        .secret_string(text)
        .send()
        .await
        .expect("secret created");
    created.arn().expect("an ARN").to_owned()
}

fn vars(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

#[tokio::test]
async fn a_function_s_secrets_come_in_one_request_and_a_missing_one_is_named() {
    let client = Client::new(&sdk_config());
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let cookie_text = r#"{"current": "cookie-key-2-cookie-key-2-cookie-key-2", "previous":
        "cookie-key-1-cookie-key-1-cookie-key-1"}"#;
    let cookie = create(&client, &format!("{run}-cookie"), cookie_text).await;
    let oidc = create(
        &client,
        &format!("{run}-oidc"),
        r#"{"client_secret": "s3cret"}"#,
    )
    .await;
    let (sdk, sent) = counted_sdk();
    let needs = [Secret::CookieKey, Secret::OidcClientSecret];
    let env = vars(vec![
        ("VLS_COOKIE_KEY_SECRET_ARN", cookie.clone()),
        ("OIDC_CLIENT_SECRET_ARN", oidc.clone()),
    ]);
    let secrets = load(&sdk, &needs, false, env).await.expect("read");
    assert_eq!(sent.load(Ordering::SeqCst), 1, "one request for both");
    let expected = KeyVersions {
        current: "cookie-key-2-cookie-key-2-cookie-key-2".into(),
        previous: Some("cookie-key-1-cookie-key-1-cookie-key-1".into()),
    };
    assert_eq!(secrets.cookie_key, Some(expected));
    assert_eq!(secrets.oidc_client_secret.as_deref(), Some("s3cret"));
    assert_eq!(secrets.cursor_key, None, "not asked for");

    let missing = cookie.replace(&format!("{run}-cookie"), &format!("{run}-gone"));
    let env = vars(vec![
        ("VLS_COOKIE_KEY_SECRET_ARN", cookie.clone()),
        ("VLS_CURSOR_KEY_SECRET_ARN", missing.clone()),
    ]);
    let needs = [Secret::CookieKey, Secret::CursorKey];
    let e = load(&sdk, &needs, false, env).await.expect_err("refused");
    assert_eq!(sent.load(Ordering::SeqCst), 2, "one request more");
    assert_eq!(e.secrets, format!("VLS_CURSOR_KEY_SECRET_ARN ({missing})"));
    assert!(e.why.contains("ResourceNotFoundException"), "{e}");
    assert!(!e.to_string().contains("cookie-key"), "{e}");
    for arn in [cookie, oidc] {
        let deleted = client.delete_secret().secret_id(arn);
        let _ = deleted.force_delete_without_recovery(true).send().await;
    }
}
