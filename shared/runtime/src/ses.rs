//! The one SES v2 client: sends a rendered mail from one verified sender, and says why SES
//! did not take one as a stable reason code.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use vls_domain::mail::MailContent;
use vls_domain::model::MailRefusal;
use vls_domain::types::Email;

/// The refusal an SES v2 `SendEmail` error stands for (`sender` is our identity), from the
/// error alone: see [`refusal_in`] for what the account's sandbox changes.
pub fn refusal_of(e: &SendEmailError, sender: &str) -> MailRefusal {
    use SendEmailError as E;
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

/// Whether the account is in the SES sandbox, as `GetAccount` last said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sandbox {
    /// `ProductionAccessEnabled` is false: SES sends only to verified identities.
    In,
    /// The account has production access.
    Out,
    /// SES did not say (`GetAccount` failed).
    Unknown,
}

/// Whether the refusal may be the sandbox's: `MessageRejected` saying an identity is not
/// verified, one that is not our sender (that one is [`MailRefusal::SenderNotVerified`]).
pub fn names_unverified_recipient(e: &SendEmailError, sender: &str) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    matches!(e, SendEmailError::MessageRejected(_))
        && text.contains("not verified")
        && !text.contains(&sender.to_ascii_lowercase())
}

/// The refusal an SES v2 `SendEmail` error stands for, given the account's sandbox state: a
/// sandbox refusing an unverified recipient is the account's state, not the address's fault,
/// and waits for production access; every other error is [`refusal_of`]'s.
pub fn refusal_in(e: &SendEmailError, sender: &str, sandbox: Sandbox) -> MailRefusal {
    match sandbox {
        // Unknown waits too: parking is for good (R5), and must not rest on a guess; waiting
        // costs a delay, and the next attempt asks SES again.
        Sandbox::In | Sandbox::Unknown if names_unverified_recipient(e, sender) => {
            MailRefusal::RecipientNotVerified
        }
        _ => refusal_of(e, sender),
    }
}

/// What SES's `GetAccount` says of the account.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccountState {
    /// `MaxSendRate`: mails a second for the whole account, if SES said.
    pub max_send_rate: Option<f64>,
    /// `ProductionAccessEnabled`: false while the account is in the sandbox.
    pub production_access: bool,
}

/// The account's state as `GetAccount` last told it, shared by whoever asks (the pacer for
/// the rate, the mailer for the sandbox) and asked again once older than [`Account::FRESH_FOR`],
/// so that an account leaving the sandbox is noticed. A failed read is not kept.
pub struct Account {
    client: aws_sdk_sesv2::Client,
    last: Mutex<Option<(Instant, AccountState)>>,
}

impl Account {
    pub const FRESH_FOR: Duration = Duration::from_secs(300);

    pub fn new(client: aws_sdk_sesv2::Client) -> Self {
        Self {
            client,
            last: Mutex::new(None),
        }
    }

    /// The last answer, if it is still fresh at `now`.
    fn remembered(&self, now: Instant) -> Option<AccountState> {
        let last = *self.last.lock().ok()?;
        last.filter(|(at, _)| now.saturating_duration_since(*at) < Self::FRESH_FOR)
            .map(|(_, state)| state)
    }

    /// The account's state: the last answer while fresh, otherwise SES's (or why not).
    pub async fn state(&self) -> Result<AccountState, String> {
        if let Some(state) = self.remembered(Instant::now()) {
            return Ok(state);
        }
        let a = self
            .client
            .get_account()
            .send()
            .await
            .map_err(|e| aws_sdk_sesv2::error::DisplayErrorContext(e).to_string())?;
        let state = AccountState {
            max_send_rate: a.send_quota().map(|q| q.max_send_rate()),
            production_access: a.production_access_enabled(),
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), state));
        }
        Ok(state)
    }

    /// Whether the account is in the sandbox now.
    pub async fn sandbox(&self) -> Sandbox {
        match self.state().await {
            Ok(state) if state.production_access => Sandbox::Out,
            Ok(_) => Sandbox::In,
            Err(e) => {
                tracing::warn!(error = %e, "SES account state unknown (GetAccount)");
                Sandbox::Unknown
            }
        }
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
    account: Arc<Account>,
}

impl Mailer {
    pub fn new(client: aws_sdk_sesv2::Client, sender: impl Into<String>) -> Self {
        Self {
            account: Arc::new(Account::new(client.clone())),
            client,
            sender: sender.into(),
            configuration_set: None,
        }
    }

    /// The account's state this mailer reads (share it: one `GetAccount` serves both).
    pub fn account(&self) -> Arc<Account> {
        Arc::clone(&self.account)
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
            .await;
        match out {
            Ok(out) => Ok(out.message_id.unwrap_or_default()),
            Err(e) => Err(self.refusal(&e).await),
        }
    }

    /// Why SES did not take the mail; the account is asked about its sandbox only when the
    /// refusal may be the sandbox's.
    async fn refusal(
        &self,
        e: &aws_sdk_sesv2::error::SdkError<
            SendEmailError,
            aws_sdk_sesv2::config::http::HttpResponse,
        >,
    ) -> MailError {
        let detail = aws_sdk_sesv2::error::DisplayErrorContext(e).to_string();
        let reason = match e.as_service_error() {
            None => MailRefusal::Unavailable,
            Some(s) if names_unverified_recipient(s, &self.sender) => {
                refusal_in(s, &self.sender, self.account.sandbox().await)
            }
            Some(s) => refusal_of(s, &self.sender),
        };
        MailError { reason, detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::types::error::{
        LimitExceededException, MessageRejected, TooManyRequestsException,
    };

    const SENDER: &str = "licensing@vls.example.com";

    fn rejected(message: &str) -> SendEmailError {
        SendEmailError::MessageRejected(MessageRejected::builder().message(message).build())
    }

    /// SES's words when the sandbox refuses a recipient it has not verified.
    fn sandbox_refusal() -> SendEmailError {
        rejected(
            "Email address is not verified. The following identities failed the check in \
             region US-EAST-1: olivia@contoso.com",
        )
    }

    const STATES: [Sandbox; 3] = [Sandbox::In, Sandbox::Out, Sandbox::Unknown];

    #[test]
    fn a_sandbox_refusing_an_unverified_recipient_waits_for_production_access() {
        let e = sandbox_refusal();
        assert!(names_unverified_recipient(&e, SENDER));
        assert_eq!(
            refusal_in(&e, SENDER, Sandbox::In),
            MailRefusal::RecipientNotVerified
        );
        // SES did not say: never parked on a guess.
        assert_eq!(
            refusal_in(&e, SENDER, Sandbox::Unknown),
            MailRefusal::RecipientNotVerified
        );
        // With production access SES does not check recipients: today's reason stands.
        assert_eq!(refusal_in(&e, SENDER, Sandbox::Out), refusal_of(&e, SENDER));
        assert_eq!(refusal_of(&e, SENDER), MailRefusal::RejectedAddress);
    }

    #[test]
    fn an_unverified_sender_stays_the_senders_whatever_the_sandbox() {
        let sandboxed = rejected(
            "Email address is not verified. The following identities failed the check in \
             region US-EAST-1: Licensing@VLS.example.com, olivia@contoso.com",
        );
        let emulated = rejected(&format!("Email address not verified {SENDER}"));
        for e in [sandboxed, emulated] {
            assert!(!names_unverified_recipient(&e, SENDER), "{e}");
            for sandbox in STATES {
                assert_eq!(
                    refusal_in(&e, SENDER, sandbox),
                    MailRefusal::SenderNotVerified,
                    "{e} {sandbox:?}"
                );
            }
        }
    }

    #[test]
    fn every_other_refusal_keeps_its_reason_whatever_the_sandbox() {
        let quota = LimitExceededException::builder()
            .message("Daily message quota exceeded.")
            .build();
        let rate = TooManyRequestsException::builder()
            .message("Maximum sending rate exceeded.")
            .build();
        let cases = [
            (
                rejected("Address blacklisted."),
                MailRefusal::RejectedAddress,
            ),
            (rejected("Illegal header."), MailRefusal::RejectedMessage),
            (
                SendEmailError::LimitExceededException(quota),
                MailRefusal::QuotaExceeded,
            ),
            (
                SendEmailError::TooManyRequestsException(rate),
                MailRefusal::Throttled,
            ),
        ];
        for (e, reason) in cases {
            assert!(!names_unverified_recipient(&e, SENDER), "{e}");
            assert_eq!(refusal_of(&e, SENDER), reason, "{e}");
            for sandbox in STATES {
                assert_eq!(refusal_in(&e, SENDER, sandbox), reason, "{e} {sandbox:?}");
            }
        }
    }

    #[test]
    fn the_accounts_state_is_kept_five_minutes_then_asked_again() {
        let conf = aws_sdk_sesv2::Config::builder()
            .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
            .build();
        let account = Account::new(aws_sdk_sesv2::Client::from_conf(conf));
        let read = Instant::now();
        assert_eq!(account.remembered(read), None, "nothing read yet");
        let state = AccountState {
            max_send_rate: Some(14.0),
            production_access: false,
        };
        *account.last.lock().expect("lock") = Some((read, state));
        let later = |s: u64| read + Duration::from_secs(s);
        assert_eq!(account.remembered(later(299)), Some(state));
        assert_eq!(
            account.remembered(later(300)),
            None,
            "leaving the sandbox is seen"
        );
    }
}
