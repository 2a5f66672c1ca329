"""The Python SDK generated from the contract (openapi-python-client), installed, walking the
running stack: a partner and an Online Services account set up, then createAgreement →
createOrder (three) → invoiceOrder → getOrder → listAgreementOrders through every page →
getPool and listPoolSources. Every answer is the generated model the contract names.

Usage: walkthrough.py BASE_URL (tokens are minted for the local stack's secret)
"""

import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mint_token import mint  # noqa: E402
from vls_client import AuthenticatedClient  # noqa: E402
from vls_client.api.accounts import create_account  # noqa: E402
from vls_client.api.agreements import create_agreement  # noqa: E402
from vls_client.api.licenses import get_pool, list_pool_sources  # noqa: E402
from vls_client.api.orders import (  # noqa: E402
    create_order,
    get_order,
    invoice_order,
    list_agreement_orders,
)
from vls_client.api.partners import register_partner  # noqa: E402
from vls_client import models  # noqa: E402


def token(role, **claims):
    now = int(time.time())
    body = {"sub": f"sdk-{role}", "role": role, "iss": "vls-local", "aud": "vls",
            "iat": now, "exp": now + 600, **claims}
    return mint(body, os.environ.get("LOCAL_JWT_SECRET", "local-dev-secret"))


def client(base, tok):
    return AuthenticatedClient(base_url=base, token=tok, raise_on_unexpected_status=True)


def expect(response, model, what):
    parsed = response.parsed
    assert isinstance(parsed, model), f"{what}: {response.status_code} {response.content!r}"
    return parsed


def main():
    base = sys.argv[1]
    run = uuid.uuid4().hex[:10]
    partner_id = f"sdk-{run}"
    staff = client(base, token("billing_support"))
    contact = models.Contact(name="Pat", email="pat@fabrikam.com", phone="+31 20 555 0100")
    r = register_partner.sync_detailed(
        partner_id, client=staff,
        body=models.RegisterPartnerRequest(name="Fabrikam", contact=contact))
    expect(r, models.Partner, "registerPartner")
    mos = [models.OnlineServicesLicense(product=models.OnlineServicesProduct.OFFICE365,
                                        quantity=300)]
    r = create_account.sync_detailed(client=staff, body=models.CreateAccountRequest(
        name="Contoso", domain="contoso.com", online_services=mos))
    account = expect(r, models.Account, "createAccount")
    assert r.headers.get("location") == f"/accounts/{account.id}", r.headers

    partner = client(base, token("partner", partner_id=partner_id))
    r = create_agreement.sync_detailed(client=partner, body=models.CreateAgreementRequest(
        program=models.Program.EA,
        customer=models.Customer(number=run, legal_name="Contoso Ltd", country="NL"),
        osm=models.Osm(name="Olivia", email="olivia@contoso.com"),
        start_date=__import__("datetime").date(2026, 3, 15),
        online_services_account_id=account.id))
    agreement = expect(r, models.Agreement, "createAgreement")

    orders = []
    for quantity in (5, 7, 11):
        line = models.Line(sku=models.Sku.D365_SALES_PROFESSIONAL, quantity=quantity)
        r = create_order.sync_detailed(client=partner, body=models.CreateOrderRequest(
            agreement_id=agreement.id, lines=[line]))
        order = expect(r, models.Order, "createOrder")
        r = invoice_order.sync_detailed(order.id, client=partner)
        invoiced = expect(r, models.Order, "invoiceOrder")
        assert invoiced.status == models.OrderStatus.INVOICED, invoiced
        assert invoiced.attached_account_id == account.id, invoiced
        orders.append(order.id)
    r = get_order.sync_detailed(orders[0], client=partner)
    assert expect(r, models.Order, "getOrder").id == orders[0]

    seen, cursor, pages = [], None, 0
    while True:
        kwargs = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        r = list_agreement_orders.sync_detailed(agreement.id, client=partner, **kwargs)
        page = expect(r, models.OrderList, "listAgreementOrders")
        seen += [o.id for o in page.orders]
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == orders and pages == 2, (seen, pages)

    admin = client(base, token("customer_admin", account_id=account.id))
    pool = expect(get_pool.sync_detailed(account.id, client=admin), models.Pool, "getPool")
    totals = {s.sku: s.total for s in pool.skus}
    assert totals == {models.Sku.D365_SALES_PROFESSIONAL: 23}, totals
    r = list_pool_sources.sync_detailed(account.id, client=admin,
                                        sku=models.Sku.D365_SALES_PROFESSIONAL)
    sources = expect(r, models.PoolSourceList, "listPoolSources")
    assert [(s.kind, s.id, s.quantity) for s in sources.sources] == [
        (models.SourceKind.AGREEMENT, agreement.id, 23)], sources
    print(f"python SDK: {len(seen)} orders over {pages} pages, pool {totals}")
    print(f"AGREEMENT={agreement.id} PARTNER={partner_id}")


if __name__ == "__main__":
    main()
