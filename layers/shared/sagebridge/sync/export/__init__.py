"""The export engine, a package of short steps by job (see engine.py while it is split)."""

from sagebridge.sync.export.engine import *  # noqa: F403
from sagebridge.sync.export.engine import (  # noqa: F401
    CONTACT_HASH,
    CREDIT_NOTE_ALLOCATION,
    EXPORT_CURSOR,
    LINKED_UNPOLLED_KIND,
    SAGE_UPDATED_AT,
)
