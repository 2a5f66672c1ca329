//! Configuration from the environment, read once at start-up.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};

use crate::secrets::{KeyVersions, Secret, Secrets, SecretsError};
use vls_domain::rules::Policy;
use vls_http::AuthMode;
use vls_http::auth::{ClaimNames, DEFAULT_LOCAL_SECRET};
use vls_http::paging::CursorKey;
use vls_store::Store;

/// "Now", passed into rules rather than read inside them.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock, to the millisecond (what timestamps are stored with).
pub fn system_clock() -> Clock {
    Arc::new(|| Utc::now().trunc_subsecs(3))
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub auth: AuthMode,
    pub policy: Policy,
    /// Seals the lists' cursors: the secret `VLS_CURSOR_KEY_SECRET_ARN` names, each key at
    /// least 32 characters, read by [`Startup::from_env`] for the functions that page (the
    /// local stack alone goes without, with a fixed development key).
    pub cursor_key: Option<CursorKey>,
}

/// An environment variable that is set and not blank.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A configuration the function must not start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("VLS_AUTH_MODE=local is for the local stack only, and {0}")]
    LocalAuthOffLoopback(String),
    #[error(transparent)]
    Secret(#[from] SecretsError),
    #[error("{0} is not set")]
    Missing(&'static str),
}

/// Why local token verification must not run with this environment, if it must not: it
/// trusts a development secret, so every AWS endpoint the functions use (DynamoDB, SES v2)
/// has to be configured and on a loopback address; otherwise it would be AWS itself.
pub fn local_auth_refusal(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    if var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Some("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS sends every client to AWS".into());
    }
    for service in ["DYNAMODB", "SESV2"] {
        let endpoint =
            var(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| var("AWS_ENDPOINT_URL"));
        match endpoint {
            None => {
                return Some(format!(
                    "no endpoint is configured for {service}: it would be AWS"
                ));
            }
            Some(e) if !is_loopback_url(&e) => {
                return Some(format!(
                    "the {service} endpoint {e} is not a loopback address"
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// `http(s)://` on `localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(uri) = url.trim().parse::<lambda_http::http::Uri>() else {
        return false;
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return false;
    }
    match uri.host() {
        Some(h) if h.eq_ignore_ascii_case("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

impl Config {
    /// `TABLE_NAME` (default `vls`); `VLS_AUTH_MODE=local` with `LOCAL_JWT_SECRET` only on
    /// the local stack (refused unless every AWS endpoint is on loopback);
    /// `VOLUME_DISCOUNT_THRESHOLD`; `PUBLIC_MAIL_DOMAINS` (comma-separated). A refused
    /// configuration is logged as an error, and the function does not start.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read().inspect_err(|e| tracing::error!(error = %e, "refusing to start"))
    }

    fn read() -> Result<Self, ConfigError> {
        let auth = match var("VLS_AUTH_MODE").as_deref() {
            Some("local") => {
                if let Some(why) = local_auth_refusal(var) {
                    return Err(ConfigError::LocalAuthOffLoopback(why));
                }
                AuthMode::local(
                    &var("LOCAL_JWT_SECRET").unwrap_or_else(|| DEFAULT_LOCAL_SECRET.to_owned()),
                )
            }
            _ => AuthMode::Gateway(ClaimNames::from_vars(var)),
        };
        let mut policy = Policy::default();
        if let Some(t) = var("VOLUME_DISCOUNT_THRESHOLD").and_then(|t| t.parse().ok()) {
            policy.volume_discount_threshold = t;
        }
        if let Some(domains) = var("PUBLIC_MAIL_DOMAINS") {
            policy.public_mail_domains = domains
                .split(',')
                .map(|d| d.trim().to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect();
        }
        Ok(Self {
            table_name: var("TABLE_NAME").unwrap_or_else(|| "vls".to_owned()),
            auth,
            policy,
            cursor_key: None,
        })
    }

    /// On the local stack (`VLS_AUTH_MODE=local`).
    pub fn is_local(&self) -> bool {
        matches!(self.auth, AuthMode::Local { .. })
    }
}

/// What a function starts with: its configuration, the AWS configuration every client is
/// built from, and the secrets it needs.
pub struct Startup {
    pub config: Config,
    pub sdk: aws_config::SdkConfig,
    pub secrets: Secrets,
}

impl Startup {
    /// [`Config::from_env`], [`aws`], then the secrets in `needs` (and those only), all in one
    /// request at most; the cursor key goes into the configuration. A secret that cannot be
    /// read is refused as a configuration is: logged as an error, and the function does not
    /// start.
    pub async fn from_env(needs: &[Secret]) -> Result<Self, ConfigError> {
        let mut config = Config::from_env()?;
        let sdk = aws().await;
        let secrets = crate::secrets::load(&sdk, needs, config.is_local(), var)
            .await
            .inspect_err(|e| tracing::error!(error = %e, "refusing to start"))?;
        config.cursor_key = cursor_key(secrets.cursor_key.as_ref(), config.is_local());
        Ok(Self {
            config,
            sdk,
            secrets,
        })
    }
}

/// The cursor key from its secret; without one, the development key on the local stack.
fn cursor_key(versions: Option<&KeyVersions>, local: bool) -> Option<CursorKey> {
    match versions {
        Some(v) => {
            let key = CursorKey::from_versions(&v.current, v.previous.as_deref());
            if key.is_none() {
                tracing::error!(
                    "a cursor key is shorter than 32 characters: lists cannot be paged"
                );
            }
            key
        }
        None if local => CursorKey::development(),
        None => None,
    }
}

/// The roots of Amazon Trust Services, which sign every AWS service endpoint the functions
/// call (DynamoDB, SES): Amazon Root CA 1–4 and Starfield Services Root CA G2.
pub const AMAZON_TRUST_SERVICES_ROOTS: &[u8] = include_bytes!("../certs/amazon-trust-services.pem");

/// The AWS configuration, loaded once per process; every client is built from it.
///
/// Its HTTPS client trusts Amazon Trust Services' roots only, compiled in: loading and parsing
/// the system's whole CA bundle was most of a cold start (about 3 ms of 6).
/// `VLS_TLS_ROOTS=system` trusts the system bundle instead (behind a TLS-inspecting proxy, say).
pub async fn aws() -> aws_config::SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let loader = match var("VLS_TLS_ROOTS").as_deref() {
        Some("system") => loader,
        _ => loader.http_client(amazon_https_client()),
    };
    loader.load().await
}

/// An HTTPS client (rustls, aws-lc) that trusts [`AMAZON_TRUST_SERVICES_ROOTS`] only.
pub fn amazon_https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    let trust = TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS);
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::AwsLc,
    ));
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        Err(e) => {
            tracing::error!(error = %e, "TLS context with Amazon's roots; using the defaults");
            builder.build_https()
        }
    }
}

/// The store over the configured table.
pub fn store(sdk: &aws_config::SdkConfig, config: &Config) -> Store {
    Store::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.table_name.clone(),
    )
}

/// What an HTTP function needs for every request, built once per process: the store over
/// the configured table, the configuration and the clock.
pub struct Deps {
    pub store: Store,
    pub config: Config,
    pub clock: Clock,
}

impl Deps {
    /// Configuration and the secrets in `needs` from the environment, and clients from one
    /// `SdkConfig`, before the runtime first polls (as in production; lazy construction only
    /// moves the cost).
    pub async fn from_env(needs: &[Secret]) -> Result<Self, ConfigError> {
        let Startup { config, sdk, .. } = Startup::from_env(needs).await?;
        Ok(Self {
            store: store(&sdk, &config),
            config,
            clock: system_clock(),
        })
    }
}

/// The key that seals webhook signing secrets: the secret's versions, or on the local stack
/// without one, the development key; a function that needs it does not start without it.
pub fn webhook_sealing(
    secrets: &crate::secrets::Secrets,
    local: bool,
) -> Result<vls_http::sealing::SealingKey, ConfigError> {
    use vls_http::sealing::SealingKey;
    let key = match &secrets.webhook_key {
        Some(v) => SealingKey::from_versions(&v.current, v.previous.as_deref()),
        None if local => Some(SealingKey::development("webhook")),
        None => None,
    };
    key.ok_or_else(|| {
        let e = ConfigError::Secret(crate::secrets::SecretsError {
            secrets: Secret::WebhookKey.arn_var().to_owned(),
            why: "no webhook key of at least 32 characters".to_owned(),
        });
        tracing::error!(error = %e, "refusing to start");
        e
    })
}

/// A wait in whole seconds from `name` (0 or more), if it is set to one.
pub fn seconds(name: &str) -> Option<chrono::Duration> {
    var(name)
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| *v >= 0)
        .map(chrono::Duration::seconds)
}

/// The queue that wakes the webhook sender for a delivery when it is due
/// (`DELIVERY_QUEUE_URL`, SPEC §6.8); a function that hands deliveries over does not start
/// without it.
pub fn delivery_queue(sdk: &aws_config::SdkConfig) -> Result<crate::queue::Queue, ConfigError> {
    let url = var("DELIVERY_QUEUE_URL").ok_or(ConfigError::Missing("DELIVERY_QUEUE_URL"))?;
    Ok(crate::queue::Queue::new(aws_sdk_sqs::Client::new(sdk), url))
}

/// How long a partner's events are kept and listed (SPEC §6.4): `EVENT_RETENTION_DAYS`,
/// 90 days unless set.
pub fn event_retention() -> chrono::Duration {
    let days = var("EVENT_RETENTION_DAYS")
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|d| *d > 0)
        .unwrap_or(90);
    chrono::Duration::days(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_auth_only_with_every_endpoint_on_loopback() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            local_auth_refusal(env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")])),
            None
        );
        assert_eq!(
            local_auth_refusal(env(&[("AWS_ENDPOINT_URL", "http://localhost:4566")])),
            None
        );
        assert_eq!(
            local_auth_refusal(env(&[("AWS_ENDPOINT_URL", "http://[::1]:4566/")])),
            None
        );
        let refused = [
            &[][..],
            &[(
                "AWS_ENDPOINT_URL",
                "https://dynamodb.us-east-1.amazonaws.com",
            )][..],
            &[("AWS_ENDPOINT_URL", "http://10.0.0.5:4566")][..],
            &[("AWS_ENDPOINT_URL", "http://127.0.0.1.nip.io:4566")][..],
            &[("AWS_ENDPOINT_URL", "not a url")][..],
            // One service on loopback, the other on AWS.
            &[
                ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:4566"),
                (
                    "AWS_ENDPOINT_URL_SESV2",
                    "https://email.us-east-1.amazonaws.com",
                ),
            ][..],
            &[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:4566")][..],
            &[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
                ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
            ][..],
        ];
        for pairs in refused {
            assert!(local_auth_refusal(env(pairs)).is_some(), "{pairs:?}");
        }
    }

    #[test]
    fn amazon_roots_make_a_working_client() {
        let pem = std::str::from_utf8(AMAZON_TRUST_SERVICES_ROOTS).expect("PEM is text");
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        // Building a client parses the roots into the TLS configuration (it panics on a bad one).
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .http_client(amazon_https_client())
            .build();
        let _client = aws_sdk_dynamodb::Client::from_conf(conf);
    }
}
