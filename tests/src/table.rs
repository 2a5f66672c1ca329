//! The emulator's clients and the tables the tests make from the template's definition.

use super::*;

/// The emulator's endpoint (`AWS_ENDPOINT_URL`, default the local stack's).
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

/// An SDK configuration that can only ever talk to the emulator.
pub fn sdk_config() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            Credentials::new("local", "local", None, None, "tests"),
        ))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

pub fn client() -> Client {
    Client::new(&sdk_config())
}

fn yaml<'a>(v: &'a serde_yaml::Value, path: &[&str]) -> &'a serde_yaml::Value {
    path.iter().fold(v, |v, k| &v[*k])
}

fn s(v: &serde_yaml::Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The `Table` resource's properties in `template.yaml`.
pub fn template_table() -> serde_yaml::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("template parses");
    yaml(&doc, &["Resources", "Table", "Properties"]).clone()
}

fn key_schema(v: &serde_yaml::Value) -> Vec<KeySchemaElement> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(s(&k["AttributeName"]))
                .key_type(KeyType::from(s(&k["KeyType"]).as_str()))
                .build()
                .expect("key")
        })
        .collect()
}

/// Creates a table named `name` from the template's definition.
pub async fn create_table(client: &Client, name: &str) {
    let t = template_table();
    let attrs = t["AttributeDefinitions"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(s(&a["AttributeName"]))
                .attribute_type(ScalarAttributeType::from(s(&a["AttributeType"]).as_str()))
                .build()
                .expect("attr")
        })
        .collect();
    let projection = |p: &serde_yaml::Value| {
        Projection::builder()
            .projection_type(ProjectionType::from(s(&p["ProjectionType"]).as_str()))
            .build()
    };
    let gsis = t["GlobalSecondaryIndexes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|g| {
            GlobalSecondaryIndex::builder()
                .index_name(s(&g["IndexName"]))
                .set_key_schema(Some(key_schema(&g["KeySchema"])))
                .projection(projection(&g["Projection"]))
                .build()
                .expect("gsi")
        })
        .collect();
    let lsis = t["LocalSecondaryIndexes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|l| {
            LocalSecondaryIndex::builder()
                .index_name(s(&l["IndexName"]))
                .set_key_schema(Some(key_schema(&l["KeySchema"])))
                .projection(projection(&l["Projection"]))
                .build()
                .expect("lsi")
        })
        .collect();
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(s(&t["BillingMode"]).as_str()))
        .set_attribute_definitions(Some(attrs))
        .set_key_schema(Some(key_schema(&t["KeySchema"])))
        .set_global_secondary_indexes(Some(gsis))
        .set_local_secondary_indexes(Some(lsis))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(
                    s(&t["StreamSpecification"]["StreamViewType"]).as_str(),
                ))
                .build()
                .expect("stream"),
        )
        .send()
        .await
        .expect("create table (is the emulator up? `make test` starts it)");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(s(&t["TimeToLiveSpecification"]["AttributeName"]))
                .enabled(
                    t["TimeToLiveSpecification"]["Enabled"]
                        .as_bool()
                        .unwrap_or(false),
                )
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("ttl");
}

/// Every item in a table. Tests only: the product never scans.
pub async fn scan_all(
    client: &Client,
    table: &str,
) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan");
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return items,
        }
    }
}

/// How long requests have held the emulator so far, in seconds, in total and by operation
/// (its `/_busy`): it handles one request at a time, so a benchmark that keeps it busy most
/// of a run measures the emulator rather than the code.
pub async fn emulator_busy() -> (f64, Vec<(String, f64)>) {
    let answer = tokio::task::spawn_blocking(|| {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent
            .get(format!("{}/_busy", endpoint()))
            .call()
            .expect("the emulator's /_busy");
        let text = resp.body_mut().read_to_string().expect("body");
        serde_json::from_str::<serde_json::Value>(&text).expect("json")
    })
    .await
    .expect("busy");
    let by: Vec<(String, f64)> = answer["seconds"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(0.0)))
        .collect();
    (by.iter().map(|(_, s)| s).sum(), by)
}
