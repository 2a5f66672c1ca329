"""The operator's tools against stand-ins: the Cognito user script against the emulator's
Cognito (in process), with the template's pool schema; the smoke test against a tiny stack."""
import threading

import boto3
import pytest
from moto import mock_aws
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from scripts import cognito_user, smoke


@pytest.fixture
def pool():
    with mock_aws():
        client = boto3.client("cognito-idp", region_name="us-east-1")
        schema = [{"Name": n, "AttributeDataType": "String", "Mutable": True}
                  for n in ("role", "account_id", "partner_id")]
        pool_id = client.create_user_pool(PoolName="p", Schema=schema,
                                          UsernameAttributes=["email"])["UserPool"]["Id"]
        yield client, pool_id


def attrs(client, pool_id, email):
    user = client.admin_get_user(UserPoolId=pool_id, Username=email)
    return {a["Name"]: a["Value"] for a in user["UserAttributes"]}


def test_a_billing_support_user_gets_the_role_and_a_verified_email(pool):
    client, pool_id = pool
    args = ["--pool-id", pool_id, "--email", "ops@example.com", "--role", "billing_support"]
    assert cognito_user.main(args, client=client) == 0
    a = attrs(client, pool_id, "ops@example.com")
    assert a["custom:role"] == "billing_support"
    assert a["email_verified"] == "true"
    assert "custom:account_id" not in a


def test_an_admin_names_the_account_and_a_partner_its_id(pool):
    client, pool_id = pool
    cognito_user.main(["--pool-id", pool_id, "--email", "o@contoso.com", "--role",
                       "customer_admin", "--account-id", "acc_1"], client=client)
    cognito_user.main(["--pool-id", pool_id, "--email", "api@fabrikam.com", "--role",
                       "partner", "--partner-id", "p1"], client=client)
    assert attrs(client, pool_id, "o@contoso.com")["custom:account_id"] == "acc_1"
    assert attrs(client, pool_id, "api@fabrikam.com")["custom:partner_id"] == "p1"


@pytest.mark.parametrize("args", [["--role", "customer_admin"], ["--role", "partner"],
                                  ["--role", "root"]])
def test_a_role_without_what_it_needs_is_refused(args):
    with pytest.raises(SystemExit):
        cognito_user.parse(["--pool-id", "us-east-1_x", "--email", "a@b.c", *args])


def serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.port}"


def stack(claims_read: bool):
    """A stand-in answering as a deployed stack does; `claims_read` False plays a stack
    whose functions read other claim names than the token's (the API's own 401)."""
    def app(environ, start_response):
        req = Request(environ)
        if req.path.startswith("/activate/"):
            r = Response("<html>gone</html>", 404, content_type="text/html")
        elif not req.path.startswith("/agreements/"):
            r = Response('{"message":"Not Found"}', 404, content_type="application/json")
        elif "Authorization" not in req.headers:
            r = Response('{"message":"Unauthorized"}', 401, content_type="application/json")
        else:
            status = 404 if claims_read else 401
            r = Response('{"status": %d}' % status, status,
                         content_type="application/problem+json")
        return r(environ, start_response)
    return app


def test_the_smoke_test_passes_a_working_stack_and_fails_one_that_reads_other_claims():
    good, base = serve(stack(True))
    bad, bad_base = serve(stack(False))
    try:
        assert smoke.main([base, "--token", "t"]) == 0
        assert smoke.main([bad_base, "--token", "t"]) == 1
        assert smoke.main([bad_base]) == 0, "without a token the API's answers are not checked"
    finally:
        good.shutdown()
        bad.shutdown()
