"""The local Cognito-shaped issuer: discovery, keys, minted tokens, and the code exchange it
fronts for the browser's OpenID provider."""
import base64
import json
import time

import jwt
import pytest
import requests
from werkzeug.wrappers import Request, Response

from scripts.stack import gateway, issuer

from .conftest import KID




def signing_key(base_url: str, kid: str):
    config = requests.get(base_url + "/.well-known/openid-configuration", timeout=5).json()
    keys = requests.get(config["jwks_uri"], timeout=5).json()["keys"]
    return gateway.rsa_keys(keys)[kid]


def mint_over_http(base_url: str, **body) -> str:
    answer = requests.post(base_url + "/mint", json=body, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def test_discovery_names_the_base_url_as_issuer(issuer_url):
    config = requests.get(issuer_url + "/.well-known/openid-configuration", timeout=5).json()
    assert config["issuer"] == issuer_url
    assert config["jwks_uri"] == issuer_url + "/.well-known/jwks.json"
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    # Without an upstream there is no sign-in to offer.
    assert "authorization_endpoint" not in config and "token_endpoint" not in config


def test_the_published_key_verifies_a_minted_token(issuer_url):
    token = mint_over_http(issuer_url, claims={"sub": "u-1"}, audience="pages-client")
    assert jwt.get_unverified_header(token)["kid"] == KID
    jwk = requests.get(issuer_url + "/.well-known/jwks.json", timeout=5).json()["keys"][0]
    assert (jwk["kid"], jwk["alg"], jwk["use"], jwk["kty"]) == (KID, "RS256", "sig", "RSA")
    claims = jwt.decode(token, signing_key(issuer_url, KID), algorithms=["RS256"],
                        audience="pages-client", issuer=issuer_url)
    assert claims["sub"] == "u-1"


def test_a_token_signed_by_another_key_does_not_verify(issuer_url):
    token = issuer.mint(issuer.new_key_pem(), KID, issuer_url, {"sub": "u-1"}, audience="pages-client")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, signing_key(issuer_url, KID), algorithms=["RS256"], audience="pages-client")


def test_an_id_token_is_shaped_like_cognitos(issuer_url):
    token = mint_over_http(issuer_url, claims={"sub": "u-2", "custom:role": "partner"},
                           audience="pages-client")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "pages-client"
    assert claims["token_use"] == "id"
    assert claims["cognito:username"] == "u-2"
    assert claims["iss"] == issuer_url
    assert claims["custom:role"] == "partner"
    assert claims["exp"] - claims["iat"] == 3600
    assert isinstance(claims["auth_time"], int)
    assert "client_id" not in claims


def test_an_access_token_has_client_id_and_no_aud(issuer_url):
    token = mint_over_http(issuer_url, claims={"sub": "u-3"}, token_use="access", client_id="api-client")
    claims = jwt.decode(token, signing_key(issuer_url, KID), algorithms=["RS256"],
                        options={"verify_aud": False})
    assert claims["client_id"] == "api-client"
    assert "aud" not in claims
    assert claims["token_use"] == "access"
    assert claims["scope"] == "openid email"


def test_given_claims_override_the_defaults(pem):
    token = issuer.mint(pem, KID, "http://issuer", {"sub": "u", "exp": 5}, audience="c")
    assert jwt.decode(token, options={"verify_signature": False})["exp"] == 5


def test_an_id_token_without_audience_is_refused(issuer_url):
    answer = requests.post(issuer_url + "/mint", json={"claims": {"sub": "u"}}, timeout=5)
    assert answer.status_code == 400
    assert "audience" in answer.json()["error"]


def test_the_cli_mints_a_token(pem, tmp_path, capsys):
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(pem)
    issuer.main(["mint", "--key", str(key_file), "--kid", KID, "--issuer", "http://iss",
                 "--claims", '{"custom:role": "billing_support"}', "--token-use", "access",
                 "--client-id", "api-client"])
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["client_id"], claims["custom:role"]) == \
        ("http://iss", "api-client", "billing_support")
    assert jwt.get_unverified_header(token)["kid"] == KID


# ---------------------------------------------------------------------------- upstream


class FakeProvider:
    """Stands in for oidc-provider-mock: discovery, and a token endpoint answering with an
    RS256 ID token that has no kid and a list as `aud`."""

    def __init__(self):
        self.key = issuer.new_key_pem()
        self.requests: list[dict] = []
        self.url = None
        self.fail_with: tuple[int, dict] | None = None

    @Request.application
    def __call__(self, request: Request) -> Response:
        if request.path == "/.well-known/openid-configuration":
            return self.json({"issuer": self.url, "authorization_endpoint": self.url + "/oauth2/authorize",
                              "token_endpoint": self.url + "/oauth2/token",
                              "userinfo_endpoint": self.url + "/userinfo", "jwks_uri": self.url + "/jwks"})
        if request.path == "/oauth2/token" and request.method == "POST":
            self.requests.append({"form": request.form.to_dict(),
                                  "authorization": request.headers.get("Authorization")})
            if self.fail_with:
                return self.json(self.fail_with[1], self.fail_with[0])
            return self.json({"access_token": "upstream-access", "token_type": "Bearer",
                              "expires_in": 3600, "id_token": self.id_token(), "scope": "openid email"})
        return self.json({"error": "not found"}, 404)

    def id_token(self) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "aud": ["pages-client"], "sub": "alice", "iat": now,
                  "exp": now + 600, "auth_time": now - 30, "nonce": "n-123", "email": "alice@example.com",
                  "email_verified": True, "https://vls.example/role": "customer_admin"}
        return jwt.encode(claims, self.key, algorithm="RS256")

    @staticmethod
    def json(body, status=200) -> Response:
        return Response(json.dumps(body), status, content_type="application/json")


@pytest.fixture()
def provider():
    fake = FakeProvider()
    server, thread = gateway.serve(fake, "127.0.0.1", 0)
    fake.url = f"http://127.0.0.1:{server.port}"
    yield fake
    server.shutdown()
    thread.join(5)


@pytest.fixture()
def fronting(pem, provider):
    server, thread, base_url = issuer.serve_issuer(private_key_pem=pem, kid=KID, upstream=provider.url)
    yield base_url
    server.shutdown()
    thread.join(5)


EXCHANGE = {"grant_type": "authorization_code", "code": "code-1",
            "redirect_uri": "http://127.0.0.1:3000/sign-in/callback", "code_verifier": "verifier-xyz"}


def test_the_provider_was_given_no_kid(provider):
    # What the issuer exists for: the provider's token is one API Gateway would refuse.
    assert "kid" not in jwt.get_unverified_header(provider.id_token())


def test_discovery_sends_the_browser_to_the_upstream_and_the_code_here(fronting, provider):
    config = requests.get(fronting + "/.well-known/openid-configuration", timeout=5).json()
    assert config["issuer"] == fronting
    assert config["authorization_endpoint"] == provider.url + "/oauth2/authorize"
    assert config["token_endpoint"] == fronting + "/oauth2/token"
    assert "userinfo_endpoint" not in config
    assert config["response_types_supported"] == ["code"]
    assert config["subject_types_supported"] == ["public"]


def test_the_code_exchange_reissues_the_id_token(fronting, provider):
    basic = "Basic " + base64.b64encode(b"pages-client:secret").decode()
    answer = requests.post(fronting + "/oauth2/token", data=EXCHANGE,
                           headers={"Authorization": basic}, timeout=5)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["access_token"] == "upstream-access"
    assert jwt.get_unverified_header(body["id_token"])["kid"] == KID
    claims = jwt.decode(body["id_token"], signing_key(fronting, KID), algorithms=["RS256"],
                        audience="pages-client", issuer=fronting)
    assert claims["aud"] == "pages-client"
    assert claims["token_use"] == "id"
    assert claims["nonce"] == "n-123"
    assert claims["email"] == "alice@example.com" and claims["email_verified"] is True
    assert claims["https://vls.example/role"] == "customer_admin"
    assert claims["sub"] == "alice"
    assert claims["exp"] > time.time()
    # The upstream got the whole exchange, PKCE verifier and client authentication included.
    assert provider.requests == [{"form": EXCHANGE, "authorization": basic}]


def test_the_client_id_may_come_in_the_form(pem, provider):
    server, thread, base_url = issuer.serve_issuer(
        private_key_pem=pem, kid=KID, upstream=provider.url,
        audience_for_client=lambda client_id: {"pages-client": "api-audience"}[client_id])
    try:
        answer = requests.post(base_url + "/oauth2/token",
                               data={**EXCHANGE, "client_id": "pages-client"}, timeout=5)
        claims = jwt.decode(answer.json()["id_token"], options={"verify_signature": False})
        assert claims["aud"] == "api-audience"
        # A public client: the upstream is told it as a confidential one, with a placeholder.
        sent = provider.requests[0]
        assert "client_id" not in sent["form"]
        assert base64.b64decode(sent["authorization"][6:]).decode() == "pages-client:public-client"
    finally:
        server.shutdown()
        thread.join(5)


def test_an_upstream_refusal_is_passed_on(fronting, provider):
    provider.fail_with = (400, {"error": "invalid_grant"})
    answer = requests.post(fronting + "/oauth2/token", data=EXCHANGE, timeout=5)
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant"}
