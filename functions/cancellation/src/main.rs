use vls::config::Deps;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    vls::serve::run_http(
        env!("CARGO_PKG_NAME"),
        Deps::from_env(&[]),
        cancellation::handle,
    )
    .await
}
