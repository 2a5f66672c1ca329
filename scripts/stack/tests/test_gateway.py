"""The local HTTP API: routing, the JWT authorizer against a real issuer on loopback, the
payload 2.0 event the functions get, and how their answers become responses."""
import base64
import http.client
import json
import re
import time

import jwt
import pytest
import requests
from werkzeug.test import Client

from scripts.stack import gateway, issuer
from scripts.stack.gateway import Invocation, JwtAuthorizer, Route

from .conftest import KID

CLIENT = "pages-client"



class Functions:
    """The fake `invoke`: records each event and answers with `result`."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.result = Invocation("ok", json.dumps({"statusCode": 200, "body": "done"}).encode())

    def __call__(self, function: str, payload: bytes):
        self.calls.append((function, json.loads(payload)))
        return self.result

    def answer(self, payload, status: str = "ok"):
        self.result = Invocation(status, payload if isinstance(payload, bytes) else json.dumps(payload).encode())

    @property
    def event(self) -> dict:
        assert len(self.calls) == 1, self.calls
        return self.calls[0][1]


def routes(authorizer: JwtAuthorizer) -> list[Route]:
    return [
        Route("GET", "/agreements/{agreement_id}", "agreements", authorizer),
        Route("GET", "/agreements/special", "special", None),
        Route("ANY", "/agreements/special", "special-any", None),
        Route("POST", "/orders", "orders", authorizer),
        Route("GET", "/activate/{token}", "activation", None),
        Route("POST", "/activate/{token}/confirm", "activation", None),
    ]


@pytest.fixture()
def authorizer(issuer_url):
    return JwtAuthorizer(issuer_url, (CLIENT,))


@pytest.fixture()
def functions():
    return Functions()


@pytest.fixture()
def records():
    return []


@pytest.fixture()
def client(authorizer, functions, records):
    # No cookie jar: the gateway's cookie handling is what is under test.
    return Client(gateway.make_app(routes(authorizer), functions, on_request=records.append),
                  use_cookies=False)


@pytest.fixture()
def token(pem, issuer_url):
    def make(claims=None, **options):
        options.setdefault("audience", CLIENT)
        return issuer.mint(pem, KID, options.pop("issuer", issuer_url),
                           {"sub": "alice", **(claims or {})}, **options)
    return make


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


# ---------------------------------------------------------------------------- routing


def test_a_literal_segment_beats_a_variable(client, functions):
    assert client.get("/agreements/special").status_code == 200
    assert functions.calls[0][0] == "special"
    assert functions.event["routeKey"] == "GET /agreements/special"
    assert "pathParameters" not in functions.event


def test_a_named_method_beats_any_and_any_takes_the_rest(client, functions):
    client.get("/agreements/special")
    client.delete("/agreements/special")
    assert [name for name, _ in functions.calls] == ["special", "special-any"]
    assert functions.calls[1][1]["routeKey"] == "ANY /agreements/special"
    assert functions.calls[1][1]["requestContext"]["http"]["method"] == "DELETE"


def test_a_greedy_variable_has_the_lowest_priority(functions):
    app = gateway.make_app([Route("ANY", "/{proxy+}", "fallback", None),
                            Route("GET", "/items/{item_id}", "items", None)], functions)
    Client(app).get("/items/7")
    Client(app).get("/a/b/c")
    assert [name for name, _ in functions.calls] == ["items", "fallback"]
    assert functions.calls[0][1]["pathParameters"] == {"item_id": "7"}
    assert functions.calls[1][1]["pathParameters"] == {"proxy": "a/b/c"}


def test_an_undeclared_route_is_404_without_invoking(client, functions, records):
    answer = client.get("/nowhere")
    assert answer.status_code == 404
    assert answer.get_data() == b'{"message":"Not Found"}'
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["apigw-requestid"]
    assert functions.calls == []
    assert records == [{"route_key": None, "status": 404, "function": None, "authorized": False}]


def test_a_declared_path_with_another_method_is_404(client, functions):
    assert client.delete("/orders").status_code == 404
    assert client.get("/activate/t/confirm").status_code == 404
    assert functions.calls == []


def test_a_variable_takes_no_empty_segment(client, functions):
    assert client.get("/activate/").status_code == 404
    assert functions.calls == []


def test_path_parameters_are_decoded(client, functions):
    client.get("/activate/a%20b%C3%A9")
    assert functions.event["pathParameters"] == {"token": "a bé"}
    assert functions.event["rawPath"] == "/activate/a bé"


def test_a_named_stage_is_the_first_segment(authorizer, functions):
    app = Client(gateway.make_app(routes(authorizer), functions, stage="prod"))
    assert app.get("/activate/t").status_code == 404
    assert app.get("/prod/activate/t").status_code == 200
    assert functions.event["rawPath"] == "/prod/activate/t"
    assert functions.event["requestContext"]["stage"] == "prod"


# ---------------------------------------------------------------------------- authorizer


def test_a_route_without_authorizer_passes_none(client, functions):
    client.get("/activate/t", headers=bearer("whatever"))
    assert "authorizer" not in functions.event["requestContext"]


def refused(answer, description: str | None) -> None:
    assert answer.status_code == 401
    assert answer.get_data() == b'{"message":"Unauthorized"}'
    challenge = answer.headers["www-authenticate"]
    if description is None:
        assert challenge == "Bearer"
    else:
        assert challenge == f'Bearer scope="" error="invalid_token" error_description="{description}"'


def test_a_missing_token_is_refused(client, functions):
    refused(client.get("/agreements/a-1"), None)
    refused(client.get("/agreements/a-1", headers={"Authorization": "Bearer "}), None)
    assert functions.calls == []


def test_a_valid_id_token_passes(client, functions, token, records):
    answer = client.get("/agreements/a-1", headers=bearer(token()))
    assert answer.status_code == 200
    assert functions.event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == "alice"
    assert records == [{"route_key": "GET /agreements/{agreement_id}", "status": 200,
                        "function": "agreements", "authorized": True}]


def test_the_bearer_prefix_is_optional(client, functions, token):
    assert client.get("/agreements/a-1", headers={"Authorization": token()}).status_code == 200


def test_a_token_without_kid_is_refused(client, functions, pem, issuer_url):
    now = int(time.time())
    no_kid = jwt.encode({"sub": "alice", "iss": issuer_url, "aud": CLIENT, "iat": now, "exp": now + 600},
                        pem, algorithm="RS256")
    assert "kid" not in jwt.get_unverified_header(no_kid)
    refused(client.get("/agreements/a-1", headers=bearer(no_kid)), "the token has no kid header")
    assert functions.calls == []


def test_an_unknown_kid_is_refused(client, pem, issuer_url):
    other = issuer.mint(pem, "another-kid", issuer_url, {"sub": "alice"}, audience=CLIENT)
    refused(client.get("/agreements/a-1", headers=bearer(other)), "the token's kid matches no key of the issuer")


def test_a_token_signed_by_another_key_is_refused(client, issuer_url):
    forged = issuer.mint(issuer.new_key_pem(), KID, issuer_url, {"sub": "alice"}, audience=CLIENT)
    refused(client.get("/agreements/a-1", headers=bearer(forged)), "the token signature is invalid")


def test_another_issuer_is_refused(client, token):
    refused(client.get("/agreements/a-1", headers=bearer(token(issuer="https://elsewhere.example"))),
            "the token does not have a valid issuer")


def test_another_audience_is_refused(client, token):
    refused(client.get("/agreements/a-1", headers=bearer(token(audience="other-client"))),
            "the token does not have a valid audience")


def test_an_expired_token_is_refused(client, token):
    refused(client.get("/agreements/a-1", headers=bearer(token(ttl_s=-1))), "the token has expired")


def test_a_token_not_valid_yet_is_refused(client, token):
    refused(client.get("/agreements/a-1", headers=bearer(token({"nbf": int(time.time()) + 60}))),
            "the token is not valid yet")


def test_a_token_issued_in_the_future_is_refused(client, token):
    refused(client.get("/agreements/a-1", headers=bearer(token({"iat": int(time.time()) + 60}))),
            "the token was issued in the future")


def test_an_access_token_passes_on_its_client_id(client, functions, token):
    access = token(token_use="access", audience=None, client_id=CLIENT)
    assert client.get("/agreements/a-1", headers=bearer(access)).status_code == 200
    context = functions.event["requestContext"]["authorizer"]["jwt"]
    assert context["claims"]["client_id"] == CLIENT
    assert context["claims"]["token_use"] == "access"
    assert "aud" not in context["claims"]
    assert context["scopes"] == ["openid", "email"]


def test_an_access_token_for_another_client_is_refused(client, token):
    access = token(token_use="access", audience=None, client_id="other-client")
    refused(client.get("/agreements/a-1", headers=bearer(access)), "the token does not have a valid audience")


def test_with_aud_present_client_id_is_not_read(client, token):
    both = token({"client_id": CLIENT}, audience="other-client")
    refused(client.get("/agreements/a-1", headers=bearer(both)), "the token does not have a valid audience")


def test_an_unreachable_issuer_refuses(functions, token):
    closed = "http://127.0.0.1:9"
    app = Client(gateway.make_app([Route("GET", "/x", "x", JwtAuthorizer(closed, (CLIENT,)))], functions))
    refused(app.get("/x", headers=bearer(token(issuer=closed))),
            "unable to retrieve the issuer's signing keys")
    assert functions.calls == []


def test_claims_arrive_as_strings(client, functions, token):
    claims = {"custom:role": "partner", "https://vls.example/role": "customer_admin", "count": 3,
              "ratio": 1.5, "admin": True, "suspended": False, "groups": ["a", "b"],
              "address": {"locality": "Oslo", "country": "NO"}}
    issued = token(claims)
    client.get("/agreements/a-1", headers=bearer(issued))
    passed = functions.event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert passed["custom:role"] == "partner"
    assert passed["https://vls.example/role"] == "customer_admin"
    assert passed["count"] == "3"
    assert passed["ratio"] == "1.5"
    assert passed["admin"] == "true" and passed["suspended"] == "false"
    assert passed["groups"] == "[a b]"
    assert passed["address"] == '{"country":"NO","locality":"Oslo"}'
    assert passed["exp"] == str(jwt.decode(issued, options={"verify_signature": False})["exp"])
    assert all(isinstance(v, str) for v in passed.values())
    # An ID token carries no scope claim.
    assert functions.event["requestContext"]["authorizer"]["jwt"]["scopes"] is None


def test_claim_text_formats():
    assert gateway.claim_text(["x", 1, True]) == "[x 1 true]"
    assert gateway.claim_text(2.0) == "2"
    assert gateway.claim_text("[a b]") == "[a b]"


# ---------------------------------------------------------------------------- the event


def test_the_event_carries_the_request(client, functions):
    client.get("/activate/t?b=x%20y&a=1&a=2&empty=", headers={"X-Custom": "v", "User-Agent": "probe/1"},
               environ_overrides={"REMOTE_ADDR": "203.0.113.9"})
    event = functions.event
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /activate/{token}"
    assert event["rawPath"] == "/activate/t"
    assert event["rawQueryString"] == "b=x%20y&a=1&a=2&empty="
    assert event["queryStringParameters"] == {"b": "x y", "a": "1,2", "empty": ""}
    assert event["headers"]["x-custom"] == "v"
    assert "X-Custom" not in event["headers"]
    assert event["isBase64Encoded"] is False
    assert "body" not in event and "cookies" not in event and "stageVariables" not in event
    context = event["requestContext"]
    assert (context["accountId"], context["apiId"], context["stage"]) == ("123456789012", "local", "$default")
    assert context["domainName"] == "localhost" and context["domainPrefix"] == "localhost"
    assert context["http"] == {"method": "GET", "path": "/activate/t", "protocol": "HTTP/1.1",
                               "sourceIp": "203.0.113.9", "userAgent": "probe/1"}
    assert event["headers"]["x-forwarded-for"] == "203.0.113.9"
    assert context["routeKey"] == "GET /activate/{token}"
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])
    assert abs(context["timeEpoch"] - time.time() * 1000) < 60_000


def test_no_query_means_no_query_parameters(client, functions):
    client.get("/activate/t")
    assert functions.event["rawQueryString"] == ""
    assert "queryStringParameters" not in functions.event


def test_the_request_id_is_the_same_in_event_and_response(client, functions):
    answer = client.get("/activate/t")
    assert answer.headers["apigw-requestid"] == functions.event["requestContext"]["requestId"]
    assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", answer.headers["apigw-requestid"])


def test_cookies_arrive_in_cookies_not_in_headers(client, functions):
    client.get("/activate/t", headers={"Cookie": "session=abc; theme=dark"})
    assert functions.event["cookies"] == ["session=abc", "theme=dark"]
    assert "cookie" not in functions.event["headers"]


def test_a_form_post_arrives_base64_encoded(client, functions):
    client.post("/activate/t/confirm", data="accept=yes&name=A+B",
                content_type="application/x-www-form-urlencoded")
    event = functions.event
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"accept=yes&name=A+B"
    assert event["headers"]["content-type"] == "application/x-www-form-urlencoded"


def test_json_arrives_as_text(client, functions, token):
    body = '{"sku": "S-1", "quantity": 2}'
    client.post("/orders", data=body, content_type="application/json", headers=bearer(token()))
    assert functions.event["isBase64Encoded"] is False
    assert functions.event["body"] == body


def test_binary_arrives_base64_encoded(client, functions):
    client.post("/activate/t/confirm", data=b"\x00\xff", content_type="application/octet-stream")
    assert functions.event["isBase64Encoded"] is True
    assert base64.b64decode(functions.event["body"]) == b"\x00\xff"


def test_repeated_headers_are_joined_with_commas_over_a_real_socket(functions):
    server, thread = gateway.serve(gateway.make_app([Route("GET", "/x", "x", None)], functions), "127.0.0.1", 0)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.putrequest("GET", "/x")
        connection.putheader("X-Dup", "a")
        connection.putheader("X-Dup", "b")
        connection.endheaders()
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        server.shutdown()
        thread.join(5)
    assert functions.event["headers"]["x-dup"] == "a,b"
    assert functions.event["requestContext"]["domainName"] == f"127.0.0.1:{server.port}"


# ---------------------------------------------------------------------------- the response


def test_response_cookies_become_set_cookie_headers(client, functions):
    functions.answer({"statusCode": 303, "headers": {"Location": "/next"},
                      "cookies": ["a=1; Path=/; HttpOnly", "b=2; Path=/"]})
    answer = client.get("/activate/t")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/next"
    assert answer.headers.getlist("Set-Cookie") == ["a=1; Path=/; HttpOnly", "b=2; Path=/"]


def test_multi_value_headers_are_all_sent(client, functions):
    functions.answer({"statusCode": 200, "multiValueHeaders": {"X-Many": ["1", "2"]}, "body": ""})
    assert client.get("/activate/t").headers.getlist("X-Many") == ["1", "2"]


def test_a_base64_body_is_decoded(client, functions):
    functions.answer({"statusCode": 200, "headers": {"content-type": "image/png"},
                      "body": base64.b64encode(b"\x89PNG\x00").decode(), "isBase64Encoded": True})
    answer = client.get("/activate/t")
    assert answer.get_data() == b"\x89PNG\x00"
    assert answer.headers["Content-Type"] == "image/png"


def test_a_text_body_is_sent_as_is_without_an_invented_content_type(client, functions):
    functions.answer({"statusCode": 201, "body": "<p>hé</p>"})
    answer = client.get("/activate/t")
    assert (answer.status_code, answer.get_data()) == (201, "<p>hé</p>".encode())
    assert "Content-Type" not in answer.headers


def test_json_without_status_code_is_a_200_json_answer(client, functions):
    functions.answer({"agreement": "a-1", "seats": 3})
    answer = client.get("/activate/t")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json == {"agreement": "a-1", "seats": 3}


def test_a_json_string_is_sent_as_its_text(client, functions):
    functions.answer("Hello")
    assert client.get("/activate/t").get_data() == b"Hello"


def test_a_failed_invocation_is_500(client, functions):
    functions.answer({"errorMessage": "boom", "errorType": "Panic"}, status="error")
    answer = client.get("/activate/t")
    assert answer.status_code == 500
    assert answer.get_data() == b'{"message":"Internal Server Error"}'
    assert answer.headers["Content-Type"] == "application/json"


def test_an_answer_that_is_not_json_is_500(client, functions):
    functions.answer(b"not json")
    assert client.get("/activate/t").status_code == 500


def test_a_malformed_status_code_is_500(client, functions):
    functions.answer({"statusCode": "teapot"})
    assert client.get("/activate/t").status_code == 500


def test_on_request_records_each_route_reached(client, token, records):
    client.get("/agreements/a-1", headers=bearer(token()))
    client.post("/orders")
    client.get("/nowhere")
    client.get("/activate/t")
    assert records == [
        {"route_key": "GET /agreements/{agreement_id}", "status": 200, "function": "agreements", "authorized": True},
        {"route_key": "POST /orders", "status": 401, "function": "orders", "authorized": False},
        {"route_key": None, "status": 404, "function": None, "authorized": False},
        {"route_key": "GET /activate/{token}", "status": 200, "function": "activation", "authorized": False},
    ]


def test_keys_are_cached_between_requests(client, token, issuer_url, monkeypatch):
    client.get("/agreements/a-1", headers=bearer(token()))
    fetched = []
    real_get = requests.get
    monkeypatch.setattr(gateway.requests, "get", lambda url, **kw: fetched.append(url) or real_get(url, **kw))
    assert client.get("/agreements/a-1", headers=bearer(token())).status_code == 200
    assert fetched == []
