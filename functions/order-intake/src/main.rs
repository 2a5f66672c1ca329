#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    vls::config::run_http(order_intake::handle).await
}
