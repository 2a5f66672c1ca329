#!/usr/bin/env bash
# Drives the table's stream readers and the webhook sender on the local stack (the activation
# mailer, the webhook dispatcher and sender) with a sweep every second: scripts/sweep_loop.py.
set -u
cd "$(dirname "$0")/.."
PORT=${1:-9000}
exec .venv/bin/python -m scripts.sweep_loop --port "$PORT" --interval "${SWEEP_INTERVAL:-1}" \
  2>>.run/sweep-loop.log
