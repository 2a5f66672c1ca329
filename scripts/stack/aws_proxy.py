"""The AWS endpoint the functions of the template stack call: each request is checked against
the calling function's role, as IAM would, before the emulator answers it.

A function is known by its credentials (the stack gives each function its logical id as its
access key, as Lambda gives each its role's). Every call is recorded with its verdict; a call
the role does not allow is answered as AWS answers it (AccessDeniedException, 400) and is
never handed to the emulator, so the test that made it fails where the deployed stack would.

SES v2's GetAccount is answered here (the emulator has none): the account's sending quota
and whether it is still in the SES sandbox, which a test can switch.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import requests
from werkzeug.wrappers import Request, Response

from . import iam

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"}


@dataclass
class SesAccount:
    """The SES account the functions send from. In the sandbox (no production access) SES
    takes mail only to verified identities and refuses any other recipient, as here."""

    production_access: bool = True
    verified: set = field(default_factory=set)
    # How many mails the sandbox refused (the tests wait for a refusal to have happened).
    refused: int = 0
    max_send_rate: float = 14.0
    max_24_hour_send: float = 50000.0
    sent_last_24_hours: float = 0.0

    def document(self) -> dict:
        return {
            "DedicatedIpAutoWarmupEnabled": False,
            "EnforcementStatus": "HEALTHY",
            "ProductionAccessEnabled": self.production_access,
            "SendQuota": {
                "Max24HourSend": self.max_24_hour_send,
                "MaxSendRate": self.max_send_rate,
                "SentLast24Hours": self.sent_last_24_hours,
            },
            "SendingEnabled": True,
        }


@dataclass
class Ledger:
    """Every call a function made, with the verdict; thread-safe."""

    calls: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, entry: dict):
        with self.lock:
            self.calls.append(entry)

    def snapshot(self) -> list:
        with self.lock:
            return list(self.calls)


class AwsProxy:
    def __init__(self, emulator: str, roles: dict[str, list[dict]], *, region: str, account: str,
                 secret_arn=None):
        """`roles`: access key (a function's logical id) → its role's policy documents."""
        self.emulator = emulator.rstrip("/")
        self.roles = roles
        self.region = region
        self.account = account
        self.secret_arn = secret_arn
        self.ledger = Ledger()
        self.ses = SesAccount()
        self.session = requests.Session()

    def __call__(self, environ, start_response):
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, req: Request) -> Response:
        body = req.get_data()
        headers = {k: v for k, v in req.headers.items()}
        who = iam.access_key_of(headers)
        try:
            calls = iam.classify(
                req.method, req.path, req.query_string.decode(), headers, body,
                # A shard iterator names its stream (the emulator's as AWS's): no lookup needed.
                self.region, self.account, secret_arn=self.secret_arn,
            )
        except iam.Unclassified as e:
            self.ledger.record({"function": who, "action": None, "resource": None,
                                "allowed": False, "reason": f"unclassified: {e}"})
            return _denied(f"this stack cannot tell what {req.method} {req.path} is: {e}")
        policies = self.roles.get(who)
        for call in calls:
            decision = (iam.evaluate(policies, call.action, call.resource, call.context)
                        if policies is not None else None)
            allowed = decision is not None and decision.allowed
            reason = decision.reason if decision is not None else f"unknown caller {who!r}"
            self.ledger.record({"function": who, "action": call.action, "resource": call.resource,
                                "allowed": allowed, "reason": reason})
            if not allowed:
                return _denied(f"User: {who} is not authorized to perform: {call.action} "
                               f"on resource: {call.resource} ({reason})")
        if req.method == "GET" and req.path == "/v2/email/account":
            return Response(json.dumps(self.ses.document()), content_type="application/json")
        if req.method == "POST" and req.path == "/v2/email/outbound-emails":
            refused = self.sandbox_refusal(body)
            if refused is not None:
                return refused
        return self.forward(req, body)

    def sandbox_refusal(self, body: bytes) -> Response | None:
        """SES's answer to mail for an unverified recipient while the account is sandboxed."""
        if self.ses.production_access:
            return None
        try:
            destination = json.loads(body or b"{}").get("Destination") or {}
        except ValueError:
            return None
        recipients = [a for k in ("ToAddresses", "CcAddresses", "BccAddresses")
                      for a in destination.get(k) or []]
        unverified = [a for a in recipients if a.lower() not in self.ses.verified]
        if not unverified:
            return None
        self.ses.refused += 1
        message = ("Email address is not verified. The following identities failed the check "
                   f"in region {self.region.upper()}: {', '.join(unverified)}")
        r = Response(json.dumps({"message": message}), status=400,
                     content_type="application/json")
        r.headers["x-amzn-ErrorType"] = "MessageRejected"
        return r

    def forward(self, req: Request, body: bytes) -> Response:
        url = self.emulator + req.full_path.rstrip("?")
        headers = {k: v for k, v in req.headers.items() if k.lower() != "host"}
        r = self.session.request(req.method, url, data=body, headers=headers, timeout=120)
        out = Response(r.content, status=r.status_code)
        for k, v in r.headers.items():
            if k.lower() not in _HOP_BY_HOP:
                out.headers[k] = v
        return out


def _denied(message: str) -> Response:
    doc = {"__type": "com.amazon.coral.service#AccessDeniedException", "message": message,
           "Message": message}
    r = Response(json.dumps(doc), status=400, content_type="application/x-amz-json-1.0")
    r.headers["x-amzn-ErrorType"] = "AccessDeniedException"
    return r
