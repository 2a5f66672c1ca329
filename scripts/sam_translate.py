#!/usr/bin/env python3
"""Translates template.yaml (AWS SAM) to the CloudFormation it deploys as, offline.

The translator wants code locations in S3 and, for managed policy names, a lookup in IAM;
neither is needed to check the result: CodeUri becomes an s3:// placeholder and the
managed policy map is empty (the template names no managed policy).
Usage: sam_translate.py template.yaml OUT.json
"""
import json
import sys

import yaml
from samtranslator.translator.transform import transform


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form intrinsics (!Ref, !Sub, !GetAtt …) as their long form."""


def _intrinsic(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


class NoManagedPolicies:
    def load(self):
        return {}


def main():
    src, out = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        template = yaml.load(f, Loader=CfnLoader)
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in props:
            props["CodeUri"] = "s3://deployment-bucket/vls/function.zip"
    cfn = transform(template, {}, NoManagedPolicies())
    with open(out, "w", encoding="utf-8") as f:
        json.dump(cfn, f, indent=2, sort_keys=True)
    kinds = sorted({r["Type"] for r in cfn["Resources"].values()})
    print(f"{src} → {out}: {len(cfn['Resources'])} resources ({', '.join(kinds)})")


if __name__ == "__main__":
    main()
