//! What every HTTP function shares: the request context (caller, request id, body), route
//! tables and their dispatcher, typed views, JSON replies, problem+json errors, and
//! idempotent mutations.

pub mod auth;
pub mod conditional;
pub mod idempotency;
pub mod metrics;
pub mod paging;
pub mod problem;
pub mod route;
pub mod sealing;
pub use vls_domain::views;

pub use vls_domain::access;
use vls_domain::{error, html, input, model, types};
use vls_store as store;

use chrono::{DateTime, Utc};
use lambda_http::http::{HeaderMap, Method};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::Value;

pub use auth::{AuthMode, Principal, Role};
pub use idempotency::{Planned, mutate};
pub use problem::Problem;
pub use route::{Access, Answer, Params, Route};

use crate::input::Obj;

/// The agreement the path names (`agreement_id`), if the caller may see it: otherwise 404, as
/// for one that does not exist (R13: for a customer admin, an agreement not associated with
/// their account does not exist).
pub async fn visible_agreement(
    store: &store::Store,
    p: &Principal,
    path: &Params,
) -> Result<model::Agreement, Problem> {
    let id: types::AgreementId = path.id("agreement_id")?;
    store
        .agreement(&id)
        .await?
        .filter(|a| access::agreement_visible(p, a))
        .ok_or_else(|| Problem::not_found("agreement"))
}

/// The account `a` is associated with, as it stands (`None` when it is not associated; 404
/// if it is missing): what a change to the agreement's holdings moves.
pub async fn associated_account(
    store: &store::Store,
    a: &model::Agreement,
) -> Result<Option<model::Account>, Problem> {
    let Some(id) = &a.account_id else {
        return Ok(None);
    };
    match store.account(id).await? {
        Some(account) => Ok(Some(account)),
        None => Err(Problem::not_found("account")),
    }
}

/// Larger bodies are refused before they are parsed; no request of this API needs more.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One request, as the handlers see it.
pub struct Ctx {
    pub method: Method,
    pub path: String,
    query: String,
    pub request_id: String,
    pub now: DateTime<Utc>,
    headers: HeaderMap,
    body: Vec<u8>,
    principal: Result<Principal, Problem>,
    /// Whether the handler checked an `If-Match` (a lost race is then 412, not a retry).
    conditional: std::sync::atomic::AtomicBool,
    /// Seals what must not be kept in the clear (an answer showing a secret).
    sealing: Option<std::sync::Arc<sealing::SealingKey>>,
}

impl Ctx {
    pub fn from_request(req: Request, auth: &AuthMode, now: DateTime<Utc>) -> Self {
        let principal = auth::authenticate(&req, auth);
        let request_id = req
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| ulid::Ulid::generate().to_string());
        let (parts, body) = req.into_parts();
        let body = match body {
            Body::Empty => Vec::new(),
            Body::Text(t) => t.into_bytes(),
            Body::Binary(b) => b,
            _ => Vec::new(),
        };
        Self {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            request_id,
            now,
            headers: parts.headers,
            body,
            principal,
            conditional: Default::default(),
            sealing: None,
        }
    }

    /// The request with the function's sealing key.
    pub fn with_sealing(mut self, key: std::sync::Arc<sealing::SealingKey>) -> Self {
        self.sealing = Some(key);
        self
    }

    pub fn sealing(&self) -> Option<&sealing::SealingKey> {
        self.sealing.as_deref()
    }

    /// SPEC §4.1 8: under `If-Match`, the resource as it stands (`current`, its answered
    /// representation) must be the one named, or 412 `precondition_failed`. Called by the
    /// routes that honour `If-Match`, right after the resource is found; without the header,
    /// nothing is checked.
    pub fn precondition(&self, current: &impl Serialize) -> Result<(), Problem> {
        let Some(header) = self.header("if-match") else {
            return Ok(());
        };
        self.conditional
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let etag = conditional::etag_of_view(current);
        if conditional::match_holds(header, &etag) {
            Ok(())
        } else {
            Err(conditional::precondition_failed(
                "the resource is not the one If-Match names: read it again",
            ))
        }
    }

    /// Whether this request's change is conditional on an `If-Match` it checked.
    pub fn is_conditional(&self) -> bool {
        self.conditional.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The path split on `/`, without empty segments.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// A query-string parameter, decoded.
    /// The raw query string (empty without one).
    pub fn query(&self) -> &str {
        &self.query
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Replaces the caller with one the function verified itself (routes without a gateway
    /// authorizer, such as the activation form).
    pub fn with_principal(mut self, principal: Result<Principal, Problem>) -> Self {
        self.principal = principal;
        self
    }

    /// The authenticated caller, or the 401/403 that says why there is none.
    pub fn principal(&self) -> Result<&Principal, Problem> {
        self.principal.as_ref().map_err(Clone::clone)
    }

    /// The caller, who must have one of `roles`.
    pub fn caller(&self, roles: &[Role]) -> Result<&Principal, Problem> {
        let p = self.principal()?;
        if !p.may(roles) {
            return Err(Problem::forbidden());
        }
        Ok(p)
    }

    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body as JSON: 413 when too large, 400 `malformed_json` when it is not JSON.
    pub fn json(&self) -> Result<Value, Problem> {
        if self.body.len() > MAX_BODY_BYTES {
            return Err(Problem::new(
                413,
                "payload_too_large",
                format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            ));
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(Problem::malformed_json("the request needs a JSON body"));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| Problem::malformed_json(format!("the body is not valid JSON: {e}")))
    }

    /// [`Ctx::parse`] for a body that may be left out altogether (`None` then).
    pub fn parse_optional<T>(
        &self,
        parse: impl FnOnce(&Obj<'_>) -> Result<T, crate::error::FieldError>,
    ) -> Result<Option<T>, Problem> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        self.parse(parse).map(Some)
    }

    /// Parses the JSON body with `parse` (field errors become 422).
    pub fn parse<T>(
        &self,
        parse: impl FnOnce(&Obj<'_>) -> Result<T, crate::error::FieldError>,
    ) -> Result<T, Problem> {
        let value = self.json()?;
        let obj = Obj::root(&value)?;
        Ok(parse(&obj)?)
    }
}

/// A successful answer: status and the exact JSON text sent (so a replay is byte-identical).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    pub replayed: bool,
    /// Further headers (`Location`, `Set-Cookie`, `Retry-After`); never stored for a replay.
    pub headers: Vec<(&'static str, String)>,
}

pub const JSON: &str = "application/json";
pub const HTML: &str = "text/html; charset=utf-8";

/// Sent with every page: a page may carry an activation link's token in its URL and the
/// signed-in person's details, so it is never cached, never leaks its URL as a referrer and
/// is never framed by another site.
pub const PAGE_HEADERS: &[(&str, &str)] = &[
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
];

impl Reply {
    pub fn json(status: u16, body: &impl Serialize) -> Self {
        Self {
            status,
            content_type: JSON.into(),
            body: serde_json::to_string(body).unwrap_or_else(|_| "null".into()),
            replayed: false,
            headers: Vec::new(),
        }
    }

    pub fn html(status: u16, page: String) -> Self {
        Self {
            status,
            content_type: HTML.into(),
            body: page,
            replayed: false,
            headers: Vec::new(),
        }
    }

    /// A redirect (302, 303) to `location`, with a short page for clients that show it.
    pub fn redirect(status: u16, location: &str) -> Self {
        let page = crate::html::page(
            "Redirecting",
            &format!(
                "<p><a href=\"{}\">Continue</a></p>",
                crate::html::escape(location)
            ),
        );
        Self::html(status, page).with_header("location", location.to_owned())
    }

    /// The reply with one more header (repeatable: several `Set-Cookie`).
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn ok(body: &impl Serialize) -> Self {
        Self::json(200, body)
    }

    /// 204: done, and nothing to show (no body, no content type).
    pub fn no_content() -> Self {
        Self {
            status: 204,
            content_type: String::new(),
            body: String::new(),
            replayed: false,
            headers: Vec::new(),
        }
    }

    /// 202: taken, and done after the answer (a delivery, a replay).
    pub fn accepted(body: &impl Serialize) -> Self {
        Self::json(202, body)
    }

    /// 201, with the `Location` of what was created (a path of this API).
    pub fn created(body: &impl Serialize, location: String) -> Self {
        Self::json(201, body).with_header("location", location)
    }

    /// The reply with the strong `ETag` of its body (the representation it answers).
    pub fn with_etag(self) -> Self {
        let tag = conditional::etag_of(&self.body);
        self.with_header("etag", tag)
    }

    /// A header the reply carries.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn into_response(self) -> Response<Body> {
        let mut b = Response::builder().status(self.status);
        if !self.content_type.is_empty() {
            b = b.header("content-type", self.content_type.as_str());
        }
        if self.replayed {
            b = b.header("idempotent-replayed", "true");
        }
        if self.content_type == HTML {
            for (name, value) in PAGE_HEADERS {
                b = b.header(*name, *value);
            }
        }
        for (name, value) in &self.headers {
            b = b.header(*name, value.as_str());
        }
        b.body(Body::Text(self.body))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

/// The response for a handler's result, with the request id on it.
pub fn respond(ctx: &Ctx, result: Result<Reply, Problem>) -> Response<Body> {
    let mut response = match result {
        Ok(reply) => reply.into_response(),
        Err(problem) => problem.into_response(),
    };
    if let Ok(v) = ctx.request_id.parse() {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// A GET whose `If-None-Match` names the answer's `ETag`: 304, with the tag and no body.
fn not_modified(ctx: &Ctx, reply: Reply) -> Reply {
    let hit = ctx.method == Method::GET
        && reply.status == 200
        && ctx
            .header("if-none-match")
            .zip(reply.header("etag"))
            .is_some_and(|(header, etag)| conditional::none_match_hits(header, etag));
    if !hit {
        return reply;
    }
    Reply {
        status: 304,
        content_type: String::new(),
        body: String::new(),
        replayed: false,
        headers: reply
            .headers
            .into_iter()
            .filter(|(name, _)| *name == "etag")
            .collect(),
    }
}

/// Serves one request with a function's route table.
pub async fn serve_routes<A>(routes: &[Route<A>], app: &A, ctx: Ctx) -> Response<Body> {
    serve(&ctx, || route::dispatch(routes, app, &ctx)).await
}

/// Runs a function's router for one request inside a span carrying the request id, logs one
/// line per request (the route template, never the path: a path may carry a link's secret)
/// and turns the result into the response.
pub async fn serve<F, Fut>(ctx: &Ctx, route: F) -> Response<Body>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = (&'static str, Result<Reply, Problem>)>,
{
    use tracing::Instrument;
    let span = tracing::info_span!("request", request_id = %ctx.request_id);
    async {
        let started = std::time::Instant::now();
        let (route, result) = route().await;
        let result = result.map(|reply| not_modified(ctx, reply));
        let status = match &result {
            Ok(r) => r.status,
            Err(p) => p.status,
        };
        tracing::info!(
            method = %ctx.method,
            route,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request handled"
        );
        respond(ctx, result)
    }
    .instrument(span)
    .await
}
