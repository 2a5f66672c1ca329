"""How much of the contract's `x-codes` the in-process API suite made a handler answer: per
operation, the (status, code) pairs listed and those seen (the file the suite appends to with
VLS_OBSERVED_CODES set). Listed-but-unseen pairs are printed, for the reader; a pair seen but
not listed already failed the test that saw it.

Usage: codes_seen.py openapi.yaml OBSERVED_FILE
"""

import sys

import yaml

METHODS = {"get", "put", "post", "delete", "patch"}


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
    specific = [p for p in unseen if p[2] not in generic]
    print(f"  not answered: {len(unseen)}, of which {len(specific)} specific to their operation:")
    for op, status, code in specific:
        print(f"    {op} {status} {code}")


if __name__ == "__main__":
    main()
