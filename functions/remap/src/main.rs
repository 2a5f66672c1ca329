#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    vls::config::run_http(env!("CARGO_PKG_NAME"), &[], remap::handle).await
}
