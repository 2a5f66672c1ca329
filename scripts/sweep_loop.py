"""Drives the table's stream readers and the webhook sender on the local stack, as their
streams and schedules do in AWS: the activation mailer, the webhook dispatcher and the webhook
sender. `cargo lambda watch` cannot feed a function the table's stream, so this invokes the
real functions through watch with a scheduled ("sweep") event every second: pending mail is
sent, partners' new events are sequenced (EVENT_SWEEP_AFTER_SECONDS=0 locally) and their due
deliveries sent, within about a second. One process, over HTTP: nothing is started per sweep.

Usage: python -m scripts.sweep_loop [--port 9000] [--interval 1]
"""
import argparse
import json
import time

from scripts.queue_worker import invoke

FUNCTIONS = ["activation-mailer", "webhook-dispatcher", "webhook-sender"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", default="9000")
    p.add_argument("--interval", type=float, default=1.0)
    args = p.parse_args()
    with open("scripts/events/schedule.json") as f:
        schedule = json.load(f)
    while True:
        for function in FUNCTIONS:
            invoke(args.port, function, schedule)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
