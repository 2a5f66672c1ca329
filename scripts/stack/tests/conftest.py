"""What the template stack's tests share."""
import pytest

from .. import issuer


@pytest.fixture(scope="module")
def pem():
    """An RSA signing key for an issuer of the test's own."""
    return issuer.new_key_pem()
