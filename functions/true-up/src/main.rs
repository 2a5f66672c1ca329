use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use true_up::{App, handle};
use vls::config::{self, Config};
use vls::queue::Queue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    vls::telemetry::init(env!("CARGO_PKG_NAME"));
    // Configuration and clients are built once, before the runtime first polls.
    let config = Config::from_env()?;
    let queue_url = config::var("TRUE_UP_QUEUE_URL").ok_or("TRUE_UP_QUEUE_URL is not set")?;
    let sdk = config::aws().await;
    let app = App {
        store: config::store(&sdk, &config),
        queue: Queue::new(aws_sdk_sqs::Client::new(&sdk), queue_url),
    };
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let request_id = event.context.request_id;
        let done = handle(app, &request_id, event.payload).await;
        vls::emf::flush(&request_id);
        done.map_err(Error::from)
    }))
    .await
}
