"""The local AWS emulator: moto's server with every request handled one at a time.

moto's DynamoDB is not safe under concurrent requests: a TransactWriteItems that fails
restores a snapshot of the whole table taken when it started, erasing writes that other
transactions committed in the meantime (a lost update the real service never makes). The
real service is atomic and isolated per transaction; serialising requests gives the
emulator that property, so concurrency tests test our code, not moto's threading.
Connections are still accepted concurrently.
"""
import argparse
import signal
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


class Serialised:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # Drain the body inside the lock so the whole exchange is one critical section.
            return list(self.app(environ, start_response))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-H", "--host", default="127.0.0.1")
    p.add_argument("-p", "--port", type=int, default=4566)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(a.host, a.port, Serialised(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
