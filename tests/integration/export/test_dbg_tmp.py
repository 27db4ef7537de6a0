from tests.integration.export.conftest import *
from tests.integration.export.test_export_kinds import SI
def test_dbg(export, host, sandbox, store, settings, connector):
    acme = sandbox.accountant()
    c = acme.create("contacts", {"name": "Customer 1 Ltd", "contact_type_ids": ["CUSTOMER"]})
    x = acme.create("sales_invoices", {
        "contact_id": c["id"], "date": "2025-03-01", "reference": "INV-00001",
        "invoice_lines": [{"description": "Labour", "ledger_account_id": sandbox.ids["4000"], "quantity": 1,
                           "unit_price": "100.00", "tax_rate_id": "GB_STANDARD", "tax_amount": "20.00"}]})
    print(sandbox.created_count("sales_invoices"))
    print(list(connector.list_documents(SI)))
    print(connector.find_contacts(name="Customer 1 Ltd", contact_type="CUSTOMER"))
