//! The table the local stack created (scripts/bootstrap.py) is the table template.yaml
//! deploys: same keys, same indexes (global and local), same stream, same TTL.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{KeySchemaElement, Projection};
use vls_tests::{client, template_table};

fn set(items: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    items.into_iter().collect()
}

fn yaml_pairs(v: &serde_yaml::Value, a: &str, b: &str) -> BTreeSet<String> {
    set(v.as_sequence().into_iter().flatten().map(|e| {
        format!(
            "{}={}",
            e[a].as_str().unwrap_or_default(),
            e[b].as_str().unwrap_or_default()
        )
    }))
}

/// An index as compared: its name, its keys (`attr=HASH|RANGE`) and its projection.
type IndexShape = (String, BTreeSet<String>, String);

fn set_of(items: impl IntoIterator<Item = IndexShape>) -> BTreeSet<IndexShape> {
    items.into_iter().collect()
}

/// The template's indexes of one kind (`GlobalSecondaryIndexes`, `LocalSecondaryIndexes`).
fn template_indexes(t: &serde_yaml::Value, kind: &str) -> BTreeSet<IndexShape> {
    set_of(t[kind].as_sequence().into_iter().flatten().map(|i| {
        (
            i["IndexName"].as_str().unwrap_or_default().to_owned(),
            yaml_pairs(&i["KeySchema"], "AttributeName", "KeyType"),
            i["Projection"]["ProjectionType"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }))
}

#[tokio::test]
async fn local_table_matches_the_template() {
    let name = std::env::var("TABLE_NAME").unwrap_or_else(|_| "vls".into());
    let c = client();
    let t = template_table();
    let desc = c
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("table {name} missing (run `make test`): {e:?}"))
        .table
        .expect("table description");

    let keys = set(desc
        .key_schema()
        .iter()
        .map(|k| format!("{}={}", k.attribute_name(), k.key_type().as_str())));
    assert_eq!(
        keys,
        yaml_pairs(&t["KeySchema"], "AttributeName", "KeyType"),
        "key schema"
    );

    let attrs = set(desc
        .attribute_definitions()
        .iter()
        .map(|a| format!("{}={}", a.attribute_name(), a.attribute_type().as_str())));
    assert_eq!(
        attrs,
        yaml_pairs(&t["AttributeDefinitions"], "AttributeName", "AttributeType"),
        "attributes"
    );

    let shape = |name: Option<&str>, keys: &[KeySchemaElement], projection: Option<&Projection>| {
        let keys = keys
            .iter()
            .map(|k| format!("{}={}", k.attribute_name(), k.key_type().as_str()));
        let projection = projection
            .and_then(|p| p.projection_type())
            .map_or("", |p| p.as_str());
        (
            name.unwrap_or_default().to_owned(),
            set(keys),
            projection.to_owned(),
        )
    };
    let gsis = desc
        .global_secondary_indexes()
        .iter()
        .map(|g| shape(g.index_name(), g.key_schema(), g.projection()));
    assert_eq!(
        set_of(gsis),
        template_indexes(&t, "GlobalSecondaryIndexes"),
        "GSIs"
    );
    let lsis = desc
        .local_secondary_indexes()
        .iter()
        .map(|l| shape(l.index_name(), l.key_schema(), l.projection()));
    assert_eq!(
        set_of(lsis),
        template_indexes(&t, "LocalSecondaryIndexes"),
        "LSIs"
    );

    let stream = desc.stream_specification().expect("stream specification");
    assert!(stream.stream_enabled(), "stream enabled");
    assert_eq!(
        stream.stream_view_type().map(|v| v.as_str()),
        t["StreamSpecification"]["StreamViewType"].as_str(),
        "stream view type"
    );

    let ttl = c
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .expect("describe ttl")
        .time_to_live_description
        .expect("ttl description");
    assert_eq!(
        ttl.attribute_name(),
        t["TimeToLiveSpecification"]["AttributeName"].as_str(),
        "TTL attribute"
    );
    assert_eq!(
        ttl.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED")
    );
    assert_eq!(
        desc.billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|b| b.as_str()),
        t["BillingMode"].as_str(),
        "billing mode"
    );
}
