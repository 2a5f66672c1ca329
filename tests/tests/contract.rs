//! The contract in openapi.yaml, the deployed routes in template.yaml and the local router in
//! Cargo.toml describe the same API: a route in one and not in another fails here.

use std::collections::BTreeSet;

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../{name}", env!("CARGO_MANIFEST_DIR"))).expect(name)
}

/// `METHOD /path` for every operation of openapi.yaml.
fn openapi_operations() -> BTreeSet<String> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&read("openapi.yaml")).expect("openapi.yaml parses");
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        for (method, _) in item.as_mapping().expect("path item") {
            let m = method.as_str().unwrap_or_default();
            if ["get", "put", "post", "delete", "patch"].contains(&m) {
                ops.insert(format!(
                    "{} {}",
                    m.to_uppercase(),
                    path.as_str().unwrap_or_default()
                ));
            }
        }
    }
    ops
}

/// `METHOD /path` for every HttpApi event of every function in template.yaml.
fn template_routes() -> BTreeSet<String> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&read("template.yaml")).expect("template.yaml parses");
    let mut routes = BTreeSet::new();
    for (_, resource) in doc["Resources"].as_mapping().expect("resources") {
        for (_, event) in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if event["Type"].as_str() == Some("HttpApi") {
                let p = &event["Properties"];
                routes.insert(format!(
                    "{} {}",
                    p["Method"].as_str().unwrap_or_default(),
                    p["Path"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    routes
}

/// The paths `cargo lambda watch` routes locally (Cargo.toml's router table).
fn local_router_paths() -> BTreeSet<String> {
    let cargo = read("Cargo.toml");
    let section = cargo
        .split("[workspace.metadata.lambda.watch.router]")
        .nth(1)
        .expect("router table")
        .split("\n[")
        .next()
        .unwrap_or_default()
        .to_owned();
    section
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"'))
        .filter_map(|l| l.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn openapi_and_the_deployed_routes_agree() {
    let spec = openapi_operations();
    let deployed = template_routes();
    let missing_in_spec: Vec<_> = deployed.difference(&spec).collect();
    let missing_in_template: Vec<_> = spec.difference(&deployed).collect();
    assert!(
        missing_in_spec.is_empty(),
        "routed but not in openapi.yaml: {missing_in_spec:?}"
    );
    assert!(
        missing_in_template.is_empty(),
        "in openapi.yaml but not routed: {missing_in_template:?}"
    );
    assert_eq!(spec.len(), 28, "the 28 operations of SPEC §4");
}

#[test]
fn openapi_and_the_local_router_agree() {
    let spec: BTreeSet<String> = openapi_operations()
        .into_iter()
        .filter_map(|op| op.split_once(' ').map(|(_, p)| p.to_owned()))
        .collect();
    let local = local_router_paths();
    assert_eq!(
        local, spec,
        "Cargo.toml's router and openapi.yaml list different paths"
    );
}
