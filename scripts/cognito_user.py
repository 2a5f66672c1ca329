#!/usr/bin/env python3
"""Creates a user in the stack's Cognito user pool with the custom attributes the API reads:

    make cognito-user POOL=<UserPoolId output> EMAIL=ops@example.com ROLE=billing_support
    make cognito-user POOL=… EMAIL=olivia@contoso.com ROLE=customer_admin ACCOUNT_ID=acc_…
    make cognito-user POOL=… EMAIL=api@fabrikam.com ROLE=partner PARTNER_ID=p1

Cognito mails the user a temporary password (the email is marked verified: an administrator
vouches for it, and the activation pages trust only a verified email). Uses the caller's own
AWS credentials (AWS_PROFILE, …), never the local stack's; the region is the pool's own (its
id begins with it).
"""
import argparse
import sys

import boto3

ROLES = ("billing_support", "licensing_specialist", "partner", "customer_admin")


def attributes(a) -> list[dict]:
    attrs = [
        {"Name": "email", "Value": a.email},
        {"Name": "email_verified", "Value": "true"},
        {"Name": "custom:role", "Value": a.role},
    ]
    if a.role == "customer_admin":
        attrs.append({"Name": "custom:account_id", "Value": a.account_id})
    if a.role == "partner":
        attrs.append({"Name": "custom:partner_id", "Value": a.partner_id})
    return attrs


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pool-id", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--account-id")
    p.add_argument("--partner-id")
    a = p.parse_args(argv)
    if a.role == "customer_admin" and not a.account_id:
        p.error("a customer_admin needs --account-id (ACCOUNT_ID=acc_…)")
    if a.role == "partner" and not a.partner_id:
        p.error("a partner needs --partner-id (PARTNER_ID=…)")
    return a


def create(client, a) -> dict:
    out = client.admin_create_user(
        UserPoolId=a.pool_id,
        Username=a.email,
        UserAttributes=attributes(a),
        DesiredDeliveryMediums=["EMAIL"],
    )
    return out["User"]


def main(argv=None, client=None) -> int:
    a = parse(argv)
    region = a.pool_id.split("_", 1)[0]
    user = create(client or boto3.client("cognito-idp", region_name=region), a)
    print(f"created {a.email} ({a.role}) in {a.pool_id}: {user['UserStatus']}; "
          "Cognito mails a temporary password")
    return 0


if __name__ == "__main__":
    sys.exit(main())
