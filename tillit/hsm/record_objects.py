"""`RecordObjects`: the token's records (hsm/records.py: a named counter that only moves forward),
read by a cached handle and advanced without a lock among processes (on a real HSM; on SoftHSM
every write holds the store lock, hsm/store_lock.py, for SoftHSM's own sake)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pkcs11
from pkcs11 import Attribute

from tillit.hsm import errors, records
from tillit.hsm.connection import Connection, translated

# Searches of a record while one of its objects reads as torn (being written by another process) or
# vanishes between the search and the read (destroyed by the process that superseded it).
TORN_RECORD_READS = 20
# Writes of a record's object, each read back, before the token is taken to refuse it.
STORE_ATTEMPTS = 5


class RecordObjects(Connection):
    """Records on the token: read the newest, advance, destroy."""

    def _record_objects(self, label: str) -> list[tuple[Any, records.Record]]:
        """The label's record objects: the ones known from the last search or write when every one
        of them is still on the token (a read by handle: ~0.06 ms), else a search of the token (linear
        in its objects). A writer destroys the objects it supersedes, so another process's newer
        record shows here as a known object gone, which makes the next read search."""
        known = self._records.get(label)
        if known:
            try:
                for obj, _ in known:
                    obj[Attribute.LABEL]  # the read is the check that it still exists
                return known
            except (pkcs11.ObjectHandleInvalid, pkcs11.AttributeTypeInvalid):
                pass
        for _ in range(TORN_RECORD_READS):
            found, torn = [], False
            try:
                for obj in self._admin.get_objects(records.search_template(label)):
                    record = records.decode(bytes(obj[Attribute.VALUE]))
                    if record is None:
                        torn = True  # another process is writing it: its older record must not be the answer
                    else:
                        found.append((obj, record))
            except pkcs11.ObjectHandleInvalid:
                torn = True  # found, then destroyed by the process that superseded it: search again
            if not torn:
                break
            time.sleep(0.01)
        if not found:
            self._confirm_token_present()  # no record, or no token?
        self._records[label] = found
        return found

    @translated("read the record")
    def read_record(self, label: str) -> records.Record | None:
        """The record named `label` with the highest counter, or None when the token holds none."""
        with self._lock:
            return records.newest(self._retrying(lambda: self._record_objects(label)))

    @translated("write the record")
    def advance_record(self, label: str, counter: int, payload: bytes) -> bool:
        """Store `payload` under `label` with `counter` if that is higher than the token's record;
        False (and nothing written) when the token already holds this counter or a higher one.

        Creates the new object first and only then destroys the ones it supersedes, so that a crash
        in between leaves two records (the readers take the newer one) and never none. Among several
        processes no lock is needed for the record to stay monotonic (see hsm/records.py); the store
        lock `_writing` takes is SoftHSM's, and a no-op on any other module."""
        if not 0 < counter < 2**63:
            raise errors.HsmError("a record's counter is 1 to 2**63-1")
        if len(payload) > records.MAX_PAYLOAD:
            raise errors.HsmError(f"a record holds at most {records.MAX_PAYLOAD} bytes")
        record = records.Record(counter, payload)

        def write() -> bool:
            found = self._record_objects(label)
            current = records.newest(found)
            if current is not None and current.counter >= counter:
                return False
            created = self._stored_record(label, record)
            kept = [(created, record)]
            for obj, old in found:
                if old.counter < counter:
                    with contextlib.suppress(pkcs11.ObjectHandleInvalid):  # another writer removed it first
                        obj.destroy()
                else:
                    kept.append((obj, old))
            self._records[label] = kept
            return True

        with self._writing():
            return self._retrying(write)

    def _stored_record(self, label: str, record: records.Record) -> Any:
        """Create the record's object and find it again by a fresh search before anything older is
        destroyed: SoftHSM's file store may lose a new object's attributes while other processes
        use the token (see `KeyPairs.generate_key`), and an older record destroyed in favour of a
        lost one would move the record back. A lost one is destroyed and written again."""
        for attempt in range(1, STORE_ATTEMPTS + 1):
            created = self._admin.create_object(records.template(label, record))
            self._records.pop(label, None)  # a search, not the handles known from before
            if any(stored == record for _, stored in self._record_objects(label)):
                return created
            with contextlib.suppress(pkcs11.PKCS11Error):
                created.destroy()
            if attempt < STORE_ATTEMPTS:
                time.sleep(0.01 * attempt)
        raise errors.HsmError(f"the token did not keep the record '{label}'")

    @translated("destroy the record")
    def destroy_record(self, label: str) -> int:
        """Destroy every object of the record (an administrator's reset); returns how many."""
        with self._writing():
            self._records.pop(label, None)
            found = list(self._admin.get_objects(records.search_template(label)))
            for obj in found:
                obj.destroy()
            return len(found)
