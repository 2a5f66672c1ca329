"""Test data for schemathesis' stateful phase (scripts/fuzz.sh): who calls each operation, and
bodies that reach each operation's core — an agreement bound to the fuzz account (whose
administrator may then reserve and cancel), an order on the last agreement made. The phase
follows the contract's links from there (every create links to the reads and actions on what
it made).

Tokens come from the environment: FUZZ_BS, FUZZ_PARTNER, FUZZ_SPECIALIST, FUZZ_ADMIN (the
administrator of FUZZ_ACCOUNT, an account with Online Services licences); FUZZ_OTHER_ACCOUNT
is where a remap moves an agreement.
"""

import datetime
import itertools
import json
import os
import re
import time
import urllib.request

import schemathesis

BY_ROLE = {
    "FUZZ_PARTNER": {"POST /agreements", "PUT /agreements/{agreement_id}/osm", "POST /orders",
                     "POST /orders/{order_id}/invoice"},
    "FUZZ_SPECIALIST": {"POST /agreements/{agreement_id}/amendments"},
    "FUZZ_ADMIN": {"POST /agreements/{agreement_id}/reservations",
                   "POST /reservations/{reservation_id}/cancel", "POST /activate/{token}"},
}
made = {"agreements": [], "token": None}
numbers = itertools.count(1)


def who(label):
    for role, labels in BY_ROLE.items():
        if label in labels:
            return os.environ[role]
    return os.environ["FUZZ_BS"]


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    label = case.operation.label
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {who(label)}"}
    if label == "POST /agreements":
        # Started two months ago, bound to the fuzz account: reservations are open on it.
        start = datetime.date.today() - datetime.timedelta(days=60)
        case.body = {
            "program": "EA",
            "customer": {"number": f"fz{os.getpid()}-{next(numbers)}",
                         "legal_name": "Contoso Ltd", "country": "NL"},
            "osm": {"name": "Olivia", "email": "olivia@contoso.com"},
            "start_date": start.isoformat(),
            "online_services_account_id": os.environ["FUZZ_ACCOUNT"],
        }
    elif label == "POST /activate/{token}":
        case.path_parameters = {**(case.path_parameters or {}), "token": activation_token()}
        case.body = {"account_id": os.environ["FUZZ_ACCOUNT"]}
    elif label == "POST /agreements/{agreement_id}/activation-email/resend":
        # R9: the company as the fuzz agreements have it, on one of them.
        case.body = {"legal_name": "Contoso Ltd", "country": "NL"}
        if made["agreements"]:
            case.path_parameters = {**(case.path_parameters or {}),
                                    "agreement_id": made["agreements"][-1]}
    elif label == "POST /agreements/{agreement_id}/remap":
        case.body = {"target_account_id": os.environ["FUZZ_OTHER_ACCOUNT"],
                     "reason": "fuzz", "accept_license_loss": True}
    elif label == "POST /orders" and made["agreements"]:
        case.body = {"agreement_id": made["agreements"][-1],
                     "lines": [{"sku": "d365-sales-professional", "quantity": 1}]}


@schemathesis.hook
def after_call(ctx, case, response):
    if case.operation.label == "POST /agreements" and response.status_code == 201:
        made["agreements"].append(response.json()["id"])


def call(method, path, token, body=None):
    request = urllib.request.Request(
        os.environ["FUZZ_BASE"] + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read() or b"null")


def activation_token():
    """A link from a real activation mail: an agreement the fuzz partner makes without an
    account, an order on it invoiced, and the mail the stack's mailer then sends (read back
    from the emulator's SES). The same token for every call: the first association spends
    it, the rest meet 410."""
    if made["token"]:
        return made["token"]
    partner = os.environ["FUZZ_PARTNER"]
    osm = f"osm{os.getpid()}@contoso.com"
    agreement = call("POST", "/agreements", partner, {
        "program": "EA",
        "customer": {"number": f"fz{os.getpid()}-link", "legal_name": "Contoso Ltd",
                     "country": "NL"},
        "osm": {"name": "Olivia", "email": osm},
        "start_date": datetime.date.today().isoformat()})
    order = call("POST", "/orders", partner, {
        "agreement_id": agreement["id"],
        "lines": [{"sku": "d365-sales-professional", "quantity": 1}]})
    call("POST", f"/orders/{order['id']}/invoice", partner, {})
    emulator = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    for _ in range(60):
        with urllib.request.urlopen(f"{emulator}/moto-api/data.json", timeout=30) as r:
            data = json.loads(r.read())
        for message in reversed(data.get("ses", {}).get("Message", [])):
            if osm in json.dumps(message.get("destination", message)):
                found = re.search(r"activate/([0-9a-f]{32,})", json.dumps(message))
                if found:
                    made["token"] = found.group(1)
                    return made["token"]
        time.sleep(0.5)
    raise RuntimeError("no activation mail reached the emulator's SES")

