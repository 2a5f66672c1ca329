//! What the tests do to the SDK's requests: count them, fail them, and SES's answers.

use super::*;

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
/// as a throttled or unreachable service would; and, separately, every `PutItem` and every put
/// of a transaction loses its condition in the emulator, as when a concurrent writer got there
/// first.
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

    /// Every `PutItem`, and every put of a `TransactWriteItems`, is sent with a condition that
    /// cannot hold: the emulator refuses it, as a write that lost a race.
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
        const IMPOSSIBLE: &str = "attribute_exists(pk) AND attribute_not_exists(pk)";
        let input = context.input_mut();
        if let Some(put) =
            input.downcast_mut::<aws_sdk_dynamodb::operation::put_item::PutItemInput>()
        {
            put.condition_expression = Some(IMPOSSIBLE.into());
            put.expression_attribute_names = None;
            put.expression_attribute_values = None;
        }
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
        if let Some(tx) = input.downcast_mut::<TransactWriteItemsInput>() {
            for put in tx
                .transact_items
                .iter_mut()
                .flatten()
                .filter_map(|i| i.put.as_mut())
            {
                put.condition_expression = Some(IMPOSSIBLE.into());
                put.expression_attribute_names = None;
                put.expression_attribute_values = None;
            }
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
