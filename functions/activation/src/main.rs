use activation::{App, handle};
use lambda_http::{Error, Request, run, service_fn};
use vls::config::{self, Startup};
use vls::http::auth::SelfVerifier;
use vls::secrets::Secret;

#[tokio::main]
async fn main() -> Result<(), Error> {
    vls::telemetry::init(env!("CARGO_PKG_NAME"));
    // Configuration, secrets and clients are built once, before the runtime first polls.
    let needs = [Secret::CookieKey, Secret::OidcClientSecret];
    let Startup {
        config,
        sdk,
        secrets,
    } = Startup::from_env(&needs).await?;
    let app = App {
        store: config::store(&sdk, &config),
        verifier: SelfVerifier::from_env(&config.auth),
        sign_in: activation::signin::SignInSetup::from_env(config.is_local(), secrets),
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
