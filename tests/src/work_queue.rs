//! The true-up's work queue in the emulator, and what Lambda's SQS event source does with it:
//! receive up to ten messages, hand them to a worker, delete those it did not report failed.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use futures::future::join_all;
use true_up::{App, Worked};
use vls_runtime::queue::Message;

/// A queue of its own for one test (messages a worker failed stay out of sight for a
/// while, as the deployed queue's visibility timeout keeps them).
pub async fn create(sqs: &Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "30",
        )
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url")
}

/// Messages on the queue, visible or being worked (the emulator's approximate counts).
pub async fn depth(sqs: &Client, url: &str) -> usize {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let count = |a: A| {
        out.attributes()
            .and_then(|m| m.get(&a))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
    };
    count(A::ApproximateNumberOfMessages) + count(A::ApproximateNumberOfMessagesNotVisible)
}

/// Works the queue with `workers` pollers side by side until none finds a message: what
/// every invocation billed and reported failed.
pub async fn drain(app: &App, sqs: &Client, workers: usize) -> Worked {
    drain_at_most(app, sqs, workers, usize::MAX).await
}

/// [`drain`], each poller stopping once it has taken `per_worker` messages.
pub async fn drain_at_most(app: &App, sqs: &Client, workers: usize, per_worker: usize) -> Worked {
    let pollers = (0..workers.max(1)).map(|w| poll(app, sqs, w, per_worker));
    let runs = join_all(pollers).await;
    let mut all = Worked::default();
    for worked in runs {
        all.billed.extend(worked.billed);
        all.failed.extend(worked.failed);
    }
    all
}

async fn poll(app: &App, sqs: &Client, worker: usize, at_most: usize) -> Worked {
    let url = app.queue.url();
    let mut all = Worked::default();
    let mut taken = 0;
    while taken < at_most {
        let got = receive(sqs, url, (at_most - taken).min(10) as i32).await;
        if got.is_empty() {
            return all;
        }
        taken += got.len();
        let messages: Vec<Message> = got
            .iter()
            .map(|m| Message {
                message_id: m.message_id.clone().unwrap_or_default(),
                body: m.body.clone().unwrap_or_default(),
            })
            .collect();
        let worked = true_up::work(app, &messages, &format!("test-worker-{worker}")).await;
        let done: Vec<DeleteMessageBatchRequestEntry> = got
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                let id = m.message_id.as_deref().unwrap_or_default();
                !worked.failed.iter().any(|f| f.message_id == id)
            })
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .build()
                    .expect("entry")
            })
            .collect();
        if !done.is_empty() {
            sqs.delete_message_batch()
                .queue_url(url)
                .set_entries(Some(done))
                .send()
                .await
                .expect("delete");
        }
        all.billed.extend(worked.billed);
        all.failed.extend(worked.failed);
    }
    all
}

/// Up to `at_most` (≤ 10) visible messages of `url`, as the SQS event Lambda hands a
/// function, and their receipt handles; `None` when none is visible.
pub async fn receive_event(
    sqs: &Client,
    url: &str,
    at_most: i32,
) -> Option<(serde_json::Value, Vec<String>)> {
    let got = receive(sqs, url, at_most).await;
    if got.is_empty() {
        return None;
    }
    let records: Vec<serde_json::Value> = got
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.message_id.clone().unwrap_or_default(),
                "receiptHandle": m.receipt_handle.clone().unwrap_or_default(),
                "body": m.body.clone().unwrap_or_default(),
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    let handles = got.into_iter().filter_map(|m| m.receipt_handle).collect();
    Some((serde_json::json!({ "Records": records }), handles))
}

/// Deletes the messages received with `handles` (the event source, after a successful
/// invocation).
pub async fn delete(sqs: &Client, url: &str, handles: &[String]) {
    for h in handles {
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(h)
            .send()
            .await
            .expect("delete");
    }
}

/// Up to `at_most` (1–10) visible messages, at once (a short poll).
async fn receive(sqs: &Client, url: &str, at_most: i32) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(at_most.clamp(1, 10))
        .wait_time_seconds(0)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default()
}
