# The two commands: `make dev` runs the whole API locally, `make test` runs every test.
# Everything they need is installed here, pinned, into .venv; no AWS account is used.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

# The local stack: emulator endpoint, dummy credentials, local token verification.
export AWS_REGION ?= us-east-1
export AWS_DEFAULT_REGION ?= $(AWS_REGION)
export AWS_ACCESS_KEY_ID ?= local
export AWS_SECRET_ACCESS_KEY ?= local
export AWS_EC2_METADATA_DISABLED := true
export AWS_ENDPOINT_URL ?= http://127.0.0.1:4566
export TABLE_NAME ?= vls
export SENDER_EMAIL ?= licensing@vls.example.com
export VLS_AUTH_MODE := local
export LOCAL_JWT_SECRET ?= local-dev-secret
# The emulator's SES has no GetAccount: the local mailer is told its sending rate.
export MAIL_SEND_RATE ?= 50
# The business metrics' namespace (the template names one a stack).
export METRICS_NAMESPACE ?= VolumeLicensing/local
# Locally the dispatcher's sweep stands for the table's stream: it takes every new event at once.
export EVENT_SWEEP_AFTER_SECONDS ?= 0
# Locally the webhook sender's sweep backs the delivery queue up after 10 s (60 s deployed).
export DELIVERY_SWEEP_AFTER_SECONDS ?= 10
# The SES configuration set the mailer sends through (scripts/bootstrap.py creates it).
export SES_CONFIGURATION_SET ?= $(TABLE_NAME)-mail
# The queues in the emulator (scripts/bootstrap.py creates them): the true-up's work, the
# mailer's wake-ups and the webhook sender's deliveries.
export TRUE_UP_QUEUE_URL ?= $(AWS_ENDPOINT_URL)/123456789012/$(TABLE_NAME)-true-up
export MAIL_WAKEUP_QUEUE_URL ?= $(AWS_ENDPOINT_URL)/123456789012/$(TABLE_NAME)-mail-wakeups
export DELIVERY_QUEUE_URL ?= $(AWS_ENDPOINT_URL)/123456789012/$(TABLE_NAME)-deliveries
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

export DEV_PORT ?= 9000
export PUBLIC_BASE_URL ?= http://127.0.0.1:$(DEV_PORT)
# The local OpenID provider the activation pages sign in with (scripts/oidc.sh).
export OIDC_ISSUER ?= http://127.0.0.1:9400
export OIDC_CLIENT_ID ?= vls-local
export OIDC_CLIENT_SECRET ?= vls-local-client-secret

.PHONY: dev test venv stack token user down clean bench bench-true-up bench-mail fuzz release-check release-check-arm64 smoke cognito-user mutants portal-mutants

venv: $(VENV)/.installed

$(VENV)/.installed: scripts/requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-dev.txt
	touch $@

## Emulator and identity provider up (if they are not already), table and mail identity created.
stack: venv
	scripts/emulator.sh up
	scripts/oidc.sh up
	$(PY) scripts/bootstrap.py

## Runs the whole API on http://127.0.0.1:$(DEV_PORT) (Ctrl-C stops the functions; the emulator stays up).
dev: stack
	scripts/dev.sh

## Every test: format, lints, unit, integration (emulator), black-box HTTP (cargo lambda watch), cfn-lint.
test: venv
	scripts/test.sh

## A local token: make token ROLE=partner PARTNER_ID=p1 | ROLE=customer_admin ACCOUNT_ID=acc_… | ROLE=billing_support
token: venv
	@$(PY) scripts/mint_token.py $(ROLE) $(if $(PARTNER_ID),--partner-id $(PARTNER_ID)) $(if $(ACCOUNT_ID),--account-id $(ACCOUNT_ID)) $(if $(SUB),--sub $(SUB))

## A user of the local identity provider who administers an account, to sign in as on the
## activation pages and at /portal: make user ACCOUNT_ID=acc_… [EMAIL=olivia@contoso.com]
## [SUB=olivia] [UNVERIFIED=1]
user: venv
	@$(PY) scripts/register_user.py $(if $(ACCOUNT_ID),--account-id $(ACCOUNT_ID)) $(if $(EMAIL),--email $(EMAIL)) $(if $(SUB),--sub $(SUB)) $(if $(ROLE),--role $(ROLE)) $(if $(PARTNER_ID),--partner-id $(PARTNER_ID)) $(if $(UNVERIFIED),--unverified)

## Release sizes, cold starts and memory of every function beside a hello-world baseline, and the
## DynamoDB requests per route: a table, and target/bench.json.
bench: stack
	cargo lambda build --release --output-format zip
	cargo lambda build --release
	VLS_BENCH_OPERATIONS=$(CURDIR)/target/bench-operations.json \
	  cargo test -p vls-tests --test api --quiet requests_per_route::
	env $$($(PY) scripts/bench_secrets.py) cargo bench -p vls-bench --bench lambda

## What a deployment needs: every function builds for Lambda (release), and the SAM template,
## translated to CloudFormation offline, passes cfn-lint.
release-check: venv
	scripts/release-check.sh

## What the template deploys: every function built for arm64 (cargo-lambda with Zig) and checked
## to be an aarch64 ELF; stops with "aarch64 target missing" where Rust's target is not installed.
release-check-arm64: venv
	scripts/release-check-arm64.sh

## The true-up fanned out over 10,000 due agreements through a proxy that holds each request
## ~8 ms: agreements/s at 1 worker and at the configured number, DynamoDB requests per
## agreement, a redelivery of every message (nothing billed twice); one 20,000-reservation bill.
bench-true-up: stack
	$(PY) scripts/latency_proxy.py --port 4567 --delay-ms 8 & proxy=$$!; \
	  trap 'kill $$proxy' EXIT; \
	  VLS_LATENCY_PROXY=http://127.0.0.1:4567 \
	  cargo test -p vls-tests --test stack --quiet bench_true_up:: -- --ignored --nocapture --test-threads=1

## Bursts of activation mail while SES takes so many a second (2,000 at 14/s, 300 at 3/s):
## drain time, sends taken and throttled (about 9 minutes; BENCH_MAIL=300x3 runs one).
bench-mail: stack
	cargo test -p vls-tests --test stack --quiet bench_mail:: -- --ignored --nocapture

## schemathesis with a long budget against a running `make dev` (port $(DEV_PORT)).
fuzz: venv
	scripts/fuzz.sh http://127.0.0.1:$(DEV_PORT) 200

## A user of the deployed stack's Cognito pool, with the custom attributes the API reads (uses
## your AWS credentials, not the local stack's):
## make cognito-user POOL=<UserPoolId> EMAIL=… ROLE=billing_support [ACCOUNT_ID=…] [PARTNER_ID=…]
cognito-user: venv
	@env -u AWS_ENDPOINT_URL -u AWS_EC2_METADATA_DISABLED \
	  $(if $(filter local,$(AWS_ACCESS_KEY_ID)),-u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY) \
	  $(PY) scripts/cognito_user.py \
	  --pool-id "$(POOL)" --email "$(EMAIL)" --role "$(ROLE)" \
	  $(if $(ACCOUNT_ID),--account-id $(ACCOUNT_ID)) $(if $(PARTNER_ID),--partner-id $(PARTNER_ID))

## A read-only smoke test of a deployed stack: make smoke BASE=https://… [TOKEN=<ID token>]
smoke: venv
	@$(PY) scripts/smoke.py "$(BASE)" $(if $(TOKEN),--token "$(TOKEN)")

## Each deployment fact the template stack guards, broken in a scratch copy (the claim mapping,
## DeleteItem, an environment variable, a route, the audience, a secret in an Environment), and
## the suite shown failing on each (about 10 minutes; the copy builds once).
mutants: stack
	$(PY) scripts/mutants.py

## What the customer's pages guard, broken one at a time in a scratch copy of HEAD, and the
## in-process test that guards each shown failing: make portal-mutants [ONLY="origin check"]
portal-mutants: stack
	$(PY) scripts/portal_mutants.py

## Stops the emulator and identity provider that `make dev`/`make stack` started.
down:
	scripts/emulator.sh down
	scripts/oidc.sh down

clean: down
	rm -rf .run
