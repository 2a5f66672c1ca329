"""What feeds the template stack's functions, as Lambda's event source mappings and EventBridge
Scheduler do: the table's stream (with the mapping's filter), the queues, the schedules.

Pollers call the emulator through the checking endpoint with the function's own credentials,
as Lambda's pollers act with the function's role: a role that may not read its queue or its
stream is found here, not in AWS.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from datetime import datetime, timezone

import boto3


def _client(service, endpoint, key, region):
    return boto3.client(service, region_name=region, endpoint_url=endpoint,
                        aws_access_key_id=key, aws_secret_access_key="local")


def matches(pattern, value) -> bool:
    """An event filter pattern (the subset Lambda's filters use: objects, lists of values)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and matches(p, value[k]) for k, p in pattern.items()
        )
    if isinstance(pattern, list):
        return any(value == p for p in pattern)
    raise ValueError(f"unsupported filter pattern {pattern!r}")


def passes_filters(criteria: dict | None, record: dict) -> bool:
    filters = (criteria or {}).get("Filters") or []
    return not filters or any(matches(json.loads(f["Pattern"]), record) for f in filters)


def failed_ids(result) -> set[str] | None:
    """The items a ReportBatchItemFailures answer names; None if the whole batch failed."""
    if result.status != "ok":
        return None
    try:
        doc = json.loads(result.body or b"null")
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return set()
    return {f.get("itemIdentifier") for f in doc.get("batchItemFailures") or []}


class SqsPoller:
    def __init__(self, source, host, endpoint, queue_url, region, log):
        self.source, self.host, self.log = source, host, log
        self.region = region
        # Lambda's poller knows its queue by ARN (it never asks for the URL).
        self.url = queue_url
        self.sqs = _client("sqs", endpoint, source.function, region)
        self.stopping = threading.Event()

    def start(self):
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        size = int(self.source.properties.get("BatchSize", 10))
        while not self.stopping.is_set():
            try:
                # Short polls: the emulator answers one request at a time, so a long poll
                # would hold every function's calls behind it.
                got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=size,
                                               WaitTimeSeconds=0, AttributeNames=["All"],
                                               MessageAttributeNames=["All"])
            except Exception as e:  # the endpoint refused: recorded there, told here
                self.log(f"{self.source.logical_id}: receive failed: {e}")
                time.sleep(1)
                continue
            messages = got.get("Messages") or []
            if messages:
                self.deliver(messages)
            else:
                time.sleep(0.2)

    def deliver(self, messages):
        event = {"Records": [self.record(m) for m in messages]}
        result = self.host.invoke(self.source.function, json.dumps(event).encode())
        failed = failed_ids(result)
        reports = "ReportBatchItemFailures" in (self.source.properties.get("FunctionResponseTypes") or [])
        if failed is None or (failed and not reports):
            return  # the whole batch is offered again when its visibility runs out
        for m in messages:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])

    def record(self, m):
        return {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": m.get("MessageAttributes", {}),
            "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.source_arn,
            "awsRegion": self.region,
        }


class StreamPoller:
    """One reader of the table's stream, starting at its latest records (StartingPosition)."""

    def __init__(self, source, host, endpoint, region, log):
        self.source, self.host, self.log, self.region = source, host, log, region
        self.streams = _client("dynamodbstreams", endpoint, source.function, region)
        self.iterators: dict[str, str] = {}
        self.stopping = threading.Event()

    def start(self):
        self.refresh(self.source.properties.get("StartingPosition", "LATEST"))
        threading.Thread(target=self.loop, daemon=True).start()

    def refresh(self, position):
        desc = self.streams.describe_stream(StreamArn=self.source.source_arn)["StreamDescription"]
        for shard in desc["Shards"]:
            sid = shard["ShardId"]
            if sid not in self.iterators:
                self.iterators[sid] = self.streams.get_shard_iterator(
                    StreamArn=self.source.source_arn, ShardId=sid, ShardIteratorType=position
                )["ShardIterator"]

    def loop(self):
        while not self.stopping.is_set():
            try:
                self.refresh("TRIM_HORIZON")
                for sid, it in list(self.iterators.items()):
                    got = self.streams.get_records(ShardIterator=it, Limit=100)
                    self.iterators[sid] = got.get("NextShardIterator") or it
                    self.deliver(got.get("Records") or [])
            except Exception as e:
                self.log(f"{self.source.logical_id}: stream read failed: {e}")
            time.sleep(0.3)

    def deliver(self, records):
        records = [self.record(r) for r in records]
        records = [r for r in records if passes_filters(self.source.properties.get("FilterCriteria"), r)]
        size = int(self.source.properties.get("BatchSize", 100))
        retries = int(self.source.properties.get("MaximumRetryAttempts", -1))
        for i in range(0, len(records), size):
            self.batch(records[i:i + size], retries)

    def batch(self, batch, retries):
        attempt = 0
        while batch:
            result = self.host.invoke(self.source.function, json.dumps({"Records": batch}).encode())
            failed = failed_ids(result)
            if failed is not None and not failed:
                return
            attempt += 1
            if 0 <= retries < attempt:
                self.log(f"{self.source.logical_id}: gave up on {len(batch)} records")
                return
            if failed is not None:
                # Retried from the first record reported failed, as Lambda does.
                seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
                first = min(seqs.index(f) for f in failed if f in seqs) if failed & set(seqs) else 0
                batch = batch[first:]
            time.sleep(0.2)

    def record(self, r):
        # As Lambda delivers them: times as epoch seconds, binary values base64.
        r = json.loads(json.dumps(r, default=_wire))
        r.setdefault("eventSource", "aws:dynamodb")
        r.setdefault("eventVersion", "1.1")
        r["awsRegion"] = self.region
        r["eventSourceARN"] = self.source.source_arn
        return r


def scheduled_input(template_input: str | None, when: datetime) -> bytes:
    """The target's input with Scheduler's context attribute substituted."""
    stamp = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = template_input if template_input is not None else json.dumps({"time": stamp})
    return text.replace("<aws.scheduler.scheduled-time>", stamp).encode()


def rate_seconds(expression: str) -> int | None:
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if not m:
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")]
    return int(m.group(1)) * unit


class Scheduler:
    """Runs `rate(…)` schedules on their rate; every schedule can also be fired on demand
    (the tests fire the daily `cron(…)` run for a date of their choosing)."""

    def __init__(self, schedules, host, log):
        self.schedules = {s.logical_id: s for s in schedules}
        self.host, self.log = host, log

    def start(self):
        for s in self.schedules.values():
            period = rate_seconds(s.expression)
            if period is not None:
                threading.Thread(target=self.every, args=(s, period), daemon=True).start()

    def every(self, s, period):
        while True:
            time.sleep(period)
            self.fire(s.logical_id, datetime.now(timezone.utc))

    def fire(self, logical_id: str, when: datetime):
        s = self.schedules[logical_id]
        return self.host.invoke(s.function, scheduled_input(s.input, when))


def _wire(value):
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} in a stream record")
