#!/usr/bin/env bash
# Fuzzes the running local stack from openapi.yaml with schemathesis: no 5xx, every response
# conforms to its documented schema, status code and content type. One pass per caller
# (billing support, a registered partner, a licensing specialist), since most routes refuse
# other roles. `fuzz.sh <base url> <examples per operation>`.
#
# Positive mode only: schemathesis' negative mode sends bodies that are not UTF-8, which
# `cargo lambda watch` itself answers with a plain-text 500 before any function runs (API
# Gateway hands such bodies to the function base64-encoded). Our handling of those bodies
# is tested in-process (tests/tests/api/failure_drills.rs).
#
# Through scripts/watch_retry_proxy.py: a 500 that is watch's own (it answered a function's
# large response before reading it; see that script) is sent again once and counted below;
# every answer of our functions passes through as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
WATCH=${1:-http://127.0.0.1:9000}
EXAMPLES=${2:-10}
PROXY_PORT=${FUZZ_PROXY_PORT:-9004}
mkdir -p .run
.venv/bin/python scripts/watch_retry_proxy.py --port "$PROXY_PORT" --upstream "$WATCH" \
  2>.run/fuzz-watch-retries.log &
proxy=$!
# The fuzz partner's webhook endpoints point at 127.0.0.1:9599: a receiver answers 200 there,
# so their deliveries finish at the first attempt instead of being retried through the run.
.venv/bin/python scripts/webhook_receiver.py --port 9599 >.run/fuzz-receiver.log 2>&1 &
receiver=$!
trap 'kill $proxy $receiver 2>/dev/null || true' EXIT
BASE="http://127.0.0.1:$PROXY_PORT"
for i in $(seq 1 50); do
  curl -s -o /dev/null "$BASE/" && break
  sleep 0.1
done
BS=$(.venv/bin/python scripts/mint_token.py billing_support)
curl -fsS -o /dev/null -X PUT "$BASE/partners/fuzz-partner" -H "Authorization: Bearer $BS" \
  -d '{"name":"Fuzz LSP","contact":{"name":"F","email":"f@fabrikam.com","phone":"1"}}'
status=0
for role in billing_support partner licensing_specialist; do
  args=("$role")
  [ "$role" = partner ] && args+=(--partner-id fuzz-partner)
  token=$(.venv/bin/python scripts/mint_token.py "${args[@]}")
  log=".run/fuzz-$role.log"
  if .venv/bin/schemathesis run openapi.yaml --url "$BASE" -H "Authorization: Bearer $token" \
      -n "$EXAMPLES" -m positive --phases examples,fuzzing --generation-deterministic -w 1 \
      --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance \
      --no-color >"$log" 2>&1; then
    echo "fuzz as $role: $(grep -E '[0-9]+ generated' "$log" | tr -s ' ')"
  else
    echo "fuzz as $role FAILED (see $log):"; sed -n '/FAILURES/,$p' "$log" | head -60
    status=1
  fi
done

# The SDK's contract (no pages) with the stateful phase: creates chained through the
# contract's links, each operation called by a role that may call it, with the data that
# reaches its core (scripts/fuzz_hooks.py). Schemathesis names every operation that only ever
# answered 404 (no data reached it): none may.
account() {
  curl -fsS -X POST "$BASE/accounts" -H "Authorization: Bearer $BS" -d "$1" \
    | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
ACC=$(account '{"name":"Fuzz Contoso","domain":"contoso.com","online_services":[{"product":"office365","quantity":300}]}')
OTHER=$(account '{"name":"Fuzz Fabrikam","domain":"fabrikam.com","online_services":[]}')
[ -f target/contract/sdk.yaml ] || .venv/bin/python scripts/contract/sdk_input.py openapi.yaml target/contract
log=.run/fuzz-stateful.log
if FUZZ_BASE="$BASE" FUZZ_ACCOUNT="$ACC" FUZZ_OTHER_ACCOUNT="$OTHER" FUZZ_BS="$BS" \
    FUZZ_PARTNER=$(.venv/bin/python scripts/mint_token.py partner --partner-id fuzz-partner) \
    FUZZ_SPECIALIST=$(.venv/bin/python scripts/mint_token.py licensing_specialist) \
    FUZZ_ADMIN=$(.venv/bin/python scripts/mint_token.py customer_admin --account-id "$ACC") \
    PYTHONPATH=scripts SCHEMATHESIS_HOOKS=fuzz_hooks \
    .venv/bin/schemathesis --config-file scripts/fuzz-stateful.toml run target/contract/sdk.yaml \
      --url "$BASE" -n "${STATEFUL_EXAMPLES:-25}" -m positive --phases examples,fuzzing,stateful \
      --generation-deterministic -w 1 \
      --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance \
      --no-color >"$log" 2>&1; then
  echo "stateful: $(grep -E 'Scenarios|API Links|[0-9]+ generated' "$log" | tr -s ' ' | paste -sd ' ')"
  if grep -q "returned 404" "$log"; then
    echo "stateful: operations that only ever answered 404:"
    sed -n '/Missing test data/,/^💡/p' "$log"
    status=1
  fi
else
  echo "stateful FAILED (see $log):"; sed -n '/FAILURES/,$p' "$log" | head -60
  status=1
fi
echo "watch's own 500s sent again: $(grep -c . .run/fuzz-watch-retries.log || true)"
exit $status
