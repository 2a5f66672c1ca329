//! `make bench-mail`: a burst of activation mails at once while SES takes at most so many a
//! second and throttles the rest (as AWS answers, injected on the mailers' SES client): 2,000
//! at 14 a second, where the emulator is the bottleneck, and 300 at 3 a second, where the pace
//! is. Two mailers (the template's reserved concurrency) sweep side by side, each paced at half
//! the rate. Prints the drain time against mails / rate, the sends SES took and throttled, and
//! checks every mail went out once and none was parked. Figures, not a test.
//! `BENCH_MAIL=300x3` runs one scenario.

use std::time::Instant;

use chrono::{NaiveDate, Utc};
use vls_domain::model::{MailIntent, MailReason};
use vls_domain::types::AgreementId;
use vls_store::Stored;
use vls_tests::{Harness, seeding};

const SCENARIOS: &[(usize, usize)] = &[(2_000, 14), (300, 3)];
const MAILERS: usize = 2;

/// Agreements, each with its activation mail pending, as invoicing leaves them.
async fn seed(h: &Harness, mails: usize) -> Vec<AgreementId> {
    let mut items = Vec::new();
    let mut ids = Vec::new();
    let anniversary = NaiveDate::from_ymd_opt(2027, 1, 1).expect("d");
    for _ in 0..mails {
        let a = seeding::agreement(anniversary, None);
        let mail = MailIntent::activation(a.id.clone(), None, MailReason::Invoiced, Utc::now());
        items.push(a.item().expect("item"));
        items.push(mail.item().expect("item"));
        ids.push(a.id);
    }
    seeding::write_all(h, &items).await;
    ids
}

/// One mailer: sweeps as its schedule would until nothing is left to send.
async fn mailer(h: &Harness, app: &activation_mailer::MailerApp) -> usize {
    let mut sent = 0;
    loop {
        h.clock.set(Utc::now());
        let out = activation_mailer::sweep(app, "bench-mail")
            .await
            .expect("sweep");
        sent += out
            .iter()
            .filter(|(_, o)| *o == activation_mailer::Outcome::Sent)
            .count();
        if h.sweep_ids().await.is_empty() {
            return sent;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn burst(mails: usize, ses_rate: usize) {
    let h = Harness::new().await;
    let ids = seed(&h, mails).await;
    h.ses_faults.limit_rate(ses_rate);
    let apps: Vec<_> = (0..MAILERS)
        .map(|_| h.mailer_paced(ses_rate as f64 / MAILERS as f64))
        .collect();
    let started = Instant::now();
    let sent: usize = futures::future::join_all(apps.iter().map(|app| mailer(&h, app)))
        .await
        .into_iter()
        .sum();
    let drain = started.elapsed().as_secs_f64();
    let (taken, throttled) = h.ses_faults.rate_counts();
    let ideal = mails as f64 / ses_rate as f64;
    println!(
        "{mails:>5} mails, SES at {ses_rate:>2}/s, {MAILERS} mailers: drained in {drain:>6.1} s \
         ({ideal:>6.1} s at the rate, ×{:.2}); SES took {taken}, throttled {throttled}",
        drain / ideal
    );
    assert_eq!(sent, mails, "every mail sent");
    assert_eq!(taken as usize, mails, "each mail taken by SES once");
    for id in ids.iter().step_by(50) {
        let a = h
            .app
            .store
            .agreement(id)
            .await
            .expect("read")
            .expect("agreement");
        assert!(a.activation_email_failed.is_none(), "none parked");
    }
}

#[tokio::test]
#[ignore = "a benchmark: make bench-mail"]
async fn a_burst_of_mail_drains_at_the_sending_rate() {
    let only = std::env::var("BENCH_MAIL").ok();
    for (mails, rate) in SCENARIOS {
        if only
            .as_ref()
            .is_none_or(|o| *o == format!("{mails}x{rate}"))
        {
            burst(*mails, *rate).await;
        }
    }
}
