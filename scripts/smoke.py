#!/usr/bin/env python3
"""A read-only smoke test of a deployed stack, for a person to run after `sam deploy`:

    make smoke BASE=https://<api id>.execute-api.<region>.amazonaws.com [TOKEN=<ID token>]

It changes nothing. Without a token it checks that the gateway refuses an unauthenticated
call (401), answers 404 for a route the API does not have, and that the activation pages are
reached (an unknown link is a page, not an error of the gateway). With an ID token of any role
it checks that the gateway accepts it and the function reads the caller from its claims: an
agreement that does not exist is the API's own 404 (problem+json), never its 401 — a 401 there
means the claim names the functions read are not the token's.
"""
import argparse
import sys

import requests

MISSING_AGREEMENT = "/agreements/agr_00000000000000000000000000"


def checks(base: str, token: str | None):
    get = lambda path, **kw: requests.get(base + path, timeout=15, allow_redirects=False, **kw)
    r = get(MISSING_AGREEMENT)
    yield "no token: the gateway answers 401", r.status_code == 401
    r = get("/no-such-route")
    yield "a route the API does not have: 404", r.status_code == 404
    r = get("/activate/not-a-link")
    html = r.headers.get("content-type", "").startswith("text/html")
    yield "the activation page answers an unknown link with a page", r.status_code < 500 and html
    if token:
        r = get(MISSING_AGREEMENT, headers={"Authorization": f"Bearer {token}"})
        problem = r.headers.get("content-type", "").startswith("application/problem+json")
        yield (f"with the token: the API's own 404 (got {r.status_code} {r.text[:120]!r})",
               r.status_code in (403, 404) and problem)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="read-only smoke test of a deployed stack")
    p.add_argument("base")
    p.add_argument("--token")
    a = p.parse_args(argv)
    base = a.base.rstrip("/")
    failed = 0
    for name, ok in checks(base, a.token):
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
        failed += not ok
    if not a.token:
        print("(no TOKEN: the API's own answers are not checked)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
