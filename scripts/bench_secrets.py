#!/usr/bin/env python3
"""The two key secrets `make bench` gives the functions, created in the emulator as the
template generates them ({"current", "previous"}); prints the exports for the bench."""
import json
import secrets

import boto3


def arn(client, name: str) -> str:
    value = json.dumps({"current": secrets.token_urlsafe(48), "previous": ""})
    try:
        return client.create_secret(Name=name, SecretString=value)["ARN"]
    except client.exceptions.ResourceExistsException:
        return client.describe_secret(SecretId=name)["ARN"]


def main():
    client = boto3.client("secretsmanager")
    print(f"VLS_BENCH_COOKIE_KEY_ARN={arn(client, 'bench-cookie-key')}")
    print(f"VLS_BENCH_CURSOR_KEY_ARN={arn(client, 'bench-cursor-key')}")


if __name__ == "__main__":
    main()
