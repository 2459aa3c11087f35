"""`KeyLookup`: finding a private key by label, and the key index that finds them all at once.

Keys are looked up once and the python-pkcs11 object (which holds the handle) is cached: SoftHSM's
object search is linear in the token's objects (270 ms at 10,000 key pairs) while signing with a
handle in hand takes ~0.05 ms. python-pkcs11 serialises operations on a session with its own lock,
so the cached objects are safe to use from any thread.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, ObjectClass

from tillit.hsm import errors
from tillit.hsm.connection import Connection, translated
from tillit.hsm.keys import Algorithm


class KeyLookup(Connection):
    """Private keys (and, through the index, certificates) by label, cached once found."""

    def _private_key(self, label: str) -> Any:
        key = self._keys.get(label)
        if key is None and self._await_index():
            key = self._keys.get(label)
        if key is None:
            try:
                key = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
            except pkcs11.NoSuchKey:
                self._confirm_token_present()
                raise errors.KeyNotFound(f"no private key labelled '{label}' on the token") from None
            except pkcs11.MultipleObjectsReturned:
                raise errors.HsmError(f"several private keys are labelled '{label}'") from None
            # Algorithm first: another thread may sign as soon as the key is in the cache.
            self._algorithms[label] = _algorithm_of(key)
            self._keys[label] = key
        return key

    @translated("look the key up")
    def has_key(self, label: str) -> bool:
        try:
            self._retrying(lambda: self._private_key(label))
        except errors.KeyNotFound:
            return False
        return True

    @translated("look the key up")
    def algorithm(self, label: str) -> Algorithm:
        self._retrying(lambda: self._private_key(label))
        return self._algorithms[label]

    # -- key index -----------------------------------------------------------------------------

    @property
    def index_state(self) -> str:
        """`off` (keys are looked up one by one), `loading`, `ready`, or `failed` (lookups search)."""
        return self._index_state

    def _connected(self) -> None:
        """Load the index again after a reconnect when it was asked for."""
        if self._index_wanted:
            self.start_preload()

    def start_preload(self) -> None:
        """`preload` in a background thread; lookups meanwhile wait for it rather than search."""
        self._index_wanted = True
        self._index_state = "loading"
        self._index_ready.clear()
        threading.Thread(target=self.preload, name="hsm-key-index", daemon=True).start()

    def preload(self) -> int:
        """Find every private key and certificate on the token in one enumeration each, and cache
        them, so that no signature, order start or certificate lookup searches the token.

        SoftHSM searches linearly: finding one key among 10,000 key pairs takes ~270 ms, while one
        enumeration of all of them takes about a second. Keys made later by another process (an
        administrator's `customers add`) are still found by a search on first use, then cached.
        Reconnecting after a fault loads the index again. Returns the number of keys indexed.
        """
        self._index_wanted = True
        self._index_state = "loading"
        self._index_ready.clear()
        generation = self._generation
        try:
            # Unqueued: lookups inside the store lock wait for this load (`_await_index`).
            with self._store.shared(queue=False), self._gate.shared():
                keys, algorithms, certificates = _enumerate(self._index_session)
        except pkcs11.PKCS11Error:
            keys, algorithms, certificates = {}, {}, {}
            failed = True
        else:
            failed = False
        with self._lock:
            if generation != self._generation:
                return 0  # a reconnect meanwhile: its own load replaces this one
            for label, key in keys.items():
                if label not in self._keys:
                    self._algorithms[label] = algorithms[label]
                    self._keys[label] = key
            for label, der in certificates.items():
                self._certificates.setdefault(label, der)
            # Failed: a session or the token went away; lookups search (and recover) as without an index.
            self._index_state = "failed" if failed else "ready"
            self._index_ready.set()
        return len(keys)

    def _await_index(self, timeout: float = 60.0) -> bool:
        """While the index loads, wait for it; True when the caller should look in the caches again.
        Gives up (and the caller searches) when a module reset waits for the gate, which the load
        may not be able to enter before this caller leaves it; when a thread waits for the store
        lock alone, which waits for this caller and may hold the connection's lock the load ends
        in; and at once when this thread holds the store lock alone (a key generation, a recovery),
        which the load waits for."""
        if self._index_ready.is_set() or self._store.held_alone():
            return False
        deadline = time.monotonic() + timeout
        while not self._index_ready.wait(0.05):
            if self._gate._writers_waiting or self._store.writers_waiting or time.monotonic() > deadline:
                return False
        return True


def _enumerate(session: Any) -> tuple[dict[str, Any], dict[str, Algorithm], dict[str, bytes]]:
    """Every private key (with its algorithm) and every certificate on the token, by label.
    A label held by several objects of a kind is left out, so a lookup reports it as before."""
    keys: dict[str, Any] = {}
    algorithms: dict[str, Algorithm] = {}
    doubled: set[str] = set()
    for key in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}):
        label = key.label
        if label in keys or label in doubled:
            doubled.add(label)
            keys.pop(label, None)
            continue
        algorithms[label] = _algorithm_of(key)
        keys[label] = key
    certificates: dict[str, bytes] = {}
    doubled.clear()
    for cert in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
        attrs = cert.get_attributes([Attribute.LABEL, Attribute.VALUE])
        label = attrs[Attribute.LABEL]
        if label in certificates or label in doubled:
            doubled.add(label)
            certificates.pop(label, None)
            continue
        certificates[label] = bytes(attrs[Attribute.VALUE])
    return keys, algorithms, certificates


def _algorithm_of(key: Any) -> Algorithm:
    if key.key_type == KeyType.EC:
        return Algorithm.EC_P256
    bits = int(key.key_length)
    return Algorithm.RSA_3072 if bits >= 3072 else Algorithm.RSA_2048
