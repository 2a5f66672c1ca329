"""A reverse proxy in front of `cargo lambda watch` for the fuzz step (scripts/fuzz.sh): every
request goes to watch as it came, and every answer comes back as watch gave it, except one.

watch (cargo-lambda 1.9.2) answers a function's `POST …/runtime/invocation/{id}/response`
before it has read that response's body. When the body is large (a list page of 30-70 KB), the
function's runtime client may still be sending it when that early answer arrives; the
connection then closes under watch, whose read of the body fails, and watch answers the API
caller with its own problem document: 500, `text/plain`, type `https://httpstatuses.com/500`,
no detail, and nothing in any function's log (the function answered, and logged its status).
Seen in the stateful fuzz, on `GET /events`, `GET …/deliveries` and `GET …/orders`. That answer
is sent again once (the function ran; a mutating request repeated carries its
`Idempotency-Key`, or is the fuzz's own), and each time is logged to stderr. Any other answer,
every 500 of our functions' (`application/problem+json`) included, passes through untouched.

Usage: watch_retry_proxy.py --port 9004 --upstream http://127.0.0.1:9001
"""
import argparse
import http.client
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WATCH_OWN_500 = b'{"type":"https://httpstatuses.com/500"'
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "content-length"}


def is_watch_own_500(status, body):
    return status == 500 and body.startswith(WATCH_OWN_500)


class Proxy(BaseHTTPRequestHandler):
    upstream = None
    protocol_version = "HTTP/1.1"

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        for attempt in range(3):
            conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port,
                                              timeout=120)
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            if attempt < 2 and is_watch_own_500(resp.status, data):
                print(f"watch's own 500 on {self.command} {self.path}: sent again",
                      file=sys.stderr, flush=True)
                continue
            break
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = forward

    def log_message(self, *args):
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=9004)
    p.add_argument("--upstream", default="http://127.0.0.1:9001")
    a = p.parse_args()
    Proxy.upstream = urllib.parse.urlsplit(a.upstream)
    ThreadingHTTPServer(("127.0.0.1", a.port), Proxy).serve_forever()


if __name__ == "__main__":
    main()
