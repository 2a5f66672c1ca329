#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    vls::config::run_http(cancellation::handle).await
}
