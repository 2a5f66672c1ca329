//! `make bench`: what a cold start and a warm instance of each function cost, beside a
//! hello-world lambda_http function built with the same profile, measured in the same run.
//!
//! - sizes of the release binaries (`cargo lambda build --release`) and their zips;
//! - init: process start → the runtime's first `GET /2018-06-01/runtime/invocation/next`
//!   against the minimal Runtime API below, median of 20, production environment (clients
//!   built before the first poll, as `main` does);
//! - RSS after 1,000 invocations, each doing real work against the local emulator;
//! - DynamoDB requests per route, as counted by the `requests_per_route` test's interceptor.
//!
//! Prints a table and writes `target/bench.json`. Figures, not assertions: the targets are
//! printed beside them.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

const INIT_RUNS: usize = 20;
const INVOCATIONS: usize = 1_000;
const BASELINE: &str = "hello-baseline";
const FUNCTIONS: [&str; 7] = [
    "order-intake",
    "activation",
    "activation-mailer",
    "reservations",
    "true-up",
    "remap",
    "cancellation",
];

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?
        .to_path_buf();
    let lambda_dir = root.join("target/lambda");
    let names: Vec<&str> = std::iter::once(BASELINE).chain(FUNCTIONS).collect();
    for name in &names {
        let bin = lambda_dir.join(name).join("bootstrap");
        if !bin.is_file() {
            return Err(format!(
                "{} is missing: run `cargo lambda build --release` first (make bench does)",
                bin.display()
            )
            .into());
        }
    }
    if secrets().len() < 3 {
        return Err(
            "VLS_BENCH_COOKIE_KEY_ARN, VLS_BENCH_CURSOR_KEY_ARN and AWS_ENDPOINT_URL \
                    (the emulator) are not set: run through make bench"
                .into(),
        );
    }
    let inits = cold_starts(&lambda_dir, &names)?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .map_err(|_| "AWS_ENDPOINT_URL (the emulator) is not set: run through make bench")?;
    let mut functions = serde_json::Map::new();
    let mut baseline = json!({});
    let mut rows = Vec::new();
    for name in &names {
        let init = median(inits.get(name).cloned().unwrap_or_default());
        let row = measure(&lambda_dir, name, init, &endpoint)?;
        let mut figures = json!({
            "binary_bytes": row.binary_bytes,
            "init_ms_p50": round3(init),
            "rss_kb": row.rss_kb,
        });
        if *name == BASELINE {
            baseline = figures;
        } else {
            figures["zip_bytes"] = json!(row.zip_bytes);
            functions.insert(name.to_string(), figures);
        }
        rows.push(row);
    }
    let operations: Value = std::fs::read_to_string(root.join("target/bench-operations.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_else(|| json!({}));
    let report = json!({ "baseline": baseline, "functions": functions, "operations": operations });
    let out = root.join("target/bench.json");
    std::fs::write(&out, serde_json::to_string_pretty(&report)? + "\n")?;
    print_report(&rows, &operations);
    println!("\nwritten: {}", out.display());
    Ok(())
}

/// Cold starts, interleaved so that drift on the machine touches every binary alike.
fn cold_starts<'a>(
    lambda_dir: &Path,
    names: &[&'a str],
) -> Result<BTreeMap<&'a str, Vec<f64>>, Failure> {
    let mut inits: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for _ in 0..INIT_RUNS {
        for name in names {
            let ms = init_ms(lambda_dir, name)?;
            inits.entry(name).or_default().push(ms);
        }
    }
    Ok(inits)
}

/// One function's sizes and its warm instance's memory and answers.
fn measure(lambda_dir: &Path, name: &str, init_ms: f64, endpoint: &str) -> Result<Row, Failure> {
    let bin = lambda_dir.join(name).join("bootstrap");
    let zip = lambda_dir.join(name).join("bootstrap.zip");
    let warm = warm_instance(lambda_dir, name, endpoint)?;
    Ok(Row {
        name: name.to_string(),
        binary_bytes: std::fs::metadata(&bin)?.len(),
        zip_bytes: std::fs::metadata(&zip).map(|m| m.len()).ok(),
        init_ms,
        rss_kb: warm.rss_kb,
        statuses: warm.statuses.clone(),
    })
}

/// One line of the table.
struct Row {
    name: String,
    binary_bytes: u64,
    zip_bytes: Option<u64>,
    init_ms: f64,
    rss_kb: u64,
    statuses: BTreeMap<String, usize>,
}

fn print_report(rows: &[Row], operations: &Value) {
    let base_init = rows
        .iter()
        .find(|r| r.name == BASELINE)
        .map(|r| r.init_ms)
        .unwrap_or(f64::NAN);
    println!(
        "\n{:<18} {:>12} {:>12} {:>9} {:>9} {:>13}   statuses of the 1,000",
        "function", "binary (B)", "zip (B)", "init p50", "× base", "RSS@1000 (kB)",
    );
    for r in rows {
        let (name, bin, init, rss) = (&r.name, r.binary_bytes, r.init_ms, r.rss_kb);
        let zip = r.zip_bytes.map_or("-".to_owned(), |z| z.to_string());
        let statuses = r
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "{name:<18} {bin:>12} {zip:>12} {:>7.2}ms {:>9.2} {rss:>13}   {statuses}",
            init,
            init / base_init,
        );
    }
    println!(
        "targets: init ≤ 2.00 × base; zip ≤ {} B (4 MB); RSS after 1,000 ≤ 12,288 kB",
        4 * 1024 * 1024
    );
    print_operations(operations);
}

/// DynamoDB requests, items read and median latency per route on the small and the large
/// fixture (written by the `requests_per_route` test), and large ÷ small.
fn print_operations(operations: &Value) {
    let (Some(small), Some(large)) = (
        operations["small"].as_object(),
        operations["large"].as_object(),
    ) else {
        println!("\n(no DynamoDB request counts: target/bench-operations.json is missing)");
        return;
    };
    println!(
        "\n{:<80} {:>9} {:>6} {:>9} {:>7} {:>8} {:>8} {:>7}",
        "route", "reads s/l", "writes", "items s/l", "pages", "ms small", "ms large", "l ÷ s"
    );
    let n = |v: &Value, f: &str| v[f].as_u64().unwrap_or(0);
    for (route, s) in small {
        let l = &large[route];
        let (ms_s, ms_l) = (
            s["ms"].as_f64().unwrap_or(f64::NAN),
            l["ms"].as_f64().unwrap_or(f64::NAN),
        );
        println!(
            "{route:<80} {:>9} {:>6} {:>9} {:>7} {:>8.1} {:>8.1} {:>7.2}",
            format!("{}/{}", n(s, "reads"), n(l, "reads")),
            n(l, "writes"),
            format!("{}/{}", n(s, "items"), n(l, "items")),
            format!("{}/{}", n(s, "pages"), n(l, "pages")),
            ms_s,
            ms_l,
            ms_l / ms_s,
        );
    }
    println!(
        "targets: 1 write per mutating route; ≤ 2 reads and ≤ 1 page on either fixture; latency \
         large ÷ small ≤ 1.2 (reads: median of 15; changes: one each)"
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The environment Lambda gives a `provided.al2023` function, plus the template's variables.
fn lambda_command(bin: &Path, name: &str, api: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/28/[$LATEST]bench")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
        .env("LAMBDA_TASK_ROOT", "/var/task")
        .env("_HANDLER", "bootstrap")
        .env("TZ", ":UTC")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "ASIABENCHBENCHBENCH0")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "bench/bench/bench/bench/bench/bench/bench0",
        )
        .env("AWS_SESSION_TOKEN", "bench-session-token")
        .env("TABLE_NAME", "vls")
        .env("RUST_LOG", "info")
        .env("SENDER_EMAIL", "licensing@vls.example.com")
        .env(
            "TRUE_UP_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/vls-true-up",
        )
        .env(
            "MAIL_WAKEUP_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/vls-mail-wakeups",
        )
        .env("PUBLIC_BASE_URL", "https://licensing.example.com")
        .env("OIDC_ISSUER", "https://idp.example.com")
        .env("OIDC_CLIENT_ID", "vls-sign-in")
        .env("JWT_AUDIENCE", "vls")
        .envs(secrets())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// The secrets the template names by ARN (make bench creates them in the emulator and names
/// them here), fetched from the emulator's Secrets Manager: the functions that read one
/// (activation, order-intake, reservations) pay for that one request in their cold start.
fn secrets() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (var, given) in [
        ("VLS_COOKIE_KEY_SECRET_ARN", "VLS_BENCH_COOKIE_KEY_ARN"),
        ("VLS_CURSOR_KEY_SECRET_ARN", "VLS_BENCH_CURSOR_KEY_ARN"),
    ] {
        if let Ok(arn) = std::env::var(given) {
            out.push((var.to_owned(), arn));
        }
    }
    if let (false, Ok(endpoint)) = (out.is_empty(), std::env::var("AWS_ENDPOINT_URL")) {
        out.push(("AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(), endpoint));
    }
    out
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One cold start: process start → first poll for an event.
fn init_ms(lambda_dir: &Path, name: &str) -> Result<f64, Failure> {
    let api = RuntimeApi::start()?;
    let mut cmd = lambda_command(&lambda_dir.join(name).join("bootstrap"), name, &api.address);
    let t0 = Instant::now();
    let child = Killed(cmd.spawn()?);
    let polled = api.first_poll(Duration::from_secs(10));
    drop(child);
    api.close();
    let polled = polled.ok_or_else(|| format!("{name} never polled for an event"))?;
    Ok(polled.duration_since(t0).as_secs_f64() * 1000.0)
}

struct Warm {
    rss_kb: u64,
    statuses: BTreeMap<String, usize>,
}

/// One instance, 1,000 invocations of real work against the emulator, then its resident set.
fn warm_instance(lambda_dir: &Path, name: &str, endpoint: &str) -> Result<Warm, Failure> {
    let api = RuntimeApi::start()?;
    let mut cmd = lambda_command(&lambda_dir.join(name).join("bootstrap"), name, &api.address);
    cmd.env("AWS_ENDPOINT_URL", endpoint);
    let child = Killed(cmd.spawn()?);
    let pid = child.0.id();
    let mut statuses = BTreeMap::new();
    for i in 0..INVOCATIONS {
        let reply = api
            .invoke(
                format!("bench-{i}"),
                event(name, i),
                Duration::from_secs(30),
            )
            .ok_or_else(|| format!("{name}: invocation {i} got no answer"))?;
        *statuses.entry(reply).or_insert(0) += 1;
    }
    let rss_kb = rss_kb(pid)?;
    drop(child);
    api.close();
    Ok(Warm { rss_kb, statuses })
}

fn rss_kb(pid: u32) -> Result<u64, Failure> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS".into())
}

/// Ids that parse but name nothing, so that reads run and answer 404.
const NO_AGREEMENT: &str = "agr_01KBENCH0000000000000000AA";
const NO_ACCOUNT: &str = "acc_01KBENCH0000000000000000AA";
const NO_SUBSCRIPTION: &str = "sub_01KBENCH0000000000000000AA";
const NO_RESERVATION: &str = "res_01KBENCH0000000000000000AA";

/// The i-th event of a function's workload: its own routes, in turn, as API Gateway (HTTP API,
/// JWT authorizer) or EventBridge deliver them.
fn event(name: &str, i: usize) -> Value {
    let key = format!("bench-{name}-{i}");
    match name {
        BASELINE => http("GET", "/", &[], None, None),
        "order-intake" => order_intake_event(i, &key),
        "activation" => activation_event(i, &key),
        "reservations" => reservations_event(i, &key),
        "remap" => remap_event(i, &key),
        "cancellation" => cancellation_event(i, &key),
        // The mailer's sweep and the true-up job: their scheduled events.
        _ => json!({
            "version": "0",
            "id": format!("bench-{i}"),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-28T00:00:00Z",
            "region": "us-east-1",
            "resources": [format!("arn:aws:events:us-east-1:123456789012:rule/{name}")],
            "detail": {}
        }),
    }
}

const BILLING: &[(&str, &str)] = &[("sub", "bench-billing"), ("role", "billing_support")];

fn order_intake_event(i: usize, key: &str) -> Value {
    match i % 3 {
        0 => {
            let contact = json!({"name": "Ann", "email": "ann@lsp.example.com",
                                 "phone": "+1 555 0100"});
            let body = json!({"name": "Bench LSP", "contact": contact});
            http(
                "PUT",
                "/partners/bench-partner",
                BILLING,
                Some(key),
                Some(body),
            )
        }
        1 => {
            let body = json!({"name": format!("Bench {i}"),
                              "domain": format!("bench{i}.example.com"), "online_services": []});
            http("POST", "/accounts", BILLING, Some(key), Some(body))
        }
        _ => http(
            "GET",
            &format!("/agreements/{NO_AGREEMENT}"),
            BILLING,
            None,
            None,
        ),
    }
}

fn activation_event(i: usize, key: &str) -> Value {
    match i % 3 {
        0 | 1 => {
            let link = format!("/activate/bench-link-{i}-0123456789abcdefghijklmnopqrstuvwxyz");
            http("GET", &link, &[], None, None)
        }
        _ => http(
            "POST",
            &format!("/agreements/{NO_AGREEMENT}/activation-email/resend"),
            BILLING,
            Some(key),
            Some(json!({"legal_name": "Contoso Ltd", "country": "US"})),
        ),
    }
}

fn reservations_event(i: usize, key: &str) -> Value {
    let admin = [
        ("sub", "bench-admin"),
        ("role", "customer_admin"),
        ("account_id", NO_ACCOUNT),
    ];
    match i % 3 {
        0 => {
            let path = format!("/agreements/{NO_AGREEMENT}/reservations");
            http("GET", &path, BILLING, None, None)
        }
        1 => {
            let path = format!("/agreements/{NO_AGREEMENT}/true-up-preview");
            http("GET", &path, BILLING, None, None)
        }
        _ => {
            let path = format!("/reservations/{NO_RESERVATION}/cancel");
            http("POST", &path, &admin, Some(key), Some(json!({})))
        }
    }
}

fn remap_event(i: usize, key: &str) -> Value {
    let specialist = [
        ("sub", "bench-specialist"),
        ("role", "licensing_specialist"),
    ];
    match i % 3 {
        0 | 1 => {
            let body = json!({"target_account_id": NO_ACCOUNT, "reason": "bench"});
            let path = format!("/agreements/{NO_AGREEMENT}/remap");
            http("POST", &path, BILLING, Some(key), Some(body))
        }
        _ => {
            let body = json!({"kind": "separate_online_services", "reason": "bench"});
            let path = format!("/agreements/{NO_AGREEMENT}/amendments");
            http("POST", &path, &specialist, Some(key), Some(body))
        }
    }
}

fn cancellation_event(i: usize, key: &str) -> Value {
    let subscription = format!("/accounts/{NO_ACCOUNT}/subscriptions/{NO_SUBSCRIPTION}");
    match i % 3 {
        0 | 1 => {
            let path = format!("{subscription}/cancellation-preview");
            http("GET", &path, BILLING, None, None)
        }
        _ => {
            let body = json!({"reason": "bench"});
            let path = format!("{subscription}/cancellation");
            http("POST", &path, BILLING, Some(key), Some(body))
        }
    }
}

/// An HTTP API (payload 2.0) request whose token the gateway's JWT authorizer has verified.
fn http(
    method: &str,
    path: &str,
    claims: &[(&str, &str)],
    idempotency_key: Option<&str>,
    body: Option<Value>,
) -> Value {
    let mut headers = json!({
        "accept": "application/json",
        "host": "api.example.com",
        "user-agent": "vls-bench",
    });
    if let Some(k) = idempotency_key {
        headers["idempotency-key"] = json!(k);
    }
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    let mut authorizer = json!(null);
    if !claims.is_empty() {
        let claims: serde_json::Map<String, Value> = claims
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .chain([
                ("iss".to_owned(), json!("https://idp.example.com/")),
                ("aud".to_owned(), json!("vls")),
            ])
            .collect();
        headers["authorization"] = json!("Bearer redacted.by.the.gateway");
        authorizer = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "authorizer": authorizer,
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "vls-bench"
            },
            "requestId": "bench",
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "28/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1_795_824_000_000u64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

// ---------------------------------------------------------------------------------------------
// A minimal Lambda Runtime API: hands out queued events on `GET …/invocation/next` and takes
// the answers on `POST …/invocation/{id}/response|error`.

enum Note {
    Polled(Instant),
    Answered(String),
}

#[derive(Default)]
struct Queue {
    events: VecDeque<(String, Vec<u8>)>,
    closed: bool,
}

struct RuntimeApi {
    address: String,
    queue: Arc<(Mutex<Queue>, Condvar)>,
    notes: Receiver<Note>,
}

impl RuntimeApi {
    fn start() -> Result<Self, Failure> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?.to_string();
        let queue = Arc::new((Mutex::new(Queue::default()), Condvar::new()));
        let (tx, notes) = channel();
        let q = queue.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let (q, tx) = (q.clone(), tx.clone());
                if q.0.lock().map(|s| s.closed).unwrap_or(true) {
                    break;
                }
                std::thread::spawn(move || {
                    let _ = serve(conn, &q, &tx);
                });
            }
        });
        Ok(Self {
            address,
            queue,
            notes,
        })
    }

    fn first_poll(&self, wait: Duration) -> Option<Instant> {
        loop {
            match self.notes.recv_timeout(wait).ok()? {
                Note::Polled(at) => return Some(at),
                Note::Answered(_) => continue,
            }
        }
    }

    /// Queues one event and waits for its answer: the HTTP status the function returned, or
    /// `ok`/`error` for a non-HTTP function.
    fn invoke(&self, id: String, event: Value, wait: Duration) -> Option<String> {
        {
            let (lock, cv) = &*self.queue;
            lock.lock()
                .ok()?
                .events
                .push_back((id, event.to_string().into_bytes()));
            cv.notify_all();
        }
        loop {
            match self.notes.recv_timeout(wait).ok()? {
                Note::Answered(reply) => return Some(reply),
                Note::Polled(_) => continue,
            }
        }
    }

    fn close(&self) {
        let (lock, cv) = &*self.queue;
        if let Ok(mut q) = lock.lock() {
            q.closed = true;
        }
        cv.notify_all();
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(&self.address);
    }
}

fn serve(
    conn: TcpStream,
    queue: &(Mutex<Queue>, Condvar),
    notes: &Sender<Note>,
) -> Result<(), Failure> {
    conn.set_nodelay(true)?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut writer = conn;
    loop {
        let Some(Request {
            arrived,
            method,
            path,
            body,
        }) = read_request(&mut reader)?
        else {
            return Ok(());
        };
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let _ = notes.send(Note::Polled(arrived));
            let Some((id, event)) = next_event(queue)? else {
                return Ok(());
            };
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() + 60_000)
                .unwrap_or(0);
            write!(
                writer,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 lambda-runtime-aws-request-id: {id}\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: {FUNCTION_ARN}\r\n\
                 lambda-runtime-trace-id: {TRACE_ID}\r\n\
                 content-length: {}\r\n\r\n",
                event.len()
            )?;
            writer.write_all(&event)?;
        } else {
            let reply = if path.ends_with("/response") {
                serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("statusCode").and_then(Value::as_u64))
                    .map_or("ok".to_owned(), |s| s.to_string())
            } else {
                "error".to_owned()
            };
            writer.write_all(ACCEPTED)?;
            let _ = notes.send(Note::Answered(reply));
        }
        writer.flush()?;
    }
}

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:bench";
const TRACE_ID: &str = "Root=1-00000000-000000000000000000000000;Sampled=0";
const ACCEPTED: &[u8] = b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n\
    content-length: 16\r\n\r\n{\"status\":\"OK\"}\n";

/// One HTTP/1.1 request to the Runtime API.
struct Request {
    /// When its first line was read.
    arrived: Instant,
    method: String,
    path: String,
    body: Vec<u8>,
}

/// The next request on the connection; `None` once the peer has closed.
fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Option<Request>, Failure> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let arrived = Instant::now();
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = v.trim().parse().unwrap_or(0),
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let mut b = vec![0; length];
        reader.read_exact(&mut b)?;
        b
    };
    Ok(Some(Request {
        arrived,
        method,
        path,
        body,
    }))
}

/// The next queued event, waiting for one; `None` once the queue is closed.
fn next_event(queue: &(Mutex<Queue>, Condvar)) -> Result<Option<(String, Vec<u8>)>, Failure> {
    let (lock, cv) = queue;
    let mut q = lock.lock().map_err(|_| "poisoned")?;
    loop {
        if q.closed {
            return Ok(None);
        }
        if let Some(e) = q.events.pop_front() {
            return Ok(Some(e));
        }
        q = cv.wait(q).map_err(|_| "poisoned")?;
    }
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}
