//! The mailer never sends faster than its share of the SES account's sending rate: each send
//! waits for its slot, `1 / rate` seconds after the one before. The rate is `MAIL_SEND_RATE`
//! (mails a second for the whole account) if set, otherwise SES's own `MaxSendRate`, read once
//! when the first mail is about to go (not at start-up, which stays short), divided among
//! `MAILER_CONCURRENCY` mailers. A failed read paces that send at 1 a second and is tried
//! again at the next send, so one SES hiccup does not slow the instance for its lifetime. The
//! read is the mailer's [`Account`]'s, which also answers whether the account is sandboxed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OnceCell};
use vls_runtime::ses::Account;

pub struct Pacer {
    source: Source,
    interval: OnceCell<Duration>,
    next: Mutex<Option<Instant>>,
}

enum Source {
    /// Mails a second for this mailer.
    Fixed(f64),
    /// The account's rate from SES, shared among this many mailers.
    Ses(Arc<Account>, f64),
}

fn positive(rate: f64) -> Option<f64> {
    (rate.is_finite() && rate > 0.0).then_some(rate)
}

impl Pacer {
    /// At most `per_second` sends a second.
    pub fn fixed(per_second: f64) -> Self {
        Self::with(Source::Fixed(per_second))
    }

    /// From the environment, as described above; `account` is the mailer's.
    pub fn from_env(account: Arc<Account>) -> Self {
        let number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<f64>().ok());
        let mailers = number("MAILER_CONCURRENCY")
            .filter(|c| *c >= 1.0)
            .unwrap_or(1.0);
        match number("MAIL_SEND_RATE").and_then(positive) {
            Some(rate) => Self::fixed(rate / mailers),
            None => Self::with(Source::Ses(account, mailers)),
        }
    }

    fn with(source: Source) -> Self {
        Self {
            source,
            interval: OnceCell::new(),
            next: Mutex::new(None),
        }
    }

    /// This mailer's rate, or why SES would not say.
    async fn rate(&self) -> Result<f64, String> {
        match &self.source {
            Source::Fixed(rate) => Ok(positive(*rate).unwrap_or(1.0)),
            Source::Ses(account, mailers) => {
                let rate = account.state().await?.max_send_rate.unwrap_or(1.0);
                Ok(positive(rate / mailers).unwrap_or(1.0))
            }
        }
    }

    /// Waits for the next free slot and takes it.
    pub async fn slot(&self) {
        let known = self
            .interval
            .get_or_try_init(|| async {
                let rate = self.rate().await?;
                tracing::info!(mails_per_second = rate, "mailer paced");
                Ok::<_, String>(Duration::from_secs_f64(1.0 / rate))
            })
            .await;
        let interval = match known {
            Ok(interval) => *interval,
            Err(e) => {
                tracing::warn!(error = %e, "SES sending rate unknown; 1 mail a second for now");
                Duration::from_secs(1)
            }
        };
        let wait = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + interval);
            slot - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sends_wait_for_their_slots() {
        let pacer = Pacer::fixed(50.0);
        let started = Instant::now();
        for _ in 0..6 {
            pacer.slot().await;
        }
        // Six slots 20 ms apart: the sixth is 100 ms after the first.
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
    }
}
