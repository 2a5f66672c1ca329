"""What the template stack's tests share."""
import pytest

from .. import issuer

# The key id the tests' issuer signs with.
KID = "test-key-1"


@pytest.fixture(scope="module")
def pem():
    """An RSA signing key for an issuer of the test's own."""
    return issuer.new_key_pem()


@pytest.fixture(scope="module")
def issuer_url(pem):
    """An issuer of the test's own on loopback, signing with `pem` as `KID`."""
    server, thread, base_url = issuer.serve_issuer(private_key_pem=pem, kid=KID)
    yield base_url
    server.shutdown()
    thread.join(5)
