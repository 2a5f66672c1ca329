#!/usr/bin/env bash
# Drives the table's stream readers and the webhook sender on the local stack: the activation
# mailer, the webhook dispatcher and sender. `cargo lambda watch` cannot feed them the table's
# stream, so this invokes the real functions, through watch, with a scheduled ("sweep") event
# every second: pending mail is sent, partners' new events are sequenced
# (EVENT_SWEEP_AFTER_SECONDS=0 here) and their due deliveries sent, within about a second.
set -u
cd "$(dirname "$0")/.."
PORT=${1:-9000}
INTERVAL=${SWEEP_INTERVAL:-1}
while true; do
  for function in activation-mailer webhook-dispatcher webhook-sender; do
    cargo lambda invoke "$function" --data-file scripts/events/schedule.json \
      -A 127.0.0.1 -P "$PORT" >/dev/null 2>>.run/sweep-loop.log || true
  done
  sleep "$INTERVAL"
done
