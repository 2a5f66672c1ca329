//! `make bench-true-up`: the true-up fanned out as deployed, over 10,000 agreements due on one
//! date (and 2,000 that are not), with 5 reservations each; and one agreement with 20,000
//! reservations. The fan-out runs through a proxy that holds every request ~8 ms
//! (scripts/latency_proxy.py, as DynamoDB and SQS take a few milliseconds each), so that what
//! concurrency buys shows. Figures, not a test.

use std::time::{Duration, Instant};
use vls_domain::sources::holdings_of;

use chrono::NaiveDate;
use futures::{StreamExt, stream};
use true_up::Job;
use vls_domain::types::{AccountId, AgreementId};
use vls_runtime::queue::Queue;
use vls_store::{Store, Stored};
use vls_tests::{Counter, Harness, at, reads_writes, sdk_config, seeding, work_queue};

/// Agreements due (BENCH_TRUE_UP_DUE for a shorter run), and a fifth as many not due.
fn due_count() -> usize {
    std::env::var("BENCH_TRUE_UP_DUE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}
const RESERVATIONS_EACH: usize = 5;
/// Messages worked by a single worker before the rest go to the configured number.
const AT_ONE: usize = 1_000;

/// The due agreements' ids, after writing every agreement and its reservations.
async fn seed(h: &Harness) -> Vec<AgreementId> {
    seed_due(h, due_count()).await
}

/// `count` agreements due (all of the partner `p1`, as the fixture's are), a fifth as many not.
async fn seed_due(h: &Harness, count: usize) -> Vec<AgreementId> {
    let due_on = NaiveDate::from_ymd_opt(2027, 3, 15).expect("d");
    let later = NaiveDate::from_ymd_opt(2027, 9, 15).expect("d");
    let (mut items, mut due) = (Vec::new(), Vec::new());
    for i in 0..count + count / 5 {
        let anniversary = if i < count { due_on } else { later };
        let mut a = seeding::agreement(anniversary, Some(AccountId::generate()));
        let rs: Vec<_> = (0..RESERVATIONS_EACH)
            .map(|n| seeding::reservation(&a, n as u64 + 1))
            .collect();
        a.holdings = holdings_of(&a, &[], &rs);
        items.extend(rs.iter().map(|r| r.item().expect("item")));
        items.push(a.item().expect("item"));
        if i < count {
            due.push(a.id);
        }
    }
    seeding::write_all(h, &items).await;
    due
}

/// The template's default `TrueUpConcurrency`: the workers that run at once when deployed
/// (`BENCH_TRUE_UP_WORKERS` for another number).
fn configured_workers() -> usize {
    if let Some(n) = std::env::var("BENCH_TRUE_UP_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
            .expect("template.yaml");
    let params = template
        .split("TrueUpConcurrency:")
        .nth(1)
        .expect("TrueUpConcurrency parameter");
    params
        .lines()
        .find_map(|l| l.trim().strip_prefix("Default:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("its default")
}

/// The true-up's clients as a deployment has them, but through the latency proxy; DynamoDB
/// requests counted.
fn proxied(h: &Harness, ops: &Counter) -> (true_up::App, aws_sdk_sqs::Client) {
    let proxy = std::env::var("VLS_LATENCY_PROXY").unwrap_or("http://127.0.0.1:4567".into());
    let conf = sdk_config().into_builder().endpoint_url(proxy).build();
    let ddb = aws_sdk_dynamodb::Config::from(&conf)
        .to_builder()
        .interceptor(ops.clone())
        .build();
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let app = true_up::App {
        store: Store::new(aws_sdk_dynamodb::Client::from_conf(ddb), h.table.clone()),
        queue: Queue::new(sqs.clone(), h.true_up.queue.url()),
        tell_partners: true,
    };
    (app, sqs)
}

fn per_second(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

#[tokio::test]
#[ignore = "a benchmark: make bench-true-up"]
async fn fan_out_over_10_000_due_agreements() {
    let h = Harness::new().await;
    let t = Instant::now();
    let due = seed(&h).await;
    let seeded = t.elapsed();
    let count = due.len();
    let at_one = AT_ONE.min(count / 10);
    eprintln!("seeded in {:.1} s", seeded.as_secs_f64());
    let ops = Counter::default();
    let (app, sqs) = proxied(&h, &ops);
    let workers = configured_workers();
    let now = at("2027-03-15T06:00:00Z");

    let t = Instant::now();
    let planned = true_up::plan(&app, now).await.expect("enqueued");
    let (planning, plan_reads) = (t.elapsed(), reads_writes(&ops.take()).0);
    assert_eq!(planned.enqueued, count);
    eprintln!("planned in {:.1} s", planning.as_secs_f64());

    let t = Instant::now();
    let one = work_queue::drain_at_most(&app, &sqs, 1, at_one).await;
    let took_one = t.elapsed();
    eprintln!("{at_one} at one worker in {:.1} s", took_one.as_secs_f64());
    let t = Instant::now();
    let many = work_queue::drain(&app, &sqs, workers).await;
    let took_many = t.elapsed();
    let (reads, writes) = reads_writes(&ops.take());
    assert!(one.failed.is_empty() && many.failed.is_empty());
    let mut billed: Vec<&AgreementId> = one
        .billed
        .iter()
        .chain(&many.billed)
        .map(|b| &b.agreement_id)
        .collect();
    let total = billed.len();
    billed.sort();
    billed.dedup();
    assert_eq!(
        (total, billed.len()),
        (count, count),
        "each due agreement billed once"
    );

    let rerun = true_up::plan(&app, now).await.expect("rerun");
    assert_eq!(rerun.enqueued, 0, "billed agreements are no longer due");
    ops.take();

    // Every message delivered again, as SQS may: nothing is billed twice.
    let t = Instant::now();
    let jobs: Vec<Job> = due
        .into_iter()
        .map(|agreement_id| Job { agreement_id, now })
        .collect();
    stream::iter(jobs.chunks(10))
        .for_each_concurrent(16, |batch| async {
            app.queue.send(batch).await.expect("sent")
        })
        .await;
    let again = work_queue::drain(&app, &sqs, workers).await;
    let redelivery = t.elapsed();
    let (reads2, writes2) = reads_writes(&ops.take());
    assert!(again.failed.is_empty(), "{:?}", again.failed.first());
    assert_eq!(again.billed.len(), 0, "a redelivered message billed again");

    println!(
        "true-up fan-out: {count} agreements due of {}, {RESERVATIONS_EACH} reservations each, \
         every request held ~8 ms (seeding {:.0} s)",
        count + count / 5,
        seeded.as_secs_f64()
    );
    println!(
        "  daily run: {count} enqueued in {:.1} s ({plan_reads} index queries)",
        planning.as_secs_f64()
    );
    println!(
        "  1 worker:  {at_one} billed in {:.1} s = {:.1} agreements/s",
        took_one.as_secs_f64(),
        per_second(at_one, took_one)
    );
    println!(
        "  {workers} workers: {} billed in {:.1} s = {:.1} agreements/s",
        count - at_one,
        took_many.as_secs_f64(),
        per_second(count - at_one, took_many)
    );
    println!(
        "  DynamoDB requests per billed agreement: {:.2} ({reads} reads, {writes} writes)",
        (reads + writes) as f64 / count as f64
    );
    println!(
        "  every message delivered again: billed 0 more in {:.1} s ({reads2} reads, {writes2} \
         writes); each of the {count} agreements billed exactly once",
        redelivery.as_secs_f64()
    );
}

/// One agreement with 20,000 reservations, all due: billed in one transaction of a few items,
/// its event a few hundred bytes (it counts the reservations rather than listing them).
#[tokio::test]
#[ignore = "a benchmark: make bench-true-up"]
async fn an_agreement_with_20_000_reservations_bills() {
    const MANY: usize = 20_000;
    let h = Harness::new().await;
    let due_on = NaiveDate::from_ymd_opt(2027, 3, 15).expect("d");
    let mut a = seeding::agreement(due_on, Some(AccountId::generate()));
    let rs: Vec<_> = (0..MANY)
        .map(|n| seeding::reservation(&a, n as u64 + 1))
        .collect();
    a.holdings = holdings_of(&a, &[], &rs);
    let mut items = vec![a.item().expect("item")];
    items.extend(rs.iter().map(|r| r.item().expect("item")));
    let t = Instant::now();
    seeding::write_all(&h, &items).await;
    let seeded = t.elapsed();
    h.ops.take();
    let t = Instant::now();
    let billed = h.run_true_up(at("2027-03-15T06:00:00Z")).await;
    let wall = t.elapsed();
    let (reads, writes) = reads_writes(&h.ops.take());
    assert_eq!(billed.len(), 1);
    assert_eq!(billed[0].reservations, MANY as u64);
    let trail = h.app.store.events(&a.id).await.expect("trail");
    let event = trail
        .iter()
        .find(|e| e.action == "true_up.billed")
        .expect("billed event");
    let bytes = serde_json::to_string(event).expect("json").len();
    assert_eq!(event.details["lines"][0]["quantity"], 2 * MANY as u64);
    println!(
        "1 agreement, {MANY} reservations due: billed in {:.2} s with {reads} reads and \
         {writes} write(s); the billed event is {bytes} bytes (seeding {:.1} s)",
        wall.as_secs_f64(),
        seeded.as_secs_f64()
    );
}

/// Agreements of ONE partner due on its true-up day (BENCH_TRUE_UP_PARTNER_DUE, 20,000 unless
/// set).
fn partner_due_count() -> usize {
    std::env::var("BENCH_TRUE_UP_PARTNER_DUE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// What one billing of a partner's true-up day measured.
struct Day {
    rate: f64,
    /// From the last commit to the last event sequenced (with events only).
    lag: Option<Duration>,
    /// Stream batches the dispatcher was handed (with events only).
    batches: usize,
    /// The share of the run the emulator was handling a request (it handles one at a time),
    /// and the seconds of it that were the stream's reads.
    busy: f64,
    stream_reads: f64,
    /// DynamoDB requests per agreement, the workers' and the dispatcher's: reads, writes.
    requests: (f64, f64),
}

/// The stream's records that the dispatcher's event source mapping lets through (its
/// `FilterCriteria` in template.yaml: new partner events), in batches of at most its
/// `BatchSize` (100), each as the function's event.
fn dispatcher_batches(read: &serde_json::Value) -> Vec<serde_json::Value> {
    let inserted: Vec<serde_json::Value> = read["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["eventName"] == "INSERT" && r["dynamodb"]["NewImage"]["type"]["S"] == "partner_event"
        })
        .cloned()
        .collect();
    inserted
        .chunks(100)
        .map(|c| serde_json::json!({ "Records": c }))
        .collect()
}

/// The partner's true-up day billed by the configured workers through the latency proxy,
/// telling the partner (`tell`) or not. When telling, the dispatcher is fed the table's stream
/// beside the workers, as in AWS (read from the emulator's Streams API, filtered and batched
/// as its event source mapping does, one batch at a time as for one shard), and the day ends
/// when the last event has its sequence.
async fn partner_day(tell: bool) -> Day {
    let h = Harness::new().await;
    let count = seed_due(&h, partner_due_count()).await.len();
    let ops = Counter::default();
    let (mut app, sqs) = proxied(&h, &ops);
    app.tell_partners = tell;
    let described = h.client.describe_table().table_name(&h.table).send().await;
    let arn = described
        .expect("table")
        .table
        .and_then(|t| t.latest_stream_arn)
        .expect("the table's stream");
    let mut stream = vls_tests::stream::StreamReader::latest(&arn).await;
    let now = at("2027-03-15T06:00:00Z");
    true_up::plan(&app, now).await.expect("enqueued");
    ops.take();
    let partner = vls_domain::testing::agreement().partner_id;
    let clock = vls_tests::TestClock::new();
    clock.set(at("2027-03-16T00:00:00Z"));
    let dispatcher = webhook_dispatcher::Dispatcher {
        store: app.store.clone(),
        settings: webhook_dispatcher::Settings::default(),
        clock: clock.as_clock(),
        // The partner has no endpoint: nothing is handed to a sender.
        deliveries: h.dispatcher.deliveries.clone(),
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let dispatching = async {
        let mut batches = 0;
        while tell && !done.load(std::sync::atomic::Ordering::SeqCst) {
            let Some(read) = stream.next_batch(1000).await else {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            };
            for batch in dispatcher_batches(&read) {
                let ran = webhook_dispatcher::handle(&dispatcher, "bench", batch).await;
                match ran.expect("handled") {
                    webhook_dispatcher::Ran::Batch(r) => {
                        assert!(r.batch_item_failures.is_empty(), "{r:?}");
                    }
                    other => panic!("a stream batch swept: {other:?}"),
                }
                batches += 1;
            }
        }
        batches
    };
    let busy_before = vls_tests::emulator_busy().await;
    let billing = async {
        let t = Instant::now();
        let worked = work_queue::drain(&app, &sqs, configured_workers()).await;
        assert!(worked.failed.is_empty(), "{:?}", worked.failed.first());
        assert_eq!(worked.billed.len(), count);
        let took = t.elapsed();
        let lag = if tell {
            let last_commit = Instant::now();
            while app.store.feed_mark(&partner).await.expect("mark") < count as u64 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Some(last_commit.elapsed())
        } else {
            None
        };
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (per_second(count, took), lag, t.elapsed())
    };
    let ((rate, lag, wall), batches) = futures::join!(billing, dispatching);
    let busy_after = vls_tests::emulator_busy().await;
    let reads = |by: &[(String, f64)]| {
        by.iter()
            .filter(|(op, _)| op == "GetRecords")
            .map(|(_, s)| s)
            .sum::<f64>()
    };
    let sequenced = app.store.feed_mark(&partner).await.expect("mark");
    assert_eq!(sequenced, if tell { count as u64 } else { 0 });
    Day {
        rate,
        lag,
        batches,
        busy: (busy_after.0 - busy_before.0) / wall.as_secs_f64(),
        stream_reads: reads(&busy_after.1) - reads(&busy_before.1),
        requests: {
            let (r, w) = reads_writes(&ops.take());
            (r as f64 / count as f64, w as f64 / count as f64)
        },
    }
}

/// SPEC §6.3: a partner's events are sequenced after the commit, never by a counter in the
/// billing transaction, so a true-up day of one partner's agreements bills as fast with its
/// events as without them, and its last event is listed soon after its last commit.
#[tokio::test]
#[ignore = "a benchmark: make bench-true-up"]
async fn one_partner_s_true_up_day_with_and_without_its_events() {
    let count = partner_due_count();
    let without = partner_day(false).await;
    let with = partner_day(true).await;
    let lag = with.lag.expect("measured");
    println!(
        "one partner's true-up day: {count} of its agreements due, {} workers, every request \
         held ~8 ms",
        configured_workers()
    );
    println!(
        "  without events: {:.1} agreements/s (the emulator busy {:.0}% of the run)",
        without.rate,
        100.0 * without.busy
    );
    println!(
        "  with events:    {:.1} agreements/s ({:.2}x the time), the dispatcher fed the \
         table's stream beside the workers ({} batches; the emulator busy {:.0}% of the run, \
         {:.1} s of it reading the stream)",
        with.rate,
        without.rate / with.rate,
        with.batches,
        100.0 * with.busy,
        with.stream_reads
    );
    println!(
        "  the last event sequenced {:.1} s after the last commit; sequences 1..{count}",
        lag.as_secs_f64()
    );
    println!(
        "  DynamoDB requests per agreement, reads + writes: without events {:.2} + {:.2}, with \
         them (the dispatcher's included) {:.2} + {:.2}",
        without.requests.0, without.requests.1, with.requests.0, with.requests.1
    );
}
