use vls_runtime::config::Deps;
use vls_runtime::secrets::Secret;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    vls_runtime::serve::run_http(
        env!("CARGO_PKG_NAME"),
        Deps::from_env(&[Secret::CursorKey]),
        cancellation::handle,
    )
    .await
}
