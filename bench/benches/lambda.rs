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

    // Cold starts, interleaved so that drift on the machine touches every binary alike.
    let mut inits: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for _ in 0..INIT_RUNS {
        for name in &names {
            let ms = init_ms(&lambda_dir, name)?;
            inits.entry(name).or_default().push(ms);
        }
    }

    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .map_err(|_| "AWS_ENDPOINT_URL (the emulator) is not set: run through make bench")?;
    let mut functions = serde_json::Map::new();
    let mut baseline = json!({});
    let mut rows = Vec::new();
    for name in &names {
        let bin = lambda_dir.join(name).join("bootstrap");
        let binary_bytes = std::fs::metadata(&bin)?.len();
        let zip = lambda_dir.join(name).join("bootstrap.zip");
        let zip_bytes = std::fs::metadata(&zip).map(|m| m.len()).ok();
        let init = median(inits.get(name).cloned().unwrap_or_default());
        let warm = warm_instance(&lambda_dir, name, &endpoint)?;
        rows.push(Row {
            name: name.to_string(),
            binary_bytes,
            zip_bytes,
            init_ms: init,
            rss_kb: warm.rss_kb,
            statuses: warm.statuses.clone(),
        });
        let mut figures = json!({
            "binary_bytes": binary_bytes,
            "init_ms_p50": round3(init),
            "rss_kb": warm.rss_kb,
        });
        if *name == BASELINE {
            baseline = figures;
        } else {
            figures["zip_bytes"] = json!(zip_bytes);
            functions.insert(name.to_string(), figures);
        }
    }

    let operations: Value = std::fs::read_to_string(root.join("target/bench-operations.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_else(|| json!({}));

    let report = json!({
        "baseline": baseline,
        "functions": functions,
        "operations": operations,
    });
    let out = root.join("target/bench.json");
    std::fs::write(&out, serde_json::to_string_pretty(&report)? + "\n")?;
    print_report(&rows, &operations);
    println!("\nwritten: {}", out.display());
    Ok(())
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
    if let Some(ops) = operations.as_object() {
        if ops.is_empty() {
            println!("\n(no DynamoDB request counts: target/bench-operations.json is missing)");
            return;
        }
        println!("\n{:<80} {:>5} {:>6}", "route", "reads", "writes");
        for (route, c) in ops {
            println!(
                "{route:<80} {:>5} {:>6}",
                c["reads"].as_u64().unwrap_or(0),
                c["writes"].as_u64().unwrap_or(0)
            );
        }
        println!(
            "targets: 1 write per mutating route; ≤ 2 reads (the pool and the cancellation guard: 1 + 1 per agreement)"
        );
    }
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
        .env("PUBLIC_BASE_URL", "https://licensing.example.com")
        .env("OIDC_ISSUER", "https://idp.example.com")
        .env("OIDC_CLIENT_ID", "vls-sign-in")
        .env("JWT_AUDIENCE", "vls")
        .env(
            "VLS_COOKIE_KEY",
            "bench-cookie-key-bench-cookie-key-bench-cookie-key-0",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
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
    let bs = [("sub", "bench-billing"), ("role", "billing_support")];
    let key = format!("bench-{name}-{i}");
    match (name, i % 3) {
        (BASELINE, _) => http("GET", "/", &[], None, None),
        ("order-intake", 0) => http(
            "PUT",
            "/partners/bench-partner",
            &bs,
            Some(&key),
            Some(
                json!({"name": "Bench LSP", "contact": {"name": "Ann", "email": "ann@lsp.example.com", "phone": "+1 555 0100"}}),
            ),
        ),
        ("order-intake", 1) => http(
            "POST",
            "/accounts",
            &bs,
            Some(&key),
            Some(
                json!({"name": format!("Bench {i}"), "domain": format!("bench{i}.example.com"), "online_services": []}),
            ),
        ),
        ("order-intake", _) => http(
            "GET",
            &format!("/agreements/{NO_AGREEMENT}"),
            &bs,
            None,
            None,
        ),
        ("activation", 0 | 1) => http(
            "GET",
            &format!("/activate/bench-link-{i}-0123456789abcdefghijklmnopqrstuvwxyz"),
            &[],
            None,
            None,
        ),
        ("activation", _) => http(
            "POST",
            &format!("/agreements/{NO_AGREEMENT}/activation-email/resend"),
            &bs,
            Some(&key),
            Some(json!({"legal_name": "Contoso Ltd", "country": "US"})),
        ),
        ("reservations", 0) => http(
            "GET",
            &format!("/agreements/{NO_AGREEMENT}/reservations"),
            &bs,
            None,
            None,
        ),
        ("reservations", 1) => http(
            "GET",
            &format!("/agreements/{NO_AGREEMENT}/true-up-preview"),
            &bs,
            None,
            None,
        ),
        ("reservations", _) => http(
            "POST",
            &format!("/reservations/{NO_RESERVATION}/cancel"),
            &[
                ("sub", "bench-admin"),
                ("role", "customer_admin"),
                ("account_id", NO_ACCOUNT),
            ],
            Some(&key),
            Some(json!({})),
        ),
        ("remap", 0 | 1) => http(
            "POST",
            &format!("/agreements/{NO_AGREEMENT}/remap"),
            &bs,
            Some(&key),
            Some(json!({"target_account_id": NO_ACCOUNT, "reason": "bench"})),
        ),
        ("remap", _) => http(
            "POST",
            &format!("/agreements/{NO_AGREEMENT}/amendments"),
            &[
                ("sub", "bench-specialist"),
                ("role", "licensing_specialist"),
            ],
            Some(&key),
            Some(json!({"kind": "separate_online_services", "reason": "bench"})),
        ),
        ("cancellation", 0 | 1) => http(
            "GET",
            &format!("/accounts/{NO_ACCOUNT}/subscriptions/{NO_SUBSCRIPTION}/cancellation-preview"),
            &bs,
            None,
            None,
        ),
        ("cancellation", _) => http(
            "POST",
            &format!("/accounts/{NO_ACCOUNT}/subscriptions/{NO_SUBSCRIPTION}/cancellation"),
            &bs,
            Some(&key),
            Some(json!({"reason": "bench"})),
        ),
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
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
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
                return Ok(());
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
            read_chunked(&mut reader)?
        } else {
            let mut b = vec![0; length];
            reader.read_exact(&mut b)?;
            b
        };
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let _ = notes.send(Note::Polled(arrived));
            let (lock, cv) = queue;
            let mut q = lock.lock().map_err(|_| "poisoned")?;
            let (id, event) = loop {
                if q.closed {
                    return Ok(());
                }
                if let Some(e) = q.events.pop_front() {
                    break e;
                }
                q = cv.wait(q).map_err(|_| "poisoned")?;
            };
            drop(q);
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() + 60_000)
                .unwrap_or(0);
            write!(
                writer,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 lambda-runtime-aws-request-id: {id}\r\nlambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                 lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\
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
            writer.write_all(
                b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"status\":\"OK\"}\n",
            )?;
            let _ = notes.send(Note::Answered(reply));
        }
        writer.flush()?;
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
