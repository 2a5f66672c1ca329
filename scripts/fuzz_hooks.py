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
import urllib.error
import urllib.request

import schemathesis

HOOKS = "/webhook-endpoints/{endpoint_id}"
BY_ROLE = {
    "FUZZ_PARTNER": {"POST /agreements", "PUT /agreements/{agreement_id}/osm", "POST /orders",
                     "POST /orders/{order_id}/invoice", "GET /events", "GET /events/{event_id}",
                     "POST /webhook-endpoints", "GET /webhook-endpoints", f"GET {HOOKS}",
                     f"PUT {HOOKS}", f"DELETE {HOOKS}", f"POST {HOOKS}/disable",
                     f"POST {HOOKS}/enable", f"POST {HOOKS}/rotate-secret", f"POST {HOOKS}/test",
                     f"GET {HOOKS}/deliveries", f"POST {HOOKS}/deliveries/{{delivery_id}}/redeliver",
                     f"POST {HOOKS}/replay"},
    "FUZZ_SPECIALIST": {"POST /agreements/{agreement_id}/amendments"},
    "FUZZ_ADMIN": {"POST /agreements/{agreement_id}/reservations",
                   "POST /reservations/{reservation_id}/cancel", "POST /activate/{token}",
                   "POST /accounts/{account_id}/service-requests",
                   "POST /service-requests/{service_request_id}/withdraw"},
}
made = {"agreements": [], "token": None, "endpoints": [], "delivery": None,
        "uncovered": None, "request": None}
# A receiver port set aside for tests (SPEC 6.9); scripts/fuzz.sh answers 200 there.
RECEIVER = "http://127.0.0.1:9599/fuzz"
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
    elif label in ("POST /webhook-endpoints", f"PUT {HOOKS}"):
        case.body = {**(case.body if isinstance(case.body, dict) else {}), "url": RECEIVER,
                     "enabled_events": ["*"]}
    elif label == "POST /accounts/{account_id}/service-requests":
        case.path_parameters = {**(case.path_parameters or {}),
                                "account_id": os.environ["FUZZ_ACCOUNT"]}
        case.body = {**(case.body if isinstance(case.body, dict) else {}),
                     "subscription_id": an_uncovered_subscription()}
    if "{service_request_id}" in label:
        case.path_parameters = {**(case.path_parameters or {}),
                                "service_request_id": a_service_request()}
    if label == "GET /events/{event_id}":
        case.path_parameters = {**(case.path_parameters or {}), "event_id": an_event()}
    if "{delivery_id}" in label:
        endpoint, delivery = a_delivery()
        case.path_parameters = {**(case.path_parameters or {}), "endpoint_id": endpoint,
                                "delivery_id": delivery}
    elif "{endpoint_id}" in label:
        case.path_parameters = {**(case.path_parameters or {}), "endpoint_id": an_endpoint()}


@schemathesis.hook
def after_call(ctx, case, response):
    if case.operation.label == "POST /agreements" and response.status_code == 201:
        made["agreements"].append(response.json()["id"])
    if case.operation.label == "POST /webhook-endpoints" and response.status_code == 201:
        made["endpoints"].append(response.json()["id"])


def an_uncovered_subscription():
    """A direct subscription of the fuzz account that its volume does not cover (R11 refuses
    its cancellation: a service request may be opened for it)."""
    if made["uncovered"] is None:
        account = os.environ["FUZZ_ACCOUNT"]
        made["uncovered"] = call("POST", f"/accounts/{account}/subscriptions",
                                 os.environ["FUZZ_ADMIN"],
                                 {"billing": "invoice",
                                  "lines": [{"sku": "d365-sales-professional",
                                             "quantity": 100000}]})["id"]
    return made["uncovered"]


def a_service_request():
    """A service request of the fuzz account's, opened on a subscription of its own."""
    if made["request"] is None:
        account = os.environ["FUZZ_ACCOUNT"]
        admin = os.environ["FUZZ_ADMIN"]
        sub = call("POST", f"/accounts/{account}/subscriptions", admin,
                   {"billing": "invoice",
                    "lines": [{"sku": "d365-sales-professional", "quantity": 100000}]})["id"]
        made["request"] = call("POST", f"/accounts/{account}/service-requests", admin,
                               {"subscription_id": sub, "accept_license_loss": False})["id"]
    return made["request"]


def an_event():
    """One of the fuzz partner's events (its agreements' `agreement.associated`, listed about
    a second after they are made)."""
    partner = os.environ["FUZZ_PARTNER"]
    for _ in range(20):
        events = call("GET", "/events", partner)["events"]
        if events:
            return events[-1]["id"]
        time.sleep(0.5)
    raise RuntimeError("the fuzz partner has no event")


def an_endpoint():
    """The last endpoint the fuzz partner made, or one made now (or, at its limit of ten,
    one it has)."""
    partner = os.environ["FUZZ_PARTNER"]
    if made["endpoints"]:
        return made["endpoints"][-1]
    try:
        made["endpoints"].append(call("POST", "/webhook-endpoints", partner,
                                      {"url": RECEIVER, "enabled_events": ["*"]})["id"])
    except urllib.error.HTTPError:
        listed = call("GET", "/webhook-endpoints", partner)["webhook_endpoints"]
        made["endpoints"].append(listed[-1]["id"])
    return made["endpoints"][-1]


def a_delivery():
    """An endpoint and one of its deliveries: a test event's."""
    if made["delivery"] is None:
        partner = os.environ["FUZZ_PARTNER"]
        endpoint = an_endpoint()
        try:
            delivery = call("POST", f"/webhook-endpoints/{endpoint}/test",
                            partner, {})["delivery_id"]
        except urllib.error.HTTPError:
            listed = call("GET", f"/webhook-endpoints/{endpoint}/deliveries", partner)
            delivery = listed["deliveries"][-1]["id"]
        made["delivery"] = (endpoint, delivery)
    return made["delivery"]


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

