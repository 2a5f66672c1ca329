"""Mints an HS256 token the local stack accepts (iss vls-local, aud vls).

    python scripts/mint_token.py ROLE [--partner-id P] [--account-id ACC] [--sub S] [--ttl SECONDS]

ROLE is partner, customer_admin, billing_support or licensing_specialist. The secret is
LOCAL_JWT_SECRET (default local-dev-secret). Standard library only.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import time


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(claims: dict, secret: str) -> str:
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("role", choices=["partner", "customer_admin", "billing_support", "licensing_specialist"])
    p.add_argument("--partner-id")
    p.add_argument("--account-id")
    p.add_argument("--sub")
    p.add_argument("--ttl", type=int, default=3600)
    a = p.parse_args()
    if a.role == "partner" and not a.partner_id:
        p.error("a partner token needs --partner-id")
    if a.role == "customer_admin" and not a.account_id:
        p.error("a customer_admin token needs --account-id")
    claims = {
        "sub": a.sub or f"{a.role}-dev",
        "role": a.role,
        "iss": "vls-local",
        "aud": "vls",
        "iat": int(time.time()),
        "exp": int(time.time()) + a.ttl,
    }
    if a.partner_id:
        claims["partner_id"] = a.partner_id
    if a.account_id:
        claims["account_id"] = a.account_id
    print(mint(claims, os.environ.get("LOCAL_JWT_SECRET", "local-dev-secret")))


if __name__ == "__main__":
    main()
