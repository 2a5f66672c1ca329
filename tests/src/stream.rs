//! A table's stream read the way Lambda's poller reads it for a stream-fed function (the
//! benchmarks feed the webhook dispatcher so, as it is fed in AWS): batches of records from
//! the position at the reader's start on, through the emulator's DynamoDB Streams API.

use serde_json::{Value, json};

use crate::endpoint;

/// One shard's reader (the emulator's stream has one shard).
pub struct StreamReader {
    agent: ureq::Agent,
    iterator: String,
}

/// One request of the Streams API (the emulator reads the service from the credential's
/// scope and the operation from the target; it checks no signature).
fn call(agent: &ureq::Agent, operation: &str, body: &Value) -> Value {
    let mut resp = agent
        .post(endpoint())
        .header("Content-Type", "application/x-amz-json-1.0")
        .header(
            "X-Amz-Target",
            format!("DynamoDBStreams_20120810.{operation}"),
        )
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("{operation}: {e}"));
    let text = resp
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_string()
        .expect("body");
    let answer: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(resp.status(), 200, "{operation}: {answer}");
    answer
}

impl StreamReader {
    /// A reader of the stream `arn` from its latest position: it reads the records written
    /// after this call.
    pub async fn latest(arn: &str) -> Self {
        let arn = arn.to_owned();
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let stream = call(&agent, "DescribeStream", &json!({"StreamArn": arn}));
            let shard = stream["StreamDescription"]["Shards"][0]["ShardId"].clone();
            let it = call(
                &agent,
                "GetShardIterator",
                &json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "LATEST"}),
            );
            let iterator = it["ShardIterator"].as_str().expect("iterator").to_owned();
            Self { agent, iterator }
        })
        .await
        .expect("reader")
    }

    /// The next at most `limit` records, as the function's event (`{"Records": [...]}`)
    /// hands them; `None` when there are none yet.
    pub async fn next_batch(&mut self, limit: usize) -> Option<Value> {
        let agent = self.agent.clone();
        let body = json!({"ShardIterator": self.iterator, "Limit": limit});
        let answer = tokio::task::spawn_blocking(move || call(&agent, "GetRecords", &body))
            .await
            .expect("records");
        self.iterator = answer["NextShardIterator"]
            .as_str()
            .expect("next iterator")
            .to_owned();
        let records = answer["Records"].as_array().filter(|r| !r.is_empty())?;
        Some(json!({ "Records": records }))
    }
}
