//! A function's entry point: JSON logs and the metrics recorder installed first, what it needs
//! built once (before the runtime first polls, as in production: lazy construction only moves
//! the cost), then the Lambda runtime, with the metrics written out after every invocation.
//! A `main.rs` is one call of [`run_http`] or [`run_event`].

use std::future::Future;

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::{Body, Error, Request, Response};
use serde::Serialize;
use serde_json::Value;

/// Runs the HTTP function `name` over the app `build` makes; `handle` answers each request.
pub async fn run_http<A, E, F, Fut>(
    name: &'static str,
    build: impl Future<Output = Result<A, E>>,
    handle: F,
) -> Result<(), Error>
where
    A: Sync + 'static,
    E: Into<Error>,
    F: Fn(&'static A, Request) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    let app = start(name, build).await?;
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        let request_id = crate::telemetry::request_id(&req);
        let response = handle(app, req).await;
        crate::emf::flush(&request_id);
        Ok::<_, Error>(response)
    }))
    .await
}

/// Runs the event function `name` over the app `build` makes; `handle` takes each event's
/// payload with its request id, and its error fails the invocation (Lambda retries it).
pub async fn run_event<A, E, F, Fut, T, H>(
    name: &'static str,
    build: impl Future<Output = Result<A, E>>,
    handle: F,
) -> Result<(), Error>
where
    A: Sync + 'static,
    E: Into<Error>,
    F: Fn(&'static A, String, Value) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<T, H>> + Send,
    T: Serialize,
    H: Into<Error>,
{
    let app = start(name, build).await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<Value>| async move {
            let request_id = event.context.request_id;
            // Boxed: an event function's future is deep, and the runtime's around it deeper.
            let done = Box::pin(handle(app, request_id.clone(), event.payload)).await;
            crate::emf::flush(&request_id);
            done.map_err(Into::into)
        },
    ))
    .await
}

/// Logs and metrics for `name`, then the app. It lives for the whole process: leaking it once
/// gives every invocation a plain reference.
async fn start<A: 'static, E: Into<Error>>(
    name: &'static str,
    build: impl Future<Output = Result<A, E>>,
) -> Result<&'static A, Error> {
    crate::telemetry::init(name);
    Ok(Box::leak(Box::new(build.await.map_err(Into::into)?)))
}
