"""What openapi-python-client made of the SDK input, as a new user would judge it: no warning
in its output, no `default` module (every operation is under its tag) and no synthesised name
(every model is one of the contract's named schemas).

Usage: check_python_client.py SDK_YAML CLIENT_DIR GENERATOR_OUTPUT_FILE
"""

import os
import re
import sys

import yaml


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def main():
    sdk, client, log = sys.argv[1], sys.argv[2], sys.argv[3]
    problems = []
    with open(log) as f:
        output = f.read()
    if re.search(r"warning|error", output, re.IGNORECASE):
        problems.append(f"the generator warned:\n{output}")
    with open(sdk) as f:
        doc = yaml.safe_load(f)
    package = os.path.join(client, "vls_client")
    api = os.path.join(package, "api")
    tags = {t["name"].replace("-", "_") for t in doc["tags"]}
    modules = {d for d in os.listdir(api) if not d.startswith("_")}
    if "default" in modules:
        problems.append("a `default` module: an operation without a tag")
    if modules != tags:
        problems.append(f"modules {sorted(modules)} are not the tags {sorted(tags)}")
    named = {snake(n) for n in doc["components"]["schemas"]}
    models = {m[:-3] for m in os.listdir(os.path.join(package, "models")) if m.endswith(".py")}
    synthesised = sorted(models - named - {"__init__"})
    if synthesised:
        problems.append(f"synthesised names: {synthesised}")
    if problems:
        sys.exit("\n".join(problems))
    print(f"python SDK: {len(modules)} tag modules, {len(models) - 1} models, all named")


if __name__ == "__main__":
    main()
