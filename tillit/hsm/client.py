"""`Hsm`: one process's connection to its token, with key generation, signing and a key-handle cache.

`Hsm` is a facade composed of parts, one concern each, all over one `Connection` (connection.py):
- connection.py: the logged-in sessions, the caches, and recovery when a session or the token goes
  away (why and how: its docstring); gate.py: the lock between operations and a module reset;
- lookup.py: private keys by label, cached, and the index that loads them all at once;
- keypairs.py: generating, describing and destroying key pairs, public halves, certificates;
- signing.py: signatures and HMACs, counted for /metrics, and `verify_public`;
- record_objects.py: the token's records (a counter that only moves forward);
- here: the token's status, and `open_hsm`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pkcs11 import Attribute, ObjectClass

from tillit.hsm.connection import translated
from tillit.hsm.keypairs import KeyPairs
from tillit.hsm.record_objects import RecordObjects
from tillit.hsm.settings import HsmSettings
from tillit.hsm.signing import Signing


@dataclass(frozen=True)
class TokenStatus:
    module: str
    manufacturer: str
    label: str
    serial: str
    model: str
    keys: int
    certificates: int

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class Hsm(KeyPairs, Signing, RecordObjects):
    """A logged-in connection to the configured token. Use as a context manager or call `close()`."""

    def __enter__(self) -> Hsm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- status --------------------------------------------------------------------------------

    @translated("report its status")
    def status(self) -> TokenStatus:
        def count(cls: ObjectClass) -> int:
            return sum(1 for _ in self._admin.get_objects({Attribute.CLASS: cls}))

        return TokenStatus(
            module=self.settings.module_path,
            manufacturer=self._token.manufacturer_id,
            label=self._token.label,
            serial=self._token.serial.decode() if isinstance(self._token.serial, bytes) else "",
            model=self._token.model,
            keys=self._retrying(lambda: count(ObjectClass.PRIVATE_KEY)),
            certificates=self._retrying(lambda: count(ObjectClass.CERTIFICATE)),
        )


@contextmanager
def open_hsm(settings: HsmSettings | None = None) -> Iterator[Hsm]:
    hsm = Hsm(settings or HsmSettings())
    try:
        yield hsm
    finally:
        hsm.close()
