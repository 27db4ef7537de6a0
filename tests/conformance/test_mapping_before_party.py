"""A document the product's mapper refuses as the tenant's mappings stand is refused BEFORE its party
is created in Sage, on every product: a bad mapping leaves no orphan vendor behind (read back from
the sandbox as the accountant sees it), and once the mapping is fixed the next run creates both.

The mapping taken away is the one the product's bills need for the tax code: its own map where it
declares one (`Connector.checked_mappings`, e.g. Intacct's purchase tax details), else the shared
tax_mappings."""

from __future__ import annotations

from typing import Any

from sagebridge.connectors.base import checked_mappings
from sagebridge.domain import DocumentKind, PartyKind
from sagebridge.store import LedgerState

from .conftest import TENANT, World, document, line, vendor

PI = DocumentKind.PURCHASE_INVOICE


def _bill_tax_map(world: World) -> str:
    """The settings path of the map a bill's taxed line needs on this product."""
    world.add_tenant("probe")
    own = [c.setting for c in checked_mappings(world.connector("probe")) if c.codes_of and PI in c.used_by]
    world.disconnect("probe")  # one business, one tenant: the tenant under test connects to it next
    return own[0] if own else "tax_mappings"


def _without(settings: dict[str, Any], path: str, code: str) -> dict[str, Any]:
    """`settings` with one code taken out of the map at a dotted path."""
    head, _, rest = path.partition(".")
    if not rest:
        return {**settings, head: {k: v for k, v in settings[head].items() if k != code}}
    return {**settings, head: _without(settings[head], rest, code)}


def test_a_bill_refused_for_a_missing_mapping_leaves_no_vendor_in_sage(world: World):
    path = _bill_tax_map(world)
    full = world.row.settings(world.sandbox)
    world.add_tenant(**_without(full, path, "S"))
    vendors_before = len(world.held(PartyKind.VENDOR))
    world.stage(document(world, PI, 1, party=vendor(9), lines=[line(tax="S")]))

    world.export()

    entry = world.store.ledger.get(TENANT, PI.value, "PI-1")
    assert entry.state is LedgerState.SKIPPED, entry
    assert len(world.held(PartyKind.VENDOR)) == vendors_before  # no orphan vendor
    assert world.row.creates(world.sandbox, PartyKind.VENDOR) == 0
    assert world.store.mappings.find(TENANT, PartyKind.VENDOR.value, "VEND-9") is None
    if PI in world.not_exported():
        return  # the product never takes bills: refused before anything, as it declares
    assert "'S'" in (entry.reason or "") or f"{path}.S" in (entry.reason or ""), entry.reason

    # The mapping fixed, the retry creates both: the vendor once, the bill once.
    settings = world.store.tenants.get(TENANT)
    world.store.tenants.update_settings(TENANT, {**settings.settings, **{path.split(".")[0]: full[path.split(".")[0]]}},
                                        expected_version=settings.version)
    world.export()

    assert world.copies(PI) == {"PI-00001": 1}
    assert len(world.held(PartyKind.VENDOR)) == vendors_before + 1
    assert world.store.mappings.find(TENANT, PartyKind.VENDOR.value, "VEND-9") is not None
