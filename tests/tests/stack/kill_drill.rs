//! Drill: a function killed mid-request under `cargo lambda watch`, then a fresh instance.
//!
//! The emulator holds one DynamoDB request of the order being placed (scripts/emulator_server.py,
//! `/_drill/*`), so the kill lands exactly where it hurts most:
//! - after the order's transaction committed, before the function heard back: the next
//!   requests see all of the change (the order, its event), and retrying with the same
//!   `Idempotency-Key` replays the first answer instead of placing a second order;
//! - while the function waits for its first read: nothing was written, and the retry places
//!   the order once.
//!
//! A killed function is not restarted by `cargo lambda watch` (1.9: it logs "command killed"
//! and leaves the function down, where Lambda would start a new execution environment), so
//! the drill runs its own watch on a free port and starts a new one after the kill. `make
//! test` runs it with `--ignored` once the functions are built; it needs the local stack.

use std::collections::HashMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vls_tests::fixtures::*;
use vls_tests::{Http, Resp, endpoint, stack_token as tok};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_path_buf()
}

/// `cargo lambda watch` in its own process group, serving every function on `base`.
struct Watch {
    child: Child,
    base: String,
}

impl Watch {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let base = format!("http://127.0.0.1:{port}");
        let run = workspace().join(".run");
        fs::create_dir_all(&run).expect(".run");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(run.join("kill-drill-watch.log"))
            .expect("watch log");
        let child = Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .current_dir(workspace())
            .env("PUBLIC_BASE_URL", &base)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("cargo lambda watch (make test puts .venv/bin on PATH)");
        let watch = Self { child, base };
        // No token: 401 once watch routes and order-intake answers.
        let probe = Http::with_timeout(&watch.base, Some(Duration::from_secs(30)));
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Ok(r) = probe.try_send("POST", "/agreements", None, None, None)
                && r.status == 401
            {
                break watch;
            }
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not answer"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every process under the watch (the functions run as `cargo run` children).
    fn descendants(&self) -> Vec<u32> {
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid …"; comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                children.entry(ppid).or_default().push(pid);
            }
        }
        let mut out = Vec::new();
        let mut todo = vec![self.child.id()];
        while let Some(p) = todo.pop() {
            for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
                out.push(c);
                todo.push(c);
            }
        }
        out
    }

    /// The running process of the function `name` under this watch.
    fn function_pid(&self, name: &str) -> Option<u32> {
        self.descendants().into_iter().find(|pid| {
            fs::read_link(format!("/proc/{pid}/exe"))
                .ok()
                .and_then(|exe| exe.file_name().map(|f| f.to_string_lossy().into_owned()))
                .is_some_and(|f| f == name || f.starts_with(&format!("{name} ")))
        })
    }

    fn kill_all(&mut self) {
        let mut pids: Vec<String> = self.descendants().iter().map(u32::to_string).collect();
        pids.push(self.child.id().to_string());
        sigkill(&pids);
        let _ = self.child.wait();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn sigkill(pids: &[String]) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(pids)
        .stderr(Stdio::null())
        .status();
}

/// A process is gone once it has no /proc entry or is a zombie waiting to be reaped.
fn dead(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// The emulator's drill controls.
fn drill(path: &str) -> Value {
    let r = Http::new(&endpoint()).send("POST", path, None, None, None);
    assert_eq!(r.status, 200, "emulator drill control {path}: {}", r.raw);
    r.body
}

fn wait_until_held() {
    let deadline = Instant::now() + Duration::from_secs(60);
    while drill("/_drill/held")["held"] != json!(true) {
        assert!(
            Instant::now() < deadline,
            "the armed request never reached the emulator"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Where the kill lands.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// The order's TransactWriteItems has committed; its response is held.
    AfterCommit,
    /// The order's first read (the agreement) is held; nothing is written yet.
    DuringRead,
}

struct Setup {
    partner: String,
    agreement: String,
}

fn setup(http: &Http, run: &str) -> Setup {
    let pid = format!("kd-{run}");
    let bs = tok("billing_support", json!({}));
    let r = http.put(
        &format!("/partners/{pid}"),
        &bs,
        &partner_body("Kill Drill LSP"),
    );
    assert_eq!(r.status, 200, "{}", r.raw);
    let partner = tok("partner", json!({"partner_id": pid}));
    let r = http.post(
        "/agreements",
        &partner,
        &agreement_body(&format!("c{run}"), "2026-03-15"),
    );
    assert_eq!(r.status, 201, "{}", r.raw);
    Setup {
        partner,
        agreement: r.id(),
    }
}

fn orders(http: &Http, s: &Setup) -> Vec<Value> {
    let r = http.get(&format!("/agreements/{}/orders", s.agreement), &s.partner);
    assert_eq!(r.status, 200, "{}", r.raw);
    r.body["orders"].as_array().cloned().unwrap_or_default()
}

fn placed_events(http: &Http, s: &Setup) -> Vec<Value> {
    let r = http.get(&format!("/agreements/{}/events", s.agreement), &s.partner);
    assert_eq!(r.status, 200, "{}", r.raw);
    r.body["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["action"] == "order.placed")
        .collect()
}

/// What is left after a kill: a fresh watch, the drill's agreement, the order request that
/// was killed (body and key) and what its caller saw.
struct Killed {
    watch: Watch,
    s: Setup,
    agreement_before: Value,
    body: String,
    key: String,
    seen: Result<Resp, String>,
}

impl Killed {
    fn http(&self) -> Http {
        Http::new(&self.watch.base)
    }

    fn retry(&self) -> Resp {
        let (s, body, key) = (&self.s, &self.body, &self.key);
        self.http()
            .send("POST", "/orders", Some(&s.partner), Some(body), Some(key))
    }

    /// How many orders the agreement has, and how many `order.placed` events.
    fn orders_and_events(&self) -> (usize, usize) {
        let http = self.http();
        (
            orders(&http, &self.s).len(),
            placed_events(&http, &self.s).len(),
        )
    }

    fn agreement_now(&self) -> Value {
        let r = self.http().get(
            &format!("/agreements/{}", self.s.agreement),
            &self.s.partner,
        );
        assert_eq!(r.status, 200, "{}", r.raw);
        r.body
    }
}

/// The emulator holds one request at a time: one drill at a time.
static ONE_DRILL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Places an order, kills order-intake at `moment`, starts a fresh watch.
fn kill_mid_order(moment: Moment) -> Killed {
    let _one = ONE_DRILL.lock().unwrap_or_else(|e| e.into_inner());
    let run = ulid::Ulid::generate().to_string().to_lowercase();
    let mut watch = Watch::start();
    let http = Http::new(&watch.base);
    let s = setup(&http, &run);
    let agreement_before = http
        .get(&format!("/agreements/{}", s.agreement), &s.partner)
        .body;
    let body = order_body(
        &s.agreement,
        json!([{"sku": "d365-sales-professional", "quantity": 7}]),
        None,
    )
    .to_string();
    let key = format!("kill-{moment:?}-{run}");

    let target = match moment {
        Moment::AfterCommit => "TransactWriteItems",
        Moment::DuringRead => "GetItem",
    };
    drill(&format!(
        "/_drill/hold?target={target}&match={}",
        s.agreement
    ));
    let caller = {
        let (base, partner, body, key) = (
            watch.base.clone(),
            s.partner.clone(),
            body.clone(),
            key.clone(),
        );
        std::thread::spawn(move || {
            Http::with_timeout(&base, Some(Duration::from_secs(120))).try_send(
                "POST",
                "/orders",
                Some(&partner),
                Some(&body),
                Some(&key),
            )
        })
    };
    wait_until_held();
    let pid = watch
        .function_pid("order-intake")
        .expect("order-intake runs under the watch");
    sigkill(&[pid.to_string()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dead(pid) {
        assert!(Instant::now() < deadline, "order-intake survived SIGKILL");
        std::thread::sleep(Duration::from_millis(20));
    }
    drill("/_drill/release");
    // The killed instance never answers; stopping its watch ends the caller's connection.
    watch.kill_all();
    let seen = caller.join().expect("caller thread");
    drop(watch);
    Killed {
        watch: Watch::start(),
        s,
        agreement_before,
        body,
        key,
        seen,
    }
}

fn assert_caller_saw_no_success(seen: &Result<Resp, String>) {
    if let Ok(r) = seen {
        assert!(
            r.status >= 500,
            "the killed call answered {}: {}",
            r.status,
            r.raw
        );
    }
}

#[test]
#[ignore = "needs the local stack and built functions: run through `make test`"]
fn killed_after_its_transaction_committed_the_change_is_all_there_and_a_retry_replays_it() {
    let k = kill_mid_order(Moment::AfterCommit);
    assert_caller_saw_no_success(&k.seen);
    let (http, s) = (k.http(), &k.s);

    let all = orders(&http, s);
    assert_eq!(all.len(), 1, "the committed order is there: {all:?}");
    assert_eq!(all[0]["lines"][0]["quantity"], 7);
    let order_id = all[0]["id"].as_str().expect("order id").to_owned();
    let events = placed_events(&http, s);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["details"]["order_id"], json!(order_id));
    assert_ne!(
        k.agreement_now(),
        k.agreement_before,
        "the agreement moved with the order"
    );

    // The partner never heard back, so it retries with the same key: the first answer.
    let r = k.retry();
    assert_eq!(r.status, 201, "{}", r.raw);
    assert!(r.replayed, "replayed, not placed again: {}", r.raw);
    assert_eq!(r.id(), order_id);
    assert_eq!(k.orders_and_events(), (1, 1));
}

#[test]
#[ignore = "needs the local stack and built functions: run through `make test`"]
fn killed_while_waiting_on_its_read_nothing_was_written_and_a_retry_places_it_once() {
    let k = kill_mid_order(Moment::DuringRead);
    assert_caller_saw_no_success(&k.seen);
    let (http, s) = (k.http(), &k.s);

    assert_eq!(orders(&http, s), Vec::<Value>::new(), "no order");
    assert_eq!(placed_events(&http, s), Vec::<Value>::new(), "no event");
    assert_eq!(
        k.agreement_now(),
        k.agreement_before,
        "the agreement is untouched"
    );

    let r = k.retry();
    assert_eq!(r.status, 201, "{}", r.raw);
    assert!(!r.replayed, "nothing to replay: {}", r.raw);
    let again = k.retry();
    assert!(again.replayed && again.id() == r.id(), "{}", again.raw);
    assert_eq!(k.orders_and_events(), (1, 1));
}
