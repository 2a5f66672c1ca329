//! The contract as SDK generators need it (SPEC §4.1 1–7): each operation named and tagged,
//! named schemas only, an example for every body and answer and for every problem code, every
//! status listed with its codes, a `Location` and links from every create, the security
//! schemes. Each rule is checked over every operation of `openapi.yaml`.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;
use vls_tests::contract::openapi;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Every operation: (`METHOD /path`, the operation).
fn operations() -> Vec<(String, &'static Value)> {
    let mut ops = Vec::new();
    for (path, item) in openapi()["paths"].as_mapping().expect("paths") {
        for (method, op) in item.as_mapping().expect("path item") {
            let m = method.as_str().unwrap_or_default();
            if METHODS.contains(&m) {
                let path = path.as_str().unwrap_or_default();
                ops.push((format!("{} {path}", m.to_uppercase()), op));
            }
        }
    }
    ops
}

fn is_page(op: &Value) -> bool {
    op["tags"][0].as_str() == Some("pages")
}

/// A response, its `$ref` followed.
fn resolved(response: &'static Value) -> &'static Value {
    vls_tests::contract::resolved(openapi(), response)
}

fn is_camel_verb_noun(id: &str) -> bool {
    let starts_lower = id.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let humps = id.chars().filter(char::is_ascii_uppercase).count();
    starts_lower && humps >= 1 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

#[test]
fn every_operation_has_a_unique_camel_case_id_and_one_declared_tag() {
    let declared: BTreeMap<&str, &Value> = openapi()["tags"]
        .as_sequence()
        .expect("tags")
        .iter()
        .map(|t| (t["name"].as_str().unwrap_or_default(), &t["description"]))
        .collect();
    assert!(
        declared
            .values()
            .all(|d| d.as_str().is_some_and(|d| !d.is_empty()))
    );
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for (name, op) in operations() {
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(is_camel_verb_noun(id), "{name}: operationId {id:?}");
        assert!(ids.insert(id), "{name}: operationId {id} twice");
        let tags = op["tags"].as_sequence().map(Vec::len);
        assert_eq!(tags, Some(1), "{name}: one tag");
        let tag = op["tags"][0].as_str().unwrap_or_default();
        assert!(
            declared.contains_key(tag),
            "{name}: tag {tag} is not declared"
        );
        used.insert(tag);
    }
    let unused: Vec<_> = declared.keys().filter(|t| !used.contains(*t)).collect();
    assert!(
        unused.is_empty(),
        "declared tags no operation has: {unused:?}"
    );
}

/// `schema` is a reference, a scalar, or an array of those: never an object written inline.
fn assert_named(schema: &Value, at: &str) {
    if schema.get("$ref").is_some() {
        return;
    }
    assert_ne!(
        schema["type"].as_str(),
        Some("object"),
        "{at}: an inline object schema"
    );
    assert!(
        schema.get("properties").is_none(),
        "{at}: inline properties"
    );
    if let Some(items) = schema.get("items") {
        assert_named(items, at);
    }
}

#[test]
fn every_body_and_answer_is_a_named_schema_with_an_example() {
    for (name, op) in operations() {
        for param in op["parameters"].as_sequence().into_iter().flatten() {
            assert_named(&param["schema"], &format!("{name}: parameter"));
        }
        for (media, content) in op["requestBody"]["content"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            assert_named(&content["schema"], &format!("{name}: body"));
            if media.as_str() == Some("application/json") {
                assert!(
                    content.get("example").is_some(),
                    "{name}: body without example"
                );
            }
        }
        for (status, response) in op["responses"].as_mapping().expect("responses") {
            let response = resolved(response);
            for (media, content) in response["content"].as_mapping().into_iter().flatten() {
                let at = format!("{name} {status:?} {media:?}");
                assert_named(&content["schema"], &at);
                let json = media.as_str() == Some("application/json");
                if json {
                    assert!(content.get("example").is_some(), "{at}: no example");
                }
            }
        }
    }
    // No object schema anywhere without properties (a free-form `details` says so itself).
    for (name, schema) in openapi()["components"]["schemas"]
        .as_mapping()
        .expect("schemas")
    {
        if schema["type"].as_str() == Some("object") {
            assert!(
                schema.get("properties").is_some(),
                "{name:?}: an object without properties"
            );
        }
    }
}

#[test]
fn every_status_is_listed_with_its_codes_and_an_example_of_each() {
    for (name, op) in operations().into_iter().filter(|(_, op)| !is_page(op)) {
        let responses = op["responses"].as_mapping().expect("responses");
        assert!(
            responses.get("default").is_none(),
            "{name}: a `default` response"
        );
        for (status, response) in responses {
            let status: u16 = status
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("a status");
            if status < 400 {
                continue;
            }
            let response = resolved(response);
            let codes: Vec<&str> = response["x-codes"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{name} {status}: no x-codes"))
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let problems = &response["content"]["application/problem+json"];
            for code in &codes {
                let example = &problems["examples"][*code]["value"];
                assert_eq!(
                    (example["status"].as_u64(), example["code"].as_str()),
                    (Some(u64::from(status)), Some(*code)),
                    "{name} {status}: the example of {code}"
                );
            }
            let examples = problems["examples"].as_mapping().map_or(0, |m| m.len());
            assert_eq!(
                examples,
                codes.len(),
                "{name} {status}: one example per code"
            );
            let gateway = response["content"].get("application/json").is_some();
            assert!(
                !codes.is_empty() || gateway,
                "{name} {status}: answers nothing"
            );
        }
        for status in ["401", "429", "500", "503"] {
            let content = &resolved(&op["responses"][status])["content"];
            assert_eq!(
                content["application/json"]["schema"]["$ref"].as_str(),
                Some("#/components/schemas/GatewayError"),
                "{name} {status}: what API Gateway itself answers"
            );
        }
    }
}

/// Every problem code the contract lists is one the code base can answer: a string literal
/// of the crates' sources.
#[test]
fn every_listed_code_is_one_the_code_can_answer() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sources = String::new();
    let mut dirs = vec![root.join("shared"), root.join("functions")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).expect("source"));
            }
        }
    }
    for (op, codes) in vls_tests::contract::listed_codes() {
        for (status, code) in codes {
            assert!(
                sources.contains(&format!("\"{code}\"")),
                "{op} {status}: {code} is answered nowhere"
            );
        }
    }
}

#[test]
fn every_create_sends_its_location_and_links_what_may_follow() {
    let ids: BTreeMap<&str, &Value> = operations()
        .into_iter()
        .filter_map(|(_, op)| Some((op["operationId"].as_str()?, op)))
        .collect();
    let mut creates = 0;
    for (name, op) in operations() {
        let Some(created) = op["responses"].get("201") else {
            continue;
        };
        creates += 1;
        assert!(
            created["headers"].get("Location").is_some(),
            "{name}: no Location"
        );
        let links = created["links"].as_mapping().expect("links");
        assert!(!links.is_empty(), "{name}: no links");
        for (label, link) in links {
            let target = link["operationId"].as_str().unwrap_or_default();
            let to = ids
                .get(target)
                .unwrap_or_else(|| panic!("{name}: link {label:?} to no operation"));
            let takes: BTreeSet<String> = to["parameters"]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let p = match p.get("$ref").and_then(Value::as_str) {
                        Some(r) => &openapi()["components"]["parameters"][r.rsplit('/').next()?],
                        None => p,
                    };
                    Some(p["name"].as_str()?.to_owned())
                })
                .collect();
            for (param, _) in link["parameters"].as_mapping().expect("link parameters") {
                let param = param.as_str().unwrap_or_default();
                assert!(takes.contains(param), "{name}: {target} takes no {param}");
            }
        }
    }
    assert_eq!(
        creates, 8,
        "the six creates, a webhook endpoint's and a service request's"
    );
}

#[test]
fn lists_are_paged_and_pages_sign_in_themselves() {
    for (name, op) in operations() {
        let schema = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap_or_default();
        let schema = &openapi()["components"]["schemas"][schema.rsplit('/').next().unwrap_or("")];
        if schema["properties"].get("next_cursor").is_some() {
            let params = serde_yaml::to_string(&op["parameters"]).expect("yaml");
            for p in ["parameters/Limit", "parameters/Cursor"] {
                assert!(params.contains(p), "{name}: a list without {p}");
            }
        }
        if is_page(op) {
            assert_eq!(
                op["security"],
                Value::Sequence(vec![]),
                "{name}: a page signs in itself"
            );
        }
    }
    let schemes = &openapi()["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"].as_str(), Some("bearer"));
    assert_eq!(schemes["oidc"]["type"].as_str(), Some("openIdConnect"));
}
