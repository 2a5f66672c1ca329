use vls_runtime::config::Deps;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    vls_runtime::serve::run_http(
        env!("CARGO_PKG_NAME"),
        Deps::from_env(&[]),
        cancellation::handle,
    )
    .await
}
