//! The table the local stack created (scripts/bootstrap.py) is the table template.yaml
//! deploys: same keys, same GSIs, same stream, same TTL.

use std::collections::BTreeSet;

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

    let template_gsis = t["GlobalSecondaryIndexes"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        desc.global_secondary_indexes().len(),
        template_gsis.len(),
        "number of GSIs"
    );
    for g in &template_gsis {
        let index = g["IndexName"].as_str().unwrap_or_default();
        let live = desc
            .global_secondary_indexes()
            .iter()
            .find(|l| l.index_name() == Some(index))
            .unwrap_or_else(|| panic!("GSI {index} missing"));
        let live_keys = set(live
            .key_schema()
            .iter()
            .map(|k| format!("{}={}", k.attribute_name(), k.key_type().as_str())));
        assert_eq!(
            live_keys,
            yaml_pairs(&g["KeySchema"], "AttributeName", "KeyType"),
            "GSI {index} keys"
        );
        assert_eq!(
            live.projection()
                .and_then(|p| p.projection_type())
                .map(|p| p.as_str().to_owned()),
            g["Projection"]["ProjectionType"]
                .as_str()
                .map(str::to_owned),
            "GSI {index} projection"
        );
    }

    let template_lsis = t["LocalSecondaryIndexes"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        desc.local_secondary_indexes().len(),
        template_lsis.len(),
        "number of LSIs"
    );
    for l in &template_lsis {
        let index = l["IndexName"].as_str().unwrap_or_default();
        let live = desc
            .local_secondary_indexes()
            .iter()
            .find(|x| x.index_name() == Some(index))
            .unwrap_or_else(|| panic!("LSI {index} missing"));
        let live_keys = set(live
            .key_schema()
            .iter()
            .map(|k| format!("{}={}", k.attribute_name(), k.key_type().as_str())));
        assert_eq!(
            live_keys,
            yaml_pairs(&l["KeySchema"], "AttributeName", "KeyType"),
            "LSI {index} keys"
        );
        assert_eq!(
            live.projection()
                .and_then(|p| p.projection_type())
                .map(|p| p.as_str().to_owned()),
            l["Projection"]["ProjectionType"]
                .as_str()
                .map(str::to_owned),
            "LSI {index} projection"
        );
    }

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
