#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    vls_runtime::serve::run_http(
        env!("CARGO_PKG_NAME"),
        portal::App::from_env(),
        portal::handle,
    )
    .await
}
