#!/usr/bin/env bash
# Drives the activation mailer on the local stack. `cargo lambda watch` cannot feed it the
# table's stream, so this invokes the real function, through watch, with a scheduled
# ("sweep") event every second: whatever is pending and due is sent within about a second.
set -u
cd "$(dirname "$0")/.."
PORT=${1:-9000}
INTERVAL=${MAILER_INTERVAL:-1}
while true; do
  cargo lambda invoke activation-mailer --data-file scripts/events/schedule.json \
    -A 127.0.0.1 -P "$PORT" >/dev/null 2>>.run/mailer-loop.log || true
  sleep "$INTERVAL"
done
