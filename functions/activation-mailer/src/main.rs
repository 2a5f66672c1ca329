use activation_mailer::{MailerApp, MailerSettings, handle};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use vls::config::{self, Config};
use vls::mail::Mailer;
use vls::queue::Queue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    vls::telemetry::init(env!("CARGO_PKG_NAME"));
    // Configuration and clients are built once, before the runtime first polls.
    let config = Config::from_env()?;
    let settings = MailerSettings::from_env();
    let wakeups = config::var("MAIL_WAKEUP_QUEUE_URL").ok_or("MAIL_WAKEUP_QUEUE_URL is not set")?;
    let sdk = config::aws().await;
    let mailer = Mailer::new(aws_sdk_sesv2::Client::new(&sdk), settings.sender.clone())
        .through(config::var("SES_CONFIGURATION_SET"));
    let app = MailerApp {
        store: config::store(&sdk, &config),
        // One GetAccount answers both the sending rate and whether the account is sandboxed.
        pacer: activation_mailer::pacing::Pacer::from_env(mailer.account()),
        mailer,
        settings,
        clock: config::system_clock(),
        wakeups: Queue::new(aws_sdk_sqs::Client::new(&sdk), wakeups),
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
