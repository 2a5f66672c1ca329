"""How much of the contract's `x-codes` the in-process API suite made a handler answer: per
operation, the (status, code) pairs listed and those seen (the file the suite appends to with
VLS_OBSERVED_CODES set). Every code specific to its operation must have been answered by it
(the generic ones — 500, 503, 413, a malformed body or key, a lost race — are tested on some
routes, not on each), except the few noted below with why; a pair seen but not listed already
failed the test that saw it.

Usage: codes_seen.py openapi.yaml OBSERVED_FILE
"""

import sys

import yaml

METHODS = {"get", "put", "post", "delete", "patch"}


# Listed, answered by the code, and not reached by a test, with why.
UNREACHED = {
    # The preview's total beyond what an order line holds (1,000,000 a line): it takes more
    # than a million reserved seats on one agreement.
    ("GET /agreements/{agreement_id}/true-up-preview", 409, "total_out_of_range"),
    # Defensive: an agreement bound to its Online Services account is associated when it is
    # created, so no usable link of it ever exists.
    ("POST /activate/{token}", 409, "agreement_bound_to_online_services"),
}


def listed(doc):
    pairs = set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS or "pages" in op.get("tags", []):
                continue
            for status, response in op["responses"].items():
                if "$ref" in response:
                    response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                for code in response.get("x-codes", []):
                    pairs.add((f"{method.upper()} {path}", int(status), code))
    return pairs


def main():
    with open(sys.argv[1]) as f:
        doc = yaml.safe_load(f)
    contract = listed(doc)
    seen = set()
    with open(sys.argv[2]) as f:
        for line in f:
            op, status, code = line.rstrip("\n").split("\t")
            seen.add((op, int(status), code))
    covered = contract & seen
    print(f"x-codes: {len(contract)} (operation, status, code) listed, {len(covered)} answered "
          f"in the API suite ({100 * len(covered) // max(len(contract), 1)}%)")
    unseen = sorted(contract - seen)
    generic = {"internal_error", "unavailable", "payload_too_large", "lists_unavailable",
               "invalid_idempotency_key", "malformed_json", "invalid_type", "missing_field",
               "concurrent_update", "idempotency_key_reused"}
    specific = [p for p in unseen if p[2] not in generic and p not in UNREACHED]
    print(f"  not answered: {len(unseen)}: generic ones, {len(UNREACHED)} noted in "
          f"scripts/codes_seen.py, and {len(specific)} more")
    for op, status, code in specific:
        print(f"    NOT ANSWERED: {op} {status} {code}")
    if specific:
        sys.exit("a code the contract lists for an operation was never answered by it in the "
                 "API suite: test it, or take it out of the operation's x-codes")


if __name__ == "__main__":
    main()
