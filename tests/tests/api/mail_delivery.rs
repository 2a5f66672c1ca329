//! The activation mail against SES's real answers (R5), injected on the mailer's own SES
//! client as SES gives them: throttling and spent quotas wait without counting, a paused or
//! unverified account holds every mail, as does an account in the SES sandbox refusing an
//! unverified recipient; a rejected address is parked at once, transient
//! failures are retried ever more slowly and never parked; a mail SES took is recorded however
//! long the table takes; one unreadable intent never stops the others.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use serde_json::{Value, json};
use vls_tests::*;

use activation_mailer::Outcome;

fn outcomes(out: &[(vls_domain::types::MailId, Outcome)]) -> Vec<Outcome> {
    out.iter().map(|(_, o)| *o).collect()
}

/// How many `activation_email.sent` events the agreement's trail has.
async fn sent_events(h: &Harness, agreement: &str) -> usize {
    let trail = h
        .get(
            &format!("/agreements/{agreement}/events"),
            &billing_support(),
        )
        .await;
    actions(&trail.body)
        .iter()
        .filter(|a| **a == "activation_email.sent")
        .count()
}

#[tokio::test]
async fn an_unverified_sender_holds_every_mail_uncounted_until_it_is_fixed() {
    let h = Harness::new().await;
    sender_identity(&h.sender, false).await;
    let agr = invoiced_migration(&h).await.agreement;
    assert_eq!(outcomes(&h.sweep().await), [Outcome::Blocked]);
    assert!(h.sweep().await.is_empty(), "not due again before its wait");
    // Eight hours of an unverified sender: far more than the attempts a mail may use, and
    // still nothing is parked: the mail is not at fault.
    for _ in 0..32 {
        h.clock.advance(Duration::minutes(15));
        assert_eq!(outcomes(&h.sweep().await), [Outcome::Blocked]);
    }
    let a = h.get(&format!("/agreements/{agr}"), &partner("p1")).await;
    assert_eq!(a.body["activation_email_failed"], Value::Null, "{}", a.raw);
    assert!(h.mail().is_empty());

    sender_identity(&h.sender, true).await;
    h.clock.advance(Duration::minutes(15));
    assert_eq!(outcomes(&h.sweep().await), [Outcome::Sent]);
    h.clock.advance(Duration::hours(2));
    assert!(h.sweep().await.is_empty());
    assert_eq!(h.mail().len(), 1, "exactly one mail once SES accepts");
    assert_eq!(sent_events(&h, &agr).await, 1);
}

/// The intent a sweep worked on, as stored.
async fn intent(h: &Harness, id: &vls_domain::types::MailId) -> vls_domain::model::MailIntent {
    h.mailer.store.mail(id).await.expect("read").expect("kept")
}

/// A new SES account is in the sandbox (`GetAccount`: no production access) and refuses every
/// recipient it has not verified. That is the account's state, not the address's fault: the
/// mail waits as blocked, uncounted and never parked, and goes once the account has left it.
#[tokio::test]
async fn in_the_ses_sandbox_a_mail_to_an_unverified_recipient_waits_for_production_access() {
    let h = Harness::new().await;
    let agr = invoiced_migration(&h).await.agreement;
    h.ses_faults.set_account(Some(SesAccount::Sandbox));
    h.ses_faults.set(Some(SesFault::RecipientNotVerified));
    let first = h.sweep().await;
    assert_eq!(outcomes(&first), [Outcome::Blocked]);
    let id = &first[0].0;
    assert!(h.sweep().await.is_empty(), "not due again before its wait");
    // Two hours of sandbox: more attempts than a mail may use, none counted, none parked.
    for _ in 0..8 {
        h.clock.advance(Duration::minutes(15));
        assert_eq!(outcomes(&h.sweep().await), [Outcome::Blocked]);
    }
    let waiting = intent(&h, id).await;
    assert_eq!(waiting.status, vls_domain::model::MailStatus::Pending);
    assert_eq!(waiting.attempts, 0, "not counted");
    assert_eq!(
        waiting.last_error,
        Some(vls_domain::model::MailRefusal::RecipientNotVerified)
    );
    assert_eq!(
        h.ses_faults.account_asked(),
        1,
        "one GetAccount, kept for a while"
    );
    let a = h.get(&format!("/agreements/{agr}"), &partner("p1")).await;
    assert_eq!(a.body["activation_email_failed"], Value::Null, "{}", a.raw);
    assert!(h.mail().is_empty());

    // Production access granted: SES takes the mail at its next attempt, after the wait.
    h.ses_faults.set_account(Some(SesAccount::Production));
    h.ses_faults.set(None);
    assert!(h.sweep().await.is_empty(), "still waiting");
    h.clock.advance(Duration::minutes(15));
    assert_eq!(outcomes(&h.sweep().await), [Outcome::Sent]);
    assert_eq!(h.mail().len(), 1, "exactly one mail once SES accepts");
    assert_eq!(sent_events(&h, &agr).await, 1);
    let a = h.get(&format!("/agreements/{agr}"), &partner("p1")).await;
    assert_eq!(a.body["activation_email_failed"], Value::Null, "{}", a.raw);
}

/// SES refuses an unverified recipient and will not say whether the account is sandboxed:
/// the mail waits rather than being parked on a guess, and SES is asked again next time.
#[tokio::test]
async fn an_unverified_recipient_waits_while_ses_will_not_say_whether_it_is_sandboxed() {
    let h = Harness::new().await;
    let agr = invoiced_migration(&h).await.agreement;
    h.ses_faults.set_account(Some(SesAccount::Unreachable));
    h.ses_faults.set(Some(SesFault::RecipientNotVerified));
    assert_eq!(outcomes(&h.sweep().await), [Outcome::Blocked]);
    h.clock.advance(Duration::minutes(15));
    assert_eq!(outcomes(&h.sweep().await), [Outcome::Blocked]);
    assert_eq!(h.ses_faults.account_asked(), 2, "a failed read is not kept");
    let a = h.get(&format!("/agreements/{agr}"), &partner("p1")).await;
    assert_eq!(a.body["activation_email_failed"], Value::Null, "{}", a.raw);
}

/// With production access SES checks no recipient: the same refusal is the address's, and is
/// parked as it always was.
#[tokio::test]
async fn with_production_access_a_refused_unverified_address_is_parked_as_before() {
    let h = Harness::new().await;
    let agr = invoiced_migration(&h).await.agreement;
    h.ses_faults.set_account(Some(SesAccount::Production));
    h.ses_faults.set(Some(SesFault::RecipientNotVerified));
    assert_eq!(outcomes(&h.sweep().await), [Outcome::Failed]);
    assert_eq!(h.ses_faults.account_asked(), 1);
    let a = h.get(&format!("/agreements/{agr}"), &partner("p1")).await;
    let failed = &a.body["activation_email_failed"];
    assert_eq!(failed["reason"], "rejected_address", "{}", a.raw);
}

#[tokio::test]
async fn throttling_for_two_minutes_then_accepting_sends_every_mail_once() {
    let h = Harness::new().await;
    let mut agreements = Vec::new();
    for _ in 0..3 {
        agreements.push(invoiced_migration(&h).await.agreement);
    }
    h.ses_faults.set(Some(SesFault::Throttled));
    let mut seen = Vec::new();
    for _ in 0..12 {
        seen.extend(outcomes(&h.sweep().await));
        h.clock.advance(Duration::seconds(10));
    }
    assert!(seen.iter().all(|o| *o == Outcome::Throttled), "{seen:?}");
    assert!(
        seen.len() >= 3 * 10,
        "each mail tried again every few seconds: {seen:?}"
    );
    assert!(h.mail().is_empty());

    h.ses_faults.set(None);
    assert_eq!(outcomes(&h.sweep().await), [Outcome::Sent; 3]);
    h.clock.advance(Duration::hours(1));
    assert!(h.sweep().await.is_empty());
    assert_eq!(h.mail().len(), 3);
    for agr in &agreements {
        assert_eq!(sent_events(&h, agr).await, 1);
        let a = h.get(&format!("/agreements/{agr}"), &partner("p1")).await;
        assert_eq!(
            a.body["activation_email_failed"],
            Value::Null,
            "none parked"
        );
    }
}

#[tokio::test]
async fn a_spent_quota_stops_the_run_and_waits_for_it_to_free() {
    let h = Harness::new().await;
    for _ in 0..5 {
        invoiced_migration(&h).await;
    }
    h.ses_faults.set(Some(SesFault::QuotaExceeded));
    // The mailer works on two at a time here: those refused stop the run, the rest wait.
    let first = outcomes(&h.sweep().await);
    assert!(
        (1..=2).contains(&first.len()) && first.iter().all(|o| *o == Outcome::Blocked),
        "the first refusals stop the run: the others are not tried: {first:?}"
    );
    h.ses_faults.set(None);
    // Those not tried are still due; the refused ones wait for the quota.
    assert_eq!(
        outcomes(&h.sweep().await),
        vec![Outcome::Sent; 5 - first.len()]
    );
    h.clock.advance(Duration::minutes(59));
    assert!(h.sweep().await.is_empty());
    h.clock.advance(Duration::minutes(2));
    assert_eq!(outcomes(&h.sweep().await), vec![Outcome::Sent; first.len()]);
    assert_eq!(h.mail().len(), 5);
}

#[tokio::test]
async fn a_rejected_address_is_parked_at_once() {
    let h = Harness::new().await;
    let agr = invoiced_migration(&h).await.agreement;
    h.ses_faults.set(Some(SesFault::RejectedAddress));
    assert_eq!(outcomes(&h.sweep().await), [Outcome::Failed]);
    let a = h.get(&format!("/agreements/{agr}"), &partner("p1")).await;
    let failed = &a.body["activation_email_failed"];
    assert_eq!(failed["reason"], "rejected_address", "{}", a.raw);
    assert_eq!(failed["attempts"], 1, "{}", a.raw);
    assert!(
        !a.raw.to_ascii_lowercase().contains("blacklisted"),
        "SES's text leaked: {}",
        a.raw
    );
    h.clock.advance(Duration::hours(5));
    assert!(h.sweep().await.is_empty(), "parked: never tried again");
    let trail = h
        .get(&format!("/agreements/{agr}/events"), &billing_support())
        .await;
    assert_eq!(
        actions(&trail.body).last(),
        Some(&"activation_email.failed")
    );
    // Once the address is fixed at SES, a resend delivers and clears the failure.
    h.ses_faults.set(None);
    let bs = billing_support();
    let body = json!({"legal_name": "Contoso Ltd", "country": "NL"});
    let r = h
        .post(
            &format!("/agreements/{agr}/activation-email/resend"),
            &bs,
            &body,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.raw);
    assert_eq!(outcomes(&h.sweep().await), [Outcome::Sent]);
    let a = h.get(&format!("/agreements/{agr}"), &bs).await;
    assert_eq!(a.body["activation_email_failed"], Value::Null);
}

#[tokio::test]
async fn transient_failures_are_retried_ever_more_slowly_and_never_parked() {
    let h = Harness::new().await;
    let agr = invoiced_migration(&h).await.agreement;
    h.ses_faults.set(Some(SesFault::Unreachable));
    // A day of SES unreachable: retried after 10 s, 30 s, 1 min, 5 min, 15 min, 1 h, then
    // every 4 h — 12 attempts, none of them giving up (R5: only a permanent refusal parks).
    let mut seen = Vec::new();
    for _ in 0..(24 * 12) {
        seen.extend(outcomes(&h.sweep().await));
        h.clock.advance(Duration::minutes(5));
    }
    assert!(seen.iter().all(|o| *o == Outcome::Retrying), "{seen:?}");
    assert!((10..=14).contains(&seen.len()), "{seen:?}");
    let a = h.get(&format!("/agreements/{agr}"), &partner("p1")).await;
    assert_eq!(a.body["activation_email_failed"], Value::Null, "{}", a.raw);
    assert!(h.mail().is_empty());
    // When SES is back, the next attempt delivers, once.
    h.ses_faults.set(None);
    h.clock.advance(Duration::hours(4));
    assert_eq!(outcomes(&h.sweep().await), [Outcome::Sent]);
    assert_eq!(h.mail().len(), 1);
    assert_eq!(sent_events(&h, &agr).await, 1);
}

#[tokio::test]
async fn a_mail_whose_sent_record_fails_three_times_goes_out_once() {
    let h = Harness::new().await;
    let agr = invoiced_migration(&h).await.agreement;
    // The claim goes through; SES takes the mail; the next three writes (its record) fail.
    h.faults.fail_writes_after(1, 3);
    assert_eq!(outcomes(&h.sweep().await), [Outcome::Sent]);
    for _ in 0..3 {
        h.clock.advance(Duration::minutes(5));
        assert!(h.sweep().await.is_empty(), "recorded: nothing left to send");
    }
    assert_eq!(h.mail().len(), 1, "exactly one SES send");
    assert_eq!(sent_events(&h, &agr).await, 1);
}

/// The sent record moves the agreement's version on (the trail's order): an agreement changed
/// between the link's issue and the record — here an order placed while the send waits for
/// its slot — is read again and the mail recorded once, after the change in the trail.
#[tokio::test]
async fn a_mail_sent_while_its_agreement_changes_is_recorded_once_after_the_change() {
    let h = Harness::new().await;
    let m = invoiced_migration(&h).await;
    // One mail every two seconds, the first slot taken: the sweep's send waits two seconds
    // after it issued the link.
    let mailer = h.mailer_paced(0.5);
    mailer.pacer.slot().await;
    let order = json!({"agreement_id": m.agreement,
                       "lines": [{"sku": "d365-sales-professional", "quantity": 1}]});
    let (out, placed) = tokio::join!(activation_mailer::sweep(&mailer, "test-sweep"), async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        h.post("/orders", &m.partner, &order).await
    });
    assert_eq!(placed.status, 201, "{}", placed.raw);
    assert_eq!(outcomes(&out.expect("sweep")), [Outcome::Sent]);
    assert_eq!(h.mail().len(), 1, "exactly one SES send");
    let path = format!("/agreements/{}/events", m.agreement);
    let trail = h.walk(&path, &billing_support(), "events", 100).await;
    let actions: Vec<&str> = trail.iter().filter_map(|e| e["action"].as_str()).collect();
    let issued = actions.iter().position(|a| *a == "activation_link.issued");
    let last_placed = actions.iter().rposition(|a| *a == "order.placed");
    let sent = actions.iter().position(|a| *a == "activation_email.sent");
    // Issued, then the order, then the record: the record met a changed agreement.
    assert!(
        issued.is_some() && issued < last_placed && last_placed < sent,
        "{actions:?}"
    );
    assert_eq!(sent_events(&h, &m.agreement).await, 1);
}

/// Writes an item of string attributes as it is, past every decoder (a hand edit, a bug).
async fn put_strings(h: &Harness, attributes: &[(&str, &str)]) {
    let item = attributes
        .iter()
        .map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned())))
        .collect();
    h.client
        .put_item()
        .table_name(&h.table)
        .set_item(Some(item))
        .send()
        .await
        .expect("put");
}

/// An intent whose item no longer decodes, in the outbox index and due.
async fn unreadable_intent(h: &Harness) -> String {
    let id = vls_domain::types::MailId::generate();
    let (outbox, due) = vls_store::keys::outbox(&id, "2000-01-01T00:00:00.000Z");
    put_strings(
        h,
        &[
            ("pk", &format!("MAIL#{id}")),
            ("sk", "MAIL"),
            ("type", "mail"),
            ("id", id.as_str()),
            ("status", "pending"),
            ("attempts", "not a number"),
            ("gsi1pk", &outbox),
            ("gsi1sk", &due),
        ],
    )
    .await;
    id.to_string()
}

#[tokio::test]
async fn an_unreadable_intent_does_not_stop_the_others_and_is_set_aside() {
    let h = Harness::new().await;
    let poisoned = unreadable_intent(&h).await;
    let agr = invoiced_migration(&h).await.agreement;
    let first = h.sweep().await;
    assert_eq!(first.len(), 2, "{first:?}");
    for (id, outcome) in &first {
        let expected = if id.as_str() == poisoned {
            Outcome::Unreadable
        } else {
            Outcome::Sent
        };
        assert_eq!(*outcome, expected, "{first:?}");
    }
    assert_eq!(sent_events(&h, &agr).await, 1);
    // Reported on every run until it is set aside after the fifth.
    for _ in 0..4 {
        assert_eq!(outcomes(&h.sweep().await), [Outcome::Unreadable]);
    }
    assert!(h.sweep().await.is_empty(), "set aside: out of the outbox");
    let item = h
        .client
        .get_item()
        .table_name(&h.table)
        .key("pk", AttributeValue::S(format!("MAIL#{poisoned}")))
        .key("sk", AttributeValue::S("MAIL".into()))
        .send()
        .await
        .expect("get")
        .item
        .expect("kept for an operator");
    assert_eq!(item.get("set_aside"), Some(&AttributeValue::Bool(true)));
    assert!(!item.contains_key("gsi1pk"));
}

#[tokio::test]
async fn a_stream_batch_reports_only_the_records_it_could_not_process() {
    let h = Harness::new().await;
    let poisoned = unreadable_intent(&h).await;
    invoiced_migration(&h).await;
    let good = h
        .sweep_ids()
        .await
        .into_iter()
        .find(|i| i.as_str() != poisoned)
        .expect("the invoiced one");
    let record = |seq: &str, id: &str| {
        json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": seq,
               "NewImage": {"type": {"S": "mail"}, "id": {"S": id}}}})
    };
    let batch = json!({"Records": [record("100", &poisoned), record("200", good.as_str())]});
    let out = activation_mailer::handle(&h.mailer, "test-stream", batch)
        .await
        .expect("handled");
    let out = serde_json::to_value(out).expect("an answer");
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": "100"}]}),
        "only the unreadable record is offered again, and the answer says nothing else"
    );
    assert_eq!(h.mail().len(), 1);
}

#[tokio::test]
async fn an_unreadable_due_agreement_does_not_stop_the_true_up_of_the_others() {
    let h = Harness::new().await;
    let agr = invoiced_migration(&h).await.agreement;
    let poisoned = vls_domain::types::AgreementId::generate();
    let anniversary = chrono::NaiveDate::from_ymd_opt(2027, 3, 15).expect("date");
    let (gpk, gsk) = vls_store::keys::due(&poisoned, anniversary);
    put_strings(
        &h,
        &[
            ("pk", &format!("AGREEMENT#{poisoned}")),
            ("sk", "A"),
            ("type", "agreement"),
            ("version", "not a number"),
            ("gsi1pk", &gpk),
            ("gsi1sk", &gsk),
        ],
    )
    .await;
    let now = chrono::DateTime::parse_from_rfc3339("2027-03-15T06:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let planned = true_up::plan(&h.true_up, now).await.expect("enqueued");
    assert_eq!(planned.enqueued, 2, "both are due: {planned:?}");
    // And a message that is not a job at all.
    h.sqs
        .send_message()
        .queue_url(h.true_up.queue.url())
        .message_body("not a job")
        .send()
        .await
        .expect("send");
    let worked = vls_tests::work_queue::drain(&h.true_up, &h.sqs, 1).await;
    assert_eq!(worked.billed.len(), 1, "{worked:?}");
    assert_eq!(worked.billed[0].agreement_id.as_str(), agr);
    let mut failed: Vec<(Option<&str>, &str)> = worked
        .failed
        .iter()
        .map(|f| (f.agreement_id.as_ref().map(|a| a.as_str()), f.code))
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        [
            (None, "unreadable_message"),
            (Some(poisoned.as_str()), "unreadable")
        ],
        "each reported on its own"
    );
    // Both stay on the queue (out of sight for now), to be offered again and, after three
    // receives, to land on the dead-letter queue; the billed one is gone.
    assert_eq!(
        vls_tests::work_queue::depth(&h.sqs, h.true_up.queue.url()).await,
        2
    );
    // The billed event counts what it billed; it lists no ids.
    let trail = h
        .get(&format!("/agreements/{agr}/events"), &billing_support())
        .await;
    let billed = event(&trail.body, "true_up.billed").expect("billed event");
    assert!(billed["details"]["reservations"].is_u64(), "{billed}");
}

/// Mail SES throttles is due again in a moment, and the same sweep comes back for it rather
/// than leaving it to the next scheduled run.
#[tokio::test]
async fn a_sweep_comes_back_for_throttled_mail_while_its_time_lasts() {
    let h = Harness::new().await;
    for _ in 0..3 {
        invoiced_migration(&h).await;
    }
    let mailer = activation_mailer::MailerApp {
        clock: vls_runtime::config::system_clock(),
        settings: activation_mailer::MailerSettings {
            sender: h.sender.clone(),
            public_base_url: PUBLIC_BASE_URL.into(),
            throttle_pause: std::time::Duration::from_millis(10),
            waits: activation_mailer::Waits {
                throttled: Duration::milliseconds(200),
                ..activation_mailer::Waits::default()
            },
            ..activation_mailer::MailerSettings::default()
        },
        ..h.mailer_paced(1000.0)
    };
    h.ses_faults.set(Some(SesFault::Throttled));
    let faults = h.ses_faults.clone();
    let lift = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        faults.set(None);
    });
    let out = activation_mailer::sweep(&mailer, "test-sweep")
        .await
        .expect("sweep");
    lift.await.expect("lifted");
    let sent = out.iter().filter(|(_, o)| *o == Outcome::Sent).count();
    assert_eq!(
        sent, 3,
        "one sweep sent all three once SES took mail: {out:?}"
    );
    assert!(out.iter().any(|(_, o)| *o == Outcome::Throttled), "{out:?}");
    assert_eq!(h.mail().len(), 3);
}

/// A mail SES could not take is put off, and a wake-up waits on the queue until it is due
/// (SQS holds it back), rather than until the next sweep; woken, the mailer sends it.
#[tokio::test]
async fn a_mail_put_off_is_woken_through_the_queue_when_it_is_due() {
    let h = Harness::new().await;
    invoiced_migration(&h).await;
    let mailer = activation_mailer::MailerApp {
        clock: vls_runtime::config::system_clock(),
        settings: activation_mailer::MailerSettings {
            sender: h.sender.clone(),
            public_base_url: PUBLIC_BASE_URL.into(),
            waits: activation_mailer::Waits {
                retry_after: vec![Duration::seconds(2)],
                ..activation_mailer::Waits::default()
            },
            ..activation_mailer::MailerSettings::default()
        },
        ..h.mailer_paced(1000.0)
    };
    h.ses_faults.set(Some(SesFault::Unreachable));
    let out = activation_mailer::sweep(&mailer, "test-sweep")
        .await
        .expect("sweep");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1, Outcome::Retrying, "{out:?}");
    h.ses_faults.set(None);

    let receive = || async {
        h.sqs
            .receive_message()
            .queue_url(mailer.wakeups.url())
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    };
    assert!(
        receive().await.is_empty(),
        "held back until the mail is due"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let got = receive().await;
    assert_eq!(got.len(), 1, "one wake-up, once due");
    let body = got[0].body.clone().unwrap_or_default();
    assert!(body.contains(out[0].0.as_str()), "{body}");
    let event = json!({"Records": [{"messageId": got[0].message_id, "receiptHandle": "r",
        "body": body, "eventSource": "aws:sqs", "attributes": {}}]});
    let woken = activation_mailer::handle(&mailer, "test-wakeup", event)
        .await
        .expect("handled");
    let woken = serde_json::to_value(woken).expect("an answer");
    assert_eq!(
        woken,
        json!({"batchItemFailures": []}),
        "the answer the queue reads"
    );
    assert_eq!(h.mail().len(), 1);
}
