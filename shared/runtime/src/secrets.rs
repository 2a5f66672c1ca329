//! The secrets a function needs, read from Secrets Manager once, at cold start: every one of
//! them in a single `BatchGetSecretValue`, so that no secret sits in the function's
//! configuration (whoever may read that could read the secret).
//!
//! Each secret's ARN is in an environment variable ([`Secret::arn_var`]). Only on the local
//! stack (`VLS_AUTH_MODE=local`) may a plain variable give the value itself
//! ([`Secret::local_var`]); deployed, only the ARN counts.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::operation::batch_get_secret_value::BatchGetSecretValueOutput;
use aws_sdk_secretsmanager::types::SecretValueEntry;
use serde_json::Value;

/// A secret a function may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// Seals the activation pages' cookies; a rotatable key.
    CookieKey,
    /// Seals the paged lists' cursors; a rotatable key.
    CursorKey,
    /// The activation pages' client secret at the identity provider (a public client has
    /// none).
    OidcClientSecret,
    /// Seals partners' webhook signing secrets at rest; a rotatable key.
    WebhookKey,
}

impl Secret {
    /// The variable holding the secret's ARN.
    pub const fn arn_var(self) -> &'static str {
        match self {
            Self::CookieKey => "VLS_COOKIE_KEY_SECRET_ARN",
            Self::CursorKey => "VLS_CURSOR_KEY_SECRET_ARN",
            Self::OidcClientSecret => "OIDC_CLIENT_SECRET_ARN",
            Self::WebhookKey => "VLS_WEBHOOK_KEY_SECRET_ARN",
        }
    }

    /// The variable that may hold the value itself, on the local stack only.
    pub const fn local_var(self) -> &'static str {
        match self {
            Self::CookieKey => "VLS_COOKIE_KEY",
            Self::CursorKey => "VLS_CURSOR_KEY",
            Self::OidcClientSecret => "OIDC_CLIENT_SECRET",
            Self::WebhookKey => "VLS_WEBHOOK_KEY",
        }
    }
}

/// A rotatable key as its secret holds it: `{"current": "<key>", "previous": "<key or empty>"}`.
/// New values are sealed with `current`; those sealed with `previous` still open until the
/// rotation empties it.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyVersions {
    pub current: String,
    pub previous: Option<String>,
}

impl std::fmt::Debug for KeyVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVersions")
            .field("previous", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

impl KeyVersions {
    /// The JSON form, or any other text as the current key with no previous one (a secret an
    /// operator made by hand). Whether the keys are long enough is for their users to say.
    /// The reason given for a refusal never quotes the secret.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(text) else {
            return Ok(Self {
                current: text.to_owned(),
                previous: None,
            });
        };
        let Some(Value::String(current)) = fields.get("current") else {
            return Err("a JSON secret without a \"current\" string".into());
        };
        let previous = match fields.get("previous") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(p.clone()).filter(|p| !p.trim().is_empty()),
            Some(_) => return Err("\"previous\" is not a string".into()),
        };
        Ok(Self {
            current: current.clone(),
            previous,
        })
    }
}

/// The OIDC client secret: the text itself, or `{"client_secret": "…"}`.
fn client_secret(text: &str) -> Result<String, String> {
    let secret = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(fields)) => match fields.get("client_secret") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err("a JSON secret without a \"client_secret\" string".into()),
        },
        _ => text.to_owned(),
    };
    if secret.trim().is_empty() {
        return Err("the client secret is empty".into());
    }
    Ok(secret)
}

/// The secrets a function asked for, those it did not ask for or that are not configured
/// `None`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    pub cookie_key: Option<KeyVersions>,
    pub cursor_key: Option<KeyVersions>,
    pub oidc_client_secret: Option<String>,
    pub webhook_key: Option<KeyVersions>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("cookie_key", &self.cookie_key)
            .field("cursor_key", &self.cursor_key)
            .field("oidc_client_secret", &self.oidc_client_secret.is_some())
            .field("webhook_key", &self.webhook_key)
            .finish()
    }
}

/// A secret the function cannot start with: which one (its variable, and its ARN), and why.
/// Never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read {secrets}: {why}")]
pub struct SecretsError {
    pub secrets: String,
    pub why: String,
}

/// A fetched secret as errors name it: its variable and its ARN.
fn named(secret: Secret, arn: &str) -> String {
    format!("{} ({arn})", secret.arn_var())
}

/// The secrets `wanted`, with `var` reading the environment: those whose ARN is set fetched
/// in one `BatchGetSecretValue` (no request when none is); on the `local` stack, the others
/// from their plain variables if set.
pub async fn load(
    sdk: &aws_config::SdkConfig,
    wanted: &[Secret],
    local: bool,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Secrets, SecretsError> {
    let mut arns = Vec::new();
    let mut texts = Vec::new();
    for &secret in wanted {
        if let Some(arn) = var(secret.arn_var()) {
            arns.push((secret, arn.trim().to_owned()));
        } else if let Some(text) = var(secret.local_var()) {
            if local {
                texts.push((secret, secret.local_var().to_owned(), text));
            } else {
                tracing::warn!(
                    "{} is ignored outside the local stack; {} names the secret",
                    secret.local_var(),
                    secret.arn_var()
                );
            }
        }
    }
    if !arns.is_empty() {
        let fetched = fetch(&Client::new(sdk), &arns).await?;
        let labelled = arns
            .iter()
            .zip(fetched)
            .map(|((s, arn), t)| (*s, named(*s, arn), t));
        texts.extend(labelled);
    }
    secrets_of(texts)
}

/// Each secret's text in the form its use needs.
fn secrets_of(texts: Vec<(Secret, String, String)>) -> Result<Secrets, SecretsError> {
    let mut secrets = Secrets::default();
    for (secret, label, text) in texts {
        let refused = |why: String| SecretsError {
            secrets: label.clone(),
            why,
        };
        match secret {
            Secret::CookieKey => {
                secrets.cookie_key = Some(KeyVersions::parse(&text).map_err(refused)?)
            }
            Secret::CursorKey => {
                secrets.cursor_key = Some(KeyVersions::parse(&text).map_err(refused)?)
            }
            Secret::OidcClientSecret => {
                secrets.oidc_client_secret = Some(client_secret(&text).map_err(refused)?);
            }
            Secret::WebhookKey => {
                secrets.webhook_key = Some(KeyVersions::parse(&text).map_err(refused)?)
            }
        }
    }
    Ok(secrets)
}

/// The text of each secret of `arns` (ARNs or names), in order, all in one
/// `BatchGetSecretValue` request (`SecretIdList`, even for one secret). A secret that is
/// missing, refused or not text fails the whole, named.
pub async fn fetch(
    client: &Client,
    arns: &[(Secret, String)],
) -> Result<Vec<String>, SecretsError> {
    let ids = arns.iter().map(|(_, arn)| arn.clone()).collect();
    let output = client
        .batch_get_secret_value()
        .set_secret_id_list(Some(ids))
        .send()
        .await
        .map_err(|e| SecretsError {
            secrets: arns
                .iter()
                .map(|(s, a)| named(*s, a))
                .collect::<Vec<_>>()
                .join(", "),
            why: DisplayErrorContext(e).to_string(),
        })?;
    arns.iter()
        .map(|(secret, arn)| {
            text_of(&output, arn).map_err(|why| SecretsError {
                secrets: named(*secret, arn),
                why,
            })
        })
        .collect()
}

/// The text the answer holds for `id`, or why not.
fn text_of(output: &BatchGetSecretValueOutput, id: &str) -> Result<String, String> {
    if let Some(e) = output.errors().iter().find(|e| e.secret_id() == Some(id)) {
        let code = e.error_code().unwrap_or("an error");
        return Err(format!("{code}: {}", e.message().unwrap_or_default()));
    }
    let entry = output
        .secret_values()
        .iter()
        .find(|entry| identifies(id, entry))
        .ok_or("Secrets Manager did not return it")?;
    entry
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| "it holds no text (a binary secret)".into())
}

/// `id` names this secret: its ARN, its name, or its ARN without the six random characters
/// Secrets Manager appends (a partial ARN).
fn identifies(id: &str, entry: &SecretValueEntry) -> bool {
    let arn = entry.arn().unwrap_or_default();
    if id == arn || entry.name() == Some(id) {
        return true;
    }
    id.starts_with("arn:")
        && arn
            .strip_prefix(id)
            .is_some_and(|suffix| suffix.len() == 7 && suffix.starts_with('-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::config::{
        BehaviorVersion, Credentials, Region, SharedCredentialsProvider,
    };
    use aws_smithy_runtime_api::client::http::{
        HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    const COOKIE_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cookie-AbCdEf";
    const CURSOR_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cursor-GhIjKl";
    const OIDC_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:oidc-MnOpQr";

    /// Answers every request with `answer`, keeping what it was sent: `<target> <body>`.
    #[derive(Debug, Clone)]
    struct Canned {
        answer: String,
        sent: Arc<Mutex<Vec<String>>>,
    }

    impl Canned {
        fn new(answer: &Value) -> Self {
            Self {
                answer: answer.to_string(),
                sent: Arc::default(),
            }
        }

        fn sent(&self) -> Vec<String> {
            self.sent.lock().expect("not poisoned").clone()
        }

        fn sdk(&self) -> aws_config::SdkConfig {
            let canned = self.clone();
            let credentials = Credentials::new("local", "local", None, None, "tests");
            aws_config::SdkConfig::builder()
                .region(Region::new("us-east-1"))
                .credentials_provider(SharedCredentialsProvider::new(credentials))
                .http_client(http_client_fn(move |_, _| {
                    SharedHttpConnector::new(canned.clone())
                }))
                .behavior_version(BehaviorVersion::latest())
                .build()
        }
    }

    impl HttpConnector for Canned {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let target = request.headers().get("x-amz-target").unwrap_or_default();
            let body = request.body().bytes().unwrap_or_default();
            let sent = format!("{target} {}", String::from_utf8_lossy(body));
            self.sent.lock().expect("not poisoned").push(sent);
            let status = StatusCode::try_from(200).expect("a status");
            let response = Response::new(status, SdkBody::from(self.answer.clone()));
            HttpConnectorFuture::ready(Ok(response))
        }
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn entry(arn: &str, name: &str, text: &str) -> Value {
        json!({"ARN": arn, "Name": name, "VersionId": "v1", "SecretString": text})
    }

    const ALL: [Secret; 3] = [
        Secret::CookieKey,
        Secret::CursorKey,
        Secret::OidcClientSecret,
    ];
    const ARNS: &[(&str, &str)] = &[
        ("VLS_COOKIE_KEY_SECRET_ARN", COOKIE_ARN),
        ("VLS_CURSOR_KEY_SECRET_ARN", CURSOR_ARN),
        ("OIDC_CLIENT_SECRET_ARN", OIDC_ARN),
    ];

    #[tokio::test]
    async fn every_secret_comes_in_one_batch_request() {
        let canned = Canned::new(&json!({"SecretValues": [
            entry(COOKIE_ARN, "cookie", r#"{"current": "cookie-new", "previous": "cookie-old"}"#),
            entry(CURSOR_ARN, "cursor", "cursor-by-hand"),
            entry(OIDC_ARN, "oidc", r#"{"client_secret": "s3cret"}"#),
        ], "Errors": []}));
        let secrets = load(&canned.sdk(), &ALL, false, env(ARNS))
            .await
            .expect("read");
        let sent = canned.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        let (target, body) = sent[0].split_once(' ').expect("target and body");
        assert_eq!(target, "secretsmanager.BatchGetSecretValue");
        let body: Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(
            body,
            json!({"SecretIdList": [COOKIE_ARN, CURSOR_ARN, OIDC_ARN]})
        );
        let versions = |current: &str, previous: Option<&str>| KeyVersions {
            current: current.into(),
            previous: previous.map(Into::into),
        };
        assert_eq!(
            secrets,
            Secrets {
                cookie_key: Some(versions("cookie-new", Some("cookie-old"))),
                cursor_key: Some(versions("cursor-by-hand", None)),
                oidc_client_secret: Some("s3cret".into()),
                webhook_key: None,
            }
        );
    }

    #[tokio::test]
    async fn only_the_secrets_asked_for_are_fetched() {
        let canned = Canned::new(&json!({"SecretValues": [
            entry(CURSOR_ARN, "cursor", r#"{"current": "cursor-key", "previous": ""}"#),
        ]}));
        let secrets = load(&canned.sdk(), &[Secret::CursorKey], false, env(ARNS))
            .await
            .expect("read");
        assert_eq!(canned.sent().len(), 1);
        assert!(canned.sent()[0].contains(&format!(r#"{{"SecretIdList":["{CURSOR_ARN}"]}}"#)));
        assert_eq!(secrets.cookie_key, None);
        assert_eq!(secrets.oidc_client_secret, None);
        let cursor = secrets.cursor_key.expect("the cursor key");
        assert_eq!(
            (cursor.current.as_str(), cursor.previous),
            ("cursor-key", None)
        );
        let none = load(&canned.sdk(), &[], false, env(ARNS))
            .await
            .expect("nothing");
        assert_eq!(
            (none, canned.sent().len()),
            (Secrets::default(), 1),
            "no request"
        );
    }

    #[tokio::test]
    async fn an_unreadable_secret_is_named_and_nothing_is_answered() {
        let canned = Canned::new(&json!({
            "SecretValues": [entry(COOKIE_ARN, "cookie", "cookie-key-that-must-not-leak")],
            "Errors": [{"SecretId": CURSOR_ARN, "ErrorCode": "ResourceNotFoundException",
                        "Message": "Secrets Manager can't find the specified secret."}],
        }));
        let e = load(&canned.sdk(), &ALL, false, env(ARNS))
            .await
            .expect_err("refused");
        assert_eq!(
            e.secrets,
            format!("VLS_CURSOR_KEY_SECRET_ARN ({CURSOR_ARN})")
        );
        assert!(e.why.starts_with("ResourceNotFoundException"), "{e}");
        let missing = Canned::new(&json!({"SecretValues": [], "Errors": []}));
        let e = load(
            &missing.sdk(),
            &[Secret::OidcClientSecret],
            false,
            env(ARNS),
        )
        .await
        .expect_err("not returned");
        assert_eq!(e.secrets, format!("OIDC_CLIENT_SECRET_ARN ({OIDC_ARN})"));
        assert!(!e.to_string().contains("must-not-leak"));
    }

    #[tokio::test]
    async fn a_malformed_secret_is_named_without_its_value() {
        let canned = Canned::new(&json!({"SecretValues": [
            entry(COOKIE_ARN, "cookie", r#"{"key": "cookie-key-that-must-not-leak"}"#),
        ]}));
        let e = load(&canned.sdk(), &[Secret::CookieKey], false, env(ARNS))
            .await
            .expect_err("malformed");
        assert!(e.secrets.contains(COOKIE_ARN), "{e}");
        assert!(!e.to_string().contains("must-not-leak"), "{e}");
    }

    #[tokio::test]
    async fn plain_variables_count_on_the_local_stack_only() {
        const PLAIN: &[(&str, &str)] = &[
            ("VLS_COOKIE_KEY", "a-local-cookie-key"),
            ("OIDC_CLIENT_SECRET", "a-local-client-secret"),
        ];
        let canned = Canned::new(&json!({"SecretValues": []}));
        let local = load(&canned.sdk(), &ALL, true, env(PLAIN))
            .await
            .expect("local");
        assert_eq!(
            local.cookie_key.map(|k| k.current).as_deref(),
            Some("a-local-cookie-key")
        );
        assert_eq!(
            local.oidc_client_secret.as_deref(),
            Some("a-local-client-secret")
        );
        assert_eq!(
            local.cursor_key, None,
            "not set: the caller's development key"
        );
        let deployed = load(&canned.sdk(), &ALL, false, env(PLAIN))
            .await
            .expect("deployed");
        assert_eq!(deployed, Secrets::default());
        assert!(canned.sent().is_empty(), "no ARN, no request");
    }

    #[test]
    fn a_key_secret_is_json_or_plain() {
        let parsed = KeyVersions::parse(r#"{"current": "k2", "previous": "k1"}"#).expect("json");
        assert_eq!(
            (parsed.current.as_str(), parsed.previous.as_deref()),
            ("k2", Some("k1"))
        );
        for previous in [
            r#""previous": """#,
            r#""previous": " ""#,
            r#""previous": null"#,
        ] {
            let text = format!(r#"{{"current": "k2", {previous}}}"#);
            assert_eq!(
                KeyVersions::parse(&text).expect("json").previous,
                None,
                "{text}"
            );
        }
        let generated = r#"{"previous":"","current":"Xq7fK2mPzR9vLw3n"}"#;
        assert_eq!(
            KeyVersions::parse(generated).expect("json").current,
            "Xq7fK2mPzR9vLw3n"
        );
        let plain = KeyVersions::parse("a-plain-key").expect("plain");
        assert_eq!(
            (plain.current.as_str(), plain.previous),
            ("a-plain-key", None)
        );
        assert!(KeyVersions::parse(r#"{"previous": "k1"}"#).is_err());
        assert!(KeyVersions::parse(r#"{"current": 7}"#).is_err());
        assert!(KeyVersions::parse(r#"{"current": "k2", "previous": 1}"#).is_err());
        assert!(
            !format!("{parsed:?}").contains("k2"),
            "Debug hides the keys"
        );
    }

    #[test]
    fn a_client_secret_is_plain_or_json() {
        assert_eq!(client_secret("s3cret").as_deref(), Ok("s3cret"));
        assert_eq!(
            client_secret(r#"{"client_secret": "s3cret"}"#).as_deref(),
            Ok("s3cret")
        );
        assert!(client_secret(r#"{"secret": "s3cret"}"#).is_err());
        assert!(client_secret(r#"{"client_secret": ""}"#).is_err());
        assert!(client_secret(" ").is_err());
    }

    #[test]
    fn an_id_names_a_secret_by_arn_name_or_partial_arn() {
        let e = SecretValueEntry::builder()
            .arn(COOKIE_ARN)
            .name("cookie")
            .build();
        let partial = COOKIE_ARN.trim_end_matches("-AbCdEf");
        for id in [COOKIE_ARN, "cookie", partial] {
            assert!(identifies(id, &e), "{id}");
        }
        for id in ["cook", &COOKIE_ARN[..COOKIE_ARN.len() - 2], CURSOR_ARN] {
            assert!(!identifies(id, &e), "{id}");
        }
    }
}
