"""Feeds a function from an emulator queue on the local stack, as Lambda's SQS event source
does in AWS: the true-up's workers (TRUE_UP_QUEUE_URL, function true-up) and the mailer's
wake-ups (MAIL_WAKEUP_QUEUE_URL, function activation-mailer).

`cargo lambda watch` cannot poll a queue, so this does: it receives up to ten messages from
the queue, invokes the real function through watch with the SQS event Lambda would send, and
deletes the messages the answer does not name in `batchItemFailures`. A failed invocation deletes nothing: the messages come back after the
queue's visibility timeout, and after three receives go to the dead-letter queue, as in AWS.
Short polls only: the emulator handles one request at a time, and a long poll would hold it.
"""
import argparse
import json
import os
import sys
import time
import urllib.request

import boto3


def event(queue_arn, messages):
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": os.environ.get("AWS_REGION", "us-east-1"),
            }
            for m in messages
        ]
    }


def invoke(port, function, payload):
    """The function's answer, or None when the invocation failed."""
    url = f"http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations"
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=900) as resp:
            answer = json.loads(resp.read() or b"null")
    except (OSError, ValueError) as e:
        print(f"invocation failed: {e}", file=sys.stderr, flush=True)
        return None
    if not isinstance(answer, dict) or "errorType" in answer:
        print(f"invocation failed: {answer}", file=sys.stderr, flush=True)
        return None
    return answer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", default="9000")
    p.add_argument("--function", default="true-up")
    p.add_argument("--queue-env", default="TRUE_UP_QUEUE_URL")
    p.add_argument("--interval", type=float, default=0.5)
    a = p.parse_args()
    url = os.environ[a.queue_env]
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    while True:
        try:
            got = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
            ).get("Messages", [])
        except Exception as e:  # the emulator restarting: try again shortly
            print(f"receive failed: {e}", file=sys.stderr, flush=True)
            got = []
        if not got:
            time.sleep(a.interval)
            continue
        answer = invoke(a.port, a.function, event(arn, got))
        if answer is None:
            continue
        failed = {f.get("itemIdentifier") for f in answer.get("batchItemFailures", [])}
        done = [m for m in got if m["MessageId"] not in failed]
        if not done:
            continue
        try:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        except Exception as e:  # not deleted: offered again after the visibility timeout
            print(f"delete failed: {e}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
