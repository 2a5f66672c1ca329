use activation::{App, handle};
use lambda_http::{Error, Request, run, service_fn};
use vls::config::{self, Config};
use vls::http::auth::SelfVerifier;

#[tokio::main]
async fn main() -> Result<(), Error> {
    vls::telemetry::init(env!("CARGO_PKG_NAME"));
    // Configuration and clients are built once, before the runtime first polls.
    let config = Config::from_env()?;
    let sdk = config::aws().await;
    let local = matches!(config.auth, vls::http::AuthMode::Local { .. });
    let app = App {
        store: config::store(&sdk, &config),
        verifier: SelfVerifier::from_env(&config.auth),
        sign_in: activation::signin::SignInSetup::from_env(local),
        config,
        clock: config::system_clock(),
    };
    let app = &app;
    run(service_fn(move |req: Request| async move {
        let request_id = vls::telemetry::request_id(&req);
        let response = handle(app, req).await;
        vls::emf::flush(&request_id);
        Ok::<_, Error>(response)
    }))
    .await
}
