"""The template stack: every function of the translated template, run from its built binary
under a Lambda Runtime API, behind a gateway that behaves as API Gateway's HTTP API, fed by
its stream, queues and schedules, each AWS call checked against its role.

    python -m scripts.stack.run --shape cognito --base-port 9010 --describe .run/stack.json

Shapes: `cognito` deploys with the template's defaults (the stack's own user pool, whose
issuer is the tests' own, Cognito-shaped); `byo` brings an issuer of its own with claim names
that match neither default. The description file tells the tests where everything is.

Ports from --base-port: +0 the API, +1 the control endpoint (report, schedules, SES account),
+2 the issuer, +3 the checking AWS endpoint.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from datetime import datetime, timezone

import boto3
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from . import gateway, iam, issuer, lambda_host, provision, sources
from .aws_proxy import AwsProxy
from .template import Local, load

# What the stack sets in a function's environment beyond the template's and Lambda's own
# variables (credentials included: Lambda sets them from the role). docs/testing.md, "The template
# stack", lists the same; tests/tests/stack/template_stack.rs refuses any other.
LOCAL_SETTINGS = {
    "AWS_ENDPOINT_URL": "every AWS call goes to the stack's checking endpoint (then the emulator)",
}

SENDER = "licensing@vls.example.com"

# Bring-your-own issuer: claim names unlike either default, so none can be hard-coded.
BYO = {
    "JwtAudience": "vls-api-partners",
    "OidcClientId": "vls-pages",
    "OidcRoleClaim": "https://vls.example/role",
    "OidcAccountClaim": "https://vls.example/account",
    "OidcPartnerClaim": "https://vls.example/partner",
}


def parameters(shape: str, issuer_url: str) -> dict:
    base = {"SenderEmail": SENDER}
    if shape == "cognito":
        return base
    return {**base, "OidcIssuer": issuer_url, **BYO}


def resolve_dynamic(value: str, local: Local) -> str:
    """CloudFormation's dynamic references, resolved at deploy time as AWS does."""
    sm = provision.client("secretsmanager", local)

    def one(m):
        service, rest = m.group(1), m.group(2)
        if service != "secretsmanager":
            raise ValueError(f"dynamic reference to {service} is not read here")
        secret_id, _, tail = rest.partition(":SecretString")
        text = sm.get_secret_value(SecretId=secret_id)["SecretString"]
        key = tail.lstrip(":").split(":")[0]
        return json.loads(text)[key] if key else text

    return re.sub(r"\{\{resolve:(\w+):(.+?)\}\}", one, value)


def serve(app, port):
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Stack:
    def __init__(self, a):
        self.a = a
        self.log_file = open(a.log, "a", buffering=1)
        base = a.base_port
        self.ports = {"api": base, "control": base + 1, "issuer": base + 2, "aws": base + 3}
        url = lambda p: f"http://127.0.0.1:{p}"
        self.local = Local(stack_name=provision.fresh_name(), emulator=a.emulator,
                           gateway_url=url(base), issuer_url=url(base + 2))
        self.routes_hit: list[dict] = []

    def log(self, text):
        print(f"[stack] {text}", file=self.log_file)

    def up(self):
        a, local = self.a, self.local
        params = parameters(a.shape, local.issuer_url)
        self.template = provision.provision(load(a.template), params, local)
        provision.sender_identity(local, SENDER)
        self.functions = self.template.functions()
        self.kid = "stack-" + local.stack_name
        serve(issuer.make_issuer_app(local.issuer_url, private_key_pem=issuer.new_key_pem(),
                                     kid=self.kid, upstream=a.upstream), self.ports["issuer"])
        self.proxy = self.checking_endpoint()
        serve(self.proxy, self.ports["aws"])
        self.host = self.hosts()
        self.routes = self.template.routes()
        app = gateway.make_app(
            [gateway.Route(r.method, r.path, r.function,
                           gateway.JwtAuthorizer(r.authorizer.issuer, tuple(r.authorizer.audiences))
                           if r.authorizer else None) for r in self.routes],
            self.host.invoke, on_request=self.routes_hit.append)
        serve(app, self.ports["api"])
        self.feed()
        serve(self.control, self.ports["control"])
        self.describe(params)

    def checking_endpoint(self) -> AwsProxy:
        roles = {name: iam.role_policies(self.template.role_properties(f.role))
                 for name, f in self.functions.items()}
        sm = provision.client("secretsmanager", self.local)
        return AwsProxy(self.local.emulator, roles, region=self.local.region,
                        account=self.local.account,
                        secret_arn=lambda n: sm.describe_secret(SecretId=n)["ARN"])

    def environment(self, f) -> dict:
        env = {k: resolve_dynamic(v, self.local) for k, v in f.environment.items()}
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{self.ports['aws']}"
        # Lambda's own: the role's credentials.
        env["AWS_ACCESS_KEY_ID"] = f.logical_id
        env["AWS_SECRET_ACCESS_KEY"] = "local"
        env["AWS_SESSION_TOKEN"] = "local-session"
        return env

    def hosts(self):
        host = lambda_host.Host()
        for name, f in self.functions.items():
            binary = os.path.join(self.a.binaries, f.binary)
            host.add(lambda_host.Function(name, [binary], self.environment(f),
                                          timeout_s=f.timeout, memory_mb=f.memory,
                                          log_path=self.a.log))
        return host

    def feed(self):
        endpoint = f"http://127.0.0.1:{self.ports['aws']}"
        for s in self.template.event_sources():
            if s.kind == "sqs":
                _, _, _, region, account, name = s.source_arn.split(":")
                url = f"{self.local.emulator}/{account}/{name}"
                sources.SqsPoller(s, self.host, endpoint, url, region, self.log).start()
            else:
                sources.StreamPoller(s, self.host, endpoint, self.local.region, self.log).start()
        self.scheduler = sources.Scheduler(self.template.schedules(), self.host, self.log)
        self.scheduler.start()

    def report(self) -> dict:
        return {
            "routes": [{"method": r.method, "path": r.path, "function": r.function,
                        "authorizer": r.authorizer is not None, "declared_as": r.declared_as}
                       for r in self.routes],
            "requests": list(self.routes_hit),
            "calls": self.proxy.ledger.snapshot(),
            "ses_sandbox_refusals": self.proxy.ses.refused,
            "invocations": self.host.invocations(),
            "functions": {name: {"role": f.role, "environment": sorted(self.environment(f)),
                                 "template_environment": sorted(f.environment),
                                 "architectures": f.architectures,
                                 "reserved_concurrency": f.reserved_concurrency}
                          for name, f in self.functions.items()},
            "granted": {name: self.template.role_properties(f.role)
                        for name, f in self.functions.items()},
        }

    def control(self, environ, start_response):
        req = Request(environ)
        if req.path == "/report":
            resp = Response(json.dumps(self.report()), content_type="application/json")
        elif req.path.startswith("/schedules/") and req.method == "POST":
            when = req.args.get("time")
            when = (datetime.fromisoformat(when.replace("Z", "+00:00")) if when
                    else datetime.now(timezone.utc))
            result = self.scheduler.fire(req.path.rsplit("/", 1)[1], when)
            resp = Response(json.dumps({"status": result.status,
                                        "body": result.body.decode(errors="replace")}),
                            content_type="application/json")
        elif req.path.startswith("/functions/") and req.path.endswith("/recycle"):
            # What a configuration update does: later invocations start fresh instances.
            self.host.get(req.path.split("/")[2]).recycle()
            resp = Response("{}", content_type="application/json")
        elif req.path == "/ses/account" and req.method == "PUT":
            doc = req.get_json(force=True)
            self.proxy.ses.production_access = bool(doc.get("production_access", True))
            self.proxy.ses.verified = {a.lower() for a in doc.get("verified", [])}
            resp = Response(json.dumps(self.proxy.ses.document()), content_type="application/json")
        else:
            resp = Response("not found", status=404)
        return resp(environ, start_response)

    def token_claims(self, params) -> dict:
        """The claim names the identity provider's tokens carry (not what the functions read:
        that the two agree is what the tests check). The stack's user pool puts its custom
        attributes under `custom:<name>`; an issuer of one's own under the names its
        parameters declare."""
        if self.a.shape == "cognito":
            schema = self.template.resources["UserPool"]["Properties"]["Schema"]
            names = {a["Name"] for a in schema}
            return {n: f"custom:{n}" for n in ("role", "account_id", "partner_id") if n in names}
        return {"role": params["OidcRoleClaim"], "account_id": params["OidcAccountClaim"],
                "partner_id": params["OidcPartnerClaim"]}

    def describe(self, params):
        names = self.token_claims(params)
        pages = self.functions["ActivationFunction"].environment
        doc = {
            "shape": self.a.shape,
            "stack_name": self.local.stack_name,
            "api": self.local.gateway_url,
            "control": f"http://127.0.0.1:{self.ports['control']}",
            "issuer": self.local.issuer_url,
            "upstream": self.a.upstream,
            "audience": pages.get("JWT_AUDIENCE"),
            "pages_client_id": pages.get("OIDC_CLIENT_ID"),
            "claims": names,
            "table": self.local.physical["Table"],
            "true_up_queue": self.local.physical["TrueUpQueue"],
            "sender": SENDER,
            "parameters": params,
            "local_settings": sorted(LOCAL_SETTINGS),
        }
        with open(self.a.describe, "w") as f:
            json.dump(doc, f, indent=2)



def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", choices=["cognito", "byo"], default="cognito")
    p.add_argument("--template", default="target/template.cfn.json")
    p.add_argument("--binaries", default="target/debug")
    p.add_argument("--emulator", default="http://127.0.0.1:4566")
    p.add_argument("--upstream", default="http://127.0.0.1:9400")
    p.add_argument("--base-port", type=int, default=9010)
    p.add_argument("--describe", required=True)
    p.add_argument("--log", required=True)
    a = p.parse_args()
    stack = Stack(a)
    # The handler only records the request: it runs between two steps of the main thread, and
    # taking a lock there (an Event's) can meet the main thread holding it.
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _: stopping.append(signum))
    signal.signal(signal.SIGINT, lambda signum, _: stopping.append(signum))
    try:
        stack.up()
        print(f"template stack ({a.shape}) up: API {stack.local.gateway_url}", flush=True)
        while not stopping:
            time.sleep(0.2)
    finally:
        # However the closing goes, the process ends: a stuck close must not keep a run waiting.
        watchdog = threading.Timer(20, lambda: (print("close took over 20 s: exiting", flush=True),
                                                os._exit(1)))
        watchdog.daemon = True
        watchdog.start()
        if getattr(stack, "host", None):
            stack.host.close()
        stack.log_file.flush()
        # The servers' threads would keep a plain exit waiting: everything is closed.
        os._exit(0)

if __name__ == "__main__":
    main()
