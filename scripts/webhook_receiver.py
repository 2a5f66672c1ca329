"""A partner's webhook receiver for the black-box tests, as a partner would write one: every
request verified with the Standard Webhooks reference library (`standardwebhooks` from PyPI,
pinned in .venv), independent of the service's own signer.

It listens on 127.0.0.1:PORT (one of 9500-9599, the ports the local stack lets an endpoint
name) and prints one JSON line per request: its `webhook-id`, the body's `id`, the secrets
(by position in --secret) whose signature verified, and the status it answered (200, or the
next of --answers).

Usage: webhook_receiver.py --port PORT --secret whsec_... [--secret whsec_...] [--answers 500,200]
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", action="append", default=[])
    parser.add_argument("--answers", default="")
    args = parser.parse_args()
    answers = [int(a) for a in args.answers.split(",") if a]
    hooks = [Webhook(s) for s in args.secret]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified = []
            for n, hook in enumerate(hooks):
                try:
                    hook.verify(body, headers)
                    verified.append(n)
                except WebhookVerificationError:
                    pass
            status = answers.pop(0) if answers else 200
            try:
                body_id = json.loads(body).get("id")
            except ValueError:
                body_id = None
            line = {"webhook_id": headers.get("webhook-id"), "body_id": body_id,
                    "verified": verified, "status": status,
                    "signatures": len(headers.get("webhook-signature", "").split())}
            print(json.dumps(line), flush=True)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(json.dumps({"listening": args.port}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
