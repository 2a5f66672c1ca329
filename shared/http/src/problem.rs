//! `application/problem+json` (RFC 9457) with the `code` every client switches on.

use lambda_http::{Body, Response};
use serde_json::{Map, Value, json};

use crate::error::{FieldError, RuleError};
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: u16,
    pub code: &'static str,
    pub detail: String,
    pub extra: Map<String, Value>,
}

/// The member of a 429 that says how many seconds to wait (also sent as `Retry-After`).
const RETRY_AFTER_SECONDS: &str = "retry_after_seconds";

fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        410 => "Gone",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

impl Problem {
    pub fn new(status: u16, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// Names the request field the problem is about (`field`, as a refused body's are).
    pub fn at_field(self, path: &str) -> Self {
        self.with("field", Value::String(path.to_owned()))
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", detail)
    }

    pub fn forbidden() -> Self {
        Self::new(403, "forbidden", "your role may not do this")
    }

    /// Never says whether the thing exists for someone else (SPEC §3).
    pub fn not_found(what: &str) -> Self {
        Self::new(404, "not_found", format!("no such {what}"))
    }

    /// 409: optimistic writes kept losing to concurrent ones; the same request may be retried.
    pub fn concurrent_update() -> Self {
        Self::new(
            409,
            "concurrent_update",
            "the resource kept changing while this request ran; retry it",
        )
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(400, "malformed_json", detail)
    }

    pub fn unavailable() -> Self {
        Self::new(
            503,
            "unavailable",
            "the service is briefly unavailable; retry the request",
        )
    }

    pub fn body(&self) -> Value {
        let mut doc = json!({
            "type": format!("https://errors.vls.example/{}", self.code.replace('_', "-")),
            "title": title(self.status),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        });
        if let Value::Object(m) = &mut doc {
            m.extend(self.extra.clone());
        }
        doc
    }

    pub fn into_response(self) -> Response<Body> {
        let mut builder = Response::builder()
            .status(self.status)
            .header("content-type", "application/problem+json");
        if self.status == 401 {
            builder = builder.header("www-authenticate", "Bearer");
        }
        // A refusal that says when to come back says it in `Retry-After` too.
        if let Some(secs) = self.extra.get(RETRY_AFTER_SECONDS).and_then(Value::as_u64) {
            builder = builder.header("retry-after", secs.to_string());
        }
        builder
            .body(Body::Text(self.body().to_string()))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

/// The one table from a refusal to its HTTP status (SPEC §4).
fn status_of(e: &RuleError) -> u16 {
    match e {
        RuleError::Field(_)
        | RuleError::OrderBelowCurrentEntitlement { .. }
        | RuleError::OsmPublicMailDomain { .. }
        | RuleError::UnknownSubscription
        | RuleError::UnknownOnlineServicesAccount
        | RuleError::NoOnlineServices
        | RuleError::ProgramNotEligible
        | RuleError::ReservationWindowClosed { .. } => 422,
        RuleError::UnknownPartner | RuleError::CompanyMismatch | RuleError::OverrideNotAllowed => {
            403
        }
        RuleError::UnknownTargetAccount => 404,
        RuleError::OrderAlreadyInvoiced
        | RuleError::AgreementBoundToOnlineServices
        | RuleError::NothingToActivate
        | RuleError::CancellationWindowPassed
        | RuleError::ReservationNotActive { .. }
        | RuleError::AgreementNotAssociated
        | RuleError::SameAccount
        | RuleError::NotBoundToOnlineServices
        | RuleError::SubscriptionAlreadyCancelled
        | RuleError::CancellationWouldLoseLicenses { .. }
        | RuleError::WouldLoseReliedOnLicenses { .. }
        | RuleError::TotalOutOfRange { .. }
        | RuleError::WebhookEndpointLimit
        | RuleError::ReplayInProgress
        | RuleError::CancellationAvailable
        | RuleError::ServiceRequestExists
        | RuleError::ServiceRequestClosed => 409,
        RuleError::LinkGone { .. } => 410,
        RuleError::TooManyAttempts { .. } | RuleError::RateLimited { .. } => 429,
    }
}

/// The members of a refusal's problem document besides type, title, status, code and detail:
/// the request field it is about (as the body names it), the shortfalls, the retry time.
fn extra_of(e: &RuleError) -> Map<String, Value> {
    let mut m = Map::new();
    match e {
        RuleError::Field(f) => {
            m.insert("field".into(), json!(f.field));
        }
        RuleError::OrderBelowCurrentEntitlement { shortfalls } => {
            m.insert("shortfalls".into(), json!(shortfalls));
        }
        RuleError::OsmPublicMailDomain { .. } => {
            m.insert("field".into(), json!("osm.email"));
        }
        RuleError::UnknownSubscription => {
            m.insert("field".into(), json!("replaces_subscription_id"));
        }
        RuleError::UnknownOnlineServicesAccount | RuleError::NoOnlineServices => {
            m.insert("field".into(), json!("online_services_account_id"));
        }
        RuleError::TooManyAttempts { until } => {
            m.insert("retry_after".into(), json!(until));
        }
        RuleError::UnknownTargetAccount => {
            m.insert("field".into(), json!("target_account_id"));
        }
        RuleError::CancellationWouldLoseLicenses { shortfalls } => {
            m.insert("shortfalls".into(), json!(shortfalls));
        }
        RuleError::WouldLoseReliedOnLicenses { shortfalls } => {
            m.insert("shortfalls".into(), json!(shortfalls));
        }
        RuleError::TotalOutOfRange { sku } => {
            m.insert("sku".into(), json!(sku));
        }
        RuleError::ReservationWindowClosed { anniversary } => {
            m.insert("anniversary".into(), json!(anniversary));
        }
        RuleError::RateLimited {
            retry_after_seconds,
        } => {
            m.insert(RETRY_AFTER_SECONDS.into(), json!(retry_after_seconds));
        }
        _ => {}
    }
    m
}

impl From<RuleError> for Problem {
    fn from(e: RuleError) -> Self {
        Self {
            status: status_of(&e),
            code: e.code(),
            detail: e.to_string(),
            extra: extra_of(&e),
        }
    }
}

impl From<FieldError> for Problem {
    fn from(e: FieldError) -> Self {
        RuleError::Field(e).into()
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        match e {
            StoreError::Unavailable(_) => Self::unavailable(),
            StoreError::Corrupt(_) => {
                Self::new(500, "internal_error", "an internal error occurred")
            }
        }
    }
}
