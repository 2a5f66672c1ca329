"""An OpenID issuer for the local stack, shaped like an Amazon Cognito user pool.

API Gateway's JWT authorizer only accepts tokens whose header names a `kid` found in the
issuer's key set; the local OpenID provider used for browser sign-in (oidc-provider-mock)
signs its ID tokens without one, and with `aud` as a list where Cognito puts the client id.
This issuer signs Cognito-shaped tokens with a key of its own and, given `upstream`, fronts
that provider: the browser signs in at the provider's authorize page, and the code is
exchanged here, where the provider's ID token is re-signed with this issuer's key.

Endpoints:
  GET  /.well-known/openid-configuration   discovery (issuer = the base URL, exactly)
  GET  /.well-known/jwks.json               the public key (Cognito's path)
  POST /mint                                {"claims", "token_use", "ttl_s", "audience", "client_id"} -> {"token"}
  POST /oauth2/token                        with `upstream` only: the code exchange

CLI:
  python -m scripts.stack.issuer --port P --key PEMFILE --kid K [--host H] [--upstream URL]
  python -m scripts.stack.issuer mint --key PEMFILE --kid K --issuer URL [--claims JSON]
      [--token-use id|access] [--ttl SECONDS] [--audience A] [--client-id C]
"""
import argparse
import base64
import json
import sys
import threading
import time
import uuid
from typing import Callable
from urllib.parse import quote, unquote

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

JWKS_PATH = "/.well-known/jwks.json"
TOKEN_PATH = "/oauth2/token"
UPSTREAM_TIMEOUT_S = 10
# Cognito's default scopes for the pool's app clients (template.yaml: openid, email).
DEFAULT_ACCESS_SCOPE = "openid email"
# Set by this issuer on every re-signed ID token; everything else the upstream said is kept.
REISSUED_CLAIMS = ("iss", "aud", "exp", "iat", "token_use")


# ---------------------------------------------------------------------------- tokens


def new_key_pem() -> bytes:
    """A fresh RSA signing key (2048 bits), PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def mint(private_key_pem: bytes, kid: str, issuer: str, claims: dict, *, token_use: str = "id",
         ttl_s: int = 3600, audience: str | None = None, client_id: str | None = None) -> str:
    """A Cognito-shaped token. `claims` are applied last, so they may override any default
    (an `exp` in the past, another `iss`): tests build their bad tokens this way."""
    now = int(time.time())
    sub = str(claims.get("sub") or uuid.uuid4())
    base = {"sub": sub, "iss": issuer, "iat": now, "exp": now + ttl_s, "auth_time": now,
            "jti": str(uuid.uuid4()), "token_use": token_use}
    if token_use == "id":
        base.update(_id_token_claims(sub, audience or client_id))
    elif token_use == "access":
        base.update(_access_token_claims(sub, client_id or audience))
    else:
        raise ValueError(f"token_use must be 'id' or 'access', not {token_use!r}")
    base.update(claims)
    return jwt.encode(base, private_key_pem, algorithm="RS256", headers={"kid": kid})


def _id_token_claims(sub: str, audience: str | None) -> dict:
    # Cognito's ID token names the app client in `aud`, as a string.
    if not audience:
        raise ValueError("an ID token needs an audience (the app client id)")
    return {"aud": audience, "cognito:username": sub}


def _access_token_claims(sub: str, client_id: str | None) -> dict:
    # Cognito's access token has no `aud`: the app client is in `client_id`.
    if not client_id:
        raise ValueError("an access token needs a client_id")
    return {"client_id": client_id, "scope": DEFAULT_ACCESS_SCOPE, "username": sub}


def public_jwk(private_key_pem: bytes, kid: str) -> dict:
    key = serialization.load_pem_private_key(private_key_pem, password=None).public_key()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


# ---------------------------------------------------------------------------- upstream


class Upstream:
    """The local OpenID provider that signs users in; its discovery is read on first use
    and kept, so the issuer may start before the provider does."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self._config: dict | None = None
        self._lock = threading.Lock()

    def config(self) -> dict:
        with self._lock:
            if self._config is None:
                answer = requests.get(f"{self.url}/.well-known/openid-configuration",
                                      timeout=UPSTREAM_TIMEOUT_S)
                answer.raise_for_status()
                self._config = answer.json()
            return self._config

    def exchange(self, form: list[tuple[str, str]], authorization: str | None) -> requests.Response:
        headers = {"Authorization": authorization} if authorization else {}
        return requests.post(self.config()["token_endpoint"], data=form, headers=headers,
                             timeout=UPSTREAM_TIMEOUT_S)


def _client_id(form: dict, authorization: str | None) -> str | None:
    """The client id from the form (client_secret_post, public clients) or from HTTP Basic
    (client_secret_basic, whose parts are form-url-encoded: RFC 6749 section 2.3.1)."""
    if form.get("client_id"):
        return form["client_id"]
    if authorization and authorization.lower().startswith("basic "):
        decoded = base64.b64decode(authorization[6:].strip()).decode()
        return unquote(decoded.partition(":")[0].replace("+", " "))
    return None


def _first_audience(claims: dict) -> str | None:
    aud = claims.get("aud")
    return aud[0] if isinstance(aud, list) and aud else aud


# ---------------------------------------------------------------------------- app


def make_issuer_app(base_url: str, *, private_key_pem: bytes, kid: str, upstream: str | None = None,
                    audience_for_client: Callable[[str], str] | None = None):
    """`audience_for_client(client_id)` names the `aud` of a re-signed ID token; by default
    the client id itself, as Cognito does."""
    root = base_url.rstrip("/")
    provider = Upstream(upstream) if upstream else None
    audience_of = audience_for_client or (lambda client_id: client_id)

    def discovery(request: Request) -> Response:
        config = {
            "issuer": base_url,
            "jwks_uri": root + JWKS_PATH,
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
        }
        if provider:
            try:
                config["authorization_endpoint"] = provider.config()["authorization_endpoint"]
            except (requests.RequestException, ValueError, KeyError) as error:
                return _json({"error": "upstream_unavailable", "error_description": str(error)}, 503)
            config["token_endpoint"] = root + TOKEN_PATH
        return _json(config)

    def jwks(request: Request) -> Response:
        return _json({"keys": [public_jwk(private_key_pem, kid)]})

    def mint_endpoint(request: Request) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("claims", {}), dict):
            return _json({"error": "expected a JSON object with an object `claims`"}, 400)
        try:
            token = mint(private_key_pem, kid, base_url, body.get("claims", {}),
                         token_use=body.get("token_use", "id"), ttl_s=int(body.get("ttl_s", 3600)),
                         audience=body.get("audience"), client_id=body.get("client_id"))
        except (ValueError, TypeError) as error:
            return _json({"error": str(error)}, 400)
        return _json({"token": token})

    def token(request: Request) -> Response:
        form = list(request.form.items(multi=True))
        authorization = request.headers.get("Authorization")
        upstream_auth = authorization
        if not authorization and not request.form.get("client_secret"):
            # A public client (PKCE alone, as Cognito allows): the upstream only knows
            # confidential ones, so it is told a placeholder secret it accepts from anyone.
            pair = f"{quote(request.form.get('client_id', ''), safe='')}:public-client"
            upstream_auth = "Basic " + base64.b64encode(pair.encode()).decode()
            form = [(k, v) for k, v in form if k != "client_id"]
        try:
            answer = provider.exchange(form, upstream_auth)
        except (requests.RequestException, ValueError, KeyError) as error:
            return _json({"error": "upstream_unavailable", "error_description": str(error)}, 502)
        body = _json_or_none(answer)
        if answer.status_code != 200 or not isinstance(body, dict) or "id_token" not in body:
            return Response(answer.content, answer.status_code,
                            content_type=answer.headers.get("Content-Type"))
        client_id = _client_id(request.form, authorization)
        body["id_token"] = reissue(body["id_token"], client_id)
        return _json(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def reissue(upstream_id_token: str, client_id: str | None) -> str:
        # Read without verifying the signature: the upstream is the local provider, reached
        # over loopback by this process, directly answering the code exchange just made, so
        # the token cannot have been altered on the way. Never do this with a remote issuer.
        claims = jwt.decode(upstream_id_token, options={"verify_signature": False})
        client_id = client_id or _first_audience(claims)
        kept = {name: value for name, value in claims.items() if name not in REISSUED_CLAIMS}
        if not isinstance(kept.get("auth_time"), (int, float)):
            # The upstream's auth_time, when it has one, is when the user really signed in.
            kept.pop("auth_time", None)
        return mint(private_key_pem, kid, base_url, kept, token_use="id",
                    audience=audience_of(client_id))

    routes = {
        ("GET", "/.well-known/openid-configuration"): discovery,
        ("GET", JWKS_PATH): jwks,
        ("POST", "/mint"): mint_endpoint,
    }
    if provider:
        routes[("POST", TOKEN_PATH)] = token

    @Request.application
    def app(request: Request) -> Response:
        handler = routes.get((request.method, request.path))
        if handler is None:
            return _json({"error": "not_found"}, 404)
        return handler(request)

    return app


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers, content_type="application/json")


def _json_or_none(answer: requests.Response):
    try:
        return answer.json()
    except ValueError:
        return None


def serve_issuer(*, private_key_pem: bytes, kid: str, host: str = "127.0.0.1", port: int = 0,
                 upstream: str | None = None, audience_for_client: Callable[[str], str] | None = None):
    """Serves on a thread; port 0 picks a free port. Returns (server, thread, base_url)."""
    server = make_server(host, port, _not_ready, threaded=True)
    # The issuer's URL is in its tokens and discovery, and is known only once bound.
    base_url = f"http://{host}:{server.port}"
    server.app = make_issuer_app(base_url, private_key_pem=private_key_pem, kid=kid,
                                 upstream=upstream, audience_for_client=audience_for_client)
    thread = threading.Thread(target=server.serve_forever, name="issuer", daemon=True)
    thread.start()
    return server, thread, base_url


def _not_ready(environ, start_response):
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


# ---------------------------------------------------------------------------- CLI


def _serve_main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m scripts.stack.issuer",
                                description="Serve the local OpenID issuer.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--key", required=True, help="PEM file of the RSA private key")
    p.add_argument("--kid", required=True)
    p.add_argument("--upstream", help="base URL of the OpenID provider used for browser sign-in")
    a = p.parse_args(argv)
    with open(a.key, "rb") as f:
        pem = f.read()
    server, thread, base_url = serve_issuer(private_key_pem=pem, kid=a.kid, host=a.host,
                                            port=a.port, upstream=a.upstream)
    print(base_url, flush=True)
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()


def _mint_main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m scripts.stack.issuer mint",
                                description="Print a token signed with the issuer's key.")
    p.add_argument("--key", required=True, help="PEM file of the RSA private key")
    p.add_argument("--kid", required=True)
    p.add_argument("--issuer", required=True, help="the issuer's base URL, as served")
    p.add_argument("--claims", default="{}", help="JSON object of extra claims")
    p.add_argument("--token-use", choices=["id", "access"], default="id")
    p.add_argument("--ttl", type=int, default=3600)
    p.add_argument("--audience")
    p.add_argument("--client-id")
    a = p.parse_args(argv)
    claims = json.loads(a.claims)
    if not isinstance(claims, dict):
        p.error("--claims must be a JSON object")
    with open(a.key, "rb") as f:
        pem = f.read()
    try:
        print(mint(pem, a.kid, a.issuer, claims, token_use=a.token_use,
                   ttl_s=a.ttl, audience=a.audience, client_id=a.client_id))
    except ValueError as error:
        p.error(str(error))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["mint"]:
        _mint_main(argv[1:])
    else:
        _serve_main(argv)


if __name__ == "__main__":
    main()
