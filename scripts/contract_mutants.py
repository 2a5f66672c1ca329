"""Each contract check shown failing on a mutant of openapi.yaml (issue: SDK-grade contract):
an operation without its operationId, an inline object schema, a create without its links,
an example that does not validate, a problem code the code base never answers. Each broken
copy must fail the Redocly lint or the contract suite (tests/tests/contract/sdk.rs, reading the
copy through VLS_OPENAPI); the untouched contract must pass both.

Usage: contract_mutants.py (from the repository's root; scripts/contract.sh static first)
"""

import os
import re
import subprocess
import sys

LINT = ["scripts/contract/node_modules/.bin/redocly", "lint", "--config",
        "scripts/contract/redocly.yaml", "--format=summary"]
SUITE = ["cargo", "test", "-p", "vls-tests", "--test", "contract", "--quiet", "sdk::"]


def mutants(text):
    yield "an operation without its operationId", text.replace(
        "      operationId: getAccount\n", "", 1)
    yield "an inline object schema", text.replace(
        'schema: { $ref: "#/components/schemas/CreateOrderRequest" }',
        "schema: { type: object, properties: { agreement_id: { type: string } } }", 1)
    start = text.index("operationId: createOrder")
    links = text.index("          links:", start)
    end = re.compile(r"\n        \"\d{3}\"").search(text, links).start()
    yield "a create without its links", text[:links] + text[end + 1:]
    yield "an example that does not validate", text.replace(
        '"billable_at": "2027-03-15"', '"billable_at": 20270315', 1)
    yield "a code the code base never answers", text.replace(
        "x-codes: [concurrent_update, order_already_invoiced]",
        "x-codes: [concurrent_update, order_already_invoiced, order_lost]", 1)


def fails(path):
    """Which checks refuse the contract at `path`."""
    env = {**os.environ, "VLS_OPENAPI": os.path.abspath(path)}
    refused = []
    if subprocess.run(LINT + [path], capture_output=True).returncode != 0:
        refused.append("lint")
    if subprocess.run(SUITE, env=env, capture_output=True).returncode != 0:
        refused.append("contract suite")
    return refused


def main():
    with open("openapi.yaml") as f:
        text = f.read()
    os.makedirs("target/contract", exist_ok=True)
    if fails("openapi.yaml"):
        sys.exit("the contract itself fails its checks")
    missed = []
    for name, broken in mutants(text):
        if broken == text:
            sys.exit(f"{name}: the mutant changed nothing (the contract moved on?)")
        path = "target/contract/mutant.yaml"
        with open(path, "w") as f:
            f.write(broken)
        refused = fails(path)
        print(f"{name}: refused by {', '.join(refused) or 'NOTHING'}")
        if not refused:
            missed.append(name)
    if missed:
        sys.exit(f"mutants no check refused: {missed}")


if __name__ == "__main__":
    main()
