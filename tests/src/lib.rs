//! Test harness: real handlers over a real (emulated) DynamoDB table, never mocks.
//!
//! Every [`Harness`] gets a fresh table created from `template.yaml`'s definition, so tests
//! run in parallel and can count the items they leave behind. DynamoDB requests are counted
//! by an SDK interceptor on the handler's own client.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use activation_mailer::{MailerApp, MailerSettings};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, StreamSpecification,
    StreamViewType, TimeToLiveSpecification,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextMut,
    BeforeSerializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::ConfigBag;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lambda_http::Body;
use order_intake::App;
use serde_json::{Value, json};
use vls_domain::rules::Policy;
use vls_http::AuthMode;
use vls_http::auth::SelfVerifier;
use vls_runtime::config::{Clock, Config, system_clock};
use vls_runtime::ses::Mailer;
use vls_store::Store;

pub const SECRET: &str = "test-secret";

/// The public base URL the in-process activation pages and mail use.
pub const PUBLIC_BASE_URL: &str = "https://licensing.example.com";

/// The client id the tests sign in with.
pub const CLIENT_ID: &str = "vls-tests";

/// The local OpenID provider (`OIDC_ISSUER`, default the local stack's on port 9400).
pub fn oidc_issuer() -> String {
    std::env::var("OIDC_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:9400".into())
}

/// The activation pages' sign-in against the provider at `issuer`, with the development
/// cookie key.
pub fn sign_in_setup(issuer: &str, public_base_url: &str) -> vls_signin::SignInSetup {
    use vls_signin::oidc::{ClaimNames, Provider, Settings};
    use vls_signin::session::{CookieKey, CookiePolicy};
    vls_signin::SignInSetup {
        public_base_url: public_base_url.to_owned(),
        provider: Some(Provider::new(Settings {
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: CLIENT_ID.into(),
            client_secret: Some("tests-secret".into()),
            redirect_uri: format!("{public_base_url}/sign-in/callback"),
            claims: ClaimNames::default(),
            jwks_refetch_after: std::time::Duration::from_secs(60),
            api_audience: CLIENT_ID.into(),
        })),
        cookie_key: Some(CookieKey::development("cookie")),
        cookies: CookiePolicy::for_base_url(public_base_url),
    }
}

/// The customer's pages' sign-in against the provider at `issuer` (the same client, called
/// back at `/portal/sign-in/callback`), with the development cookie key.
pub fn portal_sign_in_setup(issuer: &str, public_base_url: &str) -> vls_signin::SignInSetup {
    let activation = sign_in_setup(issuer, public_base_url);
    let provider = activation.provider.map(|p| {
        let settings = p
            .settings
            .clone()
            .called_back_at(public_base_url, vls_signin::PORTAL.callback_path);
        vls_signin::oidc::Provider::new(settings)
    });
    vls_signin::SignInSetup {
        provider,
        cookies: activation.cookies.at(vls_signin::PORTAL),
        ..activation
    }
}

mod clock;
mod faults;
mod mail;
mod responses;
mod table;
mod tokens;
mod world;

pub use clock::*;
pub use faults::*;
pub use mail::*;
pub use responses::*;
pub use table::*;
pub use tokens::*;
pub use world::*;

pub mod browser;
pub mod contract;
pub mod fake_provider;
pub mod fixtures;
pub mod receiver;
pub mod seeding;
pub mod stream;
pub mod template_stack;
pub mod work_queue;
