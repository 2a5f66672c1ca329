use vls_runtime::config::Deps;
use vls_runtime::secrets::Secret;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // The events list's cursors are sealed with the cursor key.
    vls_runtime::serve::run_http(
        env!("CARGO_PKG_NAME"),
        Deps::from_env(&[Secret::CursorKey]),
        webhooks::handle,
    )
    .await
}
