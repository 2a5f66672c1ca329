"""A proxy in front of the local emulator that makes every request take as long as it would
in AWS, so that benchmarks show what concurrency buys.

The emulator answers in a millisecond or two and one request at a time; DynamoDB answers in a
few milliseconds and many at once. This holds each request for --delay-ms (in its own thread,
so waits overlap), then forwards it to --target unchanged and relays the answer.

    latency_proxy.py --port 4567 --target http://127.0.0.1:4566 --delay-ms 8
"""
import argparse
import http.client
import signal
import socket
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


def handler(target, delay):
    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def setup(self):
            super().setup()
            # Headers and body go out as they are written: no Nagle wait on loopback.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            time.sleep(delay)
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=300)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

    return Forward


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=4567)
    p.add_argument("--target", default="http://127.0.0.1:4566")
    p.add_argument("--delay-ms", type=float, default=8.0)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    target = urllib.parse.urlparse(a.target)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), handler(target, a.delay_ms / 1000))
    server.daemon_threads = True
    server.request_queue_size = 256
    print(f"latency proxy on 127.0.0.1:{a.port} -> {a.target}, +{a.delay_ms} ms", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
