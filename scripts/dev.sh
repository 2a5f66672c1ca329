#!/usr/bin/env bash
# `make dev` after the stack is up: builds every function, then serves them all on one base
# URL with `cargo lambda watch`, and drives the activation mailer (scripts/mailer-loop.sh)
# and the true-up workers and the mailer's wake-ups from the emulator's queues
# (scripts/queue_worker.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${DEV_PORT:-9000}
mkdir -p .run
cargo build --workspace --bins
scripts/mailer-loop.sh "$PORT" &
loop=$!
.venv/bin/python scripts/queue_worker.py --port "$PORT" 2>>.run/queue-worker.log &
worker=$!
.venv/bin/python scripts/queue_worker.py --port "$PORT" --function activation-mailer \
  --queue-env MAIL_WAKEUP_QUEUE_URL 2>>.run/queue-worker.log &
wakeups=$!
trap 'kill $loop $worker $wakeups 2>/dev/null || true' EXIT INT TERM
echo "serving every function on http://127.0.0.1:$PORT (activation mail is swept every second;"
echo "the true-up's queue is worked as it fills)"
cargo lambda watch -A 127.0.0.1 -P "$PORT"
