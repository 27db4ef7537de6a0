from tests.integration.export.conftest import *
from tests.integration.export.test_export_kinds import SI
from sagebridge.connectors.sage_accounting import mapper
def test_dbg(export, host, sandbox, store, settings, connector):
    acme = sandbox.accountant()
    c = acme.create("contacts", {"name": "Customer 1 Ltd", "contact_type_ids": ["CUSTOMER"]})
    x = acme.create("sales_invoices", {
        "contact_id": c["id"], "date": "2025-03-01", "reference": "INV-00001",
        "invoice_lines": [{"description": "Labour", "ledger_account_id": sandbox.ids["4000"], "quantity": 1,
                           "unit_price": "100.00", "tax_rate_id": "GB_STANDARD", "tax_amount": "20.00"}]})
    r = list(connector.list_documents(SI))[0]
    print(dict(r.data))
    print(mapper.is_same_document(r, reference="INV-00001", contact_id=c["id"], total=Decimal("120.00"), on=date(2025,3,1)))
    host.stage(document(SI, 1))
    res = export(settings_=settings.model_copy(update={"identify_customer_by": "name"}))
    print(res.counts)
    for e in store.synclog.for_run(TENANT, res.run_id).items: print(e.kind, e.outcome, e.reason)
