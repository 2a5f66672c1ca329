//! SQS queues the functions hand work to: the true-up's due agreements (sent by the daily run,
//! taken by its workers) and the mailer's wake-ups (a postponed mail, delivered when it is due).
//! Lambda's SQS event source hands the messages over; [`messages`] reads them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// SQS takes at most ten messages in one `SendMessageBatch`.
pub const BATCH: usize = 10;
/// The longest SQS holds a message back (`DelaySeconds`).
pub const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(900);
/// How often entries SQS did not take are offered again before the sender gives up.
const SEND_ATTEMPTS: usize = 3;

/// A message as the SQS event source hands it to the function.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    #[serde(rename = "messageId")]
    pub message_id: String,
    pub body: String,
}

/// The messages of an SQS event, or `None` when the event is not one (the schedule's).
pub fn messages(event: &Value) -> Option<Vec<Message>> {
    let records = event.get("Records")?.as_array()?;
    let from_sqs = records
        .first()
        .and_then(|r| r.get("eventSource"))
        .is_some_and(|s| s == "aws:sqs");
    if !from_sqs {
        return None;
    }
    Some(
        records
            .iter()
            .filter_map(|r| serde_json::from_value(r.clone()).ok())
            .collect(),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
    #[error("the queue did not take {0} message(s): {1}")]
    NotTaken(usize, String),
}

fn unavailable<E>(e: aws_sdk_sqs::error::SdkError<E>) -> QueueError
where
    E: std::error::Error + 'static,
{
    QueueError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
}

/// What an SQS or a stream event source reads back from a batch: the records to offer again
/// (`batchItemFailures`), and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

/// One record to offer again, by its message id or sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: String,
}

impl BatchResponse {
    pub fn failing(identifiers: impl IntoIterator<Item = String>) -> Self {
        Self {
            batch_item_failures: identifiers
                .into_iter()
                .map(|item_identifier| ItemFailure { item_identifier })
                .collect(),
        }
    }
}

/// The items of `kind` (their `type`) a DynamoDB stream batch announces in its new images,
/// each id (`id`, read by `parse`) with its record's sequence number; `None` for any other
/// event (a schedule's).
pub fn stream_ids<T>(
    event: &serde_json::Value,
    kind: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Option<Vec<(String, T)>> {
    use serde_json::Value;
    let records = event.get("Records")?.as_array()?;
    Some(
        records
            .iter()
            .filter_map(|r| {
                let img = r.pointer("/dynamodb/NewImage")?;
                if img.pointer("/type/S").and_then(Value::as_str) != Some(kind) {
                    return None;
                }
                let id = parse(img.pointer("/id/S").and_then(Value::as_str)?)?;
                let seq = r
                    .pointer("/dynamodb/SequenceNumber")
                    .and_then(Value::as_str);
                Some((seq.unwrap_or_default().to_owned(), id))
            })
            .collect(),
    )
}

#[derive(Debug, Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends up to [`BATCH`] messages in one request; entries SQS did not take are sent
    /// again (the consumers take a duplicate in their stride).
    pub async fn send(&self, messages: &[impl Serialize]) -> Result<(), QueueError> {
        let entries = messages.iter().map(|m| (None, m)).collect::<Vec<_>>();
        self.send_entries(&entries, 0).await
    }

    /// [`Queue::send`], each message in its group (`MessageGroupId`: a fair queue lets no
    /// group's backlog hold up another's messages).
    /// Each is held back `delay` seconds (0–900).
    async fn send_entries(
        &self,
        messages: &[(Option<&str>, &impl Serialize)],
        delay: i32,
    ) -> Result<(), QueueError> {
        let mut pending: Vec<Entry> = Vec::with_capacity(messages.len());
        for (i, (group, message)) in messages.iter().enumerate() {
            pending.push(Entry {
                id: i.to_string(),
                body: encode(message)?,
                group: group.map(str::to_owned),
                delay,
            });
        }
        let mut last = String::new();
        for _ in 0..SEND_ATTEMPTS {
            if pending.is_empty() {
                return Ok(());
            }
            let refused = self.send_batch(&pending).await?;
            last = refused
                .first()
                .map(|(_, why)| why.clone())
                .unwrap_or_default();
            pending.retain(|e| refused.iter().any(|(r, _)| r == &e.id));
        }
        match pending.len() {
            0 => Ok(()),
            n => Err(QueueError::NotTaken(n, last)),
        }
    }

    /// One `SendMessageBatch`: the ids of the entries SQS did not take, and why.
    async fn send_batch(&self, entries: &[Entry]) -> Result<Vec<(String, String)>, QueueError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let entries = entries
            .iter()
            .map(|e| {
                SendMessageBatchRequestEntry::builder()
                    .id(&e.id)
                    .message_body(&e.body)
                    .set_message_group_id(e.group.clone())
                    .delay_seconds(e.delay)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .failed
            .into_iter()
            .map(|f| (f.id, f.message.unwrap_or(f.code)))
            .collect())
    }

    /// Every message, in its group if it has one, [`BATCH`] to a request, each delivered no
    /// sooner than `after` (rounded up to a second; at most [`MAX_DELAY`]).
    pub async fn send_all_later<M: Serialize>(
        &self,
        messages: &[(Option<&str>, &M)],
        after: std::time::Duration,
    ) -> Result<(), QueueError> {
        let delay = delay_seconds(after);
        for chunk in messages.chunks(BATCH) {
            self.send_entries(chunk, delay).await?;
        }
        Ok(())
    }

    /// Hands deliveries to the webhook sender, each in its endpoint's group (SPEC §6.8). It
    /// only wakes the sender early (the deliveries wait in the table, where its sweep finds
    /// them): a failure is logged, not returned.
    pub async fn wake_deliveries(&self, due: &[vls_domain::rules::deliveries::Due]) {
        self.wake_deliveries_later(due, std::time::Duration::ZERO)
            .await;
    }

    /// [`Queue::wake_deliveries`], each no sooner than `after`.
    pub async fn wake_deliveries_later(
        &self,
        due: &[vls_domain::rules::deliveries::Due],
        after: std::time::Duration,
    ) {
        if due.is_empty() {
            return;
        }
        let messages: Vec<_> = due
            .iter()
            .map(|d| (Some(d.endpoint_id.as_str()), d))
            .collect();
        if let Err(e) = self.send_all_later(&messages, after).await {
            tracing::warn!(error = %e, messages = due.len(), "not queued; the sweep has them");
        }
    }

    /// One message, delivered no sooner than `after` (rounded up to a second; at most
    /// [`MAX_DELAY`]).
    pub async fn send_later(
        &self,
        message: &impl Serialize,
        after: std::time::Duration,
    ) -> Result<(), QueueError> {
        self.send_later_in(None, message, after).await
    }

    /// [`Queue::send_later`], in `group` if given (see [`Queue::send_all`]).
    pub async fn send_later_in(
        &self,
        group: Option<&str>,
        message: &impl Serialize,
        after: std::time::Duration,
    ) -> Result<(), QueueError> {
        let seconds = delay_seconds(after);
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(encode(message)?)
            .set_message_group_id(group.map(str::to_owned))
            .delay_seconds(seconds)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// One message of a batch: its id in the batch, its body, its group and its delay.
struct Entry {
    id: String,
    body: String,
    group: Option<String>,
    delay: i32,
}

/// `after` as SQS's `DelaySeconds`: rounded up to a second, at most [`MAX_DELAY`].
fn delay_seconds(after: std::time::Duration) -> i32 {
    after.min(MAX_DELAY).as_secs_f64().ceil() as i32
}

fn encode(message: &impl Serialize) -> Result<String, QueueError> {
    serde_json::to_string(message)
        .map_err(|e| QueueError::Unavailable(format!("encoding a message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_sqs_event_is_its_messages_and_a_schedule_is_not() {
        let sqs = json!({"Records": [
            {"messageId": "m1", "receiptHandle": "r", "body": "{}", "eventSource": "aws:sqs"},
            {"messageId": "m2", "receiptHandle": "r", "body": "x", "eventSource": "aws:sqs"}]});
        let got = messages(&sqs).expect("sqs");
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[1].message_id.as_str(), got[1].body.as_str()),
            ("m2", "x")
        );
        let schedule = json!({"detail-type": "Scheduled Event", "time": "2027-03-15T06:00:00Z"});
        assert_eq!(messages(&schedule), None);
        let stream = json!({"Records": [{"eventSource": "aws:dynamodb"}]});
        assert_eq!(messages(&stream), None);
    }
}
