#!/usr/bin/env python3
"""Registers a user with the local OpenID provider, so that signing in as them on the
activation pages and the customer's pages (/portal) names their role and account
(`make user ACCOUNT_ID=acc_…`; the email is verified unless `UNVERIFIED=1`)."""

import argparse
import json
import os
import sys
import urllib.request


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--account-id", help="the account they administer (customer_admin)")
    p.add_argument("--role", default="customer_admin")
    p.add_argument("--partner-id")
    p.add_argument("--email", default="olivia@contoso.com")
    p.add_argument("--sub", default=None, help="the subject to sign in as (default: from the email)")
    p.add_argument(
        "--unverified",
        action="store_true",
        help="the provider does not vouch for the email (email_verified: false)",
    )
    a = p.parse_args()
    issuer = os.environ.get("OIDC_ISSUER", "http://127.0.0.1:9400").rstrip("/")
    sub = a.sub or a.email.split("@")[0]
    claims = {"email": a.email, "email_verified": not a.unverified, "role": a.role}
    if a.account_id:
        claims["account_id"] = a.account_id
    if a.partner_id:
        claims["partner_id"] = a.partner_id
    req = urllib.request.Request(
        f"{issuer}/users/{sub}",
        data=json.dumps(claims).encode(),
        method="PUT",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.status != 204:
            print(f"{issuer} answered {r.status}", file=sys.stderr)
            return 1
    print(f"sign in as '{sub}' on {issuer}: {json.dumps(claims)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
