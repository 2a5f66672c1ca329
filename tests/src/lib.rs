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
use vls::config::{Clock, Config, system_clock};
use vls::http::AuthMode;
use vls::http::auth::SelfVerifier;
use vls::mail::Mailer;
use vls::rules::Policy;
use vls::store::Store;

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
pub fn sign_in_setup(issuer: &str, public_base_url: &str) -> activation::signin::SignInSetup {
    use activation::oidc::{ClaimNames, Provider, Settings};
    use activation::session::{CookieKey, CookiePolicy};
    activation::signin::SignInSetup {
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
        cookie_key: Some(CookieKey::development()),
        cookies: CookiePolicy::for_base_url(public_base_url),
    }
}

/// The emulator's endpoint (`AWS_ENDPOINT_URL`, default the local stack's).
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

/// An SDK configuration that can only ever talk to the emulator.
pub fn sdk_config() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            Credentials::new("local", "local", None, None, "tests"),
        ))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

pub fn client() -> Client {
    Client::new(&sdk_config())
}

/// Counts DynamoDB operations by name as the handler's client sends them, and the items its
/// reads returned (`GetItem`, `BatchGetItem`, every page of a `Query`).
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>);

impl Counter {
    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// Items read since the last call.
    pub fn take_items(&self) -> usize {
        self.1.swap(0, Ordering::SeqCst)
    }
}

/// Items a read returned, from its output.
fn items_in(output: &aws_smithy_runtime_api::client::interceptors::context::Output) -> usize {
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemOutput, get_item::GetItemOutput, query::QueryOutput,
    };
    if let Some(q) = output.downcast_ref::<QueryOutput>() {
        return usize::try_from(q.count).unwrap_or(0);
    }
    if let Some(g) = output.downcast_ref::<GetItemOutput>() {
        return usize::from(g.item.is_some());
    }
    output
        .downcast_ref::<BatchGetItemOutput>()
        .and_then(|b| b.responses.as_ref())
        .map_or(0, |r| r.values().map(Vec::len).sum())
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(m), Ok(mut ops)) = (cfg.load::<Metadata>(), self.0.lock()) {
            ops.push(m.name().to_owned());
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(output) = context.output_or_error() {
            self.1.fetch_add(items_in(output), Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Injected DynamoDB failures: while on, every `TransactWriteItems` fails before it is sent,
/// as a throttled or unreachable service would; and, separately, every conditional `PutItem`
/// loses its condition in the emulator, as it does when a concurrent writer got there first.
#[derive(Debug, Clone, Default)]
pub struct Faults(
    Arc<std::sync::atomic::AtomicBool>,
    Arc<std::sync::atomic::AtomicBool>,
    Arc<Mutex<(u32, u32)>>,
);

impl Faults {
    pub fn fail_writes(&self, on: bool) {
        self.0.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// The next `skip` transactions go through, then the `fail` after them fail (throttled).
    pub fn fail_writes_after(&self, skip: u32, fail: u32) {
        if let Ok(mut plan) = self.2.lock() {
            *plan = (skip, fail);
        }
    }

    fn planned_failure(&self) -> bool {
        let Ok(mut plan) = self.2.lock() else {
            return false;
        };
        match *plan {
            (0, 0) => false,
            (0, fail) => {
                plan.1 = fail - 1;
                true
            }
            (skip, fail) => {
                *plan = (skip - 1, fail);
                false
            }
        }
    }

    /// Every `PutItem` is sent with a condition that cannot hold: the emulator answers
    /// `ConditionalCheckFailedException`, as for a write that lost a race.
    pub fn lose_conditional_puts(&self, on: bool) {
        self.1.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "FaultInjection"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(put) = context
            .input_mut()
            .downcast_mut::<aws_sdk_dynamodb::operation::put_item::PutItemInput>()
        {
            put.condition_expression =
                Some("attribute_exists(pk) AND attribute_not_exists(pk)".into());
            put.expression_attribute_names = None;
            put.expression_attribute_values = None;
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let write = cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == "TransactWriteItems");
        if write && (self.0.load(std::sync::atomic::Ordering::SeqCst) || self.planned_failure()) {
            return Err(
                "injected: ThrottlingException (rate of requests exceeds the allowed throughput)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Injected SES answers, as SES gives them: while a fault is on, every `SendEmail` is
/// answered with it (the request never reaches the emulator, so nothing is recorded as sent);
/// while an account is set, every `GetAccount` is answered with it (the emulator has none).
#[derive(Debug, Clone, Default)]
pub struct SesFaults(
    Arc<Mutex<Option<SesFault>>>,
    Arc<Mutex<RateLimit>>,
    Arc<Mutex<AccountAnswers>>,
);

/// What `GetAccount` answers, and how many times it was asked.
#[derive(Debug, Default)]
struct AccountAnswers {
    answer: Option<SesAccount>,
    asked: u64,
}

/// The SES account `GetAccount` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SesAccount {
    /// `ProductionAccessEnabled: false`: a new account, sending only to verified identities.
    Sandbox,
    /// `ProductionAccessEnabled: true`.
    Production,
    /// The connection fails.
    Unreachable,
}

/// Marks a `GetAccount` answered here: with production access or not.
#[derive(Debug, Clone, Copy)]
struct InjectedAccount(bool);

impl aws_smithy_types::config_bag::Storable for InjectedAccount {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// SES's maximum send rate: at most `per_second` sends in any second, the rest throttled.
#[derive(Debug, Default)]
struct RateLimit {
    per_second: Option<usize>,
    window: std::collections::VecDeque<std::time::Instant>,
    accepted: u64,
    throttled: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SesFault {
    /// 429 `TooManyRequestsException`: "Maximum sending rate exceeded."
    Throttled,
    /// 400 `LimitExceededException`: "Daily message quota exceeded."
    QuotaExceeded,
    /// 400 `MessageRejected`: "Address blacklisted."
    RejectedAddress,
    /// 400 `MessageRejected` as the sandbox refuses a recipient it has not verified: "Email
    /// address is not verified. The following identities failed the check …".
    RecipientNotVerified,
    /// The connection fails.
    Unreachable,
}

impl aws_smithy_types::config_bag::Storable for SesFault {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl SesFaults {
    pub fn set(&self, fault: Option<SesFault>) {
        if let Ok(mut f) = self.0.lock() {
            *f = fault;
        }
    }

    /// From now on SES takes at most `per_second` mails a second and throttles the rest.
    pub fn limit_rate(&self, per_second: usize) {
        if let Ok(mut r) = self.1.lock() {
            *r = RateLimit {
                per_second: Some(per_second),
                ..RateLimit::default()
            };
        }
    }

    /// From now on `GetAccount` answers this account (`None`: the emulator answers).
    pub fn set_account(&self, account: Option<SesAccount>) {
        if let Ok(mut a) = self.2.lock() {
            a.answer = account;
        }
    }

    /// `GetAccount` requests answered here so far.
    pub fn account_asked(&self) -> u64 {
        self.2.lock().map_or(0, |a| a.asked)
    }

    /// The injected `GetAccount` answer, counted.
    fn account(&self) -> Option<SesAccount> {
        let mut a = self.2.lock().ok()?;
        let answer = a.answer?;
        a.asked += 1;
        Some(answer)
    }

    /// Sends taken and sends throttled under the rate limit.
    pub fn rate_counts(&self) -> (u64, u64) {
        self.1.lock().map_or((0, 0), |r| (r.accepted, r.throttled))
    }

    fn current(&self) -> Option<SesFault> {
        if let Some(f) = self.0.lock().ok().and_then(|f| *f) {
            return Some(f);
        }
        let mut r = self.1.lock().ok()?;
        let limit = r.per_second?;
        let now = std::time::Instant::now();
        while r
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= std::time::Duration::from_secs(1))
        {
            r.window.pop_front();
        }
        if r.window.len() < limit {
            r.window.push_back(now);
            r.accepted += 1;
            None
        } else {
            r.throttled += 1;
            Some(SesFault::Throttled)
        }
    }
}

impl Intercept for SesFaults {
    fn name(&self) -> &'static str {
        "SesFaults"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg.load::<Metadata>().map(|m| m.name().to_owned());
        let unreachable = || Err("injected: connection refused".into());
        match op.as_deref() {
            Some("GetAccount") => {
                let production = match self.account() {
                    None => return Ok(()),
                    Some(SesAccount::Unreachable) => return unreachable(),
                    Some(account) => account == SesAccount::Production,
                };
                cfg.interceptor_state()
                    .store_put(InjectedAccount(production));
            }
            Some("SendEmail") => {
                let Some(fault) = self.current() else {
                    return Ok(());
                };
                if fault == SesFault::Unreachable {
                    return unreachable();
                }
                cfg.interceptor_state().store_put(fault);
            }
            _ => return Ok(()),
        }
        let _ = context
            .request_mut()
            .set_uri(format!("{}/__injected_fault", endpoint()));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(InjectedAccount(production)) = cfg.load::<InjectedAccount>().copied() {
            *context.response_mut() = account_document(production)?;
            return Ok(());
        }
        let Some(fault) = cfg.load::<SesFault>().copied() else {
            return Ok(());
        };
        let (status, kind, message) = match fault {
            SesFault::Throttled => (
                429,
                "TooManyRequestsException",
                "Maximum sending rate exceeded.",
            ),
            SesFault::QuotaExceeded => (
                400,
                "LimitExceededException",
                "Daily message quota exceeded.",
            ),
            SesFault::RecipientNotVerified => (
                400,
                "MessageRejected",
                "Email address is not verified. The following identities failed the check in \
                 region US-EAST-1: olivia@contoso.com",
            ),
            SesFault::RejectedAddress | SesFault::Unreachable => {
                (400, "MessageRejected", "Address blacklisted.")
            }
        };
        let body = json!({ "message": message }).to_string();
        let mut response = aws_smithy_runtime_api::http::Response::new(
            status.try_into().map_err(|_| "status")?,
            aws_smithy_types::body::SdkBody::from(body),
        );
        response.headers_mut().insert("x-amzn-errortype", kind);
        response
            .headers_mut()
            .insert("content-type", "application/json");
        *context.response_mut() = response;
        Ok(())
    }
}

/// SES's `GetAccount` answer: in the sandbox, 200 mails a day at 1 a second.
fn account_document(production: bool) -> Result<aws_smithy_runtime_api::http::Response, BoxError> {
    let (day, rate) = if production {
        (50_000.0, 14.0)
    } else {
        (200.0, 1.0)
    };
    let body = json!({
        "ProductionAccessEnabled": production,
        "SendingEnabled": true,
        "EnforcementStatus": "HEALTHY",
        "DedicatedIpAutoWarmupEnabled": false,
        "SendQuota": {"Max24HourSend": day, "MaxSendRate": rate, "SentLast24Hours": 0.0},
    });
    let mut response = aws_smithy_runtime_api::http::Response::new(
        200.try_into().map_err(|_| "status")?,
        aws_smithy_types::body::SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/json");
    Ok(response)
}

/// Reads and writes among DynamoDB operation names.
pub fn reads_writes(ops: &[String]) -> (usize, usize) {
    let reads = ops
        .iter()
        .filter(|o| matches!(o.as_str(), "GetItem" | "BatchGetItem" | "Query"))
        .count();
    let writes = ops
        .iter()
        .filter(|o| {
            matches!(
                o.as_str(),
                "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem"
            )
        })
        .count();
    (reads, writes)
}

fn yaml<'a>(v: &'a serde_yaml::Value, path: &[&str]) -> &'a serde_yaml::Value {
    path.iter().fold(v, |v, k| &v[*k])
}

fn s(v: &serde_yaml::Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The `Table` resource's properties in `template.yaml`.
pub fn template_table() -> serde_yaml::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("template parses");
    yaml(&doc, &["Resources", "Table", "Properties"]).clone()
}

fn key_schema(v: &serde_yaml::Value) -> Vec<KeySchemaElement> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(s(&k["AttributeName"]))
                .key_type(KeyType::from(s(&k["KeyType"]).as_str()))
                .build()
                .expect("key")
        })
        .collect()
}

/// Creates a table named `name` from the template's definition.
pub async fn create_table(client: &Client, name: &str) {
    let t = template_table();
    let attrs = t["AttributeDefinitions"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(s(&a["AttributeName"]))
                .attribute_type(ScalarAttributeType::from(s(&a["AttributeType"]).as_str()))
                .build()
                .expect("attr")
        })
        .collect();
    let projection = |p: &serde_yaml::Value| {
        Projection::builder()
            .projection_type(ProjectionType::from(s(&p["ProjectionType"]).as_str()))
            .build()
    };
    let gsis = t["GlobalSecondaryIndexes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|g| {
            GlobalSecondaryIndex::builder()
                .index_name(s(&g["IndexName"]))
                .set_key_schema(Some(key_schema(&g["KeySchema"])))
                .projection(projection(&g["Projection"]))
                .build()
                .expect("gsi")
        })
        .collect();
    let lsis = t["LocalSecondaryIndexes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|l| {
            LocalSecondaryIndex::builder()
                .index_name(s(&l["IndexName"]))
                .set_key_schema(Some(key_schema(&l["KeySchema"])))
                .projection(projection(&l["Projection"]))
                .build()
                .expect("lsi")
        })
        .collect();
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(s(&t["BillingMode"]).as_str()))
        .set_attribute_definitions(Some(attrs))
        .set_key_schema(Some(key_schema(&t["KeySchema"])))
        .set_global_secondary_indexes(Some(gsis))
        .set_local_secondary_indexes(Some(lsis))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(
                    s(&t["StreamSpecification"]["StreamViewType"]).as_str(),
                ))
                .build()
                .expect("stream"),
        )
        .send()
        .await
        .expect("create table (is the emulator up? `make test` starts it)");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(s(&t["TimeToLiveSpecification"]["AttributeName"]))
                .enabled(
                    t["TimeToLiveSpecification"]["Enabled"]
                        .as_bool()
                        .unwrap_or(false),
                )
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("ttl");
}

/// Every item in a table. Tests only: the product never scans.
pub async fn scan_all(
    client: &Client,
    table: &str,
) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan");
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return items,
        }
    }
}

/// A token the local verifier accepts.
pub fn token_with(claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode token")
}

pub fn claims(role: &str, extra: Value) -> Value {
    let mut c = json!({
        "sub": format!("{role}-user"),
        "role": role,
        "iss": "vls-local",
        "aud": "vls",
        "exp": chrono::Utc::now().timestamp() + 3600,
    });
    if let (Value::Object(c), Value::Object(e)) = (&mut c, extra) {
        c.extend(e);
    }
    c
}

pub fn billing_support() -> String {
    token_with(claims("billing_support", json!({})), SECRET)
}

pub fn specialist() -> String {
    token_with(claims("licensing_specialist", json!({})), SECRET)
}

pub fn partner(id: &str) -> String {
    token_with(
        claims(
            "partner",
            json!({ "partner_id": id, "sub": format!("{id}-user") }),
        ),
        SECRET,
    )
}

pub fn admin(account_id: &str) -> String {
    token_with(
        claims(
            "customer_admin",
            json!({ "account_id": account_id, "sub": format!("{account_id}-admin") }),
        ),
        SECRET,
    )
}

/// A response: status, headers of interest, JSON body.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
    pub raw: String,
    pub replayed: bool,
    /// Every header, by lower-case name.
    pub headers: HashMap<String, String>,
    /// Every `Set-Cookie` header, in order.
    pub set_cookies: Vec<String>,
}

/// Every `Set-Cookie` of a response.
pub fn set_cookies(headers: &lambda_http::http::HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

/// An HTML page with the headers every page carries (SPEC §3.1), its status and, if given,
/// its problem code.
pub fn assert_page(r: &Resp, status: u16, code: Option<&str>) {
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
    let csp = r
        .headers
        .get("content-security-policy")
        .cloned()
        .unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp:?}");
    if let Some(code) = code {
        assert!(
            r.raw.contains(&format!("data-code=\"{code}\"")),
            "{code}: {}",
            r.raw
        );
    }
}

/// A problem+json refusal with this status and code.
pub fn assert_problem(r: &Resp, status: u16, code: &str) {
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (status, Some(code)),
        "{}",
        r.raw
    );
}

/// The first event of a trail with this action.
pub fn event(trail: &Value, action: &str) -> Option<Value> {
    trail["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["action"] == action)
        .cloned()
}

/// Headers by lower-case name (the last value of a repeated one).
pub fn header_map(headers: &lambda_http::http::HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

impl Resp {
    /// The `id` of the resource in the body.
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .expect("response has an id")
            .to_owned()
    }
}

/// The secret the local stack verifies tokens with (`LOCAL_JWT_SECRET`, as `make` sets it).
pub fn stack_secret() -> String {
    std::env::var("LOCAL_JWT_SECRET").unwrap_or_else(|_| "local-dev-secret".into())
}

/// A token the running stack accepts: `role` plus `extra` claims — the local stack's own, or,
/// on the template stack, one of its issuer under its claim names.
pub fn stack_token(role: &str, extra: Value) -> String {
    match template_stack::description() {
        Some(stack) => {
            let mut c = json!({"sub": format!("{role}-user"), "role": role});
            if let (Value::Object(c), Value::Object(e)) = (&mut c, extra) {
                c.extend(e);
            }
            template_stack::token(&stack, &c)
        }
        None => token_with(claims(role, extra), &stack_secret()),
    }
}

/// A plain HTTP client for a running stack (`cargo lambda watch`): JSON in, [`Resp`] out.
pub struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    pub fn new(base: &str) -> Self {
        Self::with_timeout(base, None)
    }

    /// A client whose calls give up after `timeout` (connect to last byte).
    pub fn with_timeout(base: &str, timeout: Option<std::time::Duration>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(timeout)
            .build()
            .into();
        Self {
            agent,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// One request; `Err` when no response came back (refused, reset, timed out).
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        idem: Option<&str>,
    ) -> Result<Resp, String> {
        let mut req = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(k) = idem {
            req = req.header("idempotency-key", k);
        }
        req = req.header("content-type", "application/json");
        let req = req
            .body(body.unwrap_or("").to_owned())
            .map_err(|e| e.to_string())?;
        let mut resp = self.agent.run(req).map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let raw = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let replayed = resp.headers().contains_key("idempotent-replayed");
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(Resp {
            status,
            content_type,
            body: serde_json::from_str(&raw).unwrap_or(Value::Null),
            raw,
            replayed,
            headers: header_map(resp.headers()),
            set_cookies: set_cookies(resp.headers()),
        })
    }

    /// One request that must get a response.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        idem: Option<&str>,
    ) -> Resp {
        self.try_send(method, path, token, body, idem)
            .unwrap_or_else(|e| panic!("{method} {path}: no response: {e}"))
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        self.send("GET", path, Some(token), None, None)
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send("POST", path, Some(token), Some(&body.to_string()), None)
    }

    pub fn put(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send("PUT", path, Some(token), Some(&body.to_string()), None)
    }
}

/// A pool's total for one SKU (0 when absent).
pub fn total(pool: &Value, sku: &str) -> u64 {
    pool["skus"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["sku"] == sku)
        .and_then(|s| s["total"].as_u64())
        .unwrap_or(0)
}

/// The true-up orders of an agreement's order list.
pub fn true_up_orders(orders: &Value) -> Vec<&Value> {
    orders["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["source"] == "true_up")
        .collect()
}

/// The actions of an audit trail, oldest first.
pub fn actions(trail: &Value) -> Vec<&str> {
    trail["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect()
}

/// A clock the test moves by hand (starts at the real time).
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<chrono::DateTime<chrono::Utc>>>);

impl TestClock {
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(system_clock()())))
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|_| chrono::Utc::now())
    }

    pub fn set(&self, to: chrono::DateTime<chrono::Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = to;
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }

    pub fn as_clock(&self) -> Clock {
        let me = self.clone();
        Arc::new(move || me.now())
    }
}

impl Default for TestClock {
    fn default() -> Self {
        Self::new()
    }
}

pub fn ses_client() -> aws_sdk_sesv2::Client {
    aws_sdk_sesv2::Client::new(&sdk_config())
}

/// Creates (or, with `false`, deletes) a sender identity in the emulator's SES.
pub async fn sender_identity(address: &str, present: bool) {
    let ses = ses_client();
    if present {
        let _ = ses
            .create_email_identity()
            .email_identity(address)
            .send()
            .await;
    } else {
        let _ = ses
            .delete_email_identity()
            .email_identity(address)
            .send()
            .await;
    }
}

/// Every mail the emulator's SES accepted from `sender`:
/// `{id, source, subject, body, destinations}`.
pub fn sent_mail(sender: &str) -> Vec<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(format!("{}/moto-api/data.json", endpoint()))
        .call()
        .expect("emulator state");
    // The dump holds every table in the emulator: read it whole, however large.
    let text = resp
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_string()
        .expect("the emulator's state dump");
    let data: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["source"] == sender)
        .cloned()
        .collect()
}

/// An RFC 3339 instant, for the clock a test sets.
pub fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("ts")
        .with_timezone(&chrono::Utc)
}

/// The activation link's token in a mail body.
pub fn link_token(mail: &Value) -> Option<String> {
    let body = mail["body"].as_str()?;
    let at = body.find("/activate/")? + "/activate/".len();
    let token: String = body[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (token.len() == 64).then_some(token)
}

/// The tenancy most API tests start from: billing support registered the partner `p1`
/// (Fabrikam) and created the account Contoso, which holds Office 365.
pub struct Tenancy {
    pub h: Harness,
    pub bs: String,
    pub partner: String,
    pub account: String,
    pub admin: String,
}

impl Tenancy {
    pub async fn new() -> Self {
        let h = Harness::new().await;
        let bs = billing_support();
        h.put("/partners/p1", &bs, &fixtures::partner_body("Fabrikam"))
            .await;
        let account = h
            .post("/accounts", &bs, &fixtures::mos_account_body("Contoso"))
            .await
            .id();
        Self {
            admin: admin(&account),
            h,
            bs,
            partner: partner("p1"),
            account,
        }
    }

    /// A `program` agreement (customer number 4711, started `start`) associated with the
    /// account from the start.
    pub async fn associated(&self, program: &str, start: &str) -> String {
        let mut body = fixtures::agreement_body("4711", start);
        body["program"] = serde_json::json!(program);
        body["online_services_account_id"] = serde_json::json!(self.account);
        let r = self.h.post("/agreements", &self.partner, &body).await;
        assert_eq!(r.status, 201, "{}", r.raw);
        r.id()
    }
}

/// Every function over one fresh table of its own, with a clock the test controls and a
/// mail sender identity of its own.
pub struct Harness {
    pub app: App,
    pub activation: activation::App,
    pub reservations: reservations::App,
    pub true_up: true_up::App,
    pub remap: remap::App,
    pub cancellation: cancellation::App,
    pub mailer: MailerApp,
    pub sender: String,
    pub clock: TestClock,
    pub table: String,
    pub ops: Counter,
    pub faults: Faults,
    pub ses_faults: SesFaults,
    pub client: Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Drop for Harness {
    /// Drops the test's table, so the emulator stays small for everyone else.
    fn drop(&mut self) {
        let (client, table) = (self.client.clone(), self.table.clone());
        let sqs = self.sqs.clone();
        let queues = [self.true_up.queue.url(), self.mailer.wakeups.url()].map(str::to_owned);
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(client.delete_table().table_name(table).send());
                for queue in queues {
                    let _ = rt.block_on(sqs.delete_queue().queue_url(queue).send());
                }
            }
        })
        .join();
    }
}

impl Harness {
    pub async fn new() -> Self {
        let client = client();
        let clock = TestClock::new();
        let table = format!("t{}", ulid::Ulid::generate().to_string().to_lowercase());
        create_table(&client, &table).await;
        let ops = Counter::default();
        let faults = Faults::default();
        let conf = aws_sdk_dynamodb::Config::from(&sdk_config())
            .to_builder()
            .interceptor(ops.clone())
            .interceptor(faults.clone())
            .build();
        let config = Config {
            table_name: table.clone(),
            auth: AuthMode::local(SECRET),
            policy: Policy::default(),
            cursor_key: vls::http::paging::CursorKey::development(),
        };
        let store = Store::new(Client::from_conf(conf), table.clone());
        let sender = format!("licensing@{table}.example.com");
        sender_identity(&sender, true).await;
        let activation = activation::App {
            store: store.clone(),
            verifier: SelfVerifier::from_env(&config.auth),
            config: config.clone(),
            clock: clock.as_clock(),
            sign_in: sign_in_setup(&oidc_issuer(), PUBLIC_BASE_URL),
        };
        let sqs = aws_sdk_sqs::Client::new(&sdk_config());
        let wakeups = work_queue::create(&sqs, &format!("{table}-mail-wakeups")).await;
        let ses_faults = SesFaults::default();
        // The mailer's own handling is under test: the SDK does not retry on its own here.
        let ses_conf = aws_sdk_sesv2::Config::from(&sdk_config())
            .to_builder()
            .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled())
            .interceptor(ses_faults.clone())
            .build();
        let mailer = MailerApp {
            store: store.clone(),
            mailer: Mailer::new(aws_sdk_sesv2::Client::from_conf(ses_conf), sender.clone()),
            settings: MailerSettings {
                sender: sender.clone(),
                public_base_url: PUBLIC_BASE_URL.into(),
                throttle_pause: std::time::Duration::from_millis(10),
                // A throttled mail waits a moment (the test clock moves only when told).
                waits: activation_mailer::Waits {
                    throttled: chrono::Duration::milliseconds(10),
                    ..activation_mailer::Waits::default()
                },
                // Two at a time, so that tests see a run stop before it tried everything.
                in_flight: 2,
                ..MailerSettings::default()
            },
            clock: clock.as_clock(),
            // Paced, as deployed; fast enough that no test waits on it.
            pacer: activation_mailer::pacing::Pacer::fixed(1000.0),
            wakeups: vls::queue::Queue::new(sqs.clone(), wakeups),
        };
        let reservations = reservations::App {
            store: store.clone(),
            config: config.clone(),
            clock: clock.as_clock(),
        };
        let queue_url = work_queue::create(&sqs, &format!("{table}-true-up")).await;
        let true_up = true_up::App {
            store: store.clone(),
            queue: vls::queue::Queue::new(sqs.clone(), queue_url),
        };
        let remap = remap::App {
            store: store.clone(),
            config: config.clone(),
            clock: clock.as_clock(),
        };
        let cancellation = cancellation::App {
            store: store.clone(),
            config: config.clone(),
            clock: clock.as_clock(),
        };
        let app = App {
            store,
            config,
            clock: clock.as_clock(),
        };
        Self {
            app,
            activation,
            reservations,
            true_up,
            remap,
            cancellation,
            mailer,
            sender,
            clock,
            table,
            ops,
            faults,
            ses_faults,
            client,
            sqs,
        }
    }

    /// Runs the mailer's sweep once, as the schedule does.
    pub async fn sweep(&self) -> Vec<(vls::types::MailId, activation_mailer::Outcome)> {
        activation_mailer::sweep(&self.mailer, "test-sweep")
            .await
            .expect("sweep")
    }

    /// Another mailer on this harness's table and SES client, paced at `per_second`.
    pub fn mailer_paced(&self, per_second: f64) -> MailerApp {
        MailerApp {
            store: self.mailer.store.clone(),
            mailer: self.mailer.mailer.clone(),
            settings: MailerSettings {
                sender: self.sender.clone(),
                public_base_url: PUBLIC_BASE_URL.into(),
                ..MailerSettings::default()
            },
            clock: self.clock.as_clock(),
            pacer: activation_mailer::pacing::Pacer::fixed(per_second),
            wakeups: self.mailer.wakeups.clone(),
        }
    }

    /// Every pending mail intent due now, as the sweep would list them (every outbox shard).
    pub async fn sweep_ids(&self) -> Vec<vls::types::MailId> {
        let (mut ids, mut start) = (Vec::new(), None);
        loop {
            let (page, next) = self
                .mailer
                .store
                .due_mails(self.clock.now(), 100, start)
                .await
                .expect("due mails");
            ids.extend(page);
            match next {
                Some(cursor) => start = Some(cursor),
                None => return ids,
            }
        }
    }

    /// The true-up as deployed at `now`: the daily run enqueues the due agreements, one
    /// worker bills them from the queue. What it billed (a failed message fails the test).
    pub async fn run_true_up(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<true_up::Billed> {
        true_up::plan(&self.true_up, now)
            .await
            .expect("true-up run");
        let worked = work_queue::drain(&self.true_up, &self.sqs, 1).await;
        assert!(worked.failed.is_empty(), "{:?}", worked.failed);
        worked.billed
    }

    /// Mail this harness's mailer sent, as the emulator recorded it.
    pub fn mail(&self) -> Vec<Value> {
        sent_mail(&self.sender)
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        idem: Option<&str>,
    ) -> Resp {
        self.request(method, path, token, body, idem, None).await
    }

    /// A request whose body is raw bytes (not necessarily UTF-8), as API Gateway hands
    /// binary bodies over.
    pub async fn call_bytes(&self, method: &str, path: &str, token: &str, body: Vec<u8>) -> Resp {
        self.send(
            method,
            path,
            Some(token),
            Body::Binary(body),
            None,
            Some("application/json"),
        )
        .await
    }

    /// A form post (`application/x-www-form-urlencoded`), as the activation page sends it.
    pub async fn form(&self, path: &str, body: &str) -> Resp {
        self.request(
            "POST",
            path,
            None,
            Some(body),
            None,
            Some("application/x-www-form-urlencoded"),
        )
        .await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        idem: Option<&str>,
        content_type: Option<&str>,
    ) -> Resp {
        let body = body.map_or(Body::Empty, |s| Body::Text(s.to_owned()));
        self.send(method, path, token, body, idem, content_type)
            .await
    }

    /// A browser's request: its cookies (a `Cookie` header) and, for a POST, a form body.
    pub async fn browse(&self, method: &str, path: &str, cookie: &str, form: Option<&str>) -> Resp {
        let body = form.map_or(Body::Empty, |f| Body::Text(f.to_owned()));
        let content_type = form.map(|_| "application/x-www-form-urlencoded");
        self.send_with(
            method,
            path,
            None,
            body,
            None,
            content_type,
            &[("cookie", cookie)],
        )
        .await
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Body,
        idem: Option<&str>,
        content_type: Option<&str>,
    ) -> Resp {
        self.send_with(method, path, token, body, idem, content_type, &[])
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Body,
        idem: Option<&str>,
        content_type: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut b = lambda_http::http::Request::builder()
            .method(method)
            .uri(path);
        for (name, value) in extra {
            if !value.is_empty() {
                b = b.header(*name, *value);
            }
        }
        if let Some(c) = content_type {
            b = b.header("content-type", c);
        }
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if let Some(k) = idem {
            b = b.header("idempotency-key", k);
        }
        let req = b.body(body).expect("request");
        let bare = path.split('?').next().unwrap_or_default();
        let resp = if bare.starts_with("/activate/")
            || bare.starts_with("/sign-in/")
            || bare.ends_with("/activation-email/resend")
        {
            activation::handle(&self.activation, req).await
        } else if bare.ends_with("/reservations")
            || bare.ends_with("/true-up-preview")
            || bare.starts_with("/reservations/")
        {
            reservations::handle(&self.reservations, req).await
        } else if bare.ends_with("/remap") || bare.ends_with("/amendments") {
            remap::handle(&self.remap, req).await
        } else if bare.ends_with("/cancellation") || bare.ends_with("/cancellation-preview") {
            cancellation::handle(&self.cancellation, req).await
        } else {
            order_intake::handle(&self.app, req).await
        };
        let status = resp.status().as_u16();
        let headers = header_map(resp.headers());
        let cookies = set_cookies(resp.headers());
        let replayed = resp.headers().contains_key("idempotent-replayed");
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let raw = match resp.into_body() {
            Body::Text(t) => t,
            Body::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            _ => String::new(),
        };
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            content_type,
            body,
            raw,
            replayed,
            headers,
            set_cookies: cookies,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, Some(token), None, None).await
    }

    /// Every item of a paged list (`field` of each page), following its cursors `limit` at a
    /// time; each page must answer 200.
    pub async fn walk(&self, path: &str, token: &str, field: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut url = format!("{path}{sep}limit={limit}");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&url, token).await;
            assert_eq!(page.status, 200, "{url}: {}", page.raw);
            let got = page.body[field].as_array().cloned().unwrap_or_default();
            assert!(got.len() <= limit, "{url}: {} items", got.len());
            items.extend(got);
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => {
                    assert!(page.body["next_cursor"].is_null(), "{}", page.raw);
                    return items;
                }
            }
        }
        panic!("{path}: still paging after 10,000 pages");
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.call("POST", path, Some(token), Some(&body.to_string()), None)
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.call("PUT", path, Some(token), Some(&body.to_string()), None)
            .await
    }

    /// A program associates the link's agreement with `account` as its admin (the JSON
    /// route); the association must succeed.
    pub async fn associate(&self, token: &str, admin: &str, account: &str) -> Resp {
        let r = self
            .post(
                &format!("/activate/{token}"),
                admin,
                &json!({ "account_id": account }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.raw);
        r
    }

    pub async fn item_count(&self) -> usize {
        scan_all(&self.client, &self.table).await.len()
    }
}

/// Fixtures shared by the flows: the FAQ's customer.
/// Items written straight into a harness's table, for the benchmarks that need thousands.
pub mod template_stack;
pub mod work_queue;

pub mod seeding {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    use chrono::{NaiveDate, Utc};
    use vls::model::{ActivationEmail, Actor, Agreement, Customer, Order, OrderSource};
    use vls::model::{OrderStatus, Osm, Reservation, ReservationStatus};
    use vls::types::{
        AccountId, AgreementId, CustomerNumber, Email, Line, Lines, MonthDay, OrderId, PartnerId,
        Program, Quantity, ReservationId,
    };

    use super::Harness;

    /// An EA of partner `p1`, due on `anniversary`, associated with `account` if given.
    pub fn agreement(anniversary: NaiveDate, account: Option<AccountId>) -> Agreement {
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).expect("d");
        Agreement {
            id: AgreementId::generate(),
            program: Program::Ea,
            customer: Customer {
                number: CustomerNumber::parse("bench").expect("n"),
                legal_name: "Contoso".into(),
                country: "NL".into(),
            },
            osm: Osm {
                name: "O".into(),
                email: Email::parse("o@contoso.com").expect("e"),
            },
            partner_id: PartnerId::parse("p1").expect("p"),
            start_date: start,
            schedule: MonthDay::of(anniversary),
            anniversary,
            billed_through: None,
            bound_to_online_services: false,
            account_id: account,
            volume_discount_eligible: false,
            ordered_seats: 0,
            osm_generation: 0,
            link_seq: 0,
            activation_email_failed: None,
            created_at: fixed("2026-01-01T00:00:00Z"),
            holdings: Default::default(),
            version: 1,
        }
    }

    fn fixed(at: &str) -> chrono::DateTime<Utc> {
        chrono::DateTime::parse_from_rfc3339(at)
            .expect("time")
            .with_timezone(&Utc)
    }

    /// An active reservation of 2 Sales Professional seats on `a`, billable at its anniversary,
    /// at place `sequence` in the agreement's reservations.
    pub fn reservation(a: &Agreement, sequence: u64) -> Reservation {
        let line = Line {
            sku: vls::catalog::Sku::SalesProfessional,
            quantity: Quantity::new(2).expect("q"),
        };
        Reservation {
            id: ReservationId::generate(&a.id),
            agreement_id: a.id.clone(),
            lines: Lines::new(vec![line]).expect("l"),
            status: ReservationStatus::Active,
            billable_at: a.anniversary,
            // Made before any anniversary the benchmarks bill.
            created_at: fixed("2026-12-01T00:00:00Z"),
            version: 1,
            sequence,
        }
    }

    /// How much history [`large_history`] writes.
    #[derive(Debug, Clone, Copy)]
    pub struct Large {
        /// Reservations, and as many invoiced orders, on the agreement.
        pub reservations: u64,
        /// Events on the agreement's trail, and on the account's.
        pub events: u64,
        /// Agreements the account holds, the given one included.
        pub agreements: u64,
    }

    /// What a large customer has behind it, written straight to the table as the API would
    /// have left it: reservations and invoiced orders on `agreement`, events on its trail and
    /// on `account`'s, more agreements on `account`. The agreement's and the account's
    /// versions and kept totals move on past all of it, so whatever the API does next comes
    /// after it in every list. Returns how many items it wrote.
    pub async fn large_history(
        h: &Harness,
        account: &AccountId,
        agreement: &AgreementId,
        size: Large,
    ) -> usize {
        use vls::holdings::{Source, shift};
        use vls::store::{Stored, encode, keys};
        let store = &h.app.store;
        let mut a = store
            .agreement(agreement)
            .await
            .expect("read")
            .expect("agreement");
        let held_before = a.holdings.volume();
        let mut acc = store
            .account(account)
            .await
            .expect("read")
            .expect("account");
        let seat = Lines::new(vec![Line {
            sku: vls::catalog::Sku::SalesProfessional,
            quantity: Quantity::new(1).expect("q"),
        }])
        .expect("l");
        let mut items = Vec::new();
        for _ in 0..size.reservations {
            a.version += 1;
            let r = Reservation {
                lines: seat.clone(),
                ..reservation(&a, a.version)
            };
            a.holdings.reserve(r.billable_at, &r.lines);
            items.push(r.item().expect("item"));
            a.version += 1;
            let o = invoiced_order(&a, &seat, a.version);
            a.holdings.invoice(&o.lines);
            items.push(o.item().expect("item"));
        }
        let event = |on: &str| {
            vls::model::Event::new(
                fixed("2026-12-01T00:00:00Z"),
                on,
                Actor::system("seed"),
                "s",
            )
        };
        for _ in 0..size.events {
            a.version += 1;
            let key = (
                keys::agreement_events(&a.id),
                keys::event_position(a.version, 0),
            );
            items.push(encode(&event("seed.agreement"), &key, "event").expect("event"));
            acc.version += 1;
            let key = (
                keys::account_events(&acc.id),
                keys::event_position(acc.version, 0),
            );
            items.push(encode(&event("seed.account"), &key, "event").expect("event"));
        }
        for _ in 1..size.agreements {
            let mut other = self::agreement(a.anniversary, Some(acc.id.clone()));
            other.holdings.invoice(&seat);
            let source = Source::agreement(&other, &acc.id);
            shift(&mut acc.volume, &Default::default(), &source.counts);
            items.push(source.item().expect("item"));
            items.push(other.item().expect("item"));
        }
        shift(&mut acc.volume, &held_before, &a.holdings.volume());
        items.push(Source::agreement(&a, &acc.id).item().expect("item"));
        acc.version += 1;
        items.push(a.item().expect("item"));
        items.push(acc.item().expect("item"));
        write_all(h, &items).await;
        items.len()
    }

    fn invoiced_order(a: &Agreement, lines: &Lines, sequence: u64) -> Order {
        let at = fixed("2026-12-01T00:00:00Z");
        Order {
            id: OrderId::generate(&a.id),
            agreement_id: a.id.clone(),
            partner_id: a.partner_id.clone(),
            source: OrderSource::Order,
            status: OrderStatus::Invoiced,
            lines: lines.clone(),
            replaces_subscription_id: None,
            volume_discount_eligible: false,
            placed_at: at,
            invoiced_at: Some(at),
            activation_email: Some(ActivationEmail::NotNeeded),
            version: 2,
            sequence,
        }
    }

    /// Writes items 25 at a time, eight batches in flight (the last item of `items` last: it
    /// may be what makes the rest consistent).
    pub async fn write_all(h: &Harness, items: &[vls::store::Item]) {
        use futures::StreamExt;
        let Some((last, rest)) = items.split_last() else {
            return;
        };
        futures::stream::iter(rest.chunks(25))
            .for_each_concurrent(8, |chunk| write_batch(h, chunk))
            .await;
        write_batch(h, std::slice::from_ref(last)).await;
    }

    async fn write_batch(h: &Harness, chunk: &[vls::store::Item]) {
        {
            let writes = chunk
                .iter()
                .map(|i| {
                    let put = PutRequest::builder().set_item(Some(i.clone())).build();
                    WriteRequest::builder()
                        .put_request(put.expect("put"))
                        .build()
                })
                .collect();
            h.client
                .batch_write_item()
                .request_items(&h.table, writes)
                .send()
                .await
                .expect("seed");
        }
    }
}

pub mod fixtures {
    use serde_json::{Value, json};

    pub fn partner_body(name: &str) -> Value {
        json!({"name": name, "contact": {"name": "Pat Partner", "email": "pat@fabrikam.com",
               "phone": "+31 20 555 0100"}})
    }

    pub fn account_body(name: &str) -> Value {
        json!({"name": name, "domain": "contoso.com", "online_services": []})
    }

    pub fn mos_account_body(name: &str) -> Value {
        json!({"name": name, "domain": "contoso.com",
               "online_services": [{"product": "office365", "quantity": 300}]})
    }

    /// The FAQ's direct subscription: 50 Professional, 3 instances, 5 GB.
    pub fn faq_subscription() -> Value {
        json!({"billing": "credit_card", "lines": [
            {"sku": "d365-sales-professional", "quantity": 50},
            {"sku": "d365-additional-production-instance", "quantity": 3},
            {"sku": "d365-additional-storage-gb", "quantity": 5},
        ]})
    }

    pub fn agreement_body(customer: &str, start: &str) -> Value {
        json!({
            "program": "EA",
            "customer": {"number": customer, "legal_name": "Contoso Ltd", "country": "NL"},
            "osm": {"name": "Olivia Osm", "email": "olivia@contoso.com"},
            "start_date": start,
        })
    }

    pub fn order_body(agreement: &str, lines: Value, replaces: Option<&str>) -> Value {
        let mut o = json!({"agreement_id": agreement, "lines": lines});
        if let Some(r) = replaces {
            o["replaces_subscription_id"] = json!(r);
        }
        o
    }

    pub fn covering_lines() -> Value {
        json!([
            {"sku": "d365-sales-professional", "quantity": 50},
            {"sku": "d365-additional-production-instance", "quantity": 3},
            {"sku": "d365-additional-storage-gb", "quantity": 5},
        ])
    }
}

/// The README walkthrough up to invoicing, on a harness: partner `p1` registered, an account
/// with the FAQ's direct subscription (50 seats, 3 instances, 5 GB), an EA for customer 4711
/// started 2026-03-15, and an order covering the subscription, invoiced (activation mail queued).
pub struct Migration {
    pub bs: String,
    pub partner: String,
    pub account: String,
    pub admin: String,
    pub subscription: String,
    pub agreement: String,
    pub order: String,
}

pub async fn invoiced_migration(h: &Harness) -> Migration {
    let bs = billing_support();
    let r = h
        .put("/partners/p1", &bs, &fixtures::partner_body("Fabrikam LSP"))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let account = h
        .post("/accounts", &bs, &fixtures::account_body("Contoso"))
        .await
        .id();
    let admin = admin(&account);
    let subscription = h
        .post(
            &format!("/accounts/{account}/subscriptions"),
            &admin,
            &fixtures::faq_subscription(),
        )
        .await
        .id();
    let partner = partner("p1");
    let agreement = h
        .post(
            "/agreements",
            &partner,
            &fixtures::agreement_body("4711", "2026-03-15"),
        )
        .await
        .id();
    let lines = fixtures::order_body(&agreement, fixtures::covering_lines(), Some(&subscription));
    let order = h.post("/orders", &partner, &lines).await.id();
    let inv = h
        .post(&format!("/orders/{order}/invoice"), &partner, &json!({}))
        .await;
    assert_eq!(inv.body["activation_email"], "queued", "{}", inv.raw);
    Migration {
        bs,
        partner,
        account,
        admin,
        subscription,
        agreement,
        order,
    }
}

/// Signing in on the activation pages as a browser would: a cookie jar, and the local
/// OpenID provider's own sign-in form.
pub mod browser {
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
                let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('='))
                else {
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
}

/// A provider of the test's own, for what the local one cannot be made to do: ID tokens
/// with chosen claims (expired, another audience, another nonce), signed by a chosen key,
/// and keys added after the function started. It serves discovery, its key set and a token
/// endpoint that answers the next token the test set.
pub mod fake_provider {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::{Value, json};

    /// A signing key of the test fixtures (`tests/fixtures/provider-key-<name>.der`).
    #[derive(Debug, Clone)]
    pub struct Key {
        pub kid: String,
        der: Vec<u8>,
        n: String,
    }

    impl Key {
        pub fn fixture(name: &str, kid: &str) -> Self {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
            let der = std::fs::read(format!("{dir}/provider-key-{name}.der")).expect("key");
            let n = std::fs::read_to_string(format!("{dir}/provider-key-{name}.n")).expect("n");
            Self {
                kid: kid.to_owned(),
                der,
                n: n.trim().to_owned(),
            }
        }

        pub fn jwk(&self) -> Value {
            json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": self.n,
                   "e": "AQAB"})
        }

        /// `claims` signed RS256 by this key (with its `kid` unless `with_kid` is false).
        pub fn sign(&self, claims: &Value, with_kid: bool) -> String {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = with_kid.then(|| self.kid.clone());
            jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&self.der))
                .expect("sign")
        }
    }

    #[derive(Default)]
    struct State {
        keys: Vec<Value>,
        next_token: Option<String>,
        jwks_requests: usize,
    }

    /// The running provider; it stops with the test process.
    #[derive(Clone)]
    pub struct FakeProvider {
        pub issuer: String,
        state: Arc<Mutex<State>>,
    }

    impl FakeProvider {
        pub fn start(keys: &[&Key]) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
            let issuer = format!("http://{}", listener.local_addr().expect("addr"));
            let state = Arc::new(Mutex::new(State {
                keys: keys.iter().map(|k| k.jwk()).collect(),
                ..State::default()
            }));
            let (s, i) = (state.clone(), issuer.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (s, i) = (s.clone(), i.clone());
                    std::thread::spawn(move || serve(stream, &s, &i));
                }
            });
            Self { issuer, state }
        }

        pub fn add_key(&self, key: &Key) {
            if let Ok(mut s) = self.state.lock() {
                s.keys.push(key.jwk());
            }
        }

        /// The ID token the token endpoint answers next (once).
        pub fn answer_next(&self, id_token: String) {
            if let Ok(mut s) = self.state.lock() {
                s.next_token = Some(id_token);
            }
        }

        pub fn jwks_requests(&self) -> usize {
            self.state.lock().map(|s| s.jwks_requests).unwrap_or(0)
        }

        /// Claims of a valid ID token for `client_id` and `nonce`, to change as a test needs.
        pub fn claims(&self, client_id: &str, nonce: &str, extra: Value) -> Value {
            let now = chrono::Utc::now().timestamp();
            let mut c = json!({
                "iss": self.issuer, "aud": [client_id], "sub": "fake-user", "nonce": nonce,
                "iat": now, "exp": now + 300, "email": "olivia@contoso.com",
                "role": "customer_admin",
            });
            if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
                c.extend(e.clone());
            }
            c
        }
    }

    fn serve(stream: std::net::TcpStream, state: &Mutex<State>, issuer: &str) {
        let Ok(mut writer) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        let _ = reader.read_exact(&mut body);
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let (status, answer) = match path.split('?').next().unwrap_or_default() {
            "/.well-known/openid-configuration" => (
                200,
                json!({"issuer": issuer, "authorization_endpoint": format!("{issuer}/authorize"),
                    "token_endpoint": format!("{issuer}/token"),
                    "jwks_uri": format!("{issuer}/jwks")}),
            ),
            "/jwks" => {
                let mut s = state.lock().expect("state");
                s.jwks_requests += 1;
                (200, json!({"keys": s.keys}))
            }
            "/token" => match state.lock().expect("state").next_token.take() {
                Some(t) => (200, json!({"id_token": t, "token_type": "Bearer"})),
                None => (400, json!({"error": "invalid_grant"})),
            },
            _ => (404, json!({"error": "not_found"})),
        };
        let text = answer.to_string();
        let _ = write!(
            writer,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{text}",
            text.len()
        );
    }
}
