"""API Gateway's HTTP API (Lambda proxy integrations, payload format 2.0) for the local stack.

It behaves as the AWS documentation describes ("Working with AWS Lambda proxy integrations for
HTTP APIs", "Controlling access to HTTP APIs with JWT authorizers", "Troubleshooting issues
with HTTP API JWT authorizers"), so a function that works behind it works behind AWS:

- Routing: the most specific route key wins (a literal segment beats `{var}`, which beats
  `{var+}`; a named method beats ANY). No match: 404 {"message":"Not Found"}, nothing invoked.
- JWT authorizer: the token's header must name a `kid` of the issuer's key set (fetched through
  its discovery document), RS256, `iss` equal to the configured issuer, `aud` naming a
  configured audience or, only when there is no `aud`, `client_id` naming one, `exp` in the
  future, `nbf` and `iat` (when present) not. There is no clock leeway: a token is expired from
  the second of its `exp`, so anything accepted here is accepted by AWS. Any failure, an
  unreachable issuer included (AWS cannot fetch the keys either), is 401 {"message":
  "Unauthorized"}. Verified claims reach the function as strings, as AWS passes them.
- The event and the response follow payload format 2.0; see `build_event` and `to_response`.

Where AWS documents nothing, the choice made is stated beside the code.
"""
import base64
import json
import secrets
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Protocol
from urllib.parse import parse_qsl

import jwt
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

HEADER_SOURCE = "$request.header."
JWKS_REFETCH_S = 30.0
FETCH_TIMEOUT_S = 5
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Media types API Gateway hands over as text; every other body is base64-encoded, form
# posts (application/x-www-form-urlencoded, multipart/form-data) included.
TEXT_TYPES = frozenset({"application/json", "application/xml", "application/javascript"})
# Recomputed by the server for the body actually sent.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})


@dataclass(frozen=True)
class JwtAuthorizer:
    issuer: str
    audiences: tuple[str, ...]
    identity_source: str = "$request.header.Authorization"


@dataclass(frozen=True)
class Route:
    method: str          # "GET", "POST", ... or "ANY"
    path: str            # "/agreements/{agreement_id}", "/{proxy+}"
    function: str        # handed to `invoke`
    authorizer: JwtAuthorizer | None = None

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


class InvokeResult(Protocol):
    status: str          # "ok", or anything else for a failed invocation
    body: bytes


@dataclass(frozen=True)
class Invocation:
    """A ready-made InvokeResult for callers that have nothing of their own."""
    status: str
    body: bytes


# ---------------------------------------------------------------------------- routing

LITERAL, VARIABLE, GREEDY = 2, 1, 0   # also each kind's rank: the more literal, the more specific


def parse_template(path: str) -> tuple[tuple[int, str], ...]:
    if not path.startswith("/"):
        raise ValueError(f"a route path starts with '/': {path!r}")
    parts = path[1:].split("/")
    segments = []
    for i, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            if i != len(parts) - 1:
                raise ValueError(f"a greedy path variable must be the last segment: {path!r}")
            segments.append((GREEDY, part[1:-2]))
        elif part.startswith("{") and part.endswith("}"):
            segments.append((VARIABLE, part[1:-1]))
        else:
            segments.append((LITERAL, part))
    return tuple(segments)


def match_template(segments, parts: list[str]) -> dict[str, str] | None:
    """The path parameters if `parts` (the request path's segments) fit the template."""
    params = {}
    for i, (kind, text) in enumerate(segments):
        if kind == GREEDY:
            rest = parts[i:]
            # A greedy variable takes one segment at least, and never an empty one alone.
            return {**params, text: "/".join(rest)} if rest and rest != [""] else None
        if i >= len(parts):
            return None
        if kind == LITERAL:
            if parts[i] != text:
                return None
        elif not parts[i]:
            return None   # a variable takes a non-empty segment
        else:
            params[text] = parts[i]
    return params if len(parts) == len(segments) else None


def specificity(route: Route, segments) -> tuple:
    return tuple(kind for kind, _ in segments), route.method != "ANY"


def select_route(table, method: str, path: str):
    """(route, path parameters) of the most specific match, or (None, None)."""
    parts = path[1:].split("/")
    best = None
    for route, segments in table:
        if route.method not in (method, "ANY"):
            continue
        params = match_template(segments, parts)
        if params is not None:
            rank = specificity(route, segments)
            if best is None or rank > best[0]:
                best = (rank, route, params)
    return (best[1], best[2]) if best else (None, None)


def stage_relative(path: str, stage: str) -> str | None:
    """The path routes are matched against: a named stage is the URL's first segment."""
    if stage == "$default":
        return path
    prefix = "/" + stage
    if path == prefix:
        return "/"
    return path[len(prefix):] if path.startswith(prefix + "/") else None


# ---------------------------------------------------------------------------- JWT authorizer


class Rejected(Exception):
    """The authorizer refused the request; `description` goes to the www-authenticate header."""

    def __init__(self, description: str | None):
        super().__init__(description)
        self.description = description


def _get_json(url: str) -> dict:
    answer = requests.get(url, timeout=FETCH_TIMEOUT_S)
    answer.raise_for_status()
    return answer.json()


class KeySet:
    """An issuer's signing keys. Discovery is read once; the key set again when a token names
    an unknown kid (a rotated key), but at most every `refetch_s` seconds so that tokens with
    made-up kids cannot make every request fetch it."""

    def __init__(self, issuer: str, refetch_s: float):
        self.issuer = issuer
        self.refetch_s = refetch_s
        self._jwks_uri: str | None = None
        self._keys: dict[str, object] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str):
        with self._lock:
            if kid not in self._keys and self._may_refetch():
                self._refresh()
            return self._keys.get(kid)

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at >= self.refetch_s

    def _refresh(self) -> None:
        try:
            if self._jwks_uri is None:
                discovery = _get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
                self._jwks_uri = discovery["jwks_uri"]
            keys = _get_json(self._jwks_uri).get("keys", [])
        except (requests.RequestException, ValueError, KeyError, AttributeError) as error:
            raise Rejected("unable to retrieve the issuer's signing keys") from error
        self._keys = rsa_keys(keys if isinstance(keys, list) else [])
        self._fetched_at = time.monotonic()


def rsa_keys(jwks: list) -> dict[str, object]:
    """Signing keys by kid: API Gateway verifies with RSA keys only; others are ignored."""
    keys = {}
    for jwk in jwks:
        if not (isinstance(jwk, dict) and jwk.get("kty") == "RSA" and jwk.get("kid")
                and jwk.get("use", "sig") == "sig"):
            continue
        try:
            keys[jwk["kid"]] = jwt.PyJWK(jwk, "RS256").key
        except jwt.PyJWTError:
            continue   # a broken entry must not hide the set's other keys
    return keys


# The signature only: the claims are checked one by one, to say which one failed.
SIGNATURE_ONLY = {"verify_signature": True, "verify_exp": False, "verify_nbf": False,
                  "verify_iat": False, "verify_aud": False, "verify_iss": False,
                  "verify_sub": False, "verify_jti": False}


def verify_token(token: str, authorizer: JwtAuthorizer, keys: KeySet, now: float) -> dict:
    """The token's claims, or Rejected."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Rejected("the token is malformed") from None
    if not header.get("kid"):
        raise Rejected("the token has no kid header")
    if header.get("alg") != "RS256":
        raise Rejected(f"signing method {header.get('alg')} is invalid")
    key = keys.key(header["kid"])
    if key is None:
        raise Rejected("the token's kid matches no key of the issuer")
    try:
        claims = jwt.decode(token, key, algorithms=["RS256"], options=SIGNATURE_ONLY)
    except jwt.InvalidSignatureError:
        raise Rejected("the token signature is invalid") from None
    except jwt.PyJWTError:
        raise Rejected("the token is malformed") from None
    check_claims(claims, authorizer, now)
    return claims


def check_claims(claims: dict, authorizer: JwtAuthorizer, now: float) -> None:
    if claims.get("iss") != authorizer.issuer:
        raise Rejected("the token does not have a valid issuer")
    if not audience_matches(claims, authorizer.audiences):
        raise Rejected("the token does not have a valid audience")
    if not _is_number(claims.get("exp")):
        raise Rejected("the token has no valid expiration time")
    if now >= claims["exp"]:
        raise Rejected("the token has expired")
    if "nbf" in claims and (not _is_number(claims["nbf"]) or claims["nbf"] > now):
        raise Rejected("the token is not valid yet")
    if "iat" in claims and (not _is_number(claims["iat"]) or claims["iat"] > now):
        raise Rejected("the token was issued in the future")


def audience_matches(claims: dict, audiences: tuple[str, ...]) -> bool:
    # AWS reads client_id only when there is no aud: with both, aud alone decides.
    if "aud" in claims:
        aud = claims["aud"]
        return any(a in audiences for a in (aud if isinstance(aud, list) else [aud]) if isinstance(a, str))
    return isinstance(claims.get("client_id"), str) and claims["client_id"] in audiences


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def bearer_token(request: Request, authorizer: JwtAuthorizer) -> str | None:
    header = authorizer.identity_source[len(HEADER_SOURCE):]
    value = (request.headers.get(header) or "").strip()
    # The prefix is matched as AWS documents it ("Bearer "), case and all; "Bearer" alone
    # carries no token.
    if value == "Bearer" or value.startswith("Bearer "):
        value = value[len("Bearer"):].strip()
    return value or None


def claim_text(value) -> str:
    """A claim as API Gateway passes it: every value a string; arrays as "[a b c]"."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        return "[" + " ".join(claim_text(v) for v in value) + "]"
    if value is None:
        return "null"
    # Objects as compact JSON with sorted keys (as Go's encoding/json writes a map).
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def jwt_context(claims: dict) -> dict:
    scope = claims.get("scope")
    scopes = scope.split() if isinstance(scope, str) and scope.strip() else None
    return {"jwt": {"claims": {name: claim_text(v) for name, v in claims.items()}, "scopes": scopes}}


# ---------------------------------------------------------------------------- the event


def request_path(request: Request) -> str:
    # HTTP APIs hand the path over percent-decoded, in rawPath too (unlike REST APIs and
    # function URLs); WSGI's PATH_INFO is the decoded bytes as latin-1.
    return request.environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace") or "/"


def event_headers(request: Request, now: float) -> dict[str, str]:
    """Lower-cased; WSGI has already joined repeated headers with commas. The cookie header
    is not among them (it arrives as `cookies`); the x-forwarded-* and trace headers API
    Gateway adds are."""
    environ = request.environ
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_") and key != "HTTP_COOKIE":
            headers[key[5:].lower().replace("_", "-")] = _wsgi_text(value)
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.lower().replace("_", "-")] = environ[key]
    source_ip = environ.get("REMOTE_ADDR", "")
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    headers["x-forwarded-proto"] = environ.get("wsgi.url_scheme", "http")
    headers["x-forwarded-port"] = str(environ.get("SERVER_PORT", ""))
    headers["x-amzn-trace-id"] = f"Root=1-{int(now):08x}-{secrets.token_hex(12)}"
    return headers


def _wsgi_text(value: str) -> str:
    return value.encode("latin-1").decode("utf-8", "replace")


def request_cookies(request: Request) -> list[str]:
    raw = _wsgi_text(request.environ.get("HTTP_COOKIE", ""))
    return [c.strip() for c in raw.split(";") if c.strip()]


def query_parameters(raw_query: str) -> dict[str, str]:
    # Decoded as a form would be ("+" is a space); repeated keys joined with commas.
    params: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        params[name] = f"{params[name]},{value}" if name in params else value
    return params


def is_text(mimetype: str) -> bool:
    return mimetype.startswith("text/") or mimetype in TEXT_TYPES \
        or mimetype.endswith("+json") or mimetype.endswith("+xml")


def event_body(request: Request) -> dict:
    data = request.get_data(cache=True)
    if not data:
        return {"isBase64Encoded": False}
    if is_text(request.mimetype):
        try:
            return {"body": data.decode("utf-8"), "isBase64Encoded": False}
        except UnicodeDecodeError:
            pass   # not text after all: it can only travel encoded
    return {"body": base64.b64encode(data).decode("ascii"), "isBase64Encoded": True}


def request_time(now: float) -> str:
    t = time.gmtime(now)
    return (f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000")


@dataclass(frozen=True)
class Api:
    api_id: str
    stage: str
    region: str
    account: str


def build_event(request: Request, route: Route, params: dict, authorizer_context: dict | None,
                api: Api, request_id: str, now: float) -> dict:
    path = request_path(request)
    raw_query = _wsgi_text(request.environ.get("QUERY_STRING", ""))
    event = {"version": "2.0", "routeKey": route.key, "rawPath": path, "rawQueryString": raw_query}
    cookies = request_cookies(request)
    if cookies:
        event["cookies"] = cookies
    event["headers"] = event_headers(request, now)
    query = query_parameters(raw_query)
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = request_context(request, route, path, authorizer_context, api,
                                              request_id, now)
    if params:
        event["pathParameters"] = params
    event.update(event_body(request))
    return event


def request_context(request: Request, route: Route, path: str, authorizer_context: dict | None,
                    api: Api, request_id: str, now: float) -> dict:
    domain = request.host or f"{api.api_id}.execute-api.{api.region}.amazonaws.com"
    context = {
        "accountId": api.account,
        "apiId": api.api_id,
        "domainName": domain,
        "domainPrefix": domain.split(":")[0].split(".")[0],
        "http": {
            "method": request.method,
            "path": path,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "sourceIp": request.environ.get("REMOTE_ADDR", ""),
            "userAgent": request.headers.get("User-Agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.key,
        "stage": api.stage,
        "time": request_time(now),
        "timeEpoch": int(now * 1000),
    }
    if authorizer_context is not None:
        context["authorizer"] = authorizer_context
    return context


# ---------------------------------------------------------------------------- the response


class GatewayResponse(Response):
    # API Gateway sends no content type the function did not give.
    default_mimetype = None


class Malformed(Exception):
    """The function answered something API Gateway cannot turn into a response."""


def message(status: int, text: str, headers: dict | None = None) -> Response:
    return GatewayResponse(json.dumps({"message": text}, separators=(",", ":")), status,
                           headers=headers, content_type="application/json")


def to_response(result: InvokeResult) -> Response:
    """A JSON object with statusCode is the response; any other JSON is a 200 with that JSON
    as body (a JSON string: its text, as in AWS's example); a failed invocation or anything
    else is 500."""
    if result.status != "ok":
        return message(500, "Internal Server Error")
    try:
        payload = json.loads(result.body)
    except (ValueError, TypeError):
        return message(500, "Internal Server Error")
    if isinstance(payload, dict) and "statusCode" in payload:
        try:
            return proxy_response(payload)
        except Malformed:
            return message(500, "Internal Server Error")
    body = payload if isinstance(payload, str) else result.body
    return GatewayResponse(body, 200, content_type="application/json")


def proxy_response(payload: dict) -> Response:
    status = payload["statusCode"]
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise Malformed(f"statusCode {status!r}")
    response = GatewayResponse(response_body(payload), status)
    for name, value in response_headers(payload):
        if name.lower() not in FRAMING_HEADERS:
            response.headers.add(name, value)
    return response


def response_headers(payload: dict) -> list[tuple[str, str]]:
    headers, multi, cookies = (payload.get(k) or {} for k in ("headers", "multiValueHeaders", "cookies"))
    if not isinstance(headers, dict) or not isinstance(multi, dict) or not isinstance(cookies, (list, dict)):
        raise Malformed("headers, multiValueHeaders or cookies")
    pairs = [(name, _header_text(value)) for name, value in headers.items()]
    for name, values in multi.items():
        pairs += [(name, _header_text(v)) for v in (values if isinstance(values, list) else [values])]
    pairs += [("Set-Cookie", str(cookie)) for cookie in (cookies or [])]
    return pairs


def _header_text(value) -> str:
    return claim_text(value) if isinstance(value, bool) else str(value)


def response_body(payload: dict) -> bytes:
    body = payload.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise Malformed("body is not a string")
    if not payload.get("isBase64Encoded"):
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except ValueError as error:
        raise Malformed("body is not base64") from error


# ---------------------------------------------------------------------------- the API


def new_request_id() -> str:
    # The shape of API Gateway's ids ("Mc7UVioPPHcEKPA="): 11 random bytes in base64.
    return base64.b64encode(secrets.token_bytes(11)).decode("ascii")


class Gateway:
    """The WSGI app; see make_app."""

    def __init__(self, routes: list[Route], invoke: Callable[[str, bytes], InvokeResult], api: Api,
                 on_request: Callable[[dict], None] | None, jwks_refetch_s: float):
        self.table = [(route, parse_template(route.path)) for route in routes]
        for route in routes:
            if route.authorizer and not route.authorizer.identity_source.startswith(HEADER_SOURCE):
                raise ValueError(f"{route.key}: a JWT authorizer reads a header: "
                                 f"{route.authorizer.identity_source!r}")
        self.invoke = invoke
        self.api = api
        self.on_request = on_request
        self.jwks_refetch_s = jwks_refetch_s
        self._key_sets: dict[str, KeySet] = {}
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        request_id = new_request_id()
        route, authorized, response = self.handle(request, request_id)
        response.headers["apigw-requestid"] = request_id
        if self.on_request:
            self.on_request({"route_key": route.key if route else None, "status": response.status_code,
                             "function": route.function if route else None, "authorized": authorized})
        return response(environ, start_response)

    def handle(self, request: Request, request_id: str) -> tuple[Route | None, bool, Response]:
        now = time.time()
        path = stage_relative(request_path(request), self.api.stage)
        route, params = select_route(self.table, request.method, path) if path else (None, None)
        if route is None:
            return None, False, message(404, "Not Found")
        context = None
        if route.authorizer:
            try:
                context = self.authorize(request, route.authorizer, now)
            except Rejected as rejection:
                return route, False, unauthorized(rejection.description)
        event = build_event(request, route, params, context, self.api, request_id, now)
        return route, context is not None, self.call(route.function, event)

    def authorize(self, request: Request, authorizer: JwtAuthorizer, now: float) -> dict:
        token = bearer_token(request, authorizer)
        if token is None:
            raise Rejected(None)
        return jwt_context(verify_token(token, authorizer, self.key_set(authorizer.issuer), now))

    def key_set(self, issuer: str) -> KeySet:
        with self._lock:
            return self._key_sets.setdefault(issuer, KeySet(issuer, self.jwks_refetch_s))

    def call(self, function: str, event: dict) -> Response:
        try:
            result = self.invoke(function, json.dumps(event).encode("utf-8"))
        except Exception:   # an integration failure: AWS answers 500, the trace is for us
            traceback.print_exc(file=sys.stderr)
            return message(500, "Internal Server Error")
        return to_response(result)


def unauthorized(description: str | None) -> Response:
    # Without a token there is nothing to describe (RFC 6750, section 3.1).
    challenge = "Bearer" if description is None else \
        f'Bearer scope="" error="invalid_token" error_description="{description}"'
    return message(401, "Unauthorized", headers={"www-authenticate": challenge})


def make_app(routes: list[Route], invoke: Callable[[str, bytes], InvokeResult], *,
             api_id: str = "local", stage: str = "$default", region: str = "us-east-1",
             account: str = "123456789012", on_request: Callable[[dict], None] | None = None,
             jwks_refetch_s: float = JWKS_REFETCH_S) -> Gateway:
    """`invoke(function, event_bytes)` runs a function; `on_request` gets one record per
    request: {"route_key", "status", "function", "authorized"} (`authorized`: a JWT
    authorizer admitted the request; False for routes without one)."""
    return Gateway(routes, invoke, Api(api_id, stage, region, account), on_request, jwks_refetch_s)


def serve(app, host: str, port: int):
    """Serves on a daemon thread (port 0 picks a free one: see server.port).
    Returns (server, thread); stop with server.shutdown()."""
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
    thread.start()
    return server, thread
