#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    vls_runtime::serve::run_http(
        env!("CARGO_PKG_NAME"),
        activation::App::from_env(),
        activation::handle,
    )
    .await
}
