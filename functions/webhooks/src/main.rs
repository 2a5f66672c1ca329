#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // The lists' cursors are sealed with the cursor key, the endpoints' secrets with the
    // webhook key.
    vls_runtime::serve::run_http(
        env!("CARGO_PKG_NAME"),
        webhooks::App::from_env(),
        webhooks::handle,
    )
    .await
}
