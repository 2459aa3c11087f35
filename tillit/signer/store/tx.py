"""The transaction object: every query of the store, gathered from the area modules."""

from __future__ import annotations

from tillit.signer.store.audit import AuditQueries
from tillit.signer.store.branch import BranchQueries
from tillit.signer.store.customers import CustomerQueries
from tillit.signer.store.devices import DeviceQueries
from tillit.signer.store.documents import DocumentQueries
from tillit.signer.store.guesses import GuessQueries
from tillit.signer.store.orders import OrderQueries
from tillit.signer.store.relying_parties import RelyingPartyQueries


class Tx(
    CustomerQueries,
    GuessQueries,
    DeviceQueries,
    OrderQueries,
    DocumentQueries,
    BranchQueries,
    RelyingPartyQueries,
    AuditQueries,
):
    """One transaction. Methods are the store's whole vocabulary; each area's are in its own module
    (customers.py, guesses.py, devices.py, orders.py, documents.py, branch.py, relying_parties.py,
    audit.py), and
    `Queries` (queries.py) holds the cursor and the SQL dialect.

    `last_audit_seq` is the newest entry this transaction appended (0: none); after it commits the
    store passes it to `Store.on_audit`, which signs audit checkpoints (signer/audit/).
    """
