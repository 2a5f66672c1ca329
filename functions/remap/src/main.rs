use lambda_http::{Error, Request, run, service_fn};
use remap::{App, handle};
use vls::config::{self, Config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    vls::telemetry::init();
    // Configuration and clients are built once, before the runtime first polls.
    let config = Config::from_env();
    let sdk = config::aws().await;
    let app = App {
        store: config::store(&sdk, &config),
        config,
        clock: config::system_clock(),
    };
    let app = &app;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
