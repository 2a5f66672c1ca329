use webhook_sender::{Sender, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vls_runtime::serve::run_event(
        env!("CARGO_PKG_NAME"),
        Sender::from_env(),
        |app, request_id, event| async move { handle(app, &request_id, event).await },
    )
    .await
}
