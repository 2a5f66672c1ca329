//! The one SES v2 client: sends a rendered mail from one verified sender, and says why SES
//! did not take one as a stable reason code.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use vls_domain::mail::MailContent;
use vls_domain::model::MailRefusal;
use vls_domain::types::Email;

/// The refusal an SES v2 `SendEmail` error stands for (`sender` is our identity).
pub fn refusal_of(
    e: &aws_sdk_sesv2::operation::send_email::SendEmailError,
    sender: &str,
) -> MailRefusal {
    use aws_sdk_sesv2::operation::send_email::SendEmailError as E;
    let text = e.to_string().to_ascii_lowercase();
    match e {
        E::MessageRejected(_)
            if text.contains("not verified") && text.contains(&sender.to_ascii_lowercase()) =>
        {
            MailRefusal::SenderNotVerified
        }
        E::MessageRejected(_) if text.contains("address") => MailRefusal::RejectedAddress,
        E::MessageRejected(_) | E::BadRequestException(_) => MailRefusal::RejectedMessage,
        E::MailFromDomainNotVerifiedException(_) => MailRefusal::SenderNotVerified,
        E::SendingPausedException(_) => MailRefusal::SendingPaused,
        E::AccountSuspendedException(_) => MailRefusal::AccountSuspended,
        E::TooManyRequestsException(_) => MailRefusal::Throttled,
        E::LimitExceededException(_) if text.contains("quota") => MailRefusal::QuotaExceeded,
        E::LimitExceededException(_) => MailRefusal::Throttled,
        _ => MailRefusal::Unavailable,
    }
}

/// SES did not take the mail: the stable reason, and SES's own words (for the logs).
#[derive(Debug, thiserror::Error)]
#[error("SES refused the mail ({}): {detail}", .reason.code())]
pub struct MailError {
    pub reason: MailRefusal,
    pub detail: String,
}

/// Sends mail from one verified sender identity.
#[derive(Clone)]
pub struct Mailer {
    client: aws_sdk_sesv2::Client,
    sender: String,
    configuration_set: Option<String>,
}

impl Mailer {
    pub fn new(client: aws_sdk_sesv2::Client, sender: impl Into<String>) -> Self {
        Self {
            client,
            sender: sender.into(),
            configuration_set: None,
        }
    }

    /// Sends through this SES configuration set, whose event destination publishes sends,
    /// bounces and complaints to CloudWatch (the template's `MailConfigurationSet`).
    pub fn through(self, configuration_set: Option<String>) -> Self {
        Self {
            configuration_set,
            ..self
        }
    }

    /// Sends the mail to exactly one recipient; answers SES's message id.
    pub async fn send(&self, to: &Email, content: &MailContent) -> Result<String, MailError> {
        let utf8 = |s: &str| Content::builder().data(s).charset("UTF-8").build();
        let (subject, text, html) = match (
            utf8(&content.subject),
            utf8(&content.text),
            utf8(&content.html),
        ) {
            (Ok(s), Ok(t), Ok(h)) => (s, t, h),
            _ => {
                return Err(MailError {
                    reason: MailRefusal::RejectedMessage,
                    detail: "mail content could not be built".into(),
                });
            }
        };
        let out = self
            .client
            .send_email()
            .from_email_address(&self.sender)
            .set_configuration_set_name(self.configuration_set.clone())
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(
                EmailContent::builder()
                    .simple(
                        Message::builder()
                            .subject(subject)
                            .body(Body::builder().text(text).html(html).build())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                let detail = aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string();
                let reason = e
                    .as_service_error()
                    .map_or(MailRefusal::Unavailable, |s| refusal_of(s, &self.sender));
                MailError { reason, detail }
            })?;
        Ok(out.message_id.unwrap_or_default())
    }
}
