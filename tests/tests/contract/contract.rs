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

/// `METHOD /path` for every HttpApi event of every function in template.yaml, and every route
/// declared on its own (the activation function's).
fn template_routes() -> BTreeSet<String> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&read("template.yaml")).expect("template.yaml parses");
    let mut routes = BTreeSet::new();
    for (_, resource) in doc["Resources"].as_mapping().expect("resources") {
        if resource["Type"].as_str() == Some("AWS::ApiGatewayV2::Route") {
            routes.insert(
                resource["Properties"]["RouteKey"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
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

/// template.yaml as CloudFormation, translated offline by aws-sam-translator (.venv).
fn translated() -> serde_json::Value {
    let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("vls-{}.cfn.json", ulid::Ulid::generate()));
    let status = std::process::Command::new(format!("{root}/.venv/bin/python"))
        .current_dir(&root)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .args(["scripts/sam_translate.py", "template.yaml"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("the pinned translator in .venv (make venv)");
    assert!(status.success(), "template.yaml translates");
    let text = std::fs::read_to_string(&out).expect("translated template");
    let _ = std::fs::remove_file(&out);
    serde_json::from_str(&text).expect("JSON")
}

/// Every resource a value refers to (`Ref`, `Fn::GetAtt`, `${…}` in `Fn::Sub`).
fn references(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("Ref", serde_json::Value::String(r)) => {
                        out.insert(r.clone());
                    }
                    ("Fn::GetAtt", serde_json::Value::Array(a)) => {
                        if let Some(r) = a.first().and_then(|r| r.as_str()) {
                            out.insert(r.to_owned());
                        }
                    }
                    ("Fn::Sub", _) => {
                        let text = x.as_str().or_else(|| x[0].as_str()).unwrap_or_default();
                        for part in text.split("${").skip(1) {
                            let name = part.split(['}', '.']).next().unwrap_or_default();
                            out.insert(name.to_owned());
                        }
                        if let Some(vars) = x.get(1) {
                            references(vars, out);
                        }
                    }
                    _ => references(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

/// The stack as deployed: when no issuer is given, the created user pool is what both the
/// API's authorizer and the activation sign-in trust; the sign-in client's callback is the
/// activation pages'; nobody signs themselves up, no app client writes the role or account;
/// the cookie key is a generated secret; and no resource depends on itself.
#[test]
fn the_identity_provider_is_wired_without_a_cycle() {
    let cfn = translated();
    let r = &cfn["Resources"];
    let pool_issuer = serde_json::json!({"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"});
    let authorizer = &r["Api"]["Properties"]["Body"]["components"]["securitySchemes"]["Jwt"]["x-amazon-apigateway-authorizer"]
        ["jwtConfiguration"];
    assert_eq!(authorizer["issuer"]["Fn::If"][0], "CreateUserPool");
    assert_eq!(authorizer["issuer"]["Fn::If"][1], pool_issuer);
    assert_eq!(authorizer["audience"][0]["Fn::If"][1]["Ref"], "ApiClient");
    let own = &r["ActivationJwt"]["Properties"]["JwtConfiguration"];
    assert_eq!(
        own["Issuer"], authorizer["issuer"],
        "one issuer for every route"
    );
    let env = &r["ActivationFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        env["OIDC_ISSUER"], authorizer["issuer"],
        "the sign-in trusts the same pool"
    );
    assert_eq!(env["OIDC_CLIENT_ID"]["Fn::If"][1]["Ref"], "SignInClient");
    assert_eq!(env["JWT_AUDIENCE"]["Fn::If"][1]["Ref"], "ApiClient");
    assert!(
        env["VLS_COOKIE_KEY"]["Fn::Sub"]
            .as_str()
            .is_some_and(|s| s.contains("resolve:secretsmanager:${CookieKeySecret}")),
        "{}",
        env["VLS_COOKIE_KEY"]
    );
    let callback = r["SignInClient"]["Properties"]["CallbackURLs"][0]["Fn::If"].clone();
    for url in [&callback[1]["Fn::Sub"], &callback[2]["Fn::Sub"]] {
        assert!(
            url.as_str()
                .is_some_and(|u| u.ends_with("/sign-in/callback")),
            "{url}"
        );
    }
    assert!(
        callback[2]["Fn::Sub"]
            .as_str()
            .is_some_and(|u| u.contains("${Api}"))
    );
    let pool = &r["UserPool"]["Properties"];
    assert_eq!(
        pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"],
        true
    );
    for client in ["ApiClient", "SignInClient"] {
        let writes = &r[client]["Properties"]["WriteAttributes"];
        assert!(
            writes.as_array().is_some_and(|w| w
                .iter()
                .all(|a| !a.as_str().unwrap_or_default().starts_with("custom:"))),
            "{client} writes {writes}"
        );
    }
    // No cycle: a depth-first walk over the references finds no way back.
    let names: BTreeSet<String> = r.as_object().expect("resources").keys().cloned().collect();
    let edges: std::collections::BTreeMap<String, BTreeSet<String>> = names
        .iter()
        .map(|n| {
            let mut refs = BTreeSet::new();
            references(&r[n], &mut refs);
            match &r[n]["DependsOn"] {
                serde_json::Value::String(d) => {
                    refs.insert(d.clone());
                }
                serde_json::Value::Array(ds) => {
                    refs.extend(ds.iter().filter_map(|d| d.as_str().map(str::to_owned)));
                }
                _ => {}
            }
            (n.clone(), refs.intersection(&names).cloned().collect())
        })
        .collect();
    fn walk(
        n: &str,
        edges: &std::collections::BTreeMap<String, BTreeSet<String>>,
        state: &mut std::collections::BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) {
        match state.get(n) {
            Some(2) => return,
            Some(1) => panic!("dependency cycle: {path:?} -> {n}"),
            _ => {}
        }
        state.insert(n.to_owned(), 1);
        path.push(n.to_owned());
        for m in &edges[n] {
            walk(m, edges, state, path);
        }
        path.pop();
        state.insert(n.to_owned(), 2);
    }
    let mut state = std::collections::BTreeMap::new();
    for n in &names {
        walk(n, &edges, &mut state, &mut Vec::new());
    }
}
