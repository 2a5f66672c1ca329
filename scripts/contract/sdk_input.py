"""The contract as SDK generators take it, derived from openapi.yaml (never edited by hand):

- sdk.yaml: the contract minus the operations tagged `pages` (the HTML a browser opens), and
  minus what only they used;
- sdk-3.0.yaml (and .json): the same in OpenAPI 3.0 for generators that read nothing newer
  (progenitor): `type: [T, "null"]` and `oneOf: [X, {type: "null"}]` become `nullable`,
  3.1-only members go, and each refusal is one Problem body (progenitor types one error
  shape).

Usage: sdk_input.py openapi.yaml OUT_DIR
"""

import copy
import json
import sys

import yaml

METHODS = {"get", "put", "post", "delete", "patch"}


def without_pages(doc):
    doc = copy.deepcopy(doc)
    for path in list(doc["paths"]):
        item = doc["paths"][path]
        for method in [m for m in item if m in METHODS]:
            if "pages" in item[method].get("tags", []):
                del item[method]
        if not any(m in METHODS for m in item):
            del doc["paths"][path]
    doc["tags"] = [t for t in doc["tags"] if t["name"] != "pages"]
    drop_unused(doc)
    return doc


def refs(node, found):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                found.add(v)
            else:
                refs(v, found)
    elif isinstance(node, list):
        for v in node:
            refs(v, found)


def drop_unused(doc):
    """Removes components nothing refers to any more, until none is left."""
    while True:
        found = set()
        rest = {k: v for k, v in doc.items() if k != "components"}
        refs(rest, found)
        for kind, entries in doc["components"].items():
            for name, entry in entries.items():
                inner = set()
                refs(entry, inner)
                found |= {r for r in inner if r != f"#/components/{kind}/{name}"}
        removed = False
        for kind in ("schemas", "parameters", "responses", "headers"):
            for name in list(doc["components"].get(kind, {})):
                if f"#/components/{kind}/{name}" not in found:
                    del doc["components"][kind][name]
                    removed = True
        if not removed:
            return


def to_30(node):
    """OpenAPI 3.1 schema forms to 3.0's."""
    if isinstance(node, list):
        return [to_30(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: to_30(v) for k, v in node.items()}
    t = node.get("type")
    if isinstance(t, list):
        kinds = [k for k in t if k != "null"]
        node["type"] = kinds[0]
        if "null" in t:
            node["nullable"] = True
    for key in ("oneOf", "anyOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            if len(rest) == 1:
                del node[key]
                node.update({"allOf": rest, "nullable": True})
    if node.get("type") == "null":
        node = {"nullable": True}
    if "name" in node and "identifier" in node:
        del node["identifier"]  # a licence's SPDX identifier is 3.1's
    return node


def one_error_shape(doc):
    """Progenitor types one error body per operation, read as `application/json`: every
    refusal is a Problem there, and an answer only API Gateway gives (a 429 `{"message"}`)
    is left to its unexpected-response error."""
    for item in doc["paths"].values():
        for method in [m for m in item if m in METHODS]:
            responses = item[method]["responses"]
            for status in list(responses):
                if not str(status).isdigit() or int(status) < 400:
                    continue
                response = resolve(doc, responses[status])
                problem = response.get("content", {}).get("application/problem+json")
                if problem is None:
                    del responses[status]
                    continue
                responses[status] = {
                    "description": response["description"],
                    "content": {"application/json": {"schema": problem["schema"]}},
                }
    drop_unused(doc)


def resolve(doc, response):
    ref = response.get("$ref")
    if ref is None:
        return response
    return doc["components"]["responses"][ref.rsplit("/", 1)[1]]


def main():
    source, out = sys.argv[1], sys.argv[2]
    with open(source) as f:
        doc = yaml.safe_load(f)
    sdk = without_pages(doc)
    with open(f"{out}/sdk.yaml", "w") as f:
        yaml.safe_dump(sdk, f, sort_keys=False, allow_unicode=True)
    old = to_30(copy.deepcopy(sdk))
    old["openapi"] = "3.0.3"
    one_error_shape(old)
    with open(f"{out}/sdk-3.0.yaml", "w") as f:
        yaml.safe_dump(old, f, sort_keys=False, allow_unicode=True)
    with open(f"{out}/sdk-3.0.json", "w") as f:
        json.dump(old, f, indent=1, default=str)
    ops = sum(1 for item in sdk["paths"].values() for m in item if m in METHODS)
    print(json.dumps({"operations": ops, "schemas": len(sdk["components"]["schemas"])}))


if __name__ == "__main__":
    main()
