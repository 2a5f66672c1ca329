#!/usr/bin/env bash
# `make test`: brings up what it needs, runs every check, stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=.run
mkdir -p "$RUN"
TEST_PORT=${TEST_PORT:-9001}
started=()
watch_pid=""
stack_pid=""
loop_pid=""
worker_pid=""
wakeup_pid=""
delivery_pid=""

cleanup() {
  [ -n "$loop_pid" ] && kill "$loop_pid" 2>/dev/null || true
  [ -n "$worker_pid" ] && kill "$worker_pid" 2>/dev/null || true
  [ -n "$wakeup_pid" ] && kill "$wakeup_pid" 2>/dev/null || true
  [ -n "$delivery_pid" ] && kill "$delivery_pid" 2>/dev/null || true
  stop_stack
  if [ -n "$watch_pid" ]; then
    kill -- "-$watch_pid" 2>/dev/null || kill "$watch_pid" 2>/dev/null || true
    wait "$watch_pid" 2>/dev/null || true
  fi
  for s in "${started[@]}"; do
    "$s" down >/dev/null || true
  done
}
trap cleanup EXIT

# Stops the template stack: SIGTERM, then, if it is still there after 30 s, SIGKILL, so that a
# stuck stack fails nothing and never keeps the run waiting.
stop_stack() {
  [ -n "$stack_pid" ] || return 0
  kill "$stack_pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$stack_pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$stack_pid" 2>/dev/null; then
    echo "the template stack did not stop within 30 s: killed"
    kill -9 "$stack_pid" 2>/dev/null || true
  fi
  wait "$stack_pid" 2>/dev/null || true
  stack_pid=""
}

t0=$(date +%s)
t_step=$t0
# Each step says how long the one before it took, so a slow run shows where its time went.
step() {
  local now; now=$(date +%s)
  [ "$now" -gt "$t0" ] && printf '   (%ss)\n' "$(( now - t_step ))"
  t_step=$now
  printf '\n== %s\n' "$*"
}

# Starts a service of the stack; stops it at the end only if this run started it.
start() {
  local name=$1 script=$2 out
  if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
    "$script" up
  else
    out=$("$script" up); echo "$out"
    case "$out" in *started*) started+=("$script") ;; esac
  fi
}

step "emulator"
start moto scripts/emulator.sh
.venv/bin/python scripts/bootstrap.py

step "identity provider (oidc-provider-mock on 127.0.0.1:9400)"
start oidc scripts/oidc.sh

step "cargo fmt --check, and no line over 100 columns (rustfmt cannot break strings)"
cargo fmt --all -- --check
if git ls-files -z '*.rs' '*.toml' | LC_ALL=C.UTF-8 xargs -0 grep -nE '^.{101,}'; then
  echo "the lines above are over 100 columns"; exit 1
fi

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

# The emulator answers one request at a time: the API suite's two longest modules run on a
# second emulator beside the first, at the same time as the rest.
SECOND_PORT=${SECOND_EMULATOR_PORT:-4568}
second_emulator() { EMULATOR_PORT=$SECOND_PORT scripts/emulator.sh "$@"; }
on_second() {
  AWS_ENDPOINT_URL="http://127.0.0.1:$SECOND_PORT" \
    TRUE_UP_QUEUE_URL="http://127.0.0.1:$SECOND_PORT/123456789012/$TABLE_NAME-true-up" \
    MAIL_WAKEUP_QUEUE_URL="http://127.0.0.1:$SECOND_PORT/123456789012/$TABLE_NAME-mail-wakeups" \
    "$@"
}
step "unit and integration tests (emulators at $AWS_ENDPOINT_URL and 127.0.0.1:$SECOND_PORT)"
start "moto-$SECOND_PORT" second_emulator
on_second .venv/bin/python scripts/bootstrap.py
cargo test --workspace --quiet --no-run
SECOND_MODULES=(requests_per_route:: reservations::)
rm -f "$RUN/observed-codes.txt"
export VLS_OBSERVED_CODES="$PWD/$RUN/observed-codes.txt"
on_second cargo test -p vls-tests --test api --quiet -- "${SECOND_MODULES[@]}" \
  >"$RUN/api-second.log" 2>&1 &
second_pid=$!
skips=()
for m in "${SECOND_MODULES[@]}"; do skips+=(--skip "$m"); done
cargo test --workspace --quiet --exclude vls-tests
cargo test -p vls-tests --quiet --lib --test contract --test stack
cargo test -p vls-tests --test api --quiet -- "${skips[@]}"
if ! wait "$second_pid"; then cat "$RUN/api-second.log"; exit 1; fi
grep -E "^test result|running" "$RUN/api-second.log"
unset VLS_OBSERVED_CODES
.venv/bin/python scripts/codes_seen.py openapi.yaml "$RUN/observed-codes.txt"

step "the contract as SDKs see it: lint, the SDK input, Python/TypeScript/Rust clients, reference page"
scripts/contract.sh static
.venv/bin/python scripts/contract_mutants.py

step "browser for the activation page test (Debian's chromium + chromium-driver)"
scripts/browser-deps.sh

step "black-box HTTP and browser tests through cargo lambda watch on 127.0.0.1:$TEST_PORT"
cargo build --workspace --exclude vls-bench --bins --quiet
PUBLIC_BASE_URL="http://127.0.0.1:$TEST_PORT" \
  setsid cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$TEST_PORT" >"$RUN/watch.log" 2>&1 &
watch_pid=$!
scripts/sweep-loop.sh "$TEST_PORT" &
loop_pid=$!
.venv/bin/python scripts/queue_worker.py --port "$TEST_PORT" 2>>"$RUN/queue-worker.log" &
worker_pid=$!
.venv/bin/python scripts/queue_worker.py --port "$TEST_PORT" --function activation-mailer \
  --queue-env MAIL_WAKEUP_QUEUE_URL 2>>"$RUN/queue-worker.log" &
wakeup_pid=$!
.venv/bin/python scripts/queue_worker.py --port "$TEST_PORT" --function webhook-sender \
  --queue-env DELIVERY_QUEUE_URL 2>>"$RUN/queue-worker.log" &
delivery_pid=$!
for i in $(seq 1 600); do
  code=$(curl -s -o /dev/null -w "%{http_code}" -X POST "http://127.0.0.1:$TEST_PORT/agreements" || true)
  [ "$code" = 401 ] && break
  if ! kill -0 "$watch_pid" 2>/dev/null; then cat "$RUN/watch.log"; exit 1; fi
  sleep 0.5
done
[ "$code" = 401 ] || { echo "cargo lambda watch did not answer (last: $code)"; tail -50 "$RUN/watch.log"; exit 1; }
VLS_BASE_URL="http://127.0.0.1:$TEST_PORT" VLS_WATCH_LOG="$PWD/$RUN/watch.log" \
  cargo test -p vls-tests --test stack --quiet -- --ignored --test-threads=1 --nocapture \
    blackbox:: portal_pages::

step "the generated Python and Rust clients walk the stack on 127.0.0.1:$TEST_PORT"
scripts/contract.sh run "http://127.0.0.1:$TEST_PORT"

step "kill drill: order-intake killed mid-request under its own cargo lambda watch, then a fresh one"
cargo test -p vls-tests --test stack --quiet kill_drill:: -- --ignored

step "the template stack's own parts (scripts/stack: IAM, Runtime API, gateway, issuer), and the emulator's"
.venv/bin/python -m pytest -q -p no:cacheprovider scripts/stack/tests scripts/tests

# The functions wired from the translated template as AWS wires them (scripts/stack/run.py),
# with the black-box tests run against it; then what it saw: every AWS call allowed by its
# function's role, every route reached, nothing in any environment the template did not set.
template_stack() {
  local shape=$1 port=$2 desc="$RUN/stack-$1.json" log="$RUN/stack-$1.log"
  rm -f "$desc"; : >"$log"
  .venv/bin/python -m scripts.stack.run --shape "$shape" --base-port "$port" \
    --describe "$desc" --log "$log" >>"$log" 2>&1 &
  stack_pid=$!
  for i in $(seq 1 120); do
    [ -f "$desc" ] && break
    kill -0 "$stack_pid" 2>/dev/null || { tail -40 "$log"; exit 1; }
    sleep 0.5
  done
  [ -f "$desc" ] || { echo "the template stack did not come up"; tail -40 "$log"; exit 1; }
  field() { .venv/bin/python -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$desc" "$1"; }
  VLS_TEMPLATE_STACK="$PWD/$desc" VLS_BASE_URL="$(field api)" TABLE_NAME="$(field table)" \
    TRUE_UP_QUEUE_URL="$(field true_up_queue)" \
    cargo test -p vls-tests --test stack --quiet -- --ignored --test-threads=1 \
      blackbox::the_walkthrough_over_http blackbox::remap_and_cancellation \
      blackbox::the_licence_guard_over_http blackbox::activation_over_http_with_the_mailer \
      blackbox::the_osm_signs_in_and_associates blackbox::the_true_up_job_as_a_scheduled_event \
      blackbox::the_agreement_s_other_routes blackbox::a_remap_and_an_amendment \
      blackbox::a_partner_s_webhook_endpoint portal_pages:: \
      template_stack::
  # The read-only smoke test of docs/deploying.md, as a person runs it after a deploy, with a token of it.
  token=$(.venv/bin/python - "$desc" <<'PY'
import json, sys, requests
d = json.load(open(sys.argv[1]))
claims = {"sub": "smoke", d["claims"]["role"]: "billing_support"}
r = requests.post(d["issuer"] + "/mint", json={"claims": claims, "audience": d["audience"]})
print(r.json()["token"])
PY
)
  .venv/bin/python scripts/smoke.py "$(field api)" --token "$token"
  stop_stack
}
.venv/bin/python scripts/sam_translate.py template.yaml target/template.cfn.json

step "the template stack, deployed with its defaults (its own user pool: Cognito-shaped tokens)"
template_stack cognito 9010

step "the template stack with an issuer of its own and claim names unlike either default"
template_stack byo 9020

step "schemathesis against the running stack, from openapi.yaml (short budget; make fuzz for a long one)"
scripts/fuzz.sh "http://127.0.0.1:$TEST_PORT" "${FUZZ_EXAMPLES:-5}"

step "cfn-lint: template.yaml, and the CloudFormation aws-sam-translator makes of it (offline)"
.venv/bin/cfn-lint template.yaml target/template.cfn.json

step "openapi.yaml is valid OpenAPI 3.1 (and matches the routes: tests/tests/contract/contract.rs)"
.venv/bin/openapi-spec-validator openapi.yaml

step "done"
printf '\nall checks passed in %ss\n' "$(( $(date +%s) - t0 ))"
