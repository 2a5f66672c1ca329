#!/usr/bin/env bash
# `make dev` after the stack is up: builds every function, then serves them all on one base
# URL with `cargo lambda watch`, drives the stream's readers (the activation mailer and the
# webhook dispatcher, scripts/sweep-loop.sh)
# and the true-up workers, the mailer's wake-ups and the webhook deliveries from the
# emulator's queues
# (scripts/queue_worker.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${DEV_PORT:-9000}
mkdir -p .run
cargo build --workspace --bins
REFERENCE_PORT=${REFERENCE_PORT:-9002}
scripts/contract.sh reference
.venv/bin/python -m http.server "$REFERENCE_PORT" --bind 127.0.0.1 --directory target/contract \
  >>.run/reference.log 2>&1 &
reference=$!
scripts/sweep-loop.sh "$PORT" &
loop=$!
.venv/bin/python scripts/queue_worker.py --port "$PORT" 2>>.run/queue-worker.log &
worker=$!
.venv/bin/python scripts/queue_worker.py --port "$PORT" --function activation-mailer \
  --queue-env MAIL_WAKEUP_QUEUE_URL 2>>.run/queue-worker.log &
wakeups=$!
.venv/bin/python scripts/queue_worker.py --port "$PORT" --function webhook-sender \
  --queue-env DELIVERY_QUEUE_URL 2>>.run/queue-worker.log &
deliveries=$!
trap 'kill $loop $worker $wakeups $deliveries $reference 2>/dev/null || true' EXIT INT TERM
echo "serving every function on http://127.0.0.1:$PORT (activation mail is swept every second;"
echo "the true-up's queue is worked as it fills); the API reference on"
echo "http://127.0.0.1:$REFERENCE_PORT/reference.html"
cargo lambda watch -A 127.0.0.1 -P "$PORT"
