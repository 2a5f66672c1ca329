//! The functions' route tables are the API: openapi.yaml, the deployed routes in template.yaml
//! and the local router in Cargo.toml are checked against them, route by route.

use serde_json::Value;
use std::collections::BTreeSet;

pub(crate) fn read(name: &str) -> String {
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

/// A route table's rows: (function, `METHOD /path`, public).
fn rows<A>(
    function: &'static str,
    routes: &[vls_http::Route<A>],
) -> Vec<(&'static str, String, bool)> {
    routes
        .iter()
        .map(|r| {
            let public = r.access == vls_http::Access::Public;
            (function, format!("{} {}", r.method, r.template), public)
        })
        .collect()
}

/// Every route a function of the JSON API serves, from its route table.
fn route_tables() -> Vec<(&'static str, String, bool)> {
    [
        rows("order-intake", order_intake::ROUTES),
        rows("activation", activation::ROUTES),
        rows("reservations", reservations::ROUTES),
        rows("remap", remap::ROUTES),
        rows("cancellation", cancellation::ROUTES),
        rows("webhooks", webhooks::ROUTES),
    ]
    .concat()
}

/// The JSON API's route tables and the customer's pages' (which `openapi.yaml` does not
/// describe: they answer HTML to a browser, not JSON to a program).
fn all_route_tables() -> Vec<(&'static str, String, bool)> {
    [route_tables(), rows("portal", portal::ROUTES)].concat()
}

/// The function a template resource deploys: `OrderIntakeFunction` → `order-intake`.
fn function_of(resource: &str) -> String {
    let name = resource.strip_suffix("Function").unwrap_or(resource);
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// (function, `METHOD /path`, has a gateway authorizer) for every route of template.yaml: each
/// a route resource whose integration names its function (and, were there any, the functions'
/// HttpApi events, which the route table test then finds declared the other way).
fn template_routes() -> BTreeSet<(String, String, bool)> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&read("template.yaml")).expect("template.yaml parses");
    let mut routes = BTreeSet::new();
    for (name, resource) in doc["Resources"].as_mapping().expect("resources") {
        let name = name.as_str().unwrap_or_default();
        let p = &resource["Properties"];
        if resource["Type"].as_str() == Some("AWS::ApiGatewayV2::Route") {
            let target = format!("{:?}", p["Target"]);
            let integration = target.split("${").nth(1).unwrap_or_default();
            let function = integration.split("Integration").next().unwrap_or_default();
            routes.insert((
                function_of(function),
                p["RouteKey"].as_str().unwrap_or_default().to_owned(),
                p["AuthorizationType"].as_str() == Some("JWT"),
            ));
        }
        for (_, event) in p["Events"].as_mapping().into_iter().flatten() {
            if event["Type"].as_str() == Some("HttpApi") {
                let e = &event["Properties"];
                let method = e["Method"].as_str().unwrap_or_default();
                let path = e["Path"].as_str().unwrap_or_default();
                let authorizer = e["Auth"]["Authorizer"].as_str() != Some("NONE");
                routes.insert((function_of(name), format!("{method} {path}"), authorizer));
            }
        }
    }
    routes
}

/// (path, function) for every path `cargo lambda watch` routes locally (Cargo.toml's router).
fn local_router() -> BTreeSet<(String, String)> {
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
        .filter_map(|l| {
            let (path, function) = l.split_once('"')?;
            let function = function.split('"').nth(1)?;
            Some((path.to_owned(), function.to_owned()))
        })
        .collect()
}

#[test]
fn the_route_tables_are_the_contract() {
    let spec = openapi_operations();
    let served: BTreeSet<String> = route_tables().into_iter().map(|(_, op, _)| op).collect();
    let not_served: Vec<_> = spec.difference(&served).collect();
    let not_in_spec: Vec<_> = served.difference(&spec).collect();
    assert!(
        not_served.is_empty(),
        "in openapi.yaml, in no table: {not_served:?}"
    );
    assert!(
        not_in_spec.is_empty(),
        "served, not in openapi.yaml: {not_in_spec:?}"
    );
    assert_eq!(
        spec.len(),
        55,
        "the 33 operations of SPEC §4, §6.4's two, §6.5's twelve, the partner's trail and \
         §7.2's seven service-request routes"
    );
    assert_eq!(route_tables().len(), 55, "each operation served once");
}

/// Deployed, each route goes to the function whose table has it, and a public route (a page
/// that signs the person in itself) has no gateway authorizer.
#[test]
fn the_template_deploys_each_route_to_its_function() {
    let deployed: BTreeSet<(String, String)> = template_routes()
        .into_iter()
        .map(|(function, op, _)| (function, op))
        .collect();
    let tables: BTreeSet<(String, String)> = all_route_tables()
        .into_iter()
        .map(|(function, op, _)| (function.to_owned(), op))
        .collect();
    assert_eq!(deployed, tables, "template.yaml and the route tables");
    let public: BTreeSet<String> = all_route_tables()
        .into_iter()
        .filter_map(|(_, op, public)| public.then_some(op))
        .collect();
    let pages = portal::ROUTES.len();
    assert!(
        portal::ROUTES
            .iter()
            .all(|r| r.access == vls_http::Access::Public)
    );
    assert_eq!(
        public.len(),
        4 + pages,
        "the link page, its sign-in, confirmation and callback, and the customer's pages"
    );
    for (function, op, authorizer) in template_routes() {
        assert!(
            !(public.contains(&op) && authorizer),
            "{function}: {op} is public but has an authorizer"
        );
    }
}

#[test]
fn the_local_router_sends_each_path_to_its_function() {
    let tables: BTreeSet<(String, String)> = all_route_tables()
        .into_iter()
        .filter_map(|(function, op, _)| {
            let (_, path) = op.split_once(' ')?;
            Some((path.to_owned(), function.to_owned()))
        })
        .collect();
    assert_eq!(
        local_router(),
        tables,
        "Cargo.toml's router and the route tables"
    );
}

/// template.yaml as CloudFormation, translated offline by aws-sam-translator (.venv).
pub(crate) fn translated() -> serde_json::Value {
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
    let pool_issuer = serde_json::json!({
        "Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"
    });
    let authorizers: Vec<_> = of_type(r, "AWS::ApiGatewayV2::Authorizer").collect();
    assert_eq!(authorizers.len(), 1, "one authorizer for every route");
    let authorizer = &authorizers[0].1["Properties"]["JwtConfiguration"];
    assert_eq!(authorizer["Issuer"]["Fn::If"][0], "CreateUserPool");
    assert_eq!(authorizer["Issuer"]["Fn::If"][1], pool_issuer);
    assert_eq!(authorizer["Audience"][0]["Fn::If"][1]["Ref"], "ApiClient");
    let env = &r["ActivationFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        env["OIDC_ISSUER"], authorizer["Issuer"],
        "the sign-in trusts the same pool"
    );
    assert_eq!(env["OIDC_CLIENT_ID"]["Fn::If"][1]["Ref"], "SignInClient");
    assert_eq!(env["JWT_AUDIENCE"]["Fn::If"][1]["Ref"], "ApiClient");
    assert_eq!(env["VLS_COOKIE_KEY_SECRET_ARN"]["Ref"], "CookieKeySecret");
    assert!(
        reads_secret(&r[role_of(r, "ActivationFunction")], "CookieKeySecret"),
        "the pages may read their cookie key"
    );
    // Both sets of pages sign in with the one client: the activation pages' callback and
    // the customer's pages' (SPEC §7.1 1), with a public base URL or the API's own.
    let urls = r["SignInClient"]["Properties"]["CallbackURLs"].clone();
    assert_eq!(urls.as_array().map(Vec::len), Some(2), "{urls}");
    for (i, path) in ["/sign-in/callback", "/portal/sign-in/callback"]
        .iter()
        .enumerate()
    {
        let callback = &urls[i]["Fn::If"];
        assert_eq!(callback[0], "HasPublicBaseUrl");
        assert_eq!(callback[1]["Fn::Sub"], format!("${{PublicBaseUrl}}{path}"));
        let own = format!("https://${{Api}}.execute-api.${{AWS::Region}}.amazonaws.com{path}");
        assert_eq!(callback[2]["Fn::Sub"], own);
    }
    let portal = &r["PortalFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        portal["OIDC_ISSUER"], authorizer["Issuer"],
        "the portal trusts it too"
    );
    assert_eq!(portal["OIDC_CLIENT_ID"]["Fn::If"][1]["Ref"], "SignInClient");
    assert_eq!(
        portal["VLS_COOKIE_KEY_SECRET_ARN"]["Ref"],
        "CookieKeySecret"
    );
    let pool = &r["UserPool"]["Properties"];
    assert_eq!(
        pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"],
        true
    );
    let update = &pool["UserAttributeUpdateSettings"]["AttributesRequireVerificationBeforeUpdate"];
    assert_eq!(
        update,
        &serde_json::json!(["email"]),
        "an email is verified before it changes"
    );
    for client in ["ApiClient", "SignInClient"] {
        let c = &r[client]["Properties"];
        let writes = &c["WriteAttributes"];
        assert!(
            writes.as_array().is_some_and(|w| w.iter().all(|a| {
                let a = a.as_str().unwrap_or_default();
                a != "email" && !a.starts_with("custom:")
            })),
            "{client} writes {writes}"
        );
        assert_eq!(c["PreventUserExistenceErrors"], "ENABLED", "{client}");
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

/// Whether the role `role` (translated resources `r`) allows `action` on the resource whose
/// ARN is `!GetAtt <target>.Arn`, in any statement (SAM writes `Action` as a string or a list).
fn role_may(r: &Value, role: &str, action: &str, target: &str) -> bool {
    statements(&r[role]).any(|s| {
        let names = |r: &Value| r["Fn::GetAtt"][0] == target;
        let on = match &s["Resource"] {
            Value::Array(rs) => rs.iter().any(names),
            r => names(r),
        };
        actions(s).iter().any(|a| a == action) && on
    })
}

/// The role a function runs with (`Role: !GetAtt <role>.Arn`).
fn role_of<'a>(r: &'a Value, function: &str) -> &'a str {
    r[function]["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .expect("a role of the stack")
}

/// A queue that feeds `function` hides a message in work for at least six times the
/// function's timeout, as Lambda advises for an SQS event source.
fn hides_for_six_timeouts(r: &Value, queue: &str, function: &str) {
    let timeout = r[function]["Properties"]["Timeout"]
        .as_u64()
        .expect("timeout");
    let hidden = r[queue]["Properties"]["VisibilityTimeout"]
        .as_u64()
        .expect("visibility");
    assert!(
        hidden >= 6 * timeout,
        "{queue}: {hidden} s < 6 × {timeout} s"
    );
}

/// The mailer's stream reports the records it could not process (the function answers
/// `batchItemFailures`), splits a failing batch, ages records out after an hour into a
/// failure queue it may write to.
#[test]
fn the_mail_stream_reports_failures_and_lands_what_it_gives_up() {
    let cfn = translated();
    let r = &cfn["Resources"];
    let mapping = &r["ActivationMailerFunctionNewMailIntents"]["Properties"];
    assert_eq!(
        mapping["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
    assert_eq!(mapping["BisectBatchOnFunctionError"], true);
    assert!(
        mapping["MaximumRecordAgeInSeconds"]
            .as_u64()
            .is_some_and(|s| s <= 3600)
    );
    let destination = &mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"];
    assert_eq!(destination[0], "MailStreamFailures");
    assert_eq!(r["MailStreamFailures"]["Type"], "AWS::SQS::Queue");
    assert!(role_may(
        r,
        role_of(r, "ActivationMailerFunction"),
        "sqs:SendMessage",
        "MailStreamFailures"
    ));
}

/// Every route is declared one way: route resources on an API without a definition body. An
/// API whose body CloudFormation re-imports drops the routes the body does not hold (SAM calls
/// the mix unsupported), so a function's HttpApi event beside a route resource is refused.
#[test]
fn every_route_is_a_route_resource_and_none_is_in_a_definition() {
    let cfn = translated();
    let r = &cfn["Resources"];
    let apis: Vec<_> = of_type(r, "AWS::ApiGatewayV2::Api").collect();
    assert_eq!(apis.len(), 1);
    for key in ["Body", "BodyS3Location"] {
        assert!(
            apis[0].1["Properties"].get(key).is_none(),
            "the API has a {key}: routes are then declared two ways"
        );
    }
    let source: serde_yaml::Value =
        serde_yaml::from_str(&read("template.yaml")).expect("template.yaml parses");
    for (name, resource) in source["Resources"].as_mapping().expect("resources") {
        assert_ne!(
            resource["Type"].as_str(),
            Some("AWS::Serverless::HttpApi"),
            "{name:?}: a SAM HttpApi generates a definition"
        );
        for (event, e) in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            assert_ne!(
                e["Type"].as_str(),
                Some("HttpApi"),
                "{name:?}.{event:?}: an HttpApi event goes into a generated definition"
            );
        }
    }
    assert!(of_type(r, "AWS::ApiGatewayV2::Route").count() >= 28);
}

/// The stage throttles every route, and each public page (no authorizer: `/activate/*`,
/// `/sign-in/*`, and the customer's sign-in pages) more tightly than the rest, so a flood of
/// link pages is refused at the gateway instead of using up the account's Lambda concurrency;
/// the customer's signed-in pages (no authorizer either: their session is checked by the
/// portal) have limits of their own.
#[test]
fn every_route_is_throttled_and_the_public_pages_tightly() {
    let cfn = translated();
    let r = &cfn["Resources"];
    let stages: Vec<_> = of_type(r, "AWS::ApiGatewayV2::Stage").collect();
    assert_eq!(stages.len(), 1);
    let stage = &stages[0].1["Properties"];
    let default = &stage["DefaultRouteSettings"];
    assert_eq!(default["ThrottlingRateLimit"]["Ref"], "ApiRateLimit");
    assert_eq!(default["ThrottlingBurstLimit"]["Ref"], "ApiBurstLimit");
    let (mut public, mut pages) = (0, 0);
    for (name, route) in of_type(r, "AWS::ApiGatewayV2::Route") {
        let p = &route["Properties"];
        let key = p["RouteKey"].as_str().unwrap_or_default();
        let path = key.split(' ').nth(1).unwrap_or_default();
        let open = p["AuthorizationType"] == "NONE" || p.get("AuthorizationType").is_none();
        let signing_in = path.starts_with("/activate/")
            || path.starts_with("/sign-in/")
            || path.starts_with("/portal/sign-in");
        let portal = path == "/portal" || path.starts_with("/portal/");
        assert_eq!(
            open,
            signing_in || portal,
            "{name}: only the pages a link or a session opens go without a token"
        );
        if !open {
            continue;
        }
        let limits = if signing_in {
            "PublicRoute"
        } else {
            "PortalRoute"
        };
        let s = &stage["RouteSettings"][key];
        let rate = format!("{limits}RateLimit");
        let burst = format!("{limits}BurstLimit");
        assert_eq!(s["ThrottlingRateLimit"]["Ref"], rate.as_str(), "{key}");
        assert_eq!(s["ThrottlingBurstLimit"]["Ref"], burst.as_str(), "{key}");
        if signing_in {
            public += 1;
        } else {
            pages += 1;
        }
    }
    assert_eq!(
        public, 8,
        "the five public pages and the customer's three sign-in pages"
    );
    assert_eq!(
        pages + 3,
        portal::ROUTES.len(),
        "the customer's signed-in pages"
    );
    let params = &cfn["Parameters"];
    let default_of = |p: &str| params[p]["Default"].as_u64().unwrap_or(u64::MAX);
    assert!(default_of("PublicRouteRateLimit") < default_of("PortalRouteRateLimit"));
    assert!(default_of("PortalRouteRateLimit") < default_of("ApiRateLimit"));
}

/// A role's inline policy statements.
fn statements(role: &Value) -> impl Iterator<Item = &Value> {
    role["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_array()
                .into_iter()
                .flatten()
        })
}

/// A statement's actions (a string or a list).
fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// No role reaches the account's queues, streams or tables at large: no statement allows an
/// SQS or DynamoDB action on `*`, and no role has the managed policies for event sources
/// (`AWSLambdaSQSQueueExecutionRole`, `AWSLambdaDynamoDBExecutionRole`), whose resource is `*`.
#[test]
fn no_role_reaches_every_queue_stream_or_table() {
    let cfn = translated();
    let r = &cfn["Resources"];
    for (name, role) in of_type(r, "AWS::IAM::Role") {
        for managed in role["Properties"]["ManagedPolicyArns"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let arn = managed.as_str().unwrap_or_default();
            assert!(
                !arn.ends_with("/AWSLambdaSQSQueueExecutionRole")
                    && !arn.ends_with("/AWSLambdaDynamoDBExecutionRole"),
                "{name} has {arn}, which reads every queue or stream of the account"
            );
        }
        for s in statements(role).filter(|s| s["Effect"] == "Allow") {
            let scoped = actions(s)
                .iter()
                .filter(|a| a.starts_with("sqs:") || a.starts_with("dynamodb:"))
                .count();
            let everywhere = match &s["Resource"] {
                Value::String(r) => r == "*",
                Value::Array(rs) => rs.iter().any(|r| r == "*"),
                _ => false,
            };
            assert!(
                scoped == 0 || !everywhere,
                "{name}: {} on every resource of the account",
                s["Action"]
            );
        }
    }
}

/// Lambda keeps 10 executions of an account unreserved and a new account's quota may be 10:
/// any reserved concurrency would fail the default deploy there, so no function reserves any
/// (the queues' `MaximumConcurrency` bounds their consumers without reserving).
#[test]
fn no_function_reserves_concurrency() {
    let cfn = translated();
    for (name, f) in of_type(&cfn["Resources"], "AWS::Lambda::Function") {
        assert!(
            f["Properties"]
                .get("ReservedConcurrentExecutions")
                .is_none(),
            "{name} reserves concurrency, which a quota-10 account cannot give"
        );
    }
}

/// The true-up's fan-out: the scheduled run may send to the work queue and is told its URL;
/// the workers read it with partial-batch answers and a bounded concurrency; the queue hides
/// a message in work for longer than a worker may take (six times, as Lambda advises) and
/// moves one that failed three times to a dead-letter queue.
#[test]
fn the_true_up_fans_out_through_a_queue_with_a_dead_letter_queue() {
    let cfn = translated();
    let r = &cfn["Resources"];
    let run = &r["TrueUpFunction"]["Properties"];
    assert_eq!(
        run["Environment"]["Variables"]["TRUE_UP_QUEUE_URL"]["Ref"],
        "TrueUpQueue"
    );
    assert!(role_may(
        r,
        role_of(r, "TrueUpFunction"),
        "sqs:SendMessage",
        "TrueUpQueue"
    ));
    let mapping = &r["TrueUpWorkerFunctionDueAgreements"]["Properties"];
    assert_eq!(mapping["EventSourceArn"]["Fn::GetAtt"][0], "TrueUpQueue");
    assert_eq!(
        mapping["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
    assert_eq!(
        mapping["ScalingConfig"]["MaximumConcurrency"]["Ref"],
        "TrueUpConcurrency"
    );
    hides_for_six_timeouts(r, "TrueUpQueue", "TrueUpWorkerFunction");
    let queue = &r["TrueUpQueue"]["Properties"];
    assert_eq!(queue["RedrivePolicy"]["maxReceiveCount"], 3);
    assert_eq!(
        queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0],
        "TrueUpDeadLetters"
    );
    assert_eq!(r["TrueUpDeadLetters"]["Type"], "AWS::SQS::Queue");
}

/// The mailer is told where to ask for wake-ups, may send there, and is fed by that queue; the
/// queue hides a message in work for six times the mailer's timeout.
#[test]
fn the_mailer_is_woken_through_its_queue() {
    let cfn = translated();
    let r = &cfn["Resources"];
    let mailer = &r["ActivationMailerFunction"]["Properties"];
    assert_eq!(
        mailer["Environment"]["Variables"]["MAIL_WAKEUP_QUEUE_URL"]["Ref"],
        "MailWakeups"
    );
    assert!(role_may(
        r,
        role_of(r, "ActivationMailerFunction"),
        "sqs:SendMessage",
        "MailWakeups"
    ));
    let mapping = &r["ActivationMailerFunctionWakeups"]["Properties"];
    assert_eq!(mapping["EventSourceArn"]["Fn::GetAtt"][0], "MailWakeups");
    assert_eq!(
        mapping["ScalingConfig"]["MaximumConcurrency"]["Ref"], "MailerConcurrency",
        "no more wake-up invocations than mailers may run"
    );
    hides_for_six_timeouts(r, "MailWakeups", "ActivationMailerFunction");
}

/// Every function that serves a paged list seals its cursors with the stack's secret: a
/// function without it could not hand out a cursor, and one with a key of its own would
/// refuse the others' cursors.
#[test]
fn the_list_functions_seal_cursors_with_the_stack_secret() {
    let cfn = translated();
    let r = cfn["Resources"].as_object().expect("resources");
    let listing: BTreeSet<&str> = route_tables()
        .into_iter()
        .filter(|(_, route, _)| {
            route.starts_with("GET ")
                && ["/events", "/orders", "/reservations"]
                    .iter()
                    .any(|tail| route.ends_with(tail))
        })
        .map(|(function, _, _)| function)
        .collect();
    assert_eq!(
        listing,
        BTreeSet::from(["order-intake", "reservations", "webhooks"])
    );
    for function in listing {
        let (_, resource) = r
            .iter()
            .find(|(name, res)| {
                res["Type"] == "AWS::Lambda::Function" && function_of(name) == function
            })
            .unwrap_or_else(|| panic!("{function} in the template"));
        let env = &resource["Properties"]["Environment"]["Variables"];
        assert_eq!(
            env["VLS_CURSOR_KEY_SECRET_ARN"]["Ref"], "CursorKeySecret",
            "{function}"
        );
        let role = role_of(&cfn["Resources"], name_of(r, resource));
        assert!(
            reads_secret(&cfn["Resources"][role], "CursorKeySecret"),
            "{function} may read the cursor key"
        );
    }
}

/// The logical id of a resource of `r`.
fn name_of<'a>(r: &'a serde_json::Map<String, Value>, resource: &Value) -> &'a str {
    r.iter()
        .find(|(_, v)| *v == resource)
        .map(|(k, _)| k.as_str())
        .expect("a resource of the template")
}

/// Whether a role may read the secret `!Ref <secret>`: GetSecretValue on it, and
/// BatchGetSecretValue (which has no resource-level permissions).
fn reads_secret(role: &Value, secret: &str) -> bool {
    let on = |s: &Value| match &s["Resource"] {
        Value::Array(rs) => rs.iter().any(|r| r["Ref"] == secret),
        r => r["Ref"] == secret,
    };
    let may = |action: &str| {
        statements(role).any(|s| s["Effect"] == "Allow" && actions(s).iter().any(|a| a == action))
    };
    statements(role).any(|s| {
        s["Effect"] == "Allow"
            && actions(s)
                .iter()
                .any(|a| a == "secretsmanager:GetSecretValue")
            && on(s)
    }) && may("secretsmanager:BatchGetSecretValue")
}

/// Nothing secret in any function's configuration: a `{{resolve:…}}` there is resolved at
/// deploy time and stored where `lambda:GetFunctionConfiguration` reads it. Secrets are
/// named by ARN and fetched at cold start.
#[test]
fn no_function_configuration_holds_a_secret() {
    let cfn = translated();
    for (name, f) in of_type(&cfn["Resources"], "AWS::Lambda::Function") {
        let env = serde_json::to_string(&f["Properties"]["Environment"]).expect("JSON");
        assert!(
            !env.contains("{{resolve:"),
            "{name} has a secret in its configuration: {env}"
        );
    }
}

/// The resources of one type, by logical id.
pub(crate) fn of_type<'a>(
    r: &'a Value,
    t: &'static str,
) -> impl Iterator<Item = (&'a str, &'a Value)> {
    r.as_object()
        .into_iter()
        .flatten()
        .filter(move |(_, v)| v["Type"] == t)
        .map(|(k, v)| (k.as_str(), v))
}

/// Failures land somewhere and logs do not live for ever: every function writes to a log group
/// of its own with the stack's retention; every function a schedule invokes (asynchronously)
/// sends a failed run to a queue it may write to; every schedule hands its function its
/// scheduled time, retries, and keeps what it could not hand over; the table cannot be
/// deleted by accident and can be restored to a point in time.
#[test]
fn failures_land_somewhere_and_logs_are_kept_for_a_while() {
    let cfn = translated();
    let r = &cfn["Resources"];
    let of_type = |t: &'static str| of_type(r, t);
    let functions: Vec<_> = of_type("AWS::Lambda::Function").collect();
    assert_eq!(functions.len(), 12, "every function");
    for (name, f) in &functions {
        let group = f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no log group of its own"));
        assert_eq!(r[group]["Type"], "AWS::Logs::LogGroup", "{name}");
        assert_eq!(
            r[group]["Properties"]["RetentionInDays"]["Ref"], "LogRetentionDays",
            "{name}: {group} keeps logs for the stack's retention"
        );
    }
    let schedules: Vec<_> = of_type("AWS::Scheduler::Schedule").collect();
    assert_eq!(
        schedules.len(),
        4,
        "the mail, event and delivery sweeps, and the daily true-up"
    );
    for (name, s) in schedules {
        // Schedule names are unique in an account and region: two stacks must not collide.
        assert!(s["Properties"]["Name"].is_null(), "{name}: a fixed name");
        let target = &s["Properties"]["Target"];
        let input: Value =
            serde_json::from_str(target["Input"].as_str().unwrap_or_default()).expect("input");
        assert_eq!(
            input,
            serde_json::json!({"time": "<aws.scheduler.scheduled-time>"}),
            "{name}"
        );
        assert!(
            target["RetryPolicy"]["MaximumRetryAttempts"].is_u64(),
            "{name}"
        );
        let dead = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no dead-letter queue"));
        assert_eq!(r[dead]["Type"], "AWS::SQS::Queue", "{name}");
        let role = target["RoleArn"]["Fn::GetAtt"][0].as_str().expect("role");
        assert!(
            role_may(r, role, "sqs:SendMessage", dead),
            "{name}: {role} → {dead}"
        );
        // The function it invokes (asynchronously) sends a failed run somewhere.
        let function = target["Arn"]["Fn::GetAtt"][0].as_str().expect("function");
        let config = of_type("AWS::Lambda::EventInvokeConfig")
            .find(|(_, c)| c["Properties"]["FunctionName"]["Ref"] == function)
            .map(|(_, c)| c)
            .unwrap_or_else(|| panic!("{function}: no EventInvokeConfig"));
        let failed =
            config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{function}: no failure destination"));
        assert_eq!(r[failed]["Type"], "AWS::SQS::Queue", "{function}");
        let function_role = r[function]["Properties"]["Role"]["Fn::GetAtt"][0]
            .as_str()
            .expect("function role");
        assert!(
            role_may(r, function_role, "sqs:SendMessage", failed),
            "{function} may send to {failed}"
        );
    }
    let table = &r["Table"]["Properties"];
    assert_eq!(table["DeletionProtectionEnabled"], true);
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
}

/// Every function is traced by X-Ray and may write its traces.
#[test]
fn every_function_is_traced() {
    let cfn = translated();
    let r = &cfn["Resources"];
    let functions: Vec<_> = of_type(r, "AWS::Lambda::Function").collect();
    assert_eq!(functions.len(), 12);
    for (name, f) in functions {
        assert_eq!(f["Properties"]["TracingConfig"]["Mode"], "Active", "{name}");
        let role = role_of(r, name);
        let managed = &r[role]["Properties"]["ManagedPolicyArns"];
        let own = statements(&r[role]).any(|s| {
            s["Effect"] == "Allow" && actions(s).iter().any(|a| a == "xray:PutTraceSegments")
        });
        assert!(
            own || managed.as_array().into_iter().flatten().any(|p| p
                .as_str()
                .is_some_and(|p| p.ends_with("/AWSXrayWriteOnlyAccess"))),
            "{name}: {managed}"
        );
    }
}

/// What the template deploys is what `make release-check` and `make release-check-arm64` build:
/// every function is arm64 (`Architectures`) built by cargo-lambda, and the binaries the
/// template names are exactly the workspace's function binaries (the release checks build the
/// workspace and check each named `bootstrap`).
#[test]
fn the_template_deploys_the_workspace_s_binaries_on_arm64() {
    let cfn = translated();
    let mut named = BTreeSet::new();
    for (name, f) in of_type(&cfn["Resources"], "AWS::Lambda::Function") {
        assert_eq!(
            f["Properties"]["Architectures"],
            serde_json::json!(["arm64"]),
            "{name}"
        );
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        let binary = f["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("binary");
        named.insert(binary.to_owned());
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut built = BTreeSet::new();
    for crate_dir in std::fs::read_dir(&root).expect("functions/") {
        let manifest = crate_dir.expect("entry").path().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("Cargo.toml");
        // Each `[[bin]]` table's `name = "…"`.
        for table in text.split("[[bin]]").skip(1) {
            let name = table
                .lines()
                .find_map(|l| l.trim().strip_prefix("name = \""))
                .and_then(|l| l.strip_suffix('"'))
                .expect("a [[bin]] with a name");
            built.insert(name.to_owned());
        }
    }
    assert_eq!(named, built, "the template's binaries are the workspace's");
    let check = read("scripts/release-check.sh");
    assert!(check.contains("check_binaries.py --arch x86_64"));
    let arm = read("scripts/release-check-arm64.sh");
    assert!(arm.contains("--arm64") && arm.contains("check_binaries.py --arch aarch64"));
}
